/* harness/cli/: the command layer (cli.h lists its files), the only code that
 * prints a verdict.
 *
 * `faultline check FILE...`: the linearizability verdict of history files
 * (check_input.h reads them, linear.h decides).
 * Returns the exit status:
 * 0 all linearizable, 1 a violation, 2 unreadable input or usage, 3 unknown
 * (a time or memory limit was hit). */
#ifndef FAULTLINE_CHECK_CLI_H
#define FAULTLINE_CHECK_CLI_H

#include <stdio.h>

#include "faultline/linear.h"
#include "faultline/scenario.h"

int fl_cmd_check(int argc, char **argv);

/* The verdict step of the commands (cli_verdict.c): judge the run in dir
 * (judge != 0: `run`, `check RUN_DIR`) or read its results.json (`report`,
 * which never judges), print the table of checks to out, and write
 * junit.xml and report.html. Returns the verdict's exit status: 0 all
 * pass, 1 a check failed, 3 none failed but one could not decide; 2 the
 * run could not be read (never judged, for `report`) or a report not
 * written. */
int fl_cli_verdict(const char *dir, const struct fl_scenario *s, int judge, FILE *out);

/* One op as "line 12, process 3: cas 1 -> 4 (compare failed)", for reports. */
void fl_lin_describe_op(const struct fl_lin_history *h, size_t i, char *buf, size_t len);

/* The details of a result: per violating key, the op that could not be
 * linearized, the longest linearizable prefix and the window. */
void fl_lin_print_details(FILE *out, const struct fl_lin_history *h,
			  const struct fl_lin_result *r);

#endif
