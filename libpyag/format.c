/*
 * Renderers. Each writes into a strbuf and never prints on its own.
 *   callgraph  asyncio.format_call_graph() text
 *   tree       python -m asyncio pstree (drawn even with cycles)
 *   table/csv  python -m asyncio ps
 *   json       the stable machine format (schema 1)
 *   dot        Graphviz
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

static const char *const kind_tags[] = { "", "async ", "async generator ", "generator " };
static const char *const kind_names[] = { "", "async", "async generator", "generator" };

/*
 * The frames of a record after --limit (innermost first). full: what
 * CPython's ps/pstree show (through async generators); else what
 * capture_call_graph() shows.
 */
static void stack_frames(const struct render_ctx *ctx, const struct task_rec *t,
			 bool full, const struct frame_rec **ret, uint32_t *n)
{
	*ret = t->frames;
	*n = t->nframes;
	if (!full && t->ncapture < t->nframes) {
		*ret = t->frames + (t->nframes - t->ncapture);
		*n = t->ncapture;
	}
	uint32_t total = *n;
	if (!ctx->ro->has_limit)
		return;
	long lim = ctx->ro->limit;
	if (lim == 0) {
		*n = 0;
	} else if (lim > 0) {
		/* keeps the entries closest to the invocation point: outermost */
		if ((unsigned long)lim < total) {
			*ret += total - (uint32_t)lim;
			*n = (uint32_t)lim;
		}
	} else {
		if ((unsigned long)-lim < total)
			*n = (uint32_t)-lim;
	}
}

static void limited_frames(const struct render_ctx *ctx, const struct task_rec *t,
			   const struct frame_rec **ret, uint32_t *n)
{
	stack_frames(ctx, t, false, ret, n);
}

void format_ps_frames(const struct render_ctx *ctx, const struct task_rec *t,
		      const struct frame_rec **ret, uint32_t *n)
{
	stack_frames(ctx, t, true, ret, n);
}

static void indent(struct strbuf *sb, size_t level)
{
	sb_pad(sb, ' ', level * 4);
}

static void callgraph_header(struct strbuf *sb, const struct snapshot *snap,
			     long idx, uint64_t addr, size_t level)
{
	indent(sb, level);
	if (idx >= 0 && snap->tasks[idx].is_task) {
		sb_puts(sb, "* Task(name=");
		/* the quotes are part of the repr, not of the name */
		sb_style(sb, PYAG_STYLE_TASK_NAME);
		py_repr(sb, snap->tasks[idx].name);
		sb_style(sb, PYAG_STYLE_NONE);
		sb_puts(sb, ", id=");
	} else {
		sb_puts(sb, "* Future(id=");
	}
	sb_style(sb, PYAG_STYLE_ADDRESS);
	sb_printf(sb, "0x%llx", (unsigned long long)addr);
	sb_style(sb, PYAG_STYLE_NONE);
	sb_putc(sb, ')');
}

static void callgraph_body(struct strbuf *sb, const struct render_ctx *ctx,
			   const struct task_rec *t, size_t level)
{
	const struct frame_rec *fr;
	uint32_t nf;
	limited_frames(ctx, t, &fr, &nf);
	if (nf) {
		indent(sb, level);
		sb_puts(sb, "  + Call stack:\n");
		for (uint32_t i = 0; i < nf; i++) {
			indent(sb, level);
			sb_puts(sb, "  |   File ");
			sb_style(sb, PYAG_STYLE_FILENAME);
			py_repr(sb, fr[i].filename);
			sb_style(sb, PYAG_STYLE_NONE);
			if (fr[i].line >= 0)
				sb_printf(sb, ", line %d, in ", fr[i].line);
			else
				sb_puts(sb, ", line None, in ");
			sb_puts(sb, kind_tags[fr[i].kind & 3]);
			sb_style(sb, PYAG_STYLE_FUNCTION);
			sb_puts(sb, fr[i].function);
			sb_style(sb, PYAG_STYLE_NONE);
			sb_puts(sb, "()\n");
		}
	}
}

/*
 * format_call_graph(task): the task, its stack, then recursively everything
 * that awaits it. Iterative (an awaited-by chain can be as long as there are
 * tasks); a record already on the current path is an await cycle, where
 * format_call_graph() would recurse forever: it is printed once, marked.
 */
