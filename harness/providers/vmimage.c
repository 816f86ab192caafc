/* The boot image of a micro-VM node (vmimage.h): the host's kernel, an
 * initramfs written here as a newc cpio. Module dependencies come from
 * kmod's own `modprobe --show-depends` (soft dependencies, builtins and
 * compression included), as tests/vm/run resolves them. Never runs a
 * shell; programs are started by argv. */
#include "faultline/strutil.h"
#include "faultline/util.h"
#include "faultline/vmimage.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/kvm.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultline/cleanup.h"

#define MAX_MODULES 256
#define MAX_CAPTURE (64u << 20) /* a decompressed module, at most */


/* --- cpio --------------------------------------------------------------------------- */

void fl_cpio_init(struct fl_cpio *c, FILE *f, uint32_t mtime)
{
	c->f = f;
	c->ino = 1;
	c->mtime = mtime;
	c->error = 0;
}

static void pad4(struct fl_cpio *c, size_t n)
{
	static const char zero[4];

	if (n % 4 && fwrite(zero, 1, 4 - n % 4, c->f) != 4 - n % 4 && !c->error)
		c->error = -EIO;
}

/* One entry: the 110-byte header, the name and its NUL padded to 4, the data padded to 4. */
static int entry(struct fl_cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	size_t nlen = strlen(name) + 1;

	if (c->error)
		return c->error;
	if (len > UINT32_MAX || nlen > 4096)
		return c->error = -EFBIG;
	fprintf(c->f, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", c->ino++, mode,
		0u, 0u, (mode & S_IFMT) == S_IFDIR ? 2u : 1u, c->mtime, (unsigned)len, 0u, 0u, 0u, 0u,
		(unsigned)nlen, 0u);
	if (fwrite(name, 1, nlen, c->f) != nlen)
		c->error = -EIO;
	pad4(c, 110 + nlen);
	if (len && fwrite(data, 1, len, c->f) != len && !c->error)
		c->error = -EIO;
	pad4(c, len);
	if (ferror(c->f) && !c->error)
		c->error = -EIO;
	return c->error;
}

int fl_cpio_dir(struct fl_cpio *c, const char *name, unsigned mode)
{
	return entry(c, name, S_IFDIR | (mode & 07777), NULL, 0);
}

int fl_cpio_file(struct fl_cpio *c, const char *name, unsigned mode, const void *data, size_t len)
{
	return entry(c, name, S_IFREG | (mode & 07777), data, len);
}

int fl_cpio_symlink(struct fl_cpio *c, const char *name, const char *target)
{
	return entry(c, name, S_IFLNK | 0777, target, strlen(target));
}

int fl_cpio_finish(struct fl_cpio *c)
{
	uint32_t ino = c->ino;

	c->ino = 0; /* the trailer's fields are all zero */
	entry(c, "TRAILER!!!", 0, NULL, 0);
	c->ino = ino;
	return c->error;
}

/* --- modules ---------------------------------------------------------------------------- */

