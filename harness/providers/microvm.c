/* `up --vm`: a local cluster inside one micro-VM, commands forwarded to it
 * through files on a shared directory (see vm.h). The host never needs the
 * tc pieces its kernel lacks; the guest runs the stock kernel. */
#include "faultline/util.h"
#include "faultline/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/reaper.h"

#define GUEST_STATE "/run/faultline-vm"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int exe_dir(char *out, size_t len)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -errno;
	self[n] = 0;
	if (!(slash = strrchr(self, '/')))
		return -EINVAL;
	*slash = 0;
	snprintf(out, len, "%s", self);
	return 0;
}

int fl_vm_runner(char *out, size_t len)
{
	const char *env = getenv("FAULTLINE_VM_RUN");
	char dir[PATH_MAX];
	static const char *const rel[] = { "../tests/vm/run", "../libexec/faultline/vm-run" };

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	if (exe_dir(dir, sizeof(dir)) < 0)
		return -ENOENT;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/%s", dir, rel[i]) >= (int)sizeof(p))
			continue;
		if (access(p, X_OK) == 0 && realpath(p, out))
			return 0;
	}
	return -ENOENT;
}

static int file_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void cat_file(const char *dir, const char *name, FILE *to)
{
	char p[PATH_MAX], buf[4096];
	size_t n;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (!(f = fopen(p, "r")))
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, to);
	fclose(f);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((fd = fl_tmp_beside(p, 0644, tmp, sizeof(tmp))) < 0)
		return fd;
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, p) < 0)
		return -errno;
	return 0;
}

static pid_t vm_pid(const char *dir)
{
	char p[PATH_MAX];
	json_t *o;
	pid_t pid = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, FL_VM_MARK);
	if ((o = json_load_file(p, 0, NULL))) {
		pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
		json_decref(o);
	}
	return pid;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char p[PATH_MAX];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

int fl_vm_up(const char *dir, const char *scenario_path, char *const *ov, size_t nov, FILE *out,
	     FILE *diag, char *err, size_t errlen)
{
	char runner[PATH_MAX], self[PATH_MAX], scen[PATH_MAX], edir[PATH_MAX];
	char *argv[64];
	size_t n = 0;
	pid_t pid;
	json_t *mark;
	char p[PATH_MAX];

	if (fl_vm_runner(runner, sizeof(runner)) < 0) {
		snprintf(err, errlen, "cannot find the micro-VM runner (tests/vm/run); set "
				      "FAULTLINE_VM_RUN");
		return -ENOENT;
	}
	/* an installed runner keeps its boot images in /var/cache, not in a tree */
	if (!getenv("FL_VM_CACHE") && !strstr(runner, "/tests/vm/run"))
		setenv("FL_VM_CACHE", "/var/cache/faultline/vm", 1);
	if (exe_dir(edir, sizeof(edir)) < 0 || !realpath(scenario_path, scen)) {
		snprintf(err, errlen, "cannot resolve '%s'", scenario_path);
		return -ENOENT;
	}
	if (snprintf(self, sizeof(self), "%s/faultline", edir) >= (int)sizeof(self))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(errno));
		return -errno;
	}
	if (file_exists(dir, FL_VM_MARK) || file_exists(dir, "cluster.json")) {
		snprintf(err, errlen, "this cluster is already up (state in %s); 'faultline down' first",
			 dir);
		return -EEXIST;
	}
	argv[n++] = runner;
	argv[n++] = (char *)"--share";
	argv[n++] = (char *)dir;
	argv[n++] = (char *)"--timeout";
	argv[n++] = (char *)"604800";
	argv[n++] = (char *)"--";
	argv[n++] = self;
	argv[n++] = (char *)"vm-serve";
	argv[n++] = (char *)dir;
	/* the guest may not see the file where it is (its /tmp is its own):
	 * hand it a copy in the shared directory */
	{
		FILE *in = fopen(scen, "r"), *outf;
		char copy[PATH_MAX + 32], buf[8192];
		size_t k;
		snprintf(copy, sizeof(copy), "%s/scenario.yaml", dir);
		if (!in || !(outf = fl_fopen_private(copy))) { /* it may hold secrets */
			if (in)
				fclose(in);
			snprintf(err, errlen, "cannot copy '%s' into %s", scen, dir);
			return -EIO;
		}
		while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
			fwrite(buf, 1, k, outf);
		fclose(in);
		if (fclose(outf) != 0) {
			snprintf(err, errlen, "cannot copy '%s' into %s", scen, dir);
			return -EIO;
		}
		snprintf(scen, sizeof(scen), "%s/scenario.yaml", dir);
	}
	argv[n++] = scen;
	for (size_t i = 0; i < nov && n < 60; i++) {
		argv[n++] = (char *)"--set";
		argv[n++] = ov[i];
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int log;
		snprintf(p, sizeof(p), "%s/vm.log", dir);
		log = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
		setsid();
		dup2(open("/dev/null", O_RDONLY), 0);
		if (log >= 0) {
			dup2(log, 1);
			dup2(log, 2);
		}
		execv(runner, argv);
		_exit(127);
	}
	mark = json_pack("{s:i, s:s}", "pid", (int)pid, "scenario", scen);
	snprintf(p, sizeof(p), "%s/%s", dir, FL_VM_MARK);
	json_dump_file(mark, p, JSON_INDENT(2));
	json_decref(mark);
	/* boot (a few seconds under TCG) and `up` inside */
	for (int t = 0; t < 3000; t++) {
		if (file_exists(dir, "ready")) {
			cat_file(dir, "ready", out);
			return 0;
		}
		if (file_exists(dir, "failed") || waitpid(pid, NULL, WNOHANG) == pid) {
			snprintf(err, errlen, "the cluster did not come up in the VM:");
			cat_file(dir, "failed", diag);
			cat_file(dir, "vm.log", diag);
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
			remove_dir(dir);
			return -EIO;
		}
		sleep_ms(100);
	}
	snprintf(err, errlen, "the VM did not bring the cluster up within 300 s (see %s/vm.log)", dir);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	remove_dir(dir);
	return -ETIMEDOUT;
}