void format_callgraph_task(struct strbuf *sb, const struct render_ctx *ctx,
			   size_t index)
{
	const struct snapshot *snap = ctx->snap;
	struct frame { long idx; uint64_t addr; uint32_t next; };
	size_t cap = 64, sp = 0;
	struct frame *st = malloc(cap * sizeof(*st));
	bool *on_path = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(bool));
	if (!st || !on_path) {
		free(st);
		free(on_path);
		sb->failed = true;
		return;
	}
	/* enter the root */
	callgraph_header(sb, snap, (long)index, snap->tasks[index].addr, 0);
	sb_putc(sb, '\n');
	callgraph_body(sb, ctx, &snap->tasks[index], 0);
	st[sp++] = (struct frame){ (long)index, snap->tasks[index].addr, 0 };
	on_path[index] = true;
	while (sp) {
		struct frame *f = &st[sp - 1];
		const struct task_rec *t = &snap->tasks[f->idx];
		size_t level = sp - 1;
		if (f->next == 0 && t->nawaited_by) {
			indent(sb, level);
			sb_puts(sb, "  + Awaited by:\n");
		}
		if (f->next >= t->nawaited_by) {
			on_path[f->idx] = false;
			sp--;
			continue;
		}
		uint32_t k = f->next++;
		uint64_t a = t->awaited_by[k];
		long ai = snapshot_awaiter(snap, t, k);
		callgraph_header(sb, snap, ai, a, level + 1);
		if (ai >= 0 && on_path[ai]) {
			sb_puts(sb, "  <- await cycle, shown above\n");
			continue;
		}
		sb_putc(sb, '\n');
		if (ai < 0)
			continue;  /* unreadable awaiter: header only */
		callgraph_body(sb, ctx, &snap->tasks[ai], level + 1);
		if (sp == cap) {
			cap *= 2;
			struct frame *n = realloc(st, cap * sizeof(*st));
			if (!n) {
				sb->failed = true;
				break;
			}
			st = n;
		}
		st[sp++] = (struct frame){ ai, a, 0 };
		on_path[ai] = true;
	}
	free(st);
	free(on_path);
}

void format_callgraph(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	bool first = true;
	for (size_t i = 0; i < snap->ntasks; i++) {
		if (!snap->tasks[i].is_task || !snap->tasks[i].listed ||
		    !ctx->selected[i])
			continue;
		if (!first)
			sb_putc(sb, '\n');
		first = false;
		format_callgraph_task(sb, ctx, i);
	}
}

/* ---- json ------------------------------------------------------------------ */

static void json_addr(struct strbuf *sb, uint64_t a)
{
	if (a)
		sb_printf(sb, "\"0x%llx\"", (unsigned long long)a);
	else
		sb_puts(sb, "null");
}

void json_string_or_null(struct strbuf *sb, const char *s)
{
	if (s)
		json_string(sb, s);
	else
		sb_puts(sb, "null");
}

/* [{"function", "filename", "line", "kind"}...] */
static void json_frames(struct strbuf *sb, const struct frame_rec *fr, uint32_t nf)
{
	sb_putc(sb, '[');
	for (uint32_t k = 0; k < nf; k++) {
		sb_puts(sb, k ? ", " : "");
		sb_puts(sb, "{\"function\": ");
		json_string(sb, fr[k].function);
		sb_puts(sb, ", \"filename\": ");
		json_string(sb, fr[k].filename);
		if (fr[k].line >= 0)
			sb_printf(sb, ", \"line\": %d", fr[k].line);
		else
			sb_puts(sb, ", \"line\": null");
		sb_printf(sb, ", \"kind\": \"%s\"}", kind_names[fr[k].kind & 3]);
	}
	sb_putc(sb, ']');
}

