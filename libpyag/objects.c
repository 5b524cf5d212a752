/*
 * Object readers: bounded reads of the target's objects for the walk. A
 * bad object is an error the walk turns into a warning; running out of
 * memory is recorded in the snapshot and fails the walk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walker.h"

/* ---- small readers --------------------------------------------------------- */

/* A warning "CONTEXT: what went wrong" about the object at addr, from err
 * (consumed). Running out of memory is no warning: the walk then fails. */
void warn_error(struct walker *w, uint64_t addr, struct pyag_error *err,
		       const char *fmt, ...)
{
	if (pyag_error_code(err) == PYAG_ERROR_NO_MEMORY) {
		snapshot_nomem(w->snap, "while reading objects");
		pyag_error_destroy(err);
		return;
	}
	char ctx[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	snapshot_warn_at(w->snap,
			 pyag_error_code(err) == PYAG_ERROR_FAULT ? PYAG_WARNING_UNREADABLE
								 : PYAG_WARNING_CORRUPT,
			 addr, "%s: %s", ctx, pyag_error_message(err));
	pyag_error_destroy(err);
}

struct pyag_error *read_struct(struct walker *w, uint64_t addr,
				      uint8_t *buf, uint64_t size)
{
	if (size > MAX_STRUCT_READ)
		size = MAX_STRUCT_READ;
	return pyag_reader_read(w->r, addr, buf, (size_t)size);
}

/* _asyncio.Task, _asyncio.Future and their subclasses (a few bases up),
 * _asyncio.FutureIter */
static enum type_kind asyncio_type(struct walker *w, uint64_t type, const char *name)
{
	char buf[64];
	for (int depth = 0; depth < 8 && type; depth++) {
		if (depth) {
			uint64_t name_ptr;
			if (!reader_try_read(w->r, type + w->l->type_name, &name_ptr, 8))
				return TYPE_OTHER;
			struct pyag_error *err = reader_read_cstr(w->r, name_ptr, buf,
								  sizeof(buf));
			if (err) {
				pyag_error_destroy(err);
				return TYPE_OTHER;
			}
			name = buf;
		}
		if (strcmp(name, "_asyncio.Task") == 0)
			return TYPE_TASK;
		if (strcmp(name, "_asyncio.Future") == 0)
			return TYPE_FUTURE;
		if (strcmp(name, "_asyncio.FutureIter") == 0)
			return TYPE_FUTUREITER;
		if (!reader_try_read(w->r, type + w->l->type_base, &type, 8))
			return TYPE_OTHER;
	}
	return TYPE_OTHER;
}

static enum type_kind classify_type(struct walker *w, uint64_t type)
{
	uint32_t v;
	if (u64map_get(&w->types, type, &v))
		return (enum type_kind)v;
	const struct pyag_layout *l = w->l;
	enum type_kind kind = TYPE_OTHER;
	uint64_t flags, name_ptr;
	char name[64];
	struct pyag_error *err = reader_read_u64(w->r, type + l->type_flags, &flags);
	if (!err)
		err = reader_read_u64(w->r, type + l->type_name, &name_ptr);
	if (err) {
		pyag_error_destroy(err);
		kind = TYPE_BAD;
	} else if (flags & l->type_flag_str) {
		kind = TYPE_STR;
	} else if (flags & l->type_flag_long) {
		kind = TYPE_INT;
	} else {
		err = reader_read_cstr(w->r, name_ptr, name, sizeof(name));
		if (err) {
			pyag_error_destroy(err);
		} else if (strcmp(name, "coroutine") == 0) {
			kind = TYPE_COROUTINE;
		} else if (strcmp(name, "async_generator") == 0) {
			kind = TYPE_ASYNC_GENERATOR;
		} else if (strcmp(name, "generator") == 0) {
			kind = TYPE_GENERATOR;
		} else if (strcmp(name, "code") == 0) {
			kind = TYPE_CODE;
		} else if (strcmp(name, "async_generator_asend") == 0) {
			kind = TYPE_ASEND;
		} else {
			kind = asyncio_type(w, type, name);
		}
	}
	if (!u64map_put(&w->types, type, kind))
		snapshot_nomem(w->snap, "the type cache");
	return kind;
}

enum type_kind object_kind(struct walker *w, uint64_t obj)
{
	uint64_t type;
	struct pyag_error *err = reader_read_u64(w->r, obj + w->l->obj_type, &type);
	if (err) {
		pyag_error_destroy(err);
		return TYPE_BAD;
	}
	return classify_type(w, type);
}

bool cstr_is(struct walker *w, uint64_t addr, const char *s)
{
	char buf[64];
	struct pyag_error *err = reader_read_cstr(w->r, addr, buf, sizeof(buf));
	if (err) {
		pyag_error_destroy(err);
		return false;
	}
	return strcmp(buf, s) == 0;
}

bool type_named(struct walker *w, uint64_t obj, const char *name)
{
	uint64_t type, name_ptr;
	return reader_try_read(w->r, obj + w->l->obj_type, &type, 8) &&
	       reader_try_read(w->r, type + w->l->type_name, &name_ptr, 8) &&
	       cstr_is(w, name_ptr, name);
}

/*
 * A str object as UTF-8 (interned). Compact strings only: every name and
 * file name CPython creates is compact. On failure *ret is NULL and the
 * error says why.
 */
struct pyag_error *read_str(struct walker *w, uint64_t obj,
				   const char **ret)
{
	const struct pyag_layout *l = w->l;
	*ret = NULL;
	uint8_t hdr[MAX_STRUCT_READ];
	uint64_t hsize = l->unicode_state + 4;
	if (l->unicode_length + 8 > hsize)
		hsize = l->unicode_length + 8;
	struct pyag_error *err = read_struct(w, obj, hdr, hsize);
	if (err)
		return pyag_error_wrap(err, "str 0x%llx", (unsigned long long)obj);
	uint64_t length = get_u64(hdr, l->unicode_length);
	uint32_t state;
	memcpy(&state, hdr + l->unicode_state, 4);
	unsigned kind = (state >> l->unicode_kind_shift) & 7;
	bool compact = (state >> l->unicode_compact_bit) & 1;
	bool ascii = (state >> l->unicode_ascii_bit) & 1;
	if (!compact || (kind != 1 && kind != 2 && kind != 4) ||
	    (ascii && kind != 1))
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "str 0x%llx: unsupported representation "
					 "(state 0x%x)", (unsigned long long)obj, state);
	bool truncated = false;
	if (length > w->lim->max_string) {
		length = w->lim->max_string;
		truncated = true;
	}
	uint64_t data = obj + (ascii ? l->unicode_ascii_size : l->unicode_compact_size);
	size_t nbytes = (size_t)length * kind;
	uint8_t *raw = malloc(nbytes ? nbytes : 1);
	if (!raw)
		return &pyag_enomem;
	err = pyag_reader_read(w->r, data, raw, nbytes);
	if (err) {
		free(raw);
		return pyag_error_wrap(err, "str 0x%llx", (unsigned long long)obj);
	}
	struct strbuf sb;
	sb_init(&sb);
	if (kind == 1 && ascii) {
		sb_append(&sb, (const char *)raw, nbytes);
	} else {
		sb_reserve(&sb, nbytes * 2);
		for (size_t i = 0; i < (size_t)length; i++) {
			uint32_t cp;
			if (kind == 1) {
				cp = raw[i];
			} else if (kind == 2) {
				uint16_t u;
				memcpy(&u, raw + 2 * i, 2);
				cp = u;
			} else {
				memcpy(&cp, raw + 4 * i, 4);
				if (cp > 0x10ffff)
					cp = 0xfffd;
			}
			if (cp == 0)
				cp = 0xfffd;  /* keep strings NUL-free */
			utf8_put(&sb, cp);
		}
	}
	free(raw);
	if (ascii) {
		/* ASCII strings must be 7-bit and NUL-free too */
		for (size_t i = 0; i < sb.len; i++)
			if (sb.data[i] == 0 || (unsigned char)sb.data[i] >= 0x80)
				sb.data[i] = '?';
	}
	if (truncated)
		sb_puts(&sb, "...");
	if (sb.failed) {
		sb_deinit(&sb);
		return &pyag_enomem;
	}
	*ret = snapshot_intern(w->snap, sb.data ? sb.data : "", sb.len);
	sb_deinit(&sb);
	return *ret ? NULL : &pyag_enomem;
}

