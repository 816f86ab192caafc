/* What a run leaves for people and for CI, rendered from results.json
 * (see report.h): the console table, junit.xml, and report.html through
 * report_html.c. Never judges: verdict.c does, once. */
#include "faultline/report.h"

#include "faultline/report_html.h"
#include "faultline/util.h"
#include "faultline/verdict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static const char *jstr(json_t *o, const char *k, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : dflt;
}

int fl_junit_write(const char *path, json_t *const *results, size_t n, char *err,
		   size_t errlen)
{
	char tmp[4200];
	size_t tests = 0, failures = 0, errors = 0;
	FILE *f;
	int rc;

	for (size_t i = 0; i < n; i++) {
		size_t k;
		json_t *c;
		json_array_foreach(json_object_get(results[i], "checks"), k, c) {
			tests++;
			failures += !strcmp(jstr(c, "verdict", ""), "FAIL");
			errors += !strcmp(jstr(c, "verdict", ""), "UNKNOWN");
		}
	}
	if ((rc = fl_atomic_open(path, tmp, sizeof(tmp), &f, err, errlen)) < 0)
		return rc;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"faultline\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n",
		tests, failures, errors);
	for (size_t i = 0; i < n; i++) {
		json_t *r = results[i], *checks = json_object_get(r, "checks"), *c;
		size_t k, sf = 0, se = 0;
		char name[300];

		json_array_foreach(checks, k, c) {
			sf += !strcmp(jstr(c, "verdict", ""), "FAIL");
			se += !strcmp(jstr(c, "verdict", ""), "UNKNOWN");
		}
		snprintf(name, sizeof(name), "%s", jstr(r, "scenario", "scenario"));
		fprintf(f, "  <testsuite name=\"");
		fl_markup_text(f, name);
		fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\" time=\"%.3f\"",
			json_array_size(checks), sf, se,
			json_number_value(json_object_get(r, "duration_s")));
		if (json_string_value(json_object_get(r, "started"))) {
			/* JUnit wants a timestamp without a zone: the UTC time, "Z" dropped */
			char ts[32];
			snprintf(ts, sizeof(ts), "%s", jstr(r, "started", ""));
			if (ts[0] && ts[strlen(ts) - 1] == 'Z')
				ts[strlen(ts) - 1] = 0;
			fprintf(f, " timestamp=\"");
			fl_markup_text(f, ts);
			fprintf(f, "\"");
		}
		fprintf(f, ">\n    <properties>\n");
		{
			static const char *const props[] = { "file", "version", "provider", "accel",
							     "system" };
			for (size_t p = 0; p < sizeof(props) / sizeof(props[0]); p++) {
				if (!json_string_value(json_object_get(r, props[p])))
					continue;
				fprintf(f, "      <property name=\"%s\" value=\"", props[p]);
				fl_markup_text(f, jstr(r, props[p], ""));
				fprintf(f, "\"/>\n");
			}
			if (json_is_integer(json_object_get(r, "seed")))
				fprintf(f, "      <property name=\"seed\" value=\"%" JSON_INTEGER_FORMAT
					   "\"/>\n", json_integer_value(json_object_get(r, "seed")));
		}
		{
			json_t *l;
			json_array_foreach(json_object_get(r, "lost"), k, l) {
				char text[400];
				fl_report_lost_text(l, text, sizeof(text));
				fprintf(f, "      <property name=\"lost_node\" value=\"");
				fl_markup_text(f, text);
				fprintf(f, "\"/>\n");
			}
		}
		fprintf(f, "    </properties>\n");
		json_array_foreach(checks, k, c) {
			const char *v = jstr(c, "verdict", "");
			fprintf(f, "    <testcase classname=\"faultline.");
			fl_markup_text(f, name);
			fprintf(f, "\" name=\"");
			fl_markup_text(f, jstr(c, "name", "?"));
			fprintf(f, "\" time=\"0\"");
			if (!strcmp(v, "PASS")) {
				fprintf(f, "/>\n");
				continue;
			}
			fprintf(f, ">\n      <%s message=\"", !strcmp(v, "FAIL") ? "failure" : "error");
			fl_markup_text(f, jstr(c, "why", ""));
			fprintf(f, "\" type=\"%s\">", v);
			fl_markup_text(f, jstr(c, "why", ""));
			fprintf(f, "</%s>\n    </testcase>\n", !strcmp(v, "FAIL") ? "failure" : "error");
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	return fl_atomic_commit(f, tmp, path, err, errlen);
}

/* The linearizable check of a run: its history through the checker
 * (linear.h), with the model the history implies and the scenario's
 * timeout. */
void fl_report_lost_text(json_t *lost, char *buf, size_t len)
{
	snprintf(buf, len, "%s at %.1fs: %s", jstr(lost, "node", "?"),
		 json_number_value(json_object_get(lost, "t_s")), jstr(lost, "why", "?"));
}

void fl_report_table(FILE *out, json_t *results)
{
	size_t idx;
	json_t *c;

	fprintf(out, "\n%-16s %-8s %s\n", "check", "verdict", "why");
	json_array_foreach(json_object_get(results, "checks"), idx, c)
		fprintf(out, "%-16s %-8s %s\n", jstr(c, "name", "?"), jstr(c, "verdict", "?"),
			jstr(c, "why", ""));
	json_array_foreach(json_object_get(results, "lost"), idx, c) {
		char text[400];
		fl_report_lost_text(c, text, sizeof(text));
		fprintf(out, "lost node        %s\n", text);
	}
}

int fl_reports_write(const char *dir, const struct fl_scenario *s, json_t *results,
		     const struct fl_run_data *d, char *err, size_t errlen)
{
	char path[4200];
	int r;

	struct fl_run_data own;
	const char *nodes[FL_MAX_NODES];
	char e[300];

	snprintf(path, sizeof(path), "%s/junit.xml", dir);
	if ((r = fl_junit_write(path, &results, 1, err, errlen)) < 0)
		return r;
	if (d)
		return fl_report_html_write(dir, s, results, d, err, errlen);
	/* the run's files, as far as they are still there */
	for (size_t i = 0; i < s->cluster.nnodes; i++)
		nodes[i] = s->cluster.nodes[i];
	if (fl_run_data_load(dir, nodes, s->cluster.nnodes, &own, e, sizeof(e)) < 0)
		return fl_report_html_write(dir, s, results, NULL, err, errlen);
	r = fl_report_html_write(dir, s, results, &own, err, errlen);
	fl_run_data_release(&own);
	return r;
}
