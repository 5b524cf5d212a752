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

/* the 3.14.10 values of _Py_DebugOffsets */
enum {
	RT_SIZE = 316616, RT_INTERPS = 808,
	IS_SIZE = 225864, IS_ID = 7280, IS_NEXT = 7272, IS_THREADS = 7344,
	IS_ATASKS = 7000,
	TS_SIZE = 832, TS_NEXT = 8, TS_INTERP = 16, TS_FRAME = 72, TS_TID = 152,
	TS_NATIVE = 160, TS_ASIZE = 936, TS_LOOP = 864, TS_RUNNING = 872,
	TS_TASKS = 880,
	FR_SIZE = 88, FR_PREV = 8, FR_EXEC = 0, FR_IP = 56, FR_OWNER = 74, FR_SP = 64,
	CO_SIZE = 216, CO_FILE = 112, CO_NAME = 120, CO_QUAL = 128, CO_LT = 136,
	CO_FIRST = 68, CO_CODE = 208,
	OB_TYPE = 8, TP_SIZE = 416, TP_NAME = 24, TP_FLAGS = 168,
	SET_SIZE = 200, SET_USED = 24, SET_TABLE = 40, SET_MASK = 32,
	LG_SIZE = 32, LG_TAG = 16, LG_DIGIT = 24,
	BY_SIZE = 40, BY_LEN = 16, BY_SVAL = 32,
	UN_SIZE = 64, UN_STATE = 32, UN_LEN = 16, UN_ASCII = 40,
	GEN_SIZE = 160, GEN_FRAME = 72, GEN_STATE = 67,
	TK_SIZE = 168, TK_NAME = 136, TK_AWBY = 96, TK_ISTASK = 108, TK_ISSET = 109,
	TK_CORO = 128, TK_NODE = 152,
};

static void put_pos(uint8_t *raw, unsigned pos, uint64_t v)
{
	memcpy(raw + pos, &v, 8);
}

static uint64_t make_type(struct fake_py *py, const char *name, uint64_t flags)
{
	uint64_t t = fake_alloc(py->m, TP_SIZE);
	uint64_t s = fake_alloc(py->m, strlen(name) + 1);
	fake_write(py->m, s, name, strlen(name) + 1);
	fake_w64(py->m, t + TP_NAME, s);
	fake_w64(py->m, t + TP_FLAGS, flags);
	return t;
}

void fake_py_init(struct fake_py *py, uint64_t version)
{
	memset(py, 0, sizeof(*py));
	py->m = fake_create();
	py->version = version;
	uint8_t raw[760] = { 0 };
	memcpy(raw, "xdebugpy", 8);
	put_pos(raw, 8, version);
	static const unsigned pos_val[][2] = {
		{ 24, RT_SIZE }, { 40, RT_INTERPS },
		{ 48, IS_SIZE }, { 56, IS_ID }, { 64, IS_NEXT }, { 72, IS_THREADS },
		{ 176, TS_SIZE }, { 192, TS_NEXT }, { 200, TS_INTERP }, { 208, TS_FRAME },
		{ 216, TS_TID }, { 224, TS_NATIVE },
		{ 248, FR_SIZE }, { 256, FR_PREV }, { 264, FR_EXEC }, { 272, FR_IP },
		{ 288, FR_OWNER }, { 296, FR_SP },
		{ 312, CO_SIZE }, { 320, CO_FILE }, { 328, CO_NAME }, { 336, CO_QUAL },
		{ 344, CO_LT }, { 352, CO_FIRST }, { 384, CO_CODE },
		{ 400, 16 }, { 408, OB_TYPE },
		{ 416, TP_SIZE }, { 424, TP_NAME }, { 440, TP_FLAGS },
		{ 448, 40 }, { 456, 32 }, { 464, 16 },
		{ 496, SET_SIZE }, { 504, SET_USED }, { 512, SET_TABLE }, { 520, SET_MASK },
		{ 568, LG_SIZE }, { 576, LG_TAG }, { 584, LG_DIGIT },
		{ 592, BY_SIZE }, { 600, BY_LEN }, { 608, BY_SVAL },
		{ 616, UN_SIZE }, { 624, UN_STATE }, { 632, UN_LEN }, { 640, UN_ASCII },
		{ 664, GEN_SIZE }, { 680, GEN_FRAME }, { 688, GEN_STATE },
		{ 696, 0 }, { 704, 8 },
	};
	for (size_t i = 0; i < sizeof(pos_val) / sizeof(pos_val[0]); i++)
		put_pos(raw, pos_val[i][0], pos_val[i][1]);
	py->runtime = fake_alloc(py->m, 1024);
	fake_write(py->m, py->runtime, raw, sizeof(raw));
	uint8_t araw[104];
	uint64_t av[13] = { TK_SIZE, TK_NAME, TK_AWBY, TK_ISTASK, TK_ISSET, TK_CORO,
			    TK_NODE, IS_SIZE, IS_ATASKS, TS_ASIZE, TS_LOOP, TS_RUNNING,
			    TS_TASKS };
	memcpy(araw, av, sizeof(araw));
	py->asyncio_debug = fake_alloc(py->m, sizeof(araw));
	fake_write(py->m, py->asyncio_debug, araw, sizeof(araw));
	py->interp = fake_alloc(py->m, 8192);
	py->tstate = fake_alloc(py->m, TS_ASIZE);
	fake_w64(py->m, py->runtime + RT_INTERPS, py->interp);
	fake_w64(py->m, py->interp + IS_THREADS, py->tstate);
	fake_w64(py->m, py->interp + IS_ID, 0);
	fake_w64(py->m, py->tstate + TS_TID, 0x7f0011223344ull);
	fake_w64(py->m, py->tstate + TS_NATIVE, 4242);
	fake_w64(py->m, py->tstate + TS_INTERP, py->interp);
	/* empty circular lists */
	fake_w64(py->m, py->tstate + TS_TASKS, py->tstate + TS_TASKS);
	fake_w64(py->m, py->tstate + TS_TASKS + 8, py->tstate + TS_TASKS);
	fake_w64(py->m, py->interp + IS_ATASKS, py->interp + IS_ATASKS);
	fake_w64(py->m, py->interp + IS_ATASKS + 8, py->interp + IS_ATASKS);
	py->type_str = make_type(py, "str", 1ull << 28);
	py->type_int = make_type(py, "int", 1ull << 24);
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
	fake_w64(py->m, o + OB_TYPE, type);
	return o;
}

