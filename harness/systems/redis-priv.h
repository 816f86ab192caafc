/* The RESP2 codec of the redis adapter, exposed for its unit tests only.
 * The parser takes whatever a peer sent (possibly a torn or hostile reply)
 * and must never read past the buffer, recurse without bound or allocate
 * more than a small multiple of the bytes it was given. */
#ifndef FAULTLINE_SYSTEMS_REDIS_PRIV_H
#define FAULTLINE_SYSTEMS_REDIS_PRIV_H

#include <stddef.h>

enum fl_resp_type {
	FL_RESP_SIMPLE,  /* +OK */
	FL_RESP_ERROR,   /* -ERR ... */
	FL_RESP_INT,     /* :12 */
	FL_RESP_BULK,    /* $3 abc */
	FL_RESP_ARRAY,   /* *2 ... */
	FL_RESP_NIL,     /* $-1 or *-1 */
};

#define FL_RESP_MAX_BULK (512u << 20)  /* redis's own proto-max-bulk-len */
#define FL_RESP_MAX_ELEMS (1u << 24)
#define FL_RESP_MAX_DEPTH 16

struct fl_resp {
	enum fl_resp_type type;
	long long integer;       /* FL_RESP_INT */
	char *str;               /* SIMPLE, ERROR, BULK: len bytes and a NUL */
	size_t len;
	struct fl_resp *elems;   /* ARRAY: n of them */
	size_t n;
};

/* Parse one reply at the start of buf[0..len): 0 with *out (free with
 * fl_resp_free) and *used, the bytes it took; -EAGAIN when the reply is not
 * complete yet (nothing allocated); -EPROTO when it is malformed, or a
 * length or count is out of range or nested deeper than FL_RESP_MAX_DEPTH;
 * -ENOMEM. */
int fl_resp_parse(const char *buf, size_t len, struct fl_resp **out, size_t *used);
void fl_resp_free(struct fl_resp *r);

/* A command as RESP: an array of argc bulk strings (lens[k] bytes of
 * argv[k]; lens NULL: strlen). *out malloc'd, *outlen its length. */
int fl_resp_command(const char *const *argv, const size_t *lens, size_t argc, char **out,
		    size_t *outlen);

#endif
