/* libFuzzer target for `faultline check`'s readers (fl_check_read): a
 * history.jsonl, a Jepsen etcd client log or an EDN key-value log, the
 * format detected from the content as the command does. Any bytes end in a
 * history or in "file:line: message" diagnostics. Seeds:
 * tests/fuzz/corpus/check_input/, and ../shared/data/porcupine when there. */
#include "faultline/check_input.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fl_lin_history *h = NULL;
	enum fl_check_format fmt;
	enum fl_lin_model model;
	struct fl_diags d;
	FILE *f;

	if (!size)
		return 0; /* fmemopen refuses an empty buffer */
	f = fmemopen((void *)data, size, "r");
	if (!f)
		abort();
	fl_diags_init(&d);
	if (fl_check_read(f, "fuzz.log", -1, &h, &fmt, &model, &d) == 0)
		fl_lin_history_free(h);
	fl_diags_release(&d);
	fclose(f);
	return 0;
}
