/* The pure parts of certhall/domain/review.h: the rules between a
 * decision's members and the queue's cursor. */
#include "test.h"
#include "certhall/domain/review.h"
#include "certhall/base/crypto.h"

#include <stdio.h>
#include <string.h>

/* The refusal of d, as "field:missing|invalid", or "ok". */
static const char *
verdict(ch_review_decision_t decision, const char *reason, bool materials,
    char out[64])
{
	ch_review_t d = { .decision = decision, .reason = reason,
	    .has_materials = materials, .materials = materials ? 2u : 0u };
	ch_app_refusal_t r;

	if (ch_review_check(&d, &r) == 0)
		return "ok";
	snprintf(out, 64, "%s:%s", r.field, r.missing ? "missing" : "invalid");
	return out;
}

int
test_review_check(void)
{
	char buf[64];

	CHECK_STR(verdict(CH_REVIEW_APPROVE, NULL, false, buf), "ok");
	CHECK_STR(verdict(CH_REVIEW_APPROVE, "why", false, buf),
	    "reason:invalid");
	CHECK_STR(verdict(CH_REVIEW_APPROVE, NULL, true, buf),
	    "materials:invalid");
	CHECK_STR(verdict(CH_REVIEW_REJECT, "blurred", false, buf), "ok");
	CHECK_STR(verdict(CH_REVIEW_REJECT, NULL, false, buf),
	    "reason:missing");
	CHECK_STR(verdict(CH_REVIEW_REJECT, "blurred", true, buf),
	    "materials:invalid");
	CHECK_STR(verdict(CH_REVIEW_RETURN, "blurred", true, buf), "ok");
	CHECK_STR(verdict(CH_REVIEW_RETURN, NULL, true, buf),
	    "reason:missing");
	CHECK_STR(verdict(CH_REVIEW_RETURN, "blurred", false, buf),
	    "materials:missing");
	CHECK_STR(ch_review_decision_codes[CH_REVIEW_RETURN], "return");
	return 0;
}

/* The cursor of text, as the queue spells it. */
static const char *
cursor(const char *text, char out[96])
{
	ch_base64url((const unsigned char *)text, strlen(text), out);
	return out;
}

int
test_review_cursor(void)
{
	ch_review_query_t q;
	char c[96];

	memset(&q, 0, sizeof q);
	CHECK(ch_review_cursor_decode(cursor("1700000000123456:42", c), &q)
	    == 0);
	CHECK(q.after && q.after_us == 1700000000123456LL && q.after_id == 42);
	memset(&q, 0, sizeof q);
	CHECK(ch_review_cursor_decode(cursor("-5:1", c), &q) == 0);
	CHECK(q.after_us == -5 && q.after_id == 1);
	CHECK(ch_review_cursor_decode(cursor("0:7", c), &q) == 0);
	/* Not one the queue gives: leading zeros, no colon, no id, a
	 * signed zero, padding, stray bits, other characters. */
	CHECK(ch_review_cursor_decode(cursor("017:1", c), &q) == -1);
	CHECK(ch_review_cursor_decode(cursor("-0:1", c), &q) == -1);
	CHECK(ch_review_cursor_decode(cursor("17", c), &q) == -1);
	CHECK(ch_review_cursor_decode(cursor("17:", c), &q) == -1);
	CHECK(ch_review_cursor_decode(cursor("17:0", c), &q) == -1);
	CHECK(ch_review_cursor_decode("MTc6MQ==", &q) == -1);
	CHECK(ch_review_cursor_decode("MTc6MR", &q) == -1);
	CHECK(ch_review_cursor_decode("MTc6M!", &q) == -1);
	CHECK(ch_review_cursor_decode("", &q) == -1);
	return 0;
}
