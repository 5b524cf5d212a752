/*
 * The graph over a snapshot: who awaits whom (children of an awaiter, in
 * record order, as CPython's tools build them) and the await cycles.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

struct pyag_error *graph_build(const struct snapshot *snap, struct graph *g)
{
	memset(g, 0, sizeof(*g));
	g->snap = snap;
	size_t n = snap->ntasks;
	size_t nedges = 0;
	for (size_t i = 0; i < n; i++)
		nedges += snap->tasks[i].nawaited_by;
	g->child_start = calloc(n + 1, sizeof(uint32_t));
	g->child_list = malloc((nedges ? nedges : 1) * sizeof(uint32_t));
	uint32_t *fill = calloc(n + 1, sizeof(uint32_t));
	long *parent = malloc((nedges ? nedges : 1) * sizeof(long));
	if (!g->child_start || !g->child_list || !fill || !parent) {
		free(fill);
		free(parent);
		graph_deinit(g);
		return pyag_error_nomem("the graph");
	}
	/* count children per awaiter (looking each awaiter up once), then
	 * place them in record order */
	size_t e = 0;
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < snap->tasks[i].nawaited_by; k++) {
			long p = snapshot_awaiter(snap, &snap->tasks[i], k);
			parent[e++] = p;
			if (p >= 0)
				g->child_start[p + 1]++;
		}
	for (size_t i = 0; i < n; i++)
		g->child_start[i + 1] += g->child_start[i];
	e = 0;
	for (size_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < snap->tasks[i].nawaited_by; k++) {
			long p = parent[e++];
			if (p >= 0)
				g->child_list[g->child_start[p] + fill[p]++] = (uint32_t)i;
		}
	free(parent);
	free(fill);

	/* Cycles: iterative depth-first search from every awaiter in record
	 * order; a grey node reached again closes a cycle (a back edge). */
	uint8_t *color = calloc(n ? n : 1, 1);
	uint32_t *stack = malloc((n ? n : 1) * sizeof(uint32_t));
	uint32_t *pos = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!color || !stack || !pos) {
		free(color);
		free(stack);
		free(pos);
		graph_deinit(g);
		return pyag_error_nomem("the graph");
	}
	size_t capc = 0;
	struct pyag_error *err = NULL;
	for (size_t root = 0; root < n && !err; root++) {
		if (color[root] || g->child_start[root] == g->child_start[root + 1])
			continue;
		size_t sp = 0;
		stack[sp] = (uint32_t)root;
		pos[sp] = g->child_start[root];
		color[root] = 1;
		sp++;
		while (sp) {
			uint32_t v = stack[sp - 1];
			if (pos[sp - 1] == g->child_start[v + 1]) {
				color[v] = 2;
				sp--;
				continue;
			}
			uint32_t c = g->child_list[pos[sp - 1]++];
			if (color[c] == 0) {
				color[c] = 1;
				stack[sp] = c;
				pos[sp] = g->child_start[c];
				sp++;
			} else if (color[c] == 1 && g->ncycles >= MAX_CYCLES) {
				g->cycles_dropped++;
			} else if (color[c] == 1) {
				size_t at = sp;
				while (at > 0 && stack[at - 1] != c)
					at--;
				size_t len = sp - (at - 1) + 1;
				if (g->ncycles == capc) {
					/* grow first, so that a failure leaves a
					 * consistent capacity */
					size_t cap = capc ? capc * 2 : 4;
					struct cycle *nc = realloc(g->cycles, cap * sizeof(*nc));
					if (!nc) {
						err = pyag_error_nomem("await cycles");
						break;
					}
					g->cycles = nc;
					capc = cap;
				}
				uint32_t *cyc = malloc(len * sizeof(uint32_t));
				if (!cyc) {
					err = pyag_error_nomem("await cycles");
					break;
				}
				memcpy(cyc, stack + at - 1, (len - 1) * sizeof(uint32_t));
				cyc[len - 1] = c;
				g->cycles[g->ncycles++] = (struct cycle){ cyc, (uint32_t)len };
			}
		}
	}
	free(color);
	free(stack);
	free(pos);
	if (err)
		graph_deinit(g);
	return err;
}

void graph_deinit(struct graph *g)
{
	for (size_t i = 0; i < g->ncycles; i++)
		free(g->cycles[i].v);
	free(g->cycles);
	free(g->child_start);
	free(g->child_list);
	memset(g, 0, sizeof(*g));
}
