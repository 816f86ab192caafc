/* The sequential specifications the checker knows: register and cas-register
 * (inline in linear-priv.h), kv strings with append, and sets. Derived
 * states (a concatenation, a set plus one element) are interned so a state
 * is always one small integer, and each transition is memoised: the search
 * calls a step millions of times and must not allocate on the way. */
#include "linear-priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t lin_hash_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ len;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int lin_map_init(struct lin_map *m, size_t cap)
{
	memset(m, 0, sizeof(*m));
	m->k = calloc(cap, sizeof(*m->k));
	m->v = malloc(cap * sizeof(*m->v));
	if (!m->k || !m->v) {
		lin_map_release(m);
		return -ENOMEM;
	}
	m->cap = cap;
	return 0;
}

void lin_map_release(struct lin_map *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

int lin_map_get(const struct lin_map *m, uint64_t k, uint32_t *v)
{
	size_t mask = m->cap - 1;

	for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
		if (m->k[i] == k) {
			*v = m->v[i];
			return 1;
		}
		if (!m->k[i])
			return 0;
	}
}

int lin_map_put(struct lin_map *m, uint64_t k, uint32_t v)
{
	size_t mask;

	if (2 * (m->n + 1) > m->cap) {
		struct lin_map g;
		if (lin_map_init(&g, m->cap * 2) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->k[i])
				lin_map_put(&g, m->k[i], m->v[i]);
		lin_map_release(m);
		*m = g;
	}
	mask = m->cap - 1;
	for (size_t i = mix64(k) & mask;; i = (i + 1) & mask) {
		if (!m->k[i] || m->k[i] == k) {
			m->n += !m->k[i];
			m->k[i] = k;
			m->v[i] = v;
			return 0;
		}
	}
}

/* --- local states ------------------------------------------------------------ */

