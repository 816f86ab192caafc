/* Local clusters that outlive the command that made them: provider, agents
 * and a state file. Every step of `up` is undone on failure; `down` works
 * from the files alone, even when the process that ran `up` was killed. */
#include "faultline/cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/journal.h"
#include "faultline/netns.h"
#include "faultline/provider.h"
#include "faultline/strutil.h"
#include "faultline/system.h"
#include "faultline/util.h"

#define STATE_FILE "cluster.json"
/* fl_cluster_own_dir's directories, one a line */
#define OWNED_FILE "owned-dirs"

const char *fl_cluster_root(void)
{
	const char *r = getenv("FAULTLINE_STATE");

	return r && *r ? r : "/run/faultline";
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* <dir>/agent-<node>.<what> */
static int write_state(const struct fl_cluster *c)
{
	json_t *o = json_object(), *nodes = json_array();
	char path[PATH_MAX], e[256];
	int r = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct in_addr in = { .s_addr = htonl(c->addrs[i]) };
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in, a, sizeof(a));
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:i}", "name", c->names[i], "addr", a,
						       "agent_pid", (int)c->agent_pids[i]));
	}
	json_object_set_new(o, "scenario", json_string(c->scenario));
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "provider", json_string(c->prov->name));
	json_object_set_new(o, "iface", json_string(c->iface));
	json_object_set_new(o, "nodes", nodes);
	snprintf(path, sizeof(path), "%s/%s", c->dir, STATE_FILE);
	if (fl_json_write_atomic(path, o, e, sizeof(e)) < 0)
		r = -EIO;
	json_decref(o);
	return r;
}

static int connect_agent(const struct fl_cluster *c, size_t i, int *fd)
{
	return c->prov->agent_connect(c->pc, c->dir, i, c->names[i], fd);
}

/* The directory of this cluster's data on nodes that outlive it (libvirt
 * attach: fresh for each up), which down removes; NULL for the others. */
static char *outliving_data_dir(const struct fl_cluster *c)
{
	json_t *d = c->pc && c->prov->describe ? c->prov->describe(c->pc) : NULL;
	const char *dd = json_string_value(json_object_get(d, "data_dir"));
	char *r = NULL;

	if (dd && !strcmp(json_string_value(json_object_get(d, "mode")) ?: "", "attach"))
		r = strdup(dd);
	json_decref(d);
	return r;
}

static void stop_agents(struct fl_cluster *c)
{
	char *data = outliving_data_dir(c);

	/* an agent the harness cannot signal (it runs in a VM) keeps its
	 * processes past a connection: ask it to stop them, so a node that
	 * outlives the cluster (libvirt attach) is left without them, and
	 * without this cluster's data */
	for (size_t i = 0; i < c->n; i++) {
		json_t *reply = NULL;
		char e[256];
		int fd;

		if (c->agent_pids[i] > 0 || !c->pc)
			continue;
		if (!c->agents[i] && connect_agent(c, i, &fd) == 0 &&
		    fl_agentc_attach(c->names[i], fd, 0, &c->agents[i]) < 0)
			close(fd);
		if (c->agents[i] &&
		    fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "stop"), 10000, &reply, e,
				   sizeof(e)) == 0 && data) {
			json_decref(reply);
			reply = NULL;
			fl_agentc_call(c->agents[i],
				       json_pack("{s:s, s:s, s:b}", "op", "file", "path", data,
						 "remove", 1),
				       10000, &reply, e, sizeof(e));
		}
		json_decref(reply);
	}
	free(data);
	for (size_t i = 0; i < c->n; i++) {
		fl_agentc_close(c->agents[i], 100);
		c->agents[i] = NULL;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->agent_pids[i] > 0)
			kill(c->agent_pids[i], SIGTERM);
	for (int t = 0; t < 300; t++) {
		int alive = 0;
		for (size_t i = 0; i < c->n; i++) {
			if (c->agent_pids[i] <= 0)
				continue;
			/* our child (up failed) or someone else's (down later) */
			if (waitpid(c->agent_pids[i], NULL, WNOHANG) == c->agent_pids[i] ||
			    kill(c->agent_pids[i], 0) < 0)
				c->agent_pids[i] = 0;
			else
				alive = 1;
		}
		if (!alive)
			return;
		sleep_ms(10);
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->agent_pids[i] > 0) {
			kill(c->agent_pids[i], SIGKILL);
			waitpid(c->agent_pids[i], NULL, WNOHANG);
			c->agent_pids[i] = 0;
		}
}

