/* Failover, integrity and SLO checks over a run's files (see invariants.h). */
#include "faultline/invariants.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/system.h"
#include "faultline/units.h"
#include "faultline/util.h"

const char *fl_verdict_to_string(enum fl_verdict v)
{
	static const char *const names[] = { "PASS", "FAIL", "UNKNOWN" };
	return fl_enum_name(names, 3, (unsigned)v);
}

static void result(struct fl_check_result *r, const char *name, enum fl_verdict v,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void result(struct fl_check_result *r, const char *name, enum fl_verdict v,
		   const char *fmt, ...)
{
	va_list ap;

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->verdict = v;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	if (!r->figures)
		r->figures = json_object();
}

void fl_check_result_release(struct fl_check_result *r)
{
	json_decref(r->figures);
	r->figures = NULL;
}

/* r becomes UNKNOWN because of what (why so: reason); the verdict and why
 * it had are kept in figures[key] and named in the new why. */
static void undecided(struct fl_check_result *r, const char *key, const char *what,
		      const char *reason)
{
	enum fl_verdict was = r->verdict;
	char why[sizeof(r->why)], name[sizeof(r->name)];

	snprintf(why, sizeof(why), "%s", r->why);
	snprintf(name, sizeof(name), "%s", r->name);
	json_object_set_new(r->figures, key, json_pack("{s:s, s:s}", "verdict",
						       fl_verdict_to_string(was), "why", why));
	result(r, name, FL_UNKNOWN, "%.250s: %s (otherwise %s: %.200s)", what, reason,
	       fl_verdict_to_string(was), why);
}

void fl_check_evidence(const struct fl_run_data *d, unsigned inputs, struct fl_check_result *r)
{
	char what[300] = "", hist[200];
	size_t at = 0;

	if ((inputs & FL_IN_HISTORY) && fl_history_damage_count(&d->ops.damage)) {
		fl_history_damage_describe(&d->ops.damage, hist, sizeof(hist));
		at += (size_t)snprintf(what + at, sizeof(what) - at, "%s", hist);
	}
#define FILE_DAMAGE(bit, n, name)                                                              \
	if ((inputs & (bit)) && (n) && at < sizeof(what))                                      \
		at += (size_t)snprintf(what + at, sizeof(what) - at, "%s%zu line%s of %s unreadable", \
				       at ? ", " : "", (n), (n) == 1 ? "" : "s", (name))
	FILE_DAMAGE(FL_IN_FAULTS, d->bad_faults, "faults.jsonl");
	FILE_DAMAGE(FL_IN_STATUS, d->bad_status, "status.jsonl");
	FILE_DAMAGE(FL_IN_DIGESTS, d->bad_digests, "digests.jsonl");
#undef FILE_DAMAGE
	if (!what[0] || r->verdict == FL_UNKNOWN)
		return;
	undecided(r, "without_damage", what, "the damage could hide an outcome");
}

static void lost_names(const struct fl_run_data *d, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < d->nnodes && at < len; i++)
		if (d->lost & (1ull << i))
			at += (size_t)snprintf(buf + at, len - at, "%snode %s lost at %.1fs (%.120s)",
					       at ? "; " : "", d->nodes[i], (double)d->lost_t[i] / 1e9,
					       d->lost_why[i] ? d->lost_why[i] : "its agent is gone");
}

void fl_check_lost(const struct fl_run_data *d, enum fl_lost_rule rule, struct fl_check_result *r)
{
	char who[300];
	size_t at = strlen(r->why);

	if (!d->lost)
		return;
	lost_names(d, who, sizeof(who));
	if (rule == FL_LOST_HISTORY)
		snprintf(r->why + at, sizeof(r->why) - at, "; %.250s: judged from the client "
			 "history alone, which is complete", who);
	else if (rule == FL_LOST_INVARIANT && r->verdict == FL_FAIL)
		snprintf(r->why + at, sizeof(r->why) - at, "; %.250s: a violation recorded stands",
			 who);
	else
		undecided(r, "without_lost_nodes", who, rule == FL_LOST_INVARIANT
			  ? "its evidence is missing"
			  : "its faults did not end as planned and its evidence is missing");
}

int fl_check_workload(const struct fl_scenario *s, const struct fl_run_data *d,
		      struct fl_check_result *r)
{
	size_t invoked = 0, ok = 0, idx, gave_up = 0;
	char first[300] = "";
	json_t *c;

	if (s->workload.type == FL_WORKLOAD_NONE)
		return 0;
	for (size_t i = 0; i < d->ops.n; i++)
		if (!d->ops.v[i].final) {
			invoked++;
			ok += d->ops.v[i].outcome == FL_OUTCOME_OK;
		}
	if (invoked && ok * 100 >= invoked * FL_COLLAPSE_PCT)
		return 0;
	json_array_foreach(d->clients, idx, c) {
		const char *f = json_string_value(json_object_get(c, "failed"));
		if (f && !gave_up++)
			snprintf(first, sizeof(first), "; client %d gave up: %.240s",
				 (int)json_integer_value(json_object_get(c, "client")), f);
	}
	if (gave_up > 1) {
		char one[sizeof(first)];
		snprintf(one, sizeof(one), "%s", first);
		snprintf(first, sizeof(first), "; %zu clients gave up, the first%.200s", gave_up,
			 one + 1);
	}
	memset(r, 0, sizeof(*r));
	result(r, "workload", FL_UNKNOWN, "the workload collapsed: %zu of %zu operations "
	       "acknowledged (under %d%%), too little to judge the system by%s", ok, invoked,
	       FL_COLLAPSE_PCT, first);
	json_object_set_new(r->figures, "invoked", json_integer((json_int_t)invoked));
	json_object_set_new(r->figures, "ok", json_integer((json_int_t)ok));
	json_object_set_new(r->figures, "clients_gave_up", json_integer((json_int_t)gave_up));
	return 1;
}

json_t *fl_run_lost_json(const struct fl_run_data *d)
{
	json_t *a = json_array();

	for (size_t i = 0; i < d->nnodes; i++)
		if (d->lost & (1ull << i))
			json_array_append_new(a, json_pack("{s:s, s:f, s:s}", "node", d->nodes[i],
							   "t_s", (double)d->lost_t[i] / 1e9, "why",
							   d->lost_why[i] ? d->lost_why[i] : ""));
	return a;
}

