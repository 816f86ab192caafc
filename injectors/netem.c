/* netem through libnl: validation of a struct fl_netem, the libnl qdisc
 * object that carries it, the request that adds or changes it (with what
 * libnl cannot say), and the reading of what the kernel reports back.
 * Pure: no socket, no kernel state, no logging. */
#include "faultline/tc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pkt_sched.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/tc.h>

#include "faultline/units.h"

#define PSCHED_TICK_SHIFT 6 /* the kernel's PSCHED_SHIFT: a tick is 64 ns */
#define DIST_TABLE_SIZE 16384
#define DIST_VALUES 4096

/* Fill err (when given) with a message of ours: the kernel said nothing. */
void fl_tc_fail(struct fl_tc_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->kernel[0] = '\0';
}

int fl_tc_options_open(struct nl_msg *msg, size_t *off, const char *what, struct fl_tc_err *err)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *opts = nlh->nlmsg_len <= nlmsg_get_max_size(msg)
				      ? nlmsg_find_attr(nlh, sizeof(struct tcmsg), TCA_OPTIONS)
				      : NULL;

	if (opts) {
		char *end = (char *)opts + NLA_ALIGN(opts->nla_len), *tail = (char *)nlmsg_tail(nlh);

		if (end > tail)
			opts = NULL;
		for (char *p = end; opts && p < tail; p++)
			if (*p)
				opts = NULL;
		if (opts)
			nlh->nlmsg_len = (uint32_t)(end - (char *)nlh);
	}
	if (!opts) {
		fl_tc_fail(err, "%s: libnl's message has an unexpected layout", what);
		return -EPROTO;
	}
	*off = (size_t)((char *)opts - (char *)nlh);
	return 0;
}

void fl_tc_options_close(struct nl_msg *msg, size_t off)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *opts = (struct nlattr *)((char *)nlh + off);

	opts->nla_len = (uint16_t)((char *)nlmsg_tail(nlh) - (char *)opts);
}

static int bad_pct(double v)
{
	return !(v >= 0 && v <= 100); /* also NaN */
}

int fl_tc_netem_check(const struct fl_netem *nm, struct fl_tc_err *err)
{
	static const struct {
		unsigned flag;
		size_t value, corr;
		const char *name;
	} pcts[] = {
		{ FL_NETEM_LOSS, offsetof(struct fl_netem, loss), offsetof(struct fl_netem, loss_corr),
		  "loss" },
		{ FL_NETEM_DUPLICATE, offsetof(struct fl_netem, duplicate),
		  offsetof(struct fl_netem, duplicate_corr), "duplicate" },
		{ FL_NETEM_CORRUPT, offsetof(struct fl_netem, corrupt),
		  offsetof(struct fl_netem, corrupt_corr), "corrupt" },
		{ FL_NETEM_REORDER, offsetof(struct fl_netem, reorder),
		  offsetof(struct fl_netem, reorder_corr), "reorder" },
	};

	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		double v = *(const double *)((const char *)nm + pcts[i].value);
		double c = *(const double *)((const char *)nm + pcts[i].corr);

		if (!(nm->set & pcts[i].flag))
			continue;
		if (bad_pct(v) || bad_pct(c)) {
			fl_tc_fail(err, "netem '%s' %g%% (correlation %g%%): percentages lie in 0..100",
			     pcts[i].name, v, c);
			return -EINVAL;
		}
	}
	if (nm->set & FL_NETEM_LATENCY) {
		if (nm->latency_ns < 0 || nm->jitter_ns < 0 || nm->latency_ns > FL_TC_MAX_DELAY_NS ||
		    nm->jitter_ns > FL_TC_MAX_DELAY_NS) {
			fl_tc_fail(err, "netem latency %lld ns, jitter %lld ns: each must lie in 0..274s "
				  "(netem's 32-bit ticks of 64 ns)",
			     (long long)nm->latency_ns, (long long)nm->jitter_ns);
			return -ERANGE;
		}
		if (bad_pct(nm->latency_corr)) {
			fl_tc_fail(err, "netem latency correlation %g%%: percentages lie in 0..100",
			     nm->latency_corr);
			return -EINVAL;
		}
		if ((unsigned)nm->distribution >= FL_DIST__N) {
			fl_tc_fail(err, "netem distribution %d is unknown", (int)nm->distribution);
			return -EINVAL;
		}
		if (nm->jitter_ns == 0 && nm->distribution != FL_DIST_NONE &&
		    nm->distribution != FL_DIST_UNIFORM) {
			fl_tc_fail(err, "netem distribution '%s' shapes the jitter; set a jitter",
			     fl_distribution_to_string(nm->distribution));
			return -EINVAL;
		}
		if (nm->jitter_ns == 0 && nm->latency_corr > 0) {
			fl_tc_fail(err, "netem latency correlation applies to the jitter; set a jitter");
			return -EINVAL;
		}
	}
	if ((nm->set & FL_NETEM_REORDER) && nm->reorder > 0 &&
	    !((nm->set & FL_NETEM_LATENCY) && nm->latency_ns >= 1000)) {
		fl_tc_fail(err, "netem reordering needs a latency of at least 1us: netem reorders by "
			  "sending some packets at once and delaying the rest");
		return -EINVAL;
	}
	if ((nm->set & FL_NETEM_RATE) && nm->rate_bps == 0) {
		fl_tc_fail(err, "netem rate 0: a rate must be positive");
		return -EINVAL;
	}
	return 0;
}

