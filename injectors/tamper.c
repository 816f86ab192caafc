/* Byzantine payload tampering: the u32 filter of one tamper rule (tc.h,
 * "Tampering") with its pedit and csum actions, which libnl 3.7 cannot say:
 * libnl builds the filter and its match, the actions go in as raw netlink
 * attributes inside the filter's TCA_OPTIONS. And the reverse: recognising
 * such a filter in what the kernel reports. Pure: builds and parses
 * messages, never sends. */
#include "faultline/tc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_csum.h>
#include <linux/tc_act/tc_pedit.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/tc.h>

#define IP4_DST_OFF 16
#define IP6_DST_OFF 24
#define IP4_PROTO_WORD 8           /* TTL, protocol, header checksum */
#define IP4_PROTO_MASK 0x00ff0000u
#define IP4_FRAG_WORD 4            /* id, flags + fragment offset */
#define IP4_FRAG_MASK 0x00003fffu  /* MF and the offset: 0 = not a fragment */
#define IP6_NEXTHDR_WORD 4         /* payload length, next header, hop limit */
#define IP6_NEXTHDR_MASK 0x0000ff00u


int fl_tc_tamper_dst_equal(const struct fl_tc_addr *a, const struct fl_tc_addr *b)
{
	if (a->family == AF_UNSPEC || b->family == AF_UNSPEC)
		return a->family == b->family;
	return fl_tc_addr_equal(a, b);
}

int fl_tc_tamper_key(uint32_t offset, uint8_t value, struct tc_pedit_key *out)
{
	/* byte i of the word (in packet order) is bits 31-8i..24-8i of its
	 * big-endian value */
	unsigned shift = 8 * (3 - (offset & 3));

	if (offset > FL_TC_MAX_TAMPER_OFFSET)
		return -ERANGE;
	memset(out, 0, sizeof(*out));
	out->off = offset & ~3u;
	out->mask = htonl(~(0xffu << shift));
	out->val = htonl((uint32_t)value << shift);
	return 0;
}

static const char *l4_name(int l4)
{
	return l4 == IPPROTO_TCP ? "tcp" : l4 == IPPROTO_UDP ? "udp" : "?";
}

/* The u32 filter without actions: libnl's object. */
static int tamper_cls(int ifindex, const struct fl_tc_tamper *t, int family, int l4,
		      struct rtnl_cls **out, const char *what, struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = rtnl_cls_alloc();
	int e;

	if (!c) {
		fl_tc_fail(err, "%s: out of memory", what);
		return -ENOMEM;
	}
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(FL_TC_ROOT_MAJOR, 0));
	e = rtnl_tc_set_kind(TC_CAST(c), "u32");
	if (e >= 0 && family == AF_INET) {
		rtnl_cls_set_protocol(c, ETH_P_IP);
		rtnl_cls_set_prio(c, FL_TC_PRIO_TAMPER4);
		if (t->dst.family == AF_INET) {
			struct in_addr v4 = t->dst.u.v4;

			e = rtnl_u32_add_key_in_addr(c, &v4, 32, IP4_DST_OFF, 0);
		}
		if (e >= 0)
			e = rtnl_u32_add_key(c, htonl((uint32_t)l4 << 16), htonl(IP4_PROTO_MASK),
					     IP4_PROTO_WORD, 0);
		if (e >= 0)
			e = rtnl_u32_add_key(c, 0, htonl(IP4_FRAG_MASK), IP4_FRAG_WORD, 0);
	} else if (e >= 0) {
		rtnl_cls_set_protocol(c, ETH_P_IPV6);
		rtnl_cls_set_prio(c, FL_TC_PRIO_TAMPER6);
		if (t->dst.family == AF_INET6) {
			struct in6_addr v6 = t->dst.u.v6;

			e = rtnl_u32_add_key_in6_addr(c, &v6, 128, IP6_DST_OFF, 0);
		}
		if (e >= 0)
			e = rtnl_u32_add_key(c, htonl((uint32_t)l4 << 8), htonl(IP6_NEXTHDR_MASK),
					     IP6_NEXTHDR_WORD, 0);
	}
	if (e >= 0)
		e = rtnl_u32_set_cls_terminal(c);
	if (e < 0) {
		fl_tc_fail(err, "%s: %s", what, nl_geterror(e));
		return fl_nl_errno(e);
	}
	*out = c;
	c = NULL;
	return 0;
}

/* One action: order { TCA_ACT_KIND kind, TCA_ACT_OPTIONS { ... } }, the
 * options filled by the caller between start and end. */
