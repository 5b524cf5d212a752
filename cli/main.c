/* py-async-graph: the command-line front end. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyag.h"

static const char cli_usage[] =
"Usage: py-async-graph [OPTIONS] [TASK] PID\n"
"       py-async-graph [OPTIONS] [TASK] --core CORE [--exe PYTHON] [--sysroot DIR]\n"
"\n"
"Target:\n"
"  PID                  a live Python process (stopped only as long as it is read)\n"
"  --core=CORE          an ELF core file (gcore or a kernel core)\n"
"  --exe=PYTHON         the executable that produced the core (if not found)\n"
"  --sysroot=DIR        prefix for the target's file paths (containers, cores\n"
"                       from another machine)\n"
"  --no-stop            read a live process without stopping it (by default\n"
"                       its threads are stopped with ptrace while it is read)\n"
"  --trace-reads=FILE   log every read of target memory and files to FILE\n"
"                       (a debugging aid; corefiles/ uses it to minimise cores)\n"
"  --version            print the version\n"
"\n";

struct cli {
	const char *core;
	const char *exe;
	const char *sysroot;
	const char *pid;
	const char *trace;
	bool no_stop;
	char **rest;
	int nrest;
};

/* Take out the target options; the rest goes to the library's parser. */
static int split_args(int argc, char **argv, struct cli *c)
{
	c->rest = calloc((size_t)argc + 1, sizeof(char *));
	if (!c->rest)
		return -1;
	int last_positional = -1;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		const char *name = NULL;
		if (!dashdash) {
			if (strcmp(a, "--") == 0) {
				dashdash = true;
				c->rest[c->nrest++] = argv[i];
				continue;
			}
			if (strcmp(a, "--no-stop") == 0) {
				c->no_stop = true;
				continue;
			}
			static const char *const names[] = { "--core", "--exe", "--sysroot",
							     "--trace-reads" };
			const char **dsts[] = { &c->core, &c->exe, &c->sysroot, &c->trace };
			for (int k = 0; k < 4; k++) {
				size_t n = strlen(names[k]);
				if (strncmp(a, names[k], n) == 0 && (a[n] == '=' || a[n] == '\0')) {
					name = names[k];
					dst = dsts[k];
					if (a[n] == '=') {
						*dst = a + n + 1;
					} else if (i + 1 < argc) {
						*dst = argv[++i];
					} else {
						fprintf(stderr, "py-async-graph: %s needs a value\n", name);
						return 2;
					}
					break;
				}
			}
			if (dst)
				continue;
		}
		if (dashdash || a[0] != '-')
			last_positional = c->nrest;
		c->rest[c->nrest++] = argv[i];
	}
	/* Without --core, the last positional argument is the PID. */
	if (!c->core && last_positional >= 0) {
		c->pid = c->rest[last_positional];
		for (int k = last_positional; k + 1 < c->nrest; k++)
			c->rest[k] = c->rest[k + 1];
		c->nrest--;
	}
	return 0;
}

static void print_message(void *arg, const struct pyag_message *m)
{
	(void)arg;
	if (m->kind == PYAG_MESSAGE_WARNING)
		fprintf(stderr, "warning: %s\n", m->text);
	else
		fprintf(stderr, "%s\n", m->text);
}

static int write_stdout(void *arg, const char *data, size_t size)
{
	return fwrite(data, 1, size, arg) == size ? 0 : -1;
}

static void trace_read(void *arg, const char *path, uint64_t address,
		       size_t size, int ok)
{
	FILE *f = arg;
	if (path)
		fprintf(f, "file %s 0x%llx %zu %s\n", path, (unsigned long long)address,
			size, ok ? "ok" : "fail");
	else
		fprintf(f, "mem 0x%llx %zu %s\n", (unsigned long long)address, size,
			ok ? "ok" : "fail");
}

/* The session for the target the command line names. */
static struct pyag_error *open_session(const struct cli *c, struct pyag_session **ret)
{
	if (c->core)
		return pyag_session_create_core(c->core, c->exe, c->sysroot, ret);
	char *end;
	long pid = strtol(c->pid, &end, 10);
	if (*end || pid <= 0 || pid > 0x7fffffff)
		return pyag_error_format(PYAG_ERROR_USAGE, "'%s' is not a process id", c->pid);
	if (c->exe)
		return pyag_error_format(PYAG_ERROR_USAGE,
					 "--exe applies to a core (--core CORE)");
	struct pyag_error *err = pyag_session_create_pid((int)pid, ret);
	if (!err && c->sysroot)
		err = pyag_session_set_sysroot(*ret, c->sysroot);
	if (!err && c->no_stop)
		err = pyag_session_set_stop(*ret, 0);
	if (err) {
		pyag_session_destroy(*ret);
		*ret = NULL;
	}
	return err;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(cli_usage, stdout);
			fputs(pyag_command_usage(), stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("py-async-graph %s\n", pyag_version());
			return 0;
		}
	}
	struct cli c = { 0 };
	int rc = split_args(argc, argv, &c);
	if (rc) {
		free(c.rest);
		return rc < 0 ? 1 : rc;
	}
	if (!c.core && !c.pid) {
		fprintf(stderr, "py-async-graph: no PID given (or --core CORE); see --help\n");
		free(c.rest);
		return 2;
	}
	if (c.no_stop && c.core) {
		fprintf(stderr, "py-async-graph: --no-stop applies to a live process\n");
		free(c.rest);
		return 2;
	}
	struct pyag_session *session = NULL;
	FILE *trace = NULL;
	struct pyag_error *err = open_session(&c, &session);
	if (!err && c.trace) {
		trace = fopen(c.trace, "w");
		if (!trace)
			err = pyag_error_format(PYAG_ERROR_OS, "%s: cannot open for writing",
						c.trace);
		else
			err = pyag_session_set_trace(session, trace_read, trace);
	}
	if (!err) {
		struct pyag_command_options co = PYAG_INIT_COMMAND_OPTIONS;
		co.write = write_stdout;
		co.write_arg = stdout;
		co.message = print_message;
		co.use_cache = 1;
		err = pyag_command_run(session, c.nrest, c.rest, &co, NULL);
	}
	free(c.rest);
	pyag_session_destroy(session);
	if (trace)
		fclose(trace);
	if (err) {
		fflush(stdout);
		fprintf(stderr, "py-async-graph: %s\n", pyag_error_message(err));
		rc = pyag_error_code(err) == PYAG_ERROR_USAGE ? 2 : 1;
		pyag_error_destroy(err);
		return rc;
	}
	if (fflush(stdout) != 0) {
		perror("py-async-graph: stdout");
		return 1;
	}
	return 0;
}
