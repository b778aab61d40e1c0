#include "certhall/domain/workflow.h"
#include "certhall/domain/application.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/store/outbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The guarded move, and the state it moved from, in one statement.  The
 * CTE locks the row first and reads it as locked: a statement that waited
 * for the lock gets the row as the holder committed it, and the guard on
 * a is then decided on that same version (READ COMMITTED rechecks an
 * updated row), so the history row records exactly the state the guard
 * passed.  Entering "submitted" stamps submitted_at.  Columns: 0 the new
 * version, 1 the status it left.
 */
#define MOVE_SQL(set, returning) \
	"WITH old AS (SELECT status FROM application WHERE id = $1" \
	"  FOR UPDATE)" \
	" UPDATE application a SET status = $3," \
	"  version = a.version + 1, updated_at = now()," \
	"  submitted_at = CASE WHEN $3 = 'submitted' THEN now()" \
	"   ELSE a.submitted_at END" set \
	" FROM old WHERE a.id = $1 AND a.status = ANY($2::text[])" \
	" RETURNING a.version, old.status" returning

static const ch_stmt_t stmt_move = {
	.name = "wf_move",
	.sql = MOVE_SQL("", ""),
	.nparams = 3,
};

/* The same with the quote ($4 JSON, $5 total, $6 lock) and, as column 2,
 * the Application object after the move. */
static const ch_stmt_t stmt_move_quoted = {
	.name = "wf_move_quoted",
	.sql = MOVE_SQL(", quote = $4::jsonb, quote_total_fen = $5::bigint,"
	           " quote_locked_at = CASE WHEN $6::boolean THEN now() END",
	       ", " CH_SQL_APP_JSON "::text"),
	.nparams = 6,
};

static const ch_stmt_t stmt_history = {
	.name = "wf_history",
	.sql = "INSERT INTO application_history (application_id, from_status,"
	       "  to_status, actor_kind, actor_id, reason, request_id)"
	       " VALUES ($1, $2, $3, $4, $5, $6, $7)",
	.nparams = 7,
};

