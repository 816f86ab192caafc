/* The linearizability checker: hand-written histories with known verdicts
 * for every model (unknown outcomes included), thousands of seeded random
 * small histories against a brute-force permutation checker, the parsers
 * (and their file:line errors), the limits, and Porcupine's corpus with its
 * known verdicts when ../shared/data is present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/check_input.h"
#include "faultline/linear.h"
#include "faultline/rng.h"

#define INF FL_LIN_INF

/* --- building histories ----------------------------------------------------- */

static struct fl_lin_history *H;

static uint32_t val(const char *s)
{
	return (uint32_t)fl_lin_history_value(H, s, s ? strlen(s) : 0);
}

static void op_full(const char *key, int kind, int64_t call, int64_t ret, const char *a,
		    const char *b, int flags)
{
	struct fl_lin_op op = { .call = call, .ret = ret, .kind = (uint8_t)kind,
				.flags = (uint8_t)flags, .src = (int64_t)H->n + 1 };

	op.key = (uint32_t)fl_lin_history_key(H, key, strlen(key));
	op.a = val(a);
	op.b = val(b);
	assert_int_equal(fl_lin_history_add(H, &op, NULL, 0), 0);
}

static void rd(int64_t c, int64_t r, const char *v) { op_full("k", FL_LIN_READ, c, r, v, NULL, 0); }
static void wr(int64_t c, int64_t r, const char *v) { op_full("k", FL_LIN_WRITE, c, r, v, NULL, 0); }
static void cas(int64_t c, int64_t r, const char *a, const char *b, int failed)
{
	op_full("k", FL_LIN_CAS, c, r, a, b, failed ? FL_LIN_CAS_FAILED : 0);
}
static void app(int64_t c, int64_t r, const char *v) { op_full("k", FL_LIN_APPEND, c, r, v, NULL, 0); }
static void add(int64_t c, int64_t r, const char *v) { op_full("k", FL_LIN_ADD, c, r, v, NULL, 0); }

static void read_all(int64_t c, int64_t r, const char *const *el, size_t n)
{
	struct fl_lin_op op = { .call = c, .ret = r, .kind = FL_LIN_READ_ALL, .src = (int64_t)H->n + 1 };
	uint32_t ids[16];

	op.key = (uint32_t)fl_lin_history_key(H, "k", 1);
	for (size_t i = 0; i < n; i++)
		ids[i] = val(el[i]);
	assert_int_equal(fl_lin_history_add(H, &op, ids, n), 0);
}

static void fresh(void)
{
	fl_lin_history_free(H);
	H = fl_lin_history_new();
	assert_non_null(H);
}

static uint64_t first_steps; /* fl_lin_limits.first_steps of verdict() */

static enum fl_lin_verdict verdict(enum fl_lin_model m, struct fl_lin_result **keep)
{
	struct fl_lin_limits lim = { .threads = 2, .first_steps = first_steps };
	struct fl_lin_result *r = NULL;
	enum fl_lin_verdict v;

	assert_int_equal(fl_lin_check(H, m, &lim, &r), 0);
	v = r->verdict;
	if (keep)
		*keep = r;
	else
		fl_lin_result_free(r);
	return v;
}

/* --- hand-written histories ------------------------------------------------- */

