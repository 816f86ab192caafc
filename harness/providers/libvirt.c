/*
 * harness/providers/libvirt.c: the libvirt provider, mode create (see
 * libvirt.h). Domains through the libvirt C API, the bridge through the
 * netns module's libnl code, the boot image through vmimage.h. It must
 * never log, never make an object it has not journaled first, and never
 * destroy a domain whose metadata does not name its cluster.
 */
#include "faultline/strutil.h"
#include "faultline/libvirt.h"
#include "libvirt-priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "faultline/cleanup.h"
#include "faultline/journal.h"
#include "faultline/netns.h"
#include "faultline/provider.h"
#include "faultline/util.h"
#include "faultline/vmimage.h"

#define PATHLEN 512
#define QEMU_LOG_DIR "/var/log/libvirt/qemu"
#define CONSOLE_TAIL_LINES 8
#define CONSOLE_TAIL_BYTES 300 /* callers' messages are 512 bytes */
#define HELLO "{\"id\":1,\"op\":\"hello\"}\n"
#define GREETING_MS 1500

/* busybox applets the stage-1 init uses */
static const char *const applets[] = { "sh",  "mount", "mkdir",	   "insmod", "ip",     "hostname",
				       "cat", "cp",    "ln",	   "switch_root", "poweroff", "sleep",
				       NULL };
/* in the initramfs: what it takes to reach the host's root, the node's
 * network, channel and disk (dependencies added by modprobe) */
static const char *const initrd_modules[] = { "virtio_pci", "9pnet_virtio", "9p",	  "overlay",
					      "virtio_net", "virtio_console", "virtio_blk", "ext4",
					      NULL };
/* loaded in stage 2 from the host's /lib/modules: the agent's tc pieces */
#define TC_MODULES "sch_netem sch_prio sch_htb cls_u32 act_gact act_pedit act_csum"

struct lv_node {
	char name[FL_NETNS_NAME_MAX + 1];
	char domain[40];
	char tap[IFNAMSIZ];
	char mac[18];
	uint32_t addr;
	char disk[PATHLEN], console[PATHLEN], channel[PATHLEN], xml[PATHLEN], qemu_log[PATHLEN];
	int64_t boot_ms; /* from create to the agent's hello */
	/* attach: the node's own URI, what it was when attached, where its
	 * address came from */
	char uri[256];
	int persistent;
	char found[16];
	char addr_from[16];
};

struct fl_libvirt_cluster {
	int attach; /* mode attach: the domains are not ours */
	/* attach: the system's data in the guests, fresh for each up (a
	 * domain outlives its runs: a new run must not find the last one's) */
	char data_dir[PATHLEN];
	char id[FL_NETNS_ID_MAX + 1];
	char dir[PATHLEN];
	char uri[256];
	enum fl_accel accel;
	char accel_why[256];
	char kernel[PATHLEN], kver[128], initrd[PATHLEN];
	char boot[PATHLEN + 32]; /* what qemu loads: the kernel, or its ELF (vmlinux) */
	char share[PATHLEN + 32];
	char agent[PATHLEN + 64]; /* the agent as the guests see it (place_agent) */
	char bridge[IFNAMSIZ];
	uint32_t subnet;
	unsigned prefix;
	int64_t boot_ms;
	size_t nnodes;
	struct lv_node node[FL_MAX_NODES];
};

/* --- errors -------------------------------------------------------------------- */


/* "<what>: <libvirt's words>", libvirt's error taken at once (it keeps
 * only the last one). */
__attribute__((format(printf, 4, 5)))
static int lv_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	const char *m = virGetLastErrorMessage();
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fl_fail(code, err, errlen, "%s: %s", what, m && *m ? m : "unknown libvirt error");
	virResetLastError();
	return code;
}

/* A rollback's own failure, after the error that caused it. */
static void append_rollback(char *err, size_t errlen, const char *why)
{
	size_t l;

	if (!err || !errlen)
		return;
	l = strlen(err);
	if (l + 1 < errlen)
		snprintf(err + l, errlen - l, "; removing what was made failed too: %s", why);
}

/* libvirt prints every error on stderr unless told otherwise: we report them. */
static void lv_quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static void conn_closep(virConnectPtr *c)
{
	if (*c)
		virConnectClose(*c);
}

static void sleep_ms(int ms);
static int64_t now_ms(void);

static void dom_freep(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}

static int lv_connect(const char *uri, virConnectPtr *out, char *err, size_t errlen)
{
	virConnectPtr c;

	if (virInitialize() < 0)
		return lv_fail(-EIO, err, errlen, "cannot initialise libvirt");
	virSetErrorFunc(NULL, lv_quiet);
	if (!(c = virConnectOpen(uri))) {
		const char *m = virGetLastErrorMessage();

		fl_fail(-ECONNREFUSED, err, errlen,
		     "cannot connect to libvirt at '%s': %s; is libvirtd running? start it with "
		     "'mkdir -p /var/log/libvirt; virtlogd -d; libvirtd -d' (or 'systemctl start "
		     "libvirtd')", uri, m && *m ? m : "unknown libvirt error");
		virResetLastError();
		return -ECONNREFUSED;
	}
	*out = c;
	return 0;
}

static void version_text(unsigned long v, char *buf, size_t len)
{
	snprintf(buf, len, "%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

int fl_libvirt_probe(const char *uri, char *out, size_t len)
{
	virConnectPtr c;
	unsigned long lib = 0, hv = 0;
	const char *type;
	char a[32], b[32];

	if (virInitialize() < 0)
		return lv_fail(-EIO, out, len, "cannot initialise libvirt");
	virSetErrorFunc(NULL, lv_quiet);
	if (!(c = virConnectOpenReadOnly(uri))) {
		const char *m = virGetLastErrorMessage();

		fl_fail(-ECONNREFUSED, out, len, "cannot connect to libvirt at '%s': %s", uri,
		     m && *m ? m : "unknown libvirt error");
		virResetLastError();
		return -ECONNREFUSED;
	}
	virConnectGetLibVersion(c, &lib);
	virConnectGetVersion(c, &hv);
	type = virConnectGetType(c);
	version_text(lib, a, sizeof(a));
	version_text(hv, b, sizeof(b));
	fl_fail(0, out, len, "libvirt %s at %s, hypervisor %s %s", a, uri, type ? type : "?", b);
	virResetLastError();
	virConnectClose(c);
	return 0;
}

/* The agent's channel is the unix socket qemu binds here. */
static int uri_is_local(const char *uri)
{
	const char *p = strstr(uri, "://");

	return p && p[3] == '/' && !strchr(uri, '+') && strncmp(p, ":///", 4) == 0;
}

/* --- pure functions ----------------------------------------------------------------- */

int fl_libvirt_domain_name(const char *id, const char *node, char *buf, size_t len)
{
	return fl_netns_ns_name(id, node, buf, len);
}

int fl_libvirt_tap_name(const char *id, size_t i, char *buf, size_t len)
{
	char check[IFNAMSIZ];

	/* the id's validity through the netns naming rules */
	if (fl_netns_link_name(id, i, check, sizeof(check)) < 0 ||
	    (size_t)snprintf(buf, len, "fl%st%zu", id, i) >= len || strlen(buf) >= IFNAMSIZ)
		return -EINVAL;
	return 0;
}

void fl_libvirt_mac(const char *id, size_t i, char *buf, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a of the id */

	for (const char *p = id; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(buf, len, "52:54:00:%02x:%02x:%02x", (h >> 8) & 0xff, h & 0xff, (unsigned)(i & 0xff));
}

static int cmdline_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("/._+-", *s)))
			return 0;
	return 1;
}

int fl_libvirt_cmdline(const char *node, uint32_t addr, unsigned prefix, const char *agent,
		       const char *share, char *buf, size_t len)
{
	int n, m = 0;

	if (!node || !agent || agent[0] != '/' || !cmdline_safe(agent) || !cmdline_safe(node) ||
	    (share && (share[0] != '/' || !cmdline_safe(share))) || prefix < 1 || prefix > 32)
		return -EINVAL;
	/* quiet boot, and the TCG-friendly switches of tests/vm/run */
	n = snprintf(buf, len,
		     "console=ttyS0 quiet loglevel=4 panic=-1 net.ifnames=0 8250.nr_uarts=1 "
		     "no_timer_check nowatchdog mitigations=off random.trust_cpu=on "
		     "fl.node=%s fl.addr=%u.%u.%u.%u/%u fl.agent=%s",
		     node, addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff, prefix,
		     agent);
	if (n >= 0 && (size_t)n < len && share)
		m = snprintf(buf + n, len - (size_t)n, " fl.share=%s", share);
	return n < 0 || m < 0 || (size_t)n + (size_t)m >= len ? -ENAMETOOLONG : 0;
}

int fl_libvirt_choose_accel(enum fl_accel want, int kvm_works, const char *why,
			    enum fl_accel *out, char *err, size_t errlen)
{
	switch (want) {
	case FL_ACCEL_AUTO:
		*out = kvm_works ? FL_ACCEL_KVM : FL_ACCEL_TCG;
		return 0;
	case FL_ACCEL_KVM:
		if (!kvm_works)
			return fl_fail(-ENODEV, err, errlen,
				    "'accel: kvm' but KVM does not work here (%s); use 'accel: auto' or "
				    "'accel: tcg'", why && *why ? why : "no reason given");
		*out = FL_ACCEL_KVM;
		return 0;
	case FL_ACCEL_TCG:
		*out = FL_ACCEL_TCG;
		return 0;
	default:
		return fl_fail(-EINVAL, err, errlen, "unknown accel %d", (int)want);
	}
}

/* One element `<tag>text</tag>`, the text escaped. */
static void x_elem(FILE *f, const char *indent, const char *tag, const char *text)
{
	fprintf(f, "%s<%s>", indent, tag);
	fl_markup_text(f, text);
	fprintf(f, "</%s>\n", tag);
}

/* ` name='value'`, the value escaped. */
static void x_attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s='", name);
	fl_markup_text(f, value);
	fputc('\'', f);
}

/* before, then name='value' (escaped), then after: an element with one
 * attribute of ours. */
static void x_tag(FILE *f, const char *before, const char *name, const char *value,
		  const char *after)
{
	fputs(before, f);
	x_attr(f, name, value);
	fputs(after, f);
}

