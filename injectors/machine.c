/* Faults on a VM node's own machine, by its agent (only an agent started
 * with --vm-node: a network namespace's clock and machine are the host's):
 *
 * reboot: a clean reboot, as a shutdown would do it: every process gets
 * SIGTERM, two seconds later SIGKILL, the file systems are synced, and the
 * kernel restarts the machine. The reply goes out first; the harness then
 * waits for the agent of the next boot (another boot id in its hello).
 *
 * clock: shift this machine's wall clock (CLOCK_REALTIME) by an
 * offset, and back. Only an agent that owns its machine's clock may do it
 * (started with --vm-node: the agent of a VM node); an agent in a network
 * namespace shares the host's clock and refuses, whatever it is asked.
 * The undo is journaled first: the distance from CLOCK_MONOTONIC to the
 * wall clock before the shift, and this boot's id. Undo puts the wall
 * clock back at that distance, so the time that passed meanwhile is kept
 * and undoing twice is undoing once; after a reboot (another boot id) the
 * clock came from the hypervisor again and there is nothing to undo.
 * CLOCK_MONOTONIC (timeouts, the dead-man switch) never moves. Clock
 * faults on one node never overlap (the scenario refuses it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include "faultline/agent.h"

#define NS_PER_S 1000000000LL
#define MAX_OFFSET_NS (86400 * NS_PER_S)

static int64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}


/* Set CLOCK_REALTIME to CLOCK_MONOTONIC + dist_ns. 0 or -errno with err. */
static int set_distance(int64_t dist_ns, char *err, size_t errlen)
{
	int64_t ns = now_ns(CLOCK_MONOTONIC) + dist_ns;
	struct timespec ts = { .tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S) };

	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		snprintf(err, errlen, "cannot set the clock: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/* {"op":"clock","fault":ID,"offset_ns":N} */
static int op_clock(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	json_t *off = json_object_get(req, "offset_ns"), *undo;
	int64_t ns, dist = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
	char boot[64];
	int r;

	if (!a->vm_node) {
		snprintf(err, errlen, "this node shares its clock with the host (a network namespace): "
				      "a clock fault needs a VM node");
		return -EPERM;
	}
	if (!json_is_integer(off) || (ns = json_integer_value(off)) == 0 || ns > MAX_OFFSET_NS ||
	    ns < -MAX_OFFSET_NS) {
		snprintf(err, errlen, "'offset_ns' must be a non-zero integer within one day");
		return -EINVAL;
	}
	fl_agent_boot_id(boot, sizeof(boot));
	undo = fl_agent_undo_entry(req, "clock");
	json_object_set_new(undo, "distance_ns", json_integer(dist));
	json_object_set_new(undo, "boot_id", json_string(boot));
	r = fl_journal_append(a->journal, undo);
	json_decref(undo);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the journal: %s", strerror(-r));
		return r;
	}
	if ((r = set_distance(dist + ns, err, errlen)) < 0)
		return r;
	*reply = json_pack("{s:I}", "offset_ns", (json_int_t)ns);
	return 0;
}

static int undo_clock(struct fl_agent *a, json_t *e, char *err, size_t errlen)
{
	json_t *dist = json_object_get(e, "distance_ns");
	const char *was = json_string_value(json_object_get(e, "boot_id"));
	char boot[64];

	/* only an agent that owns its clock wrote the entry (op_clock); the
	 * agent replaying it at start may not know yet that it does */
	(void)a;
	if (!json_is_integer(dist))
		return 0;
	fl_agent_boot_id(boot, sizeof(boot));
	if (!was || strcmp(was, boot))
		return 0; /* rebooted since: the clock is the hypervisor's again */
	return set_distance(json_integer_value(dist), err, errlen);
}

/* {"op":"reboot"}: answered at once; a child does the shutdown. */
static int op_reboot(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	char boot[64];
	pid_t pid;

	(void)req;
	if (!a->vm_node) {
		snprintf(err, errlen, "this node shares its machine with the host (a network "
				      "namespace): a reboot needs a VM node");
		return -EPERM;
	}
	fl_agent_boot_id(boot, sizeof(boot));
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		struct timespec t = { 0, 300 * 1000000 };
		setsid();
		signal(SIGTERM, SIG_IGN);
		nanosleep(&t, NULL); /* the reply reaches the harness */
		kill(-1, SIGTERM);   /* every process but init and this one */
		t = (struct timespec){ 2, 0 };
		nanosleep(&t, NULL);
		kill(-1, SIGKILL);
		sync();
		reboot(RB_AUTOBOOT);
		_exit(1);
	}
	*reply = json_pack("{s:s}", "boot_id", boot);
	return 0;
}

static const struct fl_agent_op ops[] = {
	{ "clock", op_clock },
	{ "reboot", op_reboot },
};

static const struct fl_undo_kind undos[] = {
	{ "clock", undo_clock },
};

const struct fl_injector_ops fl_machine_ops = {
	.name = "machine",
	.ops = ops,
	.nops = sizeof(ops) / sizeof(ops[0]),
	.undos = undos,
	.nundos = sizeof(undos) / sizeof(undos[0]),
};
