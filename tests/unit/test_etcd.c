/*
 * tests/unit/test_etcd.c: the etcd adapter without etcd. The pure parts
 * (argv, placeholders, timing, base64, digest) directly; the client's
 * outcome rules (ok / fail / info) against a fake gateway on 127.0.0.77:2379
 * that answers, refuses, hangs up or stays silent as each test scripts it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"

#define FAKE_IP ((127u << 24) | 77u)   /* 127.0.0.77 */
#define DEAD_IP ((127u << 24) | 78u)   /* nothing listens there */

static const char *const names3[] = { "n1", "n2", "n3" };
static const uint32_t addrs3[] = { (10u << 24) | 2, (10u << 24) | 3, (10u << 24) | 4 };

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
	struct fl_scenario *s = load("name: t\nduration: 1m\nsystem:\n  type: etcd\n"
				     "  args: ['--log-level=debug', '--x={name}@{ip}:{port}',\n"
				     "         '{data_dir}/{{x}}', '--heartbeat-interval=77']\n");
	struct fl_sys_nodes n = { .n = 3, .names = names3, .addrs = addrs3, .data_root = "/d",
				  .token = "tok" };
	const char *want[] = {
		"etcd", "--name", "n2", "--data-dir", "/d/n2",
		"--listen-client-urls", "http://10.0.0.3:2379",
		"--advertise-client-urls", "http://10.0.0.3:2379",
		"--listen-peer-urls", "http://10.0.0.3:2380",
		"--initial-advertise-peer-urls", "http://10.0.0.3:2380",
		"--initial-cluster",
		"n1=http://10.0.0.2:2380,n2=http://10.0.0.3:2380,n3=http://10.0.0.4:2380",
		"--initial-cluster-state", "new", "--initial-cluster-token", "tok",
		"--heartbeat-interval", "250", "--election-timeout", "2500",
		"--log-level=debug", "--x=n2@10.0.0.3:2379", "/d/n2/{x}", "--heartbeat-interval=77",
		NULL,
	};
	char **argv = NULL, err[256];
	size_t k;

	(void)state;
	assert_int_equal(fl_etcd_ops.node_argv(s, &n, 1, &argv, err, sizeof(err)), 0);
	for (k = 0; want[k]; k++) {
		assert_non_null(argv[k]);
		assert_string_equal(argv[k], want[k]);
	}
	assert_null(argv[k]);
	fl_strv_free(argv);
	assert_int_equal(fl_etcd_ops.node_argv(s, &n, 3, &argv, err, sizeof(err)), -EINVAL);
	fl_scenario_free(s);
}

