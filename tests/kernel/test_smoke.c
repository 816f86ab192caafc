/*
 * tests/kernel/test_smoke.c: does the running kernel have the tc pieces the
 * injectors need (sch_prio, sch_netem, cls_u32, act_gact, veth)? One cmocka
 * test per module, through libnl exactly as the agent uses it, each reading
 * back what the kernel holds. Runs in a private network namespace and must
 * never touch the host's own; skips when it cannot make one (not root).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/tc.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/prio.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/action.h>
#include <netlink/route/act/gact.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static void sock_freep(struct nl_sock **p) { if (*p) nl_socket_free(*p); }
static void cache_freep(struct nl_cache **p) { if (*p) nl_cache_free(*p); }
static void link_putp(struct rtnl_link **p) { if (*p) rtnl_link_put(*p); }
static void qdisc_putp(struct rtnl_qdisc **p) { if (*p) rtnl_qdisc_put(*p); }
static void cls_putp(struct rtnl_cls **p) { if (*p) rtnl_cls_put(*p); }
static void act_putp(struct rtnl_act **p) { if (*p) rtnl_act_put(*p); }

#define ROOT_HANDLE TC_HANDLE(1, 0)
#define NETEM_HANDLE TC_HANDLE(0x10, 0)
#define VETH_NAME "fl-smoke0"
#define VETH_PEER "fl-smoke1"

struct smoke {
	struct nl_sock *sk;
	int lo;               /* ifindex of lo in our namespace */
	char skip[256];       /* why these tests cannot run here, or "" */
	char ext[256];        /* kernel's extended-ack text for the last error */
	char msg[1024];       /* what went wrong in the running test */
};

