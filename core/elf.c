/*
 * Just enough ELF to find the interpreter in a mapped file: the lowest
 * PT_LOAD (for the load bias) and the .PyRuntime / .AsyncioDebug sections.
 * The file is untrusted: every table is bounds-checked against its size.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_PHDRS 4096u
#define MAX_SHSTRTAB (1u << 20)

/* the file being read, for the read trace */
struct elf_src {
	int fd;
	const char *path;
	const struct pyag_reader *trace;
};

static bool pread_all(const struct elf_src *src, void *buf, size_t size, uint64_t off)
{
	int fd = src->fd;
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, (char *)buf + done, size - done,
				  (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	if (src->trace && src->trace->trace)
		src->trace->trace(src->trace->trace_arg, src->path, off, size, 1);
	return true;
}

static struct pyag_error *read_sections(const struct elf_src *src, const char *path,
					const Elf64_Ehdr *eh, uint64_t fsize,
					struct elf_info *info)
{
	if (eh->e_shoff == 0 || eh->e_shnum == 0)
		return NULL;  /* no section headers: not an error */
	if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shstrndx >= eh->e_shnum ||
	    eh->e_shoff > fsize ||
	    (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > fsize - eh->e_shoff)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: bad section header table", path);
	size_t n = eh->e_shnum;
	Elf64_Shdr *sh = malloc(n * sizeof(*sh));
	if (!sh)
		return &pyag_enomem;
	struct pyag_error *err = NULL;
	char *names = NULL;
	if (!pread_all(src, sh, n * sizeof(*sh), eh->e_shoff)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: cannot read section headers", path);
		goto out;
	}
	const Elf64_Shdr *strsh = &sh[eh->e_shstrndx];
	if (strsh->sh_size == 0 || strsh->sh_size > MAX_SHSTRTAB ||
	    strsh->sh_offset > fsize || strsh->sh_size > fsize - strsh->sh_offset) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: bad section name table", path);
		goto out;
	}
	names = malloc(strsh->sh_size + 1);
	if (!names) {
		err = &pyag_enomem;
		goto out;
	}
	if (!pread_all(src, names, strsh->sh_size, strsh->sh_offset)) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: cannot read section names", path);
		goto out;
	}
	names[strsh->sh_size] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (sh[i].sh_name >= strsh->sh_size)
			continue;
		const char *name = names + sh[i].sh_name;
		struct elf_section_info *dst = NULL;
		if (strcmp(name, ".PyRuntime") == 0)
			dst = &info->pyruntime;
		else if (strcmp(name, ".AsyncioDebug") == 0)
			dst = &info->asynciodebug;
		if (dst && sh[i].sh_type != SHT_NOBITS && sh[i].sh_addr) {
			dst->addr = sh[i].sh_addr;
			dst->size = sh[i].sh_size;
			dst->offset = sh[i].sh_offset;
			dst->found = true;
		}
	}
out:
	free(names);
	free(sh);
	return err;
}

struct pyag_error *elf_read_info(const char *path, struct elf_info *info,
				 const struct pyag_reader *trace, const char *trace_name)
{
	memset(info, 0, sizeof(*info));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pyag_error_errno(errno, "%s", path);
	struct elf_src src = { fd, trace_name ? trace_name : path, trace };
	struct pyag_error *err = NULL;
	struct stat st;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph = NULL;
	if (fstat(fd, &st) != 0) {
		err = pyag_error_errno(errno, "%s", path);
		goto out;
	}
	uint64_t fsize = (uint64_t)st.st_size;
	if (!pread_all(&src, &eh, sizeof(eh), 0) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: not an ELF file", path);
		goto out;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					"%s: not a 64-bit little-endian ELF file", path);
		goto out;
	}
	info->type = eh.e_type;
	if (eh.e_phnum && eh.e_phentsize == sizeof(Elf64_Phdr) &&
	    eh.e_phnum <= MAX_PHDRS && eh.e_phoff <= fsize &&
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) <= fsize - eh.e_phoff) {
		ph = malloc(eh.e_phnum * sizeof(*ph));
		if (!ph) {
			err = &pyag_enomem;
			goto out;
		}
		if (pread_all(&src, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff)) {
			for (unsigned i = 0; i < eh.e_phnum; i++) {
				if (ph[i].p_type != PT_LOAD)
					continue;
				uint64_t base = ph[i].p_vaddr - ph[i].p_offset;
				if (!info->has_load || base < info->first_load_vaddr) {
					info->first_load_vaddr = base;
					info->has_load = true;
				}
			}
		}
	}
	err = read_sections(&src, path, &eh, fsize, info);
out:
	free(ph);
	close(fd);
	return err;
}
