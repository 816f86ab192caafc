/*
 * tests/bench/bench_workload.c: what the register workload sustains against a
 * healthy 3-node etcd on loopback (ops/s, p50/p99 at 1, 10 and 50 clients),
 * beside etcd's own gRPC load tools run on the same cluster, and what
 * recording one operation in the history costs.
 * A benchmark, not a test: never part of `make check`. It must leave nothing
 * behind: etcd and etcdctl are stopped by PID and reaped, the temp dir removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/history.h"
#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"
#include "faultline/workload.h"

#define NNODES 3
#define MAX_CLIENT_COUNTS 8
#define MAX_REPEAT 20
#define ETCDCTL_CLIENTS 50        /* check perf and datascale, load "s" (etcd 3.4 check.go) */
#define PERF_S_LIMIT 150          /* check perf --load=s: puts/s rate limit */
#define PERF_S_SECONDS 60         /* check perf: fixed duration, no flag for it */
#define DATASCALE_S_PUTS 10000    /* check datascale --load=s: puts, no rate limit */

enum phase { PH_REGISTER, PH_WRITES, PH__N };

static const char *const phase_title[PH__N] = {
	"register workload, as faultline runs it (1/3 read, 1/3 write, 1/3 cas)",
	"write-only workload (puts only, as etcdctl's loads)",
};

static const char *const names[NNODES] = { "n1", "n2", "n3" };

static volatile sig_atomic_t stop;

static struct {
	double seconds;
	unsigned repeat;
	unsigned clients[MAX_CLIENT_COUNTS];
	size_t nclients;
	unsigned keys;                /* 0: the scenario default */
	long record_ops;
	unsigned record_rounds;
	int no_etcdctl;
	int keep;
} opt = { .seconds = 5, .repeat = 3, .clients = { 1, 10, 50 }, .nclients = 3,
	  .record_ops = 200000, .record_rounds = 5 };

/* One workload run, read back from its history. */
struct run {
	double ok_per_s, done_per_s;
	double p50_ms, p99_ms;               /* of ok operations */
	double f_p50[FL_F__N], f_p99[FL_F__N]; /* per op type; NAN when none */
	uint64_t f_ok[FL_F__N];
	uint64_t ok, fail, info;
	size_t bad_lines;
};

static struct run results[PH__N][MAX_CLIENT_COUNTS][MAX_REPEAT];

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (q in (0, 1]); NAN for no values. */
static double pct_ms(const int64_t *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return NAN;
	k = (size_t)ceil(q * (double)n);
	k = k ? k - 1 : 0;
	return (double)v[k < n ? k : n - 1] / FL_NS_PER_MS;
}

/* Median of the non-NAN values (v is reordered); NAN when there are none. */
static double median(double *v, size_t n)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[m++] = v[i];
	if (!m)
		return NAN;
	qsort(v, m, sizeof(*v), cmp_double);
	return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

/* --- processes ------------------------------------------------------------------------ */

/* Start argv with stdout and stderr into log. The child dies with us (a
 * SIGKILLed benchmark must not leave an etcd listening). */
static int spawn(char *const argv[], const char *log, pid_t *pid)
{
	pid_t parent = getpid(), p;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || null < 0) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		if (null >= 0)
			close(null);
		return r;
	}
	p = fork();
	if (p < 0) {
		int r = -errno;
		close(fd);
		close(null);
		return r;
	}
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		dprintf(2, "exec '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	close(null);
	*pid = p;
	return 0;
}

/* SIGTERM, then SIGKILL after grace_ns; always reaped. */
static void stop_pid(pid_t pid, int64_t grace_ns)
{
	int64_t end = now_ns() + grace_ns;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
		usleep(20000);
	}
}

/* Wait for pid at most timeout_ns (or until Ctrl-C): its wait status in
 * *status. On time-out or interruption it is stopped and reaped. */
static int wait_pid(pid_t pid, int64_t timeout_ns, int *status)
{
	int64_t end = now_ns() + timeout_ns;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (stop || now_ns() > end) {
			stop_pid(pid, 3 * FL_NS_PER_S);
			return stop ? -EINTR : -ETIMEDOUT;
		}
		usleep(20000);
	}
}

/* Run argv to completion with its output in log; *wall_ns: how long it took. */
static int run_capture(char *const argv[], const char *log, int64_t timeout_ns, int *status,
		       int64_t *wall_ns)
{
	int64_t t0 = now_ns();
	pid_t pid;
	int r;

	if ((r = spawn(argv, log, &pid)) < 0)
		return r;
	r = wait_pid(pid, timeout_ns, status);
	*wall_ns = now_ns() - t0;
	return r;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	{
		FILE *m = open_memstream(&buf, &len);
		char chunk[4096];
		size_t n;

		if (!m) {
			fclose(f);
			return NULL;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(m);
	}
	fclose(f);
	/* progress bars redraw with \r: make every redraw its own line */
	for (char *p = buf; p && *p; p++)
		if (*p == '\r')
			*p = '\n';
	return buf;
}

static int find_in_path(const char *prog, char *out, size_t len)
{
	const char *p = getenv("PATH");
	char *dirs = strdup(p && *p ? p : "/usr/bin:/bin"), *save = NULL;
	int found = 0;

	if (!dirs)
		return 0;
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, prog);
		found = access(out, X_OK) == 0;
	}
	free(dirs);
	return found;
}

