/* The reaper (reaper.h): it acts when its parent dies, even by SIGKILL, and
 * never while the parent lives or after fl_reaper_stop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/reaper.h"

static char dir[64], mark[80];

/* the reaper's act: leave a file the test can see */
static void leave_mark(void *ctx)
{
	int fd = open((const char *)ctx, O_WRONLY | O_CREAT, 0600);

	if (fd >= 0)
		close(fd);
}

static int wait_mark(int ms)
{
	for (int t = 0; t < ms / 10; t++) {
		if (access(mark, F_OK) == 0)
			return 1;
		nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
	}
	return access(mark, F_OK) == 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/fl-test-reaper.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(mark, sizeof(mark), "%s/mark", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(mark);
	return rmdir(dir);
}

/* A parent (a child of the test) starts a reaper and is killed by SIGKILL:
 * the reaper acts. */
static void test_parent_killed(void **state)
{
	int p[2], st;
	pid_t parent;
	char c;

	(void)state;
	assert_int_equal(pipe(p), 0);
	parent = fork();
	assert_true(parent >= 0);
	if (parent == 0) {
		struct fl_reaper r;
		close(p[0]);
		if (fl_reaper_start(&r, leave_mark, mark) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_false(wait_mark(200)); /* not while the parent lives */
	kill(parent, SIGKILL);
	assert_int_equal(waitpid(parent, &st, 0), parent);
	assert_true(WIFSIGNALED(st));
	assert_true(wait_mark(5000));
}

/* fl_reaper_stop: the parent finished; the reaper is gone without acting,
 * also when the parent exits afterwards. */
static void test_stopped(void **state)
{
	pid_t parent;
	int st;

	(void)state;
	parent = fork();
	assert_true(parent >= 0);
	if (parent == 0) {
		struct fl_reaper r;
		if (fl_reaper_start(&r, leave_mark, mark) < 0)
			_exit(1);
		fl_reaper_stop(&r);
		_exit(r.pid == 0 && r.hold == -1 ? 0 : 2);
	}
	assert_int_equal(waitpid(parent, &st, 0), parent);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_false(wait_mark(300));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parent_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
