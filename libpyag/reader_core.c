/*
 * Reading an ELF core file. Memory comes from the PT_LOAD segments; bytes a
 * segment does not hold (filesz < memsz, or no segment at all) come from the
 * mapped file named by the NT_FILE note when that file is available
 * (read-only code and data are usually left out of cores), and are
 * otherwise reported unreadable: nothing is invented.
 *
 * The file is untrusted: all tables are bounds-checked against its size.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"

#define MAX_SEGMENTS 1000000u
#define MAX_FILES 1000000u
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif

struct core_extra {
	struct core_file cf;
	struct pyag_reader *reader;
	char *sysroot;
	/* open files for the fallback, one per NT_FILE entry (lazily) */
	int *fds;           /* -2: not tried, -1: unavailable */
};

static bool in_file(const struct core_file *cf, uint64_t off, uint64_t len)
{
	return off <= cf->file_size && len <= cf->file_size - off;
}

static void parse_nt_file(struct core_file *cf, const uint8_t *d, uint64_t n)
{
	if (n < 16)
		return;
	uint64_t count, page;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > MAX_FILES || count * 24 > n - 16 || page == 0 || page > (1u << 30))
		return;
	cf->files = calloc(count ? count : 1, sizeof(*cf->files));
	if (!cf->files) {
		cf->nomem = true;
		return;
	}
	const char *names = (const char *)d + 16 + count * 24;
	const char *end = (const char *)d + n;
	for (uint64_t i = 0; i < count && names < end; i++) {
		const uint8_t *e = d + 16 + i * 24;
		struct core_file_mapping *m = &cf->files[cf->nfiles];
		memcpy(&m->start, e, 8);
		memcpy(&m->end, e + 8, 8);
		memcpy(&m->offset, e + 16, 8);
		m->offset *= page;
		size_t len = strnlen(names, (size_t)(end - names));
		m->path = strndup(names, len);
		if (!m->path) {
			cf->nomem = true;
			break;
		}
		names += len + 1;
		cf->nfiles++;
	}
}

static void parse_notes(struct core_file *cf, const uint8_t *p, uint64_t size)
{
	uint64_t off = 0;
	while (off + 12 <= size) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		uint64_t name_off = off + 12;
		uint64_t desc_off = name_off + (((uint64_t)namesz + 3) & ~3ull);
		uint64_t next = desc_off + (((uint64_t)descsz + 3) & ~3ull);
		if (next > size || desc_off > size)
			return;
		const uint8_t *desc = p + desc_off;
		bool core_name = namesz >= 4 && memcmp(p + name_off, "CORE", 4) == 0;
		if (core_name && type == NT_PRSTATUS && descsz >= 36) {
			int32_t pid;
			int16_t sig;
			memcpy(&pid, desc + 32, 4);
			memcpy(&sig, desc + 12, 2);
			if (!cf->ntids) {
				cf->pid = pid;
				cf->signal = sig;
			}
			int *t = realloc(cf->tids, (cf->ntids + 1) * sizeof(int));
			if (t) {
				cf->tids = t;
				cf->tids[cf->ntids++] = pid;
			} else {
				cf->nomem = true;
			}
		} else if (core_name && type == NT_PRPSINFO && descsz >= 56 + 80) {
			if (!cf->exe_hint &&
			    !(cf->exe_hint = strndup((const char *)desc + 40, 16)))
				cf->nomem = true;
		} else if (core_name && type == NT_FILE && !cf->files) {
			parse_nt_file(cf, desc, descsz);
		}
		off = next;
	}
}

