/* Internal interfaces of libpyag. Not installed. */
#ifndef PYAG_INTERNAL_H
#define PYAG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <elf.h>

#include "pyag.h"

#ifdef PYAG_FAULT_INJECTION
/* Every allocation of the library goes through fault.c (tests only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
void *pyag_fi_malloc(size_t n);
void *pyag_fi_calloc(size_t n, size_t size);
void *pyag_fi_realloc(void *p, size_t n);
char *pyag_fi_strdup(const char *s);
char *pyag_fi_strndup(const char *s, size_t n);
int pyag_fi_vasprintf(char **ret, const char *fmt, va_list ap);
int pyag_fi_asprintf(char **ret, const char *fmt, ...);
#define malloc(n) pyag_fi_malloc(n)
#define calloc(n, s) pyag_fi_calloc(n, s)
#define realloc(p, n) pyag_fi_realloc(p, n)
#define strdup(s) pyag_fi_strdup(s)
#define strndup(s, n) pyag_fi_strndup(s, n)
#define vasprintf(r, f, a) pyag_fi_vasprintf(r, f, a)
#define asprintf(r, ...) pyag_fi_asprintf(r, __VA_ARGS__)
#endif

#define HIDDEN __attribute__((visibility("hidden")))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small containers (util.c) ------------------------------------------ */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct arena_chunk *head;
	size_t bytes;
};

void *arena_alloc(struct arena *a, size_t size) HIDDEN;
void arena_deinit(struct arena *a) HIDDEN;

/* Open addressing over one array: a probe touches one cache line. */
struct u64map_entry {
	uint64_t key;
	uint32_t val;
	uint32_t used;
};

struct u64map {
	struct u64map_entry *e;
	size_t cap, count;
};

bool u64map_get(const struct u64map *m, uint64_t key, uint32_t *val) HIDDEN;
bool u64map_put(struct u64map *m, uint64_t key, uint32_t val) HIDDEN;
void u64map_deinit(struct u64map *m) HIDDEN;

struct intern_slot {
	const char *s;          /* NULL: empty */
	uint32_t hash;          /* low bits of the string's hash */
	uint32_t len;
};

struct intern {
	struct intern_slot *slots;
	size_t cap, count;
	struct arena arena;
};

/* The unique copy of s[0..n) (NUL-terminated), or NULL on allocation failure. */
const char *intern_get(struct intern *in, const char *s, size_t n) HIDDEN;
void intern_deinit(struct intern *in) HIDDEN;


/* ---- errors (error.c) -------------------------------------------------- */

struct pyag_error {
	enum pyag_error_code code;
	bool is_static;      /* never freed (out of memory, end of iteration) */
	uint64_t address;    /* faulting address, 0 if none */
	char *message;
};

extern struct pyag_error pyag_enomem;

struct pyag_error *pyag_error_create(enum pyag_error_code code,
				     const char *fmt, ...) PRINTF_LIKE(2, 3) HIDDEN;
struct pyag_error *pyag_error_fault(uint64_t address, size_t size) HIDDEN;
/* "out of memory (WHAT)": what was being built when memory ran out. */
struct pyag_error *pyag_error_nomem(const char *what) HIDDEN;
/* Prepend context: "CONTEXT: old message". Consumes and returns err. */
struct pyag_error *pyag_error_wrap(struct pyag_error *err, const char *fmt, ...)
	PRINTF_LIKE(2, 3) HIDDEN;
struct pyag_error *pyag_error_errno(int errnum, const char *fmt, ...)
	PRINTF_LIKE(2, 3) HIDDEN;

/* ---- growable text buffer (strbuf.c) ----------------------------------- */

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;   /* an allocation failed or the sink refused: truncated */
	bool sink_failed;  /* the sink refused */
	/* when set, full chunks go to flush() instead of growing the buffer */
	pyag_write_fn *flush;
	void *flush_arg;     /* (also styled()'s) */
	/* when set, used instead of flush, with the style of each span */
	pyag_styled_write_fn *styled;
	enum pyag_style style;
};

