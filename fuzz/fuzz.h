/* Shared by the fuzz targets: libFuzzer's entry point, and helpers to hand
 * the input to code that wants a file. */
#ifndef PYAG_FUZZ_H
#define PYAG_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pyag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a file: an anonymous memory file, named by /proc/self/fd.
 * Returns the descriptor (close it after), or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path,
			    size_t path_size)
{
	int fd = memfd_create("pyag-fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	snprintf(path, path_size, "/proc/self/fd/%d", fd);
	return fd;
}

/* Output sink: the bytes are produced, then dropped. */
static inline int fuzz_discard(void *arg, const char *data, size_t size)
{
	(void)arg;
	(void)data;
	(void)size;
	return 0;
}

static inline int fuzz_print(void *arg, const char *data, size_t size)
{
	(void)arg;
	fwrite(data, 1, size, stdout);
	return 0;
}

/* Run one command over a host; every error is a normal outcome
 * (PYAG_FUZZ_VERBOSE=1 prints it, and the output, when reproducing). */
static inline void fuzz_command(const struct pyag_host *host, const char *format)
{
	char fmt[32];
	snprintf(fmt, sizeof(fmt), "--format=%s", format);
	char *argv[] = { fmt, (char *)"--stats", NULL };
	struct pyag_result res;
	memset(&res, 0, sizeof(res));
	bool verbose = getenv("PYAG_FUZZ_VERBOSE") != NULL;
	struct pyag_error *err = pyag_command_stream(host, 2, argv,
						     verbose ? fuzz_print : fuzz_discard,
						     NULL, &res);
	if (verbose)
		fprintf(stderr, "%s%s%s", err ? pyag_error_message(err) : "",
			err ? "\n" : "", res.diagnostics ? res.diagnostics : "");
	pyag_error_destroy(err);
	pyag_result_deinit(&res);
}

/* A host that reads memory through a callback (a memory image), like a
 * debugger does; the core kind, so that no process is looked for. */
static inline void fuzz_callback_host(struct pyag_host *host, pyag_read_fn *read,
				      pyag_symbol_fn *symbol, void *arg,
				      const char *name)
{
	memset(host, 0, sizeof(*host));
	host->kind = PYAG_TARGET_CORE;
	host->pid = 1;
	host->read = read;
	host->read_arg = arg;
	host->symbol = symbol;
	host->symbol_arg = arg;
	host->command_name = name;
}

static const char *const fuzz_formats[] = {
	"callgraph", "json", "tree", "table", "csv", "dot"
};

#endif
