/* YAML to a positioned tree through libyaml's event API. Everything that
 * can make a hostile file expensive is bounded here: bytes, nesting, and the
 * number of nodes after alias and merge-key expansion. libyaml's marks are
 * 0-based; ours are 1-based. libyaml errors never leave this file. */
#include "faultline/ytree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct anchor {
	char *name;
	struct fl_ynode *node;
	int done; /* an alias to an anchor still open would be a cycle */
};

struct frame {
	struct fl_ynode *node;
	struct fl_ynode *key;    /* map: key waiting for its value */
	struct fl_ynode **merge; /* map: "<<" sources, applied at the end */
	size_t nmerge;
	char *anchor;            /* anchor of this collection, registered at start */
};

struct builder {
	const char *file;
	struct fl_diags *d;
	size_t nodes;
	struct frame stack[FL_YAML_MAX_DEPTH + 1];
	int depth;
	struct anchor *anchors;
	size_t nanchors;
	yaml_mark_t alias_mark; /* while copying an alias: where it is */
	int in_alias;
	struct fl_ynode *root;
	int failed;
};

/* Node heights are tracked so alias copies cannot nest deeper than the limit
 * (deep recursion in later passes would otherwise be possible). */
struct hnode {
	struct fl_ynode n;
	int height;
};

static int height_of(const struct fl_ynode *n)
{
	return ((const struct hnode *)n)->height;
}

static struct fl_ynode *node_new(struct builder *b, enum fl_ykind kind, yaml_mark_t m)
{
	struct hnode *h;

	if (b->nodes >= FL_YAML_MAX_NODES) {
		if (b->in_alias)
			m = b->alias_mark;
		if (!b->failed)
			fl_diags_add(b->d, b->file, (int)m.line + 1, (int)m.column + 1,
				     "document too large: more than %d nodes (after expanding aliases)",
				     FL_YAML_MAX_NODES);
		b->failed = 1;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		b->failed = 1;
		return NULL;
	}
	b->nodes++;
	h->n.kind = kind;
	h->n.line = (int)m.line + 1;
	h->n.col = (int)m.column + 1;
	h->n.file = b->file;
	h->height = 1;
	return &h->n;
}

void fl_ynode_free(struct fl_ynode *n)
{
	if (!n)
		return;
	free(n->str);
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == FL_Y_SEQ) {
			fl_ynode_free(n->items[i]);
		} else if (n->kind == FL_Y_MAP) {
			fl_ynode_free(n->pairs[i].key);
			fl_ynode_free(n->pairs[i].val);
		}
	}
	free(n->items);
	free(n->pairs);
	free((struct hnode *)n);
}

static struct fl_ynode *node_copy(struct builder *b, const struct fl_ynode *src)
{
	yaml_mark_t m = { .line = (size_t)src->line - 1, .column = (size_t)src->col - 1 };
	struct fl_ynode *n = node_new(b, src->kind, m);

	if (!n)
		return NULL;
	n->file = src->file;
	n->plain = src->plain;
	n->at = src->at;
	n->end = src->end;
	((struct hnode *)n)->height = height_of(src);
	if (src->str && !(n->str = strdup(src->str)))
		goto fail;
	if (src->kind == FL_Y_SEQ && src->n) {
		if (!(n->items = calloc(src->n, sizeof(*n->items))))
			goto fail;
		for (size_t i = 0; i < src->n; i++, n->n++)
			if (!(n->items[i] = node_copy(b, src->items[i])))
				goto fail;
	} else if (src->kind == FL_Y_MAP && src->n) {
		if (!(n->pairs = calloc(src->n, sizeof(*n->pairs))))
			goto fail;
		for (size_t i = 0; i < src->n; i++, n->n++) {
			n->pairs[i].key = node_copy(b, src->pairs[i].key);
			n->pairs[i].val = node_copy(b, src->pairs[i].val);
			if (!n->pairs[i].key || !n->pairs[i].val) {
				n->n++;
				goto fail;
			}
		}
	}
	return n;
fail:
	b->failed = 1;
	fl_ynode_free(n);
	return NULL;
}

