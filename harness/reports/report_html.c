/* report.html and index.html (see report_html.h): drawn with fprintf, SVG
 * inline. Never emits a script, a network address or an unescaped byte of
 * the run's data, and never writes anything but the one file it renders. */
#include "faultline/report_html.h"
#include "faultline/report.h"
#include "faultline/util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

/* --- output helpers -------------------------------------------------------- */


/* A relative link to a path segment: bytes outside the unreserved set
 * percent-encoded, so a directory name can never become a scheme or leave
 * the attribute. */
static void esc_url(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : dflt;
}

/* The CSS class of a verdict word (badges). */
static const char *verdict_class(const char *v)
{
	if (!strcmp(v, "PASS"))
		return "pass";
	if (!strcmp(v, "FAIL"))
		return "fail";
	if (!strcmp(v, "UNKNOWN"))
		return "unknown";
	return "none";
}

static void badge(FILE *f, const char *v, const char *title)
{
	fprintf(f, "<span class=\"badge %s\"", verdict_class(v));
	if (title && *title) {
		fputs(" title=\"", f);
		fl_markup_text(f, title);
		fputc('"', f);
	}
	fputc('>', f);
	fl_markup_text(f, v);
	fputs("</span>", f);
}

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n"
	"h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;"
	"border-bottom:1px solid #ddd;padding-bottom:4px}\n"
	"table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;"
	"text-align:left;vertical-align:top}th{background:#f4f4f4}\n"
	"table.meta td:first-child{color:#666;white-space:nowrap}\n"
	"code,pre{font:12px/1.4 ui-monospace,monospace;background:#f4f4f4;padding:2px 4px}\n"
	"pre{padding:8px;overflow-x:auto}\n"
	".badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;"
	"font-weight:600;font-size:12px}\n"
	".badge.pass{background:#1e7b3a}.badge.fail{background:#c62828}"
	".badge.unknown{background:#b26a00}.badge.none{background:#888}\n"
	"h1 .badge{font-size:16px;vertical-align:middle}\n"
	".note{color:#666;font-size:12px}\n"
	"svg{display:block;margin:8px 0}svg text{font:11px sans-serif;fill:#333}\n"
	"svg .axis{stroke:#999;stroke-width:1}svg .grid{stroke:#eee;stroke-width:1}\n"
	"svg .ok{fill:#3b8f4f}svg .fl{fill:#d62728}svg .in{fill:#e6a019}\n"
	"svg .fw{fill:#ff7f0e;fill-opacity:.13;stroke:#ff7f0e;stroke-opacity:.6;"
	"stroke-dasharray:3 2}\n"
	"svg text.fwl{fill:#b35900;font-weight:600}\n"
	"svg .thr{fill:none;stroke:#3b8f4f;stroke-width:1.5}"
	"svg .thf{fill:none;stroke:#d62728;stroke-width:1;stroke-dasharray:3 2}\n"
	"svg .p50{fill:none;stroke:#1f3a93;stroke-width:1.5}"
	"svg .p99{fill:none;stroke:#8e24aa;stroke-width:1.5}\n"
	"svg .viol{fill:none;stroke:#d62728;stroke-width:1.5}\n"
	"svg .bad{fill:#d62728;stroke:#7f0000;stroke-width:1.5}"
	"svg text.badl{fill:#d62728;font-weight:700;stroke:#fff;stroke-width:3px;"
	"paint-order:stroke}\n"
	"svg .unk{fill-opacity:.35;stroke-dasharray:4 3;stroke:#555}\n"
	".sw{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;"
	"vertical-align:middle}\n";

/* --- the run's data, prepared for drawing ---------------------------------- */

#define VW 1160.0 /* svg width */
#define ML 110.0  /* left margin: row labels */
#define MR 24.0
#define PW (VW - ML - MR)

static const char *const node_colours[] = { "#4e79a7", "#59a14f", "#9c755f", "#edc948",
					    "#b07aa1", "#76b7b2", "#ff9da7", "#bab0ac" };

struct fault_win {
	const char *id, *kind;
	double start, end; /* seconds; end = run end when never healed */
	int healed;
	int row;           /* of its label: labels never overlap */
};

struct view {
	const struct fl_scenario *s;
	const struct fl_run_data *d;
	json_t *results;
	double tmax;           /* seconds: the x axis ends here */
	struct fault_win *fw;
	size_t nfw;
	int label_rows;
	size_t nops;           /* non-final ops */
	size_t stride;         /* ops drawn: every stride-th */
	double vmin, vmax;     /* the violation window's time span (seconds), vmax < 0: none */
	int no_history;        /* history.jsonl is gone: checks and faults only */
};

static double xs(const struct view *v, double t)
{
	if (t < 0)
		t = 0;
	if (t > v->tmax)
		t = v->tmax;
	return ML + t / v->tmax * PW;
}

static double sec(int64_t ns)
{
	return (double)ns / 1e9;
}

/* A step giving at most maxticks ticks over range: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int maxticks)
{
	static const double m[] = { 1, 2, 5 };
	double base;

	if (!(range > 0))
		return 1;
	base = pow(10, floor(log10(range / maxticks)));
	for (;;) {
		for (size_t k = 0; k < 3; k++)
			if (base * m[k] * maxticks >= range)
				return base * m[k];
		base *= 10;
	}
}

static void view_init(struct view *v, const struct fl_scenario *s, json_t *results,
		      const struct fl_run_data *d)
{
	json_t *faults = json_object_get(results, "faults"), *o;
	size_t idx;

	memset(v, 0, sizeof(*v));
	v->s = s;
	v->d = d;
	v->results = results;
	v->vmax = -1;
	v->tmax = sec(s->duration_ns);
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *op = &d->ops.v[i];
		if (op->final)
			continue;
		v->nops++;
		if (sec(op->invoke_ns) > v->tmax)
			v->tmax = sec(op->invoke_ns);
		if (op->complete_ns >= 0 && sec(op->complete_ns) > v->tmax)
			v->tmax = sec(op->complete_ns);
	}
	v->fw = calloc(json_array_size(faults) + 1, sizeof(*v->fw));
	json_array_foreach(faults, idx, o) {
		struct fault_win *w;
		if (!v->fw)
			break;
		w = &v->fw[v->nfw++];
		w->id = jstr(o, "id", "?");
		w->kind = jstr(o, "kind", "?");
		w->start = json_number_value(json_object_get(o, "start_s"));
		w->healed = json_is_number(json_object_get(o, "end_s"));
		w->end = w->healed ? json_number_value(json_object_get(o, "end_s")) : -1;
		if (w->start > v->tmax)
			v->tmax = w->start;
		if (w->end > v->tmax)
			v->tmax = w->end;
	}
	for (size_t i = 0; i < v->nfw; i++)
		if (!v->fw[i].healed)
			v->fw[i].end = v->tmax;
	if (v->tmax < 1)
		v->tmax = 1;
	{
		double row_end[8] = { 0 };
		for (size_t i = 0; i < v->nfw; i++) {
			struct fault_win *w = &v->fw[i];
			double x = xs(v, w->start);
			int r = 0;
			while (r < 7 && row_end[r] > x)
				r++;
			row_end[r] = x + 6.5 * (double)(strlen(w->id) + strlen(w->kind) + 2) +
				     (w->healed ? 0 : 80);
			w->row = r;
			if (r + 1 > v->label_rows)
				v->label_rows = r + 1;
		}
	}
	v->stride = v->nops > FL_REPORT_MAX_POINTS
			    ? (v->nops + FL_REPORT_MAX_POINTS - 1) / FL_REPORT_MAX_POINTS
			    : 1;
}

/* --- header, checks, faults -------------------------------------------------- */

