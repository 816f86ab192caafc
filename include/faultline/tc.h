/* Traffic control on one egress interface, through libnl only: per-peer
 * netem "shapes" and partition drops, described as one desired state that
 * fl_tc_apply() makes the kernel hold. Never runs tc or ip, never logs, and
 * never lets a change between two partitions pass through full connectivity.
 *
 * Layout the kernel is made to hold (handles are fixed, so a read-back or a
 * second process can recognise it):
 *
 *   prio 1: root, FL_TC_BANDS bands, priomap: every priority -> the default
 *   │        band (1:1, or the band of the shape without peers)
 *   ├─ 1:1        plain band (the default qdisc prio gives it)
 *   ├─ 1:(s+2)    netem, handle fl_tc_netem_handle(s, distribution), shape s
 *   └─ filters on 1:, u32, evaluated by priority:
 *        prio 10 (ip) / 11 (ipv6)  dst == blocked address -> gact drop
 *        prio 15 (ip) / 16 (ipv6)  [dst == a tamper rule's peer,] L4 == tcp
 *                                  or udp, not a fragment -> pedit (pipe)
 *                                  -> csum (continue): see "Tampering"
 *        prio 20 (ip) / 21 (ipv6)  dst == a shape's peer  -> flowid 1:(s+2)
 *
 * Why this shape:
 * - Drops sit at priorities below every steering filter, so a blocked
 *   address is dropped whatever shape also names it (and before any
 *   tampering).
 * - The band count is fixed (16, prio's maximum), so once the root exists no
 *   later change ever touches it except its priomap; the root is removed
 *   only by fl_tc_clear() (or by applying the empty state).
 * - 1:1 is prio's first band: traffic toward peers without a fault is
 *   dequeued before the faulty bands and sees no added delay from them.
 * - Changing state is a diff against what the kernel holds: new drop
 *   filters are added before old ones are deleted (so switching from one
 *   partition to another never has a window where both are open), netems are
 *   changed in place (their queued packets are kept), and the distribution
 *   is part of the netem handle (the kernel never reports its table, and an
 *   in-place change cannot remove one), so a new distribution means a new
 *   qdisc grafted in atomically.
 * - The kernel keeps netem's correlation/reorder/corrupt/rate settings on an
 *   in-place change when the request omits them; libnl omits zero values, so
 *   fl_tc_netem_msg() always appends them explicitly.
 *
 * Shapes do not stack: a destination takes the one shape that names it
 * (naming it in two is refused), else the shape without peers, else the
 * plain band. Callers merge netem parameters per destination before calling
 * (scenario validation refuses two faults setting the same parameter on the
 * same link). Only IP traffic is steered or dropped: ARP and neighbour
 * discovery to multicast addresses pass (a shape without peers also takes
 * them, through the priomap). Shape s keeps
 * band 1:(s+2) across calls: keep the order of shapes stable from one call
 * to the next, or a peer may for a moment see a neighbour's parameters.
 *
 * Removing a netem (fl_tc_clear, or a shape that goes away) drops the
 * packets it was still delaying, as `tc qdisc del` does.
 *
 * Tampering (Byzantine payloads, struct fl_tc_tamper): per rule, address
 * family and L4 protocol one u32 filter matching [the destination,] the
 * protocol (TCP or UDP; the IPv6 header's next header, so IPv6 packets with
 * extension headers are not matched) and, for IPv4, "not a fragment"
 * (fragments pass untouched: their checksums could not be made right). Its
 * actions, as raw attributes (libnl 3.7 knows neither): act_pedit sets one
 * byte, then act_csum recomputes the IPv4 header, TCP and UDP checksums so
 * the receiver accepts the packet.
 * - Where the byte is: `offset` bytes into the IP payload, i.e. from the
 *   first byte of the TCP/UDP header (a UDP payload's byte k is offset
 *   8 + k). pedit's layered "tcp"/"udp" header types address it: the kernel
 *   finds the start from the IPv4 header length (options included) or the
 *   IPv6 header chain (kernels with 2023's "act_pedit: Parse L3 Header for
 *   L4 offset"), or from the packet's transport header (older kernels: the
 *   same place for packets this host sends). No fixed 20-byte IPv4 header is assumed. (pedit's
 *   legacy at/offmask/shift cannot do it: it reads the IHL nibble but can
 *   only shift right, so IHL x 4 is out of reach.)
 * - pedit edits the aligned 32-bit word holding the byte (mask keeps the
 *   other three): a packet whose IP payload ends before that word does
 *   (shorter than (offset & ~3) + 4 bytes) passes untouched.
 * - A TCP GSO super-packet (segmentation offload) is edited once, so only
 *   its first segment carries the byte; act_csum leaves GSO packets to the
 *   segmentation, which computes their checksums anyway.
 * - Combining with netem: csum's verdict is "continue" (TC_ACT_UNSPEC),
 *   not "ok", so classification goes on after the tampering: the steering
 *   filters (or the priomap) still put the packet in its destination's
 *   band, and tampering and a netem shape toward the same peer combine
 *   (tampered first, then delayed, lost, corrupted...). A packet several
 *   rules match gets all of them, in the order the kernel holds them;
 *   fl_tc_state_check refuses two rules that set one byte of one
 *   destination's packets to different values.
 *
 * Functions return 0 or -errno (the kernel's own errno when it refused a
 * request; libnl's -NLE_* codes never leave this module) and, on failure
 * only, fill the struct fl_tc_err when one is given.
 *
 * Sockets: one blocking nl_sock per calling thread, NETLINK_ROUTE, in the
 * interface's network namespace, passed in. Use fl_tc_socket_new(), which
 * turns on extended acks (the kernel's error text) and a receive time limit,
 * so no call waits for an ACK forever. The caller's callbacks on the socket
 * are left as they are (each exchange uses a clone).
 */
