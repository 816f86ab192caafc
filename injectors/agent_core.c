/* The agent engine: decode a request, run the op of the injector that owns
 * it, answer. Every change goes through the journal first (the injectors
 * call fl_journal_append before acting); heal replays it newest first. The
 * dead-man switch heals when the harness falls silent. Never exits. */
#include "faultline/agent.h"
#include "faultline/util.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include "faultline/proto.h"

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

extern const struct fl_injector_ops fl_process_ops;
extern const struct fl_injector_ops fl_net_ops;
extern const struct fl_injector_ops fl_machine_ops;

const struct fl_injector_ops *const fl_injectors[] = {
	&fl_process_ops,
	&fl_net_ops,
	&fl_machine_ops,
	NULL,
};

int64_t fl_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(struct fl_agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct fl_agent *a, const char *fmt, ...)
{
	va_list ap;

	if (!a->log)
		return;
	fprintf(a->log, "faultline-agent[%s]: ", a->node);
	va_start(ap, fmt);
	vfprintf(a->log, fmt, ap);
	va_end(ap);
	fputc('\n', a->log);
	fflush(a->log);
}

int fl_agent_init(struct fl_agent *a, const char *node, const char *journal_path,
		  int64_t heal_after_ns, FILE *log)
{
	char err[256];
	size_t healed = 0;
	int r;

	memset(a, 0, sizeof(*a));
	snprintf(a->node, sizeof(a->node), "%s", node ? node : "node");
	a->heal_after_ns = heal_after_ns;
	a->log = log;
	a->last_heard_ns = fl_monotonic_ns();
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++)
		a->procs[i].last_status = -1;
	if ((r = fl_journal_open(journal_path, &a->journal)) < 0)
		return r;
	/* a journal left by an agent that died: its faults may still hold */
	if (fl_journal_count(a->journal)) {
		size_t n = fl_journal_count(a->journal);
		r = fl_agent_heal(a, &healed, err, sizeof(err));
		if (r < 0)
			say(a, "found %zu undo entries from a previous agent; healing failed: %s", n, err);
		else
			say(a, "found %zu undo entries from a previous agent; healed them", n);
	}
	return 0;
}

void fl_agent_release(struct fl_agent *a)
{
	fl_journal_close(a->journal);
	a->journal = NULL;
	for (size_t i = 0; i < a->nifaces; i++)
		free(a->ifaces[i]);
	a->nifaces = 0;
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++)
		fl_proc_clear(&a->procs[i]);
}

int fl_agent_iface_allowed(const struct fl_agent *a, const char *ifname, char *err, size_t errlen)
{
	if (!ifname || !*ifname) {
		snprintf(err, errlen, "request needs an 'iface'");
		return -EINVAL;
	}
	if (a->nifaces) {
		for (size_t i = 0; i < a->nifaces; i++)
			if (!strcmp(a->ifaces[i], ifname))
				return 0;
		snprintf(err, errlen, "interface '%s' is not part of node '%s'", ifname, a->node);
		return -EPERM;
	}
	if (!strcmp(ifname, "lo")) {
		snprintf(err, errlen, "interface 'lo' is not a link of node '%s'", a->node);
		return -EPERM;
	}
	if (!if_nametoindex(ifname)) {
		snprintf(err, errlen, "no interface '%s' in node '%s'", ifname, a->node);
		return -ENODEV;
	}
	return 0;
}

void fl_agent_reap(struct fl_agent *a)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++) {
			if (a->procs[i].pid == pid) {
				a->procs[i].pid = 0;
				a->procs[i].stopped = 0;
				a->procs[i].last_status = st;
			}
		}
	}
}

static const struct fl_undo_kind *find_undo(const char *kind)
{
	for (size_t k = 0; fl_injectors[k]; k++)
		for (size_t i = 0; i < fl_injectors[k]->nundos; i++)
			if (!strcmp(fl_injectors[k]->undos[i].name, kind))
				return &fl_injectors[k]->undos[i];
	return NULL;
}

static int entry_of_fault(json_t *e, const char *fault)
{
	const char *f = json_string_value(json_object_get(e, "fault"));

	return !fault || (f && !strcmp(f, fault));
}

