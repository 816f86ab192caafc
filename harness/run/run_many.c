/* Several scenarios in one `run` (see run.h: fl_run_many): in turn, one
 * summary, merged JUnit, pruning of old run directories. */
#include "faultline/run.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faultline/diag.h"
#include "faultline/report.h"
#include "faultline/say.h"
#include "faultline/scenario.h"
#include "faultline/strutil.h"

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

/* Files to run: each argument, or a directory's *.yaml / *.yml, sorted.
 * A directory without scenarios is said and skipped. */
static int expand(int nargs, char **args, struct strv *files, const struct fl_say *say)
{
	for (int i = 0; i < nargs; i++) {
		struct fl_diags d;
		char **v = NULL;
		size_t n = 0;
		int r;

		fl_diags_init(&d);
		r = fl_scenario_files(args[i], &v, &n, &d);
		for (size_t k = 0; k < d.n; k++)
			fl_say(say, FL_SAY_ERROR, "%s: %s", d.v[k].file, d.v[k].msg);
		fl_diags_release(&d);
		for (size_t k = 0; k < n; k++) {
			if (r == 0 && push(files, v[k]) < 0)
				r = -ENOMEM;
			free(v[k]);
		}
		free(v);
		if (r < 0 && r != -ENOENT)
			return r;
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

/* Keep the newest `keep` run directories of scenario name. */
static void prune(const char *runs_dir, const char *name, long keep, const struct fl_say *say)
{
	struct strv dirs = { 0 };

	run_dirs(runs_dir, name, UINT64_MAX, &dirs);
	for (size_t i = (size_t)keep; i < dirs.n; i++) {
		int r = fl_remove_tree(dirs.v[i]);
		if (r < 0)
			fl_say(say, FL_SAY_ERROR, "cannot remove '%s': %s", dirs.v[i], strerror(-r));
		else
			fl_say(say, FL_SAY_INFO, "pruned %s", dirs.v[i]);
	}
	strv_release(&dirs);
}

int fl_run_many(int nargs, char **args, const char *runs_dir, const char *junit, long keep,
		fl_run_one_fn fn, void *ctx, const struct fl_say *say)
{
	struct strv files = { 0 };
	json_t **results;
	char **dirs;
	int *rcs, worst = 0;
	size_t nres = 0;

	if (expand(nargs, args, &files, say) < 0 || !files.n) {
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
			fl_say(say, FL_SAY_INFO, "%s=== %s (%zu of %zu)", i ? "\n" : "", files.v[i],
			       i + 1, files.n);
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
			prune(runs_dir, name, keep, say);
		/* Ctrl-C (or a cancelled job) stops the night, not only this run */
		if (fl_run_interrupted() && i + 1 < files.n) {
			fl_say(say, FL_SAY_INFO, "interrupted: %zu scenario%s not run", files.n - i - 1,
			       files.n - i - 1 == 1 ? "" : "s");
			break;
		}
	}
	if (files.n > 1) {
		fl_say(say, FL_SAY_INFO, "\n%-32s %-8s %s", "scenario", "verdict", "run directory");
		for (size_t i = 0; i < nres; i++) {
			const char *v = json_string_value(json_object_get(results[i], "verdict"));
			fl_say(say, FL_SAY_INFO, "%-32s %-8s %s",
			       json_string_value(json_object_get(results[i], "scenario")),
			       rcs[i] == 2 ? "ERROR" : v ? v : "?", dirs[i] ? dirs[i] : "-");
		}
	}
	if (junit) {
		char err[512];
		if (fl_junit_write(junit, results, nres, err, sizeof(err)) < 0) {
			fl_say(say, FL_SAY_ERROR, "%s", err);
			worst = 2;
		} else {
			fl_say(say, FL_SAY_INFO, "junit: %s (%zu suite%s)", junit, nres,
			       nres == 1 ? "" : "s");
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
