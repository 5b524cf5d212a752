/* Rendering: what a render shows (render.c), the formats (format.c)
 * and the pstree model they draw (tree.c). */
#ifndef PYAG_FORMAT_H
#define PYAG_FORMAT_H

#include "graph.h"

/* ---- formats (format.c) -------------------------------------------------- */

struct render_ctx {
	const struct snapshot *snap;
	const struct graph *graph;
	const struct pyag_render_options *ro;
	const bool *selected;   /* per task: passes the filters */
	long task_index;        /* the task asked for, or -1 */
};

void format_callgraph_task(struct strbuf *sb, const struct render_ctx *ctx,
			   size_t index) HIDDEN;
void format_callgraph(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_json(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_tree(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_threads(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_table(struct strbuf *sb, const struct render_ctx *ctx, bool csv) HIDDEN;
void format_dot(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_stats(struct strbuf *sb, const struct snapshot *snap,
		  const struct graph *g) HIDDEN;
/* A JSON string, or null for NULL. */
void json_string_or_null(struct strbuf *sb, const char *s) HIDDEN;
/* What a task waits on and the loops (format_waiting.c): JSON values,
 * the one-line text of --waiting, dot's nodes, the loops format. */
void format_awaiting_json(struct strbuf *sb, const struct await_rec *a) HIDDEN;
void format_loops_json(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_awaiting_text(struct strbuf *sb, const struct snapshot *snap,
			  const struct await_rec *a) HIDDEN;
void format_dot_awaiting(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
void format_loops(struct strbuf *sb, const struct render_ctx *ctx) HIDDEN;
/* The frames of t that CPython's ps/pstree show, cut by the limit. */
void format_ps_frames(const struct render_ctx *ctx, const struct task_rec *t,
		      const struct frame_rec **ret, uint32_t *n) HIDDEN;

/* ---- the pstree model (tree.c) ------------------------------------------- */

struct tnode {
	bool is_task;
	uint32_t task;          /* record index for task nodes */
	const char *label;      /* frame label for coroutine nodes */
	const struct frame_rec *frame;  /* one frame with that label */
	uint32_t first_edge, last_edge;  /* edge index + 1; 0: none */
	bool rendered;
};

/* Child links live in edges, not in the nodes: a task awaited by several
 * tasks is a child of each of them. */
struct tedge {
	uint32_t child;
	uint32_t next;          /* edge index + 1 */
};

struct tree {
	struct tnode *nodes;
	size_t n, cap;
	struct tedge *edges;
	size_t nedges, cap_edges;
	struct u64map task_node;   /* record index -> node */
	struct u64map cor_child;   /* (parent node << 32 | label id) -> node */
	struct u64map task_child;  /* (parent node << 32 | task node) -> 1 */
	struct u64map label_ids;   /* label pointer -> id */
	struct intern labels;
	bool *is_child;
	bool failed;
};

/* Build the model of the records ctx selects (tr->failed: out of memory). */
void tree_build(struct tree *tr, const struct render_ctx *ctx) HIDDEN;
void tree_deinit(struct tree *tr) HIDDEN;
/* "function file:line", as CPython's tools label a frame. */
void tree_frame_label(struct strbuf *sb, const struct frame_rec *f) HIDDEN;

/* The graph object's parts, for the renderers (session.c). */
const struct snapshot *graph_snapshot(const struct pyag_graph *g) HIDDEN;
const struct graph *graph_graph(const struct pyag_graph *g) HIDDEN;


#endif /* PYAG_FORMAT_H */