int fl_ynode_is_null(const struct fl_ynode *n)
{
	if (!n)
		return 1;
	if (n->kind != FL_Y_SCALAR || !n->plain)
		return 0;
	return !strcmp(n->str, "") || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
	       !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

struct fl_ynode *fl_ynode_get(const struct fl_ynode *map, const char *key)
{
	if (!map || map->kind != FL_Y_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->pairs[i].key->str, key))
			return map->pairs[i].val;
	return NULL;
}

const char *fl_ykind_name(const struct fl_ynode *n)
{
	if (fl_ynode_is_null(n))
		return "nothing (null)";
	switch (n->kind) {
	case FL_Y_SCALAR:
		return "a scalar";
	case FL_Y_SEQ:
		return "a list";
	case FL_Y_MAP:
		return "a mapping";
	}
	return "?";
}

static int push_child(struct builder *b, struct fl_ynode *parent, struct fl_ynode *child)
{
	if (parent->kind == FL_Y_SEQ) {
		struct fl_ynode **v = realloc(parent->items, (parent->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		parent->items = v;
		parent->items[parent->n++] = child;
	} else {
		struct fl_ypair *v = realloc(parent->pairs, (parent->n + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		parent->pairs = v;
		parent->pairs[parent->n].key = NULL; /* filled by caller */
		parent->pairs[parent->n].val = child;
		parent->n++;
	}
	if (height_of(child) + 1 > ((struct hnode *)parent)->height)
		((struct hnode *)parent)->height = height_of(child) + 1;
	(void)b;
	return 0;
}

static struct fl_ynode *map_find(struct fl_ynode *map, const char *key)
{
	return fl_ynode_get(map, key);
}

static int is_merge_key(const struct fl_ynode *k)
{
	return k->kind == FL_Y_SCALAR && k->plain && !strcmp(k->str, "<<");
}

/* Attach a finished node to the parent frame (or make it the root). */
static void attach(struct builder *b, struct fl_ynode *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = n;
		return;
	}
	f = &b->stack[b->depth - 1];
	if (b->depth + height_of(n) - 1 > FL_YAML_MAX_DEPTH) {
		fl_diags_add(b->d, b->file, n->line, n->col,
			     "nesting too deep (more than %d levels)", FL_YAML_MAX_DEPTH);
		b->failed = 1;
		fl_ynode_free(n);
		return;
	}
	if (f->node->kind == FL_Y_SEQ) {
		if (push_child(b, f->node, n) < 0) {
			b->failed = 1;
			fl_ynode_free(n);
		}
		return;
	}
	/* mapping: either a key or a value */
	if (!f->key) {
		if (n->kind != FL_Y_SCALAR) {
			fl_diags_add(b->d, b->file, n->line, n->col,
				     "a mapping key must be a plain word, not %s", fl_ykind_name(n));
			/* keep a placeholder key so the value has somewhere to go */
			free(n->str);
			n->str = strdup("?");
			for (size_t i = 0; i < n->n; i++) {
				if (n->kind == FL_Y_SEQ)
					fl_ynode_free(n->items[i]);
				else {
					fl_ynode_free(n->pairs[i].key);
					fl_ynode_free(n->pairs[i].val);
				}
			}
			free(n->items);
			free(n->pairs);
			n->items = NULL;
			n->pairs = NULL;
			n->n = 0;
			n->kind = FL_Y_SCALAR;
			n->plain = 0;
			n->line = -n->line; /* marks it as already reported */
		}
		f->key = n;
		return;
	}
	if (f->key->line > 0 && is_merge_key(f->key)) {
		struct fl_ynode **v = realloc(f->merge, (f->nmerge + 1) * sizeof(*v));
		if (!v) {
			b->failed = 1;
			fl_ynode_free(n);
		} else {
			f->merge = v;
			f->merge[f->nmerge++] = n;
		}
		fl_ynode_free(f->key);
		f->key = NULL;
		return;
	}
	if (f->key->line > 0) {
		struct fl_ynode *old = map_find(f->node, f->key->str);
		if (old) {
			size_t i;
			for (i = 0; i < f->node->n; i++)
				if (f->node->pairs[i].val == old)
					break;
			fl_diags_add(b->d, b->file, f->key->line, f->key->col,
				     "duplicate key '%s' (first given at line %d)", f->key->str,
				     f->node->pairs[i].key->line);
		}
	} else {
		f->key->line = -f->key->line;
	}
	if (push_child(b, f->node, n) < 0) {
		b->failed = 1;
		fl_ynode_free(n);
		fl_ynode_free(f->key);
	} else {
		f->node->pairs[f->node->n - 1].key = f->key;
	}
	f->key = NULL;
}

/* "<<: *defaults" and "<<: [*a, *b]": keys already present win. */
static void apply_merges(struct builder *b, struct frame *f)
{
	for (size_t m = 0; m < f->nmerge; m++) {
		struct fl_ynode *src = f->merge[m];
		struct fl_ynode *one[1] = { src }, **list = one;
		size_t nlist = 1;

		if (src->kind == FL_Y_SEQ) {
			list = src->items;
			nlist = src->n;
		}
		for (size_t i = 0; i < nlist && !b->failed; i++) {
			struct fl_ynode *s = list[i];
			if (s->kind != FL_Y_MAP) {
				fl_diags_add(b->d, b->file, s->line, s->col,
					     "'<<' merges mappings, not %s", fl_ykind_name(s));
				continue;
			}
			for (size_t j = 0; j < s->n && !b->failed; j++) {
				struct fl_ynode *k, *v;
				if (map_find(f->node, s->pairs[j].key->str))
					continue;
				k = node_copy(b, s->pairs[j].key);
				v = k ? node_copy(b, s->pairs[j].val) : NULL;
				if (!v || push_child(b, f->node, v) < 0) {
					fl_ynode_free(k);
					fl_ynode_free(v);
					b->failed = 1;
					break;
				}
				f->node->pairs[f->node->n - 1].key = k;
			}
		}
		fl_ynode_free(src);
	}
	free(f->merge);
	f->merge = NULL;
	f->nmerge = 0;
}

/* Is n the node t or inside it? */
static int node_within(const struct fl_ynode *n, const struct fl_ynode *t)
{
	if (!t)
		return 0;
	if (n == t)
		return 1;
	for (size_t i = 0; t->kind == FL_Y_SEQ && i < t->n; i++)
		if (node_within(n, t->items[i]))
			return 1;
	for (size_t i = 0; t->kind == FL_Y_MAP && i < t->n; i++)
		if (node_within(n, t->pairs[i].key) || node_within(n, t->pairs[i].val))
			return 1;
	return 0;
}

/* A node about to be freed: anchors to it or inside it name nothing now
 * (an alias to them is an unknown alias, not a use after free: fuzz_scenario) */
static void anchors_forget(struct builder *b, const struct fl_ynode *t)
{
	for (size_t i = 0; i < b->nanchors; i++)
		if (b->anchors[i].node && node_within(b->anchors[i].node, t))
			b->anchors[i].node = NULL;
}

static struct anchor *anchor_find(struct builder *b, const char *name)
{
	/* latest definition wins, as YAML says */
	for (size_t i = b->nanchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, name))
			return &b->anchors[i];
	return NULL;
}

static void anchor_add(struct builder *b, const char *name, struct fl_ynode *n, int done)
{
	struct anchor *v = realloc(b->anchors, (b->nanchors + 1) * sizeof(*v));
	if (!v) {
		b->failed = 1;
		return;
	}
	b->anchors = v;
	b->anchors[b->nanchors].name = strdup(name);
	b->anchors[b->nanchors].node = n;
	b->anchors[b->nanchors].done = done;
	b->nanchors++;
}

static void anchor_finish(struct builder *b, struct fl_ynode *n)
{
	for (size_t i = 0; i < b->nanchors; i++)
		if (b->anchors[i].node == n)
			b->anchors[i].done = 1;
}

/* Anchored nodes are referenced by pointer; they stay valid because a node,
 * once attached, is never freed before the whole tree is. Copies are made at
 * alias time, so later edits (--set) never touch two places. */
static void on_event(struct builder *b, yaml_event_t *ev)
{
	struct fl_ynode *n;
	yaml_mark_t m = ev->start_mark;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (!(n = node_new(b, FL_Y_SCALAR, m)))
			return;
		n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->at = ev->start_mark.index;
		n->end = ev->end_mark.index;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			   !(ev->data.scalar.tag &&
			     !strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG));
		if (!n->str) {
			b->failed = 1;
			fl_ynode_free(n);
			return;
		}
		if (strlen(n->str) != ev->data.scalar.length)
			fl_diags_add(b->d, b->file, n->line, n->col,
				     "text contains a NUL character");
		if (ev->data.scalar.anchor)
			anchor_add(b, (const char *)ev->data.scalar.anchor, n, 1);
		attach(b, n);
		return;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (b->depth >= FL_YAML_MAX_DEPTH) {
			fl_diags_add(b->d, b->file, (int)m.line + 1, (int)m.column + 1,
				     "nesting too deep (more than %d levels)", FL_YAML_MAX_DEPTH);
			b->failed = 1;
			return;
		}
		n = node_new(b, ev->type == YAML_SEQUENCE_START_EVENT ? FL_Y_SEQ : FL_Y_MAP, m);
		if (!n)
			return;
		b->stack[b->depth] = (struct frame){ .node = n };
		b->depth++;
		{
			yaml_char_t *a = ev->type == YAML_SEQUENCE_START_EVENT
						 ? ev->data.sequence_start.anchor
						 : ev->data.mapping_start.anchor;
			if (a)
				anchor_add(b, (const char *)a, n, 0);
		}
		return;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		struct frame *f = &b->stack[b->depth - 1];
		if (f->key) { /* cannot happen with a well-formed stream */
			anchors_forget(b, f->key);
			fl_ynode_free(f->key);
			f->key = NULL;
		}
		apply_merges(b, f);
		n = f->node;
		b->depth--;
		anchor_finish(b, n);
		attach(b, n);
		return;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		struct anchor *a = anchor_find(b, name);
		if (!a || !a->node) {
			fl_diags_add(b->d, b->file, (int)m.line + 1, (int)m.column + 1,
				     "unknown alias '*%s' (no anchor '&%s' before it)", name, name);
			return;
		}
		if (!a->done) {
			fl_diags_add(b->d, b->file, (int)m.line + 1, (int)m.column + 1,
				     "alias '*%s' refers to a node that contains it", name);
			b->failed = 1;
			return;
		}
		b->alias_mark = m;
		b->in_alias = 1;
		n = node_copy(b, a->node);
		b->in_alias = 0;
		if (!n)
			return;
		n->line = (int)m.line + 1;
		n->col = (int)m.column + 1;
		attach(b, n);
		return;
	}
	default:
		return;
	}
}

