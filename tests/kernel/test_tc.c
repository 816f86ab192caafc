/*
 * tests/kernel/test_tc.c: the tc injector (fl_tc_apply/clear/read) measured
 * on real traffic. Three network namespaces A, B, C hang off a bridge in a
 * fourth (the test's own, private): A 10.99.0.1, B .2, C .3 (/24) and
 * fd00:99::1..3 (/64). Faults go on A's egress (eth0); UDP probes between
 * the test's own sockets measure what crosses (their payload after the
 * probe header is a known pattern, so tampering shows). One cmocka test per
 * claim. Needs root (run it in the test VM: tests/vm/run); skips with the
 * reason when a namespace cannot be made or the kernel lacks
 * prio/netem/u32/gact (the tampering tests: pedit/csum).
 * Creates nothing outside its own namespaces, which vanish with the process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "faultline/tc.h"
#include "faultline/units.h"

#define MS FL_NS_PER_MS
#define US FL_NS_PER_US
#define PORT 7000
#define MAXSEQ 16384
#define MAGIC 0x666c7463u /* "fltc" */
#define NODES 3
enum { A, B, C };

static const char *const node_name[NODES] = { "A", "B", "C" };

struct probe {
	uint32_t magic, run, seq, pad;
	int64_t sent_ns;
};

/* A UDP socket and the thread that records what arrives on it. */
struct endpoint {
	int fd;
	pthread_t th;
	int started;
	atomic_int stop, echo;
	pthread_mutex_t mu;
	uint32_t run;             /* datagrams of other runs are ignored */
	uint32_t total;           /* datagrams of this run, duplicates included */
	uint16_t count[MAXSEQ];
	int64_t first_ns[MAXSEQ]; /* first arrival, CLOCK_MONOTONIC */
	int64_t rtt_ns[MAXSEQ];   /* first arrival minus the probe's send time */
	/* datagrams of this run longer than a probe carry pattern() after it:
	 * as sent, tampered (only the byte at watch_off differs, and it is
	 * watch_val), or anything else */
	int watch_off;            /* in the UDP payload; -1: none */
	uint8_t watch_val;
	uint32_t intact, tampered, mangled;
};

struct node {
	int nsfd;
	struct nl_sock *sk;       /* lives in the node's namespace */
	int ifindex;              /* eth0 there */
	struct fl_tc_addr v4, v6;
	struct sockaddr_in sa4;
	struct sockaddr_in6 sa6;
	struct endpoint ep4, ep6;
};

struct world {
	int orig_fd, hub_fd;
	struct nl_sock *hub_sk;
	struct node n[NODES];
	uint32_t run;
	char skip[600];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / FL_NS_PER_S, .tv_nsec = t % FL_NS_PER_S };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void sleep_ns(int64_t d)
{
	sleep_until(now_ns() + d);
}

/* --- endpoints -------------------------------------------------------------- */

/* What send_probes puts after the probe, byte i of the UDP payload. */
static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 29 + 11);
}

static void classify_payload(struct endpoint *e, const char *buf, size_t n)
{
	int differ_watch = 0, differ_other = 0;

	if (n <= sizeof(struct probe))
		return;
	for (size_t i = sizeof(struct probe); i < n; i++) {
		if ((uint8_t)buf[i] == pattern(i))
			continue;
		if ((int)i == e->watch_off && (uint8_t)buf[i] == e->watch_val)
			differ_watch = 1;
		else
			differ_other = 1;
	}
	if (differ_other)
		e->mangled++;
	else if (differ_watch)
		e->tampered++;
	else
		e->intact++;
}

