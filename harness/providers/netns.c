/*
 * harness/providers/netns.c: the netns cluster provider (see netns.h).
 * Links, addresses and routes through libnl-route, namespaces through
 * unshare/mount/setns; it must never run `ip` or a shell, never log, and
 * never make an object it has not journaled first.
 */
#include "faultline/strutil.h"
#include "faultline/netns.h"
#include "faultline/util.h"
#include "faultline/nlerr.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/rtnl.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>


/* Undo entries: one bridge, then per node a namespace and a link. */
#define MAX_UNDO (1 + 2 * FL_NETNS_MAX_NODES)
#define NL_TIMEOUT_S 5

enum undo_kind { UNDO_BRIDGE, UNDO_NETNS, UNDO_LINK, UNDO__N };
static const char *const undo_names[UNDO__N] = { "bridge", "netns", "link" };

struct undo {
	enum undo_kind kind;
	char name[40];
	int forgotten; /* made by someone else (EEXIST): not ours to remove */
};

struct fl_netns_node {
	char name[FL_NETNS_NAME_MAX + 1];
	char ns[32];
	char path[64];
	char link[IFNAMSIZ];
	uint32_t addr;
	int nsfd; /* -1 when not open */
};

struct fl_netns_cluster {
	char id[FL_NETNS_ID_MAX + 1];
	char bridge[IFNAMSIZ];
	uint32_t subnet;
	unsigned prefix;
	int has_info; /* the "cluster" line was read (attach) or written (up) */
	char *state_dir;
	char *journal;
	int jfd; /* open while up() appends */
	struct undo undo[MAX_UNDO];
	size_t nundo;
	size_t nnodes;
	struct fl_netns_node node[FL_NETNS_MAX_NODES];
};

/* --- errors ---------------------------------------------------------------- */


static int nle_gone(int nle)
{
	return nle == -NLE_NODEV || nle == -NLE_OBJ_NOTFOUND;
}

/* --- pure functions ---------------------------------------------------------- */

static int is_id(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9')))
			return 0;
	return n >= 1 && n <= FL_NETNS_ID_MAX;
}

int fl_netns_is_node_name(const char *s)
{
	size_t n;

	if (!s || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (n = 1; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
			return 0;
	return n <= FL_NETNS_NAME_MAX;
}

int fl_netns_make_id(const char *scenario_name, char out[FL_NETNS_ID_MAX + 1])
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	uint32_t h = 2166136261u; /* FNV-1a: stable across builds and machines */

	if (!scenario_name || !*scenario_name)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)scenario_name; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (int i = FL_NETNS_ID_MAX - 1; i >= 0; i--) {
		out[i] = digits[h % 36];
		h /= 36;
	}
	out[FL_NETNS_ID_MAX] = '\0';
	return 0;
}

int fl_netns_bridge_name(const char *id, char *buf, size_t len)
{
	if (!is_id(id) || (size_t)snprintf(buf, len, "fl%sbr", id) >= len)
		return -EINVAL;
	return 0;
}

int fl_netns_link_name(const char *id, size_t index, char *buf, size_t len)
{
	if (!is_id(id) || index >= FL_NETNS_MAX_NODES ||
	    (size_t)snprintf(buf, len, "fl%sv%zu", id, index) >= len)
		return -EINVAL;
	return 0;
}

int fl_netns_ns_name(const char *id, const char *node, char *buf, size_t len)
{
	if (!is_id(id) || !fl_netns_is_node_name(node) || (size_t)snprintf(buf, len, "fl-%s-%s", id, node) >= len)
		return -EINVAL;
	return 0;
}

static int is_id_span(const char *s, size_t n)
{
	char id[FL_NETNS_ID_MAX + 1];

	if (n < 1 || n > FL_NETNS_ID_MAX)
		return 0;
	memcpy(id, s, n);
	id[n] = '\0';
	return is_id(id);
}

int fl_netns_is_our_link(const char *ifname)
{
	size_t n;
	const char *v;

	if (!ifname || strncmp(ifname, "fl", 2) != 0)
		return 0;
	ifname += 2;
	n = strlen(ifname);
	if (n > 2 && strcmp(ifname + n - 2, "br") == 0 && is_id_span(ifname, n - 2))
		return 1;
	v = strrchr(ifname, 'v');
	if (!v || !v[1] || strlen(v + 1) > 2 || strspn(v + 1, "0123456789") != strlen(v + 1))
		return 0;
	return is_id_span(ifname, (size_t)(v - ifname));
}

int fl_netns_is_our_ns(const char *name)
{
	const char *dash;

	if (!name || strncmp(name, "fl-", 3) != 0)
		return 0;
	name += 3;
	dash = strchr(name, '-');
	return dash && is_id_span(name, (size_t)(dash - name)) && fl_netns_is_node_name(dash + 1);
}

static uint32_t mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~0u << (32 - prefix);
}

int fl_cidr4_overlap(uint32_t a, unsigned aprefix, uint32_t b, unsigned bprefix)
{
	uint32_t m = mask_of(aprefix < bprefix ? aprefix : bprefix);

	return (a & m) == (b & m);
}

void fl_cidr4_format(uint32_t net, unsigned prefix, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u/%u", net >> 24, (net >> 16) & 0xff, (net >> 8) & 0xff,
		 net & 0xff, prefix);
}

