/*
 * libpyag: the asyncio call graph of a Python process, read from raw memory.
 *
 * The library never runs code in the target and never writes to it. It finds
 * the interpreter's published layout, walks interpreters, threads and
 * asyncio task lists, follows coroutine chains and awaited-by links, and
 * hands back a graph that callers walk with accessors or render in the
 * formats every front end shares.
 *
 *     session (a pid | a core | a debugger's callbacks)
 *        -> pyag_capture() -> graph (threads, tasks, frames, edges,
 *                                     cycles, warnings; run facts apart)
 *        -> pyag_render()  -> text through a write callback
 *
 * Conventions:
 * - Every fallible function returns a struct pyag_error *, NULL on success;
 *   results come back through trailing *_ret parameters. An error has a
 *   code, a one-line message and, when a target address is at fault, that
 *   address. Errors are released with pyag_error_destroy().
 * - Objects made by *_create (or pyag_capture) are released by the
 *   matching NULL-safe *_destroy.
 * - Every struct the caller passes in or has filled starts with a size
 *   field: set it to sizeof(the struct) (the PYAG_INIT_* macros do). A
 *   library built with a larger struct reads or fills only the bytes the
 *   caller has, so programs keep working across library versions.
 * - Strings handed out by a graph live as long as the graph.
 */
#ifndef PYAG_H
#define PYAG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PYAG_EXPORT __attribute__((visibility("default")))
#else
#define PYAG_EXPORT
#endif

/* The interface version of this header: bumped when the ABI changes. */
#define PYAG_API_VERSION 4
#define PYAG_VERSION_MAJOR 0
#define PYAG_VERSION_MINOR 2
#define PYAG_VERSION_PATCH 0

/* The library's version ("0.4.0") and the API version it implements. */
PYAG_EXPORT const char *pyag_version(void);
PYAG_EXPORT int pyag_api_version(void);

/* ---- errors ------------------------------------------------------------ */

enum pyag_error_code {
	PYAG_ERROR_NO_MEMORY = 1,  /* allocation failed */
	PYAG_ERROR_OS,             /* a system call failed (errno in message) */
	PYAG_ERROR_FAULT,          /* target memory could not be read */
	PYAG_ERROR_NO_PROCESS,     /* no such process */
	PYAG_ERROR_PERMISSION,     /* not allowed to read the process */
	PYAG_ERROR_NOT_PYTHON,     /* no CPython runtime found in the target */
	PYAG_ERROR_VERSION,        /* unsupported Python version */
	PYAG_ERROR_NO_ASYNCIO,     /* the _asyncio module is not loaded */
	PYAG_ERROR_CORRUPT,        /* target data is inconsistent */
	PYAG_ERROR_BAD_FORMAT,     /* a file (core, ELF) is malformed */
	PYAG_ERROR_USAGE,          /* bad option, argument or call */
	PYAG_ERROR_NOT_FOUND,      /* the requested task/thread/file does not exist */
};

struct pyag_error;

PYAG_EXPORT enum pyag_error_code pyag_error_code(const struct pyag_error *err);
/* The one-line message, with its context ("task 0x...: ..."). */
PYAG_EXPORT const char *pyag_error_message(const struct pyag_error *err);
/* The faulting target address, or 0 when the error has none. */
PYAG_EXPORT uint64_t pyag_error_address(const struct pyag_error *err);
PYAG_EXPORT void pyag_error_destroy(struct pyag_error *err);
/* An error of the caller's own (printf-style message), for callbacks and
 * front ends that report through the same type. Out of memory gives the
 * library's static out-of-memory error. */
