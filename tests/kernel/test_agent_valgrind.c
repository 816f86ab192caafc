/* The real faultline-agent under valgrind memcheck, in a private network
 * namespace, driven through its protocol as the harness drives it: hello, a
 * netem shape, a partition and payload tampering on its link, status (journal, net_read, tc's
 * own view), a paused process, heal, the dead-man switch, shutdown by a
 * closed channel. Fails on any memcheck error or a definite or indirect
 * leak (valgrind exits 99). Skips, saying why, without root or valgrind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/agentc.h"

#define IFACE "fl-vg0"
/* the dead-man delay: the test's own steps between two calls (tc, under
 * TCG on a loaded host) must stay well under it */
#define HEAL_AFTER_S 8
/* valgrind under TCG is slow: a call may take seconds */
#define CALL_MS 120000

static char agent[PATH_MAX], dir[] = "/tmp/fl-vg-XXXXXX", vglog[PATH_MAX], skip_why[256];

static int group_setup(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(skip_why, sizeof(skip_why),
			 "needs root for a private network namespace: unshare: %s; run it in "
			 "the test VM (tests/vm/run)", strerror(errno));
		return 0;
	}
	if (system("valgrind --version >/dev/null 2>&1") != 0) {
		snprintf(skip_why, sizeof(skip_why), "valgrind is not installed (make deps)");
		return 0;
	}
	if (system("ip link add " IFACE " type veth peer name fl-vg1 && ip link set " IFACE
		   " up && ip link set fl-vg1 up") != 0) {
		print_error("cannot make the veth pair " IFACE "/fl-vg1\n");
		return -1;
	}
	if (!mkdtemp(dir))
		return -1;
	snprintf(vglog, sizeof(vglog), "%s/valgrind.log", dir);
	return 0;
}

static int group_teardown(void **state)
{
	char p[PATH_MAX];

	(void)state;
	if (skip_why[0])
		return 0;
	snprintf(p, sizeof(p), "%s/journal", dir);
	unlink(p);
	unlink(vglog);
	rmdir(dir);
	/* the namespace, and the veth pair in it, go with this process */
	return 0;
}

/* faultline-agent under memcheck on a socketpair, as fl_agentc_spawn starts it */
static pid_t start_agent(struct fl_agentc **c)
{
	char journal[PATH_MAX], logopt[PATH_MAX + 16], heal_after[16];
	int sv[2];
	pid_t pid;

	snprintf(journal, sizeof(journal), "%s/journal", dir);
	snprintf(logopt, sizeof(logopt), "--log-file=%s", vglog);
	snprintf(heal_after, sizeof(heal_after), "%ds", HEAL_AFTER_S);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)"valgrind", (char *)"--leak-check=full",
				 (char *)"--error-exitcode=99",
				 (char *)"--errors-for-leak-kinds=definite,indirect",
				 (char *)"--show-leak-kinds=definite,indirect", logopt, agent,
				 (char *)"--node", (char *)"n1", (char *)"--journal", journal,
				 (char *)"--iface", (char *)IFACE, (char *)"--heal-after",
				 heal_after, NULL };
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	/* pid 0: the test reaps the agent itself, for valgrind's exit status */
	assert_int_equal(fl_agentc_attach("n1", sv[0], 0, c), 0);
	return pid;
}

/* One call; the reply (ok or not) in *r, the agent's error text in err. */
static int call(struct fl_agentc *c, const char *line, json_t **r, char *err, size_t errlen)
{
	json_t *req = json_loads(line, 0, NULL);

	assert_non_null(req);
	*r = NULL;
	err[0] = 0;
	return fl_agentc_call(c, req, CALL_MS, r, err, errlen);
}

static void call_ok(struct fl_agentc *c, const char *line, json_t **r)
{
	char err[512];
	int rc = call(c, line, r, err, sizeof(err));

	if (rc < 0)
		print_error("%s: %s (%s)\n", line, err, strerror(-rc));
	assert_int_equal(rc, 0);
}

static size_t journal_entries(struct fl_agentc *c)
{
	json_t *r;
	size_t n;

	call_ok(c, "{\"op\":\"journal\"}", &r);
	n = json_array_size(json_object_get(r, "entries"));
	json_decref(r);
	return n;
}

/* What the kernel holds on the link, in tc's words (not the agent's). */
static int tc_has(const char *what, const char *word)
{
	char cmd[128], line[512];
	int found = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "tc %s show dev " IFACE " 2>&1", what);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p))
		found |= strstr(line, word) != NULL;
	pclose(p);
	return found;
}

static void print_summary(void)
{
	char line[512];
	FILE *f = fopen(vglog, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "ERROR SUMMARY") || strstr(line, "definitely lost") ||
		    strstr(line, "indirectly lost") || strstr(line, "no leaks are possible"))
			print_message("  %s", strchr(line, ' ') ? strchr(line, ' ') + 1 : line);
	fclose(f);
}

