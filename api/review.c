/*
 * Review (SPEC §5 step 3; docs/CONTRACT.md "Applications, materials,
 * review"): the reviewers' queue and their decision.
 *
 *   GET  /api/v1/review-queue             submitted applications, oldest
 *                                         submitted first (tie: id)
 *   POST /api/v1/applications/{id}/review approve, reject or return
 *
 * A decision is one transaction: the row is locked (certhall/application.h
 * CH_APP_READ_LOCKED), so of two reviewers deciding at once the second
 * waits for the first's commit and then finds the application no longer
 * submitted (409, nothing changed); the guarded transitions with their
 * history rows and audit events (certhall/workflow.h); the review columns;
 * at approval the quote recomputed under the schedule in force and locked;
 * and the SMS to the handler through the outbox.  The reviewer's reason is
 * personal to the applicant: it goes to the application, its history, the
 * audit event and the SMS, never to the server log.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/base/crypto.h"
#include "certhall/domain/fees.h"
#include "certhall/domain/people.h"
#include "certhall/web/query.h"
#include "certhall/base/validate.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_LIMIT_DEFAULT 20
#define QUEUE_LIMIT_MAX 100
#define REASON_MIN 2
#define REASON_MAX 500
#define RETURN_MATERIALS_MAX 5
/* What one SMS may carry (the provider's cap, tests/fakes/sms_gateway.py):
 * a long reason is shortened in the message, never in the application. */
#define SMS_TEXT_MAX 500
/* The cursor's text "<submitted_at in µs since the epoch>:<id>": two
 * numbers of at most 19 digits. */
#define CURSOR_TEXT_MAX 40

/* ---- statements ------------------------------------------------------- */

/* One row per application more than asked for, to know whether a next page
 * exists.  The keyset is (submitted_at, id), compared in whole microseconds
 * so a cursor names a row exactly (seconds and microseconds apart: each
 * product stays exact in the float8 interval arithmetic); index
 * application_queue serves it. */
static const ch_stmt_t stmt_queue = {
	.name = "review_queue",
	.sql = "SELECT a.id,"
	       " (extract(epoch FROM a.submitted_at) * 1000000)::bigint,"
	       " " CH_SQL_APP_LIST_JSON "::text"
	       " FROM application a"
	       " WHERE a.status = 'submitted'"
	       "  AND ($1::bigint IS NULL OR (a.submitted_at, a.id) >"
	       "   ('epoch'::timestamptz"
	       "    + ($1::bigint / 1000000) * interval '1 second'"
	       "    + ($1::bigint % 1000000) * interval '1 microsecond',"
	       "    $2::bigint))"
	       "  AND ($3::text IS NULL OR a.business_type = $3)"
	       "  AND ($4::text IS NULL OR a.certificate_type = $4)"
	       "  AND ($5::text IS NULL OR a.channel = $5)"
	       " ORDER BY a.submitted_at, a.id LIMIT $6",
	.nparams = 6,
	.readonly = true,
};

static const ch_stmt_t stmt_settlement = {
	.name = "review_settlement",
	.sql = "SELECT settlement FROM business_type WHERE code = $1",
	.nparams = 1,
	.readonly = true,
};

