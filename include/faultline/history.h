/* The history of a run: every client operation as an invoke line and a
 * completion line (ok | fail | info), streamed to history.jsonl as it
 * happens so that a crash keeps everything up to the crash; and the fault
 * log (faults.jsonl) with the moment each fault was applied and healed on
 * each node. Thread-safe writers; a reader pairs the lines back into
 * operations for the checkers. Times are CLOCK_MONOTONIC nanoseconds from
 * the run's start.
 *
 * history.jsonl, one object per line:
 *   {"i":7,"type":"invoke","t":1200300,"process":3,"node":"n2","f":"cas","key":"k1",
 *    "value":"v9","expect":"v4"}
 *   {"i":7,"type":"ok"|"fail"|"info","t":1250000,"process":3,"node":"n2","f":"cas",
 *    "key":"k1","value":...,"error":"..."}   (value: what a read returned)
 * "info" means the outcome is unknown (timeout, connection lost after
 * sending): the operation may or may not have taken effect.
 * A set read ("f":"read_all") completes with "value" as a list of strings.
 * Final reads (after the faults are healed and the nodes converged, one
 * per key from every node) carry "final":true on both lines. */
#ifndef FAULTLINE_HISTORY_H
#define FAULTLINE_HISTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum fl_op_f { FL_F_READ, FL_F_WRITE, FL_F_CAS, FL_F_ADD, FL_F_READ_ALL, FL_F__N };
enum fl_outcome { FL_OUTCOME_OK, FL_OUTCOME_FAIL, FL_OUTCOME_INFO, FL_OUTCOME__N };

const char *fl_op_f_to_string(enum fl_op_f f);
int fl_op_f_from_string(const char *s);
const char *fl_outcome_to_string(enum fl_outcome o);
int fl_outcome_from_string(const char *s);

/* A JSON-lines file written by several threads, one whole line per write(2). */
struct fl_jsonl;
int fl_jsonl_open(const char *path, int64_t t0_ns, struct fl_jsonl **out);
/* Writes obj (adding "t" when absent: now - t0) as one line; steals obj. */
int fl_jsonl_write(struct fl_jsonl *j, json_t *obj);
int64_t fl_jsonl_now(const struct fl_jsonl *j); /* ns since t0 */
/* The first write error (-errno; 0 none): a file that failed once (the
 * disk full) keeps the whole lines written before and refuses the rest. */
int fl_jsonl_error(struct fl_jsonl *j);
void fl_jsonl_close(struct fl_jsonl *j);

/* history.jsonl */
struct fl_history;
int fl_history_open(const char *path, int64_t t0_ns, struct fl_history **out);
/* Returns the operation's index (for completing it) or -errno. value and
 * expect may be NULL. */
int64_t fl_history_invoke(struct fl_history *h, int process, const char *node, enum fl_op_f f,
			  const char *key, const char *value, const char *expect);
int fl_history_complete(struct fl_history *h, int64_t i, enum fl_outcome o, const char *value,
			const char *error);
/* The same for a set read: elems (NULL-terminated; NULL unless ok) becomes
 * the "value" list. */
int fl_history_complete_set(struct fl_history *h, int64_t i, enum fl_outcome o,
			    char *const *elems, const char *error);
/* From now on, operations invoked are final reads (on != 0) or not. */
void fl_history_set_final(struct fl_history *h, int on);
/* fl_jsonl_error of history.jsonl: the workload stops on it */
int fl_history_error(struct fl_history *h);
void fl_history_close(struct fl_history *h);

/* One operation read back: invoke and completion paired by index. */
struct fl_op {
	int64_t i;
	int process;
	char node[32];
	enum fl_op_f f;
	char *key, *value, *expect; /* value: written, or read (on ok) */
	char **elems;               /* read_all ok: the set read, NULL-terminated */
	size_t nelems;
	int final;                  /* a final read */
	int64_t invoke_ns, complete_ns; /* complete_ns = -1 while open */
	enum fl_outcome outcome;        /* FL_OUTCOME_INFO for ops never completed */
	char *error;
};

/* What a history file lost or garbled. Any of it may hide an outcome (a
 * damaged "ok" line turns an acknowledged write into one of unknown
 * outcome), so the checks that read the history say UNKNOWN over it. */
struct fl_history_damage {
	size_t bad_lines;   /* lines that are not an op line: unparsable JSON, a
			     * field missing or of the wrong type, a write
			     * without its value (the torn last line included) */
	int torn_tail;      /* the last line has no newline and does not parse */
	size_t orphans;     /* completions of an op whose invoke line is missing */
	size_t duplicates;  /* a second invoke or completion of the same op */
	size_t dropped;     /* op indexes below the highest seen with no line at all */
};

struct fl_ops {
	struct fl_op *v;
	size_t n;
	size_t bad_lines; /* = damage.bad_lines (kept for older callers) */
	struct fl_history_damage damage;
};

/* Read a history file; ops sorted by invoke time. Damage is counted in
 * out->damage, never fatal: the caller decides what it may still judge. */
int fl_history_load(const char *path, struct fl_ops *out, char *err, size_t errlen);
void fl_ops_release(struct fl_ops *ops);

/* Total count of damage (0: the history is whole). */
size_t fl_history_damage_count(const struct fl_history_damage *dm);
/* One phrase for people, e.g. "3 history lines unreadable (the last one
 * torn), 1 op dropped"; "" when whole. */
void fl_history_damage_describe(const struct fl_history_damage *dm, char *buf, size_t len);
/* The damage as a JSON object (for results.json). New reference. */
json_t *fl_history_damage_json(const struct fl_history_damage *dm);

#endif