/* Only the first failure of a test is kept: it is the one that explains. */
__attribute__((format(printf, 2, 3)))
static int failf(struct smoke *s, const char *fmt, ...)
{
	va_list ap;

	if (s->msg[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * A failed netlink request: libnl's text, the kernel's own words when it
 * gave some, and which module to look for when the kernel did not know
 * the kind ("Object not found") or refused it ("Operation not supported").
 */
static int fail_nl(struct smoke *s, int err, const char *module, const char *what)
{
	int missing = err == -NLE_OBJ_NOTFOUND || err == -NLE_OPNOTSUPP;

	failf(s, "%s: %s%s%s%s%s%s%s", what, nl_geterror(err),
	      s->ext[0] ? " (kernel: " : "", s->ext, s->ext[0] ? ")" : "",
	      missing ? "; is module '" : "", missing ? module : "",
	      missing ? "' missing from this kernel?" : "");
	s->ext[0] = '\0'; /* used up: must not decorate a later, local error */
	return -1;
}

/* libnl 3.7 has no extended-ack API: pick the kernel's message out here. */
static int on_nl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct smoke *s = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int len = nlmsg_datalen(h);
	int off = sizeof(*e);

	(void)nla;
	s->ext[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (off >= len ||
	    nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + off), len - off, NULL) < 0)
		return NL_STOP;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(s->ext, sizeof(s->ext), "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP; /* libnl then returns the usual -NLE_* code */
}

static int group_setup(void **state)
{
	struct smoke *s = calloc(1, sizeof(*s));
	_cleanup_(link_putp) struct rtnl_link *lo = NULL;
	_cleanup_(link_putp) struct rtnl_link *up = NULL;
	struct timeval tv = { .tv_sec = 5 };
	int one = 1;
	int err;

	if (!s)
		return -1;
	*state = s;
	if (unshare(CLONE_NEWNET) < 0) {
		int e = errno;

		if (e != EPERM) {
			print_error("unshare(CLONE_NEWNET): %s\n", strerror(e));
			return -1;
		}
		snprintf(s->skip, sizeof(s->skip),
			 "needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) for a private network namespace: "
			 "unshare(CLONE_NEWNET): %s (euid %d); run it in the test VM: tests/vm/run -- ...",
			 strerror(e), (int)geteuid());
		print_message("skipping: %s\n", s->skip);
		return 0;
	}
	s->sk = nl_socket_alloc();
	if (!s->sk)
		return -1;
	err = nl_connect(s->sk, NETLINK_ROUTE);
	if (err < 0) {
		print_error("netlink connect: %s\n", nl_geterror(err));
		return -1;
	}
	/* the kernel's error text, and a time limit on every ACK */
	setsockopt(nl_socket_get_fd(s->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(s->sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	nl_socket_modify_err_cb(s->sk, NL_CB_CUSTOM, on_nl_error, s);

	err = rtnl_link_get_kernel(s->sk, 0, "lo", &lo);
	if (err < 0) {
		print_error("get link 'lo': %s\n", nl_geterror(err));
		return -1;
	}
	s->lo = rtnl_link_get_ifindex(lo);
	up = rtnl_link_alloc();
	if (!up)
		return -1;
	rtnl_link_set_flags(up, IFF_UP);
	err = rtnl_link_change(s->sk, lo, up, 0);
	if (err < 0) {
		print_error("set link 'lo' up: %s\n", nl_geterror(err));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct smoke *s = *state;

	if (s)
		sock_freep(&s->sk);
	free(s);
	return 0;
}

static int test_setup(void **state)
{
	struct smoke *s = *state;

	s->msg[0] = '\0';
	s->ext[0] = '\0';
	return 0;
}

/* The reason was printed once, by group_setup. */
static void skip_if_no_namespace(const struct smoke *s)
{
	if (s->skip[0])
		skip();
}

/* Back to lo's default root qdisc; an error means there was nothing to delete. */
static void delete_root(struct smoke *s)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q)
		return;
	rtnl_tc_set_ifindex(TC_CAST(q), s->lo);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_qdisc_delete(s->sk, q);
	s->ext[0] = '\0';
}

static int reset_lo(void **state)
{
	struct smoke *s = *state;

	if (!s->skip[0])
		delete_root(s);
	return 0;
}

/* Returns the -NLE_* code, so that callers can tell "no prio" from the rest. */
static int add_prio_root(struct smoke *s)
{
	uint8_t priomap[] = { 1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 }; /* the kernel's */
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	int err;

	if (!q) {
		failf(s, "out of memory");
		return -NLE_NOMEM;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), s->lo);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), ROOT_HANDLE);
	err = rtnl_tc_set_kind(TC_CAST(q), "prio");
	if (err >= 0) {
		rtnl_qdisc_prio_set_bands(q, 3);
		/* libnl aborts on a prio without a priomap */
		err = rtnl_qdisc_prio_set_priomap(q, priomap, sizeof(priomap));
	}
	if (err < 0) {
		fail_nl(s, err, "sch_prio", "build qdisc 'prio'");
		return err;
	}
	err = rtnl_qdisc_add(s->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0)
		fail_nl(s, err, "sch_prio", "add qdisc 'prio' 1: as root of 'lo'");
	return err;
}

/*
 * Filters need a classful root. The injectors use prio (or htb): take prio,
 * and htb only when the kernel has no prio, so that the u32 and gact tests
 * speak about u32 and gact, not about prio (sch_prio has its own test).
 */
static int add_classful_root(struct smoke *s, const char **kind)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	int err;

	*kind = "prio";
	err = add_prio_root(s);
	if (err != -NLE_OBJ_NOTFOUND)
		return err < 0 ? -1 : 0;
	s->msg[0] = '\0'; /* no prio: not this test's business */
	*kind = "htb";
	q = rtnl_qdisc_alloc();
	if (!q)
		return failf(s, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(q), s->lo);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), ROOT_HANDLE);
	err = rtnl_tc_set_kind(TC_CAST(q), "htb");
	if (err >= 0)
		err = rtnl_htb_set_defcls(q, 0);
	if (err >= 0)
		err = rtnl_qdisc_add(s->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0)
		return fail_nl(s, err, "sch_prio or sch_htb",
			       "add a classful root qdisc for the filter (no 'prio', tried 'htb')");
	return 0;
}

