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

/* The body schemas of create and PATCH list their members in
 * ch_app_field_t order: the handler reads the request by that index. */
int
test_app_fields_schema(void)
{
	extern const ch_schema_t api_application_create_schema;
	extern const ch_schema_t api_application_patch_schema;
	const ch_schema_t *schemas[] = {
		&api_application_create_schema, &api_application_patch_schema,
	};

	for (size_t s = 0; s < 2; s++) {
		CHECK(schemas[s]->nfields == CH_APP_F__MAX);
		for (int f = 0; f < CH_APP_F__MAX; f++)
			CHECK_STR(schemas[s]->fields[f].name,
			    ch_app_field_names[f]);
	}
	CHECK(ch_app_field_names[CH_APP_F__MAX] == NULL);
	return 0;
}

static ch_app_fields_t
fields(const char *business, const char *cert_type, const char *cert_id)
{
	ch_app_fields_t f;

	memset(&f, 0, sizeof f);
	f.v[CH_APP_F_BUSINESS_TYPE] = business;
	f.v[CH_APP_F_CERTIFICATE_TYPE] = cert_type;
	f.v[CH_APP_F_CERTIFICATE_ID] = cert_id;
	return f;
}

/* The refusal of f, as "field:missing|invalid". */
static const char *
refusal(ch_pool_t *pool, const ch_app_fields_t *f)
{
	ch_app_refusal_t r;

	if (ch_app_fields_check(pool, f, &r) == CH_APP_EDIT_OK)
		return "ok";
	return ch_psprintf(pool, "%s:%s", r.field != NULL ? r.field : "-",
	    r.missing ? "missing" : "invalid");
}

int
test_app_fields_check(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_app_fields_t f;
	ch_app_refusal_t r;

	f = fields("new", "org", NULL);
	CHECK_STR(refusal(pool, &f), "ok");
	f = fields(NULL, "org", NULL);
	CHECK_STR(refusal(pool, &f), "business_type:invalid");
	f = fields("new", NULL, NULL);
	CHECK_STR(refusal(pool, &f), "certificate_type:invalid");
	f = fields("new", "org", "12");
	CHECK_STR(refusal(pool, &f), "certificate_id:invalid");
	f = fields("renew", "org", NULL);
	CHECK_STR(refusal(pool, &f), "certificate_id:missing");
	CHECK(ch_app_fields_check(pool, &f, &r) == CH_APP_EDIT_REFUSED);
	CHECK_STR(r.detail, "certificate_id is required for renew: the"
	    " certificate it is about");
	/* A holder only for personal certificates. */
	f = fields("new", "org", NULL);
	f.v[CH_APP_F_HOLDER_ID_NUMBER] = "11010519491231002X";
	CHECK_STR(refusal(pool, &f), "holder_id_number:invalid");
	f.v[CH_APP_F_CERTIFICATE_TYPE] = "personal";
	CHECK_STR(refusal(pool, &f), "ok");
	/* Years and seals only for new and renew. */
	f = fields("revoke", "org", "12");
	CHECK_STR(refusal(pool, &f), "ok");
	f.v[CH_APP_F_SEALS] = "1";
	CHECK_STR(refusal(pool, &f), "seals:invalid");
	CHECK(ch_app_fields_check(pool, &f, &r) == CH_APP_EDIT_REFUSED);
	CHECK_STR(r.detail, "revoke does not take seals: it keeps the"
	    " certificate's term");
	f.v[CH_APP_F_BUSINESS_TYPE] = "renew";
	f.v[CH_APP_F_YEARS] = "2";
	CHECK_STR(refusal(pool, &f), "ok");
	ch_pool_free(pool);
	return 0;
}

int
test_app_create_check(void)
{
	ch_principal_t applicant = { .kind = CH_ACTOR_APPLICANT, .id = 7,
	    .applicant_id = 7 };
	ch_principal_t integ = { .kind = CH_ACTOR_INTEGRATOR, .id = 3 };
	ch_principal_t clerk = { .kind = CH_ACTOR_STAFF, .id = 4,
	    .roles = CH_ROLE_COUNTER };
	ch_app_fields_t f = fields("new", "org", NULL);
	ch_app_refusal_t r;

	CHECK(ch_app_create_check(&applicant, &f, &r) == CH_APP_EDIT_OK);
	/* An integrator applies for one of its users. */
	CHECK(ch_app_create_check(&integ, &f, &r) == CH_APP_EDIT_NO_USER);
	integ.applicant_id = 9;
	CHECK(ch_app_create_check(&integ, &f, &r) == CH_APP_EDIT_OK);
	/* At the counter the handler, who will own it, is named. */
	CHECK(ch_app_create_check(&clerk, &f, &r) == CH_APP_EDIT_REFUSED);
	CHECK_STR(r.field, "handler_phone");
	CHECK(r.missing);
	f.v[CH_APP_F_HANDLER_PHONE] = "13800138000";
	CHECK(ch_app_create_check(&clerk, &f, &r) == CH_APP_EDIT_OK);
	return 0;
}
