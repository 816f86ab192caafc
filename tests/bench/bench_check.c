/* Benchmark of the linearizability checker (make bench-check; not part of
 * make check): Porcupine's etcd and kv corpora from ../shared/data (check
 * time summed per file, median of 5 runs, ratio to Porcupine's reference
 * figures; the whole `faultline check` process: wall time and peak RSS), and
 * a generated 1,000,000-op register history, plus the same with one stale
 * read injected, which must be reported as a violation naming that read. */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/check_cli.h"
#include "faultline/check_input.h"
#include "faultline/linear.h"
#include "faultline/rng.h"

#define RUNS 5
#define PORCUPINE_ETCD_MS 481.0
#define PORCUPINE_KV_MS 162.0

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int data_dir(char *out, size_t len)
{
	const char *env = getenv("FAULTLINE_SHARED_DATA");

	snprintf(out, len, "%s", env && *env ? env : "../shared/data");
	return access(out, R_OK) == 0;
}

/* Check time of every file summed (parsing excluded), median of RUNS. */
static double corpus_check_ms(glob_t *g, int *nviol)
{
	double runs[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double sum = 0;
		*nviol = 0;
		for (size_t i = 0; i < g->gl_pathc; i++) {
			struct fl_lin_history *h;
			struct fl_lin_result *res;
			struct fl_diags d;
			enum fl_check_format fmt;
			enum fl_lin_model m;
			fl_diags_init(&d);
			if (fl_check_load(g->gl_pathv[i], -1, &h, &fmt, &m, &d) < 0) {
				fl_diags_print(&d, stderr);
				exit(2);
			}
			fl_diags_release(&d);
			if (fl_lin_check(h, m, NULL, &res) < 0)
				exit(2);
			sum += res->elapsed_ns / 1e6;
			*nviol += res->verdict == FL_LIN_VIOLATION;
			fl_lin_result_free(res);
			fl_lin_history_free(h);
		}
		runs[r] = sum;
	}
	qsort(runs, RUNS, sizeof(*runs), cmp_d);
	return runs[RUNS / 2];
}

/* The whole `faultline check FILES` process: median wall time, peak RSS. */
static void corpus_process(const char *faultline, glob_t *g, double *ms, long *rss_kb)
{
	double runs[RUNS];

	*rss_kb = 0;
	for (int r = 0; r < RUNS; r++) {
		char **argv = calloc(g->gl_pathc + 3, sizeof(*argv));
		double t0 = now_ms();
		struct rusage ru;
		int st;
		pid_t pid;
		argv[0] = (char *)faultline;
		argv[1] = (char *)"check";
		for (size_t i = 0; i < g->gl_pathc; i++)
			argv[i + 2] = g->gl_pathv[i];
		fflush(stdout);
		if ((pid = fork()) == 0) {
			if (!freopen("/dev/null", "w", stdout))
				_exit(127);
			execv(faultline, argv);
			_exit(127);
		}
		wait4(pid, &st, 0, &ru);
		runs[r] = now_ms() - t0;
		if (ru.ru_maxrss > *rss_kb)
			*rss_kb = ru.ru_maxrss;
		free(argv);
		if (!WIFEXITED(st) || WEXITSTATUS(st) > 1) {
			fprintf(stderr, "bench: %s check failed (status %d)\n", faultline, st);
			exit(2);
		}
	}
	qsort(runs, RUNS, sizeof(*runs), cmp_d);
	*ms = runs[RUNS / 2];
}

static void corpus(const char *faultline, const char *dir, const char *name, const char *pattern,
		   double reference_ms)
{
	char pat[PATH_MAX + 64];
	glob_t g;
	double check_ms, proc_ms;
	long rss;
	int nviol;

	snprintf(pat, sizeof(pat), "%s/porcupine/%s", dir, pattern);
	if (glob(pat, 0, NULL, &g) != 0) {
		printf("%s: no files\n", name);
		return;
	}
	check_ms = corpus_check_ms(&g, &nviol);
	corpus_process(faultline, &g, &proc_ms, &rss);
	printf("%-5s %3zu files, %2d violations: check %7.1f ms (Porcupine %.0f ms: %.1fx faster); "
	       "whole process %.0f ms, peak RSS %.1f MB\n",
	       name, g.gl_pathc, nviol, check_ms, reference_ms, reference_ms / check_ms, proc_ms,
	       rss / 1024.0);
	globfree(&g);
}

/* --- 1,000,000 ops, linearizable by construction ---------------------------- */

struct gop {
	int64_t call, lin, ret;
	int key, client, write;
	uint32_t value;
};

static int cmp_lin(const void *a, const void *b)
{
	const struct gop *x = a, *y = b;

	return x->lin < y->lin ? -1 : x->lin > y->lin;
}

/* Each client runs ops back to back; an op takes effect at a random point
 * of its interval, and reads return the value at that point. */
