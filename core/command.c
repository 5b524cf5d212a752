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

/* ---- layouts -------------------------------------------------------------- */

struct warn_ctx {
	struct snapshot *snap;
	size_t count;
};

static void warn_drift(void *arg, const char *msg)
{
	struct warn_ctx *w = arg;
	snapshot_warn(w->snap, "%s", msg);
	w->count++;
}

/* The DWARF of the interpreter (and of _asyncio when it is a module):
 * from the cache, else parsed. *found false when no debug file exists;
 * else *files_ret (malloc'd) names the debug files, joined by " + ". */
static struct pyag_error *dwarf_layout(const struct target *t,
				       const struct pyag_host *host,
				       const struct options *o, uint64_t version,
				       struct pyag_layout *ret, bool *found,
				       char **files_ret)
{
	*found = false;
	*files_ret = NULL;
	/* the interpreter, and the _asyncio module: where its offsets are, or,
	 * when they could not be found, the module by name */
	char *elf[2] = { target_file_at(t, t->runtime_addr),
			 t->asyncio_debug_addr ? target_file_at(t, t->asyncio_debug_addr)
					       : target_asyncio_module(t) };
	size_t nelf = elf[0] ? 1 : 0;
	if (elf[1] && elf[0] && strcmp(elf[0], elf[1]) != 0)
		nelf = 2;
	else if (elf[1] && !elf[0]) {
		elf[0] = elf[1];
		elf[1] = NULL;
		nelf = 1;
	}
	char *dbg[2] = { NULL, NULL };
	struct pyag_error *err = NULL;
	char sysroot[64];
	const char *root = host->sysroot;
	if (!root && host->kind == PYAG_TARGET_LIVE && host->pid > 0 && !host->read) {
		snprintf(sysroot, sizeof(sysroot), "/proc/%d/root", host->pid);
		root = sysroot;
	}
	static const char *const default_dirs[] = { "/usr/lib/debug" };
	for (size_t i = 0; i < nelf && !err; i++) {
		if (o->ndebug_dirs)
			err = debuginfo_find(elf[i], NULL, o->debug_dirs, o->ndebug_dirs, &dbg[i]);
		if (!err && !dbg[i])
			err = debuginfo_find(elf[i], root, default_dirs, 1, &dbg[i]);
		if (!err && !dbg[i] && root)
			err = debuginfo_find(elf[i], NULL, default_dirs, 1, &dbg[i]);
	}
	if (err || !nelf || !dbg[0] || (nelf == 2 && !dbg[1]))
		goto out;
	*found = true;
	if (nelf == 2 && strcmp(dbg[0], dbg[1]) != 0) {
		size_t n = strlen(dbg[0]) + strlen(dbg[1]) + 4;
		*files_ret = malloc(n);
		if (*files_ret)
			snprintf(*files_ret, n, "%s + %s", dbg[0], dbg[1]);
	} else {
		*files_ret = strdup(dbg[0]);
	}
	char *key = NULL;
	if (!debuginfo_cache_key((const char *const *)elf, nelf, &key) && key &&
	    layout_cache_load(key, ret)) {
		ret->version = version;
		free(key);
		goto out;
	}
	memset(ret, 0, sizeof(*ret));
	ret->version = version;
	char *missing = NULL;
	err = layout_from_dwarf((const char *const *)dbg, nelf, ret, &missing);
	free(missing);
	if (!err)
		err = layout_validate(ret);
	if (!err && key)
		pyag_error_destroy(layout_cache_store(key, ret));
	free(key);
out:
	for (int i = 0; i < 2; i++) {
		free(elf[i]);
		free(dbg[i]);
	}
	return err;
}

static const uint64_t asyncio_fields[] = {
	offsetof(struct pyag_layout, task_size), offsetof(struct pyag_layout, task_name),
	offsetof(struct pyag_layout, task_awaited_by), offsetof(struct pyag_layout, task_is_task),
	offsetof(struct pyag_layout, task_awaited_by_is_set), offsetof(struct pyag_layout, task_coro),
	offsetof(struct pyag_layout, task_node), offsetof(struct pyag_layout, ainterp_size),
	offsetof(struct pyag_layout, ainterp_tasks_head), offsetof(struct pyag_layout, athread_size),
	offsetof(struct pyag_layout, athread_running_loop),
	offsetof(struct pyag_layout, athread_running_task),
	offsetof(struct pyag_layout, athread_tasks_head),
};

/* The layout by policy: debug offsets, DWARF, or both cross-checked. */
static struct pyag_error *load_layout(struct pyag_reader *r, const struct target *t,
				      const struct pyag_host *host,
				      const struct options *o, struct snapshot *snap)
{
	struct pyag_layout off, dw;
	struct pyag_error *oerr = layout_from_debug_offsets(r, t->runtime_addr,
							    t->asyncio_debug_addr, &off);
	if (oerr && (oerr->code == PYAG_ERROR_VERSION || oerr->code == PYAG_ERROR_NOT_PYTHON ||
		     o->layout == LAYOUT_OFFSETS))
		return oerr;
	if (o->layout == LAYOUT_OFFSETS) {
		snap->layout = off;
		return NULL;
	}
	uint64_t version = off.version;
	bool found = false;
	char *files = NULL;
	struct pyag_error *derr = dwarf_layout(t, host, o, version, &dw, &found, &files);
	if (found && !derr) {
		snap->dwarf_files = files;  /* freed with the snapshot */
		files = NULL;
	}
	free(files);
	if (o->layout == LAYOUT_DWARF) {
		pyag_error_destroy(oerr);
		if (derr)
			return pyag_error_wrap(derr, "DWARF layout");
		if (!found)
			return pyag_error_create(PYAG_ERROR_NOT_FOUND,
						 "--layout=dwarf: no debug information for "
						 "the interpreter (install its -dbg package, "
						 "or give --debug-file-directory)");
		dw.source = "dwarf";
		snap->layout = dw;
		return NULL;
	}
	/* auto */
	if (oerr) {
		if (derr || !found) {
			pyag_error_destroy(derr);
			return oerr;
		}
		pyag_error_destroy(oerr);
		dw.source = "dwarf";
		snap->layout = dw;
		return NULL;
	}
	if (derr || !found) {
		if (derr)
			snapshot_warn(snap, "DWARF layout not used: %s", pyag_error_message(derr));
		pyag_error_destroy(derr);
		snap->layout = off;
		return NULL;
	}
	if (!off.have_asyncio && dw.have_asyncio) {
		/* the asyncio offsets could not be located: take them from DWARF */
		for (size_t i = 0; i < ARRAY_SIZE(asyncio_fields); i++)
			memcpy((uint8_t *)&off + asyncio_fields[i],
			       (uint8_t *)&dw + asyncio_fields[i], sizeof(uint64_t));
		off.have_asyncio = true;
	}
	struct warn_ctx wc = { snap, 0 };
	layout_compare(&off, &dw, warn_drift, &wc);
	off.source = "debug-offsets+dwarf";
	snap->layout = off;
	return layout_validate(&snap->layout);
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
