/* Scenario typing: from the positioned YAML tree to struct fl_scenario, one
 * typed parser per key, every problem reported with its place and a hint.
 * Loading never touches the system: no files written, nothing started. */
#include "faultline/scenario.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "faultline/strutil.h"
#include "faultline/units.h"
#include "faultline/util.h"
#include "faultline/cleanup.h"
#include "faultline/ytree.h"
#include "scenario-priv.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- name tables --------------------------------------------------------- */

static const char *const provider_names[] = { "netns", "libvirt" };
static const char *const libvirt_mode_names[] = { "create", "attach" };
static const char *const accel_names[] = { "auto", "kvm", "tcg" };
static const char *const system_names[] = { "etcd", "redis", "exec", "nats" };
static const char *const workload_names[] = { "register", "set", "none" };
static const char *const read_mode_names[] = { "linearizable", "serializable" };
static const char *const fault_names[] = {
	"partition", "latency", "loss",    "duplicate", "corrupt",   "reorder", "rate",  "byzantine",
	"kill",      "pause",   "restart", "suspend",   "power-off", "reboot",  "clock",
};
static const char *const part_mode_names[] = { "isolate", "halves", "majorities-ring", "bridge",
					       "groups" };
static const char *const direction_names[] = { "both", "to", "from" };
static const char *const target_names[] = { "nodes",    "leader",   "followers", "random-one",
					    "minority", "majority", "all",       "percent" };

_Static_assert(ARRAY_SIZE(fault_names) == FL_FAULT__N, "fault names");
_Static_assert(ARRAY_SIZE(part_mode_names) == FL_PART__N, "partition names");
_Static_assert(ARRAY_SIZE(target_names) == FL_TARGET__N, "target names");

#define NAME_FN(fn, type, table)                                                               \
	const char *fn(type v)                                                                 \
	{                                                                                      \
		return fl_enum_name(table, ARRAY_SIZE(table), (unsigned)v);                    \
	}
NAME_FN(fl_provider_to_string, enum fl_provider, provider_names)
NAME_FN(fl_libvirt_mode_to_string, enum fl_libvirt_mode, libvirt_mode_names)
NAME_FN(fl_accel_to_string, enum fl_accel, accel_names)
NAME_FN(fl_system_type_to_string, enum fl_system_type, system_names)
NAME_FN(fl_workload_type_to_string, enum fl_workload_type, workload_names)
NAME_FN(fl_read_mode_to_string, enum fl_read_mode, read_mode_names)
NAME_FN(fl_fault_kind_to_string, enum fl_fault_kind, fault_names)
NAME_FN(fl_partition_mode_to_string, enum fl_partition_mode, part_mode_names)
NAME_FN(fl_direction_to_string, enum fl_direction, direction_names)
NAME_FN(fl_target_kind_to_string, enum fl_target_kind, target_names)

int fl_fault_kind_from_string(const char *s)
{
	return fl_enum_index(fault_names, ARRAY_SIZE(fault_names), s);
}

int fl_fault_is_network(enum fl_fault_kind k)
{
	return k >= FL_FAULT_LATENCY && k <= FL_FAULT_BYZANTINE;
}

int fl_fault_is_node(enum fl_fault_kind k)
{
	return k >= FL_FAULT_KILL && k <= FL_FAULT_REBOOT;
}

int fl_fault_is_vm(enum fl_fault_kind k)
{
	return k == FL_FAULT_SUSPEND || k == FL_FAULT_POWER_OFF || k == FL_FAULT_REBOOT ||
	       k == FL_FAULT_CLOCK;
}

int fl_fault_is_instant(enum fl_fault_kind k)
{
	return k == FL_FAULT_RESTART || k == FL_FAULT_REBOOT;
}

int fl_scenario_node_index(const struct fl_scenario *s, const char *name)
{
	for (size_t i = 0; i < s->cluster.nnodes; i++)
		if (!strcmp(s->cluster.nodes[i], name))
			return (int)i;
	return -1;
}

/* --- typed getters --------------------------------------------------------- */

static int want_scalar(struct fl_sctx *c, const struct fl_ynode *n, const char *key,
		       const char *what)
{
	if (n && n->kind == FL_Y_SCALAR && !fl_ynode_is_null(n))
		return 0;
	FL_ERR(c, n, "'%s' expects %s, got %s", key, what, fl_ykind_name(n));
	return -EINVAL;
}

static int get_str(struct fl_sctx *c, const struct fl_ynode *n, const char *key, char **out)
{
	char *v;

	if (want_scalar(c, n, key, "text") < 0)
		return -EINVAL;
	if (!(v = strdup(n->str)))
		return -ENOMEM;
	free(*out);
	*out = v;
	return 0;
}

static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "on", "On" };
static const char *const no[] = { "false", "False", "FALSE", "no", "No", "off", "Off" };

static int is_bool_word(const struct fl_ynode *n)
{
	if (!n || n->kind != FL_Y_SCALAR || !n->plain)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!strcmp(n->str, yes[i]) || !strcmp(n->str, no[i]))
			return 1;
	return 0;
}

static int get_bool(struct fl_sctx *c, const struct fl_ynode *n, const char *key, int *out)
{

	if (n && n->kind == FL_Y_SCALAR && n->plain) {
		for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
			if (!strcmp(n->str, yes[i]))
				return *out = 1, 0;
		for (size_t i = 0; i < ARRAY_SIZE(no); i++)
			if (!strcmp(n->str, no[i]))
				return *out = 0, 0;
	}
	if (n && n->kind == FL_Y_SCALAR && !fl_ynode_is_null(n))
		FL_ERR(c, n, "'%s' expects true or false, got '%s'", key, n->str);
	else
		FL_ERR(c, n, "'%s' expects true or false, got %s", key, fl_ykind_name(n));
	return -EINVAL;
}

static int get_int(struct fl_sctx *c, const struct fl_ynode *n, const char *key, int64_t min,
		   int64_t max, int64_t *out)
{
	const char *why;
	int r;

	if (want_scalar(c, n, key, "an integer") < 0)
		return -EINVAL;
	r = fl_parse_int(n->str, min, max, out, &why);
	if (r == -ERANGE)
		FL_ERR(c, n, "'%s' must be between %lld and %lld, got %s", key, (long long)min,
		       (long long)max, n->str);
	else if (r < 0)
		FL_ERR(c, n, "'%s' expects an integer, got '%s'", key, n->str);
	return r;
}

static int get_duration(struct fl_sctx *c, const struct fl_ynode *n, const char *key,
			int allow_negative, int64_t *out)
{
	const char *why;
	int r;

	if (want_scalar(c, n, key, "a duration like '10s'") < 0)
		return -EINVAL;
	r = fl_parse_duration(n->str, allow_negative, out, &why);
	if (r < 0)
		FL_ERR(c, n, "bad duration '%s' for '%s': %s", n->str, key, why);
	return r;
}

