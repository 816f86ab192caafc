/* Network faults in the agent: partitions (drop to some addresses), netem
 * shapes and payload tampering (toward some peers, or all traffic), each
 * tagged with the fault that made it. The desired state of an interface is
 * the sum of its live items; every change recomputes it and fl_tc_apply()
 * makes the kernel hold it. Netem parameters of faults that meet on one
 * destination are merged, since the kernel steers each destination into
 * one band. A tamper item becomes one tamper rule per peer, or one rule for
 * every destination (IPv4 and IPv6) when it names no peers, as a shape
 * without peers takes all traffic; an item may carry a netem and a tamper
 * rule together (a Byzantine fault), and they combine on the link (tc.h,
 * "Tampering"). Two live rules setting one byte toward one destination to
 * different values are refused by fl_tc_state_check.
 * Undo "net_remove" drops one fault's items; when the items are unknown (a
 * new agent healing a dead one's journal) it clears the interface. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultline/agent.h"
#include "faultline/netem_json.h"
#include "faultline/tc.h"

#define MAX_ITEMS 64

struct item {
	char fault[40];
	char iface[IF_NAMESIZE];
	int block;                 /* partition drop, else a shape and/or tampering */
	int has_netem;             /* a shape */
	struct fl_netem netem;
	int tamper;                /* a tamper rule */
	uint32_t tamper_offset;
	uint8_t tamper_value;
	struct fl_tc_addr *addrs;  /* blocked, or the peers */
	size_t naddrs;             /* 0 for a shape or tampering: all traffic */
};

struct net {
	struct item items[MAX_ITEMS];
	size_t n;
	struct nl_sock *sk;
};

static struct net *net_of(struct fl_agent *a)
{
	if (!a->net)
		a->net = calloc(1, sizeof(struct net));
	return a->net;
}

static int sock(struct net *s, char *err, size_t errlen)
{
	struct fl_tc_err te;

	if (s->sk)
		return 0;
	if (fl_tc_socket_new(&s->sk, &te) < 0) {
		snprintf(err, errlen, "%s", te.msg);
		return -EIO;
	}
	return 0;
}

static int same_addr_in(const struct fl_tc_addr *v, size_t n, const struct fl_tc_addr *x)
{
	for (size_t i = 0; i < n; i++)
		if (fl_tc_addr_equal(&v[i], x))
			return 1;
	return 0;
}

