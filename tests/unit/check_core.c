/* Unit tests of libpyag's core modules, on synthetic data. */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fake.h"
#include "world.h"

/* ---- errors ---------------------------------------------------------------- */

START_TEST(test_error_context)
{
	struct pyag_error *err = pyag_error_fault(0x1000, 64);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_FAULT);
	ck_assert_uint_eq(pyag_error_address(err), 0x1000);
	err = pyag_error_wrap(err, "task 0x%x", 0xabc);
	err = pyag_error_wrap(err, "coroutine 0x%x", 0xdef);
	ck_assert_str_eq(pyag_error_message(err),
			 "coroutine 0xdef: task 0xabc: cannot read 64 bytes at 0x1000");
	ck_assert_uint_eq(pyag_error_address(err), 0x1000);
	pyag_error_destroy(err);
	/* static errors survive wrap and destroy */
	ck_assert_ptr_eq(pyag_error_wrap(&pyag_enomem, "x"), &pyag_enomem);
	pyag_error_destroy(&pyag_enomem);
	ck_assert_str_eq(pyag_error_message(&pyag_enomem), "out of memory");
	ck_assert_str_eq(pyag_error_message(NULL), "success");
}
END_TEST

/* ---- reader and page cache ------------------------------------------------ */

START_TEST(test_reader_cache)
{
	struct fake_mem *m = fake_create();
	uint64_t a = fake_alloc(m, 10000);  /* spans three pages */
	uint8_t pattern[10000];
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7);
	fake_write(m, a, pattern, sizeof(pattern));
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, m, &r));
	uint8_t buf[10000];
	fake_read_calls = 0;
	ck_assert_ptr_null(pyag_reader_read(r, a + 100, buf, 9000));
	ck_assert_mem_eq(buf, pattern + 100, 9000);
	unsigned long calls = fake_read_calls;
	/* served from the cache now */
	ck_assert_ptr_null(pyag_reader_read(r, a + 5000, buf, 3000));
	ck_assert_mem_eq(buf, pattern + 5000, 3000);
	ck_assert_uint_eq(fake_read_calls, calls);
	/* a fault names the requested address */
	struct pyag_error *err = pyag_reader_read(r, 0x5000, buf, 8);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_FAULT);
	ck_assert_uint_eq(pyag_error_address(err), 0x5000);
	pyag_error_destroy(err);
	/* after invalidation the target is read again and sees new data */
	fake_w8(m, a + 5000, 0xee);
	pyag_reader_invalidate(r);
	ck_assert_ptr_null(pyag_reader_read(r, a + 5000, buf, 1));
	ck_assert_uint_eq(buf[0], 0xee);
	ck_assert_uint_gt(fake_read_calls, calls);
	/* overflowing address ranges fault instead of wrapping */
	err = pyag_reader_read(r, UINT64_MAX - 4, buf, 8);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_FAULT);
	pyag_error_destroy(err);
	pyag_reader_destroy(r);
	fake_destroy(m);
}
END_TEST

START_TEST(test_reader_cache_bounded)
{
	struct fake_mem *m = fake_create();
	uint64_t a = fake_alloc(m, 64 * 4096);
	for (unsigned p = 0; p < 64; p++)
		fake_w32(m, a + p * 4096, p + 1);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, m, &r));
	r->max_pages = 8;  /* tiny cache: must stay correct and bounded */
	for (int round = 0; round < 2; round++)
		for (unsigned p = 0; p < 64; p++) {
			uint32_t v;
			ck_assert_ptr_null(pyag_reader_read(r, a + p * 4096, &v, 4));
			ck_assert_uint_eq(v, p + 1);
			ck_assert_uint_le(r->npages, 8);
		}
	pyag_reader_destroy(r);
	fake_destroy(m);
}
END_TEST

/* A cache bigger than one chunk of page memory, filled several times over:
 * every read still gives the right bytes, and the memory of the first fill
 * is reused instead of growing with what was read. */
START_TEST(test_reader_cache_reuses_memory)
{
	enum { PAGES = 12000, MAX = 3000 };
	struct fake_mem *m = fake_create();
	uint64_t a = fake_alloc(m, (uint64_t)PAGES * 4096);
	for (unsigned p = 0; p < PAGES; p++)
		fake_w32(m, a + (uint64_t)p * 4096 + 4092, p + 1);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, m, &r));
	r->max_pages = MAX;
	size_t chunks = 0;
	for (int round = 0; round < 2; round++)
		for (unsigned p = 0; p < PAGES; p++) {
			uint32_t v;
			ck_assert_ptr_null(pyag_reader_read(r, a + (uint64_t)p * 4096 + 4092,
							    &v, 4));
			ck_assert_uint_eq(v, p + 1);
			ck_assert_uint_le(r->npages, MAX);
			if (p == MAX - 1 && round == 0)
				chunks = r->nchunks;
		}
	ck_assert_uint_gt(chunks, 1);  /* the test spans chunks */
	ck_assert_uint_eq(r->chunks_mapped, chunks);
	pyag_reader_destroy(r);
	fake_destroy(m);
}
END_TEST

/* A core whose segments overlap: one reserves [0x1000, 0x4000) but holds
 * only its first page, another holds the page at 0x3000. Reads through the
 * cache (read-ahead runs across both) must find the second one's bytes. */
/* An x86-64 ELF core header with nph program headers right after it;
 * returns them. */
static Elf64_Phdr *core_header(uint8_t *file, unsigned nph)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)file;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)nph;
	eh->e_ehsize = sizeof(*eh);
	return (Elf64_Phdr *)(file + sizeof(*eh));
}

START_TEST(test_core_overlapping_segments)
{
	char path[] = "/tmp/pyag-core-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	uint8_t file[0x3000];
	memset(file, 0, sizeof(file));
	Elf64_Phdr *ph = core_header(file, 2);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = 0x1000,
			      .p_filesz = 0x1000, .p_memsz = 0x3000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x2000, .p_vaddr = 0x3000,
			      .p_filesz = 0x1000, .p_memsz = 0x1000 };
	memset(file + 0x1000, 0xaa, 0x1000);
	memset(file + 0x2000, 0xbb, 0x1000);
	ck_assert_int_eq(write(fd, file, sizeof(file)), (int)sizeof(file));
	close(fd);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_core(path, &r));
	uint8_t b[16];
	ck_assert_ptr_null(pyag_reader_read(r, 0x1ff8, b, 8));  /* fills the cache */
	ck_assert_int_eq(b[0], 0xaa);
	ck_assert_ptr_null(pyag_reader_read(r, 0x3008, b, 16));
	ck_assert_int_eq(b[0], 0xbb);
	ck_assert_int_eq(b[15], 0xbb);
	struct pyag_error *err = pyag_reader_read(r, 0x2008, b, 8);  /* reserved only */
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_FAULT);
	pyag_error_destroy(err);
	pyag_reader_destroy(r);
	unlink(path);
}
END_TEST

/* Append an ELF note (name "CORE") at *off of buf. */
static void put_note(uint8_t *buf, size_t *off, uint32_t type, const void *desc,
		     uint32_t descsz)
{
	uint32_t hdr[3] = { 5, descsz, type };
	memcpy(buf + *off, hdr, 12);
	memcpy(buf + *off + 12, "CORE", 5);
	*off += 12 + 8;
	memcpy(buf + *off, desc, descsz);
	*off += (descsz + 3) & ~3u;
}

/* A core whose NT_FILE names the executable at exe_path and libc. */
static void write_core_with_files(const char *path, const char *exe_path)
{
	uint8_t file[0x3000];
	memset(file, 0, sizeof(file));
	Elf64_Phdr *ph = core_header(file, 2);
	size_t off = 0x400, start = off;
	uint8_t prpsinfo[136] = { 0 };
	memcpy(prpsinfo + 40, "python3.14", 10);
	put_note(file, &off, 3 /* NT_PRPSINFO */, prpsinfo, sizeof(prpsinfo));
	uint8_t nt[512] = { 0 };
	uint64_t head[8] = { 2, 4096, 0x400000, 0x401000, 0, 0x7f0000000000, 0x7f0000001000, 0 };
	memcpy(nt, head, sizeof(head));
	size_t n1 = strlen(exe_path) + 1;
	memcpy(nt + sizeof(head), exe_path, n1);
	memcpy(nt + sizeof(head) + n1, "/lib/libc.so.6", 15);
	put_note(file, &off, 0x46494c45 /* NT_FILE */, nt,
		 (uint32_t)(sizeof(head) + n1 + 15));
	ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = start, .p_filesz = off - start };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = 0x1000,
			      .p_filesz = 0x1000, .p_memsz = 0x1000 };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, file, sizeof(file)), (int)sizeof(file));
	close(fd);
}

