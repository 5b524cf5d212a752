/*
 * Sessions and captures: how the caller reaches a target, and one read of
 * it into a graph. open reader -> (stop the threads) -> locate the
 * interpreter -> layout -> walk (again when a running process tore it) ->
 * graph.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"

struct pyag_session {
	struct pyag_host host;
	enum layout_mode layout;
	char *debug_dirs[MAX_DEBUG_DIRS];
	size_t ndebug_dirs;
	char *cache_dir;
	struct walk_limits lim;
	/* what host points to */
	char *core_path, *exe_path, *sysroot;
	struct pyag_mapping *maps;
	size_t nmaps;
};

struct pyag_graph {
	struct snapshot snap;
	struct graph g;
	char python[32];
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- sessions -------------------------------------------------------------- */

static struct pyag_error *session_new(struct pyag_session **ret)
{
	struct pyag_session *s = calloc(1, sizeof(*s));
	if (!s)
		return pyag_error_nomem("a session");
	walk_default_limits(&s->lim);
	*ret = s;
	return NULL;
}

/* Replace *dst by a copy of src (NULL stays NULL). */
static struct pyag_error *set_string(char **dst, const char *src)
{
	char *copy = NULL;
	if (src && !(copy = strdup(src)))
		return pyag_error_nomem("a session option");
	free(*dst);
	*dst = copy;
	return NULL;
}

struct pyag_error *pyag_session_create_pid(int pid, struct pyag_session **ret)
{
	if (pid <= 0)
		return pyag_error_create(PYAG_ERROR_USAGE, "%d is not a process id", pid);
	struct pyag_error *err = session_new(ret);
	if (err)
		return err;
	(*ret)->host.kind = PYAG_TARGET_LIVE;
	(*ret)->host.pid = pid;
	(*ret)->host.stop_threads = true;
	return NULL;
}

struct pyag_error *pyag_session_create_core(const char *core_path, const char *exe,
					    const char *sysroot,
					    struct pyag_session **ret)
{
	if (!core_path)
		return pyag_error_create(PYAG_ERROR_USAGE, "no core file given");
	struct pyag_session *s = NULL;
	struct pyag_error *err = session_new(&s);
	if (err)
		return err;
	if (!(err = set_string(&s->core_path, core_path)) &&
	    !(err = set_string(&s->exe_path, exe)))
		err = set_string(&s->sysroot, sysroot);
	if (err) {
		pyag_session_destroy(s);
		return err;
	}
	s->host.kind = PYAG_TARGET_CORE;
	s->host.core_path = s->core_path;
	s->host.exe_path = s->exe_path;
	s->host.sysroot = s->sysroot;
	*ret = s;
	return NULL;
}

/* The caller's struct, whatever its version: the bytes it has, zeros for
 * the fields it does not know. */
#define CALLER_STRUCT(dst, src)                                                 \
	do {                                                                    \
		memset(&(dst), 0, sizeof(dst));                                 \
		size_t n_ = (src)->size < sizeof(dst) ? (src)->size : sizeof(dst); \
		memcpy(&(dst), (src), n_);                                      \
	} while (0)

struct pyag_error *pyag_session_create_callbacks(const struct pyag_callbacks *cb,
						 struct pyag_session **ret)
{
	if (!cb || cb->size < offsetof(struct pyag_callbacks, read_arg) + sizeof(void *))
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "struct pyag_callbacks: size not set");
	struct pyag_callbacks c;
	CALLER_STRUCT(c, cb);
	if (!c.read)
		return pyag_error_create(PYAG_ERROR_USAGE, "no read callback given");
	if (c.kind != PYAG_TARGET_LIVE && c.kind != PYAG_TARGET_CORE)
		return pyag_error_create(PYAG_ERROR_USAGE, "unknown target kind %d",
					 (int)c.kind);
	struct pyag_error *err = session_new(ret);
	if (err)
		return err;
	(*ret)->host.kind = c.kind;
	(*ret)->host.pid = c.pid;
	(*ret)->host.read = c.read;
	(*ret)->host.read_arg = c.read_arg;
	return NULL;
}

