/* Several scenarios in one `run` (fl_run_many) with a fake runner that
 * makes run directories the way fl_run names them: a directory argument
 * expands to its *.yaml files in order, the exit status is the worst, the
 * merged JUnit has one suite per scenario (a run without a verdict as an
 * error), and --keep leaves only the newest run directories. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/run.h"

static char tmp[] = "/tmp/fl-nightly-XXXXXX";
static char runs[300], scen[300];
static int calls, stamp;

/* what fl_run_many says, one line per message: errors "E: ", info "I: " */
static char said[8192];

static void collect(void *ctx, enum fl_say_kind kind, const char *msg)
{
	(void)ctx;
	snprintf(said + strlen(said), sizeof(said) - strlen(said), "%s%s\n",
		 kind == FL_SAY_ERROR ? "E: " : "I: ", msg);
}

static const struct fl_say sink = { .fn = collect };

/* scenario "a" passes, "b" fails a check, "c" cannot run at all */
static int fake_run(void *ctx, const char *file, const char *runs_dir, char *name, size_t namelen,
		    uint64_t *seed)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	char dir[600], path[700];
	json_t *res, *meta;
	FILE *f;

	(void)ctx;
	calls++;
	snprintf(name, namelen, "%.*s", (int)(strlen(base) - 5), base);
	*seed = 7;
	if (name[0] == 'c')
		return 2;
	mkdir(runs_dir, 0755);
	/* names sort by time: a counter stands in for the clock */
	snprintf(dir, sizeof(dir), "%s/%s-20261128T%06dZ-7", runs_dir, name, 100000 + stamp++);
	assert_int_equal(mkdir(dir, 0755), 0);
	meta = json_pack("{s:s}", "scenario", name);
	snprintf(path, sizeof(path), "%s/run.json", dir);
	json_dump_file(meta, path, 0);
	json_decref(meta);
	res = json_pack("{s:s, s:s, s:f, s:[{s:s, s:s, s:s}]}", "scenario", name, "verdict",
			name[0] == 'a' ? "PASS" : "FAIL", "duration_s", 1.5, "checks", "name",
			"converge", "verdict", name[0] == 'a' ? "PASS" : "FAIL", "why", "because");
	snprintf(path, sizeof(path), "%s/results.json", dir);
	json_dump_file(res, path, 0);
	json_decref(res);
	(void)f;
	return name[0] == 'a' ? 0 : 1;
}

static int count_dirs(const char *prefix)
{
	DIR *d = opendir(runs);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void test_many(void **state)
{
	char junit[400], *args[2], cmd[2400];
	const char *names[] = { "b.yaml", "a.yaml", "c.yaml", "notes.txt" };
	int rc;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(runs, sizeof(runs), "%s/runs", tmp);
	snprintf(scen, sizeof(scen), "%s/scenarios", tmp);
	mkdir(scen, 0755);
	for (size_t i = 0; i < 4; i++) {
		char p[400];
		FILE *f;
		snprintf(p, sizeof(p), "%s/%s", scen, names[i]);
		f = fopen(p, "w");
		fputs("name: x\n", f);
		fclose(f);
	}
	snprintf(junit, sizeof(junit), "%s/all.xml", tmp);
	args[0] = scen;
	said[0] = 0;
	rc = fl_run_many(1, args, runs, junit, 0, fake_run, NULL, &sink);
	assert_int_equal(calls, 3);    /* a, b, c: not notes.txt */
	assert_int_equal(rc, 2);       /* c's error is the worst */
	/* one summary: a line per scenario, c's as ERROR, and the junit file */
	assert_non_null(strstr(said, "I: === "));
	assert_non_null(strstr(said, " ERROR "));
	assert_non_null(strstr(said, "I: junit: "));
	if (system("command -v xmllint >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd),
			 "xmllint --noout --schema tests/junit.xsd %s && "
			 "xmllint --xpath 'count(//testsuite)' %s | grep -qx 3 && "
			 "xmllint --xpath 'string(/testsuites/@failures)' %s | grep -qx 1 && "
			 "xmllint --xpath 'string(/testsuites/@errors)' %s | grep -qx 1",
			 junit, junit, junit, junit);
		assert_int_equal(system(cmd), 0);
	}
	/* without c: the failed check is the worst */
	calls = 0;
	{
		char a[400], b[400];
		snprintf(a, sizeof(a), "%s/a.yaml", scen);
		snprintf(b, sizeof(b), "%s/b.yaml", scen);
		args[0] = a;
		args[1] = b;
		assert_int_equal(fl_run_many(2, args, runs, NULL, 0, fake_run, NULL, NULL), 1);
		args[1] = a;
		/* two more runs of a with --keep 2: only the newest two of a stay */
		said[0] = 0;
		assert_int_equal(fl_run_many(2, args, runs, NULL, 2, fake_run, NULL, &sink), 0);
		assert_non_null(strstr(said, "I: pruned "));
	}
	assert_int_equal(count_dirs("a-"), 2);
	assert_int_equal(count_dirs("b-"), 2); /* b was not run with --keep */
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests_name("nightly", tests, NULL, NULL);
}
