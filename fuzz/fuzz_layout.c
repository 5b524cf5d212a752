/* Fuzz target: layout loading from the debug offsets. The input is the
 * bytes at _PyRuntime (its _Py_DebugOffsets) and at _AsyncioDebug:
 *
 *   u16 length of the runtime part, the runtime part, the asyncio part
 *
 * Each sits at its own address with unmapped memory after it. An accepted
 * layout must validate and compare equal to itself. */
#include "fuzz.h"
#include "image.h"
#include "internal.h"

#define RUNTIME_AT 0x100000u
#define ASYNCIO_AT 0x300000u

static void no_drift(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "fuzz_layout: a layout differs from itself: %s\n", msg);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t n = (size_t)data[0] | (size_t)data[1] << 8;
	if (n > size - 2)
		n = size - 2;
	struct image_region regions[2] = {
		{ RUNTIME_AT, RUNTIME_AT + n, data + 2 },
		{ ASYNCIO_AT, ASYNCIO_AT + (size - 2 - n), data + 2 + n },
	};
	struct image img = { RUNTIME_AT, ASYNCIO_AT, regions, 2 };
	struct pyag_reader *r;
	struct pyag_error *err = pyag_reader_create_callback(image_read, &img, &r);
	if (err) {
		pyag_error_destroy(err);
		return 0;
	}
	struct pyag_layout l;
	err = layout_from_debug_offsets(r, RUNTIME_AT, ASYNCIO_AT, &l);
	if (!err) {
		struct pyag_error *v = layout_validate(&l);
		if (v) {
			fprintf(stderr, "fuzz_layout: accepted, then invalid: %s\n",
				pyag_error_message(v));
			abort();
		}
		layout_compare(&l, &l, no_drift, NULL);
		char vs[32];
		layout_version_string(l.version, vs, sizeof(vs));
	}
	pyag_error_destroy(err);
	pyag_reader_destroy(r);
	return 0;
}
