/*
 * tests/unit/test_exec_system.c: the exec adapter against small fake client
 * programs (shell scripts written into a temporary directory) that answer,
 * refuse, stall, die or babble as each test needs; and the example etcd
 * client (scenarios/exec/etcd-client.sh) against a real one-node etcd on
 * 127.0.0.143 when /usr/bin/etcd and curl are installed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
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

#include "faultline/scenario.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"
#include "faultline/workload.h"
#include "systems/exec-priv.h"

extern char **environ;
static const struct fl_system_ops *ops = &fl_exec_system_ops;
static char dir[PATH_MAX];
static const char *const names3[] = { "n1", "n2", "n3" };
static const uint32_t addrs3[] = { (127u << 24) | 11, (127u << 24) | 12, (127u << 24) | 13 };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_script(const char *name, const char *body)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

/* A scenario in dir whose client is ./<script> (relative: resolved
 * against the scenario file's directory). */
static struct fl_scenario *scenario(const char *script)
{
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	char name[PATH_MAX + 16], *yaml;

	snprintf(name, sizeof(name), "%s/t.yaml", dir);
	assert_true(asprintf(&yaml,
			     "name: t\nduration: 1m\ncluster:\n  nodes: [n1, n2, n3]\n"
			     "system:\n  type: exec\n  start: ['./node.sh', '{name}']\n"
			     "  client: ['./%s', '{name}', '{ip}:{port}']\n"
			     "  env:\n    MYVAR: hello\n    FAULTLINE_NODE: overridden\n"
			     "workload:\n  type: none\n", script) > 0);
	if (fl_scenario_load_string(name, yaml, strlen(yaml), NULL, 0, &d, &s) < 0)
		fail_msg("scenario did not load: %s", d.n ? d.v[0].msg : "?");
	fl_diags_release(&d);
	free(yaml);
	return s;
}

static struct fl_sys_nodes nodes3(const struct fl_scenario *s)
{
	return (struct fl_sys_nodes){ .n = 3, .names = names3, .addrs = addrs3, .data_root = dir,
				      .s = s };
}

static struct fl_sys_client *open_client(const struct fl_sys_nodes *n, size_t i)
{
	struct fl_sys_client *c = NULL;
	char err[256] = "";

	if (ops->client_open(n, i, &c, err, sizeof(err)) < 0)
		fail_msg("client_open: %s", err);
	return c;
}

/* get KEY: the value (static buffer) or "(none)"; *r and *oc as returned. */
static const char *get(struct fl_sys_client *c, const char *key, int tmo, int *r,
		       enum fl_outcome *oc, char *err, size_t errlen)
{
	static char buf[256];
	char *v = NULL;

	*r = ops->get(c, key, 0, tmo, &v, oc, err, errlen);
	snprintf(buf, sizeof(buf), "%s", v ? v : "(none)");
	free(v);
	return buf;
}

static pid_t pid_of(struct fl_sys_client *c)
{
	enum fl_outcome oc;
	char err[256];
	int r;
	const char *v = get(c, "pid", 2000, &r, &oc, err, sizeof(err));

	assert_int_equal(r, 0);
	return (pid_t)atoi(v);
}

/* Gone, or a zombie about to be reaped by whoever adopted it. */
static int gone_within(pid_t pid, int ms)
{
	int64_t until = mono_ms() + ms;

	while (!fl_sys_pid_exited(pid)) {
		if (mono_ms() > until)
			return 0;
		usleep(10000);
	}
	return 1;
}

/* --- replies ------------------------------------------------------------------------ */

static const char replies_sh[] =
	"args=\"$0|$*\"\n"
	"while IFS= read -r l; do\n"
	"  set -- $l\n"
	"  case \"$1 ${2:-}\" in\n"
	"  'status ') echo 'ok n2 7' ;;\n"
	"  'get k') echo 'ok v1' ;;\n"
	"  'get absent') echo ok ;;\n"
	"  'get blank') echo 'ok   ' ;;\n"
	"  'get two') echo 'ok a b' ;;\n"
	"  'get fail') echo 'fail unavailable no leader here' ;;\n"
	"  'get info') echo 'info timeout took too long' ;;\n"
	"  'get crlf') printf 'ok v2\\r\\n' ;;\n"
	"  'get pid') echo \"ok $$\" ;;\n"
	"  'get env') echo \"ok $FAULTLINE_NODE,$FAULTLINE_NODE_IP,$(echo $FAULTLINE_NODES | tr ' ' +),$MYVAR,$1,$2\" ;;\n"
	"  'get args') echo \"ok $(echo \"$args\" | tr ' ' _)\" ;;\n"
	"  get-local*) echo \"ok local-$2\" ;;\n"
	"  'put k') echo 'ok rev 17' ;;\n"
	"  'put f') echo 'fail refused not the leader' ;;\n"
	"  'put i') echo 'info timeout proposal dropped' ;;\n"
	"  'put bare') echo info ;;\n"
	"  'put m') echo 'what?' ;;\n"
	"  cas*) if [ \"$3\" = cur ]; then echo ok; else echo \"fail compare $2 is cur\"; fi ;;\n"
	"  add*) echo ok ;;\n"
	"  'read-set s') echo 'ok a b c' ;;\n"
	"  read-set-local*) echo 'ok ' ;;\n"
	"  'digest ') echo 'ok 0123456789ABCDEF 5 9' ;;\n"
	"  *) echo unsupported ;;\n"
	"  esac\n"
	"done\n";