void pyag_session_destroy(struct pyag_session *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ndebug_dirs; i++)
		free(s->debug_dirs[i]);
	for (size_t i = 0; i < s->nmaps; i++)
		free((char *)s->maps[i].path);
	free(s->maps);
	free(s->cache_dir);
	free(s->core_path);
	free(s->exe_path);
	free(s->sysroot);
	free(s);
}

static struct pyag_error *no_session(void)
{
	return pyag_error_create(PYAG_ERROR_USAGE, "no session given");
}

struct pyag_error *pyag_session_set_layout(struct pyag_session *s,
					   enum pyag_layout_source source)
{
	if (!s)
		return no_session();
	switch (source) {
	case PYAG_LAYOUT_AUTO:
		s->layout = LAYOUT_AUTO;
		return NULL;
	case PYAG_LAYOUT_OFFSETS:
		s->layout = LAYOUT_OFFSETS;
		return NULL;
	case PYAG_LAYOUT_DWARF:
		s->layout = LAYOUT_DWARF;
		return NULL;
	}
	return pyag_error_create(PYAG_ERROR_USAGE, "unknown layout source %d", (int)source);
}

struct pyag_error *pyag_session_add_debug_dir(struct pyag_session *s, const char *dir)
{
	if (!s)
		return no_session();
	if (!dir || !*dir)
		return pyag_error_create(PYAG_ERROR_USAGE, "empty debug-file directory");
	if (s->ndebug_dirs == MAX_DEBUG_DIRS)
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "more than %d debug-file directories",
					 MAX_DEBUG_DIRS);
	char *copy = strdup(dir);
	if (!copy)
		return pyag_error_nomem("a debug-file directory");
	s->debug_dirs[s->ndebug_dirs++] = copy;
	return NULL;
}

struct pyag_error *pyag_session_set_sysroot(struct pyag_session *s, const char *sysroot)
{
	if (!s)
		return no_session();
	struct pyag_error *err = set_string(&s->sysroot, sysroot);
	if (!err)
		s->host.sysroot = s->sysroot;
	return err;
}

struct pyag_error *pyag_session_set_stop(struct pyag_session *s, int stop)
{
	if (!s)
		return no_session();
	if (s->host.kind != PYAG_TARGET_LIVE || s->host.read)
		return pyag_error_create(PYAG_ERROR_USAGE,
					 "stopping threads applies to a live process "
					 "read by pid");
	s->host.stop_threads = stop != 0;
	return NULL;
}

struct pyag_error *pyag_session_set_cache_dir(struct pyag_session *s, const char *dir)
{
	if (!s)
		return no_session();
	return set_string(&s->cache_dir, dir);
}

