/* faultline-agent: runs inside one node and serves the harness over a
 * JSON-lines channel (stdin/stdout, a unix socket, or a serial port such as
 * a VM's virtio-serial channel). This file only parses options and opens
 * the channel; the engine is agent_core.c, the fault mechanisms are the
 * injectors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
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

#define PORT_WAIT_S 30
#define MAX_PORTS 8
#define VIRTIO_PORTS "/sys/class/virtio-ports"

/* Is a port's name `name` or `name.<digits>` (the ports of one agent)? */
static int port_name_matches(const char *have, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(have, name, n))
		return 0;
	if (!have[n])
		return 1;
	return have[n] == '.' && have[n + 1] && strspn(have + n + 1, "0123456789") == strlen(have + n + 1);
}

/* The devices of the virtio-serial ports named name or name.N, sorted by
 * name ("/dev/vport1p1", ...): how many (up to max), or -errno. */
static int find_virtio_ports(const char *name, char devs[][64], char names[][128], int max)
{
	DIR *d = opendir(VIRTIO_PORTS);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (n < max && (e = readdir(d))) {
		char p[PATH_MAX], buf[128];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/name", VIRTIO_PORTS, e->d_name);
		if (!(f = fopen(p, "re")))
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = 0;
			if (port_name_matches(buf, name)) {
				snprintf(devs[n], 64, "/dev/%.58s", e->d_name);
				snprintf(names[n], 128, "%s", buf);
				n++;
			}
		}
		fclose(f);
	}
	closedir(d);
	/* by name: port .0 (or the bare name) first */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
			char t[128], u[64];
			memcpy(t, names[k], sizeof(t));
			memcpy(names[k], names[k - 1], sizeof(t));
			memcpy(names[k - 1], t, sizeof(t));
			memcpy(u, devs[k], sizeof(u));
			memcpy(devs[k], devs[k - 1], sizeof(u));
			memcpy(devs[k - 1], u, sizeof(u));
		}
	return n;
}

/* --serial / --virtio-port: character devices whose far end comes and goes
 * (the host connecting to the VM's channels). The ports and their device
 * nodes may appear a little after the agent starts (module loading). */
