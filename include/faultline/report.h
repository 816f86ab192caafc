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
 *
 * fl_run_verdict() judges a run directory: it runs the checks, prints the
 * table, writes both files. */
#ifndef FAULTLINE_REPORT_H
#define FAULTLINE_REPORT_H

#include <jansson.h>
#include <stdio.h>

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
 * results.json and junit.xml in dir. Returns the exit status: 0 all pass,
 * 1 a check failed, 3 none failed but one could not decide, 2 the run's
 * files cannot be read. */
int fl_run_verdict(const char *dir, const struct fl_scenario *s, FILE *out);

#endif
