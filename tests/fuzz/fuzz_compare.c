/* libFuzzer target for `faultline compare` (fl_compare_runs): what it reads
 * of two run directories, history.jsonl, faults.jsonl and run.json each,
 * from the input cut at form feeds ('\f') into up to six parts in that
 * order (base, then new). Seeds: tests/fuzz/corpus/compare/. */
#include "faultline/compare.h"

#include "fuzz_util.h"

static const char *const files[3] = { "history.jsonl", "faults.jsonl", "run.json" };
static char dirs[2][128];
static int fds[6] = { -1 };

static void remove_dirs(void)
{
	fuzz_run_dir_remove(dirs[0]);
	fuzz_run_dir_remove(dirs[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_compare_opts o = { .threshold = 0.10, .min_delta_ns = 1000000 };
	char err[512];
	FILE *out;

	if (!*dirs[0]) {
		fuzz_run_dir(dirs[0], sizeof(dirs[0]), files, 3, fds);
		fuzz_run_dir(dirs[1], sizeof(dirs[1]), files, 3, fds + 3);
		atexit(remove_dirs);
	}
	fuzz_split(data, size, fds, 6);
	if (!(out = fopen("/dev/null", "w")))
		abort();
	fl_compare_runs(dirs[0], dirs[1], &o, out, err, sizeof(err));
	fclose(out);
	return 0;
}
