#include "certhall/domain/review.h"
#include "certhall/base/crypto.h"
#include "certhall/base/json.h"
#include "certhall/base/util.h"
#include "certhall/domain/fees.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one SMS may carry (the provider's cap, tests/fakes/sms_gateway.py):
 * a long reason is shortened in the message, never in the application. */
#define SMS_TEXT_MAX 500
/* The cursor's text "<submitted_at in µs since the epoch>:<id>": two
 * numbers of at most 19 digits. */
#define CURSOR_TEXT_MAX 40

#define STR_(x) #x
#define STR(x) STR_(x)
#define REASON_RANGE "(" STR(CH_REVIEW_REASON_MIN) " to " \
	STR(CH_REVIEW_REASON_MAX) " characters)"

const char *const ch_review_decision_codes[CH_REVIEW__MAX + 1] = {
	[CH_REVIEW_APPROVE] = "approve",
	[CH_REVIEW_REJECT] = "reject",
	[CH_REVIEW_RETURN] = "return",
	[CH_REVIEW__MAX] = NULL,
};

/* ---- statements ---------------------------------------------------------- */

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

/* ---- the decision's members ---------------------------------------------- */

static int
refused(ch_app_refusal_t *r, const char *field, bool missing,
    const char *detail)
{
	r->field = field;
	r->missing = missing;
	r->detail = detail;
	return 1;
}

int
ch_review_check(const ch_review_t *d, ch_app_refusal_t *r)
{
	memset(r, 0, sizeof *r);
	switch (d->decision) {
	case CH_REVIEW_APPROVE:
		if (d->reason != NULL)
			return refused(r, "reason", false,
			    "approve takes no reason");
		break;
	case CH_REVIEW_REJECT:
		if (d->reason == NULL)
			return refused(r, "reason", true, "reject needs a reason "
			    REASON_RANGE);
		break;
	case CH_REVIEW_RETURN:
		if (d->reason == NULL)
			return refused(r, "reason", true, "return needs a reason "
			    REASON_RANGE);
		if (!d->has_materials)
			return refused(r, "materials", true, "return needs the"
			    " materials to replace (1 to "
			    STR(CH_REVIEW_MATERIALS_MAX) " kinds)");
		return 0;
	default:
		return refused(r, "decision", false, "unknown decision");
	}
	if (d->has_materials)
		return refused(r, "materials", false,
		    "only return names materials to replace");
	return 0;
}

/* ---- SMS texts (all start with the signature the carriers require) ------- */

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

/* ---- the decision -------------------------------------------------------- */

/* The materials of a return as a PostgreSQL text[] literal in catalog
 * order ({business_license,handler_id}) and as a JSON array (a new
 * reference). */
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

/* Every material named must be one application a requires: 0, 1 (*r
 * set), or -1 (database error). */
static int
check_materials(ch_ctx_t *ctx, const ch_app_t *a, unsigned set,
    ch_app_refusal_t *r)
{
	for (int i = 0; ch_material_kinds[i] != NULL; i++) {
		int req;

		if (!(set & (1u << i)))
			continue;
		req = ch_app_requires_material(ctx, a, ch_material_kinds[i]);
		if (req < 0)
			return -1;
		if (req == 0)
			return refused(r, "materials", false, ch_psprintf(
			    ctx->pool, "this application does not require %s;"
			    " it can only be asked to replace materials it"
			    " requires", ch_material_kinds[i]));
	}
	return 0;
}

/* Records the review on the row: the reason (NULL for approve), the
 * materials to replace (NULL unless returned), who and when. */
static int
store_review(ch_ctx_t *ctx, const char *idbuf, const char *reason,
    const char *materials)
{
	char staff[24];
	const char *params[4];

	snprintf(staff, sizeof staff, "%lld", ctx->principal.id);
	params[0] = idbuf;
	params[1] = reason;
	params[2] = materials;
	params[3] = staff;
	return ch_db_exec(ctx->db, ctx->pool, &stmt_decided, params) != NULL
	    ? 0 : -1;
}

