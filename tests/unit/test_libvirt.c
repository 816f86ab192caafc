/* The libvirt provider without root or a daemon: the domain XML of the
 * node template, the kernel command line, the choice of accelerator, names,
 * the initramfs pieces (cpio, modprobe's dependency lines), and the
 * create/destroy path against libvirt's built-in test:///default driver,
 * which accepts the whole node template (direct kernel boot, 9p, the
 * virtio channel, the bridge interface) without running anything. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "faultline/diag.h"
#include "faultline/doctor.h"
#include "faultline/libvirt.h"
#include "faultline/scenario.h"
#include "faultline/vmimage.h"
#include "providers/libvirt-priv.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define TEST_URI "test:///default"

static char dir[] = "/tmp/fl-libvirt-test-XXXXXX";

static struct fl_libvirt_domain node_template(enum fl_accel accel)
{
	struct fl_libvirt_domain d = {
		.name = "fl-abcde-n1",
		.cluster_id = "abcde",
		.node = "n1",
		.accel = accel,
		.memory = 512ull << 20,
		.vcpus = 1,
		.kernel = "/boot/vmlinuz-6.1.0-57-amd64",
		.initrd = "/run/faultline/abcde/initrd.img",
		.cmdline = "console=ttyS0 fl.node=n1",
		.disk = "/run/faultline/abcde/disk-n1.raw",
		.channel = "/run/faultline/abcde/agent-n1.sock",
		.nchannels = 2,
		.console = "/run/faultline/abcde/console-n1.log",
		.bridge = "flabcdebr",
		.tap = "flabcdet0",
		.mac = "52:54:00:12:34:00",
	};
	return d;
}

static void assert_has(const char *xml, const char *part)
{
	if (!strstr(xml, part))
		fail_msg("missing from the domain XML: %s\n%s", part, xml);
}

static void test_domain_xml_tcg(void **state)
{
	struct fl_libvirt_domain d = node_template(FL_ACCEL_TCG);
	char *xml = NULL;

	(void)state;
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), 0);
	/* TCG: domain type qemu, no host CPU */
	assert_has(xml, "<domain type='qemu'>");
	assert_null(strstr(xml, "host-passthrough"));
	assert_has(xml, "<name>fl-abcde-n1</name>");
	/* owned by the cluster: down checks this before destroying */
	assert_has(xml, "<faultline:cluster xmlns:faultline='" FL_LIBVIRT_XMLNS
			"' id='abcde' node='n1'/>");
	assert_has(xml, "<memory unit='KiB'>524288</memory>");
	assert_has(xml, "<vcpu>1</vcpu>");
	/* direct kernel boot */
	assert_has(xml, "<kernel>/boot/vmlinuz-6.1.0-57-amd64</kernel>");
	assert_has(xml, "<initrd>/run/faultline/abcde/initrd.img</initrd>");
	assert_has(xml, "<cmdline>console=ttyS0 fl.node=n1</cmdline>");
	/* the host's root, read-only, over 9p */
	assert_has(xml, "<filesystem type='mount' accessmode='passthrough' multidevs='remap'>\n"
			"      <source dir='/'/>\n      <target dir='hostroot'/>\n      <readonly/>");
	/* the agent's channels */
	assert_has(xml, "<channel type='unix'>\n      <source mode='bind' "
			"path='/run/faultline/abcde/agent-n1.sock'/>\n"
			"      <target type='virtio' name='org.faultline.agent.0'/>");
	assert_has(xml, "<channel type='unix'>\n      <source mode='bind' "
			"path='/run/faultline/abcde/agent-n1.sock.1'/>\n"
			"      <target type='virtio' name='org.faultline.agent.1'/>");
	assert_null(strstr(xml, "agent-n1.sock.2"));
	/* on the cluster's bridge */
	assert_has(xml, "<interface type='bridge'>\n      <mac address='52:54:00:12:34:00'/>\n"
			"      <source bridge='flabcdebr'/>\n      <target dev='flabcdet0'/>\n"
			"      <model type='virtio'/>");
	/* the data disk */
	assert_has(xml, "<disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
			"      <source file='/run/faultline/abcde/disk-n1.raw'/>\n"
			"      <target dev='vda' bus='virtio'/>");
	assert_has(xml, "<serial type='file'>\n      <source path='/run/faultline/abcde/console-n1.log'/>");
	assert_has(xml, "<seclabel type='static' model='dac' relabel='no'>");
	assert_null(strstr(xml, "flshare"));
	free(xml);
	/* the read-write share, when there is one */
	d.share = "/run/faultline/abcde/share";
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), 0);
	assert_has(xml, "<filesystem type='mount' accessmode='passthrough'>\n"
			"      <source dir='/run/faultline/abcde/share'/>\n"
			"      <target dir='flshare'/>\n    </filesystem>");
	free(xml);
}

