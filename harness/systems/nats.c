/* The NATS JetStream system adapter (Debian's nats-server 2.9, libnats 3.4):
 * a JetStream cluster of one nats-server per node, one replicated stream,
 * and the set workload over it, all through NATS's own C client.
 *
 * What "every node's final read" is here: a JetStream API request
 * (STREAM.INFO, a publish) sent to any server is answered by the stream's
 * raft leader wherever it is. The reads (read_set, digest) are direct gets
 * (the stream allows them), which any replica that serves them may answer,
 * but not necessarily the node the request went through: measured on
 * 2.9.10 (tests/kernel/test_nats.c), a follower whose two peers are stopped
 * answers none. So a final read "from node i" is the stream as a client of
 * node i sees it, served by the leader or a current replica; after a heal
 * that is the log the cluster agreed on, which is where an acknowledged
 * message lost by the cluster (not only by one replica) shows.
 * Never: reconnect behind the caller's back (a write buffered across a
 * reconnect could go out after we called it failed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "faultline/strutil.h"
#include "faultline/system.h"

#define SUBJ_PREFIX "fl."

/* The stream through one node, 1..end-1; subj/data per sequence - 1. */
struct scan {
	uint8_t *state;   /* SCAN_* */
	char **subj, **data;
	size_t cap;
	uint64_t end;     /* the first sequence the node does not hold; 0: no scan */
	char *stamp;      /* Nats-Time-Stamp of message end-1 */
};

struct nats_client {
	natsConnection *nc;
	jsCtx *js;
	char url[48];
	size_t n;                                      /* nodes in the cluster */
	char names[FL_MAX_NODES][FL_NODE_NAME_MAX + 1];
	struct scan seen;                              /* read_set's last scan */
};

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fl_nats_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		   char *err, size_t errlen)
{
	return fl_sys_expand(tmpl, nodes, i, FL_NATS_PORT, out, err, errlen);
}

int fl_nats_outcome(int status, int js_code, int write, enum fl_outcome *outcome)
{
	*outcome = FL_OUTCOME_FAIL;
	switch ((natsStatus)status) {
	case NATS_OK:
		*outcome = FL_OUTCOME_OK;
		return 0;
	case NATS_NO_RESPONDERS:
		return -EHOSTUNREACH; /* nobody subscribed: no stream leader got it */
	case NATS_NO_SERVER:
		return -ECONNREFUSED; /* never connected: nothing went out */
	case NATS_NOT_FOUND:
		return -ENOENT;
	case NATS_TIMEOUT:
		if (write)
			*outcome = FL_OUTCOME_INFO;
		return -ETIMEDOUT;
	case NATS_CONNECTION_CLOSED:
	case NATS_CONNECTION_DISCONNECTED:
	case NATS_IO_ERROR:
	case NATS_STALE_CONNECTION:
		if (write)
			*outcome = FL_OUTCOME_INFO;
		return -ECONNRESET;
	default:
		break;
	}
	switch (js_code) {
	/* refused by the leader's checks before it proposes the message */
	case JSStreamNotFoundErr:
	case JSStreamMessageExceedsMaximumErr:
	case JSStreamNotMatchErr:
	case JSStreamWrongLastMsgIDErr:
	case JSStreamWrongLastSequenceErr:
	case JSStreamSealedErr:
	case JSNotEnabledErr:
		return -EPERM;
	default:
		/* JSStreamStoreFailedErr and the rest: the entry may be in the log */
		if (write)
			*outcome = FL_OUTCOME_INFO;
		return -EIO;
	}
}

/* err: "node N: what: <libnats's text>", with the JetStream code if any. */
static void nerr(struct fl_sys_client *c, const char *what, natsStatus s, jsErrCode jc,
		 char *err, size_t errlen)
{
	natsStatus ls;
	const char *t = nats_GetLastError(&ls);

	if (!t || !*t || ls != s)
		t = natsStatus_GetText(s);
	if (jc)
		fl_seterr(err, errlen, "node %s: %s: %s (jetstream error %d)", c->node, what, t,
			  (int)jc);
	else
		fl_seterr(err, errlen, "node %s: %s: %s", c->node, what, t);
}