/* Read the qdisc back from the kernel; *out is a new reference. */
static int get_qdisc(struct smoke *s, uint32_t handle, const char *kind, struct rtnl_qdisc **out)
{
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	struct rtnl_qdisc *q;
	int err;

	err = rtnl_qdisc_alloc_cache(s->sk, &cache);
	if (err < 0)
		return fail_nl(s, err, "", "dump qdiscs");
	q = rtnl_qdisc_get(cache, s->lo, handle);
	if (!q)
		return failf(s, "qdisc %x: was added but the kernel does not list it", handle >> 16);
	if (strcmp(rtnl_tc_get_kind(TC_CAST(q)), kind) != 0) {
		failf(s, "qdisc %x: is '%s', expected '%s'", handle >> 16,
		      rtnl_tc_get_kind(TC_CAST(q)), kind);
		rtnl_qdisc_put(q);
		return -1;
	}
	*out = q;
	return 0;
}

static int add_netem(struct smoke *s, uint32_t parent, uint32_t handle, int delay_us)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	char what[128];
	int err;

	if (!q)
		return failf(s, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(q), s->lo);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	err = rtnl_tc_set_kind(TC_CAST(q), "netem");
	if (err < 0)
		return fail_nl(s, err, "sch_netem", "build qdisc 'netem'");
	rtnl_netem_set_delay(q, delay_us);
	err = rtnl_qdisc_add(s->sk, q, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		if (parent == TC_H_ROOT)
			snprintf(what, sizeof(what), "add qdisc 'netem' %x: as root of 'lo'", handle >> 16);
		else
			snprintf(what, sizeof(what), "add qdisc 'netem' %x: in band %x:%x", handle >> 16,
				 TC_H_MAJ(parent) >> 16, TC_H_MIN(parent));
		return fail_nl(s, err, "sch_netem", what);
	}
	return 0;
}

static int expect_netem_delay(struct smoke *s, uint32_t handle, int delay_us)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	int got;

	if (get_qdisc(s, handle, "netem", &q) < 0)
		return -1;
	got = rtnl_netem_get_delay(q);
	if (got != delay_us)
		return failf(s, "netem %x: the kernel holds a delay of %d us, we set %d us",
			     handle >> 16, got, delay_us);
	return 0;
}

static int probe_prio(struct smoke *s)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	int bands;

	if (add_prio_root(s) < 0 || get_qdisc(s, ROOT_HANDLE, "prio", &q) < 0)
		return -1;
	bands = rtnl_qdisc_prio_get_bands(q);
	if (bands != 3)
		return failf(s, "prio 1: the kernel holds %d bands, we asked for 3", bands);
	return 0;
}

static void test_prio(void **state)
{
	struct smoke *s = *state;

	skip_if_no_namespace(s);
	if (probe_prio(s) < 0)
		fail_msg("%s", s->msg);
}

static int probe_netem(struct smoke *s)
{
	int err;

	/* alone first: a failure here is about netem and nothing else */
	if (add_netem(s, TC_H_ROOT, ROOT_HANDLE, 10000) < 0 ||
	    expect_netem_delay(s, ROOT_HANDLE, 10000) < 0)
		return -1;
	delete_root(s);

	/* then as the injectors place it: in a band of a prio root */
	err = add_prio_root(s);
	if (err == -NLE_OBJ_NOTFOUND) {
		s->msg[0] = '\0'; /* no prio: not this test's business */
		print_message("note: no prio qdisc (see the sch_prio test), netem in a prio band not checked\n");
		return 0;
	}
	if (err < 0 || add_netem(s, TC_HANDLE(1, 1), NETEM_HANDLE, 25000) < 0)
		return -1;
	return expect_netem_delay(s, NETEM_HANDLE, 25000);
}

