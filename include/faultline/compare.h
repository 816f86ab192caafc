/* `faultline compare BASE_RUN NEW_RUN`: throughput and latency per phase of
 * two run directories side by side, and whether the new one regressed.
 *
 * Phases: "run" (the whole workload), "steady" (no fault active), and one
 * per fault instance by its id ("f0.0": from its apply to its heal), so
 * two runs of one scenario line up phase by phase. Per phase: ok ops/s over
 * the phase's length, and p50 / p99 latency of its ok operations (final
 * reads left out).
 *
 * A regression: in some phase present in both runs, throughput fell by
 * more than threshold as a ratio (base / new > 1 + threshold; threshold
 * 0.10 = 10%), or p50 or p99 rose by more than threshold AND by more than
 * min_delta_ns (tiny latencies jitter by large ratios). */
#ifndef FAULTLINE_COMPARE_H
#define FAULTLINE_COMPARE_H

#include <stdint.h>
#include <stdio.h>

struct fl_compare_opts {
	double threshold;      /* 0.10 */
	int64_t min_delta_ns;  /* 1 ms */
};

/* Prints the table to out. Returns 0 no regression, 1 a regression, 2 a
 * run directory that cannot be read (err says why). */
int fl_compare_runs(const char *base, const char *new_run, const struct fl_compare_opts *o,
		    FILE *out, char *err, size_t errlen);

#endif
