/* The traffic-control injector's kernel side: make one interface's egress
 * hold a desired state (tc.h explains the layout), clear it, read it back.
 * Tamper filters (pedit + csum, which libnl does not parse) are recognised
 * from a raw filter dump; the rest through libnl's objects.
 * Everything goes through libnl on a socket the caller owns; libnl's error
 * codes are translated here and never leave. Must never run tc/ip, log, or
 * delete the root qdisc while a partition is to hold. */
#include "faultline/nlerr.h"
#include "faultline/tc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_csum.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/act/gact.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/prio.h>
#include <netlink/route/tc.h>

#define ROOT_HANDLE TC_HANDLE(FL_TC_ROOT_MAJOR, 0)
#define ACK_TIMEOUT_S 5
#define DUMP_RETRIES 5


/* "<what>: <reason> (kernel: '<text>')[; hint]", lowercase as the house style. */
int fl_tc_fail_code(struct fl_tc_err *err, int code, const char *what, const char *kernel,
		    const char *module)
{
	char reason[128];

	if (!err)
		return code;
	snprintf(reason, sizeof(reason), "%s", strerror(-code));
	reason[0] = (char)tolower((unsigned char)reason[0]);
	snprintf(err->kernel, sizeof(err->kernel), "%s", kernel ? kernel : "");
	snprintf(err->msg, sizeof(err->msg), "%s: %s%s%s%s%s%s%s", what, reason,
		 err->kernel[0] ? " (kernel: '" : "", err->kernel, err->kernel[0] ? "')" : "",
		 module && (code == -ENOENT || code == -EOPNOTSUPP) ? "; is module '" : "",
		 module && (code == -ENOENT || code == -EOPNOTSUPP) ? module : "",
		 module && (code == -ENOENT || code == -EOPNOTSUPP) ? "' missing from this kernel?"
								    : "");
	return code;
}

int fl_tc_socket_new(struct nl_sock **out, struct fl_tc_err *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct timeval tv = { .tv_sec = ACK_TIMEOUT_S };
	int one = 1, e;

	if (!sk)
		return fl_tc_fail_code(err, -ENOMEM, "open netlink socket", NULL, NULL);
	e = nl_connect(sk, NETLINK_ROUTE); /* libnl opens it SOCK_CLOEXEC */
	if (e < 0) {
		nl_socket_free(sk);
		return fl_tc_fail_code(err, fl_nl_errno(e), "open netlink socket", NULL, NULL);
	}
	if (setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) < 0 ||
	    setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		e = -errno;
		nl_socket_free(sk);
		return fl_tc_fail_code(err, e, "set netlink socket options", NULL, NULL);
	}
	*out = sk;
	return 0;
}

void fl_tc_socket_free(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

/* --- one request, one answer ---------------------------------------------- */


static int on_ack(struct nl_msg *msg, void *arg)
{
	struct fl_nl_answer *a = arg;

	(void)msg;
	a->done = 1;
	return NL_STOP;
}

/* libnl 3.7 has no extended-ack API: the kernel's text is picked out here. */
static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct fl_nl_answer *a = arg;

	(void)nla;
	a->done = 1;
	a->kerr = e->error;
	fl_nl_ext_ack(e, a->ext, sizeof(a->ext));
	return NL_STOP;
}

/* A callback set for one exchange: the socket's own, plus ours (the
 * caller's socket keeps its callbacks untouched). */
struct nl_cb *fl_tc_exchange_cb(struct nl_sock *sk, struct fl_nl_answer *a)
{
	struct nl_cb *base = nl_socket_get_cb(sk);
	struct nl_cb *cb = base ? nl_cb_clone(base) : NULL;

	if (base)
		nl_cb_put(base);
	if (!cb)
		return NULL;
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, a);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, a);
	return cb;
}

static void ext_ack_on(struct nl_sock *sk)
{
	int one = 1;

	/* harmless when already on; sockets not made by fl_tc_socket_new too */
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
}

/* Send msg and wait for its ACK; on failure fill err with what + why. */
int fl_tc_talk(struct nl_sock *sk, struct nl_msg *msg, const char *what, const char *module,
	       struct fl_tc_err *err)
{
	struct fl_nl_answer a = { 0 };
	_cleanup_(cb_putp) struct nl_cb *cb = fl_tc_exchange_cb(sk, &a);
	int r;

	if (!cb)
		return fl_tc_fail_code(err, -ENOMEM, what, NULL, NULL);
	nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
	r = nl_send_auto(sk, msg);
	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	for (int i = 0; !a.done; i++) {
		r = nl_recvmsgs(sk, cb);
		if (a.kerr)
			return fl_tc_fail_code(err, a.kerr, what, a.ext, module);
		if (r < 0)
			return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
		if (i > 64)
			return fl_tc_fail_code(err, -EPROTO, what, "no acknowledgement", NULL);
	}
	return 0;
}

/* --- what the kernel holds -------------------------------------------------- */

struct kq {
	uint32_t handle, parent;
	char kind[32];
	int has_prio, bands;
	uint8_t priomap[TC_PRIO_MAX + 1];
	int has_netem;
	struct fl_tc_netem_kernel netem;
};

/* Room for one more element of size sz in *v (n used of *cap). 0, or
 * -ENOMEM (the array is untouched). */
static int grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void **pv = v, *nv;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 8;
	if (!(nv = realloc(*pv, c * sz)))
		return -ENOMEM;
	*pv = nv;
	*cap = c;
	return 0;
}

/* A raw dump of type (RTM_GETQDISC, RTM_GETTFILTER) for t, each message
 * to on(arg), which appends to a list of *n entries and sets *oom when it
 * cannot; retried (the list emptied) while the kernel says the dump was
 * interrupted. */
static int dump(struct nl_sock *sk, int type, const struct tcmsg *t, nl_recvmsg_msg_cb_t on,
		void *arg, size_t *n, int *oom, const char *what, struct fl_tc_err *err)
{
	int r = 0;

	for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
		_cleanup_(msg_freep) struct nl_msg *msg = nlmsg_alloc_simple(type, NLM_F_DUMP);
		struct fl_nl_answer a = { 0 };
		_cleanup_(cb_putp) struct nl_cb *cb = fl_tc_exchange_cb(sk, &a);

		*n = 0;
		*oom = 0;
		if (!msg || !cb || nlmsg_append(msg, (void *)t, sizeof(*t), NLMSG_ALIGNTO) < 0)
			return fl_tc_fail_code(err, -ENOMEM, what, NULL, NULL);
		nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on, arg);
		r = nl_send_auto(sk, msg);
		if (r >= 0)
			r = nl_recvmsgs(sk, cb);
		if (*oom)
			return fl_tc_fail_code(err, -ENOMEM, what, NULL, NULL);
		if (a.kerr)
			return fl_tc_fail_code(err, a.kerr, what, a.ext, NULL);
		if (r == -NLE_DUMP_INTR)
			continue;
		if (r < 0)
			return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
		return 0;
	}
	return fl_tc_fail_code(err, fl_nl_errno(r), what, "the dump kept being interrupted", NULL);
}

