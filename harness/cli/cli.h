/* The command layer's own header (harness/cli/ only): exit statuses, the
 * helpers every command uses, and the commands, one file per group:
 *   main.c          the command table, usage, forwarding into a micro-VM
 *   scenario_cmd.c  validate, plan
 *   cluster_cmd.c   up, status, inject, heal, down, doctor
 *   run_cmd.c       run, report, compare
 *   check.c         check (check_cli.h)
 *   verdict.c       the verdict step shared by run, check and report
 *   console.c       the terminal: the sink for the engine's messages (say.h)
 * Only this layer prints and decides exit statuses. */
#ifndef FAULTLINE_CLI_H
#define FAULTLINE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "faultline/say.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* A growing list of strings (the --set overrides, scenario files). */
struct overrides {
	char **v;
	size_t n;
};

int add_override(struct overrides *o, char *s);

/* A --seed value: 0..INT64_MAX, decimal or 0x hex. 0 or -EINVAL. */
int parse_seed(const char *s, uint64_t *out);

/* faultline-agent next to this binary, else from $PATH (malloc'd). */
char *agent_path(void);

/* --cluster NAME, or the only cluster up; NULL after saying why. */
struct fl_cluster *open_cluster(const char *cmd, const char *name);

/* 0 as root, else -EPERM after saying cmd needs root. */
int need_root(const char *cmd);

/* The terminal as a sink for fl_say: info to stdout, errors to stderr as
 * "<prefix>: msg", the status line rewritten in place on a terminal (a
 * plain line otherwise). Safe from several threads. */
struct fl_console {
	const char *prefix; /* "faultline run" */
	int tty;
	int status_shown;
};

/* A sink that prints through c (initialised here: tty from stdout). */
struct fl_say fl_console_sink(struct fl_console *c, const char *prefix);
/* Clear a status line still on the terminal. */
void fl_console_end(struct fl_console *c);

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_inject(int argc, char **argv);
int cmd_heal(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif
