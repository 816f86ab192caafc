/* The exec system adapter: any system under test, started by the scenario's
 * system.start argv and driven through a user program (system.client) that
 * speaks faultline's line protocol on stdin/stdout (README.md, "The exec
 * line protocol"). One client program per fl_sys_client, in its own process
 * group; it must never outlive its client, and a reply that arrives after
 * its request gave up must never be taken as the answer to the next one:
 * a client that times out or falls out of step is killed, and a new one
 * is started on the next call.
 *
 * A program may be slow to start (a JVM, Python under emulation, a client
 * that connects and logs in first): a new one is asked `hello` and its
 * answer awaited within system.ready_timeout before the next request's own
 * time starts, so no operation is charged with a start-up (client_ready
 * lets the workload do that between two operations). Its stderr goes
 * straight to a file (nodes->client_logs/client-<node>-<k>.stderr, one per
 * client, every program of it appending; else an unlinked temporary file),
 * never through a pipe someone must drain, and the end of it is quoted when
 * it fails.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/units.h"
#include "exec-priv.h"

extern char **environ;

#define CLOSE_GRACE_MS 200   /* client_close: time to exit after stdin closes */
#define EOF_GRACE_MS 100     /* after EOF on its stdout: time to exit by itself */
#define QUOTE_MAX 200        /* bytes of a bad reply quoted in an error */
#define TAIL_MAX 2048        /* bytes of a program's stderr kept for its errors */
#define TAIL_QUOTE 300       /* of which an error quotes at most this much */
#define HELLO "hello"        /* the first request to every program (README) */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- argv ------------------------------------------------------------------------- */

/* tmpl expanded for node i, its program resolved; *argvp for fl_strv_free. */
static int expand_argv(const struct fl_scenario *s, char *const *tmpl, const char *what,
		       const struct fl_sys_nodes *nodes, size_t i, char ***argvp, char *err,
		       size_t errlen)
{
	size_t n = tmpl ? fl_strv_len(tmpl) : 0;
	char **argv;
	int r;

	if (!n) {
		fl_seterr(err, errlen, "exec: the scenario has no system.%s argv", what);
		return -EINVAL;
	}
	if (!nodes || i >= nodes->n || nodes->n > FL_MAX_NODES) {
		fl_seterr(err, errlen, "no node %zu in a cluster of %zu", i, nodes ? nodes->n : 0);
		return -EINVAL;
	}
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		r = fl_sys_expand(tmpl[k], nodes, i, FL_EXEC_PORT, &argv[k], err, errlen);
		if (r < 0)
			goto fail;
	}
	r = fl_sys_resolve_program(s, &argv[0], err, errlen);
	if (r < 0)
		goto fail;
	*argvp = argv;
	return 0;
fail:
	fl_strv_free(argv);
	return r;
}

/* The node's data directory exists when it starts ({data_dir}); 0700. */
static int exec_node_argv(const struct fl_scenario *s, const struct fl_sys_nodes *nodes, size_t i,
			  char ***argvp, char *err, size_t errlen)
{
	char **argv, *dd = NULL;
	int r;

	r = expand_argv(s, s ? s->system.start : NULL, "start", nodes, i, &argv, err, errlen);
	if (r < 0)
		return r;
	if (nodes->data_root) {
		r = fl_sys_expand("{data_dir}", nodes, i, FL_EXEC_PORT, &dd, err, errlen);
		if (r == 0)
			r = fl_sys_node_mkdir(nodes, i, dd, err, errlen);
		free(dd);
		if (r < 0) {
			fl_strv_free(argv);
			return r;
		}
	}
	*argvp = argv;
	return 0;
}

/* --- the client process ----------------------------------------------------------- */

struct exec_client {
	char **argv;
	char **envp;
	size_t n;                                        /* nodes, to check status replies */
	char names[FL_MAX_NODES][FL_NODE_NAME_MAX + 1];
	pid_t pid;                                       /* 0: none running */
	int to_fd, from_fd;                              /* its stdin, its stdout */
	int log_fd;                                      /* its stderr: a file */
	off_t log_from;                                  /* where this program's began */
	char *buf;                                       /* read, not yet taken */
	size_t len, cap;
	char tail[TAIL_MAX];                             /* the end of its stderr */
	size_t tail_len;
	int ready;                                       /* it answered hello */
	int64_t spawned_ms;                              /* when it was started */
	int ready_ms;                                    /* system.ready_timeout */
};

/* The end of what the running (or last) program wrote to stderr, from
 * its file: at most TAIL_MAX bytes, none from the programs before it. */
static void read_tail(struct exec_client *x)
{
	struct stat st;
	off_t from;
	ssize_t n;

	x->tail_len = 0;
	if (x->log_fd < 0 || fstat(x->log_fd, &st) < 0 || st.st_size <= x->log_from)
		return;
	from = st.st_size - x->log_from > TAIL_MAX ? st.st_size - TAIL_MAX : x->log_from;
	while ((n = pread(x->log_fd, x->tail, (size_t)(st.st_size - from), from)) < 0 &&
	       errno == EINTR)
		;
	x->tail_len = n > 0 ? (size_t)n : 0;
}

