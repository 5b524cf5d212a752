/*
 * A small DWARF query engine over libdwarf: struct sizes, member offsets
 * (paths through nested and anonymous members), bit-field positions and
 * enumerator values, by type name. Every libdwarf call of libpyag is in
 * this file; what CPython's types are called and which of their members
 * the walker needs is layout_dwarf.c's business.
 *
 * Types are found by name among the top-level DIEs of each compilation unit
 * (C has one tag namespace, so GCC and clang put every struct, union, enum
 * and typedef there); only the members of the types asked for are read, and
 * the scan stops as soon as every type is found. Files are scanned smallest
 * first: the _asyncio module's few compilation units usually define most of
 * the types and spare a pass over the interpreter's.
 *
 * DWARF files are untrusted input: lookups are bounded in depth and width,
 * offsets are checked for overflow, and an unexpected form is "absent" or an
 * error, never a crash. libdwarf's three-way results stay three-way here:
 * an error, or found / not found.
 *
 * Builds with libdwarf 20210528 (12-argument dwarf_init_path) and with the
 * 0.x series (8 arguments, DW_LIBDWARF_VERSION_MAJOR defined).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dwarf_query.h"

#ifdef HAVE_LIBDWARF

#if defined(HAVE_LIBDWARF_LIBDWARF_H)
#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>
#else
#include <dwarf.h>
#include <libdwarf.h>
#endif

#ifndef DW_TAG_atomic_type
#define DW_TAG_atomic_type 0x47
#endif
#ifndef DW_TAG_immutable_type
#define DW_TAG_immutable_type 0x4b
#endif
#ifndef DW_FORM_implicit_const
#define DW_FORM_implicit_const 0x21
#endif
#ifndef DW_AT_data_bit_offset
#define DW_AT_data_bit_offset 0x6b
#endif

#define MAX_TOP_DIES (1u << 22)   /* top-level DIEs of one unit */
#define MAX_UNITS (1u << 20)      /* compilation units of one file */
#define MAX_MEMBERS 65536u        /* children of one struct or enum */
#define MAX_MEMBER_VISITS 262144u /* DIEs one member lookup may visit */
#define MAX_ANON_DEPTH 8u         /* anonymous members inside each other */
#define MAX_TYPE_CHAIN 16u        /* typedef/const/volatile links */
#define MAX_PATH_PARTS 16u        /* "a.b.c" */

struct dwq_file {
	Dwarf_Debug dbg;
	const char *path;
	uint64_t size;          /* of the file, to order the scan */
};

struct dwq_files {
	struct dwq_file *f;
	size_t n;
};

/* ---- errors and small libdwarf helpers --------------------------------- */

static struct pyag_error *dw_error(const struct dwq_file *f, Dwarf_Error e,
				   const char *what)
{
	struct pyag_error *err = pyag_error_create(
		PYAG_ERROR_BAD_FORMAT, "%s: DWARF: %s: %s", f->path, what,
		e ? dwarf_errmsg(e) : "unknown error");
	if (e)
		dwarf_dealloc(f->dbg, e, DW_DLA_ERROR);
	return err;
}

static struct pyag_error *dw_open(struct dwq_file *f, const char *path)
{
	Dwarf_Error e = NULL;
	struct stat st;
	f->path = path;
	f->dbg = NULL;
	if (stat(path, &st) != 0)
		return pyag_error_errno(errno, "%s", path);
	f->size = (uint64_t)st.st_size;
#ifdef DW_LIBDWARF_VERSION_MAJOR
	int res = dwarf_init_path(path, NULL, 0, DW_GROUPNUMBER_ANY, NULL, NULL,
				  &f->dbg, &e);
#else
	int res = dwarf_init_path(path, NULL, 0, DW_DLC_READ, DW_GROUPNUMBER_ANY,
				  NULL, NULL, &f->dbg, NULL, 0, NULL, &e);
#endif
	if (res == DW_DLV_NO_ENTRY) {
		f->dbg = NULL;
		return pyag_error_create(PYAG_ERROR_NOT_FOUND,
					 "%s: no DWARF debug information", path);
	}
	if (res != DW_DLV_OK) {
		struct pyag_error *err = pyag_error_create(
			PYAG_ERROR_BAD_FORMAT, "%s: cannot read DWARF: %s", path,
			e ? dwarf_errmsg(e) : "unknown error");
		/* an init error has no Dwarf_Debug to belong to */
		if (e)
			dwarf_dealloc(NULL, e, DW_DLA_ERROR);
		f->dbg = NULL;
		return err;
	}
	return NULL;
}

static void dw_close(struct dwq_file *f)
{
	if (!f->dbg)
		return;
#ifdef DW_LIBDWARF_VERSION_MAJOR
	dwarf_finish(f->dbg);
#else
	Dwarf_Error e = NULL;
	dwarf_finish(f->dbg, &e);
#endif
	f->dbg = NULL;
}

static void dw_free_die(const struct dwq_file *f, Dwarf_Die die)
{
	if (die)
		dwarf_dealloc(f->dbg, die, DW_DLA_DIE);
}

