/* The tc layer's builders, without root and without a kernel: the libnl
 * objects and messages carry the values the kernel expects (units, 32-bit
 * fractions, u32 keys, actions, bands, the raw pedit and csum attributes of
 * payload tampering), validation refuses what netem cannot do, and the
 * computed distribution tables equal iproute2's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_csum.h>
#include <linux/tc_act/tc_pedit.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/act/gact.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/prio.h>
#include <netlink/route/tc.h>

#include "faultline/tc.h"
#include "faultline/units.h"

#define MS FL_NS_PER_MS

static struct rtnl_qdisc *netem_ok(unsigned slot, const struct fl_netem *nm)
{
	struct rtnl_qdisc *q = NULL;
	struct fl_tc_err err = { { 0 } };
	int r = fl_tc_build_netem(7, slot, nm, &q, &err);

	if (r < 0)
		fail_msg("fl_tc_build_netem: %d %s", r, err.msg);
	assert_non_null(q);
	return q;
}

static void expect_refused(const struct fl_netem *nm, int code, const char *part)
{
	struct fl_tc_err err = { { 0 } };
	struct rtnl_qdisc *q = NULL;
	int r = fl_tc_build_netem(7, 0, nm, &q, &err);

	assert_int_equal(r, code);
	assert_null(q);
	if (!strstr(err.msg, part))
		fail_msg("message '%s' lacks '%s'", err.msg, part);
	assert_int_equal(fl_tc_netem_check(nm, NULL), code);
}

/* libnl's getters hand the kernel's u32 fractions back in an int */
static uint32_t u(int v)
{
	return (uint32_t)v;
}

static void test_netem_delay_units(void **state)
{
	struct fl_netem nm = { .set = FL_NETEM_LATENCY, .latency_ns = 100 * MS, .jitter_ns = 10 * MS };
	struct rtnl_qdisc *q;

	(void)state;
	q = netem_ok(0, &nm);
	/* libnl's unit for delays is the microsecond (it converts to ticks) */
	assert_int_equal(rtnl_netem_get_delay(q), 100000);
	assert_int_equal(rtnl_netem_get_jitter(q), 10000);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(q)), "netem");
	assert_int_equal(rtnl_tc_get_ifindex(TC_CAST(q)), 7);
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(q)), TC_HANDLE(1, 2)); /* shape 0: band 1:2 */
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(0x10, 0));
	assert_int_equal(rtnl_netem_get_limit(q), (int)fl_tc_netem_limit(&nm));
	assert_int_equal(rtnl_netem_get_delay_correlation(q), -NLE_NOATTR);
	assert_int_equal(rtnl_netem_get_delay_distribution_size(q), -NLE_NOATTR);
	rtnl_qdisc_put(q);

	/* correlation of the jitter, and shape 4 in band 1:6 */
	nm.latency_corr = 25;
	q = netem_ok(4, &nm);
	assert_int_equal(u(rtnl_netem_get_delay_correlation(q)), fl_percent_to_u32(25));
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(q)), TC_HANDLE(1, 6));
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(0x50, 0));
	rtnl_qdisc_put(q);
}

static void test_netem_fractions(void **state)
{
	struct fl_netem nm = {
		.set = FL_NETEM_LOSS | FL_NETEM_DUPLICATE | FL_NETEM_CORRUPT | FL_NETEM_REORDER |
		       FL_NETEM_LATENCY,
		.latency_ns = 10 * MS,
		.loss = 25, .loss_corr = 50,
		.duplicate = 100,
		.corrupt = 0.5, .corrupt_corr = 10,
		.reorder = 30, .reorder_corr = 5,
	};
	struct rtnl_qdisc *q;

	(void)state;
	q = netem_ok(0, &nm);
	/* the kernel's fraction: 25% is a quarter of 2^32 - 1, as tc computes it */
	assert_int_equal(u(rtnl_netem_get_loss(q)), fl_percent_to_u32(25));
	assert_int_equal(u(rtnl_netem_get_loss(q)), 1073741824u);
	assert_int_equal(u(rtnl_netem_get_loss_correlation(q)), fl_percent_to_u32(50));
	assert_int_equal(u(rtnl_netem_get_duplicate(q)), UINT32_MAX);
	assert_int_equal(u(rtnl_netem_get_corruption_probability(q)), fl_percent_to_u32(0.5));
	assert_int_equal(u(rtnl_netem_get_corruption_correlation(q)), fl_percent_to_u32(10));
	assert_int_equal(u(rtnl_netem_get_reorder_probability(q)), fl_percent_to_u32(30));
	assert_int_equal(u(rtnl_netem_get_reorder_correlation(q)), fl_percent_to_u32(5));
	assert_int_equal(rtnl_netem_get_gap(q), 1); /* as tc: every packet a candidate */
	rtnl_qdisc_put(q);

	nm.gap = 5;
	q = netem_ok(0, &nm);
	assert_int_equal(rtnl_netem_get_gap(q), 5);
	rtnl_qdisc_put(q);

	/* what is not set is not sent, even when a value lingers in the struct */
	nm.set = FL_NETEM_LOSS;
	q = netem_ok(0, &nm);
	assert_int_equal(rtnl_netem_get_duplicate(q), -NLE_NOATTR);
	assert_int_equal(rtnl_netem_get_delay(q), -NLE_NOATTR);
	rtnl_qdisc_put(q);
}

