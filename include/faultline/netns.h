/* The netns cluster provider: one network namespace per node on this host,
 * each joined by a veth pair to a bridge that also holds the host's address,
 * all made through libnl-route and the namespace syscalls (never `ip`).
 * Every object is journaled before it is made, so whatever happens to the
 * process that made them, fl_netns_down_from_state() removes them all.
 * Nothing here logs: functions return 0 or -errno and, on failure only, put
 * one lowercase message in err (errlen bytes; err may be NULL), with the
 * kernel's extended-ack text when it gave one. libnl's -NLE_* codes never
 * come out. Everything acts in the calling thread's network namespace,
 * which must be the one the cluster was made from (the host's).
 *
 * Layout of a cluster with id ID (1..5 of [a-z0-9]) and nodes N0..Nk:
 *
 *   host namespace                       node namespace /run/netns/fl-ID-Ni
 *   bridge "flIDbr"  <subnet>.1/prefix
 *     └ port "flIDv<i>" (veth) ─────────── "eth0"  <subnet>.(i+2)/prefix, "lo" up
 *
 * Node namespaces are pinned by a bind mount of their nsfs file as iproute2
 * does, so `ip netns list` shows them and `ip netns exec` works on them.
 * Nodes get no default route: only the subnet's, which the address brings.
 * Cluster links (the bridge, both ends of each veth) make no IPv6
 * link-local address (addr_gen_mode none): the network is IPv4, and their
 * neighbour-discovery chatter, flooded to every node, made `up` grow with
 * the square of the nodes. IPv6 itself stays on (lo keeps ::1).
 *
 * The state directory holds `netns.journal`, JSON lines appended and
 * fdatasync'ed before each change:
 *   {"op":"cluster","id":..,"subnet":"a.b.c.d/p","bridge":..,"nodes":[..]}  (no undo)
 *   {"op":"bridge","name":..} {"op":"netns","name":..} {"op":"link","name":..}
 *   {"op":"forget","name":..}  (the entry before was not made by us: EEXIST)
 * Undo replays it newest first, idempotently, and deletes the file when
 * everything is gone. A journal is trusted only with names of faultline's
 * own patterns; anything else makes undo refuse before touching anything.
 *
 * Known limit: with br_netfilter loaded and bridge-nf-call-iptables=1
 * (Docker hosts), frames between nodes cross the host's iptables FORWARD
 * chain, and a DROP policy there cuts the nodes apart.
 *
 * Not thread-safe per cluster object; different clusters may be used from
 * different threads. fl_netns_enter() changes only the calling thread.
 */
#ifndef FAULTLINE_NETNS_H
#define FAULTLINE_NETNS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FL_NETNS_ID_MAX 5           /* characters of a cluster id */
#define FL_NETNS_MAX_NODES 64
#define FL_NETNS_NAME_MAX 12        /* node names, as the scenario allows */
#define FL_NETNS_RUN_DIR "/run/netns"
#define FL_NETNS_JOURNAL "netns.journal"
#define FL_NETNS_IFNAME "eth0"      /* the node's end of its veth */

struct fl_netns_spec {
	const char *id;             /* 1..5 of [a-z0-9]; see fl_netns_make_id() */
	size_t nnodes;              /* 1..64 */
	const char *const *names;   /* node names: [a-z][a-z0-9-]*, at most 12, unique */
	int has_subnet;             /* else chosen by fl_netns_up() */
	uint32_t subnet;            /* IPv4, host byte order, host bits zero */
	unsigned prefix;            /* 8..29, room for the host and every node */
	const char *state_dir;      /* required; created when missing (one level) */
};

struct fl_netns_cluster;

/* A used IPv4 range of the host (a route, an address, another cluster),
 * with the words that name it in an error: "the route 10.0.0.0/16 dev eth0". */
struct fl_netns_used {
	uint32_t net;               /* host byte order */
	unsigned prefix;            /* 0..32 */
	char what[160];
};

