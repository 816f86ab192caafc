/*
 * tests/kernel/test_redis.c: the redis adapter against a real 3-node redis
 * with 3 sentinels on the netns provider. The tests run in order on one
 * cluster: it comes up (n1 primary, two replicas, every sentinel seeing the
 * others); put/get/cas/add/read_set round trip; every node's sentinel names
 * the same primary; digests agree once replication settles; after SIGKILL
 * of the primary the sentinels promote a replica and writes succeed again
 * (the time is printed); stopping everything leaves no process, namespace
 * or link behind.
 * Runs in a private network and mount namespace with its own tmpfs /run
 * (as test_etcd.c); skips when not root or when redis is not installed.
 * FL_KT_LOGS=1 prints the tail of every server and sentinel log after the
 * failover (they are printed anyway when a step fails).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "faultline/netns.h"
#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"

#define N 3
#define OP_MS 5000 /* per request: a loaded qemu TCG guest is slow */

static const char scenario_yaml[] =
	"name: redis-kt\n"
	"duration: 1m\n"
	"cluster: {nodes: 3}\n"
	"system: {type: redis, ready_timeout: 60s}\n";

static const char *const names[N] = { "n1", "n2", "n3" };

static struct {
	char skip[300];
	char tmp[PATH_MAX];       /* mkdtemp: state/, data/, n*.log */
	char state[PATH_MAX + 16];
	char data[PATH_MAX + 16];
	struct fl_scenario *s;
	struct fl_netns_cluster *c;
	uint32_t addrs[N];
	pid_t pids[N];            /* redis-server */
	pid_t spids[N];           /* redis-sentinel */
	struct fl_sys_nodes nodes;
	int ready;
	unsigned down_after_ms, failover_ms;
} g;

static const struct fl_system_ops *ops = &fl_redis_ops;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static int in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char *dirs = strdup(p && *p ? p : "/usr/bin:/bin"), *save = NULL, path[PATH_MAX];
	int found = 0;

	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/%s", d, prog);
		found = access(path, X_OK) == 0;
	}
	free(dirs);
	return found;
}

static void print_log_tail(const char *file)
{
	char path[PATH_MAX + 32], line[512];
	long lines = 0, k = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g.tmp, file);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		lines++;
	rewind(f);
	print_message("--- last lines of %s\n", path);
	while (fgets(line, sizeof(line), f))
		if (++k > lines - 15)
			print_message("    %s", line);
	fclose(f);
}

static void print_logs(void)
{
	for (size_t i = 0; i < N; i++) {
		char f[64];

		snprintf(f, sizeof(f), "%s.log", names[i]);
		print_log_tail(f);
		snprintf(f, sizeof(f), "%s-sentinel.log", names[i]);
		print_log_tail(f);
	}
}

static struct fl_sys_client *client(size_t i)
{
	struct fl_sys_client *c;
	char err[256];

	if (ops->client_open(&g.nodes, i, &c, err, sizeof(err)) < 0)
		fail_msg("client for %s: %s", names[i], err);
	return c;
}

static void need_cluster(void)
{
	if (g.skip[0])
		skip();
	if (!g.ready)
		fail_msg("the redis cluster did not come up (see the first test)");
}

/* --- setup ------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct fl_diags d = { 0 };

	(void)state;
	if (geteuid() != 0) {
		snprintf(g.skip, sizeof(g.skip),
			 "needs root for network namespaces (euid %d); run it in the test VM: "
			 "tests/vm/run -- ...", (int)geteuid());
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (!in_path("redis-server") || !in_path("redis-sentinel")) {
		snprintf(g.skip, sizeof(g.skip),
			 "redis is not installed (apt-get install redis-server redis-sentinel)");
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/* our mounts stay ours; a tmpfs /run hides the host's /run/netns from us */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fl-kt-redis", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		print_error("private /run: %s\n", strerror(errno));
		return -1;
	}
	snprintf(g.tmp, sizeof(g.tmp), "/tmp/fl-redis-kt-XXXXXX");
	if (!mkdtemp(g.tmp)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(g.state, sizeof(g.state), "%s/state", g.tmp);
	snprintf(g.data, sizeof(g.data), "%s/data", g.tmp);
	if (mkdir(g.data, 0700) < 0) {
		print_error("mkdir %s: %s\n", g.data, strerror(errno));
		return -1;
	}
	if (fl_scenario_load_string("redis-kt.yaml", scenario_yaml, sizeof(scenario_yaml) - 1,
				    NULL, 0, &d, &g.s) < 0) {
		print_error("scenario did not load\n");
		fl_diags_release(&d);
		return -1;
	}
	fl_diags_release(&d);
	fl_redis_timing(g.s, &g.down_after_ms, &g.failover_ms);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void stop_pids(pid_t *pids)
{
	for (size_t i = 0; i < N; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (size_t i = 0; i < N; i++) {
		int64_t end = now_ns() + 5 * FL_NS_PER_S;

		if (pids[i] <= 0)
			continue;
		while (waitpid(pids[i], NULL, WNOHANG) == 0) {
			if (now_ns() > end) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], NULL, 0);
				break;
			}
			usleep(20000);
		}
		pids[i] = 0;
	}
}

