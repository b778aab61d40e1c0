/*
 * /api/v1/applications — choose a business, fill in the application,
 * submit it (SPEC §2, §3, §5 steps 1-2; docs/CONTRACT.md "Applications,
 * materials, review"):
 *
 *   POST  /applications               create a draft (Idempotency-Key)
 *   GET   /applications               own ones; staff: all, with filters
 *   GET   /applications/{id}          one, with ETag "v<version>"
 *   PATCH /applications/{id}          change fields (If-Match required)
 *   POST  /applications/{id}/cancel   → cancelled
 *   POST  /applications/{id}/submit   → submitted (Idempotency-Key)
 *   GET   /applications/{id}/history  the status history
 *
 * The handlers read the request (the body as validated, path, query,
 * If-Match, Idempotency-Key), call certhall/domain/application.h and turn
 * its results into answers: who may see or change an application, its
 * fields' rules, the channel rules, completeness, eligibility, the quote
 * and every statement live there, shared with materials, review and
 * verification.  Every change is one transaction, opened here (with the
 * Idempotency-Key's row, certhall/web/idempotency.h) and committed here.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/web/idempotency.h"
#include "certhall/web/query.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
#define REASON_MAX 500

/* ---- the fields ---------------------------------------------------------- */

/* The body of a create or a PATCH; the schemas list its members in
 * ch_app_field_t order (tests/unit checks the names). */
struct app_input {
	int business_type;		/* -1 absent */
	int certificate_type;
	ch_int_t certificate_id;
	const char *unit_name;
	const char *credit_code;
	const char *holder_name;
	const char *holder_id_number;
	const char *handler_name;
	const char *handler_phone;
	const char *handler_id_number;
	ch_int_t years;
	ch_int_t seals;
	const char *delivery_recipient;
	const char *delivery_phone;
	const char *delivery_province;
	const char *delivery_city;
	const char *delivery_district;
	const char *delivery_address;
	const char *delivery_postcode;
	const char *invoice_title;
	const char *invoice_tax_id;
	int revocation_reason;
};

/* The reasons a subscriber may give for a revoke (sql/0015_revocation.sql;
 * CA/Browser Forum BR §7.2.2): a lost USB key is keyCompromise, a
 * certificate no longer used cessationOfOperation; none is unspecified. */
static const char *const revocation_reasons[] = {
	"unspecified", "keyCompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", NULL,
};

#define STR(field, lo, hi, fn) \
	{ .name = #field, .type = CH_F_STRING, .flags = CH_F_NULLABLE, \
	  .min = (lo), .max = (hi), .check = (fn), \
	  .offset = offsetof(struct app_input, field) }

/*
 * Lengths are a sanity cap where a checker (certhall/validate.h) holds the
 * exact rule, so the problem states the rule.  NULLABLE: null is "not
 * given" for a create and "clear it" for a PATCH (read from the body).
 * The allowed term is data (term_policy, 1-5): the quote checks it again.
 */
#define APP_FIELDS(type_flags) \
	{ .name = "business_type", .type = CH_F_ENUM, .flags = (type_flags), \
	  .values = ch_business_codes, \
	  .offset = offsetof(struct app_input, business_type) }, \
	{ .name = "certificate_type", .type = CH_F_ENUM, .flags = (type_flags), \
	  .values = ch_cert_type_codes, \
	  .offset = offsetof(struct app_input, certificate_type) }, \
	{ .name = "certificate_id", .type = CH_F_INT, .flags = CH_F_NULLABLE, \
	  .min = 1, .max = 999999999999999999LL, \
	  .offset = offsetof(struct app_input, certificate_id) }, \
	STR(unit_name, 2, 100, ch_check_name), \
	STR(credit_code, 1, 64, ch_check_credit_code), \
	STR(holder_name, 2, 50, ch_check_name), \
	STR(holder_id_number, 1, 64, ch_check_id_number), \
	STR(handler_name, 2, 50, ch_check_name), \
	STR(handler_phone, 1, 64, ch_check_phone), \
	STR(handler_id_number, 1, 64, ch_check_id_number), \
	{ .name = "years", .type = CH_F_INT, .flags = CH_F_NULLABLE, \
	  .min = 1, .max = 5, \
	  .offset = offsetof(struct app_input, years) }, \
	{ .name = "seals", .type = CH_F_INT, .flags = CH_F_NULLABLE, \
	  .min = 0, .max = 10, \
	  .offset = offsetof(struct app_input, seals) }, \
	STR(delivery_recipient, 2, 50, ch_check_name), \
	STR(delivery_phone, 1, 64, ch_check_phone), \
	STR(delivery_province, 1, 50, ch_check_name), \
	STR(delivery_city, 1, 50, ch_check_name), \
	STR(delivery_district, 1, 50, ch_check_name), \
	STR(delivery_address, 1, 200, ch_check_name), \
	STR(delivery_postcode, 1, 16, ch_check_postcode), \
	STR(invoice_title, 1, 100, ch_check_name), \
	STR(invoice_tax_id, 1, 64, ch_check_credit_code), \
	{ .name = "revocation_reason", .type = CH_F_ENUM, \
	  .flags = CH_F_NULLABLE, .values = revocation_reasons, \
	  .offset = offsetof(struct app_input, revocation_reason) }

