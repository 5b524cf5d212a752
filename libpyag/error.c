/* Errors as values: NULL is success; everything else carries a message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

struct pyag_error pyag_enomem = {
	.code = PYAG_ERROR_NO_MEMORY,
	.is_static = true,
	.message = (char *)"out of memory",
};

static struct pyag_error *error_vcreate(enum pyag_error_code code,
					uint64_t address, const char *fmt,
					va_list ap)
{
	struct pyag_error *err = calloc(1, sizeof(*err));
	if (!err)
		return &pyag_enomem;
	if (vasprintf(&err->message, fmt, ap) < 0) {
		free(err);
		return &pyag_enomem;
	}
	err->code = code;
	err->address = address;
	return err;
}

struct pyag_error *pyag_error_create(enum pyag_error_code code,
				     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct pyag_error *err = error_vcreate(code, 0, fmt, ap);
	va_end(ap);
	return err;
}

struct pyag_error *pyag_error_fault(uint64_t address, size_t size)
{
	struct pyag_error *err = pyag_error_create(
		PYAG_ERROR_FAULT, "cannot read %zu bytes at 0x%llx", size,
		(unsigned long long)address);
	if (!err->is_static)
		err->address = address;
	return err;
}

struct pyag_error *pyag_error_errno(int errnum, const char *fmt, ...)
{
	char *what;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (n < 0)
		return &pyag_enomem;
	enum pyag_error_code code = PYAG_ERROR_OS;
	if (errnum == ESRCH)
		code = PYAG_ERROR_NO_PROCESS;
	else if (errnum == EPERM || errnum == EACCES)
		code = PYAG_ERROR_PERMISSION;
	else if (errnum == ENOMEM)
		code = PYAG_ERROR_NO_MEMORY;
	struct pyag_error *err =
		pyag_error_create(code, "%s: %s", what, strerror(errnum));
	free(what);
	return err;
}

struct pyag_error *pyag_error_wrap(struct pyag_error *err, const char *fmt, ...)
{
	if (!err || err->is_static)
		return err;
	char *ctx;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&ctx, fmt, ap);
	va_end(ap);
	char *msg = NULL;
	if (n < 0 || asprintf(&msg, "%s: %s", ctx, err->message) < 0) {
		/* no message without its context: out of memory is the error */
		if (n >= 0)
			free(ctx);
		pyag_error_destroy(err);
		return &pyag_enomem;
	}
	free(err->message);
	err->message = msg;
	free(ctx);
	return err;
}

enum pyag_error_code pyag_error_code(const struct pyag_error *err)
{
	return err ? err->code : 0;
}

const char *pyag_error_message(const struct pyag_error *err)
{
	return err ? err->message : "success";
}

uint64_t pyag_error_address(const struct pyag_error *err)
{
	return err ? err->address : 0;
}

void pyag_error_destroy(struct pyag_error *err)
{
	if (!err || err->is_static)
		return;
	free(err->message);
	free(err);
}

struct pyag_error *pyag_error_format(enum pyag_error_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct pyag_error *err = error_vcreate(code, 0, fmt, ap);
	va_end(ap);
	return err;
}

const char *pyag_version(void)
{
	return PACKAGE_VERSION;
}

int pyag_api_version(void)
{
	return PYAG_API_VERSION;
}

struct pyag_error *pyag_error_nomem(const char *what)
{
	struct pyag_error *err = pyag_error_create(PYAG_ERROR_NO_MEMORY,
						   "out of memory (%s)", what);
	return err;
}