/* Build the interface's whole state from its items and apply it. */
static int reapply(struct fl_agent *a, const char *iface, char *err, size_t errlen)
{
	struct net *s = net_of(a);
	struct fl_tc_addr *blocked = NULL, *dests = NULL;
	struct fl_tc_shape *shapes = NULL;
	struct fl_tc_addr **peers = NULL;
	struct fl_tc_tamper *tampers = NULL;
	size_t nblocked = 0, ndests = 0, nshapes = 0, ntampers = 0;
	struct fl_netem all = { 0 };
	struct fl_tc_state st = { 0 };
	struct fl_tc_err te;
	int ifindex = (int)if_nametoindex(iface), r = 0, any_all = 0;

	if (!ifindex) {
		snprintf(err, errlen, "no interface '%s' in node '%s'", iface, a->node);
		return -ENODEV;
	}
	if ((r = sock(s, err, errlen)) < 0)
		return r;
	blocked = calloc(FL_TC_MAX_ADDRS, sizeof(*blocked));
	dests = calloc(FL_TC_MAX_ADDRS, sizeof(*dests));
	shapes = calloc(FL_TC_MAX_SHAPES, sizeof(*shapes));
	peers = calloc(FL_TC_MAX_SHAPES, sizeof(*peers));
	tampers = calloc(FL_TC_MAX_TAMPERS, sizeof(*tampers));
	if (!blocked || !dests || !shapes || !peers || !tampers) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct item *it = &s->items[i];
		if (strcmp(it->iface, iface))
			continue;
		for (size_t k = 0; (it->block || it->has_netem) && k < it->naddrs; k++) {
			struct fl_tc_addr *list = it->block ? blocked : dests;
			size_t *n = it->block ? &nblocked : &ndests;
			if (!same_addr_in(list, *n, &it->addrs[k]) && *n < FL_TC_MAX_ADDRS)
				list[(*n)++] = it->addrs[k];
		}
		if (it->has_netem && !it->naddrs) {
			fl_netem_merge(&all, &it->netem);
			any_all = 1;
		}
		/* one rule per peer, or one for every destination */
		for (size_t k = 0; it->tamper && k < (it->naddrs ? it->naddrs : 1); k++) {
			struct fl_tc_tamper t = { .offset = it->tamper_offset,
						  .value = it->tamper_value };
			size_t j;
			if (it->naddrs)
				t.dst = it->addrs[k];
			for (j = 0; j < ntampers; j++)
				if (fl_tc_tamper_dst_equal(&tampers[j].dst, &t.dst) &&
				    tampers[j].offset == t.offset && tampers[j].value == t.value)
					break;
			if (j < ntampers)
				continue;
			if (ntampers == FL_TC_MAX_TAMPERS) {
				snprintf(err, errlen, "more than %d payload tamper rules on '%s'",
					 FL_TC_MAX_TAMPERS, iface);
				r = -E2BIG;
				goto out;
			}
			tampers[ntampers++] = t;
		}
	}
	/* per destination: the shapes naming it, plus the all-traffic ones */
	for (size_t d = 0; d < ndests; d++) {
		struct fl_netem m = all;
		size_t sh;
		for (size_t i = 0; i < s->n; i++) {
			const struct item *it = &s->items[i];
			if (!strcmp(it->iface, iface) && it->has_netem && it->naddrs &&
			    same_addr_in(it->addrs, it->naddrs, &dests[d]))
				fl_netem_merge(&m, &it->netem);
		}
		for (sh = 0; sh < nshapes; sh++)
			if (!memcmp(&shapes[sh].netem, &m, sizeof(m)))
				break;
		if (sh == nshapes) {
			if (nshapes == FL_TC_MAX_SHAPES - (any_all ? 1 : 0)) {
				snprintf(err, errlen, "more than %d different network faults on '%s'",
					 FL_TC_MAX_SHAPES, iface);
				r = -E2BIG;
				goto out;
			}
			if (!(peers[sh] = calloc(FL_TC_MAX_ADDRS, sizeof(**peers)))) {
				r = -ENOMEM;
				goto out;
			}
			shapes[sh].netem = m;
			shapes[sh].peers = peers[sh];
			nshapes++;
		}
		peers[sh][shapes[sh].npeers++] = dests[d];
	}
	if (any_all) {
		shapes[nshapes].netem = all;
		nshapes++;
	}
	st.blocked = blocked;
	st.nblocked = nblocked;
	st.shapes = shapes;
	st.nshapes = nshapes;
	st.tampers = tampers;
	st.ntampers = ntampers;
	if (nblocked || nshapes || ntampers)
		r = fl_tc_apply(s->sk, ifindex, &st, &te);
	else
		r = fl_tc_clear(s->sk, ifindex, &te);
	if (r < 0)
		snprintf(err, errlen, "%s", te.msg);
out:
	for (size_t i = 0; peers && i < FL_TC_MAX_SHAPES; i++)
		free(peers[i]);
	free(peers);
	free(tampers);
	free(shapes);
	free(dests);
	free(blocked);
	return r;
}

static int parse_addrs(json_t *arr, struct fl_tc_addr **out, size_t *n, char *err, size_t errlen)
{
	size_t k = json_array_size(arr);

	*out = NULL;
	*n = 0;
	if (arr && !json_is_array(arr)) {
		snprintf(err, errlen, "addresses must be a list of strings");
		return -EINVAL;
	}
	if (k > FL_TC_MAX_ADDRS) {
		snprintf(err, errlen, "at most %d addresses", FL_TC_MAX_ADDRS);
		return -E2BIG;
	}
	if (!k)
		return 0;
	if (!(*out = calloc(k, sizeof(**out))))
		return -ENOMEM;
	for (size_t i = 0; i < k; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if (!s || fl_tc_addr_parse(s, &(*out)[i]) < 0) {
			snprintf(err, errlen, "bad address '%s'", s ? s : "?");
			free(*out);
			*out = NULL;
			return -EINVAL;
		}
	}
	*n = k;
	return 0;
}

