/*
 * Applications (SPEC §2, §3, §5; docs/CONTRACT.md "Applications, materials,
 * review"): who may see and change one, its JSON, the materials it needs,
 * whether it is complete and eligible, its fee quote; creating, changing,
 * submitting and cancelling one; lists and history.
 *
 * Shared by the handlers of api/applications.c, api/materials.c,
 * api/review.c, api/verification.c and api/payments.c, and by the domain
 * modules about one application (certhall/domain/material.h, review.h,
 * verification.h), so an application is loaded, shown and priced one way.
 * The functions take a context (certhall/store/ctx.h) for its principal,
 * pool and connection, and return results: found or not, a refusal naming
 * its field or rule, a conflict with the status.  The handlers turn those
 * into HTTP answers.  Nothing here commits: the caller opens the
 * transaction, and commits after success or rolls back after a refusal.
 * State changes go through certhall/domain/workflow.h.
 *
 * Sources: application.c (loading, JSON, required materials, submit and its
 * quote, cursors), application_edit.c (the fields; create, change, cancel),
 * application_list.c (lists, history).
 */
#ifndef CERTHALL_APPLICATION_H
#define CERTHALL_APPLICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/domain/fees.h"
#include "certhall/store/ctx.h"
#include "certhall/domain/people.h"
#include "certhall/domain/workflow.h"

struct json_t;

/* Material kinds as in the API and the database (material_kind), in
 * catalog order, NULL-terminated. */
extern const char *const ch_material_kinds[];

typedef enum {
	/* The owner, or any staff member.  No lock. */
	CH_APP_READ,
	/* The same people; the row is locked FOR UPDATE (open a transaction
	 * first): for review, which decides on what it read. */
	CH_APP_READ_LOCKED,
	/* The owner, or a counter clerk when channel is "counter"; the row is
	 * locked FOR UPDATE (open a transaction first).  Staff who may read
	 * but not change get the same 404 as strangers. */
	CH_APP_CHANGE,
} ch_app_access_t;

typedef enum {
	CH_APP_FOUND,
	CH_APP_NOT_FOUND,	/* absent or not visible (one answer for both) */
	CH_APP_ERROR,		/* database error, logged: the handler fails */
} ch_app_result_t;

/* What the handlers decide on.  Strings belong to ctx->pool. */
typedef struct {
	long long id;
	long long applicant_id;
	const char *channel;		/* online, integrator, counter */
	ch_app_status_t status;
	int version;
	ch_business_t business;
	ch_cert_type_t cert_type;
	long long certificate_id;	/* 0 for "new" */
	int years;			/* -1 when unset */
	int seals;			/* 0 when unset */
	const char *handler_phone;	/* NULL when unset */
	bool quote_locked;
} ch_app_t;

/* A request refused by a rule, naming what it refuses so the answer can
 * (a 422 names the field). */
typedef struct {
	const char *field;	/* the API name of the input ("certificate_id"),
				 * or NULL when the refusal names none */
	bool missing;		/* the input is needed and absent; otherwise
				 * its value is what is refused */
	const char *detail;	/* static or owned by ctx->pool */
	const char *verdict;	/* a refused SMS code, machine-readable: "none",
				 * "wrong", "expired", "used", "spent"; NULL
				 * for every other refusal */
	int tries_left;		/* verdict "wrong": tries the code has left */
} ch_app_refusal_t;

/* An application as a change left it: what the answer shows.  json is the
 * Application object's text (owned by ctx->pool). */
typedef struct {
	long long id;
	int version;
	const char *json;
} ch_app_written_t;

/*
 * SQL for statements that list applications: the list-form Application
 * object (ID numbers masked, no materials) and the full one, as json
 * expressions over "application a" (e.g. "SELECT a.id, "
 * CH_SQL_APP_LIST_JSON "::text FROM application a WHERE ...").
 */
#define CH_SQL_MASK_ID(col) \
	"CASE WHEN length(" col ") >= 10 THEN left(" col ", 4) ||" \
	" repeat('*', length(" col ") - 8) || right(" col ", 4)" \
	" ELSE repeat('*', length(" col ")) END"

