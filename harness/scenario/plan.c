/* Resolving a scenario's nemesis into a seeded timeline. Each fault draws
 * from its own generator (seed mixed with the fault's index), so adding a
 * fault does not reshuffle the others. Output must be byte-stable: no
 * clocks, no addresses, no hash-ordered containers. */
#include "faultline/plan.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "faultline/netem_json.h"
#include "faultline/rng.h"
#include "faultline/units.h"

static uint64_t all_mask(size_t n)
{
	return n >= 64 ? ~0ull : (1ull << n) - 1;
}

/* k random nodes of n, never one of exclude (fewer if too few remain). */
static uint64_t pick_random(struct fl_rng *r, size_t n, size_t k, uint64_t exclude)
{
	int order[FL_MAX_NODES], c = 0;
	uint64_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (!(exclude & (1ull << i)))
			order[c++] = (int)i;
	fl_rng_shuffle(r, order, c);
	for (size_t i = 0; i < k && i < (size_t)c; i++)
		m |= 1ull << order[i];
	return m;
}

/* Random kinds draw from nodes outside exclude: peers are drawn from the
 * nodes other than the fault's own targets, so a node is not its own peer. */
static struct fl_targets resolve(struct fl_rng *r, size_t n, const struct fl_targets *t,
				 uint64_t exclude)
{
	struct fl_targets out = { .kind = FL_TARGET_NODES };
	size_t k;

	switch (t->kind) {
	case FL_TARGET_NODES:
		out.nodes = t->nodes;
		break;
	case FL_TARGET_LEADER:
	case FL_TARGET_FOLLOWERS:
		out.kind = t->kind;
		break;
	case FL_TARGET_RANDOM_ONE:
		out.nodes = pick_random(r, n, 1, exclude);
		break;
	case FL_TARGET_MINORITY:
		out.nodes = pick_random(r, n, (n - 1) / 2, exclude);
		break;
	case FL_TARGET_MAJORITY:
		out.nodes = pick_random(r, n, n / 2 + 1, exclude);
		break;
	case FL_TARGET_ALL:
		out.nodes = all_mask(n);
		break;
	case FL_TARGET_PERCENT:
		k = (size_t)((double)n * t->percent / 100.0);
		out.nodes = pick_random(r, n, k ? k : 1, exclude);
		break;
	default:
		break;
	}
	return out;
}

/* Directed cuts between two sides under a direction: "to" drops what enters
 * side a, "from" what leaves it. */
static void cut_sides(uint64_t *blocked, size_t n, uint64_t a, uint64_t b, enum fl_direction d)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t bit = 1ull << i;
		if ((a & bit) && d != FL_DIR_TO)
			blocked[i] |= b;
		if ((b & bit) && d != FL_DIR_FROM)
			blocked[i] |= a;
	}
}

static int plan_partition(struct fl_rng *r, const struct fl_scenario *s, const struct fl_fault *f,
			  struct fl_plan_step *st)
{
	size_t n = s->cluster.nnodes;
	uint64_t all = all_mask(n);
	int order[FL_MAX_NODES];