/* --- loading ------------------------------------------------------------------- */

static json_t *load_jsonl(const char *path, size_t *bad)
{
	json_t *a = json_array();
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f)
		return a;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *o = json_loadb(line, (size_t)len, 0, NULL);
		if (json_is_object(o) && json_is_integer(json_object_get(o, "t"))) {
			json_array_append_new(a, o);
		} else {
			json_decref(o);
			(*bad)++;
		}
	}
	free(line);
	fclose(f);
	return a;
}

int fl_run_data_load(const char *dir, const char *const *nodes, size_t nnodes,
		     struct fl_run_data *d, char *err, size_t errlen)
{
	char path[4096];
	int r;

	memset(d, 0, sizeof(*d));
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	if ((r = fl_history_load(path, &d->ops, err, errlen)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/faults.jsonl", dir);
	d->faults = load_jsonl(path, &d->bad_faults);
	snprintf(path, sizeof(path), "%s/status.jsonl", dir);
	d->status = load_jsonl(path, &d->bad_status);
	snprintf(path, sizeof(path), "%s/digests.jsonl", dir);
	d->digests = load_jsonl(path, &d->bad_digests);
	snprintf(path, sizeof(path), "%s/clients.json", dir);
	{
		json_t *cj = json_load_file(path, 0, NULL);
		if (json_is_array(json_object_get(cj, "clients")))
			d->clients = json_incref(json_object_get(cj, "clients"));
		json_decref(cj);
	}
	d->nodes = nodes;
	d->nnodes = nnodes;
	{
		size_t idx;
		json_t *o;
		json_array_foreach(d->faults, idx, o) {
			const char *ev = json_string_value(json_object_get(o, "event"));
			const char *node = json_string_value(json_object_get(o, "node"));
			for (size_t i = 0; ev && node && !strcmp(ev, "lost") && i < nnodes; i++)
				if (!strcmp(nodes[i], node) && !(d->lost & (1ull << i))) {
					d->lost |= 1ull << i;
					d->lost_t[i] = json_integer_value(json_object_get(o, "t"));
					d->lost_why[i] = json_string_value(json_object_get(o, "why"));
				}
		}
	}
	return 0;
}

void fl_run_data_release(struct fl_run_data *d)
{
	fl_ops_release(&d->ops);
	json_decref(d->faults);
	json_decref(d->status);
	json_decref(d->digests);
	json_decref(d->clients);
	memset(d, 0, sizeof(*d));
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* --- shared helpers -------------------------------------------------------------- */

static int64_t jt(json_t *o)
{
	return json_integer_value(json_object_get(o, "t"));
}

static const char *js(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int is_write(enum fl_op_f f)
{
	return f == FL_F_WRITE || f == FL_F_CAS || f == FL_F_ADD;
}

static int node_index(const struct fl_run_data *d, const char *name)
{
	for (size_t i = 0; name && i < d->nnodes; i++)
		if (!strcmp(d->nodes[i], name))
			return (int)i;
	return -1;
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

/* The end of the workload: the last completion (or invoke) of a non-final op. */
static int64_t workload_end(const struct fl_run_data *d)
{
	int64_t end = 0;

	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		if (o->final)
			continue;
		if (o->invoke_ns > end)
			end = o->invoke_ns;
		if (o->complete_ns > end)
			end = o->complete_ns;
	}
	return end;
}

/* The leader most nodes named in their last ok sample at or before t;
 * term: the highest term among those naming it. 0 when none. */
static int leader_at(const struct fl_run_data *d, int64_t t, char *leader, size_t len,
		     uint64_t *term)
{
	int64_t last[FL_MAX_NODES];
	json_t *pick[FL_MAX_NODES] = { 0 };
	int votes[FL_MAX_NODES] = { 0 }, best = -1;
	size_t idx;
	json_t *o;

	for (size_t i = 0; i < FL_MAX_NODES; i++)
		last[i] = -1;
	json_array_foreach(d->status, idx, o) {
		int n = node_index(d, js(o, "node"));
		if (n < 0 || jt(o) > t || jt(o) < last[n])
			continue;
		last[n] = jt(o);
		pick[n] = json_is_true(json_object_get(o, "ok")) ? o : NULL;
	}
	for (size_t i = 0; i < d->nnodes; i++) {
		int l = pick[i] ? node_index(d, js(pick[i], "leader")) : -1;
		if (l >= 0)
			votes[l]++;
	}
	for (size_t i = 0; i < d->nnodes; i++)
		if (votes[i] && (best < 0 || votes[i] > votes[best]))
			best = (int)i;
	if (best < 0)
		return 0;
	snprintf(leader, len, "%s", d->nodes[best]);
	*term = 0;
	for (size_t i = 0; i < d->nnodes; i++)
		if (pick[i] && node_index(d, js(pick[i], "leader")) == best) {
			uint64_t tm = (uint64_t)json_integer_value(json_object_get(pick[i], "term"));
			if (tm > *term)
				*term = tm;
		}
	return 1;
}

/* The longest stretch in [from, to) without an ok completion. */
static int64_t longest_gap(const struct fl_run_data *d, int64_t from, int64_t to)
{
	int64_t prev = from, gap = 0;
	size_t n = 0;
	int64_t *t = malloc((d->ops.n + 1) * sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		if (!o->final && o->outcome == FL_OUTCOME_OK && o->complete_ns >= from &&
		    o->complete_ns < to)
			t[n++] = o->complete_ns;
	}
	/* completions are not sorted (ops are sorted by invoke) */
	for (size_t i = 1; i < n; i++) {
		int64_t v = t[i];
		size_t j = i;
		while (j > 0 && t[j - 1] > v) {
			t[j] = t[j - 1];
			j--;
		}
		t[j] = v;
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i] - prev > gap)
			gap = t[i] - prev;
		prev = t[i];
	}
	if (to - prev > gap)
		gap = to - prev;
	free(t);
	return gap;
}

/* A fault instance from faults.jsonl. */
struct window {
	const char *id, *kind;
	int64_t start, end;
	json_t *apply;
};

/* Applied faults with their heal time (or end). At most cap. */
static size_t windows(const struct fl_run_data *d, int64_t end, struct window *w, size_t cap)
{
	size_t n = 0, idx;
	json_t *o;

	json_array_foreach(d->faults, idx, o) {
		const char *ev = js(o, "event"), *id = js(o, "fault");
		if (!ev || !id)
			continue;
		if (!strcmp(ev, "apply") && json_is_true(json_object_get(o, "ok")) && n < cap) {
			w[n] = (struct window){ id, js(o, "kind") ? js(o, "kind") : "?", jt(o), end,
						o };
			n++;
		} else if (!strcmp(ev, "heal")) {
			for (size_t k = 0; k < n; k++)
				if (!strcmp(w[k].id, id) && w[k].end == end)
					w[k].end = jt(o);
		}
	}
	for (size_t k = 0; k < n; k++)
		if (!strcmp(w[k].kind, "restart") || !strcmp(w[k].kind, "reboot"))
			w[k].end = w[k].start;
	return n;
}

#define MAX_WINDOWS 256

/* The public check: the check, then the evidence rule over what it read,
 * then the lost-node rule. */
#define PUBLIC_CHECK(name, inputs, lost_rule)                                                  \
	void fl_check_##name(const struct fl_scenario *s, const struct fl_run_data *d,        \
			     struct fl_check_result *r)                                       \
	{                                                                                      \
		check_##name(s, d, r);                                                         \
		fl_check_evidence(d, (inputs), r);                                             \
		fl_check_lost(d, (lost_rule), r);                                              \
	}

/* --- failover ------------------------------------------------------------------- */

static int in_list(json_t *arr, const char *name)
{
	size_t idx;
	json_t *v;

	json_array_foreach(arr, idx, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), name))
			return 1;
	return 0;
}