static int start_agent(struct fl_cluster *c, size_t i, const char *agent_path, char *err,
		       size_t errlen)
{
	return c->prov->agent_start(c->pc, c->dir, i, c->names[i], agent_path, &c->agent_pids[i],
				    err, errlen);
}

int fl_cluster_up(const struct fl_scenario *s, const char *agent_path, struct fl_cluster **out,
		  char *err, size_t errlen)
{
	struct fl_cluster *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	if (!(c->prov = fl_provider_lookup(s->cluster.provider))) {
		snprintf(err, errlen, "provider '%s' is not implemented yet; use 'netns'",
			 fl_provider_to_string(s->cluster.provider));
		free(c);
		return -EOPNOTSUPP;
	}
	if ((r = fl_netns_make_id(s->name, c->id)) < 0) {
		free(c);
		return r;
	}
	mkdir(fl_cluster_root(), 0755);
	snprintf(c->dir, sizeof(c->dir), "%s/%s", fl_cluster_root(), c->id);
	c->scenario = strdup(s->name);
	snprintf(c->iface, sizeof(c->iface), "%s",
		 s->cluster.provider == FL_PROVIDER_LIBVIRT && s->cluster.libvirt.iface
			 ? s->cluster.libvirt.iface
			 : c->prov->iface);
	c->n = s->cluster.nnodes;
	for (size_t i = 0; i < c->n; i++)
		c->names[i] = strdup(s->cluster.nodes[i]);
	if ((r = c->prov->up(s, c->id, c->dir, agent_path, &c->pc, err, errlen)) < 0) {
		rmdir(c->dir); /* the provider made it (and emptied it again) */
		fl_cluster_free(c);
		return r;
	}
	for (size_t i = 0; i < c->n; i++)
		c->addrs[i] = c->prov->node_addr(c->pc, i);
	/* the state before each agent and again with its PID: an up killed
	 * in between leaves down what it needs (the nodes' names, the agents) */
	r = write_state(c);
	for (size_t i = 0; i < c->n && r == 0; i++)
		if ((r = start_agent(c, i, agent_path, err, errlen)) == 0)
			r = write_state(c);
	/* the agents answer once their sockets listen */
	for (int t = 0; r == 0 && t < 500; t++) {
		size_t ready = 0;
		for (size_t i = 0; i < c->n; i++) {
			int fd;
			if (connect_agent(c, i, &fd) == 0) {
				close(fd);
				ready++;
			}
		}
		if (ready == c->n)
			break;
		if (t == 499) {
			snprintf(err, errlen, "the agents did not start within 5 s (see %s/agent-*.log)",
				 c->dir);
			r = -ETIMEDOUT;
		}
		sleep_ms(10);
	}
	if (r < 0) {
		char e2[256];
		stop_agents(c);
		c->prov->down(c->pc, c->dir, e2, sizeof(e2));
		rmdir(c->dir); /* best effort: empty once the provider's files are gone */
		fl_cluster_free(c);
		return r;
	}
	*out = c;
	return 0;
}

/* The provider whose journal is in dir (what an `up` killed before it
 * wrote cluster.json left behind), or NULL. */
static const struct fl_provider_ops *leftover_provider(const char *dir)
{
	for (int p = 0; p < FL_PROVIDER__N; p++) {
		const struct fl_provider_ops *ops = fl_provider_lookup((enum fl_provider)p);
		char path[PATH_MAX];

		if (!ops || !ops->journal)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, ops->journal);
		if (access(path, F_OK) == 0)
			return ops;
	}
	return NULL;
}

