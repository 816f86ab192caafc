/* The commands on runs: run (one scenario or many), report (render a
 * run's reports again from its verdict), compare (two runs' figures). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/check_cli.h"
#include "faultline/cluster.h"
#include "faultline/compare.h"
#include "faultline/diag.h"
#include "faultline/report.h"
#include "faultline/report_html.h"
#include "faultline/reaper.h"
#include "faultline/rng.h"
#include "faultline/run.h"
#include "faultline/scenario.h"
#include "faultline/units.h"
#include "faultline/util.h"
#include "faultline/verdict.h"
#include "faultline/vm.h"

static void usage_run(FILE *f)
{
	fprintf(f, "usage: faultline run [--seed N] [--set PATH=VALUE]... [--runs DIR] [--vm]\n"
		   "                     [--junit FILE] [--keep N] FILE|DIR...\n"
		   "\n"
		   "Brings the scenario's cluster up, starts the system on every node, drives the\n"
		   "workload while the nemesis applies the plan, heals, takes everything down,\n"
		   "judges the run with the scenario's checks, and keeps everything (plan, history,\n"
		   "faults, status samples, digests, logs, results.json, junit.xml) in\n"
		   "DIR/<scenario>-<UTC time>-<seed>/ (DIR defaults to ./runs). Needs root.\n"
		   "Several files, or directories of *.yaml, run in turn with one summary.\n"
		   "\n"
		   "  --vm        run inside a micro-VM on the stock kernel (kernels without netem)\n"
		   "  --junit F   also write one JUnit file with a testsuite per scenario\n"
		   "  --keep N    keep only the newest N run directories of each scenario run\n"
		   "\n"
		   "exit status (the worst over all scenarios): 0 every check passed, 1 a check\n"
		   "failed, 3 a check could not decide, 2 usage, configuration or environment error\n");
}

/* Is path (real) under dir (real)? */
static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return n > 1 && !strncmp(path, dir, n) && path[n] == '/';
}

/* Does the micro-VM see the host file real where it is? Everything but its
 * own /tmp and /run, where tests/vm/run shares back (read-only) only its
 * repository and the working directory (a CI clone in /tmp). */
static int guest_sees(const char *real, const char *runner)
{
	static const char suffix[] = "/tests/vm/run";
	char cwd[PATH_MAX], repo[PATH_MAX];
	size_t n = strlen(runner);

	if (strncmp(real, "/tmp/", 5) && strncmp(real, "/run/", 5))
		return 1;
	if (strncmp(real, "/tmp/", 5))
		return 0;
	if (getcwd(cwd, sizeof(cwd)) && under(real, cwd))
		return 1;
	if (n > sizeof(suffix) - 1 && !strcmp(runner + n - (sizeof(suffix) - 1), suffix) &&
	    n - (sizeof(suffix) - 1) < sizeof(repo)) {
		snprintf(repo, sizeof(repo), "%.*s", (int)(n - (sizeof(suffix) - 1)), runner);
		return under(real, repo);
	}
	return 0;
}

/* The same `run` inside a micro-VM on the stock kernel; the runs
 * directory is shared back. Its exit status (2 when the VM could not run). */
static int run_in_vm(const char *file, const struct fl_scenario *s, struct overrides ov,
		     uint64_t seed, const char *runs_dir)
{
	char runner[PATH_MAX], runs[PATH_MAX], self[PATH_MAX], copy[PATH_MAX + 64],
		seedbuf[32], *args[80];
	size_t n = 0;
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *in, *out;
	char buf[8192];
	size_t got;
	int st = 0, sent, is_copy = 0, rc = EXIT_USAGE;

	mkdir(runs_dir, 0755);
	if (k <= 0 || fl_vm_runner(runner, sizeof(runner)) < 0 || !realpath(runs_dir, runs)) {
		fprintf(stderr, "faultline run --vm: cannot find the micro-VM runner or '%s'\n",
			runs_dir);
		return rc;
	}
	self[k] = 0;
	/* the guest sees the host's files read-only, except /tmp and /run
	 * (its own): a scenario it sees is used where it is, so that paths
	 * relative to it (programs, exec scripts) still work; one it cannot
	 * see is copied into the shared runs directory */
	if (realpath(file, copy) && guest_sees(copy, runner))
		goto copied;
	is_copy = 1;
	snprintf(copy, sizeof(copy), "%s/.%s.yaml", runs, s->name);
	/* the guest needs the secrets it holds: readable by root only, removed after */
	if (!(in = fopen(file, "r")) || !(out = fl_fopen_private(copy))) {
		fprintf(stderr, "faultline run --vm: cannot copy the scenario into '%s'\n", runs);
		if (in)
			fclose(in);
		return rc;
	}
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, got, out);
	fclose(in);
	fclose(out);
