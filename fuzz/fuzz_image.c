/* Fuzz target: a memory image captured from a real scenario process, read
 * through the callback reader as a debugger would hand it over: layout from
 * the debug offsets in the image, the walk, the graph and every format.
 *
 * Built with libFuzzer, a custom mutator corrupts what a hostile heap
 * corrupts: pointers (to other objects, off by a few words, to themselves,
 * to NULL), and the lengths and counts next to them. */
#include "fuzz.h"
#include "image.h"

static int image_symbol(void *arg, const char *name, uint64_t *ret)
{
	const struct image *img = arg;
	if (strcmp(name, "_PyRuntime") == 0 && img->runtime)
		*ret = img->runtime;
	else if (strcmp(name, "_AsyncioDebug") == 0 && img->asyncio)
		*ret = img->asyncio;
	else
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image img;
	if (!image_parse(&img, data, size)) {
		free(img.regions);
		return 0;
	}
	struct pyag_mapping *maps = calloc(img.nregions ? img.nregions : 1, sizeof(*maps));
	if (!maps) {
		free(img.regions);
		return 0;
	}
	for (size_t i = 0; i < img.nregions; i++) {
		maps[i].start = img.regions[i].start;
		maps[i].end = img.regions[i].end;
	}
	struct pyag_session *s = fuzz_callback_session(image_read, image_symbol, &img);
	struct pyag_error *err = s ? pyag_session_set_mappings(s, maps, img.nregions) : NULL;
	if (s && !err)
		fuzz_command(s, fuzz_formats[size % (sizeof(fuzz_formats) / sizeof(fuzz_formats[0]))]);
	else
		pyag_session_destroy(s);
	pyag_error_destroy(err);
	free(maps);
	free(img.regions);
	return 0;
}

#ifdef PYAG_LIBFUZZER
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Whether v points into some region of the image. */
static bool is_pointer(const struct image *img, uint64_t v)
{
	const struct image_region *r = image_find(img, v);
	return r && v < r->end;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	uint64_t rnd = seed * 0x9e3779b97f4a7c15ull + 1;
	struct image img;
	memset(&img, 0, sizeof(img));
	if (next_random(&rnd) % 4 == 0 || !image_parse(&img, data, size) ||
	    !img.nregions) {
		free(img.regions);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	/* a few pointer-sized words that hold pointers, found by sampling */
	for (int edits = 1 + (int)(next_random(&rnd) % 4); edits > 0; edits--) {
		const struct image_region *r = &img.regions[next_random(&rnd) % img.nregions];
		uint64_t words = (r->end - r->start) / 8;
		if (!words)
			continue;
		uint8_t *w = NULL;
		for (int tries = 0; tries < 64 && !w; tries++) {
			uint8_t *cand = (uint8_t *)r->bytes + 8 * (next_random(&rnd) % words);
			if (is_pointer(&img, image_get_u64(cand)))
				w = cand;
		}
		if (!w)
			continue;
		uint64_t v = image_get_u64(w);
		const struct image_region *o = &img.regions[next_random(&rnd) % img.nregions];
		switch (next_random(&rnd) % 7) {
		case 0:  /* another object */
			v = o->start + 8 * (next_random(&rnd) % ((o->end - o->start) / 8 + 1));
			break;
		case 1:  /* a few words off */
			v += (int64_t)(next_random(&rnd) % 17 - 8) * 8;
			break;
		case 2:  /* NULL */
			v = 0;
			break;
		case 3:  /* itself: a loop */
			v = r->start + (uint64_t)(w - r->bytes);
			break;
		case 4:  /* unmapped */
			v ^= 1ull << (20 + next_random(&rnd) % 24);
			break;
		case 5: { /* the length or count next to it */
			uint8_t *n = w + 8 < r->bytes + (r->end - r->start) ? w + 8 : w;
			static const uint64_t big[] = { 0xffffffffffffffffull,
				0x7fffffffffffffffull, 0x100000000ull, 1u << 20, 65536 };
			uint64_t b = big[next_random(&rnd) % 5];
			memcpy(n, &b, 8);
			continue;
		}
		default: /* an odd address */
			v |= 1 + next_random(&rnd) % 7;
			break;
		}
		memcpy(w, &v, 8);
	}
	free(img.regions);
	return size;
}
#endif
