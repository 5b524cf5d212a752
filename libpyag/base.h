/* The library's foundation: build macros, containers, errors, text
 * buffers. Every other header builds on this one; it knows nothing of
 * CPython or of a target. */
#ifndef PYAG_BASE_H
#define PYAG_BASE_H


#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* Prepend context: "CONTEXT: old message". Consumes err; returns it, or
 * the out-of-memory error when the longer message cannot be made. */
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

#endif /* PYAG_BASE_H */
