/* The evidence rule, tried as a user meets it: a run directory built by
 * hand (history.jsonl, faults.jsonl, status.jsonl) judged by
 * fl_run_verdict, the engine of `faultline check RUN_DIR`. Each case here
 * used to end PASS (or crash) with nothing or too little to judge; now it
 * is UNKNOWN (exit 3) with the reason, or FAIL where the evidence says so. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/history.h"
#include "faultline/check_cli.h"
#include "faultline/report.h"

static char dir[64];
static FILE *hist;
static FILE *sink; /* the printed table goes here */

static void begin(void)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/fl-evidence-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/history.jsonl", dir);
	assert_non_null(hist = fopen(path, "w"));
}

static void rm_dir(void)
{
	static const char *const files[] = { "history.jsonl", "faults.jsonl", "status.jsonl",
					     "digests.jsonl", "results.json", "junit.xml",
					     "report.html", "clients.json" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* One op: invoke and completion lines. value: written (write/add) or read
 * (read; NULL: absent). f "read_all" takes elems (comma-separated). */
static void opl(int i, const char *node, const char *f, const char *key, const char *value,
		double inv, double done, const char *outcome, int final)
{
	int write = !strcmp(f, "write") || !strcmp(f, "add") || !strcmp(f, "cas");
	const char *fin = final ? ",\"final\":true" : "";

	fprintf(hist, "{\"i\":%d,\"type\":\"invoke\",\"t\":%lld,\"process\":%d,\"node\":\"%s\","
		      "\"f\":\"%s\",\"key\":\"%s\"", i, (long long)(inv * 1e9), final ? 1000 : i % 3,
		node, f, key);
	if (write)
		fprintf(hist, ",\"value\":\"%s\"", value);
	fprintf(hist, "%s}\n", fin);
	if (done < 0)
		return;
	fprintf(hist, "{\"i\":%d,\"type\":\"%s\",\"t\":%lld,\"process\":%d,\"node\":\"%s\","
		      "\"f\":\"%s\",\"key\":\"%s\"", i, outcome, (long long)(done * 1e9),
		final ? 1000 : i % 3, node, f, key);
	if (!strcmp(outcome, "ok") && !strcmp(f, "read_all")) {
		char buf[256], *save = NULL, *e;
		int first = 1;
		snprintf(buf, sizeof(buf), "%s", value ? value : "");
		fputs(",\"value\":[", hist);
		for (e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save), first = 0)
			fprintf(hist, "%s\"%s\"", first ? "" : ",", e);
		fputs("]", hist);
	} else if (!strcmp(outcome, "ok") && !strcmp(f, "read")) {
		if (value)
			fprintf(hist, ",\"value\":\"%s\"", value);
		else
			fputs(",\"value\":null", hist);
	}
	fprintf(hist, "%s}\n", fin);
}

/* The final reads: one per node (n1..n3), indexes from i on. */
static void finals(int i, const char *f, const char *key, const char *value, const char *outcome)
{
	for (int n = 0; n < 3; n++) {
		char node[4];
		snprintf(node, sizeof(node), "n%d", n + 1);
		opl(i + n, node, f, key, value, 5, 5.1, outcome, 1);
	}
}

static struct fl_scenario *scen(const char *workload, const char *checks)
{
	char y[1024];
	struct fl_diags d = { 0 };
	struct fl_scenario *s = NULL;
	int n = snprintf(y, sizeof(y),
			 "name: ev\nseed: 1\nduration: 20s\ncluster: {nodes: 3}\n"
			 "system: {type: etcd}\nworkload: %s\n%s%s\n", workload,
			 checks ? "checks: " : "", checks ? checks : "");

	assert_int_equal(fl_scenario_load_string("ev.yaml", y, (size_t)n, NULL, 0, &d, &s), 0);
	fl_diags_release(&d);
	return s;
}

/* Judge the run; returns the exit status, fills verdict/why of check name. */
static int judge(struct fl_scenario *s, const char *name, char *verdict, char *why, size_t len)
{
	char path[128];
	json_t *r, *c;
	size_t idx;
	int rc;

	fclose(hist);
	hist = NULL;
	rc = fl_cli_verdict(dir, s, 1, sink);
	snprintf(path, sizeof(path), "%s/results.json", dir);
	r = json_load_file(path, 0, NULL);
	assert_non_null(r);
	verdict[0] = why[0] = 0;
	json_array_foreach(json_object_get(r, "checks"), idx, c)
		if (!strcmp(json_string_value(json_object_get(c, "name")), name)) {
			snprintf(verdict, 16, "%s", json_string_value(json_object_get(c, "verdict")));
			snprintf(why, len, "%s", json_string_value(json_object_get(c, "why")));
		}
	print_message("  %-16s %-7s %s (exit %d)\n", name, verdict, why, rc);
	json_decref(r);
	fl_scenario_free(s);
	rm_dir();
	return rc;
}

/* Judge and expect: exit status, the check's verdict and a phrase of its why. */
static void expect(struct fl_scenario *s, const char *name, int rc, const char *verdict,
		   const char *needle)
{
	char v[16], why[512];

	assert_int_equal(judge(s, name, v, why, sizeof(why)), rc);
	assert_string_equal(v, verdict);
	if (needle)
		assert_non_null(strstr(why, needle));
}

#define REG "{type: register, clients: 3, keys: 1}"
#define SET "{type: set, clients: 3, keys: 1}"

static void test_no_checks(void **state)
{
	struct fl_scenario *s;

	(void)state;
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	s = scen(REG, NULL);
	assert_int_equal(s->warnings.n, 1);
	assert_non_null(strstr(s->warnings.v[0].msg, "enables no checks"));
	expect(s, "checks", 3, "UNKNOWN", "nothing was judged");
}

static void test_linearizable_needs_ops_and_reads(void **state)
{
	(void)state;
	begin(); /* an empty history */
	expect(scen(REG, "{linearizable: true}"), "linearizable", 3, "UNKNOWN", "no operations");

	/* a set workload whose final reads all failed: only adds were checked */
	begin();
	opl(0, "n1", "add", "s0", "0-0", 1, 1.1, "ok", 0);
	opl(1, "n2", "add", "s0", "1-0", 1, 1.2, "ok", 0);
	finals(2, "read_all", "s0", NULL, "fail");
	expect(scen(SET, "{linearizable: true}"), "linearizable", 3, "UNKNOWN", "no read answered");

	/* reads during the run answered, the final reads (that see every add) not */
	begin();
	opl(0, "n1", "add", "s0", "0-0", 1, 1.1, "ok", 0);
	opl(1, "n2", "read_all", "s0", "0-0", 2, 2.1, "ok", 0);
	opl(2, "n2", "add", "s0", "1-0", 3, 3.2, "ok", 0);
	opl(3, "n1", "read_all", "s0", NULL, 5, 5.1, "fail", 1);
	expect(scen(SET, "{linearizable: true}"), "linearizable", 3,
	       "UNKNOWN", "every final read failed");

	/* the same with the final reads answered: judged */
	begin();
	opl(0, "n1", "add", "s0", "0-0", 1, 1.1, "ok", 0);
	opl(1, "n2", "add", "s0", "1-0", 1, 1.2, "ok", 0);
	opl(2, "n1", "read_all", "s0", "0-0,1-0", 5, 5.1, "ok", 1);
	expect(scen(SET, "{linearizable: true}"), "linearizable", 0, "PASS", NULL);
}

/* read_mode: serializable with linearizable is allowed (it shows stale
 * reads), warned about, and the verdict says the reads were serializable */
static void test_serializable_reads(void **state)
{
	struct fl_scenario *s;

	(void)state;
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	opl(1, "n2", "write", "k0", "b", 2, 2.1, "ok", 0);
	opl(2, "n3", "read", "k0", "a", 3, 3.1, "ok", 0); /* stale */
	s = scen("{type: register, clients: 3, keys: 1, read_mode: serializable}",
		 "{linearizable: true}");
	assert_int_equal(s->warnings.n, 1);
	assert_int_equal(s->warnings.v[0].line, 6); /* where read_mode is */
	assert_non_null(strstr(s->warnings.v[0].msg, "read_mode: serializable"));
	expect(s, "linearizable", 1, "FAIL", "reads were serializable");
}

/* no_lost_writes over the history as the loader reads it */
static void test_no_lost_writes_evidence(void **state)
{
	(void)state;
	/* nothing acknowledged */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 3, "info", 0);
	finals(1, "read", "k0", "a", "ok");
	expect(scen(REG, "{no_lost_writes: true}"), "no_lost_writes", 3,
	       "UNKNOWN", "no write was acknowledged");

	/* 1 of 3 nodes answering its final read */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	opl(1, "n1", "read", "k0", "a", 5, 5.1, "ok", 1);
	opl(2, "n2", "read", "k0", NULL, 5, 6, "fail", 1);
	opl(3, "n3", "read", "k0", NULL, 5, 6, "fail", 1);
	expect(scen(REG, "{no_lost_writes: true}"), "no_lost_writes", 3,
	       "UNKNOWN", "final read of k0 failed on n2");

	/* a damaged "ok" line: the acknowledged write b would look like one of
	 * unknown outcome, and its loss (every node reads a) would be hidden */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	fputs("{\"i\":1,\"type\":\"invoke\",\"t\":2000000000,\"process\":1,\"node\":\"n2\","
	      "\"f\":\"write\",\"key\":\"k0\",\"value\":\"b\"}\n"
	      "{\"i\":1,\"type\":\"ok\",\"t\":2100000000,\"proc\x01 garbled\n", hist);
	finals(2, "read", "k0", "a", "ok");
	expect(scen(REG, "{no_lost_writes: true, linearizable: true}"), "no_lost_writes", 3,
	       "UNKNOWN", "1 history line unreadable");

	/* a set add line with no value (this crashed `faultline check`) */
	begin();
	opl(0, "n1", "add", "s0", "0-0", 1, 1.1, "ok", 0);
	fputs("{\"i\":1,\"type\":\"invoke\",\"t\":2000000000,\"process\":1,\"node\":\"n2\","
	      "\"f\":\"add\",\"key\":\"s0\"}\n{\"i\":1,\"type\":\"ok\",\"t\":2100000000,"
	      "\"process\":1,\"node\":\"n2\",\"f\":\"add\",\"key\":\"s0\"}\n", hist);
	finals(2, "read_all", "s0", "0-0", "ok");
	expect(scen(SET, "{no_lost_writes: true}"), "no_lost_writes", 3, "UNKNOWN",
	       "1 history line unreadable, 1 completion without its invoke line");

	/* a torn last line and a dropped op (index 1 has no line at all) */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	finals(2, "read", "k0", "a", "ok");
	fputs("{\"i\":5,\"type\":\"inv", hist);
	expect(scen(REG, "{no_lost_writes: true}"), "no_lost_writes", 3,
	       "UNKNOWN", "1 history line unreadable (the last, torn), 1 op dropped");

	/* and the whole history: PASS */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	finals(1, "read", "k0", "a", "ok");
	expect(scen(REG, "{no_lost_writes: true}"), "no_lost_writes", 0, "PASS", NULL);
}

