/* Fuzz target: a core file, read by the whole pipeline (ELF and notes,
 * interpreter location, layout, walk, every format). PYAG_FUZZ_SYSROOT names
 * the directory with the files the seed cores map (their skeletons). */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct pyag_session *s = NULL;
	struct pyag_error *err = pyag_session_create_core(path, NULL,
							  getenv("PYAG_FUZZ_SYSROOT"), &s);
	if (!err)
		fuzz_command(s, fuzz_formats[size % (sizeof(fuzz_formats) / sizeof(fuzz_formats[0]))]);
	pyag_error_destroy(err);
	close(fd);
	return 0;
}
