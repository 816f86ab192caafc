/* Cross-field rules of a scenario, run once every field has its type: faults
 * against the run's length and the cluster's size and provider, faults
 * against each other (two that cannot hold at once on the same targets),
 * and checks against the workload. Pure: reads the scenario, adds messages. */
#include <stdlib.h>
#include <string.h>

#include "faultline/units.h"
#include "scenario-priv.h"

static int popcount64(uint64_t v)
{
	return __builtin_popcountll(v);
}

static uint64_t all_nodes(const struct fl_scenario *s)
{
	return s->cluster.nnodes >= 64 ? ~0ull : (1ull << s->cluster.nnodes) - 1;
}

/* The nodes a target spec may touch, as far as validation can tell.
 * *symbolic is set for leader (1) and followers (2): they never overlap. */
static uint64_t may_touch(const struct fl_scenario *s, const struct fl_targets *t, int *symbolic)
{
	*symbolic = 0;
	switch (t->kind) {
	case FL_TARGET_NODES:
		return t->nodes;
	case FL_TARGET_LEADER:
		*symbolic = 1;
		return all_nodes(s);
	case FL_TARGET_FOLLOWERS:
		*symbolic = 2;
		return all_nodes(s);
	default:
		return all_nodes(s);
	}
}

static int targets_may_meet(const struct fl_scenario *s, const struct fl_targets *a,
			    const struct fl_targets *b)
{
	int sa, sb;
	uint64_t ma = may_touch(s, a, &sa), mb = may_touch(s, b, &sb);

	if (sa && sb && sa != sb)
		return 0;
	return (ma & mb) != 0;
}

/* Nodes a fault acts on (partitions act on the whole cluster). */
static struct fl_targets fault_targets(const struct fl_scenario *s, const struct fl_fault *f)
{
	struct fl_targets all = { .kind = FL_TARGET_ALL };

	if (f->kind == FL_FAULT_PARTITION || !f->has_targets)
		return all;
	(void)s;
	return f->targets;
}

/* Conservative windows of each instance: [earliest start, latest end). */
struct window {
	int64_t start, end;
};

/* Fills w (when not NULL) and returns the number of instances. */
static size_t fault_windows(const struct fl_scenario *s, const struct fl_fault *f,
			    struct window *w)
{
	size_t n = 0;

	for (uint64_t i = 0; n < FL_MAX_INSTANCES + 1; i++) {
		int64_t start = f->at_ns + (int64_t)i * f->every_ns;
		int64_t latest = start + f->at_jitter_ns + (i ? f->every_jitter_ns : 0);
		int64_t len = fl_fault_is_instant(f->kind) ? 1 : f->for_ns;
		int64_t end = len < 0 ? s->duration_ns : latest + len;
		if (start >= s->duration_ns)
			break;
		if (end > s->duration_ns)
			end = s->duration_ns;
		if (w)
			w[n] = (struct window){ start, end };
		n++;
		if (!f->every_ns || (f->count && i + 1 >= f->count))
			break;
	}
	return n;
}

static int windows_meet(const struct window *a, size_t na, const struct window *b, size_t nb,
			int64_t *at)
{
	size_t i = 0, j = 0;

	while (i < na && j < nb) {
		if (a[i].start < b[j].end && b[j].start < a[i].end) {
			*at = a[i].start > b[j].start ? a[i].start : b[j].start;
			return 1;
		}
		if (a[i].end <= b[j].end)
			i++;
		else
			j++;
	}
	return 0;
}

/* Which resource two faults would fight over, or NULL when they can
 * coexist. Different netem parameters on one link combine in one qdisc. */