PYAG_EXPORT struct pyag_error *pyag_error_format(enum pyag_error_code code,
						 const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* ---- sessions: how to reach a target ----------------------------------- */

enum pyag_target_kind {
	PYAG_TARGET_LIVE = 0,
	PYAG_TARGET_CORE = 1,
};

/*
 * A read callback: copy size bytes at address into buf. Return 0 on success,
 * non-zero when any byte of the range is unreadable. Plain C types, so that
 * front ends can implement it through an FFI (ctypes, the lldb SB API).
 */
typedef int pyag_read_fn(void *arg, uint64_t address, void *buf, size_t size);

/* Symbol lookup: store the address of a global symbol, return 0 if found. */
typedef int pyag_symbol_fn(void *arg, const char *name, uint64_t *address_ret);

/*
 * A mapped file of the target: [start, end) maps path at file offset offset.
 * Callers that know the mappings (a debugger) may supply them; otherwise
 * the library reads /proc/PID/maps (live) or the NT_FILE note (core).
 */
struct pyag_mapping {
	uint64_t start;
	uint64_t end;
	uint64_t offset;
	const char *path;
};

/*
 * A debugging aid: called for every read the library makes of the target,
 * with path NULL for memory (at address) and the file name for a read of a
 * file the target mapped (at file offset). ok is 0 when the read failed.
 */
typedef void pyag_trace_fn(void *arg, const char *path, uint64_t address,
			   size_t size, int ok);

struct pyag_session;

/*
 * A live process, read with process_vm_readv (else /proc/PID/mem). By
 * default every thread is stopped with ptrace while it is read and resumed
 * afterwards (pyag_session_set_stop()).
 */
PYAG_EXPORT struct pyag_error *pyag_session_create_pid(int pid,
						       struct pyag_session **ret);
/*
 * An ELF core file. exe: the executable that produced it, a path here (not
 * taken under sysroot), used when the core's own record of its files
 * (NT_FILE) names an executable that cannot be opened here, under sysroot
 * or as is (NULL: none). sysroot: a prefix for every file path the core
 * names (a core from another machine or a container; NULL: none).
 */
PYAG_EXPORT struct pyag_error *pyag_session_create_core(const char *core_path,
							const char *exe,
							const char *sysroot,
							struct pyag_session **ret);

/* A target whose memory only the caller can read (a debugger's). */
struct pyag_callbacks {
	size_t size;                /* sizeof(struct pyag_callbacks) */
	enum pyag_target_kind kind;
	int pid;                    /* the live pid, or the pid a core records */
	pyag_read_fn *read;         /* required */
	void *read_arg;
};
#define PYAG_INIT_CALLBACKS { sizeof(struct pyag_callbacks), PYAG_TARGET_LIVE, 0, 0, 0 }
PYAG_EXPORT struct pyag_error *pyag_session_create_callbacks(const struct pyag_callbacks *cb,
							     struct pyag_session **ret);
PYAG_EXPORT void pyag_session_destroy(struct pyag_session *s);

/* Where struct layouts come from. */
enum pyag_layout_source {
	PYAG_LAYOUT_AUTO = 0,   /* debug offsets, checked against DWARF if found */
	PYAG_LAYOUT_OFFSETS,    /* the interpreter's debug offsets only */
	PYAG_LAYOUT_DWARF,      /* DWARF of the interpreter's debug files only */
};
PYAG_EXPORT struct pyag_error *pyag_session_set_layout(struct pyag_session *s,
						       enum pyag_layout_source source);
/* A directory of separate debug files, searched by build-id before
 * /usr/lib/debug under the target's root (repeatable, in order). */
PYAG_EXPORT struct pyag_error *pyag_session_add_debug_dir(struct pyag_session *s,
							  const char *dir);
/* A prefix for the target's file paths (live: default /proc/PID/root). */
PYAG_EXPORT struct pyag_error *pyag_session_set_sysroot(struct pyag_session *s,
							const char *sysroot);
/* Live pid sessions: stop the threads while reading (1, the default) or
 * read a running process (0; a torn read is read again, then reported).
 * Set 0 when a debugger already holds the process stopped. */
PYAG_EXPORT struct pyag_error *pyag_session_set_stop(struct pyag_session *s, int stop);
/* Keep DWARF layouts parsed from debug files in dir, keyed by build-id,
 * so that the next capture of the same interpreter skips the parse.
 * NULL (the default): no cache, nothing is written anywhere. */
PYAG_EXPORT struct pyag_error *pyag_session_set_cache_dir(struct pyag_session *s,
							  const char *dir);
/* The conventional cache directory: $XDG_CACHE_HOME/py-async-graph, else
 * $HOME/.cache/py-async-graph; NULL when neither is set or
 * PYAG_NO_CACHE=1. A static buffer; front ends pass it to
 * pyag_session_set_cache_dir(). */
PYAG_EXPORT const char *pyag_default_cache_dir(void);
/* Symbols (for _PyRuntime) and mapped files, when the caller knows them.
 * Mappings given (even none) are all there is: the library then reads no
 * /proc/PID/maps and no core file notes for them. */
PYAG_EXPORT struct pyag_error *pyag_session_set_symbol_fn(struct pyag_session *s,
							  pyag_symbol_fn *fn, void *arg);
PYAG_EXPORT struct pyag_error *pyag_session_set_mappings(struct pyag_session *s,
							 const struct pyag_mapping *maps,
							 size_t n);
PYAG_EXPORT struct pyag_error *pyag_session_set_trace(struct pyag_session *s,
						      pyag_trace_fn *fn, void *arg);

/* Also capture what each task waits on (pyag_graph_awaiting) and the
 * event loops (pyag_graph_loop): 1, or 0 (the default: the graph only).
 * API version 4. */
PYAG_EXPORT struct pyag_error *pyag_session_set_waiting(struct pyag_session *s, int on);

/* Bounds on what a capture takes from (possibly corrupt) memory. */
enum pyag_limit {
	PYAG_LIMIT_TASKS = 0,       /* tasks and futures, per list and in all */
	PYAG_LIMIT_FRAMES,          /* frames of one stack */
	PYAG_LIMIT_SET,             /* entries of one awaited-by set */
	PYAG_LIMIT_STRING,          /* code points of one name */
	PYAG_LIMIT_THREADS,
	PYAG_LIMIT_INTERPRETERS,
};
PYAG_EXPORT struct pyag_error *pyag_session_set_limit(struct pyag_session *s,
						      enum pyag_limit which,
						      uint64_t value);

/* Read size bytes of the target's memory at address, as a capture would
 * (not cached: for a few reads, such as checking that a core file is the
 * one a debugger shows). */
PYAG_EXPORT struct pyag_error *pyag_session_read(struct pyag_session *s,
						 uint64_t address, void *buf,
						 size_t size);

/* ---- capture: the graph ------------------------------------------------- */

struct pyag_graph;

/*
 * Read the target once and build its graph. Errors: the target cannot be
 * read or is not a supported Python with asyncio. Damage found on the way
 * is not an error: it is a warning of the graph, and the graph holds what
 * could be read.
 */
PYAG_EXPORT struct pyag_error *pyag_capture(struct pyag_session *s,
					    struct pyag_graph **ret);
PYAG_EXPORT void pyag_graph_destroy(struct pyag_graph *g);

/* Index value meaning "none". */
#define PYAG_NONE ((size_t)-1)

/* What a thread is doing, as far as the interpreter's memory tells. */
enum pyag_thread_state {
	PYAG_THREAD_UNKNOWN = 0,    /* its thread state could not be read */
	PYAG_THREAD_RUNNING,        /* holds the GIL: Python code, or C code
				     * called with the GIL held */
	PYAG_THREAD_WAITING_GIL,    /* waiting to take the GIL (3.15+ say so) */
	PYAG_THREAD_GIL_RELEASED,   /* detached from the interpreter: in a
				     * blocking call (I/O, sleep, lock), or,
				     * before 3.15, maybe waiting for the GIL */
	PYAG_THREAD_IDLE,           /* no Python frame on its stack */
	PYAG_THREAD_SUSPENDED,      /* stopped by the interpreter (stop-the-world) */
};

struct pyag_thread {
	size_t size;                /* sizeof(struct pyag_thread) */
	int64_t interpreter;        /* interpreter id */
	uint64_t thread_id;         /* pthread id */
	uint64_t native_thread_id;  /* kernel thread id */
	uint64_t running_task;      /* address of the task it runs, 0: none */
	size_t running_index;       /* that task's index, PYAG_NONE: none */
	/* since API version 3 */
	const char *name;           /* threading's name, NULL: not registered */
	const char *comm;           /* the kernel's name (live), NULL: unknown */
	int holds_gil;              /* 1, 0, -1: cannot be told */
	enum pyag_thread_state state;
	uint64_t loop;              /* its running event loop, 0: none */
	size_t num_frames;          /* its Python stack: pyag_graph_thread_frame */
};
#define PYAG_INIT_THREAD { sizeof(struct pyag_thread), 0, 0, 0, 0, 0, NULL, NULL, \
			   -1, PYAG_THREAD_UNKNOWN, 0, 0 }