/* Does the fault of w take the leader away? why: how. */
static int removes_leader(const struct fl_run_data *d, const struct window *w, const char *leader,
			  char *why, size_t len)
{
	static const char *const node_kinds[] = { "kill", "pause", "restart", "suspend",
						  "power-off", "reboot" };
	json_t *blocked;
	int reach = 1;

	for (size_t k = 0; k < sizeof(node_kinds) / sizeof(node_kinds[0]); k++)
		if (!strcmp(w->kind, node_kinds[k])) {
			if (!in_list(json_object_get(w->apply, "nodes"), leader))
				return 0;
			snprintf(why, len, "%s of the leader %s", w->kind, leader);
			return 1;
		}
	if (strcmp(w->kind, "partition") || !(blocked = json_object_get(w->apply, "blocked")))
		return 0;
	for (size_t i = 0; i < d->nnodes; i++) {
		if (!strcmp(d->nodes[i], leader))
			continue;
		if (!in_list(json_object_get(blocked, leader), d->nodes[i]) &&
		    !in_list(json_object_get(blocked, d->nodes[i]), leader))
			reach++;
	}
	if ((size_t)reach * 2 > d->nnodes)
		return 0;
	snprintf(why, len, "partition leaves the leader %s with %d of %zu nodes", leader, reach,
		 d->nnodes);
	return 1;
}

static int cmp_sample_t(const void *a, const void *b)
{
	int64_t x = jt(*(json_t *const *)a), y = jt(*(json_t *const *)b);
	return x < y ? -1 : x > y;
}

/* The status samples in time order (status.jsonl is written by one thread
 * per node, so lines interleave). NULL-free array of n borrowed refs. */
static json_t **samples_by_time(const struct fl_run_data *d, size_t *n)
{
	json_t **v = calloc(json_array_size(d->status) + 1, sizeof(*v)), *o;
	size_t idx;

	*n = 0;
	if (!v)
		return NULL;
	json_array_foreach(d->status, idx, o)
		v[(*n)++] = o;
	qsort(v, *n, sizeof(*v), cmp_sample_t);
	return v;
}

/* How often each node was asked for its status: the median over nodes of
 * the median gap between a node's consecutive samples (0 when unknown). A
 * new leader is seen up to one such interval after it is elected. */
static int64_t status_interval(const struct fl_run_data *d, json_t **ss, size_t n)
{
	int64_t *gaps = malloc((n + 1) * sizeof(*gaps)), med[FL_MAX_NODES], r = 0;
	size_t nm = 0;

	if (!gaps)
		return 0;
	for (size_t node = 0; node < d->nnodes; node++) {
		int64_t prev = -1;
		size_t ng = 0;
		for (size_t k = 0; k < n; k++) {
			if (node_index(d, js(ss[k], "node")) != (int)node)
				continue;
			if (prev >= 0)
				gaps[ng++] = jt(ss[k]) - prev;
			prev = jt(ss[k]);
		}
		if (ng) {
			qsort(gaps, ng, sizeof(*gaps), cmp_i64);
			med[nm++] = gaps[ng / 2];
		}
	}
	if (nm) {
		qsort(med, nm, sizeof(*med), cmp_i64);
		r = med[nm / 2];
	}
	free(gaps);
	return r;
}

/* The first moment after from at which a majority of the nodes, each by
 * its latest sample taken after from, name one leader other than old.
 * -1 when that never happens; *who, *votes: that leader and how many named it. */
static int64_t majority_leader_after(const struct fl_run_data *d, json_t **ss, size_t n,
				     int64_t from, int old, int *who, int *votes)
{
	int cur[FL_MAX_NODES];

	for (size_t i = 0; i < FL_MAX_NODES; i++)
		cur[i] = -1;
	for (size_t k = 0; k < n; k++) {
		int node = node_index(d, js(ss[k], "node")), c, v = 0;
		if (jt(ss[k]) <= from || node < 0)
			continue;
		c = json_is_true(json_object_get(ss[k], "ok")) ? node_index(d, js(ss[k], "leader"))
							     : -1;
		cur[node] = c;
		if (c < 0 || c == old)
			continue;
		for (size_t i = 0; i < d->nnodes; i++)
			v += cur[i] == c;
		if ((size_t)v * 2 > d->nnodes) {
			*who = c;
			*votes = v;
			return jt(ss[k]);
		}
	}
	return -1;
}

