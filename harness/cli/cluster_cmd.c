/* The commands on a cluster that stays up: up, status, inject, heal,
 * down; and doctor (what this machine can do). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultline/agent.h"
#include "faultline/agentc.h"
#include "faultline/cluster.h"
#include "faultline/diag.h"
#include "faultline/doctor.h"
#include "faultline/exec.h"
#include "faultline/netns.h"
#include "faultline/plan.h"
#include "faultline/provider.h"
#include "faultline/rng.h"
#include "faultline/scenario.h"
#include "faultline/units.h"
#include "faultline/vm.h"

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

int cmd_up(int argc, char **argv)
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
		if (fl_vm_up(dir, argv[optind], ov.v, ov.n, stdout, stderr, err, sizeof(err)) < 0) {
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

int cmd_status(int argc, char **argv)
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

/* heal and down: the same shape, one action on the running cluster */
static int cluster_action(int argc, char **argv, int down)
{
	struct fl_cluster *c;
	char err[512] = "";
	const char *cmd = down ? "down" : "heal";
	int r, rc = simple_cluster_cmd(argc, argv, cmd,
				       down ? "Stops the agents (they heal first) and removes every "
					      "namespace, link and\nfile the cluster made."
					    : "Heals every fault on the running cluster: through the "
					      "agents, or from their\njournals when an agent is gone.",
				       &c, NULL);

	if (rc >= 0)
		return rc;
	r = down ? fl_cluster_down(c, err, sizeof(err)) : fl_cluster_heal(c, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "faultline %s: %s\n", cmd, err);
	else if (down)
		printf("cluster '%s' is down\n", c->scenario);
	else
		printf("healed %d fault undo entr%s\n", r, r == 1 ? "y" : "ies");
	fl_cluster_free(c);
	return r < 0 ? EXIT_USAGE : EXIT_OK;
}

int cmd_heal(int argc, char **argv)
{
	return cluster_action(argc, argv, 0);
}

int cmd_down(int argc, char **argv)
{
	return cluster_action(argc, argv, 1);
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The options of `inject` as a nemesis item (YAML), checked later by the
 * scenario parser: --cluster, --seed and --for are also taken here. */
struct inject_args {
	const char *cluster;
	uint64_t seed;
	int has_for;
	int64_t for_ns;
	char *item; /* "  - fault: ...\n    key: value\n..." */
};

static int inject_parse(int argc, char **argv, struct inject_args *ia)
{
	size_t ilen = 0;
	FILE *it = open_memstream(&ia->item, &ilen);

	if (!it)
		return -ENOMEM;
	fprintf(it, "  - fault: \"%s\"\n", argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		if (strncmp(k, "--", 2) || i + 1 >= argc || strchr(argv[i + 1], '\n')) {
			fprintf(stderr, "faultline inject: expected --KEY VALUE pairs, got '%s'\n", k);
			goto bad;
		}
		k += 2;
		if (!strcmp(k, "cluster")) {
			ia->cluster = argv[++i];
			continue;
		}
		if (!strcmp(k, "seed")) {
			if (parse_seed(argv[++i], &ia->seed) < 0) {
				fprintf(stderr, "faultline inject: bad --seed '%s'\n", argv[i]);
				goto bad;
			}
			continue;
		}
		for (const char *q = k; *q; q++)
			if (!(*q == '_' || *q == '-' || (*q >= 'a' && *q <= 'z'))) {
				fprintf(stderr, "faultline inject: bad option '--%s'\n", k);
				goto bad;
			}
		if (!strcmp(k, "for"))
			ia->has_for = fl_parse_duration(argv[i + 1], 0, &ia->for_ns, NULL) == 0;
		fprintf(it, "    %s: %s\n", k, argv[++i]);
	}
	fclose(it);
	return 0;
bad:
	fclose(it);
	return -EINVAL;
}

/* A one-item scenario on the running cluster's nodes, planned: step 0 is
 * the fault. */
static int inject_plan(const struct fl_cluster *c, const struct inject_args *ia,
		       struct fl_scenario **s, struct fl_plan **p)
{
	struct fl_diags d;
	char *yaml = NULL;
	size_t ylen = 0;
	FILE *y = open_memstream(&yaml, &ylen);
	int r = -EINVAL;

	if (!y)
		return -ENOMEM;
	fprintf(y, "name: inject\nduration: %lldns\ncluster:\n  provider: %s\n  nodes: [",
		(long long)(ia->has_for ? ia->for_ns + FL_NS_PER_S : 7 * 86400 * FL_NS_PER_S - 1),
		c->prov->name);
	for (size_t i = 0; i < c->n; i++)
		fprintf(y, "%s%s", i ? ", " : "", c->names[i]);
	fprintf(y, "]\nsystem: {type: exec, start: [none], client: [none]}\n"
		   "workload: {type: none}\nnemesis:\n%s", ia->item);
	fclose(y);
	fl_diags_init(&d);
	if (fl_scenario_load_string("faultline inject", yaml, ylen, NULL, 0, &d, s) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "faultline inject: %s\n", d.v[i].msg);
	} else if (fl_plan_build(*s, ia->seed, p) < 0 || (*p)->nsteps == 0) {
		fprintf(stderr, "faultline inject: nothing to apply\n");
	} else {
		r = 0;
	}
	fl_diags_release(&d);
	free(yaml);
	return r;
}

