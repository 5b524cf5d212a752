/* Reading a live process: process_vm_readv, else pread on /proc/PID/mem. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader.h"

static struct pyag_error *permission_error(int pid)
{
	return pyag_error_create(
		PYAG_ERROR_PERMISSION,
		"not permitted to read the memory of process %d; run as the same "
		"user with ptrace allowed (echo 0 > /proc/sys/kernel/yama/ptrace_scope), "
		"or as root / with CAP_SYS_PTRACE (in a container: --cap-add=SYS_PTRACE)",
		pid);
}

static struct pyag_error *mem_fd_read(struct pyag_reader *r, uint64_t address,
				      void *buf, size_t size)
{
	if (r->mem_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", r->pid);
		r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->mem_fd < 0) {
			if (errno == EACCES || errno == EPERM)
				return permission_error(r->pid);
			if (errno == ENOENT)
				return pyag_error_create(PYAG_ERROR_NO_PROCESS,
							 "no process with pid %d", r->pid);
			return pyag_error_errno(errno, "%s", path);
		}
	}
	size_t done = 0;
	while (done < size) {
		ssize_t n = pread(r->mem_fd, (char *)buf + done, size - done,
				  (off_t)(address + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return pyag_error_fault(address, size);
		done += (size_t)n;
	}
	return NULL;
}

static struct pyag_error *pid_read(struct pyag_reader *r, uint64_t address,
				   void *buf, size_t size)
{
	if (r->use_mem_fd)
		return mem_fd_read(r, address, buf, size);
	struct iovec local = { buf, size };
	struct iovec remote = { (void *)(uintptr_t)address, size };
	ssize_t n = process_vm_readv(r->pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)size)
		return NULL;
	if (n >= 0)
		return pyag_error_fault(address, size);
	switch (errno) {
	case EFAULT:
		return pyag_error_fault(address, size);
	case ESRCH:
		return pyag_error_create(PYAG_ERROR_NO_PROCESS,
					 "no process with pid %d", r->pid);
	case EPERM:
	case ENOSYS:
		/* /proc/PID/mem may still work (e.g. seccomp forbids the call) */
		r->use_mem_fd = true;
		return mem_fd_read(r, address, buf, size);
	default:
		return pyag_error_errno(errno, "process_vm_readv(%d)", r->pid);
	}
}

static void pid_destroy(struct pyag_reader *r)
{
	if (r->mem_fd >= 0)
		close(r->mem_fd);
}

static const struct reader_ops pid_ops = {
	.read = pid_read,
	.destroy = pid_destroy,
};

struct pyag_error *pyag_reader_create_pid(int pid, struct pyag_reader **ret)
{
	if (pid <= 0)
		return pyag_error_create(PYAG_ERROR_USAGE, "invalid pid %d", pid);
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return pyag_error_create(PYAG_ERROR_NO_PROCESS,
					 "no process with pid %d", pid);
	struct pyag_reader *r = malloc(sizeof(*r));
	if (!r)
		return &pyag_enomem;
	reader_init(r, &pid_ops);
	r->pid = pid;
	*ret = r;
	return NULL;
}

/* Used by the permission check of target.c. */
struct pyag_error *reader_pid_permission_error(int pid);
struct pyag_error *reader_pid_permission_error(int pid)
{
	return permission_error(pid);
}

/* ---- stopping the process while reading ---------------------------------- */

/* The TracerPid of a process, 0 if none, -1 if unknown. */
static int tracer_of(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int tracer = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &tracer) == 1)
			break;
	fclose(f);
	return tracer;
}

static bool stopped_already(const struct pid_stop *st, int tid)
{
	for (size_t i = 0; i < st->ntids; i++)
		if (st->tids[i] == tid)
			return true;
	return false;
}

/* Wait until tid reports its ptrace stop (bounded). */
static bool wait_stop(int tid)
{
	for (int tries = 0; tries < 1000; tries++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return false;
		if (!WIFSTOPPED(status))
			continue;
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return true;
		/* another signal arrived first: leave it pending for the thread
		 * and wait for our interrupt's stop */
		ptrace(PTRACE_CONT, tid, NULL, (void *)(uintptr_t)WSTOPSIG(status));
	}
	return false;
}

struct pyag_error *pid_stop_all(int pid, struct pid_stop *st)
{
	memset(st, 0, sizeof(*st));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	/* Threads may start while we attach: repeat until a pass adds none. */
	for (int pass = 0; pass < 100; pass++) {
		DIR *d = opendir(path);
		if (!d) {
			pid_resume_all(st);
			if (errno == ENOENT)
				return pyag_error_create(PYAG_ERROR_NO_PROCESS,
							 "no process with pid %d", pid);
			return pyag_error_errno(errno, "%s", path);
		}
		bool added = false;
		struct dirent *de;
		while ((de = readdir(d))) {
			int tid = atoi(de->d_name);
			if (tid <= 0 || stopped_already(st, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0) {
				if (errno == ESRCH)
					continue;  /* exited meanwhile */
				int e = errno;
				closedir(d);
				pid_resume_all(st);
				if (e == EPERM && tracer_of(pid) > 0)
					return pyag_error_create(
						PYAG_ERROR_PERMISSION,
						"process %d is already traced by process %d (a "
						"debugger?); use --no-stop to read it anyway",
						pid, tracer_of(pid));
				if (e == EPERM)
					return permission_error(pid);
				return pyag_error_errno(e, "ptrace(SEIZE, %d)", tid);
			}
			int *t = realloc(st->tids, (st->ntids + 1) * sizeof(int));
			if (!t) {
				ptrace(PTRACE_DETACH, tid, NULL, NULL);
				closedir(d);
				pid_resume_all(st);
				return &pyag_enomem;
			}
			st->tids = t;
			st->tids[st->ntids++] = tid;
			added = true;
			if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0)
				wait_stop(tid);
		}
		closedir(d);
		if (!added)
			return NULL;
	}
	return NULL;
}

bool pid_running(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool running = false;
	struct dirent *de;
	while (!running && (de = readdir(d))) {
		int tid = atoi(de->d_name);
		if (tid <= 0)
			continue;
		char stat[96], buf[512];
		snprintf(stat, sizeof(stat), "/proc/%d/task/%d/stat", pid, tid);
		FILE *f = fopen(stat, "re");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* "tid (comm) S ...": the state follows the last ')' */
		const char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && !strchr("tTZX", p[2]))
			running = true;
	}
	closedir(d);
	return running;
}

void pid_resume_all(struct pid_stop *st)
{
	/* Detaching resumes the thread; if we die instead, the kernel detaches
	 * for us, so a target is never left stopped. */
	for (size_t i = 0; i < st->ntids; i++)
		ptrace(PTRACE_DETACH, st->tids[i], NULL, NULL);
	free(st->tids);
	memset(st, 0, sizeof(*st));
}
