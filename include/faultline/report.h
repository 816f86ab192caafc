/* harness/reports/: rendering only, from results.json and the run's files (report,
 * report_html, compare).
 *
 * What a run leaves for people and for CI, rendered from its results
 * object (verdict.h) and its files; nothing here runs a check:
 *
 *  the table     check, PASS/FAIL/UNKNOWN, why: printed by the command
 *                layer with fl_report_table.
 *  junit.xml     one <testsuite> per scenario, one <testcase> per check;
 *                FAIL -> <failure>, UNKNOWN -> <error> (the check could not
 *                decide: visible in CI, not counted as a broken system).
 *                Valid against tests/junit.xsd (the format Jenkins and
 *                GitLab read).
 *  report.html   the run drawn for people (report_html.h). */
#ifndef FAULTLINE_REPORT_H
#define FAULTLINE_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "faultline/invariants.h"
#include "faultline/scenario.h"

/* JUnit XML for one or more results objects (one testsuite each). */
int fl_junit_write(const char *path, json_t *const *results, size_t n, char *err,
		   size_t errlen);

/* The table of checks of a results object, to out, then its lost nodes. */
void fl_report_table(FILE *out, json_t *results);

/* One lost node of results.json "lost" for people: "n2 at 8.1s: why". */
void fl_report_lost_text(json_t *lost, char *buf, size_t len);

/* junit.xml and report.html of the run in dir from its results object. s:
 * the scenario as it ran; d: its loaded files, or NULL to read them here
 * (a run whose history.jsonl is gone still gets its checks and faults;
 * the page says the timeline needs the history). 0, or -errno with a
 * message in err. */
int fl_reports_write(const char *dir, const struct fl_scenario *s, json_t *results,
		     const struct fl_run_data *d, char *err, size_t errlen);

#endif