/* Reports the first invalid UTF-8 sequence or NUL byte with its position;
 * libyaml would only give a byte offset. Columns count characters. */
static int check_utf8(const char *name, const unsigned char *s, size_t len, struct fl_diags *d)
{
	int line = 1, col = 1;
	size_t i = 0;

	if (len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf)
		i = 3;
	while (i < len) {
		unsigned c = s[i];
		size_t need = 0;
		uint32_t cp = 0;

		if (c == 0) {
			fl_diags_add(d, name, line, col, "file contains a NUL byte (not a text file?)");
			return -EINVAL;
		}
		if (c < 0x80) {
			i++;
			if (c == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07;
		else
			goto bad;
		for (size_t k = 1; k <= need; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += need + 1;
		col++;
		continue;
bad:
		fl_diags_add(d, name, line, col,
			     "invalid UTF-8 (byte 0x%02x); scenarios must be UTF-8 text", c);
		return -EINVAL;
	}
	return 0;
}

static const char *intern(struct fl_ydoc *doc, const char *name)
{
	char **v = realloc(doc->names, (doc->nnames + 1) * sizeof(*v));
	if (!v)
		return NULL;
	doc->names = v;
	if (!(v[doc->nnames] = strdup(name)))
		return NULL;
	return v[doc->nnames++];
}

static int parse_into(const char *file, const char *buf, size_t len, struct fl_diags *d,
		      struct fl_ynode **out)
{
	yaml_parser_t p;
	struct builder b = { .file = file, .d = d };
	int docs = 0, done = 0;
	size_t before = d->n;

	*out = NULL;
	if (len > FL_YAML_MAX_BYTES) {
		fl_diags_add(d, file, 0, 0, "file too large (%zu bytes; the limit is %d)", len,
			     FL_YAML_MAX_BYTES);
		return -EFBIG;
	}
	if (check_utf8(file, (const unsigned char *)buf, len, d) < 0)
		return -EINVAL;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done && !b.failed) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			const char *what = p.problem ? p.problem : "syntax error";
			int line = (int)p.problem_mark.line + 1, col = (int)p.problem_mark.column + 1;
			if (p.problem_mark.index < len && buf[p.problem_mark.index] == '\t')
				fl_diags_add(d, file, line, col, "YAML syntax error: a tab cannot indent "
								 "YAML; use spaces");
			else if (p.error == YAML_READER_ERROR)
				fl_diags_add(d, file, 0, 0, "cannot read YAML: %s", what);
			else if (p.context && (int)p.context_mark.line + 1 != line)
				fl_diags_add(d, file, line, col, "YAML syntax error: %s %s (line %d)",
					     what, p.context, (int)p.context_mark.line + 1);
			else if (p.context)
				fl_diags_add(d, file, line, col, "YAML syntax error: %s %s", what,
					     p.context);
			else
				fl_diags_add(d, file, line, col, "YAML syntax error: %s", what);
			b.failed = 1;
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			fl_diags_add(d, file, (int)ev.start_mark.line + 1,
				     (int)ev.start_mark.column + 1,
				     "a scenario file holds one YAML document; found a second '---'");
			b.failed = 1;
		} else if (ev.type == YAML_STREAM_END_EVENT) {
			done = 1;
		} else {
			on_event(&b, &ev);
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	/* unwind a partial tree */
	while (b.depth > 0) {
		struct frame *f = &b.stack[--b.depth];
		fl_ynode_free(f->key);
		for (size_t i = 0; i < f->nmerge; i++)
			fl_ynode_free(f->merge[i]);
		free(f->merge);
		fl_ynode_free(f->node);
	}
	for (size_t i = 0; i < b.nanchors; i++)
		free(b.anchors[i].name);
	free(b.anchors);
	if (b.failed || d->n > before) {
		fl_ynode_free(b.root);
		return -EINVAL;
	}
	*out = b.root;
	return 0;
}

int fl_ytree_parse(struct fl_ydoc *doc, const char *name, const char *buf, size_t len,
		   struct fl_diags *d)
{
	const char *file = intern(doc, name);

	if (!file)
		return -ENOMEM;
	fl_ynode_free(doc->root);
	return parse_into(file, buf, len, d, &doc->root);
}

int fl_ytree_load_file(struct fl_ydoc *doc, const char *path, struct fl_diags *d)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		fl_diags_add(d, path, 0, 0, "cannot open: %s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		fl_diags_add(d, path, 0, 0, "cannot stat: %s", strerror(errno));
		close(fd);
		return r;
	}
	if (S_ISDIR(st.st_mode)) {
		fl_diags_add(d, path, 0, 0, "is a directory, not a scenario file");
		close(fd);
		return -EISDIR;
	}
	if (!S_ISREG(st.st_mode)) {
		fl_diags_add(d, path, 0, 0, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > FL_YAML_MAX_BYTES) {
		fl_diags_add(d, path, 0, 0, "file too large (%lld bytes; the limit is %d)",
			     (long long)st.st_size, FL_YAML_MAX_BYTES);
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len <= (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			fl_diags_add(d, path, 0, 0, "cannot read: %s", strerror(errno));
			free(buf);
			close(fd);
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	if (len > (size_t)st.st_size) {
		fl_diags_add(d, path, 0, 0, "file changed while being read");
		free(buf);
		return -EAGAIN;
	}
	r = fl_ytree_parse(doc, path, buf, len, d);
	free(buf);
	return r;
}

void fl_ydoc_release(struct fl_ydoc *doc)
{
	if (!doc)
		return;
	fl_ynode_free(doc->root);
	for (size_t i = 0; i < doc->nnames; i++)
		free(doc->names[i]);
	free(doc->names);
	memset(doc, 0, sizeof(*doc));
}

static struct fl_ynode *new_map(const char *file)
{
	struct hnode *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->n.kind = FL_Y_MAP;
	h->n.line = 1;
	h->n.col = 1;
	h->n.file = file;
	h->height = 1;
	return &h->n;
}

static struct fl_ynode *new_key(const char *file, const char *k, size_t len)
{
	struct fl_ynode *n = new_map(file);
	if (!n)
		return NULL;
	n->kind = FL_Y_SCALAR;
	n->plain = 1;
	if (!(n->str = strndup(k, len))) {
		fl_ynode_free(n);
		return NULL;
	}
	return n;
}

static void forget_text(struct fl_ynode *n)
{
	if (!n)
		return;
	n->at = n->end = 0;
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == FL_Y_SEQ) {
			forget_text(n->items[i]);
		} else if (n->kind == FL_Y_MAP) {
			forget_text(n->pairs[i].key);
			forget_text(n->pairs[i].val);
		}
	}
}

int fl_ytree_set(struct fl_ydoc *doc, const char *assign, struct fl_diags *d)
{
	const char *eq = strchr(assign, '='), *p, *file;
	struct fl_ynode *val = NULL, **slot;
	char *name;
	int r;

	if (!eq || eq == assign) {
		fl_diags_add(d, "--set", 0, 0, "expected PATH=VALUE (e.g. workload.clients=20), got '%s'",
			     assign);
		return -EINVAL;
	}
	if (asprintf(&name, "--set %.*s", (int)(eq - assign), assign) < 0)
		return -ENOMEM;
	file = intern(doc, name);
	free(name);
	if (!file)
		return -ENOMEM;
	r = parse_into(file, eq + 1, strlen(eq + 1), d, &val);
	forget_text(val); /* its text is in the override, not in the file */
	if (r < 0)
		return r;
	if (!val) { /* "--set description=" sets null */
		if (!(val = new_key(file, "", 0)))
			return -ENOMEM;
	}
	slot = &doc->root;
	p = assign;
	while (p < eq) {
		const char *dot = memchr(p, '.', (size_t)(eq - p));
		size_t klen = (size_t)((dot ? dot : eq) - p);
		struct fl_ynode *cur;

		if (klen == 0) {
			fl_diags_add(d, file, 0, 0, "empty path component");
			fl_ynode_free(val);
			return -EINVAL;
		}
		if (!*slot || fl_ynode_is_null(*slot)) {
			fl_ynode_free(*slot);
			if (!(*slot = new_map(file))) {
				fl_ynode_free(val);
				return -ENOMEM;
			}
		}
		cur = *slot;
		slot = NULL;
		if (cur->kind == FL_Y_SEQ) {
			char *end;
			unsigned long idx = strtoul(p, &end, 10);
			if (end != p + klen) {
				fl_diags_add(d, file, 0, 0, "'%.*s' is a list: use an index (0, 1, ...)",
					     (int)(p - assign + (long)klen), assign);
				fl_ynode_free(val);
				return -EINVAL;
			}
			if (idx >= cur->n) {
				fl_diags_add(d, file, 0, 0, "index %lu is past the end of '%.*s' (%zu items)",
					     idx, (int)(p - assign - 1), assign, cur->n);
				fl_ynode_free(val);
				return -EINVAL;
			}
			slot = &cur->items[idx];
		} else if (cur->kind == FL_Y_MAP) {
			for (size_t i = 0; i < cur->n; i++)
				if (strlen(cur->pairs[i].key->str) == klen &&
				    !strncmp(cur->pairs[i].key->str, p, klen))
					slot = &cur->pairs[i].val;
			if (!slot) {
				struct fl_ypair *v = realloc(cur->pairs, (cur->n + 1) * sizeof(*v));
				struct fl_ynode *k = new_key(file, p, klen);
				if (!v || !k) {
					if (v)
						cur->pairs = v;
					fl_ynode_free(k);
					fl_ynode_free(val);
					return -ENOMEM;
				}
				cur->pairs = v;
				cur->pairs[cur->n].key = k;
				cur->pairs[cur->n].val = NULL;
				slot = &cur->pairs[cur->n].val;
				cur->n++;
			}
		} else {
			fl_diags_add(d, file, 0, 0, "'%.*s' is a single value, it has no field '%.*s'",
				     (int)(p - assign - 1), assign, (int)klen, p);
			fl_ynode_free(val);
			return -EINVAL;
		}
		p += klen + (dot ? 1 : 0);
	}
	fl_ynode_free(*slot);
	*slot = val;
	return 0;
}
