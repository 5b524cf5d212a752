/* Fuzz target: layouts from DWARF. The input is a debug file (ELF with
 * DWARF); libdwarf parses it and the layout loader walks its types, as it
 * does for a python debug file found by build-id. */
#include <stdlib.h>

#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	const char *files[] = { path };
	struct pyag_layout l;
	memset(&l, 0, sizeof(l));
	char *missing = NULL;
	struct pyag_error *err = layout_from_dwarf(files, 1, &l, &missing);
	pyag_error_destroy(err);
	free(missing);
	uint64_t u, ub;
	int64_t s;
	pyag_error_destroy(dwarf_struct_size(path, "struct outer", &u));
	pyag_error_destroy(dwarf_struct_member_offset(path, "struct outer", "named.nested.deep", &u));
	pyag_error_destroy(dwarf_member_bit_offset(path, "struct outer", "state.kind", &u, &ub));
	pyag_error_destroy(dwarf_enumerator_value(path, "enum color", "GREEN", &s));
	close(fd);
	return 0;
}
