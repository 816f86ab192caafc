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

/* every 7th call has an unknown outcome (it still takes effect) */
static enum fl_outcome fate(void)
{
	return ++calls % 7 == 0 ? FL_OUTCOME_INFO : FL_OUTCOME_OK;
}

static int f_get(struct fl_sys_client *c, const char *key, int ser, int to, char **value,
		 enum fl_outcome *oc, char *err, size_t errlen)
{
	pthread_mutex_lock(&mu);
	*value = store[key_index(key)] ? strdup(store[key_index(key)]) : NULL;
	*oc = ++calls % 7 == 0 ? FL_OUTCOME_FAIL : FL_OUTCOME_OK; /* reads fail, never info */
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

static const struct fl_system_ops fake = {
	.name = "fake",
	.client_open = f_open,
	.client_close = f_close,
	.get = f_get,
	.put = f_put,
	.cas = f_cas,
};

static void run(double rate, int64_t duration_ns, unsigned clients, struct fl_workload_stats *st,
		struct fl_ops *ops)
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
	s.workload.type = FL_WORKLOAD_REGISTER;
	s.workload.clients = clients;
	s.workload.rate = rate;
	s.workload.keys = 3;
	s.workload.timeout_ns = 1000000000;
	assert_int_equal(fl_history_open(path, 0, &h), 0);
	w = (struct fl_workload){ .s = &s, .ops = &fake, .nodes = &nodes, .history = h, .seed = 7,
				  .duration_ns = duration_ns };
	assert_int_equal(fl_workload_run(&w, st, err, sizeof(err)), 0);
	fl_history_close(h);
	assert_int_equal(fl_history_load(path, ops, err, sizeof(err)), 0);
	unlink(path);
}

static void test_history_pairs_and_processes(void **state)
{
	struct fl_workload_stats st;
	struct fl_ops ops;
	uint64_t seen[FL_OUTCOME__N] = { 0 };

	(void)state;
	run(0, 200 * 1000000LL, 4, &st, &ops); /* unlimited rate, 0.2 s */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_pairs_and_processes),
		cmocka_unit_test(test_rate_is_an_upper_bound),
	};
	return cmocka_run_group_tests_name("workload", tests, NULL, NULL);
}
