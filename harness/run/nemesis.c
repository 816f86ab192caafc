/* Plan step -> agent requests. A partition becomes, on every node, drops of
 * the addresses it may not send to; a network fault becomes a netem shape on
 * each target toward its peers; a Byzantine fault's payload tampering goes
 * in the same request as its netem parameters (corrupt, duplicate, reorder;
 * "tamper" alone when it sets none), so one fault is one item on the agent
 * and heals as one; process faults become signals. Without peers a network
 * fault, tampering included, acts on all of the target's traffic. Nothing
 * here touches the kernel itself: the agents do, and journal it first. */
#include "faultline/exec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "faultline/netem_json.h"

static json_t *addr_list(const struct fl_exec *x, uint64_t mask, int except)
{
	json_t *a = json_array();

	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		if (!(mask & (1ull << i)) || (int)i == except)
			continue;
		struct in_addr in = { .s_addr = htonl(x->addrs[i]) };
		char buf[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in, buf, sizeof(buf));
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void acting(struct fl_exec *x)
{
	if (!x->acted_ns)
		x->acted_ns = now_ns();
}

/* One agent request of a batch, run in a thread of its own. */
struct job {
	struct fl_exec *x;
	size_t node;
	json_t *req;    /* taken over by the call */
	int r;          /* 0 done, 1 the node is lost (skipped), -errno an error */
	int64_t landed; /* the reply's "landed_ns" */
	char err[256];
	pthread_t th;
	int threaded;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	json_t *reply = NULL;

	j->r = fl_agentc_call(j->x->agents[j->node], j->req, j->x->timeout_ms, &reply, j->err,
			      sizeof(j->err));
	j->req = NULL;
	if (j->r == 0)
		j->landed = json_integer_value(json_object_get(reply, "landed_ns"));
	json_decref(reply);
	return NULL;
}

/* Send reqs[i] (NULL: none; every one taken over) to node i's agent, all
 * at once: each in a thread of its own, so a fault reaches its nodes
 * within one request's time of each other, not n of them one after the
 * other (bench_net's skew). Lost nodes are handled here, in the calling
 * thread, once every answer is in. result[i]: 0 done, 1 lost (skipped),
 * -errno. Returns the first error in node order, with its text in err. */
static int call_all(struct fl_exec *x, json_t **reqs, int *result, char *err, size_t errlen)
{
	size_t n = x->s->cluster.nnodes;
	struct job *jobs = calloc(n, sizeof(*jobs));
	pthread_attr_t attr;
	int first = 0, nthreads = 0, attr_ok;

	if (!jobs) {
		for (size_t i = 0; i < n; i++)
			json_decref(reqs[i]);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	attr_ok = pthread_attr_init(&attr) == 0 &&
		  pthread_attr_setstacksize(&attr, 256 * 1024) == 0;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		j->x = x;
		j->node = i;
		j->r = 2; /* no request */
		if (!reqs[i])
			continue;
		acting(x);
		if (x->on_lost && (x->lost & (1ull << i))) {
			json_decref(reqs[i]);
			x->lost_hit |= 1ull << i;
			j->r = 1;
			continue;
		}
		if (!x->agents[i]) {
			json_decref(reqs[i]);
			snprintf(j->err, sizeof(j->err), "node '%s': no agent", x->s->cluster.nodes[i]);
			j->r = -ENOTCONN;
			continue;
		}
		j->req = reqs[i];
		j->threaded = attr_ok && pthread_create(&j->th, &attr, job_run, j) == 0;
		if (!j->threaded)
			job_run(j); /* no thread to be had: in turn */
		nthreads += j->threaded;
	}
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		if (j->threaded)
			pthread_join(j->th, NULL);
		if (j->r == 0)
			x->landed_ns[i] = j->landed;
		if ((j->r == -EPIPE || j->r == -ETIMEDOUT) && x->on_lost) {
			/* a timeout longer than the agent's dead-man interval: whatever
			 * it held, it has healed by itself if it lives at all */
			x->lost |= 1ull << i;
			x->lost_hit |= 1ull << i;
			x->on_lost(x->ctx, i, j->err);
			j->r = 1;
		}
		if (j->r < 0 && !first) {
			first = j->r;
			snprintf(err, errlen, "%s", j->err);
		}
		result[i] = j->r;
	}
	if (attr_ok)
		pthread_attr_destroy(&attr);
	free(jobs);
	return first;
}