/* --- pure functions (no system calls) ------------------------------------ */

/* A cluster id from a scenario name: 5 characters of [a-z0-9] (a hash), so
 * that every link name fits IFNAMSIZ. Returns -EINVAL for NULL or "". */
int fl_netns_make_id(const char *scenario_name, char out[FL_NETNS_ID_MAX + 1]);

/* Object names of a cluster. Each returns -EINVAL on a bad id/name/index. */
int fl_netns_bridge_name(const char *id, char *buf, size_t len);            /* "flIDbr" */
int fl_netns_link_name(const char *id, size_t index, char *buf, size_t len); /* "flIDv3" */
int fl_netns_ns_name(const char *id, const char *node, char *buf, size_t len); /* "fl-ID-n1" */

/* Does a link or namespace name look like one of faultline's? */
int fl_netns_is_our_link(const char *ifname);
int fl_netns_is_our_ns(const char *name);
/* A node name as a scenario may give it (lowercase letter, then letters,
 * digits, '-'; at most FL_NETNS_NAME_MAX): 1 or 0. */
int fl_netns_is_node_name(const char *s);

/* Do two IPv4 CIDR ranges share an address? (host byte order) */
int fl_cidr4_overlap(uint32_t a, unsigned aprefix, uint32_t b, unsigned bprefix);

/* "10.213.0.0/24" into buf (at least 19 bytes). */
void fl_cidr4_format(uint32_t net, unsigned prefix, char *buf, size_t len);

/* The used range that subnet/prefix overlaps, the widest one when several
 * do (it names the cause best), or -1 when none. */
int fl_netns_conflict(uint32_t subnet, unsigned prefix, const struct fl_netns_used *used,
		      size_t nused);

/* Candidate i of the automatic choice, in a fixed order: 10.213.0.0/24 ..
 * 10.254.0.0/24, then 172.30.0.0/24 .. 172.30.255.0/24. -ERANGE past the end. */
int fl_netns_candidate(size_t i, uint32_t *subnet, unsigned *prefix);

/* The first candidate that overlaps nothing in used; -EADDRNOTAVAIL when
 * every one does. Out-params set only on success. */
int fl_netns_choose_subnet(const struct fl_netns_used *used, size_t nused, uint32_t *subnet,
			   unsigned *prefix);

/* Check a spec without touching the system (subnet conflicts aside). */
int fl_netns_check_spec(const struct fl_netns_spec *spec, char *err, size_t errlen);

/* --- the cluster ------------------------------------------------------------ */

/* What this host already uses: every IPv4 route of every table (default
 * routes aside) and every IPv4 address of every link, other clusters'
 * bridges included. *out is malloc'd. */
int fl_netns_host_used(struct fl_netns_used **out, size_t *nout, char *err, size_t errlen);

/* Bring the cluster up. On failure everything made so far is removed again
 * (err says so if that failed too) and *out is untouched. -EEXIST when the
 * cluster's bridge, a namespace or link name already exists, or state_dir
 * holds the journal of a cluster that was not taken down. -EADDRINUSE when
 * the given subnet overlaps a route or address of the host. */
int fl_netns_up(const struct fl_netns_spec *spec, struct fl_netns_cluster **out, char *err,
		size_t errlen);

/* Remove everything of the cluster: processes still inside a node's
 * namespace are killed (SIGKILL; they would keep it alive), host-side veths
 * (each takes its peer along), namespaces (umount2 MNT_DETACH + unlink), the
 * bridge, then the journal. Already gone = success; may be called again
 * after a failure. Does not free c. */
int fl_netns_down(struct fl_netns_cluster *c, char *err, size_t errlen);

/* The same from the journal in state_dir, for a cluster whose process died.
 * No journal there = nothing to do = 0. */
int fl_netns_down_from_state(const char *state_dir, char *err, size_t errlen);

/* The same without a journal (its state directory was lost): every link
 * and namespace named after cluster id on this host. Already gone = 0. */