/* 40 adds of unknown outcome, the final reads answering, and clients.json */
static void collapsed(const char *clients_json)
{
	char path[128];
	FILE *f;

	begin();
	for (int i = 0; i < 40; i++) {
		char e[16];
		snprintf(e, sizeof(e), "%d-0", i);
		opl(i, "n1", "add", "s0", e, 1 + i * 0.1, 3 + i * 0.1, "info", 0);
	}
	finals(40, "read_all", "s0", "0-0,1-0", "ok");
	snprintf(path, sizeof(path), "%s/clients.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(clients_json, f);
	fclose(f);
}

/* A workload that collapsed (issue 17: client programs slower to start
 * than the op timeout, every add timing out): the final reads see the adds
 * of unknown outcome, so linearizable alone found nothing wrong and the run
 * was PASS on 0 acknowledged ops. Now a "workload" entry says UNKNOWN. */
static void test_collapsed_workload(void **state)
{
	char v[16], why[512];

	(void)state;
	collapsed("{\"clients\":[{\"client\":0,\"node\":\"n1\",\"starts\":9,\"restarts\":8},"
		  "{\"client\":1,\"node\":\"n2\",\"starts\":1,\"restarts\":0,\"failed\":\"node n2: "
		  "client program not ready within 2000 ms\"}],\"ready_s\":2.0}\n");
	assert_int_equal(judge(scen(SET, "{linearizable: true}"), "linearizable", v, why,
			       sizeof(why)), 3);
	assert_string_equal(v, "PASS"); /* as judged alone: nothing contradicts it */
	collapsed("{\"clients\":[{\"client\":1,\"node\":\"n2\",\"failed\":\"node n2: client "
		  "program not ready within 2000 ms\"}]}\n");
	expect(scen(SET, "{linearizable: true}"), "workload", 3, "UNKNOWN",
	       "the workload collapsed: 0 of 40 operations acknowledged (under 5%), too little "
	       "to judge the system by; client 1 gave up: node n2: client program not ready");

	/* almost none: 1 of 40 */
	begin();
	for (int i = 0; i < 40; i++) {
		char e[16];
		snprintf(e, sizeof(e), "%d-0", i);
		opl(i, "n1", "add", "s0", e, 1 + i * 0.1, 3 + i * 0.1, i ? "info" : "ok", 0);
	}
	finals(40, "read_all", "s0", "0-0,1-0", "ok");
	expect(scen(SET, "{linearizable: true}"), "workload", 3, "UNKNOWN", "1 of 40 operations");

	/* the control: 3 of 40 unknown, the rest acknowledged: no "workload"
	 * entry, PASS */
	begin();
	for (int i = 0; i < 40; i++) {
		char e[16];
		snprintf(e, sizeof(e), "%d-0", i);
		opl(i, "n1", "add", "s0", e, 1 + i * 0.1, 1.05 + i * 0.1, i % 13 ? "ok" : "info", 0);
	}
	{
		char all[512] = "";
		for (int i = 0; i < 40; i++)
			snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%d-0", i ? "," : "", i);
		finals(40, "read_all", "s0", all, "ok");
	}
	assert_int_equal(judge(scen(SET, "{linearizable: true}"), "workload", v, why, sizeof(why)),
			 0);
	assert_string_equal(v, "");
}

/* results.json counts the damage for the report and for scripts */
static void test_damage_in_results(void **state)
{
	char path[128];
	json_t *r, *h;

	(void)state;
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	fputs("not json\n{\"i\":7,\"type\":\"ok\",\"t\":5,\"process\":0,\"node\":\"n1\","
	      "\"f\":\"read\",\"key\":\"k0\"}\n", hist);
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0); /* repeated */
	fclose(hist);
	hist = NULL;
	{
		struct fl_scenario *s = scen(REG, "{availability: {min: \"10%\"}}");
		assert_int_equal(fl_cli_verdict(dir, s, 1, sink), 3);
		fl_scenario_free(s);
	}
	snprintf(path, sizeof(path), "%s/results.json", dir);
	r = json_load_file(path, 0, NULL);
	h = json_object_get(json_object_get(r, "damage"), "history");
	assert_int_equal(json_integer_value(json_object_get(h, "bad_lines")), 1);
	assert_int_equal(json_integer_value(json_object_get(h, "orphan_completions")), 1);
	assert_int_equal(json_integer_value(json_object_get(h, "repeated")), 2);
	assert_int_equal(json_integer_value(json_object_get(h, "dropped_ops")), 6);
	json_decref(r);
	rm_dir();
}

