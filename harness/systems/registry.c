/* Which adapter runs which system.type (see system.h). */
#include "faultline/system.h"

const struct fl_system_ops *fl_system_lookup(enum fl_system_type t)
{
	switch (t) {
	case FL_SYSTEM_ETCD:
		return &fl_etcd_ops;
	case FL_SYSTEM_REDIS:
		return &fl_redis_ops;
	case FL_SYSTEM_NATS:
		return &fl_nats_ops;
	case FL_SYSTEM_EXEC:
		return &fl_exec_system_ops;
	case FL_SYSTEM__N:
		break;
	}
	return NULL;
}
