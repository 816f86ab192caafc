/* The etcd system adapter (Debian's etcd 3.4): bootstrap argv, readiness,
 * leader and term, client operations and a state digest, all over etcd's
 * v3 HTTP/JSON gateway (grpc-gateway) with libcurl keep-alive connections.
 *
 * Gateway facts this relies on (checked on etcd 3.4.23):
 * - every call is a POST of a JSON object; keys and values are base64;
 *   64-bit numbers come back as decimal strings; false/0/empty fields are
 *   left out ("succeeded" of a failed txn, "kvs" of an empty range);
 * - errors come back with an HTTP error status and
 *   {"error": .., "message": .., "code": <grpc code>};
 * - there is no /v3/maintenance/hashkv, and /v3/maintenance/hash hashes
 *   the whole backend file (not only the keys), so it differs between
 *   replicas holding the same data: the digest is computed here from a
 *   serializable range read of the whole keyspace at one revision.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"

#define MAX_BODY (256u << 20)  /* a digest page can be large; nothing else is */
#define DIGEST_PAGE 1000       /* keys per range request of a digest */

/* --- pure helpers ---------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int fl_base64_encode(const void *in, size_t len, char **out)
{
	const unsigned char *p = in;
	char *o, *q;

	if (len > SIZE_MAX / 2)
		return -EOVERFLOW;
	o = malloc((len + 2) / 3 * 4 + 1);
	if (!o)
		return -ENOMEM;
	q = o;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t rest = len - i;

		if (rest > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (rest > 2)
			v |= p[i + 2];
		*q++ = b64chars[(v >> 18) & 63];
		*q++ = b64chars[(v >> 12) & 63];
		*q++ = rest > 1 ? b64chars[(v >> 6) & 63] : '=';
		*q++ = rest > 2 ? b64chars[v & 63] : '=';
	}
	*q = '\0';
	*out = o;
	return 0;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

int fl_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *o;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	o = malloc(len / 4 * 3 + 4);
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v;

		if (in[i] == '=') {
			pad++;
			continue;
		}
		v = b64val(in[i]);
		if (v < 0 || pad) {
			free(o);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || (len % 4 && pad)) {
		free(o);
		return -EINVAL;
	}
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_len(uint64_t h, size_t len)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)len >> (8 * i));
	return fnv(h, b, sizeof(b));
}

uint64_t fl_digest_add(uint64_t h, const void *key, size_t klen, const void *val, size_t vlen)
{
	h = fnv_len(h, klen);
	h = fnv(h, key, klen);
	h = fnv_len(h, vlen);
	return fnv(h, val, vlen);
}

void fl_digest_hex(uint64_t h, char hex[FL_DIGEST_HEX])
{
	snprintf(hex, FL_DIGEST_HEX, "%016" PRIx64, h);
}

void fl_digest_done(uint64_t h, int64_t rev, size_t count, char hex[FL_DIGEST_HEX],
		    int64_t *revision, size_t *nkeys)
{
	fl_digest_hex(h, hex);
	if (revision)
		*revision = rev;
	if (nkeys)
		*nkeys = count;
}

void fl_etcd_timing(const struct fl_scenario *s, unsigned *heartbeat_ms, unsigned *election_ms)
{
	int64_t ready = s ? s->system.ready_timeout_ns : 60 * FL_NS_PER_S;
	int64_t el = ready / 24 / FL_NS_PER_MS;

	if (el < 1000)
		el = 1000;
	if (el > 5000)
		el = 5000;
	if (s && s->checks.failover && s->checks.failover_within_ns > 0) {
		int64_t cap = s->checks.failover_within_ns / 4 / FL_NS_PER_MS;

		if (cap < 500)
			cap = 500;
		if (el > cap)
			el = cap;
	}
	*election_ms = (unsigned)el;
	*heartbeat_ms = (unsigned)(el / 10 < 50 ? 50 : el / 10);
}

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int fl_etcd_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		   char *err, size_t errlen)
{
	return fl_sys_expand(tmpl, nodes, i, FL_ETCD_CLIENT_PORT, out, err, errlen);
}

/* --- node argv ------------------------------------------------------------------- */

