/* The agent protocol codec: requests decoded or refused with a reason,
 * replies encoded as one line each. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "faultline/proto.h"

static void bad(const char *line, const char *why, int64_t id)
{
	struct fl_request r;
	char err[256] = "";

	assert_true(fl_proto_parse(line, strlen(line), &r, err, sizeof(err)) < 0);
	if (!strstr(err, why))
		fail_msg("'%s': '%s' lacks '%s'", line, err, why);
	assert_int_equal(r.id, id);
	assert_null(r.obj);
}

static void test_parse(void **state)
{
	struct fl_request r;
	char err[256];
	static const char ok[] = "{\"id\":7,\"op\":\"ping\",\"x\":[1]}";

	(void)state;
	assert_int_equal(fl_proto_parse(ok, strlen(ok), &r, err, sizeof(err)), 0);
	assert_int_equal(r.id, 7);
	assert_string_equal(r.op, "ping");
	fl_request_release(&r);
	bad("{\"id\":1", "malformed request", -1);
	bad("[1,2]", "must be a JSON object", -1);
	bad("{\"op\":\"ping\"}", "'id'", -1);
	bad("{\"id\":-3,\"op\":\"ping\"}", "'id'", -1);
	bad("{\"id\":4}", "string 'op'", 4);
	bad("{\"id\":5,\"op\":3}", "string 'op'", 5);
	bad("{\"id\":1,\"id\":2,\"op\":\"x\"}", "malformed request", -1);
}

static void test_oversized(void **state)
{
	size_t n = FL_PROTO_MAX_LINE + 10;
	char *s = malloc(n), err[256];
	struct fl_request r;

	(void)state;
	memset(s, ' ', n);
	assert_true(fl_proto_parse(s, n, &r, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "longer than"));
	free(s);
}

static void test_replies(void **state)
{
	char *a = fl_proto_reply_ok(3, json_pack("{s:s}", "agent", "x")),
	     *b = fl_proto_reply_error(4, "unknown op '%s'", "zap"),
	     *c = fl_proto_reply_error(-1, "bad \"quote\"\n");

	(void)state;
	assert_string_equal(a, "{\"id\":3,\"ok\":true,\"agent\":\"x\"}\n");
	assert_string_equal(b, "{\"id\":4,\"ok\":false,\"error\":\"unknown op 'zap'\"}\n");
	/* the message is escaped: a reply is always exactly one line */
	assert_string_equal(c, "{\"id\":null,\"ok\":false,\"error\":\"bad \\\"quote\\\"\\n\"}\n");
	free(a);
	free(b);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
