/* The verdict of a run: the one place where checks run (see verdict.h).
 * It never prints and never renders: reports read what it writes. */
#include "faultline/verdict.h"

#include "faultline/check_cli.h"
#include "faultline/check_input.h"
#include "faultline/linear.h"
#include "faultline/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, size_t n, unsigned q)
{
	return n ? (double)v[(n * q + 99) / 100 - 1] / 1e6 : 0.0;
}

/* op counts per outcome and per function; latency of ok ops (not final) */
static void ops_figures(const struct fl_run_data *d, json_t *res)
{
	int64_t *lat = malloc((d->ops.n + 1) * sizeof(*lat));
	size_t counts[FL_F__N][FL_OUTCOME__N] = { { 0 } }, total[FL_OUTCOME__N] = { 0 }, n = 0,
	       final = 0;
	json_t *by = json_object(), *ops;

	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		if (o->final) {
			final++;
			continue;
		}
		counts[o->f][o->outcome]++;
		total[o->outcome]++;
		if (o->outcome == FL_OUTCOME_OK && lat)
			lat[n++] = o->complete_ns - o->invoke_ns;
	}
	for (int f = 0; f < FL_F__N; f++) {
		if (!counts[f][0] && !counts[f][1] && !counts[f][2])
			continue;
		json_object_set_new(by, fl_op_f_to_string((enum fl_op_f)f),
				    json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)counts[f][0],
					      "fail", (json_int_t)counts[f][1], "info",
					      (json_int_t)counts[f][2]));
	}
	ops = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "total",
			(json_int_t)(total[0] + total[1] + total[2]), "ok", (json_int_t)total[0],
			"fail", (json_int_t)total[1], "info", (json_int_t)total[2], "final_reads",
			(json_int_t)final, "by_f", by);
	json_object_set_new(res, "ops", ops);
	if (lat && n)
		qsort(lat, n, sizeof(*lat), cmp_i64);
	json_object_set_new(res, "latency_ms",
			    json_pack("{s:f, s:f, s:f, s:f, s:f}", "p50", pct(lat, n, 50), "p90",
				      pct(lat, n, 90), "p99", pct(lat, n, 99), "p999",
				      n ? (double)lat[(n * 999 + 999) / 1000 - 1] / 1e6 : 0.0, "max", n ? (double)lat[n - 1] / 1e6 : 0.0));
	free(lat);
}

/* fault instances: apply and heal paired */
static json_t *faults_figures(const struct fl_run_data *d)
{
	json_t *a = json_array(), *o;
	size_t idx;

	json_array_foreach(d->faults, idx, o) {
		const char *ev = json_string_value(json_object_get(o, "event"));
		const char *id = json_string_value(json_object_get(o, "fault"));
		double t = (double)json_integer_value(json_object_get(o, "t")) / 1e9;
		if (!ev || !id)
			continue;
		if (!strcmp(ev, "apply")) {
			json_t *f = json_pack("{s:s, s:s, s:b, s:f, s:n}", "id", id, "kind",
					      json_string_value(json_object_get(o, "kind")) ?: "?",
					      "applied", json_is_true(json_object_get(o, "ok")),
					      "start_s", t, "end_s");
			if (json_object_get(o, "nodes"))
				json_object_set(f, "nodes", json_object_get(o, "nodes"));
			if (json_object_get(o, "leader"))
				json_object_set(f, "leader", json_object_get(o, "leader"));
			if (json_object_get(o, "error"))
				json_object_set(f, "error", json_object_get(o, "error"));
			if (json_object_get(o, "lost")) /* lost nodes it skipped */
				json_object_set(f, "lost", json_object_get(o, "lost"));
			json_array_append_new(a, f);
		} else if (!strcmp(ev, "heal")) {
			size_t k;
			json_t *f;
			json_array_foreach(a, k, f)
				if (!strcmp(json_string_value(json_object_get(f, "id")), id) &&
				    json_is_null(json_object_get(f, "end_s")))
					json_object_set_new(f, "end_s", json_real(t));
		}
	}
	return a;
}

