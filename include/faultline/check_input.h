/* Histories for the linearizability checker (linear.h) from files: faultline's
 * history.jsonl, Jepsen etcd client logs, and EDN key-value logs (the two
 * formats of Porcupine's test data). Detects the format and the model from
 * the content. Reports every malformed line as "file:line: message" in a
 * fl_diags; prints nothing.
 *
 * What each format's outcomes become (see linear.h for the op semantics):
 *   faultline  ok: the op; fail: dropped, except a cas whose error contains
 *              "compare failed" (a definite compare failure); info or never
 *              completed: unknown outcome (reads dropped).
 *   etcd       ":ok" the op; ":fail :read" (timed out) dropped; ":fail :cas" a
 *              compare failure; ":fail :write" dropped; ":info" unknown outcome.
 *              One register (key ""); times are line numbers.
 *   edn        ":ok" the op; ":fail" dropped; ":info" or no completion: unknown
 *              outcome. Times are line numbers; nil and "" are the same value. */
#ifndef FAULTLINE_CHECK_INPUT_H
#define FAULTLINE_CHECK_INPUT_H

#include <stdio.h>

#include "faultline/diag.h"
#include "faultline/linear.h"

enum fl_check_format {
	FL_CHECK_FAULTLINE, /* history.jsonl */
	FL_CHECK_ETCD,      /* Jepsen etcd log: "INFO  jepsen.util - 3 :invoke :cas [1 4]" */
	FL_CHECK_EDN,       /* {:process 0, :type :invoke, :f :put, :key "1", :value "x"} */
	FL_CHECK_FORMAT__N,
};
const char *fl_check_format_to_string(enum fl_check_format f); /* faultline|etcd|edn */
int fl_check_format_from_string(const char *s);                 /* -EINVAL when unknown */

/* The format of a file from its first meaningful line; -EINVAL if none fits. */
int fl_check_detect_format(const char *line);

/* Read a history from f (name is used in messages). format < 0: detect.
 * On success (0): *out, the format used, and the model the content implies
 * (faultline: set when it has add/read_all, cas-register when it has cas,
 * else register; etcd: cas-register; edn: kv). On a malformed input:
 * -EINVAL with every problem in d; -errno on I/O errors. */
int fl_check_read(FILE *f, const char *name, int format, struct fl_lin_history **out,
		  enum fl_check_format *format_out, enum fl_lin_model *model_out,
		  struct fl_diags *d);
/* The same from a path. */
int fl_check_load(const char *path, int format, struct fl_lin_history **out,
		  enum fl_check_format *format_out, enum fl_lin_model *model_out,
		  struct fl_diags *d);

#endif