static struct nlattr *action_start(struct nl_msg *msg, int order, const char *kind,
				   struct nlattr **opts)
{
	struct nlattr *a = nla_nest_start(msg, order | NLA_F_NESTED);

	if (!a || nla_put_string(msg, TCA_ACT_KIND, kind) < 0 ||
	    !(*opts = nla_nest_start(msg, TCA_ACT_OPTIONS | NLA_F_NESTED)))
		return NULL;
	return a;
}

static int put_actions(struct nl_msg *msg, const struct fl_tc_tamper *t, int l4)
{
	struct {
		struct tc_pedit_sel sel;
		struct tc_pedit_key key;
	} pedit;
	struct tc_csum csum;
	struct nlattr *acts, *act, *opts, *keys, *key;

	/* the struct has no padding: the kernel reads nkeys keys after sel */
	_Static_assert(sizeof(pedit) == sizeof(struct tc_pedit_sel) + sizeof(struct tc_pedit_key),
		       "tc_pedit_sel and its key are not contiguous");
	memset(&pedit, 0, sizeof(pedit));
	pedit.sel.action = TC_ACT_PIPE; /* on to csum */
	pedit.sel.nkeys = 1;
	if (fl_tc_tamper_key(t->offset, t->value, &pedit.key) < 0)
		return -ERANGE;
	memset(&csum, 0, sizeof(csum));
	csum.action = TC_ACT_UNSPEC; /* "continue": on to the steering filters */
	csum.update_flags = FL_TC_TAMPER_CSUM_FLAGS;

	if (!(acts = nla_nest_start(msg, TCA_U32_ACT | NLA_F_NESTED)))
		return -ENOMEM;
	if (!(act = action_start(msg, 1, "pedit", &opts)) ||
	    nla_put(msg, TCA_PEDIT_PARMS_EX, sizeof(pedit), &pedit) < 0 ||
	    !(keys = nla_nest_start(msg, TCA_PEDIT_KEYS_EX | NLA_F_NESTED)) ||
	    !(key = nla_nest_start(msg, TCA_PEDIT_KEY_EX | NLA_F_NESTED)) ||
	    nla_put_u16(msg, TCA_PEDIT_KEY_EX_HTYPE,
			l4 == IPPROTO_TCP ? TCA_PEDIT_KEY_EX_HDR_TYPE_TCP
					  : TCA_PEDIT_KEY_EX_HDR_TYPE_UDP) < 0 ||
	    nla_put_u16(msg, TCA_PEDIT_KEY_EX_CMD, TCA_PEDIT_KEY_EX_CMD_SET) < 0)
		return -ENOMEM;
	nla_nest_end(msg, key);
	nla_nest_end(msg, keys);
	nla_nest_end(msg, opts);
	nla_nest_end(msg, act);
	if (!(act = action_start(msg, 2, "csum", &opts)) ||
	    nla_put(msg, TCA_CSUM_PARMS, sizeof(csum), &csum) < 0)
		return -ENOMEM;
	nla_nest_end(msg, opts);
	nla_nest_end(msg, act);
	nla_nest_end(msg, acts);
	return 0;
}

