/*
 * The walker: interpreters -> threads -> asyncio task lists -> coroutine
 * chains and awaited-by sets, into plain records (struct snapshot).
 *
 * Target memory is hostile input. Every loop is bounded by a limit, every
 * length is clamped before allocating, every list walk detects revisits.
 * A bad object becomes a warning and the walk goes on with the rest; only a
 * failure to read the interpreter's own roots is fatal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_STRUCT_READ LAYOUT_MAX_STRUCT_READ
#define MAX_LINETABLE (1u << 20)

enum type_kind {
	TYPE_OTHER = 0,
	TYPE_COROUTINE,
	TYPE_ASYNC_GENERATOR,
	TYPE_GENERATOR,
	TYPE_STR,
	TYPE_INT,
	TYPE_CODE,
	TYPE_ASEND,         /* async_generator_asend: what `async for` awaits */
	TYPE_BAD,           /* unreadable type object */
};

#define LINE_CACHE 4

struct code_info {
	const char *qualname;
	const char *filename;
	int32_t firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	bool ok;
	/* the last few (code unit -> line) lookups: the tasks of a big graph
	 * are suspended at few distinct points of each code object */
	uint64_t cached_unit[LINE_CACHE];
	int32_t cached_line[LINE_CACHE];
	uint8_t ncached, next_slot;
};

static int32_t code_line(struct code_info *ci, uint64_t unit)
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

struct walker {
	struct pyag_reader *r;
	const struct pyag_layout *l;
	const struct walk_limits *lim;
	struct snapshot *snap;
	struct u64map types;        /* type address -> enum type_kind */
	struct u64map codes;        /* code address -> index into code_infos */
	struct code_info *code_infos;
	size_t ncodes, cap_codes;
	size_t total_frames;
};

void walk_default_limits(struct walk_limits *lim)
{
	lim->max_tasks = 10u * 1000u * 1000u;
	lim->max_frames = 10000;
	lim->max_set = 1u << 20;
	lim->max_string = 1u << 20;
	lim->max_threads = 100000;
	lim->max_interpreters = 10000;
}

/* ---- snapshot ------------------------------------------------------------ */

void snapshot_init(struct snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
}

void snapshot_deinit(struct snapshot *snap)
{
	free(snap->tasks);
	free(snap->threads);
	for (size_t i = 0; i < snap->nwarnings; i++)
		free(snap->warnings[i].message);
	free(snap->warnings);
	free(snap->dwarf_files);
	u64map_deinit(&snap->index);
	intern_deinit(&snap->strings);
	arena_deinit(&snap->mem);
	memset(snap, 0, sizeof(*snap));
}

/* Drop what a walk recorded, keeping what describes the target (layout,
 * debug files, kind, pid), for a walk again. */
void snapshot_restart(struct snapshot *snap)
{
	struct snapshot keep = *snap;
	snap->dwarf_files = NULL;
	snapshot_deinit(snap);
	snap->layout = keep.layout;
	snap->dwarf_files = keep.dwarf_files;
	snap->kind = keep.kind;
	snap->runtime_how = keep.runtime_how;
	snap->pid = keep.pid;
}

void snapshot_nomem(struct snapshot *snap, const char *what)
{
	if (!snap->nomem)
		snap->nomem = what;
}

#define MAX_WARNINGS 1000u

static void snapshot_vwarn(struct snapshot *snap, enum pyag_warning_code code,
			   uint64_t address, const char *fmt, va_list ap)
{
	if (snap->nwarnings >= MAX_WARNINGS) {
		snap->warnings_dropped++;
		return;
	}
	if (snap->nwarnings == snap->cap_warnings) {
		size_t cap = snap->cap_warnings ? snap->cap_warnings * 2 : 8;
		struct warning_rec *w = realloc(snap->warnings, cap * sizeof(*w));
		if (!w) {
			snapshot_nomem(snap, "warnings");
			return;
		}
		snap->warnings = w;
		snap->cap_warnings = cap;
	}
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0) {
		snapshot_nomem(snap, "warnings");
		return;
	}
	snap->warnings[snap->nwarnings++] = (struct warning_rec){ code, address, msg };
}

void snapshot_warn_at(struct snapshot *snap, enum pyag_warning_code code,
		      uint64_t address, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	snapshot_vwarn(snap, code, address, fmt, ap);
	va_end(ap);
}