static int strv_has(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static int strv_push(char ***v, const char *s)
{
	size_t n = 0;
	char **nv, *d;

	while (*v && (*v)[n])
		n++;
	if (n >= MAX_MODULES)
		return -E2BIG;
	if (!(d = strdup(s)))
		return -ENOMEM;
	if (!(nv = realloc(*v, (n + 2) * sizeof(*nv)))) {
		free(d);
		return -ENOMEM;
	}
	nv[n] = d;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

int fl_vmimage_parse_depends(const char *text, char ***paths)
{
	int added = 0;

	while (text && *text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[4096], *p, *end;
		int r;

		if (len < sizeof(line) && !strncmp(text, "insmod ", 7)) {
			memcpy(line, text, len);
			line[len] = 0;
			p = line + 7;
			p += strspn(p, " \t");
			end = p + strcspn(p, " \t"); /* module options follow the path */
			*end = 0;
			if (*p == '/' && !strv_has(*paths, p)) {
				if ((r = strv_push(paths, p)) < 0)
					return r;
				added++;
			}
		}
		text += len + (eol ? 1 : 0);
	}
	return added;
}

void fl_vmimage_module_name(const char *path, char *buf, size_t len)
{
	static const char *const sfx[] = { ".xz", ".zst", ".gz" };
	const char *slash = strrchr(path, '/');
	size_t n;

	snprintf(buf, len, "%s", slash ? slash + 1 : path);
	n = strlen(buf);
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t k = strlen(sfx[i]);
		if (n > k && !strcmp(buf + n - k, sfx[i])) {
			buf[n - k] = 0;
			break;
		}
	}
}

int fl_vmimage_run(char *const argv[], int with_stderr, char **out, size_t *outlen)
{
	_cleanup_(freep) char *buf = NULL;
	size_t len = 0, cap = 0;
	int p[2], st, r = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		const char *path = getenv("PATH");
		char np[4096];

		snprintf(np, sizeof(np), "%s:/sbin:/usr/sbin", path && *path ? path : "/bin:/usr/bin");
		setenv("PATH", np, 1);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(with_stderr ? p[1] : null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t k;

		if (len + 65536 + 1 > cap) {
			char *nb;
			if (cap >= MAX_CAPTURE) {
				r = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 65536 * 2;
			if (!(nb = realloc(buf, cap))) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		k = read(p[0], buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		r = WIFEXITED(st) && WEXITSTATUS(st) == 127 ? -ENOENT : -EIO;
	if (buf)
		buf[len] = 0;
	*out = buf;
	*outlen = len;
	buf = NULL;
	return r;
}

static int read_whole(const char *path, char **out, size_t *len)
{
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > MAX_CAPTURE)
		return -EFBIG;
	if (!(buf = malloc((size_t)st.st_size + 1)))
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(buf);
			return k < 0 ? -errno : -EIO;
		}
		got += (size_t)k;
	}
	*out = buf;
	*len = got;
	return 0;
}

/* A module's contents, decompressed the way its suffix says. */
static int module_bytes(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	static const struct { const char *sfx, *tool; } z[] = {
		{ ".xz", "xz" }, { ".zst", "zstd" }, { ".gz", "gzip" },
	};
	size_t n = strlen(path);
	int r;

	for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		size_t k = strlen(z[i].sfx);
		char *argv[] = { (char *)z[i].tool, (char *)"-dcq", (char *)path, NULL };

		if (n <= k || strcmp(path + n - k, z[i].sfx))
			continue;
		r = fl_vmimage_run(argv, 0, out, len);
		if (r < 0) {
			free(*out);
			*out = NULL;
			return fl_fail(r, err, errlen, "cannot decompress module '%s' with %s%s", path,
				    z[i].tool, r == -ENOENT ? ": not installed" : "");
		}
		return 0;
	}
	r = read_whole(path, out, len);
	if (r < 0)
		return fl_fail(r, err, errlen, "cannot read module '%s': %s", path, strerror(-r));
	return 0;
}

/* --- the host's pieces ------------------------------------------------------------------- */

int fl_vmimage_elf_is_static(const char *path)
{
	_cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	int interp = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return -ENOEXEC;
	for (unsigned i = 0; i < eh.e_phnum && !interp; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		interp = ph.p_type == PT_INTERP;
	}
	return !interp;
}

int fl_vmimage_busybox(char *path, size_t len, char *err, size_t errlen)
{
	static const char *const paths[] = { "/bin/busybox", "/usr/bin/busybox" };
	const char *dynamic = NULL;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int s = access(paths[i], X_OK) == 0 ? fl_vmimage_elf_is_static(paths[i]) : -ENOENT;

		if (s == 1) {
			snprintf(path, len, "%s", paths[i]);
			return 0;
		}
		if (s == 0 && !dynamic)
			dynamic = paths[i];
	}
	if (dynamic)
		return fl_fail(-ENOEXEC, err, errlen,
			    "'%s' is dynamically linked and the initramfs has no libc: "
			    "apt-get install busybox-static", dynamic);
	return fl_fail(-ENOENT, err, errlen, "no static busybox: apt-get install busybox-static");
}