enum fo_outcome { FO_PASS, FO_FAIL, FO_NOT_FORCED };

void fl_check_failover(const struct fl_scenario *s, const struct fl_run_data *d,
		       struct fl_check_result *r)
{
	struct window w[MAX_WINDOWS];
	int64_t end = workload_end(d), within = s->checks.failover_within_ns, worst = 0, every;
	size_t nw = windows(d, end, w, MAX_WINDOWS), removed = 0, failed = 0, passed = 0, nss;
	json_t *per = json_array(), **ss = samples_by_time(d, &nss);
	char first_fail[360] = "", first_skip[300] = "";

	result(r, "failover", FL_UNKNOWN, "%s", "");
	every = ss ? status_interval(d, ss, nss) : 0;
	json_object_set_new(r->figures, "longest_gap_s",
			    json_real(secs(longest_gap(d, 0, end))));
	json_object_set_new(r->figures, "within_s", json_real(secs(within)));
	json_object_set_new(r->figures, "status_interval_s", json_real(secs(every)));
	json_object_set_new(r->figures, "rule",
			    json_string("new leader: the first moment a majority of the nodes, by "
					"their latest status sample after the fault, name one node "
					"other than the removed leader (seen up to one status interval "
					"late); first write: the first write acknowledged after that, "
					"invoked after the fault, not through the removed leader"));
	for (size_t k = 0; k < nw && ss; k++) {
		char leader[FL_NODE_NAME_MAX + 1], how[160], why[360] = "";
		uint64_t term = 0;
		int64_t t_leader = -1, t_write = -1, held = w[k].end - w[k].start;
		int old, who = -1, votes = 0, healed = w[k].end < end;
		enum fo_outcome oc;
		json_t *fig;

		fig = json_pack("{s:s, s:s, s:f, s:f, s:f}", "fault", w[k].id, "kind", w[k].kind,
				"start_s", secs(w[k].start), "end_s", secs(w[k].end), "longest_gap_s",
				secs(longest_gap(d, w[k].start, w[k].end > w[k].start ? w[k].end
								 : w[k].start + within)));
		json_array_append_new(per, fig);
		if (!leader_at(d, w[k].start, leader, sizeof(leader), &term)) {
			json_object_set_new(fig, "leader", json_null());
			continue;
		}
		json_object_set_new(fig, "leader", json_string(leader));
		if (!removes_leader(d, &w[k], leader, how, sizeof(how)))
			continue;
		removed++;
		old = node_index(d, leader);
		json_object_set_new(fig, "removes_leader", json_string(how));
		t_leader = majority_leader_after(d, ss, nss, w[k].start, old, &who, &votes);
		if (t_leader >= 0) {
			json_object_set_new(fig, "new_leader", json_string(d->nodes[who]));
			json_object_set_new(fig, "named_by", json_integer(votes));
			for (size_t i = 0; i < d->ops.n; i++) {
				const struct fl_op *op = &d->ops.v[i];
				if (!op->final && is_write(op->f) && op->outcome == FL_OUTCOME_OK &&
				    op->invoke_ns >= w[k].start && op->complete_ns >= t_leader &&
				    strcmp(op->node, leader) &&
				    (t_write < 0 || op->complete_ns < t_write))
					t_write = op->complete_ns;
			}
		}
		json_object_set_new(fig, "new_leader_s",
				    t_leader < 0 ? json_null() : json_real(secs(t_leader - w[k].start)));
		json_object_set_new(fig, "first_write_s",
				    t_write < 0 ? json_null() : json_real(secs(t_write - w[k].start)));
		/* an instant fault (restart, reboot) has end == start: any new
		 * leader comes after it */
		if (healed && held < within &&
		    (t_leader < 0 || (held > 0 && t_leader > w[k].end))) {
			/* the old leader was back before the system owed a new one */
			oc = FO_NOT_FORCED;
			snprintf(why, sizeof(why), "%s (%s) healed after %.1fs, within the limit of "
				 "%.1fs, before a majority named another leader", w[k].id, how,
				 secs(held), secs(within));
		} else if (t_leader < 0 && end - w[k].start < within) {
			oc = FO_NOT_FORCED;
			snprintf(why, sizeof(why), "%s (%s): the workload ended %.1fs after it, "
				 "before the limit of %.1fs", w[k].id, how, secs(end - w[k].start),
				 secs(within));
		} else if (t_leader < 0 || t_leader - w[k].start > within) {
			oc = FO_FAIL;
			if (t_leader < 0)
				snprintf(why, sizeof(why), "%s (%s): no new leader named by a majority "
					 "of the nodes (the fault held %.1fs, limit %.1fs)", w[k].id,
					 how, secs(held), secs(within));
			else
				snprintf(why, sizeof(why), "%s (%s): new leader %s named by %d of %zu "
					 "nodes after %.1fs, limit %.1fs", w[k].id, how,
					 d->nodes[who], votes, d->nnodes, secs(t_leader - w[k].start),
					 secs(within));
		} else if (t_write < 0 || t_write - w[k].start > within) {
			oc = FO_FAIL;
			snprintf(why, sizeof(why), "%s (%s): new leader %s after %.1fs, but %s",
				 w[k].id, how, d->nodes[who], secs(t_leader - w[k].start),
				 t_write < 0 ? "no write acknowledged after it" : "");
			if (t_write >= 0)
				snprintf(why + strlen(why), sizeof(why) - strlen(why),
					 "the first write acknowledged after it came %.1fs after the "
					 "fault, limit %.1fs", secs(t_write - w[k].start), secs(within));
		} else {
			oc = FO_PASS;
			if (t_write - w[k].start > worst)
				worst = t_write - w[k].start;
		}
		json_object_set_new(fig, "verdict", json_string(oc == FO_PASS ? "PASS"
								 : oc == FO_FAIL ? "FAIL"
										 : "not judged"));
		if (why[0])
			json_object_set_new(fig, "why", json_string(why));
		if (oc == FO_FAIL && !failed++)
			snprintf(first_fail, sizeof(first_fail), "%s", why);
		if (oc == FO_NOT_FORCED && !first_skip[0])
			snprintf(first_skip, sizeof(first_skip), "%s", why);
		passed += oc == FO_PASS;
	}
	free(ss);
	json_object_set_new(r->figures, "faults", per);
	json_object_set_new(r->figures, "judged", json_integer((json_int_t)(passed + failed)));
	if (failed)
		result(r, "failover", FL_FAIL, "%s%s", first_fail, failed > 1 ? " (and more)" : "");
	else if (passed)
		result(r, "failover", FL_PASS,
		       "%zu leader-removing fault%s: a new leader named by a majority and a write "
		       "acknowledged after it within %.1fs (limit %.1fs, status sampled every "
		       "%.1fs)%s%s", passed, passed == 1 ? "" : "s", secs(worst), secs(within),
		       secs(every), removed > passed ? "; not judged: " : "",
		       removed > passed ? first_skip : "");
	else if (removed)
		result(r, "failover", FL_UNKNOWN, "no failover was forced: %s", first_skip);
	else
		result(r, "failover", FL_UNKNOWN,
		       "no fault removed a known leader (%s)",
		       !nw ? "no fault was applied" : !json_array_size(d->status)
			       ? "no status samples" : "the leader was never cut off from a majority");
	fl_check_evidence(d, FL_IN_HISTORY | FL_IN_FAULTS | FL_IN_STATUS, r);
	fl_check_lost(d, FL_LOST_TIMED, r);
}

