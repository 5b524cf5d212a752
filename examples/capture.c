/* capture: print the asyncio tasks of a Python process or core with libpyag.
 *
 *   cc capture.c $(pkg-config --cflags --libs pyag) -o capture
 *   ./capture PID                  a live process (stopped while it is read)
 *   ./capture CORE EXE [SYSROOT]   a core file, the interpreter that wrote it,
 *                                  and the root of the files it names
 */
#include <stdio.h>
#include <stdlib.h>
#include <pyag.h>

static int print(void *arg, const char *data, size_t size)
{
	return fwrite(data, 1, size, arg) == size ? 0 : -1;
}

static int fail(struct pyag_error *err)
{
	fprintf(stderr, "capture: %s\n", pyag_error_message(err));
	pyag_error_destroy(err);
	return 1;
}

int main(int argc, char **argv)
{
	struct pyag_session *s;
	struct pyag_graph *g;
	struct pyag_error *err;

	if (argc == 2)
		err = pyag_session_create_pid(atoi(argv[1]), &s);
	else if (argc == 3 || argc == 4)
		err = pyag_session_create_core(argv[1], argv[2], argc == 4 ? argv[3] : NULL, &s);
	else {
		fprintf(stderr, "usage: capture PID | capture CORE EXE [SYSROOT]\n");
		return 2;
	}
	if (err)
		return fail(err);
	err = pyag_capture(s, &g);
	pyag_session_destroy(s);
	if (err)
		return fail(err);

	/* every task: its name, where it is suspended, who awaits it */
	for (size_t i = 0; i < pyag_graph_num_tasks(g); i++) {
		struct pyag_task t = PYAG_INIT_TASK;
		struct pyag_frame f = PYAG_INIT_FRAME;
		if ((err = pyag_graph_task(g, i, &t)))
			return fail(err);
		if (t.kind != PYAG_KIND_TASK)
			continue;
		printf("task %s at 0x%llx", t.name, (unsigned long long)t.address);
		if (t.num_frames && !(err = pyag_graph_frame(g, i, 0, &f)))
			printf(", in %s (%s:%d)", f.function, f.filename, f.line);
		for (size_t k = 0; k < t.num_awaited_by; k++) {
			uint64_t address;
			size_t index;
			if ((err = pyag_graph_awaiter(g, i, k, &address, &index)))
				return fail(err);
			printf("%s0x%llx", k ? ", " : ", awaited by ",
			       (unsigned long long)address);
		}
		printf("\n");
	}
	for (size_t i = 0; i < pyag_graph_num_warnings(g); i++) {
		struct pyag_warning w = PYAG_INIT_WARNING;
		if (!pyag_graph_warning(g, i, &w))
			fprintf(stderr, "warning: %s\n", w.message);
	}

	/* and the first task as asyncio.format_call_graph() prints it */
	struct pyag_render_options ro = PYAG_INIT_RENDER_OPTIONS;
	ro.format = PYAG_FORMAT_CALLGRAPH;
	ro.task = 0;
	err = pyag_render(g, &ro, print, stdout);
	pyag_graph_destroy(g);
	return err ? fail(err) : 0;
}
