/* Reports for people: report.html of one run, index.html of many.
 *
 *  report.html  one self-contained file (inline CSS and SVG, no script, no
 *               network reference): header (scenario, seed, verdict,
 *               reproduce line, versions), the checks table, the faults, a
 *               timeline (fault windows shaded and labelled, the leader
 *               most nodes name, each client lane's ops coloured by
 *               outcome, ok ops/s, latency scatter with p50/p99 per
 *               bucket) and, for a linearizability violation, the ops of
 *               the failing window on their [invoke, complete] intervals
 *               with the first op no order could place in red. At most
 *               FL_REPORT_MAX_POINTS ops are drawn per chart (every k-th
 *               one beyond that, and the page says so); rates and
 *               quantiles use every op.
 *  index.html   a table of the run directories of a runs directory, newest
 *               first: scenario, start, seed, overall and per-check
 *               verdicts, a link to each report.html.
 *
 * Both are written atomically (temp file + rename) and read nothing but
 * the run's own files: a report can always be rendered again from them. */
#ifndef FAULTLINE_REPORT_HTML_H
#define FAULTLINE_REPORT_HTML_H

#include <jansson.h>
#include <stddef.h>

#include "faultline/invariants.h"
#include "faultline/scenario.h"

#define FL_REPORT_MAX_POINTS 20000

/* Write <dir>/report.html for the run in dir: s is the scenario as it ran,
 * results its results object (verdict.h), d its loaded files (NULL when
 * history.jsonl is gone: the checks and faults are drawn from results, and
 * the page says the timeline needs the history).
 * Returns 0, or -errno with a message in err. */
int fl_report_html_write(const char *dir, const struct fl_scenario *s, json_t *results,
			 const struct fl_run_data *d, char *err, size_t errlen);

/* Write <runs>/index.html listing every run directory in runs (a directory
 * holding run.json or results.json); runs without results.json are "not
 * judged". *nruns (may be NULL): how many were listed. Returns 0, or
 * -errno with a message in err. */
int fl_report_index_write(const char *runs, size_t *nruns, char *err, size_t errlen);

#endif