static int vercmp_desc(const void *a, const void *b)
{
	return -strverscmp(*(const char *const *)a, *(const char *const *)b);
}

static int kernel_ok(const char *path, const char *kver, char *err, size_t errlen)
{
	char dep[512];

	snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", kver);
	if (access(path, F_OK) != 0)
		return fl_fail(-ENOENT, err, errlen, "kernel '%s' does not exist", path);
	if (access(dep, R_OK) != 0)
		return fl_fail(-ENOENT, err, errlen,
			    "kernel '%s' has no modules in /lib/modules/%s (install its package, "
			    "e.g. linux-image-amd64)", path, kver);
	if (access(path, R_OK) != 0)
		return fl_fail(-EACCES, err, errlen,
			    "kernel '%s' is not readable by this user (Debian installs it mode 0600): "
			    "run as root", path);
	return 0;
}

int fl_vmimage_kernel(const char *given, char *path, size_t pathlen, char *kver, size_t kverlen,
		      char *err, size_t errlen)
{
	static const char pfx[] = "/boot/vmlinuz-";
	glob_t g;
	int r = -ENOENT;

	if (given) {
		const char *base = strrchr(given, '/');
		const char *v = base && !strncmp(base + 1, "vmlinuz-", 8) ? base + 9 : NULL;

		if (!v || !*v)
			return fl_fail(-EINVAL, err, errlen,
				    "cannot tell the version of kernel '%s': name it "
				    "vmlinuz-VERSION, its modules in /lib/modules/VERSION", given);
		if ((r = kernel_ok(given, v, err, errlen)) < 0)
			return r;
		snprintf(path, pathlen, "%s", given);
		snprintf(kver, kverlen, "%s", v);
		return 0;
	}
	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
		return fl_fail(-ENOENT, err, errlen,
			    "no kernel in /boot (apt-get install linux-image-amd64), or set "
			    "'cluster.libvirt.kernel'");
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), vercmp_desc);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char e[512];
		const char *v = g.gl_pathv[i] + strlen(pfx);
		int k = kernel_ok(g.gl_pathv[i], v, e, sizeof(e));

		if (k == 0) {
			snprintf(path, pathlen, "%s", g.gl_pathv[i]);
			snprintf(kver, kverlen, "%s", v);
			r = 0;
			break;
		}
		if (r == -ENOENT) { /* the newest kernel's problem is the one to report */
			r = k;
			fl_fail(0, err, errlen, "%s", e);
		}
	}
	globfree(&g);
	return r;
}

/* --- the initramfs ------------------------------------------------------------------------ */

