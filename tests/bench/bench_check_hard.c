/* The linearizability checker on hard histories (make bench-check-hard; not
 * part of make check). A seeded generator of Jepsen etcd-style cas-register
 * histories (5-30 clients, 800-5,000 ops, many timed-out writes and cases
 * that may or may not have taken effect), half of them clean (generated from
 * a real linearization: linearizable by construction), half with a planted
 * anomaly that makes them non-linearizable by construction. Each is written
 * as a Jepsen etcd log and checked by whole `faultline check` processes,
 * the build under test beside an older one (the base, e.g. main's): wall
 * time, peak RSS and verdict, the share decided within 1 s, 10 s and 60 s
 * under a 1 GiB limit. A wrong verdict is an error (exit 1), never a figure. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/rng.h"
#include "bench_md.h"

#define NVALS 5              /* Jepsen etcd: (rand-int 5) */
#define VAL_STALE NVALS      /* the planted anomalies' values, outside the domain */
#define VAL_FUTURE (NVALS + 1)
#define TIMEOUT_US 1000000   /* a client gives up after 1 s */

enum { K_READ, K_WRITE, K_CAS };
enum { OUT_OK, OUT_FAIL, OUT_TIMEOUT };

struct hop {
	int64_t call, ret, lin; /* lin < 0: never takes effect */
	int kind, out, proc;
	int a, b, val;          /* write a; cas a -> b; read returns val (-1 nil) */
};

struct hist {
	struct hop *ops;
	size_t n;
	int clients, bad, anomaly; /* anomaly: 0 none, 1 stale read, 2 read from the future */
	double timeout_share;
	size_t planted;            /* the read that cannot be linearized */
};

static int cmp_lin(const void *x, const void *y)
{
	const struct hop *const *p = x, *const *q = y;

	return (*p)->lin < (*q)->lin ? -1 : (*p)->lin > (*q)->lin;
}

/* The first op from index i on that is of kind k, has a definite outcome and
 * is invoked strictly after t; n when none. ops are in call order. */
static size_t first_after(const struct hist *h, size_t i, int k, int64_t t)
{
	for (; i < h->n; i++)
		if (h->ops[i].kind == k && h->ops[i].out != OUT_TIMEOUT && h->ops[i].call > t)
			return i;
	return h->n;
}

/* One history: clients run ops back to back; an op takes effect at a point
 * strictly inside its interval, a timed-out write or cas (after TIMEOUT_US,
 * the client gets a new process number, as in Jepsen) at some point after
 * its call or never. Reads and cas outcomes follow from the order of those
 * points: a real linearization. A planted anomaly changes one read after. */