static const ch_field_t create_fields[CH_APP_F__MAX] = {
	APP_FIELDS(CH_F_REQUIRED)
};

const ch_schema_t api_application_create_schema = {
	.fields = create_fields,
	.nfields = CH_APP_F__MAX,
	.size = sizeof(struct app_input),
};

/* In a PATCH a null business or certificate type reaches the handler (as
 * "clear it") and is refused there, naming the field. */
static const ch_field_t patch_fields[CH_APP_F__MAX] = {
	APP_FIELDS(CH_F_NULLABLE)
};

const ch_schema_t api_application_patch_schema = {
	.fields = patch_fields,
	.nfields = CH_APP_F__MAX,
	.size = sizeof(struct app_input),
};

struct cancel_input {
	const char *reason;
};

static const ch_field_t cancel_fields[] = {
	{ .name = "reason", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = 2, .max = REASON_MAX,
	  .offset = offsetof(struct cancel_input, reason) },
};

const ch_schema_t api_application_cancel_schema =
    CH_SCHEMA(cancel_fields, struct cancel_input);

/* Submit takes an empty object. */
const ch_schema_t api_application_submit_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

/* ---- the fields of a request ------------------------------------------- */

/* The request's fields as the domain takes them: a value sets, null clears
 * (for a create, "not given" and "cleared" are the same).  fields is the
 * route's table, in ch_app_field_t order. */
static void
fields_of(ch_req_t *req, const ch_field_t *fields, ch_app_fields_t *st)
{
	const char *in = req->input;

	memset(st, 0, sizeof *st);
	for (int f = 0; f < CH_APP_F__MAX; f++) {
		const ch_field_t *fd = &fields[f];
		json_t *j = json_object_get(req->json, fd->name);
		const void *slot = in + fd->offset;

		if (j == NULL)
			continue;
		st->given[f] = true;
		if (json_is_null(j))
			continue;
		switch (fd->type) {
		case CH_F_STRING:
			st->v[f] = *(const char *const *)slot;
			break;
		case CH_F_INT:
			st->v[f] = ch_psprintf(req->ctx.pool, "%lld",
			    ((const ch_int_t *)slot)->v);
			break;
		case CH_F_ENUM:
			st->v[f] = fd->values[*(const int *)slot];
			break;
		default:
			break;
		}
	}
}

/* ---- helpers ------------------------------------------------------------- */

/* Ends a transaction that must change nothing and answers what the caller
 * set (a problem).  0, or -1 if even the rollback failed. */
static int
refuse(ch_req_t *req)
{
	return ch_db_rollback(req->ctx.db) == 0 ? 0 : -1;
}

/* A replayed answer (certhall/idempotency.h) is the stored body; an
 * application in it gets its ETag back, as the first answer had. */
