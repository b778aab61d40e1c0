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
 * Who may see or change an application, its JSON, completeness,
 * eligibility and the quote live in certhall/application.h, shared with
 * materials and review.  Every change is one transaction; state changes go
 * through certhall/workflow.h (guarded UPDATE, history, audit).
 *
 * Create and PATCH check one state: the fields given are laid over the
 * current ones (nothing for a create; JSON null clears a field) and the
 * result must hold together (certificate_id for every business but new,
 * years and seals only for new and renew, a holder only for personal).
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/web/auth.h"
#include "certhall/web/idempotency.h"
#include "certhall/base/log.h"
#include "certhall/domain/payment.h"
#include "certhall/domain/people.h"
#include "certhall/web/query.h"
#include "certhall/base/validate.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
#define REASON_MAX 500

/* ---- the fields ---------------------------------------------------------- */

/* Indexes into the field table and the state arrays; the statements below
 * take the fields in this order. */
enum {
	F_BUSINESS_TYPE,
	F_CERTIFICATE_TYPE,
	F_CERTIFICATE_ID,
	F_UNIT_NAME,
	F_CREDIT_CODE,
	F_HOLDER_NAME,
	F_HOLDER_ID_NUMBER,
	F_HANDLER_NAME,
	F_HANDLER_PHONE,
	F_HANDLER_ID_NUMBER,
	F_YEARS,
	F_SEALS,
	F_DELIVERY_RECIPIENT,
	F_DELIVERY_PHONE,
	F_DELIVERY_PROVINCE,
	F_DELIVERY_CITY,
	F_DELIVERY_DISTRICT,
	F_DELIVERY_ADDRESS,
	F_DELIVERY_POSTCODE,
	F_INVOICE_TITLE,
	F_INVOICE_TAX_ID,
	F__MAX
};

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
	STR(invoice_tax_id, 1, 64, ch_check_credit_code)

static const ch_field_t create_fields[F__MAX] = {
	APP_FIELDS(CH_F_REQUIRED)
};

const ch_schema_t api_application_create_schema = {
	.fields = create_fields,
	.nfields = F__MAX,
	.size = sizeof(struct app_input),
};

/* In a PATCH a null business or certificate type reaches the handler (as
 * "clear it") and is refused there, naming the field. */
static const ch_field_t patch_fields[F__MAX] = {
	APP_FIELDS(CH_F_NULLABLE)
};

const ch_schema_t api_application_patch_schema = {
	.fields = patch_fields,
	.nfields = F__MAX,
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

/* ---- statements ---------------------------------------------------------- */

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
	       "  invoice_tax_id, applicant_id, channel, created_by_staff_id)"
	       " SELECT $1, $2, $3::bigint, $4, $5, $6, $7, $8, $9, $10,"
	       "  $11::int, COALESCE($12::int, 0),"
	       "  " DELIVERY_JSON("$13", "$14", "$15", "$16", "$17", "$18",
	           "$19") ", $20, $21, $22::bigint, $23, $24::bigint"
	       " WHERE $3::bigint IS NULL"
	       "  OR EXISTS (SELECT 1 FROM certificate WHERE id = $3::bigint)"
	       " RETURNING a.id, a.version, " CH_SQL_APP_JSON "::text",
	.nparams = 24,
};

/* The fields of an application as text, in F_ order ($1 the id).  Seals
 * 0 reads as unset: it is the column's default. */
static const ch_stmt_t stmt_state = {
	.name = "app_state",
	.sql = "SELECT business_type, certificate_type, certificate_id::text,"
	       " unit_name, credit_code, holder_name, holder_id_number,"
	       " handler_name, handler_phone, handler_id_number, years::text,"
	       " NULLIF(seals, 0)::text, delivery->>'recipient',"
	       " delivery->>'phone', delivery->>'province', delivery->>'city',"
	       " delivery->>'district', delivery->>'address',"
	       " delivery->>'postcode', invoice_title, invoice_tax_id"
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
	       " version = version + 1, updated_at = now()"
	       " WHERE id = $1",
	.nparams = 22,
};

