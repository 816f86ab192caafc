/* faultline: the command line. Parses arguments, calls the engine, prints
 * what it returns and turns it into an exit code (0 ok, 1 an invariant
 * failed, 2 usage/config/environment error). The only place that exits. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/check_cli.h"
#include "faultline/cluster.h"
#include "faultline/compare.h"
#include "faultline/diag.h"
#include "faultline/doctor.h"
#include "faultline/exec.h"
#include "faultline/plan.h"
#include "faultline/report.h"
#include "faultline/report_html.h"
#include "faultline/verdict.h"
#include "faultline/rng.h"
#include "faultline/run.h"
#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/agent.h"
#include "faultline/units.h"
#include "faultline/vm.h"
#include "faultline/netns.h"

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct overrides {
	char **v;
	size_t n;
};

static int add_override(struct overrides *o, char *s)
{
	char **v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	o->v = v;
	o->v[o->n++] = s;
	return 0;
}

static void usage_main(FILE *f)
{
	fprintf(f,
		"usage: faultline [--version] [--help] COMMAND [ARGS]\n"
		"\n"
		"Fault-injection and failover testing for distributed systems.\n"
		"\n"
		"commands:\n"
		"  validate FILE|DIR...   check scenario files; exit 0 when all are valid, 2 otherwise\n"
		"  plan FILE              print the resolved fault timeline for a seed\n"
		"  run FILE|DIR...        run scenarios end to end (cluster, system, workload, faults,\n"
		"                         checks); exit 0 pass, 1 a check failed, 3 undecided\n"
		"  up FILE                bring the scenario's cluster up and leave it running\n"
		"  status                 the running cluster: nodes, addresses, faults held\n"
		"  inject FAULT [--KEY VALUE]...  hold one fault on the running cluster\n"
		"  heal                   heal every fault of the running cluster\n"
		"  down                   remove the running cluster and everything it made\n"
		"  doctor                 what this machine can do: tc pieces, VMs, systems\n"
		"  check FILE|RUN_DIR...  is each history linearizable (exit 0 yes, 1 violation, 3 unknown);\n"
		"                         a run directory: every check of its scenario again\n"
		"  report RUN_DIR...      render a run's reports again: results.json, junit.xml, report.html\n"
		"  report --index DIR     DIR/index.html: every run in DIR, newest first, with its verdicts\n"
		"  compare BASE NEW       throughput and latency per phase of two runs; exit 1 on a\n"
		"                         regression beyond --threshold\n"
		"\n"
		"Run 'faultline COMMAND --help' for a command's options.\n");
}

static void usage_validate(FILE *f)
{
	fprintf(f,
		"usage: faultline validate [--set PATH=VALUE]... [--quiet] FILE|DIR...\n"
		"\n"
		"Checks each scenario (a directory: each *.yaml/*.yml in it) and reports\n"
		"every problem as 'file:line:col: message'. Changes nothing on the system.\n"
		"\n"
		"  --set PATH=VALUE  override a field first, e.g. --set workload.clients=20\n"
		"  -q, --quiet       print only problems\n"
		"\n"
		"exit status: 0 all valid, 2 any invalid or unreadable\n");
}

static void usage_plan(FILE *f)
{
	fprintf(f,
		"usage: faultline plan [--seed N] [--json] [--set PATH=VALUE]... FILE\n"
		"\n"
		"Prints every fault instance of the scenario with its start, end and targets.\n"
		"Targets like 'leader' are shown as resolved at run time. The same file and\n"
		"seed always print the same bytes.\n"
		"\n"
		"  --seed N          seed for random choices (default: the scenario's 'seed',\n"
		"                    else a fresh one, printed on stderr)\n"
		"  --json            machine-readable output\n"
		"  --set PATH=VALUE  override a field first, e.g. --set duration=2m\n"
		"\n"
		"exit status: 0 printed, 2 invalid scenario or usage\n");
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expand a directory into its scenario files, sorted; files pass through. */
static int expand_arg(const char *arg, struct overrides *files, struct fl_diags *d)
{
	struct stat st;
	DIR *dir;
	struct dirent *e;
	size_t first = files->n;

	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char *s = strdup(arg);
		return s ? add_override(files, s) : -ENOMEM;
	}
	if (!(dir = opendir(arg))) {
		fl_diags_add(d, arg, 0, 0, "cannot open directory: %s", strerror(errno));
		return -errno;
	}
	while ((e = readdir(dir))) {
		char *path;
		if (e->d_name[0] == '.' || !(has_suffix(e->d_name, ".yaml") || has_suffix(e->d_name, ".yml")))
			continue;
		if (asprintf(&path, "%s%s%s", arg, has_suffix(arg, "/") ? "" : "/", e->d_name) < 0)
			break;
		add_override(files, path);
	}
	closedir(dir);
	if (files->n == first) {
		fl_diags_add(d, arg, 0, 0, "directory holds no scenario files (*.yaml, *.yml)");
		return -ENOENT;
	}
	qsort(files->v + first, files->n - first, sizeof(char *), cmp_str);
	return 0;
}