static int generate(struct hist *h, uint64_t seed, int bad, int anomaly)
{
	struct fl_rng g;
	int64_t *t, *proc;
	struct hop **order;
	size_t n;

	fl_rng_seed(&g, seed);
	memset(h, 0, sizeof(*h));
	h->clients = 5 + (int)fl_rng_below(&g, 26);
	n = 800 + (size_t)fl_rng_below(&g, 4201);
	h->timeout_share = 0.20 + (double)fl_rng_below(&g, 31) / 100.0;
	h->bad = bad;
	h->anomaly = bad ? anomaly : 0;
	h->ops = calloc(n, sizeof(*h->ops));
	t = calloc((size_t)h->clients, sizeof(*t));
	proc = calloc((size_t)h->clients, sizeof(*proc));
	order = calloc(n, sizeof(*order));
	if (!h->ops || !t || !proc || !order)
		return -ENOMEM;
	for (int c = 0; c < h->clients; c++) {
		t[c] = (int64_t)fl_rng_below(&g, 5000);
		proc[c] = c;
	}
	for (size_t i = 0; i < n; i++) {
		struct hop *o = &h->ops[i];
		int c = 0;
		for (int k = 1; k < h->clients; k++) /* the next client free: calls in order */
			if (t[k] < t[c])
				c = k;
		o->kind = (int)fl_rng_below(&g, 3);
		o->a = (int)fl_rng_below(&g, NVALS);
		o->b = (int)fl_rng_below(&g, NVALS);
		o->proc = (int)proc[c];
		o->call = t[c];
		if (fl_rng_below(&g, 1000) < (uint64_t)(h->timeout_share * (o->kind == K_READ ? 500 : 1000))) {
			o->out = OUT_TIMEOUT;
			o->ret = o->call + TIMEOUT_US;
			o->lin = o->kind != K_READ && fl_rng_below(&g, 2) ?
				 o->call + 1 + (int64_t)fl_rng_below(&g, 2 * TIMEOUT_US) : -1;
			if (o->kind != K_READ) /* Jepsen retires the process */
				proc[c] += h->clients;
		} else {
			o->ret = o->call + 1000 + (int64_t)fl_rng_below(&g, 20000);
			o->lin = o->call + 1 + (int64_t)fl_rng_below(&g, (uint64_t)(o->ret - o->call - 1));
		}
		t[c] = o->ret + 1 + (int64_t)fl_rng_below(&g, 5000);
	}
	h->n = n;
	/* anomalies: values outside the domain, written by exactly one op */
	size_t r = n, w1, w2;
	int64_t at = h->ops[n / 2 + (size_t)fl_rng_below(&g, n * 2 / 5)].call;
	if (h->anomaly == 1) {
		/* stale read: write X ok, then (strictly after) another write ok,
		 * then (strictly after) a read returns X */
		w1 = first_after(h, 0, K_WRITE, at);
		w2 = w1 < n ? first_after(h, w1, K_WRITE, h->ops[w1].ret) : n;
		r = w2 < n ? first_after(h, w2, K_READ, h->ops[w2].ret) : n;
		if (r < n)
			h->ops[w1].a = VAL_STALE;
	} else if (h->anomaly == 2) {
		/* read from the future: a read returns Y, written only by a
		 * write invoked after the read returned */
		r = first_after(h, 0, K_READ, at);
		w1 = r < n ? first_after(h, r, K_WRITE, h->ops[r].ret) : n;
		if (w1 < n)
			h->ops[w1].a = VAL_FUTURE;
		else
			r = n;
	}
	if (bad && r == n)
		return -EAGAIN;
	/* the real linearization */
	size_t nl = 0;
	for (size_t i = 0; i < n; i++)
		if (h->ops[i].lin >= 0)
			order[nl++] = &h->ops[i];
	qsort(order, nl, sizeof(*order), cmp_lin);
	int state = -1;
	for (size_t i = 0; i < nl; i++) {
		struct hop *o = order[i];
		if (o->kind == K_READ) {
			o->val = state;
		} else if (o->kind == K_WRITE) {
			state = o->a;
		} else if (state == o->a) {
			state = o->b;
		} else if (o->out != OUT_TIMEOUT) {
			o->out = OUT_FAIL;
		}
	}
	if (bad) {
		h->ops[r].val = h->anomaly == 1 ? VAL_STALE : VAL_FUTURE;
		h->planted = r;
	}
	free(t);
	free(proc);
	free(order);
	return 0;
}

struct ev {
	int64_t t;
	size_t op;
	int done;
};

static int cmp_ev(const void *x, const void *y)
{
	const struct ev *p = x, *q = y;

	if (p->t != q->t)
		return p->t < q->t ? -1 : 1;
	if (p->done != q->done) /* invocations first: equal times overlap */
		return p->done - q->done;
	return p->op < q->op ? -1 : p->op > q->op;
}

static void put_val(FILE *f, int v)
{
	if (v < 0)
		fputs("nil", f);
	else
		fprintf(f, "%d", v);
}

