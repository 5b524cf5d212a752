/*
 * The layout from the interpreter's own _Py_DebugOffsets (at the start of
 * _PyRuntime) and the _asyncio module's Py_AsyncioModuleDebugOffsets, and
 * what every layout source shares: the descriptors generated from the field
 * table (layout_fields.def) and validation.
 *
 * The structs themselves change between minor versions (3.15 inserted
 * fields in the middle), so where each field sits inside _Py_DebugOffsets is
 * data: one column per supported minor version in the table. The values are
 * then validated once: every offset the walker uses must lie inside the
 * size its struct declares.
 */
#include <stdio.h>
#include <string.h>

#include "layout.h"
#include "layout.h"

#define COOKIE "xdebugpy"
#define MAX_DEBUG_OFFSETS 4096u

/* ---- the table -------------------------------------------------------------- */

/* cells */
#define D(pos) { LAYOUT_CELL_DEBUG, (pos), (pos) }
#define A(pos) { LAYOUT_CELL_ASYNCIO, (pos), (pos) }
#define K(v) { LAYOUT_CELL_CONST, (v), (v) }
#define KFT(v, ft) { LAYOUT_CELL_CONST, (v), (ft) }
#define NO { LAYOUT_CELL_ABSENT, 0, 0 }
#define X { LAYOUT_CELL_NOT_IN_VERSION, 0, 0 }
/* DWARF queries */
#define SIZE(t) { LAYOUT_Q_SIZE, LAYOUT_T_##t, NULL, NULL }
#define MEMBER(t, path) { LAYOUT_Q_MEMBER, LAYOUT_T_##t, path, NULL }
#define BITS(t, path, sub) { LAYOUT_Q_BITS, LAYOUT_T_##t, path, sub }
#define ENUM(t, names) { LAYOUT_Q_ENUM, LAYOUT_T_##t, names, NULL }
#define HAS(t, path) { LAYOUT_Q_HAS, LAYOUT_T_##t, path, NULL }
#define NODWARF { LAYOUT_Q_NONE, 0, NULL, NULL }

const struct layout_field layout_fields[LAYOUT_NFIELDS] = {
#define LAYOUT_FIELD(name, ctype, within, width, flags, dwarf, ...)	\
	[LAYOUT_F_##name] = { #name, offsetof(struct pyag_layout, name),	\
			      LAYOUT_##ctype, flags, LAYOUT_F_##within, width,	\
			      dwarf, { __VA_ARGS__ } },
#include "layout_fields.def"
};

