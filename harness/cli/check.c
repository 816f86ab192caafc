/* faultline check: reads each history, checks it, prints one verdict line
 * per file and the details of violations. Never exits (main() does). */
#include "faultline/check_cli.h"

#include <jansson.h>
#include <sys/stat.h>

#include "faultline/report.h"
#include "faultline/verdict.h"
#include "faultline/scenario.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/check_input.h"
#include "faultline/units.h"

enum { CHECK_OK = 0, CHECK_VIOLATION = 1, CHECK_USAGE = 2, CHECK_UNKNOWN = 3 };

static void usage_check(FILE *f)
{
	fprintf(f,
		"usage: faultline check [--model M] [--format F] [--timeout T] [--threads N]\n"
		"                       [--memory SIZE] [--all-keys] FILE...\n"
		"\n"
		"Decides whether each history is linearizable. The format and the model are\n"
		"detected from the content unless given.\n"
		"\n"
		"  --model M     register, cas-register, kv or set\n"
		"  --format F    faultline (history.jsonl), etcd (Jepsen etcd log) or edn (kv ops)\n"
		"  --timeout T   give up after T per file (\"10s\", \"2m\"): unknown: time limit\n"
		"  --threads N   keys checked in parallel (default: online CPUs)\n"
		"  --memory SIZE search memory per file (default 1GiB): unknown: memory limit\n"
		"  --all-keys    after a key is found not linearizable, check the other keys\n"
		"                too (default: stop them)\n"
		"\n"
		"exit status: 0 all linearizable, 1 a violation, 2 unreadable input or usage,\n"
		"3 unknown (a limit was hit)\n");
}

static void value_text(const struct fl_lin_history *h, uint32_t id, char *buf, size_t len)
{
	const char *v = id < h->nvals ? h->vals[id] : NULL;

	snprintf(buf, len, v ? "'%s'" : "nil", v);
}

void fl_lin_describe_op(const struct fl_lin_history *h, size_t i, char *buf, size_t len)
{
	const struct fl_lin_op *op = &h->ops[i];
	char a[96], b[96], what[256];

	value_text(h, op->a, a, sizeof(a));
	value_text(h, op->b, b, sizeof(b));
	switch (op->kind) {
	case FL_LIN_READ:
		snprintf(what, sizeof(what), "read -> %s", a);
		break;
	case FL_LIN_WRITE:
		snprintf(what, sizeof(what), "write %s", a);
		break;
	case FL_LIN_CAS:
		snprintf(what, sizeof(what), "cas %s -> %s%s", a, b,
			 op->flags & FL_LIN_CAS_FAILED ? " (compare failed)" : "");
		break;
	case FL_LIN_APPEND:
		snprintf(what, sizeof(what), "append %s", a);
		break;
	case FL_LIN_ADD:
		snprintf(what, sizeof(what), "add %s", a);
		break;
	default: {
		size_t at = 0;
		at += (size_t)snprintf(what, sizeof(what), "read_all -> {");
		for (uint32_t k = 0; k < op->b && at < sizeof(what) - 16; k++) {
			value_text(h, h->elems[op->a + k], a, sizeof(a));
			at += (size_t)snprintf(what + at, sizeof(what) - at, "%s%s", k ? ", " : "", a);
		}
		snprintf(what + at, sizeof(what) - at, "}");
	}
	}
	snprintf(buf, len, "line %" PRId64 ", process %u: %s%s", op->src, op->process, what,
		 op->ret == FL_LIN_INF ? " (outcome unknown)" : "");
}