static void test_register(void **state)
{
	struct fl_lin_result *r;

	fresh(); /* sequential write then read */
	wr(0, 10, "1");
	rd(20, 30, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* initial state is nil */
	rd(0, 10, NULL);
	wr(20, 30, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* stale read: the window and the failed op name it */
	wr(0, 10, "1");
	wr(20, 30, "2");
	rd(40, 50, "1");
	rd(60, 70, "2");
	assert_int_equal(verdict(FL_LIN_REGISTER, &r), FL_LIN_VIOLATION);
	assert_int_equal(r->nparts, 1);
	assert_int_equal(r->parts[0].failed_op, 2);
	assert_int_equal(r->parts[0].prefix, 2);
	assert_true(r->parts[0].window_verified);
	assert_int_equal(r->parts[0].nwindow, 2); /* write 2, read 1 */
	assert_int_equal(r->parts[0].window[0], 1);
	assert_int_equal(r->parts[0].window[1], 2);
	fl_lin_result_free(r);

	fresh(); /* concurrent write: the read may see either value */
	wr(0, 10, "1");
	wr(20, 50, "2");
	rd(30, 40, "1");
	rd(45, 60, "2");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* reads flip back: 1 then 2 then 1 while one write 2 */
	wr(0, 10, "1");
	wr(20, 100, "2");
	rd(30, 40, "2");
	rd(50, 60, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* touching intervals (ret == call) count as concurrent */
	wr(0, 10, "1");
	rd(10, 20, NULL);
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
}

static void test_unknown_outcome(void **state)
{
	fresh(); /* an unknown write may take effect late... */
	wr(0, INF, "1");
	rd(10, 20, NULL);
	rd(30, 40, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* ...or never */
	wr(0, INF, "1");
	rd(10, 20, NULL);
	rd(30, 40, NULL);
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* but once seen it stays */
	wr(0, INF, "1");
	rd(10, 20, "1");
	rd(30, 40, NULL);
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* not before its invocation */
	rd(0, 10, "1");
	wr(20, INF, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* an unknown cas whose compare cannot succeed is harmless */
	wr(0, 10, "1");
	cas(20, INF, "5", "6", 0);
	rd(30, 40, "1");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* a read that never returned constrains nothing */
	wr(0, 10, "1");
	rd(20, INF, "2");
	rd(30, 40, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* two unknown writes of one value: either may be the one seen */
	wr(0, INF, "1");
	wr(5, INF, "1");
	wr(10, 20, "2");
	rd(30, 40, "1");
	rd(50, 60, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
	wr(70, 80, "2");
	rd(90, 100, "1"); /* both may have taken effect, one after each write 2 */
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
	wr(110, 120, "2");
	rd(130, 140, "1"); /* but not three times */
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* the first seen must be the earlier one: the later is not invoked yet */
	wr(0, INF, "1");
	rd(10, 20, "1");
	wr(30, 40, "2");
	wr(50, INF, "1");
	rd(60, 70, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* an unknown cas may have swapped */
	wr(0, 10, "1");
	cas(20, INF, "1", "2", 0);
	rd(30, 40, "2");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);
}

static void test_cas_register(void **state)
{
	fresh();
	wr(0, 10, "1");
	cas(20, 30, "1", "2", 0);
	rd(40, 50, "2");
	cas(60, 70, "1", "3", 1); /* compare failed: state is 2 */
	rd(80, 90, "2");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* an ok cas with the wrong expected value */
	wr(0, 10, "1");
	cas(20, 30, "2", "3", 0);
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* a failed compare where the compare must have succeeded */
	wr(0, 10, "1");
	cas(20, 30, "1", "3", 1);
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* ...unless a concurrent write makes it fail */
	wr(0, 10, "1");
	cas(20, 30, "1", "3", 1);
	wr(15, 25, "4");
	rd(40, 50, "4");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* a cas is not an operation of the plain register */
	cas(0, 10, NULL, "1", 0);
	assert_int_equal(fl_lin_history_invalid_for(H, FL_LIN_REGISTER), 0);
	assert_int_equal(fl_lin_history_invalid_for(H, FL_LIN_CAS_REGISTER), -1);
}

static void test_kv(void **state)
{
	fresh();
	rd(0, 5, NULL); /* nil reads as "" */
	wr(10, 20, "a");
	app(30, 40, "b");
	rd(50, 60, "ab");
	app(70, 80, "");
	rd(90, 95, "ab");
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_OK);

	fresh(); /* concurrent appends: either order, but one order for all reads */
	app(0, 50, "x");
	app(0, 50, "y");
	rd(10, 60, "yx");
	rd(70, 80, "yx");
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_OK);

	fresh();
	app(0, 50, "x");
	app(0, 50, "y");
	rd(60, 70, "yx");
	rd(70, 80, "xy");
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_VIOLATION);

	fresh(); /* a string no get returns is dead until a put, and stays wrong */
	app(0, 10, "q");
	app(20, 30, "r");
	rd(40, 50, NULL);
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_VIOLATION);
	fresh();
	app(0, 10, "q");
	app(20, 30, "r");
	wr(40, 50, "a");
	app(60, 70, "b");
	rd(80, 90, "ab");
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_OK);

	fresh(); /* the same string by two routes is one state */
	app(0, 10, "ab");
	app(20, 30, "c");
	wr(40, 50, "abc");
	rd(35, 60, "abc");
	assert_int_equal(verdict(FL_LIN_KV, NULL), FL_LIN_OK);

	fresh(); /* keys are independent objects */
	op_full("a", FL_LIN_WRITE, 0, 10, "1", NULL, 0);
	op_full("b", FL_LIN_WRITE, 0, 10, "2", NULL, 0);
	op_full("a", FL_LIN_READ, 20, 30, "1", NULL, 0);
	op_full("b", FL_LIN_READ, 20, 30, "1", NULL, 0);
	struct fl_lin_result *r;
	struct fl_lin_limits lim = { .all_keys = 1 };
	assert_int_equal(fl_lin_check(H, FL_LIN_KV, &lim, &r), 0);
	assert_int_equal(r->verdict, FL_LIN_VIOLATION);
	assert_int_equal(r->nparts, 2);
	assert_int_equal(r->parts[0].verdict, FL_LIN_OK);
	assert_int_equal(r->parts[1].verdict, FL_LIN_VIOLATION);
	assert_string_equal(H->keys[r->parts[1].key], "b");
	fl_lin_result_free(r);
}

static void test_set(void **state)
{
	static const char *const e12[] = { "1", "2" }, *const e1[] = { "1" }, *const e2[] = { "2" };

	fresh();
	add(0, 10, "1");
	add(5, 15, "2");
	read_all(20, 30, e12, 2);
	assert_int_equal(verdict(FL_LIN_SET, NULL), FL_LIN_OK);

	fresh(); /* an element lost */
	add(0, 10, "1");
	add(5, 15, "2");
	read_all(20, 30, e1, 1);
	assert_int_equal(verdict(FL_LIN_SET, NULL), FL_LIN_VIOLATION);

	fresh(); /* concurrent read sees a subset in add order */
	add(0, 10, "1");
	add(20, 40, "2");
	read_all(25, 35, e1, 1);
	read_all(25, 35, e12, 2);
	assert_int_equal(verdict(FL_LIN_SET, NULL), FL_LIN_OK);

	fresh(); /* an unknown add: may appear, then must stay */
	add(0, INF, "2");
	read_all(10, 20, NULL, 0);
	read_all(30, 40, e2, 1);
	assert_int_equal(verdict(FL_LIN_SET, NULL), FL_LIN_OK);
	read_all(50, 60, NULL, 0);
	assert_int_equal(verdict(FL_LIN_SET, NULL), FL_LIN_VIOLATION);
}

/* --- brute force ---------------------------------------------------------------- */

/* An independent reference: tries every order of the ops that respects real
 * time; each op with an unknown outcome either takes effect (as if ok) or is
 * left out. Models on strings; sets as bit masks of elements "0".."7". */
struct bop {
	int kind, failed;
	int64_t call, ret;
	const char *a, *b; /* NULL = nil */
	unsigned set;       /* read_all: elements */
};

static int bf_n;
static struct bop bf_ops[10];
static int bf_model;

static int str_eq(const char *x, const char *y)
{
	if (bf_model == FL_LIN_KV) {
		x = x ? x : "";
		y = y ? y : "";
	}
	if (!x || !y)
		return x == y;
	return !strcmp(x, y);
}

static int bf_rec(unsigned placed, unsigned skip, const char *st, unsigned set)
{
	if ((placed | skip) == (1u << bf_n) - 1)
		return 1;
	for (int i = 0; i < bf_n; i++) {
		const struct bop *o = &bf_ops[i];
		char buf[64];
		int ok = 1;
		if ((placed | skip) >> i & 1)
			continue;
		/* every op that returned before o was invoked must be placed */
		for (int j = 0; j < bf_n; j++)
			if (j != i && !((placed | skip) >> j & 1) && bf_ops[j].ret < o->call)
				ok = 0;
		if (!ok)
			continue;
		const char *ns = st;
		unsigned nset = set;
		switch (o->kind) {
		case FL_LIN_READ:
			ok = str_eq(st, o->a);
			break;
		case FL_LIN_WRITE:
			ns = o->a;
			break;
		case FL_LIN_CAS:
			if (o->failed)
				ok = !str_eq(st, o->a);
			else if ((ok = str_eq(st, o->a)))
				ns = o->b;
			break;
		case FL_LIN_APPEND:
			snprintf(buf, sizeof(buf), "%s%s", st ? st : "", o->a ? o->a : "");
			ns = buf;
			break;
		case FL_LIN_ADD:
			nset |= 1u << (o->a[0] - '0');
			break;
		case FL_LIN_READ_ALL:
			ok = set == o->set;
			break;
		}
		if (ok && bf_rec(placed | 1u << i, skip, ns, nset))
			return 1;
		/* an unknown outcome may also never take effect */
		if (o->ret == INF && !((skip >> i) & 1) && bf_rec(placed, skip | 1u << i, st, set))
			return 1;
	}
	return 0;
}

static const char *const small_vals[] = { NULL, "1", "2", "3" };
static int unknown_one_in = 8; /* an op has an unknown outcome with this odds */

static void gen_case(struct fl_rng *g, int model)
{
	bf_model = model;
	bf_n = 1 + (int)fl_rng_below(g, 8);
	fresh();
	for (int i = 0; i < bf_n; i++) {
		struct bop *o = &bf_ops[i];
		memset(o, 0, sizeof(*o));
		o->call = (int64_t)fl_rng_below(g, 40);
		o->ret = o->call + 1 + (int64_t)fl_rng_below(g, 15);
		if (fl_rng_below(g, (uint64_t)unknown_one_in) == 0)
			o->ret = INF;
		switch (model) {
		case FL_LIN_CAS_REGISTER:
			o->kind = (int)fl_rng_below(g, 3); /* read, write, cas */
			break;
		case FL_LIN_KV:
			o->kind = (int[]){ FL_LIN_READ, FL_LIN_WRITE, FL_LIN_APPEND }[fl_rng_below(g, 3)];
			break;
		default:
			o->kind = fl_rng_below(g, 2) ? FL_LIN_ADD : FL_LIN_READ_ALL;
		}
		if (o->kind == FL_LIN_READ && o->ret == INF)
			o->ret = o->call + 3; /* unknown reads are dropped by the parsers */
		if (o->kind == FL_LIN_READ_ALL && o->ret == INF)
			o->ret = o->call + 3;
		o->a = small_vals[fl_rng_below(g, 4)];
		o->b = small_vals[1 + fl_rng_below(g, 3)];
		if (model == FL_LIN_KV && o->kind != FL_LIN_READ && !o->a)
			o->a = "1";
		if (model == FL_LIN_KV && o->kind == FL_LIN_READ && fl_rng_below(g, 2))
			o->a = (const char *[]){ "11", "12", "21", "112" }[fl_rng_below(g, 4)];
		if (o->kind == FL_LIN_CAS && o->ret != INF)
			o->failed = fl_rng_below(g, 3) == 0;
		if (o->kind == FL_LIN_ADD)
			o->a = (const char *[]){ "0", "1", "2" }[fl_rng_below(g, 3)];
		if (o->kind == FL_LIN_READ_ALL)
			o->set = (unsigned)fl_rng_below(g, 8);
		if (o->kind == FL_LIN_READ_ALL) {
			const char *el[3];
			size_t ne = 0;
			for (int k = 0; k < 3; k++)
				if (o->set >> k & 1)
					el[ne++] = (const char *[]){ "0", "1", "2" }[k];
			read_all(o->call, o->ret, el, ne);
		} else {
			op_full("k", o->kind, o->call, o->ret, o->a, o->b,
				o->failed ? FL_LIN_CAS_FAILED : 0);
		}
	}
}

static void run_random(int model, uint64_t seed, int cases)
{
	struct fl_rng g;
	int seen[2] = { 0, 0 };

	fl_rng_seed(&g, seed);
	for (int c = 0; c < cases; c++) {
		gen_case(&g, model);
		int expect = bf_rec(0, 0, NULL, 0);
		enum fl_lin_verdict v = verdict((enum fl_lin_model)model, NULL);
		if ((v == FL_LIN_OK) != expect) {
			fprintf(stderr, "model %s seed %llu case %d: checker says %s, brute force %s\n",
				fl_lin_model_to_string(model), (unsigned long long)seed, c,
				fl_lin_verdict_to_string(v), expect ? "linearizable" : "violation");
			for (int i = 0; i < bf_n; i++)
				fprintf(stderr, "  %s [%lld,%lld] %s %s%s set=%u\n",
					fl_lin_kind_to_string(bf_ops[i].kind), (long long)bf_ops[i].call,
					bf_ops[i].ret == INF ? -1LL : (long long)bf_ops[i].ret,
					bf_ops[i].a ? bf_ops[i].a : "nil", bf_ops[i].b ? bf_ops[i].b : "nil",
					bf_ops[i].failed ? " failed" : "", bf_ops[i].set);
			fail();
		}
		seen[expect]++;
	}
	/* both verdicts must be exercised, or the test proves little */
	assert_true(seen[0] > cases / 10);
	assert_true(seen[1] > cases / 10);
}

static void test_random_cas_register(void **state) { run_random(FL_LIN_CAS_REGISTER, 1, 3000); }
static void test_random_kv(void **state) { run_random(FL_LIN_KV, 2, 2000); }
static void test_random_set(void **state) { run_random(FL_LIN_SET, 3, 2000); }

/* Many unknown outcomes, often with equal values: the search defers them
 * and takes interchangeable ones in invocation order */
static void test_random_unknown(void **state)
{
	unknown_one_in = 2;
	run_random(FL_LIN_CAS_REGISTER, 4, 2000);
	run_random(FL_LIN_KV, 5, 1000);
	run_random(FL_LIN_SET, 6, 1000);
	unknown_one_in = 8;
}

/* The first search given one step: every key goes through the sub-histories
 * and the relaxed search before the full search; the verdicts must stay the
 * brute force's */
static void test_random_sub_histories(void **state)
{
	first_steps = 1;
	unknown_one_in = 2;
	run_random(FL_LIN_CAS_REGISTER, 7, 2000);
	run_random(FL_LIN_KV, 8, 1000);
	run_random(FL_LIN_SET, 9, 1000);
	unknown_one_in = 8;
	run_random(FL_LIN_CAS_REGISTER, 10, 2000);
	first_steps = 0;
}

/* A stale read after many unknown writes: a small sub-history around the
 * read proves it (verified window, without the ops long before); and a
 * violation that the relaxed search (unknown outcomes reusable) misses,
 * one that needs an unknown write twice, is still found by the full one. */
static void test_sub_history_rules(void **state)
{
	struct fl_lin_result *r;
	char v[8];

	first_steps = 1;
	fresh();
	for (int i = 0; i < 60; i++) { /* unknown writes of every value, known ones, reads */
		snprintf(v, sizeof(v), "%d", i % 5);
		wr(i * 100, INF, v);
		wr(i * 100 + 10, i * 100 + 20, v);
		rd(i * 100 + 30, i * 100 + 40, v);
	}
	wr(7000, 7010, "X"); /* the only write of X */
	wr(7020, 7030, "Y");
	rd(7040, 7050, "X"); /* stale: Y was written after X, X never again */
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, &r), FL_LIN_VIOLATION);
	assert_true(r->parts[0].window_verified);
	assert_true(r->parts[0].nwindow < 20);
	fl_lin_result_free(r);
	rd(7035, 7050, "Y"); /* without the stale read: linearizable */
	H->ops[H->n - 2].a = val("Y");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);

	fresh(); /* read from the future, behind unknown cases */
	for (int i = 0; i < 40; i++) {
		snprintf(v, sizeof(v), "%d", i % 5);
		cas(i * 100, INF, v, (const char *[]){ "0", "1", "2", "3", "4" }[(i + 1) % 5], 0);
		wr(i * 100 + 10, i * 100 + 20, v);
	}
	rd(5000, 5010, "F");
	wr(5020, 5030, "F");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, &r), FL_LIN_VIOLATION);
	assert_true(r->parts[0].window_verified);
	fl_lin_result_free(r);

	fresh(); /* two unknown writes of 2, both needed: a sub-history keeps one,
		  * so it must let it take effect twice (reuse) */
	wr(0, 10, "1");
	wr(20, INF, "2");
	wr(25, INF, "2");
	rd(40, 50, "2");
	wr(60, 70, "1");
	rd(80, 90, "2");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
	rd(100, 110, "1"); /* a third time, no */
	rd(120, 130, "2");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* the unknown write of 3 would be needed twice */
	wr(0, 10, "1");
	wr(20, INF, "2");
	wr(30, INF, "3");
	rd(40, 50, "2");
	rd(45, 55, "3");
	wr(60, 70, "4");
	rd(80, 90, "3");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);
	first_steps = 0;
}

