/* The agent engine without root: journal durability, process faults and
 * their undo, per-fault heal, the dead-man switch, refusing bad requests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "faultline/agent.h"
#include "faultline/journal.h"
#include "faultline/units.h"

static char dir[] = "/tmp/fl-agent-test-XXXXXX";

static char *path(const char *name)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static char proc_state(pid_t pid)
{
	char p[64], buf[512], *q;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(p, "r")))
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	q = strrchr(buf, ')');
	return q && q[1] == ' ' ? q[2] : 0;
}

/* Send one request line; return the reply parsed. */
static json_t *call(struct fl_agent *a, const char *fmt, ...)
{
	char line[1024], *reply;
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	reply = fl_agent_handle_line(a, line, strlen(line));
	assert_non_null(reply);
	assert_int_equal(reply[strlen(reply) - 1], '\n');
	j = json_loads(reply, 0, NULL);
	assert_non_null(j);
	free(reply);
	return j;
}

static int ok(json_t *r)
{
	int v = json_is_true(json_object_get(r, "ok"));
	if (!v)
		print_message("reply: %s\n", json_string_value(json_object_get(r, "error")));
	return v;
}

static void test_journal(void **state)
{
	struct fl_journal *j;
	FILE *f;

	(void)state;
	unlink(path("j1"));
	assert_int_equal(fl_journal_open(path("j1"), &j), 0);
	for (int i = 0; i < 3; i++) {
		json_t *e = json_pack("{s:s, s:i}", "undo", "cont", "n", i);
		assert_int_equal(fl_journal_append(j, e), 0);
		json_decref(e);
	}
	fl_journal_close(j); /* as if the agent died here */
	f = fopen(path("j1"), "a");
	fputs("{\"undo\":\"co", f); /* a torn last write */
	fclose(f);
	assert_int_equal(fl_journal_open(path("j1"), &j), 0);
	assert_int_equal(fl_journal_count(j), 3);
	assert_int_equal(json_integer_value(json_object_get(fl_journal_entry(j, 2), "n")), 2);
	assert_int_equal(fl_journal_clear(j), 0);
	fl_journal_close(j);
	assert_int_equal(fl_journal_open(path("j1"), &j), 0);
	assert_int_equal(fl_journal_count(j), 0);
	fl_journal_close(j);
}