void fl_lin_print_details(FILE *out, const struct fl_lin_history *h,
			  const struct fl_lin_result *r)
{
	char buf[512];
	size_t stopped = 0;

	for (size_t p = 0; p < r->nparts; p++)
		stopped += r->parts[p].verdict == FL_LIN_UNKNOWN;
	if (stopped && r->verdict == FL_LIN_VIOLATION)
		fprintf(out, "  (%zu other key%s not decided: stopped at the first violation or a limit)\n",
			stopped, stopped == 1 ? "" : "s");
	for (size_t p = 0; p < r->nparts; p++) {
		const struct fl_lin_part *pt = &r->parts[p];
		const char *key = h->keys[pt->key];
		if (pt->verdict != FL_LIN_VIOLATION)
			continue;
		fl_lin_describe_op(h, (size_t)pt->failed_op, buf, sizeof(buf));
		fprintf(out, "  key '%s': not linearizable (%zu ops)\n", key, pt->nops);
		fprintf(out, "    longest linearizable prefix: %zu of the key's ops (by invocation)\n",
			pt->prefix);
		fprintf(out, "    first op that could not be linearized: %s\n", buf);
		if (pt->window_verified)
			fprintf(out, "    smallest window found: these %zu ops cannot be linearized by "
				     "themselves, whatever the state before them:\n", pt->nwindow);
		else
			fprintf(out, "    window (no smaller contradiction found within the effort "
				     "bound): the key's first %zu ops\n", pt->nwindow);
		for (size_t k = 0; k < pt->nwindow && k < 40; k++) {
			fl_lin_describe_op(h, pt->window[k], buf, sizeof(buf));
			fprintf(out, "      %s%s\n", buf,
				(int64_t)pt->window[k] == pt->failed_op ? "   <- first failure" : "");
		}
		if (pt->nwindow > 40)
			fprintf(out, "      ... %zu more\n", pt->nwindow - 40);
	}
}

/* A run directory: judge it again with every check its scenario enables
 * (the scenario as it ran: scenario.yaml and the --set overrides from
 * run.json). Returns fl_cli_verdict's status. */
static int check_run_dir(const char *dir)
{
	json_t *meta = NULL;
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	int rc;

	fl_diags_init(&d);
	rc = fl_run_scenario_load(dir, &d, &s, &meta);
	if (rc < 0) {
		if (d.n)
			fl_diags_print(&d, stderr);
		else
			fprintf(stderr, "%s: not a history file, nor a run directory (no readable "
					"run.json)\n", dir);
		fl_diags_release(&d);
		return CHECK_USAGE;
	}
	fl_diags_release(&d);
	printf("%s: run of %s, seed %" JSON_INTEGER_FORMAT ": judged again, results.json and "
	       "the reports rewritten\n", dir, s->name,
	       json_integer_value(json_object_get(meta, "seed")));
	rc = fl_cli_verdict(dir, s, 1, stdout);
	fl_scenario_free(s);
	json_decref(meta);
	return rc;
}

/* One history file: load it, check it, print its verdict. Its status. */
static int check_file(const char *path, int format, int model, const struct fl_lin_limits *lim)
{
	struct fl_lin_history *h = NULL;
	struct fl_lin_result *res = NULL;
	struct fl_diags d;
	enum fl_check_format fmt;
	enum fl_lin_model m;
	int64_t bad_op;
	int r, rc = CHECK_OK;

	fl_diags_init(&d);
	r = fl_check_load(path, format, &h, &fmt, &m, &d);
	if (r < 0) {
		if (d.n)
			fl_diags_print(&d, stderr);
		else
			fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-r));
		fl_diags_release(&d);
		return CHECK_USAGE;
	}
	fl_diags_release(&d);
	if (model >= 0)
		m = (enum fl_lin_model)model;
	if ((bad_op = fl_lin_history_invalid_for(h, m)) >= 0) {
		fprintf(stderr, "%s:%" PRId64 ": a %s is not an operation of model '%s'\n", path,
			h->ops[bad_op].src, fl_lin_kind_to_string(h->ops[bad_op].kind),
			fl_lin_model_to_string(m));
		fl_lin_history_free(h);
		return CHECK_USAGE;
	}
	if ((r = fl_lin_check(h, m, lim, &res)) < 0) {
		fprintf(stderr, "%s: check failed: %s\n", path, strerror(-r));
		fl_lin_history_free(h);
		return CHECK_USAGE;
	}
	if (res->verdict == FL_LIN_UNKNOWN) {
		printf("%s: unknown: %s (%zu ops, %" PRId64 " ms)\n", path,
		       fl_lin_limit_to_string(res->limit), h->n, res->elapsed_ns / 1000000);
		rc = CHECK_UNKNOWN;
	} else if (!h->n) {
		/* an empty history contradicts nothing: no evidence, no pass */
		printf("%s: unknown: no operations\n", path);
		rc = CHECK_UNKNOWN;
	} else {
		printf("%s: %s (%zu ops, %" PRId64 " ms)\n", path,
		       fl_lin_verdict_to_string(res->verdict), h->n, res->elapsed_ns / 1000000);
	}
	if (h->torn)
		printf("  line %" PRId64 ": torn (its writer stopped mid-line, e.g. killed): not "
		       "read\n", h->torn);
	if (res->verdict == FL_LIN_VIOLATION) {
		fl_lin_print_details(stdout, h, res);
		rc = CHECK_VIOLATION;
	}
	fl_lin_result_free(res);
	fl_lin_history_free(h);
	return rc;
}

