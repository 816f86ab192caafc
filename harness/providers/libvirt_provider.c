/* The libvirt provider behind provider.h (modes create and attach;
 * libvirt.c does the work). Each node's agent is started by the guest
 * itself and listens on the node's virtio-serial channel: in create mode
 * qemu exposes it here as the unix socket DIR/agent-NODE.sock, in attach
 * mode it is opened through libvirt (virDomainOpenChannel) on the node's
 * URI. agent_start only checks that it answers; the harness cannot signal
 * it (pid 0). */
#include "faultline/provider.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/agentc.h"
#include "faultline/libvirt.h"
#include "faultline/strutil.h"

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

/* Mode attach: the scenario's domains, as they are; the agents already
 * run in them (started by the guests themselves). */
void fl_libvirt_attach_spec_of(const struct fl_scenario *s, const char *id, const char *dir,
			       size_t first, size_t n, struct fl_libvirt_attach_node *nodes,
			       struct fl_libvirt_attach_spec *spec)
{
	for (size_t i = 0; i < n; i++)
		nodes[i] = (struct fl_libvirt_attach_node){
			.name = s->cluster.nodes[first + i],
			.domain = s->cluster.libvirt.domains[first + i],
			.uri = s->cluster.libvirt.domain_uri[first + i],
			.addr = s->cluster.libvirt.domain_addr[first + i],
		};
	*spec = (struct fl_libvirt_attach_spec){
		.id = id,
		.nnodes = n,
		.nodes = nodes,
		.has_subnet = s->cluster.has_subnet,
		.subnet = s->cluster.subnet,
		.prefix = s->cluster.prefix,
		.state_dir = dir,
		.uri = s->cluster.libvirt.uri ? s->cluster.libvirt.uri : "qemu:///system",
	};
}

static int lp_up_attach(const struct fl_scenario *s, const char *id, const char *dir, void **out,
			char *err, size_t errlen)
{
	struct fl_libvirt_attach_node nodes[FL_MAX_NODES];
	struct fl_libvirt_attach_spec spec;
	struct fl_libvirt_cluster *c = NULL;
	int r;

	if (!s->cluster.libvirt.domains ||
	    fl_strv_len(s->cluster.libvirt.domains) != s->cluster.nnodes) {
		snprintf(err, errlen, "libvirt mode 'attach' needs one domain per node");
		return -EINVAL;
	}
	fl_libvirt_attach_spec_of(s, id, dir, 0, s->cluster.nnodes, nodes, &spec);
	if ((r = fl_libvirt_up_attach(&spec, &c, err, errlen)) < 0)
		return r;
	*out = c;
	return 0;
}

static int lp_up(const struct fl_scenario *s, const char *id, const char *dir,
		 const char *agent_path, void **out, char *err, size_t errlen)
{
	struct fl_libvirt_spec spec = { 0 };
	const char *names[FL_MAX_NODES];
	struct fl_libvirt_cluster *c = NULL;
	char agent[PATH_MAX];
	int r;

	if (s->cluster.libvirt.mode == FL_LIBVIRT_ATTACH)
		return lp_up_attach(s, id, dir, out, err, errlen);
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

/* Create mode: the unix sockets qemu binds here; attach mode: through
 * libvirt (virDomainOpenChannel), on the node's own URI. */
static int connect_agent(void *p, const char *dir, size_t i, const char *node, int *fd,
			 char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	if (p && fl_libvirt_is_attach(p)) {
		char e[400] = "";

		r = fl_libvirt_connect_stream(fl_libvirt_node_uri(p, i), fl_libvirt_node_domain(p, i),
					      fd, e, sizeof(e));
		if (r < 0)
			snprintf(err, errlen, "node '%s': cannot reach its agent on channel %s.0..%d "
					      "of domain '%s' at '%s': %s", node, FL_LIBVIRT_CHANNEL,
				 FL_LIBVIRT_CHANNELS - 1, fl_libvirt_node_domain(p, i),
				 fl_libvirt_node_uri(p, i), e);
		return r;
	}
	fl_provider_agent_path(dir, node, "sock", path, sizeof(path));
	if ((r = fl_libvirt_connect(path, fd)) < 0)
		snprintf(err, errlen, "node '%s': cannot reach its agent's channel %s: %s", node, path,
			 strerror(-r));
	return r;
}

static int lp_agent_connect(void *p, const char *dir, size_t i, const char *node, int *fd)
{
	char e[512];

	return connect_agent(p, dir, i, node, fd, e, sizeof(e));
}

/* One request over a fresh connection to node i's agent. */
static int call_agent(void *p, const char *dir, size_t i, const char *node, const char *op,
		      int timeout_ms, json_t **reply, char *err, size_t errlen)
{
	struct fl_agentc *a = NULL;
	int fd, r;

	if ((r = connect_agent(p, dir, i, node, &fd, err, errlen)) < 0)
		return r;
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
	if (r < 0 && p && fl_libvirt_is_attach(p)) {
		size_t l = strlen(err);

		/* the channel opened but nothing answered: no agent in the guest */
		if (l + 1 < errlen)
			snprintf(err + l, errlen - l, " (is faultline-agent running in domain '%s' on "
						     "its virtio-serial port %s.0?)",
				 fl_libvirt_node_domain(p, i), FL_LIBVIRT_CHANNEL);
		return r;
	}
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