static int get_positive_duration(struct fl_sctx *c, const struct fl_ynode *n, const char *key,
				 int64_t *out)
{
	int64_t v;

	if (get_duration(c, n, key, 0, &v) < 0)
		return -EINVAL;
	if (v <= 0) {
		FL_ERR(c, n, "'%s' must be longer than 0", key);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

static int get_percent(struct fl_sctx *c, const struct fl_ynode *n, const char *key, double *out)
{
	const char *why;
	int r;

	if (want_scalar(c, n, key, "a percentage like '25%'") < 0)
		return -EINVAL;
	r = fl_parse_percent(n->str, out, &why);
	if (r < 0 && strspn(n->str, "0123456789.") == strlen(n->str))
		FL_ERR(c, n, "bad percentage '%s' for '%s': write it with a '%%' sign, \"%s%%\"", n->str,
		       key, n->str);
	else if (r < 0)
		FL_ERR(c, n, "bad percentage '%s' for '%s': %s", n->str, key, why);
	return r;
}

static int get_enum(struct fl_sctx *c, const struct fl_ynode *n, const char *key,
		    const char *const *names, size_t count, int *out)
{
	const char *hint;
	char list[256] = "";

	if (want_scalar(c, n, key, "a name") < 0)
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		if (!strcmp(n->str, names[i]))
			return *out = (int)i, 0;
	for (size_t i = 0; i < count; i++) {
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
		if (i + 1 < count)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
	}
	hint = fl_closest(n->str, names, count);
	if (hint)
		FL_ERR(c, n, "unknown %s '%s' (did you mean '%s'?)", key, n->str, hint);
	else
		FL_ERR(c, n, "unknown %s '%s'; expected one of: %s", key, n->str, list);
	return -EINVAL;
}

static int get_strv(struct fl_sctx *c, const struct fl_ynode *n, const char *key, char ***out)
{
	char **v;

	if (!n || n->kind != FL_Y_SEQ) {
		FL_ERR(c, n, "'%s' expects a list of strings (e.g. [\"--flag\", \"value\"]), got %s",
		       key, fl_ykind_name(n));
		return -EINVAL;
	}
	if (!(v = calloc(n->n + 1, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct fl_ynode *it = n->items[i];
		if (it->kind != FL_Y_SCALAR) {
			FL_ERR(c, it, "'%s' items must be strings, got %s", key, fl_ykind_name(it));
			fl_strv_free(v);
			return -EINVAL;
		}
		if (!(v[i] = strdup(it->str))) {
			fl_strv_free(v);
			return -ENOMEM;
		}
	}
	fl_strv_free(*out);
	*out = v;
	return 0;
}

/* A key table for one mapping: reports unknown keys (with a hint), wrong
 * container types, and returns the value nodes in table order. */
struct keyspec {
	const char *name;
	const struct fl_ynode *val; /* filled */
	const struct fl_ynode *key; /* filled */
};

static int want_map(struct fl_sctx *c, const struct fl_ynode *n, const char *what)
{
	if (n && n->kind == FL_Y_MAP)
		return 0;
	FL_ERR(c, n, "'%s' expects a mapping (key: value lines), got %s", what, fl_ykind_name(n));
	return -EINVAL;
}

/* other: keys that are valid somewhere else (e.g. for another fault kind),
 * so the message can say "does not apply" instead of "unknown". */
static void take_keys(struct fl_sctx *c, const struct fl_ynode *map, struct keyspec *ks,
		      size_t nks, const char *section, const char *const *other, size_t nother,
		      const char *other_what)
{
	const char *names[64];

	for (size_t i = 0; i < nks && i < ARRAY_SIZE(names); i++)
		names[i] = ks[i].name;
	for (size_t p = 0; p < map->n; p++) {
		const struct fl_ynode *k = map->pairs[p].key;
		size_t i;
		for (i = 0; i < nks; i++)
			if (!strcmp(k->str, ks[i].name))
				break;
		if (i < nks) {
			ks[i].val = map->pairs[p].val;
			ks[i].key = k;
			continue;
		}
		for (size_t o = 0; o < nother; o++) {
			if (!strcmp(k->str, other[o])) {
				FL_ERR(c, k, "'%s' does not apply to %s", k->str, other_what);
				goto next;
			}
		}
		{
			/* words users reach for that are spelled differently here */
			static const char *const syn[][2] = {
				{ "duration", "for" },	 { "time", "at" },	   { "start", "at" },
				{ "delay", "latency" },	 { "interval", "every" }, { "repeat", "every" },
				{ "target", "targets" }, { "node", "targets" },   { "kind", "fault" },
				{ "type", "fault" },	 { "probability", "percent" },
			};
			const char *hint = NULL;
			for (size_t y = 0; y < ARRAY_SIZE(syn) && !hint; y++)
				for (size_t x = 0; x < nks; x++)
					if (!strcmp(k->str, syn[y][0]) && !strcmp(ks[x].name, syn[y][1]))
						hint = syn[y][1];
			if (!hint)
				hint = fl_closest(k->str, names, nks);
			if (hint)
				FL_ERR(c, k, "unknown key '%s' in %s (did you mean '%s'?)", k->str,
				       section, hint);
			else
				FL_ERR(c, k, "unknown key '%s' in %s", k->str, section);
		}
next:;
	}
}

#define KS(...) \
	struct keyspec ks[] = { __VA_ARGS__ }
#define KV(i) (ks[i].val)

/* --- cluster --------------------------------------------------------------- */

static int valid_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FL_NODE_NAME_MAX || !islower((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int parse_subnet(struct fl_sctx *c, const struct fl_ynode *n)
{
	unsigned a, b, d4, e;
	int p;
	char tail;
	uint32_t addr, mask;

	if (want_scalar(c, n, "subnet", "an IPv4 CIDR like '10.77.0.0/24'") < 0)
		return -EINVAL;
	if (sscanf(n->str, "%u.%u.%u.%u/%d%c", &a, &b, &d4, &e, &p, &tail) != 5 || a > 255 ||
	    b > 255 || d4 > 255 || e > 255) {
		FL_ERR(c, n, "bad subnet '%s': expected an IPv4 CIDR like '10.77.0.0/24'", n->str);
		return -EINVAL;
	}
	if (p < 8 || p > 29) {
		FL_ERR(c, n, "subnet prefix /%d out of range: use /8 to /29", p);
		return -ERANGE;
	}
	addr = (a << 24) | (b << 16) | (d4 << 8) | e;
	mask = 0xffffffffu << (32 - p);
	if (addr & ~mask) {
		uint32_t net = addr & mask;
		FL_ERR(c, n, "subnet '%s' has host bits set (did you mean '%u.%u.%u.%u/%d'?)", n->str,
		       net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, p);
		return -EINVAL;
	}
	if (a == 127 || a == 0 || a >= 224 || (a == 169 && b == 254)) {
		FL_ERR(c, n, "subnet '%s' is in a reserved range (0/8, loopback, link-local, multicast "
			     "or class E); use a private range such as 10.77.0.0/24", n->str);
		return -EINVAL;
	}
	c->s->cluster.has_subnet = 1;
	c->s->cluster.subnet = addr;
	c->s->cluster.prefix = (unsigned)p;
	return 0;
}

/* attach's domains: each a name, or {name, uri, address}. */
static void parse_domains(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	char **v;

	if (!n || n->kind != FL_Y_SEQ) {
		FL_ERR(c, n, "'domains' expects a list: a domain name per node, or {name, uri, "
			     "address}, got %s", fl_ykind_name(n));
		return;
	}
	if (n->n > FL_MAX_NODES) {
		FL_ERR(c, n, "too many domains (%zu); at most %d", n->n, FL_MAX_NODES);
		return;
	}
	if (!(v = calloc(n->n + 1, sizeof(*v))))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const struct fl_ynode *it = n->items[i];
		KS({ "name" }, { "uri" }, { "address" });
		struct in_addr in;

		if (it->kind == FL_Y_SCALAR && !fl_ynode_is_null(it)) {
			v[i] = strdup(it->str);
			continue;
		}
		if (it->kind != FL_Y_MAP) {
			FL_ERR(c, it, "'domains' items are a domain name or {name, uri, address}, got %s",
			       fl_ykind_name(it));
			v[i] = strdup("");
			continue;
		}
		take_keys(c, it, ks, ARRAY_SIZE(ks), "cluster.libvirt.domains", NULL, 0, NULL);
		if (!KV(0))
			FL_ERR(c, it, "a domain needs its 'name'");
		else
			get_str(c, KV(0), "name", &v[i]);
		if (!v[i])
			v[i] = strdup("");
		if (KV(1))
			get_str(c, KV(1), "uri", &s->cluster.libvirt.domain_uri[i]);
		if (KV(2) && want_scalar(c, KV(2), "address", "an IPv4 address") == 0) {
			if (inet_pton(AF_INET, KV(2)->str, &in) != 1)
				FL_ERR(c, KV(2), "bad address '%s': expected an IPv4 address like "
						 "'10.77.0.2'", KV(2)->str);
			else
				s->cluster.libvirt.domain_addr[i] = ntohl(in.s_addr);
		}
	}
	fl_strv_free(s->cluster.libvirt.domains);
	s->cluster.libvirt.domains = v;
}

static void parse_libvirt(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	KS({ "uri" }, { "mode" }, { "domains" }, { "kernel" }, { "memory" }, { "vcpus" },
	   { "accel" }, { "iface" });
	int v;
	int64_t i;

	if (want_map(c, n, "libvirt") < 0)
		return;
	take_keys(c, n, ks, ARRAY_SIZE(ks), "cluster.libvirt", NULL, 0, NULL);
	if (KV(0))
		get_str(c, KV(0), "uri", &s->cluster.libvirt.uri);
	if (KV(1) && get_enum(c, KV(1), "mode", libvirt_mode_names, FL_LIBVIRT_MODE__N, &v) == 0)
		s->cluster.libvirt.mode = (enum fl_libvirt_mode)v;
	if (KV(2))
		parse_domains(c, KV(2));
	if (KV(3) && get_str(c, KV(3), "kernel", &s->cluster.libvirt.kernel) == 0 &&
	    s->cluster.libvirt.kernel[0] != '/')
		FL_ERR(c, KV(3), "'kernel' must be an absolute path (e.g. /boot/vmlinuz-6.1.0-amd64)");
	if (KV(4) && want_scalar(c, KV(4), "memory", "a size like '512MiB'") == 0) {
		const char *why;
		uint64_t b;
		if (fl_parse_size(KV(4)->str, &b, &why) < 0)
			FL_ERR(c, KV(4), "bad size '%s' for 'memory': %s", KV(4)->str, why);
		else if (strspn(KV(4)->str, "0123456789. ") == strlen(KV(4)->str))
			FL_ERR(c, KV(4), "'memory' needs a unit, e.g. '%sMiB'", KV(4)->str);
		else if (b < 128ull << 20 || b > 256ull << 30)
			FL_ERR(c, KV(4), "'memory' must be between 128MiB and 256GiB, got %s",
			       KV(4)->str);
		else
			s->cluster.libvirt.memory = b;
	}
	if (KV(5) && get_int(c, KV(5), "vcpus", 1, 64, &i) == 0)
		s->cluster.libvirt.vcpus = (unsigned)i;
	if (KV(6) && get_enum(c, KV(6), "accel", accel_names, FL_ACCEL__N, &v) == 0)
		s->cluster.libvirt.accel = (enum fl_accel)v;
	if (KV(7) && get_str(c, KV(7), "iface", &s->cluster.libvirt.iface) == 0) {
		const char *f = s->cluster.libvirt.iface;

		if (!*f || strlen(f) > 15 || f[strspn(f, "abcdefghijklmnopqrstuvwxyz"
						      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")])
			FL_ERR(c, KV(7), "'iface' must be an interface name (1 to 15 letters, digits, "
					 "'_', '.', '-'), got '%s'", f);
		else if (s->cluster.libvirt.mode != FL_LIBVIRT_ATTACH)
			FL_ERR(c, ks[7].key, "'iface' is for mode 'attach'; mode 'create' gives its "
					     "guests eth0");
	}

	if (s->cluster.libvirt.mode == FL_LIBVIRT_ATTACH && !s->cluster.libvirt.domains)
		FL_ERR(c, n, "libvirt mode 'attach' needs 'domains': the existing domain of each node");
	if (s->cluster.libvirt.mode == FL_LIBVIRT_CREATE && KV(2))
		FL_ERR(c, ks[2].key, "'domains' names existing domains, so it needs 'mode: attach' "
				     "(mode 'create' names its own)");
	if (s->cluster.libvirt.mode == FL_LIBVIRT_ATTACH && KV(3))
		FL_ERR(c, ks[3].key, "'kernel' is for mode 'create'; attached domains boot their own");
}

static void parse_cluster(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	KS({ "provider" }, { "nodes" }, { "subnet" }, { "libvirt" });
	int v;

	if (fl_ynode_is_null(n))
		n = NULL;
	if (n && want_map(c, n, "cluster") < 0)
		n = NULL;
	if (n)
		take_keys(c, n, ks, ARRAY_SIZE(ks), "cluster", NULL, 0, NULL);
	if (KV(0) && get_enum(c, KV(0), "provider", provider_names, FL_PROVIDER__N, &v) == 0)
		s->cluster.provider = (enum fl_provider)v;
	c->nodes_node = KV(1);
	if (!KV(1)) {
		s->cluster.nnodes = 3;
	} else if (KV(1)->kind == FL_Y_SCALAR && !fl_ynode_is_null(KV(1))) {
		int64_t k;
		if (get_int(c, KV(1), "nodes", 1, FL_MAX_NODES, &k) == 0)
			s->cluster.nnodes = (size_t)k;
	} else if (KV(1)->kind == FL_Y_SEQ) {
		if (KV(1)->n == 0)
			FL_ERR(c, KV(1), "'nodes' is an empty list; give at least one node");
		if (KV(1)->n > FL_MAX_NODES)
			FL_ERR(c, KV(1), "too many nodes (%zu); at most %d", KV(1)->n, FL_MAX_NODES);
		for (size_t i = 0; i < KV(1)->n && i < FL_MAX_NODES; i++) {
			const struct fl_ynode *it = KV(1)->items[i];
			if (it->kind != FL_Y_SCALAR || fl_ynode_is_null(it)) {
				FL_ERR(c, it, "node names must be words, got %s", fl_ykind_name(it));
				continue;
			}
			if (!valid_node_name(it->str)) {
				FL_ERR(c, it, "bad node name '%s': use up to %d lowercase letters, "
					      "digits and '-', starting with a letter", it->str,
				       FL_NODE_NAME_MAX);
				continue;
			}
			if (fl_scenario_node_index(s, it->str) >= 0) {
				FL_ERR(c, it, "node '%s' is listed twice", it->str);
				continue;
			}
			s->cluster.nodes[s->cluster.nnodes++] = strdup(it->str);
		}
	} else {
		FL_ERR(c, KV(1), "'nodes' expects a count (1..%d) or a list of node names, got %s",
		       FL_MAX_NODES, fl_ykind_name(KV(1)));
	}
	if (!KV(1) || KV(1)->kind == FL_Y_SCALAR) {
		for (size_t i = 0; i < s->cluster.nnodes; i++)
			if (asprintf(&s->cluster.nodes[i], "n%zu", i + 1) < 0)
				s->cluster.nodes[i] = NULL;
	}
	if (KV(2))
		parse_subnet(c, KV(2));
	s->cluster.libvirt.memory = 512ull << 20;
	s->cluster.libvirt.vcpus = 1;
	if (KV(3)) {
		if (s->cluster.provider != FL_PROVIDER_LIBVIRT)
			FL_ERR(c, ks[3].key, "'libvirt' settings need 'provider: libvirt'");
		parse_libvirt(c, KV(3));
	}
	if (s->cluster.provider == FL_PROVIDER_LIBVIRT && !s->cluster.libvirt.uri)
		s->cluster.libvirt.uri = strdup("qemu:///system");
	if (s->cluster.provider == FL_PROVIDER_LIBVIRT && s->cluster.libvirt.domains &&
	    s->cluster.libvirt.mode == FL_LIBVIRT_ATTACH &&
	    fl_strv_len(s->cluster.libvirt.domains) != s->cluster.nnodes && s->cluster.nnodes)
		FL_ERR(c, fl_ynode_get(KV(3), "domains"),
		       "%zu domains for %zu nodes: attach mode needs one domain per node",
		       fl_strv_len(s->cluster.libvirt.domains), s->cluster.nnodes);
	for (size_t i = 0; s->cluster.has_subnet && s->cluster.libvirt.domains && i < FL_MAX_NODES &&
			   s->cluster.libvirt.domains[i]; i++) {
		uint32_t a = s->cluster.libvirt.domain_addr[i];
		uint32_t mask = 0xffffffffu << (32 - s->cluster.prefix);
		const struct fl_ynode *dn = fl_ynode_get(KV(3), "domains");

		if (a && (a & mask) != s->cluster.subnet)
			FL_ERR(c, dn && dn->kind == FL_Y_SEQ && i < dn->n ? dn->items[i] : dn,
			       "the address of domain '%s' is not on the cluster's subnet",
			       s->cluster.libvirt.domains[i]);
	}
	if (s->cluster.has_subnet) {
		uint64_t room = (1ull << (32 - s->cluster.prefix)) - 3; /* net, broadcast, host */
		if (room < s->cluster.nnodes)
			FL_ERR(c, KV(2), "subnet /%u has room for %llu nodes, the cluster has %zu",
			       s->cluster.prefix, (unsigned long long)room, s->cluster.nnodes);
	}
}

/* --- system ---------------------------------------------------------------- */

static const char *const placeholders[] = { "name",     "ip",   "peers",
					     "peer_ips", "data_dir", "port" };

static void check_placeholders(struct fl_sctx *c, const struct fl_ynode *list, const char *key)
{
	if (!list || list->kind != FL_Y_SEQ)
		return;
	for (size_t i = 0; i < list->n; i++) {
		const char *p = list->items[i]->str;
		/* a '}' outside a placeholder must be doubled, as '{' */
		for (const char *q = p, *open = NULL; q && *q; q++) {
			if (*q == '{' && q[1] == '{')
				q++;
			else if (*q == '{')
				open = q;
			else if (*q == '}' && open)
				open = NULL;
			else if (*q == '}' && q[1] == '}')
				q++;
			else if (*q == '}') {
				FL_ERR(c, list->items[i], "unmatched '}' in '%s' item '%s' (write '}}' for "
							  "a literal brace)", key, list->items[i]->str);
				break;
			}
		}
		while (p && (p = strchr(p, '{'))) {
			const char *e = strchr(p, '}');
			char word[64];
			size_t len;
			int ok = 0;
			if (p[1] == '{') { /* "{{" is a literal brace */
				p += 2;
				continue;
			}
			if (!e) {
				FL_ERR(c, list->items[i], "unclosed '{' in '%s' item '%s' (write '{{' for a "
							  "literal brace)", key, list->items[i]->str);
				break;
			}
			len = (size_t)(e - p - 1);
			snprintf(word, sizeof(word), "%.*s", (int)(len < 63 ? len : 63), p + 1);
			for (size_t k = 0; k < ARRAY_SIZE(placeholders); k++)
				ok |= !strcmp(word, placeholders[k]);
			if (!ok) {
				const char *hint = fl_closest(word, placeholders, ARRAY_SIZE(placeholders));
				if (hint)
					FL_ERR(c, list->items[i], "unknown placeholder '{%s}' in '%s' (did "
								  "you mean '{%s}'?)", word, key, hint);
				else
					FL_ERR(c, list->items[i], "unknown placeholder '{%s}' in '%s'; "
								  "known: {name} {ip} {peers} "
								  "{peer_ips} {data_dir} {port}", word, key);
			}
			p = e + 1;
		}
	}
}

static int valid_env_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

#define FL_SECRET_SECT 300

/* An env value: text, or {value: TEXT, secret: BOOL} (a secret is never
 * written into a run directory: fl_scenario_copy_redacted). */
static int parse_env_value(struct fl_sctx *c, const char *name, const struct fl_ynode *n,
			   struct fl_env *e)
{
	KS({ "value" }, { "secret" });
	const struct fl_ynode *v = n;
	char sect[FL_SECRET_SECT];

	if (n->kind == FL_Y_MAP) {
		snprintf(sect, sizeof(sect), "system.env.%s", name);
		take_keys(c, n, ks, ARRAY_SIZE(ks), sect, NULL, 0, NULL);
		if (KV(1) && get_bool(c, KV(1), "secret", &e->secret) < 0)
			return -EINVAL;
		if (!(v = KV(0))) {
			FL_ERR(c, n, "environment variable '%s' needs its 'value'", name);
			return -EINVAL;
		}
	}
	if (v->kind != FL_Y_SCALAR) {
		FL_ERR(c, v, "environment variable '%s' needs a text value (or {value, secret}), "
			     "got %s", name, fl_ykind_name(v));
		return -EINVAL;
	}
	e->at = v->at;
	e->end = v->end;
	return (e->value = strdup(fl_ynode_is_null(v) ? "" : v->str)) ? 0 : -ENOMEM;
}

static void parse_system(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	KS({ "type" }, { "binary" }, { "args" }, { "env" }, { "ready_timeout" }, { "start" },
	   { "client" });
	int v;

	s->system.ready_timeout_ns = 60 * FL_NS_PER_S;
	if (!n) {
		FL_ERR(c, c->root, "missing 'system': say what to test (type: etcd, redis, nats or exec)");
		return;
	}
	if (want_map(c, n, "system") < 0)
		return;
	take_keys(c, n, ks, ARRAY_SIZE(ks), "system", NULL, 0, NULL);
	if (!KV(0))
		FL_ERR(c, n, "missing 'system.type' (etcd, redis, nats or exec)");
	else if (get_enum(c, KV(0), "system type", system_names, FL_SYSTEM__N, &v) == 0)
		s->system.type = (enum fl_system_type)v;
	if (KV(1))
		get_str(c, KV(1), "binary", &s->system.binary);
	if (KV(2) && get_strv(c, KV(2), "args", &s->system.args) == 0)
		check_placeholders(c, KV(2), "args");
	if (KV(3) && want_map(c, KV(3), "env") == 0) {
		s->system.env = calloc(KV(3)->n ? KV(3)->n : 1, sizeof(*s->system.env));
		for (size_t i = 0; s->system.env && i < KV(3)->n; i++) {
			const struct fl_ypair *p = &KV(3)->pairs[i];
			if (!valid_env_name(p->key->str)) {
				FL_ERR(c, p->key, "bad environment variable name '%s'", p->key->str);
				continue;
			}
			if (parse_env_value(c, p->key->str, p->val, &s->system.env[s->system.nenv]) < 0)
				continue;
			s->system.env[s->system.nenv].name = strdup(p->key->str);
			s->system.nenv++;
		}
	}
	if (KV(4))
		get_positive_duration(c, KV(4), "ready_timeout", &s->system.ready_timeout_ns);
	if (KV(5) && get_strv(c, KV(5), "start", &s->system.start) == 0)
		check_placeholders(c, KV(5), "start");
	if (KV(6) && get_strv(c, KV(6), "client", &s->system.client) == 0)
		check_placeholders(c, KV(6), "client");

	if (!KV(0))
		return;
	if (s->system.type == FL_SYSTEM_EXEC) {
		if (!KV(5))
			FL_ERR(c, n, "system type 'exec' needs 'start': the argv that starts one node");
		if (!KV(6))
			FL_ERR(c, n, "system type 'exec' needs 'client': the argv of the client "
				     "program that speaks the line protocol");
		if (KV(1))
			FL_ERR(c, ks[1].key, "'binary' is for etcd, redis and nats; type 'exec' starts nodes "
					     "with 'start'");
		if (KV(2))
			FL_ERR(c, ks[2].key, "'args' is for etcd, redis and nats; type 'exec' takes the whole "
					     "argv in 'start'");
		if (s->system.start && !s->system.start[0])
			FL_ERR(c, KV(5), "'start' is empty: give the program and its arguments");
		if (s->system.client && !s->system.client[0])
			FL_ERR(c, KV(6), "'client' is empty: give the program and its arguments");
	} else {
		if (KV(5))
			FL_ERR(c, ks[5].key, "'start' is for system type 'exec'");
		if (KV(6))
			FL_ERR(c, ks[6].key, "'client' is for system type 'exec'");
		if (!s->system.binary)
			s->system.binary =
				strdup(s->system.type == FL_SYSTEM_ETCD   ? "etcd"
				       : s->system.type == FL_SYSTEM_NATS ? "nats-server"
									  : "redis-server");
	}
}

/* --- workload -------------------------------------------------------------- */

static void parse_workload(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	KS({ "type" }, { "clients" }, { "rate" }, { "keys" }, { "timeout" }, { "read_mode" });
	int v;
	int64_t i;

	s->workload.type = FL_WORKLOAD_REGISTER;
	s->workload.clients = 5;
	s->workload.rate = 100;
	s->workload.keys = 5;
	s->workload.timeout_ns = 2 * FL_NS_PER_S;
	s->workload.read_mode = FL_READ_LINEARIZABLE;
	c->workload_node = n;
	if (!n || fl_ynode_is_null(n) || want_map(c, n, "workload") < 0)
		return;
	take_keys(c, n, ks, ARRAY_SIZE(ks), "workload", NULL, 0, NULL);
	if (KV(0) && get_enum(c, KV(0), "workload type", workload_names, FL_WORKLOAD__N, &v) == 0)
		s->workload.type = (enum fl_workload_type)v;
	if (KV(1) && get_int(c, KV(1), "clients", 1, 1024, &i) == 0)
		s->workload.clients = (unsigned)i;
	if (KV(2) && want_scalar(c, KV(2), "rate", "an operation rate like '200/s'") == 0) {
		const char *why;
		if (fl_parse_op_rate(KV(2)->str, &s->workload.rate, &why) < 0)
			FL_ERR(c, KV(2), "bad rate '%s': %s", KV(2)->str, why);
	}
	if (KV(3) && get_int(c, KV(3), "keys", 1, 1000000, &i) == 0)
		s->workload.keys = (unsigned)i;
	if (KV(4))
		get_positive_duration(c, KV(4), "timeout", &s->workload.timeout_ns);
	if (KV(5) && get_enum(c, KV(5), "read_mode", read_mode_names, FL_READ__N, &v) == 0)
		s->workload.read_mode = (enum fl_read_mode)v;
	if (s->workload.type == FL_WORKLOAD_NONE)
		for (size_t k = 1; k < ARRAY_SIZE(ks); k++)
			if (KV(k))
				FL_ERR(c, ks[k].key, "'%s' has no effect with workload type 'none'",
				       ks[k].name);
}

/* --- nemesis --------------------------------------------------------------- */

static int node_or_hint(struct fl_sctx *c, const struct fl_ynode *n, const char *what)
{
	int idx;
	const char *names[FL_MAX_NODES];
	const char *hint;

	if (n->kind != FL_Y_SCALAR || fl_ynode_is_null(n)) {
		FL_ERR(c, n, "'%s' expects node names, got %s", what, fl_ykind_name(n));
		return -1;
	}
	idx = fl_scenario_node_index(c->s, n->str);
	if (idx >= 0)
		return idx;
	for (size_t i = 0; i < c->s->cluster.nnodes; i++)
		names[i] = c->s->cluster.nodes[i] ? c->s->cluster.nodes[i] : "";
	/* "n7" is not a typo of "n1": hint only for longer names */
	hint = strlen(n->str) >= 4 ? fl_closest(n->str, names, c->s->cluster.nnodes) : NULL;
	if (hint)
		FL_ERR(c, n, "unknown node '%s' in '%s' (did you mean '%s'?)", n->str, what, hint);
	else {
		char list[160] = "";
		size_t k = c->s->cluster.nnodes;
		for (size_t i = 0; i < k && i < 8; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
				 names[i]);
		if (k > 8)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), ", ... (%zu in all)", k);
		FL_ERR(c, n, "unknown node '%s' in '%s' (the nodes are: %s)", n->str, what, list);
	}
	return -1;
}

static int parse_targets(struct fl_sctx *c, const struct fl_ynode *n, const char *what,
			 struct fl_targets *t)
{
	memset(t, 0, sizeof(*t));
	if (n && n->kind == FL_Y_SEQ) {
		if (n->n == 0) {
			FL_ERR(c, n, "'%s' is an empty list", what);
			return -EINVAL;
		}
		int bad = 0;
		t->kind = FL_TARGET_NODES;
		for (size_t i = 0; i < n->n; i++) {
			int idx = node_or_hint(c, n->items[i], what);
			if (idx < 0) {
				bad = 1;
				continue;
			}
			if (t->nodes & (1ull << idx)) {
				FL_ERR(c, n->items[i], "node '%s' is listed twice in '%s'",
				       n->items[i]->str, what);
				bad = 1;
			}
			t->nodes |= 1ull << idx;
		}
		return bad ? -EINVAL : 0;
	}
	if (want_scalar(c, n, what, "a node, a list of nodes, leader, followers, random-one, "
				    "minority, majority, all, or a percentage") < 0)
		return -EINVAL;
	for (int k = FL_TARGET_LEADER; k <= FL_TARGET_ALL; k++) {
		if (!strcmp(n->str, target_names[k])) {
			t->kind = (enum fl_target_kind)k;
			return 0;
		}
	}
	if (strchr(n->str, '%')) {
		const char *why;
		double pct = 0;
		if (fl_parse_percent(n->str, &pct, &why) < 0) {
			FL_ERR(c, n, "bad percentage '%s' in '%s': %s", n->str, what, why);
			return -EINVAL;
		}
		if (pct <= 0) {
			FL_ERR(c, n, "bad percentage '%s' in '%s': must be above 0%%", n->str, what);
			return -EINVAL;
		}
		t->percent = pct;
		t->kind = FL_TARGET_PERCENT;
		return 0;
	}
	if (fl_scenario_node_index(c->s, n->str) < 0) {
		/* a typo of a keyword reads better than "unknown node" */
		const char *hint = fl_closest(n->str, target_names + 1, FL_TARGET_ALL);
		if (hint && strcmp(hint, "nodes")) {
			FL_ERR(c, n, "unknown target '%s' in '%s' (did you mean '%s'?)", n->str, what,
			       hint);
			return -EINVAL;
		}
	}
	{
		int idx = node_or_hint(c, n, what);
		if (idx < 0)
			return -EINVAL;
		t->kind = FL_TARGET_NODES;
		t->nodes = 1ull << idx;
	}
	return 0;
}

/* at: 10s | {time: 10s, jitter: 2s};  every: 30s | {interval: 30s, jitter: 5s} */
static void parse_timing(struct fl_sctx *c, const struct fl_ynode *n, const char *key,
			 const char *first, int64_t *val, int64_t *jitter, int positive)
{
	if (n->kind == FL_Y_MAP) {
		KS({ first }, { "jitter" });
		char sect[32];
		snprintf(sect, sizeof(sect), "'%s'", key);
		take_keys(c, n, ks, ARRAY_SIZE(ks), sect, NULL, 0, NULL);
		if (!KV(0))
			FL_ERR(c, n, "'%s' as a mapping needs '%s'", key, first);
		else if (positive)
			get_positive_duration(c, KV(0), first, val);
		else
			get_duration(c, KV(0), first, 0, val);
		if (KV(1))
			get_duration(c, KV(1), "jitter", 0, jitter);
		return;
	}
	if (positive)
		get_positive_duration(c, n, key, val);
	else
		get_duration(c, n, key, 0, val);
}

static int parse_signal(struct fl_sctx *c, const struct fl_ynode *n, int *sig)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = { { "KILL", SIGKILL }, { "TERM", SIGTERM }, { "INT", SIGINT },
		     { "HUP", SIGHUP },   { "QUIT", SIGQUIT }, { "ABRT", SIGABRT },
		     { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 } };
	const char *s;

	if (want_scalar(c, n, "signal", "a signal name like KILL or TERM") < 0)
		return -EINVAL;
	s = n->str;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (!strcasecmp(s, sigs[i].name))
			return *sig = sigs[i].sig, 0;
	FL_ERR(c, n, "unknown signal '%s'; use KILL, TERM, INT, HUP, QUIT, ABRT, USR1 or USR2", n->str);
	return -EINVAL;
}

static void parse_groups(struct fl_sctx *c, struct fl_fault *f, const struct fl_ynode *n)
{
	uint64_t seen = 0;

	if (!n || n->kind != FL_Y_SEQ || n->n < 2) {
		FL_ERR(c, n, "'groups' expects a list of at least two node lists, e.g. "
			     "[[n1, n2], [n3, n4, n5]]");
		return;
	}
	f->groups = calloc(n->n, sizeof(*f->groups));
	if (!f->groups)
		return;
	for (size_t g = 0; g < n->n; g++) {
		const struct fl_ynode *gl = n->items[g];
		uint64_t m = 0;
		if (gl->kind != FL_Y_SEQ || gl->n == 0) {
			FL_ERR(c, gl, "each group is a non-empty list of node names, got %s",
			       fl_ykind_name(gl));
			continue;
		}
		for (size_t i = 0; i < gl->n; i++) {
			int idx = node_or_hint(c, gl->items[i], "groups");
			if (idx < 0)
				continue;
			if (seen & (1ull << idx)) {
				FL_ERR(c, gl->items[i], "node '%s' is in more than one group",
				       gl->items[i]->str);
				continue;
			}
			seen |= 1ull << idx;
			m |= 1ull << idx;
		}
		f->groups[f->ngroups++] = m;
	}
	for (size_t i = 0; i < c->s->cluster.nnodes; i++)
		if (!(seen & (1ull << i)) && c->s->cluster.nodes[i])
			FL_ERR(c, n, "node '%s' is in no group; list every node in exactly one group",
			       c->s->cluster.nodes[i]);
}

static void parse_netem_pct(struct fl_sctx *c, const struct fl_ynode *pct,
			    const struct fl_ynode *corr, const struct fl_ynode *map,
			    const char *kind, double *v, double *vcorr)
{
	if (!pct) {
		FL_ERR(c, map, "a '%s' fault needs 'percent' (e.g. percent: \"10%%\")", kind);
		return;
	}
	if (get_percent(c, pct, "percent", v) == 0 && *v == 0)
		FL_ERR(c, pct, "'percent' of 0%% does nothing; give a value above 0%%");
	if (corr)
		get_percent(c, corr, "correlation", vcorr);
}

static void parse_tamper(struct fl_sctx *c, struct fl_fault *f, const struct fl_ynode *n)
{
	KS({ "offset" }, { "value" });
	int64_t v;

	if (want_map(c, n, "tamper") < 0)
		return;
	take_keys(c, n, ks, ARRAY_SIZE(ks), "'tamper'", NULL, 0, NULL);
	if (!KV(0) || !KV(1)) {
		FL_ERR(c, n, "'tamper' needs 'offset' (bytes from the start of the TCP/UDP header) and 'value' (a byte)");
		return;
	}
	f->tamper = 1;
	if (get_int(c, KV(0), "offset", 0, 1500, &v) == 0)
		f->tamper_offset = (uint32_t)v;
	if (get_int(c, KV(1), "value", 0, 255, &v) == 0)
		f->tamper_value = (uint8_t)v;
}

/* --- one nemesis item: the README's table of fault kinds, row by row ------ */

/* What a kind's parser sees: the item, its fault, and the kind's own keys
 * as take_keys matched them. */
struct fault_args {
	struct fl_sctx *c;
	size_t idx;
	struct fl_fault *f;
	const struct fl_ynode *item;
	const struct keyspec *ks;
	size_t nks;
};

/* The value of key name in the item (NULL: absent), and its key node. */
static const struct keyspec *arg_spec(const struct fault_args *a, const char *name)
{
	for (size_t i = 0; i < a->nks; i++)
		if (!strcmp(a->ks[i].name, name))
			return &a->ks[i];
	return NULL;
}

static const struct fl_ynode *arg(const struct fault_args *a, const char *name)
{
	const struct keyspec *k = arg_spec(a, name);
	return k ? k->val : NULL;
}

static const struct fl_ynode *arg_key(const struct fault_args *a, const char *name)
{
	const struct keyspec *k = arg_spec(a, name);
	return k ? k->key : NULL;
}

static void parse_partition(const struct fault_args *a)
{
	struct fl_sctx *c = a->c;
	struct fl_fault *f = a->f;
	const struct fl_ynode *mode = arg(a, "mode"), *groups = arg(a, "groups"),
			      *dir = arg(a, "direction"), *targets = fl_ynode_get(a->item, "targets");
	int v;

	if (!mode) {
		FL_ERR(c, a->item, "a partition needs 'mode': isolate, halves, majorities-ring, "
				   "bridge or groups");
		return;
	}
	c->fsrc[a->idx].mode = mode;
	c->fsrc[a->idx].direction = dir;
	if (get_enum(c, mode, "partition mode", part_mode_names, FL_PART__N, &v) < 0)
		return;
	f->mode = (enum fl_partition_mode)v;
	if (dir && get_enum(c, dir, "direction", direction_names, FL_DIR__N, &v) == 0)
		f->direction = (enum fl_direction)v;
	if (f->mode == FL_PART_GROUPS)
		parse_groups(c, f, groups);
	else if (groups)
		FL_ERR(c, arg_key(a, "groups"), "'groups' needs 'mode: groups'");
	if (f->mode == FL_PART_ISOLATE && !f->has_targets && !targets)
		FL_ERR(c, mode, "mode 'isolate' needs 'targets': the node(s) to cut off "
				"(e.g. targets: leader)");
	if (f->mode != FL_PART_ISOLATE && targets)
		FL_ERR(c, targets, "mode '%s' decides both sides itself; 'targets' is for mode "
				   "'isolate' (use mode 'groups' to choose the sides)",
		       part_mode_names[f->mode]);
	if (f->mode == FL_PART_MAJORITIES_RING && f->direction != FL_DIR_BOTH)
		FL_ERR(c, dir, "mode 'majorities-ring' cuts links both ways; 'direction' must be "
			       "'both'");
}

static void parse_latency(const struct fault_args *a)
{
	struct fl_sctx *c = a->c;
	struct fl_netem *ne = &a->f->netem;
	const struct fl_ynode *lat = arg(a, "latency"), *jit = arg(a, "jitter"),
			      *corr = arg(a, "correlation"), *dist = arg(a, "distribution");
	int v;

	ne->set |= FL_NETEM_LATENCY;
	if (!lat)
		FL_ERR(c, a->item, "a 'latency' fault needs 'latency' (e.g. latency: 100ms)");
	else
		get_positive_duration(c, lat, "latency", &ne->latency_ns);
	if (jit)
		get_duration(c, jit, "jitter", 0, &ne->jitter_ns);
	if (corr)
		get_percent(c, corr, "correlation", &ne->latency_corr);
	if (dist && get_enum(c, dist, "distribution", fl_distribution_names, FL_DIST__N, &v) == 0) {
		ne->distribution = (enum fl_distribution)v;
		if (ne->distribution != FL_DIST_NONE && ne->jitter_ns == 0)
			FL_ERR(c, dist, "'distribution' shapes the jitter; set 'jitter' too");
	}
	if (corr && !jit)
		FL_ERR(c, corr, "latency 'correlation' applies to the jitter; set 'jitter' too");
}

static void parse_loss(const struct fault_args *a)
{
	a->f->netem.set |= FL_NETEM_LOSS;
	parse_netem_pct(a->c, arg(a, "percent"), arg(a, "correlation"), a->item, "loss",
			&a->f->netem.loss, &a->f->netem.loss_corr);
}

static void parse_duplicate(const struct fault_args *a)
{
	a->f->netem.set |= FL_NETEM_DUPLICATE;
	parse_netem_pct(a->c, arg(a, "percent"), arg(a, "correlation"), a->item, "duplicate",
			&a->f->netem.duplicate, &a->f->netem.duplicate_corr);
}

static void parse_corrupt(const struct fault_args *a)
{
	a->f->netem.set |= FL_NETEM_CORRUPT;
	parse_netem_pct(a->c, arg(a, "percent"), arg(a, "correlation"), a->item, "corrupt",
			&a->f->netem.corrupt, &a->f->netem.corrupt_corr);
}

/* reordering (a reorder fault, or a byzantine one with 'reorder'): netem
 * sends some packets at once and delays the rest by 'latency' */
static void parse_reorder_delay(const struct fault_args *a, const struct fl_ynode *where)
{
	struct fl_netem *ne = &a->f->netem;
	const struct fl_ynode *gap = arg(a, "gap"), *lat = arg(a, "latency");
	int64_t g;

	if (gap && get_int(a->c, gap, "gap", 1, 1000000, &g) == 0)
		ne->gap = (uint32_t)g;
	if (!lat)
		FL_ERR(a->c, where, "reordering needs 'latency': netem reorders by sending some "
				    "packets at once and delaying the rest");
	else if (get_positive_duration(a->c, lat, "latency", &ne->latency_ns) == 0)
		ne->set |= FL_NETEM_LATENCY;
}

static void parse_reorder(const struct fault_args *a)
{
	a->f->netem.set |= FL_NETEM_REORDER;
	parse_netem_pct(a->c, arg(a, "percent"), arg(a, "correlation"), a->item, "reorder",
			&a->f->netem.reorder, &a->f->netem.reorder_corr);
	parse_reorder_delay(a, a->item);
}

static void parse_byzantine(const struct fault_args *a)
{
	struct fl_sctx *c = a->c;
	struct fl_netem *ne = &a->f->netem;
	const struct fl_ynode *corrupt = arg(a, "corrupt"), *dup = arg(a, "duplicate"),
			      *reorder = arg(a, "reorder"), *tamper = arg(a, "tamper");

	if (!corrupt && !dup && !reorder && !tamper)
		FL_ERR(c, a->item, "a 'byzantine' fault needs at least one of 'corrupt', "
				   "'duplicate', 'reorder' or 'tamper'");
	if (corrupt && get_percent(c, corrupt, "corrupt", &ne->corrupt) == 0)
		ne->set |= FL_NETEM_CORRUPT;
	if (dup && get_percent(c, dup, "duplicate", &ne->duplicate) == 0)
		ne->set |= FL_NETEM_DUPLICATE;
	if (reorder && get_percent(c, reorder, "reorder", &ne->reorder) == 0)
		ne->set |= FL_NETEM_REORDER;
	if (tamper)
		parse_tamper(c, a->f, tamper);
	if (reorder) {
		parse_reorder_delay(a, arg_key(a, "reorder"));
		return;
	}
	if (arg(a, "gap"))
		FL_ERR(c, arg_key(a, "gap"), "'gap' belongs with 'reorder'");
	if (arg(a, "latency"))
		FL_ERR(c, arg_key(a, "latency"), "in a byzantine fault 'latency' serves 'reorder'; "
						 "use a 'latency' fault for delay alone");
}

static void parse_rate(const struct fault_args *a)
{
	const struct fl_ynode *rate = arg(a, "rate");
	const char *why;

	if (!rate)
		FL_ERR(a->c, a->item, "a 'rate' fault needs 'rate' (e.g. rate: 1mbit)");
	else if (want_scalar(a->c, rate, "rate", "a rate like '1mbit'") < 0)
		return;
	else if (fl_parse_bitrate(rate->str, &a->f->netem.rate_bps, &why) < 0)
		FL_ERR(a->c, rate, "bad rate '%s': %s", rate->str, why);
	else
		a->f->netem.set |= FL_NETEM_RATE;
}

static void parse_kill(const struct fault_args *a)
{
	if (arg(a, "signal"))
		parse_signal(a->c, arg(a, "signal"), &a->f->signal);
}

static void parse_clock(const struct fault_args *a)
{
	const struct fl_ynode *off = arg(a, "offset");
	int64_t *ns = &a->f->clock_offset_ns;

	if (!off)
		FL_ERR(a->c, a->item, "a 'clock' fault needs 'offset' (e.g. offset: -30s)");
	else if (get_duration(a->c, off, "offset", 1, ns) < 0)
		return;
	else if (*ns == 0)
		FL_ERR(a->c, off, "'offset' of 0 does nothing");
	else if (llabs(*ns) > 86400 * FL_NS_PER_S)
		FL_ERR(a->c, off, "'offset' must be within one day");
}

static void parse_reboot(const struct fault_args *a)
{
	const struct fl_ynode *hard = arg(a, "hard");

	if (hard)
		get_bool(a->c, hard, "hard", &a->f->reboot_hard);
}

/* Every network fault: towards which peers, and netem's queue limit. */
static void parse_network(const struct fault_args *a)
{
	int64_t l;

	if (arg(a, "peers"))
		a->f->has_peers = parse_targets(a->c, arg(a, "peers"), "peers", &a->f->peers) == 0;
	if (arg(a, "limit") && get_int(a->c, arg(a, "limit"), "limit", 1, 1000000000, &l) == 0)
		a->f->netem.limit = (uint32_t)l;
}

/* The keys every item may have, then each kind's own keys and parser. */
static const char *const common_keys[] = { "fault", "name", "at", "every", "count", "for",
					   "targets" };
#define KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NET_KEYS "peers", "limit"
static const struct {
	const char *const *keys;
	void (*parse)(const struct fault_args *a);
} fault_kinds[FL_FAULT__N] = {
	[FL_FAULT_PARTITION] = { KEYS("mode", "groups", "direction"), parse_partition },
	[FL_FAULT_LATENCY] = { KEYS("latency", "jitter", "correlation", "distribution", NET_KEYS),
			       parse_latency },
	[FL_FAULT_LOSS] = { KEYS("percent", "correlation", NET_KEYS), parse_loss },
	[FL_FAULT_DUPLICATE] = { KEYS("percent", "correlation", NET_KEYS), parse_duplicate },
	[FL_FAULT_CORRUPT] = { KEYS("percent", "correlation", NET_KEYS), parse_corrupt },
	[FL_FAULT_REORDER] = { KEYS("percent", "correlation", "gap", "latency", NET_KEYS),
			       parse_reorder },
	[FL_FAULT_RATE] = { KEYS("rate", NET_KEYS), parse_rate },
	[FL_FAULT_BYZANTINE] = { KEYS("corrupt", "duplicate", "reorder", "latency", "gap",
				      "tamper", NET_KEYS), parse_byzantine },
	[FL_FAULT_KILL] = { KEYS("signal"), parse_kill },
	[FL_FAULT_PAUSE] = { KEYS(NULL), NULL },
	[FL_FAULT_RESTART] = { KEYS(NULL), NULL },
	[FL_FAULT_SUSPEND] = { KEYS(NULL), NULL },
	[FL_FAULT_POWER_OFF] = { KEYS(NULL), NULL },
	[FL_FAULT_REBOOT] = { KEYS("hard"), parse_reboot },
	[FL_FAULT_CLOCK] = { KEYS("offset"), parse_clock },
};
#undef KEYS
#undef NET_KEYS

/* Match the item's keys: the common ones and the kind's own; a key of
 * another kind "does not apply" to this one. */
static size_t take_fault_keys(struct fl_sctx *c, const struct fl_ynode *n, enum fl_fault_kind kind,
			      struct keyspec *ks, size_t cap)
{
	const char *other[64];
	size_t nks = 0, nother = 0;
	char what[64];

	memset(ks, 0, cap * sizeof(*ks));
	for (size_t i = 0; i < ARRAY_SIZE(common_keys); i++)
		ks[nks++].name = common_keys[i];
	for (size_t i = 0; fault_kinds[kind].keys[i] && nks < cap; i++)
		ks[nks++].name = fault_kinds[kind].keys[i];
	for (int k = 0; k < FL_FAULT__N; k++) {
		for (size_t i = 0; fault_kinds[k].keys[i] && nother < ARRAY_SIZE(other); i++) {
			const char *key = fault_kinds[k].keys[i];
			int dup = 0;
			for (size_t j = 0; j < nks; j++)
				dup |= !strcmp(ks[j].name, key);
			for (size_t j = 0; j < nother; j++)
				dup |= !strcmp(other[j], key);
			if (!dup)
				other[nother++] = key;
		}
	}
	snprintf(what, sizeof(what), "a '%s' fault", fault_names[kind]);
	take_keys(c, n, ks, nks, what, other, nother, what);
	return nks;
}

/* When and where: name, at, every, count, for, targets. */
static void parse_when_where(const struct fault_args *a)
{
	struct fl_sctx *c = a->c;
	struct fl_fault *f = a->f;
	const struct fl_ynode *at = arg(a, "at"), *every = arg(a, "every"),
			      *count = arg(a, "count"), *forn = arg(a, "for"),
			      *targets = arg(a, "targets"), *label = arg(a, "name");
	int64_t k;

	if (label)
		want_scalar(c, label, "name", "text");
	if (at)
		parse_timing(c, at, "at", "time", &f->at_ns, &f->at_jitter_ns, 0);
	if (every) {
		parse_timing(c, every, "every", "interval", &f->every_ns, &f->every_jitter_ns, 1);
		if (!at)
			f->at_ns = f->every_ns;
	}
	if (count && !every)
		FL_ERR(c, count, "'count' limits how often 'every' repeats; add 'every'");
	else if (count && get_int(c, count, "count", 1, 100000, &k) == 0)
		f->count = (uint32_t)k;
	c->fsrc[a->idx].forn = forn;
	c->fsrc[a->idx].at = at;
	c->fsrc[a->idx].every = every;
	if (forn && fl_fault_is_instant(f->kind))
		FL_ERR(c, forn, "'%s' is instantaneous and takes no 'for'", fault_names[f->kind]);
	else if (forn)
		get_positive_duration(c, forn, "for", &f->for_ns);
	else if (every && !fl_fault_is_instant(f->kind))
		FL_ERR(c, every, "a repeating fault needs 'for': how long each time lasts");
	if (targets)
		f->has_targets = parse_targets(c, targets, "targets", &f->targets) == 0;
	/* partitions name their sides through mode/groups (parse_partition) */
	if (f->kind != FL_FAULT_PARTITION && !targets)
		FL_ERR(c, a->item, "a '%s' fault needs 'targets' (a node, a list, leader, followers, "
				   "random-one, minority, majority, all or a percentage)",
		       fault_names[f->kind]);
}

static void parse_fault(struct fl_sctx *c, size_t idx, const struct fl_ynode *n)
{
	struct fl_fault *f = &c->s->faults[idx];
	struct keyspec ks[32];
	const struct fl_ynode *kn;
	struct fault_args a;
	int v;

	f->line = n->line;
	f->col = n->col;
	f->for_ns = -1;
	f->signal = SIGKILL;
	c->fsrc[idx].map = n;
	if (want_map(c, n, "nemesis item") < 0)
		return;
	if (!(kn = fl_ynode_get(n, "fault"))) {
		FL_ERR(c, n, "nemesis item without 'fault:' (one of partition, latency, loss, "
			     "duplicate, corrupt, reorder, rate, byzantine, kill, pause, restart, "
			     "suspend, power-off, reboot, clock)");
		return;
	}
	if (get_enum(c, kn, "fault", fault_names, FL_FAULT__N, &v) < 0)
		return;
	f->kind = (enum fl_fault_kind)v;
	a = (struct fault_args){ .c = c, .idx = idx, .f = f, .item = n, .ks = ks };
	a.nks = take_fault_keys(c, n, f->kind, ks, ARRAY_SIZE(ks));
	parse_when_where(&a);
	if (fault_kinds[f->kind].parse)
		fault_kinds[f->kind].parse(&a);
	if (fl_fault_is_network(f->kind))
		parse_network(&a);
}

static void parse_nemesis(struct fl_sctx *c, const struct fl_ynode *n)
{
	if (!n || fl_ynode_is_null(n))
		return;
	if (n->kind != FL_Y_SEQ) {
		FL_ERR(c, n, "'nemesis' expects a list of faults (lines starting with '- fault:'), got %s",
		       fl_ykind_name(n));
		return;
	}
	c->s->faults = calloc(n->n ? n->n : 1, sizeof(*c->s->faults));
	c->fsrc = calloc(n->n ? n->n : 1, sizeof(*c->fsrc));
	if (!c->s->faults || !c->fsrc)
		return;
	if (n->n > FL_MAX_FAULTS) {
		FL_ERR(c, n, "too many faults (%zu); at most %d", n->n, FL_MAX_FAULTS);
		return;
	}
	c->s->nfaults = n->n;
	for (size_t i = 0; i < n->n; i++) {
		size_t before = c->d->n;
		parse_fault(c, i, n->items[i]);
		c->fsrc[i].ok = c->d->n == before;
	}
}

/* --- checks ---------------------------------------------------------------- */

/* A check is "name: true|false" or "name: {options}" (which enables it). */
static int check_enabled(struct fl_sctx *c, const struct fl_ynode *n, const char *name,
			 const struct fl_ynode **opts)
{
	int on;

	*opts = NULL;
	if (!n)
		return 0;
	if (n->kind == FL_Y_MAP) {
		*opts = n;
		return 1;
	}
	if (n->kind == FL_Y_SCALAR && !fl_ynode_is_null(n) && is_bool_word(n))
		return get_bool(c, n, name, &on) == 0 && on;
	FL_ERR(c, n, "check '%s' expects true, false or a mapping of its options, got %s", name,
	       n->kind == FL_Y_SCALAR && !fl_ynode_is_null(n) ? n->str : fl_ykind_name(n));
	return 0;
}

static void parse_checks(struct fl_sctx *c, const struct fl_ynode *n)
{
	struct fl_scenario *s = c->s;
	KS({ "linearizable" }, { "failover" }, { "no_lost_writes" }, { "converge" },
	   { "leader_per_term" }, { "latency" }, { "availability" });
	const struct fl_ynode *o;

	s->checks.linearizable_timeout_ns = 60 * FL_NS_PER_S;
	c->checks_node = n;
	if (!n || fl_ynode_is_null(n) || want_map(c, n, "checks") < 0)
		return;
	take_keys(c, n, ks, ARRAY_SIZE(ks), "checks", NULL, 0, NULL);

	if ((s->checks.linearizable = check_enabled(c, KV(0), "linearizable", &o)) && o) {
		struct keyspec k2[] = { { "timeout" } };
		take_keys(c, o, k2, 1, "check 'linearizable'", NULL, 0, NULL);
		if (k2[0].val)
			get_positive_duration(c, k2[0].val, "timeout",
					      &s->checks.linearizable_timeout_ns);
	}
	if ((s->checks.failover = check_enabled(c, KV(1), "failover", &o))) {
		struct keyspec k2[] = { { "within" } };
		if (o)
			take_keys(c, o, k2, 1, "check 'failover'", NULL, 0, NULL);
		if (!k2[0].val)
			FL_ERR(c, o ? o : KV(1), "check 'failover' needs 'within': the longest "
						 "acceptable time without a leader (e.g. within: 10s)");
		else
			get_positive_duration(c, k2[0].val, "within", &s->checks.failover_within_ns);
	}
	if ((s->checks.no_lost_writes = check_enabled(c, KV(2), "no_lost_writes", &o)) && o)
		take_keys(c, o, NULL, 0, "check 'no_lost_writes'", NULL, 0, NULL);
	if ((s->checks.converge = check_enabled(c, KV(3), "converge", &o))) {
		struct keyspec k2[] = { { "within" } };
		s->checks.converge_within_ns = 30 * FL_NS_PER_S;
		if (o)
			take_keys(c, o, k2, 1, "check 'converge'", NULL, 0, NULL);
		if (k2[0].val)
			get_positive_duration(c, k2[0].val, "within", &s->checks.converge_within_ns);
	}
	if ((s->checks.leader_per_term = check_enabled(c, KV(4), "leader_per_term", &o)) && o)
		take_keys(c, o, NULL, 0, "check 'leader_per_term'", NULL, 0, NULL);
	if ((s->checks.latency = check_enabled(c, KV(5), "latency", &o))) {
		struct keyspec k2[] = { { "p50" }, { "p99" }, { "max" } };
		if (o)
			take_keys(c, o, k2, 3, "check 'latency'", NULL, 0, NULL);
		if (!k2[0].val && !k2[1].val && !k2[2].val)
			FL_ERR(c, o ? o : KV(5), "check 'latency' needs at least one limit: p50, p99 "
						 "or max");
		if (k2[0].val)
			get_positive_duration(c, k2[0].val, "p50", &s->checks.latency_p50_ns);
		if (k2[1].val)
			get_positive_duration(c, k2[1].val, "p99", &s->checks.latency_p99_ns);
		if (k2[2].val)
			get_positive_duration(c, k2[2].val, "max", &s->checks.latency_max_ns);
		if (s->checks.latency_p50_ns && s->checks.latency_p99_ns &&
		    s->checks.latency_p50_ns > s->checks.latency_p99_ns)
			FL_ERR(c, k2[1].val, "latency limits out of order: p99 is below p50");
		if (s->checks.latency_p99_ns && s->checks.latency_max_ns &&
		    s->checks.latency_p99_ns > s->checks.latency_max_ns)
			FL_ERR(c, k2[2].val, "latency limits out of order: max is below p99");
	}
	if ((s->checks.availability = check_enabled(c, KV(6), "availability", &o))) {
		struct keyspec k2[] = { { "min" } };
		if (o)
			take_keys(c, o, k2, 1, "check 'availability'", NULL, 0, NULL);
		if (!k2[0].val)
			FL_ERR(c, o ? o : KV(6), "check 'availability' needs 'min' (e.g. min: \"99%%\")");
		else
			get_percent(c, k2[0].val, "min", &s->checks.availability_min);
	}
}

/* --- top level ------------------------------------------------------------- */

static void parse_top(struct fl_sctx *c, const struct fl_ynode *root)
{
	struct fl_scenario *s = c->s;
	KS({ "name" }, { "description" }, { "seed" }, { "duration" }, { "cluster" }, { "system" },
	   { "workload" }, { "nemesis" }, { "checks" });

	take_keys(c, root, ks, ARRAY_SIZE(ks), "the scenario", NULL, 0, NULL);
	if (!KV(0))
		FL_ERR(c, root, "missing 'name': every scenario needs one (it names the run directory)");
	else if (get_str(c, KV(0), "name", &s->name) == 0) {
		size_t len = strlen(s->name);
		int ok = len > 0 && len <= 100 && isalnum((unsigned char)s->name[0]);
		for (const char *p = s->name; ok && *p; p++)
			ok = isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.';
		if (!ok)
			FL_ERR(c, KV(0), "bad name '%s': use up to 100 letters, digits, '-', '_' and "
					 "'.', starting with a letter or digit (it names the run "
					 "directory)", s->name);
	}
	if (KV(1) && !fl_ynode_is_null(KV(1)))
		get_str(c, KV(1), "description", &s->description);
	if (KV(2)) {
		int64_t v;
		if (get_int(c, KV(2), "seed", 0, INT64_MAX, &v) == 0) {
			s->seed = (uint64_t)v;
			s->has_seed = 1;
		}
	}
	c->duration_node = KV(3);
	if (!KV(3))
		FL_ERR(c, root, "missing 'duration': how long the run lasts (e.g. duration: 60s)");
	else if (get_positive_duration(c, KV(3), "duration", &s->duration_ns) == 0) {
		if (s->duration_ns > 7 * 86400 * FL_NS_PER_S)
			FL_ERR(c, KV(3), "'duration' longer than a week is not supported");
		else
			c->duration_ok = 1;
	}
	/* cluster first: the other sections name its nodes */
	parse_cluster(c, KV(4));
	parse_system(c, KV(5));
	parse_workload(c, KV(6));
	parse_nemesis(c, KV(7));
	parse_checks(c, KV(8));
}

void fl_scenario_free(struct fl_scenario *s)
{
	if (!s)
		return;
	free(s->file);
	free(s->name);
	free(s->description);
	for (size_t i = 0; i < FL_MAX_NODES; i++)
		free(s->cluster.nodes[i]);
	free(s->cluster.libvirt.uri);
	free(s->cluster.libvirt.iface);
	fl_strv_free(s->cluster.libvirt.domains);
	for (size_t i = 0; i < FL_MAX_NODES; i++)
		free(s->cluster.libvirt.domain_uri[i]);
	free(s->cluster.libvirt.kernel);
	free(s->system.binary);
	fl_strv_free(s->system.args);
	for (size_t i = 0; i < s->system.nenv; i++) {
		free(s->system.env[i].name);
		free(s->system.env[i].value);
	}
	free(s->system.env);
	fl_strv_free(s->system.start);
	fl_strv_free(s->system.client);
	for (size_t i = 0; i < s->nfaults; i++)
		free(s->faults[i].groups);
	free(s->faults);
	fl_diags_release(&s->warnings);
	free(s);
}

/* --- secrets ---------------------------------------------------------------- */

#define SECRET_SHOWN "(secret)"

static int yes_word(const struct fl_ynode *n)
{
	if (!is_bool_word(n))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!strcmp(n->str, yes[i]))
			return 1;
	return 0;
}

static void add_secret_text(struct fl_scenario *s, size_t at, size_t end)
{
	if (end > at && s->nsecret_text < FL_MAX_ENV_SECRETS) {
		s->secret_text[s->nsecret_text].at = at;
		s->secret_text[s->nsecret_text++].end = end;
	}
}

/* The secret values' text in the file as written, before --set replaced
 * any: a value overridden on the command line is still in the file. */
static void note_secret_text(struct fl_scenario *s, const struct fl_ynode *root)
{
	const struct fl_ynode *env = fl_ynode_get(fl_ynode_get(root, "system"), "env");

	for (size_t i = 0; env && env->kind == FL_Y_MAP && i < env->n; i++) {
		const struct fl_ynode *v = env->pairs[i].val;
		if (yes_word(fl_ynode_get(v, "secret")) && (v = fl_ynode_get(v, "value")))
			add_secret_text(s, v->at, v->end);
	}
}

static int by_at(const void *a, const void *b)
{
	const size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int fl_scenario_copy_redacted(const struct fl_scenario *s, FILE *in, FILE *out)
{
	_cleanup_(freep) char *buf = malloc(FL_YAML_MAX_BYTES + 1);
	size_t len, ci = 0, k = 0, n = s->nsecret_text;
	struct { size_t at, end; } r[FL_MAX_ENV_SECRETS];

	if (!buf)
		return -ENOMEM;
	if ((len = fread(buf, 1, FL_YAML_MAX_BYTES + 1, in)) > FL_YAML_MAX_BYTES)
		return -EFBIG;
	memcpy(r, s->secret_text, n * sizeof(r[0]));
	qsort(r, n, sizeof(r[0]), by_at);
	/* libyaml counts characters: a UTF-8 continuation byte is not one */
	for (size_t b = 0; b < len;) {
		size_t b1 = b, lines = 0;
		while (k < n && r[k].at < ci)
			k++; /* an alias's value: replaced where its anchor is */
		if (k == n || r[k].at != ci) {
			ci += (buf[b] & 0xc0) != 0x80;
			putc(buf[b++], out);
			continue;
		}
		/* the scalar's anchor or tag stays: aliases still name it */
		while (b1 < len && (buf[b1] == '&' || buf[b1] == '!')) {
			while (b1 < len && !isspace((unsigned char)buf[b1]))
				b1++;
			while (b1 < len && (buf[b1] == ' ' || buf[b1] == '\t'))
				b1++;
		}
		fwrite(buf + b, 1, b1 - b, out);
		fputs("\"" SECRET_SHOWN "\"", out);
		for (; b < len && ci < r[k].end; b++) {
			ci += (buf[b] & 0xc0) != 0x80;
			lines += b >= b1 && buf[b] == '\n';
		}
		while (lines--) /* every later line stays where it was */
			putc('\n', out);
		k++;
	}
	return ferror(in) || ferror(out) ? -EIO : 0;
}
/* A secret NAME is touched by an override whose path is "system",
 * "system.env", "system.env.NAME" or below it. */
static int names_secret(const struct fl_scenario *s, const char *path, size_t len)
{
	static const char pre[] = "system.env.";

	for (size_t i = 0; i < s->system.nenv; i++) {
		const struct fl_env *e = &s->system.env[i];
		size_t nl = strlen(e->name);
		if (!e->secret)
			continue;
		if (len < sizeof(pre) - 1) {
			if (!strncmp(path, pre, len) && (len == 6 || len == 10))
				return 1; /* "system", "system.env" */
		} else if (!strncmp(path, pre, sizeof(pre) - 1) &&
			   !strncmp(path + sizeof(pre) - 1, e->name, nl) &&
			   (len == sizeof(pre) - 1 + nl || path[sizeof(pre) - 1 + nl] == '.')) {
			return 1;
		}
	}
	return 0;
}

const char *fl_scenario_shown_override(const struct fl_scenario *s, const char *ov, char *buf,
				       size_t len)
{
	const char *eq = strchr(ov, '=');

	if (!eq || !names_secret(s, ov, (size_t)(eq - ov)))
		return ov;
	snprintf(buf, len, "%.*s=" SECRET_SHOWN, (int)(eq - ov), ov);
	return buf;
}

static int load_doc(struct fl_ydoc *doc, const char *name, char *const *ov, size_t nov,
		    struct fl_diags *d, struct fl_scenario **out)
{
	struct fl_sctx c = { .d = d };
	struct fl_scenario secrets = { 0 };
	size_t before = d->n;
	int r = 0;

	*out = NULL;
	note_secret_text(&secrets, doc->root);
	for (size_t i = 0; i < nov; i++)
		if (fl_ytree_set(doc, ov[i], d) < 0)
			r = -EINVAL;
	if (r < 0)
		return r;
	if (!doc->root) {
		fl_diags_add(d, name, 0, 0, "empty scenario: expected at least 'name', 'duration' "
					    "and 'system'");
		return -ENODATA;
	}
	if (doc->root->kind != FL_Y_MAP) {
		fl_diags_add(d, name, doc->root->line, doc->root->col,
			     "a scenario is a mapping of keys (name:, duration:, ...), not %s",
			     fl_ykind_name(doc->root));
		return -EINVAL;
	}
	c.s = calloc(1, sizeof(*c.s));
	if (!c.s)
		return -ENOMEM;
	fl_diags_init(&c.s->warnings);
	c.s->file = strdup(name);
	c.file = name;
	c.root = doc->root;
	parse_top(&c, doc->root);
	memcpy(c.s->secret_text, secrets.secret_text, sizeof(secrets.secret_text));
	c.s->nsecret_text = secrets.nsecret_text;
	for (size_t i = 0; i < c.s->system.nenv; i++)
		if (c.s->system.env[i].secret)
			add_secret_text(c.s, c.s->system.env[i].at, c.s->system.env[i].end);
	fl_scenario_check(&c);
	fl_scenario_warn(&c);
	free(c.fsrc);
	if (d->n > before || d->dropped) {
		fl_diags_sort(d);
		fl_scenario_free(c.s);
		return -EINVAL;
	}
	*out = c.s;
	return 0;
}

int fl_scenario_load(const char *path, char *const *ov, size_t nov, struct fl_diags *d,
		     struct fl_scenario **out)
{
	struct fl_ydoc doc = { 0 };
	int r = fl_ytree_load_file(&doc, path, d);

	if (r == 0)
		r = load_doc(&doc, path, ov, nov, d, out);
	fl_ydoc_release(&doc);
	return r;
}

int fl_scenario_load_string(const char *name, const char *buf, size_t len, char *const *ov,
			    size_t nov, struct fl_diags *d, struct fl_scenario **out)
{
	struct fl_ydoc doc = { 0 };
	int r = fl_ytree_parse(&doc, name, buf, len, d);

	if (r == 0)
		r = load_doc(&doc, name, ov, nov, d, out);
	fl_ydoc_release(&doc);
	return r;
}
