/* struct fl_netem as JSON, the one encoding shared by the plan (plan.json,
 * `faultline plan --json`) and the agent protocol (net_apply requests). */
#ifndef FAULTLINE_NETEM_JSON_H
#define FAULTLINE_NETEM_JSON_H

#include <jansson.h>

#include "faultline/netem.h"

/* Adds the set parameters of ne to obj (keys: latency_ns, jitter_ns,
 * latency_correlation, distribution, loss, loss_correlation, duplicate,
 * duplicate_correlation, corrupt, corrupt_correlation, reorder,
 * reorder_correlation, gap, rate_bytes_per_s, limit). */
void fl_netem_to_json(const struct fl_netem *ne, json_t *obj);

/* The reverse; unknown keys are ignored, wrong types refused with a reason. */
int fl_netem_from_json(json_t *obj, struct fl_netem *ne, char *err, size_t errlen);

/* Combine b into a (parameters b sets win); used where faults meet on one link. */
void fl_netem_merge(struct fl_netem *a, const struct fl_netem *b);

#endif