enum pyag_task_kind {
	PYAG_KIND_TASK = 0,
	PYAG_KIND_FUTURE = 1,       /* a future that awaits (gather, shield...) */
};

struct pyag_task {
	size_t size;                /* sizeof(struct pyag_task) */
	uint64_t address;           /* id() of the task or future */
	enum pyag_task_kind kind;
	const char *name;           /* task name; NULL for futures */
	int64_t interpreter;
	uint64_t native_thread_id;  /* 0: in the interpreter's list, no thread */
	uint64_t thread_id;
	int running;                /* running on its thread right now */
	size_t num_frames;          /* the call stack, innermost first */
	size_t num_awaited_by;
	/* The innermost num_frames - num_capture frames are what
	 * `python -m asyncio ps/pstree` follow beyond what
	 * asyncio.capture_call_graph() sees (through an async generator's
	 * asend object); num_capture == num_frames otherwise. */
	size_t num_capture;
	/* since API version 3: the awaited-by edges were rebuilt from the
	 * heap (3.11-3.13), not recorded by the interpreter */
	int edges_inferred;
};
#define PYAG_INIT_TASK { sizeof(struct pyag_task), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

enum pyag_frame_kind {
	PYAG_FRAME_PLAIN = 0,       /* ""                */
	PYAG_FRAME_ASYNC,           /* "async"           */
	PYAG_FRAME_ASYNC_GENERATOR, /* "async generator" */
	PYAG_FRAME_GENERATOR,       /* "generator"       */
};

