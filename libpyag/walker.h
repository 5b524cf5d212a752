/*
 * The walk's context and the object readers it is built on (objects.c):
 * bounded reads of structs, type classification, str and int objects,
 * code objects and their line tables, dicts and instance attributes. The
 * walk (walk.c, objects.c) and the tests see this.
 */
#ifndef PYAG_WALKER_H
#define PYAG_WALKER_H

#include "snapshot.h"

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
	TYPE_TASK,          /* _asyncio.Task or a subclass */
	TYPE_FUTURE,        /* _asyncio.Future or a subclass (_GatheringFuture) */
	TYPE_FUTUREITER,    /* what a coroutine awaiting a future holds */
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

#define SLOT_CACHE 32

struct slot_cache {
	uint64_t type;
	const char *name;       /* static */
	uint64_t offset;        /* 0: no such slot */
};

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
	struct slot_cache slots[SLOT_CACHE];    /* __slots__ offsets */
	size_t nslots, next_slot;
};

/* Little-endian fields of a struct read whole. */
static inline uint64_t get_u64(const uint8_t *buf, uint64_t off)
{
	uint64_t v;
	memcpy(&v, buf + off, 8);
	return v;
}

static inline int32_t get_i32(const uint8_t *buf, uint64_t off)
{
	int32_t v;
	memcpy(&v, buf + off, 4);
	return v;
}

/* A warning "CONTEXT: what went wrong" about the object at addr, from err
 * (consumed). Running out of memory is no warning: the walk then fails. */
void warn_error(struct walker *w, uint64_t addr, struct pyag_error *err,
		const char *fmt, ...) PRINTF_LIKE(4, 5) HIDDEN;
/* Read size bytes of the object at addr (size at most MAX_STRUCT_READ). */
struct pyag_error *read_struct(struct walker *w, uint64_t addr, uint8_t *buf,
			       uint64_t size) HIDDEN;
/* What the object at obj is, by its type (cached per type). */
enum type_kind object_kind(struct walker *w, uint64_t obj) HIDDEN;
/* Whether the C string at addr is s (unreadable or longer than 63 bytes: no). */
bool cstr_is(struct walker *w, uint64_t addr, const char *s) HIDDEN;
/* Whether the type of obj is named name (its tp_name; unreadable: no). */
bool type_named(struct walker *w, uint64_t obj, const char *name) HIDDEN;
/* A str object as interned UTF-8 (bounded by the string limit). */
struct pyag_error *read_str(struct walker *w, uint64_t obj, const char **ret) HIDDEN;
/* A small int object. */
struct pyag_error *read_int(struct walker *w, uint64_t obj, uint64_t *ret,
			    bool *negative) HIDDEN;
/* A code object's names and line table (cached per code object); NULL
 * when memory ran out (the snapshot says so). */
struct code_info *code_lookup(struct walker *w, uint64_t code) HIDDEN;
/* The line of code unit `unit` of a code object, -1 if unknown. */
int32_t code_line(struct code_info *ci, uint64_t unit) HIDDEN;

/* Dicts and attributes. Every table read is bounded by the set limit; a
 * missing key is no error (*ret 0). */
/* Whether the object at obj is the str equal to the ASCII string s. */
struct pyag_error *str_equals(struct walker *w, uint64_t obj, const char *s,
			      bool *ret) HIDDEN;
/* The value of the dict at dict under the str key `key`. */
struct pyag_error *dict_get_str(struct walker *w, uint64_t dict, const char *key,
				uint64_t *ret) HIDDEN;
/* fn(w, key, value, arg) for each item until fn returns false. */
struct pyag_error *dict_each(struct walker *w, uint64_t dict,
			     bool (*fn)(struct walker *, uint64_t key, uint64_t value, void *),
			     void *arg) HIDDEN;
/* The attribute `name` of a plain Python object: its managed dict, its
 * inline values (3.13+) or the dict at tp_dictoffset, else a __slots__
 * member of its class (name: a static string). */
struct pyag_error *object_attr(struct walker *w, uint64_t obj, const char *name,
			       uint64_t *ret) HIDDEN;
/* sys.modules[name].__dict__ of an interpreter (0: not imported). */
struct pyag_error *module_dict(struct walker *w, uint64_t interp, const char *name,
			       uint64_t *ret) HIDDEN;

/* fn(w, key, arg) for each key of the set at set, until fn says stop. */
struct pyag_error *set_each(struct walker *w, uint64_t set,
			    bool (*fn)(struct walker *, uint64_t key, void *),
			    void *arg) HIDDEN;
/* The first max items of a list or tuple; *n_ret how many. */
struct pyag_error *seq_items(struct walker *w, uint64_t obj, uint64_t *items,
			     size_t max, size_t *n_ret) HIDDEN;
/* The first max items of a list or tuple (of at most the set limit), in
 * *items_ret (malloc'd; NULL when there are none). */
struct pyag_error *seq_items_alloc(struct walker *w, uint64_t obj, size_t max,
				   uint64_t **items_ret, size_t *n_ret) HIDDEN;
/* The first max items of a collections.deque, left to right. */
struct pyag_error *deque_items(struct walker *w, uint64_t obj, uint64_t *items,
			       size_t max, size_t *n_ret) HIDDEN;
/* The value of the free variable `name` in a function's closure (0: none). */
struct pyag_error *closure_var(struct walker *w, uint64_t func, const char *name,
			       uint64_t *ret) HIDDEN;

/* fn(w, item, arg) for each item of the collections.deque at dq, left to
 * right, until fn returns false; *len_ret its length (bounded by the set
 * limit; -1 when unreadable). */
struct pyag_error *deque_each(struct walker *w, uint64_t dq,
			      bool (*fn)(struct walker *, uint64_t item, void *), void *arg,
			      int64_t *len_ret) HIDDEN;
/* The first max done callbacks of a future, in the order they were
 * added (*ret: malloc()ed, the caller frees it; NULL when none). */
size_t future_callbacks(struct walker *w, uint64_t fut, size_t max, uint64_t **ret) HIDDEN;
/* Whether obj is a function (or, method: a bound method whose function
 * is) with the qualified name qualname; *self_ret: the method's self. */
bool callable_named(struct walker *w, uint64_t obj, const char *qualname,
		    bool method, uint64_t *self_ret) HIDDEN;

/* What each task waits on, and the event loops (awaiting.c): after the
 * walk, when w->lim->waiting. */
void walk_awaiting(struct walker *w) HIDDEN;
/* CPython's set order (setorder.c). The hash of an object that keeps
 * object.__hash__, as tasks and futures do: its address rotated right by
 * 4 bits. */
uint64_t pyset_pointer_hash(uint64_t addr) HIDDEN;
#define PYSET_MAX_KEYS (1u << 24)
/* keys[0..*n), added in this order to a new set that is then copied by
 * frozenset(): rewritten in that frozenset's iteration order, *n the
 * distinct keys (0 is no key). False when memory runs out or *n exceeds
 * PYSET_MAX_KEYS (keys unchanged). */
bool pyset_iteration_order(uint64_t *keys, size_t *n) HIDDEN;

#endif /* PYAG_WALKER_H */