/* Existence only: a certificate of someone else tells nothing more. */
static const ch_stmt_t stmt_certificate_exists = {
	.name = "app_certificate_exists",
	.sql = "SELECT 1 FROM certificate WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

/* $1 owner (NULL: every one, for staff), $2 before this id, $3 status,
 * $4 business, $5 certificate type, $6 channel (NULL: any), $7 limit. */
static const ch_stmt_t stmt_list = {
	.name = "app_list",
	.sql = "SELECT a.id, " CH_SQL_APP_LIST_JSON "::text"
	       " FROM application a"
	       " WHERE ($1::bigint IS NULL OR a.applicant_id = $1::bigint)"
	       "   AND a.id < $2::bigint"
	       "   AND ($3::text IS NULL OR a.status = $3)"
	       "   AND ($4::text IS NULL OR a.business_type = $4)"
	       "   AND ($5::text IS NULL OR a.certificate_type = $5)"
	       "   AND ($6::text IS NULL OR a.channel = $6)"
	       " ORDER BY a.id DESC LIMIT $7::int",
	.nparams = 7,
	.readonly = true,
};

static const ch_stmt_t stmt_history = {
	.name = "app_history",
	.sql = "SELECT json_build_object('items', COALESCE(json_agg("
	       "  json_build_object('from', from_status, 'to', to_status,"
	       "   'at', " CH_SQL_TIME("at") ", 'actor_kind', actor_kind,"
	       "   'reason', reason) ORDER BY id), '[]'::json))::text"
	       " FROM application_history WHERE application_id = $1",
	.nparams = 1,
	.readonly = true,
};

/* ---- the state of an application's fields -------------------------------- */

typedef struct {
	const char *v[F__MAX];		/* text values; NULL: unset */
	bool given[F__MAX];		/* named in this request's body */
} app_state_t;

static const char *
pointer(ch_req_t *req, int f)
{
	return ch_psprintf(req->ctx.pool, "/%s", create_fields[f].name);
}

/* Lays the request's fields over st: a value sets, null clears. */
static void
state_apply(ch_req_t *req, const ch_field_t *fields, app_state_t *st)
{
	const char *in = req->input;

	for (int f = 0; f < F__MAX; f++) {
		const ch_field_t *fd = &fields[f];
		json_t *j = json_object_get(req->json, fd->name);
		const void *slot = in + fd->offset;

		if (j == NULL)
			continue;
		st->given[f] = true;
		if (json_is_null(j)) {
			st->v[f] = NULL;
			continue;
		}
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

static void
certificate_unknown(ch_req_t *req)
{
	ch_problem_field(req, CH_P_INVALID_FIELD, "/certificate_id",
	    "certificate_id names no certificate");
}

/*
 * Checks that st holds together (see the top of the file).  0; 1 with a
 * 422 answer set; -1 on a database error.
 */
static int
state_check(ch_req_t *req, const app_state_t *st, bool creating)
{
	int biz = st->v[F_BUSINESS_TYPE] != NULL ?
	    ch_code_index(ch_business_codes, st->v[F_BUSINESS_TYPE]) : -1;
	int cert = st->v[F_CERTIFICATE_TYPE] != NULL ?
	    ch_code_index(ch_cert_type_codes, st->v[F_CERTIFICATE_TYPE]) : -1;
	bool term = biz == CH_BIZ_NEW || biz == CH_BIZ_RENEW;
	const char *b;

	if (biz < 0) {
		ch_problem_field(req, CH_P_INVALID_FIELD, "/business_type",
		    "business_type cannot be cleared");
		return 1;
	}
	if (cert < 0) {
		ch_problem_field(req, CH_P_INVALID_FIELD, "/certificate_type",
		    "certificate_type cannot be cleared");
		return 1;
	}
	b = ch_business_codes[biz];
	if (biz == CH_BIZ_NEW && st->v[F_CERTIFICATE_ID] != NULL) {
		ch_problem_field(req, CH_P_INVALID_FIELD, "/certificate_id",
		    "certificate_id is not taken by new: it applies for a new"
		    " certificate");
		return 1;
	}
	if (biz != CH_BIZ_NEW && st->v[F_CERTIFICATE_ID] == NULL) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "/certificate_id",
		    "certificate_id is required for %s: the certificate it is"
		    " about", b);
		return 1;
	}
	if (cert == CH_CERT_ORG) {
		for (int f = F_HOLDER_NAME; f <= F_HOLDER_ID_NUMBER; f++) {
			if (st->v[f] == NULL)
				continue;
			ch_problem_field(req, CH_P_INVALID_FIELD,
			    pointer(req, f), "%s is only for personal"
			    " certificates", create_fields[f].name);
			return 1;
		}
	}
	if (!term) {
		for (int f = F_YEARS; f <= F_SEALS; f++) {
			if (st->v[f] == NULL)
				continue;
			ch_problem_field(req, CH_P_INVALID_FIELD,
			    pointer(req, f), "%s does not take %s: it keeps the"
			    " certificate's term", b, create_fields[f].name);
			return 1;
		}
	}
	/* A create checks in its insert (stmt_insert). */
	if (!creating && st->given[F_CERTIFICATE_ID] &&
	    st->v[F_CERTIFICATE_ID] != NULL) {
		const char *params[1] = { st->v[F_CERTIFICATE_ID] };
		PGresult *res = ch_db_exec(req->ctx.db, req->ctx.pool,
		    &stmt_certificate_exists, params);

		if (res == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			certificate_unknown(req);
			return 1;
		}
	}
	return 0;
}

/* Seals 0 is the default: stored as 0, read back as unset. */
static void
state_normalize(app_state_t *st)
{
	if (st->v[F_SEALS] != NULL && strcmp(st->v[F_SEALS], "0") == 0)
		st->v[F_SEALS] = NULL;
}

static bool
same_value(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
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

int
api_application_create(ch_req_t *req)
{
	const ch_principal_t *p = &req->ctx.principal;
	app_state_t st;
	const char *params[24], *channel;
	char owner[24], staff[24], idbuf[24];
	long long id;
	PGresult *res;
	int rc;

	memset(&st, 0, sizeof st);
	state_apply(req, create_fields, &st);

	if (p->kind == CH_ACTOR_STAFF) {
		channel = "counter";
		if (st.v[F_HANDLER_PHONE] == NULL) {
			ch_problem_field(req, CH_P_MISSING_FIELD,
			    "/handler_phone", "handler_phone is required for a"
			    " counter application: the handler owns it");
			return 0;
		}
	} else if (p->kind == CH_ACTOR_INTEGRATOR) {
		channel = "integrator";
		if (p->applicant_id <= 0) {
			json_object_set_new(ch_problem(req, CH_P_MISSING_FIELD,
			    "an integrator applies for one of its users: send"
			    " X-Certhall-External-User"),
			    "header", json_string("X-Certhall-External-User"));
			return 0;
		}
	} else {
		channel = "online";
	}

	if (!begin_idempotent(req, &rc))
		return rc;
	switch (state_check(req, &st, true)) {
	case 0:
		break;
	case 1:
		return refuse(req);
	default:
		return -1;
	}
	state_normalize(&st);

	if (p->kind == CH_ACTOR_STAFF) {
		long long owner_id;

		if (ch_applicant_for_phone(req->ctx.db, req->ctx.pool,
		    st.v[F_HANDLER_PHONE], &owner_id, NULL) != 0)
			return -1;
		snprintf(owner, sizeof owner, "%lld", owner_id);
		snprintf(staff, sizeof staff, "%lld", p->id);
	} else {
		snprintf(owner, sizeof owner, "%lld", p->applicant_id);
	}
	for (int f = 0; f < F__MAX; f++)
		params[f] = st.v[f];
	params[F__MAX] = owner;
	params[F__MAX + 1] = channel;
	params[F__MAX + 2] = p->kind == CH_ACTOR_STAFF ? staff : NULL;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_insert, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		certificate_unknown(req);
		return refuse(req);
	}
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	/* History and audit go with the COMMIT: one round trip for the three. */
	if (ch_wf_created(&req->ctx, id) != 0)
		return -1;
	api_app_respond_with(req, 201, atoi(PQgetvalue(res, 0, 1)),
	    PQgetvalue(res, 0, 2));
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/applications/%s", idbuf));
	return finish(req);
}

/* ---- GET /api/v1/applications -------------------------------------------- */

static const char *const channels[] = {
	"online", "integrator", "counter", NULL,
};

struct list_query {
	long long limit;
	long long before;		/* LLONG_MAX: from the newest */
	/* status, business_type, certificate_type, channel; NULL: any */
	const char *filter[4];
};

/* Values are tokens that need no percent-decoding (certhall/query.h). */
static const ch_qparam_t list_params[] = {
	{ .name = "status", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct list_query, filter[0]),
	  .values = ch_app_status_codes,
	  .detail = "status must be an application status" },
	{ .name = "business_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct list_query, filter[1]),
	  .values = ch_business_codes,
	  .detail = "business_type must be one of new, renew, reissue, change,"
	  " revoke, unlock" },
	{ .name = "certificate_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct list_query, filter[2]),
	  .values = ch_cert_type_codes,
	  .detail = "certificate_type must be org or personal" },
	{ .name = "channel", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct list_query, filter[3]),
	  .values = channels,
	  .detail = "channel must be online, integrator or counter" },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(struct list_query, limit),
	  .max = LIST_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct list_query, before),
	  .parse = api_cursor_parse,
	  .detail = "cursor must be a next_cursor this list returned" },
};

