/*
 * tests/kernel/test_netns.c: the netns provider against a real kernel. One
 * claim per test: a cluster comes up configured and reachable (real UDP
 * datagrams), down / a failed up / a kill -9 leave nothing behind, the
 * subnet choice avoids the host's routes. Runs in a private network and
 * mount namespace with its own tmpfs on /run, so it never touches the host;
 * skips when it cannot make them (not root). Only C API, never `ip`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "faultline/netns.h"

#define _cleanup_(f) __attribute__((cleanup(f)))
#define PORT 7007
#define STATE_ROOT "/run/fl-kt"
#define MAX_PIDS 16

static void sock_freep(struct nl_sock **p) { if (*p) nl_socket_free(*p); }
static void cache_freep(struct nl_cache **p) { if (*p) nl_cache_free(*p); }
static void link_putp(struct rtnl_link **p) { if (*p) rtnl_link_put(*p); }
static void route_putp(struct rtnl_route **p) { if (*p) rtnl_route_put(*p); }
static void nladdr_putp(struct nl_addr **p) { if (*p) nl_addr_put(*p); }
static void freep(void *p) { free(*(void **)p); }
static void closep(int *fd) { if (*fd >= 0) close(*fd); }

/* Everything a test made, undone by its teardown whatever happened. */
struct kt {
	char skip[300];
	struct fl_netns_cluster *cl[2];
	char state[2][PATH_MAX];
	pid_t pids[MAX_PIDS];
	size_t npids;
	char hold[IFNAMSIZ]; /* a link the test made to hold a route or a name */
};

static struct kt *g;

static const char *const names3[] = { "n1", "n2", "n3" };

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct timeval tv = { .tv_sec = 5 };

	if (!sk)
		fail_msg("out of memory");
	if (nl_connect(sk, NETLINK_ROUTE) < 0)
		fail_msg("netlink connect failed");
	setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return sk;
}

/* --- the responder: this binary again, inside a node ------------------------------- */

/* Echo "NAME:payload" to every datagram until "quit" or 20 s of silence. */
static int responder(const char *name, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 20 };
	char in[256], out[300];
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("responder");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, in, sizeof(in) - 1, 0, (struct sockaddr *)&from, &fl);
		int m;

		if (n < 0)
			return errno == EAGAIN ? 0 : 1;
		in[n] = '\0';
		if (strcmp(in, "quit") == 0)
			return 0;
		m = snprintf(out, sizeof(out), "%s:%s", name, in);
		sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from, fl);
	}
}

static void track_pid(pid_t pid)
{
	assert_true(g->npids < MAX_PIDS);
	g->pids[g->npids++] = pid;
}

static void spawn_responders(struct fl_netns_cluster *c)
{
	char err[512], port[16];

	snprintf(port, sizeof(port), "%d", PORT);
	for (size_t i = 0; i < fl_netns_nnodes(c); i++) {
		char *argv[] = { (char *)"/proc/self/exe", (char *)"--responder",
				 (char *)fl_netns_node_name(c, i), port, NULL };
		pid_t pid;

		if (fl_netns_spawn(c, i, argv, -1, -1, 2, &pid, err, sizeof(err)) < 0)
			fail_msg("spawn responder in node %zu: %s", i, err);
		track_pid(pid);
	}
}

/*
 * One question, one answer: send "probe-N" from fd to addr until the
 * responder there answers "NODE:probe-N" (bounded: 40 tries, 150 ms each).
 */