/* The names the SMS gives the materials to replace, in catalog order. */
static const ch_stmt_t stmt_material_names = {
	.name = "review_material_names",
	.sql = "SELECT string_agg(name, '、' ORDER BY position)"
	       " FROM material_kind WHERE code = ANY($1::text[])",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_decided = {
	.name = "review_decided",
	.sql = "UPDATE application SET review_reason = $2,"
	       " return_materials = $3::text[], reviewed_by = $4,"
	       " reviewed_at = now()"
	       " WHERE id = $1",
	.nparams = 4,
};

/* ---- the decision's body ---------------------------------------------- */

enum decision { APPROVE, REJECT, RETURN, DECISION__MAX };

static const char *const decision_codes[DECISION__MAX + 1] = {
	[APPROVE] = "approve",
	[REJECT] = "reject",
	[RETURN] = "return",
	[DECISION__MAX] = NULL,
};

struct review_input {
	int decision;
	const char *reason;		/* NULL when absent */
	unsigned materials;		/* bit i: ch_material_kinds[i] */
};

static const ch_field_t review_fields[] = {
	{ .name = "decision", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = decision_codes,
	  .offset = offsetof(struct review_input, decision) },
	{ .name = "reason", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = REASON_MIN, .max = REASON_MAX, .check = ch_check_reason,
	  .offset = offsetof(struct review_input, reason) },
	{ .name = "materials", .type = CH_F_ENUM_SET, .flags = CH_F_NULLABLE,
	  .min = 1, .max = RETURN_MATERIALS_MAX, .values = ch_material_kinds,
	  .offset = offsetof(struct review_input, materials) },
};

const ch_schema_t api_review_schema =
    CH_SCHEMA(review_fields, struct review_input);

/*
 * The rules between the members that the schema cannot state: reject and
 * return need a reason, return needs the materials to replace and only
 * return takes them, approve takes neither.  0, or -1 with a 422 set.
 */
static int
check_decision(ch_req_t *req, const struct review_input *in)
{
	bool has_materials = ch_json_has(req->json, "materials");

	switch (in->decision) {
	case APPROVE:
		if (in->reason != NULL) {
			ch_problem_field(req, CH_P_INVALID_FIELD, "/reason",
			    "approve takes no reason");
			return -1;
		}
		if (has_materials) {
			ch_problem_field(req, CH_P_INVALID_FIELD, "/materials",
			    "only return names materials to replace");
			return -1;
		}
		return 0;
	case REJECT:
		if (in->reason == NULL) {
			ch_problem_field(req, CH_P_MISSING_FIELD, "/reason",
			    "reject needs a reason (%d to %d characters)",
			    REASON_MIN, REASON_MAX);
			return -1;
		}
		if (has_materials) {
			ch_problem_field(req, CH_P_INVALID_FIELD, "/materials",
			    "only return names materials to replace");
			return -1;
		}
		return 0;
	case RETURN:
		if (in->reason == NULL) {
			ch_problem_field(req, CH_P_MISSING_FIELD, "/reason",
			    "return needs a reason (%d to %d characters)",
			    REASON_MIN, REASON_MAX);
			return -1;
		}
		if (!has_materials) {
			ch_problem_field(req, CH_P_MISSING_FIELD, "/materials",
			    "return needs the materials to replace (1 to %d "
			    "kinds)", RETURN_MATERIALS_MAX);
			return -1;
		}
		return 0;
	default:
		return -1;
	}
}

/* ---- SMS texts (all start with the signature the carriers require) ----- */

#define SIGNATURE "【四川CA】"
#define TEXT_APPROVED_PAY SIGNATURE "您的数字证书申请（编号%s）已审核通过，" \
	"应付金额%s元，请登录自助网厅完成缴费。"
#define TEXT_APPROVED_VERIFY SIGNATURE "您的数字证书申请（编号%s）已审核通过，" \
	"请登录自助网厅完成验证。"
/* The texts that carry a reason, as what comes before the reason (after
 * the id and, for a return, the material names) and what follows it. */
#define TEXT_RETURNED_HEAD SIGNATURE "您的数字证书申请（编号%s）需补正材料：%s。" \
	"原因："
#define TEXT_RETURNED_TAIL "。请登录自助网厅修改后重新提交。"
#define TEXT_REJECTED_HEAD SIGNATURE "您的数字证书申请（编号%s）未通过审核，原因："
#define TEXT_REJECTED_TAIL "。如有疑问请致电400-028-1130。"

/* The first n characters of UTF-8 s, in the pool. */
static char *
utf8_prefix(ch_pool_t *pool, const char *s, size_t n)
{
	const char *p = s;

	for (size_t i = 0; i < n && *p != '\0'; i++) {
		p++;
		while ((*p & 0xC0) == 0x80)
			p++;
	}
	return ch_pstrndup(pool, s, (size_t)(p - s));
}

/*
 * head, reason and tail joined, the reason shortened with "…" when the
 * whole would exceed SMS_TEXT_MAX characters.  *shown receives the reason
 * as the text gives it, for the template's parameters.
 */
static char *
text_with_reason(ch_pool_t *pool, const char *head, const char *reason,
    const char *tail, const char **shown)
{
	size_t fixed = ch_utf8_length(head) + ch_utf8_length(tail);

	*shown = reason;
	if (fixed + ch_utf8_length(reason) > SMS_TEXT_MAX)
		*shown = ch_psprintf(pool, "%s…", utf8_prefix(pool, reason,
		    fixed + 1 < SMS_TEXT_MAX ? SMS_TEXT_MAX - fixed - 1 : 0));
	return ch_psprintf(pool, "%s%s%s", head, *shown, tail);
}

/* ---- the decision ------------------------------------------------------ */

/* The materials of a return as a PostgreSQL text[] literal in catalog
 * order ({business_license,handler_id}) and as a JSON array. */
static char *
materials_literal(ch_pool_t *pool, unsigned set, json_t **array)
{
	char *s = ch_pstrdup(pool, "{");

	*array = json_array();
	for (int i = 0; ch_material_kinds[i] != NULL; i++) {
		if (!(set & (1u << i)))
			continue;
		s = ch_psprintf(pool, "%s%s%s", s, s[1] != '\0' ? "," : "",
		    ch_material_kinds[i]);
		json_array_append_new(*array,
		    json_string(ch_material_kinds[i]));
	}
	return ch_psprintf(pool, "%s}", s);
}

/* Every material named must be one application a requires: 0, 1 (a 422
 * is set), or -1 (database error). */
static int
check_materials(ch_req_t *req, const ch_app_t *a, unsigned set)
{
	for (int i = 0; ch_material_kinds[i] != NULL; i++) {
		int r;

		if (!(set & (1u << i)))
			continue;
		r = ch_app_requires_material(&req->ctx, a, ch_material_kinds[i]);
		if (r < 0)
			return -1;
		if (r == 0) {
			ch_problem_field(req, CH_P_INVALID_FIELD, "/materials",
			    "this application does not require %s; it can "
			    "only be asked to replace materials it requires",
			    ch_material_kinds[i]);
			return 1;
		}
	}
	return 0;
}

/* Records the review on the row: the reason (NULL for approve), the
 * materials to replace (NULL unless returned), who and when. */
static int
store_review(ch_req_t *req, const char *idbuf, const char *reason,
    const char *materials)
{
	char staff[24];
	const char *params[4];

	snprintf(staff, sizeof staff, "%lld", req->ctx.principal.id);
	params[0] = idbuf;
	params[1] = reason;
	params[2] = materials;
	params[3] = staff;
	return ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_decided, params) != NULL
	    ? 0 : -1;
}

