/* Plumbing shared by the harness and the agent (injectors/util.c): one
 * write-all loop, one JSON-lines append, one atomic file writer, enum
 * name tables. Library code: no logging, -errno
 * on failure. */
#ifndef FAULTLINE_UTIL_H
#define FAULTLINE_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Write all len bytes of buf to fd, retrying on EINTR and short writes.
 * 0, or -errno. */
int fl_write_all(int fd, const void *buf, size_t len);

/* Append obj to fd as one JSON line (compact, keys in order, '\n'), in a
 * single write when the kernel allows: the JSON-lines files (history,
 * fault log, journals) are written this way, so readers see whole lines.
 * 0, or -errno. The caller serialises writers and syncs. */
int fl_json_append_line(int fd, json_t *obj);

/* A new file beside path, named path.XXXXXX (the name in tmp), created with
 * O_EXCL so that it is never an existing file or a link someone planted,
 * mode `mode` without group/other write. Its descriptor (O_CLOEXEC), or
 * -errno. The one way faultline makes a temporary file. */
int fl_tmp_beside(const char *path, mode_t mode, char *tmp, size_t tmplen);

/* path opened for writing (truncated), mode 0600 even if it existed, never
 * through a symbolic link: a copy that may hold secrets. NULL with errno. */
FILE *fl_fopen_private(const char *path);

/* A file written atomically: fl_atomic_open opens path.XXXXXX (its name in
 * tmp) for writing, fl_atomic_commit flushes, fsyncs and renames it into
 * place, or removes it. Both 0 or -errno with a message in err. */
int fl_atomic_open(const char *path, char *tmp, size_t tmplen, FILE **out, char *err,
		   size_t errlen);
int fl_atomic_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen);

/* Text for XML and HTML (content and attribute values): the five specials
 * as entities (&#39; for the quote, valid in both), control characters
 * other than tab and newline dropped. */
void fl_markup_text(FILE *f, const char *s);

/* Write obj to path atomically: path.XXXXXX, fsync, rename (nothing left
 * behind on failure). 0, or -errno with a message in err. */
int fl_json_write_atomic(const char *path, json_t *obj, char *err, size_t errlen);

/* An enum's names table, both ways: names[v] or "?" out of range; the
 * index of s in names, or -1 (also for NULL). Every to_string/from_string
 * pair of the tree is these two over its table. */
const char *fl_enum_name(const char *const *names, size_t n, unsigned v);
int fl_enum_index(const char *const *names, size_t n, const char *s);

#endif