/* The first line of `prog --version`-like output that mentions "version". */
static void version_of(char *const argv[], const char *log, char *out, size_t len)
{
	int64_t wall;
	int st;
	char *text, *line, *save = NULL;

	snprintf(out, len, "version unknown");
	if (run_capture(argv, log, 10 * FL_NS_PER_S, &st, &wall) < 0 || !(text = slurp(log)))
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "ersion")) {
			snprintf(out, len, "%s", line);
			break;
		}
	free(text);
}

/* --- the cluster ------------------------------------------------------------------------ */

static struct {
	char tmp[64];                /* mkdtemp: /var/tmp/fl-bench-XXXXXX */
	char data[96];
	uint32_t addrs[NNODES];
	pid_t pids[NNODES];
	struct fl_sys_nodes nodes;
	struct fl_scenario *s;
	char endpoints[256];         /* for etcdctl: http://IP:2379,... */
} g;

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static int port_free(uint32_t addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(addr) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Three loopback addresses whose etcd ports nobody holds (another benchmark
 * or test may be running on this machine). */
static int pick_addrs(void)
{
	for (uint32_t base = 101; base + NNODES <= 251; base += NNODES) {
		int ok = 1;

		for (uint32_t k = 0; k < NNODES && ok; k++) {
			uint32_t a = (127u << 24) | (base + k);
			ok = port_free(a, FL_ETCD_CLIENT_PORT) && port_free(a, FL_ETCD_PEER_PORT);
		}
		if (ok) {
			for (uint32_t k = 0; k < NNODES; k++)
				g.addrs[k] = (127u << 24) | (base + k);
			return 0;
		}
	}
	return -EADDRINUSE;
}

static const char scenario_yaml[] =
	"name: bench\n"
	"duration: 1m\n"
	"cluster: {nodes: 3}\n"
	"system: {type: etcd}\n"
	"workload: {type: register, clients: 1, rate: unlimited}\n";

static int cluster_up(char *leader, size_t leaderlen, char *err, size_t errlen)
{
	const struct fl_system_ops *ops = &fl_etcd_ops;
	int r;

	if ((r = pick_addrs()) < 0) {
		snprintf(err, errlen, "no three free loopback addresses in 127.0.0.101-250");
		return r;
	}
	g.nodes = (struct fl_sys_nodes){ .n = NNODES, .names = names, .addrs = g.addrs,
					 .data_root = g.data, .token = "fl-bench", .pids = g.pids,
					 .s = g.s };
	for (size_t i = 0; i < NNODES; i++) {
		char **argv = NULL, log[128], e[256];

		if ((r = ops->node_argv(g.s, &g.nodes, i, &argv, e, sizeof(e))) < 0) {
			snprintf(err, errlen, "argv of %s: %s", names[i], e);
			return r;
		}
		snprintf(log, sizeof(log), "%s/%s.log", g.tmp, names[i]);
		r = spawn(argv, log, &g.pids[i]);
		fl_strv_free(argv);
		if (r < 0) {
			snprintf(err, errlen, "start etcd %s: %s", names[i], strerror(-r));
			return r;
		}
	}
	return ops->wait_ready(&g.nodes, g.s->system.ready_timeout_ns, leader, leaderlen, err,
			       errlen);
}

static void cluster_down(void)
{
	for (size_t i = 0; i < NNODES; i++)
		if (g.pids[i] > 0)
			kill(g.pids[i], SIGTERM);
	for (size_t i = 0; i < NNODES; i++) {
		stop_pid(g.pids[i], 5 * FL_NS_PER_S);
		g.pids[i] = 0;
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* --- workload runs ------------------------------------------------------------------------ */

static int analyse(const char *path, int64_t wall_ns, struct run *out, char *err, size_t errlen)
{
	struct fl_ops ops;
	int64_t *all = NULL, *by[FL_F__N] = { 0 };
	size_t nall = 0, nby[FL_F__N] = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = fl_history_load(path, &ops, err, errlen)) < 0)
		return r;
	all = calloc(ops.n + 1, sizeof(*all));
	for (int f = 0; f < FL_F__N; f++)
		by[f] = calloc(ops.n + 1, sizeof(*by[f]));
	for (int f = 0; f < FL_F__N && all; f++)
		if (!by[f]) {
			free(all);
			all = NULL;
		}
	if (!all) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ops.n; i++) {
		const struct fl_op *op = &ops.v[i];

		if (op->complete_ns < 0) {
			out->info++; /* never completed: unknown */
			continue;
		}
		if (op->outcome == FL_OUTCOME_FAIL)
			out->fail++;
		else if (op->outcome == FL_OUTCOME_INFO)
			out->info++;
		if (op->outcome != FL_OUTCOME_OK)
			continue;
		out->ok++;
		all[nall++] = op->complete_ns - op->invoke_ns;
		if ((unsigned)op->f < FL_F__N)
			by[op->f][nby[op->f]++] = op->complete_ns - op->invoke_ns;
	}
	qsort(all, nall, sizeof(*all), cmp_i64);
	out->p50_ms = pct_ms(all, nall, 0.50);
	out->p99_ms = pct_ms(all, nall, 0.99);
	for (int f = 0; f < FL_F__N; f++) {
		qsort(by[f], nby[f], sizeof(*by[f]), cmp_i64);
		out->f_p50[f] = pct_ms(by[f], nby[f], 0.50);
		out->f_p99[f] = pct_ms(by[f], nby[f], 0.99);
		out->f_ok[f] = nby[f];
	}
	out->ok_per_s = (double)out->ok * FL_NS_PER_S / (double)wall_ns;
	out->done_per_s = (double)(out->ok + out->fail) * FL_NS_PER_S / (double)wall_ns;
	out->bad_lines = ops.bad_lines;
out:
	free(all);
	for (int f = 0; f < FL_F__N; f++)
		free(by[f]);
	fl_ops_release(&ops);
	return r;
}