void format_json(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	const struct graph *g = ctx->graph;
	char vs[32];
	layout_version_string(snap->layout.version, vs, sizeof(vs));
	sb_printf(sb, "{\"schema\": 1,\n \"target\": {\"kind\": \"%s\", \"pid\": %d, "
		  "\"python\": \"%s\", \"hexversion\": %llu, \"free_threaded\": %s, "
		  "\"layout\": \"%s\"},\n",
		  snap->kind == PYAG_TARGET_CORE ? "core" : "live", snap->pid, vs,
		  (unsigned long long)snap->layout.version,
		  snap->layout.free_threaded ? "true" : "false", snap->layout.source);
	sb_puts(sb, " \"threads\": [");
	bool first = true;
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct thread_rec *th = &snap->threads[i];
		if (ctx->ro->native_thread_id && th->native_thread_id != ctx->ro->native_thread_id)
			continue;
		sb_puts(sb, first ? "\n  " : ",\n  ");
		first = false;
		sb_printf(sb, "{\"interpreter\": %lld, \"thread_id\": %llu, "
			  "\"native_thread_id\": %llu, \"running_task\": ",
			  (long long)th->interp_id, (unsigned long long)th->thread_id,
			  (unsigned long long)th->native_thread_id);
		json_addr(sb, th->running_task);
		sb_puts(sb, ", \"name\": ");
		json_string_or_null(sb, th->name);
		sb_puts(sb, ", \"comm\": ");
		json_string_or_null(sb, th->comm);
		sb_printf(sb, ", \"holds_gil\": %s, \"state\": \"%s\", \"loop\": ",
			  th->holds_gil < 0 ? "null" : th->holds_gil ? "true" : "false",
			  pyag_thread_state_name((enum pyag_thread_state)th->state));
		json_addr(sb, th->loop);
		sb_puts(sb, ", \"stack\": ");
		json_frames(sb, th->stack, th->nstack);
		sb_putc(sb, '}');
	}
	sb_puts(sb, "],\n \"tasks\": [");
	first = true;
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct task_rec *t = &snap->tasks[i];
		if (!ctx->selected[i])
			continue;
		sb_puts(sb, first ? "\n  " : ",\n  ");
		first = false;
		sb_printf(sb, "{\"id\": \"0x%llx\", \"kind\": \"%s\", \"name\": ",
			  (unsigned long long)t->addr, t->is_task ? "task" : "future");
		if (t->is_task)
			json_string(sb, t->name);
		else
			sb_puts(sb, "null");
		sb_printf(sb, ", \"interpreter\": %lld, \"native_thread_id\": %llu, "
			  "\"running\": %s, ",
			  (long long)t->interp_id, (unsigned long long)t->native_thread_id,
			  t->running ? "true" : "false");
		const struct frame_rec *fr;
		uint32_t nf;
		limited_frames(ctx, t, &fr, &nf);
		sb_puts(sb, "\"call_stack\": ");
		json_frames(sb, fr, nf);
		sb_puts(sb, ", \"awaited_by\": [");
		for (uint32_t k = 0; k < t->nawaited_by; k++) {
			sb_puts(sb, k ? ", " : "");
			json_addr(sb, t->awaited_by[k]);
		}
		/* the edges rebuilt from the heap rather than recorded (3.11-3.13) */
		sb_puts(sb, "], \"awaited_by_inferred\": [");
		for (uint32_t k = 0; t->inferred && k < t->nawaited_by; k++) {
			sb_puts(sb, k ? ", " : "");
			json_addr(sb, t->awaited_by[k]);
		}
		sb_putc(sb, ']');
		if (snap->waiting) {
			sb_puts(sb, ", \"awaiting\": ");
			format_awaiting_json(sb, t->awaiting);
		}
		sb_putc(sb, '}');
	}
	sb_puts(sb, "],\n \"cycles\": [");
	for (size_t c = 0; c < g->ncycles; c++) {
		sb_puts(sb, c ? ", [" : "[");
		for (uint32_t k = 0; k < g->cycles[c].len; k++) {
			sb_puts(sb, k ? ", " : "");
			json_addr(sb, snap->tasks[g->cycles[c].v[k]].addr);
		}
		sb_putc(sb, ']');
	}
	sb_puts(sb, "],\n ");
	if (snap->waiting) {
		sb_puts(sb, "\"loops\": ");
		format_loops_json(sb, ctx);
		sb_puts(sb, ",\n ");
	}
	sb_puts(sb, "\"warnings\": [");
	for (size_t i = 0; i < snap->nwarnings; i++) {
		sb_puts(sb, i ? ", " : "");
		json_string(sb, snap->warnings[i].message);
	}
	sb_puts(sb, "]}\n");
}

/* ---- helpers shared by tree, table, dot ------------------------------------ */

/* The same, in the styles of its parts. */
static void frame_label_styled(struct strbuf *sb, const struct frame_rec *f)
{
	sb_style(sb, PYAG_STYLE_FUNCTION);
	sb_puts(sb, f->function);
	sb_style(sb, PYAG_STYLE_NONE);
	sb_putc(sb, ' ');
	sb_style(sb, PYAG_STYLE_FILENAME);
	sb_puts(sb, f->filename);
	sb_style(sb, PYAG_STYLE_NONE);
	if (f->line >= 0)
		sb_printf(sb, ":%d", f->line);
}

static const char *task_label(const struct task_rec *t, char *buf, size_t size)
{
	if (t->is_task)
		return t->name;
	snprintf(buf, size, "Future(id=0x%llx)", (unsigned long long)t->addr);
	return buf;
}

/* code points in a UTF-8 string, for Python's str.format padding */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void put_padded(struct strbuf *sb, const char *s, size_t width)
{
	sb_puts(sb, s);
	size_t n = utf8_len(s);
	if (n < width)
		sb_pad(sb, ' ', width - n);
}

/* Whether the selected tasks belong to more than one interpreter: the
 * tree and the table then name the interpreter above its tasks (two
 * interpreters both have a Task-1). */
