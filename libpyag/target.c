/*
 * Finding the interpreter in the target: _PyRuntime (which starts with the
 * debug offsets) and the _asyncio module's debug offsets.
 *
 * In order: the caller's symbol lookup; the .PyRuntime / .AsyncioDebug
 * section headers of the mapped ELF files plus their load bias; a scan of
 * writable memory for the "xdebugpy" cookie (needs no file at all).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"

#define MAX_MAPS 1000000u
#define SCAN_CHUNK (64u * 1024u)
/* _PyRuntime is a global of the interpreter's data segment: regions larger
 * than this are not searched, and the whole search reads at most this much
 * times four. Corrupt cores can declare segments of petabytes. */
#define SCAN_MAX_REGION (256ull << 20)

static struct pyag_error *add_map(struct target *t, size_t *cap,
				  uint64_t start, uint64_t end, uint64_t offset,
				  const char *path, bool writable)
{
	if (t->nmaps >= MAX_MAPS)
		return NULL;  /* ignore the rest: bounded */
	if (t->nmaps == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct target_map *m = realloc(t->maps, ncap * sizeof(*m));
		if (!m)
			return pyag_error_nomem("the target's mappings");
		t->maps = m;
		*cap = ncap;
	}
	struct target_map *m = &t->maps[t->nmaps];
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = offset;
	m->writable = writable;
	m->file_backed = path && path[0] == '/';
	if (path && path[0]) {
		m->path = strdup(path);
		if (!m->path)
			return &pyag_enomem;
	}
	t->nmaps++;
	return NULL;
}

static struct pyag_error *maps_from_proc(struct target *t, int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return pyag_error_create(PYAG_ERROR_NO_PROCESS,
						 "no process with pid %d", pid);
		return pyag_error_errno(errno, "%s", path);
	}
	struct pyag_error *err = NULL;
	size_t cap = 0;
	char *line = NULL;
	size_t linecap = 0;
	while (getline(&line, &linecap, f) > 0) {
		unsigned long long start, end, offset;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end,
			   perms, &offset, &name_at) < 4)
			continue;
		char *name = line + name_at;
		name[strcspn(name, "\n")] = '\0';
		size_t len = strlen(name);
		if (len > 10 && strcmp(name + len - 10, " (deleted)") == 0)
			name[len - 10] = '\0';
		err = add_map(t, &cap, start, end, offset, name, perms[1] == 'w');
		if (err)
			break;
	}
	free(line);
	fclose(f);
	return err;
}

static struct pyag_error *maps_from_host(struct target *t)
{
	size_t cap = 0;
	for (size_t i = 0; i < t->host->num_mappings; i++) {
		const struct pyag_mapping *m = &t->host->mappings[i];
		struct pyag_error *err = add_map(t, &cap, m->start, m->end,
						 m->offset, m->path, true);
		if (err)
			return err;
	}
	return NULL;
}

static struct pyag_error *maps_from_core(struct target *t, struct core_file *cf)
{
	size_t cap = 0;
	for (size_t i = 0; i < cf->nfiles; i++) {
		struct core_file_mapping *m = &cf->files[i];
		/* NT_FILE does not record permissions: mark a mapping writable
		 * when the core holds its bytes (writable mappings are dumped). */
		bool dumped = false;
		for (size_t s = 0; s < cf->nsegs; s++)
			if (cf->segs[s].vaddr == m->start && cf->segs[s].filesz)
				dumped = true;
		struct pyag_error *err = add_map(t, &cap, m->start, m->end,
						 m->offset, m->path, dumped);
		if (err)
			return err;
	}
	/* Anonymous memory (heap) is in the PT_LOAD segments. */
	for (size_t s = 0; s < cf->nsegs; s++) {
		if (!cf->segs[s].filesz)
			continue;
		struct pyag_error *err = add_map(t, &cap, cf->segs[s].vaddr,
						 cf->segs[s].vaddr + cf->segs[s].memsz,
						 0, NULL, true);
		if (err)
			return err;
	}
	return NULL;
}

/* Where a target path can be opened from here; caller frees. */
static char *resolve_path(const struct target *t, const struct target_map *m);

/* strdup that records running out of memory in *nomem. */
static char *dup_or_note(const char *s, bool *nomem)
{
	char *d = strdup(s);
	if (!d)
		*nomem = true;
	return d;
}

