/*
 * tests/unit/test_nats.c: the nats adapter. The pure parts (argv, the
 * outcome table) directly; the outcomes of a publish against a real
 * nats-server alone on a loopback address (no root, no namespace): acked
 * (ok), refused (fail: nothing listens), no responders (fail: no stream
 * covers the subject), timed out (info: the server stopped with SIGSTOP
 * after it had the connection). The server tests skip when nats-server is
 * not installed (apt-get install nats-server).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <nats/nats.h>

#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"

#define OP_MS 3000

static const struct fl_system_ops *ops = &fl_nats_ops;
static const char *const names3[] = { "n1", "n2", "n3" };
static const uint32_t addrs3[] = { (10u << 24) | 2, (10u << 24) | 3, (10u << 24) | 4 };
static const char *const name1[] = { "n1" };

static struct {
	char skip[200];
	char tmp[64];
	uint32_t addr;             /* 127.77.x.1, x from the pid: parallel runs do not meet */
	uint32_t dead;             /* 127.77.x.2: nothing listens */
	pid_t pid;
	struct fl_sys_nodes nodes;
	struct fl_sys_nodes dead_nodes;
} g;

static struct fl_scenario *load(const char *yaml)
{
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;

	if (fl_scenario_load_string("t.yaml", yaml, strlen(yaml), NULL, 0, &d, &s) < 0)
		fail_msg("scenario did not load: %s", d.n ? d.v[0].msg : "?");
	fl_diags_release(&d);
	return s;
}

/* --- pure parts ----------------------------------------------------------------------- */

static void test_node_argv(void **state)
{
	struct fl_scenario *s = load("name: t\nduration: 1m\nsystem:\n  type: nats\n"
				     "  args: ['--max_payload={port}']\nworkload: {type: set}\n");
	struct fl_sys_nodes n = { .n = 3, .names = names3, .addrs = addrs3, .data_root = "/d",
				  .token = "tok" };
	const char *want[] = {
		"nats-server", "-n", "n2", "-a", "10.0.0.3", "-p", "4222", "-js", "-sd", "/d/n2",
		"--cluster", "nats://10.0.0.3:6222", "--cluster_name", "tok",
		"--routes", "nats://10.0.0.2:6222,nats://10.0.0.4:6222", "--max_payload=4222", NULL
	};
	char **argv = NULL, err[256];
	size_t k;

	(void)state;
	assert_string_equal(s->system.binary, "nats-server");
	assert_int_equal(ops->node_argv(s, &n, 1, &argv, err, sizeof(err)), 0);
	for (k = 0; want[k]; k++) {
		assert_non_null(argv[k]);
		assert_string_equal(argv[k], want[k]);
	}
	assert_null(argv[k]);
	fl_strv_free(argv);
	assert_int_equal(ops->node_argv(s, &n, 3, &argv, err, sizeof(err)), -EINVAL);
	fl_scenario_free(s);
}