static int cmd_validate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "set", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	struct overrides ov = { 0 }, files = { 0 };
	int c, quiet = 0, bad = 0;

	while ((c = getopt_long(argc, argv, "hs:q", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_validate(stdout);
			return EXIT_OK;
		case 's':
			add_override(&ov, optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			usage_validate(stderr);
			free(ov.v);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "faultline validate: no scenario file given\n");
		usage_validate(stderr);
		free(ov.v);
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		struct fl_diags d;
		fl_diags_init(&d);
		if (expand_arg(argv[i], &files, &d) < 0) {
			fl_diags_print(&d, stderr);
			bad = 1;
		}
		fl_diags_release(&d);
	}
	for (size_t i = 0; i < files.n; i++) {
		struct fl_diags d;
		struct fl_scenario *s = NULL;

		fl_diags_init(&d);
		if (fl_scenario_load(files.v[i], ov.v, ov.n, &d, &s) < 0) {
			fl_diags_print(&d, stderr);
			bad = 1;
		} else if (fl_diags_print(&s->warnings, stderr), !quiet) {
			char dur[32];
			fl_format_duration(s->duration_ns, dur, sizeof(dur));
			printf("%s: valid (%s, %zu node%s, %zu fault%s, %s)\n", files.v[i], s->name,
			       s->cluster.nnodes, s->cluster.nnodes == 1 ? "" : "s", s->nfaults,
			       s->nfaults == 1 ? "" : "s", dur);
		}
		fl_scenario_free(s);
		fl_diags_release(&d);
		free(files.v[i]);
	}
	free(files.v);
	free(ov.v);
	return bad ? EXIT_USAGE : EXIT_OK;
}

static int parse_seed(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > INT64_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_plan(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "set", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	struct overrides ov = { 0 };
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	uint64_t seed = 0;
	int c, json = 0, have_seed = 0, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, "hs:S:j", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_plan(stdout);
			free(ov.v);
			return EXIT_OK;
		case 's':
			add_override(&ov, optarg);
			break;
		case 'S':
			if (parse_seed(optarg, &seed) < 0) {
				fprintf(stderr, "faultline plan: bad --seed '%s': expected an integer "
						"from 0 to %lld\n", optarg, (long long)INT64_MAX);
				free(ov.v);
				return EXIT_USAGE;
			}
			have_seed = 1;
			break;
		case 'j':
			json = 1;
			break;
		default:
			usage_plan(stderr);
			free(ov.v);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "faultline plan: expected exactly one scenario file\n");
		usage_plan(stderr);
		free(ov.v);
		return EXIT_USAGE;
	}
	fl_diags_init(&d);
	if (fl_scenario_load(argv[optind], ov.v, ov.n, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	fl_diags_print(&s->warnings, stderr);
	if (!have_seed && s->has_seed) {
		seed = s->seed;
	} else if (!have_seed) {
		seed = fl_rng_fresh_seed();
		fprintf(stderr, "faultline: no seed given; using seed %llu (repeat with --seed %llu)\n",
			(unsigned long long)seed, (unsigned long long)seed);
	}
	if (fl_plan_build(s, seed, &p) < 0) {
		fprintf(stderr, "faultline plan: out of memory\n");
		rc = EXIT_USAGE;
		goto out;
	}
	if ((json ? fl_plan_write_json(p, stdout) : fl_plan_write_text(p, stdout)) < 0 ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "faultline plan: cannot write output: %s\n", strerror(errno));
		rc = EXIT_USAGE;
	}
out:
	fl_plan_free(p);
	fl_scenario_free(s);
	fl_diags_release(&d);
	free(ov.v);
	return rc;
}

/* --- local clusters --------------------------------------------------------- */

static char *agent_path(void)
{
	char self[PATH_MAX], *slash, *p = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/'))) {
			*slash = 0;
			if (asprintf(&p, "%s/faultline-agent", self) > 0 && access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return strdup("faultline-agent");
}

/* --cluster NAME, or the only cluster up */
static struct fl_cluster *open_cluster(const char *cmd, const char *name)
{
	char dir[PATH_MAX], err[512];
	struct fl_cluster *c = NULL;

	if (fl_cluster_find(name, dir, sizeof(dir), err, sizeof(err)) < 0 ||
	    fl_cluster_open(dir, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "faultline %s: %s\n", cmd, err);
		return NULL;
	}
	return c;
}

static int need_root(const char *cmd)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "faultline %s: needs root (network namespaces and traffic control)\n", cmd);
	return -EPERM;
}

