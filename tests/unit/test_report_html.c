/* report.html and index.html: hostile text is escaped everywhere, nothing
 * refers outside the page, a huge history is sampled (and the page says
 * so), a violation's window is found by its history.jsonl lines with the
 * failing op marked, the index lists runs newest first with "not judged"
 * ones, and no temporary file is left behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultline/report.h"
#include "faultline/report_html.h"
#include "faultline/verdict.h"

static const char *const nodes[] = { "n1", "n2", "n3" };

static struct fl_scenario *scenario(void)
{
	static const char y[] = "name: rep\nseed: 3\nduration: 20s\ncluster: {nodes: 3}\n"
				"system: {type: etcd}\nworkload: {type: register, clients: 3}\n"
				"checks: {linearizable: true}\n";
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;

	assert_int_equal(fl_scenario_load_string("rep.yaml", y, sizeof(y) - 1, NULL, 0, &d, &s), 0);
	fl_diags_release(&d);
	return s;
}

static void add_op(struct fl_run_data *d, int64_t i, int process, enum fl_op_f f,
		   enum fl_outcome oc, double inv, double done)
{
	struct fl_op *o;

	if (!(d->ops.n & (d->ops.n - 1)) || !d->ops.v)
		d->ops.v = realloc(d->ops.v, (d->ops.n ? d->ops.n * 2 : 1) * sizeof(*o));
	assert_non_null(d->ops.v);
	o = &d->ops.v[d->ops.n++];
	memset(o, 0, sizeof(*o));
	o->i = i;
	o->process = process;
	o->f = f;
	o->outcome = oc;
	o->invoke_ns = (int64_t)(inv * 1e9);
	o->complete_ns = done < 0 ? -1 : (int64_t)(done * 1e9);
	o->key = strdup("k0");
}

static void run_data(struct fl_run_data *d)
{
	memset(d, 0, sizeof(*d));
	d->faults = json_array();
	d->status = json_pack("[{s:I, s:s, s:b, s:s, s:i}, {s:I, s:s, s:b, s:s, s:i}]", "t",
			      (json_int_t)100000000, "node", "n1", "ok", 1, "leader", "n2", "term", 2,
			      "t", (json_int_t)200000000, "node", "n2", "ok", 1, "leader", "n2",
			      "term", 2);
	d->digests = json_array();
	d->nodes = nodes;
	d->nnodes = 3;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = 0;
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	/* strchr, not strstr: ASan's strstr measures the whole rest of the
	 * haystack at every call, 12 s over the 50,000-op page */
	for (const char *p = hay; (p = strchr(p, needle[0])); p++)
		n += !strncmp(p, needle, len);
	return n;
}