copied:
	snprintf(seedbuf, sizeof(seedbuf), "%llu", (unsigned long long)seed);
	args[n++] = runner;
	args[n++] = (char *)"--share";
	args[n++] = runs;
	args[n++] = (char *)"--";
	args[n++] = self;
	args[n++] = (char *)"run";
	args[n++] = (char *)"--seed";
	args[n++] = seedbuf;
	args[n++] = (char *)"--runs";
	args[n++] = runs;
	for (size_t i = 0; i < ov.n && n < 76; i++) {
		args[n++] = (char *)"--set";
		args[n++] = ov.v[i];
	}
	args[n++] = copy;
	args[n] = NULL;
	/* for the reproduce line */
	setenv("FL_SCENARIO_ORIG", file, 1);
	sent = fl_vm_exec(args, is_copy ? copy : NULL, &st);
	unsetenv("FL_SCENARIO_ORIG");
	if (is_copy)
		unlink(copy); /* never the user's own file */
	if (sent < 0)
		return rc;
	for (int i = 0; i < sent; i++)
		fl_run_interrupt();
	if (sent > 1) {
		/* stopped at once: the VM is gone, nothing was judged */
		fprintf(stderr, "faultline run --vm: interrupted again: the VM was stopped at once, "
				"nothing judged\n");
		return FL_RUN_INTERRUPTED;
	}
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_USAGE;
	return rc == 125 ? EXIT_USAGE : rc;
}

/* What run_one's reaper does when the run was killed (its handlers see no
 * SIGKILL): the cluster taken down from its state files, as `faultline
 * down --cluster NAME` does, within moments rather than never. */