static void expect_echo(int fd, uint32_t addr, const char *node, const char *from)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(addr) };
	struct timeval tv = { .tv_usec = 150000 };
	static unsigned seq;
	char msg[64], want[128], got[256], a[20];

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	snprintf(msg, sizeof(msg), "probe-%u", ++seq);
	snprintf(want, sizeof(want), "%s:%s", node, msg);
	for (int t = 0; t < 40; t++) {
		struct sockaddr_in src;
		socklen_t sl = sizeof(src);
		ssize_t n;

		if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
		    errno != EHOSTUNREACH && errno != ECONNREFUSED)
			fail_msg("sendto: %s", strerror(errno));
		/* drain late answers of earlier tries until ours comes or time is up */
		while ((n = recvfrom(fd, got, sizeof(got) - 1, 0, (struct sockaddr *)&src, &sl)) >= 0) {
			got[n] = '\0';
			if (strcmp(got, want) == 0 && src.sin_addr.s_addr == to.sin_addr.s_addr)
				return;
		}
	}
	ip4(addr, a, sizeof(a));
	fail_msg("%s: no answer from node '%s' at %s:%d in 40 tries", from, node, a, PORT);
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fail_msg("socket: %s", strerror(errno));
	return fd;
}

/* --- what exists: namespaces, links, nsfs mounts ---------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted, newline-separated picture of every object a cluster could leave. */
static char *snapshot(void)
{
	_cleanup_(sock_freep) struct nl_sock *sk = nl_open();
	_cleanup_(cache_freep) struct nl_cache *links = NULL;
	char *lines[1024];
	size_t n = 0, len = 1;
	char *out, *p, buf[512];
	struct dirent *e;
	DIR *d;
	FILE *f;

	if ((d = opendir(FL_NETNS_RUN_DIR))) {
		while ((e = readdir(d)) && n < 1024)
			if (e->d_name[0] != '.' && asprintf(&lines[n], "netns %s", e->d_name) >= 0)
				n++;
		closedir(d);
	}
	assert_int_equal(rtnl_link_alloc_cache(sk, AF_UNSPEC, &links), 0);
	for (struct nl_object *o = nl_cache_get_first(links); o && n < 1024; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *kind = rtnl_link_get_type(l);

		if (asprintf(&lines[n], "link %s %s", rtnl_link_get_name(l), kind ? kind : "-") >= 0)
			n++;
	}
	if ((f = fopen("/proc/self/mountinfo", "re"))) {
		while (fgets(buf, sizeof(buf), f) && n < 1024) {
			char mp[256];

			if (sscanf(buf, "%*s %*s %*s %*s %255s", mp) == 1 &&
			    strncmp(mp, FL_NETNS_RUN_DIR "/", strlen(FL_NETNS_RUN_DIR) + 1) == 0 &&
			    asprintf(&lines[n], "mount %s", mp) >= 0)
				n++;
		}
		fclose(f);
	}
	qsort(lines, n, sizeof(lines[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		len += strlen(lines[i]) + 1;
	out = p = malloc(len);
	assert_non_null(out);
	*p = '\0';
	for (size_t i = 0; i < n; i++) {
		p += sprintf(p, "%s\n", lines[i]);
		free(lines[i]);
	}
	return out;
}

static void expect_same(const char *before, const char *after, const char *when)
{
	if (strcmp(before, after) != 0)
		fail_msg("%s: the system differs from before\n--- before\n%s--- after\n%s", when, before,
			 after);
}

static int journal_exists(const char *state_dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", state_dir, FL_NETNS_JOURNAL);
	return access(p, F_OK) == 0;
}

static size_t journal_lines(const char *state_dir)
{
	char p[PATH_MAX], buf[4096];
	size_t lines = 0;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", state_dir, FL_NETNS_JOURNAL);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/* --- helpers that make things the test needs ----------------------------------------- */

static const char *state_dir(int k, const char *test)
{
	snprintf(g->state[k], sizeof(g->state[k]), "%s/%s-%d", STATE_ROOT, test, k);
	return g->state[k];
}

static struct fl_netns_spec spec3(const char *id, const char *state)
{
	struct fl_netns_spec s = { .id = id, .nnodes = 3, .names = names3, .state_dir = state };

	return s;
}

static struct fl_netns_cluster *up_or_fail(const struct fl_netns_spec *s, int k)
{
	char err[512];

	if (fl_netns_up(s, &g->cl[k], err, sizeof(err)) < 0)
		fail_msg("up '%s': %s", s->id, err);
	return g->cl[k];
}

/* A link of our own (dummy, or a bridge on kernels without dummy), up. */
static int make_hold_link(struct nl_sock *sk, const char *name)
{
	_cleanup_(link_putp) struct rtnl_link *l = NULL;
	_cleanup_(link_putp) struct rtnl_link *got = NULL;
	_cleanup_(link_putp) struct rtnl_link *up = rtnl_link_alloc();
	const char *kinds[] = { "dummy", "bridge" };
	int r = -NLE_OPNOTSUPP;

	for (size_t k = 0; k < 2 && r < 0; k++) {
		if (l)
			rtnl_link_put(l);
		l = rtnl_link_alloc();
		assert_non_null(l);
		rtnl_link_set_name(l, name);
		assert_int_equal(rtnl_link_set_type(l, kinds[k]), 0);
		r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (r < 0)
		fail_msg("add link '%s': %s", name, nl_geterror(r));
	snprintf(g->hold, sizeof(g->hold), "%s", name);
	assert_int_equal(rtnl_link_get_kernel(sk, 0, name, &got), 0);
	rtnl_link_set_flags(up, IFF_UP);
	r = rtnl_link_change(sk, got, up, 0);
	if (r < 0)
		fail_msg("set link '%s' up: %s", name, nl_geterror(r));
	return rtnl_link_get_ifindex(got);
}

static void add_route(struct nl_sock *sk, uint32_t net, unsigned prefix, int ifindex)
{
	_cleanup_(route_putp) struct rtnl_route *rt = rtnl_route_alloc();
	_cleanup_(nladdr_putp) struct nl_addr *dst = NULL;
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct in_addr in = { .s_addr = htonl(net) };
	int r;

	assert_non_null(rt);
	assert_non_null(nh);
	dst = nl_addr_build(AF_INET, &in, sizeof(in));
	assert_non_null(dst);
	nl_addr_set_prefixlen(dst, (int)prefix);
	rtnl_route_set_family(rt, AF_INET);
	assert_int_equal(rtnl_route_set_dst(rt, dst), 0);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_scope(rt, RT_SCOPE_LINK);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_type(rt, RTN_UNICAST);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_add_nexthop(rt, nh); /* the route owns it now */
	r = rtnl_route_add(sk, rt, NLM_F_EXCL);
	if (r < 0)
		fail_msg("add route: %s", nl_geterror(r));
}

/* --- setup / teardown -------------------------------------------------------------------- */

static int group_setup(void **state)
{
	static struct kt kt;

	g = &kt;
	*state = g;
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0) {
		int e = errno;

		if (e != EPERM) {
			print_error("unshare(CLONE_NEWNS|CLONE_NEWNET): %s\n", strerror(e));
			return -1;
		}
		snprintf(g->skip, sizeof(g->skip),
			 "needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) for private mount and network "
			 "namespaces: unshare: %s (euid %d); run it in the test VM: tests/vm/run -- ...",
			 strerror(e), (int)geteuid());
		print_message("skipping: %s\n", g->skip);
		return 0;
	}
	/* our mounts stay ours; a tmpfs /run hides the host's /run/netns from us and us from it */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("fl-kt", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0 ||
	    mkdir(STATE_ROOT, 0700) < 0) {
		print_error("private /run: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	memset(g->cl, 0, sizeof(g->cl));
	memset(g->state, 0, sizeof(g->state));
	g->npids = 0;
	g->hold[0] = '\0';
	return 0;
}

static int test_teardown(void **state)
{
	char err[512];

	(void)state;
	if (g->skip[0])
		return 0;
	for (size_t i = 0; i < g->npids; i++) {
		kill(g->pids[i], SIGKILL);
		waitpid(g->pids[i], NULL, 0);
	}
	for (int k = 0; k < 2; k++) {
		if (g->cl[k] && fl_netns_down(g->cl[k], err, sizeof(err)) < 0)
			print_error("teardown: down: %s\n", err);
		fl_netns_cluster_free(g->cl[k]);
		g->cl[k] = NULL;
		if (g->state[k][0]) {
			if (fl_netns_down_from_state(g->state[k], err, sizeof(err)) < 0)
				print_error("teardown: down from '%s': %s\n", g->state[k], err);
			rmdir(g->state[k]);
		}
	}
	if (g->hold[0]) {
		_cleanup_(sock_freep) struct nl_sock *sk = nl_socket_alloc();
		_cleanup_(link_putp) struct rtnl_link *l = rtnl_link_alloc();

		if (sk && l && nl_connect(sk, NETLINK_ROUTE) == 0) {
			rtnl_link_set_name(l, g->hold);
			rtnl_link_delete(sk, l); /* its routes go with it */
		}
	}
	return 0;
}

#define SKIP_IF_NOT_ROOT() do { if (g->skip[0]) skip(); } while (0)

/* --- 1. up ------------------------------------------------------------------------------- */

/* Each node: eth0 up with its address, lo up; listed as ours. */
static void test_up_configures_nodes(void **state)
{
	struct fl_netns_spec s = spec3("kt1", state_dir(0, "up"));
	struct fl_netns_cluster *c;
	json_t *list = NULL;
	char err[512];
	unsigned prefix;

	(void)state;
	SKIP_IF_NOT_ROOT();
	s.has_subnet = 1;
	s.subnet = (10u << 24) | (77u << 16); /* 10.77.0.0/24 */
	s.prefix = 24;
	c = up_or_fail(&s, 0);
	assert_int_equal(fl_netns_subnet(c, &prefix), s.subnet);
	assert_int_equal(prefix, 24);
	assert_int_equal(fl_netns_host_addr(c), s.subnet + 1);
	assert_true(journal_exists(s.state_dir));

	for (size_t i = 0; i < 3; i++) {
		_cleanup_(sock_freep) struct nl_sock *sk = NULL;
		_cleanup_(link_putp) struct rtnl_link *eth = NULL;
		_cleanup_(link_putp) struct rtnl_link *lo = NULL;
		_cleanup_(cache_freep) struct nl_cache *addrs = NULL;
		int saved, found = 0;

		assert_int_equal(fl_netns_node_addr(c, i), s.subnet + 2 + i);
		if (fl_netns_enter(c, i, &saved, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		sk = nl_socket_alloc();
		int cr = sk ? nl_connect(sk, NETLINK_ROUTE) : -1;
		assert_int_equal(fl_netns_leave(saved), 0);
		assert_int_equal(cr, 0);

		assert_int_equal(rtnl_link_get_kernel(sk, 0, FL_NETNS_IFNAME, &eth), 0);
		assert_int_equal(rtnl_link_get_kernel(sk, 0, "lo", &lo), 0);
		if (!(rtnl_link_get_flags(eth) & IFF_UP) || !(rtnl_link_get_flags(lo) & IFF_UP))
			fail_msg("node %s: eth0 or lo is not up", names3[i]);
		assert_int_equal(rtnl_addr_alloc_cache(sk, &addrs), 0);
		for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
			struct rtnl_addr *a = (struct rtnl_addr *)o;
			struct nl_addr *local = rtnl_addr_get_local(a);
			uint32_t v;

			if (rtnl_addr_get_family(a) != AF_INET ||
			    rtnl_addr_get_ifindex(a) != rtnl_link_get_ifindex(eth))
				continue;
			memcpy(&v, nl_addr_get_binary_addr(local), 4);
			if (ntohl(v) == fl_netns_node_addr(c, i) && rtnl_addr_get_prefixlen(a) == 24)
				found = 1;
		}
		if (!found)
			fail_msg("node %s: eth0 lacks its address", names3[i]);
	}

	if (fl_netns_list(&list, err, sizeof(err)) < 0)
		fail_msg("list: %s", err);
	{
		char *js = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
		const char *want = "{\"links\":[{\"kind\":\"bridge\",\"name\":\"flkt1br\"},"
				   "{\"kind\":\"veth\",\"name\":\"flkt1v0\"},"
				   "{\"kind\":\"veth\",\"name\":\"flkt1v1\"},"
				   "{\"kind\":\"veth\",\"name\":\"flkt1v2\"}],"
				   "\"namespaces\":[\"fl-kt1-n1\",\"fl-kt1-n2\",\"fl-kt1-n3\"]}";

		json_decref(list);
		if (!js || strcmp(js, want) != 0)
			fail_msg("list: got %s\nwant %s", js ? js : "(null)", want);
		free(js);
	}
}

/* Real datagrams: the host to every node, every node to every other. */
static void test_nodes_reachable(void **state)
{
	struct fl_netns_spec s = spec3("kt2", state_dir(0, "reach"));
	struct fl_netns_cluster *c;
	char err[512], from[64];

	(void)state;
	SKIP_IF_NOT_ROOT();
	s.has_subnet = 1;
	s.subnet = (10u << 24) | (78u << 16) | (4u << 8); /* 10.78.4.0/28 */
	s.prefix = 28;
	c = up_or_fail(&s, 0);
	spawn_responders(c);

	{
		_cleanup_(closep) int fd = udp_socket();

		for (size_t i = 0; i < 3; i++)
			expect_echo(fd, fl_netns_node_addr(c, i), names3[i], "host");
	}
	for (size_t i = 0; i < 3; i++) {
		_cleanup_(closep) int fd = -1;
		int saved;

		if (fl_netns_enter(c, i, &saved, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* lives in node i */
		assert_int_equal(fl_netns_leave(saved), 0);
		assert_true(fd >= 0);
		snprintf(from, sizeof(from), "node %s", names3[i]);
		for (size_t j = 0; j < 3; j++)
			if (j != i)
				expect_echo(fd, fl_netns_node_addr(c, j), names3[j], from);
	}
}

/* spawn says why a program could not run, and leaves no child behind. */
static void test_spawn_reports_exec_failure(void **state)
{
	struct fl_netns_spec s = spec3("kt3", state_dir(0, "spawn"));
	struct fl_netns_cluster *c;
	char *argv[] = { (char *)"/nonexistent/faultline-test", NULL };
	char err[512] = "";
	pid_t pid = 0;

	(void)state;
	SKIP_IF_NOT_ROOT();
	s.nnodes = 1;
	c = up_or_fail(&s, 0);
	assert_int_equal(fl_netns_spawn(c, 0, argv, -1, -1, -1, &pid, err, sizeof(err)), -ENOENT);
	assert_int_equal(pid, 0);
	if (!strstr(err, "cannot run '/nonexistent/faultline-test' in node 'n1'"))
		fail_msg("unexpected message: %s", err);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* reaped: no child left */
	assert_int_equal(errno, ECHILD);
}

/* --- 2. down ------------------------------------------------------------------------------ */

/* The responders were killed by down (bounded wait: 3 s). */
static void expect_killed(void)
{
	for (size_t i = 0; i < g->npids; i++) {
		int st = 0, t;
		pid_t r = 0;

		for (t = 0; t < 300 && (r = waitpid(g->pids[i], &st, WNOHANG)) == 0; t++)
			usleep(10000);
		if (r != g->pids[i] || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			fail_msg("process %d inside the cluster survived down", (int)g->pids[i]);
		g->pids[i] = g->pids[--g->npids];
		i--;
	}
}

static void test_down_removes_everything(void **state)
{
	struct fl_netns_spec s = spec3("kt4", state_dir(0, "down"));
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *during = NULL;
	_cleanup_(freep) char *after = NULL;
	char err[512];

	(void)state;
	SKIP_IF_NOT_ROOT();
	before = snapshot();
	up_or_fail(&s, 0);
	spawn_responders(g->cl[0]); /* processes inside must not keep anything alive */
	during = snapshot();
	assert_string_not_equal(before, during);
	if (fl_netns_down(g->cl[0], err, sizeof(err)) < 0)
		fail_msg("down: %s", err);
	after = snapshot();
	expect_same(before, after, "after down");
	assert_false(journal_exists(s.state_dir));
	expect_killed();
	/* again: already gone is success */
	assert_int_equal(fl_netns_down(g->cl[0], err, sizeof(err)), 0);
	assert_int_equal(fl_netns_down_from_state(s.state_dir, err, sizeof(err)), 0);
}

/* Lost state: down by id removes that cluster and leaves its neighbour alone. */
static void test_down_by_id_without_state(void **state)
{
	struct fl_netns_spec keep = spec3("kte1", state_dir(0, "by-id"));
	struct fl_netns_spec s = spec3("kte", state_dir(1, "by-id"));
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	char err[512], journal[PATH_MAX];

	(void)state;
	SKIP_IF_NOT_ROOT();
	up_or_fail(&keep, 0);
	before = snapshot();
	up_or_fail(&s, 1);
	spawn_responders(g->cl[1]);
	snprintf(journal, sizeof(journal), "%s/%s", s.state_dir, FL_NETNS_JOURNAL);
	assert_int_equal(unlink(journal), 0);
	fl_netns_cluster_free(g->cl[1]); /* memory only: the cluster stays up */
	g->cl[1] = NULL;
	if (fl_netns_down_by_id("kte", err, sizeof(err)) < 0)
		fail_msg("down by id: %s", err);
	after = snapshot();
	expect_same(before, after, "after down by id");
	expect_killed();
	assert_int_equal(fl_netns_down_by_id("kte", err, sizeof(err)), 0);
}

/* --- 3. a failed up leaves nothing ---------------------------------------------------------- */

static void test_overlapping_subnet_refused(void **state)
{
	_cleanup_(sock_freep) struct nl_sock *sk = nl_open();
	struct fl_netns_spec s = spec3("kt5", state_dir(0, "overlap"));
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	struct fl_netns_cluster *c = NULL;
	char err[512] = "";
	int ifindex;

	(void)state;
	SKIP_IF_NOT_ROOT();
	ifindex = make_hold_link(sk, "kthold0");
	add_route(sk, (10u << 24) | (79u << 16), 16, ifindex); /* 10.79.0.0/16 */
	before = snapshot();
	s.has_subnet = 1;
	s.subnet = (10u << 24) | (79u << 16) | (1u << 8); /* 10.79.1.0/24 */
	s.prefix = 24;
	assert_int_equal(fl_netns_up(&s, &c, err, sizeof(err)), -EADDRINUSE);
	assert_null(c);
	if (!strstr(err, "subnet 10.79.1.0/24 overlaps the route 10.79.0.0/16 dev kthold0; "
			 "choose another 'cluster.subnet'"))
		fail_msg("unexpected message: %s", err);
	after = snapshot();
	expect_same(before, after, "after the refused up");
	assert_false(journal_exists(s.state_dir));
}

/* Node 2's veth name is taken: node 1 and the bridge were made, then removed. */
static void test_failure_midway_rolls_back(void **state)
{
	_cleanup_(sock_freep) struct nl_sock *sk = nl_open();
	struct fl_netns_spec s = spec3("kt6", state_dir(0, "midway"));
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	struct fl_netns_cluster *c = NULL;
	char err[512] = "", taken[IFNAMSIZ], want[128];

	(void)state;
	SKIP_IF_NOT_ROOT();
	assert_int_equal(fl_netns_link_name("kt6", 1, taken, sizeof(taken)), 0);
	make_hold_link(sk, taken);
	before = snapshot();
	assert_int_equal(fl_netns_up(&s, &c, err, sizeof(err)), -EEXIST);
	assert_null(c);
	snprintf(want, sizeof(want), "link '%s' (for node 'n2') already exists", taken);
	if (!strstr(err, want))
		fail_msg("unexpected message: %s", err);
	after = snapshot();
	expect_same(before, after, "after the failed up"); /* and the taken link is still there */
	assert_false(journal_exists(s.state_dir));
}

/* --- 4. kill -9 ---------------------------------------------------------------------------------- */

/* Runs up in a child; kill -9 once the journal has at least min_lines
 * lines (0: once up has returned). Returns the journal's lines at the kill. */
static size_t up_in_child_and_kill(const struct fl_netns_spec *s, size_t min_lines)
{
	int p[2];
	pid_t pid;
	size_t lines = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct fl_netns_cluster *c;
		char err[512];

		close(p[0]);
		if (fl_netns_up(s, &c, err, sizeof(err)) < 0) {
			fprintf(stderr, "child: up: %s\n", err);
			_exit(1);
		}
		if (write(p[1], "u", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	track_pid(pid);
	close(p[1]);
	if (min_lines == 0) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		char ch;

		if (poll(&pf, 1, 20000) != 1 || read(p[0], &ch, 1) != 1)
			fail_msg("the child did not bring the cluster up");
	} else {
		for (int t = 0; t < 20000 && (lines = journal_lines(s->state_dir)) < min_lines; t++)
			usleep(1000);
	}
	close(p[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	g->npids--;
	return min_lines ? lines : journal_lines(s->state_dir);
}

static void test_kill_after_up_then_down_from_state(void **state)
{
	struct fl_netns_spec s = spec3("kt7", state_dir(0, "kill-after"));
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	char err[512];

	(void)state;
	SKIP_IF_NOT_ROOT();
	before = snapshot();
	up_in_child_and_kill(&s, 0);
	after = snapshot();
	assert_string_not_equal(before, after); /* the cluster outlived its maker */
	free(after);
	{
		/* and a torn last line, as a kill in the middle of a write leaves */
		char p[PATH_MAX];
		FILE *f;

		snprintf(p, sizeof(p), "%s/%s", s.state_dir, FL_NETNS_JOURNAL);
		assert_non_null(f = fopen(p, "a"));
		fputs("{\"op\":\"link\",\"name\":\"flkt7", f);
		fclose(f);
	}
	if (fl_netns_down_from_state(s.state_dir, err, sizeof(err)) < 0)
		fail_msg("down from state: %s", err);
	after = snapshot();
	expect_same(before, after, "after down from state");
	assert_false(journal_exists(s.state_dir));
}

static void test_kill_during_up_then_down_from_state(void **state)
{
	static const char *const names8[] = { "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8" };
	struct fl_netns_spec s = { .id = "kt8", .nnodes = 8, .names = names8,
				   .state_dir = state_dir(0, "kill-during") };
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	char err[512];
	size_t at;

	(void)state;
	SKIP_IF_NOT_ROOT();
	before = snapshot();
	/* 1 cluster line + bridge + 2 per node = 18: kill somewhere in the middle */
	at = up_in_child_and_kill(&s, 7);
	print_message("killed with %zu of 18 journal lines written\n", at);
	if (fl_netns_down_from_state(s.state_dir, err, sizeof(err)) < 0)
		fail_msg("down from state: %s", err);
	after = snapshot();
	expect_same(before, after, "after down from state");
	assert_false(journal_exists(s.state_dir));
}

/* --- 5. the automatic subnet ----------------------------------------------------------------- */

static void test_auto_subnet_avoids_route(void **state)
{
	_cleanup_(sock_freep) struct nl_sock *sk = nl_open();
	struct fl_netns_spec s = spec3("kt9", state_dir(0, "auto"));
	_cleanup_(freep) struct fl_netns_used *used = NULL;
	size_t nused = 0;
	uint32_t first, got;
	unsigned p, gp;
	char err[512], a[32], b[32];
	int ifindex;

	(void)state;
	SKIP_IF_NOT_ROOT();
	/* the subnet up would pick now, then a route over it */
	if (fl_netns_host_used(&used, &nused, err, sizeof(err)) < 0)
		fail_msg("host used: %s", err);
	assert_int_equal(fl_netns_choose_subnet(used, nused, &first, &p), 0);
	ifindex = make_hold_link(sk, "kthold1");
	add_route(sk, first, p, ifindex);

	up_or_fail(&s, 0);
	got = fl_netns_subnet(g->cl[0], &gp);
	fl_cidr4_format(first, p, a, sizeof(a));
	fl_cidr4_format(got, gp, b, sizeof(b));
	print_message("route over %s, cluster on %s\n", a, b);
	if (fl_cidr4_overlap(got, gp, first, p))
		fail_msg("the cluster took %s, which the route %s covers", b, a);
	if (fl_netns_conflict(got, gp, used, nused) >= 0)
		fail_msg("the cluster took %s, which the host already used", b);
}

/* A second cluster sees the first one's bridge and keeps off its subnet. */
static void test_auto_subnet_avoids_other_cluster(void **state)
{
	struct fl_netns_spec s1 = spec3("kta", state_dir(0, "two"));
	struct fl_netns_spec s2 = spec3("ktb", state_dir(1, "two"));
	uint32_t n1, n2;
	unsigned p1, p2;

	(void)state;
	SKIP_IF_NOT_ROOT();
	up_or_fail(&s1, 0);
	up_or_fail(&s2, 1);
	n1 = fl_netns_subnet(g->cl[0], &p1);
	n2 = fl_netns_subnet(g->cl[1], &p2);
	assert_false(fl_cidr4_overlap(n1, p1, n2, p2));
}

/* The same cluster twice: refused, and the first one untouched. */
static void test_up_twice_refused(void **state)
{
	struct fl_netns_spec s1 = spec3("ktc", state_dir(0, "twice"));
	struct fl_netns_spec s2 = spec3("ktc", state_dir(1, "twice"));
	struct fl_netns_spec s3 = spec3("ktd", s1.state_dir); /* another cluster, same state */
	_cleanup_(freep) char *before = NULL;
	_cleanup_(freep) char *after = NULL;
	struct fl_netns_cluster *c = NULL;
	char err[512] = "";

	(void)state;
	SKIP_IF_NOT_ROOT();
	up_or_fail(&s1, 0);
	before = snapshot();
	assert_int_equal(fl_netns_up(&s2, &c, err, sizeof(err)), -EEXIST);
	assert_null(c);
	if (!strstr(err, "cluster 'ktc' is already up (bridge 'flktcbr' exists)"))
		fail_msg("unexpected message: %s", err);
	/* a state directory holding a live cluster's journal is not reused */
	assert_int_equal(fl_netns_up(&s3, &c, err, sizeof(err)), -EEXIST);
	assert_null(c);
	if (!strstr(err, "holds the journal of a cluster that was not taken down"))
		fail_msg("unexpected message: %s", err);
	after = snapshot();
	expect_same(before, after, "after the refused second up");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_up_configures_nodes, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_nodes_reachable, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_spawn_reports_exec_failure, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_down_removes_everything, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_down_by_id_without_state, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_overlapping_subnet_refused, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_failure_midway_rolls_back, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_kill_after_up_then_down_from_state, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_kill_during_up_then_down_from_state, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_auto_subnet_avoids_route, test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_auto_subnet_avoids_other_cluster, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_up_twice_refused, test_setup, test_teardown),
	};

	/* helper mode: the UDP responder that runs inside a node */
	if (argc == 4 && strcmp(argv[1], "--responder") == 0)
		return responder(argv[2], atoi(argv[3]));
	return cmocka_run_group_tests_name("netns provider (kernel)", tests, group_setup, NULL);
}
