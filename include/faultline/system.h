/* harness/systems/: the system adapters (etcd, redis, exec, common, registry).
 *
 * System adapters: how to start a node of the system under test, when it
 * is ready, who leads, client operations, and a per-node state digest.
 * One adapter per file in harness/systems/ (etcd, redis, nats, exec), each
 * exporting a struct fl_system_ops; fl_system_lookup() finds one by the
 * scenario's system.type.
 *
 * Conventions: nothing logs. Functions return 0 or -errno and, on failure,
 * put one lowercase message in err (errlen bytes; err may be NULL).
 *
 * Client operations also say, explicitly, what the caller may conclude
 * about the operation's effect (enum fl_outcome), which is what the
 * checkers need:
 *   FL_OUTCOME_OK    it happened (returns 0);
 *   FL_OUTCOME_FAIL  it definitely did not happen: a compare-and-set whose
 *                    compare failed (-ECANCELED), a connection that was
 *                    refused before anything was sent, an error the system
 *                    gives only before it proposes a change, and every
 *                    failed read (a read has no effect);
 *   FL_OUTCOME_INFO  unknown: a write timed out or its connection was lost
 *                    after the request went out, or the system said it
 *                    timed out / is unavailable; it may still take effect.
 * The return value is -errno for FAIL and INFO (-ETIMEDOUT for time-outs).
 *
 * A client belongs to one thread at a time; different clients may be used
 * from different threads at once (one libcurl easy handle each, whose
 * connection is kept alive between requests).
 */
#ifndef FAULTLINE_SYSTEM_H
#define FAULTLINE_SYSTEM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/history.h"   /* enum fl_outcome, fl_outcome_to_string() */
#include "faultline/scenario.h"

struct fl_argv; /* strutil.h */

/* The cluster as an adapter sees it. Only borrowed pointers. */
struct fl_sys_nodes {
	size_t n;                       /* 1..FL_MAX_NODES */
	const char *const *names;       /* node names */
	const uint32_t *addrs;          /* IPv4 of each node, host byte order */
	const char *data_root;          /* node i keeps its data in <data_root>/<name> */
	const char *token;              /* names this cluster's instance (etcd:
					 * --initial-cluster-token); NULL: "faultline" */
	const pid_t *pids;              /* optional: the node processes; wait_ready
					 * gives up early when one of them has exited */
	const struct fl_scenario *s;    /* optional: the scenario (exec: its client
					 * argv; timeouts); NULL in some tests */
	const volatile sig_atomic_t *stop; /* optional: wait_ready gives up (-EINTR)
					 * once *stop is set (Ctrl-C) */
	/* Where node i's files are made (fl_sys_node_mkdir/_write): the run
	 * makes them through the node's agent, on whatever machine the node
	 * is; NULL: on this host (tests). content NULL: a directory. */
	int (*make_file)(void *ctx, size_t i, const char *path, const char *content, char *err,
			 size_t errlen);
	void *file_ctx;
	/* Optional: a directory on this host for what client programs write to
	 * stderr (exec: client-<node>-<k>.stderr, one file per client); NULL:
	 * a temporary file nobody sees, only quoted in errors. */
	const char *client_logs;
};

/* A node's view of the cluster, from its status call. */
struct fl_sys_status {
	char node[FL_NODE_NAME_MAX + 1];   /* the node that answered */
	char leader[FL_NODE_NAME_MAX + 1]; /* its leader's name; "" when it knows none */
	uint64_t member_id;                /* system-specific ids (etcd: member ids) */
	uint64_t leader_id;                /* 0: no leader */
	uint64_t term;                     /* raft term */
	uint64_t index;                    /* raft index */
	int64_t revision;                  /* etcd: the store's revision */
};

/* What became of the programs behind a client (exec: one client program
 * at a time; all zero for adapters without programs). A start-up is the
 * time from starting a program to its answer to `hello` (exec.c). */