#ifndef FAULTLINE_TC_H
#define FAULTLINE_TC_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <linux/tc_act/tc_csum.h>

#include "faultline/netem.h"
#include "faultline/nlerr.h"

struct nl_sock;
struct nl_msg;
struct rtnl_qdisc;
struct rtnl_cls;

#define FL_TC_BANDS 16                  /* prio's maximum (TCQ_PRIO_BANDS) */
#define FL_TC_MAX_SHAPES (FL_TC_BANDS - 1)
#define FL_TC_MAX_ADDRS 512             /* per list: blocked, or one shape's peers */
#define FL_TC_ROOT_MAJOR 1
#define FL_TC_PRIO_DROP4 10
#define FL_TC_PRIO_DROP6 11
#define FL_TC_PRIO_TAMPER4 15
#define FL_TC_PRIO_TAMPER6 16
#define FL_TC_MAX_TAMPERS 64            /* tamper rules per interface */
/* an IPv4 packet carries at most 65515 bytes of payload, and pedit edits
 * the aligned 32-bit word that holds the byte */
#define FL_TC_MAX_TAMPER_OFFSET 65511u
#define FL_TC_PRIO_STEER4 20
#define FL_TC_PRIO_STEER6 21
/* netem takes latency and jitter in 32-bit ticks of 64 ns through libnl */
#define FL_TC_MAX_DELAY_NS (274LL * 1000000000LL)
/* "a busy link" when netem has no rate of its own: 1 Gbit/s */
#define FL_TC_BUSY_LINK_BPS 125000000ULL
#define FL_TC_AVG_PACKET 512u           /* bytes, for sizing netem's queue */
#define FL_TC_MIN_LIMIT 1000u           /* netem's own default */
#define FL_TC_MAX_LIMIT 1000000u

struct fl_tc_addr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

struct fl_tc_shape {
	struct fl_netem netem;
	const struct fl_tc_addr *peers; /* traffic toward these; none = all traffic */
	size_t npeers;
};

/* Set the byte `offset` bytes into the IP payload (from the TCP/UDP
 * header's first byte) of TCP and UDP packets toward dst to value, checksums
 * kept valid ("Tampering" above). */
struct fl_tc_tamper {
	struct fl_tc_addr dst; /* AF_INET, AF_INET6, or AF_UNSPEC: every
				* destination, IPv4 and IPv6 */
	uint32_t offset;       /* at most FL_TC_MAX_TAMPER_OFFSET */
	uint8_t value;
};

/* What one egress interface should hold. Arrays are borrowed. */
struct fl_tc_state {
	const struct fl_tc_addr *blocked; /* partition: drop packets to these */
	size_t nblocked;
	const struct fl_tc_shape *shapes;
	size_t nshapes;                   /* at most FL_TC_MAX_SHAPES */
	const struct fl_tc_tamper *tampers; /* identical rules count once */
	size_t ntampers;                  /* at most FL_TC_MAX_TAMPERS */
};