static void item_drop(struct net *s, size_t i)
{
	free(s->items[i].addrs);
	memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof(s->items[0]));
	s->n--;
}

/* "tamper": {"offset": 0..FL_TC_MAX_TAMPER_OFFSET, "value": 0..255} */
static int parse_tamper(json_t *t, struct item *it, char *err, size_t errlen)
{
	json_t *off = json_object_get(t, "offset"), *val = json_object_get(t, "value");

	if (!json_is_object(t) || !json_is_integer(off) || !json_is_integer(val)) {
		snprintf(err, errlen, "'tamper' needs integers 'offset' (bytes into the IP payload) "
				      "and 'value' (a byte)");
		return -EINVAL;
	}
	if (json_integer_value(off) < 0 || json_integer_value(off) > FL_TC_MAX_TAMPER_OFFSET) {
		snprintf(err, errlen, "'tamper' offset %lld: it lies in 0..%u",
			 (long long)json_integer_value(off), FL_TC_MAX_TAMPER_OFFSET);
		return -ERANGE;
	}
	if (json_integer_value(val) < 0 || json_integer_value(val) > 255) {
		snprintf(err, errlen, "'tamper' value %lld: a byte is 0..255",
			 (long long)json_integer_value(val));
		return -ERANGE;
	}
	it->tamper = 1;
	it->tamper_offset = (uint32_t)json_integer_value(off);
	it->tamper_value = (uint8_t)json_integer_value(val);
	return 0;
}

/* {"op":"net_apply","fault":"f1","iface":"eth0","block":["10.0.0.3"]}
 * {"op":"net_apply","fault":"f2","iface":"eth0","netem":{...},"peers":["10.0.0.4"]}
 * {"op":"net_apply","fault":"f3","iface":"eth0","netem":{...},
 *  "tamper":{"offset":28,"value":255},"peers":["10.0.0.4"]}
 * "netem" and "tamper" each may come alone; without "peers" they act on
 * all traffic. */
static int op_net_apply(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	struct net *s = net_of(a);
	const char *iface = json_string_value(json_object_get(req, "iface"));
	const char *fault = json_string_value(json_object_get(req, "fault"));
	json_t *block = json_object_get(req, "block"), *netem = json_object_get(req, "netem"), *undo;
	json_t *tamper = json_object_get(req, "tamper");
	struct item it = { 0 };
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = fl_agent_iface_allowed(a, iface, err, errlen)) < 0)
		return r;
	if (!fault || strlen(fault) >= sizeof(it.fault)) {
		snprintf(err, errlen, "'net_apply' needs a 'fault' id (at most %zu characters)",
			 sizeof(it.fault) - 1);
		return -EINVAL;
	}
	if (!block == !(netem || tamper)) {
		snprintf(err, errlen, "'net_apply' takes either 'block', or 'netem' and/or 'tamper'");
		return -EINVAL;
	}
	if (s->n == MAX_ITEMS) {
		snprintf(err, errlen, "at most %d network faults per node", MAX_ITEMS);
		return -E2BIG;
	}
	snprintf(it.fault, sizeof(it.fault), "%s", fault);
	snprintf(it.iface, sizeof(it.iface), "%s", iface);
	it.block = block != NULL;
	it.has_netem = netem != NULL;
	if (netem && (r = fl_netem_from_json(netem, &it.netem, err, errlen)) < 0)
		return r;
	if (tamper && (r = parse_tamper(tamper, &it, err, errlen)) < 0)
		return r;
	if ((r = parse_addrs(block ? block : json_object_get(req, "peers"), &it.addrs, &it.naddrs, err,
			     errlen)) < 0)
		return r;
	if (it.block && !it.naddrs) {
		free(it.addrs);
		snprintf(err, errlen, "'block' is empty");
		return -EINVAL;
	}
	undo = fl_agent_undo_entry(req, "net_remove");
	json_object_set_new(undo, "iface", json_string(iface));
	r = fl_journal_append(a->journal, undo);
	json_decref(undo);
	if (r < 0) {
		free(it.addrs);
		snprintf(err, errlen, "cannot write the journal: %s", strerror(-r));
		return r;
	}
	s->items[s->n++] = it;
	if ((r = reapply(a, iface, err, errlen)) < 0) {
		/* leave the kernel as it was: without this item */
		char e2[64];
		item_drop(s, s->n - 1);
		reapply(a, iface, e2, sizeof(e2));
		return r;
	}
	{
		/* when the kernel acked the last change: CLOCK_MONOTONIC, one
		 * clock for every namespace of a kernel, so the harness can
		 * tell how far apart a fault landed on its nodes */
		int64_t landed = fl_monotonic_ns();
		struct fl_tc_err te;
		json_t *held = NULL;
		if (fl_tc_read(s->sk, (int)if_nametoindex(iface), &held, &te) == 0)
			*reply = json_pack("{s:o, s:I}", "kernel", held, "landed_ns",
					   (json_int_t)landed);
		else
			*reply = json_pack("{s:I}", "landed_ns", (json_int_t)landed);
	}
	return 0;
}