/* The outcome of one step of a decision. */
enum step { STEP_OK, STEP_ANSWERED, STEP_ERROR };

/* A transition's result as a step: an illegal one answers 409. */
static enum step
moved(ch_req_t *req, long long id, ch_wf_result_t r, const char *verb)
{
	switch (r) {
	case CH_WF_OK:
		return STEP_OK;
	case CH_WF_ILLEGAL:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, verb);
		return STEP_ANSWERED;
	case CH_WF_ERROR:
	default:
		return STEP_ERROR;
	}
}

#define FROM_SUBMITTED CH_ST_BIT(CH_ST_SUBMITTED)
#define FROM_APPROVED CH_ST_BIT(CH_ST_APPROVED)

/*
 * Approve: submitted → approved, the quote recomputed and locked, then on
 * to awaiting_payment (settlement "pay") or awaiting_verification
 * ("verify"); two history rows.
 */
static enum step
approve(ch_req_t *req, const ch_app_t *a, const char *idbuf)
{
	const char *params[1] = { ch_business_codes[a->business] };
	const char *why = NULL, *text;
	ch_app_status_t next;
	char amount[32];
	long long total = 0;
	bool pay;
	PGresult *res;
	enum step s;

	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_settlement, params);
	if (res == NULL || PQntuples(res) != 1)
		return STEP_ERROR;
	pay = strcmp(PQgetvalue(res, 0, 0), "pay") == 0;
	next = pay ? CH_ST_AWAITING_PAYMENT : CH_ST_AWAITING_VERIFICATION;

	switch (ch_app_store_quote(&req->ctx, a, true, &total, &why)) {
	case CH_APP_QUOTE_OK:
		break;
	case CH_APP_QUOTE_INVALID:
		/* Submit checked the same; only changed fee data gets here. */
		ch_db_rollback(req->ctx.db);
		ch_problem(req, CH_P_CONFLICT,
		    "the application cannot be priced as it is (%s); "
		    "return it for correction", why != NULL ? why : "no quote");
		return STEP_ANSWERED;
	case CH_APP_QUOTE_ERROR:
	default:
		return STEP_ERROR;
	}

	s = moved(req, a->id, ch_wf_transition(&req->ctx, a->id, FROM_SUBMITTED,
	    CH_ST_APPROVED, NULL, json_pack("{s:s}", "decision", "approve"), NULL),
	    "approve");
	if (s != STEP_OK)
		return s;
	s = moved(req, a->id, ch_wf_transition(&req->ctx, a->id, FROM_APPROVED,
	    next, NULL, json_pack("{s:s, s:I}", "settlement",
	    pay ? "pay" : "verify", "quote_total_fen", (json_int_t)total),
	    NULL), "approve");
	if (s != STEP_OK)
		return s;
	if (store_review(req, idbuf, NULL, NULL) != 0)
		return STEP_ERROR;

	if (pay) {
		ch_fees_yuan(total, amount);
		text = ch_psprintf(req->ctx.pool, TEXT_APPROVED_PAY, idbuf, amount);
		return ch_wf_notify(&req->ctx, a->id, "review_approved_pay",
		    json_pack("{s:s, s:s}", "id", idbuf, "amount", amount),
		    text) == 0 ? STEP_OK : STEP_ERROR;
	}
	text = ch_psprintf(req->ctx.pool, TEXT_APPROVED_VERIFY, idbuf);
	return ch_wf_notify(&req->ctx, a->id, "review_approved_verify",
	    json_pack("{s:s}", "id", idbuf), text) == 0 ? STEP_OK : STEP_ERROR;
}

