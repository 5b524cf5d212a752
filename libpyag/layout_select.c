/*
 * Which layout a capture uses: the interpreter's debug offsets, the DWARF
 * of its debug files (from the layout cache when it holds them), or both,
 * cross-checked field by field.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "layout.h"

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
 * else *files_ret (malloc'd) names the debug files, joined by " + ", and
 * *missing_ret (malloc'd, NULL: none) the fields they do not have. */
static struct pyag_error *dwarf_layout(const struct target *t,
				       const struct pyag_host *host,
				       const struct layout_request *o, uint64_t version,
				       struct pyag_layout *ret, bool *found,
				       char **files_ret, char **missing_ret)
{
	*found = false;
	*files_ret = NULL;
	*missing_ret = NULL;
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
	    layout_cache_load(o->cache_dir, key, ret, missing_ret)) {
		ret->version = version;
		free(key);
		goto out;
	}
	memset(ret, 0, sizeof(*ret));
	ret->version = version;
	err = layout_from_dwarf((const char *const *)dbg, nelf, ret, missing_ret);
	if (!err)
		err = layout_validate(ret);
	if (err && *missing_ret)
		/* the likely cause */
		err = pyag_error_wrap(err, "not in the debug information: %s; "
				      "without them", *missing_ret);
	if (!err && key)
		pyag_error_destroy(layout_cache_store(o->cache_dir, key, ret, *missing_ret));
	free(key);
out:
	for (int i = 0; i < 2; i++) {
		free(elf[i]);
		free(dbg[i]);
	}
	return err;
}

/* Fields the debug offsets of this version do not publish (or, without
 * the asyncio offsets, the asyncio ones): DWARF's, when it has them. */
static void take_from_dwarf(struct pyag_layout *off, const struct pyag_layout *dw)
{
	int column = layout_version_index(off->version);
	bool asyncio = !off->have_asyncio && dw->have_asyncio;
	for (size_t i = 0; i < LAYOUT_NFIELDS; i++) {
		const struct layout_field *f = &layout_fields[i];
		bool unpublished = column >= 0 &&
				   f->cells[column].kind == LAYOUT_CELL_ABSENT &&
				   layout_field_get(dw, f) != 0 &&
				   (!(f->flags & LF_ASYNCIO) || dw->have_asyncio);
		if (unpublished || (asyncio && (f->flags & LF_ASYNCIO)))
			layout_field_set(off, f, layout_field_get(dw, f));
	}
	if (asyncio)
		off->have_asyncio = true;
}

/* The layout by policy: debug offsets, DWARF, or both cross-checked. */
struct pyag_error *load_layout(struct pyag_reader *r, const struct target *t,
			       const struct pyag_host *host,
			       const struct layout_request *o, struct snapshot *snap)
{
	struct pyag_layout off, dw;
	struct pyag_error *oerr = t->legacy
		? layout_from_table(r, t->version_addr, &off)
		: layout_from_debug_offsets(r, t->runtime_addr, t->asyncio_debug_addr, &off);
	if (oerr && (oerr->code == PYAG_ERROR_VERSION || oerr->code == PYAG_ERROR_NOT_PYTHON ||
		     o->mode == LAYOUT_OFFSETS))
		return oerr;
	if (o->mode == LAYOUT_OFFSETS) {
		snap->layout = off;
		return NULL;
	}
	uint64_t version = off.version;
	bool found = false;
	char *files = NULL, *missing = NULL;
	struct pyag_error *derr = dwarf_layout(t, host, o, version, &dw, &found,
					       &files, &missing);
	if (found && !derr) {
		snap->dwarf_files = files;  /* freed with the snapshot */
		files = NULL;
	}
	/* what DWARF lacked: in derr when that made the layout unusable, else
	 * a warning (the layout is used without those fields) */
	if (missing && !derr && o->mode != LAYOUT_OFFSETS)
		snapshot_warn(snap, "DWARF layout: not in the debug information: %s",
			      missing);
	free(missing);
	free(files);
	if (o->mode == LAYOUT_DWARF) {
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
	struct warn_ctx wc = { snap, 0 };
	layout_compare(&off, &dw, warn_drift, &wc);
	take_from_dwarf(&off, &dw);
	off.source = t->legacy ? "built-in+dwarf" : "debug-offsets+dwarf";
	snap->layout = off;
	return layout_validate(&snap->layout);
}

