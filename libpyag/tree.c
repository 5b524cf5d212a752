/*
 * The pstree model: task nodes and the coroutine frames between an awaiter
 * and the tasks it awaits, merged the way `python -m asyncio pstree`
 * builds them (a frame label under a parent is one node, whatever awaits
 * through it). The tree format draws it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

void tree_frame_label(struct strbuf *sb, const struct frame_rec *f)
{
	sb_puts(sb, f->function);
	sb_putc(sb, ' ');
	sb_puts(sb, f->filename);
	if (f->line >= 0)
		sb_printf(sb, ":%d", f->line);
}

static const char *intern_frame(struct tree *tr, const struct frame_rec *f)
{
	struct strbuf sb;
	sb_init(&sb);
	tree_frame_label(&sb, f);
	const char *s = sb.data && !sb.failed ? intern_get(&tr->labels, sb.data, sb.len) : NULL;
	sb_deinit(&sb);
	if (!s) {
		tr->failed = true;
		s = "?";
	}
	return s;
}

static uint32_t tree_add(struct tree *tr, bool is_task, uint32_t task, const char *label)
{
	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 256;
		struct tnode *n = realloc(tr->nodes, cap * sizeof(*n));
		if (!n) {
			tr->failed = true;
			return UINT32_MAX;
		}
		tr->nodes = n;
		tr->cap = cap;
	}
	struct tnode *nd = &tr->nodes[tr->n];
	memset(nd, 0, sizeof(*nd));
	nd->is_task = is_task;
	nd->task = task;
	nd->label = label;
	return (uint32_t)tr->n++;
}

static void tree_link(struct tree *tr, uint32_t parent, uint32_t child)
{
	if (tr->failed)
		return;
	if (tr->nedges == tr->cap_edges) {
		size_t cap = tr->cap_edges ? tr->cap_edges * 2 : 256;
		struct tedge *e = realloc(tr->edges, cap * sizeof(*e));
		if (!e) {
			tr->failed = true;
			return;
		}
		tr->edges = e;
		tr->cap_edges = cap;
	}
	uint32_t e = (uint32_t)tr->nedges++;
	tr->edges[e] = (struct tedge){ child, 0 };
	struct tnode *p = &tr->nodes[parent];
	if (!p->first_edge)
		p->first_edge = e + 1;
	else
		tr->edges[p->last_edge - 1].next = e + 1;
	p->last_edge = e + 1;
}

static uint32_t tree_cor_node(struct tree *tr, uint32_t parent,
			      const struct frame_rec *f)
{
	if (tr->failed)
		return parent;
	const char *label = intern_frame(tr, f);
	uint32_t id, node;
	if (!u64map_get(&tr->label_ids, (uint64_t)(uintptr_t)label, &id)) {
		id = (uint32_t)tr->label_ids.count;
		if (!u64map_put(&tr->label_ids, (uint64_t)(uintptr_t)label, id))
			tr->failed = true;
	}
	uint64_t key = ((uint64_t)parent << 32) | id;
	if (u64map_get(&tr->cor_child, key, &node))
		return node;
	node = tree_add(tr, false, 0, label);
	if (node == UINT32_MAX)
		return parent;
	tr->nodes[node].frame = f;
	if (!u64map_put(&tr->cor_child, key, node))
		tr->failed = true;
	tree_link(tr, parent, node);
	return node;
}

static uint32_t tree_task_node(struct tree *tr, uint32_t rec)
{
	uint32_t node;
	if (u64map_get(&tr->task_node, rec, &node))
		return node;
	node = tree_add(tr, true, rec, NULL);
	if (node == UINT32_MAX)
		return 0;  /* tr->failed is set: nothing more is linked */
	if (!u64map_put(&tr->task_node, rec, node))
		tr->failed = true;
	return node;
}


void tree_build(struct tree *tr, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	memset(tr, 0, sizeof(*tr));
	size_t n = snap->ntasks;
	bool *awaiter = calloc(n ? n : 1, sizeof(bool));
	if (!awaiter) {
		tr->failed = true;
		return;
	}
	/* task nodes first, in record order (CPython's id2name order) */
	for (size_t i = 0; i < n; i++)
		if (snap->tasks[i].listed && ctx->selected[i])
			tree_task_node(tr, (uint32_t)i);
	/* awaits: (awaiter, awaiter's stack, awaited); a plain future takes
	 * part too, so that it hangs under whoever awaits it */
	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = &snap->tasks[i];
		if (!(t->listed || !t->is_task) || !ctx->selected[i])
			continue;
		for (uint32_t k = 0; k < t->nawaited_by; k++) {
			long p = snapshot_awaiter(snap, t, k);
			if (p < 0)
				continue;
			awaiter[p] = true;
			uint32_t cur = tree_task_node(tr, (uint32_t)p);
			const struct task_rec *pt = &snap->tasks[p];
			const struct frame_rec *fr;
			uint32_t nf;
			format_ps_frames(ctx, pt, &fr, &nf);
			for (uint32_t f = nf; f > 0; f--)
				cur = tree_cor_node(tr, cur, &fr[f - 1]);
			uint32_t child = tree_task_node(tr, (uint32_t)i);
			uint64_t key = ((uint64_t)cur << 32) | child;
			uint32_t dummy;
			if (!u64map_get(&tr->task_child, key, &dummy)) {
				if (!u64map_put(&tr->task_child, key, 1))
					tr->failed = true;
				tree_link(tr, cur, child);
			}
		}
	}
	/* leaf tasks get their own stacks */
	for (size_t i = 0; i < n; i++) {
		const struct task_rec *t = &snap->tasks[i];
		if (!t->listed || !ctx->selected[i] || awaiter[i])
			continue;
		uint32_t cur = tree_task_node(tr, (uint32_t)i);
		const struct frame_rec *fr;
		uint32_t nf;
		format_ps_frames(ctx, t, &fr, &nf);
		for (uint32_t f = nf; f > 0; f--)
			cur = tree_cor_node(tr, cur, &fr[f - 1]);
	}
	free(awaiter);
	if (tr->failed)
		return;
	tr->is_child = calloc(tr->n ? tr->n : 1, sizeof(bool));
	if (!tr->is_child) {
		tr->failed = true;
		return;
	}
	for (size_t e = 0; e < tr->nedges; e++)
		tr->is_child[tr->edges[e].child] = true;
}

void tree_deinit(struct tree *tr)
{
	free(tr->nodes);
	free(tr->edges);
	free(tr->is_child);
	u64map_deinit(&tr->task_node);
	u64map_deinit(&tr->cor_child);
	u64map_deinit(&tr->task_child);
	u64map_deinit(&tr->label_ids);
	intern_deinit(&tr->labels);
	memset(tr, 0, sizeof(*tr));
}
