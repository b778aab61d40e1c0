#include "test.h"
#include "certhall/web/body.h"

int
test_body_length(void)
{
	size_t len = 0;

	CHECK(ch_body_length(NULL, 100, &len) == CH_BODY_NONE);
	CHECK(ch_body_length("", 100, &len) == CH_BODY_NONE);
	CHECK(ch_body_length("0", 100, &len) == CH_BODY_NONE);
	CHECK(ch_body_length("100", 100, &len) == CH_BODY_OK && len == 100);
	CHECK(ch_body_length("0042", 100, &len) == CH_BODY_OK && len == 42);
	CHECK(ch_body_length("101", 100, &len) == CH_BODY_TOO_LARGE);
	/* Far past SIZE_MAX: must not wrap around to something small. */
	CHECK(ch_body_length("18446744073709551617", 100, &len) ==
	    CH_BODY_TOO_LARGE);
	CHECK(ch_body_length("999999999999999999999999999999", 100, &len) ==
	    CH_BODY_TOO_LARGE);
	CHECK(ch_body_length("-1", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length("+5", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length(" 5", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length("5 ", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length("1e3", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length("0x10", 100, &len) == CH_BODY_BAD_LENGTH);
	CHECK(ch_body_length("99999999999999999999x", 100, &len) ==
	    CH_BODY_BAD_LENGTH);
	return 0;
}

int
test_body_is_json(void)
{
	CHECK(ch_body_is_json("application/json"));
	CHECK(ch_body_is_json("Application/JSON"));
	CHECK(ch_body_is_json("application/json; charset=utf-8"));
	CHECK(ch_body_is_json("application/json;charset=UTF-8"));
	CHECK(ch_body_is_json("application/json; charset=\"utf-8\""));
	CHECK(!ch_body_is_json(NULL));
	CHECK(!ch_body_is_json(""));
	CHECK(!ch_body_is_json("text/plain"));
	CHECK(!ch_body_is_json("application/jsonp"));
	CHECK(!ch_body_is_json("application/json-patch+json"));
	CHECK(!ch_body_is_json("application/json; charset=latin1"));
	CHECK(!ch_body_is_json("application/json; boundary=x"));
	return 0;
}

struct chunked {
	const char *data;
	size_t len, pos, step;
	int fail_at;		/* read number that fails, or -1 */
	int reads;
};

static long
chunked_read(void *ctx, char *buf, size_t n)
{
	struct chunked *c = ctx;
	size_t k;

	if (c->fail_at == c->reads++)
		return -1;
	k = c->len - c->pos;
	if (k > c->step)
		k = c->step;
	if (k > n)
		k = n;
	memcpy(buf, c->data + c->pos, k);
	c->pos += k;
	return (long)k;
}

int
test_body_read_short_reads(void)
{
	struct chunked c = { "0123456789", 10, 0, 3, -1, 0 };
	char buf[11] = { 0 };

	CHECK(ch_body_read(chunked_read, &c, buf, 10) == 0);
	CHECK_STR(buf, "0123456789");
	CHECK(c.reads == 4);

	/* The stream ends before the promised length. */
	c = (struct chunked){ "01234", 5, 0, 2, -1, 0 };
	CHECK(ch_body_read(chunked_read, &c, buf, 10) == -1);
	/* The stream fails. */
	c = (struct chunked){ "0123456789", 10, 0, 2, 1, 0 };
	CHECK(ch_body_read(chunked_read, &c, buf, 10) == -1);
	return 0;
}

int
test_body_drain(void)
{
	static char big[100000];
	struct chunked c = { big, sizeof big, 0, 7000, -1, 0 };
	char buf[10];

	CHECK(ch_body_read(chunked_read, &c, buf, 10) == 0);
	CHECK(ch_body_drain(chunked_read, &c) == sizeof big - 10);
	CHECK(c.pos == sizeof big);
	CHECK(ch_body_drain(chunked_read, &c) == 0);
	return 0;
}
