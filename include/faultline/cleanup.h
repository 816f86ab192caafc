/* Automatic cleanup (systemd's model): `_cleanup_(freep) char *s = NULL;`
 * frees s whatever way the scope is left. One set for the whole tree; the
 * libnl handles' helpers are in nlerr.h, beside libnl's other boundary
 * code. Every helper accepts NULL (and -1 for fds). */
#ifndef FAULTLINE_CLEANUP_H
#define FAULTLINE_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#endif