static int keep_other(json_t *e, void *ctx)
{
	return !entry_of_fault(e, ctx);
}

int fl_agent_heal_fault(struct fl_agent *a, const char *fault, size_t *healed, char *err,
			size_t errlen)
{
	size_t n = fl_journal_count(a->journal);
	int first = 0;

	*healed = 0;
	fl_agent_reap(a);
	for (size_t i = n; i-- > 0;) {
		json_t *e = fl_journal_entry(a->journal, i);
		const char *kind = json_string_value(json_object_get(e, "undo"));
		const struct fl_undo_kind *u = kind ? find_undo(kind) : NULL;
		char why[256] = "";
		int r;

		if (!entry_of_fault(e, fault))
			continue;
		if (!u) {
			r = -EINVAL;
			snprintf(why, sizeof(why), "unknown undo kind '%s'", kind ? kind : "?");
		} else {
			r = u->undo(a, e, why, sizeof(why));
		}
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "undo '%s': %s", kind ? kind : "?", why);
		}
		if (r == 0)
			(*healed)++;
	}
	if (first)
		return first;
	if (!fault)
		return fl_journal_clear(a->journal);
	return fl_journal_retain(a->journal, keep_other, (void *)fault);
}

int fl_agent_heal(struct fl_agent *a, size_t *healed, char *err, size_t errlen)
{
	return fl_agent_heal_fault(a, NULL, healed, err, errlen);
}

/* The fault id a request carries ("fault": "f3"), copied into its undo
 * entries so one fault can be healed without the others. */
json_t *fl_agent_undo_entry(json_t *req, const char *kind)
{
	json_t *e = json_pack("{s:s}", "undo", kind), *f = json_object_get(req, "fault");

	if (e && json_is_string(f))
		json_object_set(e, "fault", f);
	return e;
}

void fl_agent_boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = 0;
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = 0;
}

/* --- built-in ops ------------------------------------------------------------ */

static int op_hello(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	json_t *ops = json_array();
	char boot[64];

	json_array_append_new(ops, json_string("hello"));
	json_array_append_new(ops, json_string("ping"));
	json_array_append_new(ops, json_string("heal"));
	json_array_append_new(ops, json_string("journal"));
	for (size_t k = 0; fl_injectors[k]; k++)
		for (size_t i = 0; i < fl_injectors[k]->nops; i++)
			json_array_append_new(ops, json_string(fl_injectors[k]->ops[i].name));
	fl_agent_boot_id(boot, sizeof(boot));
	*reply = json_pack("{s:s, s:s, s:s, s:i, s:I, s:o}", "agent", FL_VERSION, "node", a->node,
			   "boot_id", boot, "protocol", FL_PROTO_VERSION, "heal_after_ms",
			   (json_int_t)(a->heal_after_ns / 1000000), "ops", ops);
	return 0;
}

static int op_ping(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	return 0;
}

/* {"op":"heal"} heals everything; {"op":"heal","fault":"f3"} only that fault. */
static int op_heal(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	size_t healed = 0;
	int r = fl_agent_heal_fault(a, json_string_value(json_object_get(req, "fault")), &healed, err,
				    errlen);

	if (r == 0)
		*reply = json_pack("{s:I, s:I}", "healed", (json_int_t)healed, "landed_ns",
				   (json_int_t)fl_monotonic_ns());
	return r;
}

static int op_journal(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	json_t *list = json_array();

	for (size_t i = 0; i < fl_journal_count(a->journal); i++)
		json_array_append(list, fl_journal_entry(a->journal, i));
	*reply = json_pack("{s:o}", "entries", list);
	return 0;
}

static const struct fl_agent_op builtin_ops[] = {
	{ "hello", op_hello },	 { "ping", op_ping },	    { "heartbeat", op_ping },
	{ "heal", op_heal },	 { "journal", op_journal },
};

static const struct fl_agent_op *find_op(const char *name)
{
	for (size_t i = 0; i < sizeof(builtin_ops) / sizeof(builtin_ops[0]); i++)
		if (!strcmp(builtin_ops[i].name, name))
			return &builtin_ops[i];
	for (size_t k = 0; fl_injectors[k]; k++)
		for (size_t i = 0; i < fl_injectors[k]->nops; i++)
			if (!strcmp(fl_injectors[k]->ops[i].name, name))
				return &fl_injectors[k]->ops[i];
	return NULL;
}