static int
replayed(ch_req_t *req)
{
	json_t *body, *version;
	char etag[16];

	if (req->resp.status >= 200 && req->resp.status < 300 &&
	    req->resp.body != NULL) {
		body = json_loadb(req->resp.body, req->resp.body_len, 0, NULL);
		version = json_object_get(body, "version");
		if (json_is_integer(version)) {
			ch_http_etag((int)json_integer_value(version), etag);
			ch_resp_header(req, "ETag", etag);
		}
		json_decref(body);
	}
	return ch_db_commit(req->ctx.db);
}

/*
 * Opens the transaction of a create or submit and looks up its
 * Idempotency-Key (certhall/idempotency.h).  1 to go on; 0 when the answer
 * is decided already (the replayed one, or a refusal), and the handler
 * returns *rc.
 */
static int
begin_idempotent(ch_req_t *req, int *rc)
{
	*rc = -1;
	if (ch_db_begin(req->ctx.db) != 0)
		return 0;
	switch (ch_idem_begin(req)) {
	case CH_IDEM_NONE:
	case CH_IDEM_PROCEED:
		return 1;
	case CH_IDEM_REPLAYED:
		*rc = replayed(req);
		return 0;
	case CH_IDEM_REFUSED:
		*rc = refuse(req);
		return 0;
	case CH_IDEM_ERROR:
	default:
		return 0;
	}
}

/* The answer to a create or submit under Idempotency-Key: saved with the
 * key, then committed.  0 or -1. */
static int
finish(ch_req_t *req)
{
	if (ch_idem_save(req) != 0 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	return 0;
}

/* ---- POST /api/v1/applications ------------------------------------------- */

/* A refusal of the fields as its 422 (certhall/domain/application.h). */
static void
refuse_fields(ch_req_t *req, ch_app_edit_result_t r,
    const ch_app_refusal_t *why)
{
	if (r == CH_APP_EDIT_NO_USER)
		json_object_set_new(ch_problem(req, CH_P_MISSING_FIELD,
		    "an integrator applies for one of its users: send"
		    " X-Certhall-External-User"),
		    "header", json_string("X-Certhall-External-User"));
	else
		api_refuse_field(req, why);
}

int
api_application_create(ch_req_t *req)
{
	ch_app_fields_t st;
	ch_app_refusal_t why = { 0 };
	ch_app_written_t app;
	ch_app_edit_result_t r;
	int rc;

	fields_of(req, create_fields, &st);
	if ((r = ch_app_create_check(&req->ctx.principal, &st, &why))
	    != CH_APP_EDIT_OK) {
		refuse_fields(req, r, &why);
		return 0;
	}
	if (!begin_idempotent(req, &rc))
		return rc;
	switch ((r = ch_app_create(&req->ctx, &st, &app, &why))) {
	case CH_APP_EDIT_OK:
		break;
	case CH_APP_EDIT_ERROR:
		return -1;
	default:
		refuse_fields(req, r, &why);
		return refuse(req);
	}
	api_app_respond_with(req, 201, app.version, app.json);
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/applications/%lld", app.id));
	return finish(req);
}

/* ---- GET /api/v1/applications -------------------------------------------- */

/* The long long at slot from a list cursor (certhall/application.h). */
static int
list_cursor_parse(const char *value, void *slot)
{
	return ch_app_cursor_decode(value, slot);
}

/* Values are tokens that need no percent-decoding (certhall/query.h). */
static const ch_qparam_t list_params[] = {
	{ .name = "status", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_app_list_query_t, status),
	  .values = ch_app_status_codes,
	  .detail = "status must be an application status" },
	{ .name = "business_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_app_list_query_t, business_type),
	  .values = ch_business_codes,
	  .detail = "business_type must be one of new, renew, reissue, change,"
	  " revoke, unlock" },
	{ .name = "certificate_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_app_list_query_t, certificate_type),
	  .values = ch_cert_type_codes,
	  .detail = "certificate_type must be org or personal" },
	{ .name = "channel", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_app_list_query_t, channel),
	  .values = ch_app_channel_codes,
	  .detail = "channel must be online, integrator or counter" },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_app_list_query_t, limit),
	  .max = LIST_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(ch_app_list_query_t, before),
	  .parse = list_cursor_parse,
	  .detail = "cursor must be a next_cursor this list returned" },
};

