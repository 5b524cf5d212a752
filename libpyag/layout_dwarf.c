/*
 * The layout from DWARF: the queries of the field table (layout_fields.def)
 * asked of the interpreter's and the _asyncio module's debug files, with
 * the generic engine of dwarf_query.c. Fields the files do not have are
 * listed for the user; whether the layout is usable without them is the
 * caller's decision (layout_validate, have_asyncio).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf_query.h"
#include "layout.h"

/* The walker reads futures through the task field offsets: FutureObj and
 * TaskObj share their head (FutureObj_HEAD), which this checks. */
static const struct { const char *future, *task; } future_fields[] = {
	{ "fut_awaited_by", "task_awaited_by" },
	{ "fut_is_task", "task_is_task" },
	{ "fut_awaited_by_is_set", "task_awaited_by_is_set" },
};

#define MAX_ALT 128u            /* one alternative of a "a|b" path */
#define ENUM_LIMIT 1000000      /* enumerators the walker can use */

struct layout_job {
	struct dwq_type types[LAYOUT_NTYPES];
	struct strbuf missing;
	size_t nmissing;
};

static void note_missing(struct layout_job *job, const char *fmt, ...)
	PRINTF_LIKE(2, 3);

static void note_missing(struct layout_job *job, const char *fmt, ...)
{
	char *text;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		job->missing.failed = true;
		return;
	}
	if (job->nmissing++)
		sb_puts(&job->missing, ", ");
	sb_puts(&job->missing, text);
	free(text);
}

/* The first alternative of alts ("a|b") that t has: a member (bits) or an
 * enumerator (value). */
static struct pyag_error *query_alternatives(const struct dwq_type *t,
					     const char *alts, bool enumerator,
					     uint64_t *bits_ret, int64_t *value_ret,
					     bool *found)
{
	char one[MAX_ALT];
	*found = false;
	for (const char *p = alts; *p && !*found;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len >= sizeof(one))
			return NULL;
		memcpy(one, p, len);
		one[len] = '\0';
		uint64_t bit_size;
		struct pyag_error *err =
			enumerator ? dwq_enumerator(t, one, value_ret, found)
				   : dwq_member(t, one, bits_ret, &bit_size, found);
		if (err)
			return err;
		p += len + (bar ? 1 : 0);
	}
	if (*found && enumerator && (*value_ret < -ENUM_LIMIT || *value_ret > ENUM_LIMIT))
		*found = false;
	return NULL;
}

/* The bit position of member.sub relative to member. */
static struct pyag_error *query_bits(const struct dwq_type *t, const char *member,
				     const char *sub, int64_t *ret, bool *found)
{
	char path[2 * MAX_ALT];
	uint64_t base, bit, size;
	bool base_found;
	*found = false;
	if ((size_t)snprintf(path, sizeof(path), "%s.%s", member, sub) >= sizeof(path))
		return NULL;
	struct pyag_error *err = dwq_member(t, member, &base, &size, &base_found);
	if (!err && base_found)
		err = dwq_member(t, path, &bit, &size, found);
	if (err || !*found)
		return err;
	*found = bit >= base && bit - base < 32;
	*ret = (int64_t)(bit - base);
	return NULL;
}

/* Ask DWARF for one field. *found false: the files do not say. */
static struct pyag_error *query_field(const struct layout_job *job,
				      const struct layout_field *f, int64_t *ret,
				      bool *found)
{
	const struct layout_query *q = &f->dwarf;
	const struct dwq_type *t = &job->types[q->type];
	uint64_t u = 0;
	struct pyag_error *err = NULL;
	*found = false;
	switch (q->kind) {
	case LAYOUT_Q_SIZE:
		err = dwq_size(t, &u, found);
		*ret = (int64_t)u;
		break;
	case LAYOUT_Q_MEMBER:
		err = query_alternatives(t, q->path, false, &u, NULL, found);
		*ret = (int64_t)(u / 8);
		break;
	case LAYOUT_Q_BITS:
		err = query_bits(t, q->path, q->sub, ret, found);
		break;
	case LAYOUT_Q_ENUM:
		err = query_alternatives(t, q->path, true, NULL, ret, found);
		break;
	case LAYOUT_Q_HAS: {
		uint64_t size;
		bool has = false;
		err = dwq_member(t, q->path, &u, &size, &has);
		*ret = has;
		*found = t->found;
		break;
	}
	default:
		break;
	}
	return err;
}

static void note_field_missing(struct layout_job *job, const struct layout_field *f)
{
	const struct layout_query *q = &f->dwarf;
	const char *type = job->types[q->type].names[0];
	switch (q->kind) {
	case LAYOUT_Q_SIZE:
		note_missing(job, "sizeof(%s)", type);
		break;
	case LAYOUT_Q_BITS:
		note_missing(job, "%s.%s.%s", type, q->path, q->sub);
		break;
	case LAYOUT_Q_ENUM:
		note_missing(job, "%s", q->path);
		break;
	default:
		note_missing(job, "%s.%s", type, q->path);
		break;
	}
}

/* Whether this version's interpreter has the field: not optional, and
 * not absent from the version (3.11-3.13 have no task lists). */
static bool field_expected(const struct layout_field *f, int column)
{
	return !(f->flags & LF_OPTIONAL) &&
	       !(column >= 0 && f->cells[column].kind == LAYOUT_CELL_NOT_IN_VERSION);
}