/* Filled only on failure. msg names the request first, then why:
 * "add filter u32 dst 10.0.0.2 action drop on ifindex 4: invalid argument
 * (kernel: 'Specified qdisc not found')". */
struct fl_tc_err {
	char msg[512];
	char kernel[256]; /* the kernel's extended-ack text, "" when none */
};

/* --- kernel requests (need CAP_NET_ADMIN in the interface's namespace) --- */

/* A NETLINK_ROUTE socket for the calling thread's network namespace, with
 * extended acks and a 5 s time limit on every answer. */
int fl_tc_socket_new(struct nl_sock **out, struct fl_tc_err *err);
void fl_tc_socket_free(struct nl_sock *sk);

/* Make ifindex's egress hold exactly st (see the layout above); the empty
 * state is fl_tc_clear(). st is validated and every request built before
 * the first is sent. The order of requests: root (only when not ours
 * already), netems, new drops, new steering, new tampering, priomap, old
 * tampering, old steering, old drops, netems of shapes gone. A filter
 * already there as wanted is kept (a tamper rule's filters are matched on
 * destination, offset and value). So on failure midway the kernel holds part
 * of the new state over the old one, and every address blocked by either
 * state is still blocked; apply again, or fl_tc_clear(). A root qdisc that
 * is not ours is replaced, except one holding our handle 1: (-EINVAL, the
 * kernel's "Invalid qdisc name"). */
int fl_tc_apply(struct nl_sock *sk, int ifindex, const struct fl_tc_state *st,
		struct fl_tc_err *err);

/* Remove our root qdisc (and with it every filter and netem). Nothing there,
 * or someone else's root, is success: clearing twice is clearing once. */
int fl_tc_clear(struct nl_sock *sk, int ifindex, struct fl_tc_err *err);

/* What the kernel holds on ifindex's egress, for "after applying, read back
 * and report":
 *   {"ifindex": 4,
 *    "qdiscs": [{"kind": "prio", "handle": "1:", "parent": "root", "bands": 16,
 *                "priomap": [0, ...]},
 *               {"kind": "netem", "handle": "10:", "parent": "1:2", "limit": 1000,
 *                "latency_ns": 100000000, "jitter_ns": 10000000,
 *                "latency_correlation": 0, "distribution": "normal", "loss": 20, ...}],
 *    "filters": [{"parent": "1:", "prio": 10, "protocol": "ip", "handle": "800::800",
 *                 "kind": "u32", "dst": "10.0.0.2", "action": "drop"},
 *                {... "prio": 20, "dst": "10.0.0.3", "flowid": "1:2"},
 *                {... "prio": 15, "dst": "10.0.0.3", "l4": "udp", "action": "tamper",
 *                 "offset": 49, "value": 165, "csum": ["iph", "tcp", "udp"]}]}
 * Percentages are read back from the kernel's 32-bit fractions. "distribution"
 * appears only on our own netems (the kernel does not report the table; our
 * handle says which one we loaded). Filters that are not ours appear with
 * their raw u32 "keys". A tamper filter's "dst" is "all" when its rule has
 * none; its offset and value are read back from the kernel's pedit key. */
int fl_tc_read(struct nl_sock *sk, int ifindex, json_t **out, struct fl_tc_err *err);

/* --- validation and builders: pure, no socket, no root ------------------- */

/* Everything fl_tc_apply refuses before touching the kernel: families,
 * counts, an address in two shapes, two shapes without peers, netem values
 * out of range, a tamper offset out of range, two tamper rules setting one
 * byte toward one destination (or toward all) to different values. -EINVAL
 * (-ERANGE for an offset, -E2BIG for too many entries). */
int fl_tc_state_check(const struct fl_tc_state *st, struct fl_tc_err *err);
int fl_tc_netem_check(const struct fl_netem *nm, struct fl_tc_err *err);

/* netem's queue length: nm->limit when set, else enough packets for a busy
 * link (nm's rate, or FL_TC_BUSY_LINK_BPS) over the longest delay
 * (latency + 4 jitter, + 100 ms of queue when a rate is set), in
 * FL_TC_AVG_PACKET-byte packets, within [FL_TC_MIN_LIMIT, FL_TC_MAX_LIMIT]. */
uint32_t fl_tc_netem_limit(const struct fl_netem *nm);

