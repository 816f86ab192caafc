/* Small string helpers shared by the parsers: edit distance for "did you
 * mean" hints, and growable arrays of strings. */
#ifndef FAULTLINE_STRUTIL_H
#define FAULTLINE_STRUTIL_H

#include <stddef.h>

/* Levenshtein distance (byte-wise), capped at 255. */
unsigned fl_edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a
 * plausible typo (distance <= max(1, strlen(word) / 3), or a prefix match). */
const char *fl_closest(const char *word, const char *const *candidates, size_t n);

/* NULL-terminated array of owned strings. */
void fl_strv_free(char **v);
size_t fl_strv_len(char *const *v);

#endif
