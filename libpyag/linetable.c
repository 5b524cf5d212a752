/*
 * Line numbers from a code object's location table (co_linetable,
 * Objects/locations.md, CPython 3.11+): a pure function on bytes.
 */
#include <stdio.h>
#include <string.h>

#include "text.h"

/* ---- location table (Objects/locations.md, CPython 3.11+) --------------- */

struct lt_cursor {
	const uint8_t *p, *end;
	bool bad;
};

static unsigned lt_byte(struct lt_cursor *c)
{
	if (c->p >= c->end) {
		c->bad = true;
		return 0;
	}
	return *c->p++;
}

static uint64_t lt_varint(struct lt_cursor *c)
{
	unsigned b = lt_byte(c);
	uint64_t val = b & 63;
	unsigned shift = 0;
	while ((b & 64) && !c->bad) {
		b = lt_byte(c);
		shift += 6;
		if (shift < 64)
			val |= (uint64_t)(b & 63) << shift;
	}
	return val;
}

/* Line numbers stay within +-2^40 whatever the table says: no overflow. */
#define LT_LINE_MAX ((int64_t)1 << 40)

static int64_t lt_svarint(struct lt_cursor *c)
{
	uint64_t u = lt_varint(c);
	int64_t m = (u >> 1) > (uint64_t)LT_LINE_MAX ? LT_LINE_MAX : (int64_t)(u >> 1);
	return (u & 1) ? -m : m;
}

static int64_t lt_line_add(int64_t line, int64_t delta)
{
	line += delta;
	return line > LT_LINE_MAX ? LT_LINE_MAX : line < -LT_LINE_MAX ? -LT_LINE_MAX : line;
}

int32_t decode_line(const uint8_t *table, size_t size, int32_t firstlineno,
		    uint64_t unit)
{
	if (!table || !size)
		return -1;
	struct lt_cursor c = { table, table + size, false };
	int64_t line = firstlineno;
	uint64_t addr = 0;
	while (c.p < c.end && !c.bad) {
		unsigned first = lt_byte(&c);
		if (!(first & 0x80))
			return -1;  /* every entry starts with the high bit set */
		unsigned code = (first >> 3) & 15;
		unsigned length = (first & 7) + 1;
		bool none = false;
		switch (code) {
		case 15:
			none = true;
			break;
		case 14:
			line = lt_line_add(line, lt_svarint(&c));
			lt_varint(&c);  /* end line delta */
			lt_varint(&c);  /* start column + 1 */
			lt_varint(&c);  /* end column + 1 */
			break;
		case 13:
			line = lt_line_add(line, lt_svarint(&c));
			break;
		case 10: case 11: case 12:
			line = lt_line_add(line, code - 10);
			lt_byte(&c);
			lt_byte(&c);
			break;
		default:
			lt_byte(&c);  /* short form: column bits */
			break;
		}
		if (c.bad)
			return -1;
		if (unit >= addr && unit < addr + length) {
			if (none || line < 0 || line > INT32_MAX)
				return -1;
			return (int32_t)line;
		}
		addr += length;
	}
	return -1;
}
