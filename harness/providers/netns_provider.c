/* The netns provider behind provider.h: a network namespace per node on a
 * bridge (netns.c does the work), the agent started inside the node's
 * namespace listening on a unix socket in the state directory. */
#include "faultline/provider.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "faultline/agent.h"
#include "faultline/journal.h"
#include "faultline/netns.h"

static int np_up(const struct fl_scenario *s, const char *id, const char *dir,
		 const char *agent_path, void **out, char *err, size_t errlen)
{
	struct fl_netns_spec spec = { 0 };
	const char *names[FL_MAX_NODES];
	struct fl_netns_cluster *nc = NULL;
	int r;

	(void)agent_path; /* agent_start spawns it into the node */
	fl_provider_net_spec(s, id, dir, names, &spec);
	if ((r = fl_netns_up(&spec, &nc, err, errlen)) < 0)
		return r;
	*out = nc;
	return 0;
}

static int np_attach(const char *dir, void **out, char *err, size_t errlen)
{
	struct fl_netns_cluster *nc = NULL;
	int r = fl_netns_attach(dir, &nc, err, errlen);

	if (r < 0)
		return r;
	*out = nc;
	return 0;
}

static int np_down(void *p, const char *dir, char *err, size_t errlen)
{
	return p ? fl_netns_down(p, err, errlen) : fl_netns_down_from_state(dir, err, errlen);
}

static void np_free(void *p)
{
	fl_netns_cluster_free(p);
}

static uint32_t np_node_addr(void *p, size_t i)
{
	return fl_netns_node_addr(p, i);
}

static int np_agent_start(void *p, const char *dir, size_t i, const char *node,
			  const char *agent_path, pid_t *pid, char *err, size_t errlen)
{
	char journal[PATH_MAX], sock[PATH_MAX], log[PATH_MAX];
	char *argv[] = { (char *)agent_path, (char *)"--node",	    (char *)node,
			 (char *)"--journal", journal,		    (char *)"--listen",
			 sock,		      (char *)"--iface",    (char *)FL_NETNS_IFNAME,
			 (char *)"--heal-after", (char *)"5s",	    NULL };
	int logfd, r;

	fl_provider_agent_path(dir, node, "journal", journal, sizeof(journal));
	fl_provider_agent_path(dir, node, "sock", sock, sizeof(sock));
	fl_provider_agent_path(dir, node, "log", log, sizeof(log));
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", log, strerror(errno));
		return r;
	}
	r = fl_netns_spawn(p, i, argv, -1, logfd, logfd, pid, err, errlen);
	close(logfd);
	return r;
}

static int np_agent_connect(void *p, const char *dir, size_t i, const char *node, int *fd)
{
	char path[PATH_MAX];

	(void)p;
	(void)i;
	fl_provider_agent_path(dir, node, "sock", path, sizeof(path));
	return fl_provider_connect_unix(path, fd);
}

/* The agent's own heal, run in the node's namespace: fl_agent_init replays
 * a journal a dead agent left (as a restarted agent would). */
static int np_agent_heal(void *p, const char *dir, size_t i, const char *node, char *err,
			 size_t errlen)
{
	char path[PATH_MAX];
	struct fl_journal *j;
	struct fl_agent a;
	size_t n, left = 0, healed = 0;
	int saved, r;

	fl_provider_agent_path(dir, node, "journal", path, sizeof(path));
	if (fl_journal_open(path, &j) < 0)
		return 0; /* no journal: nothing was ever applied */
	n = fl_journal_count(j);
	fl_journal_close(j);
	if (!n)
		return 0;
	if (!p) {
		snprintf(err, errlen, "node '%s': %zu faults in its journal, but its namespace is "
				      "gone", node, n);
		return -ENOENT;
	}
	if ((r = fl_netns_enter(p, i, &saved, err, errlen)) < 0)
		return r;
	r = fl_agent_init(&a, node, path, 0, NULL);
	if (r == 0) {
		left = fl_journal_count(a.journal);
		if (left)
			r = fl_agent_heal(&a, &healed, err, errlen);
		fl_agent_shutdown(&a, "heal");
		fl_agent_release(&a);
	} else {
		snprintf(err, errlen, "node '%s': cannot open its journal '%s': %s", node, path,
			 strerror(-r));
	}
	fl_netns_leave(saved);
	return r < 0 ? r : (int)n;
}

static json_t *np_describe(void *p)
{
	(void)p;
	return json_pack("{s:s}", "name", "netns");
}

const struct fl_provider_ops fl_netns_provider = {
	.name = "netns",
	.iface = FL_NETNS_IFNAME,
	.journal = FL_NETNS_JOURNAL,
	.up = np_up,
	.attach = np_attach,
	.down = np_down,
	.free = np_free,
	.node_addr = np_node_addr,
	.agent_start = np_agent_start,
	.agent_connect = np_agent_connect,
	.agent_heal = np_agent_heal,
	.describe = np_describe,
};
