/*
 * The layout from the interpreter's own _Py_DebugOffsets (at the start of
 * _PyRuntime) and the _asyncio module's Py_AsyncioModuleDebugOffsets.
 *
 * The structs themselves change between minor versions (3.15 inserted
 * fields in the middle), so where each field sits inside _Py_DebugOffsets is
 * data: one table per supported minor version, measured from the
 * interpreters' own DWARF. The values are then validated once: every offset
 * the walker uses must lie inside the size its struct declares.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define COOKIE "xdebugpy"
#define MAX_DEBUG_OFFSETS 4096u

/* A field: where its uint64 sits in _Py_DebugOffsets, where it goes. */
struct field_pos {
	uint16_t pos;
	uint16_t dst;   /* offsetof(struct pyag_layout, ...) */
};

#define F(pos, member) { pos, offsetof(struct pyag_layout, member) }

static const struct field_pos fields_314[] = {
	F(24, runtime_size), F(40, runtime_interpreters_head),
	F(48, interp_size), F(56, interp_id), F(64, interp_next),
	F(72, interp_threads_head),
	F(176, tstate_size), F(192, tstate_next), F(200, tstate_interp),
	F(208, tstate_current_frame), F(216, tstate_thread_id),
	F(224, tstate_native_thread_id),
	F(248, frame_size), F(256, frame_previous), F(264, frame_executable),
	F(272, frame_instr_ptr), F(288, frame_owner), F(296, frame_stackpointer),
	F(304, frame_tlbc_index),
	F(312, code_size), F(320, code_filename), F(328, code_name),
	F(336, code_qualname), F(344, code_linetable), F(352, code_firstlineno),
	F(384, code_code_adaptive), F(392, code_tlbc),
	F(408, obj_type),
	F(416, type_size), F(424, type_name), F(440, type_flags),
	F(448, tuple_size), F(456, tuple_item), F(464, tuple_ob_size),
	F(496, set_size), F(504, set_used), F(512, set_table), F(520, set_mask),
	F(568, long_size), F(576, long_tag), F(584, long_digit),
	F(592, bytes_size), F(600, bytes_ob_size), F(608, bytes_sval),
	F(616, unicode_size), F(624, unicode_state), F(632, unicode_length),
	F(640, unicode_ascii_size),
	F(664, gen_size), F(680, gen_iframe), F(688, gen_frame_state),
	F(696, llist_next), F(704, llist_prev),
};

static const struct field_pos fields_315[] = {
	F(24, runtime_size), F(40, runtime_interpreters_head),
	F(48, interp_size), F(56, interp_id), F(64, interp_next),
	F(72, interp_threads_head),
	F(176, tstate_size), F(192, tstate_next), F(200, tstate_interp),
	F(208, tstate_current_frame), F(240, tstate_thread_id),
	F(248, tstate_native_thread_id),
	F(312, frame_size), F(320, frame_previous), F(328, frame_executable),
	F(336, frame_instr_ptr), F(352, frame_owner), F(360, frame_stackpointer),
	F(368, frame_tlbc_index),
	F(376, code_size), F(384, code_filename), F(392, code_name),
	F(400, code_qualname), F(408, code_linetable), F(416, code_firstlineno),
	F(448, code_code_adaptive), F(456, code_tlbc),
	F(472, obj_type),
	F(480, type_size), F(488, type_name), F(504, type_flags),
	F(544, tuple_size), F(552, tuple_item), F(560, tuple_ob_size),
	F(592, set_size), F(600, set_used), F(608, set_table), F(616, set_mask),
	F(664, long_size), F(672, long_tag), F(680, long_digit),
	F(688, bytes_size), F(696, bytes_ob_size), F(704, bytes_sval),
	F(712, unicode_size), F(720, unicode_state), F(728, unicode_length),
	F(736, unicode_ascii_size), F(744, unicode_compact_size),
	F(792, gen_size), F(808, gen_iframe), F(816, gen_frame_state),
	F(824, llist_next), F(832, llist_prev),
};

/* Py_AsyncioModuleDebugOffsets: the same 13 fields in 3.14 and 3.15. */
static const struct field_pos asyncio_fields[] = {
	F(0, task_size), F(8, task_name), F(16, task_awaited_by),
	F(24, task_is_task), F(32, task_awaited_by_is_set), F(40, task_coro),
	F(48, task_node),
	F(56, ainterp_size), F(64, ainterp_tasks_head),
	F(72, athread_size), F(80, athread_running_loop),
	F(88, athread_running_task), F(96, athread_tasks_head),
};
#define ASYNCIO_DEBUG_SIZE 104u

#undef F

struct version_info {
	unsigned minor;
	uint16_t size;              /* sizeof(_Py_DebugOffsets) */
	const struct field_pos *fields;
	size_t nfields;
	/* enum _framestate / _frameowner values */
	int yield_from, yield_from_locked, finished;
	int owner_generator, owner_first_incomplete;
	/* where a suspended `await` keeps the awaited object: measured on the
	 * real interpreters (3.14: the top of the value stack; 3.15: the slot
	 * below, the top holds a tagged NULL) */
	unsigned yield_from_slot;
};

