/* `faultline doctor`: probe every kernel piece and program faultline uses
 * and say what is missing and how to get it (doctor.h). Kernel probes run
 * in a thread that unshares its own network namespace, so the caller's is
 * never touched; everything made there vanishes with the thread. Must never
 * log, run tc/ip, enter another namespace, or count an optional piece (or
 * one it could not probe) as missing. */
#include "faultline/doctor.h"
#include "faultline/libvirt.h"
#include "faultline/vmimage.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <linux/if_ether.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_csum.h>
#include <linux/tc_act/tc_pedit.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include "faultline/scenario.h"
#include "faultline/nlerr.h"
#include "faultline/tc.h"
#include "faultline/units.h"


#define VETH0 "fl-doc0"
#define VETH1 "fl-doc1"
#define BRIDGE "fl-docbr"
#define ROOT_HANDLE TC_HANDLE(FL_TC_ROOT_MAJOR, 0)
#define INGRESS_HANDLE TC_H_MAKE(TC_H_INGRESS, 0)
#define NEEDS_ROOT "needs root"
#define VM_ADVICE_TAIL "run the cluster inside a micro-VM on the stock kernel: faultline up --vm FILE " \
		       "(the tests do the same through tests/vm/run)"


/* --- the probes ------------------------------------------------------------ */

enum {
	P_NETNS, P_VETH, P_BRIDGE,
	P_PRIO, P_NETEM, P_NORMAL, P_PARETO, P_PARETONORMAL, P_U32, P_U32V6, P_GACT, P_LAYOUT,
	P_PEDIT, P_CSUM,
	P_LIBVIRT, P_QEMU, P_KVM, P_VMLINUZ, P_BUSYBOX, P_ETCD, P_REDIS, P_SENTINEL,
	P__N
};

static const struct {
	const char *name, *what;
	int required, tc, kernel;
	const char *lost; /* optional ones: what is unavailable without it */
} probe_def[P__N] = {
	[P_NETNS] = { "netns", "network namespaces", 1, 0, 1, NULL },
	[P_VETH] = { "veth", "veth pair", 1, 0, 1, NULL },
	[P_BRIDGE] = { "bridge", "bridge with a veth port", 1, 0, 1, NULL },
	[P_PRIO] = { "sch_prio", "prio qdisc", 1, 1, 1, NULL },
	[P_NETEM] = { "sch_netem", "netem qdisc", 1, 1, 1, NULL },
	[P_NORMAL] = { "netem/normal", "netem delay table 'normal'", 1, 1, 1, NULL },
	[P_PARETO] = { "netem/pareto", "netem delay table 'pareto'", 1, 1, 1, NULL },
	[P_PARETONORMAL] = { "netem/paretonormal", "netem delay table 'paretonormal'", 1, 1, 1,
			     NULL },
	[P_U32] = { "cls_u32", "u32 filter, IPv4 destination match", 1, 1, 1, NULL },
	[P_U32V6] = { "cls_u32/ipv6", "u32 filter, IPv6 destination match", 1, 1, 1, NULL },
	[P_GACT] = { "act_gact", "gact drop action on a u32 filter", 1, 1, 1, NULL },
	[P_LAYOUT] = { "tc-layout",
		       "fl_tc_apply: prio, netem band, u32 steering, gact drops, IPv4 and IPv6",
		       1, 1, 1, NULL },
	[P_PEDIT] = { "act_pedit", "pedit action on a u32 filter", 0, 1, 1,
		      "Byzantine payload tampering unavailable" },
	[P_CSUM] = { "act_csum", "csum action on a u32 filter", 0, 1, 1,
		     "Byzantine payload tampering unavailable" },
	[P_LIBVIRT] = { "libvirt", "libvirt daemon", 0, 0, 0, "provider: libvirt unavailable" },
	[P_QEMU] = { "qemu", "qemu-system-x86_64", 0, 0, 0,
		     "the test micro-VM and provider: libvirt unavailable" },
	[P_KVM] = { "kvm", "KVM acceleration", 0, 0, 0,
		    "VMs run under TCG emulation, several times slower" },
	[P_VMLINUZ] = { "vm-kernel", "a stock kernel for the micro-VM", 0, 0, 0,
			"the test micro-VM unavailable" },
	[P_BUSYBOX] = { "busybox-static", "static busybox for the micro-VM", 0, 0, 0,
			"the test micro-VM unavailable" },
	[P_ETCD] = { "etcd", "etcd server", 0, 0, 0, "system type etcd unavailable" },
	[P_REDIS] = { "redis-server", "redis server", 0, 0, 0, "system type redis unavailable" },
	[P_SENTINEL] = { "redis-sentinel", "redis sentinel", 0, 0, 0,
			 "system type redis unavailable" },
};

static struct fl_doctor_probe *pp(struct fl_doctor_report *r, int i)
{
	return &r->probes[i];
}

static void vset(char *buf, size_t len, const char *fmt, va_list ap)
{
	vsnprintf(buf, len, fmt, ap);
}

__attribute__((format(printf, 2, 3)))
static void set_ok(struct fl_doctor_probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	p->status = FL_DOCTOR_OK;
	p->fix[0] = '\0';
}

/* Missing: MISSING when required, else a warning saying what is lost. */
__attribute__((format(printf, 3, 4)))
static void set_fail(struct fl_doctor_probe *p, const char *fix, const char *fmt, ...)
{
	va_list ap;
	size_t l;

	va_start(ap, fmt);
	vset(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	p->status = p->required ? FL_DOCTOR_MISSING : FL_DOCTOR_WARNING;
	for (int i = 0; i < P__N; i++)
		if (probe_def[i].name == p->name && probe_def[i].lost) {
			l = strlen(p->detail);
			snprintf(p->detail + l, sizeof(p->detail) - l, " (%s)", probe_def[i].lost);
		}
	snprintf(p->fix, sizeof(p->fix), "%s", fix ? fix : "");
}

__attribute__((format(printf, 2, 3)))
static void set_skip(struct fl_doctor_probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	p->status = FL_DOCTOR_SKIPPED;
	p->fix[0] = '\0';
}

/* "How to get it" for a kernel piece, in the words the user needs: the
 * module to load when this kernel has it, the config option otherwise. */
static void module_fix(const char *release, const char *module, const char *config, char *buf,
		       size_t len)
{
	char path[256], pat[64];
	_cleanup_(fclosep) FILE *f = NULL;
	_cleanup_(freep) char *line = NULL;
	size_t cap = 0;
	int found = 0;

	snprintf(buf, len, "load the module %s (modprobe %s) or use a kernel that has %s", module,
		 module, config);
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", release);
	f = fopen(path, "re");
	if (!f) {
		size_t l = strlen(buf);

		snprintf(buf + l, len - l, " (this kernel, %s, has no /lib/modules/%s to load it from)",
			 release, release);
		return;
	}
	snprintf(pat, sizeof(pat), "/%s.ko", module);
	while (!found && getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':');

		if (colon)
			*colon = '\0';
		found = strstr(line, pat) != NULL;
	}
	if (!found) {
		size_t l = strlen(buf);

		snprintf(buf + l, len - l, " (there is no %s module in /lib/modules/%s)", module,
			 release);
	}
}