static struct pyag_error *dw_tag(const struct dwq_file *f, Dwarf_Die die,
				 Dwarf_Half *ret)
{
	Dwarf_Error e = NULL;
	if (dwarf_tag(die, ret, &e) != DW_DLV_OK)
		return dw_error(f, e, "reading a tag");
	return NULL;
}

/* The DIE's name, or NULL when it has none. */
static struct pyag_error *dw_name(const struct dwq_file *f, Dwarf_Die die,
				  const char **ret)
{
	Dwarf_Error e = NULL;
	char *name = NULL;
	int res = dwarf_diename(die, &name, &e);
	*ret = NULL;
	if (res == DW_DLV_ERROR)
		return dw_error(f, e, "reading a name");
	if (res == DW_DLV_OK)
		*ret = name;
	return NULL;
}

static struct pyag_error *dw_offdie(const struct dwq_file *f, Dwarf_Off off,
				    Dwarf_Die *ret)
{
	Dwarf_Error e = NULL;
	*ret = NULL;
	int res = dwarf_offdie_b(f->dbg, off, 1, ret, &e);
	if (res == DW_DLV_ERROR)
		return dw_error(f, e, "following a reference");
	if (res != DW_DLV_OK)
		return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: DWARF: no DIE at offset 0x%llx",
					 f->path, (unsigned long long)off);
	return NULL;
}

static struct pyag_error *dw_dieoffset(const struct dwq_file *f, Dwarf_Die die,
				       Dwarf_Off *ret)
{
	Dwarf_Error e = NULL;
	if (dwarf_dieoffset(die, ret, &e) != DW_DLV_OK)
		return dw_error(f, e, "reading a DIE offset");
	return NULL;
}

/*
 * The next sibling of die (dwarf_siblingof_b), which must lie after it in
 * the section: a corrupt sibling link pointing back would loop. On such a
 * link *err says so and DW_DLV_NO_ENTRY ends the iteration.
 */
static int dw_sibling(const struct dwq_file *f, Dwarf_Die die, Dwarf_Die *sib,
		      Dwarf_Error *e, struct pyag_error **err)
{
	int res = dwarf_siblingof_b(f->dbg, die, 1, sib, e);
	if (res != DW_DLV_OK)
		return res;
	Dwarf_Off at, next;
	*err = dw_dieoffset(f, die, &at);
	if (!*err)
		*err = dw_dieoffset(f, *sib, &next);
	if (!*err && next <= at)
		*err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
					 "%s: DWARF: the sibling of the DIE at 0x%llx "
					 "is not after it", f->path, (unsigned long long)at);
	if (!*err)
		return DW_DLV_OK;
	dw_free_die(f, *sib);
	*sib = NULL;
	return DW_DLV_NO_ENTRY;
}

/* An attribute, or *ret NULL when the DIE does not have it. */
static struct pyag_error *dw_attr(const struct dwq_file *f, Dwarf_Die die,
				  Dwarf_Half at, Dwarf_Attribute *ret)
{
	Dwarf_Error e = NULL;
	*ret = NULL;
	int res = dwarf_attr(die, at, ret, &e);
	if (res == DW_DLV_ERROR)
		return dw_error(f, e, "reading an attribute");
	if (res != DW_DLV_OK)
		*ret = NULL;
	return NULL;
}

static void dw_free_attr(const struct dwq_file *f, Dwarf_Attribute a)
{
	if (a)
		dwarf_dealloc(f->dbg, a, DW_DLA_ATTR);
}

/* A constant attribute as a signed value. sdata and implicit_const are
 * signed; the fixed-size data forms are zero-extended, as gdb reads them
 * (GCC puts negative values in sdata and the others, even of a signed
 * type, in dataN). */
static struct pyag_error *dw_attr_const(const struct dwq_file *f,
					Dwarf_Attribute a, int64_t *ret,
					bool *ok)
{
	Dwarf_Error e = NULL;
	Dwarf_Half form = 0;
	*ok = false;
	if (dwarf_whatform(a, &form, &e) != DW_DLV_OK)
		return dw_error(f, e, "reading an attribute form");
	bool sign;
	switch (form) {
	case DW_FORM_sdata:
	case DW_FORM_implicit_const:
		sign = true;
		break;
	case DW_FORM_data1:
	case DW_FORM_data2:
	case DW_FORM_data4:
	case DW_FORM_data8:
	case DW_FORM_udata:
		sign = false;
		break;
	default:
		return NULL;   /* not a constant */
	}
	if (sign) {
		Dwarf_Signed v;
		if (dwarf_formsdata(a, &v, &e) != DW_DLV_OK)
			return dw_error(f, e, "reading a constant");
		*ret = (int64_t)v;
	} else {
		Dwarf_Unsigned v;
		if (dwarf_formudata(a, &v, &e) != DW_DLV_OK)
			return dw_error(f, e, "reading a constant");
		if (v > (Dwarf_Unsigned)INT64_MAX)
			return NULL;
		*ret = (int64_t)v;
	}
	*ok = true;
	return NULL;
}

