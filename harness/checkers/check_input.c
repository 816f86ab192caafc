/* Parsers from history files to the checker's ops (linear.h): faultline's
 * history.jsonl, Jepsen etcd logs and EDN kv logs, with format and model
 * detection. Every malformed line is reported with its place; nothing here
 * prints or decides a verdict. */
#include "faultline/check_input.h"
#include "faultline/util.h"
#include "faultline/history.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[FL_CHECK_FORMAT__N] = { "faultline", "etcd", "edn" };

const char *fl_check_format_to_string(enum fl_check_format f)
{
	return fl_enum_name(format_names, FL_CHECK_FORMAT__N, (unsigned)f);
}

int fl_check_format_from_string(const char *s)
{
	int i = fl_enum_index(format_names, FL_CHECK_FORMAT__N, s);

	return i < 0 ? -EINVAL : i;
}

static const char *skip_ws(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

int fl_check_detect_format(const char *line)
{
	const char *s = skip_ws(line);

	if (strstr(s, "jepsen.util - "))
		return FL_CHECK_ETCD;
	if (s[0] == '{' && skip_ws(s + 1)[0] == ':')
		return FL_CHECK_EDN;
	if (s[0] == '{' && skip_ws(s + 1)[0] == '"')
		return FL_CHECK_FAULTLINE;
	return -EINVAL;
}

/* An invoked op waiting for its completion. */
struct pend {
	int64_t call, line;
	uint32_t key, a, b;
	uint8_t kind, open, flags;
	uint32_t process;
};

struct parser {
	const char *name;
	struct fl_diags *d;
	struct fl_lin_history *h;
	struct pend *p; /* by faultline "i" or by process */
	size_t pcap;
	int errors;
	int has_cas, has_set;
};

/* The pending op of number i (a faultline "i", a process number) read on
 * line ln. The table grows to the number, so it is bounded by the lines
 * read: faultline's "i" stay below the line number (plus lines lost), and
 * Jepsen's process numbers grow by the concurrency at each crashed client;
 * 64 per line and 65536 more hold both, where "i":100000000 alone once
 * asked for 5 GB (tests/fuzz/regress/check_input/). */
static int pend_slot(struct parser *ps, int64_t i, int64_t ln, struct pend **out)
{
	if (i < 0 || i > 100000000 || i >= 64 * ln + 65536)
		return -ERANGE;
	if ((size_t)i >= ps->pcap) {
		size_t nc = ps->pcap ? ps->pcap : 256;
		while (nc <= (size_t)i)
			nc *= 2;
		struct pend *v = realloc(ps->p, nc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + ps->pcap, 0, (nc - ps->pcap) * sizeof(*v));
		ps->p = v;
		ps->pcap = nc;
	}
	*out = &ps->p[i];
	return 0;
}

#define bad(ps, line, ...) \
	(fl_diags_add((ps)->d, (ps)->name, (int)(line), 0, __VA_ARGS__), (ps)->errors++)

/* Emit the op of pending p completed at time ret (FL_LIN_INF: unknown). */
static int emit(struct parser *ps, struct pend *p, int64_t ret, const uint32_t *el, size_t nel)
{
	struct fl_lin_op op = {
		.call = p->call, .ret = ret, .key = p->key, .kind = p->kind, .flags = p->flags,
		.process = p->process, .a = p->a, .b = p->b, .src = p->line,
	};

	p->open = 0;
	if (op.kind == FL_LIN_CAS)
		ps->has_cas = 1;
	if (op.kind == FL_LIN_ADD || op.kind == FL_LIN_READ_ALL)
		ps->has_set = 1;
	return fl_lin_history_add(ps->h, &op, el, nel);
}

/* Ops never completed: unknown outcome; a read of unknown value says nothing. */
static int close_open(struct parser *ps)
{
	int r;

	for (size_t i = 0; i < ps->pcap; i++) {
		struct pend *p = &ps->p[i];
		if (!p->open)
			continue;
		if (p->kind == FL_LIN_READ || p->kind == FL_LIN_READ_ALL) {
			p->open = 0;
			ps->h->dropped++;
			continue;
		}
		if ((r = emit(ps, p, FL_LIN_INF, NULL, 0)) < 0)
			return r;
	}
	return 0;
}

static int64_t value_id(struct parser *ps, json_t *v)
{
	char buf[32];

	if (!v || json_is_null(v))
		return FL_LIN_NIL;
	if (json_is_string(v))
		return fl_lin_history_value(ps->h, json_string_value(v), json_string_length(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return fl_lin_history_value(ps->h, buf, strlen(buf));
	}
	return -EINVAL;
}

/* --- faultline history.jsonl ---------------------------------------------------- */

static int faultline_line(struct parser *ps, const char *line, size_t len, int64_t ln, int last)
{
	json_error_t je;
	json_t *o = json_loadb(line, len, 0, &je), *v;
	const char *type, *f;
	json_int_t i;
	struct pend *p;
	int64_t id;
	int r = 0, fk, oc;

	if (!o || !json_is_object(o)) {
		/* a torn last line is what a crash mid-write leaves: not an
		 * error, what was complete is read (the caller says so) */
		if (last && line[len - 1] != '\n')
			ps->h->torn = ln;
		else
			bad(ps, ln, "not a JSON object: %s", o ? "not an object" : je.text);
		goto out;
	}
	type = json_string_value(json_object_get(o, "type"));
	v = json_object_get(o, "i");
	if (!type || !json_is_integer(v) || !json_is_integer(json_object_get(o, "t"))) {
		bad(ps, ln, "%s", "missing 'i', 'type' or 't'");
		goto out;
	}
	i = json_integer_value(v);
	if ((r = pend_slot(ps, i, ln, &p)) < 0) {
		if (r == -ERANGE)
			bad(ps, ln, "%s", "'i' out of range"), r = 0;
		goto out;
	}
	f = json_string_value(json_object_get(o, "f"));
	if (!strcmp(type, "invoke")) {
		static const int kinds[] = { [FL_F_READ] = FL_LIN_READ, [FL_F_WRITE] = FL_LIN_WRITE,
					     [FL_F_CAS] = FL_LIN_CAS, [FL_F_ADD] = FL_LIN_ADD,
					     [FL_F_READ_ALL] = FL_LIN_READ_ALL };
		const char *key = json_string_value(json_object_get(o, "key"));
		if ((fk = fl_op_f_from_string(f)) < 0) {
			bad(ps, ln, "unknown op 'f': '%s'", f ? f : "");
			goto out;
		}
		if (p->open || p->line) {
			bad(ps, ln, "%s", "operation 'i' invoked twice");
			goto out;
		}
		memset(p, 0, sizeof(*p));
		p->call = json_integer_value(json_object_get(o, "t"));
		p->line = ln;
		p->kind = (uint8_t)kinds[fk];
		p->process = (uint32_t)json_integer_value(json_object_get(o, "process"));
		if ((id = fl_lin_history_key(ps->h, key ? key : "", key ? strlen(key) : 0)) < 0)
			goto oom;
		p->key = (uint32_t)id;
		if (p->kind == FL_LIN_WRITE || p->kind == FL_LIN_CAS || p->kind == FL_LIN_ADD) {
			if ((id = value_id(ps, json_object_get(o, "value"))) < 0)
				goto badval;
			p->a = (uint32_t)id;
		}
		if (p->kind == FL_LIN_CAS) {
			p->b = p->a;
			if ((id = value_id(ps, json_object_get(o, "expect"))) < 0)
				goto badval;
			p->a = (uint32_t)id;
		}
		p->open = 1;
		goto out;
	}
	if ((oc = fl_outcome_from_string(type)) < 0) {
		bad(ps, ln, "unknown type '%s'", type);
		goto out;
	}
	if (!p->open) {
		bad(ps, ln, "%s", "completion of an operation never invoked (or completed twice)");
		goto out;
	}
	int64_t t = json_integer_value(json_object_get(o, "t"));
	if (t < p->call) {
		bad(ps, ln, "%s", "completes before its invocation");
		goto out;
	}
	if (oc == FL_OUTCOME_FAIL) {
		const char *err = json_string_value(json_object_get(o, "error"));
		if (p->kind == FL_LIN_CAS && err && strstr(err, "compare failed")) {
			p->flags |= FL_LIN_CAS_FAILED;
			r = emit(ps, p, t, NULL, 0);
		} else {
			p->open = 0; /* did not happen */
			ps->h->dropped++;
		}
		goto out;
	}
	if (oc == FL_OUTCOME_INFO) {
		if (p->kind == FL_LIN_READ || p->kind == FL_LIN_READ_ALL) {
			p->open = 0;
			ps->h->dropped++;
		} else {
			r = emit(ps, p, FL_LIN_INF, NULL, 0);
		}
		goto out;
	}
	v = json_object_get(o, "value");
	if (p->kind == FL_LIN_READ) {
		if ((id = value_id(ps, v)) < 0)
			goto badval;
		p->a = (uint32_t)id;
		r = emit(ps, p, t, NULL, 0);
	} else if (p->kind == FL_LIN_READ_ALL) {
		size_t n = json_array_size(v), k;
		uint32_t *el = malloc((n + 1) * sizeof(*el));
		json_t *e;
		if (!json_is_array(v)) {
			free(el);
			bad(ps, ln, "%s", "read_all without a list 'value'");
			goto out;
		}
		if (!el)
			goto oom;
		json_array_foreach(v, k, e) {
			if ((id = value_id(ps, e)) < 0) {
				free(el);
				goto badval;
			}
			el[k] = (uint32_t)id;
		}
		r = emit(ps, p, t, el, n);
		free(el);
	} else {
		r = emit(ps, p, t, NULL, 0);
	}
	goto out;
badval:
	if (id == -ENOMEM)
		goto oom;
	p->open = 0;
	bad(ps, ln, "%s", "'value' or 'expect' is not a string, integer or null");
	goto out;
oom:
	r = -ENOMEM;
out:
	json_decref(o);
	return r;
}

/* --- Jepsen etcd logs -------------------------------------------------------------- */

/* Next whitespace-separated token of *s into [*b, *e). */
static int token(const char **s, const char **b, const char **e)
{
	const char *p = skip_ws(*s);

	if (!*p)
		return 0;
	*b = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	*e = p;
	*s = p;
	return 1;
}

static int tok_is(const char *b, const char *e, const char *w)
{
	return (size_t)(e - b) == strlen(w) && !memcmp(b, w, (size_t)(e - b));
}

static int64_t etcd_value(struct parser *ps, const char *b, const char *e)
{
	if (tok_is(b, e, "nil"))
		return FL_LIN_NIL;
	for (const char *q = b; q < e; q++)
		if (!isdigit((unsigned char)*q) && !(q == b && *q == '-'))
			return -EINVAL;
	return fl_lin_history_value(ps->h, b, (size_t)(e - b));
}

static int etcd_line(struct parser *ps, const char *line, int64_t ln)
{
	const char *s = strstr(line, "jepsen.util - "), *b, *e, *tb, *te, *fb, *fe, *vb;
	char *end;
	long proc;
	struct pend *p;
	int kind, r;
	int64_t id = 0;

	if (!s)
		return 0; /* not a client operation line */
	s += strlen("jepsen.util - ");
	if (!token(&s, &b, &e) || (proc = strtol(b, &end, 10), end != e) || proc < 0 ||
	    !token(&s, &tb, &te) || !token(&s, &fb, &fe)) {
		bad(ps, ln, "%s", "expected '<process> <type> <f> <value>'");
		return 0;
	}
	vb = skip_ws(s);
	e = vb + strlen(vb);
	while (e > vb && isspace((unsigned char)e[-1]))
		e--;
	if (tok_is(fb, fe, ":read"))
		kind = FL_LIN_READ;
	else if (tok_is(fb, fe, ":write"))
		kind = FL_LIN_WRITE;
	else if (tok_is(fb, fe, ":cas"))
		kind = FL_LIN_CAS;
	else {
		bad(ps, ln, "unknown operation '%.*s'", (int)(fe - fb), fb);
		return 0;
	}
	if ((r = pend_slot(ps, proc, ln, &p)) < 0) {
		if (r == -ERANGE)
			bad(ps, ln, "%s", "process number out of range"), r = 0;
		return r;
	}
	if (tok_is(tb, te, ":invoke")) {
		if (p->open) {
			bad(ps, ln, "%s", "process invokes while its previous operation is open");
			return 0;
		}
		memset(p, 0, sizeof(*p));
		p->call = ln;
		p->line = ln;
		p->kind = (uint8_t)kind;
		p->process = (uint32_t)proc;
		if ((id = fl_lin_history_key(ps->h, "", 0)) < 0) /* one register */
			return (int)id;
		p->key = (uint32_t)id;
		if (kind == FL_LIN_WRITE) {
			if ((id = etcd_value(ps, vb, e)) < 0)
				goto badval;
			p->a = (uint32_t)id;
		} else if (kind == FL_LIN_CAS) {
			/* [A B] */
			const char *q = vb, *ab, *ae, *bb, *be;
			if (*q++ != '[' || e[-1] != ']')
				goto badval;
			ab = skip_ws(q);
			for (ae = ab; ae < e - 1 && !isspace((unsigned char)*ae); ae++)
				;
			bb = skip_ws(ae);
			for (be = bb; be < e - 1 && !isspace((unsigned char)*be); be++)
				;
			if (ae == ab || be == bb || skip_ws(be) != e - 1)
				goto badval;
			if ((id = etcd_value(ps, ab, ae)) < 0)
				goto badval;
			p->a = (uint32_t)id;
			if ((id = etcd_value(ps, bb, be)) < 0)
				goto badval;
			p->b = (uint32_t)id;
		}
		p->open = 1;
		return 0;
	}
	if (!p->open || p->kind != kind) {
		bad(ps, ln, "%s", "completion without a matching invocation of this process");
		return 0;
	}
	if (tok_is(tb, te, ":ok")) {
		if (kind == FL_LIN_READ) {
			if ((id = etcd_value(ps, vb, e)) < 0)
				goto badval;
			p->a = (uint32_t)id;
		}
		return emit(ps, p, ln, NULL, 0);
	}
	if (tok_is(tb, te, ":fail")) {
		if (kind == FL_LIN_CAS) {
			p->flags |= FL_LIN_CAS_FAILED;
			return emit(ps, p, ln, NULL, 0);
		}
		p->open = 0; /* a read that timed out, a write that did not happen */
		ps->h->dropped++;
		return 0;
	}
	if (tok_is(tb, te, ":info")) {
		if (kind == FL_LIN_READ) {
			p->open = 0;
			ps->h->dropped++;
			return 0;
		}
		/* stays open; Jepsen gives the client a new process number */
		return emit(ps, p, FL_LIN_INF, NULL, 0);
	}
	bad(ps, ln, "unknown type '%.*s'", (int)(te - tb), tb);
	return 0;
badval:
	if (id == -ENOMEM)
		return -ENOMEM;
	p->open = 0;
	bad(ps, ln, "%s", "bad value (expected nil, an integer or [A B])");
	return 0;
}

/* --- EDN kv logs ------------------------------------------------------------------ */

/* A scalar EDN value: keyword (":x"), string, integer or nil; strings are
 * unescaped into buf. Returns the type char (':', '"', '0', 'n') or 0. */
static int edn_scalar(const char **s, char *buf, size_t cap, size_t *len)
{
	const char *p = skip_ws(*s);
	size_t n = 0;
	int t;

	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			char c = *p;
			if (c == '\\') {
				c = *++p;
				c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
				if (!c)
					return 0;
			}
			if (n + 1 >= cap)
				return 0;
			buf[n++] = c;
		}
		if (*p != '"')
			return 0;
		p++;
		t = '"';
	} else if (*p == ':' || *p == '-' || isalnum((unsigned char)*p)) {
		const char *b = p;
		while (*p && !isspace((unsigned char)*p) && *p != ',' && *p != '}')
			p++;
		if ((size_t)(p - b) + 1 >= cap)
			return 0;
		memcpy(buf, b, (size_t)(p - b));
		n = (size_t)(p - b);
		t = *b == ':' ? ':' : n == 3 && !memcmp(b, "nil", 3) ? 'n' : '0';
	} else {
		return 0;
	}
	buf[n] = 0;
	*len = n;
	*s = p;
	return t;
}