/* --- node argv ------------------------------------------------------------------- */

static int nats_node_argv(const struct fl_scenario *s, const struct fl_sys_nodes *nodes, size_t i,
			  char ***argvp, char *err, size_t errlen)
{
	struct fl_argv v = { 0 };
	struct fl_sbuf routes = { 0 };
	char a[20], *dd = NULL;
	int r;

	if (!nodes || i >= nodes->n || nodes->n > FL_MAX_NODES)
		return fl_fail(-EINVAL, err, errlen, "no node %zu in a cluster of %zu", i,
			       nodes ? nodes->n : 0);
	r = fl_nats_expand("{data_dir}", nodes, i, &dd, err, errlen);
	if (r == 0)
		r = fl_sys_add_program(&v, s, "nats-server", err, errlen);
	if (r < 0)
		goto out;
	ip4(nodes->addrs[i], a, sizeof(a));
	fl_argv_add(&v, "-n");
	fl_argv_add(&v, nodes->names[i]);
	fl_argv_add(&v, "-a");
	fl_argv_add(&v, a);
	fl_argv_add(&v, "-p");
	fl_argv_addf(&v, "%d", FL_NATS_PORT);
	fl_argv_add(&v, "-js");
	fl_argv_add(&v, "-sd");
	fl_argv_add(&v, dd);
	if (nodes->n > 1) {
		/* one node alone runs JetStream unclustered: a cluster of one has no peers */
		fl_argv_add(&v, "--cluster");
		fl_argv_addf(&v, "nats://%s:%d", a, FL_NATS_CLUSTER_PORT);
		fl_argv_add(&v, "--cluster_name");
		fl_argv_add(&v, nodes->token ? nodes->token : "faultline");
		for (size_t k = 0; k < nodes->n; k++) {
			char b[20];

			if (k == i)
				continue;
			ip4(nodes->addrs[k], b, sizeof(b));
			fl_sbuf_printf(&routes, "%snats://%s:%d", routes.len ? "," : "", b,
				       FL_NATS_CLUSTER_PORT);
		}
		if (routes.oom) {
			r = fl_fail(-ENOMEM, err, errlen, "out of memory");
			goto out;
		}
		fl_argv_add(&v, "--routes");
		fl_argv_add(&v, routes.p);
	}
	r = fl_sys_argv_finish(&v, s, nodes, i, FL_NATS_PORT, argvp, err, errlen);
out:
	fl_strv_free(fl_argv_take(&v));
	free(routes.p);
	free(dd);
	return r;
}

/* --- the client ------------------------------------------------------------------- */

static void drop_conn(struct nats_client *nc)
{
	jsCtx_Destroy(nc->js);
	nc->js = NULL;
	if (nc->nc) {
		natsConnection_Close(nc->nc);
		natsConnection_Destroy(nc->nc);
	}
	nc->nc = NULL;
}

/* A live connection to the node, made now if the last one closed. */
static natsStatus conn(struct nats_client *nc, int timeout_ms)
{
	natsOptions *o = NULL;
	natsStatus s;

	if (nc->nc && !natsConnection_IsClosed(nc->nc))
		return NATS_OK;
	drop_conn(nc);
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, nc->url);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, timeout_ms < 1 ? 1 : timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(o, false);
	if (s == NATS_OK)
		s = natsOptions_SetIgnoreDiscoveredServers(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "faultline");
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc->nc, o);
	natsOptions_Destroy(o);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&nc->js, nc->nc, NULL);
	if (s != NATS_OK)
		drop_conn(nc);
	return s;
}

static void scan_release(struct scan *sc);