static void test_expand_errors(void **state)
{
	struct fl_sys_nodes n = { .n = 3, .names = names3, .addrs = addrs3, .data_root = "/d" };
	char *out = NULL, err[256];

	(void)state;
	assert_int_equal(fl_etcd_expand("{peers}", &n, 0, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "n1=http://10.0.0.2:2380,n2=http://10.0.0.3:2380,"
				 "n3=http://10.0.0.4:2380");
	free(out);
	assert_int_equal(fl_sys_expand("{peer_ips} {ip}:{port}", &n, 2, 7000, &out, err, sizeof(err)),
			 0);
	assert_string_equal(out, "10.0.0.2,10.0.0.3,10.0.0.4 10.0.0.4:7000");
	free(out);
	assert_int_equal(fl_etcd_expand("a{{b}}c", &n, 0, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "a{b}c");
	free(out);
	assert_int_equal(fl_etcd_expand("{nope}", &n, 0, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown placeholder '{nope}' in '{nope}'");
	assert_int_equal(fl_etcd_expand("x{name", &n, 0, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(fl_etcd_expand("x}", &n, 0, &out, err, sizeof(err)), -EINVAL);
}

static void test_timing(void **state)
{
	struct fl_scenario *s;
	unsigned hb, el;

	(void)state;
	fl_etcd_timing(NULL, &hb, &el);
	assert_int_equal(el, 2500);
	assert_int_equal(hb, 250);
	s = load("name: t\nduration: 1m\nsystem: {type: etcd, ready_timeout: 10s}\n");
	fl_etcd_timing(s, &hb, &el);
	assert_int_equal(el, 1000); /* floor */
	assert_int_equal(hb, 100);
	fl_scenario_free(s);
	s = load("name: t\nduration: 1m\nsystem: {type: etcd, ready_timeout: 10m}\n");
	fl_etcd_timing(s, &hb, &el);
	assert_int_equal(el, 5000); /* ceiling */
	fl_scenario_free(s);
	s = load("name: t\nduration: 1m\nsystem: {type: etcd}\n"
		 "nemesis:\n  - fault: kill\n    at: 10s\n    targets: leader\n"
		 "checks:\n  failover: {within: 4s}\n");
	fl_etcd_timing(s, &hb, &el);
	assert_int_equal(el, 1000); /* failover.within / 4 */
	assert_int_equal(hb, 100);
	fl_scenario_free(s);
}

static void test_base64(void **state)
{
	static const char *const cases[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char *d;
	size_t dl;
	char *e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fl_base64_encode(cases[i][0], strlen(cases[i][0]), &e), 0);
		assert_string_equal(e, cases[i][1]);
		free(e);
		assert_int_equal(fl_base64_decode(cases[i][1], strlen(cases[i][1]), &d, &dl), 0);
		assert_int_equal(dl, strlen(cases[i][0]));
		assert_memory_equal(d, cases[i][0], dl);
		free(d);
	}
	assert_int_equal(fl_base64_decode("Zm9v!", 5, &d, &dl), -EINVAL);
	assert_int_equal(fl_base64_decode("Z=9v", 4, &d, &dl), -EINVAL);
}

static void test_digest_pure(void **state)
{
	char a[FL_DIGEST_HEX], b[FL_DIGEST_HEX];

	(void)state;
	fl_digest_hex(FL_FNV64_INIT, a);
	assert_string_equal(a, "cbf29ce484222325");
	/* lengths are part of the digest: "ab"="c" is not "a"="bc" */
	fl_digest_hex(fl_digest_add(FL_FNV64_INIT, "ab", 2, "c", 1), a);
	fl_digest_hex(fl_digest_add(FL_FNV64_INIT, "a", 1, "bc", 2), b);
	assert_string_not_equal(a, b);
}

/* --- the fake gateway ---------------------------------------------------------------- */

enum fake_act { ANSWER, HANG_UP, SILENT };

/* What the fake does with one request: act, and for ANSWER the status and body. */
typedef void (*fake_fn)(const char *path, json_t *body, enum fake_act *act, int *status,
			char **answer);

static struct {
	int lfd;
	pthread_t thread;
	int running;
	fake_fn fn;
	int requests;
} fake;

static int read_request(int fd, char *path, size_t plen, json_t **body)
{
	char buf[65536];
	size_t len = 0;
	char *hend, *cl;
	long clen = 0;

	*body = NULL;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		hend = strstr(buf, "\r\n\r\n");
		if (!hend)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		clen = cl ? strtol(cl + 15, NULL, 10) : 0;
		if ((size_t)(hend + 4 - buf) + (size_t)clen <= len)
			break;
	}
	if (sscanf(buf, "POST %255s", path) != 1)
		return -1;
	(void)plen;
	*body = json_loadb(hend + 4, (size_t)clen, 0, NULL);
	return 0;
}

static void *fake_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(fake.lfd, NULL, NULL);

		if (fd < 0)
			return NULL;
		for (;;) {
			char path[256];
			json_t *body;
			enum fake_act act = ANSWER;
			int status = 200;
			char *answer = NULL, head[256];

			if (read_request(fd, path, sizeof(path), &body) < 0)
				break;
			fake.requests++;
			fake.fn(path, body, &act, &status, &answer);
			json_decref(body);
			if (act == HANG_UP) {
				free(answer);
				break;
			}
			if (act == SILENT) {
				struct pollfd p = { .fd = fd, .events = POLLIN };

				free(answer);
				poll(&p, 1, 5000); /* until the client gives up */
				break;
			}
			snprintf(head, sizeof(head),
				 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\n\r\n", status, strlen(answer));
			if (write(fd, head, strlen(head)) < 0 ||
			    write(fd, answer, strlen(answer)) < 0) {
				free(answer);
				break;
			}
			free(answer);
		}
		close(fd);
	}
}

static int fake_setup(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(FL_ETCD_CLIENT_PORT),
				 .sin_addr.s_addr = htonl(FAKE_IP) };
	int one = 1;

	(void)state;
	fake.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fake.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fake.lfd < 0 || bind(fake.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fake.lfd, 8) < 0) {
		print_message("no fake gateway on 127.0.0.77:2379: %s\n", strerror(errno));
		if (fake.lfd >= 0)
			close(fake.lfd);
		fake.lfd = -1;
		return 0;
	}
	fake.running = pthread_create(&fake.thread, NULL, fake_main, NULL) == 0;
	return 0;
}

static int fake_teardown(void **state)
{
	(void)state;
	if (fake.lfd >= 0) {
		shutdown(fake.lfd, SHUT_RDWR);
		close(fake.lfd);
	}
	if (fake.running)
		pthread_join(fake.thread, NULL);
	return 0;
}

static const uint32_t fake_addrs[] = { FAKE_IP, DEAD_IP };
static const struct fl_sys_nodes fake_nodes = { .n = 2, .names = names3, .addrs = fake_addrs };

static struct fl_sys_client *fake_client(fake_fn fn)
{
	struct fl_sys_client *c;
	char err[256];

	if (fake.lfd < 0 || !fake.running)
		skip();
	fake.fn = fn;
	fake.requests = 0;
	if (fl_etcd_ops.client_open(&fake_nodes, 0, &c, err, sizeof(err)) < 0)
		fail_msg("client: %s", err);
	return c;
}

static char *answer_kind; /* "ok", "cas-false", "cas-true", "timedout", "badarg" */

static void scripted(const char *path, json_t *body, enum fake_act *act, int *status,
		     char **answer)
{
	(void)body;
	if (!strcmp(path, "/v3/cluster/member/list")) {
		*answer = strdup("{\"members\":[{\"ID\":\"7\",\"name\":\"n2\"},"
				 "{\"ID\":\"5\",\"name\":\"n1\"}]}");
		return;
	}
	if (!strcmp(answer_kind, "hangup")) {
		*act = HANG_UP;
	} else if (!strcmp(answer_kind, "silent")) {
		*act = SILENT;
	} else if (!strcmp(answer_kind, "timedout")) {
		*status = 503;
		*answer = strdup("{\"error\":\"etcdserver: request timed out\",\"message\":"
				 "\"etcdserver: request timed out\",\"code\":14}");
	} else if (!strcmp(answer_kind, "badarg")) {
		*status = 400;
		*answer = strdup("{\"error\":\"etcdserver: key is not provided\",\"message\":"
				 "\"etcdserver: key is not provided\",\"code\":3}");
	} else if (!strcmp(answer_kind, "cas-true")) {
		*answer = strdup("{\"header\":{\"revision\":\"3\"},\"succeeded\":true}");
	} else if (!strcmp(answer_kind, "status")) {
		*answer = strdup("{\"header\":{\"member_id\":\"5\",\"revision\":\"12\"},"
				 "\"leader\":\"7\",\"raftTerm\":\"3\",\"raftIndex\":\"9\"}");
	} else if (!strcmp(answer_kind, "value")) {
		*answer = strdup("{\"kvs\":[{\"key\":\"aw==\",\"value\":\"aGk=\"}],\"count\":\"1\"}");
	} else {
		*answer = strdup("{\"header\":{\"revision\":\"2\"}}");
	}
}

#define EXPECT(call, rc, outcome_)                                                             \
	do {                                                                                   \
		int r_ = (call);                                                               \
		if (r_ != (rc) || o != (outcome_))                                             \
			fail_msg("%s: got %d/%s (%s), want %d/%s", #call, r_,                  \
				 fl_outcome_to_string(o), err, rc, fl_outcome_to_string(outcome_)); \
	} while (0)

static void test_outcomes(void **state)
{
	struct fl_sys_client *c = fake_client(scripted);
	enum fl_outcome o;
	char err[256] = "", *v = NULL;

	(void)state;
	answer_kind = (char *)"ok";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	/* a failed compare: "succeeded" left out */
	EXPECT(fl_etcd_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), -ECANCELED,
	       FL_OUTCOME_FAIL);
	answer_kind = (char *)"cas-true";
	EXPECT(fl_etcd_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	/* etcd's "request timed out": the write may still happen */
	answer_kind = (char *)"timedout";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -EAGAIN, FL_OUTCOME_INFO);
	assert_string_equal(err, "node n1: http 503: etcdserver: request timed out");
	EXPECT(fl_etcd_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), -EAGAIN,
	       FL_OUTCOME_FAIL);
	/* refused before proposing */
	answer_kind = (char *)"badarg";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -EINVAL, FL_OUTCOME_FAIL);
	/* connection lost after sending */
	answer_kind = (char *)"hangup";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -ECONNRESET,
	       FL_OUTCOME_INFO);
	/* on a kept-alive connection too, and the request is not sent again (libcurl
	 * retries a request whose reused connection died without an answer: a second
	 * compare-and-set would fail its compare and turn "unknown" into "failed") */
	answer_kind = (char *)"ok";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	answer_kind = (char *)"hangup";
	fake.requests = 0;
	EXPECT(fl_etcd_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), -ECONNRESET,
	       FL_OUTCOME_INFO);
	assert_int_equal(fake.requests, 1);
	EXPECT(fl_etcd_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), -ECONNRESET,
	       FL_OUTCOME_FAIL);
	/* no answer in time */
	answer_kind = (char *)"silent";
	EXPECT(fl_etcd_ops.put(c, "k", "v", 300, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_INFO);
	EXPECT(fl_etcd_ops.get(c, "k", 1, 300, &v, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_FAIL);
	/* and it still works after all that */
	answer_kind = (char *)"value";
	EXPECT(fl_etcd_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(v, "hi");
	free(v);
	fl_etcd_ops.client_close(c);
}

static void test_refused_is_definite(void **state)
{
	struct fl_sys_client *c;
	enum fl_outcome o;
	char err[256] = "";

	(void)state;
	if (fl_etcd_ops.client_open(&fake_nodes, 1, &c, err, sizeof(err)) < 0)
		fail_msg("client: %s", err);
	EXPECT(fl_etcd_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -ECONNREFUSED,
	       FL_OUTCOME_FAIL);
	fl_etcd_ops.client_close(c);
}

static void test_status_names_leader(void **state)
{
	struct fl_sys_client *c = fake_client(scripted);
	struct fl_sys_status st;
	enum fl_outcome o;
	char err[256] = "";

	(void)state;
	answer_kind = (char *)"status";
	EXPECT(fl_etcd_ops.status(c, 1000, &st, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(st.node, "n1");
	assert_string_equal(st.leader, "n2");
	assert_true(st.leader_id == 7 && st.member_id == 5 && st.term == 3 && st.index == 9);
	assert_true(st.revision == 12);
	/* the member list is asked once, then remembered */
	EXPECT(fl_etcd_ops.status(c, 1000, &st, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_int_equal(fake.requests, 3);
	fl_etcd_ops.client_close(c);
}

/* A range in pages: the second page must be pinned to the first one's revision and
 * start just after the last key of the first. */
static int digest_pages, digest_bad;

static void paged(const char *path, json_t *body, enum fake_act *act, int *status,
		  char **answer)
{
	const char *key = json_string_value(json_object_get(body, "key"));
	json_t *rev = json_object_get(body, "revision");

	(void)act, (void)status;
	digest_pages++;
	if (strcmp(path, "/v3/kv/range") || !json_is_true(json_object_get(body, "serializable")))
		digest_bad++;
	if (!strcmp(key, "AA==") && !rev) {
		/* a=1, b=2 */
		*answer = strdup("{\"header\":{\"revision\":\"9\"},\"kvs\":["
				 "{\"key\":\"YQ==\",\"value\":\"MQ==\"},"
				 "{\"key\":\"Yg==\",\"value\":\"Mg==\"}],\"more\":true,\"count\":\"3\"}");
		return;
	}
	/* "b\0" = YgA=, at revision 9: c=3 */
	if (strcmp(key, "YgA=") || json_integer_value(rev) != 9)
		digest_bad++;
	*answer = strdup("{\"header\":{\"revision\":\"10\"},\"kvs\":["
			 "{\"key\":\"Yw==\",\"value\":\"Mw==\"}],\"count\":\"3\"}");
}

static void test_digest_pages(void **state)
{
	struct fl_sys_client *c = fake_client(paged);
	char hex[FL_DIGEST_HEX], want[FL_DIGEST_HEX], err[256] = "";
	uint64_t h = FL_FNV64_INIT;
	int64_t rev;
	size_t n;

	(void)state;
	digest_pages = digest_bad = 0;
	if (fl_etcd_ops.digest(c, 1000, hex, &rev, &n, err, sizeof(err)) < 0)
		fail_msg("digest: %s", err);
	h = fl_digest_add(h, "a", 1, "1", 1);
	h = fl_digest_add(h, "b", 1, "2", 1);
	h = fl_digest_add(h, "c", 1, "3", 1);
	fl_digest_hex(h, want);
	assert_string_equal(hex, want);
	assert_int_equal(rev, 9);
	assert_int_equal(n, 3);
	assert_int_equal(digest_pages, 2);
	assert_int_equal(digest_bad, 0);
	fl_etcd_ops.client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_argv),
		cmocka_unit_test(test_expand_errors),
		cmocka_unit_test(test_timing),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_digest_pure),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_refused_is_definite),
		cmocka_unit_test(test_status_names_leader),
		cmocka_unit_test(test_digest_pages),
	};

	return cmocka_run_group_tests_name("etcd adapter (unit)", tests, fake_setup, fake_teardown);
}