static struct pyag_error *core_parse(struct core_file *cf, const char *path)
{
	const uint8_t *m = cf->map;
	if (cf->file_size < sizeof(Elf64_Ehdr) || memcmp(m, ELFMAG, SELFMAG) != 0)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT, "%s: not an ELF file", path);
	Elf64_Ehdr eh;
	memcpy(&eh, m, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: not a 64-bit little-endian ELF file", path);
	if (eh.e_type != ET_CORE)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: not a core file (ELF type %u)", path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(cf, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr)))
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: truncated or bad program headers", path);
	size_t nph = eh.e_phnum;
	if (nph == PN_XNUM)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: more than 65535 segments are not supported", path);
	cf->segs = calloc(nph, sizeof(*cf->segs));
	if (!cf->segs)
		return pyag_error_nomem("the core's segments");
	for (size_t i = 0; i < nph; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, m + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			uint64_t sz = ph.p_filesz;
			if (ph.p_offset > cf->file_size)
				continue;
			if (sz > cf->file_size - ph.p_offset)
				sz = cf->file_size - ph.p_offset;
			parse_notes(cf, m + ph.p_offset, sz);
		} else if (ph.p_type == PT_LOAD && cf->nsegs < MAX_SEGMENTS) {
			struct core_segment *s = &cf->segs[cf->nsegs++];
			s->vaddr = ph.p_vaddr;
			s->memsz = ph.p_memsz;
			s->offset = ph.p_offset;
			/* a truncated core holds only part of a segment */
			uint64_t fsz = ph.p_filesz;
			if (ph.p_offset > cf->file_size)
				fsz = 0;
			else if (fsz > cf->file_size - ph.p_offset)
				fsz = cf->file_size - ph.p_offset;
			if (fsz > s->memsz)
				fsz = s->memsz;
			s->filesz = fsz;
		}
	}
	if (cf->nomem)
		return pyag_error_nomem("the core's notes");
	if (!cf->nsegs)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: the core holds no memory segments", path);
	return NULL;
}

/* Bytes at addr from the mapped file of NT_FILE entry i, if available. */
static bool file_fallback(struct core_extra *x, uint64_t addr, uint8_t *buf,
			  size_t n)
{
	struct core_file *cf = &x->cf;
	for (size_t i = 0; i < cf->nfiles; i++) {
		struct core_file_mapping *fm = &cf->files[i];
		if (addr < fm->start || addr >= fm->end || n > fm->end - addr)
			continue;
		if (x->fds[i] == -2) {
			char p[4096];
			x->fds[i] = -1;
			if (x->sysroot && x->sysroot[0]) {
				snprintf(p, sizeof(p), "%s%s", x->sysroot, fm->path);
				x->fds[i] = open(p, O_RDONLY | O_CLOEXEC);
			}
			if (x->fds[i] < 0)
				x->fds[i] = open(fm->path, O_RDONLY | O_CLOEXEC);
		}
		if (x->fds[i] < 0)
			return false;
		uint64_t off = fm->offset + (addr - fm->start);
		ssize_t got = pread(x->fds[i], buf, n, (off_t)off);
		struct pyag_reader *r = x->reader;
		if (r->trace)
			r->trace(r->trace_arg, fm->path, off, n, got == (ssize_t)n);
		return got == (ssize_t)n;
	}
	return false;
}

static struct pyag_error *core_read(struct pyag_reader *r, uint64_t address,
				    void *buf, size_t size)
{
	struct core_extra *x = (struct core_extra *)r->core;
	struct core_file *cf = &x->cf;
	uint8_t *out = buf;
	uint64_t addr = address;
	size_t left = size;
	while (left) {
		/* bytes the core holds (segments may overlap: any one with
		 * file data for addr wins over one that only reserves it) */
		const struct core_segment *seg = NULL;
		uint64_t next = UINT64_MAX;  /* where the next data starts */
		for (size_t i = 0; i < cf->nsegs; i++) {
			const struct core_segment *s = &cf->segs[i];
			if (!s->filesz)
				continue;
			if (addr >= s->vaddr && addr - s->vaddr < s->filesz) {
				seg = s;
				break;
			}
			if (s->vaddr > addr && s->vaddr < next)
				next = s->vaddr;
		}
		size_t n = left;
		if (seg) {
			uint64_t avail = seg->filesz - (addr - seg->vaddr);
			if (n > avail)
				n = (size_t)avail;
			memcpy(out, cf->map + seg->offset + (addr - seg->vaddr), n);
		} else {
			/* not in the core: the mapped file may have it, up to
			 * where the core has data again */
			if (next - addr < n)
				n = (size_t)(next - addr);
			if (!file_fallback(x, addr, out, n))
				return pyag_error_fault(address, size);
		}
		out += n;
		addr += n;
		left -= n;
	}
	return NULL;
}

static void core_destroy(struct pyag_reader *r)
{
	struct core_extra *x = (struct core_extra *)r->core;
	if (!x)
		return;
	struct core_file *cf = &x->cf;
	if (cf->map)
		munmap((void *)cf->map, cf->file_size);
	if (cf->fd >= 0)
		close(cf->fd);
	for (size_t i = 0; i < cf->nfiles; i++) {
		free(cf->files[i].path);
		if (x->fds && x->fds[i] >= 0)
			close(x->fds[i]);
	}
	free(cf->files);
	free(cf->segs);
	free(cf->tids);
	free(cf->exe_hint);
	free(x->fds);
	free(x->sysroot);
	free(x);
}