/* A small int (a Task-N counter). */
struct pyag_error *read_int(struct walker *w, uint64_t obj,
				   uint64_t *ret, bool *negative)
{
	const struct pyag_layout *l = w->l;
	uint64_t tag;
	struct pyag_error *err = reader_read_u64(w->r, obj + l->long_tag, &tag);
	if (err)
		return err;
	uint64_t ndigits;
	if (l->long_signed_size) {
		/* 3.11: ob_size is +-ndigits */
		int64_t size = (int64_t)tag;
		*negative = size < 0;
		ndigits = size < 0 ? (uint64_t)0 - (uint64_t)size : (uint64_t)size;
	} else {
		ndigits = tag >> l->long_ndigits_shift;
		*negative = (tag & l->long_sign_mask) == l->long_sign_negative;
	}
	uint8_t digits[16];
	if (ndigits * l->long_digit_shift > 64 ||
	    ndigits * l->long_digit_size > sizeof(digits))
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "int 0x%llx too large for a task number",
					 (unsigned long long)obj);
	if (ndigits) {
		err = pyag_reader_read(w->r, obj + l->long_digit, digits,
				       (size_t)(ndigits * l->long_digit_size));
		if (err)
			return err;
	}
	uint64_t v = 0, mask = (1ull << l->long_digit_shift) - 1;
	for (uint64_t i = 0; i < ndigits; i++) {
		uint32_t d = 0;
		if (l->long_digit_size == 4) {
			memcpy(&d, digits + 4 * i, 4);
		} else {
			uint16_t d16;
			memcpy(&d16, digits + 2 * i, 2);
			d = d16;
		}
		v |= (uint64_t)(d & mask) << (i * l->long_digit_shift);
	}
	*ret = v;
	return NULL;
}

/* ---- code objects and frames --------------------------------------------- */

