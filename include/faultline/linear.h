/* Linearizability checker: given a history of operations on a sequential
 * object (with the real-time interval of each operation), decide whether
 * some total order of the operations respects real time and the object's
 * sequential specification. The search is Wing–Gong/Lowe's (WGL) with
 * P-compositionality (each key is an independent object, checked on its own
 * and in parallel) and memoisation of (set of linearized ops, model state).
 * This module knows nothing of file formats (see check_input.h) and never
 * prints; it only returns a verdict with details.
 *
 * Semantics of the op representation (what the parsers must produce):
 *  - An op with an unknown outcome (timeout, connection lost) has
 *    ret = FL_LIN_INF: it may take effect at any moment after its call, or
 *    never (taking effect after every other op is the same as never).
 *  - A read whose value is unknown constrains nothing: the parser drops it.
 *  - An op that definitely did not happen (a failed write) is dropped.
 *  - A cas carries FL_LIN_CAS_FAILED when its compare definitely failed: it
 *    must linearize at a point where the state differs from the expected
 *    value, and changes nothing. An ok cas must find state == expect. A cas
 *    with an unknown outcome (ret = FL_LIN_INF) linearizes anywhere: it
 *    swaps when the state equals expect, else it is a failed compare.
 *    In faultline's history.jsonl a "fail" cas whose error says "compare
 *    failed" (the etcd adapter's text) is such a definite compare failure;
 *    any other failed cas (refused connection, ...) did not happen and is
 *    dropped. In Jepsen etcd logs every ":fail :cas" is a compare failure.
 *  - A read with ret = FL_LIN_INF (only through this API) constrains nothing.
 *
 * Reductions the search makes (each keeps the verdict exact; linear.c has
 * the arguments):
 *  - An unknown outcome that would change nothing where it is tried (a cas
 *    whose compare fails, a write of the current value) is not tried there:
 *    it can equally take effect after every op that returns. So once every
 *    op that returns is linearized, the history is linearizable.
 *  - Unknown outcomes with the same change (kind and values) are
 *    interchangeable: they take effect in invocation order.
 *  - kv: a string that no get of the key returns, nor starts with, can
 *    never be read (appends only lengthen it) until a put replaces it: all
 *    such strings are one state.
 *  - An unknown outcome is never tried right before a write (known or
 *    not): the write hides it, so it can be dropped. An unknown read is
 *    never tried.
 *  - A configuration is pruned when one with the same linearized ops that
 *    return, the same state, and fewer unknown outcomes taken (counted per
 *    class of interchangeable ones) was explored: taken unknown outcomes
 *    only constrain. Ops that return are tried before unknown outcomes.
 *  - A full search cache is emptied and the search goes on (exploring
 *    again what it forgot) when the check has a time limit; without one it
 *    is the memory limit.
 *  - Violations without exhausting the search: when a key's first search
 *    runs out of its step budget (first_steps), small sub-histories around
 *    the op it could not get past are checked: the ops from some op a on
 *    invoked by a time t, those still open at t or pending when a was
 *    invoked as unknown outcomes, from any state. One that cannot be
 *    linearized proves the history cannot (prefix-closed: linear.c has the
 *    argument). They are checked relaxed (an unknown outcome may take effect
 *    any number of times, so only the first invoked of each change counts):
 *    a violation there is one here. Then the whole key relaxed (the same
 *    argument), then the full search without a budget.
 *  - Not done: dropping an unknown write whose value no read returns and no
 *    cas expects. A definite compare failure observes it: write 1 (ok),
 *    write 2 (unknown), cas 1->3 failed is linearizable only with the
 *    unknown write; without failed cases (plain register) the drop would be
 *    sound, but in the Porcupine etcd corpus every written value is read.
 *
 * Models (state per key; every model partitions by key):
 *   register      read/write; initial state nil
 *   cas-register  read/write/cas; initial nil
 *   kv            get/put/append on strings; initial "" (nil reads as "")
 *   set           add(e) and read_all returning the whole set; initial {} */
#ifndef FAULTLINE_LINEAR_H
#define FAULTLINE_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#define FL_LIN_INF INT64_MAX /* ret of an op whose outcome is unknown */
#define FL_LIN_NIL 0u        /* value id of nil (kv: the empty string) */

enum fl_lin_model {
	FL_LIN_REGISTER,
	FL_LIN_CAS_REGISTER,
	FL_LIN_KV,
	FL_LIN_SET,
	FL_LIN_MODEL__N,
};
const char *fl_lin_model_to_string(enum fl_lin_model m);
int fl_lin_model_from_string(const char *s); /* -EINVAL when unknown */

enum fl_lin_kind {
	FL_LIN_READ,     /* a = value read (kv get) */
	FL_LIN_WRITE,    /* a = value written (kv put) */
	FL_LIN_CAS,      /* a = expected, b = new value */
	FL_LIN_APPEND,   /* kv: a = suffix */
	FL_LIN_ADD,      /* set: a = element */
	FL_LIN_READ_ALL, /* set: elements elems[a .. a+b) of the history, sorted */
	FL_LIN_KIND__N,
};
const char *fl_lin_kind_to_string(enum fl_lin_kind k);

#define FL_LIN_CAS_FAILED 0x1 /* the compare definitely failed (see above) */

/* One operation. Values are ids from fl_lin_history_value(). */
struct fl_lin_op {
	int64_t call, ret;  /* real time of invocation and response; ret may be FL_LIN_INF */
	uint32_t key;       /* id from fl_lin_history_key(): the partition */
	uint8_t kind;       /* enum fl_lin_kind */
	uint8_t flags;      /* FL_LIN_CAS_FAILED */
	uint32_t process;   /* the client, for reports only */
	uint32_t a, b;
	int64_t src;        /* the caller's reference (input line number), for reports */
};

