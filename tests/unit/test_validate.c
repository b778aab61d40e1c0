#include "test.h"
#include "certhall/base/validate.h"
#include "shared_cases.h"

#include <stddef.h>

typedef int (*checker_fn)(const char *, const char **);

/* Runs check over good (all pass, why untouched) and bad (all fail with a
 * reason); names the first value that goes the wrong way. */
static int
table(checker_fn check, const char *const *good, const char *const *bad)
{
	for (size_t i = 0; good[i] != NULL; i++) {
		const char *why = NULL;

		if (check(good[i], &why) != 0 || why != NULL) {
			fprintf(stderr, "refused good value \"%s\"\n", good[i]);
			return 1;
		}
	}
	for (size_t i = 0; bad[i] != NULL; i++) {
		const char *why = NULL;

		if (check(bad[i], &why) != -1 || why == NULL || *why == '\0') {
			fprintf(stderr, "accepted bad value \"%s\"\n", bad[i]);
			return 1;
		}
	}
	return 0;
}

int
test_validate_phone(void)
{
	const char *why = NULL;

	/* The table is shared with the web hall (validate_cases.json). */
	CHECK(shared_cases("phone", ch_check_phone) == 0);
	/* The reason completes "phone ..." in a problem detail. */
	CHECK(ch_check_phone("1", &why) == -1);
	CHECK(strncmp(why, "must be", 7) == 0);
	CHECK(ch_check_phone(NULL, &why) == -1);
	return 0;
}

int
test_validate_sms_code(void)
{
	static const char *const good[] = {
		"000000", "123456", "999999", "012345", NULL,
	};
	static const char *const bad[] = {
		"", "12345", "1234567", "12345a", "-12345", "+12345",
		"12 345", "１２３４５６", "123456\n", "0x1234", NULL,
	};

	CHECK(table(ch_check_sms_code, good, bad) == 0);
	return 0;
}

int
test_validate_username(void)
{
	static const char *const good[] = {
		"abc", "admin", "li.wei", "zhang_san-2", "a00",
		"a2345678901234567890123456789012",	/* 32 */
		NULL,
	};
	static const char *const bad[] = {
		"", "a", "ab", "1abc", "_abc", ".abc", "-abc", "Admin",
		"adMin", "li wei", "li@wei", "li/wei", "a\xc3\xa9" "bc",
		"a23456789012345678901234567890123",	/* 33 */
		"a234567890123456789012345678901234567890",
		NULL,
	};

	CHECK(table(ch_check_username, good, bad) == 0);
	return 0;
}