int fl_tc_tamper_msg(int ifindex, const struct fl_tc_tamper *t, int family, int l4,
		     struct nl_msg **out, struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = NULL;
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	char what[192], a[INET6_ADDRSTRLEN];
	size_t off;
	int e;

	snprintf(what, sizeof(what), "build filter u32 dst %s %s action pedit offset %u set 0x%02x",
		 t->dst.family == AF_UNSPEC ? "all" : fl_tc_addr_format(&t->dst, a, sizeof(a)),
		 l4_name(l4), t->offset, t->value);
	if ((family != AF_INET && family != AF_INET6) ||
	    (t->dst.family != AF_UNSPEC && t->dst.family != family)) {
		fl_tc_fail(err, "%s: address family %d for a rule of family %d", what, family,
		     t->dst.family);
		return -EINVAL;
	}
	if (l4 != IPPROTO_TCP && l4 != IPPROTO_UDP) {
		fl_tc_fail(err, "%s: L4 protocol %d is neither TCP nor UDP", what, l4);
		return -EINVAL;
	}
	if (t->offset > FL_TC_MAX_TAMPER_OFFSET) {
		fl_tc_fail(err, "%s: offset %u is past the largest IP payload (at most %u)", what, t->offset,
		     FL_TC_MAX_TAMPER_OFFSET);
		return -ERANGE;
	}
	e = tamper_cls(ifindex, t, family, l4, &c, what, err);
	if (e < 0)
		return e;
	e = rtnl_cls_build_add_request(c, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (e < 0) {
		fl_tc_fail(err, "%s: %s", what, nl_geterror(e));
		return fl_nl_errno(e);
	}
	/* TCA_OPTIONS (the u32 attributes): the actions go inside it */
	e = fl_tc_options_open(msg, &off, what, err);
	if (e < 0)
		return e;
	e = put_actions(msg, t, l4);
	if (e < 0) {
		fl_tc_fail(err, "%s: %s", what, e == -ENOMEM ? "the message is too long" : strerror(-e));
		return e;
	}
	fl_tc_options_close(msg, off);
	*out = msg;
	msg = NULL;
	return 0;
}

/* --- reading one back -------------------------------------------------------- */

static int nested(struct nlattr **tb, int max, const struct nlattr *nla)
{
	return nla_parse(tb, max, nla_data(nla), nla_len(nla), NULL);
}

/* The action at order i: its kind, and its options parsed up to max. */
static int action_at(struct nlattr **acts, int i, const char *kind, struct nlattr **tb, int max)
{
	struct nlattr *ab[TCA_ACT_MAX + 1];
	char k[32];

	if (!acts[i] || nested(ab, TCA_ACT_MAX, acts[i]) < 0 || !ab[TCA_ACT_KIND] ||
	    !ab[TCA_ACT_OPTIONS])
		return -ENOENT;
	nla_strlcpy(k, ab[TCA_ACT_KIND], sizeof(k));
	if (strcmp(k, kind) != 0 || nested(tb, max, ab[TCA_ACT_OPTIONS]) < 0)
		return -ENOENT;
	return 0;
}

/* offset and value from a key fl_tc_tamper_key made */
static int key_byte(const struct tc_pedit_key *k, uint32_t *offset, uint8_t *value)
{
	uint32_t mask = ntohl(k->mask), val = ntohl(k->val);

	if (k->at || k->offmask || k->shift || k->off % 4)
		return -ENOENT;
	for (unsigned i = 0; i < 4; i++) {
		unsigned shift = 8 * (3 - i);

		if (mask == ~(0xffu << shift) && (val & ~(0xffu << shift)) == 0) {
			*offset = k->off + i;
			*value = (uint8_t)(val >> shift);
			return 0;
		}
	}
	return -ENOENT;
}

static int key_is(const struct tc_u32_key *k, uint32_t mask, uint32_t val, int off)
{
	return k->mask == htonl(mask) && k->val == htonl(val) && k->off == off && !k->offmask;
}

int fl_tc_tamper_parse(const void *opts, size_t len, uint16_t protocol, struct fl_tc_tamper *t,
		       int *l4, uint32_t *csum_flags)
{
	struct nlattr *ub[TCA_U32_MAX + 1], *acts[TCA_ACT_MAX_PRIO + 1];
	struct nlattr *pb[TCA_PEDIT_MAX + 1], *cb[TCA_CSUM_MAX + 1], *kb[TCA_PEDIT_KEY_EX_MAX + 1];
	struct nlattr *keys, *parms, *ka;
	struct tc_u32_sel sel;
	struct tc_u32_key k[6];
	struct tc_pedit_sel ps;
	struct tc_pedit_key pk;
	struct tc_csum cs;
	struct fl_tc_tamper r;
	int family = protocol == ETH_P_IP ? AF_INET : protocol == ETH_P_IPV6 ? AF_INET6 : 0;
	int ndst, nkeys, proto, rem, nex = 0;
	uint16_t htype = 0, cmd = 1;

	if (!family || nla_parse(ub, TCA_U32_MAX, (struct nlattr *)opts, (int)len, NULL) < 0 ||
	    !ub[TCA_U32_SEL] || !ub[TCA_U32_ACT] || ub[TCA_U32_CLASSID] ||
	    nla_len(ub[TCA_U32_SEL]) < (int)sizeof(sel))
		return -ENOENT;
	/* the match: [dst,] L4 protocol[, not a fragment] */
	memcpy(&sel, nla_data(ub[TCA_U32_SEL]), sizeof(sel));
	nkeys = sel.nkeys;
	if (!(sel.flags & TC_U32_TERMINAL) || nkeys < 1 || nkeys > 6 ||
	    nla_len(ub[TCA_U32_SEL]) < (int)(sizeof(sel) + (size_t)nkeys * sizeof(k[0])))
		return -ENOENT;
	memcpy(k, (const char *)nla_data(ub[TCA_U32_SEL]) + sizeof(sel), (size_t)nkeys * sizeof(k[0]));
	memset(&r, 0, sizeof(r));
	if (family == AF_INET) {
		ndst = nkeys == 3 ? 1 : 0;
		if (nkeys - ndst != 2)
			return -ENOENT;
		if (ndst) {
			if (k[0].mask != 0xffffffff || k[0].off != IP4_DST_OFF || k[0].offmask)
				return -ENOENT;
			r.dst.family = AF_INET;
			r.dst.u.v4.s_addr = k[0].val;
		}
		proto = (int)(ntohl(k[ndst].val) >> 16) & 0xff;
		if (!key_is(&k[ndst], IP4_PROTO_MASK, (uint32_t)proto << 16, IP4_PROTO_WORD) ||
		    !key_is(&k[ndst + 1], IP4_FRAG_MASK, 0, IP4_FRAG_WORD))
			return -ENOENT;
	} else {
		ndst = nkeys == 5 ? 4 : 0;
		if (nkeys - ndst != 1)
			return -ENOENT;
		for (int i = 0; i < ndst; i++) {
			if (k[i].mask != 0xffffffff || k[i].off != IP6_DST_OFF + 4 * i || k[i].offmask)
				return -ENOENT;
			memcpy(&r.dst.u.v6.s6_addr[4 * i], &k[i].val, 4);
		}
		if (ndst)
			r.dst.family = AF_INET6;
		proto = (int)(ntohl(k[ndst].val) >> 8) & 0xff;
		if (!key_is(&k[ndst], IP6_NEXTHDR_MASK, (uint32_t)proto << 8, IP6_NEXTHDR_WORD))
			return -ENOENT;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return -ENOENT;

	/* the actions: pedit (one key, pipe), csum (continue), nothing else */
	if (nested(acts, TCA_ACT_MAX_PRIO, ub[TCA_U32_ACT]) < 0 || acts[3] ||
	    action_at(acts, 1, "pedit", pb, TCA_PEDIT_MAX) < 0 ||
	    action_at(acts, 2, "csum", cb, TCA_CSUM_MAX) < 0)
		return -ENOENT;
	parms = pb[TCA_PEDIT_PARMS_EX] ? pb[TCA_PEDIT_PARMS_EX] : pb[TCA_PEDIT_PARMS];
	if (!parms || nla_len(parms) < (int)(sizeof(ps) + sizeof(pk)) || !pb[TCA_PEDIT_KEYS_EX])
		return -ENOENT;
	memcpy(&ps, nla_data(parms), sizeof(ps));
	memcpy(&pk, (const char *)nla_data(parms) + sizeof(ps), sizeof(pk));
	if (ps.nkeys != 1 || ps.action != TC_ACT_PIPE || key_byte(&pk, &r.offset, &r.value) < 0)
		return -ENOENT;
	keys = pb[TCA_PEDIT_KEYS_EX];
	nla_for_each_nested(ka, keys, rem) {
		if (nla_type(ka) != TCA_PEDIT_KEY_EX || nested(kb, TCA_PEDIT_KEY_EX_MAX, ka) < 0 ||
		    !kb[TCA_PEDIT_KEY_EX_HTYPE] || !kb[TCA_PEDIT_KEY_EX_CMD])
			return -ENOENT;
		htype = nla_get_u16(kb[TCA_PEDIT_KEY_EX_HTYPE]);
		cmd = nla_get_u16(kb[TCA_PEDIT_KEY_EX_CMD]);
		nex++;
	}
	if (nex != 1 || cmd != TCA_PEDIT_KEY_EX_CMD_SET ||
	    htype != (proto == IPPROTO_TCP ? TCA_PEDIT_KEY_EX_HDR_TYPE_TCP
					   : TCA_PEDIT_KEY_EX_HDR_TYPE_UDP))
		return -ENOENT;
	if (!cb[TCA_CSUM_PARMS] || nla_len(cb[TCA_CSUM_PARMS]) < (int)sizeof(cs))
		return -ENOENT;
	memcpy(&cs, nla_data(cb[TCA_CSUM_PARMS]), sizeof(cs));
	if (cs.action != TC_ACT_UNSPEC)
		return -ENOENT;
	*t = r;
	*l4 = proto;
	*csum_flags = cs.update_flags;
	return 0;
}
