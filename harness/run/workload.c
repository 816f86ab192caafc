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
#include "faultline/strutil.h"

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

/* What this client last knew a register to hold: its own write, or what it
 * read ("" = the key did not exist). A compare-and-set expects that value,
 * so it succeeds whenever no other client wrote in between. */
struct known {
	char **v; /* by key index; NULL = nothing known */
	unsigned n;
};

static void known_set(struct known *k, unsigned key, const char *v)
{
	char *d = strdup(v ? v : "");

	if (!d)
		return;
	free(k->v[key]);
	k->v[key] = d;
}

static void known_forget(struct known *k, unsigned key)
{
	free(k->v[key]);
	k->v[key] = NULL;
}

/* One register operation on key; returns its outcome. */
static enum fl_outcome register_op(struct client *c, struct fl_sys_client *sc, struct fl_rng *rng,
				   struct known *kn, unsigned key, int process, uint64_t *n,
				   int timeout_ms)
{
	const struct fl_workload *w = c->w;
	const char *node = w->nodes->names[c->node];
	char k[32], val[48], *got = NULL, err[256] = "";
	enum fl_outcome oc = FL_OUTCOME_INFO;
	unsigned what = w->writes_only ? 1 : (unsigned)fl_rng_below(rng, 3);
	int64_t i;

	snprintf(k, sizeof(k), "k%u", key);
	snprintf(val, sizeof(val), "%d-%llu", process, (unsigned long long)(*n)++);
	/* a cas needs a value the key holds: without one, read it first; a key
	 * known to be absent cannot be compared, so write it */
	if (what == 2 && !kn->v[key])
		what = 0;
	else if (what == 2 && !kn->v[key][0])
		what = 1;
	if (what == 0) {
		i = fl_history_invoke(w->history, process, node, FL_F_READ, k, NULL, NULL);
		w->ops->get(sc, k, w->s->workload.read_mode == FL_READ_SERIALIZABLE, timeout_ms, &got,
			    &oc, err, sizeof(err));
		fl_history_complete(w->history, i, oc, oc == FL_OUTCOME_OK ? got : NULL,
				    *err ? err : NULL);
		if (oc == FL_OUTCOME_OK)
			known_set(kn, key, got);
		free(got);
	} else if (what == 1) {
		i = fl_history_invoke(w->history, process, node, FL_F_WRITE, k, val, NULL);
		w->ops->put(sc, k, val, timeout_ms, &oc, err, sizeof(err));
		fl_history_complete(w->history, i, oc, NULL, *err ? err : NULL);
		if (oc == FL_OUTCOME_OK)
			known_set(kn, key, val);
		else
			known_forget(kn, key);
	} else {
		char *expect = kn->v[key];
		i = fl_history_invoke(w->history, process, node, FL_F_CAS, k, val, expect);
		w->ops->cas(sc, k, expect, val, timeout_ms, &oc, err, sizeof(err));
		fl_history_complete(w->history, i, oc, NULL, *err ? err : NULL);
		if (oc == FL_OUTCOME_OK)
			known_set(kn, key, val);
		else
			known_forget(kn, key); /* someone else wrote, or we cannot tell */
	}
	return oc;
}

