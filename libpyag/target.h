/* Locating the interpreter in a target: _PyRuntime and the asyncio
 * debug offsets, by symbol, section or cookie scan. */
#ifndef PYAG_TARGET_H
#define PYAG_TARGET_H

#include "elffile.h"

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
	/* An interpreter without debug offsets (3.11, 3.12): _PyRuntime and
	 * Py_Version found as ELF symbols (or the debugger's). */
	bool legacy;
	uint64_t version_addr;        /* Py_Version, 0 if not found */
	uint64_t sym_runtime_addr;    /* _PyRuntime by symbol, before the checks */
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

#endif /* PYAG_TARGET_H */