/* --- guest side ------------------------------------------------------------- */

struct job {
	long n;
	pid_t pid;
	int canceled;
};

/* Start `faultline argv...` for request n, its output to out-n.log. */
static pid_t start_job(const char *dir, long n, char **argv)
{
	char out[PATH_MAX], self[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
	pid_t pid;

	if (k <= 0)
		return -1;
	self[k] = 0;
	snprintf(out, sizeof(out), "%s/out-%ld.log", dir, n);
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("FAULTLINE_STATE", GUEST_STATE, 1);
		argv[0] = self;
		execv(self, argv);
		_exit(127);
	}
	return pid;
}

static void finish_job(const char *dir, long n, int st)
{
	char name[64], rc[32];

	snprintf(rc, sizeof(rc), "%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	snprintf(name, sizeof(name), "rc-%ld", n);
	write_file(dir, name, rc);
}

/* The oldest pending request, or -1; its argv into args (strings owned by *o). */
static long next_request(const char *dir, json_t **o, char **args, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long best = -1;
	char path[PATH_MAX];
	json_t *a, *v;
	size_t i, m = 0;

	while (d && (e = readdir(d))) {
		long k;
		char tail[16];
		if (sscanf(e->d_name, "req-%ld.jso%1s", &k, tail) == 2 && (best < 0 || k < best))
			best = k;
	}
	if (d)
		closedir(d);
	if (best < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/req-%ld.json", dir, best);
	*o = json_load_file(path, 0, NULL);
	unlink(path);
	a = json_object_get(*o, "argv");
	args[m++] = (char *)"faultline";
	json_array_foreach(a, i, v)
		if (m < max - 1 && json_is_string(v))
			args[m++] = (char *)json_string_value(v);
	args[m] = NULL;
	return best;
}

int fl_vm_serve(const char *dir, const char *scenario_path, char *const *ov, size_t nov)
{
	struct job jobs[32];
	size_t njobs = 0;
	char *argv[64];
	size_t n = 0;
	long down = -1;
	pid_t up;
	int st = 0;

	setenv("FAULTLINE_STATE", GUEST_STATE, 1);
	mkdir(GUEST_STATE, 0755);
	/* `up` first; its output becomes the host's "ready" or "failed" */
	argv[n++] = (char *)"faultline";
	argv[n++] = (char *)"up";
	for (size_t i = 0; i < nov && n < 60; i++) {
		argv[n++] = (char *)"--set";
		argv[n++] = ov[i];
	}
	argv[n++] = (char *)scenario_path;
	argv[n] = NULL;
	if ((up = start_job(dir, 0, argv)) < 0 || waitpid(up, &st, 0) < 0)
		return 1;
	{
		char from[PATH_MAX], to[PATH_MAX];
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		snprintf(from, sizeof(from), "%s/out-0.log", dir);
		snprintf(to, sizeof(to), "%s/%s", dir, ok ? "ready" : "failed");
		rename(from, to);
		if (!ok)
			return 1;
	}
	/* then the forwarded commands, each as soon as it comes (an inject may
	 * hold its fault while a status runs), until `down` has finished */
	for (;;) {
		json_t *o = NULL;
		char *args[64];
		long k;

		while (njobs < 32 && down < 0 && (k = next_request(dir, &o, args, 64)) >= 0) {
			pid_t pid = start_job(dir, k, args);
			if (args[1] && !strcmp(args[1], "down"))
				down = k;
			json_decref(o);
			o = NULL;
			if (pid > 0)
				jobs[njobs++] = (struct job){ .n = k, .pid = pid };
			else
				finish_job(dir, k, 127 << 8);
		}
		for (size_t i = 0; i < njobs;) {
			char cancel[64];
			snprintf(cancel, sizeof(cancel), "cancel-%ld", jobs[i].n);
			if (!jobs[i].canceled && file_exists(dir, cancel)) {
				kill(jobs[i].pid, SIGINT);
				jobs[i].canceled = 1;
			}
			if (waitpid(jobs[i].pid, &st, WNOHANG) == jobs[i].pid) {
				finish_job(dir, jobs[i].n, st);
				if (jobs[i].n == down) {
					/* the cluster is gone: stop whatever still runs */
					for (size_t j = 0; j < njobs; j++)
						if (j != i)
							kill(jobs[j].pid, SIGKILL);
					return 0;
				}
				jobs[i] = jobs[--njobs];
				continue;
			}
			i++;
		}
		sleep_ms(50);
	}
}

/* --- host side ------------------------------------------------------------- */

/* Ctrl-C, SIGTERM, SIGHUP (a closed terminal, a cancelled CI job) while a
 * command runs in the VM: how many came */
static volatile sig_atomic_t fwd_signals;

static void fwd_on_signal(int sig)
{
	(void)sig;
	fwd_signals++;
}

static void fwd_catch(struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = fwd_on_signal };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	fwd_signals = 0;
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
}

static void fwd_restore(const struct sigaction *old)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
}

