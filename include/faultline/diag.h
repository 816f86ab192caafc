/* Diagnostics: a list of located messages ("file:line:col: message").
 * Loaders collect every problem of an input here instead of stopping at the
 * first; the caller decides how to print them. Nothing here logs. */
#ifndef FAULTLINE_DIAG_H
#define FAULTLINE_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct fl_diag {
	char *file;  /* input name as given by the user, or "--set path" */
	int line;    /* 1-based; 0 when the message is about the whole input */
	int col;     /* 1-based; 0 when unknown */
	char *msg;   /* lowercase, no trailing period */
};

struct fl_diags {
	struct fl_diag *v;
	size_t n, cap;
	size_t dropped; /* messages past FL_DIAGS_MAX, counted but not kept */
};

#define FL_DIAGS_MAX 200

void fl_diags_init(struct fl_diags *d);
void fl_diags_release(struct fl_diags *d);

/* Append one message; line/col may be 0. */
void fl_diags_add(struct fl_diags *d, const char *file, int line, int col,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sort by (file, line, col) keeping insertion order among equals, so output
 * reads top to bottom whatever order the checks ran in. */
void fl_diags_sort(struct fl_diags *d);

/* Print "file:line:col: msg" lines (omitting zero fields). */
void fl_diags_print(const struct fl_diags *d, FILE *out);

#endif