int fl_cluster_find(const char *name, char *dir, size_t dirlen, char *err, size_t errlen)
{
	DIR *d = opendir(fl_cluster_root());
	struct dirent *e;
	char found[8][256], want[8] = "";
	size_t n = 0;

	if (name && fl_netns_make_id(name, want) < 0)
		want[0] = 0;
	if (!d) {
		snprintf(err, errlen, "no cluster is up (nothing in %s); start one with 'faultline up'",
			 fl_cluster_root());
		return -ENOENT;
	}
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/%s", fl_cluster_root(), e->d_name, STATE_FILE);
		if (stat(p, &st) < 0) {
			/* a cluster inside a micro-VM (up --vm) */
			snprintf(p, sizeof(p), "%s/%s/vm.json", fl_cluster_root(), e->d_name);
			if (stat(p, &st) < 0) {
				/* or the leftovers of an interrupted up */
				snprintf(p, sizeof(p), "%s/%s", fl_cluster_root(), e->d_name);
				if (!leftover_provider(p))
					continue;
			}
		}
		if (name && strcmp(e->d_name, name) && strcmp(e->d_name, want))
			continue;
		if (n < 8)
			snprintf(found[n], sizeof(found[n]), "%s", e->d_name);
		n++;
	}
	closedir(d);
	if (n == 0) {
		snprintf(err, errlen, name ? "no cluster '%s' is up" : "no cluster is up%s",
			 name ? name : "; start one with 'faultline up'");
		return -ENOENT;
	}
	if (n > 1) {
		snprintf(err, errlen, "%zu clusters are up (%s, %s%s); name one with --cluster", n,
			 found[0], found[1], n > 2 ? ", ..." : "");
		return -EEXIST;
	}
	snprintf(dir, dirlen, "%s/%s", fl_cluster_root(), found[0]);
	return 0;
}

/* Whether pid is the agent this cluster started for node: a faultline-agent
 * listening on the node's socket in dir. A pid in cluster.json is signalled
 * by down only then: an edited file, or a pid reused after the agent died,
 * must not make down kill someone else's process. */
static int is_our_agent(pid_t pid, const char *dir, const char *node)
{
	char path[64], buf[4096], sock[PATH_MAX];
	const char *slash;
	ssize_t n;
	int fd;

	/* a zombie (an agent killed while nobody reaps it: the run that
	 * started it was killed too) has no command line, and is gone */
	if (fl_sys_pid_exited(pid))
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	slash = strrchr(buf, '/');
	if (strcmp(slash ? slash + 1 : buf, "faultline-agent"))
		return 0;
	fl_provider_agent_path(dir, node, "sock", sock, sizeof(sock));
	for (const char *a = buf; a < buf + n; a += strlen(a) + 1)
		if (!strcmp(a, "--listen") && a + strlen(a) + 1 < buf + n &&
		    !strcmp(a + strlen(a) + 1, sock))
			return 1;
	return 0;
}

