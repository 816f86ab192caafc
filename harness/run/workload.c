/* The register workload: client threads, paced to the scenario's rate,
 * each op invoked and completed in the history. Clients never share a
 * system client (one libcurl handle each). Pacing is open-loop per client
 * (a slow op delays that client's next one, never bunches them up). */
#include "faultline/workload.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
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
	char err[512];
	int64_t start_ns;
	struct fl_sys_client *sc;
	unsigned backoffs;
	int64_t backoff_ns, said_backoff_ns, not_ready_since;
};

struct fl_workload_open {
	unsigned n;
	struct client *cs;
};

#define BACKOFF_FIRST_NS (250 * 1000000LL)
#define BACKOFF_MAX_NS (5 * 1000000000LL)

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

static void note(const struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(const struct client *c, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	int k;

	if (!c->w->note)
		return;
	k = snprintf(msg, sizeof(msg), "client %d (node %s): ", c->index,
		     c->w->nodes->names[c->node]);
	va_start(ap, fmt);
	vsnprintf(msg + k, sizeof(msg) - (size_t)k, fmt, ap);
	va_end(ap);
	c->w->note(c->w->note_ctx, msg);
}

static int stopped(const struct fl_workload *w)
{
	/* no history yet while the clients are opened (fl_workload_open) */
	return (w->stop && *w->stop) || (w->history && fl_history_error(w->history));
}

/*
 * The client ready for its next operation (exec: a program started in
 * place of one killed or dead, and its answer to hello awaited), charged
 * to no operation. Programs that keep dying: a wait before each start,
 * doubling. 0; 1 when the run ends meanwhile (until: ns, 0 = none); -errno
 * when the client gives up (c->err): a program not ready within
 * system.ready_timeout, or none starting for that long.
 */
static int make_ready(struct client *c, int64_t until)
{
	const struct fl_workload *w = c->w;
	int64_t budget = w->s->system.ready_timeout_ns ? w->s->system.ready_timeout_ns
						       : 60 * 1000000000LL;
	int r;

	if (!w->ops->client_ready)
		return 0;
	for (;;) {
		unsigned dying = c->sc->life.dying;

		if (dying >= 2) {
			int64_t d = BACKOFF_FIRST_NS << (dying - 2 < 5 ? dying - 2 : 5), end;
			if (d > BACKOFF_MAX_NS)
				d = BACKOFF_MAX_NS;
			if (d > c->said_backoff_ns) {
				note(c, "its client program died %u times in a row; waiting %.2f s "
				     "before the next start", dying, (double)d / 1e9);
				c->said_backoff_ns = d;
			}
			c->backoffs++;
			c->backoff_ns += d;
			end = mono() + d;
			while (mono() < end && !stopped(w) && !(until && mono() >= until)) {
				int64_t t = mono() + 100 * 1000000LL;
				sleep_until(t < end ? t : end);
			}
		}
		if (stopped(w) || (until && mono() >= until))
			return 1;
		if (!c->not_ready_since)
			c->not_ready_since = mono();
		r = w->ops->client_ready(c->sc, c->err, sizeof(c->err));
		if (r == 0) {
			c->not_ready_since = 0;
			return 0;
		}
		if (r != -ECONNRESET || mono() - c->not_ready_since >= budget) {
			if (r == -ECONNRESET) {
				size_t at = strlen(c->err);
				snprintf(c->err + at, sizeof(c->err) - at, " (no program of it ready "
					 "for %.1f s: system.ready_timeout)",
					 (double)(mono() - c->not_ready_since) / 1e9);
				r = -ETIMEDOUT;
			}
			note(c, "gave up: %s", c->err);
			return r;
		}
	}
}

static void *open_main(void *arg)
{
	struct client *c = arg;
	const struct fl_workload *w = c->w;

	c->r = w->ops->client_open(w->nodes, c->node, &c->sc, c->err, sizeof(c->err));
	if (c->r < 0) {
		c->sc = NULL;
		note(c, "gave up: %s", c->err);
		return NULL;
	}
	if (make_ready(c, 0) < 0)
		c->r = -ETIMEDOUT;
	return NULL;
}

/* A thread fn(&o->cs[i]) per client not failed yet (started[i] says which
 * started; one that could not is failed). A client whose open failed has
 * r < 0 (and no sc). */
static void start_threads(struct fl_workload_open *o, pthread_t *t, char *started,
			  void *(*fn)(void *))
{
	for (unsigned i = 0; i < o->n; i++) {
		if (o->cs[i].r < 0) /* not opened or not ready: no thread */
			continue;
		started[i] = pthread_create(&t[i], NULL, fn, &o->cs[i]) == 0;
		if (!started[i]) {
			o->cs[i].r = -EAGAIN;
			snprintf(o->cs[i].err, sizeof(o->cs[i].err), "cannot start a thread");
		}
	}
}

int fl_workload_open(struct fl_workload *w, struct fl_workload_stats *st, char *err,
		     size_t errlen)
{
	unsigned nc = w->s->workload.clients, ready = 0;
	struct fl_workload_open *o = calloc(1, sizeof(*o));
	pthread_t *t = calloc(nc ? nc : 1, sizeof(*t));
	char *started = calloc(nc ? nc : 1, 1);
	int64_t t0 = mono();
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!o || !t || !started || !(o->cs = calloc(nc ? nc : 1, sizeof(*o->cs))) ||
	    !(st->clients = calloc(nc ? nc : 1, sizeof(*st->clients)))) {
		if (o)
			free(o->cs);
		free(o);
		free(t);
		free(started);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	o->n = st->nclients = nc;
	for (unsigned i = 0; i < nc; i++)
		o->cs[i] = (struct client){ .w = w, .index = (int)i, .node = i % w->nodes->n };
	start_threads(o, t, started, open_main);
	for (unsigned i = 0; i < nc; i++) {
		struct client *c = &o->cs[i];
		if (started[i])
			pthread_join(t[i], NULL);
		st->clients[i].node = c->node;
		st->clients[i].backoffs = c->backoffs;
		st->clients[i].backoff_ns = c->backoff_ns;
		if (c->sc) {
			st->clients[i].life = c->sc->life;
			snprintf(st->clients[i].log, sizeof(st->clients[i].log), "%s", c->sc->log);
		}
		if (c->r < 0) {
			st->clients[i].failed = c->r;
			snprintf(st->clients[i].error, sizeof(st->clients[i].error), "%s", c->err);
			if (!r) {
				r = c->r;
				snprintf(err, errlen, "client %u: %s", i, c->err);
			}
		} else {
			ready++;
		}
	}
	st->ready_ns = mono() - t0;
	free(t);
	free(started);
	w->open = o;
	return ready || !nc ? 0 : r;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	const struct fl_workload *w = c->w;
	const struct fl_scenario *s = w->s;
	struct fl_sys_client *sc = c->sc;
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
	if (gap)
		next += (int64_t)fl_rng_below(&rng, (uint64_t)gap); /* spread the clients out */
	/* a history that cannot be written (the disk full) ends the workload:
	 * ops nobody can judge are not worth making */
	while (!stopped(w) && mono() < deadline) {
		unsigned key = (unsigned)fl_rng_below(&rng, s->workload.keys);
		enum fl_outcome oc;
		int rr;

		if (gap) {
			if (next > deadline)
				break;
			sleep_until(next);
			next += gap;
		}
		/* a program started now is charged to no operation; its start-up
		 * may push this op past its slot, never bunch the next ones up */
		if ((rr = make_ready(c, deadline)) < 0) {
			c->r = rr;
			break;
		}
		if (rr > 0)
			break;
		if (gap && next < mono())
			next = mono();
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
	for (unsigned k = 0; k < kn.n; k++)
		free(kn.v[k]);
	free(kn.v);
	return NULL;
}

void fl_workload_close(struct fl_workload *w)
{
	struct fl_workload_open *o = w->open;

	if (!o)
		return;
	for (unsigned i = 0; i < o->n; i++)
		w->ops->client_close(o->cs[i].sc);
	free(o->cs);
	free(o);
	w->open = NULL;
}

void fl_workload_stats_release(struct fl_workload_stats *st)
{
	free(st->clients);
	st->clients = NULL;
	st->nclients = 0;
}

int fl_workload_run(struct fl_workload *w, struct fl_workload_stats *st, char *err,
		    size_t errlen)
{
	struct fl_workload_open *o;
	unsigned nc;
	pthread_t *t;
	char *started;
	int64_t start;
	int r = 0;

	if (!w->open && (r = fl_workload_open(w, st, err, errlen)) < 0 && !w->open)
		return r;
	o = w->open;
	nc = o->n;
	t = calloc(nc ? nc : 1, sizeof(*t));
	started = calloc(nc ? nc : 1, 1);
	if (!t || !started) {
		free(t);
		free(started);
		r = -ENOMEM;
		goto out;
	}
	start = mono();
	r = 0;
	for (unsigned i = 0; i < nc; i++)
		o->cs[i].start_ns = start;
	start_threads(o, t, started, client_main);
	for (unsigned i = 0; i < nc; i++) {
		struct client *c = &o->cs[i];
		if (started[i])
			pthread_join(t[i], NULL);
		st->invoked += c->invoked;
		for (int k = 0; k < FL_OUTCOME__N; k++)
			st->outcome[k] += c->counts[k];
		if (i < sizeof(st->per_client_ok) / sizeof(st->per_client_ok[0]))
			st->per_client_ok[i] = c->counts[FL_OUTCOME_OK];
		if (st->clients && i < st->nclients) {
			struct fl_workload_client *wc = &st->clients[i];
			wc->node = c->node;
			wc->invoked = c->invoked;
			wc->ok = c->counts[FL_OUTCOME_OK];
			if (c->sc)
				wc->life = c->sc->life;
			wc->backoffs = c->backoffs;
			wc->backoff_ns = c->backoff_ns;
			if (c->r < 0) {
				wc->failed = c->r;
				snprintf(wc->error, sizeof(wc->error), "%s", c->err);
			}
		}
		if (c->r < 0 && r == 0) {
			r = c->r;
			snprintf(err, errlen, "client %u: %s", i, c->err);
		}
	}
out:
	fl_workload_close(w);
	free(t);
	free(started);
	return r;
}

int fl_workload_final_reads(const struct fl_workload *w, int64_t budget_ns,
			    struct fl_workload_stats *st, char *err, size_t errlen)
{
	const struct fl_scenario *s = w->s;
	int64_t deadline = mono() + budget_ns;
	int timeout_ms = (int)(s->workload.timeout_ns / 1000000), set = s->workload.type == FL_WORKLOAD_SET;
	size_t missing = 0;
	struct fl_sys_client *scs[FL_MAX_NODES] = { 0 };

	if (set && !w->ops->read_set) {
		snprintf(err, errlen, "system '%s' has no set operations", w->ops->name);
		return -ENOTSUP;
	}
	/* every node's client opened first (or the caller's): programs slow to
	 * start (exec) start together, so their start-up is paid once, not once
	 * per node */
	for (size_t node = 0; node < w->nodes->n; node++) {
		char e[256];
		if (w->final_clients && w->final_clients[node])
			scs[node] = w->final_clients[node];
		else if (w->ops->client_open(w->nodes, node, &scs[node], e, sizeof(e)) < 0)
			scs[node] = NULL;
	}
	fl_history_set_final(w->history, 1);
	for (size_t node = 0; node < w->nodes->n; node++) {
		struct fl_sys_client *sc = scs[node];
		int process = FL_FINAL_PROCESS + (int)node;
		char e[256] = "";

		if (!sc) {
			missing += s->workload.keys;
			continue;
		}
		/* its program's start-up is no read's time (a failure shows in
		 * the reads that follow) */
		if (w->ops->client_ready)
			w->ops->client_ready(sc, e, sizeof(e));
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
		if (!w->final_clients || w->final_clients[node] != sc)
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