static void test_netem_distribution(void **state)
{
	struct fl_netem nm = { .set = FL_NETEM_LATENCY, .latency_ns = 100 * MS, .jitter_ns = 10 * MS,
			       .distribution = FL_DIST_NORMAL };
	struct rtnl_qdisc *q;
	int16_t *table = NULL;
	size_t n = 0;

	(void)state;
	q = netem_ok(1, &nm);
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(0x21, 0)); /* slot 1, normal */
	/* the table travels in the message (fl_tc_netem_msg), not in libnl's object */
	assert_int_equal(rtnl_netem_get_delay_distribution_size(q), -NLE_NOATTR);
	rtnl_qdisc_put(q);

	nm.distribution = FL_DIST_PARETONORMAL;
	q = netem_ok(1, &nm);
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(0x23, 0));
	rtnl_qdisc_put(q);

	/* uniform is netem's own jitter: no table, the same handle as none */
	nm.distribution = FL_DIST_UNIFORM;
	q = netem_ok(1, &nm);
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(0x20, 0));
	rtnl_qdisc_put(q);

	assert_int_equal(fl_tc_dist_table(FL_DIST_UNIFORM, &table, &n), -ENOENT);
	assert_int_equal(fl_tc_dist_table(FL_DIST_NONE, &table, &n), -ENOENT);
	assert_int_equal(fl_tc_dist_table(FL_DIST_PARETO, &table, &n), 0);
	assert_int_equal(n, 4096);
	assert_int_equal(table[0], -5461); /* (1 - 1.5) * 4/3 * 8192 */
	free(table);
}

static void test_handles(void **state)
{
	enum fl_distribution d;
	unsigned slot;

	(void)state;
	for (unsigned s = 0; s < FL_TC_MAX_SHAPES; s++)
		for (int i = 0; i < FL_DIST__N; i++) {
			enum fl_distribution want = i == FL_DIST_UNIFORM ? FL_DIST_NONE
									 : (enum fl_distribution)i;

			assert_int_equal(fl_tc_netem_handle_parse(
						 fl_tc_netem_handle(s, (enum fl_distribution)i), &slot, &d),
					 0);
			assert_int_equal(slot, s);
			assert_int_equal(d, want);
		}
	assert_int_equal(fl_tc_netem_handle_parse(TC_HANDLE(1, 0), &slot, &d), -ENOENT);
	assert_int_equal(fl_tc_netem_handle_parse(TC_HANDLE(0x14, 0), &slot, &d), -ENOENT);
	assert_int_equal(fl_tc_netem_handle_parse(TC_HANDLE(0x10, 1), &slot, &d), -ENOENT);
	assert_int_equal(fl_tc_band_classid(0), TC_HANDLE(1, 1));
	assert_int_equal(fl_tc_band_classid(15), TC_HANDLE(1, 16));
}

/* Debian's iproute2 ships the tables; ours must be the same numbers. */
static int read_dist(const char *name, int16_t *v, size_t max, size_t *n)
{
	static const char *const dirs[] = { "/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/tc",
					    "/usr/lib64/tc", "/usr/local/lib/tc" };
	char path[256], line[1024];
	FILE *f = NULL;

	for (size_t i = 0; !f && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.dist", dirs[i], name);
		f = fopen(path, "re");
	}
	if (!f)
		return -ENOENT;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (line[0] == '#')
			continue;
		for (long x = strtol(p, &end, 10); end != p && *n < max; x = strtol(p, &end, 10)) {
			v[(*n)++] = (int16_t)x;
			p = end;
		}
	}
	fclose(f);
	return 0;
}

static void test_dist_tables_match_iproute2(void **state)
{
	static const struct {
		enum fl_distribution d;
		const char *name;
	} dists[] = { { FL_DIST_NORMAL, "normal" }, { FL_DIST_PARETO, "pareto" },
		      { FL_DIST_PARETONORMAL, "paretonormal" } };
	int16_t theirs[8192];
	int found = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(dists) / sizeof(dists[0]); i++) {
		int16_t *ours = NULL;
		size_t n = 0, m = 0, diff = 0, first = 0;

		assert_int_equal(fl_tc_dist_table(dists[i].d, &ours, &n), 0);
		assert_int_equal(n, 4096);
		if (read_dist(dists[i].name, theirs, 8192, &m) < 0) {
			free(ours);
			continue;
		}
		found++;
		assert_int_equal(m, n);
		for (size_t k = 0; k < n; k++)
			if (ours[k] != theirs[k] && diff++ == 0)
				first = k;
		if (diff)
			fail_msg("%s: %zu of %zu values differ from iproute2's, first at %zu: %d vs %d",
				 dists[i].name, diff, n, first, ours[first], theirs[first]);
		free(ours);
	}
	if (!found) {
		print_message("skipping: no iproute2 *.dist files here (apt-get install iproute2)\n");
		skip();
	}
}

static void test_netem_refused(void **state)
{
	struct fl_netem nm;

	(void)state;
	nm = (struct fl_netem){ .set = FL_NETEM_REORDER, .reorder = 25 };
	expect_refused(&nm, -EINVAL, "reordering needs a latency");
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 10 * MS,
				.distribution = FL_DIST_NORMAL };
	expect_refused(&nm, -EINVAL, "'normal' shapes the jitter");
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 10 * MS, .latency_corr = 5 };
	expect_refused(&nm, -EINVAL, "applies to the jitter");
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 300 * FL_NS_PER_S };
	expect_refused(&nm, -ERANGE, "0..274s");
	nm = (struct fl_netem){ .set = FL_NETEM_LOSS, .loss = 150 };
	expect_refused(&nm, -EINVAL, "'loss' 150%");
	nm = (struct fl_netem){ .set = FL_NETEM_LOSS, .loss = 10, .loss_corr = NAN };
	expect_refused(&nm, -EINVAL, "0..100");
	nm = (struct fl_netem){ .set = FL_NETEM_RATE };
	expect_refused(&nm, -EINVAL, "rate 0");
	nm = (struct fl_netem){ .set = FL_NETEM_LOSS, .loss = 1 };
	{
		struct rtnl_qdisc *q = NULL;

		assert_int_equal(fl_tc_build_netem(7, FL_TC_MAX_SHAPES, &nm, &q, NULL), -E2BIG);
		assert_null(q);
	}
}

