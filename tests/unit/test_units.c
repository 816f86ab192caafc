/* Units: durations, percentages, rates and sizes against iproute2's meanings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "faultline/strutil.h"
#include "faultline/units.h"

static int64_t dur(const char *s)
{
	const char *why = NULL;
	int64_t v = -12345;

	assert_int_equal(fl_parse_duration(s, 1, &v, &why), 0);
	return v;
}

static void dur_bad(const char *s, const char *why_part)
{
	const char *why = NULL;
	int64_t v = 77;

	assert_true(fl_parse_duration(s, 0, &v, &why) < 0);
	assert_int_equal(v, 77); /* out-param untouched on failure */
	assert_non_null(why);
	if (!strstr(why, why_part))
		fail_msg("'%s': reason '%s' lacks '%s'", s, why, why_part);
}

static void test_durations(void **state)
{
	(void)state;
	assert_int_equal(dur("250ms"), 250 * FL_NS_PER_MS);
	assert_int_equal(dur("10s"), 10 * FL_NS_PER_S);
	assert_int_equal(dur("1m30s"), 90 * FL_NS_PER_S);
	assert_int_equal(dur("1h"), 3600 * FL_NS_PER_S);
	assert_int_equal(dur("1h2m3s4ms"), 3723 * FL_NS_PER_S + 4 * FL_NS_PER_MS);
	assert_int_equal(dur("500us"), 500 * FL_NS_PER_US);
	assert_int_equal(dur("1.5s"), 1500 * FL_NS_PER_MS);
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("-2s"), -2 * FL_NS_PER_S);
	assert_int_equal(dur(" 3s "), 3 * FL_NS_PER_S);
	dur_bad("10", "needs a unit");
	dur_bad("10 sec", "without a space");
	dur_bad("1m 30s", "without spaces");
	dur_bad("5secs", "unknown duration unit");
	dur_bad("10x", "unknown duration unit");
	dur_bad("-1s", "negative");
	dur_bad("", "expected a duration");
	dur_bad("s", "expected a duration");
	dur_bad("1e3s", "expected a duration");
	dur_bad("0x10s", "expected a duration");
	dur_bad("99999999999h", "too large");
}

static void test_format_duration(void **state)
{
	char b[32];
	static const char *const round[] = { "0s",  "250ms", "10s", "1m30s", "1h",	"1h1m1s",
					     "1.5s", "500us", "7ns", "-2s",   "2m", "1m14.675s" };
	(void)state;
	for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		fl_format_duration(dur(round[i]), b, sizeof(b));
		assert_string_equal(b, round[i]);
	}
}

static void test_percent(void **state)
{
	const char *why;
	double p = -1;
	char b[32];

	(void)state;
	assert_int_equal(fl_parse_percent("25%", &p, &why), 0);
	assert_true(p == 25.0);
	assert_int_equal(fl_parse_percent("0.5 %", &p, &why), 0);
	assert_true(p == 0.5);
	assert_int_equal(fl_parse_percent("100%", &p, &why), 0);
	assert_int_equal(fl_parse_percent("150%", &p, &why), -ERANGE);
	assert_int_equal(fl_parse_percent("25", &p, &why), -EINVAL);
	assert_non_null(strstr(why, "'%'"));
	assert_int_equal(fl_parse_percent("-5%", &p, &why), -EINVAL);
	assert_int_equal(fl_parse_percent("5%%", &p, &why), -EINVAL);
	/* iproute2: rint(p / 100 * UINT32_MAX) */
	assert_int_equal(fl_percent_to_u32(0), 0);
	assert_int_equal(fl_percent_to_u32(100), UINT32_MAX);
	assert_int_equal(fl_percent_to_u32(50), 2147483648u);
	assert_int_equal(fl_percent_to_u32(25), 1073741824u);
	assert_int_equal(fl_percent_to_u32(0.1), 4294967u);
	fl_format_percent(12.5, b, sizeof(b));
	assert_string_equal(b, "12.5%");
}

static void test_bitrate(void **state)
{
	const char *why;
	uint64_t b = 0;
	char s[32];

	(void)state;
	/* tc: "bit" units are bits per second, "bps" units bytes per second */
	assert_int_equal(fl_parse_bitrate("10mbit", &b, &why), 0);
	assert_int_equal(b, 1250000);
	assert_int_equal(fl_parse_bitrate("100kbit", &b, &why), 0);
	assert_int_equal(b, 12500);
	assert_int_equal(fl_parse_bitrate("1gbit", &b, &why), 0);
	assert_int_equal(b, 125000000);
	assert_int_equal(fl_parse_bitrate("500kbps", &b, &why), 0);
	assert_int_equal(b, 500000);
	assert_int_equal(fl_parse_bitrate("1Mbit", &b, &why), 0);
	assert_int_equal(b, 125000);
	assert_int_equal(fl_parse_bitrate("8bit", &b, &why), 0);
	assert_int_equal(b, 1);
	assert_int_equal(fl_parse_bitrate("4bit", &b, &why), -ERANGE);
	assert_int_equal(fl_parse_bitrate("10", &b, &why), -EINVAL);
	assert_int_equal(fl_parse_bitrate("10furlongs", &b, &why), -EINVAL);
	fl_format_bitrate(1250000, s, sizeof(s));
	assert_string_equal(s, "10mbit");
	fl_format_bitrate(12500, s, sizeof(s));
	assert_string_equal(s, "100kbit");
}