/* An unsigned constant attribute of a DIE; *present false when absent or
 * not a non-negative constant. */
static struct pyag_error *dw_udata(const struct dwq_file *f, Dwarf_Die die,
				   Dwarf_Half at, uint64_t *ret, bool *present)
{
	Dwarf_Attribute a;
	*present = false;
	struct pyag_error *err = dw_attr(f, die, at, &a);
	if (err || !a)
		return err;
	int64_t v;
	bool ok;
	err = dw_attr_const(f, a, &v, &ok);
	dw_free_attr(f, a);
	if (!err && ok && v >= 0) {
		*ret = (uint64_t)v;
		*present = true;
	}
	return err;
}

static struct pyag_error *dw_flag(const struct dwq_file *f, Dwarf_Die die,
				  Dwarf_Half at, bool *ret)
{
	Dwarf_Attribute a;
	*ret = false;
	struct pyag_error *err = dw_attr(f, die, at, &a);
	if (err || !a)
		return err;
	Dwarf_Error e = NULL;
	Dwarf_Bool b = 0;
	if (dwarf_formflag(a, &b, &e) != DW_DLV_OK)
		err = dw_error(f, e, "reading a flag");
	dw_free_attr(f, a);
	*ret = b != 0;
	return err;
}

/* The DIE referred to by attribute `at`: *present false when absent. */
static struct pyag_error *dw_ref(const struct dwq_file *f, Dwarf_Die die,
				 Dwarf_Half at, Dwarf_Off *ret, bool *present)
{
	Dwarf_Attribute a;
	*present = false;
	struct pyag_error *err = dw_attr(f, die, at, &a);
	if (err || !a)
		return err;
	Dwarf_Error e = NULL;
	int res = dwarf_global_formref(a, ret, &e);
	if (res == DW_DLV_ERROR)
		err = dw_error(f, e, "reading a type reference");
	else if (res == DW_DLV_OK)
		*present = true;
	dw_free_attr(f, a);
	return err;
}

/* ---- types -------------------------------------------------------------- */

static bool is_type_link(Dwarf_Half tag)
{
	return tag == DW_TAG_typedef || tag == DW_TAG_const_type ||
	       tag == DW_TAG_volatile_type || tag == DW_TAG_restrict_type ||
	       tag == DW_TAG_atomic_type || tag == DW_TAG_immutable_type;
}

/*
 * Follow DW_AT_type of die through typedefs and qualifiers to the type
 * itself: *off_ret is its DIE, *tag_ret its tag; *found false when there is
 * no type (void) or the chain is too long.
 */
static struct pyag_error *resolve_type(const struct dwq_file *f, Dwarf_Die die,
				       Dwarf_Off *off_ret, Dwarf_Half *tag_ret,
				       bool *found)
{
	Dwarf_Off off;
	bool present;
	*found = false;
	struct pyag_error *err = dw_ref(f, die, DW_AT_type, &off, &present);
	if (err || !present)
		return err;
	for (unsigned i = 0; i < MAX_TYPE_CHAIN; i++) {
		Dwarf_Die t;
		Dwarf_Half tag;
		err = dw_offdie(f, off, &t);
		if (err)
			return err;
		err = dw_tag(f, t, &tag);
		if (err) {
			dw_free_die(f, t);
			return err;
		}
		if (!is_type_link(tag)) {
			dw_free_die(f, t);
			*off_ret = off;
			*tag_ret = tag;
			*found = true;
			return NULL;
		}
		Dwarf_Off next;
		err = dw_ref(f, t, DW_AT_type, &next, &present);
		dw_free_die(f, t);
		if (err || !present)
			return err;
		off = next;
	}
	return NULL;
}

static const char *tag_prefix(Dwarf_Half tag)
{
	switch (tag) {
	case DW_TAG_structure_type: return "struct ";
	case DW_TAG_union_type: return "union ";
	case DW_TAG_enumeration_type: return "enum ";
	case DW_TAG_typedef: return "";
	default: return NULL;
	}
}

static bool name_is(const char *want, const char *prefix, const char *name)
{
	size_t n = strlen(prefix);
	return strncmp(want, prefix, n) == 0 && strcmp(want + n, name) == 0;
}

static bool type_matches(const struct dwq_type *t, const char *prefix,
			 const char *name)
{
	for (unsigned i = 0; i < DWQ_MAX_NAMES && t->names[i]; i++)
		if (name_is(t->names[i], prefix, name))
			return true;
	return t->alias[0] && name_is(t->alias, prefix, name);
}

static bool is_aggregate_or_enum(Dwarf_Half tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_enumeration_type;
}

