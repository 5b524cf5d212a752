/*
 * What each task waits on and the event loops, as the formats show them:
 * JSON's "awaiting" and "loops", the --waiting line of tree, table, csv
 * and dot, and the loops format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* ---- json ------------------------------------------------------------------ */

static void json_value(struct strbuf *sb, const struct state_item *it)
{
	switch (it->type) {
	case PYAG_VALUE_BOOL:
		sb_puts(sb, it->i ? "true" : "false");
		break;
	case PYAG_VALUE_INT:
		sb_printf(sb, "%lld", (long long)it->i);
		break;
	case PYAG_VALUE_FLOAT:
		sb_printf(sb, "%.17g", it->f);
		break;
	case PYAG_VALUE_STRING:
		json_string(sb, it->s);
		break;
	default:
		sb_puts(sb, "null");
	}
}

static void json_addr_or_null(struct strbuf *sb, uint64_t a)
{
	if (a)
		sb_printf(sb, "\"0x%llx\"", (unsigned long long)a);
	else
		sb_puts(sb, "null");
}

void format_awaiting_json(struct strbuf *sb, const struct await_rec *a)
{
	if (!a) {
		sb_puts(sb, "null");
		return;
	}
	sb_printf(sb, "{\"kind\": \"%s\", \"future\": ",
		  pyag_await_kind_name((enum pyag_await_kind)a->kind));
	json_addr_or_null(sb, a->future);
	sb_puts(sb, ", \"object\": ");
	json_addr_or_null(sb, a->object);
	sb_puts(sb, ", \"type\": ");
	json_string_or_null(sb, a->type);
	sb_puts(sb, ", \"state\": {");
	for (uint8_t k = 0; k < a->nstate; k++) {
		sb_puts(sb, k ? ", " : "");
		json_string(sb, a->state[k].key);
		sb_puts(sb, ": ");
		json_value(sb, &a->state[k]);
	}
	sb_puts(sb, "}}");
}

static bool loop_shown(const struct render_ctx *ctx, const struct loop_rec *l)
{
	return !ctx->ro->native_thread_id || l->native_thread_id == ctx->ro->native_thread_id;
}

void format_loops_json(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	bool first = true;
	sb_puts(sb, "[");
	for (size_t i = 0; i < snap->nloops; i++) {
		const struct loop_rec *l = &snap->loops[i];
		if (!loop_shown(ctx, l))
			continue;
		sb_puts(sb, first ? "\n  " : ",\n  ");
		first = false;
		sb_printf(sb, "{\"address\": \"0x%llx\", \"interpreter\": %lld, "
			  "\"native_thread_id\": %llu, \"type\": ",
			  (unsigned long long)l->addr, (long long)l->interp_id,
			  (unsigned long long)l->native_thread_id);
		json_string_or_null(sb, l->type);
		sb_printf(sb, ", \"readable\": %s, \"running\": %s, \"closed\": %s, ",
			  l->readable ? "true" : "false", l->running ? "true" : "false",
			  l->closed ? "true" : "false");
		if (l->readable && l->ready >= 0)
			sb_printf(sb, "\"ready\": %lld, ", (long long)l->ready);
		else
			sb_puts(sb, "\"ready\": null, ");
		if (l->readable && l->timers >= 0)
			sb_printf(sb, "\"timers\": %lld, ", (long long)l->timers);
		else
			sb_puts(sb, "\"timers\": null, ");
		if (l->has_deadline)
			sb_printf(sb, "\"next_deadline\": %.17g, ", l->next_deadline);
		else
			sb_puts(sb, "\"next_deadline\": null, ");
		if (l->has_deadline && snap->has_now)
			sb_printf(sb, "\"remaining\": %.17g, ", l->next_deadline - snap->now);
		else
			sb_puts(sb, "\"remaining\": null, ");
		sb_puts(sb, "\"fds\": [");
		for (uint32_t k = 0; k < l->nfds; k++) {
			sb_printf(sb, "%s{\"fd\": %lld, \"reader\": ", k ? ", " : "",
				  (long long)l->fds[k].fd);
			json_string_or_null(sb, l->fds[k].reader);
			sb_puts(sb, ", \"writer\": ");
			json_string_or_null(sb, l->fds[k].writer);
			sb_putc(sb, '}');
		}
		sb_printf(sb, "], \"tasks\": %zu, \"can_wake\": %s}", l->ntasks,
			  l->can_wake ? "true" : "false");
	}
	sb_puts(sb, "]");
}

