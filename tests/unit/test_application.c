/* The pure parts of certhall/application.h: If-Match, eligibility at its
 * boundaries, completeness's field list, visibility and list cursors. */
#include "test.h"
#include "certhall/domain/application.h"
#include "certhall/web/http.h"
#include "certhall/web/router.h"

#include <limits.h>
#include <stddef.h>

int
test_app_if_match(void)
{
	CHECK(ch_http_if_match("\"v3\"", 3));
	CHECK(!ch_http_if_match("\"v3\"", 4));
	CHECK(!ch_http_if_match("\"v33\"", 3));
	CHECK(!ch_http_if_match("\"v\"", 3));
	CHECK(ch_http_if_match("*", 1));
	CHECK(ch_http_if_match(" * ", 7));
	CHECK(ch_http_if_match("\"v1\", \"v2\"", 2));
	CHECK(ch_http_if_match("\"v1\",\"v2\"", 1));
	/* Weak tags never match strongly (RFC 9110 §13.1.1). */
	CHECK(!ch_http_if_match("W/\"v2\"", 2));
	CHECK(ch_http_if_match("W/\"v2\", \"v2\"", 2));
	CHECK(!ch_http_if_match("v2", 2));
	CHECK(!ch_http_if_match("\"v2", 2));
	CHECK(!ch_http_if_match("", 2));
	CHECK(!ch_http_if_match(NULL, 2));
	return 0;
}

int
test_app_etag(void)
{
	char tag[16];

	ch_http_etag(12, tag);
	CHECK_STR(tag, "\"v12\"");
	ch_http_etag(INT_MAX, tag);
	CHECK_STR(tag, "\"v2147483647\"");
	return 0;
}

#define DAY 86400LL

static ch_app_facts_t
facts(ch_business_t b, long long now, long long not_after)
{
	ch_app_facts_t f = {
		.business = b,
		.app_cert_type = CH_CERT_ORG,
		.app_credit_code = "91350100M000100Y43",
		.cert_type = CH_CERT_ORG,
		.cert_credit_code = "91350100M000100Y43",
		.not_before = not_after - 365 * DAY,
		.not_after = not_after,
		.now = now,
	};
	return f;
}

int
test_app_eligibility_renew(void)
{
	long long t = 1800000000LL;
	ch_app_facts_t f;

	/* 60 days before expiry: allowed; a second earlier: refused. */
	f = facts(CH_BIZ_RENEW, t, t + 60 * DAY);
	CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
	f = facts(CH_BIZ_RENEW, t, t + 60 * DAY + 1);
	CHECK(ch_app_eligibility(&f) == CH_RULE_RENEW_WINDOW);
	f = facts(CH_BIZ_RENEW, t, t + 61 * DAY);
	CHECK(ch_app_eligibility(&f) == CH_RULE_RENEW_WINDOW);
	f = facts(CH_BIZ_RENEW, t, t + 60 * DAY - 60);
	CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
	/* Expired: allowed; revoked: refused. */
	f = facts(CH_BIZ_RENEW, t, t - 10 * DAY);
	CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
	f = facts(CH_BIZ_RENEW, t, t + 10 * DAY);
	f.cert_revoked = true;
	CHECK(ch_app_eligibility(&f) == CH_RULE_RENEW_WINDOW);
	return 0;
}

int
test_app_eligibility_valid(void)
{
	static const ch_business_t valid_only[] = {
		CH_BIZ_REISSUE, CH_BIZ_CHANGE, CH_BIZ_REVOKE, CH_BIZ_UNLOCK,
	};
	long long t = 1800000000LL;

	for (size_t i = 0; i < 4; i++) {
		ch_app_facts_t f = facts(valid_only[i], t, t + 100 * DAY);

		CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
		f.cert_revoked = true;
		CHECK(ch_app_eligibility(&f) == CH_RULE_CERTIFICATE_VALID);
		f = facts(valid_only[i], t, t);		/* expires now */
		CHECK(ch_app_eligibility(&f) == CH_RULE_CERTIFICATE_VALID);
		f = facts(valid_only[i], t, t + 1);
		CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
		f = facts(valid_only[i], t, t + 100 * DAY);
		f.not_before = t + 1;	/* not yet in force */
		CHECK(ch_app_eligibility(&f) == CH_RULE_CERTIFICATE_VALID);
		f.not_before = t;
		CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
	}
	return 0;
}