static void test_netem(void **state)
{
	struct smoke *s = *state;

	skip_if_no_namespace(s);
	if (probe_netem(s) < 0)
		fail_msg("%s", s->msg);
}

/*
 * A u32 filter on the root matching IPv4 destination 192.0.2.7 (TEST-NET-1)
 * into band 1:1, optionally with a gact drop: a per-peer partition. Then
 * find it again in the kernel's filter list.
 */
static int probe_u32(struct smoke *s, int with_gact)
{
	_cleanup_(cls_putp) struct rtnl_cls *cls = NULL;
	_cleanup_(act_putp) struct rtnl_act *act = NULL;
	_cleanup_(cache_freep) struct nl_cache *cache = NULL;
	struct in_addr dst = { .s_addr = htonl(0xc0000207) };
	const char *module = with_gact ? "act_gact" : "cls_u32";
	const char *root;
	struct nl_object *o;
	int found = 0;
	int err;

	if (add_classful_root(s, &root) < 0)
		return -1;
	cls = rtnl_cls_alloc();
	if (!cls)
		return failf(s, "out of memory");
	rtnl_tc_set_ifindex(TC_CAST(cls), s->lo);
	rtnl_tc_set_parent(TC_CAST(cls), ROOT_HANDLE);
	rtnl_cls_set_protocol(cls, ETH_P_IP);
	rtnl_cls_set_prio(cls, 1);
	err = rtnl_tc_set_kind(TC_CAST(cls), "u32");
	if (err >= 0) /* IPv4 destination address: offset 16 of the IP header */
		err = rtnl_u32_add_key_in_addr(cls, &dst, 32, 16, 0);
	if (err >= 0)
		err = rtnl_u32_set_classid(cls, TC_HANDLE(1, 1));
	if (err >= 0)
		err = rtnl_u32_set_cls_terminal(cls);
	if (err >= 0 && with_gact) {
		act = rtnl_act_alloc();
		if (!act)
			return failf(s, "out of memory");
		err = rtnl_tc_set_kind(TC_CAST(act), "gact");
		if (err >= 0)
			err = rtnl_gact_set_action(act, TC_ACT_SHOT);
		if (err >= 0)
			err = rtnl_u32_add_action(cls, act); /* takes its own reference */
	}
	if (err < 0)
		return fail_nl(s, err, module, "build filter 'u32'");
	err = rtnl_cls_add(s->sk, cls, NLM_F_CREATE | NLM_F_EXCL);
	if (err < 0) {
		char what[160];

		snprintf(what, sizeof(what), "add filter 'u32' dst 192.0.2.7%s on root '%s' 1: of 'lo'",
			 with_gact ? " action 'gact' drop" : "", root);
		return fail_nl(s, err, module, what);
	}

	err = rtnl_cls_alloc_cache(s->sk, s->lo, ROOT_HANDLE, &cache);
	if (err < 0)
		return fail_nl(s, err, module, "dump filters of 1:");
	/* u32 also lists its hash table: look for the node holding our key */
	for (o = nl_cache_get_first(cache); o && !found; o = nl_cache_get_next(o)) {
		struct rtnl_cls *c = (struct rtnl_cls *)o;
		struct rtnl_act *a;
		uint32_t val, mask;
		int koff, koffmask;

		if (strcmp(rtnl_tc_get_kind(TC_CAST(c)), "u32") != 0 ||
		    rtnl_u32_get_key(c, 0, &val, &mask, &koff, &koffmask) < 0 ||
		    val != dst.s_addr || mask != 0xffffffff || koff != 16)
			continue;
		if (!with_gact) {
			found = 1;
			continue;
		}
		a = rtnl_u32_get_action(c); /* borrowed */
		if (!a)
			return failf(s, "filter u32 dst 192.0.2.7: the kernel lists it without its action");
		if (strcmp(rtnl_tc_get_kind(TC_CAST(a)), "gact") != 0 ||
		    rtnl_gact_get_action(a) != TC_ACT_SHOT)
			return failf(s, "filter u32 dst 192.0.2.7: the kernel holds action '%s' %d, not gact drop",
				     rtnl_tc_get_kind(TC_CAST(a)), rtnl_gact_get_action(a));
		found = 1;
	}
	if (!found)
		return failf(s, "filter u32 dst 192.0.2.7 was added on '%s' 1: but the kernel does not list it",
			     root);
	return 0;
}