static void test_domain_xml_kvm_and_escaping(void **state)
{
	struct fl_libvirt_domain d = node_template(FL_ACCEL_KVM);
	char *xml = NULL;

	(void)state;
	d.memory = 1ull << 30;
	d.vcpus = 2;
	d.disk = "/srv/a&b/it's.raw";
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), 0);
	assert_has(xml, "<domain type='kvm'>");
	assert_has(xml, "<cpu mode='host-passthrough'/>");
	assert_has(xml, "<memory unit='KiB'>1048576</memory>");
	assert_has(xml, "<vcpu>2</vcpu>");
	assert_has(xml, "<source file='/srv/a&amp;b/it&#39;s.raw'/>");
	free(xml);

	/* what cannot make a domain */
	d = node_template(FL_ACCEL_AUTO);
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), -EINVAL);
	d = node_template(FL_ACCEL_TCG);
	d.channel = NULL;
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), -EINVAL);
	d = node_template(FL_ACCEL_TCG);
	d.vcpus = 0;
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), -EINVAL);
	d = node_template(FL_ACCEL_TCG);
	d.nchannels = FL_LIBVIRT_CHANNELS + 1;
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), -EINVAL);
}

static void test_cmdline(void **state)
{
	char buf[512];

	(void)state;
	assert_int_equal(fl_libvirt_cmdline("n1", IP(10, 213, 0, 2), 24, "/work/build/faultline-agent",
					    NULL, buf, sizeof(buf)),
			 0);
	assert_non_null(strstr(buf, "console=ttyS0 "));
	assert_non_null(strstr(buf, " net.ifnames=0 "));
	assert_non_null(strstr(buf, " fl.node=n1 fl.addr=10.213.0.2/24 "
				    "fl.agent=/work/build/faultline-agent"));
	assert_null(strstr(buf, "fl.share="));
	assert_int_equal(fl_libvirt_cmdline("n1", IP(10, 213, 0, 2), 24, "/a", "/run/faultline/x/share",
					    buf, sizeof(buf)),
			 0);
	assert_non_null(strstr(buf, " fl.agent=/a fl.share=/run/faultline/x/share"));
	assert_int_equal(fl_libvirt_cmdline("n1", 1, 24, "/a", "share", buf, sizeof(buf)), -EINVAL);
	/* what a kernel command line cannot carry */
	assert_int_equal(fl_libvirt_cmdline("n1", 1, 24, "build/faultline-agent", NULL, buf, sizeof(buf)),
			 -EINVAL);
	assert_int_equal(fl_libvirt_cmdline("n1", 1, 24, "/my agent", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_libvirt_cmdline("n1", 1, 24, "/a'b", NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fl_libvirt_cmdline("n1", 1, 24, "/a", NULL, buf, 20), -ENAMETOOLONG);
}

static void test_accel_choice(void **state)
{
	enum fl_accel a = FL_ACCEL_AUTO;
	char err[256] = "";

	(void)state;
	assert_int_equal(fl_libvirt_choose_accel(FL_ACCEL_AUTO, 1, "ok", &a, err, sizeof(err)), 0);
	assert_int_equal(a, FL_ACCEL_KVM);
	assert_int_equal(fl_libvirt_choose_accel(FL_ACCEL_AUTO, 0, "no vmx", &a, err, sizeof(err)), 0);
	assert_int_equal(a, FL_ACCEL_TCG);
	assert_int_equal(fl_libvirt_choose_accel(FL_ACCEL_TCG, 1, "ok", &a, err, sizeof(err)), 0);
	assert_int_equal(a, FL_ACCEL_TCG);
	assert_int_equal(fl_libvirt_choose_accel(FL_ACCEL_KVM, 1, "ok", &a, err, sizeof(err)), 0);
	assert_int_equal(a, FL_ACCEL_KVM);
	a = FL_ACCEL_AUTO;
	assert_int_equal(fl_libvirt_choose_accel(FL_ACCEL_KVM, 0,
						 "/dev/kvm exists but /proc/cpuinfo has no vmx or svm flag",
						 &a, err, sizeof(err)),
			 -ENODEV);
	assert_int_equal(a, FL_ACCEL_AUTO); /* out-param untouched on failure */
	assert_string_equal(err, "'accel: kvm' but KVM does not work here (/dev/kvm exists but "
				 "/proc/cpuinfo has no vmx or svm flag); use 'accel: auto' or "
				 "'accel: tcg'");
}

static void test_kvm_probe_says_why(void **state)
{
	char why[200] = "";
	int k = fl_kvm_usable(why, sizeof(why));

	(void)state;
	assert_true(k == 0 || k == 1);
	assert_true(why[0] != 0);
	print_message("  kvm %s here: %s\n", k ? "works" : "does not work", why);
}

static void test_names(void **state)
{
	char a[32], b[32];

	(void)state;
	assert_int_equal(fl_libvirt_domain_name("abcde", "n1", a, sizeof(a)), 0);
	assert_string_equal(a, "fl-abcde-n1");
	assert_int_equal(fl_libvirt_domain_name("ABC", "n1", a, sizeof(a)), -EINVAL);
	assert_int_equal(fl_libvirt_tap_name("abcde", 63, a, sizeof(a)), 0);
	assert_string_equal(a, "flabcdet63");
	assert_int_equal(fl_libvirt_tap_name("toolong", 0, a, sizeof(a)), -EINVAL);
	/* the same MAC for the same node every time; one per node */
	fl_libvirt_mac("abcde", 0, a, sizeof(a));
	fl_libvirt_mac("abcde", 0, b, sizeof(b));
	assert_string_equal(a, b);
	assert_int_equal(strncmp(a, "52:54:00:", 9), 0);
	assert_int_equal(strlen(a), 17);
	fl_libvirt_mac("abcde", 1, b, sizeof(b));
	assert_string_not_equal(a, b);
	fl_libvirt_mac("fghij", 0, b, sizeof(b));
	assert_string_not_equal(a, b);
}

static void test_console_tail(void **state)
{
	char path[256], buf[256];
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/console.log", dir);
	assert_non_null(f = fopen(path, "w"));
	for (int i = 1; i <= 20; i++)
		fprintf(f, "line %d\r\n", i);
	fprintf(f, "\x1b[0m\n");
	fclose(f);
	fl_libvirt_tail(path, 3, buf, sizeof(buf));
	assert_string_equal(buf, "line 19\nline 20\n[0m");
	/* too small for three lines: the newest that fit, whole */
	fl_libvirt_tail(path, 3, buf, 16);
	assert_string_equal(buf, "line 20\n[0m");
	fl_libvirt_tail("/nonexistent/console.log", 3, buf, sizeof(buf));
	assert_string_equal(buf, "");
	unlink(path);
}

/* Stand-ins for qemu's channel sockets: channel 0 accepts and stays silent
 * (held by another client: qemu queues us unanswered), channel 1 greets. */
struct fake_channel {
	int lfd;
	int greet;
};

static void *fake_channel_thread(void *p)
{
	struct fake_channel *f = p;
	int c = accept(f->lfd, NULL, NULL);
	char b;

	if (c >= 0 && f->greet) {
		const char *hi = "{\"event\":\"connected\",\"node\":\"n1\"}\nserved by 1\n";
		if (write(c, hi, strlen(hi)) < 0)
			b = 0;
	}
	/* until the client closes */
	while (c >= 0 && read(c, &b, 1) > 0)
		;
	if (c >= 0)
		close(c);
	return NULL;
}

static int fake_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(s, 4) < 0)
		return -1;
	return s;
}

