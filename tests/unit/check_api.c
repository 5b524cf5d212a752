/*
 * Unit tests of the public API (sessions, capture, graph accessors,
 * renderers) and of the command layer, on the synthetic interpreter of
 * world.c. Like any client, this file sees pyag.h (and the command
 * layer's parser), not the library's insides.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyag.h"
#include "command.h"
#include "world.h"

/* ---- a session over the world ---------------------------------------------- */

static int world_symbol(void *arg, const char *name, uint64_t *ret)
{
	struct world *w = arg;
	if (strcmp(name, "_PyRuntime") == 0)
		*ret = w->py.runtime;
	else if (strcmp(name, "_AsyncioDebug") == 0)
		*ret = w->py.asyncio_debug;
	else
		return -1;
	return 0;
}

static struct pyag_session *world_session(struct world *w)
{
	struct pyag_callbacks cb = PYAG_INIT_CALLBACKS;
	cb.kind = PYAG_TARGET_CORE;
	cb.pid = 77;
	cb.read = fake_read;
	cb.read_arg = w->py.m;
	struct pyag_session *s = NULL;
	ck_assert_ptr_null(pyag_session_create_callbacks(&cb, &s));
	ck_assert_ptr_null(pyag_session_set_symbol_fn(s, world_symbol, w));
	ck_assert_ptr_null(pyag_session_set_mappings(s, NULL, 0));
	return s;
}

struct text {
	char buf[16384];
	size_t len;
	int refuse;             /* the sink says stop */
	char messages[4096];
	int nwarnings, nstats;
	int styles[8];          /* bytes per style */
};

static int text_write(void *arg, const char *data, size_t size)
{
	struct text *t = arg;
	if (t->refuse)
		return -1;
	ck_assert_uint_lt(t->len + size, sizeof(t->buf));
	memcpy(t->buf + t->len, data, size);
	t->len += size;
	t->buf[t->len] = '\0';
	return 0;
}

static int text_styled(void *arg, enum pyag_style style, const char *data, size_t size)
{
	struct text *t = arg;
	ck_assert_int_lt(style, 8);
	t->styles[style] += (int)size;
	return text_write(arg, data, size);
}

static void text_message(void *arg, const struct pyag_message *m)
{
	struct text *t = arg;
	ck_assert_uint_eq(m->size, sizeof(*m));
	if (m->kind == PYAG_MESSAGE_WARNING)
		t->nwarnings++;
	else
		t->nstats++;
	strncat(t->messages, m->text, sizeof(t->messages) - strlen(t->messages) - 2);
	strcat(t->messages, "\n");
}

static struct pyag_error *run(struct pyag_session *s, struct text *t, int *status,
			      int argc, char **argv)
{
	memset(t, 0, sizeof(*t));
	struct pyag_command_options co = PYAG_INIT_COMMAND_OPTIONS;
	co.write = text_write;
	co.write_arg = t;
	co.message = text_message;
	co.message_arg = t;
	co.selected_native_thread_id = 4242;
	return pyag_command_run(s, argc, argv, &co, status);
}

/* ---- the graph API ------------------------------------------------------------- */