static void test_netem_limit(void **state)
{
	struct fl_netem nm = { .set = FL_NETEM_LOSS, .loss = 20 };

	(void)state;
	assert_int_equal(fl_tc_netem_limit(&nm), 1000); /* nothing waits: netem's default */
	nm.limit = 77;
	assert_int_equal(fl_tc_netem_limit(&nm), 77); /* the scenario's word wins */
	/* 1 Gbit/s for 100 ms + 4 x 10 ms, in 512-byte packets */
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 100 * MS, .jitter_ns = 10 * MS };
	assert_int_equal(fl_tc_netem_limit(&nm), (uint32_t)ceil(125e6 * 0.14 / 512));
	/* a rate of its own: 10 Mbit/s for 1 s + 100 ms of queue */
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY | FL_NETEM_RATE, .latency_ns = 1000 * MS,
				.rate_bps = 1250000 };
	assert_int_equal(fl_tc_netem_limit(&nm), (uint32_t)ceil(1250000 * 1.1 / 512));
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY, .latency_ns = 200 * FL_NS_PER_S };
	assert_int_equal(fl_tc_netem_limit(&nm), FL_TC_MAX_LIMIT);
}

/* The attribute of type t inside netem's TCA_OPTIONS (after tc_netem_qopt). */
static struct nlattr *netem_attr(struct nlattr *opts, int t)
{
	int head = NLA_ALIGN(sizeof(struct tc_netem_qopt));

	return nla_find((struct nlattr *)((char *)nla_data(opts) + head), nla_len(opts) - head, t);
}

static void test_netem_msg(void **state)
{
	struct fl_netem nm = { .set = FL_NETEM_LATENCY | FL_NETEM_LOSS | FL_NETEM_RATE,
			       .latency_ns = 100 * MS, .jitter_ns = 10 * MS, .loss = 20,
			       .rate_bps = 125000 /* 1mbit */ };
	struct fl_tc_netem_kernel k;
	struct rtnl_qdisc *q = netem_ok(0, &nm);
	struct nl_msg *msg = NULL;
	struct nlmsghdr *nlh;
	struct nlattr *opts, *a;
	struct tc_netem_corr corr;
	struct tc_netem_reorder ro;

	(void)state;
	assert_int_equal(fl_tc_netem_msg(q, &nm, NLM_F_CREATE | NLM_F_REPLACE, &msg, NULL), 0);
	nlh = nlmsg_hdr(msg);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWQDISC);
	assert_true(nlh->nlmsg_flags & NLM_F_CREATE);
	assert_true(nlh->nlmsg_flags & NLM_F_REPLACE);
	assert_false(nlh->nlmsg_flags & NLM_F_EXCL);
	opts = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS);
	assert_non_null(opts);
	/* TCA_OPTIONS spans to the end of the message, our attributes inside */
	assert_ptr_equal((char *)opts + NLA_ALIGN(opts->nla_len), (char *)nlmsg_tail(nlh));

	assert_int_equal(fl_tc_netem_parse(nla_data(opts), (size_t)nla_len(opts), &k), 0);
	assert_int_equal(k.loss, fl_percent_to_u32(20));
	assert_int_equal(k.rate_bps, 125000);
	assert_int_equal(k.limit, fl_tc_netem_limit(&nm));
	/* through libnl's ticks (64 ns each, from /proc/net/psched) and back */
	assert_true(llabs(k.latency_ns - 100 * MS) < 1000);
	assert_true(llabs(k.jitter_ns - 10 * MS) < 1000);

	/* zeros said out loud, so an in-place change forgets old settings */
	a = netem_attr(opts, TCA_NETEM_CORR);
	assert_non_null(a);
	memcpy(&corr, nla_data(a), sizeof(corr));
	assert_int_equal(corr.delay_corr | corr.loss_corr | corr.dup_corr, 0);
	a = netem_attr(opts, TCA_NETEM_REORDER);
	assert_non_null(a);
	memcpy(&ro, nla_data(a), sizeof(ro));
	assert_int_equal(ro.probability, 0);
	assert_non_null(netem_attr(opts, TCA_NETEM_CORRUPT));
	assert_null(netem_attr(opts, TCA_NETEM_RATE64));
	nlmsg_free(msg);
	rtnl_qdisc_put(q);

	/* with attributes libnl nests itself (corrupt, a table): still one
	 * TCA_OPTIONS to the end, nothing left over behind it */
	nm = (struct fl_netem){ .set = FL_NETEM_LATENCY | FL_NETEM_CORRUPT, .latency_ns = 100 * MS,
				.jitter_ns = 10 * MS, .distribution = FL_DIST_NORMAL, .corrupt = 20 };
	q = netem_ok(0, &nm);
	assert_int_equal(fl_tc_netem_msg(q, &nm, NLM_F_CREATE | NLM_F_REPLACE, &msg, NULL), 0);
	nlh = nlmsg_hdr(msg);
	opts = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS);
	assert_ptr_equal((char *)opts + NLA_ALIGN(opts->nla_len), (char *)nlmsg_tail(nlh));
	a = netem_attr(opts, TCA_NETEM_DELAY_DIST);
	assert_non_null(a);
	assert_int_equal(nla_len(a), 4096 * 2);
	{
		int16_t *table = NULL;
		size_t n = 0;

		assert_int_equal(fl_tc_dist_table(FL_DIST_NORMAL, &table, &n), 0);
		assert_memory_equal(nla_data(a), table, n * sizeof(*table));
		free(table);
	}
	assert_true(nlh->nlmsg_len <= nlmsg_get_max_size(msg));
	assert_int_equal(fl_tc_netem_parse(nla_data(opts), (size_t)nla_len(opts), &k), 0);
	assert_int_equal(k.corrupt, fl_percent_to_u32(20));
	assert_null(netem_attr(opts, TCA_NETEM_LOSS)); /* never a loss model */
	nlmsg_free(msg);
	rtnl_qdisc_put(q);

	nm.distribution = FL_DIST_UNIFORM;
	q = netem_ok(0, &nm);
	assert_int_equal(fl_tc_netem_msg(q, &nm, NLM_F_CREATE | NLM_F_REPLACE, &msg, NULL), 0);
	opts = nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct tcmsg), TCA_OPTIONS);
	assert_null(netem_attr(opts, TCA_NETEM_DELAY_DIST));
	nlmsg_free(msg);
	rtnl_qdisc_put(q);

	/* above 4 GB/s the rate goes in 64 bits */
	nm = (struct fl_netem){ .set = FL_NETEM_RATE, .rate_bps = 5000000000ULL };
	q = netem_ok(0, &nm);
	assert_int_equal(fl_tc_netem_msg(q, &nm, NLM_F_CREATE | NLM_F_REPLACE, &msg, NULL), 0);
	opts = nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct tcmsg), TCA_OPTIONS);
	assert_non_null(netem_attr(opts, TCA_NETEM_RATE64));
	assert_int_equal(fl_tc_netem_parse(nla_data(opts), (size_t)nla_len(opts), &k), 0);
	assert_int_equal(k.rate_bps, 5000000000ULL);
	nlmsg_free(msg);
	rtnl_qdisc_put(q);
}

