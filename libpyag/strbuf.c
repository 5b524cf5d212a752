/* A growable text buffer. An allocation failure sets a flag instead of
 * crashing; the caller checks it once at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

void sb_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

void sb_deinit(struct strbuf *sb)
{
	free(sb->data);
	memset(sb, 0, sizeof(*sb));
}

#define FLUSH_AT (64u * 1024u)

static bool streaming(const struct strbuf *sb)
{
	return sb->flush || sb->styled;
}

/* Hand what is buffered to the sink, in the current style. */
static void sb_emit(struct strbuf *sb)
{
	if (!sb->len || sb->failed)
		return;
	int rc = sb->styled ? sb->styled(sb->flush_arg, sb->style, sb->data, sb->len)
			    : sb->flush(sb->flush_arg, sb->data, sb->len);
	if (rc != 0)
		sb->failed = sb->sink_failed = true;
	sb->len = 0;
	sb->data[0] = '\0';
}

bool sb_reserve(struct strbuf *sb, size_t extra)
{
	if (sb->failed)
		return false;
	if (streaming(sb) && sb->len >= FLUSH_AT) {
		sb_emit(sb);
		if (sb->failed)
			return false;
	}
	if (sb->len + extra + 1 <= sb->cap)
		return true;
	size_t cap = sb->cap ? sb->cap : 256;
	while (cap < sb->len + extra + 1) {
		if (cap > SIZE_MAX / 2) {
			sb->failed = true;
			return false;
		}
		cap *= 2;
	}
	char *data = realloc(sb->data, cap);
	if (!data) {
		sb->failed = true;
		return false;
	}
	sb->data = data;
	sb->cap = cap;
	return true;
}

void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (!sb_reserve(sb, n))
		return;
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void sb_putc(struct strbuf *sb, char c)
{
	sb_append(sb, &c, 1);
}

void sb_pad(struct strbuf *sb, char c, size_t n)
{
	if (!sb_reserve(sb, n))
		return;
	memset(sb->data + sb->len, c, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_append(sb, small, (size_t)n);
		return;
	}
	if (!sb_reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

char *sb_steal(struct strbuf *sb)
{
	if (sb->failed) {
		sb_deinit(sb);
		return NULL;
	}
	if (!sb->data) {
		if (!sb_reserve(sb, 0))
			return NULL;
		sb->data[0] = '\0';
	}
	char *s = sb->data;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return s;
}

bool sb_flush(struct strbuf *sb)
{
	if (streaming(sb))
		sb_emit(sb);
	return !sb->failed;
}

void sb_style(struct strbuf *sb, enum pyag_style style)
{
	if (!sb->styled || sb->style == style)
		return;
	sb_emit(sb);
	sb->style = style;
}
