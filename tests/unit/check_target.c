/*
 * Unit tests of target location (target.c): _PyRuntime by symbol, by a
 * scan for its cookie when a symbol is wrong or missing, interpreters
 * without debug offsets (by Py_Version), ELF symbol tables, and the errors
 * when there is no interpreter or no asyncio; on the synthetic
 * interpreter of world.c, read through a callback like a debugger's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "world.h"

struct symbols {
	uint64_t runtime, asyncio;  /* 0: unknown */
	uint64_t version;           /* Py_Version, 0: unknown */
};

static int lookup(void *arg, const char *name, uint64_t *ret)
{
	const struct symbols *s = arg;
	uint64_t v = strcmp(name, "_PyRuntime") == 0 ? s->runtime
		     : strcmp(name, "_AsyncioDebug") == 0 ? s->asyncio
		     : strcmp(name, "Py_Version") == 0 ? s->version : 0;
	if (!v)
		return -1;
	*ret = v;
	return 0;
}

/* Locate in w with the given symbols and mappings. */
static struct pyag_error *locate(struct world *w, struct symbols *sym,
				 const struct pyag_mapping *maps, size_t nmaps,
				 struct target *t)
{
	static const struct pyag_mapping none;
	struct pyag_host host;
	memset(&host, 0, sizeof(host));
	host.kind = PYAG_TARGET_CORE;
	host.pid = 1;
	host.read = fake_read;
	host.read_arg = w->py.m;
	host.symbol = lookup;
	host.symbol_arg = sym;
	host.mappings = nmaps ? maps : &none;
	host.num_mappings = nmaps;
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, w->py.m, &r));
	struct pyag_error *err = target_locate(t, r, &host);
	pyag_reader_destroy(r);
	return err;
}

START_TEST(test_target_symbol)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct symbols sym = { w.py.runtime, w.py.asyncio_debug };
	struct target t;
	ck_assert_ptr_null(locate(&w, &sym, NULL, 0, &t));
	ck_assert_uint_eq(t.runtime_addr, w.py.runtime);
	ck_assert_uint_eq(t.asyncio_debug_addr, w.py.asyncio_debug);
	ck_assert_str_eq(t.runtime_how, "symbol");
	target_deinit(&t);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_target_scan)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	/* a symbol that does not point at the debug cookie is not believed:
	 * the writable memory the caller maps is scanned for it */
	struct symbols sym = { w.parent, w.py.asyncio_debug };
	struct pyag_mapping heap = { w.py.runtime & ~0xfffull,
				     (w.py.runtime & ~0xfffull) + 0x1000, 0, NULL };
	struct target t;
	ck_assert_ptr_null(locate(&w, &sym, &heap, 1, &t));
	ck_assert_uint_eq(t.runtime_addr, w.py.runtime);
	ck_assert_str_eq(t.runtime_how, "scan");
	target_deinit(&t);
	/* and none at all: the same */
	sym.runtime = 0;
	ck_assert_ptr_null(locate(&w, &sym, &heap, 1, &t));
	ck_assert_uint_eq(t.runtime_addr, w.py.runtime);
	target_deinit(&t);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_target_not_python)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct symbols sym = { 0, 0 };
	/* memory without the cookie */
	struct pyag_mapping maps[2] = {
		{ w.parent & ~0xfffull, (w.parent & ~0xfffull) + 0x1000, 0, NULL },
		{ 0x7e0000000000, 0x7e0000001000, 0, "/usr/lib/libc.so.6" },
	};
	struct target t;
	struct pyag_error *err = locate(&w, &sym, maps, 2, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_PYTHON);
	ck_assert_str_eq(pyag_error_message(err), "no Python interpreter found in the core");
	pyag_error_destroy(err);
	/* a python file is mapped, but no runtime is there */
	maps[1].path = "/usr/bin/python3.14";
	err = locate(&w, &sym, maps, 2, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_PYTHON);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "a Python file is mapped"));
	pyag_error_destroy(err);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_target_legacy)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	/* no cookie at _PyRuntime, but Py_Version says 3.12: an interpreter
	 * without debug offsets, believed without a scan */
	uint64_t version = fake_alloc(w.py.m, 8);
	fake_w64(w.py.m, version, 0x030c01f0);
	struct symbols sym = { w.parent, 0, version };
	struct target t;
	ck_assert_ptr_null(locate(&w, &sym, NULL, 0, &t));
	ck_assert(t.legacy);
	ck_assert_uint_eq(t.runtime_addr, w.parent);
	ck_assert_uint_eq(t.version_addr, version);
	target_deinit(&t);
	/* its layout is the table's, with asyncio (from sys.modules) */
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, w.py.m, &r));
	struct pyag_layout l;
	ck_assert_ptr_null(layout_from_table(r, version, &l));
	ck_assert_str_eq(l.source, "built-in");
	ck_assert(l.have_asyncio);
	ck_assert_uint_eq(l.version, 0x030c01f0);
	ck_assert_uint_eq(l.tstate_cframe, 56);
	ck_assert_uint_eq(l.athread_tasks_head, 0);
	/* a Py_Version the table has no column for: the version is named */
	fake_w64(w.py.m, version, 0x030a0df0);
	pyag_reader_invalidate(r);
	struct pyag_error *err = layout_from_table(r, version, &l);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_VERSION);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "Python 3.10.13 "));
	pyag_error_destroy(err);
	pyag_reader_destroy(r);
	/* a Py_Version of 3.13 or later without a cookie: no interpreter */
	fake_w64(w.py.m, version, 0x030d00f0);
	struct pyag_mapping heap = { w.parent & ~0xfffull, (w.parent & ~0xfffull) + 0x1000,
				     0, NULL };
	err = locate(&w, &sym, &heap, 1, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_PYTHON);
	pyag_error_destroy(err);
	/* nothing found, but python3.10 is mapped: the version is named */
	struct symbols none = { 0, 0, 0 };
	struct pyag_mapping maps[2] = {
		heap, { 0x7e0000000000, 0x7e0000001000, 0, "/usr/lib/libpython3.10.so.1.0" },
	};
	err = locate(&w, &none, maps, 2, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_VERSION);
	ck_assert_str_eq(pyag_error_message(err),
			 "Python 3.10 has no asyncio graph support in this version");
	pyag_error_destroy(err);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_elf_symbols)
{
	/* this test program's own symbols */
	struct elf_file f;
	ck_assert_ptr_null(elf_open("/proc/self/exe", &f, NULL, NULL));
	static const char *const names[] = { "main", "no_such_symbol_here", "elf_find_symbols" };
	uint64_t values[3];
	bool found[3];
	ck_assert_ptr_null(elf_find_symbols(&f, names, 3, values, found));
	ck_assert(found[0]);
	ck_assert(!found[1]);
	ck_assert_uint_ne(values[0], 0);
	elf_close(&f);
	/* a file that is only an ELF header: no symbols, no error */
	char path[] = "/tmp/pyag-elf-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_shoff = 1u << 30;  /* beyond the file */
	eh.e_shnum = 5;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	ck_assert_int_eq(write(fd, &eh, sizeof(eh)), (int)sizeof(eh));
	close(fd);
	ck_assert_ptr_null(elf_open(path, &f, NULL, NULL));
	ck_assert_ptr_null(elf_find_symbols(&f, names, 3, values, found));
	ck_assert(!found[0] && !found[1] && !found[2]);
	elf_close(&f);
	unlink(path);
}
END_TEST