static void usage_up(FILE *f)
{
	fprintf(f, "usage: faultline up [--vm] [--set PATH=VALUE]... FILE\n"
		   "\n"
		   "Creates the scenario's cluster (a network namespace per node on a bridge,\n"
		   "an agent in each) and leaves it running for 'status', 'inject', 'heal' and\n"
		   "'down'. Needs root. State lives in $FAULTLINE_STATE (default /run/faultline).\n"
		   "\n"
		   "  --vm   run the whole cluster inside one micro-VM on the stock kernel (for\n"
		   "         kernels without netem, prio or gact: see 'faultline doctor'); the\n"
		   "         other commands are forwarded to it\n");
}

static int cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "set", required_argument, NULL, 's' },
		{ "vm", no_argument, NULL, 'v' },
		{ 0 },
	};
	struct overrides ov = { 0 };
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_cluster *c = NULL;
	char err[512], *agent;
	int ch, rc = EXIT_OK, vm = 0;

	while ((ch = getopt_long(argc, argv, "hs:", longopts, NULL)) != -1) {
		if (ch == 'h') {
			usage_up(stdout);
			free(ov.v);
			return EXIT_OK;
		}
		if (ch == 'v') {
			vm = 1;
			continue;
		}
		if (ch != 's') {
			usage_up(stderr);
			free(ov.v);
			return EXIT_USAGE;
		}
		add_override(&ov, optarg);
	}
	if (argc - optind != 1) {
		usage_up(stderr);
		free(ov.v);
		return EXIT_USAGE;
	}
	fl_diags_init(&d);
	if (fl_scenario_load(argv[optind], ov.v, ov.n, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		rc = EXIT_USAGE;
		goto out;
	}
	if (vm) {
		char id[8], dir[PATH_MAX];
		fl_netns_make_id(s->name, id);
		mkdir(fl_cluster_root(), 0755);
		snprintf(dir, sizeof(dir), "%s/%s", fl_cluster_root(), id);
		if (fl_vm_up(dir, argv[optind], ov.v, ov.n, err, sizeof(err)) < 0) {
			fprintf(stderr, "faultline up --vm: %s\n", err);
			rc = EXIT_USAGE;
		} else {
			printf("(inside a micro-VM; 'faultline status|inject|heal|down' reach it)\n");
		}
		goto out;
	}
	if (need_root("up") < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	agent = agent_path();
	if (fl_cluster_up(s, agent, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "faultline up: %s\n", err);
		rc = EXIT_USAGE;
	} else {
		json_t *st = fl_cluster_status(c);
		size_t i;
		json_t *n;
		printf("cluster '%s' is up (id %s, state in %s)\n", s->name, c->id, c->dir);
		json_array_foreach(json_object_get(st, "nodes"), i, n)
			printf("  %-12s %-15s agent %s\n", json_string_value(json_object_get(n, "name")),
			       json_string_value(json_object_get(n, "addr")),
			       json_is_true(json_object_get(n, "agent")) ? "ready" : "NOT ANSWERING");
		json_decref(st);
		printf("take it down with: faultline down\n");
	}
	free(agent);
out:
	fl_cluster_free(c);
	fl_scenario_free(s);
	fl_diags_release(&d);
	free(ov.v);
	return rc;
}

static int simple_cluster_cmd(int argc, char **argv, const char *cmd, const char *help,
			      struct fl_cluster **out, int *json)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	const char *name = NULL;
	int ch;

	*out = NULL;
	while ((ch = getopt_long(argc, argv, "hc:j", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: faultline %s [--cluster NAME]%s\n\n%s\n", cmd,
			       json ? " [--json]" : "", help);
			return EXIT_OK;
		case 'c':
			name = optarg;
			break;
		case 'j':
			if (json) {
				*json = 1;
				break;
			}
			/* fall through */
		default:
			fprintf(stderr, "usage: faultline %s [--cluster NAME]\n", cmd);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "faultline %s: unexpected argument '%s'\n", cmd, argv[optind]);
		return EXIT_USAGE;
	}
	if (need_root(cmd) < 0 || !(*out = open_cluster(cmd, name)))
		return EXIT_USAGE;
	return -1;
}