int fl_netns_down_by_id(const char *id, char *err, size_t errlen);

/* Rebuild the cluster object of a running cluster from its state_dir (for
 * `faultline status|down|inject` in a later process). -ENOENT when none. */
int fl_netns_attach(const char *state_dir, struct fl_netns_cluster **out, char *err,
		    size_t errlen);

/* Free memory and descriptors only; the cluster stays up. NULL is fine. */
void fl_netns_cluster_free(struct fl_netns_cluster *c);

const char *fl_netns_cluster_id(const struct fl_netns_cluster *c);
const char *fl_netns_bridge(const struct fl_netns_cluster *c);
uint32_t fl_netns_subnet(const struct fl_netns_cluster *c, unsigned *prefix);
uint32_t fl_netns_host_addr(const struct fl_netns_cluster *c);       /* subnet .1 */
size_t fl_netns_nnodes(const struct fl_netns_cluster *c);
const char *fl_netns_node_name(const struct fl_netns_cluster *c, size_t i);
uint32_t fl_netns_node_addr(const struct fl_netns_cluster *c, size_t i); /* .(i+2), host order */
const char *fl_netns_node_ns(const struct fl_netns_cluster *c, size_t i);   /* "fl-ID-n1" */
const char *fl_netns_node_path(const struct fl_netns_cluster *c, size_t i); /* under /run/netns */
const char *fl_netns_node_link(const struct fl_netns_cluster *c, size_t i); /* host-side veth */

/* Start argv (execvp, never a shell) inside node i's namespace. The fds
 * become the child's 0, 1, 2 (-1: /dev/null); every other descriptor is
 * closed at exec; signal mask and dispositions are reset. Returns once the
 * exec has happened or failed (then -errno, the child reaped). The caller
 * reaps the child. -ESRCH once the cluster is down. The node gets only the
 * network namespace: mounts, /sys and /etc are the host's (unlike
 * `ip netns exec`, which also remounts /sys). */
int fl_netns_spawn(const struct fl_netns_cluster *c, size_t i, char *const argv[], int stdin_fd,
		   int stdout_fd, int stderr_fd, pid_t *pid, char *err, size_t errlen);

/* Move the calling thread into node i's namespace (sockets opened there
 * stay there); *saved_fd holds the way back for fl_netns_leave(), which
 * always closes it. */
int fl_netns_enter(const struct fl_netns_cluster *c, size_t i, int *saved_fd, char *err,
		   size_t errlen);
int fl_netns_leave(int saved_fd);

/* --- pieces other providers share (the libvirt provider's bridge) --------- */

/* The subnet a cluster gets: the given one when it overlaps no route or
 * address of the host (-EADDRINUSE naming what it overlaps), else the first
 * free candidate (fl_netns_choose_subnet). Out-params set only on success. */
int fl_netns_pick_subnet(int has_subnet, uint32_t subnet, unsigned prefix, uint32_t *out,
			 unsigned *outprefix, char *err, size_t errlen);

/* Create bridge name (a faultline link name, fl_netns_bridge_name) holding
 * addr/prefix, and set it up. -EEXIST when the name is taken (then nothing
 * of it is ours); after another failure the bridge may exist: delete it. */
int fl_netns_bridge_add(const char *name, uint32_t addr, unsigned prefix, char *err,
			size_t errlen);

/* 1 when a link of that name exists, 0 when not, -errno. */
int fl_netns_link_exists(const char *name, char *err, size_t errlen);

/* Delete a link with a faultline name (-EINVAL for any other name).
 * Already gone = 0. */
int fl_netns_link_delete(const char *name, char *err, size_t errlen);

/* What faultline objects exist on this host: {"namespaces": ["fl-..", ..],
 * "links": [{"name": .., "kind": "bridge"|"veth"|..}, ..]}, sorted by name. */
int fl_netns_list(json_t **out, char *err, size_t errlen);

#endif