const char *pyag_default_cache_dir(void)
{
	static char buf[4096];
	const char *off = getenv("PYAG_NO_CACHE");
	if (off && *off && strcmp(off, "0") != 0)
		return NULL;
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s/py-async-graph", xdg);
	else if (home && home[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s/.cache/py-async-graph", home);
	else
		return NULL;
	return n > 0 && (size_t)n < sizeof(buf) ? buf : NULL;
}

struct pyag_error *pyag_session_set_symbol_fn(struct pyag_session *s,
					      pyag_symbol_fn *fn, void *arg)
{
	if (!s)
		return no_session();
	s->host.symbol = fn;
	s->host.symbol_arg = arg;
	return NULL;
}

struct pyag_error *pyag_session_set_mappings(struct pyag_session *s,
					     const struct pyag_mapping *maps, size_t n)
{
	if (!s)
		return no_session();
	if (n && !maps)
		return pyag_error_create(PYAG_ERROR_USAGE, "no mappings given");
	struct pyag_mapping *copy = calloc(n ? n : 1, sizeof(*copy));
	if (!copy)
		return pyag_error_nomem("the mappings");
	for (size_t i = 0; i < n; i++) {
		copy[i] = maps[i];
		copy[i].path = NULL;
		if (maps[i].path && !(copy[i].path = strdup(maps[i].path))) {
			for (size_t k = 0; k < i; k++)
				free((char *)copy[k].path);
			free(copy);
			return pyag_error_nomem("the mappings");
		}
	}
	for (size_t i = 0; i < s->nmaps; i++)
		free((char *)s->maps[i].path);
	free(s->maps);
	s->maps = copy;
	s->nmaps = n;
	s->host.mappings = copy;  /* even none: the caller knows them all */
	s->host.num_mappings = n;
	return NULL;
}

struct pyag_error *pyag_session_set_trace(struct pyag_session *s, pyag_trace_fn *fn,
					  void *arg)
{
	if (!s)
		return no_session();
	s->host.trace = fn;
	s->host.trace_arg = arg;
	return NULL;
}

struct pyag_error *pyag_session_set_limit(struct pyag_session *s, enum pyag_limit which,
					  uint64_t value)
{
	if (!s)
		return no_session();
	if (value == 0 || value > SIZE_MAX)
		return pyag_error_create(PYAG_ERROR_USAGE, "a limit must be at least 1");
	size_t v = (size_t)value;
	switch (which) {
	case PYAG_LIMIT_TASKS:
		/* record indices are 31-bit */
		if (value > INT32_MAX)
			return pyag_error_create(PYAG_ERROR_USAGE,
						 "at most %d tasks", INT32_MAX);
		s->lim.max_tasks = v;
		return NULL;
	case PYAG_LIMIT_FRAMES:
		s->lim.max_frames = v;
		return NULL;
	case PYAG_LIMIT_SET:
		s->lim.max_set = v;
		return NULL;
	case PYAG_LIMIT_STRING:
		s->lim.max_string = v;
		return NULL;
	case PYAG_LIMIT_THREADS:
		s->lim.max_threads = v;
		return NULL;
	case PYAG_LIMIT_INTERPRETERS:
		s->lim.max_interpreters = v;
		return NULL;
	}
	return pyag_error_create(PYAG_ERROR_USAGE, "unknown limit %d", (int)which);
}

/* ---- capture ------------------------------------------------------------------ */

static struct pyag_error *open_reader(const struct pyag_host *host,
				      struct pyag_reader **ret);

struct pyag_error *pyag_session_read(struct pyag_session *s, uint64_t address,
				     void *buf, size_t size)
{
	if (!s)
		return no_session();
	struct pyag_reader *r;
	struct pyag_error *err = open_reader(&s->host, &r);
	if (err)
		return err;
	err = pyag_reader_read(r, address, buf, size);
	pyag_reader_destroy(r);
	return err;
}

static struct pyag_error *open_reader(const struct pyag_host *host,
				      struct pyag_reader **ret)
{
	if (host->read)
		return pyag_reader_create_callback(host->read, host->read_arg, ret);
	if (host->kind == PYAG_TARGET_CORE)
		return pyag_reader_create_core_ex(host->core_path, host->sysroot,
						  host->exe_path, ret);
	return pyag_reader_create_pid(host->pid, ret);
}

static struct pyag_error *need_asyncio(const struct target *t, const struct snapshot *snap)
{
	if (snap->layout.have_asyncio)
		return NULL;
	if (t->missing_file)
		return pyag_error_create(
			PYAG_ERROR_NO_ASYNCIO,
			"the asyncio debug offsets are in %s, which is not readable "
			"here: give the target's root directory as the sysroot (CLI: "
			"--sysroot DIR; gdb: set sysroot DIR; lldb: platform select "
			"host --sysroot DIR)", t->missing_file);
	return pyag_error_create(
		PYAG_ERROR_NO_ASYNCIO,
		t->asyncio_mapped ? "the _asyncio module is loaded but its debug offsets "
				    "(.AsyncioDebug section) were not found"
				  : "asyncio is not loaded in the target (no _asyncio "
				    "module mapped)");
}

/* Walk the target into g->snap; a process that runs while it is read
 * (no stop, or a tracer already holds it) can change a list under us: a
 * torn read shows as warnings (broken links, loops, unreadable objects).
 * Read again from a fresh cache; if every attempt is torn, say so. */
static struct pyag_error *walk(struct pyag_session *s, struct pyag_reader *r,
			       const struct target *t, bool stopped,
			       struct snapshot *snap)
{
	const struct pyag_host *host = &s->host;
	bool running = host->kind == PYAG_TARGET_LIVE && !host->read && !stopped &&
		       pid_running(host->pid);
	unsigned attempts = running ? NO_STOP_ATTEMPTS : 1;
	struct pyag_error *err;
	for (unsigned a = 1;; a++) {
		err = walk_target(r, &snap->layout, t->runtime_addr, &s->lim, snap);
		snap->attempts = a;
		if (err || !snap->nwarnings || a == attempts)
			break;
		snapshot_restart(snap);
		pyag_reader_invalidate(r);
	}
	if (!err && running && snap->nwarnings)
		snapshot_warn_at(snap, PYAG_WARNING_TORN, 0,
				 "the process ran while it was read (--no-stop): "
				 "%u reads gave an inconsistent graph; it may be partial "
				 "(the default mode stops the threads)", snap->attempts);
	return err;
}

/* The kernel's name of each thread of a live process (/proc/PID/task/TID/comm):
 * what top and ps show; 3.14+ set it from the threading name. */
static void read_thread_comms(struct snapshot *snap, int pid)
{
	for (size_t i = 0; i < snap->nthreads; i++) {
		struct thread_rec *th = &snap->threads[i];
		char path[96], buf[64];
		snprintf(path, sizeof(path), "/proc/%d/task/%llu/comm", pid,
			 (unsigned long long)th->native_thread_id);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == 0))
			n--;
		for (size_t k = 0; k < n; k++)
			if ((unsigned char)buf[k] < 0x20 || (unsigned char)buf[k] >= 0x7f)
				buf[k] = '?';
		th->comm = snapshot_intern(snap, buf, n);
		if (!th->comm)
			snapshot_nomem(snap, "thread names");
	}
}

