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

/* ---- symbols --------------------------------------------------------------- */

#define MAX_SYMBOLS (1u << 22)
#define MAX_STRTAB (64u << 20)
#define SYM_CHUNK 1024u

/* Look names[] up in one symbol table (sh) with its string table. */
static struct pyag_error *scan_symtab(const struct elf_file *f, const Elf64_Shdr *sh,
				      const Elf64_Shdr *strsh, const char *const *names,
				      size_t n, uint64_t *values, bool *found)
{
	if (sh->sh_entsize != sizeof(Elf64_Sym) || sh->sh_type == SHT_NOBITS ||
	    strsh->sh_type == SHT_NOBITS || strsh->sh_size == 0 ||
	    strsh->sh_size > MAX_STRTAB ||
	    !elf_range_ok(sh->sh_offset, sh->sh_size, f->size) ||
	    !elf_range_ok(strsh->sh_offset, strsh->sh_size, f->size))
		return NULL;  /* a table we cannot use: no symbols from it */
	uint64_t count = sh->sh_size / sizeof(Elf64_Sym);
	if (count > MAX_SYMBOLS)
		count = MAX_SYMBOLS;
	char *strtab = malloc(strsh->sh_size + 1);
	Elf64_Sym *syms = malloc(SYM_CHUNK * sizeof(*syms));
	if (!strtab || !syms) {
		free(strtab);
		free(syms);
		return pyag_error_nomem("a symbol table");
	}
	if (!elf_pread(f, strtab, strsh->sh_size, strsh->sh_offset))
		count = 0;
	strtab[strsh->sh_size] = '\0';
	for (uint64_t i = 0; i < count; i += SYM_CHUNK) {
		uint64_t m = count - i < SYM_CHUNK ? count - i : SYM_CHUNK;
		if (!elf_pread(f, syms, (size_t)(m * sizeof(*syms)),
			       sh->sh_offset + i * sizeof(*syms)))
			break;
		for (uint64_t j = 0; j < m; j++) {
			const Elf64_Sym *sym = &syms[j];
			if (sym->st_shndx == SHN_UNDEF || !sym->st_value ||
			    sym->st_name >= strsh->sh_size)
				continue;
			const char *name = strtab + sym->st_name;
			for (size_t k = 0; k < n; k++)
				if (!found[k] && strcmp(name, names[k]) == 0) {
					values[k] = sym->st_value;
					found[k] = true;
				}
		}
	}
	free(strtab);
	free(syms);
	return NULL;
}

struct pyag_error *elf_find_symbols(const struct elf_file *f, const char *const *names,
				    size_t n, uint64_t *values, bool *found)
{
	const Elf64_Ehdr *eh = &f->eh;
	for (size_t k = 0; k < n; k++)
		found[k] = false;
	uint64_t nsec = eh->e_shnum;
	if (eh->e_shoff == 0 || nsec == 0 || nsec > MAX_SECTIONS ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !elf_range_ok(eh->e_shoff, nsec * sizeof(Elf64_Shdr), f->size))
		return NULL;
	Elf64_Shdr *sh = malloc(nsec * sizeof(*sh));
	if (!sh)
		return pyag_error_nomem("section headers");
	struct pyag_error *err = NULL;
	if (elf_pread(f, sh, nsec * sizeof(*sh), eh->e_shoff)) {
		/* .dynsym first (always there in a shared object or an
		 * executable that exports the C API), then .symtab */
		static const uint32_t order[] = { SHT_DYNSYM, SHT_SYMTAB };
		for (size_t o = 0; o < 2 && !err; o++)
			for (uint64_t i = 0; i < nsec && !err; i++)
				if (sh[i].sh_type == order[o] && sh[i].sh_link < nsec)
					err = scan_symtab(f, &sh[i], &sh[sh[i].sh_link],
							  names, n, values, found);
	}
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
	/* 3.13 and later start _PyRuntime with their debug offsets (in the
	 * section's initial value); others are found by their symbols */
	char cookie[8] = { 0 };
	bool offsets = info->pyruntime.found &&
		       elf_range_ok(info->pyruntime.offset, 8, f.size) &&
		       elf_pread(&f, cookie, 8, info->pyruntime.offset) &&
		       memcmp(cookie, "xdebugpy", 8) == 0;
	if (!err && !offsets) {
		/* interpreters without debug offsets (3.11, 3.12): the
		 * exported symbols, and the version they export */
		static const char *const names[] = { "_PyRuntime", "Py_Version" };
		uint64_t values[2];
		bool found[2];
		err = elf_find_symbols(&f, names, 2, values, found);
		if (!err && found[0]) {
			info->sym_runtime = values[0];
			info->has_sym_runtime = true;
		}
		if (!err && found[1]) {
			info->sym_version = values[1];
			info->has_sym_version = true;
		}
	}
	elf_close(&f);
	return err;
}