static bool several_interpreters(const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	bool seen = false;
	int64_t first = 0;
	for (size_t i = 0; i < snap->ntasks; i++) {
		if (!ctx->selected[i] || !snap->tasks[i].is_task)
			continue;
		if (!seen) {
			first = snap->tasks[i].interp_id;
			seen = true;
		} else if (snap->tasks[i].interp_id != first) {
			return true;
		}
	}
	return false;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The interpreters of the selected tasks, ascending (malloc'd; *n 0 and
 * NULL when there is none; sb failed when memory ran out). */
static int64_t *interpreter_ids(struct strbuf *sb, const struct render_ctx *ctx, size_t *n)
{
	const struct snapshot *snap = ctx->snap;
	int64_t *ids = NULL;
	size_t cap = 0;
	*n = 0;
	for (size_t i = 0; i < snap->ntasks; i++) {
		if (!ctx->selected[i] || !snap->tasks[i].is_task)
			continue;
		int64_t id = snap->tasks[i].interp_id;
		bool seen = false;
		for (size_t k = 0; k < *n && !seen; k++)
			seen = ids[k] == id;
		if (seen)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			int64_t *v = realloc(ids, cap * sizeof(*v));
			if (!v) {
				sb->failed = true;
				free(ids);
				*n = 0;
				return NULL;
			}
			ids = v;
		}
		ids[(*n)++] = id;
	}
	if (*n > 1)
		qsort(ids, *n, sizeof(*ids), cmp_i64);
	return ids;
}

static void interpreter_header(struct strbuf *sb, int64_t id, bool first)
{
	if (!first)
		sb_putc(sb, '\n');
	sb_printf(sb, "Interpreter %lld:\n", (long long)id);
}

/* ---- tree ------------------------------------------------------------------ */

static void tree_line(struct strbuf *sb, const struct tree *tr,
		      const struct snapshot *snap, const char *prefix, size_t plen,
		      bool last, uint32_t node, bool back_edge, bool waiting)
{
	const struct tnode *nd = &tr->nodes[node];
	sb_append(sb, prefix, plen);
	sb_puts(sb, last ? "└── " : "├── ");
	if (nd->is_task) {
		char buf[64];
		bool is_task = snap->tasks[nd->task].is_task;
		sb_puts(sb, is_task ? "(T) " : "(F) ");
		sb_style(sb, is_task ? PYAG_STYLE_TASK_NAME : PYAG_STYLE_NONE);
		sb_puts(sb, task_label(&snap->tasks[nd->task], buf, sizeof(buf)));
		sb_style(sb, PYAG_STYLE_NONE);
	} else if (nd->frame && sb->styled) {
		sb_puts(sb, " ");
		frame_label_styled(sb, nd->frame);
	} else {
		sb_puts(sb, " ");
		sb_puts(sb, nd->label);
	}
	if (back_edge)
		sb_puts(sb, "  <- await cycle");
	sb_putc(sb, '\n');
	const struct task_rec *t = nd->is_task ? &snap->tasks[nd->task] : NULL;
	if (waiting && !back_edge && t && t->is_task) {
		/* --waiting: what it is blocked on, at its children's indent */
		sb_append(sb, prefix, plen);
		sb_puts(sb, last ? "    " : "│   ");
		/* the children's branch goes on past it */
		sb_puts(sb, nd->first_edge ? "│   " : "    ");
		if (t->awaiting) {
			sb_puts(sb, "waits on ");
			format_awaiting_text(sb, snap, t->awaiting);
		} else {
			sb_puts(sb, !snap->waiting ? "waits on ?" : t->running ? "running"
								     : "ready to run");
		}
		sb_putc(sb, '\n');
	}
}

/* Draw the subtree under root; a task node already on the path is a back
 * edge: drawn and marked, not entered. */
