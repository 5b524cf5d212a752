#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

struct region {
	uint64_t addr;
	size_t size;
	uint8_t *data;
};

struct fake_mem {
	struct region *r;
	size_t n, cap;
	uint64_t next;
};

unsigned long fake_read_calls;

struct fake_mem *fake_create(void)
{
	struct fake_mem *m = calloc(1, sizeof(*m));
	m->next = 0x10000000;
	return m;
}

void fake_destroy(struct fake_mem *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->r[i].data);
	free(m->r);
	free(m);
}

uint64_t fake_alloc(struct fake_mem *m, size_t size)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->r = realloc(m->r, m->cap * sizeof(*m->r));
	}
	uint64_t a = m->next;
	m->r[m->n++] = (struct region){ a, size, calloc(1, size ? size : 1) };
	/* leave an unmapped gap after every object */
	m->next = (a + size + 0x1000 + 0xfff) & ~0xfffull;
	return a;
}

static uint8_t *locate(struct fake_mem *m, uint64_t addr, size_t n)
{
	for (size_t i = 0; i < m->n; i++) {
		struct region *r = &m->r[i];
		if (addr >= r->addr && addr - r->addr <= r->size &&
		    n <= r->size - (addr - r->addr))
			return r->data + (addr - r->addr);
	}
	return NULL;
}

void fake_write(struct fake_mem *m, uint64_t addr, const void *data, size_t n)
{
	uint8_t *p = locate(m, addr, n);
	if (!p)
		abort();  /* a bug in the test */
	memcpy(p, data, n);
}

void fake_w64(struct fake_mem *m, uint64_t a, uint64_t v) { fake_write(m, a, &v, 8); }
void fake_w32(struct fake_mem *m, uint64_t a, uint32_t v) { fake_write(m, a, &v, 4); }
void fake_w8(struct fake_mem *m, uint64_t a, uint8_t v) { fake_write(m, a, &v, 1); }

int fake_read(void *arg, uint64_t addr, void *buf, size_t size)
{
	struct fake_mem *m = arg;
	fake_read_calls++;
	/* reads may span several regions only if contiguous: page reads of the
	 * cache cover gaps, so serve byte ranges piecewise */
	uint8_t *out = buf;
	while (size) {
		size_t best = 0;
		uint8_t *p = NULL;
		for (size_t i = 0; i < m->n; i++) {
			struct region *r = &m->r[i];
			if (addr >= r->addr && addr < r->addr + r->size) {
				p = r->data + (addr - r->addr);
				best = r->size - (addr - r->addr);
				break;
			}
		}
		if (!p) {
			/* the page of an object is readable (zeros) up to the gap */
			uint64_t page = addr & ~0xfffull;
			bool mapped = false;
			for (size_t i = 0; i < m->n && !mapped; i++) {
				struct region *r = &m->r[i];
				uint64_t first = r->addr & ~0xfffull;
				uint64_t last = (r->addr + r->size + 0xfff) & ~0xfffull;
				mapped = page >= first && page < last;
			}
			if (!mapped)
				return -1;
			*out++ = 0;
			addr++;
			size--;
			continue;
		}
		size_t n = best < size ? best : size;
		memcpy(out, p, n);
		out += n;
		addr += n;
		size -= n;
	}
	return 0;
}

/* ---- the interpreter ---- */

/* The offsets of the synthetic interpreter: 3.14.10's (but for
 * interpreters.head), whatever the version: the image is made up. Where
 * the debug offsets publish them is the version's column of the table, and
 * so are the constants. */