struct code_info *code_lookup(struct walker *w, uint64_t code)
{
	uint32_t idx;
	if (u64map_get(&w->codes, code, &idx))
		return &w->code_infos[idx];
	if (w->ncodes == w->cap_codes) {
		size_t cap = w->cap_codes ? w->cap_codes * 2 : 256;
		struct code_info *c = realloc(w->code_infos, cap * sizeof(*c));
		if (!c) {
			snapshot_nomem(w->snap, "code objects");
			return NULL;
		}
		w->code_infos = c;
		w->cap_codes = cap;
	}
	struct code_info *ci = &w->code_infos[w->ncodes];
	memset(ci, 0, sizeof(*ci));
	if (!u64map_put(&w->codes, code, (uint32_t)w->ncodes)) {
		snapshot_nomem(w->snap, "code objects");
		return NULL;
	}
	w->ncodes++;

	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	struct pyag_error *err = read_struct(w, code, buf, l->code_size);
	if (!err)
		err = read_str(w, get_u64(buf, l->code_qualname), &ci->qualname);
	if (!err)
		err = read_str(w, get_u64(buf, l->code_filename), &ci->filename);
	if (err) {
		warn_error(w, code, err, "code object 0x%llx", (unsigned long long)code);
		return ci;
	}
	ci->firstlineno = get_i32(buf, l->code_firstlineno);
	uint64_t lt = get_u64(buf, l->code_linetable);
	uint64_t ltsize;
	err = reader_read_u64(w->r, lt + l->bytes_ob_size, &ltsize);
	if (!err && ltsize <= MAX_LINETABLE) {
		ci->linetable = arena_alloc(&w->snap->mem, ltsize ? ltsize : 1);
		if (ci->linetable) {
			err = pyag_reader_read(w->r, lt + l->bytes_sval,
					       ci->linetable, (size_t)ltsize);
			if (!err)
				ci->linetable_len = (size_t)ltsize;
		} else {
			snapshot_nomem(w->snap, "line tables");
		}
	}
	pyag_error_destroy(err);
	ci->ok = true;
	return ci;
}

/*
 * A frame record from an interpreter frame whose bytes are in buf (read at
 * frame_addr). Returns false when the frame is not a code frame.
 */

int32_t code_line(struct code_info *ci, uint64_t unit)
{
	for (unsigned i = 0; i < ci->ncached; i++)
		if (ci->cached_unit[i] == unit)
			return ci->cached_line[i];
	int32_t line = decode_line(ci->linetable, ci->linetable_len,
				   ci->firstlineno, unit);
	ci->cached_unit[ci->next_slot] = unit;
	ci->cached_line[ci->next_slot] = line;
	ci->next_slot = (uint8_t)((ci->next_slot + 1) % LINE_CACHE);
	if (ci->ncached < LINE_CACHE)
		ci->ncached++;
	return line;
}

/* ---- str comparison, dicts and instance attributes ------------------------ */

/* Whether the object at obj is the str equal to the ASCII string s. */
struct pyag_error *str_equals(struct walker *w, uint64_t obj, const char *s,
			      bool *ret)
{
	const struct pyag_layout *l = w->l;
	*ret = false;
	if (object_kind(w, obj) != TYPE_STR)
		return NULL;
	uint8_t hdr[MAX_STRUCT_READ];
	uint64_t hsize = l->unicode_state + 4;
	if (l->unicode_length + 8 > hsize)
		hsize = l->unicode_length + 8;
	struct pyag_error *err = read_struct(w, obj, hdr, hsize);
	if (err)
		return err;
	uint32_t state;
	memcpy(&state, hdr + l->unicode_state, 4);
	size_t n = strlen(s);
	if (!((state >> l->unicode_compact_bit) & 1) ||
	    !((state >> l->unicode_ascii_bit) & 1) ||
	    get_u64(hdr, l->unicode_length) != n)
		return NULL;
	char data[256];
	if (n > sizeof(data))
		return NULL;
	err = pyag_reader_read(w->r, obj + l->unicode_ascii_size, data, n);
	if (err)
		return err;
	*ret = memcmp(data, s, n) == 0;
	return NULL;
}

/* The entries of a dict's keys object, and where its values are. */
struct dict_view {
	uint64_t entries;       /* address of entry 0 */
	uint64_t nentries;      /* entries in use or deleted, bounded */
	unsigned esize, koff, voff;
	uint64_t values;        /* split tables: PyDictValues, else 0 */
	uint64_t capacity;      /* of values */
};

/* Open the keys object at keys; values (0: none) holds the values of a
 * split table or of an object's inline values. */
