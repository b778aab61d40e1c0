/*
 * Pieces of the payment daemon that need no database or gateway: the
 * back-off between refund attempts (ch_backoff_s, shared with the SMS
 * sender).
 */
#include "test.h"
#include "certhall/base/util.h"

int
test_payd_backoff(void)
{
	/* 1, 2, 4, ... seconds, then the cap; never 0, never past it. */
	CHECK(ch_backoff_s(0, 300) == 1);
	CHECK(ch_backoff_s(1, 300) == 1);
	CHECK(ch_backoff_s(2, 300) == 2);
	CHECK(ch_backoff_s(3, 300) == 4);
	CHECK(ch_backoff_s(9, 300) == 256);
	CHECK(ch_backoff_s(10, 300) == 300);
	CHECK(ch_backoff_s(1000000, 300) == 300);
	CHECK(ch_backoff_s(5, 3) == 3);
	CHECK(ch_backoff_s(1, 1) == 1);
	return 0;
}