static int run_workload(enum phase ph, unsigned clients, unsigned round, struct run *out,
			char *err, size_t errlen)
{
	struct fl_history *h = NULL;
	struct fl_workload_stats *st = calloc(1, sizeof(*st));
	char path[160], e[256] = "";
	int64_t t0, wall;
	int r;

	if (!st)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/history-%s-%u-%u.jsonl", g.tmp,
		 ph == PH_REGISTER ? "register" : "writes", clients, round);
	g.s->workload.clients = clients;
	if ((r = fl_history_open(path, 0, &h)) < 0) {
		snprintf(err, errlen, "history '%s': %s", path, strerror(-r));
		free(st);
		return r;
	}
	{
		struct fl_workload w = { .s = g.s, .ops = &fl_etcd_ops, .nodes = &g.nodes,
					 .history = h, .seed = 0x5eed0000u + round,
					 .duration_ns = (int64_t)(opt.seconds * FL_NS_PER_S),
					 .stop = &stop, .writes_only = ph == PH_WRITES };

		t0 = now_ns();
		r = fl_workload_run(&w, st, e, sizeof(e));
		wall = now_ns() - t0;
	}
	fl_history_close(h);
	fl_workload_stats_release(st);
	free(st);
	if (r < 0) {
		snprintf(err, errlen, "workload: %s", e);
		return r;
	}
	return analyse(path, wall, out, err, errlen);
}

/* --- recording overhead -------------------------------------------------------------------- */

/* ns per operation of fl_history_invoke + fl_history_complete, one thread,
 * the workload's op mix and value shapes, into a file beside the histories. */
static int record_cost(double *ns_per_op, double *spread_lo, double *spread_hi, char *err,
		       size_t errlen)
{
	double v[MAX_REPEAT];
	unsigned rounds = opt.record_rounds;

	for (unsigned k = 0; k < rounds; k++) {
		struct fl_history *h;
		char path[128];
		int64_t t0, t;
		int r;

		snprintf(path, sizeof(path), "%s/record-%u.jsonl", g.tmp, k);
		if ((r = fl_history_open(path, 0, &h)) < 0) {
			snprintf(err, errlen, "history '%s': %s", path, strerror(-r));
			return r;
		}
		t0 = now_ns();
		for (long n = 0; n < opt.record_ops && !stop; n++) {
			char key[16], val[32], expect[32];
			int64_t i;

			snprintf(key, sizeof(key), "k%ld", n % 5);
			snprintf(val, sizeof(val), "%ld-%ld", n % 50, n);
			switch (n % 3) {
			case 0:
				i = fl_history_invoke(h, (int)(n % 50), "n1", FL_F_READ, key, NULL, NULL);
				r = fl_history_complete(h, i, FL_OUTCOME_OK, val, NULL);
				break;
			case 1:
				i = fl_history_invoke(h, (int)(n % 50), "n2", FL_F_WRITE, key, val, NULL);
				r = fl_history_complete(h, i, FL_OUTCOME_OK, NULL, NULL);
				break;
			default:
				snprintf(expect, sizeof(expect), "%ld-%ld", n % 50, n - 2);
				i = fl_history_invoke(h, (int)(n % 50), "n3", FL_F_CAS, key, val, expect);
				r = fl_history_complete(h, i, FL_OUTCOME_FAIL, NULL,
							"node n3: compare failed");
				break;
			}
			if (i < 0 || r < 0) {
				snprintf(err, errlen, "recording into '%s': %s", path,
					 strerror(i < 0 ? (int)-i : -r));
				fl_history_close(h);
				return i < 0 ? (int)i : r;
			}
		}
		t = now_ns() - t0;
		fl_history_close(h);
		unlink(path);
		if (stop)
			return -EINTR;
		v[k] = (double)t / (double)opt.record_ops;
	}
	*spread_lo = *spread_hi = v[0];
	for (unsigned k = 1; k < rounds; k++) {
		if (v[k] < *spread_lo)
			*spread_lo = v[k];
		if (v[k] > *spread_hi)
			*spread_hi = v[k];
	}
	*ns_per_op = median(v, rounds);
	return 0;
}

/* --- etcdctl -------------------------------------------------------------------------------- */

struct perf_result {
	int ran;
	int pass;                 /* its own PASS/FAIL verdict */
	long writes_per_s;        /* -1: not printed */
	double slowest_s, stddev_s;
	char errors[512];         /* its "FAIL: ERROR(...)" lines */
	char failure[256];        /* why there is no figure */
};

struct datascale_result {
	int ran;
	int pass;
	int64_t wall_ns;          /* the whole command */
	int64_t startup_ns;       /* `etcdctl get` on the same endpoints: start-up + one RPC */
	char failure[256];
};

static int find_etcdctl(char *path, size_t len)
{
	return find_in_path("etcdctl", path, len);
}

