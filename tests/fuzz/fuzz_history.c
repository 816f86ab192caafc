/* libFuzzer target for the history reader (fl_history_load): a history.jsonl
 * torn by a crash, a full disk or a hand edit must be read as damage, never
 * end in a crash, a leak, a hang or a huge allocation. Seeds:
 * tests/fuzz/corpus/history/. */
#include "faultline/history.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct fl_ops ops;
	char path[64], err[256], desc[256];
	json_t *j;

	fuzz_memfd(&fd, data, size, path, sizeof(path));
	if (fl_history_load(path, &ops, err, sizeof(err)) < 0)
		return 0;
	fl_history_damage_describe(&ops.damage, desc, sizeof(desc));
	j = fl_history_damage_json(&ops.damage);
	json_decref(j);
	fl_ops_release(&ops);
	return 0;
}