static void test_u32(void **state)
{
	struct smoke *s = *state;

	skip_if_no_namespace(s);
	if (probe_u32(s, 0) < 0)
		fail_msg("%s", s->msg);
}

static void test_gact(void **state)
{
	struct smoke *s = *state;

	skip_if_no_namespace(s);
	if (probe_u32(s, 1) < 0)
		fail_msg("%s", s->msg);
}

static int probe_veth(struct smoke *s)
{
	_cleanup_(link_putp) struct rtnl_link *link = NULL;
	_cleanup_(link_putp) struct rtnl_link *up = NULL;
	_cleanup_(link_putp) struct rtnl_link *got = NULL;
	const char *type;
	int err;

	/* rtnl_link_veth_add: the pair in one go, both ends in our namespace */
	err = rtnl_link_veth_add(s->sk, VETH_NAME, VETH_PEER, getpid());
	if (err < 0)
		return fail_nl(s, err, "veth", "add link '" VETH_NAME "' type veth peer '" VETH_PEER "'");
	err = rtnl_link_get_kernel(s->sk, 0, VETH_NAME, &link);
	if (err < 0)
		return fail_nl(s, err, "veth", "get link '" VETH_NAME "'");
	type = rtnl_link_get_type(link);
	if (!type || strcmp(type, "veth") != 0)
		return failf(s, "link '%s' is of type '%s', expected 'veth'", VETH_NAME, type ? type : "");
	up = rtnl_link_alloc();
	if (!up)
		return failf(s, "out of memory");
	rtnl_link_set_flags(up, IFF_UP);
	err = rtnl_link_change(s->sk, link, up, 0);
	if (err < 0)
		return fail_nl(s, err, "veth", "set link '" VETH_NAME "' up");
	err = rtnl_link_get_kernel(s->sk, 0, VETH_PEER, &got);
	if (err < 0)
		return fail_nl(s, err, "veth", "get link '" VETH_PEER "'");
	rtnl_link_put(link);
	link = NULL;
	err = rtnl_link_get_kernel(s->sk, 0, VETH_NAME, &link);
	if (err < 0)
		return fail_nl(s, err, "veth", "get link '" VETH_NAME "'");
	if (!(rtnl_link_get_flags(link) & IFF_UP))
		return failf(s, "link '%s' was set up but the kernel holds it down", VETH_NAME);
	return 0;
}

static void test_veth(void **state)
{
	struct smoke *s = *state;

	skip_if_no_namespace(s);
	if (probe_veth(s) < 0)
		fail_msg("%s", s->msg);
}

static int delete_veth(void **state)
{
	struct smoke *s = *state;
	_cleanup_(link_putp) struct rtnl_link *link = NULL;

	if (s->skip[0] || !(link = rtnl_link_alloc()))
		return 0;
	rtnl_link_set_name(link, VETH_NAME); /* the peer goes with it */
	rtnl_link_delete(s->sk, link);
	s->ext[0] = '\0';
	return 0;
}

int main(void)
{
	/* Named after the kernel module each one needs. */
	const struct CMUnitTest tests[] = {
		{ "sch_prio", test_prio, test_setup, reset_lo, NULL },
		{ "sch_netem", test_netem, test_setup, reset_lo, NULL },
		{ "cls_u32", test_u32, test_setup, reset_lo, NULL },
		{ "act_gact", test_gact, test_setup, reset_lo, NULL },
		{ "veth", test_veth, test_setup, delete_veth, NULL },
	};

	return cmocka_run_group_tests_name("kernel smoke (tc through libnl)", tests,
					   group_setup, group_teardown);
}
