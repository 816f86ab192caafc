/* The Redis-with-Sentinel system adapter (Debian's redis 7.0): node 0 starts
 * as the primary and the others as its replicas, and a sentinel on every
 * node decides who leads. Plain RESP2 over non-blocking sockets; every wait
 * is bounded by the caller's time limit, and a request is never sent twice.
 *
 * Clients find the primary as real Sentinel clients do, by asking their own
 * node's sentinel. A sentinel cut off with an old primary keeps naming it,
 * so that primary keeps taking writes from its side of a partition: that is
 * how Redis loses acknowledged writes, and the harness has to be able to see
 * it, so no client here may "know better" than its sentinel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"
#include "systems/redis-priv.h"

#define MAX_REPLY (64u << 20)   /* one reply; SMEMBERS of a big set is the largest */
#define READ_CHUNK 65536
#define SCAN_COUNT "1000"       /* keys per SCAN step of a digest */
#define MASTER_NAME_MAX 40

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FL_NS_PER_S + ts.tv_nsec;
}

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

/* --- RESP2 ------------------------------------------------------------------------ */

#define LINE_MAX_NUM 24          /* "$", "*", ":" lines: a 64-bit number */
#define LINE_MAX_TEXT (1u << 20) /* "+" and "-" lines */

/* The line at p, up to "\r\n": its length in *n. -EAGAIN: the end is not
 * there yet; -EPROTO: a bare CR or LF, or longer than max. */
static int resp_line(const char *p, const char *end, size_t max, size_t *n)
{
	for (const char *q = p; q < end; q++) {
		if ((size_t)(q - p) > max || *q == '\n')
			return -EPROTO;
		if (*q == '\r') {
			if (q + 1 == end)
				return -EAGAIN;
			if (q[1] != '\n')
				return -EPROTO;
			*n = (size_t)(q - p);
			return 0;
		}
	}
	return (size_t)(end - p) > max ? -EPROTO : -EAGAIN;
}

static int resp_int(const char *p, size_t n, long long *v)
{
	unsigned long long x = 0;
	int neg = 0;

	if (n && *p == '-') {
		neg = 1;
		p++;
		n--;
	}
	if (!n || n > 19)
		return -EPROTO;
	for (size_t k = 0; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return -EPROTO;
		x = x * 10 + (unsigned)(p[k] - '0'); /* 19 digits fit */
	}
	if (x > (unsigned long long)LLONG_MAX + (unsigned)neg)
		return -EPROTO;
	*v = neg ? (x ? -(long long)(x - 1) - 1 : 0) : (long long)x;
	return 0;
}