static void *ep_main(void *arg)
{
	struct endpoint *e = arg;
	char buf[2048];

	while (!atomic_load(&e->stop)) {
		struct pollfd p = { .fd = e->fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct probe pr;
		ssize_t n;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recvfrom(e->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < (ssize_t)sizeof(pr))
			continue;
		memcpy(&pr, buf, sizeof(pr));
		if (pr.magic != MAGIC || pr.seq >= MAXSEQ)
			continue;
		pthread_mutex_lock(&e->mu);
		if (pr.run == e->run) {
			int64_t t = now_ns();

			e->total++;
			classify_payload(e, buf, (size_t)n);
			if (e->count[pr.seq]++ == 0) {
				e->first_ns[pr.seq] = t;
				e->rtt_ns[pr.seq] = t - pr.sent_ns;
			}
		}
		pthread_mutex_unlock(&e->mu);
		if (atomic_load(&e->echo))
			sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void ep_reset(struct endpoint *e, uint32_t run)
{
	pthread_mutex_lock(&e->mu);
	e->run = run;
	e->total = 0;
	e->intact = e->tampered = e->mangled = 0;
	memset(e->count, 0, sizeof(e->count));
	memset(e->first_ns, 0, sizeof(e->first_ns));
	memset(e->rtt_ns, 0, sizeof(e->rtt_ns));
	pthread_mutex_unlock(&e->mu);
}

/* A new run on every endpoint: late datagrams of earlier tests are ignored. */
static uint32_t new_run(struct world *w)
{
	w->run++;
	for (int i = 0; i < NODES; i++) {
		ep_reset(&w->n[i].ep4, w->run);
		ep_reset(&w->n[i].ep6, w->run);
	}
	return w->run;
}

static unsigned distinct(struct endpoint *e, unsigned from, unsigned to)
{
	unsigned n = 0;

	pthread_mutex_lock(&e->mu);
	for (unsigned s = from; s < to && s < MAXSEQ; s++)
		n += e->count[s] > 0;
	pthread_mutex_unlock(&e->mu);
	return n;
}

/* n probes at a fixed pace from fd to dst; returns when the last is sent. */
static void send_probes(int fd, const void *dst, socklen_t dlen, uint32_t run, unsigned first,
			unsigned n, int64_t interval, size_t size)
{
	char buf[2048];
	int64_t t = now_ns();

	if (size < sizeof(struct probe))
		size = sizeof(struct probe);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)pattern(i);
	for (unsigned i = 0; i < n; i++) {
		struct probe pr = { .magic = MAGIC, .run = run, .seq = first + i };

		sleep_until(t);
		pr.sent_ns = now_ns();
		memcpy(buf, &pr, sizeof(pr));
		sendto(fd, buf, size, 0, dst, dlen);
		t += interval;
	}
}

/* A sender thread: to one or two destinations in turn, until stopped.
 * One thread, one socket: packets are classified by the egress qdisc in
 * the order of their sequence numbers. */
struct sender {
	int fd;
	const struct sockaddr_in *dst[2];
	int ndst;
	uint32_t run;
	int64_t interval;
	atomic_int stop;
	atomic_uint nsent;
	int64_t sent_ns[MAXSEQ];
	pthread_t th;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	int64_t t = now_ns();

	for (unsigned i = 0; i < MAXSEQ && !atomic_load(&s->stop); i++) {
		struct probe pr = { .magic = MAGIC, .run = s->run, .seq = i };

		sleep_until(t);
		pr.sent_ns = now_ns();
		s->sent_ns[i] = pr.sent_ns;
		sendto(s->fd, &pr, sizeof(pr), 0, (const struct sockaddr *)s->dst[i % s->ndst],
		       sizeof(*s->dst[0]));
		atomic_store(&s->nsent, i + 1);
		t += s->interval;
	}
	return NULL;
}

/* --- the world: namespaces, links, addresses, sockets --------------------------- */

static int err_nl(int e, const char *what)
{
	print_error("%s: %s\n", what, nl_geterror(e));
	return -1;
}

static int link_up(struct nl_sock *sk, const char *name, int *ifindex)
{
	struct rtnl_link *l = NULL, *up = rtnl_link_alloc();
	int e;

	if (!up)
		return -1;
	e = rtnl_link_get_kernel(sk, 0, name, &l);
	if (e >= 0) {
		rtnl_link_set_flags(up, IFF_UP);
		e = rtnl_link_change(sk, l, up, 0);
		if (ifindex)
			*ifindex = rtnl_link_get_ifindex(l);
	}
	rtnl_link_put(up);
	if (l)
		rtnl_link_put(l);
	return e < 0 ? err_nl(e, name) : 0;
}

static int add_addr(struct nl_sock *sk, int ifindex, const char *cidr, int family)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int e;

	if (!a)
		return -1;
	e = nl_addr_parse(cidr, family, &local);
	if (e >= 0) {
		rtnl_addr_set_ifindex(a, ifindex);
		e = rtnl_addr_set_local(a, local);
	}
	if (e >= 0) {
		rtnl_addr_set_prefixlen(a, nl_addr_get_prefixlen(local));
		if (family == AF_INET6)
			rtnl_addr_set_flags(a, IFA_F_NODAD); /* usable at once */
		e = rtnl_addr_add(sk, a, 0);
	}
	if (local)
		nl_addr_put(local);
	rtnl_addr_put(a);
	return e < 0 ? err_nl(e, cidr) : 0;
}

static int udp_socket(int family, const void *sa, socklen_t len)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 8 << 20;

	if (fd < 0)
		return -1;
	/* room for bursts: the test must not lose datagrams of its own */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(fd, sa, len) < 0) {
		print_error("bind: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int ep_start(struct endpoint *e, int fd, int echo)
{
	e->fd = fd;
	atomic_store(&e->stop, 0);
	atomic_store(&e->echo, echo);
	e->watch_off = -1;
	pthread_mutex_init(&e->mu, NULL);
	if (pthread_create(&e->th, NULL, ep_main, e) != 0)
		return -1;
	e->started = 1;
	return 0;
}

static void ep_stop(struct endpoint *e)
{
	if (e->started) {
		atomic_store(&e->stop, 1);
		pthread_join(e->th, NULL);
		pthread_mutex_destroy(&e->mu);
		e->started = 0;
	}
	if (e->fd > 0)
		close(e->fd);
	e->fd = -1;
}

/* Namespaces die with their last reference: our fds and sockets. */
static void world_free(struct world *w)
{
	for (int i = 0; i < NODES; i++) {
		struct node *n = &w->n[i];

		if (n->sk && n->ifindex > 0)
			fl_tc_clear(n->sk, n->ifindex, NULL);
		ep_stop(&n->ep4);
		ep_stop(&n->ep6);
		fl_tc_socket_free(n->sk);
		n->sk = NULL;
		if (n->nsfd >= 0)
			close(n->nsfd);
		n->nsfd = -1;
	}
	fl_tc_socket_free(w->hub_sk);
	w->hub_sk = NULL;
	if (w->orig_fd >= 0) {
		if (setns(w->orig_fd, CLONE_NEWNET) < 0)
			print_error("back to the original namespace: %s\n", strerror(errno));
		close(w->orig_fd);
		w->orig_fd = -1;
	}
	if (w->hub_fd >= 0)
		close(w->hub_fd);
	w->hub_fd = -1;
}

static int ns_fd_self(void)
{
	return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

static int enter(int fd)
{
	if (setns(fd, CLONE_NEWNET) < 0) {
		print_error("setns: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int make_node(struct world *w, int i)
{
	struct node *n = &w->n[i];
	struct rtnl_link *veth = NULL, *peer;
	char hname[16], cidr[64];
	struct fl_tc_err te;
	int e, hidx = 0, bidx = 0, fd;

	/* the namespace, and a netlink socket that lives in it */
	if (unshare(CLONE_NEWNET) < 0 || (n->nsfd = ns_fd_self()) < 0) {
		print_error("namespace %s: %s\n", node_name[i], strerror(errno));
		return -1;
	}
	if (fl_tc_socket_new(&n->sk, &te) < 0) {
		print_error("%s\n", te.msg);
		return -1;
	}
	if (link_up(n->sk, "lo", NULL) < 0 || enter(w->hub_fd) < 0)
		return -1;

	/* veth: hX on the hub's bridge, eth0 in the node */
	snprintf(hname, sizeof(hname), "h%s", node_name[i]);
	veth = rtnl_link_veth_alloc();
	if (!veth)
		return -1;
	rtnl_link_set_name(veth, hname);
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, "eth0");
	rtnl_link_set_ns_fd(peer, n->nsfd);
	rtnl_link_put(peer);
	e = rtnl_link_add(w->hub_sk, veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_veth_release(veth);
	if (e < 0)
		return err_nl(e, "add veth");
	if (link_up(w->hub_sk, hname, &hidx) < 0 || link_up(w->hub_sk, "br0", &bidx) < 0)
		return -1;
	e = rtnl_link_enslave_ifindex(w->hub_sk, bidx, hidx);
	if (e < 0)
		return err_nl(e, "enslave to br0");

	if (link_up(n->sk, "eth0", &n->ifindex) < 0)
		return -1;
	snprintf(cidr, sizeof(cidr), "10.99.0.%d/24", i + 1);
	if (add_addr(n->sk, n->ifindex, cidr, AF_INET) < 0)
		return -1;
	snprintf(cidr, sizeof(cidr), "fd00:99::%d/64", i + 1);
	if (add_addr(n->sk, n->ifindex, cidr, AF_INET6) < 0)
		return -1;
	snprintf(cidr, sizeof(cidr), "10.99.0.%d", i + 1);
	fl_tc_addr_parse(cidr, &n->v4);
	snprintf(cidr, sizeof(cidr), "fd00:99::%d", i + 1);
	fl_tc_addr_parse(cidr, &n->v6);
	n->sa4 = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(PORT),
				       .sin_addr = n->v4.u.v4 };
	n->sa6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(PORT),
					.sin6_addr = n->v6.u.v6 };

	/* sockets belong to the namespace they are made in */
	if (enter(n->nsfd) < 0)
		return -1;
	fd = udp_socket(AF_INET, &n->sa4, sizeof(n->sa4));
	if (fd < 0 || ep_start(&n->ep4, fd, i != A) < 0)
		return -1;
	fd = udp_socket(AF_INET6, &n->sa6, sizeof(n->sa6));
	if (fd < 0 || ep_start(&n->ep6, fd, i != A) < 0)
		return -1;
	return enter(w->hub_fd);
}

/* Can this kernel do it at all? A throwaway state on A, then nothing. */
static int probe_tc(struct world *w)
{
	struct fl_tc_addr x, y;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY, .latency_ns = MS } };
	struct fl_tc_state st = { .blocked = &x, .nblocked = 1, .shapes = &sh, .nshapes = 1 };
	struct fl_tc_err te;
	struct node *a = &w->n[A];
	int r;

	fl_tc_addr_parse("10.99.0.250", &x);
	fl_tc_addr_parse("10.99.0.251", &y);
	sh.peers = &y;
	sh.npeers = 1;
	r = fl_tc_apply(a->sk, a->ifindex, &st, &te);
	if (r == -ENOENT || r == -EOPNOTSUPP) {
		snprintf(w->skip, sizeof(w->skip), "this kernel cannot: %.400s; run it in the test VM: "
			 "tests/vm/run -- ...", te.msg);
		return 0;
	}
	if (r < 0) {
		print_error("probe: %s\n", te.msg);
		return -1;
	}
	r = fl_tc_clear(a->sk, a->ifindex, &te);
	if (r < 0)
		print_error("probe clear: %s\n", te.msg);
	return r;
}

static int group_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct fl_tc_err te;
	int e;

	if (!w)
		return -1;
	*state = w;
	w->orig_fd = w->hub_fd = -1;
	for (int i = 0; i < NODES; i++)
		w->n[i].nsfd = w->n[i].ep4.fd = w->n[i].ep6.fd = -1;
	w->orig_fd = ns_fd_self();
	if (w->orig_fd < 0 || unshare(CLONE_NEWNET) < 0) {
		e = errno;
		snprintf(w->skip, sizeof(w->skip),
			 "needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) for private network namespaces: "
			 "%s (euid %d); run it in the test VM: tests/vm/run -- ...",
			 strerror(e), (int)geteuid());
		print_message("skipping: %s\n", w->skip);
		if (w->orig_fd >= 0)
			close(w->orig_fd);
		w->orig_fd = -1;
		return 0;
	}
	w->hub_fd = ns_fd_self();
	if (w->hub_fd < 0 || fl_tc_socket_new(&w->hub_sk, &te) < 0)
		goto fail;
	if (link_up(w->hub_sk, "lo", NULL) < 0)
		goto fail;
	e = rtnl_link_bridge_add(w->hub_sk, "br0");
	if (e < 0) {
		err_nl(e, "add bridge br0");
		goto fail;
	}
	for (int i = 0; i < NODES; i++)
		if (make_node(w, i) < 0)
			goto fail;
	if (probe_tc(w) < 0)
		goto fail;
	if (w->skip[0]) {
		print_message("skipping: %s\n", w->skip);
		return 0;
	}
	/* neighbours learnt, bridge ports forwarding: a few rounds every way */
	for (int round = 0; round < 50; round++) {
		uint32_t run = new_run(w);
		int ok = 1;

		for (int i = B; i <= C; i++) {
			send_probes(w->n[A].ep4.fd, &w->n[i].sa4, sizeof(w->n[i].sa4), run, 0, 1, 0, 0);
			send_probes(w->n[A].ep6.fd, &w->n[i].sa6, sizeof(w->n[i].sa6), run, 0, 1, 0, 0);
		}
		sleep_ns(100 * MS);
		for (int i = B; i <= C; i++)
			ok &= distinct(&w->n[i].ep4, 0, 1) == 1 && distinct(&w->n[i].ep6, 0, 1) == 1;
		ok &= w->n[A].ep4.total == 2 && w->n[A].ep6.total == 2; /* the echoes */
		if (ok)
			return 0;
	}
	print_error("the test network never carried a probe every way\n");
fail:
	world_free(w);
	return -1;
}

static int group_teardown(void **state)
{
	struct world *w = *state;

	if (w)
		world_free(w);
	free(w);
	return 0;
}

/* Transmit checksum offload of node's eth0 on or off. veth offloads it:
 * a UDP datagram leaves with only the pseudo-header sum (CHECKSUM_PARTIAL)
 * and the receiver never checks it, so a tampered datagram would be
 * accepted whatever its checksum. Off, the sender's stack computes every
 * checksum in full before the qdisc, and the receiver verifies them. */
static int tx_csum(struct world *w, int node, int on)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = (uint32_t)on };
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth0");
	ifr.ifr_data = (char *)&ev;
	/* the socket's namespace is the node's */
	return ioctl(w->n[node].ep4.fd, SIOCETHTOOL, &ifr);
}