static int symbol_runtime_only(void *arg, const char *name, uint64_t *ret)
{
	struct world *w = arg;
	if (strcmp(name, "_PyRuntime") != 0)
		return -1;
	*ret = w->py.runtime;
	return 0;
}

/* A capture whose interpreter has no asyncio offsets to be found. */
static struct pyag_error *capture_without_asyncio(struct world *w, const char *module)
{
	struct pyag_callbacks cb = PYAG_INIT_CALLBACKS;
	cb.kind = PYAG_TARGET_CORE;
	cb.pid = 1;
	cb.read = fake_read;
	cb.read_arg = w->py.m;
	struct pyag_session *s;
	ck_assert_ptr_null(pyag_session_create_callbacks(&cb, &s));
	ck_assert_ptr_null(pyag_session_set_symbol_fn(s, symbol_runtime_only, w));
	struct pyag_mapping m = { 0x7e0000000000, 0x7e0000001000, 0, module };
	ck_assert_ptr_null(pyag_session_set_mappings(s, &m, module ? 1 : 0));
	ck_assert_ptr_null(pyag_session_set_layout(s, PYAG_LAYOUT_OFFSETS));
	struct pyag_graph *g = NULL;
	struct pyag_error *err = pyag_capture(s, &g);
	ck_assert_ptr_null(g);
	pyag_session_destroy(s);
	return err;
}

START_TEST(test_target_no_asyncio)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct pyag_error *err = capture_without_asyncio(&w, NULL);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NO_ASYNCIO);
	ck_assert_str_eq(pyag_error_message(err),
			 "asyncio is not loaded in the target (no _asyncio module mapped)");
	pyag_error_destroy(err);
	/* the module is mapped, but its file is not here: say how to give it */
	err = capture_without_asyncio(&w, "/nowhere/_asyncio.cpython-314-x86_64-linux-gnu.so");
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NO_ASYNCIO);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "not readable here"));
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "--sysroot DIR"));
	pyag_error_destroy(err);
	fake_py_deinit(&w.py);
}
END_TEST

static Suite *target_suite(void)
{
	Suite *s = suite_create("target");
	TCase *tc = tcase_create("locate");
	tcase_add_test(tc, test_target_symbol);
	tcase_add_test(tc, test_target_scan);
	tcase_add_test(tc, test_target_not_python);
	tcase_add_test(tc, test_target_no_asyncio);
	tcase_add_test(tc, test_target_legacy);
	tcase_add_test(tc, test_elf_symbols);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(target_suite());
}
