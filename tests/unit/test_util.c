#include "test.h"
#include "certhall/base/util.h"

int
test_util_parse_long(void)
{
	CHECK(ch_parse_long("0", 10, 10) == 0);
	CHECK(ch_parse_long("10", 10, 10) == 10);
	CHECK(ch_parse_long("11", 10, 10) == -1);
	CHECK(ch_parse_long("0660", 8, 0777) == 0660);
	CHECK(ch_parse_long("0800", 8, 0777) == -1);
	CHECK(ch_parse_long("", 10, 10) == -1);
	CHECK(ch_parse_long(NULL, 10, 10) == -1);
	CHECK(ch_parse_long("-1", 10, 10) == -1);
	CHECK(ch_parse_long("+1", 10, 10) == -1);
	CHECK(ch_parse_long(" 1", 10, 10) == -1);
	CHECK(ch_parse_long("1x", 10, 10) == -1);
	CHECK(ch_parse_long("99999999999999999999999", 10, 1000) == -1);
	return 0;
}

int
test_util_hex_and_clock(void)
{
	long long a, b;

	CHECK(ch_hex_value('0') == 0 && ch_hex_value('9') == 9);
	CHECK(ch_hex_value('a') == 10 && ch_hex_value('F') == 15);
	CHECK(ch_hex_value('g') == -1 && ch_hex_value('\0') == -1);
	a = ch_monotonic_ms();
	b = ch_monotonic_ms();
	CHECK(a > 0 && b >= a);
	return 0;
}