struct kq_list {
	struct kq *v;
	size_t n, cap;
	int ifindex;
	int oom;
};

static int on_qdisc(struct nl_msg *msg, void *arg)
{
	struct kq_list *l = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[TCA_MAX + 1];
	struct tcmsg *t;
	struct kq q;

	if (nlh->nlmsg_type != RTM_NEWQDISC || nlmsg_datalen(nlh) < (int)sizeof(*t))
		return NL_OK;
	t = nlmsg_data(nlh);
	if (t->tcm_ifindex != l->ifindex)
		return NL_OK;
	if (nlmsg_parse(nlh, sizeof(*t), tb, TCA_MAX, NULL) < 0 || !tb[TCA_KIND])
		return NL_OK;
	memset(&q, 0, sizeof(q));
	q.handle = t->tcm_handle;
	q.parent = t->tcm_parent;
	nla_strlcpy(q.kind, tb[TCA_KIND], sizeof(q.kind));
	if (tb[TCA_OPTIONS] && strcmp(q.kind, "prio") == 0 &&
	    nla_len(tb[TCA_OPTIONS]) >= (int)sizeof(struct tc_prio_qopt)) {
		struct tc_prio_qopt p;

		memcpy(&p, nla_data(tb[TCA_OPTIONS]), sizeof(p));
		q.has_prio = 1;
		q.bands = p.bands;
		memcpy(q.priomap, p.priomap, sizeof(q.priomap));
	} else if (tb[TCA_OPTIONS] && strcmp(q.kind, "netem") == 0) {
		q.has_netem = fl_tc_netem_parse(nla_data(tb[TCA_OPTIONS]),
						(size_t)nla_len(tb[TCA_OPTIONS]), &q.netem) == 0;
	}
	if (grow(&l->v, l->n, &l->cap, sizeof(*l->v)) < 0) {
		l->oom = 1;
		return NL_STOP;
	}
	l->v[l->n++] = q;
	return NL_OK;
}

/* Qdiscs of ifindex, parsed from the raw dump (libnl's netem object reads
 * neither the rate nor 64-bit delays). */
static int dump_qdiscs(struct nl_sock *sk, int ifindex, struct kq_list *l, struct fl_tc_err *err)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex };
	char what[64];

	snprintf(what, sizeof(what), "list qdiscs of ifindex %d", ifindex);
	l->ifindex = ifindex;
	return dump(sk, RTM_GETQDISC, &t, on_qdisc, l, &l->n, &l->oom, what, err);
}

static int cls_cache(struct nl_sock *sk, int ifindex, uint32_t parent, struct nl_cache **out,
		     struct fl_tc_err *err)
{
	char what[64];
	int r = 0;

	snprintf(what, sizeof(what), "list filters of ifindex %d", ifindex);
	for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
		r = rtnl_cls_alloc_cache(sk, ifindex, parent, out);
		if (r != -NLE_DUMP_INTR)
			break;
	}
	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	return 0;
}

/* Our tamper filters as the kernel holds them, from a raw dump. */
struct kt {
	uint16_t prio, proto;
	uint32_t handle;
	struct fl_tc_tamper rule;
	int family, l4;
	uint32_t csum_flags;
	int keep;
};

struct kt_list {
	struct kt *v;
	size_t n, cap;
	int ifindex;
	int oom;
};

static int on_tamper_filter(struct nl_msg *msg, void *arg)
{
	struct kt_list *l = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[TCA_MAX + 1];
	struct tcmsg *t;
	struct kt k;
	char kind[16];

	if (nlh->nlmsg_type != RTM_NEWTFILTER || nlmsg_datalen(nlh) < (int)sizeof(*t))
		return NL_OK;
	t = nlmsg_data(nlh);
	memset(&k, 0, sizeof(k));
	k.prio = (uint16_t)(TC_H_MAJ(t->tcm_info) >> 16);
	k.proto = ntohs((uint16_t)TC_H_MIN(t->tcm_info));
	k.handle = t->tcm_handle;
	if (t->tcm_ifindex != l->ifindex || TC_H_MAJ(t->tcm_parent) != ROOT_HANDLE ||
	    (k.prio != FL_TC_PRIO_TAMPER4 && k.prio != FL_TC_PRIO_TAMPER6) ||
	    nlmsg_parse(nlh, sizeof(*t), tb, TCA_MAX, NULL) < 0 || !tb[TCA_KIND] ||
	    !tb[TCA_OPTIONS])
		return NL_OK;
	nla_strlcpy(kind, tb[TCA_KIND], sizeof(kind));
	if (strcmp(kind, "u32") != 0 ||
	    fl_tc_tamper_parse(nla_data(tb[TCA_OPTIONS]), (size_t)nla_len(tb[TCA_OPTIONS]), k.proto,
			       &k.rule, &k.l4, &k.csum_flags) < 0)
		return NL_OK;
	k.family = k.proto == ETH_P_IP ? AF_INET : AF_INET6;
	if (grow(&l->v, l->n, &l->cap, sizeof(*l->v)) < 0) {
		l->oom = 1;
		return NL_STOP;
	}
	l->v[l->n++] = k;
	return NL_OK;
}

/* Our tamper filters on ifindex's root 1: (libnl 3.7 keeps the options of
 * actions it does not know to itself). */
static int dump_tampers(struct nl_sock *sk, int ifindex, struct kt_list *l, struct fl_tc_err *err)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			   .tcm_parent = ROOT_HANDLE };
	char what[64];

	snprintf(what, sizeof(what), "list filters of ifindex %d", ifindex);
	l->ifindex = ifindex;
	return dump(sk, RTM_GETTFILTER, &t, on_tamper_filter, l, &l->n, &l->oom, what, err);
}

enum kf_kind { KF_FOREIGN, KF_DROP, KF_STEER };

struct kf {
	uint16_t prio, proto;
	uint32_t handle, classid;
	enum kf_kind kind;
	struct fl_tc_addr dst;
	int keep;
};

