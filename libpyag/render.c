/*
 * pyag_render(): select the records a render shows (one task and what
 * awaits it, or the filters) and hand them to a format.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "format.h"

static const struct {
	const char *name;
	enum pyag_format format;
} format_names[] = {
	{ "tree", PYAG_FORMAT_TREE },   { "callgraph", PYAG_FORMAT_CALLGRAPH },
	{ "table", PYAG_FORMAT_TABLE }, { "csv", PYAG_FORMAT_CSV },
	{ "json", PYAG_FORMAT_JSON },   { "dot", PYAG_FORMAT_DOT },
	{ "threads", PYAG_FORMAT_THREADS }, { "loops", PYAG_FORMAT_LOOPS },
};

struct pyag_error *pyag_format_parse(const char *name, enum pyag_format *ret)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(format_names); i++)
		if (strcmp(name, format_names[i].name) == 0) {
			*ret = format_names[i].format;
			return NULL;
		}
	/* "(choose a, b or c)", from the table */
	char choices[256];
	size_t len = 0;
	choices[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(format_names) && len < sizeof(choices); i++)
		len += (size_t)snprintf(choices + len, sizeof(choices) - len, "%s%s",
					i == 0 ? "" : i + 1 == ARRAY_SIZE(format_names)
							 ? " or " : ", ",
					format_names[i].name);
	return pyag_error_create(PYAG_ERROR_USAGE, "unknown format '%s' (choose %s)",
				 name ? name : "", choices);
}

/* Mark the records to show: a task and everything that (transitively)
 * awaits it, or every record that passes the filters. */
static bool *select_records(const struct snapshot *snap,
			    const struct pyag_render_options *o, long task)
{
	size_t n = snap->ntasks;
	bool *sel = calloc(n ? n : 1, sizeof(bool));
	if (!sel)
		return NULL;
	if (task >= 0) {
		uint32_t *queue = malloc((n ? n : 1) * sizeof(uint32_t));
		if (!queue) {
			free(sel);
			return NULL;
		}
		size_t head = 0, tail = 0;
		sel[task] = true;
		queue[tail++] = (uint32_t)task;
		while (head < tail) {
			const struct task_rec *t = &snap->tasks[queue[head++]];
			for (uint32_t k = 0; k < t->nawaited_by; k++) {
				long p = snapshot_awaiter(snap, t, k);
				if (p >= 0 && !sel[p]) {
					sel[p] = true;
					queue[tail++] = (uint32_t)p;
				}
			}
		}
		free(queue);
		return sel;
	}
	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = &snap->tasks[i];
		sel[i] = true;
		if (o->native_thread_id && t->native_thread_id != o->native_thread_id)
			sel[i] = false;
		if (o->name_glob && (!t->is_task || !glob_match(o->name_glob, t->name)))
			sel[i] = false;
	}
	return sel;
}

struct pyag_error *pyag_render(const struct pyag_graph *graph,
			       const struct pyag_render_options *opts,
			       pyag_write_fn *write, void *arg)
{
	if (!graph || !opts)
		return pyag_error_create(PYAG_ERROR_USAGE, "no graph or options given");
	if (opts->size < offsetof(struct pyag_render_options, task) + sizeof(size_t))
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "struct pyag_render_options: size not set");
	struct pyag_render_options o;
	memset(&o, 0, sizeof(o));
	memcpy(&o, opts, opts->size < sizeof(o) ? opts->size : sizeof(o));
	if (!write && !o.styled_write)
		return pyag_error_create(PYAG_ERROR_USAGE, "no write callback given");
	const struct snapshot *snap = graph_snapshot(graph);
	const struct graph *g = graph_graph(graph);
	long task = -1;
	if (o.task != PYAG_NONE) {
		if (o.task >= snap->ntasks)
			return pyag_error_create(PYAG_ERROR_USAGE, "task %zu out of range (%zu)",
						 o.task, snap->ntasks);
		task = (long)o.task;
	}
	bool *sel = select_records(snap, &o, task);
	if (!sel)
		return pyag_error_nomem("the selection");
	bool nothing = true;
	for (size_t i = 0; i < snap->ntasks && nothing; i++)
		nothing = !(sel[i] && snap->tasks[i].is_task);
	/* the thread report shows threads without tasks too */
	if (nothing && o.format != PYAG_FORMAT_JSON && o.format != PYAG_FORMAT_THREADS &&
	    o.format != PYAG_FORMAT_LOOPS &&
	    task < 0) {
		free(sel);
		if (o.native_thread_id || o.name_glob)
			return pyag_error_create(PYAG_ERROR_NOT_FOUND,
						 "no asyncio task matches the filters");
		return pyag_error_create(PYAG_ERROR_NOT_FOUND,
					 "no pending asyncio tasks in the target "
					 "(asyncio is loaded, but no task exists)");
	}
	struct render_ctx ctx = { snap, g, &o, sel, task };
	struct strbuf out;
	sb_init(&out);
	if (o.styled_write) {
		out.styled = o.styled_write;
		out.flush_arg = o.styled_arg;
	} else {
		out.flush = write;
		out.flush_arg = arg;
	}
	switch (o.format) {
	case PYAG_FORMAT_CALLGRAPH:
		if (task >= 0)
			format_callgraph_task(&out, &ctx, (size_t)task);
		else
			format_callgraph(&out, &ctx);
		break;
	case PYAG_FORMAT_JSON:
		format_json(&out, &ctx);
		break;
	case PYAG_FORMAT_TREE:
		format_tree(&out, &ctx);
		break;
	case PYAG_FORMAT_TABLE:
		format_table(&out, &ctx, false);
		break;
	case PYAG_FORMAT_CSV:
		format_table(&out, &ctx, true);
		break;
	case PYAG_FORMAT_DOT:
		format_dot(&out, &ctx);
		break;
	case PYAG_FORMAT_THREADS:
		format_threads(&out, &ctx);
		break;
	case PYAG_FORMAT_LOOPS:
		if (!snap->waiting) {
			free(sel);
			sb_deinit(&out);
			return pyag_error_create(PYAG_ERROR_USAGE,
						 "the loops format needs a capture of what "
						 "tasks wait on (pyag_session_set_waiting)");
		}
		format_loops(&out, &ctx);
		break;
	default:
		free(sel);
		sb_deinit(&out);
		return pyag_error_create(PYAG_ERROR_USAGE, "unknown format %d",
					 (int)o.format);
	}
	free(sel);
	/* a failed buffer is either the sink (it said stop) or memory */
	struct pyag_error *err = NULL;
	if (!sb_flush(&out))
		err = out.sink_failed
			      ? pyag_error_create(PYAG_ERROR_OS, "cannot write the output")
			      : pyag_error_nomem("the output");
	sb_deinit(&out);
	return err;
}

struct pyag_error *pyag_render_stats(const struct pyag_graph *graph,
				     pyag_write_fn *write, void *arg)
{
	if (!graph || !write)
		return pyag_error_create(PYAG_ERROR_USAGE, "no graph or write callback given");
	struct strbuf sb;
	sb_init(&sb);
	sb.flush = write;
	sb.flush_arg = arg;
	format_stats(&sb, graph_snapshot(graph), graph_graph(graph));
	bool ok = sb_flush(&sb);
	bool sink = sb.sink_failed;
	sb_deinit(&sb);
	if (ok)
		return NULL;
	return sink ? pyag_error_create(PYAG_ERROR_OS, "cannot write the output")
		    : pyag_error_nomem("the statistics");
}
