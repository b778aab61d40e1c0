/*
 * certhall-unit [--list | NAME...]: runs the named unit tests, or all.
 * Prints one line per test and a closing "N passed, N failed" line.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
#define TEST_ENTRY(name) { #name, test_##name },
#include "test-list.h"
#undef TEST_ENTRY
};

#define NTESTS (sizeof tests / sizeof tests[0])

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < NTESTS; i++)
			puts(tests[i].name);
		return 0;
	}
	for (size_t i = 0; i < NTESTS; i++) {
		int wanted = argc == 1;

		for (int a = 1; a < argc; a++)
			if (strcmp(argv[a], tests[i].name) == 0)
				wanted = 1;
		if (!wanted)
			continue;
		if (tests[i].fn() == 0) {
			printf("ok   %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	if (passed + failed == 0) {
		fprintf(stderr, "no such test\n");
		return 2;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