/* Hold the fault until --for passes or Ctrl-C: the open connections keep
 * it; a ping a second keeps the agents' dead-man switch quiet. */
static void inject_hold(struct fl_cluster *c, uint64_t touched, const struct inject_args *ia)
{
	int64_t start = fl_monotonic_ns(), last = 0;

	while (!interrupted && (!ia->has_for || fl_monotonic_ns() - start < ia->for_ns)) {
		struct timespec ts = { 0, 100 * 1000000 };
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
}

/* VM faults of `inject`: on the cluster's machines, nothing restarted on
 * a node that boots again (the cluster has no system of its own). */
static int inject_machine(void *ctx, size_t i, const struct fl_fault *f, const char *id,
			  int apply, char *err, size_t errlen)
{
	int restarted;

	return fl_cluster_vm_fault(ctx, i, apply ? f : NULL, id, &restarted, err, errlen);
}

/* faultline inject latency --targets n1 --latency 100ms --for 30s:
 * the options become one nemesis item, checked by the scenario parser
 * against the running cluster's nodes, planned, applied, held, healed. */
int cmd_inject(int argc, char **argv)
{
	struct inject_args ia = { .seed = fl_rng_fresh_seed() };
	struct fl_cluster *c = NULL;
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	struct sigaction sa = { .sa_handler = on_interrupt };
	struct fl_exec x;
	char err[512] = "", tb[64];
	uint64_t touched = 0;
	int rc = EXIT_USAGE;

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
	if (inject_parse(argc, argv, &ia) < 0 || need_root("inject") < 0 ||
	    !(c = open_cluster("inject", ia.cluster)) || inject_plan(c, &ia, &s, &p) < 0)
		goto out;
	fl_cluster_connect(c, err, sizeof(err));
	x = (struct fl_exec){ .s = s, .agents = c->agents, .addrs = c->addrs, .iface = c->iface,
			      .timeout_ms = 10000, .ctx = c,
			      .machine = c->prov->machine ? inject_machine : NULL };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (fl_exec_apply(&x, &p->steps[0], "inject", &touched, err, sizeof(err)) < 0) {
		fprintf(stderr, "faultline inject: %s\n", err);
		goto out;
	}
	if (ia.has_for)
		fl_format_duration(ia.for_ns, tb, sizeof(tb));
	printf("%s applied on", argv[1]);
	for (size_t i = 0; i < c->n; i++)
		if (touched & (1ull << i))
			printf(" %s", c->names[i]);
	printf("; holding it %s%s\n", ia.has_for ? "for " : "until Ctrl-C", ia.has_for ? tb : "");
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
	inject_hold(c, touched, &ia);
	if (fl_exec_heal(&x, touched, "inject", err, sizeof(err)) < 0) {
		fprintf(stderr, "faultline inject: healing: %s\n", err);
		goto out;
	}
	printf("%s healed\n", argv[1]);
	rc = EXIT_OK;
out:
	fl_plan_free(p);
	fl_scenario_free(s);
	fl_cluster_free(c);
	free(ia.item);
	return rc;
}

static void usage_doctor(FILE *f)
{
	fprintf(f, "usage: faultline doctor [--json] [--scenario FILE]\n"
		   "\n"
		   "Probes, in a throwaway network namespace, every qdisc, classifier and action\n"
		   "faultline uses, plus namespaces, bridges, libvirt, qemu/KVM and the systems\n"
		   "under test; says what works, what is missing and how to get it.\n"
		   "\n"
		   "  --scenario FILE  for a scenario in libvirt mode attach (a lab): tries every\n"
		   "                   node as a run would (its domain running, its address, its\n"
		   "                   agent answering over the channel, the interface there),\n"
		   "                   changing nothing; other scenarios get the probes above\n"
		   "\n"
		   "exit status: 0 everything required works, 2 something is missing\n");
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "scenario", required_argument, NULL, 's' },
		{ 0 },
	};
	struct fl_scenario *s = NULL;
	const char *file = NULL;
	struct fl_diags d;
	int json = 0, missing = 0, ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			usage_doctor(stdout);
			return EXIT_OK;
		} else if (ch == 'j') {
			json = 1;
		} else if (ch == 's') {
			file = optarg;
		} else {
			usage_doctor(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage_doctor(stderr);
		return EXIT_USAGE;
	}
	if (file) {
		fl_diags_init(&d);
		if (fl_scenario_load(file, NULL, 0, &d, &s) < 0) {
			fl_diags_print(&d, stderr);
			fl_diags_release(&d);
			return EXIT_USAGE;
		}
		fl_diags_release(&d);
	}
	if (s && s->cluster.provider == FL_PROVIDER_LIBVIRT &&
	    s->cluster.libvirt.mode == FL_LIBVIRT_ATTACH) {
		r = fl_doctor_scenario(stdout, json, s, &missing);
	} else {
		if (s && !json)
			printf("scenario %s: faultline makes its nodes (%s), so this host is what "
			       "matters:\n",
			       s->name, fl_provider_to_string(s->cluster.provider));
		r = fl_doctor_run(stdout, json, &missing);
	}
	fl_scenario_free(s);
	if (r < 0) {
		fprintf(stderr, "faultline doctor: %s\n", strerror(-r));
		return EXIT_USAGE;
	}
	return missing ? EXIT_USAGE : EXIT_OK;
}