static const char *conflict_kind(const struct fl_fault *a, const struct fl_fault *b)
{
	if (a->kind == FL_FAULT_PARTITION && b->kind == FL_FAULT_PARTITION)
		return "partitions are cluster-wide: one at a time (end one where the next begins)";
	if (fl_fault_is_network(a->kind) && fl_fault_is_network(b->kind)) {
		unsigned both = a->netem.set & b->netem.set;
		if (both & FL_NETEM_LATENCY)
			return "both set the latency of the same link";
		if (both & FL_NETEM_LOSS)
			return "both set the loss of the same link";
		if (both & FL_NETEM_DUPLICATE)
			return "both set duplication on the same link";
		if (both & FL_NETEM_CORRUPT)
			return "both set corruption on the same link";
		if (both & FL_NETEM_REORDER)
			return "both set reordering on the same link";
		if (both & FL_NETEM_RATE)
			return "both set the rate of the same link";
		if (a->tamper && b->tamper)
			return "both tamper with payloads on the same link";
		return NULL;
	}
	if (fl_fault_is_node(a->kind) && fl_fault_is_node(b->kind) &&
	    !(a->kind == FL_FAULT_CLOCK || b->kind == FL_FAULT_CLOCK))
		return "a node's process or machine can be in one fault state at a time";
	if (a->kind == FL_FAULT_CLOCK && b->kind == FL_FAULT_CLOCK)
		return "both set the clock of the same node";
	return NULL;
}

static int peers_may_meet(const struct fl_scenario *s, const struct fl_fault *a,
			  const struct fl_fault *b)
{
	struct fl_targets all = { .kind = FL_TARGET_ALL };

	return targets_may_meet(s, a->has_peers ? &a->peers : &all, b->has_peers ? &b->peers : &all);
}

static void check_conflicts(struct fl_sctx *c)
{
	const struct fl_scenario *s = c->s;
	struct window **w = calloc(s->nfaults ? s->nfaults : 1, sizeof(*w));
	size_t *nw = calloc(s->nfaults ? s->nfaults : 1, sizeof(*nw)), total = 0;

	if (!w || !nw)
		goto oom;
	for (size_t i = 0; i < s->nfaults; i++) {
		if (!c->fsrc[i].ok)
			continue;
		nw[i] = fault_windows(s, &s->faults[i], NULL);
		total += nw[i];
		if (total > FL_MAX_INSTANCES) {
			FL_ERR(c, c->fsrc[i].map, "the nemesis makes more than %d fault instances; "
						  "use fewer faults or longer intervals",
			       FL_MAX_INSTANCES);
			goto out;
		}
		if (!(w[i] = calloc(nw[i] ? nw[i] : 1, sizeof(**w))))
			goto oom;
		fault_windows(s, &s->faults[i], w[i]);
	}
	for (size_t j = 1; j < s->nfaults; j++) {
		const struct fl_fault *b = &s->faults[j];
		if (!c->fsrc[j].ok)
			continue;
		for (size_t i = 0; i < j; i++) {
			const struct fl_fault *a = &s->faults[i];
			struct fl_targets ta, tb;
			const char *why;
			int64_t at;
			char when[32];

			if (!c->fsrc[i].ok || !(why = conflict_kind(a, b)))
				continue;
			ta = fault_targets(s, a);
			tb = fault_targets(s, b);
			if (!targets_may_meet(s, &ta, &tb))
				continue;
			if (fl_fault_is_network(a->kind) && fl_fault_is_network(b->kind) &&
			    !peers_may_meet(s, a, b))
				continue;
			if (!windows_meet(w[i], nw[i], w[j], nw[j], &at))
				continue;
			fl_format_duration(at, when, sizeof(when));
			FL_ERR(c, c->fsrc[j].map,
			       "this '%s' fault can overlap the '%s' fault of line %d (from %s on): %s",
			       fl_fault_kind_to_string(b->kind), fl_fault_kind_to_string(a->kind),
			       a->line, when, why);
			break; /* one message per fault is enough */
		}
	}
	goto out;
oom:
	fl_diags_add(c->d, c->file, 0, 0, "out of memory while checking faults against each other");
out:
	for (size_t i = 0; w && i < s->nfaults; i++)
		free(w[i]);
	free(w);
	free(nw);
}

