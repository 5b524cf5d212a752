/*
 * What each task waits on, and the event loops around the tasks.
 *
 * A blocked task holds the future it waits on (fut_waiter). What that
 * future belongs to is found from the objects that own it, never from
 * frame names: the awaited task or gather; the callbacks of the future
 * (shield's inner future, the concurrent future of run_in_executor); the
 * objects held by the innermost suspended coroutines (their fast locals),
 * each kept only when it really owns the future: the Event, Lock,
 * Semaphore or Condition whose _waiters deque holds it, the Queue whose
 * _getters or _putters do, the TimerHandle or Handle whose arguments start
 * with it (sleep, socket operations), the StreamReader whose _waiter it
 * is, the transport whose exit waiters hold it, the TaskGroup whose
 * completion future it is. The classes are recognised by their qualified
 * names (module and class, through their bases), their attributes read by
 * name: instance dicts, inline values, __slots__.
 *
 * The loops: every thread's running loop and the loop of every task; the
 * ready queue, the timer heap, the selector's file descriptors.
 *
 * Everything is bounded like the rest of the walk; an object that cannot
 * be read is "unknown", never an error of the capture.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walker.h"

enum cls {
	C_OTHER = 0,
	C_EVENT, C_LOCK, C_SEMAPHORE, C_CONDITION, C_QUEUE, C_BARRIER,
	C_TASKGROUP, C_STREAM_READER, C_FLOW_CONTROL, C_SUBPROCESS,
	C_TIMER_HANDLE, C_HANDLE, C_GATHERING, C_CFUTURE, C_LOOP, C_WORKITEM,
	C_TASK, C_FUTURE, C_DEQUE, C_FLOAT, C_NONE, C_SOCKET, C_TIMEOUT,
};

static const struct {
	const char *name;
	enum cls cls;
} known_classes[] = {
	{ "asyncio.locks.Event", C_EVENT },
	{ "asyncio.locks.Lock", C_LOCK },
	{ "asyncio.locks.Semaphore", C_SEMAPHORE },
	{ "asyncio.locks.Condition", C_CONDITION },
	{ "asyncio.locks.Barrier", C_BARRIER },
	{ "asyncio.queues.Queue", C_QUEUE },
	{ "asyncio.taskgroups.TaskGroup", C_TASKGROUP },
	{ "asyncio.streams.StreamReader", C_STREAM_READER },
	{ "asyncio.streams.FlowControlMixin", C_FLOW_CONTROL },
	{ "asyncio.base_subprocess.BaseSubprocessTransport", C_SUBPROCESS },
	{ "asyncio.events.TimerHandle", C_TIMER_HANDLE },
	{ "asyncio.events.Handle", C_HANDLE },
	{ "asyncio.tasks._GatheringFuture", C_GATHERING },
	{ "concurrent.futures._base.Future", C_CFUTURE },
	{ "asyncio.base_events.BaseEventLoop", C_LOOP },
	{ "concurrent.futures.thread._WorkItem", C_WORKITEM },
	{ "_asyncio.Task", C_TASK },
	{ "asyncio.tasks._PyTask", C_TASK },
	{ "_asyncio.Future", C_FUTURE },
	{ "asyncio.futures._PyFuture", C_FUTURE },
	{ "collections.deque", C_DEQUE },
	{ "float", C_FLOAT },
	{ "NoneType", C_NONE },
	{ "_socket.socket", C_SOCKET },
	{ "asyncio.timeouts.Timeout", C_TIMEOUT },
};

/* Py_TPFLAGS_HEAPTYPE */
#define TPFLAGS_HEAPTYPE (1ull << 9)
#define MAX_BASES 8
#define MAX_TYPE_NAME 256
#define MAX_STATE 8
/* done callbacks looked at per future */
#define MAX_CALLBACKS 64

struct type_info {
	const char *name;       /* "module.Name" (interned), NULL: unreadable */
	uint8_t cls;
};

/* A deque scanned once: its length; its items are in aw->member. */
struct scanned_deque {
	uint64_t addr;
	int64_t len;
};

/* A selector registration whose callback's first argument is a future:
 * loop.sock_recv(), sock_accept()... wait on it. */
struct fd_wait {
	uint64_t handle;
	int64_t fd;
	const char *callback;
};

struct attr_memo {
	uint64_t obj;
	const char *name;       /* static */
	uint64_t value;
};

#define MAX_LOCALS 64

/* What the fast locals of a code object are: how many (at most
 * MAX_LOCALS), their kinds, which one is `self`. */
struct code_locals {
	uint8_t n;
	int8_t self_idx;        /* -1: none */
	uint8_t kinds[MAX_LOCALS];
};

struct aw {
	struct walker *w;
	struct snapshot *snap;
	struct u64map types;    /* type -> index into tinfo */
	struct type_info *tinfo;
	size_t ntinfo, cap_tinfo;
	struct u64map deques;   /* deque -> index into dq */
	struct scanned_deque *dq;
	size_t ndq, cap_dq;
	struct u64map member;   /* item -> index into dq (the deque it is in) */
	/* concurrent future -> index into snap->threads of the worker running
	 * it (built on first use) */
	struct u64map workers;
	bool workers_built;
	struct u64map loops;    /* loop -> index into snap->loops */
	struct u64map fd_futs;  /* future -> index into fdw */
	struct fd_wait *fdw;
	size_t nfdw, cap_fdw;
	/* attributes already read: hash(obj, name) -> index into attrs */
	struct u64map attr_index;
	struct attr_memo *attrs;
	size_t nattrs, cap_attrs;
	/* code object -> index into code_locals */
	struct u64map code_index;
	struct code_locals *code_locals;
	size_t ncode_locals, cap_code_locals;
	/* task -> index into deadlines: the asyncio.timeout() it is in,
	 * found in its loop's timer heap */
	struct u64map timeouts;
	double *deadlines;
	size_t ndeadlines, cap_deadlines;
};

/* An error that only makes a value unknown; running out of memory is
 * never that: the capture then fails. */
static void drop(struct aw *a, struct pyag_error *err)
{
	if (err && pyag_error_code(err) == PYAG_ERROR_NO_MEMORY)
		snapshot_nomem(a->snap, "what tasks wait on");
	pyag_error_destroy(err);
}

