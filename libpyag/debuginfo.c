/*
 * Finding the DWARF of a mapped ELF file, the way debuggers do: the file
 * itself when it has .debug_info; else a separate debug file named by its
 * build-id (DEBUGDIR/.build-id/xx/rest.debug); else the file named by its
 * .gnu_debuglink section, next to it, in .debug/ beside it, or under
 * DEBUGDIR plus its directory. With a sysroot (a target in a container),
 * the debug directories and the target's own directory are looked up
 * under it.
 *
 * ELF files are untrusted: every header, table and note is bounds-checked.
 * A candidate is accepted only when it has .debug_info and its build-id
 * matches (or, for a debuglink without build-ids, its CRC does).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elffile.h"
#include "layout.h"

#define MAX_NOTES (1u << 20)
#define MAX_DEBUGLINK 4096u
#define BUILD_ID_MAX 64u
#define DEFAULT_DEBUG_DIR "/usr/lib/debug"

struct debug_facts {
	bool has_debug_info;
	bool damaged_debug;     /* a DWARF section's first header is implausible */
	uint8_t build_id[BUILD_ID_MAX];
	size_t build_id_len;
	bool has_debuglink;
	char debuglink[256];
	uint32_t debuglink_crc;
	bool nomem;             /* a note could not be read: out of memory */
};

/* Find an NT_GNU_BUILD_ID note among notes[0..size). */
static bool parse_notes(const uint8_t *p, size_t size, size_t align,
			struct debug_facts *facts)
{
	size_t off = 0;
	while (size - off >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		off += 12;
		size_t name_pad = ((size_t)namesz + align - 1) & ~(align - 1);
		size_t desc_pad = ((size_t)descsz + align - 1) & ~(align - 1);
		if (name_pad < namesz || name_pad > size - off)
			return false;
		const uint8_t *name = p + off;
		off += name_pad;
		if (desc_pad < descsz || descsz > size - off)
			return false;
		if (type == NT_GNU_BUILD_ID && namesz == 4 &&
		    memcmp(name, "GNU", 4) == 0 && descsz > 0 &&
		    descsz <= BUILD_ID_MAX) {
			memcpy(facts->build_id, p + off, descsz);
			facts->build_id_len = descsz;
			return true;
		}
		if (desc_pad > size - off)
			return false;
		off += desc_pad;
	}
	return false;
}

static bool read_notes(const struct elf_file *f, uint64_t off, uint64_t size,
		       uint64_t align, struct debug_facts *facts)
{
	if (size < 12 || size > MAX_NOTES || !elf_range_ok(off, size, f->size))
		return false;
	uint8_t *buf = malloc(size);
	if (!buf) {
		facts->nomem = true;
		return false;
	}
	bool found = elf_pread(f, buf, size, off) &&
		     parse_notes(buf, size, align == 8 ? 8 : 4, facts);
	free(buf);
	return found;
}

static void read_debuglink(const struct elf_file *f, const Elf64_Shdr *sh,
			   struct debug_facts *facts)
{
	if (sh->sh_type == SHT_NOBITS || sh->sh_size < 8 ||
	    sh->sh_size > MAX_DEBUGLINK ||
	    !elf_range_ok(sh->sh_offset, sh->sh_size, f->size))
		return;
	char buf[MAX_DEBUGLINK];
	if (!elf_pread(f, buf, sh->sh_size, sh->sh_offset))
		return;
	size_t len = strnlen(buf, sh->sh_size);
	size_t crc_at = (len + 4) & ~(size_t)3;
	if (len == 0 || len >= sizeof(facts->debuglink) ||
	    crc_at + 4 > sh->sh_size || memchr(buf, '/', len))
		return;
	memcpy(facts->debuglink, buf, len + 1);
	memcpy(&facts->debuglink_crc, buf + crc_at, 4);
	facts->has_debuglink = true;
}

/* Whether the first unit header of an uncompressed DWARF section (of
 * units: .debug_info, .debug_rnglists, .debug_loclists...) is plausible:
 * a length that fits and a version of 2 to 5. A file whose sections were
 * zeroed (a sysroot that keeps only the bytes a capture read) is not
 * handed to libdwarf, whose old versions crash on some of them. */