/* classid of band b (0-based): 1:(b+1). Shape s lives in band s+1. */
uint32_t fl_tc_band_classid(unsigned band);
/* Handle of shape s's netem: major (s+1)*16 + a distribution code. */
uint32_t fl_tc_netem_handle(unsigned slot, enum fl_distribution d);
/* Inverse of the above for a handle of ours: 0, or -ENOENT. */
int fl_tc_netem_handle_parse(uint32_t handle, unsigned *slot, enum fl_distribution *d);

/* iproute2's netem tables (netem/normal.c, pareto.c, paretonormal.c),
 * computed: 4096 values scaled by NETEM_DIST_SCALE. NONE and UNIFORM have
 * no table (netem's own uniform jitter): -ENOENT. *out is malloc'd. */
int fl_tc_dist_table(enum fl_distribution d, int16_t **out, size_t *n);

/* The root: prio 1:, FL_TC_BANDS bands, every priority to default_band. */
int fl_tc_build_root(int ifindex, unsigned default_band, struct rtnl_qdisc **out,
		     struct fl_tc_err *err);

/* Shape `slot`'s netem, in band slot+1, with every value of nm (delays in
 * libnl's microseconds, probabilities as the kernel's 32-bit fractions via
 * fl_percent_to_u32). The handle names the distribution; the table itself
 * and the rate are not in the object: fl_tc_netem_msg() adds them (libnl
 * 3.7 has no netem rate, and with a table in the object it miscounts the
 * message length and sends bytes past its buffer). */
int fl_tc_build_netem(int ifindex, unsigned slot, const struct fl_netem *nm,
		      struct rtnl_qdisc **out, struct fl_tc_err *err);

/* The RTM_NEWQDISC request for q (from fl_tc_build_netem with the same nm),
 * nlm_flags as given (e.g. NLM_F_CREATE | NLM_F_REPLACE): libnl's message,
 * trimmed of the stray bytes libnl 3.7 leaves behind nested attributes, plus
 * TCA_NETEM_DELAY_DIST, TCA_NETEM_RATE(64) and explicit zero
 * TCA_NETEM_CORR/REORDER/CORRUPT where libnl leaves them out. */
int fl_tc_netem_msg(struct rtnl_qdisc *q, const struct fl_netem *nm, int nlm_flags,
		    struct nl_msg **out, struct fl_tc_err *err);

/* u32 filter on 1: matching dst (IPv4: offset 16; IPv6: 24, 28, 32, 36),
 * with a gact TC_ACT_SHOT action (drop), or steering into shape slot's band. */
int fl_tc_build_drop(int ifindex, const struct fl_tc_addr *dst, struct rtnl_cls **out,
		     struct fl_tc_err *err);
int fl_tc_build_steer(int ifindex, const struct fl_tc_addr *dst, unsigned slot,
		      struct rtnl_cls **out, struct fl_tc_err *err);

/* The destination address a u32 filter matches, when its keys are exactly
 * one of ours: 0, or -ENOENT. */
int fl_tc_cls_dst(struct rtnl_cls *c, struct fl_tc_addr *out);

/* --- tampering (injectors/tamper.c) --- */

struct tc_pedit_key; /* <linux/tc_act/tc_pedit.h> */

/* pedit's key for "byte `offset` of the header := value": the aligned
 * 32-bit word at offset & ~3, mask keeping the other three bytes, val the
 * new one, both in network byte order as the kernel applies them to the
 * word as it lies in the packet: word = (word & mask) ^ val. -ERANGE past
 * FL_TC_MAX_TAMPER_OFFSET. */
int fl_tc_tamper_key(uint32_t offset, uint8_t value, struct tc_pedit_key *out);

/* The csum action's update flags: IPv4 header, TCP, UDP. */
#define FL_TC_TAMPER_CSUM_FLAGS                                                         \
	((uint32_t)(TCA_CSUM_UPDATE_FLAG_IPV4HDR | TCA_CSUM_UPDATE_FLAG_TCP |            \
		    TCA_CSUM_UPDATE_FLAG_UDP))

