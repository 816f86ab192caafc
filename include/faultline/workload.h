/* Client workloads: N client threads at a target rate against the nodes
 * of a running system, every operation recorded in the history as invoke
 * and completion. After an operation with an unknown outcome ("info") the
 * client continues as a new process (id + clients), as Jepsen does: the
 * old one may still have a request in flight.
 *
 * register: per key (k0, k1, ...) read / write / compare-and-set, written
 * values unique ("<process>-<n>"), keys spread over clients at random. A
 * compare-and-set expects the value the client last read or wrote for that
 * key (it reads first when it knows none), so it succeeds unless another
 * client wrote in between.
 * set: adds unique elements ("<process>-<n>") to sets s0, s1, ...
 * After the run, fl_workload_final_reads reads every key from every node. */
#ifndef FAULTLINE_WORKLOAD_H
#define FAULTLINE_WORKLOAD_H

#include <signal.h>
#include <stdint.h>

#include "faultline/history.h"
#include "faultline/scenario.h"
#include "faultline/system.h"

/* One workload client: how it went, its programs' lives (exec). */
struct fl_workload_client {
	size_t node;
	uint64_t invoked, ok;
	struct fl_sys_client_life life;    /* starts, start-ups, deaths, kills */
	unsigned backoffs;                 /* waits before a start, its programs dying */
	int64_t backoff_ns;                /* their total */
	char log[FL_NODE_NAME_MAX + 32];   /* its programs' stderr file (fl_sys_client.log) */
	int failed;                        /* -errno: it gave up (not opened, or not ready
					    * within system.ready_timeout); error says why */
	char error[512];
};

struct fl_workload_stats {
	uint64_t invoked;
	uint64_t outcome[FL_OUTCOME__N];
	uint64_t per_client_ok[1024];
	struct fl_workload_client *clients; /* [nclients]; fl_workload_stats_release */
	unsigned nclients;
	int64_t ready_ns;                  /* fl_workload_open: until every client was ready */
};

void fl_workload_stats_release(struct fl_workload_stats *st);

struct fl_workload_open; /* workload.c */

struct fl_workload {
	const struct fl_scenario *s;       /* workload section: clients, rate, keys, timeout */
	const struct fl_system_ops *ops;
	const struct fl_sys_nodes *nodes;
	struct fl_history *history;
	uint64_t seed;
	int64_t duration_ns;               /* from the start of fl_workload_run */
	volatile sig_atomic_t *stop;       /* set to end early (Ctrl-C); may be NULL */
	int writes_only;                   /* register: puts only (benchmarks: etcd's own
					    * load tools only put) */
	uint64_t *live;                    /* optional: [FL_OUTCOME__N] completed ops so far,
					    * added to atomically as ops complete (progress) */
	/* optional: told, from the client's thread, what is worth saying as it
	 * happens (a client backing off, a client that gave up) */
	void (*note)(void *ctx, const char *msg);
	void *note_ctx;
	struct fl_workload_open *open;     /* fl_workload_open's clients; run takes them */
	/* optional: one client per node (NULL entries: opened there) for
	 * fl_workload_final_reads to use instead of its own; the caller's to
	 * close */
	struct fl_sys_client *const *final_clients;
};

/* Open every client and make it ready (exec: its program started and its
 * answer to hello awaited, within system.ready_timeout), all at once, before
 * the workload's time starts: call it before the run's clock starts. Fills
 * st (clients[], ready_ns); a client that cannot be made ready is marked
 * failed and the others go on. 0 when at least one client is ready, else
 * -errno with err (the first client's error). */
int fl_workload_open(struct fl_workload *w, struct fl_workload_stats *st, char *err,
		     size_t errlen);

/* The clients fl_workload_open opened, closed when fl_workload_run never
 * took them (a run that stopped before its workload); no-op otherwise. */
void fl_workload_close(struct fl_workload *w);

/* Run until duration_ns or *stop; fills stats (the one fl_workload_open
 * filled, which it calls first when nobody did). Before each operation a
 * client's system client is made ready (ops->client_ready), charged to no
 * operation; while its programs keep dying (life.dying >= 2) it waits
 * before each start, 250 ms doubling up to 5 s; a program not ready within
 * system.ready_timeout ends that client (failed, error). Returns 0 or
 * -errno (a client that could not be opened or made ready). */
int fl_workload_run(struct fl_workload *w, struct fl_workload_stats *stats, char *err,
		    size_t errlen);

/* Final reads, after the faults are healed: every key (register: a
 * linearizable read; set: the whole set) through every node, marked final
 * in the history, each asked again (every 200 ms) until it answers or
 * budget_ns is spent. Processes FL_FINAL_PROCESS + node index. stats (may
 * be NULL) is added to. -ETIMEDOUT when some read never answered. */
#define FL_FINAL_PROCESS 1000000
int fl_workload_final_reads(const struct fl_workload *w, int64_t budget_ns,
			    struct fl_workload_stats *stats, char *err, size_t errlen);

#endif
