/* libFuzzer target for `faultline report RUN_DIR` (fl_cli_verdict without
 * judging): results.json as the run left it, and the history.jsonl,
 * faults.jsonl and status.jsonl that report.html draws, from the input cut
 * at form feeds ('\f') in that order. The table, junit.xml and report.html
 * are written for real into a directory under $TMPDIR. Seeds:
 * tests/fuzz/corpus/results/. */
#include "faultline/check_cli.h"
#include "faultline/scenario.h"

#include "fuzz_util.h"

static const char *const files[4] = { "results.json", "history.jsonl", "faults.jsonl",
				      "status.jsonl" };
static const char scenario[] =
	"name: fuzz\nseed: 1\nduration: 20s\ncluster: {nodes: 3}\nsystem: {type: etcd}\n"
	"workload: {type: register, clients: 2}\n"
	"nemesis:\n  - {fault: partition, mode: isolate, targets: n1, at: 5s, for: 5s}\n"
	"checks: {linearizable: true, no_lost_writes: true, availability: {min: \"10%\"}}\n";
static char dir[128];
static int fds[4];
static struct fl_scenario *s;

static void done(void)
{
	fuzz_run_dir_remove(dir);
	fl_scenario_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *out;

	if (!s) {
		struct fl_diags d;

		fl_diags_init(&d);
		if (fl_scenario_load_string("fuzz.yaml", scenario, sizeof(scenario) - 1, NULL, 0, &d,
					    &s) < 0) {
			fl_diags_print(&d, stderr);
			abort();
		}
		fl_diags_release(&d);
		fuzz_run_dir(dir, sizeof(dir), files, 4, fds);
		atexit(done);
	}
	fuzz_split(data, size, fds, 4);
	if (!(out = fopen("/dev/null", "w")))
		abort();
	fl_cli_verdict(dir, s, 0, out);
	fclose(out);
	return 0;
}
