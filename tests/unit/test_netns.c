/* The netns provider's pure parts: CIDR overlap, the choice of a subnet
 * among the host's routes, cluster ids and object names, spec checks.
 * No root, no system calls that change anything. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/cluster.h"
#include "faultline/netns.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

static struct fl_netns_used used(uint32_t net, unsigned prefix, const char *what)
{
	struct fl_netns_used u = { .net = net, .prefix = prefix };

	snprintf(u.what, sizeof(u.what), "%s", what);
	return u;
}

static void test_overlap(void **state)
{
	(void)state;
	/* inside, equal, containing */
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, IP(10, 0, 0, 0), 16));
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 16, IP(10, 0, 5, 0), 24));
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, IP(10, 0, 0, 0), 24));
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, IP(10, 0, 0, 77), 32));
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 8, IP(10, 255, 255, 255), 32));
	/* neighbours do not */
	assert_false(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, IP(10, 0, 1, 0), 24));
	assert_false(fl_cidr4_overlap(IP(10, 0, 0, 0), 25, IP(10, 0, 0, 128), 25));
	assert_false(fl_cidr4_overlap(IP(10, 0, 0, 0), 8, IP(11, 0, 0, 0), 8));
	assert_false(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, IP(10, 0, 1, 1), 32));
	/* host bits of either side do not matter */
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 9), 24, IP(10, 0, 0, 200), 24));
	/* a /0 holds everything (callers leave default routes out) */
	assert_true(fl_cidr4_overlap(IP(10, 0, 0, 0), 24, 0, 0));
	/* symmetric */
	assert_true(fl_cidr4_overlap(IP(172, 16, 0, 0), 12, IP(172, 30, 1, 0), 24));
	assert_true(fl_cidr4_overlap(IP(172, 30, 1, 0), 24, IP(172, 16, 0, 0), 12));
	assert_false(fl_cidr4_overlap(IP(172, 16, 0, 0), 12, IP(172, 32, 0, 0), 24));
}

static void test_format(void **state)
{
	char buf[32];

	(void)state;
	fl_cidr4_format(IP(10, 213, 0, 0), 24, buf, sizeof(buf));
	assert_string_equal(buf, "10.213.0.0/24");
	fl_cidr4_format(IP(255, 255, 255, 255), 32, buf, sizeof(buf));
	assert_string_equal(buf, "255.255.255.255/32");
}

static void test_conflict_names_the_widest(void **state)
{
	struct fl_netns_used u[] = {
		used(IP(192, 168, 1, 0), 24, "the route 192.168.1.0/24 dev wlan0"),
		used(IP(10, 0, 0, 5), 32, "the route local 10.0.0.5/32 dev eth0 table local"),
		used(IP(10, 0, 0, 0), 16, "the route 10.0.0.0/16 dev eth0"),
		used(IP(10, 0, 0, 0), 24, "the route 10.0.0.0/24 dev eth1"),
	};

	(void)state;
	assert_int_equal(fl_netns_conflict(IP(10, 0, 0, 0), 24, u, 4), 2);
	assert_string_equal(u[2].what, "the route 10.0.0.0/16 dev eth0");
	assert_int_equal(fl_netns_conflict(IP(192, 168, 1, 0), 25, u, 4), 0);
	assert_int_equal(fl_netns_conflict(IP(10, 1, 0, 0), 24, u, 4), -1);
	assert_int_equal(fl_netns_conflict(IP(10, 1, 0, 0), 24, NULL, 0), -1);
	/* equal width: the first listed */
	assert_int_equal(fl_netns_conflict(IP(10, 0, 0, 0), 8, u, 4), 2);
}