char *fl_agent_handle_line(struct fl_agent *a, const char *line, size_t len)
{
	struct fl_request req;
	const struct fl_agent_op *op;
	json_t *reply = NULL;
	char err[512] = "";
	char *out;
	int r;

	a->last_heard_ns = fl_monotonic_ns();
	a->dead_man_fired = 0;
	if (fl_proto_parse(line, len, &req, err, sizeof(err)) < 0)
		return fl_proto_reply_error(req.id, "%s", err);
	fl_agent_reap(a);
	op = find_op(req.op);
	if (!op) {
		out = fl_proto_reply_error(req.id, "unknown op '%s'", req.op);
		fl_request_release(&req);
		return out;
	}
	r = op->run(a, req.obj, &reply, err, sizeof(err));
	/* silence counts from the reply: a request that took longer than
	 * heal_after (a slow kernel, a loaded VM) is no silence of the harness */
	a->last_heard_ns = fl_monotonic_ns();
	if (r < 0) {
		json_decref(reply);
		out = fl_proto_reply_error(req.id, "%s", *err ? err : strerror(-r));
	} else {
		out = fl_proto_reply_ok(req.id, reply);
	}
	fl_request_release(&req);
	return out;
}

/* --- the channel loop ---------------------------------------------------------- */

static int write_all(int fd, const char *s)
{
	return fl_write_all(fd, s, strlen(s));
}

static void dead_man(struct fl_agent *a)
{
	size_t healed = 0, n = fl_journal_count(a->journal);
	char err[256] = "";

	a->dead_man_fired = 1;
	if (!n)
		return;
	if (fl_agent_heal(a, &healed, err, sizeof(err)) < 0)
		say(a, "no heartbeat for %lld ms: healing failed: %s",
		    (long long)(a->heal_after_ns / 1000000), err);
	else
		say(a, "no heartbeat for %lld ms: healed %zu fault%s",
		    (long long)(a->heal_after_ns / 1000000), healed, healed == 1 ? "" : "s");
}

void fl_agent_shutdown(struct fl_agent *a, const char *why)
{
	size_t healed = 0;
	char err[256] = "";

	if (fl_journal_count(a->journal)) {
		if (fl_agent_heal(a, &healed, err, sizeof(err)) < 0)
			say(a, "%s: healing failed: %s", why, err);
		else
			say(a, "%s: healed %zu fault%s", why, healed, healed == 1 ? "" : "s");
	}
	for (size_t k = 0; fl_injectors[k]; k++)
		if (fl_injectors[k]->shutdown)
			fl_injectors[k]->shutdown(a);
}

volatile sig_atomic_t fl_agent_stop;

#define MAX_CONNS 16
#define MAX_CONN_FAULTS 256
#define PORT_WRITE_NS (2 * 1000000000LL)
#define PORT_PROBE_MS 100

/* One harness connection: its line buffer and the faults it made (healed
 * when it closes: a fault lives as long as the connection that made it). */
struct conn {
	int in, out, id;
	int port;         /* a character device whose far end comes and goes */
	char *buf;
	size_t len;
	int skipping;
	char *faults[MAX_CONN_FAULTS];
	size_t nfaults;
};

static int is_query(const char *op)
{
	static const char *const q[] = { "hello", "ping", "heartbeat", "journal", "ps", "net_read",
					 "heal", "file" };
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if (!strcmp(op, q[i]))
			return 1;
	return 0;
}

/* A change without a fault id gets its connection's, so it can be healed
 * with the connection; every fault id a connection uses is remembered. */
static char *conn_handle(struct fl_agent *a, struct conn *c, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *op = json_string_value(json_object_get(o, "op"));
	char *fixed = NULL, *reply;

	if (op && json_is_object(o) && !is_query(op)) {
		const char *f = json_string_value(json_object_get(o, "fault"));
		char def[32];
		if (!f) {
			snprintf(def, sizeof(def), "conn%d", c->id);
			json_object_set_new(o, "fault", json_string(def));
			f = def;
			fixed = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		}
		size_t k;
		for (k = 0; k < c->nfaults; k++)
			if (!strcmp(c->faults[k], f))
				break;
		if (k == c->nfaults && c->nfaults < MAX_CONN_FAULTS)
			c->faults[c->nfaults++] = strdup(f);
	}
	json_decref(o);
	reply = fixed ? fl_agent_handle_line(a, fixed, strlen(fixed)) : fl_agent_handle_line(a, line, len);
	free(fixed);
	return reply;
}