static struct pyag_error *dict_view_open(struct walker *w, uint64_t keys,
					 uint64_t values, struct dict_view *v)
{
	const struct pyag_layout *l = w->l;
	uint8_t hdr[MAX_STRUCT_READ];
	if (!keys)
		return pyag_error_create(PYAG_ERROR_CORRUPT, "dict without keys");
	struct pyag_error *err = read_struct(w, keys, hdr, l->dk_indices);
	if (err)
		return pyag_error_wrap(err, "dict keys 0x%llx", (unsigned long long)keys);
	unsigned log2_size = hdr[l->dk_log2_size];
	unsigned log2_index_bytes = hdr[l->dk_log2_index_bytes];
	unsigned kind = hdr[l->dk_kind];
	uint64_t nentries = get_u64(hdr, l->dk_nentries);
	if (log2_size < 3 || log2_size > 40 || log2_index_bytes > log2_size + 3 ||
	    log2_index_bytes < log2_size || kind > 2 ||
	    nentries > (1ull << log2_size))
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "dict keys 0x%llx: implausible header "
					 "(size 2**%u, %llu entries)",
					 (unsigned long long)keys, log2_size,
					 (unsigned long long)nentries);
	if (nentries > w->lim->max_set)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "dict keys 0x%llx: more than %zu entries",
					 (unsigned long long)keys, w->lim->max_set);
	v->entries = keys + l->dk_indices + (1ull << log2_index_bytes);
	v->nentries = nentries;
	if (kind == l->dict_kind_general) {
		v->esize = l->dict_gentry_size;
		v->koff = l->dict_gentry_key;
		v->voff = l->dict_gentry_value;
	} else {
		v->esize = l->dict_uentry_size;
		v->koff = 0;
		v->voff = l->dict_uentry_value;
	}
	v->values = values;
	v->capacity = 0;
	if (values && !l->dictvalues_header) {
		v->capacity = nentries;  /* 3.11, 3.12: a bare array */
	} else if (values) {
		uint8_t cap;
		err = pyag_reader_read(w->r, values + l->dictvalues_capacity, &cap, 1);
		if (err)
			return pyag_error_wrap(err, "dict values 0x%llx",
					       (unsigned long long)values);
		v->capacity = cap;
	}
	return NULL;
}

#define DICT_CHUNK 128u

/* fn(key, value) for every live entry, in table order, until it returns
 * false. */
static struct pyag_error *dict_view_each(struct walker *w, const struct dict_view *v,
					 bool (*fn)(struct walker *, uint64_t, uint64_t, void *),
					 void *arg)
{
	uint8_t buf[DICT_CHUNK * 64];
	uint64_t vals[DICT_CHUNK];
	for (uint64_t i = 0; i < v->nentries; i += DICT_CHUNK) {
		uint64_t n = v->nentries - i < DICT_CHUNK ? v->nentries - i : DICT_CHUNK;
		struct pyag_error *err = pyag_reader_read(
			w->r, v->entries + i * v->esize, buf, (size_t)(n * v->esize));
		if (err)
			return pyag_error_wrap(err, "dict entries");
		if (v->values) {
			uint64_t m = i >= v->capacity ? 0 : v->capacity - i;
			if (m > n)
				m = n;
			memset(vals, 0, sizeof(vals));
			if (m) {
				err = pyag_reader_read(
					w->r, v->values + w->l->dictvalues_values + 8 * i,
					vals, (size_t)(8 * m));
				if (err)
					return pyag_error_wrap(err, "dict values");
			}
		}
		for (uint64_t k = 0; k < n; k++) {
			uint64_t key = get_u64(buf, k * v->esize + v->koff);
			uint64_t value = v->values ? vals[k]
						   : get_u64(buf, k * v->esize + v->voff);
			if (key && value && !fn(w, key, value, arg))
				return NULL;
		}
	}
	return NULL;
}

/* The type of the object at obj and its tp_flags. */
static struct pyag_error *type_and_flags(struct walker *w, uint64_t obj, const char *what,
					 uint64_t *type, uint64_t *flags)
{
	struct pyag_error *err = reader_read_u64(w->r, obj + w->l->obj_type, type);
	if (!err)
		err = reader_read_u64(w->r, *type + w->l->type_flags, flags);
	return err ? pyag_error_wrap(err, "%s 0x%llx", what, (unsigned long long)obj) : NULL;
}

/* Open the dict object at dict. */
static struct pyag_error *dict_open(struct walker *w, uint64_t dict,
				    struct dict_view *v)
{
	const struct pyag_layout *l = w->l;
	uint64_t type, flags;
	struct pyag_error *err = type_and_flags(w, dict, "dict", &type, &flags);
	if (err)
		return err;
	if (!(flags & l->type_flag_dict))
		return pyag_error_create(PYAG_ERROR_CORRUPT, "0x%llx is not a dict",
					 (unsigned long long)dict);
	uint8_t buf[MAX_STRUCT_READ];
	err = read_struct(w, dict, buf, l->dict_size);
	if (err)
		return pyag_error_wrap(err, "dict 0x%llx", (unsigned long long)dict);
	return dict_view_open(w, get_u64(buf, l->dict_keys),
			      get_u64(buf, l->dict_values), v);
}

struct find_str {
	const char *key;
	uint64_t value;
	uint64_t index;         /* entries visited before the match */
	struct pyag_error *err;
};

static bool find_str_fn(struct walker *w, uint64_t key, uint64_t value, void *arg)
{
	struct find_str *f = arg;
	bool eq;
	f->err = str_equals(w, key, f->key, &eq);
	if (f->err)
		return false;
	if (eq) {
		f->value = value;
		return false;
	}
	f->index++;
	return true;
}

