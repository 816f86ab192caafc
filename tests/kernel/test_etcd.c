/*
 * tests/kernel/test_etcd.c: the etcd adapter against a real 3-node etcd
 * cluster on the netns provider. The tests run in order on one cluster:
 * it comes up and elects a leader; put/get round trip (linearizable read
 * on another node); compare-and-set success and definite failure; every
 * node names the same leader; digests agree; after SIGKILL of the leader a
 * new one is elected and writes succeed again within a bound; stopping
 * everything leaves no process, namespace or link behind.
 * Runs in a private network and mount namespace with its own tmpfs /run
 * (as test_netns.c); skips when not root or when etcd is not installed.
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
#define OP_MS 5000 /* per request: etcd under qemu TCG is slow */

static const char scenario_yaml[] =
	"name: etcd-kt\n"
	"duration: 1m\n"
	"cluster: {nodes: 3}\n"
	"system: {type: etcd, ready_timeout: 60s}\n";

static const char *const names[N] = { "n1", "n2", "n3" };

static struct {
	char skip[300];
	char tmp[PATH_MAX];       /* mkdtemp: state/, data/, n*.log */
	char state[PATH_MAX + 16];
	char data[PATH_MAX + 16];
	struct fl_scenario *s;
	struct fl_netns_cluster *c;
	uint32_t addrs[N];
	pid_t pids[N];
	struct fl_sys_nodes nodes;
	int ready;
	unsigned hb_ms, el_ms;
} g;

static const struct fl_system_ops *ops = &fl_etcd_ops;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static int find_etcd(char *path, size_t len)
{
	const char *p = getenv("PATH");
	char *dirs = strdup(p && *p ? p : "/usr/bin:/bin"), *save = NULL;
	int found = 0;

	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/etcd", d);
		found = access(path, X_OK) == 0;
	}
	free(dirs);
	return found;
}

static void print_log_tail(size_t i)
{
	char path[PATH_MAX + 16], line[512];
	long lines = 0, k = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.log", g.tmp, names[i]);
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
		fail_msg("the etcd cluster did not come up (see the first test)");
}

