/* libnl at the boundary: cleanup helpers for its handles; its errors: fl_nl_errno maps -NLE_* to -errno (one
 * map for the agent, the netns provider and doctor). And the kernel's
 * extended-ack text of a netlink error ("Specified qdisc kind is
 * unknown"): libnl 3.7 has no API for it, so every error callback of ours
 * (traffic control, the netns provider, doctor) picks it out with this. */
#ifndef FAULTLINE_NLERR_H
#define FAULTLINE_NLERR_H

#include <stddef.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/route/action.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>

#include "faultline/cleanup.h"

struct nlmsgerr;

/* Copy the NLMSGERR_ATTR_MSG text of e (the error payload libnl hands to an
 * NL_CB_ERR callback) into buf; "" when the kernel gave none. */
void fl_nl_ext_ack(const struct nlmsgerr *e, char *buf, size_t len);

/* libnl's -NLE_* codes clash with errno numerically: the one translation,
 * used everywhere a libnl call returns (-EIO for codes without a match;
 * NLE_AGAIN is -ETIMEDOUT: our sockets block with a time limit). */
int fl_nl_errno(int nle);

/* _cleanup_ helpers for the libnl handles we own (cleanup.h). */
static inline void msg_freep(struct nl_msg **m) { if (*m) nlmsg_free(*m); }
static inline void cb_putp(struct nl_cb **c) { if (*c) nl_cb_put(*c); }
static inline void cache_freep(struct nl_cache **c) { if (*c) nl_cache_free(*c); }
static inline void qdisc_putp(struct rtnl_qdisc **q) { if (*q) rtnl_qdisc_put(*q); }
static inline void cls_putp(struct rtnl_cls **c) { if (*c) rtnl_cls_put(*c); }
static inline void link_putp(struct rtnl_link **l) { if (*l) rtnl_link_put(*l); }
static inline void addr_putp(struct rtnl_addr **a) { if (*a) rtnl_addr_put(*a); }
static inline void nladdr_putp(struct nl_addr **a) { if (*a) nl_addr_put(*a); }
static inline void act_putp(struct rtnl_act **a) { if (*a) rtnl_act_put(*a); }

#endif
