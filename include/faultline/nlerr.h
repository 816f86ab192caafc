/* libnl's errors at the boundary: fl_nl_errno maps -NLE_* to -errno (one
 * map for the agent, the netns provider and doctor). And the kernel's
 * extended-ack text of a netlink error ("Specified qdisc kind is
 * unknown"): libnl 3.7 has no API for it, so every error callback of ours
 * (traffic control, the netns provider, doctor) picks it out with this. */
#ifndef FAULTLINE_NLERR_H
#define FAULTLINE_NLERR_H

#include <stddef.h>

struct nlmsgerr;

/* Copy the NLMSGERR_ATTR_MSG text of e (the error payload libnl hands to an
 * NL_CB_ERR callback) into buf; "" when the kernel gave none. */
void fl_nl_ext_ack(const struct nlmsgerr *e, char *buf, size_t len);

/* libnl's -NLE_* codes clash with errno numerically: the one translation,
 * used everywhere a libnl call returns (-EIO for codes without a match;
 * NLE_AGAIN is -ETIMEDOUT: our sockets block with a time limit). */
int fl_nl_errno(int nle);

#endif