static void conn_free(struct conn *c)
{
	for (size_t i = 0; i < c->nfaults; i++)
		free(c->faults[i]);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->in = c->out = -1;
}

static void conn_heal(struct fl_agent *a, struct conn *c, const char *why)
{
	size_t total = 0;
	char err[256] = "";
	int bad = 0;

	for (size_t i = 0; i < c->nfaults; i++) {
		size_t healed = 0;
		if (fl_agent_heal_fault(a, c->faults[i], &healed, err, sizeof(err)) < 0)
			bad = 1;
		total += healed;
	}
	if (bad)
		say(a, "%s: healing failed: %s", why, err);
	else if (total)
		say(a, "%s: healed %zu fault%s", why, total, total == 1 ? "" : "s");
}

/* A port's writes never block for long: with the host gone they would
 * block until it came back (virtio_console), and the dead-man switch with
 * them. EAGAIN while it is there: wait for room, a bounded time. */
static int port_write(int fd, const char *s)
{
	size_t len = strlen(s);
	int64_t deadline = fl_monotonic_ns() + PORT_WRITE_NS;

	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t w = write(fd, s, len);

		if (w > 0) {
			s += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (fl_monotonic_ns() > deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, 100) > 0 && (p.revents & POLLHUP))
			return -EPIPE; /* the host left: the reply has no reader */
	}
	return 0;
}

static int write_reply(struct conn *c, char *reply)
{
	int r = !reply ? 0 : c->port ? port_write(c->out, reply) : write_all(c->out, reply);

	free(reply);
	return r;
}

