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

/* 0 done, 1 the node is lost (skipped), -errno an error. */
static int call(struct fl_exec *x, size_t node, json_t *req, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int r;

	acting(x);
	if (x->on_lost && (x->lost & (1ull << node))) {
		json_decref(req);
		x->lost_hit |= 1ull << node;
		return 1;
	}
	if (!x->agents[node]) {
		json_decref(req);
		snprintf(err, errlen, "node '%s': no agent", x->s->cluster.nodes[node]);
		return -ENOTCONN;
	}
	r = fl_agentc_call(x->agents[node], req, x->timeout_ms, &reply, err, errlen);
	json_decref(reply);
	if ((r == -EPIPE || r == -ETIMEDOUT) && x->on_lost) {
		/* a timeout longer than the agent's dead-man interval: whatever it
		 * held, it has healed by itself if it lives at all */
		x->lost |= 1ull << node;
		x->lost_hit |= 1ull << node;
		x->on_lost(x->ctx, node, err);
		return 1;
	}
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
	for (size_t i = 0; i < n; i++) {
		if (!(blocked[i] & all))
			continue;
		r = call(x, i, json_pack("{s:s, s:s, s:s, s:o}", "op", "net_apply", "fault", id, "iface",
					 x->iface, "block", addr_list(x, blocked[i], (int)i)),
			 err, errlen);
		if (r < 0)
			return r;
		if (r == 0)
			*touched |= 1ull << i;
	}
	return 0;
}

static int apply_network(struct fl_exec *x, const struct fl_plan_step *st, const char *id,
			 uint64_t *touched, char *err, size_t errlen)
{
	const struct fl_fault *f = &x->s->faults[st->fault];
	uint64_t targets, peers = 0;
	int r, limited = st->peers.kind != FL_TARGET_ALL;

	if ((r = concrete(x, &st->targets, &targets, err, errlen)) < 0)
		return r;
	if (limited && (r = concrete(x, &st->peers, &peers, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		json_t *req;
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
		if ((r = call(x, i, req, err, errlen)) < 0)
			return r;
		if (r == 0)
			*touched |= 1ull << i;
	}
	return 0;
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
	uint64_t targets;
	int r;

	if ((r = concrete(x, &st->targets, &targets, err, errlen)) < 0)
		return r;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		if (!(targets & (1ull << i)))
			continue;
		if ((r = call(x, i, node_request(f, id), err, errlen)) < 0)
			return r;
		if (r == 0)
			*touched |= 1ull << i;
	}
	return 0;
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
	int first = 0;

	x->lost_hit = 0;
	for (size_t i = 0; i < x->s->cluster.nnodes; i++) {
		char e[256] = "no way to heal a lost node";
		int r;
		if (!(touched & (1ull << i)))
			continue;
		/* the machine first: a suspended or powered-off node's agent
		 * cannot answer */
		r = x->machine ? x->machine(x->ctx, i, NULL, id, 0, e, sizeof(e)) : 0;
		if (r == 0)
			r = call(x, i, json_pack("{s:s, s:s}", "op", "heal", "fault", id), e,
				 sizeof(e));
		/* a lost node's faults: its journal, replayed without its agent */
		if (r == 1)
			r = x->heal_lost ? x->heal_lost(x->ctx, i, e, sizeof(e)) : -ENOTCONN;
		if (r > 0)
			r = 0;
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "%s", e);
		}
	}
	return first;
}