START_TEST(test_capture_accessors)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct pyag_session *s = world_session(&w);
	struct pyag_graph *g;
	ck_assert_ptr_null(pyag_capture(s, &g));
	/* four listed tasks, then the future reached as an awaiter */
	ck_assert_uint_eq(pyag_graph_num_tasks(g), 5);
	ck_assert_uint_eq(pyag_graph_num_threads(g), 1);
	struct pyag_task t = PYAG_INIT_TASK;
	ck_assert_ptr_null(pyag_graph_task(g, 0, &t));
	ck_assert_uint_eq(t.address, w.parent);
	ck_assert_int_eq(t.kind, PYAG_KIND_TASK);
	ck_assert_str_eq(t.name, "Task-7");
	ck_assert_uint_eq(t.native_thread_id, 4242);
	ck_assert_ptr_null(pyag_graph_task(g, 1, &t));
	ck_assert_str_eq(t.name, "worker-\xce\xb1");
	ck_assert_uint_eq(t.num_frames, 2);
	ck_assert_uint_eq(t.num_awaited_by, 1);
	struct pyag_frame f = PYAG_INIT_FRAME;
	ck_assert_ptr_null(pyag_graph_frame(g, 1, 0, &f));
	ck_assert_str_eq(f.function, "sleep");
	ck_assert_str_eq(f.filename, "tasks.py");
	ck_assert_int_eq(f.line, 702);
	ck_assert_int_eq(f.kind, PYAG_FRAME_ASYNC);
	uint64_t a;
	size_t idx;
	ck_assert_ptr_null(pyag_graph_awaiter(g, 1, 0, &a, &idx));
	ck_assert_uint_eq(a, w.parent);
	ck_assert_uint_eq(idx, 0);
	/* the future: no name, found by address */
	size_t fi = pyag_graph_find(g, w.fut);
	ck_assert_uint_ne(fi, PYAG_NONE);
	ck_assert_ptr_null(pyag_graph_task(g, fi, &t));
	ck_assert_int_eq(t.kind, PYAG_KIND_FUTURE);
	ck_assert_ptr_null(t.name);
	ck_assert_uint_eq(pyag_graph_find(g, 0x12345), PYAG_NONE);
	/* the thread runs 'runner' */
	struct pyag_thread th = PYAG_INIT_THREAD;
	ck_assert_ptr_null(pyag_graph_thread(g, 0, &th));
	ck_assert_uint_eq(th.native_thread_id, 4242);
	ck_assert_uint_eq(th.running_task, w.running);
	ck_assert_uint_eq(th.running_index, pyag_graph_find(g, w.running));
	/* API 3: its whole stack (block, main, the loop's frame), no name (no
	 * threading registry in this world), not holding the GIL */
	ck_assert_uint_eq(th.num_frames, 3);
	ck_assert_ptr_null(th.name);
	ck_assert_ptr_null(th.comm);
	ck_assert_int_eq(th.holds_gil, 0);
	ck_assert_int_eq(th.state, PYAG_THREAD_GIL_RELEASED);
	ck_assert_str_eq(pyag_thread_state_name(th.state), "gil_released");
	ck_assert_str_eq(pyag_thread_state_name(PYAG_THREAD_RUNNING), "running");
	ck_assert_str_eq(pyag_thread_state_name((enum pyag_thread_state)99), "unknown");
	ck_assert_ptr_null(pyag_graph_thread_frame(g, 0, 0, &f));
	ck_assert_str_eq(f.function, "block");
	ck_assert_int_eq(f.kind, PYAG_FRAME_PLAIN);
	ck_assert_ptr_null(pyag_graph_thread_frame(g, 0, 2, &f));
	ck_assert_str_eq(f.function, "main");
	struct pyag_error *terr = pyag_graph_thread_frame(g, 0, 3, &f);
	ck_assert_int_eq(pyag_error_code(terr), PYAG_ERROR_USAGE);
	pyag_error_destroy(terr);
	terr = pyag_graph_thread_frame(g, 1, 0, &f);
	ck_assert_int_eq(pyag_error_code(terr), PYAG_ERROR_USAGE);
	pyag_error_destroy(terr);
	/* an API 2 caller's struct pyag_thread: filled up to its size only */
	struct pyag_thread old;
	memset(&old, 0xee, sizeof(old));
	old.size = offsetof(struct pyag_thread, name);
	ck_assert_ptr_null(pyag_graph_thread(g, 0, &old));
	ck_assert_uint_eq(old.native_thread_id, 4242);
	ck_assert_uint_eq((uintptr_t)old.name, (uintptr_t)0xeeeeeeeeeeeeeeeeull);
	/* out of range, and a struct without its size */
	struct pyag_error *err = pyag_graph_task(g, 99, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	struct pyag_task nosize;
	memset(&nosize, 0, sizeof(nosize));
	err = pyag_graph_task(g, 0, &nosize);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	/* an older, smaller struct gets only its own fields */
	struct pyag_task small;
	memset(&small, 0xee, sizeof(small));
	small.size = offsetof(struct pyag_task, name);
	ck_assert_ptr_null(pyag_graph_task(g, 0, &small));
	ck_assert_uint_eq(small.address, w.parent);
	ck_assert_uint_eq((uintptr_t)small.name, (uintptr_t)0xeeeeeeeeeeeeeeeeull);
	/* facts */
	struct pyag_facts facts = PYAG_INIT_FACTS;
	ck_assert_ptr_null(pyag_graph_facts(g, &facts));
	ck_assert_int_eq(facts.kind, PYAG_TARGET_CORE);
	ck_assert_int_eq(facts.pid, 77);
	ck_assert_str_eq(facts.python, "3.14.10");
	ck_assert_str_eq(facts.layout, "debug-offsets");
	ck_assert_str_eq(facts.runtime_found, "symbol");
	ck_assert_uint_gt(facts.bytes_read, 0);
	ck_assert_uint_eq(facts.attempts, 1);
	ck_assert_uint_eq(pyag_graph_num_cycles(g), 0);
	ck_assert_uint_eq(pyag_graph_num_warnings(g), 0);
	pyag_graph_destroy(g);
	pyag_session_destroy(s);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_render)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct pyag_session *s = world_session(&w);
	struct pyag_graph *g;
	ck_assert_ptr_null(pyag_capture(s, &g));
	struct text t;
	memset(&t, 0, sizeof(t));
	struct pyag_render_options ro = PYAG_INIT_RENDER_OPTIONS;
	ro.format = PYAG_FORMAT_CALLGRAPH;
	ro.task = 1;
	ck_assert_ptr_null(pyag_render(g, &ro, text_write, &t));
	ck_assert_ptr_nonnull(strstr(t.buf, "* Task(name='worker-\xce\xb1'"));
	ck_assert_ptr_nonnull(strstr(t.buf, "  + Awaited by:\n    * Task(name='Task-7'"));
	/* styled: the same bytes, with spans */
	struct text st;
	memset(&st, 0, sizeof(st));
	ro.styled_write = text_styled;
	ro.styled_arg = &st;
	ck_assert_ptr_null(pyag_render(g, &ro, NULL, NULL));
	ck_assert_str_eq(st.buf, t.buf);
	ck_assert_int_eq(st.styles[PYAG_STYLE_TASK_NAME],
			 (int)strlen("'worker-\xce\xb1'") + (int)strlen("'Task-7'"));
	ck_assert_int_gt(st.styles[PYAG_STYLE_ADDRESS], 0);
	ck_assert_int_eq(st.styles[PYAG_STYLE_FUNCTION],
			 (int)strlen("sleep") + (int)strlen("leaf") +
			 (int)strlen("main") + (int)strlen("TaskGroup._aexit"));
	/* the thread report: the thread's stack as a traceback, then its tasks */
	struct text tt;
	memset(&tt, 0, sizeof(tt));
	struct pyag_render_options to = PYAG_INIT_RENDER_OPTIONS;
	to.format = PYAG_FORMAT_THREADS;
	ck_assert_ptr_null(pyag_render(g, &to, text_write, &tt));
	const char *head = strstr(tt.buf, "\nThread 4242 (interpreter 0): GIL released");
	ck_assert_ptr_nonnull(head);
	const char *outer = strstr(tt.buf, "in main\n");
	const char *inner = strstr(tt.buf, "in block\n");
	ck_assert_ptr_nonnull(outer);
	ck_assert_ptr_nonnull(inner);
	ck_assert(outer < inner);  /* most recent call last */
	ck_assert_ptr_nonnull(strstr(tt.buf, "Stack (most recent call last):\n  File \""));
	ck_assert_ptr_nonnull(strstr(tt.buf, "Tasks:\n└── (T) Task-7"));
	/* --thread of another thread: the header line only */
	memset(&tt, 0, sizeof(tt));
	to.native_thread_id = 4243;
	ck_assert_ptr_null(pyag_render(g, &to, text_write, &tt));
	ck_assert_ptr_null(strstr(tt.buf, "Thread 4242"));
	/* a sink that refuses: an error, not a shorter output */
	ro.styled_write = NULL;
	ro.format = PYAG_FORMAT_TREE;
	ro.task = PYAG_NONE;
	t.refuse = 1;
	struct pyag_error *err = pyag_render(g, &ro, text_write, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_OS);
	pyag_error_destroy(err);
	/* filters that match nothing */
	t.refuse = 0;
	ro.name_glob = "nobody*";
	err = pyag_render(g, &ro, text_write, &t);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_FOUND);
	pyag_error_destroy(err);
	/* formats by name */
	enum pyag_format fmt;
	ck_assert_ptr_null(pyag_format_parse("dot", &fmt));
	ck_assert_int_eq(fmt, PYAG_FORMAT_DOT);
	err = pyag_format_parse("yaml", &fmt);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	pyag_graph_destroy(g);
	pyag_session_destroy(s);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_session_errors)
{
	struct pyag_session *s = NULL;
	struct pyag_error *err = pyag_session_create_pid(0, &s);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	err = pyag_session_create_core(NULL, NULL, NULL, &s);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	struct pyag_callbacks cb = PYAG_INIT_CALLBACKS;
	err = pyag_session_create_callbacks(&cb, &s);  /* no read callback */
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	/* a core session cannot be told to stop threads */
	ck_assert_ptr_null(pyag_session_create_core("/nonexistent", NULL, NULL, &s));
	err = pyag_session_set_stop(s, 0);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	err = pyag_session_set_limit(s, PYAG_LIMIT_FRAMES, 0);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	ck_assert_ptr_null(pyag_session_set_limit(s, PYAG_LIMIT_FRAMES, 5));
	/* the capture of a missing core fails with the OS's reason */
	struct pyag_graph *g = NULL;
	err = pyag_capture(s, &g);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_OS);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "/nonexistent"));
	pyag_error_destroy(err);
	pyag_session_destroy(s);
	/* no cache unless asked */
	setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
	unsetenv("PYAG_NO_CACHE");
	ck_assert_str_eq(pyag_default_cache_dir(), "/tmp/xdg/py-async-graph");
	setenv("PYAG_NO_CACHE", "1", 1);
	ck_assert_ptr_null(pyag_default_cache_dir());
	unsetenv("PYAG_NO_CACHE");
	ck_assert_int_eq(pyag_api_version(), PYAG_API_VERSION);
}
END_TEST