/* The peer "host:port" of the TCP socket with inode ino, from
 * /proc/PID/net/tcp and tcp6 (the kernel's table, as ss shows it); NULL
 * when it has none (listening) or is not TCP. */
static bool tcp_peer(int pid, unsigned long long ino, char *out, size_t size)
{
	static const char *const tables[] = { "tcp", "tcp6" };
	for (size_t t = 0; t < 2; t++) {
		char path[64], line[512];
		snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, tables[t]);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		bool found = false;
		while (!found && fgets(line, sizeof(line), f)) {
			char rem[64];
			unsigned long long inode;
			unsigned st;
			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, " %*s %*s %63s %x %*s %*s %*s %*s %*s %llu", rem, &st,
				   &inode) != 3 || inode != ino)
				continue;
			found = true;
			char *colon = strchr(rem, ':');
			unsigned port;
			if (!colon || st == 0x0a || sscanf(colon + 1, "%x", &port) != 1 || !port) {
				fclose(f);
				return false;  /* listening: no peer */
			}
			*colon = 0;
			uint32_t w[4] = { 0 };
			size_t nw = strlen(rem) / 8;
			for (size_t k = 0; k < nw && k < 4; k++)
				sscanf(rem + 8 * k, "%8x", &w[k]);
			uint8_t b[16];
			memcpy(b, w, sizeof(b));  /* each word as the kernel stores it */
			char host[64];
			if (nw == 1)
				inet_ntop(AF_INET, b, host, sizeof(host));
			else if (nw == 4 && w[0] == 0 && w[1] == 0 && w[2] == htonl(0xffff))
				inet_ntop(AF_INET, b + 12, host, sizeof(host));
			else if (nw == 4)
				inet_ntop(AF_INET6, b, host, sizeof(host));
			else
				host[0] = 0;
			snprintf(out, size, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
		}
		fclose(f);
		if (found)
			return out[0] != 0;
	}
	return false;
}

/* Live: the peer of the sockets tasks wait on that memory gives no peer
 * for (loop.sock_recv() and the like), from the kernel's tables. */