/* A line appended to the run's file name (faults.jsonl, status.jsonl ...). */
static void put(const char *name, const char *line)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "a"));
	fprintf(f, "%s\n", line);
	fclose(f);
}

/* What the run writes when node n2's agent is gone 3 s in (run.c). */
#define LOST_N2 "{\"t\":3000000000,\"event\":\"lost\",\"node\":\"n2\",\"why\":\"node " \
		"'n2': the agent's channel is closed\"}"

/* A run whose every check would PASS, with n2 lost: the checks that need
 * every node's evidence say UNKNOWN naming it, those judged from the
 * client history alone stand and say why */
static void lost_run(int lose)
{
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	opl(1, "n3", "read", "k0", "a", 2, 2.1, "ok", 0);
	finals(2, "read", "k0", "a", "ok");
	/* n1 leads term 2 from 0.5 s to 6 s, as every node says */
	for (int k = 0; k < 12; k++)
		for (int n = 1; n <= 3; n++) {
			char l[200];
			snprintf(l, sizeof(l), "{\"t\":%lld,\"node\":\"n%d\",\"ok\":true,"
				 "\"leader\":\"n1\",\"term\":2}", (long long)(500000000LL * (k + 1)), n);
			put("status.jsonl", l);
		}
	put("digests.jsonl", "{\"t\":7000000000,\"converged\":true,\"digest\":\"ab\"}");
	if (lose)
		put("faults.jsonl", LOST_N2);
}

