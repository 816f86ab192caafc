/* The linearizability search: WGL over a doubly linked list of call/return
 * events with lift/unlift, memoising (linearized set, state) in an
 * open-addressing table. The linearized set is hashed incrementally (XOR of
 * per-op random keys) and stored compactly: everything below the first
 * unlinearized op plus the few linearized beyond it, or everything below
 * the highest linearized op minus the few skipped. The inner loop never
 * allocates except to grow the table. Keys are checked in parallel threads.
 * Unknown outcomes are deferred and interchangeable ones ordered (the
 * reductions listed in linear.h; each comes with its argument here).
 * Must never report a verdict it did not prove: limits give UNKNOWN. */
#include "linear-priv.h"
#include "faultline/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const model_names[FL_LIN_MODEL__N] = { "register", "cas-register", "kv", "set" };
static const char *const kind_names[FL_LIN_KIND__N] = { "read", "write", "cas",
							"append", "add", "read_all" };

const char *fl_lin_model_to_string(enum fl_lin_model m)
{
	return fl_enum_name(model_names, FL_LIN_MODEL__N, (unsigned)m);
}

int fl_lin_model_from_string(const char *s)
{
	int i = fl_enum_index(model_names, FL_LIN_MODEL__N, s);

	return i < 0 ? -EINVAL : i;
}

const char *fl_lin_kind_to_string(enum fl_lin_kind k)
{
	return fl_enum_name(kind_names, FL_LIN_KIND__N, (unsigned)k);
}

const char *fl_lin_verdict_to_string(enum fl_lin_verdict v)
{
	return v == FL_LIN_OK ? "linearizable" : v == FL_LIN_VIOLATION ? "violation" : "unknown";
}

const char *fl_lin_limit_to_string(enum fl_lin_limit l)
{
	return l == FL_LIN_LIMIT_TIME ? "time limit" : l == FL_LIN_LIMIT_MEMORY ? "memory limit" :
	       l == FL_LIN_LIMIT_STOPPED ? "stopped" : "";
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* --- history ------------------------------------------------------------------ */

struct fl_lin_history *fl_lin_history_new(void)
{
	struct fl_lin_history *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->vals = calloc(16, sizeof(*h->vals));
	if (!h->vals) {
		free(h);
		return NULL;
	}
	h->vals_cap = 16;
	h->nvals = 1; /* id 0: nil */
	return h;
}

void fl_lin_history_free(struct fl_lin_history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->nkeys; i++)
		free(h->keys[i]);
	for (size_t i = 0; i < h->nvals; i++)
		free(h->vals[i]);
	free(h->keys);
	free(h->vals);
	free(h->ops);
	free(h->elems);
	free(h->ktab);
	free(h->vtab);
	free(h);
}

static int tab_rehash(uint32_t **tab, size_t *cap, char **strs, size_t n)
{
	size_t nc = *cap ? *cap * 2 : 256;
	uint32_t *t = malloc(nc * sizeof(*t));

	if (!t)
		return -ENOMEM;
	memset(t, 0xff, nc * sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		if (!strs[i])
			continue;
		size_t j = lin_hash_bytes(strs[i], strlen(strs[i])) & (nc - 1);
		while (t[j] != UINT32_MAX)
			j = (j + 1) & (nc - 1);
		t[j] = (uint32_t)i;
	}
	free(*tab);
	*tab = t;
	*cap = nc;
	return 0;
}

/* Find or add s in (strs, n) through tab. Strings never contain NUL here:
 * a value with an embedded NUL is cut there (the formats cannot carry one). */
static int64_t intern(uint32_t **tab, size_t *tcap, char ***strs, size_t *n, size_t *cap,
		      const char *s, size_t len, int insert)
{
	size_t j;

	if (memchr(s, 0, len))
		len = strlen(s);
	if (insert && 2 * (*n + 1) > *tcap && tab_rehash(tab, tcap, *strs, *n) < 0)
		return -ENOMEM;
	if (!*tcap)
		return -1;
	for (j = lin_hash_bytes(s, len) & (*tcap - 1); (*tab)[j] != UINT32_MAX;
	     j = (j + 1) & (*tcap - 1)) {
		const char *t = (*strs)[(*tab)[j]];
		if (!strncmp(t, s, len) && !t[len])
			return (*tab)[j];
	}
	if (!insert)
		return -1;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		char **v = realloc(*strs, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		*strs = v;
		*cap = nc;
	}
	if (!((*strs)[*n] = strndup(s, len)))
		return -ENOMEM;
	(*tab)[j] = (uint32_t)*n;
	return (int64_t)(*n)++;
}

int64_t fl_lin_history_key(struct fl_lin_history *h, const char *s, size_t len)
{
	if (!s)
		s = "", len = 0;
	return intern(&h->ktab, &h->ktab_cap, &h->keys, &h->nkeys, &h->keys_cap, s, len, 1);
}

int64_t fl_lin_history_value(struct fl_lin_history *h, const char *s, size_t len)
{
	if (!s)
		return FL_LIN_NIL;
	return intern(&h->vtab, &h->vtab_cap, &h->vals, &h->nvals, &h->vals_cap, s, len, 1);
}

int64_t lin_history_find_value(const struct fl_lin_history *h, const char *s, size_t len)
{
	/* const: intern() does not write when insert is 0 */
	struct fl_lin_history *w = (struct fl_lin_history *)h;

	return intern(&w->vtab, &w->vtab_cap, &w->vals, &w->nvals, &w->vals_cap, s, len, 0);
}

int fl_lin_history_add(struct fl_lin_history *h, const struct fl_lin_op *op, const uint32_t *elems,
		       size_t nelems)
{
	struct fl_lin_op *o;

	if (op->kind >= FL_LIN_KIND__N || op->key >= h->nkeys || op->ret < op->call)
		return -EINVAL;
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 1024;
		struct fl_lin_op *v = realloc(h->ops, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->ops = v;
		h->cap = nc;
	}
	o = &h->ops[h->n];
	*o = *op;
	if (op->kind == FL_LIN_READ_ALL) {
		size_t k = 0;
		if (h->nelems + nelems > h->elems_cap) {
			size_t nc = h->elems_cap ? h->elems_cap : 256;
			while (nc < h->nelems + nelems)
				nc *= 2;
			uint32_t *e = realloc(h->elems, nc * sizeof(*e));
			if (!e)
				return -ENOMEM;
			h->elems = e;
			h->elems_cap = nc;
		}
		/* an empty read of a fresh history: h->elems is NULL, and NULL + 0 is undefined */
		if (nelems) {
			uint32_t *d = h->elems + h->nelems;
			memcpy(d, elems, nelems * sizeof(*elems));
			lin_sort_u32(d, nelems);
			for (size_t i = 0; i < nelems; i++) /* dedupe */
				if (!k || d[k - 1] != d[i])
					d[k++] = d[i];
		}
		o->a = (uint32_t)h->nelems;
		o->b = (uint32_t)k;
		h->nelems += k;
	}
	h->n++;
	return 0;
}

int64_t fl_lin_history_invalid_for(const struct fl_lin_history *h, enum fl_lin_model m)
{
	for (size_t i = 0; i < h->n; i++) {
		int k = h->ops[i].kind, ok;
		switch (m) {
		case FL_LIN_REGISTER:
			ok = k == FL_LIN_READ || k == FL_LIN_WRITE;
			break;
		case FL_LIN_CAS_REGISTER:
			ok = k == FL_LIN_READ || k == FL_LIN_WRITE || k == FL_LIN_CAS;
			break;
		case FL_LIN_KV:
			ok = k == FL_LIN_READ || k == FL_LIN_WRITE || k == FL_LIN_APPEND;
			break;
		case FL_LIN_SET:
			ok = k == FL_LIN_ADD || k == FL_LIN_READ_ALL;
			break;
		default:
			ok = 0;
		}
		if (!ok)
			return (int64_t)i;
	}
	return -1;
}