static void etcdctl_perf(const char *etcdctl, struct perf_result *pr)
{
	char log[128], ep[300], *text, *line, *save = NULL;
	char *argv[] = { (char *)etcdctl, ep, (char *)"--dial-timeout=5s", (char *)"check",
			 (char *)"perf", (char *)"--load=s", NULL };
	int64_t wall;
	int st = 0, r;

	memset(pr, 0, sizeof(*pr));
	pr->ran = 1;
	pr->writes_per_s = -1;
	pr->slowest_s = pr->stddev_s = NAN;
	snprintf(ep, sizeof(ep), "--endpoints=%s", g.endpoints);
	snprintf(log, sizeof(log), "%s/etcdctl-check-perf.log", g.tmp);
	r = run_capture(argv, log, (PERF_S_SECONDS + 60) * FL_NS_PER_S, &st, &wall);
	if (r < 0) {
		snprintf(pr->failure, sizeof(pr->failure), "etcdctl check perf: %s", strerror(-r));
		return;
	}
	if (!(text = slurp(log))) {
		snprintf(pr->failure, sizeof(pr->failure), "cannot read '%s'", log);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p;
		long w;
		double d;

		if ((p = strstr(line, "Throughput")) && (p = strchr(p, ':')) &&
		    sscanf(p + 1, "%ld writes/s", &w) == 1)
			pr->writes_per_s = w;
		else if ((p = strstr(line, "Throughput is ")) &&
			 sscanf(p + 14, "%ld writes/s", &w) == 1)
			pr->writes_per_s = w;
		else if ((p = strstr(line, "Slowest request took")) &&
			 (sscanf(p, "Slowest request took too long: %lfs", &d) == 1 ||
			  sscanf(p, "Slowest request took %lfs", &d) == 1))
			pr->slowest_s = d;
		else if ((p = strstr(line, "Stddev")) &&
			 (sscanf(p, "Stddev too high: %lfs", &d) == 1 ||
			  sscanf(p, "Stddev is %lfs", &d) == 1))
			pr->stddev_s = d;
		else if (strstr(line, "ERROR(") &&
			 strlen(pr->errors) + strlen(line) + 6 < sizeof(pr->errors)) {
			strcat(pr->errors, "    ");
			strcat(pr->errors, line);
			strcat(pr->errors, "\n");
		}
		else if (!strcmp(line, "PASS"))
			pr->pass = 1;
	}
	free(text);
	if (pr->writes_per_s < 0)
		snprintf(pr->failure, sizeof(pr->failure),
			 "no throughput in its output (exit status %d); see '%s' (--keep)",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
}

static void etcdctl_datascale(const char *etcdctl, struct datascale_result *dr)
{
	char log[128], ep[300], *text;
	char *argv[] = { (char *)etcdctl, ep, (char *)"--dial-timeout=5s", (char *)"check",
			 (char *)"datascale", (char *)"--load=s", NULL };
	char *gargv[] = { (char *)etcdctl, ep, (char *)"--dial-timeout=5s", (char *)"get",
			  (char *)"fl-bench-no-such-key", NULL };
	int64_t w[3];
	int st = 0, r;

	memset(dr, 0, sizeof(*dr));
	dr->ran = 1;
	snprintf(ep, sizeof(ep), "--endpoints=%s", g.endpoints);
	/* what starting etcdctl and one round trip cost: median of three */
	snprintf(log, sizeof(log), "%s/etcdctl-get.log", g.tmp);
	for (int k = 0; k < 3; k++) {
		if ((r = run_capture(gargv, log, 30 * FL_NS_PER_S, &st, &w[k])) < 0 ||
		    !WIFEXITED(st) || WEXITSTATUS(st)) {
			snprintf(dr->failure, sizeof(dr->failure), "etcdctl get: %s",
				 r < 0 ? strerror(-r) : "failed");
			return;
		}
	}
	qsort(w, 3, sizeof(w[0]), cmp_i64);
	dr->startup_ns = w[1];
	snprintf(log, sizeof(log), "%s/etcdctl-check-datascale.log", g.tmp);
	r = run_capture(argv, log, 180 * FL_NS_PER_S, &st, &dr->wall_ns);
	if (r < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "etcdctl check datascale: %s",
			 strerror(-r));
		return;
	}
	text = slurp(log);
	dr->pass = text && strstr(text, "PASS") && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	free(text);
	if (!dr->pass)
		snprintf(dr->failure, sizeof(dr->failure),
			 "etcdctl check datascale did not pass (exit status %d); see '%s' (--keep)",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
}

/* --- report ------------------------------------------------------------------------------- */

struct summary {
	double ok_per_s, done_per_s, p50, p99, fail_pct;
	double f_p50[FL_F__N], f_p99[FL_F__N];
	uint64_t f_ok_min[FL_F__N];     /* the fewest ok ops of a type in one run */
	uint64_t info_total;
	size_t bad_lines;
};

static void summarize(enum phase ph, size_t ci, unsigned rounds, struct summary *sm)
{
	double v[MAX_REPEAT];

#define MED(expr) ({ for (unsigned k = 0; k < rounds; k++) { const struct run *x = \
	&results[ph][ci][k]; v[k] = (expr); } median(v, rounds); })
	sm->ok_per_s = MED(x->ok_per_s);
	sm->done_per_s = MED(x->done_per_s);
	sm->p50 = MED(x->p50_ms);
	sm->p99 = MED(x->p99_ms);
	sm->fail_pct = MED(x->ok + x->fail + x->info
				   ? 100.0 * (double)x->fail / (double)(x->ok + x->fail + x->info)
				   : NAN);
	for (int f = 0; f < FL_F__N; f++) {
		sm->f_p50[f] = MED(x->f_p50[f]);
		sm->f_p99[f] = MED(x->f_p99[f]);
	}
