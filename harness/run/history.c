/* History and fault-log writers (one write(2) per line under a mutex, so
 * lines never interleave and a crash loses at most the line being written)
 * and the history reader. */
#include "faultline/history.h"
#include "faultline/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const f_names[FL_F__N] = { "read", "write", "cas", "add", "read_all" };
static const char *const out_names[FL_OUTCOME__N] = { "ok", "fail", "info" };

const char *fl_op_f_to_string(enum fl_op_f f)
{
	return fl_enum_name(f_names, FL_F__N, (unsigned)f);
}

int fl_op_f_from_string(const char *s)
{
	return fl_enum_index(f_names, FL_F__N, s);
}

const char *fl_outcome_to_string(enum fl_outcome o)
{
	return fl_enum_name(out_names, FL_OUTCOME__N, (unsigned)o);
}

int fl_outcome_from_string(const char *s)
{
	return fl_enum_index(out_names, FL_OUTCOME__N, s);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct fl_jsonl {
	int fd;
	int64_t t0;
	int err; /* the first write's error (-errno), then every write is refused */
	pthread_mutex_t lock;
};

int fl_jsonl_open(const char *path, int64_t t0_ns, struct fl_jsonl **out)
{
	struct fl_jsonl *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (j->fd < 0) {
		int r = -errno;
		free(j);
		return r;
	}
	j->t0 = t0_ns ? t0_ns : mono_ns();
	pthread_mutex_init(&j->lock, NULL);
	*out = j;
	return 0;
}

int64_t fl_jsonl_now(const struct fl_jsonl *j)
{
	return mono_ns() - j->t0;
}

int fl_jsonl_write(struct fl_jsonl *j, json_t *obj)
{
	char *s;
	size_t len;
	int r = 0;

	if (!json_object_get(obj, "t"))
		json_object_set_new(obj, "t", json_integer(fl_jsonl_now(j)));
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	s[len++] = '\n'; /* over the NUL: one write carries the whole line */
	/* dumped outside the lock: writers only queue for the write itself */
	pthread_mutex_lock(&j->lock);
	if (!(r = j->err)) {
		struct stat st;
		int have = fstat(j->fd, &st) == 0;
		/* a line cut short (the disk full) is taken back: the file keeps
		 * whole lines only (else the reader counts a torn last one), and
		 * takes none after it */
		if ((r = fl_write_all(j->fd, s, len)) < 0) {
			j->err = r;
			if (have)
				have = ftruncate(j->fd, st.st_size) == 0;
		}
	}
	pthread_mutex_unlock(&j->lock);
	free(s);
	return r;
}

int fl_jsonl_error(struct fl_jsonl *j)
{
	int r;

	pthread_mutex_lock(&j->lock);
	r = j->err;
	pthread_mutex_unlock(&j->lock);
	return r;
}

void fl_jsonl_close(struct fl_jsonl *j)
{
	if (!j)
		return;
	fsync(j->fd);
	close(j->fd);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

/* --- history ---------------------------------------------------------------- */

/* An op invoked and not yet completed. Only these are kept (a slot is
 * reused once its op completes), so a night-long run holds as many as
 * there are clients, not one per op ever invoked. */
struct open_op {
	int64_t i; /* -1: a free slot */
	int process;
	char node[32];
	enum fl_op_f f;
	int final;
	char *key;
};

struct fl_history {
	struct fl_jsonl *out;
	pthread_mutex_t lock;
	int64_t next;
	struct open_op *open;
	size_t cap;
	int final;            /* invokes from now on are final reads */
};

void fl_history_set_final(struct fl_history *h, int on)
{
	pthread_mutex_lock(&h->lock);
	h->final = on != 0;
	pthread_mutex_unlock(&h->lock);
}

int fl_history_open(const char *path, int64_t t0_ns, struct fl_history **out)
{
	struct fl_history *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	if ((r = fl_jsonl_open(path, t0_ns, &h->out)) < 0) {
		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	return 0;
}

/* A free slot of h->open, the table grown when all are taken. */
static struct open_op *open_slot(struct fl_history *h)
{
	struct open_op *v;
	size_t cap, old = h->cap;

	for (size_t k = 0; k < h->cap; k++)
		if (h->open[k].i < 0)
			return &h->open[k];
	cap = old ? old * 2 : 16;
	if (!(v = realloc(h->open, cap * sizeof(*v))))
		return NULL;
	for (size_t k = old; k < cap; k++)
		v[k] = (struct open_op){ .i = -1 };
	h->open = v;
	h->cap = cap;
	return &h->open[old];
}

int64_t fl_history_invoke(struct fl_history *h, int process, const char *node, enum fl_op_f f,
			  const char *key, const char *value, const char *expect)
{
	struct open_op *op;
	json_t *o;
	int64_t i;
	int r, final;

	pthread_mutex_lock(&h->lock);
	final = h->final;
	if (!(op = open_slot(h))) {
		pthread_mutex_unlock(&h->lock);
		return -ENOMEM;
	}
	i = h->next++;
	*op = (struct open_op){ .i = i, .process = process, .f = f, .final = final,
				.key = key ? strdup(key) : NULL };
	snprintf(op->node, sizeof(op->node), "%s", node ? node : "");
	pthread_mutex_unlock(&h->lock);
	o = json_pack("{s:I, s:s, s:I, s:i, s:s, s:s}", "i", (json_int_t)i, "type", "invoke", "t",
		      (json_int_t)fl_jsonl_now(h->out), "process", process, "node", node ? node : "",
		      "f", fl_op_f_to_string(f));
	if (key)
		json_object_set_new(o, "key", json_string(key));
	if (value)
		json_object_set_new(o, "value", json_string(value));
	if (expect)
		json_object_set_new(o, "expect", json_string(expect));
	if (final)
		json_object_set_new(o, "final", json_true());
	if ((r = fl_jsonl_write(h->out, o)) < 0) {
		/* not in the file: nothing to complete */
		pthread_mutex_lock(&h->lock);
		for (size_t k = 0; k < h->cap; k++)
			if (h->open[k].i == i) {
				free(h->open[k].key);
				h->open[k] = (struct open_op){ .i = -1 };
			}
		pthread_mutex_unlock(&h->lock);
		return r;
	}
	return i;
}

static int complete(struct fl_history *h, int64_t i, enum fl_outcome oc, json_t *value,
		    const char *error)
{
	struct open_op op;
	json_t *o;
	size_t k;

	pthread_mutex_lock(&h->lock);
	for (k = 0; i >= 0 && k < h->cap && h->open[k].i != i; k++)
		;
	if (i < 0 || k == h->cap) {
		pthread_mutex_unlock(&h->lock);
		json_decref(value);
		return -EINVAL;
	}
	op = h->open[k];
	h->open[k] = (struct open_op){ .i = -1 };
	pthread_mutex_unlock(&h->lock);
	o = json_pack("{s:I, s:s, s:I, s:i, s:s, s:s}", "i", (json_int_t)i, "type",
		      fl_outcome_to_string(oc), "t", (json_int_t)fl_jsonl_now(h->out), "process",
		      op.process, "node", op.node, "f", fl_op_f_to_string(op.f));
	if (op.key)
		json_object_set_new(o, "key", json_string(op.key));
	if (value)
		json_object_set_new(o, "value", value);
	if (error)
		json_object_set_new(o, "error", json_string(error));
	if (op.final)
		json_object_set_new(o, "final", json_true());
	free(op.key);
	return fl_jsonl_write(h->out, o);
}

int fl_history_complete(struct fl_history *h, int64_t i, enum fl_outcome oc, const char *value,
			const char *error)
{
	return complete(h, i, oc, value ? json_string(value) : NULL, error);
}

int fl_history_complete_set(struct fl_history *h, int64_t i, enum fl_outcome oc,
			    char *const *elems, const char *error)
{
	json_t *a = NULL;

	if (elems) {
		a = json_array();
		for (size_t k = 0; elems[k]; k++)
			json_array_append_new(a, json_string(elems[k]));
	}
	return complete(h, i, oc, a, error);
}

int fl_history_error(struct fl_history *h)
{
	return fl_jsonl_error(h->out);
}

void fl_history_close(struct fl_history *h)
{
	if (!h)
		return;
	for (size_t k = 0; k < h->cap; k++)
		free(h->open[k].key);
	free(h->open);
	fl_jsonl_close(h->out);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* --- reader ----------------------------------------------------------------- */

static char *dup_str(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int cmp_invoke(const void *a, const void *b)
{
	const struct fl_op *x = a, *y = b;

	if (x->invoke_ns != y->invoke_ns)
		return x->invoke_ns < y->invoke_ns ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* The writer numbers ops from 0 as they are invoked, so a line's index is
 * below the count of lines before it plus those lost. A bigger one is
 * damage, not a reason to allocate for it: a hostile "i" of 2^62 wrapped
 * the slot table's size (heap overflow) and 10^8 took 800 MB and seconds
 * (tests/fuzz/regress/history/). Lost lines beyond this many are taken
 * for damage too. */
#define MAX_INDEX_AHEAD (1 << 20)

/* Is o an op line faultline could have written? The checks read these
 * fields unguarded. */
static int line_ok(json_t *o, const char **type, json_int_t *i)
{
	json_t *iv = json_object_get(o, "i"), *t = json_object_get(o, "t");
	json_t *key = json_object_get(o, "key");

	*type = json_string_value(json_object_get(o, "type"));
	if (!json_is_object(o) || !*type || !json_is_integer(iv) || !json_is_integer(t) ||
	    (key && !json_is_string(key)))
		return 0;
	*i = json_integer_value(iv);
	return *i >= 0 && json_integer_value(t) >= 0;
}

int fl_history_load(const char *path, struct fl_ops *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, vcap = 0;
	ssize_t len;
	struct fl_op *v = NULL;
	int64_t maxi = -1;
	int64_t *slot = NULL; /* index -> position in v; -1 no line, -2 orphan completion */
	size_t scap = 0, lineno = 0;
	struct fl_history_damage *dm = &out->damage;

	memset(out, 0, sizeof(*out));
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -errno;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		json_t *o = json_loadb(line, (size_t)len, 0, NULL);
		const char *type = NULL;
		json_int_t i = -1;
		int oc, fn;

		lineno++;
		if (!line_ok(o, &type, &i) || (size_t)i >= lineno + MAX_INDEX_AHEAD) {
			dm->bad_lines++;
			if (line[len - 1] != '\n')
				dm->torn_tail = 1; /* only the last line can lack its newline */
			json_decref(o);
			continue;
		}
		if ((size_t)i >= scap) {
			size_t nc = scap ? scap : 1024;
			while (nc <= (size_t)i)
				nc *= 2;
			int64_t *ns = realloc(slot, nc * sizeof(*ns));
			if (!ns)
				goto oom;
			for (size_t k = scap; k < nc; k++)
				ns[k] = -1;
			slot = ns;
			scap = nc;
		}
		if (i > maxi)
			maxi = i;
		fn = fl_op_f_from_string(json_string_value(json_object_get(o, "f")));
		if (!strcmp(type, "invoke")) {
			struct fl_op *op;
			json_t *val = json_object_get(o, "value");
			if (fn < 0 || ((fn == FL_F_WRITE || fn == FL_F_CAS || fn == FL_F_ADD) &&
				       !json_is_string(val))) {
				/* a write whose value is gone cannot be judged */
				dm->bad_lines++;
				json_decref(o);
				continue;
			}
			if (slot[i] >= 0) {
				dm->duplicates++;
				json_decref(o);
				continue;
			}
			if (out->n == vcap) {
				size_t nc = vcap ? vcap * 2 : 1024;
				struct fl_op *nv = realloc(v, nc * sizeof(*nv));
				if (!nv)
					goto oom;
				v = nv;
				vcap = nc;
			}
			op = &v[out->n];
			memset(op, 0, sizeof(*op));
			op->i = i;
			op->process = (int)json_integer_value(json_object_get(o, "process"));
			snprintf(op->node, sizeof(op->node), "%s",
				 json_string_value(json_object_get(o, "node")) ?: "");
			op->f = (enum fl_op_f)fn;
			op->key = dup_str(json_object_get(o, "key"));
			op->value = dup_str(val);
			op->expect = dup_str(json_object_get(o, "expect"));
			op->invoke_ns = json_integer_value(json_object_get(o, "t"));
			op->final = json_is_true(json_object_get(o, "final"));
			op->complete_ns = -1;
			op->outcome = FL_OUTCOME_INFO;
			slot[i] = (int64_t)out->n++;
		} else if ((oc = fl_outcome_from_string(type)) >= 0) {
			struct fl_op *op;
			json_t *val = json_object_get(o, "value");
			if (slot[i] < 0) {
				dm->orphans++;
				slot[i] = -2;
				json_decref(o);
				continue;
			}
			op = &v[slot[i]];
			if (op->complete_ns >= 0) {
				dm->duplicates++;
				json_decref(o);
				continue;
			}
			if (oc == FL_OUTCOME_OK &&
			    ((op->f == FL_F_READ_ALL && !json_is_array(val)) ||
			     (op->f == FL_F_READ && val && !json_is_string(val) && !json_is_null(val)))) {
				/* a read that answered, but what it read is gone */
				dm->bad_lines++;
				json_decref(o);
				continue;
			}
			op->outcome = (enum fl_outcome)oc;
			op->complete_ns = json_integer_value(json_object_get(o, "t"));
			if (oc == FL_OUTCOME_OK && op->f != FL_F_WRITE && op->f != FL_F_CAS &&
			    op->f != FL_F_ADD) {
				free(op->value);
				op->value = dup_str(val);
				if (json_is_array(val)) {
					size_t k, m = json_array_size(val);
					json_t *e;
					op->elems = calloc(m + 1, sizeof(*op->elems));
					if (!op->elems) {
						json_decref(o);
						goto oom;
					}
					json_array_foreach(val, k, e) {
						char *d;
						if (!json_is_string(e))
							continue;
						if (!(d = strdup(json_string_value(e)))) {
							json_decref(o);
							goto oom;
						}
						op->elems[op->nelems++] = d;
					}
				}
			}
			op->error = dup_str(json_object_get(o, "error"));
		} else {
			dm->bad_lines++;
		}
		json_decref(o);
	}
	for (int64_t k = 0; k < maxi; k++)
		if (slot[k] == -1)
			dm->dropped++;
	out->bad_lines = dm->bad_lines;
	free(line);
	free(slot);
	fclose(f);
	out->v = v;
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_invoke);
	return 0;
oom:
	free(line);
	free(slot);
	fclose(f);
	out->v = v;
	fl_ops_release(out);
	snprintf(err, errlen, "out of memory reading '%s'", path);
	return -ENOMEM;
}

size_t fl_history_damage_count(const struct fl_history_damage *dm)
{
	return dm->bad_lines + dm->orphans + dm->duplicates + dm->dropped;
}

void fl_history_damage_describe(const struct fl_history_damage *dm, char *buf, size_t len)
{
	size_t at = 0;

#define PART(...)                                                                              \
	do {                                                                                   \
		if (at < len)                                                                  \
			at += (size_t)snprintf(buf + at, len - at, __VA_ARGS__);               \
	} while (0)
	if (len)
		buf[0] = 0;
	if (dm->bad_lines)
		PART("%zu history line%s unreadable%s", dm->bad_lines,
		     dm->bad_lines == 1 ? "" : "s",
		     dm->torn_tail ? (dm->bad_lines == 1 ? " (the last, torn)"
							  : " (the last one torn)") : "");
	if (dm->orphans)
		PART("%s%zu completion%s without its invoke line", at ? ", " : "", dm->orphans,
		     dm->orphans == 1 ? "" : "s");
	if (dm->duplicates)
		PART("%s%zu op line%s repeated", at ? ", " : "", dm->duplicates,
		     dm->duplicates == 1 ? "" : "s");
	if (dm->dropped)
		PART("%s%zu op%s dropped (no line at all)", at ? ", " : "", dm->dropped,
		     dm->dropped == 1 ? "" : "s");
#undef PART
}

json_t *fl_history_damage_json(const struct fl_history_damage *dm)
{
	return json_pack("{s:I, s:b, s:I, s:I, s:I}", "bad_lines", (json_int_t)dm->bad_lines,
			 "torn_tail", dm->torn_tail, "orphan_completions", (json_int_t)dm->orphans,
			 "repeated", (json_int_t)dm->duplicates, "dropped_ops",
			 (json_int_t)dm->dropped);
}

void fl_ops_release(struct fl_ops *ops)
{
	for (size_t i = 0; i < ops->n; i++) {
		free(ops->v[i].key);
		free(ops->v[i].value);
		free(ops->v[i].expect);
		free(ops->v[i].error);
		for (size_t k = 0; k < ops->v[i].nelems; k++)
			free(ops->v[i].elems[k]);
		free(ops->v[i].elems);
	}
	free(ops->v);
	memset(ops, 0, sizeof(*ops));
}