/* A transition's result as the decision's: an illegal one is a conflict. */
static ch_review_result_t
moved(ch_wf_result_t r)
{
	switch (r) {
	case CH_WF_OK:
		return CH_REVIEW_DONE;
	case CH_WF_ILLEGAL:
		return CH_REVIEW_CONFLICT;
	case CH_WF_ERROR:
	default:
		return CH_REVIEW_ERROR;
	}
}

/* An outbox row queued, as the decision's result. */
static ch_review_result_t
notified(int rc)
{
	return rc == 0 ? CH_REVIEW_DONE : CH_REVIEW_ERROR;
}

#define FROM_SUBMITTED CH_ST_BIT(CH_ST_SUBMITTED)
#define FROM_APPROVED CH_ST_BIT(CH_ST_APPROVED)

/*
 * Approve: submitted → approved, the quote recomputed and locked, then on
 * to awaiting_payment (settlement "pay") or awaiting_verification
 * ("verify"); two history rows.
 */
static ch_review_result_t
approve(ch_ctx_t *ctx, const ch_app_t *a, const char *idbuf,
    ch_app_refusal_t *r)
{
	const char *params[1] = { ch_business_codes[a->business] };
	const char *why = NULL, *text;
	ch_app_status_t next;
	char amount[32];
	long long total = 0;
	bool pay;
	PGresult *res;
	ch_review_result_t s;

	res = ch_db_exec(ctx->db, ctx->pool, &stmt_settlement, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_REVIEW_ERROR;
	pay = strcmp(PQgetvalue(res, 0, 0), "pay") == 0;
	next = pay ? CH_ST_AWAITING_PAYMENT : CH_ST_AWAITING_VERIFICATION;

	switch (ch_app_store_quote(ctx, a, true, &total, &why)) {
	case CH_APP_QUOTE_OK:
		break;
	case CH_APP_QUOTE_INVALID:
		/* Submit checked the same; only changed fee data gets here. */
		r->detail = ch_psprintf(ctx->pool, "the application cannot be"
		    " priced as it is (%s); return it for correction",
		    why != NULL ? why : "no quote");
		return CH_REVIEW_UNPRICED;
	case CH_APP_QUOTE_ERROR:
	default:
		return CH_REVIEW_ERROR;
	}

	s = moved(ch_wf_transition(ctx, a->id, FROM_SUBMITTED, CH_ST_APPROVED,
	    NULL, json_pack("{s:s}", "decision", "approve"), NULL));
	if (s != CH_REVIEW_DONE)
		return s;
	s = moved(ch_wf_transition(ctx, a->id, FROM_APPROVED, next, NULL,
	    json_pack("{s:s, s:I}", "settlement", pay ? "pay" : "verify",
	    "quote_total_fen", (json_int_t)total), NULL));
	if (s != CH_REVIEW_DONE)
		return s;
	if (store_review(ctx, idbuf, NULL, NULL) != 0)
		return CH_REVIEW_ERROR;

	if (pay) {
		ch_fees_yuan(total, amount);
		text = ch_psprintf(ctx->pool, TEXT_APPROVED_PAY, idbuf, amount);
		return notified(ch_wf_notify(ctx, a->id, "review_approved_pay",
		    json_pack("{s:s, s:s}", "id", idbuf, "amount", amount),
		    text));
	}
	text = ch_psprintf(ctx->pool, TEXT_APPROVED_VERIFY, idbuf);
	return notified(ch_wf_notify(ctx, a->id, "review_approved_verify",
	    json_pack("{s:s}", "id", idbuf), text));
}

/* Reject: submitted → rejected, final. */
static ch_review_result_t
reject(ch_ctx_t *ctx, const ch_app_t *a, const char *idbuf,
    const char *reason)
{
	const char *text, *shown;
	ch_review_result_t s;

	s = moved(ch_wf_transition(ctx, a->id, FROM_SUBMITTED, CH_ST_REJECTED,
	    reason, json_pack("{s:s}", "decision", "reject"), NULL));
	if (s != CH_REVIEW_DONE)
		return s;
	if (store_review(ctx, idbuf, reason, NULL) != 0)
		return CH_REVIEW_ERROR;
	text = text_with_reason(ctx->pool,
	    ch_psprintf(ctx->pool, TEXT_REJECTED_HEAD, idbuf), reason,
	    TEXT_REJECTED_TAIL, &shown);
	return notified(ch_wf_notify(ctx, a->id, "review_rejected",
	    json_pack("{s:s, s:s}", "id", idbuf, "reason", shown), text));
}

/* Return for correction: submitted → returned, naming the materials to
 * replace (the applicant edits, uploads and submits again). */
static ch_review_result_t
give_back(ch_ctx_t *ctx, const ch_app_t *a, const char *idbuf,
    const char *reason, unsigned set)
{
	const char *params[1], *text, *shown, *names;
	json_t *kinds;
	char *literal = materials_literal(ctx->pool, set, &kinds);
	PGresult *res;
	ch_review_result_t s;

	s = moved(ch_wf_transition(ctx, a->id, FROM_SUBMITTED, CH_ST_RETURNED,
	    reason, json_pack("{s:s, s:o}", "decision", "return", "materials",
	    kinds), NULL));
	if (s != CH_REVIEW_DONE)
		return s;
	if (store_review(ctx, idbuf, reason, literal) != 0)
		return CH_REVIEW_ERROR;
	params[0] = literal;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_material_names, params);
	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return CH_REVIEW_ERROR;
	names = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	text = text_with_reason(ctx->pool,
	    ch_psprintf(ctx->pool, TEXT_RETURNED_HEAD, idbuf, names), reason,
	    TEXT_RETURNED_TAIL, &shown);
	return notified(ch_wf_notify(ctx, a->id, "review_returned",
	    json_pack("{s:s, s:s, s:s}", "id", idbuf, "materials", names,
	    "reason", shown), text));
}