/* Read what is there; handle complete lines. -EPIPE/-errno when it closed. */
static int conn_input(struct fl_agent *a, struct conn *c)
{
	size_t start = 0;
	ssize_t k = read(c->in, c->buf + c->len, FL_PROTO_MAX_LINE + 1 - c->len);

	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (k <= 0)
		return k == 0 ? -EPIPE : -errno;
	c->len += (size_t)k;
	for (size_t i = 0; i < c->len; i++) {
		char *reply = NULL;

		if (c->buf[i] != '\n')
			continue;
		if (c->skipping)
			c->skipping = 0;
		else if (i > start)
			reply = conn_handle(a, c, c->buf + start, i - start);
		else
			a->last_heard_ns = fl_monotonic_ns(); /* blank line: keep-alive */
		start = i + 1;
		if (write_reply(c, reply) < 0)
			return -EPIPE;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (c->len == FL_PROTO_MAX_LINE + 1) {
		/* one error per oversized line, however long it goes on */
		if (!c->skipping &&
		    write_reply(c, fl_proto_reply_error(-1, "request longer than %d bytes",
							 FL_PROTO_MAX_LINE)) < 0)
			return -EPIPE;
		c->len = 0;
		c->skipping = 1;
	}
	return 0;
}

/* The host end of a port is there when the port does not report POLLHUP
 * (virtio_console: POLLHUP while the host side is closed). */
static int port_host_connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

/* One loop for the three channels: a stream (in/out, ends at EOF), a
 * listening socket (lfd), ports (each one's far end comes and goes: port k
 * is served as one connection at a time, conns[k]). */
static int agent_run(struct fl_agent *a, int lfd, int in, int out, const int *ports,
		     size_t nports)
{
	struct conn conns[MAX_CONNS];
	int next_id = 1;

	for (size_t i = 0; i < MAX_CONNS; i++) {
		memset(&conns[i], 0, sizeof(conns[i]));
		conns[i].in = conns[i].out = -1;
	}
	if (in >= 0) {
		conns[0].in = in;
		conns[0].out = out;
		conns[0].id = next_id++;
		if (!(conns[0].buf = malloc(FL_PROTO_MAX_LINE + 1)))
			return -ENOMEM;
	}
	for (;;) {
		struct pollfd pfd[MAX_CONNS + 1];
		int map[MAX_CONNS + 1], np = 0, timeout = 200, pr;
		int64_t left = a->last_heard_ns + a->heal_after_ns - fl_monotonic_ns();

		if (!a->dead_man_fired && a->heal_after_ns > 0 && left <= 0) {
			dead_man(a);
			continue;
		}
		if (!a->dead_man_fired && a->heal_after_ns > 0 && left / 1000000 < timeout)
			timeout = (int)(left / 1000000) + 1;
		for (size_t k = 0; k < nports; k++) {
			if (conns[k].in >= 0)
				continue;
			/* POLLHUP stays up while the host is away: poll cannot wait for it */
			if (port_host_connected(ports[k]) &&
			    (conns[k].buf = malloc(FL_PROTO_MAX_LINE + 1))) {
				json_t *o = json_pack("{s:s, s:s}", "event", "connected", "node", a->node);
				char *hi = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
				int w = -ENOMEM;

				conns[k].in = conns[k].out = ports[k];
				conns[k].port = 1;
				conns[k].id = next_id++;
				a->last_heard_ns = fl_monotonic_ns();
				a->dead_man_fired = 0;
				/* tells the host this port is served (a busy port stays silent) */
				if (hi && (w = port_write(ports[k], hi)) == 0)
					w = port_write(ports[k], "\n");
				free(hi);
				json_decref(o);
				if (w < 0) {
					conn_free(&conns[k]);
					if (timeout > PORT_PROBE_MS)
						timeout = PORT_PROBE_MS;
				}
			} else if (timeout > PORT_PROBE_MS) {
				timeout = PORT_PROBE_MS;
			}
		}
		if (lfd >= 0) {
			pfd[np] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			map[np++] = -1;
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].in >= 0) {
				pfd[np] = (struct pollfd){ .fd = conns[i].in, .events = POLLIN };
				map[np++] = i;
			}
		pr = poll(pfd, (nfds_t)np, timeout);
		fl_agent_reap(a);
		if (fl_agent_stop) {
			for (int i = 0; i < MAX_CONNS; i++)
				conn_free(&conns[i]);
			fl_agent_shutdown(a, "stopped by a signal");
			return 0;
		}
		if (pr < 0 && errno != EINTR)
			return -errno;
		for (int k = 0; pr > 0 && k < np; k++) {
			struct conn *c;
			int r;
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (map[k] < 0) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), slot = -1;
				for (int i = 0; cfd >= 0 && i < MAX_CONNS && slot < 0; i++)
					if (conns[i].in < 0)
						slot = i;
				if (cfd >= 0 && slot >= 0 && (conns[slot].buf = malloc(FL_PROTO_MAX_LINE + 1))) {
					conns[slot].in = conns[slot].out = cfd;
					conns[slot].id = next_id++;
					a->last_heard_ns = fl_monotonic_ns();
					a->dead_man_fired = 0;
				} else if (cfd >= 0) {
					close(cfd);
				}
				continue;
			}
			c = &conns[map[k]];
			if ((r = conn_input(a, c)) == 0)
				continue;
			/* the host closed the port: its faults go, the node stays */
			if (c->port) {
				conn_heal(a, c, "host closed the channel");
				conn_free(c);
				continue;
			}
			/* this harness is gone: leave nothing of it behind */
			if (lfd < 0) {
				conn_free(c);
				fl_agent_shutdown(a, r == -EPIPE ? "channel closed" : "channel error");
				return 0;
			}
			conn_heal(a, c, "connection closed");
			close(c->in);
			conn_free(c);
		}
	}
}

int fl_agent_serve(struct fl_agent *a, int in, int out)
{
	return agent_run(a, -1, in, out, NULL, 0);
}

int fl_agent_listen(struct fl_agent *a, int lfd)
{
	return agent_run(a, lfd, -1, -1, NULL, 0);
}

int fl_agent_serve_ports(struct fl_agent *a, const int *fds, size_t n)
{
	if (n < 1 || n > MAX_CONNS)
		return -EINVAL;
	return agent_run(a, -1, -1, -1, fds, n);
}