uint64_t fake_str(struct fake_py *py, const uint32_t *cps, size_t n, int kind)
{
	bool ascii = kind == 1;
	for (size_t i = 0; i < n && ascii; i++)
		ascii = cps[i] < 0x80;
	size_t hdr = ascii ? UN_ASCII : UN_ASCII + 16;
	uint64_t o = new_object(py, py->type_str, hdr + (n + 1) * (size_t)kind);
	fake_w64(py->m, o + UN_LEN, n);
	/* interned 0, kind, compact 1, ascii */
	uint32_t state = ((uint32_t)kind << 2) | (1u << 5) | (ascii ? 1u << 6 : 0);
	fake_w32(py->m, o + UN_STATE, state);
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
	uint64_t o = new_object(py, py->type_int, LG_SIZE + 8);
	unsigned nd = v == 0 ? 0 : v < (1u << 30) ? 1 : 2;
	fake_w64(py->m, o + LG_TAG, ((uint64_t)nd << 3) | (v == 0 ? 1 : 0));
	fake_w32(py->m, o + LG_DIGIT, (uint32_t)(v & 0x3fffffff));
	fake_w32(py->m, o + LG_DIGIT + 4, (uint32_t)(v >> 30));
	return o;
}

uint64_t fake_bytes(struct fake_py *py, const uint8_t *b, size_t n)
{
	uint64_t o = new_object(py, py->type_bytes, BY_SVAL + n + 1);
	fake_w64(py->m, o + BY_LEN, n);
	if (n)
		fake_write(py->m, o + BY_SVAL, b, n);
	return o;
}

uint64_t fake_code(struct fake_py *py, const char *qualname, const char *filename,
		   int firstlineno, unsigned nunits)
{
	/* entry per code unit: code 13 (no column), length 1, line delta
	 * +0 for the first, +1 after: svarint(+1) = 2 */
	uint8_t *lt = malloc(nunits * 2);
	for (unsigned k = 0; k < nunits; k++) {
		lt[2 * k] = 0x80 | (13 << 3) | 0;
		lt[2 * k + 1] = k == 0 ? 0 : 2;
	}
	uint64_t ltb = fake_bytes(py, lt, nunits * 2);
	free(lt);
	uint64_t o = new_object(py, py->type_code, CO_SIZE + nunits * 2);
	fake_w64(py->m, o + CO_QUAL, fake_ascii(py, qualname));
	fake_w64(py->m, o + CO_NAME, fake_ascii(py, qualname));
	fake_w64(py->m, o + CO_FILE, fake_ascii(py, filename));
	fake_w64(py->m, o + CO_LT, ltb);
	fake_w32(py->m, o + CO_FIRST, (uint32_t)firstlineno);
	return o;
}