/* The reproduce line, as `faultline run` prints it. */
static void reproduce(FILE *f, json_t *r)
{
	json_t *ov = json_object_get(r, "overrides"), *o;
	size_t idx;

	fputs("faultline run ", f);
	fl_markup_text(f, jstr(r, "file", "SCENARIO.yaml"));
	if (json_is_integer(json_object_get(r, "seed")))
		fprintf(f, " --seed %" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(r, "seed")));
	json_array_foreach(ov, idx, o) {
		const char *s = json_string_value(o);
		if (!s)
			continue;
		fputs(" --set ", f);
		if (!strpbrk(s, " \t'\"$`\\;&|<>()*?[]{}~#!")) {
			fl_markup_text(f, s);
			continue;
		}
		fputs("&#39;", f);
		for (; *s; s++) {
			char c[2] = { *s, 0 };
			if (*s == '\'')
				fputs("&#39;\\&#39;&#39;", f);
			else
				fl_markup_text(f, c);
		}
		fputs("&#39;", f);
	}
}

static void meta_row(FILE *f, const char *name, const char *value)
{
	fprintf(f, "<tr><td>%s</td><td>", name);
	fl_markup_text(f, value);
	fputs("</td></tr>\n", f);
}

/* results.json "clients" (exec): the programs' start-ups and restarts, in
 * one line of the header. */
static void clients_summary(FILE *f, json_t *clients)
{
	json_t *c;
	size_t idx, n = 0, ready = 0, gave_up = 0;
	json_int_t restarts = 0, deaths = 0, kills = 0, backoffs = 0;
	double slowest = 0, sum = 0;
	int slow = -1;
	char buf[400];

	json_array_foreach(clients, idx, c) {
		json_t *su = json_object_get(c, "startup_ms");
		n++;
		restarts += json_integer_value(json_object_get(c, "restarts"));
		deaths += json_integer_value(json_object_get(c, "deaths"));
		kills += json_integer_value(json_object_get(c, "kills"));
		backoffs += json_integer_value(json_object_get(c, "backoffs"));
		gave_up += json_object_get(c, "failed") != NULL;
		if (json_is_object(su)) {
			double first = json_number_value(json_object_get(su, "first"));
			ready++;
			sum += first;
			if (first >= slowest) {
				slowest = first;
				slow = (int)json_integer_value(json_object_get(c, "client"));
			}
		}
	}
	if (!n)
		return;
	if (ready)
		snprintf(buf, sizeof(buf), "%zu of %zu ready before the clock; first start-up mean "
			 "%.2f s, slowest %.2f s (client %d); %" JSON_INTEGER_FORMAT " restarts (%"
			 JSON_INTEGER_FORMAT " died, %" JSON_INTEGER_FORMAT " killed), %"
			 JSON_INTEGER_FORMAT " back-offs; %zu gave up", ready, n, sum / (double)ready / 1e3,
			 slowest / 1e3, slow, restarts, deaths, kills, backoffs, gave_up);
	else
		snprintf(buf, sizeof(buf), "none of %zu ever ready; %" JSON_INTEGER_FORMAT
			 " programs started; %zu gave up", n, restarts + (json_int_t)n, gave_up);
	meta_row(f, "clients", buf);
}

static void section_header(FILE *f, const struct view *v)
{
	json_t *r = v->results, *w = json_object_get(r, "workload"), *nodes, *o;
	json_t *ops = json_object_get(r, "ops"), *lat = json_object_get(r, "latency_ms");
	char buf[1024];
	size_t idx, at = 0;

	fputs("<header><h1>", f);
	fl_markup_text(f, jstr(r, "scenario", v->s->name));
	fputc(' ', f);
	badge(f, jstr(r, "verdict", "UNKNOWN"), NULL);
	fputs("</h1>\n<table class=\"meta\">\n", f);
	meta_row(f, "started", jstr(r, "started", "?"));
	if (json_is_integer(json_object_get(r, "seed"))) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(r, "seed")));
		meta_row(f, "seed", buf);
	}
	meta_row(f, "scenario file", jstr(r, "file", "?"));
	snprintf(buf, sizeof(buf), "%s, %s workload, %d clients, %g ops/s, %d keys, %.0f s",
		 jstr(r, "system", "?"), jstr(w, "type", "?"),
		 (int)json_integer_value(json_object_get(w, "clients")),
		 json_number_value(json_object_get(w, "rate")),
		 (int)json_integer_value(json_object_get(w, "keys")),
		 json_number_value(json_object_get(r, "duration_s")));
	meta_row(f, "system", buf);
	nodes = json_object_get(r, "nodes");
	buf[0] = 0;
	json_array_foreach(nodes, idx, o)
		if (at < sizeof(buf) - 40)
			at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", idx ? " " : "",
					       json_string_value(o) ?: "?");
	snprintf(buf + at, sizeof(buf) - at, " (provider %s)", jstr(r, "provider", "?"));
	meta_row(f, "nodes", buf);
	if (ops) {
		snprintf(buf, sizeof(buf),
			 "%" JSON_INTEGER_FORMAT " invoked: %" JSON_INTEGER_FORMAT " ok, %" JSON_INTEGER_FORMAT
			 " fail, %" JSON_INTEGER_FORMAT " info; %" JSON_INTEGER_FORMAT " final reads",
			 json_integer_value(json_object_get(ops, "total")),
			 json_integer_value(json_object_get(ops, "ok")),
			 json_integer_value(json_object_get(ops, "fail")),
			 json_integer_value(json_object_get(ops, "info")),
			 json_integer_value(json_object_get(ops, "final_reads")));
		meta_row(f, "operations", buf);
	}
	if (lat) {
		snprintf(buf, sizeof(buf), "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
			 json_number_value(json_object_get(lat, "p50")),
			 json_number_value(json_object_get(lat, "p90")),
			 json_number_value(json_object_get(lat, "p99")),
			 json_number_value(json_object_get(lat, "max")));
		meta_row(f, "latency (ok ops)", buf);
	}
	clients_summary(f, json_object_get(r, "clients"));
	snprintf(buf, sizeof(buf), "run by faultline %s, checked by %s, rendered by %s",
		 jstr(r, "version", "?"), jstr(r, "checked_by", "?"), FL_VERSION);
	meta_row(f, "versions", buf);
	fputs("<tr><td>reproduce</td><td><code>", f);
	reproduce(f, r);
	fputs("</code></td></tr>\n</table></header>\n", f);
}