/* A top-level DIE named `name` matched t: record its definition. */
static struct pyag_error *take_type(struct dwq_file *f, Dwarf_Die die,
				    Dwarf_Half tag, struct dwq_type *t,
				    size_t *nfound)
{
	struct pyag_error *err;
	Dwarf_Off off;
	bool decl;
	if (tag != DW_TAG_typedef) {
		err = dw_flag(f, die, DW_AT_declaration, &decl);
		if (err || decl)
			return err;
		err = dw_dieoffset(f, die, &off);
		if (err)
			return err;
	} else {
		bool found;
		err = resolve_type(f, die, &off, &tag, &found);
		if (err || !found || !is_aggregate_or_enum(tag))
			return err;
		Dwarf_Die target;
		err = dw_offdie(f, off, &target);
		if (err)
			return err;
		err = dw_flag(f, target, DW_AT_declaration, &decl);
		if (!err && decl) {
			/* Defined in another unit: look for it by its tag. */
			const char *tname;
			err = dw_name(f, target, &tname);
			if (!err && tname && !t->alias[0] &&
			    strlen(tname) + 8 < sizeof(t->alias)) {
				strcpy(t->alias, tag_prefix(tag));
				strcat(t->alias, tname);
			}
		}
		dw_free_die(f, target);
		if (err || decl)
			return err;
	}
	t->found = true;
	t->file = f;
	t->off = off;
	t->tag = tag;
	(*nfound)++;
	return NULL;
}

static struct pyag_error *scan_unit(struct dwq_file *f, Dwarf_Die cu,
				    struct dwq_type *types, size_t ntypes,
				    size_t *nfound)
{
	Dwarf_Error e = NULL;
	Dwarf_Die die = NULL;
	struct pyag_error *err = NULL;
	int res = dwarf_child(cu, &die, &e);
	for (size_t n = 0; res == DW_DLV_OK; n++) {
		if (n >= MAX_TOP_DIES) {
			err = pyag_error_create(PYAG_ERROR_BAD_FORMAT,
						"%s: DWARF: too many DIEs in a unit",
						f->path);
			break;
		}
		Dwarf_Half tag;
		err = dw_tag(f, die, &tag);
		const char *prefix = err ? NULL : tag_prefix(tag);
		const char *name = NULL;
		if (prefix)
			err = dw_name(f, die, &name);
		for (size_t i = 0; name && !err && i < ntypes; i++)
			if (!types[i].found && type_matches(&types[i], prefix, name))
				err = take_type(f, die, tag, &types[i], nfound);
		if (err || *nfound == ntypes)
			break;
		Dwarf_Die sib = NULL;
		res = dw_sibling(f, die, &sib, &e, &err);
		dw_free_die(f, die);
		die = sib;
	}
	if (res == DW_DLV_OK)
		dw_free_die(f, die);
	else if (res == DW_DLV_ERROR && !err)
		err = dw_error(f, e, "reading the DIEs of a unit");
	return err;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Could the unit named cu_name (NULL: unknown) define a missing type? */
static bool unit_wanted(const struct dwq_type *types, size_t ntypes,
			const char *cu_name, bool all_units)
{
	for (size_t i = 0; i < ntypes; i++) {
		const struct dwq_type *t = &types[i];
		if (t->found)
			continue;
		if (all_units || !t->unit_hint || !cu_name ||
		    strcmp(base_name(cu_name), t->unit_hint) == 0)
			return true;
	}
	return false;
}

static struct pyag_error *scan_file(struct dwq_file *f, struct dwq_type *types,
				    size_t ntypes, size_t *nfound,
				    bool all_units)
{
	for (size_t units = 0; *nfound < ntypes; units++) {
		Dwarf_Unsigned hlen = 0, typeoff = 0, next = 0;
		Dwarf_Half version = 0, asize = 0, lsize = 0, esize = 0, cutype = 0;
		Dwarf_Off abbrev = 0;
		Dwarf_Sig8 sig;
		Dwarf_Error e = NULL;
		if (units >= MAX_UNITS)
			return pyag_error_create(PYAG_ERROR_BAD_FORMAT,
						 "%s: DWARF: too many units", f->path);
		int res = dwarf_next_cu_header_d(f->dbg, 1, &hlen, &version,
						 &abbrev, &asize, &lsize, &esize,
						 &sig, &typeoff, &next, &cutype, &e);
		if (res == DW_DLV_NO_ENTRY)
			return NULL;
		if (res != DW_DLV_OK)
			return dw_error(f, e, "reading a unit header");
		Dwarf_Die cu = NULL;
		res = dwarf_siblingof_b(f->dbg, NULL, 1, &cu, &e);
		if (res == DW_DLV_ERROR)
			return dw_error(f, e, "reading a unit");
		if (res != DW_DLV_OK)
			continue;
		const char *cu_name;
		struct pyag_error *err = dw_name(f, cu, &cu_name);
		if (!err && unit_wanted(types, ntypes, cu_name, all_units))
			err = scan_unit(f, cu, types, ntypes, nfound);
		dw_free_die(f, cu);
		if (err)
			return err;
	}
	return NULL;
}

/*
 * Scan files in order until every type is found. Scan every unit once more
 * when something is still missing and either a unit hint may have been
 * wrong or a typedef seen in one unit named a struct defined in an earlier
 * one (libdwarf restarts its unit iteration after reporting the end).
 */
static struct pyag_error *scan_files(struct dwq_file *files, size_t nfiles,
				     struct dwq_type *types, size_t ntypes)
{
	size_t nfound = 0;
	for (unsigned pass = 0; pass < 2 && nfound < ntypes; pass++) {
		for (size_t i = 0; i < nfiles && nfound < ntypes; i++) {
			struct pyag_error *err = scan_file(&files[i], types,
							   ntypes, &nfound,
							   pass > 0);
			if (err)
				return err;
		}
		bool again = false;
		for (size_t i = 0; i < ntypes; i++)
			again |= !types[i].found &&
				 (types[i].alias[0] || types[i].unit_hint);
		if (!again)
			break;
	}
	return NULL;
}

/* ---- members, sizes, enumerators ---------------------------------------- */

static bool read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;
	for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		if (shift == 63 && (b & 0x7e))
			return false;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* A member location expression: the offset added to the struct's address.
 * Compilers emit DW_OP_plus_uconst N; accept the equivalent
 * DW_OP_constu N / DW_OP_litN followed by DW_OP_plus too. */
static bool eval_member_expr(const uint8_t *p, size_t len, uint64_t *ret)
{
	const uint8_t *end = p + len;
	if (len == 0)
		return false;
	uint8_t op = *p++;
	uint64_t v;
	if (op == DW_OP_plus_uconst) {
		if (!read_uleb(&p, end, &v))
			return false;
	} else if (op == DW_OP_constu) {
		if (!read_uleb(&p, end, &v) || p >= end || *p++ != DW_OP_plus)
			return false;
	} else if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
		v = op - DW_OP_lit0;
		if (p >= end || *p++ != DW_OP_plus)
			return false;
	} else {
		return false;
	}
	if (p != end)
		return false;
	*ret = v;
	return true;
}