/* Every test starts from a clean egress on every node. */
static int clean(void **state)
{
	struct world *w = *state;
	struct fl_tc_err te;

	for (int i = 0; !w->skip[0] && i < NODES; i++)
		if (fl_tc_clear(w->n[i].sk, w->n[i].ifindex, &te) < 0) {
			print_error("clear %s: %s\n", node_name[i], te.msg);
			return -1;
		}
	if (!w->skip[0])
		tx_csum(w, A, 1); /* a failed tampering test may have left it off */
	return 0;
}

static void need_world(struct world *w)
{
	if (w->skip[0])
		skip(); /* the reason was printed once, by group_setup */
}

static void apply_ok(struct world *w, int node, const struct fl_tc_state *st)
{
	struct fl_tc_err te;
	int r = fl_tc_apply(w->n[node].sk, w->n[node].ifindex, st, &te);

	if (r < 0)
		fail_msg("apply on %s: %s", node_name[node], te.msg);
}

static void clear_ok(struct world *w, int node)
{
	struct fl_tc_err te;
	int r = fl_tc_clear(w->n[node].sk, w->n[node].ifindex, &te);

	if (r < 0)
		fail_msg("clear on %s: %s", node_name[node], te.msg);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Median RTT of probes 0..n-1 answered on e; *got = how many came back. */
static int64_t median_rtt(struct endpoint *e, unsigned n, unsigned *got)
{
	int64_t *v = calloc(n + 1, sizeof(*v)), m;
	unsigned k = 0;

	assert_non_null(v);
	pthread_mutex_lock(&e->mu);
	for (unsigned s = 0; s < n; s++)
		if (e->count[s])
			v[k++] = e->rtt_ns[s];
	pthread_mutex_unlock(&e->mu);
	*got = k;
	qsort(v, k, sizeof(*v), cmp_i64);
	m = k ? (k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2) : -1;
	free(v);
	return m;
}

/* RTT of n echo probes from A to node `to` (IPv4). */
static int64_t rtt_probe(struct world *w, int to, unsigned n, int64_t interval, int64_t drain,
			 unsigned *got)
{
	uint32_t run = new_run(w);

	send_probes(w->n[A].ep4.fd, &w->n[to].sa4, sizeof(w->n[to].sa4), run, 0, n, interval, 0);
	sleep_ns(drain);
	return median_rtt(&w->n[A].ep4, n, got);
}

/* 99% binomial interval around p for n trials (normal approximation).
 * A correct injector lands outside it in 1% of runs, so a miss is measured
 * once more and only two misses in a row fail (0.01% for a correct one). */
static int in_binomial(const char *what, double observed, double p, unsigned n, int attempt)
{
	double half = 2.576 * sqrt(p * (1 - p) / n);

	print_message("%s: observed %.4f, expected %.4f, 99%% interval [%.4f, %.4f] (n=%u)\n", what,
		      observed, p, p - half, p + half, n);
	if (observed >= p - half && observed <= p + half)
		return 1;
	if (attempt > 0)
		fail_msg("%s: observed %.4f outside the 99%% interval [%.4f, %.4f] around %.4f (n=%u), "
			 "twice in a row", what, observed, p - half, p + half, p, n);
	print_message("%s: outside the interval (1%% chance for a correct injector): measuring "
		      "again\n", what);
	return 0;
}

/* --- 1. latency toward one peer, and none toward the others --------------------- */

static void test_latency_per_peer(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY, .latency_ns = 100 * MS,
					     .jitter_ns = 10 * MS, .distribution = FL_DIST_NORMAL } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	int64_t med_b, med_c;
	unsigned got_b, got_c;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	/* timing on an emulated, loaded machine: a miss is measured once more */
	for (int attempt = 0; attempt < 2; attempt++) {
		med_b = rtt_probe(w, B, 200, 5 * MS, 300 * MS, &got_b);
		med_c = rtt_probe(w, C, 100, 2 * MS, 100 * MS, &got_c);
		print_message("latency 100ms ±10ms (normal) on A toward B: median RTT A-B %.2f ms over "
			      "%u probes, A-C %.3f ms over %u probes\n",
			      med_b / 1e6, got_b, med_c / 1e6, got_c);
		if (got_b == 200 && got_c == 100 && llabs(med_b - 100 * MS) <= 10 * MS &&
		    med_c < 10 * MS)
			break;
	}
	if (got_b != 200 || got_c != 100)
		fail_msg("lost probes: %u of 200 to B and %u of 100 to C came back", got_b, got_c);
	if (llabs(med_b - 100 * MS) > 10 * MS)
		fail_msg("median RTT to B %.2f ms is not within 10%% of 100 ms", med_b / 1e6);
	if (med_c >= 10 * MS)
		fail_msg("median RTT to C %.2f ms: C is not in peers and must see no added delay",
			 med_c / 1e6);
}

/* A shape without peers: everything (but drops) goes through it. */
static void test_latency_all_traffic(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY, .latency_ns = 30 * MS } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	int64_t med_b, med_c;
	unsigned got_b, got_c;

	need_world(w);
	apply_ok(w, A, &st);
	/* a loaded machine only adds delay: a few tries, one clean measurement */
	for (int attempt = 0; attempt < 4; attempt++) {
		med_b = rtt_probe(w, B, 50, 2 * MS, 150 * MS, &got_b);
		med_c = rtt_probe(w, C, 50, 2 * MS, 150 * MS, &got_c);
		print_message("latency 30ms on all of A's traffic: median RTT A-B %.2f ms, A-C %.2f ms\n",
			      med_b / 1e6, med_c / 1e6);
		if (got_b == 50 && got_c == 50 && llabs(med_b - 30 * MS) <= 3 * MS &&
		    llabs(med_c - 30 * MS) <= 3 * MS)
			break;
	}
	if (got_b != 50 || got_c != 50)
		fail_msg("lost probes: %u of 50 to B, %u of 50 to C came back", got_b, got_c);
	if (llabs(med_b - 30 * MS) > 3 * MS || llabs(med_c - 30 * MS) > 3 * MS)
		fail_msg("median RTTs %.2f / %.2f ms are not within 10%% of 30 ms", med_b / 1e6,
			 med_c / 1e6);
}

/* --- 2. loss, duplicate, corrupt, counted one-way at B ---------------------------- */

#define NPROBES 2000

