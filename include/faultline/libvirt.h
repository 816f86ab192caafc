/* The libvirt cluster provider. Mode `attach` (fl_libvirt_up_attach, at
 * the end): existing domains, left as found. Mode `create`: one transient domain per
 * node, booted in parallel from the micro-VM node template
 * (ARCHITECTURE.md): the host's kernel, an initramfs faultline writes
 * (vmimage.h), the host's root read-only over 9p under a tmpfs overlay, so
 * a node runs the host's installed system under test and faultline-agent.
 * Nothing here logs: 0 or -errno, one lowercase message in err on failure.
 * libvirt's -1/NULL and its error text never leave this file.
 *
 * A cluster with id ID (fl_netns_make_id) and nodes N0..Nk:
 *
 *   host                                   domain "fl-ID-Ni" (transient)
 *   bridge "flIDbr" <subnet>.1/prefix
 *     └ tap "flIDt<i>" ──── virtio-net ──── eth0 <subnet>.(i+2)/prefix
 *   DIR/agent-Ni.sock ── virtio-serial ──── port "org.faultline.agent.0": the agent
 *   DIR/agent-Ni.sock.K ─ (K = 1..3) ─────── port "org.faultline.agent.K" (one client each)
 *   DIR/disk-Ni.raw   ── virtio-blk ─────── /dev/vda (ext4) on FL_LIBVIRT_DATA_DIR
 *   DIR/console-Ni.log ─ serial ─────────── ttyS0: kernel, init and agent messages
 *   /  (read-only)    ── 9p "hostroot" ──── lower layer of the root (tmpfs upper)
 *   DIR/share (rw)    ── 9p "flshare" ───── DIR/share, the same path in the guest
 *
 * The agent's channels never cross the cluster network, so a partition
 * cannot cut the harness off. qemu serves one client per channel socket (a
 * second one waits unanswered), so each node has FL_LIBVIRT_CHANNELS: the
 * agent greets a client on a port it serves, and fl_libvirt_connect takes
 * the first that greets (`status` works while `inject` holds one). The guest's init (stage 1 busybox in the
 * initramfs, stage 2 on the host's root) reads the node's name, address
 * and agent path from the kernel command line (fl.node= fl.addr= fl.agent=)
 * and restarts the agent if it exits.
 *
 * DIR/share is the one place both sides write and read at the same path
 * (node logs of a run: the guest's root is a tmpfs overlay the host never
 * sees); the system's data belongs on the node's disk instead.
 *
 * State directory DIR: `libvirt.json` (what was made: uri, accel, subnet,
 * nodes) and `libvirt.journal` (fl_journal: one undo entry written and
 * flushed before each domain, file and bridge is made). Down replays the
 * journal newest first, from the handle or from DIR alone, and refuses to
 * destroy a domain whose metadata does not name this cluster.
 *
 * Mode create reaches the agent's channel through the unix socket qemu
 * binds (its greeting logic, fl_libvirt_connect), and needs this host as
 * the hypervisor anyway: bridge, disks, initramfs and the shared root are
 * made here. Mode attach (fl_libvirt_up_attach) reaches every channel
 * through libvirt itself (fl_libvirt_connect_stream, virDomainOpenChannel),
 * so its nodes may be on any URI, one per node if need be. */
#ifndef FAULTLINE_LIBVIRT_H
#define FAULTLINE_LIBVIRT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "faultline/netns.h"
#include "faultline/provider.h"
#include "faultline/scenario.h"

#define FL_LIBVIRT_XMLNS "https://faultline.invalid/xmlns/cluster/1"
#define FL_LIBVIRT_XMLNS_PREFIX "faultline"
#define FL_LIBVIRT_CHANNEL "org.faultline.agent" /* the virtio-serial ports: NAME.0 .. */
#define FL_LIBVIRT_CHANNELS 4                    /* harness connections at once per node */
#define FL_LIBVIRT_DATA_DIR "/var/lib/faultline" /* the node's disk, in the guest */
#define FL_LIBVIRT_IFNAME "eth0"
#define FL_LIBVIRT_STATE "libvirt.json"
#define FL_LIBVIRT_JOURNAL "libvirt.journal"
#define FL_LIBVIRT_DISK_BYTES (1ull << 30)       /* sparse, ext4 */
#define FL_LIBVIRT_BOOT_TIMEOUT_TCG_S 300
#define FL_LIBVIRT_BOOT_TIMEOUT_KVM_S 120

/* --- pure functions ----------------------------------------------------------- */

/* One domain of the node template; every field required. */
struct fl_libvirt_domain {
	const char *name;       /* "fl-ID-node" */
	const char *cluster_id;
	const char *node;
	enum fl_accel accel;    /* FL_ACCEL_KVM or FL_ACCEL_TCG */
	uint64_t memory;        /* bytes, a multiple of 1 KiB */
	unsigned vcpus;
	const char *kernel, *initrd, *cmdline;
	const char *disk;       /* raw image */
	const char *channel;    /* the unix socket qemu binds for the agent's port 0 */
	unsigned nchannels;     /* 1..FL_LIBVIRT_CHANNELS: port k at fl_libvirt_channel_path */
	const char *console;    /* file the serial console is written to */
	const char *bridge, *tap, *mac;
	const char *share;      /* host directory shared read-write (tag flshare); NULL: none */
};