static int cmd_status(int argc, char **argv)
{
	struct fl_cluster *c;
	int json = 0, rc = simple_cluster_cmd(argc, argv, "status",
					      "Shows the running cluster: nodes, addresses, whether "
					      "each agent answers,\nand the faults each holds.",
					      &c, &json);
	json_t *st, *n;
	size_t i;

	if (rc >= 0)
		return rc;
	st = fl_cluster_status(c);
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		printf("cluster '%s' (id %s, state in %s)\n", json_string_value(json_object_get(st, "scenario")),
		       c->id, c->dir);
		json_array_foreach(json_object_get(st, "nodes"), i, n) {
			json_t *faults = json_object_get(n, "faults"), *k = json_object_get(n, "kernel");
			printf("  %-12s %-15s agent %-14s %zu fault undo entr%s", json_string_value(json_object_get(n, "name")),
			       json_string_value(json_object_get(n, "addr")),
			       json_is_true(json_object_get(n, "agent")) ? "ready" : "NOT ANSWERING",
			       json_array_size(faults), json_array_size(faults) == 1 ? "y" : "ies");
			/* read back from the kernel, not from our own bookkeeping */
			if (k)
				printf(", kernel holds %zu qdisc%s and %zu filter%s",
				       json_array_size(json_object_get(k, "qdiscs")),
				       json_array_size(json_object_get(k, "qdiscs")) == 1 ? "" : "s",
				       json_array_size(json_object_get(k, "filters")),
				       json_array_size(json_object_get(k, "filters")) == 1 ? "" : "s");
			printf("\n");
		}
	}
	json_decref(st);
	fl_cluster_free(c);
	return EXIT_OK;
}

static int cmd_heal(int argc, char **argv)
{
	struct fl_cluster *c;
	char err[512] = "";
	int r, rc = simple_cluster_cmd(argc, argv, "heal",
				       "Heals every fault on the running cluster: through the agents, "
				       "or from their\njournals when an agent is gone.",
				       &c, NULL);

	if (rc >= 0)
		return rc;
	r = fl_cluster_heal(c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "faultline heal: %s\n", err);
	else
		printf("healed %d fault undo entr%s\n", r, r == 1 ? "y" : "ies");
	fl_cluster_free(c);
	return r < 0 ? EXIT_USAGE : EXIT_OK;
}