static int resolve_modules(const char *kver, const char *const *wanted, char ***paths, char *err,
			   size_t errlen)
{
	for (size_t i = 0; wanted && wanted[i]; i++) {
		char *argv[] = { (char *)"modprobe", (char *)"-S", (char *)kver, (char *)"--show-depends",
				 (char *)wanted[i], NULL };
		_cleanup_(freep) char *out = NULL;
		size_t len;
		int r = fl_vmimage_run(argv, 0, &out, &len);

		if (r == -ENOENT && !out)
			return fl_fail(r, err, errlen, "modprobe not found (apt-get install kmod)");
		if (r < 0)
			return fl_fail(r, err, errlen, "kernel %s has no module '%s' (modprobe -S %s "
						    "--show-depends %s failed)", kver, wanted[i], kver,
				    wanted[i]);
		if ((r = fl_vmimage_parse_depends(out, paths)) < 0)
			return fl_fail(r, err, errlen, "too many modules for the initramfs");
	}
	return 0;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int fl_vmimage_initramfs(const struct fl_vmimage_spec *spec, const char *path, char *err,
			 size_t errlen)
{
	static const char *const dirs[] = { "bin", "dev", "proc", "sys", "lower", "rw", "newroot",
					    "lib", "lib/modules" };
	char tmp[4096], name[512];
	char **mods = NULL;
	_cleanup_(freep) char *bb = NULL;
	_cleanup_(freep) char *list = NULL;
	size_t bblen, listlen = 0;
	struct fl_cpio c;
	FILE *f = NULL;
	int r;

	if ((r = resolve_modules(spec->kver, spec->modules, &mods, err, errlen)) < 0)
		goto out;
	if ((r = read_whole(spec->busybox, &bb, &bblen)) < 0) {
		fl_fail(r, err, errlen, "cannot read '%s': %s", spec->busybox, strerror(-r));
		goto out;
	}
	if ((r = fl_tmp_beside(path, 0644, tmp, sizeof(tmp))) < 0 || !(f = fdopen(r, "w"))) {
		if (r >= 0) {
			close(r);
			unlink(tmp);
		}
		r = fl_fail(r < 0 ? r : -errno, err, errlen, "cannot write '%s': %s", path,
			    strerror(r < 0 ? -r : errno));
		goto out;
	}
	fl_cpio_init(&c, f, (uint32_t)time(NULL));
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		fl_cpio_dir(&c, dirs[i], 0755);
	fl_cpio_file(&c, "bin/busybox", 0755, bb, bblen);
	for (size_t i = 0; spec->applets && spec->applets[i]; i++) {
		snprintf(name, sizeof(name), "bin/%s", spec->applets[i]);
		fl_cpio_symlink(&c, name, "busybox");
	}
	for (size_t i = 0; mods && mods[i] && c.error == 0; i++) {
		char mname[256], *data = NULL, *nl;
		size_t len;

		fl_vmimage_module_name(mods[i], mname, sizeof(mname));
		if ((r = module_bytes(mods[i], &data, &len, err, errlen)) < 0)
			goto out;
		snprintf(name, sizeof(name), "lib/modules/%s", mname);
		fl_cpio_file(&c, name, 0644, data, len);
		free(data);
		if (!(nl = realloc(list, listlen + strlen(mname) + 2))) {
			r = fl_fail(-ENOMEM, err, errlen, "out of memory");
			goto out;
		}
		list = nl;
		listlen += (size_t)sprintf(list + listlen, "%s\n", mname);
	}
	fl_cpio_file(&c, "modules", 0644, list ? list : "", listlen);
	for (size_t i = 0; i < spec->nfiles; i++)
		fl_cpio_file(&c, spec->files[i].name, spec->files[i].mode, spec->files[i].text,
			     strlen(spec->files[i].text));
	r = fl_cpio_finish(&c);
	if (r == 0 && (fflush(f) != 0 || fsync(fileno(f)) < 0))
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	f = NULL;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		fl_fail(r, err, errlen, "cannot write the initramfs '%s': %s", path, strerror(-r));
out:
	if (f)
		fclose(f);
	if (r < 0)
		unlink(tmp);
	strv_free(mods);
	return r;
}

/* --- the uncompressed kernel ------------------------------------------------------------------ */

#define VMLINUX_MAX (512u << 20)

/* One xz stream at in (its end unknown: decoding stops at the stream's
 * end) into a growing buffer. 0 with *out, or -errno. */
static int unxz(const uint8_t *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	lzma_stream z = LZMA_STREAM_INIT;
	uint8_t *buf = NULL;
	size_t cap = 0;
	lzma_ret lr;

	if (lzma_stream_decoder(&z, UINT64_MAX, 0) != LZMA_OK)
		return -ENOMEM;
	z.next_in = in;
	z.avail_in = inlen;
	do {
		if (z.avail_out == 0) {
			size_t used = cap - z.avail_out;
			uint8_t *nb;

			if (cap >= VMLINUX_MAX || !(nb = realloc(buf, cap ? cap * 2 : 64u << 20))) {
				lr = LZMA_MEM_ERROR;
				break;
			}
			buf = nb;
			z.next_out = buf + used;
			z.avail_out = (cap ? cap * 2 : 64u << 20) - used;
			cap = cap ? cap * 2 : 64u << 20;
		}
		lr = lzma_code(&z, LZMA_FINISH);
	} while (lr == LZMA_OK);
	*outlen = cap - z.avail_out;
	lzma_end(&z);
	if (lr != LZMA_STREAM_END) {
		free(buf);
		return lr == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	*out = buf;
	return 0;
}

int fl_vmimage_vmlinux(const char *kernel, const char *kver, const char *path, char *err,
		       size_t errlen)
{
	static const uint8_t magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	_cleanup_(freep) char *img = NULL;
	_cleanup_(freep) char *config = NULL;
	char cpath[512], tmp[4096];
	size_t len, clen;
	int r;

	/* qemu boots an ELF kernel through its PVH entry point, when it has one */
	snprintf(cpath, sizeof(cpath), "/boot/config-%s", kver);
	if (read_whole(cpath, &config, &clen) < 0)
		return 0;
	config[clen] = 0;
	if (!strstr(config, "\nCONFIG_PVH=y\n"))
		return 0;
	if ((r = read_whole(kernel, &img, &len)) < 0)
		return fl_fail(r, err, errlen, "cannot read kernel '%s': %s", kernel, strerror(-r));
	for (size_t off = 0; off + sizeof(magic) <= len; off++) {
		const uint8_t *p = memchr(img + off, magic[0], len - off);
		_cleanup_(freep) uint8_t *elf = NULL;
		size_t elflen = 0;
		FILE *f;

		if (!p)
			break;
		off = (size_t)(p - (const uint8_t *)img);
		if (off + sizeof(magic) > len || memcmp(p, magic, sizeof(magic)))
			continue;
		if (unxz(p, len - off, &elf, &elflen) < 0 || elflen < 4 || memcmp(elf, ELFMAG, SELFMAG))
			continue;
		if ((r = fl_tmp_beside(path, 0644, tmp, sizeof(tmp))) < 0)
			return fl_fail(r, err, errlen, "cannot write '%s': %s", path, strerror(-r));
		if (!(f = fdopen(r, "w"))) {
			close(r);
			unlink(tmp);
			r = -ENOMEM;
			return fl_fail(r, err, errlen, "cannot write '%s': %s", path, strerror(-r));
		}
		r = fwrite(elf, 1, elflen, f) == elflen ? 0 : -EIO;
		if (fclose(f) != 0 && r == 0)
			r = -errno;
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
		if (r < 0) {
			unlink(tmp);
			return fl_fail(r, err, errlen, "cannot write '%s': %s", path, strerror(-r));
		}
		return 1;
	}
	return 0; /* not an xz-compressed bzImage: boot it as it is */
}

/* --- KVM ------------------------------------------------------------------------------------- */

static int cpu_has_virt(void)
{
	_cleanup_(fclosep) FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *t = strtok(line, " \t\n"); t; t = strtok(NULL, " \t\n"))
			if (!strcmp(t, "vmx") || !strcmp(t, "svm"))
				return 1;
		return 0;
	}
	return 0;
}

int fl_kvm_usable(char *why, size_t len)
{
	_cleanup_(closep) int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int api, vm;

	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return 0;
	}
	if (!cpu_has_virt()) {
		snprintf(why, len, "/dev/kvm exists but /proc/cpuinfo has no vmx or svm flag");
		return 0;
	}
	if ((api = ioctl(fd, KVM_GET_API_VERSION, 0)) != KVM_API_VERSION) {
		snprintf(why, len, "/dev/kvm answers API version %d, not %d", api, KVM_API_VERSION);
		return 0;
	}
	/* the real test: a VM can be made */
	if ((vm = ioctl(fd, KVM_CREATE_VM, 0)) < 0) {
		snprintf(why, len, "KVM_CREATE_VM failed: %s", strerror(errno));
		return 0;
	}
	close(vm);
	snprintf(why, len, "/dev/kvm creates VMs and the CPU has vmx/svm");
	return 1;
}