/* The search tries an unknown outcome only where it matters (never right
 * before a write, never when it changes nothing) and prunes a configuration
 * when one with the same linearized ops that return and fewer unknown
 * outcomes taken was explored: each must still find what needs an unknown
 * outcome, and the violations an unknown outcome cannot explain. */
static void test_unknown_pruning(void **state)
{
	fresh(); /* a chain of unknown cases, then the read that needs it */
	wr(0, 10, "1");
	cas(20, INF, "1", "2", 0);
	cas(25, INF, "2", "3", 0);
	rd(40, 50, "3");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);
	wr(60, 70, "4"); /* a write after it: the chain cannot run twice */
	rd(80, 90, "3");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* a failed compare observes an unknown write no read returns */
	wr(0, 10, "1");
	wr(20, INF, "2");
	cas(30, 40, "1", "3", 1);
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_OK);
	fresh(); /* without it, no */
	wr(0, 10, "1");
	cas(30, 40, "1", "3", 1);
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* each unknown write takes effect once, and a write hides it */
	wr(0, 10, "1");
	wr(20, INF, "2");
	wr(30, INF, "3");
	rd(40, 50, "2");
	rd(45, 55, "3");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
	wr(60, 70, "4");
	rd(80, 90, "3"); /* 3 may come after 2, once */
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* an ok cas uses the unknown write, a later read cannot */
	wr(0, 10, "1");
	wr(20, INF, "2");
	cas(30, 40, "2", "3", 0);
	rd(50, 60, "2");
	assert_int_equal(verdict(FL_LIN_CAS_REGISTER, NULL), FL_LIN_VIOLATION);

	fresh(); /* unknown writes, then a known write and a read of one of them:
		  * the unknown one must follow the known write, not precede it */
	wr(0, INF, "1");
	wr(5, INF, "2");
	wr(10, 20, "3");
	rd(30, 40, "2");
	rd(50, 60, "1");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_OK);
	rd(70, 80, "2");
	assert_int_equal(verdict(FL_LIN_REGISTER, NULL), FL_LIN_VIOLATION);
}

