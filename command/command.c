/*
 * pyag_command_run(): the command line every front end shares, on a
 * session the front end made for its target. Parse, apply the session
 * options, capture, select TASK / --current, render, report warnings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

/* The caller's options struct, whatever its version. */
static struct pyag_error *copy_options(const struct pyag_command_options *in,
				       struct pyag_command_options *out)
{
	memset(out, 0, sizeof(*out));
	if (!in || in->size < sizeof(size_t))
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "struct pyag_command_options: size not set");
	memcpy(out, in, in->size < sizeof(*out) ? in->size : sizeof(*out));
	if (!out->write && !out->styled_write)
		return pyag_error_format(PYAG_ERROR_USAGE, "no write callback given");
	return NULL;
}

static struct pyag_error *write_all(const struct pyag_command_options *co,
				    const char *text)
{
	int rc = co->styled_write
			 ? co->styled_write(co->styled_arg, PYAG_STYLE_NONE, text, strlen(text))
			 : co->write(co->write_arg, text, strlen(text));
	return rc ? pyag_error_format(PYAG_ERROR_OS, "cannot write the output") : NULL;
}

static void message(const struct pyag_command_options *co, enum pyag_message_kind kind,
		    enum pyag_warning_code code, uint64_t address, const char *text)
{
	if (!co->message)
		return;
	struct pyag_message m = { sizeof(m), kind, code, address, text };
	co->message(co->message_arg, &m);
}

/* The TASK argument: an address of a known record, else a task name. */
static struct pyag_error *find_task(const struct pyag_graph *g, const char *arg,
				    size_t *ret)
{
	if (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X')) {
		char *end;
		unsigned long long a = strtoull(arg, &end, 16);
		if (*end == '\0' && (*ret = pyag_graph_find(g, a)) != PYAG_NONE)
			return NULL;
	}
	/* a name: it must name one task (names repeat: several workers,
	 * a Task-1 in each interpreter) */
	size_t n = pyag_graph_num_tasks(g), found = 0;
	char addrs[128] = "";
	for (size_t i = 0; i < n; i++) {
		struct pyag_task t = PYAG_INIT_TASK;
		struct pyag_error *err = pyag_graph_task(g, i, &t);
		if (err)
			return err;
		if (t.kind != PYAG_KIND_TASK || strcmp(t.name, arg) != 0)
			continue;
		if (found++ == 0)
			*ret = i;
		size_t len = strlen(addrs);
		if (found <= 4)
			snprintf(addrs + len, sizeof(addrs) - len, "%s0x%llx",
				 found > 1 ? ", " : "", (unsigned long long)t.address);
		else if (found == 5)
			snprintf(addrs + len, sizeof(addrs) - len, ", ...");
	}
	if (found > 1)
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "%zu tasks are named '%s' (%s): give the address "
					 "of one", found, arg, addrs);
	if (found == 1)
		return NULL;
	return pyag_error_format(PYAG_ERROR_NOT_FOUND,
				 "no task or future '%s' in the target (give an "
				 "address like 0x7f... or a task name)", arg);
}

/* The running task of the thread asked for (--thread, else the debugger's
 * selected thread, else the main thread). */
static struct pyag_error *find_current(const struct pyag_graph *g, uint64_t tid,
				       size_t *ret)
{
	size_t n = pyag_graph_num_threads(g);
	for (size_t i = 0; i < n; i++) {
		struct pyag_thread th = PYAG_INIT_THREAD;
		struct pyag_error *err = pyag_graph_thread(g, i, &th);
		if (err)
			return err;
		if (!tid)
			tid = th.native_thread_id;  /* the main thread comes first */
		if (th.native_thread_id != tid)
			continue;
		if (!th.running_task)
			return pyag_error_format(PYAG_ERROR_NOT_FOUND,
						 "thread %llu is not running an asyncio "
						 "task right now", (unsigned long long)tid);
		if (th.running_index == PYAG_NONE)
			return pyag_error_format(PYAG_ERROR_CORRUPT,
						 "thread %llu: running task 0x%llx unreadable",
						 (unsigned long long)tid,
						 (unsigned long long)th.running_task);
		*ret = th.running_index;
		return NULL;
	}
	return pyag_error_format(PYAG_ERROR_NOT_FOUND,
				 "no Python thread with native id %llu",
				 (unsigned long long)tid);
}

struct line_buf {
	char *data;
	size_t len;
	int failed;
};

static int collect(void *arg, const char *data, size_t size)
{
	struct line_buf *b = arg;
	char *d = realloc(b->data, b->len + size + 1);
	if (!d) {
		b->failed = 1;
		return -1;
	}
	memcpy(d + b->len, data, size);
	b->len += size;
	d[b->len] = '\0';
	b->data = d;
	return 0;
}

