/*
 * tests/kernel/test_doctor.c: `faultline doctor` (fl_doctor_run) on the
 * test micro-VM's stock kernel. There every traffic-control piece the
 * injectors use is present, so the doctor must report them ok and nothing
 * required missing; it must say so in the line format and in JSON; it must
 * never touch the caller's network namespace (no link, namespace or
 * descriptor left behind, the same namespace after); and without root its
 * kernel probes are skipped, never missing. Run it with tests/vm/run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "faultline/doctor.h"

/* Pieces the kernel tier's VM must have (its runner also loads act_pedit
 * and act_csum, so the optional tampering probes must pass there too). */
static const char *const must_be_ok[] = {
	"netns", "veth", "bridge", "sch_prio", "sch_netem", "netem/normal", "netem/pareto",
	"netem/paretonormal", "cls_u32", "cls_u32/ipv6", "act_gact", "tc-layout", "act_pedit",
	"act_csum",
};

/* Run fl_doctor_run into a string. */
static char *doctor_output(int json, int *missing, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*rc = fl_doctor_run(f, json, missing);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* A newline-separated, sorted list of what dir holds ("" when it does not exist). */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *list_dir(const char *dir)
{
	char *names[1024], *out = NULL;
	size_t n = 0, len = 0;
	FILE *f = open_memstream(&out, &len);
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(f);
	while (d && (e = readdir(d)) && n < 1024)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n", names[i]);
		free(names[i]);
	}
	fclose(f);
	return out;
}

/* The calling thread's links, through the kernel (not sysfs's mount). */
static char *list_links(void)
{
	struct if_nameindex *ix = if_nameindex(), *p;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(ix);
	assert_non_null(f);
	for (p = ix; p->if_index; p++)
		fprintf(f, "%u %s\n", p->if_index, p->if_name);
	if_freenameindex(ix);
	fclose(f);
	return out;
}

static ino_t netns_inode(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_ino;
}

static const struct fl_doctor_probe *find_probe(const struct fl_doctor_report *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->probes[i].name, name) == 0)
			return &r->probes[i];
	fail_msg("no probe named '%s'", name);
	return NULL;
}

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		print_message("skip: needs root (run it in the test VM: tests/vm/run)\n");
		skip();
	}
}

static void test_vm_kernel_has_every_tc_piece(void **state)
{
	struct fl_doctor_report *r = calloc(1, sizeof(*r));
	char *text = NULL, *lines = NULL, line[128];
	int missing = -1, rc;

	(void)state;
	skip_unless_root();
	assert_non_null(r);
	assert_int_equal(fl_doctor_probe_all(r), 0);
	for (size_t i = 0; i < sizeof(must_be_ok) / sizeof(must_be_ok[0]); i++) {
		const struct fl_doctor_probe *p = find_probe(r, must_be_ok[i]);

		if (p->status != FL_DOCTOR_OK)
			fail_msg("%s is not ok on this kernel (%s): %s -> %s", p->name, r->kernel,
				 p->detail, p->fix);
	}
	assert_int_equal(r->missing, 0);
	assert_int_equal(r->tc_missing, 0);
	free(r);

	/* the same through fl_doctor_run, as the lines the CLI prints */
	text = doctor_output(0, &missing, &rc);
	assert_int_equal(rc, 0);
	if (missing != 0)
		fail_msg("%d required pieces missing:\n%s", missing, text);
	assert_true(asprintf(&lines, "\n%s", text) > 0); /* every line starts after a \n */
	for (size_t i = 0; i < sizeof(must_be_ok) / sizeof(must_be_ok[0]); i++) {
		snprintf(line, sizeof(line), "\nok       %s (", must_be_ok[i]);
		if (!strstr(lines, line))
			fail_msg("no line starting '%s' in:\n%s", line + 1, text);
	}
	free(lines);
	assert_null(strstr(text, "MISSING"));
	assert_non_null(strstr(text, "\nsummary: "));
	assert_null(strstr(text, "cannot inject network faults"));
	free(text);
}

