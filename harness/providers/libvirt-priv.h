/* Test hooks of libvirt.c (tests/unit/test_libvirt.c): the domain half of
 * up, without bridge, disks or initramfs, so that it runs against
 * libvirt's test:///default driver with no root and no daemon. */
#ifndef FAULTLINE_LIBVIRT_PRIV_H
#define FAULTLINE_LIBVIRT_PRIV_H

#include <stddef.h>

/* Journal a domain in dir's libvirt.journal, then create it from xml on
 * uri, as fl_libvirt_up does for each node. */
int fl_libvirt_priv_create(const char *dir, const char *uri, const char *id, const char *name,
			   const char *xml, char *err, size_t errlen);

#endif
