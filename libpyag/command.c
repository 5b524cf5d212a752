/*
 * pyag_command(): the one entry point the front ends call. Parse options,
 * open a reader, locate the interpreter, load the layout, walk, build the
 * graph, select and render.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct pyag_error *open_reader(const struct pyag_host *host,
				      struct pyag_reader **ret)
{
	if (host->read)
		return pyag_reader_create_callback(host->read, host->read_arg, ret);
	if (host->kind == PYAG_TARGET_CORE) {
		if (!host->core_path)
			return pyag_error_create(PYAG_ERROR_USAGE, "no core file given");
		return pyag_reader_create_core_ex(host->core_path, host->sysroot, ret);
	}
	if (host->pid <= 0)
		return pyag_error_create(PYAG_ERROR_USAGE, "no process to read");
	return pyag_reader_create_pid(host->pid, ret);
}

/* The TASK argument: an address of a known record, else a task name. */
static struct pyag_error *find_task(const struct snapshot *snap, const char *arg,
				    long *ret)
{
	if (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X')) {
		char *end;
		unsigned long long a = strtoull(arg, &end, 16);
		if (*end == '\0') {
			*ret = snapshot_find(snap, a);
			if (*ret >= 0)
				return NULL;
		}
	}
	for (size_t i = 0; i < snap->ntasks; i++)
		if (snap->tasks[i].is_task && strcmp(snap->tasks[i].name, arg) == 0) {
			*ret = (long)i;
			return NULL;
		}
	return pyag_error_create(PYAG_ERROR_NOT_FOUND,
				 "no task or future '%s' in the target (give an "
				 "address like 0x7f... or a task name)", arg);
}

static struct pyag_error *find_current(const struct snapshot *snap,
				       const struct pyag_host *host,
				       const struct options *o, long *ret)
{
	uint64_t tid = o->has_thread ? o->thread : host->selected_native_thread_id;
	if (!tid && snap->nthreads)
		tid = snap->threads[0].native_thread_id;  /* the main thread */
	for (size_t i = 0; i < snap->nthreads; i++) {
		if (snap->threads[i].native_thread_id != tid)
			continue;
		if (!snap->threads[i].running_task)
			return pyag_error_create(PYAG_ERROR_NOT_FOUND,
						 "thread %llu is not running an asyncio "
						 "task right now", (unsigned long long)tid);
		*ret = snapshot_find(snap, snap->threads[i].running_task);
		if (*ret >= 0)
			return NULL;
		return pyag_error_create(PYAG_ERROR_CORRUPT,
					 "thread %llu: running task 0x%llx unreadable",
					 (unsigned long long)tid,
					 (unsigned long long)snap->threads[i].running_task);
	}
	return pyag_error_create(PYAG_ERROR_NOT_FOUND,
				 "no Python thread with native id %llu",
				 (unsigned long long)tid);
}

/* Mark the records to print: the filters, or a task and everything that
 * (transitively) awaits it. */
static bool *select_records(const struct snapshot *snap, const struct options *o,
			    long task)
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
		if (o->has_thread && t->native_thread_id != o->thread)
			sel[i] = false;
		if (o->name_glob && (!t->is_task || !glob_match(o->name_glob, t->name)))
			sel[i] = false;
	}
	return sel;
}

static struct pyag_error *render(const struct pyag_host *host,
				 const struct options *o, struct snapshot *snap,
				 const char *how, pyag_write_fn *write, void *write_arg,
				 struct pyag_result *res)
{
	struct graph g;
	struct pyag_error *err = graph_build(snap, &g);
	if (err)
		return err;
	long task = -1;
	if (o->task)
		err = find_task(snap, o->task, &task);
	else if (o->current)
		err = find_current(snap, host, o, &task);
	if (err) {
		graph_deinit(&g);
		return err;
	}
	bool *sel = select_records(snap, o, task);
	if (!sel) {
		graph_deinit(&g);
		return &pyag_enomem;
	}
	struct render_ctx ctx = { snap, &g, o, sel, task };
	struct strbuf out, diag;
	sb_init(&out);
	sb_init(&diag);
	out.flush = write;
	out.flush_arg = write_arg;
	sb_puts(&out, "");
	sb_puts(&diag, "");
	bool nothing = true;
	for (size_t i = 0; i < snap->ntasks && nothing; i++)
		nothing = !(sel[i] && snap->tasks[i].is_task);
	if (nothing && o->format != FORMAT_JSON && task < 0) {
		free(sel);
		graph_deinit(&g);
		sb_deinit(&out);
		sb_deinit(&diag);
		if (o->has_thread || o->name_glob)
			return pyag_error_create(PYAG_ERROR_NOT_FOUND,
						 "no asyncio task matches the filters");
		return pyag_error_create(PYAG_ERROR_NOT_FOUND,
					 "no pending asyncio tasks in the target "
					 "(asyncio is loaded, but no task exists)");
	}
	switch (o->format) {
	case FORMAT_CALLGRAPH:
		if (task >= 0) {
			format_callgraph_task(&out, &ctx, (size_t)task);
		} else {
			format_callgraph(&out, &ctx);
		}
		break;
	case FORMAT_JSON:
		format_json(&out, &ctx);
		break;
	case FORMAT_TREE:
		format_tree(&out, &ctx);
		break;
	case FORMAT_TABLE:
		format_table(&out, &ctx, false);
		break;
	case FORMAT_CSV:
		format_table(&out, &ctx, true);
		break;
	case FORMAT_DOT:
		format_dot(&out, &ctx);
		break;
	}
	for (size_t i = 0; i < snap->nwarnings; i++)
		sb_printf(&diag, "warning: %s\n", snap->warnings[i]);
	if (snap->warnings_dropped)
		sb_printf(&diag, "warning: %zu more warnings\n", snap->warnings_dropped);
	if (g.ncycles)
		sb_printf(&diag, "warning: the await graph has %zu cycle%s (a deadlock)\n",
			  g.ncycles, g.ncycles == 1 ? "" : "s");
	res->status = (snap->nwarnings || g.ncycles) ? 1 : 0;
	if (o->stats)
		format_stats(&diag, &ctx, how);
	free(sel);
	graph_deinit(&g);
	if (write && !sb_flush(&out)) {
		sb_deinit(&out);
		sb_deinit(&diag);
		return pyag_error_create(PYAG_ERROR_OS, "cannot write the output");
	}
	res->output = sb_steal(&out);
	res->diagnostics = sb_steal(&diag);
	if (!res->output || !res->diagnostics) {
		pyag_result_deinit(res);
		return &pyag_enomem;
	}
	return NULL;
}

