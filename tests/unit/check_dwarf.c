/*
 * Unit tests of the DWARF layout reader, the debug-file finder, the layout
 * cache and the layout comparison.
 *
 * The generic lookups are checked against the compiler itself: C sources
 * are written to a temporary directory and compiled with `cc -g` for DWARF
 * 2, 4 and 5 (constant and expression member locations, DW_AT_bit_offset
 * and DW_AT_data_bit_offset bit-fields, compressed sections), and a helper
 * program generated from the same query table prints what offsetof,
 * sizeof and the enumerators really are. Without a C compiler those tests
 * are left out (a TAP comment says so).
 *
 * When Debian's python3.14 / python3.15 and their debug files exist (here
 * or in the root filesystem at $PYAG_SYSROOT, default
 * /var/cache/py-async-graph/sid-root), the layout read from DWARF must
 * equal the one the interpreters publish in their own debug offsets, read
 * from the ELF files' .PyRuntime and .AsyncioDebug sections.
 */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifdef HAVE_LIBDWARF
#if defined(HAVE_LIBDWARF_LIBDWARF_H)
#include <libdwarf/libdwarf.h>
#else
#include <libdwarf.h>
#endif
#endif

#define DEFAULT_SYSROOT "/var/cache/py-async-graph/sid-root"

/* Check has no skip. A test that cannot run says why with this, and
 * returns: check_dwarf.test turns its TAP line into "ok N - ... # SKIP why". */