static const ch_stmt_t stmt_phone = {
	.name = "wf_handler_phone",
	.sql = "SELECT handler_phone FROM application WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_status = {
	.name = "wf_status",
	.sql = "SELECT status FROM application WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

const char *const ch_app_status_codes[] = {
	[CH_ST_DRAFT] = "draft",
	[CH_ST_SUBMITTED] = "submitted",
	[CH_ST_RETURNED] = "returned",
	[CH_ST_REJECTED] = "rejected",
	[CH_ST_APPROVED] = "approved",
	[CH_ST_AWAITING_PAYMENT] = "awaiting_payment",
	[CH_ST_AWAITING_VERIFICATION] = "awaiting_verification",
	[CH_ST_ISSUING] = "issuing",
	[CH_ST_ISSUED] = "issued",
	[CH_ST_SHIPPED] = "shipped",
	[CH_ST_DELIVERED] = "delivered",
	[CH_ST_ACTIVATED] = "activated",
	[CH_ST_COMPLETED] = "completed",
	[CH_ST_CANCELLED] = "cancelled",
	[CH_ST__MAX] = NULL,
};

const char *
ch_app_status_name(ch_app_status_t s)
{
	return s < CH_ST__MAX ? ch_app_status_codes[s] : "unknown";
}

ch_app_status_t
ch_app_status_parse(const char *code)
{
	int i = code != NULL ? ch_code_index(ch_app_status_codes, code) : -1;

	return i < 0 ? CH_ST__MAX : (ch_app_status_t)i;
}

/* A PostgreSQL array literal of the statuses in set: {a,b}. */
static char *
pg_array(ch_pool_t *pool, ch_st_set_t set)
{
	char *s = ch_pstrdup(pool, "{");

	for (int i = 0; i < CH_ST__MAX; i++)
		if (set & CH_ST_BIT(i))
			s = ch_psprintf(pool, "%s%s%s", s, s[1] ? "," : "",
			    ch_app_status_codes[i]);
	return ch_psprintf(pool, "%s}", s);
}

static int
history(ch_ctx_t *ctx, const char *id, const char *from, const char *to,
    const char *reason)
{
	char actor[24];
	const char *params[7];

	snprintf(actor, sizeof actor, "%lld", ctx->principal.id);
	params[0] = id;
	params[1] = from;
	params[2] = to;
	params[3] = ch_actor_name(ctx->principal.kind);
	params[4] = ctx->principal.id > 0 ? actor : NULL;
	params[5] = reason;
	params[6] = ctx->correlation_id != NULL ? ctx->correlation_id : "-";
	return ch_db_queue(ctx->db, ctx->pool, &stmt_history, params);
}

/* The move's params (idbuf, from, to and, with quote, the quote's three)
 * into params. */
static void
move_params(ch_ctx_t *ctx, char idbuf[24], long long id, ch_st_set_t from,
    ch_app_status_t to, const ch_wf_quote_t *quote, const char *params[6])
{
	snprintf(idbuf, 24, "%lld", id);
	params[0] = idbuf;
	params[1] = pg_array(ctx->pool, from);
	params[2] = ch_app_status_name(to);
	if (quote != NULL) {
		params[3] = quote->json;
		params[4] = quote->total_fen;
		params[5] = quote->lock ? "t" : "f";
	}
}

/* What the move of application id to did (res, its result): the history
 * row and the audit event; detail has joined ctx->pool. */
static ch_wf_result_t
moved(ch_ctx_t *ctx, long long id, ch_app_status_t to, const char *reason,
    json_t *detail, PGresult *res, int *version)
{
	const char *to_code = ch_app_status_name(to);
	char idbuf[24], *action;
	char *old = NULL;

	if (res == NULL)
		return CH_WF_ERROR;
	if (PQntuples(res) != 1)
		return CH_WF_ILLEGAL;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (version != NULL)
		*version = atoi(PQgetvalue(res, 0, 0));
	old = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	if (history(ctx, idbuf, old, to_code, reason) != 0)
		return CH_WF_ERROR;
	json_object_set_new(detail, "from", old ? json_string(old) : json_null());
	json_object_set_new(detail, "to", json_string(to_code));
	if (reason != NULL)
		json_object_set_new(detail, "reason", json_string(reason));
	action = ch_psprintf(ctx->pool, "application.%s", to_code);
	return ch_audit(ctx, action, "application", idbuf, json_incref(detail))
	    == 0 ? CH_WF_OK : CH_WF_ERROR;
}

/*
 * The move, its history row and its audit event; quote (may be NULL) as
 * ch_wf_transition_quoted() stores it, *answer then the result row.
 */
static ch_wf_result_t
transition(ch_ctx_t *ctx, long long id, ch_st_set_t from, ch_app_status_t to,
    const char *reason, json_t *detail, int *version,
    const ch_wf_quote_t *quote, PGresult **answer)
{
	char idbuf[24];
	const char *params[6];
	PGresult *res;
	ch_wf_result_t r;

	if (detail == NULL)
		detail = json_object();
	ch_pool_json(ctx->pool, detail);
	/* Of two concurrent deciders the loser waits here for the winner's
	 * commit, then finds the guard false: exactly one moves it. */
	move_params(ctx, idbuf, id, from, to, quote, params);
	res = ch_db_exec(ctx->db, ctx->pool,
	    quote != NULL ? &stmt_move_quoted : &stmt_move, params);
	r = moved(ctx, id, to, reason, detail, res, version);
	if (r == CH_WF_OK && answer != NULL)
		*answer = res;
	return r;
}

int
ch_wf_transition_send(ch_ctx_t *ctx, long long id, ch_st_set_t from,
    ch_app_status_t to, PGresult **slot)
{
	char *idbuf = ch_palloc(ctx->pool, 24);
	const char *params[6];

	move_params(ctx, idbuf, id, from, to, NULL, params);
	return ch_db_send(ctx->db, ctx->pool, &stmt_move, params, slot);
}

ch_wf_result_t
ch_wf_transition_sent(ch_ctx_t *ctx, long long id, ch_app_status_t to,
    const char *reason, json_t *detail, PGresult *res)
{
	if (detail == NULL)
		detail = json_object();
	ch_pool_json(ctx->pool, detail);
	return moved(ctx, id, to, reason, detail, res, NULL);
}

ch_wf_result_t
ch_wf_transition(ch_ctx_t *ctx, long long id, ch_st_set_t from,
    ch_app_status_t to, const char *reason, json_t *detail, int *version)
{
	return transition(ctx, id, from, to, reason, detail, version, NULL,
	    NULL);
}

ch_wf_result_t
ch_wf_transition_quoted(ch_ctx_t *ctx, long long id, ch_st_set_t from,
    ch_app_status_t to, const ch_wf_quote_t *quote, int *version,
    const char **json)
{
	PGresult *res = NULL;
	ch_wf_result_t r;

	r = transition(ctx, id, from, to, NULL, NULL, version, quote, &res);
	if (r == CH_WF_OK)
		*json = PQgetvalue(res, 0, 2);
	return r;
}

int
ch_wf_created(ch_ctx_t *ctx, long long id)
{
	char idbuf[24];

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (history(ctx, idbuf, NULL, ch_app_status_name(CH_ST_DRAFT), NULL)
	    != 0)
		return -1;
	return ch_audit(ctx, "application.created", "application", idbuf, NULL);
}

int
ch_wf_notify(ch_ctx_t *ctx, long long id, const char *template,
    json_t *params_json, const char *text)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_phone, id);

	return ch_wf_notify_sent(ctx, res, template, params_json, text);
}

int
ch_wf_notify_send(ch_ctx_t *ctx, long long id, PGresult **slot)
{
	char *idbuf = ch_palloc(ctx->pool, 24);
	const char *params[1] = { idbuf };

	snprintf(idbuf, 24, "%lld", id);
	return ch_db_send(ctx->db, ctx->pool, &stmt_phone, params, slot);
}

int
ch_wf_notify_sent(ch_ctx_t *ctx, PGresult *res, const char *template,
    json_t *params_json, const char *text)
{
	char *p;
	int rc;

	if (params_json == NULL)
		params_json = json_object();
	ch_pool_json(ctx->pool, params_json);
	if (strncmp(text, "【四川CA】", strlen("【四川CA】")) != 0) {
		ch_error("sms template \"%s\" lacks the 【四川CA】 signature", template);
		return -1;
	}
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (PQgetisnull(res, 0, 0))
		return 0;
	p = json_dumps(params_json, JSON_COMPACT);
	if (p == NULL)
		ch_oom();
	rc = ch_outbox_sms(ctx->db, ctx->pool,
	    ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0)), template, p, text, NULL);
	free(p);
	return rc;
}

int
ch_wf_status_now(ch_ctx_t *ctx, long long id, ch_app_status_t *status)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_status, id);

	if (res == NULL)
		return -1;
	*status = PQntuples(res) == 1 ?
	    ch_app_status_parse(PQgetvalue(res, 0, 0)) : CH_ST__MAX;
	return 0;
}