ch_review_result_t
ch_review_decide(ch_ctx_t *ctx, const ch_app_t *a, const ch_review_t *d,
    ch_app_refusal_t *r)
{
	char idbuf[24];

	memset(r, 0, sizeof *r);
	/* Decided on the locked row: a reviewer who lost a race gets here
	 * after the winner's commit and sees its outcome. */
	if (a->status != CH_ST_SUBMITTED)
		return CH_REVIEW_CONFLICT;
	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	switch (d->decision) {
	case CH_REVIEW_APPROVE:
		return approve(ctx, a, idbuf, r);
	case CH_REVIEW_REJECT:
		return reject(ctx, a, idbuf, d->reason);
	case CH_REVIEW_RETURN:
		switch (check_materials(ctx, a, d->materials, r)) {
		case 0:
			return give_back(ctx, a, idbuf, d->reason,
			    d->materials);
		case 1:
			return CH_REVIEW_REFUSED;
		default:
			return CH_REVIEW_ERROR;
		}
	default:
		return CH_REVIEW_ERROR;
	}
}

/* ---- the queue ----------------------------------------------------------- */

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

int
ch_review_cursor_decode(const char *s, ch_review_query_t *q)
{
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

const char *
ch_review_queue(ch_ctx_t *ctx, const ch_review_query_t *q, size_t *len)
{
	char after_us[24], after_id[24], limit[24];
	const char *params[6];
	char *next = NULL;
	PGresult *res;
	int n;

	snprintf(after_us, sizeof after_us, "%lld", q->after_us);
	snprintf(after_id, sizeof after_id, "%lld", q->after_id);
	snprintf(limit, sizeof limit, "%lld", q->limit + 1);
	params[0] = q->after ? after_us : NULL;
	params[1] = q->after ? after_id : NULL;
	params[2] = q->business_type;
	params[3] = q->certificate_type;
	params[4] = q->channel;
	params[5] = limit;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_queue, params);
	if (res == NULL)
		return NULL;
	n = PQntuples(res);
	if (n > q->limit) {
		n = (int)q->limit;
		next = cursor_encode(ctx->pool,
		    strtoll(PQgetvalue(res, n - 1, 1), NULL, 10),
		    strtoll(PQgetvalue(res, n - 1, 0), NULL, 10));
	}
	/* The items are PostgreSQL's JSON text already: joined. */
	return ch_app_items_json(ctx->pool, res, 2, n, next, len);
}
