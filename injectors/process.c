/* Process faults: the agent spawns the system under test (argv, never a
 * shell) and can kill, stop, continue and restart it. Every fault journals
 * its undo first: SIGSTOP -> "cont", a kill -> "respawn". Undo is
 * idempotent: continuing a running process or respawning a live one is a
 * no-op. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/agent.h"
#include "faultline/util.h"

static struct fl_proc *proc_find(struct fl_agent *a, const char *id)
{
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++)
		if (a->procs[i].argv && !strcmp(a->procs[i].id, id))
			return &a->procs[i];
	return NULL;
}

static char **strv_from_json(json_t *arr, int as_env)
{
	size_t n = json_is_array(arr) ? json_array_size(arr) : json_is_object(arr) ? json_object_size(arr) : 0;
	char **v = calloc(n + 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	if (as_env && json_is_object(arr)) {
		const char *key;
		json_t *val;
		json_object_foreach(arr, key, val) {
			if (!json_is_string(val) || asprintf(&v[k++], "%s=%s", key, json_string_value(val)) < 0)
				goto bad;
		}
		return v;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s) || !(v[k++] = strdup(json_string_value(s))))
			goto bad;
	}
	return v;
bad:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static int proc_start(struct fl_proc *p, char *err, size_t errlen)
{
	int pipefd[2], logfd = -1, e = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	if (p->log && (logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
		e = -errno;
		snprintf(err, errlen, "cannot open log '%s': %s", p->log, strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return e;
	}
	pid = fork();
	if (pid < 0) {
		e = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		if (logfd >= 0)
			close(logfd);
		return e;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid(); /* its own process group: signals reach it, not the agent */
		dup2(devnull, 0);
		dup2(logfd >= 0 ? logfd : devnull, 1);
		dup2(logfd >= 0 ? logfd : devnull, 2);
		if (p->env)
			execvpe(p->argv[0], p->argv, p->env);
		else
			execvp(p->argv[0], p->argv);
		e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	if (logfd >= 0)
		close(logfd);
	/* the exec either happens (pipe closes, read 0) or reports its errno */
	while ((n = read(pipefd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pipefd[0]);
	if (n == sizeof(e)) {
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "cannot run '%s': %s", p->argv[0], strerror(e));
		return -e;
	}
	p->pid = pid;
	p->stopped = 0;
	return 0;
}

void fl_proc_clear(struct fl_proc *p)
{
	for (char **v = p->argv; v && *v; v++)
		free(*v);
	for (char **v = p->env; v && *v; v++)
		free(*v);
	free(p->argv);
	free(p->env);
	free(p->log);
	memset(p, 0, sizeof(*p));
	p->last_status = -1;
}

/* SIGKILL and wait for it, bounded: a process in D state may linger. */
static void proc_kill_wait(struct fl_agent *a, struct fl_proc *p, int sig)
{
	pid_t pid = p->pid;

	if (!pid)
		return;
	kill(pid, sig);
	if (p->stopped && sig != SIGKILL)
		kill(pid, SIGCONT);
	for (int i = 0; i < 500 && p->pid == pid; i++) {
		struct timespec ts = { 0, 10 * 1000000 };
		fl_agent_reap(a);
		if (p->pid == pid)
			nanosleep(&ts, NULL);
	}
}

