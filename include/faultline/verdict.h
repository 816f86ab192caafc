/* harness/checkers/: judging (linear, models, check_input, invariants, verdict).
 *
 * The verdict of a run directory, judged once. fl_verdict_judge runs the
 * checks the scenario enables (linearizable through linear.h, the others
 * through invariants.h) over the run's files, applies the evidence rule
 * (a check with nothing or too little to judge is UNKNOWN, never PASS; a
 * scenario with no checks gives one UNKNOWN "checks" entry) and writes
 * results.json. Every report -- the console table, junit.xml, report.html,
 * index.html, compare -- renders from results.json and the run's files and
 * never runs a check again.
 *
 * results.json: scenario, seed, versions, provider, accel, system,
 * workload, nodes, duration; per check its verdict, why and figures; the
 * overall verdict; fault instances; op counts and latency percentiles;
 * damage (lines of the run's files that could not be read). Written
 * atomically. Nothing here prints. */
#ifndef FAULTLINE_VERDICT_H
#define FAULTLINE_VERDICT_H

#include <jansson.h>

#include "faultline/diag.h"
#include "faultline/invariants.h"
#include "faultline/scenario.h"

/* Judge the run in dir (s: the scenario as it ran) and write
 * dir/results.json. On success *results is the new results object (a new
 * reference) and, when keep is not NULL, *keep the run's loaded files
 * (release with fl_run_data_release; its node names are s's, so s must
 * outlive it). -errno with a message in err when
 * the run's history cannot be read or results.json not written. */
int fl_verdict_judge(const char *dir, const struct fl_scenario *s, json_t **results,
		     struct fl_run_data *keep, char *err, size_t errlen);

/* The exit status a results object means: 0 every check passed, 1 one
 * failed, 3 none failed but one could not decide, 2 not a results object. */
int fl_verdict_status(json_t *results);

/* dir/results.json as written by fl_verdict_judge; NULL with a message in
 * err when it is missing (the run was never judged) or unreadable. */
json_t *fl_results_load(const char *dir, char *err, size_t errlen);

/* The results object of a run (see above). meta: run.json's content (may
 * be NULL). Returns a new reference. */
json_t *fl_results_build(const struct fl_scenario *s, json_t *meta,
			 const struct fl_check_result *res, size_t n, const struct fl_run_data *d);

/* The scenario of the run directory dir as it ran: scenario.yaml with the
 * --set overrides recorded in run.json. Sets *out (and *meta, when not
 * NULL: run.json's content, a new reference) on success. On failure d
 * holds the scenario's messages, or none when run.json is missing
 * (-ENOENT) or unreadable (-EINVAL). */
int fl_run_scenario_load(const char *dir, struct fl_diags *d, struct fl_scenario **out,
			 json_t **meta);

#endif
