/*
 * The fields an applicant fills in, and the changes that write them:
 * create a draft, change it (PATCH), cancel it (certhall/domain/application.h,
 * "the fields" and "create, change, cancel").
 *
 * Create and change check one state: the fields given are laid over the
 * current ones (nothing for a create; a cleared field is NULL) and the
 * result must hold together (certificate_id for every business but new,
 * years and seals only for new and renew, a holder only for personal).
 */
#include "certhall/domain/application.h"
#include "certhall/domain/payment.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ch_app_field_names[CH_APP_F__MAX + 1] = {
	[CH_APP_F_BUSINESS_TYPE] = "business_type",
	[CH_APP_F_CERTIFICATE_TYPE] = "certificate_type",
	[CH_APP_F_CERTIFICATE_ID] = "certificate_id",
	[CH_APP_F_UNIT_NAME] = "unit_name",
	[CH_APP_F_CREDIT_CODE] = "credit_code",
	[CH_APP_F_HOLDER_NAME] = "holder_name",
	[CH_APP_F_HOLDER_ID_NUMBER] = "holder_id_number",
	[CH_APP_F_HANDLER_NAME] = "handler_name",
	[CH_APP_F_HANDLER_PHONE] = "handler_phone",
	[CH_APP_F_HANDLER_ID_NUMBER] = "handler_id_number",
	[CH_APP_F_YEARS] = "years",
	[CH_APP_F_SEALS] = "seals",
	[CH_APP_F_DELIVERY_RECIPIENT] = "delivery_recipient",
	[CH_APP_F_DELIVERY_PHONE] = "delivery_phone",
	[CH_APP_F_DELIVERY_PROVINCE] = "delivery_province",
	[CH_APP_F_DELIVERY_CITY] = "delivery_city",
	[CH_APP_F_DELIVERY_DISTRICT] = "delivery_district",
	[CH_APP_F_DELIVERY_ADDRESS] = "delivery_address",
	[CH_APP_F_DELIVERY_POSTCODE] = "delivery_postcode",
	[CH_APP_F_INVOICE_TITLE] = "invoice_title",
	[CH_APP_F_INVOICE_TAX_ID] = "invoice_tax_id",
	[CH_APP_F_REVOCATION_REASON] = "revocation_reason",
	[CH_APP_F__MAX] = NULL,
};

/* ---- statements: they take the fields in ch_app_field_t order ------------ */

#define DELIVERY_JSON(a, b, c, d, e, f, g) \
	"NULLIF(jsonb_strip_nulls(jsonb_build_object(" \
	"'recipient', " a "::text, 'phone', " b "::text," \
	" 'province', " c "::text, 'city', " d "::text," \
	" 'district', " e "::text, 'address', " f "::text," \
	" 'postcode', " g "::text)), '{}'::jsonb)"

/* The draft, if the certificate it names exists (none: no row, the caller
 * answers 422), returned as the answer: id, version and the Application
 * object.  One statement where a check, the insert and the read were three. */
static const ch_stmt_t stmt_insert = {
	.name = "app_insert",
	.sql = "INSERT INTO application AS a (business_type, certificate_type,"
	       "  certificate_id, unit_name, credit_code, holder_name,"
	       "  holder_id_number, handler_name, handler_phone,"
	       "  handler_id_number, years, seals, delivery, invoice_title,"
	       "  invoice_tax_id, revocation_reason, applicant_id, channel,"
	       "  created_by_staff_id)"
	       " SELECT $1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, $10,"
	       "  $11::int, COALESCE($12::int, 0),"
	       "  " DELIVERY_JSON("$13", "$14", "$15", "$16", "$17", "$18",
	           "$19") ", $20, $21, $22, $23::bigint, $24, $25::bigint"
	       " WHERE $3::bigint IS NULL"
	       "  OR EXISTS (SELECT 1 FROM certificate WHERE id = $3::bigint)"
	       " RETURNING a.id, a.version, " CH_SQL_APP_JSON "::text",
	.nparams = 25,
};

/* The fields of an application as text ($1 the id).  Seals 0 reads as
 * unset: it is the column's default. */