static void test_connect_takes_a_channel_that_greets(void **state)
{
	struct fake_channel f[2] = { { .greet = 0 }, { .greet = 1 } };
	char base[256], p1[300], line[64] = "";
	pthread_t t[2];
	size_t len = 0;
	int fd = -1;

	(void)state;
	snprintf(base, sizeof(base), "%s/agent-n1.sock", dir);
	fl_libvirt_channel_path(base, 1, p1, sizeof(p1));
	assert_string_equal(p1 + strlen(base), ".1");
	assert_true((f[0].lfd = fake_listen(base)) >= 0);
	assert_true((f[1].lfd = fake_listen(p1)) >= 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fake_channel_thread, &f[i]), 0);
	assert_int_equal(fl_libvirt_connect(base, &fd), 0);
	/* the greeting was taken, nothing after it */
	while (len + 1 < sizeof(line) && read(fd, line + len, 1) == 1 && line[len] != '\n')
		len++;
	line[len] = 0;
	assert_string_equal(line, "served by 1");
	close(fd);
	/* the silent channel's client is gone too: its thread ends */
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		close(f[i].lfd);
	}
	unlink(base);
	unlink(p1);
}

/* --- the initramfs pieces ----------------------------------------------------------- */

static void test_parse_depends(void **state)
{
	char **v = NULL;

	(void)state;
	assert_int_equal(fl_vmimage_parse_depends(
				 "insmod /lib/modules/k/virtio_ring.ko \n"
				 "insmod /lib/modules/k/virtio.ko \n"
				 "builtin crc32c\n"
				 "insmod /lib/modules/k/9pnet.ko.xz opt=1\n",
				 &v),
			 3);
	/* a second module sharing dependencies adds only what is new, after them */
	assert_int_equal(fl_vmimage_parse_depends("insmod /lib/modules/k/virtio_ring.ko \n"
						  "insmod /lib/modules/k/virtio_net.ko",
						  &v),
			 1);
	assert_string_equal(v[0], "/lib/modules/k/virtio_ring.ko");
	assert_string_equal(v[1], "/lib/modules/k/virtio.ko");
	assert_string_equal(v[2], "/lib/modules/k/9pnet.ko.xz");
	assert_string_equal(v[3], "/lib/modules/k/virtio_net.ko");
	assert_null(v[4]);
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static void test_module_name(void **state)
{
	char b[64];

	(void)state;
	fl_vmimage_module_name("/lib/modules/k/kernel/fs/9p/9p.ko.xz", b, sizeof(b));
	assert_string_equal(b, "9p.ko");
	fl_vmimage_module_name("/lib/modules/k/overlay.ko.zst", b, sizeof(b));
	assert_string_equal(b, "overlay.ko");
	fl_vmimage_module_name("/x/virtio.ko", b, sizeof(b));
	assert_string_equal(b, "virtio.ko");
}

/* One newc header field (8 hex digits) at p. */
static unsigned field(const char *p, int i)
{
	char h[9];

	memcpy(h, p + 6 + 8 * i, 8);
	h[8] = 0;
	return (unsigned)strtoul(h, NULL, 16);
}

static void test_cpio(void **state)
{
	struct fl_cpio c;
	char *buf = NULL;
	size_t len = 0, o = 0;
	FILE *f;
	struct {
		const char *name;
		unsigned mode;
		const char *data;
	} want[] = {
		{ "bin", 040755, "" },
		{ "bin/busybox", 0100755, "ELF!" },
		{ "bin/sh", 0120777, "busybox" },
		{ "init", 0100755, "#!/bin/sh\n" },
		{ "TRAILER!!!", 0, "" },
	};

	(void)state;
	assert_non_null(f = open_memstream(&buf, &len));
	fl_cpio_init(&c, f, 1700000000);
	assert_int_equal(fl_cpio_dir(&c, "bin", 0755), 0);
	assert_int_equal(fl_cpio_file(&c, "bin/busybox", 0755, "ELF!", 4), 0);
	assert_int_equal(fl_cpio_symlink(&c, "bin/sh", "busybox"), 0);
	assert_int_equal(fl_cpio_file(&c, "init", 0755, "#!/bin/sh\n", 10), 0);
	assert_int_equal(fl_cpio_finish(&c), 0);
	fclose(f);
	/* read it back as the kernel does: header, name padded to 4, data padded to 4 */
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		unsigned nsize, fsize;

		assert_true(o + 110 <= len);
		assert_memory_equal(buf + o, "070701", 6);
		assert_int_equal(field(buf + o, 1), want[k].mode);
		fsize = field(buf + o, 6);
		nsize = field(buf + o, 11);
		assert_int_equal(nsize, strlen(want[k].name) + 1);
		assert_string_equal(buf + o + 110, want[k].name);
		assert_int_equal(fsize, strlen(want[k].data));
		o = (o + 110 + nsize + 3) & ~(size_t)3;
		assert_memory_equal(buf + o, want[k].data, fsize);
		o = (o + fsize + 3) & ~(size_t)3;
	}
	assert_int_equal(o, len);
	assert_int_equal(len % 4, 0);
	free(buf);
}