/* ---- text -------------------------------------------------------------------- */

static void text_value(struct strbuf *sb, const struct state_item *it)
{
	switch (it->type) {
	case PYAG_VALUE_BOOL:
		sb_puts(sb, it->i ? "True" : "False");
		break;
	case PYAG_VALUE_INT:
		sb_printf(sb, "%lld", (long long)it->i);
		break;
	case PYAG_VALUE_FLOAT:
		sb_printf(sb, "%.3f", it->f);
		break;
	case PYAG_VALUE_STRING:
		py_repr(sb, it->s);
		break;
	default:
		sb_puts(sb, "?");
	}
}

static void awaiting_text(struct strbuf *sb, const struct snapshot *snap,
			  const struct await_rec *a, bool with_timeout);

void format_awaiting_text(struct strbuf *sb, const struct snapshot *snap,
			  const struct await_rec *a)
{
	awaiting_text(sb, snap, a, true);
}

/* with_timeout false: without the deadline of the task's asyncio.timeout()
 * (the task's, not the object's: dot puts it on the task's edge). */
static void awaiting_text(struct strbuf *sb, const struct snapshot *snap,
			  const struct await_rec *a, bool with_timeout)
{
	if (!a) {
		sb_puts(sb, snap->waiting ? "" : "?");
		return;
	}
	sb_printf(sb, "%s 0x%llx", pyag_await_kind_name((enum pyag_await_kind)a->kind),
		  (unsigned long long)a->object);
	if (a->kind == PYAG_AWAIT_TASK || a->kind == PYAG_AWAIT_SHIELD) {
		long p = snapshot_find(snap, a->object);
		if (p >= 0 && snap->tasks[p].is_task && snap->tasks[p].name) {
			sb_putc(sb, ' ');
			py_repr(sb, snap->tasks[p].name);
		} else if (a->type) {
			sb_printf(sb, " %s", a->type);
		}
	} else if (a->type) {
		sb_printf(sb, " %s", a->type);
	}
	bool open = false;
	for (uint8_t k = 0; k < a->nstate; k++) {
		/* sleep's remaining time is only known live */
		if (a->state[k].type == PYAG_VALUE_NULL &&
		    strcmp(a->state[k].key, "remaining") == 0)
			continue;
		if (!with_timeout && strcmp(a->state[k].key, "timeout") == 0)
			continue;
		sb_puts(sb, open ? ", " : " (");
		open = true;
		sb_printf(sb, "%s=", a->state[k].key);
		text_value(sb, &a->state[k]);
	}
	if (open)
		sb_putc(sb, ')');
}

/* ---- dot: the awaited objects as nodes ----------------------------------------- */