#undef MED
	sm->info_total = 0;
	sm->bad_lines = 0;
	for (int f = 0; f < FL_F__N; f++) {
		sm->f_ok_min[f] = UINT64_MAX;
		for (unsigned k = 0; k < rounds; k++)
			if (results[ph][ci][k].f_ok[f] < sm->f_ok_min[f])
				sm->f_ok_min[f] = results[ph][ci][k].f_ok[f];
	}
	for (unsigned k = 0; k < rounds; k++) {
		sm->info_total += results[ph][ci][k].info;
		sm->bad_lines += results[ph][ci][k].bad_lines;
	}
}

/* "p50 / p99"; a '*' when a run had under 100 such ops (its p99 is its maximum) */
static int pair(char *buf, size_t len, double a, double b, uint64_t n)
{
	if (isnan(a))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f / %.2f%s", a, b, n < 100 ? "*" : "");
	return n < 100;
}

static void print_table(enum phase ph, unsigned rounds)
{
	int few = 0;

	printf("\n%s\n", phase_title[ph]);
	if (ph == PH_REGISTER) {
		printf("  %7s %10s %11s %8s %8s %7s %5s  %-15s %-15s %-15s\n", "clients",
		       "ok ops/s", "done ops/s", "p50 ms", "p99 ms", "fail %", "info",
		       "read p50/p99", "write p50/p99", "cas p50/p99");
	} else {
		printf("  %7s %10s %11s %8s %8s %7s %5s\n", "clients", "ok ops/s", "done ops/s",
		       "p50 ms", "p99 ms", "fail %", "info");
	}
	for (size_t ci = 0; ci < opt.nclients; ci++) {
		struct summary sm;
		char r[32], w[32], c[32];

		summarize(ph, ci, rounds, &sm);
		printf("  %7u %10.0f %11.0f %8.2f %8.2f %7.1f %5" PRIu64, opt.clients[ci],
		       sm.ok_per_s, sm.done_per_s, sm.p50, sm.p99, sm.fail_pct, sm.info_total);
		if (ph == PH_REGISTER) {
			few |= pair(r, sizeof(r), sm.f_p50[FL_F_READ], sm.f_p99[FL_F_READ],
				    sm.f_ok_min[FL_F_READ]);
			few |= pair(w, sizeof(w), sm.f_p50[FL_F_WRITE], sm.f_p99[FL_F_WRITE],
				    sm.f_ok_min[FL_F_WRITE]);
			few |= pair(c, sizeof(c), sm.f_p50[FL_F_CAS], sm.f_p99[FL_F_CAS],
				    sm.f_ok_min[FL_F_CAS]);
			printf("  %-15s %-15s %-15s", r, w, c);
		}
		if (sm.bad_lines)
			printf("  (%zu unreadable history lines)", sm.bad_lines);
		printf("\n");
	}
	if (few)
		printf("  * under 100 ok operations of that type in a run: its p99 is just the slowest"
		       " (with %u keys\n    and many clients most compare-and-sets fail their"
		       " compare)\n", g.s->workload.keys);
}

static long comparable_index(unsigned clients)
{
	for (size_t ci = 0; ci < opt.nclients; ci++)
		if (opt.clients[ci] == clients)
			return (long)ci;
	return -1;
}