static struct pyag_error *view_get_str(struct walker *w, const struct dict_view *v,
				       const char *key, uint64_t *ret)
{
	struct find_str f = { .key = key };
	struct pyag_error *err = dict_view_each(w, v, find_str_fn, &f);
	if (!err)
		err = f.err;
	*ret = err ? 0 : f.value;
	return err;
}

struct pyag_error *dict_get_str(struct walker *w, uint64_t dict, const char *key,
				uint64_t *ret)
{
	struct dict_view v;
	*ret = 0;
	struct pyag_error *err = dict_open(w, dict, &v);
	return err ? err : view_get_str(w, &v, key, ret);
}

struct pyag_error *dict_each(struct walker *w, uint64_t dict,
			     bool (*fn)(struct walker *, uint64_t key, uint64_t value, void *),
			     void *arg)
{
	struct dict_view v;
	struct pyag_error *err = dict_open(w, dict, &v);
	return err ? err : dict_view_each(w, &v, fn, arg);
}

/* Py_T_OBJECT, Py_T_OBJECT_EX: the PyMemberDef types of __slots__ */
#define MEMBER_T_OBJECT 6
#define MEMBER_T_OBJECT_EX 16
#define MAX_BASES 8

/* The offset of the __slots__ member `name` of objects of type type (0:
 * none), from the member_descriptor in the namespace of the type or of
 * one of its bases; the last few lookups are cached. */
static struct pyag_error *slot_offset(struct walker *w, uint64_t type, const char *name,
				      uint64_t *ret)
{
	const struct pyag_layout *l = w->l;
	*ret = 0;
	for (size_t i = 0; i < w->nslots && i < SLOT_CACHE; i++)
		if (w->slots[i].type == type && strcmp(w->slots[i].name, name) == 0) {
			*ret = w->slots[i].offset;
			return NULL;
		}
	uint64_t t = type;
	for (int depth = 0; depth < MAX_BASES && t && !*ret; depth++) {
		uint64_t dict, descr = 0, def, offset;
		int32_t mtype;
		struct pyag_error *err = reader_read_u64(w->r, t + l->type_dict, &dict);
		if (!err && dict)
			err = dict_get_str(w, dict, name, &descr);
		if (err)
			return pyag_error_wrap(err, "type 0x%llx", (unsigned long long)t);
		if (descr) {
			if (!type_named(w, descr, "member_descriptor"))
				return NULL;        /* a property, a method... */
			err = reader_read_u64(w->r, descr + l->memberdescr_member, &def);
			if (!err)
				err = reader_read_u64(w->r, def + l->memberdef_offset, &offset);
			if (!err && !reader_try_read(w->r, def + 8, &mtype, 4))
				mtype = -1;
			if (err)
				return pyag_error_wrap(err, "member %s of type 0x%llx", name,
						       (unsigned long long)t);
			if ((mtype != MEMBER_T_OBJECT && mtype != MEMBER_T_OBJECT_EX) ||
			    offset < l->obj_type + 8 || offset > (1u << 20))
				return NULL;
			*ret = offset;
			break;
		}
		if (!reader_try_read(w->r, t + l->type_base, &t, 8))
			break;
	}
	w->slots[w->next_slot % SLOT_CACHE] =
		(struct slot_cache){ .type = type, .name = name, .offset = *ret };
	w->next_slot++;
	if (w->nslots < SLOT_CACHE)
		w->nslots++;
	return NULL;
}

static struct pyag_error *instance_attr(struct walker *w, uint64_t obj, const char *name,
					uint64_t *ret);

struct pyag_error *object_attr(struct walker *w, uint64_t obj, const char *name,
			       uint64_t *ret)
{
	struct pyag_error *err = instance_attr(w, obj, name, ret);
	if (err || *ret)
		return err;
	uint64_t type, offset;
	err = reader_read_u64(w->r, obj + w->l->obj_type, &type);
	if (!err)
		err = slot_offset(w, type, name, &offset);
	if (!err && offset)
		err = reader_read_u64(w->r, obj + offset, ret);
	return err ? pyag_error_wrap(err, "object 0x%llx", (unsigned long long)obj) : NULL;
}