	if (f->mode == FL_PART_ISOLATE) {
		st->targets = resolve(r, n, &f->targets, 0);
		if (st->targets.kind != FL_TARGET_NODES)
			return 0; /* leader/followers: sides known at run time */
	}
	if (!(st->blocked = calloc(n, sizeof(*st->blocked))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = (int)i;
	switch (f->mode) {
	case FL_PART_ISOLATE: {
		uint64_t t = st->targets.nodes;
		st->sides[0] = t;
		st->sides[1] = all & ~t;
		/* every isolated node is alone: cut it from everyone else */
		for (size_t i = 0; i < n; i++)
			if (t & (1ull << i))
				cut_sides(st->blocked, n, 1ull << i, all & ~(1ull << i), f->direction);
		break;
	}
	case FL_PART_HALVES:
		fl_rng_shuffle(r, order, (int)n);
		for (size_t i = 0; i < n; i++)
			st->sides[i < n / 2 ? 0 : 1] |= 1ull << order[i];
		cut_sides(st->blocked, n, st->sides[0], st->sides[1], f->direction);
		break;
	case FL_PART_BRIDGE:
		fl_rng_shuffle(r, order, (int)n);
		st->sides[2] = 1ull << order[0];
		for (size_t i = 1; i < n; i++)
			st->sides[i <= (n - 1) / 2 ? 0 : 1] |= 1ull << order[i];
		cut_sides(st->blocked, n, st->sides[0], st->sides[1], f->direction);
		break;
	case FL_PART_GROUPS:
		for (size_t g = 0; g < f->ngroups; g++)
			for (size_t h = g + 1; h < f->ngroups; h++)
				cut_sides(st->blocked, n, f->groups[g], f->groups[h], f->direction);
		st->sides[0] = f->ngroups ? f->groups[0] : 0;
		break;
	case FL_PART_MAJORITIES_RING: {
		/* Each node keeps links to its ring neighbours, enough of them to
		 * see a majority; no two nodes see the same majority. */
		size_t m = n / 2 + 1, left = (m - 1) / 2, right = (m - 1) - left;
		if (!(st->ring = calloc(n, sizeof(*st->ring))))
			return -ENOMEM;
		fl_rng_shuffle(r, order, (int)n);
		memcpy(st->ring, order, n * sizeof(*order));
		for (size_t i = 0; i < n; i++)
			st->blocked[order[i]] = all & ~(1ull << order[i]);
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 1; k <= right; k++) {
				int a = order[i], b = order[(i + k) % n];
				st->blocked[a] &= ~(1ull << b);
				st->blocked[b] &= ~(1ull << a);
			}
			for (size_t k = 1; k <= left; k++) {
				int a = order[i], b = order[(i + n - k) % n];
				st->blocked[a] &= ~(1ull << b);
				st->blocked[b] &= ~(1ull << a);
			}
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static int step_cmp(const void *a, const void *b)
{
	const struct fl_plan_step *x = a, *y = b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (x->fault != y->fault)
		return x->fault < y->fault ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A delay in [0, j], in whole milliseconds when j allows (plans stay readable). */
static uint64_t draw_jitter(struct fl_rng *r, int64_t j)
{
	if (j >= FL_NS_PER_MS)
		return fl_rng_below(r, (uint64_t)(j / FL_NS_PER_MS) + 1) * FL_NS_PER_MS;
	return j > 0 ? fl_rng_below(r, (uint64_t)j + 1) : 0;
}

int fl_plan_build(const struct fl_scenario *s, uint64_t seed, struct fl_plan **out)
{
	struct fl_plan *p = calloc(1, sizeof(*p));
	size_t cap = 0;
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->scenario = s;
	p->seed = seed;
	for (size_t fi = 0; fi < s->nfaults && r == 0; fi++) {
		const struct fl_fault *f = &s->faults[fi];
		struct fl_rng rng;
		int64_t shift;

		fl_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ULL * (fi + 1)));
		shift = (int64_t)draw_jitter(&rng, f->at_jitter_ns);
		for (unsigned k = 0;; k++) {
			struct fl_plan_step *st;
			int64_t start = f->at_ns + (int64_t)k * f->every_ns + shift, end;

			if (k > 0)
				start += (int64_t)draw_jitter(&rng, f->every_jitter_ns);
			if (start >= s->duration_ns)
				break;
			if (fl_fault_is_instant(f->kind))
				end = start;
			else if (f->for_ns < 0)
				end = s->duration_ns;
			else
				end = start + f->for_ns;
			if (end > s->duration_ns)
				break;
			if (p->nsteps == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct fl_plan_step *v = realloc(p->steps, nc * sizeof(*v));
				if (!v) {
					r = -ENOMEM;
					break;
				}
				p->steps = v;
				cap = nc;
			}
			st = &p->steps[p->nsteps++];
			memset(st, 0, sizeof(*st));
			st->fault = fi;
			st->seq = k;
			st->start_ns = start;
			st->end_ns = end;
			st->until_end = !fl_fault_is_instant(f->kind) && f->for_ns < 0;
			st->peers.kind = FL_TARGET_ALL;
			if (f->kind == FL_FAULT_PARTITION) {
				if ((r = plan_partition(&rng, s, f, st)) < 0)
					break;
			} else {
				st->targets = resolve(&rng, s->cluster.nnodes, &f->targets, 0);
			}
			if (f->has_peers)
				st->peers = resolve(&rng, s->cluster.nnodes, &f->peers,
						    st->targets.kind == FL_TARGET_NODES ? st->targets.nodes : 0);
			if (!f->every_ns || (f->count && k + 1 >= f->count))
				break;
		}
	}
	if (r < 0) {
		fl_plan_free(p);
		return r;
	}
	if (p->nsteps)
		qsort(p->steps, p->nsteps, sizeof(*p->steps), step_cmp);
	*out = p;
	return 0;
}

void fl_plan_free(struct fl_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nsteps; i++) {
		free(p->steps[i].blocked);
		free(p->steps[i].ring);
	}
	free(p->steps);
	free(p);
}

/* --- output ---------------------------------------------------------------- */

struct buf {
	char s[1024];
	size_t n;
};

static void bput(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (b->n >= sizeof(b->s) - 1)
		return;
	va_start(ap, fmt);
	w = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		b->n += (size_t)w < sizeof(b->s) - b->n ? (size_t)w : sizeof(b->s) - b->n - 1;
}

static void put_mask(struct buf *b, const struct fl_scenario *s, uint64_t m, const char *sep)
{
	int first = 1;

	for (size_t i = 0; i < s->cluster.nnodes; i++)
		if (m & (1ull << i)) {
			bput(b, "%s%s", first ? "" : sep, s->cluster.nodes[i]);
			first = 0;
		}
	if (first)
		bput(b, "-");
}

static void put_targets(struct buf *b, const struct fl_scenario *s, const struct fl_targets *t)
{
	if (t->kind == FL_TARGET_NODES)
		put_mask(b, s, t->nodes, ",");
	else
		bput(b, "%s*", fl_target_kind_to_string(t->kind));
}

static void put_dur(struct buf *b, const char *label, int64_t ns)
{
	char d[32];

	fl_format_duration(ns, d, sizeof(d));
	bput(b, "%s%s", label, d);
}

static void put_pct(struct buf *b, const char *label, double v)
{
	char d[32];

	fl_format_percent(v, d, sizeof(d));
	bput(b, "%s%s", label, d);
}

static void describe(struct buf *b, const struct fl_plan *p, const struct fl_plan_step *st)
{
	const struct fl_scenario *s = p->scenario;
	const struct fl_fault *f = &s->faults[st->fault];
	const struct fl_netem *ne = &f->netem;

	switch (f->kind) {
	case FL_FAULT_PARTITION:
		bput(b, "%s", fl_partition_mode_to_string(f->mode));
		if (f->direction != FL_DIR_BOTH)
			bput(b, " (one-way: %s)", fl_direction_to_string(f->direction));
		bput(b, ": ");
		if (!st->blocked) {
			bput(b, "{");
			put_targets(b, s, &st->targets);
			bput(b, "} | rest");
		} else if (f->mode == FL_PART_MAJORITIES_RING) {
			bput(b, "ring of ");
			for (size_t i = 0; i < s->cluster.nnodes; i++)
				bput(b, "%s%s", i ? ", " : "", s->cluster.nodes[st->ring[i]]);
		} else if (f->mode == FL_PART_ISOLATE) {
			/* every target alone, the rest together */
			for (size_t i = 0; i < s->cluster.nnodes; i++)
				if (st->sides[0] & (1ull << i))
					bput(b, "{%s} | ", s->cluster.nodes[i]);
			bput(b, "{");
			put_mask(b, s, st->sides[1], " ");
			bput(b, "}");
		} else if (f->mode == FL_PART_GROUPS) {
			for (size_t g = 0; g < f->ngroups; g++) {
				bput(b, "%s{", g ? " | " : "");
				put_mask(b, s, f->groups[g], " ");
				bput(b, "}");
			}
		} else {
			bput(b, "{");
			put_mask(b, s, st->sides[0], " ");
			if (f->mode == FL_PART_BRIDGE) {
				bput(b, "} <");
				put_mask(b, s, st->sides[2], " ");
				bput(b, "> {");
			} else {
				bput(b, "} | {");
			}
			put_mask(b, s, st->sides[1], " ");
			bput(b, "}");
		}
		return;
	case FL_FAULT_KILL:
		bput(b, "SIG%s%s", sigabbrev_np(f->signal), st->until_end ? ", restarted at the end" :
								", then restarted");
		return;
	case FL_FAULT_CLOCK:
		put_dur(b, "offset ", f->clock_offset_ns);
		return;
	default:
		break;
	}
	if (!fl_fault_is_network(f->kind))
		return;
	if (ne->set & FL_NETEM_LATENCY) {
		put_dur(b, "latency ", ne->latency_ns);
		if (ne->jitter_ns)
			put_dur(b, " ±", ne->jitter_ns);
		if (ne->latency_corr)
			put_pct(b, " corr ", ne->latency_corr);
		if (ne->distribution)
			bput(b, " %s", fl_distribution_to_string(ne->distribution));
	}
	if (ne->set & FL_NETEM_LOSS) {
		put_pct(b, b->n ? ", loss " : "loss ", ne->loss);
		if (ne->loss_corr)
			put_pct(b, " corr ", ne->loss_corr);
	}
	if (ne->set & FL_NETEM_DUPLICATE) {
		put_pct(b, b->n ? ", duplicate " : "duplicate ", ne->duplicate);
		if (ne->duplicate_corr)
			put_pct(b, " corr ", ne->duplicate_corr);
	}
	if (ne->set & FL_NETEM_CORRUPT) {
		put_pct(b, b->n ? ", corrupt " : "corrupt ", ne->corrupt);
		if (ne->corrupt_corr)
			put_pct(b, " corr ", ne->corrupt_corr);
	}
	if (ne->set & FL_NETEM_REORDER) {
		put_pct(b, b->n ? ", reorder " : "reorder ", ne->reorder);
		if (ne->reorder_corr)
			put_pct(b, " corr ", ne->reorder_corr);
		if (ne->gap)
			bput(b, " gap %u", ne->gap);
	}
	if (ne->set & FL_NETEM_RATE) {
		char r[32];
		fl_format_bitrate(ne->rate_bps, r, sizeof(r));
		bput(b, "%srate %s", b->n ? ", " : "", r);
	}
	if (f->tamper)
		bput(b, "%stamper offset %u = 0x%02x", b->n ? ", " : "", f->tamper_offset,
		     f->tamper_value);
	if (ne->limit)
		bput(b, "%squeue %u packets", b->n ? ", " : "", ne->limit);
	if (st->peers.kind != FL_TARGET_ALL) {
		bput(b, "; toward ");
		put_targets(b, s, &st->peers);
	}
}

int fl_plan_write_text(const struct fl_plan *p, FILE *out)
{
	const struct fl_scenario *s = p->scenario;
	char d[32], rate[32];
	int symbolic = 0;

	fl_format_duration(s->duration_ns, d, sizeof(d));
	fprintf(out, "scenario  %s (%s)\n", s->name, s->file);
	fprintf(out, "seed      %llu\n", (unsigned long long)p->seed);
	fprintf(out, "duration  %s\n", d);
	fprintf(out, "cluster   %s, %zu node%s:", fl_provider_to_string(s->cluster.provider),
		s->cluster.nnodes, s->cluster.nnodes == 1 ? "" : "s");
	for (size_t i = 0; i < s->cluster.nnodes; i++)
		fprintf(out, " %s", s->cluster.nodes[i]);
	if (s->cluster.has_subnet) {
		uint32_t a = s->cluster.subnet;
		fprintf(out, ", subnet %u.%u.%u.%u/%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			a & 255, s->cluster.prefix);
	} else {
		fprintf(out, ", subnet chosen at start\n");
	}
	fprintf(out, "system    %s\n", fl_system_type_to_string(s->system.type));
	if (s->workload.rate > 0)
		snprintf(rate, sizeof(rate), "%.6g/s", s->workload.rate);
	else
		snprintf(rate, sizeof(rate), "unlimited");
	if (s->workload.type == FL_WORKLOAD_NONE)
		fprintf(out, "workload  none\n");
	else
		fprintf(out, "workload  %s, %u client%s, %s, %u key%s, %s reads\n",
			fl_workload_type_to_string(s->workload.type), s->workload.clients,
			s->workload.clients == 1 ? "" : "s", rate, s->workload.keys,
			s->workload.keys == 1 ? "" : "s", fl_read_mode_to_string(s->workload.read_mode));
	fprintf(out, "\n%-9s %-9s %-10s %-14s %s\n", "start", "end", "fault", "targets", "what");
	if (!p->nsteps)
		fprintf(out, "(no faults: the nemesis is empty)\n");
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct fl_plan_step *st = &p->steps[i];
		const struct fl_fault *f = &s->faults[st->fault];
		struct buf tb = { .n = 0 }, db = { .n = 0 };
		char a[32], e[32];

		fl_format_duration(st->start_ns, a, sizeof(a));
		if (fl_fault_is_instant(f->kind))
			snprintf(e, sizeof(e), "-");
		else if (st->until_end)
			snprintf(e, sizeof(e), "end");
		else
			fl_format_duration(st->end_ns, e, sizeof(e));
		if (f->kind == FL_FAULT_PARTITION && f->mode != FL_PART_ISOLATE)
			bput(&tb, "all");
		else
			put_targets(&tb, s, &st->targets);
		if (st->targets.kind == FL_TARGET_LEADER || st->targets.kind == FL_TARGET_FOLLOWERS ||
		    st->peers.kind == FL_TARGET_LEADER || st->peers.kind == FL_TARGET_FOLLOWERS)
			symbolic = 1;
		describe(&db, p, st);
		if (db.n)
			fprintf(out, "%-9s %-9s %-10s %-14s %s\n", a, e, fl_fault_kind_to_string(f->kind),
				tb.s, db.s);
		else
			fprintf(out, "%-9s %-9s %-10s %s\n", a, e, fl_fault_kind_to_string(f->kind), tb.s);
	}
	if (symbolic)
		fprintf(out, "\n* resolved at run time, when the fault fires\n");
	return ferror(out) ? -EIO : 0;
}

static json_t *mask_json(const struct fl_scenario *s, uint64_t m)
{
	json_t *a = json_array();

	for (size_t i = 0; i < s->cluster.nnodes; i++)
		if (m & (1ull << i))
			json_array_append_new(a, json_string(s->cluster.nodes[i]));
	return a;
}

static json_t *targets_json(const struct fl_scenario *s, const struct fl_targets *t)
{
	if (t->kind == FL_TARGET_NODES)
		return mask_json(s, t->nodes);
	return json_pack("{s:s, s:s}", "symbol", fl_target_kind_to_string(t->kind), "resolved",
			 "at run time");
}

static json_t *params_json(const struct fl_plan *p, const struct fl_plan_step *st)
{
	const struct fl_scenario *s = p->scenario;
	const struct fl_fault *f = &s->faults[st->fault];
	const struct fl_netem *ne = &f->netem;
	json_t *o = json_object();

	if (f->kind == FL_FAULT_PARTITION) {
		json_object_set_new(o, "mode", json_string(fl_partition_mode_to_string(f->mode)));
		json_object_set_new(o, "direction", json_string(fl_direction_to_string(f->direction)));
		if (st->blocked) {
			json_t *cuts = json_array();
			for (size_t i = 0; i < s->cluster.nnodes; i++)
				for (size_t j = 0; j < s->cluster.nnodes; j++)
					if (st->blocked[i] & (1ull << j))
						json_array_append_new(
							cuts, json_pack("[s,s]", s->cluster.nodes[i],
									s->cluster.nodes[j]));
			json_object_set_new(o, "blocked", cuts);
		}
		if (st->ring) {
			json_t *ring = json_array();
			for (size_t i = 0; i < s->cluster.nnodes; i++)
				json_array_append_new(ring, json_string(s->cluster.nodes[st->ring[i]]));
			json_object_set_new(o, "ring", ring);
		}
		return o;
	}
	fl_netem_to_json(ne, o);
	if (f->tamper)
		json_object_set_new(o, "tamper", json_pack("{s:i, s:i}", "offset", (int)f->tamper_offset,
							   "value", (int)f->tamper_value));
	if (fl_fault_is_network(f->kind) && st->peers.kind != FL_TARGET_ALL)
		json_object_set_new(o, "peers", targets_json(s, &st->peers));
	if (f->kind == FL_FAULT_KILL)
		json_object_set_new(o, "signal", json_integer(f->signal));
	if (f->kind == FL_FAULT_CLOCK)
		json_object_set_new(o, "offset_ns", json_integer(f->clock_offset_ns));
	return o;
}

int fl_plan_write_json(const struct fl_plan *p, FILE *out)
{
	const struct fl_scenario *s = p->scenario;
	json_t *root = json_object(), *nodes = json_array(), *steps = json_array();
	int r;

	for (size_t i = 0; i < s->cluster.nnodes; i++)
		json_array_append_new(nodes, json_string(s->cluster.nodes[i]));
	json_object_set_new(root, "scenario", json_string(s->name));
	json_object_set_new(root, "file", json_string(s->file));
	json_object_set_new(root, "seed", json_integer((json_int_t)p->seed));
	json_object_set_new(root, "duration_ns", json_integer(s->duration_ns));
	json_object_set_new(root, "provider", json_string(fl_provider_to_string(s->cluster.provider)));
	json_object_set_new(root, "nodes", nodes);
	json_object_set_new(root, "system", json_string(fl_system_type_to_string(s->system.type)));
	for (size_t i = 0; i < p->nsteps; i++) {
		const struct fl_plan_step *st = &p->steps[i];
		const struct fl_fault *f = &s->faults[st->fault];
		json_t *o = json_object();
		json_object_set_new(o, "fault", json_integer((json_int_t)st->fault));
		json_object_set_new(o, "seq", json_integer(st->seq));
		json_object_set_new(o, "kind", json_string(fl_fault_kind_to_string(f->kind)));
		json_object_set_new(o, "line", json_integer(f->line));
		json_object_set_new(o, "start_ns", json_integer(st->start_ns));
		json_object_set_new(o, "end_ns", json_integer(st->end_ns));
		json_object_set_new(o, "until_end", json_boolean(st->until_end));
		if (f->kind == FL_FAULT_PARTITION && f->mode != FL_PART_ISOLATE)
			json_object_set_new(o, "targets", mask_json(s, all_mask(s->cluster.nnodes)));
		else
			json_object_set_new(o, "targets", targets_json(s, &st->targets));
		json_object_set_new(o, "params", params_json(p, st));
		json_array_append_new(steps, o);
	}
	json_object_set_new(root, "instances", steps);
	r = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	fputc('\n', out);
	json_decref(root);
	return r < 0 || ferror(out) ? -EIO : 0;
}
