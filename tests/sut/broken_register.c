/* broken-register: a deliberately broken replicated register, the system
 * under test that proves faultline's checks catch what they name
 * (scenarios/broken-register.yaml, tests/e2e/detect-broken-register.sh).
 * It acknowledges a write without waiting for any replica to have it (the
 * replication is one UDP datagram per peer, sent on the way and never
 * retried, with no anti-entropy), and answers reads and compare-and-set
 * from the node's own copy: correct-looking on a healthy network, losing
 * acknowledged writes and serving stale reads under a partition. It must
 * never be fixed, nor taken as an example.
 *
 *   broken-register server NAME IP PORT PEER_IPS [DATA_DIR]
 *   broken-register client IP PORT [TIMEOUT_MS]
 *
 * The server speaks faultline's exec line protocol itself (README.md, "The
 * exec line protocol") over TCP on IP:PORT and replicates over UDP from
 * IP:PORT to the same port of every other address of PEER_IPS; it binds
 * and sends nowhere else. The client is the scenario's system.client: it
 * relays each request line from stdin to its node's server and the reply
 * line back, one long-lived process per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WORD_MAX 255     /* a key or value; faultline's are far shorter */
#define LINE_MAX_ 1024   /* a request line; longer ones end the connection */
#define MAX_KEYS 4096
#define MAX_CONNS 64
#define MAX_PEERS 64

/* --- server ------------------------------------------------------------------ */

struct reg {
	char key[WORD_MAX + 1];
	char val[WORD_MAX + 1];
	uint64_t clock;          /* (clock, node): last writer wins, so that a healthy */
	unsigned node;           /* cluster converges whatever order datagrams arrive in */
};

struct conn {
	int fd;                  /* -1: free slot */
	size_t len;
	char in[LINE_MAX_];
};

struct server {
	const char *name;
	struct sockaddr_in self;
	struct sockaddr_in peers[MAX_PEERS];
	size_t npeers;
	unsigned index;          /* ours in PEER_IPS: the tie-break of equal clocks */
	uint64_t clock;          /* Lamport clock over every write seen */
	int udp;
	struct reg regs[MAX_KEYS];
	size_t nregs;
	struct conn conns[MAX_CONNS];
	uint64_t sent, send_errors, received, applied, overwritten_older;
};

static struct reg *find(struct server *s, const char *key)
{
	for (size_t i = 0; i < s->nregs; i++)
		if (!strcmp(s->regs[i].key, key))
			return &s->regs[i];
	return NULL;
}

/* The register of key, created empty when absent; NULL when the store is full. */
static struct reg *slot(struct server *s, const char *key)
{
	struct reg *r = find(s, key);

	if (r || s->nregs == MAX_KEYS)
		return r;
	r = &s->regs[s->nregs++];
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->val[0] = '\0';
	r->clock = 0;
	r->node = 0;
	return r;
}

static int newer(uint64_t clock, unsigned node, const struct reg *r)
{
	return clock > r->clock || (clock == r->clock && node > r->node);
}

/* A replicated write: taken only when it is newer than what the node holds. */
static void apply_remote(struct server *s, const char *key, const char *val, uint64_t clock,
			 unsigned node)
{
	struct reg *r;

	if (clock > s->clock)
		s->clock = clock;
	r = slot(s, key);
	if (!r)
		return;
	if (!newer(clock, node, r)) {
		s->overwritten_older++;
		return;
	}
	snprintf(r->val, sizeof(r->val), "%s", val);
	r->clock = clock;
	r->node = node;
	s->applied++;
}

static int is_peer(const struct server *s, const struct sockaddr_in *from)
{
	for (size_t i = 0; i < s->npeers; i++)
		if (i != s->index && s->peers[i].sin_addr.s_addr == from->sin_addr.s_addr &&
		    s->peers[i].sin_port == from->sin_port)
			return 1;
	return 0;
}

/* Take every replication datagram already queued. Called before any reply
 * that depends on state, so that on a healthy network a write replicated
 * before its acknowledgement is seen by a later read on another node: the
 * only staleness left is the one the partition makes. */