int fl_libvirt_domain_xml(const struct fl_libvirt_domain *d, char **out)
{
	const char *const req[] = { d->name,   d->cluster_id, d->node,	 d->kernel, d->initrd,
				    d->cmdline, d->disk,	  d->channel, d->console, d->bridge,
				    d->tap,    d->mac };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
		if (!req[i] || !*req[i])
			return -EINVAL;
	if ((d->accel != FL_ACCEL_KVM && d->accel != FL_ACCEL_TCG) || d->memory < 1024 ||
	    d->vcpus < 1 || d->nchannels < 1 || d->nchannels > FL_LIBVIRT_CHANNELS)
		return -EINVAL;
	if (!(f = open_memstream(&buf, &len)))
		return -ENOMEM;
	fprintf(f, "<domain type='%s'>\n", d->accel == FL_ACCEL_KVM ? "kvm" : "qemu");
	x_elem(f, "  ", "name", d->name);
	fprintf(f, "  <title>faultline cluster ");
	fl_markup_text(f, d->cluster_id);
	fprintf(f, ", node ");
	fl_markup_text(f, d->node);
	fprintf(f, "</title>\n");
	/* who owns it: down destroys only domains that say this cluster */
	fprintf(f, "  <metadata>\n    <%s:cluster xmlns:%s='%s'", FL_LIBVIRT_XMLNS_PREFIX,
		FL_LIBVIRT_XMLNS_PREFIX, FL_LIBVIRT_XMLNS);
	x_attr(f, "id", d->cluster_id);
	x_attr(f, "node", d->node);
	fprintf(f, "/>\n  </metadata>\n");
	fprintf(f, "  <memory unit='KiB'>%llu</memory>\n", (unsigned long long)(d->memory >> 10));
	fprintf(f, "  <vcpu>%u</vcpu>\n", d->vcpus);
	fprintf(f, "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
	x_elem(f, "    ", "kernel", d->kernel);
	x_elem(f, "    ", "initrd", d->initrd);
	x_elem(f, "    ", "cmdline", d->cmdline);
	fprintf(f, "  </os>\n  <features>\n    <acpi/>\n  </features>\n");
	if (d->accel == FL_ACCEL_KVM)
		fprintf(f, "  <cpu mode='host-passthrough'/>\n");
	fprintf(f, "  <clock offset='utc'/>\n"
		   "  <on_poweroff>destroy</on_poweroff>\n"
		   "  <on_reboot>restart</on_reboot>\n"
		   "  <on_crash>destroy</on_crash>\n"
		   "  <devices>\n");
	/* the node's data: survives power-off and reboot of the guest */
	x_tag(f, "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
		 "      <source", "file", d->disk,
	      "/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n");
	/* the host's root, read-only: the guest's lower layer */
	fprintf(f, "    <filesystem type='mount' accessmode='passthrough' multidevs='remap'>\n"
		   "      <source dir='/'/>\n      <target dir='hostroot'/>\n      <readonly/>\n"
		   "    </filesystem>\n");
	/* run logs and such: written in the guest, read on the host, same path */
	if (d->share)
		x_tag(f, "    <filesystem type='mount' accessmode='passthrough'>\n      <source", "dir",
		      d->share, "/>\n      <target dir='flshare'/>\n    </filesystem>\n");
	x_tag(f, "    <interface type='bridge'>\n      <mac", "address", d->mac, "/>\n");
	x_tag(f, "      <source", "bridge", d->bridge, "/>\n");
	x_tag(f, "      <target", "dev", d->tap, "/>\n      <model type='virtio'/>\n    </interface>\n");
	x_tag(f, "    <serial type='file'>\n      <source", "path", d->console,
	      "/>\n      <target port='0'/>\n    </serial>\n");
	/* the agent's channels: off the cluster network, so partitions spare them */
	for (unsigned k = 0; k < d->nchannels; k++) {
		char path[4096];

		fl_libvirt_channel_path(d->channel, k, path, sizeof(path));
		x_tag(f, "    <channel type='unix'>\n      <source mode='bind'", "path", path, "/>\n");
		fprintf(f, "      <target type='virtio' name='%s.%u'/>\n    </channel>\n",
			FL_LIBVIRT_CHANNEL, k);
	}
	fprintf(f, "    <controller type='usb' model='none'/>\n"
		   "    <memballoon model='none'/>\n"
		   "  </devices>\n");
	/* qemu as root, nothing relabelled: it reads the host's root (and the
	 * 0600 kernel in /boot) as the host's root user would */
	fprintf(f, "  <seclabel type='static' model='dac' relabel='no'>\n"
		   "    <label>+0:+0</label>\n  </seclabel>\n"
		   "</domain>\n");
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

void fl_libvirt_channel_path(const char *base, unsigned k, char *buf, size_t len)
{
	if (k == 0)
		snprintf(buf, len, "%s", base);
	else
		snprintf(buf, len, "%s.%u", base, k);
}

/* Read one line (up to the greeting's '\n', never past it) within ms. */
static int read_greeting(int fd, int ms)
{
	int64_t deadline;
	char line[256];
	size_t len = 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	while (len + 1 < sizeof(line)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return -ETIMEDOUT;
		if (read(fd, line + len, 1) != 1)
			return -EPIPE;
		if (line[len++] == '\n') {
			line[len] = 0;
			return strstr(line, "\"event\":\"connected\"") ? 0 : -EPROTO;
		}
	}
	return -EPROTO;
}

int fl_libvirt_connect(const char *base, int *fd)
{
	char path[4096];
	int r = -ENOENT, s;

	for (unsigned k = 0; k < FL_LIBVIRT_CHANNELS; k++) {
		fl_libvirt_channel_path(base, k, path, sizeof(path));
		if ((r = fl_provider_connect_unix(path, &s)) < 0)
			continue;
		/* a served port greets at once; a busy one stays silent */
		if (read_greeting(s, GREETING_MS) == 0) {
			*fd = s;
			return 0;
		}
		close(s);
	}
	/* every channel busy, or the agent slow to notice: queue on channel 0 */
	if ((r = fl_provider_connect_unix(base, &s)) < 0)
		return r;
	*fd = s;
	return 0;
}

/* --- the agent's channel through libvirt ------------------------------------------------ */

/* virDomainOpenChannel gives a virStream, carried over the libvirt
 * connection (so it works on a remote hypervisor as on this one). The
 * harness wants an fd: each channel is a socketpair whose far end a pump
 * moves to and from the stream. All pumps run in one thread, libvirt's
 * default event loop (started once per process, never per connection):
 * the stream is non-blocking and readable/writable events drive it. When
 * either end goes (the harness closes its fd, the guest side ends), the
 * pump aborts the stream, closes its fd and the connection: the agent sees
 * the far end go, the harness sees EOF. */

struct pump {
	virConnectPtr conn;
	virStreamPtr st;
	int fd;      /* the pump's end of the socketpair */
	int watch;   /* the fd's event handle */
	int done;
	size_t len, off; /* harness -> stream bytes not yet sent */
	char buf[16384];
};

static pthread_once_t event_once = PTHREAD_ONCE_INIT;
static int event_ok;

static void *event_loop(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			sleep_ms(100);
	return NULL;
}

static void event_start(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	event_ok = pthread_create(&t, &a, event_loop, NULL) == 0;
	pthread_attr_destroy(&a);
}

/* A timeout of its own, after both callbacks are gone: neither can be
 * dispatched again by then (the callback that ended the pump may still
 * look at it as it returns). */
static void pump_free(int timer, void *opaque)
{
	virEventRemoveTimeout(timer);
	free(opaque);
}

/* Both ends let go; runs in the event thread. */
static void pump_end(struct pump *p)
{
	if (p->done)
		return;
	p->done = 1;
	if (p->watch >= 0)
		virEventRemoveHandle(p->watch);
	virStreamEventRemoveCallback(p->st);
	virStreamAbort(p->st);
	virStreamFree(p->st);
	close(p->fd);
	virConnectClose(p->conn);
	virResetLastError();
	virEventAddTimeout(0, pump_free, p, NULL);
}

/* What the harness wrote, into the stream; when the stream is full, wait
 * for it to be writable (and stop reading the harness meanwhile). */
static void pump_send(struct pump *p)
{
	while (p->off < p->len) {
		int n = virStreamSend(p->st, p->buf + p->off, p->len - p->off);

		if (n == -2) {
			virEventUpdateHandle(p->watch, 0);
			virStreamEventUpdateCallback(p->st, VIR_STREAM_EVENT_READABLE |
							    VIR_STREAM_EVENT_WRITABLE);
			return;
		}
		if (n < 0) {
			pump_end(p);
			return;
		}
		p->off += (size_t)n;
	}
	p->len = p->off = 0;
	virEventUpdateHandle(p->watch, VIR_EVENT_HANDLE_READABLE);
	virStreamEventUpdateCallback(p->st, VIR_STREAM_EVENT_READABLE);
}

static void pump_fd_cb(int watch, int fd, int events, void *opaque)
{
	struct pump *p = opaque;
	ssize_t n;

	(void)watch;
	if (p->done || p->len)
		return;
	if (!(events & (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_HANGUP |
			VIR_EVENT_HANDLE_ERROR)))
		return;
	n = read(fd, p->buf, sizeof(p->buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* the harness closed its end */
		pump_end(p);
		return;
	}
	p->len = (size_t)n;
	p->off = 0;
	pump_send(p);
}

static void pump_stream_cb(virStreamPtr st, int events, void *opaque)
{
	struct pump *p = opaque;
	char buf[16384];

	if (p->done)
		return;
	if (events & VIR_STREAM_EVENT_WRITABLE)
		pump_send(p);
	if (p->done)
		return;
	if (events & VIR_STREAM_EVENT_READABLE) {
		int n = virStreamRecv(st, buf, sizeof(buf));

		if (n == -2)
			return;
		/* the guest side ended (0), or the stream failed */
		if (n <= 0 || fl_write_all(p->fd, buf, (size_t)n) < 0) {
			pump_end(p);
			return;
		}
	}
	if (events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP))
		pump_end(p);
}

int fl_libvirt_channel_open(const char *uri, const char *domain, const char *channel, int *fd,
			    char *err, size_t errlen)
{
	_cleanup_(dom_freep) virDomainPtr d = NULL;
	virConnectPtr conn = NULL;
	virStreamPtr st = NULL;
	struct pump *p = NULL;
	int sv[2] = { -1, -1 }, r;

	pthread_once(&event_once, event_start);
	if (!event_ok)
		return lv_fail(-EIO, err, errlen, "cannot start libvirt's event loop");
	/* opened after the event loop is registered: its streams use it */
	if ((r = lv_connect(uri, &conn, err, errlen)) < 0)
		return r;
	if (!(d = virDomainLookupByName(conn, domain))) {
		r = lv_fail(-ENOENT, err, errlen, "no domain '%s' at '%s'", domain, uri);
		goto fail;
	}
	if (!(st = virStreamNew(conn, VIR_STREAM_NONBLOCK))) {
		r = lv_fail(-EIO, err, errlen, "cannot make a stream at '%s'", uri);
		goto fail;
	}
	if (virDomainOpenChannel(d, channel, st, 0) < 0) {
		r = lv_fail(-ENXIO, err, errlen, "cannot open channel '%s' of domain '%s' at '%s'",
			    channel, domain, uri);
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = fl_fail(-errno, err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		r = fl_fail(-ENOMEM, err, errlen, "out of memory");
		goto fail;
	}
	p->conn = conn;
	p->st = st;
	p->fd = sv[1];
	/* blocking: read only when readable; a write waits for the harness
	 * (its replies are small, and it reads them) rather than drop bytes.
	 * The fd first: it has no event until the harness holds sv[0]. */
	if ((p->watch = virEventAddHandle(p->fd, VIR_EVENT_HANDLE_READABLE, pump_fd_cb, p,
					  NULL)) < 0) {
		r = lv_fail(-EIO, err, errlen, "cannot watch the channel '%s'", channel);
		goto fail;
	}
	if (virStreamEventAddCallback(st, VIR_STREAM_EVENT_READABLE, pump_stream_cb, p, NULL) < 0) {
		virEventRemoveHandle(p->watch);
		r = lv_fail(-EIO, err, errlen, "cannot watch the stream of channel '%s'", channel);
		goto fail;
	}
	*fd = sv[0];
	return 0;
fail:
	if (st) {
		virStreamAbort(st);
		virStreamFree(st);
	}
	virResetLastError();
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(p);
	virConnectClose(conn);
	return r;
}

int fl_libvirt_connect_stream(const char *uri, const char *domain, int *fd, char *err,
			      size_t errlen)
{
	char name[64];
	int r = -ENOENT, s;

	for (unsigned k = 0; k < FL_LIBVIRT_CHANNELS; k++) {
		snprintf(name, sizeof(name), "%s.%u", FL_LIBVIRT_CHANNEL, k);
		if ((r = fl_libvirt_channel_open(uri, domain, name, &s, err, errlen)) < 0) {
			if (r == -ENOENT || r == -ECONNREFUSED)
				return r; /* no domain, no daemon: no other channel either */
			continue;
		}
		if (read_greeting(s, GREETING_MS) == 0) {
			*fd = s;
			return 0;
		}
		close(s);
	}
	snprintf(name, sizeof(name), "%s.0", FL_LIBVIRT_CHANNEL);
	if ((r = fl_libvirt_channel_open(uri, domain, name, &s, err, errlen)) < 0)
		return r;
	*fd = s;
	return 0;
}

void fl_libvirt_tail(const char *path, unsigned n, char *buf, size_t len)
{
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	char raw[8192];
	ssize_t k;
	off_t end;
	size_t o = 0, start;
	unsigned lines = 0;

	if (!len)
		return;
	buf[0] = 0;
	if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0)
		return;
	k = pread(fd, raw, sizeof(raw), end > (off_t)sizeof(raw) ? end - (off_t)sizeof(raw) : 0);
	if (k <= 0)
		return;
	while (k > 0 && (raw[k - 1] == '\n' || raw[k - 1] == '\r'))
		k--;
	start = (size_t)k;
	while (start > 0 && lines < n) {
		start--;
		if (raw[start] == '\n' && ++lines == n) {
			start++;
			break;
		}
	}
	/* the newest lines matter most: drop older ones (whole) to fit len */
	if ((size_t)k - start + 1 > len) {
		const char *nl = memchr(raw + (size_t)k - (len - 1), '\n', len - 1);
		start = nl ? (size_t)(nl - raw) + 1 : (size_t)k - (len - 1);
	}
	for (size_t i = start; i < (size_t)k && o + 1 < len; i++)
		if (raw[i] == '\n' || raw[i] == '\t' || (unsigned char)raw[i] >= 0x20)
			buf[o++] = raw[i];
	buf[o] = 0;
}

/* --- the guest's init -------------------------------------------------------------------- */

/* Stage 1, /init in the initramfs (busybox, all in RAM): modules, the host's
 * root read-only over 9p under a tmpfs overlay, the node's disk and
 * address; then switch_root to stage 2. Mounts are made here rather than
 * from the 9p root, where each exec costs ~0.1 s under TCG. */
static const char stage1[] =
	"#!/bin/sh\n"
	"# faultline node, stage 1 (busybox, in RAM): see harness/providers/libvirt.c\n"
	"export PATH=/bin\n"
	"mount -t devtmpfs dev /dev\n"
	"exec </dev/console >/dev/console 2>&1\n"
	"mount -t proc proc /proc\n"
	"fl_fail() { echo \"faultline-node: $*\"; poweroff -f; sleep 60; }\n"
	"for w in $(cat /proc/cmdline); do\n"
	"\tcase $w in\n"
	"\tfl.node=*) node=${w#fl.node=} ;;\n"
	"\tfl.addr=*) addr=${w#fl.addr=} ;;\n"
	"\tfl.agent=*) agent=${w#fl.agent=} ;;\n"
	"\tfl.share=*) share=${w#fl.share=} ;;\n"
	"\tesac\n"
	"done\n"
	"[ -n \"$node\" ] && [ -n \"$addr\" ] && [ -n \"$agent\" ] ||\n"
	"\tfail \"fl.node, fl.addr or fl.agent missing from the kernel command line\"\n"
	"# some fail harmlessly (crc32c-intel without SSE4.2 under TCG): what is\n"
	"# really missing shows in the mount that needs it\n"
	"while read -r m; do insmod \"/lib/modules/$m\" || echo \"faultline-node: insmod $m failed\"; done </modules\n"
	"o=trans=virtio,version=9p2000.L,msize=262144\n"
	"# cache=loose: the host's root is read-only to us\n"
	"mount -t 9p -o \"$o,ro,cache=loose\" hostroot /lower || fail \"cannot mount the host's root (9p tag hostroot)\"\n"
	"mount -t tmpfs -o mode=0755 upper /rw && mkdir /rw/upper /rw/work || fail \"cannot make the overlay's upper layer\"\n"
	"mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot ||\n"
	"\tfail \"cannot mount the overlay root\"\n"
	"r=/newroot\n"
	"mkdir -p $r" FL_LIBVIRT_DATA_DIR " && mount -t ext4 /dev/vda $r" FL_LIBVIRT_DATA_DIR " ||\n"
	"\tfail \"cannot mount the data disk /dev/vda on " FL_LIBVIRT_DATA_DIR "\"\n"
	"mount --move /dev $r/dev\n"
	"mkdir -p $r/dev/pts $r/dev/shm\n"
	"mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $r/dev/pts\n"
	"mount -t tmpfs -o nosuid,nodev shm $r/dev/shm\n"
	"ln -sfn /proc/self/fd $r/dev/fd\n"
	"ln -sf fd/0 $r/dev/stdin; ln -sf fd/1 $r/dev/stdout; ln -sf fd/2 $r/dev/stderr\n"
	"mount --move /proc $r/proc\n"
	"mount -t sysfs -o nosuid,nodev,noexec sys $r/sys\n"
	"mount -t cgroup2 -o nsdelegate cgroup2 $r/sys/fs/cgroup 2>/dev/null\n"
	"mount -t tmpfs -o mode=0755,nosuid,nodev run $r/run\n"
	"mount -t tmpfs -o mode=1777,nosuid,nodev tmp $r/tmp\n"
	"# after /run and /tmp, which may hold it\n"
	"if [ -n \"$share\" ]; then\n"
	"\tmkdir -p $r$share && mount -t 9p -o \"$o\" flshare $r$share ||\n"
	"\t\tfail \"cannot mount the shared directory $share (9p tag flshare)\"\n"
	"fi\n"

	"hostname \"$node\"\n"
	"ip link set lo up\n"
	"ip addr add \"$addr\" dev " FL_LIBVIRT_IFNAME " && ip link set " FL_LIBVIRT_IFNAME " up ||\n"
	"\tfail \"cannot give " FL_LIBVIRT_IFNAME " the address $addr\"\n"
	"s=$r/run/faultline-node\n"
	"mkdir -p $s && cp /bin/busybox /stage2 $s/ || fail \"cannot copy stage 2\"\n"
	"echo \"node=$node agent=$agent\" >$s/env\n"
	"echo \"faultline-node: $node, $addr on " FL_LIBVIRT_IFNAME ", data on " FL_LIBVIRT_DATA_DIR "\"\n"
	"exec switch_root $r /run/faultline-node/busybox sh /run/faultline-node/stage2\n";

/* Stage 2, PID 1 on the host's root: the tc modules, then the agent on the
 * channel for as long as the node runs (restarted if it exits: a new agent
 * heals the journal the old one left). */
static const char stage2[] =
	"# faultline node, stage 2 (PID 1 on the host's root): see harness/providers/libvirt.c\n"
	"export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\n"
	"s=/run/faultline-node\n"
	"read -r env <$s/env\n"
	"for w in $env; do case $w in node=*) node=${w#node=} ;; agent=*) agent=${w#agent=} ;; esac; done\n"
	"modprobe -a -q " TC_MODULES "\n"
	"while :; do\n"
	"\t\"$agent\" --node \"$node\" --virtio-port " FL_LIBVIRT_CHANNEL " --journal $s/agent.journal \\\n"
	"\t\t--iface " FL_LIBVIRT_IFNAME " --heal-after 5s --vm-node\n"
	"\techo \"faultline-node: the agent exited with status $?; starting it again in 1 s\"\n"
	"\t$s/busybox sleep 1\n"
	"done\n";

static int build_initrd(const char *kver, const char *path, char *err, size_t errlen)
{
	const struct fl_vmimage_file files[] = {
		{ "init", stage1, 0755 },
		{ "stage2", stage2, 0644 },
	};
	struct fl_vmimage_spec spec = {
		.kver = kver,
		.applets = applets,
		.modules = initrd_modules,
		.files = files,
		.nfiles = sizeof(files) / sizeof(files[0]),
	};
	char bb[PATHLEN];
	int r;

	if ((r = fl_vmimage_busybox(bb, sizeof(bb), err, errlen)) < 0)
		return r;
	spec.busybox = bb;
	return fl_vmimage_initramfs(&spec, path, err, errlen);
}

/* --- journal and state ---------------------------------------------------------------------- */

static int jot(struct fl_journal *j, json_t *e, char *err, size_t errlen)
{
	int r = e ? fl_journal_append(j, e) : -ENOMEM;

	json_decref(e);
	if (r < 0)
		return fl_fail(r, err, errlen, "cannot write the journal '%s': %s", fl_journal_path(j),
			    strerror(-r));
	return 0;
}

static int jot_file(struct fl_journal *j, const char *path, char *err, size_t errlen)
{
	return jot(j, json_pack("{s:s, s:s}", "undo", "file", "path", path), err, errlen);
}

/* virtlogd writes the console and rotates it (.0 .. .2) past 2 MiB */
static int jot_console(struct fl_journal *j, const char *path, char *err, size_t errlen)
{
	char rotated[PATHLEN + 16];
	int r = jot_file(j, path, err, errlen);

	for (int k = 0; k < 3 && r == 0; k++) {
		snprintf(rotated, sizeof(rotated), "%s.%d", path, k);
		r = jot_file(j, rotated, err, errlen);
	}
	return r;
}

static int jot_channels(struct fl_journal *j, const char *base, char *err, size_t errlen)
{
	char path[PATHLEN + 16];
	int r = 0;

	for (unsigned k = 0; k < FL_LIBVIRT_CHANNELS && r == 0; k++) {
		fl_libvirt_channel_path(base, k, path, sizeof(path));
		r = jot_file(j, path, err, errlen);
	}
	return r;
}

/* A journal is trusted only with our own names: files in the state
 * directory or libvirt's log of one of our domains. */
static int our_file(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strstr(path, "/../"))
		return 0;
	if (!strncmp(path, dir, n) && path[n] == '/' && !strchr(path + n + 1, '/'))
		return 1;
	return !strncmp(path, QEMU_LOG_DIR "/fl-", strlen(QEMU_LOG_DIR "/fl-")) &&
	       !strchr(path + strlen(QEMU_LOG_DIR "/"), '/');
}

/* The one tree we remove whole: DIR/share, what the guests wrote there. */
static int our_tree(const char *dir, const char *path)
{
	char want[PATHLEN + 32];

	snprintf(want, sizeof(want), "%s/share", dir);
	return !strcmp(path, want);
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int remove_tree(const char *path, char *err, size_t errlen)
{
	int r = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

	if (r < 0 && errno == ENOENT)
		return 0;
	if (r != 0)
		return fl_fail(r < 0 ? -errno : r, err, errlen, "cannot remove '%s': %s", path,
			    strerror(r < 0 ? errno : -r));
	return 0;
}

static int has_cluster_id(const char *md, const char *id)
{
	char a[32], b[32];

	snprintf(a, sizeof(a), "id=\"%s\"", id);
	snprintf(b, sizeof(b), "id='%s'", id);
	return md && (strstr(md, a) || strstr(md, b));
}

static int undo_domain(virConnectPtr conn, const char *name, const char *id, char *err,
		       size_t errlen)
{
	_cleanup_(dom_freep) virDomainPtr d = virDomainLookupByName(conn, name);
	_cleanup_(freep) char *md = NULL;

	if (!d) {
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return 0; /* gone already */
		}
		return lv_fail(-EIO, err, errlen, "cannot look up domain '%s'", name);
	}
	md = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, FL_LIBVIRT_XMLNS, 0);
	if (!md && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
		virResetLastError();
		return 0; /* it stopped (a transient domain vanishes) since the lookup */
	}
	if (!md && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_METADATA)
		return lv_fail(-EIO, err, errlen, "cannot read the metadata of domain '%s'", name);
	virResetLastError();
	if (!has_cluster_id(md, id))
		return fl_fail(-EPERM, err, errlen,
			    "domain '%s' does not carry faultline's metadata for cluster '%s': "
			    "not destroying it", name, id);
	if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0 &&
	    virGetLastErrorCode() != VIR_ERR_NO_DOMAIN && virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID)
		return lv_fail(-EIO, err, errlen, "cannot destroy domain '%s'", name);
	virResetLastError();
	if (virDomainIsPersistent(d) == 1 && virDomainUndefine(d) < 0 &&
	    virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
		return lv_fail(-EIO, err, errlen, "cannot undefine domain '%s'", name);
	virResetLastError();
	return 0;
}