/* Lost or garbled lines of the run's files, said above the checks they
 * made undecided (results.json "damage"). */
static void damage_note(FILE *f, json_t *dm)
{
	json_t *h = json_object_get(dm, "history");
	static const char *const hist[][2] = {
		{ "bad_lines", "history lines unreadable" },
		{ "orphan_completions", "completions without their invoke line" },
		{ "repeated", "op lines repeated" },
		{ "dropped_ops", "ops dropped (no line at all)" },
	};
	static const char *const other[][2] = {
		{ "faults_lines", "lines of faults.jsonl unreadable" },
		{ "status_lines", "lines of status.jsonl unreadable" },
		{ "digests_lines", "lines of digests.jsonl unreadable" },
	};
	int any = 0;

#define NOTE(obj, key, text)                                                                   \
	do {                                                                                   \
		json_int_t c_ = json_integer_value(json_object_get((obj), (key)));             \
		if (!c_)                                                               \
			break;                                                                 \
		fputs(any++ ? ", " : "<p class=\"note damage\"><b>Damaged evidence:</b> ", f);    \
		fprintf(f, "%" JSON_INTEGER_FORMAT " %s", c_, (text));                         \
	} while (0)
	for (size_t i = 0; i < sizeof(hist) / sizeof(hist[0]); i++)
		NOTE(h, hist[i][0], hist[i][1]);
	if (json_is_true(json_object_get(h, "torn_tail")))
		fputs(any++ ? ", the last line torn" : "<p class=\"note damage\"><b>Damaged "
						     "evidence:</b> the last line torn", f);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		NOTE(dm, other[i][0], other[i][1]);
#undef NOTE
	if (any)
		fputs(". Checks that read these files say UNKNOWN: a damaged line can hide an "
		      "outcome.</p>\n", f);
}

/* Each workload client whose programs restarted or that gave up: why, and
 * where its programs' stderr is. Nothing when all went well. */
static void section_clients(FILE *f, const struct view *v)
{
	json_t *clients = json_object_get(v->results, "clients"), *c;
	size_t idx;
	int any = 0;

	json_array_foreach(clients, idx, c) {
		json_t *su = json_object_get(c, "startup_ms");
		const char *failed = json_string_value(json_object_get(c, "failed"));
		if (!failed && !json_integer_value(json_object_get(c, "restarts")))
			continue;
		if (!any++)
			fputs("<h2>Clients</h2>\n<p class=\"note\">Workload clients whose programs "
			      "restarted or that gave up (all: <code>clients.json</code>).</p>\n"
			      "<table><tr><th>client</th><th>node</th><th>ok / invoked</th>"
			      "<th>start-ups</th><th>restarts</th><th>back-offs</th><th>stderr</th>"
			      "<th>gave up</th></tr>\n", f);
		fprintf(f, "<tr><td>%d</td><td>", (int)json_integer_value(json_object_get(c, "client")));
		fl_markup_text(f, jstr(c, "node", "?"));
		fprintf(f, "</td><td>%" JSON_INTEGER_FORMAT " / %" JSON_INTEGER_FORMAT "</td><td>",
			json_integer_value(json_object_get(c, "ok")),
			json_integer_value(json_object_get(c, "invoked")));
		if (json_is_object(su))
			fprintf(f, "%d: first %.2f s, max %.2f s",
				(int)json_integer_value(json_object_get(su, "count")),
				json_number_value(json_object_get(su, "first")) / 1e3,
				json_number_value(json_object_get(su, "max")) / 1e3);
		else
			fputs("none", f);
		fprintf(f, "</td><td>%" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT " died, %"
			JSON_INTEGER_FORMAT " killed)</td><td>%" JSON_INTEGER_FORMAT " (%.1f s)</td><td>",
			json_integer_value(json_object_get(c, "restarts")),
			json_integer_value(json_object_get(c, "deaths")),
			json_integer_value(json_object_get(c, "kills")),
			json_integer_value(json_object_get(c, "backoffs")),
			json_number_value(json_object_get(c, "backoff_s")));
		fl_markup_text(f, jstr(c, "stderr", ""));
		fputs("</td><td>", f);
		fl_markup_text(f, failed ? failed : "");
		fputs("</td></tr>\n", f);
	}
	if (any)
		fputs("</table>\n", f);
}

