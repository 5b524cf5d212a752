/* ELF files on disk: headers, program headers, sections. */
#ifndef PYAG_ELFFILE_H
#define PYAG_ELFFILE_H

#include "reader.h"

#include <elf.h>

/* ---- ELF files on disk (elf.c) ----------------------------------------- */

struct elf_section_info {
	uint64_t addr;
	uint64_t size;
	uint64_t offset;
	bool found;
};

struct elf_info {
	uint16_t type;          /* ET_EXEC, ET_DYN, ET_CORE */
	uint64_t first_load_vaddr; /* p_vaddr - p_offset of the lowest PT_LOAD */
	bool has_load;
	struct elf_section_info pyruntime;
	struct elf_section_info asynciodebug;
	/* without a .PyRuntime section: the symbols _PyRuntime and
	 * Py_Version (3.11+), link-time addresses */
	uint64_t sym_runtime, sym_version;
	bool has_sym_runtime, has_sym_version;
};

/* An open ELF64 little-endian file (elf_open checks the header). Reads
 * are reported to trace's read trace as trace_name. */
struct elf_file {
	int fd;
	uint64_t size;
	Elf64_Ehdr eh;
	const char *path;
	const struct pyag_reader *trace;
	const char *trace_name;
};
struct pyag_error *elf_open(const char *path, struct elf_file *f,
			    const struct pyag_reader *trace,
			    const char *trace_name) HIDDEN;
void elf_close(struct elf_file *f) HIDDEN;
bool elf_pread(const struct elf_file *f, void *buf, size_t size, uint64_t off) HIDDEN;
bool elf_range_ok(uint64_t off, uint64_t size, uint64_t fsize) HIDDEN;
/* The program headers (malloc'd), or NULL when absent or out of bounds,
 * or when memory ran out (*nomem set). */
Elf64_Phdr *elf_program_headers(const struct elf_file *f, size_t *n_ret,
				bool *nomem) HIDDEN;
/* Call fn for every section with its name ("" when out of bounds); an
 * error when the section table itself is bad. */
typedef void elf_section_fn(void *arg, const struct elf_file *f,
			    const char *name, const Elf64_Shdr *sh);
struct pyag_error *elf_for_each_section(const struct elf_file *f,
					elf_section_fn *fn, void *arg) HIDDEN;

/* The values of the defined symbols names[] (.dynsym, then .symtab);
 * found[k] false for those not there. Bounded; a table that is out of
 * bounds is skipped. */
struct pyag_error *elf_find_symbols(const struct elf_file *f, const char *const *names,
				    size_t n, uint64_t *values, bool *found) HIDDEN;

/* Read the ELF header, program and section headers of a file. */
/* trace/trace_name: report the reads to trace's read trace, as trace_name */
struct pyag_error *elf_read_info(const char *path, struct elf_info *ret,
				 const struct pyag_reader *trace,
				 const char *trace_name) HIDDEN;

#endif /* PYAG_ELFFILE_H */