/* --- against libvirt's test driver --------------------------------------------------------- */

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

/* The test driver keeps its domains while a connection to it is open:
 * this one, held by the test, outlives those the provider opens. */
static virConnectPtr test_conn(void)
{
	virSetErrorFunc(NULL, quiet);
	return virConnectOpen(TEST_URI);
}

static int domain_exists(virConnectPtr conn, const char *name)
{
	virDomainPtr d = virDomainLookupByName(conn, name);

	if (!d)
		return 0;
	virDomainFree(d);
	return 1;
}

static void journal_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, FL_LIBVIRT_JOURNAL);
}

static void test_create_and_down_on_test_driver(void **state)
{
	virConnectPtr conn = test_conn();
	struct fl_libvirt_domain d = node_template(FL_ACCEL_TCG);
	char *xml = NULL, *dumped, err[512] = "", jp[300];
	virDomainPtr dom;

	(void)state;
	if (!conn)
		skip();
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), 0);
	assert_int_equal(fl_libvirt_priv_create(dir, TEST_URI, "abcde", "fl-abcde-n1", xml, err,
						sizeof(err)),
			 0);
	free(xml);
	/* libvirt took the whole template, channel and metadata included */
	assert_non_null(dom = virDomainLookupByName(conn, "fl-abcde-n1"));
	assert_int_equal(virDomainIsActive(dom), 1);
	assert_int_equal(virDomainIsPersistent(dom), 0); /* transient */
	assert_non_null(dumped = virDomainGetXMLDesc(dom, 0));
	assert_non_null(strstr(dumped, "<target type='virtio' name='org.faultline.agent.0'/>"));
	assert_non_null(strstr(dumped, "<target type='virtio' name='org.faultline.agent.1'/>"));
	assert_non_null(strstr(dumped, "<source bridge='flabcdebr'/>"));
	assert_non_null(strstr(dumped, "<kernel>/boot/vmlinuz-6.1.0-57-amd64</kernel>"));
	free(dumped);
	assert_non_null(dumped = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
						       FL_LIBVIRT_XMLNS, 0));
	assert_non_null(strstr(dumped, "id=\"abcde\""));
	free(dumped);
	virDomainFree(dom);

	/* down from the state directory alone (the process that made it died) */
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);
	assert_false(domain_exists(conn, "fl-abcde-n1"));
	journal_path(jp, sizeof(jp));
	assert_int_equal(access(jp, F_OK), -1);
	/* again: nothing to do */
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);
	virConnectClose(conn);
}

