/* The plan: a scenario's nemesis resolved into a timeline for one seed.
 * Every fault instance gets its start, end and concrete targets; targets
 * that only exist while the cluster runs (leader, followers) stay symbolic
 * and are resolved when the fault fires. The same scenario and seed always
 * give the same plan, byte for byte, on every machine. */
#ifndef FAULTLINE_PLAN_H
#define FAULTLINE_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include "faultline/scenario.h"

struct fl_plan_step {
	size_t fault;              /* index into scenario->faults */
	unsigned seq;              /* which repetition of that fault, from 0 */
	int64_t start_ns, end_ns;  /* from the run's start; end == start for instants */
	int until_end;             /* no 'for': healed when the run ends */
	struct fl_targets targets; /* kind NODES, LEADER or FOLLOWERS after resolution */
	struct fl_targets peers;   /* network faults; kind ALL when not limited */
	/* partitions */
	uint64_t *blocked;         /* [nnodes]: blocked[i] = nodes i cannot send to; NULL
				      when it depends on the leader (resolved at run time) */
	uint64_t sides[3];         /* halves/bridge/isolate: A, B, and bridge node */
	int *ring;                 /* majorities-ring: node order, nnodes long */
};

struct fl_plan {
	const struct fl_scenario *scenario; /* borrowed */
	uint64_t seed;
	struct fl_plan_step *steps;         /* sorted by start, then fault index */
	size_t nsteps;
};

/* Build the timeline. Returns 0 or -ENOMEM. */
int fl_plan_build(const struct fl_scenario *s, uint64_t seed, struct fl_plan **out);
void fl_plan_free(struct fl_plan *p);

/* Human-readable timeline, and the same as JSON. Both are deterministic. */
int fl_plan_write_text(const struct fl_plan *p, FILE *out);
int fl_plan_write_json(const struct fl_plan *p, FILE *out);

#endif