/* --- setup ------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct fl_diags d = { 0 };
	char etcd[PATH_MAX];

	(void)state;
	if (geteuid() != 0) {
		snprintf(g.skip, sizeof(g.skip),
			 "needs root for network namespaces (euid %d); run it in the test VM: "
			 "tests/vm/run -- ...", (int)geteuid());
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (!find_etcd(etcd, sizeof(etcd))) {
		snprintf(g.skip, sizeof(g.skip), "etcd is not installed (apt-get install etcd-server)");
		print_message("skipping: %s\n", g.skip);
		return 0;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	/* our mounts stay ours; a tmpfs /run hides the host's /run/netns from us */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fl-kt-etcd", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
		print_error("private /run: %s\n", strerror(errno));
		return -1;
	}
	snprintf(g.tmp, sizeof(g.tmp), "/tmp/fl-etcd-kt-XXXXXX");
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
	if (fl_scenario_load_string("etcd-kt.yaml", scenario_yaml, sizeof(scenario_yaml) - 1, NULL,
				    0, &d, &g.s) < 0) {
		print_error("scenario did not load\n");
		fl_diags_release(&d);
		return -1;
	}
	fl_diags_release(&d);
	fl_etcd_timing(g.s, &g.hb_ms, &g.el_ms);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void stop_all(void)
{
	for (size_t i = 0; i < N; i++)
		if (g.pids[i] > 0)
			kill(g.pids[i], SIGTERM);
	for (size_t i = 0; i < N; i++) {
		int64_t end = now_ns() + 5 * FL_NS_PER_S;

		if (g.pids[i] <= 0)
			continue;
		while (waitpid(g.pids[i], NULL, WNOHANG) == 0) {
			if (now_ns() > end) {
				kill(g.pids[i], SIGKILL);
				waitpid(g.pids[i], NULL, 0);
				break;
			}
			usleep(20000);
		}
		g.pids[i] = 0;
	}
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

static void test_cluster_ready(void **state)
{
	struct fl_netns_spec spec = { .id = "kte", .nnodes = N, .names = names,
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
					 .data_root = g.data, .token = "fl-kte", .pids = g.pids };

	t0 = now_ns();
	for (size_t i = 0; i < N; i++) {
		char **argv = NULL, log[PATH_MAX + 16];
		int fd;

		if (ops->node_argv(g.s, &g.nodes, i, &argv, err, sizeof(err)) < 0)
			fail_msg("argv of %s: %s", names[i], err);
		snprintf(log, sizeof(log), "%s/%s.log", g.tmp, names[i]);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		r = fl_netns_spawn(g.c, i, argv, -1, fd, fd, &g.pids[i], err, sizeof(err));
		close(fd);
		fl_strv_free(argv);
		if (r < 0)
			fail_msg("spawn etcd in %s: %s", names[i], err);
	}
	r = ops->wait_ready(&g.nodes, g.s->system.ready_timeout_ns, leader, sizeof(leader), err,
			    sizeof(err));
	if (r < 0) {
		for (size_t i = 0; i < N; i++)
			print_log_tail(i);
		fail_msg("wait_ready: %s", err);
	}
	print_message("cluster ready in %.2f s (heartbeat %u ms, election %u ms), leader %s\n",
		      (double)(now_ns() - t0) / FL_NS_PER_S, g.hb_ms, g.el_ms, leader);
	assert_true(leader[0]);
	g.ready = 1;
}

/* --- 2. client operations ------------------------------------------------------------- */

static void test_put_get(void **state)
{
	struct fl_sys_client *c1, *c3;
	enum fl_outcome o;
	char err[256], *v = NULL;

	(void)state;
	need_cluster();
	c1 = client(0);
	c3 = client(2);
	if (ops->put(c1, "k1", "v1", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s (%s)", err, fl_outcome_to_string(o));
	assert_int_equal(o, FL_OUTCOME_OK);
	if (ops->get(c1, "k1", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get on n1: %s", err);
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_non_null(v);
	assert_string_equal(v, "v1");
	free(v);
	/* linearizable read on another node sees the acknowledged write */
	if (ops->get(c3, "k1", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get on n3: %s", err);
	assert_non_null(v);
	assert_string_equal(v, "v1");
	free(v);
	/* a value with bytes JSON and base64 must carry */
	if (ops->put(c3, "k/ü \"q\"", "a\tb=c{}", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s", err);
	if (ops->get(c1, "k/ü \"q\"", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("serializable get: %s", err);
	/* serializable on the node that took the write's leader-side ack may lag: only check
	 * the type of answer here; the linearizable one must be exact */
	free(v);
	if (ops->get(c1, "k/ü \"q\"", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get: %s", err);
	assert_non_null(v);
	assert_string_equal(v, "a\tb=c{}");
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
	/* the compare fails now: a definite failure, nothing written */
	assert_int_equal(ops->cas(c, "reg", "a", "c", OP_MS, &o, err, sizeof(err)), -ECANCELED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("cas failure says: %s\n", err);
	/* and on a key that does not exist */
	assert_int_equal(ops->cas(c, "reg-none", "a", "c", OP_MS, &o, err, sizeof(err)),
			 -ECANCELED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	if (ops->get(c, "reg", 0, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("get: %s", err);
	assert_non_null(v);
	assert_string_equal(v, "b");
	free(v);
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
		print_message("%s: leader %s (id %" PRIx64 "), member %" PRIx64 ", term %" PRIu64
			      ", index %" PRIu64 ", revision %" PRId64 "\n",
			      st[i].node, st[i].leader, st[i].leader_id, st[i].member_id, st[i].term,
			      st[i].index, st[i].revision);
		assert_string_equal(st[i].node, names[i]);
		assert_true(st[i].leader[0]);
		assert_string_equal(st[i].leader, st[0].leader);
		assert_true(st[i].leader_id == st[0].leader_id);
		assert_true(st[i].term == st[0].term && st[i].term > 0);
		assert_true(st[i].member_id != 0);
	}
	/* member ids differ */
	assert_true(st[0].member_id != st[1].member_id && st[1].member_id != st[2].member_id &&
		    st[0].member_id != st[2].member_id);
}

/* Every node's digest, retried until they agree (followers apply a little later). */
static void digests_agree(char out[FL_DIGEST_HEX], size_t *nkeys)
{
	int64_t end = now_ns() + 10 * FL_NS_PER_S;
	char hex[N][FL_DIGEST_HEX], err[256];
	int64_t rev[N];
	size_t nk[N];

	for (;;) {
		int same = 1;

		for (size_t i = 0; i < N; i++) {
			struct fl_sys_client *c = client(i);

			if (ops->digest(c, OP_MS, hex[i], &rev[i], &nk[i], err, sizeof(err)) < 0)
				fail_msg("digest of %s: %s", names[i], err);
			ops->client_close(c);
			same &= strcmp(hex[i], hex[0]) == 0;
		}
		if (same)
			break;
		if (now_ns() > end)
			fail_msg("digests still differ after 10 s: %s@%" PRId64 " %s@%" PRId64
				 " %s@%" PRId64, hex[0], rev[0], hex[1], rev[1], hex[2], rev[2]);
		usleep(200000);
	}
	for (size_t i = 0; i < N; i++)
		print_message("%s: digest %s, revision %" PRId64 ", %zu keys\n", names[i], hex[i],
			      rev[i], nk[i]);
	memcpy(out, hex[0], FL_DIGEST_HEX);
	*nkeys = nk[0];
}

static void test_digests_equal(void **state)
{
	char before[FL_DIGEST_HEX], after[FL_DIGEST_HEX], err[256];
	size_t nb, na;
	struct fl_sys_client *c;
	enum fl_outcome o;

	(void)state;
	need_cluster();
	digests_agree(before, &nb);
	assert_int_equal(nb, 3); /* k1, the odd key, reg */
	/* more keys than one page of the digest's range reads would hold is not needed to
	 * prove paging; one more key must change the digest */
	c = client(0);
	if (ops->put(c, "k2", "v2", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("put: %s", err);
	ops->client_close(c);
	digests_agree(after, &na);
	assert_int_equal(na, 4);
	assert_string_not_equal(before, after);
}

/* --- 3. failover ---------------------------------------------------------------------- */

static void test_leader_kill_failover(void **state)
{
	struct fl_sys_client *c[N] = { 0 };
	char err[256], old[FL_NODE_NAME_MAX + 1] = "", now_leader[FL_NODE_NAME_MAX + 1] = "";
	int64_t t0, t_leader = 0, t_write = 0, bound;
	size_t li = N;
	struct fl_sys_status st;
	enum fl_outcome o;

	(void)state;
	need_cluster();
	for (size_t i = 0; i < N; i++)
		c[i] = client(i);
	if (ops->status(c[0], OP_MS, &st, &o, err, sizeof(err)) < 0)
		fail_msg("status: %s", err);
	snprintf(old, sizeof(old), "%s", st.leader);
	for (size_t i = 0; i < N; i++)
		if (!strcmp(names[i], old))
			li = i;
	assert_true(li < N);

	/* election timeout x a few, plus room for a slow (TCG) machine */
	bound = 6 * (int64_t)g.el_ms * FL_NS_PER_MS + 5 * FL_NS_PER_S;
	assert_int_equal(kill(g.pids[li], SIGKILL), 0);
	assert_int_equal(waitpid(g.pids[li], NULL, 0), g.pids[li]);
	g.pids[li] = 0;
	t0 = now_ns();
	print_message("killed the leader %s (term %" PRIu64 ")\n", old, st.term);

	/* both survivors name the same new leader */
	while (!t_leader) {
		int agree = 1;

		now_leader[0] = '\0';
		for (size_t i = 0; i < N && agree; i++) {
			struct fl_sys_status s2;

			if (i == li)
				continue;
			if (ops->status(c[i], 1000, &s2, &o, err, sizeof(err)) < 0 || !s2.leader[0] ||
			    !strcmp(s2.leader, old) || (now_leader[0] && strcmp(now_leader, s2.leader)))
				agree = 0;
			else
				snprintf(now_leader, sizeof(now_leader), "%s", s2.leader);
		}
		if (agree)
			t_leader = now_ns();
		else if (now_ns() - t0 > bound)
			fail_msg("no new leader within %.1f s of killing %s",
				 (double)bound / FL_NS_PER_S, old);
		else
			usleep(50000);
	}
	/* and a write through a survivor succeeds */
	while (!t_write) {
		size_t w = li == 0 ? 1 : 0;

		if (ops->put(c[w], "after-failover", "x", 2000, &o, err, sizeof(err)) == 0)
			t_write = now_ns();
		else if (now_ns() - t0 > bound)
			fail_msg("no successful write within %.1f s of killing %s: %s (%s)",
				 (double)bound / FL_NS_PER_S, old, err, fl_outcome_to_string(o));
		else
			usleep(50000);
	}
	print_message("failover: new leader %s after %.2f s, first write after %.2f s "
		      "(bound %.1f s)\n", now_leader, (double)(t_leader - t0) / FL_NS_PER_S,
		      (double)(t_write - t0) / FL_NS_PER_S, (double)bound / FL_NS_PER_S);

	/* the dead node: a definite failure, refused before anything was sent */
	assert_true(ops->put(c[li], "k", "v", 1000, &o, err, sizeof(err)) < 0);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("write to the dead node: %s (%s)\n", err, fl_outcome_to_string(o));
	for (size_t i = 0; i < N; i++)
		ops->client_close(c[i]);
}

/* --- 4. nothing left behind ------------------------------------------------------------- */

static void test_stop_leaves_nothing(void **state)
{
	pid_t pids[N];
	json_t *list = NULL;
	char err[512];

	(void)state;
	if (g.skip[0])
		skip();
	memcpy(pids, g.pids, sizeof(pids));
	stop_all();
	for (size_t i = 0; i < N; i++)
		if (pids[i] > 0)
			assert_true(kill(pids[i], 0) < 0 && errno == ESRCH);
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
		cmocka_unit_test(test_status_same_leader),
		cmocka_unit_test(test_digests_equal),
		cmocka_unit_test(test_leader_kill_failover),
		cmocka_unit_test(test_stop_leaves_nothing),
	};

	return cmocka_run_group_tests_name("etcd adapter (kernel)", tests, group_setup,
					   group_teardown);
}