static struct fl_tc_addr addr(const char *s)
{
	struct fl_tc_addr a;

	assert_int_equal(fl_tc_addr_parse(s, &a), 0);
	return a;
}

static void expect_key(struct rtnl_cls *c, int i, uint32_t val, int off)
{
	uint32_t v, m;
	int o, om;

	assert_int_equal(rtnl_u32_get_key(c, (uint8_t)i, &v, &m, &o, &om), 0);
	assert_int_equal(v, val);
	assert_int_equal(m, 0xffffffff);
	assert_int_equal(o, off);
	assert_int_equal(om, 0);
}

static void expect_nkeys(struct rtnl_cls *c, int n)
{
	uint32_t v, m;
	int o, om;

	assert_true(rtnl_u32_get_key(c, (uint8_t)n, &v, &m, &o, &om) < 0);
}

static void test_drop_ipv4(void **state)
{
	struct fl_tc_addr dst = addr("10.0.0.2"), back;
	struct rtnl_cls *c = NULL;
	struct rtnl_act *act;
	uint32_t classid;

	(void)state;
	assert_int_equal(fl_tc_build_drop(5, &dst, &c, NULL), 0);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(c)), "u32");
	assert_int_equal(rtnl_tc_get_ifindex(TC_CAST(c)), 5);
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(c)), TC_HANDLE(1, 0));
	assert_int_equal(rtnl_cls_get_protocol(c), ETH_P_IP);
	assert_int_equal(rtnl_cls_get_prio(c), FL_TC_PRIO_DROP4);
	/* IPv4 destination: bytes 16..19 of the IP header, network order */
	expect_key(c, 0, inet_addr("10.0.0.2"), 16);
	expect_nkeys(c, 1);
	act = rtnl_u32_get_action(c);
	assert_non_null(act);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(act)), "gact");
	assert_int_equal(rtnl_gact_get_action(act), TC_ACT_SHOT);
	assert_null(rtnl_act_next(act));
	assert_true(rtnl_u32_get_classid(c, &classid) < 0); /* a drop goes nowhere */
	assert_int_equal(fl_tc_cls_dst(c, &back), 0);
	assert_true(fl_tc_addr_equal(&back, &dst));
	rtnl_cls_put(c);
}

static void test_drop_ipv6(void **state)
{
	struct fl_tc_addr dst = addr("fd00:99::2"), back;
	struct rtnl_cls *c = NULL;

	(void)state;
	assert_int_equal(fl_tc_build_drop(5, &dst, &c, NULL), 0);
	assert_int_equal(rtnl_cls_get_protocol(c), ETH_P_IPV6);
	assert_int_equal(rtnl_cls_get_prio(c), FL_TC_PRIO_DROP6);
	/* IPv6 destination: four words at 24, 28, 32, 36 of the IPv6 header */
	for (int i = 0; i < 4; i++)
		expect_key(c, i, dst.u.v6.s6_addr32[i], 24 + 4 * i);
	expect_nkeys(c, 4);
	assert_int_equal(rtnl_gact_get_action(rtnl_u32_get_action(c)), TC_ACT_SHOT);
	assert_int_equal(fl_tc_cls_dst(c, &back), 0);
	assert_true(fl_tc_addr_equal(&back, &dst));
	rtnl_cls_put(c);
}

static void test_steer(void **state)
{
	struct fl_tc_addr dst = addr("10.99.0.3"), v6 = addr("fd00::3");
	struct rtnl_cls *c = NULL;
	uint32_t classid = 0;

	(void)state;
	assert_int_equal(fl_tc_build_steer(5, &dst, 2, &c, NULL), 0);
	assert_int_equal(rtnl_cls_get_prio(c), FL_TC_PRIO_STEER4);
	assert_int_equal(rtnl_u32_get_classid(c, &classid), 0);
	assert_int_equal(classid, TC_HANDLE(1, 4)); /* shape 2 -> band 1:4 */
	assert_null(rtnl_u32_get_action(c));
	expect_key(c, 0, inet_addr("10.99.0.3"), 16);
	rtnl_cls_put(c);
	c = NULL;
	assert_int_equal(fl_tc_build_steer(5, &v6, 0, &c, NULL), 0);
	assert_int_equal(rtnl_cls_get_prio(c), FL_TC_PRIO_STEER6);
	assert_int_equal(rtnl_u32_get_classid(c, &classid), 0);
	assert_int_equal(classid, TC_HANDLE(1, 2));
	rtnl_cls_put(c);
	c = NULL;
	assert_int_equal(fl_tc_build_steer(5, &dst, FL_TC_MAX_SHAPES, &c, NULL), -E2BIG);
	assert_null(c);
}