static void skip(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("#pyag-skip ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
	fflush(stdout);
}

/* ---- the synthetic program ----------------------------------------------- */

static const char types_h[] =
	"#include <stddef.h>\n"
	"typedef struct inner { int a; long b; } inner_t;\n"
	"struct llist { struct llist *next; struct llist *prev; };\n"
	"struct outer {\n"
	"	char c;\n"
	"	inner_t in;\n"
	"	struct {\n"
	"		int x;\n"
	"		struct { short pad; short deep; } nested;\n"
	"	} named;\n"
	"	union { int u1; double u2; };\n"
	"	struct { char an1; struct { long an2; }; };\n"
	"	unsigned int bf_a : 3;\n"
	"	unsigned int bf_b : 5;\n"
	"	unsigned int bf_c : 1;\n"
	"	struct {\n"
	"		unsigned int interned : 2;\n"
	"		unsigned int kind : 3;\n"
	"		unsigned int compact : 1;\n"
	"		unsigned int ascii : 1;\n"
	"	} state;\n"
	"	unsigned char straddle;\n"
	"	unsigned long long wide : 40;\n"
	"	const volatile struct llist node;\n"
	"	int arr[4];\n"
	"	_Atomic long atom;\n"
	"	const inner_t cin;\n"
	"	int tail;\n"
	"};\n"
	"typedef struct outer outer_t;\n"
	"typedef const outer_t couter_t;\n"
	"typedef struct { int p; char q[3]; short r; } anon_t;\n"
	"union un { int i; char c[9]; struct { char x; int y; } s; };\n"
	"enum color { RED = -3, GREEN = 0, BLUE = 200, BIG = 100000 };\n"
	"enum small { S_A = 1, S_B = 250 };\n"
	"typedef enum { T_X = 7, T_Y = -1 } anon_enum_t;\n";

static const char types_a_c[] =
	"#include \"types.h\"\n"
	"outer_t g_outer;\n"
	"couter_t *g_couter;\n"
	"anon_t g_anon;\n"
	"union un g_un;\n"
	"enum color g_color;\n"
	"enum small g_small;\n"
	"anon_enum_t g_anon_enum;\n"
	/* only declared here: defined in types_b.c */
	"typedef struct hidden hidden_t;\n"
	"hidden_t *g_hidden_ptr;\n";

static const char types_b_c[] =
	"struct hidden { int h1; long h2; };\n"
	"struct hidden g_hidden;\n";

enum query_kind { Q_SIZE, Q_OFFSET, Q_BITS, Q_ENUM };

struct query {
	enum query_kind kind;
	const char *type;       /* as layout_dwarf names it */
	const char *member;     /* member path or enumerator */
	const char *ctype;      /* as C names it */
	bool linked_only;       /* needs types_b.c (another unit) */
};

static const struct query queries[] = {
	{ Q_SIZE, "struct outer", NULL, "struct outer", false },
	{ Q_SIZE, "outer_t", NULL, "outer_t", false },
	{ Q_SIZE, "couter_t", NULL, "couter_t", false },
	{ Q_SIZE, "anon_t", NULL, "anon_t", false },
	{ Q_SIZE, "union un", NULL, "union un", false },
	{ Q_SIZE, "inner_t", NULL, "inner_t", false },
	{ Q_SIZE, "struct llist", NULL, "struct llist", false },
	{ Q_SIZE, "hidden_t", NULL, "struct hidden", true },
	{ Q_OFFSET, "struct outer", "c", "struct outer", false },
	{ Q_OFFSET, "struct outer", "in", "struct outer", false },
	{ Q_OFFSET, "outer_t", "in.b", "struct outer", false },
	{ Q_OFFSET, "struct outer", "named.x", "struct outer", false },
	{ Q_OFFSET, "struct outer", "named.nested.deep", "struct outer", false },
	{ Q_OFFSET, "struct outer", "u1", "struct outer", false },
	{ Q_OFFSET, "struct outer", "u2", "struct outer", false },
	{ Q_OFFSET, "struct outer", "an1", "struct outer", false },
	{ Q_OFFSET, "struct outer", "an2", "struct outer", false },
	{ Q_OFFSET, "struct outer", "state", "struct outer", false },
	{ Q_OFFSET, "struct outer", "straddle", "struct outer", false },
	{ Q_OFFSET, "struct outer", "node", "struct outer", false },
	{ Q_OFFSET, "struct outer", "node.prev", "struct outer", false },
	{ Q_OFFSET, "struct outer", "arr", "struct outer", false },
	{ Q_OFFSET, "struct outer", "atom", "struct outer", false },
	{ Q_OFFSET, "struct outer", "cin.b", "struct outer", false },
	{ Q_OFFSET, "struct outer", "tail", "struct outer", false },
	{ Q_OFFSET, "couter_t", "tail", "struct outer", false },
	{ Q_OFFSET, "anon_t", "r", "anon_t", false },
	{ Q_OFFSET, "union un", "s.y", "union un", false },
	{ Q_OFFSET, "hidden_t", "h2", "struct hidden", true },
	{ Q_BITS, "struct outer", "bf_a", "struct outer", false },
	{ Q_BITS, "struct outer", "bf_b", "struct outer", false },
	{ Q_BITS, "struct outer", "bf_c", "struct outer", false },
	{ Q_BITS, "struct outer", "state.interned", "struct outer", false },
	{ Q_BITS, "struct outer", "state.kind", "struct outer", false },
	{ Q_BITS, "struct outer", "state.compact", "struct outer", false },
	{ Q_BITS, "struct outer", "state.ascii", "struct outer", false },
	{ Q_BITS, "struct outer", "wide", "struct outer", false },
	{ Q_ENUM, "enum color", "RED", NULL, false },
	{ Q_ENUM, "enum color", "GREEN", NULL, false },
	{ Q_ENUM, "enum color", "BLUE", NULL, false },
	{ Q_ENUM, "enum color", "BIG", NULL, false },
	{ Q_ENUM, "enum small", "S_B", NULL, false },
	{ Q_ENUM, "anon_enum_t", "T_X", NULL, false },
	{ Q_ENUM, "anon_enum_t", "T_Y", NULL, false },
};

#define NQUERIES ARRAY_SIZE(queries)

/* One way of compiling: DWARF version, compression. */
struct variant {
	const char *flags;
	bool zstd;              /* needs a libdwarf that reads zstd */
	/* Compressed sections are checked in linked files only: libdwarf
	 * 0.11 misreads a compressed section that also has relocations
	 * (clang's .debug_str_offsets in a .o), which debug files never do. */
	bool linked_only;
	/* filled by the fixture */
	bool available;
	char object[256];       /* types_a.c alone, cc -c */
	char program[256];      /* types_b.c types_a.c helper.c, linked */
	long long expected[NQUERIES][2];
};

static struct variant variants[] = {
	{ .flags = "-gdwarf-2" },
	{ .flags = "-gdwarf-4" },
	{ .flags = "-gdwarf-5" },
	{ .flags = "-gdwarf-5 -gz=zlib", .linked_only = true },
	{ .flags = "-gdwarf-5 -gz=zstd", .zstd = true, .linked_only = true },
};

static char tmpdir[256];
static bool have_cc, have_libdwarf;

static const char *cc(void)
{
	const char *c = getenv("CC");
	return c && *c ? c : "cc";
}

static bool write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The helper prints one line per query: value (and bit size). */
static void write_helper(const char *dir)
{
	struct strbuf sb;
	sb_init(&sb);
	sb_puts(&sb,
		"#include <stdio.h>\n#include <string.h>\n#include \"types.h\"\n"
		"struct hidden { int h1; long h2; };\n"
		"static long long bitpos(const unsigned char *p, size_t n)\n"
		"{ for (size_t i = 0; i < n * 8; i++) if (p[i / 8] >> (i % 8) & 1) return (long long)i; return -1; }\n"
		"static long long bitcount(const unsigned char *p, size_t n)\n"
		"{ long long c = 0; for (size_t i = 0; i < n * 8; i++) c += p[i / 8] >> (i % 8) & 1; return c; }\n"
		"#define BITS(T, m) do { T v; memset(&v, 0, sizeof(v)); v.m = 1; \\\n"
		"	long long pos = bitpos((unsigned char *)&v, sizeof(v)); \\\n"
		"	memset(&v, 0, sizeof(v)); v.m = ~0ull; \\\n"
		"	printf(\"%lld %lld\\n\", pos, bitcount((unsigned char *)&v, sizeof(v))); } while (0)\n"
		"int main(void)\n{\n");
	for (size_t i = 0; i < NQUERIES; i++) {
		const struct query *q = &queries[i];
		switch (q->kind) {
		case Q_SIZE:
			sb_printf(&sb, "\tprintf(\"%%lld 0\\n\", (long long)sizeof(%s));\n",
				  q->ctype);
			break;
		case Q_OFFSET:
			sb_printf(&sb, "\tprintf(\"%%lld 0\\n\", (long long)offsetof(%s, %s));\n",
				  q->ctype, q->member);
			break;
		case Q_BITS:
			sb_printf(&sb, "\tBITS(%s, %s);\n", q->ctype, q->member);
			break;
		case Q_ENUM:
			sb_printf(&sb, "\tprintf(\"%%lld 0\\n\", (long long)%s);\n",
				  q->member);
			break;
		}
	}
	sb_puts(&sb, "\treturn 0;\n}\n");
	char *text = sb_steal(&sb);
	ck_assert_ptr_nonnull(text);
	ck_assert(write_file(dir, "helper.c", text));
	free(text);
}

static bool libdwarf_reads_zstd(void)
{
#ifdef DW_LIBDWARF_VERSION_MAJOR
	return true;
#else
	return false;   /* 20210528 knows zlib only */
#endif
}

static void build_variant(struct variant *v, size_t index)
{
	char cmd[2048];
	v->available = false;
	if (v->zstd && !libdwarf_reads_zstd())
		return;
	snprintf(v->object, sizeof(v->object), "%s/types_a_%zu.o", tmpdir, index);
	snprintf(v->program, sizeof(v->program), "%s/helper_%zu", tmpdir, index);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && %s -g %s -c types_a.c -o '%s' >/dev/null 2>&1 && "
		 "%s -g %s types_b.c types_a.c helper.c -o '%s' >/dev/null 2>&1",
		 tmpdir, cc(), v->flags, v->object, cc(), v->flags, v->program);
	if (run(cmd) != 0)
		return;   /* this compiler lacks the option (e.g. -gz=zstd) */
	FILE *p = popen(v->program, "r");
	if (!p)
		return;
	size_t n = 0;
	while (n < NQUERIES &&
	       fscanf(p, "%lld %lld", &v->expected[n][0], &v->expected[n][1]) == 2)
		n++;
	v->available = pclose(p) == 0 && n == NQUERIES;
}