/* call_all, and the nodes it acted on into *touched (also on failure: the
 * caller heals them). */
static int call_all_touch(struct fl_exec *x, json_t **reqs, uint64_t *touched, char *err,
			  size_t errlen)
{
	int result[FL_MAX_NODES];
	int r = call_all(x, reqs, result, err, errlen);

	for (size_t i = 0; i < x->s->cluster.nnodes; i++)
		if (result[i] == 0)
			*touched |= 1ull << i;
	return r;
}

/* leader/followers -> a concrete mask, now */
static int concrete(struct fl_exec *x, const struct fl_targets *t, uint64_t *mask, char *err,
		    size_t errlen)
{
	uint64_t all = x->s->cluster.nnodes >= 64 ? ~0ull : (1ull << x->s->cluster.nnodes) - 1;
	int leader;

	if (t->kind == FL_TARGET_NODES) {
		*mask = t->nodes;
		return 0;
	}
	if (t->kind == FL_TARGET_ALL) {
		*mask = all;
		return 0;
	}
	if (!x->resolve_leader) {
		snprintf(err, errlen, "target '%s' needs the system's current leader, which only "
				      "'faultline run' knows", fl_target_kind_to_string(t->kind));
		return -EOPNOTSUPP;
	}
	if (x->resolve_leader(x->ctx, &leader) < 0) {
		snprintf(err, errlen, "target '%s': no node names a leader right now",
			 fl_target_kind_to_string(t->kind));
		return -EAGAIN;
	}
	*mask = t->kind == FL_TARGET_LEADER ? 1ull << leader : all & ~(1ull << leader);
	return 0;
}

static int apply_partition(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
			   uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	size_t n = x->s->cluster.nnodes;
	uint64_t blocked[FL_MAX_NODES] = { 0 }, all = n >= 64 ? ~0ull : (1ull << n) - 1;
	json_t *reqs[FL_MAX_NODES] = { 0 };
	int r;

	if (st->blocked) {
		memcpy(blocked, st->blocked, n * sizeof(*blocked));
	} else {
		/* isolate leader/followers: the sides exist only now */
		uint64_t t;
		if ((r = concrete(x, &st->targets, &t, err, errlen)) < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			uint64_t bit = 1ull << i;
			if (!(t & bit))
				continue;
			for (size_t j = 0; j < n; j++) {
				if (j == i)
					continue;
				if (f->direction != FL_DIR_TO)
					blocked[i] |= 1ull << j;
				if (f->direction != FL_DIR_FROM)
					blocked[j] |= bit;
			}
		}
	}
	memcpy(x->blocked, blocked, sizeof(x->blocked));
	for (size_t i = 0; i < n; i++)
		reqs[i] = blocked[i] & all ? json_pack("{s:s, s:s, s:s, s:o}", "op", "net_apply",
						       "fault", id, "iface", x->iface, "block",
						       addr_list(x, blocked[i], (int)i))
					   : NULL;
	return call_all_touch(x, reqs, touched, err, errlen);
}

