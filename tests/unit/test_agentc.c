/* The harness's agent client against the real faultline-agent binary:
 * calls and replies, errors with the agent's text, time limits, and what
 * happens when the harness dies (kill -9) while a fault holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "faultline/agentc.h"
#include "faultline/exec.h"
#include "faultline/plan.h"

static char agent[PATH_MAX];

static int alive(pid_t pid)
{
	char p[64], buf[512], *q;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(p, "r")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	q = strrchr(buf, ')');
	return q && q[2] != 'Z' && q[2] != 'X' ? q[2] : 0;
}

static void test_calls(void **state)
{
	struct fl_agentc *c;
	json_t *r = NULL;
	char err[256];
	char *extra[] = { (char *)"--heal-after", (char *)"0", NULL };
	pid_t sut;

	(void)state;
	assert_int_equal(fl_agentc_spawn(agent, "n1", extra, &c), 0);
	assert_int_equal(fl_agentc_call(c, json_pack("{s:s}", "op", "hello"), 5000, &r, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(r, "node")), "n1");
	json_decref(r);
	assert_int_equal(fl_agentc_call(c, json_pack("{s:s}", "op", "nope"), 5000, &r, err, sizeof(err)),
			 -EIO);
	assert_string_equal(err, "node 'n1': unknown op 'nope'");
	assert_int_equal(fl_agentc_call(c, json_pack("{s:s, s:[s,s]}", "op", "spawn", "argv", "sleep", "60"),
					5000, &r, err, sizeof(err)), 0);
	sut = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	assert_true(alive(sut));
	/* closing the channel: the agent heals, stops its processes and exits */
	fl_agentc_close(c, 5000);
	for (int i = 0; i < 200 && alive(sut); i++)
		usleep(10000);
	assert_false(alive(sut));
}

/* A "harness" child starts an agent, pauses a process, and is killed -9.
 * The agent must notice (its channel closes), heal, and clean up. */
static void test_harness_killed(void **state)
{
	int p[2];
	pid_t harness, sut = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	harness = fork();
	assert_true(harness >= 0);
	if (harness == 0) {
		struct fl_agentc *c;
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
		json_t *r;
		char err[256];
		char *extra[] = { (char *)"--heal-after", (char *)"30s", NULL };
		if (fl_agentc_spawn(agent, "n1", extra, &c) < 0 ||
		    fl_agentc_call(c, json_pack("{s:s, s:[s,s]}", "op", "spawn", "argv", "sleep", "60"), 5000,
				   &r, err, sizeof(err)) < 0)
			_exit(1);
		sut = (pid_t)json_integer_value(json_object_get(r, "pid"));
		if (fl_agentc_call(c, json_pack("{s:s, s:s}", "op", "signal", "signal", "STOP"), 5000, &r,
				   err, sizeof(err)) < 0)
			_exit(1);
		if (write(p[1], &sut, sizeof(sut)) != sizeof(sut))
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &sut, sizeof(sut)), sizeof(sut));
	close(p[0]);
	/* SIGSTOP lands asynchronously: on a loaded machine give it a moment */
	for (int i = 0; i < 200 && alive(sut) != 'T'; i++)
		usleep(10000);
	if (alive(sut) != 'T')
		kill(harness, SIGKILL);
	assert_int_equal(alive(sut), 'T');
	kill(harness, SIGKILL);
	waitpid(harness, NULL, 0);
	/* well before heal_after (30 s): the closed channel is enough */
	for (int i = 0; i < 300 && alive(sut); i++)
		usleep(10000);
	assert_false(alive(sut));
}

/* exec.h's lost-node hooks, recorded */
struct lost_log {
	uint64_t lost, healed;
	char why[256];
};

static void on_lost(void *ctx, size_t node, const char *why)
{
	struct lost_log *l = ctx;

	assert_false(l->lost & (1ull << node)); /* once per node */
	l->lost |= 1ull << node;
	snprintf(l->why, sizeof(l->why), "%s", why);
}

static int heal_lost(void *ctx, size_t node, char *err, size_t errlen)
{
	struct lost_log *l = ctx;

	(void)err;
	(void)errlen;
	l->healed |= 1ull << node;
	return 1;
}

