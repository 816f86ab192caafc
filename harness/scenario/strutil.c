/* String helpers for hints; nothing here allocates except the strv helpers. */
#include "faultline/strutil.h"
#include "faultline/say.h"

#include <ftw.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

unsigned fl_edit_distance(const char *a, const char *b)
{
	/* optimal string alignment: insert, delete, substitute, swap neighbours */
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[64][64];

	if (la >= 63 || lb >= 63)
		return 255;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb] > 255 ? 255 : d[la][lb];
}

const char *fl_closest(const char *word, const char *const *cand, size_t n)
{
	const char *best = NULL;
	unsigned bestd = 255, limit;
	size_t wl = strlen(word);

	if (wl == 0)
		return NULL;
	limit = (wl + 1) / 3 > 1 ? (unsigned)((wl + 1) / 3) : 1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = fl_edit_distance(word, cand[i]);
		if (d < bestd) {
			bestd = d;
			best = cand[i];
		}
	}
	if (best && bestd <= limit)
		return best;
	/* "lat" for "latency": a prefix of three letters or more is a good hint */
	for (size_t i = 0; i < n; i++)
		if (wl >= 3 && strncmp(cand[i], word, wl) == 0)
			return cand[i];
	return NULL;
}

void fl_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void fl_argv_push(struct fl_argv *a, char *owned)
{
	if (!owned)
		a->oom = 1;
	if (a->oom) {
		free(owned);
		return;
	}
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v) {
			a->oom = 1;
			free(owned);
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = owned;
	a->v[a->n] = NULL;
}

void fl_argv_add(struct fl_argv *a, const char *s)
{
	fl_argv_push(a, strdup(s));
}

void fl_argv_addf(struct fl_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	fl_argv_push(a, s);
}

char **fl_argv_take(struct fl_argv *a)
{
	char **v = a->v;

	if (a->oom) {
		fl_strv_free(v);
		v = NULL;
	} else if (!v) {
		v = calloc(1, sizeof(*v));
	}
	memset(a, 0, sizeof(*a));
	return v;
}

size_t fl_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

int fl_sbuf_reserve(struct fl_sbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (b->len + more + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void fl_sbuf_add(struct fl_sbuf *b, const void *s, size_t n)
{
	if (fl_sbuf_reserve(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void fl_sbuf_str(struct fl_sbuf *b, const char *s)
{
	fl_sbuf_add(b, s, strlen(s));
}

void fl_sbuf_printf(struct fl_sbuf *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		b->oom = 1; /* only short lines are printed this way */
		return;
	}
	fl_sbuf_add(b, buf, (size_t)n);
}

void fl_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int fl_fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void fl_say(const struct fl_say *s, enum fl_say_kind kind, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!s || !s->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->fn(s->ctx, kind, msg);
}

static int remove_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

int fl_remove_tree(const char *path)
{
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}