static void test_root(void **state)
{
	struct rtnl_qdisc *q = NULL;
	uint8_t *map;

	(void)state;
	assert_int_equal(fl_tc_build_root(3, 0, &q, NULL), 0);
	assert_string_equal(rtnl_tc_get_kind(TC_CAST(q)), "prio");
	assert_int_equal(rtnl_tc_get_parent(TC_CAST(q)), TC_H_ROOT);
	assert_int_equal(rtnl_tc_get_handle(TC_CAST(q)), TC_HANDLE(1, 0));
	assert_int_equal(rtnl_qdisc_prio_get_bands(q), 16);
	map = rtnl_qdisc_prio_get_priomap(q);
	for (int i = 0; i <= TC_PRIO_MAX; i++)
		assert_int_equal(map[i], 0); /* every priority to the plain band 1:1 */
	rtnl_qdisc_put(q);
	q = NULL;
	assert_int_equal(fl_tc_build_root(3, 3, &q, NULL), 0);
	map = rtnl_qdisc_prio_get_priomap(q);
	for (int i = 0; i <= TC_PRIO_MAX; i++)
		assert_int_equal(map[i], 3); /* to shape 2's band 1:4 */
	rtnl_qdisc_put(q);
	q = NULL;
	assert_int_equal(fl_tc_build_root(3, 16, &q, NULL), -EINVAL);
}

static void test_state_check(void **state)
{
	struct fl_tc_addr b = addr("10.0.0.2"), c = addr("10.0.0.3"), bad = { .family = AF_UNIX };
	struct fl_tc_shape shapes[FL_TC_MAX_SHAPES + 1];
	struct fl_tc_state st = { 0 };
	struct fl_tc_err err;

	(void)state;
	memset(shapes, 0, sizeof(shapes));
	assert_int_equal(fl_tc_state_check(&st, &err), 0); /* empty: clear */
	shapes[0].netem = (struct fl_netem){ .set = FL_NETEM_LOSS, .loss = 5 };
	shapes[0].peers = &b;
	shapes[0].npeers = 1;
	shapes[1] = shapes[0];
	st = (struct fl_tc_state){ .blocked = &c, .nblocked = 1, .shapes = shapes, .nshapes = 2 };
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "peer 10.0.0.2 is in shapes 1 and 2"));

	shapes[0].npeers = shapes[1].npeers = 0;
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "both apply to all traffic"));

	shapes[1].peers = &b;
	shapes[1].npeers = 1;
	assert_int_equal(fl_tc_state_check(&st, &err), 0); /* one catch-all, one per-peer */

	st.blocked = &bad;
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither IPv4 nor IPv6"));
	st.blocked = &c;

	shapes[1].netem = (struct fl_netem){ .set = FL_NETEM_REORDER, .reorder = 5 };
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "shape 2: netem reordering needs a latency"));

	st.nshapes = FL_TC_MAX_SHAPES + 1;
	assert_int_equal(fl_tc_state_check(&st, &err), -E2BIG);
}

/* --- payload tampering: the raw pedit + csum attributes --------------------- */

/* What the kernel's pedit does with a "set" key to the word in the packet. */
static void pedit_apply(uint8_t *pkt, const struct tc_pedit_key *k)
{
	uint32_t w;

	memcpy(&w, pkt + k->off, 4);
	w = (w & k->mask) ^ k->val;
	memcpy(pkt + k->off, &w, 4);
}

static void test_tamper_key(void **state)
{
	struct tc_pedit_key k;

	(void)state;
	/* byte 49 = word 48, second byte: in packet order the mask keeps bytes
	 * 0, 2, 3; tc's "offset 48 u8 ... set" computes the same words */
	assert_int_equal(fl_tc_tamper_key(49, 0xa5, &k), 0);
	assert_int_equal(k.off, 48);
	assert_int_equal(k.mask, htonl(0xff00ffff));
	assert_int_equal(k.val, htonl(0x00a50000));
	assert_int_equal(k.at | k.offmask | k.shift, 0);
	for (uint32_t off = 0; off < 16; off++) {
		uint8_t pkt[64], want[64];

		for (size_t i = 0; i < sizeof(pkt); i++)
			pkt[i] = want[i] = (uint8_t)(i * 7 + 1);
		want[off] = 0x3c;
		assert_int_equal(fl_tc_tamper_key(off, 0x3c, &k), 0);
		assert_int_equal(k.off, off & ~3u);
		/* the other three bytes of the word kept, value not bleeding out */
		assert_int_equal(k.val & k.mask, 0);
		pedit_apply(pkt, &k);
		assert_memory_equal(pkt, want, sizeof(pkt));
	}
	assert_int_equal(fl_tc_tamper_key(FL_TC_MAX_TAMPER_OFFSET, 1, &k), 0);
	assert_int_equal(fl_tc_tamper_key(FL_TC_MAX_TAMPER_OFFSET + 1, 1, &k), -ERANGE);
}

static struct nlattr *attr_in(struct nlattr *parent, int type)
{
	return nla_find(nla_data(parent), nla_len(parent), type);
}