static int grow_loc(struct lin_model *md)
{
	size_t cap = md->loc_cap ? md->loc_cap * 2 : 64;

	{
		uint32_t *o = realloc(md->set_off, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		md->set_off = o;
		uint32_t *n = realloc(md->set_n, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		md->set_n = n;
	}
	md->bytes += (cap - md->loc_cap) * 16;
	md->loc_cap = cap;
	return 0;
}

static uint64_t loc_hash(const struct lin_model *md, size_t i)
{
	return md->set_n[i] ? lin_hash_bytes(md->set_el + md->set_off[i], md->set_n[i] * sizeof(uint32_t)) :
			      lin_hash_bytes("", 0);
}

static int loc_equal(const struct lin_model *md, size_t i, const void *p, size_t len)
{
	return md->set_n[i] * sizeof(uint32_t) == len &&
	       (!len || !memcmp(md->set_el + md->set_off[i], p, len));
}

static int ltab_rehash(struct lin_model *md)
{
	size_t cap = md->ltab_cap ? md->ltab_cap * 2 : 128;
	uint32_t *t = malloc(cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	memset(t, 0xff, cap * sizeof(*t));
	for (size_t i = 0; i < md->nloc; i++) {
		size_t j = loc_hash(md, i) & (cap - 1);
		while (t[j] != UINT32_MAX)
			j = (j + 1) & (cap - 1);
		t[j] = (uint32_t)i;
	}
	free(md->ltab);
	md->bytes += (cap - md->ltab_cap) * sizeof(*t);
	md->ltab = t;
	md->ltab_cap = cap;
	return 0;
}

/* Intern bytes (a kv string, or a sorted set as uint32s) as a local state;
 * returns the local index. */
static int64_t loc_intern(struct lin_model *md, const void *p, size_t len)
{
	uint64_t hv = lin_hash_bytes(p, len);
	size_t j;

	if (2 * (md->nloc + 1) > md->ltab_cap && ltab_rehash(md) < 0)
		return -ENOMEM;
	for (j = hv & (md->ltab_cap - 1); md->ltab[j] != UINT32_MAX; j = (j + 1) & (md->ltab_cap - 1))
		if (loc_equal(md, md->ltab[j], p, len))
			return md->ltab[j];
	if (md->nloc == md->loc_cap && grow_loc(md) < 0)
		return -ENOMEM;
	{
		size_t n = len / sizeof(uint32_t);
		if (md->nel + n > md->el_cap) {
			size_t cap = md->el_cap ? md->el_cap : 256;
			while (cap < md->nel + n)
				cap *= 2;
			uint32_t *e = realloc(md->set_el, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			md->bytes += (cap - md->el_cap) * sizeof(*e);
			md->set_el = e;
			md->el_cap = cap;
		}
		if (len)
			memcpy(md->set_el + md->nel, p, len);
		md->set_off[md->nloc] = (uint32_t)md->nel;
		md->set_n[md->nloc] = (uint32_t)n;
		md->nel += n;
	}
	md->ltab[j] = (uint32_t)md->nloc;
	return (int64_t)md->nloc++;
}

static int kv_insert(struct lin_model *md, uint32_t id);

int lin_model_init(struct lin_model *md, enum fl_lin_model m, const struct fl_lin_history *h,
		   const struct lin_kvpre *pre)
{
	memset(md, 0, sizeof(*md));
	md->m = m;
	md->h = h;
	md->pre = pre;
	if (m == FL_LIN_KV && kv_insert(md, FL_LIN_NIL) < 0)
		return -ENOMEM;
	if (m != FL_LIN_KV && m != FL_LIN_SET)
		return 0;
	if (lin_map_init(&md->memo, 256) < 0)
		return -ENOMEM;
	if (m == FL_LIN_SET && loc_intern(md, "", 0) < 0) /* id 0: the empty set */
		return -ENOMEM;
	return 0;
}

void lin_model_release(struct lin_model *md)
{
	free(md->kv);
	free(md->ktab);
	free(md->buf1);
	free(md->buf2);
	free(md->set_off);
	free(md->set_n);
	free(md->set_el);
	free(md->ltab);
	free(md->reads);
	lin_map_release(&md->live);
	lin_map_release(&md->memo);
	memset(md, 0, sizeof(*md));
}

/* --- kv strings ----------------------------------------------------------------- */

#define KV_P ((1ULL << 61) - 1)
#define KV_B 1000003ULL

static uint64_t mulmod(uint64_t a, uint64_t b)
{
	__uint128_t x = (__uint128_t)a * b;
	uint64_t r = (uint64_t)(x & KV_P) + (uint64_t)(x >> 61);

	return r >= KV_P ? r - KV_P : r;
}

int lin_kvpre_init(struct lin_kvpre *k, const struct fl_lin_history *h)
{
	k->h = malloc(h->nvals * sizeof(*k->h));
	k->pw = malloc(h->nvals * sizeof(*k->pw));
	k->len = malloc(h->nvals * sizeof(*k->len));
	if (!k->h || !k->pw || !k->len) {
		lin_kvpre_release(k);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->nvals; i++) {
		const unsigned char *s = (const unsigned char *)(h->vals[i] ? h->vals[i] : "");
		uint64_t hv = 0, pw = 1;
		size_t n = strlen((const char *)s);
		for (size_t j = 0; j < n; j++) {
			hv = mulmod(hv, KV_B) + s[j] + 1;
			hv = hv >= KV_P ? hv - KV_P : hv;
			pw = mulmod(pw, KV_B);
		}
		k->h[i] = hv;
		k->pw[i] = pw;
		k->len[i] = (uint32_t)n;
	}
	return 0;
}

void lin_kvpre_release(struct lin_kvpre *k)
{
	free(k->h);
	free(k->pw);
	free(k->len);
	memset(k, 0, sizeof(*k));
}

static void kv_hl(const struct lin_model *md, uint32_t id, uint64_t *h, uint32_t *len)
{
	if (id < md->h->nvals) {
		*h = md->pre->h[id];
		*len = md->pre->len[id];
	} else {
		*h = md->kv[id - md->h->nvals].h;
		*len = md->kv[id - md->h->nvals].len;
	}
}

/* Write string id (len bytes) into buf. */
static void kv_materialize(const struct lin_model *md, uint32_t id, char *buf)
{
	uint64_t hh;
	uint32_t pos;

	kv_hl(md, id, &hh, &pos);
	while (id >= md->h->nvals) {
		const struct lin_kvs *k = &md->kv[id - md->h->nvals];
		uint32_t sl = md->pre->len[k->suffix];
		pos -= sl;
		memcpy(buf + pos, md->h->vals[k->suffix], sl);
		id = k->parent;
	}
	if (pos)
		memcpy(buf, md->h->vals[id], pos);
}

static size_t kv_slot(uint64_t h, uint32_t len, size_t cap)
{
	return (h * 0x9e3779b97f4a7c15ULL ^ len) * 0xbf58476d1ce4e5b9ULL >> 17 & (cap - 1);
}

static int kv_insert(struct lin_model *md, uint32_t id)
{
	uint64_t h;
	uint32_t len;
	size_t j;

	if (2 * (md->ktab_n + 1) > md->ktab_cap) {
		size_t nc = md->ktab_cap ? md->ktab_cap * 2 : 256;
		uint32_t *t = malloc(nc * sizeof(*t)), *old = md->ktab;
		size_t oc = md->ktab_cap;
		if (!t)
			return -ENOMEM;
		memset(t, 0xff, nc * sizeof(*t));
		md->ktab = t;
		md->ktab_cap = nc;
		md->ktab_n = 0;
		md->bytes += (nc - oc) * sizeof(*t);
		for (size_t i = 0; i < oc; i++)
			if (old[i] != UINT32_MAX)
				kv_insert(md, old[i]);
		free(old);
	}
	kv_hl(md, id, &h, &len);
	for (j = kv_slot(h, len, md->ktab_cap); md->ktab[j] != UINT32_MAX; j = (j + 1) & (md->ktab_cap - 1))
		if (md->ktab[j] == id)
			return 0;
	md->ktab[j] = id;
	md->ktab_n++;
	return 0;
}

static int kv_bufs(struct lin_model *md, size_t len)
{
	if (len <= md->buf_cap)
		return 0;
	size_t nc = md->buf_cap ? md->buf_cap : 256;
	while (nc < len)
		nc *= 2;
	char *a = realloc(md->buf1, nc), *b;
	if (!a)
		return -ENOMEM;
	md->buf1 = a;
	if (!(b = realloc(md->buf2, nc)))
		return -ENOMEM;
	md->buf2 = b;
	md->bytes += 2 * (nc - md->buf_cap);
	md->buf_cap = nc;
	return 0;
}

static uint64_t live_key(uint64_t h, uint32_t len)
{
	return (h ^ (uint64_t)len << 40) | 1; /* never 0 (empty in lin_map) */
}

/* The (hash, length) of every prefix of every value a get returns. A
 * collision can only make a dead string look live, which costs time, never
 * a verdict. */
static int live_build(struct lin_model *md)
{
	size_t need = 1, cap = 64;
	int r;

	lin_sort_u32(md->reads, md->nreads);
	for (size_t i = 0; i < md->nreads; i++)
		need += md->pre->len[md->reads[i]];
	while (cap < 2 * need)
		cap *= 2;
	if ((r = lin_map_init(&md->live, cap)) < 0)
		return r;
	md->bytes += cap * 12;
	if ((r = lin_map_put(&md->live, live_key(0, 0), 0)) < 0)
		return r;
	for (size_t i = 0; i < md->nreads; i++) {
		const unsigned char *v = (const unsigned char *)md->h->vals[md->reads[i]];
		uint64_t hv = 0;
		if (i && md->reads[i] == md->reads[i - 1])
			continue;
		for (uint32_t j = 0; v && v[j]; j++) {
			hv = mulmod(hv, KV_B) + v[j] + 1;
			hv = hv >= KV_P ? hv - KV_P : hv;
			if ((r = lin_map_put(&md->live, live_key(hv, j + 1), 0)) < 0)
				return r;
		}
	}
	return 0;
}

/* The id of string s + v: found by content hash and verified byte for byte,
 * else a new chain state; LIN_KV_DEAD when no get returns a string that
 * starts with it. */
static int64_t kv_append(struct lin_model *md, uint32_t s, uint32_t v)
{
	uint64_t hs, hv, h;
	uint32_t ls, lv, len, unused;
	size_t j;
	int verified = 0;

	kv_hl(md, s, &hs, &ls);
	kv_hl(md, v, &hv, &lv);
	if (!lv)
		return s;
	h = mulmod(hs, md->pre->pw[v]) + hv;
	h = h >= KV_P ? h - KV_P : h;
	len = ls + lv;
	if (!md->live.cap && live_build(md) < 0)
		return -ENOMEM;
	if (!lin_map_get(&md->live, live_key(h, len), &unused))
		return LIN_KV_DEAD;
	for (j = kv_slot(h, len, md->ktab_cap); md->ktab[j] != UINT32_MAX; j = (j + 1) & (md->ktab_cap - 1)) {
		uint64_t ch;
		uint32_t cl, c = md->ktab[j];
		kv_hl(md, c, &ch, &cl);
		if (ch != h || cl != len)
			continue;
		if (!verified) {
			if (kv_bufs(md, len) < 0)
				return -ENOMEM;
			kv_materialize(md, s, md->buf1);
			memcpy(md->buf1 + ls, md->h->vals[v], lv);
			verified = 1;
		}
		kv_materialize(md, c, md->buf2);
		if (!memcmp(md->buf1, md->buf2, len))
			return c;
	}
	if (md->nkv == md->kv_cap) {
		size_t nc = md->kv_cap ? md->kv_cap * 2 : 256;
		struct lin_kvs *k = realloc(md->kv, nc * sizeof(*k));
		if (!k)
			return -ENOMEM;
		md->bytes += (nc - md->kv_cap) * sizeof(*k);
		md->kv = k;
		md->kv_cap = nc;
	}
	if (md->h->nvals + md->nkv >= LIN_KV_DEAD)
		return -ENOMEM;
	md->kv[md->nkv] = (struct lin_kvs){ h, len, s, v };
	uint32_t id = (uint32_t)(md->h->nvals + md->nkv++);
	if (kv_insert(md, id) < 0)
		return -ENOMEM;
	return id;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int lin_model_map(struct lin_model *md, const struct fl_lin_op *op, uint32_t gidx,
		  struct lin_op *out)
{
	memset(out, 0, sizeof(*out));
	out->call = op->call;
	out->ret = op->ret;
	out->kind = op->kind;
	out->flags = op->flags;
	out->a = op->a;
	out->b = op->b;
	out->gidx = gidx;
	if (md->m == FL_LIN_KV) {
		/* "" and nil are the same kv state */
		if (op->kind != FL_LIN_APPEND && op->a != FL_LIN_NIL && op->a < md->h->nvals &&
		    md->h->vals[op->a] && !md->h->vals[op->a][0])
			out->a = FL_LIN_NIL;
		/* values a state can be compared with, or become, are canonical ids */
		if (op->kind != FL_LIN_APPEND && kv_insert(md, out->a) < 0)
			return -ENOMEM;
		if (op->kind == FL_LIN_READ) {
			if (md->nreads == md->reads_cap) {
				size_t nc = md->reads_cap ? md->reads_cap * 2 : 64;
				uint32_t *v = realloc(md->reads, nc * sizeof(*v));
				if (!v)
					return -ENOMEM;
				md->reads = v;
				md->reads_cap = nc;
			}
			md->reads[md->nreads++] = out->a;
		}
	} else if (md->m == FL_LIN_SET && op->kind == FL_LIN_READ_ALL) {
		int64_t id = !op->b ? 0 : loc_intern(md, md->h->elems + op->a, (size_t)op->b * sizeof(uint32_t));
		if (id < 0)
			return (int)id;
		out->a = (uint32_t)id;
		out->b = 0;
	}
	return 0;
}

int lin_model_step_slow(struct lin_model *md, uint32_t s, const struct lin_op *op, uint32_t *ns)
{
	uint64_t key = ((uint64_t)s << 32 | op->a) + 1; /* never 0 */
	uint32_t v;
	int64_t id;

	if (op->kind != FL_LIN_APPEND && op->kind != FL_LIN_ADD)
		return 0;
	if (s == LIN_ANY || s == LIN_KV_DEAD) {
		*ns = s; /* an unknown state plus something: still unknown; dead stays dead */
		return 1;
	}
	if (lin_map_get(&md->memo, key, &v)) {
		*ns = v;
		return 1;
	}
	if (op->kind == FL_LIN_APPEND) {
		id = kv_append(md, s, op->a);
	} else {
		uint32_t n = md->set_n[s], *e, sbuf[64];
		size_t k;
		e = n + 1 <= 64 ? sbuf : malloc((n + 1) * sizeof(*e));
		if (!e)
			return -ENOMEM;
		if (n)
			memcpy(e, md->set_el + md->set_off[s], n * sizeof(*e));
		for (k = 0; k < n && e[k] < op->a; k++)
			;
		if (k < n && e[k] == op->a) {
			id = s;
		} else {
			memmove(e + k + 1, e + k, (n - k) * sizeof(*e));
			e[k] = op->a;
			id = loc_intern(md, e, (n + 1) * sizeof(*e));
		}
		if (e != sbuf)
			free(e);
	}
	if (id < 0)
		return (int)id;
	if (lin_map_put(&md->memo, key, (uint32_t)id) < 0)
		return -ENOMEM;
	md->bytes += 24;
	*ns = (uint32_t)id;
	return 1;
}

void lin_sort_u32(uint32_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u32);
}
