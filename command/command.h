/*
 * The command layer: the option syntax every front end shares, run on a
 * session. A client of the public API: it includes pyag.h and nothing of
 * the library's insides (the build gives it no path to them).
 */
#ifndef PYAG_COMMAND_H
#define PYAG_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include "pyag.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define MAX_DEBUG_DIRS 16

/* A parsed command line. */
struct options {
	bool has_format;
	enum pyag_format format;
	enum pyag_layout_source layout;
	const char *debug_dirs[MAX_DEBUG_DIRS];
	size_t ndebug_dirs;
	bool has_limit;
	long limit;
	bool current;
	bool stats;
	bool waiting;           /* --waiting */
	bool help;
	const char *task;       /* address or name, or NULL */
	bool has_thread;
	uint64_t thread;        /* native thread id */
	const char *name_glob;
};

/* Parse argv (without the command's name) into *ret. */
struct pyag_error *options_parse(int argc, char *const argv[],
				 struct options *ret) HIDDEN;

#endif /* PYAG_COMMAND_H */