static const ch_stmt_t stmt_state = {
	.name = "app_state",
	.sql = "SELECT business_type, certificate_type, certificate_id::text,"
	       " unit_name, credit_code, holder_name, holder_id_number,"
	       " handler_name, handler_phone, handler_id_number, years::text,"
	       " NULLIF(seals, 0)::text, delivery->>'recipient',"
	       " delivery->>'phone', delivery->>'province', delivery->>'city',"
	       " delivery->>'district', delivery->>'address',"
	       " delivery->>'postcode', invoice_title, invoice_tax_id,"
	       " revocation_reason"
	       " FROM application WHERE id = $1",
	.nparams = 1,
};

static const ch_stmt_t stmt_update = {
	.name = "app_update",
	.sql = "UPDATE application SET business_type = $2,"
	       " certificate_type = $3, certificate_id = $4::bigint,"
	       " unit_name = $5, credit_code = $6, holder_name = $7,"
	       " holder_id_number = $8, handler_name = $9, handler_phone = $10,"
	       " handler_id_number = $11, years = $12::int,"
	       " seals = COALESCE($13::int, 0),"
	       " delivery = " DELIVERY_JSON("$14", "$15", "$16", "$17", "$18",
	           "$19", "$20") ","
	       " invoice_title = $21, invoice_tax_id = $22,"
	       " revocation_reason = $23,"
	       " version = version + 1, updated_at = now()"
	       " WHERE id = $1",
	.nparams = 23,
};