static void section_checks(FILE *f, const struct view *v)
{
	json_t *checks = json_object_get(v->results, "checks"), *c;
	size_t idx;

	fputs("<h2>Checks</h2>\n", f);
	damage_note(f, json_object_get(v->results, "damage"));
	json_array_foreach(checks, idx, c)
		if (!strcmp(jstr(c, "name", ""), "workload")) {
			fputs("<p class=\"note damage\"><b>Workload collapsed:</b> ", f);
			fl_markup_text(f, jstr(c, "why", ""));
			fputs(". The other checks judged too few operations: the run cannot "
			      "PASS.</p>\n", f);
		}
	json_array_foreach(json_object_get(v->results, "lost"), idx, c) {
		char text[400];
		fl_report_lost_text(c, text, sizeof(text));
		fputs("<p class=\"note damage\"><b>Lost node:</b> ", f);
		fl_markup_text(f, text);
		fputs(". Its agent is gone: its faults were healed from its journal, later ones "
		      "skipped it, and the checks that need its evidence say UNKNOWN.</p>\n", f);
	}
	if (!json_array_size(checks)) {
		fputs("<p class=\"note\">The scenario enables no checks.</p>\n", f);
		return;
	}
	fputs("<table><tr><th>check</th><th>verdict</th><th>why</th></tr>\n", f);
	json_array_foreach(checks, idx, c) {
		fputs("<tr><td>", f);
		fl_markup_text(f, jstr(c, "name", "?"));
		fputs("</td><td>", f);
		badge(f, jstr(c, "verdict", "UNKNOWN"), NULL);
		fputs("</td><td>", f);
		fl_markup_text(f, jstr(c, "why", ""));
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void section_faults(FILE *f, const struct view *v)
{
	json_t *faults = json_object_get(v->results, "faults"), *o, *n;
	size_t idx, k;

	fputs("<h2>Faults</h2>\n", f);
	if (!json_array_size(faults)) {
		fputs("<p class=\"note\">No fault was applied.</p>\n", f);
		return;
	}
	fputs("<table><tr><th>fault</th><th>kind</th><th>nodes</th><th>applied</th>"
	      "<th>healed</th><th>leader at the time</th><th>error</th></tr>\n", f);
	json_array_foreach(faults, idx, o) {
		json_t *end = json_object_get(o, "end_s");
		fputs("<tr><td>", f);
		fl_markup_text(f, jstr(o, "id", "?"));
		fputs("</td><td>", f);
		fl_markup_text(f, jstr(o, "kind", "?"));
		fputs("</td><td>", f);
		json_array_foreach(json_object_get(o, "nodes"), k, n) {
			if (k)
				fputc(' ', f);
			fl_markup_text(f, json_string_value(n));
		}
		fprintf(f, "</td><td>%.2f s%s</td><td>", json_number_value(json_object_get(o, "start_s")),
			json_is_true(json_object_get(o, "applied")) ? "" : " (failed)");
		if (json_is_number(end))
			fprintf(f, "%.2f s", json_number_value(end));
		else
			fputs("never", f);
		fputs("</td><td>", f);
		fl_markup_text(f, jstr(o, "leader", ""));
		fputs("</td><td>", f);
		fl_markup_text(f, jstr(o, "error", ""));
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* --- the timeline ------------------------------------------------------------ */

static void time_axis(FILE *f, const struct view *v, double y0, double y1)
{
	double step = nice_step(v->tmax, 14);

	for (double t = 0; t <= v->tmax + 1e-9; t += step) {
		double x = xs(v, t);
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x,
			y0, x, y1);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%gs</text>\n", x, y1 + 13,
			round(t * 1000) / 1000);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", ML, y1,
		ML + PW, y1);
}

static void panel_title(FILE *f, double y, const char *title)
{
	fprintf(f, "<text x=\"4\" y=\"%.1f\" style=\"font-weight:600\">%s</text>\n", y, title);
}

/* Fault windows: labels in rows above the charts (a label never covers
 * another: rows from view_init), shading from y0 to y1. */
static void fault_labels(FILE *f, const struct view *v, double y)
{
	for (size_t i = 0; i < v->nfw; i++) {
		const struct fault_win *w = &v->fw[i];
		fprintf(f, "<text class=\"fwl\" x=\"%.1f\" y=\"%.1f\">", xs(v, w->start) + 2,
			y + 12 + 14 * w->row);
		fl_markup_text(f, w->id);
		fputc(' ', f);
		fl_markup_text(f, w->kind);
		if (!w->healed)
			fputs(" (not healed)", f);
		fputs("</text>\n", f);
	}
}

static void fault_shading(FILE *f, const struct view *v, double y0, double y1)
{
	for (size_t i = 0; i < v->nfw; i++) {
		double x0 = xs(v, v->fw[i].start), x1 = xs(v, v->fw[i].end);
		fprintf(f, "<rect class=\"fw\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			   "<title>", x0, y0, x1 - x0 > 1 ? x1 - x0 : 1, y1 - y0);
		fl_markup_text(f, v->fw[i].id);
		fputc(' ', f);
		fl_markup_text(f, v->fw[i].kind);
		fprintf(f, ": %.2f s to %.2f s</title></rect>\n", v->fw[i].start, v->fw[i].end);
	}
}

struct sample {
	int64_t t;
	int node, leader; /* leader: node index, -1 none or unknown */
};

static int cmp_sample(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static int node_index(const struct fl_run_data *d, const char *name)
{
	for (size_t i = 0; name && i < d->nnodes; i++)
		if (!strcmp(d->nodes[i], name))
			return (int)i;
	return -1;
}

/* The leader band: after each status sample, the leader most nodes name
 * in their latest sample (ties: the first node), drawn as segments. */
static void leader_band(FILE *f, const struct view *v, double y, double h)
{
	const struct fl_run_data *d = v->d;
	size_t n = json_array_size(d->status), m = 0, idx;
	struct sample *sm = calloc(n + 1, sizeof(*sm));
	int said[FL_MAX_NODES], cur = -2;
	double seg_start = 0;
	json_t *o;

	panel_title(f, y + h - 4, "leader");
	if (!sm || !n || !d->nnodes) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"note\">no status samples</text>\n", ML + 4,
			y + h - 4);
		free(sm);
		return;
	}
	json_array_foreach(d->status, idx, o) {
		int node = node_index(d, jstr(o, "node", NULL));
		if (node < 0 || node >= FL_MAX_NODES)
			continue;
		sm[m].t = json_integer_value(json_object_get(o, "t"));
		sm[m].node = node;
		sm[m].leader = json_is_true(json_object_get(o, "ok"))
				       ? node_index(d, jstr(o, "leader", NULL))
				       : -1;
		if (sm[m].leader >= FL_MAX_NODES)
			sm[m].leader = -1;
		m++;
	}
	qsort(sm, m, sizeof(*sm), cmp_sample);
	for (size_t i = 0; i < FL_MAX_NODES; i++)
		said[i] = -1;
	for (size_t i = 0; i <= m; i++) {
		int best = -1, votes[FL_MAX_NODES] = { 0 };
		double t = i < m ? sec(sm[i].t) : v->tmax;
		if (i < m) {
			said[sm[i].node] = sm[i].leader;
			for (size_t k = 0; k < d->nnodes && k < FL_MAX_NODES; k++)
				if (said[k] >= 0)
					votes[said[k]]++;
			for (int k = 0; k < (int)d->nnodes && k < FL_MAX_NODES; k++)
				if (votes[k] && (best < 0 || votes[k] > votes[best]))
					best = k;
		}
		if (i < m && best == cur)
			continue;
		if (cur != -2 && t > seg_start) {
			double x0 = xs(v, seg_start), x1 = xs(v, t);
			const char *name = cur >= 0 ? d->nodes[cur] : "none";
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
				   "<title>", x0, y + 2, x1 - x0, h - 4,
				cur >= 0 ? node_colours[cur % 8] : "#e0e0e0");
			fl_markup_text(f, name);
			fprintf(f, " from %.2f s to %.2f s</title></rect>\n", seg_start, t);
			if (x1 - x0 > 8 * (double)strlen(name) + 6) {
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s>", x0 + 3, y + h - 5,
					cur >= 0 ? " style=\"fill:#fff\"" : "");
				fl_markup_text(f, name);
				fputs("</text>\n", f);
			}
		}
		if (i < m) {
			cur = best;
			seg_start = t;
		}
	}
	free(sm);
}

static const char *outcome_class(enum fl_outcome o)
{
	return o == FL_OUTCOME_OK ? "ok" : o == FL_OUTCOME_FAIL ? "fl" : "in";
}