static void synthetic_layout(struct pyag_layout *l, uint64_t version)
{
	*l = (struct pyag_layout){
		.version = version, .source = "debug-offsets", .have_asyncio = true,
		/* (interpreters.head: after the debug offsets of any version) */
		.runtime_size = 316616, .runtime_interpreters_head = 1016,
		.interp_size = 225864, .interp_id = 7280, .interp_next = 7272,
		.interp_threads_head = 7344, .interp_modules = 7400,
		.tstate_size = 832, .tstate_next = 8, .tstate_interp = 16,
		.tstate_holds_gil = 36, .tstate_gil_requested = 40, .tstate_state = 44,
		.tstate_current_frame = 72, .tstate_thread_id = 152,
		.tstate_native_thread_id = 160,
		.frame_size = 88, .frame_previous = 8, .frame_executable = 0,
		.frame_instr_ptr = 56, .frame_owner = 74, .frame_stackpointer = 64,
		.code_size = 216, .code_filename = 112, .code_name = 120,
		.code_qualname = 128, .code_linetable = 136, .code_firstlineno = 68,
		.code_code_adaptive = 208,
		.obj_type = 8, .type_size = 416, .type_name = 24, .type_flags = 168,
		.tuple_size = 40, .tuple_item = 32, .tuple_ob_size = 16,
		.list_size = 40, .list_item = 24, .list_ob_size = 16,
		.frame_localsplus = 80, .code_localsplusnames = 96,
		.code_localspluskinds = 104,
		.set_size = 200, .set_used = 24, .set_table = 40, .set_mask = 32,
		.dict_size = 48, .dict_keys = 32, .dict_values = 40,
		.type_basicsize = 32, .type_dictoffset = 288,
		.long_size = 32, .long_tag = 16, .long_digit = 24,
		.bytes_size = 40, .bytes_ob_size = 16, .bytes_sval = 32,
		.unicode_size = 64, .unicode_state = 32, .unicode_length = 16,
		.unicode_ascii_size = 40, .unicode_compact_size = 56,
		.gen_size = 160, .gen_iframe = 72, .gen_frame_state = 67,
		.llist_next = 0, .llist_prev = 8,
		.task_size = 168, .task_name = 136, .task_awaited_by = 96,
		.task_is_task = 108, .task_awaited_by_is_set = 109,
		.task_coro = 128, .task_node = 152,
		.ainterp_size = 225864, .ainterp_tasks_head = 7000,
		.athread_size = 936, .athread_running_loop = 864,
		.athread_running_task = 872, .athread_tasks_head = 880,
	};
	int column = layout_version_index(version);
	if (column < 0)
		abort();  /* a bug in the test */
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		if (f->cells[column].kind == LAYOUT_CELL_CONST)
			layout_field_set(l, f, layout_cell_const(&f->cells[column], false));
		/* an optional field the version does not publish: none */
		if (f->cells[column].kind == LAYOUT_CELL_ABSENT && (f->flags & LF_OPTIONAL))
			layout_field_set(l, f, 0);
	}
}

uint64_t fake_version(size_t column)
{
	return 0x030000f0ull | (uint64_t)layout_versions[column].minor << 16;
}

uint64_t fake_debug_pos(const struct fake_py *py, unsigned field)
{
	int column = layout_version_index(py->version);
	const struct layout_cell *c = &layout_fields[field].cells[column];
	if (c->kind == LAYOUT_CELL_DEBUG)
		return py->runtime + (uint64_t)c->value;
	if (c->kind == LAYOUT_CELL_ASYNCIO)
		return py->asyncio_debug + (uint64_t)c->value;
	abort();  /* not published by this version */
}

static uint64_t make_type(struct fake_py *py, const char *name, uint64_t flags)
{
	uint64_t t = fake_alloc(py->m, py->l.type_size);
	uint64_t s = fake_alloc(py->m, strlen(name) + 1);
	fake_write(py->m, s, name, strlen(name) + 1);
	fake_w64(py->m, t + py->l.type_name, s);
	fake_w64(py->m, t + py->l.type_flags, flags);
	return t;
}

