/* bench_net: how fast faults land through faultline's agents beside the tc
 * binary run once per rule (as Jepsen, Pumba, Blockade do), how faithfully
 * netem delays and drops, how `up`/`down` scale with the cluster, and what
 * the harness costs per recorded op. Figures and ratios measured side by
 * side in one run; nothing is asserted. Root on a kernel with
 * netem/prio/u32/gact (`make bench-net` runs it in the micro-VM). Every loop
 * is bounded; every cluster it makes is taken down again. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/cluster.h"
#include "faultline/exec.h"
#include "faultline/netns.h"
#include "faultline/plan.h"
#include "faultline/scenario.h"
#include "faultline/tc.h"

#define MAX_REPS 64
#define PORT 7707

static FILE *md;          /* the markdown section */
static const char *agent; /* faultline-agent */
static int quick;
/* tc on big clusters: only the first tc_node_limit nodes get their rules
 * (each `ip netns exec ... tc` takes ~1.5 s under TCG); the whole cluster's
 * time is then scaled up from the rules (apply) or nodes (heal) done */
static size_t tc_node_limit = FL_MAX_NODES, tc_nodes_done, tc_rules_done;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of v[0..n) (sorted in place) */
static double pct(double *v, size_t n, double p)
{
	size_t k;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_dbl);
	k = (size_t)ceil(p / 100.0 * (double)n);
	return v[k ? k - 1 : 0];
}

/* --- scenarios and clusters -------------------------------------------------- */

struct bc {
	struct fl_scenario *s;
	struct fl_plan *p;
	struct fl_cluster *c;
	double up_ms;
};

static int load(size_t n, const char *nemesis, struct fl_scenario **s, struct fl_plan **p)
{
	char yaml[4096];
	struct fl_diags d;
	int r;

	snprintf(yaml, sizeof(yaml),
		 "name: bnet%zu\nduration: 1h\ncluster:\n  provider: netns\n  nodes: %zu\n"
		 "system:\n  type: etcd\nnemesis:\n%s",
		 n, n, nemesis);
	fl_diags_init(&d);
	r = fl_scenario_load_string("bench_net", yaml, strlen(yaml), NULL, 0, &d, s);
	if (r < 0)
		fl_diags_print(&d, stderr);
	fl_diags_release(&d);
	if (r < 0)
		return r;
	return fl_plan_build(*s, 1, p);
}

static void bc_down(struct bc *b, double *down_ms)
{
	char err[512];
	int64_t t;

	if (b->c) {
		t = now_ns();
		if (fl_cluster_down(b->c, err, sizeof(err)) < 0)
			fprintf(stderr, "bench_net: down: %s\n", err);
		if (down_ms)
			*down_ms = (double)(now_ns() - t) / 1e6;
		fl_cluster_free(b->c);
	}
	fl_plan_free(b->p);
	fl_scenario_free(b->s);
	memset(b, 0, sizeof(*b));
}

