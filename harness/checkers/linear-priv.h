/* Shared between linear.c (the search) and models.c (the sequential
 * specifications). Not part of the public API. A model context belongs to
 * one partition and one thread: no locking, and after set-up the only
 * allocations are new derived states (a kv string or a set never seen). */
#ifndef FAULTLINE_LINEAR_PRIV_H
#define FAULTLINE_LINEAR_PRIV_H

#include "faultline/linear.h"

#include <stdbool.h>

#define LIN_ANY UINT32_MAX /* state unknown (window checks start there) */
#define LIN_KV_DEAD (UINT32_MAX - 1) /* kv: a string no get can return, ever (see lin_model) */

/* An op as the search sees it: a/b already mapped to the model's ids. */
struct lin_op {
	int64_t call, ret;
	uint32_t a, b;
	uint8_t kind, flags;
	uint32_t gidx; /* index in the history */
};

/* open-addressing map uint64 -> uint32 (key 0 is reserved for "empty") */
struct lin_map {
	uint64_t *k;
	uint32_t *v;
	size_t cap, n;
};

/* kv: the polynomial hash (mod 2^61-1), length and B^length of each value
 * of the history, computed once per check and shared read-only. */
struct lin_kvpre {
	uint64_t *h, *pw;
	uint32_t *len;
};
int lin_kvpre_init(struct lin_kvpre *k, const struct fl_lin_history *h);
void lin_kvpre_release(struct lin_kvpre *k);

/* kv: a string made by the search: parent string (any id) + suffix (a value id) */
struct lin_kvs {
	uint64_t h;
	uint32_t len, parent, suffix;
};

struct lin_model {
	enum fl_lin_model m;
	const struct fl_lin_history *h;
	/* kv: strings as chains (id = h->nvals + i), hashed by content, so equal
	 * strings have one id whatever made them */
	const struct lin_kvpre *pre;
	struct lin_kvs *kv;
	size_t nkv, kv_cap;
	uint32_t *ktab; /* ids, UINT32_MAX empty */
	size_t ktab_cap, ktab_n;
	/* the values gets return, and (hash, length) of all their prefixes:
	 * a string outside that set can never be read again (appends only
	 * lengthen it), so all such strings are one state, LIN_KV_DEAD */
	uint32_t *reads;
	size_t nreads, reads_cap;
	struct lin_map live;
	char *buf1, *buf2;
	size_t buf_cap;
	/* set: sets (id = i, 0 = {}) */
	uint32_t *set_off, *set_n; /* into set_el */
	uint32_t *set_el;
	size_t nloc, loc_cap, nel, el_cap;
	uint32_t *ltab; /* hash of local ids */
	size_t ltab_cap;
	struct lin_map memo; /* (state, arg) -> state for append / add */
	size_t bytes;        /* memory held, for the limit */
};

int lin_model_init(struct lin_model *md, enum fl_lin_model m, const struct fl_lin_history *h,
		   const struct lin_kvpre *pre);
void lin_model_release(struct lin_model *md);
/* Map a history op to a search op (set reads become set ids). */
int lin_model_map(struct lin_model *md, const struct fl_lin_op *op, uint32_t gidx,
		  struct lin_op *out);
/* Slow path: append, add, and read/write on kv/set states. */
int lin_model_step_slow(struct lin_model *md, uint32_t s, const struct lin_op *op, uint32_t *ns);

/* One step of the sequential spec: 1 and *ns when op can take effect in
 * state s, 0 when not, -ENOMEM. Unknown-outcome ops (ret == FL_LIN_INF)
 * may also be no-ops (a cas whose compare failed). */
static inline int lin_step(struct lin_model *md, uint32_t s, const struct lin_op *op, uint32_t *ns)
{
	switch (op->kind) {
	case FL_LIN_READ:
	case FL_LIN_READ_ALL:
		if (op->ret == FL_LIN_INF) { /* never returned: constrains nothing */
			*ns = s;
			return 1;
		}
		if (s == LIN_ANY) {
			*ns = op->a;
			return 1;
		}
		*ns = s;
		return s == op->a;
	case FL_LIN_WRITE:
		*ns = op->a;
		return 1;
	case FL_LIN_CAS:
		if (op->ret == FL_LIN_INF) {
			*ns = s == LIN_ANY ? LIN_ANY : s == op->a ? op->b : s;
			return 1;
		}
		if (op->flags & FL_LIN_CAS_FAILED) {
			*ns = s;
			return s != op->a;
		}
		if (s == LIN_ANY) {
			*ns = op->b;
			return 1;
		}
		*ns = op->b;
		return s == op->a;
	default:
		return lin_model_step_slow(md, s, op, ns);
	}
}

/* intern helpers shared with linear.c */
uint64_t lin_hash_bytes(const void *p, size_t len);
/* Look a value up without inserting (thread-safe on a finished history);
 * -1 when absent. */
int64_t lin_history_find_value(const struct fl_lin_history *h, const char *s, size_t len);

void lin_sort_u32(uint32_t *v, size_t n);

int lin_map_init(struct lin_map *m, size_t cap);
void lin_map_release(struct lin_map *m);
/* 1 found (*v set), 0 absent */
int lin_map_get(const struct lin_map *m, uint64_t k, uint32_t *v);
int lin_map_put(struct lin_map *m, uint64_t k, uint32_t v);

#endif