static int cls_is_drop(struct rtnl_cls *c)
{
	struct rtnl_act *a = rtnl_u32_get_action(c); /* borrowed */
	const char *kind = a ? rtnl_tc_get_kind(TC_CAST(a)) : NULL;

	return kind && strcmp(kind, "gact") == 0 && rtnl_gact_get_action(a) == TC_ACT_SHOT &&
	       !rtnl_act_next(a);
}

/* Is c one of ours? Fills k; hash-table headers and others are foreign. */
static void classify_cls(struct rtnl_cls *c, struct kf *k)
{
	uint16_t prio = rtnl_cls_get_prio(c);
	uint32_t classid;

	memset(k, 0, sizeof(*k));
	k->prio = prio;
	k->proto = rtnl_cls_get_protocol(c);
	k->handle = rtnl_tc_get_handle(TC_CAST(c));
	k->kind = KF_FOREIGN;
	if (fl_tc_cls_dst(c, &k->dst) < 0)
		return;
	if (rtnl_u32_get_classid(c, &classid) >= 0)
		k->classid = classid;
	if ((prio == FL_TC_PRIO_DROP4 || prio == FL_TC_PRIO_DROP6) && cls_is_drop(c))
		k->kind = KF_DROP;
	else if ((prio == FL_TC_PRIO_STEER4 || prio == FL_TC_PRIO_STEER6) && k->classid &&
		 !rtnl_u32_get_action(c))
		k->kind = KF_STEER;
}

/* The kernel's side of the diff. */
struct kstate {
	struct kq_list q;
	int root_present;      /* a visible root qdisc (not the default) */
	int root_ours;         /* prio 1: with FL_TC_BANDS bands */
	int default_band;      /* ours: the band every priority goes to, or -1 */
	uint32_t netem[FL_TC_BANDS]; /* visible child of band b (b >= 1), handle or 0 */
	struct kf *f;
	size_t nf;
	struct kt_list t;      /* our tamper filters */
};

static void kstate_release(struct kstate *ks)
{
	free(ks->q.v);
	free(ks->f);
	free(ks->t.v);
	memset(ks, 0, sizeof(*ks));
}

static int read_kstate(struct nl_sock *sk, int ifindex, struct kstate *ks, struct fl_tc_err *err)
{
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	struct nl_object *o;
	size_t n = 0;
	int r;

	memset(ks, 0, sizeof(*ks));
	ks->default_band = -1;
	r = dump_qdiscs(sk, ifindex, &ks->q, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ks->q.n; i++) {
		const struct kq *q = &ks->q.v[i];

		if (q->parent == TC_H_ROOT && q->handle) {
			ks->root_present = 1;
			ks->root_ours = q->handle == ROOT_HANDLE && q->has_prio &&
					q->bands == FL_TC_BANDS;
			if (ks->root_ours) {
				ks->default_band = q->priomap[0];
				for (int p = 1; p <= TC_PRIO_MAX; p++)
					if (q->priomap[p] != q->priomap[0])
						ks->default_band = -1;
			}
		}
	}
	if (!ks->root_ours)
		return 0; /* nothing below it is ours */
	for (size_t i = 0; i < ks->q.n; i++) {
		const struct kq *q = &ks->q.v[i];

		if (TC_H_MAJ(q->parent) == ROOT_HANDLE && TC_H_MIN(q->parent) >= 2 &&
		    TC_H_MIN(q->parent) <= FL_TC_BANDS)
			ks->netem[TC_H_MIN(q->parent) - 1] = q->handle;
	}
	r = cls_cache(sk, ifindex, ROOT_HANDLE, &cache, err);
	if (r < 0)
		return r;
	ks->f = calloc((size_t)nl_cache_nitems(cache) + 1, sizeof(*ks->f));
	if (!ks->f)
		return fl_tc_fail_code(err, -ENOMEM, "list filters", NULL, NULL);
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		classify_cls((struct rtnl_cls *)o, &ks->f[n]);
		if (ks->f[n].kind != KF_FOREIGN)
			n++;
	}
	ks->nf = n;
	return dump_tampers(sk, ifindex, &ks->t, err);
}

/* --- validation -------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int failf(struct fl_tc_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->kernel[0] = '\0';
	}
	return code;
}

static int check_addr(const struct fl_tc_addr *a, const char *where, struct fl_tc_err *err)
{
	if (a->family == AF_INET || a->family == AF_INET6)
		return 0;
	return failf(err, -EINVAL, "%s: address family %d is neither IPv4 nor IPv6", where,
		     a->family);
}

static const char *tamper_dst(const struct fl_tc_addr *a, char *buf, size_t len)
{
	if (a->family == AF_UNSPEC) {
		snprintf(buf, len, "all");
		return buf;
	}
	return fl_tc_addr_format(a, buf, len);
}

/* Offsets in range; no two rules that meet on a packet (one destination,
 * or one of them toward all) set the same byte to different values: which
 * would win depends on the order the kernel holds the filters in. */
static int check_tampers(const struct fl_tc_state *st, struct fl_tc_err *err)
{
	for (size_t i = 0; i < st->ntampers; i++) {
		const struct fl_tc_tamper *t = &st->tampers[i];
		char a[INET6_ADDRSTRLEN];
		int r;

		if (t->dst.family != AF_UNSPEC &&
		    (r = check_addr(&t->dst, "tamper rule's destination", err)) < 0)
			return r;
		if (t->offset > FL_TC_MAX_TAMPER_OFFSET)
			return failf(err, -ERANGE,
				     "tamper rule %zu: offset %u is past the largest IP payload (at "
				     "most %u)",
				     i + 1, t->offset, FL_TC_MAX_TAMPER_OFFSET);
		for (size_t j = 0; j < i; j++) {
			const struct fl_tc_tamper *u = &st->tampers[j];

			if (u->offset != t->offset || u->value == t->value)
				continue;
			if (u->dst.family != AF_UNSPEC && t->dst.family != AF_UNSPEC &&
			    !fl_tc_addr_equal(&u->dst, &t->dst))
				continue;
			return failf(err, -EINVAL,
				     "tamper rules %zu and %zu both set byte %u of packets toward %s, "
				     "to 0x%02x and 0x%02x",
				     j + 1, i + 1, t->offset,
				     tamper_dst(t->dst.family == AF_UNSPEC ? &u->dst : &t->dst, a,
						sizeof(a)),
				     u->value, t->value);
		}
	}
	return 0;
}