uint64_t fake_coro(struct fake_py *py, uint64_t code, unsigned unit, uint64_t awaited)
{
	uint64_t o = new_object(py, py->type_coro, GEN_SIZE + 64);
	uint64_t f = o + GEN_FRAME;
	fake_w64(py->m, f + FR_EXEC, code | 1);  /* a tagged stack reference */
	fake_w64(py->m, f + FR_IP, code + CO_CODE + 2 * unit);
	fake_w8(py->m, f + FR_OWNER, 1);
	/* value stack right after localsplus[0]: one slot */
	uint64_t sp = f + 80 + 8;
	if (awaited) {
		fake_w64(py->m, f + 80, awaited);
		fake_w64(py->m, f + FR_SP, sp);
		fake_w8(py->m, o + GEN_STATE, 0xff);  /* -1: SUSPENDED_YIELD_FROM */
	} else {
		fake_w64(py->m, f + FR_SP, f + 80);
		fake_w8(py->m, o + GEN_STATE, 0xfe);  /* -2: SUSPENDED */
	}
	return o;
}

uint64_t fake_task(struct fake_py *py, uint64_t name, uint64_t coro, int is_task)
{
	uint64_t o = new_object(py, is_task ? py->type_task : py->type_future,
				is_task ? TK_SIZE : 112);
	fake_w8(py->m, o + TK_ISTASK, (uint8_t)is_task);
	if (is_task) {
		fake_w64(py->m, o + TK_NAME, name);
		fake_w64(py->m, o + TK_CORO, coro);
	}
	return o;
}

void fake_awaited_by_one(struct fake_py *py, uint64_t task, uint64_t awaiter)
{
	fake_w64(py->m, task + TK_AWBY, awaiter);
	fake_w8(py->m, task + TK_ISSET, 0);
}

void fake_awaited_by_set(struct fake_py *py, uint64_t task, const uint64_t *slots,
			 size_t nslots)
{
	uint64_t set = new_object(py, py->type_set, SET_SIZE);
	uint64_t table = fake_alloc(py->m, nslots * 16);
	uint64_t dummy = new_object(py, py->type_str, 64);
	size_t used = 0;
	for (size_t i = 0; i < nslots; i++) {
		if (!slots[i])
			continue;
		if (slots[i] == 1) {
			fake_w64(py->m, table + 16 * i, dummy);
			fake_w64(py->m, table + 16 * i + 8, (uint64_t)-1);
		} else {
			fake_w64(py->m, table + 16 * i, slots[i]);
			fake_w64(py->m, table + 16 * i + 8, slots[i] >> 4);
			used++;
		}
	}
	fake_w64(py->m, set + SET_USED, used);
	fake_w64(py->m, set + SET_MASK, nslots - 1);
	fake_w64(py->m, set + SET_TABLE, table);
	fake_w64(py->m, task + TK_AWBY, set);
	fake_w8(py->m, task + TK_ISSET, 1);
}

static void link_list(struct fake_py *py, uint64_t head, const uint64_t *tasks, size_t n)
{
	uint64_t prev = head;
	for (size_t i = 0; i < n; i++) {
		uint64_t node = tasks[i] + TK_NODE;
		fake_w64(py->m, prev, node);       /* prev->next */
		fake_w64(py->m, node + 8, prev);   /* node->prev */
		prev = node;
	}
	fake_w64(py->m, prev, head);
	fake_w64(py->m, head + 8, prev);
}

void fake_thread_tasks(struct fake_py *py, const uint64_t *tasks, size_t n)
{
	link_list(py, py->tstate + TS_TASKS, tasks, n);
}

void fake_interp_tasks(struct fake_py *py, const uint64_t *tasks, size_t n)
{
	link_list(py, py->interp + IS_ATASKS, tasks, n);
}

uint64_t fake_frame(struct fake_py *py, uint64_t code, unsigned unit, int owner,
		    uint64_t previous)
{
	uint64_t f = fake_alloc(py->m, FR_SIZE);
	fake_w64(py->m, f + FR_EXEC, code);
	fake_w64(py->m, f + FR_IP, code + CO_CODE + 2 * unit);
	fake_w8(py->m, f + FR_OWNER, (uint8_t)owner);
	fake_w64(py->m, f + FR_PREV, previous);
	return f;
}

void fake_running(struct fake_py *py, uint64_t task, uint64_t top_frame)
{
	fake_w64(py->m, py->tstate + TS_RUNNING, task);
	fake_w64(py->m, py->tstate + TS_FRAME, top_frame);
}