static void addr_format(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int fl_netns_conflict(uint32_t subnet, unsigned prefix, const struct fl_netns_used *used,
		      size_t nused)
{
	int best = -1;

	for (size_t i = 0; i < nused; i++)
		if (fl_cidr4_overlap(subnet, prefix, used[i].net, used[i].prefix) &&
		    (best < 0 || used[i].prefix < used[best].prefix))
			best = (int)i;
	return best;
}

#define CAND_10 (254 - 213 + 1) /* 10.213.0.0/24 .. 10.254.0.0/24 */
#define CAND_172 256            /* 172.30.0.0/24 .. 172.30.255.0/24 */

int fl_netns_candidate(size_t i, uint32_t *subnet, unsigned *prefix)
{
	if (i < CAND_10)
		*subnet = (10u << 24) | ((213u + (uint32_t)i) << 16);
	else if (i < CAND_10 + CAND_172)
		*subnet = (172u << 24) | (30u << 16) | ((uint32_t)(i - CAND_10) << 8);
	else
		return -ERANGE;
	*prefix = 24;
	return 0;
}

int fl_netns_choose_subnet(const struct fl_netns_used *used, size_t nused, uint32_t *subnet,
			   unsigned *prefix)
{
	uint32_t s;
	unsigned p;

	for (size_t i = 0; fl_netns_candidate(i, &s, &p) == 0; i++) {
		if (fl_netns_conflict(s, p, used, nused) < 0) {
			*subnet = s;
			*prefix = p;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

/* Ranges a cluster can never use, whatever the host's routes say. */
static const struct {
	uint32_t net;
	unsigned prefix;
	const char *what;
} special[] = {
	{ 0x00000000u, 8, "'this network' (0.0.0.0/8)" },
	{ 0x7f000000u, 8, "loopback (127.0.0.0/8)" },
	{ 0xa9fe0000u, 16, "link-local (169.254.0.0/16)" },
	{ 0xe0000000u, 3, "multicast and reserved (224.0.0.0/3)" },
};

int fl_netns_check_spec(const struct fl_netns_spec *spec, char *err, size_t errlen)
{
	char cidr[32];

	if (!spec)
		return fl_fail(-EINVAL, err, errlen, "no cluster spec");
	if (!is_id(spec->id))
		return fl_fail(-EINVAL, err, errlen,
			    "cluster id '%s' must be 1 to %d lowercase letters or digits",
			    spec->id ? spec->id : "", FL_NETNS_ID_MAX);
	if (spec->nnodes < 1 || spec->nnodes > FL_NETNS_MAX_NODES)
		return fl_fail(-EINVAL, err, errlen, "a cluster needs 1 to %d nodes, got %zu",
			    FL_NETNS_MAX_NODES, spec->nnodes);
	if (!spec->names)
		return fl_fail(-EINVAL, err, errlen, "no node names");
	for (size_t i = 0; i < spec->nnodes; i++) {
		if (!fl_netns_is_node_name(spec->names[i]))
			return fl_fail(-EINVAL, err, errlen,
				    "node name '%s' must be 1 to %d lowercase letters, digits or '-', "
				    "starting with a letter",
				    spec->names[i] ? spec->names[i] : "", FL_NETNS_NAME_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(spec->names[i], spec->names[j]) == 0)
				return fl_fail(-EINVAL, err, errlen, "node name '%s' appears twice",
					    spec->names[i]);
	}
	if (!spec->state_dir || !*spec->state_dir)
		return fl_fail(-EINVAL, err, errlen, "a state directory is required (for the undo journal)");
	if (!spec->has_subnet)
		return 0;
	fl_cidr4_format(spec->subnet, spec->prefix, cidr, sizeof(cidr));
	if (spec->prefix < 8 || spec->prefix > 29)
		return fl_fail(-EINVAL, err, errlen, "subnet '%s': the prefix must be /8 to /29", cidr);
	if (spec->subnet & ~mask_of(spec->prefix))
		return fl_fail(-EINVAL, err, errlen, "subnet '%s' has host bits set", cidr);
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (fl_cidr4_overlap(spec->subnet, spec->prefix, special[i].net, special[i].prefix))
			return fl_fail(-EINVAL, err, errlen, "subnet '%s' overlaps the %s range", cidr,
				    special[i].what);
	if ((1ull << (32 - spec->prefix)) - 2 < spec->nnodes + 1)
		return fl_fail(-EINVAL, err, errlen,
			    "subnet '%s' holds %llu addresses, the cluster needs %zu "
			    "(the host and every node)",
			    cidr, (1ull << (32 - spec->prefix)) - 2, spec->nnodes + 1);
	return 0;
}

/* --- netlink ----------------------------------------------------------------- */

/* One socket, in the namespace of the thread that opened it. */
struct nlx {
	struct nl_sock *sk;
	char ext[256]; /* the kernel's extended-ack text of the last error */
};

static void nlx_close(struct nlx *x)
{
	if (x->sk)
		nl_socket_free(x->sk);
	x->sk = NULL;
}

/* libnl 3.7 has no extended-ack API: pick the kernel's words out here. */
static int on_nl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nlx *x = arg;

	(void)nla;
	fl_nl_ext_ack(e, x->ext, sizeof(x->ext));
	return NL_STOP; /* libnl then returns the usual -NLE_* code */
}

static int nlx_open(struct nlx *x, char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = NL_TIMEOUT_S };
	int one = 1;
	int r;

	x->ext[0] = '\0';
	x->sk = nl_socket_alloc();
	if (!x->sk)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = nl_connect(x->sk, NETLINK_ROUTE);
	if (r < 0) {
		nlx_close(x);
		return fl_fail(fl_nl_errno(r), err, errlen, "cannot open a netlink socket: %s",
			    nl_geterror(r));
	}
	/* libnl creates it without SOCK_CLOEXEC: children we spawn must not inherit it */
	fcntl(nl_socket_get_fd(x->sk), F_SETFD, FD_CLOEXEC);
	setsockopt(nl_socket_get_fd(x->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(x->sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	nl_socket_modify_err_cb(x->sk, NL_CB_CUSTOM, on_nl_error, x);
	return 0;
}

/* "<what>: <libnl's words> (kernel: <the kernel's>)", and the errno code. */
__attribute__((format(printf, 5, 6)))
static int nl_fail(struct nlx *x, int nle, char *err, size_t errlen, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (x->ext[0])
		fl_fail(0, err, errlen, "%s: %s (kernel: %s)", what, nl_geterror(nle), x->ext);
	else
		fl_fail(0, err, errlen, "%s: %s", what, nl_geterror(nle));
	x->ext[0] = '\0';
	return fl_nl_errno(nle);
}


/* 1 exists (ifindex in *ifindex when given), 0 does not, < 0 error. */
static int link_lookup(struct nlx *x, const char *name, int *ifindex, char *err, size_t errlen)
{
	_cleanup_(link_putp) struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(x->sk, 0, name, &l);

	if (nle_gone(r)) {
		x->ext[0] = '\0';
		return 0;
	}
	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot look up link '%s'", name);
	if (ifindex)
		*ifindex = rtnl_link_get_ifindex(l);
	return 1;
}

/* A cluster link makes no IPv6 link-local address (addr_gen_mode none),
 * set before it goes up: the cluster network is IPv4, and every node's
 * duplicate-address probes, router and multicast-listener messages were
 * flooded by the bridge to every other node, a cost that grew with the
 * square of the nodes (bench_net: up of 64 nodes 35 s -> 14 s under TCG
 * with IPv6 off). IPv6 stays on: a system may still add addresses. */
static int link_no_ll6(struct nlx *x, struct rtnl_link *l, const char *name, char *err,
		       size_t errlen)
{
	_cleanup_(link_putp) struct rtnl_link *change = rtnl_link_alloc();
	int r;

	if (!change)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	if ((r = rtnl_link_inet6_set_addr_gen_mode(change, IN6_ADDR_GEN_MODE_NONE)) < 0 ||
	    (r = rtnl_link_change(x->sk, l, change, 0)) < 0)
		return nl_fail(x, r, err, errlen, "cannot turn off IPv6 link-local addresses on '%s'",
			       name);
	return 0;
}

static int link_set_up(struct nlx *x, const char *name, int master, int no_ll6, char *err,
		       size_t errlen)
{
	_cleanup_(link_putp) struct rtnl_link *l = NULL;
	_cleanup_(link_putp) struct rtnl_link *change = rtnl_link_alloc();
	int r;

	if (!change)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = rtnl_link_get_kernel(x->sk, 0, name, &l);
	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot look up link '%s'", name);
	if (no_ll6 && (r = link_no_ll6(x, l, name, err, errlen)) < 0)
		return r;
	if (master > 0)
		rtnl_link_set_master(change, master);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(x->sk, l, change, 0);
	if (r < 0)
		return nl_fail(x, r, err, errlen, master > 0 ? "cannot add link '%s' to the bridge and set it up"
							     : "cannot set link '%s' up", name);
	return 0;
}

static int add_addr(struct nlx *x, const char *ifname, uint32_t a, unsigned prefix, char *err,
		    size_t errlen)
{
	_cleanup_(addr_putp) struct rtnl_addr *ra = rtnl_addr_alloc();
	_cleanup_(nladdr_putp) struct nl_addr *local = NULL;
	_cleanup_(nladdr_putp) struct nl_addr *brd = NULL;
	struct in_addr in = { .s_addr = htonl(a) };
	struct in_addr bc = { .s_addr = htonl(a | ~mask_of(prefix)) };
	char text[32];
	int ifindex = 0;
	int r;

	fl_cidr4_format(a, prefix, text, sizeof(text));
	local = nl_addr_build(AF_INET, &in, sizeof(in));
	brd = nl_addr_build(AF_INET, &bc, sizeof(bc));
	if (!ra || !local || !brd)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = link_lookup(x, ifname, &ifindex, err, errlen);
	if (r <= 0)
		return r < 0 ? r : fl_fail(-ENODEV, err, errlen, "link '%s' vanished", ifname);
	nl_addr_set_prefixlen(local, (int)prefix);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, AF_INET);
	r = rtnl_addr_set_local(ra, local);
	if (r >= 0)
		r = rtnl_addr_set_broadcast(ra, brd);
	if (r >= 0) {
		rtnl_addr_set_prefixlen(ra, prefix);
		r = rtnl_addr_add(x->sk, ra, NLM_F_EXCL);
	}
	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot add address %s to link '%s'", text, ifname);
	return 0;
}

static int delete_link(struct nlx *x, const char *name, char *err, size_t errlen)
{
	_cleanup_(link_putp) struct rtnl_link *l = rtnl_link_alloc();
	int r;

	if (!l)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	rtnl_link_set_name(l, name);
	r = rtnl_link_delete(x->sk, l);
	if (r < 0 && !nle_gone(r))
		return nl_fail(x, r, err, errlen, "cannot delete link '%s'", name);
	x->ext[0] = '\0';
	return 0;
}

/* --- namespaces ------------------------------------------------------------------ */

static int enter_fd(int nsfd, int *saved)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int e;

	if (fd < 0)
		return -errno;
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	*saved = fd;
	return 0;
}

int fl_netns_leave(int saved_fd)
{
	int r = setns(saved_fd, CLONE_NEWNET) < 0 ? -errno : 0;

	close(saved_fd);
	return r;
}

/* A netlink socket that lives in the namespace nsfd. */
static int nlx_open_in(struct nlx *x, int nsfd, const char *node, char *err, size_t errlen)
{
	int saved = -1;
	int r = enter_fd(nsfd, &saved);

	if (r < 0)
		return fl_fail(r, err, errlen, "cannot enter the namespace of node '%s': %s", node,
			    strerror(-r));
	r = nlx_open(x, err, errlen);
	if (fl_netns_leave(saved) < 0) {
		/* the thread is stuck in the node's namespace: nothing after this is safe */
		nlx_close(x);
		return fl_fail(-ENOTRECOVERABLE, err, errlen,
			    "cannot return from the namespace of node '%s'", node);
	}
	return r;
}

/* Like iproute2: /run/netns a shared mount point, so namespaces mounted
 * there show in every mount namespace that shares it. */
static int prepare_run_dir(char *err, size_t errlen)
{
	int made = 0;

	if (mkdir(FL_NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return fl_fail(-errno, err, errlen, "cannot create '%s': %s", FL_NETNS_RUN_DIR,
			    strerror(errno));
	while (mount("", FL_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL || made)
			return fl_fail(-errno, err, errlen, "cannot make '%s' a shared mount: %s",
				    FL_NETNS_RUN_DIR, strerror(errno));
		if (mount(FL_NETNS_RUN_DIR, FL_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
			return fl_fail(-errno, err, errlen, "cannot bind-mount '%s' onto itself: %s",
				    FL_NETNS_RUN_DIR, strerror(errno));
		made = 1;
	}
	return 0;
}

struct mkns {
	const char *path;
	const char *step;
	int err;
};

/* A thread of its own, so that the caller's thread never changes namespace. */
static void *mkns_thread(void *arg)
{
	struct mkns *m = arg;

	if (unshare(CLONE_NEWNET) < 0) {
		m->err = errno;
		m->step = "unshare(CLONE_NEWNET)";
	} else if (mount("/proc/thread-self/ns/net", m->path, "none", MS_BIND, NULL) < 0) {
		m->err = errno;
		m->step = "bind mount";
	}
	return NULL;
}

static int make_ns(const struct fl_netns_node *n, char *err, size_t errlen)
{
	struct mkns m = { .path = n->path };
	pthread_t t;
	int r;

	r = pthread_create(&t, NULL, mkns_thread, &m);
	if (r != 0)
		return fl_fail(-r, err, errlen, "cannot start a thread for namespace '%s': %s", n->ns,
			    strerror(r));
	pthread_join(t, NULL);
	if (m.err)
		return fl_fail(-m.err, err, errlen, "cannot create namespace '%s': %s: %s", n->ns, m.step,
			    strerror(m.err));
	return 0;
}

/* Processes still in one of the namespaces at paths keep it alive: kill
 * them (not us). One walk of /proc for every namespace of a cluster: a
 * walk per namespace made `down` of 64 nodes stat 8,000 files. */
static void kill_ns_procs(const char *const *paths, size_t n)
{
	struct stat ns[FL_NETNS_MAX_NODES * 2], st;
	size_t k = 0;
	struct dirent *e;
	char p[64];
	DIR *d;

	for (size_t i = 0; i < n && k < sizeof(ns) / sizeof(ns[0]); i++)
		if (stat(paths[i], &ns[k]) == 0)
			k++;
	if (!k || !(d = opendir("/proc")))
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/ns/net", pid);
		if (stat(p, &st) < 0)
			continue;
		for (size_t i = 0; i < k; i++)
			if (st.st_dev == ns[i].st_dev && st.st_ino == ns[i].st_ino) {
				kill((pid_t)pid, SIGKILL);
				break;
			}
	}
	closedir(d);
}

/* Unpin the namespace (its processes killed before, kill_ns_procs). */
static int remove_ns(const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", FL_NETNS_RUN_DIR, name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return fl_fail(-errno, err, errlen, "cannot unmount namespace '%s': %s", name,
			    strerror(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		return fl_fail(-errno, err, errlen, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Remove the namespaces names[0..n), their processes first. */
static int remove_namespaces(char *const *names, size_t n, char *err, size_t errlen)
{
	char paths[FL_NETNS_MAX_NODES * 2][PATH_MAX / 16];
	const char *pv[FL_NETNS_MAX_NODES * 2];
	size_t k = 0;
	int first = 0, r;
	char msg[512];

	for (size_t i = 0; i < n && k < sizeof(pv) / sizeof(pv[0]); i++) {
		snprintf(paths[k], sizeof(paths[k]), "%s/%s", FL_NETNS_RUN_DIR, names[i]);
		pv[k] = paths[k];
		k++;
	}
	kill_ns_procs(pv, k);
	for (size_t i = 0; i < n; i++)
		if ((r = remove_ns(names[i], msg, sizeof(msg))) < 0 && !first) {
			first = r;
			fl_fail(0, err, errlen, "%s", msg);
		}
	return first;
}

/* --- journal ------------------------------------------------------------------- */


/* Appends one line and makes it durable before the change it announces. */
static int journal_line(struct fl_netns_cluster *c, json_t *o, char *err, size_t errlen)
{
	int r = fl_json_append_line(c->jfd, o);

	json_decref(o);
	if (r == 0 && fdatasync(c->jfd) < 0)
		r = -errno;
	if (r < 0)
		return fl_fail(r, err, errlen, "cannot write the journal '%s': %s", c->journal,
			    strerror(-r));
	return 0;
}

static int journal_undo(struct fl_netns_cluster *c, enum undo_kind kind, const char *name,
			char *err, size_t errlen)
{
	struct undo *u;
	int r;

	if (c->nundo == MAX_UNDO)
		return fl_fail(-ENOSPC, err, errlen, "journal full");
	r = journal_line(c, json_pack("{s:s, s:s}", "op", undo_names[kind], "name", name), err,
			 errlen);
	if (r < 0)
		return r;
	u = &c->undo[c->nundo++];
	u->kind = kind;
	u->forgotten = 0;
	snprintf(u->name, sizeof(u->name), "%s", name);
	return 0;
}

/* The object we announced turned out to exist already: someone else's. */
static void journal_forget(struct fl_netns_cluster *c)
{
	struct undo *u = &c->undo[c->nundo - 1];

	u->forgotten = 1;
	/* best effort: if this line is lost, undo removes an object of our name pattern */
	journal_line(c, json_pack("{s:s, s:s}", "op", "forget", "name", u->name), NULL, 0);
}

static int journal_cluster(struct fl_netns_cluster *c, char *err, size_t errlen)
{
	json_t *nodes = json_array();
	char cidr[32], a[20];

	if (!nodes)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	for (size_t i = 0; i < c->nnodes; i++) {
		addr_format(c->node[i].addr, a, sizeof(a));
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:s, s:s}", "name", c->node[i].name,
							"ns", c->node[i].ns, "link", c->node[i].link,
							"addr", a));
	}
	fl_cidr4_format(c->subnet, c->prefix, cidr, sizeof(cidr));
	return journal_line(c, json_pack("{s:s, s:s, s:s, s:s, s:o}", "op", "cluster", "id", c->id,
					 "subnet", cidr, "bridge", c->bridge, "nodes", nodes),
			    err, errlen);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* --- the cluster object ------------------------------------------------------------ */

static struct fl_netns_cluster *cluster_new(const char *state_dir)
{
	struct fl_netns_cluster *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->jfd = -1;
	for (size_t i = 0; i < FL_NETNS_MAX_NODES; i++)
		c->node[i].nsfd = -1;
	c->state_dir = strdup(state_dir);
	if (!c->state_dir || asprintf(&c->journal, "%s/%s", state_dir, FL_NETNS_JOURNAL) < 0) {
		c->journal = NULL;
		fl_netns_cluster_free(c);
		return NULL;
	}
	return c;
}

void fl_netns_cluster_free(struct fl_netns_cluster *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < FL_NETNS_MAX_NODES; i++)
		if (c->node[i].nsfd >= 0)
			close(c->node[i].nsfd);
	if (c->jfd >= 0)
		close(c->jfd);
	free(c->state_dir);
	free(c->journal);
	free(c);
}

/* Names and addresses of every object, from id, names, subnet. */
static int cluster_layout(struct fl_netns_cluster *c, const char *id, size_t nnodes,
			  const char *const *names)
{
	snprintf(c->id, sizeof(c->id), "%s", id);
	if (fl_netns_bridge_name(id, c->bridge, sizeof(c->bridge)) < 0)
		return -EINVAL;
	c->nnodes = nnodes;
	for (size_t i = 0; i < nnodes; i++) {
		struct fl_netns_node *n = &c->node[i];

		snprintf(n->name, sizeof(n->name), "%s", names[i]);
		if (fl_netns_ns_name(id, names[i], n->ns, sizeof(n->ns)) < 0 ||
		    fl_netns_link_name(id, i, n->link, sizeof(n->link)) < 0)
			return -EINVAL;
		snprintf(n->path, sizeof(n->path), "%s/%s", FL_NETNS_RUN_DIR, n->ns);
		n->addr = c->subnet + 2 + (uint32_t)i;
	}
	return 0;
}

const char *fl_netns_cluster_id(const struct fl_netns_cluster *c) { return c->id; }
const char *fl_netns_bridge(const struct fl_netns_cluster *c) { return c->bridge; }
size_t fl_netns_nnodes(const struct fl_netns_cluster *c) { return c->nnodes; }
uint32_t fl_netns_host_addr(const struct fl_netns_cluster *c) { return c->subnet + 1; }

uint32_t fl_netns_subnet(const struct fl_netns_cluster *c, unsigned *prefix)
{
	if (prefix)
		*prefix = c->prefix;
	return c->subnet;
}

const char *fl_netns_node_name(const struct fl_netns_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].name : NULL;
}

uint32_t fl_netns_node_addr(const struct fl_netns_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].addr : 0;
}

const char *fl_netns_node_ns(const struct fl_netns_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].ns : NULL;
}

const char *fl_netns_node_path(const struct fl_netns_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].path : NULL;
}

const char *fl_netns_node_link(const struct fl_netns_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].link : NULL;
}

/* --- what the host uses -------------------------------------------------------------- */

struct used_list {
	struct fl_netns_used *v;
	size_t n, cap;
};

static struct fl_netns_used *used_push(struct used_list *l)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct fl_netns_used *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static uint32_t nl_addr_v4(struct nl_addr *a)
{
	uint32_t v;

	memcpy(&v, nl_addr_get_binary_addr(a), sizeof(v));
	return ntohl(v);
}

static void ifname_of(struct nl_cache *links, int ifindex, char *buf, size_t len)
{
	if (!links || !rtnl_link_i2name(links, ifindex, buf, len))
		snprintf(buf, len, "if%d", ifindex);
}

/* " (faultline cluster 'ID')" when name is a cluster's bridge, else "". */
static void cluster_of_bridge(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	buf[0] = '\0';
	if (fl_netns_is_our_link(name) && n > 4 && strcmp(name + n - 2, "br") == 0)
		snprintf(buf, len, " (faultline cluster '%.*s')", (int)(n - 4), name + 2);
}

/* "the route [type ]A/P[ via G][ dev D][ table T]", as `ip route` would show it. */
static void describe_route(struct rtnl_route *rt, struct nl_cache *links, uint32_t net,
			   unsigned prefix, char *buf, size_t len)
{
	char cidr[32], type[32] = "", via[40] = "", dev[IFNAMSIZ + 8] = "", table[48] = "";
	char cluster[48] = "";
	uint8_t t = rtnl_route_get_type(rt);
	uint32_t tab = rtnl_route_get_table(rt);

	fl_cidr4_format(net, prefix, cidr, sizeof(cidr));
	if (t != RTN_UNICAST && nl_rtntype2str(t, type, sizeof(type) - 1))
		strcat(type, " ");
	if (rtnl_route_get_nnexthops(rt) > 0) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(rt, 0);
		struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
		int ifindex = rtnl_route_nh_get_ifindex(nh);
		char name[IFNAMSIZ], g[20];

		if (gw && nl_addr_get_family(gw) == AF_INET && nl_addr_get_len(gw) == 4) {
			addr_format(nl_addr_v4(gw), g, sizeof(g));
			snprintf(via, sizeof(via), " via %s", g);
		}
		if (ifindex > 0) {
			ifname_of(links, ifindex, name, sizeof(name));
			snprintf(dev, sizeof(dev), " dev %s", name);
			cluster_of_bridge(name, cluster, sizeof(cluster));
		}
	}
	if (tab != RT_TABLE_MAIN) {
		char tn[32];

		snprintf(table, sizeof(table), " table %s",
			 rtnl_route_table2str((int)tab, tn, sizeof(tn)) ? tn : "?");
	}
	snprintf(buf, len, "the route %s%s%s%s%s%s", type, cidr, via, dev, table, cluster);
}

