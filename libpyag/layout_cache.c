/*
 * Every field of struct pyag_layout by name, and what is built on that
 * table: comparing two layouts (debug offsets against DWARF) and a cache
 * of layouts on disk, keyed by the build-ids of the files they were read
 * from, so that a 20 MB debug file is parsed once per build.
 *
 * Cache entries are small text files, one "name value" line per field,
 * in the directory the session was given (none by default; front ends use
 * pyag_default_cache_dir()). They are written to a temporary file and renamed into place, and read
 * back only when the format version matches and every field is present
 * exactly once with a valid value: anything else is a miss, never an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CACHE_MAGIC "py-async-graph layout cache"
#define CACHE_FORMAT 1
#define CACHE_MAX_SIZE 16384
#define CACHE_MAX_KEY 255

enum field_kind { K_U64, K_INT, K_UINT, K_BOOL };

/* Field flags. ZERO_ABSENT: 0 means "this build has no such field"
 * (free-threaded only fields, sizes a source could not provide), so a 0 on
 * either side is not drift. ASYNCIO: meaningful only with have_asyncio. */
#define ZERO_ABSENT 1u
#define ASYNCIO 2u
#define NO_COMPARE 4u   /* not something a layout source measures */

struct layout_field {
	const char *name;
	uint16_t offset;
	uint8_t kind;
	uint8_t flags;
};

#define U(f, fl) { #f, offsetof(struct pyag_layout, f), K_U64, fl }
#define I(f, fl) { #f, offsetof(struct pyag_layout, f), K_INT, fl }
#define N(f, fl) { #f, offsetof(struct pyag_layout, f), K_UINT, fl }
#define B(f, fl) { #f, offsetof(struct pyag_layout, f), K_BOOL, fl }

/* Keep in step with struct pyag_layout (internal.h); source is stored
 * separately. */
static const struct layout_field fields[] = {
	U(version, NO_COMPARE), B(free_threaded, 0),
	U(runtime_size, 0), U(runtime_interpreters_head, 0),
	U(interp_size, 0), U(interp_id, 0), U(interp_next, 0),
	U(interp_threads_head, 0),
	U(tstate_size, 0), U(tstate_next, 0), U(tstate_interp, 0),
	U(tstate_current_frame, 0), U(tstate_thread_id, 0),
	U(tstate_native_thread_id, 0),
	U(frame_size, 0), U(frame_previous, 0), U(frame_executable, 0),
	U(frame_instr_ptr, 0), U(frame_owner, 0), U(frame_stackpointer, 0),
	U(frame_tlbc_index, ZERO_ABSENT),
	U(code_size, 0), U(code_filename, 0), U(code_name, 0),
	U(code_qualname, 0), U(code_linetable, 0), U(code_firstlineno, 0),
	U(code_code_adaptive, 0), U(code_tlbc, ZERO_ABSENT),
	U(obj_type, 0),
	U(type_size, 0), U(type_name, 0), U(type_flags, 0),
	U(tuple_size, 0), U(tuple_item, 0), U(tuple_ob_size, 0),
	U(set_size, 0), U(set_used, 0), U(set_table, 0), U(set_mask, 0),
	U(long_size, 0), U(long_tag, 0), U(long_digit, 0),
	U(bytes_size, 0), U(bytes_ob_size, 0), U(bytes_sval, 0),
	U(unicode_size, 0), U(unicode_state, 0), U(unicode_length, 0),
	U(unicode_ascii_size, 0), U(unicode_compact_size, ZERO_ABSENT),
	U(gen_size, 0), U(gen_iframe, 0), U(gen_frame_state, 0),
	U(llist_next, 0), U(llist_prev, 0),
	B(have_asyncio, NO_COMPARE),
	U(task_size, ASYNCIO), U(task_name, ASYNCIO),
	U(task_awaited_by, ASYNCIO), U(task_is_task, ASYNCIO),
	U(task_awaited_by_is_set, ASYNCIO), U(task_coro, ASYNCIO),
	U(task_node, ASYNCIO),
	U(ainterp_size, ASYNCIO), U(ainterp_tasks_head, ASYNCIO),
	U(athread_size, ASYNCIO), U(athread_running_loop, ASYNCIO),
	U(athread_running_task, ASYNCIO), U(athread_tasks_head, ASYNCIO),
	I(frame_state_yield_from, 0), I(frame_state_yield_from_locked, 0),
	I(frame_state_finished, 0), N(yield_from_slot, NO_COMPARE),
	U(asend_gen, 0), I(owner_generator, 0),
	I(owner_first_incomplete, 0),
	N(unicode_kind_shift, 0), N(unicode_compact_bit, 0),
	N(unicode_ascii_bit, 0),
};