void snapshot_warn(struct snapshot *snap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	snapshot_vwarn(snap, PYAG_WARNING_LAYOUT, 0, fmt, ap);
	va_end(ap);
}

long snapshot_find(const struct snapshot *snap, uint64_t addr)
{
	uint32_t v;
	return u64map_get(&snap->index, addr, &v) ? (long)v : -1;
}

long snapshot_awaiter(const struct snapshot *snap, const struct task_rec *t,
		      uint32_t k)
{
	if (t->awaited_idx)
		return t->awaited_idx[k];
	return snapshot_find(snap, t->awaited_by[k]);
}

struct task_rec *snapshot_add_task(struct snapshot *snap, uint64_t addr)
{
	if (snap->ntasks == snap->cap_tasks) {
		size_t cap = snap->cap_tasks ? snap->cap_tasks * 2 : 64;
		struct task_rec *t = realloc(snap->tasks, cap * sizeof(*t));
		if (!t) {
			snapshot_nomem(snap, "task records");
			return NULL;
		}
		snap->tasks = t;
		snap->cap_tasks = cap;
	}
	if (!u64map_put(&snap->index, addr, (uint32_t)snap->ntasks)) {
		snapshot_nomem(snap, "the task index");
		return NULL;
	}
	struct task_rec *t = &snap->tasks[snap->ntasks++];
	memset(t, 0, sizeof(*t));
	t->addr = addr;
	return t;
}

const char *snapshot_intern(struct snapshot *snap, const char *s, size_t n)
{
	const char *r = intern_get(&snap->strings, s, n);
	if (!r)
		snapshot_nomem(snap, "names");
	return r;
}

static struct thread_rec *snapshot_add_thread(struct snapshot *snap)
{
	if (snap->nthreads == snap->cap_threads) {
		size_t cap = snap->cap_threads ? snap->cap_threads * 2 : 8;
		struct thread_rec *t = realloc(snap->threads, cap * sizeof(*t));
		if (!t) {
			snapshot_nomem(snap, "thread records");
			return NULL;
		}
		snap->threads = t;
		snap->cap_threads = cap;
	}
	struct thread_rec *t = &snap->threads[snap->nthreads++];
	memset(t, 0, sizeof(*t));
	return t;
}

/* ---- small readers --------------------------------------------------------- */

/* A warning "CONTEXT: what went wrong" about the object at addr, from err
 * (consumed). Running out of memory is no warning: the walk then fails. */
static void warn_error(struct walker *w, uint64_t addr, struct pyag_error *err,
		       const char *fmt, ...) PRINTF_LIKE(4, 5);
