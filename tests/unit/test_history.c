/* history.jsonl: concurrent writers never interleave lines, every operation
 * pairs back with its completion, unknown outcomes stay unknown, and a torn
 * last line (a crash mid-write) is counted, not fatal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "faultline/history.h"

#define THREADS 8
#define OPS 1000

static struct fl_history *h;

static void *client(void *arg)
{
	int p = (int)(intptr_t)arg;

	for (int k = 0; k < OPS; k++) {
		char key[16], val[32];
		int64_t i;
		snprintf(key, sizeof(key), "k%d", k % 5);
		snprintf(val, sizeof(val), "%d-%d", p, k);
		switch (k % 4) {
		case 0:
			i = fl_history_invoke(h, p, "n1", FL_F_WRITE, key, val, NULL);
			fl_history_complete(h, i, FL_OUTCOME_OK, NULL, NULL);
			break;
		case 1:
			i = fl_history_invoke(h, p, "n2", FL_F_READ, key, NULL, NULL);
			fl_history_complete(h, i, FL_OUTCOME_OK, "some \"quoted\" value\n", NULL);
			break;
		case 2:
			i = fl_history_invoke(h, p, "n3", FL_F_CAS, key, val, "old");
			fl_history_complete(h, i, FL_OUTCOME_FAIL, NULL, "compare failed");
			break;
		default:
			i = fl_history_invoke(h, p, "n1", FL_F_WRITE, key, val, NULL);
			if (k % 8 == 3)
				fl_history_complete(h, i, FL_OUTCOME_INFO, NULL, "timeout");
			/* else: never completed (the client was cut off) */
			break;
		}
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	char path[] = "/tmp/fl-history-XXXXXX", err[256];
	int fd = mkstemp(path);
	pthread_t t[THREADS];
	struct fl_ops ops;
	size_t counts[FL_OUTCOME__N] = { 0 }, open_ops = 0, reads = 0;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fl_history_open(path, 0, &h), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, client, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	fl_history_close(h);
	f = fopen(path, "a");
	fputs("{\"i\":99999,\"type\":\"inv", f); /* torn by a crash */
	fclose(f);

	assert_int_equal(fl_history_load(path, &ops, err, sizeof(err)), 0);
	assert_int_equal(ops.n, THREADS * OPS);
	assert_int_equal(ops.bad_lines, 1);
	for (size_t i = 0; i < ops.n; i++) {
		const struct fl_op *o = &ops.v[i];
		if (i)
			assert_true(ops.v[i - 1].invoke_ns <= o->invoke_ns);
		counts[o->outcome]++;
		if (o->complete_ns < 0)
			open_ops++;
		else
			assert_true(o->complete_ns >= o->invoke_ns);
		if (o->f == FL_F_READ) {
			reads++;
			assert_string_equal(o->value, "some \"quoted\" value\n");
			assert_string_equal(o->node, "n2");
		}
		if (o->f == FL_F_CAS) {
			assert_int_equal(o->outcome, FL_OUTCOME_FAIL);
			assert_string_equal(o->expect, "old");
			assert_string_equal(o->error, "compare failed");
		}
	}
	assert_int_equal(reads, THREADS * OPS / 4);
	assert_int_equal(counts[FL_OUTCOME_FAIL], THREADS * OPS / 4);
	/* k%4==3: half get "info", half never complete; both are unknown outcomes */
	assert_int_equal(counts[FL_OUTCOME_INFO], THREADS * OPS / 4);
	assert_int_equal(open_ops, THREADS * OPS / 8);
	assert_int_equal(counts[FL_OUTCOME_OK], THREADS * OPS / 2);
	fl_ops_release(&ops);
	unlink(path);
}

/* The disk fills up mid-line (RLIMIT_FSIZE stands in, in a child): the
 * write fails, the line cut short is taken back, every later write is
 * refused, and the file reads back whole with every op written before. */
#define FSIZE_LIMIT 20000