static void print_comparison(const struct perf_result *pr, const struct datascale_result *dr,
			     unsigned rounds, const char *ctl_version)
{
	long ci = comparable_index(ETCDCTL_CLIENTS);
	struct summary reg = { 0 }, wr = { 0 };

	printf("\netcd's own gRPC load tools on the same cluster (%s, --endpoints all three nodes)\n",
	       ctl_version);
	printf("  Debian ships no other etcd load tool (no `benchmark`): only etcdctl's checks.\n");
	printf("  Both use %d clients, so they compare with our %d-client runs; there is no\n",
	       ETCDCTL_CLIENTS, ETCDCTL_CLIENTS);
	printf("  etcdctl load at 1 or 10 clients. etcdctl, etcd and we share this machine's"
	       " CPUs.\n");
	printf("  Our ops carry ~2-byte keys and ~10-byte values over HTTP/JSON; etcdctl's,"
	       " below, larger\n  ones over gRPC. The fair figure is our write-only"
	       " workload (puts, like etcdctl's);\n  the register workload's is given by"
	       " done ops/s (a failed compare-and-set is a full txn).\n");
	if (ci >= 0) {
		summarize(PH_REGISTER, (size_t)ci, rounds, &reg);
		summarize(PH_WRITES, (size_t)ci, rounds, &wr);
	} else {
		printf("  (no %d-client run in --clients: no ratios)\n", ETCDCTL_CLIENTS);
	}

	printf("\n  etcdctl check perf --load=s: %d clients, puts of 256-byte keys and 1 KiB values,\n"
	       "  RATE-LIMITED to %d puts/s, for a fixed %d s (no flag changes that).\n",
	       ETCDCTL_CLIENTS, PERF_S_LIMIT, PERF_S_SECONDS);
	if (pr->failure[0]) {
		printf("    no figure: %s\n", pr->failure);
	} else {
		printf("    its result: %s, %ld writes/s, slowest %.4f s, stddev %.4f s\n",
		       pr->pass ? "PASS" : "FAIL", pr->writes_per_s, pr->slowest_s, pr->stddev_s);
		if (pr->errors[0])
			printf("    its errors:\n%s", pr->errors);
		printf("    %ld writes/s is its rate cap, not what the cluster can do: it only\n"
		       "    shows the cluster keeps up with %d puts/s.\n", pr->writes_per_s,
		       PERF_S_LIMIT);
		if (ci >= 0 && pr->writes_per_s > 0)
			printf("    ratio, ours / check perf at %d clients: write-only %.0f / %ld = %.2f;"
			       " register (done) %.0f / %ld = %.2f\n"
			       "    (>= 1 only says we sustain at least its capped load)\n",
			       ETCDCTL_CLIENTS, wr.ok_per_s, pr->writes_per_s,
			       wr.ok_per_s / (double)pr->writes_per_s, reg.done_per_s,
			       pr->writes_per_s, reg.done_per_s / (double)pr->writes_per_s);
	}

	printf("\n  etcdctl check datascale --load=s: %d clients, %d puts of 512-byte keys and\n"
	       "  512-byte values, NO rate limit: the fairest capacity figure etcdctl gives.\n"
	       "  It prints memory, not throughput, so its throughput is timed here: %d puts /\n"
	       "  (wall time of the command - etcdctl start-up, measured as the median of three\n"
	       "  `etcdctl get`). The wall time still holds its final delete and metrics reads,\n"
	       "  so its figure is a lower bound and the ratio below an upper bound.\n",
	       ETCDCTL_CLIENTS, DATASCALE_S_PUTS, DATASCALE_S_PUTS);
	if (dr->failure[0]) {
		printf("    no figure: %s\n", dr->failure);
	} else {
		double raw = (double)DATASCALE_S_PUTS * FL_NS_PER_S / (double)dr->wall_ns;
		int64_t net = dr->wall_ns - dr->startup_ns;
		double adj = net > 0 ? (double)DATASCALE_S_PUTS * FL_NS_PER_S / (double)net : raw;

		printf("    its result: %d puts in %.2f s (start-up %.2f s): %.0f puts/s (%.0f without"
		       " the start-up correction)\n", DATASCALE_S_PUTS,
		       (double)dr->wall_ns / FL_NS_PER_S, (double)dr->startup_ns / FL_NS_PER_S,
		       adj, raw);
		if (ci >= 0)
			printf("    ratio, ours / datascale at %d clients: write-only %.0f / %.0f = %.2f"
			       " (goal: >= 0.50)%s;\n    register (done) %.0f / %.0f = %.2f\n",
			       ETCDCTL_CLIENTS, wr.ok_per_s, adj, wr.ok_per_s / adj,
			       wr.ok_per_s / adj >= 0.5 ? "" : " BELOW THE GOAL", reg.done_per_s, adj,
			       reg.done_per_s / adj);
	}
}