static void test_down_spares_what_is_not_ours(void **state)
{
	virConnectPtr conn = test_conn();
	struct fl_libvirt_domain d = node_template(FL_ACCEL_TCG);
	char *xml = NULL, err[512] = "", jp[300];
	const char *plain = "<domain type='test'><name>fl-abcde-n2</name><memory>65536</memory>"
			    "<os><type>hvm</type></os></domain>";
	virDomainPtr dom;

	(void)state;
	if (!conn)
		skip();
	/* journaled as ours, but the domain of that name is someone else's */
	assert_int_equal(fl_libvirt_priv_create(dir, TEST_URI, "abcde", "fl-abcde-n2", plain, err,
						sizeof(err)),
			 0);
	/* and one carrying another cluster's metadata */
	d.name = "fl-abcde-n3";
	d.cluster_id = "zzzzz";
	assert_int_equal(fl_libvirt_domain_xml(&d, &xml), 0);
	assert_non_null(dom = virDomainCreateXML(conn, xml, 0));
	virDomainFree(dom);
	free(xml);
	{
		/* journal it as cluster abcde's */
		FILE *f;
		journal_path(jp, sizeof(jp));
		assert_non_null(f = fopen(jp, "a"));
		fprintf(f, "{\"undo\":\"domain\",\"name\":\"fl-abcde-n3\",\"uri\":\"%s\",\"id\":\"abcde\"}\n",
			TEST_URI);
		fclose(f);
	}
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "not destroying it"));
	print_message("  %s\n", err);
	assert_true(domain_exists(conn, "fl-abcde-n2"));
	assert_true(domain_exists(conn, "fl-abcde-n3"));
	/* the refused entries stay in the journal for a retry */
	assert_int_equal(access(jp, F_OK), 0);

	/* a journal entry naming something outside the state directory is refused */
	unlink(jp);
	{
		FILE *f = fopen(jp, "w");
		assert_non_null(f);
		fprintf(f, "{\"undo\":\"file\",\"path\":\"/etc/passwd\"}\n");
		fclose(f);
	}
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), -EINVAL);
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	unlink(jp);

	for (const char *const *n = (const char *const[]){ "fl-abcde-n2", "fl-abcde-n3", NULL }; *n; n++) {
		assert_non_null(dom = virDomainLookupByName(conn, *n));
		virDomainDestroy(dom);
		virDomainFree(dom);
	}
	virConnectClose(conn);
}