static void one_way_burst(struct world *w, size_t size, unsigned *distinct_b, unsigned *total_b)
{
	uint32_t run = new_run(w);

	atomic_store(&w->n[B].ep4.echo, 0); /* one-way: nothing comes back */
	send_probes(w->n[A].ep4.fd, &w->n[B].sa4, sizeof(w->n[B].sa4), run, 0, NPROBES, 400 * US,
		    size);
	sleep_ns(300 * MS);
	atomic_store(&w->n[B].ep4.echo, 1);
	*distinct_b = distinct(&w->n[B].ep4, 0, NPROBES);
	pthread_mutex_lock(&w->n[B].ep4.mu);
	*total_b = w->n[B].ep4.total;
	pthread_mutex_unlock(&w->n[B].ep4.mu);
}

static void test_loss(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LOSS, .loss = 20 } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	unsigned d, t;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	for (int attempt = 0;; attempt++) {
		one_way_burst(w, 0, &d, &t);
		if (in_binomial("loss 20% A->B", 1.0 - (double)d / NPROBES, 0.20, NPROBES, attempt))
			break;
	}
}

static void test_duplicate(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_DUPLICATE, .duplicate = 50 } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	unsigned d, t;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	for (int attempt = 0;; attempt++) {
		one_way_burst(w, 0, &d, &t);
		if (d != NPROBES)
			fail_msg("duplicate alone lost datagrams: %u of %u arrived", d, NPROBES);
		/* each datagram is copied with probability p: extra arrivals / sent */
		if (in_binomial("duplicate 50% A->B (extra copies per datagram)",
				(double)(t - d) / NPROBES, 0.50, NPROBES, attempt))
			break;
	}
}

/*
 * Rate (TCA_NETEM_RATE, which libnl cannot set): a burst of 30 datagrams
 * leaves at the rate, netem counting each frame's bytes from the Ethernet
 * header on, so arrivals at B are one frame time apart.
 */
static void test_rate(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_RATE, .rate_bps = 125000 } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	const unsigned n = 30;
	const size_t payload = 1000, frame = 14 + 20 + 8 + payload;
	double want = (double)(n - 1) * (double)frame / 125000.0 * 1e3, got;
	int64_t first = INT64_MAX, last = 0;
	uint32_t run;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	/* a loaded machine can stretch a burst (never shrink it): a few tries */
	for (int attempt = 0; attempt < 3; attempt++) {
		first = INT64_MAX;
		last = 0;
		run = new_run(w);
		atomic_store(&w->n[B].ep4.echo, 0);
		send_probes(w->n[A].ep4.fd, &w->n[B].sa4, sizeof(w->n[B].sa4), run, 0, n, 0, payload);
		sleep_ns((int64_t)(want * MS) + 200 * MS);
		atomic_store(&w->n[B].ep4.echo, 1);
		assert_int_equal(distinct(&w->n[B].ep4, 0, n), n);
		pthread_mutex_lock(&w->n[B].ep4.mu);
		for (unsigned i = 0; i < n; i++) {
			if (w->n[B].ep4.first_ns[i] < first)
				first = w->n[B].ep4.first_ns[i];
			if (w->n[B].ep4.first_ns[i] > last)
				last = w->n[B].ep4.first_ns[i];
		}
		pthread_mutex_unlock(&w->n[B].ep4.mu);
		got = (double)(last - first) / 1e6;
		print_message("rate 1mbit A->B: %u frames of %zu bytes arrived over %.1f ms, expected "
			      "%.1f ms\n", n, frame, got, want);
		if (fabs(got - want) <= 0.1 * want)
			break;
	}
	if (fabs(got - want) > 0.1 * want)
		fail_msg("a burst at 1mbit spread over %.1f ms, not within 10%% of %.1f ms", got, want);
}

/* One counter of /proc/net/snmp in node i's namespace. */
static long snmp(struct world *w, int i, const char *proto, const char *field)
{
	char head[1024], vals[1024], *hs, *vs, *h, *v;
	long out = -1;
	FILE *f;

	if (enter(w->n[i].nsfd) < 0)
		return -1;
	f = fopen("/proc/thread-self/net/snmp", "re");
	enter(w->hub_fd);
	if (!f)
		return -1;
	while (fgets(head, sizeof(head), f) && fgets(vals, sizeof(vals), f)) {
		size_t pl = strlen(proto);

		if (strncmp(head, proto, pl) != 0 || head[pl] != ':')
			continue;
		h = strtok_r(head + pl + 1, " \n", &hs);
		v = strtok_r(vals + pl + 1, " \n", &vs);
		for (; h && v; h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &vs))
			if (strcmp(h, field) == 0)
				out = atol(v);
	}
	fclose(f);
	return out;
}

/*
 * netem flips one random bit of the frame it holds (the Ethernet header on
 * up; it computes a pending checksum first), so a corrupted datagram reaches
 * B's socket only when the flip hits a bit nobody checks: the 48 bits of the
 * source MAC or the destination's group bit (then flooded, still accepted).
 * Every other flip fails the IP header checksum, the UDP checksum, or the
 * Ethernet destination/type, and the datagram is dropped. So the observed
 * loss is corrupt x (1 - 49 / frame bits); B's UDP checksum-error counter
 * shows the drops were the kernel rejecting damaged datagrams.
 */
static void test_corrupt(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_CORRUPT, .corrupt = 20 } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	const size_t payload = 1000, frame_bits = 8 * (14 + 20 + 8 + payload);
	double p = 0.20 * (1.0 - 49.0 / (double)frame_bits);
	long csum0, csum1;
	unsigned d, t;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	for (int attempt = 0;; attempt++) {
		csum0 = snmp(w, B, "Udp", "InCsumErrors");
		one_way_burst(w, payload, &d, &t);
		csum1 = snmp(w, B, "Udp", "InCsumErrors");
		if (in_binomial("corrupt 20% A->B (datagrams rejected by B)",
				1.0 - (double)d / NPROBES, p, NPROBES, attempt))
			break;
	}
	print_message("B's Udp InCsumErrors grew by %ld for %u lost datagrams\n", csum1 - csum0,
		      NPROBES - d);
	if (csum0 < 0 || csum1 - csum0 <= 0 || csum1 - csum0 > (long)(NPROBES - d))
		fail_msg("B counted %ld UDP checksum errors for %u lost datagrams: the losses are not "
			 "corruption",
			 csum1 - csum0, NPROBES - d);
}

/* --- 3. partitions: one-way, both ways, heal ------------------------------------- */

/* n one-way datagrams from node `from` to node `to`; how many arrived. */
static unsigned one_way(struct world *w, int from, int to, int v6, unsigned n)
{
	uint32_t run = new_run(w);
	struct endpoint *dst = v6 ? &w->n[to].ep6 : &w->n[to].ep4;
	unsigned got;

	atomic_store(&dst->echo, 0);
	if (v6)
		send_probes(w->n[from].ep6.fd, &w->n[to].sa6, sizeof(w->n[to].sa6), run, 0, n, MS, 0);
	else
		send_probes(w->n[from].ep4.fd, &w->n[to].sa4, sizeof(w->n[to].sa4), run, 0, n, MS, 0);
	sleep_ns(100 * MS);
	got = distinct(dst, 0, n);
	atomic_store(&dst->echo, to != A);
	return got;
}

static void expect_arrived(struct world *w, int from, int to, int v6, unsigned want)
{
	unsigned got = one_way(w, from, to, v6, 200);

	print_message("%s -> %s (%s): %u of 200 arrived\n", node_name[from], node_name[to],
		      v6 ? "IPv6" : "IPv4", got);
	if (got != want)
		fail_msg("%s -> %s (%s): %u of 200 datagrams arrived, expected %u", node_name[from],
			 node_name[to], v6 ? "IPv6" : "IPv4", got, want);
}

static void test_partition_one_way(void **state)
{
	struct world *w = *state;
	struct fl_tc_state st = { .nblocked = 1 };

	need_world(w);
	st.blocked = &w->n[B].v4;
	apply_ok(w, A, &st); /* A's egress drops what goes to B: "from A" */
	expect_arrived(w, A, B, 0, 0);
	expect_arrived(w, B, A, 0, 200);
	expect_arrived(w, A, C, 0, 200);
}

