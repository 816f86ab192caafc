/* The plan: determinism for a seed, repetition and jitter, target
 * resolution, and the connectivity each partition mode promises. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/plan.h"
#include "faultline/scenario.h"
#include "faultline/units.h"

static struct fl_scenario *load(const char *fmt, ...)
{
	struct fl_scenario *s = NULL;
	struct fl_diags d;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	assert_int_not_equal(vasprintf(&text, fmt, ap), -1);
	va_end(ap);
	fl_diags_init(&d);
	if (fl_scenario_load_string("t.yaml", text, strlen(text), NULL, 0, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		fail_msg("scenario did not load:\n%s", text);
	}
	fl_diags_release(&d);
	free(text);
	return s;
}

static char *render(const struct fl_scenario *s, uint64_t seed, int json)
{
	struct fl_plan *p = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_int_equal(fl_plan_build(s, seed, &p), 0);
	assert_int_equal(json ? fl_plan_write_json(p, f) : fl_plan_write_text(p, f), 0);
	fclose(f);
	fl_plan_free(p);
	return out;
}

#define HEAD "name: t\nduration: 10m\nsystem: {type: etcd}\ncluster: {nodes: %d}\nnemesis:\n"

static const char random_sc[] =
	"  - fault: kill\n    targets: random-one\n    every: {interval: 30s, jitter: 10s}\n"
	"    for: 5s\n"
	"  - fault: partition\n    mode: halves\n    at: {time: 20s, jitter: 5s}\n    every: 1m\n"
	"    for: 20s\n    count: 4\n"
	"  - fault: loss\n    targets: minority\n    peers: majority\n    percent: 5%\n"
	"    at: 5m\n    for: 1m\n";

static void test_deterministic(void **state)
{
	struct fl_scenario *s = load(HEAD "%s", 5, random_sc);
	char *a, *b, *c, *ja, *jb;

	(void)state;
	a = render(s, 7, 0);
	b = render(s, 7, 0);
	c = render(s, 8, 0);
	ja = render(s, 7, 1);
	jb = render(s, 7, 1);
	assert_string_equal(a, b);
	assert_string_equal(ja, jb);
	assert_string_not_equal(a, c); /* random targets and jitter follow the seed */
	free(a);
	free(b);
	free(c);
	free(ja);
	free(jb);
	fl_scenario_free(s);
}

static void test_repetition(void **state)
{
	struct fl_scenario *s = load(HEAD "%s", 5, random_sc);
	struct fl_plan *p = NULL;
	size_t kills = 0, parts = 0, loss = 0;

	(void)state;
	assert_int_equal(fl_plan_build(s, 99, &p), 0);
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct fl_plan_step *st = &p->steps[i];
		const struct fl_fault *f = &s->faults[st->fault];
		int64_t base = f->at_ns + (int64_t)st->seq * f->every_ns;
		assert_true(st->start_ns >= base);
		assert_true(st->start_ns <= base + f->at_jitter_ns + f->every_jitter_ns);
		assert_true(st->end_ns <= s->duration_ns);
		if (i)
			assert_true(p->steps[i - 1].start_ns <= st->start_ns);
		switch (f->kind) {
		case FL_FAULT_KILL:
			kills++;
			assert_int_equal(st->targets.kind, FL_TARGET_NODES);
			assert_int_equal(__builtin_popcountll(st->targets.nodes), 1);
			break;
		case FL_FAULT_PARTITION:
			parts++;
			break;
		case FL_FAULT_LOSS:
			loss++;
			assert_int_equal(__builtin_popcountll(st->targets.nodes), 2); /* minority of 5 */
			assert_int_equal(__builtin_popcountll(st->peers.nodes), 3);   /* majority of 5 */
			break;
		default:
			fail();
		}
	}
	/* kill: at 30s, every 30s (+ up to 10s), 5s long, within 10m: starts 30s..9m30s */
	assert_true(kills >= 18 && kills <= 19);
	assert_int_equal(parts, 4);
	assert_int_equal(loss, 1);
	fl_plan_free(p);
	fl_scenario_free(s);
}

static int reach_count(const struct fl_plan_step *st, size_t n, size_t i)
{
	return (int)n - __builtin_popcountll(st->blocked[i]);
}

