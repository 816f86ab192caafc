/* The JSON form of netem parameters, shared by the plan and the agent. */
#include "faultline/netem_json.h"
#include "faultline/util.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

const char *const fl_distribution_names[FL_DIST__N] = { "none", "normal", "pareto",
							"paretonormal", "uniform" };

const char *fl_distribution_to_string(enum fl_distribution v)
{
	return fl_enum_name(fl_distribution_names, FL_DIST__N, (unsigned)v);
}

int fl_distribution_from_string(const char *s)
{
	return fl_enum_index(fl_distribution_names, FL_DIST__N, s);
}

void fl_netem_to_json(const struct fl_netem *ne, json_t *o)
{
	if (ne->set & FL_NETEM_LATENCY) {
		json_object_set_new(o, "latency_ns", json_integer(ne->latency_ns));
		json_object_set_new(o, "jitter_ns", json_integer(ne->jitter_ns));
		json_object_set_new(o, "latency_correlation", json_real(ne->latency_corr));
		json_object_set_new(o, "distribution",
				    json_string(fl_distribution_to_string(ne->distribution)));
	}
	if (ne->set & FL_NETEM_LOSS) {
		json_object_set_new(o, "loss", json_real(ne->loss));
		json_object_set_new(o, "loss_correlation", json_real(ne->loss_corr));
	}
	if (ne->set & FL_NETEM_DUPLICATE) {
		json_object_set_new(o, "duplicate", json_real(ne->duplicate));
		json_object_set_new(o, "duplicate_correlation", json_real(ne->duplicate_corr));
	}
	if (ne->set & FL_NETEM_CORRUPT) {
		json_object_set_new(o, "corrupt", json_real(ne->corrupt));
		json_object_set_new(o, "corrupt_correlation", json_real(ne->corrupt_corr));
	}
	if (ne->set & FL_NETEM_REORDER) {
		json_object_set_new(o, "reorder", json_real(ne->reorder));
		json_object_set_new(o, "reorder_correlation", json_real(ne->reorder_corr));
		json_object_set_new(o, "gap", json_integer(ne->gap));
	}
	if (ne->set & FL_NETEM_RATE)
		json_object_set_new(o, "rate_bytes_per_s", json_integer((json_int_t)ne->rate_bps));
	if (ne->limit)
		json_object_set_new(o, "limit", json_integer(ne->limit));
}

static int num(json_t *o, const char *key, double *out, int *present, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_number(v)) {
		snprintf(err, errlen, "'%s' must be a number", key);
		return -EINVAL;
	}
	*out = json_number_value(v);
	return 0;
}

int fl_netem_from_json(json_t *o, struct fl_netem *ne, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		unsigned flag;
		size_t off;
		int kind; /* 0 double, 1 int64 ns, 2 uint32, 3 uint64 */
	} f[] = {
		{ "latency_ns", FL_NETEM_LATENCY, offsetof(struct fl_netem, latency_ns), 1 },
		{ "jitter_ns", 0, offsetof(struct fl_netem, jitter_ns), 1 },
		{ "latency_correlation", 0, offsetof(struct fl_netem, latency_corr), 0 },
		{ "loss", FL_NETEM_LOSS, offsetof(struct fl_netem, loss), 0 },
		{ "loss_correlation", 0, offsetof(struct fl_netem, loss_corr), 0 },
		{ "duplicate", FL_NETEM_DUPLICATE, offsetof(struct fl_netem, duplicate), 0 },
		{ "duplicate_correlation", 0, offsetof(struct fl_netem, duplicate_corr), 0 },
		{ "corrupt", FL_NETEM_CORRUPT, offsetof(struct fl_netem, corrupt), 0 },
		{ "corrupt_correlation", 0, offsetof(struct fl_netem, corrupt_corr), 0 },
		{ "reorder", FL_NETEM_REORDER, offsetof(struct fl_netem, reorder), 0 },
		{ "reorder_correlation", 0, offsetof(struct fl_netem, reorder_corr), 0 },
		{ "gap", 0, offsetof(struct fl_netem, gap), 2 },
		{ "rate_bytes_per_s", FL_NETEM_RATE, offsetof(struct fl_netem, rate_bps), 3 },
		{ "limit", 0, offsetof(struct fl_netem, limit), 2 },
	};
	struct fl_netem n = { 0 };
	json_t *d;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "'netem' must be an object");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		double v = 0;
		int present;
		char *p = (char *)&n + f[i].off;
		if (num(o, f[i].key, &v, &present, err, errlen) < 0)
			return -EINVAL;
		if (!present)
			continue;
		if (v < 0 || (f[i].kind == 0 && v > 100)) {
			snprintf(err, errlen, "'%s' out of range", f[i].key);
			return -ERANGE;
		}
		n.set |= f[i].flag;
		switch (f[i].kind) {
		case 0:
			*(double *)p = v;
			break;
		case 1:
			*(int64_t *)p = (int64_t)v;
			break;
		case 2:
			*(uint32_t *)p = (uint32_t)v;
			break;
		default:
			*(uint64_t *)p = (uint64_t)v;
			break;
		}
	}
	if ((d = json_object_get(o, "distribution"))) {
		int v = fl_distribution_from_string(json_string_value(d));
		if (v < 0) {
			snprintf(err, errlen, "unknown distribution");
			return -EINVAL;
		}
		n.distribution = (enum fl_distribution)v;
	}
	if (!n.set) {
		snprintf(err, errlen, "'netem' sets nothing (latency_ns, loss, duplicate, corrupt, "
				      "reorder or rate_bytes_per_s)");
		return -EINVAL;
	}
	*ne = n;
	return 0;
}

void fl_netem_merge(struct fl_netem *a, const struct fl_netem *b)
{
	if (b->set & FL_NETEM_LATENCY) {
		a->latency_ns = b->latency_ns;
		a->jitter_ns = b->jitter_ns;
		a->latency_corr = b->latency_corr;
		a->distribution = b->distribution;
	}
	if (b->set & FL_NETEM_LOSS) {
		a->loss = b->loss;
		a->loss_corr = b->loss_corr;
	}
	if (b->set & FL_NETEM_DUPLICATE) {
		a->duplicate = b->duplicate;
		a->duplicate_corr = b->duplicate_corr;
	}
	if (b->set & FL_NETEM_CORRUPT) {
		a->corrupt = b->corrupt;
		a->corrupt_corr = b->corrupt_corr;
	}
	if (b->set & FL_NETEM_REORDER) {
		a->reorder = b->reorder;
		a->reorder_corr = b->reorder_corr;
		a->gap = b->gap;
	}
	if (b->set & FL_NETEM_RATE)
		a->rate_bps = b->rate_bps;
	if (b->limit > a->limit)
		a->limit = b->limit;
	a->set |= b->set;
}