static int undo_net_remove(struct fl_agent *a, json_t *e, char *err, size_t errlen)
{
	struct net *s = net_of(a);
	const char *iface = json_string_value(json_object_get(e, "iface"));
	const char *fault = json_string_value(json_object_get(e, "fault"));
	struct fl_tc_err te;
	int found = 0, ifindex;

	if (!iface)
		return 0;
	for (size_t i = s->n; i-- > 0;) {
		if (!strcmp(s->items[i].iface, iface) && (!fault || !strcmp(s->items[i].fault, fault))) {
			item_drop(s, i);
			found = 1;
		}
	}
	if (found)
		return reapply(a, iface, err, errlen);
	/* not ours in memory: a journal from an agent that died took its
	 * state along; what it applied is everything of ours on the link */
	ifindex = (int)if_nametoindex(iface);
	if (!ifindex)
		return 0; /* the link is gone, and the fault with it */
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->items[i].iface, iface))
			return reapply(a, iface, err, errlen);
	if (sock(s, err, errlen) < 0)
		return -EIO;
	if (fl_tc_clear(s->sk, ifindex, &te) < 0) {
		snprintf(err, errlen, "%s", te.msg);
		return -EIO;
	}
	return 0;
}

static int op_net_read(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	struct net *s = net_of(a);
	const char *iface = json_string_value(json_object_get(req, "iface"));
	struct fl_tc_err te;
	json_t *held = NULL;
	int r;

	if ((r = fl_agent_iface_allowed(a, iface, err, errlen)) < 0)
		return r;
	if ((r = sock(s, err, errlen)) < 0)
		return r;
	if ((r = fl_tc_read(s->sk, (int)if_nametoindex(iface), &held, &te)) < 0) {
		snprintf(err, errlen, "%s", te.msg);
		return r;
	}
	*reply = json_pack("{s:o}", "kernel", held);
	return 0;
}

static void net_shutdown(struct fl_agent *a)
{
	struct net *s = a->net;

	if (!s)
		return;
	while (s->n)
		item_drop(s, s->n - 1);
	if (s->sk)
		fl_tc_socket_free(s->sk);
	free(s);
	a->net = NULL;
}

static const struct fl_agent_op ops[] = {
	{ "net_apply", op_net_apply },
	{ "net_read", op_net_read },
};

static const struct fl_undo_kind undos[] = {
	{ "net_remove", undo_net_remove },
};

const struct fl_injector_ops fl_net_ops = {
	.name = "net",
	.ops = ops,
	.nops = sizeof(ops) / sizeof(ops[0]),
	.undos = undos,
	.nundos = sizeof(undos) / sizeof(undos[0]),
	.shutdown = net_shutdown,
};
