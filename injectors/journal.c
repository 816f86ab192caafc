/* Undo journal: JSON lines, appended and flushed before each change is made.
 * Never loses an entry it acknowledged; tolerates a torn last line. */
#include "faultline/journal.h"
#include "faultline/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fl_journal {
	int fd;
	char *path;
	json_t **v;
	size_t n, cap;
};

static int push(struct fl_journal *j, json_t *e)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 16;
		json_t **v = realloc(j->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		j->v = v;
		j->cap = cap;
	}
	j->v[j->n++] = e;
	return 0;
}

static int load(struct fl_journal *j)
{
	FILE *f = fdopen(dup(j->fd), "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int r = 0;

	if (!f)
		return -errno;
	while ((len = getline(&line, &cap, f)) > 0 && r == 0) {
		json_t *e;
		if (line[len - 1] != '\n')
			break; /* torn write: the change it announced was never made */
		e = json_loadb(line, (size_t)len - 1, 0, NULL);
		if (e && json_is_object(e))
			r = push(j, e);
		else
			json_decref(e);
	}
	free(line);
	fclose(f);
	return r;
}

int fl_journal_open(const char *path, struct fl_journal **out)
{
	struct fl_journal *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		r = -errno;
		free(j);
		return r;
	}
	if (!(j->path = strdup(path)) || (r = load(j)) < 0) {
		r = j->path ? r : -ENOMEM;
		fl_journal_close(j);
		return r;
	}
	*out = j;
	return 0;
}

void fl_journal_close(struct fl_journal *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++)
		json_decref(j->v[i]);
	free(j->v);
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

int fl_journal_append(struct fl_journal *j, json_t *undo)
{
	int r = fl_json_append_line(j->fd, undo);

	if (r < 0)
		return r;
	if (fdatasync(j->fd) < 0)
		return -errno;
	if ((r = push(j, undo)) < 0)
		return r;
	json_incref(undo);
	return 0;
}

size_t fl_journal_count(const struct fl_journal *j)
{
	return j->n;
}

json_t *fl_journal_entry(const struct fl_journal *j, size_t i)
{
	return i < j->n ? j->v[i] : NULL;
}

int fl_journal_clear(struct fl_journal *j)
{
	if (ftruncate(j->fd, 0) < 0 || fdatasync(j->fd) < 0)
		return -errno;
	for (size_t i = 0; i < j->n; i++)
		json_decref(j->v[i]);
	j->n = 0;
	return 0;
}

int fl_journal_retain(struct fl_journal *j, int (*keep)(json_t *e, void *ctx), void *ctx)
{
	char *tmp = NULL;
	FILE *f;
	size_t k = 0, tmplen = strlen(j->path) + 8;
	int fd, r = 0;

	if (!(tmp = malloc(tmplen)))
		return -ENOMEM;
	if ((fd = fl_tmp_beside(j->path, 0600, tmp, tmplen)) < 0 || !(f = fdopen(fd, "w"))) {
		r = fd < 0 ? fd : -errno;
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return r;
	}
	for (size_t i = 0; i < j->n; i++)
		if (keep(j->v[i], ctx) && (json_dumpf(j->v[i], f, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0 ||
					   fputc('\n', f) == EOF))
			r = -EIO;
	if (fflush(f) != 0 || fdatasync(fileno(f)) < 0)
		r = -errno;
	fclose(f);
	if (r == 0 && rename(tmp, j->path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		free(tmp);
		return r;
	}
	free(tmp);
	/* the old descriptor points at the replaced file: reopen */
	fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(j->fd);
	j->fd = fd;
	for (size_t i = 0; i < j->n; i++) {
		if (keep(j->v[i], ctx))
			j->v[k++] = j->v[i];
		else
			json_decref(j->v[i]);
	}
	j->n = k;
	return 0;
}

const char *fl_journal_path(const struct fl_journal *j)
{
	return j->path;
}