/* One row per client lane (process % clients): each op a mark over
 * [invoke, complete], an op never completed reaching the end. */
static void client_lanes(FILE *f, const struct view *v, double y, unsigned lanes,
			   unsigned clients)
{
	const double rowh = lanes > 40 ? 6 : 14;
	size_t seen = 0;

	for (unsigned l = 0; l < lanes; l++) {
		if (rowh >= 10)
			fprintf(f, "<text x=\"4\" y=\"%.1f\">client %u</text>\n", y + rowh * l + 10, l);
		if (l % 2)
			fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
				   "fill=\"#f7f7f7\"/>\n", ML, y + rowh * l, PW, rowh);
	}
	if (rowh < 10)
		fprintf(f, "<text x=\"4\" y=\"%.1f\">%u client lanes</text>\n", y + 12, lanes);
	for (size_t i = 0; i < v->d->ops.n; i++) {
		const struct fl_op *op = &v->d->ops.v[i];
		double x0, x1;
		unsigned lane;
		if (op->final || seen++ % v->stride)
			continue;
		lane = (unsigned)op->process % clients % lanes;
		x0 = xs(v, sec(op->invoke_ns));
		x1 = op->complete_ns < 0 ? xs(v, v->tmax) : xs(v, sec(op->complete_ns));
		fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
			outcome_class(op->outcome), x0, y + rowh * lane + 2,
			x1 - x0 < 1.5 ? 1.5 : x1 - x0, rowh - 4);
	}
}

/* ok (and fail/info) completions per second, per bucket. */
static void throughput(FILE *f, const struct view *v, double y, double h, double bucket)
{
	/* a last partial bucket counts when it is at least half a bucket long
	 * (as a rate over its own length); a shorter one is left out */
	size_t full = (size_t)floor(v->tmax / bucket), nb;
	double rem = v->tmax - (double)full * bucket, last_len = bucket;
	double *ok, *bad, top = 0, step;

	if (rem >= bucket / 2 || !full) {
		nb = full + 1;
		last_len = rem > 0 ? rem : bucket;
	} else {
		nb = full;
	}
	ok = calloc(nb, sizeof(*ok));
	bad = calloc(nb, sizeof(*bad));

	panel_title(f, y + 12, "ok ops/s");
	if (!ok || !bad)
		goto out;
	for (size_t i = 0; i < v->d->ops.n; i++) {
		const struct fl_op *op = &v->d->ops.v[i];
		size_t b;
		if (op->final || op->complete_ns < 0)
			continue;
		b = (size_t)(sec(op->complete_ns) / bucket);
		if (b >= nb)
			continue;
		if (op->outcome == FL_OUTCOME_OK)
			ok[b] += 1 / (b == nb - 1 ? last_len : bucket);
		else
			bad[b] += 1 / (b == nb - 1 ? last_len : bucket);
	}
	for (size_t b = 0; b < nb; b++) {
		if (ok[b] > top)
			top = ok[b];
		if (bad[b] > top)
			top = bad[b];
	}
	if (top <= 0)
		top = 1;
	step = nice_step(top, 4);
	top = ceil(top / step) * step;
	for (double q = 0; q <= top + 1e-9; q += step) {
		double yy = y + h - q / top * h;
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML, yy,
			ML + PW, yy, ML - 4, yy + 4, q);
	}
	for (int pass = 0; pass < 2; pass++) {
		double *val = pass ? bad : ok;
		fprintf(f, "<polyline class=\"%s\" points=\"", pass ? "thf" : "thr");
		for (size_t b = 0; b < nb; b++) {
			double t = (double)b * bucket + (b == nb - 1 ? last_len : bucket) / 2;
			fprintf(f, "%.1f,%.1f ", xs(v, t), y + h - val[b] / top * h);
		}
		fputs("\"/>\n", f);
	}
out:
	free(ok);
	free(bad);
}

struct lat {
	size_t bucket;
	double ms;
};

static int cmp_lat(const void *a, const void *b)
{
	const struct lat *x = a, *y = b;
	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return x->ms < y->ms ? -1 : x->ms > y->ms;
}

/* Latency (log scale) of every completed op as a dot at its invocation;
 * p50 and p99 of the ok ops per bucket as lines. */
static void latency(FILE *f, const struct view *v, double y, double h, double bucket)
{
	const struct fl_run_data *d = v->d;
	struct lat *ls = calloc(d->ops.n + 1, sizeof(*ls));
	size_t n = 0, seen = 0;
	double lo = INFINITY, hi = -INFINITY;

	panel_title(f, y + 12, "latency (ms)");
	if (!ls)
		return;
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *op = &d->ops.v[i];
		double ms;
		if (op->final || op->complete_ns < 0)
			continue;
		ms = (double)(op->complete_ns - op->invoke_ns) / 1e6;
		if (ms < 1e-3)
			ms = 1e-3;
		lo = fmin(lo, ms);
		hi = fmax(hi, ms);
		if (op->outcome == FL_OUTCOME_OK)
			ls[n++] = (struct lat){ (size_t)(sec(op->invoke_ns) / bucket), ms };
	}
	if (lo > hi) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">no completed operation</text>\n", ML + 4,
			y + h / 2);
		free(ls);
		return;
	}
	lo = floor(log10(lo));
	hi = ceil(log10(hi));
	if (hi <= lo)
		hi = lo + 1;
#define LY(ms) (y + h - (log10(ms) - lo) / (hi - lo) * h)
	for (double e = lo; e <= hi; e++) {
		double yy = y + h - (e - lo) / (hi - lo) * h;
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML, yy,
			ML + PW, yy, ML - 4, yy + 4, pow(10, e));
	}
	for (size_t i = 0; i < d->ops.n; i++) {
		const struct fl_op *op = &d->ops.v[i];
		double ms;
		if (op->final || seen++ % v->stride || op->complete_ns < 0)
			continue;
		ms = (double)(op->complete_ns - op->invoke_ns) / 1e6;
		if (ms < 1e-3)
			ms = 1e-3;
		fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"2\" height=\"2\"/>\n",
			outcome_class(op->outcome), xs(v, sec(op->invoke_ns)) - 1, LY(ms) - 1);
	}
	qsort(ls, n, sizeof(*ls), cmp_lat);
	for (int q = 0; q < 2; q++) {
		unsigned pct = q ? 99 : 50;
		int pen = 0;
		fprintf(f, "<path class=\"%s\" d=\"", q ? "p99" : "p50");
		for (size_t a = 0, b; a < n; a = b) {
			size_t k;
			for (b = a; b < n && ls[b].bucket == ls[a].bucket; b++)
				;
			k = ((b - a) * pct + 99) / 100 - 1;
			/* a gap of empty buckets breaks the line */
			pen = pen && a && ls[a - 1].bucket + 1 == ls[a].bucket;
			fprintf(f, "%c%.1f,%.1f ", pen ? 'L' : 'M',
				xs(v, ((double)ls[a].bucket + 0.5) * bucket), LY(ls[a + k].ms));
			pen = 1;
		}
		fputs("\"/>\n", f);
	}