struct fl_sys_client_life {
	unsigned starts;            /* programs started (restarts: starts - 1) */
	unsigned readies;           /* of them, answered hello */
	int64_t first_ready_ns;     /* the first one's start-up; 0: none ready yet */
	int64_t last_ready_ns, max_ready_ns, total_ready_ns;
	unsigned deaths;            /* ended by themselves (exited, closed stdout) */
	unsigned kills;             /* killed by faultline: no answer in time, out of step */
	unsigned dying;             /* deaths since a program last answered a request
				     * (a program that keeps dying: the caller backs off) */
};

/* A client talking to one node. Made by ops->client_open. */
struct fl_sys_client {
	const struct fl_system_ops *ops;
	char node[FL_NODE_NAME_MAX + 1];
	size_t index;                       /* of the node in fl_sys_nodes */
	void *impl;
	struct fl_sys_client_life life;     /* kept by the adapter, read by anyone */
	char log[FL_NODE_NAME_MAX + 32];    /* exec: its programs' stderr file, in
					     * nodes->client_logs; "": none */
};

#define FL_DIGEST_HEX 17                /* 16 hex digits and the NUL */

struct fl_system_ops {
	const char *name;                   /* "etcd" */

	/* The final reads (one per key from every node, after the heal and the
	 * convergence wait) ask each node's own copy (serializable), not the
	 * leader's through it. Set where a normal read through a node reaches
	 * another server (redis: the primary), so that "every node's final
	 * read" reads every node. */
	int final_reads_local;

	/* The system reports no raft term (status leaves term 0): the status
	 * samples carry none, and leader_per_term has nothing to judge. */
	int no_term;

	/* The argv that starts node i (execvp'd, no shell): NULL-terminated,
	 * malloc'd, free with fl_strv_free(). s gives the binary, the
	 * timeouts and system.args (placeholders expanded). */
	int (*node_argv)(const struct fl_scenario *s, const struct fl_sys_nodes *nodes, size_t i,
			 char ***argv, char *err, size_t errlen);

	/* Optional (NULL: none): a second process per node started after
	 * every node's main one (redis: its sentinel). Same contract as
	 * node_argv; name (namelen bytes) gets its agent process name, which
	 * process faults never target (they hit the main process, "sut").
	 * May write configuration files under the node's data directory. */
	int (*sidecar_argv)(const struct fl_scenario *s, const struct fl_sys_nodes *nodes,
			    size_t i, char ***argv, char *name, size_t namelen, char *err,
			    size_t errlen);

	/* Wait until every node answers its status call and all of them name
	 * the same leader, at most timeout_ns. leader (may be NULL) gets its
	 * name. -ETIMEDOUT (err says which node was not ready and why),
	 * -ECHILD when a node process in nodes->pids has exited. */
	int (*wait_ready)(const struct fl_sys_nodes *nodes, int64_t timeout_ns, char *leader,
			  size_t leaderlen, char *err, size_t errlen);

	int (*client_open)(const struct fl_sys_nodes *nodes, size_t i, struct fl_sys_client **out,
			   char *err, size_t errlen);
	void (*client_close)(struct fl_sys_client *c); /* NULL is fine */

	/* Optional (NULL: a client is always ready): make c ready for its next
	 * call before that call's time starts, so that no operation is charged
	 * with it (exec: start a program in place of one that was killed or
	 * died, and wait for its answer to `hello`, within
	 * system.ready_timeout). 0; -ETIMEDOUT when the program did not answer
	 * in time (killed; err quotes the end of its stderr); -ECONNRESET when
	 * it ended before answering (c->life.dying counts such deaths in a
	 * row); another -errno when it cannot be started. */
	int (*client_ready)(struct fl_sys_client *c, char *err, size_t errlen);

	/* Every call below is bounded by timeout_ms (the whole request,
	 * connecting included) and sets *outcome. */
	int (*status)(struct fl_sys_client *c, int timeout_ms, struct fl_sys_status *st,
		      enum fl_outcome *outcome, char *err, size_t errlen);

	/* Read key. *value: malloc'd, NUL-terminated (values are text), NULL
	 * when the key does not exist. serializable: the node answers from its
	 * own state (may be stale); else the read is linearizable. */
	int (*get)(struct fl_sys_client *c, const char *key, int serializable, int timeout_ms,
		   char **value, enum fl_outcome *outcome, char *err, size_t errlen);