/* --- no lost writes ------------------------------------------------------------- */

static const struct fl_op *writer_of(const struct fl_run_data *d, const char *key, const char *v)
{
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		if ((o->f == FL_F_WRITE || o->f == FL_F_CAS) && o->outcome != FL_OUTCOME_FAIL &&
		    o->key && o->value && !strcmp(o->key, key) && !strcmp(o->value, v))
			return o;
	}
	return NULL;
}

static void lost_register(const struct fl_scenario *s, const struct fl_run_data *d,
			  struct fl_check_result *r)
{
	size_t keys = 0, lost = 0, acked = 0;
	char first[300] = "";
	json_t *lost_list = json_array();

	for (unsigned k = 0; k < s->workload.keys; k++) {
		char key[32];
		const struct fl_op *fin = NULL, *src, *tried[FL_MAX_NODES] = { 0 };
		int answered[FL_MAX_NODES] = { 0 };
		snprintf(key, sizeof(key), "k%u", k);
		/* every node's final read must agree */
		for (size_t i = 0; i < d->ops.n; i++) {
			const struct fl_op *o = &d->ops.v[i];
			int n;
			if (!o->final || o->f != FL_F_READ || !o->key || strcmp(o->key, key))
				continue;
			if ((n = node_index(d, o->node)) >= 0) {
				tried[n] = o;
				answered[n] |= o->outcome == FL_OUTCOME_OK;
			}
			if (o->outcome != FL_OUTCOME_OK)
				continue;
			if (fin && !(fin->value == o->value ||
				     (fin->value && o->value && !strcmp(fin->value, o->value)))) {
				result(r, "no_lost_writes", FL_FAIL,
				       "final reads of %s disagree: %s reads %s, %s reads %s", key,
				       fin->node, fin->value ? fin->value : "nothing", o->node,
				       o->value ? o->value : "nothing");
				json_decref(lost_list);
				return;
			}
			fin = o;
		}
		for (size_t i = 0; i < d->ops.n; i++) {
			const struct fl_op *o = &d->ops.v[i];
			if (!o->final && is_write(o->f) && o->outcome == FL_OUTCOME_OK && o->key &&
			    !strcmp(o->key, key))
				acked++;
		}
		/* a node whose final read failed may hold anything: the evidence
		 * is every node's read */
		for (size_t n = 0; n < d->nnodes; n++) {
			if (answered[n])
				continue;
			if (tried[n])
				result(r, "no_lost_writes", FL_UNKNOWN,
				       "final read of %s failed on %s (%s): its copy is unknown", key,
				       d->nodes[n], tried[n]->error ? tried[n]->error
					       : fl_outcome_to_string(tried[n]->outcome));
			else
				result(r, "no_lost_writes", FL_UNKNOWN, "no final read of %s from %s",
				       key, d->nodes[n]);
			json_decref(lost_list);
			return;
		}
		if (!fin) {
			result(r, "no_lost_writes", FL_UNKNOWN, "no final read of %s answered", key);
			json_decref(lost_list);
			return;
		}
		keys++;
		src = fin->value ? writer_of(d, key, fin->value) : NULL;
		if (fin->value && !src) {
			result(r, "no_lost_writes", FL_FAIL,
			       "final value of %s is %s, which no client wrote", key, fin->value);
			json_decref(lost_list);
			return;
		}
		for (size_t i = 0; i < d->ops.n; i++) {
			const struct fl_op *o = &d->ops.v[i];
			if (o->final || !is_write(o->f) || o->outcome != FL_OUTCOME_OK || !o->key ||
			    strcmp(o->key, key))
				continue;
			/* absent at the end, or overwritten by something older */
			if (!src || (src->outcome == FL_OUTCOME_OK && src->complete_ns < o->invoke_ns)) {
				lost++;
				if (json_array_size(lost_list) < 20)
					json_array_append_new(lost_list,
							      json_pack("{s:s, s:s, s:I}", "key", key,
									"value", o->value ? o->value : "",
									"i", (json_int_t)o->i));
				if (!first[0])
					snprintf(first, sizeof(first),
						 "write %s=%s acknowledged at %.3fs is lost: the final "
						 "value is %s%s%s", key, o->value ? o->value : "",
						 secs(o->complete_ns), src ? src->value : "nothing",
						 src ? ", written before it began" : "", "");
			}
		}
	}
	json_object_set_new(r->figures, "keys", json_integer((json_int_t)keys));
	json_object_set_new(r->figures, "acknowledged", json_integer((json_int_t)acked));
	json_object_set_new(r->figures, "lost", json_integer((json_int_t)lost));
	json_object_set_new(r->figures, "lost_writes", lost_list);
	if (lost)
		result(r, "no_lost_writes", FL_FAIL, "%zu acknowledged write%s lost; first: %s", lost,
		       lost == 1 ? "" : "s", first);
	else if (!acked)
		result(r, "no_lost_writes", FL_UNKNOWN,
		       "no write was acknowledged: nothing that could be lost");
	else
		result(r, "no_lost_writes", FL_PASS,
		       "%zu key%s: every node's final value is consistent with the %zu "
		       "acknowledged write%s", keys, keys == 1 ? "" : "s", acked,
		       acked == 1 ? "" : "s");
}

