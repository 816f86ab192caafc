/* Which scenario files an argument names (scenario.h: fl_scenario_files). */
#include "faultline/scenario.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faultline/diag.h"

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s || !(nv = realloc(*v, (*n + 1) * sizeof(*nv)))) {
		free(s);
		return -ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

int fl_scenario_files(const char *arg, char ***v, size_t *n, struct fl_diags *d)
{
	struct stat st;
	DIR *dir;
	struct dirent *e;
	size_t first = *n;
	int r = 0;

	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
		return push(v, n, strdup(arg)); /* a missing file: its load says so */
	if (!(dir = opendir(arg))) {
		r = -errno;
		fl_diags_add(d, arg, 0, 0, "cannot open directory: %s", strerror(-r));
		return r;
	}
	while (!r && (e = readdir(dir))) {
		char *path;
		if (e->d_name[0] == '.' ||
		    !(has_suffix(e->d_name, ".yaml") || has_suffix(e->d_name, ".yml")))
			continue;
		if (asprintf(&path, "%s%s%s", arg, has_suffix(arg, "/") ? "" : "/", e->d_name) < 0)
			path = NULL;
		r = push(v, n, path);
	}
	closedir(dir);
	if (r < 0) {
		fl_diags_add(d, arg, 0, 0, "out of memory");
		return r;
	}
	if (*n == first) {
		fl_diags_add(d, arg, 0, 0, "directory holds no scenario files (*.yaml, *.yml)");
		return -ENOENT;
	}
	qsort(*v + first, *n - first, sizeof(char *), cmp_str);
	return 0;
}