static int etcd_node_argv(const struct fl_scenario *s, const struct fl_sys_nodes *nodes, size_t i,
			  char ***argvp, char *err, size_t errlen)
{
	struct fl_argv v = { 0 };
	unsigned hb, el;
	char a[20];
	char *dd = NULL, *peers = NULL;
	int r;

	if (!nodes || i >= nodes->n || nodes->n > FL_MAX_NODES)
		return fl_fail(-EINVAL, err, errlen, "no node %zu in a cluster of %zu", i,
			       nodes ? nodes->n : 0);
	fl_etcd_timing(s, &hb, &el);
	ip4(nodes->addrs[i], a, sizeof(a));
	r = fl_etcd_expand("{data_dir}", nodes, i, &dd, err, errlen);
	if (r == 0)
		r = fl_etcd_expand("{peers}", nodes, i, &peers, err, errlen);
	if (r == 0)
		r = fl_sys_add_program(&v, s, "etcd", err, errlen);
	if (r < 0)
		goto out;
	fl_argv_add(&v, "--name");
	fl_argv_add(&v, nodes->names[i]);
	fl_argv_add(&v, "--data-dir");
	fl_argv_add(&v, dd);
	fl_argv_add(&v, "--listen-client-urls");
	fl_argv_addf(&v, "http://%s:%d", a, FL_ETCD_CLIENT_PORT);
	fl_argv_add(&v, "--advertise-client-urls");
	fl_argv_addf(&v, "http://%s:%d", a, FL_ETCD_CLIENT_PORT);
	fl_argv_add(&v, "--listen-peer-urls");
	fl_argv_addf(&v, "http://%s:%d", a, FL_ETCD_PEER_PORT);
	fl_argv_add(&v, "--initial-advertise-peer-urls");
	fl_argv_addf(&v, "http://%s:%d", a, FL_ETCD_PEER_PORT);
	fl_argv_add(&v, "--initial-cluster");
	fl_argv_add(&v, peers);
	fl_argv_add(&v, "--initial-cluster-state");
	fl_argv_add(&v, "new");
	fl_argv_add(&v, "--initial-cluster-token");
	fl_argv_add(&v, nodes->token ? nodes->token : "faultline");
	fl_argv_add(&v, "--heartbeat-interval");
	fl_argv_addf(&v, "%u", hb);
	fl_argv_add(&v, "--election-timeout");
	fl_argv_addf(&v, "%u", el);
	r = fl_sys_argv_finish(&v, s, nodes, i, FL_ETCD_CLIENT_PORT, argvp, err, errlen);
out:
	fl_strv_free(fl_argv_take(&v));
	free(dd);
	free(peers);
	return r;
}

/* --- the HTTP client ---------------------------------------------------------------- */

struct etcd_client {
	CURL *curl;
	struct curl_slist *headers;
	char base[64];                  /* http://IP:2379 */
	struct fl_sbuf resp;
	int writing;                    /* the request under way may change state */
	int attempts;                   /* times it was about to go out */
	/* member id -> name, refreshed when an unknown id shows up */
	size_t nmembers;
	uint64_t member_ids[FL_MAX_NODES];
	char member_names[FL_MAX_NODES][FL_NODE_NAME_MAX + 1];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct fl_sbuf *b = arg;
	size_t len = size * n;

	if (b->len + len > MAX_BODY)
		return 0; /* curl reports a write error */
	fl_sbuf_add(b, p, len);
	return b->oom ? 0 : len;
}

/*
 * Called right before a request goes out on a new or reused connection.
 * libcurl sends a request again, on a fresh connection, when a reused one
 * died without an answer; for a write that may already have happened (and
 * a second compare-and-set would fail its compare, turning "unknown" into
 * "failed"), so a write goes out at most once.
 */
static int on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
	struct etcd_client *e = arg;

	(void)ip, (void)local_ip, (void)port, (void)local_port;
	return ++e->attempts > 1 && e->writing ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

static void etcd_client_close(struct fl_sys_client *c);