static void run_orphaned(void *ctx)
{
	char self[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int null = open("/dev/null", O_RDWR);

	if (k <= 0)
		return;
	self[k] = 0;
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	execl(self, self, "down", "--cluster", (const char *)ctx, (char *)NULL);
}

/* One scenario file through `run` (in place, or inside a micro-VM). Sets
 * *name and *seed_out to find its run directory afterwards. */
static int run_one(const char *file, struct overrides ov, uint64_t seed, int have_seed, int vm,
		   const char *runs_dir, char *name, size_t namelen, uint64_t *seed_out)
{
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_run_opts o = { .runs_dir = runs_dir };
	struct fl_console con;
	struct fl_reaper reaper = { .hold = -1 };
	int rc = EXIT_USAGE;
	char *agent = NULL, dir[PATH_MAX] = "";

	fl_diags_init(&d);
	if (fl_scenario_load(file, ov.v, ov.n, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		goto out;
	}
	if (!vm) /* else the run inside the micro-VM says them */
		fl_diags_print(&s->warnings, stderr);
	if (!have_seed)
		seed = s->has_seed ? s->seed : fl_rng_fresh_seed();
	snprintf(name, namelen, "%s", s->name);
	*seed_out = seed;
	if (vm) {
		rc = run_in_vm(file, s, ov, seed, runs_dir);
		goto out;
	}
	if (need_root("run") < 0)
		goto out;
	agent = agent_path();
	o.scenario_path = file;
	o.seed = seed;
	o.agent_path = agent;
	o.overrides = ov.v;
	o.noverrides = ov.n;
	o.say = fl_console_sink(&con, "faultline run");
	/* a reaper takes the cluster down if this process is killed; forked
	 * first, holding none of the cluster's connections. Not when a
	 * cluster of this scenario is up already: that one is not the run's
	 * (and the run's up fails on it) */
	{
		char e[256], cdir[PATH_MAX];
		if (fl_cluster_find(s->name, cdir, sizeof(cdir), e, sizeof(e)) < 0)
			fl_reaper_start(&reaper, run_orphaned, s->name);
	}
	rc = fl_run(s, &o, dir, sizeof(dir));
	fl_reaper_stop(&reaper); /* the cluster is down */
	fl_console_end(&con);
	if (dir[0]) {
		int v = fl_cli_verdict(dir, s, 1, stdout);
		if (rc == EXIT_OK)
			rc = v;
		printf("run directory: %s\n", dir);
	}
	fl_run_print_reproduce(stdout, s, &o);
out:
	free(agent);
	fl_scenario_free(s);
	fl_diags_release(&d);
	return rc;
}

struct run_one_ctx {
	struct overrides ov;
	uint64_t seed;
	int have_seed, vm;
};

static int run_one_cb(void *ctx, const char *file, const char *runs_dir, char *name,
		      size_t namelen, uint64_t *seed)
{
	struct run_one_ctx *c = ctx;

	return run_one(file, c->ov, c->seed, c->have_seed, c->vm, runs_dir, name, namelen, seed);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },	     { "set", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },    { "runs", required_argument, NULL, 'r' },
		{ "vm", no_argument, NULL, 'v' },	     { "junit", required_argument, NULL, 'j' },
		{ "keep", required_argument, NULL, 'k' },    { 0 },
	};
	struct overrides ov = { 0 };
	struct fl_console con;
	struct fl_say say;
	const char *runs_dir = "runs", *junit = NULL;
	uint64_t seed = 0;
	long keep = 0;
	int ch, have_seed = 0, vm = 0, rc;

	while ((ch = getopt_long(argc, argv, "hs:S:r:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage_run(stdout);
			free(ov.v);
			return EXIT_OK;
		case 's':
			add_override(&ov, optarg);
			break;
		case 'S':
			if (parse_seed(optarg, &seed) < 0) {
				fprintf(stderr, "faultline run: bad --seed '%s'\n", optarg);
				free(ov.v);
				return EXIT_USAGE;
			}
			have_seed = 1;
			break;
		case 'r':
			runs_dir = optarg;
			break;
		case 'j':
			junit = optarg;
			break;
		case 'k': {
			char *end;
			keep = strtol(optarg, &end, 10);
			if (*end || keep < 1) {
				fprintf(stderr, "faultline run: bad --keep '%s' (a count, at least 1)\n",
					optarg);
				free(ov.v);
				return EXIT_USAGE;
			}
			break;
		}
		case 'v':
			vm = 1;
			break;
		default:
			usage_run(stderr);
			free(ov.v);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage_run(stderr);
		free(ov.v);
		return EXIT_USAGE;
	}
	say = fl_console_sink(&con, "faultline run");
	rc = fl_run_many(argc - optind, argv + optind, runs_dir, junit, keep, run_one_cb,
			 &(struct run_one_ctx){ ov, seed, have_seed, vm }, &say);
	free(ov.v);
	return rc;
}

static void usage_report(FILE *f)
{
	fprintf(f, "usage: faultline report [--quiet] RUN_DIR...\n"
		   "       faultline report [--quiet] --index DIR [RUN_DIR...]\n"
		   "\n"
		   "Renders each run directory's reports again from its verdict (results.json)\n"
		   "and its files: prints the table of checks and rewrites junit.xml and\n"
		   "report.html. It never judges: 'faultline check RUN_DIR' does (and a run\n"
		   "without results.json is an error). A run whose history.jsonl is gone still\n"
		   "gets its checks and faults.\n"
		   "\n"
		   "  --index DIR  then write DIR/index.html: every run directory in DIR, newest\n"
		   "               first, with scenario, start, seed, verdicts and a link to its\n"
		   "               report (runs without results.json are \"not judged\")\n"
		   "  --quiet      print only the files written (and errors)\n"
		   "\n"
		   "exit status: 0 every report was written (whatever the verdicts), 2 a run\n"
		   "directory could not be read or a file not written\n");
}

/* One run directory: fl_run_verdict's table to stdout, or (--quiet) kept
 * in memory and shown only when something could not be done. */
static int report_run_dir(const char *dir, int quiet)
{
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *out = stdout;
	int rc;

	fl_diags_init(&d);
	if (fl_run_scenario_load(dir, &d, &s, NULL) < 0) {
		if (d.n)
			fl_diags_print(&d, stderr);
		else
			fprintf(stderr, "faultline report: '%s' is not a run directory (no readable "
					"run.json)\n", dir);
		fl_diags_release(&d);
		return EXIT_USAGE;
	}
	fl_diags_release(&d);
	if (quiet && !(out = open_memstream(&buf, &len)))
		out = stdout;
	if (out == stdout)
		printf("%s: run of %s\n", dir, s->name);
	rc = fl_cli_verdict(dir, s, 0, out);
	if (out != stdout) {
		fclose(out);
		if (rc == EXIT_USAGE)
			fprintf(stderr, "%s:%s", dir, buf ? buf : "\n");
		free(buf);
	}
	fl_scenario_free(s);
	if (rc == EXIT_USAGE)
		return EXIT_USAGE;
	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	printf("%s%.*s/report.html\n", quiet ? "" : "report: ", (int)len, dir);
	return EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "index", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	const char *index = NULL;
	int ch, quiet = 0, rc = EXIT_OK;

	while ((ch = getopt_long(argc, argv, "hi:q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage_report(stdout);
			return EXIT_OK;
		case 'i':
			index = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			usage_report(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc && !index) {
		fprintf(stderr, "faultline report: no run directory given\n");
		usage_report(stderr);
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++)
		if (report_run_dir(argv[i], quiet) != EXIT_OK)
			rc = EXIT_USAGE;
	if (index) {
		char err[512];
		size_t n = 0;
		if (fl_report_index_write(index, &n, err, sizeof(err)) < 0) {
			fprintf(stderr, "faultline report: %s\n", err);
			return EXIT_USAGE;
		}
		if (quiet)
			printf("%s/index.html\n", index);
		else
			printf("index: %s/index.html (%zu run%s)\n", index, n, n == 1 ? "" : "s");
	}
	return rc;
}

static void usage_compare(FILE *f)
{
	fprintf(f, "usage: faultline compare [--threshold P%%] [--min-delta DURATION] BASE_RUN NEW_RUN\n"
		   "\n"
		   "Throughput (ok ops/s) and p50/p99 latency of two run directories, per phase\n"
		   "(the whole run, the steady state, each fault instance), side by side.\n"
		   "A regression: throughput down, or p50/p99 up, by more than the threshold\n"
		   "(default 10%%; latency also by more than --min-delta, default 1ms).\n"
		   "\n"
		   "exit status: 0 no regression, 1 a regression, 2 usage or unreadable run\n");
}

int cmd_compare(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "threshold", required_argument, NULL, 't' },
		{ "min-delta", required_argument, NULL, 'm' },
		{ 0 },
	};
	struct fl_compare_opts o = { .threshold = 0.10, .min_delta_ns = 1000000 };
	char err[512] = "";
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage_compare(stdout);
			return EXIT_OK;
		case 't': {
			char *end;
			double v = strtod(optarg, &end);
			if (end == optarg || (*end && strcmp(end, "%")) || v < 0 || v > 1000) {
				fprintf(stderr, "faultline compare: bad --threshold '%s' (e.g. 10%%)\n",
					optarg);
				return EXIT_USAGE;
			}
			o.threshold = v / 100;
			break;
		}
		case 'm': {
			int64_t ns;
			if (fl_parse_duration(optarg, 0, &ns, NULL) < 0 || ns < 0) {
				fprintf(stderr, "faultline compare: bad --min-delta '%s' (e.g. 2ms)\n",
					optarg);
				return EXIT_USAGE;
			}
			o.min_delta_ns = ns;
			break;
		}
		default:
			usage_compare(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		usage_compare(stderr);
		return EXIT_USAGE;
	}
	rc = fl_compare_runs(argv[optind], argv[optind + 1], &o, stdout, err, sizeof(err));
	if (rc == 2)
		fprintf(stderr, "faultline compare: %s\n", err);
	return rc;
}