	int (*put)(struct fl_sys_client *c, const char *key, const char *value, int timeout_ms,
		   enum fl_outcome *outcome, char *err, size_t errlen);

	/* Set key to value if its value is expect: -ECANCELED (outcome FAIL)
	 * when it is not, or the key does not exist. */
	int (*cas)(struct fl_sys_client *c, const char *key, const char *expect, const char *value,
		   int timeout_ms, enum fl_outcome *outcome, char *err, size_t errlen);

	/* Sets (the set workload); NULL when the adapter has none. add puts
	 * elem into the set named key (adding an element already there is ok).
	 * read_set returns the whole set: *elems malloc'd, NULL-terminated,
	 * free with fl_strv_free(); an absent set is an empty one.
	 * serializable as for get. */
	int (*add)(struct fl_sys_client *c, const char *key, const char *elem, int timeout_ms,
		   enum fl_outcome *outcome, char *err, size_t errlen);
	int (*read_set)(struct fl_sys_client *c, const char *key, int serializable,
			int timeout_ms, char ***elems, enum fl_outcome *outcome, char *err,
			size_t errlen);

	/* A digest of the node's whole state, read locally at one revision:
	 * 16 hex digits into hex. revision and nkeys (may be NULL) tell what
	 * was read. Equal states give equal digests on every node. */
	int (*digest)(struct fl_sys_client *c, int timeout_ms, char hex[FL_DIGEST_HEX],
		      int64_t *revision, size_t *nkeys, char *err, size_t errlen);
};

extern const struct fl_system_ops fl_etcd_ops;
extern const struct fl_system_ops fl_exec_system_ops; /* fl_exec_* is the fault executor */
extern const struct fl_system_ops fl_redis_ops;
extern const struct fl_system_ops fl_nats_ops;

/* The adapter for a system type, or NULL when it has none yet. */
const struct fl_system_ops *fl_system_lookup(enum fl_system_type t);

/* --- shared by the adapters ------------------------------------------------ */

/*
 * Expand the placeholders of an argv template for node i; {{ and }} are
 * literal braces. The same for every adapter (etcd and redis args, exec
 * start and client):
 *   {name}      the node's name
 *   {ip}        its IPv4 address
 *   {peers}     etcd's --initial-cluster list over every node, in cluster
 *               order: "n1=http://IP1:2380,n2=http://IP2:2380,..." (the
 *               peer port is always FL_ETCD_PEER_PORT, whatever the system)
 *   {peer_ips}  every node's address, in cluster order, self included:
 *               "IP1,IP2,IP3" (the generic list)
 *   {data_dir}  <data_root>/<name> ("./<name>" without a data_root)
 *   {port}      port, the adapter's client port (etcd 2379, exec
 *               FL_EXEC_PORT)
 * *out malloc'd. -EINVAL on an unknown placeholder or an unmatched brace.
 */
int fl_sys_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, int port,
		  char **out, char *err, size_t errlen);

/* The end of every adapter's node_argv: the scenario's system.args (s may
 * be NULL), each expanded with {port} = port, after what a holds; *argvp
 * the whole array. a is emptied either way; 0, or -errno with err. */
int fl_sys_argv_finish(struct fl_argv *a, const struct fl_scenario *s,
		       const struct fl_sys_nodes *nodes, size_t i, int port, char ***argvp,
		       char *err, size_t errlen);

/* A program path with a '/' that is not absolute is relative to the
 * scenario file's directory (s->file, made absolute against the cwd), so a
 * scenario and its programs move together; bare names go through PATH,
 * absolute paths stay. *prog replaced; 0, or -errno with err. */
int fl_sys_resolve_program(const struct fl_scenario *s, char **prog, char *err, size_t errlen);

/* system.binary (or dflt when the scenario names none), resolved as above,
 * pushed onto a: the program of etcd's and redis's argv. 0, or -errno. */
int fl_sys_add_program(struct fl_argv *a, const struct fl_scenario *s, const char *dflt,
		       char *err, size_t errlen);