/* Reject: submitted → rejected, final. */
static enum step
reject(ch_req_t *req, const ch_app_t *a, const char *idbuf,
    const char *reason)
{
	const char *text, *shown;
	enum step s;

	s = moved(req, a->id, ch_wf_transition(&req->ctx, a->id, FROM_SUBMITTED,
	    CH_ST_REJECTED, reason, json_pack("{s:s}", "decision", "reject"), NULL),
	    "reject");
	if (s != STEP_OK)
		return s;
	if (store_review(req, idbuf, reason, NULL) != 0)
		return STEP_ERROR;
	text = text_with_reason(req->ctx.pool,
	    ch_psprintf(req->ctx.pool, TEXT_REJECTED_HEAD, idbuf), reason,
	    TEXT_REJECTED_TAIL, &shown);
	return ch_wf_notify(&req->ctx, a->id, "review_rejected",
	    json_pack("{s:s, s:s}", "id", idbuf, "reason", shown), text) == 0
	    ? STEP_OK : STEP_ERROR;
}

/* Return for correction: submitted → returned, naming the materials to
 * replace (the applicant edits, uploads and submits again). */
static enum step
give_back(ch_req_t *req, const ch_app_t *a, const char *idbuf,
    const char *reason, unsigned set)
{
	const char *params[1], *text, *shown, *names;
	json_t *kinds;
	char *literal = materials_literal(req->ctx.pool, set, &kinds);
	PGresult *res;
	enum step s;

	s = moved(req, a->id, ch_wf_transition(&req->ctx, a->id, FROM_SUBMITTED,
	    CH_ST_RETURNED, reason, json_pack("{s:s, s:o}", "decision", "return",
	    "materials", kinds), NULL), "return");
	if (s != STEP_OK)
		return s;
	if (store_review(req, idbuf, reason, literal) != 0)
		return STEP_ERROR;
	params[0] = literal;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_material_names, params);
	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return STEP_ERROR;
	names = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	text = text_with_reason(req->ctx.pool,
	    ch_psprintf(req->ctx.pool, TEXT_RETURNED_HEAD, idbuf, names), reason,
	    TEXT_RETURNED_TAIL, &shown);
	return ch_wf_notify(&req->ctx, a->id, "review_returned",
	    json_pack("{s:s, s:s, s:s}", "id", idbuf, "materials", names,
	    "reason", shown), text) == 0 ? STEP_OK : STEP_ERROR;
}