static int cmd_down(int argc, char **argv)
{
	struct fl_cluster *c;
	char err[512] = "";
	int r, rc = simple_cluster_cmd(argc, argv, "down",
				       "Stops the agents (they heal first) and removes every "
				       "namespace, link and\nfile the cluster made.",
				       &c, NULL);

	if (rc >= 0)
		return rc;
	r = fl_cluster_down(c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "faultline down: %s\n", err);
	else
		printf("cluster '%s' is down\n", c->scenario);
	fl_cluster_free(c);
	return r < 0 ? EXIT_USAGE : EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* faultline inject latency --targets n1 --latency 100ms --for 30s:
 * the options become one nemesis item, checked by the scenario parser
 * against the running cluster's nodes, planned, applied, held, healed. */
static int cmd_inject(int argc, char **argv)
{
	struct fl_cluster *c = NULL;
	const char *name = NULL;
	char *yaml = NULL, *item = NULL, err[512] = "";
	size_t ylen = 0, ilen = 0;
	FILE *y, *it;
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	int rc = EXIT_USAGE, has_for = 0;
	int64_t for_ns = 0;
	uint64_t touched = 0, seed = fl_rng_fresh_seed();

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: faultline inject FAULT [--cluster NAME] [--seed N] [--KEY VALUE]...\n"
			"\n"
			"Applies one fault to the running cluster and holds it for --for (default:\n"
			"until Ctrl-C), then heals it. Keys are those of a nemesis item in a\n"
			"scenario, e.g.\n"
			"  faultline inject latency --targets n1 --peers '[n2]' --latency 100ms --for 30s\n"
			"  faultline inject partition --mode isolate --targets n2 --for 10s\n"
			"If faultline dies, the agents heal the fault themselves.\n");
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	fl_diags_init(&d);
	it = open_memstream(&item, &ilen);
	fprintf(it, "  - fault: \"%s\"\n", argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		if (strncmp(k, "--", 2) || i + 1 >= argc || strchr(argv[i + 1], '\n')) {
			fclose(it);
			fprintf(stderr, "faultline inject: expected --KEY VALUE pairs, got '%s'\n", k);
			goto out;
		}
		k += 2;
		if (!strcmp(k, "cluster")) {
			name = argv[++i];
			continue;
		}
		if (!strcmp(k, "seed")) {
			char *end;
			seed = strtoull(argv[++i], &end, 10);
			if (*end || !*argv[i]) {
				fclose(it);
				fprintf(stderr, "faultline inject: bad --seed '%s'\n", argv[i]);
				goto out;
			}
			continue;
		}
		for (const char *q = k; *q; q++)
			if (!(*q == '_' || *q == '-' || (*q >= 'a' && *q <= 'z'))) {
				fclose(it);
				fprintf(stderr, "faultline inject: bad option '--%s'\n", k);
				goto out;
			}
		if (!strcmp(k, "for")) {
			const char *why;
			has_for = fl_parse_duration(argv[i + 1], 0, &for_ns, &why) == 0;
		}
		fprintf(it, "    %s: %s\n", k, argv[++i]);
	}
	fclose(it);
	if (need_root("inject") < 0 || !(c = open_cluster("inject", name)))
		goto out;
	y = open_memstream(&yaml, &ylen);
	fprintf(y, "name: inject\nduration: %lldns\ncluster:\n  nodes: [",
		(long long)(has_for ? for_ns + FL_NS_PER_S : 7 * 86400 * FL_NS_PER_S - 1));
	for (size_t i = 0; i < c->n; i++)
		fprintf(y, "%s%s", i ? ", " : "", c->names[i]);
	fprintf(y, "]\nsystem: {type: exec, start: [none], client: [none]}\n"
		   "workload: {type: none}\nnemesis:\n%s", item);
	fclose(y);
	if (fl_scenario_load_string("faultline inject", yaml, ylen, NULL, 0, &d, &s) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "faultline inject: %s\n", d.v[i].msg);
		goto out;
	}
	if (fl_plan_build(s, seed, &p) < 0 || p->nsteps == 0) {
		fprintf(stderr, "faultline inject: nothing to apply\n");
		goto out;
	}
	fl_cluster_connect(c, err, sizeof(err));
	{
		struct fl_exec x = { .s = s, .agents = c->agents, .addrs = c->addrs, .iface = "eth0",
				     .timeout_ms = 10000 };
		struct sigaction sa = { .sa_handler = on_interrupt };
		int64_t start = fl_monotonic_ns();
		char tb[64];

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if (fl_exec_apply(&x, &p->steps[0], "inject", &touched, err, sizeof(err)) < 0) {
			fprintf(stderr, "faultline inject: %s\n", err);
			goto out;
		}
		if (has_for)
			fl_format_duration(for_ns, tb, sizeof(tb));
		printf("%s applied on", argv[1]);
		for (size_t i = 0; i < c->n; i++)
			if (touched & (1ull << i))
				printf(" %s", c->names[i]);
		printf("; holding it %s%s\n", has_for ? "for " : "until Ctrl-C", has_for ? tb : "");
		if (p->steps[0].blocked) {
			/* the directed cuts, for people and for tests */
			printf("cut:");
			for (size_t i = 0; i < c->n; i++)
				for (size_t j = 0; j < c->n; j++)
					if (p->steps[0].blocked[i] & (1ull << j))
						printf(" %s->%s", c->names[i], c->names[j]);
			printf("\n");
		}
		fflush(stdout);
		/* hold: the open connections keep the fault; pings keep the dead-man
		 * switch quiet */
		while (!interrupted && (!has_for || fl_monotonic_ns() - start < for_ns)) {
			struct timespec ts = { 0, 100 * 1000000 };
			static int64_t last;
			if (fl_monotonic_ns() - last > FL_NS_PER_S) {
				last = fl_monotonic_ns();
				for (size_t i = 0; i < c->n; i++) {
					json_t *r = NULL;
					char e[256];
					if ((touched & (1ull << i)) && c->agents[i])
						fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "ping"),
							       2000, &r, e, sizeof(e));
					json_decref(r);
				}
			}
			nanosleep(&ts, NULL);
		}
		if (fl_exec_heal(&x, touched, "inject", err, sizeof(err)) < 0) {
			fprintf(stderr, "faultline inject: healing: %s\n", err);
			goto out;
		}
		printf("%s healed\n", argv[1]);
		rc = EXIT_OK;
	}