static void test_partition_both_ways(void **state)
{
	struct world *w = *state;
	struct fl_tc_state sa = { .nblocked = 1 }, sb = { .nblocked = 1 };

	need_world(w);
	sa.blocked = &w->n[B].v4;
	sb.blocked = &w->n[A].v4;
	apply_ok(w, A, &sa);
	apply_ok(w, B, &sb);
	expect_arrived(w, A, B, 0, 0);
	expect_arrived(w, B, A, 0, 0);
	expect_arrived(w, C, A, 0, 200);
	expect_arrived(w, C, B, 0, 200);
}

static void test_partition_ipv6(void **state)
{
	struct world *w = *state;
	struct fl_tc_state st = { .nblocked = 1 };

	need_world(w);
	st.blocked = &w->n[B].v6;
	apply_ok(w, A, &st);
	expect_arrived(w, A, B, 1, 0);
	expect_arrived(w, A, B, 0, 200); /* B's IPv4 address is not blocked */
	expect_arrived(w, A, C, 1, 200);
}

/* Heal: a sender at 1 datagram/ms toward B while both sides are cleared. */
static void test_heal(void **state)
{
	struct world *w = *state;
	struct fl_tc_state sa = { .nblocked = 1 }, sb = { .nblocked = 1 };
	struct sender *s = calloc(1, sizeof(*s));
	int64_t t0, t1, first = INT64_MAX;
	unsigned n, before = 0, after = 0, after_ok = 0;

	need_world(w);
	assert_non_null(s);
	sa.blocked = &w->n[B].v4;
	sb.blocked = &w->n[A].v4;
	apply_ok(w, A, &sa);
	apply_ok(w, B, &sb);
	s->fd = w->n[A].ep4.fd;
	s->dst[0] = &w->n[B].sa4;
	s->ndst = 1;
	s->interval = MS;
	s->run = new_run(w);
	atomic_store(&w->n[B].ep4.echo, 0);
	assert_int_equal(pthread_create(&s->th, NULL, sender_main, s), 0);
	sleep_ns(100 * MS);
	t0 = now_ns();
	clear_ok(w, A);
	clear_ok(w, B);
	t1 = now_ns();
	sleep_ns(200 * MS);
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	sleep_ns(50 * MS);
	n = atomic_load(&s->nsent);
	pthread_mutex_lock(&w->n[B].ep4.mu);
	for (unsigned i = 0; i < n; i++) {
		if (s->sent_ns[i] < t0)
			before += w->n[B].ep4.count[i] > 0;
		if (s->sent_ns[i] > t1) {
			after++;
			after_ok += w->n[B].ep4.count[i] > 0;
		}
		if (w->n[B].ep4.count[i] && w->n[B].ep4.first_ns[i] < first)
			first = w->n[B].ep4.first_ns[i];
	}
	pthread_mutex_unlock(&w->n[B].ep4.mu);
	atomic_store(&w->n[B].ep4.echo, 1);
	print_message("heal: clearing A and B took %.2f ms; first datagram at B %.2f ms after the "
		      "clear began; %u of %u sent after it arrived; %u sent before it arrived\n",
		      (t1 - t0) / 1e6, first == INT64_MAX ? -1.0 : (first - t0) / 1e6, after_ok, after,
		      before);
	free(s);
	if (before)
		fail_msg("%u datagrams sent during the partition reached B", before);
	if (first == INT64_MAX || first - t0 > 100 * MS)
		fail_msg("the first datagram after the heal did not arrive within 100 ms");
	if (after == 0 || after_ok != after)
		fail_msg("after the heal %u of %u datagrams arrived", after_ok, after);
	expect_arrived(w, B, A, 0, 200);
}

/* --- reading back --------------------------------------------------------------- */

static json_t *find_qdisc(json_t *r, const char *kind, const char *parent)
{
	size_t i;
	json_t *q;

	json_array_foreach(json_object_get(r, "qdiscs"), i, q)
		if (!strcmp(json_string_value(json_object_get(q, "kind")) ?: "", kind) &&
		    !strcmp(json_string_value(json_object_get(q, "parent")) ?: "", parent))
			return q;
	return NULL;
}

static json_t *find_filter(json_t *r, const char *dst, int prio)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "filters"), i, f)
		if (!strcmp(json_string_value(json_object_get(f, "dst")) ?: "", dst) &&
		    json_integer_value(json_object_get(f, "prio")) == prio)
			return f;
	return NULL;
}

static json_t *read_ok(struct world *w, int node)
{
	struct fl_tc_err te;
	json_t *r = NULL;

	if (fl_tc_read(w->n[node].sk, w->n[node].ifindex, &r, &te) < 0)
		fail_msg("read %s: %s", node_name[node], te.msg);
	return r;
}

static double jreal(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

/* --- tampering with payloads ---------------------------------------------------- */

/* One counter of /proc/net/snmp6 ("Udp6InCsumErrors 0") in node i's namespace. */
static long snmp6(struct world *w, int i, const char *field)
{
	char line[256], name[128];
	long out = -1, v;
	FILE *f;

	if (enter(w->n[i].nsfd) < 0)
		return -1;
	f = fopen("/proc/thread-self/net/snmp6", "re");
	enter(w->hub_fd);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", name, &v) == 2 && strcmp(name, field) == 0)
			out = v;
	fclose(f);
	return out;
}

static void watch(struct endpoint *e, int off, uint8_t val)
{
	pthread_mutex_lock(&e->mu);
	e->watch_off = off;
	e->watch_val = val;
	pthread_mutex_unlock(&e->mu);
}

struct payloads {
	uint32_t intact, tampered, mangled, total;
};

static struct payloads payloads(struct endpoint *e)
{
	struct payloads p;

	pthread_mutex_lock(&e->mu);
	p = (struct payloads){ e->intact, e->tampered, e->mangled, e->total };
	pthread_mutex_unlock(&e->mu);
	return p;
}

/* Apply st on A; a kernel without act_pedit/act_csum skips the test with
 * its own words. */
static void apply_tamper_or_skip(struct world *w, const struct fl_tc_state *st)
{
	struct fl_tc_err te;
	int r = fl_tc_apply(w->n[A].sk, w->n[A].ifindex, st, &te);

	if (r == -ENOENT || r == -EOPNOTSUPP) {
		print_message("skipping: this kernel cannot tamper with payloads: %s\n", te.msg);
		skip();
	}
	if (r < 0)
		fail_msg("apply on A: %s", te.msg);
}

static json_t *find_tamper(json_t *r, int prio, const char *dst, const char *l4)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(r, "filters"), i, f)
		if (json_integer_value(json_object_get(f, "prio")) == prio &&
		    !strcmp(json_string_value(json_object_get(f, "action")) ?: "", "tamper") &&
		    !strcmp(json_string_value(json_object_get(f, "dst")) ?: "", dst) &&
		    !strcmp(json_string_value(json_object_get(f, "l4")) ?: "", l4))
			return f;
	return NULL;
}

#define TAMPER_N 200
#define TAMPER_SIZE 200  /* UDP payload bytes */
#define TAMPER_K4 41     /* the payload byte tampered toward B over IPv4 */
#define TAMPER_K6 46     /* and over IPv6 */
#define TAMPER_V4 0xa5
#define TAMPER_V6 0x5a

/* TAMPER_N one-way datagrams from A to B and to C, over IPv4 and IPv6. */
static void tamper_burst(struct world *w, struct payloads got[2][2])
{
	uint32_t run = new_run(w);

	for (int i = B; i <= C; i++) {
		atomic_store(&w->n[i].ep4.echo, 0);
		atomic_store(&w->n[i].ep6.echo, 0);
	}
	for (int i = B; i <= C; i++) {
		send_probes(w->n[A].ep4.fd, &w->n[i].sa4, sizeof(w->n[i].sa4), run, 0, TAMPER_N,
			    250 * US, TAMPER_SIZE);
		send_probes(w->n[A].ep6.fd, &w->n[i].sa6, sizeof(w->n[i].sa6), run, 0, TAMPER_N,
			    250 * US, TAMPER_SIZE);
	}
	sleep_ns(100 * MS);
	for (int i = B; i <= C; i++) {
		got[i - B][0] = payloads(&w->n[i].ep4);
		got[i - B][1] = payloads(&w->n[i].ep6);
		atomic_store(&w->n[i].ep4.echo, 1);
		atomic_store(&w->n[i].ep6.echo, 1);
	}
}

