/*
 * The snapshot: the plain records a walk produces (tasks and futures,
 * threads, warnings), their index by address, and the memory they live in.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

void snapshot_init(struct snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
}

void snapshot_deinit(struct snapshot *snap)
{
	free(snap->tasks);
	free(snap->threads);
	for (size_t i = 0; i < snap->nwarnings; i++)
		free(snap->warnings[i].message);
	free(snap->warnings);
	free(snap->loops);
	free(snap->dwarf_files);
	u64map_deinit(&snap->index);
	intern_deinit(&snap->strings);
	arena_deinit(&snap->mem);
	memset(snap, 0, sizeof(*snap));
}

/* Drop what a walk recorded, keeping what describes the target (layout,
 * debug files, kind, pid), for a walk again. */
void snapshot_restart(struct snapshot *snap)
{
	struct snapshot keep = *snap;
	snap->dwarf_files = NULL;
	snapshot_deinit(snap);
	snap->layout = keep.layout;
	snap->dwarf_files = keep.dwarf_files;
	snap->kind = keep.kind;
	snap->runtime_how = keep.runtime_how;
	snap->pid = keep.pid;
}

void snapshot_nomem(struct snapshot *snap, const char *what)
{
	if (!snap->nomem)
		snap->nomem = what;
}

#define MAX_WARNINGS 1000u

static void snapshot_vwarn(struct snapshot *snap, enum pyag_warning_code code,
			   uint64_t address, const char *fmt, va_list ap)
{
	if (snap->nwarnings >= MAX_WARNINGS) {
		snap->warnings_dropped++;
		return;
	}
	if (snap->nwarnings == snap->cap_warnings) {
		size_t cap = snap->cap_warnings ? snap->cap_warnings * 2 : 8;
		struct warning_rec *w = realloc(snap->warnings, cap * sizeof(*w));
		if (!w) {
			snapshot_nomem(snap, "warnings");
			return;
		}
		snap->warnings = w;
		snap->cap_warnings = cap;
	}
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0) {
		snapshot_nomem(snap, "warnings");
		return;
	}
	snap->warnings[snap->nwarnings++] = (struct warning_rec){ code, address, msg };
}

void snapshot_warn_at(struct snapshot *snap, enum pyag_warning_code code,
		      uint64_t address, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	snapshot_vwarn(snap, code, address, fmt, ap);
	va_end(ap);
}

void snapshot_warn(struct snapshot *snap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	snapshot_vwarn(snap, PYAG_WARNING_LAYOUT, 0, fmt, ap);
	va_end(ap);
}

long snapshot_find(const struct snapshot *snap, uint64_t addr)
{
	uint32_t v;
	return u64map_get(&snap->index, addr, &v) ? (long)v : -1;
}

long snapshot_awaiter(const struct snapshot *snap, const struct task_rec *t,
		      uint32_t k)
{
	if (t->awaited_idx)
		return t->awaited_idx[k];
	return snapshot_find(snap, t->awaited_by[k]);
}

struct task_rec *snapshot_add_task(struct snapshot *snap, uint64_t addr)
{
	if (snap->ntasks == snap->cap_tasks) {
		size_t cap = snap->cap_tasks ? snap->cap_tasks * 2 : 64;
		struct task_rec *t = realloc(snap->tasks, cap * sizeof(*t));
		if (!t) {
			snapshot_nomem(snap, "task records");
			return NULL;
		}
		snap->tasks = t;
		snap->cap_tasks = cap;
	}
	if (!u64map_put(&snap->index, addr, (uint32_t)snap->ntasks)) {
		snapshot_nomem(snap, "the task index");
		return NULL;
	}
	struct task_rec *t = &snap->tasks[snap->ntasks++];
	memset(t, 0, sizeof(*t));
	t->addr = addr;
	return t;
}

const char *snapshot_intern(struct snapshot *snap, const char *s, size_t n)
{
	const char *r = intern_get(&snap->strings, s, n);
	if (!r)
		snapshot_nomem(snap, "names");
	return r;
}

struct loop_rec *snapshot_add_loop(struct snapshot *snap)
{
	if (snap->nloops == snap->cap_loops) {
		size_t cap = snap->cap_loops ? snap->cap_loops * 2 : 4;
		struct loop_rec *l = realloc(snap->loops, cap * sizeof(*l));
		if (!l) {
			snapshot_nomem(snap, "loop records");
			return NULL;
		}
		snap->loops = l;
		snap->cap_loops = cap;
	}
	struct loop_rec *l = &snap->loops[snap->nloops++];
	memset(l, 0, sizeof(*l));
	return l;
}

struct thread_rec *snapshot_add_thread(struct snapshot *snap)
{
	if (snap->nthreads == snap->cap_threads) {
		size_t cap = snap->cap_threads ? snap->cap_threads * 2 : 8;
		struct thread_rec *t = realloc(snap->threads, cap * sizeof(*t));
		if (!t) {
			snapshot_nomem(snap, "thread records");
			return NULL;
		}
		snap->threads = t;
		snap->cap_threads = cap;
	}
	struct thread_rec *t = &snap->threads[snap->nthreads++];
	memset(t, 0, sizeof(*t));
	return t;
}