/* Reads req->query into q; 0, or -1 with a 422 answer set. */
static int
parse_list_query(ch_req_t *req, struct list_query *q)
{
	memset(q, 0, sizeof *q);
	q->limit = LIST_LIMIT_DEFAULT;
	q->before = LLONG_MAX;
	return ch_query_parse(req, list_params,
	    sizeof list_params / sizeof list_params[0],
	    "unknown query parameter; this list takes status, business_type,"
	    " certificate_type, channel, limit and cursor", q);
}

int
api_application_list(ch_req_t *req)
{
	const ch_principal_t *p = &req->ctx.principal;
	struct list_query q;
	char owner[24], before[24], limit[24], cursor[32];
	const char *params[7];
	size_t cap = 64, len = 0;
	char *body;
	PGresult *res;
	int n;

	if (parse_list_query(req, &q) != 0)
		return 0;
	if (p->kind != CH_ACTOR_STAFF && p->applicant_id <= 0) {
		/* An integrator acting for nobody owns nothing. */
		ch_resp_json_text(req, 200,
		    "{\"items\":[],\"next_cursor\":null}",
		    strlen("{\"items\":[],\"next_cursor\":null}"));
		return 0;
	}
	snprintf(owner, sizeof owner, "%lld", p->applicant_id);
	snprintf(before, sizeof before, "%lld", q.before);
	snprintf(limit, sizeof limit, "%lld", q.limit + 1);
	params[0] = p->kind == CH_ACTOR_STAFF ? NULL : owner;
	params[1] = before;
	for (int i = 0; i < 4; i++)
		params[2 + i] = q.filter[i];
	params[6] = limit;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_list, params);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	cursor[0] = '\0';
	if (n > q.limit) {
		n = (int)q.limit;
		ch_app_cursor_encode(strtoll(PQgetvalue(res, n - 1, 0), NULL,
		    10), cursor);
	}
	/* The items are PostgreSQL's JSON text already: join them. */
	for (int i = 0; i < n; i++)
		cap += (size_t)PQgetlength(res, i, 1) + 1;
	body = ch_palloc(req->ctx.pool, cap);
	len += (size_t)snprintf(body, cap, "{\"items\":[");
	for (int i = 0; i < n; i++) {
		if (i > 0)
			body[len++] = ',';
		memcpy(body + len, PQgetvalue(res, i, 1),
		    (size_t)PQgetlength(res, i, 1));
		len += (size_t)PQgetlength(res, i, 1);
	}
	len += (size_t)snprintf(body + len, cap - len,
	    "],\"next_cursor\":%s%s%s}", cursor[0] ? "\"" : "",
	    cursor[0] ? cursor : "null", cursor[0] ? "\"" : "");
	ch_resp_json_text(req, 200, body, len);
	return 0;
}