static void test_up_without_libvirtd(void **state)
{
	struct fl_libvirt_spec spec = {
		.net = { .id = "abcde", .nnodes = 1, .names = (const char *const[]){ "n1" },
			 .state_dir = dir },
		.uri = "qemu:///system?socket=/nonexistent/libvirt-sock",
		.memory = 512ull << 20,
		.vcpus = 1,
		.accel = FL_ACCEL_AUTO,
		.agent = "/bin/true",
	};
	struct fl_libvirt_cluster *c = NULL;
	char err[1024] = "", jp[300];

	(void)state;
	assert_int_equal(fl_libvirt_up(&spec, &c, err, sizeof(err)), -ECONNREFUSED);
	assert_null(c);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "cannot connect to libvirt at "));
	assert_non_null(strstr(err, "virtlogd -d; libvirtd -d"));
	journal_path(jp, sizeof(jp));
	assert_int_equal(access(jp, F_OK), -1); /* nothing made */

	/* refused before anything is touched */
	spec.uri = "qemu+ssh://elsewhere/system";
	assert_int_equal(fl_libvirt_up(&spec, &c, err, sizeof(err)), -EOPNOTSUPP);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "shares its root with the guests"));
	assert_non_null(strstr(err, "mode attach takes any uri"));
	spec.uri = TEST_URI;
	spec.agent = "/nonexistent-fl/faultline-agent";
	assert_int_equal(fl_libvirt_up(&spec, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is not an executable"));
	/* an agent under /tmp (which each VM mounts afresh) is copied into the
	 * share at up: tests/e2e/host-libvirt.sh from a build under /tmp */
}


/* --- mode attach, on the test driver's own domain "test" (running, persistent) --- */

static int state_is(virConnectPtr conn, const char *name, int want)
{
	virDomainPtr d = virDomainLookupByName(conn, name);
	int st = -1, reason = 0;

	if (!d)
		return 0;
	virDomainGetState(d, &st, &reason, 0);
	virDomainFree(d);
	return st == want;
}

static int attach_one(const char *domain, uint32_t addr, int has_subnet, uint32_t subnet,
		      unsigned prefix, struct fl_libvirt_cluster **c, char *err, size_t errlen)
{
	struct fl_libvirt_attach_node n = { .name = "n1", .domain = domain, .addr = addr };
	struct fl_libvirt_attach_spec s = {
		.id = "attch", .nnodes = 1, .nodes = &n, .has_subnet = has_subnet,
		.subnet = subnet, .prefix = prefix, .state_dir = dir, .uri = TEST_URI,
	};

	return fl_libvirt_up_attach(&s, c, err, errlen);
}

static void state_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, FL_LIBVIRT_STATE);
}

static void test_attach_discovery(void **state)
{
	virConnectPtr conn = test_conn(); /* keeps the test driver's state alive */
	struct fl_libvirt_cluster *c = NULL, *again = NULL;
	char err[1024] = "", sp[300];
	json_t *o;

	(void)state;
	if (!conn)
		skip();
	/* no address given: libvirt's first source (the test driver answers every one) */
	assert_int_equal(attach_one("test", 0, 0, 0, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(fl_libvirt_node_addr(c, 0), IP(192, 168, 122, 3));
	assert_true(fl_libvirt_is_attach(c));
	assert_string_equal(fl_libvirt_node_uri(c, 0), TEST_URI);
	o = fl_libvirt_describe(c);
	assert_string_equal(json_string_value(json_object_get(o, "mode")), "attach");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(o, "nodes"), 0), "addr_from")),
			    "lease");
	json_decref(o);
	fl_libvirt_cluster_free(c);
	/* the state at attach time, read back by another process */
	assert_int_equal(fl_libvirt_attach(dir, &again, err, sizeof(err)), 0);
	assert_true(fl_libvirt_is_attach(again));
	assert_string_equal(fl_libvirt_node_domain(again, 0), "test");
	fl_libvirt_cluster_free(again);
	state_path(sp, sizeof(sp));
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);
	assert_int_equal(access(sp, F_OK), -1);
	assert_true(state_is(conn, "test", VIR_DOMAIN_RUNNING)); /* down never destroys */

	/* a subnet the domain has no address on: every source named */
	assert_int_equal(attach_one("test", 0, 1, IP(10, 77, 0, 0), 24, &c, err, sizeof(err)),
			 -EADDRNOTAVAIL);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "lease: 192.168.122.3 (not on the subnet)"));
	assert_non_null(strstr(err, "arp: "));
	assert_non_null(strstr(err, "address: A.B.C.D"));
	/* a given address wins */
	assert_int_equal(attach_one("test", IP(10, 77, 0, 9), 1, IP(10, 77, 0, 0), 24, &c, err,
				    sizeof(err)), 0);
	assert_int_equal(fl_libvirt_node_addr(c, 0), IP(10, 77, 0, 9));
	fl_libvirt_cluster_free(c);
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);

	/* missing: the name, the URI and what is there */
	assert_int_equal(attach_one("nosuch", 0, 0, 0, 0, &c, err, sizeof(err)), -ENOENT);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "no domain 'nosuch' at 'test:///default'"));
	assert_non_null(strstr(err, "'test'"));
	assert_int_equal(access(sp, F_OK), -1);
	virConnectClose(conn);
}

/* doctor --scenario: every node tried alone; what fails is named per node,
 * nothing is left behind (the test driver has no channels: the agent of
 * the running domain cannot be reached) */
