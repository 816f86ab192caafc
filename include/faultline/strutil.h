/* Small string helpers: edit distance for "did you mean" hints, growable
 * arrays of strings, a growable string buffer, and the one way library
 * code fills an (err, errlen) message. */
#ifndef FAULTLINE_STRUTIL_H
#define FAULTLINE_STRUTIL_H

#include <stdarg.h>
#include <stddef.h>

/* Levenshtein distance (byte-wise), capped at 255. */
unsigned fl_edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a
 * plausible typo (distance <= max(1, strlen(word) / 3), or a prefix match). */
const char *fl_closest(const char *word, const char *const *candidates, size_t n);

/* NULL-terminated array of owned strings. */
void fl_strv_free(char **v);
size_t fl_strv_len(char *const *v);

/* Building one: add, then take. Out of memory is sticky as in fl_sbuf. */
struct fl_argv {
	char **v;        /* always NULL-terminated once anything was added */
	size_t n, cap;
	int oom;
};
void fl_argv_add(struct fl_argv *a, const char *s);
void fl_argv_addf(struct fl_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds an owned string (freed on oom). */
void fl_argv_push(struct fl_argv *a, char *owned);
/* The array (the caller frees it with fl_strv_free), or NULL on oom with
 * everything freed; a is empty afterwards either way. */
char **fl_argv_take(struct fl_argv *a);

/* A growable string, always NUL-terminated once anything was added. Out of
 * memory is sticky (oom): build, then check once. Release with free(b.p). */
struct fl_sbuf {
	char *p;
	size_t len, cap;
	int oom;
};
int fl_sbuf_reserve(struct fl_sbuf *b, size_t more); /* 0 or -ENOMEM */
void fl_sbuf_add(struct fl_sbuf *b, const void *s, size_t n);
void fl_sbuf_str(struct fl_sbuf *b, const char *s);
/* Short lines only (up to 511 bytes; longer sets oom). */
void fl_sbuf_printf(struct fl_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* vsnprintf into err when err and errlen are set (messages are optional
 * for callers that pass NULL). */
void fl_seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* fl_seterr, then return code: `return fl_fail(-EINVAL, err, errlen, ...)`. */
int fl_fail(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Remove path and everything below it, not following symlinks. 0, or -errno
 * (-ENOENT when it was not there). */
int fl_remove_tree(const char *path);

#endif