#undef LY
	free(ls);
}

static void section_timeline(FILE *f, const struct view *v)
{
	unsigned clients = v->s->workload.clients, lanes;
	double bucket = v->tmax > 2000 ? ceil(v->tmax / 2000) : 1;
	double y = 4, top, lanes_top, lanes_h, thr_y, lat_y, bottom, th = 110, lh = 190, total;

	if (v->no_history) {
		fputs("<h2>Timeline</h2>\n<p class=\"note\">The timeline needs history.jsonl, which "
		      "this run directory no longer holds; the checks above are the verdict as it "
		      "was judged (results.json).</p>\n", f);
		return;
	}
	fputs("<h2>Timeline</h2>\n<p class=\"note\">", f);
	fputs("x: seconds since the run started. Ops:<span class=\"sw\" style=\"background:#3b8f4f\">"
	      "</span>ok<span class=\"sw\" style=\"background:#d62728\"></span>fail"
	      "<span class=\"sw\" style=\"background:#e6a019\"></span>info (unknown outcome)"
	      "<span class=\"sw\" style=\"background:#ffe5cc;border:1px dashed #ff7f0e\"></span>"
	      "fault window. Latency lines:<span class=\"sw\" style=\"background:#1f3a93\"></span>p50"
	      "<span class=\"sw\" style=\"background:#8e24aa\"></span>p99 of ok ops", f);
	fprintf(f, " per %g s; ok ops/s per %g s (dashed: fail and info).", bucket, bucket);
	if (v->stride > 1)
		fprintf(f, " <b>Sampled:</b> the client lanes and the latency dots show 1 operation "
			   "in %zu (%zu of %zu); rates and quantiles use all of them.",
			v->stride, (v->nops + v->stride - 1) / v->stride, v->nops);
	fputs(" Final reads are not drawn.</p>\n", f);
	if (!clients)
		clients = 1;
	lanes = clients > 100 ? 100 : clients;
	/* the height first: labels rows, leader band, lanes, throughput, latency, axis */
	/* where everything goes, then the grid and the shading under the data */
	top = y + v->label_rows * 14 + (v->label_rows ? 4 : 0);
	lanes_top = top + 24 + 8;
	lanes_h = (lanes > 40 ? 6 : 14) * lanes;
	thr_y = lanes_top + lanes_h + 12;
	lat_y = thr_y + th + 34;
	bottom = lat_y + lh;
	total = bottom + 24;
	fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		   "aria-label=\"timeline\">\n", VW, total, VW, total);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", VW, total);
	time_axis(f, v, top, bottom);
	fault_shading(f, v, top, bottom);
	fault_labels(f, v, y);
	leader_band(f, v, top, 24);
	if (clients > lanes)
		fprintf(f, "<text x=\"4\" y=\"%.1f\">(%u clients in %u lanes)</text>\n",
			lanes_top - 1, clients, lanes);
	client_lanes(f, v, lanes_top, lanes, clients);
	throughput(f, v, thr_y, th, bucket);
	latency(f, v, lat_y, lh, bucket);
	if (v->vmax >= 0) {
		double x0 = xs(v, v->vmin) - 2, x1 = xs(v, v->vmax) + 2;
		fprintf(f, "<rect class=\"viol\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			   "<title>the window of the linearizability violation</title></rect>\n"
			   "<text class=\"badl\" x=\"%.1f\" y=\"%.1f\">violation</text>\n",
			x0, lanes_top - 2, x1 - x0, lanes_h + 4, x1 + 3, lanes_top + 10);
	}
	fputs("</svg>\n", f);
}

/* --- the linearizability violation ------------------------------------------ */

struct wop {
	int64_t line;
	const char *text;       /* the checker's description */
	const struct fl_op *op; /* NULL: not found in the history */
	int failed;
};