static int collect_routes(struct nlx *x, struct nl_cache *links, struct used_list *l, char *err,
			  size_t errlen)
{
	_cleanup_(cache_freep) struct nl_cache *routes = NULL;
	int r = rtnl_route_alloc_cache(x->sk, AF_INET, 0, &routes);

	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot read the host's routes");
	for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(rt);
		struct fl_netns_used *u;
		unsigned prefix;
		uint32_t net;

		if (!dst || nl_addr_get_family(dst) != AF_INET || nl_addr_get_len(dst) != 4)
			continue;
		prefix = (unsigned)nl_addr_get_prefixlen(dst);
		if (prefix == 0)
			continue; /* a default route claims no subnet */
		net = nl_addr_v4(dst) & mask_of(prefix);
		if (!(u = used_push(l)))
			return fl_fail(-ENOMEM, err, errlen, "out of memory");
		u->net = net;
		u->prefix = prefix;
		describe_route(rt, links, net, prefix, u->what, sizeof(u->what));
	}
	return 0;
}

/* Addresses too: a link that is down has an address and no route. */
static int collect_addrs(struct nlx *x, struct nl_cache *links, struct used_list *l, char *err,
			 size_t errlen)
{
	_cleanup_(cache_freep) struct nl_cache *addrs = NULL;
	int r = rtnl_addr_alloc_cache(x->sk, &addrs);

	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot read the host's addresses");
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		char name[IFNAMSIZ + 8], cidr[32], cluster[48];
		struct fl_netns_used *u;
		unsigned prefix;
		uint32_t v;

		if (rtnl_addr_get_family(a) != AF_INET || !local || nl_addr_get_len(local) != 4)
			continue;
		prefix = (unsigned)rtnl_addr_get_prefixlen(a);
		v = nl_addr_v4(local);
		ifname_of(links, rtnl_addr_get_ifindex(a), name, sizeof(name));
		fl_cidr4_format(v, prefix, cidr, sizeof(cidr));
		if (!(u = used_push(l)))
			return fl_fail(-ENOMEM, err, errlen, "out of memory");
		u->net = v & mask_of(prefix);
		u->prefix = prefix;
		cluster_of_bridge(name, cluster, sizeof(cluster));
		snprintf(u->what, sizeof(u->what), "the address %s of '%s'%s", cidr, name, cluster);
	}
	return 0;
}

