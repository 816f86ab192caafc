/* The harness's side of an agent channel: numbered requests, replies
 * matched by id, time limits, and a heartbeat. The channel is any
 * connected stream fd (a socketpair to a process in a namespace, a
 * virtio-serial port); the caller starts the agent and hands over the fd. */
#ifndef FAULTLINE_AGENTC_H
#define FAULTLINE_AGENTC_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct fl_agentc {
	char node[32];
	int fd;
	pid_t pid;          /* the agent process, when we started it (else 0) */
	int64_t next_id;
	char *buf;          /* partial reply line */
	size_t len;
	pthread_mutex_t lock; /* one request at a time per channel */
};

/* Take ownership of fd (and pid, may be 0). */
int fl_agentc_attach(const char *node, int fd, pid_t pid, struct fl_agentc **out);

/* Start agent_path with argv extras over a socketpair in this namespace
 * (tests, and the base of the netns provider's spawn). */
int fl_agentc_spawn(const char *agent_path, const char *node, char *const extra_argv[],
		    struct fl_agentc **out);

/* Send req (an object, which the call takes over; "id" is added) and wait up to timeout_ms for its
 * reply. Returns 0 with *reply (the whole reply object) when ok is true;
 * -EIO with the agent's error text in err when ok is false; -ETIMEDOUT,
 * -EPIPE when the channel broke. */
int fl_agentc_call(struct fl_agentc *c, json_t *req, int timeout_ms, json_t **reply, char *err,
		   size_t errlen);

/* Close the channel (the agent heals and exits), wait up to timeout_ms for
 * it, then SIGKILL. Frees c. */
void fl_agentc_close(struct fl_agentc *c, int timeout_ms);

#endif
