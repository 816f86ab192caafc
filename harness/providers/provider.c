/* The provider table (provider.h): one entry per provider, no dlopen. */
#include "faultline/provider.h"

#include "faultline/netns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const struct fl_provider_ops *const providers[FL_PROVIDER__N] = {
	[FL_PROVIDER_NETNS] = &fl_netns_provider,
	[FL_PROVIDER_LIBVIRT] = &fl_libvirt_provider, /* mode create */
};

const struct fl_provider_ops *fl_provider_lookup(enum fl_provider p)
{
	return (unsigned)p < FL_PROVIDER__N ? providers[p] : NULL;
}

const struct fl_provider_ops *fl_provider_by_name(const char *name)
{
	for (size_t i = 0; name && i < FL_PROVIDER__N; i++)
		if (providers[i] && !strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

void fl_provider_agent_path(const char *dir, const char *node, const char *what, char *buf,
			    size_t len)
{
	snprintf(buf, len, "%s/agent-%s.%s", dir, node, what);
}

int fl_provider_connect_unix(const char *path, int *fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

const char *fl_machine_act_name(enum fl_machine_act act)
{
	static const char *const names[] = { "suspend", "resume", "power-off", "power-on",
					     "reset" };
	return (unsigned)act < sizeof(names) / sizeof(names[0]) ? names[act] : "?";
}

void fl_provider_net_spec(const struct fl_scenario *s, const char *id, const char *dir,
			  const char **names, struct fl_netns_spec *out)
{
	for (size_t i = 0; i < s->cluster.nnodes; i++)
		names[i] = s->cluster.nodes[i];
	*out = (struct fl_netns_spec){
		.id = id,
		.nnodes = s->cluster.nnodes,
		.names = names,
		.has_subnet = s->cluster.has_subnet,
		.subnet = s->cluster.subnet,
		.prefix = s->cluster.prefix,
		.state_dir = dir,
	};
}