struct pyag_frame {
	size_t size;                /* sizeof(struct pyag_frame) */
	const char *function;       /* co_qualname */
	const char *filename;       /* co_filename */
	int32_t line;               /* -1: unknown */
	enum pyag_frame_kind kind;
};
#define PYAG_INIT_FRAME { sizeof(struct pyag_frame), 0, 0, 0, 0 }

PYAG_EXPORT size_t pyag_graph_num_threads(const struct pyag_graph *g);
PYAG_EXPORT size_t pyag_graph_num_tasks(const struct pyag_graph *g);
/* Fill *ret; PYAG_ERROR_USAGE when an index is out of range or *ret has
 * no size. Tasks come in task-list order, then the futures reached as
 * awaiters. */
PYAG_EXPORT struct pyag_error *pyag_graph_thread(const struct pyag_graph *g, size_t i,
						 struct pyag_thread *ret);
PYAG_EXPORT struct pyag_error *pyag_graph_task(const struct pyag_graph *g, size_t i,
					       struct pyag_task *ret);
/* Frame k of thread i's Python stack, innermost first (API version 3). */
PYAG_EXPORT struct pyag_error *pyag_graph_thread_frame(const struct pyag_graph *g,
						       size_t i, size_t k,
						       struct pyag_frame *ret);
/* "running", "waiting_for_gil", "gil_released", "idle", "suspended",
 * "unknown" (API version 3). */
PYAG_EXPORT const char *pyag_thread_state_name(enum pyag_thread_state state);
/* Frame k of task i's call stack, innermost first. */
PYAG_EXPORT struct pyag_error *pyag_graph_frame(const struct pyag_graph *g, size_t i,
						size_t k, struct pyag_frame *ret);
/* The k-th task or future that awaits task i: its address, and its index
 * (PYAG_NONE when the awaiter could not be read). */
PYAG_EXPORT struct pyag_error *pyag_graph_awaiter(const struct pyag_graph *g, size_t i,
						  size_t k, uint64_t *address_ret,
						  size_t *index_ret);
/* The index of the task or future at address, PYAG_NONE if none. */
PYAG_EXPORT size_t pyag_graph_find(const struct pyag_graph *g, uint64_t address);

/* Await cycles (deadlocks): each a list of task indices, each awaiting
 * the next and the last awaiting the first (each task once: JSON's
 * "cycles" repeat the first at the end, the accessors do not). */
PYAG_EXPORT size_t pyag_graph_num_cycles(const struct pyag_graph *g);
PYAG_EXPORT size_t pyag_graph_cycle_length(const struct pyag_graph *g, size_t c);
PYAG_EXPORT size_t pyag_graph_cycle_task(const struct pyag_graph *g, size_t c, size_t k);

/* ---- what a task waits on, and the event loops (API version 4) ----------- */