static const struct reader_ops core_ops = {
	.read = core_read,
	.destroy = core_destroy,
};

/* Can the file of a core's path be opened here (under sysroot, or as is)? */
static bool core_path_exists(const char *sysroot, const char *path)
{
	char p[4096];
	if (sysroot && sysroot[0]) {
		snprintf(p, sizeof(p), "%s%s", sysroot, path);
		if (access(p, R_OK) == 0)
			return true;
	}
	return access(path, R_OK) == 0;
}

/*
 * The executable of a core is the file of its first NT_FILE entries (the
 * lowest addresses of a PIE or not) whose name begins with the process
 * name NT_PRPSINFO records (15 characters at most), else of the first
 * entry. When it cannot be opened here (the core comes from another
 * machine, or the interpreter was moved), read those mappings from exe.
 */
static struct pyag_error *core_use_exe(struct core_file *cf, const char *sysroot,
				       const char *exe)
{
	if (!cf->nfiles)
		return NULL;
	const char *want = cf->files[0].path;
	if (cf->exe_hint && cf->exe_hint[0]) {
		for (size_t i = 0; i < cf->nfiles; i++) {
			const char *base = strrchr(cf->files[i].path, '/');
			base = base ? base + 1 : cf->files[i].path;
			if (strncmp(base, cf->exe_hint, strlen(cf->exe_hint)) == 0) {
				want = cf->files[i].path;
				break;
			}
		}
	}
	if (core_path_exists(sysroot, want))
		return NULL;
	char *old = strdup(want);
	if (!old)
		return pyag_error_nomem("the core's file list");
	for (size_t i = 0; i < cf->nfiles; i++) {
		if (strcmp(cf->files[i].path, old) != 0)
			continue;
		char *copy = strdup(exe);
		if (!copy) {
			free(old);
			return pyag_error_nomem("the core's file list");
		}
		free(cf->files[i].path);
		cf->files[i].path = copy;
	}
	free(old);
	return NULL;
}

struct pyag_error *pyag_reader_create_core_ex(const char *path, const char *sysroot,
					      const char *exe, struct pyag_reader **ret)
{
	if (exe && access(exe, R_OK) != 0)
		return pyag_error_errno(errno, "--exe %s", exe);
	struct pyag_reader *r = malloc(sizeof(*r));
	struct core_extra *x = calloc(1, sizeof(*x));
	if (!r || !x) {
		free(r);
		free(x);
		return &pyag_enomem;
	}
	reader_init(r, &core_ops);
	r->cached = false;   /* memcpy from the mapped file is the cache */
	r->core = &x->cf;
	x->reader = r;
	x->cf.fd = -1;
	struct pyag_error *err = NULL;
	if (sysroot && !(x->sysroot = strdup(sysroot))) {
		err = &pyag_enomem;
		goto fail;
	}
	x->cf.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (x->cf.fd < 0) {
		err = pyag_error_errno(errno, "%s", path);
		goto fail;
	}
	struct stat st;
	if (fstat(x->cf.fd, &st) != 0) {
		err = pyag_error_errno(errno, "%s", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: not a core file (too small or not a regular file)",
					path);
		goto fail;
	}
	x->cf.file_size = (uint64_t)st.st_size;
	void *map = mmap(NULL, x->cf.file_size, PROT_READ, MAP_PRIVATE, x->cf.fd, 0);
	if (map == MAP_FAILED) {
		err = pyag_error_errno(errno, "mmap %s", path);
		goto fail;
	}
	x->cf.map = map;
	err = core_parse(&x->cf, path);
	if (!err && exe)
		err = core_use_exe(&x->cf, sysroot, exe);
	if (err)
		goto fail;
	x->fds = malloc((x->cf.nfiles ? x->cf.nfiles : 1) * sizeof(int));
	if (!x->fds) {
		err = &pyag_enomem;
		goto fail;
	}
	for (size_t i = 0; i < x->cf.nfiles; i++)
		x->fds[i] = -2;
	*ret = r;
	return NULL;
fail:
	core_destroy(r);
	free(r);
	return err;
}

struct pyag_error *pyag_reader_create_core(const char *path, struct pyag_reader **ret)
{
	return pyag_reader_create_core_ex(path, NULL, NULL, ret);
}

struct core_file *reader_core_file(struct pyag_reader *r)
{
	return r && r->ops == &core_ops ? r->core : NULL;
}
