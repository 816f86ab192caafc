/* harness/scenario/: the scenario language (ytree, scenario, scenario_check, units,
 * plan, rng, diag, strutil).
 *
 * The scenario: what a YAML file says, as typed structs. Loading parses,
 * then validates, and does nothing else (no files written, no processes,
 * no network): `faultline validate` and `plan` are safe anywhere.
 * Every field is documented in README.md ("Scenario reference"). */
#ifndef FAULTLINE_SCENARIO_H
#define FAULTLINE_SCENARIO_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "faultline/diag.h"
#include "faultline/netem.h"

#define FL_MAX_NODES 64
#define FL_NODE_NAME_MAX 12 /* fits interface names like "fl-<name>-h" */
#define FL_MAX_FAULTS 1000
#define FL_MAX_INSTANCES 100000 /* over all faults of a plan */

/* Enumerations share their names between the parser and the reports. */
enum fl_provider { FL_PROVIDER_NETNS, FL_PROVIDER_LIBVIRT, FL_PROVIDER__N };
enum fl_libvirt_mode { FL_LIBVIRT_CREATE, FL_LIBVIRT_ATTACH, FL_LIBVIRT_MODE__N };
enum fl_accel { FL_ACCEL_AUTO, FL_ACCEL_KVM, FL_ACCEL_TCG, FL_ACCEL__N };
enum fl_system_type { FL_SYSTEM_ETCD, FL_SYSTEM_REDIS, FL_SYSTEM_EXEC, FL_SYSTEM_NATS,
		       FL_SYSTEM__N };
enum fl_workload_type { FL_WORKLOAD_REGISTER, FL_WORKLOAD_SET, FL_WORKLOAD_NONE, FL_WORKLOAD__N };
enum fl_read_mode { FL_READ_LINEARIZABLE, FL_READ_SERIALIZABLE, FL_READ__N };

enum fl_fault_kind {
	FL_FAULT_PARTITION,
	FL_FAULT_LATENCY,
	FL_FAULT_LOSS,
	FL_FAULT_DUPLICATE,
	FL_FAULT_CORRUPT,
	FL_FAULT_REORDER,
	FL_FAULT_RATE,
	FL_FAULT_BYZANTINE,
	FL_FAULT_KILL,
	FL_FAULT_PAUSE,
	FL_FAULT_RESTART,
	FL_FAULT_SUSPEND,
	FL_FAULT_POWER_OFF,
	FL_FAULT_REBOOT,
	FL_FAULT_CLOCK,
	FL_FAULT__N
};

enum fl_partition_mode {
	FL_PART_ISOLATE,
	FL_PART_HALVES,
	FL_PART_MAJORITIES_RING,
	FL_PART_BRIDGE,
	FL_PART_GROUPS,
	FL_PART__N
};
enum fl_direction { FL_DIR_BOTH, FL_DIR_TO, FL_DIR_FROM, FL_DIR__N };
/* How a fault picks its nodes. Concrete sets are node bitmasks (bit i =
 * cluster.nodes[i]); symbolic ones are resolved by the plan (random ones,
 * from the seed) or at the moment the fault fires (leader, followers). */
enum fl_target_kind {
	FL_TARGET_NODES,
	FL_TARGET_LEADER,
	FL_TARGET_FOLLOWERS,
	FL_TARGET_RANDOM_ONE,
	FL_TARGET_MINORITY,
	FL_TARGET_MAJORITY,
	FL_TARGET_ALL,
	FL_TARGET_PERCENT,
	FL_TARGET__N
};

struct fl_targets {
	enum fl_target_kind kind;
	uint64_t nodes; /* FL_TARGET_NODES */
	double percent; /* FL_TARGET_PERCENT */
};

struct fl_fault {
	int line, col;                   /* where "- fault:" starts */
	enum fl_fault_kind kind;
	int64_t at_ns, at_jitter_ns;     /* first start, plus a random delay in [0, jitter] */
	int64_t every_ns, every_jitter_ns; /* 0 = once */
	uint32_t count;                  /* with every: at most this many (0 = until the end) */
	int64_t for_ns;                  /* -1 = until the end of the run (or instant) */
	struct fl_targets targets;
	int has_targets;
	struct fl_targets peers;         /* network faults: limit to traffic toward these */
	int has_peers;
	/* partition */
	enum fl_partition_mode mode;
	enum fl_direction direction;
	size_t ngroups;
	uint64_t *groups;                /* node masks */
	/* network: latency/loss/duplicate/corrupt/reorder/rate/byzantine */
	struct fl_netem netem;
	/* byzantine payload tampering (act_pedit + act_csum) */
	int tamper;
	uint32_t tamper_offset;
	uint8_t tamper_value;
	/* kill */
	int signal;
	/* clock */
	int64_t clock_offset_ns;
	int reboot_hard;         /* reboot: a reset, not a clean reboot */
};

struct fl_env {
	char *name, *value;
	/* secret (`{value: ..., secret: true}`): given to the node's processes,
	 * never written down; at/end: the value's text in the scenario file
	 * (libyaml character indices; 0, 0 when it came from --set) */
	int secret;
	size_t at, end;
};

#define FL_MAX_ENV_SECRETS 64

struct fl_scenario {
	char *file;
	char *name;
	char *description;
	int has_seed;
	uint64_t seed;
	int64_t duration_ns;

	struct {
		enum fl_provider provider;
		size_t nnodes;
		char *nodes[FL_MAX_NODES];
		int has_subnet;      /* else chosen at `up` to avoid host routes */
		uint32_t subnet;     /* IPv4, host order */
		unsigned prefix;
		struct {
			char *uri;
			enum fl_libvirt_mode mode;
			char **domains;  /* NULL-terminated */
			/* attach: per node (as domains), NULL / 0 when not given:
			 * the node's own libvirt URI, its address (host order) */
			char *domain_uri[FL_MAX_NODES];
			uint32_t domain_addr[FL_MAX_NODES];
			char *iface;     /* attach: the guests' cluster interface; NULL: eth0 */
			char *kernel;    /* NULL: newest /boot/vmlinuz-* at run time */
			uint64_t memory; /* bytes */
			unsigned vcpus;
			enum fl_accel accel;
		} libvirt;
	} cluster;

	struct {
		enum fl_system_type type;
		char *binary;
		char **args;         /* NULL-terminated; placeholders unexpanded */
		struct fl_env *env;
		size_t nenv;
		int64_t ready_timeout_ns;
		char **start;        /* exec */
		char **client;       /* exec */
	} system;

	struct {
		enum fl_workload_type type;
		unsigned clients;
		double rate;         /* ops/s over all clients; 0 = unlimited */
		unsigned keys;
		int64_t timeout_ns;
		enum fl_read_mode read_mode;
	} workload;

	struct fl_fault *faults;
	size_t nfaults;

	/* Things that are allowed but probably not meant, located like errors
	 * and worded "warning: ...": validate, plan and run print them. */
	struct fl_diags warnings;

	struct {
		int linearizable;
		int64_t linearizable_timeout_ns;
		int failover;
		int64_t failover_within_ns;
		int no_lost_writes;
		int converge;
		int64_t converge_within_ns;
		int leader_per_term;
		int latency;
		int64_t latency_p50_ns, latency_p99_ns, latency_max_ns; /* 0 = no limit */
		int availability;
		double availability_min; /* percent */
	} checks;
	/* where secret values are written in the scenario file (those --set
	 * replaced included): what fl_scenario_copy_redacted hides */
	struct {
		size_t at, end;
	} secret_text[FL_MAX_ENV_SECRETS];
	size_t nsecret_text;
};

/* Load, apply overrides ("path=value", in order), and validate. On success
 * returns 0 and *out; otherwise -errno with every problem in d (sorted). */
int fl_scenario_load(const char *path, char *const *overrides, size_t noverrides,
		     struct fl_diags *d, struct fl_scenario **out);

/* The same from memory (tests, fuzzing); name appears in diagnostics. */
int fl_scenario_load_string(const char *name, const char *buf, size_t len,
			    char *const *overrides, size_t noverrides, struct fl_diags *d,
			    struct fl_scenario **out);

void fl_scenario_free(struct fl_scenario *s);

/* The scenario files an argument names (validate, run): a file as it is;
 * a directory: its *.yaml and *.yml files (not hidden), sorted. Appended
 * to the growing array *v (*n entries, each malloc'd). 0, or -errno with
 * the problem in d (a directory that cannot be read or holds none). */
int fl_scenario_files(const char *arg, char ***v, size_t *n, struct fl_diags *d);

/* Index of a node by name, or -1. */
int fl_scenario_node_index(const struct fl_scenario *s, const char *name);

/* Name tables: *_to_string never returns NULL; *_from_string returns -1. */
const char *fl_provider_to_string(enum fl_provider v);
const char *fl_system_type_to_string(enum fl_system_type v);
const char *fl_workload_type_to_string(enum fl_workload_type v);
const char *fl_read_mode_to_string(enum fl_read_mode v);
const char *fl_fault_kind_to_string(enum fl_fault_kind v);
int fl_fault_kind_from_string(const char *s);
const char *fl_partition_mode_to_string(enum fl_partition_mode v);
const char *fl_direction_to_string(enum fl_direction v);
const char *fl_target_kind_to_string(enum fl_target_kind v);
const char *fl_libvirt_mode_to_string(enum fl_libvirt_mode v);
const char *fl_accel_to_string(enum fl_accel v);

/* Fault classes used by validation and the plan. */
int fl_fault_is_network(enum fl_fault_kind k);  /* netem-based, incl. byzantine */
int fl_fault_is_node(enum fl_fault_kind k);     /* process and VM faults */
int fl_fault_is_vm(enum fl_fault_kind k);       /* need provider libvirt */
int fl_fault_is_instant(enum fl_fault_kind k);  /* restart, reboot: no "for" */

/* Secrets (system.env values marked secret) are never written down.
 * fl_scenario_copy_redacted copies the scenario file's text (in: the file s
 * was loaded from) to out with each secret value's text replaced by
 * "(secret)", its lines kept (so messages about the copy name the same
 * line). 0, or -EIO. */
int fl_scenario_copy_redacted(const struct fl_scenario *s, FILE *in, FILE *out);

/* A --set override as it may be written down (run.json, the reproduce
 * line): "PATH=(secret)" when PATH reaches a secret variable, else ov
 * itself. buf holds the redacted text. */
const char *fl_scenario_shown_override(const struct fl_scenario *s, const char *ov, char *buf,
				       size_t len);

#endif