/* The start of every adapter's client_open: a client of node i for ops
 * (node name, index), with impl_size zeroed bytes of the adapter's own in
 * c->impl. 0, or -EINVAL (no node i) / -ENOMEM with err. The adapter's
 * client_close releases what its impl holds, then fl_sys_client_free(). */
int fl_sys_client_new(const struct fl_system_ops *ops, const struct fl_sys_nodes *nodes,
		      size_t i, size_t impl_size, struct fl_sys_client **out, char *err,
		      size_t errlen);
void fl_sys_client_free(struct fl_sys_client *c); /* c and c->impl; NULL is fine */

/* Has process pid exited (gone, or a zombie not yet reaped)? Reads /proc. */
int fl_sys_pid_exited(pid_t pid);

/* Node i's directory dir (and its parents), or its file path with content,
 * made where the node is (make_file above). 0, or -errno with err. */
int fl_sys_node_mkdir(const struct fl_sys_nodes *nodes, size_t i, const char *dir, char *err,
		      size_t errlen);
int fl_sys_node_write(const struct fl_sys_nodes *nodes, size_t i, const char *path,
		      const char *content, char *err, size_t errlen);

/* One round of an adapter's readiness check over a client per node (cl),
 * each status call bounded by call_ms: 0 when ready (leader gets the
 * leader's name, "" for a system without one), -EAGAIN with why (whylen
 * bytes) when not yet, another -errno with why to give up. */
typedef int (*fl_sys_ready_fn)(const struct fl_sys_nodes *nodes, struct fl_sys_client **cl,
			       int call_ms, char *leader, size_t leaderlen, char *why,
			       size_t whylen);

/* The wait-for-ready loop every adapter's wait_ready is: opens a client
 * per node through ops, runs once every 100 ms until it says ready, within
 * timeout_ns ("<ops->name> cluster not ready within N ms: <why>"); a node
 * process in nodes->pids that exited ends it (-ECHILD, naming process).
 * max_call_ms bounds one status call (less when the time is running out). */
int fl_sys_wait_ready(const struct fl_system_ops *ops, const struct fl_sys_nodes *nodes,
		      int64_t timeout_ns, int max_call_ms, const char *process,
		      fl_sys_ready_fn once, char *leader, size_t leaderlen, char *err,
		      size_t errlen);

/* --- exec specifics (exposed for tests) ------------------------------------ */

/* What {port} means for exec: nothing to faultline, which never connects to
 * it; a conventional number so that start and client agree on one port
 * without repeating it. */
#define FL_EXEC_PORT 2379
#define FL_EXEC_LINE_MAX (1u << 20) /* a reply line longer than this is malformed */

/* --- etcd specifics, pure (exposed for tests) ------------------------------ */

#define FL_ETCD_CLIENT_PORT 2379
#define FL_ETCD_PEER_PORT 2380

/* The raft timing faultline gives etcd for scenario s (NULL: defaults).
 * etcd's own defaults (100 ms heartbeat, 1 s election) make slow machines
 * (qemu TCG, loaded CI hosts) hold elections all the time, so:
 *   election  = system.ready_timeout / 24, within [1 s, 5 s]
 *               (the default 60 s gives 2.5 s);
 *   and, when checks.failover is on, at most failover.within / 4 (but at
 *               least 500 ms), so that a failover can be seen in time;
 *   heartbeat = election / 10 (etcd's guidance), at least 50 ms.
 * system.args come after these on the command line and etcd takes the last
 * of a repeated flag, so `--heartbeat-interval=..` there overrides them. */
void fl_etcd_timing(const struct fl_scenario *s, unsigned *heartbeat_ms, unsigned *election_ms);

/* fl_sys_expand() with {port} = FL_ETCD_CLIENT_PORT. */
int fl_etcd_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		   char *err, size_t errlen);

/* --- redis specifics, pure (exposed for tests) ----------------------------- */

/* Node 0 starts as the primary, the others as its replicas; one sentinel per
 * node (the sidecar) monitors the master named nodes->token (NULL:
 * "faultline") with a quorum of a majority of the nodes. The leader is the
 * primary a node's sentinel names; leader_id is that node's index + 1,
 * member_id the asking node's index + 1, term Sentinel's config epoch. */
