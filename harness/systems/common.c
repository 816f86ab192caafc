/* What the system adapters share (see system.h): the placeholders of argv
 * templates, one expander for every adapter so {peers} means the same in
 * etcd's args and exec's start, and whether a node process has exited.
 * Pure except fl_sys_pid_exited, which reads /proc; nothing here logs. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>
#include <unistd.h>
#include "faultline/strutil.h"
#include "faultline/system.h"

static void ip4(uint32_t a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int fl_sys_expand(const char *tmpl, const struct fl_sys_nodes *nodes, size_t i, int port,
		  char **out, char *err, size_t errlen)
{
	struct fl_sbuf b = { 0 };
	const char *p = tmpl;

	if (!nodes || i >= nodes->n) {
		fl_seterr(err, errlen, "no node %zu in a cluster of %zu", i, nodes ? nodes->n : 0);
		return -EINVAL;
	}
	while (*p) {
		const char *e;
		size_t len;
		char a[20], item[96];

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			fl_sbuf_add(&b, p, 1);
			p += 2;
			continue;
		}
		if (*p == '}') {
			fl_seterr(err, errlen, "unmatched '}' in '%s'", tmpl);
			goto bad;
		}
		if (*p != '{') {
			fl_sbuf_add(&b, p++, 1);
			continue;
		}
		e = strchr(p, '}');
		if (!e) {
			fl_seterr(err, errlen, "unclosed '{' in '%s'", tmpl);
			goto bad;
		}
		len = (size_t)(e - p - 1);
#define IS(w) (len == strlen(w) && !strncmp(p + 1, w, len))
		if (IS("name")) {
			fl_sbuf_str(&b, nodes->names[i]);
		} else if (IS("ip")) {
			ip4(nodes->addrs[i], a, sizeof(a));
			fl_sbuf_str(&b, a);
		} else if (IS("peers")) {
			for (size_t k = 0; k < nodes->n; k++) {
				ip4(nodes->addrs[k], a, sizeof(a));
				snprintf(item, sizeof(item), "%s%s=http://%s:%d", k ? "," : "",
					 nodes->names[k], a, FL_ETCD_PEER_PORT);
				fl_sbuf_str(&b, item);
			}
		} else if (IS("peer_ips")) {
			for (size_t k = 0; k < nodes->n; k++) {
				ip4(nodes->addrs[k], a, sizeof(a));
				if (k)
					fl_sbuf_str(&b, ",");
				fl_sbuf_str(&b, a);
			}
		} else if (IS("data_dir")) {
			fl_sbuf_str(&b, nodes->data_root ? nodes->data_root : ".");
			fl_sbuf_str(&b, "/");
			fl_sbuf_str(&b, nodes->names[i]);
		} else if (IS("port")) {
			snprintf(a, sizeof(a), "%d", port);
			fl_sbuf_str(&b, a);
		} else {
			fl_seterr(err, errlen, "unknown placeholder '%.*s' in '%s'", (int)(len + 2), p,
			       tmpl);
			goto bad;
		}
#undef IS
		p = e + 1;
	}
	fl_sbuf_add(&b, "", 0);
	if (b.oom) {
		fl_seterr(err, errlen, "out of memory");
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	return 0;
bad:
	free(b.p);
	return -EINVAL;
}

/* on this host: mkdir -p, or write the file */
static int local_file(const char *path, const char *content, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	int r = 0;

	if (!content) {
		size_t n = strlen(path);
		if (!n || n >= sizeof(buf)) {
			fl_seterr(err, errlen, "cannot create '%s': bad path", path);
			return -ENAMETOOLONG;
		}
		memcpy(buf, path, n + 1);
		for (char *q = buf + 1; !r && *q; q++) {
			if (*q != '/')
				continue;
			*q = 0;
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				r = -errno;
			*q = '/';
		}
		if (!r && mkdir(path, 0755) < 0 && errno != EEXIST)
			r = -errno;
		if (r < 0)
			fl_seterr(err, errlen, "cannot create '%s': %s", path, strerror(-r));
		return r;
	}
	{
		FILE *f = fopen(path, "we");
		size_t len = strlen(content);
		r = f ? 0 : -errno;
		if (f && fwrite(content, 1, len, f) != len)
			r = -EIO;
		if (f && fclose(f) != 0 && !r)
			r = -errno;
	}
	if (r < 0)
		fl_seterr(err, errlen, "cannot write '%s': %s", path, strerror(-r));
	return r;
}

int fl_sys_node_mkdir(const struct fl_sys_nodes *nodes, size_t i, const char *dir, char *err,
		      size_t errlen)
{
	if (nodes->make_file)
		return nodes->make_file(nodes->file_ctx, i, dir, NULL, err, errlen);
	return local_file(dir, NULL, err, errlen);
}

int fl_sys_node_write(const struct fl_sys_nodes *nodes, size_t i, const char *path,
		      const char *content, char *err, size_t errlen)
{
	if (nodes->make_file)
		return nodes->make_file(nodes->file_ctx, i, path, content, err, errlen);
	return local_file(path, content, err, errlen);
}

