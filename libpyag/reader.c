/*
 * The reader interface and its page cache.
 *
 * Every reader (live process, core file, debugger callback) implements one
 * raw read. In front of it sits a cache of 4 KiB pages: target objects are
 * small and scattered, and many share pages, so whole pages are fetched once
 * (with some read-ahead on a miss) and served from memory afterwards. Pages
 * that cannot be read are remembered as such. The cache is bounded: when it
 * is full it is emptied and refilled in the same memory, so memory never
 * grows with the target.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "reader.h"

/* 32 MiB at most: a capture reads each task's objects once, in list order,
 * so a bigger cache saves few reads (1,000,000 tasks: 256 MiB read 1% less)
 * and costs memory and cache misses. */
#define DEFAULT_MAX_PAGES (8u * 1024u)
#define DEFAULT_READAHEAD 4u
/* Cached pages live in chunks mapped for the purpose (huge pages where the
 * kernel gives them: a capture touches tens of thousands of pages, and
 * faulting them in one by one costs more than reading them). */
#define CHUNK_SIZE (8u << 20)

void reader_init(struct pyag_reader *r, const struct reader_ops *ops)
{
	memset(r, 0, sizeof(*r));
	r->ops = ops;
	r->cached = true;
	r->max_pages = DEFAULT_MAX_PAGES;
	r->readahead = DEFAULT_READAHEAD;
	r->mem_fd = -1;
}

static size_t slot_hash(uint64_t page, size_t nslots)
{
	uint64_t h = page * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 17) & (nslots - 1);
}

/* Forget every cached page, and give the memory back. */
static void cache_clear(struct pyag_reader *r)
{
	for (size_t i = 0; i < r->nchunks; i++)
		munmap(r->chunks[i], CHUNK_SIZE);
	free(r->chunks);
	r->chunks = NULL;
	r->nchunks = r->cap_chunks = 0;
	r->cur_chunk = 0;
	r->chunk_used = 0;
	free(r->slots);
	r->slots = NULL;
	r->nslots = 0;
	r->npages = 0;
	r->last_data = NULL;
}

/* Forget every cached page but keep the memory, to be filled again: a
 * capture larger than the cache then costs no new page faults. */
static void cache_reset(struct pyag_reader *r)
{
	if (r->slots)
		memset(r->slots, 0, r->nslots * sizeof(*r->slots));
	r->npages = 0;
	r->cur_chunk = 0;
	r->chunk_used = 0;
	r->last_data = NULL;
}

/* Room for size bytes of page data, not taken until block_take. */
static uint8_t *block_get(struct pyag_reader *r, size_t size)
{
	if (r->nchunks && r->chunk_used + size <= CHUNK_SIZE)
		return r->chunks[r->cur_chunk] + r->chunk_used;
	if (r->cur_chunk + 1 < r->nchunks) {
		r->cur_chunk++;
		r->chunk_used = 0;
		return r->chunks[r->cur_chunk];
	}
	if (r->nchunks == r->cap_chunks) {
		size_t cap = r->cap_chunks ? r->cap_chunks * 2 : 16;
		uint8_t **c = realloc(r->chunks, cap * sizeof(*c));
		if (!c)
			return NULL;
		r->chunks = c;
		r->cap_chunks = cap;
	}
	void *m = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(m, CHUNK_SIZE, MADV_HUGEPAGE);
#endif
	r->cur_chunk = r->nchunks;
	r->chunks[r->nchunks++] = m;
	r->chunks_mapped++;
	r->chunk_used = 0;
	return m;
}

static void block_take(struct pyag_reader *r, size_t size)
{
	r->chunk_used += size;
}

static struct page_slot *cache_lookup(struct pyag_reader *r, uint64_t page)
{
	if (!r->nslots)
		return NULL;
	size_t i = slot_hash(page, r->nslots);
	for (;;) {
		struct page_slot *s = &r->slots[i];
		if (s->page == 0)
			return NULL;
		if (s->page == page + 1)
			return s;
		i = (i + 1) & (r->nslots - 1);
	}
}