/* resolve_path, recording running out of memory in t->nomem. */
static char *resolve_path_noting(struct target *t, const struct target_map *m)
{
	t->nomem_probe = false;
	char *p = resolve_path(t, m);
	if (t->nomem_probe)
		t->nomem = true;
	return p;
}

static char *resolve_path(const struct target *t, const struct target_map *m)
{
	bool *nomem = (bool *)&t->nomem_probe;
	const struct pyag_host *h = t->host;
	char buf[4096];
	if (h->kind == PYAG_TARGET_LIVE && h->pid > 0 && !h->read) {
		/* The exact file the process mapped, whatever its namespace. */
		snprintf(buf, sizeof(buf), "/proc/%d/map_files/%llx-%llx", h->pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		if (access(buf, R_OK) == 0)
			return dup_or_note(buf, nomem);
	}
	if (h->sysroot && h->sysroot[0]) {
		snprintf(buf, sizeof(buf), "%s%s", h->sysroot, m->path);
		if (access(buf, R_OK) == 0)
			return dup_or_note(buf, nomem);
	}
	if (access(m->path, R_OK) == 0)
		return dup_or_note(m->path, nomem);
	if (h->kind == PYAG_TARGET_LIVE && h->pid > 0) {
		snprintf(buf, sizeof(buf), "/proc/%d/root%s", h->pid, m->path);
		if (access(buf, R_OK) == 0)
			return dup_or_note(buf, nomem);
	}
	return NULL;
}

static bool looks_like_elf_candidate(const char *path)
{
	/* Skip files that cannot hold the interpreter: locale archives,
	 * caches, fonts. Everything else is probed (cheap: headers only). */
	static const char *const skip[] = { "/locale-archive", ".cache", "/gconv/" };
	for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
		if (strstr(path, skip[i]))
			return false;
	return true;
}

/* Files that can hold .PyRuntime or .AsyncioDebug: the interpreter, libpython,
 * the _asyncio module. Probed first; other files only when no interpreter
 * was found in them (statically linked or renamed interpreters): not to
 * look for an .AsyncioDebug that 3.11-3.13 do not have, which read the
 * symbol tables of every library (a quarter of a megabyte for libcrypto). */
static bool likely_python_file(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "python", 6) == 0 || strncmp(base, "libpython", 9) == 0 ||
	       strncmp(base, "_asyncio.", 9) == 0;
}

static void probe_file(struct target *t, const struct target_map *m)
{
	char *path = resolve_path_noting(t, m);
	if (!path) {
		/* remember an unreachable _asyncio module for the message */
		if (!t->missing_file && strstr(m->path, "_asyncio"))
			t->missing_file = dup_or_note(m->path, &t->nomem);
		return;
	}
	struct elf_info info;
	struct pyag_error *err = elf_read_info(path, &info, t->reader, m->path);
	free(path);
	if (err) {
		/* a file that is no ELF is skipped; memory is not */
		if (pyag_error_code(err) == PYAG_ERROR_NO_MEMORY)
			t->nomem = true;
		pyag_error_destroy(err);
		return;
	}
	if (!info.has_load)
		return;
	uint64_t bias = m->start - info.first_load_vaddr;
	if (info.type == 2 /* ET_EXEC */)
		bias = 0;
	if (info.pyruntime.found && !t->runtime_addr && !info.has_sym_runtime) {
		t->runtime_addr = info.pyruntime.addr + bias;
		t->runtime_how = "section";
	}
	if (info.has_sym_runtime && !t->sym_runtime_addr) {
		t->sym_runtime_addr = info.sym_runtime + bias;
		if (info.has_sym_version)
			t->version_addr = info.sym_version + bias;
	}
	if (info.asynciodebug.found && !t->asyncio_debug_addr)
		t->asyncio_debug_addr = info.asynciodebug.addr + bias;
}

char *target_asyncio_module(const struct target *t)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *m = &t->maps[i];
		if (!m->path || m->offset != 0)
			continue;
		const char *base = strrchr(m->path, '/');
		base = base ? base + 1 : m->path;
		if (strncmp(base, "_asyncio.", 9) == 0)
			return resolve_path(t, m);
	}
	return NULL;
}