/* A cache smaller than the search needs: with a time limit the search
 * forgets and explores again, and still decides; without one it is the
 * memory limit. */
static void test_cache_eviction(void **state)
{
	struct fl_lin_limits lim = { .memory_bytes = 6 << 10, .timeout_ns = 20 * 1000000000LL,
				     .threads = 1 };
	struct fl_lin_result *r;
	char v[4];

	for (int bad = 0; bad < 2; bad++) {
		fresh();
		for (int i = 0; i < 8; i++) {
			snprintf(v, sizeof(v), "%c", 'a' + i);
			app(0, 100, v);
		}
		rd(200, 210, bad ? "abcdefhg!" : "hgfedcba");
		lim.timeout_ns = 20 * 1000000000LL;
		assert_int_equal(fl_lin_check(H, FL_LIN_KV, &lim, &r), 0);
		assert_int_equal(r->verdict, bad ? FL_LIN_VIOLATION : FL_LIN_OK);
		assert_true(r->peak_cache_bytes <= lim.memory_bytes);
		fl_lin_result_free(r);
		lim.timeout_ns = 0;
		assert_int_equal(fl_lin_check(H, FL_LIN_KV, &lim, &r), 0);
		if (bad) { /* the violation needs the whole search: more than the cache */
			assert_int_equal(r->verdict, FL_LIN_UNKNOWN);
			assert_int_equal(r->limit, FL_LIN_LIMIT_MEMORY);
		}
		fl_lin_result_free(r);
	}
}