static void nats_client_close(struct fl_sys_client *c)
{
	if (c && c->impl) {
		drop_conn(c->impl);
		scan_release(&((struct nats_client *)c->impl)->seen);
	}
	fl_sys_client_free(c);
}

static int nats_client_open(const struct fl_sys_nodes *nodes, size_t i, struct fl_sys_client **out,
			    char *err, size_t errlen)
{
	struct fl_sys_client *c;
	struct nats_client *nc;
	char a[20];
	int r;

	r = fl_sys_client_new(&fl_nats_ops, nodes, i, sizeof(*nc), &c, err, errlen);
	if (r < 0)
		return r;
	nc = c->impl;
	ip4(nodes->addrs[i], a, sizeof(a));
	snprintf(nc->url, sizeof(nc->url), "nats://%s:%d", a, FL_NATS_PORT);
	nc->n = nodes->n;
	for (size_t k = 0; k < nodes->n; k++)
		snprintf(nc->names[k], sizeof(nc->names[k]), "%s", nodes->names[k]);
	*out = c; /* connects on first use: a node that is down now may be up then */
	return 0;
}

static int left_ms(int64_t deadline)
{
	int64_t l = deadline - mono_ms();

	return l < 1 ? 1 : l > INT32_MAX ? INT32_MAX : (int)l;
}

/* The connection, or FAIL with err (nothing was sent). */
static int need_conn(struct fl_sys_client *c, int64_t deadline, enum fl_outcome *outcome,
		     char *err, size_t errlen)
{
	natsStatus s = conn(c->impl, left_ms(deadline));

	if (s == NATS_OK)
		return 0;
	nerr(c, "connect", s, 0, err, errlen);
	return fl_nats_outcome(s, 0, 0, outcome);
}

static int node_index(const struct nats_client *nc, const char *name)
{
	for (size_t k = 0; name && k < nc->n; k++)
		if (!strcmp(nc->names[k], name))
			return (int)k;
	return -1;
}

static int nats_status(struct fl_sys_client *c, int timeout_ms, struct fl_sys_status *st,
		       enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct nats_client *nc = c->impl;
	int64_t deadline = mono_ms() + timeout_ms;
	jsStreamInfo *si = NULL;
	jsErrCode jc = 0;
	jsOptions jo;
	const char *leader = NULL;
	natsStatus s;
	int r, k;

	memset(st, 0, sizeof(*st));
	snprintf(st->node, sizeof(st->node), "%s", c->node);
	st->member_id = c->index + 1;
	*outcome = FL_OUTCOME_FAIL;
	if ((r = need_conn(c, deadline, outcome, err, errlen)) < 0)
		return r;
	jsOptions_Init(&jo);
	jo.Wait = left_ms(deadline);
	s = js_GetStreamInfo(&si, nc->js, FL_NATS_STREAM, &jo, &jc);
	if (s != NATS_OK) {
		nerr(c, "stream info", s, jc, err, errlen);
		return fl_nats_outcome(s, jc, 0, outcome);
	}
	*outcome = FL_OUTCOME_OK;
	st->index = si->State.LastSeq;
	if (si->Cluster)
		leader = si->Cluster->Leader;
	else if (nc->n == 1)
		leader = c->node; /* unclustered: the one server holds the stream */
	k = node_index(nc, leader);
	if (k >= 0) {
		snprintf(st->leader, sizeof(st->leader), "%s", nc->names[k]);
		st->leader_id = (uint64_t)k + 1;
	}
	jsStreamInfo_Destroy(si);
	return 0;
}