static int edn_line(struct parser *ps, const char *line, int64_t ln)
{
	const char *s = skip_ws(line);
	char kbuf[64], vbuf[4096], keyv[4096], valv[4096];
	size_t klen, vlen, keylen = 0, vallen = 0;
	long proc = -1;
	int type = -1, kind = -1, vt, has_key = 0, has_val = 0, r;
	struct pend *p;
	int64_t id, kid;

	if (!*s)
		return 0;
	if (*s++ != '{')
		goto malformed;
	for (;;) {
		s = skip_ws(s);
		if (*s == '}')
			break;
		if (edn_scalar(&s, kbuf, sizeof(kbuf), &klen) != ':')
			goto malformed;
		if (!(vt = edn_scalar(&s, vbuf, sizeof(vbuf), &vlen)))
			goto malformed;
		s = skip_ws(s);
		if (*s == ',')
			s++;
		if (!strcmp(kbuf, ":process")) {
			char *end;
			proc = strtol(vbuf, &end, 10);
			if (vt != '0' || *end)
				goto malformed;
		} else if (!strcmp(kbuf, ":type")) {
			type = !strcmp(vbuf, ":invoke") ? 0 : !strcmp(vbuf, ":ok") ? 1 :
			       !strcmp(vbuf, ":fail") ? 2 : !strcmp(vbuf, ":info") ? 3 : -2;
		} else if (!strcmp(kbuf, ":f")) {
			kind = !strcmp(vbuf, ":get") ? FL_LIN_READ : !strcmp(vbuf, ":put") ? FL_LIN_WRITE :
			       !strcmp(vbuf, ":append") ? FL_LIN_APPEND : -2;
		} else if (!strcmp(kbuf, ":key")) {
			memcpy(keyv, vbuf, vlen + 1);
			keylen = vlen;
			has_key = 1;
		} else if (!strcmp(kbuf, ":value")) {
			memcpy(valv, vbuf, vlen + 1);
			vallen = vlen;
			has_val = vt != 'n' && vlen > 0; /* nil and "" are the same kv value */
		}
	}
	if (proc < 0 || type < 0 || kind < 0 || !has_key) {
		bad(ps, ln, "%s", type == -2 ? "unknown :type" : kind == -2 ? "unknown :f (get, put or append)" :
				  "missing :process, :type, :f or :key");
		return 0;
	}
	if ((r = pend_slot(ps, proc, ln, &p)) < 0) {
		if (r == -ERANGE)
			bad(ps, ln, "%s", "process number out of range"), r = 0;
		return r;
	}
	id = has_val ? fl_lin_history_value(ps->h, valv, vallen) : FL_LIN_NIL;
	if (id < 0)
		return (int)id;
	if (type == 0) {
		if (p->open) {
			bad(ps, ln, "%s", "process invokes while its previous operation is open");
			return 0;
		}
		if ((kid = fl_lin_history_key(ps->h, keyv, keylen)) < 0)
			return (int)kid;
		memset(p, 0, sizeof(*p));
		p->call = ln;
		p->line = ln;
		p->kind = (uint8_t)kind;
		p->key = (uint32_t)kid;
		p->process = (uint32_t)proc;
		p->a = (uint32_t)id;
		p->open = 1;
		return 0;
	}
	if (!p->open || p->kind != kind) {
		bad(ps, ln, "%s", "completion without a matching invocation of this process");
		return 0;
	}
	if (type == 1) {
		if (kind == FL_LIN_READ)
			p->a = (uint32_t)id;
		return emit(ps, p, ln, NULL, 0);
	}
	if (type == 3 && kind != FL_LIN_READ)
		return emit(ps, p, FL_LIN_INF, NULL, 0);
	p->open = 0;
	ps->h->dropped++;
	return 0;
malformed:
	bad(ps, ln, "%s", "expected an EDN map {:process P, :type T, :f F, :key K, :value V}");
	return 0;
}

