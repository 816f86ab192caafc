/* `faultline doctor --scenario FILE` for libvirt mode attach (doctor.h):
 * before a nightly run, can every node of the scenario be attached? Each
 * node is tried alone, the way `up` and the run use it: its domain looked
 * up on its URI and found running, its address (the scenario's or asked of
 * libvirt), its agent reached over the virtio-serial channel through
 * libvirt, asked hello, and asked to read the scenario's interface. Nothing
 * in libvirt or the guests is changed; the throwaway state directory is
 * removed again. */
#include "faultline/doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/agentc.h"
#include "faultline/libvirt.h"
#include "faultline/provider.h"
#include "faultline/strutil.h"

#define AGENT_TIMEOUT_MS 10000

/* The agent of node 0 of the one-node cluster c: hello and the interface. */
static int check_agent(void *c, const char *dir, const char *node, const char *iface,
		       struct fl_sbuf *say, char *err, size_t errlen)
{
	struct fl_agentc *a = NULL;
	json_t *reply = NULL;
	int fd, r;

	if ((r = fl_libvirt_provider.agent_connect(c, dir, 0, node, &fd)) < 0)
		return fl_fail(r, err, errlen, "the agent's channel %s.N does not open: %s",
			       FL_LIBVIRT_CHANNEL, strerror(-r));
	if ((r = fl_agentc_attach(node, fd, 0, &a)) < 0) {
		close(fd);
		return fl_fail(r, err, errlen, "out of memory");
	}
	r = fl_agentc_call(a, json_pack("{s:s}", "op", "hello"), AGENT_TIMEOUT_MS, &reply, err,
			   errlen);
	if (r == 0) {
		fl_sbuf_printf(say, ", agent %s answers on %s",
			       json_string_value(json_object_get(reply, "agent")) ?: "?",
			       FL_LIBVIRT_CHANNEL);
		json_decref(reply);
		reply = NULL;
		r = fl_agentc_call(a, json_pack("{s:s, s:s}", "op", "net_read", "iface", iface),
				   AGENT_TIMEOUT_MS, &reply, err, errlen);
		if (r == 0)
			fl_sbuf_printf(say, ", %s there", iface);
	}
	json_decref(reply);
	fl_agentc_close(a, 0);
	return r;
}

/* Node i alone: 0 and what was found in say, or -errno with err. */
static int check_node(const struct fl_scenario *s, size_t i, const char *iface,
		      struct fl_sbuf *say, char *err, size_t errlen)
{
	struct fl_libvirt_attach_node node;
	struct fl_libvirt_attach_spec spec;
	struct fl_libvirt_cluster *c = NULL;
	char dir[] = "/tmp/faultline-doctor.XXXXXX", e2[256];
	json_t *d, *n;
	int r;

	if (!mkdtemp(dir))
		return fl_fail(-errno, err, errlen, "mkdtemp: %s", strerror(errno));
	fl_libvirt_attach_spec_of(s, "doc", dir, i, 1, &node, &spec);
	r = fl_libvirt_up_attach(&spec, &c, err, errlen);
	if (r == 0) {
		d = fl_libvirt_describe(c);
		n = json_array_get(json_object_get(d, "nodes"), 0);
		fl_sbuf_printf(say, "%s on %s: %s%s, %s (%s)", node.domain,
			       json_string_value(json_object_get(n, "uri")) ?: spec.uri,
			       json_string_value(json_object_get(n, "found")) ?: "?",
			       json_is_true(json_object_get(n, "persistent")) ? " (persistent)" : "",
			       json_string_value(json_object_get(n, "addr")) ?: "?",
			       json_string_value(json_object_get(n, "addr_from")) ?: "?");
		json_decref(d);
		r = check_agent(c, dir, node.name, iface, say, err, errlen);
		fl_libvirt_down(c, e2, sizeof(e2));
		fl_libvirt_cluster_free(c);
	}
	fl_libvirt_down_from_state(dir, e2, sizeof(e2));
	rmdir(dir);
	return r;
}

int fl_doctor_scenario(FILE *out, int json, const struct fl_scenario *s, int *missing)
{
	const char *iface = s->cluster.libvirt.iface ? s->cluster.libvirt.iface : FL_LIBVIRT_IFNAME;
	json_t *o = NULL, *nodes = NULL;
	int bad = 0;

	if (s->cluster.provider != FL_PROVIDER_LIBVIRT ||
	    s->cluster.libvirt.mode != FL_LIBVIRT_ATTACH || !s->cluster.libvirt.domains)
		return -EINVAL;
	if (json) {
		o = json_pack("{s:s, s:s, s:o}", "scenario", s->name, "iface", iface, "nodes",
			      nodes = json_array());
		if (!o)
			return -ENOMEM;
	} else {
		fprintf(out, "scenario %s: libvirt mode attach, %zu nodes, interface %s\n", s->name,
			s->cluster.nnodes, iface);
	}
	for (size_t i = 0; i < s->cluster.nnodes; i++) {
		struct fl_sbuf say = { 0 };
		char err[1024] = "";
		int r = check_node(s, i, iface, &say, err, sizeof(err));

		bad += r < 0;
		if (r < 0 && say.p) { /* what was found before it failed, then why */
			fl_sbuf_printf(&say, ": ");
			fl_sbuf_str(&say, err);
			snprintf(err, sizeof(err), "%s", say.oom ? "out of memory" : say.p);
		}
		if (json)
			json_array_append_new(nodes, json_pack("{s:s, s:s, s:b, s:s}", "node",
							       s->cluster.nodes[i], "domain",
							       s->cluster.libvirt.domains[i], "ok",
							       r == 0, "detail",
							       r == 0 ? (say.p ?: "") : err));
		else
			fprintf(out, "%-8s %s: %s\n", r == 0 ? "ok" : "MISSING", s->cluster.nodes[i],
				r == 0 ? (say.p ?: "") : err);
		free(say.p);
	}
	if (json) {
		json_object_set_new(o, "missing", json_integer(bad));
		json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', out);
		json_decref(o);
	} else if (bad) {
		fprintf(out, "%d of %zu nodes cannot be attached: fix them before the run\n", bad,
			s->cluster.nnodes);
	} else {
		fprintf(out, "every node can be attached\n");
	}
	if (missing)
		*missing = bad;
	return ferror(out) ? -EIO : 0;
}