/* The action at `order` in TCA_U32_ACT: checks its kind, returns its options. */
static struct nlattr *action_opts(struct nlattr *acts, int order, const char *kind)
{
	struct nlattr *a = attr_in(acts, order), *k;

	assert_non_null(a);
	assert_true(a->nla_type & NLA_F_NESTED);
	k = attr_in(a, TCA_ACT_KIND);
	assert_non_null(k);
	assert_string_equal((const char *)nla_data(k), kind);
	return attr_in(a, TCA_ACT_OPTIONS);
}

struct tamper_msg {
	struct nl_msg *msg;
	struct tcmsg *t;
	struct nlattr *opts;            /* TCA_OPTIONS */
	struct tc_u32_sel sel;
	struct tc_u32_key keys[8];
	struct tc_pedit_sel psel;
	struct tc_pedit_key pkey;
	uint16_t htype, cmd;
	struct tc_csum csum;
	int nactions;
};

/* Build, then take the message apart attribute by attribute. */
static void tamper_msg(const struct fl_tc_tamper *t, int family, int l4, struct tamper_msg *m)
{
	struct nlmsghdr *nlh;
	struct nlattr *a, *acts, *po, *co, *keys, *key, *x;
	struct fl_tc_err err = { { 0 } };
	int r, rem;

	memset(m, 0, sizeof(*m));
	r = fl_tc_tamper_msg(7, t, family, l4, &m->msg, &err);
	if (r < 0)
		fail_msg("fl_tc_tamper_msg: %d %s", r, err.msg);
	nlh = nlmsg_hdr(m->msg);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWTFILTER);
	assert_int_equal(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
	m->t = nlmsg_data(nlh);
	assert_int_equal(m->t->tcm_ifindex, 7);
	assert_int_equal(m->t->tcm_parent, TC_HANDLE(1, 0));
	a = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_KIND);
	assert_non_null(a);
	assert_string_equal((const char *)nla_data(a), "u32");
	m->opts = nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS);
	assert_non_null(m->opts);
	/* TCA_OPTIONS spans to the end of the message, the actions inside */
	assert_ptr_equal((char *)m->opts + NLA_ALIGN(m->opts->nla_len), (char *)nlmsg_tail(nlh));
	assert_true(nlh->nlmsg_len <= nlmsg_get_max_size(m->msg));

	a = attr_in(m->opts, TCA_U32_SEL);
	assert_non_null(a);
	memcpy(&m->sel, nla_data(a), sizeof(m->sel));
	assert_true(m->sel.nkeys <= 8);
	assert_int_equal(nla_len(a), (int)(sizeof(m->sel) + m->sel.nkeys * sizeof(m->keys[0])));
	memcpy(m->keys, (char *)nla_data(a) + sizeof(m->sel), m->sel.nkeys * sizeof(m->keys[0]));
	assert_null(attr_in(m->opts, TCA_U32_CLASSID)); /* classification goes on */

	acts = attr_in(m->opts, TCA_U32_ACT);
	assert_non_null(acts);
	nla_for_each_nested(x, acts, rem)
		m->nactions++;
	po = action_opts(acts, 1, "pedit");
	assert_non_null(po);
	assert_null(attr_in(po, TCA_PEDIT_PARMS)); /* the extended form only */
	a = attr_in(po, TCA_PEDIT_PARMS_EX);
	assert_non_null(a);
	assert_int_equal(nla_len(a), (int)(sizeof(m->psel) + sizeof(m->pkey)));
	memcpy(&m->psel, nla_data(a), sizeof(m->psel));
	memcpy(&m->pkey, (char *)nla_data(a) + sizeof(m->psel), sizeof(m->pkey));
	keys = attr_in(po, TCA_PEDIT_KEYS_EX);
	assert_non_null(keys);
	key = attr_in(keys, TCA_PEDIT_KEY_EX);
	assert_non_null(key);
	a = attr_in(key, TCA_PEDIT_KEY_EX_HTYPE);
	assert_non_null(a);
	assert_int_equal(nla_len(a), 2);
	m->htype = nla_get_u16(a);
	a = attr_in(key, TCA_PEDIT_KEY_EX_CMD);
	assert_non_null(a);
	m->cmd = nla_get_u16(a);
	co = action_opts(acts, 2, "csum");
	assert_non_null(co);
	a = attr_in(co, TCA_CSUM_PARMS);
	assert_non_null(a);
	assert_int_equal(nla_len(a), (int)sizeof(m->csum));
	memcpy(&m->csum, nla_data(a), sizeof(m->csum));
}

static void expect_u32_key(const struct tc_u32_key *k, uint32_t mask, uint32_t val, int off)
{
	assert_int_equal(k->mask, mask);
	assert_int_equal(k->val, val);
	assert_int_equal(k->off, off);
	assert_int_equal(k->offmask, 0);
}

/* The pedit and csum actions of every tamper filter. */
static void expect_actions(const struct tamper_msg *m, int l4, uint32_t off, uint32_t mask,
			   uint32_t val)
{
	assert_int_equal(m->nactions, 2);
	assert_int_equal(m->psel.nkeys, 1);
	assert_int_equal(m->psel.action, TC_ACT_PIPE); /* on to csum */
	assert_int_equal(m->psel.index, 0);            /* a new action of its own */
	assert_int_equal(m->pkey.off, off);
	assert_int_equal(m->pkey.mask, mask);
	assert_int_equal(m->pkey.val, val);
	assert_int_equal(m->pkey.at | m->pkey.offmask | m->pkey.shift, 0);
	/* offsets from the L4 header, the kernel finding it (IHL, IPv6 chain) */
	assert_int_equal(m->htype, l4 == IPPROTO_TCP ? TCA_PEDIT_KEY_EX_HDR_TYPE_TCP
						     : TCA_PEDIT_KEY_EX_HDR_TYPE_UDP);
	assert_int_equal(m->cmd, TCA_PEDIT_KEY_EX_CMD_SET);
	assert_int_equal(m->csum.update_flags, TCA_CSUM_UPDATE_FLAG_IPV4HDR |
						       TCA_CSUM_UPDATE_FLAG_TCP |
						       TCA_CSUM_UPDATE_FLAG_UDP);
	assert_int_equal(m->csum.action, TC_ACT_UNSPEC); /* "continue" to the steering */
	assert_int_equal(m->csum.index, 0);
}