static int etcd_client_open(const struct fl_sys_nodes *nodes, size_t i, struct fl_sys_client **out,
			    char *err, size_t errlen)
{
	struct fl_sys_client *c;
	struct etcd_client *e;
	char a[20];
	int r;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		fl_seterr(err, errlen, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return -EIO;
	}
	r = fl_sys_client_new(&fl_etcd_ops, nodes, i, sizeof(*e), &c, err, errlen);
	if (r < 0)
		return r;
	e = c->impl;
	ip4(nodes->addrs[i], a, sizeof(a));
	snprintf(e->base, sizeof(e->base), "http://%s:%d", a, FL_ETCD_CLIENT_PORT);
	e->curl = curl_easy_init();
	if (!e->curl)
		goto oom;
	/* "Expect:" keeps curl from waiting for 100-continue on larger bodies */
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->headers)
		e->headers = curl_slist_append(e->headers, "Expect:");
	if (!e->headers)
		goto oom;
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &e->resp);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e->curl, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e->curl, CURLOPT_PREREQDATA, e);
	*out = c;
	return 0;
oom:
	etcd_client_close(c);
	fl_seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

static void etcd_client_close(struct fl_sys_client *c)
{
	struct etcd_client *e = c ? c->impl : NULL;

	if (e) {
		if (e->curl)
			curl_easy_cleanup(e->curl);
		curl_slist_free_all(e->headers);
		free(e->resp.p);
	}
	fl_sys_client_free(c);
}

enum req_kind { REQ_READ, REQ_WRITE };

static int grpc_errno(int code)
{
	switch (code) {
	case 3: return -EINVAL;      /* InvalidArgument */
	case 4: return -ETIMEDOUT;   /* DeadlineExceeded */
	case 5: return -ENOENT;      /* NotFound */
	case 7: case 16: return -EACCES;
	case 8: return -EBUSY;       /* ResourceExhausted: too many requests */
	case 9: return -EPERM;       /* FailedPrecondition */
	case 11: return -ERANGE;     /* OutOfRange: compacted / future revision */
	case 12: return -ENOSYS;     /* Unimplemented */
	case 14: return -EAGAIN;     /* Unavailable: no leader, request timed out */
	default: return -EIO;
	}
}

/* Codes etcd gives only for requests it refused before proposing them. */
static int grpc_definite(int code)
{
	switch (code) {
	case 3: case 5: case 6: case 7: case 8: case 9: case 11: case 12: case 16:
		return 1;
	default:
		return 0;
	}
}

/*
 * POST body (taken over) to path; *reply: the parsed answer on success.
 * Sets *outcome: OK with a 200 and a JSON object; otherwise FAIL when the
 * request surely had no effect (a read, nothing sent, a refusal), INFO else.
 */