static void tree_render(struct strbuf *sb, struct tree *tr,
			const struct snapshot *snap, uint32_t root, bool *on_path,
			bool waiting)
{
	struct item { uint32_t node; uint32_t next_edge; size_t plen; };
	size_t cap = 64, sp = 0;
	struct item *st = malloc(cap * sizeof(*st));
	struct strbuf prefix;
	sb_init(&prefix);
	if (!st) {
		sb->failed = true;
		return;
	}
	tree_line(sb, tr, snap, "", 0, true, root, false, waiting);
	tr->nodes[root].rendered = true;
	if (tr->nodes[root].is_task)
		on_path[tr->nodes[root].task] = true;
	sb_puts(&prefix, "    ");
	st[sp++] = (struct item){ root, tr->nodes[root].first_edge, prefix.len };
	while (sp) {
		struct item *it = &st[sp - 1];
		if (!it->next_edge) {
			if (tr->nodes[it->node].is_task)
				on_path[tr->nodes[it->node].task] = false;
			sp--;
			if (sp)
				prefix.len = st[sp - 1].plen;
			continue;
		}
		uint32_t child = tr->edges[it->next_edge - 1].child;
		it->next_edge = tr->edges[it->next_edge - 1].next;
		bool last = it->next_edge == 0;
		prefix.len = it->plen;
		const struct tnode *cn = &tr->nodes[child];
		bool back = cn->is_task && on_path[cn->task];
		tree_line(sb, tr, snap, prefix.data, prefix.len, last, child, back, waiting);
		if (back)
			continue;
		tr->nodes[child].rendered = true;
		if (cn->is_task)
			on_path[cn->task] = true;
		sb_puts(&prefix, last ? "    " : "│   ");
		if (sp == cap) {
			cap *= 2;
			struct item *n = realloc(st, cap * sizeof(*st));
			if (!n) {
				sb->failed = true;
				break;
			}
			st = n;
		}
		st[sp++] = (struct item){ child, cn->first_edge, prefix.len };
	}
	if (prefix.failed)
		sb->failed = true;
	free(st);
	sb_deinit(&prefix);
}

void format_tree(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	struct tree tr;
	tree_build(&tr, ctx);
	bool *on_path = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(bool));
	if (tr.failed || !on_path) {
		sb->failed = true;
		goto out;
	}
	/* the roots of each interpreter in turn, by id, under its name when
	 * there are several */
	size_t nids;
	int64_t *ids = interpreter_ids(sb, ctx, &nids);
	for (size_t k = 0; k < nids; k++) {
		if (nids > 1)
			interpreter_header(sb, ids[k], k == 0);
		for (size_t i = 0; i < tr.n; i++)
			if (tr.nodes[i].is_task && !tr.is_child[i] &&
			    snap->tasks[tr.nodes[i].task].interp_id == ids[k])
				tree_render(sb, &tr, snap, (uint32_t)i, on_path, ctx->ro->waiting);
	}
	free(ids);
	/* await cycles are reachable from no root: draw them from their
	 * first task in record order */
	for (size_t i = 0; i < tr.n; i++)
		if (tr.nodes[i].is_task && !tr.nodes[i].rendered)
			tree_render(sb, &tr, snap, (uint32_t)i, on_path, ctx->ro->waiting);
	bool cycle_header = false;
	for (size_t c = 0; c < ctx->graph->ncycles; c++) {
		/* the cycles the selection shows a task of */
		bool shown = false;
		for (uint32_t k = 0; k < ctx->graph->cycles[c].len && !shown; k++)
			shown = ctx->selected[ctx->graph->cycles[c].v[k]];
		if (!shown)
			continue;
		if (!cycle_header)
			sb_putc(sb, '\n');
		cycle_header = true;
		{
			sb_puts(sb, "cycle: ");
			for (uint32_t k = 0; k < ctx->graph->cycles[c].len; k++) {
				char buf[64];
				if (k)
					sb_puts(sb, " → ");
				sb_puts(sb, task_label(&snap->tasks[ctx->graph->cycles[c].v[k]],
						       buf, sizeof(buf)));
			}
			sb_putc(sb, '\n');
		}
	}
out:
	free(on_path);
	tree_deinit(&tr);
}


/* ---- threads ---------------------------------------------------------------- */

static const char *thread_state_text(const struct snapshot *snap,
				     const struct thread_rec *th)
{
	switch (th->state) {
	case PYAG_THREAD_RUNNING:
		return snap->layout.free_threaded ? "running" : "holds the GIL";
	case PYAG_THREAD_WAITING_GIL:
		return "waiting for the GIL";
	case PYAG_THREAD_GIL_RELEASED:
		/* 3.15 publishes whether a thread waits for the GIL */
		return snap->layout.tstate_gil_requested
			       ? "GIL released: in a blocking call"
			       : "GIL released: in a blocking call, or waiting for the GIL";
	case PYAG_THREAD_IDLE:
		return "idle: no Python frame";
	case PYAG_THREAD_SUSPENDED:
		return "suspended by the interpreter";
	default:
		return "state unknown";
	}
}

/* The tasks of one thread (native 0: those on the interpreter's list)
 * as a tree, under a heading; nothing when it has none. */
