/* libFuzzer target for `faultline compare` (fl_compare_runs): what it reads
 * of two run directories, history.jsonl, faults.jsonl and run.json each,
 * from the input cut at form feeds ('\f') into up to six parts in that
 * order (base, then new). The directories hold symlinks to memfds under
 * $TMPDIR, removed at exit; a crash leaves them, so tests/fuzz/run gives a
 * $TMPDIR under build/fuzz that it removes. Seeds: tests/fuzz/corpus/compare/. */
#include <string.h>

#include "faultline/compare.h"

#include "fuzz_util.h"

static const char *const files[3] = { "history.jsonl", "faults.jsonl", "run.json" };
static char dirs[2][64];
static int fds[6] = { -1, -1, -1, -1, -1, -1 };

static void remove_dirs(void)
{
	char path[128];

	for (size_t d = 0; d < 2; d++) {
		for (size_t k = 0; k < 3; k++) {
			snprintf(path, sizeof(path), "%s/%s", dirs[d], files[k]);
			unlink(path);
		}
		rmdir(dirs[d]);
	}
}

static void make_dirs(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[128], target[64];

	for (size_t d = 0; d < 2; d++) {
		snprintf(dirs[d], sizeof(dirs[d]), "%s/fuzz-compare.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dirs[d]))
			abort();
		for (size_t k = 0; k < 3; k++) {
			fuzz_memfd(&fds[d * 3 + k], NULL, 0, target, sizeof(target));
			snprintf(path, sizeof(path), "%s/%s", dirs[d], files[k]);
			if (symlink(target, path) < 0)
				abort();
		}
	}
	atexit(remove_dirs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_compare_opts o = { .threshold = 0.10, .min_delta_ns = 1000000 };
	const uint8_t *p = data, *end = data + size;
	char err[512], target[64];
	FILE *out;

	if (fds[0] < 0)
		make_dirs();
	for (size_t k = 0; k < 6; k++) {
		const uint8_t *ff = p < end ? memchr(p, '\f', (size_t)(end - p)) : NULL;
		const uint8_t *stop = ff ? ff : end;

		fuzz_memfd(&fds[k], p, (size_t)(stop - p), target, sizeof(target));
		p = ff ? ff + 1 : end;
	}
	if (!(out = fopen("/dev/null", "w")))
		abort();
	fl_compare_runs(dirs[0], dirs[1], &o, out, err, sizeof(err));
	fclose(out);
	return 0;
}