/* The domain XML (malloc'd into *out). -EINVAL for a missing field or an
 * accel other than kvm/tcg. */
int fl_libvirt_domain_xml(const struct fl_libvirt_domain *d, char **out);

/* The guest kernel's command line for a node: console on ttyS0, stable
 * interface names, fl.node= fl.addr=A.B.C.D/P fl.agent=PATH and, when
 * share is given, fl.share=PATH. -EINVAL when a path is not absolute or holds characters a command line cannot
 * carry (space, quotes, ...); -ENAMETOOLONG past len. */
int fl_libvirt_cmdline(const char *node, uint32_t addr, unsigned prefix, const char *agent,
		       const char *share, char *buf, size_t len);

/* kvm or tcg from what the scenario wants and whether KVM works (why: the
 * probe's words). auto: kvm only when it works. kvm when it does not:
 * -ENODEV, naming why. */
int fl_libvirt_choose_accel(enum fl_accel want, int kvm_works, const char *why,
			    enum fl_accel *out, char *err, size_t errlen);

/* Node i's MAC address, "52:54:00:XX:YY:ZZ" from the id and i (buf >= 18). */
void fl_libvirt_mac(const char *id, size_t i, char *buf, size_t len);

/* "fl-ID-node" (as fl_netns_ns_name), "flIDt<i>". -EINVAL on bad input. */
int fl_libvirt_domain_name(const char *id, const char *node, char *buf, size_t len);
int fl_libvirt_tap_name(const char *id, size_t i, char *buf, size_t len);

/* The last n lines of a file (console logs), control characters other
 * than newline dropped, into buf; older lines are dropped whole to fit
 * len; "" when it cannot be read. */
void fl_libvirt_tail(const char *path, unsigned n, char *buf, size_t len);

/* Channel k's socket: base for k = 0, "base.k" after. */
void fl_libvirt_channel_path(const char *base, unsigned k, char *buf, size_t len);

/* A connected stream to a node's agent: the first of its channels (base,
 * base.1, ...) whose agent greets within a second or two (the others are
 * held by other clients). When none greets, channel 0 (its requests wait
 * their turn). -errno when no channel socket accepts. */
int fl_libvirt_connect(const char *base, int *fd);

/* The agent's channel through libvirt (virDomainOpenChannel), on any URI:
 * an fd (one end of a socketpair) whose bytes a pump in libvirt's event
 * loop (one thread per process) moves to and from the channel's stream.
 * Closing fd ends the stream (the agent sees its far end go); the guest
 * side ending closes the pump's end (fd reads EOF). -ENOENT: no such
 * domain; -ENXIO: the channel cannot be opened; err says which. */
int fl_libvirt_channel_open(const char *uri, const char *domain, const char *channel, int *fd,
			    char *err, size_t errlen);

/* fl_libvirt_connect through libvirt: the first of the domain's channels
 * org.faultline.agent.0..3 whose agent greets, else channel 0. */
int fl_libvirt_connect_stream(const char *uri, const char *domain, int *fd, char *err,
			      size_t errlen);

/* Can libvirt at uri be reached (read-only)? 0 with what answered in out
 * ("libvirt 9.0.0 at qemu:///system, hypervisor QEMU 7.2.0"), else -errno
 * with libvirt's words and how to start the daemon. */
int fl_libvirt_probe(const char *uri, char *out, size_t len);

/* --- the cluster ------------------------------------------------------------------ */

struct fl_libvirt_spec {
	/* the nodes and their network, as for a netns cluster: the bridge,
	 * taps and subnet are named and chosen by the same rules */
	struct fl_netns_spec net;
	const char *uri;           /* e.g. qemu:///system */
	const char *kernel;        /* NULL: the newest /boot/vmlinuz-* with its modules */
	uint64_t memory;           /* bytes per node */
	unsigned vcpus;
	enum fl_accel accel;       /* auto, kvm, tcg */
	const char *agent;         /* faultline-agent, absolute, on the host's root */
	int boot_timeout_s;        /* 0: FL_LIBVIRT_BOOT_TIMEOUT_{TCG,KVM}_S */
};

struct fl_libvirt_cluster;

/* Bring the cluster up: bridge, initramfs, disks, domains (all created,
 * then waited for together) until every node's agent answers `hello` over
 * its channel. A node that does not is named with the last lines of its
 * console. On failure everything made is removed again and *out untouched.
 * -ECONNREFUSED when libvirtd cannot be reached (err says how to start it),
 * -EEXIST when a domain or the bridge of this cluster already exists. */
