/*
 * tests/bench/bench_nats_read.c: what a final read of a set costs on NATS,
 * per element: one direct get per element (next_by_subj, one round trip
 * each: how the adapter read before) against the adapter's read_set from
 * a fresh client (one scan of the stream with many direct gets in flight,
 * reused for the other sets while the stream is unchanged). One nats-server on
 * a loopback address, started as faultline starts a node.
 * A benchmark, not a test: never part of `make check`. It leaves nothing
 * behind: the server is stopped by PID and reaped, the temp dir removed.
 * Environment: FL_BENCH_NATS_MESSAGES (default 1500), FL_BENCH_REPEAT (3),
 * FL_BENCH_KEYS (3, the sets the messages are spread over).
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"

#define OP_MS 10000
#define MAX_REPEAT 20

static const struct fl_system_ops *ops = &fl_nats_ops;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long x;

	if (!v || !*v)
		return def;
	x = strtol(v, &end, 10);
	if (*end || x < lo || x > hi) {
		fprintf(stderr, "bench_nats_read: %s='%s' is not a number in %ld..%ld\n", name, v,
			lo, hi);
		exit(2);
	}
	return x;
}

/* The old way: the next element on subj at or after seq, one get at a time. */
static int one_by_one(jsCtx *js, const char *subj, size_t *count)
{
	uint64_t seq = 1;

	*count = 0;
	for (;;) {
		jsDirectGetMsgOptions o;
		natsMsg *m = NULL;
		const char *v = NULL;
		natsStatus s;

		jsDirectGetMsgOptions_Init(&o);
		o.Sequence = seq;
		o.NextBySubject = subj;
		s = js_DirectGetMsg(&m, js, FL_NATS_STREAM, NULL, &o);
		if (s == NATS_NOT_FOUND)
			return 0;
		if (s != NATS_OK)
			return -EIO;
		if (natsMsgHeader_Get(m, "Nats-Sequence", &v) != NATS_OK || !v) {
			natsMsg_Destroy(m);
			return -EPROTO;
		}
		seq = strtoull(v, NULL, 10) + 1;
		natsMsg_Destroy(m);
		(*count)++;
	}
}

int main(int argc, char **argv)
{
	long nmsg = env_long("FL_BENCH_NATS_MESSAGES", 1500, 1, 1000000);
	int repeat = (int)env_long("FL_BENCH_REPEAT", 3, 1, MAX_REPEAT);
	int keys = (int)env_long("FL_BENCH_KEYS", 3, 1, 100);
	static const char *const name1[] = { "n1" };
	uint32_t addr = (127u << 24) | (78u << 16) | ((unsigned)getpid() % 250 + 1) << 8 | 1;
	struct fl_sys_nodes nodes = { .n = 1, .names = name1, .addrs = &addr };
	struct fl_sys_client *c = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	double old_t[MAX_REPEAT], new_t[MAX_REPEAT];
	char tmp[] = "/var/tmp/fl-bench-nats-XXXXXX", log[96], err[256] = "", leader[32], url[64];
	char **argvv = NULL;
	enum fl_outcome o;
	pid_t pid = -1;
	int rc = 1;

	(void)argv;
	if (argc > 1)
		fprintf(stderr, "bench_nats_read: takes no arguments (environment: "
			"FL_BENCH_NATS_MESSAGES, FL_BENCH_REPEAT, FL_BENCH_KEYS); ignoring them\n");
	if (system("command -v nats-server >/dev/null 2>&1 || test -x /usr/sbin/nats-server")) {
		printf("bench_nats_read: skipped: nats-server is not installed\n");
		return 0;
	}
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	nodes.data_root = tmp;
	if (ops->node_argv(NULL, &nodes, 0, &argvv, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_nats_read: %s\n", err);
		goto out;
	}
	snprintf(log, sizeof(log), "%s/n1.log", tmp);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
			_exit(126);
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
		execvp(argvv[0], argvv);
		_exit(127);
	}
	fl_strv_free(argvv);
	if (pid < 0 || ops->wait_ready(&nodes, 30 * FL_NS_PER_S, leader, sizeof(leader), err,
				       sizeof(err)) < 0) {
		fprintf(stderr, "bench_nats_read: server not ready: %s\n", err);
		goto out;
	}
	ops->client_open(&nodes, 0, &c, err, sizeof(err));
	for (long k = 0; k < nmsg; k++) {
		char e[24], key[16];

		snprintf(e, sizeof(e), "e%ld", k);
		snprintf(key, sizeof(key), "s%ld", k % keys);
		if (ops->add(c, key, e, OP_MS, &o, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_nats_read: publish %ld: %s\n", k, err);
			goto out;
		}
	}
	snprintf(url, sizeof(url), "nats://127.78.%u.1:%d", (addr >> 8) & 0xff, FL_NATS_PORT);
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		fprintf(stderr, "bench_nats_read: connect %s failed\n", url);
		goto out;
	}
	printf("NATS final read of %d sets over a stream of %ld messages (nats-server on loopback, "
	       "median of %d)\n", keys, nmsg, repeat);
	for (int r = 0; r < repeat; r++) {
		double t0 = now_s();
		size_t got = 0, n;

		for (int k = 0; k < keys; k++) {
			char subj[24];

			snprintf(subj, sizeof(subj), "fl.s%d", k);
			if (one_by_one(js, subj, &n) < 0) {
				fprintf(stderr, "bench_nats_read: direct get failed\n");
				goto out;
			}
			got += n;
		}
		old_t[r] = now_s() - t0;
		if ((long)got != nmsg) {
			fprintf(stderr, "bench_nats_read: one by one read %zu of %ld\n", got, nmsg);
			goto out;
		}
		/* a fresh client, as the final reads open one per node: its
		 * first set costs a scan of the stream, the others two gets */
		ops->client_close(c);
		c = NULL;
		t0 = now_s();
		got = 0;
		if (ops->client_open(&nodes, 0, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_nats_read: %s\n", err);
			goto out;
		}
		for (int k = 0; k < keys; k++) {
			char key[16], **v = NULL;

			snprintf(key, sizeof(key), "s%d", k);
			if (ops->read_set(c, key, 1, OP_MS, &v, &o, err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_nats_read: read_set: %s\n", err);
				goto out;
			}
			got += fl_strv_len(v);
			fl_strv_free(v);
		}
		new_t[r] = now_s() - t0;
		if ((long)got != nmsg) {
			fprintf(stderr, "bench_nats_read: read_set read %zu of %ld\n", got, nmsg);
			goto out;
		}
	}
	{
		double a = median(old_t, repeat), b = median(new_t, repeat);

		printf("  %-40s %9.3f s  %8.1f us/element\n", "one direct get per element", a,
		       a * 1e6 / (double)nmsg);
		printf("  %-40s %9.3f s  %8.1f us/element\n", "read_set (one scan, gets in flight)", b,
		       b * 1e6 / (double)nmsg);
		printf("  ratio one-by-one / read_set: %.1fx\n", b > 0 ? a / b : 0.0);
	}
	rc = 0;
out:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	ops->client_close(c);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
