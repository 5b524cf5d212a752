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

#include "walker.h"

void walk_default_limits(struct walk_limits *lim)
{
	lim->max_tasks = 10u * 1000u * 1000u;
	lim->max_frames = 10000;
	lim->max_set = 1u << 20;
	lim->max_string = 1u << 20;
	lim->max_threads = 100000;
	lim->max_interpreters = 10000;
	lim->waiting = false;
}

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

/* Move the frames into the snapshot's arena: *ret and *n_ret. */
static void frame_list_take(struct walker *w, struct frame_list *fl,
			    struct frame_rec **ret, uint32_t *n_ret)
{
	*n_ret = 0;
	*ret = NULL;
	if (fl->n) {
		*ret = arena_alloc(&w->snap->mem, fl->n * sizeof(*fl->v));
		if (*ret) {
			memcpy(*ret, fl->v, fl->n * sizeof(*fl->v));
			*n_ret = (uint32_t)fl->n;
		} else {
			snapshot_nomem(w->snap, "call stacks");
		}
	}
	free(fl->v);
	*fl = (struct frame_list){ .snap = fl->snap };
}

static void frame_list_commit(struct walker *w, struct frame_list *fl,
			      struct task_rec *t)
{
	frame_list_take(w, fl, &t->frames, &t->nframes);
}

/* 3.11, 3.12: a suspended frame awaits (yield from) when its next code
 * unit is a RESUME with an oparg of 2 (after yield from) or 3 (after
 * await). */