int
test_app_eligibility_subject(void)
{
	long long t = 1800000000LL;
	ch_app_facts_t f = facts(CH_BIZ_REVOKE, t, t + 100 * DAY);

	f.cert_credit_code = "91110000MA00000000";
	CHECK(ch_app_eligibility(&f) == CH_RULE_SAME_SUBJECT);
	/* change names the new subject: not compared. */
	f.business = CH_BIZ_CHANGE;
	CHECK(ch_app_eligibility(&f) == CH_RULE_OK);

	/* Personal: the holder too. */
	f = facts(CH_BIZ_UNLOCK, t, t + 100 * DAY);
	f.app_cert_type = f.cert_type = CH_CERT_PERSONAL;
	f.app_holder_id_number = "11010519491231002X";
	f.cert_holder_id_number = "11010519491231002X";
	CHECK(ch_app_eligibility(&f) == CH_RULE_OK);
	f.cert_holder_id_number = "110105194912310029";
	CHECK(ch_app_eligibility(&f) == CH_RULE_SAME_SUBJECT);
	f.app_holder_id_number = NULL;
	CHECK(ch_app_eligibility(&f) == CH_RULE_SAME_SUBJECT);

	/* Type after subject, so another's certificate says nothing more. */
	f = facts(CH_BIZ_REVOKE, t, t + 100 * DAY);
	f.cert_type = CH_CERT_PERSONAL;
	CHECK(ch_app_eligibility(&f) == CH_RULE_CERTIFICATE_TYPE);
	f.cert_credit_code = "91110000MA00000000";
	CHECK(ch_app_eligibility(&f) == CH_RULE_SAME_SUBJECT);
	/* A personal application about an org certificate of the unit. */
	f = facts(CH_BIZ_RENEW, t, t + 10 * DAY);
	f.app_cert_type = CH_CERT_PERSONAL;
	f.app_holder_id_number = "11010519491231002X";
	CHECK(ch_app_eligibility(&f) == CH_RULE_CERTIFICATE_TYPE);
	CHECK_STR(ch_app_rule_name(CH_RULE_ONE_OPEN), "one_open_per_certificate");
	CHECK_STR(ch_app_rule_name(CH_RULE_RENEW_WINDOW), "renew_window");
	return 0;
}

int
test_app_required_fields(void)
{
	const char *out[24];
	size_t n;

	n = ch_app_required_fields(CH_CERT_ORG, false, false, false, out, 24);
	CHECK(n == 5);
	CHECK_STR(out[0], "unit_name");
	CHECK_STR(out[4], "handler_id_number");
	/* personal new: holder, years, delivery, invoice */
	n = ch_app_required_fields(CH_CERT_PERSONAL, true, true, true, out, 24);
	CHECK(n == 7 + 1 + 5 + 1);
	CHECK_STR(out[2], "holder_name");
	CHECK_STR(out[3], "holder_id_number");
	CHECK_STR(out[7], "years");
	CHECK_STR(out[8], "delivery_recipient");
	CHECK_STR(out[13], "invoice_title");
	/* cap bounds what is written, not the count */
	CHECK(ch_app_required_fields(CH_CERT_PERSONAL, true, true, true, out,
	    2) == 14);
	return 0;
}

int
test_app_allowed(void)
{
	ch_app_t a = { .id = 1, .applicant_id = 7, .channel = "online" };
	ch_principal_t owner = { .kind = CH_ACTOR_APPLICANT, .id = 7,
	    .applicant_id = 7 };
	ch_principal_t other = { .kind = CH_ACTOR_APPLICANT, .id = 8,
	    .applicant_id = 8 };
	ch_principal_t integ = { .kind = CH_ACTOR_INTEGRATOR, .id = 3,
	    .applicant_id = 0 };
	ch_principal_t reviewer = { .kind = CH_ACTOR_STAFF, .id = 2,
	    .roles = CH_ROLE_REVIEWER };
	ch_principal_t counter = { .kind = CH_ACTOR_STAFF, .id = 4,
	    .roles = CH_ROLE_COUNTER };

	CHECK(ch_app_allowed(&owner, &a, CH_APP_READ));
	CHECK(ch_app_allowed(&owner, &a, CH_APP_CHANGE));
	CHECK(!ch_app_allowed(&other, &a, CH_APP_READ));
	CHECK(!ch_app_allowed(&other, &a, CH_APP_CHANGE));
	CHECK(!ch_app_allowed(&integ, &a, CH_APP_READ));
	CHECK(ch_app_allowed(&reviewer, &a, CH_APP_READ_LOCKED));
	CHECK(!ch_app_allowed(&reviewer, &a, CH_APP_CHANGE));
	CHECK(!ch_app_allowed(&counter, &a, CH_APP_CHANGE));
	a.channel = "counter";
	CHECK(ch_app_allowed(&counter, &a, CH_APP_CHANGE));
	CHECK(!ch_app_allowed(&reviewer, &a, CH_APP_CHANGE));
	integ.applicant_id = 7;
	CHECK(ch_app_allowed(&integ, &a, CH_APP_CHANGE));
	return 0;
}

int
test_app_cursor(void)
{
	static const long long ids[] = {
		1, 9, 10, 123, 999999, 999999999999999999LL,
	};
	char c[32];
	long long id;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		ch_app_cursor_encode(ids[i], c);
		CHECK(ch_app_cursor_decode(c, &id) == 0);
		CHECK(id == ids[i]);
	}
	ch_app_cursor_encode(123, c);
	CHECK_STR(c, "MTIz");
	CHECK(ch_app_cursor_decode("", &id) == -1);
	CHECK(ch_app_cursor_decode("MTIz=", &id) == -1);
	/* "12" with stray bits, "0", "-1", "abc" */
	CHECK(ch_app_cursor_decode("MTJ", &id) == -1);
	CHECK(ch_app_cursor_decode("MA", &id) == -1);
	CHECK(ch_app_cursor_decode("LTE", &id) == -1);
	CHECK(ch_app_cursor_decode("YWJj", &id) == -1);
	CHECK(ch_app_cursor_decode("MTIz MTIz", &id) == -1);
	return 0;
}