static void read_socket_peers(struct snapshot *snap, int pid)
{
	for (size_t i = 0; i < snap->ntasks; i++) {
		struct await_rec *a = snap->tasks[i].awaiting;
		if (!a || (a->kind != PYAG_AWAIT_SOCKET && a->kind != PYAG_AWAIT_STREAM))
			continue;
		struct state_item *fd = NULL, *peer = NULL;
		for (uint8_t k = 0; k < a->nstate; k++) {
			if (strcmp(a->state[k].key, "fd") == 0 && a->state[k].type == PYAG_VALUE_INT)
				fd = &a->state[k];
			if (strcmp(a->state[k].key, "peer") == 0 &&
			    a->state[k].type == PYAG_VALUE_NULL)
				peer = &a->state[k];
		}
		if (!fd || !peer)
			continue;
		char path[64], link[64], name[300];
		unsigned long long ino;
		snprintf(path, sizeof(path), "/proc/%d/fd/%lld", pid, (long long)fd->i);
		ssize_t n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (sscanf(link, "socket:[%llu]", &ino) != 1 || !tcp_peer(pid, ino, name, sizeof(name)))
			continue;
		peer->s = snapshot_intern(snap, name, strlen(name));
		if (peer->s)
			peer->type = PYAG_VALUE_STRING;
	}
}

struct pyag_error *pyag_capture(struct pyag_session *s, struct pyag_graph **ret)
{
	if (!s)
		return no_session();
	struct pyag_graph *g = calloc(1, sizeof(*g));
	if (!g)
		return pyag_error_nomem("a graph");
	double t0 = now_ms();
	const struct pyag_host *host = &s->host;
	struct snapshot *snap = &g->snap;
	struct pyag_reader *r = NULL;
	struct target t;
	struct pid_stop stop = { 0 };
	bool have_target = false;
	snapshot_init(snap);
	struct pyag_error *err = open_reader(host, &r);
	if (err)
		goto out;
	r->trace = host->trace;
	r->trace_arg = host->trace_arg;
	if (host->stop_threads && host->kind == PYAG_TARGET_LIVE && !host->read &&
	    (err = pid_stop_all(host->pid, &stop)))
		goto out;
	if ((err = target_locate(&t, r, host)))
		goto out;
	have_target = true;
	struct layout_request lr = {
		.mode = s->layout,
		.debug_dirs = (const char *const *)s->debug_dirs,
		.ndebug_dirs = s->ndebug_dirs,
		.cache_dir = s->cache_dir,
	};
	if ((err = load_layout(r, &t, host, &lr, snap)) || (err = need_asyncio(&t, snap)))
		goto out;
	snap->kind = host->kind;
	snap->pid = host->pid;
	snap->runtime_how = t.runtime_how;
	if (reader_core_file(r))
		snap->pid = reader_core_file(r)->pid;
	err = walk(s, r, &t, stop.ntids != 0, snap);
	pid_resume_all(&stop);  /* everything is read: let it run */
	if (err)
		goto out;
	snap->bytes_read = r->bytes_read;
	snap->read_calls = r->read_calls;
	if (host->kind == PYAG_TARGET_LIVE && !host->read) {
		read_thread_comms(snap, host->pid);
		if (snap->waiting)
			read_socket_peers(snap, host->pid);
	}
	if ((err = graph_build(snap, &g->g)))
		goto out;
	layout_version_string(snap->layout.version, g->python, sizeof(g->python));
	snap->elapsed_ms = now_ms() - t0;
out:
	pid_resume_all(&stop);
	if (have_target)
		target_deinit(&t);
	pyag_reader_destroy(r);
	if (err) {
		snapshot_deinit(snap);
		free(g);
		return err;
	}
	*ret = g;
	return NULL;
}

void pyag_graph_destroy(struct pyag_graph *g)
{
	if (!g)
		return;
	graph_deinit(&g->g);
	snapshot_deinit(&g->snap);
	free(g);
}

/* ---- accessors -------------------------------------------------------------------- */

struct pyag_error *pyag_session_set_waiting(struct pyag_session *s, int on)
{
	if (!s)
		return no_session();
	s->lim.waiting = on != 0;
	return NULL;
}

const struct snapshot *graph_snapshot(const struct pyag_graph *g)
{
	return &g->snap;
}

const struct graph *graph_graph(const struct pyag_graph *g)
{
	return &g->g;
}

/* Fill the caller's struct of any version from a full one: size bytes. */
static struct pyag_error *fill(void *dst, const void *src, size_t full, const char *what)
{
	size_t size;
	memcpy(&size, dst, sizeof(size));
	if (size < sizeof(size_t))
		return pyag_error_create(PYAG_ERROR_USAGE, "struct %s: size not set", what);
	size_t n = size < full ? size : full;
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       n - sizeof(size_t));
	return NULL;
}