int fl_tc_state_check(const struct fl_tc_state *st, struct fl_tc_err *err)
{
	int catch_all = -1, r;

	if (st->nblocked > FL_TC_MAX_ADDRS)
		return failf(err, -E2BIG, "%zu blocked addresses: at most %d", st->nblocked,
			     FL_TC_MAX_ADDRS);
	if (st->nshapes > FL_TC_MAX_SHAPES)
		return failf(err, -E2BIG, "%zu netem shapes: at most %d per interface (prio's bands)",
			     st->nshapes, FL_TC_MAX_SHAPES);
	if (st->ntampers > FL_TC_MAX_TAMPERS)
		return failf(err, -E2BIG, "%zu tamper rules: at most %d per interface", st->ntampers,
			     FL_TC_MAX_TAMPERS);
	if ((st->nblocked && !st->blocked) || (st->nshapes && !st->shapes) ||
	    (st->ntampers && !st->tampers))
		return failf(err, -EINVAL, "state: a count without its array");
	for (size_t i = 0; i < st->nblocked; i++)
		if ((r = check_addr(&st->blocked[i], "blocked address", err)) < 0)
			return r;
	for (size_t s = 0; s < st->nshapes; s++) {
		const struct fl_tc_shape *sh = &st->shapes[s];
		char a[INET6_ADDRSTRLEN];

		r = fl_tc_netem_check(&sh->netem, err);
		if (r < 0) {
			char inner[sizeof(err->msg)];

			if (err) {
				snprintf(inner, sizeof(inner), "%s", err->msg);
				snprintf(err->msg, sizeof(err->msg), "shape %zu: %.400s", s + 1, inner);
			}
			return r;
		}
		if (sh->npeers > FL_TC_MAX_ADDRS)
			return failf(err, -E2BIG, "shape %zu: %zu peers: at most %d", s + 1, sh->npeers,
				     FL_TC_MAX_ADDRS);
		if (sh->npeers && !sh->peers)
			return failf(err, -EINVAL, "shape %zu: a peer count without peers", s + 1);
		if (sh->npeers == 0) {
			if (catch_all >= 0)
				return failf(err, -EINVAL,
					     "shapes %d and %zu both apply to all traffic; merge their "
					     "netem parameters into one shape",
					     catch_all + 1, s + 1);
			catch_all = (int)s;
		}
		for (size_t p = 0; p < sh->npeers; p++) {
			if ((r = check_addr(&sh->peers[p], "peer address", err)) < 0)
				return r;
			for (size_t t = 0; t < s; t++)
				for (size_t q = 0; q < st->shapes[t].npeers; q++)
					if (fl_tc_addr_equal(&st->shapes[t].peers[q], &sh->peers[p]))
						return failf(err, -EINVAL,
							     "peer %s is in shapes %zu and %zu; a "
							     "destination takes one shape: merge their "
							     "netem parameters",
							     fl_tc_addr_format(&sh->peers[p], a, sizeof(a)),
							     t + 1, s + 1);
		}
	}
	return check_tampers(st, err);
}

/* --- builders that need no file of their own ------------------------------------- */

int fl_tc_build_root(int ifindex, unsigned default_band, struct rtnl_qdisc **out,
		     struct fl_tc_err *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	uint8_t priomap[TC_PRIO_MAX + 1];
	int e;

	if (default_band >= FL_TC_BANDS)
		return failf(err, -EINVAL, "prio default band %u: there are %d bands", default_band,
			     FL_TC_BANDS);
	q = rtnl_qdisc_alloc();
	if (!q)
		return failf(err, -ENOMEM, "build qdisc 'prio': out of memory");
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), ROOT_HANDLE);
	e = rtnl_tc_set_kind(TC_CAST(q), "prio");
	if (e >= 0) {
		rtnl_qdisc_prio_set_bands(q, FL_TC_BANDS);
		memset(priomap, (int)default_band, sizeof(priomap));
		/* all of it, always: libnl aborts on a prio without a priomap */
		e = rtnl_qdisc_prio_set_priomap(q, priomap, sizeof(priomap));
	}
	if (e < 0)
		return failf(err, fl_nl_errno(e), "build qdisc 'prio': %s", nl_geterror(e));
	*out = q;
	q = NULL;
	return 0;
}

/* --- apply -------------------------------------------------------------------------- */

struct want_filter {
	struct rtnl_cls *cls;
	struct fl_tc_addr dst;
	unsigned slot; /* steering only */
};

/* One tamper rule's filter for one family and L4 protocol. */
struct want_tamper {
	struct nl_msg *msg;
	struct fl_tc_tamper rule;
	int family, l4;
};

struct want {
	struct nl_msg *netem[FL_TC_MAX_SHAPES];
	size_t nnetem;
	struct want_filter *drops, *steers;
	size_t ndrops, nsteers;
	struct want_tamper *tampers;
	size_t ntampers;
	int catch_slot;
};

static void want_release(struct want *w)
{
	for (size_t i = 0; i < w->ntampers; i++)
		nlmsg_free(w->tampers[i].msg);
	free(w->tampers);
	for (size_t i = 0; i < w->nnetem; i++)
		nlmsg_free(w->netem[i]);
	for (size_t i = 0; i < w->ndrops; i++)
		rtnl_cls_put(w->drops[i].cls);
	for (size_t i = 0; i < w->nsteers; i++)
		rtnl_cls_put(w->steers[i].cls);
	free(w->drops);
	free(w->steers);
	memset(w, 0, sizeof(*w));
}

static int has_addr(const struct want_filter *v, size_t n, const struct fl_tc_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (fl_tc_addr_equal(&v[i].dst, a))
			return 1;
	return 0;
}

/* Parse, validate, build: everything that can fail without the kernel
 * fails here, before the first request. */
static int build_want(int ifindex, const struct fl_tc_state *st, struct want *w,
		      struct fl_tc_err *err)
{
	size_t npeers = 0;
	int r;

