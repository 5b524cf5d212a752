/* The records a walk produces (snapshot.c), the walk (walk.c) and the
 * choice of layout it walks with (layout_select.c). */
#ifndef PYAG_SNAPSHOT_H
#define PYAG_SNAPSHOT_H

#include "target.h"
#include "layout.h"
#include "dwarf_query.h"
#include "text.h"

/* ---- the snapshot (snapshot.c) and the walk (walk.c) ----------------- */

enum frame_kind {
	FRAME_KIND_PLAIN = 0,       /* "" */
	FRAME_KIND_ASYNC,           /* "async" */
	FRAME_KIND_ASYNC_GENERATOR, /* "async generator" */
	FRAME_KIND_GENERATOR,       /* "generator" */
};

struct frame_rec {
	const char *function;   /* co_qualname (interned) */
	const char *filename;   /* co_filename (interned) */
	int32_t line;           /* -1: unknown */
	uint8_t kind;
};

/* One item of an awaited object's state (JSON's "state"). */
struct state_item {
	const char *key;        /* static */
	uint8_t type;           /* enum pyag_value_type */
	int64_t i;              /* bool, int */
	double f;
	const char *s;          /* interned */
};

#define MAX_STATE_ITEMS 6

/* What a task is blocked on (awaiting.c). */
struct await_rec {
	uint8_t kind;           /* enum pyag_await_kind */
	uint8_t nstate;
	uint64_t future;        /* fut_waiter */
	uint64_t object;        /* what owns it */
	const char *type;       /* the object's type, "module.Name" (interned) */
	struct state_item *state;
};

/* The innermost coroutines of a chain kept for awaiting.c */
#define LEAF_COROS 4

struct task_rec {
	uint64_t addr;
	uint64_t fut_waiter;    /* the future a task is blocked on, 0: none */
	uint64_t loop;          /* fut_loop */
	uint64_t *leaf_coros;   /* innermost first (limits.waiting only) */
	uint8_t nleaf_coros;
	struct await_rec *awaiting; /* NULL: not blocked, or not captured */
	bool inferred;          /* its awaited-by edges were rebuilt (3.11-3.13) */
	bool is_task;
	bool listed;            /* found in a task list (vs. reached as awaiter) */
	bool running;
	const char *name;       /* NULL for futures (interned) */
	int64_t interp_id;
	uint64_t native_thread_id;  /* 0: interpreter list / unknown */
	uint64_t thread_id;
	struct frame_rec *frames;   /* innermost first */
	uint32_t nframes;
	/* The outermost ncapture frames are what asyncio.capture_call_graph()
	 * sees (it stops at an async generator's asend object); all nframes
	 * are what python -m asyncio ps/pstree see (they follow it). */
	uint32_t ncapture;
	uint64_t *awaited_by;
	/* awaited_by[k] as an index into tasks (-1: no record), filled by the
	 * walk; NULL: look the address up */
	int32_t *awaited_idx;
	uint32_t nawaited_by;
};

/* What a thread is doing, as far as memory tells (PYAG_THREAD_*). */
struct thread_rec {
	int64_t interp_id;
	uint64_t thread_id;
	uint64_t native_thread_id;
	uint64_t running_task;  /* 0: none */
	uint64_t loop;          /* its running event loop, 0: none */
	const char *name;       /* threading's name (interned), NULL: none */
	const char *comm;       /* the kernel's name (live), NULL: unknown */
	int8_t holds_gil;       /* 1, 0, -1: unknown */
	uint8_t state;          /* enum pyag_thread_state */
	struct frame_rec *stack;    /* the whole Python stack, innermost first */
	uint32_t nstack;
	uint64_t current_frame;     /* (during the walk) */
};

struct loop_fd {
	int64_t fd;
	const char *reader, *writer;   /* callbacks' qualified names, NULL: none */
};

/* An event loop (awaiting.c). */
struct loop_rec {
	uint64_t addr;
	int64_t interp_id;
	uint64_t native_thread_id;  /* the thread it runs on, 0: none */
	const char *type;           /* interned */
	bool readable, running, closed, can_wake;
	bool has_deadline;
	double next_deadline;
	int64_t ready, timers;
	size_t ntasks;
	struct loop_fd *fds;
	uint32_t nfds;
};

struct warning_rec {
	enum pyag_warning_code code;
	uint64_t address;       /* the object at fault, 0: none */
	char *message;
};