void sb_init(struct strbuf *sb) HIDDEN;
void sb_deinit(struct strbuf *sb) HIDDEN;
bool sb_reserve(struct strbuf *sb, size_t extra) HIDDEN;
void sb_append(struct strbuf *sb, const char *s, size_t n) HIDDEN;
void sb_puts(struct strbuf *sb, const char *s) HIDDEN;
void sb_putc(struct strbuf *sb, char c) HIDDEN;
void sb_printf(struct strbuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3) HIDDEN;
void sb_pad(struct strbuf *sb, char c, size_t n) HIDDEN;
/* Hand the buffer over (NUL-terminated) and reset; NULL if allocation failed. */
char *sb_steal(struct strbuf *sb) HIDDEN;
/* Write out what is buffered (streaming buffers); false if the sink failed. */
bool sb_flush(struct strbuf *sb) HIDDEN;
/* Start a span of the given style (styled buffers; a no-op otherwise). */
void sb_style(struct strbuf *sb, enum pyag_style style) HIDDEN;

/* ---- how a capture reaches its target (filled by a session) ------------- */

struct pyag_host {
	enum pyag_target_kind kind;
	int pid;                    /* live pid, or the pid recorded in a core */
	const char *core_path;      /* core file (kind == PYAG_TARGET_CORE) */
	const char *exe_path;       /* the executable of a core, if given */
	const char *sysroot;        /* prefix for the target's file paths */
	pyag_read_fn *read;         /* a caller's memory callback, or NULL */
	void *read_arg;
	pyag_symbol_fn *symbol;     /* optional symbol lookup */
	void *symbol_arg;
	const struct pyag_mapping *mappings; /* optional mapped files */
	size_t num_mappings;
	pyag_trace_fn *trace;       /* optional read trace */
	void *trace_arg;
	/* Live pid read directly: stop every thread with ptrace while reading. */
	bool stop_threads;
};

/* ---- readers (reader.c, reader_pid.c, reader_core.c) ------------------- */

struct pyag_reader;
struct pyag_error *pyag_reader_create_pid(int pid, struct pyag_reader **ret) HIDDEN;
struct pyag_error *pyag_reader_create_callback(pyag_read_fn *fn, void *arg,
					       struct pyag_reader **ret) HIDDEN;
struct pyag_error *pyag_reader_create_core(const char *path,
					   struct pyag_reader **ret) HIDDEN;
/* Read through the page cache. */
struct pyag_error *pyag_reader_read(struct pyag_reader *reader, uint64_t address,
				    void *buf, size_t size) HIDDEN;
/* Forget cached target memory (the target has run). */
void pyag_reader_invalidate(struct pyag_reader *reader) HIDDEN;
void pyag_reader_destroy(struct pyag_reader *reader) HIDDEN;

struct reader_ops {
	/* Read exactly size bytes or fail. */
	struct pyag_error *(*read)(struct pyag_reader *r, uint64_t address,
				   void *buf, size_t size);
	void (*destroy)(struct pyag_reader *r);
};

#define PYAG_PAGE_SIZE 4096u

struct page_slot {
	uint64_t page;      /* page number + 1; 0 = empty slot */
	uint8_t *data;      /* NULL: known unreadable */
};

struct pyag_reader {
	const struct reader_ops *ops;
	bool cached;            /* go through the page cache */
	/* page cache: open addressing, power-of-two capacity */
	struct page_slot *slots;
	size_t nslots;
	size_t npages;
	size_t max_pages;       /* bound on cached pages */
	unsigned readahead;     /* pages fetched on a miss */
	uint8_t **chunks;       /* memory the cached pages point into */
	size_t nchunks, cap_chunks;
	size_t cur_chunk;       /* the chunk being filled */
	size_t chunks_mapped;   /* chunks ever mapped (memory reuse shows here) */
	size_t chunk_used;      /* bytes taken of it */
	uint64_t last_page;     /* the page of the last cache hit ... */
	const uint8_t *last_data; /* ... and its bytes (NULL: none) */
	/* statistics */
	uint64_t bytes_read;    /* bytes fetched from the target */
	uint64_t read_calls;    /* raw reads issued */
	/* reader-specific state */
	int pid;
	int mem_fd;             /* /proc/PID/mem, -1 until needed */
	bool use_mem_fd;
	pyag_read_fn *fn;
	void *fn_arg;
	struct core_file *core;
	pyag_trace_fn *trace;
	void *trace_arg;
};

