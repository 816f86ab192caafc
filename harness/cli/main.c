/* faultline: the command line. Parses arguments, calls the engine, prints
 * what it returns and turns it into an exit code (0 ok, 1 an invariant
 * failed, 2 usage/config/environment error, 3 undecided). The only place
 * that exits. The commands live one group a file (cli.h). */
#include "cli.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/check_cli.h"
#include "faultline/cluster.h"
#include "faultline/strutil.h"
#include "faultline/vm.h"

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "validate", cmd_validate }, { "plan", cmd_plan },	{ "up", cmd_up },
	{ "status", cmd_status },     { "inject", cmd_inject }, { "heal", cmd_heal },
	{ "down", cmd_down },	      { "doctor", cmd_doctor }, { "run", cmd_run },
	{ "check", fl_cmd_check },    { "compare", cmd_compare }, { "report", cmd_report },
};

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
	err[0] = 0;
	*rc = fl_vm_forward(dir, argc, argv, stdout, err, sizeof(err));
	if (err[0])
		fprintf(stderr, "faultline: %s\n", err);
	return 1;
}

int main(int argc, char **argv)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *hint;

	/* nothing faultline writes (run directories, state, reports) is
	 * writable by others, whatever umask it was started with */
	umask(umask(022) | 022);
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