static void test_doctor_scenario(void **state)
{
	static const char yaml[] =
		"name: lab\nduration: 1m\n"
		"cluster:\n  provider: libvirt\n  nodes: [n1, n2]\n  subnet: 10.77.0.0/24\n"
		"  libvirt:\n    mode: attach\n    uri: \"test:///default\"\n    iface: eth1\n"
		"    domains:\n      - {name: test, address: 10.77.0.2}\n      - nosuch\n"
		"system: {type: etcd}\n";
	virConnectPtr conn = test_conn();
	struct fl_scenario *s = NULL;
	struct fl_diags d;
	char *out = NULL;
	size_t len = 0;
	int missing = -1;
	FILE *f;

	(void)state;
	if (!conn)
		skip();
	fl_diags_init(&d);
	if (fl_scenario_load_string("lab.yaml", yaml, strlen(yaml), NULL, 0, &d, &s) < 0) {
		fl_diags_print(&d, stderr);
		fail();
	}
	fl_diags_release(&d);
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(fl_doctor_scenario(f, 0, s, &missing), 0);
	fclose(f);
	print_message("%s", out);
	assert_int_equal(missing, 2);
	assert_non_null(strstr(out, "scenario lab: libvirt mode attach, 2 nodes, interface eth1"));
	assert_non_null(strstr(out, "MISSING  n1: test on test:///default: running (persistent), "
				    "10.77.0.2 (scenario): the agent's channel "
				    "org.faultline.agent.N does not open"));
	assert_non_null(strstr(out, "MISSING  n2: node 'n2': no domain 'nosuch' at "
				    "'test:///default'"));
	assert_non_null(strstr(out, "2 of 2 nodes cannot be attached"));
	assert_true(state_is(conn, "test", VIR_DOMAIN_RUNNING)); /* as found */
	free(out);
	/* not an attach scenario: refused */
	s->cluster.libvirt.mode = FL_LIBVIRT_CREATE;
	assert_int_equal(fl_doctor_scenario(stdout, 0, s, NULL), -EINVAL);
	fl_scenario_free(s);
	virConnectClose(conn);
}

static void test_attach_refuses_a_domain_not_running(void **state)
{
	virConnectPtr conn = test_conn();
	struct fl_libvirt_cluster *c = NULL;
	virDomainPtr d;
	char err[1024] = "";

	(void)state;
	if (!conn)
		skip();
	assert_non_null(d = virDomainLookupByName(conn, "test"));
	assert_int_equal(virDomainSuspend(d), 0);
	assert_int_equal(attach_one("test", IP(10, 0, 0, 2), 0, 0, 0, &c, err, sizeof(err)),
			 -EHOSTDOWN);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "is paused, not running"));
	assert_int_equal(virDomainResume(d), 0);
	virDomainFree(d);
	virConnectClose(conn);
}

static void test_attach_leaves_domains_as_found(void **state)
{
	virConnectPtr conn = test_conn();
	struct fl_libvirt_cluster *c = NULL;
	const char *transient = "<domain type='test'><name>someones-vm</name><memory>65536</memory>"
				"<os><type>hvm</type></os></domain>";
	char err[1024] = "", *before, *after;
	virDomainPtr d, t;

	(void)state;
	if (!conn)
		skip();
	assert_non_null(d = virDomainLookupByName(conn, "test"));
	assert_non_null(before = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE));
	assert_int_equal(attach_one("test", IP(10, 0, 0, 2), 0, 0, 0, &c, err, sizeof(err)), 0);
	/* suspended, then down without a resume: down resumes it */
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_SUSPEND, err, sizeof(err)), 0);
	assert_true(state_is(conn, "test", VIR_DOMAIN_PAUSED));
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);
	assert_true(state_is(conn, "test", VIR_DOMAIN_RUNNING));
	fl_libvirt_cluster_free(c);

	/* powered off: destroyed but still defined; power-on and down start it
	 * from its definition */
	assert_int_equal(attach_one("test", IP(10, 0, 0, 2), 0, 0, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_POWER_OFF, err, sizeof(err)), 0);
	assert_true(state_is(conn, "test", VIR_DOMAIN_SHUTOFF));
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_POWER_OFF, err, sizeof(err)), 0);
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_POWER_ON, err, sizeof(err)), 0);
	assert_true(state_is(conn, "test", VIR_DOMAIN_RUNNING));
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_POWER_OFF, err, sizeof(err)), 0);
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), 0);
	assert_true(state_is(conn, "test", VIR_DOMAIN_RUNNING));
	fl_libvirt_cluster_free(c);
	/* and its definition is as it was */
	assert_non_null(after = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE));
	assert_string_equal(before, after);
	free(before);
	free(after);
	virDomainFree(d);

	/* a transient domain would be gone for good: power-off refused */
	assert_non_null(t = virDomainCreateXML(conn, transient, 0));
	assert_int_equal(attach_one("someones-vm", IP(10, 0, 0, 3), 0, 0, 0, &c, err, sizeof(err)),
			 0);
	assert_int_equal(fl_libvirt_machine(c, 0, FL_MACHINE_POWER_OFF, err, sizeof(err)), -EPERM);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "is transient"));
	assert_true(state_is(conn, "someones-vm", VIR_DOMAIN_RUNNING));
	/* gone behind our back: down says so and keeps its state for a retry */
	virDomainDestroy(t);
	virDomainFree(t);
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), -ENOENT);
	print_message("  %s\n", err);
	fl_libvirt_cluster_free(c);
	{
		char sp[300];
		state_path(sp, sizeof(sp));
		assert_int_equal(access(sp, F_OK), 0);
		unlink(sp);
	}
	virConnectClose(conn);
}