void fake_py_init(struct fake_py *py, uint64_t version)
{
	memset(py, 0, sizeof(*py));
	py->m = fake_create();
	py->version = version;
	synthetic_layout(&py->l, version);
	const struct pyag_layout *l = &py->l;
	const struct layout_version *v = &layout_versions[layout_version_index(version)];
	/* the debug offsets: each field at its position in this version */
	uint8_t raw[4096] = { 0 }, araw[256] = { 0 };
	memcpy(raw, "xdebugpy", 8);
	memcpy(raw + 8, &version, 8);
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		const struct layout_cell *c = &f->cells[layout_version_index(version)];
		uint64_t val = (uint64_t)layout_field_get(l, f);
		if (c->kind == LAYOUT_CELL_DEBUG)
			memcpy(raw + c->value, &val, 8);
		else if (c->kind == LAYOUT_CELL_ASYNCIO)
			memcpy(araw + c->value, &val, 8);
	}
	py->runtime = fake_alloc(py->m, 1024);
	fake_write(py->m, py->runtime, raw, v->debug_offsets_size);
	py->asyncio_debug = fake_alloc(py->m, v->asyncio_debug_size);
	fake_write(py->m, py->asyncio_debug, araw, v->asyncio_debug_size);
	py->interp = fake_alloc(py->m, 8192);
	py->tstate = fake_alloc(py->m, l->athread_size);
	fake_w64(py->m, py->runtime + l->runtime_interpreters_head, py->interp);
	fake_w64(py->m, py->interp + l->interp_threads_head, py->tstate);
	fake_w64(py->m, py->interp + l->interp_id, 0);
	fake_w64(py->m, py->tstate + l->tstate_thread_id, 0x7f0011223344ull);
	fake_w64(py->m, py->tstate + l->tstate_native_thread_id, 4242);
	fake_w64(py->m, py->tstate + l->tstate_interp, py->interp);
	/* empty circular lists */
	uint64_t th = py->tstate + l->athread_tasks_head;
	uint64_t ih = py->interp + l->ainterp_tasks_head;
	fake_w64(py->m, th + l->llist_next, th);
	fake_w64(py->m, th + l->llist_prev, th);
	fake_w64(py->m, ih + l->llist_next, ih);
	fake_w64(py->m, ih + l->llist_prev, ih);
	py->type_str = make_type(py, "str", l->type_flag_str);
	py->type_int = make_type(py, "int", l->type_flag_long);
	py->type_coro = make_type(py, "coroutine", 0);
	py->type_gen = make_type(py, "generator", 0);
	py->type_code = make_type(py, "code", 0);
	py->type_bytes = make_type(py, "bytes", 1ull << 27);
	py->type_task = make_type(py, "_asyncio.Task", 0);
	py->type_future = make_type(py, "_asyncio.Future", 0);
	py->type_set = make_type(py, "set", 0);
}

void fake_py_deinit(struct fake_py *py)
{
	fake_destroy(py->m);
	memset(py, 0, sizeof(*py));
}

static uint64_t new_object(struct fake_py *py, uint64_t type, size_t size)
{
	uint64_t o = fake_alloc(py->m, size);
	fake_w64(py->m, o, 1);  /* refcount */
	fake_w64(py->m, o + py->l.obj_type, type);
	return o;
}

uint64_t fake_str(struct fake_py *py, const uint32_t *cps, size_t n, int kind)
{
	const struct pyag_layout *l = &py->l;
	bool ascii = kind == 1;
	for (size_t i = 0; i < n && ascii; i++)
		ascii = cps[i] < 0x80;
	size_t hdr = ascii ? l->unicode_ascii_size : l->unicode_compact_size;
	uint64_t o = new_object(py, py->type_str, hdr + (n + 1) * (size_t)kind);
	fake_w64(py->m, o + l->unicode_length, n);
	/* interned 0, kind, compact 1, ascii */
	uint32_t state = ((uint32_t)kind << l->unicode_kind_shift) |
			 (1u << l->unicode_compact_bit) |
			 (ascii ? 1u << l->unicode_ascii_bit : 0);
	fake_w32(py->m, o + l->unicode_state, state);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = o + hdr + i * (size_t)kind;
		if (kind == 1)
			fake_w8(py->m, a, (uint8_t)cps[i]);
		else if (kind == 2) {
			uint16_t u = (uint16_t)cps[i];
			fake_write(py->m, a, &u, 2);
		} else
			fake_w32(py->m, a, cps[i]);
	}
	return o;
}