static bool cache_grow(struct pyag_reader *r)
{
	size_t nslots = r->nslots ? r->nslots * 2 : 1024;
	struct page_slot *slots = calloc(nslots, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < r->nslots; i++) {
		struct page_slot *s = &r->slots[i];
		if (!s->page)
			continue;
		size_t j = slot_hash(s->page - 1, nslots);
		while (slots[j].page)
			j = (j + 1) & (nslots - 1);
		slots[j] = *s;
	}
	free(r->slots);
	r->slots = slots;
	r->nslots = nslots;
	return true;
}

/* Insert a page: data points into a chunk of r->chunks (NULL marks it
 * unreadable). The caller made room (cache_room). */
static void cache_insert(struct pyag_reader *r, uint64_t page, uint8_t *data)
{
	if ((r->npages + 1) * 4 > r->nslots * 3 && !cache_grow(r))
		return;  /* no memory for a bigger table: not cached */
	size_t i = slot_hash(page, r->nslots);
	while (r->slots[i].page)
		i = (i + 1) & (r->nslots - 1);
	r->slots[i].page = page + 1;
	r->slots[i].data = data;
	r->npages++;
}

/* Room for n more pages: when the cache is full it is emptied, so memory
 * never grows with the target. */
static void cache_room(struct pyag_reader *r, unsigned n)
{
	if (r->npages + n > r->max_pages)
		cache_reset(r);
}

static struct pyag_error *raw_read(struct pyag_reader *r, uint64_t address,
				   void *buf, size_t size)
{
	r->read_calls++;
	struct pyag_error *err = r->ops->read(r, address, buf, size);
	if (!err)
		r->bytes_read += size;
	if (r->trace)
		r->trace(r->trace_arg, NULL, address, size, !err);
	return err;
}

/* Fetch the page holding `page` into the cache, with read-ahead: the run is
 * read straight into chunk memory, which its pages then point into. */
static struct pyag_error *cache_fill(struct pyag_reader *r, uint64_t page,
				     struct page_slot **ret)
{
	unsigned n = r->readahead ? r->readahead : 1;
	/* Do not read ahead over pages we already have. */
	for (unsigned k = 1; k < n; k++) {
		if (cache_lookup(r, page + k)) {
			n = k;
			break;
		}
	}
	cache_room(r, n);
	uint8_t *block = block_get(r, (size_t)n * PYAG_PAGE_SIZE);
	if (!block)
		return &pyag_enomem;
	struct pyag_error *err = NULL;
	if (n > 1) {
		err = raw_read(r, page * PYAG_PAGE_SIZE, block,
			       (size_t)n * PYAG_PAGE_SIZE);
		if (err) {
			if (err->code != PYAG_ERROR_FAULT)
				return err;
			pyag_error_destroy(err);
			n = 1;  /* the run crosses into an unmapped page */
		}
	}
	if (n == 1) {
		err = raw_read(r, page * PYAG_PAGE_SIZE, block, PYAG_PAGE_SIZE);
		if (err) {
			if (err->code != PYAG_ERROR_FAULT)
				return err;
			pyag_error_destroy(err);
			cache_insert(r, page, NULL);
			*ret = cache_lookup(r, page);
			return NULL;
		}
	}
	block_take(r, (size_t)n * PYAG_PAGE_SIZE);
	for (unsigned k = 0; k < n; k++)
		cache_insert(r, page + k, block + (size_t)k * PYAG_PAGE_SIZE);
	*ret = cache_lookup(r, page);
	return NULL;
}