static int nats_add(struct fl_sys_client *c, const char *key, const char *elem, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct nats_client *nc = c->impl;
	int64_t deadline = mono_ms() + timeout_ms;
	jsPubAck *pa = NULL;
	jsPubOptions po;
	jsErrCode jc = 0;
	char subj[300];
	natsStatus s;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if (snprintf(subj, sizeof(subj), SUBJ_PREFIX "%s", key) >= (int)sizeof(subj))
		return fl_fail(-ENAMETOOLONG, err, errlen, "set name '%s' is too long", key);
	if ((r = need_conn(c, deadline, outcome, err, errlen)) < 0)
		return r;
	jsPubOptions_Init(&po);
	po.MaxWait = left_ms(deadline);
	s = js_Publish(&pa, nc->js, subj, elem, (int)strlen(elem), &po, &jc);
	jsPubAck_Destroy(pa);
	if (s != NATS_OK)
		nerr(c, "publish", s, jc, err, errlen);
	return fl_nats_outcome(s, jc, 1, outcome);
}

/* The first message at or after seq (on subj when not NULL), by a direct
 * get through this node. NATS_NOT_FOUND: none. */
static natsStatus direct_get(struct nats_client *nc, const char *subj, uint64_t seq, int64_t deadline,
			     natsMsg **m)
{
	jsDirectGetMsgOptions o;
	jsOptions jo;

	jsOptions_Init(&jo);
	jo.Wait = left_ms(deadline);
	jsDirectGetMsgOptions_Init(&o);
	o.Sequence = seq;
	o.NextBySubject = subj;
	return js_DirectGetMsg(m, nc->js, FL_NATS_STREAM, &jo, &o);
}

static uint64_t msg_seq(natsMsg *m)
{
	const char *v = NULL;
	uint64_t seq = natsMsg_GetSequence(m);

	if (!seq && natsMsgHeader_Get(m, "Nats-Sequence", &v) == NATS_OK && v)
		seq = strtoull(v, NULL, 10);
	return seq;
}

/* Direct gets in flight at once in a scan: enough to hide the round trip
 * (~25 ms per get under TCG, so a few hundred elements one at a time
 * outran the final reads' budget), few enough that the server's replies
 * stay well inside a subscription's pending limits. */
#define SCAN_WINDOW 256

enum { SCAN_UNSENT, SCAN_SENT, SCAN_HAVE, SCAN_NONE };

static void scan_release(struct scan *sc)
{
	for (size_t k = 0; k < sc->cap; k++) {
		free(sc->subj[k]);
		free(sc->data[k]);
	}
	free(sc->subj);
	free(sc->data);
	free(sc->state);
	free(sc->stamp);
	memset(sc, 0, sizeof(*sc));
}

static int scan_grow(struct scan *sc, uint64_t seq)
{
	size_t n = sc->cap ? sc->cap : 1024, old = sc->cap;
	uint8_t *st;
	char **d;

	while (n < seq)
		n *= 2;
	if (n == old)
		return 0;
	if (!(st = realloc(sc->state, n)))
		return -ENOMEM;
	sc->state = st;
	memset(sc->state + old, SCAN_UNSENT, n - old);
	if (!(d = realloc(sc->subj, n * sizeof(*d))))
		return -ENOMEM;
	sc->subj = d;
	memset(sc->subj + old, 0, (n - old) * sizeof(*d));
	if (!(d = realloc(sc->data, n * sizeof(*d))))
		return -ENOMEM;
	sc->data = d;
	memset(sc->data + old, 0, (n - old) * sizeof(*d));
	sc->cap = n;
	return 0;
}

/* One direct-get reply: record it in sc, lower *end at a sequence the node
 * does not hold. 1: an answer to a request in flight, 0: none of ours (or a
 * duplicate), -errno with err for an answer that ends the scan. */