static int host_used(struct nlx *x, struct fl_netns_used **out, size_t *nout, char *err,
		     size_t errlen)
{
	_cleanup_(cache_freep) struct nl_cache *links = NULL;
	struct used_list l = { 0 };
	int r;

	r = rtnl_link_alloc_cache(x->sk, AF_UNSPEC, &links);
	if (r < 0)
		return nl_fail(x, r, err, errlen, "cannot read the host's links");
	r = collect_routes(x, links, &l, err, errlen);
	if (r >= 0)
		r = collect_addrs(x, links, &l, err, errlen);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*out = l.v;
	*nout = l.n;
	return 0;
}

int fl_netns_host_used(struct fl_netns_used **out, size_t *nout, char *err, size_t errlen)
{
	struct nlx x = { 0 };
	int r = nlx_open(&x, err, errlen);

	if (r < 0)
		return r;
	r = host_used(&x, out, nout, err, errlen);
	nlx_close(&x);
	return r;
}

/* --- up ------------------------------------------------------------------------------ */

/* A bridge holding addr/prefix, up. *existed when the name was taken
 * (-EEXIST then: not ours). */
static int bridge_make(struct nlx *x, const char *name, uint32_t addr, unsigned prefix,
		       int *ifindex, int *existed, char *err, size_t errlen)
{
	int r;

	*existed = 0;
	r = rtnl_link_bridge_add(x->sk, name);
	if (r < 0) {
		*existed = r == -NLE_EXIST;
		return nl_fail(x, r, err, errlen, "cannot create bridge '%s'", name);
	}
	r = link_lookup(x, name, ifindex, err, errlen);
	if (r == 0)
		r = fl_fail(-ENODEV, err, errlen, "bridge '%s' vanished", name);
	if (r < 0)
		return r;
	r = add_addr(x, name, addr, prefix, err, errlen);
	if (r < 0)
		return r;
	return link_set_up(x, name, 0, 1, err, errlen);
}