/* The kinds application a requires, in catalog order (a SELECT of one
 * text column "code"). */
#define CH_SQL_APP_REQUIRED(biz, cert, seals) \
	"SELECT k.code FROM material_kind k" \
	" WHERE k.code IN (SELECT r.material_kind FROM required_material r" \
	"   WHERE r.business_type = " biz " AND r.certificate_type = " cert ")" \
	"  OR (k.code = 'seal_impression' AND " seals " > 0)" \
	" ORDER BY k.position"

/* PostgreSQL's json_build_object() takes at most 100 arguments (50
 * members): the full form has 44 (issue 14 added due_by,
 * due_by_estimated, fulfilled_at, overdue_at); more go in a nested
 * object. */
#define CH_SQL_APP_FIELDS_(holder_id, handler_id) \
	"json_build_object('id', a.id, 'status', a.status," \
	" 'version', a.version, 'channel', a.channel," \
	" 'business_type', a.business_type," \
	" 'certificate_type', a.certificate_type," \
	" 'certificate_id', a.certificate_id," \
	" 'unit_name', a.unit_name, 'credit_code', a.credit_code," \
	" 'holder_name', a.holder_name, 'holder_id_number', " holder_id "," \
	" 'handler_name', a.handler_name, 'handler_phone', a.handler_phone," \
	" 'handler_id_number', " handler_id "," \
	" 'years', a.years," \
	" 'seals', CASE WHEN a.business_type IN ('new', 'renew')" \
	"   THEN a.seals END," \
	" 'delivery_recipient', a.delivery->>'recipient'," \
	" 'delivery_phone', a.delivery->>'phone'," \
	" 'delivery_province', a.delivery->>'province'," \
	" 'delivery_city', a.delivery->>'city'," \
	" 'delivery_district', a.delivery->>'district'," \
	" 'delivery_address', a.delivery->>'address'," \
	" 'delivery_postcode', a.delivery->>'postcode'," \
	" 'invoice_title', a.invoice_title," \
	" 'invoice_tax_id', a.invoice_tax_id," \
	" 'revocation_reason', a.revocation_reason," \
	" 'quote', a.quote, 'quote_locked', a.quote_locked_at IS NOT NULL," \
	" 'review_reason', a.review_reason," \
	" 'return_materials', to_json(a.return_materials)," \
	" 'required_materials', ARRAY(" CH_SQL_APP_REQUIRED("a.business_type", \
	    "a.certificate_type", "a.seals") ")," \
	" 'created_at', " CH_SQL_TIME("a.created_at") "," \
	" 'updated_at', " CH_SQL_TIME("a.updated_at") "," \
	" 'submitted_at', " CH_SQL_TIME("a.submitted_at") "," \
	" 'reviewed_at', " CH_SQL_TIME("a.reviewed_at") "," \
	" 'paid_at', " CH_SQL_TIME("a.paid_at") "," \
	" 'verified_at', " CH_SQL_TIME("a.verified_at") "," \
	" 'possession_proven_at', " CH_SQL_TIME("a.possession_proven_at") "," \
	" 'settled_at', " CH_SQL_TIME("a.settled_at") "," \
	" 'due_by', " CH_SQL_TIME("a.due_by") "," \
	" 'due_by_estimated', a.due_by_estimated," \
	" 'fulfilled_at', " CH_SQL_TIME("a.fulfilled_at") "," \
	" 'overdue_at', " CH_SQL_TIME("a.overdue_at")

#define CH_SQL_APP_LIST_JSON \
	CH_SQL_APP_FIELDS_(CH_SQL_MASK_ID("a.holder_id_number"), \
	    CH_SQL_MASK_ID("a.handler_id_number")) ")"