int fl_cluster_open(const char *dir, struct fl_cluster **out, char *err, size_t errlen)
{
	struct fl_cluster *c = calloc(1, sizeof(*c));
	char path[PATH_MAX];
	json_error_t je;
	json_t *o, *nodes;
	size_t i;
	json_t *v;
	int r;

	if (!c)
		return -ENOMEM;
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	if (!(o = json_load_file(path, 0, &je))) {
		const char *slash = strrchr(dir, '/');

		/* an up killed before it wrote the state: down still removes what it made */
		if ((c->prov = leftover_provider(dir))) {
			snprintf(c->id, sizeof(c->id), "%s", slash ? slash + 1 : dir);
			c->scenario = strdup("(interrupted up)");
			*out = c;
			return 0;
		}
		snprintf(err, errlen, "%s: %s", path, je.text);
		free(c);
		return -ENOENT;
	}
	snprintf(c->id, sizeof(c->id), "%s", json_string_value(json_object_get(o, "id")) ?: "");
	c->scenario = strdup(json_string_value(json_object_get(o, "scenario")) ?: "?");
	nodes = json_object_get(o, "nodes");
	json_array_foreach(nodes, i, v) {
		struct in_addr in;
		if (i >= FL_MAX_NODES)
			break;
		c->names[i] = strdup(json_string_value(json_object_get(v, "name")) ?: "?");
		c->n = i + 1;
		if (!fl_netns_is_node_name(c->names[i])) {
			/* its name makes the paths down removes */
			snprintf(err, errlen, "%s: node '%s' is not a node name faultline gives; refusing "
					      "to touch this cluster", path, c->names[i]);
			json_decref(o);
			fl_cluster_free(c);
			return -EPERM;
		}
		if (inet_pton(AF_INET, json_string_value(json_object_get(v, "addr")) ?: "", &in) == 1)
			c->addrs[i] = ntohl(in.s_addr);
		c->agent_pids[i] = (pid_t)json_integer_value(json_object_get(v, "agent_pid"));
		if (c->agent_pids[i] <= 0) {
			c->agent_pids[i] = 0;
		} else if ((r = is_our_agent(c->agent_pids[i], dir, c->names[i])) == 0) {
			snprintf(c->refused, sizeof(c->refused),
				 "%.300s: process %d named as node %s's agent is not the agent faultline "
				 "started there; it was not signalled", path, (int)c->agent_pids[i],
				 c->names[i]);
			c->agent_pids[i] = 0;
		} else if (r < 0) {
			c->agent_pids[i] = 0; /* gone already */
		}
	}
	c->prov = fl_provider_by_name(json_string_value(json_object_get(o, "provider")) ?: "netns");
	snprintf(c->iface, sizeof(c->iface), "%s",
		 json_string_value(json_object_get(o, "iface")) ?: c->prov ? c->prov->iface : "");
	json_decref(o);
	if (!c->prov) {
		snprintf(err, errlen, "%s: unknown provider", path);
		fl_cluster_free(c);
		return -EINVAL;
	}
	if (c->prov->attach(dir, &c->pc, err, errlen) < 0)
		c->pc = NULL; /* down still works from the provider's state files */
	*out = c;
	return 0;
}

int fl_cluster_connect(struct fl_cluster *c, char *err, size_t errlen)
{
	int ok = 0;

	for (size_t i = 0; i < c->n; i++) {
		int fd;
		if (c->agents[i]) {
			ok++;
			continue;
		}
		if (connect_agent(c, i, &fd) < 0)
			continue;
		if (fl_agentc_attach(c->names[i], fd, 0, &c->agents[i]) < 0) {
			close(fd);
			continue;
		}
		ok++;
	}
	if (ok < (int)c->n)
		snprintf(err, errlen, "%d of %zu agents answer", ok, c->n);
	return ok;
}

/* --- machine faults (VM providers): journaled here, on the host ----------- */

#define MACHINE_JOURNAL "machine.journal"

static int machine_journal(const struct fl_cluster *c, struct fl_journal **j, char *err,
			   size_t errlen)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", c->dir, MACHINE_JOURNAL);
	if ((r = fl_journal_open(path, j)) < 0)
		snprintf(err, errlen, "cannot open the journal '%s': %s", path, strerror(-r));
	return r;
}

int fl_cluster_machine(struct fl_cluster *c, size_t i, enum fl_machine_act act, const char *fault,
		       char *err, size_t errlen)
{
	struct fl_journal *j = NULL;
	int r;

	if (!c->prov->machine || !c->pc) {
		snprintf(err, errlen, "the %s provider has no machines of its own: a VM fault needs "
				      "provider libvirt", c->prov->name);
		return -EOPNOTSUPP;
	}
	if (act == FL_MACHINE_SUSPEND || act == FL_MACHINE_POWER_OFF) {
		json_t *undo = json_pack("{s:s, s:I, s:s}", "undo",
					 act == FL_MACHINE_SUSPEND ? "resume" : "power-on", "node",
					 (json_int_t)i, "fault", fault ? fault : "");
		if ((r = machine_journal(c, &j, err, errlen)) < 0) {
			json_decref(undo);
			return r;
		}
		r = fl_journal_append(j, undo);
		json_decref(undo);
		fl_journal_close(j);
		if (r < 0) {
			snprintf(err, errlen, "cannot write the machine journal: %s", strerror(-r));
			return r;
		}
	}
	if (act == FL_MACHINE_POWER_OFF || act == FL_MACHINE_RESET) {
		/* its agent goes with it: the connection is dead */
		fl_agentc_close(c->agents[i], 0);
		c->agents[i] = NULL;
	}
	return c->prov->machine(c->pc, i, act, err, errlen);
}