enum pyag_await_kind {
	PYAG_AWAIT_NONE = 0,        /* not blocked (running, ready), or not captured */
	PYAG_AWAIT_UNKNOWN,         /* a future nothing known owns */
	PYAG_AWAIT_TASK,            /* another task */
	PYAG_AWAIT_FUTURE,          /* a plain future */
	PYAG_AWAIT_GATHER,          /* gather() */
	PYAG_AWAIT_SHIELD,          /* shield(): the object is the inner future */
	PYAG_AWAIT_EVENT,
	PYAG_AWAIT_LOCK,
	PYAG_AWAIT_SEMAPHORE,       /* Semaphore, BoundedSemaphore */
	PYAG_AWAIT_CONDITION,
	PYAG_AWAIT_QUEUE,           /* Queue, PriorityQueue, LifoQueue: get or put */
	PYAG_AWAIT_BARRIER,
	PYAG_AWAIT_SLEEP,           /* asyncio.sleep(): the loop's timer */
	PYAG_AWAIT_TIMEOUT,         /* a timer that ends the wait (3.11 wait_for) */
	PYAG_AWAIT_TASKGROUP,       /* TaskGroup.__aexit__: its tasks */
	PYAG_AWAIT_EXECUTOR,        /* run_in_executor(), to_thread() */
	PYAG_AWAIT_STREAM,          /* a stream's read or drain */
	PYAG_AWAIT_SOCKET,          /* loop.sock_recv(), sock_accept(), ... */
	PYAG_AWAIT_SUBPROCESS,      /* Process.wait() */
};
/* "none", "unknown", "task", ... as JSON's "kind". */
PYAG_EXPORT const char *pyag_await_kind_name(enum pyag_await_kind kind);

struct pyag_awaiting {
	size_t size;                /* sizeof(struct pyag_awaiting) */
	enum pyag_await_kind kind;
	uint64_t future;            /* the future the task is blocked on */
	uint64_t object;            /* what owns it (the Event, Lock, Queue...) */
	const char *type;           /* its type, "asyncio.locks.Event" */
	size_t num_state;           /* pyag_graph_awaiting_state */
};
#define PYAG_INIT_AWAITING { sizeof(struct pyag_awaiting), 0, 0, 0, 0, 0 }

enum pyag_value_type {
	PYAG_VALUE_NULL = 0,
	PYAG_VALUE_BOOL,            /* integer: 0 or 1 */
	PYAG_VALUE_INT,
	PYAG_VALUE_FLOAT,
	PYAG_VALUE_STRING,
};

struct pyag_value {
	size_t size;                /* sizeof(struct pyag_value) */
	const char *key;            /* "locked", "waiters", "deadline"... */
	enum pyag_value_type type;
	int64_t integer;
	double real;
	const char *string;
};
#define PYAG_INIT_VALUE { sizeof(struct pyag_value), 0, 0, 0, 0, 0 }

/* What task i waits on: kind PYAG_AWAIT_NONE when it is not blocked or
 * the capture did not look (pyag_session_set_waiting). */
PYAG_EXPORT struct pyag_error *pyag_graph_awaiting(const struct pyag_graph *g, size_t i,
						   struct pyag_awaiting *ret);
/* The k-th item of its state. */
PYAG_EXPORT struct pyag_error *pyag_graph_awaiting_state(const struct pyag_graph *g,
							 size_t i, size_t k,
							 struct pyag_value *ret);

struct pyag_loop {
	size_t size;                /* sizeof(struct pyag_loop) */
	uint64_t address;
	int64_t interpreter;
	uint64_t native_thread_id;  /* the thread it runs on, 0: none */
	const char *type;           /* "asyncio.unix_events._UnixSelectorEventLoop" */
	int readable;               /* 0: its internals are not known (uvloop) */
	int running;
	int closed;
	long ready;                 /* callbacks ready to run */
	long timers;                /* scheduled timers not cancelled */
	int has_deadline;           /* the next timer's deadline (loop.time()) */
	double next_deadline;
	int has_remaining;          /* live: how long until it */
	double remaining;
	size_t num_tasks;           /* pending tasks of this loop */
	size_t num_fds;             /* pyag_graph_loop_fd */
	int can_wake;               /* 0: nothing could wake its tasks */
};
#define PYAG_INIT_LOOP { sizeof(struct pyag_loop), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
			 0, 0, 0 }

struct pyag_loop_fd {
	size_t size;                /* sizeof(struct pyag_loop_fd) */
	int fd;
	const char *reader;         /* the callback's qualified name, NULL: none */
	const char *writer;
};
#define PYAG_INIT_LOOP_FD { sizeof(struct pyag_loop_fd), 0, 0, 0 }