static char *memdup0(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* The number line after p's type byte: *v within [min, max], *head the
 * line's length with the type byte and CRLF. */
static int resp_number(const char *p, const char *end, long long min, long long max,
		       long long *v, size_t *head)
{
	size_t n;
	int r = resp_line(p + 1, end, LINE_MAX_NUM, &n);

	if (r < 0)
		return r;
	if (resp_int(p + 1, n, v) < 0 || *v < min || *v > max)
		return -EPROTO;
	*head = n + 3;
	return 0;
}

static int resp_value(const char *p, const char *end, int depth, struct fl_resp *out,
		      size_t *used);

/* A bulk string of len bytes after head bytes of p. */
static int resp_bulk(const char *p, const char *end, size_t head, size_t len, struct fl_resp *out,
		     size_t *used)
{
	if ((size_t)(end - p) - head < len + 2) {
		/* a wrong terminator can be seen before the rest arrives */
		if ((size_t)(end - p) - head > len && p[head + len] != '\r')
			return -EPROTO;
		return -EAGAIN;
	}
	if (p[head + len] != '\r' || p[head + len + 1] != '\n')
		return -EPROTO;
	if (out) {
		out->type = FL_RESP_BULK;
		out->len = len;
		if (!(out->str = memdup0(p + head, len)))
			return -ENOMEM;
	}
	*used = head + len + 2;
	return 0;
}

/* An array of cnt values after head bytes of p. */
static int resp_array(const char *p, const char *end, size_t head, size_t cnt, int depth,
		      struct fl_resp *out, size_t *used)
{
	size_t off = head;
	int r;

	if (out) {
		/* checked already: every element is in the buffer, so cnt is at
		 * most a third of its length */
		out->type = FL_RESP_ARRAY;
		out->n = 0;
		if (cnt && !(out->elems = calloc(cnt, sizeof(*out->elems))))
			return -ENOMEM;
	}
	for (size_t k = 0; k < cnt; k++) {
		size_t u;

		r = resp_value(p + off, end, depth + 1, out ? &out->elems[k] : NULL, &u);
		if (out && (r == 0 || r == -ENOMEM))
			out->n = k + 1; /* so that a half-built one is freed whole */
		if (r < 0)
			return r;
		off += u;
	}
	*used = off;
	return 0;
}

/*
 * One value at p. With out NULL it only checks that a whole, well-formed
 * value is there (nothing is allocated for input that may be incomplete or
 * hostile); with out it builds the value, which the caller has checked.
 */
static int resp_value(const char *p, const char *end, int depth, struct fl_resp *out,
		      size_t *used)
{
	size_t n, head;
	long long v;
	int r;

	if (p == end)
		return -EAGAIN;
	if (depth > FL_RESP_MAX_DEPTH)
		return -EPROTO;
	switch (*p) {
	case '+':
	case '-':
		r = resp_line(p + 1, end, LINE_MAX_TEXT, &n);
		if (r < 0)
			return r;
		if (out) {
			out->type = *p == '+' ? FL_RESP_SIMPLE : FL_RESP_ERROR;
			out->len = n;
			if (!(out->str = memdup0(p + 1, n)))
				return -ENOMEM;
		}
		*used = n + 3;
		return 0;
	case ':':
		r = resp_number(p, end, LLONG_MIN, LLONG_MAX, &v, &head);
		if (r < 0)
			return r;
		if (out) {
			out->type = FL_RESP_INT;
			out->integer = v;
		}
		*used = head;
		return 0;
	case '$':
	case '*':
		r = resp_number(p, end, -1,
				*p == '$' ? (long long)FL_RESP_MAX_BULK : (long long)FL_RESP_MAX_ELEMS,
				&v, &head);
		if (r < 0)
			return r;
		if (v == -1) { /* $-1 and *-1 */
			if (out)
				out->type = FL_RESP_NIL;
			*used = head;
			return 0;
		}
		if (*p == '$')
			return resp_bulk(p, end, head, (size_t)v, out, used);
		return resp_array(p, end, head, (size_t)v, depth, out, used);
	default:
		return -EPROTO;
	}
}

static void resp_release(struct fl_resp *r)
{
	free(r->str);
	for (size_t k = 0; k < r->n; k++)
		resp_release(&r->elems[k]);
	free(r->elems);
}

void fl_resp_free(struct fl_resp *r)
{
	if (!r)
		return;
	resp_release(r);
	free(r);
}

int fl_resp_parse(const char *buf, size_t len, struct fl_resp **out, size_t *used)
{
	struct fl_resp *v;
	size_t u;
	int r;

	if (!len)
		return -EAGAIN;
	r = resp_value(buf, buf + len, 0, NULL, &u);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	r = resp_value(buf, buf + len, 0, v, &u);
	if (r < 0) {
		fl_resp_free(v);
		return r;
	}
	*out = v;
	*used = u;
	return 0;
}

int fl_resp_command(const char *const *argv, const size_t *lens, size_t argc, char **out,
		    size_t *outlen)
{
	struct fl_sbuf b = { 0 };

	fl_sbuf_printf(&b, "*%zu\r\n", argc);
	for (size_t k = 0; k < argc; k++) {
		size_t l = lens ? lens[k] : strlen(argv[k]);

		fl_sbuf_printf(&b, "$%zu\r\n", l);
		fl_sbuf_add(&b, argv[k], l);
		fl_sbuf_add(&b, "\r\n", 2);
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

/* --- pure helpers -------------------------------------------------------------------- */

void fl_redis_timing(const struct fl_scenario *s, unsigned *down_after_ms,
		     unsigned *failover_timeout_ms)
{
	unsigned hb, el;

	fl_etcd_timing(s, &hb, &el);
	*down_after_ms = el;
	*failover_timeout_ms = el < 2000 ? 2000 : el;
}

static void data_dir(const struct fl_sys_nodes *nodes, size_t i, struct fl_sbuf *b)
{
	fl_sbuf_str(b, nodes->data_root ? nodes->data_root : ".");
	fl_sbuf_str(b, "/");
	fl_sbuf_str(b, nodes->names[i]);
}

int fl_redis_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, char **out,
		    char *err, size_t errlen)
{
	return fl_sys_expand(tmpl, nodes, i, FL_REDIS_PORT, out, err, errlen);
}

/* The master name the sentinels monitor: the cluster token, which goes into
 * a configuration file and onto Sentinel's command line, so it is kept plain. */
static int master_name(const struct fl_sys_nodes *nodes, char *out, size_t outlen, char *err,
		       size_t errlen)
{
	const char *t = nodes->token ? nodes->token : "faultline";
	size_t n = strlen(t);

	if (!n || n > MASTER_NAME_MAX || strspn(t, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
		fl_seterr(err, errlen, "cluster token '%s' cannot be a sentinel master name "
		       "(1..%d letters, digits, '.', '_', '-')", t, MASTER_NAME_MAX);
		return -EINVAL;
	}
	snprintf(out, outlen, "%s", t);
	return 0;
}

/* Is there a node i? master (MASTER_NAME_MAX + 1 bytes), when not NULL,
 * gets the master name. */
static int check_node(const struct fl_sys_nodes *nodes, size_t i, char *master, char *err,
		      size_t errlen)
{
	if (!nodes || i >= nodes->n || nodes->n > FL_MAX_NODES) {
		fl_seterr(err, errlen, "no node %zu in a cluster of %zu", i, nodes ? nodes->n : 0);
		return -EINVAL;
	}
	return master ? master_name(nodes, master, MASTER_NAME_MAX + 1, err, errlen) : 0;
}

/* <data_root>/<name>, created when missing. */
static int make_data_dir(const struct fl_sys_nodes *nodes, size_t i, char **out, char *err,
			 size_t errlen)
{
	struct fl_sbuf dd = { 0 };

	data_dir(nodes, i, &dd);
	if (dd.oom) {
		free(dd.p);
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	{
		int r = fl_sys_node_mkdir(nodes, i, dd.p, err, errlen);
		if (r < 0) {
			free(dd.p);
			return r;
		}
	}
	*out = dd.p;
	return 0;
}

/* --- node and sentinel argv --------------------------------------------------------- */

static int redis_node_argv(const struct fl_scenario *s, const struct fl_sys_nodes *nodes,
			   size_t i, char ***argvp, char *err, size_t errlen)
{
	struct fl_argv v = { 0 };
	char *dd = NULL, a[20], a0[20];
	int r;

	r = check_node(nodes, i, NULL, err, errlen);
	if (r < 0)
		return r;
	r = make_data_dir(nodes, i, &dd, err, errlen);
	if (r < 0)
		return r;
	ip4(nodes->addrs[i], a, sizeof(a));
	ip4(nodes->addrs[0], a0, sizeof(a0));
	if ((r = fl_sys_add_program(&v, s, "redis-server", err, errlen)) < 0) {
		free(dd);
		return r;
	}
	fl_argv_add(&v, "--port");
	fl_argv_addf(&v, "%d", FL_REDIS_PORT);
	fl_argv_add(&v, "--bind");
	fl_argv_add(&v, a);
	fl_argv_add(&v, "--protected-mode");
	fl_argv_add(&v, "no");
	fl_argv_add(&v, "--dir");
	fl_argv_add(&v, dd);
	/* no snapshots: the data set lives in memory only */
	fl_argv_add(&v, "--save");
	fl_argv_add(&v, "");
	fl_argv_add(&v, "--appendonly");
	fl_argv_add(&v, "no");
	fl_argv_add(&v, "--daemonize");
	fl_argv_add(&v, "no");
	/* what the primary (and so the sentinels) know this replica by, whatever
	 * source address its connection gets */
	fl_argv_add(&v, "--replica-announce-ip");
	fl_argv_add(&v, a);
	if (i > 0) {
		fl_argv_add(&v, "--replicaof");
		fl_argv_add(&v, a0);
		fl_argv_addf(&v, "%d", FL_REDIS_PORT);
	}
	r = fl_sys_argv_finish(&v, s, nodes, i, FL_REDIS_PORT, argvp, err, errlen);
	free(dd);
	return r;
}

static int redis_sidecar_argv(const struct fl_scenario *s, const struct fl_sys_nodes *nodes,
			      size_t i, char ***argvp, char *name, size_t namelen, char *err,
			      size_t errlen)
{
	char master[MASTER_NAME_MAX + 1], a[20], a0[20], *dd = NULL, *conf = NULL;
	struct fl_argv v = { 0 };
	unsigned down_after, failover;
	struct fl_sbuf b = { 0 };
	int r;

	r = check_node(nodes, i, master, err, errlen);
	if (r < 0)
		return r;
	r = make_data_dir(nodes, i, &dd, err, errlen);
	if (r < 0)
		return r;
	if (strpbrk(dd, "\"\\\r\n")) {
		fl_seterr(err, errlen, "data directory '%s' cannot go into sentinel.conf", dd);
		free(dd);
		return -EINVAL;
	}
	fl_redis_timing(s, &down_after, &failover);
	ip4(nodes->addrs[i], a, sizeof(a));
	ip4(nodes->addrs[0], a0, sizeof(a0));
	fl_sbuf_printf(&b, "# written by faultline for node %s; the sentinel rewrites it as it runs\n",
		  nodes->names[i]);
	fl_sbuf_printf(&b, "port %d\nbind %s\nprotected-mode no\ndaemonize no\n",
		  FL_REDIS_SENTINEL_PORT, a);
	fl_sbuf_str(&b, "dir \"");
	fl_sbuf_str(&b, dd);
	fl_sbuf_str(&b, "\"\n");
	fl_sbuf_printf(&b, "sentinel announce-ip %s\n", a);
	fl_sbuf_printf(&b, "sentinel monitor %s %s %d %zu\n", master, a0, FL_REDIS_PORT,
		  nodes->n / 2 + 1);
	fl_sbuf_printf(&b, "sentinel down-after-milliseconds %s %u\n", master, down_after);
	fl_sbuf_printf(&b, "sentinel failover-timeout %s %u\n", master, failover);
	fl_sbuf_printf(&b, "sentinel parallel-syncs %s 1\n", master);
	if (b.oom || asprintf(&conf, "%s/sentinel.conf", dd) < 0) {
		conf = NULL;
		goto oom;
	}
	if ((r = fl_sys_node_write(nodes, i, conf, b.p, err, errlen)) < 0)
		goto fail;
	/* a system.binary other than the default is a redis-server of its own:
	 * its sentinel mode, so that servers and sentinels are one build */
	if (s && s->system.binary && strcmp(s->system.binary, "redis-server")) {
		if ((r = fl_sys_add_program(&v, s, "redis-server", err, errlen)) < 0)
			goto fail;
		fl_argv_add(&v, conf);
		fl_argv_add(&v, "--sentinel");
	} else {
		fl_argv_add(&v, "redis-sentinel");
		fl_argv_add(&v, conf);
	}
	if (!(*argvp = fl_argv_take(&v)))
		goto oom;
	snprintf(name, namelen, "sentinel");
	r = 0;
	goto out;
oom:
	fl_seterr(err, errlen, "out of memory");
	r = -ENOMEM;
fail:
out:
	free(b.p);
	free(dd);
	free(conf);
	return r;
}

/* --- connections ----------------------------------------------------------------------- */

struct conn {
	int fd;            /* -1: not connected */
	uint32_t addr;
	int port;
	struct fl_sbuf in;    /* received, not yet taken as a reply */
};

static void conn_close(struct conn *cn)
{
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
	cn->in.len = 0;
}

static int ms_left(int64_t deadline)
{
	int64_t l = deadline - now_ns();

	if (l <= 0)
		return 0;
	l = (l + FL_NS_PER_MS - 1) / FL_NS_PER_MS;
	return l > INT_MAX ? INT_MAX : (int)l;
}

/* 1: fd is ready for ev; 0: deadline passed; -errno. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		return r > 0;
	}
}

static int conn_connect(struct conn *cn, uint32_t addr, int port, int64_t deadline)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(addr) };
	int fd, one = 1, soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			return r;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			close(fd);
			return r ? r : -ETIMEDOUT;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			close(fd);
			return -soerr;
		}
	}
	cn->fd = fd;
	cn->addr = addr;
	cn->port = port;
	cn->in.len = 0;
	return 0;
}

/* A kept connection the server has closed, or one holding bytes nobody asked
 * for, is of no use. Finding out before sending keeps "nothing was sent"
 * true: the request then goes out on a new connection. */
static int conn_usable(struct conn *cn)
{
	char b;
	ssize_t n = recv(cn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * Send req on cn (connected to addr:port first when it is not) and read one
 * reply, all by deadline. *sent says whether the whole request went out: a
 * server cannot act on part of a command, so only then may it have had an
 * effect. Any failure closes the connection, so that a late reply is never
 * taken for the answer to the next request.
 */
static int conn_call(struct conn *cn, uint32_t addr, int port, const char *req, size_t reqlen,
		     int64_t deadline, struct fl_resp **reply, int *sent)
{
	size_t off = 0;
	int r;

	*reply = NULL;
	*sent = 0;
	if (cn->fd >= 0 && (cn->addr != addr || cn->port != port || !conn_usable(cn)))
		conn_close(cn);
	if (cn->fd < 0) {
		r = conn_connect(cn, addr, port, deadline);
		if (r < 0)
			return r;
	}
	while (off < reqlen) {
		ssize_t n = send(cn->fd, req + off, reqlen - off, MSG_NOSIGNAL);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			r = wait_fd(cn->fd, POLLOUT, deadline);
			if (r > 0)
				continue;
			r = r ? r : -ETIMEDOUT;
		} else {
			r = errno == EPIPE ? -ECONNRESET : -errno;
		}
		conn_close(cn);
		return r;
	}
	*sent = 1;
	/* read whatever is there, then parse: a large reply is parsed a few
	 * times, not once per chunk */
	for (int drained = 0;;) {
		size_t used;
		ssize_t n;

		if (drained || cn->in.len >= MAX_REPLY) {
			r = fl_resp_parse(cn->in.p, cn->in.len, reply, &used);
			if (r == 0) {
				if (used < cn->in.len)
					conn_close(cn); /* more than one reply to one request */
				else
					cn->in.len = 0;
				return 0;
			}
			if (r == -EAGAIN && cn->in.len >= MAX_REPLY)
				r = -EFBIG;
			if (r != -EAGAIN)
				break;
			r = wait_fd(cn->fd, POLLIN, deadline);
			if (r <= 0) {
				r = r ? r : -ETIMEDOUT;
				break;
			}
			drained = 0;
		}
		if (fl_sbuf_reserve(&cn->in, READ_CHUNK) < 0) {
			cn->in.oom = 0;
			r = -ENOMEM;
			break;
		}
		n = recv(cn->fd, cn->in.p + cn->in.len, cn->in.cap - cn->in.len - 1, 0);
		if (n > 0) {
			cn->in.len += (size_t)n;
		} else if (n == 0) {
			/* a server may answer and hang up */
			r = fl_resp_parse(cn->in.p, cn->in.len, reply, &used);
			if (r < 0)
				r = -ECONNRESET;
			break;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			drained = 1;
		} else if (errno != EINTR) {
			r = -errno;
			break;
		}
	}
	conn_close(cn);
	return r;
}

/* --- the client ------------------------------------------------------------------------- */

struct redis_client {
	char master[MASTER_NAME_MAX + 1];
	size_t n;
	uint32_t addrs[FL_MAX_NODES];
	char names[FL_MAX_NODES][FL_NODE_NAME_MAX + 1];
	struct conn sentinel;   /* this node's sentinel */
	struct conn local;      /* this node's own server */
	struct conn primary;    /* the primary the sentinel named */
	uint32_t primary_addr;
	int primary_port;       /* 0: ask the sentinel before the next request */
};

enum target { T_SENTINEL, T_LOCAL, T_PRIMARY };
enum req_kind { REQ_READ, REQ_WRITE };

static const char *const target_names[] = { "sentinel", "server", "primary" };

static int redis_client_open(const struct fl_sys_nodes *nodes, size_t i,
			     struct fl_sys_client **out, char *err, size_t errlen)
{
	struct fl_sys_client *c;
	struct redis_client *rc;
	char master[MASTER_NAME_MAX + 1];
	int r;

	r = check_node(nodes, i, master, err, errlen);
	if (r < 0)
		return r;
	r = fl_sys_client_new(&fl_redis_ops, nodes, i, sizeof(*rc), &c, err, errlen);
	if (r < 0)
		return r;
	rc = c->impl;
	snprintf(rc->master, sizeof(rc->master), "%s", master);
	rc->n = nodes->n;
	for (size_t k = 0; k < nodes->n; k++) {
		rc->addrs[k] = nodes->addrs[k];
		snprintf(rc->names[k], sizeof(rc->names[k]), "%s", nodes->names[k]);
	}
	rc->sentinel.fd = rc->local.fd = rc->primary.fd = -1;
	*out = c;
	return 0;
}

static void redis_client_close(struct fl_sys_client *c)
{
	struct redis_client *rc = c ? c->impl : NULL;

	if (rc) {
		conn_close(&rc->sentinel);
		conn_close(&rc->local);
		conn_close(&rc->primary);
		free(rc->sentinel.in.p);
		free(rc->local.in.p);
		free(rc->primary.in.p);
	}
	fl_sys_client_free(c);
}

static int64_t deadline_ms(int timeout_ms)
{
	return now_ns() + (int64_t)(timeout_ms < 1 ? 1 : timeout_ms) * FL_NS_PER_MS;
}

/* What an error reply's first word says; errors that mean "not now" are -EAGAIN. */
static int reply_errno(const char *e)
{
	static const struct { const char *word; int err; } map[] = {
		{ "READONLY", EROFS }, { "MASTERDOWN", EAGAIN }, { "LOADING", EAGAIN },
		{ "TRYAGAIN", EAGAIN }, { "NOREPLICAS", EAGAIN }, { "BUSY", EBUSY },
		{ "WRONGTYPE", EINVAL }, { "NOSCRIPT", ENOENT }, { "NOAUTH", EACCES },
		{ "NOPERM", EACCES },
	};
	size_t n = strcspn(e, " ");

	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
		if (n == strlen(map[k].word) && !strncmp(e, map[k].word, n))
			return -map[k].err;
	return -EIO;
}

static const char *why(int r, int sent, char *buf, size_t len)
{
	switch (r) {
	case -ECONNREFUSED: return "connection refused";
	case -ECONNRESET: return sent ? "connection lost after sending" : "connection lost";
	case -EPROTO: return "malformed reply";
	case -EFBIG: return "reply too large";
	case -ENOMEM: return "out of memory";
	default:
		snprintf(buf, len, "%s", strerror(-r));
		if (buf[0] >= 'A' && buf[0] <= 'Z')
			buf[0] = (char)(buf[0] - 'A' + 'a');
		return buf;
	}
}

static int resolve(struct fl_sys_client *c, int64_t deadline, char *err, size_t errlen);

/*
 * One command to a target, by deadline; *reply only when it is not an error
 * reply. *outcome follows system.h: FAIL when nothing went out, for every
 * read, and for error replies (redis checks a command before it runs it,
 * and our only script writes last); INFO when a write went out and its
 * answer did not come back, or the server said it timed out.
 */
static int request(struct fl_sys_client *c, enum target t, enum req_kind kind, int64_t deadline,
		   const char *const *argv, size_t argc, struct fl_resp **reply,
		   enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct redis_client *rc = c->impl;
	struct conn *cn;
	uint32_t addr;
	int port, sent = 0, r;
	char *req, a[20], buf[128];
	size_t reqlen;

	*reply = NULL;
	*outcome = FL_OUTCOME_FAIL;
	switch (t) {
	case T_SENTINEL:
		cn = &rc->sentinel;
		addr = rc->addrs[c->index];
		port = FL_REDIS_SENTINEL_PORT;
		break;
	case T_LOCAL:
		cn = &rc->local;
		addr = rc->addrs[c->index];
		port = FL_REDIS_PORT;
		break;
	default:
		if (!rc->primary_port) {
			r = resolve(c, deadline, err, errlen);
			if (r < 0)
				return r;
		}
		cn = &rc->primary;
		addr = rc->primary_addr;
		port = rc->primary_port;
		break;
	}
	ip4(addr, a, sizeof(a));
	r = fl_resp_command(argv, NULL, argc, &req, &reqlen);
	if (r < 0) {
		fl_seterr(err, errlen, "out of memory");
		return r;
	}
	r = conn_call(cn, addr, port, req, reqlen, deadline, reply, &sent);
	free(req);
	if (r < 0) {
		if (t == T_PRIMARY)
			rc->primary_port = 0;
		*outcome = kind == REQ_WRITE && sent ? FL_OUTCOME_INFO : FL_OUTCOME_FAIL;
		if (r == -ETIMEDOUT)
			fl_seterr(err, errlen, "node %s: %s %s:%d: no answer in time%s", c->node,
			       target_names[t], a, port, sent ? "" : " (not sent)");
		else
			fl_seterr(err, errlen, "node %s: %s %s:%d: %s", c->node, target_names[t], a,
			       port, why(r, sent, buf, sizeof(buf)));
		return r;
	}
	if ((*reply)->type == FL_RESP_ERROR) {
		const char *e = (*reply)->str;
		int timedout = strcasestr(e, "timeout") || strcasestr(e, "timed out");

		/* READONLY (a demoted primary), MASTERDOWN, ...: ask the sentinel again */
		if (t == T_PRIMARY)
			rc->primary_port = 0;
		*outcome = kind == REQ_WRITE && timedout ? FL_OUTCOME_INFO : FL_OUTCOME_FAIL;
		r = timedout ? -ETIMEDOUT : reply_errno(e);
		fl_seterr(err, errlen, "node %s: %s %s:%d: %s", c->node, target_names[t], a, port, e);
		fl_resp_free(*reply);
		*reply = NULL;
		return r;
	}
	*outcome = FL_OUTCOME_OK;
	return 0;
}

/* An answer of an unexpected shape: it came, so a write happened or not, we cannot tell. */
static int bad_reply(struct fl_sys_client *c, enum req_kind kind, const char *cmd,
		     struct fl_resp *reply, enum fl_outcome *outcome, char *err, size_t errlen)
{
	fl_resp_free(reply);
	*outcome = kind == REQ_WRITE ? FL_OUTCOME_INFO : FL_OUTCOME_FAIL;
	fl_seterr(err, errlen, "node %s: unexpected answer to %s", c->node, cmd);
	return -EPROTO;
}

#define WANT(t) (1u << (t))

/* The command's name in errors: SENTINEL and INFO with their subcommand. */
static const char *cmd_name(const char *const *argv, size_t argc, char *buf, size_t len)
{
	if (argc > 1 && (!strcmp(argv[0], "SENTINEL") || !strcmp(argv[0], "INFO")))
		snprintf(buf, len, "%s %s", argv[0], argv[1]);
	else
		snprintf(buf, len, "%s", argv[0]);
	return buf;
}

/* request(), and a reply of one of the types in want (WANT(FL_RESP_...) |
 * ...); any other is bad_reply()'s. */
static int ask(struct fl_sys_client *c, enum target t, enum req_kind kind, int64_t deadline,
	       const char *const *argv, size_t argc, unsigned want, struct fl_resp **reply,
	       enum fl_outcome *outcome, char *err, size_t errlen)
{
	char name[64];
	int r;

	r = request(c, t, kind, deadline, argv, argc, reply, outcome, err, errlen);
	if (r < 0 || (want & WANT((*reply)->type)))
		return r;
	r = bad_reply(c, kind, cmd_name(argv, argc, name, sizeof(name)), *reply, outcome, err,
		      errlen);
	*reply = NULL;
	return r;
}

static int parse_ip(const struct fl_resp *v, uint32_t *addr)
{
	struct in_addr ia;

	if (v->type != FL_RESP_BULK || v->len >= 16 || inet_pton(AF_INET, v->str, &ia) != 1)
		return -EPROTO;
	*addr = ntohl(ia.s_addr);
	return 0;
}

/* SENTINEL get-master-addr-by-name: *known 0 when the sentinel names none. */
static int ask_primary(struct fl_sys_client *c, int64_t deadline, int *known, uint32_t *addr,
		       int *port, char *err, size_t errlen)
{
	struct redis_client *rc = c->impl;
	const char *argv[] = { "SENTINEL", "get-master-addr-by-name", rc->master };
	struct fl_resp *rep;
	enum fl_outcome o;
	char *end;
	long p;
	int r;

	*known = 0;
	r = ask(c, T_SENTINEL, REQ_READ, deadline, argv, 3, WANT(FL_RESP_NIL) | WANT(FL_RESP_ARRAY),
		&rep, &o, err, errlen);
	if (r < 0)
		return r;
	if (rep->type == FL_RESP_NIL) {
		fl_resp_free(rep);
		return 0;
	}
	if (rep->n != 2 || parse_ip(&rep->elems[0], addr) < 0 ||
	    rep->elems[1].type != FL_RESP_BULK)
		return bad_reply(c, REQ_READ, "SENTINEL get-master-addr-by-name", rep, &o, err,
				 errlen);
	errno = 0;
	p = strtol(rep->elems[1].str, &end, 10);
	if (errno || *end || end == rep->elems[1].str || p < 1 || p > 65535)
		return bad_reply(c, REQ_READ, "SENTINEL get-master-addr-by-name", rep, &o, err,
				 errlen);
	fl_resp_free(rep);
	*port = (int)p;
	*known = 1;
	return 0;
}

static int resolve(struct fl_sys_client *c, int64_t deadline, char *err, size_t errlen)
{
	struct redis_client *rc = c->impl;
	uint32_t addr;
	int known, port, r;

	r = ask_primary(c, deadline, &known, &addr, &port, err, errlen);
	if (r < 0)
		return r;
	if (!known) {
		fl_seterr(err, errlen, "node %s: sentinel names no primary for '%s'", c->node,
		       rc->master);
		return -EAGAIN;
	}
	rc->primary_addr = addr;
	rc->primary_port = port;
	return 0;
}

/* What a node's sentinel thinks of the primary. */
struct sentinel_view {
	int known;                  /* it names a primary */
	uint32_t addr;
	int port;
	uint64_t epoch;             /* config-epoch */
	char flags[96];             /* "master", "s_down,master", ... */
	long long other_sentinels;  /* num-other-sentinels */
	long long replicas;         /* num-slaves */
};

static const char *field(const struct fl_resp *pairs, const char *name)
{
	for (size_t k = 0; k + 1 < pairs->n; k += 2)
		if (pairs->elems[k].type == FL_RESP_BULK && !strcmp(pairs->elems[k].str, name) &&
		    pairs->elems[k + 1].type == FL_RESP_BULK)
			return pairs->elems[k + 1].str;
	return NULL;
}

static int sentinel_view(struct fl_sys_client *c, int64_t deadline, struct sentinel_view *v,
			 char *err, size_t errlen)
{
	struct redis_client *rc = c->impl;
	const char *argv[] = { "SENTINEL", "master", rc->master };
	const char *epoch, *flags, *others, *slaves;
	struct fl_resp *rep;
	enum fl_outcome o;
	char *end;
	int r;

	memset(v, 0, sizeof(*v));
	r = ask_primary(c, deadline, &v->known, &v->addr, &v->port, err, errlen);
	if (r < 0)
		return r;
	r = ask(c, T_SENTINEL, REQ_READ, deadline, argv, 3, WANT(FL_RESP_ARRAY), &rep, &o, err,
		errlen);
	if (r < 0)
		return r;
	if (!(epoch = field(rep, "config-epoch")) ||
	    !(flags = field(rep, "flags")) || !(others = field(rep, "num-other-sentinels")) ||
	    !(slaves = field(rep, "num-slaves")))
		return bad_reply(c, REQ_READ, "SENTINEL master", rep, &o, err, errlen);
	errno = 0;
	v->epoch = strtoull(epoch, &end, 10);
	if (errno || *end || end == epoch)
		return bad_reply(c, REQ_READ, "SENTINEL master", rep, &o, err, errlen);
	v->other_sentinels = strtoll(others, NULL, 10);
	v->replicas = strtoll(slaves, NULL, 10);
	snprintf(v->flags, sizeof(v->flags), "%s", flags);
	fl_resp_free(rep);
	return 0;
}

static int node_of(const struct redis_client *rc, uint32_t addr)
{
	for (size_t k = 0; k < rc->n; k++)
		if (rc->addrs[k] == addr)
			return (int)k;
	return -1;
}

static int redis_status(struct fl_sys_client *c, int timeout_ms, struct fl_sys_status *st,
			enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct redis_client *rc = c->impl;
	struct sentinel_view v;
	int r, k;

	memset(st, 0, sizeof(*st));
	snprintf(st->node, sizeof(st->node), "%s", c->node);
	*outcome = FL_OUTCOME_FAIL;
	r = sentinel_view(c, deadline_ms(timeout_ms), &v, err, errlen);
	if (r < 0)
		return r;
	st->member_id = c->index + 1;
	st->term = v.epoch;
	if (v.known && (k = node_of(rc, v.addr)) >= 0) {
		snprintf(st->leader, sizeof(st->leader), "%s", rc->names[k]);
		st->leader_id = (uint64_t)k + 1;
	}
	*outcome = FL_OUTCOME_OK;
	return 0;
}

/* --- client operations ------------------------------------------------------------------- */

static int redis_get(struct fl_sys_client *c, const char *key, int serializable, int timeout_ms,
		     char **value, enum fl_outcome *outcome, char *err, size_t errlen)
{
	const char *argv[] = { "GET", key };
	struct fl_resp *rep;
	int r;

	*value = NULL;
	r = ask(c, serializable ? T_LOCAL : T_PRIMARY, REQ_READ, deadline_ms(timeout_ms), argv, 2,
		WANT(FL_RESP_NIL) | WANT(FL_RESP_BULK), &rep, outcome, err, errlen);
	if (r < 0)
		return r;
	if (rep->type == FL_RESP_NIL) {
		fl_resp_free(rep);
		return 0;
	}
	*value = rep->str; /* NUL-terminated by the parser */
	rep->str = NULL;
	fl_resp_free(rep);
	return 0;
}

/* A write on the primary answered by a reply of a type in want: a simple
 * string, ok (when not NULL); an integer, into *integer (when not NULL). */
static int write_cmd(struct fl_sys_client *c, const char *const *argv, size_t argc, unsigned want,
		     const char *ok, long long *integer, int timeout_ms, enum fl_outcome *outcome,
		     char *err, size_t errlen)
{
	struct fl_resp *rep;
	int r;

	r = ask(c, T_PRIMARY, REQ_WRITE, deadline_ms(timeout_ms), argv, argc, want, &rep, outcome,
		err, errlen);
	if (r < 0)
		return r;
	if (ok && (rep->type != FL_RESP_SIMPLE || strcmp(rep->str, ok)))
		return bad_reply(c, REQ_WRITE, argv[0], rep, outcome, err, errlen);
	if (integer)
		*integer = rep->integer;
	fl_resp_free(rep);
	return 0;
}

static int redis_put(struct fl_sys_client *c, const char *key, const char *value, int timeout_ms,
		     enum fl_outcome *outcome, char *err, size_t errlen)
{
	const char *argv[] = { "SET", key, value };

	return write_cmd(c, argv, 3, WANT(FL_RESP_SIMPLE), "OK", NULL, timeout_ms, outcome, err,
			 errlen);
}

/* Compare, then set, atomically on the primary; the set is the script's
 * last step, so an error reply means nothing was written. */
static const char cas_script[] =
	"local v = redis.call('GET', KEYS[1])\n"
	"if v == ARGV[1] then\n"
	"  redis.call('SET', KEYS[1], ARGV[2])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

static int redis_cas(struct fl_sys_client *c, const char *key, const char *expect,
		     const char *value, int timeout_ms, enum fl_outcome *outcome, char *err,
		     size_t errlen)
{
	const char *argv[] = { "EVAL", cas_script, "1", key, expect, value };
	long long set;
	int r;

	r = write_cmd(c, argv, 6, WANT(FL_RESP_INT), NULL, &set, timeout_ms, outcome, err, errlen);
	if (r < 0)
		return r;
	if (set == 1)
		return 0;
	if (set != 0) {
		*outcome = FL_OUTCOME_INFO; /* an answer we cannot read: written or not */
		return fl_fail(-EPROTO, err, errlen, "node %s: unexpected answer to EVAL", c->node);
	}
	*outcome = FL_OUTCOME_FAIL;
	return fl_fail(-ECANCELED, err, errlen, "node %s: compare failed: '%s' is not '%s'",
		       c->node, key, expect);
}

static int redis_add(struct fl_sys_client *c, const char *key, const char *elem, int timeout_ms,
		     enum fl_outcome *outcome, char *err, size_t errlen)
{
	const char *argv[] = { "SADD", key, elem };

	return write_cmd(c, argv, 3, WANT(FL_RESP_INT), NULL, NULL, timeout_ms, outcome, err,
			 errlen);
}

/* The bulk strings of an array as a NULL-terminated strv (taking them over). */
static int take_strv(struct fl_resp *arr, char ***out)
{
	char **v;

	for (size_t k = 0; k < arr->n; k++)
		if (arr->elems[k].type != FL_RESP_BULK)
			return -EPROTO;
	v = calloc(arr->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t k = 0; k < arr->n; k++) {
		v[k] = arr->elems[k].str;
		arr->elems[k].str = NULL;
	}
	*out = v;
	return 0;
}

static int redis_read_set(struct fl_sys_client *c, const char *key, int serializable,
			  int timeout_ms, char ***elems, enum fl_outcome *outcome, char *err,
			  size_t errlen)
{
	const char *argv[] = { "SMEMBERS", key };
	struct fl_resp *rep;
	int r;

	*elems = NULL;
	r = ask(c, serializable ? T_LOCAL : T_PRIMARY, REQ_READ, deadline_ms(timeout_ms), argv, 2,
		WANT(FL_RESP_ARRAY), &rep, outcome, err, errlen);
	if (r < 0)
		return r;
	r = take_strv(rep, elems);
	if (r == -EPROTO)
		return bad_reply(c, REQ_READ, "SMEMBERS", rep, outcome, err, errlen);
	fl_resp_free(rep);
	if (r < 0) {
		*outcome = FL_OUTCOME_FAIL;
		fl_seterr(err, errlen, "out of memory");
	}
	return r;
}

/* --- digest ---------------------------------------------------------------------------- */

struct bytes {
	char *p;
	size_t len;
};

static int bytes_cmp(const void *a, const void *b)
{
	const struct bytes *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void bytes_free(struct bytes *v, size_t n)
{
	for (size_t k = 0; v && k < n; k++)
		free(v[k].p);
	free(v);
}

/* A field of an INFO answer ("name:value" lines). */
static int info_field(const struct fl_resp *info, const char *name, char *val, size_t vallen)
{
	size_t nl = strlen(name);

	if (info->type != FL_RESP_BULK)
		return -EPROTO;
	for (const char *p = info->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ':') {
			size_t n = strcspn(p + nl + 1, "\r\n");

			snprintf(val, vallen, "%.*s", (int)n, p + nl + 1);
			return 0;
		}
	}
	return -ENOENT;
}

/* Every key of the node's own server, sorted bytewise, each once (SCAN may
 * return a key twice). */
static int scan_keys(struct fl_sys_client *c, int64_t deadline, struct bytes **keys,
		     size_t *nkeys, char *err, size_t errlen)
{
	struct bytes *v = NULL;
	size_t n = 0, cap = 0, out = 0;
	char cursor[32] = "0";
	enum fl_outcome o;
	int r;

	do {
		const char *argv[] = { "SCAN", cursor, "COUNT", SCAN_COUNT };
		struct fl_resp *rep, *ks;

		r = request(c, T_LOCAL, REQ_READ, deadline, argv, 4, &rep, &o, err, errlen);
		if (r < 0)
			goto fail;
		if (rep->type != FL_RESP_ARRAY || rep->n != 2 || rep->elems[0].type != FL_RESP_BULK ||
		    rep->elems[0].len >= sizeof(cursor) || rep->elems[1].type != FL_RESP_ARRAY) {
			r = bad_reply(c, REQ_READ, "SCAN", rep, &o, err, errlen);
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->elems[0].str);
		ks = &rep->elems[1];
		for (size_t k = 0; k < ks->n; k++) {
			if (ks->elems[k].type != FL_RESP_BULK) {
				r = bad_reply(c, REQ_READ, "SCAN", rep, &o, err, errlen);
				goto fail;
			}
			if (n == cap) {
				struct bytes *nv = realloc(v, (cap ? cap * 2 : 64) * sizeof(*v));

				if (!nv) {
					fl_resp_free(rep);
					r = -ENOMEM;
					fl_seterr(err, errlen, "out of memory");
					goto fail;
				}
				v = nv;
				cap = cap ? cap * 2 : 64;
			}
			v[n].p = ks->elems[k].str;
			v[n++].len = ks->elems[k].len;
			ks->elems[k].str = NULL;
		}
		fl_resp_free(rep);
	} while (strcmp(cursor, "0"));
	if (n)
		qsort(v, n, sizeof(*v), bytes_cmp);
	for (size_t k = 0; k < n; k++) {
		if (out && !bytes_cmp(&v[out - 1], &v[k])) {
			free(v[k].p);
			continue;
		}
		v[out++] = v[k];
	}
	*keys = v;
	*nkeys = out;
	return 0;
fail:
	bytes_free(v, n);
	return r;
}

static int string_value(struct fl_sys_client *c, int64_t deadline, const struct bytes *key,
			struct fl_sbuf *val, int *skip, char *err, size_t errlen)
{
	const char *argv[] = { "GET", key->p };
	struct fl_resp *g;
	enum fl_outcome o;
	int r;

	r = ask(c, T_LOCAL, REQ_READ, deadline, argv, 2, WANT(FL_RESP_NIL) | WANT(FL_RESP_BULK), &g,
		&o, err, errlen);
	if (r < 0)
		return r;
	if (g->type == FL_RESP_NIL)
		*skip = 1; /* gone since TYPE */
	else
		fl_sbuf_add(val, g->str, g->len);
	fl_resp_free(g);
	return 0;
}

/* A set's members, sorted, joined by "\n" (an empty set: ""). */
static int set_value(struct fl_sys_client *c, int64_t deadline, const struct bytes *key,
		     struct fl_sbuf *val, char *err, size_t errlen)
{
	const char *argv[] = { "SMEMBERS", key->p };
	struct fl_resp *m;
	struct bytes *e;
	enum fl_outcome o;
	int r;

	r = ask(c, T_LOCAL, REQ_READ, deadline, argv, 2, WANT(FL_RESP_ARRAY), &m, &o, err, errlen);
	if (r < 0)
		return r;
	for (size_t k = 0; k < m->n; k++)
		if (m->elems[k].type != FL_RESP_BULK)
			return bad_reply(c, REQ_READ, "SMEMBERS", m, &o, err, errlen);
	e = calloc(m->n ? m->n : 1, sizeof(*e));
	if (!e) {
		fl_resp_free(m);
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t k = 0; k < m->n; k++) {
		e[k].p = m->elems[k].str; /* borrowed from m */
		e[k].len = m->elems[k].len;
	}
	qsort(e, m->n, sizeof(*e), bytes_cmp);
	for (size_t k = 0; k < m->n; k++) {
		if (k)
			fl_sbuf_add(val, "\n", 1);
		fl_sbuf_add(val, e[k].p, e[k].len);
	}
	free(e);
	fl_resp_free(m);
	return 0;
}

/* The value a key contributes: a string as it is, a set as its elements
 * sorted and joined by "\n", any other type as "<type>". *val malloc'd;
 * *skip when the key went away since the scan. */
static int key_value(struct fl_sys_client *c, int64_t deadline, const struct bytes *key,
		     struct fl_sbuf *val, int *skip, char *err, size_t errlen)
{
	const char *targv[] = { "TYPE", key->p };
	struct fl_resp *rep;
	enum fl_outcome o;
	int r;

	*skip = 0;
	val->len = 0;
	fl_sbuf_add(val, "", 0);
	r = ask(c, T_LOCAL, REQ_READ, deadline, targv, 2, WANT(FL_RESP_SIMPLE), &rep, &o, err,
		errlen);
	if (r < 0)
		return r;
	if (!strcmp(rep->str, "none")) {
		*skip = 1;
	} else if (!strcmp(rep->str, "string")) {
		r = string_value(c, deadline, key, val, skip, err, errlen);
	} else if (!strcmp(rep->str, "set")) {
		r = set_value(c, deadline, key, val, err, errlen);
	} else {
		fl_sbuf_printf(val, "<%s>", rep->str);
	}
	fl_resp_free(rep);
	if (r == 0 && val->oom) {
		fl_seterr(err, errlen, "out of memory");
		r = -ENOMEM;
	}
	return r;
}

static int redis_digest(struct fl_sys_client *c, int timeout_ms, char hex[FL_DIGEST_HEX],
			int64_t *revision, size_t *nkeys, char *err, size_t errlen)
{
	const char *iargv[] = { "INFO", "replication" };
	int64_t deadline = deadline_ms(timeout_ms);
	struct bytes *keys = NULL;
	struct fl_sbuf val = { 0 };
	struct fl_resp *rep;
	uint64_t h = FL_FNV64_INIT;
	size_t n = 0, count = 0;
	enum fl_outcome o;
	char off[32], *end;
	long long offset;
	int r;

	/* the replication offset first: the state read is at least this far along */
	r = request(c, T_LOCAL, REQ_READ, deadline, iargv, 2, &rep, &o, err, errlen);
	if (r < 0)
		return r;
	if (info_field(rep, "master_repl_offset", off, sizeof(off)) < 0)
		return bad_reply(c, REQ_READ, "INFO replication", rep, &o, err, errlen);
	fl_resp_free(rep);
	errno = 0;
	offset = strtoll(off, &end, 10);
	if (errno || *end || end == off) {
		fl_seterr(err, errlen, "node %s: master_repl_offset '%s' is not a number", c->node, off);
		return -EPROTO;
	}
	r = scan_keys(c, deadline, &keys, &n, err, errlen);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		int skip;

		r = key_value(c, deadline, &keys[k], &val, &skip, err, errlen);
		if (r < 0)
			break;
		if (skip)
			continue;
		h = fl_digest_add(h, keys[k].p, keys[k].len, val.p, val.len);
		count++;
	}
	bytes_free(keys, n);
	free(val.p);
	if (r < 0)
		return r;
	fl_digest_done(h, offset, count, hex, revision, nkeys);
	return 0;
}

/* --- readiness ---------------------------------------------------------------------------- */


/* Replicas the primary calls online (INFO replication "slaveN:...,state=online,..."). */
static int online_replicas(const struct fl_resp *info, char *role, size_t rolelen)
{
	int n = 0;

	if (info_field(info, "role", role, rolelen) < 0)
		snprintf(role, rolelen, "?");
	for (const char *p = info->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t len = strcspn(p, "\r\n");

		if (!strncmp(p, "slave", 5) && p[5] >= '0' && p[5] <= '9' &&
		    memmem(p, len, "state=online", 12))
			n++;
	}
	return n;
}

/* One look at the cluster: 0 when ready (leader set), else why says what is missing. */
static int ready_once(const struct fl_sys_nodes *nodes, struct fl_sys_client **cl, int tmo,
		      char *leader, size_t leaderlen, char *why_, size_t whylen)
{
	struct redis_client *rc = cl[0]->impl;
	const char *iargv[] = { "INFO", "replication" };
	struct sentinel_view v, first = { 0 };
	struct fl_resp *rep;
	enum fl_outcome o;
	char role[32] = "?", e1[200];
	int k, online;

	for (size_t i = 0; i < nodes->n; i++) {
		if (sentinel_view(cl[i], deadline_ms(tmo), &v, e1, sizeof(e1)) < 0) {
			snprintf(why_, whylen, "%s", e1);
			return -EAGAIN;
		}
		if (!v.known) {
			snprintf(why_, whylen, "the sentinel of %s names no primary", nodes->names[i]);
			return -EAGAIN;
		}
		if (strcmp(v.flags, "master")) {
			snprintf(why_, whylen, "the sentinel of %s flags the primary '%s'",
				 nodes->names[i], v.flags);
			return -EAGAIN;
		}
		/* a replica the sentinels have not met yet (they read the primary's INFO
		 * every 10 s) would be left behind by a failover, replicating from the
		 * dead primary for good */
		if (v.replicas != (long long)nodes->n - 1) {
			snprintf(why_, whylen, "the sentinel of %s knows %lld replicas of %zu",
				 nodes->names[i], v.replicas, nodes->n - 1);
			return -EAGAIN;
		}
		if (v.other_sentinels != (long long)nodes->n - 1) {
			snprintf(why_, whylen, "the sentinel of %s knows %lld other sentinels of %zu",
				 nodes->names[i], v.other_sentinels, nodes->n - 1);
			return -EAGAIN;
		}
		if (i && (v.addr != first.addr || v.port != first.port)) {
			char a[20], b[20];

			ip4(first.addr, a, sizeof(a));
			ip4(v.addr, b, sizeof(b));
			snprintf(why_, whylen, "sentinels disagree on the primary: %s says %s, %s says %s",
				 nodes->names[0], a, nodes->names[i], b);
			return -EAGAIN;
		}
		if (!i)
			first = v;
	}
	k = node_of(rc, first.addr);
	if (k < 0) {
		char a[20];

		ip4(first.addr, a, sizeof(a));
		snprintf(why_, whylen, "the sentinels name a primary %s that is no node", a);
		return -EAGAIN;
	}
	/* the primary itself: every other node replicating from it */
	rc->primary_addr = first.addr;
	rc->primary_port = first.port;
	if (request(cl[0], T_PRIMARY, REQ_READ, deadline_ms(tmo), iargv, 2, &rep, &o, e1,
		    sizeof(e1)) < 0) {
		snprintf(why_, whylen, "%s", e1);
		return -EAGAIN;
	}
	online = rep->type == FL_RESP_BULK ? online_replicas(rep, role, sizeof(role)) : -1;
	fl_resp_free(rep);
	if (strcmp(role, "master") || online != (int)nodes->n - 1) {
		snprintf(why_, whylen, "primary %s: role %s, %d of %zu replicas online",
			 nodes->names[k], role, online, nodes->n - 1);
		return -EAGAIN;
	}
	if (leader && leaderlen)
		snprintf(leader, leaderlen, "%s", nodes->names[k]);
	return 0;
}

static int redis_wait_ready(const struct fl_sys_nodes *nodes, int64_t timeout_ns, char *leader,
			    size_t leaderlen, char *err, size_t errlen)
{
	return fl_sys_wait_ready(&fl_redis_ops, nodes, timeout_ns, 2000, "redis-server",
				 ready_once, leader, leaderlen, err, errlen);
}

const struct fl_system_ops fl_redis_ops = {
	.name = "redis",
	.final_reads_local = 1,
	.node_argv = redis_node_argv,
	.sidecar_argv = redis_sidecar_argv,
	.wait_ready = redis_wait_ready,
	.client_open = redis_client_open,
	.client_close = redis_client_close,
	.status = redis_status,
	.get = redis_get,
	.put = redis_put,
	.cas = redis_cas,
	.add = redis_add,
	.read_set = redis_read_set,
	.digest = redis_digest,
};
