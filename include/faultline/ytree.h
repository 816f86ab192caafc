/* A YAML document as a small tree with source positions, built from
 * libyaml's event stream. It exists so the scenario parser can report
 * "file:line:col" for every value, and so hostile input is refused before
 * anything looks at it: a size limit, a nesting limit, and a node budget that
 * counts alias expansion (alias bombs end in an error, not in memory). */
#ifndef FAULTLINE_YTREE_H
#define FAULTLINE_YTREE_H

#include <stddef.h>

#include "faultline/diag.h"

#define FL_YAML_MAX_BYTES (1024 * 1024)
#define FL_YAML_MAX_DEPTH 64
#define FL_YAML_MAX_NODES 100000

enum fl_ykind { FL_Y_SCALAR, FL_Y_SEQ, FL_Y_MAP };

struct fl_ynode;

struct fl_ypair {
	struct fl_ynode *key; /* always a scalar */
	struct fl_ynode *val;
};

struct fl_ynode {
	enum fl_ykind kind;
	int line, col;   /* 1-based */
	const char *file; /* owned by the fl_ydoc */
	/* scalar */
	char *str;
	int plain;       /* unquoted scalar: "null"/"~"/"" mean null */
	/* scalar: where its text is in the input, as libyaml's character
	 * indices [at, end); 0, 0 for a node made by fl_ytree_set */
	size_t at, end;
	/* seq */
	struct fl_ynode **items;
	/* map */
	struct fl_ypair *pairs;
	size_t n;
};

/* A document: the tree plus the input names its nodes point to. */
struct fl_ydoc {
	struct fl_ynode *root; /* NULL for an empty document */
	char **names;
	size_t nnames;
};

/* Parse one YAML document from memory into doc (zeroed by the caller).
 * Returns 0, or -EINVAL with every problem added to d. Limits as above. */
int fl_ytree_parse(struct fl_ydoc *doc, const char *name, const char *buf, size_t len,
		   struct fl_diags *d);

/* Read a file (refusing directories, non-regular files and files over the
 * size limit) and parse it. */
int fl_ytree_load_file(struct fl_ydoc *doc, const char *path, struct fl_diags *d);

void fl_ydoc_release(struct fl_ydoc *doc);
void fl_ynode_free(struct fl_ynode *n);

/* True for a plain null scalar ("", "~", "null", "Null", "NULL"). */
int fl_ynode_is_null(const struct fl_ynode *n);

/* Map lookup by key; NULL if absent or not a map. */
struct fl_ynode *fl_ynode_get(const struct fl_ynode *map, const char *key);

/* "a scalar", "a list", "a mapping" for messages. */
const char *fl_ykind_name(const struct fl_ynode *n);

/* Apply "--set path=value": path is dot-separated keys (list items by index,
 * "nemesis.0.for"); missing mappings are created; value is parsed as YAML
 * (so "[n1, n2]" is a list). Errors go to d under the name "--set PATH". */
int fl_ytree_set(struct fl_ydoc *doc, const char *assignment, struct fl_diags *d);

#endif