/* ---- types ------------------------------------------------------------------ */

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

/* "module.Name" of a type: tp_name when it is dotted (static types and
 * the types made from a spec), else the class's __module__ and tp_name. */
static const char *type_fullname(struct aw *a, uint64_t type, uint64_t flags)
{
	struct walker *w = a->w;
	const struct pyag_layout *l = w->l;
	char name[MAX_TYPE_NAME], full[2 * MAX_TYPE_NAME + 2];
	uint64_t name_ptr, dict = 0, mod = 0;
	if (!reader_try_read(w->r, type + l->type_name, &name_ptr, 8))
		return NULL;
	struct pyag_error *err = reader_read_cstr(w->r, name_ptr, name, sizeof(name));
	if (err) {
		drop(a, err);
		return NULL;
	}
	const char *module = NULL;
	if ((flags & TPFLAGS_HEAPTYPE) && !strchr(name, '.') &&
	    reader_try_read(w->r, type + l->type_dict, &dict, 8) && dict) {
		err = dict_get_str(w, dict, "__module__", &mod);
		if (!err && mod && object_kind(w, mod) == TYPE_STR)
			err = read_str(w, mod, &module);
		drop(a, err);
	}
	if (module && strcmp(module, "builtins") != 0)
		snprintf(full, sizeof(full), "%s.%s", module, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	return snapshot_intern(a->snap, full, strlen(full));
}

static enum cls class_of_name(const char *name)
{
	for (size_t i = 0; i < sizeof(known_classes) / sizeof(known_classes[0]); i++)
		if (strcmp(known_classes[i].name, name) == 0)
			return known_classes[i].cls;
	return C_OTHER;
}

/* The type of obj, named, and the first known class among it and its
 * bases; NULL when obj cannot be read. */
static const struct type_info *type_of(struct aw *a, uint64_t obj)
{
	struct walker *w = a->w;
	const struct pyag_layout *l = w->l;
	uint64_t type;
	uint32_t idx;
	if (!obj || !reader_try_read(w->r, obj + l->obj_type, &type, 8) || !type)
		return NULL;
	if (u64map_get(&a->types, type, &idx))
		return &a->tinfo[idx];
	struct type_info ti = { 0 };
	uint64_t t = type, flags;
	for (int depth = 0; depth < MAX_BASES && t; depth++) {
		if (!reader_try_read(w->r, t + l->type_flags, &flags, 8))
			break;
		const char *name = type_fullname(a, t, flags);
		if (!name)
			break;
		if (!depth)
			ti.name = name;
		ti.cls = (uint8_t)class_of_name(name);
		if (ti.cls != C_OTHER)
			break;
		if (!reader_try_read(w->r, t + l->type_base, &t, 8))
			break;
	}
	if (!ti.name)
		return NULL;
	if (!grow((void **)&a->tinfo, &a->cap_tinfo, a->ntinfo, sizeof(ti)) ||
	    !u64map_put(&a->types, type, (uint32_t)a->ntinfo)) {
		snapshot_nomem(a->snap, "the type names");
		return NULL;
	}
	a->tinfo[a->ntinfo] = ti;
	return &a->tinfo[a->ntinfo++];
}

static enum cls cls_of(struct aw *a, uint64_t obj)
{
	const struct type_info *ti = type_of(a, obj);
	return ti ? (enum cls)ti->cls : C_OTHER;
}

/* ---- values -------------------------------------------------------------------- */


/* obj.name (0: none, or unreadable); the tasks waiting on one object read
 * its attributes once. */
static uint64_t attr(struct aw *a, uint64_t obj, const char *name)
{
	uint64_t key = (obj * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)name;
	uint32_t idx;
	if (u64map_get(&a->attr_index, key, &idx) && a->attrs[idx].obj == obj &&
	    a->attrs[idx].name == name)
		return a->attrs[idx].value;
	uint64_t v = 0;
	struct pyag_error *err = object_attr(a->w, obj, name, &v);
	if (err) {
		drop(a, err);
		v = 0;
	}
	if (!u64map_get(&a->attr_index, key, &idx)) {
		if (!grow((void **)&a->attrs, &a->cap_attrs, a->nattrs, sizeof(*a->attrs)) ||
		    !u64map_put(&a->attr_index, key, (uint32_t)a->nattrs)) {
			snapshot_nomem(a->snap, "what tasks wait on");
			return v;
		}
		a->attrs[a->nattrs++] = (struct attr_memo){ obj, name, v };
	}
	return v;
}

static bool int_value(struct aw *a, uint64_t obj, int64_t *ret)
{
	uint64_t v;
	bool neg;
	if (!obj || object_kind(a->w, obj) != TYPE_INT)
		return false;
	struct pyag_error *err = read_int(a->w, obj, &v, &neg);
	if (err) {
		drop(a, err);
		return false;
	}
	if (v > INT64_MAX)
		return false;
	*ret = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static bool float_value(struct aw *a, uint64_t obj, double *ret)
{
	if (!obj || cls_of(a, obj) != C_FLOAT ||
	    !reader_try_read(a->w->r, obj + a->w->l->float_value, ret, 8))
		return false;
	return isfinite(*ret);
}

static const char *str_value(struct aw *a, uint64_t obj)
{
	const char *s = NULL;
	if (!obj || object_kind(a->w, obj) != TYPE_STR)
		return NULL;
	struct pyag_error *err = read_str(a->w, obj, &s);
	drop(a, err);
	return err ? NULL : s;
}

/* The length of a list, tuple or deque; -1 when it is none of them. */
static int64_t container_len(struct aw *a, uint64_t obj)
{
	const struct pyag_layout *l = a->w->l;
	int64_t n;
	uint64_t off;
	if (!obj)
		return -1;
	if (cls_of(a, obj) == C_DEQUE)
		off = l->deque_ob_size;
	else if (type_named(a->w, obj, "list"))
		off = l->list_ob_size;
	else if (type_named(a->w, obj, "tuple"))
		off = l->tuple_ob_size;
	else
		return -1;
	if (!reader_try_read(a->w->r, obj + off, &n, 8))
		return -1;
	return n >= 0 && (uint64_t)n <= a->w->lim->max_set ? n : -1;
}

struct deque_member {
	struct aw *a;
	uint32_t me;
	bool nomem;
};

static bool deque_member_fn(struct walker *w, uint64_t item, void *arg)
{
	struct deque_member *d = arg;
	(void)w;
	if (!u64map_put(&d->a->member, item, d->me)) {
		d->nomem = true;
		return false;
	}
	return true;
}

/* Scan the deque dq once (bounded by the set limit): its length, and
 * which deque each item is in. */
static struct pyag_error *deque_scan(struct aw *a, uint64_t dq, uint32_t *idx_ret)
{
	if (u64map_get(&a->deques, dq, idx_ret))
		return NULL;
	if (!grow((void **)&a->dq, &a->cap_dq, a->ndq, sizeof(*a->dq)) ||
	    !u64map_put(&a->deques, dq, (uint32_t)a->ndq))
		return pyag_error_nomem("deque index");
	uint32_t me = (uint32_t)a->ndq++;
	a->dq[me] = (struct scanned_deque){ .addr = dq, .len = -1 };
	*idx_ret = me;
	struct deque_member d = { .a = a, .me = me };
	struct pyag_error *err = deque_each(a->w, dq, deque_member_fn, &d, &a->dq[me].len);
	if (!err && d.nomem)
		err = pyag_error_nomem("deque index");
	return err;
}

/* Whether the deque at dq (which may be None) holds item; *len_ret its
 * length (0 for None), -1 when it cannot be read. */
static bool deque_holds(struct aw *a, uint64_t dq, uint64_t item, int64_t *len_ret)
{
	uint32_t idx, where;
	*len_ret = 0;
	if (!dq || cls_of(a, dq) != C_DEQUE)
		return false;
	struct pyag_error *err = deque_scan(a, dq, &idx);
	if (err) {
		warn_error(a->w, dq, err, "deque 0x%llx", (unsigned long long)dq);
		*len_ret = -1;
		return false;
	}
	*len_ret = a->dq[idx].len;
	return u64map_get(&a->member, item, &where) && where == idx;
}

struct set_find {
	uint64_t item;
	int64_t n;
	bool found;
};

static bool set_find_fn(struct walker *w, uint64_t key, void *arg)
{
	struct set_find *f = arg;
	(void)w;
	f->n++;
	f->found |= key == f->item;
	return true;
}

/* Whether the list, tuple or set at seq holds item (a list's first 1024
 * items). */
static bool seq_holds(struct aw *a, uint64_t seq, uint64_t item, int64_t *len_ret)
{
	uint64_t items[1024];
	size_t n = 0;
	*len_ret = 0;
	if (!seq || cls_of(a, seq) == C_NONE)
		return false;
	if (type_named(a->w, seq, "set")) {
		struct set_find f = { .item = item };
		struct pyag_error *err = set_each(a->w, seq, set_find_fn, &f);
		drop(a, err);
		*len_ret = err ? -1 : f.n;
		return !err && f.found;
	}
	struct pyag_error *err = seq_items(a->w, seq, items, 1024, &n);
	if (err) {
		drop(a, err);
		*len_ret = -1;
		return false;
	}
	*len_ret = (int64_t)n;
	for (size_t i = 0; i < n; i++)
		if (items[i] == item)
			return true;
	return false;
}

/* The qualified name of a function or of a bound method's function. */
static const char *callable_name(struct aw *a, uint64_t obj)
{
	const struct pyag_layout *l = a->w->l;
	uint64_t func = obj, qn;
	if (!obj)
		return NULL;
	if (type_named(a->w, obj, "method") &&
	    !reader_try_read(a->w->r, obj + l->method_func, &func, 8))
		return NULL;
	if (!type_named(a->w, func, "function") ||
	    !reader_try_read(a->w->r, func + l->func_qualname, &qn, 8))
		return NULL;
	return str_value(a, qn);
}

/* ---- the record ------------------------------------------------------------------ */

struct building {
	struct await_rec r;
	struct state_item st[MAX_STATE];
};

static void put_int(struct building *b, const char *key, int64_t v, bool known)
{
	if (b->r.nstate >= MAX_STATE)
		return;
	b->st[b->r.nstate++] = (struct state_item){
		.key = key, .type = known ? PYAG_VALUE_INT : PYAG_VALUE_NULL, .i = v };
}

static void put_bool(struct building *b, const char *key, int v)
{
	if (b->r.nstate >= MAX_STATE)
		return;
	b->st[b->r.nstate++] = (struct state_item){
		.key = key, .type = v < 0 ? PYAG_VALUE_NULL : PYAG_VALUE_BOOL, .i = v > 0 };
}

static void put_float(struct building *b, const char *key, double v, bool known)
{
	if (b->r.nstate >= MAX_STATE)
		return;
	b->st[b->r.nstate++] = (struct state_item){
		.key = key, .type = known ? PYAG_VALUE_FLOAT : PYAG_VALUE_NULL, .f = v };
}

static void put_str(struct building *b, const char *key, const char *s)
{
	if (b->r.nstate >= MAX_STATE)
		return;
	b->st[b->r.nstate++] = (struct state_item){
		.key = key, .type = s ? PYAG_VALUE_STRING : PYAG_VALUE_NULL, .s = s };
}

static void put_len(struct building *b, const char *key, int64_t len)
{
	put_int(b, key, len, len >= 0);
}

/* A bool attribute: 1, 0, -1 unknown. */
static int bool_attr(struct aw *a, uint64_t obj, const char *name)
{
	int64_t v;
	return int_value(a, attr(a, obj, name), &v) ? v != 0 : -1;
}

static void put_int_attr(struct aw *a, struct building *b, const char *key,
			 uint64_t obj, const char *name)
{
	int64_t v = 0;
	bool known = int_value(a, attr(a, obj, name), &v);
	put_int(b, key, v, known);
}

static void set_object(struct aw *a, struct building *b, enum pyag_await_kind kind,
		       uint64_t obj)
{
	const struct type_info *ti = type_of(a, obj);
	b->r.kind = (uint8_t)kind;
	b->r.object = obj;
	b->r.type = ti ? ti->name : NULL;
}

/* ---- kinds by owner -------------------------------------------------------------- */

/* deadline and, live, the time left (loop.time() is the monotonic clock) */
static void put_deadline(struct aw *a, struct building *b, uint64_t handle)
{
	double when = 0;
	bool known = float_value(a, attr(a, handle, "_when"), &when);
	put_float(b, "deadline", when, known);
	put_float(b, "remaining", known ? when - a->snap->now : 0,
		  known && a->snap->has_now);
}

/* "host:port" of a socket address tuple, or a str address */
static const char *peer_name(struct aw *a, uint64_t addr)
{
	const char *s = str_value(a, addr);
	if (s || !addr)
		return s;
	uint64_t items[2];
	size_t n = 0;
	struct pyag_error *err = seq_items(a->w, addr, items, 2, &n);
	if (err) {
		drop(a, err);
		return NULL;
	}
	int64_t port;
	const char *host = n == 2 ? str_value(a, items[0]) : NULL;
	if (!host || !int_value(a, items[1], &port))
		return NULL;
	char buf[300];
	snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host,
		 (long long)port);
	return snapshot_intern(a->snap, buf, strlen(buf));
}

/* A transport's descriptor and peer: a selector transport's _sock_fd and
 * _extra["peername"]. */
static void put_transport(struct aw *a, struct building *b, uint64_t transport)
{
	int64_t fd = 0;
	bool known = transport && int_value(a, attr(a, transport, "_sock_fd"), &fd);
	const char *peer = NULL;
	uint64_t extra = transport ? attr(a, transport, "_extra") : 0, p = 0;
	if (extra && object_kind(a->w, extra) == TYPE_OTHER) {
		struct pyag_error *err = dict_get_str(a->w, extra, "peername", &p);
		bool failed = err != NULL;
		drop(a, err);
		if (!failed)
			peer = peer_name(a, p);
	}
	put_int(b, "fd", fd, known);
	put_str(b, "peer", peer);
}

static uint64_t transport_of(struct aw *a, uint64_t obj)
{
	uint64_t t = attr(a, obj, "_transport");
	if (!t || cls_of(a, t) == C_NONE)
		t = attr(a, obj, "transport");
	if (t && cls_of(a, t) == C_NONE)
		t = 0;
	return t;
}

/* The socket object's descriptor (socket.socket is a _socket.socket). */
static bool socket_fd(struct aw *a, uint64_t sock, int64_t *ret)
{
	int32_t fd;
	if (!sock || cls_of(a, sock) != C_SOCKET ||
	    !reader_try_read(a->w->r, sock + a->w->l->socket_fd, &fd, 4))
		return false;
	*ret = fd;
	return true;
}

/* "_sock_recv" -> "recv", "_sock_connect_cb" -> "connect" */
static const char *socket_operation(struct aw *a, const char *qualname)
{
	const char *m = qualname ? strrchr(qualname, '.') : NULL;
	m = m ? m + 1 : qualname;
	if (!m)
		return NULL;
	if (strncmp(m, "_sock_", 6) == 0)
		m += 6;
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", m);
	size_t n = strlen(buf);
	if (n > 3 && strcmp(buf + n - 3, "_cb") == 0)
		buf[n - 3] = 0;
	return snapshot_intern(a->snap, buf, strlen(buf));
}

/* Whether obj, a value the task's coroutines hold, owns fut; fill b. */
static bool owner_check(struct aw *a, struct building *b, uint64_t obj, uint64_t fut,
			bool is_self)
{
	int64_t n1, n2, n3, v;
	uint64_t x;
	switch (cls_of(a, obj)) {
	case C_EVENT:
	case C_LOCK:
	case C_SEMAPHORE: {
		/* a waiter deque, and a flag or a count */
		static const struct {
			enum cls cls;
			enum pyag_await_kind kind;
			const char *key, *name;
			bool flag;
		} prims[] = {
			{ C_EVENT, PYAG_AWAIT_EVENT, "set", "_value", true },
			{ C_LOCK, PYAG_AWAIT_LOCK, "locked", "_locked", true },
			{ C_SEMAPHORE, PYAG_AWAIT_SEMAPHORE, "value", "_value", false },
		};
		enum cls c = cls_of(a, obj);
		size_t k = 0;
		while (prims[k].cls != c)
			k++;
		if (!deque_holds(a, attr(a, obj, "_waiters"), fut, &n1))
			return false;
		set_object(a, b, prims[k].kind, obj);
		if (prims[k].flag)
			put_bool(b, prims[k].key, bool_attr(a, obj, prims[k].name));
		else
			put_int_attr(a, b, prims[k].key, obj, prims[k].name);
		put_len(b, "waiters", n1);
		return true;
	}
	case C_CONDITION:
		if (!deque_holds(a, attr(a, obj, "_waiters"), fut, &n1))
			return false;
		set_object(a, b, PYAG_AWAIT_CONDITION, obj);
		x = attr(a, obj, "_lock");
		put_bool(b, "locked", x ? bool_attr(a, x, "_locked") : -1);
		put_len(b, "waiters", n1);
		return true;
	case C_QUEUE: {
		bool get = deque_holds(a, attr(a, obj, "_getters"), fut, &n1);
		bool put = !get && deque_holds(a, attr(a, obj, "_putters"), fut, &n2);
		if (!get && !put)
			return false;
		if (get)
			deque_holds(a, attr(a, obj, "_putters"), 0, &n2);
		n3 = container_len(a, attr(a, obj, "_queue"));
		set_object(a, b, PYAG_AWAIT_QUEUE, obj);
		put_str(b, "operation", get ? "get" : "put");
		put_len(b, "size", n3);
		put_int_attr(a, b, "maxsize", obj, "_maxsize");
		put_len(b, "getters", n1);
		put_len(b, "putters", n2);
		return true;
	}
	case C_TASKGROUP:
		if (attr(a, obj, "_on_completed_fut") != fut)
			return false;
		set_object(a, b, PYAG_AWAIT_TASKGROUP, obj);
		x = attr(a, obj, "_tasks");
		v = -1;
		if (x)
			reader_try_read(a->w->r, x + a->w->l->set_used, &v, 8);
		put_len(b, "tasks", v >= 0 && (uint64_t)v <= a->w->lim->max_set ? v : -1);
		return true;
	case C_STREAM_READER:
		if (attr(a, obj, "_waiter") != fut)
			return false;
		set_object(a, b, PYAG_AWAIT_STREAM, obj);
		put_str(b, "operation", "read");
		put_transport(a, b, transport_of(a, obj));
		return true;
	case C_FLOW_CONTROL:
		/* 3.12+: a deque of drain waiters; 3.11: one */
		if (!deque_holds(a, attr(a, obj, "_drain_waiters"), fut, &n1) &&
		    attr(a, obj, "_drain_waiter") != fut)
			return false;
		set_object(a, b, PYAG_AWAIT_STREAM, obj);
		put_str(b, "operation", "drain");
		put_transport(a, b, transport_of(a, obj));
		return true;
	case C_SUBPROCESS:
		if (!seq_holds(a, attr(a, obj, "_exit_waiters"), fut, &n1))
			return false;
		set_object(a, b, PYAG_AWAIT_SUBPROCESS, obj);
		put_int_attr(a, b, "pid", obj, "_pid");
		put_int_attr(a, b, "returncode", obj, "_returncode");
		return true;
	case C_TIMER_HANDLE:
	case C_HANDLE: {
		uint64_t args[3] = { 0, 0, 0 };
		size_t n = 0;
		x = attr(a, obj, "_args");
		struct pyag_error *err = x ? seq_items(a->w, x, args, 3, &n) : NULL;
		bool failed = err != NULL;
		drop(a, err);
		if (failed || n < 1 || args[0] != fut)
			return false;
		const char *cb = callable_name(a, attr(a, obj, "_callback"));
		if (cls_of(a, obj) == C_TIMER_HANDLE) {
			bool sleep = cb && strcmp(cb, "_set_result_unless_cancelled") == 0;
			set_object(a, b, sleep ? PYAG_AWAIT_SLEEP : PYAG_AWAIT_TIMEOUT, obj);
			put_deadline(a, b, obj);
			return true;
		}
		set_object(a, b, PYAG_AWAIT_SOCKET, obj);
		const char *op = socket_operation(a, cb);
		put_str(b, "operation", op);
		v = 0;
		bool known = n > 1 && socket_fd(a, args[1], &v);
		put_int(b, "fd", v, known);
		/* sock_connect() holds the address it connects to */
		put_str(b, "peer", op && strcmp(op, "connect") == 0 && n > 2
					   ? peer_name(a, args[2]) : NULL);
		return true;
	}
	case C_OTHER:
		/* a class of another library (aiohttp's readers): its own
		 * _waiter, read from its transport */
		if (!is_self || attr(a, obj, "_waiter") != fut)
			return false;
		x = transport_of(a, obj);
		if (!x)
			x = transport_of(a, attr(a, obj, "_protocol"));
		if (!x)
			return false;
		set_object(a, b, PYAG_AWAIT_STREAM, obj);
		put_str(b, "operation", "read");
		put_transport(a, b, x);
		return true;
	default:
		return false;
	}
}

/* ---- the coroutines' locals ------------------------------------------------------ */

/* CO_FAST_CELL: a local that lives in a cell */
#define CO_FAST_CELL 0x40

/* The fast locals of the frame at frame (a thread's, or the one inside a
 * coroutine or async generator): up to max values, and which of them is
 * `self`. */
/* The locals of a code object (cached): NULL when unreadable. */
static const struct code_locals *code_locals_of(struct aw *a, uint64_t code)
{
	struct walker *w = a->w;
	const struct pyag_layout *l = w->l;
	uint32_t idx;
	if (u64map_get(&a->code_index, code, &idx))
		return idx == UINT32_MAX ? NULL : &a->code_locals[idx];
	struct code_locals cl = { .self_idx = -1 };
	uint64_t names, namev[MAX_LOCALS], kinds_obj;
	size_t n = 0;
	bool ok = object_kind(w, code) == TYPE_CODE &&
		  reader_try_read(w->r, code + l->code_localsplusnames, &names, 8);
	if (ok) {
		struct pyag_error *err = seq_items(w, names, namev, MAX_LOCALS, &n);
		ok = !err;
		drop(a, err);
	}
	ok = ok && reader_try_read(w->r, code + l->code_localspluskinds, &kinds_obj, 8) &&
	     (!n || reader_try_read(w->r, kinds_obj + l->bytes_sval, cl.kinds, n));
	for (size_t i = 0; ok && i < n && cl.self_idx < 0; i++) {
		bool is_self = false;
		drop(a, str_equals(w, namev[i], "self", &is_self));
		if (is_self)
			cl.self_idx = (int8_t)i;
	}
	cl.n = (uint8_t)n;
	if (ok && !grow((void **)&a->code_locals, &a->cap_code_locals, a->ncode_locals,
			sizeof(cl))) {
		snapshot_nomem(a->snap, "what tasks wait on");
		return NULL;
	}
	if (!u64map_put(&a->code_index, code, ok ? (uint32_t)a->ncode_locals : UINT32_MAX)) {
		snapshot_nomem(a->snap, "what tasks wait on");
		return NULL;
	}
	if (!ok)
		return NULL;
	a->code_locals[a->ncode_locals] = cl;
	return &a->code_locals[a->ncode_locals++];
}

/* The fast locals of the frame at frame (a thread's, or the one inside a
 * coroutine or async generator): up to max values, and which of them is
 * `self`. */
static size_t frame_locals(struct aw *a, uint64_t frame, uint64_t *vals, size_t max,
			   size_t *self_idx)
{
	struct walker *w = a->w;
	const struct pyag_layout *l = w->l;
	uint64_t code;
	*self_idx = (size_t)-1;
	if (!reader_try_read(w->r, frame + l->frame_executable, &code, 8))
		return 0;
	code &= ~l->stackref_tag_mask;
	const struct code_locals *cl = code ? code_locals_of(a, code) : NULL;
	if (!cl)
		return 0;
	size_t n = cl->n < max ? cl->n : max;
	if (!n || !reader_try_read(w->r, frame + l->frame_localsplus, vals, 8 * n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		vals[i] &= ~l->stackref_tag_mask;
		if ((cl->kinds[i] & CO_FAST_CELL) && vals[i] && type_named(w, vals[i], "cell") &&
		    !reader_try_read(w->r, vals[i] + l->cell_ref, &vals[i], 8))
			vals[i] = 0;
	}
	if (cl->self_idx >= 0 && (size_t)cl->self_idx < n)
		*self_idx = (size_t)cl->self_idx;
	return n;
}

/* Among the values the innermost coroutines of t hold, the owner of fut;
 * a Condition that belongs to a Barrier held further out is the Barrier. */
static bool owner_in_frames(struct aw *a, struct building *b, const struct task_rec *t,
			    uint64_t fut)
{
	uint64_t vals[MAX_LOCALS];
	size_t self_idx;
	size_t found_at = 0;
	bool found = false;
	for (size_t c = 0; c < t->nleaf_coros && !found; c++) {
		size_t n = frame_locals(a, t->leaf_coros[c] + a->w->l->gen_iframe, vals,
					MAX_LOCALS, &self_idx);
		for (size_t i = 0; i < n && !found; i++) {
			if (!vals[i] || vals[i] == fut)
				continue;
			found = owner_check(a, b, vals[i], fut, i == self_idx);
			found_at = c;
		}
	}
	if (!found || b->r.kind != PYAG_AWAIT_CONDITION)
		return found;
	uint64_t cond = b->r.object;
	for (size_t c = found_at + 1; c < t->nleaf_coros; c++) {
		size_t n = frame_locals(a, t->leaf_coros[c] + a->w->l->gen_iframe, vals,
					MAX_LOCALS, &self_idx);
		for (size_t i = 0; i < n; i++) {
			if (!vals[i] || cls_of(a, vals[i]) != C_BARRIER ||
			    attr(a, vals[i], "_cond") != cond)
				continue;
			uint64_t barrier = vals[i];
			*b = (struct building){ 0 };
			b->r.future = fut;
			set_object(a, b, PYAG_AWAIT_BARRIER, barrier);
			put_int_attr(a, b, "parties", barrier, "_parties");
			put_int_attr(a, b, "waiting", barrier, "_count");
			/* _BarrierState members: their _value_ is the name */
			put_str(b, "state", str_value(a, attr(a, attr(a, barrier, "_state"),
							      "_value_")));
			return true;
		}
	}
	return true;
}

/* ---- executors: the worker thread running a work item --------------------------- */

/* The frames of every thread: a _WorkItem held by a frame's locals whose
 * future is a concurrent future: that thread runs it. */
static void workers_build(struct aw *a)
{
	struct walker *w = a->w;
	const struct pyag_layout *l = w->l;
	a->workers_built = true;
	for (size_t ti = 0; ti < a->snap->nthreads; ti++) {
		uint64_t frame = a->snap->threads[ti].current_frame;
		for (size_t depth = 0; frame && depth < w->lim->max_frames && depth < 256; depth++) {
			uint8_t buf[MAX_STRUCT_READ];
			if (read_struct(w, frame, buf, l->frame_size) != NULL)
				break;
			uint64_t prev = get_u64(buf, l->frame_previous);
			uint64_t code = get_u64(buf, l->frame_executable) & ~l->stackref_tag_mask;
			int owner = (int8_t)buf[l->frame_owner];
			if (code && !(l->owner_first_incomplete &&
				      owner >= l->owner_first_incomplete)) {
				uint64_t vals[MAX_LOCALS];
				size_t self_idx;
				size_t n = frame_locals(a, frame, vals, 8, &self_idx);
				for (size_t i = 0; i < n; i++) {
					if (!vals[i] || cls_of(a, vals[i]) != C_WORKITEM)
						continue;
					uint64_t f = attr(a, vals[i], "future");
					if (f && !u64map_put(&a->workers, f, (uint32_t)ti))
						snapshot_nomem(a->snap, "executor workers");
				}
			}
			frame = prev == frame ? 0 : prev;
		}
	}
}

/* What the done callbacks of the future say it is: shield()'s outer
 * future, or wrap_future()'s (run_in_executor(), to_thread()). */
static bool callbacks_check(struct aw *a, struct building *b, const uint64_t *cbs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t inner = 0, source = 0;
		struct pyag_error *err;
		if (callable_named(a->w, cbs[i], "shield.<locals>._outer_done_callback",
				   false, NULL)) {
			err = closure_var(a->w, cbs[i], "inner", &inner);
			bool failed = err != NULL;
			drop(a, err);
			if (failed || !inner)
				continue;
			set_object(a, b, PYAG_AWAIT_SHIELD, inner);
			return true;
		}
		if (!callable_named(a->w, cbs[i], "_chain_future.<locals>._call_check_cancel",
				    false, NULL))
			continue;
		err = closure_var(a->w, cbs[i], "source", &source);
		bool failed = err != NULL;
		drop(a, err);
		if (failed || !source || cls_of(a, source) != C_CFUTURE)
			continue;
		set_object(a, b, PYAG_AWAIT_EXECUTOR, source);
		put_str(b, "state", str_value(a, attr(a, source, "_state")));
		if (!a->workers_built)
			workers_build(a);
		uint32_t ti;
		bool known = u64map_get(&a->workers, source, &ti);
		put_int(b, "thread", known ? (int64_t)a->snap->threads[ti].native_thread_id : 0,
			known);
		return true;
	}
	return false;
}

static bool callbacks_say(struct aw *a, struct building *b, uint64_t fut)
{
	/* the callbacks are fields of asyncio's C futures only (a
	 * future-like object of another class keeps them elsewhere) */
	if (object_kind(a->w, fut) != TYPE_FUTURE)
		return false;
	uint64_t *cbs;
	size_t n = future_callbacks(a->w, fut, MAX_CALLBACKS, &cbs);
	bool found = callbacks_check(a, b, cbs, n);
	free(cbs);
	return found;
}

/* ---- tasks ----------------------------------------------------------------------- */

static bool selector_check(struct aw *a, struct building *b, uint64_t fut);

static void task_awaiting(struct aw *a, size_t ti)
{
	struct task_rec *t = &a->snap->tasks[ti];
	uint64_t fut = t->fut_waiter;
	if (!t->is_task || !fut || t->running)
		return;
	struct building b = { 0 };
	b.r.future = fut;
	enum cls c = cls_of(a, fut);
	if (c == C_TASK) {
		set_object(a, &b, PYAG_AWAIT_TASK, fut);
	} else if (c == C_GATHERING) {
		uint64_t children = attr(a, fut, "_children"), items[1024];
		size_t n = 0, done = 0;
		struct pyag_error *err = children ? seq_items(a->w, children, items, 1024, &n)
						  : NULL;
		drop(a, err);
		for (size_t i = 0; i < n; i++) {
			int32_t state;
			if (reader_try_read(a->w->r, items[i] + a->w->l->fut_state, &state, 4) &&
			    state != 0)
				done++;
		}
		set_object(a, &b, PYAG_AWAIT_GATHER, fut);
		put_int(&b, "children", (int64_t)n, !err && children);
		put_int(&b, "done", (int64_t)done, !err && children);
	} else if (!callbacks_say(a, &b, fut) && !owner_in_frames(a, &b, t, fut) &&
		   !selector_check(a, &b, fut)) {
		set_object(a, &b, c == C_FUTURE ? PYAG_AWAIT_FUTURE : PYAG_AWAIT_UNKNOWN, fut);
	}
	uint32_t to;
	if (u64map_get(&a->timeouts, t->addr, &to))
		put_float(&b, "timeout", a->deadlines[to], true);
	t = &a->snap->tasks[ti];
	t->awaiting = arena_alloc(&a->snap->mem, sizeof(*t->awaiting));
	struct state_item *st = b.r.nstate
		? arena_alloc(&a->snap->mem, b.r.nstate * sizeof(*st)) : NULL;
	if (!t->awaiting || (b.r.nstate && !st)) {
		t->awaiting = NULL;
		snapshot_nomem(a->snap, "awaited objects");
		return;
	}
	if (b.r.nstate)
		memcpy(st, b.st, b.r.nstate * sizeof(*st));
	*t->awaiting = b.r;
	t->awaiting->state = st;
}

/* ---- loops --------------------------------------------------------------------- */

#define MAX_FDS 4096

struct fd_walk {
	struct aw *a;
	struct loop_fd *fds;
	size_t n, cap;
	bool nomem;
};

static bool fd_item(struct walker *w, uint64_t key, uint64_t value, void *arg)
{
	struct fd_walk *fw = arg;
	struct aw *a = fw->a;
	(void)w;
	int64_t fd;
	uint64_t items[4], handles[2] = { 0, 0 };
	size_t n = 0, nh = 0;
	if (!int_value(a, key, &fd))
		return true;
	struct pyag_error *err = seq_items(a->w, value, items, 4, &n);
	if (!err && n == 4)
		err = seq_items(a->w, items[3], handles, 2, &nh);
	drop(a, err);
	if (fw->n >= MAX_FDS)
		return false;
	if (!grow((void **)&fw->fds, &fw->cap, fw->n, sizeof(*fw->fds))) {
		fw->nomem = true;
		return false;
	}
	struct loop_fd *f = &fw->fds[fw->n++];
	f->fd = fd;
	f->reader = f->writer = NULL;
	for (size_t k = 0; k < nh && k < 2; k++) {
		if (cls_of(a, handles[k]) != C_HANDLE)
			continue;
		const char *cb = callable_name(a, attr(a, handles[k], "_callback"));
		*(k ? &f->writer : &f->reader) = cb;
		/* the future its callback completes */
		uint64_t args = attr(a, handles[k], "_args"), first = 0;
		size_t m = 0;
		err = args ? seq_items(a->w, args, &first, 1, &m) : NULL;
		bool failed = err != NULL;
		drop(a, err);
		if (failed || !m || !first || (cls_of(a, first) != C_FUTURE))
			continue;
		if (!grow((void **)&a->fdw, &a->cap_fdw, a->nfdw, sizeof(*a->fdw)) ||
		    !u64map_put(&a->fd_futs, first, (uint32_t)a->nfdw)) {
			fw->nomem = true;
			return false;
		}
		a->fdw[a->nfdw++] = (struct fd_wait){ handles[k], fd, cb };
	}
	return true;
}

/* A future a selector registration completes: a socket operation. */
static bool selector_check(struct aw *a, struct building *b, uint64_t fut)
{
	uint32_t idx;
	if (!u64map_get(&a->fd_futs, fut, &idx))
		return false;
	const struct fd_wait *f = &a->fdw[idx];
	set_object(a, b, PYAG_AWAIT_SOCKET, f->handle);
	put_str(b, "operation", socket_operation(a, f->callback));
	put_int(b, "fd", f->fd, true);
	put_str(b, "peer", NULL);
	return true;
}

static int cmp_fd(const void *x, const void *y)
{
	const struct loop_fd *a = x, *b = y;
	return (a->fd > b->fd) - (a->fd < b->fd);
}

static bool is_self_pipe(const struct loop_fd *f)
{
	return f->reader && !f->writer &&
	       strcmp(f->reader, "BaseSelectorEventLoop._read_from_self") == 0;
}

/* A timer of asyncio.timeout(): its Timeout._on_timeout bound method;
 * the task it will cancel is in a timeout context with that deadline. */
static void timeout_note(struct aw *a, uint64_t timer)
{
	const struct pyag_layout *l = a->w->l;
	uint64_t cb = attr(a, timer, "_callback"), self, task;
	double when;
	if (!cb || !type_named(a->w, cb, "method") ||
	    !reader_try_read(a->w->r, cb + l->method_self, &self, 8) ||
	    cls_of(a, self) != C_TIMEOUT || !(task = attr(a, self, "_task")) ||
	    !float_value(a, attr(a, self, "_when"), &when))
		return;
	if (!grow((void **)&a->deadlines, &a->cap_deadlines, a->ndeadlines,
		  sizeof(double)) ||
	    !u64map_put(&a->timeouts, task, (uint32_t)a->ndeadlines)) {
		snapshot_nomem(a->snap, "timeouts");
		return;
	}
	a->deadlines[a->ndeadlines++] = when;
}

static void loop_read(struct aw *a, struct loop_rec *lr)
{
	struct walker *w = a->w;
	uint64_t loop = lr->addr;
	const struct type_info *ti = type_of(a, loop);
	lr->type = ti ? ti->name : NULL;
	lr->readable = ti && ti->cls == C_LOOP;
	if (!lr->readable)
		return;
	uint64_t tid = attr(a, loop, "_thread_id");
	lr->running = tid && cls_of(a, tid) != C_NONE;
	lr->closed = bool_attr(a, loop, "_closed") == 1;
	lr->ready = container_len(a, attr(a, loop, "_ready"));
	/* the timer heap: live timers and the earliest deadline */
	uint64_t heap = attr(a, loop, "_scheduled");
	int64_t n = container_len(a, heap);
	lr->timers = n < 0 ? -1 : 0;
	if (n > 0) {
		uint64_t *items = malloc((size_t)n * 8);
		size_t got = 0;
		if (!items) {
			snapshot_nomem(a->snap, "a loop's timers");
			return;
		}
		struct pyag_error *err = seq_items(w, heap, items, (size_t)n, &got);
		if (err)
			warn_error(w, loop, err, "loop 0x%llx: timers", (unsigned long long)loop);
		for (size_t i = 0; i < got; i++) {
			double when;
			if (bool_attr(a, items[i], "_cancelled") != 0 ||
			    !float_value(a, attr(a, items[i], "_when"), &when))
				continue;
			lr->timers++;
			if (!lr->has_deadline || when < lr->next_deadline)
				lr->next_deadline = when;
			lr->has_deadline = true;
			timeout_note(a, items[i]);
		}
		free(items);
	}
	uint64_t selector = attr(a, loop, "_selector");
	uint64_t map = selector ? attr(a, selector, "_fd_to_key") : 0;
	if (map) {
		struct fd_walk fw = { .a = a };
		struct pyag_error *err = dict_each(w, map, fd_item, &fw);
		if (err)
			warn_error(w, loop, err, "loop 0x%llx: selector", (unsigned long long)loop);
		if (fw.nomem)
			snapshot_nomem(a->snap, "a loop's file descriptors");
		if (fw.n) {
			lr->fds = arena_alloc(&a->snap->mem, fw.n * sizeof(*lr->fds));
			if (lr->fds) {
				qsort(fw.fds, fw.n, sizeof(*fw.fds), cmp_fd);
				memcpy(lr->fds, fw.fds, fw.n * sizeof(*lr->fds));
				lr->nfds = (uint32_t)fw.n;
			} else {
				snapshot_nomem(a->snap, "a loop's file descriptors");
			}
		}
		free(fw.fds);
	}
}

static struct loop_rec *loop_add(struct aw *a, uint64_t loop, int64_t interp)
{
	uint32_t idx;
	if (!loop)
		return NULL;
	if (u64map_get(&a->loops, loop, &idx))
		return &a->snap->loops[idx];
	struct loop_rec *lr = snapshot_add_loop(a->snap);
	if (!lr)
		return NULL;
	if (!u64map_put(&a->loops, loop, (uint32_t)(a->snap->nloops - 1))) {
		a->snap->nloops--;
		snapshot_nomem(a->snap, "loop records");
		return NULL;
	}
	lr->addr = loop;
	lr->interp_id = interp;
	loop_read(a, lr);
	return &a->snap->loops[a->snap->nloops - 1];
}

static void loops_build(struct aw *a)
{
	struct snapshot *snap = a->snap;
	for (size_t i = 0; i < snap->nthreads; i++) {
		struct loop_rec *lr = loop_add(a, snap->threads[i].loop, snap->threads[i].interp_id);
		if (lr && !lr->native_thread_id)
			lr->native_thread_id = snap->threads[i].native_thread_id;
	}
	for (size_t i = 0; i < snap->ntasks; i++)
		if (snap->tasks[i].is_task)
			loop_add(a, snap->tasks[i].loop, snap->tasks[i].interp_id);
}

/* What could wake each loop's tasks (after the tasks' awaiting). */
static void loops_wake(struct aw *a)
{
	struct snapshot *snap = a->snap;
	bool *woken = calloc(snap->nloops ? snap->nloops : 1, sizeof(bool));
	if (!woken) {
		snapshot_nomem(snap, "loop records");
		return;
	}
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct task_rec *t = &snap->tasks[i];
		uint32_t idx;
		if (!t->is_task || !u64map_get(&a->loops, t->loop, &idx))
			continue;
		snap->loops[idx].ntasks++;
		/* another thread or process completes these */
		if (t->awaiting && (t->awaiting->kind == PYAG_AWAIT_EXECUTOR ||
				    t->awaiting->kind == PYAG_AWAIT_SUBPROCESS))
			woken[idx] = true;
	}
	for (size_t i = 0; i < snap->nloops; i++) {
		struct loop_rec *lr = &snap->loops[i];
		bool fds = false;
		for (uint32_t k = 0; k < lr->nfds; k++)
			if (!is_self_pipe(&lr->fds[k]))
				fds = true;
		lr->can_wake = !lr->readable ||
			       (lr->running && (lr->ready > 0 || lr->timers > 0 || fds || woken[i]));
	}
	free(woken);
}

/* ---- the pass ---------------------------------------------------------------------- */

void walk_awaiting(struct walker *w)
{
	struct aw a = { .w = w, .snap = w->snap };
	struct snapshot *snap = w->snap;
	struct timespec ts;
	if (snap->kind == PYAG_TARGET_LIVE && clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
		snap->now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		snap->has_now = true;
	}
	/* the loops first: their selectors name the futures of socket
	 * operations */
	loops_build(&a);
	for (size_t i = 0; i < snap->ntasks && !snap->nomem; i++)
		task_awaiting(&a, i);
	if (!snap->nomem)
		loops_wake(&a);
	snap->waiting = true;
	u64map_deinit(&a.fd_futs);
	free(a.fdw);
	u64map_deinit(&a.timeouts);
	free(a.deadlines);
	u64map_deinit(&a.attr_index);
	free(a.attrs);
	u64map_deinit(&a.code_index);
	free(a.code_locals);
	u64map_deinit(&a.types);
	u64map_deinit(&a.deques);
	u64map_deinit(&a.member);
	u64map_deinit(&a.workers);
	u64map_deinit(&a.loops);
	free(a.tinfo);
	free(a.dq);
}