/* The attribute in the object's instance dict or inline values. */
static struct pyag_error *instance_attr(struct walker *w, uint64_t obj, const char *name,
					uint64_t *ret)
{
	const struct pyag_layout *l = w->l;
	*ret = 0;
	uint64_t type, flags;
	struct pyag_error *err = type_and_flags(w, obj, "object", &type, &flags);
	if (err)
		return err;
	uint64_t dict = 0;
	if (flags & l->type_flag_managed_dict) {
		err = reader_read_u64(w->r, obj + (uint64_t)(int64_t)l->managed_dict_offset,
				      &dict);
		if (err)
			return pyag_error_wrap(err, "object 0x%llx", (unsigned long long)obj);
		uint64_t values = 0;
		if (l->managed_values_offset)
			/* 3.11: a values pointer before the dict pointer */
			err = reader_read_u64(w->r, obj + (uint64_t)(int64_t)
					      l->managed_values_offset, &values);
		else if (l->managed_dict_tagged && (dict & 1))
			/* 3.12: odd, the values pointer - 1 */
			values = dict + 1;
		if (err)
			return pyag_error_wrap(err, "object 0x%llx", (unsigned long long)obj);
		if (values) {
			uint64_t keys;
			struct dict_view v;
			err = reader_read_u64(w->r, type + l->heaptype_cached_keys, &keys);
			if (!err)
				err = dict_view_open(w, keys, values, &v);
			if (!err)
				err = view_get_str(w, &v, name, ret);
			return err ? pyag_error_wrap(err, "object 0x%llx",
						     (unsigned long long)obj) : NULL;
		}
		if (l->managed_dict_tagged && (dict & 1))
			dict = 0;
		if (!dict && (flags & l->type_flag_inline_values)) {
			/* no dict made yet: the values follow the object, their
			 * keys are the type's shared keys */
			uint64_t basicsize, keys;
			uint8_t valid;
			err = reader_read_u64(w->r, type + l->type_basicsize, &basicsize);
			if (!err && (basicsize < l->obj_type + 8 || basicsize > (1u << 20)))
				err = pyag_error_create(PYAG_ERROR_CORRUPT,
							"type 0x%llx: implausible size %llu",
							(unsigned long long)type,
							(unsigned long long)basicsize);
			if (!err)
				err = pyag_reader_read(w->r, obj + basicsize +
						       l->dictvalues_valid, &valid, 1);
			if (!err && !valid)
				return NULL;
			if (!err)
				err = reader_read_u64(w->r, type + l->heaptype_cached_keys, &keys);
			struct dict_view v;
			if (!err)
				err = dict_view_open(w, keys, obj + basicsize, &v);
			if (!err)
				err = view_get_str(w, &v, name, ret);
			return err ? pyag_error_wrap(err, "object 0x%llx",
						     (unsigned long long)obj) : NULL;
		}
	} else {
		uint64_t offset;
		err = reader_read_u64(w->r, type + l->type_dictoffset, &offset);
		if (!err && (int64_t)offset > 0 && offset < (1u << 20))
			err = reader_read_u64(w->r, obj + offset, &dict);
		if (err)
			return pyag_error_wrap(err, "object 0x%llx", (unsigned long long)obj);
	}
	if (!dict)
		return NULL;
	err = dict_get_str(w, dict, name, ret);
	return err ? pyag_error_wrap(err, "object 0x%llx", (unsigned long long)obj) : NULL;
}

struct pyag_error *module_dict(struct walker *w, uint64_t interp, const char *name,
			       uint64_t *ret)
{
	uint64_t modules, module;
	*ret = 0;
	struct pyag_error *err = reader_read_u64(w->r, interp + w->l->interp_modules,
						 &modules);
	if (err || !modules)
		return err;
	err = dict_get_str(w, modules, name, &module);
	if (err)
		return pyag_error_wrap(err, "sys.modules");
	if (!module)
		return NULL;
	err = reader_read_u64(w->r, module + w->l->module_dict, ret);
	return err ? pyag_error_wrap(err, "module %s", name) : NULL;
}

/* ---- sets, sequences, closures ---------------------------------------------- */

struct pyag_error *set_each(struct walker *w, uint64_t set,
			    bool (*fn)(struct walker *, uint64_t key, void *), void *arg)
{
	const struct pyag_layout *l = w->l;
	uint8_t hdr[MAX_STRUCT_READ];
	uint64_t size = l->set_mask + 8;
	if (l->set_table + 8 > size)
		size = l->set_table + 8;
	if (l->set_used + 8 > size)
		size = l->set_used + 8;
	struct pyag_error *err = read_struct(w, set, hdr, size);
	if (err)
		return pyag_error_wrap(err, "set 0x%llx", (unsigned long long)set);
	uint64_t mask = get_u64(hdr, l->set_mask);
	uint64_t table = get_u64(hdr, l->set_table);
	uint64_t used = get_u64(hdr, l->set_used);
	if (mask >= w->lim->max_set || ((mask + 1) & mask) != 0 || used > mask + 1)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "set 0x%llx is corrupt (mask %llu, used %llu)",
					 (unsigned long long)set, (unsigned long long)mask,
					 (unsigned long long)used);
	size_t esize = l->set_entry_size;
	uint8_t buf[DICT_CHUNK * 64];
	size_t chunk = sizeof(buf) / esize, seen = 0;
	for (uint64_t i = 0; i <= mask && seen < used; i += chunk) {
		uint64_t n = mask + 1 - i < chunk ? mask + 1 - i : chunk;
		err = pyag_reader_read(w->r, table + i * esize, buf, (size_t)(n * esize));
		if (err)
			return pyag_error_wrap(err, "set 0x%llx: table", (unsigned long long)set);
		for (uint64_t k = 0; k < n && seen < used; k++) {
			uint64_t key = get_u64(buf + k * esize, l->set_entry_key);
			int64_t hash = (int64_t)get_u64(buf + k * esize, l->set_entry_hash);
			if (!key || hash == -1)
				continue;  /* empty or deleted (dummy) slot */
			seen++;
			if (!fn(w, key, arg))
				return NULL;
		}
	}
	return NULL;
}