char *target_file_at(const struct target *t, uint64_t addr)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		const struct target_map *m = &t->maps[i];
		if (addr < m->start || addr >= m->end || !m->file_backed || !m->path)
			continue;
		/* the file's first mapping, which resolve_path knows how to open */
		for (size_t j = 0; j < t->nmaps; j++)
			if (t->maps[j].path && t->maps[j].offset == 0 &&
			    strcmp(t->maps[j].path, m->path) == 0)
				return resolve_path(t, &t->maps[j]);
		return resolve_path(t, m);
	}
	return NULL;
}

static struct pyag_error *locate_by_sections(struct target *t)
{
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && (t->runtime_addr || t->sym_runtime_addr))
			return NULL;
		for (size_t i = 0; i < t->nmaps; i++) {
			if (t->runtime_addr && t->asyncio_debug_addr)
				return NULL;
			const struct target_map *m = &t->maps[i];
			if (!m->file_backed || m->offset != 0 || !m->path ||
			    likely_python_file(m->path) != (pass == 0))
				continue;
			/* one probe per file: its first mapping */
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++)
				seen = t->maps[j].path && t->maps[j].offset == 0 &&
				       strcmp(t->maps[j].path, m->path) == 0;
			if (seen || !looks_like_elf_candidate(m->path))
				continue;
			probe_file(t, m);
		}
	}
	return NULL;
}

static bool plausible_cookie(const uint8_t *p)
{
	if (memcmp(p, "xdebugpy", 8) != 0)
		return false;
	uint64_t version;
	memcpy(&version, p + 8, 8);
	return ((version >> 24) & 0xff) == 3 && ((version >> 16) & 0xff) >= 11 &&
	       ((version >> 16) & 0xff) < 100;
}

static struct pyag_error *scan_region(struct target *t, uint64_t start,
				      uint64_t end, uint8_t *buf, uint64_t *budget)
{
	if (end <= start || end - start > SCAN_MAX_REGION)
		return NULL;
	for (uint64_t a = start; a < end && *budget; a += SCAN_CHUNK) {
		*budget = *budget > SCAN_CHUNK ? *budget - SCAN_CHUNK : 0;
		size_t n = (size_t)(end - a < SCAN_CHUNK ? end - a : SCAN_CHUNK);
		struct pyag_error *err = t->reader->ops->read(t->reader, a, buf, n);
		if (err) {
			if (err->code != PYAG_ERROR_FAULT)
				return err;
			pyag_error_destroy(err);
			continue;
		}
		for (size_t off = 0; off + 16 <= n; off += 8) {
			if (buf[off] == 'x' && plausible_cookie(buf + off)) {
				t->runtime_addr = a + off;
				t->runtime_how = "scan";
				return NULL;
			}
		}
	}
	return NULL;
}

static struct pyag_error *locate_by_scan(struct target *t)
{
	uint8_t *buf = malloc(SCAN_CHUNK);
	if (!buf)
		return &pyag_enomem;
	struct pyag_error *err = NULL;
	uint64_t budget = 4 * SCAN_MAX_REGION;
	/* File-backed writable mappings first (.PyRuntime is data of the
	 * executable or libpython), then everything else writable. */
	for (int pass = 0; pass < 2 && !t->runtime_addr && !err; pass++) {
		for (size_t i = 0; i < t->nmaps && !t->runtime_addr && !err; i++) {
			const struct target_map *m = &t->maps[i];
			if (!m->writable || m->file_backed != (pass == 0))
				continue;
			if (m->path && m->path[0] == '[' &&
			    strcmp(m->path, "[heap]") != 0)
				continue;  /* [stack], [vvar], ... */
			err = scan_region(t, m->start, m->end, buf, &budget);
		}
	}
	free(buf);
	return err;
}

/* The minor version in the name of a mapped interpreter or libpython
 * ("python3.10", "libpython3.9.so.1.0"), 0 if none. */
static unsigned mapped_python_minor(const struct target *t)
{
	for (size_t i = 0; i < t->nmaps; i++) {
		const char *path = t->maps[i].path;
		const char *base = path ? strrchr(path, '/') : NULL;
		base = base ? base + 1 : path;
		if (!base)
			continue;
		if (strncmp(base, "lib", 3) == 0)
			base += 3;
		unsigned minor;
		char end;
		if (sscanf(base, "python3.%u%c", &minor, &end) >= 1 && minor < 100)
			return minor;
	}
	return 0;
}