static void test_majorities_ring(void **state)
{
	(void)state;
	for (int n = 4; n <= 9; n++) {
		struct fl_scenario *s = load(HEAD "  - fault: partition\n    mode: majorities-ring\n"
						  "    for: 1m\n", n);
		struct fl_plan *p = NULL;
		const struct fl_plan_step *st;

		assert_int_equal(fl_plan_build(s, (uint64_t)n, &p), 0);
		assert_int_equal(p->nsteps, 1);
		st = &p->steps[0];
		assert_non_null(st->blocked);
		for (size_t i = 0; i < (size_t)n; i++) {
			/* every node sees a majority, counting itself */
			assert_true(reach_count(st, (size_t)n, i) >= n / 2 + 1);
			/* ...but not everyone: the ring is not a full mesh */
			assert_true(reach_count(st, (size_t)n, i) < n);
			assert_false(st->blocked[i] & (1ull << i));
			for (size_t j = 0; j < (size_t)n; j++) {
				/* cuts are symmetric */
				assert_int_equal(!!(st->blocked[i] & (1ull << j)),
						 !!(st->blocked[j] & (1ull << i)));
				/* no two nodes see the same majority */
				if (j != i)
					assert_true(st->blocked[i] != st->blocked[j]);
			}
		}
		fl_plan_free(p);
		fl_scenario_free(s);
	}
}

static void test_halves_bridge_direction(void **state)
{
	struct fl_scenario *s = load(HEAD "  - fault: partition\n    mode: halves\n    for: 1m\n"
					  "  - fault: partition\n    mode: bridge\n    at: 2m\n    for: 1m\n"
					  "  - fault: partition\n    mode: isolate\n    targets: n2\n"
					  "    direction: to\n    at: 4m\n    for: 1m\n"
					  "  - fault: partition\n    mode: isolate\n    targets: leader\n"
					  "    at: 6m\n    for: 1m\n",
				     5);
	struct fl_plan *p = NULL;
	const struct fl_plan_step *st;

	(void)state;
	assert_int_equal(fl_plan_build(s, 3, &p), 0);
	assert_int_equal(p->nsteps, 4);
	/* halves: 2 | 3, every cross pair cut both ways, nothing inside a side */
	st = &p->steps[0];
	assert_int_equal(__builtin_popcountll(st->sides[0]), 2);
	assert_int_equal(__builtin_popcountll(st->sides[1]), 3);
	for (size_t i = 0; i < 5; i++) {
		uint64_t mine = (st->sides[0] >> i) & 1 ? st->sides[0] : st->sides[1];
		assert_int_equal(st->blocked[i], 0x1f & ~mine);
	}
	/* bridge: the bridge node reaches everyone, the sides not each other */
	st = &p->steps[1];
	assert_int_equal(__builtin_popcountll(st->sides[2]), 1);
	assert_int_equal(__builtin_popcountll(st->sides[0]) + __builtin_popcountll(st->sides[1]), 4);
	for (size_t i = 0; i < 5; i++) {
		if (st->sides[2] & (1ull << i))
			assert_int_equal(st->blocked[i], 0);
		else if (st->sides[0] & (1ull << i))
			assert_int_equal(st->blocked[i], st->sides[1]);
		else
			assert_int_equal(st->blocked[i], st->sides[0]);
	}
	/* one-way isolate of n2 ('to'): nobody reaches n2, n2 reaches everyone */
	st = &p->steps[2];
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(st->blocked[i], i == 1 ? 0 : 1ull << 1);
	/* leader isolate: sides exist only at run time */
	st = &p->steps[3];
	assert_null(st->blocked);
	assert_int_equal(st->targets.kind, FL_TARGET_LEADER);
	fl_plan_free(p);
	fl_scenario_free(s);
}

static void test_groups_and_instants(void **state)
{
	struct fl_scenario *s =
		load(HEAD "  - fault: partition\n    mode: groups\n    groups: [[n1, n2], [n3], [n4]]\n"
			  "    for: 1m\n"
			  "  - fault: restart\n    targets: [n3, n4]\n    at: 2m\n"
			  "  - fault: pause\n    targets: all\n    at: 3m\n",
		     4);
	struct fl_plan *p = NULL;

	(void)state;
	assert_int_equal(fl_plan_build(s, 1, &p), 0);
	assert_int_equal(p->nsteps, 3);
	assert_int_equal(p->steps[0].blocked[0], 0xc); /* n1 -> n3, n4 cut */
	assert_int_equal(p->steps[0].blocked[2], 0xb); /* n3 -> n1, n2, n4 cut */
	assert_int_equal(p->steps[1].start_ns, p->steps[1].end_ns); /* restart is instant */
	assert_int_equal(p->steps[1].targets.nodes, 0xc);
	assert_true(p->steps[2].until_end);                          /* no 'for': until the end */
	assert_int_equal(p->steps[2].end_ns, s->duration_ns);
	assert_int_equal(p->steps[2].targets.nodes, 0xf);
	fl_plan_free(p);
	fl_scenario_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_repetition),
		cmocka_unit_test(test_majorities_ring),
		cmocka_unit_test(test_halves_bridge_direction),
		cmocka_unit_test(test_groups_and_instants),
	};
	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