static void expect_parsed(const struct tamper_msg *m, const struct fl_tc_tamper *t, uint16_t proto,
			  int l4)
{
	struct fl_tc_tamper back;
	uint32_t flags = 0;
	int l4b = 0;

	assert_int_equal(fl_tc_tamper_parse(nla_data(m->opts), (size_t)nla_len(m->opts), proto, &back,
					    &l4b, &flags),
			 0);
	assert_true(fl_tc_tamper_dst_equal(&back.dst, &t->dst));
	assert_int_equal(back.offset, t->offset);
	assert_int_equal(back.value, t->value);
	assert_int_equal(l4b, l4);
	assert_int_equal(flags, FL_TC_TAMPER_CSUM_FLAGS);
	/* the other family's reading is not ours */
	assert_int_equal(fl_tc_tamper_parse(nla_data(m->opts), (size_t)nla_len(m->opts),
					    proto == ETH_P_IP ? ETH_P_IPV6 : ETH_P_IP, &back, &l4b,
					    &flags),
			 -ENOENT);
}

static void test_tamper_msg_ipv4(void **state)
{
	struct fl_tc_tamper t = { .dst = addr("10.99.0.2"), .offset = 8 + 41, .value = 0xa5 };
	struct tamper_msg m;

	(void)state;
	tamper_msg(&t, AF_INET, IPPROTO_UDP, &m);
	assert_int_equal(m.t->tcm_info, TC_H_MAKE((uint32_t)FL_TC_PRIO_TAMPER4 << 16, htons(ETH_P_IP)));
	assert_true(m.sel.flags & TC_U32_TERMINAL);
	assert_int_equal(m.sel.nkeys, 3);
	expect_u32_key(&m.keys[0], 0xffffffff, inet_addr("10.99.0.2"), 16); /* dst */
	expect_u32_key(&m.keys[1], htonl(0x00ff0000), htonl(IPPROTO_UDP << 16), 8); /* protocol */
	expect_u32_key(&m.keys[2], htonl(0x00003fff), 0, 4); /* MF = 0, fragment offset 0 */
	expect_actions(&m, IPPROTO_UDP, 48, htonl(0xff00ffff), htonl(0x00a50000));
	expect_parsed(&m, &t, ETH_P_IP, IPPROTO_UDP);
	nlmsg_free(m.msg);

	t.offset = 20 + 3; /* TCP payload byte 3: word 20, last byte */
	tamper_msg(&t, AF_INET, IPPROTO_TCP, &m);
	expect_u32_key(&m.keys[1], htonl(0x00ff0000), htonl(IPPROTO_TCP << 16), 8);
	expect_actions(&m, IPPROTO_TCP, 20, htonl(0xffffff00), htonl(0x000000a5));
	expect_parsed(&m, &t, ETH_P_IP, IPPROTO_TCP);
	nlmsg_free(m.msg);

	/* every destination: the protocol and fragment keys only */
	t.dst = (struct fl_tc_addr){ .family = AF_UNSPEC };
	t.offset = 0;
	tamper_msg(&t, AF_INET, IPPROTO_UDP, &m);
	assert_int_equal(m.sel.nkeys, 2);
	expect_u32_key(&m.keys[0], htonl(0x00ff0000), htonl(IPPROTO_UDP << 16), 8);
	expect_actions(&m, IPPROTO_UDP, 0, htonl(0x00ffffff), htonl(0xa5000000));
	expect_parsed(&m, &t, ETH_P_IP, IPPROTO_UDP);
	nlmsg_free(m.msg);
}

static void test_tamper_msg_ipv6(void **state)
{
	struct fl_tc_tamper t = { .dst = addr("fd00:99::2"), .offset = 8 + 46, .value = 0x01 };
	struct tamper_msg m;

	(void)state;
	tamper_msg(&t, AF_INET6, IPPROTO_UDP, &m);
	assert_int_equal(m.t->tcm_info,
			 TC_H_MAKE((uint32_t)FL_TC_PRIO_TAMPER6 << 16, htons(ETH_P_IPV6)));
	assert_int_equal(m.sel.nkeys, 5);
	for (int i = 0; i < 4; i++)
		expect_u32_key(&m.keys[i], 0xffffffff, t.dst.u.v6.s6_addr32[i], 24 + 4 * i);
	expect_u32_key(&m.keys[4], htonl(0x0000ff00), htonl(IPPROTO_UDP << 8), 4); /* next header */
	expect_actions(&m, IPPROTO_UDP, 52, htonl(0xffff00ff), htonl(0x00000100));
	expect_parsed(&m, &t, ETH_P_IPV6, IPPROTO_UDP);
	nlmsg_free(m.msg);

	t.dst = (struct fl_tc_addr){ .family = AF_UNSPEC };
	tamper_msg(&t, AF_INET6, IPPROTO_TCP, &m);
	assert_int_equal(m.sel.nkeys, 1);
	expect_u32_key(&m.keys[0], htonl(0x0000ff00), htonl(IPPROTO_TCP << 8), 4);
	expect_parsed(&m, &t, ETH_P_IPV6, IPPROTO_TCP);
	nlmsg_free(m.msg);
}

