/*
 * Text: UTF-8, Python's repr() of a string, JSON string literals, glob
 * matching. Pure functions on bytes; nothing here reads the target.
 */
#include <stdio.h>
#include <string.h>

#include "text.h"

/* ---- UTF-8 --------------------------------------------------------------- */

void utf8_put(struct strbuf *sb, uint32_t cp)
{
	char b[4];
	if (cp < 0x80) {
		b[0] = (char)cp;
		sb_append(sb, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		sb_append(sb, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		sb_append(sb, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		sb_append(sb, b, 4);
	}
}

/* Decode one code point; surrogates encoded in UTF-8 (as our string decoder
 * writes lone surrogates) are accepted. Returns bytes consumed (>= 1). */
static size_t utf8_get(const unsigned char *s, uint32_t *cp)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
		*cp = ((c & 0x1f) << 6) | (s[1] & 0x3f);
		return 2;
	}
	if ((c & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
		*cp = ((c & 0x0f) << 12) | ((s[1] & 0x3f) << 6) | (s[2] & 0x3f);
		return 3;
	}
	if ((c & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
	    (s[3] & 0xc0) == 0x80) {
		*cp = ((c & 0x07) << 18) | ((s[1] & 0x3f) << 12) |
		      ((s[2] & 0x3f) << 6) | (s[3] & 0x3f);
		return 4;
	}
	*cp = 0xfffd;
	return 1;
}

/*
 * str.isprintable() for non-ASCII code points: false for the categories
 * Cc, Cf, Cs, Co, Zl, Zp and Zs (but U+0020). The ranges below cover those
 * categories in Unicode 16; unassigned code points (Cn) are treated as
 * printable, which only matters for names using characters Unicode has not
 * assigned.
 */
static bool unicode_printable(uint32_t cp)
{
	static const uint32_t ranges[][2] = {
		{ 0x0080, 0x00a0 }, { 0x00ad, 0x00ad }, { 0x0600, 0x0605 },
		{ 0x061c, 0x061c }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f },
		{ 0x0890, 0x0891 }, { 0x08e2, 0x08e2 }, { 0x1680, 0x1680 },
		{ 0x180e, 0x180e }, { 0x2000, 0x200f }, { 0x2028, 0x202f },
		{ 0x205f, 0x2064 }, { 0x2066, 0x206f }, { 0x3000, 0x3000 },
		{ 0xd800, 0xf8ff }, { 0xfeff, 0xfeff }, { 0xfff9, 0xfffb },
		{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x13430, 0x1343f },
		{ 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
		{ 0xe0020, 0xe007f }, { 0xf0000, 0x10ffff },
	};
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		if (cp < ranges[i][0])
			return true;
		if (cp <= ranges[i][1])
			return false;
	}
	return true;
}

void py_repr(struct strbuf *sb, const char *utf8)
{
	const unsigned char *s = (const unsigned char *)utf8;
	char quote = '\'';
	if (strchr(utf8, '\'') && !strchr(utf8, '"'))
		quote = '"';
	sb_putc(sb, quote);
	while (*s) {
		uint32_t cp;
		s += utf8_get(s, &cp);
		if (cp == (uint32_t)quote || cp == '\\') {
			sb_putc(sb, '\\');
			sb_putc(sb, (char)cp);
		} else if (cp == '\t') {
			sb_puts(sb, "\\t");
		} else if (cp == '\n') {
			sb_puts(sb, "\\n");
		} else if (cp == '\r') {
			sb_puts(sb, "\\r");
		} else if (cp < 0x20 || cp == 0x7f) {
			sb_printf(sb, "\\x%02x", cp);
		} else if (cp < 0x7f) {
			sb_putc(sb, (char)cp);
		} else if (unicode_printable(cp)) {
			utf8_put(sb, cp);
		} else if (cp < 0x100) {
			sb_printf(sb, "\\x%02x", cp);
		} else if (cp < 0x10000) {
			sb_printf(sb, "\\u%04x", cp);
		} else {
			sb_printf(sb, "\\U%08x", cp);
		}
	}
	sb_putc(sb, quote);
}

void json_string(struct strbuf *sb, const char *utf8)
{
	const unsigned char *s = (const unsigned char *)utf8;
	sb_putc(sb, '"');
	while (*s) {
		uint32_t cp;
		size_t n = utf8_get(s, &cp);
		if (cp == '"' || cp == '\\') {
			sb_putc(sb, '\\');
			sb_putc(sb, (char)cp);
		} else if (cp == '\n') {
			sb_puts(sb, "\\n");
		} else if (cp == '\r') {
			sb_puts(sb, "\\r");
		} else if (cp == '\t') {
			sb_puts(sb, "\\t");
		} else if (cp < 0x20 || cp == 0x7f) {
			sb_printf(sb, "\\u%04x", cp);
		} else if (cp >= 0xd800 && cp <= 0xdfff) {
			/* a lone surrogate is not valid UTF-8: escape it */
			sb_printf(sb, "\\u%04x", cp);
		} else if (cp == 0xfffd && n == 1) {
			sb_puts(sb, "\\ufffd");
		} else {
			sb_append(sb, (const char *)s, n);
		}
		s += n;
	}
	sb_putc(sb, '"');
}

/* ---- glob ----------------------------------------------------------------- */

bool glob_match(const char *p, const char *s)
{
	const char *star_p = NULL, *star_s = NULL;
	while (*s) {
		if (*p == '*') {
			star_p = ++p;
			star_s = s;
			continue;
		}
		bool ok = false;
		if (*p == '?') {
			ok = true;
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;
			bool neg = (*q == '!' || *q == '^');
			if (neg)
				q++;
			bool in = false;
			const char *start = q;
			while (*q && (*q != ']' || q == start)) {
				if (q[1] == '-' && q[2] && q[2] != ']') {
					if ((unsigned char)*s >= (unsigned char)q[0] &&
					    (unsigned char)*s <= (unsigned char)q[2])
						in = true;
					q += 3;
				} else {
					if (*q == *s)
						in = true;
					q++;
				}
			}
			if (*q == ']') {
				ok = in != neg;
				p = q + 1;
			} else {
				ok = (*s == '[');  /* unterminated: literal */
				p++;
			}
		} else if (*p == *s) {
			ok = true;
			p++;
		}
		if (ok) {
			s++;
			continue;
		}
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
