/*
 * What is built on the field table (layout_fields.def) besides loading:
 * comparing two layouts (debug offsets against DWARF) and a cache of
 * layouts on disk, keyed by the build-ids of the files they were read from,
 * so that a 20 MB debug file is parsed once per build.
 *
 * Cache entries are small text files in the directory the session was
 * given (none by default; front ends use pyag_default_cache_dir()): a
 * first line naming the format, the number of fields and a hash of the
 * table (layout_table_hash: a field added, renamed or found another way
 * makes older entries misses), then "source", "version", "have_asyncio",
 * "missing" (optional) and one "name value" line per field. They are
 * written to a temporary file and renamed into place, and read back only
 * when the first line matches and every field is present exactly once
 * with a valid value: anything else is a miss, never an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "layout.h"

#define CACHE_MAGIC "py-async-graph layout cache"
#define CACHE_FORMAT 2
#define CACHE_MAX_SIZE 16384
#define CACHE_MAX_KEY 255
#define CACHE_MAX_MISSING 4096

/* ---- comparison ---------------------------------------------------------- */

void layout_compare(const struct pyag_layout *a, const struct pyag_layout *b,
		    void (*warn)(void *arg, const char *msg), void *arg)
{
	bool asyncio = a->have_asyncio && b->have_asyncio;
	int column = layout_version_index(a->version);
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		if ((f->flags & LF_ASYNCIO) && !asyncio)
			continue;
		int64_t x = layout_field_get(a, f), y = layout_field_get(b, f);
		/* 0 where the debug offsets do not publish the field */
		bool unpublished = x == 0 && column >= 0 &&
				   (f->cells[column].kind == LAYOUT_CELL_ABSENT ||
				    f->cells[column].kind == LAYOUT_CELL_NOT_IN_VERSION);
		if (x == y || unpublished ||
		    ((f->flags & LF_OPTIONAL) && (x == 0 || y == 0)))
			continue;
		char msg[160];
		if (f->ctype == LAYOUT_U64)
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

static void cache_magic(char *buf, size_t size)
{
	snprintf(buf, size, "%s %d %u %016" PRIx64, CACHE_MAGIC, CACHE_FORMAT,
		 (unsigned)LAYOUT_NFIELDS, layout_table_hash());
}

/* The lines of an entry that are not fields. */
enum { META_SOURCE, META_VERSION, META_ASYNCIO, META_MISSING, NMETA };
static const char *const meta_names[NMETA] = {
	"source", "version", "have_asyncio", "missing",
};

static bool parse_meta(unsigned which, const char *value, struct pyag_layout *l,
		       char **missing)
{
	int64_t v;
	switch (which) {
	case META_SOURCE:
		/* only the static names: l->source is never freed */
		if (strcmp(value, "dwarf") == 0)
			l->source = "dwarf";
		else if (strcmp(value, "debug-offsets") == 0)
			l->source = "debug-offsets";
		else
			return false;
		return true;
	case META_VERSION:
		if (!parse_int(value, 0, 0, true, &v))
			return false;
		l->version = (uint64_t)v;
		return true;
	case META_ASYNCIO:
		if (!parse_int(value, 0, 1, false, &v))
			return false;
		l->have_asyncio = v != 0;
		return true;
	default:
		if (!*value || strlen(value) > CACHE_MAX_MISSING)
			return false;
		*missing = strdup(value);
		return *missing != NULL;
	}
}

static bool parse_entry(char *text, struct pyag_layout *l, char **missing)
{
	bool seen[LAYOUT_NFIELDS] = { false }, seen_meta[NMETA] = { false };
	size_t nseen = 0;
	bool ended = false;
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	char magic[128];
	cache_magic(magic, sizeof(magic));
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
		unsigned m = 0;
		while (m < NMETA && strcmp(meta_names[m], name) != 0)
			m++;
		if (m < NMETA) {
			if (seen_meta[m] || !parse_meta(m, value, l, missing))
				return false;
			seen_meta[m] = true;
			continue;
		}
		size_t i = 0;
		while (i < LAYOUT_NFIELDS && strcmp(layout_fields[i].name, name) != 0)
			i++;
		if (i == LAYOUT_NFIELDS || seen[i])
			return false;
		int64_t v;
		const struct layout_field *f = &layout_fields[i];
		bool ok = f->ctype == LAYOUT_U64 ? parse_int(value, 0, 0, true, &v) :
			  f->ctype == LAYOUT_INT ? parse_int(value, -1000000, 1000000, false, &v) :
			  f->ctype == LAYOUT_UINT ? parse_int(value, 0, 1000000, false, &v) :
			  parse_int(value, 0, 1, false, &v);
		if (!ok)
			return false;
		layout_field_set(l, f, v);
		seen[i] = true;
		nseen++;
	}
	/* every line but "missing" is required */
	return ended && seen_meta[META_SOURCE] && seen_meta[META_VERSION] &&
	       seen_meta[META_ASYNCIO] && nseen == LAYOUT_NFIELDS;
}

bool layout_cache_load(const char *dir, const char *key, struct pyag_layout *ret,
		       char **missing_ret)
{
	*missing_ret = NULL;
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
	char *missing = NULL;
	memset(&l, 0, sizeof(l));
	if (parse_entry(buf, &l, &missing)) {
		struct pyag_error *err = layout_validate(&l);
		ok = !err;
		pyag_error_destroy(err);
	}
	if (ok) {
		*ret = l;
		*missing_ret = missing;
	} else {
		free(missing);
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
				      const struct pyag_layout *l, const char *missing)
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
	char magic[128];
	cache_magic(magic, sizeof(magic));
	sb_printf(&sb, "%s\nsource %s\nversion %" PRIu64 "\nhave_asyncio %d\n",
		  magic, l->source, l->version, l->have_asyncio ? 1 : 0);
	if (missing && *missing && !strchr(missing, '\n') &&
	    strlen(missing) <= CACHE_MAX_MISSING)
		sb_printf(&sb, "missing %s\n", missing);
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		int64_t v = layout_field_get(l, f);
		if (f->ctype == LAYOUT_U64)
			sb_printf(&sb, "%s %" PRIu64 "\n", f->name, (uint64_t)v);
		else
			sb_printf(&sb, "%s %" PRId64 "\n", f->name, v);
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
