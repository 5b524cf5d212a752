/* Seeds for the fuzz targets, from a real core (the committed cores of
 * scenario processes):
 *
 *   make-seeds CORE SYSROOT OUTDIR NAME
 *
 * writes OUTDIR/image/NAME (the pages the capture reads, as a memory image)
 * and OUTDIR/layout/NAME (the bytes at _PyRuntime and _AsyncioDebug). */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "image.h"
#include "internal.h"

struct recorded {
	uint64_t address;
	uint32_t size;
	uint8_t *bytes;
};

struct recorder {
	struct pyag_reader *core;
	uint64_t runtime, asyncio;
	struct recorded *reads;
	size_t n, cap;
};

static int record_read(void *arg, uint64_t address, void *buf, size_t size)
{
	struct recorder *rec = arg;
	struct pyag_error *err = pyag_reader_read(rec->core, address, buf, size);
	if (err) {
		pyag_error_destroy(err);
		return -1;
	}
	if (rec->n == rec->cap) {
		rec->cap = rec->cap ? rec->cap * 2 : 256;
		rec->reads = realloc(rec->reads, rec->cap * sizeof(*rec->reads));
		if (!rec->reads)
			abort();
	}
	struct recorded *r = &rec->reads[rec->n++];
	r->address = address;
	r->size = (uint32_t)size;
	r->bytes = malloc(size);
	if (!r->bytes)
		abort();
	memcpy(r->bytes, buf, size);
	return 0;
}

static int record_symbol(void *arg, const char *name, uint64_t *ret)
{
	struct recorder *rec = arg;
	if (strcmp(name, "_PyRuntime") == 0)
		*ret = rec->runtime;
	else if (strcmp(name, "_AsyncioDebug") == 0)
		*ret = rec->asyncio;
	else
		return -1;
	return 0;
}

static void put(FILE *f, const void *p, size_t n)
{
	if (fwrite(p, 1, n, f) != n) {
		perror("write");
		exit(1);
	}
}

static FILE *create(const char *dir, const char *sub, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

/* Up to max bytes at address, stopping at the first unreadable page. */
static size_t read_some(struct pyag_reader *r, uint64_t address, uint8_t *buf,
			size_t max)
{
	size_t n = 0;
	while (n < max) {
		size_t chunk = max - n < 64 ? max - n : 64;
		struct pyag_error *err = pyag_reader_read(r, address + n, buf + n, chunk);
		if (err) {
			pyag_error_destroy(err);
			break;
		}
		n += chunk;
	}
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: make-seeds CORE SYSROOT OUTDIR NAME\n");
		return 2;
	}
	struct recorder rec = { 0 };
	struct pyag_error *err = pyag_reader_create_core_ex(argv[1], argv[2], NULL, &rec.core);
	struct pyag_host host;
	memset(&host, 0, sizeof(host));
	host.kind = PYAG_TARGET_CORE;
	host.core_path = argv[1];
	host.sysroot = argv[2];
	struct target t;
	if (!err)
		err = target_locate(&t, rec.core, &host);
	if (err) {
		fprintf(stderr, "make-seeds: %s: %s\n", argv[1], pyag_error_message(err));
		return 1;
	}
	rec.runtime = t.runtime_addr;
	rec.asyncio = t.asyncio_debug_addr;
	target_deinit(&t);

	/* the layout seed: u16 length, _PyRuntime's bytes, _AsyncioDebug's */
	static uint8_t rt[4096], ad[1024];
	size_t nrt = read_some(rec.core, rec.runtime, rt, sizeof(rt));
	size_t nad = rec.asyncio ? read_some(rec.core, rec.asyncio, ad, sizeof(ad)) : 0;
	FILE *f = create(argv[3], "layout", argv[4]);
	uint8_t len[2] = { (uint8_t)nrt, (uint8_t)(nrt >> 8) };
	put(f, len, 2);
	put(f, rt, nrt);
	put(f, ad, nad);
	fclose(f);

	/* the image seed: every read of a capture, through a callback reader */
	struct pyag_session *cb = fuzz_callback_session(record_read, record_symbol, &rec);
	if (!cb) {
		fprintf(stderr, "make-seeds: cannot make a session\n");
		return 1;
	}
	fuzz_command(cb, "json");
	f = create(argv[3], "image", argv[4]);
	put(f, IMAGE_MAGIC, 8);
	put(f, &rec.runtime, 8);
	put(f, &rec.asyncio, 8);
	for (size_t i = 0; i < rec.n; i++) {
		uint32_t z = 0;
		put(f, &rec.reads[i].address, 8);
		put(f, &rec.reads[i].size, 4);
		put(f, &z, 4);
		put(f, rec.reads[i].bytes, rec.reads[i].size);
		free(rec.reads[i].bytes);
	}
	fclose(f);
	printf("make-seeds: %s: %zu reads, _PyRuntime 0x%llx, _AsyncioDebug 0x%llx\n",
	       argv[4], rec.n, (unsigned long long)rec.runtime,
	       (unsigned long long)rec.asyncio);
	free(rec.reads);
	pyag_reader_destroy(rec.core);
	return 0;
}