static bool unit_header_ok(const struct elf_file *f, const Elf64_Shdr *sh)
{
	uint8_t h[14];
	if ((sh->sh_flags & SHF_COMPRESSED) || sh->sh_size < sizeof(h))
		return true;  /* nothing to tell */
	if (!elf_pread(f, h, sizeof(h), sh->sh_offset))
		return false;
	uint32_t len32;
	uint64_t len;
	uint16_t version;
	memcpy(&len32, h, 4);
	if (len32 == 0xffffffffu) {
		memcpy(&len, h + 4, 8);
		memcpy(&version, h + 12, 2);
	} else {
		len = len32;
		memcpy(&version, h + 4, 2);
	}
	return len >= 2 && len <= sh->sh_size && version >= 2 && version <= 5;
}

static void section_facts(void *arg, const struct elf_file *f, const char *name,
			  const Elf64_Shdr *sh)
{
	struct debug_facts *facts = arg;
	bool in_file = sh->sh_type != SHT_NOBITS && sh->sh_size > 0 &&
		       elf_range_ok(sh->sh_offset, sh->sh_size, f->size);
	if (in_file && (strcmp(name, ".debug_info") == 0 ||
			strcmp(name, ".debug_rnglists") == 0 ||
			strcmp(name, ".debug_loclists") == 0) && !unit_header_ok(f, sh))
		facts->damaged_debug = true;
	if ((strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0) && in_file)
		facts->has_debug_info = true;
	else if (strcmp(name, ".gnu_debuglink") == 0)
		read_debuglink(f, sh, facts);
	else if (sh->sh_type == SHT_NOTE && !facts->build_id_len)
		read_notes(f, sh->sh_offset, sh->sh_size, sh->sh_addralign, facts);
}

static struct pyag_error *read_facts(const char *path, struct debug_facts *facts)
{
	memset(facts, 0, sizeof(*facts));
	struct elf_file f;
	struct pyag_error *err = elf_open(path, &f, NULL, NULL);
	if (err)
		return err;
	err = elf_for_each_section(&f, section_facts, facts);
	if (!err && facts->nomem)
		err = pyag_error_nomem("ELF notes");
	if (!err && !facts->build_id_len) {
		/* build-id from PT_NOTE segments, for files without sections */
		size_t nph;
		bool nomem = false;
		Elf64_Phdr *ph = elf_program_headers(&f, &nph, &nomem);
		for (size_t i = 0; i < nph && !facts->build_id_len; i++)
			if (ph[i].p_type == PT_NOTE)
				read_notes(&f, ph[i].p_offset, ph[i].p_filesz,
					   ph[i].p_align, facts);
		free(ph);
		if (nomem)
			err = pyag_error_nomem("program headers");
	}
	elf_close(&f);
	if (facts->damaged_debug)
		facts->has_debug_info = false;
	return err;
}

struct pyag_error *debuginfo_build_id(const char *path, uint8_t *buf,
				      size_t size, size_t *len_ret)
{
	struct debug_facts facts;
	*len_ret = 0;
	struct pyag_error *err = read_facts(path, &facts);
	if (err)
		return err;
	if (facts.build_id_len > size)
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "%s: build-id of %zu bytes does not fit",
					 path, facts.build_id_len);
	memcpy(buf, facts.build_id, facts.build_id_len);
	*len_ret = facts.build_id_len;
	return NULL;
}

struct pyag_error *debuginfo_cache_key(const char *const *elf_paths, size_t n,
				       char **ret)
{
	struct strbuf sb;
	*ret = NULL;
	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		struct debug_facts facts;
		struct pyag_error *err = read_facts(elf_paths[i], &facts);
		if (err) {
			sb_deinit(&sb);
			return err;
		}
		if (!facts.build_id_len) {
			sb_deinit(&sb);
			return NULL;   /* no build-id: nothing safe to key on */
		}
		if (i)
			sb_putc(&sb, '+');
		for (size_t k = 0; k < facts.build_id_len; k++)
			sb_printf(&sb, "%02x", facts.build_id[k]);
	}
	if (n == 0) {
		sb_deinit(&sb);
		return NULL;
	}
	*ret = sb_steal(&sb);
	return *ret ? NULL : &pyag_enomem;
}

