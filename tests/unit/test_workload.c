/* The register workload against an in-memory fake system (the real etcd
 * run is in the kernel tier): every op lands in the history as a pair, the
 * pacing never exceeds the rate, and after an unknown outcome the client
 * carries on as a new process, so no process has an op after an "info". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/workload.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *store[16];
static unsigned long calls;

static int key_index(const char *k)
{
	return atoi(k + 1) % 16;
}

static int f_open(const struct fl_sys_nodes *nodes, size_t i, struct fl_sys_client **out, char *err,
		  size_t errlen)
{
	struct fl_sys_client *c = calloc(1, sizeof(*c));
	snprintf(c->node, sizeof(c->node), "%s", nodes->names[i]);
	c->index = i;
	*out = c;
	return 0;
}

static void f_close(struct fl_sys_client *c)
{
	free(c);
}

static int info_every = 7; /* 0: never */

/* every 7th call has an unknown outcome (it still takes effect) */
static enum fl_outcome fate(void)
{
	return ++calls % 7 == 0 && info_every ? FL_OUTCOME_INFO : FL_OUTCOME_OK;
}

static int f_get(struct fl_sys_client *c, const char *key, int ser, int to, char **value,
		 enum fl_outcome *oc, char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	*value = store[key_index(key)] ? strdup(store[key_index(key)]) : NULL;
	*oc = ++calls % 7 == 0 && info_every ? FL_OUTCOME_FAIL : FL_OUTCOME_OK; /* never info */
	pthread_mutex_unlock(&mu);
	return *oc == FL_OUTCOME_OK ? 0 : -EIO;
}

static int f_put(struct fl_sys_client *c, const char *key, const char *value, int to,
		 enum fl_outcome *oc, char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	free(store[key_index(key)]);
	store[key_index(key)] = strdup(value);
	*oc = fate();
	pthread_mutex_unlock(&mu);
	return *oc == FL_OUTCOME_OK ? 0 : -ETIMEDOUT;
}

static int f_cas(struct fl_sys_client *c, const char *key, const char *expect, const char *value,
		 int to, enum fl_outcome *oc, char *err, size_t errlen)
{
	int k = key_index(key), r = 0;

	pthread_mutex_lock(&mu);
	if (store[k] && !strcmp(store[k], expect)) {
		free(store[k]);
		store[k] = strdup(value);
		*oc = fate();
		r = *oc == FL_OUTCOME_OK ? 0 : -ETIMEDOUT;
	} else {
		*oc = FL_OUTCOME_FAIL;
		snprintf(err, errlen, "compare failed");
		r = -ECANCELED;
	}
	pthread_mutex_unlock(&mu);
	return r;
}

/* sets: elements of set k in sets[k] (a fixed array is plenty here) */
#define SETMAX 65536
static char *sets[16][SETMAX];
static size_t nset[16];
static int read_set_refusals; /* the first reads of a set fail (a node without a leader) */

static int f_add(struct fl_sys_client *c, const char *key, const char *elem, int to,
		 enum fl_outcome *oc, char *err, size_t errlen)
{
	int k = key_index(key);

	pthread_mutex_lock(&mu);
	if (nset[k] < SETMAX)
		sets[k][nset[k]++] = strdup(elem);
	*oc = fate();
	pthread_mutex_unlock(&mu);
	return *oc == FL_OUTCOME_OK ? 0 : -ETIMEDOUT;
}

static size_t local_reads; /* read_set calls asking the node's own copy */

static int f_read_set(struct fl_sys_client *c, const char *key, int ser, int to, char ***elems,
		      enum fl_outcome *oc, char *err, size_t errlen)
{
	int k = key_index(key);

	pthread_mutex_lock(&mu);
	local_reads += ser != 0;
	if (read_set_refusals > 0) {
		read_set_refusals--;
		pthread_mutex_unlock(&mu);
		*elems = NULL;
		*oc = FL_OUTCOME_FAIL;
		snprintf(err, errlen, "no leader");
		return -EAGAIN;
	}
	*elems = calloc(nset[k] + 1, sizeof(char *));
	for (size_t i = 0; i < nset[k]; i++)
		(*elems)[i] = strdup(sets[k][i]);
	*oc = FL_OUTCOME_OK;
	pthread_mutex_unlock(&mu);
	return 0;
}

