/* results.json and junit.xml: the results object holds every check with
 * its verdict and figures, op counts and fault instances; the JSON file is
 * replaced atomically; junit.xml escapes hostile text and validates
 * against tests/junit.xsd (with xmllint, when it is installed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/report.h"
#include "faultline/util.h"
#include "faultline/verdict.h"

static char dir[] = "/tmp/fl-report-XXXXXX";

static struct fl_scenario *scenario(void)
{
	static const char y[] = "name: rep\nseed: 3\nduration: 20s\ncluster: {nodes: 3}\n"
				"system: {type: etcd}\nworkload: {type: register, clients: 2}\n"
				"checks: {no_lost_writes: true, availability: {min: \"10%\"}}\n";
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;

	assert_int_equal(fl_scenario_load_string("rep.yaml", y, sizeof(y) - 1, NULL, 0, &d, &s), 0);
	fl_diags_release(&d);
	return s;
}

static void add_op(struct fl_run_data *d, enum fl_op_f f, enum fl_outcome oc, double inv,
		   double done, int final)
{
	struct fl_op *o;

	d->ops.v = realloc(d->ops.v, (d->ops.n + 1) * sizeof(*o));
	o = &d->ops.v[d->ops.n++];
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->outcome = oc;
	o->invoke_ns = (int64_t)(inv * 1e9);
	o->complete_ns = (int64_t)(done * 1e9);
	o->final = final;
	o->key = strdup("k0");
}

static void test_results_and_junit(void **state)
{
	struct fl_scenario *s = scenario();
	struct fl_run_data d = { 0 };
	struct fl_check_result res[3] = { 0 };
	char path[256], err[256], cmd[1200];
	json_t *r, *back, *meta;
	struct stat st;

	(void)state;
	add_op(&d, FL_F_WRITE, FL_OUTCOME_OK, 1, 1.01, 0);
	add_op(&d, FL_F_READ, FL_OUTCOME_OK, 2, 2.02, 0);
	add_op(&d, FL_F_CAS, FL_OUTCOME_FAIL, 3, 3.5, 0);
	add_op(&d, FL_F_WRITE, FL_OUTCOME_INFO, 4, 6, 0);
	add_op(&d, FL_F_READ, FL_OUTCOME_OK, 9, 9.1, 1);
	d.faults = json_pack("[{s:I, s:s, s:s, s:s, s:b, s:[s]}, {s:I, s:s, s:s}]", "t",
			     (json_int_t)5000000000LL, "fault", "f0.0", "kind", "kill", "event", "apply",
			     "ok", 1, "nodes", "n2", "t", (json_int_t)8000000000LL, "fault", "f0.0",
			     "event", "heal");
	d.status = json_array();
	d.digests = json_array();
	snprintf(res[0].name, sizeof(res[0].name), "no_lost_writes");
	res[0].verdict = FL_PASS;
	snprintf(res[0].why, sizeof(res[0].why), "fine");
	res[0].figures = json_pack("{s:i}", "lost", 0);
	snprintf(res[1].name, sizeof(res[1].name), "availability");
	res[1].verdict = FL_FAIL;
	snprintf(res[1].why, sizeof(res[1].why), "<50%% & \"bad\" 'x' \x01 ]]> done");
	res[1].figures = json_object();
	snprintf(res[2].name, sizeof(res[2].name), "linearizable");
	res[2].verdict = FL_UNKNOWN;
	snprintf(res[2].why, sizeof(res[2].why), "time limit");
	res[2].figures = json_object();
	meta = json_pack("{s:s, s:i, s:s, s:s}", "file", "scenarios/rep.yaml", "seed", 3, "started",
			 "2026-11-28T22:00:00Z", "provider", "netns");

	r = fl_results_build(s, meta, res, 3, &d);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "FAIL");
	assert_int_equal(json_array_size(json_object_get(r, "checks")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "ops"), "total")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "ops"), "ok")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "ops"), "final_reads")),
			 1);
	assert_int_equal(json_array_size(json_object_get(r, "faults")), 1);
	assert_true(json_number_value(json_object_get(json_array_get(json_object_get(r, "faults"), 0),
						      "end_s")) == 8.0);
	assert_int_equal(json_integer_value(json_object_get(r, "seed")), 3);

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/results.json", dir);
	assert_int_equal(fl_json_write_atomic(path, r, err, sizeof(err)), 0);
	back = json_load_file(path, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, r));
	json_decref(back);
	snprintf(path, sizeof(path), "%s/results.json.tmp", dir);
	assert_int_equal(stat(path, &st), -1); /* nothing left behind */

	snprintf(path, sizeof(path), "%s/junit.xml", dir);
	assert_int_equal(fl_junit_write(path, &r, 1, err, sizeof(err)), 0);
	if (system("command -v xmllint >/dev/null 2>&1") == 0) {
		snprintf(cmd, sizeof(cmd), "xmllint --noout --schema tests/junit.xsd %s 2>&1", path);
		assert_int_equal(system(cmd), 0);
		/* and the counts are right */
		snprintf(cmd, sizeof(cmd),
			 "xmllint --xpath 'string(/testsuites/testsuite/@failures)' %s | grep -qx 1 && "
			 "xmllint --xpath 'string(/testsuites/testsuite/@errors)' %s | grep -qx 1 && "
			 "xmllint --xpath 'count(//testcase)' %s | grep -qx 3", path, path, path);
		assert_int_equal(system(cmd), 0);
	} else {
		print_message("  xmllint not installed: schema validation not run\n");
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	unlink(path);
	rmdir(dir);
	json_decref(r);
	json_decref(meta);
	for (int i = 0; i < 3; i++)
		fl_check_result_release(&res[i]);
	fl_run_data_release(&d);
	fl_scenario_free(s);
}

/* The atomic writer's temporary file is made with O_EXCL under a name no
 * one can guess: a link planted at the old predictable name (path.tmp),
 * pointing at a file to clobber, is never written through; nothing is
 * writable by others. */
static void test_atomic_never_follows(void **state)
{
	char d[] = "/tmp/fl-atomic-XXXXXX", path[256], link[256], victim[256], err[256] = "";
	json_t *o = json_pack("{s:i}", "a", 1);
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(path, sizeof(path), "%s/results.json", d);
	snprintf(link, sizeof(link), "%s/results.json.tmp", d);
	snprintf(victim, sizeof(victim), "%s/victim", d);
	assert_int_equal(symlink(victim, link), 0);
	mode_t old = umask(0);
	assert_int_equal(fl_json_write_atomic(path, o, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(lstat(victim, &st), -1); /* not created through the link */
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 022, 0);
	unlink(path);
	unlink(link);
	rmdir(d);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results_and_junit),
		cmocka_unit_test(test_atomic_never_follows),
	};
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