/* --- driver ----------------------------------------------------------------------- */

int fl_check_read(FILE *f, const char *name, int format, struct fl_lin_history **out,
		  enum fl_check_format *format_out, enum fl_lin_model *model_out,
		  struct fl_diags *d)
{
	struct parser ps = { .name = name, .d = d };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int64_t ln = 0, first = 0;
	int r = 0;

	if (!(ps.h = fl_lin_history_new()))
		return -ENOMEM;
	while ((len = getline(&line, &cap, f)) > 0) {
		ln++;
		if (format < 0) {
			if (!*skip_ws(line))
				continue;
			/* lines before the first recognisable one (a log's preamble) are skipped */
			if ((format = fl_check_detect_format(line)) < 0) {
				first = first ? first : ln;
				continue;
			}
		}
		switch (format) {
		case FL_CHECK_FAULTLINE: {
			int last = line[len - 1] != '\n';
			if (*skip_ws(line))
				r = faultline_line(&ps, line, (size_t)len, ln, last);
			break;
		}
		case FL_CHECK_ETCD:
			r = etcd_line(&ps, line, ln);
			break;
		default:
			r = edn_line(&ps, line, ln);
			break;
		}
		if (r < 0)
			break;
	}
	free(line);
	if (!r && ferror(f))
		r = -EIO;
	if (format < 0 && first) {
		bad(&ps, first, "%s", "unknown history format (expected faultline history.jsonl, "
				      "a Jepsen etcd log or EDN kv ops)");
	}
	if (format < 0) /* nothing in it: an empty history (linearizable) */
		format = FL_CHECK_FAULTLINE;
	if (!r)
		r = close_open(&ps);
	if (!r && ps.errors)
		r = -EINVAL;
	free(ps.p);
	if (r < 0) {
		fl_lin_history_free(ps.h);
		return r;
	}
	*out = ps.h;
	*format_out = (enum fl_check_format)format;
	*model_out = format == FL_CHECK_ETCD ? FL_LIN_CAS_REGISTER :
		     format == FL_CHECK_EDN ? FL_LIN_KV :
		     ps.has_set ? FL_LIN_SET : ps.has_cas ? FL_LIN_CAS_REGISTER : FL_LIN_REGISTER;
	return 0;
}

int fl_check_load(const char *path, int format, struct fl_lin_history **out,
		  enum fl_check_format *format_out, enum fl_lin_model *model_out,
		  struct fl_diags *d)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f)
		return -errno;
	r = fl_check_read(f, path, format, out, format_out, model_out, d);
	fclose(f);
	return r;
}
