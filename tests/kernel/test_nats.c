/*
 * tests/kernel/test_nats.c: the nats adapter against a real 3-node
 * JetStream cluster (nats-server 2.9) on the netns provider. In order, on
 * one cluster: it comes up (the stream made, one leader named through every
 * node, every replica current); adds through one node are read back from
 * every node; with the leader and the other follower stopped (SIGSTOP) a
 * follower cannot answer a read (fail) and a publish through it times out
 * (info); the digests agree; after
 * SIGKILL of the stream leader a survivor leads and takes writes (the time
 * is printed), and the killed node, restarted on its data, holds every
 * acknowledged element. Runs in a private network and mount namespace
 * (as test_redis.c); skips when not root or nats-server is missing.
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

static const char *const names[N] = { "n1", "n2", "n3" };
static const struct fl_system_ops *ops = &fl_nats_ops;

static struct {
	char skip[300];
	char tmp[PATH_MAX];
	char state[PATH_MAX + 16];
	char data[PATH_MAX + 16];
	struct fl_scenario *s;
	struct fl_netns_cluster *c;
	uint32_t addrs[N];
	pid_t pids[N];
	struct fl_sys_nodes nodes;
	int ready;
	struct fl_argv acked;      /* every element acknowledged to s0 */
} g;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static void print_logs(void)
{
	for (size_t i = 0; i < N; i++) {
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd), "echo '--- %s'; tail -n 15 '%s/%s.log'", names[i], g.tmp,
			 names[i]);
		if (system(cmd) != 0)
			print_message("(no log of %s)\n", names[i]);
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
		fail_msg("the nats cluster did not come up (see the first test)");
}