/* --exe: the executable given stands for the one the core names when that
 * one cannot be opened here (moved, or another machine), and only then. */
START_TEST(test_core_exe)
{
	char path[] = "/tmp/pyag-core-exe-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	write_core_with_files(path, "/nonexistent/bin/python3.14");
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_core_ex(path, NULL, NULL, &r));
	struct core_file *cf = reader_core_file(r);
	ck_assert_uint_eq(cf->nfiles, 2);
	ck_assert_str_eq(cf->files[0].path, "/nonexistent/bin/python3.14");
	pyag_reader_destroy(r);
	/* moved: the mappings of the executable are read from --exe */
	ck_assert_ptr_null(pyag_reader_create_core_ex(path, NULL, "/bin/sh", &r));
	cf = reader_core_file(r);
	ck_assert_str_eq(cf->files[0].path, "/bin/sh");
	ck_assert_str_eq(cf->files[1].path, "/lib/libc.so.6");
	pyag_reader_destroy(r);
	/* an --exe that is not there is an error, not ignored */
	struct pyag_error *err = pyag_reader_create_core_ex(path, NULL, "/nonexistent/exe", &r);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "--exe /nonexistent/exe"));
	pyag_error_destroy(err);
	/* the executable the core names exists here: it is the one read */
	write_core_with_files(path, "/bin/true");
	ck_assert_ptr_null(pyag_reader_create_core_ex(path, NULL, "/bin/sh", &r));
	ck_assert_str_eq(reader_core_file(r)->files[0].path, "/bin/true");
	pyag_reader_destroy(r);
	unlink(path);
}
END_TEST

START_TEST(test_read_cstr)
{
	struct fake_mem *m = fake_create();
	uint64_t a = fake_alloc(m, 16);
	fake_write(m, a, "coroutine", 10);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, m, &r));
	char buf[64];
	ck_assert_ptr_null(reader_read_cstr(r, a, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "coroutine");
	ck_assert_ptr_null(reader_read_cstr(r, a, buf, 5));
	ck_assert_str_eq(buf, "coro");  /* truncated, still terminated */
	pyag_reader_destroy(r);
	fake_destroy(m);
}
END_TEST

/* ---- location tables ------------------------------------------------------ */

START_TEST(test_decode_line)
{
	/* firstlineno 10:
	 *   2 units, short form (code 0): line 10
	 *   1 unit, one-line form code 11 (+1): line 11
	 *   3 units, no-column form (13), delta +5: line 16
	 *   1 unit, long form (14), delta -3: line 13 (end line, 2 columns)
	 *   2 units, no location (15)
	 *   1 unit, no-column, delta svarint(+100) over two varint bytes */
	const uint8_t t[] = {
		0x80 | (0 << 3) | 1, 0x05,
		0x80 | (11 << 3) | 0, 4, 8,
		0x80 | (13 << 3) | 2, 10,
		0x80 | (14 << 3) | 0, 7, 0, 1, 9,
		0x80 | (15 << 3) | 1,
		0x80 | (13 << 3) | 0, 0x40 | (200 & 63), 200 >> 6,
	};
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 0), 10);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 1), 10);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 2), 11);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 3), 16);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 5), 16);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 6), 13);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 7), -1);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 8), -1);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 9), 113);
	ck_assert_int_eq(decode_line(t, sizeof(t), 10, 10), -1);  /* past the end */
	/* truncated in the middle of an entry: no line, no overread */
	ck_assert_int_eq(decode_line(t, 8, 10, 6), -1);
	/* garbage without the entry bit */
	const uint8_t g[] = { 0x12, 0x34 };
	ck_assert_int_eq(decode_line(g, sizeof(g), 1, 0), -1);
	ck_assert_int_eq(decode_line(NULL, 0, 1, 0), -1);
	/* deltas of 2^62 again and again: no overflow (UBSan), no line */
	uint8_t big[4 * 12];
	for (int e = 0; e < 4; e++) {
		uint8_t *p = big + 12 * e;
		p[0] = 0x80 | (13 << 3) | 0;
		for (int k = 1; k < 11; k++)
			p[k] = 0x40 | 62;  /* continue, bits 111110: even: positive */
		p[11] = 63;
	}
	ck_assert_int_eq(decode_line(big, sizeof(big), 1, 3), -1);
}
END_TEST

/* ---- strings ----------------------------------------------------------------- */

static char *repr_of(const char *s)
{
	struct strbuf sb;
	sb_init(&sb);
	py_repr(&sb, s);
	return sb_steal(&sb);
}

START_TEST(test_py_repr)
{
	const char *cases[][2] = {
		{ "Task-1", "'Task-1'" },
		{ "it's", "\"it's\"" },
		{ "say \"hi\" it's", "'say \"hi\" it\\'s'" },
		{ "a\\b\tc\nd\re", "'a\\\\b\\tc\\nd\\re'" },
		{ "\x01\x7f", "'\\x01\\x7f'" },
		{ "t\xc3\xa2" "che-\xc3\xa9-\xf0\x9f\x98\x80", "'t\xc3\xa2" "che-\xc3\xa9-\xf0\x9f\x98\x80'" },
		{ "\xc2\xa0nbsp\xc2\xad", "'\\xa0nbsp\\xad'" },
		{ "\xe2\x80\xa8", "'\\u2028'" },
		{ "\xf3\xa0\x80\x81", "'\\U000e0001'" },
		{ "\xce\xb1\xce\xb2\xe6\xbc\xa2", "'\xce\xb1\xce\xb2\xe6\xbc\xa2'" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *r = repr_of(cases[i][0]);
		ck_assert_str_eq(r, cases[i][1]);
		free(r);
	}
}
END_TEST

START_TEST(test_json_string)
{
	struct strbuf sb;
	sb_init(&sb);
	json_string(&sb, "a\"b\\c\n\x01\xc3\xa9");
	ck_assert_str_eq(sb.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
	sb_deinit(&sb);
}
END_TEST

START_TEST(test_glob)
{
	ck_assert(glob_match("worker-*", "worker-12"));
	ck_assert(!glob_match("worker-*", "Worker-12"));
	ck_assert(glob_match("*-?", "a-b"));
	ck_assert(!glob_match("*-?", "a-bc"));
	ck_assert(glob_match("[a-c]x*", "bxyz"));
	ck_assert(!glob_match("[!a-c]x*", "bxyz"));
	ck_assert(glob_match("*", ""));
	ck_assert(glob_match("a*b*c", "aXXbYYc"));
	ck_assert(!glob_match("a*b*c", "aXXbYY"));
}
END_TEST

/* ---- layout ------------------------------------------------------------------ */

/* The table itself: a cell per version that its kind allows, positions
 * inside the debug offsets and none used twice, sizes named by "within". */
START_TEST(test_layout_table)
{
	for (size_t v = 0; v < LAYOUT_NVERSIONS; v++) {
		const struct layout_version *ver = &layout_versions[v];
		ck_assert_int_eq(layout_version_index(fake_version(v)), (int)v);
		uint8_t used_d[4096] = { 0 }, used_a[256] = { 0 };
		for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
			const struct layout_field *f = &layout_fields[i];
			const struct layout_cell *c = &f->cells[v];
			ck_assert_msg(c->kind != LAYOUT_CELL_MISSING, "%s", f->name);
			if (f->dwarf.kind == LAYOUT_Q_NONE)
				ck_assert_msg(c->kind == LAYOUT_CELL_CONST ||
					      c->kind == LAYOUT_CELL_ABSENT ||
					      c->kind == LAYOUT_CELL_NOT_IN_VERSION,
					      "%s: not in DWARF, yet no constant", f->name);
			if (c->kind == LAYOUT_CELL_DEBUG) {
				ck_assert_msg(c->value >= 16 && c->value % 8 == 0 &&
					      c->value + 8 <= ver->debug_offsets_size,
					      "%s: position %lld", f->name, (long long)c->value);
				ck_assert_msg(!used_d[c->value]++, "%s: position used twice",
					      f->name);
			}
			if (c->kind == LAYOUT_CELL_ASYNCIO) {
				ck_assert_msg(f->flags & LF_ASYNCIO, "%s", f->name);
				ck_assert_msg(c->value >= 0 && c->value % 8 == 0 &&
					      c->value + 8 <= ver->asyncio_debug_size,
					      "%s: position %lld", f->name, (long long)c->value);
				ck_assert_msg(!used_a[c->value]++, "%s: position used twice",
					      f->name);
			}
			if (f->within != LAYOUT_F_NONE)
				ck_assert_msg(layout_fields[f->within].dwarf.kind == LAYOUT_Q_SIZE,
					      "%s: within a field that is not a size", f->name);
		}
	}
	/* the struct's members are the table's rows, in its order */
	ck_assert_uint_eq(layout_fields[0].offset, offsetof(struct pyag_layout, free_threaded));
	for (size_t i = 1; i < LAYOUT_NFIELDS; i++)
		ck_assert_uint_gt(layout_fields[i].offset, layout_fields[i - 1].offset);
	ck_assert_str_eq(layout_field_struct(&layout_fields[LAYOUT_F_task_node]), "TaskObj");
}
END_TEST

START_TEST(test_layout_good)
{
	struct fake_py py;
	fake_py_init(&py, fake_version(_i));
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, py.m, &r));
	struct pyag_layout l;
	struct pyag_error *err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_msg(!err, "%s", pyag_error_message(err));
	ck_assert(l.have_asyncio);
	ck_assert_uint_eq(l.version, fake_version(_i));
	ck_assert_uint_eq(l.task_node, 152);
	ck_assert_uint_eq(l.gen_iframe, 72);
	ck_assert_uint_eq(l.frame_owner, 74);
	ck_assert_int_eq(l.frame_state_yield_from,
			 layout_versions[_i].minor == 14 ? -1 : 2);
	ck_assert_uint_eq(l.yield_from_slot, layout_versions[_i].minor == 14 ? 1 : 2);
	ck_assert_uint_eq(l.unicode_compact_size, 56);
	/* every field where the fake put it */
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++)
		ck_assert_msg(layout_field_get(&l, &layout_fields[i]) ==
			      layout_field_get(&py.l, &layout_fields[i]),
			      "%s", layout_fields[i].name);
	pyag_reader_destroy(r);
	fake_py_deinit(&py);
}
END_TEST