static int make_bridge(struct fl_netns_cluster *c, struct nlx *x, int *ifindex, char *err,
		       size_t errlen)
{
	int existed = 0, r;

	r = journal_undo(c, UNDO_BRIDGE, c->bridge, err, errlen);
	if (r < 0)
		return r;
	r = bridge_make(x, c->bridge, c->subnet + 1, c->prefix, ifindex, &existed, err, errlen);
	if (existed)
		journal_forget(c);
	return r;
}

static int make_node_ns(struct fl_netns_cluster *c, struct fl_netns_node *n, char *err,
			size_t errlen)
{
	int fd, r;

	if (access(n->path, F_OK) == 0)
		return fl_fail(-EEXIST, err, errlen, "namespace '%s' already exists ('%s')", n->ns, n->path);
	r = journal_undo(c, UNDO_NETNS, n->ns, err, errlen);
	if (r < 0)
		return r;
	fd = open(n->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			journal_forget(c);
		return fl_fail(r, err, errlen, "cannot create '%s': %s", n->path, strerror(-r));
	}
	close(fd);
	r = make_ns(n, err, errlen);
	if (r < 0)
		return r;
	n->nsfd = open(n->path, O_RDONLY | O_CLOEXEC);
	if (n->nsfd < 0)
		return fl_fail(-errno, err, errlen, "cannot open namespace '%s': %s", n->ns, strerror(errno));
	return 0;
}

static int make_node(struct fl_netns_cluster *c, struct nlx *x, int br_ifindex, size_t i,
		     char *err, size_t errlen)
{
	struct fl_netns_node *n = &c->node[i];
	_cleanup_(link_putp) struct rtnl_link *veth = NULL;
	_cleanup_(link_putp) struct rtnl_link *peer = NULL;
	struct nlx in = { 0 };
	int r;

	r = make_node_ns(c, n, err, errlen);
	if (r < 0)
		return r;

	r = link_lookup(x, n->link, NULL, err, errlen);
	if (r > 0)
		return fl_fail(-EEXIST, err, errlen, "link '%s' (for node '%s') already exists", n->link,
			    n->name);
	if (r < 0)
		return r;
	r = journal_undo(c, UNDO_LINK, n->link, err, errlen);
	if (r < 0)
		return r;
	/* the node's end is born in its namespace, as eth0: no rename, no window */
	veth = rtnl_link_veth_alloc();
	if (!veth || !(peer = rtnl_link_veth_get_peer(veth)))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	rtnl_link_set_name(veth, n->link);
	rtnl_link_set_name(peer, FL_NETNS_IFNAME);
	rtnl_link_set_ns_fd(peer, n->nsfd);
	r = rtnl_link_add(x->sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0) {
		if (r == -NLE_EXIST)
			journal_forget(c);
		return nl_fail(x, r, err, errlen, "cannot create veth '%s' with peer '%s' in namespace '%s'",
			       n->link, FL_NETNS_IFNAME, n->ns);
	}
	r = link_set_up(x, n->link, br_ifindex, 1, err, errlen);
	if (r < 0)
		return r;

	r = nlx_open_in(&in, n->nsfd, n->name, err, errlen);
	if (r < 0)
		return r;
	r = link_set_up(&in, "lo", 0, 0, err, errlen);
	if (r >= 0)
		r = add_addr(&in, FL_NETNS_IFNAME, n->addr, c->prefix, err, errlen);
	if (r >= 0)
		r = link_set_up(&in, FL_NETNS_IFNAME, 0, 1, err, errlen);
	nlx_close(&in);
	if (r < 0 && err) {
		size_t l = strlen(err);

		if (l + 1 < errlen)
			snprintf(err + l, errlen - l, " in node '%s'", n->name);
	}
	return r;
}

