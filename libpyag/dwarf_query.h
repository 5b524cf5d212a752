/*
 * DWARF queries by type name (dwarf_query.c): the generic engine under the
 * DWARF layout. Knows C types, nothing of CPython. Not installed.
 *
 * Type names are "struct s", "union u", "enum e" or a typedef name; member
 * paths "a.b.c" may cross anonymous structs and unions. Lookups answer
 * three ways, like libdwarf: an error (the file is bad), or found / not
 * found.
 */
#ifndef PYAG_DWARF_QUERY_H
#define PYAG_DWARF_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

#ifndef HIDDEN
#define HIDDEN __attribute__((visibility("hidden")))
#endif

/* ---- one query on one file (opens it each time: for tests and tools) ---- */

/* PYAG_ERROR_NOT_FOUND when the type or member is absent. */
struct pyag_error *dwarf_struct_size(const char *path, const char *type_name,
				     uint64_t *ret) HIDDEN;
struct pyag_error *dwarf_struct_member_offset(const char *path,
					      const char *type_name,
					      const char *member,
					      uint64_t *ret) HIDDEN;
/* Bits from the start of the struct; bit size 0 when not a bit-field. */
struct pyag_error *dwarf_member_bit_offset(const char *path,
					   const char *type_name,
					   const char *member,
					   uint64_t *bit_offset_ret,
					   uint64_t *bit_size_ret) HIDDEN;
struct pyag_error *dwarf_enumerator_value(const char *path,
					  const char *type_name,
					  const char *enumerator,
					  int64_t *ret) HIDDEN;

/* ---- many types in several files, scanned once ------------------------ */

#define DWQ_MAX_NAMES 4u        /* alternative names of one type */
#define DWQ_MAX_FILES 64u

struct dwq_files;               /* open debug files */
struct dwq_file;

/* A type looked for under any of its names. The caller fills names and
 * unit_hint (zeroing the rest); dwq_find_types the rest. */
struct dwq_type {
	const char *names[DWQ_MAX_NAMES];
	/* the source file that defines the type, when it is not in a header:
	 * units of other files are skipped once every type without a hint
	 * is found (a hint that turns out wrong costs a second pass) */
	const char *unit_hint;
	/* "struct X" learnt from a typedef whose target is only declared in
	 * the unit that defines the typedef */
	char alias[128];
	bool found;
	struct dwq_file *file;
	uint64_t off;           /* the defining struct/union/enum DIE */
	uint16_t tag;
};

/* Open debug files (an error if one cannot be read as DWARF). */
struct pyag_error *dwq_open(const char *const *paths, size_t n,
			    struct dwq_files **ret) HIDDEN;
void dwq_close(struct dwq_files *fs) HIDDEN;
/* Find the types (smallest file first); absent types stay !found. */
struct pyag_error *dwq_find_types(struct dwq_files *fs, struct dwq_type *types,
				  size_t ntypes) HIDDEN;
/* On a found type; *found false when the type has no such thing (or is not
 * a struct/union for members, an enum for enumerators). */
struct pyag_error *dwq_size(const struct dwq_type *t, uint64_t *ret,
			    bool *found) HIDDEN;
struct pyag_error *dwq_member(const struct dwq_type *t, const char *path,
			      uint64_t *bit_offset_ret, uint64_t *bit_size_ret,
			      bool *found) HIDDEN;
struct pyag_error *dwq_enumerator(const struct dwq_type *t, const char *name,
				  int64_t *ret, bool *found) HIDDEN;

#endif /* PYAG_DWARF_QUERY_H */