json_t *fl_results_build(const struct fl_scenario *s, json_t *meta,
			 const struct fl_check_result *res, size_t n, const struct fl_run_data *d)
{
	json_t *r = json_object(), *checks = json_array(), *nodes = json_array();
	int fail = 0, unknown = 0;
	const char *keys[] = { "file", "seed", "overrides", "started", "version", "provider",
			       "accel" };

	json_object_set_new(r, "scenario", json_string(s->name));
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (meta && json_object_get(meta, keys[k]))
			json_object_set(r, keys[k], json_object_get(meta, keys[k]));
	if (!json_object_get(r, "version"))
		json_object_set_new(r, "version", json_string(FL_VERSION));
	json_object_set_new(r, "checked_by", json_string(FL_VERSION));
	json_object_set_new(r, "system", json_string(fl_system_type_to_string(s->system.type)));
	json_object_set_new(r, "workload",
			    json_pack("{s:s, s:i, s:f, s:i}", "type",
				      fl_workload_type_to_string(s->workload.type), "clients",
				      (int)s->workload.clients, "rate", s->workload.rate, "keys",
				      (int)s->workload.keys));
	for (size_t i = 0; i < s->cluster.nnodes; i++)
		json_array_append_new(nodes, json_string(s->cluster.nodes[i]));
	json_object_set_new(r, "nodes", nodes);
	json_object_set_new(r, "duration_s", json_real((double)s->duration_ns / 1e9));
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(checks,
				      json_pack("{s:s, s:s, s:s, s:O}", "name", res[i].name, "verdict",
						fl_verdict_to_string(res[i].verdict), "why", res[i].why,
						"figures", res[i].figures ? res[i].figures
									  : json_object()));
		fail |= res[i].verdict == FL_FAIL;
		unknown |= res[i].verdict == FL_UNKNOWN;
	}
	/* a run that lost a node did not run its plan: at best undecided */
	unknown |= d && d->lost;
	json_object_set_new(r, "verdict",
			    json_string(fail ? "FAIL" : unknown ? "UNKNOWN" : "PASS"));
	json_object_set_new(r, "checks", checks);
	if (d) {
		json_object_set_new(r, "lost", fl_run_lost_json(d));
		if (d->clients)
			json_object_set(r, "clients", d->clients);
		json_object_set_new(r, "faults", faults_figures(d));
		ops_figures(d, r);
		json_object_set_new(r, "damage",
				    json_pack("{s:o, s:I, s:I, s:I}", "history",
					      fl_history_damage_json(&d->ops.damage), "faults_lines",
					      (json_int_t)d->bad_faults, "status_lines",
					      (json_int_t)d->bad_status, "digests_lines",
					      (json_int_t)d->bad_digests));
	}
	return r;
}

/* What the history gives the linearizable check to judge: "" when enough,
 * else why not. A history without an answered read cannot contradict any
 * order of its writes; for the set workload the final reads are the reads
 * that see every add. */
static void lin_evidence(const struct fl_scenario *s, const struct fl_run_data *d, char *why,
			 size_t len)
{
	size_t reads = 0, writes = 0, final_tried = 0, final_ok = 0;

	why[0] = 0;
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		int read = o->f == FL_F_READ || o->f == FL_F_READ_ALL;
		if (read && o->final) {
			final_tried++;
			final_ok += o->outcome == FL_OUTCOME_OK;
		}
		if (read && o->outcome == FL_OUTCOME_OK)
			reads++;
		if (!read && o->outcome != FL_OUTCOME_FAIL)
			writes++;
	}
	if (!d->ops.n)
		snprintf(why, len, "no operations: nothing to judge");
	else if (!reads)
		snprintf(why, len, "no read answered (%zu ops): nothing could contradict the "
				   "writes' order", d->ops.n);
	else if (!writes)
		snprintf(why, len, "no write took effect (%zu ops): every read is trivially "
				   "consistent", d->ops.n);
	else if (s->workload.type == FL_WORKLOAD_SET && !final_ok)
		snprintf(why, len, "%s: only the adds and the reads during the run were checked",
			 final_tried ? "every final read failed" : "no final reads");
}