#define CH_SQL_APP_JSON \
	CH_SQL_APP_FIELDS_("a.holder_id_number", "a.handler_id_number") "," \
	" 'materials', (SELECT COALESCE(json_agg(json_build_object(" \
	"   'kind', m.kind, 'content_type', m.content_type," \
	"   'size_bytes', m.size_bytes, 'sha256', m.sha256," \
	"   'uploaded_at', " CH_SQL_TIME("m.uploaded_at") ")" \
	"   ORDER BY k.position), '[]'::json)" \
	"  FROM application_material m JOIN material_kind k ON k.code = m.kind" \
	"  WHERE m.application_id = a.id AND m.superseded_at IS NULL))"

/*
 * Loads application id for ctx->principal with the access asked for (see
 * ch_app_access_t).  CH_APP_FOUND with *out filled; CH_APP_NOT_FOUND when
 * it does not exist or the caller may not have it (existence never leaks);
 * CH_APP_ERROR after a database error (logged; *out undefined).
 */
ch_app_result_t ch_app_load(ch_ctx_t *ctx, long long id, ch_app_access_t want,
    ch_app_t *out);

/*
 * Opens the transaction and loads application id with ch_app_load().  As
 * ch_app_load(); after CH_APP_NOT_FOUND the transaction is rolled back
 * already.  What every handler that changes or decides on one application
 * starts with.
 */
ch_app_result_t ch_app_begin_load(ch_ctx_t *ctx, long long id,
    ch_app_access_t want, ch_app_t *out);

/* Whether the principal may have application a with access want; what
 * ch_app_load() decides with, pure. */
bool ch_app_allowed(const ch_principal_t *p, const ch_app_t *a,
    ch_app_access_t want);

/*
 * The Application object of docs/CONTRACT.md for id, as JSON text built by
 * PostgreSQL (in the caller's transaction if one is open, so an answer
 * shows the change it reports).  list_form: ID numbers masked and no
 * "materials" (what a list shows).  Returns the text (owned by ctx->pool)
 * with *version set when version is not NULL, or NULL when the row is gone
 * or after a database error (logged).  No visibility check: load first.
 */
const char *ch_app_json(ch_ctx_t *ctx, long long id, bool list_form,
    int *version);

/*
 * The material kinds application a requires (required_material for its
 * business and certificate type, in catalog order, plus
 * "seal_impression" when a->seals > 0).  *kinds is a pool-owned array of
 * *n pool-owned strings (followed by NULL).  0, or -1 (database error,
 * logged).
 */
int ch_app_required_materials(ch_ctx_t *ctx, const ch_app_t *a,
    const char ***kinds, size_t *n);

/* Whether application a requires material kind: 1 yes, 0 no, -1 error. */
int ch_app_requires_material(ch_ctx_t *ctx, const ch_app_t *a,
    const char *kind);

/* ---- submit: completeness, eligibility, quote ---------------------------- */

/* The rules a refusal names (docs/CONTRACT.md), in the order checked. */
typedef enum {
	CH_RULE_OK,
	CH_RULE_COMPLETE,
	CH_RULE_SAME_SUBJECT,
	CH_RULE_CERTIFICATE_TYPE,
	CH_RULE_RENEW_WINDOW,
	CH_RULE_CERTIFICATE_VALID,
	CH_RULE_ONE_OPEN,		/* one_open_per_certificate: a 409 */
	CH_RULE__MAX
} ch_app_rule_t;

/* "complete", "renew_window", ...; "" for CH_RULE_OK. */
const char *ch_app_rule_name(ch_app_rule_t rule);

/* Days before not_after from which a certificate may be renewed. */
#define CH_RENEW_WINDOW_DAYS 60

/* The facts eligibility is decided on (times in unix seconds). */
typedef struct {
	ch_business_t business;
	ch_cert_type_t app_cert_type;
	const char *app_credit_code;	/* NULL when unset */
	const char *app_holder_id_number;
	ch_cert_type_t cert_type;	/* of the certificate */
	const char *cert_credit_code;
	const char *cert_holder_id_number;	/* NULL for org */
	bool cert_revoked;
	long long not_before, not_after;
	long long now;
} ch_app_facts_t;