/* mkdir -p path (mode for the last component). 0 or -errno. */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, n + 1);
	for (char *q = buf + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*q = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* How many names the path has: "/" 0, "/var" 1, "/var/lib/x/" 3. */
static int path_depth(const char *p)
{
	int n = 0;

	for (; *p; p++)
		if (*p != '/' && (p[-1] == '/'))
			n++;
	return n;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* {"op":"file","path":P} makes directory P (and its parents); with
 * "content": C it writes file P instead (its directory must exist); with
 * "remove": true it removes P and everything under it (links not
 * followed; P at least two levels deep, so never / or /var). The files a
 * process needs before it starts (data directory, configuration), made
 * where the node is: on a VM node only its own agent can; removed by a
 * cluster that leaves an attached node as it found it. Absolute paths
 * only. Not a fault: nothing to undo. */
static int op_file(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	const char *path = json_string_value(json_object_get(req, "path"));
	json_t *content = json_object_get(req, "content");
	int r;

	(void)a;
	(void)reply;
	if (!path || path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") ||
	    (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/.."))) {
		snprintf(err, errlen, "'path' must be an absolute path");
		return -EINVAL;
	}
	if (json_is_true(json_object_get(req, "remove"))) {
		if (path_depth(path) < 2) {
			snprintf(err, errlen, "will not remove '%s': not deep enough", path);
			return -EINVAL;
		}
		if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(err, errlen, "cannot remove '%s': %s", path, strerror(-r));
			return r;
		}
		return 0;
	}
	if (!content) {
		if ((r = mkdir_p(path, 0755)) < 0)
			snprintf(err, errlen, "cannot create '%s': %s", path, strerror(-r));
		return r;
	}
	if (!json_is_string(content)) {
		snprintf(err, errlen, "'content' must be a string");
		return -EINVAL;
	}
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		size_t len = json_string_length(content);
		r = fd < 0 ? -errno : fl_write_all(fd, json_string_value(content), len);
		if (fd >= 0 && close(fd) < 0 && !r)
			r = -errno;
	}
	if (r < 0)
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
	return r;
}

static int op_spawn(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(req, "id_name"));
	json_t *argv = json_object_get(req, "argv");
	struct fl_proc *p;
	int r;

	if (!id)
		id = "sut";
	if (strlen(id) >= sizeof(p->id)) {
		snprintf(err, errlen, "process name too long");
		return -EINVAL;
	}
	if (!json_is_array(argv) || json_array_size(argv) == 0) {
		snprintf(err, errlen, "'spawn' needs 'argv': a non-empty list of strings");
		return -EINVAL;
	}
	if ((p = proc_find(a, id)) && p->pid) {
		snprintf(err, errlen, "process '%s' is already running (pid %d)", id, (int)p->pid);
		return -EBUSY;
	}
	if (!p) {
		for (size_t i = 0; i < FL_AGENT_MAX_PROCS && !p; i++)
			if (!a->procs[i].argv)
				p = &a->procs[i];
		if (!p) {
			snprintf(err, errlen, "at most %d processes per node", FL_AGENT_MAX_PROCS);
			return -ENOSPC;
		}
	} else {
		fl_proc_clear(p);
	}
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->argv = strv_from_json(argv, 0);
	if (json_object_get(req, "env"))
		p->env = strv_from_json(json_object_get(req, "env"), 1);
	if (json_is_string(json_object_get(req, "log")))
		p->log = strdup(json_string_value(json_object_get(req, "log")));
	if (!p->argv || (json_object_get(req, "env") && !p->env)) {
		fl_proc_clear(p);
		snprintf(err, errlen, "'argv' must be strings and 'env' a mapping of strings");
		return -EINVAL;
	}
	if ((r = proc_start(p, err, errlen)) < 0) {
		fl_proc_clear(p);
		return r;
	}
	*reply = json_pack("{s:i}", "pid", (int)p->pid);
	return 0;
}

static int parse_sig(json_t *v)
{
	static const struct {
		const char *name;
		int sig;
	} t[] = { { "KILL", SIGKILL }, { "TERM", SIGTERM }, { "INT", SIGINT },	 { "HUP", SIGHUP },
		  { "QUIT", SIGQUIT }, { "ABRT", SIGABRT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		  { "STOP", SIGSTOP }, { "CONT", SIGCONT } };
	const char *s;

	if (json_is_integer(v))
		return (int)json_integer_value(v);
	if (!(s = json_string_value(v)))
		return -1;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcasecmp(s, t[i].name))
			return t[i].sig;
	return -1;
}

static struct fl_proc *req_proc(struct fl_agent *a, json_t *req, char *err, size_t errlen)
{
	const char *id = json_string_value(json_object_get(req, "id_name"));
	struct fl_proc *p = proc_find(a, id ? id : "sut");

	if (!p)
		snprintf(err, errlen, "no process '%s' on node '%s'", id ? id : "sut", a->node);
	return p;
}

/* {"op":"signal","id_name":"sut","signal":"STOP"} */
static int op_signal(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	struct fl_proc *p = req_proc(a, req, err, errlen);
	int sig = parse_sig(json_object_get(req, "signal")), r;
	json_t *undo;

	if (!p)
		return -ESRCH;
	if (sig <= 0 || sig >= NSIG) {
		snprintf(err, errlen, "'signal' must be a signal name like KILL, TERM or STOP");
		return -EINVAL;
	}
	if (!p->pid) {
		snprintf(err, errlen, "process '%s' is not running", p->id);
		return -ESRCH;
	}
	if (sig == SIGCONT)
		undo = NULL;
	else
		undo = fl_agent_undo_entry(req, sig == SIGSTOP ? "cont" : "respawn");
	if (undo)
		json_object_set_new(undo, "id_name", json_string(p->id));
	if (undo) {
		r = fl_journal_append(a->journal, undo);
		json_decref(undo);
		if (r < 0) {
			snprintf(err, errlen, "cannot write the journal: %s", strerror(-r));
			return r;
		}
	}
	if (sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT || sig == SIGABRT) {
		proc_kill_wait(a, p, sig);
	} else if (kill(p->pid, sig) < 0) {
		snprintf(err, errlen, "kill %d: %s", (int)p->pid, strerror(errno));
		return -errno;
	}
	if (sig == SIGSTOP)
		p->stopped = 1;
	if (sig == SIGCONT)
		p->stopped = 0;
	*reply = json_pack("{s:i, s:b}", "pid", (int)p->pid, "running", p->pid != 0);
	return 0;
}

