/* `faultline compare` over run directories written by hand: the steady
 * phase's length is the run minus the fault windows, exactly; and histories
 * whose times are hostile (found by tests/fuzz/fuzz_compare.c) neither hang
 * nor overflow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/compare.h"

static char dir[] = "/tmp/fl-compare-XXXXXX";

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Compares the run in dir with itself; the table in out. */
static int compare(char *out, size_t outlen)
{
	struct fl_compare_opts o = { .threshold = 0.10, .min_delta_ns = 1000000 };
	char err[256] = "";
	FILE *f = fmemopen(out, outlen, "w");
	int r;

	assert_non_null(f);
	r = fl_compare_runs(dir, dir, &o, f, err, sizeof(err));
	fclose(f);
	if (r == 2)
		printf("compare: %s\n", err);
	return r;
}

static void test_steady_length(void **state)
{
	char out[4096];

	(void)state;
	/* the run: 1 ms to 50 ms; the fault: 20 ms to 60 ms, so steady is 19 ms
	 * holding one op: 52.6 ops/s (sampling every 10 ms said 50.0); the
	 * fault's own phase runs to its heal: one op in 40 ms */
	put("history.jsonl",
	    "{\"i\":0,\"type\":\"invoke\",\"t\":1000000,\"f\":\"write\",\"key\":\"k\",\"value\":\"a\"}\n"
	    "{\"i\":0,\"type\":\"ok\",\"t\":3000000,\"f\":\"write\",\"key\":\"k\",\"value\":\"a\"}\n"
	    "{\"i\":1,\"type\":\"invoke\",\"t\":49999999,\"f\":\"read\",\"key\":\"k\"}\n"
	    "{\"i\":1,\"type\":\"ok\",\"t\":52000000,\"f\":\"read\",\"key\":\"k\",\"value\":\"a\"}\n");
	put("faults.jsonl", "{\"t\":20000000,\"fault\":\"f0.0\",\"event\":\"apply\",\"ok\":true}\n"
			    "{\"t\":60000000,\"fault\":\"f0.0\",\"event\":\"heal\"}\n");
	put("run.json", "{\"scenario\":\"s\"}\n");
	assert_int_equal(compare(out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\nsteady        52.6 ->      52.6"));
	assert_non_null(strstr(out, "\nf0.0          25.0 ->      25.0"));
}

static void test_hostile_times(void **state)
{
	struct timespec a, b;
	char out[4096];

	(void)state;
	/* 10^17 ns between two ops: sampling it every 10 ms did not end */
	put("history.jsonl", "{\"i\":0,\"type\":\"invoke\",\"t\":0,\"f\":\"read\"}\n"
			     "{\"i\":1,\"type\":\"invoke\",\"t\":100000000000000000,\"f\":\"read\"}\n");
	put("faults.jsonl", "{\"t\":-9223372036854775807,\"fault\":\"f\",\"event\":\"apply\",\"ok\":true}\n");
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(compare(out, sizeof(out)), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(b.tv_sec - a.tv_sec < 2);
	/* the largest time there is: the run's end must not overflow */
	put("history.jsonl", "{\"i\":0,\"type\":\"invoke\",\"t\":0,\"f\":\"read\"}\n"
			     "{\"i\":1,\"type\":\"invoke\",\"t\":9223372036854775807,\"f\":\"read\"}\n");
	assert_int_equal(compare(out, sizeof(out)), 0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	for (const char *const *n = (const char *const[]){ "history.jsonl", "faults.jsonl",
							   "run.json", NULL };
	     *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		unlink(path);
	}
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_length),
		cmocka_unit_test(test_hostile_times),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