/* --- the search ------------------------------------------------------------------ */

/* Shared by every partition of one check. */
struct lin_shared {
	int64_t deadline; /* 0: none */
	size_t mem_limit;
	atomic_size_t mem, peak;
	atomic_int stop; /* a limit was hit, or a key violates: everybody stops */
	int all_keys;
};

enum { SR_OK, SR_VIOLATION, SR_TIME, SR_MEMORY, SR_BUDGET, SR_STOPPED };

struct lin_ent {
	int32_t prev, next, match; /* match: the return entry of a call entry, -1 on returns */
	uint32_t op;
};

struct lin_frame {
	int32_t e;
	uint32_t state, hi, flags; /* FR_FORCED, FR_AFTER_UNKNOWN: of the level it was tried at */
};
#define FR_FORCED 0x1
#define FR_AFTER_UNKNOWN 0x2
#define FR_PASS2 0x4 /* the level's second pass: unknown outcomes */
#define FR_REUSED 0x8 /* an unknown outcome applied without being taken (reuse) */

/* A memo entry: the ops that return linearized, S, are the known ops of
 * [0,pos) + list (form A) or of [0,pos) - list (form B, top bit of k), with
 * the state; the unknown outcomes that took effect, U, are counts per class
 * (see set_twins): the arena at off holds nu, then nu (class, count) pairs,
 * then the list. h covers S and whether the last op was an unknown outcome. */
struct lin_centry {
	uint64_t h;
	uint32_t state, pos, k, off;
};
#define CE_EMPTY UINT32_MAX
#define CE_FORM_B 0x80000000u

struct lin_search {
	const struct lin_op *ops;
	size_t n;
	struct lin_model *md;
	struct lin_shared *sh;
	uint64_t budget; /* steps; 0 = unlimited */
	int own_violation; /* a window check: SR_STOPPED (set by this key) does not stop it */
	int reuse; /* relaxed: unknown outcomes may take effect any number of times (see search_run) */

	struct lin_ent *ent;
	uint64_t *bits, *z;
	uint32_t *twin; /* see set_twins(); NULL when there are none */
	uint32_t *cls;  /* an unknown outcome's class (see set_twins), else UINT32_MAX */
	uint32_t *cur;  /* per class: how many took effect (the first ones invoked) */
	uint32_t *act, *actpos; /* the classes with cur > 0; each one's index in act */
	size_t ncls, nact;
	uint32_t *kpre; /* kpre[i]: the ops that return among [0, i) */
	uint64_t evictions; /* the cache was full and emptied (re-exploration) */
	uint64_t hu;        /* hash of the unknown outcomes taken */
	uint64_t *inf;  /* the ops with an unknown outcome, as bits */
	struct lin_frame *stack;
	size_t stack_cap; /* n + 1 frames, more when unknown outcomes are reused */
	struct lin_centry *tab;
	size_t tcap, tn;
	uint32_t *arena;
	size_t na, acap;
	size_t held; /* bytes counted in sh->mem */

	size_t best; /* longest prefix */
	uint64_t steps;
};

static int account(struct lin_search *s, size_t more)
{
	size_t now = atomic_fetch_add(&s->sh->mem, more) + more;
	size_t peak = atomic_load(&s->sh->peak);

	if (now > s->sh->mem_limit) { /* refuse before allocating: the bound holds */
		atomic_fetch_sub(&s->sh->mem, more);
		return -ENOSPC;
	}
	s->held += more;
	while (now > peak && !atomic_compare_exchange_weak(&s->sh->peak, &peak, now))
		;
	return 0;
}

static void search_release(struct lin_search *s)
{
	if (s->sh && s->held)
		atomic_fetch_sub(&s->sh->mem, s->held);
	free(s->ent);
	free(s->bits);
	free(s->z);
	free(s->twin);
	free(s->cls);
	free(s->cur);
	free(s->act);
	free(s->actpos);
	free(s->kpre);
	free(s->inf);
	free(s->stack);
	free(s->tab);
	free(s->arena);
	memset(s, 0, sizeof(*s));
}

struct ev {
	int64_t t;
	uint32_t op;
	int ret;
};

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->ret != y->ret) /* calls first at equal times: touching ops are concurrent */
		return x->ret - y->ret;
	return x->op < y->op ? -1 : x->op > y->op;
}

/* Interchangeable unknown-outcome ops: the same change (kind, a, b, flags)
 * with ret = FL_LIN_INF. Given a linearization that takes effect with some
 * of them, give their linearization points, in time order, to the twins in
 * invocation order: the j-th earliest point comes after j of the twins'
 * invocations, so after the j-th earliest invocation; no op has to follow
 * them (they never return); and the sequence of state changes is the same.
 * So some linearization exists iff one exists where twins take effect in
 * invocation order, and the search only tries an op whose previous twin
 * (twin[o], in invocation order) has already taken effect. Reads are never
 * twins (an unknown read constrains nothing and is not expected here). */
struct twin_key {
	uint32_t a, b, op, pos;
	uint8_t kind, flags;
};