static void test_channel_open_errors(void **state)
{
	char err[1024] = "";
	int fd = -1;

	(void)state;
	/* the test driver has no channels to open: a clear error, no fd */
	assert_int_equal(fl_libvirt_connect_stream(TEST_URI, "nosuch", &fd, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "no domain 'nosuch'"));
	assert_true(fl_libvirt_channel_open(TEST_URI, "test", "org.faultline.agent.0", &fd, err,
					    sizeof(err)) < 0);
	print_message("  %s\n", err);
	assert_non_null(strstr(err, "org.faultline.agent.0"));
	assert_int_equal(fd, -1);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char jp[300];

	(void)state;
	journal_path(jp, sizeof(jp));
	unlink(jp);
	return rmdir(dir);
}

/* Writes TEXT as the file at PATH. */
static void put_text(const char *path, const char *text)
{
	FILE *f;

	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* fl_libvirt_attach of a state holding TEXT: refused with WHY. */
static void attach_refused(const char *path, const char *text, const char *why)
{
	struct fl_libvirt_cluster *c = NULL;
	char err[1024] = "";

	put_text(path, text);
	assert_int_equal(fl_libvirt_attach(dir, &c, err, sizeof(err)), -EPERM);
	assert_null(c);
	assert_non_null(strstr(err, why));
}

/* A state edited by hand: create mode names only the domains and the
 * bridge faultline made (fl-ID-NODE, flIDbr); a journal entry naming
 * another link is refused, not acted on. */
static void test_foreign_state_refused(void **state)
{
	struct fl_libvirt_cluster *c = NULL;
	char err[1024] = "", path[300];

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, FL_LIBVIRT_STATE);
	attach_refused(path,
		       "{\"id\":\"abc\",\"mode\":\"create\",\"uri\":\"test:///default\","
		       "\"bridge\":\"flabcbr\",\"nodes\":[{\"name\":\"n1\",\"domain\":\"test\"}]}\n",
		       "node 'n1' names domain 'test', which faultline did not create");
	attach_refused(path,
		       "{\"id\":\"abc\",\"mode\":\"create\",\"uri\":\"test:///default\","
		       "\"bridge\":\"eth0\",\"nodes\":[{\"name\":\"n1\",\"domain\":\"fl-abc-n1\"}]}\n",
		       "bridge 'eth0' is not one faultline made");
	attach_refused(path,
		       "{\"id\":\"abc\",\"mode\":\"attach\",\"uri\":\"test:///default\","
		       "\"nodes\":[{\"name\":\"../n1\",\"domain\":\"test\"}]}\n",
		       "node '../n1' is not a node name faultline gives");
	/* attach mode: the domains the scenario declared */
	put_text(path, "{\"id\":\"abc\",\"mode\":\"attach\",\"uri\":\"test:///default\","
		       "\"nodes\":[{\"name\":\"n1\",\"domain\":\"test\"}]}\n");
	assert_int_equal(fl_libvirt_attach(dir, &c, err, sizeof(err)), 0);
	fl_libvirt_cluster_free(c);
	unlink(path);

	snprintf(path, sizeof(path), "%s/%s", dir, FL_LIBVIRT_JOURNAL);
	put_text(path, "{\"undo\":\"bridge\",\"name\":\"lo\"}\n");
	assert_int_equal(fl_libvirt_down_from_state(dir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unexpected entry"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_xml_tcg),
		cmocka_unit_test(test_domain_xml_kvm_and_escaping),
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_accel_choice),
		cmocka_unit_test(test_kvm_probe_says_why),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_foreign_state_refused),
		cmocka_unit_test(test_console_tail),
		cmocka_unit_test(test_connect_takes_a_channel_that_greets),
		cmocka_unit_test(test_parse_depends),
		cmocka_unit_test(test_module_name),
		cmocka_unit_test(test_cpio),
		cmocka_unit_test(test_create_and_down_on_test_driver),
		cmocka_unit_test(test_down_spares_what_is_not_ours),
		cmocka_unit_test(test_up_without_libvirtd),
		cmocka_unit_test(test_attach_discovery),
		cmocka_unit_test(test_doctor_scenario),
		cmocka_unit_test(test_attach_refuses_a_domain_not_running),
		cmocka_unit_test(test_attach_leaves_domains_as_found),
		cmocka_unit_test(test_channel_open_errors),
	};
	return cmocka_run_group_tests_name("libvirt", tests, setup, teardown);
}
