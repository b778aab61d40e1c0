/* The pure parts of certhall/domain/payment.h: what an arrival does, what a
 * refund does, whether an application can be paid, the outcome codes of
 * notifications, our order numbers and the gateways' timestamps; and the small
 * helpers payments share with review (yuan, reasons). */
#include "test.h"
#include "certhall/domain/fees.h"
#include "certhall/domain/payment.h"
#include "certhall/base/validate.h"

#include <string.h>

/* 2026-11-24T10:54:00+08:00 */
#define T0 1795488840LL

static ch_pay_facts_t
payable(void)
{
	ch_pay_facts_t f = {
		.order_status = "open",
		.order_expires_at = T0 + 7200,
		.paid_at = T0,
		.app_status = CH_ST_AWAITING_PAYMENT,
		.app_paid = false,
	};
	return f;
}

int
test_payment_refund_why(void)
{
	ch_pay_facts_t f = payable();

	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_NONE);
	/* Paid one second before expiry, notified whenever: captured. */
	f.paid_at = f.order_expires_at - 1;
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_NONE);
	f.paid_at = f.order_expires_at;
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ORDER_EXPIRED);

	f = payable();
	f.order_status = "expired";
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ORDER_EXPIRED);
	f.order_status = "closed";
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ORDER_CLOSED);
	/* A second, different transaction for an order already paid. */
	f.order_status = "paid";
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ALREADY_PAID);

	f = payable();
	f.app_paid = true;		/* paid at the counter meanwhile */
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ALREADY_PAID);
	f = payable();
	f.app_status = CH_ST_CANCELLED;
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_NOT_AWAITING);
	f.order_status = "closed";	/* the cancel closed it: says why */
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_NOT_AWAITING);
	f.app_status = CH_ST_ISSUING;
	f.app_paid = true;
	CHECK(ch_payment_refund_why(&f) == CH_PAY_WHY_ALREADY_PAID);

	for (int w = CH_PAY_WHY_ALREADY_PAID; w < CH_PAY_WHY__MAX; w++) {
		CHECK(*ch_payment_why_code((ch_pay_why_t)w) != '\0');
		CHECK(*ch_payment_why_text((ch_pay_why_t)w) != '\0');
	}
	CHECK_STR(ch_payment_why_code(CH_PAY_WHY_ALREADY_PAID), "already_paid");
	CHECK_STR(ch_payment_why_code(CH_PAY_WHY__MAX), "");
	return 0;
}

int
test_payment_refund_plan(void)
{
	CHECK(ch_payment_refund_plan(CH_ST_CANCELLED, NULL) == CH_REFUND_ONLY);
	CHECK(ch_payment_refund_plan(CH_ST_REJECTED, NULL) == CH_REFUND_ONLY);
	CHECK(ch_payment_refund_plan(CH_ST_AWAITING_PAYMENT, NULL) ==
	    CH_REFUND_CANCEL);
	CHECK(ch_payment_refund_plan(CH_ST_AWAITING_VERIFICATION, NULL) ==
	    CH_REFUND_CANCEL);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUING, "queued") ==
	    CH_REFUND_CANCEL_JOB);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUING, "claimed") == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUING, "done") == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUING, "failed") == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUING, NULL) == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_ISSUED, "done") == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_COMPLETED, NULL) == CH_REFUND_ISSUED);
	CHECK(ch_payment_refund_plan(CH_ST_DRAFT, NULL) == CH_REFUND_REFUSED);
	CHECK(ch_payment_refund_plan(CH_ST_SUBMITTED, NULL) == CH_REFUND_REFUSED);
	return 0;
}

int
test_payment_payable(void)
{
	ch_pay_due_t due = {
		.paid = false, .quote_locked = true, .total_fen = 40000,
		.business_name = "新办",
	};

	CHECK(ch_payment_payable(CH_ST_AWAITING_PAYMENT, &due) == CH_PAYABLE);
	/* The checks come in this order: paid first, whatever the status. */
	due.paid = true;
	CHECK(ch_payment_payable(CH_ST_AWAITING_PAYMENT, &due) ==
	    CH_PAYABLE_PAID);
	CHECK(ch_payment_payable(CH_ST_ISSUING, &due) == CH_PAYABLE_PAID);
	CHECK(ch_payment_payable(CH_ST_CANCELLED, &due) == CH_PAYABLE_PAID);
	due.paid = false;
	CHECK(ch_payment_payable(CH_ST_APPROVED, &due) ==
	    CH_PAYABLE_NOT_AWAITING);
	CHECK(ch_payment_payable(CH_ST_AWAITING_VERIFICATION, &due) ==
	    CH_PAYABLE_NOT_AWAITING);
	CHECK(ch_payment_payable(CH_ST_CANCELLED, &due) ==
	    CH_PAYABLE_NOT_AWAITING);
	/* Awaiting payment with nothing locked to pay: a fault, refused. */
	due.quote_locked = false;
	CHECK(ch_payment_payable(CH_ST_AWAITING_PAYMENT, &due) ==
	    CH_PAYABLE_NO_QUOTE);
	due.quote_locked = true;
	due.total_fen = 0;
	CHECK(ch_payment_payable(CH_ST_AWAITING_PAYMENT, &due) ==
	    CH_PAYABLE_NO_QUOTE);
	due.total_fen = -1;
	CHECK(ch_payment_payable(CH_ST_AWAITING_PAYMENT, &due) ==
	    CH_PAYABLE_NO_QUOTE);
	/* A status with no quote at all is not awaiting: that answer. */
	CHECK(ch_payment_payable(CH_ST_DRAFT, &due) == CH_PAYABLE_NOT_AWAITING);
	return 0;
}