/* a row with fewer or more cells than versions */
#define LAYOUT_FIELD(name, ctype, within, width, flags, dwarf, ...)	\
	_Static_assert(sizeof((const struct layout_cell[]){ __VA_ARGS__ }) ==	\
		       LAYOUT_NVERSIONS * sizeof(struct layout_cell),		\
		       "layout_fields.def: " #name ": one cell per version");	\
	_Static_assert(sizeof(((struct pyag_layout *)0)->name) <= 8 &&		\
		       (width) <= 255, #name);
#include "layout_fields.def"

const struct layout_version layout_versions[LAYOUT_NVERSIONS] = {
#define LAYOUT_VERSION(minor, debug_offsets_size, asyncio_debug_size) \
	{ minor, debug_offsets_size, asyncio_debug_size },
#include "layout_fields.def"
};

const struct layout_type layout_types[LAYOUT_NTYPES] = {
#define LAYOUT_TYPE(id, unit_hint, ...) [LAYOUT_T_##id] = { { __VA_ARGS__ }, unit_hint },
#include "layout_fields.def"
};

#undef D
#undef A
#undef K
#undef KFT
#undef NO
#undef X
#undef SIZE
#undef MEMBER
#undef BITS
#undef ENUM
#undef HAS
#undef NODWARF

int64_t layout_field_get(const struct pyag_layout *l, const struct layout_field *f)
{
	const uint8_t *p = (const uint8_t *)l + f->offset;
	switch (f->ctype) {
	case LAYOUT_U64: { uint64_t v; memcpy(&v, p, sizeof(v)); return (int64_t)v; }
	case LAYOUT_INT: { int v; memcpy(&v, p, sizeof(v)); return v; }
	case LAYOUT_UINT: { unsigned v; memcpy(&v, p, sizeof(v)); return v; }
	default: { bool v; memcpy(&v, p, sizeof(v)); return v; }
	}
}

void layout_field_set(struct pyag_layout *l, const struct layout_field *f, int64_t v)
{
	uint8_t *p = (uint8_t *)l + f->offset;
	switch (f->ctype) {
	case LAYOUT_U64: { uint64_t x = (uint64_t)v; memcpy(p, &x, sizeof(x)); break; }
	case LAYOUT_INT: { int x = (int)v; memcpy(p, &x, sizeof(x)); break; }
	case LAYOUT_UINT: { unsigned x = (unsigned)v; memcpy(p, &x, sizeof(x)); break; }
	default: { bool x = v != 0; memcpy(p, &x, sizeof(x)); break; }
	}
}

int layout_version_index(uint64_t v)
{
	if (((v >> 24) & 0xff) != 3)
		return -1;
	unsigned minor = (v >> 16) & 0xff;
	for (int i = 0; i < LAYOUT_NVERSIONS; i++)
		if (layout_versions[i].minor == minor)
			return i;
	return -1;
}

int64_t layout_cell_const(const struct layout_cell *c, bool free_threaded)
{
	return free_threaded ? c->value_ft : c->value;
}

const char *layout_field_struct(const struct layout_field *f)
{
	if (f->within >= LAYOUT_NFIELDS)
		return "?";
	const struct layout_query *q = &layout_fields[f->within].dwarf;
	return layout_types[q->type].names[0];
}

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

uint64_t layout_table_hash(void)
{
	uint64_t h = 0xcbf29ce484222325ull;
	/* the reader that filled a cached layout, and what it found missing */
	h = fnv_str(h, PACKAGE_VERSION);
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		uint8_t k[3] = { f->ctype, f->flags & LF_OPTIONAL, f->dwarf.kind };
		h = fnv_str(h, f->name);
		h = fnv(h, k, sizeof(k));
		if (f->dwarf.kind != LAYOUT_Q_NONE) {
			for (unsigned n = 0; n < LAYOUT_MAX_TYPE_NAMES; n++)
				h = fnv_str(h, layout_types[f->dwarf.type].names[n]);
			h = fnv_str(h, f->dwarf.path);
			h = fnv_str(h, f->dwarf.sub);
			continue;
		}
		/* DWARF takes these constants from the table */
		for (size_t c = 0; c < LAYOUT_NVERSIONS; c++) {
			int64_t v[3] = { layout_versions[c].minor, f->cells[c].value,
					 f->cells[c].value_ft };
			h = fnv(h, v, sizeof(v));
		}
	}
	return h;
}

void layout_version_string(uint64_t v, char *buf, size_t size)
{
	unsigned major = (v >> 24) & 0xff, minor = (v >> 16) & 0xff,
		 micro = (v >> 8) & 0xff, level = (v >> 4) & 0xf,
		 serial = v & 0xf;
	const char *lv = level == 0xa ? "a" : level == 0xb ? "b" :
			 level == 0xc ? "rc" : "";
	if (level == 0xf)
		snprintf(buf, size, "%u.%u.%u", major, minor, micro);
	else
		snprintf(buf, size, "%u.%u.%u%s%u", major, minor, micro, lv, serial);
}

/* "3.14, 3.15" */
static void supported_versions(char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < LAYOUT_NVERSIONS && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s3.%u",
					i ? ", " : "", layout_versions[i].minor);
}

/* The table's column of a version, or the error that says which versions
 * are supported. */
static struct pyag_error *version_column(uint64_t version, int *column)
{
	char vs[32], supported[16 * LAYOUT_NVERSIONS];
	layout_version_string(version, vs, sizeof(vs));
	supported_versions(supported, sizeof(supported));
	unsigned major = (version >> 24) & 0xff, minor = (version >> 16) & 0xff;
	if (major != 3 || minor < layout_versions[0].minor)
		return pyag_error_create(
			PYAG_ERROR_VERSION,
			"Python %s has no asyncio graph support in this version "
			"(supported: %s)", vs, supported);
	*column = layout_version_index(version);
	if (*column < 0)
		return pyag_error_create(
			PYAG_ERROR_VERSION,
			"Python %s is newer than this py-async-graph knows "
			"(supported: %s)", vs, supported);
	return NULL;
}

/* Each field from its cell of this version: the debug offsets (raw),
 * the asyncio debug offsets (araw, NULL when not found) or a constant. */
