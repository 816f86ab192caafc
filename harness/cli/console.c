/* The terminal: helpers every command uses, and the sink that shows the
 * engine's messages (say.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/cluster.h"

int add_override(struct overrides *o, char *s)
{
	char **v = realloc(o->v, (o->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	o->v = v;
	o->v[o->n++] = s;
	return 0;
}

int parse_seed(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > INT64_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

char *agent_path(void)
{
	char self[PATH_MAX], *slash, *p = NULL;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/'))) {
			*slash = 0;
			if (asprintf(&p, "%s/faultline-agent", self) > 0 && access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return strdup("faultline-agent");
}

/* --cluster NAME, or the only cluster up */
struct fl_cluster *open_cluster(const char *cmd, const char *name)
{
	char dir[PATH_MAX], err[512];
	struct fl_cluster *c = NULL;

	if (fl_cluster_find(name, dir, sizeof(dir), err, sizeof(err)) < 0 ||
	    fl_cluster_open(dir, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "faultline %s: %s\n", cmd, err);
		return NULL;
	}
	return c;
}

int need_root(const char *cmd)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "faultline %s: needs root (network namespaces and traffic control)\n", cmd);
	return -EPERM;
}

/* --- the sink ------------------------------------------------------------- */

static pthread_mutex_t console_mu = PTHREAD_MUTEX_INITIALIZER;

static void clear_status(struct fl_console *c)
{
	if (c->status_shown) {
		fputs("\r\033[K", stdout);
		c->status_shown = 0;
	}
}

static void console_say(void *ctx, enum fl_say_kind kind, const char *msg)
{
	struct fl_console *c = ctx;

	pthread_mutex_lock(&console_mu);
	clear_status(c);
	switch (kind) {
	case FL_SAY_STATUS:
		fputs(msg, stdout);
		if (c->tty)
			c->status_shown = 1;
		else
			fputc('\n', stdout);
		break;
	case FL_SAY_INFO:
		printf("%s\n", msg);
		break;
	case FL_SAY_ERROR:
		fflush(stdout);
		fprintf(stderr, "%s%s%s\n", c->prefix ? c->prefix : "", c->prefix ? ": " : "", msg);
		break;
	}
	fflush(stdout);
	pthread_mutex_unlock(&console_mu);
}

struct fl_say fl_console_sink(struct fl_console *c, const char *prefix)
{
	/* a terminal that can rewrite a line (the micro-VM's console is a tty
	 * even when the host's output goes to a file: its TERM says dumb) */
	*c = (struct fl_console){ .prefix = prefix,
				  .tty = isatty(STDOUT_FILENO) && getenv("TERM") &&
					 strcmp(getenv("TERM"), "dumb") };
	return (struct fl_say){ .fn = console_say, .ctx = c, .live = c->tty };
}

void fl_console_end(struct fl_console *c)
{
	pthread_mutex_lock(&console_mu);
	clear_status(c);
	fflush(stdout);
	pthread_mutex_unlock(&console_mu);
}
