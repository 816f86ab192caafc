/* `faultline doctor`: can this machine run faultline? Probes every kernel
 * piece faultline uses, the way faultline uses it (libnl, the tc module's
 * builders and fl_tc_apply), plus the programs around it, and says for each
 * one: ok, missing (with the kernel's own words) and how to get it.
 *
 * Kernel probes run in a thread of their own that unshares its network
 * namespace (unshare(CLONE_NEWNET) acts on that thread only): the veth pair,
 * bridge, qdiscs and filters it makes live there and vanish with the thread.
 * The caller's namespace is never entered, read or changed; nothing is
 * pinned under /run/netns. The kernel may autoload modules (sch_prio, ...)
 * while being asked, exactly as it would for `tc`.
 *
 * Required probes (counted in *missing): network namespaces, veth, bridge,
 * sch_prio, sch_netem and its three delay tables, cls_u32 (IPv4 and IPv6),
 * act_gact, and faultline's whole tc layout through fl_tc_apply. Optional
 * ones only warn: act_pedit and act_csum (Byzantine payload tampering),
 * libvirt, qemu, KVM, the micro-VM's kernel and static busybox, the SUT
 * programs etcd, redis-server, redis-sentinel. Without the privilege to make
 * a namespace (not root), kernel probes are "skipped: needs root", not
 * missing.
 *
 * Never logs; writes only to the FILE it is given. Functions return 0 or
 * -errno for internal failures (out of memory, no thread, a write error);
 * missing features are results, not failures.
 */
#ifndef FAULTLINE_DOCTOR_H
#define FAULTLINE_DOCTOR_H

#include <stddef.h>
#include <stdio.h>

enum fl_doctor_status {
	FL_DOCTOR_OK,
	FL_DOCTOR_MISSING, /* a required piece is missing */
	FL_DOCTOR_WARNING, /* an optional piece is missing */
	FL_DOCTOR_SKIPPED, /* not probed: no privilege, or what it builds on is missing */
};

#define FL_DOCTOR_MAX_PROBES 32

struct fl_doctor_probe {
	const char *name;  /* "sch_prio": the kernel module, program or feature */
	const char *what;  /* "prio qdisc" */
	int required;      /* missing it counts in fl_doctor_report.missing */
	int tc;            /* a traffic-control piece of the fault injectors */
	enum fl_doctor_status status;
	char detail[768];  /* ok: what was found; else what failed and why */
	char fix[320];     /* how to get it; "" when ok */
};

struct fl_doctor_report {
	struct fl_doctor_probe probes[FL_DOCTOR_MAX_PROBES];
	size_t n;
	int missing;       /* required probes MISSING */
	int tc_missing;    /* of which traffic-control pieces */
	int warnings, skipped, ok;
	char kernel[128];  /* uname -r */
};

/* Run every probe; prints nothing. */
int fl_doctor_probe_all(struct fl_doctor_report *r);

/* The report as text, one line a probe
 *   "ok       sch_netem (netem qdisc)"
 *   "MISSING  sch_prio: <what failed>: <why> (kernel: '<text>') -> <fix>"
 *   "warning  act_pedit: <...> (Byzantine payload tampering unavailable) -> <fix>"
 *   "skipped  veth: needs root"
 * then a summary line and, when a required piece is missing, the advice to
 * run inside the test micro-VM; or with json, one JSON object
 *   {"kernel": "..", "probes": [{"name", "ok", "required", "status", "detail",
 *    "fix"}, ..], "missing": N, "advice": ".." (only when there is some)}. */
int fl_doctor_print(FILE *out, int json, const struct fl_doctor_report *r);

/* Both: what `faultline doctor [--json]` calls. *missing (may be NULL)
 * receives the number of required pieces missing. */
int fl_doctor_run(FILE *out, int json, int *missing);

/* `faultline doctor --scenario FILE` for a scenario in libvirt mode attach
 * (doctor_attach.c): each node tried alone as `up` and the run would (its
 * domain running on its URI, its address, its agent answering hello over
 * the channel, the scenario's interface there), nothing changed. One line
 * a node, "ok       n1: <domain> on <uri>: running, <addr> (<source>),
 * agent <version> answers ..., eth1 there" or "MISSING  n2: <what failed>",
 * then a summary; or with json {"scenario", "iface", "nodes": [{"node",
 * "domain", "ok", "detail"}], "missing"}. *missing: the nodes that cannot
 * be attached. -EINVAL when s is not an attach scenario. */
struct fl_scenario;
int fl_doctor_scenario(FILE *out, int json, const struct fl_scenario *s, int *missing);

#endif
