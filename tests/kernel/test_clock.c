/* The clock fault in the agent (injectors/clock.c), on a real clock: only
 * inside the micro-VM (tests/vm/run), whose clock is the test's to move;
 * on any other machine it skips rather than move the host's clock.
 * Shown: an agent without --vm-node refuses; a shift moves the wall
 * clock by the offset and leaves CLOCK_MONOTONIC alone; heal puts it back
 * (the time that passed is kept); a journal left by a dead agent is healed
 * by the next one; healing twice is healing once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/agent.h"

#define NS 1000000000LL

static char dir[] = "/tmp/fl-clock-test-XXXXXX";
static char journal[300];

/* wall clock minus monotonic clock: what a clock fault moves */
static int64_t distance(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * NS + (r.tv_nsec - m.tv_nsec);
}

static json_t *call(struct fl_agent *a, const char *line)
{
	char *reply = fl_agent_handle_line(a, line, strlen(line));
	json_t *j = json_loads(reply, 0, NULL);

	free(reply);
	assert_non_null(j);
	return j;
}

static int ok(json_t *r)
{
	int v = json_is_true(json_object_get(r, "ok"));

	if (!v)
		print_message("reply: %s\n", json_string_value(json_object_get(r, "error")));
	json_decref(r);
	return v;
}

static int setup(void **state)
{
	(void)state;
	if (!getenv("FAULTLINE_VM_ACCEL") || geteuid() != 0)
		return 0;
	if (!mkdtemp(dir))
		return -1;
	snprintf(journal, sizeof(journal), "%s/agent.journal", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (journal[0]) {
		unlink(journal);
		rmdir(dir);
	}
	return 0;
}

static void need_vm(void)
{
	if (!journal[0])
		skip(); /* not in the micro-VM (or not root): the host's clock is not ours */
}

static void test_refused_without_vm_node(void **state)
{
	struct fl_agent a;
	int64_t before;
	json_t *r;

	(void)state;
	need_vm();
	assert_int_equal(fl_agent_init(&a, "n1", journal, 0, NULL), 0);
	before = distance();
	r = call(&a, "{\"id\":1,\"op\":\"clock\",\"fault\":\"f0\",\"offset_ns\":30000000000}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "VM node"));
	json_decref(r);
	assert_true(llabs(distance() - before) < NS / 10);
	assert_int_equal(fl_journal_count(a.journal), 0);
	fl_agent_release(&a);
}

static void test_shift_and_heal(void **state)
{
	struct fl_agent a;
	int64_t before, during;
	size_t healed = 0;
	char err[256];

	(void)state;
	need_vm();
	assert_int_equal(fl_agent_init(&a, "n1", journal, 0, NULL), 0);
	a.vm_node = 1;
	before = distance();
	assert_true(ok(call(&a, "{\"id\":1,\"op\":\"clock\",\"fault\":\"f0\",\"offset_ns\":-30000000000}")));
	during = distance();
	assert_true(llabs(during - before + 30 * NS) < NS / 10); /* 30 s behind */
	assert_int_equal(fl_journal_count(a.journal), 1);
	/* bad offsets are refused before anything is written */
	assert_false(ok(call(&a, "{\"id\":2,\"op\":\"clock\",\"fault\":\"f1\",\"offset_ns\":0}")));
	assert_false(ok(call(&a, "{\"id\":3,\"op\":\"clock\",\"fault\":\"f1\",\"offset_ns\":90000000000000}")));
	assert_int_equal(fl_journal_count(a.journal), 1);
	usleep(200 * 1000);
	assert_true(ok(call(&a, "{\"id\":4,\"op\":\"heal\",\"fault\":\"f0\"}")));
	assert_true(llabs(distance() - before) < NS / 10); /* back, the 200 ms kept */
	assert_int_equal(fl_journal_count(a.journal), 0);
	assert_int_equal(fl_agent_heal(&a, &healed, err, sizeof(err)), 0);
	assert_int_equal(healed, 0);
	fl_agent_release(&a);
}

static void test_dead_agent_journal(void **state)
{
	struct fl_agent a, b;
	int64_t before;

	(void)state;
	need_vm();
	assert_int_equal(fl_agent_init(&a, "n1", journal, 0, NULL), 0);
	a.vm_node = 1;
	before = distance();
	assert_true(ok(call(&a, "{\"id\":1,\"op\":\"clock\",\"fault\":\"f0\",\"offset_ns\":45000000000}")));
	assert_true(llabs(distance() - before - 45 * NS) < NS / 10);
	/* the agent dies without healing: its journal stays; the next heals it */
	fl_journal_close(a.journal);
	a.journal = NULL;
	assert_int_equal(fl_agent_init(&b, "n1", journal, 0, NULL), 0);
	assert_true(llabs(distance() - before) < NS / 10);
	assert_int_equal(fl_journal_count(b.journal), 0);
	fl_agent_release(&b);
	fl_agent_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_without_vm_node),
		cmocka_unit_test(test_shift_and_heal),
		cmocka_unit_test(test_dead_agent_journal),
	};
	return cmocka_run_group_tests_name("clock", tests, setup, teardown);
}
