/* A minimal harness: each test is int test_NAME(void), 0 on success.
 * CHECK logs the failing expression with its place and fails the test. */
#ifndef CERTHALL_TEST_H
#define CERTHALL_TEST_H

#include <stdio.h>
#include <string.h>

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #cond); \
		return 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) { \
		fprintf(stderr, "%s:%d: \"%s\" != \"%s\" (%s vs %s)\n", \
		    __FILE__, __LINE__, a_ ? a_ : "(null)", \
		    b_ ? b_ : "(null)", #a, #b); \
		return 1; \
	} \
} while (0)

#define TEST_ENTRY(name) int test_##name(void);
#include "test-list.h"
#undef TEST_ENTRY

#endif
