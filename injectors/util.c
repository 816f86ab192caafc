/* Plumbing shared by the harness and the agent: whole writes, atomic
 * files. One of each, called from everywhere. */
#include "faultline/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int fl_json_append_line(int fd, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len;
	int r;

	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len++] = '\n'; /* over the NUL: the line and its newline in one write */
	r = fl_write_all(fd, s, len);
	free(s);
	return r;
}

int fl_tmp_beside(const char *path, mode_t mode, char *tmp, size_t tmplen)
{
	int fd;

	if (snprintf(tmp, tmplen, "%s.XXXXXX", path) >= (int)tmplen)
		return -ENAMETOOLONG;
	/* mkostemp: O_CREAT|O_EXCL, so never an existing file or a planted link */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return -errno;
	if (fchmod(fd, mode & ~(mode_t)022) < 0) {
		int r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	return fd;
}

FILE *fl_fopen_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fchmod(fd, 0600) < 0 || !(f = fdopen(fd, "w"))) {
		close(fd);
		return NULL;
	}
	return f;
}

int fl_atomic_open(const char *path, char *tmp, size_t tmplen, FILE **out, char *err,
		       size_t errlen)
{
	int fd = fl_tmp_beside(path, 0644, tmp, tmplen), r;

	if (fd >= 0 && (*out = fdopen(fd, "w")))
		return 0;
	r = fd < 0 ? fd : -errno;
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
	return r;
}

int fl_atomic_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
	int r = 0;

	if (fflush(f) || ferror(f) || fsync(fileno(f)) < 0)
		r = errno ? -errno : -EIO;
	if (fclose(f) && !r)
		r = errno ? -errno : -EIO;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(-r));
		unlink(tmp);
	}
	return r;
}

void fl_markup_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if (c >= 0x20 || c == '\t' || c == '\n')
				fputc(c, f);
		}
	}
}

int fl_json_write_atomic(const char *path, json_t *obj, char *err, size_t errlen)
{
	char tmp[4200];
	FILE *f;
	int r;

	if ((r = fl_atomic_open(path, tmp, sizeof(tmp), &f, err, errlen)) < 0)
		return r;
	if (json_dumpf(obj, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) < 0) {
		fclose(f);
		unlink(tmp);
		snprintf(err, errlen, "cannot write '%s': out of memory", path);
		return -ENOMEM;
	}
	fputc('\n', f);
	return fl_atomic_commit(f, tmp, path, err, errlen);
}


const char *fl_enum_name(const char *const *names, size_t n, unsigned v)
{
	return v < n ? names[v] : "?";
}

int fl_enum_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -1;
}