/* Every field of the table: from DWARF, or the version's constant. */
static struct pyag_error *job_fields(struct layout_job *job, struct pyag_layout *l,
				     bool *asyncio_ok)
{
	int column = layout_version_index(l->version);
	*asyncio_ok = true;
	/* free_threaded first: the constants may depend on it */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
			const struct layout_field *f = &layout_fields[i];
			bool is_ft = i == LAYOUT_F_free_threaded;
			if (is_ft != (pass == 0))
				continue;
			int64_t v = 0;
			bool found = false;
			if (f->dwarf.kind == LAYOUT_Q_NONE) {
				const struct layout_cell *c =
					column >= 0 ? &f->cells[column] : NULL;
				if (c && c->kind == LAYOUT_CELL_CONST) {
					v = layout_cell_const(c, l->free_threaded);
					found = true;
				} else if (!c) {
					note_missing(job, "%s (Python %u.%u)", f->name,
						     (unsigned)(l->version >> 24) & 0xff,
						     (unsigned)(l->version >> 16) & 0xff);
				}
			} else {
				struct pyag_error *err = query_field(job, f, &v, &found);
				if (err)
					return err;
				/* a type not found is reported once, by its name */
				if (!found && field_expected(f, column) &&
				    job->types[f->dwarf.type].found)
					note_field_missing(job, f);
			}
			if (found)
				layout_field_set(l, f, v);
			else if ((f->flags & (LF_ASYNCIO | LF_OPTIONAL)) == LF_ASYNCIO &&
				 field_expected(f, column))
				*asyncio_ok = false;
		}
	}
	return NULL;
}

static struct pyag_error *job_future(struct layout_job *job)
{
	const struct dwq_type *fut = &job->types[LAYOUT_T_FUTURE];
	const struct dwq_type *task = &job->types[LAYOUT_T_TASK];
	if (!fut->found || !task->found)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(future_fields); i++) {
		uint64_t fbits = 0, tbits = 0, size;
		bool ffound, tfound;
		struct pyag_error *err = dwq_member(fut, future_fields[i].future,
						    &fbits, &size, &ffound);
		if (!err)
			err = dwq_member(task, future_fields[i].task, &tbits,
					 &size, &tfound);
		if (err)
			return err;
		if (!ffound && tfound)
			note_missing(job, "FutureObj.%s", future_fields[i].future);
		else if (tfound && fbits != tbits)
			note_missing(job, "FutureObj.%s (not at TaskObj.%s)",
				     future_fields[i].future, future_fields[i].task);
	}
	return NULL;
}

struct pyag_error *layout_from_dwarf(const char *const *debug_files, size_t n,
				     struct pyag_layout *ret, char **missing_ret)
{
	uint64_t version = ret->version;
	*missing_ret = NULL;
	memset(ret, 0, sizeof(*ret));
	ret->version = version;
	ret->source = "dwarf";
	struct dwq_files *files = NULL;
	struct pyag_error *err = dwq_open(debug_files, n, &files);
	if (err)
		return err;
	struct layout_job *job = calloc(1, sizeof(*job));
	if (!job) {
		dwq_close(files);
		return &pyag_enomem;
	}
	sb_init(&job->missing);
	for (unsigned i = 0; i < LAYOUT_NTYPES; i++) {
		memcpy(job->types[i].names, layout_types[i].names,
		       sizeof(layout_types[i].names));
		job->types[i].unit_hint = layout_types[i].unit_hint;
	}
	/* only the types of the fields this version has (a type no unit
	 * defines costs a scan of every unit); a type is missing when one
	 * of those fields needs it */
	int column = layout_version_index(version);
	struct dwq_type wanted[LAYOUT_NTYPES];
	unsigned which[LAYOUT_NTYPES], nwanted = 0;
	bool needed[LAYOUT_NTYPES];
	for (unsigned i = 0; i < LAYOUT_NTYPES; i++) {
		bool any = false;
		needed[i] = false;
		for (size_t k = 0; k < LAYOUT_NFIELDS; k++) {
			const struct layout_field *f = &layout_fields[k];
			if (f->dwarf.kind == LAYOUT_Q_NONE || f->dwarf.type != i)
				continue;
			needed[i] |= field_expected(f, column);
			any |= column < 0 ||
			       f->cells[column].kind != LAYOUT_CELL_NOT_IN_VERSION;
		}
		if (any || needed[i]) {
			wanted[nwanted] = job->types[i];
			which[nwanted++] = i;
		}
	}
	err = dwq_find_types(files, wanted, nwanted);
	if (err)
		goto out;
	for (unsigned k = 0; k < nwanted; k++)
		job->types[which[k]] = wanted[k];
	for (unsigned i = 0; i < LAYOUT_NTYPES; i++)
		if (!job->types[i].found && needed[i])
			note_missing(job, "%s", job->types[i].names[0]);
	bool asyncio_ok;
	err = job_fields(job, ret, &asyncio_ok);
	if (!err)
		err = job_future(job);
	if (err)
		goto out;
	ret->have_asyncio = asyncio_ok;
	if (job->nmissing) {
		*missing_ret = sb_steal(&job->missing);
		if (!*missing_ret)
			err = &pyag_enomem;
	}
out:
	dwq_close(files);
	sb_deinit(&job->missing);
	free(job);
	return err;
}
