/* What the run copies from a directory its nodes write (the share of a
 * libvirt cluster, filled by the guests): regular files only, never
 * through a link, so a guest cannot make the harness copy a host file
 * into the run directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run-priv.h"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_copy_logs_regular_only(void **state)
{
	char top[] = "/tmp/fl-run-files-XXXXXX", from[128], to[128], p[256], host[128], buf[64];
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(from, sizeof(from), "%s/share", top);
	snprintf(to, sizeof(to), "%s/run", top);
	snprintf(host, sizeof(host), "%s/host-secret", top);
	assert_int_equal(mkdir(from, 0755), 0);
	assert_int_equal(mkdir(to, 0755), 0);
	put(host, "a host file\n");
	snprintf(p, sizeof(p), "%s/n1.log", from);
	put(p, "node log\n");
	snprintf(p, sizeof(p), "%s/evil.log", from); /* a guest's link to a host file */
	assert_int_equal(symlink(host, p), 0);
	snprintf(p, sizeof(p), "%s/fifo.log", from); /* would block a plain open */
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(p, sizeof(p), "%s/dir.log", from);
	assert_int_equal(mkdir(p, 0755), 0);

	fl_run_copy_logs(from, to);
	snprintf(p, sizeof(p), "%s/n1.log", to);
	assert_non_null(f = fopen(p, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	assert_string_equal(buf, "node log\n");
	for (const char *name = "evil.log\0fifo.log\0dir.log\0"; *name; name += strlen(name) + 1) {
		snprintf(p, sizeof(p), "%s/%s", to, name);
		if (access(p, F_OK) == 0)
			fail_msg("'%s' was copied", name);
	}
	nftw(top, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_logs_regular_only),
	};
	return cmocka_run_group_tests_name("run files", tests, NULL, NULL);
}
