/*
 * tests/unit/test_redis.c: the redis adapter without redis. The RESP codec
 * (every type, nesting, torn and hostile input), the argv of servers and
 * sentinels, and the client's outcome rules (ok / fail / info) against fake
 * sentinels and servers on 127.0.0.61-63 (ports 26379 and 6379) that answer,
 * refuse, hang up or stay silent as each test scripts it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include "systems/redis-priv.h"

#define IP(last) ((127u << 24) | (last))
#define A1 IP(61) /* n1: its sentinel and server */
#define A2 IP(62) /* n2 */
#define A3 IP(63) /* n3 */
#define A4 IP(64) /* n4: nothing listens there */

static const char *const names4[] = { "n1", "n2", "n3", "n4" };
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

/* --- RESP ------------------------------------------------------------------------------ */

static struct fl_resp *parse_ok(const char *buf, size_t len, size_t want_used)
{
	struct fl_resp *r = NULL;
	size_t used = 0;
	int rc = fl_resp_parse(buf, len, &r, &used);

	if (rc != 0)
		fail_msg("parse of '%.*s': %d", (int)len, buf, rc);
	assert_int_equal(used, want_used);
	return r;
}

#define PARSE(lit) parse_ok(lit, sizeof(lit) - 1, sizeof(lit) - 1)

static int parse_rc(const char *buf, size_t len)
{
	struct fl_resp *r = NULL;
	size_t used = 0;
	int rc = fl_resp_parse(buf, len, &r, &used);

	if (rc == 0)
		fl_resp_free(r);
	else
		assert_null(r);
	return rc;
}

#define RC(lit) parse_rc(lit, sizeof(lit) - 1)

static void test_resp_scalars(void **state)
{
	struct fl_resp *r;

	(void)state;
	r = PARSE("+OK\r\n");
	assert_int_equal(r->type, FL_RESP_SIMPLE);
	assert_string_equal(r->str, "OK");
	fl_resp_free(r);
	r = PARSE("-READONLY You can't write against a read only replica.\r\n");
	assert_int_equal(r->type, FL_RESP_ERROR);
	assert_string_equal(r->str, "READONLY You can't write against a read only replica.");
	fl_resp_free(r);
	r = PARSE("+\r\n"); /* an empty simple string */
	assert_int_equal(r->len, 0);
	fl_resp_free(r);
	r = PARSE(":0\r\n");
	assert_int_equal(r->type, FL_RESP_INT);
	assert_true(r->integer == 0);
	fl_resp_free(r);
	r = PARSE(":-42\r\n");
	assert_true(r->integer == -42);
	fl_resp_free(r);
	r = PARSE(":9223372036854775807\r\n");
	assert_true(r->integer == LLONG_MAX);
	fl_resp_free(r);
	r = PARSE(":-9223372036854775808\r\n");
	assert_true(r->integer == LLONG_MIN);
	fl_resp_free(r);
	/* bulk strings carry any bytes: CR LF, NUL */
	r = PARSE("$7\r\na\r\nb\0c\r\r\n");
	assert_int_equal(r->type, FL_RESP_BULK);
	assert_int_equal(r->len, 7);
	assert_memory_equal(r->str, "a\r\nb\0c\r", 7);
	assert_int_equal(r->str[7], '\0');
	fl_resp_free(r);
	r = PARSE("$0\r\n\r\n");
	assert_int_equal(r->type, FL_RESP_BULK);
	assert_string_equal(r->str, "");
	fl_resp_free(r);
	r = PARSE("$-1\r\n");
	assert_int_equal(r->type, FL_RESP_NIL);
	fl_resp_free(r);
	r = PARSE("*-1\r\n");
	assert_int_equal(r->type, FL_RESP_NIL);
	fl_resp_free(r);
	/* one reply at a time: what follows is left for the next */
	r = parse_ok("+A\r\n+B\r\n", 8, 4);
	assert_string_equal(r->str, "A");
	fl_resp_free(r);
}

static void test_resp_arrays(void **state)
{
	static const char msg[] = "*4\r\n$3\r\nfoo\r\n:7\r\n*2\r\n*0\r\n$-1\r\n-ERR x\r\n";
	struct fl_resp *r;

	(void)state;
	r = PARSE(msg);
	assert_int_equal(r->type, FL_RESP_ARRAY);
	assert_int_equal(r->n, 4);
	assert_string_equal(r->elems[0].str, "foo");
	assert_true(r->elems[1].integer == 7);
	assert_int_equal(r->elems[2].type, FL_RESP_ARRAY);
	assert_int_equal(r->elems[2].n, 2);
	assert_int_equal(r->elems[2].elems[0].type, FL_RESP_ARRAY);
	assert_int_equal(r->elems[2].elems[0].n, 0);
	assert_int_equal(r->elems[2].elems[1].type, FL_RESP_NIL);
	assert_int_equal(r->elems[3].type, FL_RESP_ERROR);
	fl_resp_free(r);

	/* torn: every proper prefix is incomplete, never an error, never a value */
	for (size_t k = 0; k < sizeof(msg) - 1; k++)
		if (parse_rc(msg, k) != -EAGAIN)
			fail_msg("prefix of %zu bytes: not -EAGAIN", k);
}

