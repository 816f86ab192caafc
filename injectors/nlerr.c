/* libnl at its boundary (see nlerr.h): its error codes as -errno, the
 * kernel's extended-ack text. */
#include "faultline/nlerr.h"

#include <errno.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
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

int fl_nl_errno(int nlerr)
{
	static const int map[][2] = {
		{ NLE_SUCCESS, 0 },
		{ NLE_FAILURE, EIO },
		{ NLE_INTR, EINTR },
		{ NLE_BAD_SOCK, EBADF },
		{ NLE_AGAIN, ETIMEDOUT }, /* our sockets block with a time limit */
		{ NLE_NOMEM, ENOMEM },
		{ NLE_EXIST, EEXIST },
		{ NLE_INVAL, EINVAL },
		{ NLE_RANGE, ERANGE },
		{ NLE_MSGSIZE, EMSGSIZE },
		{ NLE_OPNOTSUPP, EOPNOTSUPP },
		{ NLE_AF_NOSUPPORT, EAFNOSUPPORT },
		{ NLE_OBJ_NOTFOUND, ENOENT },
		{ NLE_NOATTR, ENODATA },
		{ NLE_MISSING_ATTR, EINVAL },
		{ NLE_AF_MISMATCH, EINVAL },
		{ NLE_SEQ_MISMATCH, EPROTO },
		{ NLE_MSG_OVERFLOW, EOVERFLOW },
		{ NLE_MSG_TRUNC, EMSGSIZE },
		{ NLE_NOADDR, EADDRNOTAVAIL },
		{ NLE_SRCRT_NOSUPPORT, EOPNOTSUPP },
		{ NLE_MSG_TOOSHORT, EPROTO },
		{ NLE_MSGTYPE_NOSUPPORT, EOPNOTSUPP },
		{ NLE_OBJ_MISMATCH, EINVAL },
		{ NLE_NOCACHE, ENOENT },
		{ NLE_BUSY, EBUSY },
		{ NLE_PROTO_MISMATCH, EPROTONOSUPPORT },
		{ NLE_NOACCESS, EACCES },
		{ NLE_PERM, EPERM },
		{ NLE_PKTLOC_FILE, ENOENT },
		{ NLE_PARSE_ERR, EPROTO },
		{ NLE_NODEV, ENODEV },
		{ NLE_IMMUTABLE, EPERM },
		{ NLE_DUMP_INTR, EAGAIN },
		{ NLE_ATTRSIZE, EINVAL },
	};
	int e = nlerr < 0 ? -nlerr : nlerr;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i][0] == e)
			return -map[i][1];
	return -EIO;
}