/* --- parsers ---------------------------------------------------------------------- */

static int parse(const char *text, int format, struct fl_diags *d, enum fl_lin_model *m)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	enum fl_check_format fmt;
	int r;

	fl_lin_history_free(H);
	H = NULL;
	r = fl_check_read(f, "h.log", format, &H, &fmt, m, d);
	fclose(f);
	return r;
}

static void test_parse_etcd(void **state)
{
	struct fl_diags d;
	enum fl_lin_model m;

	fl_diags_init(&d);
	assert_int_equal(parse("setup line\n"
			       "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
			       "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
			       "INFO  jepsen.util - 1   :invoke :cas    [1 2]\n"
			       "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
			       "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n"
			       "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n"
			       "INFO  jepsen.util - 3\t:invoke\t:write\t4\n"
			       "INFO  jepsen.util - 3\t:info\t:write\t:timed-out\n",
			       -1, &d, &m), 0);
	assert_int_equal(m, FL_LIN_CAS_REGISTER);
	assert_int_equal(H->n, 3); /* the timed-out read is dropped */
	assert_int_equal(H->dropped, 1);
	int seen_failed = 0, seen_inf = 0;
	for (size_t i = 0; i < H->n; i++) {
		seen_failed |= H->ops[i].kind == FL_LIN_CAS && (H->ops[i].flags & FL_LIN_CAS_FAILED);
		seen_inf |= H->ops[i].ret == INF;
	}
	assert_true(seen_failed && seen_inf);
	/* write 1 then a failed cas 1->2: the compare should have succeeded */
	assert_int_equal(verdict(m, NULL), FL_LIN_VIOLATION);

	assert_int_equal(parse("INFO  jepsen.util - 0 :invoke :write x\n"
			       "INFO  jepsen.util - 1 :ok :read 3\n",
			       -1, &d, &m), -EINVAL);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.v[0].line, 1);
	assert_int_equal(d.v[1].line, 2);
	fl_diags_release(&d);
}