/* The RTM_NEWTFILTER request (NLM_F_CREATE | NLM_F_EXCL) for rule t on
 * family (AF_INET or AF_INET6; t->dst's, unless it is AF_UNSPEC) and l4
 * (IPPROTO_TCP or IPPROTO_UDP): u32 on 1: at FL_TC_PRIO_TAMPER4/6, terminal,
 * keys [dst,] L4 protocol[, IPv4: no fragment], no flowid; libnl builds
 * that, and the actions are appended inside its TCA_OPTIONS:
 *   TCA_U32_ACT { 1 { TCA_ACT_KIND "pedit", TCA_ACT_OPTIONS {
 *                       TCA_PEDIT_PARMS_EX (tc_pedit_sel, 1 key, pipe),
 *                       TCA_PEDIT_KEYS_EX { TCA_PEDIT_KEY_EX {
 *                         HTYPE tcp|udp (as l4), CMD set } } } },
 *                 2 { TCA_ACT_KIND "csum", TCA_ACT_OPTIONS {
 *                       TCA_CSUM_PARMS (tc_csum: FL_TC_TAMPER_CSUM_FLAGS,
 *                       continue) } } } */
int fl_tc_tamper_msg(int ifindex, const struct fl_tc_tamper *t, int family, int l4,
		     struct nl_msg **out, struct fl_tc_err *err);

/* A u32 filter's TCA_OPTIONS as the kernel reports them, for a filter of
 * protocol ETH_P_IP or ETH_P_IPV6: when it is exactly one of our tamper
 * filters, 0 with the rule (dst AF_UNSPEC when it matches every
 * destination), the L4 protocol and the csum flags; else -ENOENT. */
int fl_tc_tamper_parse(const void *opts, size_t len, uint16_t protocol, struct fl_tc_tamper *t,
		       int *l4, uint32_t *csum_flags);

/* Two rules' destinations are the same (AF_UNSPEC equals AF_UNSPEC). */
int fl_tc_tamper_dst_equal(const struct fl_tc_addr *a, const struct fl_tc_addr *b);

/* netem's TCA_OPTIONS as the kernel reports them (or as we send them). */
struct fl_tc_netem_kernel {
	uint32_t limit, gap;
	int64_t latency_ns, jitter_ns;
	/* the kernel's 32-bit fractions */
	uint32_t loss, duplicate, reorder, corrupt;
	uint32_t delay_corr, loss_corr, duplicate_corr, reorder_corr, corrupt_corr;
	uint64_t rate_bps; /* bytes per second, 0 = none */
};
int fl_tc_netem_parse(const void *opts, size_t len, struct fl_tc_netem_kernel *out);

/* One netlink exchange, the one way every tc request of faultline (the
 * agent's and doctor's probes) is made: always asks for the ACK, waits for
 * it within the socket's time limit, and keeps the kernel's exact errno
 * and extended-ack text. */
struct fl_nl_answer {
	int done;
	int kerr;       /* the kernel's -errno, exact (libnl's codes are lossy) */
	char ext[256];  /* its extended-ack text */
};
struct nl_msg;
struct nl_cb;
/* Send msg and wait for its ACK; on failure err says what + why (+ a hint
 * that module may be missing from the kernel, when given). 0 or -errno. */
int fl_tc_talk(struct nl_sock *sk, struct nl_msg *msg, const char *what, const char *module,
	       struct fl_tc_err *err);
/* The callbacks of one exchange on sk (its own, cloned, plus the ACK and
 * error handlers filling a); for dumps that add their own NL_CB_VALID. */
struct nl_cb *fl_tc_exchange_cb(struct nl_sock *sk, struct fl_nl_answer *a);
/* "<what>: <reason> (kernel: '<text>')[; is module '<m>' missing ...]"
 * into err (when not NULL); returns code. */
int fl_tc_fail_code(struct fl_tc_err *err, int code, const char *what, const char *kernel,
		    const char *module);

/* Fill err (when not NULL) with our own message; kernel text empty. */
void fl_tc_fail(struct fl_tc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appending our own attributes inside TCA_OPTIONS of a tc message libnl
 * built (it must be libnl's last attribute; libnl 3.7 leaves zero bytes
 * after it, which are cut): *off its offset, or -EPROTO when libnl's
 * layout is not that (err says so, after what). After appending,
 * fl_tc_options_close() stretches TCA_OPTIONS to the message's end. */
int fl_tc_options_open(struct nl_msg *msg, size_t *off, const char *what, struct fl_tc_err *err);
void fl_tc_options_close(struct nl_msg *msg, size_t off);

/* "10.0.0.2", "fd00::2". -EINVAL when it is neither. */
int fl_tc_addr_parse(const char *s, struct fl_tc_addr *out);
const char *fl_tc_addr_format(const struct fl_tc_addr *a, char *buf, size_t len);
int fl_tc_addr_equal(const struct fl_tc_addr *a, const struct fl_tc_addr *b);

#endif