static void test_full_disk(void **state)
{
	char path[] = "/tmp/fl-history-XXXXXX", err[256];
	int fd = mkstemp(path), st, written = -1, pfd[2];
	struct fl_ops ops;
	struct stat sb;
	pid_t pid;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl, was;
		int n = 0, e1 = 0, e2 = 0;
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &was);
		rl = (struct rlimit){ FSIZE_LIMIT, was.rlim_max }; /* the soft limit only */
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(13);
		if (fl_history_open(path, 0, &h) < 0)
			_exit(10);
		for (int k = 0; k < 1000 && !fl_history_error(h); k++) {
			int64_t i = fl_history_invoke(h, 0, "n1", FL_F_WRITE, "k1", "a-value-of-some-length",
						      NULL);
			if (i >= 0 && fl_history_complete(h, i, FL_OUTCOME_OK, NULL, NULL) == 0)
				n++;
		}
		e1 = fl_history_error(h);
		/* room again: still refused, the history stopped where it broke */
		if (setrlimit(RLIMIT_FSIZE, &was) < 0)
			_exit(14);
		e2 = fl_history_invoke(h, 0, "n1", FL_F_READ, "k1", NULL, NULL) < 0;
		fl_history_close(h);
		if (write(pfd[1], &n, sizeof(n)) != sizeof(n))
			_exit(11);
		_exit(e1 == -EFBIG && e2 ? 0 : 12);
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &written, sizeof(written)), sizeof(written));
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_size <= FSIZE_LIMIT);
	assert_true(written > 50);
	assert_int_equal(fl_history_load(path, &ops, err, sizeof(err)), 0);
	assert_int_equal(ops.bad_lines, 0); /* no torn line: it was taken back */
	/* every op completed ok before the limit, at most one invoked only */
	assert_true(ops.n == (size_t)written || ops.n == (size_t)written + 1);
	for (size_t i = 0; i < (size_t)written; i++)
		assert_int_equal(ops.v[i].outcome, FL_OUTCOME_OK);
	fl_ops_release(&ops);
	unlink(path);
}

/* An index far beyond the lines read is damage, not an allocation: 2^62
 * wrapped the slot table's size, 10^8 took 800 MB (found by fuzz_history). */
static void test_hostile_index(void **state)
{
	char path[] = "/tmp/fl-history-XXXXXX", err[256];
	int fd = mkstemp(path);
	struct fl_ops ops;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("{\"i\":4611686018427387904,\"type\":\"invoke\",\"t\":0,\"f\":\"read\"}\n"
	      "{\"i\":100000000,\"type\":\"invoke\",\"t\":0,\"f\":\"read\"}\n"
	      "{\"i\":1000,\"type\":\"invoke\",\"t\":5,\"f\":\"read\",\"key\":\"k\"}\n", f);
	fclose(f);
	assert_int_equal(fl_history_load(path, &ops, err, sizeof(err)), 0);
	assert_int_equal(ops.n, 1);
	assert_int_equal(ops.v[0].i, 1000);
	assert_int_equal(ops.damage.bad_lines, 2);
	assert_int_equal(ops.damage.dropped, 1000);
	fl_ops_release(&ops);
	unlink(path);
}

static void test_jsonl_and_names(void **state)
{
	char path[] = "/tmp/fl-faults-XXXXXX", line[512];
	int fd = mkstemp(path);
	struct fl_jsonl *j;
	FILE *f;
	int n = 0;

	(void)state;
	close(fd);
	assert_int_equal(fl_jsonl_open(path, 0, &j), 0);
	assert_int_equal(fl_jsonl_write(j, json_pack("{s:s, s:s, s:[s]}", "fault", "f0.0", "event",
						     "apply", "nodes", "n1")),
			 0);
	assert_int_equal(fl_jsonl_write(j, json_pack("{s:s, s:s, s:I}", "fault", "f0.0", "event",
						     "heal", "t", (json_int_t)42)),
			 0);
	fl_jsonl_close(j);
	f = fopen(path, "r");
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		assert_non_null(o);
		assert_true(json_is_integer(json_object_get(o, "t")));
		if (n == 1)
			assert_int_equal(json_integer_value(json_object_get(o, "t")), 42);
		json_decref(o);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 2);
	unlink(path);
	for (int i = 0; i < FL_F__N; i++)
		assert_int_equal(fl_op_f_from_string(fl_op_f_to_string((enum fl_op_f)i)), i);
	for (int i = 0; i < FL_OUTCOME__N; i++)
		assert_int_equal(fl_outcome_from_string(fl_outcome_to_string((enum fl_outcome)i)), i);
	assert_int_equal(fl_op_f_from_string("frobnicate"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_jsonl_and_names),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_hostile_index),
	};
	return cmocka_run_group_tests_name("history", tests, NULL, NULL);
}