static void test_resp_hostile(void **state)
{
	char deep[200];
	size_t n = 0;

	(void)state;
	assert_int_equal(RC("?x\r\n"), -EPROTO);         /* unknown type */
	assert_int_equal(RC("+OK\n"), -EPROTO);          /* bare LF */
	assert_int_equal(RC("+O\rK\r\n"), -EPROTO);      /* bare CR */
	assert_int_equal(RC(":\r\n"), -EPROTO);          /* no digits */
	assert_int_equal(RC(":12a\r\n"), -EPROTO);
	assert_int_equal(RC(":9223372036854775808\r\n"), -EPROTO); /* overflow */
	assert_int_equal(RC(":99999999999999999999999\r\n"), -EPROTO);
	assert_int_equal(RC("$-2\r\n"), -EPROTO);
	assert_int_equal(RC("$3\r\nabcd\r\n"), -EPROTO); /* longer than it said */
	assert_int_equal(RC("$3\r\nabcd"), -EPROTO);     /* seen before the rest arrives */
	assert_int_equal(RC("$3\r\nab"), -EAGAIN);
	assert_int_equal(RC("$3\r\nabc\r"), -EAGAIN);
	assert_int_equal(RC("$3\r\nabc\rx"), -EPROTO);
	assert_int_equal(RC("$536870912\r\n"), -EAGAIN); /* the largest redis allows */
	assert_int_equal(RC("$536870913\r\n"), -EPROTO);
	assert_int_equal(RC("$99999999999999999999\r\n"), -EPROTO);
	assert_int_equal(RC("*-2\r\n"), -EPROTO);
	/* a huge count with nothing behind it: incomplete, and nothing allocated */
	assert_int_equal(RC("*16777216\r\n"), -EAGAIN);
	assert_int_equal(RC("*16777217\r\n"), -EPROTO);
	assert_int_equal(RC("*2\r\n:1\r\n?\r\n"), -EPROTO); /* a bad element */
	/* a length line that never ends */
	memset(deep, '1', sizeof(deep));
	deep[0] = '$';
	assert_int_equal(parse_rc(deep, sizeof(deep)), -EPROTO);
	/* nesting: FL_RESP_MAX_DEPTH levels of arrays are fine, one more is not */
	for (int d = 0; d < FL_RESP_MAX_DEPTH; d++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "*1\r\n");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, ":1\r\n");
	assert_int_equal(parse_rc(deep, n), 0);
	n = 0;
	for (int d = 0; d <= FL_RESP_MAX_DEPTH; d++)
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "*1\r\n");
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, ":1\r\n");
	assert_int_equal(parse_rc(deep, n), -EPROTO);
	assert_int_equal(parse_rc("", 0), -EAGAIN);
}

