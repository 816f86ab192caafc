/* The libvirt provider behind provider.h (mode create; libvirt.c does the
 * work). Each node's agent is started by the guest's init as it boots and
 * listens on the node's virtio-serial channel, which qemu exposes here as
 * the unix socket DIR/agent-NODE.sock: agent_start only checks that it
 * answers, the harness cannot signal it (pid 0). */
#include "faultline/provider.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/agentc.h"
#include "faultline/libvirt.h"

#define HELLO_TIMEOUT_MS 30000
#define HEAL_TIMEOUT_MS 10000

/* An absolute agent path: the guest runs it from the host's root. */
static int absolute_agent(const char *agent, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(agent, '/'))
		return realpath(agent, out) && strlen(out) < len ? 0 : -ENOENT;
	for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		if (n && snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, agent) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return realpath(buf, out) ? 0 : -ENOENT;
		p += n + (p[n] == ':');
	}
	return -ENOENT;
}

static int lp_up(const struct fl_scenario *s, const char *id, const char *dir,
		 const char *agent_path, void **out, char *err, size_t errlen)
{
	struct fl_libvirt_spec spec = { 0 };
	const char *names[FL_MAX_NODES];
	struct fl_libvirt_cluster *c = NULL;
	char agent[PATH_MAX];
	int r;

	if (s->cluster.libvirt.mode != FL_LIBVIRT_CREATE) {
		snprintf(err, errlen, "libvirt mode '%s' is not implemented yet; use 'create'",
			 fl_libvirt_mode_to_string(s->cluster.libvirt.mode));
		return -EOPNOTSUPP;
	}
	if (absolute_agent(agent_path, agent, sizeof(agent)) < 0) {
		snprintf(err, errlen, "the agent '%s' is not found on this host", agent_path);
		return -ENOENT;
	}
	fl_provider_net_spec(s, id, dir, names, &spec.net);
	spec.uri = s->cluster.libvirt.uri ? s->cluster.libvirt.uri : "qemu:///system";
	spec.kernel = s->cluster.libvirt.kernel;
	spec.memory = s->cluster.libvirt.memory;
	spec.vcpus = s->cluster.libvirt.vcpus;
	spec.accel = s->cluster.libvirt.accel;
	spec.agent = agent;
	/* slow or loaded hosts: the bound on a node's boot, in seconds */
	if (getenv("FAULTLINE_BOOT_TIMEOUT"))
		spec.boot_timeout_s = atoi(getenv("FAULTLINE_BOOT_TIMEOUT"));
	if ((r = fl_libvirt_up(&spec, &c, err, errlen)) < 0)
		return r;
	*out = c;
	return 0;
}

static int lp_attach(const char *dir, void **out, char *err, size_t errlen)
{
	struct fl_libvirt_cluster *c = NULL;
	int r = fl_libvirt_attach(dir, &c, err, errlen);

	if (r < 0)
		return r;
	*out = c;
	return 0;
}

/* From the journal in dir, handle or not: the same undo either way. */
static int lp_down(void *p, const char *dir, char *err, size_t errlen)
{
	(void)p;
	return fl_libvirt_down_from_state(dir, err, errlen);
}

static void lp_free(void *p)
{
	fl_libvirt_cluster_free(p);
}

static uint32_t lp_node_addr(void *p, size_t i)
{
	return fl_libvirt_node_addr(p, i);
}

static int lp_agent_connect(void *p, const char *dir, size_t i, const char *node, int *fd)
{
	char path[PATH_MAX];

	(void)p;
	(void)i;
	fl_provider_agent_path(dir, node, "sock", path, sizeof(path));
	return fl_libvirt_connect(path, fd);
}

/* One request over a fresh connection to node i's agent. */
static int call_agent(void *p, const char *dir, size_t i, const char *node, const char *op,
		      int timeout_ms, json_t **reply, char *err, size_t errlen)
{
	struct fl_agentc *a = NULL;
	int fd, r;

	if ((r = lp_agent_connect(p, dir, i, node, &fd)) < 0) {
		snprintf(err, errlen, "node '%s': cannot reach its agent's channel: %s", node,
			 strerror(-r));
		return r;
	}
	if ((r = fl_agentc_attach(node, fd, 0, &a)) < 0) {
		close(fd);
		return r;
	}
	r = fl_agentc_call(a, json_pack("{s:s}", "op", op), timeout_ms, reply, err, errlen);
	fl_agentc_close(a, 0);
	return r;
}

static int lp_agent_start(void *p, const char *dir, size_t i, const char *node,
			  const char *agent_path, pid_t *pid, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int r;

	(void)agent_path; /* the guest's init started it at boot */
	r = call_agent(p, dir, i, node, "hello", HELLO_TIMEOUT_MS, &reply, err, errlen);
	json_decref(reply);
	if (r < 0 && p) {
		char tail[300]; /* the newest lines that fit callers' 512-byte messages */
		size_t l = strlen(err);

		fl_libvirt_tail(fl_libvirt_node_console(p, i), 8, tail, sizeof(tail));
		if (tail[0] && l + 1 < errlen)
			snprintf(err + l, errlen - l, "; the last lines of its console (%s):\n%s",
				 fl_libvirt_node_console(p, i), tail);
		return r;
	}
	if (r == 0)
		*pid = 0;
	return r;
}

/* A dead agent is started again by the guest's init, and a new agent heals
 * the journal the old one left before it serves: so heal through it. */
static int lp_agent_heal(void *p, const char *dir, size_t i, const char *node, char *err,
			 size_t errlen)
{
	json_t *reply = NULL;
	int r = call_agent(p, dir, i, node, "heal", HEAL_TIMEOUT_MS, &reply, err, errlen);

	if (r == 0)
		r = (int)json_integer_value(json_object_get(reply, "healed"));
	json_decref(reply);
	return r;
}

static json_t *lp_describe(void *p)
{
	return fl_libvirt_describe(p);
}

static int lp_machine(void *p, size_t i, enum fl_machine_act act, char *err, size_t errlen)
{
	return fl_libvirt_machine(p, i, act, err, errlen);
}

const struct fl_provider_ops fl_libvirt_provider = {
	.name = "libvirt",
	.iface = FL_LIBVIRT_IFNAME,
	.journal = FL_LIBVIRT_JOURNAL,
	.up = lp_up,
	.attach = lp_attach,
	.down = lp_down,
	.free = lp_free,
	.node_addr = lp_node_addr,
	.agent_start = lp_agent_start,
	.agent_connect = lp_agent_connect,
	.agent_heal = lp_agent_heal,
	.describe = lp_describe,
	.machine = lp_machine,
};