void reader_init(struct pyag_reader *r, const struct reader_ops *ops) HIDDEN;
struct pyag_error *reader_read_u64(struct pyag_reader *r, uint64_t address,
				   uint64_t *ret) HIDDEN;
/* Best effort: true when the read succeeded; a failure is dropped. */
bool reader_try_read(struct pyag_reader *r, uint64_t address, void *buf,
		     size_t size) HIDDEN;
/* Read a NUL-terminated C string of at most max-1 bytes into buf. */
struct pyag_error *reader_read_cstr(struct pyag_reader *r, uint64_t address,
				    char *buf, size_t max) HIDDEN;

/* Stopping a live process while it is read (reader_pid.c). */
struct pid_stop {
	int *tids;
	size_t ntids;
};
/* Stop every thread of pid (ptrace seize + interrupt). On failure nothing
 * stays stopped and the error says why. */
struct pyag_error *pid_stop_all(int pid, struct pid_stop *ret) HIDDEN;
void pid_resume_all(struct pid_stop *st) HIDDEN;
/* Whether a thread of pid can run (is neither stopped nor traced-stopped). */
bool pid_running(int pid) HIDDEN;

/* The core reader's view of the file (reader_core.c). */
struct core_segment {
	uint64_t vaddr, memsz, filesz, offset;
};
struct core_file_mapping {
	uint64_t start, end, offset;   /* offset in bytes */
	char *path;
};
struct core_file {
	int fd;
	uint64_t file_size;
	const uint8_t *map;           /* whole file, read-only */
	struct core_segment *segs;
	size_t nsegs;
	struct core_file_mapping *files;
	size_t nfiles;
	int pid;
	char *exe_hint;               /* from NT_PRPSINFO / first mapping */
	/* threads from NT_PRSTATUS, in note order */
	int *tids;
	size_t ntids;
	int signal;                   /* signal that killed the process, or 0 */
	bool nomem;                   /* a note could not be kept: out of memory */
};
struct core_file *reader_core_file(struct pyag_reader *r) HIDDEN;
/* A core whose file paths are taken under sysroot; exe (or NULL) stands
 * for the executable when the core's path of it cannot be opened here. */
struct pyag_error *pyag_reader_create_core_ex(const char *path, const char *sysroot,
					      const char *exe,
					      struct pyag_reader **ret) HIDDEN;

/* ---- ELF files on disk (elf.c) ----------------------------------------- */

struct elf_section_info {
	uint64_t addr;
	uint64_t size;
	uint64_t offset;
	bool found;
};

struct elf_info {
	uint16_t type;          /* ET_EXEC, ET_DYN, ET_CORE */
	uint64_t first_load_vaddr; /* p_vaddr - p_offset of the lowest PT_LOAD */
	bool has_load;
	struct elf_section_info pyruntime;
	struct elf_section_info asynciodebug;
};

/* An open ELF64 little-endian file (elf_open checks the header). Reads
 * are reported to trace's read trace as trace_name. */
struct elf_file {
	int fd;
	uint64_t size;
	Elf64_Ehdr eh;
	const char *path;
	const struct pyag_reader *trace;
	const char *trace_name;
};
struct pyag_error *elf_open(const char *path, struct elf_file *f,
			    const struct pyag_reader *trace,
			    const char *trace_name) HIDDEN;