static void synthetic_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyag-dwarf-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert(write_file(tmpdir, "types.h", types_h));
	ck_assert(write_file(tmpdir, "types_a.c", types_a_c));
	ck_assert(write_file(tmpdir, "types_b.c", types_b_c));
	write_helper(tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++)
		build_variant(&variants[i], i);
}

static void synthetic_teardown(void)
{
	char cmd[512];
	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(run(cmd), 0);
}

static void check_query(const char *file, const struct query *q,
			const long long *want, const char *what)
{
	struct pyag_error *err = NULL;
	long long got = -1, got_bits = 0;
	uint64_t u = 0, ub = 0;
	int64_t s = 0;
	switch (q->kind) {
	case Q_SIZE:
		err = dwarf_struct_size(file, q->type, &u);
		got = (long long)u;
		break;
	case Q_OFFSET:
		err = dwarf_struct_member_offset(file, q->type, q->member, &u);
		got = (long long)u;
		break;
	case Q_BITS:
		err = dwarf_member_bit_offset(file, q->type, q->member, &u, &ub);
		got = (long long)u;
		got_bits = (long long)ub;
		break;
	case Q_ENUM:
		err = dwarf_enumerator_value(file, q->type, q->member, &s);
		got = s;
		break;
	}
	ck_assert_msg(!err, "%s: %s %s: %s", what, q->type,
		      q->member ? q->member : "", pyag_error_message(err));
	ck_assert_msg(got == want[0] && got_bits == want[1],
		      "%s: %s %s: DWARF says %lld/%lld, the compiler %lld/%lld",
		      what, q->type, q->member ? q->member : "(size)", got,
		      got_bits, want[0], want[1]);
}

START_TEST(test_synthetic)
{
	struct variant *v = &variants[_i];
	if (!v->available) {
		skip("%s: not available here (compiler or libdwarf)", v->flags);
		return;
	}
	char what[512];
	for (size_t i = 0; i < NQUERIES; i++) {
		const struct query *q = &queries[i];
		snprintf(what, sizeof(what), "%s (%s)", v->program, v->flags);
		check_query(v->program, q, v->expected[i], what);
		if (q->linked_only || v->linked_only)
			continue;
		snprintf(what, sizeof(what), "%s (%s)", v->object, v->flags);
		check_query(v->object, q, v->expected[i], what);
	}
}
END_TEST

static void expect_not_found(struct pyag_error *err)
{
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_FOUND);
	pyag_error_destroy(err);
}

START_TEST(test_synthetic_absent)
{
	const struct variant *v = &variants[2];
	if (!v->available) {
		skip("%s: not available here", v->flags);
		return;
	}
	uint64_t u, b;
	int64_t s;
	expect_not_found(dwarf_struct_member_offset(v->program, "struct outer", "nope", &u));
	expect_not_found(dwarf_struct_member_offset(v->program, "struct outer", "arr.x", &u));
	expect_not_found(dwarf_struct_member_offset(v->program, "struct outer", "in.", &u));
	expect_not_found(dwarf_struct_member_offset(v->program, "struct outer", "", &u));
	expect_not_found(dwarf_struct_member_offset(v->program, "struct nope", "c", &u));
	/* a typedef name is not a struct tag and the other way round */
	expect_not_found(dwarf_struct_size(v->program, "struct outer_t", &u));
	expect_not_found(dwarf_struct_size(v->program, "outer", &u));
	expect_not_found(dwarf_member_bit_offset(v->program, "struct outer", "bf_a.x", &u, &b));
	expect_not_found(dwarf_enumerator_value(v->program, "enum color", "PURPLE", &s));
	expect_not_found(dwarf_enumerator_value(v->program, "struct outer", "RED", &s));
	/* the hidden struct is only declared in types_a.c */
	expect_not_found(dwarf_struct_size(v->object, "hidden_t", &u));
}
END_TEST