static void warn_error(struct walker *w, uint64_t addr, struct pyag_error *err,
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

static uint64_t get_u64(const uint8_t *buf, uint64_t off)
{
	uint64_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static int32_t get_i32(const uint8_t *buf, uint64_t off)
{
	int32_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static struct pyag_error *read_struct(struct walker *w, uint64_t addr,
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

static enum type_kind object_kind(struct walker *w, uint64_t obj)
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
static struct pyag_error *read_str(struct walker *w, uint64_t obj,
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
static struct pyag_error *read_int(struct walker *w, uint64_t obj,
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

static struct code_info *code_lookup(struct walker *w, uint64_t code)
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
static bool frame_from_bytes(struct walker *w, const uint8_t *buf,
			     uint8_t kind, struct frame_rec *ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t code = get_u64(buf, l->frame_executable) & ~l->stackref_tag_mask;
	if (!code || object_kind(w, code) != TYPE_CODE)
		return false;
	struct code_info *ci = code_lookup(w, code);
	if (!ci || !ci->ok)
		return false;
	uint64_t ip = get_u64(buf, l->frame_instr_ptr);
	uint64_t base = code + l->code_code_adaptive;
	if (l->free_threaded && l->code_tlbc && l->frame_tlbc_index) {
		/* thread-local bytecode: co_tlbc->entries[tlbc_index] */
		int32_t idx = get_i32(buf, l->frame_tlbc_index);
		uint64_t tlbc, entry;
		if (idx > 0 &&
		    reader_try_read(w->r, code + l->code_tlbc, &tlbc, 8) && tlbc &&
		    reader_try_read(w->r, tlbc + l->code_array_entries + 8 * (uint64_t)idx,
				    &entry, 8) && entry)
			base = entry;
	}
	int32_t line;
	if (ip < base)
		line = ci->firstlineno;
	else
		line = code_line(ci, (ip - base) / l->code_unit_size);
	ret->function = ci->qualname;
	ret->filename = ci->filename;
	ret->line = line;
	ret->kind = kind;
	return true;
}

/* Growing list of frames, copied into the snapshot's arena at the end. */
struct frame_list {
	struct frame_rec *v;
	size_t n, cap;
	struct snapshot *snap;  /* told when memory runs out */
};

static bool frame_list_push(struct frame_list *fl, const struct frame_rec *f)
{
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 16;
		struct frame_rec *v = realloc(fl->v, cap * sizeof(*v));
		if (!v) {
			snapshot_nomem(fl->snap, "call stacks");
			return false;
		}
		fl->v = v;
		fl->cap = cap;
	}
	fl->v[fl->n++] = *f;
	return true;
}

static void frame_list_commit(struct walker *w, struct frame_list *fl,
			      struct task_rec *t)
{
	t->nframes = 0;
	t->frames = NULL;
	if (fl->n) {
		t->frames = arena_alloc(&w->snap->mem, fl->n * sizeof(*fl->v));
		if (t->frames) {
			memcpy(t->frames, fl->v, fl->n * sizeof(*fl->v));
			t->nframes = (uint32_t)fl->n;
		} else {
			snapshot_nomem(w->snap, "call stacks");
		}
	}
	free(fl->v);
	*fl = (struct frame_list){ .snap = fl->snap };
}

/*
 * The coroutine chain of a suspended task: from its coroutine, follow the
 * awaited object (on the suspended frame's value stack) while it is a
 * coroutine, as asyncio.capture_call_graph() follows cr_await; then, as
 * CPython's ps/pstree do, on through async generators (an `async for` or
 * anext() awaits an asend object that leads to its generator). Outermost
 * first here; *ncapture_ret counts the frames before the first asend.
 */
static void walk_coro_chain(struct walker *w, uint64_t coro, struct task_rec *t,
			    struct frame_list *fl, uint32_t *ncapture_ret)
{
	const struct pyag_layout *l = w->l;
	uint8_t gen[MAX_STRUCT_READ];
	uint64_t gsize = l->gen_iframe + l->frame_size;
	uint64_t obj = coro;
	bool through_asend = false;
	*ncapture_ret = 0;
	for (size_t depth = 0; obj; depth++) {
		if (!through_asend)
			*ncapture_ret = (uint32_t)fl->n;
		if (depth >= w->lim->max_frames) {
			snapshot_warn_at(w->snap, PYAG_WARNING_LIMIT, t->addr,
					 "task 0x%llx: coroutine chain longer than %zu, truncated",
					 (unsigned long long)t->addr, w->lim->max_frames);
			return;
		}
		enum type_kind kind = object_kind(w, obj);
		if (kind == TYPE_ASEND && l->asend_gen) {
			uint64_t agen;
			struct pyag_error *err = reader_read_u64(w->r, obj + l->asend_gen, &agen);
			if (err) {
				pyag_error_destroy(err);
				return;
			}
			if (!agen || agen == obj || object_kind(w, agen) != TYPE_ASYNC_GENERATOR)
				return;
			through_asend = true;
			obj = agen;
			continue;
		}
		if (kind != TYPE_COROUTINE &&
		    !(through_asend && kind == TYPE_ASYNC_GENERATOR))
			return;
		struct pyag_error *err = read_struct(w, obj, gen, gsize);
		if (err) {
			warn_error(w, obj, err, "task 0x%llx: coroutine 0x%llx",
				   (unsigned long long)t->addr, (unsigned long long)obj);
			return;
		}
		int8_t state = (int8_t)gen[l->gen_frame_state];
		const uint8_t *frame = gen + l->gen_iframe;
		if (state < l->frame_state_finished) {
			struct frame_rec f;
			enum frame_kind fk = kind == TYPE_COROUTINE ? FRAME_KIND_ASYNC
								   : FRAME_KIND_ASYNC_GENERATOR;
			if (frame_from_bytes(w, frame, fk, &f) && !frame_list_push(fl, &f))
				return;
		}
		if (state != l->frame_state_yield_from &&
		    state != l->frame_state_yield_from_locked)
			break;
		uint64_t sp = get_u64(frame, l->frame_stackpointer);
		uint64_t slot = 8 * (uint64_t)l->yield_from_slot;
		uint64_t next;
		/* the value stack lies inside the generator object, after its frame */
		if (!sp || sp < obj + l->gen_iframe + l->frame_size + slot - 8)
			break;
		err = reader_read_u64(w->r, sp - slot, &next);
		if (err) {
			pyag_error_destroy(err);
			break;
		}
		next &= ~l->stackref_tag_mask;
		if (next == obj)
			break;
		obj = next;
	}
	if (!through_asend)
		*ncapture_ret = (uint32_t)fl->n;
}

static enum frame_kind generator_frame_kind(struct walker *w, uint64_t frame_addr)
{
	switch (object_kind(w, frame_addr - w->l->gen_iframe)) {
	case TYPE_COROUTINE:
		return FRAME_KIND_ASYNC;
	case TYPE_ASYNC_GENERATOR:
		return FRAME_KIND_ASYNC_GENERATOR;
	case TYPE_GENERATOR:
		return FRAME_KIND_GENERATOR;
	default:
		return FRAME_KIND_PLAIN;
	}
}

/*
 * The real frames of the task running on a thread, top first, down to the
 * outermost coroutine frame of the task (the one whose caller is not a
 * generator frame), as capture_call_graph() does for the current task.
 */
static void walk_thread_frames(struct walker *w, uint64_t frame_addr,
			       struct task_rec *t, struct frame_list *fl)
{
	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	bool stop_after_async = false;
	for (size_t n = 0; frame_addr; n++) {
		if (n >= w->lim->max_frames) {
			snapshot_warn_at(w->snap, PYAG_WARNING_LIMIT, t->addr,
					 "thread stack deeper than %zu frames, truncated",
					 w->lim->max_frames);
			return;
		}
		struct pyag_error *err = read_struct(w, frame_addr, buf, l->frame_size);
		if (err) {
			warn_error(w, frame_addr, err, "task 0x%llx: frame 0x%llx",
				   (unsigned long long)t->addr, (unsigned long long)frame_addr);
			return;
		}
		int owner = (int8_t)buf[l->frame_owner];
		uint64_t prev = get_u64(buf, l->frame_previous);
		if (owner >= l->owner_first_incomplete) {
			frame_addr = prev;  /* a shim frame of the C stack */
			continue;
		}
		bool gen_owned = owner == l->owner_generator;
		if (stop_after_async && !gen_owned)
			return;
		stop_after_async = false;
		enum frame_kind kind = gen_owned ? generator_frame_kind(w, frame_addr)
						 : FRAME_KIND_PLAIN;
		struct frame_rec f;
		if (frame_from_bytes(w, buf, kind, &f)) {
			if (!frame_list_push(fl, &f))
				return;
			if (kind == FRAME_KIND_ASYNC || kind == FRAME_KIND_ASYNC_GENERATOR)
				stop_after_async = true;
		}
		frame_addr = prev;
	}
}

/* ---- tasks ----------------------------------------------------------------- */

static void read_awaited_by(struct walker *w, struct task_rec *t,
			    uint64_t awaited_by, bool is_set)
{
	const struct pyag_layout *l = w->l;
	if (!awaited_by)
		return;
	if (!is_set) {
		t->awaited_by = arena_alloc(&w->snap->mem, sizeof(uint64_t));
		if (t->awaited_by) {
			t->awaited_by[0] = awaited_by;
			t->nawaited_by = 1;
		} else {
			snapshot_nomem(w->snap, "awaited-by edges");
		}
		return;
	}
	uint8_t set[MAX_STRUCT_READ];
	uint64_t ssize = l->set_mask + 8;
	if (l->set_table + 8 > ssize)
		ssize = l->set_table + 8;
	if (l->set_used + 8 > ssize)
		ssize = l->set_used + 8;
	struct pyag_error *err = read_struct(w, awaited_by, set, ssize);
	if (err) {
		warn_error(w, awaited_by, err, "task 0x%llx: awaited-by set",
			   (unsigned long long)t->addr);
		return;
	}
	uint64_t mask = get_u64(set, l->set_mask);
	uint64_t table = get_u64(set, l->set_table);
	uint64_t used = get_u64(set, l->set_used);
	if (mask >= w->lim->max_set || ((mask + 1) & mask) != 0 || used > mask + 1) {
		snapshot_warn_at(w->snap, PYAG_WARNING_CORRUPT, awaited_by,
			      "task 0x%llx: awaited-by set 0x%llx is "
			      "corrupt (mask %llu, used %llu)",
			      (unsigned long long)t->addr,
			      (unsigned long long)awaited_by,
			      (unsigned long long)mask, (unsigned long long)used);
		return;
	}
	size_t nslots = (size_t)mask + 1, esize = l->set_entry_size;
	uint8_t *entries = malloc(nslots * esize);
	if (!entries) {
		snapshot_nomem(w->snap, "awaited-by edges");
		return;
	}
	err = pyag_reader_read(w->r, table, entries, nslots * esize);
	if (err) {
		warn_error(w, awaited_by, err, "task 0x%llx: awaited-by set table",
			   (unsigned long long)t->addr);
		free(entries);
		return;
	}
	t->awaited_by = arena_alloc(&w->snap->mem, (used ? used : 1) * sizeof(uint64_t));
	if (!t->awaited_by)
		snapshot_nomem(w->snap, "awaited-by edges");
	if (t->awaited_by) {
		/* slot order: the order Python iterates the set */
		for (size_t i = 0; i < nslots && t->nawaited_by < used; i++) {
			uint64_t key = get_u64(entries + i * esize, l->set_entry_key);
			int64_t hash = (int64_t)get_u64(entries + i * esize,
							l->set_entry_hash);
			if (!key || hash == -1)
				continue;  /* empty or deleted (dummy) slot */
			t->awaited_by[t->nawaited_by++] = key;
		}
	}
	free(entries);
}

static void read_task_name(struct walker *w, struct task_rec *t, uint64_t name)
{
	if (!name) {
		t->name = snapshot_intern(w->snap, "", 0);
		return;
	}
	enum type_kind kind = object_kind(w, name);
	struct pyag_error *err = NULL;
	if (kind == TYPE_STR) {
		err = read_str(w, name, &t->name);
	} else if (kind == TYPE_INT) {
		uint64_t n = 0;
		bool neg = false;
		err = read_int(w, name, &n, &neg);
		if (!err) {
			char buf[32];
			int len = snprintf(buf, sizeof(buf), "Task-%s%llu", neg ? "-" : "",
					   (unsigned long long)n);
			t->name = snapshot_intern(w->snap, buf, (size_t)len);
		}
	} else {
		err = pyag_error_create(PYAG_ERROR_CORRUPT,
					"name 0x%llx is neither str nor int",
					(unsigned long long)name);
	}
	if (err) {
		warn_error(w, t->addr, err, "task 0x%llx", (unsigned long long)t->addr);
	}
	if (!t->name)
		t->name = snapshot_intern(w->snap, "?", 1);
}

/*
 * Read a task or future at addr into a new record. Futures share the
 * awaited-by fields of tasks (same FutureObj header).
 */
static struct task_rec *read_future(struct walker *w, uint64_t addr,
				    bool listed, int64_t interp,
				    uint64_t native_thread_id)
{
	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	/* A plain future is smaller than a task: read its header first. */
	uint64_t fsize = l->task_awaited_by + 8;
	if (l->task_is_task + 1 > fsize)
		fsize = l->task_is_task + 1;
	if (l->task_awaited_by_is_set + 1 > fsize)
		fsize = l->task_awaited_by_is_set + 1;
	struct pyag_error *err = read_struct(w, addr, buf, fsize);
	if (err) {
		warn_error(w, addr, err, "task 0x%llx", (unsigned long long)addr);
		return NULL;
	}
	bool is_task = buf[l->task_is_task] != 0;
	if (is_task) {
		err = read_struct(w, addr, buf, l->task_size);
		if (err) {
			warn_error(w, addr, err, "task 0x%llx", (unsigned long long)addr);
			return NULL;
		}
	}
	struct task_rec *t = snapshot_add_task(w->snap, addr);
	if (!t)
		return NULL;
	t->is_task = is_task;
	t->listed = listed;
	t->interp_id = interp;
	t->native_thread_id = native_thread_id;
	uint64_t awaited_by = get_u64(buf, l->task_awaited_by);
	bool is_set = buf[l->task_awaited_by_is_set] != 0;
	if (is_task) {
		uint64_t name = get_u64(buf, l->task_name);
		uint64_t coro = get_u64(buf, l->task_coro);
		/* t may move when records are added: work by index */
		size_t idx = (size_t)(t - w->snap->tasks);
		read_task_name(w, t, name);
		struct frame_list fl = { .snap = w->snap };
		uint32_t ncapture = 0;
		if (coro)
			walk_coro_chain(w, coro, &w->snap->tasks[idx], &fl, &ncapture);
		t = &w->snap->tasks[idx];
		/* innermost first, as format_call_graph prints */
		for (size_t i = 0; i < fl.n / 2; i++) {
			struct frame_rec tmp = fl.v[i];
			fl.v[i] = fl.v[fl.n - 1 - i];
			fl.v[fl.n - 1 - i] = tmp;
		}
		frame_list_commit(w, &fl, t);
		t->ncapture = t->nframes ? ncapture : 0;
	}
	read_awaited_by(w, t, awaited_by, is_set);
	return t;
}

/* Walk one circular task list whose head node is at head. */
static void walk_task_list(struct walker *w, uint64_t head, int64_t interp,
			   uint64_t native_thread_id, const char *what)
{
	const struct pyag_layout *l = w->l;
	uint64_t node;
	struct pyag_error *err = reader_read_u64(w->r, head + l->llist_next, &node);
	size_t n = 0;
	/* Brent's cycle detection: a loop is found even through nodes whose
	 * tasks cannot be read (and so are never recorded) */
	uint64_t mark = head, steps = 0, power = 1;
	while (!err && node != head) {
		if (!node) {
			snapshot_warn_at(w->snap, PYAG_WARNING_CORRUPT, head,
					 "%s: task list broken (NULL link after "
				      "%zu tasks)", what, n);
			return;
		}
		if (w->snap->ntasks >= w->lim->max_tasks || n >= w->lim->max_tasks) {
			snapshot_warn_at(w->snap, PYAG_WARNING_LIMIT, head,
					 "%s: more than %zu tasks, stopped",
				      what, w->lim->max_tasks);
			return;
		}
		uint64_t task = node - l->task_node;
		if (node == mark || snapshot_find(w->snap, task) >= 0) {
			snapshot_warn_at(w->snap, PYAG_WARNING_CORRUPT, task,
					 "%s: task list loops back to task "
				      "0x%llx, stopped", what, (unsigned long long)task);
			return;
		}
		if (++steps == power) {
			mark = node;
			power *= 2;
			steps = 0;
		}
		read_future(w, task, true, interp, native_thread_id);
		n++;
		err = reader_read_u64(w->r, node + l->llist_next, &node);
	}
	if (err) {
		warn_error(w, head, err, "%s: task list", what);
	}
}

/* Add records for awaiters that are in no list: futures (gather, shield,
 * future_add_to_awaited_by) and tasks of lists we could not read. */
static void walk_awaiters(struct walker *w)
{
	struct snapshot *snap = w->snap;
	bool full = false;
	for (size_t i = 0; i < snap->ntasks; i++) {
		uint32_t n = snap->tasks[i].nawaited_by;
		if (!n)
			continue;
		/* each awaiter is looked up once, here, for every later user */
		int32_t *idx = arena_alloc(&snap->mem, n * sizeof(*idx));
		if (!idx)
			snapshot_nomem(snap, "awaited-by edges");
		for (uint32_t k = 0; k < n; k++) {
			uint64_t a = snap->tasks[i].awaited_by[k];
			long p = snapshot_find(snap, a);
			if (p < 0 && !full && snap->ntasks >= w->lim->max_tasks) {
				snapshot_warn_at(snap, PYAG_WARNING_LIMIT, 0,
						 "more than %zu tasks and futures, "
					      "awaiters not followed", w->lim->max_tasks);
				full = true;
			}
			if (p < 0 && !full) {
				struct task_rec *f = read_future(w, a, false,
								 snap->tasks[i].interp_id,
								 snap->tasks[i].native_thread_id);
				if (f)
					p = f - snap->tasks;
			}
			if (idx)
				idx[k] = (int32_t)p;
		}
		snap->tasks[i].awaited_idx = idx;
	}
}

static void walk_thread(struct walker *w, uint64_t tstate, int64_t interp)
{
	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	uint64_t size = l->have_asyncio ? l->athread_size : l->tstate_size;
	struct pyag_error *err = read_struct(w, tstate, buf, size);
	if (err) {
		warn_error(w, tstate, err, "thread state 0x%llx", (unsigned long long)tstate);
		return;
	}
	struct thread_rec *th = snapshot_add_thread(w->snap);
	if (!th)
		return;
	th->interp_id = interp;
	th->thread_id = get_u64(buf, l->tstate_thread_id);
	th->native_thread_id = get_u64(buf, l->tstate_native_thread_id);
	uint64_t native = th->native_thread_id;
	uint64_t running = get_u64(buf, l->athread_running_task);
	uint64_t current_frame = get_u64(buf, l->tstate_current_frame);
	th->running_task = running;
	char what[64];
	snprintf(what, sizeof(what), "thread %llu", (unsigned long long)native);
	walk_task_list(w, tstate + l->athread_tasks_head, interp, native, what);
	if (!running)
		return;
	long idx = snapshot_find(w->snap, running);
	struct task_rec *t = idx >= 0 ? &w->snap->tasks[idx]
				      : read_future(w, running, false, interp, native);
	if (!t)
		return;
	idx = t - w->snap->tasks;
	struct frame_list fl = { .snap = w->snap };
	walk_thread_frames(w, current_frame, t, &fl);
	t = &w->snap->tasks[idx];
	t->running = true;
	t->native_thread_id = native;
	frame_list_commit(w, &fl, t);
	t->ncapture = t->nframes;
}

struct pyag_error *walk_target(struct pyag_reader *r,
			       const struct pyag_layout *l,
			       uint64_t runtime_addr,
			       const struct walk_limits *lim,
			       struct snapshot *snap)
{
	struct walker w = { .r = r, .l = l, .lim = lim, .snap = snap };
	snap->layout = *l;
	uint64_t interp;
	struct pyag_error *err = reader_read_u64(
		r, runtime_addr + l->runtime_interpreters_head, &interp);
	if (err)
		return pyag_error_wrap(err, "interpreter list");
	if (!interp)
		err = pyag_error_create(PYAG_ERROR_NOT_PYTHON,
					"the interpreter is not initialised (or "
					"already finalised): no interpreter state");
	struct u64map seen = { 0 };
	for (size_t ni = 0; interp && !err; ni++) {
		uint32_t seen_before;
		if (ni >= lim->max_interpreters || u64map_get(&seen, interp, &seen_before)) {
			snapshot_warn_at(snap, PYAG_WARNING_CORRUPT, interp,
					 "interpreter list too long or looping");
			break;
		}
		if (!u64map_put(&seen, interp, 0)) {
			snapshot_nomem(snap, "the interpreter list");
			break;
		}
		uint8_t buf[64];
		int64_t id = 0;
		if (reader_try_read(r, interp + l->interp_id, buf, 8))
			memcpy(&id, buf, 8);
		uint64_t tstate, next;
		err = reader_read_u64(r, interp + l->interp_threads_head, &tstate);
		if (err) {
			err = pyag_error_wrap(err, "interpreter 0x%llx",
					      (unsigned long long)interp);
			break;
		}
		struct u64map seen_threads = { 0 };
		for (size_t nt = 0; tstate; nt++) {
			uint32_t dummy;
			if (nt >= lim->max_threads || u64map_get(&seen_threads, tstate, &dummy)) {
				snapshot_warn_at(snap, PYAG_WARNING_CORRUPT, tstate,
						 "interpreter %lld: thread list too "
					      "long or looping", (long long)id);
				break;
			}
			if (!u64map_put(&seen_threads, tstate, 0)) {
				snapshot_nomem(snap, "the thread list");
				break;
			}
			if (l->have_asyncio)
				walk_thread(&w, tstate, id);
			struct pyag_error *e = reader_read_u64(r, tstate + l->tstate_next, &tstate);
			if (e) {
				warn_error(&w, tstate, e, "thread list");
				break;
			}
		}
		u64map_deinit(&seen_threads);
		if (l->have_asyncio) {
			char what[64];
			snprintf(what, sizeof(what), "interpreter %lld", (long long)id);
			walk_task_list(&w, interp + l->ainterp_tasks_head, id, 0, what);
		}
		struct pyag_error *e = reader_read_u64(r, interp + l->interp_next, &next);
		if (e) {
			warn_error(&w, interp, e, "interpreter list");
			break;
		}
		interp = next;
	}
	u64map_deinit(&seen);
	if (!err && l->have_asyncio)
		walk_awaiters(&w);
	u64map_deinit(&w.types);
	u64map_deinit(&w.codes);
	free(w.code_infos);
	if (!err && snap->nomem)
		err = pyag_error_nomem(snap->nomem);
	return err;
}