static void stop_all(void)
{
	stop_pids(g.spids); /* sentinels first: no failover while the servers go */
	stop_pids(g.pids);
}

static int group_teardown(void **state)
{
	char err[512];

	(void)state;
	if (g.skip[0])
		return 0;
	stop_all();
	if (g.c && fl_netns_down(g.c, err, sizeof(err)) < 0)
		print_error("teardown: down: %s\n", err);
	fl_netns_cluster_free(g.c);
	g.c = NULL;
	if (g.state[0] && fl_netns_down_from_state(g.state, err, sizeof(err)) < 0)
		print_error("teardown: down from '%s': %s\n", g.state, err);
	if (g.tmp[0])
		nftw(g.tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fl_scenario_free(g.s);
	return 0;
}

/* --- 1. the cluster comes up -------------------------------------------------------- */

static void spawn(size_t i, char **argv, const char *logname, pid_t *pid)
{
	char log[PATH_MAX + 32], err[512];
	int fd, r;

	snprintf(log, sizeof(log), "%s/%s", g.tmp, logname);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	r = fl_netns_spawn(g.c, i, argv, -1, fd, fd, pid, err, sizeof(err));
	close(fd);
	if (r < 0)
		fail_msg("spawn %s in %s: %s", argv[0], names[i], err);
}

static void test_cluster_ready(void **state)
{
	struct fl_netns_spec spec = { .id = "ktr", .nnodes = N, .names = names,
				      .state_dir = g.state };
	char err[512], leader[FL_NODE_NAME_MAX + 1] = "";
	int64_t t0;
	int r;

	(void)state;
	if (g.skip[0])
		skip();
	if (fl_netns_up(&spec, &g.c, err, sizeof(err)) < 0)
		fail_msg("netns up: %s", err);
	for (size_t i = 0; i < N; i++)
		g.addrs[i] = fl_netns_node_addr(g.c, i);
	g.nodes = (struct fl_sys_nodes){ .n = N, .names = names, .addrs = g.addrs,
					 .data_root = g.data, .token = "fl-ktr", .pids = g.pids,
					 .s = g.s };

	t0 = now_ns();
	for (size_t i = 0; i < N; i++) {
		char **argv = NULL, logname[64];

		if (ops->node_argv(g.s, &g.nodes, i, &argv, err, sizeof(err)) < 0)
			fail_msg("argv of %s: %s", names[i], err);
		snprintf(logname, sizeof(logname), "%s.log", names[i]);
		spawn(i, argv, logname, &g.pids[i]);
		fl_strv_free(argv);
	}
	for (size_t i = 0; i < N; i++) {
		char **argv = NULL, pname[32], logname[64];

		if (ops->sidecar_argv(g.s, &g.nodes, i, &argv, pname, sizeof(pname), err,
				      sizeof(err)) < 0)
			fail_msg("sidecar argv of %s: %s", names[i], err);
		assert_string_equal(pname, "sentinel");
		snprintf(logname, sizeof(logname), "%s-%s.log", names[i], pname);
		spawn(i, argv, logname, &g.spids[i]);
		fl_strv_free(argv);
	}
	r = ops->wait_ready(&g.nodes, g.s->system.ready_timeout_ns, leader, sizeof(leader), err,
			    sizeof(err));
	if (r < 0) {
		print_logs();
		fail_msg("wait_ready: %s", err);
	}
	print_message("cluster ready in %.2f s (down-after %u ms, failover-timeout %u ms), "
		      "primary %s\n", (double)(now_ns() - t0) / FL_NS_PER_S, g.down_after_ms,
		      g.failover_ms, leader);
	assert_string_equal(leader, "n1");
	g.ready = 1;
}

/* --- 2. client operations ------------------------------------------------------------- */

static void test_put_get(void **state)
{
	struct fl_sys_client *c1, *c3;
	enum fl_outcome o;
	char err[256], *v = NULL;
	int64_t end;

	(void)state;
	need_cluster();
	c1 = client(0);
	c3 = client(2);
	if (ops->put(c3, "k1", "v1", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put through n3: %s (%s)", err, fl_outcome_to_string(o));
	assert_int_equal(o, FL_OUTCOME_OK);
	/* linearizable reads go to the primary: they see it at once */
	if (ops->get(c1, "k1", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get on n1: %s", err);
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_non_null(v);
	assert_string_equal(v, "v1");
	free(v);
	/* a serializable read on a replica sees it once replicated */
	end = now_ns() + 10 * FL_NS_PER_S;
	for (;;) {
		v = NULL;
		if (ops->get(c3, "k1", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
			fail_msg("serializable get on n3: %s", err);
		if (v && !strcmp(v, "v1"))
			break;
		free(v);
		if (now_ns() > end)
			fail_msg("n3's replica never saw k1");
		usleep(50000);
	}
	free(v);
	/* any bytes of text survive */
	if (ops->put(c1, "k/ü \"q\"\r\n", "a\tb=c{}\r\n$3", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s", err);
	if (ops->get(c3, "k/ü \"q\"\r\n", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get: %s", err);
	assert_non_null(v);
	assert_string_equal(v, "a\tb=c{}\r\n$3");
	free(v);
	/* a missing key: ok, no value */
	v = (char *)"x";
	assert_int_equal(ops->get(c3, "no-such-key", 0, OP_MS, &v, &o, err, sizeof(err)), 0);
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_null(v);
	ops->client_close(c1);
	ops->client_close(c3);
}

static void test_cas(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o;
	char err[256], *v = NULL;

	(void)state;
	need_cluster();
	c = client(1);
	if (ops->put(c, "reg", "a", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s", err);
	if (ops->cas(c, "reg", "a", "b", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("cas a->b: %s (%s)", err, fl_outcome_to_string(o));
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_int_equal(ops->cas(c, "reg", "a", "c", OP_MS, &o, err, sizeof(err)), -ECANCELED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("cas failure says: %s\n", err);
	assert_int_equal(ops->cas(c, "reg-none", "a", "c", OP_MS, &o, err, sizeof(err)),
			 -ECANCELED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	if (ops->get(c, "reg", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get: %s", err);
	assert_non_null(v);
	assert_string_equal(v, "b");
	free(v);
	/* a compare-and-set on a set is refused before it runs: a definite failure */
	if (ops->add(c, "s1", "x", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("add: %s", err);
	assert_true(ops->cas(c, "s1", "a", "c", OP_MS, &o, err, sizeof(err)) < 0);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("cas on a set says: %s\n", err);
	ops->client_close(c);
}

static void test_sets(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o;
	char err[256], **v = NULL;

	(void)state;
	need_cluster();
	c = client(2);
	if (ops->add(c, "s1", "y", OP_MS, &o, err, sizeof(err)) < 0 ||
	    ops->add(c, "s1", "x", OP_MS, &o, err, sizeof(err)) < 0) /* again: fine */
		fail_msg("add: %s", err);
	assert_int_equal(o, FL_OUTCOME_OK);
	if (ops->read_set(c, "s1", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("read_set: %s", err);
	assert_int_equal(fl_strv_len(v), 2);
	assert_true((!strcmp(v[0], "x") && !strcmp(v[1], "y")) ||
		    (!strcmp(v[0], "y") && !strcmp(v[1], "x")));
	fl_strv_free(v);
	if (ops->read_set(c, "no-such-set", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("read_set: %s", err);
	assert_non_null(v);
	assert_null(v[0]);
	fl_strv_free(v);
	ops->client_close(c);
}

static void test_status_same_leader(void **state)
{
	struct fl_sys_status st[N];
	char err[256];

	(void)state;
	need_cluster();
	for (size_t i = 0; i < N; i++) {
		struct fl_sys_client *c = client(i);
		enum fl_outcome o;

		if (ops->status(c, OP_MS, &st[i], &o, err, sizeof(err)) < 0)
			fail_msg("status of %s: %s", names[i], err);
		ops->client_close(c);
		print_message("%s: leader %s (id %" PRIu64 "), member %" PRIu64 ", term %" PRIu64
			      "\n", st[i].node, st[i].leader, st[i].leader_id, st[i].member_id,
			      st[i].term);
		assert_string_equal(st[i].node, names[i]);
		assert_string_equal(st[i].leader, "n1");
		assert_true(st[i].leader_id == 1);
		assert_true(st[i].member_id == i + 1);
		assert_true(st[i].term == st[0].term);
	}
}

/* The digests of the given nodes, retried until they agree (replicas apply a little later). */
static void digests_agree(const size_t *which, size_t n, char out[FL_DIGEST_HEX],
			  size_t *nkeys)
{
	int64_t end = now_ns() + 10 * FL_NS_PER_S;
	char hex[N][FL_DIGEST_HEX], err[256];
	int64_t rev[N];
	size_t nk[N];

	for (;;) {
		int same = 1;

		for (size_t k = 0; k < n; k++) {
			struct fl_sys_client *c = client(which[k]);

			if (ops->digest(c, OP_MS, hex[k], &rev[k], &nk[k], err, sizeof(err)) < 0)
				fail_msg("digest of %s: %s", names[which[k]], err);
			ops->client_close(c);
			same &= strcmp(hex[k], hex[0]) == 0;
		}
		if (same)
			break;
		if (now_ns() > end)
			fail_msg("digests still differ after 10 s: %s@%" PRId64 " %s@%" PRId64,
				 hex[0], rev[0], hex[n - 1], rev[n - 1]);
		usleep(200000);
	}
	for (size_t k = 0; k < n; k++)
		print_message("%s: digest %s, repl offset %" PRId64 ", %zu keys\n", names[which[k]],
			      hex[k], rev[k], nk[k]);
	memcpy(out, hex[0], FL_DIGEST_HEX);
	*nkeys = nk[0];
}

static void test_digests_equal(void **state)
{
	static const size_t all[N] = { 0, 1, 2 };
	char before[FL_DIGEST_HEX], after[FL_DIGEST_HEX], err[256];
	size_t nb, na;
	struct fl_sys_client *c;
	enum fl_outcome o;

	(void)state;
	need_cluster();
	digests_agree(all, N, before, &nb);
	assert_int_equal(nb, 4); /* k1, the odd key, reg, s1 */
	c = client(0);
	if (ops->put(c, "k2", "v2", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s", err);
	ops->client_close(c);
	digests_agree(all, N, after, &na);
	assert_int_equal(na, 5);
	assert_string_not_equal(before, after);
}

/* --- 3. failover ---------------------------------------------------------------------- */

static void test_primary_kill_failover(void **state)
{
	struct fl_sys_client *c[N] = { 0 };
	char err[256], old[FL_NODE_NAME_MAX + 1] = "", now_leader[FL_NODE_NAME_MAX + 1] = "";
	int64_t t0, t_leader = 0, t_write = 0, bound;
	size_t li = N, w, survivors[N - 1], ns = 0;
	struct fl_sys_status st;
	enum fl_outcome o;
	uint64_t term0;

	(void)state;
	need_cluster();
	for (size_t i = 0; i < N; i++)
		c[i] = client(i);
	if (ops->status(c[0], OP_MS, &st, &o, err, sizeof(err)) < 0)
		fail_msg("status: %s", err);
	snprintf(old, sizeof(old), "%s", st.leader);
	term0 = st.term;
	for (size_t i = 0; i < N; i++)
		if (!strcmp(names[i], old))
			li = i;
	assert_true(li < N);
	for (size_t i = 0; i < N; i++)
		if (i != li)
			survivors[ns++] = i;

	/* down-after, the sentinels' vote and the promotion, with room for a slow (TCG) machine */
	bound = 4 * (int64_t)g.down_after_ms * FL_NS_PER_MS +
		2 * (int64_t)g.failover_ms * FL_NS_PER_MS + 10 * FL_NS_PER_S;
	assert_int_equal(kill(g.pids[li], SIGKILL), 0);
	assert_int_equal(waitpid(g.pids[li], NULL, 0), g.pids[li]);
	g.pids[li] = 0;
	t0 = now_ns();
	print_message("killed the primary %s (redis-server only; its sentinel runs on), "
		      "config epoch %" PRIu64 "\n", old, term0);

	/* every sentinel, the dead primary's one too, names the same new primary */
	while (!t_leader) {
		int agree = 1;

		now_leader[0] = '\0';
		for (size_t i = 0; i < N && agree; i++) {
			struct fl_sys_status s2;

			if (ops->status(c[i], 1000, &s2, &o, err, sizeof(err)) < 0 || !s2.leader[0] ||
			    !strcmp(s2.leader, old) || (now_leader[0] && strcmp(now_leader, s2.leader)))
				agree = 0;
			else
				snprintf(now_leader, sizeof(now_leader), "%s", s2.leader);
			if (agree && s2.term <= term0)
				fail_msg("%s names %s with config epoch %" PRIu64 ", not above %" PRIu64,
					 names[i], s2.leader, s2.term, term0);
		}
		if (agree)
			t_leader = now_ns();
		else if (now_ns() - t0 > bound) {
			print_logs();
			fail_msg("no new primary within %.1f s of killing %s",
				 (double)bound / FL_NS_PER_S, old);
		} else
			usleep(50000);
	}
	/* and a write through a survivor succeeds (its client re-asks its sentinel) */
	w = survivors[0];
	while (!t_write) {
		if (ops->put(c[w], "after-failover", "x", 2000, &o, err, sizeof(err)) == 0)
			t_write = now_ns();
		else if (now_ns() - t0 > bound)
			fail_msg("no successful write within %.1f s of killing %s: %s (%s)",
				 (double)bound / FL_NS_PER_S, old, err, fl_outcome_to_string(o));
		else
			usleep(50000);
	}
	print_message("failover: new primary %s after %.2f s, first write after %.2f s "
		      "(down-after %u ms, bound %.1f s)\n", now_leader,
		      (double)(t_leader - t0) / FL_NS_PER_S, (double)(t_write - t0) / FL_NS_PER_S,
		      g.down_after_ms, (double)bound / FL_NS_PER_S);

	if (getenv("FL_KT_LOGS"))
		print_logs();
	/* the dead node's own server: refused before anything was sent */
	{
		char *v = NULL;

		assert_true(ops->get(c[li], "k1", 1, 1000, &v, &o, err, sizeof(err)) < 0);
		assert_int_equal(o, FL_OUTCOME_FAIL);
		print_message("serializable read on the dead node: %s (%s)\n", err,
			      fl_outcome_to_string(o));
	}
	/* its clients follow its sentinel to the new primary */
	if (ops->put(c[li], "via-dead-node", "y", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("write through the dead node's sentinel: %s (%s)", err,
			 fl_outcome_to_string(o));
	for (size_t i = 0; i < N; i++)
		ops->client_close(c[i]);
	/* and the survivors hold the same data */
	{
		char hex[FL_DIGEST_HEX];
		size_t nk;

		digests_agree(survivors, ns, hex, &nk);
		assert_int_equal(nk, 7);
	}
}

/* --- 4. nothing left behind ------------------------------------------------------------- */

static void test_stop_leaves_nothing(void **state)
{
	pid_t pids[N], spids[N];
	json_t *list = NULL;
	char err[512];

	(void)state;
	if (g.skip[0])
		skip();
	memcpy(pids, g.pids, sizeof(pids));
	memcpy(spids, g.spids, sizeof(spids));
	stop_all();
	for (size_t i = 0; i < N; i++) {
		if (pids[i] > 0)
			assert_true(kill(pids[i], 0) < 0 && errno == ESRCH);
		if (spids[i] > 0)
			assert_true(kill(spids[i], 0) < 0 && errno == ESRCH);
	}
	if (g.c && fl_netns_down(g.c, err, sizeof(err)) < 0)
		fail_msg("down: %s", err);
	fl_netns_cluster_free(g.c);
	g.c = NULL;
	if (fl_netns_list(&list, err, sizeof(err)) < 0)
		fail_msg("list: %s", err);
	assert_int_equal(json_array_size(json_object_get(list, "namespaces")), 0);
	assert_int_equal(json_array_size(json_object_get(list, "links")), 0);
	json_decref(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_ready),
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_status_same_leader),
		cmocka_unit_test(test_digests_equal),
		cmocka_unit_test(test_primary_kill_failover),
		cmocka_unit_test(test_stop_leaves_nothing),
	};

	return cmocka_run_group_tests_name("redis adapter (kernel)", tests, group_setup,
					   group_teardown);
}
