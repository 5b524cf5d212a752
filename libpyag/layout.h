/*
 * The layout: every size, offset and constant the walker uses, named once
 * in layout_fields.def. This header turns that table into struct
 * pyag_layout and into descriptors (struct layout_field) that every user
 * of the fields iterates: the debug-offsets reader and validation
 * (layout.c), the DWARF reader (layout_dwarf.c), the cache and the
 * comparison (layout_cache.c), the layout choice (layout_select.c) and the
 * tests' synthetic interpreter. Not installed.
 */
#ifndef PYAG_LAYOUT_H
#define PYAG_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

#ifndef HIDDEN
#define HIDDEN __attribute__((visibility("hidden")))
#endif

/* The C type of each ctype of the table. */
#define LAYOUT_CTYPE_U64 uint64_t
#define LAYOUT_CTYPE_INT int
#define LAYOUT_CTYPE_UINT unsigned
#define LAYOUT_CTYPE_BOOL bool

enum layout_ctype { LAYOUT_U64, LAYOUT_INT, LAYOUT_UINT, LAYOUT_BOOL };

/* Row flags (see layout_fields.def). */
enum {
	LF_ASYNCIO = 1u,
	LF_OPTIONAL = 2u,
	LF_WHOLE = 4u,
};

enum layout_type_id {
#define LAYOUT_TYPE(id, unit_hint, ...) LAYOUT_T_##id,
#include "layout_fields.def"
	LAYOUT_NTYPES
};

enum layout_field_id {
#define LAYOUT_FIELD(name, ...) LAYOUT_F_##name,
#include "layout_fields.def"
	LAYOUT_NFIELDS,
	LAYOUT_F_NONE = LAYOUT_NFIELDS   /* "within": no struct */
};

enum {
	LAYOUT_NVERSIONS = 0
#define LAYOUT_VERSION(minor, debug_offsets_size, asyncio_debug_size) + 1
#include "layout_fields.def"
};

/* Every offset the walker uses; filled from a layout source and validated. */
struct pyag_layout {
	uint64_t version;       /* PY_VERSION_HEX */
	const char *source;     /* "debug-offsets", "dwarf", ... (static) */
	bool have_asyncio;      /* every LF_ASYNCIO field is there */
#define LAYOUT_FIELD(name, ctype, ...) LAYOUT_CTYPE_##ctype name;
#include "layout_fields.def"
};

/* Where a version finds a field's value. */
enum layout_cell_kind {
	LAYOUT_CELL_MISSING = 0,    /* a row without this column (a bug) */
	LAYOUT_CELL_ABSENT,         /* not published: 0, derived, or DWARF's */
	LAYOUT_CELL_DEBUG,          /* uint64 at pos in _Py_DebugOffsets */
	LAYOUT_CELL_ASYNCIO,        /* uint64 at pos in _AsyncioDebug */
	LAYOUT_CELL_CONST,          /* value (value_ft when free threaded) */
	LAYOUT_CELL_NOT_IN_VERSION, /* the interpreter has no such member: 0 */
};

struct layout_cell {
	uint8_t kind;
	int64_t value;          /* position, or the constant */
	int64_t value_ft;
};

/* How DWARF tells a field's value. */
enum layout_query_kind {
	LAYOUT_Q_NONE = 0,      /* not in DWARF: the version's constant */
	LAYOUT_Q_SIZE,          /* sizeof(type) */
	LAYOUT_Q_MEMBER,        /* byte offset of path ('|': alternatives) */
	LAYOUT_Q_BITS,          /* bit of path.sub relative to path */
	LAYOUT_Q_ENUM,          /* enumerator value ('|': alternatives) */
	LAYOUT_Q_HAS,           /* 1 when member path exists, else 0 */
};

struct layout_query {
	uint8_t kind;
	uint8_t type;           /* enum layout_type_id */
	const char *path;
	const char *sub;
};

struct layout_field {
	const char *name;
	uint16_t offset;        /* offsetof(struct pyag_layout, name) */
	uint8_t ctype;          /* enum layout_ctype */
	uint8_t flags;          /* LF_* */
	uint16_t within;        /* enum layout_field_id of the struct's size */
	uint8_t width;          /* bytes read at the offset */
	struct layout_query dwarf;
	struct layout_cell cells[LAYOUT_NVERSIONS];
};

struct layout_version {
	unsigned minor;         /* 3.minor */
	uint16_t debug_offsets_size;    /* sizeof(_Py_DebugOffsets) */
	uint16_t asyncio_debug_size;    /* sizeof(_AsyncioDebug) */
};

#define LAYOUT_MAX_TYPE_NAMES 4u

struct layout_type {
	const char *names[LAYOUT_MAX_TYPE_NAMES];  /* names[0] in messages */
	const char *unit_hint;
};

extern const struct layout_field layout_fields[LAYOUT_NFIELDS] HIDDEN;
extern const struct layout_version layout_versions[LAYOUT_NVERSIONS] HIDDEN;
extern const struct layout_type layout_types[LAYOUT_NTYPES] HIDDEN;