struct pyag_error *pyag_command(const struct pyag_host *host, int argc,
				char *const argv[], struct pyag_result *res)
{
	return pyag_command_stream(host, argc, argv, NULL, NULL, res);
}

struct pyag_error *pyag_command_stream(const struct pyag_host *host, int argc,
				       char *const argv[], pyag_write_fn *write,
				       void *write_arg, struct pyag_result *res)
{
	memset(res, 0, sizeof(*res));
	struct options o;
	struct pyag_error *err = options_parse(argc, argv, &o);
	if (err)
		return err;
	if (o.help) {
		res->output = strdup(pyag_usage());
		res->diagnostics = strdup("");
		if (!res->output || !res->diagnostics) {
			pyag_result_deinit(res);
			return &pyag_enomem;
		}
		return NULL;
	}
	double t0 = now_ms();
	struct pyag_reader *r = NULL;
	struct target t;
	struct snapshot snap;
	struct pid_stop stop = { 0 };
	bool have_target = false;
	snapshot_init(&snap);
	err = open_reader(host, &r);
	if (err)
		goto out;
	r->trace = host->trace;
	r->trace_arg = host->trace_arg;
	if (host->stop_threads && host->kind == PYAG_TARGET_LIVE && !host->read) {
		err = pid_stop_all(host->pid, &stop);
		if (err)
			goto out;
	}
	err = target_locate(&t, r, host);
	if (err)
		goto out;
	have_target = true;
	err = load_layout(r, &t, host, &o, &snap);
	if (err)
		goto out;
	if (!snap.layout.have_asyncio && t.missing_file) {
		err = pyag_error_create(
			PYAG_ERROR_NO_ASYNCIO,
			"the asyncio debug offsets are in %s, which is not readable "
			"here: give the target's root with --sysroot DIR (gdb: set "
			"sysroot DIR)", t.missing_file);
		goto out;
	}
	if (!snap.layout.have_asyncio) {
		err = pyag_error_create(
			PYAG_ERROR_NO_ASYNCIO,
			t.asyncio_mapped
				? "the _asyncio module is loaded but its debug offsets "
				  "(.AsyncioDebug section) were not found"
				: "asyncio is not loaded in the target (no _asyncio "
				  "module mapped)");
		goto out;
	}
	struct walk_limits lim;
	walk_default_limits(&lim);
	snap.kind = host->kind;
	snap.pid = host->pid;
	if (reader_core_file(r))
		snap.pid = reader_core_file(r)->pid;
	/* A process that runs while it is read (--no-stop, or a tracer
	 * already holds it) can change a list under us: a torn read shows
	 * as warnings (broken links, loops, unreadable objects). Read again
	 * from a fresh cache; if every attempt is torn, say so. */
	bool running = host->kind == PYAG_TARGET_LIVE && !host->read &&
		       !stop.ntids && pid_running(host->pid);
	unsigned attempts = running ? NO_STOP_ATTEMPTS : 1;
	for (unsigned a = 1;; a++) {
		err = walk_target(r, &snap.layout, t.runtime_addr, &lim, &snap);
		snap.attempts = a;
		if (err || !snap.nwarnings || a == attempts)
			break;
		snapshot_restart(&snap);
		pyag_reader_invalidate(r);
	}
	pid_resume_all(&stop);  /* everything is read: let it run */
	if (err)
		goto out;
	if (running && snap.nwarnings)
		snapshot_warn(&snap, "the process ran while it was read (--no-stop): "
			      "%u reads gave an inconsistent graph; it may be partial "
			      "(the default mode stops the threads)", snap.attempts);
	snap.bytes_read = r->bytes_read;
	snap.read_calls = r->read_calls;
	snap.elapsed_ms = now_ms() - t0;
	err = render(host, &o, &snap, t.runtime_how, write, write_arg, res);
out:
	pid_resume_all(&stop);
	snapshot_deinit(&snap);
	if (have_target)
		target_deinit(&t);
	pyag_reader_destroy(r);
	return err;
}

void pyag_result_deinit(struct pyag_result *res)
{
	if (!res)
		return;
	free(res->output);
	free(res->diagnostics);
	memset(res, 0, sizeof(*res));
}