/* Existence only: a certificate of someone else tells nothing more. */
static const ch_stmt_t stmt_certificate_exists = {
	.name = "app_certificate_exists",
	.sql = "SELECT 1 FROM certificate WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

/* ---- the rules ----------------------------------------------------------- */

static ch_app_edit_result_t
refused(ch_app_refusal_t *r, ch_app_field_t f, bool missing,
    const char *detail)
{
	r->field = ch_app_field_names[f];
	r->missing = missing;
	r->detail = detail;
	return CH_APP_EDIT_REFUSED;
}

static ch_app_edit_result_t
certificate_unknown(ch_app_refusal_t *r)
{
	return refused(r, CH_APP_F_CERTIFICATE_ID, false,
	    "certificate_id names no certificate");
}

ch_app_edit_result_t
ch_app_fields_check(ch_pool_t *pool, const ch_app_fields_t *st,
    ch_app_refusal_t *r)
{
	int biz = st->v[CH_APP_F_BUSINESS_TYPE] != NULL ? ch_code_index(
	    ch_business_codes, st->v[CH_APP_F_BUSINESS_TYPE]) : -1;
	int cert = st->v[CH_APP_F_CERTIFICATE_TYPE] != NULL ? ch_code_index(
	    ch_cert_type_codes, st->v[CH_APP_F_CERTIFICATE_TYPE]) : -1;
	bool term = biz == CH_BIZ_NEW || biz == CH_BIZ_RENEW;
	const char *b;

	memset(r, 0, sizeof *r);
	if (biz < 0)
		return refused(r, CH_APP_F_BUSINESS_TYPE, false,
		    "business_type cannot be cleared");
	if (cert < 0)
		return refused(r, CH_APP_F_CERTIFICATE_TYPE, false,
		    "certificate_type cannot be cleared");
	b = ch_business_codes[biz];
	if (biz == CH_BIZ_NEW && st->v[CH_APP_F_CERTIFICATE_ID] != NULL)
		return refused(r, CH_APP_F_CERTIFICATE_ID, false,
		    "certificate_id is not taken by new: it applies for a new"
		    " certificate");
	if (biz != CH_BIZ_NEW && st->v[CH_APP_F_CERTIFICATE_ID] == NULL)
		return refused(r, CH_APP_F_CERTIFICATE_ID, true,
		    ch_psprintf(pool, "certificate_id is required for %s: the"
		    " certificate it is about", b));
	if (cert == CH_CERT_ORG) {
		for (int f = CH_APP_F_HOLDER_NAME;
		    f <= CH_APP_F_HOLDER_ID_NUMBER; f++)
			if (st->v[f] != NULL)
				return refused(r, (ch_app_field_t)f, false,
				    ch_psprintf(pool, "%s is only for personal"
				    " certificates", ch_app_field_names[f]));
	}
	if (biz != CH_BIZ_REVOKE && st->v[CH_APP_F_REVOCATION_REASON] != NULL)
		return refused(r, CH_APP_F_REVOCATION_REASON, false,
		    ch_psprintf(pool, "%s does not take revocation_reason: it"
		    " is the reason a revoke gives", b));
	if (!term) {
		for (int f = CH_APP_F_YEARS; f <= CH_APP_F_SEALS; f++)
			if (st->v[f] != NULL)
				return refused(r, (ch_app_field_t)f, false,
				    ch_psprintf(pool, "%s does not take %s: it"
				    " keeps the certificate's term", b,
				    ch_app_field_names[f]));
	}
	return CH_APP_EDIT_OK;
}

/* Seals 0 is the default: stored as 0, read back as unset. */
static void
fields_normalize(ch_app_fields_t *st)
{
	if (st->v[CH_APP_F_SEALS] != NULL &&
	    strcmp(st->v[CH_APP_F_SEALS], "0") == 0)
		st->v[CH_APP_F_SEALS] = NULL;
}

static bool
same_value(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ---- create -------------------------------------------------------------- */

/* The channel an application made by p comes through. */
static const char *
channel_of(const ch_principal_t *p)
{
	switch (p->kind) {
	case CH_ACTOR_STAFF:
		return "counter";
	case CH_ACTOR_INTEGRATOR:
		return "integrator";
	default:
		return "online";
	}
}

ch_app_edit_result_t
ch_app_create_check(const ch_principal_t *p, const ch_app_fields_t *f,
    ch_app_refusal_t *r)
{
	memset(r, 0, sizeof *r);
	if (p->kind == CH_ACTOR_STAFF && f->v[CH_APP_F_HANDLER_PHONE] == NULL)
		return refused(r, CH_APP_F_HANDLER_PHONE, true,
		    "handler_phone is required for a counter application: the"
		    " handler owns it");
	if (p->kind == CH_ACTOR_INTEGRATOR && p->applicant_id <= 0)
		return CH_APP_EDIT_NO_USER;
	return CH_APP_EDIT_OK;
}

ch_app_edit_result_t
ch_app_create(ch_ctx_t *ctx, const ch_app_fields_t *fields,
    ch_app_written_t *out, ch_app_refusal_t *r)
{
	const ch_principal_t *p = &ctx->principal;
	ch_app_fields_t st = *fields;
	ch_app_edit_result_t rc;
	const char *params[CH_APP_F__MAX + 3];
	char owner[24], staff[24];
	PGresult *res;

	if ((rc = ch_app_create_check(p, &st, r)) != CH_APP_EDIT_OK ||
	    (rc = ch_app_fields_check(ctx->pool, &st, r)) != CH_APP_EDIT_OK)
		return rc;
	/* The certificate's existence is checked by the insert itself. */
	fields_normalize(&st);

	if (p->kind == CH_ACTOR_STAFF) {
		long long owner_id;

		if (ch_applicant_for_phone(ctx->db, ctx->pool,
		    st.v[CH_APP_F_HANDLER_PHONE], &owner_id, NULL) != 0)
			return CH_APP_EDIT_ERROR;
		snprintf(owner, sizeof owner, "%lld", owner_id);
		snprintf(staff, sizeof staff, "%lld", p->id);
	} else {
		snprintf(owner, sizeof owner, "%lld", p->applicant_id);
	}
	for (int f = 0; f < CH_APP_F__MAX; f++)
		params[f] = st.v[f];
	params[CH_APP_F__MAX] = owner;
	params[CH_APP_F__MAX + 1] = channel_of(p);
	params[CH_APP_F__MAX + 2] = p->kind == CH_ACTOR_STAFF ? staff : NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_insert, params);
	if (res == NULL)
		return CH_APP_EDIT_ERROR;
	if (PQntuples(res) != 1)
		return certificate_unknown(r);
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->version = atoi(PQgetvalue(res, 0, 1));
	out->json = PQgetvalue(res, 0, 2);	/* the result belongs to the pool */
	/* History and audit go with the COMMIT: one round trip for the three. */
	if (ch_wf_created(ctx, out->id) != 0)
		return CH_APP_EDIT_ERROR;
	return CH_APP_EDIT_OK;
}

/* ---- change -------------------------------------------------------------- */

ch_app_edit_result_t
ch_app_change(ch_ctx_t *ctx, const ch_app_t *a, const ch_app_fields_t *change,
    ch_app_refusal_t *r)
{
	ch_app_fields_t old, st;
	const char *params[CH_APP_F__MAX + 1];
	char idbuf[24];
	json_t *changed;
	ch_app_edit_result_t rc;
	PGresult *res;

	memset(r, 0, sizeof *r);
	if (!(CH_ST_EDITABLE & CH_ST_BIT(a->status)))
		return CH_APP_EDIT_CONFLICT;

	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	params[0] = idbuf;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_state, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_APP_EDIT_ERROR;
	memset(&old, 0, sizeof old);
	for (int f = 0; f < CH_APP_F__MAX; f++)
		old.v[f] = PQgetisnull(res, 0, f) ? NULL : PQgetvalue(res, 0, f);
	st = old;
	for (int f = 0; f < CH_APP_F__MAX; f++) {
		if (!change->given[f])
			continue;
		st.given[f] = true;
		st.v[f] = change->v[f];
	}
	if ((rc = ch_app_fields_check(ctx->pool, &st, r)) != CH_APP_EDIT_OK)
		return rc;
	if (st.given[CH_APP_F_CERTIFICATE_ID] &&
	    st.v[CH_APP_F_CERTIFICATE_ID] != NULL) {
		const char *cert[1] = { st.v[CH_APP_F_CERTIFICATE_ID] };

		res = ch_db_exec(ctx->db, ctx->pool, &stmt_certificate_exists,
		    cert);
		if (res == NULL)
			return CH_APP_EDIT_ERROR;
		if (PQntuples(res) != 1)
			return certificate_unknown(r);
	}
	fields_normalize(&st);

	changed = ch_pool_json(ctx->pool, json_array());
	for (int f = 0; f < CH_APP_F__MAX; f++)
		if (!same_value(old.v[f], st.v[f]))
			json_array_append_new(changed,
			    json_string(ch_app_field_names[f]));
	/* Nothing changes: no new version, no audit event. */
	if (json_array_size(changed) == 0)
		return CH_APP_EDIT_OK;
	for (int f = 0; f < CH_APP_F__MAX; f++)
		params[1 + f] = st.v[f];
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_update, params) == NULL)
		return CH_APP_EDIT_ERROR;
	/* Field names only: never the values (ID numbers, phones). */
	if (ch_audit(ctx, "application.updated", "application", idbuf,
	    json_pack("{s:O}", "fields", changed)) != 0)
		return CH_APP_EDIT_ERROR;
	return CH_APP_EDIT_OK;
}

/* ---- cancel -------------------------------------------------------------- */

ch_app_cancel_result_t
ch_app_cancel(ch_ctx_t *ctx, const ch_app_t *a, const char *reason,
    const char ***trade_nos)
{
	*trade_nos = NULL;
	/* SPEC §5: "any state before payment".  Paid money leaves only by a
	 * refund (finance), which cancels the application itself. */
	switch (ch_payment_is_paid(ctx, a->id)) {
	case 0:
		break;
	case 1:
		return CH_APP_CANCEL_PAID;
	default:
		return CH_APP_CANCEL_ERROR;
	}
	switch (ch_wf_transition(ctx, a->id, CH_ST_CANCELLABLE, CH_ST_CANCELLED,
	    reason, NULL, NULL)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		return CH_APP_CANCEL_CONFLICT;
	default:
		return CH_APP_CANCEL_ERROR;
	}
	/* An unpaid order can take no money now (the application is locked
	 * first, as everywhere money moves); one paid anyway is refunded. */
	if (ch_payment_close_open(ctx, a->id, trade_nos) != 0)
		return CH_APP_CANCEL_ERROR;
	return CH_APP_CANCEL_OK;
}
