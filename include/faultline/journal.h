/* The agent's undo journal: before any change to the kernel or a process,
 * the action that undoes it is appended here and flushed to disk. Healing
 * replays the undo actions newest first, then empties the journal. A journal
 * left behind by a dead agent is replayed by the next agent, or by
 * `faultline heal` reading it from the run directory. */
#ifndef FAULTLINE_JOURNAL_H
#define FAULTLINE_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

struct fl_journal;

/* Open (creating if needed) and load every complete entry already there.
 * A torn last line (a crash mid-write) is ignored. */
int fl_journal_open(const char *path, struct fl_journal **out);
void fl_journal_close(struct fl_journal *j);

/* Append one undo action (an object with at least "undo": KIND) and
 * fdatasync before returning. The journal takes a reference of its own. */
int fl_journal_append(struct fl_journal *j, json_t *undo);

size_t fl_journal_count(const struct fl_journal *j);
json_t *fl_journal_entry(const struct fl_journal *j, size_t i); /* borrowed */

/* Drop every entry (after a successful heal), durably. */
int fl_journal_clear(struct fl_journal *j);

/* Keep only the entries for which keep() is true (after healing one fault),
 * durably: the file is rewritten and renamed into place. */
int fl_journal_retain(struct fl_journal *j, int (*keep)(json_t *e, void *ctx), void *ctx);

const char *fl_journal_path(const struct fl_journal *j);

#endif