/* A list's or tuple's size (bounded by the set limit) and where its items are. */
static struct pyag_error *seq_open(struct walker *w, uint64_t obj, uint64_t *base_ret,
				   size_t *size_ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t type, flags;
	struct pyag_error *err = type_and_flags(w, obj, "sequence", &type, &flags);
	if (err)
		return err;
	/* Py_TPFLAGS_LIST_SUBCLASS, Py_TPFLAGS_TUPLE_SUBCLASS */
	bool list = flags & (1ull << 25), tuple = flags & (1ull << 26);
	if (!list && !tuple)
		return pyag_error_create(PYAG_ERROR_CORRUPT, "0x%llx is no list or tuple",
					 (unsigned long long)obj);
	int64_t size;
	err = reader_read_u64(w->r, obj + (list ? l->list_ob_size : l->tuple_ob_size),
			      (uint64_t *)&size);
	if (err)
		return pyag_error_wrap(err, "sequence 0x%llx", (unsigned long long)obj);
	if (size < 0 || (uint64_t)size > w->lim->max_set)
		return pyag_error_create(PYAG_ERROR_CORRUPT, "sequence 0x%llx: size %lld",
					 (unsigned long long)obj, (long long)size);
	*size_ret = (size_t)size;
	*base_ret = obj + l->tuple_item;
	if (list) {
		err = reader_read_u64(w->r, obj + l->list_item, base_ret);
		if (err)
			return pyag_error_wrap(err, "list 0x%llx", (unsigned long long)obj);
	}
	return NULL;
}

struct pyag_error *seq_items(struct walker *w, uint64_t obj, uint64_t *items,
			     size_t max, size_t *n_ret)
{
	uint64_t base;
	size_t size;
	*n_ret = 0;
	struct pyag_error *err = seq_open(w, obj, &base, &size);
	if (err)
		return err;
	size_t n = size < max ? size : max;
	if (n) {
		err = pyag_reader_read(w->r, base, items, n * 8);
		if (err)
			return pyag_error_wrap(err, "sequence 0x%llx: items",
					       (unsigned long long)obj);
	}
	*n_ret = n;
	return NULL;
}

struct pyag_error *seq_items_alloc(struct walker *w, uint64_t obj, size_t max,
				   uint64_t **items_ret, size_t *n_ret)
{
	uint64_t base;
	size_t size;
	*items_ret = NULL;
	*n_ret = 0;
	struct pyag_error *err = seq_open(w, obj, &base, &size);
	if (size > max)
		size = max;
	if (err || !size)
		return err;
	uint64_t *items = malloc(size * 8);
	if (!items)
		return pyag_error_nomem("a sequence's items");
	err = pyag_reader_read(w->r, base, items, size * 8);
	if (err) {
		free(items);
		return pyag_error_wrap(err, "sequence 0x%llx: items", (unsigned long long)obj);
	}
	*items_ret = items;
	*n_ret = size;
	return NULL;
}

struct deque_copy {
	uint64_t *items;
	size_t max, n;
};

static bool deque_copy_fn(struct walker *w, uint64_t item, void *arg)
{
	struct deque_copy *c = arg;
	(void)w;
	if (c->n >= c->max)
		return false;
	c->items[c->n++] = item;
	return c->n < c->max;
}

struct pyag_error *deque_items(struct walker *w, uint64_t obj, uint64_t *items,
			       size_t max, size_t *n_ret)
{
	*n_ret = 0;
	if (!type_named(w, obj, "collections.deque"))
		return pyag_error_create(PYAG_ERROR_CORRUPT, "0x%llx is no deque",
					 (unsigned long long)obj);
	struct deque_copy c = { .items = items, .max = max };
	int64_t len;
	struct pyag_error *err = max ? deque_each(w, obj, deque_copy_fn, &c, &len) : NULL;
	*n_ret = c.n;
	return err;
}

/* CO_FAST_FREE: a free variable among co_localsplusnames */
#define CO_FAST_FREE 0x80
#define MAX_LOCALS 256

struct pyag_error *closure_var(struct walker *w, uint64_t func, const char *name,
			       uint64_t *ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t code, closure, names;
	*ret = 0;
	struct pyag_error *err = reader_read_u64(w->r, func + l->func_code, &code);
	if (!err)
		err = reader_read_u64(w->r, func + l->func_closure, &closure);
	if (!err)
		err = reader_read_u64(w->r, code + l->code_localsplusnames, &names);
	if (err)
		return pyag_error_wrap(err, "function 0x%llx", (unsigned long long)func);
	uint64_t kinds_obj;
	err = reader_read_u64(w->r, code + l->code_localspluskinds, &kinds_obj);
	if (err || !closure)
		return err;
	uint64_t namev[MAX_LOCALS];
	size_t n;
	err = seq_items(w, names, namev, MAX_LOCALS, &n);
	if (err)
		return err;
	uint8_t kinds[MAX_LOCALS];
	if (n && (err = pyag_reader_read(w->r, kinds_obj + l->bytes_sval, kinds, n)))
		return err;
	/* the closure's cells are the free variables, in order */
	size_t free_index = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(kinds[i] & CO_FAST_FREE))
			continue;
		bool eq;
		if ((err = str_equals(w, namev[i], name, &eq)))
			return err;
		if (eq) {
			uint64_t cells[MAX_LOCALS];
			size_t ncells;
			if ((err = seq_items(w, closure, cells, MAX_LOCALS, &ncells)))
				return err;
			if (free_index >= ncells)
				return NULL;
			return reader_read_u64(w->r, cells[free_index] + l->cell_ref, ret);
		}
		free_index++;
	}
	return NULL;
}

