/* Reading a target's memory: live pid, core file, caller callbacks,
 * behind a page cache; and how a capture reaches its target. */
#ifndef PYAG_READER_H
#define PYAG_READER_H

#include "base.h"

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

#endif /* PYAG_READER_H */