START_TEST(test_limits)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct pyag_session *s = world_session(&w);
	/* one frame per stack: the chains are cut, with a warning */
	ck_assert_ptr_null(pyag_session_set_limit(s, PYAG_LIMIT_FRAMES, 1));
	struct pyag_graph *g;
	ck_assert_ptr_null(pyag_capture(s, &g));
	ck_assert_uint_gt(pyag_graph_num_warnings(g), 0);
	struct pyag_warning wr = PYAG_INIT_WARNING;
	ck_assert_ptr_null(pyag_graph_warning(g, 0, &wr));
	ck_assert_int_eq(wr.code, PYAG_WARNING_LIMIT);
	ck_assert_ptr_nonnull(strstr(wr.message, "truncated"));
	pyag_graph_destroy(g);
	pyag_session_destroy(s);
	fake_py_deinit(&w.py);
}
END_TEST

/* ---- the command layer ---------------------------------------------------------- */

START_TEST(test_options)
{
	struct options o;
	char *a1[] = { "--format=json", "--limit", "-2", "0x10", "--stats" };
	ck_assert_ptr_null(options_parse(5, a1, &o));
	ck_assert(o.has_format);
	ck_assert_int_eq(o.format, PYAG_FORMAT_JSON);
	ck_assert(o.has_limit);
	ck_assert_int_eq(o.limit, -2);
	ck_assert_str_eq(o.task, "0x10");
	ck_assert(o.stats);
	char *a2[] = { "--format=yaml" };
	struct pyag_error *err = options_parse(1, a2, &o);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	char *a3[] = { "--limit=x" };
	err = options_parse(1, a3, &o);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	char *a4[] = { "a", "b" };
	err = options_parse(2, a4, &o);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	char *a5[] = { "--current", "x" };
	err = options_parse(2, a5, &o);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	char *a6[] = { "--", "--odd-name" };
	ck_assert_ptr_null(options_parse(2, a6, &o));
	ck_assert_str_eq(o.task, "--odd-name");
	ck_assert(!o.has_format);  /* the front end's default applies */
	char *a7[] = { "--layout=dwarf", "--debug-file-directory", "/d", "--thread=9" };
	ck_assert_ptr_null(options_parse(4, a7, &o));
	ck_assert_int_eq(o.layout, PYAG_LAYOUT_DWARF);
	ck_assert_uint_eq(o.ndebug_dirs, 1);
	ck_assert_str_eq(o.debug_dirs[0], "/d");
	ck_assert_uint_eq(o.thread, 9);
}
END_TEST