/* A number from the file sizes the pending table: bounded by the lines read
 * ("i":100000000 on line 1 asked for 5 GB; found by fuzz_check_input). */
static void test_parse_number_bounds(void **state)
{
	struct fl_diags d;
	enum fl_lin_model m;

	fl_diags_init(&d);
	assert_int_equal(parse("{\"i\":100000000,\"type\":\"invoke\",\"t\":0,\"f\":\"read\","
			       "\"key\":\"k\"}\n", -1, &d, &m), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.v[0].msg, "'i' out of range"));
	fl_diags_release(&d);
	fl_diags_init(&d);
	assert_int_equal(parse("INFO  jepsen.util - 99999999\t:invoke\t:read\tnil\n", -1, &d, &m),
			 -EINVAL);
	assert_non_null(strstr(d.v[0].msg, "process number out of range"));
	fl_diags_release(&d);
	/* what a long run has: process 65599 on line 2 */
	fl_diags_init(&d);
	assert_int_equal(parse("INFO  jepsen.util - 1\t:invoke\t:write\t1\n"
			       "INFO  jepsen.util - 65599\t:invoke\t:read\tnil\n", -1, &d, &m), 0);
	fl_diags_release(&d);
}

static void test_parse_edn(void **state)
{
	struct fl_diags d;
	enum fl_lin_model m;

	fl_diags_init(&d);
	assert_int_equal(parse("{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}\n"
			       "{:process 1, :type :invoke, :f :get, :key \"a\", :value nil}\n"
			       "{:process 0, :type :ok, :f :put, :key \"a\", :value \"x\"}\n"
			       "{:process 1, :type :ok, :f :get, :key \"a\", :value \"\"}\n"
			       "{:process 0, :type :invoke, :f :append, :key \"b\", :value \"y\\\"z\"}\n",
			       -1, &d, &m), 0);
	assert_int_equal(m, FL_LIN_KV);
	assert_int_equal(H->n, 3);
	assert_int_equal(H->nkeys, 2);
	assert_string_equal(H->vals[H->ops[2].a], "y\"z");
	assert_int_equal(H->ops[2].ret, INF);
	assert_int_equal(verdict(m, NULL), FL_LIN_OK);

	assert_int_equal(parse("{:process 0, :type :invoke, :f :put, :key \"a\", :value \"x\"}\n"
			       "{:process 0, :type :ok, :f :put :key \"a\" :value \"x\"}\n"
			       "{:process 0, :type :invoke, :f :delete, :key \"a\", :value nil}\n"
			       "{:process 0 :type}\n",
			       FL_CHECK_EDN, &d, &m), -EINVAL);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[1].line, 4);
	fl_diags_release(&d);
}