/* The links and the bridge, newest first, then the namespaces, their
 * processes killed in one walk of /proc; on past failures, the first error
 * is the one reported. Every step is idempotent. (Removing the namespaces
 * first and letting their veths go with the kernel's batched namespace
 * teardown is 7x faster on a many-core host, but 7x slower under TCG, where
 * that teardown is slow: bench_net, down of 64 nodes 3.4 s this way.) */
static int undo_all(struct fl_netns_cluster *c, char *err, size_t errlen)
{
	char msg[512], *names[FL_NETNS_MAX_NODES * 2] = { 0 };
	size_t nn = 0;
	struct nlx x = { 0 };
	int first = 0, r;

	for (size_t i = 0; i < c->nnodes; i++) {
		if (c->node[i].nsfd >= 0)
			close(c->node[i].nsfd);
		c->node[i].nsfd = -1;
	}
	r = nlx_open(&x, err, errlen);
	if (r < 0)
		return r;
	for (size_t i = c->nundo; i-- > 0;) {
		if (c->undo[i].forgotten)
			continue;
		if (c->undo[i].kind == UNDO_NETNS && nn < sizeof(names) / sizeof(names[0]))
			names[nn++] = c->undo[i].name;
	}
	for (size_t i = c->nundo; i-- > 0;) {
		if (c->undo[i].forgotten || c->undo[i].kind == UNDO_NETNS ||
		    (c->undo[i].kind != UNDO_LINK && c->undo[i].kind != UNDO_BRIDGE))
			continue;
		r = delete_link(&x, c->undo[i].name, msg, sizeof(msg));
		if (r < 0 && first == 0) {
			first = r;
			fl_fail(0, err, errlen, "%s", msg);
		}
	}
	nlx_close(&x);
	if ((r = remove_namespaces(names, nn, msg, sizeof(msg))) < 0 && first == 0) {
		first = r;
		fl_fail(0, err, errlen, "%s", msg);
	}
	if (first < 0)
		return first;
	c->nundo = 0;
	if (c->jfd >= 0) {
		close(c->jfd);
		c->jfd = -1;
	}
	if (unlink(c->journal) < 0 && errno != ENOENT)
		return fl_fail(-errno, err, errlen, "cannot remove the journal '%s': %s", c->journal,
			    strerror(errno));
	sync_dir(c->state_dir);
	return 0;
}

static int open_journal(struct fl_netns_cluster *c, char *err, size_t errlen)
{
	if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST)
		return fl_fail(-errno, err, errlen, "cannot create the state directory '%s': %s",
			    c->state_dir, strerror(errno));
	c->jfd = open(c->journal, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (c->jfd < 0 && errno == EEXIST)
		return fl_fail(-EEXIST, err, errlen,
			    "'%s' holds the journal of a cluster that was not taken down: take it down first",
			    c->journal);
	if (c->jfd < 0)
		return fl_fail(-errno, err, errlen, "cannot create the journal '%s': %s", c->journal,
			    strerror(errno));
	sync_dir(c->state_dir); /* the journal's name must outlive us too */
	return 0;
}

static int pick_subnet(struct nlx *x, int has_subnet, uint32_t subnet, unsigned prefix,
		       uint32_t *out, unsigned *outprefix, char *err, size_t errlen)
{
	_cleanup_(freep) struct fl_netns_used *used = NULL;
	size_t nused = 0;
	char cidr[32], last[32];
	uint32_t s;
	unsigned p;
	int r, k;

	r = host_used(x, &used, &nused, err, errlen);
	if (r < 0)
		return r;
	if (has_subnet) {
		k = fl_netns_conflict(subnet, prefix, used, nused);
		fl_cidr4_format(subnet, prefix, cidr, sizeof(cidr));
		if (k >= 0)
			return fl_fail(-EADDRINUSE, err, errlen,
				    "subnet %s overlaps %s; choose another 'cluster.subnet'", cidr,
				    used[k].what);
		*out = subnet;
		*outprefix = prefix;
		return 0;
	}
	r = fl_netns_choose_subnet(used, nused, out, outprefix);
	if (r < 0) {
		fl_netns_candidate(0, &s, &p);
		fl_cidr4_format(s, p, cidr, sizeof(cidr));
		fl_netns_candidate(CAND_10 + CAND_172 - 1, &s, &p);
		fl_cidr4_format(s, p, last, sizeof(last));
		return fl_fail(r, err, errlen,
			    "no free subnet: every candidate from %s to %s overlaps a route or address "
			    "of this host; set 'cluster.subnet'", cidr, last);
	}
	return 0;
}

static int choose_subnet(struct fl_netns_cluster *c, struct nlx *x, const struct fl_netns_spec *spec,
			 char *err, size_t errlen)
{
	return pick_subnet(x, spec->has_subnet, spec->subnet, spec->prefix, &c->subnet, &c->prefix,
			   err, errlen);
}

int fl_netns_up(const struct fl_netns_spec *spec, struct fl_netns_cluster **out, char *err,
		size_t errlen)
{
	struct fl_netns_cluster *c;
	struct nlx x = { 0 };
	int br_ifindex = 0;
	int r;

	r = fl_netns_check_spec(spec, err, errlen);
	if (r < 0)
		return r;
	if (!(c = cluster_new(spec->state_dir)))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = nlx_open(&x, err, errlen);
	if (r < 0)
		goto out;
	snprintf(c->id, sizeof(c->id), "%s", spec->id);
	fl_netns_bridge_name(spec->id, c->bridge, sizeof(c->bridge));
	r = link_lookup(&x, c->bridge, NULL, err, errlen);
	if (r > 0)
		r = fl_fail(-EEXIST, err, errlen,
			 "cluster '%s' is already up (bridge '%s' exists): take it down first", c->id,
			 c->bridge);
	if (r < 0)
		goto out;
	r = choose_subnet(c, &x, spec, err, errlen);
	if (r < 0)
		goto out;
	if (cluster_layout(c, spec->id, spec->nnodes, spec->names) < 0) {
		r = fl_fail(-EINVAL, err, errlen, "bad cluster names");
		goto out;
	}
	r = prepare_run_dir(err, errlen);
	if (r < 0)
		goto out;
	r = open_journal(c, err, errlen);
	if (r < 0)
		goto out;
	r = journal_cluster(c, err, errlen);
	if (r >= 0) {
		c->has_info = 1;
		r = make_bridge(c, &x, &br_ifindex, err, errlen);
	}
	for (size_t i = 0; r >= 0 && i < c->nnodes; i++)
		r = make_node(c, &x, br_ifindex, i, err, errlen);
	if (r < 0) {
		char why[512];
		int u = undo_all(c, why, sizeof(why));

		if (u < 0 && err) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, "; removing what was made failed too: %s", why);
		}
		goto out;
	}
	close(c->jfd);
	c->jfd = -1;
	*out = c;
	c = NULL;
out:
	nlx_close(&x);
	fl_netns_cluster_free(c);
	return r;
}

/* --- down, attach ---------------------------------------------------------------------- */

int fl_netns_down(struct fl_netns_cluster *c, char *err, size_t errlen)
{
	if (!c)
		return 0;
	return undo_all(c, err, errlen);
}

