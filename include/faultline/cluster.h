/* A running cluster: the provider's nodes (provider.h) plus one agent per node,
 * remembered in a state directory (default /run/faultline/<id>, or
 * $FAULTLINE_STATE/<id>) so that `status`, `inject`, `heal` and `down` in
 * later processes find it. Agents listen on unix sockets there; a fault
 * lives as long as the connection that made it. */
#ifndef FAULTLINE_CLUSTER_H
#define FAULTLINE_CLUSTER_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/agentc.h"
#include "faultline/provider.h"
#include "faultline/scenario.h"

struct fl_provider_ops;

struct fl_cluster {
	char dir[512];
	char id[8];
	char *scenario;      /* name */
	size_t n;
	char *names[FL_MAX_NODES];
	uint32_t addrs[FL_MAX_NODES];   /* host order */
	pid_t agent_pids[FL_MAX_NODES];
	struct fl_agentc *agents[FL_MAX_NODES]; /* after fl_cluster_connect */
	const struct fl_provider_ops *prov; /* provider.h: where the nodes come from */
	char iface[16];      /* each node's interface on the cluster network */
	void *pc;                           /* its handle (NULL: its process is gone) */
	char refused[512]; /* what fl_cluster_open would not touch (down reports it) */
};

/* A directory outside the state directory that is the cluster's (a run's
 * node data): written down at once, so that fl_cluster_down removes it with
 * the rest, also when the process that made it was killed. 0 or -errno. */
int fl_cluster_own_dir(struct fl_cluster *c, const char *path, char *err, size_t errlen);

/* The directory all clusters live under. */
const char *fl_cluster_root(void);

/* Bring up s's cluster and start its agents. agent_path: the faultline-agent
 * binary. On failure nothing is left behind. */
int fl_cluster_up(const struct fl_scenario *s, const char *agent_path, struct fl_cluster **out,
		  char *err, size_t errlen);

/* Find a cluster: by scenario name or id, or the only one when name is
 * NULL. Fills dir. -ENOENT none, -EEXIST several (err lists them). */
int fl_cluster_find(const char *name, char *dir, size_t dirlen, char *err, size_t errlen);

/* Load a cluster's state (no connections yet). */
int fl_cluster_open(const char *dir, struct fl_cluster **out, char *err, size_t errlen);

/* Connect to every agent (those that answer); returns how many did. */
int fl_cluster_connect(struct fl_cluster *c, char *err, size_t errlen);

/* Stop the agents (they heal), remove every namespace, link and file. */
int fl_cluster_down(struct fl_cluster *c, char *err, size_t errlen);

/* Heal every fault: through the agents; a node whose agent is gone gets
 * its journal replayed inside it by the provider (the agent's own heal
 * code: one heal path). Returns the number of faults healed or -errno. */
int fl_cluster_heal(struct fl_cluster *c, char *err, size_t errlen);

/* A VM fault on node i's machine through the provider (provider.h), its
 * undo journaled first in the state directory (suspend -> resume,
 * power-off -> power-on) under the fault's id. Power-off and reset close
 * the node's agent connection (fl_cluster_reconnect after). -EOPNOTSUPP
 * when the provider has no machines. */
int fl_cluster_machine(struct fl_cluster *c, size_t i, enum fl_machine_act act, const char *fault,
		       char *err, size_t errlen);

/* Undo the machine faults of node (-1: every node) and fault (NULL:
 * every fault), newest first; *woke: the nodes powered on again (their
 * agents start afresh: reconnect). The number undone, or -errno (the
 * entries stay for a retry). fl_cluster_heal and down do this first. */
int fl_cluster_machine_heal(struct fl_cluster *c, long node, const char *fault, uint64_t *woke,
			    char *err, size_t errlen);

/* Node i's agent again after its machine restarted (power-on, reboot):
 * connect until it says hello (with a boot id other than old_boot, when
 * given: not the old agent still shutting down), within timeout_ms. */
int fl_cluster_reconnect(struct fl_cluster *c, size_t i, const char *old_boot, int timeout_ms,
			 char *err, size_t errlen);

/* A VM fault of the scenario on node i (fl_exec's machine): suspend,
 * power-off (undone: resumed, powered on), reboot (clean through the node's
 * agent, or reboot_hard: a reset), as fault id; f NULL: undo what id did
 * to node i. *restarted: the node booted again and its agent is reconnected
 * (a new agent: the processes it ran are gone). 0 or -errno. */
int fl_cluster_vm_fault(struct fl_cluster *c, size_t i, const struct fl_fault *f, const char *id,
			int *restarted, char *err, size_t errlen);

json_t *fl_cluster_status(struct fl_cluster *c);

void fl_cluster_free(struct fl_cluster *c);

#endif