static void check_timing(struct fl_sctx *c, size_t i)
{
	const struct fl_scenario *s = c->s;
	const struct fl_fault *f = &s->faults[i];
	const struct fl_fault_src *src = &c->fsrc[i];
	const struct fl_ynode *fn = src->map, *forn = src->forn ? src->forn : fn,
			      *atn = src->at ? src->at : src->every ? src->every : fn;
	char a[32], b[32], d[32];
	int64_t latest_start = f->at_ns + f->at_jitter_ns, len;

	fl_format_duration(s->duration_ns, d, sizeof(d));
	len = fl_fault_is_instant(f->kind) ? 0 : f->for_ns;
	if (len > s->duration_ns) {
		fl_format_duration(len, a, sizeof(a));
		FL_ERR(c, forn, "'for' (%s) is longer than the run (duration %s)", a, d);
		return;
	}
	if (latest_start >= s->duration_ns) {
		fl_format_duration(latest_start, a, sizeof(a));
		FL_ERR(c, atn, "this fault %s at %s, when the run is over (duration %s)",
		       f->at_jitter_ns ? "can start" : "starts", a, d);
		return;
	}
	if (len > 0 && latest_start + len > s->duration_ns) {
		fl_format_duration(latest_start + len, a, sizeof(a));
		FL_ERR(c, forn, "this fault can end at %s, after the run (duration %s); shorten 'for' "
				"or start it earlier", a, d);
		return;
	}
	if (f->every_ns && len > 0 && len + f->every_jitter_ns > f->every_ns) {
		fl_format_duration(len, a, sizeof(a));
		fl_format_duration(f->every_ns, b, sizeof(b));
		FL_ERR(c, forn, "each instance lasts %s%s but one starts every %s: they would overlap",
		       a, f->every_jitter_ns ? " (plus up to the jitter)" : "", b);
	}
}

static void check_fault(struct fl_sctx *c, size_t i)
{
	const struct fl_scenario *s = c->s;
	const struct fl_fault *f = &s->faults[i];
	const struct fl_ynode *fn = c->fsrc[i].map;
	const struct fl_ynode *moden = c->fsrc[i].mode ? c->fsrc[i].mode : fn;
	const struct fl_ynode *dirn = c->fsrc[i].direction ? c->fsrc[i].direction : fn;
	size_t n = s->cluster.nnodes;
	const char *kind = fl_fault_kind_to_string(f->kind);

	if (fl_fault_is_vm(f->kind) && s->cluster.provider != FL_PROVIDER_LIBVIRT)
		FL_ERR(c, fn, "fault '%s' acts on a virtual machine: it needs 'cluster.provider: "
			      "libvirt'%s", kind,
		       f->kind == FL_FAULT_CLOCK ? " (network namespaces share the host's clock)" : "");
	if (f->kind == FL_FAULT_PARTITION) {
		static const size_t min_nodes[FL_PART__N] = { 2, 2, 4, 3, 2 };
		if (n < min_nodes[f->mode])
			FL_ERR(c, moden, "partition mode '%s' needs at least %zu nodes; the cluster has %zu",
			       fl_partition_mode_to_string(f->mode), min_nodes[f->mode], n);
		if (f->direction != FL_DIR_BOTH &&
		    (f->mode == FL_PART_BRIDGE || (f->mode == FL_PART_GROUPS && f->ngroups > 2)))
			FL_ERR(c, dirn, "a one-way partition ('direction: %s') needs two sides: use mode "
				      "isolate, halves, or groups with two groups",
			       fl_direction_to_string(f->direction));
	}
	if (n == 1 && f->has_targets && f->targets.kind == FL_TARGET_FOLLOWERS)
		FL_ERR(c, fn, "a one-node cluster has no followers");
	if (n < 3 && f->has_targets && f->targets.kind == FL_TARGET_MINORITY)
		FL_ERR(c, fn, "a cluster of %zu nodes has no minority (it needs at least 3)", n);
	if (fl_fault_is_network(f->kind) && n == 1)
		FL_ERR(c, fn, "network faults need at least two nodes to act between");
	if (f->has_peers && f->has_targets && f->peers.kind == FL_TARGET_NODES &&
	    f->targets.kind == FL_TARGET_NODES && popcount64(f->targets.nodes) == 1 &&
	    (f->peers.nodes & ~f->targets.nodes) == 0)
		FL_ERR(c, fn, "'peers' names only the target itself; list the nodes whose traffic "
			      "the fault should affect");
	if (c->duration_ok)
		check_timing(c, i);
}

/* Does any fault possibly take the leader away? */
static int nemesis_can_remove_leader(const struct fl_scenario *s)
{
	for (size_t i = 0; i < s->nfaults; i++) {
		enum fl_fault_kind k = s->faults[i].kind;
		if (k == FL_FAULT_PARTITION || (fl_fault_is_node(k) && k != FL_FAULT_CLOCK))
			return 1;
	}
	return 0;
}

