/* The command layer's verdict step, shared by `run`, `check RUN_DIR` and
 * `report` (see check_cli.h): judge or read the verdict, print the table,
 * render the reports. The only place where a verdict meets the terminal. */
#include "faultline/check_cli.h"

#include <stdlib.h>
#include <string.h>

#include "faultline/report.h"
#include "faultline/verdict.h"

int fl_cli_verdict(const char *dir, const struct fl_scenario *s, int judge, FILE *out)
{
	struct fl_run_data d, *dp = NULL;
	char err[600];
	json_t *results;
	int rc;

	if (judge) {
		if (fl_verdict_judge(dir, s, &results, &d, err, sizeof(err)) < 0) {
			fprintf(out, "checks: %s\n", err);
			return 2;
		}
		dp = &d;
	} else if (!(results = fl_results_load(dir, err, sizeof(err)))) {
		fprintf(out, "%s\n", err);
		return 2;
	}
	fl_report_table(out, results);
	rc = fl_verdict_status(results);
	if (fl_reports_write(dir, s, results, dp, err, sizeof(err)) < 0) {
		fprintf(out, "reports: %s\n", err);
		rc = 2;
	}
	json_decref(results);
	if (dp)
		fl_run_data_release(dp);
	return rc;
}
