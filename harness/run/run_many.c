/* Several scenarios in one `run` (see run.h: fl_run_many): in turn, one
 * summary, merged JUnit, pruning of old run directories. */
#include "faultline/run.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faultline/report.h"

/* Exit statuses from worst to best: an error, a failed check, no decision, pass. */
static int rank(int rc)
{
	switch (rc) {
	case 2: return 3;
	case 1: return 2;
	case 3: return 1;
	case 0: return 0;
	default: return 3;
	}
}

static int cmp_str_desc(const void *a, const void *b)
{
	return -strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct strv {
	char **v;
	size_t n, cap;
};

static int push(struct strv *s, const char *str)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(str)))
		return -ENOMEM;
	s->n++;
	return 0;
}

static void strv_release(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* Files to run: each argument, or a directory's *.yaml / *.yml, sorted. */
static int expand(int nargs, char **args, struct strv *files)
{
	for (int i = 0; i < nargs; i++) {
		struct stat st;
		struct strv here = { 0 };
		DIR *d;
		struct dirent *e;

		if (stat(args[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			if (push(files, args[i]) < 0)
				return -ENOMEM;
			continue;
		}
		if (!(d = opendir(args[i]))) {
			fprintf(stderr, "faultline run: cannot read '%s': %s\n", args[i],
				strerror(errno));
			return -errno;
		}
		while ((e = readdir(d))) {
			char path[PATH_MAX];
			if (e->d_name[0] == '.' ||
			    (!has_suffix(e->d_name, ".yaml") && !has_suffix(e->d_name, ".yml")))
				continue;
			snprintf(path, sizeof(path), "%s%s%s", args[i],
				 has_suffix(args[i], "/") ? "" : "/", e->d_name);
			if (push(&here, path) < 0) {
				closedir(d);
				strv_release(&here);
				return -ENOMEM;
			}
		}
		closedir(d);
		if (!here.n)
			fprintf(stderr, "faultline run: no *.yaml scenario in '%s'\n", args[i]);
		qsort(here.v, here.n, sizeof(*here.v), cmp_str);
		for (size_t k = 0; k < here.n; k++)
			if (push(files, here.v[k]) < 0) {
				strv_release(&here);
				return -ENOMEM;
			}
		strv_release(&here);
	}
	return 0;
}

/* The run directories of scenario name in runs_dir (those holding a
 * run.json), newest first: their names start with the UTC time after the
 * scenario's name, so they sort by time. seed: only those of that seed
 * (UINT64_MAX: any). */
static void run_dirs(const char *runs_dir, const char *name, uint64_t seed, struct strv *out)
{
	DIR *d = opendir(runs_dir);
	struct dirent *e;
	size_t nl = strlen(name);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX], meta[PATH_MAX + 16], suffix[32];
		struct stat st;
		const char *rest = e->d_name + nl;
		/* <name>-YYYYmmddTHHMMSSZ-<seed> */
		if (strncmp(e->d_name, name, nl) || rest[0] != '-' || strlen(rest) < 18 ||
		    rest[9] != 'T' || rest[16] != 'Z' || rest[17] != '-')
			continue;
		if (seed != UINT64_MAX) {
			snprintf(suffix, sizeof(suffix), "-%llu", (unsigned long long)seed);
			if (strcmp(rest + 17, suffix))
				continue;
		}
		snprintf(path, sizeof(path), "%s/%s", runs_dir, e->d_name);
		snprintf(meta, sizeof(meta), "%s/run.json", path);
		if (stat(meta, &st) == 0)
			push(out, path);
	}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_str_desc);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 ? -1 : 0;
}

/* Keep the newest `keep` run directories of scenario name. */
static void prune(const char *runs_dir, const char *name, long keep)
{
	struct strv dirs = { 0 };

	run_dirs(runs_dir, name, UINT64_MAX, &dirs);
	for (size_t i = (size_t)keep; i < dirs.n; i++) {
		if (nftw(dirs.v[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
			fprintf(stderr, "faultline run: cannot remove '%s': %s\n", dirs.v[i],
				strerror(errno));
		else
			printf("pruned %s\n", dirs.v[i]);
	}
	strv_release(&dirs);
}

int fl_run_many(int nargs, char **args, const char *runs_dir, const char *junit, long keep,
		fl_run_one_fn fn, void *ctx)
{
	struct strv files = { 0 };
	json_t **results;
	char **dirs;
	int *rcs, worst = 0;
	size_t nres = 0;

	if (expand(nargs, args, &files) < 0 || !files.n) {
		strv_release(&files);
		return 2;
	}
	results = calloc(files.n, sizeof(*results));
	dirs = calloc(files.n, sizeof(*dirs));
	rcs = calloc(files.n, sizeof(*rcs));
	if (!results || !dirs || !rcs) {
		free(results);
		free(dirs);
		free(rcs);
		strv_release(&files);
		return 2;
	}
	for (size_t i = 0; i < files.n; i++) {
		char name[256] = "";
		uint64_t seed = 0;
		struct strv found = { 0 };

		if (files.n > 1)
			printf("%s=== %s (%zu of %zu)\n", i ? "\n" : "", files.v[i], i + 1, files.n);
		fflush(stdout);
		rcs[i] = fn(ctx, files.v[i], runs_dir, name, sizeof(name), &seed);
		if (rank(rcs[i]) > rank(worst))
			worst = rcs[i];
		if (name[0])
			run_dirs(runs_dir, name, seed, &found);
		if (found.n) {
			char path[PATH_MAX + 16];
			dirs[i] = strdup(found.v[0]);
			snprintf(path, sizeof(path), "%s/results.json", found.v[0]);
			results[nres] = json_load_file(path, 0, NULL);
		}
		strv_release(&found);
		if (!results[nres]) {
			/* no verdict: the run itself failed; CI must still see it */
			results[nres] = json_pack("{s:s, s:f, s:[{s:s, s:s, s:s}]}", "scenario",
						  name[0] ? name : files.v[i], "duration_s", 0.0,
						  "checks", "name", "run", "verdict", "UNKNOWN", "why",
						  "the run did not complete (see its output)");
		}
		nres++;
		if (keep > 0 && name[0])
			prune(runs_dir, name, keep);
	}
	if (files.n > 1) {
		printf("\n%-32s %-8s %s\n", "scenario", "verdict", "run directory");
		for (size_t i = 0; i < files.n; i++) {
			const char *v = json_string_value(json_object_get(results[i], "verdict"));
			printf("%-32s %-8s %s\n", json_string_value(json_object_get(results[i], "scenario")),
			       rcs[i] == 2 ? "ERROR" : v ? v : "?", dirs[i] ? dirs[i] : "-");
		}
	}
	if (junit) {
		char err[512];
		if (fl_junit_write(junit, results, nres, err, sizeof(err)) < 0) {
			fprintf(stderr, "faultline run: %s\n", err);
			worst = 2;
		} else {
			printf("junit: %s (%zu suite%s)\n", junit, nres, nres == 1 ? "" : "s");
		}
	}
	for (size_t i = 0; i < files.n; i++) {
		json_decref(results[i]);
		free(dirs[i]);
	}
	free(results);
	free(dirs);
	free(rcs);
	strv_release(&files);
	return worst;
}