static void test_candidates(void **state)
{
	uint32_t s = 0, prev = 0;
	unsigned p = 0;
	char buf[32];
	size_t n;

	(void)state;
	assert_int_equal(fl_netns_candidate(0, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.213.0.0/24");
	assert_int_equal(fl_netns_candidate(1, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.214.0.0/24");
	assert_int_equal(fl_netns_candidate(41, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.254.0.0/24");
	assert_int_equal(fl_netns_candidate(42, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "172.30.0.0/24");
	for (n = 0; fl_netns_candidate(n, &s, &p) == 0; n++) {
		assert_int_equal(p, 24);
		assert_int_equal(s & 0xff, 0); /* host bits zero */
		if (n)
			assert_true(s != prev);
		prev = s;
	}
	assert_int_equal(n, 42 + 256);
	fl_cidr4_format(prev, 24, buf, sizeof(buf));
	assert_string_equal(buf, "172.30.255.0/24");
	assert_int_equal(fl_netns_candidate(n, &s, &p), -ERANGE);
}

static void test_choose_subnet(void **state)
{
	struct fl_netns_used u[4];
	uint32_t s = 0;
	unsigned p = 0;
	char buf[32];

	(void)state;
	/* nothing in the way: the first candidate */
	assert_int_equal(fl_netns_choose_subnet(NULL, 0, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.213.0.0/24");

	/* a route covering the first candidate: the second */
	u[0] = used(IP(10, 213, 0, 0), 16, "the route 10.213.0.0/16 dev x");
	assert_int_equal(fl_netns_choose_subnet(u, 1, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.214.0.0/24");

	/* an address inside the first and another cluster on the second */
	u[0] = used(IP(10, 213, 0, 0), 24, "the address 10.213.0.9/24 of 'eth3'");
	u[1] = used(IP(10, 214, 0, 0), 24,
		    "the address 10.214.0.1/24 of 'flabcbr' (faultline cluster 'abc')");
	assert_int_equal(fl_netns_choose_subnet(u, 2, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "10.215.0.0/24");

	/* a VPN holding 10/8: on to 172.30, skipping its first /24 too */
	u[0] = used(IP(10, 0, 0, 0), 8, "the route 10.0.0.0/8 dev tun0");
	u[1] = used(IP(172, 30, 0, 128), 25, "the route 172.30.0.128/25 dev docker1");
	assert_int_equal(fl_netns_choose_subnet(u, 2, &s, &p), 0);
	fl_cidr4_format(s, p, buf, sizeof(buf));
	assert_string_equal(buf, "172.30.1.0/24");

	/* everything taken: an error, out-params untouched */
	u[0] = used(IP(10, 0, 0, 0), 8, "a");
	u[1] = used(IP(172, 16, 0, 0), 12, "b");
	s = 7;
	p = 9;
	assert_int_equal(fl_netns_choose_subnet(u, 2, &s, &p), -EADDRNOTAVAIL);
	assert_int_equal(s, 7);
	assert_int_equal(p, 9);
}

static void test_make_id(void **state)
{
	char a[6], b[6], c[6];

	(void)state;
	assert_int_equal(fl_netns_make_id("quickstart", a), 0);
	assert_int_equal(fl_netns_make_id("quickstart", b), 0);
	assert_int_equal(fl_netns_make_id("quickstart2", c), 0);
	assert_string_equal(a, b); /* stable */
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 5);
	assert_int_equal(strspn(a, "abcdefghijklmnopqrstuvwxyz0123456789"), 5);
	assert_int_equal(fl_netns_make_id("", a), -EINVAL);
	assert_int_equal(fl_netns_make_id(NULL, a), -EINVAL);
}

static void test_names(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(fl_netns_bridge_name("abc12", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "flabc12br");
	assert_int_equal(fl_netns_link_name("abc12", 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "flabc12v0");
	/* the longest name still fits IFNAMSIZ */
	assert_int_equal(fl_netns_link_name("zzzzz", FL_NETNS_MAX_NODES - 1, buf, IFNAMSIZ), 0);
	assert_string_equal(buf, "flzzzzzv63");
	assert_int_equal(fl_netns_link_name("zzzzz", FL_NETNS_MAX_NODES, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_netns_ns_name("abc12", "node-1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fl-abc12-node-1");
	assert_int_equal(fl_netns_bridge_name("abcdef", buf, sizeof(buf)), -EINVAL); /* 6 chars */
	assert_int_equal(fl_netns_bridge_name("ABC", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_netns_bridge_name("", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_netns_ns_name("abc", "1node", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_netns_ns_name("abc", "n1", buf, 4), -EINVAL); /* too small */

	/* what `faultline status` counts as ours, and what it leaves alone */
	assert_true(fl_netns_is_our_link("flabc12br"));
	assert_true(fl_netns_is_our_link("flabc12v0"));
	assert_true(fl_netns_is_our_link("flv1v63"));
	assert_false(fl_netns_is_our_link("flannel.1"));
	assert_false(fl_netns_is_our_link("flabcdefbr")); /* id too long */
	assert_false(fl_netns_is_our_link("flabc"));
	assert_false(fl_netns_is_our_link("flbr"));
	assert_false(fl_netns_is_our_link("flabcv123"));
	assert_false(fl_netns_is_our_link("eth0"));
	assert_false(fl_netns_is_our_link(NULL));
	assert_true(fl_netns_is_our_ns("fl-abc12-n1"));
	assert_true(fl_netns_is_our_ns("fl-a-node-x1"));
	assert_false(fl_netns_is_our_ns("fl-abc12-"));
	assert_false(fl_netns_is_our_ns("fl-abcdef-n1"));
	assert_false(fl_netns_is_our_ns("blue"));
	assert_false(fl_netns_is_our_ns("fl-abc-1n"));
}

static void spec_bad(const struct fl_netns_spec *s, const char *want)
{
	char err[256] = "";

	assert_int_equal(fl_netns_check_spec(s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_check_spec(void **state)
{
	const char *names[] = { "n1", "n2", "n3" };
	const char *dup[] = { "n1", "n2", "n1" };
	const char *bad[] = { "n1", "N2", "n3" };
	struct fl_netns_spec ok = { .id = "abc", .nnodes = 3, .names = names, .state_dir = "/x" };
	struct fl_netns_spec s;
	char err[256] = "";

	(void)state;
	assert_int_equal(fl_netns_check_spec(&ok, err, sizeof(err)), 0);
	s = ok;
	s.has_subnet = 1;
	s.subnet = IP(10, 1, 2, 0);
	s.prefix = 29; /* 6 usable: host + 3 nodes fit */
	assert_int_equal(fl_netns_check_spec(&s, err, sizeof(err)), 0);

	s = ok;
	s.id = "toolong";
	spec_bad(&s, "cluster id 'toolong'");
	s = ok;
	s.nnodes = 0;
	spec_bad(&s, "1 to 64 nodes, got 0");
	s = ok;
	s.nnodes = 65;
	spec_bad(&s, "got 65");
	s = ok;
	s.names = dup;
	spec_bad(&s, "node name 'n1' appears twice");
	s = ok;
	s.names = bad;
	spec_bad(&s, "node name 'N2'");
	s = ok;
	s.state_dir = NULL;
	spec_bad(&s, "state directory is required");
	s = ok;
	s.has_subnet = 1;
	s.subnet = IP(10, 1, 2, 4);
	s.prefix = 24;
	spec_bad(&s, "subnet '10.1.2.4/24' has host bits set");
	s.subnet = IP(10, 1, 2, 0);
	s.prefix = 30;
	spec_bad(&s, "the prefix must be /8 to /29");
	s.prefix = 7;
	spec_bad(&s, "the prefix must be /8 to /29");
	s.subnet = IP(127, 0, 0, 0);
	s.prefix = 8;
	spec_bad(&s, "subnet '127.0.0.0/8' overlaps the loopback (127.0.0.0/8) range");
	s.subnet = IP(169, 254, 3, 0);
	s.prefix = 24;
	spec_bad(&s, "link-local");
	s.subnet = IP(239, 1, 0, 0);
	s.prefix = 16;
	spec_bad(&s, "multicast");
	s.subnet = IP(0, 0, 0, 0);
	s.prefix = 8;
	spec_bad(&s, "'this network'");
	{
		const char *many[6] = { "a", "b", "c", "d", "e", "f" };

		s = ok;
		s.names = many;
		s.nnodes = 6;
		s.has_subnet = 1;
		s.subnet = IP(10, 1, 2, 8);
		s.prefix = 29;
		spec_bad(&s, "subnet '10.1.2.8/29' holds 6 addresses, the cluster needs 7");
	}
}

/* Undo trusts a journal only with faultline's names: anything else is
 * refused before any system change, and the journal is kept. */
static void test_foreign_journal_refused(void **state)
{
	static const char *const bad[] = {
		"{\"op\":\"link\",\"name\":\"eth0\"}\n",
		"{\"op\":\"netns\",\"name\":\"../../etc/passwd\"}\n",
		"{\"op\":\"bridge\",\"name\":\"docker0\"}\n",
		"{\"op\":\"mkfs\",\"name\":\"flabcbr\"}\n",
		"not json at all\n",
	};
	char dir[] = "/tmp/fl-netns-unit.XXXXXX", path[128], err[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, FL_NETNS_JOURNAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("{\"op\":\"link\",\"name\":\"flabcv0\"}\n", f); /* a fine one first */
		fputs(bad[i], f);
		fclose(f);
		err[0] = '\0';
		assert_int_equal(fl_netns_down_from_state(dir, err, sizeof(err)), -EINVAL);
		if (!strstr(err, "unexpected"))
			fail_msg("journal line %zu: message '%s'", i, err);
		assert_int_equal(access(path, F_OK), 0); /* kept for a look */
	}
	unlink(path);
	/* no journal: nothing to do */
	assert_int_equal(fl_netns_down_from_state(dir, err, sizeof(err)), 0);
	rmdir(dir);
}

/* A cluster.json edited by hand (or a pid reused after the agent died):
 * a node name that would make down's paths leave the state directory is
 * refused, and a process that is not the cluster's agent is not signalled
 * (down says so and fails, after removing the rest). */
static void test_foreign_cluster_state_refused(void **state)
{
	char dir[] = "/tmp/fl-cluster-unit.XXXXXX", path[128], err[512] = "";
	struct fl_cluster *c = NULL;
	pid_t victim;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cluster.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("{\"id\":\"abc\",\"provider\":\"netns\",\"nodes\":[{\"name\":\"../../etc/x\","
	      "\"addr\":\"10.0.0.2\",\"agent_pid\":0}]}\n", f);
	fclose(f);
	assert_int_equal(fl_cluster_open(dir, &c, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "node '../../etc/x' is not a node name faultline gives"));

	victim = fork();
	assert_true(victim >= 0);
	if (victim == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"id\":\"abc\",\"provider\":\"netns\",\"nodes\":[{\"name\":\"n1\","
		   "\"addr\":\"10.0.0.2\",\"agent_pid\":%d}]}\n", (int)victim);
	fclose(f);
	assert_int_equal(fl_cluster_open(dir, &c, err, sizeof(err)), 0);
	assert_int_equal(c->agent_pids[0], 0);
	assert_int_equal(fl_cluster_down(c, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "is not the agent faultline started there; it was not signalled"));
	usleep(100 * 1000);
	assert_int_equal(waitpid(victim, NULL, WNOHANG), 0); /* alive */
	assert_int_equal(access(dir, F_OK), -1);              /* the rest is down */
	fl_cluster_free(c);
	kill(victim, SIGKILL);
	waitpid(victim, NULL, 0);

	/* an agent that died while nobody reaped it (a zombie: the run that
	 * started it was killed too) is gone, not someone else's: down goes on */
	victim = fork();
	assert_true(victim >= 0);
	if (victim == 0)
		_exit(0);
	usleep(200 * 1000); /* exited, not waited for */
	assert_true(mkdtemp(strcpy(dir, "/tmp/fl-cluster-unit.XXXXXX")) != NULL);
	snprintf(path, sizeof(path), "%s/cluster.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"id\":\"abc\",\"provider\":\"netns\",\"nodes\":[{\"name\":\"n1\","
		   "\"addr\":\"10.0.0.2\",\"agent_pid\":%d}]}\n", (int)victim);
	fclose(f);
	assert_int_equal(fl_cluster_open(dir, &c, err, sizeof(err)), 0);
	assert_int_equal(fl_cluster_down(c, err, sizeof(err)), 0);
	assert_int_equal(access(dir, F_OK), -1);
	fl_cluster_free(c);
	waitpid(victim, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_conflict_names_the_widest),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_choose_subnet),
		cmocka_unit_test(test_make_id),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_check_spec),
		cmocka_unit_test(test_foreign_journal_refused),
		cmocka_unit_test(test_foreign_cluster_state_refused),
	};

	return cmocka_run_group_tests_name("netns provider (pure parts)", tests, NULL, NULL);
}
