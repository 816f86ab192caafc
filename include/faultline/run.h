/* `faultline run`: one scenario end to end. The cluster comes up, the
 * system under test starts on every node (through the agents), the
 * workload drives it while the nemesis applies the plan, everything is
 * healed, the cluster goes down, and the run directory keeps the plan, the
 * history, the fault log and every node's log:
 *   runs/<scenario>-<UTC time>-<seed>/{run.json, scenario.yaml, plan.json,
 *        history.jsonl, faults.jsonl, status.jsonl, digests.jsonl,
 *        logs/<node>.log}
 * run.json says how to load the scenario again (file, seed, overrides).
 * Symbolic targets (leader, followers) are resolved when a fault fires,
 * from the nodes' own status, and the resolution is logged. Ctrl-C heals,
 * stops the workload and keeps the history. */
#ifndef FAULTLINE_RUN_H
#define FAULTLINE_RUN_H

#include <stdint.h>

#include "faultline/scenario.h"

struct fl_run_opts {
	const char *scenario_path; /* copied into the run directory */
	const char *runs_dir;      /* default "runs" */
	uint64_t seed;
	const char *agent_path;
	char *const *overrides;    /* the --set arguments, for run.json and the reproduce line */
	size_t noverrides;
};

/* Returns the exit status: 0 every enabled check passed, 1 a check
 * failed, 3 none failed but one could not decide, 2 configuration or
 * environment error (or a fault that could not be applied). Prints
 * progress, the table of checks (fl_run_verdict) and the reproduce line. */
int fl_run(const struct fl_scenario *s, const struct fl_run_opts *o);

#endif
