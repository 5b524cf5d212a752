/* A memory image: what the walker reads of a process, as a fuzz input.
 *
 *   "PYAGIMG1"  u64 _PyRuntime  u64 _AsyncioDebug
 *   then regions: u64 address, u32 length, u32 0, length bytes
 *
 * Little-endian. Regions are what a real capture read (pages); reads that a
 * region does not cover fault, as unmapped memory does. */
#ifndef PYAG_FUZZ_IMAGE_H
#define PYAG_FUZZ_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_MAGIC "PYAGIMG1"
#define IMAGE_HEADER 24u
#define IMAGE_REGION_HEADER 16u
#define IMAGE_MAX_REGIONS 65536u

struct image_region {
	uint64_t start, end;
	const uint8_t *bytes;
};

struct image {
	uint64_t runtime, asyncio;
	struct image_region *regions;
	size_t nregions;
};

static inline uint64_t image_get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t image_get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int image_region_cmp(const void *a, const void *b)
{
	const struct image_region *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Parse data (which must outlive the image). False when it is not one. */
static inline bool image_parse(struct image *img, const uint8_t *data, size_t size)
{
	memset(img, 0, sizeof(*img));
	if (size < IMAGE_HEADER || memcmp(data, IMAGE_MAGIC, 8) != 0)
		return false;
	img->runtime = image_get_u64(data + 8);
	img->asyncio = image_get_u64(data + 16);
	size_t cap = 0;
	for (size_t at = IMAGE_HEADER; at + IMAGE_REGION_HEADER <= size;) {
		uint64_t start = image_get_u64(data + at);
		uint32_t len = image_get_u32(data + at + 8);
		at += IMAGE_REGION_HEADER;
		if (len > size - at || start + len < start ||
		    img->nregions >= IMAGE_MAX_REGIONS)
			break;
		if (img->nregions == cap) {
			cap = cap ? cap * 2 : 64;
			struct image_region *r = realloc(img->regions, cap * sizeof(*r));
			if (!r)
				break;
			img->regions = r;
		}
		img->regions[img->nregions++] = (struct image_region){
			start, start + len, data + at };
		at += len;
	}
	if (img->nregions)
		qsort(img->regions, img->nregions, sizeof(*img->regions),
		      image_region_cmp);
	return true;
}

/* The last region starting at or before address, or NULL. */
static inline const struct image_region *image_find(const struct image *img,
						    uint64_t address)
{
	size_t lo = 0, hi = img->nregions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (img->regions[mid].start <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &img->regions[lo - 1] : NULL;
}

/* pyag_read_fn over an image: every byte must be covered. */
static inline int image_read(void *arg, uint64_t address, void *buf, size_t size)
{
	const struct image *img = arg;
	uint8_t *out = buf;
	while (size) {
		const struct image_region *r = image_find(img, address);
		if (!r || address >= r->end)
			return -1;
		uint64_t n = r->end - address;
		if (n > size)
			n = size;
		memcpy(out, r->bytes + (address - r->start), n);
		out += n;
		address += n;
		size -= n;
	}
	return 0;
}

#endif
