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
#include <sys/prctl.h>
#include <unistd.h>

#include "faultline/agentc.h"

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

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_harness_killed),
	};
	char self[PATH_MAX];

	(void)argc;
	/* build/tests/unit/test_agentc -> build/faultline-agent */
	if (!realpath(argv[0], self))
		return 1;
	snprintf(agent, sizeof(agent), "%s/../../faultline-agent", dirname(self));
	return cmocka_run_group_tests_name("agent client", tests, NULL, NULL);
}