static void drain_peers(struct server *s)
{
	char buf[LINE_MAX_ + 1], key[WORD_MAX + 1], val[WORD_MAX + 1];
	struct sockaddr_in from;
	socklen_t fl;
	uint64_t clock;
	unsigned node;
	ssize_t n;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(s->udp, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;  /* EAGAIN: queue empty; anything else: nothing to take either */
		buf[n] = '\0';
		if (!is_peer(s, &from))
			continue;
		s->received++;
		if (sscanf(buf, "w %255s %255s %" SCNu64 " %u", key, val, &clock, &node) == 4 &&
		    node < s->npeers)
			apply_remote(s, key, val, clock, node);
	}
}

/* The bug under test: the write is taken here and acknowledged by the
 * caller whatever happens to these datagrams; a partition drops them
 * silently and nothing ever sends them again. They leave before the
 * acknowledgement only so that a healthy network shows no anomaly (a read
 * elsewhere after the ack finds the datagram already queued): the control
 * run must PASS, so that the faulted run's FAIL means the partition. */
static void write_local(struct server *s, struct reg *r, const char *val)
{
	char msg[LINE_MAX_];
	int len;

	snprintf(r->val, sizeof(r->val), "%s", val);
	r->clock = ++s->clock;
	r->node = s->index;
	len = snprintf(msg, sizeof(msg), "w %s %s %" PRIu64 " %u", r->key, r->val, r->clock,
		       r->node);
	for (size_t i = 0; i < s->npeers; i++) {
		if (i == s->index)
			continue;
		s->sent++;
		if (sendto(s->udp, msg, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&s->peers[i],
			   sizeof(s->peers[i])) != len)
			s->send_errors++;
	}
}

static int cmp_reg(const void *a, const void *b)
{
	return strcmp((*(const struct reg *const *)a)->key, (*(const struct reg *const *)b)->key);
}

/* FNV-1a 64 over "key=value\n" in key order: equal contents, equal digest,
 * whatever the clocks or the order the keys were created in. */
