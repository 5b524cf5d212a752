/* The options every front end shares: one parser, one help text. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

static const char usage[] =
"Print the asyncio call graph of a Python 3.11+ process: every task, where\n"
"each coroutine is suspended, and who awaits whom. Reads memory only; never\n"
"runs code in the target.\n"
"\n"
"Arguments:\n"
"  TASK                 a task or future: its address (0x...) or its name;\n"
"                       prints what asyncio.format_call_graph(TASK) prints\n"
"\n"
"Options:\n"
"  --format=FORMAT      tree (default): like 'python -m asyncio pstree'\n"
"                       callgraph: asyncio.format_call_graph() per task\n"
"                       table: like 'python -m asyncio ps'; csv: the same as CSV\n"
"                       json: machine-readable (schema 1); dot: Graphviz\n"
"                       threads: every thread's state and Python stack\n"
"                       (like a traceback), then its tasks\n"
"                       loops: every event loop: running or not, ready\n"
"                       callbacks, timers, file descriptors, and whether\n"
"                       anything could wake its tasks\n"
"  --waiting            also what each task waits on (the Event, Lock, Queue,\n"
"                       timer, socket... and its state): a line under each\n"
"                       task (tree, threads), a column (table, csv), nodes\n"
"                       (dot); json always has it\n"
"  --limit=N            cut every call stack to |N| entries (N > 0 keeps the\n"
"                       outermost, N < 0 the innermost, 0 prints none)\n"
"  --current            the task running on the selected thread, with its\n"
"                       real frames (like print_call_graph() called there)\n"
"  --thread=TID         only tasks of the thread with native id TID\n"
"  --name=GLOB          only tasks whose name matches GLOB (*, ?, [...])\n"
"  --task=TASK          same as the TASK argument\n"
"  --stats              print counts, bytes read, time and layout source\n"
"  --layout=SOURCE      where struct layouts come from: auto (default: the\n"
"                       interpreter's debug offsets, checked against DWARF\n"
"                       when debug info is installed), offsets, or dwarf\n"
"  --debug-file-directory=DIR\n"
"                       where to look for separate debug info (repeatable;\n"
"                       default /usr/lib/debug under the target's root)\n"
"  -h, --help           this help\n";

const char *pyag_command_usage(void)
{
	return usage;
}

static struct pyag_error *parse_long(const char *opt, const char *s, long *ret)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || end == s || *end)
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "%s: '%s' is not a number", opt, s);
	*ret = v;
	return NULL;
}

/* "--name=value" or "--name value"; *value_ret NULL if opt is not name. */
static struct pyag_error *option_value(int argc, char *const argv[], int *i,
				       const char *name, const char **value_ret)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	*value_ret = NULL;
	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=') {
		*value_ret = arg + n + 1;
		return NULL;
	}
	if (arg[n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return pyag_error_format(PYAG_ERROR_USAGE, "%s needs a value", name);
	*value_ret = argv[++*i];
	return NULL;
}

struct pyag_error *options_parse(int argc, char *const argv[], struct options *o)
{
	memset(o, 0, sizeof(*o));
	bool only_positional = false;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const char *v;
		struct pyag_error *err;
		if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (o->task)
				return pyag_error_format(PYAG_ERROR_USAGE,
							 "unexpected argument '%s' (one TASK at most)",
							 arg);
			o->task = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			o->help = true;
			continue;
		}
		if (strcmp(arg, "--current") == 0) {
			o->current = true;
			continue;
		}
		if (strcmp(arg, "--stats") == 0) {
			o->stats = true;
			continue;
		}
		if (strcmp(arg, "--waiting") == 0) {
			o->waiting = true;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--format", &v)))
			return err;
		if (v) {
			if ((err = pyag_format_parse(v, &o->format)))
				return err;
			o->has_format = true;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--limit", &v)))
			return err;
		if (v) {
			if ((err = parse_long("--limit", v, &o->limit)))
				return err;
			o->has_limit = true;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--thread", &v)))
			return err;
		if (v) {
			long t;
			if ((err = parse_long("--thread", v, &t)))
				return err;
			if (t <= 0)
				return pyag_error_format(PYAG_ERROR_USAGE,
							 "--thread: '%s' is not a thread id", v);
			o->thread = (uint64_t)t;
			o->has_thread = true;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--name", &v)))
			return err;
		if (v) {
			o->name_glob = v;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--layout", &v)))
			return err;
		if (v) {
			if (strcmp(v, "auto") == 0)
				o->layout = PYAG_LAYOUT_AUTO;
			else if (strcmp(v, "offsets") == 0)
				o->layout = PYAG_LAYOUT_OFFSETS;
			else if (strcmp(v, "dwarf") == 0)
				o->layout = PYAG_LAYOUT_DWARF;
			else
				return pyag_error_format(PYAG_ERROR_USAGE,
							 "unknown layout '%s' (choose auto, "
							 "offsets or dwarf)", v);
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--debug-file-directory", &v)))
			return err;
		if (v) {
			if (o->ndebug_dirs == MAX_DEBUG_DIRS)
				return pyag_error_format(PYAG_ERROR_USAGE,
							 "too many --debug-file-directory");
			o->debug_dirs[o->ndebug_dirs++] = v;
			continue;
		}
		if ((err = option_value(argc, argv, &i, "--task", &v)))
			return err;
		if (v) {
			if (o->task)
				return pyag_error_format(PYAG_ERROR_USAGE,
							 "TASK given twice ('%s', '%s')",
							 o->task, v);
			o->task = v;
			continue;
		}
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "unknown option '%s' (see --help)", arg);
	}
	if (o->current && o->task)
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "--current and TASK exclude each other");
	return NULL;
}