#define ALL_CHECKS "{linearizable: true, no_lost_writes: true, leader_per_term: true, " \
		   "converge: {within: 10s}, availability: {min: \"50%\"}}"

static void test_lost_node(void **state)
{
	static const char *const unknown[] = { "no_lost_writes", "leader_per_term", "converge" };
	static const char *const stand[] = { "linearizable", "availability" };
	char v[16], why[512], path[128], *page = NULL;
	size_t len = 0;
	json_t *r, *l;
	FILE *f;

	(void)state;
	/* the control: nothing lost, every check passes */
	lost_run(0);
	expect(scen(REG, ALL_CHECKS), "converge", 0, "PASS", NULL);
	for (size_t k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++) {
		lost_run(1);
		assert_int_equal(judge(scen(REG, ALL_CHECKS), unknown[k], v, why, sizeof(why)), 3);
		assert_string_equal(v, "UNKNOWN");
		assert_non_null(strstr(why, "node n2 lost at 3.0s (node 'n2': the agent's channel "
					    "is closed)"));
		assert_non_null(strstr(why, "otherwise PASS"));
	}
	for (size_t k = 0; k < sizeof(stand) / sizeof(stand[0]); k++) {
		lost_run(1);
		assert_int_equal(judge(scen(REG, ALL_CHECKS), stand[k], v, why, sizeof(why)), 3);
		assert_string_equal(v, "PASS");
		assert_non_null(strstr(why, "node n2 lost at 3.0s"));
		assert_non_null(strstr(why, "judged from the client history alone"));
	}
	/* every check passing is not enough: the run did not run its plan */
	lost_run(1);
	expect(scen(REG, "{linearizable: true}"), "linearizable", 3, "PASS", "n2 lost");

	/* results.json, junit.xml and report.html name it */
	lost_run(1);
	fclose(hist);
	hist = NULL;
	{
		struct fl_scenario *s = scen(REG, ALL_CHECKS);
		assert_int_equal(fl_cli_verdict(dir, s, 1, sink), 3);
		fl_scenario_free(s);
	}
	snprintf(path, sizeof(path), "%s/results.json", dir);
	assert_non_null(r = json_load_file(path, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "UNKNOWN");
	assert_int_equal(json_array_size(json_object_get(r, "lost")), 1);
	l = json_array_get(json_object_get(r, "lost"), 0);
	assert_string_equal(json_string_value(json_object_get(l, "node")), "n2");
	assert_true(json_number_value(json_object_get(l, "t_s")) == 3.0);
	assert_string_equal(json_string_value(json_object_get(l, "why")),
			    "node 'n2': the agent's channel is closed");
	json_decref(r);
	snprintf(path, sizeof(path), "%s/junit.xml", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_true(getdelim(&page, &len, 0, f) > 0);
	fclose(f);
	assert_non_null(strstr(page, "<property name=\"lost_node\" value=\"n2 at 3.0s: node "
				     "&#39;n2&#39;: the agent&#39;s channel is closed\"/>"));
	snprintf(path, sizeof(path), "%s/report.html", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_true(getdelim(&page, &len, 0, f) > 0);
	fclose(f);
	assert_non_null(strstr(page, "<b>Lost node:</b> n2 at 3.0s"));
	free(page);
	rm_dir();
}

/* A violation recorded before or after the loss stands: missing evidence
 * cannot make these checks FAIL */
static void test_lost_node_violation_stands(void **state)
{
	(void)state;
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	opl(1, "n1", "read", "k0", "a", 5, 5.1, "ok", 1);
	opl(2, "n2", "read", "k0", "a", 5, 5.1, "ok", 1);
	opl(3, "n3", "read", "k0", NULL, 5, 5.1, "ok", 1); /* the write lost on n3 */
	put("faults.jsonl", LOST_N2);
	expect(scen(REG, "{no_lost_writes: true}"), "no_lost_writes", 1, "FAIL",
	       "node n2 lost at 3.0s (node 'n2': the agent's channel is closed): a violation "
	       "recorded stands");

	/* timed checks cannot tell: converge's digests differ, n2's among them */
	begin();
	opl(0, "n1", "write", "k0", "a", 1, 1.1, "ok", 0);
	put("digests.jsonl", "{\"t\":7000000000,\"node\":\"n1\",\"digest\":\"ab\"}");
	put("digests.jsonl", "{\"t\":7000000000,\"node\":\"n2\",\"error\":\"timeout\"}");
	put("digests.jsonl", "{\"t\":7000000000,\"converged\":false}");
	put("faults.jsonl", LOST_N2);
	expect(scen(REG, "{converge: {within: 10s}}"), "converge", 3, "UNKNOWN",
	       "its faults did not end as planned and its evidence is missing (otherwise FAIL");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_checks),
		cmocka_unit_test(test_linearizable_needs_ops_and_reads),
		cmocka_unit_test(test_serializable_reads),
		cmocka_unit_test(test_no_lost_writes_evidence),
		cmocka_unit_test(test_collapsed_workload),
		cmocka_unit_test(test_damage_in_results),
		cmocka_unit_test(test_lost_node),
		cmocka_unit_test(test_lost_node_violation_stands),
	};
	int rc;

	sink = fopen("/dev/null", "w");
	rc = cmocka_run_group_tests_name("evidence", tests, NULL, NULL);
	fclose(sink);
	return rc;
}