/* ---- deques ------------------------------------------------------------------ */

struct pyag_error *deque_each(struct walker *w, uint64_t dq,
			      bool (*fn)(struct walker *, uint64_t item, void *), void *arg,
			      int64_t *len_ret)
{
	const struct pyag_layout *l = w->l;
	uint8_t head[64];
	*len_ret = -1;
	/* a block holds BLOCKLEN items between its two links */
	uint64_t per_block = l->block_rightlink > l->block_data
				     ? (l->block_rightlink - l->block_data) / 8 : 0;
	if (l->deque_leftindex + 8 > sizeof(head) || !per_block || per_block > 1024)
		return pyag_error_create(PYAG_ERROR_CORRUPT, "deque layout out of range");
	struct pyag_error *err = read_struct(w, dq, head, l->deque_leftindex + 8);
	if (err)
		return pyag_error_wrap(err, "deque 0x%llx", (unsigned long long)dq);
	int64_t len = (int64_t)get_u64(head, l->deque_ob_size);
	uint64_t block = get_u64(head, l->deque_leftblock);
	uint64_t index = get_u64(head, l->deque_leftindex);
	if (len < 0 || (uint64_t)len > w->lim->max_set || index >= per_block)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "deque 0x%llx is corrupt (length %lld, index %llu)",
					 (unsigned long long)dq, (long long)len,
					 (unsigned long long)index);
	*len_ret = len;
	uint64_t items[64];
	bool more = true;
	/* at most len items, so at most len / per_block + 2 blocks */
	for (int64_t left = len; left > 0 && more;) {
		uint64_t n = per_block - index;
		if ((int64_t)n > left)
			n = (uint64_t)left;
		if (n > 64)
			n = 64;
		err = pyag_reader_read(w->r, block + l->block_data + 8 * index, items,
				       (size_t)(8 * n));
		if (err)
			return pyag_error_wrap(err, "deque 0x%llx: block 0x%llx",
					       (unsigned long long)dq, (unsigned long long)block);
		for (uint64_t k = 0; k < n && more; k++)
			if (items[k])
				more = fn(w, items[k], arg);
		left -= (int64_t)n;
		index += n;
		if (left > 0 && index >= per_block) {
			index = 0;
			err = reader_read_u64(w->r, block + l->block_rightlink, &block);
			if (!err && !block)
				err = pyag_error_create(PYAG_ERROR_CORRUPT,
							"deque 0x%llx: its blocks end before "
							"its %lld items", (unsigned long long)dq,
							(long long)len);
			if (err)
				return err;
		}
	}
	return NULL;
}

/* ---- futures and callables ------------------------------------------------ */

/* The first max done callbacks of a future, in the order they were added:
 * callback0, then those of its list of (callback, context) tuples. */
size_t future_callbacks(struct walker *w, uint64_t fut, size_t max,
			       uint64_t **ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t cb0 = 0, list = 0, *items = NULL;
	size_t n = 0, m = 0;
	*ret = NULL;
	if (!max)
		return 0;
	if (!reader_try_read(w->r, fut + l->fut_callback0, &cb0, 8))
		cb0 = 0;
	if (!reader_try_read(w->r, fut + l->fut_callbacks, &list, 8))
		list = 0;
	if (cb0)
		max--;
	struct pyag_error *err = list && max ? seq_items_alloc(w, list, max, &items, &m)
					     : NULL;
	if (err)
		warn_error(w, fut, err, "future 0x%llx: callbacks", (unsigned long long)fut);
	if (!cb0 && !m)
		return 0;
	uint64_t *cbs = malloc((m + 1) * sizeof(*cbs));
	if (!cbs) {
		snapshot_nomem(w->snap, "awaited-by edges");
		free(items);
		return 0;
	}
	if (cb0)
		cbs[n++] = cb0;
	for (size_t i = 0; i < m; i++) {
		uint64_t pair[2];
		size_t k = 0;
		err = seq_items(w, items[i], pair, 2, &k);
		if (err)
			pyag_error_destroy(err);
		else if (k >= 1)
			cbs[n++] = pair[0];
	}
	free(items);
	*ret = cbs;
	return n;
}

/* Whether obj is a function (or, method: a bound method whose function
 * is) with the qualified name qualname; *self_ret: the method's self. */
bool callable_named(struct walker *w, uint64_t obj, const char *qualname,
			   bool method, uint64_t *self_ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t func = obj, qn;
	if (method && (!type_named(w, obj, "method") ||
		       !reader_try_read(w->r, obj + l->method_func, &func, 8) ||
		       !reader_try_read(w->r, obj + l->method_self, self_ret, 8)))
		return false;
	if (!type_named(w, func, "function") ||
	    !reader_try_read(w->r, func + l->func_qualname, &qn, 8))
		return false;
	bool eq = false;
	pyag_error_destroy(str_equals(w, qn, qualname, &eq));
	return eq;
}
