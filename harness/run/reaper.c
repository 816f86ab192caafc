/* The reaper of reaper.h. It must never act while its parent lives: only
 * EOF on the pipe (all write ends closed, which only the parent's death
 * does while fl_reaper_stop was not called) makes it act. */
#include "faultline/reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int fl_reaper_start(struct fl_reaper *r, void (*fn)(void *ctx), void *ctx)
{
	int p[2];
	pid_t pid;

	r->pid = 0;
	r->hold = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid == 0) {
		char c;
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		close(p[0]);
		fn(ctx);
		_exit(0);
	}
	close(p[0]);
	if (pid < 0) {
		int e = errno;
		close(p[1]);
		return -e;
	}
	r->pid = pid;
	r->hold = p[1];
	return 0;
}

void fl_reaper_stop(struct fl_reaper *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	if (r->hold >= 0)
		close(r->hold);
	r->pid = 0;
	r->hold = -1;
}
