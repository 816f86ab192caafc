/* validate and plan: the scenario language's commands (nothing runs). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/diag.h"
#include "faultline/plan.h"
#include "faultline/rng.h"
#include "faultline/scenario.h"
#include "faultline/units.h"

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

int cmd_validate(int argc, char **argv)
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
		if (fl_scenario_files(argv[i], &files.v, &files.n, &d) < 0) {
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

int cmd_plan(int argc, char **argv)
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

