/* The agent protocol: one JSON object per line. A request is
 * {"id":N,"op":"...",...}; a reply is {"id":N,"ok":true,...} or
 * {"id":N,"ok":false,"error":"..."}. This module only encodes and decodes;
 * the agent loop and the harness side both use it. */
#ifndef FAULTLINE_PROTO_H
#define FAULTLINE_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FL_PROTO_MAX_LINE 65536
#define FL_PROTO_VERSION 1

struct fl_request {
	int64_t id;      /* -1 when the line had no usable id */
	const char *op;  /* borrowed from obj */
	json_t *obj;     /* the whole request (owned) */
};

/* Decode one line (without its newline). On failure returns -EINVAL and
 * writes a lowercase reason to err; req->id is still set when it could be
 * read, so the error reply can carry it. */
int fl_proto_parse(const char *line, size_t len, struct fl_request *req, char *err, size_t errlen);
void fl_request_release(struct fl_request *req);

/* Encode a reply as one line with a trailing newline, into a malloc'd
 * string. extra (may be NULL) is merged into an ok reply and stolen. */
char *fl_proto_reply_ok(int64_t id, json_t *extra);
char *fl_proto_reply_error(int64_t id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