/* One set operation: add a unique element to the set named key. */
static enum fl_outcome set_op(struct client *c, struct fl_sys_client *sc, unsigned key,
			      int process, uint64_t *n, int timeout_ms)
{
	const struct fl_workload *w = c->w;
	const char *node = w->nodes->names[c->node];
	char k[32], val[48], err[256] = "";
	enum fl_outcome oc = FL_OUTCOME_INFO;
	int64_t i;

	snprintf(k, sizeof(k), "s%u", key);
	snprintf(val, sizeof(val), "%d-%llu", process, (unsigned long long)(*n)++);
	i = fl_history_invoke(w->history, process, node, FL_F_ADD, k, val, NULL);
	w->ops->add(sc, k, val, timeout_ms, &oc, err, sizeof(err));
	fl_history_complete(w->history, i, oc, NULL, *err ? err : NULL);
	return oc;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	const struct fl_workload *w = c->w;
	const struct fl_scenario *s = w->s;
	struct fl_sys_client *sc = NULL;
	struct fl_rng rng;
	struct known kn = { calloc(s->workload.keys ? s->workload.keys : 1, sizeof(char *)),
			    s->workload.keys };
	int process = c->index, timeout_ms = (int)(s->workload.timeout_ns / 1000000);
	int64_t deadline = c->start_ns + w->duration_ns, next = c->start_ns;
	/* each client's share of the rate; 0 = as fast as answers come */
	int64_t gap = s->workload.rate > 0
			      ? (int64_t)(1e9 * s->workload.clients / s->workload.rate)
			      : 0;
	uint64_t n = 0;

	fl_rng_seed(&rng, w->seed ^ (0xa5a5a5a5ULL * (uint64_t)(c->index + 1)));
	if (!kn.v) {
		c->r = -ENOMEM;
		snprintf(c->err, sizeof(c->err), "out of memory");
		return NULL;
	}
	if ((c->r = w->ops->client_open(w->nodes, c->node, &sc, c->err, sizeof(c->err))) < 0)
		goto out;
	if (gap)
		next += (int64_t)fl_rng_below(&rng, (uint64_t)gap); /* spread the clients out */
	/* a history that cannot be written (the disk full) ends the workload:
	 * ops nobody can judge are not worth making */
	while (!(w->stop && *w->stop) && mono() < deadline && !fl_history_error(w->history)) {
		unsigned key = (unsigned)fl_rng_below(&rng, s->workload.keys);
		enum fl_outcome oc;

		if (gap) {
			if (next > deadline)
				break;
			sleep_until(next);
			next += gap;
		}
		if (s->workload.type == FL_WORKLOAD_SET)
			oc = set_op(c, sc, key, process, &n, timeout_ms);
		else
			oc = register_op(c, sc, &rng, &kn, key, process, &n, timeout_ms);
		c->invoked++;
		c->counts[oc]++;
		if (w->live)
			__atomic_fetch_add(&w->live[oc], 1, __ATOMIC_RELAXED);
		if (oc == FL_OUTCOME_INFO) {
			process += (int)s->workload.clients; /* the old one may still be in flight */
			n = 0;
		}
	}
	w->ops->client_close(sc);
out:
	for (unsigned k = 0; k < kn.n; k++)
		free(kn.v[k]);
	free(kn.v);
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

int fl_workload_final_reads(const struct fl_workload *w, int64_t budget_ns,
			    struct fl_workload_stats *st, char *err, size_t errlen)
{
	const struct fl_scenario *s = w->s;
	int64_t deadline = mono() + budget_ns;
	int timeout_ms = (int)(s->workload.timeout_ns / 1000000), set = s->workload.type == FL_WORKLOAD_SET;
	size_t missing = 0;

	if (set && !w->ops->read_set) {
		snprintf(err, errlen, "system '%s' has no set operations", w->ops->name);
		return -ENOTSUP;
	}
	fl_history_set_final(w->history, 1);
	for (size_t node = 0; node < w->nodes->n; node++) {
		struct fl_sys_client *sc = NULL;
		int process = FL_FINAL_PROCESS + (int)node;
		char e[256] = "";

		if (w->ops->client_open(w->nodes, node, &sc, e, sizeof(e)) < 0) {
			missing += s->workload.keys;
			continue;
		}
		for (unsigned key = 0; key < s->workload.keys && !(w->stop && *w->stop); key++) {
			char k[32];
			enum fl_outcome oc = FL_OUTCOME_FAIL;

			snprintf(k, sizeof(k), "%s%u", set ? "s" : "k", key);
			/* a node that lost its leader a moment ago may refuse once or
			 * twice: ask again while the budget lasts */
			/* the budget is spent: the rest counts as unanswered */
			while (mono() < deadline && !(w->stop && *w->stop)) {
				int64_t i;
				e[0] = 0;
				if (set) {
					char **elems = NULL;
					i = fl_history_invoke(w->history, process, w->nodes->names[node],
							      FL_F_READ_ALL, k, NULL, NULL);
					w->ops->read_set(sc, k, w->ops->final_reads_local, timeout_ms,
							 &elems, &oc, e, sizeof(e));
					fl_history_complete_set(w->history, i, oc,
								oc == FL_OUTCOME_OK ? elems : NULL,
								*e ? e : NULL);
					fl_strv_free(elems);
				} else {
					char *got = NULL;
					i = fl_history_invoke(w->history, process, w->nodes->names[node],
							      FL_F_READ, k, NULL, NULL);
					w->ops->get(sc, k, w->ops->final_reads_local, timeout_ms, &got,
						    &oc, e, sizeof(e));
					fl_history_complete(w->history, i, oc,
							    oc == FL_OUTCOME_OK ? got : NULL,
							    *e ? e : NULL);
					free(got);
				}
				if (st) {
					st->invoked++;
					st->outcome[oc]++;
				}
				if (oc == FL_OUTCOME_OK)
					break;
				{
					struct timespec ts = { 0, 200 * 1000000 };
					nanosleep(&ts, NULL);
				}
			}
			if (oc != FL_OUTCOME_OK)
				missing++;
		}
		w->ops->client_close(sc);
	}
	fl_history_set_final(w->history, 0);
	if (missing) {
		snprintf(err, errlen, "%zu of %zu final reads got no answer", missing,
			 (size_t)s->workload.keys * w->nodes->n);
		return -ETIMEDOUT;
	}
	return 0;
}