static void test_op_rate(void **state)
{
	const char *why;
	double r = -1;

	(void)state;
	assert_int_equal(fl_parse_op_rate("200/s", &r, &why), 0);
	assert_true(r == 200);
	assert_int_equal(fl_parse_op_rate("1200/m", &r, &why), 0);
	assert_true(r == 20);
	assert_int_equal(fl_parse_op_rate("5/ms", &r, &why), 0);
	assert_true(r == 5000);
	assert_int_equal(fl_parse_op_rate("unlimited", &r, &why), 0);
	assert_true(r == 0);
	assert_int_equal(fl_parse_op_rate("200", &r, &why), -EINVAL);
	assert_int_equal(fl_parse_op_rate("0/s", &r, &why), -ERANGE);
	assert_int_equal(fl_parse_op_rate("200/d", &r, &why), -EINVAL);
}

static void test_size_and_int(void **state)
{
	const char *why;
	uint64_t b = 0;
	int64_t v = 0;

	(void)state;
	assert_int_equal(fl_parse_size("512MiB", &b, &why), 0);
	assert_int_equal(b, 512ull << 20);
	assert_int_equal(fl_parse_size("2G", &b, &why), 0);
	assert_int_equal(b, 2ull << 30);
	assert_int_equal(fl_parse_size("1GB", &b, &why), 0);
	assert_int_equal(b, 1000000000ull);
	assert_int_equal(fl_parse_size("4096", &b, &why), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(fl_parse_size("12 parsecs", &b, &why), -EINVAL);
	assert_int_equal(fl_parse_int("42", 0, 100, &v, &why), 0);
	assert_int_equal(v, 42);
	assert_int_equal(fl_parse_int("0x10", 0, 100, &v, &why), 0);
	assert_int_equal(v, 16);
	assert_int_equal(fl_parse_int("010", 0, 100, &v, &why), 0);
	assert_int_equal(v, 10); /* decimal, not octal */
	assert_int_equal(fl_parse_int("08", 0, 100, &v, &why), 0);
	assert_int_equal(v, 8);
	assert_int_equal(fl_parse_int("101", 0, 100, &v, &why), -ERANGE);
	assert_int_equal(fl_parse_int("4.5", 0, 100, &v, &why), -EINVAL);
	assert_int_equal(fl_parse_int("ten", 0, 100, &v, &why), -EINVAL);
	assert_int_equal(fl_parse_int("99999999999999999999", 0, INT64_MAX, &v, &why), -ERANGE);
}

static void test_hints(void **state)
{
	static const char *const kinds[] = { "partition", "latency", "loss", "kill", "pause" };
	static const char *const cmds[] = { "validate", "plan" };

	(void)state;
	assert_int_equal(fl_edit_distance("plna", "plan"), 1); /* a swap is one edit */
	assert_int_equal(fl_edit_distance("latncy", "latency"), 1);
	assert_int_equal(fl_edit_distance("", "abc"), 3);
	assert_string_equal(fl_closest("latncy", kinds, 5), "latency");
	assert_string_equal(fl_closest("partiton", kinds, 5), "partition");
	assert_string_equal(fl_closest("plna", cmds, 2), "plan");
	assert_string_equal(fl_closest("lat", kinds, 5), "latency"); /* a prefix */
	assert_null(fl_closest("zzz", kinds, 5));
	assert_null(fl_closest("time", (const char *const[]){ "name" }, 1)); /* too far for 4 letters */
}

static void test_argv(void **state)
{
	struct fl_argv a = { 0 };
	char **v;

	(void)state;
	v = fl_argv_take(&a); /* nothing added: an empty array, not NULL */
	assert_non_null(v);
	assert_null(v[0]);
	fl_strv_free(v);
	for (int k = 0; k < 40; k++) /* past the first growth */
		fl_argv_addf(&a, "a%d", k);
	fl_argv_add(&a, "");
	v = fl_argv_take(&a);
	assert_non_null(v);
	assert_int_equal(fl_strv_len(v), 41);
	assert_string_equal(v[0], "a0");
	assert_string_equal(v[39], "a39");
	assert_string_equal(v[40], "");
	assert_null(a.v); /* taken: a is empty again */
	fl_strv_free(v);
	fl_argv_add(&a, "x");
	fl_argv_push(&a, NULL); /* a failed strdup: sticky, and take frees all */
	fl_argv_add(&a, "y");
	assert_true(a.oom);
	assert_null(fl_argv_take(&a));
	assert_false(a.oom);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),   cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_percent),     cmocka_unit_test(test_bitrate),
		cmocka_unit_test(test_op_rate),     cmocka_unit_test(test_size_and_int),
		cmocka_unit_test(test_hints),       cmocka_unit_test(test_argv),
	};
	return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