/* --- one netlink request, one answer (with the kernel's text) -------------- */

/* strerror in lowercase, as every message of faultline */
static const char *lc_strerror(int e, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* Our messages and the one netlink exchange are tc.c's (tc.h). */
static int fail_code(struct fl_tc_err *err, int code, const char *what, const char *kernel)
{
	return fl_tc_fail_code(err, code, what, kernel, NULL);
}

static int talk(struct nl_sock *sk, struct nl_msg *msg, const char *what, struct fl_tc_err *err)
{
	return fl_tc_talk(sk, msg, what, NULL, err);
}

/* --- the kernel probes, in the throwaway namespace ---------------------------- */

struct kctx {
	struct fl_doctor_report *r;
	struct nl_sock *sk;
	int ifindex;             /* where the tc probes act: the veth, else lo */
	char ifname[IF_NAMESIZE];
	const char *froot_kind;  /* the classful root for filters, once chosen */
	uint32_t froot;          /* its handle (filters' parent) */
	int internal;            /* -errno of a failure of our own */
};

/* A refused request: missing (with the kernel's words), or skipped when
 * the refusal is about privilege rather than the feature. */
static void kfail(struct kctx *c, int pi, int code, const struct fl_tc_err *e,
		  const char *module, const char *config)
{
	struct fl_doctor_probe *p = pp(c->r, pi);
	char fix[sizeof(p->fix)];

	if (code == -EPERM || code == -EACCES) {
		set_skip(p, NEEDS_ROOT " (CAP_NET_ADMIN): %s", e->msg);
		return;
	}
	if (module)
		module_fix(c->r->kernel, module, config, fix, sizeof(fix));
	else
		snprintf(fix, sizeof(fix), "%s", config);
	set_fail(p, fix, "%s", e->msg);
}

static struct nl_msg *tc_msg(int type, int flags, int ifindex, uint32_t parent, uint32_t handle,
			     uint32_t info)
{
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent,
			   .tcm_handle = handle, .tcm_info = info };

	if (msg && nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* Back to the link's default qdiscs; errors (nothing there) do not matter. */
static void reset_root(struct kctx *c)
{
	static const uint32_t parents[] = { TC_H_ROOT, TC_H_INGRESS };
	struct fl_tc_err e;

	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		_cleanup_(msg_freep) struct nl_msg *msg =
			tc_msg(RTM_DELQDISC, 0, c->ifindex, parents[i],
			       parents[i] == TC_H_INGRESS ? INGRESS_HANDLE : 0, 0);

		if (msg)
			talk(c->sk, msg, "delete root qdisc", &e);
	}
}

static int send_qdisc(struct kctx *c, struct rtnl_qdisc *q, const char *what, struct fl_tc_err *e)
{
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	int r = rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_EXCL, &msg);

	if (r < 0)
		return fail_code(e, fl_nl_errno(r), what, NULL);
	return talk(c->sk, msg, what, e);
}

static int add_prio_root(struct kctx *c, struct fl_tc_err *e)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "add qdisc 'prio' 1: (%d bands) as root of '%s'", FL_TC_BANDS,
		 c->ifname);
	r = fl_tc_build_root(c->ifindex, 0, &q, e);
	return r < 0 ? r : send_qdisc(c, q, what, e);
}

/* htb or ingress, the roots filters can hang from when there is no prio. */
static int add_raw_root(struct kctx *c, const char *kind, struct fl_tc_err *e)
{
	int ingress = strcmp(kind, "ingress") == 0;
	_cleanup_(msg_freep) struct nl_msg *msg =
		tc_msg(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, c->ifindex,
		       ingress ? TC_H_INGRESS : TC_H_ROOT, ingress ? INGRESS_HANDLE : ROOT_HANDLE, 0);
	struct tc_htb_glob g = { .version = TC_HTB_PROTOVER, .rate2quantum = 10 };
	struct nlattr *opts;
	char what[128];
	int r;

	snprintf(what, sizeof(what), "add qdisc '%s' %s: as root of '%s'", kind,
		 ingress ? "ffff" : "1", c->ifname);
	if (!msg)
		return fail_code(e, -ENOMEM, what, NULL);
	r = nla_put_string(msg, TCA_KIND, kind);
	if (r >= 0 && !ingress) {
		opts = nla_nest_start(msg, TCA_OPTIONS);
		r = opts ? nla_put(msg, TCA_HTB_INIT, sizeof(g), &g) : -NLE_NOMEM;
		if (r >= 0)
			r = nla_nest_end(msg, opts);
	}
	if (r < 0)
		return fail_code(e, fl_nl_errno(r), what, NULL);
	return talk(c->sk, msg, what, e);
}

/* A fresh classful root for a filter probe: prio as the injectors use it,
 * else htb, else ingress, so the filter probes speak about filters. */
static int filter_root(struct kctx *c, struct fl_tc_err *e)
{
	static const char *const kinds[] = { "prio", "htb", "ingress" };
	char tried[128] = "";
	int r = -ENOENT;

	reset_root(c);
	if (c->froot_kind) {
		if (strcmp(c->froot_kind, "prio") == 0)
			return add_prio_root(c, e);
		return add_raw_root(c, c->froot_kind, e);
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (i == 0 && pp(c->r, P_PRIO)->status != FL_DOCTOR_OK)
			continue;
		r = i == 0 ? add_prio_root(c, e) : add_raw_root(c, kinds[i], e);
		if (r == 0) {
			c->froot_kind = kinds[i];
			c->froot = i == 2 ? INGRESS_HANDLE : ROOT_HANDLE;
			return 0;
		}
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried), "%s%s",
			 tried[0] ? ", " : "", kinds[i]);
	}
	if (r < 0) {
		char inner[sizeof(e->msg)];

		snprintf(inner, sizeof(inner), "%s", e->msg);
		snprintf(e->msg, sizeof(e->msg),
			 "no classful root qdisc to attach a filter to (tried %s); last: %.400s", tried,
			 inner);
	}
	return r;
}