static int is_done(json_t *e, void *ctx)
{
	(void)ctx;
	return !json_is_true(json_object_get(e, "done"));
}

/* Replay newest first, on past failures; the first error is reported and
 * the entries not undone stay for a retry. */
static int undo_journal(const char *dir, struct fl_journal *j, char *err, size_t errlen)
{
	_cleanup_(conn_closep) virConnectPtr conn = NULL;
	char msg[1024], path[PATHLEN + 32];
	int first = 0, r;

	for (size_t i = fl_journal_count(j); i-- > 0;) {
		json_t *e = fl_journal_entry(j, i);
		const char *kind = json_string_value(json_object_get(e, "undo"));
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *p = json_string_value(json_object_get(e, "path"));

		msg[0] = 0;
		if (kind && !strcmp(kind, "domain") && name) {
			const char *uri = json_string_value(json_object_get(e, "uri"));
			const char *id = json_string_value(json_object_get(e, "id"));

			if (!uri || !id || strncmp(name, "fl-", 3))
				r = fl_fail(-EINVAL, msg, sizeof(msg), "journal entry for domain '%s' is "
								   "incomplete", name);
			else if (!conn && (r = lv_connect(uri, &conn, msg, sizeof(msg))) < 0)
				;
			else
				r = undo_domain(conn, name, id, msg, sizeof(msg));
		} else if (kind && !strcmp(kind, "tree") && p && our_tree(dir, p)) {
			r = remove_tree(p, msg, sizeof(msg));
		} else if (kind && !strcmp(kind, "bridge") && name && fl_netns_is_our_link(name)) {
			r = fl_netns_link_delete(name, msg, sizeof(msg));
		} else if (kind && !strcmp(kind, "file") && p && our_file(dir, p)) {
			r = unlink(p) < 0 && errno != ENOENT
				    ? fl_fail(-errno, msg, sizeof(msg), "cannot remove '%s': %s", p,
					   strerror(errno))
				    : 0;
		} else {
			char *s = json_dumps(e, JSON_COMPACT);
			r = fl_fail(-EINVAL, msg, sizeof(msg), "'%s': unexpected entry %.120s",
				 fl_journal_path(j), s ? s : "?");
			free(s);
		}
		if (r == 0)
			json_object_set_new(e, "done", json_true());
		else if (!first) {
			first = r;
			fl_fail(0, err, errlen, "%s", msg);
		}
	}
	if (first < 0) {
		fl_journal_retain(j, is_done, NULL);
		return first;
	}
	fl_journal_clear(j);
	snprintf(path, sizeof(path), "%s/%s", dir, FL_LIBVIRT_JOURNAL);
	if (unlink(path) < 0 && errno != ENOENT)
		return fl_fail(-errno, err, errlen, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

static int restore_attached(const struct fl_libvirt_cluster *c, char *err, size_t errlen);

/* Mode attach: the domains restored to how they were found, then our one
 * file removed (kept when a domain could not be restored: down again).
 * 1 when state_dir holds no attached cluster. */
static int down_attached(const char *state_dir, char *err, size_t errlen)
{
	struct fl_libvirt_cluster *c = NULL;
	char path[PATHLEN + 32], e[512];
	int r;

	snprintf(path, sizeof(path), "%s/%s", state_dir, FL_LIBVIRT_STATE);
	if (access(path, F_OK) != 0 || fl_libvirt_attach(state_dir, &c, e, sizeof(e)) < 0)
		return 1;
	if (!c->attach) {
		fl_libvirt_cluster_free(c);
		return 1;
	}
	r = restore_attached(c, err, errlen);
	fl_libvirt_cluster_free(c);
	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return fl_fail(-errno, err, errlen, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

int fl_libvirt_down_from_state(const char *state_dir, char *err, size_t errlen)
{
	char path[PATHLEN + 32];
	struct fl_journal *j = NULL;
	int r;

	if (!state_dir || !*state_dir)
		return fl_fail(-EINVAL, err, errlen, "a state directory is required");
	if ((r = down_attached(state_dir, err, errlen)) != 1)
		return r;
	snprintf(path, sizeof(path), "%s/%s", state_dir, FL_LIBVIRT_JOURNAL);
	if (access(path, F_OK) != 0)
		return 0; /* nothing was made, or everything is gone already */
	if ((r = fl_journal_open(path, &j)) < 0)
		return fl_fail(r, err, errlen, "cannot read the journal '%s': %s", path, strerror(-r));
	r = undo_journal(state_dir, j, err, errlen);
	fl_journal_close(j);
	return r;
}

/* --- machine faults ------------------------------------------------------------------ */

/* The domain XML the node was created from (DIR/domain-NODE.xml), malloc'd. */
static char *node_xml_text(const struct fl_libvirt_cluster *c, size_t i)
{
	char path[PATHLEN + 64];
	FILE *f;
	char *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/domain-%s.xml", c->dir, c->node[i].name);
	if (!(f = fopen(path, "r")))
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* A VM fault on an attached domain (d: the caller's), only what can be undone. Power-off
 * destroys a running domain and power-on starts it again from its
 * persistent definition; a transient domain would be gone for good once
 * destroyed (its definition is not ours to keep), so power-off refuses it. */
static int attached_machine(struct fl_libvirt_cluster *c, size_t i, virDomainPtr d,
			    enum fl_machine_act act, char *err, size_t errlen)
{
	const struct lv_node *n = &c->node[i];
	int st = 0, reason = 0, r;

	if (!d)
		return lv_fail(-ENOENT, err, errlen, "domain '%s' of node '%s' is gone from '%s'",
			       n->domain, n->name, n->uri);
	if (virDomainGetState(d, &st, &reason, 0) < 0) {
		return lv_fail(-EIO, err, errlen, "cannot read the state of domain '%s'", n->domain);
	}
	switch (act) {
	case FL_MACHINE_SUSPEND:
		r = st == VIR_DOMAIN_PAUSED ? 0 : virDomainSuspend(d);
		break;
	case FL_MACHINE_RESUME:
		r = st != VIR_DOMAIN_PAUSED ? 0 : virDomainResume(d);
		break;
	case FL_MACHINE_POWER_OFF:
		if (virDomainIsPersistent(d) != 1) {
				virResetLastError();
			return fl_fail(-EPERM, err, errlen,
				    "domain '%s' of node '%s' is transient: powered off it would be "
				    "gone, and attach mode leaves domains as it found them (power-off "
				    "needs a persistent domain)", n->domain, n->name);
		}
		r = st == VIR_DOMAIN_SHUTOFF ? 0 : virDomainDestroy(d);
		break;
	case FL_MACHINE_POWER_ON:
		r = st != VIR_DOMAIN_SHUTOFF ? 0 : virDomainCreate(d);
		break;
	case FL_MACHINE_RESET:
		r = virDomainReset(d, 0);
		break;
	default:
		return fl_fail(-EINVAL, err, errlen, "unknown machine action %d", (int)act);
	}
	if (r < 0)
		return lv_fail(-EIO, err, errlen, "%s of domain '%s' failed",
			       fl_machine_act_name(act), n->domain);
	return 0;
}

int fl_libvirt_machine(struct fl_libvirt_cluster *c, size_t i, enum fl_machine_act act,
		       char *err, size_t errlen)
{
	_cleanup_(conn_closep) virConnectPtr conn = NULL;
	_cleanup_(dom_freep) virDomainPtr d = NULL;
	const char *name;
	int r;

	if (i >= c->nnodes)
		return fl_fail(-EINVAL, err, errlen, "no node %zu", i);
	name = c->node[i].domain;
	if ((r = lv_connect(c->attach ? c->node[i].uri : c->uri, &conn, err, errlen)) < 0)
		return r;
	d = virDomainLookupByName(conn, name);
	if (c->attach)
		return attached_machine(c, i, d, act, err, errlen);
	if (act == FL_MACHINE_POWER_ON) {
		_cleanup_(freep) char *xml = NULL;
		virDomainPtr nd;

		if (d) {
			int state = 0, reason = 0;
			if (virDomainGetState(d, &state, &reason, 0) == 0 &&
			    state != VIR_DOMAIN_SHUTOFF)
				return 0; /* running already: powered on */
		}
		if (!(xml = node_xml_text(c, i)))
			return fl_fail(-ENOENT, err, errlen, "node %s: its domain XML is gone from %s",
				    c->node[i].name, c->dir);
		if (!(nd = virDomainCreateXML(conn, xml, VIR_DOMAIN_NONE)))
			return lv_fail(-EIO, err, errlen, "cannot start domain '%s' again", name);
		virDomainFree(nd);
		return 0;
	}
	if (!d) {
		if (act == FL_MACHINE_POWER_OFF)
			return 0; /* a transient domain destroyed is gone: off already */
		return lv_fail(-ENOENT, err, errlen, "domain '%s' is not running", name);
	}
	switch (act) {
	case FL_MACHINE_SUSPEND:
		r = virDomainSuspend(d);
		break;
	case FL_MACHINE_RESUME: {
		int state = 0, reason = 0;
		if (virDomainGetState(d, &state, &reason, 0) == 0 && state != VIR_DOMAIN_PAUSED)
			return 0; /* not paused: resumed */
		r = virDomainResume(d);
		break;
	}
	case FL_MACHINE_POWER_OFF:
		r = virDomainDestroy(d);
		break;
	case FL_MACHINE_RESET:
		r = virDomainReset(d, 0);
		break;
	default:
		return fl_fail(-EINVAL, err, errlen, "unknown machine action %d", (int)act);
	}
	if (r < 0)
		return lv_fail(-EIO, err, errlen, "%s of domain '%s' failed",
			       fl_machine_act_name(act), name);
	return 0;
}


int fl_libvirt_down(struct fl_libvirt_cluster *c, char *err, size_t errlen)
{
	return c ? fl_libvirt_down_from_state(c->dir, err, errlen) : 0;
}

/* The string fields of the state file: written by state_json (create) or
 * attach_state_json, read back by fl_libvirt_attach, from these lists. */
struct str_field {
	const char *key;
	size_t off, len;
};
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CF(m) { #m, offsetof(struct fl_libvirt_cluster, m), sizeof(((struct fl_libvirt_cluster *)0)->m) }
#define NF(m) { #m, offsetof(struct lv_node, m), sizeof(((struct lv_node *)0)->m) }
static const struct str_field cluster_fields[] = { CF(id), CF(uri), CF(accel_why), CF(data_dir) };
static const struct str_field create_fields[] = { CF(kernel), CF(boot), CF(initrd), CF(bridge),
						  CF(share) };
static const struct str_field node_fields[] = { NF(name), NF(domain) };
static const struct str_field create_node_fields[] = { NF(mac), NF(tap), NF(disk), NF(console),
						       NF(channel) };
static const struct str_field attach_node_fields[] = { NF(uri), NF(found), NF(addr_from) };
#undef CF
#undef NF
#define PUT_FIELDS(o, base, t) put_fields(o, base, t, ARRAY_SIZE(t))
#define GET_FIELDS(base, o, t) get_fields(base, o, t, ARRAY_SIZE(t))

/* 0, or -1 when a string is not one jansson takes (not UTF-8). */
static int put_fields(json_t *o, const void *base, const struct str_field *f, size_t n)
{
	int r = 0;

	for (size_t k = 0; k < n; k++)
		r |= json_object_set_new(o, f[k].key, json_string((const char *)base + f[k].off));
	return r;
}

static void get_fields(void *base, json_t *o, const struct str_field *f, size_t n)
{
	for (size_t k = 0; k < n; k++)
		snprintf((char *)base + f[k].off, f[k].len, "%s",
			 json_string_value(json_object_get(o, f[k].key)) ?: "");
}

/* The nodes' array: addr and what node_json adds to each. */
static json_t *nodes_json(const struct fl_libvirt_cluster *c,
			  json_t *(*node_json)(const struct lv_node *n, const char *addr))
{
	json_t *nodes = json_array();
	char a[INET_ADDRSTRLEN];

	for (size_t i = 0; nodes && i < c->nnodes; i++) {
		struct in_addr in = { .s_addr = htonl(c->node[i].addr) };
		json_t *jn;

		inet_ntop(AF_INET, &in, a, sizeof(a));
		jn = node_json(&c->node[i], a);
		if (!jn || json_array_append_new(nodes, jn) < 0) {
			json_decref(nodes);
			return NULL;
		}
	}
	return nodes;
}

static json_t *attach_node_json(const struct lv_node *n, const char *addr)
{
	json_t *o = json_pack("{s:s, s:b}", "addr", addr, "persistent", n->persistent);

	if (o && (PUT_FIELDS(o, n, node_fields) < 0 || PUT_FIELDS(o, n, attach_node_fields) < 0)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static json_t *create_node_json(const struct lv_node *n, const char *addr)
{
	json_t *o = json_pack("{s:s, s:I}", "addr", addr, "boot_ms", (json_int_t)n->boot_ms);

	if (o && (PUT_FIELDS(o, n, node_fields) < 0 || PUT_FIELDS(o, n, create_node_fields) < 0)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static json_t *state_json(const struct fl_libvirt_cluster *c)
{
	char cidr[32] = "";
	json_t *o;

	if (c->prefix)
		fl_cidr4_format(c->subnet, c->prefix, cidr, sizeof(cidr));
	if (c->attach)
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o*}", "name", "libvirt", "mode", "attach",
			      "accel", c->accel == FL_ACCEL_KVM ? "kvm" : "tcg", "subnet", cidr,
			      "logs_dir", FL_LIBVIRT_DATA_DIR "/logs", "nodes",
			      nodes_json(c, attach_node_json));
	else
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o*}", "name", "libvirt", "mode", "create",
			      "accel", c->accel == FL_ACCEL_KVM ? "kvm" : "tcg", "subnet", cidr,
			      "boot_ms", (json_int_t)c->boot_ms, "nodes",
			      nodes_json(c, create_node_json));
	if (o && (!json_object_get(o, "nodes") || PUT_FIELDS(o, c, cluster_fields) < 0 ||
		  (!c->attach && PUT_FIELDS(o, c, create_fields) < 0))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

json_t *fl_libvirt_describe(const struct fl_libvirt_cluster *c)
{
	json_t *o = state_json(c), *n;
	size_t i;

	/* what a run needs, not where the files are */
	json_array_foreach(json_object_get(o, "nodes"), i, n) {
		json_object_del(n, "disk");
		json_object_del(n, "console");
		json_object_del(n, "channel");
		json_object_del(n, "tap");
	}
	json_object_del(o, "initrd");
	json_object_del(o, "boot");
	return o;
}

/* --- up ---------------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* Directories each VM mounts afresh over the host's root: what the host
 * has there, a guest does not see. */
static const char *const hidden_dirs[] = { "/tmp/", "/run/", "/dev/", "/proc/", "/sys/",
					   FL_LIBVIRT_DATA_DIR "/" };

static int is_hidden(const char *path)
{
	for (size_t i = 0; i < sizeof(hidden_dirs) / sizeof(hidden_dirs[0]); i++)
		if (!strncmp(path, hidden_dirs[i], strlen(hidden_dirs[i])))
			return 1;
	return 0;
}

/* The agent binary as the guests see it: where it is on the host's root,
 * or (a build under /tmp, say) a copy in the share, which every guest
 * mounts at the same path. */
static int place_agent(struct fl_libvirt_cluster *c, const char *agent, char *err, size_t errlen)
{
	char buf[65536];
	int in, out, r = 0;
	ssize_t k;

	if (!is_hidden(agent)) {
		snprintf(c->agent, sizeof(c->agent), "%s", agent);
		return 0;
	}
	snprintf(c->agent, sizeof(c->agent), "%s/faultline-agent", c->share);
	if ((in = open(agent, O_RDONLY | O_CLOEXEC)) < 0)
		return fl_fail(-errno, err, errlen, "cannot read the agent '%s': %s", agent,
			    strerror(errno));
	if ((out = open(c->agent, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755)) < 0) {
		r = fl_fail(-errno, err, errlen, "cannot write '%s': %s", c->agent, strerror(errno));
		close(in);
		return r;
	}
	while (r == 0 && (k = read(in, buf, sizeof(buf))) > 0)
		if (fl_write_all(out, buf, (size_t)k) < 0)
			r = -EIO;
	if (k < 0 || close(out) < 0)
		r = -EIO;
	close(in);
	if (r < 0)
		return fl_fail(r, err, errlen, "cannot copy the agent into '%s'", c->agent);
	return 0;
}

static int check_spec(const struct fl_libvirt_spec *s, char *err, size_t errlen)
{
	int r = fl_netns_check_spec(&s->net, err, errlen);

	if (r < 0)
		return r;
	if (!s->uri || !s->agent || s->vcpus < 1 || s->memory < (64ull << 20))
		return fl_fail(-EINVAL, err, errlen, "incomplete libvirt cluster spec");
	if (!uri_is_local(s->uri))
		return fl_fail(-EOPNOTSUPP, err, errlen,
			    "libvirt uri '%s' is not this host's: mode create makes the bridge, the "
			    "disks and the boot files on this host and shares its root with the "
			    "guests, so its domains must run here (use qemu:///system); mode attach "
			    "takes any uri", s->uri);
	if (s->agent[0] != '/' || !cmdline_safe(s->agent))
		return fl_fail(-EINVAL, err, errlen,
			    "the agent '%s' must be an absolute path of letters, digits and /._+-",
			    s->agent);
	if (access(s->agent, X_OK) != 0)
		return fl_fail(-ENOENT, err, errlen, "the agent '%s' is not an executable: %s", s->agent,
			    strerror(errno));
	return 0;
}

/* Names, addresses and paths of every object. */
static int layout(struct fl_libvirt_cluster *c, const struct fl_libvirt_spec *spec)
{
	const struct fl_netns_spec *s = &spec->net;

	snprintf(c->id, sizeof(c->id), "%s", s->id);
	snprintf(c->dir, sizeof(c->dir), "%s", s->state_dir);
	snprintf(c->uri, sizeof(c->uri), "%s", spec->uri);
	snprintf(c->data_dir, sizeof(c->data_dir), "%s", FL_LIBVIRT_DATA_DIR);
	snprintf(c->initrd, sizeof(c->initrd), "%s/initrd.img", s->state_dir);
	snprintf(c->share, sizeof(c->share), "%s/share", s->state_dir);
	if (fl_netns_bridge_name(s->id, c->bridge, sizeof(c->bridge)) < 0)
		return -EINVAL;
	c->nnodes = s->nnodes;
	for (size_t i = 0; i < s->nnodes; i++) {
		struct lv_node *n = &c->node[i];

		if (snprintf(n->name, sizeof(n->name), "%s", s->names[i]) >= (int)sizeof(n->name) ||
		    fl_libvirt_domain_name(s->id, s->names[i], n->domain, sizeof(n->domain)) < 0 ||
		    fl_libvirt_tap_name(s->id, i, n->tap, sizeof(n->tap)) < 0)
			return -EINVAL;
		fl_libvirt_mac(s->id, i, n->mac, sizeof(n->mac));
		n->addr = c->subnet + 2 + (uint32_t)i;
		snprintf(n->disk, sizeof(n->disk), "%s/disk-%s.raw", s->state_dir, n->name);
		snprintf(n->console, sizeof(n->console), "%s/console-%s.log", s->state_dir, n->name);
		fl_provider_agent_path(s->state_dir, n->name, "sock", n->channel, sizeof(n->channel));
		snprintf(n->xml, sizeof(n->xml), "%s/domain-%s.xml", s->state_dir, n->name);
		snprintf(n->qemu_log, sizeof(n->qemu_log), "%s/%s.log", QEMU_LOG_DIR, n->domain);
	}
	return 0;
}

static int make_disk(const char *path, char *err, size_t errlen)
{
	char *argv[] = { (char *)"mkfs.ext4", (char *)"-q", (char *)"-F", (char *)"-L",
			 (char *)"faultline", (char *)"-m", (char *)"0", (char *)path, NULL };
	_cleanup_(freep) char *out = NULL;
	size_t len;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), r;

	if (fd < 0)
		return fl_fail(-errno, err, errlen, "cannot create disk '%s': %s", path, strerror(errno));
	if (ftruncate(fd, (off_t)FL_LIBVIRT_DISK_BYTES) < 0) {
		r = -errno;
		close(fd);
		return fl_fail(r, err, errlen, "cannot size disk '%s': %s", path, strerror(-r));
	}
	close(fd);
	r = fl_vmimage_run(argv, 1, &out, &len);
	if (r == -ENOENT)
		return fl_fail(r, err, errlen, "mkfs.ext4 not found (apt-get install e2fsprogs)");
	if (r < 0) {
		if (out)
			out[strcspn(out, "\n")] = 0;
		return fl_fail(r, err, errlen, "mkfs.ext4 '%s' failed: %s", path, out ? out : "");
	}
	return 0;
}

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
	_cleanup_(closep) int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r;

	if (fd < 0 || (r = fl_write_all(fd, text, strlen(text))) < 0)
		return fl_fail(fd < 0 ? -errno : r, err, errlen, "cannot write '%s': %s", path,
			    strerror(fd < 0 ? errno : -r));
	return 0;
}

static int node_xml(const struct fl_libvirt_cluster *c, const struct fl_libvirt_spec *s, size_t i,
		    char **xml, char *err, size_t errlen)
{
	const struct lv_node *n = &c->node[i];
	char cmdline[1024];
	struct fl_libvirt_domain d = {
		.name = n->domain,
		.cluster_id = c->id,
		.node = n->name,
		.accel = c->accel,
		.memory = s->memory,
		.vcpus = s->vcpus,
		.kernel = c->boot,
		.initrd = c->initrd,
		.cmdline = cmdline,
		.disk = n->disk,
		.channel = n->channel,
		.nchannels = FL_LIBVIRT_CHANNELS,
		.console = n->console,
		.bridge = c->bridge,
		.tap = n->tap,
		.mac = n->mac,
		.share = c->share,
	};
	int r = fl_libvirt_cmdline(n->name, n->addr, c->prefix, c->agent, c->share, cmdline,
				   sizeof(cmdline));

	if (r < 0)
		return fl_fail(r, err, errlen, "cannot make the kernel command line of node '%s'", n->name);
	if ((r = fl_libvirt_domain_xml(&d, xml)) < 0)
		return fl_fail(r, err, errlen, "cannot make the domain XML of node '%s'", n->name);
	return 0;
}

/* "node 'n1' ...; the last lines of its console (path):\n..." */
static int node_fail(const struct lv_node *n, int code, char *err, size_t errlen, const char *what)
{
	char tail[CONSOLE_TAIL_BYTES];

	fl_libvirt_tail(n->console, CONSOLE_TAIL_LINES, tail, sizeof(tail));
	if (tail[0])
		return fl_fail(code, err, errlen, "node '%s' %s; the last lines of its console (%s):\n%s",
			    n->name, what, n->console, tail);
	return fl_fail(code, err, errlen, "node '%s' %s; its console (%s) is empty", n->name, what,
		    n->console);
}

/* Every node's agent says hello over its channel, all waited for together.
 * The hello is sent once per connection: qemu holds it until the guest
 * opens the port. A domain that stops is reported at once. */
static int wait_agents(struct fl_libvirt_cluster *c, virConnectPtr conn, int64_t t0,
		       int timeout_s, char *err, size_t errlen)
{
	struct {
		int fd, done;
		size_t len;
		char buf[2048];
	} w[FL_MAX_NODES];
	int64_t deadline = t0 + (int64_t)timeout_s * 1000, last_check = 0;
	size_t left = c->nnodes;
	int r = 0;

	for (size_t i = 0; i < c->nnodes; i++) {
		w[i].fd = -1;
		w[i].done = 0;
		w[i].len = 0;
	}
	while (left && r == 0) {
		struct pollfd pfd[FL_MAX_NODES];
		size_t map[FL_MAX_NODES], np = 0;
		int64_t now = now_ms();

		if (now >= deadline) {
			for (size_t i = 0; i < c->nnodes; i++)
				if (!w[i].done) {
					char what[128];
					snprintf(what, sizeof(what),
						 "did not answer over its channel within %d s", timeout_s);
					r = node_fail(&c->node[i], -ETIMEDOUT, err, errlen, what);
					break;
				}
			break;
		}
		if (now - last_check >= 1000) {
			last_check = now;
			for (size_t i = 0; i < c->nnodes && r == 0; i++) {
				_cleanup_(dom_freep) virDomainPtr d = NULL;
				int state = 0, reason = 0;

				if (w[i].done)
					continue;
				d = virDomainLookupByName(conn, c->node[i].domain);
				if (!d || virDomainGetState(d, &state, &reason, 0) < 0 ||
				    state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED) {
					virResetLastError();
					r = node_fail(&c->node[i], -EHOSTDOWN, err, errlen,
						      "stopped while booting");
				}
			}
			if (r < 0)
				break;
		}
		for (size_t i = 0; i < c->nnodes; i++) {
			if (w[i].done)
				continue;
			if (w[i].fd < 0 && fl_provider_connect_unix(c->node[i].channel, &w[i].fd) == 0) {
				w[i].len = 0;
				if (fl_write_all(w[i].fd, HELLO, strlen(HELLO)) < 0) {
					close(w[i].fd);
					w[i].fd = -1;
				}
			}
			if (w[i].fd >= 0) {
				pfd[np] = (struct pollfd){ .fd = w[i].fd, .events = POLLIN };
				map[np++] = i;
			}
		}
		if (poll(pfd, np, 200) <= 0) {
			if (!np)
				sleep_ms(200);
			continue;
		}
		for (size_t k = 0; k < np; k++) {
			size_t i = map[k];
			ssize_t got;
			char *nl;

			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(w[i].fd, w[i].buf + w[i].len, sizeof(w[i].buf) - 1 - w[i].len);
			if (got <= 0) { /* qemu dropped us: connect again */
				close(w[i].fd);
				w[i].fd = -1;
				continue;
			}
			w[i].len += (size_t)got;
			w[i].buf[w[i].len] = 0;
			while ((nl = strchr(w[i].buf, '\n'))) {
				json_t *o = json_loadb(w[i].buf, (size_t)(nl - w[i].buf), 0, NULL);
				int ok = json_integer_value(json_object_get(o, "id")) == 1 &&
					 json_is_true(json_object_get(o, "ok"));

				json_decref(o);
				memmove(w[i].buf, nl + 1, w[i].len - (size_t)(nl + 1 - w[i].buf) + 1);
				w[i].len -= (size_t)(nl + 1 - w[i].buf);
				if (ok && !w[i].done) {
					w[i].done = 1;
					c->node[i].boot_ms = now_ms() - t0;
					left--;
				}
			}
			if (w[i].len >= sizeof(w[i].buf) - 1)
				w[i].len = 0;
			if (w[i].done) {
				close(w[i].fd);
				w[i].fd = -1;
			}
		}
	}
	for (size_t i = 0; i < c->nnodes; i++)
		if (w[i].fd >= 0)
			close(w[i].fd);
	return r;
}

/* Journaled first; transient, so it leaves no definition behind once
 * destroyed. */
static int create_domain(virConnectPtr conn, struct fl_journal *j, const char *uri, const char *id,
			 const char *name, const char *xml, char *err, size_t errlen)
{
	virDomainPtr d;
	int r = jot(j, json_pack("{s:s, s:s, s:s, s:s}", "undo", "domain", "name", name, "uri", uri,
				 "id", id),
		    err, errlen);

	if (r < 0)
		return r;
	if (!(d = virDomainCreateXML(conn, xml, VIR_DOMAIN_NONE)))
		return lv_fail(-EIO, err, errlen, "cannot create domain '%s'", name);
	virDomainFree(d);
	return 0;
}

int fl_libvirt_priv_create(const char *dir, const char *uri, const char *id, const char *name,
			   const char *xml, char *err, size_t errlen)
{
	_cleanup_(conn_closep) virConnectPtr conn = NULL;
	struct fl_journal *j = NULL;
	char path[PATHLEN + 32];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, FL_LIBVIRT_JOURNAL);
	if ((r = lv_connect(uri, &conn, err, errlen)) < 0)
		return r;
	if ((r = fl_journal_open(path, &j)) < 0)
		return fl_fail(r, err, errlen, "cannot open the journal '%s': %s", path, strerror(-r));
	r = create_domain(conn, j, uri, id, name, xml, err, errlen);
	fl_journal_close(j);
	return r;
}

static int choose_accel(struct fl_libvirt_cluster *c, const struct fl_libvirt_spec *s, char *err,
			size_t errlen)
{
	char why[200];
	int works = s->accel == FL_ACCEL_TCG ? 0 : fl_kvm_usable(why, sizeof(why));

	if (s->accel == FL_ACCEL_TCG)
		snprintf(why, sizeof(why), "the scenario asks for tcg");
	if (fl_libvirt_choose_accel(s->accel, works, why, &c->accel, err, errlen) < 0)
		return -ENODEV;
	snprintf(c->accel_why, sizeof(c->accel_why), "%s", why);
	return 0;
}

static int write_state(const struct fl_libvirt_cluster *c, char *err, size_t errlen)
{
	char path[PATHLEN + 32];
	json_t *o = state_json(c);
	int r;

	snprintf(path, sizeof(path), "%s/%s", c->dir, FL_LIBVIRT_STATE);
	r = o ? fl_json_write_atomic(path, o, err, errlen) : -ENOMEM;
	json_decref(o);
	return r;
}

int fl_libvirt_up(const struct fl_libvirt_spec *spec, struct fl_libvirt_cluster **out, char *err,
		  size_t errlen)
{
	_cleanup_(conn_closep) virConnectPtr conn = NULL;
	struct fl_libvirt_cluster *c = NULL;
	struct fl_journal *j = NULL;
	char path[PATHLEN + 32];
	int64_t t0;
	int r;

	if ((r = check_spec(spec, err, errlen)) < 0)
		return r;
	if (!(c = calloc(1, sizeof(*c))))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	if ((r = lv_connect(spec->uri, &conn, err, errlen)) < 0)
		goto out;
	if ((r = choose_accel(c, spec, err, errlen)) < 0)
		goto out;
	if ((r = fl_vmimage_kernel(spec->kernel, c->kernel, sizeof(c->kernel), c->kver,
				   sizeof(c->kver), err, errlen)) < 0)
		goto out;
	if ((r = fl_netns_pick_subnet(spec->net.has_subnet, spec->net.subnet, spec->net.prefix,
				      &c->subnet, &c->prefix, err, errlen)) < 0)
		goto out;
	if (layout(c, spec) < 0) {
		r = fl_fail(-EINVAL, err, errlen, "bad cluster id or node names");
		goto out;
	}
	/* someone else's, or ours not taken down: touch nothing */
	if ((r = fl_netns_link_exists(c->bridge, err, errlen)) != 0) {
		if (r > 0)
			r = fl_fail(-EEXIST, err, errlen,
				 "cluster '%s' is already up (bridge '%s' exists): take it down first",
				 c->id, c->bridge);
		goto out;
	}
	for (size_t i = 0; i < c->nnodes; i++) {
		virDomainPtr d = virDomainLookupByName(conn, c->node[i].domain);

		if (d) {
			virDomainFree(d);
			r = fl_fail(-EEXIST, err, errlen,
				 "domain '%s' already exists: take cluster '%s' down first",
				 c->node[i].domain, c->id);
			goto out;
		}
		virResetLastError();
	}
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		r = fl_fail(-errno, err, errlen, "cannot create the state directory '%s': %s", c->dir,
			 strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", c->dir, FL_LIBVIRT_JOURNAL);
	if ((r = fl_journal_open(path, &j)) < 0) {
		r = fl_fail(r, err, errlen, "cannot create the journal '%s': %s", path, strerror(-r));
		goto out;
	}
	if (fl_journal_count(j)) {
		fl_journal_close(j);
		j = NULL;
		r = fl_fail(-EEXIST, err, errlen,
			 "'%s' holds the journal of a cluster that was not taken down: take it "
			 "down first", path);
		goto out;
	}

	/* from here on, everything made is journaled first and undone on failure */
	snprintf(path, sizeof(path), "%s/%s", c->dir, FL_LIBVIRT_STATE);
	if ((r = jot_file(j, path, err, errlen)) < 0 ||
	    (r = jot_file(j, c->initrd, err, errlen)) < 0 ||
	    (r = build_initrd(c->kver, c->initrd, err, errlen)) < 0)
		goto undo;
	if ((r = jot(j, json_pack("{s:s, s:s}", "undo", "tree", "path", c->share), err, errlen)) < 0)
		goto undo;
	if (mkdir(c->share, 0755) < 0) {
		r = fl_fail(-errno, err, errlen, "cannot create '%s': %s", c->share, strerror(errno));
		goto undo;
	}
	if ((r = place_agent(c, spec->agent, err, errlen)) < 0)
		goto undo;
	snprintf(path, sizeof(path), "%s/vmlinux", c->dir);
	if ((r = jot_file(j, path, err, errlen)) < 0 ||
	    (r = fl_vmimage_vmlinux(c->kernel, c->kver, path, err, errlen)) < 0)
		goto undo;
	snprintf(c->boot, sizeof(c->boot), "%s", r > 0 ? path : c->kernel);
	if ((r = jot(j, json_pack("{s:s, s:s}", "undo", "bridge", "name", c->bridge), err, errlen)) < 0)
		goto undo;
	if ((r = fl_netns_bridge_add(c->bridge, c->subnet + 1, c->prefix, err, errlen)) < 0) {
		if (r == -EEXIST) { /* made by someone since we looked: not ours to remove */
			json_object_set_new(fl_journal_entry(j, fl_journal_count(j) - 1), "done",
					    json_true());
			fl_journal_retain(j, is_done, NULL);
		}
		goto undo;
	}
	for (size_t i = 0; i < c->nnodes; i++) {
		struct lv_node *n = &c->node[i];
		_cleanup_(freep) char *xml = NULL;

		if ((r = jot_file(j, n->disk, err, errlen)) < 0 ||
		    (r = make_disk(n->disk, err, errlen)) < 0 ||
		    (r = jot_console(j, n->console, err, errlen)) < 0 ||
		    (r = jot_channels(j, n->channel, err, errlen)) < 0 ||
		    (r = jot_file(j, n->qemu_log, err, errlen)) < 0 ||
		    (r = jot_file(j, n->xml, err, errlen)) < 0 ||
		    (r = node_xml(c, spec, i, &xml, err, errlen)) < 0 ||
		    (r = write_text(n->xml, xml, err, errlen)) < 0)
			goto undo;
	}
	/* create all, then wait for all: the boots overlap */
	t0 = now_ms();
	for (size_t i = 0; i < c->nnodes; i++) {
		struct lv_node *n = &c->node[i];
		_cleanup_(freep) char *xml = NULL;

		if ((r = node_xml(c, spec, i, &xml, err, errlen)) < 0 ||
		    (r = create_domain(conn, j, c->uri, c->id, n->domain, xml, err, errlen)) < 0)
			goto undo;
	}
	r = wait_agents(c, conn, t0, spec->boot_timeout_s > 0 ? spec->boot_timeout_s
				      : c->accel == FL_ACCEL_KVM ? FL_LIBVIRT_BOOT_TIMEOUT_KVM_S
								: FL_LIBVIRT_BOOT_TIMEOUT_TCG_S,
			err, errlen);
	if (r < 0)
		goto undo;
	c->boot_ms = now_ms() - t0;
	if ((r = write_state(c, err, errlen)) < 0)
		goto undo;
	fl_journal_close(j);
	*out = c;
	return 0;
undo:
	{
		char why[1024] = "";

		if (undo_journal(c->dir, j, why, sizeof(why)) < 0)
			append_rollback(err, errlen, why);
	}
out:
	fl_journal_close(j);
	free(c);
	return r;
}

/* --- attach and the handle ------------------------------------------------------------------------ */

int fl_libvirt_attach(const char *state_dir, struct fl_libvirt_cluster **out, char *err,
		      size_t errlen)
{
	struct fl_libvirt_cluster *c;
	char path[PATHLEN + 32];
	json_error_t je;
	json_t *o, *n;
	unsigned a, b, cc, d, p;
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", state_dir, FL_LIBVIRT_STATE);
	if (!(o = json_load_file(path, 0, &je)))
		return fl_fail(-ENOENT, err, errlen, "no libvirt cluster in '%s' (%s)", state_dir, je.text);
	if (!(c = calloc(1, sizeof(*c)))) {
		json_decref(o);
		return -ENOMEM;
	}
	snprintf(c->dir, sizeof(c->dir), "%s", state_dir);
	c->attach = !strcmp(json_string_value(json_object_get(o, "mode")) ?: "", "attach");
	GET_FIELDS(c, o, cluster_fields);
	GET_FIELDS(c, o, create_fields);
	c->accel = !strcmp(json_string_value(json_object_get(o, "accel")) ?: "", "kvm") ? FL_ACCEL_KVM
											  : FL_ACCEL_TCG;
	c->boot_ms = json_integer_value(json_object_get(o, "boot_ms"));
	if (sscanf(json_string_value(json_object_get(o, "subnet")) ?: "", "%u.%u.%u.%u/%u", &a, &b,
		   &cc, &d, &p) == 5) {
		c->subnet = (a << 24) | (b << 16) | (cc << 8) | d;
		c->prefix = p;
	}
	json_array_foreach(json_object_get(o, "nodes"), i, n) {
		struct lv_node *ln;
		struct in_addr in;

		if (i >= FL_MAX_NODES)
			break;
		ln = &c->node[i];
		GET_FIELDS(ln, n, node_fields);
		GET_FIELDS(ln, n, create_node_fields);
		GET_FIELDS(ln, n, attach_node_fields);
		if (inet_pton(AF_INET, json_string_value(json_object_get(n, "addr")) ?: "", &in) == 1)
			ln->addr = ntohl(in.s_addr);
		ln->boot_ms = json_integer_value(json_object_get(n, "boot_ms"));
		ln->persistent = json_is_true(json_object_get(n, "persistent"));
		if (!ln->uri[0])
			snprintf(ln->uri, sizeof(ln->uri), "%s", c->uri);
		c->nnodes = i + 1;
	}
	json_decref(o);
	if (!c->nnodes || !c->id[0]) {
		free(c);
		return fl_fail(-EINVAL, err, errlen, "'%s': no nodes or no id", path);
	}
	/* create mode touches only what it made, under the names it gives;
	 * attach mode's domains are the ones the scenario declared. Node
	 * names make paths in the state directory, in either mode. */
	for (i = 0; i < c->nnodes; i++) {
		char want[sizeof(c->node[0].domain)];
		if (!fl_netns_is_node_name(c->node[i].name)) {
			fl_fail(-EPERM, err, errlen, "'%s': node '%s' is not a node name faultline "
						     "gives; refusing to touch this cluster", path,
				c->node[i].name);
			free(c);
			return -EPERM;
		}
		if (c->attach)
			continue;
		if (fl_libvirt_domain_name(c->id, c->node[i].name, want, sizeof(want)) < 0 ||
		    strcmp(want, c->node[i].domain)) {
			fl_fail(-EPERM, err, errlen, "'%s': node '%s' names domain '%s', which faultline "
						     "did not create; refusing to touch it", path,
				c->node[i].name, c->node[i].domain);
			free(c);
			return -EPERM;
		}
	}
	if (!c->attach && c->bridge[0] && !fl_netns_is_our_link(c->bridge)) {
		fl_fail(-EPERM, err, errlen, "'%s': bridge '%s' is not one faultline made; refusing to "
					     "touch it", path, c->bridge);
		free(c);
		return -EPERM;
	}
	*out = c;
	return 0;
}

void fl_libvirt_cluster_free(struct fl_libvirt_cluster *c)
{
	free(c);
}

size_t fl_libvirt_nnodes(const struct fl_libvirt_cluster *c) { return c->nnodes; }
const char *fl_libvirt_state_dir(const struct fl_libvirt_cluster *c) { return c->dir; }
const char *fl_libvirt_share(const struct fl_libvirt_cluster *c) { return c->share; }
enum fl_accel fl_libvirt_accel(const struct fl_libvirt_cluster *c) { return c->accel; }

uint32_t fl_libvirt_node_addr(const struct fl_libvirt_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].addr : 0;
}

const char *fl_libvirt_node_domain(const struct fl_libvirt_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].domain : NULL;
}

const char *fl_libvirt_node_console(const struct fl_libvirt_cluster *c, size_t i)
{
	return i < c->nnodes ? c->node[i].console : NULL;
}

/* --- mode attach -------------------------------------------------------------------------------- */

/* The domains are someone else's: found, used through their agents, never
 * defined, undefined, destroyed or changed, except by a VM fault that is
 * undone again (each domain left as it was found: running). */

static const char *state_name(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "running"; /* idle vcpu: running to us */
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutting down";
	case VIR_DOMAIN_SHUTOFF: return "shut off";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "suspended by the guest";
	default: return "in no known state";
	}
}

static int in_subnet(uint32_t a, uint32_t subnet, unsigned prefix)
{
	uint32_t mask = prefix ? 0xffffffffu << (32 - prefix) : 0;

	return (a & mask) == (subnet & mask);
}

/* One source of virDomainInterfaceAddresses: 1 with *out when it gives an
 * IPv4 address (on the subnet when one is given), 0 when none, -1 when it
 * failed; what it gave or why, appended to tried. */
static int addr_from(virDomainPtr d, unsigned source, const char *what, int has_subnet,
		     uint32_t subnet, unsigned prefix, uint32_t *out, char *tried, size_t len)
{
	virDomainInterfacePtr *ifs = NULL;
	int n = virDomainInterfaceAddresses(d, &ifs, source, 0), found = 0;
	size_t l = strlen(tried);
	char seen[128] = "";

	if (n < 0) {
		const char *m = virGetLastErrorMessage();
		snprintf(tried + l, len - l, "%s%s: %s", l ? "; " : "", what,
			 m && *m ? m : "failed");
		virResetLastError();
		return -1;
	}
	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; k < ifs[i]->naddrs; k++) {
			virDomainIPAddressPtr a = &ifs[i]->addrs[k];
			struct in_addr in;
			uint32_t h;
			size_t sl = strlen(seen);

			if (a->type != VIR_IP_ADDR_TYPE_IPV4 || !a->addr ||
			    inet_pton(AF_INET, a->addr, &in) != 1)
				continue;
			h = ntohl(in.s_addr);
			if ((h >> 24) == 127)
				continue;
			if (sl + strlen(a->addr) + 3 < sizeof(seen))
				snprintf(seen + sl, sizeof(seen) - sl, "%s%s", sl ? " " : "", a->addr);
			if (!found && (!has_subnet || in_subnet(h, subnet, prefix))) {
				*out = h;
				found = 1;
			}
		}
	}
	for (int i = 0; i < n; i++)
		virDomainInterfaceFree(ifs[i]);
	free(ifs);
	if (!found)
		snprintf(tried + l, len - l, "%s%s: %s%s", l ? "; " : "", what,
			 seen[0] ? seen : "no IPv4 address", seen[0] && has_subnet ? " (not on the subnet)" : "");
	return found;
}

int fl_libvirt_find_addr(void *domain, int has_subnet, uint32_t subnet, unsigned prefix,
			 uint32_t *out, char *source, size_t sourcelen, char *tried, size_t triedlen)
{
	static const struct {
		unsigned src;
		const char *name;
	} srcs[] = {
		{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, "lease" },
		{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, "agent" },
		{ VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, "arp" },
	};

	tried[0] = 0;
	for (size_t k = 0; k < sizeof(srcs) / sizeof(srcs[0]); k++) {
		uint32_t a = 0;

		if (addr_from(domain, srcs[k].src, srcs[k].name, has_subnet, subnet, prefix, &a,
			      tried, triedlen) == 1) {
			*out = a;
			snprintf(source, sourcelen, "%s", srcs[k].name);
			return 0;
		}
	}
	return -ENOENT;
}

/* Node i's domain, looked up and checked: running, its persistence. */
static int attach_node(struct fl_libvirt_cluster *c, const struct fl_libvirt_attach_spec *s,
		       size_t i, char *err, size_t errlen)
{
	struct lv_node *n = &c->node[i];
	const struct fl_libvirt_attach_node *an = &s->nodes[i];
	_cleanup_(conn_closep) virConnectPtr conn = NULL;
	_cleanup_(dom_freep) virDomainPtr d = NULL;
	_cleanup_(freep) char *xml = NULL;
	int st = 0, reason = 0, r;

	if ((r = lv_connect(n->uri, &conn, err, errlen)) < 0) {
		char e[512];
		snprintf(e, sizeof(e), "node '%s': %s", n->name, err);
		return fl_fail(r, err, errlen, "%s", e);
	}
	if (!(d = virDomainLookupByName(conn, n->domain))) {
		char names[200] = "";
		virDomainPtr *doms = NULL;
		int nd;

		virResetLastError();
		nd = virConnectListAllDomains(conn, &doms, 0);
		for (int j = 0; j < nd; j++) {
			size_t l = strlen(names);
			const char *dn = virDomainGetName(doms[j]);
			if (dn && l + strlen(dn) + 6 < sizeof(names))
				snprintf(names + l, sizeof(names) - l, "%s'%s'", l ? ", " : "", dn);
			virDomainFree(doms[j]);
		}
		free(doms);
		virResetLastError();
		return fl_fail(-ENOENT, err, errlen,
			    "node '%s': no domain '%s' at '%s' (looked up by name; the domains "
			    "there: %s)", n->name, n->domain, n->uri, nd > 0 ? names : "none");
	}
	if (virDomainGetState(d, &st, &reason, 0) < 0)
		return lv_fail(-EIO, err, errlen, "node '%s': cannot read the state of domain '%s' at '%s'",
			       n->name, n->domain, n->uri);
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_BLOCKED)
		return fl_fail(-EHOSTDOWN, err, errlen,
			    "node '%s': domain '%s' at '%s' is %s, not running: attach mode uses "
			    "domains as they are (start or resume it first)", n->name, n->domain,
			    n->uri, state_name(st));
	snprintf(n->found, sizeof(n->found), "%s", state_name(st));
	n->persistent = virDomainIsPersistent(d) == 1;
	/* what the domain runs on, for the run's record */
	if (i == 0 && (xml = virDomainGetXMLDesc(d, 0))) {
		c->accel = strstr(xml, "<domain type='kvm'") ? FL_ACCEL_KVM : FL_ACCEL_TCG;
		snprintf(c->accel_why, sizeof(c->accel_why), "the type of the attached domain '%s'",
			 n->domain);
	}
	virResetLastError();
	if (an->addr) {
		n->addr = an->addr;
		snprintf(n->addr_from, sizeof(n->addr_from), "scenario");
	} else {
		char tried[400];

		if (fl_libvirt_find_addr(d, s->has_subnet, s->subnet, s->prefix, &n->addr,
					 n->addr_from, sizeof(n->addr_from), tried, sizeof(tried)) < 0)
			return fl_fail(-EADDRNOTAVAIL, err, errlen,
				    "node '%s': no IPv4 address%s for domain '%s' at '%s' (%s); give it "
				    "in the scenario: domains: [{name: %s, address: A.B.C.D}, ...]",
				    n->name, s->has_subnet ? " on the cluster's subnet" : "", n->domain,
				    n->uri, tried, n->domain);
	}
	return 0;
}

int fl_libvirt_up_attach(const struct fl_libvirt_attach_spec *s, struct fl_libvirt_cluster **out,
			 char *err, size_t errlen)
{
	struct fl_libvirt_cluster *c;
	int r;

	if (!s->id || !s->state_dir || !s->uri || !s->nodes || s->nnodes < 1 ||
	    s->nnodes > FL_MAX_NODES)
		return fl_fail(-EINVAL, err, errlen, "incomplete libvirt attach spec");
	if (!(c = calloc(1, sizeof(*c))))
		return fl_fail(-ENOMEM, err, errlen, "out of memory");
	c->attach = 1;
	c->accel = FL_ACCEL_TCG;
	snprintf(c->data_dir, sizeof(c->data_dir), "%s/%s-%llx", FL_LIBVIRT_DATA_DIR, s->id,
		 (unsigned long long)time(NULL));
	snprintf(c->id, sizeof(c->id), "%s", s->id);
	snprintf(c->dir, sizeof(c->dir), "%s", s->state_dir);
	snprintf(c->uri, sizeof(c->uri), "%s", s->uri);
	c->subnet = s->has_subnet ? s->subnet : 0;
	c->prefix = s->has_subnet ? s->prefix : 0;
	c->nnodes = s->nnodes;
	for (size_t i = 0; i < s->nnodes; i++) {
		struct lv_node *n = &c->node[i];
		const struct fl_libvirt_attach_node *an = &s->nodes[i];

		if (!an->name || !an->domain || !*an->domain ||
		    snprintf(n->name, sizeof(n->name), "%s", an->name) >= (int)sizeof(n->name) ||
		    snprintf(n->domain, sizeof(n->domain), "%s", an->domain) >= (int)sizeof(n->domain)) {
			r = fl_fail(-EINVAL, err, errlen, "node %zu: bad name or domain name (at most %zu "
						       "characters)", i, sizeof(n->domain) - 1);
			goto out;
		}
		snprintf(n->uri, sizeof(n->uri), "%s", an->uri && *an->uri ? an->uri : s->uri);
		if ((r = attach_node(c, s, i, err, errlen)) < 0)
			goto out;
	}
	for (size_t i = 0; i < c->nnodes; i++)
		for (size_t j = 0; j < i; j++)
			if (c->node[i].addr == c->node[j].addr) {
				struct in_addr in = { .s_addr = htonl(c->node[i].addr) };
				char a[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &in, a, sizeof(a));
				r = fl_fail(-EINVAL, err, errlen, "nodes '%s' and '%s' have the same address %s",
					 c->node[j].name, c->node[i].name, a);
				goto out;
			}
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST) {
		r = fl_fail(-errno, err, errlen, "cannot create the state directory '%s': %s", c->dir,
			 strerror(errno));
		goto out;
	}
	/* the state at attach time: what down leaves each domain as */
	if ((r = write_state(c, err, errlen)) < 0)
		goto out;
	*out = c;
	return 0;
out:
	free(c);
	return r;
}

