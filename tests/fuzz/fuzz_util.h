/* Helpers shared by the fuzz targets: the input put where a parser that
 * opens a path finds it, without a name in a shared directory. */
#ifndef FAULTLINE_FUZZ_UTIL_H
#define FAULTLINE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data[0..size) as the whole content of the memfd *fd (made on the first
 * call), and its path in path ("/proc/self/fd/N"). Aborts when it cannot:
 * a fuzz target that silently tests nothing is worse than none. */
static inline void fuzz_memfd(int *fd, const uint8_t *data, size_t size, char *path,
			      size_t pathlen)
{
	if (*fd < 0 && (*fd = memfd_create("fuzz", MFD_CLOEXEC)) < 0) {
		perror("memfd_create");
		abort();
	}
	if (ftruncate(*fd, 0) < 0 || (size && pwrite(*fd, data, size, 0) != (ssize_t)size)) {
		perror("memfd write");
		abort();
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", *fd);
}

#endif