static struct pyag_error *bad_index(const char *what, size_t i, size_t n)
{
	return pyag_error_create(PYAG_ERROR_USAGE, "%s %zu out of range (%zu)", what, i, n);
}

size_t pyag_graph_num_threads(const struct pyag_graph *g)
{
	return g ? g->snap.nthreads : 0;
}

size_t pyag_graph_num_tasks(const struct pyag_graph *g)
{
	return g ? g->snap.ntasks : 0;
}

size_t pyag_graph_find(const struct pyag_graph *g, uint64_t address)
{
	long i = g ? snapshot_find(&g->snap, address) : -1;
	return i < 0 ? PYAG_NONE : (size_t)i;
}

struct pyag_error *pyag_graph_thread(const struct pyag_graph *g, size_t i,
				     struct pyag_thread *ret)
{
	if (!g || i >= g->snap.nthreads)
		return bad_index("thread", i, pyag_graph_num_threads(g));
	const struct thread_rec *th = &g->snap.threads[i];
	struct pyag_thread full = {
		.size = sizeof(full),
		.interpreter = th->interp_id,
		.thread_id = th->thread_id,
		.native_thread_id = th->native_thread_id,
		.running_task = th->running_task,
		.running_index = th->running_task ? pyag_graph_find(g, th->running_task)
						  : PYAG_NONE,
		.name = th->name,
		.comm = th->comm,
		.holds_gil = th->holds_gil,
		.state = (enum pyag_thread_state)th->state,
		.loop = th->loop,
		.num_frames = th->nstack,
	};
	return fill(ret, &full, sizeof(full), "pyag_thread");
}

static struct pyag_error *frame_out(const struct frame_rec *f, struct pyag_frame *ret)
{
	struct pyag_frame full = {
		.size = sizeof(full),
		.function = f->function,
		.filename = f->filename,
		.line = f->line,
		.kind = (enum pyag_frame_kind)f->kind,
	};
	return fill(ret, &full, sizeof(full), "pyag_frame");
}

struct pyag_error *pyag_graph_thread_frame(const struct pyag_graph *g, size_t i,
					   size_t k, struct pyag_frame *ret)
{
	if (!g || i >= g->snap.nthreads)
		return bad_index("thread", i, pyag_graph_num_threads(g));
	const struct thread_rec *th = &g->snap.threads[i];
	if (k >= th->nstack)
		return bad_index("frame", k, th->nstack);
	return frame_out(&th->stack[k], ret);
}

const char *pyag_thread_state_name(enum pyag_thread_state state)
{
	switch (state) {
	case PYAG_THREAD_RUNNING:
		return "running";
	case PYAG_THREAD_WAITING_GIL:
		return "waiting_for_gil";
	case PYAG_THREAD_GIL_RELEASED:
		return "gil_released";
	case PYAG_THREAD_IDLE:
		return "idle";
	case PYAG_THREAD_SUSPENDED:
		return "suspended";
	case PYAG_THREAD_UNKNOWN:
	default:
		return "unknown";
	}
}

struct pyag_error *pyag_graph_task(const struct pyag_graph *g, size_t i,
				   struct pyag_task *ret)
{
	if (!g || i >= g->snap.ntasks)
		return bad_index("task", i, pyag_graph_num_tasks(g));
	const struct task_rec *t = &g->snap.tasks[i];
	struct pyag_task full = {
		.size = sizeof(full),
		.address = t->addr,
		.kind = t->is_task ? PYAG_KIND_TASK : PYAG_KIND_FUTURE,
		.name = t->is_task ? t->name : NULL,
		.interpreter = t->interp_id,
		.native_thread_id = t->native_thread_id,
		.thread_id = t->thread_id,
		.running = t->running,
		.num_frames = t->nframes,
		.num_awaited_by = t->nawaited_by,
		.num_capture = t->ncapture < t->nframes ? t->ncapture : t->nframes,
		.edges_inferred = t->inferred,
	};
	return fill(ret, &full, sizeof(full), "pyag_task");
}

