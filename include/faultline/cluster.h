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
	void *pc;                           /* its handle (NULL: its process is gone) */
};

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

json_t *fl_cluster_status(struct fl_cluster *c);

void fl_cluster_free(struct fl_cluster *c);

#endif