static int scan_reply(struct fl_sys_client *c, struct scan *sc, natsMsg *m, size_t plen,
		      uint64_t *end, char *err, size_t errlen)
{
	const char *rs = natsMsg_GetSubject(m), *v = NULL, *subj = NULL;
	uint64_t seq = strlen(rs) > plen ? strtoull(rs + plen, NULL, 10) : 0;

	if (!seq || seq > sc->cap || sc->state[seq - 1] != SCAN_SENT)
		return 0;
	if (natsMsgHeader_Get(m, "Status", &v) == NATS_OK && v && *v) {
		const char *d = NULL;

		if (!strcmp(v, "404")) {
			sc->state[seq - 1] = SCAN_NONE;
			if (seq < *end)
				*end = seq;
			return 1;
		}
		natsMsgHeader_Get(m, "Description", &d);
		if (!strcmp(v, "503"))
			return fl_fail(-EHOSTUNREACH, err, errlen,
				       "node %s: direct get: no replica of the stream answers",
				       c->node);
		return fl_fail(-EIO, err, errlen, "node %s: direct get of %" PRIu64 ": status %s%s%s",
			       c->node, seq, v, d ? " " : "", d ? d : "");
	}
	if (natsMsgHeader_Get(m, "Nats-Sequence", &v) != NATS_OK || !v ||
	    strtoull(v, NULL, 10) != seq)
		return fl_fail(-EPROTO, err, errlen,
			       "node %s: direct get of %" PRIu64 " answered sequence %s", c->node,
			       seq, v ? v : "(none)");
	natsMsgHeader_Get(m, "Nats-Subject", &subj);
	sc->subj[seq - 1] = strdup(subj ? subj : "");
	sc->data[seq - 1] = strndup(natsMsg_GetData(m) ? natsMsg_GetData(m) : "",
				    (size_t)natsMsg_GetDataLength(m));
	if (!sc->subj[seq - 1] || !sc->data[seq - 1])
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	sc->state[seq - 1] = SCAN_HAVE;
	return 1;
}

/*
 * The stream through this node, sequence 1, 2, ... up to the first one it
 * does not hold (faultline's stream is never trimmed, so it holds 1..L),
 * by direct gets with up to SCAN_WINDOW in flight on one reply inbox. A
 * sequence missing below one that is there is a hole no run of faultline
 * makes: the scan fails rather than call what lies above it lost. Each
 * reply must come within timeout_ms of the last one.
 */
static int scan_stream(struct fl_sys_client *c, int timeout_ms, struct scan *sc, char *err,
		       size_t errlen)
{
	struct nats_client *nc = c->impl;
	natsSubscription *sub = NULL;
	natsInbox *inbox = NULL;
	uint64_t next = 1, end = UINT64_MAX;
	size_t inflight = 0, plen = 0;
	char rsubj[128], body[48];
	enum fl_outcome o;
	natsStatus s;
	int r = 0;

	s = natsInbox_Create(&inbox);
	if (s == NATS_OK) {
		snprintf(rsubj, sizeof(rsubj), "%s.*", (const char *)inbox);
		plen = strlen(rsubj) - 1;
		s = natsConnection_SubscribeSync(&sub, nc->nc, rsubj);
	}
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(sub, -1, -1);
	if (s != NATS_OK) {
		nerr(c, "reply inbox", s, 0, err, errlen);
		r = fl_nats_outcome(s, 0, 0, &o);
		goto out;
	}
	for (;;) {
		natsMsg *m = NULL;

		while (next < end && inflight < SCAN_WINDOW) {
			if ((r = scan_grow(sc, next)) < 0) {
				fl_fail(r, err, errlen, "out of memory");
				goto out;
			}
			snprintf(rsubj + plen, sizeof(rsubj) - plen, "%" PRIu64, next);
			snprintf(body, sizeof(body), "{\"seq\":%" PRIu64 "}", next);
			s = natsConnection_PublishRequestString(nc->nc, "$JS.API.DIRECT.GET."
								FL_NATS_STREAM, rsubj, body);
			if (s != NATS_OK) {
				nerr(c, "direct get", s, 0, err, errlen);
				r = fl_nats_outcome(s, 0, 0, &o);
				goto out;
			}
			sc->state[next - 1] = SCAN_SENT;
			next++;
			inflight++;
		}
		if (!inflight)
			break;
		s = natsSubscription_NextMsg(&m, sub, timeout_ms);
		if (s != NATS_OK) {
			nerr(c, "direct get", s, 0, err, errlen);
			r = fl_nats_outcome(s, 0, 0, &o);
			goto out;
		}
		r = scan_reply(c, sc, m, plen, &end, err, errlen);
		natsMsg_Destroy(m);
		if (r < 0)
			goto out;
		inflight -= (size_t)r;
	}
	for (uint64_t q = end; q < next; q++)
		if (sc->state[q - 1] == SCAN_HAVE) {
			r = fl_fail(-EPROTO, err, errlen,
				    "node %s: the stream has sequence %" PRIu64 " but not %" PRIu64,
				    c->node, q, end);
			goto out;
		}
	sc->end = end;
	r = 0;
out:
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	natsInbox_Destroy(inbox);
	return r;
}