/* A history: ops plus the interned keys, values and set elements they use. */
struct fl_lin_history {
	struct fl_lin_op *ops;
	size_t n, cap;
	char **keys;        /* key id -> name */
	size_t nkeys, keys_cap;
	char **vals;        /* value id -> text; vals[0] = NULL (nil) */
	size_t nvals, vals_cap;
	uint32_t *elems;    /* set reads' elements (value ids) */
	size_t nelems, elems_cap;
	size_t dropped;     /* ops the parser dropped (failed, unknown reads) */
	int64_t torn;       /* the last line's number when it was torn (its writer
			     * killed mid-line) and so not read; else 0 */
	/* intern tables (open addressing, private) */
	uint32_t *ktab, *vtab;
	size_t ktab_cap, vtab_cap;
};

struct fl_lin_history *fl_lin_history_new(void);
void fl_lin_history_free(struct fl_lin_history *h);
/* Intern a key / a value (len bytes); returns the id (>= 0) or -ENOMEM.
 * A NULL value is nil (id FL_LIN_NIL). */
int64_t fl_lin_history_key(struct fl_lin_history *h, const char *s, size_t len);
int64_t fl_lin_history_value(struct fl_lin_history *h, const char *s, size_t len);
/* Append an op (copied). For FL_LIN_READ_ALL, pass the elements' value ids:
 * they are sorted, deduplicated and stored, and a/b set. */
int fl_lin_history_add(struct fl_lin_history *h, const struct fl_lin_op *op,
		       const uint32_t *elems, size_t nelems);
/* Ops not valid for model m (a cas in a register history, say): the index
 * of the first such op, or -1. */
int64_t fl_lin_history_invalid_for(const struct fl_lin_history *h, enum fl_lin_model m);

enum fl_lin_verdict { FL_LIN_OK, FL_LIN_VIOLATION, FL_LIN_UNKNOWN };
const char *fl_lin_verdict_to_string(enum fl_lin_verdict v); /* linearizable|violation|unknown */

/* Why a key is UNKNOWN. STOPPED: another key was found not linearizable
 * first and the search of this one was abandoned (see all_keys). */
enum fl_lin_limit { FL_LIN_LIMIT_NONE, FL_LIN_LIMIT_TIME, FL_LIN_LIMIT_MEMORY, FL_LIN_LIMIT_STOPPED };
/* "", "time limit", "memory limit", "stopped" */
const char *fl_lin_limit_to_string(enum fl_lin_limit l);

struct fl_lin_limits {
	int64_t timeout_ns;  /* whole check; 0 = none */
	size_t memory_bytes; /* search caches of all partitions together; 0 = 1 GiB */
	int threads;         /* 0 = online CPUs */
	int window_effort;   /* sub-checks allowed for the violation window; 0 = 64, < 0 none
	                      * (and 64k search steps in all, whatever the number) */
	int all_keys;        /* check every key even after one violates (default: stop the others) */
	uint64_t first_steps; /* steps of a key's first search before the sub-histories and the
	                       * relaxed search (see linear.c); 0 = 256 per op (tests: 1) */
};

/* The result for one key (partition). Op indices are into history->ops. */
struct fl_lin_part {
	uint32_t key;
	enum fl_lin_verdict verdict;
	enum fl_lin_limit limit;   /* why UNKNOWN */
	size_t nops;
	/* Longest linearizable prefix: the first `prefix` ops of this key, in
	 * invocation order, were all linearized together (with possibly some
	 * later concurrent ops) by the search, except unknown outcomes, which
	 * the search may leave for the end. Equal to nops when linearizable. */
	size_t prefix;
	/* VIOLATION: the op following that prefix: the first op, in invocation
	 * order, that no explored linearization could place. */
	int64_t failed_op;
	/* VIOLATION: a small set of this key's ops, contiguous in invocation
	 * order (plus the ops still pending when the first of them was invoked,
	 * which may or may not take effect), that cannot be linearized by
	 * themselves from ANY initial state. Ops outside the window are ignored,
	 * so the window shows a contradiction among its own ops; when the effort
	 * bound is hit before one is found, window_verified is 0 and the window
	 * is this key's ops up to the last one concurrent with failed_op. A
	 * window found by the sub-histories (see above) may also hold ops
	 * invoked after failed_op, and ops still open at its end count as
	 * unknown outcomes. */
	size_t *window;
	size_t nwindow;
	int window_verified;
	uint64_t steps;            /* search steps */
	size_t cache_entries;
	int64_t elapsed_ns;
};

struct fl_lin_result {
	enum fl_lin_verdict verdict; /* VIOLATION if any key violates, else UNKNOWN if any key is unknown */
	enum fl_lin_limit limit;
	struct fl_lin_part *parts;   /* one per key that has ops, in key id order */
	size_t nparts;
	int64_t elapsed_ns;          /* wall time of fl_lin_check */
	size_t peak_cache_bytes;
};

/* Check history h against model m. Returns 0 and *out (free it with
 * fl_lin_result_free) whatever the verdict; -EINVAL when an op does not fit
 * the model, -ENOMEM. Thread-safe for different results; h is not modified. */
int fl_lin_check(const struct fl_lin_history *h, enum fl_lin_model m,
		 const struct fl_lin_limits *lim, struct fl_lin_result **out);
void fl_lin_result_free(struct fl_lin_result *r);

#endif