/*
 * The file every program of this client writes its stderr to (appending):
 * dir/client-<node>-<k>.stderr, k the first number free (O_EXCL, never
 * through a link; mode 0644 less the umask faultline set, so never
 * world-writable), its name in c->log; with no dir, an unlinked temporary
 * file, c->log "".
 */
static int open_log(struct fl_sys_client *c, const char *dir, char *err, size_t errlen)
{
	static atomic_uint next;
	struct exec_client *x = c->impl;
	char path[PATH_MAX];
	FILE *f;

	if (!dir) {
		if (!(f = tmpfile()) || (x->log_fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 3)) < 0) {
			int e = errno;
			if (f)
				fclose(f);
			fl_seterr(err, errlen, "node %s: a file for its client program's stderr: %s",
				  c->node, strerror(e));
			return -e;
		}
		fclose(f);
		return 0;
	}
	for (int tries = 0; tries < 10000; tries++) {
		unsigned k = atomic_fetch_add(&next, 1);
		snprintf(c->log, sizeof(c->log), "client-%s-%u.stderr", c->node, k);
		snprintf(path, sizeof(path), "%s/%s", dir, c->log);
		x->log_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
				 0644);
		if (x->log_fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	fl_seterr(err, errlen, "node %s: cannot create '%s' for its client program's stderr: %s",
		  c->node, path, strerror(errno));
	c->log[0] = '\0';
	return -EIO;
}

/* "; its stderr ends: '...'" (its last TAIL_QUOTE bytes, trailing newlines
 * dropped, controls as '?'), or "" when it wrote nothing. */
static void tail_note(struct exec_client *x, char *out, size_t outlen)
{
	size_t len, from, k;

	read_tail(x);
	len = x->tail_len;

	while (len && (x->tail[len - 1] == '\n' || x->tail[len - 1] == '\r'))
		len--;
	if (!len) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	from = len > TAIL_QUOTE ? len - TAIL_QUOTE : 0;
	k = (size_t)snprintf(out, outlen, "; its stderr ends: '%s", from ? "..." : "");
	for (size_t j = from; j < len && k + 2 < outlen; j++)
		out[k++] = isprint((unsigned char)x->tail[j]) ? x->tail[j] : '?';
	if (k + 1 < outlen)
		out[k++] = '\'';
	out[k < outlen ? k : outlen - 1] = '\0';
}

static int is_ours(const char *entry, size_t len)
{
	static const char *const ours[] = { "FAULTLINE_NODE", "FAULTLINE_NODE_IP",
					    "FAULTLINE_NODES" };

	for (size_t k = 0; k < sizeof(ours) / sizeof(ours[0]); k++)
		if (strlen(ours[k]) == len && !strncmp(entry, ours[k], len))
			return 1;
	return 0;
}

/* Is the variable of environ entry set again by system.env or by us? */
static int env_overridden(const char *entry, const struct fl_scenario *s)
{
	size_t len = strcspn(entry, "=");

	if (is_ours(entry, len))
		return 1;
	for (size_t k = 0; k < s->system.nenv; k++)
		if (strlen(s->system.env[k].name) == len && !strncmp(entry, s->system.env[k].name, len))
			return 1;
	return 0;
}

/* This process's environment, then system.env, then FAULTLINE_NODE,
 * FAULTLINE_NODE_IP and FAULTLINE_NODES ("n1=IP1 n2=IP2 ..."); a name set
 * by a later one is left out of the earlier ones (faultline's own win). */
