/* netem parameters as faults carry them: the one definition shared by the
 * scenario model (harness) and the agent (injectors), so the agent is not
 * built against the scenario language. The distribution names are the
 * scenario language's spelling, one table for every user. */
#ifndef FAULTLINE_NETEM_H
#define FAULTLINE_NETEM_H

#include <stdint.h>

enum fl_distribution {
	FL_DIST_NONE, /* netem's default: uniform jitter without a table */
	FL_DIST_NORMAL,
	FL_DIST_PARETO,
	FL_DIST_PARETONORMAL,
	FL_DIST_UNIFORM,
	FL_DIST__N
};

/* netem parameters; a flag per field says which the fault sets. */
enum {
	FL_NETEM_LATENCY = 1 << 0,
	FL_NETEM_LOSS = 1 << 1,
	FL_NETEM_DUPLICATE = 1 << 2,
	FL_NETEM_CORRUPT = 1 << 3,
	FL_NETEM_REORDER = 1 << 4,
	FL_NETEM_RATE = 1 << 5,
};

struct fl_netem {
	unsigned set;                    /* FL_NETEM_* */
	int64_t latency_ns, jitter_ns;
	double latency_corr;             /* percent */
	enum fl_distribution distribution;
	double loss, loss_corr;
	double duplicate, duplicate_corr;
	double corrupt, corrupt_corr;
	double reorder, reorder_corr;
	uint32_t gap;
	uint64_t rate_bps;               /* bytes per second */
	uint32_t limit;                  /* queue length in packets, 0 = sized by the agent */
};

/* "none" "normal" "pareto" "paretonormal" "uniform" (netem_json.c). */
extern const char *const fl_distribution_names[FL_DIST__N];
const char *fl_distribution_to_string(enum fl_distribution v);
int fl_distribution_from_string(const char *s); /* -1 when unknown */

#endif
