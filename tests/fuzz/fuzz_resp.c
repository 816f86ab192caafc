/* libFuzzer target for the redis adapter's RESP2 parser (fl_resp_parse):
 * the bytes as a stream of replies from a redis or sentinel, taken one
 * reply at a time as the adapter does. Never past the buffer, and a reply
 * cut anywhere before its end is "not complete yet", not an error or
 * another reply. Seeds: tests/fuzz/corpus/resp/. */
#include <errno.h>

#include "systems/redis-priv.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t left = size, used, short_used;
	struct fl_resp *r;

	while (fl_resp_parse(p, left, &r, &used) == 0) {
		fl_resp_free(r);
		if (!used || used > left)
			abort();
		/* the same reply one byte short */
		if (fl_resp_parse(p, used - 1, &r, &short_used) != -EAGAIN)
			abort();
		p += used;
		left -= used;
	}
	return 0;
}