static void check_linearizable(const struct fl_scenario *s, const struct fl_run_data *d,
			       const char *history, struct fl_check_result *r)
{
	struct fl_lin_history *h = NULL;
	struct fl_lin_result *lr = NULL;
	struct fl_lin_limits lim = { .timeout_ns = s->checks.linearizable_timeout_ns };
	struct fl_diags dg = { 0 };
	enum fl_check_format fmt;
	enum fl_lin_model m;
	int rc;

	snprintf(r->name, sizeof(r->name), "linearizable");
	r->figures = json_object();
	r->verdict = FL_UNKNOWN;
	rc = fl_check_load(history, FL_CHECK_FAULTLINE, &h, &fmt, &m, &dg);
	if (rc < 0) {
		snprintf(r->why, sizeof(r->why), "the history cannot be read: %s",
			 dg.n ? dg.v[0].msg : strerror(-rc));
		goto out;
	}
	if ((rc = fl_lin_check(h, m, &lim, &lr)) < 0) {
		snprintf(r->why, sizeof(r->why), "the checker failed: %s", strerror(-rc));
		goto out;
	}
	json_object_set_new(r->figures, "model", json_string(fl_lin_model_to_string(m)));
	json_object_set_new(r->figures, "ops", json_integer((json_int_t)h->n));
	json_object_set_new(r->figures, "keys", json_integer((json_int_t)lr->nparts));
	json_object_set_new(r->figures, "elapsed_ms", json_real((double)lr->elapsed_ns / 1e6));
	if (lr->verdict == FL_LIN_OK) {
		char none[300];
		lin_evidence(s, d, none, sizeof(none));
		r->verdict = none[0] ? FL_UNKNOWN : FL_PASS;
		if (none[0])
			snprintf(r->why, sizeof(r->why), "%s", none);
		else
			snprintf(r->why, sizeof(r->why),
				 "%zu ops on %zu keys (%s model), checked in %.0f ms", h->n,
				 lr->nparts, fl_lin_model_to_string(m),
				 (double)lr->elapsed_ns / 1e6);
	} else if (lr->verdict == FL_LIN_UNKNOWN) {
		snprintf(r->why, sizeof(r->why), "%s after %.1f s (linearizable.timeout)",
			 fl_lin_limit_to_string(lr->limit), (double)lr->elapsed_ns / 1e9);
	} else {
		for (size_t k = 0; k < lr->nparts; k++) {
			const struct fl_lin_part *pt = &lr->parts[k];
			json_t *win = json_array();
			char what[400];
			if (pt->verdict != FL_LIN_VIOLATION)
				continue;
			fl_lin_describe_op(h, (size_t)pt->failed_op, what, sizeof(what));
			for (size_t w = 0; w < pt->nwindow; w++) {
				char wb[400];
				fl_lin_describe_op(h, pt->window[w], wb, sizeof(wb));
				json_array_append_new(win, json_pack("{s:I, s:s}", "line",
								     (json_int_t)h->ops[pt->window[w]].src,
								     "op", wb));
			}
			json_object_set_new(r->figures, "violation",
					    json_pack("{s:s, s:I, s:I, s:I, s:s, s:o, s:b}", "key",
						      h->keys[pt->key], "key_ops", (json_int_t)pt->nops,
						      "prefix", (json_int_t)pt->prefix, "failed_line",
						      (json_int_t)h->ops[pt->failed_op].src, "failed_op",
						      what, "window", win, "window_verified",
						      pt->window_verified));
			r->verdict = FL_FAIL;
			snprintf(r->why, sizeof(r->why),
				 "key '%s' is not linearizable: no order fits history.jsonl %s "
				 "(%s window of %zu ops)", h->keys[pt->key], what,
				 pt->window_verified ? "a" : "an unverified", pt->nwindow);
			break;
		}
	}
out:
	if (s->workload.read_mode == FL_READ_SERIALIZABLE && r->verdict != FL_UNKNOWN) {
		size_t at = strlen(r->why);
		json_object_set_new(r->figures, "read_mode", json_string("serializable"));
		snprintf(r->why + at, sizeof(r->why) - at, "; reads were serializable (local, may be "
				"stale: the scenario's read_mode invites this)");
	}
	fl_check_evidence(d, FL_IN_HISTORY, r);
	fl_check_lost(d, FL_LOST_HISTORY, r);
	fl_lin_result_free(lr);
	fl_lin_history_free(h);
	fl_diags_release(&dg);
}