static void threads_tasks(struct strbuf *sb, const struct render_ctx *ctx,
			  bool *sel, int64_t interp, uint64_t native, uint64_t loop)
{
	const struct snapshot *snap = ctx->snap;
	bool any = false;
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct task_rec *t = &snap->tasks[i];
		sel[i] = ctx->selected[i] && t->native_thread_id == native &&
			 t->interp_id == interp;
		any |= sel[i] && t->is_task;
	}
	if (!any)
		return;
	if (native && loop)
		sb_printf(sb, "Tasks (event loop 0x%llx):\n", (unsigned long long)loop);
	else if (native)
		sb_puts(sb, "Tasks:\n");
	else
		sb_printf(sb, "Tasks of interpreter %lld on no thread's list:\n",
			  (long long)interp);
	struct render_ctx sub = *ctx;
	sub.selected = sel;
	format_tree(sb, &sub);
}

void format_threads(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	bool *sel = calloc(snap->ntasks ? snap->ntasks : 1, sizeof(bool));
	if (!sel) {
		sb->failed = true;
		return;
	}
	sb_puts(sb, "Python frames only: the native frames of a thread are in "
		    "gdb's or lldb's `bt` (same thread id).\n");
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct thread_rec *th = &snap->threads[i];
		if (ctx->ro->native_thread_id && th->native_thread_id != ctx->ro->native_thread_id)
			continue;
		sb_printf(sb, "\nThread %llu", (unsigned long long)th->native_thread_id);
		if (th->name) {
			sb_putc(sb, ' ');
			sb_style(sb, PYAG_STYLE_TASK_NAME);
			py_repr(sb, th->name);
			sb_style(sb, PYAG_STYLE_NONE);
		}
		if (th->comm && (!th->name || strcmp(th->comm, th->name) != 0)) {
			sb_puts(sb, " [comm ");
			py_repr(sb, th->comm);
			sb_putc(sb, ']');
		}
		sb_printf(sb, " (interpreter %lld): %s\n", (long long)th->interp_id,
			  thread_state_text(snap, th));
		if (th->nstack) {
			sb_puts(sb, "Stack (most recent call last):\n");
			for (uint32_t k = th->nstack; k-- > 0;) {
				const struct frame_rec *f = &th->stack[k];
				sb_puts(sb, "  File \"");
				sb_style(sb, PYAG_STYLE_FILENAME);
				sb_puts(sb, f->filename);
				sb_style(sb, PYAG_STYLE_NONE);
				if (f->line >= 0)
					sb_printf(sb, "\", line %d, in ", f->line);
				else
					sb_puts(sb, "\", line None, in ");
				sb_style(sb, PYAG_STYLE_FUNCTION);
				sb_puts(sb, f->function);
				sb_style(sb, PYAG_STYLE_NONE);
				sb_putc(sb, '\n');
			}
		}
		threads_tasks(sb, ctx, sel, th->interp_id, th->native_thread_id, th->loop);
	}
	if (!ctx->ro->native_thread_id) {
		/* tasks left on an interpreter's list by threads that exited */
		for (size_t i = 0; i < snap->ntasks; i++) {
			const struct task_rec *t = &snap->tasks[i];
			if (t->native_thread_id || !t->is_task || !ctx->selected[i])
				continue;
			bool done = false;
			for (size_t k = 0; k < i && !done; k++)
				done = !snap->tasks[k].native_thread_id &&
				       snap->tasks[k].interp_id == t->interp_id;
			if (done)
				continue;
			sb_putc(sb, '\n');
			threads_tasks(sb, ctx, sel, t->interp_id, 0, 0);
		}
	}
	free(sel);
}

/* ---- table / csv ------------------------------------------------------------ */

static void stack_names(struct strbuf *sb, const struct render_ctx *ctx,
			const struct task_rec *t)
{
	const struct frame_rec *fr;
	uint32_t nf;
	format_ps_frames(ctx, t, &fr, &nf);
	for (uint32_t i = 0; i < nf; i++) {
		if (i)
			sb_puts(sb, " -> ");
		sb_puts(sb, fr[i].function);
	}
}

static void csv_field(struct strbuf *sb, const char *s, bool last)
{
	if (strpbrk(s, ",\"\n\r")) {
		sb_putc(sb, '"');
		for (; *s; s++) {
			if (*s == '"')
				sb_putc(sb, '"');
			sb_putc(sb, *s);
		}
		sb_putc(sb, '"');
	} else {
		sb_puts(sb, s);
	}
	sb_putc(sb, last ? '\n' : ',');
}

/* The columns of ps, and with --waiting an eighth: what the task waits on. */
#define TABLE_COLS 8

static void table_row(struct strbuf *sb, bool csv, const char *const cols[TABLE_COLS],
		      int ncols)
{
	static const size_t widths[TABLE_COLS] = { 10, 20, 20, 50, 50, 15, 15, 0 };
	for (int c = 0; c < ncols; c++) {
		if (csv) {
			csv_field(sb, cols[c], c == ncols - 1);
		} else {
			if (c)
				sb_putc(sb, ' ');
			if (widths[c])
				put_padded(sb, cols[c], widths[c]);
			else
				sb_puts(sb, cols[c]);
		}
	}
	if (!csv)
		sb_putc(sb, '\n');
}