/* DW_AT_data_member_location: a constant or a simple expression; 0 when
 * absent (union members, bit-fields with DW_AT_data_bit_offset). */
static struct pyag_error *member_byte_offset(const struct dwq_file *f,
					     Dwarf_Die die, uint64_t *ret,
					     bool *ok)
{
	Dwarf_Attribute a;
	Dwarf_Error e = NULL;
	*ret = 0;
	*ok = true;
	struct pyag_error *err = dw_attr(f, die, DW_AT_data_member_location, &a);
	if (err || !a)
		return err;
	Dwarf_Half form = 0;
	if (dwarf_whatform(a, &form, &e) != DW_DLV_OK) {
		err = dw_error(f, e, "reading a member location");
		goto out;
	}
	if (form == DW_FORM_exprloc) {
		Dwarf_Unsigned len = 0;
		Dwarf_Ptr data = NULL;
		if (dwarf_formexprloc(a, &len, &data, &e) != DW_DLV_OK) {
			err = dw_error(f, e, "reading a member location");
			goto out;
		}
		*ok = data && eval_member_expr(data, len, ret);
	} else if (form == DW_FORM_block1 || form == DW_FORM_block2 ||
		   form == DW_FORM_block4 || form == DW_FORM_block) {
		Dwarf_Block *b = NULL;
		if (dwarf_formblock(a, &b, &e) != DW_DLV_OK) {
			err = dw_error(f, e, "reading a member location");
			goto out;
		}
		*ok = b->bl_data && eval_member_expr(b->bl_data, b->bl_len, ret);
		dwarf_dealloc(f->dbg, b, DW_DLA_BLOCK);
	} else {
		int64_t v;
		err = dw_attr_const(f, a, &v, ok);
		if (!err && *ok) {
			if (v < 0)
				*ok = false;
			else
				*ret = (uint64_t)v;
		}
	}
out:
	dw_free_attr(f, a);
	return err;
}

static struct pyag_error *type_size_of(const struct dwq_file *f, Dwarf_Off off,
				       uint64_t *ret, bool *found)
{
	Dwarf_Die die;
	struct pyag_error *err = dw_offdie(f, off, &die);
	if (err)
		return err;
	err = dw_udata(f, die, DW_AT_byte_size, ret, found);
	dw_free_die(f, die);
	return err;
}

struct dw_member {
	uint64_t bit_offset;    /* from the start of the outermost struct */
	uint64_t bit_size;      /* 0: not a bit-field */
	bool has_type;
	Dwarf_Off type;         /* resolved (no typedefs, no qualifiers) */
	Dwarf_Half type_tag;
};