uint32_t fl_tc_netem_limit(const struct fl_netem *nm)
{
	double window = 0, bps = (double)FL_TC_BUSY_LINK_BPS, pkts;

	if (nm->limit)
		return nm->limit;
	if (nm->set & FL_NETEM_LATENCY)
		window += (double)nm->latency_ns / 1e9 + 4.0 * (double)nm->jitter_ns / 1e9;
	if ((nm->set & FL_NETEM_RATE) && nm->rate_bps) {
		bps = (double)nm->rate_bps;
		window += 0.1; /* a queue of its own, as a real bottleneck has */
	}
	pkts = ceil(bps * window / FL_TC_AVG_PACKET);
	if (pkts < FL_TC_MIN_LIMIT)
		return FL_TC_MIN_LIMIT;
	if (pkts > FL_TC_MAX_LIMIT)
		return FL_TC_MAX_LIMIT;
	return (uint32_t)pkts;
}

uint32_t fl_tc_band_classid(unsigned band)
{
	return TC_HANDLE(FL_TC_ROOT_MAJOR, band + 1);
}

/* netem's own uniform jitter and "uniform" are the same: no table. */
static unsigned dist_code(enum fl_distribution d)
{
	switch (d) {
	case FL_DIST_NORMAL:
		return 1;
	case FL_DIST_PARETO:
		return 2;
	case FL_DIST_PARETONORMAL:
		return 3;
	default:
		return 0;
	}
}

static enum fl_distribution effective_dist(const struct fl_netem *nm)
{
	if (!(nm->set & FL_NETEM_LATENCY) || nm->jitter_ns / 1000 == 0)
		return FL_DIST_NONE; /* libnl's unit is the microsecond */
	return nm->distribution == FL_DIST_UNIFORM ? FL_DIST_NONE : nm->distribution;
}

uint32_t fl_tc_netem_handle(unsigned slot, enum fl_distribution d)
{
	return TC_HANDLE((slot + 1) * 16 + dist_code(d), 0);
}

int fl_tc_netem_handle_parse(uint32_t handle, unsigned *slot, enum fl_distribution *d)
{
	static const enum fl_distribution codes[] = { FL_DIST_NONE, FL_DIST_NORMAL, FL_DIST_PARETO,
						       FL_DIST_PARETONORMAL };
	unsigned major = TC_H_MAJ(handle) >> 16;

	if (TC_H_MIN(handle) || major < 16 || major / 16 > FL_TC_MAX_SHAPES || major % 16 > 3)
		return -ENOENT;
	*slot = major / 16 - 1;
	*d = codes[major % 16];
	return 0;
}

/* --- distribution tables: iproute2's netem/{normal,pareto,paretonormal}.c --- */

static double normal_cdf(double x, double mu, double sigma)
{
	return .5 + .5 * erf((x - mu) / (sqrt(2.0) * sigma));
}

/* The inverse normal CDF sampled as iproute2 does it, step for step (the
 * same accumulated x), so the values equal those of Debian's normal.dist. */
static void inverse_normal(double *table)
{
	for (double x = -10.0; x < 10.05; x += .00005) {
		int i = (int)rint(DIST_TABLE_SIZE * normal_cdf(x, 0.0, 1.0));

		table[i] = x;
	}
}

static int clamp16(int v)
{
	return v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v;
}

