/* Two runs side by side (see compare.h). */
#include "faultline/compare.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/invariants.h"

#define MAX_PHASES 130

struct phase {
	char name[32];
	int64_t from, to;   /* [from, to): "steady" is the complement of the faults */
	double ops_s;
	int64_t p50, p99;
	size_t ok;
	int present;
};

struct run_phases {
	struct phase p[MAX_PHASES];
	size_t n;
	char scenario[128];
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_from(const void *a, const void *b)
{
	const struct phase *x = a, *y = b;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* Is t inside any fault window? */
static int in_fault(const struct run_phases *rp, int64_t t)
{
	for (size_t k = 2; k < rp->n; k++)
		if (t >= rp->p[k].from && t < rp->p[k].to)
			return 1;
	return 0;
}

/* How much of the run the fault windows cover, overlaps counted once.
 * Exact, where sampling every 10 ms looped for ever over a history whose
 * times span 10^17 ns (tests/fuzz/regress/compare/). */
static int64_t fault_cover(const struct run_phases *rp)
{
	int64_t cover = 0, upto = rp->p[0].from;
	struct phase w[MAX_PHASES];
	size_t n = 0;

	for (size_t k = 2; k < rp->n; k++) {
		w[n] = rp->p[k];
		if (w[n].to > rp->p[0].to)
			w[n].to = rp->p[0].to;
		if (w[n].from < w[n].to)
			n++;
	}
	qsort(w, n, sizeof(*w), cmp_from);
	for (size_t k = 0; k < n; k++) {
		int64_t from = w[k].from > upto ? w[k].from : upto;

		if (w[k].to > from) {
			cover += w[k].to - from;
			upto = w[k].to;
		}
	}
	return cover;
}

static void measure(const struct fl_run_data *d, struct run_phases *rp, size_t k, int steady)
{
	struct phase *ph = &rp->p[k];
	int64_t *lat = malloc((d->ops.n + 1) * sizeof(*lat)), len = 0;
	size_t n = 0;

	for (size_t i = 0; lat && i < d->ops.n; i++) {
		const struct fl_op *o = &d->ops.v[i];
		int inside = steady ? !in_fault(rp, o->invoke_ns)
				    : o->invoke_ns >= ph->from && o->invoke_ns < ph->to;
		if (o->final || o->outcome != FL_OUTCOME_OK || !inside)
			continue;
		lat[n++] = o->complete_ns - o->invoke_ns;
	}
	if (steady) {
		len = rp->p[0].to - rp->p[0].from - fault_cover(rp);
	} else {
		len = ph->to - ph->from;
	}
	ph->ok = n;
	ph->ops_s = len > 0 ? (double)n / ((double)len / 1e9) : 0;
	if (n) {
		qsort(lat, n, sizeof(*lat), cmp_i64);
		ph->p50 = lat[(n * 50 + 99) / 100 - 1];
		ph->p99 = lat[(n * 99 + 99) / 100 - 1];
	}
	ph->present = len > 0;
	free(lat);
}

static int load(const char *dir, struct run_phases *rp, char *err, size_t errlen)
{
	struct fl_run_data d;
	char path[4200];
	json_t *meta, *o;
	size_t idx;
	int64_t start = INT64_MAX, end = 0;

	memset(rp, 0, sizeof(*rp));
	if (fl_run_data_load(dir, NULL, 0, &d, err, errlen) < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/run.json", dir);
	meta = json_load_file(path, 0, NULL);
	snprintf(rp->scenario, sizeof(rp->scenario), "%s",
		 json_string_value(json_object_get(meta, "scenario")) ?: "?");
	json_decref(meta);
	for (size_t i = 0; i < d.ops.n; i++) {
		const struct fl_op *op = &d.ops.v[i];
		if (op->final)
			continue;
		if (op->invoke_ns < start)
			start = op->invoke_ns;
		if (op->invoke_ns > end)
			end = op->invoke_ns;
	}
	if (start == INT64_MAX) {
		snprintf(err, errlen, "%s: no operations in its history", dir);
		fl_run_data_release(&d);
		return -ENODATA;
	}
	/* times are ns from the run's start: 0 to INT64_MAX in a history that
	 * loaded, and a fault event's negative t is taken as 0, so that no
	 * length overflows (UBSan on t = INT64_MAX, tests/fuzz/regress/compare/) */
	end = end < INT64_MAX ? end + 1 : end;
	rp->p[0] = (struct phase){ .name = "run", .from = start, .to = end };
	rp->p[1] = (struct phase){ .name = "steady" };
	rp->n = 2;
	json_array_foreach(d.faults, idx, o) {
		const char *ev = json_string_value(json_object_get(o, "event"));
		const char *id = json_string_value(json_object_get(o, "fault"));
		int64_t t = json_integer_value(json_object_get(o, "t"));
		t = t < 0 ? 0 : t;
		if (!ev || !id)
			continue;
		if (!strcmp(ev, "apply") && json_is_true(json_object_get(o, "ok")) &&
		    rp->n < MAX_PHASES) {
			rp->p[rp->n] = (struct phase){ .from = t, .to = end };
			snprintf(rp->p[rp->n].name, sizeof(rp->p[0].name), "%s", id);
			rp->n++;
		} else if (!strcmp(ev, "heal")) {
			for (size_t k = 2; k < rp->n; k++)
				if (!strcmp(rp->p[k].name, id) && rp->p[k].to == end)
					rp->p[k].to = t;
		}
	}
	for (size_t k = 0; k < rp->n; k++)
		measure(&d, rp, k, k == 1);
	fl_run_data_release(&d);
	return 0;
}

static const struct phase *find(const struct run_phases *rp, const char *name)
{
	for (size_t k = 0; k < rp->n; k++)
		if (!strcmp(rp->p[k].name, name) && rp->p[k].present)
			return &rp->p[k];
	return NULL;
}

static double change(double a, double b)
{
	return a > 0 ? (b - a) / a : 0;
}

int fl_compare_runs(const char *base, const char *new_run, const struct fl_compare_opts *o,
		    FILE *out, char *err, size_t errlen)
{
	struct run_phases *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	int regress = 0, rc = 2;

	if (!a || !b) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if (load(base, a, err, errlen) < 0 || load(new_run, b, err, errlen) < 0)
		goto done;
	if (strcmp(a->scenario, b->scenario))
		fprintf(out, "note: different scenarios (%s, %s): phases are matched by name\n",
			a->scenario, b->scenario);
	fprintf(out, "base %s\nnew  %s\nthreshold %.0f%% (latency: and at least %.1f ms)\n\n", base,
		new_run, o->threshold * 100, (double)o->min_delta_ns / 1e6);
	fprintf(out, "%-8s %21s %9s %21s %9s %21s %9s  %s\n", "phase", "ok ops/s base -> new",
		"change", "p50 ms base -> new", "change", "p99 ms base -> new", "change", "");
	for (size_t k = 0; k < a->n; k++) {
		const struct phase *x = &a->p[k], *y = find(b, x->name);
		double dt, d50, d99;
		int bad = 0;
		char why[96] = "";

		if (!x->present || !y)
			continue;
		dt = change(x->ops_s, y->ops_s);
		d50 = change((double)x->p50, (double)y->p50);
		d99 = change((double)x->p99, (double)y->p99);
		/* as a ratio, so that any threshold means something: base/new */
		if (x->ops_s > 0 && x->ops_s > y->ops_s * (1 + o->threshold)) {
			bad = 1;
			snprintf(why, sizeof(why), "throughput");
		}
		if (x->ok && y->ok && d50 > o->threshold && y->p50 - x->p50 > o->min_delta_ns) {
			bad = 1;
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sp50", why[0] ? ", " : "");
		}
		if (x->ok && y->ok && d99 > o->threshold && y->p99 - x->p99 > o->min_delta_ns) {
			bad = 1;
			snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sp99", why[0] ? ", " : "");
		}
		regress |= bad;
		fprintf(out, "%-8s %9.1f -> %9.1f %+8.1f%% %9.1f -> %9.1f %+8.1f%% %9.1f -> %9.1f %+8.1f%%  %s%s\n",
			x->name, x->ops_s, y->ops_s, dt * 100, (double)x->p50 / 1e6,
			(double)y->p50 / 1e6, d50 * 100, (double)x->p99 / 1e6, (double)y->p99 / 1e6,
			d99 * 100, bad ? "REGRESSION: " : "", bad ? why : "");
	}
	fprintf(out, "\n%s\n", regress ? "regression: the new run is worse beyond the threshold"
				      : "no regression beyond the threshold");
	rc = regress;
done:
	free(a);
	free(b);
	return rc;
}
