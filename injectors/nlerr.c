/* Extended-ack text from a netlink error message (see nlerr.h). */
#include "faultline/nlerr.h"

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <stdio.h>

void fl_nl_ext_ack(const struct nlmsgerr *e, char *buf, size_t len)
{
	const struct nlmsghdr *h = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int total = (int)h->nlmsg_len - NLMSG_HDRLEN;
	int off = sizeof(*e);

	buf[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += (int)e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= total ||
	    nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off), total - off, NULL) < 0)
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(buf, len, "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
}