static void digest(struct server *s, char *out, size_t outlen)
{
	static const struct reg *sorted[MAX_KEYS];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n = 0;

	for (size_t i = 0; i < s->nregs; i++)
		if (s->regs[i].val[0])
			sorted[n++] = &s->regs[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_reg);
	for (size_t i = 0; i < n; i++) {
		const char *parts[4] = { sorted[i]->key, "=", sorted[i]->val, "\n" };
		for (size_t k = 0; k < 4; k++)
			for (const char *p = parts[k]; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	}
	snprintf(out, outlen, "ok %016" PRIx64 " %zu\n", h, n);
}

/* One request line; the reply (with its newline) into out. */
static void handle(struct server *s, char *line, char *out, size_t outlen)
{
	char *w[5], *save = NULL;
	size_t n = 0;
	struct reg *r;

	for (char *t = strtok_r(line, " \r", &save); t; t = strtok_r(NULL, " \r", &save)) {
		if (n == 5 || strlen(t) > WORD_MAX) {
			snprintf(out, outlen, "fail bad request\n");
			return;
		}
		w[n++] = t;
	}
	drain_peers(s);
	if (n == 1 && !strcmp(w[0], "status")) {
		/* no leader: every node takes writes */
		snprintf(out, outlen, "ok - 0\n");
	} else if (n == 1 && !strcmp(w[0], "digest")) {
		digest(s, out, outlen);
	} else if (n == 2 && (!strcmp(w[0], "get") || !strcmp(w[0], "get-local"))) {
		/* "get" promises a linearizable read; this one is local all the same */
		r = find(s, w[1]);
		if (r && r->val[0])
			snprintf(out, outlen, "ok %s\n", r->val);
		else
			snprintf(out, outlen, "ok\n");
	} else if (n == 3 && !strcmp(w[0], "put")) {
		r = slot(s, w[1]);
		if (!r) {
			snprintf(out, outlen, "fail full\n");
			return;
		}
		write_local(s, r, w[2]);
		snprintf(out, outlen, "ok\n");
	} else if (n == 4 && !strcmp(w[0], "cas")) {
		/* compared with this node's copy only, which a partition leaves stale */
		r = find(s, w[1]);
		if (!r || strcmp(r->val, w[2])) {
			snprintf(out, outlen, "fail compare %s\n", r && r->val[0] ? r->val : "absent");
			return;
		}
		write_local(s, r, w[3]);
		snprintf(out, outlen, "ok\n");
	} else if (n >= 1 && (!strcmp(w[0], "add") || !strncmp(w[0], "read-set", 8))) {
		snprintf(out, outlen, "unsupported\n");
	} else if (n >= 1 && (!strcmp(w[0], "status") || !strcmp(w[0], "digest") ||
			      !strncmp(w[0], "get", 3) || !strcmp(w[0], "put") ||
			      !strcmp(w[0], "cas"))) {
		snprintf(out, outlen, "fail bad request\n");
	} else {
		snprintf(out, outlen, "unsupported\n");
	}
}

static void drop_conn(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Answer every complete line read so far. A client reads each reply before
 * sending the next request, so a reply that does not fit the socket at once
 * means a misbehaving client: it is dropped rather than buffered for. */
static void serve_conn(struct server *s, struct conn *c)
{
	char out[LINE_MAX_ + 64], *nl;
	ssize_t n;
	size_t used;

	n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_conn(c);
		return;
	}
	if (n < 0)
		return;
	c->len += (size_t)n;
	while ((nl = memchr(c->in, '\n', c->len))) {
		*nl = '\0';
		handle(s, c->in, out, sizeof(out));
		if (send(c->fd, out, strlen(out), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)strlen(out)) {
			drop_conn(c);
			return;
		}
		used = (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->len - used);
		c->len -= used;
	}
	if (c->len == sizeof(c->in))
		drop_conn(c);
}

static int parse_addr(const char *ip, int port, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static int bound_socket(int type, const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, r;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, MAX_CONNS) < 0)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int server_main(int argc, char **argv)
{
	static struct server s;  /* ~2 MiB of registers: not on the stack */
	struct pollfd pfd[3 + MAX_CONNS];
	char *list, *save = NULL;
	int port, lfd, sfd, r;
	sigset_t mask;

	if (argc < 6) {
		fprintf(stderr, "usage: broken-register server NAME IP PORT PEER_IPS [DATA_DIR]\n");
		return 2;
	}
	s.name = argv[2];
	port = atoi(argv[4]);
	if (port < 1 || port > 65535 || parse_addr(argv[3], port, &s.self) < 0) {
		fprintf(stderr, "broken-register: bad address '%s:%s'\n", argv[3], argv[4]);
		return 2;
	}
	s.index = MAX_PEERS;
	list = argv[5];
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (s.npeers == MAX_PEERS || parse_addr(t, port, &s.peers[s.npeers]) < 0) {
			fprintf(stderr, "broken-register: bad peer '%s' (at most %d)\n", t, MAX_PEERS);
			return 2;
		}
		if (s.peers[s.npeers].sin_addr.s_addr == s.self.sin_addr.s_addr)
			s.index = (unsigned)s.npeers;
		s.npeers++;
	}
	if (s.index == MAX_PEERS) {
		fprintf(stderr, "broken-register: own address %s is not among the peers\n", argv[3]);
		return 2;
	}
	for (size_t i = 0; i < MAX_CONNS; i++)
		s.conns[i].fd = -1;

	/* SIGTERM (faultline's stop) and SIGINT end the loop through poll */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = bound_socket(SOCK_STREAM, &s.self);
	s.udp = bound_socket(SOCK_DGRAM, &s.self);
	if (sfd < 0 || lfd < 0 || s.udp < 0) {
		r = sfd < 0 ? errno : lfd < 0 ? -lfd : -s.udp;
		fprintf(stderr, "broken-register: %s: cannot listen on %s:%d: %s\n", s.name, argv[3],
			port, strerror(r));
		return 1;
	}
	fprintf(stderr, "broken-register: %s serving %s:%d (tcp clients, udp replication to %zu "
		"peers); acknowledges without waiting for them, on purpose\n", s.name, argv[3], port,
		s.npeers - 1);

	for (;;) {
		size_t np = 3;
		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s.udp, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < MAX_CONNS; i++)
			if (s.conns[i].fd >= 0)
				pfd[np++] = (struct pollfd){ .fd = s.conns[i].fd, .events = POLLIN };
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "broken-register: %s: poll: %s\n", s.name, strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		/* peers first: a request below must see what already arrived */
		drain_peers(&s);
		if (pfd[2].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			size_t i;
			for (i = 0; fd >= 0 && i < MAX_CONNS && s.conns[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == MAX_CONNS)
				close(fd);  /* bounded: the client sees a closed connection */
			else if (fd >= 0)
				s.conns[i] = (struct conn){ .fd = fd };
		}
		for (size_t k = 3; k < np; k++) {
			if (!pfd[k].revents)
				continue;
			for (size_t i = 0; i < MAX_CONNS; i++)
				if (s.conns[i].fd == pfd[k].fd) {
					serve_conn(&s, &s.conns[i]);
					break;
				}
		}
	}
	fprintf(stderr, "broken-register: %s stopping: %zu keys; replication sent %" PRIu64
		" (%" PRIu64 " send errors), received %" PRIu64 ", applied %" PRIu64
		", ignored as older %" PRIu64 "\n", s.name, s.nregs, s.sent, s.send_errors,
		s.received, s.applied, s.overwritten_older);
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (s.conns[i].fd >= 0)
			close(s.conns[i].fd);
	close(lfd);
	close(s.udp);
	close(sfd);
	return 0;
}