/* Kill -9 and start again with the same argv. */
static int op_restart(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	struct fl_proc *p = req_proc(a, req, err, errlen);
	json_t *undo;
	int r;

	if (!p)
		return -ESRCH;
	undo = fl_agent_undo_entry(req, "respawn");
	json_object_set_new(undo, "id_name", json_string(p->id));
	r = fl_journal_append(a->journal, undo);
	json_decref(undo);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the journal: %s", strerror(-r));
		return r;
	}
	proc_kill_wait(a, p, SIGKILL);
	if ((r = proc_start(p, err, errlen)) < 0)
		return r;
	*reply = json_pack("{s:i}", "pid", (int)p->pid);
	return 0;
}

static int op_ps(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	json_t *list = json_array();

	fl_agent_reap(a);
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++) {
		struct fl_proc *p = &a->procs[i];
		if (!p->argv)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:i, s:b, s:i}", "id_name", p->id, "pid",
						      (int)p->pid, "stopped", p->stopped,
						      "last_status", p->last_status));
	}
	*reply = json_pack("{s:o}", "processes", list);
	return 0;
}

static int undo_cont(struct fl_agent *a, json_t *e, char *err, size_t errlen)
{
	struct fl_proc *p = proc_find(a, json_string_value(json_object_get(e, "id_name")) ?: "sut");

	if (!p || !p->pid)
		return 0; /* gone: nothing is stopped */
	if (kill(p->pid, SIGCONT) < 0 && errno != ESRCH) {
		snprintf(err, errlen, "SIGCONT %d: %s", (int)p->pid, strerror(errno));
		return -errno;
	}
	p->stopped = 0;
	return 0;
}

static int undo_respawn(struct fl_agent *a, json_t *e, char *err, size_t errlen)
{
	struct fl_proc *p = proc_find(a, json_string_value(json_object_get(e, "id_name")) ?: "sut");

	fl_agent_reap(a);
	if (!p || p->pid)
		return 0; /* unknown to this agent, or running again */
	return proc_start(p, err, errlen);
}

static void process_shutdown(struct fl_agent *a)
{
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++) {
		struct fl_proc *p = &a->procs[i];
		if (p->pid) {
			kill(p->pid, SIGCONT);
			proc_kill_wait(a, p, SIGKILL);
		}
	}
}

/* {"op":"stop"}: every spawned process killed and forgotten, nothing
 * journaled (so no heal starts one again): the end of a run on a node
 * that outlives it (a libvirt domain in attach mode). */
static int op_stop(struct fl_agent *a, json_t *req, json_t **reply, char *err, size_t errlen)
{
	int n = 0;

	(void)req;
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < FL_AGENT_MAX_PROCS; i++) {
		struct fl_proc *p = &a->procs[i];
		if (!p->argv)
			continue;
		if (p->pid) {
			kill(p->pid, SIGCONT);
			proc_kill_wait(a, p, SIGKILL);
			n++;
		}
		if (!p->pid)
			fl_proc_clear(p);
	}
	*reply = json_pack("{s:i}", "stopped", n);
	return 0;
}

static const struct fl_agent_op ops[] = {
	{ "file", op_file },
	{ "stop", op_stop },
	{ "spawn", op_spawn },
	{ "signal", op_signal },
	{ "restart", op_restart },
	{ "ps", op_ps },
};

static const struct fl_undo_kind undos[] = {
	{ "cont", undo_cont },
	{ "respawn", undo_respawn },
};

const struct fl_injector_ops fl_process_ops = {
	.name = "process",
	.ops = ops,
	.nops = sizeof(ops) / sizeof(ops[0]),
	.undos = undos,
	.nundos = sizeof(undos) / sizeof(undos[0]),
	.shutdown = process_shutdown,
};