static void test_outcome_table(void **state)
{
	enum fl_outcome o;

	(void)state;
	assert_int_equal(fl_nats_outcome(NATS_OK, 0, 1, &o), 0);
	assert_int_equal(o, FL_OUTCOME_OK);
	/* a write whose ack did not come: unknown; a read: failed */
	assert_int_equal(fl_nats_outcome(NATS_TIMEOUT, 0, 1, &o), -ETIMEDOUT);
	assert_int_equal(o, FL_OUTCOME_INFO);
	assert_int_equal(fl_nats_outcome(NATS_TIMEOUT, 0, 0, &o), -ETIMEDOUT);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_int_equal(fl_nats_outcome(NATS_CONNECTION_CLOSED, 0, 1, &o), -ECONNRESET);
	assert_int_equal(o, FL_OUTCOME_INFO);
	/* nobody received it, or it never went out */
	assert_int_equal(fl_nats_outcome(NATS_NO_RESPONDERS, 0, 1, &o), -EHOSTUNREACH);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_int_equal(fl_nats_outcome(NATS_NO_SERVER, 0, 1, &o), -ECONNREFUSED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	/* jetstream refusals made before the proposal, and the others */
	assert_int_equal(fl_nats_outcome(NATS_ERR, JSStreamNotFoundErr, 1, &o), -EPERM);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_int_equal(fl_nats_outcome(NATS_ERR, JSStreamWrongLastSequenceErr, 1, &o), -EPERM);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_int_equal(fl_nats_outcome(NATS_ERR, JSStreamStoreFailedErr, 1, &o), -EIO);
	assert_int_equal(o, FL_OUTCOME_INFO);
	assert_int_equal(fl_nats_outcome(NATS_ERR, JSClusterNotAvailErr, 1, &o), -EIO);
	assert_int_equal(o, FL_OUTCOME_INFO);
	assert_int_equal(fl_nats_outcome(NATS_ERR, JSClusterNotAvailErr, 0, &o), -EIO);
	assert_int_equal(o, FL_OUTCOME_FAIL);
}

/* --- a real server on loopback ------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int server_setup(void **state)
{
	struct fl_sys_client *c = NULL;
	struct fl_sys_status st;
	enum fl_outcome o;
	char **argv = NULL, err[256] = "", log[96];
	int64_t end;

	(void)state;
	g.addr = (127u << 24) | (77u << 16) | ((unsigned)getpid() % 250 + 1) << 8 | 1;
	g.dead = g.addr + 1;
	g.nodes = (struct fl_sys_nodes){ .n = 1, .names = name1, .addrs = &g.addr };
	g.dead_nodes = (struct fl_sys_nodes){ .n = 1, .names = name1, .addrs = &g.dead };
	if (system("command -v nats-server >/dev/null 2>&1 || test -x /usr/sbin/nats-server") != 0) {
		snprintf(g.skip, sizeof(g.skip), "nats-server is not installed "
			 "(apt-get install nats-server)");
		return 0;
	}
	snprintf(g.tmp, sizeof(g.tmp), "/tmp/fl-nats-unit-XXXXXX");
	if (!mkdtemp(g.tmp))
		return -1;
	g.nodes.data_root = g.tmp;
	if (ops->node_argv(NULL, &g.nodes, 0, &argv, err, sizeof(err)) < 0) {
		print_error("argv: %s\n", err);
		return -1;
	}
	/* no stream yet: the no-responders case comes first */
	snprintf(log, sizeof(log), "%s/n1.log", g.tmp);
	g.pid = fork();
	if (g.pid == 0) {
		if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
			_exit(126);
		setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	fl_strv_free(argv);
	if (g.pid < 0)
		return -1;
	/* up when it takes a connection (the stream is not there: not found) */
	end = now_ms() + 10000;
	ops->client_open(&g.nodes, 0, &c, err, sizeof(err));
	while (ops->status(c, 500, &st, &o, err, sizeof(err)) == -ECONNREFUSED && now_ms() < end)
		usleep(50000);
	ops->client_close(c);
	return 0;
}

static int server_teardown(void **state)
{
	(void)state;
	if (g.pid > 0) {
		kill(g.pid, SIGCONT);
		kill(g.pid, SIGKILL);
		waitpid(g.pid, NULL, 0);
	}
	if (g.tmp[0])
		nftw(g.tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void need_server(void)
{
	if (g.skip[0]) {
		print_message("skipping: %s\n", g.skip);
		skip();
	}
}

static void test_refused(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o = FL_OUTCOME_OK;
	char err[256];
	char **v = NULL;

	(void)state;
	need_server();
	assert_int_equal(ops->client_open(&g.dead_nodes, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(ops->add(c, "s0", "e1", OP_MS, &o, err, sizeof(err)), -ECONNREFUSED);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("refused: %s\n", err);
	assert_true(ops->read_set(c, "s0", 1, OP_MS, &v, &o, err, sizeof(err)) < 0);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_null(v);
	ops->client_close(c);
}

static void test_no_responders(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o = FL_OUTCOME_OK;
	char err[256];

	(void)state;
	need_server();
	assert_int_equal(ops->client_open(&g.nodes, 0, &c, err, sizeof(err)), 0);
	/* the stream does not exist yet: nothing subscribes to fl.> */
	assert_int_equal(ops->add(c, "s0", "e0", OP_MS, &o, err, sizeof(err)), -EHOSTUNREACH);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	print_message("no responders: %s\n", err);
	ops->client_close(c);
}

static void test_ack_and_read(void **state)
{
	struct fl_sys_client *c = NULL;
	struct fl_sys_status st;
	enum fl_outcome o = FL_OUTCOME_FAIL;
	char err[256], leader[32] = "", hex[FL_DIGEST_HEX], hex2[FL_DIGEST_HEX];
	char **v = NULL;
	int64_t rev = 0;
	size_t nk = 0;

	(void)state;
	need_server();
	/* wait_ready makes the stream (one replica: one node) */
	if (ops->wait_ready(&g.nodes, 20 * FL_NS_PER_S, leader, sizeof(leader), err,
			    sizeof(err)) < 0)
		fail_msg("wait_ready: %s", err);
	assert_string_equal(leader, "n1");
	assert_int_equal(ops->client_open(&g.nodes, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(ops->digest(c, OP_MS, hex, &rev, &nk, err, sizeof(err)), 0);
	assert_int_equal(rev, 0);
	for (int k = 0; k < 5; k++) {
		char e[8];

		snprintf(e, sizeof(e), "e%d", k);
		if (ops->add(c, k == 3 ? "s1" : "s0", e, OP_MS, &o, err, sizeof(err)) < 0)
			fail_msg("add: %s", err);
		assert_int_equal(o, FL_OUTCOME_OK);
	}
	if (ops->read_set(c, "s0", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("read_set: %s", err);
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_int_equal(fl_strv_len(v), 4);
	assert_string_equal(v[0], "e0");
	assert_string_equal(v[3], "e4");
	fl_strv_free(v);
	assert_int_equal(ops->read_set(c, "none", 1, OP_MS, &v, &o, err, sizeof(err)), 0);
	assert_non_null(v);
	assert_null(v[0]);
	fl_strv_free(v);
	/* the head: 5 messages, the last e4 */
	assert_int_equal(ops->digest(c, OP_MS, hex2, &rev, &nk, err, sizeof(err)), 0);
	assert_int_equal(rev, 5);
	assert_int_equal(nk, 5);
	assert_string_not_equal(hex, hex2);
	assert_int_equal(ops->status(c, OP_MS, &st, &o, err, sizeof(err)), 0);
	assert_string_equal(st.leader, "n1");
	assert_int_equal(st.index, 5);
	assert_int_equal(st.term, 0);
	ops->client_close(c);
}

static void test_timeout_is_info(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o = FL_OUTCOME_OK;
	char err[256];
	int r, ws = 0;

	(void)state;
	need_server();
	assert_int_equal(ops->client_open(&g.nodes, 0, &c, err, sizeof(err)), 0);
	if (ops->add(c, "s0", "before", OP_MS, &o, err, sizeof(err)) < 0)
		fail_msg("add: %s", err);
	/* connected, then the server stops answering: the publish went out */
	kill(g.pid, SIGSTOP);
	/* stopped for sure (kill returns before every thread is): a reply
	 * sent in the gap made this test pass a publish as acknowledged */
	assert_int_equal(waitpid(g.pid, &ws, WUNTRACED), g.pid);
	assert_true(WIFSTOPPED(ws));
	r = ops->add(c, "s0", "during", 300, &o, err, sizeof(err));
	kill(g.pid, SIGCONT);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(o, FL_OUTCOME_INFO);
	print_message("timeout: %s\n", err);
	ops->client_close(c);
}

/* More elements than the scan keeps in flight (256), on three subjects
 * interleaved: every one comes back once, in publish order, only in its set. */
static void test_read_many(void **state)
{
	struct fl_sys_client *c = NULL;
	enum fl_outcome o = FL_OUTCOME_FAIL;
	char err[256];
	char **v = NULL;
	size_t before = 0;

	(void)state;
	need_server();
	assert_int_equal(ops->client_open(&g.nodes, 0, &c, err, sizeof(err)), 0);
	if (ops->read_set(c, "m1", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("read_set: %s", err);
	before = fl_strv_len(v);
	fl_strv_free(v);
	for (int k = 0; k < 700; k++) {
		char e[16], key[8];

		snprintf(e, sizeof(e), "m%d", k);
		snprintf(key, sizeof(key), "m%d", k % 3);
		if (ops->add(c, key, e, OP_MS, &o, err, sizeof(err)) < 0)
			fail_msg("add %d: %s", k, err);
	}
	if (ops->read_set(c, "m1", 1, OP_MS, &v, &o, err, sizeof(err)) < 0)
		fail_msg("read_set: %s", err);
	assert_int_equal(o, FL_OUTCOME_OK);
	assert_int_equal(fl_strv_len(v), before + 233);
	for (size_t i = before; v[i]; i++) {
		char want[16];

		snprintf(want, sizeof(want), "m%zu", 1 + 3 * (i - before));
		assert_string_equal(v[i], want);
	}
	fl_strv_free(v);
	ops->client_close(c);
}

/* A message deleted from the middle of the stream (faultline never does
 * this; a store that lost one would look the same): the read fails and says
 * where, rather than end the set at the hole and call the rest lost. */
static void test_hole_fails_read(void **state)
{
	struct fl_sys_client *c = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	enum fl_outcome o = FL_OUTCOME_OK;
	char err[256], url[64];
	char **v = NULL;

	(void)state;
	need_server();
	snprintf(url, sizeof(url), "nats://127.77.%u.1:%d", (g.addr >> 8) & 0xff, FL_NATS_PORT);
	assert_int_equal(natsConnection_ConnectTo(&nc, url), NATS_OK);
	assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
	assert_int_equal(js_DeleteMsg(js, FL_NATS_STREAM, 2, NULL, NULL), NATS_OK);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	assert_int_equal(ops->client_open(&g.nodes, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(ops->read_set(c, "s0", 1, OP_MS, &v, &o, err, sizeof(err)), -EPROTO);
	assert_int_equal(o, FL_OUTCOME_FAIL);
	assert_null(v);
	print_message("hole: %s\n", err);
	assert_non_null(strstr(err, "but not 2"));
	ops->client_close(c);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_node_argv),
		cmocka_unit_test(test_outcome_table),
	};
	const struct CMUnitTest server[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_no_responders),
		cmocka_unit_test(test_ack_and_read),
		cmocka_unit_test(test_timeout_is_info),
		cmocka_unit_test(test_read_many),
		cmocka_unit_test(test_hole_fails_read),   /* last: it leaves a hole */
	};
	int r = cmocka_run_group_tests_name("nats adapter (unit)", pure, NULL, NULL);

	r |= cmocka_run_group_tests_name("nats adapter on a real nats-server (unit)", server,
					 server_setup, server_teardown);
	return r;
}