static void apply_cells(struct pyag_layout *l, int column, const uint8_t *raw,
			size_t raw_size, const uint8_t *araw, size_t araw_size)
{
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		const struct layout_cell *c = &f->cells[column];
		const uint8_t *src = c->kind == LAYOUT_CELL_DEBUG ? raw :
				     c->kind == LAYOUT_CELL_ASYNCIO ? araw : NULL;
		size_t size = c->kind == LAYOUT_CELL_DEBUG ? raw_size : araw_size;
		if (c->kind == LAYOUT_CELL_CONST) {
			layout_field_set(l, f, layout_cell_const(c, l->free_threaded));
		} else if (src && c->value >= 0 && (uint64_t)c->value + 8 <= size) {
			uint64_t v;
			memcpy(&v, src + c->value, sizeof(v));
			layout_field_set(l, f, (int64_t)v);
		}
	}
}

struct pyag_error *layout_from_table(struct pyag_reader *r, uint64_t version_addr,
				     struct pyag_layout *l)
{
	memset(l, 0, sizeof(*l));
	uint64_t version;
	struct pyag_error *err = reader_read_u64(r, version_addr, &version);
	if (err)
		return pyag_error_wrap(err, "Py_Version at 0x%llx",
				       (unsigned long long)version_addr);
	int column;
	if ((err = version_column(version, &column)))
		return err;
	if (layout_versions[column].debug_offsets_size) {
		char vs[32];
		layout_version_string(version, vs, sizeof(vs));
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "Python %s without its debug offsets", vs);
	}
	l->version = version;
	apply_cells(l, column, NULL, 0, NULL, 0);
	l->source = "built-in";
	l->have_asyncio = true;
	return layout_validate(l);
}

struct pyag_error *layout_from_debug_offsets(struct pyag_reader *r,
					     uint64_t runtime_addr,
					     uint64_t asyncio_addr,
					     struct pyag_layout *l)
{
	memset(l, 0, sizeof(*l));
	uint8_t head[24];
	struct pyag_error *err = pyag_reader_read(r, runtime_addr, head, sizeof(head));
	if (err)
		return pyag_error_wrap(err, "_PyRuntime at 0x%llx",
				       (unsigned long long)runtime_addr);
	if (memcmp(head, COOKIE, 8) != 0)
		return pyag_error_create(PYAG_ERROR_NOT_PYTHON,
					 "no debug offsets at 0x%llx (cookie missing)",
					 (unsigned long long)runtime_addr);
	uint64_t version, ft;
	memcpy(&version, head + 8, 8);
	memcpy(&ft, head + 16, 8);
	l->version = version;
	l->free_threaded = ft != 0;
	char vs[32];
	layout_version_string(version, vs, sizeof(vs));
	int column;
	if ((err = version_column(version, &column)))
		return err;
	const struct layout_version *vi = &layout_versions[column];
	uint8_t raw[MAX_DEBUG_OFFSETS], araw[256];
	if (vi->debug_offsets_size > sizeof(raw) || vi->asyncio_debug_size > sizeof(araw))
		return pyag_error_create(PYAG_ERROR_VERSION, "Python %s: debug offsets "
					 "larger than this py-async-graph reads", vs);
	err = pyag_reader_read(r, runtime_addr, raw, vi->debug_offsets_size);
	if (err)
		return pyag_error_wrap(err, "_Py_DebugOffsets");
	/* 3.13 publishes nothing of asyncio: its layout is the table's */
	bool have_asyncio = vi->asyncio_debug_size == 0;
	if (asyncio_addr && vi->asyncio_debug_size) {
		err = pyag_reader_read(r, asyncio_addr, araw, vi->asyncio_debug_size);
		if (err)
			return pyag_error_wrap(err, "asyncio debug offsets");
		have_asyncio = true;
	}
	apply_cells(l, column, raw, vi->debug_offsets_size,
		    have_asyncio ? araw : NULL, vi->asyncio_debug_size);
	l->source = "debug-offsets";
	l->have_asyncio = have_asyncio;
	if (!l->unicode_compact_size)
		/* PyCompactUnicodeObject: PyASCIIObject + utf8_length + utf8 */
		l->unicode_compact_size = l->unicode_ascii_size + 16;
	return layout_validate(l);
}

/* Struct sizes must be plausible: nothing in CPython is near 16 MiB. */
#define MAX_STRUCT (16u << 20)

/* Every offset inside the struct it belongs to, and inside what the walker
 * reads of it when it reads it whole. */