struct snapshot {
	struct task_rec *tasks;
	size_t ntasks, cap_tasks;
	struct thread_rec *threads;
	size_t nthreads, cap_threads;
	struct warning_rec *warnings;
	size_t nwarnings, cap_warnings;
	struct loop_rec *loops;
	size_t nloops, cap_loops;
	bool waiting;           /* awaiting and loops were captured */
	bool has_now;
	double now;             /* the target's monotonic clock (live) */
	size_t warnings_dropped;
	/* 3.11-3.13: asyncio was found in some interpreter's sys.modules */
	bool asyncio_seen;
	/* The first thing that could not be allocated during the walk, or
	 * NULL: the walk then fails with "out of memory (WHAT)". */
	const char *nomem;
	struct pyag_layout layout;
	enum pyag_target_kind kind;
	int pid;
	uint64_t bytes_read, read_calls;
	double elapsed_ms;
	unsigned attempts;      /* walks done (more than one: torn reads) */
	char *dwarf_files;      /* the debug files the DWARF layout came from */
	const char *runtime_how; /* how _PyRuntime was found (static) */
	struct u64map index;    /* task/future address -> index into tasks */
	struct intern strings;  /* function names, file names, task names */
	struct arena mem;       /* frames and awaited-by arrays */
};

/* Walks of a process that runs while it is read, before giving up. */
#define NO_STOP_ATTEMPTS 3u

struct walk_limits {
	size_t max_tasks;       /* per list and in total */
	size_t max_frames;      /* per coroutine chain / thread stack */
	size_t max_set;         /* entries of an awaited-by set */
	size_t max_string;      /* code points of a name */
	size_t max_threads;
	size_t max_interpreters;
	bool waiting;           /* also what each task waits on, and the loops */
};

void walk_default_limits(struct walk_limits *lim) HIDDEN;
struct pyag_error *walk_target(struct pyag_reader *r,
			       const struct pyag_layout *layout,
			       uint64_t runtime_addr,
			       const struct walk_limits *lim,
			       struct snapshot *snap) HIDDEN;
void snapshot_init(struct snapshot *snap) HIDDEN;
void snapshot_deinit(struct snapshot *snap) HIDDEN;
void snapshot_restart(struct snapshot *snap) HIDDEN;
/* A warning about the object at address (0: none). */
void snapshot_warn_at(struct snapshot *snap, enum pyag_warning_code code,
		      uint64_t address, const char *fmt, ...) PRINTF_LIKE(4, 5) HIDDEN;
/* A warning of the layout sources. */
void snapshot_warn(struct snapshot *snap, const char *fmt, ...) PRINTF_LIKE(2, 3) HIDDEN;
/* Record that building what failed for lack of memory (the first one is kept). */
void snapshot_nomem(struct snapshot *snap, const char *what) HIDDEN;
struct loop_rec *snapshot_add_loop(struct snapshot *snap) HIDDEN;
/* Index of a task/future record by address, or -1. */
long snapshot_find(const struct snapshot *snap, uint64_t addr) HIDDEN;
/* The record of t's k-th awaiter, -1 if it has none. */
long snapshot_awaiter(const struct snapshot *snap, const struct task_rec *t,
		      uint32_t k) HIDDEN;
struct task_rec *snapshot_add_task(struct snapshot *snap, uint64_t addr) HIDDEN;
struct thread_rec *snapshot_add_thread(struct snapshot *snap) HIDDEN;
const char *snapshot_intern(struct snapshot *snap, const char *s, size_t n) HIDDEN;

/* ---- layout choice (layout_select.c) ------------------------------------ */

enum layout_mode {
	LAYOUT_AUTO = 0,    /* debug offsets, cross-checked with DWARF if found */
	LAYOUT_OFFSETS,     /* the interpreter's debug offsets only */
	LAYOUT_DWARF,       /* DWARF only */
};

#define MAX_DEBUG_DIRS 16

struct layout_request {
	enum layout_mode mode;
	const char *const *debug_dirs;  /* searched first, in order */
	size_t ndebug_dirs;
	const char *cache_dir;          /* DWARF layouts kept here; NULL: none */
};

/* The layout by policy (o->mode): debug offsets, DWARF, or both
 * cross-checked; drift is reported as warnings of snap, and so are the
 * fields DWARF lacks (in the error instead when the layout is unusable
 * without them). */
struct pyag_error *load_layout(struct pyag_reader *r, const struct target *t,
			       const struct pyag_host *host,
			       const struct layout_request *o, struct snapshot *snap) HIDDEN;

#endif /* PYAG_SNAPSHOT_H */