/*
 * The eligibility rules of docs/CONTRACT.md for a business about an existing
 * certificate, checked in this order:
 *   same_subject       equal credit code, and equal holder ID number when
 *                      both are personal; not for "change" (its subject is
 *                      the new one).  First, so someone else's certificate
 *                      tells nothing more about itself.
 *   certificate_type   the certificate's type is the application's.
 *   renew_window       renew: not revoked, and now >= not_after - 60 days
 *                      (after expiry too).
 *   certificate_valid  reissue, change, revoke, unlock: not revoked and
 *                      not_before <= now < not_after.
 * CH_RULE_OK when all hold.  Pure.
 */
ch_app_rule_t ch_app_eligibility(const ch_app_facts_t *f);

/*
 * The fields a complete application has (docs/CONTRACT.md "Submit"): unit,
 * credit code and handler; holder for personal; years for a business with a
 * term (term); delivery for a shipped business; invoice title for a paid
 * one.  Writes up to cap names (static strings) in API order into out and
 * returns how many there are.  Pure.
 */
size_t ch_app_required_fields(ch_cert_type_t cert_type, bool term,
    bool shipped, bool paid, const char **out, size_t cap);

typedef struct {
	ch_app_rule_t rule;
	const char *detail;		/* pool-owned, for the problem */
	/* CH_RULE_COMPLETE: arrays of names (owned by ctx->pool); NULL
	 * otherwise. */
	struct json_t *missing_fields;
	struct json_t *missing_materials;
} ch_app_verdict_t;

typedef enum {
	CH_APP_QUOTE_OK,
	CH_APP_QUOTE_INVALID,	/* years missing or out of the term policy:
				 * *why says which (submit checks first) */
	CH_APP_QUOTE_ERROR,	/* database error or fee data fault, logged */
} ch_app_quote_result_t;

/*
 * Computes the quote of application a from its business, certificate
 * type, years and seals as loaded (ch_fees_quote under the schedule in
 * force now) and stores it on its row (quote as the Quote object of POST
 * /quotes, quote_total_fen); lock also sets quote_locked_at (review at
 * approval).  In the caller's transaction, with a loaded with a row lock
 * (CH_APP_CHANGE or CH_APP_READ_LOCKED), so the row still holds what a
 * says.  *total_fen (if not NULL) receives the total.
 */
ch_app_quote_result_t ch_app_store_quote(ch_ctx_t *ctx, const ch_app_t *a,
    bool lock, long long *total_fen, const char **why);

typedef enum {
	CH_APP_SUBMIT_OK,		/* submitted: *out is the answer */
	CH_APP_SUBMIT_NOT_FOUND,	/* as CH_APP_NOT_FOUND */
	CH_APP_SUBMIT_CONFLICT,		/* its status cannot be submitted */
	CH_APP_SUBMIT_REFUSED,		/* *v names the rule that refuses it */
	CH_APP_SUBMIT_INVALID,		/* the quote refuses a field: *r */
	CH_APP_SUBMIT_ERROR,		/* database error, logged */
} ch_app_submit_result_t;

/*
 * Submits application id for ctx->principal (who must be allowed
 * CH_APP_CHANGE) in the caller's transaction: loads it locked with the
 * facts and fee rows it is decided on (one round trip), checks that its
 * status is editable, that it is complete and eligible (the rules of
 * ch_app_rule_t, in that order), prices it (ch_app_store_quote()'s quote:
 * a term outside the policy is CH_APP_SUBMIT_INVALID naming "years"), and
 * moves it to submitted with the quote stored (ch_wf_transition_quoted()).
 * Two submits about one certificate racing past the check are decided by
 * the unique index at the move: the loser gets CH_APP_SUBMIT_REFUSED with
 * rule one_open_per_certificate.  On CH_APP_SUBMIT_OK *out holds the
 * application as it now is; after anything else the caller rolls back.
 */
ch_app_submit_result_t ch_app_submit(ch_ctx_t *ctx, long long id,
    ch_app_verdict_t *v, ch_app_refusal_t *r, ch_app_written_t *out);