static void test_process_faults(void **state)
{
	struct fl_agent a;
	json_t *r;
	pid_t pid, pid2;

	(void)state;
	unlink(path("j2"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j2"), 0, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}");
	assert_true(ok(r));
	pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	assert_true(pid > 0);

	/* pause (fault f1) and a second fault f2 (kill) later: heal f1 alone first */
	r = call(&a, "{\"id\":2,\"op\":\"signal\",\"signal\":\"STOP\",\"fault\":\"f1\"}");
	assert_true(ok(r));
	json_decref(r);
	for (int i = 0; i < 100 && proc_state(pid) != 'T'; i++)
		usleep(10000);
	assert_int_equal(proc_state(pid), 'T');
	assert_int_equal(fl_journal_count(a.journal), 1);
	r = call(&a, "{\"id\":3,\"op\":\"heal\",\"fault\":\"f1\"}");
	assert_true(ok(r));
	assert_int_equal(json_integer_value(json_object_get(r, "healed")), 1);
	json_decref(r);
	for (int i = 0; i < 100 && proc_state(pid) == 'T'; i++)
		usleep(10000);
	assert_int_not_equal(proc_state(pid), 'T');
	assert_int_equal(fl_journal_count(a.journal), 0);

	/* kill -9, then heal restarts it with a new pid */
	r = call(&a, "{\"id\":4,\"op\":\"signal\",\"signal\":\"KILL\",\"fault\":\"f2\"}");
	assert_true(ok(r));
	assert_false(json_is_true(json_object_get(r, "running")));
	json_decref(r);
	assert_int_equal(kill(pid, 0), -1);
	r = call(&a, "{\"id\":5,\"op\":\"heal\"}");
	assert_true(ok(r));
	json_decref(r);
	pid2 = a.procs[0].pid;
	assert_true(pid2 > 0 && pid2 != pid);
	/* healing twice is harmless */
	r = call(&a, "{\"id\":6,\"op\":\"heal\"}");
	assert_true(ok(r));
	json_decref(r);
	assert_int_equal(a.procs[0].pid, pid2);

	/* restart: a new process at once */
	r = call(&a, "{\"id\":7,\"op\":\"restart\"}");
	assert_true(ok(r));
	json_decref(r);
	assert_true(a.procs[0].pid > 0 && a.procs[0].pid != pid2);
	kill(a.procs[0].pid, SIGKILL);
	waitpid(a.procs[0].pid, NULL, 0);
	fl_agent_release(&a);
}

/* stop: the end of a run on a node that outlives it: every process gone,
 * nothing journaled (a heal starts none again), a new spawn welcome */
static void test_stop(void **state)
{
	struct fl_agent a;
	json_t *r;
	pid_t pid;

	(void)state;
	unlink(path("j6"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j6"), 0, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}");
	assert_true(ok(r));
	pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	r = call(&a, "{\"id\":2,\"op\":\"signal\",\"signal\":\"STOP\",\"fault\":\"f1\"}");
	json_decref(r);
	r = call(&a, "{\"id\":3,\"op\":\"stop\"}");
	assert_true(ok(r));
	assert_int_equal(json_integer_value(json_object_get(r, "stopped")), 1);
	json_decref(r);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(a.procs[0].pid, 0);
	r = call(&a, "{\"id\":4,\"op\":\"heal\"}");
	assert_true(ok(r));
	json_decref(r);
	assert_int_equal(a.procs[0].pid, 0); /* nothing started again */
	r = call(&a, "{\"id\":5,\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}");
	assert_true(ok(r));
	json_decref(r);
	r = call(&a, "{\"id\":6,\"op\":\"stop\"}");
	json_decref(r);
	fl_agent_release(&a);
}

/* file: make a directory, write into it, remove the tree (never a shallow one) */
static void test_file(void **state)
{
	struct fl_agent a;
	char tree[300], f[400];
	json_t *r;

	(void)state;
	snprintf(tree, sizeof(tree), "%s/data/n1", dir);
	snprintf(f, sizeof(f), "%s/conf", tree);
	assert_int_equal(fl_agent_init(&a, "n1", path("j-file"), 0, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"file\",\"path\":\"%s\"}", tree);
	assert_true(ok(r));
	json_decref(r);
	r = call(&a, "{\"id\":2,\"op\":\"file\",\"path\":\"%s\",\"content\":\"x\"}", f);
	assert_true(ok(r));
	json_decref(r);
	assert_int_equal(access(f, F_OK), 0);
	assert_int_equal(symlink("/etc", path("data/n1/etc-link")), 0);
	for (const char *p = "/\0/var\0/tmp/../etc\0"; *p; p += strlen(p) + 1) {
		r = call(&a, "{\"id\":3,\"op\":\"file\",\"path\":\"%s\",\"remove\":true}", p);
		assert_false(ok(r));
		json_decref(r);
	}
	r = call(&a, "{\"id\":4,\"op\":\"file\",\"path\":\"%s\",\"remove\":true}",
		 path("data"));
	assert_true(ok(r));
	json_decref(r);
	assert_int_equal(access(path("data"), F_OK), -1);
	assert_int_equal(access("/etc/passwd", F_OK), 0); /* the link, not what it names */
	/* gone already: fine */
	r = call(&a, "{\"id\":5,\"op\":\"file\",\"path\":\"%s\",\"remove\":true}",
		 path("data"));
	assert_true(ok(r));
	json_decref(r);
	fl_agent_release(&a);
	unlink(path("j-file"));
}

/* spawn execs argv (system.start, etcd's and redis's args go this way):
 * shell metacharacters in a word reach the program as written. */
static void test_spawn_argv_is_literal(void **state)
{
	struct fl_agent a;
	char want[512], got[512] = "";
	json_t *r;
	FILE *f;
	size_t k = 0;

	(void)state;
	unlink(path("j-argv"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j-argv"), 0, NULL), 0);
	/* path() is one static buffer: the directory, then the names */
	r = call(&a, "{\"id\":1,\"op\":\"spawn\",\"argv\":[\"printf\",\"%%s|%%s|%%s\","
		    "\"$(touch %s/p1)\",\"x; touch %s/p2\",\"`touch %s/p3`\"],\"log\":\"%s/argv.log\"}",
		 dir, dir, dir, dir);
	assert_true(ok(r));
	json_decref(r);
	for (int i = 0; i < 500 && a.procs[0].pid > 0; i++) {
		usleep(2000);
		fl_agent_reap(&a);
	}
	snprintf(want, sizeof(want), "$(touch %s/p1)|x; touch %s/p2|`touch %s/p3`", dir, dir, dir);
	assert_non_null(f = fopen(path("argv.log"), "r"));
	k = fread(got, 1, sizeof(got) - 1, f);
	got[k] = 0;
	fclose(f);
	assert_string_equal(got, want);
	for (const char *p = "p1\0p2\0p3\0"; *p; p += 3)
		assert_int_equal(access(path(p), F_OK), -1); /* no shell ran the words */
	fl_agent_release(&a);
	unlink(path("argv.log"));
	unlink(path("j-argv"));
}

static void test_refusals(void **state)
{
	struct fl_agent a;
	char err[256];
	json_t *r;

	(void)state;
	unlink(path("j3"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j3"), 0, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"explode\"}");
	assert_false(ok(r));
	assert_string_equal(json_string_value(json_object_get(r, "error")), "unknown op 'explode'");
	json_decref(r);
	r = call(&a, "{\"id\":2,\"op\":\"spawn\",\"argv\":[]}");
	assert_false(ok(r));
	json_decref(r);
	r = call(&a, "{\"id\":3,\"op\":\"spawn\",\"argv\":[\"/nonexistent/sut\"]}");
	assert_false(ok(r));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "No such file"));
	json_decref(r);
	r = call(&a, "{\"id\":4,\"op\":\"signal\",\"signal\":\"KILL\"}");
	assert_false(ok(r));
	json_decref(r);
	r = call(&a, "not json");
	assert_false(ok(r));
	json_decref(r);
	assert_true(fl_agent_iface_allowed(&a, "lo", err, sizeof(err)) < 0);
	assert_true(fl_agent_iface_allowed(&a, "nosuchif0", err, sizeof(err)) < 0);
	assert_string_equal(err, "no interface 'nosuchif0' in node 'n1'");
	/* path-like names name no interface */
	assert_true(fl_agent_iface_allowed(&a, "../lo", err, sizeof(err)) < 0);
	assert_true(fl_agent_iface_allowed(&a, "/sys/class/net/lo", err, sizeof(err)) < 0);
	assert_true(fl_agent_iface_allowed(&a, "", err, sizeof(err)) < 0);
	a.ifaces[a.nifaces++] = strdup("eth0");
	assert_true(fl_agent_iface_allowed(&a, "lo", err, sizeof(err)) < 0);
	assert_true(fl_agent_iface_allowed(&a, "eth0/../lo", err, sizeof(err)) < 0);
	assert_true(fl_agent_iface_allowed(&a, "eth1", err, sizeof(err)) < 0);
	assert_string_equal(err, "interface 'eth1' is not part of node 'n1'");
	assert_int_equal(fl_agent_iface_allowed(&a, "eth0", err, sizeof(err)), 0);
	fl_agent_release(&a);
}

struct served {
	struct fl_agent *a;
	int fd;
	int r;
};

static void *serve_thread(void *p)
{
	struct served *s = p;
	int out = open("/dev/null", O_WRONLY);

	s->r = fl_agent_serve(s->a, s->fd, out);
	close(out);
	return NULL;
}

static void test_dead_man_switch(void **state)
{
	struct fl_agent a;
	struct served s = { .a = &a };
	pthread_t t;
	int p[2];
	json_t *r;
	pid_t pid;
	int64_t t0, healed_at = 0;

	(void)state;
	unlink(path("j4"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j4"), 300 * FL_NS_PER_MS, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}");
	assert_true(ok(r));
	json_decref(r);
	pid = a.procs[0].pid;
	r = call(&a, "{\"id\":2,\"op\":\"signal\",\"signal\":\"STOP\"}");
	assert_true(ok(r));
	json_decref(r);
	for (int i = 0; i < 500 && proc_state(pid) != 'T'; i++) /* the stop is asynchronous */
		usleep(1000);
	assert_int_equal(proc_state(pid), 'T');
	assert_int_equal(pipe(p), 0);
	s.fd = p[0];
	t0 = fl_monotonic_ns();
	assert_int_equal(pthread_create(&t, NULL, serve_thread, &s), 0);
	/* the harness says nothing: within heal_after (+ slack) the process runs again */
	for (int i = 0; i < 500; i++) {
		usleep(10000);
		if (proc_state(pid) != 'T') {
			healed_at = fl_monotonic_ns();
			break;
		}
	}
	/* closing the channel: the agent stops its processes and returns; join
	 * before any assertion can leave this function */
	close(p[1]);
	pthread_join(t, NULL);
	assert_true(healed_at > 0);
	print_message("  dead-man switch healed after %lld ms (heal_after 300 ms)\n",
		      (long long)((healed_at - t0) / FL_NS_PER_MS));
	assert_true(a.dead_man_fired); /* healed by the switch, not by the close */
	assert_int_equal(fl_journal_count(a.journal), 0);
	assert_int_equal(s.r, 0);
	assert_int_equal(kill(pid, 0), -1);
	close(p[0]);
	fl_agent_release(&a);
}

static void test_leftover_journal_is_healed(void **state)
{
	struct fl_journal *j;
	struct fl_agent a;
	json_t *e = json_pack("{s:s, s:s}", "undo", "cont", "id_name", "sut");

	(void)state;
	unlink(path("j5"));
	assert_int_equal(fl_journal_open(path("j5"), &j), 0);
	assert_int_equal(fl_journal_append(j, e), 0);
	json_decref(e);
	fl_journal_close(j);
	/* a new agent finds the dead one's journal and heals it at start */
	assert_int_equal(fl_agent_init(&a, "n1", path("j5"), 0, NULL), 0);
	assert_int_equal(fl_journal_count(a.journal), 0);
	fl_agent_release(&a);
}

struct port_served {
	struct fl_agent *a;
	int fd;
	int r;
	volatile int returned;
};

static void *port_thread(void *p)
{
	struct port_served *s = p;

	s->r = fl_agent_serve_ports(s->a, &s->fd, 1);
	s->returned = 1;
	return NULL;
}

/* One line from the far end of a port (the pty master), within 5 s. */
static json_t *port_reply(int master)
{
	char buf[4096];
	size_t len = 0;

	for (int i = 0; i < 500; i++) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		ssize_t k;
		char *nl;

		if (poll(&p, 1, 10) <= 0)
			continue;
		k = read(master, buf + len, sizeof(buf) - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = 0;
		if ((nl = strchr(buf, '\n')))
			return json_loadb(buf, (size_t)(nl - buf), 0, NULL);
	}
	return NULL;
}

/* --serial / --virtio-port: a pty stands in for a virtio port (its slave
 * reports POLLHUP once the master closes, as a port does when the host
 * side closes). Faults made through the port heal when the far end goes;
 * the agent and its processes stay, until the stop signal. */
static void test_port_far_end_comes_and_goes(void **state)
{
	struct fl_agent a;
	struct port_served s = { .a = &a };
	struct termios tio;
	const char *req = "{\"id\":1,\"op\":\"signal\",\"signal\":\"STOP\",\"fault\":\"f1\"}\n";
	pthread_t t;
	json_t *r;
	pid_t pid;
	int master, slave;

	(void)state;
	unlink(path("j6"));
	assert_int_equal(fl_agent_init(&a, "n1", path("j6"), 0, NULL), 0);
	r = call(&a, "{\"id\":1,\"op\":\"spawn\",\"argv\":[\"sleep\",\"60\"]}");
	assert_true(ok(r));
	json_decref(r);
	pid = a.procs[0].pid;
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		fl_agent_shutdown(&a, "test");
		fl_agent_release(&a);
		skip();
	}
	slave = open(ptsname(master), O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	assert_true(slave >= 0);
	/* raw: no echo, no newline translation, as on a virtio port */
	assert_int_equal(tcgetattr(slave, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(slave, TCSANOW, &tio), 0);
	s.fd = slave;
	assert_int_equal(pthread_create(&t, NULL, port_thread, &s), 0);

	/* the port is served: the agent says so first */
	r = port_reply(master);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "event")), "connected");
	assert_string_equal(json_string_value(json_object_get(r, "node")), "n1");
	json_decref(r);
	assert_int_equal(write(master, req, strlen(req)), (ssize_t)strlen(req));
	r = port_reply(master);
	assert_non_null(r);
	assert_true(ok(r));
	json_decref(r);
	for (int i = 0; i < 500 && proc_state(pid) != 'T'; i++)
		usleep(1000);
	assert_int_equal(proc_state(pid), 'T');

	/* the far end goes: its fault is healed, the agent keeps serving */
	close(master);
	for (int i = 0; i < 500 && proc_state(pid) == 'T'; i++)
		usleep(1000);
	assert_int_not_equal(proc_state(pid), 'T');
	usleep(300 * 1000); /* the journal is emptied just after the CONT */
	assert_int_equal(fl_journal_count(a.journal), 0);
	assert_false(s.returned);
	assert_true(a.procs[0].pid > 0);

	fl_agent_stop = 1;
	pthread_join(t, NULL);
	fl_agent_stop = 0;
	assert_int_equal(s.r, 0);
	assert_int_equal(kill(pid, 0), -1); /* stopped at the end, with the agent */
	close(slave);
	fl_agent_release(&a);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	for (int i = 1; i <= 6; i++) {
		char n[8];
		snprintf(n, sizeof(n), "j%d", i);
		unlink(path(n));
	}
	snprintf(cmd, sizeof(cmd), "%s", dir);
	return rmdir(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_process_faults),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_spawn_argv_is_literal),
		cmocka_unit_test(test_dead_man_switch),
		cmocka_unit_test(test_leftover_journal_is_healed),
		cmocka_unit_test(test_port_far_end_comes_and_goes),
	};
	return cmocka_run_group_tests_name("agent", tests, setup, teardown);
}