static int bc_up(struct bc *b, size_t n, const char *nemesis)
{
	char err[512];
	int64_t t;

	memset(b, 0, sizeof(*b));
	if (load(n, nemesis, &b->s, &b->p) < 0)
		return -EINVAL;
	t = now_ns();
	if (fl_cluster_up(b->s, agent, &b->c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_net: up of %zu nodes: %s\n", n, err);
		b->c = NULL;
		bc_down(b, NULL);
		return -EIO;
	}
	b->up_ms = (double)(now_ns() - t) / 1e6;
	if (fl_cluster_connect(b->c, err, sizeof(err)) != (int)n) {
		fprintf(stderr, "bench_net: connect: %s\n", err);
		bc_down(b, NULL);
		return -EIO;
	}
	return 0;
}

static struct fl_exec bc_exec(struct bc *b)
{
	return (struct fl_exec){ .s = b->s, .agents = b->c->agents, .addrs = b->c->addrs,
				 .iface = b->c->iface, .timeout_ms = 20000 };
}

static const struct fl_plan_step *step_of(struct bc *b, size_t fault)
{
	for (size_t i = 0; i < b->p->nsteps; i++)
		if (b->p->steps[i].fault == fault)
			return &b->p->steps[i];
	return NULL;
}

static long rss_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* --- the tc binary, once per rule --------------------------------------------- */

static int run_argv(char *const argv[])
{
	int st, dn;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dn = open("/dev/null", O_WRONLY);
		dup2(dn, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* `ip netns exec NS tc ARGS...` (args space-separated, at most 40) */
static int tc_exec(struct bc *b, size_t node, const char *args)
{
	char ns[64], buf[512], *argv[48], *save = NULL;
	size_t k = 0;
	int r;

	fl_netns_ns_name(b->c->id, b->c->names[node], ns, sizeof(ns));
	snprintf(buf, sizeof(buf), "%s", args);
	argv[k++] = (char *)"ip";
	argv[k++] = (char *)"netns";
	argv[k++] = (char *)"exec";
	argv[k++] = ns;
	argv[k++] = (char *)"tc";
	for (char *t = strtok_r(buf, " ", &save); t && k < 46; t = strtok_r(NULL, " ", &save))
		argv[k++] = t;
	argv[k] = NULL;
	if ((r = run_argv(argv)) < 0)
		fprintf(stderr, "bench_net: on %s: tc %s: failed\n", b->c->names[node], args);
	return r;
}

static const char ROOT_ARGS[] = "qdisc add dev eth0 root handle 1: prio bands 16 priomap "
				"0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";

static void addr_str(uint32_t a, char *buf, size_t len)
{
	struct in_addr in = { .s_addr = htonl(a) };

	inet_ntop(AF_INET, &in, buf, (socklen_t)len);
}

/* The filters our agent's kernel state holds on node i (net_read). */
static int kernel_filters(struct bc *b, size_t i)
{
	json_t *reply = NULL;
	char err[256];
	int n = -1;

	if (fl_agentc_call(b->c->agents[i],
			   json_pack("{s:s, s:s}", "op", "net_read", "iface", b->c->iface), 10000,
			   &reply, err, sizeof(err)) == 0)
		n = (int)json_array_size(
			json_object_get(json_object_get(reply, "kernel"), "filters"));
	json_decref(reply);
	return n;
}

/* nodes that get rules in the current apply (for scaling tc figures) */
static const struct fl_plan_step *cur_step;

static int touched_nodes(struct bc *b, size_t i)
{
	if (!cur_step)
		return i == 0; /* netem on one link: n1 only */
	return cur_step->blocked && (cur_step->blocked[i] & ~(1ull << i)) != 0;
}

/* --- apply/heal latency -------------------------------------------------------- */

struct lat {
	double apply[MAX_REPS], heal[MAX_REPS], skew[MAX_REPS];
	size_t n;
	double tc_apply[MAX_REPS], tc_heal[MAX_REPS], tc_skew[MAX_REPS];
	size_t ntc;
	int rules;                 /* kernel objects per apply (qdiscs + filters) */
	int fl_filters, tc_filters; /* on node 0, read back: the mirror is exact */
	int tc_partial;             /* tc figures scaled up from a part of the nodes */
	size_t tc_nodes, tc_rules_measured;
};

static void lat_row(const char *what, struct lat *l)
{
	double am = pct(l->apply, l->n, 50), ap = pct(l->apply, l->n, 99);
	double hm = pct(l->heal, l->n, 50), hp = pct(l->heal, l->n, 99);
	double sm = pct(l->skew, l->n, 50), sp = pct(l->skew, l->n, 99);
	double tam = pct(l->tc_apply, l->ntc, 50), tap = pct(l->tc_apply, l->ntc, 99);
	double thm = pct(l->tc_heal, l->ntc, 50), tsk = pct(l->tc_skew, l->ntc, 50);

	printf("%-26s %4d rules  faultline apply %8.2f ms (p99 %8.2f) heal %7.2f (p99 %7.2f) "
	       "skew %6.2f (p99 %6.2f) [%zu reps] | tc exec apply %9.1f ms (p99 %9.1f) heal %7.1f "
	       "skew %8.1f [%zu reps] | apply %5.1fx heal %5.1fx | filters on n1: %d vs %d\n",
	       what, l->rules, am, ap, hm, hp, sm, sp, l->n, tam, tap, thm, tsk, l->ntc, tam / am,
	       thm / hm, l->fl_filters, l->tc_filters);
	if (l->tc_partial)
		printf("  (tc figures scaled up from %zu of %d rules on part of the %zu nodes)\n",
		       l->tc_rules_measured, l->rules, l->tc_nodes);
	fprintf(md,
		"| %s | %d | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f | %s%.0f / %.0f | %s%.0f | %s%.0f | "
		"**%.0f×** | %.0f× | %zu / %zu%s |\n",
		what, l->rules, am, ap, hm, hp, sm, sp, l->tc_partial ? "≈" : "", tam, tap,
		l->tc_partial ? "≈" : "", thm, l->tc_partial ? "≈" : "", tsk, tam / am, thm / hm, l->n,
		l->ntc, l->tc_partial ? " (tc: part)" : "");
	fflush(md);
}

/* Apply and heal step st reps times through the agents, then the same rules
 * with tc, tc_reps times (fewer when they take more than tc_budget_s). */
static int bench_apply(struct bc *b, const struct fl_plan_step *st, int reps, int tc_reps,
		       double tc_budget_s, int (*tc_apply)(struct bc *, size_t, void *), void *ctx,
		       struct lat *l)
{
	struct fl_exec x = bc_exec(b);
	char err[512];
	uint64_t touched;
	int64_t t, t_tc0;

	for (int k = 0; k < reps && k < MAX_REPS; k++) {
		int64_t lo = INT64_MAX, hi = 0;
		t = now_ns();
		if (fl_exec_apply(&x, st, "bench", &touched, err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_net: apply: %s\n", err);
			return -EIO;
		}
		l->apply[l->n] = (double)(now_ns() - t) / 1e6;
		for (size_t i = 0; i < b->c->n; i++)
			if (touched & (1ull << i) && x.landed_ns[i]) {
				lo = x.landed_ns[i] < lo ? x.landed_ns[i] : lo;
				hi = x.landed_ns[i] > hi ? x.landed_ns[i] : hi;
			}
		l->skew[l->n] = hi >= lo ? (double)(hi - lo) / 1e6 : NAN;
		if (k == 0)
			l->fl_filters = kernel_filters(b, 0);
		t = now_ns();
		if (fl_exec_heal(&x, touched, "bench", err, sizeof(err)) < 0) {
			fprintf(stderr, "bench_net: heal: %s\n", err);
			return -EIO;
		}
		l->heal[l->n++] = (double)(now_ns() - t) / 1e6;
	}
	t_tc0 = now_ns();
	for (int k = 0; k < tc_reps && k < MAX_REPS; k++) {
		int64_t first = 0, last = 0;
		if (k > 0 && (double)(now_ns() - t_tc0) / 1e9 > tc_budget_s)
			break;
		size_t acting = 0, done;
		double a, h;
		tc_nodes_done = tc_rules_done = 0;
		t = now_ns();
		for (size_t i = 0; i < b->c->n; i++) {
			int r = tc_apply(b, i, ctx);
			if (r < 0)
				return r;
			if (r == 1) {
				last = now_ns();
				if (!first)
					first = last;
			}
		}
		a = (double)(now_ns() - t) / 1e6;
		done = tc_nodes_done;
		if (k == 0)
			l->tc_filters = kernel_filters(b, 0);
		t = now_ns();
		for (size_t i = 0; i < b->c->n; i++)
			if (tc_apply(b, i, NULL) < 0) /* heal */
				return -EIO;
		h = (double)(now_ns() - t) / 1e6;
		for (size_t i = 0; i < b->c->n; i++)
			acting += touched_nodes(b, i);
		l->tc_nodes = acting;
		l->tc_rules_measured = tc_rules_done;
		if (done && done < acting && tc_rules_done) {
			/* a part of the cluster: scale up (the commands are alike) */
			l->tc_partial = 1;
			l->tc_skew[l->ntc] = (double)(acting - 1) * a / (double)done;
			a *= (double)l->rules / (double)tc_rules_done;
			h *= (double)acting / (double)done;
		} else {
			l->tc_skew[l->ntc] = (double)(last - first) / 1e6;
		}
		l->tc_apply[l->ntc] = a;
		l->tc_heal[l->ntc++] = h;
	}
	return 0;
}

/* A partition's rules with tc on node i: the root, a drop filter per blocked
 * address (tc.h's layout). ctx = the step; NULL ctx: heal. 1 = acted. */
struct part_ctx {
	const struct fl_plan_step *st;
	int healing_nodes[FL_MAX_NODES];
};

static int tc_partition(struct bc *b, size_t i, void *ctx)
{
	static struct part_ctx *last;
	struct part_ctx *pc = ctx;
	char args[256], a[INET_ADDRSTRLEN];

	if (!pc) { /* heal what the last apply made */
		if (!last || !last->healing_nodes[i])
			return 0;
		last->healing_nodes[i] = 0;
		return tc_exec(b, i, "qdisc del dev eth0 root") < 0 ? -EIO : 1;
	}
	last = pc;
	if (!pc->st->blocked[i] || tc_nodes_done >= tc_node_limit)
		return 0;
	if (tc_exec(b, i, ROOT_ARGS) < 0)
		return -EIO;
	pc->healing_nodes[i] = 1;
	tc_nodes_done++;
	tc_rules_done++;
	for (size_t j = 0; j < b->c->n; j++) {
		if (!(pc->st->blocked[i] & (1ull << j)) || j == i)
			continue;
		addr_str(b->c->addrs[j], a, sizeof(a));
		snprintf(args, sizeof(args),
			 "filter add dev eth0 parent 1: protocol ip prio %d u32 match ip dst %s/32 "
			 "action drop",
			 FL_TC_PRIO_DROP4, a);
		if (tc_exec(b, i, args) < 0)
			return -EIO;
		tc_rules_done++;
	}
	return 1;
}

static int bench_partition(size_t n, int reps, int tc_reps, size_t tc_nodes, double *up_ms,
			   double *down_ms, long *agent_kb, long *self_kb)
{
	struct bc b;
	struct lat l = { 0 };
	struct part_ctx pc = { 0 };
	const struct fl_plan_step *st;
	char what[64];
	long before = rss_kb(getpid(), "VmRSS");
	int r;

	if (bc_up(&b, n, "  - fault: partition\n    mode: halves\n    at: 1s\n    for: 1s\n") < 0)
		return -EIO;
	*up_ms = b.up_ms;
	*agent_kb = rss_kb(b.c->agent_pids[0], "VmRSS");
	*self_kb = rss_kb(getpid(), "VmRSS") - before;
	st = step_of(&b, 0);
	pc.st = st;
	for (size_t i = 0; i < n; i++)
		l.rules += st->blocked[i] ? 1 + __builtin_popcountll(st->blocked[i] & ~(1ull << i)) : 0;
	cur_step = st;
	tc_node_limit = tc_nodes;
	r = bench_apply(&b, st, reps, tc_reps, 60, tc_partition, &pc, &l);
	cur_step = NULL;
	tc_node_limit = FL_MAX_NODES;
	if (r == 0) {
		snprintf(what, sizeof(what), "partition halves, %zu nodes", n);
		lat_row(what, &l);
	}
	bc_down(&b, down_ms);
	return r;
}

/* netem on one link: n1 -> n2 only */
struct netem_ctx {
	struct fl_netem nm;
	int applied;
};

static int tc_netem(struct bc *b, size_t i, void *ctx)
{
	static struct netem_ctx *last;
	struct netem_ctx *nc = ctx;
	char args[256], a[INET_ADDRSTRLEN];

	if (i != 0)
		return 0;
	if (!nc) {
		if (!last || !last->applied)
			return 0;
		last->applied = 0;
		return tc_exec(b, 0, "qdisc del dev eth0 root") < 0 ? -EIO : 1;
	}
	last = nc;
	if (tc_exec(b, 0, ROOT_ARGS) < 0)
		return -EIO;
	nc->applied = 1;
	tc_nodes_done = 1;
	tc_rules_done = 3;
	snprintf(args, sizeof(args), "qdisc add dev eth0 parent 1:2 handle %x: netem limit %u delay %lldus",
		 fl_tc_netem_handle(0, FL_DIST_NONE) >> 16, fl_tc_netem_limit(&nc->nm),
		 (long long)(nc->nm.latency_ns / 1000));
	if (tc_exec(b, 0, args) < 0)
		return -EIO;
	addr_str(b->c->addrs[1], a, sizeof(a));
	snprintf(args, sizeof(args),
		 "filter add dev eth0 parent 1: protocol ip prio %d u32 match ip dst %s/32 flowid 1:2",
		 FL_TC_PRIO_STEER4, a);
	return tc_exec(b, 0, args) < 0 ? -EIO : 1;
}

static int bench_netem_link(int reps, int tc_reps)
{
	struct bc b;
	struct lat l = { .rules = 3 };
	struct netem_ctx nc = { 0 };
	int r;

	if (bc_up(&b, 2, "  - fault: latency\n    targets: n1\n    peers: [n2]\n    latency: 10ms\n"
			 "    at: 1s\n    for: 1s\n") < 0)
		return -EIO;
	nc.nm = b.s->faults[0].netem;
	r = bench_apply(&b, step_of(&b, 0), reps, tc_reps, 60, tc_netem, &nc, &l);
	if (r == 0)
		lat_row("netem latency, one link", &l);
	bc_down(&b, NULL);
	return r;
}

/* --- fidelity: a UDP prober between two namespaces ----------------------------- */

struct probe {
	char ns_client[64], ns_server[64];
	uint32_t server_addr;
	int count;
	double rate;                 /* packets per second */
	double *rtt_ms;              /* [count], NAN = lost */
	double achieved_pps;
	volatile int stop;
	int ready;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

struct pkt {
	uint32_t seq;
	int64_t sent_ns;
};

static int enter_ns(const char *name)
{
	char path[128];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", FL_NETNS_RUN_DIR, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static void *echo_server(void *arg)
{
	struct probe *p = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(p->server_addr) };
	struct timeval tv = { .tv_usec = 100000 };
	int fd = -1, ok = enter_ns(p->ns_server) == 0;

	if (ok && (fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
		int big = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	} else {
		ok = 0;
	}
	pthread_mutex_lock(&p->mu);
	p->ready = ok ? 1 : -1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	while (ok && !p->stop) {
		char buf[64];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t k = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (k > 0)
			sendto(fd, buf, (size_t)k, 0, (struct sockaddr *)&from, fl);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct client {
	struct probe *p;
	int fd;
	volatile int sending_done;
	int64_t linger_ns;
};

static void *client_rx(void *arg)
{
	struct client *c = arg;
	int64_t end = 0;

	for (;;) {
		struct pkt k;
		ssize_t r = recv(c->fd, &k, sizeof(k), 0);
		int64_t t = now_ns();
		if (r == (ssize_t)sizeof(k) && k.seq < (uint32_t)c->p->count)
			c->p->rtt_ms[k.seq] = (double)(t - k.sent_ns) / 1e6;
		if (c->sending_done && !end)
			end = t + c->linger_ns;
		if (end && t > end)
			break;
	}
	return NULL;
}

/* count packets at rate from ns_client to ns_server's echo; RTTs in rtt_ms. */
static int probe_run(struct probe *p, int64_t linger_ns)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(p->server_addr) };
	struct timeval tv = { .tv_usec = 20000 };
	struct client c = { .p = p, .fd = -1, .linger_ns = linger_ns };
	pthread_t srv, rx;
	int64_t t0, interval = (int64_t)(1e9 / p->rate);
	int r = 0, orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);

	for (int i = 0; i < p->count; i++)
		p->rtt_ms[i] = NAN;
	p->stop = 0;
	p->ready = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_create(&srv, NULL, echo_server, p);
	pthread_mutex_lock(&p->mu);
	while (!p->ready)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	if (p->ready < 0 || enter_ns(p->ns_client) < 0 ||
	    (c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bench_net: prober setup failed: %s\n", strerror(errno));
		r = -EIO;
		goto out;
	}
	{
		int big = 4 << 20;
		setsockopt(c.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_create(&rx, NULL, client_rx, &c);
	t0 = now_ns();
	for (int i = 0; i < p->count; i++) {
		int64_t due = t0 + i * interval, t = now_ns();
		struct pkt k = { .seq = (uint32_t)i };
		if (due > t) {
			struct timespec ts = { .tv_sec = due / 1000000000LL,
					       .tv_nsec = due % 1000000000LL };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		k.sent_ns = now_ns();
		send(c.fd, &k, sizeof(k), 0);
	}
	p->achieved_pps = (double)p->count / ((double)(now_ns() - t0) / 1e9);
	c.sending_done = 1;
	pthread_join(rx, NULL);
out:
	p->stop = 1;
	pthread_join(srv, NULL);
	if (c.fd >= 0)
		close(c.fd);
	if (orig >= 0) {
		setns(orig, CLONE_NEWNET);
		close(orig);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	return r;
}

struct fid_result {
	double med, p99, loss, pps;
};

static int probe_once(struct probe *p, int64_t linger_ns, struct fid_result *out)
{
	double *ok = malloc(sizeof(double) * (size_t)p->count);
	size_t n = 0;

	if (!ok || probe_run(p, linger_ns) < 0) {
		free(ok);
		return -EIO;
	}
	for (int i = 0; i < p->count; i++)
		if (!isnan(p->rtt_ms[i]))
			ok[n++] = p->rtt_ms[i];
	out->loss = 100.0 * (1.0 - (double)n / (double)p->count);
	out->med = pct(ok, n, 50);
	out->p99 = pct(ok, n, 99);
	out->pps = p->achieved_pps;
	free(ok);
	return 0;
}

static int bench_fidelity(int count_slow, int count_fast)
{
	static const char *const faults[] = {
		"latency: 1ms", "latency: 10ms", "latency: 100ms",
		"percent: 1%",  "percent: 10%",  "percent: 50%",
	};
	static const double cfg[] = { 1, 10, 100, 1, 10, 50 };
	const double rates[] = { 100, 10000 };
	const int counts[] = { count_slow, count_fast };
	char nem[2048] = "";
	struct bc b;
	struct probe p = { 0 };
	int r = 0;

	for (size_t k = 0; k < 6; k++)
		snprintf(nem + strlen(nem), sizeof(nem) - strlen(nem),
			 "  - fault: %s\n    targets: n1\n    peers: [n2]\n    %s\n    at: %zus\n"
			 "    for: 1s\n",
			 k < 3 ? "latency" : "loss", faults[k], k + 1);
	if (bc_up(&b, 2, nem) < 0)
		return -EIO;
	fl_netns_ns_name(b.c->id, b.c->names[0], p.ns_client, sizeof(p.ns_client));
	fl_netns_ns_name(b.c->id, b.c->names[1], p.ns_server, sizeof(p.ns_server));
	p.server_addr = b.c->addrs[1];
	p.rtt_ms = malloc(sizeof(double) * (size_t)(count_slow > count_fast ? count_slow : count_fast));
	fprintf(md, "\n| configured on n1→n2 | probe rate (achieved) | packets | RTT median / p99, ms "
		    "| median error | p99 − base p99 | loss observed |\n|---|---|---|---|---|---|---|\n");
	for (size_t ri = 0; ri < 2 && r == 0; ri++) {
		struct fid_result base;
		struct fl_exec x = bc_exec(&b);
		char err[512];
		p.rate = rates[ri];
		p.count = counts[ri];
		if ((r = probe_once(&p, 2000000000LL, &base)) < 0)
			break;
		printf("fidelity %6.0f pps (achieved %7.0f): baseline RTT median %.3f ms p99 %.3f, "
		       "loss %.2f%%\n",
		       p.rate, base.pps, base.med, base.p99, base.loss);
		fprintf(md, "| nothing (baseline) | %.0f (%.0f) | %d | %.3f / %.3f | | | %.2f %% |\n",
			p.rate, base.pps, p.count, base.med, base.p99, base.loss);
		for (size_t k = 0; k < 6 && r == 0; k++) {
			struct fid_result m;
			uint64_t touched;
			const struct fl_plan_step *st = step_of(&b, k);
			if (fl_exec_apply(&x, st, "fid", &touched, err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_net: apply: %s\n", err);
				r = -EIO;
				break;
			}
			/* a packet is lost when its echo is not back 2 s after the last
			 * send (plus twice the delay): emulation stalls hold some for
			 * hundreds of ms */
			r = probe_once(&p, (int64_t)(k < 3 ? cfg[k] : 0) * 2000000LL + 2000000000LL, &m);
			if (fl_exec_heal(&x, touched, "fid", err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_net: heal: %s\n", err);
				r = -EIO;
			}
			if (r < 0)
				break;
			if (k < 3) {
				printf("  latency %5.0f ms: RTT median %8.3f p99 %8.3f -> error median "
				       "%+.3f ms, p99-base %+.3f ms, loss %.2f%%\n",
				       cfg[k], m.med, m.p99, m.med - base.med - cfg[k],
				       m.p99 - base.p99 - cfg[k], m.loss);
				fprintf(md, "| latency %.0f ms | %.0f (%.0f) | %d | %.3f / %.3f | %+.3f ms "
					    "| %+.3f ms | %.2f %% |\n",
					cfg[k], p.rate, m.pps, p.count, m.med, m.p99,
					m.med - base.med - cfg[k], m.p99 - base.p99 - cfg[k], m.loss);
			} else {
				printf("  loss %5.0f %%: observed %6.2f %% (RTT median %.3f ms)\n", cfg[k],
				       m.loss, m.med);
				fprintf(md, "| loss %.0f %% | %.0f (%.0f) | %d | %.3f / %.3f | | | **%.2f %%** |\n",
					cfg[k], p.rate, m.pps, p.count, m.med, m.p99, m.loss);
			}
		}
	}
	free(p.rtt_ms);
	bc_down(&b, NULL);
	return r;
}

/* --- harness overhead: a shortened quickstart ------------------------------------ */

static int count_ops(const char *dir)
{
	char cmd[1024], buf[64];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd),
		 "cat %s/*/history.jsonl 2>/dev/null | grep -c '\"type\":\"invoke\"'", dir);
	if ((f = popen(cmd, "r"))) {
		if (fgets(buf, sizeof(buf), f))
			n = atoi(buf);
		pclose(f);
	}
	return n;
}

static int bench_overhead(const char *faultline, int seconds)
{
	char yaml[] = "/tmp/bench-net-quick.yaml", runs[] = "/tmp/bench-net-runs";
	long tick = sysconf(_SC_CLK_TCK), hwm = 0, ut = 0, stt = 0;
	FILE *f = fopen(yaml, "w");
	int64_t t0;
	pid_t pid;
	int st, ops;

	if (!f)
		return -errno;
	fprintf(f, "name: bench-net-quick\nseed: 42\nduration: %ds\ncluster:\n  provider: netns\n"
		   "  nodes: 3\nsystem:\n  type: etcd\n  ready_timeout: 90s\nworkload:\n"
		   "  type: register\n  clients: 5\n  rate: \"100/s\"\n  keys: 5\n  timeout: 2s\n"
		   "nemesis:\n  - fault: partition\n    mode: isolate\n    targets: leader\n"
		   "    at: %ds\n    for: %ds\n  - fault: latency\n    targets: n1\n    peers: [n2]\n"
		   "    latency: 100ms\n    at: %ds\n    for: %ds\n"
		   "checks:\n  linearizable: {timeout: 60s}\n",
		seconds, seconds / 4, seconds / 4, seconds * 5 / 8, seconds / 8);
	fclose(f);
	if (system("rm -rf /tmp/bench-net-runs") != 0)
		return -EIO;
	t0 = now_ns();
	if ((pid = fork()) == 0) {
		int dn = open("/dev/null", O_WRONLY);
		dup2(dn, 1);
		execl(faultline, faultline, "run", "--runs", runs, yaml, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -errno;
	/* the harness's own CPU (not its children's: agents, etcd) and peak
	 * memory, sampled until it exits (bounded by the scenario) */
	for (int i = 0; i < 20 * (seconds + 300); i++) {
		char path[64], line[1024];
		FILE *s;
		long v;
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if ((v = rss_kb(pid, "VmHWM")) > hwm)
			hwm = v;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if ((s = fopen(path, "r"))) {
			if (fgets(line, sizeof(line), s)) {
				char *p = strrchr(line, ')');
				long u, sy;
				/* fields 14, 15: utime stime, after "pid (comm) state" */
				if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
						&u, &sy) == 2) {
					ut = u;
					stt = sy;
				}
			}
			fclose(s);
		}
		usleep(50000);
	}
	ops = count_ops(runs);
	{
		double cpu = (double)(ut + stt) / (double)tick, wall = (double)(now_ns() - t0) / 1e9;
		printf("harness overhead: quickstart %d s (wall %.1f s, exit %d): faultline cpu %.2f s "
		       "(user %.2f, sys %.2f), peak RSS %ld KiB, %d ops recorded: %.1f µs cpu per op, "
		       "%.1f KiB peak per 1000 ops\n",
		       seconds, wall, WIFEXITED(st) ? WEXITSTATUS(st) : -1, cpu,
		       (double)ut / (double)tick, (double)stt / (double)tick, hwm, ops,
		       ops > 0 ? cpu * 1e6 / ops : NAN, ops > 0 ? hwm * 1000.0 / ops : NAN);
		fprintf(md, "\n| harness during a %d s 3-node quickstart (etcd) | value |\n|---|---|\n"
			    "| ops recorded | %d |\n| faultline CPU (user + sys, not its children) | %.2f s |\n"
			    "| CPU per recorded op | **%.1f µs** |\n| faultline peak RSS (VmHWM) | %ld KiB |\n"
			    "| run exit code | %d |\n",
			seconds, ops, cpu, ops > 0 ? cpu * 1e6 / ops : NAN, hwm,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	return 0;
}

/* --- main ------------------------------------------------------------------------ */

static void machine(void)
{
	struct utsname u;
	char line[256], model[256] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");
	const char *accel = getenv("FAULTLINE_VM_ACCEL"); /* set by tests/vm/run */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	uname(&u);
	printf("machine: kernel %s, %ld cpu, %s, accel %s\n", u.release, ncpu, model,
	       accel ? accel : "none (host)");
	fprintf(md, "Measured on: kernel `%s`, %ld vCPU (%s), accel `%s` — medians of a loaded "
		    "2-core host shared with other VMs: compare the ratios, measured side by side.\n\n",
		u.release, ncpu, model, accel ? accel : "none (host)");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },     { "agent", required_argument, NULL, 'a' },
		{ "faultline", required_argument, NULL, 'f' }, { "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'O' },    { "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char *out = NULL, *faultline = "build/faultline", *only = "latency,scale,fidelity,overhead";
	static const size_t sizes[] = { 5, 25, 64 };
	double up[3] = { 0 }, down[3] = { 0 };
	long agent_kb[3] = { 0 }, self_kb[3] = { 0 };
	int ch, seconds = 30, rc = 0;

	agent = "build/faultline-agent";
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'a': agent = optarg; break;
		case 'f': faultline = optarg; break;
		case 'q': quick = 1; break;
		case 'O': only = optarg; break;
		case 's': seconds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_net [--out FILE.md] [--agent PATH] [--faultline PATH] "
					"[--quick] [--only latency,scale,fidelity,overhead] [--seconds N]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("bench_net: skipped: needs root (and netem/prio/gact: make bench-net runs it in "
		       "the micro-VM)\n");
		return 0;
	}
	if (access(agent, X_OK) < 0) {
		fprintf(stderr, "bench_net: no agent at '%s' (--agent)\n", agent);
		return 2;
	}
	md = out ? fopen(out, "w") : fopen("/dev/null", "w");
	if (!md) {
		fprintf(stderr, "bench_net: cannot write '%s': %s\n", out, strerror(errno));
		return 2;
	}
	fprintf(md, "<!-- bench:net -->\n### Faults, fidelity and scale (bench_net)\n\n");
	machine();
	if (strstr(only, "latency")) {
		fprintf(md, "Apply/heal: faultline's agents (netlink, `fl_exec_apply` as `run` and "
			    "`inject` do) beside `ip netns exec NODE tc ...` once per rule, the same "
			    "qdiscs and filters; ms, median / p99; skew = last node's rule in place − "
			    "first's (agents' own CLOCK_MONOTONIC stamps; tc: last command done − first "
			    "node's done). ≈: tc on part of the nodes (each `ip netns exec ... tc` "
			    "takes seconds under TCG), scaled up to the whole cluster by rules (apply) "
			    "and nodes (heal, skew).\n\n"
			    "| fault | rules | faultline apply | heal | skew | tc apply | tc heal | tc skew "
			    "| apply ratio | heal ratio | reps fl / tc |\n"
			    "|---|---|---|---|---|---|---|---|---|---|---|\n");
		if (bench_netem_link(quick ? 5 : 30, quick ? 1 : 3) < 0)
			rc = 1;
		for (size_t k = 0; k < 3; k++)
			if (bench_partition(sizes[k], quick ? 3 : (k == 2 ? 10 : 20),
					    1, k == 0 ? FL_MAX_NODES : (k == 1 ? 2 : 1), &up[k],
					    &down[k], &agent_kb[k], &self_kb[k]) < 0)
				rc = 1;
	}
	if (strstr(only, "scale")) {
		/* up/down alone, again: the partition runs above add their own noise */
		fprintf(md, "\n| `up` / `down` of a netns cluster (no system started) | up | per node "
			    "| down | per node | one agent RSS | harness RSS growth |\n"
			    "|---|---|---|---|---|---|---|\n");
		for (size_t k = 0; k < 3; k++) {
			double u[3], d[3];
			int reps = quick ? 1 : 3;
			struct bc b;
			for (int i = 0; i < reps; i++) {
				long before = rss_kb(getpid(), "VmRSS");
				if (bc_up(&b, sizes[k], "  - fault: partition\n    mode: halves\n    at: 1s\n") < 0) {
					rc = 1;
					reps = i;
					break;
				}
				u[i] = b.up_ms;
				agent_kb[k] = rss_kb(b.c->agent_pids[0], "VmRSS");
				self_kb[k] = rss_kb(getpid(), "VmRSS") - before;
				bc_down(&b, &d[i]);
			}
			if (!reps)
				continue;
			up[k] = pct(u, (size_t)reps, 50);
			down[k] = pct(d, (size_t)reps, 50);
			printf("scale %2zu nodes: up %7.0f ms (%5.1f per node), down %7.0f ms (%5.1f per "
			       "node), agent RSS %ld KiB, harness RSS +%ld KiB [median of %d]\n",
			       sizes[k], up[k], up[k] / (double)sizes[k], down[k],
			       down[k] / (double)sizes[k], agent_kb[k], self_kb[k], reps);
			fprintf(md, "| %zu nodes | %.0f ms | %.1f ms | %.0f ms | %.1f ms | %ld KiB | %s%ld KiB |\n",
				sizes[k], up[k], up[k] / (double)sizes[k], down[k],
				down[k] / (double)sizes[k], agent_kb[k], self_kb[k] ? "+" : "", self_kb[k]);
		}
	}
	if (strstr(only, "fidelity") && bench_fidelity(quick ? 200 : 500, quick ? 5000 : 20000) < 0)
		rc = 1;
	if (strstr(only, "overhead") && bench_overhead(faultline, seconds) < 0)
		rc = 1;
	fprintf(md, "<!-- /bench:net -->\n");
	fclose(md);
	return rc;
}