static int cmp_op_i(const void *a, const void *b)
{
	const struct fl_op *x = *(const struct fl_op *const *)a, *y = *(const struct fl_op *const *)b;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_wop(const void *a, const void *b)
{
	const struct wop *x = a, *y = b;
	int64_t tx = x->op ? x->op->invoke_ns : INT64_MAX, ty = y->op ? y->op->invoke_ns : INT64_MAX;
	return tx < ty ? -1 : tx > ty ? 1 : (x->line > y->line) - (x->line < y->line);
}

/* The checker names ops by their invoke line in history.jsonl: read those
 * lines again for their "i", and find the ops by it. */
static void window_ops(const char *dir, const struct fl_run_data *d, struct wop *w, size_t n)
{
	char path[4200], *line = NULL;
	size_t cap = 0, left = n;
	int64_t ln = 0;
	const struct fl_op **by_i = calloc(d->ops.n + 1, sizeof(*by_i));
	FILE *f;

	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	if (!by_i || !(f = fopen(path, "r"))) {
		free(by_i);
		return;
	}
	for (size_t i = 0; i < d->ops.n; i++)
		by_i[i] = &d->ops.v[i];
	qsort(by_i, d->ops.n, sizeof(*by_i), cmp_op_i);
	while (left && getline(&line, &cap, f) > 0) {
		json_t *o = NULL;
		ln++;
		for (size_t k = 0; k < n; k++) {
			struct fl_op key, *kp = &key;
			const struct fl_op **hit;
			if (w[k].line != ln)
				continue;
			if (!o && !(o = json_loads(line, 0, NULL)))
				break;
			key.i = json_integer_value(json_object_get(o, "i"));
			hit = bsearch(&kp, by_i, d->ops.n, sizeof(*by_i), cmp_op_i);
			w[k].op = hit ? *hit : NULL;
			left--;
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	free(by_i);
}

#define VIOL_MAX_ROWS 80

static json_t *violation_of(json_t *results)
{
	json_t *c;
	size_t idx;

	json_array_foreach(json_object_get(results, "checks"), idx, c)
		if (!strcmp(jstr(c, "name", ""), "linearizable"))
			return json_object_get(json_object_get(c, "figures"), "violation");
	return NULL;
}

/* Collect the window's ops (sorted by invocation); sets v's violation span. */
static struct wop *violation_load(const char *dir, struct view *v, json_t *viol, size_t *nout)
{
	json_t *win = json_object_get(viol, "window"), *o;
	int64_t failed = json_integer_value(json_object_get(viol, "failed_line"));
	size_t n = 0, idx;
	struct wop *w = calloc(json_array_size(win) + 1, sizeof(*w));

	if (!w)
		return NULL;
	json_array_foreach(win, idx, o) {
		w[n].line = json_integer_value(json_object_get(o, "line"));
		w[n].text = jstr(o, "op", "?");
		w[n].failed = w[n].line == failed;
		n++;
	}
	window_ops(dir, v->d, w, n);
	qsort(w, n, sizeof(*w), cmp_wop);
	for (size_t k = 0; k < n; k++) {
		const struct fl_op *op = w[k].op;
		double a, b;
		if (!op)
			continue;
		a = sec(op->invoke_ns);
		b = op->complete_ns < 0 ? a : sec(op->complete_ns);
		if (v->vmax < 0 || a < v->vmin)
			v->vmin = a;
		if (b > v->vmax)
			v->vmax = b;
	}
	*nout = n;
	return w;
}

static const char *kind_colour(enum fl_op_f f)
{
	switch (f) {
	case FL_F_WRITE: return "#4e79a7";
	case FL_F_CAS: return "#b07aa1";
	case FL_F_ADD: return "#59a14f";
	default: return "#76b7b2";
	}
}

static void section_violation(FILE *f, const struct view *v, json_t *viol, const struct wop *w,
			      size_t n)
{
	const double bx0 = 20, bx1 = 640, tx = 655, rowh = 20;
	size_t rows = n > VIOL_MAX_ROWS ? VIOL_MAX_ROWS : n, found = 0;
	double t0 = v->vmin, t1 = v->vmax, span, h, step, y = 24;

	fputs("<h2>Linearizability violation</h2>\n<p>Key <code>", f);
	fl_markup_text(f, jstr(viol, "key", "?"));
	fputs("</code>: no order of these operations respects real time and the model. "
	      "The <b style=\"color:#d62728\">red</b> one is the first operation no linearization "
	      "could place: ", f);
	fl_markup_text(f, jstr(viol, "failed_op", "?"));
	fputs(".</p>\n<p class=\"note\">", f);
	if (json_is_true(json_object_get(viol, "window_verified")))
		fprintf(f, "These %zu operations cannot be linearized by themselves, whatever the "
			   "state before them.", n);
	else
		fprintf(f, "No smaller contradiction was found within the effort bound: the window is "
			   "the key's first %zu operations.", n);
	fputs(" Each bar spans [invoke, complete]; a dashed bar has an unknown outcome (it may "
	      "take effect at any time after its invocation, or never: the dotted line).", f);
	if (rows < n)
		fprintf(f, " The first %zu of the %zu are drawn.", rows, n);
	fputs("</p>\n", f);
	for (size_t k = 0; k < n; k++)
		found += w[k].op != NULL;
	if (!found) {
		fputs("<p class=\"note\">The window's operations are not in history.jsonl any more: "
		      "nothing to draw.</p>\n", f);
		return;
	}
	span = t1 - t0;
	if (span <= 0)
		span = 1e-3;
	t0 -= span * 0.05;
	t1 += span * 0.05;
	span = t1 - t0;
	h = y + rows * rowh + 30;
	fprintf(f, "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
		   "aria-label=\"violation window\">\n", VW, h, VW, h);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", VW, h);
#define WX(t) (bx0 + ((t) - t0) / span * (bx1 - bx0))
	step = nice_step(span, 6);
	for (double t = ceil(t0 / step) * step; t <= t1; t += step) {
		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
			   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4gs</text>\n",
			WX(t), y - 4, WX(t), y + rows * rowh, WX(t), y + rows * rowh + 14, t);
	}
	fprintf(f, "<text x=\"%.1f\" y=\"14\" style=\"font-weight:600\">operation "
		   "(history.jsonl line, process: what)</text>\n", tx);
	for (size_t k = 0; k < rows; k++) {
		const struct fl_op *op = w[k].op;
		double yy = y + k * rowh, a, b;
		int unknown;
		if (!op) {
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", bx0, yy + 14);
			fl_markup_text(f, w[k].text);
			fputs(" (not found in history.jsonl)</text>\n", f);
			continue;
		}
		unknown = op->complete_ns < 0 || op->outcome == FL_OUTCOME_INFO;
		a = WX(sec(op->invoke_ns));
		b = op->complete_ns < 0 ? bx1 : WX(sec(op->complete_ns));
		if (b - a < 4)
			b = a + 4;
		if (w[k].failed)
			/* a line down the chart at its invocation: what came before is its past */
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				   "stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n",
				a, y - 4, a, y + rows * rowh);
		if (unknown && b < bx1)
			/* an unknown outcome may take effect after its completion too */
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
				   "stroke-dasharray=\"1 3\"><title>outcome unknown: it may take effect "
				   "later, or never</title></line>\n",
				b, yy + rowh / 2, bx1, yy + rowh / 2, kind_colour(op->f));
		fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			   "fill=\"%s\"><title>",
			w[k].failed ? "bad" : unknown ? "unk" : "", a, yy + 3, b - a, rowh - 6,
			w[k].failed ? "#d62728" : kind_colour(op->f));
		fl_markup_text(f, w[k].text);
		fputs("</title></rect>\n", f);
		if (w[k].failed)
			fprintf(f, "<text class=\"badl\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
				   "impossible \xe2\x86\x92</text>\n", a - 4, yy + 14);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s>", tx, yy + 14,
			w[k].failed ? " class=\"badl\"" : "");
		fl_markup_text(f, w[k].text);
		if (w[k].failed)
			fputs("  \xe2\x86\x90 no order fits this", f);
		fputs("</text>\n", f);
	}
#undef WX
	fputs("</svg>\n", f);
}

/* --- report.html ------------------------------------------------------------ */

int fl_report_html_write(const char *dir, const struct fl_scenario *s, json_t *results,
			 const struct fl_run_data *d, char *err, size_t errlen)
{
	char path[4200], tmp[4300];
	struct view v;
	struct wop *w = NULL;
	size_t nw = 0;
	json_t *viol = violation_of(results);
	FILE *f;
	int r;

	struct fl_run_data none = { 0 };

	if (!d) {
		none.faults = json_array();
		none.status = json_array();
		none.digests = json_array();
		d = &none;
	}
	view_init(&v, s, results, d);
	v.no_history = d == &none;
	if (viol)
		w = violation_load(dir, &v, viol, &nw);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	if ((r = fl_atomic_open(path, tmp, sizeof(tmp), &f, err, errlen)) < 0)
		goto out;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
	fl_markup_text(f, jstr(results, "scenario", s->name));
	fputs(" \xe2\x80\x94 ", f);
	fl_markup_text(f, jstr(results, "verdict", "?"));
	fprintf(f, "</title>\n<style>\n%s</style></head><body>\n", css);
	section_header(f, &v);
	section_checks(f, &v);
	section_clients(f, &v);
	section_faults(f, &v);
	section_timeline(f, &v);
	if (viol && w)
		section_violation(f, &v, viol, w, nw);
	fputs("<p class=\"note\">Rendered by faultline ", f);
	fl_markup_text(f, FL_VERSION);
	fputs(" from this run directory's files; <code>faultline report DIR</code> renders it "
	      "again.</p>\n</body></html>\n", f);
	r = fl_atomic_commit(f, tmp, path, err, errlen);
out:
	free(w);
	free(v.fw);
	fl_run_data_release(&none);
	return r;
}

