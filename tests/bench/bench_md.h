/* build/bench.md is shared by the benchmarks: each writes one section,
 * between "<!-- bench:NAME -->" and "<!-- /bench:NAME -->", replacing its
 * own section when it is there and appending it otherwise, so the others'
 * sections stay as they were. Header-only: bench binaries link one object. */
#ifndef FAULTLINE_BENCH_MD_H
#define FAULTLINE_BENCH_MD_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Replace or append section name of the file at path with text (which
 * should end with a newline). 0, or -errno. */
static inline int bench_md_section(const char *path, const char *name, const char *text)
{
	char open_tag[128], close_tag[128];
	char *old = NULL, *tmp = NULL;
	size_t len = 0;
	FILE *f;
	int r = 0;

	snprintf(open_tag, sizeof(open_tag), "<!-- bench:%s -->\n", name);
	snprintf(close_tag, sizeof(close_tag), "<!-- /bench:%s -->\n", name);
	if ((f = fopen(path, "r"))) {
		long n;
		if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		    (old = calloc(1, (size_t)n + 1)))
			len = fread(old, 1, (size_t)n, f);
		fclose(f);
		if (!old)
			return -ENOMEM;
		old[len] = 0;
	}
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		free(old);
		return -ENOMEM;
	}
	if (!(f = fopen(tmp, "w"))) {
		r = -errno;
		goto out;
	}
	const char *a = old ? strstr(old, open_tag) : NULL;
	const char *b = a ? strstr(a, close_tag) : NULL;
	if (a && b) {
		fwrite(old, 1, (size_t)(a - old), f);
		fprintf(f, "%s%s%s", open_tag, text, close_tag);
		fputs(b + strlen(close_tag), f);
	} else {
		if (old && len) {
			fputs(old, f);
			if (old[len - 1] != '\n')
				fputc('\n', f);
			fputc('\n', f);
		} else {
			fputs("# faultline benchmarks\n\n", f);
		}
		fprintf(f, "%s%s%s", open_tag, text, close_tag);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		r = -errno;
out:
	free(tmp);
	free(old);
	return r;
}

#endif
