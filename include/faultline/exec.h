/* The nemesis executor: turns one plan step into agent requests on the
 * nodes it touches, and heals it again. Shared by `faultline inject` and
 * `faultline run`. Targets that depend on the running system (leader,
 * followers) must have been resolved by the caller (see resolve_leader). */
#ifndef FAULTLINE_EXEC_H
#define FAULTLINE_EXEC_H

#include <stdint.h>

#include "faultline/agentc.h"
#include "faultline/plan.h"

struct fl_exec {
	const struct fl_scenario *s;
	struct fl_agentc **agents; /* per node, NULL when not reachable */
	const uint32_t *addrs;     /* per node: IPv4 on the cluster network, host order */
	const char *iface;         /* the node's link to the cluster ("eth0") */
	int timeout_ms;            /* per agent request */
	/* for leader/followers; NULL when the system is not running: refused */
	int (*resolve_leader)(void *ctx, int *leader);
	void *ctx;
	/* VM faults (suspend, power-off, reboot) on node i, by whoever owns the
	 * cluster (fl_cluster_machine): apply (1) fault f as fault_id, or undo
	 * (0, f NULL) what fault_id did to the node's machine, a no-op when it
	 * did nothing. NULL: VM faults are refused. Called with ctx. */
	int (*machine)(void *ctx, size_t node, const struct fl_fault *f, const char *fault_id,
		       int apply, char *err, size_t errlen);
	/* out: after a partition is applied, blocked[i] = the nodes node i can
	 * no longer send to (the run logs it; the failover check reads it) */
	uint64_t blocked[FL_MAX_NODES];
	/* out: CLOCK_MONOTONIC ns of the first action on a node in the last
	 * fl_exec_apply (after targets were resolved: when the fault began to
	 * take effect); 0 when nothing was acted on */
	int64_t acted_ns;
	/* out: per node, CLOCK_MONOTONIC ns at which its agent had the last
	 * apply's (or heal's) change in the kernel ("landed_ns" of its reply;
	 * the clock is one for every namespace of a kernel, so they compare
	 * across netns nodes); 0 for nodes not acted on */
	int64_t landed_ns[FL_MAX_NODES];
	/* Lost nodes: an agent whose channel broke (EOF, reset) or that did not
	 * answer within timeout_ms is lost: lost() is called once for it (from
	 * the calling thread), its bit set in lost, and from then on apply
	 * skips the node and heal calls heal_lost() instead of its agent (its
	 * journal replayed without it). Both NULL: a broken channel is an
	 * error like any other. */
	void (*on_lost)(void *ctx, size_t node, const char *why);
	int (*heal_lost)(void *ctx, size_t node, char *err, size_t errlen);
	uint64_t lost;
	/* out: the lost nodes the last apply skipped, or heal healed without
	 * their agent */
	uint64_t lost_hit;
};

/* Apply st as fault fault_id ("f0.3"): one request to each node it acts on,
 * all sent at once (a thread per node), so the fault lands on its nodes
 * together. Returns 0, or -errno with err set (the first failing node's, in
 * node order); on failure what was applied on some nodes is healed again. *touched receives
 * the node mask acted on (to heal later); lost nodes are skipped (lost_hit),
 * which is no failure. */
int fl_exec_apply(struct fl_exec *x, const struct fl_plan_step *st, const char *fault_id,
		  uint64_t *touched, char *err, size_t errlen);

/* Heal fault_id on the nodes of touched. Goes on past failures; returns
 * the first. */
int fl_exec_heal(struct fl_exec *x, uint64_t touched, const char *fault_id, char *err,
		 size_t errlen);

#endif