static int call(struct fl_sys_client *c, const char *path, json_t *body, enum req_kind kind,
		int timeout_ms, json_t **reply, enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct etcd_client *e = c->impl;
	char url[128], *text;
	CURLcode rc;
	long status = 0;
	json_t *j;
	json_error_t jerr;
	int r;

	*reply = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if (!body) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (timeout_ms < 1)
		timeout_ms = 1;
	snprintf(url, sizeof(url), "%s%s", e->base, path);
	e->resp.len = 0;
	e->resp.oom = 0;
	e->writing = kind == REQ_WRITE;
	e->attempts = 0;
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	rc = curl_easy_perform(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, NULL);
	free(text);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);

	if (rc != CURLE_OK) {
		/* nothing went out: refused, unreachable, or timed out connecting (a
		 * refused reconnect after a request went out does not count) */
		int unsent = e->attempts == 0;

		*outcome = kind == REQ_READ || unsent ? FL_OUTCOME_FAIL : FL_OUTCOME_INFO;
		if (rc == CURLE_OPERATION_TIMEDOUT) {
			fl_seterr(err, errlen, "node %s: no answer within %d ms%s", c->node, timeout_ms,
			       unsent ? " (not connected)" : "");
			return -ETIMEDOUT;
		}
		fl_seterr(err, errlen, "node %s: %s", c->node, curl_easy_strerror(rc));
		if (rc == CURLE_ABORTED_BY_CALLBACK) {
			fl_seterr(err, errlen, "node %s: connection lost after sending", c->node);
			return -ECONNRESET;
		}
		switch (rc) {
		case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
		case CURLE_GOT_NOTHING: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
			return -ECONNRESET;
		case CURLE_WRITE_ERROR: return -EFBIG;
		default: return -EIO;
		}
	}

	j = json_loadb(e->resp.p ? e->resp.p : "", e->resp.len, 0, &jerr);
	if (status != 200) {
		json_t *jc = j ? json_object_get(j, "code") : NULL;
		const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
		int code = json_is_integer(jc) ? (int)json_integer_value(jc) : -1;

		if (kind == REQ_READ || (code >= 0 && grpc_definite(code)))
			*outcome = FL_OUTCOME_FAIL;
		else
			*outcome = FL_OUTCOME_INFO;
		r = code >= 0 ? grpc_errno(code) : -EPROTO;
		fl_seterr(err, errlen, "node %s: http %ld: %s", c->node, status,
		       msg ? msg : "no error message");
		json_decref(j);
		return r;
	}
	if (!json_is_object(j)) {
		/* answered 200, so it happened; but say we cannot tell what it said */
		*outcome = kind == REQ_READ ? FL_OUTCOME_FAIL : FL_OUTCOME_INFO;
		fl_seterr(err, errlen, "node %s: answer is not a json object: %s", c->node,
		       j ? "wrong type" : jerr.text);
		json_decref(j);
		return -EPROTO;
	}
	*outcome = FL_OUTCOME_OK;
	*reply = j;
	return 0;
}

/* The gateway writes 64-bit integers as strings; accept numbers too. */
static int get_u64(json_t *o, const char *key, uint64_t *v)
{
	json_t *x = json_object_get(o, key);
	const char *s;
	char *end;

	*v = 0;
	if (!x)
		return 0; /* zero values are left out */
	if (json_is_integer(x)) {
		*v = (uint64_t)json_integer_value(x);
		return 0;
	}
	s = json_string_value(x);
	if (!s)
		return -EPROTO;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EPROTO : 0;
}

static int b64_json(json_t *o, const char *field, const char *s)
{
	char *b;
	int r = fl_base64_encode(s, strlen(s), &b);

	if (r < 0)
		return r;
	r = json_object_set_new(o, field, json_string(b));
	free(b);
	return r ? -ENOMEM : 0;
}

static int refresh_members(struct fl_sys_client *c, int timeout_ms, char *err, size_t errlen)
{
	struct etcd_client *e = c->impl;
	enum fl_outcome o;
	json_t *reply, *members, *m;
	size_t idx;
	int r;

	r = call(c, "/v3/cluster/member/list", json_object(), REQ_READ, timeout_ms, &reply, &o, err,
		 errlen);
	if (r < 0)
		return r;
	members = json_object_get(reply, "members");
	e->nmembers = 0;
	json_array_foreach(members, idx, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		uint64_t id;

		if (e->nmembers >= FL_MAX_NODES || get_u64(m, "ID", &id) < 0)
			break;
		e->member_ids[e->nmembers] = id;
		snprintf(e->member_names[e->nmembers], sizeof(e->member_names[0]), "%s",
			 name ? name : "");
		e->nmembers++;
	}
	json_decref(reply);
	return 0;
}

static const char *member_name(struct etcd_client *e, uint64_t id)
{
	for (size_t k = 0; k < e->nmembers; k++)
		if (e->member_ids[k] == id)
			return e->member_names[k];
	return NULL;
}

