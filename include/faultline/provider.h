/* harness/providers/: where a cluster's nodes come from. A provider makes
 * the nodes, gives each an address on the cluster network and an agent
 * that acts on that node, reaches the agent, and takes everything down
 * again. Faults, the system under test and heal all go through the agents
 * (agentc.h), so they are the same whatever the provider; the provider's
 * only heal is replaying a dead agent's journal inside its node, with the
 * agent's own code (one heal path). netns (netns_provider.c) and libvirt
 * (libvirt_provider.c, modes create and attach).
 *
 * Every op returns 0 or -errno with a message in err; a failed `up` leaves
 * nothing behind. The state directory (one per cluster, cluster.h) holds
 * whatever a later process needs to find the nodes again. */
#ifndef FAULTLINE_PROVIDER_H
#define FAULTLINE_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "faultline/scenario.h"

/* What a provider with machines (VMs) can do to one: the VM faults. A
 * clean reboot is the node's own agent's (it stops the processes and syncs
 * first); reset is the hard one. */
enum fl_machine_act {
	FL_MACHINE_SUSPEND,   /* paused, memory kept */
	FL_MACHINE_RESUME,
	FL_MACHINE_POWER_OFF, /* gone, with its page cache: only the disk stays */
	FL_MACHINE_POWER_ON,  /* booted again from the same disk */
	FL_MACHINE_RESET,     /* the reset button: no sync, no shutdown */
};

const char *fl_machine_act_name(enum fl_machine_act act);

struct fl_provider_ops {
	const char *name;  /* as the scenario spells it: "netns" */
	const char *iface; /* each node's interface on the cluster network */
	/* the file in the state directory that names what the provider made
	 * (written before it makes anything): its presence alone, without the
	 * cluster's state file (an `up` killed midway), still lets `down` find
	 * the cluster and remove it */
	const char *journal;

	/* Bring up s's nodes; id: the cluster's short id, dir: its state
	 * directory (exists). agent_path: the faultline-agent binary, for
	 * providers whose nodes start their agent themselves as they boot
	 * (libvirt). *out: the provider's handle. */
	int (*up)(const struct fl_scenario *s, const char *id, const char *dir,
		  const char *agent_path, void **out, char *err, size_t errlen);
	/* The handle of a cluster brought up by another process, from dir. */
	int (*attach)(const char *dir, void **out, char *err, size_t errlen);
	/* Remove every node, link and file of the provider's. p may be NULL
	 * (its process is gone): from dir alone. */
	int (*down)(void *p, const char *dir, char *err, size_t errlen);
	void (*free)(void *p);

	/* Node i's address on the cluster network (IPv4, host order). */
	uint32_t (*node_addr)(void *p, size_t i);

	/* Start node i's agent (binary agent_path) so that it acts on that
	 * node, its journal and log in dir (fl_provider_agent_path); *pid when
	 * the harness can signal it (0 otherwise). */
	int (*agent_start)(void *p, const char *dir, size_t i, const char *node,
			   const char *agent_path, pid_t *pid, char *err, size_t errlen);
	/* A connected stream to node i's agent (the JSON-lines channel). */
	int (*agent_connect)(void *p, const char *dir, size_t i, const char *node, int *fd);
	/* Node i's agent is gone: replay its journal inside the node (the
	 * agent's own heal code). The number of entries healed, or -errno. */
	int (*agent_heal)(void *p, const char *dir, size_t i, const char *node, char *err,
			  size_t errlen);
	/* What a run records about where its nodes ran (run.json, status):
	 * {"name": .., ...}, e.g. libvirt's "accel". A new reference. */
	json_t *(*describe)(void *p);
	/* A VM fault on node i's machine; idempotent (resuming a running node,
	 * powering on a running one: 0). NULL: the provider has no machines
	 * of its own (netns). */
	int (*machine)(void *p, size_t i, enum fl_machine_act act, char *err, size_t errlen);
};

extern const struct fl_provider_ops fl_netns_provider;
extern const struct fl_provider_ops fl_libvirt_provider;

/* The ops of a provider; NULL when it is not implemented yet. */
const struct fl_provider_ops *fl_provider_lookup(enum fl_provider p);
const struct fl_provider_ops *fl_provider_by_name(const char *name);

/* "<dir>/agent-<node>.<what>" (what: journal, sock, log). */
void fl_provider_agent_path(const char *dir, const char *node, const char *what, char *buf,
			    size_t len);

/* The nodes and network of scenario s as every provider lays them out (the
 * netns spec; libvirt's embeds it): names, FL_MAX_NODES slots, is filled
 * and must outlive out. */
struct fl_netns_spec;
void fl_provider_net_spec(const struct fl_scenario *s, const char *id, const char *dir,
			  const char **names, struct fl_netns_spec *out);

/* Connect to the unix stream socket at path (an agent's channel). */
int fl_provider_connect_unix(const char *path, int *fd);

#endif