static int send_cls(struct kctx *c, struct rtnl_cls *cls, const char *what, struct fl_tc_err *e)
{
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	int r;

	rtnl_tc_set_parent(TC_CAST(cls), c->froot);
	r = rtnl_cls_build_add_request(cls, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (r < 0)
		return fail_code(e, fl_nl_errno(r), what, NULL);
	return talk(c->sk, msg, what, e);
}

static void probe_veth(struct kctx *c)
{
	_cleanup_(link_putp) struct rtnl_link *veth = rtnl_link_veth_alloc();
	_cleanup_(link_putp) struct rtnl_link *peer = veth ? rtnl_link_veth_get_peer(veth) : NULL;
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	struct fl_tc_err e;
	int r;

	if (!veth || !peer) {
		c->internal = -ENOMEM;
		return;
	}
	/* no namespace given for the peer: both ends are born here (never
	 * rtnl_link_veth_add, whose pid would name the caller's namespace) */
	rtnl_link_set_name(veth, VETH0);
	rtnl_link_set_name(peer, VETH1);
	r = rtnl_link_build_add_request(veth, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (r < 0)
		r = fail_code(&e, fl_nl_errno(r), "build request for link 'veth'", NULL);
	else
		r = talk(c->sk, msg, "add link '" VETH0 "' type veth peer '" VETH1 "'", &e);
	if (r == 0 && (c->ifindex = (int)if_nametoindex(VETH0)) <= 0)
		r = fail_code(&e, -ENODEV, "find link '" VETH0 "' after adding it", NULL);
	if (r < 0) {
		kfail(c, P_VETH, r, &e, "veth", "CONFIG_VETH");
		return;
	}
	snprintf(c->ifname, sizeof(c->ifname), VETH0);
	set_ok(pp(c->r, P_VETH), "%s and %s in the throwaway namespace", VETH0, VETH1);
}

static int link_up(struct kctx *c, int ifindex, int master, const char *what, struct fl_tc_err *e)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP,
				 .ifi_change = IFF_UP };
	_cleanup_(msg_freep) struct nl_msg *msg = nlmsg_alloc_simple(RTM_NEWLINK, 0);
	int r;

	if (!msg)
		return fail_code(e, -ENOMEM, what, NULL);
	r = nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	if (r >= 0 && master)
		r = nla_put_u32(msg, IFLA_MASTER, (uint32_t)master);
	if (r < 0)
		return fail_code(e, fl_nl_errno(r), what, NULL);
	return talk(c->sk, msg, what, e);
}

static void probe_bridge(struct kctx *c)
{
	_cleanup_(link_putp) struct rtnl_link *br = rtnl_link_bridge_alloc();
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	struct fl_tc_err e;
	int r, idx = 0;

	if (!br) {
		c->internal = -ENOMEM;
		return;
	}
	rtnl_link_set_name(br, BRIDGE);
	r = rtnl_link_build_add_request(br, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (r < 0)
		r = fail_code(&e, fl_nl_errno(r), "build request for link 'bridge'", NULL);
	else
		r = talk(c->sk, msg, "add link '" BRIDGE "' type bridge", &e);
	if (r == 0 && (idx = (int)if_nametoindex(BRIDGE)) <= 0)
		r = fail_code(&e, -ENODEV, "find link '" BRIDGE "' after adding it", NULL);
	if (r == 0)
		r = link_up(c, idx, 0, "set link '" BRIDGE "' up", &e);
	/* as the provider does: a veth end as its port */
	if (r == 0 && pp(c->r, P_VETH)->status == FL_DOCTOR_OK)
		r = link_up(c, (int)if_nametoindex(VETH1), idx,
			    "set link '" VETH1 "' up as a port of '" BRIDGE "'", &e);
	if (r < 0) {
		kfail(c, P_BRIDGE, r, &e, "bridge", "CONFIG_BRIDGE");
		return;
	}
	set_ok(pp(c->r, P_BRIDGE), "%s, with %s as its port", BRIDGE,
	       pp(c->r, P_VETH)->status == FL_DOCTOR_OK ? VETH1 : "no veth");
}

static void probe_prio(struct kctx *c)
{
	struct fl_tc_err e;
	int r;

	reset_root(c);
	r = add_prio_root(c, &e);
	if (r < 0)
		kfail(c, P_PRIO, r, &e, "sch_prio", "CONFIG_NET_SCH_PRIO");
	else
		set_ok(pp(c->r, P_PRIO), "prio 1: with %d bands on '%s'", FL_TC_BANDS, c->ifname);
	reset_root(c);
}

/* netem alone, as root (so a failure is about netem), through the tc
 * module's builder and request, with the distribution's table if any. */
static int add_netem_root(struct kctx *c, enum fl_distribution d, struct fl_tc_err *e)
{
	struct fl_netem nm = { .set = FL_NETEM_LATENCY, .latency_ns = 10 * FL_NS_PER_MS };
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	char what[192];
	int r;

	if (d != FL_DIST_NONE) {
		nm.jitter_ns = 2 * FL_NS_PER_MS;
		nm.distribution = d;
	}
	r = fl_tc_build_netem(c->ifindex, 0, &nm, &q, e);
	if (r < 0)
		return r;
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	if (d == FL_DIST_NONE)
		snprintf(what, sizeof(what), "add qdisc 'netem' %x: delay 10ms as root of '%s'",
			 fl_tc_netem_handle(0, d) >> 16, c->ifname);
	else
		snprintf(what, sizeof(what),
			 "add qdisc 'netem' %x: delay 10ms 2ms distribution %s (its table) as root of "
			 "'%s'",
			 fl_tc_netem_handle(0, d) >> 16, fl_distribution_to_string(d), c->ifname);
	r = fl_tc_netem_msg(q, &nm, NLM_F_CREATE | NLM_F_EXCL, &msg, e);
	if (r < 0)
		return r;
	return talk(c->sk, msg, what, e);
}

static void probe_netem(struct kctx *c)
{
	static const struct {
		int probe;
		enum fl_distribution d;
	} tables[] = { { P_NORMAL, FL_DIST_NORMAL },
		       { P_PARETO, FL_DIST_PARETO },
		       { P_PARETONORMAL, FL_DIST_PARETONORMAL } };
	struct fl_tc_err e;
	int r, rt;

	reset_root(c);
	r = add_netem_root(c, FL_DIST_NONE, &e);
	reset_root(c);
	if (r < 0)
		kfail(c, P_NETEM, r, &e, "sch_netem", "CONFIG_NET_SCH_NETEM");
	else
		set_ok(pp(c->r, P_NETEM), "netem delay 10ms as root of '%s'", c->ifname);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		struct fl_doctor_probe *p = pp(c->r, tables[i].probe);

		if (r < 0) {
			set_skip(p, "not tried: needs sch_netem");
			continue;
		}
		reset_root(c);
		rt = add_netem_root(c, tables[i].d, &e);
		if (rt < 0)
			kfail(c, tables[i].probe, rt, &e, NULL,
			      "netem has taken delay tables since Linux 2.6: the kernel's words above "
			      "say why it refused this one");
		else
			set_ok(p, "loaded with a netem qdisc on '%s'", c->ifname);
		reset_root(c);
	}
}