struct pyag_error *pyag_graph_frame(const struct pyag_graph *g, size_t i, size_t k,
				    struct pyag_frame *ret)
{
	if (!g || i >= g->snap.ntasks)
		return bad_index("task", i, pyag_graph_num_tasks(g));
	const struct task_rec *t = &g->snap.tasks[i];
	if (k >= t->nframes)
		return bad_index("frame", k, t->nframes);
	return frame_out(&t->frames[k], ret);
}

struct pyag_error *pyag_graph_awaiter(const struct pyag_graph *g, size_t i, size_t k,
				      uint64_t *address_ret, size_t *index_ret)
{
	if (!g || i >= g->snap.ntasks)
		return bad_index("task", i, pyag_graph_num_tasks(g));
	const struct task_rec *t = &g->snap.tasks[i];
	if (k >= t->nawaited_by)
		return bad_index("awaiter", k, t->nawaited_by);
	long p = snapshot_awaiter(&g->snap, t, (uint32_t)k);
	if (address_ret)
		*address_ret = t->awaited_by[k];
	if (index_ret)
		*index_ret = p < 0 ? PYAG_NONE : (size_t)p;
	return NULL;
}

const char *pyag_await_kind_name(enum pyag_await_kind kind)
{
	static const char *const names[] = {
		[PYAG_AWAIT_NONE] = "none",
		[PYAG_AWAIT_UNKNOWN] = "unknown",
		[PYAG_AWAIT_TASK] = "task",
		[PYAG_AWAIT_FUTURE] = "future",
		[PYAG_AWAIT_GATHER] = "gather",
		[PYAG_AWAIT_SHIELD] = "shield",
		[PYAG_AWAIT_EVENT] = "event",
		[PYAG_AWAIT_LOCK] = "lock",
		[PYAG_AWAIT_SEMAPHORE] = "semaphore",
		[PYAG_AWAIT_CONDITION] = "condition",
		[PYAG_AWAIT_QUEUE] = "queue",
		[PYAG_AWAIT_BARRIER] = "barrier",
		[PYAG_AWAIT_SLEEP] = "sleep",
		[PYAG_AWAIT_TIMEOUT] = "timeout",
		[PYAG_AWAIT_TASKGROUP] = "taskgroup",
		[PYAG_AWAIT_EXECUTOR] = "executor",
		[PYAG_AWAIT_STREAM] = "stream",
		[PYAG_AWAIT_SOCKET] = "socket",
		[PYAG_AWAIT_SUBPROCESS] = "subprocess",
	};
	if ((unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind])
		return names[kind];
	return "unknown";
}

struct pyag_error *pyag_graph_awaiting(const struct pyag_graph *g, size_t i,
				       struct pyag_awaiting *ret)
{
	if (!g || i >= g->snap.ntasks)
		return bad_index("task", i, pyag_graph_num_tasks(g));
	const struct await_rec *a = g->snap.tasks[i].awaiting;
	struct pyag_awaiting full = { .size = sizeof(full) };
	if (a) {
		full.kind = (enum pyag_await_kind)a->kind;
		full.future = a->future;
		full.object = a->object;
		full.type = a->type;
		full.num_state = a->nstate;
	}
	return fill(ret, &full, sizeof(full), "pyag_awaiting");
}

struct pyag_error *pyag_graph_awaiting_state(const struct pyag_graph *g, size_t i,
					     size_t k, struct pyag_value *ret)
{
	if (!g || i >= g->snap.ntasks)
		return bad_index("task", i, pyag_graph_num_tasks(g));
	const struct await_rec *a = g->snap.tasks[i].awaiting;
	size_t n = a ? a->nstate : 0;
	if (k >= n)
		return bad_index("state item", k, n);
	const struct state_item *it = &a->state[k];
	struct pyag_value full = {
		.size = sizeof(full),
		.key = it->key,
		.type = (enum pyag_value_type)it->type,
		.integer = it->i,
		.real = it->f,
		.string = it->s,
	};
	return fill(ret, &full, sizeof(full), "pyag_value");
}