int fl_sys_client_new(const struct fl_system_ops *ops, const struct fl_sys_nodes *nodes,
		      size_t i, size_t impl_size, struct fl_sys_client **out, char *err,
		      size_t errlen)
{
	struct fl_sys_client *c;

	*out = NULL;
	if (!nodes || i >= nodes->n || nodes->n > FL_MAX_NODES)
		return fl_fail(-EINVAL, err, errlen, "no node %zu in a cluster of %zu", i,
			       nodes ? nodes->n : 0);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->impl = calloc(1, impl_size))) {
		free(c);
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	}
	c->ops = ops;
	c->index = i;
	snprintf(c->node, sizeof(c->node), "%s", nodes->names[i]);
	*out = c;
	return 0;
}

void fl_sys_client_free(struct fl_sys_client *c)
{
	if (c) {
		free(c->impl);
		free(c);
	}
}

int fl_sys_argv_finish(struct fl_argv *a, const struct fl_scenario *s,
		       const struct fl_sys_nodes *nodes, size_t i, int port, char ***argvp,
		       char *err, size_t errlen)
{
	char *x;
	int r;

	for (size_t j = 0; s && s->system.args && s->system.args[j]; j++) {
		r = fl_sys_expand(s->system.args[j], nodes, i, port, &x, err, errlen);
		if (r < 0) {
			fl_strv_free(fl_argv_take(a));
			return r;
		}
		fl_argv_push(a, x);
	}
	*argvp = fl_argv_take(a);
	return *argvp ? 0 : fl_fail(-ENOMEM, err, errlen, "out of memory");
}

int fl_sys_resolve_program(const struct fl_scenario *s, char **prog, char *err, size_t errlen)
{
	const char *slash, *file = s ? s->file : NULL, *rel = *prog;
	char cwd[PATH_MAX], *p;
	int n;

	if (rel[0] == '/' || !strchr(rel, '/'))
		return 0;
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	slash = file ? strrchr(file, '/') : NULL;
	if (slash && file[0] == '/') {
		n = asprintf(&p, "%.*s/%s", (int)(slash - file), file, rel);
	} else {
		if (!getcwd(cwd, sizeof(cwd))) {
			n = -errno;
			fl_seterr(err, errlen, "cannot resolve '%s': no current directory: %s", rel,
			       strerror(-n));
			return n;
		}
		if (slash)
			n = asprintf(&p, "%s/%.*s/%s", cwd, (int)(slash - file), file, rel);
		else
			n = asprintf(&p, "%s/%s", cwd, rel);
	}
	if (n < 0) {
		fl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	free(*prog);
	*prog = p;
	return 0;
}

int fl_sys_add_program(struct fl_argv *a, const struct fl_scenario *s, const char *dflt,
		       char *err, size_t errlen)
{
	char *p = strdup(s && s->system.binary ? s->system.binary : dflt);
	int r;

	if (!p)
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	if ((r = fl_sys_resolve_program(s, &p, err, errlen)) < 0) {
		free(p);
		return r;
	}
	fl_argv_push(a, p);
	return 0;
}

int fl_sys_pid_exited(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int gone;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 1;
	gone = !fgets(buf, sizeof(buf), f);
	fclose(f);
	if (gone)
		return 1;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int fl_sys_wait_ready(const struct fl_system_ops *ops, const struct fl_sys_nodes *nodes,
		      int64_t timeout_ns, int max_call_ms, const char *process,
		      fl_sys_ready_fn once, char *leader, size_t leaderlen, char *err,
		      size_t errlen)
{
	struct fl_sys_client *cl[FL_MAX_NODES] = { 0 };
	int64_t deadline = mono_ns() + timeout_ns;
	char why[300] = "not asked yet";
	int r = 0;

	if (!nodes || !nodes->n || nodes->n > FL_MAX_NODES) {
		fl_seterr(err, errlen, "a cluster needs 1..%d nodes", FL_MAX_NODES);
		return -EINVAL;
	}
	for (size_t i = 0; i < nodes->n; i++)
		if ((r = ops->client_open(nodes, i, &cl[i], err, errlen)) < 0)
			goto out;
	for (;;) {
		int64_t left = (deadline - mono_ns()) / 1000000;
		int tmo = left > max_call_ms ? max_call_ms : left < 100 ? 100 : (int)left;

		for (size_t i = 0; nodes->pids && i < nodes->n; i++)
			if (nodes->pids[i] > 0 && fl_sys_pid_exited(nodes->pids[i])) {
				fl_seterr(err, errlen, "node %s: %s exited before the cluster was ready",
					  nodes->names[i], process);
				r = -ECHILD;
				goto out;
			}
		if (nodes->stop && *nodes->stop) {
			fl_seterr(err, errlen, "interrupted");
			r = -EINTR;
			goto out;
		}
		r = once(nodes, cl, tmo, leader, leaderlen, why, sizeof(why));
		if (r == 0)
			goto out;
		if (r != -EAGAIN) {
			fl_seterr(err, errlen, "%s", why);
			goto out;
		}
		if (mono_ns() >= deadline) {
			fl_seterr(err, errlen, "%s cluster not ready within %lld ms: %s", ops->name,
				  (long long)(timeout_ns / 1000000), why);
			r = -ETIMEDOUT;
			goto out;
		}
		usleep(100000);
	}
out:
	for (size_t i = 0; i < nodes->n; i++)
		if (cl[i])
			ops->client_close(cl[i]);
	return r;
}