static void probe_u32(struct kctx *c, int v6)
{
	int pi = v6 ? P_U32V6 : P_U32;
	const char *dst = v6 ? "2001:db8::7" : "192.0.2.7";
	_cleanup_(cls_putp) struct rtnl_cls *cls = NULL;
	struct fl_tc_addr a;
	struct fl_tc_err e;
	char what[192];
	int r;

	if (filter_root(c, &e) < 0) {
		set_skip(pp(c->r, pi), "not tried: %s", e.msg);
		return;
	}
	snprintf(what, sizeof(what), "add filter u32 dst %s flowid 1:2 on root '%s' of '%s'", dst,
		 c->froot_kind, c->ifname);
	r = fl_tc_addr_parse(dst, &a);
	if (r == 0)
		r = fl_tc_build_steer(c->ifindex, &a, 0, &cls, &e);
	if (r == 0)
		r = send_cls(c, cls, what, &e);
	if (r < 0)
		kfail(c, pi, r, &e, "cls_u32", v6 ? "CONFIG_NET_CLS_U32 and CONFIG_IPV6"
						  : "CONFIG_NET_CLS_U32");
	else
		set_ok(pp(c->r, pi), "u32 dst %s on a %s root", dst, c->froot_kind);
	reset_root(c);
}

static void probe_gact(struct kctx *c)
{
	_cleanup_(cls_putp) struct rtnl_cls *cls = NULL;
	struct fl_tc_addr a;
	struct fl_tc_err e;
	char what[192];
	int r;

	if (pp(c->r, P_U32)->status != FL_DOCTOR_OK) {
		set_skip(pp(c->r, P_GACT), "not tried: needs cls_u32");
		return;
	}
	if (filter_root(c, &e) < 0) {
		set_skip(pp(c->r, P_GACT), "not tried: %s", e.msg);
		return;
	}
	snprintf(what, sizeof(what), "add filter u32 dst 192.0.2.8 action gact drop on root '%s' of '%s'",
		 c->froot_kind, c->ifname);
	r = fl_tc_addr_parse("192.0.2.8", &a);
	if (r == 0)
		r = fl_tc_build_drop(c->ifindex, &a, &cls, &e);
	if (r == 0)
		r = send_cls(c, cls, what, &e);
	if (r < 0)
		kfail(c, P_GACT, r, &e, "act_gact", "CONFIG_NET_ACT_GACT");
	else
		set_ok(pp(c->r, P_GACT), "u32 dst 192.0.2.8 action gact drop on a %s root",
		       c->froot_kind);
	reset_root(c);
}

/* A u32 filter matching IPv4 dst 192.0.2.9 with one action, written as raw
 * attributes (libnl has no pedit or csum): TCA_OPTIONS { TCA_U32_SEL,
 * TCA_U32_ACT { 1 { TCA_ACT_KIND, TCA_ACT_OPTIONS { parms } } } }. */
static int add_raw_action_filter(struct kctx *c, uint16_t prio, const char *kind, int parms_type,
				 const void *parms, size_t parms_len, const char *what,
				 struct fl_tc_err *e)
{
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key;
	} __attribute__((packed)) sel;
	_cleanup_(msg_freep) struct nl_msg *msg =
		tc_msg(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, c->ifindex, c->froot, 0,
		       TC_H_MAKE((uint32_t)prio << 16, htons(ETH_P_IP)));
	struct nlattr *opts, *acts, *act, *aopts;
	int r;

	if (!msg)
		return fail_code(e, -ENOMEM, what, NULL);
	memset(&sel, 0, sizeof(sel));
	sel.sel.flags = TC_U32_TERMINAL;
	sel.sel.nkeys = 1;
	sel.key.mask = 0xffffffff;
	sel.key.val = htonl(0xc0000209); /* 192.0.2.9, TEST-NET-1 */
	sel.key.off = 16;                /* the IPv4 destination */
	r = nla_put_string(msg, TCA_KIND, "u32");
	if (r < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS)))
		goto nomem;
	if (nla_put(msg, TCA_U32_SEL, sizeof(sel), &sel) < 0 ||
	    !(acts = nla_nest_start(msg, TCA_U32_ACT)) || !(act = nla_nest_start(msg, 1)) ||
	    nla_put_string(msg, TCA_ACT_KIND, kind) < 0 ||
	    !(aopts = nla_nest_start(msg, TCA_ACT_OPTIONS)) ||
	    nla_put(msg, parms_type, (int)parms_len, parms) < 0)
		goto nomem;
	nla_nest_end(msg, aopts);
	nla_nest_end(msg, act);
	nla_nest_end(msg, acts);
	nla_nest_end(msg, opts);
	return talk(c->sk, msg, what, e);
nomem:
	return fail_code(e, -ENOMEM, what, NULL);
}

/* Read back the parameters of the first action of our u32 filter at prio:
 * the filter dump, TCA_OPTIONS { TCA_U32_ACT { 1 { TCA_ACT_KIND,
 * TCA_ACT_OPTIONS { parms_type } } } }. */
struct act_read {
	uint16_t prio;
	const char *kind;
	int parms_type;
	void *out;
	size_t len;
	int found;
};