	memset(w, 0, sizeof(*w));
	w->catch_slot = -1;
	r = fl_tc_state_check(st, err);
	if (r < 0)
		return r;
	for (size_t s = 0; s < st->nshapes; s++)
		npeers += st->shapes[s].npeers;
	w->drops = calloc(st->nblocked + 1, sizeof(*w->drops));
	w->steers = calloc(npeers + 1, sizeof(*w->steers));
	if (!w->drops || !w->steers)
		return failf(err, -ENOMEM, "build tc state: out of memory");
	for (size_t s = 0; s < st->nshapes; s++) {
		const struct fl_tc_shape *sh = &st->shapes[s];
		_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;

		r = fl_tc_build_netem(ifindex, (unsigned)s, &sh->netem, &q, err);
		if (r < 0)
			return r;
		/* create, or change in place when our handle is already there */
		r = fl_tc_netem_msg(q, &sh->netem, NLM_F_CREATE | NLM_F_REPLACE, &w->netem[w->nnetem],
				    err);
		if (r < 0)
			return r;
		w->nnetem++;
		if (sh->npeers == 0)
			w->catch_slot = (int)s;
		for (size_t p = 0; p < sh->npeers; p++) {
			struct want_filter *f = &w->steers[w->nsteers];

			if (has_addr(w->steers, w->nsteers, &sh->peers[p]))
				continue;
			r = fl_tc_build_steer(ifindex, &sh->peers[p], (unsigned)s, &f->cls, err);
			if (r < 0)
				return r;
			f->dst = sh->peers[p];
			f->slot = (unsigned)s;
			w->nsteers++;
		}
	}
	for (size_t i = 0; i < st->nblocked; i++) {
		struct want_filter *f = &w->drops[w->ndrops];

		if (has_addr(w->drops, w->ndrops, &st->blocked[i]))
			continue;
		r = fl_tc_build_drop(ifindex, &st->blocked[i], &f->cls, err);
		if (r < 0)
			return r;
		f->dst = st->blocked[i];
		w->ndrops++;
	}
	/* per rule: a filter for each family it covers and each of TCP, UDP */
	w->tampers = calloc(4 * st->ntampers + 1, sizeof(*w->tampers));
	if (!w->tampers)
		return failf(err, -ENOMEM, "build tc state: out of memory");
	for (size_t i = 0; i < st->ntampers; i++) {
		const struct fl_tc_tamper *t = &st->tampers[i];
		static const int l4s[] = { IPPROTO_UDP, IPPROTO_TCP };
		int fams[2], nfam = 0, dup = 0;

		for (size_t j = 0; j < i && !dup; j++)
			dup = fl_tc_tamper_dst_equal(&st->tampers[j].dst, &t->dst) &&
			      st->tampers[j].offset == t->offset && st->tampers[j].value == t->value;
		if (dup)
			continue;
		if (t->dst.family != AF_INET6)
			fams[nfam++] = AF_INET;
		if (t->dst.family != AF_INET)
			fams[nfam++] = AF_INET6;
		for (int f = 0; f < nfam; f++)
			for (size_t p = 0; p < sizeof(l4s) / sizeof(l4s[0]); p++) {
				struct want_tamper *x = &w->tampers[w->ntampers];

				r = fl_tc_tamper_msg(ifindex, t, fams[f], l4s[p], &x->msg, err);
				if (r < 0)
					return r;
				x->rule = *t;
				x->family = fams[f];
				x->l4 = l4s[p];
				w->ntampers++;
			}
	}
	return 0;
}

static int send_qdisc(struct nl_sock *sk, struct rtnl_qdisc *q, int flags, const char *what,
		      const char *module, struct fl_tc_err *err)
{
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	int r = rtnl_qdisc_build_add_request(q, flags, &msg);

	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	return fl_tc_talk(sk, msg, what, module, err);
}

static int set_root(struct nl_sock *sk, int ifindex, unsigned default_band, const char *what,
		    struct fl_tc_err *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	int r = fl_tc_build_root(ifindex, default_band, &q, err);

	if (r < 0)
		return r;
	/* a default or foreign root is replaced; ours is changed in place */
	return send_qdisc(sk, q, NLM_F_CREATE | NLM_F_REPLACE, what, "sch_prio", err);
}

static int add_filter(struct nl_sock *sk, const struct want_filter *f, int drop, int ifindex,
		      struct fl_tc_err *err)
{
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	char what[160], a[INET6_ADDRSTRLEN];
	int r;

	fl_tc_addr_format(&f->dst, a, sizeof(a));
	if (drop)
		snprintf(what, sizeof(what), "add filter u32 dst %s action drop on ifindex %d", a,
			 ifindex);
	else
		snprintf(what, sizeof(what), "add filter u32 dst %s flowid 1:%x on ifindex %d", a,
			 f->slot + 2, ifindex);
	r = rtnl_cls_build_add_request(f->cls, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	return fl_tc_talk(sk, msg, what, drop ? "cls_u32' or 'act_gact" : "cls_u32", err);
}

static int delete_filter(struct nl_sock *sk, int ifindex, const struct kf *k,
			 struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = rtnl_cls_alloc();
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	char what[160], a[INET6_ADDRSTRLEN];
	int r;

	snprintf(what, sizeof(what), "delete filter u32 %x dst %s (prio %u) on ifindex %d",
		 k->handle, tamper_dst(&k->dst, a, sizeof(a)), k->prio, ifindex);
	if (!c)
		return fl_tc_fail_code(err, -ENOMEM, what, NULL, NULL);
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), ROOT_HANDLE);
	rtnl_tc_set_handle(TC_CAST(c), k->handle);
	rtnl_cls_set_prio(c, k->prio);
	rtnl_cls_set_protocol(c, k->proto);
	r = rtnl_tc_set_kind(TC_CAST(c), "u32");
	if (r >= 0)
		r = rtnl_cls_build_delete_request(c, 0, &msg);
	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	r = fl_tc_talk(sk, msg, what, NULL, err);
	return r == -ENOENT ? 0 : r; /* already gone */
}

static int delete_qdisc(struct nl_sock *sk, int ifindex, uint32_t parent, uint32_t handle,
			const char *what, struct fl_tc_err *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	int r;

	if (!q)
		return fl_tc_fail_code(err, -ENOMEM, what, NULL, NULL);
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	r = rtnl_qdisc_build_delete_request(q, &msg);
	if (r < 0)
		return fl_tc_fail_code(err, fl_nl_errno(r), what, NULL, NULL);
	r = fl_tc_talk(sk, msg, what, NULL, err);
	return r == -ENOENT ? 0 : r; /* already gone */
}

/*
 * Applying a want over what the kernel holds, in an order that never opens
 * a moment of full connectivity nor drops traffic by accident: the root
 * (once), the netems, the new filters (drops before anything is removed),
 * the default band, then what went away. Each step: 0 or -errno in err.
 */

/* 1. the root: created once, then never replaced while it is ours */
static int put_root(struct nl_sock *sk, int ifindex, struct kstate *ks, struct fl_tc_err *err)
{
	char what[160];
	int r;

	if (ks->root_ours)
		return 0;
	snprintf(what, sizeof(what), "add qdisc 'prio' 1: as root of ifindex %d", ifindex);
	if ((r = set_root(sk, ifindex, 0, what, err)) < 0)
		return r;
	ks->default_band = 0;
	ks->nf = 0; /* a new root has no filters and no children of ours */
	ks->t.n = 0;
	memset(ks->netem, 0, sizeof(ks->netem));
	return 0;
}

