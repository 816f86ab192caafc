/* The YAML tree: positions, merge keys, --set overrides, and hostile input
 * (deep nesting, alias bombs, huge files) that must end in an error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/scenario.h"
#include "faultline/ytree.h"

static int parse(struct fl_ydoc *doc, const char *text, struct fl_diags *d)
{
	memset(doc, 0, sizeof(*doc));
	fl_diags_init(d);
	return fl_ytree_parse(doc, "t.yaml", text, strlen(text), d);
}

static void expect_error(const char *text, size_t len, const char *part)
{
	struct fl_ydoc doc = { 0 };
	struct fl_diags d;
	struct timespec a, b;

	fl_diags_init(&d);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_true(fl_ytree_parse(&doc, "t.yaml", text, len, &d) < 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_null(doc.root);
	assert_true(d.n >= 1);
	if (!strstr(d.v[0].msg, part))
		fail_msg("message '%s' lacks '%s'", d.v[0].msg, part);
	print_message("  '%s' after %.1f ms\n", d.v[0].msg,
		      (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	fl_diags_release(&d);
	fl_ydoc_release(&doc);
}

static void test_positions(void **state)
{
	struct fl_ydoc doc;
	struct fl_diags d;
	const struct fl_ynode *n;

	(void)state;
	assert_int_equal(parse(&doc, "a: 1\nb:\n  c: [x, 'y']\n", &d), 0);
	n = fl_ynode_get(fl_ynode_get(doc.root, "b"), "c");
	assert_non_null(n);
	assert_int_equal(n->kind, FL_Y_SEQ);
	assert_int_equal(n->line, 3);
	assert_int_equal(n->col, 6);
	assert_int_equal(n->items[1]->col, 10);
	assert_true(n->items[0]->plain);
	assert_false(n->items[1]->plain);
	fl_ydoc_release(&doc);
}

static void test_duplicate_key(void **state)
{
	struct fl_ydoc doc;
	struct fl_diags d;

	(void)state;
	assert_true(parse(&doc, "a: 1\nb: 2\na: 3\n", &d) < 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 3);
	assert_string_equal(d.v[0].msg, "duplicate key 'a' (first given at line 1)");
	fl_diags_release(&d);
	fl_ydoc_release(&doc);
}

static void test_merge_and_alias(void **state)
{
	struct fl_ydoc doc;
	struct fl_diags d;
	const struct fl_ynode *m;

	(void)state;
	assert_int_equal(parse(&doc, "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nc: *b\n", &d), 0);
	m = fl_ynode_get(doc.root, "m");
	assert_string_equal(fl_ynode_get(m, "x")->str, "1");
	assert_string_equal(fl_ynode_get(m, "y")->str, "3");
	assert_null(fl_ynode_get(m, "<<"));
	assert_string_equal(fl_ynode_get(fl_ynode_get(doc.root, "c"), "y")->str, "2");
	fl_ydoc_release(&doc);
	fl_diags_release(&d);

	assert_true(parse(&doc, "a: *nope\n", &d) < 0);
	assert_string_equal(d.v[0].msg, "unknown alias '*nope' (no anchor '&nope' before it)");
	fl_ydoc_release(&doc);
	fl_diags_release(&d);

	assert_true(parse(&doc, "a: &x [1, *x]\n", &d) < 0);
	assert_non_null(strstr(d.v[0].msg, "refers to a node that contains it"));
	fl_ydoc_release(&doc);
	fl_diags_release(&d);
}

static void test_set(void **state)
{
	struct fl_ydoc doc;
	struct fl_diags d;

	(void)state;
	assert_int_equal(parse(&doc, "w: {clients: 5}\nl: [a, b]\n", &d), 0);
	assert_int_equal(fl_ytree_set(&doc, "w.clients=20", &d), 0);
	assert_int_equal(fl_ytree_set(&doc, "w.new.deep=x", &d), 0);
	assert_int_equal(fl_ytree_set(&doc, "l.1=[p, q]", &d), 0);
	assert_int_equal(fl_ytree_set(&doc, "top=ok", &d), 0);
	assert_string_equal(fl_ynode_get(fl_ynode_get(doc.root, "w"), "clients")->str, "20");
	assert_string_equal(
		fl_ynode_get(fl_ynode_get(fl_ynode_get(doc.root, "w"), "new"), "deep")->str, "x");
	assert_int_equal(fl_ynode_get(doc.root, "l")->items[1]->kind, FL_Y_SEQ);
	assert_string_equal(fl_ynode_get(doc.root, "top")->str, "ok");
	assert_int_equal(d.n, 0);

	assert_true(fl_ytree_set(&doc, "l.7=x", &d) < 0);
	assert_true(fl_ytree_set(&doc, "l.x=x", &d) < 0);
	assert_true(fl_ytree_set(&doc, "top.sub=x", &d) < 0);
	assert_true(fl_ytree_set(&doc, "novalue", &d) < 0);
	assert_true(fl_ytree_set(&doc, "w.clients=[unclosed", &d) < 0);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.v[0].file, "--set l.7");
	assert_string_equal(d.v[0].msg, "index 7 is past the end of 'l' (2 items)");
	assert_string_equal(d.v[4].file, "--set w.clients");
	assert_true(d.v[4].line >= 1);
	fl_diags_release(&d);
	fl_ydoc_release(&doc);
}

static void test_hostile_nesting(void **state)
{
	size_t n = 100000;
	char *s = malloc(2 * n + 1);

	(void)state;
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = 0;
	expect_error(s, 2 * n, "nesting too deep");
	for (size_t i = 0; i < n; i++) /* block style too: "- - - - x" */
		s[i] = i % 2 ? ' ' : '-';
	memcpy(s + n - 1, "x\n", 2);
	expect_error(s, n + 1, "nesting too deep");
	free(s);
}