static void test_parse_faultline(void **state)
{
	struct fl_diags d;
	enum fl_lin_model m;

	fl_diags_init(&d);
	assert_int_equal(parse(
		"{\"i\":0,\"type\":\"invoke\",\"t\":10,\"process\":0,\"node\":\"n1\",\"f\":\"write\",\"key\":\"k\",\"value\":\"1\"}\n"
		"{\"i\":1,\"type\":\"invoke\",\"t\":11,\"process\":1,\"node\":\"n1\",\"f\":\"cas\",\"key\":\"k\",\"value\":\"3\",\"expect\":\"2\"}\n"
		"{\"i\":0,\"type\":\"ok\",\"t\":20,\"process\":0,\"node\":\"n1\",\"f\":\"write\",\"key\":\"k\"}\n"
		"{\"i\":1,\"type\":\"fail\",\"t\":21,\"process\":1,\"node\":\"n1\",\"f\":\"cas\",\"key\":\"k\",\"error\":\"node n1: compare failed: 'k' is not '2'\"}\n"
		"{\"i\":2,\"type\":\"invoke\",\"t\":30,\"process\":0,\"node\":\"n1\",\"f\":\"cas\",\"key\":\"k\",\"value\":\"5\",\"expect\":\"1\"}\n"
		"{\"i\":2,\"type\":\"fail\",\"t\":31,\"process\":0,\"node\":\"n1\",\"f\":\"cas\",\"key\":\"k\",\"error\":\"connection refused\"}\n"
		"{\"i\":3,\"type\":\"invoke\",\"t\":40,\"process\":0,\"node\":\"n1\",\"f\":\"read\",\"key\":\"k\",\"final\":true}\n"
		"{\"i\":3,\"type\":\"ok\",\"t\":41,\"process\":0,\"node\":\"n1\",\"f\":\"read\",\"key\":\"k\",\"value\":\"1\",\"final\":true}\n"
		"{\"i\":4,\"type\":\"invoke\",\"t\":50,\"process\":0,\"node\":\"n1\",\"f\":\"read\",\"key\":\"k\"}\n"
		"{\"i\":4,\"type\":\"info\",\"t\":51,\"process\":0,\"node\":\"n1\",\"f\":\"read\",\"key\":\"k\"}\n"
		"{\"i\":5,\"type\":\"invoke\",\"t\":60,\"process\":2,\"node\":\"n1\",\"f\":\"write\",\"key\":\"k\",\"value\":\"9\"}\n"
		"{\"i\":6,\"type\":\"inv", /* torn last line: ignored */
		-1, &d, &m), 0);
	assert_int_equal(m, FL_LIN_CAS_REGISTER);
	assert_int_equal(H->n, 4); /* write, failed-compare cas, final read, open write */
	assert_int_equal(H->dropped, 2);
	assert_int_equal(H->torn, 12); /* said by `faultline check` */
	assert_int_equal(verdict(m, NULL), FL_LIN_OK);

	assert_int_equal(parse(
		"{\"i\":0,\"type\":\"invoke\",\"t\":10,\"process\":0,\"f\":\"frob\",\"key\":\"k\"}\n"
		"not json\n"
		"{\"i\":7,\"type\":\"ok\",\"t\":20,\"process\":0,\"f\":\"write\",\"key\":\"k\"}\n"
		"{\"i\":1,\"type\":\"invoke\",\"t\":10,\"process\":0,\"f\":\"add\",\"key\":\"s\",\"value\":\"1\"}\n",
		FL_CHECK_FAULTLINE, &d, &m), -EINVAL);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.v[0].line, 1);
	assert_int_equal(d.v[1].line, 2);
	assert_int_equal(d.v[2].line, 3);
	fl_diags_release(&d);

	fl_diags_init(&d); /* set histories are detected */
	assert_int_equal(parse(
		"{\"i\":0,\"type\":\"invoke\",\"t\":10,\"process\":0,\"f\":\"add\",\"key\":\"s\",\"value\":\"1\"}\n"
		"{\"i\":0,\"type\":\"ok\",\"t\":11,\"process\":0,\"f\":\"add\",\"key\":\"s\"}\n"
		"{\"i\":1,\"type\":\"invoke\",\"t\":12,\"process\":0,\"f\":\"read_all\",\"key\":\"s\"}\n"
		"{\"i\":1,\"type\":\"ok\",\"t\":13,\"process\":0,\"f\":\"read_all\",\"key\":\"s\",\"value\":[\"1\"]}\n",
		-1, &d, &m), 0);
	assert_int_equal(m, FL_LIN_SET);
	assert_int_equal(verdict(m, NULL), FL_LIN_OK);
	fl_diags_release(&d);
}

/* --- limits ------------------------------------------------------------------------ */

/* Many concurrent appends and a final read no order explains: the search
 * must try every order, which is far beyond any small limit. */
static void hard_history(void)
{
	char v[8];

	fresh();
	for (int i = 0; i < 22; i++) {
		snprintf(v, sizeof(v), "%c", 'a' + i);
		app(0, 100, v);
	}
	rd(200, 210, "nope");
}