static int on_filter(struct nl_msg *msg, void *arg)
{
	struct act_read *ar = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[TCA_MAX + 1], *ub[TCA_U32_MAX + 1], *acts[TCA_ACT_MAX_PRIO + 1];
	struct nlattr *ab[TCA_ACT_MAX + 1], *ob[TCA_CSUM_MAX > TCA_PEDIT_MAX ? TCA_CSUM_MAX + 1
								: TCA_PEDIT_MAX + 1];
	const struct tcmsg *t;
	char kind[32];

	if (ar->found || nlh->nlmsg_type != RTM_NEWTFILTER || nlmsg_datalen(nlh) < (int)sizeof(*t))
		return NL_OK;
	t = nlmsg_data(nlh);
	if (TC_H_MAJ(t->tcm_info) >> 16 != ar->prio ||
	    nlmsg_parse(nlh, sizeof(*t), tb, TCA_MAX, NULL) < 0 || !tb[TCA_OPTIONS] ||
	    nla_parse_nested(ub, TCA_U32_MAX, tb[TCA_OPTIONS], NULL) < 0 || !ub[TCA_U32_ACT] ||
	    nla_parse_nested(acts, TCA_ACT_MAX_PRIO, ub[TCA_U32_ACT], NULL) < 0 || !acts[1] ||
	    nla_parse_nested(ab, TCA_ACT_MAX, acts[1], NULL) < 0 || !ab[TCA_ACT_KIND] ||
	    !ab[TCA_ACT_OPTIONS])
		return NL_OK;
	nla_strlcpy(kind, ab[TCA_ACT_KIND], sizeof(kind));
	if (strcmp(kind, ar->kind) != 0 ||
	    nla_parse_nested(ob, ar->parms_type, ab[TCA_ACT_OPTIONS], NULL) < 0 ||
	    !ob[ar->parms_type] || nla_len(ob[ar->parms_type]) < (int)ar->len)
		return NL_OK;
	memcpy(ar->out, nla_data(ob[ar->parms_type]), ar->len);
	ar->found = 1;
	return NL_OK;
}

static int read_action(struct kctx *c, struct act_read *ar, struct fl_tc_err *e)
{
	_cleanup_(msg_freep) struct nl_msg *msg =
		tc_msg(RTM_GETTFILTER, NLM_F_DUMP, c->ifindex, c->froot, 0, 0);
	struct fl_nl_answer a = { 0 };
	_cleanup_(cb_putp) struct nl_cb *cb = fl_tc_exchange_cb(c->sk, &a);
	const char *what = "list filters to read the action back";
	int r;

	if (!msg || !cb)
		return fail_code(e, -ENOMEM, what, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_filter, ar);
	r = nl_send_auto(c->sk, msg);
	if (r >= 0)
		r = nl_recvmsgs(c->sk, cb);
	if (a.kerr)
		return fail_code(e, a.kerr, what, a.ext);
	if (r < 0)
		return fail_code(e, fl_nl_errno(r), what, NULL);
	return 0;
}

/* pedit with one legacy key: set the IPv4 TTL to 64 (the word at offset 8,
 * its first byte: new = (old & mask) ^ val), then pass on. */
static void probe_pedit(struct kctx *c)
{
	unsigned char buf[sizeof(struct tc_pedit_sel) + sizeof(struct tc_pedit_key)];
	unsigned char back[sizeof(buf)];
	struct act_read ar = { .prio = 30, .kind = "pedit", .parms_type = TCA_PEDIT_PARMS,
			       .out = back, .len = sizeof(back) };
	struct tc_pedit_sel sel;
	struct tc_pedit_key key;
	struct fl_tc_err e;
	char what[192];
	int r;

	memset(&sel, 0, sizeof(sel));
	memset(&key, 0, sizeof(key));
	sel.action = TC_ACT_PIPE;
	sel.nkeys = 1;
	key.off = 8;
	key.mask = htonl(0x00ffffff);
	key.val = htonl(64u << 24);
	memcpy(buf, &sel, sizeof(sel));
	memcpy(buf + sizeof(sel), &key, sizeof(key));
	if (pp(c->r, P_U32)->status != FL_DOCTOR_OK) {
		set_skip(pp(c->r, P_PEDIT), "not tried: needs cls_u32");
		return;
	}
	if (filter_root(c, &e) < 0) {
		set_skip(pp(c->r, P_PEDIT), "not tried: %s", e.msg);
		return;
	}
	snprintf(what, sizeof(what),
		 "add filter u32 dst 192.0.2.9 action pedit (set the IPv4 TTL byte) on root '%s' of '%s'",
		 c->froot_kind, c->ifname);
	r = add_raw_action_filter(c, 30, "pedit", TCA_PEDIT_PARMS, buf, sizeof(buf), what, &e);
	if (r == 0)
		r = read_action(c, &ar, &e);
	if (r < 0)
		kfail(c, P_PEDIT, r, &e, "act_pedit", "CONFIG_NET_ACT_PEDIT");
	else if (!ar.found)
		set_fail(pp(c->r, P_PEDIT), "report it with this output",
			 "the kernel accepted the pedit filter but does not list it back");
	else if (((struct tc_pedit_sel *)(void *)back)->nkeys != 1 ||
		 memcmp(back + sizeof(sel), &key, sizeof(key)) != 0)
		set_fail(pp(c->r, P_PEDIT), "report it with this output",
			 "the kernel holds another pedit key than the one sent");
	else
		set_ok(pp(c->r, P_PEDIT), "u32 filter with a raw pedit action (1 key), read back");
	reset_root(c);
}

static void probe_csum(struct kctx *c)
{
	struct tc_csum cs, back;
	struct act_read ar = { .prio = 31, .kind = "csum", .parms_type = TCA_CSUM_PARMS,
			       .out = &back, .len = sizeof(back) };
	struct fl_tc_err e;
	char what[192];
	int r;

	memset(&cs, 0, sizeof(cs));
	cs.action = TC_ACT_OK;
	cs.update_flags = TCA_CSUM_UPDATE_FLAG_IPV4HDR | TCA_CSUM_UPDATE_FLAG_ICMP |
			  TCA_CSUM_UPDATE_FLAG_TCP | TCA_CSUM_UPDATE_FLAG_UDP;
	if (pp(c->r, P_U32)->status != FL_DOCTOR_OK) {
		set_skip(pp(c->r, P_CSUM), "not tried: needs cls_u32");
		return;
	}
	if (filter_root(c, &e) < 0) {
		set_skip(pp(c->r, P_CSUM), "not tried: %s", e.msg);
		return;
	}
	snprintf(what, sizeof(what),
		 "add filter u32 dst 192.0.2.9 action csum (iph icmp tcp udp) on root '%s' of '%s'",
		 c->froot_kind, c->ifname);
	r = add_raw_action_filter(c, 31, "csum", TCA_CSUM_PARMS, &cs, sizeof(cs), what, &e);
	if (r == 0)
		r = read_action(c, &ar, &e);
	if (r < 0)
		kfail(c, P_CSUM, r, &e, "act_csum", "CONFIG_NET_ACT_CSUM");
	else if (!ar.found)
		set_fail(pp(c->r, P_CSUM), "report it with this output",
			 "the kernel accepted the csum filter but does not list it back");
	else if (back.update_flags != cs.update_flags)
		set_fail(pp(c->r, P_CSUM), "report it with this output",
			 "the kernel holds csum flags %#x, sent %#x", back.update_flags,
			 cs.update_flags);
	else
		set_ok(pp(c->r, P_CSUM), "u32 filter with a raw csum action, read back");
	reset_root(c);
}