#define FL_REDIS_PORT 6379
#define FL_REDIS_SENTINEL_PORT 26379

/* Sentinel's timing for scenario s (NULL: defaults), for the same reasons
 * as fl_etcd_timing:
 *   down_after       = the election timeout fl_etcd_timing gives (1 s..5 s,
 *                      at most failover.within / 4 but at least 500 ms);
 *   failover_timeout = down_after, at least 2 s. Sentinel waits
 *                      2 x failover-timeout before it retries a failover
 *                      whose vote split (which happens: every sentinel
 *                      sees the primary go at about the same time), and
 *                      its default of 3 minutes would hide every failover;
 *                      2 s leaves a slow machine time for the promotion.
 * system.args do not reach the sentinels; these are the only knobs. */
void fl_redis_timing(const struct fl_scenario *s, unsigned *down_after_ms,
		     unsigned *failover_timeout_ms);

/* fl_sys_expand() with {port} = 6379 (the placeholders are the same for
 * every system: {peer_ips} lists the nodes' addresses). */
int fl_redis_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		    char *err, size_t errlen);

/* --- nats specifics (exposed for tests) ----------------------------------- */

/* One nats-server per node (JetStream on, its store in {data_dir}, routes
 * to every other node); a stream FL_NATS_STREAM over the subjects
 * "fl.>" with min(nodes, FL_NATS_MAX_REPLICAS) replicas, file storage and
 * direct gets allowed, created by wait_ready. The set named k is the
 * subject "fl.<k>": add publishes the element there and waits for the
 * stream's ack. The leader is the stream's raft leader (STREAM.INFO's
 * cluster.leader); leader_id / member_id are node index + 1; term 0 (the
 * 2.9 API exposes none); index the stream's last sequence. read_set and
 * digest are direct gets through the node (serializable or not), answered
 * by whichever replica serves them, not only the node's own (nats.c);
 * read_set and digest scan the stream from sequence 1 with many direct
 * gets in flight, each reply due within timeout_ms of the one before, and
 * fail on a hole (a sequence missing below one that is there); a client
 * reuses its last scan while the stream still ends at the same message.
 * The digest hashes every message (subject, data) and the count. */
#define FL_NATS_PORT 4222
#define FL_NATS_CLUSTER_PORT 6222
#define FL_NATS_STREAM "faultline"
#define FL_NATS_MAX_REPLICAS 5    /* the server refuses more ("replicas > 5 not supported") */

/* What the caller may conclude from a libnats call that ended with natsStatus
 * status and JetStream error code js_code (0: none): *outcome, and the
 * -errno to return. write: the request was sent and may change state (a
 * publish); a read, or a write that never went out, is FAIL whatever
 * happened. OK for NATS_OK; FAIL for no responders (nothing received it:
 * no stream leader reachable), a refused connection, and the JetStream
 * errors a server gives before it proposes (stream not found, message too
 * big, sealed, wrong expected sequence or id); INFO for a time-out, a
 * connection lost after sending, and any other error of a sent write. */
int fl_nats_outcome(int status, int js_code, int write, enum fl_outcome *outcome);

/* fl_sys_expand() with {port} = FL_NATS_PORT. */
int fl_nats_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		   char *err, size_t errlen);

/* The digest of a state, fed one pair at a time in key order:
 * FNV-1a 64 over, per pair, the key's length (8 bytes, little endian),
 * the key, the value's length, the value. */
#define FL_FNV64_INIT 0xcbf29ce484222325ull
uint64_t fl_digest_add(uint64_t h, const void *key, size_t klen, const void *val, size_t vlen);
void fl_digest_hex(uint64_t h, char hex[FL_DIGEST_HEX]);
/* What every adapter's digest call gives back: hex of h, and the
 * revision and key count where asked for (not NULL). */
void fl_digest_done(uint64_t h, int64_t rev, size_t count, char hex[FL_DIGEST_HEX],
		    int64_t *revision, size_t *nkeys);

/* Standard base64 with padding. *out malloc'd (decode: NUL-terminated too). */
int fl_base64_encode(const void *in, size_t len, char **out);
int fl_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