/* No Python types at all: every field is reported missing, no error. */
START_TEST(test_layout_missing)
{
	const struct variant *v = &variants[2];
	if (!v->available) {
		skip("%s: not available here", v->flags);
		return;
	}
	const char *files[] = { v->program, v->object };
	struct pyag_layout l = { .version = 0x030e0af0 };
	char *missing = NULL;
	struct pyag_error *err = layout_from_dwarf(files, 2, &l, &missing);
	ck_assert_msg(!err, "%s", pyag_error_message(err));
	ck_assert_ptr_nonnull(missing);
	ck_assert_ptr_nonnull(strstr(missing, "PyThreadState"));
	ck_assert_ptr_nonnull(strstr(missing, "TaskObj"));
	ck_assert_ptr_nonnull(strstr(missing, "enum _framestate"));
	ck_assert_uint_eq(l.version, 0x030e0af0);
	ck_assert_str_eq(l.source, "dwarf");
	ck_assert(!l.have_asyncio);
	free(missing);
}
END_TEST

START_TEST(test_bad_files)
{
	char dir[] = "/tmp/pyag-dwarf-bad-XXXXXX", path[512], cmd[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct pyag_layout l = { 0 };
	char *missing = NULL;
	uint64_t u;
	/* not ELF */
	ck_assert(write_file(dir, "text", "hello, world\n"));
	snprintf(path, sizeof(path), "%s/text", dir);
	const char *files[] = { path };
	struct pyag_error *err = layout_from_dwarf(files, 1, &l, &missing);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_null(missing);
	pyag_error_destroy(err);
	err = dwarf_struct_size(path, "struct outer", &u);
	ck_assert_ptr_nonnull(err);
	pyag_error_destroy(err);
	/* missing file */
	snprintf(path, sizeof(path), "%s/absent", dir);
	err = layout_from_dwarf(files, 1, &l, &missing);
	ck_assert_ptr_nonnull(err);
	pyag_error_destroy(err);
	err = layout_from_dwarf(files, 0, &l, &missing);
	ck_assert_ptr_nonnull(err);
	pyag_error_destroy(err);
	/* truncated copies of a real object file: an error or a clean miss */
	const struct variant *v = &variants[2];
	if (v->available) {
		static const unsigned sizes[] = { 64, 1000, 3000, 6000 };
		for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
			snprintf(path, sizeof(path), "%s/cut%u.o", dir, sizes[i]);
			snprintf(cmd, sizeof(cmd), "head -c %u '%s' > '%s'",
				 sizes[i], v->object, path);
			ck_assert_int_eq(run(cmd), 0);
			err = dwarf_struct_size(path, "struct outer", &u);
			pyag_error_destroy(err);
		}
	}
	/* a DIE whose sibling link points back (found by the DWARF fuzz
	 * target): an error that says so, not a walk around the loop
	 * (libdwarf 0.11 finds it itself, 20210528 leaves it to us) */
	const char *src = getenv("top_srcdir");
	snprintf(path, sizeof(path), "%s/fuzz/regressions/dwarf/timeout-sibling-loop",
		 src ? src : ".");
	if (access(path, R_OK) == 0) {
		err = dwarf_struct_size(path, "struct outer", &u);
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strcasestr(pyag_error_message(err), "sibling"),
			      "%s", pyag_error_message(err));
		pyag_error_destroy(err);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(run(cmd), 0);
}
END_TEST

/* ---- debug files ------------------------------------------------------------ */

static bool have_objcopy(void)
{
	return run("objcopy --version >/dev/null 2>&1") == 0;
}