static void expect_payloads(const char *what, struct payloads p, uint32_t intact,
			    uint32_t tampered)
{
	print_message("%s: %u datagrams, %u intact, %u with the byte tampered, %u otherwise "
		      "changed\n",
		      what, p.total, p.intact, p.tampered, p.mangled);
	if (p.total != intact + tampered || p.intact != intact || p.tampered != tampered ||
	    p.mangled)
		fail_msg("%s: %u datagrams arrived (%u intact, %u tampered, %u otherwise changed); "
			 "expected %u intact and %u tampered",
			 what, p.total, p.intact, p.tampered, p.mangled, intact, tampered);
}

/*
 * Byzantine payloads: A's packets toward B get payload byte k set (IPv4 and
 * IPv6, each its own rule); B's sockets receive them, first with veth's
 * checksum offload, then with A computing full checksums that B verifies
 * (act_csum recomputed them: B's UDP checksum-error counters do not move);
 * traffic to C is untouched; the read-back shows the rules; applying again
 * changes nothing; after clearing, intact again.
 */
static void test_tamper(void **state)
{
	struct world *w = *state;
	struct fl_tc_tamper rules[2];
	struct fl_tc_state st = { .tampers = rules, .ntampers = 2 };
	struct payloads got[2][2];
	long csum4[2], csum6[2];
	json_t *r, *f;
	char *text;

	need_world(w);
	assert_true(pattern(TAMPER_K4) != TAMPER_V4 && pattern(TAMPER_K6) != TAMPER_V6);
	rules[0] = (struct fl_tc_tamper){ .dst = w->n[B].v4, .offset = 8 + TAMPER_K4,
					  .value = TAMPER_V4 };
	rules[1] = (struct fl_tc_tamper){ .dst = w->n[B].v6, .offset = 8 + TAMPER_K6,
					  .value = TAMPER_V6 };
	apply_tamper_or_skip(w, &st);
	for (int i = B; i <= C; i++) {
		watch(&w->n[i].ep4, TAMPER_K4, TAMPER_V4);
		watch(&w->n[i].ep6, TAMPER_K6, TAMPER_V6);
	}
	for (int offload = 1; offload >= 0; offload--) {
		if (tx_csum(w, A, offload) < 0)
			fail_msg("turn A's transmit checksum offload %s: %s", offload ? "on" : "off",
				 strerror(errno));
		csum4[0] = snmp(w, B, "Udp", "InCsumErrors");
		csum6[0] = snmp6(w, B, "Udp6InCsumErrors");
		tamper_burst(w, got);
		csum4[1] = snmp(w, B, "Udp", "InCsumErrors");
		csum6[1] = snmp6(w, B, "Udp6InCsumErrors");
		print_message("tamper A->B, %s: UDP payload byte %d := 0x%02x (IPv4), byte %d := "
			      "0x%02x (IPv6); B's InCsumErrors %ld -> %ld (Udp), %ld -> %ld (Udp6)\n",
			      offload ? "checksum offload on (veth's default)"
				      : "checksum offload off (full checksums, verified by B)",
			      TAMPER_K4, TAMPER_V4, TAMPER_K6, TAMPER_V6, csum4[0], csum4[1], csum6[0],
			      csum6[1]);
		expect_payloads("A -> B (IPv4)", got[0][0], 0, TAMPER_N);
		expect_payloads("A -> B (IPv6)", got[0][1], 0, TAMPER_N);
		expect_payloads("A -> C (IPv4)", got[1][0], TAMPER_N, 0);
		expect_payloads("A -> C (IPv6)", got[1][1], TAMPER_N, 0);
		if (csum4[0] < 0 || csum6[0] < 0 || csum4[1] != csum4[0] || csum6[1] != csum6[0])
			fail_msg("B counted UDP checksum errors: %ld -> %ld (IPv4), %ld -> %ld (IPv6)",
				 csum4[0], csum4[1], csum6[0], csum6[1]);
	}

	r = read_ok(w, A);
	text = json_dumps(json_object_get(r, "filters"), JSON_COMPACT);
	print_message("read back from A: filters %s\n", text);
	free(text);
	for (int l = 0; l < 2; l++) {
		const char *l4 = l ? "tcp" : "udp";

		f = find_tamper(r, FL_TC_PRIO_TAMPER4, "10.99.0.2", l4);
		if (!f)
			fail_msg("no %s tamper filter toward 10.99.0.2 read back", l4);
		assert_int_equal(json_integer_value(json_object_get(f, "offset")), 8 + TAMPER_K4);
		assert_int_equal(json_integer_value(json_object_get(f, "value")), TAMPER_V4);
		assert_int_equal(json_array_size(json_object_get(f, "csum")), 3);
		f = find_tamper(r, FL_TC_PRIO_TAMPER6, "fd00:99::2", l4);
		if (!f)
			fail_msg("no %s tamper filter toward fd00:99::2 read back", l4);
		assert_int_equal(json_integer_value(json_object_get(f, "offset")), 8 + TAMPER_K6);
		assert_int_equal(json_integer_value(json_object_get(f, "value")), TAMPER_V6);
	}
	assert_int_equal(json_array_size(json_object_get(r, "filters")), 4);
	json_decref(r);

	/* applying again changes nothing; clearing restores the payloads */
	{
		json_t *r1 = read_ok(w, A), *r2;

		apply_ok(w, A, &st);
		r2 = read_ok(w, A);
		if (!json_equal(r1, r2))
			fail_msg("a second apply of the same tamper rules changed the kernel's filters");
		json_decref(r1);
		json_decref(r2);
	}
	clear_ok(w, A);
	tamper_burst(w, got);
	expect_payloads("after clear, A -> B (IPv4)", got[0][0], TAMPER_N, 0);
	expect_payloads("after clear, A -> B (IPv6)", got[0][1], TAMPER_N, 0);
	for (int i = B; i <= C; i++) {
		watch(&w->n[i].ep4, -1, 0);
		watch(&w->n[i].ep6, -1, 0);
	}
	if (tx_csum(w, A, 1) < 0)
		fail_msg("turn A's transmit checksum offload back on: %s", strerror(errno));
}

/*
 * Tampering and a netem shape toward the same peer combine: csum's
 * "continue" hands the tampered packet on to the steering filter, so it is
 * delayed by B's netem too. Echoes from B (untouched on the way back) carry
 * the tampered byte to A. Then a rule change in place (new value) and one
 * for every destination.
 */