out:
	fl_plan_free(p);
	fl_scenario_free(s);
	fl_cluster_free(c);
	fl_diags_release(&d);
	free(yaml);
	free(item);
	return rc;
}

static int cmd_doctor(int argc, char **argv);
static int cmd_run(int argc, char **argv);
static int cmd_compare(int argc, char **argv);
static int cmd_report(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "validate", cmd_validate }, { "plan", cmd_plan },   { "up", cmd_up },
	{ "status", cmd_status },     { "inject", cmd_inject }, { "heal", cmd_heal },
	{ "down", cmd_down },	      { "doctor", cmd_doctor }, { "run", cmd_run },
	{ "check", fl_cmd_check },   { "compare", cmd_compare },    { "report", cmd_report },
};

static int cmd_doctor(int argc, char **argv)
{
	int json = 0, missing = 0, r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: faultline doctor [--json]\n\n"
			       "Probes, in a throwaway network namespace, every qdisc, classifier and "
			       "action\nfaultline uses, plus namespaces, bridges, libvirt, qemu/KVM and "
			       "the systems under\ntest; says what works, what is missing and how to "
			       "get it.\nexit status: 0 everything required works, 2 something is "
			       "missing\n");
			return EXIT_OK;
		} else {
			fprintf(stderr, "usage: faultline doctor [--json]\n");
			return EXIT_USAGE;
		}
	}
	r = fl_doctor_run(stdout, json, &missing);
	if (r < 0) {
		fprintf(stderr, "faultline doctor: %s\n", strerror(-r));
		return EXIT_USAGE;
	}
	return missing ? EXIT_USAGE : EXIT_OK;
}

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

/* One scenario file through `run` (in place, or inside a micro-VM). Sets
 * *name and *seed_out to find its run directory afterwards. */