/* The Jepsen etcd log: line order is real time. */
static int write_log(const struct hist *h, const char *path)
{
	static const char *const fn[] = { ":read", ":write", ":cas" };
	struct ev *ev = calloc(2 * h->n, sizeof(*ev));
	FILE *f;

	if (!ev)
		return -ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		ev[2 * i] = (struct ev){ h->ops[i].call, i, 0 };
		ev[2 * i + 1] = (struct ev){ h->ops[i].ret, i, 1 };
	}
	qsort(ev, 2 * h->n, sizeof(*ev), cmp_ev);
	if (!(f = fopen(path, "w"))) {
		free(ev);
		return -errno;
	}
	for (size_t k = 0; k < 2 * h->n; k++) {
		const struct hop *o = &h->ops[ev[k].op];
		const char *type = !ev[k].done ? ":invoke" : o->out == OUT_OK ? ":ok" :
				   o->out == OUT_FAIL || o->kind == K_READ ? ":fail" : ":info";
		fprintf(f, "INFO  jepsen.util - %d\t%s\t%s\t", o->proc, type, fn[o->kind]);
		if (ev[k].done && o->out == OUT_TIMEOUT) {
			fputs(":timed-out", f);
		} else if (o->kind == K_READ) {
			put_val(f, ev[k].done ? o->val : -1);
		} else if (o->kind == K_WRITE) {
			put_val(f, o->a);
		} else {
			fprintf(f, "[%d %d]", o->a, o->b);
		}
		fputc('\n', f);
	}
	free(ev);
	return fclose(f) == 0 ? 0 : -errno;
}

/* --- running the checker ------------------------------------------------------- */