static struct fl_system_ops fake = {
	.name = "fake",
	.client_open = f_open,
	.client_close = f_close,
	.get = f_get,
	.put = f_put,
	.cas = f_cas,
	.add = f_add,
	.read_set = f_read_set,
};

static void run_type(enum fl_workload_type type, double rate, int64_t duration_ns,
		     unsigned clients, struct fl_workload_stats *st, struct fl_ops *ops, int final)
{
	static const char *const names[] = { "n1", "n2", "n3" };
	static const uint32_t addrs[] = { 1, 2, 3 };
	struct fl_sys_nodes nodes = { .n = 3, .names = names, .addrs = addrs };
	struct fl_scenario s;
	struct fl_history *h;
	char path[] = "/tmp/fl-wl-XXXXXX", err[256];
	int fd = mkstemp(path);
	struct fl_workload w;

	close(fd);
	memset(&s, 0, sizeof(s));
	s.workload.type = type;
	s.workload.clients = clients;
	s.workload.rate = rate;
	s.workload.keys = 3;
	s.workload.timeout_ns = 1000000000;
	assert_int_equal(fl_history_open(path, 0, &h), 0);
	w = (struct fl_workload){ .s = &s, .ops = &fake, .nodes = &nodes, .history = h, .seed = 7,
				  .duration_ns = duration_ns };
	assert_int_equal(fl_workload_run(&w, st, err, sizeof(err)), 0);
	assert_int_equal(st->nclients, clients);
	assert_null(w.open);
	fl_workload_stats_release(st);
	if (final)
		assert_int_equal(fl_workload_final_reads(&w, 5 * 1000000000LL, st, err, sizeof(err)),
				 0);
	fl_history_close(h);
	assert_int_equal(fl_history_load(path, ops, err, sizeof(err)), 0);
	unlink(path);
}

static void run(double rate, int64_t duration_ns, unsigned clients, struct fl_workload_stats *st,
		struct fl_ops *ops)
{
	run_type(FL_WORKLOAD_REGISTER, rate, duration_ns, clients, st, ops, 0);
}

static void test_history_pairs_and_processes(void **state)
{
	struct fl_workload_stats st;
	struct fl_ops ops;
	uint64_t seen[FL_OUTCOME__N] = { 0 };

	(void)state;
	/* unlimited rate, 0.4 s: on a machine loaded 6 times over, 0.2 s once
	 * left a client unscheduled until the end */
	run(0, 400 * 1000000LL, 4, &st, &ops);
	assert_true(st.invoked > 100);
	assert_int_equal(ops.n, st.invoked);
	assert_int_equal(ops.bad_lines, 0);
	for (size_t i = 0; i < ops.n; i++) {
		const struct fl_op *o = &ops.v[i];
		seen[o->outcome]++;
		assert_true(o->complete_ns >= o->invoke_ns);
		if (o->f == FL_F_READ)
			assert_int_not_equal(o->outcome, FL_OUTCOME_INFO);
		/* after an info, its process never acts again */
		if (o->outcome == FL_OUTCOME_INFO)
			for (size_t j = 0; j < ops.n; j++)
				if (ops.v[j].process == o->process)
					assert_true(ops.v[j].invoke_ns <= o->invoke_ns);
	}
	for (int k = 0; k < FL_OUTCOME__N; k++)
		assert_int_equal(seen[k], st.outcome[k]);
	assert_true(st.outcome[FL_OUTCOME_INFO] > 0);
	for (unsigned c = 0; c < 4; c++)
		assert_true(st.per_client_ok[c] > 0); /* every client got work done */
	fl_ops_release(&ops);
}

static void test_rate_is_an_upper_bound(void **state)
{
	struct fl_workload_stats st;
	struct fl_ops ops;

	(void)state;
	/* 100 ops/s over 0.3 s with 2 clients: at most 30 + one per client */
	run(100, 300 * 1000000LL, 2, &st, &ops);
	print_message("  100/s for 0.3 s: %llu ops\n", (unsigned long long)st.invoked);
	assert_true(st.invoked <= 32);
	assert_true(st.invoked > 0);
	fl_ops_release(&ops);
}