/* 2. netems, created or changed in place */
static int put_netems(struct nl_sock *sk, int ifindex, const struct want *w,
		      const struct kstate *ks, struct fl_tc_err *err)
{
	char what[160];
	int r;

	for (size_t s = 0; s < w->nnetem; s++) {
		const struct tcmsg *t = nlmsg_data(nlmsg_hdr(w->netem[s]));

		snprintf(what, sizeof(what), "%s qdisc 'netem' %x: in band 1:%zx of ifindex %d",
			 ks->netem[s + 1] == t->tcm_handle ? "change" : "add",
			 TC_H_MAJ(t->tcm_handle) >> 16, s + 2, ifindex);
		if ((r = fl_tc_talk(sk, w->netem[s], what, "sch_netem", err)) < 0)
			return r;
	}
	return 0;
}

/* 3, 4. drops (kind KF_DROP) or steering into the bands (KF_STEER): a
 * filter the kernel already holds is kept, the others added */
static int put_filters(struct nl_sock *sk, int ifindex, const struct want_filter *v, size_t n,
		       enum kf_kind kind, struct kstate *ks, struct fl_tc_err *err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		uint32_t band = kind == KF_STEER ? fl_tc_band_classid(v[i].slot + 1) : 0;
		int have = 0;

		for (size_t k = 0; k < ks->nf && !have; k++)
			if (ks->f[k].kind == kind && !ks->f[k].keep &&
			    (kind != KF_STEER || ks->f[k].classid == band) &&
			    fl_tc_addr_equal(&ks->f[k].dst, &v[i].dst))
				ks->f[k].keep = have = 1;
		if (!have && (r = add_filter(sk, &v[i], kind == KF_DROP, ifindex, err)) < 0)
			return r;
	}
	return 0;
}

/* 4b. tampering (its filters continue to the steering: see tc.h) */
static int put_tampers(struct nl_sock *sk, int ifindex, const struct want *w, struct kstate *ks,
		       struct fl_tc_err *err)
{
	char what[160];
	int r;

	for (size_t i = 0; i < w->ntampers; i++) {
		const struct want_tamper *x = &w->tampers[i];
		char a[INET6_ADDRSTRLEN];
		int have = 0;

		for (size_t k = 0; k < ks->t.n && !have; k++) {
			struct kt *t = &ks->t.v[k];

			if (!t->keep && t->family == x->family && t->l4 == x->l4 &&
			    t->csum_flags == FL_TC_TAMPER_CSUM_FLAGS &&
			    fl_tc_tamper_dst_equal(&t->rule.dst, &x->rule.dst) &&
			    t->rule.offset == x->rule.offset && t->rule.value == x->rule.value)
				t->keep = have = 1;
		}
		if (have)
			continue;
		snprintf(what, sizeof(what),
			 "add filter u32 %s dst %s %s action pedit offset %u set 0x%02x, csum on "
			 "ifindex %d",
			 x->family == AF_INET ? "ip" : "ipv6", tamper_dst(&x->rule.dst, a, sizeof(a)),
			 x->l4 == IPPROTO_TCP ? "tcp" : "udp", x->rule.offset, x->rule.value, ifindex);
		if ((r = fl_tc_talk(sk, x->msg, what, "act_pedit' or 'act_csum", err)) < 0)
			return r;
	}
	return 0;
}

/* 5. everything else to the plain band, or to the shape without peers */
static int put_default_band(struct nl_sock *sk, int ifindex, const struct want *w,
			    const struct kstate *ks, struct fl_tc_err *err)
{
	unsigned want_default = w->catch_slot >= 0 ? (unsigned)w->catch_slot + 1 : 0;
	char what[160];

	if (ks->default_band == (int)want_default)
		return 0;
	snprintf(what, sizeof(what), "set the priomap of prio 1: on ifindex %d to band 1:%x",
		 ifindex, want_default + 1);
	return set_root(sk, ifindex, want_default, what, err);
}

/* 6. the old tampering, the old steering, then the old drops */
static int remove_old_filters(struct nl_sock *sk, int ifindex, const struct kstate *ks,
			      struct fl_tc_err *err)
{
	static const enum kf_kind order[] = { KF_STEER, KF_DROP };
	int r;

	for (size_t k = 0; k < ks->t.n; k++) {
		const struct kt *t = &ks->t.v[k];
		struct kf f = { .prio = t->prio, .proto = t->proto, .handle = t->handle,
				.dst = t->rule.dst };

		if (!t->keep && (r = delete_filter(sk, ifindex, &f, err)) < 0)
			return r;
	}
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
		for (size_t k = 0; k < ks->nf; k++)
			if (ks->f[k].kind == order[o] && !ks->f[k].keep &&
			    (r = delete_filter(sk, ifindex, &ks->f[k], err)) < 0)
				return r;
	return 0;
}