START_TEST(test_layout_rejects)
{
	struct fake_py py;
	fake_py_init(&py, fake_version(_i));
	uint64_t task_size_at = fake_debug_pos(&py, LAYOUT_F_task_size);
	uint64_t task_node_at = fake_debug_pos(&py, LAYOUT_F_task_node);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, py.m, &r));
	struct pyag_layout l;
	/* an offset outside its struct */
	fake_w64(py.m, task_node_at, 4000);  /* task_node > sizeof(TaskObj) */
	struct pyag_error *err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "task_node"));
	pyag_error_destroy(err);
	pyag_reader_invalidate(r);
	/* inside a struct declared huge, but beyond what the walker reads of
	 * it (found by the image fuzz target: an out-of-bounds index) */
	uint64_t task_size;
	ck_assert_ptr_null(reader_read_u64(r, task_size_at, &task_size));
	fake_w64(py.m, task_size_at, 100000);
	fake_w64(py.m, task_node_at, 65536);
	pyag_reader_invalidate(r);
	err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "beyond the 4096 bytes"));
	pyag_error_destroy(err);
	fake_w64(py.m, task_size_at, task_size);
	fake_w64(py.m, task_node_at, py.l.task_node);
	pyag_reader_invalidate(r);
	/* 3.10: no asyncio graph support (it has no debug offsets either) */
	fake_w64(py.m, py.runtime + 8, 0x030a0df0);
	err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_VERSION);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "3.10.13"));
	pyag_error_destroy(err);
	pyag_reader_invalidate(r);
	/* a future minor version we do not know */
	fake_w64(py.m, py.runtime + 8, fake_version(LAYOUT_NVERSIONS - 1) + (1u << 16));
	err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_VERSION);
	pyag_error_destroy(err);
	pyag_reader_invalidate(r);
	/* no cookie */
	fake_write(py.m, py.runtime, "ydebugpy", 8);
	err = layout_from_debug_offsets(r, py.runtime, py.asyncio_debug, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_PYTHON);
	pyag_error_destroy(err);
	pyag_reader_destroy(r);
	fake_py_deinit(&py);
}
END_TEST

/* ---- walker, graph and formats on a synthetic interpreter ----------------------- */

START_TEST(test_walk_records)
{
	struct world w;
	build_world(&w, fake_version(_i));
	struct snapshot snap;
	walk_world(&w, &snap);
	ck_assert_uint_eq(snap.nwarnings, 0);
	ck_assert_uint_eq(snap.nthreads, 1);
	ck_assert_uint_eq(snap.threads[0].native_thread_id, 4242);
	ck_assert_uint_eq(snap.threads[0].running_task, w.running);
	ck_assert_uint_eq(snap.ntasks, 5);  /* 4 listed + the future */
	const struct task_rec *p = &snap.tasks[0];
	ck_assert_uint_eq(p->addr, w.parent);
	ck_assert_str_eq(p->name, "Task-7");
	ck_assert_uint_eq(p->nframes, 2);
	ck_assert_str_eq(p->frames[0].function, "TaskGroup._aexit");
	ck_assert_int_eq(p->frames[0].line, 121);
	ck_assert_str_eq(p->frames[1].function, "main");
	ck_assert_int_eq(p->frames[1].line, 3);
	ck_assert_int_eq(p->frames[1].kind, FRAME_KIND_ASYNC);
	const struct task_rec *c1 = &snap.tasks[1];
	ck_assert_str_eq(c1->name, "worker-\xce\xb1");
	ck_assert_uint_eq(c1->nawaited_by, 1);
	ck_assert_uint_eq(c1->awaited_by[0], w.parent);
	ck_assert_str_eq(c1->frames[0].function, "sleep");
	ck_assert_int_eq(c1->frames[0].line, 702);
	const struct task_rec *c2 = &snap.tasks[2];
	ck_assert_str_eq(c2->name, "worker-\xf0\x9f\x98\x80");
	ck_assert_uint_eq(c2->nawaited_by, 2);  /* dummy skipped, slot order kept */
	ck_assert_uint_eq(c2->awaited_by[0], w.fut);
	ck_assert_uint_eq(c2->awaited_by[1], w.parent);
	const struct task_rec *rn = &snap.tasks[3];
	ck_assert(rn->running);
	ck_assert_uint_eq(rn->nframes, 2);  /* block, main; not the loop frame */
	ck_assert_str_eq(rn->frames[0].function, "block");
	ck_assert_int_eq(rn->frames[0].kind, FRAME_KIND_PLAIN);
	ck_assert_int_eq(rn->frames[0].line, 31);
	ck_assert_str_eq(rn->frames[1].function, "main");
	ck_assert_int_eq(rn->frames[1].kind, FRAME_KIND_ASYNC);
	const struct task_rec *f = &snap.tasks[4];
	ck_assert(!f->is_task);
	ck_assert(!f->listed);
	ck_assert_uint_eq(f->addr, w.fut);
	snapshot_deinit(&snap);
	fake_py_deinit(&w.py);
}
END_TEST


/* ---- dicts, attributes, thread records ---- */

/* A walker over a fake interpreter, for the object readers. */
struct obj_env {
	struct fake_py py;
	struct pyag_reader *r;
	struct walk_limits lim;
	struct snapshot snap;
	struct walker w;
};

static void obj_env_init(struct obj_env *e, uint64_t version)
{
	fake_py_init(&e->py, version);
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, e->py.m, &e->r));
	walk_default_limits(&e->lim);
	snapshot_init(&e->snap);
	e->w = (struct walker){ .r = e->r, .l = &e->py.l, .lim = &e->lim, .snap = &e->snap };
}