/* The graph's warnings, then its cycles, then --stats, as messages. */
static struct pyag_error *report(const struct pyag_graph *g,
				 const struct pyag_command_options *co, bool stats,
				 int *status)
{
	size_t nw = pyag_graph_num_warnings(g), nc = pyag_graph_num_cycles(g);
	for (size_t i = 0; i < nw; i++) {
		struct pyag_warning w = PYAG_INIT_WARNING;
		struct pyag_error *err = pyag_graph_warning(g, i, &w);
		if (err)
			return err;
		message(co, PYAG_MESSAGE_WARNING, w.code, w.address, w.message);
	}
	struct pyag_facts f = PYAG_INIT_FACTS;
	struct pyag_error *err = pyag_graph_facts(g, &f);
	if (err)
		return err;
	char line[128];
	if (f.warnings_dropped) {
		snprintf(line, sizeof(line), "%zu more warnings", f.warnings_dropped);
		message(co, PYAG_MESSAGE_WARNING, 0, 0, line);
	}
	if (nc) {
		snprintf(line, sizeof(line), "the await graph has %zu cycle%s (a deadlock)",
			 nc, nc == 1 ? "" : "s");
		message(co, PYAG_MESSAGE_WARNING, 0, 0, line);
	}
	*status = (nw || nc) ? 1 : 0;
	if (!stats)
		return NULL;
	struct line_buf b = { 0 };
	err = pyag_render_stats(g, collect, &b);
	if (!err && b.failed)
		err = pyag_error_format(PYAG_ERROR_NO_MEMORY, "out of memory (statistics)");
	for (char *p = b.data, *nl; !err && p && *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		message(co, PYAG_MESSAGE_STATS, 0, 0, p);
	}
	free(b.data);
	return err;
}

static struct pyag_error *configure(struct pyag_session *s, const struct options *o,
				    const struct pyag_command_options *co)
{
	struct pyag_error *err = pyag_session_set_layout(s, o->layout);
	for (size_t i = 0; !err && i < o->ndebug_dirs; i++)
		err = pyag_session_add_debug_dir(s, o->debug_dirs[i]);
	if (!err && co->use_cache)
		err = pyag_session_set_cache_dir(s, pyag_default_cache_dir());
	return err;
}

struct pyag_error *pyag_command_run(struct pyag_session *s, int argc, char *const argv[],
				    const struct pyag_command_options *opts,
				    int *status_ret)
{
	struct pyag_command_options co;
	struct pyag_error *err = copy_options(opts, &co);
	if (err)
		return err;
	if (status_ret)
		*status_ret = 0;
	struct options o;
	if ((err = options_parse(argc, argv, &o)))
		return err;
	if (o.help)
		return write_all(&co, pyag_command_usage());
	if (!s)
		return pyag_error_format(PYAG_ERROR_USAGE, "no target to read");
	struct pyag_render_options ro = PYAG_INIT_RENDER_OPTIONS;
	ro.format = PYAG_FORMAT_TREE;
	if (o.has_format)
		ro.format = o.format;
	else if (co.default_format && (err = pyag_format_parse(co.default_format, &ro.format)))
		return err;
	if (o.has_limit) {
		ro.has_limit = 1;
		ro.limit = o.limit;
	} else if (co.has_default_limit) {
		ro.has_limit = 1;
		ro.limit = co.default_limit;
	}
	if (o.waiting && (ro.format == PYAG_FORMAT_CALLGRAPH || ro.format == PYAG_FORMAT_LOOPS))
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "--waiting applies to the tree, threads, table, csv, "
					 "dot and json formats (callgraph prints what "
					 "asyncio.format_call_graph() prints)");
	ro.waiting = o.waiting;
	/* json and loops always show what tasks wait on */
	if ((err = pyag_session_set_waiting(s, o.waiting || ro.format == PYAG_FORMAT_JSON ||
						       ro.format == PYAG_FORMAT_LOOPS)))
		return err;
	ro.native_thread_id = o.has_thread ? o.thread : 0;
	ro.name_glob = o.name_glob;
	ro.styled_write = co.styled_write;
	ro.styled_arg = co.styled_arg;
	if ((err = configure(s, &o, &co)))
		return err;
	struct pyag_graph *g;
	if ((err = pyag_capture(s, &g)))
		return err;
	if (o.task)
		err = find_task(g, o.task, &ro.task);
	else if (o.current)
		err = find_current(g, o.has_thread ? o.thread : co.selected_native_thread_id,
				   &ro.task);
	if (!err)
		err = pyag_render(g, &ro, co.write, co.write_arg);
	int status = 0;
	if (!err)
		err = report(g, &co, o.stats, &status);
	if (!err && status_ret)
		*status_ret = status;
	pyag_graph_destroy(g);
	return err;
}
