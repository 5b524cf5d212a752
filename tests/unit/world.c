/* The synthetic interpreter the unit tests share. */
#include <check.h>
#include <stdlib.h>

#include "internal.h"
#include "world.h"

/*
 * parent 'Task-7' (int name): main() line 3 awaiting TaskGroup._aexit (line 121)
 * child1 'worker-α' (kind 2 str): leaf() line 21 -> sleep() line 702;
 *         awaited by parent (a single awaiter)
 * child2 'worker-😀' (kind 4 str): leaf() line 22;
 *         awaited by a set {dummy, fut, parent} in that slot order
 * fut: a plain future awaited by parent
 * running 'runner': running on the thread: block() line 31 on top of
 *         async main() line 5
 */
void build_world(struct world *w, uint64_t version)
{
	struct fake_py *py = &w->py;
	fake_py_init(py, version);
	w->code_main = fake_code(py, "main", "app.py", 1, 10);
	uint64_t code_aexit = fake_code(py, "TaskGroup._aexit", "taskgroups.py", 100, 30);
	w->code_leaf = fake_code(py, "leaf", "app.py", 20, 5);
	w->code_sleep = fake_code(py, "sleep", "tasks.py", 700, 5);
	w->code_block = fake_code(py, "block", "app.py", 30, 5);
	uint64_t inner = fake_coro(py, code_aexit, 21, 0);
	uint64_t pc = fake_coro(py, w->code_main, 2, inner);
	w->parent = fake_task(py, fake_int(py, 7), pc, 1);
	uint64_t sl = fake_coro(py, w->code_sleep, 2, 0);
	uint64_t c1 = fake_coro(py, w->code_leaf, 1, sl);
	const uint32_t alpha[] = { 'w', 'o', 'r', 'k', 'e', 'r', '-', 0x3b1 };
	w->child1 = fake_task(py, fake_str(py, alpha, 8, 2), c1, 1);
	fake_awaited_by_one(py, w->child1, w->parent);
	uint64_t c2 = fake_coro(py, w->code_leaf, 2, 0);
	const uint32_t emoji[] = { 'w', 'o', 'r', 'k', 'e', 'r', '-', 0x1f600 };
	w->child2 = fake_task(py, fake_str(py, emoji, 8, 4), c2, 1);
	w->fut = fake_task(py, 0, 0, 0);
	fake_awaited_by_one(py, w->fut, w->parent);
	const uint64_t slots[4] = { 1, w->fut, 0, w->parent };
	fake_awaited_by_set(py, w->child2, slots, 4);
	/* the running task: frames top first: block (plain) -> main (coroutine,
	 * embedded in its coroutine object) -> a plain frame (the event loop) */
	uint64_t rc = fake_coro(py, w->code_main, 4, 0);
	uint64_t loop_frame = fake_frame(py, w->code_main, 9, 0, 0);
	uint64_t rc_frame = rc + py->l.gen_iframe;
	fake_w64(py->m, rc_frame + py->l.frame_previous, loop_frame);
	uint64_t shim = fake_frame(py, w->code_main, 0,    /* a C-stack shim */
				   py->l.owner_first_incomplete + 1, rc_frame);
	uint64_t top = fake_frame(py, w->code_block, 1, 0, shim);
	w->running = fake_task(py, fake_ascii(py, "runner"), rc, 1);
	fake_running(py, w->running, top);
	const uint64_t list[] = { w->parent, w->child1, w->child2, w->running };
	fake_thread_tasks(py, list, 4);
}

int world_first_column(void)
{
	for (int c = 0; c < LAYOUT_NVERSIONS; c++)
		if (layout_versions[c].asyncio_debug_size)
			return c;
	abort();  /* a bug in the table */
}

void walk_world(struct world *w, struct snapshot *snap)
{
	struct pyag_reader *r;
	ck_assert_ptr_null(pyag_reader_create_callback(fake_read, w->py.m, &r));
	struct pyag_layout l;
	ck_assert_ptr_null(layout_from_debug_offsets(r, w->py.runtime,
						     w->py.asyncio_debug, &l));
	struct walk_limits lim;
	walk_default_limits(&lim);
	snapshot_init(snap);
	ck_assert_ptr_null(walk_target(r, &l, w->py.runtime, &lim, snap));
	pyag_reader_destroy(r);
}


int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