/* What fl_vm_exec's reaper does when this process is gone: the runner is
 * told to stop (its trap stops qemu and removes its directory), and the
 * caller's temporary file is removed. */
struct vm_orphan {
	pid_t runner;
	const char *remove;
};

static void vm_orphaned(void *ctx)
{
	struct vm_orphan *o = ctx;

	kill(o->runner, SIGTERM);
	if (o->remove)
		unlink(o->remove);
}

int fl_vm_exec(char *const argv[], const char *remove, int *status)
{
	struct sigaction old[3];
	struct fl_reaper reaper;
	struct vm_orphan orphan = { .remove = remove };
	pid_t parent = getpid(), pid;
	int st = 0, sent = 0;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* its own process group: the terminal's Ctrl-C reaches this
		 * process only (qemu would die of it), which passes it on */
		setpgid(0, 0);
		/* the runner stops with this process, even killed by SIGKILL
		 * (pdeathsig fires when the forking thread ends: this is the
		 * main thread, which lives as long as the process) */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(125);
		/* a shell's background job starts with SIGINT ignored, and bash
		 * cannot trap a signal ignored at its start: the runner must */
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	orphan.runner = pid;
	/* without it (no fork), the runner's death signal still stops it */
	fl_reaper_start(&reaper, vm_orphaned, &orphan);
	fwd_catch(old);
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR && errno != EAGAIN))
			break;
		/* the first signal goes on into the VM's command (it heals and
		 * judges); the next one stops the VM at once */
		while (sent < fwd_signals && sent < 2)
			kill(pid, ++sent == 1 ? SIGINT : SIGTERM);
		sleep_ms(50);
	}
	fwd_restore(old);
	fl_reaper_stop(&reaper);
	*status = st;
	return sent;
}