static void test_tamper_refused(void **state)
{
	struct fl_tc_tamper t = { .dst = addr("10.0.0.2"), .offset = 8, .value = 1 };
	struct fl_tc_err err = { { 0 } };
	struct nl_msg *msg = NULL;

	(void)state;
	assert_int_equal(fl_tc_tamper_msg(7, &t, AF_INET6, IPPROTO_UDP, &msg, &err), -EINVAL);
	assert_int_equal(fl_tc_tamper_msg(7, &t, AF_INET, IPPROTO_ICMP, &msg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither TCP nor UDP"));
	t.offset = FL_TC_MAX_TAMPER_OFFSET + 1;
	assert_int_equal(fl_tc_tamper_msg(7, &t, AF_INET, IPPROTO_UDP, &msg, &err), -ERANGE);
	assert_non_null(strstr(err.msg, "offset 65512"));
	assert_null(msg);
	/* not ours: a parse of something else */
	{
		uint32_t junk[4] = { 0 }, flags;
		int l4;

		assert_int_equal(fl_tc_tamper_parse(junk, sizeof(junk), ETH_P_IP, &t, &l4, &flags),
				 -ENOENT);
	}
}

static void test_tamper_state_check(void **state)
{
	struct fl_tc_tamper r[3] = {
		{ .dst = addr("10.0.0.2"), .offset = 30, .value = 1 },
		{ .dst = addr("10.0.0.3"), .offset = 30, .value = 2 },
		{ .dst = addr("10.0.0.2"), .offset = 31, .value = 3 },
	};
	struct fl_tc_state st = { .tampers = r, .ntampers = 3 };
	struct fl_tc_err err;

	(void)state;
	/* other destinations, other bytes: fine */
	assert_int_equal(fl_tc_state_check(&st, &err), 0);
	/* one byte toward one destination, two values: which would win? */
	r[2].offset = 30;
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "tamper rules 1 and 3 both set byte 30 of packets toward "
					"10.0.0.2, to 0x01 and 0x03"));
	/* the same rule twice is the rule once */
	r[2].value = 1;
	assert_int_equal(fl_tc_state_check(&st, &err), 0);
	/* a rule for every destination meets all the others */
	r[2].dst = (struct fl_tc_addr){ .family = AF_UNSPEC };
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "tamper rules 2 and 3 both set byte 30"));
	r[2].offset = 31;
	assert_int_equal(fl_tc_state_check(&st, &err), 0);
	r[2].offset = FL_TC_MAX_TAMPER_OFFSET + 1;
	assert_int_equal(fl_tc_state_check(&st, &err), -ERANGE);
	r[2].offset = 31;
	r[2].dst.family = AF_UNIX;
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither IPv4 nor IPv6"));
	st.ntampers = FL_TC_MAX_TAMPERS + 1;
	assert_int_equal(fl_tc_state_check(&st, &err), -E2BIG);
	st.tampers = NULL;
	st.ntampers = 1;
	assert_int_equal(fl_tc_state_check(&st, &err), -EINVAL);
}

static void test_addresses(void **state)
{
	struct fl_tc_addr a, b;
	char buf[64];

	(void)state;
	assert_int_equal(fl_tc_addr_parse("10.99.0.2", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_string_equal(fl_tc_addr_format(&a, buf, sizeof(buf)), "10.99.0.2");
	assert_int_equal(fl_tc_addr_parse("fd00:99::2", &b), 0);
	assert_int_equal(b.family, AF_INET6);
	assert_string_equal(fl_tc_addr_format(&b, buf, sizeof(buf)), "fd00:99::2");
	assert_false(fl_tc_addr_equal(&a, &b));
	assert_true(fl_tc_addr_equal(&a, &a));
	a.family = 12345;
	assert_int_equal(fl_tc_addr_parse("10.99.0.300", &a), -EINVAL);
	assert_int_equal(a.family, 12345); /* untouched on failure */
	assert_int_equal(fl_tc_addr_parse("n1", &a), -EINVAL);
}

static void test_errno_from_nl(void **state)
{
	(void)state;
	assert_int_equal(fl_nl_errno(-NLE_OBJ_NOTFOUND), -ENOENT);
	assert_int_equal(fl_nl_errno(-NLE_EXIST), -EEXIST);
	assert_int_equal(fl_nl_errno(-NLE_AGAIN), -ETIMEDOUT);
	assert_int_equal(fl_nl_errno(-NLE_PERM), -EPERM);
	assert_int_equal(fl_nl_errno(-NLE_NOMEM), -ENOMEM);
	assert_int_equal(fl_nl_errno(0), 0);
	assert_int_equal(fl_nl_errno(-9999), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netem_delay_units),
		cmocka_unit_test(test_netem_fractions),
		cmocka_unit_test(test_netem_distribution),
		cmocka_unit_test(test_handles),
		cmocka_unit_test(test_dist_tables_match_iproute2),
		cmocka_unit_test(test_netem_refused),
		cmocka_unit_test(test_netem_limit),
		cmocka_unit_test(test_netem_msg),
		cmocka_unit_test(test_drop_ipv4),
		cmocka_unit_test(test_drop_ipv6),
		cmocka_unit_test(test_steer),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_state_check),
		cmocka_unit_test(test_tamper_key),
		cmocka_unit_test(test_tamper_msg_ipv4),
		cmocka_unit_test(test_tamper_msg_ipv6),
		cmocka_unit_test(test_tamper_refused),
		cmocka_unit_test(test_tamper_state_check),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_errno_from_nl),
	};

	return cmocka_run_group_tests_name("tc builders (no root)", tests, NULL, NULL);
}