static int parse_cluster_line(struct fl_netns_cluster *c, json_t *o)
{
	const char *names[FL_NETNS_MAX_NODES];
	const char *id = NULL, *subnet = NULL;
	unsigned a, b, cc, d, p;
	json_t *nodes = NULL, *n;
	size_t i;
	char tail;

	if (json_unpack(o, "{s:s, s:s, s:o}", "id", &id, "subnet", &subnet, "nodes", &nodes) < 0 ||
	    !json_is_array(nodes) || json_array_size(nodes) < 1 ||
	    json_array_size(nodes) > FL_NETNS_MAX_NODES || !is_id(id) ||
	    sscanf(subnet, "%u.%u.%u.%u/%u%c", &a, &b, &cc, &d, &p, &tail) != 5 || a > 255 ||
	    b > 255 || cc > 255 || d > 255 || p < 8 || p > 29)
		return -EINVAL;
	json_array_foreach(nodes, i, n) {
		names[i] = json_string_value(json_object_get(n, "name"));
		if (!fl_netns_is_node_name(names[i]))
			return -EINVAL;
	}
	c->subnet = (a << 24) | (b << 16) | (cc << 8) | d;
	c->prefix = p;
	if (cluster_layout(c, id, json_array_size(nodes), names) < 0)
		return -EINVAL;
	c->has_info = 1;
	return 0;
}