static struct fl_lin_history *generate(size_t nops, int keys, int clients, int inject,
				       int64_t *stale)
{
	struct gop *ops = calloc(nops, sizeof(*ops));
	int64_t *t = calloc((size_t)clients, sizeof(*t));
	uint32_t *state = calloc((size_t)keys, sizeof(*state));
	struct fl_lin_history *h = fl_lin_history_new();
	struct fl_rng g;
	char buf[32];

	fl_rng_seed(&g, 42);
	for (int k = 0; k < keys; k++) {
		snprintf(buf, sizeof(buf), "k%d", k);
		fl_lin_history_key(h, buf, strlen(buf));
	}
	for (size_t i = 0; i < nops; i++) {
		struct gop *o = &ops[i];
		o->client = (int)fl_rng_below(&g, (uint64_t)clients);
		o->call = t[o->client] + (int64_t)fl_rng_below(&g, 50);
		o->ret = o->call + 1 + (int64_t)fl_rng_below(&g, 200);
		o->lin = o->call + (int64_t)fl_rng_below(&g, (uint64_t)(o->ret - o->call));
		t[o->client] = o->ret + 1;
		o->key = (int)fl_rng_below(&g, (uint64_t)keys);
		o->write = fl_rng_below(&g, 2);
	}
	qsort(ops, nops, sizeof(*ops), cmp_lin);
	for (size_t i = 0; i < nops; i++) {
		struct gop *o = &ops[i];
		if (o->write) {
			snprintf(buf, sizeof(buf), "%zu", i);
			o->value = (uint32_t)fl_lin_history_value(h, buf, strlen(buf));
			state[o->key] = o->value;
		} else {
			o->value = state[o->key];
		}
	}
	*stale = -1;
	if (inject) {
		/* a read in the middle that returns the value of a write W0 when
		 * another write W1 ran entirely between W0 and the read */
		for (size_t i = nops / 2; i < nops && *stale < 0; i++) {
			struct gop *r = &ops[i];
			if (r->write)
				continue;
			int64_t w1 = -1;
			for (size_t j = i; j-- > 0 && i - j < 2000;) {
				struct gop *w = &ops[j];
				if (!w->write || w->key != r->key || w->ret >= r->call)
					continue;
				if (w1 < 0) {
					w1 = (int64_t)j;
				} else if (w->ret < ops[w1].call && w->value != r->value) {
					r->value = w->value;
					*stale = (int64_t)i;
					break;
				}
			}
		}
	}
	for (size_t i = 0; i < nops; i++) {
		struct fl_lin_op op = { .call = ops[i].call, .ret = ops[i].ret, .key = (uint32_t)ops[i].key,
					.kind = ops[i].write ? FL_LIN_WRITE : FL_LIN_READ,
					.process = (uint16_t)ops[i].client, .a = ops[i].value,
					.src = (int64_t)i + 1 };
		fl_lin_history_add(h, &op, NULL, 0);
	}
	free(ops);
	free(t);
	free(state);
	return h;
}

static void big(int inject)
{
	int64_t stale = -1;
	double t0 = now_ms();
	struct fl_lin_history *h = generate(1000000, 10, 50, inject, &stale);
	struct fl_lin_result *r;
	struct rusage ru;
	double gen_ms = now_ms() - t0;

	if (inject && stale < 0) {
		printf("1M: could not inject a stale read\n");
		return;
	}
	if (fl_lin_check(h, FL_LIN_REGISTER, NULL, &r) < 0) {
		printf("1M: check failed\n");
		exit(2);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("1M ops%s: %s in %.0f ms check (generation %.0f ms), peak RSS %.0f MB (whole bench "
	       "process), cache peak %.0f MB\n",
	       inject ? " + stale read" : "", fl_lin_verdict_to_string(r->verdict),
	       r->elapsed_ns / 1e6, gen_ms, ru.ru_maxrss / 1024.0, r->peak_cache_bytes / 1048576.0);
	if (r->verdict == FL_LIN_VIOLATION) {
		for (size_t p = 0; p < r->nparts; p++) {
			char buf[256];
			if (r->parts[p].verdict != FL_LIN_VIOLATION)
				continue;
			fl_lin_describe_op(h, (size_t)r->parts[p].failed_op, buf, sizeof(buf));
			printf("  key '%s': first op not linearizable: op %lld (%s)%s\n",
			       h->keys[r->parts[p].key], (long long)r->parts[p].failed_op, buf,
			       r->parts[p].failed_op == stale ? " = the injected stale read" : "");
			printf("  window of %zu ops%s\n", r->parts[p].nwindow,
			       r->parts[p].window_verified ? " (verified)" : "");
		}
	}
	fl_lin_result_free(r);
	fl_lin_history_free(h);
}

int main(int argc, char **argv)
{
	const char *faultline = argc > 1 ? argv[1] : "build/faultline";
	char dir[PATH_MAX];

	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	if (data_dir(dir, sizeof(dir))) {
		corpus(faultline, dir, "etcd", "jepsen/etcd_*.log", PORCUPINE_ETCD_MS);
		corpus(faultline, dir, "kv", "kv/c*.txt", PORCUPINE_KV_MS);
	} else {
		printf("skipped: ../shared/data not present (corpus figures)\n");
	}
	big(0);
	big(1);
	return 0;
}