START_TEST(test_debuginfo_find)
{
	if (!have_objcopy()) {
		skip("objcopy not found");
		return;
	}
	char dir[] = "/tmp/pyag-debuginfo-XXXXXX", cmd[4096], path[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert(write_file(dir, "p.c", "int main(void) { return 0; }\n"));
	/* sysroot/usr/bin/p, stripped, with a build-id and a debuglink */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && mkdir -p root/usr/bin root/usr/lib/debug && "
		 "%s -g -Wl,--build-id p.c -o full >/dev/null 2>&1 && "
		 "objcopy --only-keep-debug full p.debug && "
		 "objcopy --strip-debug --add-gnu-debuglink=p.debug full root/usr/bin/p",
		 dir, cc());
	ck_assert_int_eq(run(cmd), 0);
	char full[512], bin[512];
	snprintf(full, sizeof(full), "%s/full", dir);
	snprintf(bin, sizeof(bin), "%s/root/usr/bin/p", dir);
	char root[512];
	snprintf(root, sizeof(root), "%s/root", dir);

	/* a file with its own DWARF is its own debug file */
	char *found = NULL;
	ck_assert_ptr_null(debuginfo_find(full, NULL, NULL, 0, &found));
	ck_assert_str_eq(found, full);
	free(found);

	/* ... unless its DWARF was zeroed (a sysroot that keeps only the
	 * bytes a capture read): not handed to libdwarf */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && objcopy --dump-section .debug_info=di.bin full && "
		 "head -c $(stat -c %%s di.bin) /dev/zero > z.bin && "
		 "objcopy --update-section .debug_info=z.bin full zeroed", dir);
	ck_assert_int_eq(run(cmd), 0);
	char zeroed[512];
	snprintf(zeroed, sizeof(zeroed), "%s/zeroed", dir);
	ck_assert_ptr_null(debuginfo_find(zeroed, NULL, NULL, 0, &found));
	ck_assert_ptr_null(found);

	/* nothing anywhere: no error, no file */
	const char *dirs[] = { "/usr/lib/debug" };
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	ck_assert_ptr_null(found);

	uint8_t id[64];
	size_t idlen;
	ck_assert_ptr_null(debuginfo_build_id(bin, id, sizeof(id), &idlen));
	ck_assert_uint_ge(idlen, 8);
	uint8_t id2[64];
	size_t idlen2;
	ck_assert_ptr_null(debuginfo_build_id(full, id2, sizeof(id2), &idlen2));
	ck_assert_uint_eq(idlen, idlen2);
	ck_assert_mem_eq(id, id2, idlen);
	struct pyag_error *err = debuginfo_build_id(bin, id, 2, &idlen);  /* too small */
	ck_assert_ptr_nonnull(err);
	pyag_error_destroy(err);
	char hex[129];
	for (size_t i = 0; i < idlen2; i++)
		snprintf(hex + 2 * i, 3, "%02x", id2[i]);

	/* by debuglink, next to the file, then in .debug/ */
	snprintf(cmd, sizeof(cmd), "cp '%s/p.debug' '%s/root/usr/bin/p.debug'", dir, dir);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	snprintf(path, sizeof(path), "%s/root/usr/bin/p.debug", dir);
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(found, path);
	free(found);
	snprintf(cmd, sizeof(cmd), "cd '%s/root/usr/bin' && mkdir .debug && mv p.debug .debug/", dir);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	snprintf(path, sizeof(path), "%s/root/usr/bin/.debug/p.debug", dir);
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(found, path);
	free(found);
	/* debug dir + the file's directory as the target sees it */
	snprintf(cmd, sizeof(cmd), "cd '%s/root' && mkdir -p usr/lib/debug/usr/bin && "
		 "mv usr/bin/.debug/p.debug usr/lib/debug/usr/bin/", dir);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	snprintf(path, sizeof(path), "%s/root/usr/lib/debug/usr/bin/p.debug", dir);
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(found, path);
	free(found);

	/* by build-id under sysroot + debug dir (preferred over the link) */
	snprintf(cmd, sizeof(cmd), "cd '%s/root/usr/lib/debug' && mkdir -p .build-id/%.2s && "
		 "cp usr/bin/p.debug .build-id/%.2s/%s.debug", dir, hex, hex, hex + 2);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	snprintf(path, sizeof(path), "%s/root/usr/lib/debug/.build-id/%.2s/%s.debug",
		 dir, hex, hex + 2);
	ck_assert_ptr_nonnull(found);
	ck_assert_str_eq(found, path);
	free(found);

	/* a debug file of another build is refused */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && echo 'int x;' > q.c && "
		 "%s -g -Wl,--build-id q.c p.c -o other >/dev/null 2>&1 && "
		 "objcopy --only-keep-debug other other.debug && "
		 "cp other.debug root/usr/lib/debug/.build-id/%.2s/%s.debug && "
		 "rm root/usr/lib/debug/usr/bin/p.debug",
		 dir, cc(), hex, hex + 2);
	ck_assert_int_eq(run(cmd), 0);
	ck_assert_ptr_null(debuginfo_find(bin, root, dirs, 1, &found));
	ck_assert_ptr_null(found);

	/* not ELF: an error */
	ck_assert(write_file(dir, "text", "#!/bin/sh\n"));
	snprintf(path, sizeof(path), "%s/text", dir);
	err = debuginfo_find(path, NULL, NULL, 0, &found);
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_null(found);
	pyag_error_destroy(err);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(run(cmd), 0);
}
END_TEST

/* ---- layout comparison and cache ----------------------------------------- */

/* A layout that passes layout_validate. */
static void plausible_layout(struct pyag_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->version = 0x030e0af0;
	l->source = "dwarf";
	uint64_t *sizes[] = {
		&l->runtime_size, &l->interp_size, &l->tstate_size, &l->frame_size,
		&l->code_size, &l->type_size, &l->tuple_size, &l->set_size,
		&l->long_size, &l->bytes_size, &l->unicode_size, &l->task_size,
		&l->ainterp_size, &l->athread_size, &l->dict_size, &l->list_size,
	};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		*sizes[i] = 1000 + i;
	l->frame_size = 88;
	l->gen_size = 160;
	l->gen_iframe = 72;
	l->gen_frame_state = 67;
	l->unicode_ascii_size = 40;
	l->unicode_compact_size = 56;
	l->llist_prev = 8;
	l->task_node = 152;
	l->frame_owner = 74;
	l->athread_tasks_head = 880;
	l->have_asyncio = true;
	/* the constants: 3.14's column */
	int c14 = layout_version_index(l->version);
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++)
		if (layout_fields[i].cells[c14].kind == LAYOUT_CELL_CONST)
			layout_field_set(l, &layout_fields[i],
					 layout_cell_const(&layout_fields[i].cells[c14], false));
	l->frame_state_yield_from = -1;
	l->frame_state_yield_from_locked = -1;
	l->frame_state_finished = 1;
	l->owner_generator = 1;
	l->owner_first_incomplete = 3;
	l->unicode_kind_shift = 2;
	l->unicode_compact_bit = 5;
	l->unicode_ascii_bit = 6;
}

struct warnings {
	char text[4096];
	int count;
};

static void collect(void *arg, const char *msg)
{
	struct warnings *w = arg;
	size_t len = strlen(w->text);
	snprintf(w->text + len, sizeof(w->text) - len, "%s\n", msg);
	w->count++;
}