/* The Quote object of POST /quotes for q (a new reference). */
struct json_t *ch_app_quote_json(const ch_quote_t *q, ch_business_t business,
    ch_cert_type_t cert_type, int years, int seals);

/* ---- the fields; create, change, cancel (application_edit.c) ------------ */

/* The fields a create or a change sets, in the API's order. */
typedef enum {
	CH_APP_F_BUSINESS_TYPE,
	CH_APP_F_CERTIFICATE_TYPE,
	CH_APP_F_CERTIFICATE_ID,
	CH_APP_F_UNIT_NAME,
	CH_APP_F_CREDIT_CODE,
	CH_APP_F_HOLDER_NAME,
	CH_APP_F_HOLDER_ID_NUMBER,
	CH_APP_F_HANDLER_NAME,
	CH_APP_F_HANDLER_PHONE,
	CH_APP_F_HANDLER_ID_NUMBER,
	CH_APP_F_YEARS,
	CH_APP_F_SEALS,
	CH_APP_F_DELIVERY_RECIPIENT,
	CH_APP_F_DELIVERY_PHONE,
	CH_APP_F_DELIVERY_PROVINCE,
	CH_APP_F_DELIVERY_CITY,
	CH_APP_F_DELIVERY_DISTRICT,
	CH_APP_F_DELIVERY_ADDRESS,
	CH_APP_F_DELIVERY_POSTCODE,
	CH_APP_F_INVOICE_TITLE,
	CH_APP_F_INVOICE_TAX_ID,
	CH_APP_F_REVOCATION_REASON,	/* revoke only (issue 13) */
	CH_APP_F__MAX
} ch_app_field_t;

/* Their API names ("business_type", ...), index = field, NULL-terminated. */
extern const char *const ch_app_field_names[CH_APP_F__MAX + 1];

/* Fields as text: integers in decimal, business and certificate type as
 * their codes.  Strings are borrowed (the request's, or ctx->pool's). */
typedef struct {
	const char *v[CH_APP_F__MAX];	/* NULL: unset, or cleared */
	bool given[CH_APP_F__MAX];	/* named by the request */
} ch_app_fields_t;

typedef enum {
	CH_APP_EDIT_OK,
	CH_APP_EDIT_REFUSED,	/* a rule refuses a field: *r names it */
	CH_APP_EDIT_NO_USER,	/* an integrator acting for none of its users
				 * (ctx->principal.applicant_id unset) */
	CH_APP_EDIT_CONFLICT,	/* its status allows no change: nothing changed */
	CH_APP_EDIT_ERROR,	/* database error, logged */
} ch_app_edit_result_t;

/*
 * Whether the fields hold together (business and certificate type set;
 * certificate_id for every business but new and only there; years and
 * seals only for new and renew; a holder only for personal), in that
 * order.  CH_APP_EDIT_OK, or CH_APP_EDIT_REFUSED with *r (details in
 * pool).  Pure: whether a certificate_id names a certificate is not
 * looked at.
 */
ch_app_edit_result_t ch_app_fields_check(ch_pool_t *pool,
    const ch_app_fields_t *f, ch_app_refusal_t *r);

/*
 * The channel rules of a create by p, checked before anything is read:
 * staff create at the counter for a handler, who must be named
 * (handler_phone, CH_APP_EDIT_REFUSED); an integrator for one of its users
 * (CH_APP_EDIT_NO_USER); anyone else online.  Pure.
 */
ch_app_edit_result_t ch_app_create_check(const ch_principal_t *p,
    const ch_app_fields_t *f, ch_app_refusal_t *r);

/*
 * Creates a draft from f (given fields only; nothing cleared) for
 * ctx->principal in the caller's transaction: ch_app_create_check(),
 * ch_app_fields_check(), then the insert, which refuses a certificate_id
 * that names no certificate (CH_APP_EDIT_REFUSED).  Counter applications
 * belong to the applicant of handler_phone (made when new) and record the
 * clerk.  Queues the history row and the audit event application.created.
 * CH_APP_EDIT_OK with *out set; after anything else the caller rolls back.
 */