static int pareto_value(int i)
{
	double v = (double)i / 65536.0;

	v = 1.0 / pow(v, 1.0 / 3.0);
	v -= 1.5;
	v *= (4.0 / 3.0) * (double)NETEM_DIST_SCALE;
	if (v > 32767)
		v = 32767;
	return (int)rint(v);
}

static int16_t dist_tables[3][DIST_VALUES];
static pthread_once_t dist_once = PTHREAD_ONCE_INIT;
static int dist_ok;

static void dist_init(void)
{
	double *t = calloc(DIST_TABLE_SIZE + 1, sizeof(*t));
	int n = 0;

	if (!t)
		return;
	inverse_normal(t);
	for (int i = 0; i < DIST_TABLE_SIZE; i += 4, n++) {
		int norm = (int)rint(t[i] * NETEM_DIST_SCALE);

		dist_tables[0][n] = (int16_t)clamp16(norm);
		dist_tables[2][n] = (int16_t)clamp16((norm + 3 * pareto_value(65536 - 4 * i)) / 4);
	}
	n = 0;
	for (int i = 65536; i > 0; i -= 16)
		dist_tables[1][n++] = (int16_t)pareto_value(i);
	free(t);
	dist_ok = 1;
}

int fl_tc_dist_table(enum fl_distribution d, int16_t **out, size_t *n)
{
	unsigned code = dist_code(d);
	int16_t *v;

	if (code == 0)
		return -ENOENT;
	pthread_once(&dist_once, dist_init);
	if (!dist_ok)
		return -ENOMEM;
	v = malloc(sizeof(dist_tables[0]));
	if (!v)
		return -ENOMEM;
	memcpy(v, dist_tables[code - 1], sizeof(dist_tables[0]));
	*out = v;
	*n = DIST_VALUES;
	return 0;
}

/* --- the libnl object and its request -------------------------------------- */

/* What libnl's setters take: probabilities as the raw 32-bit fraction (in an
 * int, the bits kept), delays in microseconds. */
static int as_int(uint32_t v)
{
	int i;

	memcpy(&i, &v, sizeof(i));
	return i;
}

struct netem_raw {
	uint32_t loss, loss_corr, dup, dup_corr, corrupt, corrupt_corr, reorder, reorder_corr;
	uint32_t delay_corr, gap;
	int latency_us, jitter_us;
};

static void netem_raw(const struct fl_netem *nm, struct netem_raw *r)
{
	memset(r, 0, sizeof(*r));
	if (nm->set & FL_NETEM_LATENCY) {
		r->latency_us = (int)(nm->latency_ns / 1000);
		r->jitter_us = (int)(nm->jitter_ns / 1000);
		if (r->latency_us && r->jitter_us)
			r->delay_corr = fl_percent_to_u32(nm->latency_corr);
	}
	if (nm->set & FL_NETEM_LOSS) {
		r->loss = fl_percent_to_u32(nm->loss);
		r->loss_corr = r->loss ? fl_percent_to_u32(nm->loss_corr) : 0;
	}
	if (nm->set & FL_NETEM_DUPLICATE) {
		r->dup = fl_percent_to_u32(nm->duplicate);
		r->dup_corr = r->dup ? fl_percent_to_u32(nm->duplicate_corr) : 0;
	}
	if (nm->set & FL_NETEM_CORRUPT) {
		r->corrupt = fl_percent_to_u32(nm->corrupt);
		r->corrupt_corr = r->corrupt ? fl_percent_to_u32(nm->corrupt_corr) : 0;
	}
	if (nm->set & FL_NETEM_REORDER) {
		r->reorder = fl_percent_to_u32(nm->reorder);
		if (r->reorder) {
			r->reorder_corr = fl_percent_to_u32(nm->reorder_corr);
			r->gap = nm->gap ? nm->gap : 1; /* as tc: every packet is a candidate */
		}
	}
}

int fl_tc_build_netem(int ifindex, unsigned slot, const struct fl_netem *nm,
		      struct rtnl_qdisc **out, struct fl_tc_err *err)
{
	_cleanup_(qdisc_putp) struct rtnl_qdisc *q = NULL;
	enum fl_distribution d = effective_dist(nm);
	struct netem_raw r;
	int e;

