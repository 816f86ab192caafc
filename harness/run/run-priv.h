/* Test hooks of run.c (not part of the engine's API). */
#ifndef FAULTLINE_RUN_PRIV_H
#define FAULTLINE_RUN_PRIV_H

/* The regular files of from_dir copied into to (never through a link;
 * names starting with '.', directories, devices and fifos skipped). */
void fl_run_copy_logs(const char *from_dir, const char *to);

#endif
