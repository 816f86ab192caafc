/* Shared between scenario.c (typing) and scenario_check.c (cross-field rules).
 * Not part of the public API. */
#ifndef FAULTLINE_SCENARIO_PRIV_H
#define FAULTLINE_SCENARIO_PRIV_H

#include "faultline/scenario.h"
#include "faultline/ytree.h"

struct fl_sctx {
	struct fl_diags *d;
	struct fl_scenario *s;
	const struct fl_ynode *root;
	const char *file;
	/* positions of fields the cross checks point at */
	const struct fl_ynode *duration_node, *nodes_node, *checks_node, *workload_node;
	struct fl_fault_src *fsrc;           /* one per fault */
	int duration_ok;                     /* 'duration' typed without error */
};

/* Where a fault's fields are in the file, for messages of the cross checks;
 * ok is set when the fault typed without error (only those are cross-checked). */
struct fl_fault_src {
	const struct fl_ynode *map, *at, *every, *forn, *mode, *direction;
	int ok;
};

#define FL_ERR(c, n, ...)                                                                      \
	fl_diags_add((c)->d, (n) ? (n)->file : (c)->file, (n) ? (n)->line : 0,                 \
		     (n) ? (n)->col : 0, __VA_ARGS__)

/* Cross-field validation after typing: timing against the run, conflicts
 * between faults, checks against the workload. */
void fl_scenario_check(struct fl_sctx *c);

/* Allowed but probably not meant (into c->s->warnings): a run that judges
 * nothing, linearizable checked over serializable reads. */
void fl_scenario_warn(struct fl_sctx *c);

#endif