static void test_tamper_with_latency(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY, .latency_ns = 30 * MS } };
	struct fl_tc_tamper t = { .offset = 8 + TAMPER_K4, .value = TAMPER_V4 };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1, .tampers = &t, .ntampers = 1 };
	struct payloads pb, pc;
	int64_t med_b, med_c;
	unsigned got_b, got_c;
	uint32_t run;
	json_t *r;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	t.dst = w->n[B].v4;
	apply_tamper_or_skip(w, &st);
	watch(&w->n[A].ep4, TAMPER_K4, TAMPER_V4);
	run = new_run(w);
	send_probes(w->n[A].ep4.fd, &w->n[B].sa4, sizeof(w->n[B].sa4), run, 0, 50, 2 * MS,
		    TAMPER_SIZE);
	sleep_ns(150 * MS);
	med_b = median_rtt(&w->n[A].ep4, 50, &got_b);
	pb = payloads(&w->n[A].ep4);
	run = new_run(w);
	send_probes(w->n[A].ep4.fd, &w->n[C].sa4, sizeof(w->n[C].sa4), run, 0, 50, 2 * MS,
		    TAMPER_SIZE);
	sleep_ns(100 * MS);
	med_c = median_rtt(&w->n[A].ep4, 50, &got_c);
	pc = payloads(&w->n[A].ep4);
	print_message("latency 30ms + tamper on A toward B: median RTT A-B %.2f ms (%u of 50 "
		      "echoed, %u tampered), A-C %.3f ms (%u echoed, %u intact)\n",
		      med_b / 1e6, got_b, pb.tampered, med_c / 1e6, got_c, pc.intact);
	if (got_b != 50 || got_c != 50)
		fail_msg("lost probes: %u of 50 to B and %u of 50 to C came back", got_b, got_c);
	/* netem's delay is a floor: under 30 ms the tampered packets skipped
	 * B's band (they would take ~0.5 ms); the ceiling only allows for a
	 * loaded (emulated) machine, the 10% check of netem itself is
	 * test_latency_per_peer's */
	if (med_b < 30 * MS || med_b > 50 * MS)
		fail_msg("median RTT to B %.2f ms: expected 30 ms of B's netem (at most 50 ms on a "
			 "loaded machine); under it the tampered packets skipped B's netem band",
			 med_b / 1e6);
	expect_payloads("echoes from B", pb, 0, 50);
	expect_payloads("echoes from C", pc, 50, 0);
	if (med_c >= 10 * MS)
		fail_msg("median RTT to C %.2f ms: C must see no added delay", med_c / 1e6);
	r = read_ok(w, A);
	assert_non_null(find_filter(r, "10.99.0.2", FL_TC_PRIO_STEER4));
	assert_non_null(find_tamper(r, FL_TC_PRIO_TAMPER4, "10.99.0.2", "udp"));
	json_decref(r);

	/* another value: the old filters go, the new ones come */
	t.value = 0x00;
	apply_ok(w, A, &st);
	r = read_ok(w, A);
	assert_int_equal(json_integer_value(json_object_get(
				 find_tamper(r, FL_TC_PRIO_TAMPER4, "10.99.0.2", "udp"), "value")),
			 0);
	assert_int_equal(json_array_size(json_object_get(r, "filters")), 3); /* steer, 2 tamper */
	json_decref(r);

	/* every destination, both families: C's datagrams too */
	t.dst = (struct fl_tc_addr){ .family = AF_UNSPEC };
	t.value = TAMPER_V4;
	sh.npeers = 0;
	st.nshapes = 0;
	apply_ok(w, A, &st);
	r = read_ok(w, A);
	assert_non_null(find_tamper(r, FL_TC_PRIO_TAMPER4, "all", "udp"));
	assert_non_null(find_tamper(r, FL_TC_PRIO_TAMPER6, "all", "tcp"));
	assert_int_equal(json_array_size(json_object_get(r, "filters")), 4);
	json_decref(r);
	run = new_run(w);
	send_probes(w->n[A].ep4.fd, &w->n[C].sa4, sizeof(w->n[C].sa4), run, 0, 50, MS, TAMPER_SIZE);
	sleep_ns(50 * MS);
	expect_payloads("echoes from C, tampering toward all", payloads(&w->n[A].ep4), 0, 50);
	watch(&w->n[A].ep4, -1, 0);
}

/* --- 4. switching partitions without a window of full connectivity ---------------- */

/*
 * One thread sends to B and C in turn (every 500 us) from one socket, so A's
 * egress classifies the datagrams in the order of their sequence numbers.
 * P1 blocks B, P2 blocks C. "Both reachable at once" would show as a B
 * datagram that arrived with a smaller sequence number than a C datagram
 * that arrived: the check is that every arrived C datagram precedes every
 * arrived B datagram. The resolution is the sending interval; the switch
 * takes several intervals, so datagrams are sent while it happens (a window
 * shorter than one interval could go unseen). A control run switches the
 * naive way (clear, 5 ms, apply P2) and must be caught.
 */
struct switch_result {
	double ms;             /* how long the switch took */
	unsigned during, during_b, during_c;
	unsigned c_sent_before, c_before, b_before;
	unsigned b_sent_after, b_after, c_after;
	unsigned max_c, min_b; /* last C arrival, first B arrival (sequence numbers) */
};

static void measure_switch(struct world *w, int naive, struct switch_result *res)
{
	struct fl_tc_state p1 = { .nblocked = 1 }, p2 = { .nblocked = 1 };
	struct sender *s = calloc(1, sizeof(*s));
	unsigned n, s1, s2;
	int64_t t0;

	assert_non_null(s);
	memset(res, 0, sizeof(*res));
	res->min_b = UINT32_MAX;
	p1.blocked = &w->n[B].v4;
	p2.blocked = &w->n[C].v4;
	apply_ok(w, A, &p1);
	s->fd = w->n[A].ep4.fd;
	s->dst[0] = &w->n[B].sa4;
	s->dst[1] = &w->n[C].sa4;
	s->ndst = 2;
	s->interval = 500 * US;
	s->run = new_run(w);
	atomic_store(&w->n[B].ep4.echo, 0);
	atomic_store(&w->n[C].ep4.echo, 0);
	assert_int_equal(pthread_create(&s->th, NULL, sender_main, s), 0);
	sleep_ns(150 * MS);
	s1 = atomic_load(&s->nsent);
	t0 = now_ns();
	if (naive) {
		clear_ok(w, A);
		sleep_ns(5 * MS); /* a window of 5 ms, whatever the machine's speed */
	}
	apply_ok(w, A, &p2);
	res->ms = (now_ns() - t0) / 1e6;
	s2 = atomic_load(&s->nsent);
	sleep_ns(150 * MS);
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	sleep_ns(50 * MS);
	n = atomic_load(&s->nsent);
	res->during = s2 - s1;
	pthread_mutex_lock(&w->n[B].ep4.mu);
	pthread_mutex_lock(&w->n[C].ep4.mu);
	for (unsigned i = 0; i < n; i++) {
		int to_b = i % 2 == 0;
		int got = to_b ? w->n[B].ep4.count[i] > 0 : w->n[C].ep4.count[i] > 0;

		if (got && to_b && i < res->min_b)
			res->min_b = i;
		if (got && !to_b && i > res->max_c)
			res->max_c = i;
		if (i < s1) {
			res->c_sent_before += !to_b;
			res->c_before += got && !to_b;
			res->b_before += got && to_b;
		} else if (i >= s2) {
			res->b_sent_after += to_b;
			res->b_after += got && to_b;
			res->c_after += got && !to_b;
		} else {
			res->during_b += got && to_b;
			res->during_c += got && !to_b;
		}
	}
	pthread_mutex_unlock(&w->n[C].ep4.mu);
	pthread_mutex_unlock(&w->n[B].ep4.mu);
	atomic_store(&w->n[B].ep4.echo, 1);
	atomic_store(&w->n[C].ep4.echo, 1);
	free(s);
	print_message("%s P1 (A-/->B) to P2 (A-/->C): took %.2f ms, %u datagrams sent meanwhile "
		      "(%u reached B, %u reached C); before: %u of %u to C arrived, %u to B; after: "
		      "%u of %u to B arrived, %u to C; last C arrival seq %u, first B arrival seq %u\n",
		      naive ? "control (clear, wait 5 ms, apply):" : "switch", res->ms, res->during,
		      res->during_b, res->during_c, res->c_before, res->c_sent_before, res->b_before,
		      res->b_after, res->b_sent_after, res->c_after, res->max_c, res->min_b);
}

static void test_switch_partitions(void **state)
{
	struct world *w = *state;
	struct switch_result r;

	need_world(w);
	measure_switch(w, 0, &r);
	if (r.b_before || r.c_after)
		fail_msg("the partition leaked: %u datagrams to B under P1, %u to C under P2",
			 r.b_before, r.c_after);
	if (r.c_sent_before == 0 || r.c_before != r.c_sent_before || r.b_sent_after == 0 ||
	    r.b_after != r.b_sent_after)
		fail_msg("the open side lost datagrams: C %u of %u under P1, B %u of %u under P2",
			 r.c_before, r.c_sent_before, r.b_after, r.b_sent_after);
	if (!(r.max_c < r.min_b))
		fail_msg("a window of full connectivity: a datagram to B (seq %u) got through before "
			 "one to C (seq %u)",
			 r.min_b, r.max_c);
}

/* The check above can see a window: the naive switch opens one. */
static void test_switch_check_sees_a_window(void **state)
{
	struct world *w = *state;
	struct switch_result r;

	need_world(w);
	measure_switch(w, 1, &r);
	if (!(r.max_c > r.min_b))
		fail_msg("clearing between two partitions went unnoticed (last C %u, first B %u): the "
			 "switch check has no power at this sending rate",
			 r.max_c, r.min_b);
}

/* Refusals carry the request and the kernel's own words: someone else's htb
 * holds our root handle, and we do not take it over. */
