/* Located diagnostics. Keeps every message of an input (up to a cap, so a
 * hostile file cannot make us allocate without bound) and prints them sorted. */
#include "faultline/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void fl_diags_init(struct fl_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void fl_diags_release(struct fl_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	fl_diags_init(d);
}

void fl_diags_add(struct fl_diags *d, const char *file, int line, int col, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (d->n >= FL_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct fl_diag *v = realloc(d->v, cap * sizeof(*v));
		if (!v) {
			d->dropped++;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg) {
		d->dropped++;
		return;
	}
	d->v[d->n] = (struct fl_diag){
		.file = strdup(file ? file : ""),
		.line = line,
		.col = col,
		.msg = msg,
	};
	d->n++;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct fl_diag *x = a, *y = b;
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

void fl_diags_sort(struct fl_diags *d)
{
	/* insertion sort: stable, and lists are short */
	for (size_t i = 1; i < d->n; i++) {
		struct fl_diag t = d->v[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&d->v[j - 1], &t) > 0) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = t;
	}
}

void fl_diags_print(const struct fl_diags *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct fl_diag *g = &d->v[i];
		if (g->line > 0 && g->col > 0)
			fprintf(out, "%s:%d:%d: %s\n", g->file, g->line, g->col, g->msg);
		else if (g->line > 0)
			fprintf(out, "%s:%d: %s\n", g->file, g->line, g->msg);
		else
			fprintf(out, "%s: %s\n", g->file, g->msg);
	}
	if (d->dropped)
		fprintf(out, "(%zu more messages not shown)\n", d->dropped);
}