static void check_checks(struct fl_sctx *c)
{
	const struct fl_scenario *s = c->s;
	const struct fl_ynode *ch = c->checks_node;
	int no_ops = s->workload.type == FL_WORKLOAD_NONE;

	if (s->checks.linearizable && no_ops)
		FL_ERR(c, fl_ynode_get(ch, "linearizable"),
		       "check 'linearizable' needs a history: set workload.type to register or set");
	if (s->checks.no_lost_writes && no_ops)
		FL_ERR(c, fl_ynode_get(ch, "no_lost_writes"),
		       "check 'no_lost_writes' needs writes: set workload.type to register or set");
	if (s->checks.latency && no_ops)
		FL_ERR(c, fl_ynode_get(ch, "latency"),
		       "check 'latency' measures client operations: set a workload");
	if (s->checks.availability && no_ops)
		FL_ERR(c, fl_ynode_get(ch, "availability"),
		       "check 'availability' measures client operations: set a workload");
	if (s->checks.failover && !nemesis_can_remove_leader(s))
		FL_ERR(c, fl_ynode_get(ch, "failover"),
		       "check 'failover' measures recovery after the leader is lost, but no fault in "
		       "'nemesis' can remove it (add a partition, kill, pause, suspend or power-off)");
	if (s->checks.failover && s->checks.failover_within_ns > s->duration_ns) {
		char a[32], d[32];
		fl_format_duration(s->checks.failover_within_ns, a, sizeof(a));
		fl_format_duration(s->duration_ns, d, sizeof(d));
		FL_ERR(c, fl_ynode_get(fl_ynode_get(ch, "failover"), "within"),
		       "failover 'within' (%s) is longer than the run (duration %s)", a, d);
	}
}

/* Workloads the system has no operations for: nats has only the set ones
 * (a stream is appended to, never overwritten: no register to get, put or
 * compare-and-set). Caught here, not when the cluster is already up. */
static void check_system_workload(struct fl_sctx *c)
{
	const struct fl_scenario *s = c->s;
	const struct fl_ynode *n = c->workload_node ? fl_ynode_get(c->workload_node, "type") : NULL;

	if (s->system.type != FL_SYSTEM_NATS || s->workload.type != FL_WORKLOAD_REGISTER)
		return;
	if (n)
		FL_ERR(c, n, "system type 'nats' has no register operations: use workload type "
			     "'set' (or 'none')");
	else
		FL_ERR(c, fl_ynode_get(fl_ynode_get(c->root, "system"), "type"),
		       "system type 'nats' has no register operations, and the workload is a "
		       "register by default: add 'workload: {type: set}' (or 'none')");
}

void fl_scenario_check(struct fl_sctx *c)
{
	for (size_t i = 0; i < c->s->nfaults; i++)
		if (c->fsrc[i].ok)
			check_fault(c, i);
	if (c->duration_ok && c->s->nfaults)
		check_conflicts(c);
	check_checks(c);
	check_system_workload(c);
}

void fl_scenario_warn(struct fl_sctx *c)
{
	const struct fl_scenario *s = c->s;
	const struct fl_ynode *n;

	if (!s->checks.linearizable && !s->checks.failover && !s->checks.no_lost_writes &&
	    !s->checks.converge && !s->checks.leader_per_term && !s->checks.latency &&
	    !s->checks.availability) {
		n = c->checks_node ? c->checks_node : c->root;
		fl_diags_add(&c->s->warnings, n ? n->file : c->file, n ? n->line : 0,
			     n ? n->col : 0, "warning: the scenario enables no checks: a run "
					     "judges nothing and ends UNKNOWN (exit 3)");
	}
	if (s->checks.linearizable && s->workload.read_mode == FL_READ_SERIALIZABLE) {
		n = c->workload_node ? fl_ynode_get(c->workload_node, "read_mode") : NULL;
		fl_diags_add(&c->s->warnings, n ? n->file : c->file, n ? n->line : 0,
			     n ? n->col : 0, "warning: 'read_mode: serializable' with the "
					     "linearizable check: local reads may be stale, and "
					     "a stale read is reported as a violation");
	}
}