/* --- index.html ---------------------------------------------------------------- */

struct run_row {
	char *name;
	json_t *meta, *results; /* either may be NULL */
	int has_report;
};

static const char *row_started(const struct run_row *r)
{
	const char *s = jstr(r->meta, "started", NULL);
	return s ? s : jstr(r->results, "started", "");
}

/* newest first: by start time, then by name */
static int cmp_row(const void *a, const void *b)
{
	const struct run_row *x = a, *y = b;
	int c = strcmp(row_started(y), row_started(x));
	return c ? c : strcmp(y->name, x->name);
}

static json_t *load_json(const char *dir, const char *name, const char *file)
{
	char path[4400];
	json_t *o;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	o = json_load_file(path, 0, NULL);
	if (o && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static void index_body(FILE *f, const char *runs, struct run_row *rows, size_t n)
{
	json_t *names = json_array(), *c, *x;
	size_t idx, k, counts[4] = { 0 };
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	for (size_t i = 0; i < n; i++) {
		const char *v = jstr(rows[i].results, "verdict", NULL);
		counts[!v ? 3 : !strcmp(v, "PASS") ? 0 : !strcmp(v, "FAIL") ? 1 : 2]++;
		json_array_foreach(json_object_get(rows[i].results, "checks"), idx, c) {
			const char *cn = jstr(c, "name", NULL);
			int have = 0;
			if (!cn)
				continue;
			json_array_foreach(names, k, x)
				have |= !strcmp(json_string_value(x), cn);
			if (!have)
				json_array_append_new(names, json_string(cn));
		}
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs("<h1>faultline runs</h1>\n<p>", f);
	fl_markup_text(f, runs);
	fprintf(f, ": %zu run%s \xe2\x80\x94 ", n, n == 1 ? "" : "s");
	badge(f, "PASS", NULL);
	fprintf(f, " %zu ", counts[0]);
	badge(f, "FAIL", NULL);
	fprintf(f, " %zu ", counts[1]);
	badge(f, "UNKNOWN", NULL);
	fprintf(f, " %zu ", counts[2]);
	badge(f, "not judged", NULL);
	fprintf(f, " %zu</p>\n<p class=\"note\">Newest first; written %s. Hover a check's verdict "
		   "for why.</p>\n", counts[3], stamp);
	fputs("<table>\n<tr><th>run</th><th>scenario</th><th>started</th><th>seed</th>"
	      "<th>verdict</th>", f);
	json_array_foreach(names, k, x) {
		fputs("<th>", f);
		fl_markup_text(f, json_string_value(x));
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	for (size_t i = 0; i < n; i++) {
		struct run_row *r = &rows[i];
		json_t *seed = json_object_get(r->meta, "seed");
		const char *scen = jstr(r->meta, "scenario", jstr(r->results, "scenario", "?"));
		if (!seed)
			seed = json_object_get(r->results, "seed");
		fputs("<tr><td><a href=\"", f);
		esc_url(f, r->name);
		fputs(r->has_report ? "/report.html\">" : "/\">", f);
		fl_markup_text(f, r->name);
		fputs("</a></td><td>", f);
		fl_markup_text(f, scen);
		fputs("</td><td>", f);
		fl_markup_text(f, row_started(r));
		fputs("</td><td>", f);
		if (json_is_integer(seed))
			fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(seed));
		fputs("</td><td>", f);
		badge(f, r->results ? jstr(r->results, "verdict", "UNKNOWN") : "not judged", NULL);
		fputs("</td>", f);
		json_array_foreach(names, k, x) {
			json_t *hit = NULL;
			fputs("<td>", f);
			json_array_foreach(json_object_get(r->results, "checks"), idx, c)
				if (!strcmp(jstr(c, "name", ""), json_string_value(x)))
					hit = c;
			if (hit)
				badge(f, jstr(hit, "verdict", "UNKNOWN"), jstr(hit, "why", ""));
			else
				fputs("<span class=\"note\">\xe2\x80\x93</span>", f);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
	json_decref(names);
}

int fl_report_index_write(const char *runs, size_t *nruns, char *err, size_t errlen)
{
	char path[4200], tmp[4300];
	struct run_row *rows = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dp;
	FILE *f;
	int r = 0;

	if (!(dp = opendir(runs))) {
		r = -errno;
		snprintf(err, errlen, "cannot read '%s': %s", runs, strerror(errno));
		return r;
	}
	while ((e = readdir(dp))) {
		char sub[4400];
		struct stat st;
		json_t *meta, *res;
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", runs, e->d_name);
		if (stat(sub, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		meta = load_json(runs, e->d_name, "run.json");
		res = load_json(runs, e->d_name, "results.json");
		if (!meta && !res)
			continue;
		if (n == cap) {
			struct run_row *nr = realloc(rows, (cap = cap ? cap * 2 : 16) * sizeof(*nr));
			if (!nr) {
				json_decref(meta);
				json_decref(res);
				r = -ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			rows = nr;
		}
		snprintf(sub, sizeof(sub), "%s/%s/report.html", runs, e->d_name);
		rows[n] = (struct run_row){ .name = strdup(e->d_name), .meta = meta, .results = res,
					    .has_report = access(sub, F_OK) == 0 };
		if (!rows[n].name) {
			json_decref(meta);
			json_decref(res);
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		n++;
	}
	qsort(rows, n, sizeof(*rows), cmp_row);
	snprintf(path, sizeof(path), "%s/index.html", runs);
	if ((r = fl_atomic_open(path, tmp, sizeof(tmp), &f, err, errlen)) < 0)
		goto out;
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
		   "<title>faultline runs</title>\n<style>\n%s</style></head><body>\n", css);
	index_body(f, runs, rows, n);
	fputs("<p class=\"note\">Written by faultline ", f);
	fl_markup_text(f, FL_VERSION);
	fputs(" (<code>faultline report --index DIR</code>).</p>\n</body></html>\n", f);
	r = fl_atomic_commit(f, tmp, path, err, errlen);
	if (!r && nruns)
		*nruns = n;
out:
	closedir(dp);
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		json_decref(rows[i].meta);
		json_decref(rows[i].results);
	}
	free(rows);
	return r;
}