/* Where member die starts, in bits from the start of its struct. */
static struct pyag_error *member_position(const struct dwq_file *f,
					  Dwarf_Die die, struct dw_member *m,
					  bool *ok)
{
	uint64_t byte_off, bit_size = 0, v;
	bool present;
	struct pyag_error *err = member_byte_offset(f, die, &byte_off, ok);
	if (err || !*ok)
		return err;
	*ok = false;
	if (byte_off > UINT64_MAX / 8 - (1ull << 32))
		return NULL;
	m->bit_offset = byte_off * 8;
	err = dw_udata(f, die, DW_AT_bit_size, &bit_size, &present);
	if (err)
		return err;
	m->bit_size = present ? bit_size : 0;
	err = dw_udata(f, die, DW_AT_data_bit_offset, &v, &present);
	if (err)
		return err;
	if (present) {
		/* DWARF 4+: bits from the start of the containing struct */
		if (v > (1ull << 40))
			return NULL;
		m->bit_offset += v;
	} else if (m->bit_size) {
		/* DWARF 2/3: DW_AT_bit_offset counts from the most significant
		 * bit of a storage unit of DW_AT_byte_size bytes (little
		 * endian: the unit's last bit). It may be negative. */
		Dwarf_Attribute a;
		err = dw_attr(f, die, DW_AT_bit_offset, &a);
		if (err)
			return err;
		if (a) {
			int64_t bo;
			bool cok;
			err = dw_attr_const(f, a, &bo, &cok);
			dw_free_attr(f, a);
			if (err || !cok)
				return err;
			uint64_t storage;
			err = dw_udata(f, die, DW_AT_byte_size, &storage, &present);
			if (err)
				return err;
			if (!present && m->has_type) {
				err = type_size_of(f, m->type, &storage, &present);
				if (err)
					return err;
			}
			if (!present || storage > 64 || bo < -64 || bo > 512)
				return NULL;
			int64_t pos = (int64_t)storage * 8 - bo - (int64_t)m->bit_size;
			if (pos < 0 && (uint64_t)-pos > m->bit_offset)
				return NULL;
			m->bit_offset += (uint64_t)pos;
		}
	}
	*ok = true;
	return NULL;
}

/* budget: DIEs this lookup may still visit, shared by the recursion into
 * anonymous members (which a hostile file could nest and repeat). */
static struct pyag_error *find_member(const struct dwq_file *f, Dwarf_Off agg,
				      const char *name, size_t len,
				      unsigned depth, size_t *budget,
				      struct dw_member *ret, bool *found);

/* One child of a struct: the member itself, or inside it if anonymous. */
static struct pyag_error *match_member(const struct dwq_file *f, Dwarf_Die die,
				       const char *name, size_t len,
				       unsigned depth, size_t *budget,
				       struct dw_member *ret, bool *found)
{
	const char *mname;
	struct dw_member m = { 0 };
	bool ok;
	struct pyag_error *err = dw_name(f, die, &mname);
	if (err)
		return err;
	bool anon = !mname;
	if (!anon && (strlen(mname) != len || memcmp(mname, name, len) != 0))
		return NULL;
	err = resolve_type(f, die, &m.type, &m.type_tag, &m.has_type);
	if (err)
		return err;
	if (anon && (!m.has_type || depth >= MAX_ANON_DEPTH ||
		     (m.type_tag != DW_TAG_structure_type &&
		      m.type_tag != DW_TAG_union_type)))
		return NULL;
	err = member_position(f, die, &m, &ok);
	if (err || !ok)
		return err;
	if (!anon) {
		*ret = m;
		*found = true;
		return NULL;
	}
	err = find_member(f, m.type, name, len, depth + 1, budget, ret, found);
	if (!err && *found)
		ret->bit_offset += m.bit_offset;
	return err;
}

static struct pyag_error *find_member(const struct dwq_file *f, Dwarf_Off agg,
				      const char *name, size_t len,
				      unsigned depth, size_t *budget,
				      struct dw_member *ret, bool *found)
{
	Dwarf_Error e = NULL;
	Dwarf_Die parent, die = NULL;
	*found = false;
	struct pyag_error *err = dw_offdie(f, agg, &parent);
	if (err)
		return err;
	int res = dwarf_child(parent, &die, &e);
	for (size_t n = 0; res == DW_DLV_OK && n < MAX_MEMBERS && *budget; n++) {
		Dwarf_Half tag;
		--*budget;
		err = dw_tag(f, die, &tag);
		if (!err && tag == DW_TAG_member)
			err = match_member(f, die, name, len, depth, budget,
					   ret, found);
		if (err || *found)
			break;
		Dwarf_Die sib = NULL;
		res = dw_sibling(f, die, &sib, &e, &err);
		dw_free_die(f, die);
		die = sib;
	}
	if (res == DW_DLV_OK)
		dw_free_die(f, die);
	else if (res == DW_DLV_ERROR && !err)
		err = dw_error(f, e, "reading members");
	dw_free_die(f, parent);
	return err;
}

