/* Agent channel client: one JSON line out, lines in until the reply with
 * our id arrives or the time limit passes. Replies to older, timed-out
 * requests are skipped. Never blocks without a limit. */
#include "faultline/agentc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/proto.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fl_agentc_attach(const char *node, int fd, pid_t pid, struct fl_agentc **out)
{
	struct fl_agentc *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (!(c->buf = malloc(FL_PROTO_MAX_LINE + 1))) {
		free(c);
		return -ENOMEM;
	}
	snprintf(c->node, sizeof(c->node), "%s", node);
	c->fd = fd;
	c->pid = pid;
	c->next_id = 1;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

int fl_agentc_spawn(const char *agent_path, const char *node, char *const extra[],
		    struct fl_agentc **out)
{
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		char *argv[32];
		size_t n = 0;
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		argv[n++] = (char *)agent_path;
		argv[n++] = (char *)"--node";
		argv[n++] = (char *)node;
		for (size_t i = 0; extra && extra[i] && n < 31; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execv(agent_path, argv);
		_exit(127);
	}
	close(sv[1]);
	if ((r = fl_agentc_attach(node, sv[0], pid, out)) < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return r;
}

static int write_line(int fd, const char *s, size_t len, int64_t deadline)
{
	while (len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left = deadline - now_ms();
		ssize_t w;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		w = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Next complete line into *line (points into c->buf, valid until the next read). */
static int read_line(struct fl_agentc *c, int64_t deadline, char **line, size_t *llen)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left;
		ssize_t k;

		if (nl) {
			*line = c->buf;
			*llen = (size_t)(nl - c->buf);
			return 0;
		}
		if (c->len >= FL_PROTO_MAX_LINE)
			return -EPROTO;
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		k = read(c->fd, c->buf + c->len, FL_PROTO_MAX_LINE - c->len);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return -EPIPE;
		c->len += (size_t)k;
	}
}

static void drop_line(struct fl_agentc *c, size_t llen)
{
	memmove(c->buf, c->buf + llen + 1, c->len - llen - 1);
	c->len -= llen + 1;
}

int fl_agentc_call(struct fl_agentc *c, json_t *req, int timeout_ms, json_t **reply, char *err,
		   size_t errlen)
{
	int64_t deadline = now_ms() + timeout_ms, id;
	char *s, *line;
	size_t llen;
	int r;

	*reply = NULL;
	pthread_mutex_lock(&c->lock);
	id = c->next_id++;
	json_object_set_new(req, "id", json_integer(id));
	s = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(req);
	if (!s) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	{
		size_t n = strlen(s);
		char *l = realloc(s, n + 2);
		if (!l) {
			free(s);
			pthread_mutex_unlock(&c->lock);
			return -ENOMEM;
		}
		s = l;
		s[n] = '\n';
		s[n + 1] = '\0';
	}
	r = write_line(c->fd, s, strlen(s), deadline);
	free(s);
	while (r == 0 && (r = read_line(c, deadline, &line, &llen)) == 0) {
		json_t *j = json_loadb(line, llen, 0, NULL);
		drop_line(c, llen);
		if (!j)
			continue;
		if (json_integer_value(json_object_get(j, "id")) != id) {
			json_decref(j); /* a late reply to a timed-out request */
			continue;
		}
		if (!json_is_true(json_object_get(j, "ok"))) {
			const char *e = json_string_value(json_object_get(j, "error"));
			snprintf(err, errlen, "node '%s': %s", c->node, e ? e : "request failed");
			json_decref(j);
			r = -EIO;
			break;
		}
		*reply = j;
		break;
	}
	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "node '%s': no answer from the agent within %d ms", c->node,
			 timeout_ms);
	else if (r == -EPIPE)
		snprintf(err, errlen, "node '%s': the agent's channel is closed", c->node);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void fl_agentc_close(struct fl_agentc *c, int timeout_ms)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->pid > 0) {
		int64_t deadline = now_ms() + timeout_ms;
		int done = 0;
		while (!done && now_ms() < deadline) {
			pid_t w = waitpid(c->pid, NULL, WNOHANG);
			if (w == c->pid || (w < 0 && errno == ECHILD))
				done = 1;
			else {
				struct timespec ts = { 0, 10 * 1000000 };
				nanosleep(&ts, NULL);
			}
		}
		if (!done) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c->buf);
	free(c);
}
