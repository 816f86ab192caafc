/* The reply parser of the exec adapter's line protocol, exposed for its
 * unit test and its fuzz target (tests/fuzz/fuzz_exec_reply.c). A reply is
 * whatever the user's client program printed: the parser must take any
 * bytes without reading past the line or trusting a word's count. */
#ifndef FAULTLINE_SYSTEMS_EXEC_PRIV_H
#define FAULTLINE_SYSTEMS_EXEC_PRIV_H

#include <stddef.h>

#include "faultline/history.h"

enum fl_exec_op {
	FL_EXEC_STATUS,
	FL_EXEC_GET,
	FL_EXEC_PUT,
	FL_EXEC_CAS,
	FL_EXEC_ADD,
	FL_EXEC_READ_SET,
	FL_EXEC_DIGEST,
	FL_EXEC__N,
};

/* Sort out one reply line (without its newline) to request, sent to node
 * as op. "ok ...": 0, *words the words after "ok" (NULL-terminated array,
 * free it; the words point into line, which gets NULs). "fail"/"info"
 * REASON: -errno from REASON (a cas's "compare": -ECANCELED) with *outcome
 * (FAIL, or INFO for a write's "info") and err set; "unsupported":
 * -ENOTSUP; anything else: -EPROTO, *outcome FAIL for a read and INFO for a
 * write (an answer came, what it says is unknown). */
int fl_exec_reply_parse(const char *node, const char *request, enum fl_exec_op op, char *line,
			char ***words, size_t *nwords, enum fl_outcome *outcome, char *err,
			size_t errlen);

#endif