/* A member path "a.b.c" of the struct or union at agg. */
static struct pyag_error *lookup_path(const struct dwq_file *f, Dwarf_Off agg,
				      const char *path, struct dw_member *ret,
				      bool *found)
{
	uint64_t base = 0;
	const char *p = path;
	*found = false;
	for (unsigned part = 0; part < MAX_PATH_PARTS; part++) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		struct dw_member m;
		bool fnd;
		if (len == 0)
			return NULL;
		size_t budget = MAX_MEMBER_VISITS;
		struct pyag_error *err = find_member(f, agg, p, len, 0, &budget,
						     &m, &fnd);
		if (err || !fnd)
			return err;
		if (m.bit_offset > UINT64_MAX / 2 - base)
			return NULL;
		base += m.bit_offset;
		if (!dot) {
			*ret = m;
			ret->bit_offset = base;
			*found = true;
			return NULL;
		}
		if (!m.has_type || m.bit_size ||
		    (m.type_tag != DW_TAG_structure_type &&
		     m.type_tag != DW_TAG_union_type))
			return NULL;
		agg = m.type;
		p = dot + 1;
	}
	return NULL;
}

static struct pyag_error *find_enumerator(const struct dwq_file *f,
					  Dwarf_Off en_off, const char *name,
					  int64_t *ret, bool *found)
{
	Dwarf_Error e = NULL;
	Dwarf_Die en, die = NULL;
	*found = false;
	struct pyag_error *err = dw_offdie(f, en_off, &en);
	if (err)
		return err;
	int res = dwarf_child(en, &die, &e);
	for (size_t n = 0; res == DW_DLV_OK && n < MAX_MEMBERS; n++) {
		Dwarf_Half tag;
		const char *ename = NULL;
		err = dw_tag(f, die, &tag);
		if (!err && tag == DW_TAG_enumerator)
			err = dw_name(f, die, &ename);
		if (!err && ename && strcmp(ename, name) == 0) {
			Dwarf_Attribute a;
			err = dw_attr(f, die, DW_AT_const_value, &a);
			if (!err && a) {
				err = dw_attr_const(f, a, ret, found);
				dw_free_attr(f, a);
			}
			break;
		}
		if (err)
			break;
		Dwarf_Die sib = NULL;
		res = dw_sibling(f, die, &sib, &e, &err);
		dw_free_die(f, die);
		die = sib;
	}
	if (res == DW_DLV_OK)
		dw_free_die(f, die);
	else if (res == DW_DLV_ERROR && !err)
		err = dw_error(f, e, "reading enumerators");
	dw_free_die(f, en);
	return err;
}

/* ---- generic lookups on one file (also used by the unit tests) ---------- */

/* Open path and find the type named type_name in it. */
static struct pyag_error *open_and_find(const char *path, const char *type_name,
					struct dwq_file *f, struct dwq_type *t)
{
	memset(t, 0, sizeof(*t));
	t->names[0] = type_name;
	struct pyag_error *err = dw_open(f, path);
	if (err)
		return err;
	err = scan_files(f, 1, t, 1);
	if (!err && !t->found)
		err = pyag_error_create(PYAG_ERROR_NOT_FOUND,
					"%s: no type named '%s'", path, type_name);
	if (err)
		dw_close(f);
	return err;
}

struct pyag_error *dwarf_struct_size(const char *path, const char *type_name,
				     uint64_t *ret)
{
	struct dwq_file f;
	struct dwq_type t;
	bool found;
	struct pyag_error *err = open_and_find(path, type_name, &f, &t);
	if (err)
		return err;
	err = type_size_of(&f, t.off, ret, &found);
	if (!err && !found)
		err = pyag_error_create(PYAG_ERROR_NOT_FOUND,
					"%s: '%s' has no size", path, type_name);
	dw_close(&f);
	return err;
}

static struct pyag_error *member_lookup(const char *path, const char *type_name,
					const char *member, struct dw_member *ret)
{
	struct dwq_file f;
	struct dwq_type t;
	bool found = false;
	struct pyag_error *err = open_and_find(path, type_name, &f, &t);
	if (err)
		return err;
	if (t.tag == DW_TAG_structure_type || t.tag == DW_TAG_union_type)
		err = lookup_path(&f, t.off, member, ret, &found);
	if (!err && !found)
		err = pyag_error_create(PYAG_ERROR_NOT_FOUND,
					"%s: '%s' has no member '%s'", path,
					type_name, member);
	dw_close(&f);
	return err;
}

struct pyag_error *dwarf_struct_member_offset(const char *path,
					      const char *type_name,
					      const char *member, uint64_t *ret)
{
	struct dw_member m;
	struct pyag_error *err = member_lookup(path, type_name, member, &m);
	if (!err)
		*ret = m.bit_offset / 8;
	return err;
}

struct pyag_error *dwarf_member_bit_offset(const char *path,
					   const char *type_name,
					   const char *member,
					   uint64_t *bit_offset_ret,
					   uint64_t *bit_size_ret)
{
	struct dw_member m;
	struct pyag_error *err = member_lookup(path, type_name, member, &m);
	if (!err) {
		*bit_offset_ret = m.bit_offset;
		*bit_size_ret = m.bit_size;
	}
	return err;
}