static int etcd_status(struct fl_sys_client *c, int timeout_ms, struct fl_sys_status *st,
		       enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct etcd_client *e = c->impl;
	json_t *reply, *hdr;
	uint64_t rev = 0;
	const char *name;
	int r;

	memset(st, 0, sizeof(*st));
	snprintf(st->node, sizeof(st->node), "%s", c->node);
	r = call(c, "/v3/maintenance/status", json_object(), REQ_READ, timeout_ms, &reply, outcome,
		 err, errlen);
	if (r < 0)
		return r;
	hdr = json_object_get(reply, "header");
	if (get_u64(reply, "leader", &st->leader_id) < 0 || get_u64(reply, "raftTerm", &st->term) < 0 ||
	    get_u64(reply, "raftIndex", &st->index) < 0 || get_u64(hdr, "member_id", &st->member_id) < 0 ||
	    get_u64(hdr, "revision", &rev) < 0) {
		json_decref(reply);
		*outcome = FL_OUTCOME_FAIL;
		fl_seterr(err, errlen, "node %s: status answer has a malformed number", c->node);
		return -EPROTO;
	}
	json_decref(reply);
	st->revision = (int64_t)rev;
	if (!st->leader_id)
		return 0;
	name = member_name(e, st->leader_id);
	if (!name) {
		/* a member we have not seen: ask once (its name may be new) */
		r = refresh_members(c, timeout_ms, err, errlen);
		if (r < 0) {
			*outcome = FL_OUTCOME_FAIL;
			return r;
		}
		name = member_name(e, st->leader_id);
	}
	if (name)
		snprintf(st->leader, sizeof(st->leader), "%s", name);
	return 0;
}