static void test_hostile_alias_bomb(void **state)
{
	static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x]\n"
				   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
				   "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
				   "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	(void)state;
	expect_error(bomb, sizeof(bomb) - 1, "document too large");
}

static void test_hostile_size(void **state)
{
	size_t n = 10 * 1024 * 1024;
	char *s = malloc(n), path[] = "/tmp/fl-test-big-XXXXXX";
	struct fl_ydoc doc = { 0 };
	struct fl_diags d;
	int fd;

	(void)state;
	for (size_t i = 0; i < n; i++)
		s[i] = i % 64 == 63 ? '\n' : 'a';
	expect_error(s, n, "file too large");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, n), (ssize_t)n);
	close(fd);
	fl_diags_init(&d);
	assert_int_equal(fl_ytree_load_file(&doc, path, &d), -EFBIG);
	assert_non_null(strstr(d.v[0].msg, "file too large"));
	unlink(path);
	fl_diags_release(&d);
	fl_ydoc_release(&doc);
	free(s);
}

static void test_files(void **state)
{
	struct fl_ydoc doc = { 0 };
	struct fl_diags d;

	(void)state;
	fl_diags_init(&d);
	assert_int_equal(fl_ytree_load_file(&doc, "/nonexistent/x.yaml", &d), -ENOENT);
	assert_int_equal(fl_ytree_load_file(&doc, "/tmp", &d), -EISDIR);
	assert_int_equal(fl_ytree_load_file(&doc, "/dev/null", &d), -EINVAL);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0].msg, "cannot open: No such file or directory");
	assert_string_equal(d.v[1].msg, "is a directory, not a scenario file");
	assert_string_equal(d.v[2].msg, "not a regular file");
	fl_diags_release(&d);
	fl_ydoc_release(&doc);
}

static void test_encoding(void **state)
{
	(void)state;
	expect_error("name: caf\xc3\n", 10, "invalid UTF-8");
	expect_error("name: \xed\xa0\x80\n", 10, "invalid UTF-8"); /* a surrogate */
	expect_error("name: x\0y\n", 10, "NUL byte");
	expect_error("a: [1,\n", 7, "YAML syntax error");
	expect_error("a: 1\n---\nb: 2\n", 14, "one YAML document");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),	  cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_merge_and_alias),	  cmocka_unit_test(test_set),
		cmocka_unit_test(test_hostile_nesting),	  cmocka_unit_test(test_hostile_alias_bomb),
		cmocka_unit_test(test_hostile_size),	  cmocka_unit_test(test_files),
		cmocka_unit_test(test_encoding),
	};
	return cmocka_run_group_tests_name("ytree", tests, NULL, NULL);
}
