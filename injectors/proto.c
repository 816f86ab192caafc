/* JSON-lines codec of the agent protocol. Must never crash on hostile input:
 * every field is type-checked, lines are bounded by the reader. */
#include "faultline/proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fl_proto_parse(const char *line, size_t len, struct fl_request *req, char *err, size_t errlen)
{
	json_error_t je;
	json_t *obj, *id, *op;

	memset(req, 0, sizeof(*req));
	req->id = -1;
	if (len > FL_PROTO_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", FL_PROTO_MAX_LINE);
		return -EINVAL;
	}
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!obj) {
		snprintf(err, errlen, "malformed request: %s", je.text);
		return -EINVAL;
	}
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a request must be a JSON object");
		json_decref(obj);
		return -EINVAL;
	}
	id = json_object_get(obj, "id");
	if (json_is_integer(id) && json_integer_value(id) >= 0)
		req->id = json_integer_value(id);
	else {
		snprintf(err, errlen, "request needs a non-negative integer 'id'");
		json_decref(obj);
		return -EINVAL;
	}
	op = json_object_get(obj, "op");
	if (!json_is_string(op)) {
		snprintf(err, errlen, "request needs a string 'op'");
		json_decref(obj);
		return -EINVAL;
	}
	req->op = json_string_value(op);
	req->obj = obj;
	return 0;
}

void fl_request_release(struct fl_request *req)
{
	if (req && req->obj)
		json_decref(req->obj);
	if (req)
		memset(req, 0, sizeof(*req));
}

static char *dump_line(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER), *line = NULL;

	json_decref(o);
	if (!s)
		return NULL;
	if (asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	free(s);
	return line;
}

char *fl_proto_reply_ok(int64_t id, json_t *extra)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", id >= 0 ? json_integer(id) : json_null());
	json_object_set_new(o, "ok", json_true());
	if (extra) {
		json_object_update_missing(o, extra);
		json_decref(extra);
	}
	return dump_line(o);
}

char *fl_proto_reply_error(int64_t id, const char *fmt, ...)
{
	json_t *o = json_object();
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	json_object_set_new(o, "id", id >= 0 ? json_integer(id) : json_null());
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_string(msg ? msg : "out of memory"));
	free(msg);
	return dump_line(o);
}