static int run_one(const char *file, struct overrides ov, uint64_t seed, int have_seed, int vm,
		   const char *runs_dir, char *name, size_t namelen, uint64_t *seed_out)
{
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_run_opts o = { .runs_dir = runs_dir };
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
		/* the same command inside a micro-VM; the runs directory is shared back */
		char runner[PATH_MAX], runs[PATH_MAX], self[PATH_MAX], copy[PATH_MAX + 64],
			seedbuf[32], *args[80];
		size_t n = 0;
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		FILE *in, *out;
		char buf[8192];
		size_t got;
		pid_t pid;
		int st, is_copy = 0;

		mkdir(o.runs_dir, 0755);
		if (k <= 0 || fl_vm_runner(runner, sizeof(runner)) < 0 || !realpath(o.runs_dir, runs)) {
			fprintf(stderr, "faultline run --vm: cannot find the micro-VM runner or '%s'\n",
				o.runs_dir);
			goto out;
		}
		self[k] = 0;
		/* the guest sees the host's files read-only, except /tmp and /run
		 * (its own): a scenario elsewhere is used where it is, so that
		 * paths relative to it (exec scripts) still work; one in /tmp or
		 * /run is copied into the shared runs directory */
		if (realpath(file, copy) && strncmp(copy, "/tmp/", 5) &&
		    strncmp(copy, "/run/", 5))
			goto copied;
		is_copy = 1;
		snprintf(copy, sizeof(copy), "%s/.%s.yaml", runs, s->name);
		if (!(in = fopen(file, "r")) || !(out = fopen(copy, "w"))) {
			fprintf(stderr, "faultline run --vm: cannot copy the scenario into '%s'\n", runs);
			if (in)
				fclose(in);
			goto out;
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
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			setenv("FL_SCENARIO_ORIG", file, 1); /* for the reproduce line */
			execv(runner, args);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0) {
			if (is_copy)
				unlink(copy);
			goto out;
		}
		if (is_copy)
			unlink(copy); /* never the user's own file */
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_USAGE;
		if (rc == 125)
			rc = EXIT_USAGE;
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
	rc = fl_run(s, &o, dir, sizeof(dir));
	if (dir[0]) {
		int v = fl_cli_verdict(dir, s, 1, stdout);
		if (rc == EXIT_OK)
			rc = v;
		printf("run directory: %s\n", dir);
	}
	fl_run_print_reproduce(stdout, &o);
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

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },	     { "set", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },    { "runs", required_argument, NULL, 'r' },
		{ "vm", no_argument, NULL, 'v' },	     { "junit", required_argument, NULL, 'j' },
		{ "keep", required_argument, NULL, 'k' },    { 0 },
	};
	struct overrides ov = { 0 };
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
	rc = fl_run_many(argc - optind, argv + optind, runs_dir, junit, keep, run_one_cb,
			 &(struct run_one_ctx){ ov, seed, have_seed, vm });
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

static int cmd_report(int argc, char **argv)
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

/* Inside the micro-VM of `up --vm` (not for people: see vm.h). */
static int cmd_vm_serve(int argc, char **argv)
{
	struct overrides ov = { 0 };
	int r;

	if (argc < 3)
		return EXIT_USAGE;
	for (int i = 3; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--set"))
			add_override(&ov, argv[i + 1]);
	r = fl_vm_serve(argv[1], argv[2], ov.v, ov.n);
	free(ov.v);
	return r == 0 ? EXIT_OK : EXIT_USAGE;
}

/* status/inject/heal/down of a cluster that lives in a micro-VM go there */
static int maybe_forward(int argc, char **argv, int *rc)
{
	static const char *const fwd[] = { "status", "inject", "heal", "down" };
	const char *name = NULL;
	char dir[PATH_MAX], err[512], mark[PATH_MAX + 16];
	int hit = 0;

	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		hit |= !strcmp(argv[0], fwd[i]);
	if (!hit)
		return 0;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--cluster"))
			name = argv[i + 1];
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 0;
	if (fl_cluster_find(name, dir, sizeof(dir), err, sizeof(err)) < 0)
		return 0;
	snprintf(mark, sizeof(mark), "%s/%s", dir, FL_VM_MARK);
	if (access(mark, F_OK) < 0)
		return 0;
	*rc = fl_vm_forward(dir, argc, argv);
	return 1;
}

int main(int argc, char **argv)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *hint;

	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage_main(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("faultline %s\n", FL_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "vm-serve"))
		return cmd_vm_serve(argc - 1, argv + 1);
	{
		int rc;
		if (maybe_forward(argc - 1, argv + 1, &rc))
			return rc;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		names[i] = commands[i].name;
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	}
	hint = fl_closest(argv[1], names, sizeof(names) / sizeof(names[0]));
	if (hint)
		fprintf(stderr, "faultline: unknown command '%s' (did you mean '%s'?)\n", argv[1], hint);
	else
		fprintf(stderr, "faultline: unknown command '%s'; see 'faultline --help'\n", argv[1]);
	return EXIT_USAGE;
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

static int cmd_compare(int argc, char **argv)
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
