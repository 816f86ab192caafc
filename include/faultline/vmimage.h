/* The boot image of a micro-VM node (ARCHITECTURE.md, "The micro-VM node
 * template"): the host's own kernel from /boot, and a small initramfs that
 * faultline writes itself (newc cpio, uncompressed: the kernel unpacks it
 * as is) holding busybox-static, the kernel modules a guest needs before it
 * can reach the host's root over 9p, and the init scripts of the caller.
 * Also whether KVM really works here. Nothing here logs; functions return
 * 0 (or a count) or -errno with one lowercase message in err. */
#ifndef FAULTLINE_VMIMAGE_H
#define FAULTLINE_VMIMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- newc cpio (the initramfs format), pure over a FILE ------------------- */

struct fl_cpio {
	FILE *f;
	uint32_t ino;  /* next inode number */
	uint32_t mtime;
	int error;     /* the first write error (-errno), sticky */
};

void fl_cpio_init(struct fl_cpio *c, FILE *f, uint32_t mtime);
/* name without a leading '/', e.g. "bin/busybox"; mode with its type bits
 * left out (0755): the call adds S_IFDIR / S_IFREG / S_IFLNK. */
int fl_cpio_dir(struct fl_cpio *c, const char *name, unsigned mode);
int fl_cpio_file(struct fl_cpio *c, const char *name, unsigned mode, const void *data, size_t len);
int fl_cpio_symlink(struct fl_cpio *c, const char *name, const char *target);
/* The closing "TRAILER!!!" entry; returns the first error of the archive. */
int fl_cpio_finish(struct fl_cpio *c);

/* --- kernel modules --------------------------------------------------------- */

/* Append the module files of `modprobe --show-depends` output (lines
 * "insmod PATH [ARGS]"; "builtin NAME" lines need nothing) to paths
 * (NULL-terminated, malloc'd, grown), skipping those already there, so
 * modules come out in a valid load order. The number added, or -errno. */
int fl_vmimage_parse_depends(const char *text, char ***paths);

/* The name a module file has in the initramfs: its basename without a
 * compression suffix ("/lib/.../9p.ko.xz" -> "9p.ko"). */
void fl_vmimage_module_name(const char *path, char *buf, size_t len);

/* --- the host's pieces -------------------------------------------------------- */

/* Run a host tool by argv (never a shell; PATH searched, /sbin and
 * /usr/sbin added), stdin from /dev/null, its stdout (and stderr when
 * with_stderr) into *out (malloc'd, NUL-terminated, also on failure).
 * 0 when it exited 0, -ENOENT when it could not be started, -EIO otherwise. */
int fl_vmimage_run(char *const argv[], int with_stderr, char **out, size_t *outlen);

/* 1 when path is an ELF executable without an interpreter (static), 0 when
 * dynamic, -errno (-ENOEXEC: not a 64-bit ELF). */
int fl_vmimage_elf_is_static(const char *path);

/* The host's static busybox (/bin/busybox or /usr/bin/busybox). */
int fl_vmimage_busybox(char *path, size_t len, char *err, size_t errlen);

/* The kernel to boot and its version: `given` (a /boot/vmlinuz-VERSION
 * path) or, when NULL, the newest /boot/vmlinuz-* whose modules are in
 * /lib/modules/VERSION. It must be readable and have its modules. */
int fl_vmimage_kernel(const char *given, char *path, size_t pathlen, char *kver, size_t kverlen,
		      char *err, size_t errlen);

/* Debian's bzImage is xz-compressed and unpacking it costs seconds a boot
 * under TCG; qemu boots the uncompressed ELF directly through its PVH entry
 * point. Write that ELF to path: 1 written, 0 not possible (no CONFIG_PVH=y
 * in /boot/config-<kver>, no xz stream holding an ELF: boot the kernel as
 * it is), -errno. */
int fl_vmimage_vmlinux(const char *kernel, const char *kver, const char *path, char *err,
		       size_t errlen);

struct fl_vmimage_file {
	const char *name; /* in the archive, e.g. "init" */
	const char *text;
	unsigned mode;
};

struct fl_vmimage_spec {
	const char *kver;                     /* modules from /lib/modules/<kver> */
	const char *busybox;                  /* static; see fl_vmimage_busybox() */
	const char *const *applets;           /* busybox links made in bin/, NULL-terminated */
	const char *const *modules;           /* wanted (dependencies added), NULL-terminated */
	const struct fl_vmimage_file *files;  /* "init" among them */
	size_t nfiles;
};

/* Write the initramfs to path (via path.tmp, renamed into place): dirs
 * bin dev proc sys lower rw newroot lib/modules, bin/busybox and its
 * applets, lib/modules/<name>.ko for each module with dependencies, the
 * file "modules" naming them one a line in load order, and spec->files. */
int fl_vmimage_initramfs(const struct fl_vmimage_spec *spec, const char *path, char *err,
			 size_t errlen);

/* --- the accelerator ------------------------------------------------------------- */

/* Does KVM really work here? /dev/kvm can exist and still be unusable (no
 * vmx/svm: nested PVM): 1 when /dev/kvm opens read-write with API 12, the
 * CPU flags have vmx or svm, and KVM_CREATE_VM succeeds; else 0 and why
 * says what failed. */
int fl_kvm_usable(char *why, size_t len);

#endif