static void obj_env_deinit(struct obj_env *e)
{
	u64map_deinit(&e->w.types);
	u64map_deinit(&e->w.codes);
	free(e->w.code_infos);
	snapshot_deinit(&e->snap);
	pyag_reader_destroy(e->r);
	fake_py_deinit(&e->py);
}

START_TEST(test_dict_reader)
{
	struct obj_env e;
	obj_env_init(&e, fake_version(_i));
	struct fake_py *py = &e.py;
	const struct pyag_layout *l = &py->l;
	struct walker *w = &e.w;
	/* a str-keyed table, a general one, 20 entries (a bigger table) */
	static const char *const names[] = { "alpha", "beta", "gamma" };
	const uint64_t vals[] = { 0x1110, 0x2220, 0x3330 };
	uint64_t d = fake_dict_str(py, names, vals, 3);
	uint64_t v;
	ck_assert_ptr_null(dict_get_str(w, d, "beta", &v));
	ck_assert_uint_eq(v, 0x2220);
	ck_assert_ptr_null(dict_get_str(w, d, "gamma", &v));
	ck_assert_uint_eq(v, 0x3330);
	ck_assert_ptr_null(dict_get_str(w, d, "delta", &v));
	ck_assert_uint_eq(v, 0);
	ck_assert_ptr_null(dict_get_str(w, d, "alph", &v));  /* a prefix is no match */
	ck_assert_uint_eq(v, 0);
	uint64_t keys[20], values[20];
	for (int i = 0; i < 20; i++) {
		keys[i] = i == 13 ? fake_ascii(py, "needle") : fake_int(py, 100 + i);
		values[i] = 0x9000 + 16 * i;
	}
	uint64_t g = fake_dict(py, keys, values, 20);
	ck_assert_ptr_null(dict_get_str(w, g, "needle", &v));
	ck_assert_uint_eq(v, 0x9000 + 16 * 13);
	/* a split table: keys shared, values apart */
	uint64_t skeys[2] = { fake_ascii(py, "x"), fake_ascii(py, "y") };
	uint64_t split = fake_dict(py, NULL, NULL, 0);
	uint64_t sv = fake_alloc(py->m, 64);
	fake_w8(py->m, sv + l->dictvalues_capacity, 2);
	pyag_reader_invalidate(e.r);  /* the page cache */
	fake_w64(py->m, sv + l->dictvalues_values, 0xaa0);
	pyag_reader_invalidate(e.r);  /* the page cache */
	fake_w64(py->m, sv + l->dictvalues_values + 8, 0xbb0);
	pyag_reader_invalidate(e.r);  /* the page cache */
	fake_w64(py->m, split + l->dict_keys, fake_keys(py, skeys, NULL, 2, 2));
	fake_w64(py->m, split + l->dict_values, sv);
	ck_assert_ptr_null(dict_get_str(w, split, "y", &v));
	ck_assert_uint_eq(v, 0xbb0);
	/* a capacity smaller than the keys: the value past it is none */
	fake_w8(py->m, sv + l->dictvalues_capacity, 1);
	pyag_reader_invalidate(e.r);  /* the page cache */
	ck_assert_ptr_null(dict_get_str(w, split, "y", &v));
	ck_assert_uint_eq(v, 0);
	/* hostile tables are errors, never long reads */
	uint64_t k = 0;
	fake_read(py->m, d + l->dict_keys, &k, 8);
	fake_w8(py->m, k + l->dk_log2_size, 63);
	pyag_reader_invalidate(e.r);  /* the page cache */
	struct pyag_error *err = dict_get_str(w, d, "beta", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	pyag_error_destroy(err);
	fake_w8(py->m, k + l->dk_log2_size, 3);
	pyag_reader_invalidate(e.r);  /* the page cache */
	fake_w64(py->m, k + l->dk_nentries, 9);  /* more entries than slots */
	pyag_reader_invalidate(e.r);  /* the page cache */
	err = dict_get_str(w, d, "beta", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	pyag_error_destroy(err);
	fake_w64(py->m, k + l->dk_nentries, 3);
	pyag_reader_invalidate(e.r);  /* the page cache */
	fake_w8(py->m, k + l->dk_kind, 7);
	pyag_reader_invalidate(e.r);  /* the page cache */
	err = dict_get_str(w, d, "beta", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	pyag_error_destroy(err);
	/* the entries limit */
	e.lim.max_set = 10;
	err = dict_get_str(w, g, "needle", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	ck_assert(strstr(pyag_error_message(err), "more than 10 entries"));
	pyag_error_destroy(err);
	/* not a dict */
	err = dict_get_str(w, keys[0], "x", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	pyag_error_destroy(err);
	/* unreadable */
	err = dict_get_str(w, 0x10, "x", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_FAULT);
	pyag_error_destroy(err);
	obj_env_deinit(&e);
}
END_TEST

START_TEST(test_object_attr)
{
	struct obj_env e;
	obj_env_init(&e, fake_version(_i));
	struct fake_py *py = &e.py;
	struct walker *w = &e.w;
	static const char *const attrs[] = { "_target", "_name", "_ident" };
	uint64_t type = fake_heap_type(py, "Thread", attrs, 3);
	const uint64_t inline_vals[] = { 0x100, 0x200, 0x300 };
	uint64_t o = fake_instance(py, type, inline_vals, 3, 0);
	uint64_t v;
	ck_assert_ptr_null(object_attr(w, o, "_name", &v));
	ck_assert_uint_eq(v, 0x200);
	ck_assert_ptr_null(object_attr(w, o, "_ident", &v));
	ck_assert_uint_eq(v, 0x300);
	ck_assert_ptr_null(object_attr(w, o, "_other", &v));
	ck_assert_uint_eq(v, 0);
	/* once a dict exists, it holds the attributes */
	static const char *const dnames[] = { "_name" };
	const uint64_t dvals[] = { 0x777 };
	uint64_t od = fake_instance(py, type, inline_vals, 3,
				    fake_dict_str(py, dnames, dvals, 1));
	ck_assert_ptr_null(object_attr(w, od, "_name", &v));
	ck_assert_uint_eq(v, 0x777);
	ck_assert_ptr_null(object_attr(w, od, "_ident", &v));
	ck_assert_uint_eq(v, 0);
	/* a garbage type size is an error */
	fake_w64(py->m, type + py->l.type_basicsize, 1ull << 40);
	pyag_reader_invalidate(e.r);  /* the page cache */
	struct pyag_error *err = object_attr(w, o, "_name", &v);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_CORRUPT);
	pyag_error_destroy(err);
	obj_env_deinit(&e);
}
END_TEST

struct collected {
	uint64_t v[256];
	size_t n;
};

static bool collect_item(struct walker *w, uint64_t item, void *arg)
{
	struct collected *c = arg;
	(void)w;
	if (c->n < 256)
		c->v[c->n++] = item;
	return true;
}

/* A collections.deque of len items from index first of a chain of blocks. */
#define BLOCK_ITEMS(l) (((l)->block_rightlink - (l)->block_data) / 8)

static uint64_t fake_deque_blocks(struct fake_py *py, uint64_t *blocks, size_t nblocks,
				  uint64_t first, int64_t len)
{
	const struct pyag_layout *l = &py->l;
	uint64_t dq = fake_alloc(py->m, 128);
	for (size_t b = 0; b < nblocks; b++) {
		blocks[b] = fake_alloc(py->m, l->block_rightlink + 8);
		for (uint64_t k = 0; k < BLOCK_ITEMS(l); k++)
			fake_w64(py->m, blocks[b] + l->block_data + 8 * k,
				 0x1000 * (b + 1) + k);
	}
	for (size_t b = 0; b + 1 < nblocks; b++)
		fake_w64(py->m, blocks[b] + l->block_rightlink, blocks[b + 1]);
	fake_w64(py->m, dq + l->deque_ob_size, (uint64_t)len);
	fake_w64(py->m, dq + l->deque_leftblock, blocks[0]);
	fake_w64(py->m, dq + l->deque_leftindex, first);
	return dq;
}

START_TEST(test_deque_reader)
{
	struct obj_env e;
	obj_env_init(&e, fake_version(_i));
	struct fake_py *py = &e.py;
	const struct pyag_layout *l = &py->l;
	struct walker *w = &e.w;
	uint64_t blocks[3];
	/* 4 items at the end of the first block, 6 in the second */
	uint64_t dq = fake_deque_blocks(py, blocks, 2, BLOCK_ITEMS(l) - 4, 10);
	struct collected c = { .n = 0 };
	int64_t len;
	ck_assert_ptr_null(deque_each(w, dq, collect_item, &c, &len));
	ck_assert_int_eq(len, 10);
	ck_assert_uint_eq(c.n, 10);
	ck_assert_uint_eq(c.v[0], 0x1000 + BLOCK_ITEMS(l) - 4);
	ck_assert_uint_eq(c.v[3], 0x1000 + BLOCK_ITEMS(l) - 1);
	ck_assert_uint_eq(c.v[4], 0x2000);
	ck_assert_uint_eq(c.v[9], 0x2005);
	/* an empty deque */
	uint64_t empty = fake_deque_blocks(py, blocks, 1, 31, 0);
	c.n = 0;
	ck_assert_ptr_null(deque_each(w, empty, collect_item, &c, &len));
	ck_assert_int_eq(len, 0);
	ck_assert_uint_eq(c.n, 0);
	/* hostile: a length beyond the limit, an index outside a block, blocks
	 * that end before the items do: errors, no items beyond what exists */
	static const struct { int64_t len; uint64_t first; size_t nblocks; } bad[] = {
		{ -1, 0, 1 }, { 1ll << 40, 0, 1 }, { 3, 64, 1 }, { 200, 0, 2 },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		uint64_t b = fake_deque_blocks(py, blocks, bad[k].nblocks, bad[k].first, bad[k].len);
		c.n = 0;
		struct pyag_error *err = deque_each(w, b, collect_item, &c, &len);
		ck_assert_msg(err && pyag_error_code(err) == PYAG_ERROR_CORRUPT,
			      "case %zu: %s", k, err ? pyag_error_message(err) : "no error");
		ck_assert_uint_le(c.n, bad[k].nblocks * BLOCK_ITEMS(l));
		pyag_error_destroy(err);
	}
	/* a block that links to itself: as many items as the length says
	 * (bounded by it), never a hang */
	uint64_t loop = fake_deque_blocks(py, blocks, 1, 0, 3 * (int64_t)BLOCK_ITEMS(l));
	fake_w64(py->m, blocks[0] + l->block_rightlink, blocks[0]);
	pyag_reader_invalidate(e.r);
	c.n = 0;
	ck_assert_ptr_null(deque_each(w, loop, collect_item, &c, &len));
	ck_assert_uint_eq(c.n, 3 * BLOCK_ITEMS(l) < 256 ? 3 * BLOCK_ITEMS(l) : 256);
	obj_env_deinit(&e);
}
END_TEST

START_TEST(test_deque_items)
{
	struct obj_env e;
	obj_env_init(&e, fake_version(_i));
	struct fake_py *py = &e.py;
	const struct pyag_layout *l = &py->l;
	uint64_t type = fake_heap_type(py, "collections.deque", NULL, 0);
	uint64_t dq = fake_alloc(py->m, 64);
	fake_w64(py->m, dq + l->obj_type, type);
	/* 150 items from index 60 of the first block: 4 + 64 + 64 + 18 */
	uint64_t blocks[4], per = (l->block_rightlink - l->block_data) / 8, k = 0;
	ck_assert_uint_eq(per, 64);
	for (int b = 0; b < 4; b++)
		blocks[b] = fake_alloc(py->m, l->block_rightlink + 8);
	for (int b = 0; b < 4; b++) {
		fake_w64(py->m, blocks[b] + l->block_rightlink, b < 3 ? blocks[b + 1] : 0);
		for (uint64_t i = b ? 0 : 60; i < per && k < 150; i++)
			fake_w64(py->m, blocks[b] + l->block_data + 8 * i, 0x1000 + k++);
	}
	fake_w64(py->m, dq + l->deque_ob_size, 150);
	fake_w64(py->m, dq + l->deque_leftblock, blocks[0]);
	fake_w64(py->m, dq + l->deque_leftindex, 60);
	uint64_t items[200];
	size_t n;
	ck_assert_ptr_null(deque_items(&e.w, dq, items, 200, &n));
	ck_assert_uint_eq(n, 150);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(items[i], 0x1000 + i);
	ck_assert_ptr_null(deque_items(&e.w, dq, items, 10, &n));  /* the first 10 */
	ck_assert_uint_eq(n, 10);
	ck_assert_uint_eq(items[9], 0x1009);
	/* hostile: a broken block chain, an index outside its block, a
	 * size past the set limit, another type: each is an error */
	struct { uint64_t addr, value; int code; } bad[] = {
		{ blocks[1] + l->block_rightlink, 0, PYAG_ERROR_CORRUPT },
		{ dq + l->deque_leftindex, 64, PYAG_ERROR_CORRUPT },
		{ dq + l->deque_ob_size, (uint64_t)1 << 40, PYAG_ERROR_CORRUPT },
		{ dq + l->obj_type, py->type_dict, PYAG_ERROR_CORRUPT },
	};
	for (size_t b = 0; b < ARRAY_SIZE(bad); b++) {
		uint64_t old;
		ck_assert(reader_try_read(e.r, bad[b].addr, &old, 8));
		fake_w64(py->m, bad[b].addr, bad[b].value);
		pyag_reader_invalidate(e.r);
		struct pyag_error *err = deque_items(&e.w, dq, items, 200, &n);
		ck_assert_int_eq(pyag_error_code(err), bad[b].code);
		pyag_error_destroy(err);
		fake_w64(py->m, bad[b].addr, old);
		pyag_reader_invalidate(e.r);
	}
	obj_env_deinit(&e);
}
END_TEST

START_TEST(test_thread_records)
{
	struct world w;
	build_world(&w, fake_version(_i));
	struct fake_py *py = &w.py;
	const struct pyag_layout *l = &py->l;
	const uint64_t idents[] = { 0x7f0000000001ull, 0x7f0011223344ull };
	static const char *const names[] = { "worker", "MainThread" };
	fake_threading(py, idents, names, 2);
	fake_w32(py->m, py->tstate + l->tstate_holds_gil, 0);
	fake_w32(py->m, py->tstate + l->tstate_state, 0);
	fake_w64(py->m, py->tstate + l->athread_running_loop, 0xabc0);
	struct snapshot snap;
	walk_world(&w, &snap);
	ck_assert_uint_eq(snap.nwarnings, 0);
	ck_assert_uint_eq(snap.nthreads, 1);
	const struct thread_rec *th = &snap.threads[0];
	ck_assert_str_eq(th->name, "MainThread");
	ck_assert_int_eq(th->holds_gil, 0);
	ck_assert_int_eq(th->state, PYAG_THREAD_GIL_RELEASED);
	ck_assert_uint_eq(th->loop, 0xabc0);
	/* the whole stack: block, main (the coroutine), the loop's frame; the
	 * shim is skipped */
	ck_assert_uint_eq(th->nstack, 3);
	ck_assert_str_eq(th->stack[0].function, "block");
	ck_assert_str_eq(th->stack[1].function, "main");
	ck_assert_int_eq(th->stack[1].kind, FRAME_KIND_ASYNC);
	ck_assert_str_eq(th->stack[2].function, "main");
	ck_assert_int_eq(th->stack[2].kind, FRAME_KIND_PLAIN);
	ck_assert_int_eq(th->stack[2].line, 9 + 1);
	snapshot_deinit(&snap);
	/* a frame of zeros (a core without that part of the C stack): the
	 * stack is cut there, with a warning */
	uint64_t fr = 0;
	fake_read(py->m, py->tstate + l->tstate_current_frame, &fr, 8);
	for (int k = 0; k < 3; k++)  /* block -> shim -> main -> the loop's frame */
		fake_read(py->m, fr + l->frame_previous, &fr, 8);
	uint8_t zeros[512] = { 0 };
	fake_write(py->m, fr, zeros, l->frame_size);
	walk_world(&w, &snap);
	ck_assert_uint_eq(snap.threads[0].nstack, 2);
	ck_assert_uint_eq(snap.nwarnings, 1);
	ck_assert(strstr(snap.warnings[0].message, "reads as zeros"));
	ck_assert_uint_eq(snap.warnings[0].address, fr);
	snapshot_deinit(&snap);
	/* holding the GIL; then no frames at all */
	fake_w32(py->m, py->tstate + l->tstate_holds_gil, 1);
	walk_world(&w, &snap);
	ck_assert_int_eq(snap.threads[0].state, PYAG_THREAD_RUNNING);
	ck_assert_int_eq(snap.threads[0].holds_gil, 1);
	snapshot_deinit(&snap);
	fake_w32(py->m, py->tstate + l->tstate_holds_gil, 0);
	fake_w64(py->m, py->tstate + l->tstate_current_frame, 0);
	fake_w64(py->m, py->tstate + l->athread_running_task, 0);
	walk_world(&w, &snap);
	ck_assert_int_eq(snap.threads[0].state, PYAG_THREAD_IDLE);
	ck_assert_uint_eq(snap.threads[0].nstack, 0);
	snapshot_deinit(&snap);
	/* a thread threading does not know has no name; a broken registry is
	 * a warning, not a failure */
	fake_w64(py->m, py->tstate + l->tstate_thread_id, 0x1234);
	walk_world(&w, &snap);
	ck_assert_ptr_null(snap.threads[0].name);
	ck_assert_uint_eq(snap.nwarnings, 0);
	snapshot_deinit(&snap);
	uint64_t modules = 0;
	fake_read(py->m, py->interp + l->interp_modules, &modules, 8);
	uint64_t mkeys = 0;
	fake_read(py->m, modules + l->dict_keys, &mkeys, 8);
	fake_w8(py->m, mkeys + l->dk_kind, 9);
	walk_world(&w, &snap);
	ck_assert_uint_eq(snap.nthreads, 1);
	ck_assert_uint_eq(snap.nwarnings, 1);
	ck_assert(strstr(snap.warnings[0].message, "threading's thread names"));
	snapshot_deinit(&snap);
	fake_py_deinit(py);
}
END_TEST

/* >= 0: render_with moves this record to a second interpreter */
static long second_interp_task = -1;

static char *render_with(struct world *w, const struct pyag_render_options *o, long task,
			 int which);

START_TEST(test_format_interpreters)
{
	struct world w;
	build_world(&w, fake_version(_i));
	struct pyag_render_options o = PYAG_INIT_RENDER_OPTIONS;
	/* one interpreter: no headers */
	char *tree = render_with(&w, &o, -1, 1);
	ck_assert_ptr_null(strstr(tree, "Interpreter"));
	free(tree);
	/* the running task (a root) in a second interpreter */
	second_interp_task = 3;
	tree = render_with(&w, &o, -1, 1);
	const char *h0 = strstr(tree, "Interpreter 0:\n└── (T) Task-7");
	const char *h1 = strstr(tree, "\nInterpreter 1:\n└── (T) runner");
	ck_assert_msg(h0 == tree && h1 && h1 > h0, "%s", tree);
	free(tree);
	char *table = render_with(&w, &o, -1, 2);
	ck_assert_msg(strncmp(table, "Interpreter 0:\ntid ", 19) == 0, "%s", table);
	h1 = strstr(table, "\nInterpreter 1:\ntid ");
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(strstr(h1, "runner"));
	free(table);
	/* the thread report: the thread's tasks of interpreter 0 under it */
	char *threads = render_with(&w, &o, -1, 4);
	ck_assert_ptr_nonnull(strstr(threads, "Thread 4242 (interpreter 0)"));
	ck_assert_ptr_nonnull(strstr(threads, "in block\nTasks:\n└── (T) Task-7"));
	free(threads);
	second_interp_task = -1;
	fake_py_deinit(&w.py);
}
END_TEST

static char *render_with(struct world *w, const struct pyag_render_options *o, long task,
			 int which)
{
	struct snapshot snap;
	walk_world(w, &snap);
	if (second_interp_task >= 0)
		snap.tasks[second_interp_task].interp_id = 1;
	struct graph g;
	ck_assert_ptr_null(graph_build(&snap, &g));
	bool *sel = calloc(snap.ntasks, sizeof(bool));
	for (size_t i = 0; i < snap.ntasks; i++)
		sel[i] = true;
	struct render_ctx ctx = { &snap, &g, o, sel, task };
	struct strbuf sb;
	sb_init(&sb);
	if (which == 0)
		format_callgraph_task(&sb, &ctx, (size_t)task);
	else if (which == 1)
		format_tree(&sb, &ctx);
	else if (which == 2)
		format_table(&sb, &ctx, false);
	else if (which == 4)
		format_threads(&sb, &ctx);
	else
		format_json(&sb, &ctx);
	free(sel);
	graph_deinit(&g);
	snapshot_deinit(&snap);
	return sb_steal(&sb);
}

START_TEST(test_format_callgraph)
{
	struct world w;
	build_world(&w, fake_version(_i));
	struct pyag_render_options o = PYAG_INIT_RENDER_OPTIONS;
	char *s = render_with(&w, &o, 2, 0);
	char expect[2048];
	snprintf(expect, sizeof(expect),
		 "* Task(name='worker-\xf0\x9f\x98\x80', id=0x%llx)\n"
		 "  + Call stack:\n"
		 "  |   File 'app.py', line 22, in async leaf()\n"
		 "  + Awaited by:\n"
		 "    * Future(id=0x%llx)\n"
		 "      + Awaited by:\n"
		 "        * Task(name='Task-7', id=0x%llx)\n"
		 "          + Call stack:\n"
		 "          |   File 'taskgroups.py', line 121, in async TaskGroup._aexit()\n"
		 "          |   File 'app.py', line 3, in async main()\n"
		 "    * Task(name='Task-7', id=0x%llx)\n"
		 "      + Call stack:\n"
		 "      |   File 'taskgroups.py', line 121, in async TaskGroup._aexit()\n"
		 "      |   File 'app.py', line 3, in async main()\n",
		 (unsigned long long)w.child2, (unsigned long long)w.fut,
		 (unsigned long long)w.parent, (unsigned long long)w.parent);
	ck_assert_str_eq(s, expect);
	free(s);
	/* limit 1 keeps the outermost frame; -1 the innermost; 0 none */
	o.has_limit = true;
	o.limit = 1;
	s = render_with(&w, &o, 0, 0);
	ck_assert_ptr_nonnull(strstr(s, "in async main()"));
	ck_assert_ptr_null(strstr(s, "_aexit"));
	free(s);
	o.limit = -1;
	s = render_with(&w, &o, 0, 0);
	ck_assert_ptr_null(strstr(s, "in async main()"));
	ck_assert_ptr_nonnull(strstr(s, "_aexit"));
	free(s);
	o.limit = 0;
	s = render_with(&w, &o, 1, 0);
	ck_assert_ptr_null(strstr(s, "Call stack"));
	ck_assert_ptr_nonnull(strstr(s, "Awaited by"));
	free(s);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_format_tree_table)
{
	struct world w;
	build_world(&w, fake_version(_i));
	struct pyag_render_options o = PYAG_INIT_RENDER_OPTIONS;
	char *s = render_with(&w, &o, -1, 1);
	/* pstree rules: the awaiter's stack (outermost first) leads to its
	 * children; leaves get their own stacks; coroutine labels have two
	 * spaces after the branch */
	char expect[2048];
	snprintf(expect, sizeof(expect),
		"└── (T) Task-7\n"
		"    └──  main app.py:3\n"
		"        └──  TaskGroup._aexit taskgroups.py:121\n"
		"            ├── (T) worker-\xce\xb1\n"
		"            │   └──  leaf app.py:21\n"
		"            │       └──  sleep tasks.py:702\n"
		"            ├── (T) worker-\xf0\x9f\x98\x80\n"
		"            │   └──  leaf app.py:22\n"
		"            └── (F) Future(id=0x%llx)\n"
		"                └── (T) worker-\xf0\x9f\x98\x80\n"
		"                    └──  leaf app.py:22\n"
		"└── (T) runner\n"
		"    └──  main app.py:5\n"
		"        └──  block app.py:31\n", (unsigned long long)w.fut);
	ck_assert_str_eq(s, expect);
	free(s);
	s = render_with(&w, &o, -1, 2);
	char row[512];
	/* worker-α is 8 code points: padded to 20 columns by code points */
	snprintf(row, sizeof(row),
		 "4242       0x%-18llx worker-\xce\xb1             sleep -> leaf%37s "
		 "TaskGroup._aexit -> main%26s Task-7          0x%-13llx\n",
		 (unsigned long long)w.child1, "", "", (unsigned long long)w.parent);
	ck_assert_msg(strstr(s, row), "row not found in:\n%s\nexpected:\n%s", s, row);
	free(s);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_walk_hostile_list)
{
	bool found;
	struct world w;
	build_world(&w, fake_version(_i));
	/* make child2's node point back to child1: a loop that never returns
	 * to the head */
	uint64_t node = w.py.l.task_node;
	fake_w64(w.py.m, w.child2 + node, w.child1 + node);
	struct snapshot snap;
	walk_world(&w, &snap);
	ck_assert_uint_ge(snap.nwarnings, 1);
	ck_assert_ptr_nonnull(strstr(snap.warnings[0].message, "loops back"));
	snapshot_deinit(&snap);
	/* a loop through list nodes whose tasks cannot be read (nothing is
	 * recorded for them): found all the same, no hang */
	uint64_t bare1 = fake_alloc(w.py.m, 16), bare2 = fake_alloc(w.py.m, 16);
	fake_w64(w.py.m, bare1, bare2);
	fake_w64(w.py.m, bare2, bare1);
	fake_w64(w.py.m, w.child2 + node, bare1);
	walk_world(&w, &snap);
	found = false;
	for (size_t i = 0; i < snap.nwarnings; i++)
		found |= strstr(snap.warnings[i].message, "loops back") != NULL;
	ck_assert(found);
	snapshot_deinit(&snap);
	/* a NULL link */
	fake_w64(w.py.m, w.child2 + node, 0);
	walk_world(&w, &snap);
	ck_assert_ptr_nonnull(strstr(snap.warnings[0].message, "NULL link"));
	snapshot_deinit(&snap);
	/* a coroutine awaiting itself ends the chain, no hang */
	fake_w64(w.py.m, w.child1 + w.py.l.task_coro, w.child1);  /* coro = task: not a coroutine */
	walk_world(&w, &snap);
	ck_assert_uint_eq(snap.tasks[1].nframes, 0);
	snapshot_deinit(&snap);
	/* an awaited-by set with an absurd mask */
	uint64_t set;
	found = false;
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, w.py.m, &r));
	ck_assert_ptr_null(reader_read_u64(r, w.child2 + w.py.l.task_awaited_by, &set));
	pyag_reader_destroy(r);
	fake_w64(w.py.m, set + w.py.l.set_mask, (1ull << 40) - 1);
	walk_world(&w, &snap);
	for (size_t i = 0; i < snap.nwarnings; i++)
		found |= strstr(snap.warnings[i].message, "corrupt") != NULL;
	ck_assert(found);
	snapshot_deinit(&snap);
	/* an awaiter that cannot be read is a warning and no edge: every
	 * edge of the graph ends at a record */
	fake_py_deinit(&w.py);
	build_world(&w, fake_version(_i));
	const uint64_t slots[4] = { w.parent, 0xdead0000ull, 0, 0 };
	fake_awaited_by_set(&w.py, w.child1, slots, 4);
	walk_world(&w, &snap);
	const struct task_rec *c1 = &snap.tasks[snapshot_find(&snap, w.child1)];
	ck_assert_uint_eq(c1->nawaited_by, 1);
	ck_assert_uint_eq(c1->awaited_by[0], w.parent);
	ck_assert_int_eq(snapshot_awaiter(&snap, c1, 0), snapshot_find(&snap, w.parent));
	found = false;
	for (size_t i = 0; i < snap.nwarnings; i++)
		found |= strstr(snap.warnings[i].message, "task 0xdead0000") != NULL &&
			 snap.warnings[i].code == PYAG_WARNING_UNREADABLE;
	ck_assert(found);
	snapshot_deinit(&snap);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_graph_cycles)
{
	struct world w;
	build_world(&w, fake_version(_i));
	/* parent is awaited by child1: parent -> child1 -> parent */
	fake_awaited_by_one(&w.py, w.parent, w.child1);
	struct snapshot snap;
	walk_world(&w, &snap);
	struct graph g;
	ck_assert_ptr_null(graph_build(&snap, &g));
	ck_assert_uint_eq(g.ncycles, 1);
	ck_assert_uint_eq(g.cycles[0].len, 3);
	ck_assert_uint_eq(g.cycles[0].v[0], g.cycles[0].v[2]);
	graph_deinit(&g);
	snapshot_deinit(&snap);
	/* the callgraph of a task on a cycle terminates and marks it */
	struct pyag_render_options o = PYAG_INIT_RENDER_OPTIONS;
	char *s = render_with(&w, &o, 1, 0);
	ck_assert_ptr_nonnull(strstr(s, "await cycle"));
	free(s);
	/* the tree draws it and lists it */
	s = render_with(&w, &o, -1, 1);
	ck_assert_ptr_nonnull(strstr(s, "<- await cycle"));
	ck_assert_ptr_nonnull(strstr(s, "cycle: "));
	free(s);
	fake_py_deinit(&w.py);
}
END_TEST


/* ---- containers (util.c) ----------------------------------------------------- */

START_TEST(test_u64map)
{
	struct u64map m = { 0 };
	uint32_t v;
	ck_assert(!u64map_get(&m, 0, &v));  /* empty: nothing, no crash */
	/* key 0 and keys that collide in the low bits, across many growths */
	for (uint64_t k = 0; k < 100000; k++)
		ck_assert(u64map_put(&m, k << 12, (uint32_t)k));
	ck_assert_uint_eq(m.count, 100000);
	for (uint64_t k = 0; k < 100000; k++) {
		ck_assert(u64map_get(&m, k << 12, &v));
		ck_assert_uint_eq(v, (uint32_t)k);
	}
	ck_assert(!u64map_get(&m, 1, &v));
	/* putting a key again replaces its value */
	ck_assert(u64map_put(&m, 4096, 7));
	ck_assert(u64map_get(&m, 4096, &v));
	ck_assert_uint_eq(v, 7);
	ck_assert_uint_eq(m.count, 100000);
	u64map_deinit(&m);
	ck_assert_uint_eq(m.cap, 0);
}
END_TEST

START_TEST(test_intern_arena)
{
	struct intern in = { 0 };
	const char *a = intern_get(&in, "worker-1xyz", 8);
	const char *b = intern_get(&in, "worker-1", 8);
	ck_assert_str_eq(a, "worker-1");
	ck_assert_ptr_eq(a, b);  /* one copy per string */
	ck_assert_ptr_ne(intern_get(&in, "worker-2", 8), a);
	const char *empty = intern_get(&in, "", 0);
	ck_assert_str_eq(empty, "");
	char name[32];
	for (int i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		ck_assert_str_eq(intern_get(&in, name, strlen(name)), name);
	}
	ck_assert_ptr_eq(intern_get(&in, "worker-1", 8), a);  /* survives growth */
	intern_deinit(&in);
	struct arena ar = { 0 };
	for (size_t n = 1; n < 200000; n *= 3) {
		unsigned char *p = arena_alloc(&ar, n);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 8, 0);
		memset(p, 0xab, n);  /* the whole size is usable (ASan checks) */
	}
	arena_deinit(&ar);
	ck_assert_ptr_null(ar.head);
}
END_TEST

/* ---- CPython's set order (setorder.c) ---------------------------------------- */

/* splitmix64: the same addresses here and in set_order_cases.py */
static uint64_t splitmix(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* n distinct addresses: dense ones, 64-byte apart in a 4 MiB range (their
 * hashes collide in small tables), or any 16-byte aligned ones */
static uint64_t *set_keys(uint64_t seed, size_t n, bool dense)
{
	uint64_t *keys = malloc(n * sizeof(*keys)), st = seed;
	struct u64map seen = { 0 };
	uint32_t dummy;
	ck_assert_ptr_nonnull(keys);
	for (size_t k = 0; k < n;) {
		uint64_t r = splitmix(&st);
		uint64_t a = dense ? 0x7f3a00000000ull + (r & 0xffff) * 0x40 : r & ~0xfull;
		if (!a || u64map_get(&seen, a, &dummy))
			continue;
		ck_assert(u64map_put(&seen, a, (uint32_t)k));
		keys[k++] = a;
	}
	u64map_deinit(&seen);
	return keys;
}

START_TEST(test_set_order)
{
	/* FNV-1a of the iteration order (indices into the keys in the order
	 * added) of frozenset(s), s a set the keys were added to in turn,
	 * each key an object hashing as an address: printed by
	 * tests/unit/set_order_cases.py, the same on pyenv's 3.11.7, 3.12.1,
	 * 3.13.0 and Debian's 3.13.18 and 3.14.10 */
	static const struct { int dense; size_t n; uint64_t fnv; } cases[] = {
		{ 1, 2, 0x082f2207b4e88cc4ull },
		{ 1, 3, 0xd949aa186c0c4928ull },
		{ 1, 4, 0x332c697f8f18f7b7ull },
		{ 1, 5, 0xa2c66d0c028c9a3dull },
		{ 1, 6, 0xfc60d0f9651f2148ull },
		{ 1, 7, 0x03edfb410158e7eeull },
		{ 1, 8, 0x5c5edfd0b8d32643ull },
		{ 1, 9, 0x5c7ceecbe4037681ull },
		{ 1, 12, 0x8545fd96680b69e9ull },
		{ 1, 17, 0xea7ba7a881469f77ull },
		{ 1, 19, 0x8abd2983d7061a5eull },
		{ 1, 20, 0x9a7aa7dccc9f99e1ull },
		{ 1, 40, 0x55c5ecfb70bfb4cbull },
		{ 1, 300, 0xfe6be96e127423a1ull },
		{ 1, 5000, 0x51ec557c82b1fcd9ull },
		{ 0, 2, 0x08328707b4eb6e3aull },
		{ 0, 3, 0xea9ca21875dc49e4ull },
		{ 0, 4, 0x8471569045519385ull },
		{ 0, 5, 0xba2cedf2fb0365dfull },
		{ 0, 6, 0x955a2c37175d7a44ull },
		{ 0, 7, 0x7b433c350deb5e68ull },
		{ 0, 8, 0x25cd02acd62466a1ull },
		{ 0, 9, 0xf50a8c846022c7ebull },
		{ 0, 12, 0xa4c6f93437aef787ull },
		{ 0, 17, 0xf290d8ce3cbb2203ull },
		{ 0, 19, 0x59bd387175f5196aull },
		{ 0, 20, 0x4721bdcead784293ull },
		{ 0, 40, 0x2f0c61c0bf81ff61ull },
		{ 0, 300, 0xb968ec608f5d72b3ull },
		{ 0, 5000, 0xdfe0f1e690c25873ull },
		{ 0, 60000, 0xfffd5dd19cf16d15ull },
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		size_t n = cases[c].n;
		uint64_t *keys = set_keys(n * 7 + (uint64_t)cases[c].dense, n, cases[c].dense);
		uint64_t *order = malloc(n * sizeof(*order));
		struct u64map index = { 0 };
		ck_assert_ptr_nonnull(order);
		for (size_t k = 0; k < n; k++)
			ck_assert(u64map_put(&index, keys[k], (uint32_t)k));
		memcpy(order, keys, n * sizeof(*order));
		size_t m = n;
		ck_assert(pyset_iteration_order(order, &m));
		ck_assert_uint_eq(m, n);
		uint64_t h = 0xcbf29ce484222325ull;
		for (size_t k = 0; k < m; k++) {
			uint32_t i;
			ck_assert(u64map_get(&index, order[k], &i));
			h = (h ^ i) * 0x100000001b3ull;
		}
		ck_assert_msg(h == cases[c].fnv, "dense %d, %zu keys: order differs",
			      cases[c].dense, n);
		u64map_deinit(&index);
		free(order);
		free(keys);
	}
	/* three tasks whose hashes share a slot of the 8-slot table: the
	 * order they were added decides the order (awaiter_order.py) */
	uint64_t a = 0x7f0000000380, b = a + 0x400, c3 = a + 0x800;
	ck_assert_uint_eq(pyset_pointer_hash(a) & 7, pyset_pointer_hash(b) & 7);
	uint64_t abc[] = { a, b, c3 }, bac[] = { b, a, c3 };
	size_t n = 3;
	ck_assert(pyset_iteration_order(abc, &n));
	ck_assert(pyset_iteration_order(bac, &n));
	ck_assert(abc[0] == a && abc[1] == b && abc[2] == c3);
	ck_assert(bac[0] == b && bac[1] == a && bac[2] == c3);
	/* a key added twice and 0 (no key) take no slot */
	uint64_t dup[] = { b, a, b, 0, c3 };
	n = 5;
	ck_assert(pyset_iteration_order(dup, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert(dup[0] == b && dup[1] == a && dup[2] == c3);
	/* the hash: rotated right by 4, -1 reserved */
	ck_assert_uint_eq(pyset_pointer_hash(0x7f00000012345670ull), 0x07f0000001234567ull);
	ck_assert_uint_eq(pyset_pointer_hash(UINT64_MAX), UINT64_MAX - 1);
	n = (size_t)PYSET_MAX_KEYS + 1;
	ck_assert(!pyset_iteration_order(abc, &n));  /* refused, nothing read */
	ck_assert_uint_eq(n, (size_t)PYSET_MAX_KEYS + 1);
}
END_TEST

/* One suite per module, each with its own test case. */
static Suite *module_suite(const char *name, void (*add)(TCase *tc))
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	add(tc);
	suite_add_tcase(s, tc);
	return s;
}

static void errors_tests(TCase *tc)
{
	tcase_add_test(tc, test_error_context);
}

static void reader_tests(TCase *tc)
{
	tcase_add_test(tc, test_reader_cache);
	tcase_add_test(tc, test_reader_cache_bounded);
	tcase_add_test(tc, test_reader_cache_reuses_memory);
	tcase_add_test(tc, test_core_overlapping_segments);
	tcase_add_test(tc, test_core_exe);
	tcase_add_test(tc, test_read_cstr);
}

static void text_tests(TCase *tc)
{
	tcase_add_test(tc, test_decode_line);
	tcase_add_test(tc, test_py_repr);
	tcase_add_test(tc, test_json_string);
	tcase_add_test(tc, test_glob);
}

static void containers_tests(TCase *tc)
{
	tcase_add_test(tc, test_u64map);
	tcase_add_test(tc, test_intern_arena);
	tcase_add_test(tc, test_set_order);
}

/* the tests on the synthetic interpreter run for every version */
static void layout_tests(TCase *tc)
{
	tcase_add_test(tc, test_layout_table);
	tcase_add_loop_test(tc, test_layout_good, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_layout_rejects, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
}

static void walk_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_walk_records, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_walk_hostile_list, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_dict_reader, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_object_attr, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_deque_items, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_thread_records, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_deque_reader, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
}

static void format_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_format_callgraph, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_format_tree_table, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
	tcase_add_loop_test(tc, test_format_interpreters, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
}

static void graph_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_graph_cycles, WORLD_FIRST_COLUMN, LAYOUT_NVERSIONS);
}

int main(void)
{
	SRunner *sr = srunner_create(module_suite("errors", errors_tests));
	srunner_add_suite(sr, module_suite("reader", reader_tests));
	srunner_add_suite(sr, module_suite("text", text_tests));
	srunner_add_suite(sr, module_suite("containers", containers_tests));
	srunner_add_suite(sr, module_suite("layout", layout_tests));
	srunner_add_suite(sr, module_suite("walk", walk_tests));
	srunner_add_suite(sr, module_suite("format", format_tests));
	srunner_add_suite(sr, module_suite("graph", graph_tests));
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