static const struct version_info versions[] = {
	{ 14, 760, fields_314, ARRAY_SIZE(fields_314),
	  /* CREATED -3, SUSPENDED -2, SUSPENDED_YIELD_FROM -1, EXECUTING 0,
	   * COMPLETED 1, CLEARED 4; owners: GENERATOR 1, INTERPRETER 3,
	   * CSTACK 4 */
	  -1, -1, 1, 1, 3, 1 },
	{ 15, 888, fields_315, ARRAY_SIZE(fields_315),
	  /* CREATED 0, SUSPENDED 1, SUSPENDED_YIELD_FROM 2,
	   * SUSPENDED_YIELD_FROM_LOCKED 3, EXECUTING 4, CLEARED 5;
	   * owners: GENERATOR 1, INTERPRETER 3 */
	  2, 3, 5, 1, 3, 2 },
};

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

static void apply_fields(struct pyag_layout *l, const uint8_t *raw,
			 const struct field_pos *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, raw + f[i].pos, sizeof(v));
		memcpy((uint8_t *)l + f[i].dst, &v, sizeof(v));
	}
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
	unsigned major = (version >> 24) & 0xff, minor = (version >> 16) & 0xff;
	if (major != 3 || minor < 14)
		return pyag_error_create(
			PYAG_ERROR_VERSION,
			"Python %s has no asyncio graph support in this version "
			"(supported: 3.14, 3.15)", vs);
	const struct version_info *vi = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		if (versions[i].minor == minor)
			vi = &versions[i];
	if (!vi)
		return pyag_error_create(
			PYAG_ERROR_VERSION,
			"Python %s is newer than this py-async-graph knows "
			"(supported: 3.14, 3.15)", vs);
	uint8_t raw[MAX_DEBUG_OFFSETS];
	err = pyag_reader_read(r, runtime_addr, raw, vi->size);
	if (err)
		return pyag_error_wrap(err, "_Py_DebugOffsets");
	apply_fields(l, raw, vi->fields, vi->nfields);
	l->source = "debug-offsets";
	l->frame_state_yield_from = vi->yield_from;
	l->frame_state_yield_from_locked = vi->yield_from_locked;
	l->frame_state_finished = vi->finished;
	l->owner_generator = vi->owner_generator;
	l->owner_first_incomplete = vi->owner_first_incomplete;
	l->yield_from_slot = vi->yield_from_slot;
	/* PyAsyncGenASend starts with its generator, right after the object
	 * header (3.14 and 3.15, from their DWARF) */
	l->asend_gen = l->tuple_item >= 16 ? 16 : 0;
	/* PyASCIIObject.state: interned (2 bits, a whole byte when free
	 * threaded), kind (3), compact (1), ascii (1). */
	unsigned base = l->free_threaded ? 8 : 2;
	l->unicode_kind_shift = base;
	l->unicode_compact_bit = base + 3;
	l->unicode_ascii_bit = base + 4;
	if (!l->unicode_compact_size)
		/* PyCompactUnicodeObject: PyASCIIObject + utf8_length + utf8 */
		l->unicode_compact_size = l->unicode_ascii_size + 16;

	if (asyncio_addr) {
		uint8_t araw[ASYNCIO_DEBUG_SIZE];
		err = pyag_reader_read(r, asyncio_addr, araw, sizeof(araw));
		if (err)
			return pyag_error_wrap(err, "asyncio debug offsets");
		apply_fields(l, araw, asyncio_fields, ARRAY_SIZE(asyncio_fields));
		l->have_asyncio = true;
	}
	return layout_validate(l);
}

struct check {
	const char *name;
	uint64_t offset;
	uint64_t width;
	uint64_t size;
	const char *struct_name;
};