#undef U
#undef I
#undef N
#undef B

/* A field added to struct pyag_layout must be added to fields[] above (or
 * cached layouts would come back with it zeroed), to layout_from_dwarf,
 * and then this size updated. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct pyag_layout) == 616,
	       "struct pyag_layout changed: update fields[] in layout_cache.c");

/* The value of a field, widened to int64 (u64 values above INT64_MAX are
 * kept in their bit pattern; only equality is asked of them). */
static int64_t field_get(const struct pyag_layout *l, const struct layout_field *f)
{
	const uint8_t *p = (const uint8_t *)l + f->offset;
	switch (f->kind) {
	case K_U64: { uint64_t v; memcpy(&v, p, sizeof(v)); return (int64_t)v; }
	case K_INT: { int v; memcpy(&v, p, sizeof(v)); return v; }
	case K_UINT: { unsigned v; memcpy(&v, p, sizeof(v)); return v; }
	default: { bool v; memcpy(&v, p, sizeof(v)); return v; }
	}
}

static void field_set(struct pyag_layout *l, const struct layout_field *f,
		      int64_t v)
{
	uint8_t *p = (uint8_t *)l + f->offset;
	switch (f->kind) {
	case K_U64: { uint64_t x = (uint64_t)v; memcpy(p, &x, sizeof(x)); break; }
	case K_INT: { int x = (int)v; memcpy(p, &x, sizeof(x)); break; }
	case K_UINT: { unsigned x = (unsigned)v; memcpy(p, &x, sizeof(x)); break; }
	default: { bool x = v != 0; memcpy(p, &x, sizeof(x)); break; }
	}
}

/* ---- comparison ---------------------------------------------------------- */

void layout_compare(const struct pyag_layout *a, const struct pyag_layout *b,
		    void (*warn)(void *arg, const char *msg), void *arg)
{
	bool asyncio = a->have_asyncio && b->have_asyncio;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const struct layout_field *f = &fields[i];
		if (f->flags & NO_COMPARE)
			continue;
		if ((f->flags & ASYNCIO) && !asyncio)
			continue;
		int64_t x = field_get(a, f), y = field_get(b, f);
		if (x == y || ((f->flags & ZERO_ABSENT) && (x == 0 || y == 0)))
			continue;
		char msg[160];
		if (f->kind == K_U64)
			snprintf(msg, sizeof(msg),
				 "layout drift: %s: debug offsets %" PRIu64 ", DWARF %" PRIu64,
				 f->name, (uint64_t)x, (uint64_t)y);
		else
			snprintf(msg, sizeof(msg),
				 "layout drift: %s: debug offsets %" PRId64 ", DWARF %" PRId64,
				 f->name, x, y);
		warn(arg, msg);
	}
}

/* ---- cache ---------------------------------------------------------------- */

/* Keys become file names: build-id hex, joined by '-' or '+'. */
static bool key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > CACHE_MAX_KEY || key[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || c == '-' || c == '+' ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

static char *cache_path(const char *dir, const char *key)
{
	if (!dir || !key_valid(key))
		return NULL;
	char *path = NULL;
	if (asprintf(&path, "%s/%s.layout", dir, key) < 0)
		path = NULL;
	return path;
}

static bool parse_int(const char *s, int64_t min, int64_t max, bool is_u64,
		      int64_t *ret)
{
	char *end;
	errno = 0;
	if (is_u64) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned long long v = strtoull(s, &end, 10);
		if (errno || *end || end == s)
			return false;
		*ret = (int64_t)(uint64_t)v;
		return true;
	}
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static bool parse_entry(char *text, struct pyag_layout *l)
{
	bool seen[ARRAY_SIZE(fields)] = { false };
	size_t nseen = 0;
	bool have_source = false, ended = false;
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	char magic[64];
	snprintf(magic, sizeof(magic), "%s %d %zu", CACHE_MAGIC, CACHE_FORMAT,
		 ARRAY_SIZE(fields));
	if (!line || strcmp(line, magic) != 0)
		return false;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (ended)
			return false;   /* nothing after "end" */
		if (strcmp(line, "end") == 0) {
			ended = true;
			continue;
		}
		char *sp = strchr(line, ' ');
		if (!sp)
			return false;
		*sp = '\0';
		const char *name = line, *value = sp + 1;
		if (strcmp(name, "source") == 0) {
			/* only the static names: l->source is never freed */
			if (have_source)
				return false;
			if (strcmp(value, "dwarf") == 0)
				l->source = "dwarf";
			else if (strcmp(value, "debug-offsets") == 0)
				l->source = "debug-offsets";
			else
				return false;
			have_source = true;
			continue;
		}
		size_t i = 0;
		while (i < ARRAY_SIZE(fields) && strcmp(fields[i].name, name) != 0)
			i++;
		if (i == ARRAY_SIZE(fields) || seen[i])
			return false;
		int64_t v;
		const struct layout_field *f = &fields[i];
		bool ok = f->kind == K_U64 ? parse_int(value, 0, 0, true, &v) :
			  f->kind == K_INT ? parse_int(value, -1000000, 1000000, false, &v) :
			  f->kind == K_UINT ? parse_int(value, 0, 1000000, false, &v) :
			  parse_int(value, 0, 1, false, &v);
		if (!ok)
			return false;
		field_set(l, f, v);
		seen[i] = true;
		nseen++;
	}
	return ended && have_source && nseen == ARRAY_SIZE(fields);
}