void format_dot_awaiting(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	struct u64map drawn = { 0 };
	for (size_t i = 0; i < snap->ntasks; i++) {
		const struct task_rec *t = &snap->tasks[i];
		const struct await_rec *a = t->awaiting;
		if (!ctx->selected[i] || !a || !a->object)
			continue;
		/* a task or future of the graph is a node already */
		long p = snapshot_find(snap, a->object);
		bool node = p >= 0 && ctx->selected[p];
		uint32_t dummy;
		if (!node && !u64map_get(&drawn, a->object, &dummy)) {
			if (!u64map_put(&drawn, a->object, 1)) {
				sb->failed = true;
				break;
			}
			struct strbuf label;
			sb_init(&label);
			awaiting_text(&label, snap, a, false);
			sb_printf(sb, "  \"0x%llx\" [label=\"", (unsigned long long)a->object);
			for (const char *s = label.data ? label.data : ""; *s; s++) {
				if (*s == '"' || *s == '\\')
					sb_putc(sb, '\\');
				sb_putc(sb, *s);
			}
			sb_puts(sb, "\", shape=hexagon, style=\"\"];\n");
			if (label.failed)
				sb->failed = true;
			sb_deinit(&label);
		}
		if (node)
			continue;
		sb_printf(sb, "  \"0x%llx\" -> \"0x%llx\" [style=dashed, label=\"waits",
			  (unsigned long long)t->addr, (unsigned long long)a->object);
		for (uint8_t k = 0; k < a->nstate; k++)
			if (strcmp(a->state[k].key, "timeout") == 0 &&
			    a->state[k].type == PYAG_VALUE_FLOAT)
				sb_printf(sb, ", timeout=%.3f", a->state[k].f);
		sb_puts(sb, "\"];\n");
	}
	u64map_deinit(&drawn);
}

/* ---- the loops format ---------------------------------------------------------- */

void format_loops(struct strbuf *sb, const struct render_ctx *ctx)
{
	const struct snapshot *snap = ctx->snap;
	bool any = false;
	for (size_t i = 0; i < snap->nloops; i++) {
		const struct loop_rec *l = &snap->loops[i];
		if (!loop_shown(ctx, l))
			continue;
		if (any)
			sb_putc(sb, '\n');
		any = true;
		sb_printf(sb, "Event loop 0x%llx %s", (unsigned long long)l->addr,
			  l->type ? l->type : "(type unreadable)");
		if (l->native_thread_id)
			sb_printf(sb, " on thread %llu", (unsigned long long)l->native_thread_id);
		else
			sb_puts(sb, " on no thread");
		sb_printf(sb, " (interpreter %lld): ", (long long)l->interp_id);
		if (!l->readable) {
			sb_printf(sb, "not readable (not an asyncio BaseEventLoop); "
				  "%zu tasks\n", l->ntasks);
			continue;
		}
		sb_puts(sb, l->closed ? "closed" : l->running ? "running" : "not running");
		sb_printf(sb, ", %zu tasks\n", l->ntasks);
		if (l->ready >= 0)
			sb_printf(sb, "  ready callbacks: %lld\n", (long long)l->ready);
		else
			sb_puts(sb, "  ready callbacks: unreadable\n");
		if (l->timers < 0)
			sb_puts(sb, "  timers: unreadable\n");
		else if (!l->has_deadline)
			sb_printf(sb, "  timers: %lld\n", (long long)l->timers);
		else if (snap->has_now)
			sb_printf(sb, "  timers: %lld, next at %.3f (in %.3f s)\n",
				  (long long)l->timers, l->next_deadline,
				  l->next_deadline - snap->now);
		else
			sb_printf(sb, "  timers: %lld, next at %.3f (loop time)\n",
				  (long long)l->timers, l->next_deadline);
		sb_printf(sb, "  file descriptors: %u\n", l->nfds);
		for (uint32_t k = 0; k < l->nfds; k++) {
			sb_printf(sb, "    fd %lld:", (long long)l->fds[k].fd);
			if (l->fds[k].reader)
				sb_printf(sb, " reader %s", l->fds[k].reader);
			if (l->fds[k].writer)
				sb_printf(sb, " writer %s", l->fds[k].writer);
			sb_putc(sb, '\n');
		}
		if (!l->can_wake)
			sb_puts(sb, l->running
				? "  nothing can wake its tasks: no ready callback, no timer, no "
				  "file descriptor but its own wake-up pipe, no work in another "
				  "thread\n"
				: "  nothing can wake its tasks: the loop is not running\n");
	}
	if (!any)
		sb_puts(sb, "no event loop found\n");
}
