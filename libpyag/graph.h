/* The graph over a snapshot: who awaits whom, await cycles (graph.c);
 * the graph object of the public API (session.c). */
#ifndef PYAG_GRAPH_H
#define PYAG_GRAPH_H

#include "snapshot.h"

/* ---- graph and formats (graph.c, format.c) ------------------------------ */

/* An await cycle: record indices, the first repeated at the end. */
struct cycle {
	uint32_t *v;
	uint32_t len;
};
#define MAX_CYCLES 10000u

struct graph {
	const struct snapshot *snap;
	/* awaited -> awaiters: snap->tasks[i].awaited_by; awaiter -> awaited: */
	uint32_t *child_start;  /* CSR: children of i are child_list[start[i]..start[i+1]) */
	uint32_t *child_list;
	struct cycle *cycles;
	size_t ncycles;
	size_t cycles_dropped;  /* beyond MAX_CYCLES */
};

struct pyag_error *graph_build(const struct snapshot *snap, struct graph *g) HIDDEN;
void graph_deinit(struct graph *g) HIDDEN;

#endif /* PYAG_GRAPH_H */