START_TEST(test_command_help_and_usage)
{
	struct text t;
	int status = -1;
	char *help[] = { "--help" };
	/* help needs no target */
	ck_assert_ptr_null(run(NULL, &t, &status, 1, help));
	ck_assert_str_eq(t.buf, pyag_command_usage());
	char *none[] = { NULL };
	struct pyag_error *err = run(NULL, &t, &status, 0, none);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	/* options without a size, or without a sink */
	struct pyag_command_options co;
	memset(&co, 0, sizeof(co));
	err = pyag_command_run(NULL, 1, help, &co, NULL);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	co.size = sizeof(co);
	err = pyag_command_run(NULL, 1, help, &co, NULL);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
}
END_TEST

START_TEST(test_command_select)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	struct pyag_session *s = world_session(&w);
	struct text t;
	int status = -1;
	/* TASK by name, then by address: the same block */
	char *by_name[] = { "--format=callgraph", "worker-\xce\xb1" };
	ck_assert_ptr_null(run(s, &t, &status, 2, by_name));
	ck_assert_int_eq(status, 0);
	char first[16384];
	strcpy(first, t.buf);
	ck_assert_ptr_nonnull(strstr(first, "* Task(name='worker-\xce\xb1'"));
	char addr[32];
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)w.child1);
	char *by_addr[] = { "--format=callgraph", addr };
	ck_assert_ptr_null(run(s, &t, &status, 2, by_addr));
	ck_assert_str_eq(t.buf, first);
	/* --current: the debugger's selected thread runs 'runner', with its
	 * plain frame above the coroutine */
	char *current[] = { "--format=callgraph", "--current" };
	ck_assert_ptr_null(run(s, &t, &status, 2, current));
	ck_assert_ptr_nonnull(strstr(t.buf, "* Task(name='runner'"));
	ck_assert_ptr_nonnull(strstr(t.buf, "in block()"));
	char *other_thread[] = { "--current", "--thread=99" };
	struct pyag_error *err = run(s, &t, &status, 2, other_thread);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_FOUND);
	pyag_error_destroy(err);
	/* an unknown task */
	char *unknown[] = { "nobody" };
	err = run(s, &t, &status, 1, unknown);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(pyag_error_message(err), "'nobody'"));
	pyag_error_destroy(err);
	/* --stats: lines as messages, none as warnings */
	char *stats[] = { "--format=json", "--stats" };
	ck_assert_ptr_null(run(s, &t, &status, 2, stats));
	ck_assert_int_eq(t.nwarnings, 0);
	ck_assert_int_ge(t.nstats, 2);
	ck_assert_ptr_nonnull(strstr(t.messages, "stats: python 3.14.10, 4 tasks, 1 futures"));
	ck_assert_ptr_nonnull(strstr(t.buf, "\"schema\": 1"));
	/* the front end's default format, overridden by --format */
	struct pyag_command_options co = PYAG_INIT_COMMAND_OPTIONS;
	co.write = text_write;
	co.write_arg = &t;
	co.default_format = "table";
	memset(&t, 0, sizeof(t));
	char *nothing[] = { NULL };
	ck_assert_ptr_null(pyag_command_run(s, 0, nothing, &co, NULL));
	ck_assert_ptr_nonnull(strstr(t.buf, "tid"));
	co.default_format = "nonsense";
	err = pyag_command_run(s, 0, nothing, &co, NULL);
	ck_assert_int_eq(pyag_error_code(err), PYAG_ERROR_USAGE);
	pyag_error_destroy(err);
	pyag_session_destroy(s);
	fake_py_deinit(&w.py);
}
END_TEST

