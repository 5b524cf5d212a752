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

static inline void fuzz_message(void *arg, const struct pyag_message *m)
{
	(void)arg;
	fprintf(stderr, "%s%s\n", m->kind == PYAG_MESSAGE_WARNING ? "warning: " : "",
		m->text);
}

/* Run one command on a session (consumed); every error is a normal
 * outcome (PYAG_FUZZ_VERBOSE=1 prints it, and the output, when
 * reproducing). */
static inline void fuzz_command(struct pyag_session *s, const char *format)
{
	char fmt[32];
	snprintf(fmt, sizeof(fmt), "--format=%s", format);
	/* what each task waits on and the loops: json and loops read them
	 * always, the other formats with --waiting (callgraph has none) */
	bool waiting = strcmp(format, "callgraph") != 0 && strcmp(format, "json") != 0 &&
		       strcmp(format, "loops") != 0;
	char *argv[] = { fmt, (char *)"--stats", waiting ? (char *)"--waiting" : NULL, NULL };
	bool verbose = getenv("PYAG_FUZZ_VERBOSE") != NULL;
	struct pyag_command_options co = PYAG_INIT_COMMAND_OPTIONS;
	co.write = verbose ? fuzz_print : fuzz_discard;
	co.message = verbose ? fuzz_message : NULL;
	struct pyag_error *err = pyag_command_run(s, waiting ? 3 : 2, argv, &co, NULL);
	if (verbose && err)
		fprintf(stderr, "%s\n", pyag_error_message(err));
	pyag_error_destroy(err);
	pyag_session_destroy(s);
}

/* A session that reads memory through a callback (a memory image), like a
 * debugger does; the core kind, so that no process is looked for. NULL
 * when it cannot be made. */
static inline struct pyag_session *fuzz_callback_session(pyag_read_fn *read,
							 pyag_symbol_fn *symbol,
							 void *arg)
{
	struct pyag_callbacks cb = PYAG_INIT_CALLBACKS;
	cb.kind = PYAG_TARGET_CORE;
	cb.pid = 1;
	cb.read = read;
	cb.read_arg = arg;
	struct pyag_session *s = NULL;
	struct pyag_error *err = pyag_session_create_callbacks(&cb, &s);
	if (!err)
		err = pyag_session_set_symbol_fn(s, symbol, arg);
	if (err) {
		pyag_error_destroy(err);
		pyag_session_destroy(s);
		return NULL;
	}
	return s;
}

static const char *const fuzz_formats[] = {
	"callgraph", "json", "tree", "table", "csv", "dot", "threads", "loops"
};

#endif