static int cmp_twin(const void *x, const void *y)
{
	const struct twin_key *p = x, *q = y;

	if (p->kind != q->kind)
		return p->kind < q->kind ? -1 : 1;
	if (p->flags != q->flags)
		return p->flags < q->flags ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* The classes of unknown outcomes (twins: the same change) and twin[].
 * ev: the ops' events in list order (2n). Every unknown write or cas gets a
 * class; the search takes a class's ops in invocation order, so the ones
 * that took effect are the first cur[c] of class c. */
static int set_twins(struct lin_search *s, const struct ev *ev, size_t n2)
{
	struct twin_key *t;
	size_t nt = 0;

	for (size_t k = 0; k < n2; k++) {
		const struct lin_op *o = &s->ops[ev[k].op];
		nt += !ev[k].ret && o->ret == FL_LIN_INF && o->kind != FL_LIN_READ &&
		      o->kind != FL_LIN_READ_ALL;
	}
	if (!(s->cls = malloc((s->n + 1) * sizeof(*s->cls))))
		return -ENOMEM;
	memset(s->cls, 0xff, (s->n + 1) * sizeof(*s->cls));
	if (!nt)
		return 0;
	t = malloc(nt * sizeof(*t));
	s->twin = malloc(s->n * sizeof(*s->twin));
	s->cur = calloc(nt, sizeof(*s->cur));
	s->act = malloc(nt * sizeof(*s->act));
	s->actpos = malloc(nt * sizeof(*s->actpos));
	if (!t || !s->twin || !s->cur || !s->act || !s->actpos) {
		free(t);
		return -ENOMEM;
	}
	memset(s->twin, 0xff, s->n * sizeof(*s->twin));
	nt = 0;
	for (size_t k = 0; k < n2; k++) {
		const struct lin_op *o = &s->ops[ev[k].op];
		if (!ev[k].ret && o->ret == FL_LIN_INF && o->kind != FL_LIN_READ &&
		    o->kind != FL_LIN_READ_ALL)
			t[nt] = (struct twin_key){ o->a, o->b, ev[k].op, (uint32_t)nt, o->kind, o->flags },
			nt++;
	}
	qsort(t, nt, sizeof(*t), cmp_twin);
	s->cls[t[0].op] = 0;
	for (size_t i = 1; i < nt; i++) {
		if (t[i].kind == t[i - 1].kind && t[i].flags == t[i - 1].flags &&
		    t[i].a == t[i - 1].a && t[i].b == t[i - 1].b) {
			s->twin[t[i].op] = t[i - 1].op;
			s->cls[t[i].op] = s->cls[t[i - 1].op];
		} else {
			s->cls[t[i].op] = s->cls[t[i - 1].op] + 1;
		}
	}
	s->ncls = s->cls[t[nt - 1].op] + 1;
	free(t);
	return 0;
}

static int search_init(struct lin_search *s, const struct lin_op *ops, size_t n,
		       struct lin_model *md, struct lin_shared *sh, uint64_t budget)
{
	struct ev *ev;
	int32_t *where;
	size_t nw = (n + 64) / 64;
	uint64_t seed = 0x5eed0f11e5ULL;
	int r;

	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->n = n;
	s->md = md;
	s->sh = sh;
	s->budget = budget;
	s->ent = malloc((2 * n + 1) * sizeof(*s->ent));
	s->bits = calloc(nw, sizeof(*s->bits));
	s->inf = calloc(nw, sizeof(*s->inf));
	s->z = malloc((n + 1) * sizeof(*s->z));
	s->kpre = malloc((n + 1) * sizeof(*s->kpre));
	s->stack = malloc((n + 1) * sizeof(*s->stack));
	s->stack_cap = n + 1;
	s->tcap = 64; /* grows by doubling; window checks stay small */
	s->tab = malloc(s->tcap * sizeof(*s->tab));
	s->acap = 64;
	s->arena = malloc(s->acap * sizeof(*s->arena));
	ev = malloc((2 * n + 1) * sizeof(*ev));
	where = malloc((2 * n + 1) * sizeof(*where));
	if (!s->ent || !s->bits || !s->inf || !s->z || !s->kpre || !s->stack || !s->tab || !s->arena || !ev || !where) {
		free(ev);
		free(where);
		search_release(s);
		return -ENOMEM;
	}
	memset(s->tab, 0xff, s->tcap * sizeof(*s->tab));
	s->kpre[0] = 0;
	for (size_t i = 0; i < n; i++) {
		s->z[i] = mix64(seed += 0x9e3779b97f4a7c15ULL);
		s->kpre[i + 1] = s->kpre[i] + (ops[i].ret != FL_LIN_INF);
		if (ops[i].ret == FL_LIN_INF)
			s->inf[i >> 6] |= 1ULL << (i & 63);
		ev[2 * i] = (struct ev){ ops[i].call, (uint32_t)i, 0 };
		ev[2 * i + 1] = (struct ev){ ops[i].ret, (uint32_t)i, 1 };
	}
	qsort(ev, 2 * n, sizeof(*ev), cmp_ev);
	/* entry 0 is the head sentinel; event k is entry k + 1 */
	s->ent[0] = (struct lin_ent){ -1, n ? 1 : -1, -1, 0 };
	for (size_t k = 0; k < 2 * n; k++) {
		int32_t e = (int32_t)k + 1;
		s->ent[e] = (struct lin_ent){ e - 1, k + 1 < 2 * n ? e + 1 : -1, -1, ev[k].op };
		if (!ev[k].ret)
			where[ev[k].op] = e;
		else
			s->ent[where[ev[k].op]].match = e;
	}
	r = set_twins(s, ev, 2 * n);
	free(ev);
	free(where);
	if (r < 0)
		return r;
	return account(s, (2 * n + 1) * sizeof(*s->ent) + 2 * nw * 8 + (n + 1) * 16 +
				  s->ncls * 12 +
				  (n + 1) * sizeof(*s->stack) + s->tcap * sizeof(*s->tab) +
				  s->acap * 4);
}

static inline void lift(struct lin_ent *ent, int32_t e)
{
	int32_t r = ent[e].match;

	ent[ent[e].prev].next = ent[e].next;
	if (ent[e].next >= 0)
		ent[ent[e].next].prev = ent[e].prev;
	ent[ent[r].prev].next = ent[r].next;
	if (ent[r].next >= 0)
		ent[ent[r].next].prev = ent[r].prev;
}

static inline void unlift(struct lin_ent *ent, int32_t e)
{
	int32_t r = ent[e].match;

	ent[ent[r].prev].next = r;
	if (ent[r].next >= 0)
		ent[ent[r].next].prev = r;
	ent[ent[e].prev].next = e;
	if (ent[e].next >= 0)
		ent[ent[e].next].prev = e;
}

static inline size_t slot_of(uint64_t h, uint32_t state, size_t cap)
{
	return mix64(h ^ ((uint64_t)state * 0x9e3779b97f4a7c15ULL)) & (cap - 1);
}

static inline int in_set(const uint64_t *bits, uint32_t i)
{
	return (bits[i >> 6] >> (i & 63)) & 1;
}

/* S of entry c is the current one (cnt ops that return linearized, m the
 * first that is not, hi above the highest that is) */
static int same_set(const struct lin_search *s, const struct lin_centry *c, size_t cnt,
		    uint32_t m, uint32_t hi)
{
	uint32_t k = c->k & ~CE_FORM_B;
	const uint32_t *l = s->arena + c->off;

	l += 1 + 2 * l[0]; /* past U */
	if (!(c->k & CE_FORM_B)) {
		if (cnt != (size_t)s->kpre[c->pos] + k || m < c->pos)
			return 0;
		for (uint32_t i = 0; i < k; i++)
			if (!in_set(s->bits, l[i]))
				return 0;
	} else {
		if (hi != c->pos || cnt + k != s->kpre[c->pos])
			return 0;
		for (uint32_t i = 0; i < k; i++)
			if (in_set(s->bits, l[i]))
				return 0;
	}
	return 1;
}

/* U of entry c is contained in the current one: every class took effect
 * at most as many times there as now */
static int u_within(const struct lin_search *s, const struct lin_centry *c)
{
	const uint32_t *l = s->arena + c->off;

	for (uint32_t i = 0; i < l[0]; i++)
		if (l[1 + 2 * i + 1] > s->cur[l[1 + 2 * i]])
			return 0;
	return 1;
}

static void cache_clear(struct lin_search *s)
{
	memset(s->tab, 0xff, s->tcap * sizeof(*s->tab));
	s->tn = 0;
	s->na = 0;
	s->evictions++;
}

static int grow_table(struct lin_search *s)
{
	size_t nc = s->tcap * 2;
	struct lin_centry *t;
	int r;

	if ((r = account(s, s->tcap * sizeof(*t))) < 0)
		return r;
	if (!(t = malloc(nc * sizeof(*t))))
		return -ENOMEM;
	memset(t, 0xff, nc * sizeof(*t));
	for (size_t i = 0; i < s->tcap; i++) {
		if (s->tab[i].pos == CE_EMPTY)
			continue;
		size_t j = slot_of(s->tab[i].h, s->tab[i].state, nc);
		while (t[j].pos != CE_EMPTY)
			j = (j + 1) & (nc - 1);
		t[j] = s->tab[i];
	}
	free(s->tab);
	s->tab = t;
	s->tcap = nc;
	return 0;
}

/* The salt of h after an unknown outcome (the search then tries fewer ops) */
#define H_AFTER_UNKNOWN 0x7a3c5e1f9b2d4c68ULL
/* Representatives have the lowest bit of h set, exact entries clear */
#define H_REP 0x3f84d5b5b5470917ULL

/* The entry for (h, state) with the current S: 1 when its U is within
 * the current one (a configuration at least as free as this one was
 * explored), 0 otherwise; *slot is the representative found (h odd), or
 * the empty slot ending the probe. */
static int cache_find(const struct lin_search *s, uint64_t h, uint32_t state, size_t cnt,
		      uint32_t m, uint32_t hi, size_t *slot)
{
	size_t j;

	for (j = slot_of(h, state, s->tcap); s->tab[j].pos != CE_EMPTY; j = (j + 1) & (s->tcap - 1)) {
		const struct lin_centry *c = &s->tab[j];
		if (c->h == h && c->state == state && same_set(s, c, cnt, m, hi)) {
			if (u_within(s, c))
				return 1;
			if (h & 1)
				break; /* one representative */
		}
	}
	*slot = j;
	return 0;
}

static uint32_t u_total(const uint32_t *l)
{
	uint32_t t = 0;

	for (uint32_t i = 0; i < l[0]; i++)
		t += l[2 + 2 * i];
	return t;
}

/* Remember the configuration (S, U, state, whether the last op was an
 * unknown outcome): 1 when new, 0 when it or one at least as free was
 * explored before, < 0 on a limit. "At least as free": the same S and
 * state, U within this U (unknown outcomes that took effect are only a
 * burden: they never have to, so whatever completes from (S, U', state)
 * completes from (S, U, state) when U is within U'), and not after an
 * unknown outcome when this one is not (that restricts the next op: see
 * search_run). Two kinds of entries: exact ones, keyed by S and U, and one
 * representative per S and state (keyed by S alone) holding the smallest U
 * seen, which the others are compared with: a full antichain of U would
 * make the probes long. A full cache is emptied when the check has a time
 * limit (the search explores again what it forgot), and is the memory
 * limit otherwise. */
static int cache_add(struct lin_search *s, uint64_t h, uint32_t state, size_t cnt, uint32_t m,
		     uint32_t hi, int after_unknown)
{
	size_t j, jr = 0, ka, kb, k, need;
	uint64_t salt = after_unknown ? H_AFTER_UNKNOWN : 0;
	struct lin_centry *c;
	int r, have_rep = 0;

	/* after an unknown outcome, the same without that restriction first */
	for (int pass = !after_unknown; pass < 2; pass++) {
		uint64_t sl = pass ? salt : 0;
		if (cache_find(s, (h ^ s->hu ^ sl) & ~1ULL, state, cnt, m, hi, &j) ||
		    cache_find(s, (h ^ sl ^ H_REP) | 1, state, cnt, m, hi, &jr))
			return 0;
	}
	have_rep = s->tab[jr].pos != CE_EMPTY;
	ka = cnt - s->kpre[m];  /* linearized ops above the first unlinearized one */
	kb = s->kpre[hi] - cnt; /* unlinearized ops below the highest linearized one */
	k = ka <= kb ? ka : kb;
	need = 2 * (1 + 2 * s->nact + k);
	if (s->na + need > s->acap) {
		size_t nc = s->acap * 2;
		while (nc < s->na + need)
			nc *= 2;
		if ((r = account(s, (nc - s->acap) * 4)) < 0) {
			if (r != -ENOSPC || !s->sh->deadline || need > s->acap)
				return r;
			cache_clear(s);
			have_rep = 0;
		} else {
			uint32_t *a = realloc(s->arena, nc * sizeof(*a));
			if (!a)
				return -ENOMEM;
			s->arena = a;
			s->acap = nc;
		}
	}
	uint32_t total = 0;
	for (size_t i = 0; i < s->nact; i++)
		total += s->cur[s->act[i]];
	/* the representative (new, or replaced by a smaller U), then the exact entry */
	for (int kind = 0; kind < 2; kind++) {
		uint64_t key = kind ? (h ^ s->hu ^ salt) & ~1ULL : (h ^ salt ^ H_REP) | 1;
		if (!kind && have_rep) {
			c = &s->tab[jr];
			if (u_total(s->arena + c->off) <= total)
				continue;
		} else {
			if (cache_find(s, key, state, cnt, m, hi, &j))
				continue;
			c = &s->tab[j];
			if (c->pos != CE_EMPTY) /* a representative found again */
				continue;
		}
		int fresh = c->pos == CE_EMPTY;
		c->h = key;
		c->state = state;
		c->off = (uint32_t)s->na;
		s->arena[s->na++] = (uint32_t)s->nact;
		for (size_t i = 0; i < s->nact; i++) {
			s->arena[s->na++] = s->act[i];
			s->arena[s->na++] = s->cur[s->act[i]];
		}
		if (ka <= kb) {
			c->pos = m;
			c->k = (uint32_t)ka;
			for (size_t w = (m + 1) >> 6, got = 0; got < ka; w++) {
				uint64_t b = s->bits[w] & ~s->inf[w];
				if (w == (m + 1) >> 6)
					b &= ~0ULL << ((m + 1) & 63);
				while (b && got < ka) {
					s->arena[s->na++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
					b &= b - 1;
					got++;
				}
			}
		} else {
			c->pos = hi;
			c->k = (uint32_t)kb | CE_FORM_B;
			for (size_t w = m >> 6, got = 0; got < kb; w++) {
				uint64_t b = ~s->bits[w] & ~s->inf[w];
				if (w == m >> 6)
					b &= ~0ULL << (m & 63);
				while (b && got < kb) {
					s->arena[s->na++] = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
					b &= b - 1;
					got++;
				}
			}
		}
		if (fresh && 2 * ++s->tn > s->tcap && (r = grow_table(s)) < 0) {
			if (r != -ENOSPC || !s->sh->deadline)
				return r;
			cache_clear(s);
			return 1;
		}
	}
	return 1;
}

static int limits_hit(struct lin_search *s)
{
	int st = atomic_load_explicit(&s->sh->stop, memory_order_relaxed);

	if (st && !(st == SR_STOPPED && s->own_violation))
		return st;
	if (s->sh->deadline && now_ns() > s->sh->deadline) {
		atomic_store(&s->sh->stop, SR_TIME);
		return SR_TIME;
	}
	return 0;
}

/* A pure op (a read, a failed compare) changes no state. When one can take
 * effect now it may be linearized now without losing any linearization:
 * moving it earlier in a valid order changes no other op's state, and no
 * unlinearized op must precede it (it is callable). So the search takes it
 * without trying alternatives at this level ("forced"). */
static inline int is_pure(const struct lin_op *op)
{
	return op->ret != FL_LIN_INF && (op->kind == FL_LIN_READ || op->kind == FL_LIN_READ_ALL ||
	       (op->kind == FL_LIN_CAS && (op->flags & FL_LIN_CAS_FAILED)));
}

/* The first op, in invocation order, not linearized and that returns:
 * unknown outcomes are left out, the search defers them (they can take
 * effect after every op that returns). */
static uint32_t first_open(const struct lin_search *s, uint32_t m)
{
	for (size_t w = m >> 6; w < (s->n + 64) / 64; w++) {
		uint64_t b = ~(s->bits[w] | s->inf[w]);
		if (w == m >> 6)
			b &= ~0ULL << (m & 63);
		if (b)
			return (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b)); /* <= n */
	}
	return (uint32_t)s->n;
}

/* Op o takes effect / is taken back: the linearized set, its hash (ops
 * that return) or its class count (unknown outcomes). */
static inline void take(struct lin_search *s, uint32_t o, uint64_t *h, size_t *cnt)
{
	uint32_t c = s->cls[o];

	s->bits[o >> 6] |= 1ULL << (o & 63);
	if (c == UINT32_MAX) {
		*h ^= s->z[o];
		(*cnt)++;
	} else if (s->hu ^= s->z[o], !s->cur[c]++) {
		s->actpos[c] = (uint32_t)s->nact;
		s->act[s->nact++] = c;
	}
}

static inline void untake(struct lin_search *s, uint32_t o, uint64_t *h, size_t *cnt)
{
	uint32_t c = s->cls[o];

	s->bits[o >> 6] &= ~(1ULL << (o & 63));
	if (c == UINT32_MAX) {
		*h ^= s->z[o];
		(*cnt)--;
	} else if (s->hu ^= s->z[o], !--s->cur[c]) {
		uint32_t last = s->act[--s->nact];
		s->act[s->actpos[c]] = last;
		s->actpos[last] = s->actpos[c];
	}
}

/* In the relaxed search an unknown outcome pushes a frame without taking
 * an op: the depth is bounded by the configurations (each new), not n */
static int grow_stack(struct lin_search *s)
{
	struct lin_frame *f;
	int r;

	if ((r = account(s, s->stack_cap * sizeof(*f))) < 0)
		return r;
	if (!(f = realloc(s->stack, 2 * s->stack_cap * sizeof(*f))))
		return -ENOMEM;
	s->stack = f;
	s->stack_cap *= 2;
	return 1;
}

/* Run WGL from state init: SR_OK, SR_VIOLATION, SR_TIME, SR_MEMORY, SR_BUDGET,
 * SR_STOPPED or -ENOMEM.
 *
 * Unknown outcomes are only tried where they matter (each rule below keeps
 * some linearization when there is one: one that uses the fewest unknown
 * outcomes, its twins in invocation order, breaks none of them, since
 * breaking one would let it drop an unknown outcome, and moving a pure op
 * earlier, as the forced levels do, keeps it among the fewest):
 *  - one that changes nothing where it is tried is not tried there;
 *  - right after one, no write is tried (known or not): the write sets the
 *    state whatever it was, so the unknown outcome could be dropped.
 *    Whether the last op was an unknown outcome is part of the memo key.
 *  - an unknown read never (it constrains nothing).
 *
 * Relaxed (s->reuse): an unknown outcome may take effect any number of
 * times; applying it pushes a frame but takes no op (S and U do not change,
 * the memo key is (S, state, whether the last op was one)). Every
 * linearization of the history is one of the relaxed history, so a relaxed
 * violation is a violation (the converse does not hold: the relaxed search
 * never says linearizable for the caller). The rules above hold as well
 * (their arguments do not count uses), and of twins only the first invoked
 * is tried: it can do whatever a later one can, from earlier on.
 *
 * From LIN_ANY (sub-histories, windows), a pure op is never forced: it
 * would pin the state, which a different first op may need otherwise (read
 * 5 and read 7 concurrent with write 5 hold from 7, not after forcing read
 * 5); an unknown outcome leaving LIN_ANY as it is changes nothing there. */
static int search_run(struct lin_search *s, uint32_t init)
{
	struct lin_ent *ent = s->ent;
	const struct lin_op *ops = s->ops;
	uint64_t *bits = s->bits, h = 0;
	uint32_t state = init, hi = 0;
	size_t cnt = 0, sp = 0;
	int32_t e = ent[0].next;
	int r, forced = 0, level = 1; /* level: e is the first entry tried at this level */
	int after_unk = 0;            /* the last op taken was an unknown outcome */
	int pass2 = 0; /* a level tries the ops that return first, then unknown outcomes */

	s->best = 0;
	while (ent[0].next >= 0) {
		if (!(++s->steps & 0xfff) && (r = limits_hit(s)))
			return r;
		if (s->budget && s->steps > s->budget)
			return SR_BUDGET;
		if (level) {
			/* a pure op that holds now goes first, alone */
			int32_t f, pure = -1;
			level = 0;
			forced = 0;
			pass2 = 0;
			for (f = e; ent[f].match >= 0; f = ent[f].next) {
				const struct lin_op *op = &ops[ent[f].op];
				uint32_t ns;
				/* not from LIN_ANY: there the op pins the state,
				 * which another first op might need otherwise */
				if (pure < 0 && state != LIN_ANY && is_pure(op) &&
				    lin_step(s->md, state, op, &ns) > 0)
					pure = f;
			}
			/* the first return left is an unknown outcome's: every op
			 * that returns is linearized, and what is left can take
			 * effect in any order (every kind can take effect in any
			 * state once its outcome is unknown: see lin_step) */
			if (ops[ent[f].op].ret == FL_LIN_INF)
				break;
			if (pure >= 0) {
				e = pure;
				forced = 1;
			}
		}
		struct lin_ent *x = &ent[e];
		if (x->match >= 0) {
			uint32_t o = x->op, ns;
			int unk = ops[o].ret == FL_LIN_INF;
			if (unk != pass2 && !forced) {
				e = x->next;
				continue;
			}
			if ((s->twin && s->twin[o] != UINT32_MAX && (s->reuse || !in_set(bits, s->twin[o]))) ||
			    (after_unk && ops[o].kind == FL_LIN_WRITE) ||
			    (unk && (ops[o].kind == FL_LIN_READ || ops[o].kind == FL_LIN_READ_ALL))) {
				e = x->next; /* its earlier twin first (set_twins); see above */
				continue;
			}
			r = lin_step(s->md, state, &ops[o], &ns);
			if (r < 0)
				return r;
			/* an unknown outcome that changes nothing now might as well
			 * take effect at the end, after every op that returns: no
			 * op must follow it, and moving it there changes no state
			 * another op sees. So it is not tried here. */
			if (r && unk && ns == state)
				r = 0;
			if (r) {
				uint32_t nhi = !unk && o + 1 > hi ? o + 1 : hi, m;
				int reused = unk && s->reuse;
				if (!reused) {
					take(s, o, &h, &cnt);
					lift(ent, e);
				}
				m = ent[0].next >= 0 ? ent[ent[0].next].op : (uint32_t)s->n;
				if (m < s->n && ops[m].ret == FL_LIN_INF)
					m = first_open(s, m);
				r = cache_add(s, h, ns, cnt, m, nhi, unk);
				if (r > 0 && sp == s->stack_cap && (r = grow_stack(s)) < 0) {
					if (r == -ENOSPC) {
						atomic_store(&s->sh->stop, SR_MEMORY);
						return SR_MEMORY;
					}
					return r;
				}
				if (r > 0) {
					s->stack[sp++] = (struct lin_frame){
						e, state, hi,
						(forced ? FR_FORCED : 0) | (after_unk ? FR_AFTER_UNKNOWN : 0) |
							(pass2 ? FR_PASS2 : 0) | (reused ? FR_REUSED : 0) };
					state = ns;
					hi = nhi;
					after_unk = unk;
					if (m > s->best)
						s->best = m;
					e = ent[0].next;
					level = 1;
					continue;
				}
				if (r < 0) {
					if (r == -ENOSPC) {
						atomic_store(&s->sh->stop, SR_MEMORY);
						return SR_MEMORY;
					}
					return r;
				}
				if (!reused) {
					unlift(ent, e);
					untake(s, o, &h, &cnt);
				}
				if (forced) {
					/* the forced configuration failed before: so does this level */
					e = -1;
					goto backtrack;
				}
			}
			e = x->next;
			continue;
		}
		if (!pass2 && !forced && e >= 0) {
			pass2 = 1; /* the return entry ends the first pass */
			e = ent[0].next;
			continue;
		}
	backtrack:
		/* a return entry: nothing more to try at this level */
		for (;;) {
			if (!sp)
				return SR_VIOLATION;
			struct lin_frame f = s->stack[--sp];
			uint32_t o = ent[f.e].op;
			state = f.state;
			hi = f.hi;
			after_unk = !!(f.flags & FR_AFTER_UNKNOWN);
			pass2 = !!(f.flags & FR_PASS2);
			if (!(f.flags & FR_REUSED)) {
				unlift(ent, f.e);
				untake(s, o, &h, &cnt);
			}
			if (!(f.flags & FR_FORCED)) {
				e = ent[f.e].next;
				forced = 0;
				break;
			}
		}
	}
	s->best = s->n;
	return SR_OK;
}

/* --- partitions ------------------------------------------------------------------ */

struct lin_job {
	const struct fl_lin_history *h;
	enum fl_lin_model m;
	struct lin_shared *sh;
	const struct lin_kvpre *pre;
	int window_effort;
	uint64_t first_steps;
	uint32_t *idx; /* this key's op indices, by call time */
	size_t n;
	struct fl_lin_part *out;
	int err;
};

/* Steps allowed to one window check, and to all of them for one key: the
 * checks that find a window are short; most of the cost is in those that
 * run out of steps (which say nothing). */
#define WINDOW_STEPS 8000
#define WINDOW_STEPS_ALL (8 * WINDOW_STEPS)

/* Window [a, e] of part ops: ops a..e, plus earlier ops still pending at
 * ops[a].call made optional (an unknown outcome; reads and failed cases
 * dropped, they change nothing). Checked from any initial state: 1 when it
 * fails, 0 when it holds, 2 when the check was cut short. */
static int window_fails(struct lin_job *j, struct lin_model *md, const struct lin_op *ops,
			size_t a, size_t e, struct lin_op *buf, size_t *nbuf, uint64_t *steps)
{
	struct lin_search s;
	size_t n = 0;
	int r;

	if (!*steps)
		return 2;
	for (size_t i = 0; i < a; i++) {
		struct lin_op o = ops[i];
		if (o.ret < ops[a].call)
			continue;
		if (o.kind == FL_LIN_READ || o.kind == FL_LIN_READ_ALL ||
		    (o.flags & FL_LIN_CAS_FAILED))
			continue;
		o.ret = FL_LIN_INF;
		o.flags = 0;
		buf[n++] = o;
	}
	for (size_t i = a; i <= e; i++)
		buf[n++] = ops[i];
	*nbuf = n;
	if ((r = search_init(&s, buf, n, md, j->sh, *steps < WINDOW_STEPS ? *steps : WINDOW_STEPS)) < 0) {
		search_release(&s);
		return r == -ENOSPC ? 2 : r;
	}
	s.own_violation = 1;
	r = search_run(&s, LIN_ANY);
	*steps -= s.steps < *steps ? s.steps : *steps;
	search_release(&s);
	return r == SR_VIOLATION ? 1 : r == SR_OK ? 0 : r < 0 ? r : 2;
}

/* Keep the window just checked (in *buf) when it is the smallest so far. */
static int keep_window(struct lin_op **buf, size_t nbuf, struct lin_op **best, size_t *nbest,
		       size_t n)
{
	if (*best && nbuf >= *nbest)
		return 0;
	free(*best);
	*best = *buf;
	*nbest = nbuf;
	return (*buf = malloc(n * sizeof(**buf))) ? 0 : -ENOMEM;
}

static int find_window(struct lin_job *j, struct lin_model *md, const struct lin_op *ops, size_t n,
		       size_t f)
{
	struct fl_lin_part *p = j->out;
	struct lin_op *buf = malloc(n * sizeof(*buf)), *best = NULL;
	size_t last = f, nbuf, nbest = 0;
	int effort = j->window_effort ? j->window_effort : 64, r = 0;
	uint64_t steps = WINDOW_STEPS_ALL;

	if (!buf)
		return -ENOMEM;
	while (last + 1 < n && ops[last + 1].call <= ops[f].ret)
		last++;
	/* for each last op e (f and a few after it), the window [a, e] with
	 * the largest a that fails; the smallest of those is kept */
	for (size_t e = f; effort > 0 && e <= last && e < f + 8; e++) {
		size_t lo = e > 48 ? e - 48 : 0;
		if (lo == e)
			continue;
		/* the largest window first: when it holds, the smaller ones
		 * (fewer ops, more of them optional) practically always do */
		effort--;
		if ((r = window_fails(j, md, ops, lo, e, buf, &nbuf, &steps)) < 0)
			goto out;
		if (!r)
			continue;
		if (r == 1 && (r = keep_window(&buf, nbuf, &best, &nbest, n)) < 0)
			goto out;
		for (size_t a = e - 1; a > lo && effort > 0 && steps; a--) {
			effort--;
			if ((r = window_fails(j, md, ops, a, e, buf, &nbuf, &steps)) < 0)
				goto out;
			if (r == 1) {
				if ((r = keep_window(&buf, nbuf, &best, &nbest, n)) < 0)
					goto out;
				break;
			}
			if (atomic_load(&j->sh->stop) && atomic_load(&j->sh->stop) != SR_STOPPED)
				effort = 0;
		}
	}
	r = 0;
	p->window_verified = best != NULL;
	if (!best) {
		nbest = last + 1;
		best = buf;
		buf = NULL;
		memcpy(best, ops, nbest * sizeof(*best));
	}
	if (!(p->window = malloc(nbest * sizeof(*p->window)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nbest; i++)
		p->window[i] = best[i].gidx;
	p->nwindow = nbest;
out:
	free(buf);
	free(best);
	return r;
}

/* --- sub-histories: violations found without exhausting the whole search ------ */

/* A violation needs the whole search exhausted, and with many unknown
 * outcomes the configurations before the contradiction are too many to
 * exhaust. But a contradiction is usually local, and a small sub-history can
 * prove it. W(a, t), for ops in invocation order and a time t: the ops
 * ops[a..] invoked at or before t, where
 *  - those that return at or before t keep their outcome;
 *  - those still open at t, and the earlier ops still pending when ops[a]
 *    was invoked (ret >= ops[a].call), become unknown outcomes, or are
 *    dropped when they change nothing (reads, failed compares);
 *  - every other op is dropped: the ops that returned before ops[a] was
 *    invoked, and those invoked after t;
 * checked from LIN_ANY (whatever the state before it).
 *
 * If the history has a linearization L, W(a, t) has one, so a W(a, t) that
 * cannot be linearized proves the history is not. Let sigma be L's state
 * right after the last op that returned before ops[a].call (the initial
 * state when none): every op of W is invoked after that op returned, so
 * comes after it in L. Take the rest of L, keep the ops of W, and cut it at
 * the first op invoked after t. Before the cut the kept ops see the states
 * they saw in L: what was dropped there changes nothing (pure ops), or was
 * taken before sigma (the pending ops that L linearized early: as unknown
 * outcomes they need not take effect again). After the cut come only ops
 * that return after t (an op that L puts after an op invoked after t cannot
 * have returned before it was invoked), so unknown outcomes here: they
 * need not take effect. Real-time order between ops of W is L's. So W(a, t)
 * is linearizable from sigma, so from LIN_ANY, which allows every state
 * (an abstraction: a search from LIN_ANY accepts whatever a search from
 * any state accepts).
 *
 * Dropping an op that returned inside the window would not be sound (it may
 * be the only write of a value read later), nor keeping the outcome of an
 * op open at t (its observer may be invoked after t). */
static int cmp_unknown(const void *x, const void *y)
{
	const struct lin_op *p = x, *q = y;

	if (p->kind != q->kind)
		return p->kind < q->kind ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return p->call < q->call ? -1 : p->call > q->call;
}

/* W(a, t) into buf (the search orders ops by time itself, not by place in
 * buf): the known ops, then the unknown outcomes, only the first invoked of
 * each change (kind, a, b): the sub-histories are checked relaxed (reuse,
 * see search_run), where an unknown outcome invoked earlier does whatever
 * a later one with the same change does. */
static size_t sub_history(const struct lin_op *ops, size_t n, size_t a, int64_t t,
			  struct lin_op *buf, struct lin_op *unk)
{
	size_t k = 0, nu = 0;

	for (size_t i = 0; i < n && (i < a || ops[i].call <= t); i++) {
		struct lin_op o = ops[i];
		int keep = i >= a && o.ret <= t;
		if (i < a && o.ret < ops[a].call)
			continue;
		if (!keep) {
			if (o.kind == FL_LIN_READ || o.kind == FL_LIN_READ_ALL ||
			    (o.flags & FL_LIN_CAS_FAILED))
				continue;
			o.ret = FL_LIN_INF;
			o.flags = 0;
			unk[nu++] = o;
			continue;
		}
		buf[k++] = o;
	}
	qsort(unk, nu, sizeof(*unk), cmp_unknown);
	for (size_t i = 0; i < nu; i++)
		if (!i || unk[i].kind != unk[i - 1].kind || unk[i].a != unk[i - 1].a ||
		    unk[i].b != unk[i - 1].b)
			buf[k++] = unk[i];
	return k;
}

/* Steps allowed to one sub-history, and to the whole scan (per op of the
 * key: the scan costs at most a few times what the first search did) */
#define FIRST_STEPS_PER_OP 256
#define SUB_STEPS 4096
#define SUB_STEPS_PER_OP 512
#define SUB_LOOKBACK_MAX 512

static int cmp_size(const void *x, const void *y)
{
	size_t p = *(const size_t *)x, q = *(const size_t *)y;

	return p < q ? -1 : p > q;
}

/* W(a, ret(e)) for the ops e near the op the search could not get past
 * (best), a few ops back first, then further: 1 and the window in
 * p->window when one cannot be linearized, 0 when none was found within
 * the budget, SR_TIME, SR_MEMORY or SR_STOPPED when the check stops, < 0
 * on an error. Most contradictions show up in a window of
 * a few dozen ops; a window that the budget cuts short says nothing, nor
 * would larger ones, so the lookback stops growing there. */
static int scan_sub_histories(struct lin_job *j, struct lin_model *md, const struct lin_op *ops,
			      size_t n, size_t best)
{
	struct fl_lin_part *p = j->out;
	struct lin_op *buf = malloc((n + 1) * sizeof(*buf)), *unk = malloc((n + 1) * sizeof(*unk));
	uint64_t left = (uint64_t)n * SUB_STEPS_PER_OP;
	int r = 0;

	if (!buf || !unk) {
		free(buf);
		free(unk);
		return -ENOMEM;
	}
	/* e = best, best + 1, ..., then below best, nearest first */
	for (size_t d = 0; d < 2 * n && left && !r; d++) {
		size_t e = d & 1 ? best - 1 - d / 2 : best + d / 2;
		if ((d & 1 ? d / 2 + 1 > best : e >= n) || ops[e].ret == FL_LIN_INF)
			continue;
		for (size_t back = 4; back <= SUB_LOOKBACK_MAX && left; back *= 2) {
			size_t a = e > back ? e - back : 0, nb = sub_history(ops, n, a, ops[e].ret, buf, unk);
			struct lin_search s;
			int sr;
			if ((sr = search_init(&s, buf, nb, md, j->sh, left < SUB_STEPS ? left : SUB_STEPS)) < 0) {
				search_release(&s);
				r = sr == -ENOSPC ? 0 : sr;
				goto out;
			}
			s.reuse = 1;
			sr = search_run(&s, LIN_ANY);
			left -= s.steps < left ? s.steps : left;
			p->steps += s.steps;
			search_release(&s);
			if (sr < 0) {
				r = sr;
				goto out;
			}
			if (sr == SR_VIOLATION) {
				if (!(p->window = malloc(nb * sizeof(*p->window)))) {
					r = -ENOMEM;
					goto out;
				}
				for (size_t i = 0; i < nb; i++)
					p->window[i] = buf[i].gidx;
				qsort(p->window, nb, sizeof(*p->window), cmp_size);
				p->nwindow = nb;
				p->window_verified = 1;
				r = 1;
				break;
			}
			if (sr == SR_TIME || sr == SR_MEMORY || sr == SR_STOPPED) {
				r = sr; /* the whole check stops */
				goto out;
			}
			if (sr != SR_OK || a == 0)
				break; /* cut short by the budget: larger ones would be too */
		}
	}
out:
	free(buf);
	free(unk);
	return r;
}

static void run_job(struct lin_job *j)
{
	struct fl_lin_part *p = j->out;
	struct lin_model md;
	struct lin_search s;
	struct lin_op *ops = NULL;
	int64_t t0 = now_ns();
	int r, relaxed = 0;
	size_t fail = 0, sbest = 0;

	p->nops = j->n;
	if ((r = lin_model_init(&md, j->m, j->h, j->pre)) < 0)
		goto out;
	if (!(ops = malloc((j->n + 1) * sizeof(*ops)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < j->n; i++)
		if ((r = lin_model_map(&md, &j->h->ops[j->idx[i]], j->idx[i], &ops[i])) < 0)
			goto out;
	/* Pass 0: the search with a step budget (the linearizable histories
	 * mostly end there). When it runs out: small sub-histories around the
	 * op it could not get past (scan_sub_histories); pass 1: the relaxed
	 * search (unknown outcomes reusable, see search_run: a violation there
	 * is one here); pass 2: the search again, unbounded. */
	for (int pass = 0; pass < 3; pass++) {
		uint64_t first = j->first_steps ? j->first_steps : (uint64_t)j->n * FIRST_STEPS_PER_OP;
		uint64_t budget = pass == 2 ? 0 : first * (pass ? 16 : 1);
		r = search_init(&s, ops, j->n, &md, j->sh, budget);
		if (r == -ENOSPC) {
			r = SR_MEMORY;
		} else if (r >= 0) {
			s.reuse = pass == 1;
			r = search_run(&s, 0); /* nil, "", {} are all id 0 */
			if (s.best > p->prefix && !s.reuse)
				p->prefix = s.best;
			p->steps += s.steps;
			p->cache_entries = s.tn;
			sbest = s.best;
		}
		search_release(&s);
		if (pass == 0 && r == SR_BUDGET) {
			if ((r = scan_sub_histories(j, &md, ops, j->n, sbest)) < 0)
				goto out;
			if (r == 1) {
				relaxed = 1;
				fail = sbest;
				r = SR_VIOLATION;
				break;
			}
			if (r)
				break; /* a limit */
			continue;
		}
		if (pass == 1 && r == SR_VIOLATION) {
			relaxed = 1;
			fail = sbest;
			if ((r = scan_sub_histories(j, &md, ops, j->n, fail)) < 0)
				goto out;
			r = SR_VIOLATION;
			break;
		}
		if (r != SR_BUDGET && !(pass == 1 && r == SR_OK))
			break;
	}
	if (r < 0)
		goto out;
	switch (r) {
	case SR_OK:
		p->verdict = FL_LIN_OK;
		break;
	case SR_VIOLATION:
		if (!j->sh->all_keys) {
			int zero = 0;
			atomic_compare_exchange_strong(&j->sh->stop, &zero, SR_STOPPED);
		}
		p->verdict = FL_LIN_VIOLATION;
		if (!relaxed)
			fail = p->prefix;
		if (fail >= j->n) /* cannot be: that search would have ended */
			fail = j->n - 1;
		p->failed_op = ops[fail].gidx;
		if (relaxed && p->window_verified)
			break; /* the window: the scan's */
		if (j->window_effort >= 0)
			r = find_window(j, &md, ops, j->n, fail);
		break;
	default:
		p->verdict = FL_LIN_UNKNOWN;
		p->limit = r == SR_TIME ? FL_LIN_LIMIT_TIME : r == SR_STOPPED ? FL_LIN_LIMIT_STOPPED :
			   FL_LIN_LIMIT_MEMORY;
		break;
	}
out:
	if (r < 0)
		j->err = r;
	p->elapsed_ns = now_ns() - t0;
	free(ops);
	lin_model_release(&md);
}

struct lin_pool {
	struct lin_job *jobs;
	size_t n;
	atomic_size_t next;
};

static void *worker(void *arg)
{
	struct lin_pool *pool = arg;
	size_t i;

	while ((i = atomic_fetch_add(&pool->next, 1)) < pool->n)
		run_job(&pool->jobs[i]);
	return NULL;
}

static int cmp_job_size(const void *a, const void *b)
{
	const struct lin_job *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static int cmp_idx_call(const void *a, const void *b, void *arg)
{
	const struct fl_lin_op *ops = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (ops[x].call != ops[y].call)
		return ops[x].call < ops[y].call ? -1 : 1;
	return x < y ? -1 : x > y;
}

void fl_lin_result_free(struct fl_lin_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nparts; i++)
		free(r->parts[i].window);
	free(r->parts);
	free(r);
}

/* P-compositionality: the ops' indices grouped by key into idx (each
 * key's ops contiguous from start[k], count[k] of them). The number of
 * keys with ops. */
static size_t group_by_key(const struct fl_lin_history *h, size_t *count, size_t *start,
			   uint32_t *idx)
{
	size_t nparts = 0;

	for (size_t i = 0; i < h->n; i++)
		count[h->ops[i].key]++;
	for (size_t k = 0, at = 0; k < h->nkeys; k++) {
		start[k] = at;
		at += count[k];
		nparts += count[k] > 0;
	}
	for (size_t i = 0; i < h->n; i++)
		idx[start[h->ops[i].key]++] = (uint32_t)i;
	for (size_t k = 0; k < h->nkeys; k++)
		start[k] -= count[k];
	return nparts;
}

/* The jobs through nth threads (the caller's alone when nth is 1 or no
 * thread starts). 0, or -ENOMEM. */
static int run_pool(struct lin_pool *pool, int nth)
{
	pthread_t *th;
	int started = 0;

	if (nth <= 1) {
		worker(pool);
		return 0;
	}
	if (!(th = calloc((size_t)nth, sizeof(*th))))
		return -ENOMEM;
	for (int t = 0; t < nth && !pthread_create(&th[t], NULL, worker, pool); t++)
		started++;
	if (!started)
		worker(pool);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	free(th);
	return 0;
}

/* The whole history's verdict from its keys': a violation anywhere, else
 * the first limit hit, else linearizable. */
static void combine_parts(struct fl_lin_result *res)
{
	res->verdict = FL_LIN_OK;
	for (size_t p = 0; p < res->nparts; p++) {
		struct fl_lin_part *pt = &res->parts[p];
		if (pt->verdict == FL_LIN_VIOLATION)
			res->verdict = FL_LIN_VIOLATION;
		else if (pt->verdict == FL_LIN_UNKNOWN && res->verdict == FL_LIN_OK) {
			res->verdict = FL_LIN_UNKNOWN;
			res->limit = pt->limit;
		}
	}
	if (res->verdict != FL_LIN_UNKNOWN)
		res->limit = FL_LIN_LIMIT_NONE;
}

int fl_lin_check(const struct fl_lin_history *h, enum fl_lin_model m,
		 const struct fl_lin_limits *lim, struct fl_lin_result **out)
{
	struct fl_lin_limits dflt = { 0 };
	struct lin_shared sh = { 0 };
	struct lin_kvpre pre = { 0 };
	struct fl_lin_result *res = NULL;
	struct lin_job *jobs = NULL;
	struct lin_pool pool = { 0 };
	size_t *count = NULL, *start = NULL, nparts = 0;
	uint32_t *idx = NULL;
	int64_t t0 = now_ns();
	int nth, r = 0;

	if ((unsigned)m >= FL_LIN_MODEL__N || fl_lin_history_invalid_for(h, m) >= 0)
		return -EINVAL;
	if (h->n >= UINT32_MAX / 2)
		return -E2BIG;
	if (!lim)
		lim = &dflt;
	sh.deadline = lim->timeout_ns > 0 ? t0 + lim->timeout_ns : 0;
	sh.mem_limit = lim->memory_bytes ? lim->memory_bytes : (size_t)1 << 30;
	sh.all_keys = lim->all_keys;
	nth = lim->threads > 0 ? lim->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

	res = calloc(1, sizeof(*res));
	count = calloc(h->nkeys + 1, sizeof(*count));
	start = calloc(h->nkeys + 1, sizeof(*start));
	idx = malloc((h->n + 1) * sizeof(*idx));
	if (!res || !count || !start || !idx) {
		r = -ENOMEM;
		goto out;
	}
	nparts = group_by_key(h, count, start, idx);
	if (m == FL_LIN_KV && (r = lin_kvpre_init(&pre, h)) < 0)
		goto out;
	res->parts = calloc(nparts + 1, sizeof(*res->parts));
	jobs = calloc(nparts + 1, sizeof(*jobs));
	if (!res->parts || !jobs) {
		r = -ENOMEM;
		goto out;
	}
	res->nparts = nparts;
	for (size_t k = 0, p = 0; k < h->nkeys; k++) {
		if (!count[k])
			continue;
		qsort_r(idx + start[k], count[k], sizeof(*idx), cmp_idx_call, h->ops);
		res->parts[p].key = (uint32_t)k;
		res->parts[p].failed_op = -1;
		jobs[p] = (struct lin_job){ h, m, &sh, &pre, lim->window_effort, lim->first_steps,
					    idx + start[k], count[k], &res->parts[p], 0 };
		p++;
	}
	/* biggest first, so one huge key does not start last; results stay in key order */
	qsort(jobs, nparts, sizeof(*jobs), cmp_job_size);
	pool.jobs = jobs;
	pool.n = nparts;
	if ((r = run_pool(&pool, nth < 1 ? 1 : (size_t)nth > nparts ? (int)nparts : nth)) < 0)
		goto out;
	for (size_t p = 0; p < nparts; p++)
		if (jobs[p].err && !r)
			r = jobs[p].err;
	if (r < 0)
		goto out;
	combine_parts(res);
	res->peak_cache_bytes = atomic_load(&sh.peak);
	res->elapsed_ns = now_ns() - t0;
out:
	lin_kvpre_release(&pre);
	free(jobs);
	free(idx);
	free(count);
	free(start);
	if (r < 0) {
		fl_lin_result_free(res);
		return r;
	}
	*out = res;
	return 0;
}