static void print_log(void)
{
	char line[512];
	FILE *f = fopen(vglog, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		print_message("  %s", line);
	fclose(f);
}

static void test_agent_under_memcheck(void **state)
{
	struct fl_agentc *c;
	json_t *r;
	char err[512];
	pid_t agent_pid, sut;
	int st;

	(void)state;
	if (skip_why[0]) {
		print_message("skipping: %s\n", skip_why);
		skip();
	}
	agent_pid = start_agent(&c);

	call_ok(c, "{\"op\":\"hello\"}", &r);
	assert_string_equal(json_string_value(json_object_get(r, "node")), "n1");
	json_decref(r);

	/* faults on its link: a shape for all traffic, a partition from one peer */
	call_ok(c, "{\"op\":\"net_apply\",\"fault\":\"f1\",\"iface\":\"" IFACE "\","
		   "\"netem\":{\"latency_ns\":50000000,\"jitter_ns\":5000000,\"loss\":10}}", &r);
	json_decref(r);
	call_ok(c, "{\"op\":\"net_apply\",\"fault\":\"f2\",\"iface\":\"" IFACE "\","
		   "\"block\":[\"192.0.2.2\"]}", &r);
	json_decref(r);
	/* Byzantine: one byte of the payload toward one peer rewritten (act_pedit) */
	call_ok(c, "{\"op\":\"net_apply\",\"fault\":\"f5\",\"iface\":\"" IFACE "\","
		   "\"tamper\":{\"offset\":28,\"value\":255},\"peers\":[\"192.0.2.3\"]}", &r);
	json_decref(r);
	/* refusals take their own paths through the agent */
	assert_int_equal(call(c, "{\"op\":\"net_apply\",\"fault\":\"f9\",\"iface\":\"lo\","
				 "\"block\":[\"192.0.2.2\"]}", &r, err, sizeof(err)), -EIO);
	json_decref(r);
	assert_int_equal(call(c, "{\"op\":\"net_apply\",\"fault\":\"f9\",\"iface\":\"" IFACE "\","
				 "\"netem\":{\"loss\":500}}", &r, err, sizeof(err)), -EIO);
	json_decref(r);
	assert_int_equal(call(c, "{\"op\":\"nope\"}", &r, err, sizeof(err)), -EIO);
	json_decref(r);

	/* a process of its own, paused (fault f3) */
	call_ok(c, "{\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}", &r);
	sut = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	assert_true(sut > 0);
	call_ok(c, "{\"op\":\"signal\",\"signal\":\"STOP\",\"fault\":\"f3\"}", &r);
	json_decref(r);

	/* status: the journal, the agent's reading of the kernel, and tc's */
	assert_int_equal(journal_entries(c), 4);
	call_ok(c, "{\"op\":\"net_read\",\"iface\":\"" IFACE "\"}", &r);
	assert_non_null(json_object_get(r, "kernel"));
	json_decref(r);
	call_ok(c, "{\"op\":\"ps\"}", &r);
	json_decref(r);
	assert_true(tc_has("qdisc", "netem"));
	assert_true(tc_has("filter", "c0000202")); /* 192.0.2.2 blocked */

	/* heal one fault, then the rest */
	call_ok(c, "{\"op\":\"heal\",\"fault\":\"f2\"}", &r);
	assert_int_equal(json_integer_value(json_object_get(r, "healed")), 1);
	json_decref(r);
	assert_false(tc_has("filter", "c0000202"));
	assert_true(tc_has("filter", "c0000203")); /* the tamper rule stays */
	assert_true(tc_has("qdisc", "netem"));
	call_ok(c, "{\"op\":\"heal\"}", &r);
	json_decref(r);
	assert_int_equal(journal_entries(c), 0);
	assert_false(tc_has("qdisc", "netem"));
	call_ok(c, "{\"op\":\"restart\"}", &r);
	sut = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);

	/* the dead-man switch: a fault, then silence past heal_after */
	call_ok(c, "{\"op\":\"net_apply\",\"fault\":\"f4\",\"iface\":\"" IFACE "\","
		   "\"netem\":{\"latency_ns\":20000000}}", &r);
	json_decref(r);
	assert_true(tc_has("qdisc", "netem"));
	sleep(HEAL_AFTER_S);
	for (int i = 0; i < 120 && tc_has("qdisc", "netem"); i++)
		usleep(500000);
	assert_false(tc_has("qdisc", "netem"));
	assert_int_equal(journal_entries(c), 0);

	/* shutdown: the channel closes, the agent heals, stops sleep and exits */
	fl_agentc_close(c, 0);
	assert_int_equal(waitpid(agent_pid, &st, 0), agent_pid);
	print_summary();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		print_log();
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0); /* 99: a memcheck error or leak */
	/* killed and reaped by the agent: not even a zombie is left */
	assert_int_equal(kill(sut, 0), -1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_under_memcheck),
	};
	char self[PATH_MAX];

	(void)argc;
	/* build/tests/kernel/test_agent_valgrind -> build/faultline-agent */
	if (!realpath(argv[0], self))
		return 1;
	snprintf(agent, sizeof(agent), "%s/../../faultline-agent", dirname(self));
	return cmocka_run_group_tests_name("agent under valgrind", tests, group_setup,
					   group_teardown);
}
