/* faultline-agent: runs inside one node and serves the harness over a
 * JSON-lines channel (stdin/stdout). This file only parses options; the
 * engine is agent_core.c, the fault mechanisms are the injectors. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "faultline/agent.h"
#include "faultline/units.h"

#ifndef FL_VERSION
#define FL_VERSION "0.1.0"
#endif

static void on_signal(int sig)
{
	(void)sig;
	fl_agent_stop = 1;
}

/* --listen: a unix socket; several harness connections at once. Faults live as
 * long as the connection that made them; the processes until SIGTERM. */
static int serve_socket(struct fl_agent *a, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, r = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "faultline-agent: socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 4) < 0) {
		r = -errno;
		fprintf(stderr, "faultline-agent: cannot listen on %s: %s\n", path, strerror(errno));
		close(lfd);
		return r;
	}
	setsid(); /* outlive the terminal of the `faultline up` that started us */
	r = fl_agent_listen(a, lfd);
	close(lfd);
	unlink(path);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline-agent [--node NAME] [--journal FILE] [--heal-after DURATION]\n"
		"                       [--iface NAME]... [--listen PATH] [--own-clock]\n"
		"                       [--version] [--help]\n"
		"\n"
		"Serves the faultline harness over stdin/stdout, one JSON request per line:\n"
		"  {\"id\":1,\"op\":\"hello\"}  ->  {\"id\":1,\"ok\":true,\"agent\":...,\"ops\":[...]}\n"
		"Every change is written to the undo journal first; 'heal' replays it.\n"
		"Without a request for --heal-after (default 5s) the agent heals every\n"
		"fault it applied; when the channel closes it heals and exits.\n"
		"\n"
		"  --node NAME          the node's name, for messages\n"
		"  --journal FILE       the undo journal (default: a file in $TMPDIR,\n"
		"                       removed at a clean exit); a journal left by a\n"
		"                       dead agent is healed at start\n"
		"  --heal-after D       dead-man switch delay, e.g. 5s; 0 disables it\n"
		"  --iface NAME         an interface this node owns (repeatable; default:\n"
		"                       every interface of its namespace but lo)\n"
		"  --listen PATH        serve connections on a unix socket instead of\n"
		"                       stdin/stdout; a connection's faults are healed\n"
		"                       when it closes, the processes at SIGTERM\n"
		"  --own-clock          this machine's clock is the node's own (a VM):\n"
		"                       allow clock faults (never in a network namespace,\n"
		"                       whose clock is the host's)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "node", required_argument, NULL, 'n' },
		{ "journal", required_argument, NULL, 'j' },
		{ "heal-after", required_argument, NULL, 'a' },
		{ "iface", required_argument, NULL, 'i' },
		{ "listen", required_argument, NULL, 'l' },
		{ "own-clock", no_argument, NULL, 'C' },
		{ 0 },
	};
	struct fl_agent a;
	const char *node = "node", *journal = NULL, *why, *listen_path = NULL;
	char *tmp_journal = NULL, *ifaces[FL_AGENT_MAX_IFACES];
	int64_t heal_after = 5 * FL_NS_PER_S;
	size_t nifaces = 0;
	int c, r, own_clock = 0;

	while ((c = getopt_long(argc, argv, "hVn:j:a:i:l:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("faultline-agent %s\n", FL_VERSION);
			return 0;
		case 'n':
			node = optarg;
			break;
		case 'j':
			journal = optarg;
			break;
		case 'a':
			if (fl_parse_duration(optarg, 0, &heal_after, &why) < 0) {
				fprintf(stderr, "faultline-agent: bad --heal-after '%s': %s\n", optarg, why);
				return 2;
			}
			break;
		case 'l':
			listen_path = optarg;
			break;
		case 'C':
			own_clock = 1;
			break;
		case 'i':
			if (nifaces == FL_AGENT_MAX_IFACES) {
				fprintf(stderr, "faultline-agent: at most %d --iface\n", FL_AGENT_MAX_IFACES);
				return 2;
			}
			ifaces[nifaces++] = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!journal) {
		const char *dir = getenv("TMPDIR");
		if (asprintf(&tmp_journal, "%s/faultline-agent-%s-%d.journal", dir && *dir ? dir : "/tmp",
			     node, (int)getpid()) < 0)
			return 1;
		journal = tmp_journal;
	}
	signal(SIGPIPE, SIG_IGN);
	{
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: poll/accept return EINTR */
		sigaction(SIGINT, &sa, NULL);
	}
	if ((r = fl_agent_init(&a, node, journal, heal_after, stderr)) < 0) {
		fprintf(stderr, "faultline-agent: cannot open journal '%s': %s\n", journal, strerror(-r));
		free(tmp_journal);
		return 1;
	}
	for (size_t i = 0; i < nifaces; i++)
		a.ifaces[a.nifaces++] = strdup(ifaces[i]);
	a.own_clock = own_clock;
	r = listen_path ? serve_socket(&a, listen_path) : fl_agent_serve(&a, STDIN_FILENO, STDOUT_FILENO);
	if (tmp_journal && fl_journal_count(a.journal) == 0)
		unlink(tmp_journal);
	fl_agent_release(&a);
	free(tmp_journal);
	if (r < 0) {
		fprintf(stderr, "faultline-agent: channel error: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