static int apply_network(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
			 uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	uint64_t targets, peers = 0;
	json_t *reqs[FL_MAX_NODES];
	int r, limited = st->peers.kind != FL_TARGET_ALL;

	if ((r = concrete(x, &st->targets, &targets, err, errlen)) < 0)
		return r;
	if (limited && (r = concrete(x, &st->peers, &peers, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		json_t *req;
		reqs[i] = NULL;
		if (!(targets & (1ull << i)))
			continue;
		req = json_pack("{s:s, s:s, s:s}", "op", "net_apply", "fault", id, "iface", x->iface);
		if (f->netem.set || !f->tamper) {
			json_t *netem = json_object();
			fl_netem_to_json(&f->netem, netem);
			json_object_set_new(req, "netem", netem);
		}
		if (f->tamper)
			json_object_set_new(req, "tamper",
					    json_pack("{s:i, s:i}", "offset", (int)f->tamper_offset,
						      "value", (int)f->tamper_value));
		if (limited) {
			json_t *p = addr_list(x, peers, (int)i);
			if (!json_array_size(p)) {
				json_decref(p);
				json_decref(req);
				continue; /* its only peer is itself */
			}
			json_object_set_new(req, "peers", p);
		}
		reqs[i] = req;
	}
	return call_all_touch(x, reqs, touched, err, errlen);
}

/* One request to each target node: process faults become signals (or a
 * restart), a clock fault shifts the clock of the node's own machine (a VM
 * node; netns nodes share the host's and are refused at validation). */
static json_t *node_request(const struct fl_fault *f, const char *id)
{
	if (f->kind == FL_FAULT_RESTART)
		return json_pack("{s:s, s:s}", "op", "restart", "fault", id);
	if (f->kind == FL_FAULT_CLOCK)
		return json_pack("{s:s, s:s, s:I}", "op", "clock", "fault", id, "offset_ns",
				 (json_int_t)f->clock_offset_ns);
	return json_pack("{s:s, s:s, s:i}", "op", "signal", "fault", id, "signal",
			 f->kind == FL_FAULT_PAUSE ? SIGSTOP : f->signal);
}

static int apply_node(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
		      uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	json_t *reqs[FL_MAX_NODES];
	uint64_t targets;
	int r;

	if ((r = concrete(x, &st->targets, &targets, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++)
		reqs[i] = targets & (1ull << i) ? node_request(f, id) : NULL;
	return call_all_touch(x, reqs, touched, err, errlen);
}

/* VM faults: the cluster's owner acts on each target's machine. */
static int apply_machine(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
			 uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	uint64_t targets;
	int r;

	if (!x->machine) {
		snprintf(err, errlen, "fault '%s' needs VM nodes (provider libvirt)",
			 fl_fault_kind_to_string(f->kind));
		return -EOPNOTSUPP;
	}
	if ((r = concrete(x, &st->targets, &targets, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		if (!(targets & (1ull << i)))
			continue;
		acting(x);
		if ((r = x->machine(x->ctx, i, f, id, 1, err, errlen)) < 0)
			return r;
		*touched |= 1ull << i;
	}
	return 0;
}

int fl_exec_apply(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
		  uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	int r;

	*touched = 0;
	x->acted_ns = 0;
	memset(x->landed_ns, 0, sizeof(x->landed_ns));
	x->lost_hit = 0;
	if (f->kind == FL_FAULT_PARTITION)
		r = apply_partition(x, st, id, touched, err, errlen);
	else if (fl_fault_is_network(f->kind))
		r = apply_network(x, st, id, touched, err, errlen);
	else if (f->kind == FL_FAULT_KILL || f->kind == FL_FAULT_PAUSE ||
		 f->kind == FL_FAULT_RESTART || f->kind == FL_FAULT_CLOCK)
		r = apply_node(x, st, id, touched, err, errlen);
	else
		r = apply_machine(x, st, id, touched, err, errlen);
	if (r < 0 && *touched) {
		char e2[256];
		fl_exec_heal(x, *touched, id, e2, sizeof(e2));
		*touched = 0;
	}
	return r;
}

int fl_exec_heal(struct fl_exec *x, uint64_t touched, const char *id, char *err, size_t errlen)
{
	json_t *reqs[FL_MAX_NODES] = { 0 };
	int result[FL_MAX_NODES], first = 0;
	uint64_t asked = 0;
	char e[256] = "";

	x->lost_hit = 0;
	memset(x->landed_ns, 0, sizeof(x->landed_ns));
	/* the machines first, one by one: a suspended or powered-off node's
	 * agent cannot answer; then every agent at once */
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		int r;
		if (!(touched & (1ull << i)))
			continue;
		r = x->machine ? x->machine(x->ctx, i, NULL, id, 0, e, sizeof(e)) : 0;
		if (r < 0) {
			if (!first) {
				first = r;
				snprintf(err, errlen, "%s", e);
			}
			continue;
		}
		reqs[i] = json_pack("{s:s, s:s}", "op", "heal", "fault", id);
		asked |= 1ull << i;
	}
	{
		int r = call_all(x, reqs, result, e, sizeof(e));
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "%s", e);
		}
	}
	/* a lost node's faults: its journal, replayed without its agent */
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		int r;
		if (!(asked & (1ull << i)) || result[i] != 1)
			continue;
		snprintf(e, sizeof(e), "no way to heal a lost node");
		r = x->heal_lost ? x->heal_lost(x->ctx, i, e, sizeof(e)) : -ENOTCONN;
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "%s", e);
		}
	}
	return first;
}