static bool awaits_at_resume(struct walker *w, const uint8_t *frame)
{
	const struct pyag_layout *l = w->l;
	uint64_t ip = get_u64(frame, l->frame_instr_ptr);
	uint8_t unit[2];
	if (!ip || !reader_try_read(w->r, ip + l->code_unit_size, unit, 2))
		return false;
	return (unit[0] == l->op_resume || unit[0] == l->op_resume_alt) && unit[1] >= 2;
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
	uint64_t ring[LEAF_COROS];      /* the last coroutines met */
	size_t nring = 0;
	*ncapture_ret = 0;
	for (size_t depth = 0; obj; depth++) {
		if (!through_asend)
			*ncapture_ret = (uint32_t)fl->n;
		if (depth >= w->lim->max_frames) {
			snapshot_warn_at(w->snap, PYAG_WARNING_LIMIT, t->addr,
					 "task 0x%llx: coroutine chain longer than %zu, truncated",
					 (unsigned long long)t->addr, w->lim->max_frames);
			goto out;
		}
		enum type_kind kind = object_kind(w, obj);
		if (kind == TYPE_ASEND && l->asend_gen) {
			uint64_t agen;
			struct pyag_error *err = reader_read_u64(w->r, obj + l->asend_gen, &agen);
			if (err) {
				pyag_error_destroy(err);
				goto out;
			}
			if (!agen || agen == obj || object_kind(w, agen) != TYPE_ASYNC_GENERATOR)
				goto out;
			through_asend = true;
			obj = agen;
			continue;
		}
		if (kind != TYPE_COROUTINE &&
		    !(through_asend && kind == TYPE_ASYNC_GENERATOR))
			goto out;
		struct pyag_error *err = read_struct(w, obj, gen, gsize);
		if (err) {
			warn_error(w, obj, err, "task 0x%llx: coroutine 0x%llx",
				   (unsigned long long)t->addr, (unsigned long long)obj);
			goto out;
		}
		int8_t state = (int8_t)gen[l->gen_frame_state];
		const uint8_t *frame = gen + l->gen_iframe;
		ring[nring++ % LEAF_COROS] = obj;
		if (state < l->frame_state_finished) {
			struct frame_rec f;
			enum frame_kind fk = kind == TYPE_COROUTINE ? FRAME_KIND_ASYNC
								   : FRAME_KIND_ASYNC_GENERATOR;
			if (frame_from_bytes(w, frame, fk, &f) && !frame_list_push(fl, &f))
				goto out;
		}
		if (state != l->frame_state_yield_from &&
		    state != l->frame_state_yield_from_locked)
			break;
		if (l->yield_from_resume_check && !awaits_at_resume(w, frame))
			break;
		uint64_t sp;
		if (l->frame_stackpointer) {
			sp = get_u64(frame, l->frame_stackpointer);
		} else {
			/* before 3.14: the depth of the value stack */
			int32_t top = get_i32(frame, l->frame_stacktop);
			sp = top > 0 && top < (1 << 20)
				     ? obj + l->gen_iframe + l->frame_localsplus + 8 * (uint64_t)top
				     : 0;
		}
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
out:
	if (!through_asend)
		*ncapture_ret = (uint32_t)fl->n;
	if (!w->lim->waiting || !nring)
		return;
	size_t keep = nring < LEAF_COROS ? nring : LEAF_COROS;
	t->leaf_coros = arena_alloc(&w->snap->mem, keep * sizeof(uint64_t));
	if (!t->leaf_coros) {
		snapshot_nomem(w->snap, "coroutine chains");
		return;
	}
	for (size_t k = 0; k < keep; k++)
		t->leaf_coros[k] = ring[(nring - 1 - k) % LEAF_COROS];
	t->nleaf_coros = (uint8_t)keep;
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
 * The frames of a thread, top first, skipping the shim frames of the C
 * stack. With whole false, only down to the outermost coroutine frame of
 * the running task (the one whose caller is not a generator frame), as
 * capture_call_graph() does for the current task; with whole true, the
 * thread's whole stack. who: the task or thread state the warnings name.
 */
static void walk_frames(struct walker *w, uint64_t frame_addr, uint64_t who,
			bool whole, struct frame_list *fl)
{
	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	bool stop_after_async = false;
	for (size_t n = 0; frame_addr; n++) {
		if (n >= w->lim->max_frames) {
			snapshot_warn_at(w->snap, PYAG_WARNING_LIMIT, who,
					 "thread stack deeper than %zu frames, truncated",
					 w->lim->max_frames);
			return;
		}
		struct pyag_error *err = read_struct(w, frame_addr, buf, l->frame_size);
		if (err) {
			warn_error(w, frame_addr, err, "%s 0x%llx: frame 0x%llx",
				   whole ? "thread state" : "task",
				   (unsigned long long)who, (unsigned long long)frame_addr);
			return;
		}
		int owner = (int8_t)buf[l->frame_owner];
		uint64_t prev = get_u64(buf, l->frame_previous);
		if (l->owner_first_incomplete && owner >= l->owner_first_incomplete) {
			frame_addr = prev;  /* a shim frame of the C stack */
			continue;
		}
		bool gen_owned = owner == l->owner_generator;
		if (stop_after_async && !gen_owned)
			return;
		if (!get_u64(buf, l->frame_executable) && !prev &&
		    !get_u64(buf, l->frame_instr_ptr)) {
			/* no interpreter writes such a frame: a core that holds
			 * zeros for this part of the thread's C stack */
			snapshot_warn_at(w->snap, PYAG_WARNING_UNREADABLE, frame_addr,
					 "%s 0x%llx: frame 0x%llx reads as zeros (the core "
					 "did not keep this part of the thread's stack); "
					 "the stack is cut there", whole ? "thread state" : "task",
					 (unsigned long long)who, (unsigned long long)frame_addr);
			return;
		}
		stop_after_async = false;
		enum frame_kind kind = gen_owned ? generator_frame_kind(w, frame_addr)
						 : FRAME_KIND_PLAIN;
		struct frame_rec f;
		if (frame_from_bytes(w, buf, kind, &f)) {
			if (!frame_list_push(fl, &f))
				return;
			if (!whole && (kind == FRAME_KIND_ASYNC ||
				       kind == FRAME_KIND_ASYNC_GENERATOR))
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
	/* A plain future is smaller than a task: read its header first.
	 * Before 3.14 the type says which it is (and no edges are kept). */
	bool legacy = !l->task_is_task;
	uint64_t fsize = legacy ? l->fut_state + 4 : l->task_awaited_by + 8;
	if (!legacy && l->task_is_task + 1 > fsize)
		fsize = l->task_is_task + 1;
	if (!legacy && l->task_awaited_by_is_set + 1 > fsize)
		fsize = l->task_awaited_by_is_set + 1;
	struct pyag_error *err = read_struct(w, addr, buf, fsize);
	if (err) {
		warn_error(w, addr, err, "task 0x%llx", (unsigned long long)addr);
		return NULL;
	}
	bool is_task = legacy ? object_kind(w, addr) == TYPE_TASK : buf[l->task_is_task] != 0;
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
	uint64_t awaited_by = legacy ? 0 : get_u64(buf, l->task_awaited_by);
	bool is_set = !legacy && buf[l->task_awaited_by_is_set] != 0;
	t->inferred = legacy;
	if (is_task) {
		t->fut_waiter = get_u64(buf, l->task_fut_waiter);
		t->loop = get_u64(buf, l->fut_loop);
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
		/* an awaiter that could not be read (a warning says why) or
		 * was not followed (the limit) is no edge: every edge of the
		 * graph ends at a record */
		struct task_rec *t = &snap->tasks[i];
		uint32_t kept = 0;
		for (uint32_t k = 0; idx && k < n; k++) {
			if (idx[k] < 0)
				continue;
			t->awaited_by[kept] = t->awaited_by[k];
			idx[kept++] = idx[k];
		}
		if (idx)
			t->nawaited_by = kept;
		t->awaited_idx = idx;
	}
}

/* ---- threads ---------------------------------------------------------------- */

/* threading's registry of an interpreter: ident -> Thread object. */
struct thread_names {
	struct u64map index;    /* ident -> index into objs */
	uint64_t *objs;
	size_t n, cap;
	bool nomem;
};

static bool thread_names_add(struct walker *w, uint64_t key, uint64_t value, void *arg)
{
	struct thread_names *tn = arg;
	uint64_t ident;
	bool negative;
	if (object_kind(w, key) != TYPE_INT)
		return true;
	struct pyag_error *err = read_int(w, key, &ident, &negative);
	if (err) {
		pyag_error_destroy(err);
		return true;
	}
	if (negative || tn->n >= UINT32_MAX)
		return true;
	if (tn->n == tn->cap) {
		size_t cap = tn->cap ? 2 * tn->cap : 16;
		uint64_t *v = realloc(tn->objs, cap * sizeof(*v));
		if (!v) {
			tn->nomem = true;
			return false;
		}
		tn->objs = v;
		tn->cap = cap;
	}
	if (!u64map_put(&tn->index, ident, (uint32_t)tn->n)) {
		tn->nomem = true;
		return false;
	}
	tn->objs[tn->n++] = value;
	return true;
}

/* threading._active of the interpreter at interp (empty when threading
 * was never imported). */
static void thread_names_load(struct walker *w, uint64_t interp, int64_t id,
			      struct thread_names *tn)
{
	uint64_t globals, active = 0;
	struct pyag_error *err = module_dict(w, interp, "threading", &globals);
	if (!err && globals)
		err = dict_get_str(w, globals, "_active", &active);
	if (!err && active)
		err = dict_each(w, active, thread_names_add, tn);
	if (err)
		warn_error(w, active ? active : interp, err,
			   "interpreter %lld: threading's thread names", (long long)id);
	if (tn->nomem)
		snapshot_nomem(w->snap, "thread names");
}

static void thread_names_deinit(struct thread_names *tn)
{
	u64map_deinit(&tn->index);
	free(tn->objs);
}

static const char *thread_name(struct walker *w, const struct thread_names *tn,
			       uint64_t ident)
{
	uint32_t i;
	if (!u64map_get(&tn->index, ident, &i))
		return NULL;
	uint64_t name = 0;
	const char *ret = NULL;
	struct pyag_error *err = object_attr(w, tn->objs[i], "_name", &name);
	if (!err && name)
		err = read_str(w, name, &ret);
	if (err)
		warn_error(w, tn->objs[i], err, "thread %llu: its name",
			   (unsigned long long)ident);
	return ret;
}

/* The running event loop of a 3.11-3.13 thread (0: none): 3.13 keeps it
 * after the thread state, 3.11 and 3.12 in the thread's dict (3.11: in a
 * _RunningLoopHolder). */
static uint64_t thread_loop_legacy(struct walker *w, uint64_t tstate, const uint8_t *buf)
{
	const struct pyag_layout *l = w->l;
	uint64_t loop = 0;
	if (l->running_loop_after_tstate) {
		if (!reader_try_read(w->r, tstate + l->tstate_size, &loop, 8))
			loop = 0;
		return loop;
	}
	uint64_t dict = l->tstate_dict ? get_u64(buf, l->tstate_dict) : 0;
	if (!dict)
		return 0;
	struct pyag_error *err = dict_get_str(w, dict, "__asyncio_running_event_loop__",
					      &loop);
	if (!err && loop && l->loop_holder_loop &&
	    !reader_try_read(w->r, loop + l->loop_holder_loop, &loop, 8))
		loop = 0;
	if (err)
		warn_error(w, tstate, err, "thread state 0x%llx: its running loop",
			   (unsigned long long)tstate);
	return loop;
}

/* _Py_THREAD_SUSPENDED: parked by a stop-the-world pause */
#define TSTATE_SUSPENDED 2

static void walk_thread(struct walker *w, uint64_t tstate, int64_t interp,
			const struct thread_names *names)
{
	const struct pyag_layout *l = w->l;
	uint8_t buf[MAX_STRUCT_READ];
	uint64_t size = l->have_asyncio && l->athread_size ? l->athread_size : l->tstate_size;
	struct pyag_error *err = read_struct(w, tstate, buf, size);
	if (err) {
		warn_error(w, tstate, err, "thread state 0x%llx", (unsigned long long)tstate);
		return;
	}
	struct thread_rec *th = snapshot_add_thread(w->snap);
	if (!th)
		return;
	size_t thi = th - w->snap->threads;
	th->interp_id = interp;
	th->thread_id = get_u64(buf, l->tstate_thread_id);
	th->native_thread_id = get_u64(buf, l->tstate_native_thread_id);
	uint64_t current_frame = 0;
	if (l->tstate_cframe) {
		/* 3.11, 3.12: through the _PyCFrame of the running eval loop */
		uint64_t cframe = get_u64(buf, l->tstate_cframe);
		if (cframe && !reader_try_read(w->r, cframe + l->cframe_current_frame,
					       &current_frame, 8))
			snapshot_warn_at(w->snap, PYAG_WARNING_UNREADABLE, cframe,
					 "thread state 0x%llx: its C frame 0x%llx cannot "
					 "be read", (unsigned long long)tstate,
					 (unsigned long long)cframe);
	} else {
		current_frame = get_u64(buf, l->tstate_current_frame);
	}
	th->current_frame = current_frame;
	int32_t attached = l->tstate_state ? get_i32(buf, l->tstate_state) : -1;
	/* 3.11, 3.12 keep no per-thread GIL flag */
	int holds = l->tstate_holds_gil_mask
			    ? ((uint32_t)get_i32(buf, l->tstate_holds_gil) &
			       l->tstate_holds_gil_mask) != 0
			    : -1;
	bool requested = l->tstate_gil_requested &&
			 get_i32(buf, l->tstate_gil_requested) != 0;
	th->holds_gil = l->free_threaded ? -1 : holds;
	struct frame_list fl = { .snap = w->snap };
	walk_frames(w, current_frame, tstate, true, &fl);
	th = &w->snap->threads[thi];
	frame_list_take(w, &fl, &th->stack, &th->nstack);
	if (l->free_threaded ? attached == 1 : holds == 1)
		th->state = PYAG_THREAD_RUNNING;
	else if (requested)
		th->state = PYAG_THREAD_WAITING_GIL;
	else if (attached == TSTATE_SUSPENDED)
		th->state = PYAG_THREAD_SUSPENDED;
	else if (!th->nstack)
		th->state = PYAG_THREAD_IDLE;
	else if (holds == 0)
		th->state = PYAG_THREAD_GIL_RELEASED;
	else
		th->state = PYAG_THREAD_UNKNOWN;
	const char *name = thread_name(w, names, th->thread_id);
	th = &w->snap->threads[thi];
	th->name = name;
	if (!l->have_asyncio)
		return;
	if (!l->athread_tasks_head) {
		/* 3.11-3.13: the tasks are found per interpreter, later */
		uint64_t loop = thread_loop_legacy(w, tstate, buf);
		w->snap->threads[thi].loop = loop;
		return;
	}
	uint64_t native = th->native_thread_id;
	uint64_t running = get_u64(buf, l->athread_running_task);
	th->running_task = running;
	th->loop = get_u64(buf, l->athread_running_loop);
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
	walk_frames(w, current_frame, t->addr, false, &fl);
	t = &w->snap->tasks[idx];
	t->running = true;
	t->native_thread_id = native;
	frame_list_commit(w, &fl, t);
	t->ncapture = t->nframes;
}

/* ---- 3.11-3.13: tasks from sys.modules, edges rebuilt --------------------- */

/* Candidate task objects of one interpreter, without duplicates. */
struct candidates {
	struct u64map seen;
	uint64_t *v;
	size_t n, cap;
	bool nomem;
};

static void candidate_add(struct walker *w, struct candidates *c, uint64_t obj)
{
	uint32_t dummy;
	if (!obj || u64map_get(&c->seen, obj, &dummy))
		return;
	if (c->n >= w->lim->max_tasks)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		uint64_t *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			c->nomem = true;
			return;
		}
		c->v = v;
		c->cap = cap;
	}
	if (!u64map_put(&c->seen, obj, 0)) {
		c->nomem = true;
		return;
	}
	c->v[c->n++] = obj;
}

static bool weakref_item(struct walker *w, uint64_t ref, void *arg)
{
	uint64_t obj;
	if (reader_try_read(w->r, ref + w->l->weakref_object, &obj, 8))
		candidate_add(w, arg, obj);
	return true;
}

static bool strong_item(struct walker *w, uint64_t obj, void *arg)
{
	candidate_add(w, arg, obj);
	return true;
}

/* The tasks a module's dict holds: WeakSets of all tasks (3.11 _all_tasks,
 * 3.12+ _scheduled_tasks) and the set of eager tasks. */
static void module_task_sets(struct walker *w, uint64_t globals, const char *module,
			     struct candidates *c)
{
	static const char *const weaksets[] = { "_scheduled_tasks", "_all_tasks" };
	for (size_t i = 0; i < 2; i++) {
		uint64_t ws = 0, data = 0;
		struct pyag_error *err = dict_get_str(w, globals, weaksets[i], &ws);
		if (!err && ws)
			err = object_attr(w, ws, "data", &data);
		if (!err && data)
			err = set_each(w, data, weakref_item, c);
		if (err)
			warn_error(w, ws ? ws : globals, err, "%s.%s", module, weaksets[i]);
	}
	uint64_t eager = 0;
	struct pyag_error *err = dict_get_str(w, globals, "_eager_tasks", &eager);
	if (!err && eager)
		err = set_each(w, eager, strong_item, c);
	if (err)
		warn_error(w, eager ? eager : globals, err, "%s._eager_tasks", module);
}

struct running_ctx {
	struct walker *w;
	size_t first_thread;    /* this interpreter's thread records */
	int64_t interp;
};

/* _current_tasks: loop -> the task running on the thread of that loop */
static bool current_task_item(struct walker *w, uint64_t loop, uint64_t task, void *arg)
{
	struct running_ctx *rc = arg;
	struct snapshot *snap = w->snap;
	for (size_t i = rc->first_thread; i < snap->nthreads; i++) {
		struct thread_rec *th = &snap->threads[i];
		if (th->loop != loop)
			continue;
		th->running_task = task;
		long idx = snapshot_find(snap, task);
		if (idx < 0)
			break;
		struct frame_list fl = { .snap = snap };
		walk_frames(w, th->current_frame, task, false, &fl);
		struct task_rec *t = &snap->tasks[idx];
		t->running = true;
		frame_list_commit(w, &fl, t);
		t->ncapture = t->nframes;
		break;
	}
	return true;
}

/* The pending tasks of one interpreter (3.11-3.13), each on the thread
 * whose running loop is its loop (0: no thread runs it). */
static void walk_module_tasks(struct walker *w, uint64_t interp, int64_t id,
			      size_t first_thread)
{
	const struct pyag_layout *l = w->l;
	static const char *const modules[] = { "_asyncio", "asyncio.tasks" };
	uint64_t globals[2] = { 0, 0 };
	struct candidates c = { 0 };
	for (size_t m = 0; m < 2; m++) {
		struct pyag_error *err = module_dict(w, interp, modules[m], &globals[m]);
		if (err)
			warn_error(w, interp, err, "interpreter %lld: module %s",
				   (long long)id, modules[m]);
		else if (globals[m])
			module_task_sets(w, globals[m], modules[m], &c);
	}
	if (globals[0] || globals[1])
		w->snap->asyncio_seen = true;
	if (c.nomem)
		snapshot_nomem(w->snap, "the task sets");
	for (size_t i = 0; i < c.n && !w->snap->nomem; i++) {
		uint64_t obj = c.v[i];
		if (object_kind(w, obj) != TYPE_TASK || snapshot_find(w->snap, obj) >= 0)
			continue;
		uint8_t head[MAX_STRUCT_READ];
		struct pyag_error *err = read_struct(w, obj, head, l->task_size);
		if (err) {
			warn_error(w, obj, err, "task 0x%llx", (unsigned long long)obj);
			continue;
		}
		if (get_i32(head, l->fut_state) != 0)
			continue;  /* done: kept by the set until collected */
		uint64_t loop = get_u64(head, l->fut_loop);
		uint64_t native = 0;
		for (size_t k = first_thread; k < w->snap->nthreads; k++)
			if (w->snap->threads[k].loop == loop && loop) {
				native = w->snap->threads[k].native_thread_id;
				break;
			}
		struct task_rec *t = read_future(w, obj, true, id, native);
		if (t)
			for (size_t k = first_thread; k < w->snap->nthreads; k++)
				if (w->snap->threads[k].native_thread_id == native && native) {
					t->thread_id = w->snap->threads[k].thread_id;
					break;
				}
	}
	u64map_deinit(&c.seen);
	free(c.v);
	struct running_ctx rc = { w, first_thread, id };
	for (size_t m = 0; m < 2; m++) {
		uint64_t current = 0;
		if (!globals[m])
			continue;
		struct pyag_error *err = dict_get_str(w, globals[m], "_current_tasks", &current);
		if (!err && current)
			err = dict_each(w, current, current_task_item, &rc);
		if (err)
			warn_error(w, current ? current : globals[m], err, "%s._current_tasks",
				   modules[m]);
	}
}

/*
 * Awaited-by edges rebuilt where 3.14 records them (with
 * future_add_to_awaited_by), from what 3.11-3.13 objects hold: a future's
 * done callbacks, their bound self or closure cells, and each task's
 * fut_waiter. The rules and their order are those of the oracle,
 * tests/scenarios/_graph_backport.py (see tests/scenarios/README.md, "The
 * rebuilt graph"): a future's awaiters are found in the order of its
 * callbacks, which is the order 3.14 would have added them.
 */

#define MAX_AWAIT_DEPTH 32      /* futures between a task and an awaiter */
#define MAX_AWAIT_VISITS 4096   /* futures visited for one task's awaiters */
#define MAX_AWAIT_CALLBACKS (1u << 20)  /* their done callbacks, in all */
#define MAX_QUEUE_GETTERS 1024  /* getters of an asyncio.Queue followed */

/* A task blocked on a future (its fut_waiter). */
struct blocked {
	uint64_t fut;
	uint32_t task;
};

static int cmp_blocked(const void *a, const void *b)
{
	const struct blocked *x = a, *y = b;
	if (x->fut != y->fut)
		return x->fut < y->fut ? -1 : 1;
	return x->task < y->task ? -1 : x->task > y->task;
}

struct rebuild {
	struct walker *w;
	struct blocked *blocked;        /* sorted by future, then task */
	size_t nblocked;
	uint64_t *out;                  /* the awaiters found, in order */
	size_t nout, cap, max_out;
	uint64_t path[MAX_AWAIT_DEPTH]; /* the futures being followed */
	unsigned depth;
	size_t visits, callbacks;
	bool cut;                       /* a limit stopped the search */
};

static void add_awaiter(struct rebuild *rb, uint64_t awaiter)
{
	if (!awaiter)
		return;
	if (rb->nout >= rb->max_out) {
		rb->cut = true;
		return;
	}
	if (rb->nout == rb->cap) {
		size_t cap = rb->cap ? 2 * rb->cap : 16;
		uint64_t *v = realloc(rb->out, cap * sizeof(*v));
		if (!v) {
			snapshot_nomem(rb->w->snap, "awaited-by edges");
			rb->cut = true;
			return;
		}
		rb->out = v;
		rb->cap = cap;
	}
	rb->out[rb->nout++] = awaiter;
}

/* Whether the task at task is a task of the snapshot blocked on fut. */
static bool blocked_on(struct rebuild *rb, uint64_t task, uint64_t fut)
{
	long i = snapshot_find(rb->w->snap, task);
	return i >= 0 && rb->w->snap->tasks[i].is_task &&
	       rb->w->snap->tasks[i].fut_waiter == fut;
}

/* Whether obj is the built-in function `name` bound to *self_ret (what a
 * C task gives add_done_callback: task_wakeup bound to the task). */
static bool builtin_named(struct walker *w, uint64_t obj, const char *name,
			  uint64_t *self_ret)
{
	const struct pyag_layout *l = w->l;
	uint64_t def, name_ptr;
	return type_named(w, obj, "builtin_function_or_method") &&
	       reader_try_read(w->r, obj + l->cfunc_ml, &def, 8) &&
	       reader_try_read(w->r, obj + l->cfunc_self, self_ret, 8) &&
	       reader_try_read(w->r, def + l->methoddef_name, &name_ptr, 8) &&
	       cstr_is(w, name_ptr, name);
}

static bool future_pending(struct walker *w, uint64_t fut)
{
	int32_t state;
	return reader_try_read(w->r, fut + w->l->fut_state, &state, 4) && state == 0;
}

static void follow_future(struct rebuild *rb, uint64_t fut);

/* Whoever awaits a getter of an asyncio.Queue (as_completed()'s queue of
 * results): the tasks blocked in its get(). */
static void follow_queue(struct rebuild *rb, uint64_t queue)
{
	struct walker *w = rb->w;
	uint64_t getters = 0, *items;
	size_t n = 0;
	struct pyag_error *err = object_attr(w, queue, "_getters", &getters);
	if (err || !getters) {
		if (err)
			warn_error(w, queue, err, "queue 0x%llx", (unsigned long long)queue);
		return;
	}
	if (!(items = malloc(MAX_QUEUE_GETTERS * sizeof(*items)))) {
		snapshot_nomem(w->snap, "awaited-by edges");
		return;
	}
	err = deque_items(w, getters, items, MAX_QUEUE_GETTERS, &n);
	if (err)
		warn_error(w, getters, err, "queue 0x%llx: getters", (unsigned long long)queue);
	for (size_t i = 0; i < n; i++)
		follow_future(rb, items[i]);
	free(items);
}

/* The done callbacks that record an awaiter in 3.14, by the qualified name
 * of their function: what to take (an attribute of the bound method's
 * self, or a closure cell) and what it is. */
enum evidence_kind {
	EV_AWAITER,     /* the awaiter itself */
	EV_FUTURE,      /* a future: its awaiters */
	EV_PENDING,     /* a future: its awaiters while it is pending */
	EV_QUEUE,       /* an asyncio.Queue: the awaiters of its getters */
};

static const struct {
	const char *qualname;
	bool method;
	const char *name;
	enum evidence_kind kind;
} evidence[] = {
	{ "TaskGroup._on_task_done", true, "_parent_task", EV_AWAITER },
	{ "gather.<locals>._done_callback", false, "outer", EV_PENDING },
	{ "shield.<locals>._inner_done_callback", false, "outer", EV_PENDING },
	{ "_wait.<locals>._on_completion", false, "waiter", EV_FUTURE },
	{ "_AsCompletedIterator._handle_completion", true, "_done", EV_QUEUE },
	{ "as_completed.<locals>._on_completion", false, "done", EV_QUEUE },
	{ "staggered_race.<locals>.task_done", false, "on_completed_fut", EV_FUTURE },
};

/* The awaiters that the done callback cb of fut names. */
static void follow_callback(struct rebuild *rb, uint64_t fut, uint64_t cb)
{
	struct walker *w = rb->w;
	const struct pyag_layout *l = w->l;
	uint64_t self = 0, obj = 0, fn, args;
	struct pyag_error *err = NULL;
	if (builtin_named(w, cb, "task_wakeup", &self)) {
		/* a task blocked on fut */
		if (blocked_on(rb, self, fut))
			add_awaiter(rb, self);
		return;
	}
	if (type_named(w, cb, "functools.partial")) {
		/* partial(_release_waiter, waiter): wait_for() (3.11) and
		 * _cancel_and_wait() (wait_for(f, 0)) wait on waiter */
		size_t n = 0;
		if (reader_try_read(w->r, cb + l->partial_fn, &fn, 8) &&
		    reader_try_read(w->r, cb + l->partial_args, &args, 8) &&
		    callable_named(w, fn, "_release_waiter", false, &self) &&
		    !(err = seq_items(w, args, &obj, 1, &n)) && n)
			follow_future(rb, obj);
		if (err)
			warn_error(w, cb, err, "future 0x%llx: wait_for callback",
				   (unsigned long long)fut);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(evidence); i++) {
		if (!callable_named(w, cb, evidence[i].qualname, evidence[i].method, &self))
			continue;
		err = evidence[i].method ? object_attr(w, self, evidence[i].name, &obj)
					 : closure_var(w, cb, evidence[i].name, &obj);
		if (err) {
			warn_error(w, cb, err, "future 0x%llx: callback %s",
				   (unsigned long long)fut, evidence[i].qualname);
		} else if (obj) {
			switch (evidence[i].kind) {
			case EV_AWAITER:
				if (object_kind(w, obj) == TYPE_TASK)
					add_awaiter(rb, obj);
				break;
			case EV_PENDING:
				if (future_pending(w, obj))
					follow_future(rb, obj);
				break;
			case EV_FUTURE:
				follow_future(rb, obj);
				break;
			case EV_QUEUE:
				follow_queue(rb, obj);
				break;
			}
		}
		return;
	}
}

/* Who awaits fut: the awaiters its done callbacks name, in their order,
 * then the tasks blocked on it whose wake-up already left it (fut is
 * done, they are not woken yet). Duplicates are left in. */
static void follow_future(struct rebuild *rb, uint64_t fut)
{
	struct walker *w = rb->w;
	enum type_kind kind = object_kind(w, fut);
	if (kind != TYPE_TASK && kind != TYPE_FUTURE)
		return;  /* 3.14 records edges between C futures only */
	for (unsigned i = 0; i < rb->depth; i++)
		if (rb->path[i] == fut)
			return;
	if (rb->depth >= MAX_AWAIT_DEPTH || rb->visits >= MAX_AWAIT_VISITS) {
		rb->cut = true;
		return;
	}
	rb->visits++;
	rb->path[rb->depth++] = fut;
	uint64_t *cbs;
	size_t n = future_callbacks(w, fut, MAX_AWAIT_CALLBACKS - rb->callbacks, &cbs);
	if ((rb->callbacks += n) == MAX_AWAIT_CALLBACKS)
		rb->cut = true;
	for (size_t i = 0; i < n && !w->snap->nomem; i++)
		follow_callback(rb, fut, cbs[i]);
	free(cbs);
	/* the first task blocked on fut, then the others */
	size_t lo = 0, hi = rb->nblocked;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rb->blocked[mid].fut < fut)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < rb->nblocked && rb->blocked[lo].fut == fut; lo++)
		add_awaiter(rb, w->snap->tasks[rb->blocked[lo].task].addr);
	rb->depth--;
}