struct machine_sel {
	long node;         /* -1: any */
	const char *fault; /* NULL: any */
};

static int machine_selected(json_t *e, const struct machine_sel *m)
{
	const char *f = json_string_value(json_object_get(e, "fault"));

	return (m->node < 0 || json_integer_value(json_object_get(e, "node")) == m->node) &&
	       (!m->fault || (f && !strcmp(f, m->fault)));
}

static int machine_keep(json_t *e, void *ctx)
{
	return !machine_selected(e, ctx);
}

int fl_cluster_machine_heal(struct fl_cluster *c, long node, const char *fault, uint64_t *woke,
			    char *err, size_t errlen)
{
	struct machine_sel sel = { node, fault };
	struct fl_journal *j = NULL;
	int r, first = 0, healed = 0;

	if (woke)
		*woke = 0;
	if (!c->prov->machine)
		return 0;
	if ((r = machine_journal(c, &j, err, errlen)) < 0)
		return r;
	for (size_t k = fl_journal_count(j); k-- > 0;) {
		json_t *e = fl_journal_entry(j, k);
		const char *undo = json_string_value(json_object_get(e, "undo"));
		json_int_t i = json_integer_value(json_object_get(e, "node"));
		char e2[256] = "";
		if (!machine_selected(e, &sel))
			continue;
		if (i < 0 || (size_t)i >= c->n || !undo) {
			r = -EINVAL;
			snprintf(e2, sizeof(e2), "a damaged machine journal entry");
		} else if (!c->pc) {
			r = -ENOTCONN;
			snprintf(e2, sizeof(e2), "the cluster's provider state is gone");
		} else {
			enum fl_machine_act act = strcmp(undo, "resume") ? FL_MACHINE_POWER_ON
									 : FL_MACHINE_RESUME;
			r = c->prov->machine(c->pc, (size_t)i, act, e2, sizeof(e2));
			if (r == 0 && act == FL_MACHINE_POWER_ON && woke)
				*woke |= 1ull << i;
		}
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "%s", e2);
		}
		if (r == 0)
			healed++;
	}
	if (!first)
		first = fl_journal_retain(j, machine_keep, &sel);
	fl_journal_close(j);
	return first < 0 ? first : healed;
}

int fl_cluster_reconnect(struct fl_cluster *c, size_t i, const char *old_boot, int timeout_ms,
			 char *err, size_t errlen)
{
	int64_t end;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
	fl_agentc_close(c->agents[i], 0);
	c->agents[i] = NULL;
	for (;;) {
		int fd;
		json_t *reply = NULL;
		char e[256];
		if (connect_agent(c, i, &fd) == 0) {
			if (fl_agentc_attach(c->names[i], fd, 0, &c->agents[i]) < 0)
				close(fd);
			else if (fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "hello"), 3000,
						&reply, e, sizeof(e)) == 0 &&
				 (!old_boot || !*old_boot ||
				  strcmp(json_string_value(json_object_get(reply, "boot_id")) ?: "",
					 old_boot))) {
				json_decref(reply);
				return 0;
			} else {
				json_decref(reply);
				fl_agentc_close(c->agents[i], 0);
				c->agents[i] = NULL;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= end)
			break;
		sleep_ms(500);
	}
	snprintf(err, errlen, "node %s: its agent (of a new boot) did not answer within %d s",
		 c->names[i], timeout_ms / 1000);
	return -ETIMEDOUT;
}

#define REBOOT_WAIT_MS 300000 /* a TCG boot on a loaded machine: minutes */

/* The boot id node i's agent says it runs on ("" when it does not answer). */
static void agent_boot_id(struct fl_cluster *c, size_t i, char *buf, size_t len)
{
	json_t *reply = NULL;
	char e[256];

	buf[0] = 0;
	if (c->agents[i] && fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "hello"), 5000,
					   &reply, e, sizeof(e)) == 0)
		snprintf(buf, len, "%s", json_string_value(json_object_get(reply, "boot_id")) ?: "");
	json_decref(reply);
}

