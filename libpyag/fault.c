/*
 * Allocation-failure injection, for the tests only (configure
 * --enable-fault-injection): with PYAG_FAIL_SITE=K in the environment,
 * the first allocation made from the K-th call site the library reaches
 * (in the order it reaches them) fails, once. PYAG_FAIL_SITE=0 fails
 * nothing and prints, at exit, how many sites were reached: the test runs
 * K = 1 .. that count and wants, each time, the full output or one clear
 * error, with no crash and no leak.
 */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

#ifdef PYAG_FAULT_INJECTION
#undef malloc
#undef calloc
#undef realloc
#undef strdup
#undef strndup
#undef vasprintf
#undef asprintf

#define MAX_SITES 4096

static const void *sites[MAX_SITES];
static size_t nsites;
static long target = -1;        /* -1: not read yet */
static bool report;

static void at_exit_report(void)
{
	fprintf(stderr, "fault-injection: %zu allocation sites\n", nsites);
}

/* Whether the allocation from site should fail. */
static bool should_fail(const void *site)
{
	if (target < 0) {
		const char *e = getenv("PYAG_FAIL_SITE");
		target = e ? strtol(e, NULL, 10) : 0;
		if (e && target == 0 && !report) {
			report = true;
			atexit(at_exit_report);
		}
	}
	for (size_t i = 0; i < nsites; i++)
		if (sites[i] == site)
			return false;
	if (nsites == MAX_SITES)
		return false;
	sites[nsites++] = site;
	if (target > 0 && (long)nsites == target) {
		Dl_info info;
		if (getenv("PYAG_FAIL_VERBOSE") && dladdr(site, &info) && info.dli_fname)
			fprintf(stderr, "fault-injection: site %ld fails: %s+0x%lx\n", target,
				info.dli_fname,
				(unsigned long)((const char *)site - (const char *)info.dli_fbase));
		return true;
	}
	return false;
}

#define SITE __builtin_return_address(0)

void *pyag_fi_malloc(size_t n)
{
	return should_fail(SITE) ? NULL : malloc(n);
}

void *pyag_fi_calloc(size_t n, size_t size)
{
	return should_fail(SITE) ? NULL : calloc(n, size);
}

void *pyag_fi_realloc(void *p, size_t n)
{
	return should_fail(SITE) ? NULL : realloc(p, n);
}

char *pyag_fi_strdup(const char *s)
{
	return should_fail(SITE) ? NULL : strdup(s);
}

char *pyag_fi_strndup(const char *s, size_t n)
{
	return should_fail(SITE) ? NULL : strndup(s, n);
}

int pyag_fi_vasprintf(char **ret, const char *fmt, va_list ap)
{
	if (should_fail(SITE))
		return -1;
	return vasprintf(ret, fmt, ap);
}

int pyag_fi_asprintf(char **ret, const char *fmt, ...)
{
	if (should_fail(SITE))
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(ret, fmt, ap);
	va_end(ap);
	return n;
}
#endif