/* The options; 0, or the exit status to return now (-1: go on). */
static int check_options(int argc, char **argv, int *model, int *format,
			 struct fl_lin_limits *lim)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "model", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'j' },
		{ "memory", required_argument, NULL, 'M' },
		{ "all-keys", no_argument, NULL, 'a' },
		{ 0 },
	};
	const char *why;
	int64_t v;
	uint64_t bytes;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hm:f:t:j:M:a", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage_check(stdout);
			return CHECK_OK;
		case 'm':
			if ((*model = fl_lin_model_from_string(optarg)) < 0) {
				fprintf(stderr, "faultline check: unknown model '%s' (register, "
						"cas-register, kv, set)\n", optarg);
				return CHECK_USAGE;
			}
			break;
		case 'f':
			if ((*format = fl_check_format_from_string(optarg)) < 0) {
				fprintf(stderr, "faultline check: unknown format '%s' (faultline, etcd, "
						"edn)\n", optarg);
				return CHECK_USAGE;
			}
			break;
		case 't':
			if (fl_parse_duration(optarg, 0, &lim->timeout_ns, &why) < 0) {
				fprintf(stderr, "faultline check: --timeout '%s': %s\n", optarg, why);
				return CHECK_USAGE;
			}
			break;
		case 'j':
			if (fl_parse_int(optarg, 1, 1024, &v, &why) < 0) {
				fprintf(stderr, "faultline check: --threads '%s': %s\n", optarg, why);
				return CHECK_USAGE;
			}
			lim->threads = (int)v;
			break;
		case 'a':
			lim->all_keys = 1;
			break;
		case 'M':
			if (fl_parse_size(optarg, &bytes, &why) < 0) {
				fprintf(stderr, "faultline check: --memory '%s': %s\n", optarg, why);
				return CHECK_USAGE;
			}
			lim->memory_bytes = (size_t)bytes;
			break;
		default:
			usage_check(stderr);
			return CHECK_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "faultline check: no history file given\n");
		usage_check(stderr);
		return CHECK_USAGE;
	}
	return -1;
}

int fl_cmd_check(int argc, char **argv)
{
	struct fl_lin_limits lim = { 0 };
	int model = -1, format = -1, rc;
	int any_bad = 0, any_viol = 0, any_unknown = 0;

	/* The search's tables are freed and allocated again for every key and
	 * file: keep freed memory in the heap instead of returning it to the
	 * kernel, whose page faults cost more than the search on small keys. */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	if ((rc = check_options(argc, argv, &model, &format, &lim)) >= 0)
		return rc;
	for (int i = optind; i < argc; i++) {
		struct stat st;
		int r = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)
				? check_run_dir(argv[i])
				: check_file(argv[i], format, model, &lim);
		any_viol |= r == CHECK_VIOLATION;
		any_bad |= r == CHECK_USAGE;
		any_unknown |= r == CHECK_UNKNOWN;
	}
	fflush(stdout);
	/* a violation is a finding whatever else happened */
	if (any_viol)
		return CHECK_VIOLATION;
	if (any_bad)
		return CHECK_USAGE;
	return any_unknown ? CHECK_UNKNOWN : CHECK_OK;
}