/* The event loops (captured with pyag_session_set_waiting): those threads
 * run, then those of tasks no thread runs. */
PYAG_EXPORT size_t pyag_graph_num_loops(const struct pyag_graph *g);
PYAG_EXPORT struct pyag_error *pyag_graph_loop(const struct pyag_graph *g, size_t i,
					       struct pyag_loop *ret);
PYAG_EXPORT struct pyag_error *pyag_graph_loop_fd(const struct pyag_graph *g, size_t i,
						  size_t k, struct pyag_loop_fd *ret);

enum pyag_warning_code {
	PYAG_WARNING_UNREADABLE = 1, /* an object could not be read */
	PYAG_WARNING_CORRUPT,        /* an object or list is inconsistent */
	PYAG_WARNING_LIMIT,          /* a bound was reached: the graph is cut */
	PYAG_WARNING_LAYOUT,         /* layout sources disagree, or one was not used */
	PYAG_WARNING_TORN,           /* the process ran while it was read */
};

struct pyag_warning {
	size_t size;                /* sizeof(struct pyag_warning) */
	enum pyag_warning_code code;
	uint64_t address;           /* the object at fault, 0: none */
	const char *message;        /* one line, with its context */
};
#define PYAG_INIT_WARNING { sizeof(struct pyag_warning), 0, 0, 0 }

PYAG_EXPORT size_t pyag_graph_num_warnings(const struct pyag_graph *g);
PYAG_EXPORT struct pyag_error *pyag_graph_warning(const struct pyag_graph *g, size_t i,
						  struct pyag_warning *ret);

/* How the capture went: facts about the run, not part of the graph. */
struct pyag_facts {
	size_t size;                /* sizeof(struct pyag_facts) */
	enum pyag_target_kind kind;
	int pid;                    /* live pid, or the pid the core records */
	uint64_t hexversion;        /* PY_VERSION_HEX */
	const char *python;         /* "3.14.0" */
	int free_threaded;
	const char *layout;         /* "debug-offsets", "dwarf", "debug-offsets+dwarf" */
	const char *runtime_found;  /* how _PyRuntime was found: "symbol", "section", "scan" */
	const char *debug_files;    /* the DWARF layout's debug files, or NULL */
	uint64_t bytes_read;        /* from the target */
	uint64_t read_calls;
	unsigned attempts;          /* reads of the target (more: torn reads) */
	double elapsed_ms;          /* the capture's wall time */
	size_t warnings_dropped;    /* warnings beyond the ones kept */
};
#define PYAG_INIT_FACTS { sizeof(struct pyag_facts), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
PYAG_EXPORT struct pyag_error *pyag_graph_facts(const struct pyag_graph *g,
						struct pyag_facts *ret);

/* ---- renderers ----------------------------------------------------------- */

/* Output sink: write size bytes; return 0, or non-zero to stop (the
 * renderer then fails with PYAG_ERROR_OS). */
typedef int pyag_write_fn(void *arg, const char *data, size_t size);

/* What a span of styled output shows, for front ends that colour it. */
enum pyag_style {
	PYAG_STYLE_NONE = 0,
	PYAG_STYLE_TASK_NAME,
	PYAG_STYLE_ADDRESS,
	PYAG_STYLE_FILENAME,
	PYAG_STYLE_FUNCTION,
};
/* Styled sink: like pyag_write_fn, with the style of the bytes. */
typedef int pyag_styled_write_fn(void *arg, enum pyag_style style,
				 const char *data, size_t size);

enum pyag_format {
	PYAG_FORMAT_TREE = 0,       /* python -m asyncio pstree, cycles marked */
	PYAG_FORMAT_CALLGRAPH,      /* asyncio.format_call_graph() per task */
	PYAG_FORMAT_TABLE,          /* python -m asyncio ps */
	PYAG_FORMAT_CSV,            /* the table as CSV */
	PYAG_FORMAT_JSON,           /* schema 1 */
	PYAG_FORMAT_DOT,            /* Graphviz */
	PYAG_FORMAT_THREADS,        /* every thread: state, Python stack, tasks
				     * (API version 3) */
	PYAG_FORMAT_LOOPS,          /* every event loop (API version 4) */
};