/* The rows of one task: one per awaiter, or one without. */
static void table_task_rows(struct strbuf *sb, const struct render_ctx *ctx,
			    const struct task_rec *t, bool csv, struct strbuf *stack,
			    struct strbuf *chain)
{
	const struct snapshot *snap = ctx->snap;
	char tid[24], id[24], aid[24];
	snprintf(tid, sizeof(tid), "%llu", (unsigned long long)t->native_thread_id);
	snprintf(id, sizeof(id), "0x%llx", (unsigned long long)t->addr);
	stack->len = 0;
	sb_puts(stack, "");
	stack_names(stack, ctx, t);
	int ncols = ctx->ro->waiting ? 8 : 7;
	struct strbuf waits;
	sb_init(&waits);
	sb_puts(&waits, "");
	if (ctx->ro->waiting && t->awaiting)
		format_awaiting_text(&waits, snap, t->awaiting);
	else if (ctx->ro->waiting)
		sb_puts(&waits, !snap->waiting ? "?" : t->running ? "running" : "ready to run");
	if (waits.failed)
		sb->failed = true;
	const char *wcol = waits.data ? waits.data : "";
	if (!t->nawaited_by) {
		const char *cols[TABLE_COLS] = { tid, id, t->name, stack->data, "", "", "0x0",
						 wcol };
		table_row(sb, csv, cols, ncols);
		sb_deinit(&waits);
		return;
	}
	for (uint32_t k = 0; k < t->nawaited_by; k++) {
		long p = snapshot_awaiter(snap, t, k);
		chain->len = 0;
		sb_puts(chain, "");
		const char *aname = "Unknown";
		if (p >= 0) {
			stack_names(chain, ctx, &snap->tasks[p]);
			if (snap->tasks[p].listed && snap->tasks[p].is_task)
				aname = snap->tasks[p].name;
		}
		snprintf(aid, sizeof(aid), "0x%llx", (unsigned long long)t->awaited_by[k]);
		const char *cols[TABLE_COLS] = { tid, id, t->name, stack->data, chain->data,
						 aname, aid, wcol };
		table_row(sb, csv, cols, ncols);
	}
	sb_deinit(&waits);
}

void format_table(struct strbuf *sb, const struct render_ctx *ctx, bool csv)
{
	const struct snapshot *snap = ctx->snap;
	static const char *const header[TABLE_COLS] = {
		"tid", "task id", "task name", "coroutine stack", "awaiter chain",
		"awaiter name", "awaiter id", "waits on",
	};
	int ncols = ctx->ro->waiting ? 8 : 7;
	/* the rows of each interpreter in turn, by id; when there are several,
	 * a table under each one's name (not CSV: one header, one table) */
	size_t nids;
	int64_t *ids = interpreter_ids(sb, ctx, &nids);
	bool headers = !csv && nids > 1;
	struct strbuf stack, chain;
	sb_init(&stack);
	sb_init(&chain);
	for (size_t pass = 0; pass < (nids ? nids : 1); pass++) {
		if (headers)
			interpreter_header(sb, ids[pass], pass == 0);
		if (headers || pass == 0) {
			table_row(sb, csv, header, ncols);
			if (!csv) {
				sb_pad(sb, '-', 180);
				sb_putc(sb, '\n');
			}
		}
		for (size_t i = 0; i < snap->ntasks; i++) {
			const struct task_rec *t = &snap->tasks[i];
			if (t->listed && t->is_task && ctx->selected[i] &&
			    (!nids || t->interp_id == ids[pass]))
				table_task_rows(sb, ctx, t, csv, &stack, &chain);
		}
	}
	free(ids);
	if (stack.failed || chain.failed)
		sb->failed = true;
	sb_deinit(&stack);
	sb_deinit(&chain);
}

/* ---- dot --------------------------------------------------------------------- */

static void dot_escaped(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_putc(sb, '\\');
		if (*s == '\n') {
			sb_puts(sb, "\\n");
			continue;
		}
		sb_putc(sb, *s);
	}
}

