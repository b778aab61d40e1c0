#include "test.h"
#include "certhall/base/pool.h"

#include <stdint.h>

static int order[4];
static int norder;

static void
record(void *data)
{
	order[norder++] = (int)(intptr_t)data;
}

int
test_pool_cleanups_and_reuse(void)
{
	ch_pool_t *pool = ch_pool_new();
	char *a, *b;

	norder = 0;
	a = ch_psprintf(pool, "%s-%d", "x", 42);
	ch_pool_cleanup(pool, record, (void *)1);
	ch_pool_cleanup(pool, record, (void *)2);
	ch_pool_cleanup(pool, record, (void *)3);
	CHECK_STR(a, "x-42");
	ch_pool_reset(pool);
	CHECK(norder == 3);
	CHECK(order[0] == 3 && order[1] == 2 && order[2] == 1);
	/* The first chunk is kept and reused. */
	b = ch_pstrdup(pool, "again");
	CHECK(b == a);
	ch_pool_reset(pool);
	CHECK(norder == 3);		/* cleanups ran once only */
	ch_pool_free(pool);
	return 0;
}

int
test_pool_large_allocations(void)
{
	ch_pool_t *pool = ch_pool_new();
	unsigned char *big, *small;

	for (int round = 0; round < 3; round++) {
		small = ch_palloc(pool, 10);
		big = ch_palloc(pool, 1 << 20);
		for (size_t i = 0; i < 1 << 20; i++)
			CHECK(big[i] == 0);	/* zeroed */
		memset(big, 0xab, 1 << 20);
		for (int i = 0; i < 2000; i++)
			CHECK(ch_palloc(pool, 24) != NULL);
		CHECK(((uintptr_t)small % 16) == 0);
		ch_pool_reset(pool);
	}
	CHECK(ch_pstrndup(pool, "abcdef", 3)[3] == '\0');
	ch_pool_free(pool);
	return 0;
}