void elf_close(struct elf_file *f) HIDDEN;
bool elf_pread(const struct elf_file *f, void *buf, size_t size, uint64_t off) HIDDEN;
bool elf_range_ok(uint64_t off, uint64_t size, uint64_t fsize) HIDDEN;
/* The program headers (malloc'd), or NULL when absent or out of bounds,
 * or when memory ran out (*nomem set). */
Elf64_Phdr *elf_program_headers(const struct elf_file *f, size_t *n_ret,
				bool *nomem) HIDDEN;
/* Call fn for every section with its name ("" when out of bounds); an
 * error when the section table itself is bad. */
typedef void elf_section_fn(void *arg, const struct elf_file *f,
			    const char *name, const Elf64_Shdr *sh);
struct pyag_error *elf_for_each_section(const struct elf_file *f,
					elf_section_fn *fn, void *arg) HIDDEN;

/* Read the ELF header, program and section headers of a file. */
/* trace/trace_name: report the reads to trace's read trace, as trace_name */
struct pyag_error *elf_read_info(const char *path, struct elf_info *ret,
				 const struct pyag_reader *trace,
				 const char *trace_name) HIDDEN;

/* ---- target location (target.c) ---------------------------------------- */

struct target_map {
	uint64_t start, end, offset;
	char *path;             /* as the target sees it */
	bool writable;
	bool file_backed;
};

struct target {
	struct pyag_reader *reader;
	const struct pyag_host *host;
	struct target_map *maps;
	size_t nmaps;
	uint64_t runtime_addr;        /* _PyRuntime */
	uint64_t asyncio_debug_addr;  /* _AsyncioDebug, 0 if not found */
	const char *runtime_how;      /* "symbol", "section", "scan" */
	bool asyncio_mapped;           /* an _asyncio file is mapped */
	char *missing_file;           /* a mapped _asyncio file not readable here */
	bool nomem;                   /* something could not be kept: out of memory */
	bool nomem_probe;             /* (one path lookup ran out of memory) */
};

struct pyag_error *target_locate(struct target *t, struct pyag_reader *reader,
				 const struct pyag_host *host) HIDDEN;
void target_deinit(struct target *t) HIDDEN;
/* Openable path of the mapped file holding addr (caller frees), or NULL. */
char *target_file_at(const struct target *t, uint64_t addr) HIDDEN;
/* Openable path of a mapped _asyncio extension module, or NULL. */
char *target_asyncio_module(const struct target *t) HIDDEN;

/* ---- layout (layout.h: the field table, its sources, the cache) ---------- */

#include "layout.h"
#include "dwarf_query.h"

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