struct pyag_render_options {
	size_t size;                /* sizeof(struct pyag_render_options) */
	enum pyag_format format;
	int has_limit;              /* cut every call stack like */
	long limit;                 /* format_call_graph(limit=...) */
	/* One task (or future) and everything that awaits it, as
	 * format_call_graph(task) shows it: PYAG_NONE for the whole graph. */
	size_t task;
	/* Filters on the whole graph (task == PYAG_NONE): */
	uint64_t native_thread_id;  /* 0: every thread */
	const char *name_glob;      /* task names (*, ?, [...]); NULL: all */
	/* When set, output goes here with its styles instead of to write. */
	pyag_styled_write_fn *styled_write;
	void *styled_arg;
	/* since API version 4: show what each task waits on (tree, table,
	 * csv, dot, threads; json always has it when captured) */
	int waiting;
};
#define PYAG_INIT_RENDER_OPTIONS \
	{ sizeof(struct pyag_render_options), PYAG_FORMAT_TREE, 0, 0, PYAG_NONE, 0, 0, 0, 0, 0 }

/*
 * Render g. PYAG_ERROR_NOT_FOUND when the selection holds no task (every
 * format but json, which then prints an empty graph); PYAG_ERROR_OS when
 * the sink refused the output.
 */
PYAG_EXPORT struct pyag_error *pyag_render(const struct pyag_graph *g,
					   const struct pyag_render_options *opts,
					   pyag_write_fn *write, void *arg);
/* The --stats summary of a capture (lines "stats: ...", each ending in a
 * newline). */
PYAG_EXPORT struct pyag_error *pyag_render_stats(const struct pyag_graph *g,
						 pyag_write_fn *write, void *arg);
/* Parse a format name ("tree", "callgraph", ...); PYAG_ERROR_USAGE if unknown. */
PYAG_EXPORT struct pyag_error *pyag_format_parse(const char *name,
						 enum pyag_format *ret);

/* ---- the command layer: one option syntax for every front end ----------- */

/*
 * The shared command line: `[OPTIONS] [TASK]` as documented by
 * pyag_command_usage(), run on a session: parse, apply the session options
 * (--layout, --debug-file-directory), capture, select (TASK, --current,
 * --thread, --name) and render. Front ends create the session for their
 * target and print what comes back through the callbacks.
 */
enum pyag_message_kind {
	PYAG_MESSAGE_WARNING = 0,   /* a warning of the graph, or its cycles */
	PYAG_MESSAGE_STATS,         /* one line of --stats */
};

struct pyag_message {
	size_t size;                /* sizeof(struct pyag_message) */
	enum pyag_message_kind kind;
	enum pyag_warning_code code; /* warnings; 0 for a cycle summary and stats */
	uint64_t address;           /* the object at fault, 0: none */
	const char *text;           /* one line, no "warning: " prefix, no newline */
};
typedef void pyag_message_fn(void *arg, const struct pyag_message *msg);

struct pyag_command_options {
	size_t size;                /* sizeof(struct pyag_command_options) */
	/* The thread selected in the debugger, for --current (0: none: the
	 * main thread). */
	uint64_t selected_native_thread_id;
	/* Defaults for options the command line does not give (a debugger's
	 * settings): NULL: tree; has_default_limit 0: no limit. */
	const char *default_format;
	int has_default_limit;
	long default_limit;
	/* Output (required), styled output (optional, used instead). */
	pyag_write_fn *write;
	void *write_arg;
	pyag_styled_write_fn *styled_write;
	void *styled_arg;
	/* Warnings and --stats (optional: dropped when NULL). */
	pyag_message_fn *message;
	void *message_arg;
	/* Look up DWARF layouts in pyag_default_cache_dir() (1) or not (0). */
	int use_cache;
};
#define PYAG_INIT_COMMAND_OPTIONS \
	{ sizeof(struct pyag_command_options), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * Run one command line (argv excludes the command's name). s may be NULL
 * when the front end has no target: only --help works then, and anything
 * else is PYAG_ERROR_USAGE. *status_ret: 0, or 1 when the graph has
 * warnings or cycles (the command succeeded; the front end decides what
 * an exit status is).
 */
PYAG_EXPORT struct pyag_error *pyag_command_run(struct pyag_session *s, int argc,
						char *const argv[],
						const struct pyag_command_options *opts,
						int *status_ret);
/* The option help shared by every front end (a static string). */
PYAG_EXPORT const char *pyag_command_usage(void);

#ifdef __cplusplus
}
#endif

#endif /* PYAG_H */