struct run {
	double s;      /* wall seconds */
	long rss_kb;
	int status;    /* exit status: 0 linearizable, 1 violation, 3 unknown; -1 killed */
	char why[64];  /* "memory limit", "time limit", "killed" */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* `faultline check --timeout T --memory 1GiB FILE`, killed at T + 30 s if it
 * does not stop by itself. */
static int run_check(const char *faultline, const char *file, int timeout_s, struct run *out)
{
	char tmo[32], outf[] = "/tmp/bench-hard-XXXXXX";
	int fd = mkstemp(outf), st;
	double t0 = now_s();
	struct rusage ru;
	pid_t pid;

	if (fd < 0)
		return -errno;
	snprintf(tmo, sizeof(tmo), "%ds", timeout_s);
	fflush(stdout);
	if ((pid = fork()) < 0) {
		close(fd);
		unlink(outf);
		return -errno;
	}
	if (pid == 0) {
		dup2(fd, 1);
		alarm((unsigned)timeout_s + 30);
		execl(faultline, faultline, "check", "--timeout", tmo, "--memory", "1GiB", file,
		      (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		close(fd);
		unlink(outf);
		return -errno;
	}
	out->s = now_s() - t0;
	out->rss_kb = ru.ru_maxrss;
	out->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	out->why[0] = 0;
	if (out->status == 3) {
		char buf[4096] = "";
		ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[k > 0 ? k : 0] = 0;
		snprintf(out->why, sizeof(out->why), "%s",
			 strstr(buf, "memory limit") ? "memory limit" :
			 strstr(buf, "time limit") ? "time limit" : "unknown");
	} else if (out->status < 0) {
		snprintf(out->why, sizeof(out->why), "killed");
	}
	close(fd);
	unlink(outf);
	if (out->status == 127 || out->status == 2)
		return -ENOEXEC;
	return 0;
}

/* decided = the right verdict (a wrong one is counted apart) */
static int decided(const struct run *r, int bad)
{
	return r->status == (bad ? 1 : 0) && r->rss_kb <= 1024 * 1024;
}

static const char *verdict_name(const struct run *r)
{
	return r->status == 0 ? "linearizable" : r->status == 1 ? "violation" : r->why;
}

struct side {
	const char *bin;
	struct run *runs;
	int wrong, errors;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void share(const struct side *s, const struct hist *hs, int n, double lim, int *k)
{
	*k = 0;
	for (int i = 0; i < n; i++)
		*k += decided(&s->runs[i], hs[i].bad) && s->runs[i].s <= lim;
}

static double median_decided(const struct side *s, const struct hist *hs, int n)
{
	double v[256];
	int k = 0;

	for (int i = 0; i < n && k < 256; i++)
		if (decided(&s->runs[i], hs[i].bad))
			v[k++] = s->runs[i].s;
	if (!k)
		return -1;
	qsort(v, (size_t)k, sizeof(*v), cmp_d);
	return v[k / 2];
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_check_hard [--count N] [--seed S] [--timeout SEC] [--dir DIR]\n"
		   "                        [--md FILE] [--before FAULTLINE] [FAULTLINE]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "count", required_argument, NULL, 'n' }, { "seed", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' }, { "dir", required_argument, NULL, 'd' },
		{ "md", required_argument, NULL, 'm' }, { "before", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' }, { 0 } };
	const char *dir = "build/bench-hard", *md = "build/bench.md", *after = "build/faultline";
	const char *before = NULL;
	int count = 24, timeout = 60, c, nside;
	uint64_t seed = 15;
	struct side side[2] = { 0 };
	struct hist *hs;
	char (*files)[PATH_MAX];

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (c) {
		case 'n': count = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': timeout = atoi(optarg); break;
		case 'd': dir = optarg; break;
		case 'm': md = optarg; break;
		case 'b': before = *optarg ? optarg : NULL; break;
		case 'h': usage(stdout); return 0;
		default: /* make bench passes one BENCH_ARGS to every benchmark */
			fprintf(stderr, "bench_check_hard: ignoring '%s' (another benchmark's)\n",
				argv[optind - 1]);
		}
	}
	if (optind < argc)
		after = argv[optind];
	if (count < 1 || count > 256 || timeout < 1) {
		usage(stderr);
		return 2;
	}
	if (before && access(before, X_OK) != 0) {
		fprintf(stderr, "bench_check_hard: base build '%s' not found: after only\n", before);
		before = NULL;
	}
	nside = before ? 2 : 1;
	side[0] = (struct side){ after, calloc((size_t)count, sizeof(struct run)) };
	if (before)
		side[1] = (struct side){ before, calloc((size_t)count, sizeof(struct run)) };
	hs = calloc((size_t)count, sizeof(*hs));
	files = calloc((size_t)count, sizeof(*files));
	mkdir(dir, 0755);
	if (!hs || !files || !side[0].runs || (before && !side[1].runs))
		return 2;
	double tgen = now_s();
	for (int i = 0; i < count; i++) {
		uint64_t s = seed * 1000 + (uint64_t)i;
		int r;
		while ((r = generate(&hs[i], s, i & 1, 1 + ((i >> 1) & 1))) == -EAGAIN) {
			free(hs[i].ops);
			s += 1000000;
		}
		if (r < 0)
			return 2;
		snprintf(files[i], PATH_MAX, "%s/hard-%02d-c%d-n%zu-%s.log", dir, i, hs[i].clients,
			 hs[i].n, hs[i].bad ? "bad" : "ok");
		if ((r = write_log(&hs[i], files[i])) < 0) {
			fprintf(stderr, "bench_check_hard: %s: %s\n", files[i], strerror(-r));
			return 2;
		}
	}
	printf("checker on hard histories: %d Jepsen etcd-style cas-register logs in %s (seed %llu, "
	       "generated in %.1f s), limits %d s and 1 GiB per history\n",
	       count, dir, (unsigned long long)seed, now_s() - tgen, timeout);
	printf("%-28s %5s %7s %-10s | %-32s", "history", "ops", "unknown", "label", "after");
	if (before)
		printf(" | %-32s", "before");
	printf("\n");
	for (int i = 0; i < count; i++) {
		size_t nunk = 0;
		for (size_t k = 0; k < hs[i].n; k++)
			nunk += hs[i].ops[k].out == OUT_TIMEOUT && hs[i].ops[k].kind != K_READ;
		printf("%-28s %5zu %6.0f%% %-10s", strrchr(files[i], '/') + 1, hs[i].n,
		       100.0 * (double)nunk / (double)hs[i].n,
		       !hs[i].bad ? "ok" : hs[i].anomaly == 1 ? "stale-read" : "future-read");
		for (int sd = 0; sd < nside; sd++) {
			struct run *r = &side[sd].runs[i];
			if (run_check(side[sd].bin, files[i], timeout, r) < 0) {
				printf(" | %-32s", "ERROR");
				side[sd].errors++;
				r->status = 2;
				continue;
			}
			int wrong = (r->status == 0 && hs[i].bad) || (r->status == 1 && !hs[i].bad);
			side[sd].wrong += wrong;
			char cell[96];
			snprintf(cell, sizeof(cell), "%s%s %.2f s %.0f MB", wrong ? "WRONG " : "",
				 verdict_name(r), r->s, r->rss_kb / 1024.0);
			printf(" | %-32s", cell);
		}
		printf("\n");
		fflush(stdout);
	}

	/* the summary, printed and written to bench.md */
	char *text = NULL;
	size_t tlen = 0;
	FILE *m = open_memstream(&text, &tlen);
	if (!m)
		return 2;
	fprintf(m, "## Linearizability checker: hard histories (`make bench-check-hard`)\n\n"
		   "%d generated Jepsen etcd-style cas-register histories (seed %llu): 5-30 clients, "
		   "800-5,000 ops, 20-50%% of writes and cases timed out (each may or may not have "
		   "taken effect); half linearizable by construction, half with a planted stale read "
		   "or read from the future. Each checked by `faultline check --timeout %ds --memory 1GiB`; "
		   "decided = the right verdict within the time and 1 GiB peak RSS.\n\n",
		   count, (unsigned long long)seed, timeout);
	fprintf(m, "| build | decided within 1 s | 10 s | %d s | median time (decided) | max peak RSS | wrong verdicts |\n"
		   "|---|---|---|---|---|---|---|\n", timeout);
	for (int sd = 0; sd < nside; sd++) {
		int k1, k10, k60;
		long maxrss = 0;
		share(&side[sd], hs, count, 1, &k1);
		share(&side[sd], hs, count, 10, &k10);
		share(&side[sd], hs, count, timeout, &k60);
		for (int i = 0; i < count; i++)
			if (side[sd].runs[i].rss_kb > maxrss)
				maxrss = side[sd].runs[i].rss_kb;
		double med = median_decided(&side[sd], hs, count);
		char medbuf[32];
		if (med < 0)
			snprintf(medbuf, sizeof(medbuf), "-");
		else
			snprintf(medbuf, sizeof(medbuf), "%.2f s", med);
		fprintf(m, "| %s (`%s`) | %d/%d (%.0f%%) | %d/%d (%.0f%%) | %d/%d (%.0f%%) | %s | %.0f MB | %d |\n",
			sd ? "before" : "after", side[sd].bin, k1, count, 100.0 * k1 / count, k10, count,
			100.0 * k10 / count, k60, count, 100.0 * k60 / count, medbuf, maxrss / 1024.0,
			side[sd].wrong);
	}
	fclose(m);
	printf("\n%s", text);
	int r = bench_md_section(md, "check-hard", text);
	if (r < 0)
		fprintf(stderr, "bench_check_hard: %s: %s\n", md, strerror(-r));
	else
		printf("(written to %s)\n", md);
	free(text);
	int bad = side[0].wrong || side[1].wrong || side[0].errors || side[1].errors;
	for (int i = 0; i < count; i++)
		free(hs[i].ops);
	free(hs);
	free(files);
	free(side[0].runs);
	free(side[1].runs);
	return bad ? 1 : 0;
}