struct pyag_error *pyag_reader_read(struct pyag_reader *r, uint64_t address,
				    void *buf, size_t size)
{
	if (size == 0)
		return NULL;
	if (address + size < address)
		return pyag_error_fault(address, size);
	if (!r->cached)
		return raw_read(r, address, buf, size);
	/* the common case: fields of the object read just before */
	uint64_t first = address / PYAG_PAGE_SIZE;
	if (r->last_data && first == r->last_page &&
	    address % PYAG_PAGE_SIZE + size <= PYAG_PAGE_SIZE) {
		memcpy(buf, r->last_data + address % PYAG_PAGE_SIZE, size);
		return NULL;
	}
	uint8_t *out = buf;
	uint64_t addr = address;
	size_t left = size;
	while (left) {
		uint64_t page = addr / PYAG_PAGE_SIZE;
		size_t off = (size_t)(addr % PYAG_PAGE_SIZE);
		size_t n = PYAG_PAGE_SIZE - off;
		if (n > left)
			n = left;
		struct page_slot *s = cache_lookup(r, page);
		if (!s) {
			struct pyag_error *err = cache_fill(r, page, &s);
			if (err)
				return err;
		}
		if (!s || !s->data) {
			/* The whole page is not readable, but the bytes asked
			 * for may be (a core segment or a debugger's region
			 * that ends inside the page): read just them. */
			struct pyag_error *err = raw_read(r, addr, out, n);
			if (err) {
				pyag_error_destroy(err);
				return pyag_error_fault(address, size);
			}
		} else {
			memcpy(out, s->data + off, n);
			r->last_page = page;
			r->last_data = s->data;
		}
		out += n;
		addr += n;
		left -= n;
	}
	return NULL;
}

struct pyag_error *reader_read_u64(struct pyag_reader *r, uint64_t address,
				   uint64_t *ret)
{
	return pyag_reader_read(r, address, ret, sizeof(*ret));
}

bool reader_try_read(struct pyag_reader *r, uint64_t address, void *buf,
		     size_t size)
{
	struct pyag_error *err = pyag_reader_read(r, address, buf, size);
	pyag_error_destroy(err);
	return !err;
}

struct pyag_error *reader_read_cstr(struct pyag_reader *r, uint64_t address,
				    char *buf, size_t max)
{
	size_t i = 0;
	while (i + 1 < max) {
		/* Read up to the end of the page, so we never cross into an
		 * unmapped page just because the buffer is large. */
		size_t chunk = PYAG_PAGE_SIZE - (size_t)((address + i) % PYAG_PAGE_SIZE);
		if (chunk > max - 1 - i)
			chunk = max - 1 - i;
		struct pyag_error *err = pyag_reader_read(r, address + i, buf + i, chunk);
		if (err)
			return err;
		void *nul = memchr(buf + i, '\0', chunk);
		if (nul)
			return NULL;
		i += chunk;
	}
	buf[i] = '\0';
	return NULL;
}

void pyag_reader_invalidate(struct pyag_reader *r)
{
	if (r)
		cache_clear(r);
}

void pyag_reader_destroy(struct pyag_reader *r)
{
	if (!r)
		return;
	cache_clear(r);
	if (r->ops->destroy)
		r->ops->destroy(r);
	free(r);
}

/* ---- the callback reader ------------------------------------------------ */

static struct pyag_error *callback_read(struct pyag_reader *r, uint64_t address,
					void *buf, size_t size)
{
	if (r->fn(r->fn_arg, address, buf, size) != 0)
		return pyag_error_fault(address, size);
	return NULL;
}

static const struct reader_ops callback_ops = {
	.read = callback_read,
};

struct pyag_error *pyag_reader_create_callback(pyag_read_fn *fn, void *arg,
					       struct pyag_reader **ret)
{
	if (!fn)
		return pyag_error_create(PYAG_ERROR_USAGE, "no read callback");
	struct pyag_reader *r = malloc(sizeof(*r));
	if (!r)
		return &pyag_enomem;
	reader_init(r, &callback_ops);
	r->fn = fn;
	r->fn_arg = arg;
	*ret = r;
	return NULL;
}
