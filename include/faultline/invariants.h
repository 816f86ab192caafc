/* The checks of a run other than linearizability, computed from the files
 * a run leaves (see run.h): failover, integrity (no_lost_writes, converge,
 * leader_per_term) and the SLOs (latency, availability). Each gives a
 * verdict, one line of why, and its figures as JSON (for results.json).
 *
 * What each one reads and decides:
 *  failover         faults.jsonl + status.jsonl + history. The leader at a
 *                   fault is the one most nodes named in their last status
 *                   sample before it. A fault removes it when it is a
 *                   process/VM fault on the leader, or a partition after
 *                   which the leader reaches (both ways) no majority. Then
 *                   the new leader is the first moment a majority of the
 *                   nodes, each by its latest sample after the fault, name
 *                   one node other than the removed one; the first write is
 *                   the first acknowledged after that moment, invoked after
 *                   the fault, not through the removed leader. PASS: for
 *                   some such fault both came within `within`; FAIL: for
 *                   some, either did not. A fault healed within `within`
 *                   before a majority named another leader forced no
 *                   failover and is not judged ("not judged" in figures),
 *                   nor one the workload outlived by less than `within`;
 *                   with only such faults the check is UNKNOWN. Figures:
 *                   per fault, the times and verdict; the status sampling
 *                   interval (a new leader is seen up to one late); the
 *                   longest window without a successful operation.
 *  no_lost_writes   the final reads. set: every acknowledged add is in
 *                   every node's final read, and nothing that was never
 *                   added is. register: every node's final read of a key
 *                   answered (else UNKNOWN) and agrees; a final value must have been written; an
 *                   acknowledged write w is lost when the final value comes
 *                   from a write that completed before w was invoked (w
 *                   should have replaced it); a key read as absent loses
 *                   every acknowledged write to it. No acknowledged write:
 *                   UNKNOWN.
 *  converge         digests.jsonl: all digests equal, and within `within`
 *                   of the end of the last fault (or of the workload).
 *  leader_per_term  status.jsonl: no term that two different nodes claim
 *                   to lead. Only a node's claim about itself counts, once
 *                   held for a second (first to last sample): reported
 *                   terms may lag elections (etcd 3.4 reports the term of
 *                   its last applied entry, so a new leader shows the old
 *                   term until its first entry commits, followers longer).
 *  latency          ok operations and timed-out ones (at the time they
 *                   took; never completed: the workload's timeout): p50 /
 *                   p99 / max against the limits, over the run (figures
 *                   per fault window too).
 *  availability     answered / all operations invoked (final reads
 *                   excluded), over the run (figures per fault window too);
 *                   answered: ok, or a compare-and-set refused because its
 *                   compare failed (the system working as it should).
 * The evidence rule: a check without the data it needs (no acknowledged
 * write, a final read missing, no samples, no leader-removing fault that
 * forced a failover, damaged lines in a file it reads: fl_check_evidence)
 * is UNKNOWN with the reason, never PASS. */
#ifndef FAULTLINE_INVARIANTS_H
#define FAULTLINE_INVARIANTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/history.h"
#include "faultline/scenario.h"

enum fl_verdict { FL_PASS, FL_FAIL, FL_UNKNOWN };
const char *fl_verdict_to_string(enum fl_verdict v); /* "PASS" "FAIL" "UNKNOWN" */

struct fl_check_result {
	char name[32];          /* "failover", "no_lost_writes", ... */
	enum fl_verdict verdict;
	char why[512];          /* one line */
	json_t *figures;        /* owned; an object */
};

/* What a run directory holds, loaded. */
struct fl_run_data {
	struct fl_ops ops;          /* history.jsonl, sorted by invoke */
	json_t *faults;             /* faults.jsonl lines (array) */
	json_t *status;             /* status.jsonl lines */
	json_t *digests;            /* digests.jsonl lines */
	const char *const *nodes;   /* borrowed: node names */
	size_t nnodes;
	/* lines of faults/status/digests.jsonl that did not parse (history
	 * damage is in ops.damage) */
	size_t bad_faults, bad_status, bad_digests;
	/* nodes the run lost (faults.jsonl "lost" events): their agent gone,
	 * their faults no longer as planned; when (run time) and why */
	uint64_t lost;
	int64_t lost_t[FL_MAX_NODES];
	const char *lost_why[FL_MAX_NODES]; /* borrowed from faults */
	json_t *clients;            /* clients.json's "clients" (NULL: none) */
};

