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
	uint64_t ndigits = tag >> l->long_ndigits_shift;
	*negative = (tag & l->long_sign_mask) == l->long_sign_negative;
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