/* ---- GET /api/v1/applications/{id} --------------------------------------- */

int
api_application_get(ch_req_t *req)
{
	ch_app_t a;
	long long id;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (api_app_load(req, id, CH_APP_READ, &a)) {
	case 1:
		return api_app_respond(req, 200, id);
	case 0:
		return 0;
	default:
		return -1;
	}
}

/* ---- PATCH /api/v1/applications/{id} ------------------------------------- */

int
api_application_patch(ch_req_t *req)
{
	const char *if_match = ch_req_env(req, "HTTP_IF_MATCH");
	app_state_t old, st;
	const char *params[F__MAX + 1];
	char idbuf[24], etag[16];
	json_t *changed;
	long long id;
	PGresult *res;
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
	if (!(CH_ST_EDITABLE & CH_ST_BIT(a.status))) {
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "change");
		return 0;
	}

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	params[0] = idbuf;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_state, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	memset(&old, 0, sizeof old);
	for (int f = 0; f < F__MAX; f++)
		old.v[f] = PQgetisnull(res, 0, f) ? NULL : PQgetvalue(res, 0, f);
	st = old;
	state_apply(req, patch_fields, &st);
	if ((rc = state_check(req, &st, false)) != 0)
		return rc > 0 ? refuse(req) : -1;
	state_normalize(&st);

	changed = json_array();
	for (int f = 0; f < F__MAX; f++)
		if (!same_value(old.v[f], st.v[f]))
			json_array_append_new(changed,
			    json_string(patch_fields[f].name));
	if (json_array_size(changed) == 0) {
		/* Nothing changes: no new version, no audit event. */
		json_decref(changed);
		if (api_app_respond(req, 200, id) != 0)
			return -1;
		return ch_db_commit(req->ctx.db);
	}
	for (int f = 0; f < F__MAX; f++)
		params[1 + f] = st.v[f];
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_update, params) == NULL) {
		json_decref(changed);
		return -1;
	}
	/* Field names only: never the values (ID numbers, phones). */
	if (ch_audit(&req->ctx, "application.updated", "application", idbuf,
	    json_pack("{s:o}", "fields", changed)) != 0 ||
	    api_app_respond(req, 200, id) != 0)
		return -1;
	return ch_db_commit(req->ctx.db);
}