ch_app_edit_result_t ch_app_create(ch_ctx_t *ctx, const ch_app_fields_t *f,
    ch_app_written_t *out, ch_app_refusal_t *r);

/*
 * Lays change (its given fields: a value sets, NULL clears) over
 * application a (loaded with CH_APP_CHANGE in the caller's transaction) and
 * stores the result: CH_APP_EDIT_CONFLICT when a's status is not editable
 * (CH_ST_EDITABLE); CH_APP_EDIT_REFUSED (*r) when the result does not hold
 * together (ch_app_fields_check()) or a certificate_id given names no
 * certificate.  When a value differs, the row gets a new version and the
 * audit event application.updated (the names of the fields changed, never
 * their values); when none does, nothing is written.  CH_APP_EDIT_OK;
 * after anything else the caller rolls back.
 */
ch_app_edit_result_t ch_app_change(ch_ctx_t *ctx, const ch_app_t *a,
    const ch_app_fields_t *change, ch_app_refusal_t *r);

typedef enum {
	CH_APP_CANCEL_OK,
	CH_APP_CANCEL_PAID,	/* paid: only a refund (finance) cancels it */
	CH_APP_CANCEL_CONFLICT,	/* its status cannot be cancelled */
	CH_APP_CANCEL_ERROR,	/* database error, logged */
} ch_app_cancel_result_t;

/*
 * Cancels application a (loaded with CH_APP_CHANGE in the caller's
 * transaction) with reason (NULL: none) for the history: "any state before
 * payment" (SPEC §5), so a paid one is refused.  Closes its open payment
 * orders in our books (ch_payment_close_open()); *trade_nos (a
 * NULL-terminated pool array, or NULL) receives them, for the caller to
 * close at the gateway after its commit.  After anything but
 * CH_APP_CANCEL_OK the caller rolls back.
 */
ch_app_cancel_result_t ch_app_cancel(ch_ctx_t *ctx, const ch_app_t *a,
    const char *reason, const char ***trade_nos);

/* ---- lists (application_list.c) ------------------------------------------ */

/* The channels an application comes through, NULL-terminated. */
extern const char *const ch_app_channel_codes[];

typedef struct {
	long long limit;		/* items on a page, >= 1 */
	long long before;		/* ids below this one (LLONG_MAX: from
					 * the newest) */
	/* NULL: any */
	const char *status, *business_type, *certificate_type, *channel;
} ch_app_list_query_t;

/*
 * One page of the applications ctx->principal may see (its own; staff
 * every one), newest first, filtered by q: {"items": [Application in list
 * form...], "next_cursor": cursor|null} as JSON text (owned by ctx->pool,
 * *len bytes).  NULL after a database error (logged).
 */
const char *ch_app_list(ch_ctx_t *ctx, const ch_app_list_query_t *q,
    size_t *len);

/*
 * The status history of application id, {"items": [...]} oldest first, as
 * JSON text (owned by ctx->pool, *len bytes), or NULL after a database
 * error.  No visibility check: load first.
 */
const char *ch_app_history_json(ch_ctx_t *ctx, long long id, size_t *len);

/*
 * A page {"items": [...], "next_cursor": "<cursor>"|null} from the JSON
 * texts in column col of the first n rows of res (none when n is 0, where
 * res may be NULL), joined as they are.  Text in pool, *len bytes.
 */
const char *ch_app_items_json(ch_pool_t *pool, const PGresult *res, int col,
    int n, const char *cursor, size_t *len);

/* ---- cursors ------------------------------------------------------------- */

/* An opaque list cursor for "after id": base64url of the decimal id.
 * out holds 32. */
void ch_app_cursor_encode(long long id, char out[32]);
/* The id in a cursor; 0 with *id set, or -1 if it is not one of ours. */
int ch_app_cursor_decode(const char *cursor, long long *id);

#endif