	if (slot >= FL_TC_MAX_SHAPES) {
		fl_tc_fail(err, "netem shape %u: at most %d shapes per interface", slot, FL_TC_MAX_SHAPES);
		return -E2BIG;
	}
	e = fl_tc_netem_check(nm, err);
	if (e < 0)
		return e;
	q = rtnl_qdisc_alloc();
	if (!q) {
		fl_tc_fail(err, "build qdisc 'netem': out of memory");
		return -ENOMEM;
	}
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), fl_tc_band_classid(slot + 1));
	rtnl_tc_set_handle(TC_CAST(q), fl_tc_netem_handle(slot, d));
	e = rtnl_tc_set_kind(TC_CAST(q), "netem");
	if (e < 0) {
		fl_tc_fail(err, "build qdisc 'netem': %s", nl_geterror(e));
		return fl_nl_errno(e);
	}
	netem_raw(nm, &r);
	rtnl_netem_set_limit(q, (int)fl_tc_netem_limit(nm));
	if (nm->set & FL_NETEM_LATENCY) {
		rtnl_netem_set_delay(q, r.latency_us);
		if (r.jitter_us)
			rtnl_netem_set_jitter(q, r.jitter_us);
		if (r.delay_corr)
			rtnl_netem_set_delay_correlation(q, as_int(r.delay_corr));
	}
	/* The distribution table is not put in the object: libnl 3.7 then
	 * miscounts the message and sends bytes past its buffer.
	 * fl_tc_netem_msg() appends TCA_NETEM_DELAY_DIST itself. */
	if (d != FL_DIST_NONE && r.latency_us == 0) {
		/* as libnl and tc: a table only goes with a latency */
		fl_tc_fail(err, "netem distribution '%s' needs a latency of at least 1us", fl_distribution_to_string(d));
		return -EINVAL;
	}
	if (r.loss) {
		rtnl_netem_set_loss(q, as_int(r.loss));
		if (r.loss_corr)
			rtnl_netem_set_loss_correlation(q, as_int(r.loss_corr));
	}
	if (r.dup) {
		rtnl_netem_set_duplicate(q, as_int(r.dup));
		if (r.dup_corr)
			rtnl_netem_set_duplicate_correlation(q, as_int(r.dup_corr));
	}
	if (r.corrupt) {
		rtnl_netem_set_corruption_probability(q, as_int(r.corrupt));
		if (r.corrupt_corr)
			rtnl_netem_set_corruption_correlation(q, as_int(r.corrupt_corr));
	}
	if (r.reorder) {
		rtnl_netem_set_reorder_probability(q, as_int(r.reorder));
		if (r.reorder_corr)
			rtnl_netem_set_reorder_correlation(q, as_int(r.reorder_corr));
		rtnl_netem_set_gap(q, (int)r.gap);
	}
	*out = q;
	q = NULL;
	return 0;
}

int fl_tc_netem_msg(struct rtnl_qdisc *q, const struct fl_netem *nm, int nlm_flags,
		    struct nl_msg **out, struct fl_tc_err *err)
{
	_cleanup_(msg_freep) struct nl_msg *msg = NULL;
	struct tc_netem_corr corr = { 0 };
	struct tc_netem_reorder reorder = { 0 };
	struct tc_netem_corrupt corrupt = { 0 };
	struct tc_netem_rate rate = { 0 };
	struct netem_raw r;
	size_t off;
	int e;

	e = rtnl_qdisc_build_add_request(q, nlm_flags, &msg);
	if (e < 0) {
		fl_tc_fail(err, "build request for qdisc 'netem': %s", nl_geterror(e));
		return fl_nl_errno(e);
	}
	/* TCA_OPTIONS: tc_netem_qopt + nested attributes */
	e = fl_tc_options_open(msg, &off, "build request for qdisc 'netem'", err);
	if (e < 0)
		return e;
	netem_raw(nm, &r);
	/* the kernel keeps these on a change when they are absent; libnl
	 * leaves out zeros, so say them */
	e = 0;
	if (!r.delay_corr && !r.loss_corr && !r.dup_corr)
		e = nla_put(msg, TCA_NETEM_CORR, sizeof(corr), &corr);
	if (e >= 0 && !r.reorder)
		e = nla_put(msg, TCA_NETEM_REORDER, sizeof(reorder), &reorder);
	if (e >= 0 && !r.corrupt)
		e = nla_put(msg, TCA_NETEM_CORRUPT, sizeof(corrupt), &corrupt);
	if (e >= 0) {
		uint64_t bps = (nm->set & FL_NETEM_RATE) ? nm->rate_bps : 0;

		rate.rate = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps;
		e = nla_put(msg, TCA_NETEM_RATE, sizeof(rate), &rate);
		if (e >= 0 && bps > UINT32_MAX)
			e = nla_put_u64(msg, TCA_NETEM_RATE64, bps);
	}
	if (e >= 0 && effective_dist(nm) != FL_DIST_NONE) {
		int16_t *table = NULL;
		size_t n = 0;

		e = fl_tc_dist_table(effective_dist(nm), &table, &n);
		if (e < 0) {
			fl_tc_fail(err, "netem distribution '%s': cannot build its table: %s",
			     fl_distribution_to_string(effective_dist(nm)), strerror(-e));
			return e;
		}
		/* the message grows by the table: libnl's page is too small */
		e = nlmsg_expand(msg, nlmsg_get_max_size(msg) + n * sizeof(*table));
		if (e >= 0)
			e = nla_put(msg, TCA_NETEM_DELAY_DIST, (int)(n * sizeof(*table)), table);
		free(table);
	}
	if (e < 0) {
		fl_tc_fail(err, "build request for qdisc 'netem': %s", nl_geterror(e));
		return fl_nl_errno(e);
	}
	fl_tc_options_close(msg, off);
	*out = msg;
	msg = NULL;
	return 0;
}

