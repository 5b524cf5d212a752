/*
 * libpyag: the asyncio call graph of a Python process, read from raw memory.
 *
 * The library never runs code in the target and never writes to it. It finds
 * the interpreter's published debug offsets, walks interpreters, threads and
 * asyncio task lists, follows coroutine chains and awaited-by links, and
 * renders the graph in several formats.
 *
 * Conventions: every fallible function returns a struct pyag_error *, NULL
 * on success; results come back through trailing *_ret parameters. Objects
 * made by *_create are released by the matching NULL-safe *_destroy.
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
	PYAG_ERROR_USAGE,          /* bad command-line option or argument */
	PYAG_ERROR_NOT_FOUND,      /* the requested task/thread does not exist */
	PYAG_ERROR_STOP,           /* internal: end of an iteration */
};

struct pyag_error;

PYAG_EXPORT enum pyag_error_code pyag_error_code(const struct pyag_error *err);
/* The one-line message, with its context ("task 0x...: ..."). */
PYAG_EXPORT const char *pyag_error_message(const struct pyag_error *err);
/* The faulting target address, or 0 when the error has none. */
PYAG_EXPORT uint64_t pyag_error_address(const struct pyag_error *err);
PYAG_EXPORT void pyag_error_destroy(struct pyag_error *err);

/* ---- memory readers ---------------------------------------------------- */

/*
 * A read callback: copy size bytes at address into buf. Return 0 on success,
 * non-zero when any byte of the range is unreadable. Kept to plain C types so
 * that front ends can implement it through an FFI (ctypes, the lldb SB API).
 */
typedef int pyag_read_fn(void *arg, uint64_t address, void *buf, size_t size);

struct pyag_reader;

/* Read a live process with process_vm_readv, falling back to /proc/PID/mem. */
PYAG_EXPORT struct pyag_error *pyag_reader_create_pid(int pid,
						      struct pyag_reader **ret);
/* Read through a caller's callback (a debugger's memory). */
PYAG_EXPORT struct pyag_error *pyag_reader_create_callback(pyag_read_fn *fn,
							   void *arg,
							   struct pyag_reader **ret);
/* Read an ELF core file: PT_LOAD segments; zero-size or absent ranges fault. */
PYAG_EXPORT struct pyag_error *pyag_reader_create_core(const char *path,
						       struct pyag_reader **ret);
/* Read through the page cache. */
PYAG_EXPORT struct pyag_error *pyag_reader_read(struct pyag_reader *reader,
						uint64_t address, void *buf,
						size_t size);
/* Forget cached target memory (call when the target has run). */
PYAG_EXPORT void pyag_reader_invalidate(struct pyag_reader *reader);
PYAG_EXPORT void pyag_reader_destroy(struct pyag_reader *reader);

/* ---- running a command ------------------------------------------------- */

enum pyag_target_kind {
	PYAG_TARGET_LIVE = 0,
	PYAG_TARGET_CORE = 1,
};

/* Symbol lookup: store the address of a global symbol, return 0 if found. */
typedef int pyag_symbol_fn(void *arg, const char *name, uint64_t *address_ret);

/*
 * A mapped file of the target: [start, end) maps path at file offset offset.
 * Front ends that know the mappings (a debugger) may supply them; otherwise
 * libpyag reads /proc/PID/maps (live) or the NT_FILE note (core).
 */
struct pyag_mapping {
	uint64_t start;
	uint64_t end;
	uint64_t offset;
	const char *path;
};

/*
 * A debugging aid: called for every read libpyag makes of the target, with
 * path NULL for memory (at address) and the file name for a read of a file
 * the target mapped (at file offset). ok is 0 when the read failed.
 */
typedef void pyag_trace_fn(void *arg, const char *path, uint64_t address,
			   size_t size, int ok);

/*
 * How a front end reaches its target. Zero-initialise, then fill what is
 * known. Reading: an explicit read callback wins; else a live pid is read
 * directly; else core_path is opened as an ELF core.
 */
struct pyag_host {
	enum pyag_target_kind kind;
	int pid;                    /* live pid, or the pid recorded in a core */
	const char *core_path;      /* core file (kind == PYAG_TARGET_CORE) */
	const char *exe_path;       /* the target's executable, if known */
	const char *sysroot;        /* prefix for the target's file paths */
	pyag_read_fn *read;         /* optional memory callback */
	void *read_arg;
	pyag_symbol_fn *symbol;     /* optional symbol lookup */
	void *symbol_arg;
	const struct pyag_mapping *mappings; /* optional mapped files */
	size_t num_mappings;
	/* The thread selected in the debugger, for --current (0: none). */
	uint64_t selected_native_thread_id;
	/* The front end's name in messages: "py-async-graph", "async graph". */
	const char *command_name;
	pyag_trace_fn *trace;       /* optional read trace */
	void *trace_arg;
	/* Live pid read directly: stop every thread with ptrace while reading
	 * (a consistent snapshot), resuming them afterwards, also on error.
	 * Debuggers leave it 0: their inferior is stopped already. */
	int stop_threads;
};

/* What a command produced. */
struct pyag_result {
	char *output;       /* for standard output (may be empty, never NULL) */
	char *diagnostics;  /* warnings and --stats, for standard error */
	int status;         /* 0, or 1 when the graph has warnings or cycles */
};

/*
 * Run one command: parse argv (the options and TASK documented by
 * pyag_usage(); argv excludes the command name), read the target and render
 * the output. On success fill *ret; release it with pyag_result_deinit().
 * When the arguments ask for help, the output is the help text.
 */
PYAG_EXPORT struct pyag_error *pyag_command(const struct pyag_host *host,
					    int argc, char *const argv[],
					    struct pyag_result *ret);
PYAG_EXPORT void pyag_result_deinit(struct pyag_result *result);

/* Output sink for streaming: write size bytes; return 0, or non-zero to stop. */
typedef int pyag_write_fn(void *arg, const char *data, size_t size);

/*
 * Like pyag_command(), but the output is written to write(write_arg, ...)
 * as it is produced (in chunks), so that a huge graph never sits in memory
 * as one string. ret->output is then empty.
 */
PYAG_EXPORT struct pyag_error *pyag_command_stream(const struct pyag_host *host,
						   int argc, char *const argv[],
						   pyag_write_fn *write, void *write_arg,
						   struct pyag_result *ret);

/* The option help shared by every front end (static string). */
PYAG_EXPORT const char *pyag_usage(void);
PYAG_EXPORT void pyag_free(void *ptr);
PYAG_EXPORT const char *pyag_version(void);

#ifdef __cplusplus
}
#endif

#endif /* PYAG_H */