static void test_json(void **state)
{
	json_error_t jerr;
	json_t *o, *probes, *p;
	char *text;
	int missing = -1, rc, seen = 0;
	size_t i;

	(void)state;
	skip_unless_root();
	text = doctor_output(1, &missing, &rc);
	assert_int_equal(rc, 0);
	o = json_loads(text, 0, &jerr);
	if (!o)
		fail_msg("not JSON (%s at %d:%d):\n%s", jerr.text, jerr.line, jerr.column, text);
	assert_true(json_is_object(o));
	assert_int_equal(json_integer_value(json_object_get(o, "missing")), missing);
	probes = json_object_get(o, "probes");
	assert_true(json_is_array(probes));
	json_array_foreach(probes, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));

		assert_non_null(name);
		assert_true(json_is_boolean(json_object_get(p, "ok")));
		assert_true(json_is_boolean(json_object_get(p, "required")));
		assert_true(json_is_string(json_object_get(p, "detail")));
		assert_true(json_is_string(json_object_get(p, "fix")));
		assert_true(json_is_string(json_object_get(p, "status")));
		if (strcmp(name, "sch_prio") == 0 || strcmp(name, "sch_netem") == 0 ||
		    strcmp(name, "cls_u32") == 0 || strcmp(name, "act_gact") == 0) {
			assert_true(json_is_true(json_object_get(p, "required")));
			seen += json_is_true(json_object_get(p, "ok"));
		}
		if (strcmp(name, "act_pedit") == 0 || strcmp(name, "etcd") == 0)
			assert_true(json_is_false(json_object_get(p, "required")));
	}
	if (missing != 0)
		fail_msg("%d required pieces missing:\n%s", missing, text);
	assert_null(json_object_get(o, "advice"));
	assert_int_equal(seen, 4);
	json_decref(o);
	free(text);
}

/* Twice, text and JSON: nothing new in the caller's namespace. */
static void test_caller_namespace_untouched(void **state)
{
	char *links0, *sys0, *run0, *fds0, *links1, *sys1, *run1, *fds1, *out;
	ino_t ns_proc, ns_thread;
	int missing, rc;

	(void)state;
	skip_unless_root();
	links0 = list_links();
	sys0 = list_dir("/sys/class/net");
	run0 = list_dir("/run/netns");
	fds0 = list_dir("/proc/self/fd");
	ns_proc = netns_inode("/proc/self/ns/net");
	ns_thread = netns_inode("/proc/thread-self/ns/net");

	for (int json = 0; json < 2; json++) {
		out = doctor_output(json, &missing, &rc);
		assert_int_equal(rc, 0);
		free(out);
	}

	links1 = list_links();
	sys1 = list_dir("/sys/class/net");
	run1 = list_dir("/run/netns");
	fds1 = list_dir("/proc/self/fd");
	assert_string_equal(links0, links1);
	assert_null(strstr(links1, "fl-doc"));
	assert_string_equal(sys0, sys1);
	assert_string_equal(run0, run1);
	assert_string_equal(fds0, fds1);
	assert_int_equal(netns_inode("/proc/self/ns/net"), ns_proc);
	assert_int_equal(netns_inode("/proc/thread-self/ns/net"), ns_thread);
	free(links0); free(sys0); free(run0); free(fds0);
	free(links1); free(sys1); free(run1); free(fds1);
}

/* Without root the kernel probes are skipped, not missing. As root, the
 * child drops to nobody first. */
static void test_not_root_skips(void **state)
{
	int fds[2], st;
	pid_t pid;
	char *text = NULL;
	size_t len = 0;
	FILE *in, *acc;
	char buf[4096];
	size_t n;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *f;
		int missing = -1;

		close(fds[0]);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		     setresuid(65534, 65534, 65534) < 0))
			_exit(100);
		f = fdopen(fds[1], "w");
		if (!f || fl_doctor_run(f, 0, &missing) < 0)
			_exit(101);
		fclose(f);
		_exit(missing < 0 ? 102 : missing > 50 ? 50 : missing);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	acc = open_memstream(&text, &len);
	assert_non_null(in);
	assert_non_null(acc);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, acc);
	fclose(in);
	fclose(acc);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("as nobody: exit %d (missing required pieces, or 100+ for a failure):\n%s",
			 WEXITSTATUS(st), text);
	assert_non_null(strstr(text, "skipped  netns: needs root\n"));
	assert_non_null(strstr(text, "skipped  sch_prio: needs root\n"));
	assert_non_null(strstr(text, "skipped  act_gact: needs root\n"));
	assert_null(strstr(text, "MISSING"));
	assert_non_null(strstr(text, "kernel probes need root"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vm_kernel_has_every_tc_piece),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_caller_namespace_untouched),
		cmocka_unit_test(test_not_root_skips),
	};

	return cmocka_run_group_tests_name("faultline doctor", tests, NULL, NULL);
}