static void test_replies(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	struct fl_sys_status st;
	enum fl_outcome oc;
	char err[512], **el = NULL, hex[FL_DIGEST_HEX], want[PATH_MAX + 64], *v = NULL;
	int64_t rev = -1;
	size_t nk = 0;
	int r;

	(void)state;
	write_script("replies.sh", replies_sh);
	s = scenario("replies.sh");
	n = nodes3(s);
	c = open_client(&n, 1);
	assert_ptr_equal(c->ops, ops);
	assert_string_equal(c->node, "n2");

	assert_int_equal(ops->status(c, 2000, &st, &oc, err, sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_string_equal(st.node, "n2");
	assert_string_equal(st.leader, "n2");
	assert_int_equal(st.leader_id, 2);
	assert_int_equal(st.member_id, 2);
	assert_int_equal(st.term, 7);

	assert_string_equal(get(c, "k", 2000, &r, &oc, err, sizeof(err)), "v1");
	assert_int_equal(r, 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_string_equal(get(c, "absent", 2000, &r, &oc, err, sizeof(err)), "(none)");
	assert_int_equal(r, 0);
	assert_string_equal(get(c, "blank", 2000, &r, &oc, err, sizeof(err)), "(none)");
	assert_int_equal(r, 0);
	assert_string_equal(get(c, "crlf", 2000, &r, &oc, err, sizeof(err)), "v2");
	assert_int_equal(ops->get(c, "x", 1, 2000, &v, &oc, err, sizeof(err)), 0);
	assert_string_equal(v, "local-x");
	free(v);

	/* the environment and the argv of the client program */
	snprintf(want, sizeof(want), "n2,127.0.0.12,n1=127.0.0.11+n2=127.0.0.12+n3=127.0.0.13,"
		 "hello,get,env");
	assert_string_equal(get(c, "env", 2000, &r, &oc, err, sizeof(err)), want);
	snprintf(want, sizeof(want), "%s/replies.sh|n2_127.0.0.12:2379", dir);
	assert_string_equal(get(c, "args", 2000, &r, &oc, err, sizeof(err)), want);

	/* fail and info: reads always FAIL; reason words map to errnos */
	get(c, "fail", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n2: get fail: fail unavailable no leader here");
	get(c, "info", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(oc, FL_OUTCOME_FAIL);

	assert_int_equal(ops->put(c, "k", "v", 2000, &oc, err, sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_int_equal(ops->put(c, "f", "v", 2000, &oc, err, sizeof(err)), -ECONNREFUSED);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_int_equal(ops->put(c, "i", "v", 2000, &oc, err, sizeof(err)), -ETIMEDOUT);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_int_equal(ops->put(c, "bare", "v", 2000, &oc, err, sizeof(err)), -EIO);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_string_equal(err, "node n2: put bare v: info (no reason given)");

	/* compare-and-set: a failed compare is a definite failure */
	assert_int_equal(ops->cas(c, "k", "cur", "new", 2000, &oc, err, sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_int_equal(ops->cas(c, "k", "old", "new", 2000, &oc, err, sizeof(err)), -ECANCELED);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n2: compare failed: cas k old new: fail compare k is cur");

	assert_int_equal(ops->add(c, "s", "e1", 2000, &oc, err, sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_int_equal(ops->read_set(c, "s", 0, 2000, &el, &oc, err, sizeof(err)), 0);
	assert_int_equal(fl_strv_len(el), 3);
	assert_string_equal(el[0], "a");
	assert_string_equal(el[2], "c");
	fl_strv_free(el);
	assert_int_equal(ops->read_set(c, "s", 1, 2000, &el, &oc, err, sizeof(err)), 0);
	assert_non_null(el);
	assert_null(el[0]);
	fl_strv_free(el);

	assert_int_equal(ops->digest(c, 2000, hex, &rev, &nk, err, sizeof(err)), 0);
	assert_string_equal(hex, "0123456789abcdef");
	assert_int_equal(nk, 5);
	assert_int_equal(rev, 9);

	/* words the protocol cannot carry never go out */
	assert_int_equal(ops->put(c, "a b", "v", 2000, &oc, err, sizeof(err)), -EINVAL);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_int_equal(ops->put(c, "k", "", 2000, &oc, err, sizeof(err)), -EINVAL);
	assert_int_equal(ops->put(c, "k", "x\ny", 2000, &oc, err, sizeof(err)), -EINVAL);
	/* ...and the stream is still in step */
	assert_string_equal(get(c, "k", 2000, &r, &oc, err, sizeof(err)), "v1");

	ops->client_close(c);
	ops->client_close(NULL);
	fl_scenario_free(s);
}

/* the reply parser alone (also the fuzz target's entry point) */
static void test_reply_parse(void **state)
{
	char line[64], err[256], **w;
	enum fl_outcome oc;
	size_t n;

	(void)state;
	snprintf(line, sizeof(line), "ok\t a  b");
	assert_int_equal(fl_exec_reply_parse("n1", "get k", FL_EXEC_GET, line, &w, &n, &oc, err,
					     sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_int_equal(n, 2);
	assert_string_equal(w[0], "a");
	assert_string_equal(w[1], "b");
	assert_null(w[2]);
	free(w);
	snprintf(line, sizeof(line), "fail compare k is x");
	assert_int_equal(fl_exec_reply_parse("n1", "cas k a b", FL_EXEC_CAS, line, &w, &n, &oc,
					     err, sizeof(err)), -ECANCELED);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_null(w);
	assert_string_equal(err, "node n1: compare failed: cas k a b: fail compare k is x");
	snprintf(line, sizeof(line), "  ");
	assert_int_equal(fl_exec_reply_parse("n1", "put k v", FL_EXEC_PUT, line, &w, &n, &oc, err,
					     sizeof(err)), -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_string_equal(err, "node n1: malformed reply to 'put k v': '  '");
}

static void test_digest_hashes_other_words(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	char err[256], hex[FL_DIGEST_HEX], want[FL_DIGEST_HEX];
	int64_t rev = -1;
	size_t nk = 7;

	(void)state;
	write_script("digest.sh", "while read -r l; do echo 'ok sha-abc'; done\n");
	s = scenario("digest.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	assert_int_equal(ops->digest(c, 2000, hex, &rev, &nk, err, sizeof(err)), 0);
	fl_digest_hex(fl_digest_add(FL_FNV64_INIT, "sha-abc", 7, "", 0), want);
	assert_string_equal(hex, want);
	assert_int_equal(rev, 0);
	assert_int_equal(nk, 0);
	ops->client_close(c);
	fl_scenario_free(s);
}

static void test_unsupported(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	struct fl_sys_status st;
	enum fl_outcome oc;
	char err[512], hex[FL_DIGEST_HEX], leader[32];
	int r;

	(void)state;
	write_script("unsup.sh", "while read -r l; do echo unsupported; done\n");
	s = scenario("unsup.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	get(c, "k", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -ENOTSUP);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: the client program does not support 'get'");
	assert_int_equal(ops->put(c, "k", "v", 2000, &oc, err, sizeof(err)), -ENOTSUP);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_int_equal(ops->status(c, 2000, &st, &oc, err, sizeof(err)), -ENOTSUP);
	assert_int_equal(ops->digest(c, 2000, hex, NULL, NULL, err, sizeof(err)), -ENOTSUP);
	ops->client_close(c);
	/* readiness cannot be known without status: said at once, no waiting */
	assert_int_equal(ops->wait_ready(&n, 10 * FL_NS_PER_S, leader, sizeof(leader), err,
					 sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "does not support 'status'"));
	fl_scenario_free(s);
}

/* --- time-outs, deaths, bad replies ---------------------------------------------------- */

static const char slow_sh[] =
	"while IFS= read -r l; do\n"
	"  set -- $l\n"
	"  case \"$2\" in\n"
	"  slow) sleep 1; echo 'ok late' ;;\n"
	"  pid) echo \"ok $$\" ;;\n"
	"  *) echo \"ok fast-$2\" ;;\n"
	"  esac\n"
	"done\n";

static void test_timeouts(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	enum fl_outcome oc;
	char err[512];
	pid_t p1, p2;
	int64_t t0;
	int r;

	(void)state;
	write_script("slow.sh", slow_sh);
	s = scenario("slow.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	p1 = pid_of(c);

	/* a write that times out: unknown outcome, the program killed at once */
	t0 = mono_ms();
	assert_int_equal(ops->put(c, "slow", "v", 200, &oc, err, sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 900);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_string_equal(err, "node n1: no answer to 'put slow v' within 200 ms (client "
				 "program killed)");
	assert_int_equal(kill(p1, 0), -1);
	assert_int_equal(errno, ESRCH);

	/* the late "ok late" is never taken for the next answer */
	usleep(1200 * 1000);
	assert_string_equal(get(c, "k", 2000, &r, &oc, err, sizeof(err)), "fast-k");
	assert_int_equal(r, 0);
	p2 = pid_of(c);
	assert_int_not_equal(p1, p2);

	/* a read that times out: FAIL */
	get(c, "slow", 200, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(get(c, "k2", 2000, &r, &oc, err, sizeof(err)), "fast-k2");
	ops->client_close(c);
	fl_scenario_free(s);
}

static const char dies_sh[] =
	"while IFS= read -r l; do\n"
	"  set -- $l\n"
	"  case \"$2\" in\n"
	"  die) exit 3 ;;\n"
	"  shut) exec 1>&-; sleep 30 ;;\n"
	"  pid) echo \"ok $$\" ;;\n"
	"  *) echo \"ok $2\" ;;\n"
	"  esac\n"
	"done\n";

static void test_program_exits(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	enum fl_outcome oc;
	char err[512];
	int64_t t0;
	pid_t p;
	int r;

	(void)state;
	write_script("dies.sh", dies_sh);
	s = scenario("dies.sh");
	n = nodes3(s);
	c = open_client(&n, 2);
	assert_int_equal(ops->put(c, "die", "v", 2000, &oc, err, sizeof(err)), -ECONNRESET);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_string_equal(err, "node n3: client program exited with status 3 without answering "
				 "'put die v'");
	/* restarted by the next call */
	assert_string_equal(get(c, "k", 2000, &r, &oc, err, sizeof(err)), "k");
	get(c, "die", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -ECONNRESET);
	assert_int_equal(oc, FL_OUTCOME_FAIL);

	/* closing stdout but living on: killed, not waited for */
	p = pid_of(c);
	t0 = mono_ms();
	assert_int_equal(ops->put(c, "shut", "v", 5000, &oc, err, sizeof(err)), -ECONNRESET);
	assert_true(mono_ms() - t0 < 2000);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_non_null(strstr(err, "closed its stdout and was killed"));
	assert_true(gone_within(p, 2000));

	/* exited between two calls: a fresh one, nothing lost */
	p = pid_of(c);
	kill(p, SIGKILL);
	usleep(100 * 1000);
	assert_int_equal(ops->put(c, "k", "v", 2000, &oc, err, sizeof(err)), 0);
	ops->client_close(c);
	fl_scenario_free(s);
}

static void test_missing_program(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c = NULL;
	char err[512];

	(void)state;
	s = scenario("no-such-client.sh");
	n = nodes3(s);
	assert_int_equal(ops->client_open(&n, 0, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "no-such-client.sh"));
	/* without the scenario there is no client argv */
	n.s = NULL;
	assert_int_equal(ops->client_open(&n, 0, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "exec: no scenario given (fl_sys_nodes.s), so no client argv");
	n.s = s;
	assert_int_equal(ops->client_open(&n, 3, &c, err, sizeof(err)), -EINVAL);
	fl_scenario_free(s);
}

static const char bad_sh[] =
	"while IFS= read -r l; do\n"
	"  set -- $l\n"
	"  case \"$1 ${2:-}\" in\n"
	"  'get huge'|'put huge') head -c 2100000 /dev/zero | tr '\\0' x; echo ;;\n"
	"  'get twice') echo 'ok a'; echo 'ok b' ;;\n"
	"  'get pid') echo \"ok $$\" ;;\n"
	"  'status ') echo \"$STATUS\" ;;\n"
	"  'digest ') echo 'ok abc xyz' ;;\n"
	"  *) echo 'hello there' ;;\n"
	"  esac\n"
	"done\n";

static void test_malformed(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	struct fl_sys_status st;
	enum fl_outcome oc;
	char err[512], hex[FL_DIGEST_HEX];
	pid_t p;
	int r;

	(void)state;
	write_script("bad.sh", bad_sh);
	s = scenario("bad.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	get(c, "k", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: malformed reply to 'get k': 'hello there'");
	assert_int_equal(ops->put(c, "k", "v", 2000, &oc, err, sizeof(err)), -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_INFO);
	assert_int_equal(ops->digest(c, 2000, hex, NULL, NULL, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "node n1: malformed reply to 'digest': 'ok abc xyz' (want "
				 "'ok DIGEST [KEYS [REVISION]]')");

	/* over 1 MiB without a newline: cut off, and the program replaced */
	p = pid_of(c);
	get(c, "huge", 5000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_non_null(strstr(err, "longer than 1048576 bytes: 'xxxx"));
	assert_true(strlen(err) < 400);
	assert_true(gone_within(p, 2000));
	assert_int_equal(ops->put(c, "huge", "v", 5000, &oc, err, sizeof(err)), -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_INFO);

	/* two answers to one request: the second is out of step */
	assert_string_equal(get(c, "twice", 2000, &r, &oc, err, sizeof(err)), "a");
	usleep(200 * 1000);
	get(c, "k", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: client program wrote 'ok b?' with no request pending "
				 "(out of step: restarted)");
	assert_true(pid_of(c) > 0);
	ops->client_close(c);

	/* status: a leader that is no node, a term that is no number */
	setenv("STATUS", "ok nobody 3", 1);
	c = open_client(&n, 0);
	assert_int_equal(ops->status(c, 2000, &st, &oc, err, sizeof(err)), -EPROTO);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_string_equal(err, "node n1: malformed reply to 'status': 'ok nobody 3' (want 'ok "
				 "LEADER TERM', LEADER a node's name or '-')");
	ops->client_close(c);
	setenv("STATUS", "ok n1 -3", 1);
	c = open_client(&n, 0);
	assert_int_equal(ops->status(c, 2000, &st, &oc, err, sizeof(err)), -EPROTO);
	ops->client_close(c);
	setenv("STATUS", "ok - 0", 1);
	c = open_client(&n, 0);
	assert_int_equal(ops->status(c, 2000, &st, &oc, err, sizeof(err)), 0);
	assert_string_equal(st.leader, "");
	assert_int_equal(st.leader_id, 0);
	ops->client_close(c);
	unsetenv("STATUS");
	fl_scenario_free(s);
}

/* --- slow starters under the workload --------------------------------------------- */

/* A scenario whose client is ./<script>, with workload and ready_timeout. */
static struct fl_scenario *wl_scenario(const char *script, const char *ready)
{
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	char name[PATH_MAX + 16], *yaml;

	snprintf(name, sizeof(name), "%s/w.yaml", dir);
	assert_true(asprintf(&yaml,
			     "name: w\nduration: 1m\ncluster:\n  nodes: [n1, n2, n3]\n"
			     "system:\n  type: exec\n  start: ['./node.sh']\n"
			     "  client: ['./%s']\n  ready_timeout: %s\n"
			     "workload:\n  type: set\n  clients: 2\n  rate: 40/s\n  keys: 2\n"
			     "  timeout: 300ms\n", script, ready) > 0);
	if (fl_scenario_load_string(name, yaml, strlen(yaml), NULL, 0, &d, &s) < 0)
		fail_msg("scenario did not load: %s", d.n ? d.v[0].msg : "?");
	fl_diags_release(&d);
	free(yaml);
	return s;
}

static void notes(void *ctx, const char *msg)
{
	char *log = ctx;

	print_message("  note: %s\n", msg);
	snprintf(log + strlen(log), 4096 - strlen(log), "%s\n", msg);
}

/* where wl_run's client programs write their stderr (NULL: temporary files) */
static const char *wl_logs;

/* The workload through the exec adapter for duration_ms; the history in
 * *ops, notes in log (4096 bytes). */
static int wl_run(struct fl_scenario *s, int duration_ms, struct fl_workload_stats *st,
		  struct fl_ops *hist, char *log, char *err, size_t errlen)
{
	struct fl_sys_nodes n = nodes3(s);
	struct fl_history *h;
	struct fl_workload w;
	char path[PATH_MAX + 32], e[256];
	int r;

	n.client_logs = wl_logs;
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	assert_int_equal(fl_history_open(path, 0, &h), 0);
	log[0] = 0;
	w = (struct fl_workload){ .s = s, .ops = ops,
				  .nodes = &n, .history = h, .seed = 3,
				  .duration_ns = duration_ms * FL_NS_PER_MS, .note = notes,
				  .note_ctx = log };
	r = fl_workload_open(&w, st, err, errlen);
	if (r == 0)
		r = fl_workload_run(&w, st, err, errlen);
	fl_workload_close(&w);
	fl_history_close(h);
	assert_int_equal(fl_history_load(path, hist, e, sizeof(e)), 0);
	unlink(path);
	return r;
}

/* sleeps SLOW_START seconds before it reads anything (a JVM, Python under
 * emulation); DIE_AFTER: exits after that many requests */
static const char slowstart_sh[] =
	"sleep ${SLOW_START:-1.2}\n"
	"echo 'starting up' >&2\n"
	"k=0\n"
	"while IFS= read -r l; do\n"
	"  k=$((k + 1))\n"
	"  if [ -n \"$DIE_AFTER\" ] && [ $k -gt \"$DIE_AFTER\" ]; then echo 'bye' >&2; exit 4; fi\n"
	"  case $l in\n"
	"  add*) echo ok ;;\n"
	"  read-set*) echo ok ;;\n"
	"  *) echo unsupported ;;\n"
	"  esac\n"
	"done\n";

/* Slower to start (1.2 s) than the op timeout (300 ms): the workload runs,
 * the start-ups are reported, no op carries one. On the code before
 * client_ready, every op timed out and killed the program: 0 ok. */
static void test_slow_start_charged_to_no_op(void **state)
{
	struct fl_scenario *s;
	struct fl_workload_stats st;
	struct fl_ops h;
	char err[512] = "", log[4096];
	int64_t longest = 0;
	size_t ok = 0;

	(void)state;
	write_script("slowstart.sh", slowstart_sh);
	s = wl_scenario("slowstart.sh", "10s");
	assert_int_equal(wl_run(s, 1500, &st, &h, log, err, sizeof(err)), 0);
	for (size_t i = 0; i < h.n; i++) {
		int64_t took = h.v[i].complete_ns - h.v[i].invoke_ns;
		ok += h.v[i].outcome == FL_OUTCOME_OK;
		if (took > longest)
			longest = took;
	}
	print_message("  %zu ops, %zu ok, longest %.0f ms; start-ups %.0f ms and %.0f ms, "
		      "ready after %.0f ms\n", h.n, ok, (double)longest / 1e6,
		      (double)st.clients[0].life.first_ready_ns / 1e6,
		      (double)st.clients[1].life.first_ready_ns / 1e6, (double)st.ready_ns / 1e6);
	/* 40/s for 1.5 s: about 60 ops, all ok; none waited for a start */
	assert_true(h.n >= 30);
	assert_int_equal(ok, h.n);
	assert_true(longest < 300 * FL_NS_PER_MS);
	assert_int_equal(st.nclients, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(st.clients[i].failed, 0);
		assert_int_equal(st.clients[i].life.starts, 1);
		assert_int_equal(st.clients[i].life.readies, 1);
		assert_true(st.clients[i].life.first_ready_ns >= 1200 * FL_NS_PER_MS);
		assert_true(st.clients[i].ok > 10);
	}
	/* both started at once, before the workload's time began */
	assert_true(st.ready_ns >= 1200 * FL_NS_PER_MS && st.ready_ns < 2400 * FL_NS_PER_MS);
	fl_ops_release(&h);
	fl_workload_stats_release(&st);

	/* each program exits after 5 requests: its successor's 0.5 s start-up
	 * is charged to no op either; deaths and restarts are counted, and a
	 * program that keeps dying makes its client back off */
	setenv("SLOW_START", "0.5", 1);
	setenv("DIE_AFTER", "5", 1);
	assert_int_equal(wl_run(s, 3000, &st, &h, log, err, sizeof(err)), 0);
	longest = 0;
	ok = 0;
	for (size_t i = 0; i < h.n; i++) {
		int64_t took = h.v[i].complete_ns - h.v[i].invoke_ns;
		ok += h.v[i].outcome == FL_OUTCOME_OK;
		if (took > longest)
			longest = took;
	}
	print_message("  dying: %zu ops, %zu ok, longest %.0f ms; client 0: %u starts, %u deaths, "
		      "%u back-offs\n", h.n, ok, (double)longest / 1e6, st.clients[0].life.starts,
		      st.clients[0].life.deaths, st.clients[0].backoffs);
	assert_true(ok >= 8);
	assert_true(longest < 300 * FL_NS_PER_MS);
	for (unsigned i = 0; i < 2; i++) {
		assert_true(st.clients[i].life.starts >= 2);
		assert_true(st.clients[i].life.deaths >= 1);
		assert_int_equal(st.clients[i].life.kills, 0);
	}
	fl_ops_release(&h);
	fl_workload_stats_release(&st);
	unsetenv("DIE_AFTER");
	unsetenv("SLOW_START");
	fl_scenario_free(s);
}

/* Slower to start than system.ready_timeout: a client failure, said with
 * the end of its stderr, after one try; no endless restarts. A program
 * that dies at once, every time: backed off, then given up within the
 * budget. */
static void test_never_ready_is_a_client_failure(void **state)
{
	struct fl_scenario *s;
	struct fl_workload_stats st;
	struct fl_ops h;
	char err[512] = "", log[4096];
	int64_t t0;

	(void)state;
	write_script("slowstart.sh", slowstart_sh);
	s = wl_scenario("slowstart.sh", "400ms");
	setenv("SLOW_START", "3", 1);
	t0 = mono_ms();
	assert_int_equal(wl_run(s, 1000, &st, &h, log, err, sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 6000); /* given up, not cycling (loaded CI room) */
	assert_int_equal(h.n, 0);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "client program not ready within 400 ms "
				    "(system.ready_timeout): no answer to 'hello' (killed)"));
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(st.clients[i].failed, -ETIMEDOUT);
		assert_int_equal(st.clients[i].life.starts, 1);
		assert_int_equal(st.clients[i].life.kills, 1);
	}
	assert_non_null(strstr(log, "gave up: node n"));
	fl_ops_release(&h);
	fl_workload_stats_release(&st);
	fl_scenario_free(s);

	write_script("crash.sh", "echo 'config file missing' >&2\nexit 1\n");
	s = wl_scenario("crash.sh", "1500ms");
	t0 = mono_ms();
	assert_int_equal(wl_run(s, 1000, &st, &h, log, err, sizeof(err)), -ETIMEDOUT);
	print_message("  %s (%lld ms)\n", err, (long long)(mono_ms() - t0));
	assert_true(mono_ms() - t0 < 9000); /* the same */
	assert_int_equal(h.n, 0);
	assert_non_null(strstr(err, "its stderr ends: 'config file missing'"));
	assert_non_null(strstr(err, "system.ready_timeout"));
	assert_non_null(strstr(log, "died 2 times in a row; waiting 0.25 s"));
	for (unsigned i = 0; i < 2; i++) {
		assert_true(st.clients[i].backoffs >= 2);
		assert_true(st.clients[i].life.starts >= 3 && st.clients[i].life.starts < 10);
		assert_int_equal(st.clients[i].life.readies, 0);
	}
	fl_ops_release(&h);
	fl_workload_stats_release(&st);
	unsetenv("SLOW_START");
	fl_scenario_free(s);
}

/* --- a program's stderr ---------------------------------------------------------------- */

/* writes 1 MiB to stderr after its answer to hello and after every 8th
 * request, while nobody waits on it, then says so in $MARK */
static const char chatty_sh[] =
	"k=0\n"
	"while IFS= read -r l; do\n"
	"  case $l in\n"
	"  hello|add*|read-set*) echo ok ;;\n"
	"  *) echo unsupported ;;\n"
	"  esac\n"
	"  if [ $((k % 8)) = 0 ]; then\n"
	"    head -c 1048576 /dev/zero | tr '\\0' x >&2 && echo wrote >> \"$MARK\"\n"
	"  fi\n"
	"  k=$((k + 1))\n"
	"done\n";

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int lines_in(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;

	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* A program that writes a lot to stderr while idle is never blocked by
 * it: its stderr is a file, not a pipe someone must drain. Through a
 * pipe, its 1 MiB after hello stopped at 64 KiB until the next request. */
static void test_stderr_never_blocks(void **state)
{
	struct fl_scenario *s;
	struct fl_workload_stats st;
	struct fl_ops h;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	enum fl_outcome oc;
	char err[512] = "", log[4096], mark[PATH_MAX + 16], logs[PATH_MAX + 16],
	     path[PATH_MAX + 300];
	int64_t longest = 0;
	size_t ok = 0;
	long total = 0;
	int files = 0;
	DIR *d;
	struct dirent *e;

	(void)state;
	write_script("chatty.sh", chatty_sh);
	snprintf(mark, sizeof(mark), "%s/mark", dir);
	snprintf(logs, sizeof(logs), "%s/logs", dir);
	assert_int_equal(mkdir(logs, 0755), 0);
	setenv("MARK", mark, 1);
	s = wl_scenario("chatty.sh", "5s");

	/* idle after hello: its 1 MiB is written all the same */
	n = nodes3(s);
	n.client_logs = logs;
	c = open_client(&n, 0);
	assert_int_equal(ops->client_ready(c, err, sizeof(err)), 0);
	for (int k = 0; k < 100 && lines_in(mark) < 1; k++)
		usleep(20000);
	assert_int_equal(lines_in(mark), 1);
	assert_string_equal(c->log, "client-n1-0.stderr");
	snprintf(path, sizeof(path), "%s/%s", logs, c->log);
	assert_int_equal(file_size(path), 1048576);
	assert_int_equal(ops->add(c, "s0", "1-0", 300, &oc, err, sizeof(err)), 0);
	assert_int_equal(oc, FL_OUTCOME_OK);
	ops->client_close(c);
	unlink(mark);

	/* under the workload: every op answered in time */
	wl_logs = logs;
	assert_int_equal(wl_run(s, 1000, &st, &h, log, err, sizeof(err)), 0);
	wl_logs = NULL;
	for (size_t i = 0; i < h.n; i++) {
		int64_t took = h.v[i].complete_ns - h.v[i].invoke_ns;
		ok += h.v[i].outcome == FL_OUTCOME_OK;
		if (took > longest)
			longest = took;
	}
	assert_non_null(d = opendir(logs));
	while ((e = readdir(d))) {
		struct stat fs;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", logs, e->d_name);
		assert_int_equal(stat(path, &fs), 0);
		assert_int_equal(fs.st_mode & 0022, 0); /* never world- or group-writable */
		total += (long)fs.st_size;
		files++;
	}
	closedir(d);
	print_message("  %zu ops, %zu ok, longest %.0f ms; %d MiB written to stderr, in %d files "
		      "(%s, %s)\n", h.n, ok, (double)longest / 1e6, lines_in(mark), files,
		      st.clients[0].log, st.clients[1].log);
	assert_true(h.n >= 20);
	assert_int_equal(ok, h.n);
	assert_true(longest < 300 * FL_NS_PER_MS);
	/* hello and every 8th request after it: at least 2 MiB per client */
	assert_true(lines_in(mark) >= 4);
	assert_int_equal(files, 3); /* the first client's, and the workload's two */
	assert_int_equal(total, 1048576L * (1 + lines_in(mark)));
	assert_string_not_equal(st.clients[0].log, st.clients[1].log);
	assert_non_null(strstr(st.clients[0].log, "client-n1-"));
	assert_non_null(strstr(st.clients[1].log, "client-n2-"));
	fl_ops_release(&h);
	fl_workload_stats_release(&st);
	unsetenv("MARK");
	fl_scenario_free(s);
}

/* --- readiness, closing ------------------------------------------------------------- */

static void test_wait_ready(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	char err[512], leader[32];
	pid_t pids[3] = { 0 };
	int64_t t0;

	(void)state;
	/* STATUS_<node> says what that node answers */
	write_script("ready.sh", "while read -r l; do eval \"echo \\\"\\$STATUS_$FAULTLINE_NODE\\\"\"; "
				 "done\n");
	s = scenario("ready.sh");
	n = nodes3(s);

	setenv("STATUS_n1", "ok n3 4", 1);
	setenv("STATUS_n2", "ok n3 4", 1);
	setenv("STATUS_n3", "ok n3 4", 1);
	assert_int_equal(ops->wait_ready(&n, 5 * FL_NS_PER_S, leader, sizeof(leader), err,
					 sizeof(err)), 0);
	assert_string_equal(leader, "n3");

	/* leaderless: ready when every node says '-' */
	setenv("STATUS_n1", "ok - 0", 1);
	setenv("STATUS_n2", "ok - 0", 1);
	setenv("STATUS_n3", "ok - 0", 1);
	strcpy(leader, "x");
	assert_int_equal(ops->wait_ready(&n, 5 * FL_NS_PER_S, leader, sizeof(leader), err,
					 sizeof(err)), 0);
	assert_string_equal(leader, "");

	/* some know a leader and some do not: not ready */
	setenv("STATUS_n2", "ok n1 2", 1);
	t0 = mono_ms();
	assert_int_equal(ops->wait_ready(&n, 400 * FL_NS_PER_MS, leader, sizeof(leader), err,
					 sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 3000);
	assert_non_null(strstr(err, "knows no leader"));

	/* disagreement */
	setenv("STATUS_n1", "ok n1 2", 1);
	setenv("STATUS_n3", "ok n3 2", 1);
	assert_int_equal(ops->wait_ready(&n, 400 * FL_NS_PER_MS, leader, sizeof(leader), err,
					 sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "nodes disagree on the leader: n1 and n3"));

	/* a failing status */
	setenv("STATUS_n3", "fail unavailable starting", 1);
	assert_int_equal(ops->wait_ready(&n, 400 * FL_NS_PER_MS, leader, sizeof(leader), err,
					 sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "fail unavailable starting"));

	/* a node process that has exited */
	pids[0] = getpid();
	pids[1] = fork();
	if (pids[1] == 0)
		_exit(0);
	pids[2] = getpid();
	usleep(100 * 1000);
	n.pids = pids;
	assert_int_equal(ops->wait_ready(&n, 5 * FL_NS_PER_S, leader, sizeof(leader), err,
					 sizeof(err)), -ECHILD);
	assert_string_equal(err, "node n2: its process exited before the cluster was ready");
	waitpid(pids[1], NULL, 0);
	unsetenv("STATUS_n1");
	unsetenv("STATUS_n2");
	unsetenv("STATUS_n3");
	fl_scenario_free(s);
}

static void test_close_leaves_nothing(void **state)
{
	struct fl_scenario *s;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	enum fl_outcome oc;
	char err[256];
	const char *v;
	pid_t leader, child;
	int64_t t0;
	int r;

	(void)state;
	/* a stubborn program: a child of its own, and stdin's end ignored */
	write_script("stubborn.sh", "trap '' TERM HUP\nsleep 300 &\nkid=$!\n"
				    "while :; do\n"
				    "  if IFS= read -r l; then echo \"ok $$,$kid\"; else sleep 300; fi\n"
				    "done\n");
	s = scenario("stubborn.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	v = get(c, "pids", 2000, &r, &oc, err, sizeof(err));
	assert_int_equal(r, 0);
	assert_int_equal(sscanf(v, "%d,%d", &leader, &child), 2);
	assert_int_equal(kill(leader, 0), 0);
	assert_int_equal(kill(child, 0), 0);
	t0 = mono_ms();
	ops->client_close(c);
	assert_true(mono_ms() - t0 < 2000);
	assert_int_equal(kill(leader, 0), -1); /* ours: reaped */
	assert_int_equal(errno, ESRCH);
	assert_true(gone_within(child, 3000)); /* its child: killed with the group */

	/* a well-behaved one exits on end of input, before the kill */
	write_script("polite.sh", "while IFS= read -r l; do echo \"ok $$\"; done\n");
	fl_scenario_free(s);
	s = scenario("polite.sh");
	n = nodes3(s);
	c = open_client(&n, 0);
	leader = pid_of(c);
	ops->client_close(c);
	assert_int_equal(kill(leader, 0), -1);
	fl_scenario_free(s);
}

/* --- argv ----------------------------------------------------------------------------- */

static void test_node_argv(void **state)
{
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	struct fl_sys_nodes n;
	char **argv = NULL, err[256], want[PATH_MAX + 64], cwd[PATH_MAX];
	struct stat sb;
	const char *yaml = "name: t\nduration: 1m\ncluster:\n  nodes: [n1, n2, n3]\n"
			   "system:\n  type: exec\n"
			   "  start: ['bin/db', '--id={name}', '{peer_ips}', '{data_dir}', '{ip}:{port}',"
			   " '{peers}', '{{x}}']\n"
			   "  client: [dbctl]\nworkload:\n  type: none\n";

	(void)state;
	assert_int_equal(fl_scenario_load_string("sub/dir/t.yaml", yaml, strlen(yaml), NULL, 0, &d,
						 &s), 0);
	n = nodes3(s);
	assert_int_equal(ops->node_argv(s, &n, 1, &argv, err, sizeof(err)), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/sub/dir/bin/db", cwd);
	assert_string_equal(argv[0], want);
	assert_string_equal(argv[1], "--id=n2");
	assert_string_equal(argv[2], "127.0.0.11,127.0.0.12,127.0.0.13");
	snprintf(want, sizeof(want), "%s/n2", dir);
	assert_string_equal(argv[3], want);
	assert_int_equal(stat(want, &sb), 0); /* made for the node */
	assert_true(S_ISDIR(sb.st_mode));
	assert_string_equal(argv[4], "127.0.0.12:2379");
	assert_string_equal(argv[5], "n1=http://127.0.0.11:2380,n2=http://127.0.0.12:2380,"
				     "n3=http://127.0.0.13:2380");
	assert_string_equal(argv[6], "{x}");
	assert_null(argv[7]);
	fl_strv_free(argv);
	fl_scenario_free(s);

	/* absolute paths and bare names are left alone; a file without a directory:
	 * relative to the cwd */
	yaml = "name: t\nduration: 1m\nsystem:\n  type: exec\n  start: [/opt/db, x]\n"
	       "  client: [./c.sh]\nworkload:\n  type: none\n";
	assert_int_equal(fl_scenario_load_string("t.yaml", yaml, strlen(yaml), NULL, 0, &d, &s), 0);
	n.data_root = NULL;
	assert_int_equal(ops->node_argv(s, &n, 0, &argv, err, sizeof(err)), 0);
	assert_string_equal(argv[0], "/opt/db");
	fl_strv_free(argv);
	s->system.client[0][0] = 'd'; /* "d/c.sh" */
	fl_strv_free(s->system.start);
	s->system.start = s->system.client;
	s->system.client = NULL;
	assert_int_equal(ops->node_argv(s, &n, 0, &argv, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/d/c.sh", cwd);
	assert_string_equal(argv[0], want);
	fl_strv_free(argv);
	assert_int_equal(ops->node_argv(s, &n, 5, &argv, err, sizeof(err)), -EINVAL);
	fl_scenario_free(s);
	fl_diags_release(&d);
}

/* --- argv, never a shell ------------------------------------------------------------- */

/* system.client is exec'd as argv: shell metacharacters in its words reach
 * the program as they are written, and nothing runs them. */
static void test_client_argv_is_literal(void **state)
{
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	enum fl_outcome oc;
	char name[PATH_MAX + 16], want[4 * PATH_MAX], err[256], p[PATH_MAX + 16], *yaml;
	int r;

	(void)state;
	write_script("args.sh", "a=\"$1|$2|$3\"\n"
				"while IFS= read -r l; do printf 'ok %s\\n' \"$(printf %s \"$a\" | tr ' ' _)\"; done\n");
	snprintf(name, sizeof(name), "%s/argv.yaml", dir);
	assert_true(asprintf(&yaml,
			     "name: t\nduration: 1m\ncluster:\n  nodes: [n1, n2, n3]\n"
			     "system:\n  type: exec\n  start: ['./node.sh']\n"
			     "  client: ['./args.sh', '$(touch %s/p1)', 'x; touch %s/p2', '`touch %s/p3`']\n"
			     "workload:\n  type: none\n", dir, dir, dir) > 0);
	if (fl_scenario_load_string(name, yaml, strlen(yaml), NULL, 0, &d, &s) < 0)
		fail_msg("scenario did not load: %s", d.n ? d.v[0].msg : "?");
	free(yaml);
	n = nodes3(s);
	c = open_client(&n, 0);
	snprintf(want, sizeof(want), "$(touch_%s/p1)|x;_touch_%s/p2|`touch_%s/p3`", dir, dir, dir);
	assert_string_equal(get(c, "k", 2000, &r, &oc, err, sizeof(err)), want);
	assert_int_equal(r, 0);
	ops->client_close(c);
	for (int i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s/p%d", dir, i);
		assert_int_equal(access(p, F_OK), -1); /* no shell ran the words */
	}
	fl_scenario_free(s);
	fl_diags_release(&d);
}

/* --- the example client against a real etcd ------------------------------------------- */

#define ETCD_IP ((127u << 24) | 143u) /* 127.0.0.143 */

static void test_real_etcd(void **state)
{
	const char *ov[] = { "cluster.nodes=[e1]", "nemesis=[]", "checks={}",
			     "system.env.FL_CLIENT_TIMEOUT=3s" };
	static const char *const names1[] = { "e1" };
	static const uint32_t addrs1[] = { ETCD_IP };
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	struct fl_sys_nodes n;
	struct fl_sys_client *c;
	struct fl_sys_status st;
	posix_spawn_file_actions_t fa;
	enum fl_outcome oc;
	char **argv = NULL, err[512], leader[32], path[PATH_MAX + 32], hex[FL_DIGEST_HEX];
	char hex2[FL_DIGEST_HEX], **el = NULL, *v = NULL;
	pid_t etcd = 0;
	int r;

	(void)state;
	if (access("/usr/bin/etcd", X_OK) || system("command -v curl >/dev/null 2>&1") ||
	    access("scenarios/exec-etcd.yaml", R_OK)) {
		skip(); /* needs etcd-server, etcd-client, and the source tree as cwd */
		return;
	}
	if (fl_scenario_load("scenarios/exec-etcd.yaml", (char *const *)ov, 4, &d, &s) < 0)
		fail_msg("scenarios/exec-etcd.yaml: %s", d.n ? d.v[0].msg : "?");
	fl_diags_release(&d);
	n = (struct fl_sys_nodes){ .n = 1, .names = names1, .addrs = addrs1, .data_root = dir,
				   .s = s };
	assert_int_equal(ops->node_argv(s, &n, 0, &argv, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/etcd.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawn(&etcd, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	fl_strv_free(argv);
	n.pids = &etcd;

	r = ops->wait_ready(&n, 30 * FL_NS_PER_S, leader, sizeof(leader), err, sizeof(err));
	if (r < 0) {
		kill(etcd, SIGKILL);
		waitpid(etcd, NULL, 0);
		fail_msg("wait_ready: %s (log %s)", err, path);
	}
	assert_string_equal(leader, "e1");
	c = open_client(&n, 0);
#define OK(call) do { if ((call) < 0) fail_msg("%s: %s", #call, err); } while (0)
	OK(ops->status(c, 5000, &st, &oc, err, sizeof(err)));
	assert_string_equal(st.leader, "e1");
	assert_true(st.term >= 1);
	OK(ops->get(c, "r1", 0, 5000, &v, &oc, err, sizeof(err)));
	assert_null(v);
	OK(ops->put(c, "r1", "v1", 5000, &oc, err, sizeof(err)));
	OK(ops->get(c, "r1", 0, 5000, &v, &oc, err, sizeof(err)));
	assert_string_equal(v, "v1");
	free(v);
	OK(ops->cas(c, "r1", "v1", "v2", 5000, &oc, err, sizeof(err)));
	assert_int_equal(oc, FL_OUTCOME_OK);
	assert_int_equal(ops->cas(c, "r1", "v1", "v3", 5000, &oc, err, sizeof(err)), -ECANCELED);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_int_equal(ops->cas(c, "nokey", "a", "b", 5000, &oc, err, sizeof(err)), -ECANCELED);
	OK(ops->get(c, "r1", 1, 5000, &v, &oc, err, sizeof(err)));
	assert_string_equal(v, "v2");
	free(v);
	OK(ops->add(c, "s1", "e1", 5000, &oc, err, sizeof(err)));
	OK(ops->add(c, "s1", "e2", 5000, &oc, err, sizeof(err)));
	OK(ops->read_set(c, "s1", 0, 5000, &el, &oc, err, sizeof(err)));
	assert_int_equal(fl_strv_len(el), 2);
	assert_string_equal(el[0], "e1");
	assert_string_equal(el[1], "e2");
	fl_strv_free(el);
	OK(ops->read_set(c, "s2", 1, 5000, &el, &oc, err, sizeof(err)));
	assert_null(el[0]);
	fl_strv_free(el);
	OK(ops->digest(c, 5000, hex, NULL, NULL, err, sizeof(err)));
	OK(ops->digest(c, 5000, hex2, NULL, NULL, err, sizeof(err)));
	assert_string_equal(hex, hex2);
	OK(ops->put(c, "r2", "x", 5000, &oc, err, sizeof(err)));
	OK(ops->digest(c, 5000, hex2, NULL, NULL, err, sizeof(err)));
	assert_string_not_equal(hex, hex2);
	assert_int_equal(ops->put(c, "r1", "a b", 5000, &oc, err, sizeof(err)), -EINVAL);
#undef OK
	ops->client_close(c);

	/* the node gone: a refused connection sent nothing, so the write
	 * definitely did not happen (the client says "fail refused ..."),
	 * reads failed, nothing hangs */
	kill(etcd, SIGKILL);
	waitpid(etcd, NULL, 0);
	c = open_client(&n, 0);
	assert_int_equal(ops->put(c, "r1", "v9", 8000, &oc, err, sizeof(err)), -ECONNREFUSED);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	assert_true(ops->get(c, "r1", 0, 8000, &v, &oc, err, sizeof(err)) < 0);
	assert_int_equal(oc, FL_OUTCOME_FAIL);
	ops->client_close(c);
	fl_scenario_free(s);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fl-exec-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_reply_parse),
		cmocka_unit_test(test_digest_hashes_other_words),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_program_exits),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_wait_ready),
		cmocka_unit_test(test_slow_start_charged_to_no_op),
		cmocka_unit_test(test_never_ready_is_a_client_failure),
		cmocka_unit_test(test_stderr_never_blocks),
		cmocka_unit_test(test_close_leaves_nothing),
		cmocka_unit_test(test_node_argv),
		cmocka_unit_test(test_client_argv_is_literal),
		cmocka_unit_test(test_real_etcd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
