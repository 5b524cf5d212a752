/*
 * ELF files on disk, untrusted: open one (64-bit little-endian), read its
 * program and section headers, every table bounds-checked against the file
 * size. Used to find the interpreter in a mapped file (the lowest PT_LOAD
 * for the load bias, the .PyRuntime / .AsyncioDebug sections) and by
 * debuginfo.c (build-ids, .gnu_debuglink, .debug_info).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elffile.h"

#define MAX_PHDRS 4096u
#define MAX_SECTIONS 65536u
#define MAX_SHSTRTAB (1u << 20)

bool elf_range_ok(uint64_t off, uint64_t size, uint64_t fsize)
{
	return off <= fsize && size <= fsize - off;
}

bool elf_pread(const struct elf_file *f, void *buf, size_t size, uint64_t off)
{
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(f->fd, (char *)buf + done, size - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	if (f->trace && f->trace->trace)
		f->trace->trace(f->trace->trace_arg, f->trace_name, off, size, 1);
	return true;
}

struct pyag_error *elf_open(const char *path, struct elf_file *f,
			    const struct pyag_reader *trace, const char *trace_name)
{
	memset(f, 0, sizeof(*f));
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return pyag_error_errno(errno, "%s", path);
	f->path = path;
	f->trace = trace;
	f->trace_name = trace_name ? trace_name : path;
	struct stat st;
	struct pyag_error *err = NULL;
	if (fstat(f->fd, &st) != 0)
		err = pyag_error_errno(errno, "%s", path);
	else if (!S_ISREG(st.st_mode) || !elf_pread(f, &f->eh, sizeof(f->eh), 0) ||
		 memcmp(f->eh.e_ident, ELFMAG, SELFMAG) != 0)
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT, "%s: not an ELF file", path);
	else if (f->eh.e_ident[EI_CLASS] != ELFCLASS64 ||
		 f->eh.e_ident[EI_DATA] != ELFDATA2LSB)
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: not a 64-bit little-endian ELF file", path);
	f->size = (uint64_t)st.st_size;
	if (err)
		elf_close(f);
	return err;
}

void elf_close(struct elf_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

Elf64_Phdr *elf_program_headers(const struct elf_file *f, size_t *n_ret, bool *nomem)
{
	const Elf64_Ehdr *eh = &f->eh;
	*n_ret = 0;
	if (eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !elf_range_ok(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), f->size))
		return NULL;
	Elf64_Phdr *ph = malloc(eh->e_phnum * sizeof(*ph));
	if (!ph)
		*nomem = true;
	if (ph && !elf_pread(f, ph, eh->e_phnum * sizeof(*ph), eh->e_phoff)) {
		free(ph);
		ph = NULL;
	}
	if (ph)
		*n_ret = eh->e_phnum;
	return ph;
}

struct pyag_error *elf_for_each_section(const struct elf_file *f,
					elf_section_fn *fn, void *arg)
{
	const Elf64_Ehdr *eh = &f->eh;
	const char *path = f->path;
	Elf64_Shdr first;
	uint64_t n = eh->e_shnum;
	uint64_t strndx = eh->e_shstrndx;
	if (eh->e_shoff == 0)
		return NULL;  /* no section headers: not an error */
	if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !elf_range_ok(eh->e_shoff, sizeof(first), f->size) ||
	    !elf_pread(f, &first, sizeof(first), eh->e_shoff))
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: bad section header table", path);
	/* more than 0xff00 sections: the real counts are in section 0 */
	if (n == 0)
		n = first.sh_size;
	if (strndx == SHN_XINDEX)
		strndx = first.sh_link;
	if (n == 0)
		return NULL;
	if (n > MAX_SECTIONS || strndx >= n ||
	    !elf_range_ok(eh->e_shoff, n * sizeof(Elf64_Shdr), f->size))
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: bad section header table", path);
	Elf64_Shdr *sh = malloc(n * sizeof(*sh));
	char *names = NULL;
	struct pyag_error *err = NULL;
	if (!sh)
		return &pyag_enomem;
	if (!elf_pread(f, sh, n * sizeof(*sh), eh->e_shoff)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: cannot read section headers", path);
		goto out;
	}
	const Elf64_Shdr *strsh = &sh[strndx];
	if (strsh->sh_size == 0 || strsh->sh_size > MAX_SHSTRTAB ||
	    strsh->sh_type == SHT_NOBITS ||
	    !elf_range_ok(strsh->sh_offset, strsh->sh_size, f->size)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: bad section name table", path);
		goto out;
	}
	names = malloc(strsh->sh_size + 1);
	if (!names) {
		err = &pyag_enomem;
		goto out;
	}
	if (!elf_pread(f, names, strsh->sh_size, strsh->sh_offset)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: cannot read section names", path);
		goto out;
	}
	names[strsh->sh_size] = '\0';
	for (uint64_t i = 0; i < n; i++)
		fn(arg, f, sh[i].sh_name < strsh->sh_size ? names + sh[i].sh_name : "",
		   &sh[i]);
out:
	free(names);
	free(sh);
	return err;
}

/* ---- the interpreter's sections ---------------------------------------- */

static void find_python_sections(void *arg, const struct elf_file *f,
				 const char *name, const Elf64_Shdr *sh)
{
	(void)f;
	struct elf_info *info = arg;
	struct elf_section_info *dst = NULL;
	if (strcmp(name, ".PyRuntime") == 0)
		dst = &info->pyruntime;
	else if (strcmp(name, ".AsyncioDebug") == 0)
		dst = &info->asynciodebug;
	if (dst && sh->sh_type != SHT_NOBITS && sh->sh_addr) {
		dst->addr = sh->sh_addr;
		dst->size = sh->sh_size;
		dst->offset = sh->sh_offset;
		dst->found = true;
	}
}

struct pyag_error *elf_read_info(const char *path, struct elf_info *info,
				 const struct pyag_reader *trace, const char *trace_name)
{
	memset(info, 0, sizeof(*info));
	struct elf_file f;
	struct pyag_error *err = elf_open(path, &f, trace, trace_name);
	if (err)
		return err;
	info->type = f.eh.e_type;
	size_t nph;
	bool nomem = false;
	Elf64_Phdr *ph = elf_program_headers(&f, &nph, &nomem);
	if (nomem) {
		elf_close(&f);
		return pyag_error_nomem("program headers");
	}
	for (size_t i = 0; i < nph; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		uint64_t base = ph[i].p_vaddr - ph[i].p_offset;
		if (!info->has_load || base < info->first_load_vaddr) {
			info->first_load_vaddr = base;
			info->has_load = true;
		}
	}
	free(ph);
	err = elf_for_each_section(&f, find_python_sections, info);
	elf_close(&f);
	return err;
}
