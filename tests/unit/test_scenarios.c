/* Golden-file tests of the scenario language. Each tests/scenarios/bad/X.yaml
 * must fail with exactly the messages in X.err; each good/X.yaml and each
 * file in scenarios/ must load, and good/X.yaml's plan must equal X.plan.
 * FL_REGENERATE=1 rewrites the golden files: review the diff by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/plan.h"
#include "faultline/scenario.h"

static int regenerate;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *sibling(const char *path, const char *ext)
{
	const char *dot = strrchr(path, '.');
	char *out;

	assert_int_not_equal(asprintf(&out, "%.*s%s", (int)(dot - path), path, ext), -1);
	return out;
}

static void compare_golden(const char *path, const char *golden_ext, const char *actual)
{
	char *gpath = sibling(path, golden_ext), *expected;

	if (regenerate) {
		spit(gpath, actual);
		free(gpath);
		return;
	}
	expected = slurp(gpath);
	if (!expected)
		fail_msg("%s: no golden file %s (run with FL_REGENERATE=1 and review)", path, gpath);
	if (strcmp(expected, actual)) {
		print_error("--- expected (%s)\n%s--- actual\n%s", gpath, expected, actual);
		fail_msg("%s: output differs from %s", path, gpath);
	}
	free(expected);
	free(gpath);
}

static void test_bad(void **state)
{
	const char *path = *state;
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	fl_diags_init(&d);
	assert_true(fl_scenario_load(path, NULL, 0, &d, &s) < 0);
	assert_null(s);
	assert_true(d.n > 0);
	mem = open_memstream(&text, &len);
	fl_diags_print(&d, mem);
	fclose(mem);
	/* every message carries its place: file:line:col or file: for whole-file problems */
	for (size_t i = 0; i < d.n; i++)
		assert_string_equal(d.v[i].file, path);
	compare_golden(path, ".err", text);
	free(text);
	fl_diags_release(&d);
}

static void test_good(void **state)
{
	const char *path = *state;
	struct fl_diags d;
	struct fl_scenario *s = NULL;
	struct fl_plan *p = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;

	fl_diags_init(&d);
	if (fl_scenario_load(path, NULL, 0, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		fail_msg("%s: expected a valid scenario", path);
	}
	fl_diags_release(&d);
	if (strstr(path, "tests/scenarios/good/")) {
		assert_int_equal(fl_plan_build(s, s->has_seed ? s->seed : 1, &p), 0);
		mem = open_memstream(&text, &len);
		assert_int_equal(fl_plan_write_text(p, mem), 0);
		fclose(mem);
		compare_golden(path, ".plan", text);
		free(text);
		fl_plan_free(p);
	}
	fl_scenario_free(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_yaml(const char *dir, char ***out)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!dp)
		return 0;
	while ((e = readdir(dp))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".yaml"))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_int_not_equal(asprintf(&v[n], "%s/%s", dir, e->d_name), -1);
		n++;
	}
	closedir(dp);
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
	*out = v;
	return n;
}

static int run_dir(const char *group, const char *dir, CMUnitTestFunction fn, size_t min)
{
	char **files = NULL;
	size_t n = list_yaml(dir, &files);
	struct CMUnitTest *t = calloc(n ? n : 1, sizeof(*t));
	int r;

	if (n < min) {
		fprintf(stderr, "%s: expected at least %zu scenarios in %s, found %zu\n", group, min,
			dir, n);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		t[i].name = files[i];
		t[i].test_func = fn;
		t[i].initial_state = files[i];
	}
	r = _cmocka_run_group_tests(group, t, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	free(t);
	return r;
}

/* Secret env values: the processes get them, the copy written into a run
 * directory and the overrides written down do not hold them; the copy
 * still loads, with the same lines. */
static void test_secrets(void **state)
{
	static const char *const hidden[] = { "hunter2-", "an anchored secret", "multi", "line",
					      "from-the-command-line" };
	const char *path = "tests/scenarios/good/secret-env.yaml";
	char *ov[] = { (char *)"system.env.BLOCK.value=from-the-command-line",
		       (char *)"system.env.PLAIN=seen", (char *)"system.env=x" };
	char *text = NULL, buf[256];
	size_t len = 0;
	struct fl_diags d;
	struct fl_scenario *s = NULL, *back = NULL;
	FILE *in, *mem;

	(void)state;
	fl_diags_init(&d);
	assert_int_equal(fl_scenario_load(path, ov, 2, &d, &s), 0);
	assert_int_equal(s->system.nenv, 5);
	assert_string_equal(s->system.env[1].value, "hunter2-\xc3\xa9"); /* the real value */
	assert_true(s->system.env[1].secret);
	assert_string_equal(s->system.env[2].value, "from-the-command-line");
	assert_true(s->system.env[2].secret);
	assert_string_equal(s->system.env[3].value, "an anchored secret");
	assert_false(s->system.env[4].secret);
	assert_non_null(in = fopen(path, "r"));
	assert_non_null(mem = open_memstream(&text, &len));
	assert_int_equal(fl_scenario_copy_redacted(s, in, mem), 0);
	fclose(in);
	fclose(mem);
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (strstr(text, hidden[i]))
			fail_msg("'%s' in the redacted copy:\n%s", hidden[i], text);
	assert_non_null(strstr(text, "TOKEN: {value: \"(secret)\", secret: true}"));
	assert_non_null(strstr(text, "PLAIN: visible"));
	assert_non_null(strstr(text, "NOT_SECRET: {value: shown"));
	/* the copy loads, every line where it was */
	assert_int_equal(fl_scenario_load_string("copy", text, len, NULL, 0, &d, &back), 0);
	assert_string_equal(back->system.env[1].value, "(secret)");
	assert_string_equal(back->system.env[3].value, "(secret)");
	assert_int_equal(back->system.nenv, 5);
	{
		size_t a = 0, b = 0;
		for (const char *p = text; *p; p++)
			a += *p == '\n';
		assert_non_null(in = fopen(path, "r"));
		for (int c; (c = getc(in)) != EOF;)
			b += c == '\n';
		fclose(in);
		assert_int_equal(a, b);
	}
	assert_string_equal(fl_scenario_shown_override(s, ov[0], buf, sizeof(buf)),
			    "system.env.BLOCK.value=(secret)");
	assert_string_equal(fl_scenario_shown_override(s, ov[1], buf, sizeof(buf)),
			    "system.env.PLAIN=seen");
	assert_string_equal(fl_scenario_shown_override(s, ov[2], buf, sizeof(buf)),
			    "system.env=(secret)");
	assert_string_equal(fl_scenario_shown_override(s, "system.env.TOKENS=a", buf, sizeof(buf)),
			    "system.env.TOKENS=a");
	free(text);
	fl_scenario_free(back);
	fl_scenario_free(s);
	fl_diags_release(&d);
}

int main(void)
{
	int r = 0;
	const struct CMUnitTest secrets[] = { cmocka_unit_test(test_secrets) };

	regenerate = getenv("FL_REGENERATE") && *getenv("FL_REGENERATE") == '1';
	r |= run_dir("bad scenarios", "tests/scenarios/bad", test_bad, 40);
	r |= run_dir("good scenarios", "tests/scenarios/good", test_good, 1);
	r |= run_dir("shipped scenarios", "scenarios", test_good, 3);
	r |= cmocka_run_group_tests_name("secrets", secrets, NULL, NULL);
	return r;
}