static void test_kernel_error_text(void **state)
{
	struct world *w = *state;
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();
	struct fl_tc_state st = { .nblocked = 1 };
	struct fl_tc_err te = { { 0 } };
	int r;

	need_world(w);
	assert_non_null(q);
	rtnl_tc_set_ifindex(TC_CAST(q), w->n[A].ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(1, 0));
	assert_int_equal(rtnl_tc_set_kind(TC_CAST(q), "htb"), 0);
	r = rtnl_qdisc_add(w->n[A].sk, q, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_qdisc_put(q);
	if (r < 0)
		fail_msg("add htb root: %s", nl_geterror(r));
	st.blocked = &w->n[B].v4;
	r = fl_tc_apply(w->n[A].sk, w->n[A].ifindex, &st, &te);
	print_message("apply over a foreign htb 1: -> %d: %s\n", r, te.msg);
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(te.msg, "add qdisc 'prio' 1: as root of ifindex"));
	assert_true(te.kernel[0] != '\0');
	assert_non_null(strstr(te.msg, te.kernel));
	/* not ours: clear leaves it alone, and says so by succeeding */
	clear_ok(w, A);
	{
		json_t *rb = read_ok(w, A);

		assert_non_null(find_qdisc(rb, "htb", "root"));
		json_decref(rb);
	}
	/* the test's own cleanup */
	q = rtnl_qdisc_alloc();
	rtnl_tc_set_ifindex(TC_CAST(q), w->n[A].ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
	assert_int_equal(rtnl_qdisc_delete(w->n[A].sk, q), 0);
	rtnl_qdisc_put(q);
}

/* --- 5. read-back ----------------------------------------------------------------- */

static void test_read_back(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY | FL_NETEM_LOSS | FL_NETEM_RATE,
					     .latency_ns = 100 * MS, .jitter_ns = 10 * MS,
					     .distribution = FL_DIST_NORMAL, .loss = 20,
					     .rate_bps = 125000 } };
	struct fl_tc_state st = { .nblocked = 1, .shapes = &sh, .nshapes = 1 };
	json_t *r, *q, *f;
	char *text;

	need_world(w);
	st.blocked = &w->n[C].v4;
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	r = read_ok(w, A);
	text = json_dumps(r, JSON_COMPACT);
	print_message("read back from A: %s\n", text);
	free(text);
	q = find_qdisc(r, "prio", "root");
	assert_non_null(q);
	assert_string_equal(json_string_value(json_object_get(q, "handle")), "1:");
	assert_int_equal(json_integer_value(json_object_get(q, "bands")), 16);
	q = find_qdisc(r, "netem", "1:2");
	if (!q)
		fail_msg("no netem in band 1:2");
	assert_string_equal(json_string_value(json_object_get(q, "handle")), "11:");
	assert_int_equal(json_integer_value(json_object_get(q, "latency_ns")), 100 * MS);
	assert_int_equal(json_integer_value(json_object_get(q, "jitter_ns")), 10 * MS);
	assert_string_equal(json_string_value(json_object_get(q, "distribution")), "normal");
	assert_true(fabs(jreal(q, "loss") - 20) < 1e-5);
	assert_int_equal(json_integer_value(json_object_get(q, "rate_bytes_per_s")), 125000);
	assert_int_equal(json_integer_value(json_object_get(q, "limit")), fl_tc_netem_limit(&sh.netem));
	f = find_filter(r, "10.99.0.3", FL_TC_PRIO_DROP4);
	if (!f)
		fail_msg("no drop filter for C");
	assert_string_equal(json_string_value(json_object_get(f, "action")), "drop");
	f = find_filter(r, "10.99.0.2", FL_TC_PRIO_STEER4);
	if (!f)
		fail_msg("no steering filter for B");
	assert_string_equal(json_string_value(json_object_get(f, "flowid")), "1:2");
	assert_int_equal(json_array_size(json_object_get(r, "filters")), 2);
	json_decref(r);
}

/*
 * An in-place change must forget what the new state does not say: the
 * kernel keeps netem's corrupt/reorder settings when a change omits them.
 */
static void test_change_in_place(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY | FL_NETEM_CORRUPT |
						    FL_NETEM_REORDER | FL_NETEM_LOSS,
					     .latency_ns = 10 * MS, .corrupt = 5, .reorder = 10,
					     .loss = 1, .loss_corr = 25 } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	json_t *r, *q;
	unsigned got;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	sh.netem = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 20 * MS };
	apply_ok(w, A, &st);
	r = read_ok(w, A);
	q = find_qdisc(r, "netem", "1:2");
	assert_non_null(q);
	assert_string_equal(json_string_value(json_object_get(q, "handle")), "10:");
	assert_int_equal(json_integer_value(json_object_get(q, "latency_ns")), 20 * MS);
	assert_true(jreal(q, "corrupt") == 0 && jreal(q, "reorder") == 0 && jreal(q, "loss") == 0 &&
		    jreal(q, "loss_correlation") == 0);
	json_decref(r);
	(void)rtt_probe(w, B, 20, 2 * MS, 100 * MS, &got);
	if (got != 20)
		fail_msg("%u of 20 probes came back after the change", got);
}

/* A new distribution is a new netem (the kernel never drops a table in place). */
static void test_change_distribution(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LATENCY, .latency_ns = 20 * MS,
					     .jitter_ns = 2 * MS, .distribution = FL_DIST_PARETO } };
	struct fl_tc_state st = { .shapes = &sh, .nshapes = 1 };
	json_t *r, *q;
	size_t i, netems = 0;

	need_world(w);
	sh.peers = &w->n[B].v4;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	sh.netem.distribution = FL_DIST_UNIFORM;
	apply_ok(w, A, &st);
	r = read_ok(w, A);
	json_array_foreach(json_object_get(r, "qdiscs"), i, q)
		netems += !strcmp(json_string_value(json_object_get(q, "kind")) ?: "", "netem");
	q = find_qdisc(r, "netem", "1:2");
	assert_non_null(q);
	assert_string_equal(json_string_value(json_object_get(q, "handle")), "10:");
	assert_string_equal(json_string_value(json_object_get(q, "distribution")), "uniform");
	assert_int_equal(netems, 1);
	json_decref(r);
}

/* Applying twice is applying once; clearing twice is clearing once. */
static void test_idempotent(void **state)
{
	struct world *w = *state;
	struct fl_tc_shape sh = { .netem = { .set = FL_NETEM_LOSS, .loss = 1 } };
	struct fl_tc_state st = { .nblocked = 1, .shapes = &sh, .nshapes = 1 };
	json_t *r1, *r2, *r3;

	need_world(w);
	st.blocked = &w->n[C].v6;
	sh.peers = &w->n[B].v6;
	sh.npeers = 1;
	apply_ok(w, A, &st);
	r1 = read_ok(w, A);
	apply_ok(w, A, &st);
	r2 = read_ok(w, A);
	if (!json_equal(r1, r2))
		fail_msg("a second apply of the same state changed what the kernel holds");
	clear_ok(w, A);
	clear_ok(w, A);
	r3 = read_ok(w, A);
	if (find_qdisc(r3, "prio", "root") || json_array_size(json_object_get(r3, "filters")))
		fail_msg("clear left our root or filters behind");
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_latency_per_peer, clean),
		cmocka_unit_test_setup(test_latency_all_traffic, clean),
		cmocka_unit_test_setup(test_loss, clean),
		cmocka_unit_test_setup(test_duplicate, clean),
		cmocka_unit_test_setup(test_corrupt, clean),
		cmocka_unit_test_setup(test_tamper, clean),
		cmocka_unit_test_setup(test_tamper_with_latency, clean),
		cmocka_unit_test_setup(test_rate, clean),
		cmocka_unit_test_setup(test_partition_one_way, clean),
		cmocka_unit_test_setup(test_partition_both_ways, clean),
		cmocka_unit_test_setup(test_partition_ipv6, clean),
		cmocka_unit_test_setup(test_heal, clean),
		cmocka_unit_test_setup(test_switch_partitions, clean),
		cmocka_unit_test_setup(test_switch_check_sees_a_window, clean),
		cmocka_unit_test_setup(test_kernel_error_text, clean),
		cmocka_unit_test_setup(test_read_back, clean),
		cmocka_unit_test_setup(test_change_in_place, clean),
		cmocka_unit_test_setup(test_change_distribution, clean),
		cmocka_unit_test_setup(test_idempotent, clean),
	};

	return cmocka_run_group_tests_name("tc injector on real traffic (netns)", tests,
					   group_setup, group_teardown);
}