int fl_vm_forward(const char *dir, int argc, char **argv, FILE *out_to, char *err,
		  size_t errlen)
{
	struct timespec ts;
	json_t *req = json_object(), *a = json_array();
	char name[64], out[PATH_MAX], *text;
	long n;
	pid_t vm = vm_pid(dir);
	FILE *f = NULL;
	int rc = 2, cancel_sent = 0;
	struct sigaction old[3];

	if (vm <= 0 || kill(vm, 0) < 0) {
		snprintf(err, errlen, "the cluster's VM is not running (state in %s); "
			 "'faultline down' cleans up", dir);
		if (argc > 0 && !strcmp(argv[0], "down")) {
			remove_dir(dir);
			return 0;
		}
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	n = (long)(ts.tv_sec % 100000000) * 1000 + ts.tv_nsec / 1000000;
	for (int i = 0; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	json_object_set_new(req, "argv", a);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	snprintf(name, sizeof(name), "req-%ld.json", n);
	if (!text || write_file(dir, name, text) < 0) {
		free(text);
		snprintf(err, errlen, "cannot write to %s", dir);
		return 2;
	}
	free(text);
	fwd_catch(old);
	snprintf(out, sizeof(out), "%s/out-%ld.log", dir, n);
	snprintf(name, sizeof(name), "rc-%ld", n);
	for (;;) {
		char buf[4096];
		size_t k;
		int finished = file_exists(dir, name);

		if (!f)
			f = fopen(out, "r");
		while (f && (k = fread(buf, 1, sizeof(buf), f)) > 0) {
			fwrite(buf, 1, k, out_to);
			fflush(out_to);
		}
		if (f)
			clearerr(f);
		if (finished)
			break;
		if (fwd_signals > 1) {
			/* a second Ctrl-C: stop waiting; the command in the VM
			 * was told at the first and still heals there */
			snprintf(err, errlen, "interrupted again: not waiting for '%s' in the VM, "
				 "which still heals what it holds", argc > 0 ? argv[0] : "");
			rc = 130;
			break;
		}
		if (fwd_signals && !cancel_sent) {
			char c[64];
			snprintf(c, sizeof(c), "cancel-%ld", n);
			write_file(dir, c, "");
			cancel_sent = 1;
		}
		if (kill(vm, 0) < 0) {
			snprintf(err, errlen, "the VM stopped (see %s/vm.log)", dir);
			break;
		}
		sleep_ms(50);
	}
	fwd_restore(old);
	if (f)
		fclose(f);
	{
		char p[PATH_MAX];
		FILE *r;
		snprintf(p, sizeof(p), "%s/%s", dir, name);
		if ((r = fopen(p, "r"))) {
			if (fscanf(r, "%d", &rc) != 1)
				rc = 2;
			fclose(r);
		}
		unlink(p);
		unlink(out);
		snprintf(p, sizeof(p), "%s/cancel-%ld", dir, n);
		unlink(p);
	}
	if (argc > 0 && !strcmp(argv[0], "down") && rc == 0) {
		/* the guest leaves its loop and powers off */
		for (int t = 0; t < 600 && kill(vm, 0) == 0; t++) {
			waitpid(vm, NULL, WNOHANG);
			sleep_ms(50);
		}
		if (kill(vm, 0) == 0)
			kill(vm, SIGTERM);
		remove_dir(dir);
	}
	return rc;
}