/* Load the files of dir (a missing status/digests file is an empty list;
 * a missing history is an error). */
int fl_run_data_load(const char *dir, const char *const *nodes, size_t nnodes,
		     struct fl_run_data *d, char *err, size_t errlen);
void fl_run_data_release(struct fl_run_data *d);

/* Every check s enables except linearizable, appended to res (room for
 * at least 8). Returns how many were added. */
size_t fl_invariants_check(const struct fl_scenario *s, const struct fl_run_data *d,
			   struct fl_check_result *res);

/* The single checks (exposed for tests). */
void fl_check_failover(const struct fl_scenario *s, const struct fl_run_data *d,
		       struct fl_check_result *r);
void fl_check_no_lost_writes(const struct fl_scenario *s, const struct fl_run_data *d,
			     struct fl_check_result *r);
void fl_check_converge(const struct fl_scenario *s, const struct fl_run_data *d,
		       struct fl_check_result *r);
void fl_check_leader_per_term(const struct fl_scenario *s, const struct fl_run_data *d,
			      struct fl_check_result *r);
void fl_check_latency(const struct fl_scenario *s, const struct fl_run_data *d,
		      struct fl_check_result *r);
void fl_check_availability(const struct fl_scenario *s, const struct fl_run_data *d,
			   struct fl_check_result *r);

void fl_check_result_release(struct fl_check_result *r);

/* A collapsed workload: acknowledged (ok) operations, final reads aside,
 * fewer than FL_COLLAPSE_PCT % of those invoked, or none invoked at all
 * (clients that never became ready, every op timing out). What was judged
 * from so little says little: the run is never PASS. When collapsed, r is
 * a "workload" result, UNKNOWN with the counts and the clients that gave
 * up (clients.json), and 1 is returned; else 0 (r untouched). */
#define FL_COLLAPSE_PCT 5
int fl_check_workload(const struct fl_scenario *s, const struct fl_run_data *d,
		      struct fl_check_result *r);

/* The inputs a check reads, for fl_check_evidence. */
#define FL_IN_HISTORY 1u
#define FL_IN_FAULTS  2u
#define FL_IN_STATUS  4u
#define FL_IN_DIGESTS 8u

/* The evidence rule for damaged input: when any of the inputs r was judged
 * from lost or garbled lines, a PASS or FAIL becomes UNKNOWN naming the
 * damage (a damaged line can hide an outcome either way); what it would
 * have been is kept in figures.without_damage. Every check calls it last. */
void fl_check_evidence(const struct fl_run_data *d, unsigned inputs, struct fl_check_result *r);

/* How a check stands when the run lost a node (fl_check_lost). */
enum fl_lost_rule {
	/* judged from the client history alone, which a lost agent does not
	 * shorten (linearizable, latency, availability): kept, the why says so */
	FL_LOST_HISTORY,
	/* an invariant over every node's evidence that must hold whatever the
	 * faults did (no_lost_writes, leader_per_term): a FAIL seen in what was
	 * recorded stands (missing evidence never makes these FAIL); a PASS
	 * needs the lost node's evidence: UNKNOWN */
	FL_LOST_INVARIANT,
	/* measured against the planned faults' times over every node
	 * (failover, converge): the lost node's faults did not end as planned
	 * and its samples may be missing, so either verdict is UNKNOWN */
	FL_LOST_TIMED,
};

/* The lost-node rule: with lost nodes in d, r's verdict as rule says,
 * the why naming each lost node, when and why; a verdict turned UNKNOWN
 * is kept in figures.without_lost_nodes. Every check calls it after
 * fl_check_evidence. */
void fl_check_lost(const struct fl_run_data *d, enum fl_lost_rule rule, struct fl_check_result *r);

/* The lost nodes of d as results.json lists them: [{node, t_s, why}]. */
json_t *fl_run_lost_json(const struct fl_run_data *d);


#endif