uint64_t fake_ascii(struct fake_py *py, const char *s)
{
	size_t n = strlen(s);
	uint32_t *cps = malloc((n + 1) * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		cps[i] = (unsigned char)s[i];
	uint64_t o = fake_str(py, cps, n, 1);
	free(cps);
	return o;
}

uint64_t fake_int(struct fake_py *py, uint64_t v)
{
	const struct pyag_layout *l = &py->l;
	uint64_t mask = (1ull << l->long_digit_shift) - 1;
	unsigned nd = 0;
	for (uint64_t x = v; x; x >>= l->long_digit_shift)
		nd++;
	uint64_t o = new_object(py, py->type_int, l->long_size + 16);
	/* sign: 0 positive, 1 zero */
	fake_w64(py->m, o + l->long_tag,
		 ((uint64_t)nd << l->long_ndigits_shift) | (v == 0 ? 1 : 0));
	for (unsigned i = 0; i < nd; i++) {
		uint32_t d = (uint32_t)((v >> (i * l->long_digit_shift)) & mask);
		fake_write(py->m, o + l->long_digit + i * l->long_digit_size, &d,
			   l->long_digit_size);
	}
	return o;
}

uint64_t fake_bytes(struct fake_py *py, const uint8_t *b, size_t n)
{
	uint64_t o = new_object(py, py->type_bytes, py->l.bytes_sval + n + 1);
	fake_w64(py->m, o + py->l.bytes_ob_size, n);
	if (n)
		fake_write(py->m, o + py->l.bytes_sval, b, n);
	return o;
}

uint64_t fake_code(struct fake_py *py, const char *qualname, const char *filename,
		   int firstlineno, unsigned nunits)
{
	const struct pyag_layout *l = &py->l;
	/* entry per code unit: code 13 (no column), length 1, line delta
	 * +0 for the first, +1 after: svarint(+1) = 2 */
	uint8_t *lt = malloc(nunits * 2);
	for (unsigned k = 0; k < nunits; k++) {
		lt[2 * k] = 0x80 | (13 << 3) | 0;
		lt[2 * k + 1] = k == 0 ? 0 : 2;
	}
	uint64_t ltb = fake_bytes(py, lt, nunits * 2);
	free(lt);
	uint64_t o = new_object(py, py->type_code,
				l->code_size + nunits * l->code_unit_size);
	fake_w64(py->m, o + l->code_qualname, fake_ascii(py, qualname));
	fake_w64(py->m, o + l->code_name, fake_ascii(py, qualname));
	fake_w64(py->m, o + l->code_filename, fake_ascii(py, filename));
	fake_w64(py->m, o + l->code_linetable, ltb);
	fake_w32(py->m, o + l->code_firstlineno, (uint32_t)firstlineno);
	return o;
}

static uint64_t code_unit_addr(const struct fake_py *py, uint64_t code, unsigned unit)
{
	return code + py->l.code_code_adaptive + (uint64_t)unit * py->l.code_unit_size;
}

uint64_t fake_coro(struct fake_py *py, uint64_t code, unsigned unit, uint64_t awaited)
{
	const struct pyag_layout *l = &py->l;
	uint64_t o = new_object(py, py->type_coro, l->gen_size + 64);
	uint64_t f = o + l->gen_iframe;
	fake_w64(py->m, f + l->frame_executable, code | 1);  /* a tagged stack reference */
	fake_w64(py->m, f + l->frame_instr_ptr, code_unit_addr(py, code, unit));
	fake_w8(py->m, f + l->frame_owner, (uint8_t)l->owner_generator);
	/* localsplus[0] is the frame's last word; the value stack follows */
	uint64_t stack = f + l->frame_size - 8;
	if (awaited) {
		/* the awaited object yield_from_slot slots below the top (the
		 * slots above it stay NULL) */
		fake_w64(py->m, stack, awaited);
		fake_w64(py->m, f + l->frame_stackpointer, stack + 8 * l->yield_from_slot);
		fake_w8(py->m, o + l->gen_frame_state, (uint8_t)l->frame_state_yield_from);
	} else {
		fake_w64(py->m, f + l->frame_stackpointer, stack);
		/* SUSPENDED: the state below SUSPENDED_YIELD_FROM */
		fake_w8(py->m, o + l->gen_frame_state,
			(uint8_t)(l->frame_state_yield_from - 1));
	}
	return o;
}

uint64_t fake_task(struct fake_py *py, uint64_t name, uint64_t coro, int is_task)
{
	const struct pyag_layout *l = &py->l;
	uint64_t o = new_object(py, is_task ? py->type_task : py->type_future,
				is_task ? l->task_size : 112);
	fake_w8(py->m, o + l->task_is_task, (uint8_t)is_task);
	if (is_task) {
		fake_w64(py->m, o + l->task_name, name);
		fake_w64(py->m, o + l->task_coro, coro);
	}
	return o;
}

void fake_awaited_by_one(struct fake_py *py, uint64_t task, uint64_t awaiter)
{
	fake_w64(py->m, task + py->l.task_awaited_by, awaiter);
	fake_w8(py->m, task + py->l.task_awaited_by_is_set, 0);
}

void fake_awaited_by_set(struct fake_py *py, uint64_t task, const uint64_t *slots,
			 size_t nslots)
{
	const struct pyag_layout *l = &py->l;
	uint64_t set = new_object(py, py->type_set, l->set_size);
	size_t esize = l->set_entry_size;
	uint64_t table = fake_alloc(py->m, nslots * esize);
	uint64_t dummy = new_object(py, py->type_str, 64);
	size_t used = 0;
	for (size_t i = 0; i < nslots; i++) {
		uint64_t e = table + esize * i;
		if (!slots[i])
			continue;
		if (slots[i] == 1) {
			fake_w64(py->m, e + l->set_entry_key, dummy);
			fake_w64(py->m, e + l->set_entry_hash, (uint64_t)-1);
		} else {
			fake_w64(py->m, e + l->set_entry_key, slots[i]);
			fake_w64(py->m, e + l->set_entry_hash, slots[i] >> 4);
			used++;
		}
	}
	fake_w64(py->m, set + l->set_used, used);
	fake_w64(py->m, set + l->set_mask, nslots - 1);
	fake_w64(py->m, set + l->set_table, table);
	fake_w64(py->m, task + l->task_awaited_by, set);
	fake_w8(py->m, task + l->task_awaited_by_is_set, 1);
}

static void link_list(struct fake_py *py, uint64_t head, const uint64_t *tasks, size_t n)
{
	const struct pyag_layout *l = &py->l;
	uint64_t prev = head;
	for (size_t i = 0; i < n; i++) {
		uint64_t node = tasks[i] + l->task_node;
		fake_w64(py->m, prev + l->llist_next, node);
		fake_w64(py->m, node + l->llist_prev, prev);
		prev = node;
	}
	fake_w64(py->m, prev + l->llist_next, head);
	fake_w64(py->m, head + l->llist_prev, prev);
}

void fake_thread_tasks(struct fake_py *py, const uint64_t *tasks, size_t n)
{
	link_list(py, py->tstate + py->l.athread_tasks_head, tasks, n);
}

void fake_interp_tasks(struct fake_py *py, const uint64_t *tasks, size_t n)
{
	link_list(py, py->interp + py->l.ainterp_tasks_head, tasks, n);
}

uint64_t fake_frame(struct fake_py *py, uint64_t code, unsigned unit, int owner,
		    uint64_t previous)
{
	const struct pyag_layout *l = &py->l;
	uint64_t f = fake_alloc(py->m, l->frame_size);
	fake_w64(py->m, f + l->frame_executable, code);
	fake_w64(py->m, f + l->frame_instr_ptr, code_unit_addr(py, code, unit));
	fake_w8(py->m, f + l->frame_owner, (uint8_t)owner);
	fake_w64(py->m, f + l->frame_previous, previous);
	return f;
}

void fake_running(struct fake_py *py, uint64_t task, uint64_t top_frame)
{
	fake_w64(py->m, py->tstate + py->l.athread_running_task, task);
	fake_w64(py->m, py->tstate + py->l.tstate_current_frame, top_frame);
}

/* ---- dicts, instances, modules ---- */

static unsigned table_log2(size_t n)
{
	unsigned log2 = 3;
	while ((size_t)(2u << log2) / 3 < n)
		log2++;
	return log2;
}

uint64_t fake_keys(struct fake_py *py, const uint64_t *keys, const uint64_t *values,
		   size_t n, unsigned kind)
{
	const struct pyag_layout *l = &py->l;
	unsigned log2 = table_log2(n);
	bool general = kind == l->dict_kind_general;
	size_t esize = general ? l->dict_gentry_size : l->dict_uentry_size;
	uint64_t k = fake_alloc(py->m, l->dk_indices + (1u << log2) + n * esize + 8);
	fake_w64(py->m, k, 1);
	fake_w8(py->m, k + l->dk_log2_size, (uint8_t)log2);
	fake_w8(py->m, k + l->dk_log2_index_bytes, (uint8_t)log2);  /* 1-byte indices */
	fake_w8(py->m, k + l->dk_kind, (uint8_t)kind);
	fake_w64(py->m, k + l->dk_nentries, n);
	uint64_t entries = k + l->dk_indices + (1u << log2);
	for (size_t i = 0; i < n; i++) {
		uint64_t e = entries + i * esize;
		fake_w64(py->m, e + (general ? l->dict_gentry_key : 0), keys[i]);
		if (values)
			fake_w64(py->m, e + (general ? l->dict_gentry_value
						     : l->dict_uentry_value), values[i]);
	}
	return k;
}

uint64_t fake_dict(struct fake_py *py, const uint64_t *keys, const uint64_t *values,
		   size_t n)
{
	const struct pyag_layout *l = &py->l;
	if (!py->type_dict)
		py->type_dict = make_type(py, "dict", l->type_flag_dict);
	bool str_keys = true;
	for (size_t i = 0; i < n; i++) {
		uint64_t t = 0;
		fake_read(py->m, keys[i] + l->obj_type, &t, 8);
		str_keys &= t == py->type_str;
	}
	uint64_t d = new_object(py, py->type_dict, l->dict_size);
	fake_w64(py->m, d + l->dict_keys,
		 fake_keys(py, keys, values, n, str_keys ? 1 : l->dict_kind_general));
	return d;
}

uint64_t fake_dict_str(struct fake_py *py, const char *const *names,
		       const uint64_t *values, size_t n)
{
	uint64_t *keys = calloc(n ? n : 1, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		keys[i] = fake_ascii(py, names[i]);
	uint64_t d = fake_dict(py, keys, values, n);
	free(keys);
	return d;
}

uint64_t fake_heap_type(struct fake_py *py, const char *name, const char *const *attrs,
			size_t n)
{
	const struct pyag_layout *l = &py->l;
	uint64_t t = fake_alloc(py->m, l->heaptype_cached_keys + 8);
	uint64_t s = fake_alloc(py->m, strlen(name) + 1);
	fake_write(py->m, s, name, strlen(name) + 1);
	fake_w64(py->m, t + l->type_name, s);
	fake_w64(py->m, t + l->type_flags,
		 l->type_flag_managed_dict | l->type_flag_inline_values);
	fake_w64(py->m, t + l->type_basicsize, 16);
	uint64_t *keys = calloc(n ? n : 1, sizeof(*keys));
	for (size_t i = 0; i < n; i++)
		keys[i] = fake_ascii(py, attrs[i]);
	fake_w64(py->m, t + l->heaptype_cached_keys, fake_keys(py, keys, NULL, n, 2));
	free(keys);
	return t;
}

uint64_t fake_instance(struct fake_py *py, uint64_t type, const uint64_t *values,
		       size_t n, uint64_t dict)
{
	const struct pyag_layout *l = &py->l;
	uint64_t pre = (uint64_t)-(int64_t)l->managed_dict_offset;
	uint64_t a = fake_alloc(py->m, pre + 16 + l->dictvalues_values + 8 * n + 8);
	uint64_t o = a + pre;
	fake_w64(py->m, o, 1);
	fake_w64(py->m, o + l->obj_type, type);
	fake_w64(py->m, o + l->managed_dict_offset, dict);
	uint64_t values_at = o + 16;
	fake_w8(py->m, values_at + l->dictvalues_capacity, (uint8_t)n);
	fake_w8(py->m, values_at + l->dictvalues_valid, dict ? 0 : 1);
	for (size_t i = 0; i < n; i++)
		fake_w64(py->m, values_at + l->dictvalues_values + 8 * i, values[i]);
	return o;
}

void fake_threading(struct fake_py *py, const uint64_t *idents, const char *const *names,
		    size_t n)
{
	const struct pyag_layout *l = &py->l;
	static const char *const attrs[] = { "_target", "_name", "_ident" };
	uint64_t thread_type = fake_heap_type(py, "Thread", attrs, 3);
	uint64_t *keys = calloc(n ? n : 1, sizeof(*keys));
	uint64_t *threads = calloc(n ? n : 1, sizeof(*threads));
	for (size_t i = 0; i < n; i++) {
		keys[i] = fake_int(py, idents[i]);
		uint64_t values[3] = { 0, fake_ascii(py, names[i]), keys[i] };
		if (i % 2) {
			/* the second, fourth... have a dict of their own */
			static const char *const dnames[] = { "_ident", "_name" };
			uint64_t dvalues[2] = { keys[i], values[1] };
			threads[i] = fake_instance(py, thread_type, values, 3,
						   fake_dict_str(py, dnames, dvalues, 2));
		} else {
			threads[i] = fake_instance(py, thread_type, values, 3, 0);
		}
	}
	uint64_t active = fake_dict(py, keys, threads, n);
	static const char *const gnames[] = { "__name__", "_limbo", "_active" };
	uint64_t gvalues[3] = { fake_ascii(py, "threading"), fake_dict(py, NULL, NULL, 0),
				active };
	uint64_t globals = fake_dict_str(py, gnames, gvalues, 3);
	uint64_t module_type = make_type(py, "module", 0);
	uint64_t module = new_object(py, module_type, l->module_dict + 8);
	fake_w64(py->m, module + l->module_dict, globals);
	static const char *const mnames[] = { "sys", "threading" };
	uint64_t mvalues[2] = { module, module };
	fake_w64(py->m, py->interp + l->interp_modules, fake_dict_str(py, mnames, mvalues, 2));
	free(keys);
	free(threads);
}
