/* libFuzzer target for the agent protocol, both ways. The agent side: a
 * request line through fl_proto_parse and, for the ops that change nothing
 * on the machine (hello, ping, heartbeat, journal), through the agent's
 * dispatch; the reply must be one JSON object on one line. The harness
 * side: the bytes as what an agent answered on its channel (fl_agentc_call),
 * since nothing a node says may take over the harness. Seeds:
 * tests/fuzz/corpus/proto/. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "faultline/agent.h"
#include "faultline/agentc.h"
#include "faultline/proto.h"

#include "fuzz_util.h"

static const char *const safe_ops[] = { "hello", "ping", "heartbeat", "journal" };

/* A reply the agent writes: one JSON object and its newline. */
static void check_reply(char *out)
{
	size_t n = out ? strlen(out) : 0;
	json_t *j;

	if (!n || out[n - 1] != '\n' || memchr(out, '\n', n - 1))
		abort();
	j = json_loadb(out, n - 1, 0, NULL);
	if (!json_is_object(j))
		abort();
	json_decref(j);
	free(out);
}

static void agent_side(const uint8_t *data, size_t size)
{
	static struct fl_agent a;
	static int ready;
	struct fl_request req;
	char err[512];
	int safe = 0;

	if (!ready) {
		/* a real file: the agent never opens its journal through a link
		 * (so not /proc/self/fd/N); under $TMPDIR, which tests/fuzz/run
		 * points into build/fuzz and removes */
		static char path[PATH_MAX];
		const char *tmp = getenv("TMPDIR");
		snprintf(path, sizeof(path), "%s/fuzz-proto-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(path))
			abort();
		strncat(path, "/journal", sizeof(path) - strlen(path) - 1);
		if (fl_agent_init(&a, "n1", path, 0, NULL) < 0)
			abort();
		ready = 1;
	}
	if (fl_proto_parse((const char *)data, size, &req, err, sizeof(err)) < 0) {
		check_reply(fl_proto_reply_error(req.id, "%s", err));
		return;
	}
	for (size_t k = 0; k < sizeof(safe_ops) / sizeof(safe_ops[0]); k++)
		safe |= !strcmp(req.op, safe_ops[k]);
	fl_request_release(&req);
	if (safe)
		check_reply(fl_agent_handle_line(&a, (const char *)data, size));
}

static void harness_side(const uint8_t *data, size_t size)
{
	struct fl_agentc *c;
	json_t *reply = NULL;
	char err[512];
	int sv[2];

	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (write(sv[1], data, size) != (ssize_t)size || shutdown(sv[1], SHUT_WR) < 0 ||
	    fl_agentc_attach("n1", sv[0], 0, &c) < 0)
		abort();
	if (fl_agentc_call(c, json_pack("{s:s}", "op", "ping"), 1000, &reply, err, sizeof(err)) == 0 &&
	    !json_is_object(reply))
		abort();
	json_decref(reply);
	fl_agentc_close(c, 0);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	agent_side(data, size);
	harness_side(data, size);
	return 0;
}
