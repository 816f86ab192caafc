/* The node agent's engine: request dispatch over the injectors' op tables,
 * the undo journal, healing, and the dead-man switch. faultline-agent's
 * main() only parses options and calls fl_agent_serve(). Injectors register
 * through a `const struct fl_injector_ops` each (see process.c). */
#ifndef FAULTLINE_AGENT_H
#define FAULTLINE_AGENT_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "faultline/journal.h"

#define FL_AGENT_MAX_PROCS 8
#define FL_AGENT_MAX_IFACES 8

struct fl_agent;

/* One request kind. run() fills *reply (may stay NULL) or returns -errno
 * with a lowercase message in err. */
struct fl_agent_op {
	const char *name;
	int (*run)(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen);
};

/* One undo kind, replayed by heal: must be idempotent (already undone = 0). */
struct fl_undo_kind {
	const char *name;
	int (*undo)(struct fl_agent *a, json_t *entry, char *err, size_t errlen);
};

struct fl_injector_ops {
	const char *name;
	const struct fl_agent_op *ops;
	size_t nops;
	const struct fl_undo_kind *undos;
	size_t nundos;
	void (*shutdown)(struct fl_agent *a); /* at exit, after heal */
};

struct fl_proc {
	char id[32];
	char **argv, **env; /* NULL-terminated, owned */
	char *log;          /* file for stdout+stderr, or NULL */
	pid_t pid;          /* 0 when not running */
	int stopped;        /* SIGSTOPped by us */
	int last_status;    /* from waitpid, -1 when none */
};

struct fl_agent {
	char node[32];
	int64_t heal_after_ns;   /* dead-man switch */
	int64_t last_heard_ns;   /* CLOCK_MONOTONIC of the last request */
	int dead_man_fired;      /* healed for silence; re-armed by the next request */
	struct fl_journal *journal;
	char *ifaces[FL_AGENT_MAX_IFACES]; /* allowed interfaces; none = any but lo */
	size_t nifaces;
	struct fl_proc procs[FL_AGENT_MAX_PROCS];
	void *net;               /* the network injector's state (net.c) */
	int vm_node;             /* the agent runs on its own VM: it may move this machine's
				  * clock and reboot it (never in a network namespace) */
	FILE *log;               /* the agent's own log (stderr) */
};

/* The registered injectors, NULL-terminated. */
extern const struct fl_injector_ops *const fl_injectors[];

int fl_agent_init(struct fl_agent *a, const char *node, const char *journal_path,
		  int64_t heal_after_ns, FILE *log);
void fl_agent_release(struct fl_agent *a);

/* Handle one request line; returns the reply line (malloc'd, ends in '\n'). */
char *fl_agent_handle_line(struct fl_agent *a, const char *line, size_t len);

/* Replay the journal newest first. Returns 0 when everything was undone
 * (journal emptied), else the first error (entries kept for a retry). */
int fl_agent_heal(struct fl_agent *a, size_t *healed, char *err, size_t errlen);

/* Heal only the entries of one fault (NULL: all). */
int fl_agent_heal_fault(struct fl_agent *a, const char *fault, size_t *healed, char *err,
			size_t errlen);

/* A new undo entry {"undo": kind} tagged with the request's "fault" id. */
json_t *fl_agent_undo_entry(json_t *req, const char *kind);

/* This boot's id (/proc/sys/kernel/random/boot_id; "" when unreadable):
 * in `hello`, so the harness tells a rebooted node's new agent apart. */
void fl_agent_boot_id(char *buf, size_t len);

/* Serve requests from in, replies to out, until EOF (then heal and return
 * 0). Calls the dead-man switch when nothing arrives for heal_after. */
int fl_agent_serve(struct fl_agent *a, int in, int out);

/* Serve every connection accepted on a listening socket (up to 16 at once)
 * until fl_agent_stop. A connection's faults are healed when it closes;
 * requests that change something without a "fault" id get one of the
 * connection's. At stop: heal everything, stop the processes, return 0. */
int fl_agent_listen(struct fl_agent *a, int lfd);

/* Serve character devices whose far end comes and goes (virtio-serial
 * ports, opened O_RDWR|O_NONBLOCK; 1 to 16): one connection per port while
 * its host side is open (no POLLHUP), greeted with a line
 * {"event":"connected","node":..} so the host knows the port is served
 * (replies are matched by id: the greeting is skipped); when it closes,
 * that connection's faults are healed and the port waits for the next, the
 * processes kept. Until fl_agent_stop: then heal everything, stop the
 * processes, return 0. */
int fl_agent_serve_ports(struct fl_agent *a, const int *fds, size_t n);

/* Heal everything and stop the spawned processes (the agent is leaving). */
void fl_agent_shutdown(struct fl_agent *a, const char *why);

/* Set from a signal handler: serve returns after healing everything. */
#include <signal.h>
extern volatile sig_atomic_t fl_agent_stop;

/* Is ifname an interface this agent may change? Sets err when not. */
int fl_agent_iface_allowed(const struct fl_agent *a, const char *ifname, char *err, size_t errlen);

/* Free a process slot's argv, env and log path and empty it (process.c). */
void fl_proc_clear(struct fl_proc *p);

/* Reap exited children (non-blocking). */
void fl_agent_reap(struct fl_agent *a);

int64_t fl_monotonic_ns(void);

#endif