int
api_application_list(ch_req_t *req)
{
	ch_app_list_query_t q;
	const char *body;
	size_t len;

	memset(&q, 0, sizeof q);
	q.limit = LIST_LIMIT_DEFAULT;
	q.before = LLONG_MAX;
	if (ch_query_parse(req, list_params,
	    sizeof list_params / sizeof list_params[0],
	    "unknown query parameter; this list takes status, business_type,"
	    " certificate_type, channel, limit and cursor", &q) != 0)
		return 0;
	if ((body = ch_app_list(&req->ctx, &q, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}

/* ---- GET /api/v1/applications/{id} --------------------------------------- */

int
api_application_get(ch_req_t *req)
{
	ch_app_t a;
	long long id;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	return api_app_respond(req, 200, id);
}

/* ---- PATCH /api/v1/applications/{id} ------------------------------------- */

int
api_application_patch(ch_req_t *req)
{
	const char *if_match = ch_req_env(req, "HTTP_IF_MATCH");
	ch_app_fields_t change;
	ch_app_refusal_t why = { 0 };
	char etag[16];
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (json_object_size(req->json) == 0) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "",
		    "give at least one field to change");
		return 0;
	}
	if (if_match == NULL) {
		json_object_set_new(ch_problem(req,
		    CH_P_PRECONDITION_REQUIRED, "send If-Match with the ETag"
		    " of the version you changed"),
		    "header", json_string("If-Match"));
		return 0;
	}
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	if (!ch_http_if_match(if_match, a.version)) {
		ch_http_etag(a.version, etag);
		json_object_set_new(ch_problem(req, CH_P_PRECONDITION_FAILED,
		    "the application is at version %s now; read it again",
		    etag), "header", json_string("If-Match"));
		return refuse(req);
	}
	fields_of(req, patch_fields, &change);
	switch (ch_app_change(&req->ctx, &a, &change, &why)) {
	case CH_APP_EDIT_OK:
		break;
	case CH_APP_EDIT_CONFLICT:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "change");
		return 0;
	case CH_APP_EDIT_REFUSED:
		api_refuse_field(req, &why);
		return refuse(req);
	default:
		return -1;
	}
	if (api_app_respond(req, 200, id) != 0)
		return -1;
	return ch_db_commit(req->ctx.db);
}

/* ---- POST /api/v1/applications/{id}/cancel ------------------------------- */

int
api_application_cancel(ch_req_t *req)
{
	const struct cancel_input *in = req->input;
	const char **orders;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	switch (ch_app_cancel(&req->ctx, &a, in != NULL ? in->reason : NULL,
	    &orders)) {
	case CH_APP_CANCEL_OK:
		break;
	case CH_APP_CANCEL_PAID:
		ch_db_rollback(req->ctx.db);
		api_app_refuse_state(req, a.status, "the application is paid:"
		    " it can no longer be cancelled by its handler; ask for a"
		    " refund instead");
		return 0;
	case CH_APP_CANCEL_CONFLICT:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "cancel");
		return 0;
	default:
		return -1;
	}
	if (api_app_respond(req, 200, id) != 0 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, orders);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/submit ------------------------------- */

int
api_application_submit(ch_req_t *req)
{
	ch_app_verdict_t v;
	ch_app_refusal_t why = { 0 };
	ch_app_written_t app;
	long long id;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (!begin_idempotent(req, &rc))
		return rc;
	switch (ch_app_submit(&req->ctx, id, &v, &why, &app)) {
	case CH_APP_SUBMIT_OK:
		break;
	case CH_APP_SUBMIT_NOT_FOUND:
		api_app_not_found(req);
		return refuse(req);
	case CH_APP_SUBMIT_CONFLICT:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "submit");
		return 0;
	case CH_APP_SUBMIT_REFUSED:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_refuse(req, &v);
		return 0;
	case CH_APP_SUBMIT_INVALID:
		api_refuse_field(req, &why);
		return refuse(req);
	default:
		return -1;
	}
	api_app_respond_with(req, 200, app.version, app.json);
	return finish(req);
}

/* ---- GET /api/v1/applications/{id}/history ------------------------------- */

int
api_application_history(ch_req_t *req)
{
	return api_app_show(req, ch_app_history_json);
}