static int group_setup(void **state)
{
	struct fl_diags d = { 0 };
	static const char yaml[] = "name: nats-kt\nduration: 1m\ncluster: {nodes: 3}\n"
				   "system: {type: nats, ready_timeout: 60s}\nworkload: {type: set}\n";

	(void)state;
	if (geteuid() != 0) {
		snprintf(g.skip, sizeof(g.skip), "needs root for network namespaces (euid %d); run "
			 "it in the test VM: tests/vm/run -- ...", (int)geteuid());
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (system("command -v nats-server >/dev/null 2>&1") != 0) {
		snprintf(g.skip, sizeof(g.skip), "nats-server is not installed "
			 "(apt-get install nats-server)");
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fl-kt-nats", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		print_error("private /run: %s\n", strerror(errno));
		return -1;
	}
	snprintf(g.tmp, sizeof(g.tmp), "/tmp/fl-nats-kt-XXXXXX");
	if (!mkdtemp(g.tmp))
		return -1;
	snprintf(g.state, sizeof(g.state), "%s/state", g.tmp);
	snprintf(g.data, sizeof(g.data), "%s/data", g.tmp);
	if (mkdir(g.data, 0700) < 0)
		return -1;
	if (fl_scenario_load_string("nats-kt.yaml", yaml, sizeof(yaml) - 1, NULL, 0, &d, &g.s) < 0) {
		fl_diags_release(&d);
		return -1;
	}
	fl_diags_release(&d);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void stop_node(size_t i, int sig)
{
	if (g.pids[i] <= 0)
		return;
	kill(g.pids[i], SIGCONT);
	kill(g.pids[i], sig);
	waitpid(g.pids[i], NULL, 0);
	g.pids[i] = 0;
}

static int group_teardown(void **state)
{
	char err[512];

	(void)state;
	if (g.skip[0])
		return 0;
	for (size_t i = 0; i < N; i++)
		stop_node(i, SIGKILL);
	if (g.c && fl_netns_down(g.c, err, sizeof(err)) < 0)
		print_error("teardown: down: %s\n", err);
	fl_netns_cluster_free(g.c);
	if (g.state[0] && fl_netns_down_from_state(g.state, err, sizeof(err)) < 0)
		print_error("teardown: down from '%s': %s\n", g.state, err);
	if (g.tmp[0])
		nftw(g.tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fl_scenario_free(g.s);
	fl_strv_free(fl_argv_take(&g.acked));
	return 0;
}

static void start_node(size_t i)
{
	char **argv = NULL, log[PATH_MAX + 32], err[512];
	int fd, r;

	if (ops->node_argv(g.s, &g.nodes, i, &argv, err, sizeof(err)) < 0)
		fail_msg("argv of %s: %s", names[i], err);
	snprintf(log, sizeof(log), "%s/%s.log", g.tmp, names[i]);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	r = fl_netns_spawn(g.c, i, argv, -1, fd, fd, &g.pids[i], err, sizeof(err));
	close(fd);
	fl_strv_free(argv);
	if (r < 0)
		fail_msg("spawn %s: %s", names[i], err);
}

static void test_cluster_ready(void **state)
{
	struct fl_netns_spec spec = { .id = "ktn", .nnodes = N, .names = names,
				      .state_dir = g.state };
	char err[512], leader[FL_NODE_NAME_MAX + 1] = "";
	int64_t t0;

	(void)state;
	if (g.skip[0])
		skip();
	if (fl_netns_up(&spec, &g.c, err, sizeof(err)) < 0)
		fail_msg("netns up: %s", err);
	for (size_t i = 0; i < N; i++)
		g.addrs[i] = fl_netns_node_addr(g.c, i);
	g.nodes = (struct fl_sys_nodes){ .n = N, .names = names, .addrs = g.addrs,
					 .data_root = g.data, .token = "fl-ktn", .pids = g.pids,
					 .s = g.s };
	t0 = now_ns();
	for (size_t i = 0; i < N; i++)
		start_node(i);
	if (ops->wait_ready(&g.nodes, g.s->system.ready_timeout_ns, leader, sizeof(leader), err,
			    sizeof(err)) < 0) {
		print_logs();
		fail_msg("wait_ready: %s", err);
	}
	print_message("cluster ready in %.2f s, stream leader %s\n",
		      (double)(now_ns() - t0) / FL_NS_PER_S, leader);
	g.ready = 1;
}

static void add_ok(struct fl_sys_client *c, const char *key, const char *elem)
{
	enum fl_outcome o;
	char err[256];

	if (ops->add(c, key, elem, OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("add %s to %s: %s (%s)", elem, key, err, fl_outcome_to_string(o));
	assert_int_equal(o, FL_OUTCOME_OK);
	if (!strcmp(key, "s0"))
		fl_argv_add(&g.acked, elem);
}

/* Node i's own read of s0 holds every acknowledged element (retried while
 * its replica catches up, at most 20 s); prints how many it holds. */
static void holds_all_acked(size_t i)
{
	struct fl_sys_client *c = client(i);
	int64_t end = now_ns() + 20 * FL_NS_PER_S;
	const char *missing = NULL;
	size_t n = 0;

	for (;;) {
		char **v = NULL, err[256];
		enum fl_outcome o;

		missing = "(no answer)";
		if (ops->read_set(c, "s0", 1, OP_MS, &v, &o, err, sizeof(err)) == 0) {
			missing = NULL;
			n = fl_strv_len(v);
			for (size_t k = 0; k < g.acked.n && !missing; k++) {
				int found = 0;

				for (size_t j = 0; v[j] && !found; j++)
					found = !strcmp(v[j], g.acked.v[k]);
				if (!found)
					missing = g.acked.v[k];
			}
		}
		fl_strv_free(v);
		if (!missing || now_ns() > end)
			break;
		usleep(200000);
	}
	ops->client_close(c);
	if (missing)
		fail_msg("%s's own read of s0 lacks the acknowledged '%s'", names[i], missing);
	print_message("%s holds all %zu acknowledged elements of s0 (%zu read)\n", names[i],
		      g.acked.n, n);
}

static void test_adds_read_back_everywhere(void **state)
{
	struct fl_sys_client *c;
	struct fl_sys_status st[N];
	enum fl_outcome o;
	char err[256], e[16];

	(void)state;
	need_cluster();
	c = client(2);
	for (int k = 0; k < 20; k++) {
		snprintf(e, sizeof(e), "a%d", k);
		add_ok(c, k % 5 ? "s0" : "s1", e);
	}
	ops->client_close(c);
	for (size_t i = 0; i < N; i++)
		holds_all_acked(i);
	for (size_t i = 0; i < N; i++) {
		c = client(i);
		if (ops->status(c, OP_MS, &st[i], &o, err, sizeof(err)) < 0)
			fail_msg("status of %s: %s", names[i], err);
		ops->client_close(c);
		assert_string_equal(st[i].node, names[i]);
		assert_string_equal(st[i].leader, st[0].leader);
		assert_int_equal(st[i].member_id, i + 1);
		assert_int_equal(st[i].index, 20);
	}
}

/* A follower whose two peers (the leader among them) are stopped: its
 * read does not come from its own replica (nats 2.9.10: no answer; see
 * nats.c) and fails, and a publish through it gets no ack (info). */
static void test_alone_follower(void **state)
{
	struct fl_sys_client *c;
	struct fl_sys_status st;
	enum fl_outcome o = FL_OUTCOME_OK, ro = FL_OUTCOME_OK;
	char err[256], rerr[256] = "", **v = NULL;
	size_t f;
	int r, rr;

	(void)state;
	need_cluster();
	c = client(0);
	if (ops->status(c, OP_MS, &st, &o, err, sizeof(err)) < 0)
		fail_msg("status: %s", err);
	ops->client_close(c);
	f = st.leader_id % N; /* the node after the leader: a follower */
	c = client(f);
	for (size_t i = 0; i < N; i++)
		if (i != f)
			kill(g.pids[i], SIGSTOP);
	rr = ops->read_set(c, "s0", 1, 1000, &v, &ro, rerr, sizeof(rerr));
	r = ops->add(c, "s0", "while-alone", 1000, &o, err, sizeof(err));
	for (size_t i = 0; i < N; i++)
		kill(g.pids[i], SIGCONT);
	print_message("follower %s alone (leader %s stopped): read: %s (%s); publish: %s (%s)\n",
		      names[f], st.leader, rr ? rerr : "answered", fl_outcome_to_string(ro), err,
		      fl_outcome_to_string(o));
	fl_strv_free(v);
	assert_int_equal(rr, -ETIMEDOUT);
	assert_int_equal(ro, FL_OUTCOME_FAIL);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(o, FL_OUTCOME_INFO);
	ops->client_close(c);
}

static void test_digests_agree(void **state)
{
	char hex[N][FL_DIGEST_HEX], err[256];
	int64_t rev[N], end = now_ns() + 20 * FL_NS_PER_S;
	size_t nk[N];

	(void)state;
	need_cluster();
	for (;;) {
		int same = 1;

		for (size_t i = 0; i < N; i++) {
			struct fl_sys_client *c = client(i);

			if (ops->digest(c, OP_MS, hex[i], &rev[i], &nk[i], err, sizeof(err)) < 0)
				fail_msg("digest of %s: %s", names[i], err);
			ops->client_close(c);
			same &= !strcmp(hex[i], hex[0]);
		}
		if (same)
			break;
		if (now_ns() > end)
			fail_msg("digests differ after 20 s: %s@%" PRId64 " %s@%" PRId64 " %s@%" PRId64,
				 hex[0], rev[0], hex[1], rev[1], hex[2], rev[2]);
		usleep(200000);
	}
	/* 20 adds, and the one made while alone if it went in after all */
	assert_true(rev[0] == 20 || rev[0] == 21);
	print_message("digests agree: %s at sequence %" PRId64 "\n", hex[0], rev[0]);
}

static void test_leader_kill_failover(void **state)
{
	struct fl_sys_client *c[N] = { 0 };
	struct fl_sys_status st;
	enum fl_outcome o;
	char err[256], old[FL_NODE_NAME_MAX + 1], e[16];
	int64_t t0, t_write = 0;
	size_t li = N, w = N;

	(void)state;
	need_cluster();
	for (size_t i = 0; i < N; i++)
		c[i] = client(i);
	/* the cluster may still be settling after the stops above */
	t0 = now_ns();
	while (ops->status(c[0], OP_MS, &st, &o, err, sizeof(err)) < 0 || !st.leader_id) {
		if (now_ns() - t0 > 30 * FL_NS_PER_S)
			fail_msg("no stream leader named within 30 s: %s", err);
		usleep(200000);
	}
	snprintf(old, sizeof(old), "%s", st.leader);
	li = st.leader_id - 1;
	assert_true(li < N);
	w = (li + 1) % N;
	stop_node(li, SIGKILL);
	t0 = now_ns();
	for (int k = 0; !t_write; k++) {
		snprintf(e, sizeof(e), "f%d", k);
		if (ops->add(c[w], "s0", e, 2000, &o, err, sizeof(err)) == 0) {
			fl_argv_add(&g.acked, e);
			t_write = now_ns();
		} else if (now_ns() - t0 > 45 * FL_NS_PER_S) {
			print_logs();
			fail_msg("no acknowledged write within 45 s of killing %s: %s", old, err);
		} else {
			usleep(100000);
		}
	}
	if (ops->status(c[w], OP_MS, &st, &o, err, sizeof(err)) < 0)
		fail_msg("status after failover: %s", err);
	print_message("killed the stream leader %s: new leader %s, first acknowledged write "
		      "after %.2f s\n", old, st.leader, (double)(t_write - t0) / FL_NS_PER_S);
	assert_string_not_equal(st.leader, old);
	for (size_t i = 0; i < N; i++)
		ops->client_close(c[i]);
	/* back on its data: it catches up and holds everything acknowledged */
	start_node(li);
	holds_all_acked(li);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_ready),
		cmocka_unit_test(test_adds_read_back_everywhere),
		cmocka_unit_test(test_alone_follower),
		cmocka_unit_test(test_digests_agree),
		cmocka_unit_test(test_leader_kill_failover),
	};

	return cmocka_run_group_tests_name("nats adapter on a 3-node JetStream cluster (kernel)",
					   tests, group_setup, group_teardown);
}