size_t pyag_graph_num_loops(const struct pyag_graph *g)
{
	return g ? g->snap.nloops : 0;
}

struct pyag_error *pyag_graph_loop(const struct pyag_graph *g, size_t i,
				   struct pyag_loop *ret)
{
	if (!g || i >= g->snap.nloops)
		return bad_index("loop", i, pyag_graph_num_loops(g));
	const struct loop_rec *l = &g->snap.loops[i];
	struct pyag_loop full = {
		.size = sizeof(full),
		.address = l->addr,
		.interpreter = l->interp_id,
		.native_thread_id = l->native_thread_id,
		.type = l->type,
		.readable = l->readable,
		.running = l->running,
		.closed = l->closed,
		.ready = (long)l->ready,
		.timers = (long)l->timers,
		.has_deadline = l->has_deadline,
		.next_deadline = l->next_deadline,
		.has_remaining = l->has_deadline && g->snap.has_now,
		.remaining = l->has_deadline && g->snap.has_now
				     ? l->next_deadline - g->snap.now : 0,
		.num_tasks = l->ntasks,
		.num_fds = l->nfds,
		.can_wake = l->can_wake,
	};
	return fill(ret, &full, sizeof(full), "pyag_loop");
}

struct pyag_error *pyag_graph_loop_fd(const struct pyag_graph *g, size_t i, size_t k,
				      struct pyag_loop_fd *ret)
{
	if (!g || i >= g->snap.nloops)
		return bad_index("loop", i, pyag_graph_num_loops(g));
	const struct loop_rec *l = &g->snap.loops[i];
	if (k >= l->nfds)
		return bad_index("file descriptor", k, l->nfds);
	struct pyag_loop_fd full = {
		.size = sizeof(full),
		.fd = (int)l->fds[k].fd,
		.reader = l->fds[k].reader,
		.writer = l->fds[k].writer,
	};
	return fill(ret, &full, sizeof(full), "pyag_loop_fd");
}

size_t pyag_graph_num_cycles(const struct pyag_graph *g)
{
	return g ? g->g.ncycles : 0;
}

size_t pyag_graph_cycle_length(const struct pyag_graph *g, size_t c)
{
	/* the stored cycle repeats its first task at the end */
	return g && c < g->g.ncycles ? g->g.cycles[c].len - 1 : 0;
}

size_t pyag_graph_cycle_task(const struct pyag_graph *g, size_t c, size_t k)
{
	if (!g || c >= g->g.ncycles || k + 1 >= g->g.cycles[c].len)
		return PYAG_NONE;
	return g->g.cycles[c].v[k];
}

size_t pyag_graph_num_warnings(const struct pyag_graph *g)
{
	return g ? g->snap.nwarnings : 0;
}

struct pyag_error *pyag_graph_warning(const struct pyag_graph *g, size_t i,
				      struct pyag_warning *ret)
{
	if (!g || i >= g->snap.nwarnings)
		return bad_index("warning", i, pyag_graph_num_warnings(g));
	const struct warning_rec *w = &g->snap.warnings[i];
	struct pyag_warning full = {
		.size = sizeof(full),
		.code = w->code,
		.address = w->address,
		.message = w->message,
	};
	return fill(ret, &full, sizeof(full), "pyag_warning");
}

struct pyag_error *pyag_graph_facts(const struct pyag_graph *g, struct pyag_facts *ret)
{
	if (!g)
		return pyag_error_create(PYAG_ERROR_USAGE, "no graph given");
	const struct snapshot *snap = &g->snap;
	struct pyag_facts full = {
		.size = sizeof(full),
		.kind = snap->kind,
		.pid = snap->pid,
		.hexversion = snap->layout.version,
		.python = g->python,
		.free_threaded = snap->layout.free_threaded,
		.layout = snap->layout.source,
		.runtime_found = snap->runtime_how,
		.debug_files = snap->dwarf_files,
		.bytes_read = snap->bytes_read,
		.read_calls = snap->read_calls,
		.attempts = snap->attempts,
		.elapsed_ms = snap->elapsed_ms,
		.warnings_dropped = snap->warnings_dropped,
	};
	return fill(ret, &full, sizeof(full), "pyag_facts");
}
