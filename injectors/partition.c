/* The u32 filters of the tc layout: a destination address matched in the IP
 * header, then either a gact drop (a partition) or a flowid steering into a
 * shape's netem band. Pure: builds and reads libnl objects, never sends. */
#include "faultline/tc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <netlink/netlink.h>
#include <netlink/route/act/gact.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/tc.h>

#define IP4_DST_OFF 16 /* in the IPv4 header */
#define IP6_DST_OFF 24 /* in the IPv6 header: four 32-bit words */


int fl_tc_addr_parse(const char *s, struct fl_tc_addr *out)
{
	struct fl_tc_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.u.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.u.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*out = a;
	return 0;
}

const char *fl_tc_addr_format(const struct fl_tc_addr *a, char *buf, size_t len)
{
	if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
	    !inet_ntop(a->family, &a->u, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

int fl_tc_addr_equal(const struct fl_tc_addr *a, const struct fl_tc_addr *b)
{
	if (a->family != b->family)
		return 0;
	if (a->family == AF_INET)
		return a->u.v4.s_addr == b->u.v4.s_addr;
	return memcmp(&a->u.v6, &b->u.v6, sizeof(a->u.v6)) == 0;
}

/* u32 on 1:, exact match on the destination address, terminal. */
static int u32_dst(int ifindex, const struct fl_tc_addr *dst, int drop, struct rtnl_cls **out,
		   struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = NULL;
	char a[INET6_ADDRSTRLEN];
	int e;

	fl_tc_addr_format(dst, a, sizeof(a));
	if (dst->family != AF_INET && dst->family != AF_INET6) {
		fl_tc_fail(err, "filter dst: address family %d is neither IPv4 nor IPv6", dst->family);
		return -EAFNOSUPPORT;
	}
	c = rtnl_cls_alloc();
	if (!c) {
		fl_tc_fail(err, "build filter u32 dst %s: out of memory", a);
		return -ENOMEM;
	}
	rtnl_tc_set_ifindex(TC_CAST(c), ifindex);
	rtnl_tc_set_parent(TC_CAST(c), TC_HANDLE(FL_TC_ROOT_MAJOR, 0));
	e = rtnl_tc_set_kind(TC_CAST(c), "u32");
	if (e >= 0 && dst->family == AF_INET) {
		struct in_addr v4 = dst->u.v4;

		rtnl_cls_set_protocol(c, ETH_P_IP);
		rtnl_cls_set_prio(c, drop ? FL_TC_PRIO_DROP4 : FL_TC_PRIO_STEER4);
		e = rtnl_u32_add_key_in_addr(c, &v4, 32, IP4_DST_OFF, 0);
	} else if (e >= 0) {
		struct in6_addr v6 = dst->u.v6;

		rtnl_cls_set_protocol(c, ETH_P_IPV6);
		rtnl_cls_set_prio(c, drop ? FL_TC_PRIO_DROP6 : FL_TC_PRIO_STEER6);
		e = rtnl_u32_add_key_in6_addr(c, &v6, 128, IP6_DST_OFF, 0);
	}
	if (e >= 0)
		e = rtnl_u32_set_cls_terminal(c);
	if (e < 0) {
		fl_tc_fail(err, "build filter u32 dst %s: %s", a, nl_geterror(e));
		return fl_nl_errno(e);
	}
	*out = c;
	c = NULL;
	return 0;
}

int fl_tc_build_drop(int ifindex, const struct fl_tc_addr *dst, struct rtnl_cls **out,
		     struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = NULL;
	_cleanup_(act_putp) struct rtnl_act *act = NULL;
	char a[INET6_ADDRSTRLEN];
	int e;

	e = u32_dst(ifindex, dst, 1, &c, err);
	if (e < 0)
		return e;
	act = rtnl_act_alloc();
	if (!act) {
		fl_tc_fail(err, "build action gact drop for dst %s: out of memory",
		     fl_tc_addr_format(dst, a, sizeof(a)));
		return -ENOMEM;
	}
	e = rtnl_tc_set_kind(TC_CAST(act), "gact");
	if (e >= 0)
		e = rtnl_gact_set_action(act, TC_ACT_SHOT);
	if (e >= 0)
		e = rtnl_u32_add_action(c, act); /* takes its own reference */
	if (e < 0) {
		fl_tc_fail(err, "build action gact drop for dst %s: %s",
		     fl_tc_addr_format(dst, a, sizeof(a)), nl_geterror(e));
		return fl_nl_errno(e);
	}
	*out = c;
	c = NULL;
	return 0;
}

int fl_tc_build_steer(int ifindex, const struct fl_tc_addr *dst, unsigned slot,
		      struct rtnl_cls **out, struct fl_tc_err *err)
{
	_cleanup_(cls_putp) struct rtnl_cls *c = NULL;
	char a[INET6_ADDRSTRLEN];
	int e;

	if (slot >= FL_TC_MAX_SHAPES) {
		fl_tc_fail(err, "filter dst %s: shape %u does not exist (at most %d)",
		     fl_tc_addr_format(dst, a, sizeof(a)), slot, FL_TC_MAX_SHAPES);
		return -E2BIG;
	}
	e = u32_dst(ifindex, dst, 0, &c, err);
	if (e < 0)
		return e;
	e = rtnl_u32_set_classid(c, fl_tc_band_classid(slot + 1));
	if (e < 0) {
		fl_tc_fail(err, "build filter u32 dst %s: %s", fl_tc_addr_format(dst, a, sizeof(a)),
		     nl_geterror(e));
		return fl_nl_errno(e);
	}
	*out = c;
	c = NULL;
	return 0;
}

int fl_tc_cls_dst(struct rtnl_cls *c, struct fl_tc_addr *out)
{
	struct fl_tc_addr a;
	uint32_t val, mask;
	int off, offmask, nkeys = 0, want, base;
	const char *kind = rtnl_tc_get_kind(TC_CAST(c));

	if (!kind || strcmp(kind, "u32") != 0)
		return -ENOENT;
	memset(&a, 0, sizeof(a));
	switch (rtnl_cls_get_protocol(c)) {
	case ETH_P_IP:
		a.family = AF_INET;
		want = 1;
		base = IP4_DST_OFF;
		break;
	case ETH_P_IPV6:
		a.family = AF_INET6;
		want = 4;
		base = IP6_DST_OFF;
		break;
	default:
		return -ENOENT;
	}
	while (nkeys < 8 && rtnl_u32_get_key(c, (uint8_t)nkeys, &val, &mask, &off, &offmask) >= 0) {
		if (nkeys >= want || mask != 0xffffffff || offmask || off != base + 4 * nkeys)
			return -ENOENT;
		if (a.family == AF_INET)
			a.u.v4.s_addr = val;
		else
			memcpy(&a.u.v6.s6_addr[4 * nkeys], &val, 4);
		nkeys++;
	}
	if (nkeys != want)
		return -ENOENT;
	*out = a;
	return 0;
}
