/* Helpers shared by the fuzz targets: the input put where a parser that
 * opens a path finds it, without a name in a shared directory. */
#ifndef FAULTLINE_FUZZ_UTIL_H
#define FAULTLINE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ftw.h>
#include <string.h>
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

static inline int fuzz_rm_entry(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	return remove(path);
}

/* A run directory under $TMPDIR whose files names[0..n) are symlinks to
 * the memfds fds[0..n) (made here); what the code under test writes there
 * is real. fuzz_run_dir_remove takes it all away (at exit; a crash leaves
 * it, so tests/fuzz/run gives a $TMPDIR under build/fuzz that it removes). */
static inline void fuzz_run_dir(char *dir, size_t dirlen, const char *const *names, size_t n,
				int *fds)
{
	const char *tmp = getenv("TMPDIR");
	char path[256], target[64];

	snprintf(dir, dirlen, "%s/fuzz-run.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	for (size_t k = 0; k < n; k++) {
		fds[k] = -1;
		fuzz_memfd(&fds[k], NULL, 0, target, sizeof(target));
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
		if (symlink(target, path) < 0)
			abort();
	}
}

static inline void fuzz_run_dir_remove(const char *dir)
{
	if (*dir)
		nftw(dir, fuzz_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The input cut at form feeds ('\f') into the n memfds, in order; those
 * past the last part are emptied. */
static inline void fuzz_split(const uint8_t *data, size_t size, int *fds, size_t n)
{
	const uint8_t *p = data, *end = data + size;
	char target[64];

	for (size_t k = 0; k < n; k++) {
		const uint8_t *ff = p < end ? memchr(p, '\f', (size_t)(end - p)) : NULL;
		const uint8_t *stop = ff ? ff : end;

		fuzz_memfd(&fds[k], p, (size_t)(stop - p), target, sizeof(target));
		p = ff ? ff + 1 : end;
	}
}

#endif