/* nothing in the page may load or link anything */
static void assert_self_contained(const char *html)
{
	assert_null(strstr(html, "http:"));
	assert_null(strstr(html, "https:"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, " src="));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "url("));
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void test_escaping_and_violation(void **state)
{
	char dir[] = "/tmp/fl-html-XXXXXX", path[256], err[256];
	struct fl_scenario *s = scenario();
	struct fl_run_data d;
	struct stat st;
	json_t *r;
	char *html;
	FILE *h;

	(void)state;
	assert_non_null(mkdtemp(dir));
	run_data(&d);
	/* history.jsonl: the page finds the window's ops by these line numbers */
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	h = fopen(path, "w");
	assert_non_null(h);
	fprintf(h, "{\"i\":0,\"type\":\"invoke\"}\n{\"i\":1,\"type\":\"invoke\"}\n"
		   "{\"i\":0,\"type\":\"ok\"}\n{\"i\":1,\"type\":\"ok\"}\n"
		   "{\"i\":2,\"type\":\"invoke\"}\n{\"i\":2,\"type\":\"ok\"}\n");
	fclose(h);
	add_op(&d, 0, 0, FL_F_WRITE, FL_OUTCOME_OK, 1.0, 1.2);
	add_op(&d, 1, 1, FL_F_WRITE, FL_OUTCOME_INFO, 1.1, 1.5);
	add_op(&d, 2, 2, FL_F_READ, FL_OUTCOME_OK, 2.0, 2.1);
	r = json_pack("{s:s, s:s, s:I, s:[s], s:s, s:s, s:s, s:f, s:[{s:s, s:s, s:f, s:f, s:b}],"
		      " s:[{s:s, s:s, s:s, s:o}, {s:s, s:s, s:s, s:{}}]}",
		      "scenario", "rep<script>", "file", "x'y.yaml", "seed", (json_int_t)3,
		      "overrides", "nemesis.0.name=it's <b>", "verdict", "FAIL", "started",
		      "2026-01-01T00:00:00Z", "version", "1&2", "duration_s", 20.0, "faults", "id",
		      "f0.0<i>", "kind", "kill\"", "start_s", 1.0, "end_s", 3.0, "applied", 1,
		      "checks", "name", "linearizable", "verdict", "FAIL", "why", "read <&> \x01 bad",
		      "figures",
		      json_pack("{s:{s:s, s:I, s:s, s:[{s:I, s:s}, {s:I, s:s}, {s:I, s:s}], s:b}}",
				"violation", "key", "k0", "failed_line", (json_int_t)5, "failed_op",
				"line 5, process 2: read -> 'a<b'", "window", "line", (json_int_t)1,
				"op", "line 1, process 0: write 'a<b'", "line", (json_int_t)2, "op",
				"line 2, process 1: write 'c'", "line", (json_int_t)5, "op",
				"line 5, process 2: read -> 'a<b'", "window_verified", 1),
		      "name", "availability", "verdict", "PASS", "why", "fine", "figures");
	assert_non_null(r);
	assert_int_equal(fl_report_html_write(dir, s, r, &d, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html.tmp", dir);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	html = slurp(path);
	assert_self_contained(html);
	assert_null(strstr(html, "<script>"));
	assert_null(strstr(html, "<b>"));
	assert_null(strstr(html, "<i>"));
	assert_null(strstr(html, "\x01"));
	assert_non_null(strstr(html, "rep&lt;script&gt;"));
	assert_non_null(strstr(html, "read &lt;&amp;&gt;  bad"));
	assert_non_null(strstr(html, "f0.0&lt;i&gt; kill&quot;"));
	assert_non_null(strstr(html, "1&amp;2"));
	/* the override is shell-quoted for the reproduce line, then escaped */
	assert_non_null(strstr(html, "--seed 3 --set &#39;nemesis.0.name=it&#39;\\&#39;&#39;s "
				     "&lt;b&gt;&#39;"));
	/* the three window ops found and drawn, the failing one in red, once */
	assert_non_null(strstr(html, "<h2>Linearizability violation</h2>"));
	assert_int_equal(count(html, "class=\"bad\""), 1);
	assert_non_null(strstr(html, "line 5, process 2: read -&gt; &#39;a&lt;b&#39;  \xe2\x86\x90"));
	assert_null(strstr(html, "not found in history.jsonl"));
	assert_int_equal(count(html, "class=\"unk\""), 1); /* the info write */
	assert_null(strstr(html, "Sampled:"));
	free(html);
	json_decref(r);
	fl_run_data_release(&d);
	fl_scenario_free(s);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* results.json "clients" (exec programs) and a collapsed workload: the
 * header sums up the start-ups and restarts, a table lists the clients
 * that restarted or gave up (with their stderr file), and the workload
 * check's reason is said above the checks. A run without them shows none. */
static void test_clients_and_collapse(void **state)
{
	char dir[] = "/tmp/fl-html-XXXXXX", path[256], err[256];
	struct fl_scenario *s = scenario();
	struct fl_run_data d;
	json_t *r;
	char *html;

	(void)state;
	assert_non_null(mkdtemp(dir));
	run_data(&d);
	r = json_pack(
		"{s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:["
		"{s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:{s:f, s:f, s:f, s:f, s:i}, "
		"s:s},"
		"{s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:s}]}",
		"scenario", "rep", "verdict", "UNKNOWN", "checks", "name", "linearizable", "verdict",
		"PASS", "why", "0 ops", "name", "workload", "verdict", "UNKNOWN", "why",
		"the workload collapsed: 1 of 95 operations acknowledged (under 5%)", "clients",
		"client", 0, "node", "n1", "invoked", 40, "ok", 1, "starts", 1, "restarts", 0,
		"deaths", 0, "kills", 0, "backoffs", 0, "backoff_s", 0.0, "startup_ms", "first",
		2100.0, "last", 2100.0, "max", 2100.0, "mean", 2100.0, "count", 1, "stderr",
		"logs/client-n1-0.stderr",
		"client", 1, "node", "n2", "invoked", 55, "ok", 0, "starts", 4, "restarts", 3,
		"deaths", 3, "kills", 0, "backoffs", 2, "backoff_s", 0.75, "stderr",
		"logs/client-n2-1.stderr", "failed",
		"node n2: client program not ready: its stderr ends: '<no config>'");
	assert_non_null(r);
	assert_int_equal(fl_report_html_write(dir, s, r, &d, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	html = slurp(path);
	assert_self_contained(html);
	assert_non_null(strstr(html, "<b>Workload collapsed:</b> the workload collapsed: 1 of 95 "
				     "operations acknowledged (under 5%)"));
	assert_non_null(strstr(html, "<tr><td>clients</td><td>1 of 2 ready before the clock; first "
				     "start-up mean 2.10 s, slowest 2.10 s (client 0); 3 restarts "
				     "(3 died, 0 killed), 2 back-offs; 1 gave up</td></tr>"));
	assert_non_null(strstr(html, "<h2>Clients</h2>"));
	/* only the client that restarted and gave up has a row */
	assert_non_null(strstr(html, "<tr><td>1</td><td>n2</td><td>0 / 55</td><td>none</td>"
				     "<td>3 (3 died, 0 killed)</td><td>2 (0.8 s)</td>"
				     "<td>logs/client-n2-1.stderr</td><td>node n2: client program not "
				     "ready: its stderr ends: &#39;&lt;no config&gt;&#39;</td></tr>"));
	assert_null(strstr(html, "client-n1-0.stderr"));
	free(html);
	json_decref(r);

	/* the control: no clients, no collapse: neither said */
	r = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "scenario", "rep", "verdict", "PASS",
		      "checks", "name", "linearizable", "verdict", "PASS", "why", "fine");
	assert_int_equal(fl_report_html_write(dir, s, r, &d, err, sizeof(err)), 0);
	html = slurp(path);
	assert_null(strstr(html, "Workload collapsed"));
	assert_null(strstr(html, "<td>clients</td>"));
	assert_null(strstr(html, "<h2>Clients</h2>"));
	free(html);
	json_decref(r);
	fl_run_data_release(&d);
	fl_scenario_free(s);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_huge_history_is_sampled(void **state)
{
	char dir[] = "/tmp/fl-html-XXXXXX", path[256], err[256];
	struct fl_scenario *s = scenario();
	struct fl_run_data d;
	const size_t n = 50000;
	json_t *r;
	char *html;
	size_t marks;

	(void)state;
	assert_non_null(mkdtemp(dir));
	run_data(&d);
	for (size_t i = 0; i < n; i++)
		add_op(&d, (int64_t)i, (int)(i % 3), FL_F_READ, FL_OUTCOME_OK, (double)i * 0.0004,
		       (double)i * 0.0004 + 0.002);
	r = json_pack("{s:s, s:s, s:[]}", "scenario", "rep", "verdict", "PASS", "checks");
	assert_int_equal(fl_report_html_write(dir, s, r, &d, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/report.html", dir);
	html = slurp(path);
	assert_self_contained(html);
	assert_non_null(strstr(html, "1 operation in 3 (16667 of 50000)"));
	/* lanes and dots: each at most FL_REPORT_MAX_POINTS */
	marks = count(html, "<rect class=\"ok\"");
	assert_true(marks <= 2 * FL_REPORT_MAX_POINTS);
	assert_true(marks >= 2 * 16000);
	free(html);
	json_decref(r);
	fl_run_data_release(&d);
	fl_scenario_free(s);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void test_index(void **state)
{
	char dir[] = "/tmp/fl-html-XXXXXX", sub[512], path[600], err[256];
	struct fl_diags dg;
	struct fl_scenario *s = NULL;
	size_t n = 0;
	char *html;
	const char *a, *b, *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/old-run", dir);
	mkdir(sub, 0755);
	write_file(sub, "run.json", "{\"scenario\":\"q\",\"seed\":1,\"started\":\"2026-01-01T00:00:00Z\"}");
	write_file(sub, "results.json", "{\"scenario\":\"q\",\"verdict\":\"PASS\",\"checks\":"
		   "[{\"name\":\"converge\",\"verdict\":\"PASS\",\"why\":\"ok\"}]}");
	write_file(sub, "report.html", "x");
	snprintf(sub, sizeof(sub), "%s/new\"<run>", dir);
	mkdir(sub, 0755);
	write_file(sub, "run.json", "{\"scenario\":\"q<\",\"seed\":2,\"started\":\"2026-02-01T00:00:00Z\"}");
	snprintf(sub, sizeof(sub), "%s/mid-run", dir);
	mkdir(sub, 0755);
	write_file(sub, "run.json", "{\"scenario\":\"q\",\"seed\":3,\"started\":\"2026-01-15T00:00:00Z\"}");
	write_file(sub, "results.json", "{\"verdict\":\"FAIL\",\"checks\":[{\"name\":\"linearizable\","
		   "\"verdict\":\"FAIL\",\"why\":\"a <stale> read\"}]}");
	snprintf(sub, sizeof(sub), "%s/no-run", dir);
	mkdir(sub, 0755);

	assert_int_equal(fl_report_index_write(dir, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	snprintf(path, sizeof(path), "%s/index.html", dir);
	html = slurp(path);
	assert_self_contained(html);
	a = strstr(html, ">new&quot;&lt;run&gt;</a>");
	b = strstr(html, ">mid-run</a>");
	c = strstr(html, ">old-run</a>");
	assert_true(a && b && c && a < b && b < c); /* newest first */
	assert_non_null(strstr(html, "href=\"new%22%3Crun%3E/\""));
	assert_non_null(strstr(html, "href=\"old-run/report.html\""));
	assert_non_null(strstr(html, "href=\"mid-run/\""));
	assert_null(strstr(html, "no-run"));
	assert_non_null(strstr(html, "not judged</span>"));
	/* check columns in order of first appearance, newest run first */
	assert_non_null(strstr(html, "<th>linearizable</th><th>converge</th>"));
	assert_non_null(strstr(html, "title=\"a &lt;stale&gt; read\">FAIL</span>"));
	free(html);

	/* a directory that is no run: no scenario, no message, -ENOENT */
	fl_diags_init(&dg);
	snprintf(sub, sizeof(sub), "%s/no-run", dir);
	assert_int_equal(fl_run_scenario_load(sub, &dg, &s, NULL), -ENOENT);
	assert_int_equal(dg.n, 0);
	assert_null(s);
	fl_diags_release(&dg);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping_and_violation),
		cmocka_unit_test(test_clients_and_collapse),
		cmocka_unit_test(test_huge_history_is_sampled),
		cmocka_unit_test(test_index),
	};
	return cmocka_run_group_tests_name("report_html", tests, NULL, NULL);
}