int
test_payment_result_code(void)
{
	/* What payment_notification.outcome takes (sql/0009_payments.sql). */
	CHECK_STR(ch_payment_result_code(CH_PAY_CAPTURED), "captured");
	CHECK_STR(ch_payment_result_code(CH_PAY_DUPLICATE), "duplicate");
	CHECK_STR(ch_payment_result_code(CH_PAY_REFUND_DUE), "refund_due");
	CHECK_STR(ch_payment_result_code(CH_PAY_UNKNOWN_ORDER), "");
	CHECK_STR(ch_payment_result_code(CH_PAY_MISMATCH), "");
	CHECK_STR(ch_payment_result_code(CH_PAY_ERROR), "");
	return 0;
}

int
test_payment_number(void)
{
	char no[CH_PAY_NO_SIZE], other[CH_PAY_NO_SIZE];

	ch_payment_number_format("CH", T0, 42, no);
	CHECK_STR(no, "CH202611241054000000000042");
	ch_payment_number_format("RF", T0 + 59, 12345678901234ULL, no);
	CHECK_STR(no, "RF202611241054595678901234");
	/* Midnight in Shanghai is 16:00 UTC the day before. */
	ch_payment_number_format("CH", 1795449600LL, 9999999999ULL, no);
	CHECK_STR(no, "CH202611240000009999999999");

	ch_payment_number("CH", no);
	ch_payment_number("CH", other);
	CHECK(strlen(no) == CH_PAY_NO_SIZE - 1);
	CHECK(strncmp(no, "CH", 2) == 0);
	CHECK(strspn(no + 2, "0123456789") == CH_PAY_NO_SIZE - 3);
	CHECK(strcmp(no, other) != 0);
	return 0;
}

int
test_payment_parse_time(void)
{
	long long t = -1;

	CHECK(ch_payment_parse_time("2026-11-24T10:54:00+08:00", &t) == 0);
	CHECK(t == T0);
	CHECK(ch_payment_parse_time("2026-11-24T02:54:00Z", &t) == 0);
	CHECK(t == T0);
	CHECK(ch_payment_parse_time("2026-11-24T02:54:00.123456Z", &t) == 0);
	CHECK(t == T0);
	CHECK(ch_payment_parse_time("2026-11-23T21:24:00-05:30", &t) == 0);
	CHECK(t == T0);
	CHECK(ch_payment_parse_time("1970-01-01T00:00:00Z", &t) == 0);
	CHECK(t == 0);
	CHECK(ch_payment_parse_time("2024-02-29T00:00:00Z", &t) == 0);
	CHECK(t == 1709164800LL);

	CHECK(ch_payment_parse_time("2025-02-29T00:00:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-04-31T00:00:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-13-01T00:00:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T24:00:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:60:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:60Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:00", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24 10:54:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:00+0800", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:00+08:00x", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:00.Z", &t) != 0);
	CHECK(ch_payment_parse_time("2026-11-24T10:54:00+24:00", &t) != 0);
	CHECK(ch_payment_parse_time("+026-11-24T10:54:00Z", &t) != 0);
	CHECK(ch_payment_parse_time("", &t) != 0);
	CHECK(ch_payment_parse_time(NULL, &t) != 0);
	return 0;
}

int
test_payment_helpers(void)
{
	char out[32];
	const char *why = NULL;

	ch_fees_yuan(40000, out);
	CHECK_STR(out, "400");
	ch_fees_yuan(5050, out);
	CHECK_STR(out, "50.50");
	ch_fees_yuan(5, out);
	CHECK_STR(out, "0.05");
	ch_fees_yuan(0, out);
	CHECK_STR(out, "0");

	CHECK(ch_check_reason("客户申请退款", &why) == 0);
	CHECK(ch_check_reason(" x ", &why) == 0);
	CHECK(ch_check_reason("  ", &why) != 0 && why != NULL);
	CHECK(ch_check_reason("\xe3\x80\x80 \xe3\x80\x80", &why) != 0);
	CHECK(ch_check_reason("", &why) != 0);
	return 0;
}