/* --- options ------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_workload [options]\n"
		"Starts a healthy 3-node etcd (etcd in PATH) on free 127.0.0.x addresses, runs the\n"
		"register workload (rate unlimited) and a write-only variant at each client count,\n"
		"then etcdctl check perf / check datascale on the same cluster, and times the\n"
		"history recording. Prints ops/s and latencies (medians over repeats) and ratios.\n"
		"\n"
		"  --seconds S      each workload run lasts S seconds (default 5; env FL_BENCH_SECONDS)\n"
		"  --repeat N       runs per client count, medians printed (default 3; FL_BENCH_REPEAT)\n"
		"  --clients LIST   client counts (default 1,10,50; FL_BENCH_CLIENTS)\n"
		"  --keys N         keys of the register workload (default: faultline's default)\n"
		"  --record-ops N   operations per recording-overhead round (default 200000)\n"
		"  --record-rounds N  recording-overhead rounds (default 5)\n"
		"  --no-etcdctl     skip etcdctl's checks (they take about 75 s; FL_BENCH_NO_ETCDCTL=1)\n"
		"  --keep           keep the temp dir (logs, histories) and print its path\n"
		"  --help\n");
}

static int parse_clients(const char *s)
{
	char *copy = strdup(s), *save = NULL;
	size_t n = 0;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);

		if (*end || v < 1 || v > 1024 || n == MAX_CLIENT_COUNTS) {
			free(copy);
			return -EINVAL;
		}
		opt.clients[n++] = (unsigned)v;
	}
	free(copy);
	if (!n)
		return -EINVAL;
	opt.nclients = n;
	return 0;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno || end == s || *end || *v < lo || *v > hi ? -EINVAL : 0;
}

static int parse_options(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "clients", required_argument, NULL, 'c' },
		{ "keys", required_argument, NULL, 'k' },
		{ "record-ops", required_argument, NULL, 'o' },
		{ "record-rounds", required_argument, NULL, 'R' },
		{ "no-etcdctl", no_argument, NULL, 'n' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *e;
	unsigned long v;
	char *end;
	int c;

	/* the environment first, so that options win */
	if ((e = getenv("FL_BENCH_SECONDS")) && *e) {
		opt.seconds = strtod(e, &end);
		if (*end || !(opt.seconds > 0)) {
			fprintf(stderr, "bench_workload: bad FL_BENCH_SECONDS '%s'\n", e);
			return -EINVAL;
		}
	}
	if ((e = getenv("FL_BENCH_REPEAT")) && *e) {
		if (parse_uint(e, 1, MAX_REPEAT, &v) < 0) {
			fprintf(stderr, "bench_workload: bad FL_BENCH_REPEAT '%s' (1..%d)\n", e,
				MAX_REPEAT);
			return -EINVAL;
		}
		opt.repeat = (unsigned)v;
	}
	if ((e = getenv("FL_BENCH_CLIENTS")) && *e && parse_clients(e) < 0) {
		fprintf(stderr, "bench_workload: bad FL_BENCH_CLIENTS '%s'\n", e);
		return -EINVAL;
	}
	if ((e = getenv("FL_BENCH_NO_ETCDCTL")) && *e && strcmp(e, "0"))
		opt.no_etcdctl = 1;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.seconds = strtod(optarg, &end);
			if (*end || !(opt.seconds > 0) || opt.seconds > 3600) {
				fprintf(stderr, "bench_workload: bad --seconds '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, MAX_REPEAT, &v) < 0) {
				fprintf(stderr, "bench_workload: bad --repeat '%s' (1..%d)\n", optarg,
					MAX_REPEAT);
				return -EINVAL;
			}
			opt.repeat = (unsigned)v;
			break;
		case 'c':
			if (parse_clients(optarg) < 0) {
				fprintf(stderr, "bench_workload: bad --clients '%s' (up to %d counts,"
					" each 1..1024)\n", optarg, MAX_CLIENT_COUNTS);
				return -EINVAL;
			}
			break;
		case 'k':
			if (parse_uint(optarg, 1, 1000000, &v) < 0) {
				fprintf(stderr, "bench_workload: bad --keys '%s'\n", optarg);
				return -EINVAL;
			}
			opt.keys = (unsigned)v;
			break;
		case 'o':
			if (parse_uint(optarg, 1, 100000000, &v) < 0) {
				fprintf(stderr, "bench_workload: bad --record-ops '%s'\n", optarg);
				return -EINVAL;
			}
			opt.record_ops = (long)v;
			break;
		case 'R':
			if (parse_uint(optarg, 1, MAX_REPEAT, &v) < 0) {
				fprintf(stderr, "bench_workload: bad --record-rounds '%s' (1..%d)\n",
					optarg, MAX_REPEAT);
				return -EINVAL;
			}
			opt.record_rounds = (unsigned)v;
			break;
		case 'n':
			opt.no_etcdctl = 1;
			break;
		case 'K':
			opt.keep = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_workload: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* --- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct fl_diags d = { 0 };
	struct perf_result pr = { 0 };
	struct datascale_result dr = { 0 };
	char etcd[PATH_MAX], etcdctl[PATH_MAX], err[512], leader[FL_NODE_NAME_MAX + 1] = "";
	char etcd_version[128], ctl_version[128] = "etcdctl";
	double rec_ns = NAN, rec_lo = NAN, rec_hi = NAN;
	unsigned rounds = 0, hb, el;
	int64_t t_start = now_ns();
	int rc = 1, r, have_ctl;

	if ((r = parse_options(argc, argv)) != 0)
		return r > 0 ? 0 : 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* everything here talks to 127.0.0.x: never through a proxy (etcdctl is Go/gRPC) */
	setenv("NO_PROXY", "*", 1);
	setenv("no_proxy", "*", 1);
	setenv("ETCDCTL_API", "3", 1);

	if (!find_in_path("etcd", etcd, sizeof(etcd))) {
		fprintf(stderr, "bench_workload: etcd is not in PATH (apt-get install etcd-server)\n");
		return 2;
	}
	have_ctl = !opt.no_etcdctl && find_etcdctl(etcdctl, sizeof(etcdctl));
	if (!opt.no_etcdctl && !have_ctl) {
		fprintf(stderr, "bench_workload: etcdctl is not in PATH (apt-get install etcd-client),"
			" or pass --no-etcdctl\n");
		return 2;
	}
	if (fl_scenario_load_string("bench.yaml", scenario_yaml, sizeof(scenario_yaml) - 1, NULL, 0,
				    &d, &g.s) < 0) {
		fprintf(stderr, "bench_workload: the built-in scenario did not load\n");
		fl_diags_release(&d);
		return 2;
	}
	fl_diags_release(&d);
	if (opt.keys)
		g.s->workload.keys = opt.keys;
	fl_etcd_timing(g.s, &hb, &el);

	snprintf(g.tmp, sizeof(g.tmp), "/var/tmp/fl-bench-XXXXXX");
	if (!mkdtemp(g.tmp)) {
		fprintf(stderr, "bench_workload: mkdtemp '%s': %s\n", g.tmp, strerror(errno));
		g.tmp[0] = '\0';
		goto out;
	}
	snprintf(g.data, sizeof(g.data), "%s/data", g.tmp);
	if (mkdir(g.data, 0700) < 0) {
		fprintf(stderr, "bench_workload: mkdir '%s': %s\n", g.data, strerror(errno));
		goto out;
	}
	{
		char *vargv[] = { etcd, (char *)"--version", NULL };
		char log[128];

		snprintf(log, sizeof(log), "%s/etcd-version.log", g.tmp);
		version_of(vargv, log, etcd_version, sizeof(etcd_version));
		if (have_ctl) {
			char *cargv[] = { etcdctl, (char *)"version", NULL };

			snprintf(log, sizeof(log), "%s/etcdctl-version.log", g.tmp);
			version_of(cargv, log, ctl_version, sizeof(ctl_version));
		}
	}

	if ((r = cluster_up(leader, sizeof(leader), err, sizeof(err))) < 0) {
		fprintf(stderr, "bench_workload: cluster: %s\n", err);
		for (size_t i = 0; i < NNODES; i++)
			fprintf(stderr, "  log of %s: %s/%s.log%s\n", names[i], g.tmp, names[i],
				opt.keep ? "" : " (removed at exit; --keep keeps it)");
		goto out;
	}
	{
		char a[NNODES][20];

		for (size_t i = 0; i < NNODES; i++)
			ip4(g.addrs[i], a[i], sizeof(a[i]));
		snprintf(g.endpoints, sizeof(g.endpoints), "http://%s:%d,http://%s:%d,http://%s:%d",
			 a[0], FL_ETCD_CLIENT_PORT, a[1], FL_ETCD_CLIENT_PORT, a[2],
			 FL_ETCD_CLIENT_PORT);
		printf("faultline workload benchmark\n");
		printf("  cluster:  %s (%s), 3 nodes on %s, %s, %s (ports %d/%d), leader %s,\n"
		       "            started as faultline starts it (heartbeat %u ms, election %u ms)\n",
		       etcd, etcd_version, a[0], a[1], a[2], FL_ETCD_CLIENT_PORT, FL_ETCD_PEER_PORT,
		       leader, hb, el);
		printf("  files:    %s (etcd data, histories; removed at exit%s)\n", g.tmp,
		       opt.keep ? " unless --keep: kept" : "");
		printf("  workload: faultline's etcd adapter (v3 HTTP/JSON gateway, libcurl keep-alive),"
		       " client i on node i%%3,\n"
		       "            rate unlimited (each client sends its next op when the last one is"
		       " answered),\n"
		       "            %u keys, %lld ms op timeout, %s reads, every op recorded in a"
		       " history file\n",
		       g.s->workload.keys, (long long)(g.s->workload.timeout_ns / FL_NS_PER_MS),
		       fl_read_mode_to_string(g.s->workload.read_mode));
		printf("  runs:     %.1f s each, %u per client count, interleaved; figures are medians"
		       " over the runs\n", opt.seconds, opt.repeat);
		printf("  columns:  ok ops/s = operations that succeeded / run wall time; done ops/s"
		       " adds definite\n"
		       "            failures (a cas whose compare failed still took a round trip);"
		       " p50/p99 = latency\n"
		       "            of ok operations from invoke to completion in the history;"
		       " info = unknown\n"
		       "            outcomes (time-outs), summed over the runs\n");
	}

	for (unsigned k = 0; k < opt.repeat && !stop; k++) {
		for (int ph = 0; ph < PH__N && !stop; ph++)
			for (size_t ci = 0; ci < opt.nclients && !stop; ci++) {
				fprintf(stderr, "  run %u/%u: %s, %u clients...\n", k + 1, opt.repeat,
					ph == PH_REGISTER ? "register" : "write-only", opt.clients[ci]);
				if ((r = run_workload((enum phase)ph, opt.clients[ci], k,
						      &results[ph][ci][k], err, sizeof(err))) < 0) {
					fprintf(stderr, "bench_workload: %u clients: %s\n",
						opt.clients[ci], err);
					goto out;
				}
			}
		if (!stop)
			rounds = k + 1;
	}
	if (stop || !rounds)
		goto interrupted;
	for (int ph = 0; ph < PH__N; ph++)
		print_table((enum phase)ph, rounds);

	fprintf(stderr, "  timing the history recording...\n");
	if ((r = record_cost(&rec_ns, &rec_lo, &rec_hi, err, sizeof(err))) < 0) {
		if (r == -EINTR)
			goto interrupted;
		fprintf(stderr, "bench_workload: %s\n", err);
		goto out;
	}
	printf("\nrecording overhead: fl_history_invoke + fl_history_complete, one thread, %ld ops\n"
	       "  (the workload's read/write/cas mix) into a file in %s, median of %u rounds\n",
	       opt.record_ops, g.tmp, opt.record_rounds);
	printf("  %.2f us per op (rounds from %.2f to %.2f us)\n", rec_ns / 1000, rec_lo / 1000,
	       rec_hi / 1000);
	for (size_t ci = 0; ci < opt.nclients; ci++) {
		struct summary sm;

		summarize(PH_REGISTER, ci, rounds, &sm);
		printf("  = %.2f%% of the median register op latency at %u client%s (%.2f ms)\n",
		       100.0 * rec_ns / (sm.p50 * FL_NS_PER_MS), opt.clients[ci],
		       opt.clients[ci] == 1 ? "" : "s", sm.p50);
	}
	printf("  (uncontended: with many clients the history's lock is shared, which this loop"
	       " does not measure)\n");

	if (have_ctl && !stop) {
		fprintf(stderr, "  etcdctl check perf --load=s (%d s)...\n", PERF_S_SECONDS);
		etcdctl_perf(etcdctl, &pr);
		if (!stop) {
			fprintf(stderr, "  etcdctl check datascale --load=s...\n");
			etcdctl_datascale(etcdctl, &dr);
		}
		if (stop)
			goto interrupted;
		print_comparison(&pr, &dr, rounds, ctl_version);
	} else if (!have_ctl) {
		printf("\netcdctl comparison skipped (--no-etcdctl)\n");
	}
	printf("\ntotal time %.0f s\n", (double)(now_ns() - t_start) / FL_NS_PER_S);
	rc = 0;
	goto out;
interrupted:
	fprintf(stderr, "bench_workload: interrupted\n");
	rc = 130;
out:
	cluster_down();
	if (g.tmp[0] && !opt.keep)
		nftw(g.tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (g.tmp[0])
		fprintf(stderr, "bench_workload: kept '%s'\n", g.tmp);
	fl_scenario_free(g.s);
	return rc;
}