/* How many of kind among qdiscs, and of our addresses among filters. */
static void count_read(json_t *st, const char *kind, size_t *nkind, const char *const *dsts,
		       size_t ndst, size_t *nfound)
{
	size_t i;
	json_t *v;

	*nkind = *nfound = 0;
	json_array_foreach(json_object_get(st, "qdiscs"), i, v) {
		const char *k = json_string_value(json_object_get(v, "kind"));

		*nkind += k && strcmp(k, kind) == 0;
	}
	json_array_foreach(json_object_get(st, "filters"), i, v) {
		const char *d = json_string_value(json_object_get(v, "dst"));

		for (size_t j = 0; d && j < ndst; j++)
			*nfound += strcmp(d, dsts[j]) == 0;
	}
}

/* The real thing: fl_tc_apply with a small state (one netem shape toward
 * two peers, two blocked addresses), read back, switch to another
 * partition, clear, read back again. */
static void probe_layout(struct kctx *c)
{
	static const char *const need[] = { "sch_prio", "sch_netem", "cls_u32", "cls_u32/ipv6",
					    "act_gact" };
	static const int needi[] = { P_PRIO, P_NETEM, P_U32, P_U32V6, P_GACT };
	static const char *const addrs[] = { "192.0.2.7", "2001:db8::7", "192.0.2.8", "2001:db8::8",
					     "192.0.2.10" };
	struct fl_doctor_probe *p = pp(c->r, P_LAYOUT);
	struct fl_tc_addr a[5];
	struct fl_tc_shape shape = { 0 };
	struct fl_tc_state st = { 0 };
	struct fl_tc_err e;
	char missing[128] = "";
	_cleanup_(json_decrefp) json_t *got = NULL;
	_cleanup_(json_decrefp) json_t *after = NULL;
	size_t nnetem, nprio, nfound, nprio_after, n0;
	int r;

	for (size_t i = 0; i < sizeof(needi) / sizeof(needi[0]); i++)
		if (pp(c->r, needi[i])->status != FL_DOCTOR_OK)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? ", " : "", need[i]);
	if (missing[0]) {
		set_skip(p, "not tried: needs %s", missing);
		return;
	}
	for (size_t i = 0; i < 5; i++)
		if (fl_tc_addr_parse(addrs[i], &a[i]) < 0) {
			c->internal = -EINVAL;
			return;
		}
	shape.netem.set = FL_NETEM_LATENCY | FL_NETEM_LOSS;
	shape.netem.latency_ns = 10 * FL_NS_PER_MS;
	shape.netem.jitter_ns = 1 * FL_NS_PER_MS;
	shape.netem.distribution =
		pp(c->r, P_NORMAL)->status == FL_DOCTOR_OK ? FL_DIST_NORMAL : FL_DIST_UNIFORM;
	shape.netem.loss = 1;
	shape.peers = a;
	shape.npeers = 2;
	st.shapes = &shape;
	st.nshapes = 1;
	st.blocked = a + 2;
	st.nblocked = 2;
	reset_root(c);
	r = fl_tc_apply(c->sk, c->ifindex, &st, &e);
	if (r == 0)
		r = fl_tc_read(c->sk, c->ifindex, &got, &e);
	if (r < 0) {
		kfail(c, P_LAYOUT, r, &e, NULL,
		      "the single pieces work but not together: report it with this output");
		reset_root(c);
		return;
	}
	count_read(got, "netem", &nnetem, addrs, 4, &nfound);
	count_read(got, "prio", &nprio, addrs, 0, &n0);
	if (nprio != 1 || nnetem != 1 || nfound != 4) {
		set_fail(p, "the kernel holds something else than was applied: report it with this output",
			 "fl_tc_apply on '%s': read back %zu prio, %zu netem, %zu of 4 filters",
			 c->ifname, nprio, nnetem, nfound);
		reset_root(c);
		return;
	}
	/* another partition: the hitless switch (add before delete) */
	st.blocked = a + 4;
	st.nblocked = 1;
	r = fl_tc_apply(c->sk, c->ifindex, &st, &e);
	if (r == 0)
		r = fl_tc_clear(c->sk, c->ifindex, &e);
	if (r == 0)
		r = fl_tc_read(c->sk, c->ifindex, &after, &e);
	if (r < 0) {
		kfail(c, P_LAYOUT, r, &e, NULL,
		      "the single pieces work but not together: report it with this output");
		reset_root(c);
		return;
	}
	count_read(after, "prio", &nprio_after, addrs, 0, &n0);
	if (nprio_after) {
		set_fail(p, "report it with this output",
			 "fl_tc_clear on '%s': a prio qdisc is still there", c->ifname);
		reset_root(c);
		return;
	}
	set_ok(p, "applied on '%s' (prio, netem with %s jitter, 2 steering and 2 drop filters), "
		  "switched partition, cleared",
	       c->ifname, shape.netem.distribution == FL_DIST_NORMAL ? "normal" : "uniform");
}

static void remove_links(struct kctx *c)
{
	static const char *const names[] = { VETH0, BRIDGE };
	struct fl_tc_err e;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
		_cleanup_(msg_freep) struct nl_msg *msg = NULL;

		ifi.ifi_index = (int)if_nametoindex(names[i]);
		if (ifi.ifi_index <= 0 || !(msg = nlmsg_alloc_simple(RTM_DELLINK, 0)) ||
		    nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
			continue;
		talk(c->sk, msg, "delete link", &e);
	}
}

static const int kernel_probes[] = { P_VETH, P_BRIDGE, P_PRIO, P_NETEM, P_NORMAL, P_PARETO,
				     P_PARETONORMAL, P_U32, P_U32V6, P_GACT, P_LAYOUT, P_PEDIT,
				     P_CSUM };