static int have_seq(struct fl_sys_client *c, uint64_t seq, int64_t deadline, natsMsg **keep,
		    char *err, size_t errlen);

/* Does the stream through this node still end where the last scan ended
 * (the same last message, nothing after it)? 1, 0, or -errno with err. The
 * stream is only appended to and its elements are unique, so the scan is
 * then its whole content. */
static int seen_current(struct fl_sys_client *c, int timeout_ms, char *err, size_t errlen)
{
	struct scan *sc = &((struct nats_client *)c->impl)->seen;
	natsMsg *m = NULL;
	const char *d;
	int r;

	if (!sc->end)
		return 0;
	r = have_seq(c, sc->end, mono_ms() + timeout_ms, NULL, err, errlen);
	if (r != 0)
		return r < 0 ? r : 0;
	if (sc->end == 1)
		return 1;
	r = have_seq(c, sc->end - 1, mono_ms() + timeout_ms, &m, err, errlen);
	d = sc->data[sc->end - 2];
	if (r > 0)
		r = !strcmp(natsMsg_GetSubject(m), sc->subj[sc->end - 2]) &&
		    (size_t)natsMsg_GetDataLength(m) == strlen(d) &&
		    !memcmp(natsMsg_GetData(m), d, strlen(d));
	natsMsg_Destroy(m);
	return r;
}


/* nc->seen made current: kept while the stream still ends where it did,
 * else scanned again; released on failure. 0 or -errno. */
static int scan_current(struct fl_sys_client *c, int timeout_ms, char *err, size_t errlen)
{
	struct nats_client *nc = c->impl;
	int r = seen_current(c, timeout_ms, err, errlen);

	if (r == 0) {
		scan_release(&nc->seen);
		r = scan_stream(c, timeout_ms, &nc->seen, err, errlen);
	}
	if (r < 0)
		scan_release(&nc->seen);
	return r;
}

/* The set through this node: the messages on its subject in a scan of the
 * stream, the last scan again when the stream still ends at the same message
 * (two gets instead of a scan: the final reads ask for every set in turn). */
static int nats_read_set(struct fl_sys_client *c, const char *key, int serializable,
			 int timeout_ms, char ***elems, enum fl_outcome *outcome, char *err,
			 size_t errlen)
{
	struct nats_client *nc = c->impl;
	int64_t deadline = mono_ms() + timeout_ms;
	struct fl_argv v = { 0 };
	char subj[300];
	int r;

	*elems = NULL;
	*outcome = FL_OUTCOME_FAIL;
	(void)serializable; /* a direct get either way; see the top */
	if (snprintf(subj, sizeof(subj), SUBJ_PREFIX "%s", key) >= (int)sizeof(subj))
		return fl_fail(-ENAMETOOLONG, err, errlen, "set name '%s' is too long", key);
	if ((r = need_conn(c, deadline, outcome, err, errlen)) < 0)
		return r;
	if ((r = scan_current(c, timeout_ms, err, errlen)) < 0)
		return r;
	for (uint64_t q = 1; q < nc->seen.end; q++)
		if (!strcmp(nc->seen.subj[q - 1], subj))
			fl_argv_add(&v, nc->seen.data[q - 1]);
	*elems = fl_argv_take(&v);
	if (!*elems)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	*outcome = FL_OUTCOME_OK;
	return 0;
}