struct pyag_error *dwarf_enumerator_value(const char *path,
					  const char *type_name,
					  const char *enumerator, int64_t *ret)
{
	struct dwq_file f;
	struct dwq_type t;
	bool found = false;
	struct pyag_error *err = open_and_find(path, type_name, &f, &t);
	if (err)
		return err;
	if (t.tag == DW_TAG_enumeration_type)
		err = find_enumerator(&f, t.off, enumerator, ret, &found);
	if (!err && !found)
		err = pyag_error_create(PYAG_ERROR_NOT_FOUND,
					"%s: '%s' has no enumerator '%s'", path,
					type_name, enumerator);
	dw_close(&f);
	return err;
}

/* ---- several files, many types (the layout reader) ----------------------- */

static int by_size(const void *a, const void *b)
{
	const struct dwq_file *x = a, *y = b;
	return x->size < y->size ? -1 : x->size > y->size;
}

struct pyag_error *dwq_open(const char *const *paths, size_t n,
			    struct dwq_files **ret)
{
	*ret = NULL;
	if (n == 0 || n > DWQ_MAX_FILES)
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "DWARF: %zu debug files", n);
	struct dwq_files *fs = calloc(1, sizeof(*fs));
	if (!fs || !(fs->f = calloc(n, sizeof(*fs->f)))) {
		free(fs);
		return &pyag_enomem;
	}
	for (; fs->n < n; fs->n++) {
		struct pyag_error *err = dw_open(&fs->f[fs->n], paths[fs->n]);
		if (err) {
			dwq_close(fs);
			return err;
		}
	}
	qsort(fs->f, fs->n, sizeof(*fs->f), by_size);
	*ret = fs;
	return NULL;
}

void dwq_close(struct dwq_files *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->n; i++)
		dw_close(&fs->f[i]);
	free(fs->f);
	free(fs);
}

struct pyag_error *dwq_find_types(struct dwq_files *fs, struct dwq_type *types,
				  size_t ntypes)
{
	return scan_files(fs->f, fs->n, types, ntypes);
}

struct pyag_error *dwq_size(const struct dwq_type *t, uint64_t *ret, bool *found)
{
	*found = false;
	if (!t->found)
		return NULL;
	return type_size_of(t->file, t->off, ret, found);
}

struct pyag_error *dwq_member(const struct dwq_type *t, const char *path,
			      uint64_t *bit_offset_ret, uint64_t *bit_size_ret,
			      bool *found)
{
	*found = false;
	if (!t->found || (t->tag != DW_TAG_structure_type &&
			  t->tag != DW_TAG_union_type))
		return NULL;
	struct dw_member m = { 0 };
	struct pyag_error *err = lookup_path(t->file, t->off, path, &m, found);
	if (!err && *found) {
		*bit_offset_ret = m.bit_offset;
		*bit_size_ret = m.bit_size;
	}
	return err;
}

struct pyag_error *dwq_enumerator(const struct dwq_type *t, const char *name,
				  int64_t *ret, bool *found)
{
	*found = false;
	if (!t->found || t->tag != DW_TAG_enumeration_type)
		return NULL;
	return find_enumerator(t->file, t->off, name, ret, found);
}

#else /* !HAVE_LIBDWARF */

static struct pyag_error *no_libdwarf(void)
{
	return pyag_error_create(PYAG_ERROR_NOT_FOUND,
				 "DWARF layouts are not available: "
				 "py-async-graph was built without libdwarf");
}

struct pyag_error *dwarf_struct_size(const char *path, const char *type_name,
				     uint64_t *ret)
{
	return no_libdwarf();
}

struct pyag_error *dwarf_struct_member_offset(const char *path,
					      const char *type_name,
					      const char *member, uint64_t *ret)
{
	return no_libdwarf();
}

struct pyag_error *dwarf_member_bit_offset(const char *path,
					   const char *type_name,
					   const char *member,
					   uint64_t *bit_offset_ret,
					   uint64_t *bit_size_ret)
{
	return no_libdwarf();
}

struct pyag_error *dwarf_enumerator_value(const char *path,
					  const char *type_name,
					  const char *enumerator, int64_t *ret)
{
	return no_libdwarf();
}

struct pyag_error *dwq_open(const char *const *paths, size_t n,
			    struct dwq_files **ret)
{
	*ret = NULL;
	return no_libdwarf();
}

void dwq_close(struct dwq_files *fs)
{
}

struct pyag_error *dwq_find_types(struct dwq_files *fs, struct dwq_type *types,
				  size_t ntypes)
{
	return no_libdwarf();
}

struct pyag_error *dwq_size(const struct dwq_type *t, uint64_t *ret, bool *found)
{
	*found = false;
	return NULL;
}

struct pyag_error *dwq_member(const struct dwq_type *t, const char *path,
			      uint64_t *bit_offset_ret, uint64_t *bit_size_ret,
			      bool *found)
{
	*found = false;
	return NULL;
}

struct pyag_error *dwq_enumerator(const struct dwq_type *t, const char *name,
				  int64_t *ret, bool *found)
{
	*found = false;
	return NULL;
}

#endif /* HAVE_LIBDWARF */