/* 7. netems of shapes that went away (bands fall back to prio's pfifo) */
static int remove_old_netems(struct nl_sock *sk, int ifindex, const struct want *w,
			     const struct kstate *ks, struct fl_tc_err *err)
{
	char what[160];
	int r;

	for (size_t b = w->nnetem + 1; b < FL_TC_BANDS; b++) {
		if (!ks->netem[b])
			continue;
		snprintf(what, sizeof(what), "delete qdisc %x: from band 1:%zx of ifindex %d",
			 TC_H_MAJ(ks->netem[b]) >> 16, b + 1, ifindex);
		r = delete_qdisc(sk, ifindex, fl_tc_band_classid((unsigned)b), ks->netem[b], what, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_want(struct nl_sock *sk, int ifindex, struct want *w, struct kstate *ks,
		      struct fl_tc_err *err)
{
	int r;

	if ((r = put_root(sk, ifindex, ks, err)) < 0 ||
	    (r = put_netems(sk, ifindex, w, ks, err)) < 0 ||
	    (r = put_filters(sk, ifindex, w->drops, w->ndrops, KF_DROP, ks, err)) < 0 ||
	    (r = put_filters(sk, ifindex, w->steers, w->nsteers, KF_STEER, ks, err)) < 0 ||
	    (r = put_tampers(sk, ifindex, w, ks, err)) < 0 ||
	    (r = put_default_band(sk, ifindex, w, ks, err)) < 0 ||
	    (r = remove_old_filters(sk, ifindex, ks, err)) < 0)
		return r;
	return remove_old_netems(sk, ifindex, w, ks, err);
}

int fl_tc_apply(struct nl_sock *sk, int ifindex, const struct fl_tc_state *st,
		struct fl_tc_err *err)
{
	struct want w;
	struct kstate ks;
	int r;

	r = build_want(ifindex, st, &w, err);
	if (r < 0) {
		want_release(&w);
		return r;
	}
	if (w.ndrops == 0 && w.nnetem == 0 && w.ntampers == 0) {
		want_release(&w);
		return fl_tc_clear(sk, ifindex, err);
	}
	ext_ack_on(sk);
	r = read_kstate(sk, ifindex, &ks, err);
	if (r >= 0)
		r = apply_want(sk, ifindex, &w, &ks, err);
	kstate_release(&ks);
	want_release(&w);
	return r;
}

int fl_tc_clear(struct nl_sock *sk, int ifindex, struct fl_tc_err *err)
{
	struct kstate ks;
	char what[96];
	int r, ours = 0;

	ext_ack_on(sk);
	memset(&ks, 0, sizeof(ks));
	r = dump_qdiscs(sk, ifindex, &ks.q, err);
	for (size_t i = 0; r >= 0 && i < ks.q.n; i++)
		if (ks.q.v[i].parent == TC_H_ROOT && ks.q.v[i].handle == ROOT_HANDLE &&
		    strcmp(ks.q.v[i].kind, "prio") == 0)
			ours = 1;
	kstate_release(&ks);
	if (r < 0 || !ours)
		return r < 0 ? r : 0; /* nothing of ours there: cleared already */
	snprintf(what, sizeof(what), "delete root qdisc 'prio' 1: of ifindex %d", ifindex);
	return delete_qdisc(sk, ifindex, TC_H_ROOT, ROOT_HANDLE, what, err);
}

/* --- read back ------------------------------------------------------------------------ */

static void fmt_handle(uint32_t h, char *buf, size_t len)
{
	if (h == TC_H_ROOT)
		snprintf(buf, len, "root");
	else if (TC_H_MIN(h))
		snprintf(buf, len, "%x:%x", TC_H_MAJ(h) >> 16, TC_H_MIN(h));
	else
		snprintf(buf, len, "%x:", TC_H_MAJ(h) >> 16);
}

static double pct(uint32_t v)
{
	return round((double)v * 100.0 / (double)UINT32_MAX * 1e6) / 1e6;
}

static int jset(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

static json_t *qdisc_json(const struct kq *q)
{
	json_t *o = json_object();
	char h[32];
	int bad = !o;

	if (!o)
		return NULL;
	bad |= jset(o, "kind", json_string(q->kind));
	fmt_handle(q->handle, h, sizeof(h));
	bad |= jset(o, "handle", json_string(h));
	fmt_handle(q->parent, h, sizeof(h));
	bad |= jset(o, "parent", json_string(h));
	if (q->has_prio) {
		json_t *map = json_array();

		for (int p = 0; map && p <= TC_PRIO_MAX; p++)
			bad |= json_array_append_new(map, json_integer(q->priomap[p]));
		bad |= jset(o, "bands", json_integer(q->bands));
		bad |= jset(o, "priomap", map);
	}
	if (q->has_netem) {
		const struct fl_tc_netem_kernel *k = &q->netem;
		enum fl_distribution d;
		unsigned slot;

		bad |= jset(o, "limit", json_integer(k->limit));
		bad |= jset(o, "latency_ns", json_integer(k->latency_ns));
		bad |= jset(o, "jitter_ns", json_integer(k->jitter_ns));
		bad |= jset(o, "latency_correlation", json_real(pct(k->delay_corr)));
		if (fl_tc_netem_handle_parse(q->handle, &slot, &d) == 0 &&
		    q->parent == fl_tc_band_classid(slot + 1))
			bad |= jset(o, "distribution",
				    /* netem's own jitter (no table) is uniform */
				    json_string(d == FL_DIST_NONE ? "uniform"
						: fl_distribution_to_string(d)));
		bad |= jset(o, "loss", json_real(pct(k->loss)));
		bad |= jset(o, "loss_correlation", json_real(pct(k->loss_corr)));
		bad |= jset(o, "duplicate", json_real(pct(k->duplicate)));
		bad |= jset(o, "duplicate_correlation", json_real(pct(k->duplicate_corr)));
		bad |= jset(o, "corrupt", json_real(pct(k->corrupt)));
		bad |= jset(o, "corrupt_correlation", json_real(pct(k->corrupt_corr)));
		bad |= jset(o, "reorder", json_real(pct(k->reorder)));
		bad |= jset(o, "reorder_correlation", json_real(pct(k->reorder_corr)));
		bad |= jset(o, "gap", json_integer(k->gap));
		bad |= jset(o, "rate_bytes_per_s", json_integer((json_int_t)k->rate_bps));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *proto_name(uint16_t p, char *buf, size_t len)
{
	switch (p) {
	case ETH_P_IP:
		return "ip";
	case ETH_P_IPV6:
		return "ipv6";
	case ETH_P_ALL:
		return "all";
	default:
		snprintf(buf, len, "0x%04x", p);
		return buf;
	}
}

static const char *gact_name(int a, char *buf, size_t len)
{
	switch (a) {
	case TC_ACT_SHOT:
		return "drop";
	case TC_ACT_OK:
		return "pass";
	case TC_ACT_PIPE:
		return "pipe";
	case TC_ACT_RECLASSIFY:
		return "reclassify";
	default:
		snprintf(buf, len, "gact %d", a);
		return buf;
	}
}

static json_t *filter_json(struct rtnl_cls *c)
{
	json_t *o;
	struct fl_tc_addr dst;
	struct rtnl_act *act;
	uint32_t val, mask, classid;
	int off, offmask, bad = 0;
	const char *kind = rtnl_tc_get_kind(TC_CAST(c));
	uint32_t h = rtnl_tc_get_handle(TC_CAST(c));
	char buf[64];

	/* u32's hash-table headers carry no match: not a filter anyone wrote */
	if (kind && strcmp(kind, "u32") == 0 &&
	    rtnl_u32_get_key(c, 0, &val, &mask, &off, &offmask) < 0)
		return json_null();
	o = json_object();
	if (!o)
		return NULL;
	fmt_handle(rtnl_tc_get_parent(TC_CAST(c)), buf, sizeof(buf));
	bad |= jset(o, "parent", json_string(buf));
	bad |= jset(o, "prio", json_integer(rtnl_cls_get_prio(c)));
	bad |= jset(o, "protocol", json_string(proto_name(rtnl_cls_get_protocol(c), buf, sizeof(buf))));
	bad |= jset(o, "kind", json_string(kind ? kind : ""));
	if (kind && strcmp(kind, "u32") == 0) {
		snprintf(buf, sizeof(buf), "%x:", TC_U32_USERHTID(h));
		if (TC_U32_HASH(h))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%x", TC_U32_HASH(h));
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ":%x", TC_U32_NODE(h));
		bad |= jset(o, "handle", json_string(buf));
		if (fl_tc_cls_dst(c, &dst) == 0) {
			bad |= jset(o, "dst", json_string(fl_tc_addr_format(&dst, buf, sizeof(buf))));
		} else {
			json_t *keys = json_array();

			for (uint8_t i = 0; keys && rtnl_u32_get_key(c, i, &val, &mask, &off, &offmask) >= 0;
			     i++) {
				json_t *k = json_object();

				snprintf(buf, sizeof(buf), "%08x/%08x", ntohl(val), ntohl(mask));
				bad |= !k || jset(k, "off", json_integer(off)) ||
				       jset(k, "match", json_string(buf));
				bad |= json_array_append_new(keys, k);
			}
			bad |= jset(o, "keys", keys);
		}
		if (rtnl_u32_get_classid(c, &classid) >= 0) {
			fmt_handle(classid, buf, sizeof(buf));
			bad |= jset(o, "flowid", json_string(buf));
		}
		act = rtnl_u32_get_action(c);
		if (act) {
			const char *ak = rtnl_tc_get_kind(TC_CAST(act));

			if (ak && strcmp(ak, "gact") == 0)
				ak = gact_name(rtnl_gact_get_action(act), buf, sizeof(buf));
			bad |= jset(o, "action", json_string(ak ? ak : ""));
		}
	} else {
		snprintf(buf, sizeof(buf), "%x", h);
		bad |= jset(o, "handle", json_string(buf));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *tamper_json(struct rtnl_cls *c, const struct kt *t)
{
	static const struct {
		uint32_t flag;
		const char *name;
	} flags[] = {
		{ TCA_CSUM_UPDATE_FLAG_IPV4HDR, "iph" }, { TCA_CSUM_UPDATE_FLAG_ICMP, "icmp" },
		{ TCA_CSUM_UPDATE_FLAG_IGMP, "igmp" },   { TCA_CSUM_UPDATE_FLAG_TCP, "tcp" },
		{ TCA_CSUM_UPDATE_FLAG_UDP, "udp" },     { TCA_CSUM_UPDATE_FLAG_UDPLITE, "udplite" },
		{ TCA_CSUM_UPDATE_FLAG_SCTP, "sctp" },
	};
	json_t *o = json_object(), *cs = json_array();
	uint32_t h = t->handle;
	char buf[64];
	int bad = !o || !cs;

	if (bad) {
		json_decref(o);
		json_decref(cs);
		return NULL;
	}
	fmt_handle(rtnl_tc_get_parent(TC_CAST(c)), buf, sizeof(buf));
	bad |= jset(o, "parent", json_string(buf));
	bad |= jset(o, "prio", json_integer(t->prio));
	bad |= jset(o, "protocol", json_string(proto_name(t->proto, buf, sizeof(buf))));
	bad |= jset(o, "kind", json_string("u32"));
	snprintf(buf, sizeof(buf), "%x:", TC_U32_USERHTID(h));
	if (TC_U32_HASH(h))
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%x", TC_U32_HASH(h));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ":%x", TC_U32_NODE(h));
	bad |= jset(o, "handle", json_string(buf));
	bad |= jset(o, "dst", json_string(tamper_dst(&t->rule.dst, buf, sizeof(buf))));
	bad |= jset(o, "l4", json_string(t->l4 == IPPROTO_TCP ? "tcp" : "udp"));
	bad |= jset(o, "action", json_string("tamper"));
	bad |= jset(o, "offset", json_integer(t->rule.offset));
	bad |= jset(o, "value", json_integer(t->rule.value));
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (t->csum_flags & flags[i].flag)
			bad |= json_array_append_new(cs, json_string(flags[i].name));
	bad |= jset(o, "csum", cs);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int fl_tc_read(struct nl_sock *sk, int ifindex, json_t **out, struct fl_tc_err *err)
{
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	struct kq_list l = { 0 };
	struct kt_list tl = { 0 };
	_cleanup_(freep) struct kq *v = NULL;
	_cleanup_(freep) struct kt *tv = NULL;
	json_t *o = json_object(), *qs = json_array(), *fs = json_array();
	uint32_t root = 0;
	int r, bad = !o || !qs || !fs;

	ext_ack_on(sk);
	r = dump_qdiscs(sk, ifindex, &l, err);
	v = l.v;
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		if (l.v[i].parent == TC_H_ROOT)
			root = l.v[i].handle;
		bad |= !qs || json_array_append_new(qs, qdisc_json(&l.v[i]));
	}
	if (r >= 0 && root)
		r = cls_cache(sk, ifindex, root, &cache, err);
	if (r >= 0 && root == ROOT_HANDLE) {
		r = dump_tampers(sk, ifindex, &tl, err);
		tv = tl.v;
	}
	for (struct nl_object *c = cache ? nl_cache_get_first(cache) : NULL; r >= 0 && c;
	     c = nl_cache_get_next(c)) {
		struct rtnl_cls *cls = (struct rtnl_cls *)c;
		const struct kt *t = NULL;
		json_t *f;

		for (size_t i = 0; i < tl.n && !t; i++)
			if (tl.v[i].handle == rtnl_tc_get_handle(TC_CAST(cls)) &&
			    tl.v[i].prio == rtnl_cls_get_prio(cls) &&
			    tl.v[i].proto == rtnl_cls_get_protocol(cls))
				t = &tl.v[i];
		f = t ? tamper_json(cls, t) : filter_json(cls);

		if (json_is_null(f))
			continue;
		bad |= !fs || json_array_append_new(fs, f);
	}
	if (r >= 0 && !bad) {
		bad |= json_object_set_new(o, "ifindex", json_integer(ifindex));
		bad |= json_object_set_new(o, "qdiscs", qs);
		qs = NULL;
		bad |= json_object_set_new(o, "filters", fs);
		fs = NULL;
	}
	json_decref(qs);
	json_decref(fs);
	if (r < 0 || bad) {
		json_decref(o);
		return r < 0 ? r : failf(err, -ENOMEM, "read tc state of ifindex %d: out of memory",
					 ifindex);
	}
	*out = o;
	return 0;
}
