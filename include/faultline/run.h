/* harness/run/: one run end to end (run, nemesis, workload, history, run_many).
 *
 * `faultline run`: one scenario end to end. The cluster comes up, the
 * system under test starts on every node (through the agents), the
 * workload drives it while the nemesis applies the plan, everything is
 * healed, the cluster goes down, and the run directory keeps the plan, the
 * history, the fault log and every node's log:
 *   runs/<scenario>-<UTC time>-<seed>/{run.json, scenario.yaml, plan.json,
 *        history.jsonl, faults.jsonl, status.jsonl, digests.jsonl,
 *        logs/<node>.log}
 * run.json says how to load the scenario again (file, seed, overrides).
 * Symbolic targets (leader, followers) are resolved when a fault fires,
 * from the nodes' own status, and the resolution is logged. Ctrl-C heals,
 * stops the workload and keeps the history. */
#ifndef FAULTLINE_RUN_H
#define FAULTLINE_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "faultline/say.h"
#include "faultline/scenario.h"

struct fl_run_opts {
	const char *scenario_path; /* copied into the run directory */
	const char *runs_dir;      /* default "runs" */
	uint64_t seed;
	const char *agent_path;
	char *const *overrides;    /* the --set arguments, for run.json and the reproduce line */
	size_t noverrides;
	struct fl_say say;         /* where progress and errors go (say.h) */
};

/* Runs the scenario; says its progress through o->say. Returns 0, or 2 on a
 * configuration or environment error (or a fault that could not be
 * applied), or FL_RUN_INTERRUPTED. When the run left files worth judging (it ran, even if
 * interrupted or a fault failed), judge_dir (judge_len bytes) gets its run
 * directory, else "": the caller judges it (verdict.h) and prints the
 * table and the reproduce line. Engine code: it never prints. */
int fl_run(const struct fl_scenario *s, const struct fl_run_opts *o, char *judge_dir,
	   size_t judge_len);

/* fl_run's status when a second SIGINT/SIGTERM/SIGHUP stopped it at once
 * (the cluster torn down, nothing judged): the shell's 128 + SIGINT. */
#define FL_RUN_INTERRUPTED 130

/* How many SIGINT/SIGTERM/SIGHUP came during fl_run (they stay counted:
 * several scenarios stop after the interrupted one); fl_run_interrupt
 * counts one that came elsewhere (run --vm's, which the VM's run got). */
int fl_run_interrupted(void);
void fl_run_interrupt(void);

/* "reproduce: faultline run FILE --seed N --set ..." to out. */
void fl_run_print_reproduce(FILE *out, const struct fl_scenario *s, const struct fl_run_opts *o);

/* Several scenarios (nightly use): args are files or directories (their
 * *.yaml, *.yml, sorted), run in turn through fn, which sets the scenario's
 * name and seed so its run directory can be found in runs_dir. With more
 * than one file, a summary table at the end; junit (may be NULL): one JUnit
 * file with every run's testsuite (a run without a verdict appears as an
 * error); keep > 0: after each run, only the newest `keep` run directories
 * of that scenario stay. Progress, the summary and errors go to say.
 * Returns the worst exit status: 2 (error) before 1
 * (a check failed) before 3 (undecided) before 0. */
typedef int (*fl_run_one_fn)(void *ctx, const char *file, const char *runs_dir, char *name,
			     size_t namelen, uint64_t *seed);
int fl_run_many(int nargs, char **args, const char *runs_dir, const char *junit, long keep,
		fl_run_one_fn fn, void *ctx, const struct fl_say *say);

#endif