static void *kernel_thread(void *arg)
{
	struct kctx *c = arg;
	struct fl_tc_err e;
	int r;

	/* this thread only: the caller's namespace stays as it is */
	if (unshare(CLONE_NEWNET) < 0) {
		int err = errno;
		const char *why = NEEDS_ROOT;
		char msg[96];

		if (err == EPERM && geteuid() != 0) {
			set_skip(pp(c->r, P_NETNS), "%s", why);
		} else {
			set_fail(pp(c->r, P_NETNS),
				 err == EPERM ? "run as root with CAP_SYS_ADMIN (a container needs it "
						"granted, e.g. docker run --privileged)"
					      : "use a kernel that has CONFIG_NET_NS",
				 "unshare(CLONE_NEWNET): %s", lc_strerror(err, msg, sizeof(msg)));
			why = "not tried: needs a network namespace";
		}
		for (size_t i = 0; i < sizeof(kernel_probes) / sizeof(kernel_probes[0]); i++)
			set_skip(pp(c->r, kernel_probes[i]), "%s", why);
		return NULL;
	}
	set_ok(pp(c->r, P_NETNS), "unshare(CLONE_NEWNET) in a throwaway thread");
	r = fl_tc_socket_new(&c->sk, &e);
	if (r < 0) {
		c->internal = r;
		return NULL;
	}
	fcntl(nl_socket_get_fd(c->sk), F_SETFD, FD_CLOEXEC);
	probe_veth(c);
	if (c->internal)
		goto out;
	if (pp(c->r, P_VETH)->status != FL_DOCTOR_OK) {
		/* tc still gets probed, on lo */
		c->ifindex = (int)if_nametoindex("lo");
		snprintf(c->ifname, sizeof(c->ifname), "lo");
	}
	probe_bridge(c);
	if (c->internal || c->ifindex <= 0)
		goto out;
	probe_prio(c);
	probe_netem(c);
	probe_u32(c, 0);
	probe_u32(c, 1);
	probe_gact(c);
	probe_layout(c);
	probe_pedit(c);
	probe_csum(c);
	reset_root(c);
	remove_links(c);
out:
	if (!c->internal && c->ifindex <= 0)
		c->internal = -ENODEV;
	fl_tc_socket_free(c->sk);
	c->sk = NULL;
	return NULL;
}

/* --- programs and files ---------------------------------------------------- */

/* The first executable regular file called name in PATH. */
static int find_in_path(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	_cleanup_(freep) char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct stat sb;

		snprintf(out, len, "%s/%s", *d ? d : ".", name);
		if (stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && access(out, X_OK) == 0)
			return 0;
	}
	out[0] = '\0';
	return -ENOENT;
}

static void probe_program(struct fl_doctor_report *r, int pi, const char *bin, const char *fix)
{
	char path[4096];

	if (find_in_path(bin, path, sizeof(path)) == 0)
		set_ok(pp(r, pi), "%s", path);
	else
		set_fail(pp(r, pi), fix, "'%s' not found in PATH", bin);
}

/* The daemon the libvirt provider talks to, asked through libvirt itself. */
static void probe_libvirt(struct fl_doctor_report *r)
{
	char detail[512];

	if (fl_libvirt_probe("qemu:///system", detail, sizeof(detail)) == 0)
		set_ok(pp(r, P_LIBVIRT), "%s", detail);
	else
		set_fail(pp(r, P_LIBVIRT),
			 "apt-get install libvirt-daemon-system libvirt-clients; mkdir -p "
			 "/var/log/libvirt; virtlogd -d; libvirtd -d",
			 "%s", detail);
}

/* fl_kvm_usable's test (KVM_CREATE_VM included), with the hint that fits */
static void probe_kvm(struct fl_doctor_report *r)
{
	char why[200];
	int e = 0;

	if (fl_kvm_usable(why, sizeof(why))) {
		set_ok(pp(r, P_KVM), "%s", why);
		return;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		e = errno;
	set_fail(pp(r, P_KVM),
		 e == EACCES ? "add the user to group 'kvm' (usermod -aG kvm USER) or run as root"
			     : "enable VT-x/AMD-V in the firmware, or nested virtualization in the "
			       "hypervisor, and load kvm_intel or kvm_amd",
		 "%s", why);
}

static int vercmp_desc(const void *a, const void *b)
{
	return -strverscmp(*(const char *const *)a, *(const char *const *)b);
}

/* As tests/vm/run picks it: the newest /boot/vmlinuz-* with its modules. */
static void probe_vmlinuz(struct fl_doctor_report *r)
{
	glob_t g;
	char path[512], fallback[512] = "";
	int ok = 0;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0) {
		set_fail(pp(r, P_VMLINUZ), "apt-get install linux-image-amd64", "no /boot/vmlinuz-*");
		return;
	}
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), vercmp_desc);
	for (size_t i = 0; i < g.gl_pathc && !ok; i++) {
		const char *v = g.gl_pathv[i] + strlen("/boot/vmlinuz-");

		snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", v);
		if (access(path, R_OK) != 0)
			continue;
		if (access(g.gl_pathv[i], R_OK) != 0) {
			if (!fallback[0])
				snprintf(fallback, sizeof(fallback), "%s", g.gl_pathv[i]);
			continue;
		}
		set_ok(pp(r, P_VMLINUZ), "%s (modules in /lib/modules/%s)", g.gl_pathv[i], v);
		ok = 1;
	}
	if (!ok && fallback[0])
		set_fail(pp(r, P_VMLINUZ), "run as root, or chmod a+r it",
			 "%s is not readable by this user (Debian installs it mode 0600)", fallback);
	else if (!ok)
		set_fail(pp(r, P_VMLINUZ), "apt-get install linux-image-amd64",
			 "no /boot/vmlinuz-* has its modules in /lib/modules/<version>");
	globfree(&g);
}

static void probe_busybox(struct fl_doctor_report *r)
{
	static const char *const paths[] = { "/bin/busybox", "/usr/bin/busybox" };
	const char *dynamic = NULL;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int s = access(paths[i], X_OK) == 0 ? fl_vmimage_elf_is_static(paths[i]) : -ENOENT;

		if (s == 1) {
			set_ok(pp(r, P_BUSYBOX), "%s (static)", paths[i]);
			return;
		}
		if (s == 0 && !dynamic)
			dynamic = paths[i];
	}
	if (dynamic)
		set_fail(pp(r, P_BUSYBOX), "apt-get install busybox-static",
			 "%s is dynamically linked: the micro-VM's initramfs has no libc", dynamic);
	else
		set_fail(pp(r, P_BUSYBOX), "apt-get install busybox-static",
			 "no /bin/busybox or /usr/bin/busybox");
}

/* --- the report ------------------------------------------------------------------ */

int fl_doctor_probe_all(struct fl_doctor_report *r)
{
	struct kctx c = { .r = r };
	struct utsname u;
	pthread_t th;
	int e;

	memset(r, 0, sizeof(*r));
	if (uname(&u) == 0)
		snprintf(r->kernel, sizeof(r->kernel), "%s", u.release);
	r->n = P__N;
	for (int i = 0; i < P__N; i++) {
		r->probes[i].name = probe_def[i].name;
		r->probes[i].what = probe_def[i].what;
		r->probes[i].required = probe_def[i].required;
		r->probes[i].tc = probe_def[i].tc;
		r->probes[i].status = FL_DOCTOR_SKIPPED;
		snprintf(r->probes[i].detail, sizeof(r->probes[i].detail), "not probed");
	}
	e = pthread_create(&th, NULL, kernel_thread, &c);
	if (e != 0)
		return -e;
	pthread_join(th, NULL);
	if (c.internal)
		return c.internal;

	probe_libvirt(r);
	probe_program(r, P_QEMU, "qemu-system-x86_64", "apt-get install qemu-system-x86");
	probe_kvm(r);
	probe_vmlinuz(r);
	probe_busybox(r);
	probe_program(r, P_ETCD, "etcd", "apt-get install etcd-server");
	probe_program(r, P_REDIS, "redis-server", "apt-get install redis-server");
	probe_program(r, P_SENTINEL, "redis-sentinel", "apt-get install redis-sentinel");

	for (size_t i = 0; i < r->n; i++) {
		const struct fl_doctor_probe *p = &r->probes[i];

		r->ok += p->status == FL_DOCTOR_OK;
		r->missing += p->status == FL_DOCTOR_MISSING;
		r->tc_missing += p->status == FL_DOCTOR_MISSING && p->tc;
		r->warnings += p->status == FL_DOCTOR_WARNING;
		r->skipped += p->status == FL_DOCTOR_SKIPPED;
	}
	return 0;
}

static const char *status_name(enum fl_doctor_status s)
{
	switch (s) {
	case FL_DOCTOR_OK:
		return "ok";
	case FL_DOCTOR_MISSING:
		return "missing";
	case FL_DOCTOR_WARNING:
		return "warning";
	default:
		return "skipped";
	}
}

/* What to do about it all, or "" when nothing. */
static void advice(const struct fl_doctor_report *r, char *buf, size_t len)
{
	int needs_root = 0, vm_ok = 1;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n; i++) {
		needs_root |= r->probes[i].status == FL_DOCTOR_SKIPPED &&
			      strncmp(r->probes[i].detail, NEEDS_ROOT, strlen(NEEDS_ROOT)) == 0;
		if (i == P_QEMU || i == P_VMLINUZ || i == P_BUSYBOX)
			vm_ok &= r->probes[i].status == FL_DOCTOR_OK;
	}
	if (r->tc_missing)
		snprintf(buf, len, "this kernel cannot inject network faults; " VM_ADVICE_TAIL "%s",
			 vm_ok ? "" : "; the micro-VM itself needs qemu, vm-kernel and busybox-static "
				      "(see above)");
	else if (r->missing)
		snprintf(buf, len, "this kernel cannot build local clusters; " VM_ADVICE_TAIL "%s",
			 vm_ok ? "" : "; the micro-VM itself needs qemu, vm-kernel and busybox-static "
				      "(see above)");
	else if (needs_root)
		snprintf(buf, len, "kernel probes need root: run faultline doctor as root");
}

static int print_json(FILE *out, const struct fl_doctor_report *r)
{
	_cleanup_(json_decrefp) json_t *root = json_object();
	json_t *arr = json_array();
	char adv[512];
	int bad = !root || !arr;

	if (!bad)
		bad |= json_object_set_new(root, "kernel", json_string(r->kernel)) ||
		       json_object_set_new(root, "probes", arr);
	else
		json_decref(arr);
	for (size_t i = 0; !bad && i < r->n; i++) {
		const struct fl_doctor_probe *p = &r->probes[i];
		json_t *o = json_pack("{s:s, s:b, s:b, s:s, s:s, s:s}", "name", p->name, "ok",
				      p->status == FL_DOCTOR_OK, "required", p->required, "status",
				      status_name(p->status), "detail", p->detail, "fix", p->fix);

		bad |= !o || json_array_append_new(arr, o);
	}
	if (!bad)
		bad |= json_object_set_new(root, "missing", json_integer(r->missing));
	advice(r, adv, sizeof(adv));
	if (!bad && adv[0])
		bad |= json_object_set_new(root, "advice", json_string(adv));
	if (bad)
		return -ENOMEM;
	if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', out) == EOF)
		return -EIO;
	return 0;
}

int fl_doctor_print(FILE *out, int json, const struct fl_doctor_report *r)
{
	char adv[512];

	if (json) {
		int e = print_json(out, r);

		if (e < 0)
			return e;
	} else {
		for (size_t i = 0; i < r->n; i++) {
			const struct fl_doctor_probe *p = &r->probes[i];

			switch (p->status) {
			case FL_DOCTOR_OK:
				fprintf(out, "ok       %s (%s)%s%s\n", p->name, p->what,
					probe_def[i].kernel || !p->detail[0] ? "" : ": ",
					probe_def[i].kernel ? "" : p->detail);
				break;
			case FL_DOCTOR_MISSING:
			case FL_DOCTOR_WARNING:
				fprintf(out, "%s  %s: %s%s%s\n",
					p->status == FL_DOCTOR_MISSING ? "MISSING" : "warning", p->name,
					p->detail, p->fix[0] ? " -> " : "", p->fix);
				break;
			default:
				fprintf(out, "skipped  %s: %s\n", p->name, p->detail);
				break;
			}
		}
		fprintf(out, "\nsummary: %d ok, %d missing, %d warnings, %d skipped (kernel %s)\n",
			r->ok, r->missing, r->warnings, r->skipped, r->kernel);
		advice(r, adv, sizeof(adv));
		if (adv[0])
			fprintf(out, "%s\n", adv);
	}
	if (fflush(out) == EOF || ferror(out))
		return -EIO;
	return 0;
}

int fl_doctor_run(FILE *out, int json, int *missing)
{
	struct fl_doctor_report *r = calloc(1, sizeof(*r));
	int e;

	if (!r)
		return -ENOMEM;
	e = fl_doctor_probe_all(r);
	if (e == 0)
		e = fl_doctor_print(out, json, r);
	if (e == 0 && missing)
		*missing = r->missing;
	free(r);
	return e;
}