int
api_application_review(ch_req_t *req)
{
	const struct review_input *in = req->input;
	char idbuf[24];
	long long id;
	ch_app_t a;
	enum step s;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (check_decision(req, in) != 0)
		return 0;
	snprintf(idbuf, sizeof idbuf, "%lld", id);

	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	/* Decided on the locked row: a reviewer who lost a race gets here
	 * after the winner's commit and sees its outcome. */
	if (a.status != CH_ST_SUBMITTED) {
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, decision_codes[in->decision]);
		return 0;
	}
	if (in->decision == RETURN) {
		switch (check_materials(req, &a, in->materials)) {
		case 0:
			break;
		case 1:
			ch_db_rollback(req->ctx.db);
			return 0;
		default:
			return -1;
		}
	}

	switch (in->decision) {
	case APPROVE:
		s = approve(req, &a, idbuf);
		break;
	case REJECT:
		s = reject(req, &a, idbuf, in->reason);
		break;
	case RETURN:
		s = give_back(req, &a, idbuf, in->reason, in->materials);
		break;
	default:
		s = STEP_ERROR;
		break;
	}
	if (s == STEP_ANSWERED)
		return 0;
	if (s != STEP_OK)
		return -1;
	/* The answer is read in the transaction, so it shows this decision
	 * and nothing decided after it. */
	if (api_app_respond(req, 200, id) != 0 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	return 0;
}

/* ---- the queue -------------------------------------------------------- */

static const char *const channel_codes[] = {
	"online", "integrator", "counter", NULL,
};

struct queue_query {
	long long limit;
	bool after;			/* a cursor was given: */
	long long after_us;		/* its submitted_at, µs since 1970 */
	long long after_id;
	const char *business_type;	/* NULL: any */
	const char *certificate_type;
	const char *channel;
};

static int
base64url_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes unpadded base64url s (RFC 4648 §5) into out (cap bytes, plus a
 * NUL).  The length of the text, or -1 if s is not canonical base64url
 * or decodes to more than cap bytes. */
static int
base64url_decode(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s), len = 0;
	unsigned bits = 0;
	int nbits = 0;

	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = base64url_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		bits = (bits << 6) | (unsigned)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (len == cap)
				return -1;
			out[len++] = (char)((bits >> nbits) & 0xFF);
		}
	}
	/* The left-over bits of the last character must be zero, so every
	 * cursor has one spelling. */
	if (bits & ((1u << nbits) - 1))
		return -1;
	out[len] = '\0';
	return (int)len;
}

/* A cursor for the row after which the next page starts. */
static char *
cursor_encode(ch_pool_t *pool, long long us, long long id)
{
	char text[CURSOR_TEXT_MAX + 8];
	char *out = ch_palloc(pool, 4 * (sizeof text / 3 + 1) + 1);
	int n = snprintf(text, sizeof text, "%lld:%lld", us, id);

	ch_base64url((const unsigned char *)text, (size_t)n, out);
	return out;
}

/* Parses a cursor into the struct queue_query at slot; 0, or -1 if it is
 * not one the queue gave. */