/* A field's value widened to int64 (uint64 values keep their bit pattern). */
int64_t layout_field_get(const struct pyag_layout *l,
			 const struct layout_field *f) HIDDEN;
void layout_field_set(struct pyag_layout *l, const struct layout_field *f,
		      int64_t v) HIDDEN;
/* The column of a PY_VERSION_HEX, -1 when the table has none. */
int layout_version_index(uint64_t hexversion) HIDDEN;
/* The constant of a LAYOUT_CELL_CONST cell. */
int64_t layout_cell_const(const struct layout_cell *c, bool free_threaded) HIDDEN;
/* The name of the struct a field lies in, for messages ("?" if none). */
const char *layout_field_struct(const struct layout_field *f) HIDDEN;
/* A hash of what the table says about how fields are found: names, types,
 * DWARF queries and constants. Cached layouts carry it. */
uint64_t layout_table_hash(void) HIDDEN;

/* ---- sources (layout.c, layout_dwarf.c) ------------------------------------ */

/* The built-in layout of an interpreter without debug offsets (3.11,
 * 3.12), by its Py_Version. */
struct pyag_error *layout_from_table(struct pyag_reader *r, uint64_t version_addr,
				     struct pyag_layout *l) HIDDEN;
struct pyag_error *layout_from_debug_offsets(struct pyag_reader *r,
					     uint64_t runtime_addr,
					     uint64_t asyncio_addr,
					     struct pyag_layout *ret) HIDDEN;
/* The walker reads some structs whole, at most this many bytes of each. */
#define LAYOUT_MAX_STRUCT_READ 4096u
struct pyag_error *layout_validate(const struct pyag_layout *l) HIDDEN;
/* Decode the python version for messages: "3.14.10". */
void layout_version_string(uint64_t hexversion, char *buf, size_t size) HIDDEN;

/*
 * Fill *ret from the DWARF of debug_files (the interpreter's and the
 * _asyncio module's debug files, in any order). ret->version is kept (DWARF
 * has no PY_VERSION_HEX); ret->source becomes "dwarf". Fields that could not
 * be found are listed in *missing_ret ("PyThreadState.thread_id, TaskObj"),
 * malloc'd, NULL when none: not an error, the caller decides what it needs.
 * have_asyncio is set when every asyncio field was found.
 */
struct pyag_error *layout_from_dwarf(const char *const *debug_files, size_t n,
				     struct pyag_layout *ret,
				     char **missing_ret) HIDDEN;

/* Report each field both layouts provide and that differs, as
 * "layout drift: FIELD: debug offsets N, DWARF M" (a is the debug offsets'
 * layout, b DWARF's). Skipped: the LF_ASYNCIO fields unless both have
 * them; LF_OPTIONAL fields when 0 on either side (0: the build has none);
 * fields a's version does not publish when a has 0 for them. */
void layout_compare(const struct pyag_layout *a, const struct pyag_layout *b,
		    void (*warn)(void *arg, const char *msg), void *arg) HIDDEN;

/* ---- debug files (debuginfo.c) ----------------------------------------------- */

/* The file holding the DWARF of elf_path: itself, by build-id under each
 * debug dir (default /usr/lib/debug), or by .gnu_debuglink; debug dirs
 * and the file's own directory are taken under sysroot when given.
 * *ret (malloc'd) is NULL when there is none, which is not an error. */
struct pyag_error *debuginfo_find(const char *elf_path, const char *sysroot,
				  const char *const *debug_dirs, size_t ndirs,
				  char **ret) HIDDEN;
/* The NT_GNU_BUILD_ID bytes of an ELF file; *len_ret 0 when it has none. */
struct pyag_error *debuginfo_build_id(const char *path, uint8_t *buf,
				      size_t size, size_t *len_ret) HIDDEN;
/* A layout cache key for files (the executable, the _asyncio module): their
 * build-ids in hex joined by '+'; *ret NULL when one of them has none. */
struct pyag_error *debuginfo_cache_key(const char *const *elf_paths, size_t n,
				       char **ret) HIDDEN;

/* ---- the layout cache (layout_cache.c) ------------------------------------- */

/* A cache of layouts on disk keyed by build-ids (key: [0-9A-Za-z._+-],
 * e.g. "EXE_BUILD_ID+ASYNCIO_BUILD_ID"), in dir (NULL: no cache: load
 * misses, store does nothing). An entry holds
 * every field by name, the fields its source could not find (missing, NULL:
 * none) and the hash of the table it was written with. load: true when a
 * complete, valid entry of this table was read into *ret, *missing_ret
 * (malloc'd, NULL: none); a missing, corrupt or older entry is a miss.
 * store: atomic (rename); only for layouts the caller accepted. */
bool layout_cache_load(const char *dir, const char *key, struct pyag_layout *ret,
		       char **missing_ret) HIDDEN;
struct pyag_error *layout_cache_store(const char *dir, const char *key,
				      const struct pyag_layout *l,
				      const char *missing) HIDDEN;

#endif /* PYAG_LAYOUT_H */