static bool any_map_contains(const struct target *t, const char *needle)
{
	for (size_t i = 0; i < t->nmaps; i++)
		if (t->maps[i].path && strstr(t->maps[i].path, needle))
			return true;
	return false;
}

static struct pyag_error *locate(struct target *t, struct pyag_reader *reader,
				 const struct pyag_host *host)
{
	t->reader = reader;
	t->host = host;
	struct pyag_error *err;
	if (host->mappings)
		err = maps_from_host(t);
	else if (reader_core_file(reader))
		err = maps_from_core(t, reader_core_file(reader));
	else if (host->kind == PYAG_TARGET_LIVE && host->pid > 0)
		err = maps_from_proc(t, host->pid);
	else
		err = NULL;
	if (err)
		return err;

	if (host->symbol) {
		uint64_t addr;
		if (host->symbol(host->symbol_arg, "_PyRuntime", &addr) == 0 && addr) {
			t->runtime_addr = addr;
			t->runtime_how = "symbol";
			t->sym_runtime_addr = addr;
			if (host->symbol(host->symbol_arg, "Py_Version", &addr) == 0 && addr)
				t->version_addr = addr;
		}
		if (host->symbol(host->symbol_arg, "_AsyncioDebug", &addr) == 0 && addr)
			t->asyncio_debug_addr = addr;
	}
	if (!t->runtime_addr || !t->asyncio_debug_addr) {
		err = locate_by_sections(t);
		if (err)
			return err;
	}
	/* A symbol or section must really hold the cookie; else scan. */
	if (t->runtime_addr) {
		uint8_t head[16];
		struct pyag_error *rerr = pyag_reader_read(reader, t->runtime_addr,
							   head, sizeof(head));
		if (rerr && rerr->code != PYAG_ERROR_FAULT)
			return rerr;
		if (rerr || !plausible_cookie(head)) {
			pyag_error_destroy(rerr);
			t->runtime_addr = 0;
		}
	}
	/* no debug offsets, but _PyRuntime and Py_Version by name: a 3.11 or
	 * 3.12 interpreter (3.13 and later carry debug offsets) */
	if (!t->runtime_addr && t->sym_runtime_addr && t->version_addr) {
		uint64_t v;
		if (reader_try_read(reader, t->version_addr, &v, 8) &&
		    ((v >> 24) & 0xff) == 3 && ((v >> 16) & 0xff) < 13) {
			t->runtime_addr = t->sym_runtime_addr;
			t->runtime_how = "symbol";
			t->legacy = true;
			return NULL;
		}
	}
	if (!t->runtime_addr) {
		err = locate_by_scan(t);
		if (err)
			return err;
	}
	if (!t->runtime_addr) {
		unsigned minor = mapped_python_minor(t);
		if (minor && minor < 11)
			return pyag_error_create(
				PYAG_ERROR_VERSION,
				"Python 3.%u has no asyncio graph support in this version",
				minor);
		bool pythonish = any_map_contains(t, "python") ||
				 any_map_contains(t, "libpython");
		if (host->kind == PYAG_TARGET_CORE)
			return pyag_error_create(
				PYAG_ERROR_NOT_PYTHON,
				"no Python interpreter found in the core%s",
				pythonish ? " (a Python file is mapped, but no "
					    "_PyRuntime with debug offsets is in the dump)"
					  : "");
		return pyag_error_create(
			PYAG_ERROR_NOT_PYTHON,
			"process %d is not a Python process%s", host->pid,
			pythonish ? " (a Python library is mapped, but no "
				    "_PyRuntime with debug offsets was found; "
				    "Python >= 3.13 is needed)" : "");
	}
	if (!t->asyncio_debug_addr)
		t->asyncio_mapped = any_map_contains(t, "_asyncio");
	return NULL;
}

/* On failure nothing is left to free: the target is deinitialized. */
struct pyag_error *target_locate(struct target *t, struct pyag_reader *reader,
				 const struct pyag_host *host)
{
	memset(t, 0, sizeof(*t));
	struct pyag_error *err = locate(t, reader, host);
	if (!err && t->nomem)
		err = pyag_error_nomem("locating the interpreter");
	if (err)
		target_deinit(t);
	return err;
}

void target_deinit(struct target *t)
{
	for (size_t i = 0; i < t->nmaps; i++)
		free(t->maps[i].path);
	free(t->maps);
	free(t->missing_file);
	memset(t, 0, sizeof(*t));
}