static void test_limits(void **state)
{
	struct fl_lin_limits lim = { .timeout_ns = 50 * 1000000LL, .threads = 1 };
	struct fl_lin_result *r;

	hard_history();
	assert_int_equal(fl_lin_check(H, FL_LIN_KV, &lim, &r), 0);
	assert_int_equal(r->verdict, FL_LIN_UNKNOWN);
	assert_int_equal(r->limit, FL_LIN_LIMIT_TIME);
	assert_string_equal(fl_lin_limit_to_string(r->limit), "time limit");
	fl_lin_result_free(r);

	lim = (struct fl_lin_limits){ .memory_bytes = 4 << 20, .threads = 1 };
	assert_int_equal(fl_lin_check(H, FL_LIN_KV, &lim, &r), 0);
	assert_int_equal(r->verdict, FL_LIN_UNKNOWN);
	assert_int_equal(r->limit, FL_LIN_LIMIT_MEMORY);
	assert_true(r->peak_cache_bytes <= (4 << 20) + (1 << 20));
	fl_lin_result_free(r);
}

/* --- the Porcupine corpus ------------------------------------------------------------- */

static int data_dir(char *out, size_t len)
{
	const char *env = getenv("FAULTLINE_SHARED_DATA");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, R_OK) == 0;
	}
	if (access("../shared/data", R_OK) == 0) { /* run from the repository root */
		snprintf(out, len, "../shared/data");
		return 1;
	}
	/* else beside the repository holding this binary (build/.../tests/unit/x) */
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = 0;
		for (char *s; (s = strrchr(exe, '/')) && s != exe;) {
			char mk[PATH_MAX + 16];
			*s = 0;
			snprintf(mk, sizeof(mk), "%s/Makefile", exe);
			if (access(mk, R_OK) == 0) {
				if (strlen(exe) + 16 > len)
					return 0;
				strcpy(out, exe);
				strcat(out, "/../shared/data");
				return access(out, R_OK) == 0;
			}
		}
	}
	return 0;
}

static enum fl_lin_verdict check_file(const char *path)
{
	struct fl_lin_history *h = NULL;
	struct fl_lin_result *r;
	struct fl_diags d;
	enum fl_check_format fmt;
	enum fl_lin_model m;
	enum fl_lin_verdict v;

	fl_diags_init(&d);
	assert_int_equal(fl_check_load(path, -1, &h, &fmt, &m, &d), 0);
	fl_diags_release(&d);
	assert_int_equal(fl_lin_check(h, m, NULL, &r), 0);
	v = r->verdict;
	fl_lin_result_free(r);
	fl_lin_history_free(h);
	return v;
}

static void test_porcupine_corpus(void **state)
{
	static const int ok[] = { 2,  5,  7,  18, 25, 31, 38, 45, 48, 49,  51,  53,
				  56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102 };
	char dir[PATH_MAX], path[PATH_MAX + 64];
	int nok = 0, nbad = 0;

	if (!data_dir(dir, sizeof(dir))) {
		printf("skipped: ../shared/data not present\n");
		skip();
	}
	for (int i = 0; i <= 102; i++) {
		int expect_ok = i == 95; /* empty: nothing to contradict */
		for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
			expect_ok |= ok[k] == i;
		snprintf(path, sizeof(path), "%s/porcupine/jepsen/etcd_%03d.log", dir, i);
		enum fl_lin_verdict v = check_file(path);
		if (v != (expect_ok ? FL_LIN_OK : FL_LIN_VIOLATION))
			fail_msg("%s: %s, expected %s", path, fl_lin_verdict_to_string(v),
				 expect_ok ? "linearizable" : "violation");
		expect_ok ? nok++ : nbad++;
	}
	assert_int_equal(nok, 24);
	assert_int_equal(nbad, 79);
	static const char *const kv[] = { "c01", "c10", "c50" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/porcupine/kv/%s-ok.txt", dir, kv[i]);
		assert_int_equal(check_file(path), FL_LIN_OK);
		snprintf(path, sizeof(path), "%s/porcupine/kv/%s-bad.txt", dir, kv[i]);
		assert_int_equal(check_file(path), FL_LIN_VIOLATION);
	}
}

static int teardown(void **state)
{
	fl_lin_history_free(H);
	H = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_register, teardown),
		cmocka_unit_test_teardown(test_unknown_outcome, teardown),
		cmocka_unit_test_teardown(test_cas_register, teardown),
		cmocka_unit_test_teardown(test_kv, teardown),
		cmocka_unit_test_teardown(test_set, teardown),
		cmocka_unit_test_teardown(test_random_cas_register, teardown),
		cmocka_unit_test_teardown(test_random_kv, teardown),
		cmocka_unit_test_teardown(test_random_set, teardown),
		cmocka_unit_test_teardown(test_random_unknown, teardown),
		cmocka_unit_test_teardown(test_unknown_pruning, teardown),
		cmocka_unit_test_teardown(test_random_sub_histories, teardown),
		cmocka_unit_test_teardown(test_sub_history_rules, teardown),
		cmocka_unit_test_teardown(test_cache_eviction, teardown),
		cmocka_unit_test_teardown(test_parse_etcd, teardown),
		cmocka_unit_test_teardown(test_parse_edn, teardown),
		cmocka_unit_test_teardown(test_parse_number_bounds, teardown),
		cmocka_unit_test_teardown(test_parse_faultline, teardown),
		cmocka_unit_test_teardown(test_limits, teardown),
		cmocka_unit_test_teardown(test_porcupine_corpus, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
