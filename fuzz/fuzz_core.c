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
	struct pyag_host host;
	memset(&host, 0, sizeof(host));
	host.kind = PYAG_TARGET_CORE;
	host.core_path = path;
	host.sysroot = getenv("PYAG_FUZZ_SYSROOT");
	host.command_name = "fuzz";
	fuzz_command(&host, fuzz_formats[size % 6]);
	close(fd);
	return 0;
}