/* Does this node's replica hold message seq? 1, 0, or -errno with err. */
static int have_seq(struct fl_sys_client *c, uint64_t seq, int64_t deadline, natsMsg **keep,
		    char *err, size_t errlen)
{
	enum fl_outcome o;
	natsMsg *m = NULL;
	natsStatus s;

	if (!seq)
		return 1;
	s = direct_get(c->impl, NULL, seq, deadline, &m);
	if (s == NATS_NOT_FOUND)
		return 0;
	if (s != NATS_OK) {
		nerr(c, "direct get", s, 0, err, errlen);
		return fl_nats_outcome(s, 0, 0, &o);
	}
	if (msg_seq(m) != seq) {
		natsMsg_Destroy(m);
		return 0; /* the next one after a gap: seq itself is not there */
	}
	if (keep) {
		natsMsg_Destroy(*keep);
		*keep = m;
	} else {
		natsMsg_Destroy(m);
	}
	return 1;
}

/*
 * The whole stream as read through this node: every message's subject and
 * data in sequence order, and the count, from read_set's scan (made now
 * unless the last one still ends at the same message). Equal digests: the
 * reads through the nodes agree message for message, not only at the head;
 * a replica that holds other messages at the same sequences (measured on
 * 2.9.10 after a paused leader, README) shows here as well as in the final
 * reads.
 */
static int nats_digest(struct fl_sys_client *c, int timeout_ms, char hex[FL_DIGEST_HEX],
		       int64_t *revision, size_t *nkeys, char *err, size_t errlen)
{
	struct nats_client *nc = c->impl;
	uint64_t h = FL_FNV64_INIT, n;
	enum fl_outcome o;
	char seq[24];
	int r;

	if ((r = need_conn(c, mono_ms() + timeout_ms, &o, err, errlen)) < 0)
		return r;
	if ((r = scan_current(c, timeout_ms, err, errlen)) < 0)
		return r;
	n = nc->seen.end - 1;
	for (uint64_t q = 0; q < n; q++)
		h = fl_digest_add(h, nc->seen.subj[q], strlen(nc->seen.subj[q]), nc->seen.data[q],
				  strlen(nc->seen.data[q]));
	snprintf(seq, sizeof(seq), "%" PRIu64, n);
	h = fl_digest_add(h, "seq", 3, seq, strlen(seq));
	fl_digest_done(h, (int64_t)n, (size_t)n, hex, revision, nkeys);
	return 0;
}

/* --- readiness ----------------------------------------------------------------------- */

/* The stream, made through node 0 if it is not there yet. */
static int ensure_stream(struct fl_sys_client *c, int call_ms, char *why, size_t whylen)
{
	struct nats_client *nc = c->impl;
	const char *subjects[] = { SUBJ_PREFIX ">" };
	jsStreamConfig cfg;
	jsStreamInfo *si = NULL;
	jsErrCode jc = 0;
	jsOptions jo;
	enum fl_outcome o;
	natsStatus s;
	int r;

	if ((r = need_conn(c, mono_ms() + call_ms, &o, why, whylen)) < 0)
		return -EAGAIN;
	jsOptions_Init(&jo);
	jo.Wait = call_ms;
	s = js_GetStreamInfo(&si, nc->js, FL_NATS_STREAM, &jo, &jc);
	jsStreamInfo_Destroy(si);
	if (s == NATS_OK)
		return 0;
	if (s != NATS_NOT_FOUND) {
		nerr(c, "stream info", s, jc, why, whylen);
		return -EAGAIN;
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = FL_NATS_STREAM;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	cfg.Replicas = nc->n < FL_NATS_MAX_REPLICAS ? (int64_t)nc->n : FL_NATS_MAX_REPLICAS;
	cfg.AllowDirect = true;
	si = NULL;
	jc = 0;
	s = js_AddStream(&si, nc->js, &cfg, &jo, &jc);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		nerr(c, "creating stream '" FL_NATS_STREAM "'", s, jc, why, whylen);
		return -EAGAIN; /* no meta leader yet, most often */
	}
	return -EAGAIN; /* made: its replicas still have to elect and catch up */
}