static struct pyag_error *validate_bounds(const struct pyag_layout *l)
{
	int column = layout_version_index(l->version);
	for (int whole = 0; whole < 2; whole++) {
		for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
			const struct layout_field *f = &layout_fields[i];
			if (f->within == LAYOUT_F_NONE)
				continue;
			if ((f->flags & LF_ASYNCIO) && !l->have_asyncio)
				continue;
			uint64_t off = (uint64_t)layout_field_get(l, f);
			if ((f->flags & LF_OPTIONAL) && off == 0)
				continue;
			/* a field this version does not have (3.11-3.13: the
			 * task lists of 3.14), or does not publish and DWARF
			 * did not give */
			if (off == 0 && column >= 0 &&
			    (f->cells[column].kind == LAYOUT_CELL_NOT_IN_VERSION ||
			     f->cells[column].kind == LAYOUT_CELL_ABSENT))
				continue;
			uint64_t size = (uint64_t)layout_field_get(
				l, &layout_fields[f->within]);
			if (!whole && (size == 0 || size > MAX_STRUCT || off > size ||
				       f->width > size - off))
				return pyag_error_create(
					PYAG_ERROR_CORRUPT,
					"invalid debug offsets: %s (offset %llu, %u bytes) "
					"is outside %s (%llu bytes)",
					f->name, (unsigned long long)off, f->width,
					layout_field_struct(f), (unsigned long long)size);
			/* read whole into buffers of LAYOUT_MAX_STRUCT_READ bytes */
			if (whole && (f->flags & LF_WHOLE) &&
			    off + f->width > LAYOUT_MAX_STRUCT_READ)
				return pyag_error_create(
					PYAG_ERROR_CORRUPT,
					"invalid debug offsets: %s (offset %llu) is "
					"beyond the %u bytes read of %s", f->name,
					(unsigned long long)off, LAYOUT_MAX_STRUCT_READ,
					layout_field_struct(f));
		}
	}
	return NULL;
}

/* The constants the walker computes with: shifts inside their words,
 * nothing it divides by is 0, entries it indexes fit. */
static struct pyag_error *validate_constants(const struct pyag_layout *l)
{
	const char *bad = NULL;
	if (l->unicode_kind_shift > 29 || l->unicode_compact_bit > 31 ||
	    l->unicode_ascii_bit > 31)
		bad = "unicode state bits";
	else if ((l->long_digit_size != 2 && l->long_digit_size != 4) ||
		 l->long_digit_shift == 0 ||
		 l->long_digit_shift > 8 * l->long_digit_size ||
		 l->long_ndigits_shift > 32)
		bad = "int digits";
	else if (l->set_entry_size < 16 || l->set_entry_size > 64 ||
		 l->set_entry_key > l->set_entry_size - 8 ||
		 l->set_entry_hash > l->set_entry_size - 8)
		bad = "set entries";
	else if (l->code_unit_size == 0 || l->code_unit_size > 8 ||
		 l->code_array_entries > 64)
		bad = "code units";
	else if (l->yield_from_slot == 0 || l->yield_from_slot > 16)
		bad = "yield_from_slot";
	else if (l->dk_indices < 16 || l->dk_indices > 64 ||
		 l->dk_log2_size >= l->dk_indices || l->dk_log2_index_bytes >= l->dk_indices ||
		 l->dk_kind >= l->dk_indices || l->dk_nentries > l->dk_indices - 8)
		bad = "dict keys header";
	else if (l->dict_uentry_size < 16 || l->dict_uentry_size > 64 ||
		 l->dict_uentry_value > l->dict_uentry_size - 8 ||
		 l->dict_gentry_size < 16 || l->dict_gentry_size > 64 ||
		 l->dict_gentry_key > l->dict_gentry_size - 8 ||
		 l->dict_gentry_value > l->dict_gentry_size - 8 ||
		 l->dictvalues_values > 64 || l->dictvalues_valid > 64 ||
		 l->dictvalues_capacity > 64)
		bad = "dict entries";
	else if (l->managed_dict_offset > -8 || l->managed_dict_offset < -64 ||
		 l->module_dict > 4096 || l->heaptype_cached_keys > 4096)
		bad = "object and module dicts";
	if (bad)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid layout constants: %s", bad);
	return NULL;
}

struct pyag_error *layout_validate(const struct pyag_layout *l)
{
	struct pyag_error *err = validate_bounds(l);
	if (!err)
		err = validate_constants(l);
	if (err)
		return err;
	if (l->gen_iframe + l->frame_size > LAYOUT_MAX_STRUCT_READ)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid debug offsets: generator frame "
					 "beyond the bytes read");
	/* (before 3.14 the generator's frame is a variable-size tail) */
	if (l->llist_next > 8 || l->llist_prev > 8 || l->gen_size < l->gen_iframe + 8)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid debug offsets: linked-list node or "
					 "generator frame out of bounds");
	if (l->have_asyncio && l->athread_size && l->athread_size < l->tstate_size)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid asyncio debug offsets: thread state "
					 "smaller than PyThreadState");
	return NULL;
}