/* One of three agents killed (SIGKILL) before a fault on all three: the
 * fault is applied on the other two, the dead one is lost (once) and
 * skipped, not a failure; the heal heals the two through their agents and
 * the lost one through heal_lost. */
static void test_exec_lost_node(void **state)
{
	static const char y[] = "name: lost\nseed: 1\nduration: 10s\ncluster: {nodes: 3}\n"
				"system: {type: etcd}\nworkload: {type: none}\n"
				"nemesis: [{fault: pause, targets: all, at: 1s, for: 2s}]\n";
	char *extra[] = { (char *)"--heal-after", (char *)"0", NULL };
	struct fl_agentc *c[3];
	struct fl_scenario *s = NULL;
	struct fl_diags d = { 0 };
	struct fl_plan *p = NULL;
	struct lost_log l = { 0 };
	pid_t sut[3];
	uint64_t touched = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(fl_scenario_load_string("lost.yaml", y, sizeof(y) - 1, NULL, 0, &d, &s), 0);
	assert_int_equal(fl_plan_build(s, 1, &p), 0);
	for (int i = 0; i < 3; i++) {
		json_t *r = NULL;
		char node[4];
		snprintf(node, sizeof(node), "n%d", i + 1);
		assert_int_equal(fl_agentc_spawn(agent, node, extra, &c[i]), 0);
		assert_int_equal(fl_agentc_call(c[i], json_pack("{s:s, s:[s,s]}", "op", "spawn", "argv",
								"sleep", "60"),
						5000, &r, err, sizeof(err)), 0);
		sut[i] = (pid_t)json_integer_value(json_object_get(r, "pid"));
		json_decref(r);
	}
	kill(c[1]->pid, SIGKILL);
	waitpid(c[1]->pid, NULL, 0);
	{
		struct fl_exec x = { .s = s, .agents = c, .timeout_ms = 5000, .ctx = &l,
				     .on_lost = on_lost, .heal_lost = heal_lost };
		assert_int_equal(fl_exec_apply(&x, &p->steps[0], "f0.0", &touched, err, sizeof(err)), 0);
		assert_int_equal(touched, 5);   /* n1, n3 */
		assert_int_equal(x.lost_hit, 2); /* n2 skipped */
		assert_int_equal(l.lost, 2);
		assert_int_equal(x.lost, 2);
		assert_string_equal(l.why, "node 'n2': the agent's channel is closed");
		for (int i = 0; i < 200 && (alive(sut[0]) != 'T' || alive(sut[2]) != 'T'); i++)
			usleep(10000);
		assert_int_equal(alive(sut[0]), 'T');
		assert_int_equal(alive(sut[2]), 'T');
		assert_int_equal(fl_exec_heal(&x, 7, "f0.0", err, sizeof(err)), 0);
		assert_int_equal(l.healed, 2); /* the lost one without its agent */
		assert_int_equal(x.lost_hit, 2);
		/* when each agent's heal was done, on its own clock (CLOCK_MONOTONIC,
		 * the harness's too); none from the lost one */
		{
			struct timespec ts;
			int64_t now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
			assert_true(x.landed_ns[0] > 0 && x.landed_ns[0] <= now);
			assert_true(x.landed_ns[2] > 0 && x.landed_ns[2] <= now);
			assert_int_equal(x.landed_ns[1], 0);
		}
		for (int i = 0; i < 200 && (alive(sut[0]) == 'T' || alive(sut[2]) == 'T'); i++)
			usleep(10000);
		assert_true(alive(sut[0]) && alive(sut[0]) != 'T');
		assert_true(alive(sut[2]) && alive(sut[2]) != 'T');
	}
	for (int i = 0; i < 3; i++) {
		kill(sut[i], SIGKILL);
		fl_agentc_close(c[i], 2000);
	}
	fl_plan_free(p);
	fl_scenario_free(s);
	fl_diags_release(&d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_harness_killed),
		cmocka_unit_test(test_exec_lost_node),
	};
	char self[PATH_MAX];

	(void)argc;
	/* build/tests/unit/test_agentc -> build/faultline-agent */
	if (!realpath(argv[0], self))
		return 1;
	snprintf(agent, sizeof(agent), "%s/../../faultline-agent", dirname(self));
	return cmocka_run_group_tests_name("agent client", tests, NULL, NULL);
}