struct pyag_error *layout_validate(const struct pyag_layout *l)
{
#define C(field, w, sz, sname) { #field, l->field, w, l->sz, sname }
	const struct check checks[] = {
		C(runtime_interpreters_head, 8, runtime_size, "_PyRuntimeState"),
		C(interp_id, 8, interp_size, "PyInterpreterState"),
		C(interp_next, 8, interp_size, "PyInterpreterState"),
		C(interp_threads_head, 8, interp_size, "PyInterpreterState"),
		C(tstate_next, 8, tstate_size, "PyThreadState"),
		C(tstate_interp, 8, tstate_size, "PyThreadState"),
		C(tstate_current_frame, 8, tstate_size, "PyThreadState"),
		C(tstate_thread_id, 8, tstate_size, "PyThreadState"),
		C(tstate_native_thread_id, 8, tstate_size, "PyThreadState"),
		C(frame_previous, 8, frame_size, "_PyInterpreterFrame"),
		C(frame_executable, 8, frame_size, "_PyInterpreterFrame"),
		C(frame_instr_ptr, 8, frame_size, "_PyInterpreterFrame"),
		C(frame_owner, 1, frame_size, "_PyInterpreterFrame"),
		C(frame_stackpointer, 8, frame_size, "_PyInterpreterFrame"),
		C(code_filename, 8, code_size, "PyCodeObject"),
		C(code_qualname, 8, code_size, "PyCodeObject"),
		C(code_linetable, 8, code_size, "PyCodeObject"),
		C(code_firstlineno, 4, code_size, "PyCodeObject"),
		C(code_code_adaptive, 2, code_size, "PyCodeObject"),
		C(obj_type, 8, tuple_size, "PyObject"),
		C(type_name, 8, type_size, "PyTypeObject"),
		C(type_flags, 8, type_size, "PyTypeObject"),
		C(set_used, 8, set_size, "PySetObject"),
		C(set_table, 8, set_size, "PySetObject"),
		C(set_mask, 8, set_size, "PySetObject"),
		C(long_tag, 8, long_size, "PyLongObject"),
		C(long_digit, 4, long_size, "PyLongObject"),
		C(bytes_ob_size, 8, bytes_size, "PyBytesObject"),
		C(bytes_sval, 1, bytes_size, "PyBytesObject"),
		C(unicode_state, 4, unicode_size, "PyUnicodeObject"),
		C(unicode_length, 8, unicode_size, "PyUnicodeObject"),
		C(unicode_ascii_size, 0, unicode_size, "PyUnicodeObject"),
		C(unicode_compact_size, 0, unicode_size, "PyUnicodeObject"),
		C(gen_iframe, 1, gen_size, "PyGenObject"),
		C(gen_frame_state, 1, gen_size, "PyGenObject"),
		C(task_name, 8, task_size, "TaskObj"),
		C(task_awaited_by, 8, task_size, "TaskObj"),
		C(task_is_task, 1, task_size, "TaskObj"),
		C(task_awaited_by_is_set, 1, task_size, "TaskObj"),
		C(task_coro, 8, task_size, "TaskObj"),
		C(task_node, 16, task_size, "TaskObj"),
		C(ainterp_tasks_head, 16, ainterp_size, "PyInterpreterState"),
		C(athread_running_loop, 8, athread_size, "_PyThreadStateImpl"),
		C(athread_running_task, 8, athread_size, "_PyThreadStateImpl"),
		C(athread_tasks_head, 16, athread_size, "_PyThreadStateImpl"),
	};
#undef C
	/* Struct sizes must be plausible: nothing in CPython is near 16 MiB. */
	const uint64_t max_struct = 16u << 20;
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		const struct check *c = &checks[i];
		if (strncmp(c->name, "task_", 5) == 0 ||
		    strncmp(c->name, "ainterp_", 8) == 0 ||
		    strncmp(c->name, "athread_", 8) == 0) {
			if (!l->have_asyncio)
				continue;
		}
		if (c->size == 0 || c->size > max_struct ||
		    c->offset > c->size || c->width > c->size - c->offset)
			return pyag_error_create(
				PYAG_ERROR_CORRUPT,
				"invalid debug offsets: %s (offset %llu, %llu bytes) "
				"is outside %s (%llu bytes)",
				c->name, (unsigned long long)c->offset,
				(unsigned long long)c->width, c->struct_name,
				(unsigned long long)c->size);
	}
	/* The walker reads these structs whole into buffers of
	 * LAYOUT_MAX_STRUCT_READ bytes: every field it takes from them must
	 * lie inside that. */
	static const struct {
		const char *prefix;
		bool asyncio;  /* checked only when the asyncio offsets are there */
	} whole[] = { { "tstate_", false }, { "frame_", false }, { "code_", false },
		      { "unicode_", false }, { "gen_", false }, { "set_", false },
		      { "task_", true }, { "athread_", true } };
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++) {
		const struct check *c = &checks[i];
		for (size_t k = 0; k < ARRAY_SIZE(whole); k++) {
			if (strncmp(c->name, whole[k].prefix, strlen(whole[k].prefix)) != 0)
				continue;
			if (whole[k].asyncio && !l->have_asyncio)
				continue;
			if (c->offset + c->width > LAYOUT_MAX_STRUCT_READ)
				return pyag_error_create(
					PYAG_ERROR_CORRUPT,
					"invalid debug offsets: %s (offset %llu) is "
					"beyond the %u bytes read of %s", c->name,
					(unsigned long long)c->offset,
					LAYOUT_MAX_STRUCT_READ, c->struct_name);
		}
	}
	if (l->gen_iframe + l->frame_size > LAYOUT_MAX_STRUCT_READ)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid debug offsets: generator frame "
					 "beyond the bytes read");
	if (l->llist_next > 8 || l->llist_prev > 8 ||
	    l->gen_size < l->gen_iframe + l->frame_size)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid debug offsets: linked-list node or "
					 "generator frame out of bounds");
	if (l->have_asyncio && l->athread_size < l->tstate_size)
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "invalid asyncio debug offsets: thread state "
					 "smaller than PyThreadState");
	return NULL;
}