/* Ready: the stream exists; through every node, it names the same leader
 * and every replica is current. */
static int nats_ready_once(const struct fl_sys_nodes *nodes, struct fl_sys_client **cl,
			   int call_ms, char *leader, size_t leaderlen, char *why, size_t whylen)
{
	char first[FL_NODE_NAME_MAX + 1] = "";
	int r;

	if ((r = ensure_stream(cl[0], call_ms, why, whylen)) < 0)
		return r;
	for (size_t i = 0; i < nodes->n; i++) {
		struct nats_client *nc = cl[i]->impl;
		jsStreamInfo *si = NULL;
		jsErrCode jc = 0;
		jsOptions jo;
		enum fl_outcome o;
		natsStatus s;
		const char *l;

		if (need_conn(cl[i], mono_ms() + call_ms, &o, why, whylen) < 0)
			return -EAGAIN;
		jsOptions_Init(&jo);
		jo.Wait = call_ms;
		s = js_GetStreamInfo(&si, nc->js, FL_NATS_STREAM, &jo, &jc);
		if (s != NATS_OK) {
			nerr(cl[i], "stream info", s, jc, why, whylen);
			return -EAGAIN;
		}
		l = si->Cluster ? si->Cluster->Leader : nodes->n == 1 ? nodes->names[0] : NULL;
		if (!l || !*l) {
			snprintf(why, whylen, "node %s: the stream has no leader yet", nodes->names[i]);
			jsStreamInfo_Destroy(si);
			return -EAGAIN;
		}
		for (int k = 0; si->Cluster && k < si->Cluster->ReplicasLen; k++) {
			jsPeerInfo *p = si->Cluster->Replicas[k];

			if (p && (!p->Current || p->Offline)) {
				snprintf(why, whylen, "node %s: replica %s of the stream is %s",
					 nodes->names[i], p->Name ? p->Name : "?",
					 p->Offline ? "offline" : "not current");
				jsStreamInfo_Destroy(si);
				return -EAGAIN;
			}
		}
		if (first[0] && strcmp(first, l)) {
			snprintf(why, whylen, "nodes disagree on the stream's leader: %s and %s", first, l);
			jsStreamInfo_Destroy(si);
			return -EAGAIN;
		}
		snprintf(first, sizeof(first), "%s", l);
		jsStreamInfo_Destroy(si);
	}
	if (node_index(cl[0]->impl, first) < 0) {
		snprintf(why, whylen, "the stream's leader '%s' is no node", first);
		return -EAGAIN;
	}
	if (leader && leaderlen)
		snprintf(leader, leaderlen, "%s", first);
	return 0;
}

static int nats_wait_ready(const struct fl_sys_nodes *nodes, int64_t timeout_ns, char *leader,
			   size_t leaderlen, char *err, size_t errlen)
{
	return fl_sys_wait_ready(&fl_nats_ops, nodes, timeout_ns, 2000, "nats-server",
				 nats_ready_once, leader, leaderlen, err, errlen);
}

const struct fl_system_ops fl_nats_ops = {
	.name = "nats",
	.final_reads_local = 1,
	.no_term = 1,
	.node_argv = nats_node_argv,
	.wait_ready = nats_wait_ready,
	.client_open = nats_client_open,
	.client_close = nats_client_close,
	.status = nats_status,
	.add = nats_add,
	.read_set = nats_read_set,
	.digest = nats_digest,
};