/* ---- POST /api/v1/applications/{id}/cancel ------------------------------- */

int
api_application_cancel(ch_req_t *req)
{
	const struct cancel_input *in = req->input;
	const char **orders = NULL;
	long long id;
	ch_app_t a;
	int rc, paid;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	/* SPEC §5: "any state before payment".  Paid money leaves only by a
	 * refund (finance), which cancels the application itself. */
	if ((paid = ch_payment_is_paid(&req->ctx, id)) < 0)
		return -1;
	if (paid) {
		ch_db_rollback(req->ctx.db);
		json_object_set_new(ch_problem(req, CH_P_CONFLICT,
		    "the application is paid: it can no longer be cancelled "
		    "by its handler; ask for a refund instead"),
		    "status_now", json_string(ch_app_status_name(a.status)));
		return 0;
	}
	switch (ch_wf_transition(&req->ctx, id, CH_ST_CANCELLABLE, CH_ST_CANCELLED,
	    in != NULL ? in->reason : NULL, NULL, NULL)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "cancel");
		return 0;
	default:
		return -1;
	}
	/* An unpaid order can take no money now (the application is locked
	 * first, as everywhere money moves); one paid anyway is refunded. */
	if (ch_payment_close_open(&req->ctx, id, &orders) != 0 ||
	    api_app_respond(req, 200, id) != 0 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, orders);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/submit ------------------------------- */

int
api_application_submit(ch_req_t *req)
{
	ch_app_verdict_t v;
	ch_wf_quote_t quote;
	const char *why, *json;
	PGresult *facts, *fees;
	long long id;
	ch_app_t a;
	int rc, version;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (!begin_idempotent(req, &rc))
		return rc;
	/* The row locked, its facts and its fee rows: one round trip. */
	switch (ch_app_load_for_submit(&req->ctx, id, &a, &facts, &fees)) {
	case CH_APP_FOUND:
		break;
	case CH_APP_NOT_FOUND:
		api_app_not_found(req);
		return refuse(req);
	default:
		return -1;
	}
	/* A state that cannot be submitted is a conflict, whatever the
	 * fields say. */
	if (!(CH_ST_EDITABLE & CH_ST_BIT(a.status))) {
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "submit");
		return 0;
	}
	if (ch_app_check_with(&req->ctx, &a, facts, &v) != 0)
		return -1;
	if (v.rule != CH_RULE_OK) {
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_refuse(req, &v);
		return 0;
	}
	switch (ch_app_quote(&req->ctx, &a, false, fees, &quote, NULL, &why)) {
	case CH_APP_QUOTE_OK:
		break;
	case CH_APP_QUOTE_INVALID:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/years", "%s", why);
		return refuse(req);
	default:
		return -1;
	}
	/* The quote goes with the move, and the answer comes back from it. */
	switch (ch_wf_transition_quoted(&req->ctx, id, CH_ST_EDITABLE, CH_ST_SUBMITTED,
	    &quote, &version, &json)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, "submit");
		return 0;
	default:
		if (!ch_app_unique_violation(&req->ctx))
			return -1;
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		memset(&v, 0, sizeof v);
		v.rule = CH_RULE_ONE_OPEN;
		v.detail = "the certificate already has an open application;"
		    " finish or cancel that one first";
		api_app_refuse(req, &v);
		return 0;
	}
	api_app_respond_with(req, 200, version, json);
	return finish(req);
}

/* ---- GET /api/v1/applications/{id}/history ------------------------------- */

int
api_application_history(ch_req_t *req)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	long long id;
	PGresult *res;
	ch_app_t a;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (api_app_load(req, id, CH_APP_READ, &a)) {
	case 1:
		break;
	case 0:
		return 0;
	default:
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_history, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json_text(req, 200,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	return 0;
}