START_TEST(test_compare)
{
	struct pyag_layout a, b;
	struct warnings w = { "", 0 };
	plausible_layout(&a);
	plausible_layout(&b);
	layout_compare(&a, &b, collect, &w);
	ck_assert_int_eq(w.count, 0);
	b.task_node = 160;
	b.frame_state_yield_from = 2;
	b.frame_tlbc_index = 80;      /* 0 on one side: absent, not drift */
	b.task_fut_waiter = 120;      /* 3.14's constant: the same, no drift */
	b.version = 1;                /* not compared */
	layout_compare(&a, &b, collect, &w);
	ck_assert_int_eq(w.count, 2);
	ck_assert_str_eq(w.text,
			 "layout drift: task_node: debug offsets 152, DWARF 160\n"
			 "layout drift: frame_state_yield_from: debug offsets -1, DWARF 2\n");
	/* asyncio fields only when both sides have them */
	w.text[0] = '\0';
	w.count = 0;
	b.have_asyncio = false;
	b.frame_state_yield_from = -1;
	layout_compare(&a, &b, collect, &w);
	ck_assert_int_eq(w.count, 0);
}
END_TEST

static void cache_env(const char *dir)
{
	setenv("XDG_CACHE_HOME", dir, 1);
	unsetenv("PYAG_NO_CACHE");
}

START_TEST(test_cache)
{
	char dir[] = "/tmp/pyag-cache-XXXXXX", path[512], cmd[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cache_env(dir);
	struct pyag_layout l, got;
	struct warnings w = { "", 0 };
	plausible_layout(&l);
	ck_assert_ptr_null(layout_validate(&l));
	char *missing = NULL;
	ck_assert(!layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing));
	ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), "abc123", &l, NULL));
	memset(&got, 0xff, sizeof(got));
	ck_assert(layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing));
	ck_assert_ptr_null(missing);
	layout_compare(&l, &got, collect, &w);
	ck_assert_int_eq(w.count, 0);
	ck_assert_uint_eq(got.version, l.version);
	ck_assert(got.have_asyncio);
	ck_assert_str_eq(got.source, "dwarf");
	ck_assert_int_eq(got.frame_state_yield_from, -1);
	/* no other file left behind (the temporary was renamed) */
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s/py-async-graph' | wc -l) = 1", dir);
	ck_assert_int_eq(run(cmd), 0);

	/* what the source could not find comes back with the layout */
	ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), "abc123", &l, "FutureObj.fut_is_task, TaskObj"));
	ck_assert(layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing));
	ck_assert_str_eq(missing, "FutureObj.fut_is_task, TaskObj");
	free(missing);

	/* keys are file names: nothing that could leave the directory */
	struct pyag_error *err = layout_cache_store(pyag_default_cache_dir(), "../evil", &l, NULL);
	ck_assert_ptr_nonnull(err);
	pyag_error_destroy(err);
	ck_assert(!layout_cache_load(pyag_default_cache_dir(), "../evil", &got, &missing));
	ck_assert(!layout_cache_load(pyag_default_cache_dir(), "", &got, &missing));

	/* corrupt entries are misses */
	snprintf(path, sizeof(path), "%s/py-async-graph/abc123.layout", dir);
	static const char *const edits[] = {
		"sed -i 's/^task_node .*/task_node x/' '%s'",
		"sed -i '/^task_node /d' '%s'",
		"sed -i 's/^end$//' '%s'",
		"sed -i '1s/cache 2 /cache 99 /' '%s'",
		"sed -i '1s/cache 2 [0-9]* /cache 2 7 /' '%s'",
		/* written with another field table */
		"sed -i '1s/ [0-9a-f]*$/ 0123456789abcdef/' '%s'",
		"sed -i '/^version /d' '%s'",
		"sed -i 's/^have_asyncio .*/have_asyncio 2/' '%s'",
		"echo 'missing x' >> '%s'",
		"sed -i 's/^source .*/source elsewhere/' '%s'",
		"echo 'task_node 152' >> '%s'",
		"sed -i 's/^task_node .*/task_node 99999999/' '%s'",  /* invalid layout */
		"truncate -s 100 '%s'",
		": > '%s'",
	};
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), "abc123", &l, NULL));
		ck_assert(layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing));
		char edit[1024];
		snprintf(edit, sizeof(edit), edits[i], path);
		ck_assert_int_eq(run(edit), 0);
		ck_assert_msg(!layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing),
			      "accepted after: %s", edit);
	}

	/* PYAG_NO_CACHE=1: no reads, no writes */
	ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), "abc123", &l, NULL));
	setenv("PYAG_NO_CACHE", "1", 1);
	ck_assert(!layout_cache_load(pyag_default_cache_dir(), "abc123", &got, &missing));
	ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), "def456", &l, NULL));
	snprintf(path, sizeof(path), "%s/py-async-graph/def456.layout", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	unsetenv("PYAG_NO_CACHE");

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(run(cmd), 0);
}
END_TEST

/* ---- the real interpreters --------------------------------------------------- */

struct python {
	unsigned minor;
	char root[256];         /* "" or the sysroot */
	char exe[512];
	char asyncio_so[512];   /* "" when _asyncio is in the executable */
	char *exe_debug;
	char *asyncio_debug;
};

static bool file_exists(const char *path)
{
	return access(path, R_OK) == 0;
}