/* CRC-32 as .gnu_debuglink uses it (zlib's). */
static bool file_crc32(const char *path, uint32_t *ret)
{
	uint32_t table[256];
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	uint8_t buf[65536];
	uint32_t crc = 0xffffffffu;
	bool ok = true;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ok = false;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
	}
	close(fd);
	*ret = crc ^ 0xffffffffu;
	return ok;
}

/* Is path a debug file for the file described by orig? */
static bool candidate_ok(const char *path, const struct debug_facts *orig,
			 bool by_link)
{
	struct debug_facts facts;
	struct pyag_error *err = read_facts(path, &facts);
	if (err) {
		pyag_error_destroy(err);
		return false;
	}
	if (!facts.has_debug_info)
		return false;
	if (orig->build_id_len && facts.build_id_len)
		return orig->build_id_len == facts.build_id_len &&
		       memcmp(orig->build_id, facts.build_id,
			      orig->build_id_len) == 0;
	if (!by_link)
		return false;
	uint32_t crc;
	return file_crc32(path, &crc) && crc == orig->debuglink_crc;
}

static bool try_candidate(char *path, const struct debug_facts *orig,
			  bool by_link, char **ret)
{
	if (path && candidate_ok(path, orig, by_link)) {
		*ret = path;
		return true;
	}
	free(path);
	return false;
}

/* sysroot without trailing slashes; "" when none */
static size_t sysroot_len(const char *sysroot)
{
	size_t n = sysroot ? strlen(sysroot) : 0;
	while (n > 0 && sysroot[n - 1] == '/')
		n--;
	return n;
}

static char *join3(const char *a, size_t alen, const char *b, const char *c)
{
	char *s;
	if (asprintf(&s, "%.*s%s%s", (int)alen, a, b, c) < 0)
		return NULL;
	return s;
}

struct pyag_error *debuginfo_find(const char *elf_path, const char *sysroot,
				  const char *const *debug_dirs, size_t ndirs,
				  char **ret)
{
	static const char *const default_dirs[] = { DEFAULT_DEBUG_DIR };
	struct debug_facts facts;
	*ret = NULL;
	struct pyag_error *err = read_facts(elf_path, &facts);
	if (err)
		return err;
	if (facts.has_debug_info) {
		*ret = strdup(elf_path);
		return *ret ? NULL : &pyag_enomem;
	}
	if (!debug_dirs || ndirs == 0) {
		debug_dirs = default_dirs;
		ndirs = ARRAY_SIZE(default_dirs);
	}
	size_t rlen = sysroot_len(sysroot);

	if (facts.build_id_len >= 2) {
		char hex[2 * BUILD_ID_MAX + 1];
		for (size_t i = 0; i < facts.build_id_len; i++)
			snprintf(hex + 2 * i, 3, "%02x", facts.build_id[i]);
		for (size_t i = 0; i < ndirs; i++) {
			char *path;
			if (asprintf(&path, "%.*s%s/.build-id/%.2s/%s.debug",
				     (int)rlen, sysroot ? sysroot : "",
				     debug_dirs[i], hex, hex + 2) < 0)
				return &pyag_enomem;
			if (try_candidate(path, &facts, false, ret))
				return NULL;
		}
	}

	if (!facts.has_debuglink)
		return NULL;
	/* the file's directory, here and as the target sees it */
	const char *slash = strrchr(elf_path, '/');
	size_t dlen = slash ? (size_t)(slash - elf_path) : 0;
	char *dir = slash ? strndup(elf_path, dlen) : strdup(".");
	if (!dir)
		return &pyag_enomem;
	const char *target_dir = dir;
	if (rlen && strncmp(dir, sysroot, rlen) == 0 &&
	    (dir[rlen] == '/' || dir[rlen] == '\0'))
		target_dir = dir + rlen;
	const char *name = facts.debuglink;
	char *path = join3(dir, strlen(dir), "/", name);
	bool found = try_candidate(path, &facts, true, ret);
	if (!found) {
		path = join3(dir, strlen(dir), "/.debug/", name);
		found = try_candidate(path, &facts, true, ret);
	}
	for (size_t i = 0; i < ndirs && !found; i++) {
		if (asprintf(&path, "%.*s%s%s/%s", (int)rlen,
			     sysroot ? sysroot : "", debug_dirs[i], target_dir,
			     name) < 0) {
			free(dir);
			return &pyag_enomem;
		}
		found = try_candidate(path, &facts, true, ret);
	}
	free(dir);
	return NULL;
}