int fl_tc_netem_parse(const void *data, size_t len, struct fl_tc_netem_kernel *out)
{
	struct nlattr *tb[TCA_NETEM_MAX + 1];
	struct tc_netem_qopt qopt;
	struct fl_tc_netem_kernel k = { 0 };
	size_t head = NLA_ALIGN(sizeof(qopt));

	if (len < sizeof(qopt))
		return -EINVAL;
	memcpy(&qopt, data, sizeof(qopt));
	k.limit = qopt.limit;
	k.gap = qopt.gap;
	k.loss = qopt.loss;
	k.duplicate = qopt.duplicate;
	k.latency_ns = (int64_t)qopt.latency << PSCHED_TICK_SHIFT;
	k.jitter_ns = (int64_t)qopt.jitter << PSCHED_TICK_SHIFT;
	memset(tb, 0, sizeof(tb));
	if (len > head &&
	    nla_parse(tb, TCA_NETEM_MAX, (struct nlattr *)((char *)data + head), (int)(len - head),
		      NULL) < 0)
		return -EINVAL;
	if (tb[TCA_NETEM_LATENCY64] && nla_len(tb[TCA_NETEM_LATENCY64]) >= 8)
		k.latency_ns = (int64_t)nla_get_u64(tb[TCA_NETEM_LATENCY64]);
	if (tb[TCA_NETEM_JITTER64] && nla_len(tb[TCA_NETEM_JITTER64]) >= 8)
		k.jitter_ns = (int64_t)nla_get_u64(tb[TCA_NETEM_JITTER64]);
	if (tb[TCA_NETEM_CORR] && nla_len(tb[TCA_NETEM_CORR]) >= (int)sizeof(struct tc_netem_corr)) {
		struct tc_netem_corr c;

		memcpy(&c, nla_data(tb[TCA_NETEM_CORR]), sizeof(c));
		k.delay_corr = c.delay_corr;
		k.loss_corr = c.loss_corr;
		k.duplicate_corr = c.dup_corr;
	}
	if (tb[TCA_NETEM_REORDER] &&
	    nla_len(tb[TCA_NETEM_REORDER]) >= (int)sizeof(struct tc_netem_reorder)) {
		struct tc_netem_reorder ro;

		memcpy(&ro, nla_data(tb[TCA_NETEM_REORDER]), sizeof(ro));
		k.reorder = ro.probability;
		k.reorder_corr = ro.correlation;
	}
	if (tb[TCA_NETEM_CORRUPT] &&
	    nla_len(tb[TCA_NETEM_CORRUPT]) >= (int)sizeof(struct tc_netem_corrupt)) {
		struct tc_netem_corrupt co;

		memcpy(&co, nla_data(tb[TCA_NETEM_CORRUPT]), sizeof(co));
		k.corrupt = co.probability;
		k.corrupt_corr = co.correlation;
	}
	if (tb[TCA_NETEM_RATE] && nla_len(tb[TCA_NETEM_RATE]) >= (int)sizeof(struct tc_netem_rate)) {
		struct tc_netem_rate ra;

		memcpy(&ra, nla_data(tb[TCA_NETEM_RATE]), sizeof(ra));
		k.rate_bps = ra.rate;
	}
	if (tb[TCA_NETEM_RATE64] && nla_len(tb[TCA_NETEM_RATE64]) >= 8)
		k.rate_bps = nla_get_u64(tb[TCA_NETEM_RATE64]);
	*out = k;
	return 0;
}