static int has_elem(const struct fl_op *o, const char *e)
{
	for (size_t k = 0; k < o->nelems; k++)
		if (!strcmp(o->elems[k], e))
			return 1;
	return 0;
}

static void lost_set(const struct fl_scenario *s, const struct fl_run_data *d,
		     struct fl_check_result *r)
{
	size_t acked = 0, lost = 0, reads = 0, unexpected = 0;
	char first[300] = "";
	json_t *lost_list = json_array();

	for (unsigned k = 0; k < s->workload.keys; k++) {
		char key[32];
		snprintf(key, sizeof(key), "s%u", k);
		for (size_t node = 0; node < d->nnodes; node++) {
			const struct fl_op *fin = NULL;
			/* the last answered final read of this set from this node */
			for (size_t i = 0; i < d->ops.n; i++) {
				const struct fl_op *o = &d->ops.v[i];
				if (o->final && o->f == FL_F_READ_ALL && o->outcome == FL_OUTCOME_OK &&
				    o->key && !strcmp(o->key, key) && !strcmp(o->node, d->nodes[node]))
					fin = o;
			}
			if (!fin) {
				result(r, "no_lost_writes", FL_UNKNOWN,
				       "no final read of %s from %s answered", key, d->nodes[node]);
				json_decref(lost_list);
				return;
			}
			reads++;
			for (size_t i = 0; i < d->ops.n; i++) {
				const struct fl_op *o = &d->ops.v[i];
				if (o->final || o->f != FL_F_ADD || o->outcome != FL_OUTCOME_OK ||
				    !o->key || strcmp(o->key, key))
					continue;
				if (node == 0)
					acked++;
				if (!o->value || has_elem(fin, o->value))
					continue;
				lost++;
				if (json_array_size(lost_list) < 20)
					json_array_append_new(lost_list,
							      json_pack("{s:s, s:s, s:s}", "key", key,
									"element", o->value, "node",
									d->nodes[node]));
				if (!first[0])
					snprintf(first, sizeof(first),
						 "%s of %s, acknowledged at %.3fs by %s, is missing on "
						 "%s", o->value, key, secs(o->complete_ns), o->node,
						 d->nodes[node]);
			}
			for (size_t e = 0; e < fin->nelems; e++) {
				int known = 0;
				for (size_t i = 0; i < d->ops.n && !known; i++) {
					const struct fl_op *o = &d->ops.v[i];
					known = o->f == FL_F_ADD && o->outcome != FL_OUTCOME_FAIL &&
						o->key && !strcmp(o->key, key) && o->value &&
						!strcmp(o->value, fin->elems[e]);
				}
				if (!known && !unexpected++)
					snprintf(first + strlen(first), sizeof(first) - strlen(first),
						 "%s%s holds %s, which no client added",
						 first[0] ? "; " : "", d->nodes[node], fin->elems[e]);
			}
		}
	}
	json_object_set_new(r->figures, "acknowledged", json_integer((json_int_t)acked));
	json_object_set_new(r->figures, "lost", json_integer((json_int_t)lost));
	json_object_set_new(r->figures, "unexpected", json_integer((json_int_t)unexpected));
	json_object_set_new(r->figures, "lost_elements", lost_list);
	if (!lost && !unexpected && !acked)
		result(r, "no_lost_writes", FL_UNKNOWN,
		       "no add was acknowledged: nothing that could be lost");
	else if (lost || unexpected)
		result(r, "no_lost_writes", FL_FAIL,
		       "%zu acknowledged add%s missing from final reads (over %zu node reads), "
		       "%zu unexpected; first: %s", lost, lost == 1 ? "" : "s", reads, unexpected,
		       first);
	else
		result(r, "no_lost_writes", FL_PASS,
		       "all %zu acknowledged adds are in every node's final read", acked);
}

void fl_check_no_lost_writes(const struct fl_scenario *s, const struct fl_run_data *d,
			     struct fl_check_result *r)
{
	result(r, "no_lost_writes", FL_PASS, "%s", "");
	if (s->workload.type == FL_WORKLOAD_SET)
		lost_set(s, d, r);
	else
		lost_register(s, d, r);
	fl_check_evidence(d, FL_IN_HISTORY, r);
	fl_check_lost(d, FL_LOST_INVARIANT, r);
}

/* --- converge ------------------------------------------------------------------- */

static void check_converge(const struct fl_scenario *s, const struct fl_run_data *d,
			   struct fl_check_result *r)
{
	int64_t from = workload_end(d), within = s->checks.converge_within_ns;
	size_t idx;
	json_t *o, *done = NULL;
	char last[FL_MAX_NODES][FL_DIGEST_HEX];