/* --- client ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become ready for events until deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)left);
		if (r >= 0 || errno != EINTR)
			return r > 0 ? 1 : r;
	}
}

/* A connected socket, or -errno; nothing has been sent when this fails. */
static int dial(const struct sockaddr_in *a, int64_t deadline)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0, r;
	socklen_t el = sizeof(e);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (r <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
		close(fd);
		return r == 0 ? -ETIMEDOUT : e ? -e : -EIO;
	}
	return fd;
}

static void reply(const char *head, const char *detail)
{
	printf("%s %s\n", head, detail);
	fflush(stdout);
}

static int client_main(int argc, char **argv)
{
	struct sockaddr_in srv;
	char *line = NULL, buf[LINE_MAX_ + 1];
	size_t cap = 0, len;
	ssize_t n;
	int fd = -1, timeout_ms = 1500;

	if (argc < 4) {
		fprintf(stderr, "usage: broken-register client IP PORT [TIMEOUT_MS]\n");
		return 2;
	}
	if (argc > 4)
		timeout_ms = atoi(argv[4]);
	if (parse_addr(argv[2], atoi(argv[3]), &srv) < 0 || timeout_ms < 1) {
		fprintf(stderr, "broken-register client: bad address or timeout\n");
		return 2;
	}
	/* below the workload's timeout, so faultline hears "info timeout" from
	 * here instead of having to kill this process */
	while ((n = getline(&line, &cap, stdin)) > 0) {
		int64_t deadline = now_ms() + timeout_ms;
		int r;

		if (line[n - 1] != '\n' || n > LINE_MAX_) {
			reply("fail", "request too long");
			continue;
		}
		if (fd < 0 && (fd = dial(&srv, deadline)) < 0) {
			/* nothing was sent: certainly did not happen */
			reply(fd == -ETIMEDOUT ? "fail timeout connecting:" : "fail refused",
			      strerror(-fd));
			fd = -1;
			continue;
		}
		if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
			reply("info lost connection:", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		/* one reply line; anything else ends the connection, so a late
		 * answer is never taken for the next request */
		len = 0;
		r = 0;
		while (!memchr(buf, '\n', len)) {
			if (len == LINE_MAX_ || (r = wait_fd(fd, POLLIN, deadline)) <= 0)
				break;
			n = recv(fd, buf + len, LINE_MAX_ - len, 0);
			if (n <= 0) {
				r = -1;
				break;
			}
			len += (size_t)n;
		}
		if (!memchr(buf, '\n', len) || memchr(buf, '\n', len) != buf + len - 1) {
			reply(r == 0 ? "info timeout" : "info lost connection",
			      r == 0 ? "no reply from the node in time" : "to the node");
			close(fd);
			fd = -1;
			continue;
		}
		fwrite(buf, 1, len, stdout);
		fflush(stdout);
	}
	free(line);
	if (fd >= 0)
		close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "server"))
		return server_main(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "client"))
		return client_main(argc, argv);
	fprintf(stderr, "usage: broken-register server NAME IP PORT PEER_IPS [DATA_DIR]\n"
		"       broken-register client IP PORT [TIMEOUT_MS]\n");
	return 2;
}