int fl_verdict_status(json_t *results)
{
	const char *v = json_string_value(json_object_get(results, "verdict"));

	if (!v)
		return 2;
	return !strcmp(v, "FAIL") ? 1 : !strcmp(v, "UNKNOWN") ? 3 : !strcmp(v, "PASS") ? 0 : 2;
}

int fl_verdict_judge(const char *dir, const struct fl_scenario *s, json_t **out,
		     struct fl_run_data *keep, char *err, size_t errlen)
{
	struct fl_check_result res[16];
	struct fl_run_data d;
	char path[4200];
	size_t n = 0;
	int rc;
	json_t *meta, *results;

	memset(res, 0, sizeof(res));
	/* the scenario's own array: d may outlive this call (keep) */
	if ((rc = fl_run_data_load(dir, (const char *const *)s->cluster.nodes, s->cluster.nnodes,
				   &d, err, errlen)) < 0)
		return rc;
	if (s->checks.linearizable) {
		snprintf(path, sizeof(path), "%s/history.jsonl", dir);
		check_linearizable(s, &d, path, &res[n++]);
	}
	n += fl_invariants_check(s, &d, res + n);
	if (!n) {
		/* nothing judged is not a pass: exit 3, an error in JUnit */
		snprintf(res[0].name, sizeof(res[0].name), "checks");
		res[0].verdict = FL_UNKNOWN;
		res[0].figures = json_object();
		snprintf(res[0].why, sizeof(res[0].why),
			 "the scenario enables no checks: nothing was judged");
		n = 1;
	}
	/* a collapsed workload: whatever passed, passed on too little */
	n += (size_t)fl_check_workload(s, &d, &res[n]);
	snprintf(path, sizeof(path), "%s/run.json", dir);
	meta = json_load_file(path, 0, NULL);
	results = fl_results_build(s, meta, res, n, &d);
	json_decref(meta);
	for (size_t i = 0; i < n; i++)
		fl_check_result_release(&res[i]);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	if (!results)
		rc = -ENOMEM;
	else
		rc = fl_json_write_atomic(path, results, err, errlen);
	if (rc < 0) {
		json_decref(results);
		fl_run_data_release(&d);
		return rc;
	}
	if (keep)
		*keep = d;
	else
		fl_run_data_release(&d);
	*out = results;
	return 0;
}

json_t *fl_results_load(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	json_error_t je;
	json_t *r;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	if (!(r = json_load_file(path, 0, &je))) {
		if (access(path, F_OK) < 0)
			snprintf(err, errlen, "'%s' has no results.json: the run was never judged "
					      "('faultline check %s' judges it)", dir, dir);
		else
			snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return NULL;
	}
	if (!json_is_object(r) || !json_is_array(json_object_get(r, "checks"))) {
		snprintf(err, errlen, "%s: not a results object (no 'checks' list)", path);
		json_decref(r);
		return NULL;
	}
	return r;
}

int fl_run_scenario_load(const char *dir, struct fl_diags *d, struct fl_scenario **out,
			 json_t **meta_out)
{
	char path[4200];
	json_t *meta, *ov, *v;
	char **overrides;
	size_t n = 0, idx;
	int r;

	snprintf(path, sizeof(path), "%s/run.json", dir);
	if (!(meta = json_load_file(path, 0, NULL)))
		return access(path, F_OK) < 0 ? -ENOENT : -EINVAL;
	ov = json_object_get(meta, "overrides");
	if (!(overrides = calloc(json_array_size(ov) + 1, sizeof(*overrides)))) {
		json_decref(meta);
		return -ENOMEM;
	}
	json_array_foreach(ov, idx, v)
		if (json_is_string(v))
			overrides[n++] = (char *)json_string_value(v);
	snprintf(path, sizeof(path), "%s/scenario.yaml", dir);
	r = fl_scenario_load(path, overrides, n, d, out);
	free(overrides);
	if (r < 0 || !meta_out)
		json_decref(meta);
	else
		*meta_out = meta;
	return r < 0 ? r : 0;
}