static int etcd_get(struct fl_sys_client *c, const char *key, int serializable, int timeout_ms,
		    char **value, enum fl_outcome *outcome, char *err, size_t errlen)
{
	json_t *req = json_object(), *reply, *kv;
	const char *v64;
	unsigned char *v;
	size_t vlen;
	int r;

	*value = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if (!req || b64_json(req, "key", key) < 0 ||
	    (serializable && json_object_set_new(req, "serializable", json_true()))) {
		json_decref(req);
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = call(c, "/v3/kv/range", req, REQ_READ, timeout_ms, &reply, outcome, err, errlen);
	if (r < 0)
		return r;
	kv = json_array_get(json_object_get(reply, "kvs"), 0);
	if (!kv) {
		json_decref(reply);
		return 0; /* no such key */
	}
	v64 = json_string_value(json_object_get(kv, "value"));
	r = fl_base64_decode(v64 ? v64 : "", v64 ? strlen(v64) : 0, &v, &vlen);
	json_decref(reply);
	if (r < 0) {
		*outcome = FL_OUTCOME_FAIL;
		fl_seterr(err, errlen, "node %s: value of '%s' is not base64", c->node, key);
		return -EPROTO;
	}
	*value = (char *)v;
	return 0;
}

static int etcd_put(struct fl_sys_client *c, const char *key, const char *value, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	json_t *req = json_object(), *reply;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if (!req || b64_json(req, "key", key) < 0 || b64_json(req, "value", value) < 0) {
		json_decref(req);
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = call(c, "/v3/kv/put", req, REQ_WRITE, timeout_ms, &reply, outcome, err, errlen);
	json_decref(reply);
	return r;
}

static int etcd_cas(struct fl_sys_client *c, const char *key, const char *expect,
		    const char *value, int timeout_ms, enum fl_outcome *outcome, char *err,
		    size_t errlen)
{
	json_t *cmp = json_object(), *put = json_object(), *req, *reply;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if (!cmp || !put || b64_json(cmp, "key", key) < 0 || b64_json(cmp, "value", expect) < 0 ||
	    json_object_set_new(cmp, "target", json_string("VALUE")) ||
	    json_object_set_new(cmp, "result", json_string("EQUAL")) ||
	    b64_json(put, "key", key) < 0 || b64_json(put, "value", value) < 0) {
		json_decref(cmp);
		json_decref(put);
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	req = json_pack("{s:[o],s:[{s:o}]}", "compare", cmp, "success", "requestPut", put);
	r = call(c, "/v3/kv/txn", req, REQ_WRITE, timeout_ms, &reply, outcome, err, errlen);
	if (r < 0)
		return r;
	/* a failed compare leaves "succeeded" out (false) */
	if (!json_is_true(json_object_get(reply, "succeeded"))) {
		json_decref(reply);
		*outcome = FL_OUTCOME_FAIL;
		fl_seterr(err, errlen, "node %s: compare failed: '%s' is not '%s'", c->node, key, expect);
		return -ECANCELED;
	}
	json_decref(reply);
	return 0;
}

/*
 * Sets: element e of the set named k is the key "set/<k>/<e>" (empty
 * value); reading the set is a range read over the prefix "set/<k>/".
 */
static int etcd_add(struct fl_sys_client *c, const char *key, const char *elem, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	char *k;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if (asprintf(&k, "set/%s/%s", key, elem) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = etcd_put(c, k, "", timeout_ms, outcome, err, errlen);
	free(k);
	return r;
}

static int etcd_read_set(struct fl_sys_client *c, const char *key, int serializable,
			 int timeout_ms, char ***elems, enum fl_outcome *outcome, char *err,
			 size_t errlen)
{
	char *prefix = NULL, *end = NULL;
	json_t *req = NULL, *reply, *kvs, *kv;
	size_t plen, idx, n = 0;
	char **v;
	int r = -ENOMEM;

	*elems = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if (asprintf(&prefix, "set/%s/", key) < 0) {
		prefix = NULL;
		goto oom;
	}
	plen = strlen(prefix);
	if (!(end = strdup(prefix)))
		goto oom;
	end[plen - 1]++; /* '/' + 1: the first key after the prefix */
	req = json_object();
	if (!req || b64_json(req, "key", prefix) < 0 || b64_json(req, "range_end", end) < 0 ||
	    (serializable && json_object_set_new(req, "serializable", json_true())))
		goto oom;
	r = call(c, "/v3/kv/range", req, REQ_READ, timeout_ms, &reply, outcome, err, errlen);
	req = NULL;
	if (r < 0)
		goto out;
	kvs = json_object_get(reply, "kvs");
	v = calloc(json_array_size(kvs) + 1, sizeof(*v));
	if (!v) {
		json_decref(reply);
		r = -ENOMEM;
		goto oom;
	}
	json_array_foreach(kvs, idx, kv) {
		const char *k64 = json_string_value(json_object_get(kv, "key"));
		unsigned char *k = NULL;
		size_t kl = 0;

		if (!k64 || fl_base64_decode(k64, strlen(k64), &k, &kl) < 0 || kl < plen) {
			free(k);
			fl_strv_free(v);
			json_decref(reply);
			*outcome = FL_OUTCOME_FAIL;
			fl_seterr(err, errlen, "node %s: range answer with a malformed key", c->node);
			r = -EPROTO;
			goto out;
		}
		memmove(k, k + plen, kl - plen + 1);
		v[n++] = (char *)k;
	}
	json_decref(reply);
	*elems = v;
	r = 0;
	goto out;
oom:
	*outcome = FL_OUTCOME_FAIL;
	fl_seterr(err, errlen, "out of memory");
out:
	json_decref(req);
	free(prefix);
	free(end);
	return r;
}

/*
 * The whole keyspace ("\0" .. "\0" = every key), serializable, in pages of
 * DIGEST_PAGE keys; every page after the first is pinned to the first one's
 * revision, so the digest is of one consistent state of this node.
 */
static int etcd_digest(struct fl_sys_client *c, int timeout_ms, char hex[FL_DIGEST_HEX],
		       int64_t *revision, size_t *nkeys, char *err, size_t errlen)
{
	uint64_t h = FL_FNV64_INIT, rev = 0;
	size_t count = 0;
	char *start = NULL; /* base64 of the next page's first key */
	enum fl_outcome o;
	int r = 0;

	for (;;) {
		json_t *req, *reply, *kvs, *kv;
		size_t idx, n;
		int more;

		req = json_pack("{s:s,s:s,s:b,s:i}", "key", start ? start : "AA==", "range_end",
				"AA==", "serializable", 1, "limit", DIGEST_PAGE);
		if (req && rev)
			json_object_set_new(req, "revision", json_integer((json_int_t)rev));
		r = call(c, "/v3/kv/range", req, REQ_READ, timeout_ms, &reply, &o, err, errlen);
		if (r < 0)
			break;
		if (!rev) {
			r = get_u64(json_object_get(reply, "header"), "revision", &rev);
			if (r < 0 || !rev) {
				json_decref(reply);
				fl_seterr(err, errlen, "node %s: range answer without a revision", c->node);
				r = -EPROTO;
				break;
			}
		}
		kvs = json_object_get(reply, "kvs");
		n = json_array_size(kvs);
		more = json_is_true(json_object_get(reply, "more"));
		json_array_foreach(kvs, idx, kv) {
			const char *k64 = json_string_value(json_object_get(kv, "key"));
			const char *v64 = json_string_value(json_object_get(kv, "value"));
			unsigned char *k = NULL, *v = NULL;
			size_t kl = 0, vl = 0;

			if (!k64 || fl_base64_decode(k64, strlen(k64), &k, &kl) < 0 ||
			    fl_base64_decode(v64 ? v64 : "", v64 ? strlen(v64) : 0, &v, &vl) < 0) {
				free(k);
				r = -EPROTO;
				fl_seterr(err, errlen, "node %s: range answer with a malformed key or value",
				       c->node);
				break;
			}
			h = fl_digest_add(h, k, kl, v, vl);
			count++;
			if (more && idx == n - 1) {
				/* next page starts right after this key: key + "\0" */
				unsigned char *next = realloc(k, kl + 1);

				if (next) {
					k = next;
					k[kl] = '\0';
					free(start);
					start = NULL;
					if (fl_base64_encode(k, kl + 1, &start) < 0)
						start = NULL;
				}
				if (!start) {
					free(k);
					free(v);
					r = -ENOMEM;
					fl_seterr(err, errlen, "out of memory");
					break;
				}
			}
			free(k);
			free(v);
		}
		json_decref(reply);
		if (r < 0 || !more || !n)
			break;
	}
	free(start);
	if (r < 0)
		return r;
	fl_digest_done(h, (int64_t)rev, count, hex, revision, nkeys);
	return 0;
}

/* --- readiness ----------------------------------------------------------------------- */

/* Ready: every node answers and names the same leader. */
static int etcd_ready_once(const struct fl_sys_nodes *nodes, struct fl_sys_client **cl,
			   int call_ms, char *leader, size_t leaderlen, char *why, size_t whylen)
{
	char first[FL_NODE_NAME_MAX + 1] = "";

	for (size_t i = 0; i < nodes->n; i++) {
		struct fl_sys_status st;
		enum fl_outcome o;
		char e1[200];

		if (etcd_status(cl[i], call_ms, &st, &o, e1, sizeof(e1)) < 0) {
			snprintf(why, whylen, "%s", e1);
			return -EAGAIN;
		}
		if (!st.leader_id || !st.leader[0]) {
			snprintf(why, whylen, "node %s knows no leader yet (term %" PRIu64 ")",
				 nodes->names[i], st.term);
			return -EAGAIN;
		}
		if (first[0] && strcmp(first, st.leader)) {
			snprintf(why, whylen, "nodes disagree on the leader: %s and %s", first,
				 st.leader);
			return -EAGAIN;
		}
		snprintf(first, sizeof(first), "%s", st.leader);
	}
	if (leader && leaderlen)
		snprintf(leader, leaderlen, "%s", first);
	return 0;
}

static int etcd_wait_ready(const struct fl_sys_nodes *nodes, int64_t timeout_ns, char *leader,
			   size_t leaderlen, char *err, size_t errlen)
{
	return fl_sys_wait_ready(&fl_etcd_ops, nodes, timeout_ns, 2000, "etcd", etcd_ready_once,
				 leader, leaderlen, err, errlen);
}

const struct fl_system_ops fl_etcd_ops = {
	.name = "etcd",
	.node_argv = etcd_node_argv,
	.wait_ready = etcd_wait_ready,
	.client_open = etcd_client_open,
	.client_close = etcd_client_close,
	.status = etcd_status,
	.get = etcd_get,
	.put = etcd_put,
	.cas = etcd_cas,
	.add = etcd_add,
	.read_set = etcd_read_set,
	.digest = etcd_digest,
};