int fl_libvirt_up(const struct fl_libvirt_spec *spec, struct fl_libvirt_cluster **out, char *err,
		  size_t errlen);

/* Remove everything the journal in state_dir names: domains (destroyed,
 * only when their metadata names this cluster), files, the bridge; then
 * the journal and libvirt.json. No journal = 0. Works without a handle
 * (the process that made the cluster died) and may be run again. */
int fl_libvirt_down_from_state(const char *state_dir, char *err, size_t errlen);
int fl_libvirt_down(struct fl_libvirt_cluster *c, char *err, size_t errlen);

/* Mode attach: existing domains, one per node, each on its own URI or the
 * cluster's. */
struct fl_libvirt_attach_node {
	const char *name;   /* the node */
	const char *domain; /* the existing domain */
	const char *uri;    /* NULL: the cluster's */
	uint32_t addr;      /* host order; 0: found through libvirt */
};

struct fl_libvirt_attach_spec {
	const char *id;
	size_t nnodes;
	const struct fl_libvirt_attach_node *nodes;
	int has_subnet;      /* addresses found must be on it */
	uint32_t subnet;
	unsigned prefix;
	const char *state_dir; /* created when missing */
	const char *uri;
};

/* The attach spec of scenario s's nodes first..first+n-1 (nodes: n slots,
 * which must outlive spec); the provider's `up` takes them all, `doctor
 * --scenario` one at a time. */
void fl_libvirt_attach_spec_of(const struct fl_scenario *s, const char *id, const char *dir,
			       size_t first, size_t n, struct fl_libvirt_attach_node *nodes,
			       struct fl_libvirt_attach_spec *spec);

/* Look every domain up (it must be running), find its address (the
 * given one, else fl_libvirt_find_addr) and record what was found in
 * state_dir's libvirt.json (mode attach). Nothing is made or changed in
 * libvirt. Errors name the node, the domain, the URI and what was tried:
 * -ENOENT no such domain (the domains there listed), -EHOSTDOWN not
 * running, -EADDRNOTAVAIL no address. The agents are reached later,
 * through fl_libvirt_connect_stream. Down (fl_libvirt_down_from_state)
 * leaves each domain as found: resumed if paused, started from its
 * definition if shut off; never destroyed or undefined. */
int fl_libvirt_up_attach(const struct fl_libvirt_attach_spec *s, struct fl_libvirt_cluster **out,
			 char *err, size_t errlen);

/* A domain's IPv4 address from virDomainInterfaceAddresses, its sources
 * in turn: DHCP lease, guest agent, the host's ARP table; the first on the
 * subnet when one is given (loopback skipped). domain: a virDomainPtr.
 * 0 with *out and the source's name; -ENOENT with what each source said
 * in tried. */
int fl_libvirt_find_addr(void *domain, int has_subnet, uint32_t subnet, unsigned prefix,
			 uint32_t *out, char *source, size_t sourcelen, char *tried, size_t triedlen);

/* Mode attach: 1, and node i's own URI and domain. */
int fl_libvirt_is_attach(const struct fl_libvirt_cluster *c);
const char *fl_libvirt_node_uri(const struct fl_libvirt_cluster *c, size_t i);

/* The handle of a running cluster, from libvirt.json in state_dir. */
int fl_libvirt_attach(const char *state_dir, struct fl_libvirt_cluster **out, char *err,
		      size_t errlen);
void fl_libvirt_cluster_free(struct fl_libvirt_cluster *c);

size_t fl_libvirt_nnodes(const struct fl_libvirt_cluster *c);
uint32_t fl_libvirt_node_addr(const struct fl_libvirt_cluster *c, size_t i); /* host order */
const char *fl_libvirt_node_domain(const struct fl_libvirt_cluster *c, size_t i);
const char *fl_libvirt_node_console(const struct fl_libvirt_cluster *c, size_t i);
const char *fl_libvirt_state_dir(const struct fl_libvirt_cluster *c);
const char *fl_libvirt_share(const struct fl_libvirt_cluster *c); /* DIR/share */
enum fl_accel fl_libvirt_accel(const struct fl_libvirt_cluster *c); /* kvm or tcg */

/* {"name":"libvirt","mode":"create","uri":..,"accel":"tcg","accel_why":..,
 *  "kernel":..,"subnet":..,"bridge":..,"data_dir":FL_LIBVIRT_DATA_DIR,
 *  "share":DIR/share,"boot_ms":..,"nodes":[{"name","domain","addr","mac",
 *  "boot_ms"}]}: libvirt.json's facts, without its file paths. */
json_t *fl_libvirt_describe(const struct fl_libvirt_cluster *c);

/* A VM fault on node i's domain (provider.h): suspend and resume, power
 * off (destroyed: a transient domain is gone) and on (created again from
 * DIR/domain-NODE.xml, the same disk), reset. Idempotent. */
int fl_libvirt_machine(struct fl_libvirt_cluster *c, size_t i, enum fl_machine_act act,
		       char *err, size_t errlen);

#endif