bool layout_cache_load(const char *dir, const char *key, struct pyag_layout *ret)
{
	char *path = cache_path(dir, key);
	if (!path)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return false;
	char *buf = malloc(CACHE_MAX_SIZE + 1);
	size_t len = 0;
	bool ok = false;
	if (!buf)
		goto out;
	while (len < CACHE_MAX_SIZE) {
		ssize_t n = read(fd, buf + len, CACHE_MAX_SIZE - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == CACHE_MAX_SIZE || memchr(buf, '\0', len))
		goto out;
	buf[len] = '\0';
	struct pyag_layout l;
	memset(&l, 0, sizeof(l));
	if (parse_entry(buf, &l)) {
		struct pyag_error *err = layout_validate(&l);
		ok = !err;
		pyag_error_destroy(err);
		if (ok)
			*ret = l;
	}
out:
	free(buf);
	close(fd);
	return ok;
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = mkdir(path, 0700);
		*p = '/';
		if (r != 0 && errno != EEXIST)
			return -1;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

struct pyag_error *layout_cache_store(const char *cache_dir, const char *key,
				      const struct pyag_layout *l)
{
	if (!cache_dir)
		return NULL;
	if (!key_valid(key))
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "layout cache: invalid key '%s'", key);
	if (!l->source || (strcmp(l->source, "dwarf") != 0 &&
			   strcmp(l->source, "debug-offsets") != 0))
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "layout cache: cannot store a layout from '%s'",
					 l->source ? l->source : "(none)");
	char *dir = strdup(cache_dir);
	if (!dir)
		return pyag_error_nomem("the layout cache's path");
	struct pyag_error *err = NULL;
	char *tmp = NULL, *path = NULL;
	struct strbuf sb;
	sb_init(&sb);
	int fd = -1;
	if (mkdir_p(dir) != 0) {
		err = pyag_error_errno(errno, "layout cache: %s", dir);
		goto out;
	}
	if (asprintf(&path, "%s/%s.layout", dir, key) < 0) {
		path = NULL;
		err = &pyag_enomem;
		goto out;
	}
	sb_printf(&sb, "%s %d %zu\nsource %s\n", CACHE_MAGIC, CACHE_FORMAT,
		  ARRAY_SIZE(fields), l->source);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int64_t v = field_get(l, &fields[i]);
		if (fields[i].kind == K_U64)
			sb_printf(&sb, "%s %" PRIu64 "\n", fields[i].name, (uint64_t)v);
		else
			sb_printf(&sb, "%s %" PRId64 "\n", fields[i].name, v);
	}
	sb_puts(&sb, "end\n");
	if (sb.failed) {
		err = &pyag_enomem;
		goto out;
	}
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, key) < 0) {
		tmp = NULL;
		err = &pyag_enomem;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = pyag_error_errno(errno, "layout cache: %s", tmp);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	size_t done = 0;
	while (done < sb.len) {
		ssize_t n = write(fd, sb.data + done, sb.len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = pyag_error_errno(n < 0 ? errno : EIO,
					       "layout cache: %s", tmp);
			goto out;
		}
		done += (size_t)n;
	}
	if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
		fd = -1;
		err = pyag_error_errno(errno, "layout cache: %s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		err = pyag_error_errno(errno, "layout cache: %s", path);
		goto out;
	}
	free(tmp);
	tmp = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(path);
	free(dir);
	sb_deinit(&sb);
	return err;
}