	memset(last, 0, sizeof(last));
	result(r, "converge", FL_UNKNOWN, "%s", "");
	json_array_foreach(d->faults, idx, o)
		if (js(o, "event") && !strcmp(js(o, "event"), "heal") && jt(o) > from)
			from = jt(o);
	json_array_foreach(d->digests, idx, o) {
		int n = node_index(d, js(o, "node"));
		if (json_object_get(o, "converged"))
			done = o;
		else if (n >= 0 && js(o, "digest"))
			snprintf(last[n], sizeof(last[n]), "%s", js(o, "digest"));
	}
	if (!done) {
		result(r, "converge", FL_UNKNOWN, "no digests were compared (system without digests?)");
		return;
	}
	json_object_set_new(r->figures, "within_s", json_real(secs(within)));
	if (!json_is_true(json_object_get(done, "converged"))) {
		char list[300] = "";
		for (size_t i = 0; i < d->nnodes; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.16s=%.16s",
				 i ? " " : "", d->nodes[i], last[i][0] ? last[i] : "?");
		result(r, "converge", FL_FAIL, "digests still differ %.1fs after the heal: %.300s",
		       secs(jt(done) - from), list);
		return;
	}
	json_object_set_new(r->figures, "converged_after_s", json_real(secs(jt(done) - from)));
	if (jt(done) - from > within)
		result(r, "converge", FL_FAIL, "digests equal only %.1fs after the heal (limit %.1fs)",
		       secs(jt(done) - from), secs(within));
	else
		result(r, "converge", FL_PASS, "every node's digest %s, %.1fs after the heal",
		       js(done, "digest") ? js(done, "digest") : "", secs(jt(done) - from));
}

PUBLIC_CHECK(converge, FL_IN_HISTORY | FL_IN_FAULTS | FL_IN_DIGESTS, FL_LOST_TIMED)

/* --- leader per term ------------------------------------------------------------- */

/* A node's claim to lead a term, held from first to last sample. */
struct claim {
	int node;
	uint64_t term;
	int64_t first, last;
};

#define CLAIM_HELD_NS (1000LL * 1000 * 1000)

/*
 * Only a node's claim about itself counts, and only once it has held for
 * CLAIM_HELD_NS: the term a system reports may lag its election (etcd 3.4
 * reports the term of the last entry it applied, so a leader elected a
 * moment ago still shows the previous term until its first entry commits,
 * and followers lag further). A real second leader of a term holds its
 * claim; a lagging report does not.
 */
static void check_leader_per_term(const struct fl_scenario *s, const struct fl_run_data *d,
				  struct fl_check_result *r)
{
	struct claim *c = calloc(json_array_size(d->status) + 1, sizeof(*c));
	size_t idx, nc = 0, samples = 0, held = 0, termless = 0;
	json_t *o;
	int bad = 0;

	(void)s;
	result(r, "leader_per_term", FL_PASS, "%s", "");
	if (!c) {
		result(r, "leader_per_term", FL_UNKNOWN, "out of memory");
		return;
	}
	json_array_foreach(d->status, idx, o) {
		const char *l = js(o, "leader");
		int n = node_index(d, js(o, "node"));
		uint64_t term = (uint64_t)json_integer_value(json_object_get(o, "term"));
		size_t k;
		if (!json_is_true(json_object_get(o, "ok")) || !l || n < 0)
			continue;
		samples++;
		/* a system that reports no term (nats 2.9) claims nothing to judge */
		if (!json_is_integer(json_object_get(o, "term"))) {
			termless++;
			continue;
		}
		if (node_index(d, l) != n)
			continue;
		for (k = 0; k < nc; k++)
			if (c[k].node == n && c[k].term == term)
				break;
		if (k == nc)
			c[nc++] = (struct claim){ n, term, jt(o), jt(o) };
		if (jt(o) < c[k].first)
			c[k].first = jt(o);
		if (jt(o) > c[k].last)
			c[k].last = jt(o);
	}
	for (size_t a = 0; a < nc && !bad; a++) {
		if (c[a].last - c[a].first < CLAIM_HELD_NS)
			continue;
		held++;
		for (size_t b = a + 1; b < nc && !bad; b++) {
			if (c[b].term != c[a].term || c[b].node == c[a].node ||
			    c[b].last - c[b].first < CLAIM_HELD_NS)
				continue;
			bad = 1;
			result(r, "leader_per_term", FL_FAIL,
			       "term %" PRIu64 " has two leaders: %s (claimed %.3fs..%.3fs) and %s "
			       "(claimed %.3fs..%.3fs)", c[a].term, d->nodes[c[a].node],
			       secs(c[a].first), secs(c[a].last), d->nodes[c[b].node],
			       secs(c[b].first), secs(c[b].last));
		}
	}
	json_object_set_new(r->figures, "samples", json_integer((json_int_t)samples));
	json_object_set_new(r->figures, "claims", json_integer((json_int_t)nc));
	json_object_set_new(r->figures, "held_claims", json_integer((json_int_t)held));
	free(c);
	if (bad)
		return;
	if (!held && termless)
		result(r, "leader_per_term", FL_UNKNOWN,
		       "the system reports no raft term (%zu of %zu samples without one)", termless,
		       samples);
	else if (!held)
		result(r, "leader_per_term", FL_UNKNOWN,
		       "no node held a claim to lead for a second (%zu samples)", samples);
	else
		result(r, "leader_per_term", FL_PASS,
		       "%zu leadership claim%s held over %zu samples, one leader per term", held,
		       held == 1 ? "" : "s", samples);
}

PUBLIC_CHECK(leader_per_term, FL_IN_STATUS, FL_LOST_INVARIANT)

/* --- SLOs ------------------------------------------------------------------------- */

struct lat {
	size_t all;      /* ops invoked (final reads excluded) */
	size_t ok;       /* answered: ok, or a compare-and-set refused by its compare */
	size_t n;        /* latency samples: ok ops and ops of unknown outcome */
	size_t unknown;  /* info: timed out, or never completed */
	size_t failed;   /* definite failures other than a refused compare */
	int64_t p50, p99, max;
};

/* Latency and availability among ops invoked in [from, to). An op whose
 * outcome is unknown (a timeout) counts in the latency at the time it took,
 * or at the workload's timeout when it never completed: a system that
 * answers only the easy half of its requests must not show a fast p99. */
static void measure(const struct fl_run_data *d, int64_t timeout, int64_t from, int64_t to,
		    struct lat *l)
{
	int64_t *v = malloc((d->ops.n + 1) * sizeof(*v));