static int
cursor_decode(const char *s, void *slot)
{
	struct queue_query *q = slot;
	char text[CURSOR_TEXT_MAX + 1], *colon, *digits;
	int n;

	if (strlen(s) > 4 * CURSOR_TEXT_MAX / 3 + 4)
		return -1;
	n = base64url_decode(s, text, CURSOR_TEXT_MAX);
	if (n <= 0 || strlen(text) != (size_t)n)	/* no NUL inside */
		return -1;
	colon = strchr(text, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	/* Microseconds: as %lld printed them (a minus only before 1970). */
	digits = text[0] == '-' ? text + 1 : text;
	if (digits[0] == '\0' ||
	    strspn(digits, "0123456789") != strlen(digits) ||
	    (digits[0] == '0' && (digits[1] != '\0' || digits != text)) ||
	    strlen(digits) > 18)
		return -1;
	q->after_us = strtoll(text, NULL, 10);
	if (ch_id_parse(colon + 1, &q->after_id) != 0)
		return -1;
	q->after = true;
	return 0;
}

/* Values are plain ASCII tokens (enum codes, digits, base64url), so none
 * needs percent-decoding (certhall/query.h). */
static const ch_qparam_t queue_params[] = {
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(struct queue_query, limit),
	  .max = QUEUE_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT, .offset = 0,
	  .parse = cursor_decode,
	  .detail = "cursor must be a next_cursor this operation gave" },
	{ .name = "business_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct queue_query, business_type),
	  .values = ch_business_codes },
	{ .name = "certificate_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct queue_query, certificate_type),
	  .values = ch_cert_type_codes },
	{ .name = "channel", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct queue_query, channel),
	  .values = channel_codes },
};

/* Reads req->query into q; 0, or -1 with a 422 answer set. */
static int
parse_query(ch_req_t *req, struct queue_query *q)
{
	memset(q, 0, sizeof *q);
	q->limit = QUEUE_LIMIT_DEFAULT;
	return ch_query_parse(req, queue_params,
	    sizeof queue_params / sizeof queue_params[0],
	    "unknown query parameter; this operation takes business_type, "
	    "certificate_type, channel, limit and cursor", q);
}

/* One page of the queue: {"items":[Application (list form)…],
 * "next_cursor":…|null}, the items' JSON built by PostgreSQL. */
int
api_review_queue(ch_req_t *req)
{
	struct queue_query q;
	char after_us[24], after_id[24], limit[24];
	const char *params[6];
	char *body, *p, *next = NULL;
	size_t len;
	PGresult *res;
	int n;

	if (parse_query(req, &q) != 0)
		return 0;
	snprintf(after_us, sizeof after_us, "%lld", q.after_us);
	snprintf(after_id, sizeof after_id, "%lld", q.after_id);
	snprintf(limit, sizeof limit, "%lld", q.limit + 1);
	params[0] = q.after ? after_us : NULL;
	params[1] = q.after ? after_id : NULL;
	params[2] = q.business_type;
	params[3] = q.certificate_type;
	params[4] = q.channel;
	params[5] = limit;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_queue, params);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n > q.limit) {
		n = (int)q.limit;
		next = cursor_encode(req->ctx.pool,
		    strtoll(PQgetvalue(res, n - 1, 1), NULL, 10),
		    strtoll(PQgetvalue(res, n - 1, 0), NULL, 10));
	}

	len = sizeof "{\"items\":[],\"next_cursor\":null}" +
	    (next != NULL ? strlen(next) + 2 : 0);
	for (int i = 0; i < n; i++)
		len += (size_t)PQgetlength(res, i, 2) + 1;
	body = p = ch_palloc(req->ctx.pool, len);
	p += sprintf(p, "{\"items\":[");
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", PQgetvalue(res, i, 2));
	if (next != NULL)
		p += sprintf(p, "],\"next_cursor\":\"%s\"}", next);
	else
		p += sprintf(p, "],\"next_cursor\":null}");
	ch_resp_json_text(req, 200, body,
	    (size_t)(p - body));
	return 0;
}