static bool find_python(unsigned minor, struct python *py)
{
	const char *env = getenv("PYAG_SYSROOT");
	const char *roots[] = { "", env && *env ? env : DEFAULT_SYSROOT };
	memset(py, 0, sizeof(*py));
	py->minor = minor;
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(py->root, sizeof(py->root), "%s", roots[i]);
		snprintf(py->exe, sizeof(py->exe), "%s/usr/bin/python3.%u", roots[i], minor);
		if (!file_exists(py->exe))
			continue;
		snprintf(py->asyncio_so, sizeof(py->asyncio_so),
			 "%s/usr/lib/python3.%u/lib-dynload/_asyncio.cpython-3%u-x86_64-linux-gnu.so",
			 roots[i], minor, minor);
		if (!file_exists(py->asyncio_so))
			py->asyncio_so[0] = '\0';
		const char *root = roots[i][0] ? roots[i] : NULL;
		struct pyag_error *err = debuginfo_find(py->exe, root, NULL, 0,
							&py->exe_debug);
		if (err || !py->exe_debug) {
			pyag_error_destroy(err);
			continue;
		}
		if (py->asyncio_so[0]) {
			err = debuginfo_find(py->asyncio_so, root, NULL, 0,
					     &py->asyncio_debug);
			if (err || !py->asyncio_debug) {
				pyag_error_destroy(err);
				free(py->exe_debug);
				py->exe_debug = NULL;
				continue;
			}
		}
		return true;
	}
	skip("python3.%u with its debug files not found (here or in %s)", minor,
	     env && *env ? env : DEFAULT_SYSROOT);
	return false;
}

static void free_python(struct python *py)
{
	free(py->exe_debug);
	free(py->asyncio_debug);
}

/* Memory of the interpreter's ELF files as they are before it runs: the
 * debug offsets are static initializers of _PyRuntime / _AsyncioDebug. */
struct file_region {
	int fd;
	struct elf_section_info sec;
};

struct file_mem {
	struct file_region regions[2];
	size_t n;
};

static int file_mem_read(void *arg, uint64_t address, void *buf, size_t size)
{
	struct file_mem *m = arg;
	for (size_t i = 0; i < m->n; i++) {
		const struct elf_section_info *s = &m->regions[i].sec;
		if (address < s->addr || address - s->addr > s->size ||
		    size > s->size - (address - s->addr))
			continue;
		off_t off = (off_t)(s->offset + (address - s->addr));
		return pread(m->regions[i].fd, buf, size, off) == (ssize_t)size ? 0 : -1;
	}
	return -1;
}

static void add_region(struct file_mem *m, const char *path, bool runtime)
{
	struct elf_info info;
	struct pyag_error *err = elf_read_info(path, &info, NULL, NULL);
	ck_assert_msg(!err, "%s", pyag_error_message(err));
	struct file_region *r = &m->regions[m->n++];
	r->sec = runtime ? info.pyruntime : info.asynciodebug;
	ck_assert_msg(r->sec.found, "%s: no %s section", path,
		      runtime ? ".PyRuntime" : ".AsyncioDebug");
	r->fd = open(path, O_RDONLY);
	ck_assert_int_ge(r->fd, 0);
}

static void layout_from_files(const struct python *py, struct pyag_layout *l)
{
	struct file_mem m = { .n = 0 };
	add_region(&m, py->exe, true);
	add_region(&m, py->asyncio_so[0] ? py->asyncio_so : py->exe, false);
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(file_mem_read, &m, &r));
	r->cached = false;   /* page-sized reads would leave the sections */
	struct pyag_error *err = layout_from_debug_offsets(
		r, m.regions[0].sec.addr, m.regions[1].sec.addr, l);
	ck_assert_msg(!err, "debug offsets: %s", pyag_error_message(err));
	pyag_reader_destroy(r);
	for (size_t i = 0; i < m.n; i++)
		close(m.regions[i].fd);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void dwarf_layout(const struct python *py, uint64_t version,
			 struct pyag_layout *l, double *seconds)
{
	const char *files[2] = { py->exe_debug, py->asyncio_debug };
	size_t n = py->asyncio_debug ? 2 : 1;
	char *missing = NULL;
	memset(l, 0, sizeof(*l));
	l->version = version;
	double t0 = now();
	struct pyag_error *err = layout_from_dwarf(files, n, l, &missing);
	*seconds = now() - t0;
	ck_assert_msg(!err, "%s", pyag_error_message(err));
	ck_assert_msg(!missing, "missing from DWARF: %s", missing);
	ck_assert_uint_eq(l->version, version);
	ck_assert_str_eq(l->source, "dwarf");
	ck_assert(l->have_asyncio);
	ck_assert_ptr_null(layout_validate(l));
}

static void check_against_debug_offsets(unsigned minor, struct pyag_layout *dw)
{
	struct python py;
	if (!find_python(minor, &py))
		return;
	struct pyag_layout off;
	layout_from_files(&py, &off);
	double seconds;
	dwarf_layout(&py, off.version, dw, &seconds);
	printf("# python3.%u: layout from DWARF (%s%s%s) in %.3f s\n", minor,
	       py.exe_debug, py.asyncio_debug ? " + " : "",
	       py.asyncio_debug ? py.asyncio_debug : "", seconds);
	struct warnings w = { "", 0 };
	layout_compare(&off, dw, collect, &w);
	ck_assert_msg(w.count == 0, "%s", w.text);
	ck_assert_int_eq(off.free_threaded, dw->free_threaded);
	free_python(&py);
	dw->source = "checked";  /* tells the caller the files were there */
}