	memset(l, 0, sizeof(*l));
	if (!v)
		return;
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		if (o->final || o->invoke_ns < from || o->invoke_ns >= to)
			continue;
		l->all++;
		if (o->outcome == FL_OUTCOME_OK) {
			l->ok++;
			v[l->n++] = o->complete_ns - o->invoke_ns;
		} else if (o->outcome == FL_OUTCOME_INFO) {
			l->unknown++;
			v[l->n++] = o->complete_ns >= 0 ? o->complete_ns - o->invoke_ns : timeout;
		} else if (o->f == FL_F_CAS && o->error && strstr(o->error, "compare failed")) {
			l->ok++; /* answered: a refused compare is the system working */
		} else {
			l->failed++;
		}
	}
	if (l->n) {
		qsort(v, l->n, sizeof(*v), cmp_i64);
		l->p50 = v[(l->n * 50 + 99) / 100 - 1];
		l->p99 = v[(l->n * 99 + 99) / 100 - 1];
		l->max = v[l->n - 1];
	}
	free(v);
}

static json_t *lat_json(const struct lat *l)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "ops", (json_int_t)l->all,
			 "ok", (json_int_t)(l->n - l->unknown), "answered", (json_int_t)l->ok,
			 "unknown", (json_int_t)l->unknown, "failed", (json_int_t)l->failed,
			 "availability", l->all ? 100.0 * (double)l->ok / (double)l->all : 0.0,
			 "p50_ms", (double)l->p50 / 1e6, "p99_ms", (double)l->p99 / 1e6, "max_ms",
			 (double)l->max / 1e6);
}

static json_t *per_window(const struct fl_run_data *d, int64_t timeout)
{
	struct window w[MAX_WINDOWS];
	size_t nw = windows(d, workload_end(d), w, MAX_WINDOWS);
	json_t *a = json_array();

	for (size_t k = 0; k < nw; k++) {
		struct lat l;
		json_t *o;
		if (w[k].end <= w[k].start)
			continue;
		measure(d, timeout, w[k].start, w[k].end, &l);
		o = lat_json(&l);
		json_object_set_new(o, "fault", json_string(w[k].id));
		json_object_set_new(o, "kind", json_string(w[k].kind));
		json_array_append_new(a, o);
	}
	return a;
}

/* The SLO checks' common start: the whole run measured, its figures and
 * those of each fault window set. */
static void slo_measure(const struct fl_scenario *s, const struct fl_run_data *d,
			struct fl_check_result *r, const char *name, struct lat *l)
{
	measure(d, s->workload.timeout_ns, 0, INT64_MAX, l);
	result(r, name, FL_PASS, "%s", "");
	json_object_set_new(r->figures, "run", lat_json(l));
	json_object_set_new(r->figures, "faults", per_window(d, s->workload.timeout_ns));
}

static void check_latency(const struct fl_scenario *s, const struct fl_run_data *d,
			  struct fl_check_result *r)
{
	struct lat l;
	char over[200] = "", counted[120] = "";

	slo_measure(s, d, r, "latency", &l);
	json_object_set_new(r->figures, "counts",
			    json_string("ok ops and ops of unknown outcome (timeouts) at the time "
					"they took; an op never completed at the workload's timeout"));
	if (l.n == l.unknown) {
		result(r, "latency", FL_UNKNOWN, "no operation succeeded: no latency to judge");
		return;
	}
	if (l.unknown)
		snprintf(counted, sizeof(counted), " and %zu timed out, counted at the time they took",
			 l.unknown);
	if (s->checks.latency_p50_ns && l.p50 > s->checks.latency_p50_ns)
		snprintf(over, sizeof(over), "p50 %.1f ms > %.1f ms", (double)l.p50 / 1e6,
			 (double)s->checks.latency_p50_ns / 1e6);
	else if (s->checks.latency_p99_ns && l.p99 > s->checks.latency_p99_ns)
		snprintf(over, sizeof(over), "p99 %.1f ms > %.1f ms", (double)l.p99 / 1e6,
			 (double)s->checks.latency_p99_ns / 1e6);
	else if (s->checks.latency_max_ns && l.max > s->checks.latency_max_ns)
		snprintf(over, sizeof(over), "max %.1f ms > %.1f ms", (double)l.max / 1e6,
			 (double)s->checks.latency_max_ns / 1e6);
	if (over[0])
		result(r, "latency", FL_FAIL, "%s (%zu ok ops%s)", over, l.n - l.unknown, counted);
	else
		result(r, "latency", FL_PASS, "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%zu ok ops%s)",
		       (double)l.p50 / 1e6, (double)l.p99 / 1e6, (double)l.max / 1e6,
		       l.n - l.unknown, counted);
}

PUBLIC_CHECK(latency, FL_IN_HISTORY, FL_LOST_HISTORY)

static void check_availability(const struct fl_scenario *s, const struct fl_run_data *d,
			       struct fl_check_result *r)
{
	struct lat l;
	double a;

	slo_measure(s, d, r, "availability", &l);
	json_object_set_new(r->figures, "answered",
			    json_string("ok, or a compare-and-set refused because its compare "
					"failed; not: a timeout or unknown outcome, an error"));
	if (!l.all) {
		result(r, "availability", FL_UNKNOWN, "no operation was invoked");
		return;
	}
	a = 100.0 * (double)l.ok / (double)l.all;
	result(r, "availability", a + 1e-9 >= s->checks.availability_min ? FL_PASS : FL_FAIL,
	       "%.1f%% of %zu operations answered (ok or a refused compare; %zu timed out, %zu "
	       "failed) (minimum %.1f%%)", a, l.all, l.unknown, l.failed,
	       s->checks.availability_min);
}

PUBLIC_CHECK(availability, FL_IN_HISTORY, FL_LOST_HISTORY)

size_t fl_invariants_check(const struct fl_scenario *s, const struct fl_run_data *d,
			   struct fl_check_result *res)
{
	size_t n = 0;

	if (s->checks.failover)
		fl_check_failover(s, d, &res[n++]);
	if (s->checks.no_lost_writes)
		fl_check_no_lost_writes(s, d, &res[n++]);
	if (s->checks.converge)
		fl_check_converge(s, d, &res[n++]);
	if (s->checks.leader_per_term)
		fl_check_leader_per_term(s, d, &res[n++]);
	if (s->checks.latency)
		fl_check_latency(s, d, &res[n++]);
	if (s->checks.availability)
		fl_check_availability(s, d, &res[n++]);
	return n;
}
