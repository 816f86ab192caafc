/* The register workload: client threads, paced to the scenario's rate,
 * each op invoked and completed in the history. Clients never share a
 * system client (one libcurl handle each). Pacing is open-loop per client
 * (a slow op delays that client's next one, never bunches them up). */
#include "faultline/workload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faultline/rng.h"

struct client {
	const struct fl_workload *w;
	int index;          /* 0..clients-1 */
	size_t node;
	uint64_t counts[FL_OUTCOME__N];
	uint64_t invoked;
	int r;
	char err[256];
	int64_t start_ns;
};

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { t / 1000000000LL, t % 1000000000LL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	const struct fl_workload *w = c->w;
	const struct fl_scenario *s = w->s;
	struct fl_sys_client *sc = NULL;
	struct fl_rng rng;
	int process = c->index, timeout_ms = (int)(s->workload.timeout_ns / 1000000);
	int64_t deadline = c->start_ns + w->duration_ns, next = c->start_ns;
	/* each client's share of the rate; 0 = as fast as answers come */
	int64_t gap = s->workload.rate > 0
			      ? (int64_t)(1e9 * s->workload.clients / s->workload.rate)
			      : 0;
	uint64_t n = 0;

	fl_rng_seed(&rng, w->seed ^ (0xa5a5a5a5ULL * (uint64_t)(c->index + 1)));
	if ((c->r = w->ops->client_open(w->nodes, c->node, &sc, c->err, sizeof(c->err))) < 0)
		return NULL;
	if (gap)
		next += (int64_t)fl_rng_below(&rng, (uint64_t)gap); /* spread the clients out */
	while (!(w->stop && *w->stop) && mono() < deadline) {
		char key[32], val[48], *got = NULL, err[256] = "";
		enum fl_outcome oc = FL_OUTCOME_INFO;
		int64_t i;
		unsigned what = w->writes_only ? 1 : (unsigned)fl_rng_below(&rng, 3);
		const char *node = w->nodes->names[c->node];

		if (gap) {
			if (next > deadline)
				break;
			sleep_until(next);
			next += gap;
		}
		snprintf(key, sizeof(key), "k%u", (unsigned)fl_rng_below(&rng, s->workload.keys));
		snprintf(val, sizeof(val), "%d-%llu", process, (unsigned long long)n++);
		if (what == 0) {
			i = fl_history_invoke(w->history, process, node, FL_F_READ, key, NULL, NULL);
			w->ops->get(sc, key, s->workload.read_mode == FL_READ_SERIALIZABLE, timeout_ms,
				    &got, &oc, err, sizeof(err));
			fl_history_complete(w->history, i, oc, oc == FL_OUTCOME_OK ? got : NULL,
					    *err ? err : NULL);
		} else if (what == 1) {
			i = fl_history_invoke(w->history, process, node, FL_F_WRITE, key, val, NULL);
			w->ops->put(sc, key, val, timeout_ms, &oc, err, sizeof(err));
			fl_history_complete(w->history, i, oc, NULL, *err ? err : NULL);
		} else {
			/* compare against a value this key may hold: one of ours, recent */
			char expect[48];
			snprintf(expect, sizeof(expect), "%d-%llu", process,
				 (unsigned long long)(n > 2 ? n - 2 : 0));
			i = fl_history_invoke(w->history, process, node, FL_F_CAS, key, val, expect);
			w->ops->cas(sc, key, expect, val, timeout_ms, &oc, err, sizeof(err));
			fl_history_complete(w->history, i, oc, NULL, *err ? err : NULL);
		}
		free(got);
		c->invoked++;
		c->counts[oc]++;
		if (oc == FL_OUTCOME_INFO)
			process += (int)s->workload.clients; /* the old one may still be in flight */
	}
	w->ops->client_close(sc);
	return NULL;
}

int fl_workload_run(const struct fl_workload *w, struct fl_workload_stats *st, char *err,
		    size_t errlen)
{
	unsigned nc = w->s->workload.clients;
	struct client *cs = calloc(nc, sizeof(*cs));
	pthread_t *t = calloc(nc, sizeof(*t));
	int64_t start = mono();
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!cs || !t) {
		free(cs);
		free(t);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nc; i++) {
		cs[i] = (struct client){ .w = w, .index = (int)i, .node = i % w->nodes->n,
					 .start_ns = start };
		if (pthread_create(&t[i], NULL, client_main, &cs[i]) != 0) {
			nc = i;
			r = -EAGAIN;
			break;
		}
	}
	for (unsigned i = 0; i < nc; i++) {
		pthread_join(t[i], NULL);
		st->invoked += cs[i].invoked;
		for (int k = 0; k < FL_OUTCOME__N; k++)
			st->outcome[k] += cs[i].counts[k];
		if (i < sizeof(st->per_client_ok) / sizeof(st->per_client_ok[0]))
			st->per_client_ok[i] = cs[i].counts[FL_OUTCOME_OK];
		if (cs[i].r < 0 && r == 0) {
			r = cs[i].r;
			snprintf(err, errlen, "client %u: %s", i, cs[i].err);
		}
	}
	free(cs);
	free(t);
	return r;
}