void format_dot(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	const struct graph *g = ctx->graph;
	sb_puts(sb, "digraph asyncio {\n"
		    "  rankdir=LR;\n"
		    "  node [shape=box, style=\"rounded\", fontname=\"monospace\", fontsize=10];\n"
		    "  edge [fontname=\"monospace\", fontsize=9];\n");
	/* one cluster per thread of an interpreter (a thread running two
	 * interpreters has a thread state in each), then the tasks on no
	 * listed thread (the interpreters' lists) */
	bool several = several_interpreters(ctx);
	for (size_t th = 0; th <= snap->nthreads; th++) {
		uint64_t tid = th < snap->nthreads ? snap->threads[th].native_thread_id : 0;
		int64_t interp = th < snap->nthreads ? snap->threads[th].interp_id : 0;
		bool any = false;
		for (size_t i = 0; i < snap->ntasks; i++) {
			const struct task_rec *t = &snap->tasks[i];
			if (!ctx->selected[i])
				continue;
			if (th < snap->nthreads &&
			    (t->native_thread_id != tid || t->interp_id != interp || !tid))
				continue;
			if (th == snap->nthreads) {
				/* tasks of threads we list got their cluster already */
				bool known = false;
				for (size_t k = 0; k < snap->nthreads && !known; k++)
					known = snap->threads[k].native_thread_id == t->native_thread_id &&
						snap->threads[k].interp_id == t->interp_id;
				if (known && t->native_thread_id)
					continue;
			}
			if (!any) {
				sb_printf(sb, "  subgraph cluster_%zu {\n    label=\"%s", th,
					  th < snap->nthreads ? "thread" : "no listed thread");
				if (th < snap->nthreads)
					sb_printf(sb, " %llu", (unsigned long long)tid);
				if (several && th < snap->nthreads)
					sb_printf(sb, ", interpreter %lld", (long long)interp);
				sb_puts(sb, "\";\n    style=dashed;\n");
				any = true;
			}
			char buf[64];
			sb_printf(sb, "    \"0x%llx\" [label=\"%s ", (unsigned long long)t->addr,
				  t->is_task ? "Task" : "Future");
			dot_escaped(sb, task_label(t, buf, sizeof(buf)));
			if (t->nframes) {
				sb_puts(sb, "\\n");
				struct strbuf fl;
				sb_init(&fl);
				tree_frame_label(&fl, &t->frames[0]);
				dot_escaped(sb, fl.data ? fl.data : "");
				sb_deinit(&fl);
			}
			sb_putc(sb, '"');
			if (t->running)
				sb_puts(sb, ", style=\"rounded,filled,bold\", fillcolor=\"#ffe08a\"");
			else if (!t->is_task)
				sb_puts(sb, ", shape=ellipse");
			sb_puts(sb, "];\n");
		}
		if (any)
			sb_puts(sb, "  }\n");
	}
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct task_rec *t = &snap->tasks[i];
		if (!ctx->selected[i])
			continue;
		for (uint32_t k = 0; k < t->nawaited_by; k++) {
			long p = snapshot_awaiter(snap, t, k);
			if (p < 0 || !ctx->selected[p])
				continue;
			bool red = false;
			for (size_t c = 0; c < g->ncycles && !red; c++)
				for (uint32_t m = 0; m + 1 < g->cycles[c].len && !red; m++)
					red = g->cycles[c].v[m] == (uint32_t)p &&
					      g->cycles[c].v[m + 1] == (uint32_t)i;
			sb_printf(sb, "  \"0x%llx\" -> \"0x%llx\"%s;\n",
				  (unsigned long long)t->awaited_by[k],
				  (unsigned long long)t->addr,
				  red ? " [color=red, penwidth=2, label=\"cycle\"]" : "");
		}
	}
	if (ctx->ro->waiting)
		format_dot_awaiting(sb, ctx);
	sb_puts(sb, "}\n");
}

void format_stats(struct strbuf *sb, const struct snapshot *snap,
		  const struct graph *g)
{
	size_t ntasks = 0, nfutures = 0, nframes = 0;
	for (size_t i = 0; i < snap->ntasks; i++) {
		if (snap->tasks[i].is_task)
			ntasks++;
		else
			nfutures++;
		nframes += snap->tasks[i].nframes;
	}
	char vs[32];
	layout_version_string(snap->layout.version, vs, sizeof(vs));
	sb_printf(sb, "stats: python %s, %zu tasks, %zu futures, %zu frames, "
		  "%zu threads, %zu cycles, %zu warnings\n",
		  vs, ntasks, nfutures, nframes, snap->nthreads, g->ncycles,
		  snap->nwarnings);
	sb_printf(sb, "stats: read %llu bytes in %llu reads, %.1f ms, layout %s (%s)\n",
		  (unsigned long long)snap->bytes_read,
		  (unsigned long long)snap->read_calls, snap->elapsed_ms,
		  snap->layout.source, snap->runtime_how);
	if (snap->dwarf_files)
		sb_printf(sb, "stats: DWARF from %s\n", snap->dwarf_files);
	if (snap->attempts > 1)
		sb_printf(sb, "stats: read %u times: the process changed while "
			  "it was read\n", snap->attempts);
}
