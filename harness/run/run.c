/* The run loop (see run.h). Order matters for "nothing left behind": every
 * path out of fl_run goes through the same teardown: heal, stop the system,
 * take the cluster down. */
#include "faultline/run.h"
#include "run-priv.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultline/cluster.h"
#include "faultline/exec.h"
#include "faultline/history.h"
#include "faultline/report.h"
#include "faultline/plan.h"
#include "faultline/provider.h"
#include "faultline/strutil.h"
#include "faultline/util.h"
#include "faultline/system.h"
#include "faultline/units.h"
#include "faultline/workload.h"

/* SIGINT, SIGTERM, SIGHUP (Ctrl-C, a cancelled CI job, a closed terminal):
 * how many came. The first heals and stops the workload, and what was
 * recorded is judged; a second skips whatever waits are left (bring-up,
 * judging) but not the teardown: once the cluster is down (torn_down),
 * it ends the process at once, nothing being left to undo. */
static volatile sig_atomic_t interrupted, torn_down;

static void on_signal(int sig)
{
	if (++interrupted > 1 && torn_down) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

int fl_run_interrupted(void)
{
	return interrupted;
}

void fl_run_interrupt(void)
{
	interrupted++;
}

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct sampler;

struct run {
	const struct fl_scenario *s;
	const struct fl_system_ops *ops;
	struct fl_cluster *c;
	struct fl_sys_nodes nodes;
	struct fl_plan *plan;
	struct fl_jsonl *faults;
	struct fl_exec x;
	struct fl_sys_client *status_clients[FL_MAX_NODES];
	int64_t t0, end;
	volatile int workload_done; /* read by the nemesis thread: nem_stop */
	uint64_t applied, failed;
	char leader_note[512];
	struct fl_jsonl *status_log;
	volatile int sampling;
	/* for the progress line */
	pthread_mutex_t mu;
	char said_leader[FL_MAX_NODES][FL_NODE_NAME_MAX + 1]; /* each node's last answer */
	int64_t said_at[FL_MAX_NODES];                         /* when (0: never) */
	int active_faults;
	uint64_t live[FL_OUTCOME__N];
	volatile int progressing;
	const struct fl_say *say; /* progress and errors (say.h) */
	int status_ms; /* per status call: the workload's op timeout, 1..10 s */
	/* the steps of fl_run */
	const struct fl_run_opts *o;
	char dir[512];
	char data_root[256];          /* the nodes' data (as the nodes see it) */
	int data_local;               /* data_root is ours on this host: removed after */
	json_t *where;                /* the provider's describe(): accel, data_dir, share */
	char logs[600];               /* where the nodes write their logs (then copied) */
	char client_logs[600];        /* <dir>/logs: the client programs' stderr (exec) */
	const char *names[FL_MAX_NODES];
	struct fl_history *h;
	struct fl_workload w;
	struct fl_workload_stats ws;
	struct sampler *samplers;     /* one a node */
	pthread_t nem, prog;
	int nem_started, prog_started;
	uint64_t machine_down;        /* nodes suspended or powered off now */
	/* lost nodes (exec.h): when (0: not lost) and what failed */
	int64_t lost_at[FL_MAX_NODES];
	char lost_why[FL_MAX_NODES][200];
	int64_t answered_at[FL_MAX_NODES]; /* the last ping its agent answered */
};

/* The leader most nodes name now ("-" when none), for the progress line. */
static void current_leader(struct run *r, char *out, size_t len)
{
	int votes[FL_MAX_NODES] = { 0 }, best = -1;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->nodes.n; i++)
		for (size_t k = 0; k < r->nodes.n; k++)
			if (r->said_leader[i][0] && !strcmp(r->said_leader[i], r->nodes.names[k]))
				votes[k]++;
	pthread_mutex_unlock(&r->mu);
	for (size_t k = 0; k < r->nodes.n; k++)
		if (votes[k] && (best < 0 || votes[k] > votes[best]))
			best = (int)k;
	snprintf(out, len, "%s", best < 0 ? "-" : r->nodes.names[best]);
}

/* The status line: where it is rewritten in place (a terminal) every
 * second; otherwise a plain line every 10 s (logs of nightly jobs stay
 * readable). */
static void *progress_main(void *arg)
{
	struct run *r = arg;
	int64_t every = (r->say->live ? 1 : 10) * FL_NS_PER_S, next = mono() + every;

	while (r->progressing) {
		char leader[FL_NODE_NAME_MAX + 1];
		struct timespec ts = { 0, 100 * 1000000 };

		nanosleep(&ts, NULL);
		if (mono() < next || !r->progressing)
			continue;
		next += every;
		current_leader(r, leader, sizeof(leader));
		fl_say(r->say, FL_SAY_STATUS,
		       "[%6.1fs / %.0fs] ops ok %llu fail %llu info %llu | faults active %d | leader %s",
		       (double)(mono() - r->t0) / 1e9, (double)r->s->duration_ns / 1e9,
		       (unsigned long long)__atomic_load_n(&r->live[FL_OUTCOME_OK], __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&r->live[FL_OUTCOME_FAIL], __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&r->live[FL_OUTCOME_INFO], __ATOMIC_RELAXED),
		       __atomic_load_n(&r->active_faults, __ATOMIC_RELAXED), leader);
	}
	return NULL;
}

/* --- status samples: what every node says about the leader, over time ----- */

struct sampler {
	struct run *r;
	size_t node;
	pthread_t t;
	int started;
};

#define SAMPLE_EVERY_MS 250

/* One thread per node, so a paused or unreachable node never delays the
 * others' samples. A line per sample: {"t","node","ok","leader","term"}. */