struct task_rec {
	uint64_t addr;
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

struct thread_rec {
	int64_t interp_id;
	uint64_t thread_id;
	uint64_t native_thread_id;
	uint64_t running_task;  /* 0: none */
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
	size_t warnings_dropped;
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
/* Index of a task/future record by address, or -1. */
long snapshot_find(const struct snapshot *snap, uint64_t addr) HIDDEN;
/* The record of t's k-th awaiter, -1 if it has none. */
long snapshot_awaiter(const struct snapshot *snap, const struct task_rec *t,
		      uint32_t k) HIDDEN;
struct task_rec *snapshot_add_task(struct snapshot *snap, uint64_t addr) HIDDEN;
struct thread_rec *snapshot_add_thread(struct snapshot *snap) HIDDEN;
const char *snapshot_intern(struct snapshot *snap, const char *s, size_t n) HIDDEN;

/* ---- pure functions on bytes (linetable.c, text.c) ------------------------ */

/* Line of code unit index `unit` in a 3.11+ location table; -1 if none. */
int32_t decode_line(const uint8_t *table, size_t size, int32_t firstlineno,
		    uint64_t unit) HIDDEN;
/* Append the UTF-8 encoding of a code point. */
void utf8_put(struct strbuf *sb, uint32_t cp) HIDDEN;
/* Python's repr() of a UTF-8 string (single quotes unless it has ' only). */
void py_repr(struct strbuf *sb, const char *utf8) HIDDEN;
/* A JSON string literal of a UTF-8 string. */
void json_string(struct strbuf *sb, const char *utf8) HIDDEN;
/* Shell-style glob match (*, ?, [...]) on bytes. */
bool glob_match(const char *pattern, const char *s) HIDDEN;

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

/* ---- graph and formats (graph.c, format.c) ------------------------------ */

/* An await cycle: record indices, the first repeated at the end. */
struct cycle {
	uint32_t *v;
	uint32_t len;
};
#define MAX_CYCLES 10000u

struct graph {
	const struct snapshot *snap;
	/* awaited -> awaiters: snap->tasks[i].awaited_by; awaiter -> awaited: */
	uint32_t *child_start;  /* CSR: children of i are child_list[start[i]..start[i+1]) */
	uint32_t *child_list;
	struct cycle *cycles;
	size_t ncycles;
	size_t cycles_dropped;  /* beyond MAX_CYCLES */
};

struct pyag_error *graph_build(const struct snapshot *snap, struct graph *g) HIDDEN;
void graph_deinit(struct graph *g) HIDDEN;

struct render_ctx {
	const struct snapshot *snap;
	const struct graph *graph;
	const struct pyag_render_options *ro;
	const bool *selected;   /* per task: passes the filters */
	long task_index;        /* the task asked for, or -1 */
};

void format_callgraph_task(struct strbuf *sb, const struct render_ctx *ctx,
			   size_t index) HIDDEN;
void format_callgraph(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_json(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_tree(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_table(struct strbuf *sb, const struct render_ctx *ctx, bool csv) HIDDEN;
void format_dot(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_stats(struct strbuf *sb, const struct snapshot *snap,
		  const struct graph *g) HIDDEN;
/* The frames of t that CPython's ps/pstree show, cut by the limit. */
void format_ps_frames(const struct render_ctx *ctx, const struct task_rec *t,
		      const struct frame_rec **ret, uint32_t *n) HIDDEN;

/* ---- the pstree model (tree.c) ------------------------------------------- */

struct tnode {
	bool is_task;
	uint32_t task;          /* record index for task nodes */
	const char *label;      /* frame label for coroutine nodes */
	const struct frame_rec *frame;  /* one frame with that label */
	uint32_t first_edge, last_edge;  /* edge index + 1; 0: none */
	bool rendered;
};

/* Child links live in edges, not in the nodes: a task awaited by several
 * tasks is a child of each of them. */
struct tedge {
	uint32_t child;
	uint32_t next;          /* edge index + 1 */
};

struct tree {
	struct tnode *nodes;
	size_t n, cap;
	struct tedge *edges;
	size_t nedges, cap_edges;
	struct u64map task_node;   /* record index -> node */
	struct u64map cor_child;   /* (parent node << 32 | label id) -> node */
	struct u64map task_child;  /* (parent node << 32 | task node) -> 1 */
	struct u64map label_ids;   /* label pointer -> id */
	struct intern labels;
	bool *is_child;
	bool failed;
};

/* Build the model of the records ctx selects (tr->failed: out of memory). */
void tree_build(struct tree *tr, const struct render_ctx *ctx) HIDDEN;
void tree_deinit(struct tree *tr) HIDDEN;
/* "function file:line", as CPython's tools label a frame. */
void tree_frame_label(struct strbuf *sb, const struct frame_rec *f) HIDDEN;

/* The graph object's parts, for the renderers (session.c). */
const struct snapshot *graph_snapshot(const struct pyag_graph *g) HIDDEN;
const struct graph *graph_graph(const struct pyag_graph *g) HIDDEN;

/* The layout by policy (o->mode): debug offsets, DWARF, or both
 * cross-checked; drift is reported as warnings of snap, and so are the
 * fields DWARF lacks (in the error instead when the layout is unusable
 * without them). */
struct pyag_error *load_layout(struct pyag_reader *r, const struct target *t,
			       const struct pyag_host *host,
			       const struct layout_request *o, struct snapshot *snap) HIDDEN;

#endif /* PYAG_INTERNAL_H */
