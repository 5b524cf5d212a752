/* A fake target for unit tests: a sparse memory image built in the test,
 * read through libpyag's callback reader, and builders for the objects of
 * a CPython interpreter of any version the layout table has: its debug
 * offsets are written from the table's column for that version (positions
 * and constants), the objects with 3.14.10's offsets. */
#ifndef PYAG_TEST_FAKE_H
#define PYAG_TEST_FAKE_H

#include <stdint.h>
#include <stddef.h>

#include "layout.h"

struct fake_mem;

struct fake_mem *fake_create(void);
void fake_destroy(struct fake_mem *m);
uint64_t fake_alloc(struct fake_mem *m, size_t size);
void fake_write(struct fake_mem *m, uint64_t addr, const void *data, size_t n);
void fake_w64(struct fake_mem *m, uint64_t addr, uint64_t v);
void fake_w32(struct fake_mem *m, uint64_t addr, uint32_t v);
void fake_w8(struct fake_mem *m, uint64_t addr, uint8_t v);
/* the callback for pyag_reader_create_callback; counts calls */
int fake_read(void *arg, uint64_t addr, void *buf, size_t size);
extern unsigned long fake_read_calls;

/* ---- a synthetic interpreter ---- */
struct fake_py {
	struct pyag_layout l;   /* the layout its debug offsets describe */
	struct fake_mem *m;
	uint64_t runtime, asyncio_debug, interp, tstate;
	uint64_t type_str, type_int, type_coro, type_code, type_bytes, type_task,
		type_future, type_gen, type_set, type_dict;
	uint64_t version;
};

/* PY_VERSION_HEX of the table's column (3.minor.0) */
uint64_t fake_version(size_t column);
void fake_py_init(struct fake_py *py, uint64_t version);
/* Where the debug offsets of py hold field (enum layout_field_id). */
uint64_t fake_debug_pos(const struct fake_py *py, unsigned field);
void fake_py_deinit(struct fake_py *py);
/* kind 1 (latin-1 or ASCII), 2 or 4; cps are code points */
uint64_t fake_str(struct fake_py *py, const uint32_t *cps, size_t n, int kind);
uint64_t fake_ascii(struct fake_py *py, const char *s);
uint64_t fake_int(struct fake_py *py, uint64_t v);
uint64_t fake_bytes(struct fake_py *py, const uint8_t *b, size_t n);
/* a code object with a linetable of one-line entries: line = first + k for
 * code unit k (one entry per code unit, 'no column' form) */
uint64_t fake_code(struct fake_py *py, const char *qualname, const char *filename,
		   int firstlineno, unsigned nunits);
/* a coroutine at code unit `unit`; awaiting `awaited` (0: none) */
uint64_t fake_coro(struct fake_py *py, uint64_t code, unsigned unit, uint64_t awaited);
/* a task (or future when name == 0 && coro == 0 && !is_task) */
uint64_t fake_task(struct fake_py *py, uint64_t name, uint64_t coro, int is_task);
void fake_awaited_by_one(struct fake_py *py, uint64_t task, uint64_t awaiter);
/* a set with slots: keys[i] (0 = empty, 1 = dummy) */
void fake_awaited_by_set(struct fake_py *py, uint64_t task, const uint64_t *slots,
			 size_t nslots);
/* link tasks into the thread's list (in order) */
void fake_thread_tasks(struct fake_py *py, const uint64_t *tasks, size_t n);
void fake_interp_tasks(struct fake_py *py, const uint64_t *tasks, size_t n);
/* a thread frame chain (top first) for the running task */
uint64_t fake_frame(struct fake_py *py, uint64_t code, unsigned unit, int owner,
		    uint64_t previous);
void fake_running(struct fake_py *py, uint64_t task, uint64_t top_frame);
/* a dict keys object of n entries (values NULL: a split table's keys) */
uint64_t fake_keys(struct fake_py *py, const uint64_t *keys, const uint64_t *values,
		   size_t n, unsigned kind);
/* a dict (str-keyed table when every key is a str) */
uint64_t fake_dict(struct fake_py *py, const uint64_t *keys, const uint64_t *values,
		   size_t n);
uint64_t fake_dict_str(struct fake_py *py, const char *const *names,
		       const uint64_t *values, size_t n);
/* a heap type whose instances keep attrs as inline values */
uint64_t fake_heap_type(struct fake_py *py, const char *name, const char *const *attrs,
			size_t n);
/* an instance of such a type: inline values, or (dict != 0) a managed dict */
uint64_t fake_instance(struct fake_py *py, uint64_t type, const uint64_t *values,
		       size_t n, uint64_t dict);
/* sys.modules["threading"]._active = {ident: Thread(name)} */
void fake_threading(struct fake_py *py, const uint64_t *idents, const char *const *names,
		    size_t n);

#endif