static void *sampler_main(void *arg)
{
	struct sampler *sm = arg;
	struct run *r = sm->r;
	struct fl_sys_client *c = NULL;
	char e[256];

	while (r->sampling) {
		struct fl_sys_status st;
		enum fl_outcome oc;
		int64_t next = mono() + SAMPLE_EVERY_MS * 1000000LL;
		json_t *o;

		if (!c && r->ops->client_open(&r->nodes, sm->node, &c, e, sizeof(e)) < 0)
			c = NULL;
		if (c && r->ops->status(c, r->status_ms, &st, &oc, e, sizeof(e)) == 0) {
			pthread_mutex_lock(&r->mu);
			snprintf(r->said_leader[sm->node], sizeof(r->said_leader[0]), "%s", st.leader);
			r->said_at[sm->node] = mono();
			pthread_mutex_unlock(&r->mu);
			/* a system without terms writes none: term 0 is not a term */
			o = r->ops->no_term
				    ? json_pack("{s:s, s:b, s:s}", "node", r->nodes.names[sm->node],
						"ok", 1, "leader", st.leader)
				    : json_pack("{s:s, s:b, s:s, s:I}", "node",
						r->nodes.names[sm->node], "ok", 1, "leader", st.leader,
						"term", (json_int_t)st.term);
		} else {
			pthread_mutex_lock(&r->mu);
			r->said_leader[sm->node][0] = 0;
			pthread_mutex_unlock(&r->mu);
			o = json_pack("{s:s, s:b, s:s}", "node", r->nodes.names[sm->node], "ok", 0,
				      "error", c ? e : "cannot open a client");
		}
		fl_jsonl_write(r->status_log, o);
		/* a slow status call (an exec client starting programs) spaces the
		 * samples out: at most half of this thread's time is spent asking */
		{
			int64_t began = next - SAMPLE_EVERY_MS * 1000000LL, took = mono() - began;
			if (began + 2 * took > next)
				next = began + 2 * took;
		}
		while (r->sampling && mono() < next) {
			struct timespec ts = { 0, 20 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	if (c)
		r->ops->client_close(c);
	return NULL;
}

/* --- convergence: digests of every node until they agree ------------------ */

/* Ask every node for its digest every 500 ms until all answer the same, or
 * budget_ns passes; every answer goes to digests.jsonl. c[]: a client per
 * node, the caller's (NULL ones opened here, left there for the caller to
 * close). Returns 0 when they agreed (*took_ns: from the call), -ETIMEDOUT
 * or -ENOTSUP. */
static int converge(struct run *r, const char *dir, struct fl_sys_client **c, int64_t budget_ns,
		    int64_t *took_ns)
{
	struct fl_jsonl *log = NULL;
	char path[700];
	int64_t start = mono();
	int rc = -ETIMEDOUT;

	if (!r->ops->digest)
		return -ENOTSUP;
	snprintf(path, sizeof(path), "%s/digests.jsonl", dir);
	if (fl_jsonl_open(path, r->t0, &log) < 0)
		return -EIO;
	for (;;) {
		char first[FL_DIGEST_HEX] = "";
		int agree = 1;
		for (size_t i = 0; i < r->nodes.n; i++) {
			char hex[FL_DIGEST_HEX], e[256];
			int64_t rev = 0;
			size_t nkeys = 0;
			if (!c[i] && r->ops->client_open(&r->nodes, i, &c[i], e, sizeof(e)) < 0)
				c[i] = NULL;
			if (c[i] && r->ops->digest(c[i], r->status_ms, hex, &rev, &nkeys, e, sizeof(e)) == 0) {
				fl_jsonl_write(log, json_pack("{s:s, s:s, s:I, s:I}", "node",
							      r->nodes.names[i], "digest", hex,
							      "revision", (json_int_t)rev, "keys",
							      (json_int_t)nkeys));
				if (!first[0])
					memcpy(first, hex, sizeof(first));
				else if (strcmp(first, hex))
					agree = 0;
			} else {
				fl_jsonl_write(log, json_pack("{s:s, s:s}", "node", r->nodes.names[i],
							      "error", c[i] ? e : "no client"));
				agree = 0;
			}
		}
		if (agree) {
			*took_ns = mono() - start;
			fl_jsonl_write(log, json_pack("{s:b, s:s}", "converged", 1, "digest", first));
			rc = 0;
			break;
		}
		if (mono() - start >= budget_ns || interrupted) {
			fl_jsonl_write(log, json_pack("{s:b}", "converged", 0));
			break;
		}
		{
			struct timespec ts = { 0, 500 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	fl_jsonl_close(log);
	return rc;
}

/* One node's status, asked from its own thread. */
struct ask {
	struct run *r;
	size_t node;
	struct fl_sys_status st;
	int ok;
	char err[160];
};

static void *ask_main(void *arg)
{
	struct ask *a = arg;
	enum fl_outcome oc;
	char e[128];

	e[0] = 0;
	a->ok = a->r->status_clients[a->node] &&
		a->r->ops->status(a->r->status_clients[a->node], a->r->status_ms, &a->st, &oc, e,
				  sizeof(e)) == 0 &&
		a->st.leader[0];
	snprintf(a->err, sizeof(a->err), "%s", a->ok ? "" : !a->r->status_clients[a->node]
			? "no client" : e[0] ? e : "knows no leader");
	return NULL;
}

/* The leader as the nodes see it now: the name most of them report. The
 * status samplers' answers count when every node answered within the last
 * second (etcd: 4 samples a second); otherwise each node is asked now. */
static int resolve_leader(void *ctx, int *leader)
{
	struct run *r = ctx;
	int votes[FL_MAX_NODES] = { 0 }, best = -1, fresh = 1;
	int64_t now = mono();

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->nodes.n; i++)
		fresh &= r->said_at[i] && now - r->said_at[i] < FL_NS_PER_S;
	for (size_t i = 0; fresh && i < r->nodes.n; i++)
		for (size_t k = 0; k < r->nodes.n; k++)
			if (!strcmp(r->said_leader[i], r->nodes.names[k]))
				votes[k]++;
	pthread_mutex_unlock(&r->mu);
	if (!fresh) {
		/* ask every node at once: a slow or paused node costs one timeout */
		struct ask a[FL_MAX_NODES];
		pthread_t th[FL_MAX_NODES];
		int started[FL_MAX_NODES] = { 0 };
		for (size_t i = 0; i < r->nodes.n; i++) {
			a[i] = (struct ask){ .r = r, .node = i };
			started[i] = pthread_create(&th[i], NULL, ask_main, &a[i]) == 0;
		}
		for (size_t i = 0; i < r->nodes.n; i++) {
			if (!started[i])
				continue;
			pthread_join(th[i], NULL);
			for (size_t k = 0; a[i].ok && k < r->nodes.n; k++)
				if (!strcmp(r->nodes.names[k], a[i].st.leader))
					votes[k]++;
			if (!a[i].ok)
				snprintf(r->leader_note + strlen(r->leader_note),
					 sizeof(r->leader_note) - strlen(r->leader_note), "%s%s",
					 r->leader_note[0] ? "; " : "", a[i].err);
		}
	}
	for (size_t k = 0; k < r->nodes.n; k++)
		if (votes[k] && (best < 0 || votes[k] > votes[best]))
			best = (int)k;
	if (best < 0)
		return -ENOENT; /* leader_note says why */
	*leader = best;
	snprintf(r->leader_note, sizeof(r->leader_note), "%s (named by %d of %zu nodes%s)",
		 r->nodes.names[best], votes[best], r->nodes.n, fresh ? ", sampled" : "");
	return 0;
}

struct event {
	int64_t at;
	size_t step;
	int heal;
};

static int ev_cmp(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->heal != y->heal)
		return x->heal ? -1 : 1; /* heal before the next apply at the same moment */
	return x->step < y->step ? -1 : x->step > y->step;
}

/* An agent silent this long is lost: it heals what it holds itself after
 * its --heal-after (5 s), so the faults it held are over anyway. */
#define AGENT_LOST_NS (5 * FL_NS_PER_S)

/*
 * A node whose agent is gone (exec.h's on_lost; the nemesis thread). The
 * run goes on without it: its faults are healed from its journal when
 * they are due (heal_lost), later faults skip it, and the checks that need
 * its evidence say UNKNOWN (invariants.h). The agent, if it still lives
 * (hung, not answering), is killed: it must not wake up and act on a
 * journal replayed without it. The node's system process is left running:
 * no one planned its end, and `down` removes whatever the node still runs.
 */
static void node_lost(void *ctx, size_t i, const char *why)
{
	struct run *r = ctx;

	if (r->lost_at[i])
		return;
	r->x.lost |= 1ull << i;
	r->lost_at[i] = mono();
	snprintf(r->lost_why[i], sizeof(r->lost_why[i]), "%s", why);
	if (r->c->agent_pids[i] > 0)
		kill(r->c->agent_pids[i], SIGKILL); /* our child: its pid is ours until reaped */
	fl_agentc_close(r->c->agents[i], 0);
	r->c->agents[i] = NULL;
	fl_jsonl_write(r->faults, json_pack("{s:s, s:s, s:s}", "event", "lost", "node",
					    r->nodes.names[i], "why", why));
	fl_say(r->say, FL_SAY_ERROR, "[%6.1fs] node %s lost: %s; its faults are healed from its "
	       "journal, checks that need its evidence say UNKNOWN",
	       (double)(r->lost_at[i] - r->t0) / 1e9, r->nodes.names[i], why);
}

/* exec.h's heal_lost: the provider replays node i's journal without its
 * agent (the agent's own heal code, as `faultline heal` does). */
static int heal_lost(void *ctx, size_t i, char *err, size_t errlen)
{
	struct run *r = ctx;

	return r->c->prov->agent_heal(r->c->pc, r->c->dir, i, r->c->names[i], err, errlen);
}

/*
 * Every agent heals what it applied when the harness has been silent for its
 * --heal-after (5 s): a fault held longer than that must be kept alive, or
 * it silently ends early while faults.jsonl says it held. A ping a second
 * from the nemesis thread, the only one that talks to the agents during
 * the run, so calls on one channel never interleave. An agent whose
 * channel is closed, or that answered no ping for AGENT_LOST_NS, is lost.
 */
static void keep_agents_alive(struct run *r, int64_t *last)
{
	if (mono() - *last < FL_NS_PER_S)
		return;
	*last = mono();
	for (size_t i = 0; i < r->nodes.n; i++) {
		json_t *reply = NULL;
		char e[256];
		int rc;
		/* a suspended or powered-off machine's agent cannot answer */
		if (!r->c->agents[i] || (r->machine_down & (1ull << i)) || r->lost_at[i]) {
			r->answered_at[i] = mono();
			continue;
		}
		rc = fl_agentc_call(r->c->agents[i], json_pack("{s:s}", "op", "ping"), 2000, &reply,
				    e, sizeof(e));
		json_decref(reply);
		if (rc == 0 || rc == -EIO)
			r->answered_at[i] = mono();
		else if (rc == -EPIPE)
			node_lost(r, i, e);
		else if (rc == -ETIMEDOUT && mono() - r->answered_at[i] >= AGENT_LOST_NS) {
			snprintf(e, sizeof(e), "its agent answered no ping for %.0f s",
				 (double)(mono() - r->answered_at[i]) / 1e9);
			node_lost(r, i, e);
		}
	}
}

/* The nemesis stops at a signal or when the workload is done (a flag of its
 * own: the signals' count must stay the user's). */
static int nem_stop(const struct run *r)
{
	return interrupted || r->workload_done;
}

static void *nemesis_main(void *arg)
{
	struct run *r = arg;
	struct fl_plan *p = r->plan;
	struct event *ev = calloc(p->nsteps * 2 + 1, sizeof(*ev));
	uint64_t *touched = calloc(p->nsteps + 1, sizeof(*touched));
	int *active = calloc(p->nsteps + 1, sizeof(*active));
	size_t n = 0;
	int64_t pinged = mono();

	if (!ev || !touched || !active)
		goto out;
	for (size_t i = 0; i < p->nsteps; i++) {
		ev[n++] = (struct event){ p->steps[i].start_ns, i, 0 };
		if (!p->steps[i].until_end &&
		    !fl_fault_is_instant(r->s->faults[p->steps[i].fault].kind))
			ev[n++] = (struct event){ p->steps[i].end_ns, i, 1 };
	}
	qsort(ev, n, sizeof(*ev), ev_cmp);
	for (size_t k = 0; k < n && !nem_stop(r); k++) {
		const struct fl_plan_step *st = &p->steps[ev[k].step];
		const struct fl_fault *f = &r->s->faults[st->fault];
		char id[32], err[512] = "";
		int64_t began;
		json_t *o;
		int rc;

		while (!nem_stop(r) && mono() < r->t0 + ev[k].at) {
			struct timespec ts = { 0, 20 * 1000000 };
			keep_agents_alive(r, &pinged);
			nanosleep(&ts, NULL);
		}
		if (nem_stop(r))
			break;
		snprintf(id, sizeof(id), "f%zu.%u", st->fault, st->seq);
		began = fl_jsonl_now(r->faults);
		if (ev[k].heal) {
			if (!active[ev[k].step])
				continue;
			rc = fl_exec_heal(&r->x, touched[ev[k].step], id, err, sizeof(err));
			active[ev[k].step] = 0;
			__atomic_fetch_sub(&r->active_faults, 1, __ATOMIC_RELAXED);
		} else {
			r->leader_note[0] = 0;
			rc = fl_exec_apply(&r->x, st, id, &touched[ev[k].step], err, sizeof(err));
			active[ev[k].step] = rc == 0;
			if (rc == 0) {
				r->applied++;
				__atomic_fetch_add(&r->active_faults, 1, __ATOMIC_RELAXED);
			}
			else
				r->failed++;
		}
		o = json_pack("{s:s, s:s, s:s, s:b}", "fault", id, "kind", fl_fault_kind_to_string(f->kind),
			      "event", ev[k].heal ? "heal" : "apply", "ok", rc == 0);
		/* a fault takes effect when the first node is acted on (a reboot:
		 * the machine goes down then, the apply returns once it is back);
		 * a heal holds once it is done (a powered-off node booted again) */
		if (ev[k].heal) {
			json_object_set_new(o, "began_t", json_integer(began));
		} else {
			if (r->x.acted_ns)
				json_object_set_new(o, "t", json_integer(r->x.acted_ns - r->t0));
			json_object_set_new(o, "done_t", json_integer(fl_jsonl_now(r->faults)));
		}
		{
			json_t *nodes = json_array();
			for (size_t i = 0; i < r->nodes.n; i++)
				if (touched[ev[k].step] & (1ull << i))
					json_array_append_new(nodes, json_string(r->nodes.names[i]));
			json_object_set_new(o, "nodes", nodes);
		}
		if (!ev[k].heal && rc == 0 && f->kind == FL_FAULT_PARTITION) {
			json_t *b = json_object();
			for (size_t i = 0; i < r->nodes.n; i++) {
				json_t *to = json_array();
				for (size_t j = 0; j < r->nodes.n; j++)
					if (r->x.blocked[i] & (1ull << j))
						json_array_append_new(to, json_string(r->nodes.names[j]));
				json_object_set_new(b, r->nodes.names[i], to);
			}
			json_object_set_new(o, "blocked", b);
		}
		if (r->x.lost_hit) {
			/* apply: the lost nodes skipped; heal: those healed from their journal */
			json_t *lost = json_array();
			for (size_t i = 0; i < r->nodes.n; i++)
				if (r->x.lost_hit & (1ull << i))
					json_array_append_new(lost, json_string(r->nodes.names[i]));
			json_object_set_new(o, "lost", lost);
		}
		if (!ev[k].heal && r->leader_note[0])
			json_object_set_new(o, "leader", json_string(r->leader_note));
		if (rc < 0 && r->leader_note[0] && !ev[k].heal) {
			/* the leader could not be resolved: say what the nodes said */
			snprintf(err + strlen(err), sizeof(err) - strlen(err), " (%.200s)", r->leader_note);
			r->leader_note[0] = 0;
		}
		if (rc < 0)
			json_object_set_new(o, "error", json_string(err));
		fl_jsonl_write(r->faults, o);
		fl_say(r->say, FL_SAY_INFO, "[%6.1fs] %s %s %s%s%s", (double)(mono() - r->t0) / 1e9,
		       ev[k].heal ? "healed " : "applied", id, fl_fault_kind_to_string(f->kind),
		       rc < 0 ? ": " : "", rc < 0 ? err : "");
	}
	/* faults without 'for' hold until the run ends (or Ctrl-C) */
	while (!nem_stop(r)) {
		struct timespec ts = { 0, 20 * 1000000 };
		keep_agents_alive(r, &pinged);
		nanosleep(&ts, NULL);
	}
	/* whatever still holds is healed now */
	for (size_t i = 0; i < p->nsteps; i++) {
		char id[32], err[512];
		int hr;
		if (!active[i])
			continue;
		snprintf(id, sizeof(id), "f%zu.%u", p->steps[i].fault, p->steps[i].seq);
		hr = fl_exec_heal(&r->x, touched[i], id, err, sizeof(err));
		fl_jsonl_write(r->faults, json_pack("{s:s, s:s, s:s}", "fault", id, "event", "heal",
						    "why", "end of run"));
		fl_say(r->say, FL_SAY_INFO, "[%6.1fs] healed  %s %s (end of run)%s%s",
		       (double)(mono() - r->t0) / 1e9, id,
		       fl_fault_kind_to_string(r->s->faults[p->steps[i].fault].kind),
		       hr < 0 ? ": " : "", hr < 0 ? err : "");
	}
out:
	free(ev);
	free(touched);
	free(active);
	return NULL;
}

/* run.json (what was run, and how to load it again) and a copy of the
 * scenario file as scenario.yaml. */
static void write_run_meta(const char *dir, const struct fl_scenario *s,
			   const struct fl_run_opts *o, json_t *where)
{
	char path[700], buf[4096], stamp[32];
	json_t *meta, *ov = json_array();
	time_t now = time(NULL);
	struct tm tm;
	FILE *in, *out;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; i < o->noverrides; i++)
		json_array_append_new(ov, json_string(fl_scenario_shown_override(
						  s, o->overrides[i], buf, sizeof(buf))));
	/* accel: what the nodes' kernels run on: the VMs' accelerator (libvirt
	 * says), the micro-VM's under --vm (tests/vm/run says), else this host's
	 * own kernel */
	const char *accel = json_string_value(json_object_get(where, "accel"));
	if (!accel)
		accel = getenv("FAULTLINE_VM_ACCEL") ? getenv("FAULTLINE_VM_ACCEL") : "host";
	meta = json_pack("{s:s, s:s, s:I, s:o, s:s, s:s, s:s, s:s, s:s}", "scenario", s->name,
			 "file",
			 getenv("FL_SCENARIO_ORIG") ? getenv("FL_SCENARIO_ORIG") : o->scenario_path,
			 "seed", (json_int_t)o->seed, "overrides", ov, "started", stamp, "version",
			 FL_VERSION, "provider", fl_provider_to_string(s->cluster.provider), "accel",
			 accel, "system", fl_system_type_to_string(s->system.type));
	if (meta && json_object_get(where, "accel_why"))
		json_object_set(meta, "accel_why", json_object_get(where, "accel_why"));
	/* how long the provider took to bring the nodes up (VMs: boot) */
	if (meta && json_object_get(where, "boot_ms"))
		json_object_set(meta, "boot_ms", json_object_get(where, "boot_ms"));
	snprintf(path, sizeof(path), "%s/run.json", dir);
	if (meta)
		json_dump_file(meta, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(meta);
	snprintf(path, sizeof(path), "%s/scenario.yaml", dir);
	if (!(in = fopen(o->scenario_path, "r")))
		return;
	if ((out = fopen(path, "w"))) {
		fl_scenario_copy_redacted(s, in, out); /* no secret in a run directory */
		fclose(out);
	}
	fclose(in);
}

/* The reproduce line: the file the user gave, the seed, every --set. */
void fl_run_print_reproduce(FILE *out, const struct fl_scenario *s, const struct fl_run_opts *o)
{
	char buf[4096];

	/* under --vm the file is a copy: name the one the user gave */
	fprintf(out, "reproduce: faultline run %s --seed %llu",
		getenv("FL_SCENARIO_ORIG") ? getenv("FL_SCENARIO_ORIG") : o->scenario_path,
		(unsigned long long)o->seed);
	for (size_t i = 0; i < o->noverrides; i++) {
		const char *ov = fl_scenario_shown_override(s, o->overrides[i], buf, sizeof(buf));
		fprintf(out, strpbrk(ov, " \t'\"$`\\") ? " --set '%s'" : " --set %s", ov);
	}
	fprintf(out, "\n");
}

/* Start argv (freed here) on node i through its agent: the system's main
 * process (pname NULL: the agent's "sut", with system.env, output in
 * logs/<node>.log) or a sidecar named pname (logs/<node>-<pname>.log). */
static int spawn_on(struct run *r, size_t i, char **argv, const char *pname, const char *logs,
		    char *err, size_t errlen)
{
	const struct fl_scenario *s = r->s;
	char log[800], abslog[PATH_MAX], e[400];
	json_t *req, *a = json_array(), *reply = NULL;
	FILE *f;

	snprintf(log, sizeof(log), "%s/%s%s%s.log", logs, r->nodes.names[i], pname ? "-" : "",
		 pname ? pname : "");
	if ((f = fopen(log, "a")))
		fclose(f);
	if (!realpath(log, abslog))
		snprintf(abslog, sizeof(abslog), "%s", log);
	for (char **p = argv; *p; p++)
		json_array_append_new(a, json_string(*p));
	fl_strv_free(argv);
	req = json_pack("{s:s, s:o, s:s}", "op", "spawn", "argv", a, "log", abslog);
	if (pname)
		json_object_set_new(req, "id_name", json_string(pname));
	if (!pname && s->system.nenv) {
		json_t *env = json_object();
		for (size_t k = 0; k < s->system.nenv; k++)
			json_object_set_new(env, s->system.env[k].name,
					    json_string(s->system.env[k].value));
		json_object_set_new(req, "env", env);
	}
	if (!r->c->agents[i]) {
		json_decref(req);
		snprintf(err, errlen, "starting %s on %s: its agent is not connected",
			 pname ? pname : fl_system_type_to_string(s->system.type), r->nodes.names[i]);
		return -ENOTCONN;
	}
	if (fl_agentc_call(r->c->agents[i], req, 10000, &reply, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "starting %s%s on %s: %s", pname ? "the " : "",
			 pname ? pname : fl_system_type_to_string(s->system.type), r->nodes.names[i], e);
		return -EIO;
	}
	json_decref(reply);
	return 0;
}

/* Start the system on node i: its main process, then its sidecar. */
static int start_node(struct run *r, size_t i, char *err, size_t errlen)
{
	char **argv = NULL, pname[32];

	if (r->ops->node_argv(r->s, &r->nodes, i, &argv, err, errlen) < 0 ||
	    spawn_on(r, i, argv, NULL, r->logs, err, errlen) < 0)
		return -EIO;
	if (!r->ops->sidecar_argv)
		return 0;
	argv = NULL;
	if (r->ops->sidecar_argv(r->s, &r->nodes, i, &argv, pname, sizeof(pname), err, errlen) < 0 ||
	    spawn_on(r, i, argv, pname, r->logs, err, errlen) < 0)
		return -EIO;
	return 0;
}

/* fl_exec's VM faults (exec.h): the cluster acts on the machine; a node
 * that booted again gets its system started again, as a machine's own
 * boot would start it (with the data its disk kept). */
static int run_machine(void *ctx, size_t i, const struct fl_fault *f, const char *id, int apply,
		       char *err, size_t errlen)
{
	struct run *r = ctx;
	int restarted = 0, rc;

	if (apply && (f->kind == FL_FAULT_SUSPEND || f->kind == FL_FAULT_POWER_OFF))
		r->machine_down |= 1ull << i;
	rc = fl_cluster_vm_fault(r->c, i, apply ? f : NULL, id, &restarted, err, errlen);
	if (!apply && rc == 0)
		r->machine_down &= ~(1ull << i);
	if (apply && rc < 0)
		r->machine_down &= ~(1ull << i);
	if (rc == 0 && restarted)
		rc = start_node(r, i, err, errlen);
	return rc;
}

/* Node i's files, made by its agent wherever the node is (system.h). */
static int node_file(void *ctx, size_t i, const char *path, const char *content, char *err,
		     size_t errlen)
{
	struct run *r = ctx;
	json_t *req = json_pack("{s:s, s:s}", "op", "file", "path", path), *reply = NULL;
	char e[400];

	if (content)
		json_object_set_new(req, "content", json_string(content));
	if (!r->c->agents[i]) {
		json_decref(req);
		snprintf(err, errlen, "node %s: its agent is not connected", r->nodes.names[i]);
		return -ENOTCONN;
	}
	if (fl_agentc_call(r->c->agents[i], req, 10000, &reply, e, sizeof(e)) < 0) {
		snprintf(err, errlen, "node %s: %s", r->names[i], e);
		return -EIO;
	}
	json_decref(reply);
	return 0;
}

/* Where the nodes keep their data and write their logs: a provider whose
 * nodes have disks of their own says where (libvirt: data_dir on the
 * node's disk, and share, a directory both sides see, for the logs, copied
 * into the run directory at the end); else a fresh directory on this host,
 * removed after the run (databases mmap their files, which a shared run
 * directory may not allow), and the logs straight in the run directory. */
static int where_nodes(struct run *r, char *err, size_t errlen)
{
	const char *dd = json_string_value(json_object_get(r->where, "data_dir"));
	const char *share = json_string_value(json_object_get(r->where, "share"));
	const char *nlogs = json_string_value(json_object_get(r->where, "logs_dir"));

	/* nodes that share no directory with this host (libvirt attach): the
	 * logs stay on the nodes, in a directory each node's agent makes */
	if (!(share && *share) && nlogs && *nlogs) {
		snprintf(r->logs, sizeof(r->logs), "%s", nlogs);
		for (size_t i = 0; i < r->c->n; i++)
			if (node_file(r, i, nlogs, NULL, err, errlen) < 0)
				return -EIO;
	}
	if (share && *share) {
		snprintf(r->logs, sizeof(r->logs), "%s/logs", share);
		if (mkdir(r->logs, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create '%.300s': %s", r->logs, strerror(errno));
			return -errno;
		}
	}
	if (dd && *dd) {
		snprintf(r->data_root, sizeof(r->data_root), "%s", dd);
		return 0;
	}
	snprintf(r->data_root, sizeof(r->data_root), "/var/tmp/faultline-data-XXXXXX");
	if (!mkdtemp(r->data_root)) {
		snprintf(err, errlen, "cannot create a data directory: %s", strerror(errno));
		r->data_root[0] = 0;
		return -errno;
	}
	r->data_local = 1;
	/* the cluster's down removes it too: also after a `kill -9` of the run */
	return fl_cluster_own_dir(r->c, r->data_root, err, errlen);
}

/* The files of from copied into to: only regular files, never through a
 * link, names starting with '.' skipped. from is the guests' to fill: a
 * guest must not make the harness copy a host file into the run. */
void fl_run_copy_logs(const char *from_dir, const char *to)
{
	DIR *d;
	struct dirent *e;

	if (!(d = opendir(from_dir)))
		return;
	while ((e = readdir(d))) {
		char from[1200], dest[1200], buf[65536];
		FILE *in, *out;
		size_t k;
		int fd;
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(from, sizeof(from), "%s/%s", from_dir, e->d_name);
		snprintf(dest, sizeof(dest), "%s/%s", to, e->d_name);
		if ((fd = open(from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
			continue;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(in = fdopen(fd, "r"))) {
			close(fd);
			continue;
		}
		if ((out = fopen(dest, "w"))) {
			while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
				fwrite(buf, 1, k, out);
			fclose(out);
		}
		fclose(in);
	}
	closedir(d);
}

/* The nodes' logs into the run directory, when they wrote them in the
 * directory shared with their VMs. Only from there: an attached node's
 * logs_dir is a path on the node, not on this host. */
static void collect_logs(struct run *r)
{
	const char *share = json_string_value(json_object_get(r->where, "share"));
	char to[700];

	snprintf(to, sizeof(to), "%s/logs", r->dir);
	if (share && *share && r->logs[0] && strcmp(r->logs, to) != 0)
		fl_run_copy_logs(r->logs, to);
}

/* Step 1: the run directory (runs/<scenario>-<UTC time>-<seed>) with its
 * logs/, plan.json, run.json and scenario.yaml. */
static int make_run_dir(struct run *r)
{
	const struct fl_scenario *s = r->s;
	char path[700], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	mkdir(r->o->runs_dir, 0755);
	snprintf(r->dir, sizeof(r->dir), "%s/%s-%s-%llu", r->o->runs_dir, s->name, stamp,
		 (unsigned long long)r->o->seed);
	if (mkdir(r->dir, 0755) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "cannot create '%s': %s", r->dir, strerror(errno));
		r->dir[0] = 0;
		return -errno;
	}
	snprintf(r->logs, sizeof(r->logs), "%s/logs", r->dir);
	mkdir(r->logs, 0755);
	snprintf(r->client_logs, sizeof(r->client_logs), "%s", r->logs);
	fl_say(r->say, FL_SAY_INFO, "run directory %s", r->dir);
	if (fl_plan_build(s, r->o->seed, &r->plan) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "out of memory");
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/plan.json", r->dir);
	if ((f = fopen(path, "w"))) {
		fl_plan_write_json(r->plan, f);
		fclose(f);
	}
	write_run_meta(r->dir, s, r->o, NULL);
	return 0;
}

/* Step 2: the cluster, and the system started on every node through its
 * agent (then the sidecars, redis's sentinels, once every server runs),
 * until it is ready. Where the nodes keep their data and logs:
 * where_nodes. */
static int start_system(struct run *r)
{
	const struct fl_scenario *s = r->s;
	char err[512] = "", leader[64] = "";

	if (fl_cluster_up(s, r->o->agent_path, &r->c, err, sizeof(err)) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "%s", err);
		return -EIO;
	}
	fl_cluster_connect(r->c, err, sizeof(err));
	for (size_t i = 0; i < r->c->n; i++)
		r->names[i] = r->c->names[i];
	if ((r->where = r->c->prov->describe ? r->c->prov->describe(r->c->pc) : NULL))
		write_run_meta(r->dir, s, r->o, r->where);
	if (where_nodes(r, err, sizeof(err)) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "%s", err);
		return -EIO;
	}
	r->nodes = (struct fl_sys_nodes){ .n = r->c->n, .names = r->names, .addrs = r->c->addrs,
					  .data_root = r->data_root, .pids = NULL, .s = s,
					  .stop = &interrupted,
					  .make_file = node_file, .file_ctx = r,
					  .client_logs = r->client_logs[0] ? r->client_logs : NULL };
	for (size_t i = 0; i < r->c->n; i++) {
		char **argv = NULL;
		if (r->ops->node_argv(s, &r->nodes, i, &argv, err, sizeof(err)) < 0 ||
		    spawn_on(r, i, argv, NULL, r->logs, err, sizeof(err)) < 0) {
			fl_say(r->say, FL_SAY_ERROR, "%s", err);
			return -EIO;
		}
	}
	for (size_t i = 0; r->ops->sidecar_argv && i < r->c->n; i++) {
		char **argv = NULL, pname[32];
		if (r->ops->sidecar_argv(s, &r->nodes, i, &argv, pname, sizeof(pname), err,
					 sizeof(err)) < 0 ||
		    spawn_on(r, i, argv, pname, r->logs, err, sizeof(err)) < 0) {
			fl_say(r->say, FL_SAY_ERROR, "%s", err);
			return -EIO;
		}
	}
	fl_say(r->say, FL_SAY_INFO, "%s started on %zu nodes; waiting for a leader (up to %llds)",
	       fl_system_type_to_string(s->system.type), r->c->n,
	       (long long)(s->system.ready_timeout_ns / FL_NS_PER_S));
	if (r->ops->wait_ready(&r->nodes, s->system.ready_timeout_ns, leader, sizeof(leader), err,
			       sizeof(err)) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "the system did not become ready: %s (logs in %s/logs)",
		       err, r->dir);
		return -EIO;
	}
	fl_say(r->say, FL_SAY_INFO, "ready, leader %s", leader);
	for (size_t i = 0; i < r->c->n; i++)
		r->ops->client_open(&r->nodes, i, &r->status_clients[i], err, sizeof(err));
	return 0;
}

/* A workload client's news (workload.h's note), with the run's time. */
static void workload_note(void *ctx, const char *msg)
{
	struct run *r = ctx;

	fl_say(r->say, FL_SAY_INFO, "[%6.1fs] %s", (double)(mono() - r->t0) / 1e9, msg);
}

/* After fl_workload_open: how long the clients' programs took to start. */
static void say_clients_ready(struct run *r)
{
	const struct fl_workload_stats *st = &r->ws;
	int64_t max = 0;
	unsigned ready = 0, progs = 0, slow = 0;

	for (unsigned i = 0; i < st->nclients; i++) {
		const struct fl_workload_client *c = &st->clients[i];
		progs += c->life.starts > 0;
		if (c->failed || !c->life.readies)
			continue;
		ready++;
		if (c->life.first_ready_ns > max) {
			max = c->life.first_ready_ns;
			slow = i;
		}
	}
	if (!progs)
		return;
	fl_say(r->say, FL_SAY_INFO, "%u of %u client programs ready in %.1fs (slowest: client %u, "
	       "%.2fs to answer hello)", ready, st->nclients, (double)st->ready_ns / 1e9, slow,
	       (double)max / 1e9);
}

/* clients.json: each workload client's programs (exec) and how it ended,
 * for results.json (verdict.c). */
static void write_clients(struct run *r)
{
	const struct fl_workload_stats *st = &r->ws;
	json_t *a = json_array(), *o;
	char path[700], e[256];

	for (unsigned i = 0; i < st->nclients; i++) {
		const struct fl_workload_client *c = &st->clients[i];
		const struct fl_sys_client_life *l = &c->life;
		json_t *j = json_pack("{s:i, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:f}", "client",
				      (int)i, "node", r->nodes.names[c->node], "invoked",
				      (json_int_t)c->invoked, "ok", (json_int_t)c->ok, "starts",
				      (int)l->starts, "restarts", (int)(l->starts ? l->starts - 1 : 0),
				      "deaths", (int)l->deaths, "kills", (int)l->kills, "backoffs",
				      (int)c->backoffs, "backoff_s", (double)c->backoff_ns / 1e9);
		if (l->readies)
			json_object_set_new(j, "startup_ms",
					    json_pack("{s:f, s:f, s:f, s:f, s:i}", "first",
						      (double)l->first_ready_ns / 1e6, "last",
						      (double)l->last_ready_ns / 1e6, "max",
						      (double)l->max_ready_ns / 1e6, "mean",
						      (double)l->total_ready_ns / 1e6 / l->readies,
						      "count", (int)l->readies));
		if (c->log[0])
			json_object_set_new(j, "stderr", json_sprintf("logs/%s", c->log));
		if (c->failed)
			json_object_set_new(j, "failed", json_string(c->error));
		json_array_append_new(a, j);
	}
	o = json_pack("{s:o, s:f}", "clients", a, "ready_s", (double)st->ready_ns / 1e9);
	snprintf(path, sizeof(path), "%s/clients.json", r->dir);
	if (fl_json_write_atomic(path, o, e, sizeof(e)) < 0)
		fl_say(r->say, FL_SAY_ERROR, "%s", e);
	json_decref(o);
}

/* Step 3: the run's files open, the status samplers, the nemesis and the
 * status line started; the workload driven until the duration ends or
 * Ctrl-C; then the nemesis stops and heals what still holds. */
static int drive(struct run *r)
{
	const struct fl_scenario *s = r->s;
	char path[700], err[512];
	int hr;

	/* the clients first, ready before the clock starts: a slow program's
	 * start-up must eat neither operations nor the plan's time */
	r->w = (struct fl_workload){ .s = s, .ops = r->ops, .nodes = &r->nodes,
				     .seed = r->o->seed, .duration_ns = s->duration_ns,
				     .stop = &interrupted, .live = r->live,
				     .note = workload_note, .note_ctx = r };
	if (s->workload.type != FL_WORKLOAD_NONE) {
		int64_t t = mono();
		r->t0 = t; /* for the notes' times until the clock starts */
		if (fl_workload_open(&r->w, &r->ws, err, sizeof(err)) < 0)
			fl_say(r->say, FL_SAY_ERROR, "workload: no client ready: %s", err);
		else
			say_clients_ready(r);
	}
	r->t0 = mono();
	snprintf(path, sizeof(path), "%s/history.jsonl", r->dir);
	if (fl_history_open(path, r->t0, &r->h) < 0)
		return -EIO;
	snprintf(path, sizeof(path), "%s/faults.jsonl", r->dir);
	if (fl_jsonl_open(path, r->t0, &r->faults) < 0)
		return -EIO;
	snprintf(path, sizeof(path), "%s/status.jsonl", r->dir);
	if (fl_jsonl_open(path, r->t0, &r->status_log) < 0)
		return -EIO;
	r->sampling = 1;
	for (size_t i = 0; i < r->nodes.n; i++) {
		r->samplers[i] = (struct sampler){ .r = r, .node = i };
		r->samplers[i].started = pthread_create(&r->samplers[i].t, NULL, sampler_main,
							&r->samplers[i]) == 0;
	}
	r->x = (struct fl_exec){ .s = s, .agents = r->c->agents, .addrs = r->c->addrs,
				 .iface = r->c->iface, .timeout_ms = 10000,
				 .resolve_leader = resolve_leader, .ctx = r,
				 .machine = r->c->prov->machine ? run_machine : NULL,
				 .on_lost = node_lost, .heal_lost = heal_lost };
	for (size_t i = 0; i < r->nodes.n; i++)
		r->answered_at[i] = r->t0;
	r->nem_started = pthread_create(&r->nem, NULL, nemesis_main, r) == 0;
	r->w.history = r->h;
	r->progressing = 1;
	r->prog_started = pthread_create(&r->prog, NULL, progress_main, r) == 0;
	if (s->workload.type != FL_WORKLOAD_NONE) {
		if (fl_workload_run(&r->w, &r->ws, err, sizeof(err)) < 0)
			fl_say(r->say, FL_SAY_ERROR, "workload: %s", err);
	} else {
		while (!interrupted && mono() < r->t0 + s->duration_ns) {
			struct timespec ts = { 0, 100 * 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	r->workload_done = 1; /* the nemesis stops and heals what still holds */
	if (s->workload.type != FL_WORKLOAD_NONE)
		write_clients(r);
	r->progressing = 0;
	if (r->prog_started)
		pthread_join(r->prog, NULL);
	r->prog_started = 0;
	if (r->nem_started)
		pthread_join(r->nem, NULL);
	r->nem_started = 0;
	if ((hr = fl_history_error(r->h)) < 0) {
		fl_say(r->say, FL_SAY_ERROR, "%s/history.jsonl: %s: the workload stopped, faults healed; "
		       "the whole lines written before are kept (faultline check reads them)", r->dir,
		       strerror(-hr));
		return hr;
	}
	return 0;
}

/* Step 4, healed: the nodes should agree again (digests), then every key
 * is read back from every node. */
static void settle(struct run *r)
{
	const struct fl_scenario *s = r->s;
	int64_t budget = s->checks.converge ? s->checks.converge_within_ns : 30 * FL_NS_PER_S;
	int64_t took = 0;
	struct fl_sys_client *c[FL_MAX_NODES] = { 0 };
	int cr;

	/* one client per node for both phases, all opened first: programs slow
	 * to start (exec) start together, so their start-up is paid once, not
	 * once per node and phase */
	for (size_t i = 0; i < r->nodes.n; i++) {
		char e[256];
		if (r->ops->client_open(&r->nodes, i, &c[i], e, sizeof(e)) < 0)
			c[i] = NULL;
	}
	cr = converge(r, r->dir, c, budget, &took);

	if (cr == 0)
		fl_say(r->say, FL_SAY_INFO, "[%6.1fs] converged: every node's digest equal after %.1fs",
		       (double)(mono() - r->t0) / 1e9, (double)took / 1e9);
	else if (cr == -ETIMEDOUT)
		fl_say(r->say, FL_SAY_INFO, "[%6.1fs] not converged: digests still differ after "
		       "%.1fs (see digests.jsonl)", (double)(mono() - r->t0) / 1e9,
		       (double)budget / 1e9);
	if (s->workload.type != FL_WORKLOAD_NONE) {
		struct fl_workload_stats fs = { 0 };
		char e2[256] = "";
		int fr;

		r->w.final_clients = c;
		fr = fl_workload_final_reads(&r->w, budget > 10 * FL_NS_PER_S ? budget
					     : 10 * FL_NS_PER_S, &fs, e2, sizeof(e2));
		r->w.final_clients = NULL;
		fl_say(r->say, FL_SAY_INFO, "[%6.1fs] final reads: %u key%s from each of %zu nodes%s%s",
		       (double)(mono() - r->t0) / 1e9, s->workload.keys,
		       s->workload.keys == 1 ? "" : "s", r->nodes.n, fr < 0 ? ": " : "",
		       fr < 0 ? e2 : "");
	}
	for (size_t i = 0; i < r->nodes.n; i++)
		if (c[i])
			r->ops->client_close(c[i]);
}

/* Step 5, on every path out: threads stopped, files closed, the cluster
 * down (the agents heal first), the nodes' data removed. */
static void teardown(struct run *r)
{
	r->progressing = 0;
	if (r->prog_started)
		pthread_join(r->prog, NULL);
	r->sampling = 0;
	for (size_t i = 0; r->samplers && i < FL_MAX_NODES; i++)
		if (r->samplers[i].started)
			pthread_join(r->samplers[i].t, NULL);
	free(r->samplers);
	fl_jsonl_close(r->status_log);
	for (size_t i = 0; i < FL_MAX_NODES; i++)
		if (r->status_clients[i])
			r->ops->client_close(r->status_clients[i]);
	fl_workload_close(&r->w); /* opened, never run (the run stopped before) */
	fl_history_close(r->h);
	fl_jsonl_close(r->faults);
	collect_logs(r);
	if (r->c) {
		char e2[512];
		if (fl_cluster_down(r->c, e2, sizeof(e2)) < 0)
			fl_say(r->say, FL_SAY_ERROR, "taking the cluster down: %s", e2);
		fl_cluster_free(r->c);
	}
	if (r->data_local && r->data_root[0])
		fl_remove_tree(r->data_root);
	json_decref(r->where);
	fl_plan_free(r->plan);
}

int fl_run(const struct fl_scenario *s, const struct fl_run_opts *o, char *judge_dir,
	   size_t judge_len)
{
	struct run r = { .s = s, .o = o, .say = &o->say, .mu = PTHREAD_MUTEX_INITIALIZER };
	struct sigaction sa = { .sa_handler = on_signal };
	int rc = 2, judge = 0;

	judge_dir[0] = 0;
	/* a status call may be slow (an exec client runs a program per request) */
	r.status_ms = (int)(s->workload.timeout_ns / 1000000);
	if (r.status_ms < 1000)
		r.status_ms = 1000;
	if (r.status_ms > 10000)
		r.status_ms = 10000;
	if (!(r.ops = fl_system_lookup(s->system.type))) {
		fl_say(r.say, FL_SAY_ERROR, "system type '%s' is not implemented yet",
		       fl_system_type_to_string(s->system.type));
		return 2;
	}
	if (s->workload.type == FL_WORKLOAD_SET && (!r.ops->add || !r.ops->read_set)) {
		fl_say(r.say, FL_SAY_ERROR, "system '%s' has no set operations (workload: set)",
		       r.ops->name);
		return 2;
	}
	if (s->workload.type == FL_WORKLOAD_REGISTER && (!r.ops->get || !r.ops->put || !r.ops->cas)) {
		fl_say(r.say, FL_SAY_ERROR, "system '%s' has no register operations (workload: "
		       "register); use workload type set", r.ops->name);
		return 2;
	}
	if (!(r.samplers = calloc(FL_MAX_NODES, sizeof(*r.samplers)))) {
		fl_say(r.say, FL_SAY_ERROR, "out of memory");
		return 2;
	}
	if (make_run_dir(&r) < 0) {
		free(r.samplers);
		fl_plan_free(r.plan);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a closed terminal also ends a `| tee`: a write to it must not kill
	 * the run before its teardown */
	signal(SIGPIPE, SIG_IGN);
	torn_down = 0;
	if (start_system(&r) < 0 || drive(&r) < 0)
		goto out;
	if (interrupted)
		fl_say(r.say, FL_SAY_INFO, "interrupted: faults healed; no convergence wait or final "
		       "reads");
	else
		settle(&r);
	fl_say(r.say, FL_SAY_INFO, "\nops: %llu invoked, %llu ok, %llu fail, %llu info; faults: "
	       "%llu applied, %llu failed", (unsigned long long)r.ws.invoked,
	       (unsigned long long)r.ws.outcome[FL_OUTCOME_OK],
	       (unsigned long long)r.ws.outcome[FL_OUTCOME_FAIL],
	       (unsigned long long)r.ws.outcome[FL_OUTCOME_INFO], (unsigned long long)r.applied,
	       (unsigned long long)r.failed);
	for (unsigned i = 0; i < r.ws.nclients; i++) {
		const struct fl_workload_client *c = &r.ws.clients[i];
		if (c->life.starts > 1 || c->failed)
			fl_say(r.say, FL_SAY_INFO, "client %u (node %s): %llu ok of %llu; %u restart%s "
			       "(%u died, %u killed), backed off %u time%s%s%s", i,
			       r.nodes.names[c->node], (unsigned long long)c->ok,
			       (unsigned long long)c->invoked, c->life.starts - 1,
			       c->life.starts == 2 ? "" : "s", c->life.deaths, c->life.kills,
			       c->backoffs, c->backoffs == 1 ? "" : "s", c->failed ? "; gave up: " : "",
			       c->failed ? c->error : "");
	}
	for (size_t i = 0; i < r.nodes.n; i++)
		if (r.lost_at[i])
			fl_say(r.say, FL_SAY_INFO, "node %s lost at %.1fs: %s", r.nodes.names[i],
			       (double)(r.lost_at[i] - r.t0) / 1e9, r.lost_why[i]);
	rc = r.failed ? 2 : 0;
	judge = 1;
out:
	teardown(&r);
	fl_workload_stats_release(&r.ws);
	torn_down = 1;
	if (interrupted > 1) {
		fl_say(r.say, FL_SAY_INFO, "interrupted again: nothing judged (history in %s)", r.dir);
		return FL_RUN_INTERRUPTED;
	}
	/* the files are closed: the caller judges what they hold */
	if (judge)
		snprintf(judge_dir, judge_len, "%s", r.dir);
	return rc;
}