START_TEST(test_python314)
{
	struct pyag_layout l = { 0 };
	check_against_debug_offsets(14, &l);
	if (!l.source)
		return;
	ck_assert_uint_eq(l.task_node, 152);
	ck_assert_uint_eq(l.task_size, 168);
	ck_assert_uint_eq(l.task_fut_waiter, 120);   /* DWARF only */
	ck_assert_uint_eq(l.gen_iframe, 72);
	ck_assert_uint_eq(l.frame_owner, 74);
	ck_assert_uint_eq(l.frame_size, 88);
	ck_assert_uint_eq(l.athread_tasks_head, 880);
	ck_assert_uint_eq(l.athread_size, 936);
	ck_assert_uint_eq(l.code_code_adaptive, 208);
	ck_assert_uint_eq(l.unicode_state, 32);
	ck_assert_uint_eq(l.unicode_kind_shift, 2);
	ck_assert_uint_eq(l.unicode_compact_bit, 5);
	ck_assert_uint_eq(l.unicode_ascii_bit, 6);
	ck_assert_int_eq(l.frame_state_yield_from, -1);
	ck_assert_int_eq(l.frame_state_yield_from_locked, -1);
	ck_assert_int_eq(l.frame_state_finished, 1);   /* FRAME_COMPLETED */
	ck_assert_int_eq(l.owner_generator, 1);
	ck_assert_int_eq(l.owner_first_incomplete, 3);
}
END_TEST

START_TEST(test_python315)
{
	struct pyag_layout l = { 0 };
	check_against_debug_offsets(15, &l);
	if (!l.source)
		return;
	ck_assert_uint_eq(l.task_node, 152);
	ck_assert_uint_eq(l.task_size, 168);
	ck_assert_uint_eq(l.task_fut_waiter, 120);
	ck_assert_int_eq(l.frame_state_yield_from, 2);
	ck_assert_int_eq(l.frame_state_yield_from_locked, 3);
	ck_assert_int_eq(l.frame_state_finished, 5);   /* FRAME_CLEARED */
	ck_assert_int_eq(l.owner_generator, 1);
	ck_assert_int_eq(l.owner_first_incomplete, 3);
}
END_TEST

/* The cache saves the parse: store under the build-ids, load, compare. */
START_TEST(test_python_cache)
{
	struct python py;
	if (!find_python(14, &py))
		return;
	char dir[] = "/tmp/pyag-cache-XXXXXX", cmd[512], *key = NULL;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	cache_env(dir);
	const char *srcs[] = { py.exe, py.asyncio_so };
	ck_assert_ptr_null(debuginfo_cache_key(srcs, 2, &key));
	ck_assert_ptr_nonnull(key);
	/* two 20-byte build-ids */
	ck_assert_uint_eq(strlen(key), 81);
	ck_assert_int_eq(key[40], '+');
	struct pyag_layout dw, cached;
	double cold;
	dwarf_layout(&py, 0x030e0af0, &dw, &cold);
	char *missing = NULL;
	ck_assert(!layout_cache_load(pyag_default_cache_dir(), key, &cached, &missing));
	ck_assert_ptr_null(layout_cache_store(pyag_default_cache_dir(), key, &dw, NULL));
	double t0 = now();
	ck_assert(layout_cache_load(pyag_default_cache_dir(), key, &cached, &missing));
	ck_assert_ptr_null(missing);
	double warm = now() - t0;
	struct warnings w = { "", 0 };
	layout_compare(&dw, &cached, collect, &w);
	ck_assert_msg(w.count == 0, "%s", w.text);
	printf("# python3.14: layout from DWARF %.3f s, from the cache %.6f s\n",
	       cold, warm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(run(cmd), 0);
	free(key);
	free_python(&py);
}
END_TEST

static Suite *dwarf_suite(void)
{
	Suite *s = suite_create("dwarf");
	TCase *tc;
	if (have_cc && have_libdwarf) {
		tc = tcase_create("synthetic");
		tcase_set_timeout(tc, 120);
		tcase_add_unchecked_fixture(tc, synthetic_setup, synthetic_teardown);
		tcase_add_loop_test(tc, test_synthetic, 0, ARRAY_SIZE(variants));
		tcase_add_test(tc, test_synthetic_absent);
		tcase_add_test(tc, test_layout_missing);
		tcase_add_test(tc, test_bad_files);
		tcase_add_test(tc, test_debuginfo_find);
		suite_add_tcase(s, tc);
	}

	tc = tcase_create("layout");
	tcase_add_test(tc, test_compare);
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);

	if (have_libdwarf) {
		tc = tcase_create("python");
		tcase_set_timeout(tc, 120);
		tcase_add_test(tc, test_python314);
		tcase_add_test(tc, test_python315);
		tcase_add_test(tc, test_python_cache);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
#ifdef HAVE_LIBDWARF
	have_libdwarf = true;
#else
	printf("# built without libdwarf: only the cache and comparison are tested\n");
#endif
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "%s --version >/dev/null 2>&1", cc());
	have_cc = run(cmd) == 0;
	if (!have_cc)
		printf("# no C compiler (%s): the synthetic DWARF tests are skipped\n", cc());
	fflush(stdout);
	SRunner *sr = srunner_create(dwarf_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