/* One client and no unknown outcomes: nobody else writes, so every cas
 * expects exactly what the key holds and succeeds; its expect is the last
 * value that client read or wrote for the key. */
static void test_cas_expects_the_last_known_value(void **state)
{
	struct fl_workload_stats st;
	struct fl_ops ops;
	const char *last[16] = { 0 };
	size_t cas = 0;

	(void)state;
	info_every = 0;
	for (int k = 0; k < 16; k++) {
		free(store[k]);
		store[k] = NULL;
	}
	run(0, 100 * 1000000LL, 1, &st, &ops);
	info_every = 7;
	for (size_t i = 0; i < ops.n; i++) {
		const struct fl_op *o = &ops.v[i];
		int k = key_index(o->key);
		if (o->f == FL_F_CAS) {
			cas++;
			assert_int_equal(o->outcome, FL_OUTCOME_OK);
			assert_non_null(last[k]);
			assert_string_equal(o->expect, last[k]);
		}
		if (o->outcome == FL_OUTCOME_OK)
			last[k] = o->value; /* written, or read */
	}
	print_message("  %zu ops, %zu cas, all succeeded\n", ops.n, cas);
	assert_true(cas > 10);
	fl_ops_release(&ops);
}

/* The set workload adds unique elements; the final reads come from every
 * node, are marked final, hold every acknowledged element, and a read that
 * fails at first is asked again. */
static void test_set_and_final_reads(void **state)
{
	struct fl_workload_stats st;
	struct fl_ops ops;
	size_t adds = 0, finals = 0, final_ok = 0;

	(void)state;
	read_set_refusals = 2;
	/* paced and 0.4 s long: on a loaded machine (or under ASan) the clients
	 * may start late, and catch up; unpaced, 0.1 s once gave no add at all */
	run_type(FL_WORKLOAD_SET, 1000, 400 * 1000000LL, 3, &st, &ops, 1);
	for (size_t i = 0; i < ops.n; i++) {
		const struct fl_op *o = &ops.v[i];
		if (o->f == FL_F_ADD) {
			assert_false(o->final);
			adds++;
			for (size_t j = 0; j < i; j++)
				if (ops.v[j].f == FL_F_ADD)
					assert_string_not_equal(ops.v[j].value, o->value); /* unique */
		}
		if (o->f == FL_F_READ_ALL) {
			assert_true(o->final);
			assert_true(o->process >= FL_FINAL_PROCESS);
			finals++;
			if (o->outcome != FL_OUTCOME_OK)
				continue;
			final_ok++;
			/* every acknowledged add to this set is in it */
			for (size_t j = 0; j < ops.n; j++) {
				int found = 0;
				if (ops.v[j].f != FL_F_ADD || ops.v[j].outcome != FL_OUTCOME_OK ||
				    strcmp(ops.v[j].key, o->key))
					continue;
				for (size_t e = 0; e < o->nelems; e++)
					found |= !strcmp(o->elems[e], ops.v[j].value);
				assert_true(found);
			}
		}
	}
	print_message("  %zu adds, %zu final reads (%zu ok)\n", adds, finals, final_ok);
	assert_true(adds > 10);
	assert_int_equal(final_ok, 3 * 3);     /* 3 sets from 3 nodes */
	assert_int_equal(finals, final_ok + 2); /* the two refusals were asked again */
	assert_int_equal(local_reads, 0);
	fl_ops_release(&ops);

	/* a system whose reads through a node reach another server (redis: the
	 * primary) reads each node's own copy at the end */
	fake.final_reads_local = 1;
	run_type(FL_WORKLOAD_SET, 0, 50 * 1000000LL, 3, &st, &ops, 1);
	fake.final_reads_local = 0;
	assert_int_equal(local_reads, 3 * 3);
	fl_ops_release(&ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_pairs_and_processes),
		cmocka_unit_test(test_rate_is_an_upper_bound),
		cmocka_unit_test(test_cas_expects_the_last_known_value),
		cmocka_unit_test(test_set_and_final_reads),
	};
	return cmocka_run_group_tests_name("workload", tests, NULL, NULL);
}
