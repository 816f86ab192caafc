/* A reaper: a child process that does one thing when its parent dies, even
 * by SIGKILL (which no handler sees): stop what the parent started outside
 * itself (run --vm: the VM runner; run: the cluster), so that a killed run
 * does not go on, orphaned, or leave its cluster up. It waits for EOF on a
 * pipe whose write end only the parent holds (close-on-exec: the parent's
 * other children never hold it). It ignores the terminal's signals: the
 * parent handles those, and stops it with fl_reaper_stop when all went well. */
#ifndef FAULTLINE_REAPER_H
#define FAULTLINE_REAPER_H

#include <sys/types.h>

struct fl_reaper {
	pid_t pid;   /* 0: none */
	int hold;    /* the write end */
};

/* Start a reaper that calls fn(ctx) in the child once the parent is gone
 * (fn may exec; the child then exits). 0 or -errno. */
int fl_reaper_start(struct fl_reaper *r, void (*fn)(void *ctx), void *ctx);

/* The parent is done: the reaper is killed (and waited for) without acting. */
void fl_reaper_stop(struct fl_reaper *r);

#endif