int fl_cluster_vm_fault(struct fl_cluster *c, size_t i, const struct fl_fault *f, const char *id,
			int *restarted, char *err, size_t errlen)
{
	char boot[64];
	uint64_t woke = 0;
	int r;

	*restarted = 0;
	if (!f) {
		if ((r = fl_cluster_machine_heal(c, (long)i, id, &woke, err, errlen)) < 0)
			return r;
		if (!(woke & (1ull << i)))
			return 0;
		*restarted = 1;
		return fl_cluster_reconnect(c, i, NULL, REBOOT_WAIT_MS, err, errlen);
	}
	switch (f->kind) {
	case FL_FAULT_SUSPEND:
		return fl_cluster_machine(c, i, FL_MACHINE_SUSPEND, id, err, errlen);
	case FL_FAULT_POWER_OFF:
		return fl_cluster_machine(c, i, FL_MACHINE_POWER_OFF, id, err, errlen);
	case FL_FAULT_REBOOT:
		break;
	default:
		snprintf(err, errlen, "'%s' is not a VM fault", fl_fault_kind_to_string(f->kind));
		return -EINVAL;
	}
	/* reboot: clean (the node's agent shuts it down) or a reset; then the
	 * agent of the next boot */
	agent_boot_id(c, i, boot, sizeof(boot));
	if (f->reboot_hard) {
		r = fl_cluster_machine(c, i, FL_MACHINE_RESET, id, err, errlen);
	} else if (!c->prov->machine) {
		snprintf(err, errlen, "the %s provider has no machines of its own: a VM fault needs "
				      "provider libvirt", c->prov->name);
		r = -EOPNOTSUPP;
	} else {
		json_t *reply = NULL;
		r = c->agents[i] ? fl_agentc_call(c->agents[i], json_pack("{s:s, s:s}", "op", "reboot",
									   "fault", id),
						  10000, &reply, err, errlen)
				 : -ENOTCONN;
		if (r == -ENOTCONN)
			snprintf(err, errlen, "node %s: its agent is not connected", c->names[i]);
		json_decref(reply);
	}
	if (r < 0)
		return r;
	*restarted = 1;
	return fl_cluster_reconnect(c, i, boot, REBOOT_WAIT_MS, err, errlen);
}

int fl_cluster_heal(struct fl_cluster *c, char *err, size_t errlen)
{
	int total = 0, first = 0;
	uint64_t woke = 0;

	/* machines first: a suspended or powered-off node's agent cannot answer */
	if ((first = fl_cluster_machine_heal(c, -1, NULL, &woke, err, errlen)) > 0)
		total += first;
	first = first < 0 ? first : 0;
	for (size_t i = 0; i < c->n; i++)
		if (woke & (1ull << i))
			fl_cluster_reconnect(c, i, NULL, 300000, err, errlen);
	fl_cluster_connect(c, err, errlen);
	for (size_t i = 0; i < c->n; i++) {
		char e[256] = "";
		int r;
		if (c->agents[i]) {
			json_t *reply = NULL;
			r = fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "heal"), 5000, &reply, e,
					   sizeof(e));
			if (r == 0)
				total += (int)json_integer_value(json_object_get(reply, "healed"));
			json_decref(reply);
		} else {
			/* the agent is gone: its journal replayed in the node */
			r = c->prov->agent_heal(c->pc, c->dir, i, c->names[i], e, sizeof(e));
			if (r > 0)
				total += r;
		}
		if (r < 0 && !first) {
			first = r;
			snprintf(err, errlen, "%s", e);
		}
	}
	return first ? first : total;
}

int fl_cluster_own_dir(struct fl_cluster *c, const char *path, char *err, size_t errlen)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", c->dir, OWNED_FILE);
	if (!(f = fopen(p, "a")))
		return fl_fail(-errno, err, errlen, "cannot write '%s': %s", p, strerror(errno));
	fprintf(f, "%s\n", path);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		int r = -errno;
		fclose(f);
		return fl_fail(r, err, errlen, "cannot write '%s': %s", p, strerror(-r));
	}
	fclose(f);
	return 0;
}

/* fl_cluster_own_dir's directories removed (the processes using them are
 * stopped); the first error into err */