static int serve_port(struct fl_agent *a, const char *path, const char *vport)
{
	char devs[MAX_PORTS][64], names[MAX_PORTS][128];
	int fds[MAX_PORTS], n = 0, r = 0;

	for (int t = 0; t < PORT_WAIT_S * 10 && !fl_agent_stop && n == 0; t++) {
		struct timespec ts = { 0, 100 * 1000000 };

		if (vport) {
			if ((r = find_virtio_ports(vport, devs, names, MAX_PORTS)) < 0)
				break;
			if (r > 0) {
				/* the ports of one device come together; let the last ones land */
				nanosleep(&ts, NULL);
				r = find_virtio_ports(vport, devs, names, MAX_PORTS);
			}
		} else {
			snprintf(devs[0], sizeof(devs[0]), "%.63s", path);
			r = 1;
		}
		for (int k = 0; k < r; k++) {
			fds[n] = open(devs[k], O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
			if (fds[n] >= 0) {
				n++;
				continue;
			}
			if (errno != ENOENT) { /* the node is there but will not open */
				fprintf(stderr, "faultline-agent: cannot open '%s': %s\n", devs[k],
					strerror(errno));
				for (int i = 0; i < n; i++)
					close(fds[i]);
				return -errno;
			}
		}
		if (r < 0)
			break;
		if (n == 0)
			nanosleep(&ts, NULL);
	}
	if (n == 0) {
		if (vport)
			fprintf(stderr, "faultline-agent: no virtio-serial port named '%s' in %s after %d s\n",
				vport, VIRTIO_PORTS, PORT_WAIT_S);
		else
			fprintf(stderr, "faultline-agent: cannot open '%s'\n", path);
		return r < 0 ? r : -ENOENT;
	}
	for (int k = 0; k < n; k++)
		fprintf(stderr, "faultline-agent[%s]: serving on %s\n", a->node, devs[k]);
	r = fl_agent_serve_ports(a, fds, (size_t)n);
	for (int k = 0; k < n; k++)
		close(fds[k]);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: faultline-agent [--node NAME] [--journal FILE] [--heal-after DURATION]\n"
		"                       [--iface NAME]... [--listen PATH | --serial PATH |\n"
		"                       --virtio-port NAME] [--vm-node] [--version] [--help]\n"
		"\n"
		"Serves the faultline harness over stdin/stdout, one JSON request per line:\n"
		"  {\"id\":1,\"op\":\"hello\"}  ->  {\"id\":1,\"ok\":true,\"agent\":...,\"ops\":[...]}\n"
		"Every change is written to the undo journal first; 'heal' replays it.\n"
		"Without a request for --heal-after (default 5s) the agent heals every\n"
		"fault it applied; when the channel closes it heals and exits.\n"
		"\n"
		"  --node NAME          the node's name, for messages\n"
		"  --journal FILE       the undo journal (default: in a new directory in $TMPDIR,\n"
		"                       removed at a clean exit); a journal left by a\n"
		"                       dead agent is healed at start\n"
		"  --heal-after D       dead-man switch delay, e.g. 5s; 0 disables it\n"
		"  --iface NAME         an interface this node owns (repeatable; default:\n"
		"                       every interface of its namespace but lo)\n"
		"  --listen PATH        serve connections on a unix socket instead of\n"
		"                       stdin/stdout; a connection's faults are healed\n"
		"                       when it closes, the processes at SIGTERM\n"
		"  --serial PATH        serve a character device whose far end comes and\n"
		"                       goes (a serial port): one connection while the far\n"
		"                       end is open; its faults are healed when it closes\n"
		"  --virtio-port NAME   the same on each virtio-serial port named NAME or\n"
		"                       NAME.N (found in /sys/class/virtio-ports, waited for\n"
		"                       %d s), one connection per port at a time\n"
		"  --vm-node            this machine is the node's own VM: allow clock\n"
		"                       faults and reboot (never in a network namespace,\n"
		"                       whose clock and machine are the host's)\n",
		PORT_WAIT_S);
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
		{ "serial", required_argument, NULL, 's' },
		{ "virtio-port", required_argument, NULL, 'p' },
		{ "vm-node", no_argument, NULL, 'C' },
		{ 0 },
	};
	struct fl_agent a;
	const char *node = "node", *journal = NULL, *why, *listen_path = NULL;
	const char *serial_path = NULL, *vport = NULL;
	char *tmp_journal = NULL, *tmp_dir = NULL, *ifaces[FL_AGENT_MAX_IFACES];
	int64_t heal_after = 5 * FL_NS_PER_S;
	size_t nifaces = 0;
	int c, r, vm_node = 0;

	/* nothing the agent makes (journal, node files, logs, its socket) is
	 * writable by others; its processes inherit this */
	umask(umask(022) | 022);
	while ((c = getopt_long(argc, argv, "hVn:j:a:i:l:s:p:", longopts, NULL)) != -1) {
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
		case 's':
			serial_path = optarg;
			break;
		case 'p':
			vport = optarg;
			break;
		case 'C':
			vm_node = 1;
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
	if (!!listen_path + !!serial_path + !!vport > 1) {
		fprintf(stderr, "faultline-agent: --listen, --serial and --virtio-port exclude each other\n");
		return 2;
	}
	if (!journal) {
		/* a private directory (mkdtemp, mode 0700), never a predictable
		 * name in a shared one: the journal and its rewrites live there */
		const char *dir = getenv("TMPDIR");
		if (asprintf(&tmp_dir, "%s/faultline-agent.XXXXXX", dir && *dir ? dir : "/tmp") < 0 ||
		    !mkdtemp(tmp_dir) || asprintf(&tmp_journal, "%s/journal", tmp_dir) < 0) {
			fprintf(stderr, "faultline-agent: cannot make a journal directory: %s\n",
				strerror(errno));
			free(tmp_dir);
			return 1;
		}
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
		if (tmp_dir)
			rmdir(tmp_dir);
		free(tmp_journal);
		free(tmp_dir);
		return 1;
	}
	for (size_t i = 0; i < nifaces; i++)
		a.ifaces[a.nifaces++] = strdup(ifaces[i]);
	a.vm_node = vm_node;
	if (listen_path)
		r = serve_socket(&a, listen_path);
	else if (serial_path || vport)
		r = serve_port(&a, serial_path, vport);
	else
		r = fl_agent_serve(&a, STDIN_FILENO, STDOUT_FILENO);
	if (tmp_journal && fl_journal_count(a.journal) == 0 && unlink(tmp_journal) == 0)
		rmdir(tmp_dir);
	fl_agent_release(&a);
	free(tmp_journal);
	free(tmp_dir);
	if (r < 0) {
		fprintf(stderr, "faultline-agent: channel error: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