static void test_resp_command(void **state)
{
	const char *argv[] = { "SET", "k", "" };
	const char *bin[] = { "A", "x\r\ny" };
	const size_t lens[] = { 1, 4 };
	char *out;
	size_t len;
	struct fl_resp *r;

	(void)state;
	assert_int_equal(fl_resp_command(argv, NULL, 3, &out, &len), 0);
	assert_int_equal(len, strlen("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"));
	assert_string_equal(out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
	free(out);
	/* lengths, not terminators: and what it makes parses back */
	assert_int_equal(fl_resp_command(bin, lens, 2, &out, &len), 0);
	r = parse_ok(out, len, len);
	assert_int_equal(r->n, 2);
	assert_int_equal(r->elems[1].len, 4);
	assert_memory_equal(r->elems[1].str, "x\r\ny", 4);
	fl_resp_free(r);
	free(out);
}

/* --- argv, sentinel.conf, timing, placeholders ---------------------------------------------- */

static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* a data root per test, removed even when the test fails */
static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/fl-redis-unit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int drop_tmp(void **state)
{
	(void)state;
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void expect_argv(char **argv, const char *const *want)
{
	size_t k;

	for (k = 0; want[k]; k++) {
		if (!argv[k])
			fail_msg("argv ends at %zu, want '%s'", k, want[k]);
		if (strcmp(argv[k], want[k]))
			fail_msg("argv[%zu] is '%s', want '%s'", k, argv[k], want[k]);
	}
	if (argv[k])
		fail_msg("argv[%zu] is '%s', want the end", k, argv[k]);
}

static void test_node_argv(void **state)
{
	struct fl_scenario *s = load("name: t\nduration: 1m\nsystem:\n  type: redis\n"
				     "  args: ['--maxmemory', '10mb', '--x={name}@{ip}:{port}',\n"
				     "         '{data_dir}/{{x}}', '{peer_ips}']\n");
	struct fl_scenario *sb = load("name: t\nduration: 1m\n"
				      "system: {type: redis, binary: /opt/r/redis-server}\n");
	struct fl_sys_nodes n = { .n = 3, .names = names4, .addrs = addrs3 };
	char **argv = NULL, err[256], dd[128];
	struct stat st;

	(void)state;
	n.data_root = tmpdir;
	snprintf(dd, sizeof(dd), "%s/n1", tmpdir);
	{
		const char *want[] = {
			"redis-server", "--port", "6379", "--bind", "10.0.0.2", "--protected-mode",
			"no", "--dir", dd, "--save", "", "--appendonly", "no", "--daemonize", "no",
			"--replica-announce-ip", "10.0.0.2", "--maxmemory", "10mb",
			"--x=n1@10.0.0.2:6379", NULL, /* set below */
			"10.0.0.2,10.0.0.3,10.0.0.4", NULL,
		};
		char ddx[160];

		snprintf(ddx, sizeof(ddx), "%s/{x}", dd);
		want[20] = ddx;
		assert_int_equal(fl_redis_ops.node_argv(s, &n, 0, &argv, err, sizeof(err)), 0);
		expect_argv(argv, want);
		fl_strv_free(argv);
	}
	/* the data directory is made */
	assert_int_equal(stat(dd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* the others replicate from node 0 */
	snprintf(dd, sizeof(dd), "%s/n3", tmpdir);
	{
		const char *want[] = {
			"/opt/r/redis-server", "--port", "6379", "--bind", "10.0.0.4",
			"--protected-mode", "no", "--dir", dd, "--save", "", "--appendonly", "no",
			"--daemonize", "no", "--replica-announce-ip", "10.0.0.4", "--replicaof",
			"10.0.0.2", "6379", NULL,
		};

		assert_int_equal(fl_redis_ops.node_argv(sb, &n, 2, &argv, err, sizeof(err)), 0);
		expect_argv(argv, want);
		fl_strv_free(argv);
	}
	assert_int_equal(fl_redis_ops.node_argv(s, &n, 3, &argv, err, sizeof(err)), -EINVAL);
	/* a relative binary: from the scenario file's directory, as exec's start */
	{
		struct fl_diags d = { 0 };
		struct fl_scenario *sr = NULL;
		static const char y[] = "name: t\nduration: 1m\n"
					"system: {type: redis, binary: ../build/redis-server}\n";
		char cwd[PATH_MAX], want[PATH_MAX + 64];

		assert_int_equal(fl_scenario_load_string("/srv/lab/t.yaml", y, strlen(y), NULL, 0, &d,
							 &sr), 0);
		assert_int_equal(fl_redis_ops.node_argv(sr, &n, 1, &argv, err, sizeof(err)), 0);
		assert_string_equal(argv[0], "/srv/lab/../build/redis-server");
		fl_strv_free(argv);
		fl_scenario_free(sr);
		assert_int_equal(fl_scenario_load_string("sub/t.yaml", y, strlen(y), NULL, 0, &d, &sr),
				 0);
		assert_int_equal(fl_redis_ops.sidecar_argv(sr, &n, 1, &argv, want, 32, err,
							    sizeof(err)), 0);
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		snprintf(want, sizeof(want), "%s/sub/../build/redis-server", cwd);
		assert_string_equal(argv[0], want);
		fl_strv_free(argv);
		fl_scenario_free(sr);
		fl_diags_release(&d);
	}
	/* a data root that cannot be made (its parents are, mkdir -p) */
	n.data_root = "/dev/null/fl";
	assert_int_equal(fl_redis_ops.node_argv(s, &n, 0, &argv, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "cannot create '/dev/null/fl/n1'"));
	fl_scenario_free(s);
	fl_scenario_free(sb);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 4096);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, 4095, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_sidecar_argv(void **state)
{
	struct fl_scenario *s = load("name: t\nduration: 1m\nsystem: {type: redis}\n"
				     "nemesis:\n  - fault: kill\n    at: 10s\n    targets: leader\n"
				     "checks:\n  failover: {within: 4s}\n");
	struct fl_scenario *sb = load("name: t\nduration: 1m\n"
				      "system: {type: redis, binary: /opt/r/redis-server}\n");
	struct fl_sys_nodes n = { .n = 3, .names = names4, .addrs = addrs3, .token = "fl-x" };
	char **argv = NULL, err[256], name[32] = "", conf[128], want[1024], *text;
	struct stat st;

	(void)state;
	n.data_root = tmpdir;
	snprintf(conf, sizeof(conf), "%s/n2/sentinel.conf", tmpdir);
	assert_int_equal(fl_redis_ops.sidecar_argv(s, &n, 1, &argv, name, sizeof(name), err,
						    sizeof(err)), 0);
	assert_string_equal(name, "sentinel");
	{
		const char *w[] = { "redis-sentinel", conf, NULL };

		expect_argv(argv, w);
	}
	fl_strv_free(argv);
	/* a file the sentinel can rewrite */
	assert_int_equal(stat(conf, &st), 0);
	assert_true(S_ISREG(st.st_mode) && (st.st_mode & S_IWUSR));
	text = slurp(conf);
	snprintf(want, sizeof(want),
		 "# written by faultline for node n2; the sentinel rewrites it as it runs\n"
		 "port 26379\nbind 10.0.0.3\nprotected-mode no\ndaemonize no\n"
		 "dir \"%s/n2\"\n"
		 "sentinel announce-ip 10.0.0.3\n"
		 "sentinel monitor fl-x 10.0.0.2 6379 2\n"
		 "sentinel down-after-milliseconds fl-x 1000\n"
		 "sentinel failover-timeout fl-x 2000\n"
		 "sentinel parallel-syncs fl-x 1\n", tmpdir);
	assert_string_equal(text, want);
	free(text);
	/* a binary of its own: its sentinel mode; the default master name; quorum of 4 is 3 */
	n.token = NULL;
	n.n = 4;
	snprintf(conf, sizeof(conf), "%s/n1/sentinel.conf", tmpdir);
	assert_int_equal(fl_redis_ops.sidecar_argv(sb, &n, 0, &argv, name, sizeof(name), err,
						    sizeof(err)), 0);
	{
		const char *w[] = { "/opt/r/redis-server", conf, "--sentinel", NULL };

		expect_argv(argv, w);
	}
	fl_strv_free(argv);
	text = slurp(conf);
	assert_non_null(strstr(text, "sentinel monitor faultline 10.0.0.2 6379 3\n"));
	assert_non_null(strstr(text, "sentinel down-after-milliseconds faultline 2500\n"));
	assert_non_null(strstr(text, "sentinel failover-timeout faultline 2500\n"));
	free(text);
	/* a token that would break the configuration */
	n.token = "a b\nsentinel x";
	assert_int_equal(fl_redis_ops.sidecar_argv(sb, &n, 0, &argv, name, sizeof(name), err,
						    sizeof(err)), -EINVAL);
	n.token = NULL;
	n.n = 3;
	/* a data directory that cannot be made: no conf, an error */
	n.data_root = "/dev/null/fl";
	assert_true(fl_redis_ops.sidecar_argv(sb, &n, 0, &argv, name, sizeof(name), err,
					      sizeof(err)) < 0);
	fl_scenario_free(s);
	fl_scenario_free(sb);
}

static void test_timing(void **state)
{
	struct fl_scenario *s;
	unsigned da, ft;

	(void)state;
	fl_redis_timing(NULL, &da, &ft);
	assert_int_equal(da, 2500);
	assert_int_equal(ft, 2500);
	s = load("name: t\nduration: 1m\nsystem: {type: redis, ready_timeout: 10m}\n");
	fl_redis_timing(s, &da, &ft);
	assert_int_equal(da, 5000);
	assert_int_equal(ft, 5000);
	fl_scenario_free(s);
	s = load("name: t\nduration: 1m\nsystem: {type: redis}\n"
		 "nemesis:\n  - fault: kill\n    at: 10s\n    targets: leader\n"
		 "checks:\n  failover: {within: 1s}\n");
	fl_redis_timing(s, &da, &ft);
	assert_int_equal(da, 500);  /* failover.within / 4, at least 500 ms */
	assert_int_equal(ft, 2000);
	fl_scenario_free(s);
}

static void test_expand(void **state)
{
	struct fl_sys_nodes n = { .n = 3, .names = names4, .addrs = addrs3, .data_root = "/d" };
	char *out = NULL, err[256];

	(void)state;
	assert_int_equal(fl_redis_expand("", &n, 0, &out, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(fl_redis_expand("{name}|{ip}|{port}|{data_dir}|{{}}", &n, 2, &out, err,
					 sizeof(err)), 0);
	assert_string_equal(out, "n3|10.0.0.4|6379|/d/n3|{}");
	free(out);
	assert_int_equal(fl_redis_expand("{nope}", &n, 0, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown placeholder '{nope}' in '{nope}'");
	assert_int_equal(fl_redis_expand("x{name", &n, 0, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(fl_redis_expand("x}", &n, 0, &out, err, sizeof(err)), -EINVAL);
}

/* --- fake sentinels and servers ------------------------------------------------------------- */

enum fake_act { ANSWER, HANG_UP, SILENT, ANSWER_HANG_UP };

#define NLISTEN 6
#define MAXCONN 32
#define LOGMAX 64

static struct {
	int lfd[NLISTEN];
	uint32_t laddr[NLISTEN];
	int lport[NLISTEN];
	int stop[2];
	pthread_t thread;
	int running;
	pthread_mutex_t lock;
	/* the script, set by the test thread between operations */
	uint32_t primary;            /* what every sentinel names; 0: none */
	unsigned epoch;
	int other_sentinels;
	int replicas;
	const char *mode[4];         /* per server n1..n3 (index 1..3): "ok", "readonly", ... */
	/* what the fakes saw: "<last octet>:<port> <COMMAND>" */
	char log[LOGMAX][64];
	int nlog;
	int closed;                  /* connections the fakes have closed */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct fconn {
	int fd;
	uint32_t addr;
	int port;
	char buf[8192];
	size_t len;
};

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static int arg_is(const struct fl_resp *cmd, size_t k, const char *s)
{
	return k < cmd->n && !strcasecmp(cmd->elems[k].str, s);
}

static char *sentinel_answer(const struct fl_resp *cmd)
{
	if (arg_is(cmd, 1, "get-master-addr-by-name")) {
		char a[20];

		if (!fake.primary)
			return strdup("*-1\r\n");
		snprintf(a, sizeof(a), "127.0.0.%u", fake.primary & 0xff);
		return dupf("*2\r\n$%zu\r\n%s\r\n$4\r\n6379\r\n", strlen(a), a);
	}
	if (arg_is(cmd, 1, "master") && arg_is(cmd, 2, "faultline"))
		return dupf("*10\r\n$4\r\nname\r\n$9\r\nfaultline\r\n$5\r\nflags\r\n$6\r\nmaster\r\n"
			    "$12\r\nconfig-epoch\r\n$%d\r\n%u\r\n"
			    "$10\r\nnum-slaves\r\n$1\r\n%d\r\n"
			    "$19\r\nnum-other-sentinels\r\n$1\r\n%d\r\n",
			    fake.epoch >= 10 ? 2 : 1, fake.epoch, fake.replicas, fake.other_sentinels);
	return strdup("-ERR No such master with that name\r\n");
}

static char *server_answer(const struct fl_resp *cmd, const char *mode, enum fake_act *act)
{
	const char *c = cmd->elems[0].str;

	if (!strcmp(mode, "hangup")) {
		*act = HANG_UP;
		return NULL;
	}
	if (!strcmp(mode, "silent")) {
		*act = SILENT;
		return NULL;
	}
	if (!strcmp(mode, "bye")) {
		*act = ANSWER_HANG_UP;
		return strdup("+OK\r\n");
	}
	if (!strcmp(mode, "big") && !strcasecmp(c, "GET")) {
		size_t n = 3u << 20;
		char *b = malloc(n + 32);
		int h = sprintf(b, "$%zu\r\n", n);

		memset(b + h, 'v', n);
		memcpy(b + h + n, "\r\n", 3);
		return b;
	}
	if (!strcmp(mode, "readonly"))
		return strdup("-READONLY You can't write against a read only replica.\r\n");
	if (!strcmp(mode, "err"))
		return strdup("-ERR unknown command\r\n");
	if (!strcmp(mode, "timeout"))
		return strdup("-ERR operation timeout\r\n");
	if (!strcmp(mode, "garbage"))
		return strdup("$x\r\n");
	if (!strcmp(mode, "replica")) {
		static const char info[] = "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\n";

		return dupf("$%zu\r\n%s\r\n", sizeof(info) - 1, info);
	}
	if (!strcasecmp(c, "SET"))
		return strdup("+OK\r\n");
	if (!strcasecmp(c, "GET")) {
		if (arg_is(cmd, 1, "missing"))
			return strdup("$-1\r\n");
		if (arg_is(cmd, 1, "a"))
			return strdup("$1\r\n1\r\n");
		if (arg_is(cmd, 1, "b"))
			return strdup("$1\r\n2\r\n");
		return strdup("$2\r\nhi\r\n");
	}
	if (!strcasecmp(c, "EVAL"))
		return strdup(arg_is(cmd, 4, "a") ? ":1\r\n" : ":0\r\n");
	if (!strcasecmp(c, "SADD"))
		return strdup(":1\r\n");
	if (!strcasecmp(c, "SMEMBERS"))
		return strdup("*2\r\n$1\r\nz\r\n$1\r\ny\r\n");
	if (!strcasecmp(c, "INFO")) {
		static const char info[] =
			"# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
			"slave0:ip=127.0.0.61,port=6379,state=online,offset=10,lag=0\r\n"
			"slave1:ip=127.0.0.63,port=6379,state=online,offset=10,lag=1\r\n"
			"master_repl_offset:1234\r\n";

		return dupf("$%zu\r\n%s\r\n", sizeof(info) - 1, info);
	}
	if (!strcasecmp(c, "SCAN")) {
		/* two steps, "a" twice, out of order */
		if (arg_is(cmd, 1, "0"))
			return strdup("*2\r\n$1\r\n7\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n");
		return strdup("*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\ns\r\n$4\r\ngone\r\n");
	}
	if (!strcasecmp(c, "TYPE")) {
		if (arg_is(cmd, 1, "s"))
			return strdup("+set\r\n");
		if (arg_is(cmd, 1, "gone"))
			return strdup("+none\r\n");
		return strdup("+string\r\n");
	}
	return strdup("-ERR unknown command\r\n");
}

static void fake_log(const struct fconn *fc, const struct fl_resp *cmd)
{
	pthread_mutex_lock(&fake.lock);
	if (fake.nlog < LOGMAX)
		snprintf(fake.log[fake.nlog++], sizeof(fake.log[0]), "%u:%d %s", fc->addr & 0xff,
			 fc->port, cmd->n ? cmd->elems[0].str : "?");
	pthread_mutex_unlock(&fake.lock);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0: keep the connection; -1: close it */
static int fake_serve(struct fconn *fc)
{
	for (;;) {
		struct fl_resp *cmd;
		enum fake_act act = ANSWER;
		char *answer;
		size_t used;
		int r = fl_resp_parse(fc->buf, fc->len, &cmd, &used);

		if (r == -EAGAIN)
			return 0;
		if (r < 0 || cmd->type != FL_RESP_ARRAY || !cmd->n) {
			fl_resp_free(cmd);
			return -1;
		}
		memmove(fc->buf, fc->buf + used, fc->len - used);
		fc->len -= used;
		fake_log(fc, cmd);
		pthread_mutex_lock(&fake.lock);
		if (fc->port == FL_REDIS_SENTINEL_PORT)
			answer = sentinel_answer(cmd);
		else
			answer = server_answer(cmd, fake.mode[(fc->addr & 0xff) - 60], &act);
		pthread_mutex_unlock(&fake.lock);
		fl_resp_free(cmd);
		if (act == HANG_UP)
			return -1;
		if (act == SILENT)
			return 0; /* keeps it until the client gives up */
		if (!answer || write_all(fc->fd, answer, strlen(answer)) < 0) {
			free(answer);
			return -1;
		}
		free(answer);
		if (act == ANSWER_HANG_UP)
			return -1;
	}
}

static void *fake_main(void *arg)
{
	struct fconn conns[MAXCONN];
	size_t nconn = 0;

	(void)arg;
	for (;;) {
		struct pollfd p[1 + NLISTEN + MAXCONN];
		size_t np = 0;

		p[np++] = (struct pollfd){ .fd = fake.stop[0], .events = POLLIN };
		for (int k = 0; k < NLISTEN; k++)
			p[np++] = (struct pollfd){ .fd = fake.lfd[k], .events = POLLIN };
		for (size_t k = 0; k < nconn; k++)
			p[np++] = (struct pollfd){ .fd = conns[k].fd, .events = POLLIN };
		if (poll(p, np, -1) < 0)
			continue;
		if (p[0].revents)
			break;
		for (int k = 0; k < NLISTEN; k++) {
			int fd;

			if (!(p[1 + k].revents & POLLIN))
				continue;
			fd = accept(fake.lfd[k], NULL, NULL);
			if (fd < 0)
				continue;
			if (nconn == MAXCONN) {
				close(fd);
				continue;
			}
			conns[nconn++] = (struct fconn){ .fd = fd, .addr = fake.laddr[k],
							 .port = fake.lport[k] };
		}
		for (size_t k = 0; k < nconn;) {
			struct pollfd *q = &p[1 + NLISTEN + k];
			struct fconn *fc = &conns[k];
			ssize_t n;
			int drop = 0;

			if (k < np - 1 - NLISTEN && q->revents) {
				n = read(fc->fd, fc->buf + fc->len, sizeof(fc->buf) - fc->len);
				if (n <= 0)
					drop = 1;
				else {
					fc->len += (size_t)n;
					drop = fake_serve(fc) < 0;
				}
			}
			if (drop) {
				close(fc->fd);
				pthread_mutex_lock(&fake.lock);
				fake.closed++;
				pthread_mutex_unlock(&fake.lock);
				conns[k] = conns[--nconn];
				/* the moved one has no poll entry this round */
				p[1 + NLISTEN + k].revents = 0;
				continue;
			}
			k++;
		}
	}
	for (size_t k = 0; k < nconn; k++)
		close(conns[k].fd);
	return NULL;
}

static int fake_setup(void **state)
{
	static const uint32_t addrs[NLISTEN] = { A1, A1, A2, A2, A3, A3 };
	int one = 1;

	(void)state;
	for (int k = 0; k < NLISTEN; k++) {
		int port = k % 2 ? FL_REDIS_PORT : FL_REDIS_SENTINEL_PORT;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(addrs[k]) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		fake.laddr[k] = addrs[k];
		fake.lport[k] = port;
		fake.lfd[k] = fd;
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
			print_message("no fake on 127.0.0.%u:%d: %s\n", addrs[k] & 0xff, port,
				      strerror(errno));
			for (int j = 0; j <= k; j++)
				if (fake.lfd[j] >= 0)
					close(fake.lfd[j]);
			fake.lfd[0] = -1;
			return 0;
		}
	}
	if (pipe2(fake.stop, O_CLOEXEC) < 0)
		return -1;
	fake.running = pthread_create(&fake.thread, NULL, fake_main, NULL) == 0;
	return 0;
}

static int fake_teardown(void **state)
{
	(void)state;
	if (fake.running) {
		if (write(fake.stop[1], "x", 1) < 0)
			return -1;
		pthread_join(fake.thread, NULL);
	}
	if (fake.lfd[0] >= 0)
		for (int k = 0; k < NLISTEN; k++)
			close(fake.lfd[k]);
	if (fake.running) {
		close(fake.stop[0]);
		close(fake.stop[1]);
	}
	return 0;
}

static const uint32_t fake_addrs[] = { A1, A2, A3, A4 };
static const struct fl_sys_nodes fake_nodes = { .n = 4, .names = names4, .addrs = fake_addrs };

/* A clean script: every sentinel names n2, every server answers. */
static void script(uint32_t primary)
{
	if (fake.lfd[0] < 0 || !fake.running)
		skip();
	pthread_mutex_lock(&fake.lock);
	fake.primary = primary;
	fake.epoch = 3;
	fake.other_sentinels = 2;
	fake.replicas = 2;
	for (int k = 0; k < 4; k++)
		fake.mode[k] = "ok";
	fake.nlog = 0;
	pthread_mutex_unlock(&fake.lock);
}

static void set_mode(int node, const char *mode)
{
	pthread_mutex_lock(&fake.lock);
	fake.mode[node] = mode;
	pthread_mutex_unlock(&fake.lock);
}

static void set_primary(uint32_t primary)
{
	pthread_mutex_lock(&fake.lock);
	fake.primary = primary;
	pthread_mutex_unlock(&fake.lock);
}

/* The log so far as one string, "61:26379 SENTINEL|62:6379 SET|...", and cleared. */
static void take_log(char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	pthread_mutex_lock(&fake.lock);
	for (int k = 0; k < fake.nlog && n < len; k++)
		n += (size_t)snprintf(out + n, len - n, "%s%s", k ? "|" : "", fake.log[k]);
	fake.nlog = 0;
	pthread_mutex_unlock(&fake.lock);
}

static struct fl_sys_client *client(size_t i)
{
	struct fl_sys_client *c;
	char err[256];

	if (fl_redis_ops.client_open(&fake_nodes, i, &c, err, sizeof(err)) < 0)
		fail_msg("client: %s", err);
	return c;
}

#define EXPECT(call, rc, outcome_)                                                             \
	do {                                                                                   \
		int r_ = (call);                                                               \
		if (r_ != (rc) || o != (outcome_))                                             \
			fail_msg("%s: got %d/%s (%s), want %d/%s", #call, r_,                  \
				 fl_outcome_to_string(o), err, rc, fl_outcome_to_string(outcome_)); \
	} while (0)

#define LOG_IS(want)                                                                           \
	do {                                                                                   \
		char l_[1024];                                                                 \
		take_log(l_, sizeof(l_));                                                      \
		if (strcmp(l_, want))                                                          \
			fail_msg("the fakes saw '%s', want '%s'", l_, want);                   \
	} while (0)

static void test_ops_ok(void **state)
{
	struct fl_sys_client *c;
	enum fl_outcome o;
	char err[256] = "", *v = NULL, **set = NULL;

	(void)state;
	script(A2);
	c = client(0);
	/* the sentinel first, once; then the primary it names */
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	LOG_IS("61:26379 SENTINEL|62:6379 SET");
	EXPECT(fl_redis_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(v, "hi");
	free(v);
	LOG_IS("62:6379 GET");
	/* serializable: this node's own server */
	EXPECT(fl_redis_ops.get(c, "missing", 1, 1000, &v, &o, err, sizeof(err)), 0,
	       FL_OUTCOME_OK);
	assert_null(v);
	LOG_IS("61:6379 GET");
	EXPECT(fl_redis_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	EXPECT(fl_redis_ops.cas(c, "k", "x", "b", 1000, &o, err, sizeof(err)), -ECANCELED,
	       FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: compare failed: 'k' is not 'x'");
	EXPECT(fl_redis_ops.add(c, "s", "e1", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	EXPECT(fl_redis_ops.read_set(c, "s", 0, 1000, &set, &o, err, sizeof(err)), 0,
	       FL_OUTCOME_OK);
	assert_int_equal(fl_strv_len(set), 2);
	assert_string_equal(set[0], "z");
	assert_string_equal(set[1], "y");
	fl_strv_free(set);
	EXPECT(fl_redis_ops.read_set(c, "s", 1, 1000, &set, &o, err, sizeof(err)), 0,
	       FL_OUTCOME_OK);
	fl_strv_free(set);
	LOG_IS("62:6379 EVAL|62:6379 EVAL|62:6379 SADD|62:6379 SMEMBERS|61:6379 SMEMBERS");
	fl_redis_ops.client_close(c);
}

static void test_error_replies(void **state)
{
	struct fl_sys_client *c;
	enum fl_outcome o;
	char err[256] = "", *v = NULL, **set = NULL;

	(void)state;
	script(A2);
	c = client(0);
	/* a demoted primary refuses: nothing happened, and the sentinel is asked again */
	set_mode(2, "readonly");
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -EROFS, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: primary 127.0.0.62:6379: READONLY You can't write "
				 "against a read only replica.");
	set_primary(A3);
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	LOG_IS("61:26379 SENTINEL|62:6379 SET|61:26379 SENTINEL|63:6379 SET");
	/* -ERR: a definite failure, and asked again too */
	set_mode(3, "err");
	EXPECT(fl_redis_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), -EIO,
	       FL_OUTCOME_FAIL);
	EXPECT(fl_redis_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), -EIO, FL_OUTCOME_FAIL);
	LOG_IS("63:6379 EVAL|61:26379 SENTINEL|63:6379 GET");
	/* the server says it timed out: a write may still happen, a read did not */
	set_mode(3, "timeout");
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_INFO);
	EXPECT(fl_redis_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_FAIL);
	/* an answer that is not RESP: a write went out, so unknown */
	set_mode(3, "garbage");
	EXPECT(fl_redis_ops.add(c, "s", "e", 1000, &o, err, sizeof(err)), -EPROTO, FL_OUTCOME_INFO);
	EXPECT(fl_redis_ops.read_set(c, "s", 0, 1000, &set, &o, err, sizeof(err)), -EPROTO,
	       FL_OUTCOME_FAIL);
	assert_null(set);
	/* a sentinel that names no primary: nothing sent anywhere */
	set_primary(0);
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -EAGAIN, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: sentinel names no primary for 'faultline'");
	fl_redis_ops.client_close(c);
}

static int closed_count(void)
{
	int n;

	pthread_mutex_lock(&fake.lock);
	n = fake.closed;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

/* Until the fake server has closed a connection since it had closed
 * `before` (at most 2 s). */
static void wait_closed_after(int before)
{
	for (int k = 0; k < 200 && closed_count() <= before; k++)
		usleep(10000);
}

static void test_lost_and_silent(void **state)
{
	struct fl_sys_client *c;
	enum fl_outcome o;
	int closed;
	char err[256] = "", *v = NULL;

	(void)state;
	script(A2);
	c = client(0);
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	/* closed after the request: a write may have happened */
	set_mode(2, "hangup");
	EXPECT(fl_redis_ops.cas(c, "k", "a", "b", 1000, &o, err, sizeof(err)), -ECONNRESET,
	       FL_OUTCOME_INFO);
	assert_string_equal(err, "node n1: primary 127.0.0.62:6379: connection lost after sending");
	EXPECT(fl_redis_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), -ECONNRESET,
	       FL_OUTCOME_FAIL);
	/* sent once, never again on a new connection, and the sentinel asked after each */
	LOG_IS("61:26379 SENTINEL|62:6379 SET|62:6379 EVAL|61:26379 SENTINEL|62:6379 GET");
	/* silence: the time limit holds, and a write is unknown */
	set_mode(2, "silent");
	EXPECT(fl_redis_ops.put(c, "k", "v", 300, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_INFO);
	assert_string_equal(err, "node n1: primary 127.0.0.62:6379: no answer in time");
	EXPECT(fl_redis_ops.get(c, "k", 0, 300, &v, &o, err, sizeof(err)), -ETIMEDOUT,
	       FL_OUTCOME_FAIL);
	/* an answer and then the connection closed: the answer counts */
	set_mode(2, "bye");
	closed = closed_count();
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	/* once the close has happened, the next request sees it before sending and
	 * goes out on a new connection (sent into the closing one, it would be lost) */
	wait_closed_after(closed);
	closed = closed_count();
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	/* that one was answered and closed too: the same before the next request
	 * (without the wait it could be sent before the close arrives: a race of
	 * the test, not of the client) */
	wait_closed_after(closed);
	/* a reply of many reads */
	set_mode(2, "big");
	EXPECT(fl_redis_ops.get(c, "k", 0, 5000, &v, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_int_equal(strlen(v), 3u << 20);
	assert_int_equal(v[12345], 'v');
	free(v);
	/* and it works again after all that */
	set_mode(2, "ok");
	EXPECT(fl_redis_ops.get(c, "k", 0, 1000, &v, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(v, "hi");
	free(v);
	fl_redis_ops.client_close(c);
}

static void test_refused(void **state)
{
	struct fl_sys_client *c;
	enum fl_outcome o;
	char err[256] = "", *v = NULL;

	(void)state;
	script(A4);
	/* the sentinel names a primary that refuses: nothing sent */
	c = client(0);
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -ECONNREFUSED,
	       FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: primary 127.0.0.64:6379: connection refused");
	fl_redis_ops.client_close(c);
	/* a node whose sentinel and server are gone */
	c = client(3);
	EXPECT(fl_redis_ops.put(c, "k", "v", 1000, &o, err, sizeof(err)), -ECONNREFUSED,
	       FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n4: sentinel 127.0.0.64:26379: connection refused");
	EXPECT(fl_redis_ops.get(c, "k", 1, 1000, &v, &o, err, sizeof(err)), -ECONNREFUSED,
	       FL_OUTCOME_FAIL);
	fl_redis_ops.client_close(c);
}

static void test_status(void **state)
{
	struct fl_sys_client *c;
	struct fl_sys_status st;
	enum fl_outcome o;
	char err[256] = "";

	(void)state;
	script(A2);
	c = client(2);
	EXPECT(fl_redis_ops.status(c, 1000, &st, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(st.node, "n3");
	assert_string_equal(st.leader, "n2");
	assert_true(st.leader_id == 2 && st.member_id == 3 && st.term == 3);
	LOG_IS("63:26379 SENTINEL|63:26379 SENTINEL");
	/* no primary known: no leader, still an answer */
	set_primary(0);
	EXPECT(fl_redis_ops.status(c, 1000, &st, &o, err, sizeof(err)), 0, FL_OUTCOME_OK);
	assert_string_equal(st.leader, "");
	assert_true(st.leader_id == 0);
	fl_redis_ops.client_close(c);
	/* a sentinel that does not answer */
	c = client(3);
	EXPECT(fl_redis_ops.status(c, 1000, &st, &o, err, sizeof(err)), -ECONNREFUSED,
	       FL_OUTCOME_FAIL);
	fl_redis_ops.client_close(c);
}

static void test_digest(void **state)
{
	struct fl_sys_client *c;
	char hex[FL_DIGEST_HEX], want[FL_DIGEST_HEX], err[256] = "";
	uint64_t h = FL_FNV64_INIT;
	int64_t rev;
	size_t n;

	(void)state;
	script(A2);
	c = client(0);
	if (fl_redis_ops.digest(c, 2000, hex, &rev, &n, err, sizeof(err)) < 0)
		fail_msg("digest: %s", err);
	/* sorted, each key once, the vanished one left out, set members sorted */
	h = fl_digest_add(h, "a", 1, "1", 1);
	h = fl_digest_add(h, "b", 1, "2", 1);
	h = fl_digest_add(h, "s", 1, "y\nz", 3);
	fl_digest_hex(h, want);
	assert_string_equal(hex, want);
	assert_int_equal(rev, 1234);
	assert_int_equal(n, 3);
	/* all of it from this node's own server, none from the primary */
	{
		char l[1024];

		take_log(l, sizeof(l));
		assert_null(strstr(l, ":26379"));
		assert_null(strstr(l, "62:"));
	}
	fl_redis_ops.client_close(c);
}

static void test_wait_ready(void **state)
{
	struct fl_sys_nodes n3 = { .n = 3, .names = names4, .addrs = fake_addrs };
	char leader[16] = "", err[512] = "";
	pid_t pids[3] = { 0 }, dead;
	int r;

	(void)state;
	script(A2);
	r = fl_redis_ops.wait_ready(&n3, 5 * FL_NS_PER_S, leader, sizeof(leader), err, sizeof(err));
	if (r < 0)
		fail_msg("wait_ready: %s", err);
	assert_string_equal(leader, "n2");
	/* a sentinel that has not found the others yet */
	pthread_mutex_lock(&fake.lock);
	fake.other_sentinels = 1;
	pthread_mutex_unlock(&fake.lock);
	assert_int_equal(fl_redis_ops.wait_ready(&n3, 300 * FL_NS_PER_MS, leader, sizeof(leader),
						 err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "the sentinel of n1 knows 1 other sentinels of 2"));
	/* a sentinel that has not met every replica yet */
	script(A2);
	pthread_mutex_lock(&fake.lock);
	fake.replicas = 1;
	pthread_mutex_unlock(&fake.lock);
	assert_int_equal(fl_redis_ops.wait_ready(&n3, 300 * FL_NS_PER_MS, leader, sizeof(leader),
						 err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "the sentinel of n1 knows 1 replicas of 2"));
	/* a primary that says it is a replica */
	script(A2);
	set_mode(2, "replica");
	assert_int_equal(fl_redis_ops.wait_ready(&n3, 300 * FL_NS_PER_MS, leader, sizeof(leader),
						 err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "primary n2: role slave, 0 of 2 replicas online"));
	/* a node process that has exited: at once */
	dead = fork();
	if (!dead)
		_exit(0);
	assert_true(dead > 0);
	waitpid(dead, NULL, 0);
	pids[1] = dead;
	n3.pids = pids;
	assert_int_equal(fl_redis_ops.wait_ready(&n3, 5 * FL_NS_PER_S, leader, sizeof(leader), err,
						 sizeof(err)), -ECHILD);
	assert_string_equal(err, "node n2: redis-server exited before the cluster was ready");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resp_scalars),
		cmocka_unit_test(test_resp_arrays),
		cmocka_unit_test(test_resp_hostile),
		cmocka_unit_test(test_resp_command),
		cmocka_unit_test_setup_teardown(test_node_argv, make_tmp, drop_tmp),
		cmocka_unit_test_setup_teardown(test_sidecar_argv, make_tmp, drop_tmp),
		cmocka_unit_test(test_timing),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_ops_ok),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_lost_and_silent),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_wait_ready),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("redis adapter (unit)", tests, fake_setup,
					   fake_teardown);
}