/* out[0..n) without task, without repeats (the first one kept) and
 * without awaiters that are no record of the snapshot (every edge ends
 * at a record), in place; the count left. */
static size_t distinct_awaiters(struct snapshot *snap, uint64_t *out, size_t n,
				uint64_t task)
{
	struct u64map seen = { 0 };
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t dummy;
		bool dup = out[i] == task || snapshot_find(snap, out[i]) < 0;
		if (n <= 32) {
			for (size_t j = 0; j < kept && !dup; j++)
				dup = out[j] == out[i];
		} else if (!(dup = dup || u64map_get(&seen, out[i], &dummy)) &&
			   !u64map_put(&seen, out[i], 0)) {
			snapshot_nomem(snap, "awaited-by edges");
			break;
		}
		if (!dup)
			out[kept++] = out[i];
	}
	u64map_deinit(&seen);
	return kept;
}

/* 3.11-3.13 record no awaited-by edges: rebuild those 3.14 records, in
 * the order 3.14 iterates them. */
static void rebuild_edges(struct walker *w)
{
	struct snapshot *snap = w->snap;
	struct rebuild rb = { .w = w };
	rb.max_out = w->lim->max_set < PYSET_MAX_KEYS ? w->lim->max_set : PYSET_MAX_KEYS;
	size_t nblocked = 0;
	for (size_t i = 0; i < snap->ntasks; i++)
		nblocked += snap->tasks[i].is_task && snap->tasks[i].fut_waiter;
	if (nblocked && !(rb.blocked = malloc(nblocked * sizeof(*rb.blocked)))) {
		snapshot_nomem(snap, "awaited-by edges");
		return;
	}
	for (size_t i = 0; i < snap->ntasks; i++)
		if (snap->tasks[i].is_task && snap->tasks[i].fut_waiter)
			rb.blocked[rb.nblocked++] = (struct blocked){
				snap->tasks[i].fut_waiter, (uint32_t)i };
	if (rb.nblocked > 1)
		qsort(rb.blocked, rb.nblocked, sizeof(*rb.blocked), cmp_blocked);
	for (size_t i = 0; i < snap->ntasks && !snap->nomem; i++) {
		uint64_t task = snap->tasks[i].addr;
		if (!snap->tasks[i].is_task)
			continue;
		rb.nout = 0;
		rb.visits = 0;
		rb.callbacks = 0;
		rb.cut = false;
		follow_future(&rb, task);
		if (rb.cut && !snap->nomem)
			snapshot_warn_at(snap, PYAG_WARNING_LIMIT, task,
					 "task 0x%llx: its awaiters are too many or too "
					 "deep to follow all (limits: %zu awaiters, %u "
					 "futures deep, %u futures, %u callbacks)",
					 (unsigned long long)task, rb.max_out, MAX_AWAIT_DEPTH,
					 MAX_AWAIT_VISITS, MAX_AWAIT_CALLBACKS);
		size_t n = distinct_awaiters(snap, rb.out, rb.nout, task);
		if (!n || snap->nomem)
			continue;
		/* 3.14 stores the first awaiter alone; the second makes a set,
		 * into which the second goes first, then the first, then each
		 * later one; _asyncio_awaited_by copies it into a frozenset */
		if (n > 1) {
			uint64_t first = rb.out[0];
			rb.out[0] = rb.out[1];
			rb.out[1] = first;
			if (!pyset_iteration_order(rb.out, &n)) {
				snapshot_nomem(snap, "awaited-by edges");
				break;
			}
		}
		struct task_rec *t = &snap->tasks[i];
		if (!(t->awaited_by = arena_alloc(&snap->mem, n * sizeof(uint64_t)))) {
			snapshot_nomem(snap, "awaited-by edges");
			break;
		}
		memcpy(t->awaited_by, rb.out, n * sizeof(uint64_t));
		t->nawaited_by = (uint32_t)n;
	}
	free(rb.blocked);
	free(rb.out);
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
		struct thread_names names = { 0 };
		size_t first_thread = snap->nthreads;
		if (tstate)
			thread_names_load(&w, interp, id, &names);
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
			walk_thread(&w, tstate, id, &names);
			struct pyag_error *e = reader_read_u64(r, tstate + l->tstate_next, &tstate);
			if (e) {
				warn_error(&w, tstate, e, "thread list");
				break;
			}
		}
		u64map_deinit(&seen_threads);
		thread_names_deinit(&names);
		if (l->have_asyncio && !l->athread_tasks_head) {
			walk_module_tasks(&w, interp, id, first_thread);
		} else if (l->have_asyncio) {
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
	if (!err && l->have_asyncio && !l->athread_tasks_head)
		rebuild_edges(&w);
	else if (!err && l->have_asyncio)
		walk_awaiters(&w);
	if (!err && l->have_asyncio && lim->waiting)
		walk_awaiting(&w);
	/* (memory that ran out before the modules were read is that error) */
	if (!err && l->have_asyncio && !l->athread_tasks_head && !snap->asyncio_seen &&
	    !snap->nomem)
		err = pyag_error_create(PYAG_ERROR_NO_ASYNCIO,
					"asyncio is not loaded in the target (neither "
					"_asyncio nor asyncio.tasks is in sys.modules)");
	u64map_deinit(&w.types);
	u64map_deinit(&w.codes);
	free(w.code_infos);
	if (!err && snap->nomem)
		err = pyag_error_nomem(snap->nomem);
	return err;
}
