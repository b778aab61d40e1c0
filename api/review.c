/*
 * Review (SPEC §5 step 3; docs/CONTRACT.md "Applications, materials,
 * review"): the reviewers' queue and their decision.
 *
 *   GET  /api/v1/review-queue             submitted applications, oldest
 *                                         submitted first (tie: id)
 *   POST /api/v1/applications/{id}/review approve, reject or return
 *
 * The decision, its rules, its statements and its SMS texts are
 * certhall/domain/review.h's.  Here: the body and the query, the
 * transaction (the row locked with CH_APP_READ_LOCKED, so of two reviewers
 * deciding at once the second waits for the first's commit and then gets
 * a 409), and the domain's results as answers.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/domain/review.h"
#include "certhall/web/query.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#define QUEUE_LIMIT_DEFAULT 20
#define QUEUE_LIMIT_MAX 100

/* ---- the decision's body ------------------------------------------------- */

struct review_input {
	int decision;			/* ch_review_decision_t */
	const char *reason;		/* NULL when absent */
	unsigned materials;		/* bit i: ch_material_kinds[i] */
};

static const ch_field_t review_fields[] = {
	{ .name = "decision", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = ch_review_decision_codes,
	  .offset = offsetof(struct review_input, decision) },
	{ .name = "reason", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = CH_REVIEW_REASON_MIN, .max = CH_REVIEW_REASON_MAX,
	  .check = ch_check_reason,
	  .offset = offsetof(struct review_input, reason) },
	{ .name = "materials", .type = CH_F_ENUM_SET, .flags = CH_F_NULLABLE,
	  .min = 1, .max = CH_REVIEW_MATERIALS_MAX, .values = ch_material_kinds,
	  .offset = offsetof(struct review_input, materials) },
};

const ch_schema_t api_review_schema =
    CH_SCHEMA(review_fields, struct review_input);

int
api_application_review(ch_req_t *req)
{
	const struct review_input *in = req->input;
	ch_review_t d = {
		.decision = (ch_review_decision_t)in->decision,
		.reason = in->reason,
		.has_materials = ch_json_has(req->json, "materials"),
		.materials = in->materials,
	};
	ch_app_refusal_t why = { 0 };
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (ch_review_check(&d, &why) != 0) {
		api_refuse_field(req, &why);
		return 0;
	}
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	switch (ch_review_decide(&req->ctx, &a, &d, &why)) {
	case CH_REVIEW_DONE:
		break;
	case CH_REVIEW_CONFLICT:
		ch_db_rollback(req->ctx.db);
		api_app_conflict(req, id, ch_review_decision_codes[d.decision]);
		return 0;
	case CH_REVIEW_REFUSED:
		api_refuse_field(req, &why);
		ch_db_rollback(req->ctx.db);
		return 0;
	case CH_REVIEW_UNPRICED:
		ch_db_rollback(req->ctx.db);
		ch_problem(req, CH_P_CONFLICT, "%s", why.detail);
		return 0;
	default:
		return -1;
	}
	/* The answer is read in the transaction, so it shows this decision
	 * and nothing decided after it. */
	if (api_app_respond(req, 200, id) != 0 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	return 0;
}

/* ---- the queue ----------------------------------------------------------- */

/* A cursor into the ch_review_query_t at slot. */
static int
cursor_parse(const char *s, void *slot)
{
	return ch_review_cursor_decode(s, slot);
}

/* Values are plain ASCII tokens (enum codes, digits, base64url), so none
 * needs percent-decoding (certhall/query.h). */
static const ch_qparam_t queue_params[] = {
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_review_query_t, limit),
	  .max = QUEUE_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT, .offset = 0,
	  .parse = cursor_parse,
	  .detail = "cursor must be a next_cursor this operation gave" },
	{ .name = "business_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_review_query_t, business_type),
	  .values = ch_business_codes },
	{ .name = "certificate_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_review_query_t, certificate_type),
	  .values = ch_cert_type_codes },
	{ .name = "channel", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_review_query_t, channel),
	  .values = ch_app_channel_codes },
};

/* One page of the queue: {"items":[Application (list form)…],
 * "next_cursor":…|null}. */
int
api_review_queue(ch_req_t *req)
{
	ch_review_query_t q;
	const char *body;
	size_t len;

	memset(&q, 0, sizeof q);
	q.limit = QUEUE_LIMIT_DEFAULT;
	if (ch_query_parse(req, queue_params,
	    sizeof queue_params / sizeof queue_params[0],
	    "unknown query parameter; this operation takes business_type, "
	    "certificate_type, channel, limit and cursor", &q) != 0)
		return 0;
	if ((body = ch_review_queue(&req->ctx, &q, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}
