/* The engine's messages, for the command layer to show. Engine code
 * (run, run_many, providers) never prints: it says what happened through
 * a sink the command layer gives (harness/cli/console.c prints to the
 * terminal; a test can collect the lines). A NULL sink or function drops
 * the messages. */
#ifndef FAULTLINE_SAY_H
#define FAULTLINE_SAY_H

enum fl_say_kind {
	FL_SAY_INFO,   /* a line of progress: "ready, leader n1" */
	FL_SAY_STATUS, /* the live status line: a terminal rewrites it in place */
	FL_SAY_ERROR,  /* why something could not be done */
};

struct fl_say {
	void (*fn)(void *ctx, enum fl_say_kind kind, const char *msg);
	void *ctx;
	int live; /* the sink rewrites the status line (a terminal): say it often */
};

/* One message (no trailing newline), formatted like printf. */
void fl_say(const struct fl_say *s, enum fl_say_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