/* Each attached domain as it was found (running): resumed when paused,
 * started from its definition when shut off. Nothing else is touched. */
static int restore_attached(const struct fl_libvirt_cluster *c, char *err, size_t errlen)
{
	int first = 0;

	for (size_t i = 0; i < c->nnodes; i++) {
		const struct lv_node *n = &c->node[i];
		_cleanup_(conn_closep) virConnectPtr conn = NULL;
		_cleanup_(dom_freep) virDomainPtr d = NULL;
		char e[512] = "";
		int st = 0, reason = 0, r = 0;

		if (strcmp(n->found, "running"))
			continue; /* attached only when running; nothing else to restore */
		if ((r = lv_connect(n->uri, &conn, e, sizeof(e))) < 0)
			;
		else if (!(d = virDomainLookupByName(conn, n->domain)))
			r = lv_fail(-ENOENT, e, sizeof(e), "domain '%s' of node '%s' is gone from '%s'",
				    n->domain, n->name, n->uri);
		else if (virDomainGetState(d, &st, &reason, 0) < 0)
			r = lv_fail(-EIO, e, sizeof(e), "cannot read the state of domain '%s'", n->domain);
		else if (st == VIR_DOMAIN_PAUSED && virDomainResume(d) < 0)
			r = lv_fail(-EIO, e, sizeof(e), "cannot resume domain '%s' (found running)",
				    n->domain);
		else if (st == VIR_DOMAIN_SHUTOFF && virDomainCreate(d) < 0)
			r = lv_fail(-EIO, e, sizeof(e), "cannot start domain '%s' again (found running)",
				    n->domain);
		if (r < 0 && !first) {
			first = r;
			fl_fail(0, err, errlen, "%s", e);
		}
	}
	return first;
}

int fl_libvirt_is_attach(const struct fl_libvirt_cluster *c)
{
	return c && c->attach;
}

const char *fl_libvirt_node_uri(const struct fl_libvirt_cluster *c, size_t i)
{
	if (!c || i >= c->nnodes)
		return NULL;
	return c->attach && c->node[i].uri[0] ? c->node[i].uri : c->uri;
}
