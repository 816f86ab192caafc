/* libFuzzer target for the exec adapter's reply parser
 * (fl_exec_reply_parse): the first byte picks the request it answers, the
 * rest up to the first newline is the line the client program printed.
 * Seeds: tests/fuzz/corpus/exec_reply/. */
#include <string.h>

#include "systems/exec-priv.h"

#include "fuzz_util.h"

static const char *const requests[FL_EXEC__N] = {
	[FL_EXEC_STATUS] = "status",	   [FL_EXEC_GET] = "get k",	   [FL_EXEC_PUT] = "put k v",
	[FL_EXEC_CAS] = "cas k a b",	   [FL_EXEC_ADD] = "add k e",
	[FL_EXEC_READ_SET] = "read-set k", [FL_EXEC_DIGEST] = "digest",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum fl_exec_op op;
	enum fl_outcome oc;
	char *line, **w, err[512];
	size_t n, len;
	int r;

	if (!size)
		return 0;
	op = (enum fl_exec_op)(data[0] % FL_EXEC__N);
	len = size - 1;
	if (memchr(data + 1, '\n', len))
		len = (size_t)((const uint8_t *)memchr(data + 1, '\n', len) - (data + 1));
	if (!(line = strndup((const char *)data + 1, len)))
		return 0;
	r = fl_exec_reply_parse("n1", requests[op], op, line, &w, &n, &oc, err, sizeof(err));
	if (r == 0) {
		for (size_t k = 0; k < n; k++)
			if (!w[k] || !*w[k] || strlen(w[k]) > len)
				abort();
		if (w[n] || oc != FL_OUTCOME_OK)
			abort();
		free(w);
	} else if (oc == FL_OUTCOME_OK || !*err) {
		abort();
	}
	free(line);
	return 0;
}