static char **make_env(const struct fl_scenario *s, const struct fl_sys_nodes *nodes, size_t i)
{
	struct fl_argv env = { 0 };
	struct fl_sbuf all = { 0 };
	char *ip = NULL;

	for (size_t j = 0; environ && environ[j]; j++)
		if (!env_overridden(environ[j], s))
			fl_argv_add(&env, environ[j]);
	for (size_t j = 0; j < nodes->n; j++) {
		uint32_t a = nodes->addrs[j];

		fl_sbuf_printf(&all, "%s%s=%u.%u.%u.%u", j ? " " : "", nodes->names[j], a >> 24,
			       (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
	}
	for (size_t j = 0; j < s->system.nenv; j++)
		if (!is_ours(s->system.env[j].name, strlen(s->system.env[j].name)))
			fl_argv_addf(&env, "%s=%s", s->system.env[j].name, s->system.env[j].value);
	if (all.oom || fl_sys_expand("{ip}", nodes, i, FL_EXEC_PORT, &ip, NULL, 0) < 0)
		env.oom = 1;
	fl_argv_addf(&env, "FAULTLINE_NODE=%s", nodes->names[i]);
	fl_argv_addf(&env, "FAULTLINE_NODE_IP=%s", ip ? ip : "");
	fl_argv_addf(&env, "FAULTLINE_NODES=%s", all.p ? all.p : "");
	free(all.p);
	free(ip);
	return fl_argv_take(&env);
}

static int exited_nowait(pid_t pid)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Why a program is stopped, for c->life. */
enum stop_why {
	STOP_CLOSE, /* we are done with it */
	STOP_KILL,  /* it did not answer in time, or answered out of step */
	STOP_DIED,  /* it exited or closed its stdout by itself */
};

/*
 * Stop the client program: close its stdin, give it grace_ms to exit by
 * itself, then SIGKILL its whole process group (the leader is not reaped
 * yet, so the group id cannot have been reused) and reap it. *status (may
 * be NULL) gets its wait status, -1 when none.
 */
static void stop_client(struct fl_sys_client *c, enum stop_why why, int grace_ms, int *status)
{
	struct exec_client *x = c->impl;
	int st = -1;

	if (x->pid > 0 && why == STOP_KILL)
		c->life.kills++;
	else if (x->pid > 0 && why == STOP_DIED) {
		c->life.deaths++;
		c->life.dying++;
	}

	if (x->to_fd >= 0)
		close(x->to_fd);
	x->to_fd = -1;
	if (x->pid > 0) {
		int64_t until = now_ms() + grace_ms;

		while (grace_ms > 0 && !exited_nowait(x->pid) && now_ms() < until) {
			struct timespec ts = { 0, 5 * 1000000 };

			nanosleep(&ts, NULL);
		}
		kill(-x->pid, SIGKILL);
		while (waitpid(x->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	x->pid = 0;
	x->ready = 0;
	if (x->from_fd >= 0)
		close(x->from_fd);
	x->from_fd = -1;
	x->len = 0;
	if (status)
		*status = st;
}

static void describe_status(int st, char *buf, size_t len)
{
	if (st == -1)
		snprintf(buf, len, "is gone");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		snprintf(buf, len, "closed its stdout and was killed");
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "ended");
}

static int start_client(struct fl_sys_client *c, char *err, size_t errlen)
{
	struct exec_client *x = c->impl;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, def;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, r;
	struct stat lst;
	off_t from;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		r = -errno;
		fl_seterr(err, errlen, "node %s: pipe: %s", c->node, strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* dup2 onto 0 and 1 clears close-on-exec there; every other end closes */
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, x->log_fd, 2);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGQUIT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0); /* its own group, killed as a whole */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	/* what it writes is appended: its tail starts past its predecessors',
	 * measured before it starts (a program quick to fail wrote its stderr
	 * before the spawn returned, and its tail was empty: unit-san in CI) */
	from = fstat(x->log_fd, &lst) == 0 ? lst.st_size : 0;
	if (strchr(x->argv[0], '/'))
		r = posix_spawn(&pid, x->argv[0], &fa, &at, x->argv, x->envp);
	else
		r = posix_spawnp(&pid, x->argv[0], &fa, &at, x->argv, x->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r) {
		fl_seterr(err, errlen, "node %s: cannot start client program '%s': %s", c->node,
		       x->argv[0], strerror(r));
		r = -r;
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	x->pid = pid;
	x->to_fd = in[1];
	x->from_fd = out[0];
	x->log_from = from;
	x->len = 0;
	x->tail_len = 0;
	x->ready = 0;
	x->spawned_ms = now_ms();
	c->life.starts++;
	return 0;
fail:
	for (int k = 0; k < 2; k++) {
		if (in[k] >= 0)
			close(in[k]);
		if (out[k] >= 0)
			close(out[k]);
	}
	return r;
}

static void exec_client_close(struct fl_sys_client *c)
{
	struct exec_client *x = c ? c->impl : NULL;

	if (x) {
		stop_client(c, STOP_CLOSE, CLOSE_GRACE_MS, NULL);
		if (x->log_fd >= 0)
			close(x->log_fd);
		fl_strv_free(x->argv);
		fl_strv_free(x->envp);
		free(x->buf);
	}
	fl_sys_client_free(c);
}

static int exec_client_open(const struct fl_sys_nodes *nodes, size_t i, struct fl_sys_client **out,
			    char *err, size_t errlen)
{
	struct fl_sys_client *c;
	struct exec_client *x;
	int r;

	if (nodes && !nodes->s) {
		fl_seterr(err, errlen, "exec: no scenario given (fl_sys_nodes.s), so no client argv");
		return -EINVAL;
	}
	r = fl_sys_client_new(&fl_exec_system_ops, nodes, i, sizeof(*x), &c, err, errlen);
	if (r < 0)
		return r;
	x = c->impl;
	x->to_fd = x->from_fd = x->log_fd = -1;
	x->n = nodes->n;
	x->ready_ms = (int)((nodes->s->system.ready_timeout_ns ? nodes->s->system.ready_timeout_ns
							       : 60 * FL_NS_PER_S) / 1000000);
	for (size_t k = 0; k < nodes->n; k++)
		snprintf(x->names[k], sizeof(x->names[k]), "%s", nodes->names[k]);
	r = expand_argv(nodes->s, nodes->s->system.client, "client", nodes, i, &x->argv, err,
			errlen);
	if (r < 0)
		goto fail;
	x->envp = make_env(nodes->s, nodes, i);
	if (!x->envp) {
		fl_seterr(err, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	r = open_log(c, nodes->client_logs, err, errlen);
	if (r == 0)
		r = start_client(c, err, errlen);
	if (r < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	exec_client_close(c);
	return r;
}

/* --- one request, one reply ------------------------------------------------------- */

enum req_kind { REQ_READ, REQ_WRITE };

/*
 * Write all of line to the client's stdin before the deadline. SIGPIPE
 * (the client has gone) is blocked for this thread and, if it was raised
 * here, taken back, so the harness never dies of it. *sent: bytes written.
 */
static int write_all(int fd, const char *p, size_t len, int64_t deadline, size_t *sent)
{
	sigset_t pipe_set, old, pending;
	int was_pending, r = 0;

	*sent = 0;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	while (*sent < len) {
		ssize_t w = write(fd, p + *sent, len - *sent);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int64_t left;

		if (w > 0) {
			*sent += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN) {
			r = -errno;
			break;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
	}
	if (r == -EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* Take the first line out of the buffer (without its "\n" or "\r\n"). */
static char *take_line(struct exec_client *x)
{
	char *nl = x->len ? memchr(x->buf, '\n', x->len) : NULL, *line;
	size_t n;

	if (!nl)
		return NULL;
	n = (size_t)(nl - x->buf);
	line = malloc(n + 1);
	if (!line)
		return NULL;
	memcpy(line, x->buf, n);
	line[n] = '\0';
	if (n && line[n - 1] == '\r')
		line[n - 1] = '\0';
	x->len -= n + 1;
	memmove(x->buf, nl + 1, x->len);
	return line;
}

/* Read what is there (up to the cap); 1 read, 0 nothing now, -EPIPE EOF. */
static int read_some(struct exec_client *x)
{
	ssize_t n;

	if (x->cap - x->len < 65536) {
		size_t cap = x->cap ? x->cap * 2 : 65536;
		char *b;

		if (cap > FL_EXEC_LINE_MAX + 65536)
			cap = FL_EXEC_LINE_MAX + 65536;
		if (cap <= x->len)
			return 1; /* full: the caller sees an over-long line */
		b = realloc(x->buf, cap);
		if (!b)
			return -ENOMEM;
		x->buf = b;
		x->cap = cap;
	}
	n = read(x->from_fd, x->buf + x->len, x->cap - x->len);
	if (n > 0) {
		x->len += (size_t)n;
		return 1;
	}
	if (n == 0)
		return -EPIPE;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/* Quote for an error message: at most QUOTE_MAX bytes, controls as '?'. */
static void quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t j = 0; j < len && k + 4 < outlen && j < QUOTE_MAX; j++)
		out[k++] = isprint((unsigned char)s[j]) ? s[j] : '?';
	if (len > QUOTE_MAX && k + 4 < outlen) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/*
 * Send request (one line, without its "\n") and read one reply line into
 * *line before deadline (timeout_ms, for the message). *sent: bytes of the
 * request written. Messages leave out the node (the caller's prefix). The
 * program is stopped when it went away, timed out or wrote too long a
 * line.
 */
static int exchange(struct fl_sys_client *c, const char *request, int64_t deadline,
		    int timeout_ms, size_t *sent, char **line, char *err, size_t errlen)
{
	struct exec_client *x = c->impl;
	size_t len = strlen(request);
	char *msg, q[QUOTE_MAX + 8], why[64];
	int r, st;

	*line = NULL;
	*sent = 0;
	if (asprintf(&msg, "%s\n", request) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = write_all(x->to_fd, msg, len + 1, deadline, sent);
	free(msg);
	if (r < 0) {
		stop_client(c, r == -EPIPE ? STOP_DIED : STOP_KILL, r == -EPIPE ? EOF_GRACE_MS : 0,
			    &st);
		if (r == -EPIPE) {
			describe_status(st, why, sizeof(why));
			fl_seterr(err, errlen, "client program %s before reading '%s'", why, request);
			return -ECONNRESET;
		}
		fl_seterr(err, errlen, "sending '%s' to the client program: %s", request,
			  strerror(-r));
		return r;
	}
	for (;;) {
		struct pollfd pfd = { .fd = x->from_fd, .events = POLLIN };
		int64_t left;

		if ((*line = take_line(x)))
			return 0;
		if (x->len >= FL_EXEC_LINE_MAX) {
			quote(x->buf, x->len, q, sizeof(q));
			stop_client(c, STOP_KILL, 0, NULL);
			fl_seterr(err, errlen, "malformed reply to '%s': longer than %u bytes: '%s'",
				  request, FL_EXEC_LINE_MAX, q);
			return -EPROTO;
		}
		r = read_some(x);
		if (r == 1)
			continue;
		if (r == -EPIPE) {
			stop_client(c, STOP_DIED, EOF_GRACE_MS, &st);
			describe_status(st, why, sizeof(why));
			fl_seterr(err, errlen, "client program %s without answering '%s'", why,
				  request);
			return -ECONNRESET;
		}
		if (r < 0) {
			stop_client(c, STOP_KILL, 0, NULL);
			fl_seterr(err, errlen, "reading from the client program: %s", strerror(-r));
			return r;
		}
		left = deadline - now_ms();
		if (left <= 0) {
			stop_client(c, STOP_KILL, 0, NULL);
			fl_seterr(err, errlen, "no answer to '%s' within %d ms (client program killed)",
				  request, timeout_ms);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			stop_client(c, STOP_KILL, 0, NULL);
			fl_seterr(err, errlen, "poll: %s", strerror(-r));
			return r;
		}
	}
}

/*
 * The running program made ready: asked hello, any one line back within
 * system.ready_timeout (from now: a program started long before and never
 * asked has had its time) means it reads and answers. Its start-up, from
 * its start to that answer, goes to c->life. Charged to no operation.
 */
static int await_ready(struct fl_sys_client *c, char *err, size_t errlen)
{
	struct exec_client *x = c->impl;
	char e[512], tail[TAIL_QUOTE + 64], *line;
	size_t sent;
	int64_t took;
	int r;

	if (x->ready)
		return 0;
	r = exchange(c, HELLO, now_ms() + x->ready_ms, x->ready_ms, &sent, &line, e, sizeof(e));
	if (r == 0) {
		free(line);
		x->ready = 1;
		took = (now_ms() - x->spawned_ms) * 1000000;
		if (!c->life.readies++)
			c->life.first_ready_ns = took;
		c->life.last_ready_ns = took;
		c->life.total_ready_ns += took;
		if (took > c->life.max_ready_ns)
			c->life.max_ready_ns = took;
		return 0;
	}
	tail_note(x, tail, sizeof(tail));
	if (r == -ETIMEDOUT)
		fl_seterr(err, errlen, "node %s: client program not ready within %d ms "
			  "(system.ready_timeout): no answer to '" HELLO "' (killed)%s", c->node,
			  x->ready_ms, tail);
	else
		fl_seterr(err, errlen, "node %s: client program not ready: %s%s", c->node, e, tail);
	return r;
}

/* A program started where none runs (or the one there has exited), and
 * ready. */
static int exec_client_ready(struct fl_sys_client *c, char *err, size_t errlen)
{
	struct exec_client *x = c->impl;
	int r;

	if (x->pid > 0 && exited_nowait(x->pid))
		stop_client(c, STOP_DIED, 0, NULL);
	if (x->pid <= 0 && (r = start_client(c, err, errlen)) < 0)
		return r;
	return await_ready(c, err, errlen);
}

/*
 * Send request (one line, without its "\n") and read one reply line into
 * *line, within timeout_ms, which starts once the program is ready. On
 * failure, *outcome says what the caller may conclude: FAIL when the
 * request surely did not reach the program, or it was a read; INFO when a
 * write went out and no answer came back. The client program is killed
 * when it timed out, went away, or wrote out of turn, and a new one is
 * started by the next call (or client_ready).
 */
static int roundtrip(struct fl_sys_client *c, const char *request, enum req_kind kind,
		     int timeout_ms, char **line, enum fl_outcome *outcome, char *err,
		     size_t errlen)
{
	struct exec_client *x = c->impl;
	size_t len = strlen(request), sent = 0;
	char q[QUOTE_MAX + 8], e[512];
	int r;

	*line = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if (len + 1 > FL_EXEC_LINE_MAX) {
		fl_seterr(err, errlen, "node %s: request of %zu bytes is over the line limit", c->node,
		       len);
		return -EMSGSIZE;
	}
	/* anything it wrote since the last reply is out of turn */
	if (x->pid > 0) {
		while ((r = read_some(x)) == 1 && x->len < FL_EXEC_LINE_MAX)
			;
		if (r == -EPIPE || exited_nowait(x->pid)) {
			/* gone between calls: a fresh one below */
			stop_client(c, STOP_DIED, 0, NULL);
		} else if (x->len) {
			quote(x->buf, x->len, q, sizeof(q));
			stop_client(c, STOP_KILL, 0, NULL);
			fl_seterr(err, errlen, "node %s: client program wrote '%s' with no request "
			       "pending (out of step: restarted)", c->node, q);
			return -EPROTO;
		}
	}
	if ((r = exec_client_ready(c, err, errlen)) < 0)
		return r;
	r = exchange(c, request, now_ms() + (timeout_ms < 1 ? 1 : timeout_ms), timeout_ms, &sent,
		     line, e, sizeof(e));
	/* once a byte of a write went out, it may have happened */
	if (kind == REQ_WRITE && sent)
		*outcome = FL_OUTCOME_INFO;
	if (r < 0) {
		fl_seterr(err, errlen, "node %s: %s", c->node, e);
		return r;
	}
	c->life.dying = 0;
	return 0;
}

/* Split a reply into words at runs of blanks: words[0..max) point into line,
 * which gets NULs; with words NULL, only count. */
static size_t split(char *line, char **words, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (n < max)
			words[n] = p;
		n++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p) {
			if (words)
				*p = '\0';
			p++;
		}
	}
	return n;
}

/* The errno a "fail"/"info" reason maps to (README.md). */
static int reason_errno(const char *word, int is_cas)
{
	if (!word)
		return -EIO;
	if (is_cas && !strcmp(word, "compare"))
		return -ECANCELED;
	if (!strcmp(word, "timeout"))
		return -ETIMEDOUT;
	if (!strcmp(word, "unavailable"))
		return -EAGAIN;
	if (!strcmp(word, "refused"))
		return -ECONNREFUSED;
	return -EIO;
}

static enum req_kind kind_of(enum fl_exec_op op)
{
	return op == FL_EXEC_PUT || op == FL_EXEC_CAS || op == FL_EXEC_ADD ? REQ_WRITE : REQ_READ;
}

int fl_exec_reply_parse(const char *node, const char *request, enum fl_exec_op op, char *line,
			char ***words, size_t *nwords, enum fl_outcome *outcome, char *err,
			size_t errlen)
{
	enum req_kind kind = kind_of(op);
	char **w = NULL, *copy = NULL, q[QUOTE_MAX + 8];
	size_t n;
	int r;

	*words = NULL;
	*nwords = 0;
	*outcome = kind == REQ_READ ? FL_OUTCOME_FAIL : FL_OUTCOME_INFO;
	if (!(copy = strdup(line)))
		goto oom;
	n = split(line, NULL, 0);
	w = calloc(n + 1, sizeof(*w));
	if (!w)
		goto oom;
	split(line, w, n);
	if (n && !strcmp(w[0], "ok")) {
		*outcome = FL_OUTCOME_OK;
		*words = w;
		*nwords = n - 1;
		memmove(w, w + 1, n * sizeof(*w));
		free(copy);
		return 0;
	}
	if (n && (!strcmp(w[0], "fail") || !strcmp(w[0], "info"))) {
		const char *rest = copy + strspn(copy, " \t");

		rest += strcspn(rest, " \t");
		rest += strspn(rest, " \t");
		quote(rest, strlen(rest), q, sizeof(q));
		r = reason_errno(n > 1 ? w[1] : NULL, op == FL_EXEC_CAS);
		*outcome = w[0][0] == 'f' || kind == REQ_READ ? FL_OUTCOME_FAIL : FL_OUTCOME_INFO;
		fl_seterr(err, errlen, "node %s: %s%s: %s %s", node,
		       r == -ECANCELED ? "compare failed: " : "", request, w[0],
		       *rest ? q : "(no reason given)");
	} else if (n == 1 && !strcmp(w[0], "unsupported")) {
		*outcome = FL_OUTCOME_FAIL;
		r = -ENOTSUP;
		fl_seterr(err, errlen, "node %s: the client program does not support '%.*s'", node,
		       (int)strcspn(request, " "), request);
	} else {
		/* an answer came, so the stream is in step; what it says is unknown */
		r = -EPROTO;
		quote(copy, strlen(copy), q, sizeof(q));
		fl_seterr(err, errlen, "node %s: malformed reply to '%s': '%s'", node, request, q);
	}
	free(w);
	free(copy);
	return r;
oom:
	free(copy);
	fl_seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

/*
 * One operation: request out, reply in, the reply's kind sorted out.
 * Returns 0 with the "ok" reply's words after "ok" in words[0..*nwords)
 * (pointers into *line, which the caller frees), or -errno with *outcome
 * and err set.
 */
static int do_op(struct fl_sys_client *c, enum fl_exec_op op, const char *request,
		 int timeout_ms, char **line, char ***words, size_t *nwords,
		 enum fl_outcome *outcome, char *err, size_t errlen)
{
	enum req_kind kind = kind_of(op);
	int r;

	*line = NULL;
	*words = NULL;
	r = roundtrip(c, request, kind, timeout_ms, line, outcome, err, errlen);
	if (r < 0)
		return r;
	r = fl_exec_reply_parse(c->node, request, op, *line, words, nwords, outcome, err, errlen);
	if (r < 0) {
		free(*line);
		*line = NULL;
	}
	return r;
}

/* An ok reply that is not what the op needs: malformed, outcome as for do_op. */
static int malformed(struct fl_sys_client *c, const char *request, char **words, size_t n,
		     const char *need, enum req_kind kind, enum fl_outcome *outcome, char *err,
		     size_t errlen)
{
	char got[QUOTE_MAX + 8] = "ok";
	size_t k = 2;

	for (size_t j = 0; j < n && k + 2 < sizeof(got); j++) {
		got[k++] = ' ';
		for (const char *p = words[j]; *p && k + 1 < sizeof(got); p++)
			got[k++] = isprint((unsigned char)*p) ? *p : '?';
	}
	got[k] = '\0';
	*outcome = kind == REQ_READ ? FL_OUTCOME_FAIL : FL_OUTCOME_INFO;
	fl_seterr(err, errlen, "node %s: malformed reply to '%s': '%s' (want %s)", c->node, request,
	       got, need);
	return -EPROTO;
}

/* Keys, values and elements are single words: no blanks, no controls. */
static int check_word(struct fl_sys_client *c, const char *what, const char *s, char *err,
		      size_t errlen)
{
	if (!*s) {
		fl_seterr(err, errlen, "node %s: empty %s: the line protocol cannot carry it", c->node,
		       what);
		return -EINVAL;
	}
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
			fl_seterr(err, errlen, "node %s: %s '%s' has a blank or control character: the "
			       "line protocol cannot carry it", c->node, what, s);
			return -EINVAL;
		}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int exec_status(struct fl_sys_client *c, int timeout_ms, struct fl_sys_status *st,
		       enum fl_outcome *outcome, char *err, size_t errlen)
{
	struct exec_client *x = c->impl;
	char *line, **w;
	size_t n;
	int r, leader = -1;

	memset(st, 0, sizeof(*st));
	snprintf(st->node, sizeof(st->node), "%s", c->node);
	st->member_id = c->index + 1;
	r = do_op(c, FL_EXEC_STATUS, "status", timeout_ms, &line, &w, &n, outcome, err, errlen);
	if (r < 0)
		return r;
	if (n == 2 && strcmp(w[0], "-"))
		for (size_t k = 0; k < x->n; k++)
			if (!strcmp(x->names[k], w[0]))
				leader = (int)k;
	if (n != 2 || (leader < 0 && strcmp(w[0], "-")) || parse_u64(w[1], &st->term) < 0) {
		r = malformed(c, "status", w, n, "'ok LEADER TERM', LEADER a node's name or '-'",
			      REQ_READ, outcome, err, errlen);
		memset(st, 0, sizeof(*st));
		snprintf(st->node, sizeof(st->node), "%s", c->node);
	} else if (leader >= 0) {
		snprintf(st->leader, sizeof(st->leader), "%s", x->names[leader]);
		st->leader_id = (uint64_t)leader + 1;
	}
	free(w);
	free(line);
	return r;
}

static int exec_get(struct fl_sys_client *c, const char *key, int serializable, int timeout_ms,
		    char **value, enum fl_outcome *outcome, char *err, size_t errlen)
{
	char *req, *line, **w;
	size_t n;
	int r;

	*value = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if ((r = check_word(c, "key", key, err, errlen)) < 0)
		return r;
	if (asprintf(&req, "%s %s", serializable ? "get-local" : "get", key) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = do_op(c, FL_EXEC_GET, req, timeout_ms, &line, &w, &n, outcome, err, errlen);
	if (r == 0) {
		if (n > 1)
			r = malformed(c, req, w, n, "'ok VALUE', or 'ok' for no such key", REQ_READ,
				      outcome, err, errlen);
		else if (n == 1 && !(*value = strdup(w[0]))) {
			*outcome = FL_OUTCOME_FAIL;
			fl_seterr(err, errlen, "out of memory");
			r = -ENOMEM;
		}
		free(w);
		free(line);
	}
	free(req);
	return r;
}

/* put, cas and add: "ok" and whatever words follow it (ignored). */
static int write_op(struct fl_sys_client *c, enum fl_exec_op op, const char *req, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	char *line, **w;
	size_t n;
	int r = do_op(c, op, req, timeout_ms, &line, &w, &n, outcome, err, errlen);

	if (r == 0) {
		free(w);
		free(line);
	}
	return r;
}

static int exec_put(struct fl_sys_client *c, const char *key, const char *value, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	char *req;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if ((r = check_word(c, "key", key, err, errlen)) < 0 ||
	    (r = check_word(c, "value", value, err, errlen)) < 0)
		return r;
	if (asprintf(&req, "put %s %s", key, value) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = write_op(c, FL_EXEC_PUT, req, timeout_ms, outcome, err, errlen);
	free(req);
	return r;
}

static int exec_cas(struct fl_sys_client *c, const char *key, const char *expect,
		    const char *value, int timeout_ms, enum fl_outcome *outcome, char *err,
		    size_t errlen)
{
	char *req;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if ((r = check_word(c, "key", key, err, errlen)) < 0 ||
	    (r = check_word(c, "expected value", expect, err, errlen)) < 0 ||
	    (r = check_word(c, "value", value, err, errlen)) < 0)
		return r;
	if (asprintf(&req, "cas %s %s %s", key, expect, value) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = write_op(c, FL_EXEC_CAS, req, timeout_ms, outcome, err, errlen);
	free(req);
	return r;
}

static int exec_add(struct fl_sys_client *c, const char *key, const char *elem, int timeout_ms,
		    enum fl_outcome *outcome, char *err, size_t errlen)
{
	char *req;
	int r;

	*outcome = FL_OUTCOME_FAIL;
	if ((r = check_word(c, "key", key, err, errlen)) < 0 ||
	    (r = check_word(c, "element", elem, err, errlen)) < 0)
		return r;
	if (asprintf(&req, "add %s %s", key, elem) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = write_op(c, FL_EXEC_ADD, req, timeout_ms, outcome, err, errlen);
	free(req);
	return r;
}

static int exec_read_set(struct fl_sys_client *c, const char *key, int serializable,
			 int timeout_ms, char ***elems, enum fl_outcome *outcome, char *err,
			 size_t errlen)
{
	char *req, *line, **w, **v = NULL;
	size_t n;
	int r;

	*elems = NULL;
	*outcome = FL_OUTCOME_FAIL;
	if ((r = check_word(c, "key", key, err, errlen)) < 0)
		return r;
	if (asprintf(&req, "%s %s", serializable ? "read-set-local" : "read-set", key) < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = do_op(c, FL_EXEC_READ_SET, req, timeout_ms, &line, &w, &n, outcome, err, errlen);
	free(req);
	if (r < 0)
		return r;
	v = calloc(n + 1, sizeof(*v));
	for (size_t k = 0; v && k < n; k++)
		if (!(v[k] = strdup(w[k]))) {
			fl_strv_free(v);
			v = NULL;
		}
	free(w);
	free(line);
	if (!v) {
		*outcome = FL_OUTCOME_FAIL;
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*elems = v;
	return 0;
}

/* "ok DIGEST [KEYS [REVISION]]": 16 hex digits are the digest as they
 * are; any other word is hashed (FNV-1a 64, as fl_digest_add(word, "")). */
static int exec_digest(struct fl_sys_client *c, int timeout_ms, char hex[FL_DIGEST_HEX],
		       int64_t *revision, size_t *nkeys, char *err, size_t errlen)
{
	enum fl_outcome o;
	char *line, **w;
	uint64_t keys = 0, rev = 0;
	size_t n;
	int r;

	r = do_op(c, FL_EXEC_DIGEST, "digest", timeout_ms, &line, &w, &n, &o, err, errlen);
	if (r < 0)
		return r;
	if (n < 1 || n > 3 || (n > 1 && parse_u64(w[1], &keys) < 0) ||
	    (n > 2 && (parse_u64(w[2], &rev) < 0 || rev > INT64_MAX))) {
		r = malformed(c, "digest", w, n, "'ok DIGEST [KEYS [REVISION]]'", REQ_READ, &o, err,
			      errlen);
	} else {
		size_t len = strlen(w[0]);
		uint64_t h = len == 16 && strspn(w[0], "0123456789abcdefABCDEF") == 16
				     ? strtoull(w[0], NULL, 16)
				     : fl_digest_add(FL_FNV64_INIT, w[0], len, "", 0);

		fl_digest_done(h, (int64_t)rev, (size_t)keys, hex, revision, nkeys);
	}
	free(w);
	free(line);
	return r;
}

/* --- readiness -------------------------------------------------------------------- */

/*
 * Ready when every node answers status and either all name the same
 * leader, or all answer '-' (a leaderless system: *leader gets "").
 */
/* Ready: every node answers and all name the same leader, or none names
 * any (a system without a leader). */
static int exec_ready_once(const struct fl_sys_nodes *nodes, struct fl_sys_client **cl,
			   int call_ms, char *leader, size_t leaderlen, char *why, size_t whylen)
{
	char first[FL_NODE_NAME_MAX + 1] = "";
	size_t named = 0, none = 0;

	for (size_t i = 0; i < nodes->n; i++) {
		struct fl_sys_status st;
		enum fl_outcome o;
		char e1[256];
		int r = exec_status(cl[i], call_ms, &st, &o, e1, sizeof(e1));

		if (r == -ENOTSUP) {
			snprintf(why, whylen, "%s; readiness needs 'status' (a system without a "
					      "leader answers 'ok - 0')", e1);
			return r;
		}
		if (r < 0) {
			snprintf(why, whylen, "%s", e1);
			return -EAGAIN;
		}
		if (!st.leader[0]) {
			none++;
			snprintf(why, whylen, "node %s knows no leader (term %" PRIu64 ")",
				 nodes->names[i], st.term);
		} else if (first[0] && strcmp(first, st.leader)) {
			snprintf(why, whylen, "nodes disagree on the leader: %s and %s", first,
				 st.leader);
			return -EAGAIN;
		} else {
			snprintf(first, sizeof(first), "%s", st.leader);
			named++;
		}
	}
	if (named == nodes->n || none == nodes->n) {
		if (leader && leaderlen)
			snprintf(leader, leaderlen, "%s", first);
		return 0;
	}
	if (named && none && strlen(why) < whylen)
		snprintf(why + strlen(why), whylen - strlen(why), " while others name %s", first);
	return -EAGAIN;
}

static int exec_wait_ready(const struct fl_sys_nodes *nodes, int64_t timeout_ns, char *leader,
			   size_t leaderlen, char *err, size_t errlen)
{
	/* client programs may run a command or two per status: room for that */
	return fl_sys_wait_ready(&fl_exec_system_ops, nodes, timeout_ns, 5000, "its process",
				 exec_ready_once, leader, leaderlen, err, errlen);
}

const struct fl_system_ops fl_exec_system_ops = {
	.name = "exec",
	.node_argv = exec_node_argv,
	.wait_ready = exec_wait_ready,
	.client_open = exec_client_open,
	.client_close = exec_client_close,
	.client_ready = exec_client_ready,
	.status = exec_status,
	.get = exec_get,
	.put = exec_put,
	.cas = exec_cas,
	.add = exec_add,
	.read_set = exec_read_set,
	.digest = exec_digest,
};