START_TEST(test_command_cycle_warning)
{
	struct world w;
	build_world(&w, WORLD_VERSION);
	/* parent is awaited by child1: parent -> child1 -> parent */
	fake_awaited_by_one(&w.py, w.parent, w.child1);
	struct pyag_session *s = world_session(&w);
	struct text t;
	int status = -1;
	char *tree[] = { "--format=tree" };
	ck_assert_ptr_null(run(s, &t, &status, 1, tree));
	ck_assert_int_eq(status, 1);
	ck_assert_int_eq(t.nwarnings, 1);
	ck_assert_str_eq(t.messages, "the await graph has 1 cycle (a deadlock)\n");
	struct pyag_graph *g;
	ck_assert_ptr_null(pyag_capture(s, &g));
	ck_assert_uint_eq(pyag_graph_num_cycles(g), 1);
	ck_assert_uint_eq(pyag_graph_cycle_length(g, 0), 2);
	size_t a = pyag_graph_cycle_task(g, 0, 0), b = pyag_graph_cycle_task(g, 0, 1);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(pyag_graph_cycle_task(g, 0, 2), PYAG_NONE);
	pyag_graph_destroy(g);
	pyag_session_destroy(s);
	fake_py_deinit(&w.py);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *graph = tcase_create("graph");
	tcase_add_test(graph, test_capture_accessors);
	tcase_add_test(graph, test_render);
	tcase_add_test(graph, test_session_errors);
	tcase_add_test(graph, test_limits);
	suite_add_tcase(s, graph);
	TCase *command = tcase_create("command");
	tcase_add_test(command, test_options);
	tcase_add_test(command, test_command_help_and_usage);
	tcase_add_test(command, test_command_select);
	tcase_add_test(command, test_command_cycle_warning);
	suite_add_tcase(s, command);
	return s;
}

int main(void)
{
	return run_suite(api_suite());
}
