/* Pure functions on bytes: location tables, UTF-8, repr, JSON strings,
 * globs. */
#ifndef PYAG_TEXT_H
#define PYAG_TEXT_H

#include "base.h"

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

#endif /* PYAG_TEXT_H */
