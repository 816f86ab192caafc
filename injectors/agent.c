/* faultline-agent: runs inside one node and serves the harness over a
 * JSON-lines channel (stdin/stdout by default). This file is the channel
 * loop: bounded lines, one reply per request, never a crash on bad input.
 * The fault operations (netem, partitions, processes) and the dead-man
 * switch are added by the injectors (see ARCHITECTURE.md). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultline/proto.h"

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

static const char *const ops[] = { "hello", "ping" };

static int write_all(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t w = write(fd, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

static char *handle(const struct fl_request *req)
{
	if (!strcmp(req->op, "hello")) {
		json_t *list = json_array();
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			json_array_append_new(list, json_string(ops[i]));
		return fl_proto_reply_ok(req->id, json_pack("{s:s, s:i, s:o}", "agent", FL_VERSION,
							    "protocol", FL_PROTO_VERSION, "ops", list));
	}
	if (!strcmp(req->op, "ping"))
		return fl_proto_reply_ok(req->id, NULL);
	return fl_proto_reply_error(req->id, "unknown op '%s'", req->op);
}

static int serve(int in, int out)
{
	static char buf[FL_PROTO_MAX_LINE + 1];
	size_t len = 0;
	int skipping = 0; /* inside an oversized line: drop bytes until '\n' */

	for (;;) {
		ssize_t k = read(in, buf + len, sizeof(buf) - len);
		size_t start = 0;

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return 0; /* channel closed */
		len += (size_t)k;
		for (size_t i = 0; i < len; i++) {
			struct fl_request req;
			char err[256], *reply;

			if (buf[i] != '\n')
				continue;
			if (skipping) {
				skipping = 0;
				start = i + 1;
				continue;
			}
			if (i > start && fl_proto_parse(buf + start, i - start, &req, err, sizeof(err)) == 0) {
				reply = handle(&req);
				fl_request_release(&req);
			} else if (i > start) {
				reply = fl_proto_reply_error(req.id, "%s", err);
			} else {
				reply = NULL; /* blank line: keep-alive */
			}
			if (reply && write_all(out, reply) < 0) {
				free(reply);
				return -EPIPE;
			}
			free(reply);
			start = i + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == sizeof(buf)) {
			/* one error per oversized line, however long it goes on */
			if (!skipping) {
				char *reply = fl_proto_reply_error(-1, "request longer than %d bytes",
								   FL_PROTO_MAX_LINE);
				if (reply && write_all(out, reply) < 0) {
					free(reply);
					return -EPIPE;
				}
				free(reply);
			}
			len = 0;
			skipping = 1;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: faultline-agent [--version] [--help]\n"
		   "\n"
		   "Serves the faultline harness over stdin/stdout, one JSON request per line:\n"
		   "  {\"id\":1,\"op\":\"hello\"}  ->  {\"id\":1,\"ok\":true,\"agent\":...,\"ops\":[...]}\n"
		   "Started by faultline on each node; not meant to be run by hand.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("faultline-agent %s\n", FL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r = serve(STDIN_FILENO, STDOUT_FILENO);
	if (r < 0) {
		fprintf(stderr, "faultline-agent: channel error: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
