/* What a run leaves for people and for CI, besides its raw files:
 *
 *  results.json  scenario, seed, versions, provider, per-check verdict,
 *                reason and figures, fault instances, op counts, latency
 *                percentiles; written atomically (temp file + rename).
 *  junit.xml     one <testsuite> per scenario, one <testcase> per check;
 *                FAIL -> <failure>, UNKNOWN -> <error> (the check could not
 *                decide: visible in CI, not counted as a broken system).
 *                Valid against tests/junit.xsd (the format Jenkins and
 *                GitLab read).
 *  report.html   the run drawn for people (report_html.h).
 *
 * fl_run_verdict() judges a run directory: it runs the checks, prints the
 * table, writes the three files. */
#ifndef FAULTLINE_REPORT_H
#define FAULTLINE_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "faultline/diag.h"
#include "faultline/invariants.h"
#include "faultline/scenario.h"

/* The results object of a run (see above). meta: run.json's content (may
 * be NULL). Returns a new reference. */
json_t *fl_results_build(const struct fl_scenario *s, json_t *meta,
			 const struct fl_check_result *res, size_t n, const struct fl_run_data *d);

/* Write obj to path atomically (path.tmp, fsync, rename). */
int fl_json_write_atomic(const char *path, json_t *obj, char *err, size_t errlen);

/* JUnit XML for one or more results objects (one testsuite each). */
int fl_junit_write(const char *path, json_t *const *results, size_t n, char *err,
		   size_t errlen);

/* Judge the run in dir (scenario s, as it ran): every enabled check,
 * printed to out as a table (check, PASS/FAIL/UNKNOWN, why); then
 * results.json, junit.xml and report.html in dir. Returns the exit status: 0 all pass,
 * 1 a check failed, 3 none failed but one could not decide, 2 the run's
 * files cannot be read. */
int fl_run_verdict(const char *dir, const struct fl_scenario *s, FILE *out);

/* The scenario of the run directory dir as it ran: scenario.yaml with the
 * --set overrides recorded in run.json. Sets *out (and *meta, when not
 * NULL: run.json's content, a new reference) on success. On failure d
 * holds the scenario's messages, or none when run.json is missing
 * (-ENOENT) or unreadable (-EINVAL). */
int fl_run_scenario_load(const char *dir, struct fl_diags *d, struct fl_scenario **out,
			 json_t **meta);

#endif