/* Every complete line; a torn last line announced a change never made. */
static int read_journal(struct fl_netns_cluster *c, char *err, size_t errlen)
{
	FILE *f = fopen(c->journal, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = 0;

	if (!f)
		return errno == ENOENT ? -ENOENT
				       : fl_fail(-errno, err, errlen, "cannot read the journal '%s': %s",
					      c->journal, strerror(errno));
	while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
		json_t *o;
		const char *op, *name;

		if (line[len - 1] != '\n')
			break;
		o = json_loadb(line, (size_t)len - 1, 0, NULL);
		op = json_string_value(json_object_get(o, "op"));
		name = json_string_value(json_object_get(o, "name"));
		if (!op) {
			/* not ours: guessing what it meant could remove the wrong thing */
			r = fl_fail(-EINVAL, err, errlen, "'%s': unexpected line '%.*s'", c->journal,
				 (int)(len - 1 > 120 ? 120 : len - 1), line);
		} else if (strcmp(op, "cluster") == 0) {
			if (parse_cluster_line(c, o) < 0)
				r = fl_fail(-EINVAL, err, errlen, "'%s': a bad cluster line", c->journal);
		} else if (name && strcmp(op, "forget") == 0) {
			for (size_t i = c->nundo; i-- > 0;)
				if (strcmp(c->undo[i].name, name) == 0) {
					c->undo[i].forgotten = 1;
					break;
				}
		} else {
			enum undo_kind k = UNDO__N;

			for (int j = 0; j < UNDO__N; j++)
				if (strcmp(op, undo_names[j]) == 0)
					k = (enum undo_kind)j;
			/* a journal is trusted only with names of our own patterns */
			if (k == UNDO__N || !name || strlen(name) >= sizeof(c->undo[0].name) ||
			    (k == UNDO_NETNS ? !fl_netns_is_our_ns(name) : !fl_netns_is_our_link(name)))
				r = fl_fail(-EINVAL, err, errlen, "'%s': unexpected entry '%.*s'", c->journal,
					 (int)(len - 1 > 120 ? 120 : len - 1), line);
			else if (c->nundo == MAX_UNDO)
				r = fl_fail(-EINVAL, err, errlen, "'%s': too many entries", c->journal);
			else {
				c->undo[c->nundo].kind = k;
				c->undo[c->nundo].forgotten = 0;
				snprintf(c->undo[c->nundo].name, sizeof(c->undo[0].name), "%s", name);
				c->nundo++;
			}
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return r;
}

int fl_netns_down_from_state(const char *state_dir, char *err, size_t errlen)
{
	struct fl_netns_cluster *c;
	int r;

	if (!state_dir || !*state_dir)
		return fl_fail(-EINVAL, err, errlen, "a state directory is required");
	if (!(c = cluster_new(state_dir)))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = read_journal(c, err, errlen);
	if (r == -ENOENT)
		r = 0; /* nothing was made, or everything is gone already */
	else if (r == 0)
		r = undo_all(c, err, errlen);
	fl_netns_cluster_free(c);
	return r;
}

/* Names of one cluster's objects, for recovery without a journal. */
static int is_link_of(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *rest = name + n;

	return strncmp(name, prefix, n) == 0 && rest[0] && strlen(rest) <= 2 &&
	       strspn(rest, "0123456789") == strlen(rest);
}

int fl_netns_down_by_id(const char *id, char *err, size_t errlen)
{
	_cleanup_(cache_freep) struct nl_cache *links = NULL;
	char bridge[IFNAMSIZ], vprefix[16], nsprefix[16], msg[512];
	char *names[FL_NETNS_MAX_NODES * 2] = { 0 };
	size_t n = 0;
	struct nlx x = { 0 };
	struct dirent *e;
	int first = 0, r;
	DIR *d;

	if (!is_id(id))
		return fl_fail(-EINVAL, err, errlen, "cluster id '%s' must be 1 to %d lowercase letters or digits",
			    id ? id : "", FL_NETNS_ID_MAX);
	fl_netns_bridge_name(id, bridge, sizeof(bridge));
	snprintf(vprefix, sizeof(vprefix), "fl%sv", id);
	snprintf(nsprefix, sizeof(nsprefix), "fl-%s-", id);
	r = nlx_open(&x, err, errlen);
	if (r < 0)
		return r;
	r = rtnl_link_alloc_cache(x.sk, AF_UNSPEC, &links);
	if (r < 0) {
		r = nl_fail(&x, r, err, errlen, "cannot read the links");
		nlx_close(&x);
		return r;
	}
	/* the same order as undo: veths, namespaces, the bridge */
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		const char *name = rtnl_link_get_name((struct rtnl_link *)o);

		if (name && is_link_of(name, vprefix) && (r = delete_link(&x, name, msg, sizeof(msg))) < 0 &&
		    !first) {
			first = r;
			fl_fail(0, err, errlen, "%s", msg);
		}
	}
	if ((d = opendir(FL_NETNS_RUN_DIR))) {
		while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
			if (strncmp(e->d_name, nsprefix, strlen(nsprefix)) == 0 &&
			    fl_netns_is_our_ns(e->d_name) && (names[n] = strdup(e->d_name)))
				n++;
		closedir(d);
	}
	if ((r = remove_namespaces(names, n, msg, sizeof(msg))) < 0 && !first) {
		first = r;
		fl_fail(0, err, errlen, "%s", msg);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if ((r = delete_link(&x, bridge, msg, sizeof(msg))) < 0 && !first) {
		first = r;
		fl_fail(0, err, errlen, "%s", msg);
	}
	nlx_close(&x);
	return first;
}

int fl_netns_attach(const char *state_dir, struct fl_netns_cluster **out, char *err,
		    size_t errlen)
{
	struct fl_netns_cluster *c;
	int r;

	if (!state_dir || !*state_dir)
		return fl_fail(-EINVAL, err, errlen, "a state directory is required");
	if (!(c = cluster_new(state_dir)))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = read_journal(c, err, errlen);
	if (r == -ENOENT || (r == 0 && !c->has_info))
		r = fl_fail(-ENOENT, err, errlen, "no cluster in '%s'", state_dir);
	for (size_t i = 0; r == 0 && i < c->nnodes; i++) {
		c->node[i].nsfd = open(c->node[i].path, O_RDONLY | O_CLOEXEC);
		if (c->node[i].nsfd < 0)
			r = fl_fail(-errno, err, errlen, "node '%s': cannot open namespace '%s': %s",
				 c->node[i].name, c->node[i].path, strerror(errno));
	}
	if (r < 0) {
		fl_netns_cluster_free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* --- the pieces other providers share ------------------------------------------------- */

int fl_netns_pick_subnet(int has_subnet, uint32_t subnet, unsigned prefix, uint32_t *out,
			 unsigned *outprefix, char *err, size_t errlen)
{
	struct nlx x = { 0 };
	int r = nlx_open(&x, err, errlen);

	if (r < 0)
		return r;
	r = pick_subnet(&x, has_subnet, subnet, prefix, out, outprefix, err, errlen);
	nlx_close(&x);
	return r;
}

int fl_netns_bridge_add(const char *name, uint32_t addr, unsigned prefix, char *err,
			size_t errlen)
{
	struct nlx x = { 0 };
	int ifindex = 0, existed = 0, r;

	if (!fl_netns_is_our_link(name))
		return fl_fail(-EINVAL, err, errlen, "'%s' is not a faultline link name", name);
	r = nlx_open(&x, err, errlen);
	if (r < 0)
		return r;
	r = bridge_make(&x, name, addr, prefix, &ifindex, &existed, err, errlen);
	nlx_close(&x);
	return existed ? -EEXIST : r;
}

int fl_netns_link_exists(const char *name, char *err, size_t errlen)
{
	struct nlx x = { 0 };
	int r = nlx_open(&x, err, errlen);

	if (r < 0)
		return r;
	r = link_lookup(&x, name, NULL, err, errlen);
	nlx_close(&x);
	return r;
}

int fl_netns_link_delete(const char *name, char *err, size_t errlen)
{
	struct nlx x = { 0 };
	int r;

	if (!fl_netns_is_our_link(name))
		return fl_fail(-EINVAL, err, errlen, "'%s' is not a faultline link name: not removing it",
			    name);
	r = nlx_open(&x, err, errlen);
	if (r < 0)
		return r;
	r = delete_link(&x, name, err, errlen);
	nlx_close(&x);
	return r;
}

/* --- spawn, enter ------------------------------------------------------------------------ */

struct child_report {
	int step; /* 1 setns, 2 stdio, 3 exec */
	int err;
};

static void child_fail(int fd, int step, int e)
{
	struct child_report rep = { step, e };
	ssize_t w = write(fd, &rep, sizeof(rep));

	(void)w;
	_exit(127);
}

/* After fork: only async-signal-safe calls until exec. */
static void child_run(int nsfd, char *const argv[], const int fds[3], int rep)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int tmp[3];
	sigset_t none;

	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL); /* SIG_IGN would survive exec */
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setns(nsfd, CLONE_NEWNET) < 0)
		child_fail(rep, 1, errno);
	/* out of the way of 0..2 first, so that any order of fds works */
	for (int k = 0; k < 3; k++) {
		tmp[k] = fds[k] >= 0 ? fcntl(fds[k], F_DUPFD_CLOEXEC, 3)
				     : open("/dev/null", O_RDWR | O_CLOEXEC);
		if (tmp[k] < 0)
			child_fail(rep, 2, errno);
	}
	for (int k = 0; k < 3; k++)
		if (dup2(tmp[k], k) < 0)
			child_fail(rep, 2, errno);
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	execvp(argv[0], argv);
	child_fail(rep, 3, errno);
}

int fl_netns_spawn(const struct fl_netns_cluster *c, size_t i, char *const argv[], int stdin_fd,
		   int stdout_fd, int stderr_fd, pid_t *pid, char *err, size_t errlen)
{
	const int fds[3] = { stdin_fd, stdout_fd, stderr_fd };
	struct child_report rep;
	int p[2];
	pid_t child;
	ssize_t n;

	if (i >= c->nnodes)
		return fl_fail(-EINVAL, err, errlen, "no node %zu in cluster '%s'", i, c->id);
	if (c->node[i].nsfd < 0)
		return fl_fail(-ESRCH, err, errlen, "cluster '%s' is down", c->id);
	if (!argv || !argv[0])
		return fl_fail(-EINVAL, err, errlen, "nothing to run");
	if (pipe2(p, O_CLOEXEC) < 0)
		return fl_fail(-errno, err, errlen, "pipe: %s", strerror(errno));
	child = fork();
	if (child < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return fl_fail(-e, err, errlen, "fork: %s", strerror(e));
	}
	if (child == 0) {
		close(p[0]);
		child_run(c->node[i].nsfd, argv, fds, p[1]);
	}
	close(p[1]);
	/* the exec either happens (the pipe closes: 0 bytes) or reports why not */
	while ((n = read(p[0], &rep, sizeof(rep))) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (n == (ssize_t)sizeof(rep)) {
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		if (rep.step == 1)
			return fl_fail(-rep.err, err, errlen, "cannot enter the namespace of node '%s': %s",
				    c->node[i].name, strerror(rep.err));
		if (rep.step == 2)
			return fl_fail(-rep.err, err, errlen, "cannot set up stdio for '%s' in node '%s': %s",
				    argv[0], c->node[i].name, strerror(rep.err));
		return fl_fail(-rep.err, err, errlen, "cannot run '%s' in node '%s': %s", argv[0],
			    c->node[i].name, strerror(rep.err));
	}
	*pid = child;
	return 0;
}

int fl_netns_enter(const struct fl_netns_cluster *c, size_t i, int *saved_fd, char *err,
		   size_t errlen)
{
	int r;

	if (i >= c->nnodes)
		return fl_fail(-EINVAL, err, errlen, "no node %zu in cluster '%s'", i, c->id);
	if (c->node[i].nsfd < 0)
		return fl_fail(-ESRCH, err, errlen, "cluster '%s' is down", c->id);
	r = enter_fd(c->node[i].nsfd, saved_fd);
	if (r < 0)
		return fl_fail(r, err, errlen, "cannot enter the namespace of node '%s': %s",
			    c->node[i].name, strerror(-r));
	return 0;
}

/* --- list ---------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_namespaces(json_t *arr, char *err, size_t errlen)
{
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(FL_NETNS_RUN_DIR);
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0
				       : fl_fail(-errno, err, errlen, "cannot read '%s': %s",
					      FL_NETNS_RUN_DIR, strerror(errno));
	while ((e = readdir(d)) && n < 256)
		if (fl_netns_is_our_ns(e->d_name) && !(names[n++] = strdup(e->d_name)))
			r = fl_fail(-ENOMEM, err, errlen, "out of memory");
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (names[i] && r == 0)
			json_array_append_new(arr, json_string(names[i]));
		free(names[i]);
	}
	return r;
}

static int cmp_link(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
		      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

int fl_netns_list(json_t **out, char *err, size_t errlen)
{
	_cleanup_(cache_freep) struct nl_cache *links = NULL;
	json_t *res = json_pack("{s:[], s:[]}", "namespaces", "links");
	json_t *v[512];
	size_t n = 0;
	struct nlx x = { 0 };
	int r;

	if (!res)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	r = list_namespaces(json_object_get(res, "namespaces"), err, errlen);
	if (r >= 0)
		r = nlx_open(&x, err, errlen);
	if (r >= 0 && (r = rtnl_link_alloc_cache(x.sk, AF_UNSPEC, &links)) < 0)
		r = nl_fail(&x, r, err, errlen, "cannot read the links");
	nlx_close(&x);
	if (r < 0) {
		json_decref(res);
		return r;
	}
	for (struct nl_object *o = nl_cache_get_first(links); o && n < 512; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(l);
		const char *kind = rtnl_link_get_type(l);

		if (fl_netns_is_our_link(name) &&
		    (v[n] = json_pack("{s:s, s:s}", "name", name, "kind", kind ? kind : "")))
			n++;
	}
	qsort(v, n, sizeof(v[0]), cmp_link);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(json_object_get(res, "links"), v[i]);
	*out = res;
	return 0;
}