static int remove_owned(const struct fl_cluster *c, char *err, size_t errlen)
{
	char p[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int first = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", c->dir, OWNED_FILE);
	if (!(f = fopen(p, "r")))
		return 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		int r;
		if (line[len - 1] == '\n')
			line[len - 1] = 0;
		if (line[0] != '/')
			continue;
		if ((r = fl_remove_tree(line)) < 0 && r != -ENOENT && !first)
			first = fl_fail(r, err, errlen, "cannot remove '%s': %s", line,
					strerror(-r));
	}
	free(line);
	fclose(f);
	if (!first)
		unlink(p);
	return first;
}

/* Every agent's journal, socket and log in the state directory: also those
 * of nodes an interrupted up had not named in the state yet. */
static void remove_agent_files(const struct fl_cluster *c)
{
	static const char *const f[] = { ".journal", ".sock", ".log" };
	DIR *d = opendir(c->dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "agent-", 6))
			continue;
		for (size_t k = 0; k < 3; k++) {
			size_t fl = strlen(f[k]);
			if (len > fl && !strcmp(e->d_name + len - fl, f[k]))
				unlinkat(dirfd(d), e->d_name, 0);
		}
	}
	if (d)
		closedir(d);
}

int fl_cluster_down(struct fl_cluster *c, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	stop_agents(c);
	r = c->prov->down(c->pc, c->dir, err, errlen);
	if (r < 0)
		return r;
	if ((r = remove_owned(c, err, errlen)) < 0)
		return r;
	remove_agent_files(c);
	snprintf(path, sizeof(path), "%s/%s.tmp", c->dir, STATE_FILE);
	unlink(path); /* write_state's, when it was killed between write and rename */
	snprintf(path, sizeof(path), "%s/%s", c->dir, STATE_FILE);
	unlink(path);
	/* the machines are gone with the provider's down: nothing to undo */
	snprintf(path, sizeof(path), "%s/%s", c->dir, MACHINE_JOURNAL);
	unlink(path);
	if (rmdir(c->dir) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove '%s': %s", c->dir, strerror(errno));
		return -errno;
	}
	if (c->refused[0]) { /* the rest is down; say what was left alone */
		snprintf(err, errlen, "%s", c->refused);
		return -EPERM;
	}
	return 0;
}

json_t *fl_cluster_status(struct fl_cluster *c)
{
	json_t *o = json_object(), *nodes = json_array();
	char e[256];

	fl_cluster_connect(c, e, sizeof(e));
	for (size_t i = 0; i < c->n; i++) {
		struct in_addr in = { .s_addr = htonl(c->addrs[i]) };
		char a[INET_ADDRSTRLEN];
		json_t *n, *reply = NULL;
		inet_ntop(AF_INET, &in, a, sizeof(a));
		n = json_pack("{s:s, s:s, s:b}", "name", c->names[i], "addr", a, "agent",
			      c->agents[i] != NULL);
		if (c->agents[i] && fl_agentc_call(c->agents[i], json_pack("{s:s}", "op", "journal"),
						   5000, &reply, e, sizeof(e)) == 0)
			json_object_set(n, "faults", json_object_get(reply, "entries"));
		json_decref(reply);
		reply = NULL;
		/* what the kernel holds on the node's link, read back by its agent */
		if (c->agents[i] && fl_agentc_call(c->agents[i],
						   json_pack("{s:s, s:s}", "op", "net_read", "iface",
							     c->iface),
						   5000, &reply, e, sizeof(e)) == 0)
			json_object_set(n, "kernel", json_object_get(reply, "kernel"));
		json_decref(reply);
		json_array_append_new(nodes, n);
	}
	json_object_set_new(o, "scenario", json_string(c->scenario));
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "dir", json_string(c->dir));
	if (c->pc && c->prov->describe)
		json_object_set_new(o, "provider", c->prov->describe(c->pc));
	else
		json_object_set_new(o, "provider", json_pack("{s:s}", "name", c->prov->name));
	json_object_set_new(o, "nodes", nodes);
	return o;
}

void fl_cluster_free(struct fl_cluster *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		fl_agentc_close(c->agents[i], 100);
		free(c->names[i]);
	}
	if (c->pc)
		c->prov->free(c->pc);
	free(c->scenario);
	free(c);
}
