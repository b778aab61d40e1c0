/*
 * Unlock: the request, the signer's answer, the confirmation
 * (certhall/domain/unlock.h).
 */
#include "certhall/domain/unlock.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* The UnlockRequest object of "unlock_request r" (docs/CONTRACT.md). */
#define SQL_UNLOCK_JSON \
	"json_build_object('application_id', r.application_id," \
	" 'usb_key_serial', r.usb_key_serial, 'challenge', r.challenge," \
	" 'status', CASE WHEN r.confirmed_at IS NOT NULL THEN 'confirmed'" \
	"   WHEN r.error IS NOT NULL THEN 'failed'" \
	"   WHEN r.answered_at IS NOT NULL THEN 'answered' ELSE 'pending' END," \
	" 'response', r.response, 'error', r.error," \
	" 'requested_at', " CH_SQL_TIME("r.created_at") "," \
	" 'answered_at', " CH_SQL_TIME("r.answered_at") "," \
	" 'confirmed_at', " CH_SQL_TIME("r.confirmed_at") ")"

/* The certificate's USB key, the unlock job, and whether a request was
 * sent already, of application $1. */
static const ch_stmt_t stmt_find = {
	.name = "unlock_find",
	.sql = "SELECT c.usb_key_serial, j.id,"
	       "  EXISTS (SELECT 1 FROM unlock_request r"
	       "           WHERE r.application_id = a.id)"
	       " FROM application a"
	       " JOIN certificate c ON c.id = a.certificate_id"
	       " LEFT JOIN signing_job j ON j.application_id = a.id"
	       "  AND j.kind = 'unlock' AND j.status = 'queued'"
	       " WHERE a.id = $1",
	.nparams = 1,
	.readonly = true,
};

/* $1 application, $2 job, $3 serial, $4 challenge, $5 actor kind, $6 id. */
static const ch_stmt_t stmt_insert = {
	.name = "unlock_insert",
	.sql = "WITH r AS (INSERT INTO unlock_request (application_id, job_id,"
	       "   usb_key_serial, challenge, requested_by_kind, requested_by_id)"
	       "  VALUES ($1, $2, $3, $4, $5, $6::bigint)"
	       "  ON CONFLICT DO NOTHING RETURNING *)"
	       " SELECT " SQL_UNLOCK_JSON "::text,"
	       "  pg_notify('signing_job', r.job_id::text) FROM r",
	.nparams = 6,
};

static const ch_stmt_t stmt_get = {
	.name = "unlock_get",
	.sql = "SELECT " SQL_UNLOCK_JSON "::text FROM unlock_request r"
	       " WHERE r.application_id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_confirm = {
	.name = "unlock_confirm",
	.sql = "UPDATE unlock_request r SET confirmed_at = now()"
	       " WHERE r.application_id = $1 AND r.response IS NOT NULL"
	       "   AND r.confirmed_at IS NULL"
	       " RETURNING " SQL_UNLOCK_JSON "::text",
	.nparams = 1,
};

static const ch_stmt_t stmt_due = {
	.name = "unlock_due",
	.sql = "SELECT r.id, r.application_id, r.job_id, r.usb_key_serial,"
	       "  r.challenge FROM unlock_request r WHERE r.answered_at IS NULL"
	       " ORDER BY r.id LIMIT $1::int FOR UPDATE SKIP LOCKED",
	.nparams = 1,
};

/* $1 request, $2 job, $3 response or NULL, $4 error or NULL. */
static const ch_stmt_t stmt_answer = {
	.name = "unlock_answer",
	.sql = "WITH r AS (UPDATE unlock_request SET response = $3, error = $4,"
	       "   answered_at = now() WHERE id = $1 RETURNING id)"
	       " UPDATE signing_job SET updated_at = now(),"
	       "  status = CASE WHEN $3::text IS NULL THEN 'failed' ELSE 'done' END,"
	       "  done_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,"
	       "  failed_at = CASE WHEN $3::text IS NULL THEN now() END,"
	       "  last_error = $4"
	       " WHERE id = $2 AND EXISTS (SELECT 1 FROM r)",
	.nparams = 4,
};

ch_unlock_result_t
ch_unlock_request(ch_ctx_t *ctx, const ch_app_t *a, const char *usb_key_serial,
    const char *challenge, const char **json, const char **why)
{
	const ch_principal_t *p = &ctx->principal;
	const char *params[6];
	char app[24];
	PGresult *res;

	*why = NULL;
	if (a->business != CH_BIZ_UNLOCK) {
		*why = "this is not an unlock application";
		return CH_UNLOCK_CONFLICT;
	}
	if (a->status != CH_ST_ISSUING) {
		*why = "an unlock request is taken once the application is "
		    "verified (issuing)";
		return CH_UNLOCK_CONFLICT;
	}
	snprintf(app, sizeof app, "%lld", a->id);
	params[0] = app;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_find, params)) == NULL)
		return CH_UNLOCK_ERROR;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1) ||
	    *PQgetvalue(res, 0, 2) == 't') {
		*why = "an unlock request was sent for this application already";
		return CH_UNLOCK_CONFLICT;
	}
	if (PQgetisnull(res, 0, 0) ||
	    strcmp(PQgetvalue(res, 0, 0), usb_key_serial) != 0)
		return CH_UNLOCK_OTHER_KEY;
	params[1] = PQgetvalue(res, 0, 1);
	params[2] = usb_key_serial;
	params[3] = challenge;
	params[4] = ch_actor_name(p->kind);
	params[5] = ch_psprintf(ctx->pool, "%lld", p->id);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_insert, params)) == NULL)
		return CH_UNLOCK_ERROR;
	if (PQntuples(res) != 1)
		return CH_UNLOCK_REUSED;
	*json = PQgetvalue(res, 0, 0);
	if (ch_audit(ctx, "application.unlock_requested", "application", app,
	    json_pack("{s:s, s:s}", "usb_key_serial", usb_key_serial,
	    "challenge", challenge)) != 0)
		return CH_UNLOCK_ERROR;
	return CH_UNLOCK_OK;
}

ch_unlock_result_t
ch_unlock_get(ch_ctx_t *ctx, long long id, const char **json)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_get, id);

	if (res == NULL)
		return CH_UNLOCK_ERROR;
	if (PQntuples(res) != 1)
		return CH_UNLOCK_NOT_FOUND;
	*json = PQgetvalue(res, 0, 0);
	return CH_UNLOCK_OK;
}

ch_unlock_result_t
ch_unlock_confirm(ch_ctx_t *ctx, const ch_app_t *a, const char **json,
    const char **why)
{
	PGresult *res;

	*why = NULL;
	if (a->business != CH_BIZ_UNLOCK) {
		*why = "this is not an unlock application";
		return CH_UNLOCK_CONFLICT;
	}
	if (a->status != CH_ST_ISSUED) {
		*why = "the unlock response has not been given yet";
		return CH_UNLOCK_CONFLICT;
	}
	if ((res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_confirm, a->id))
	    == NULL)
		return CH_UNLOCK_ERROR;
	if (PQntuples(res) != 1) {
		*why = "the unlock response has not been given yet";
		return CH_UNLOCK_CONFLICT;
	}
	*json = PQgetvalue(res, 0, 0);
	switch (ch_wf_transition(ctx, a->id, CH_ST_BIT(CH_ST_ISSUED),
	    CH_ST_COMPLETED, "the handler confirmed the unlock", NULL, NULL)) {
	case CH_WF_OK:
		return CH_UNLOCK_OK;
	case CH_WF_ILLEGAL:
		*why = "the unlock response has not been given yet";
		return CH_UNLOCK_CONFLICT;
	default:
		return CH_UNLOCK_ERROR;
	}
}

/* Records the answer to due row i.  0, 1 left for later, or -1. */
static int
answer_one(ch_ctx_t *ctx, PGresult *res, int i, ch_unlock_answer_fn answer,
    void *arg)
{
	const char *serial = PQgetvalue(res, i, 3), *why = NULL;
	const char *params[4];
	long long app = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	char out[32] = "";
	int r = answer(arg, serial, PQgetvalue(res, i, 4), out, &why);
	int rc = -1;

	if (r > 0)
		return 1;
	params[0] = PQgetvalue(res, i, 0);
	params[1] = PQgetvalue(res, i, 2);
	params[2] = r == 0 ? out : NULL;
	params[3] = r == 0 ? NULL : why;
	if (ch_db_queue(ctx->db, ctx->pool, &stmt_answer, params) != 0)
		goto out;
	if (r != 0) {
		ch_warn("unlock request %s (application %lld) not answered: %s",
		    params[0], app, why);
		rc = ch_audit(ctx, "application.unlock_failed", "application",
		    PQgetvalue(res, i, 1), json_pack("{s:s}", "reason", why));
		goto out;
	}
	switch (ch_wf_transition(ctx, app, CH_ST_BIT(CH_ST_ISSUING),
	    CH_ST_ISSUED, "unlock response given", json_pack("{s:s}",
	    "usb_key_serial", serial), NULL)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		/* Cancelled or refunded meanwhile: the answer stands on
		 * record, nothing is sent. */
		ch_warn("unlock request %s: application %lld is no longer "
		    "issuing; no SMS", params[0], app);
		rc = 0;
		goto out;
	default:
		goto out;
	}
	rc = ch_wf_notify(ctx, app, "unlock_response", json_pack("{s:s, s:s}",
	    "usb_key_serial", serial, "response", out), ch_psprintf(ctx->pool,
	    "【四川CA】您的USB Key（序列号%s）的解锁码为%s，仅此一次有效。"
	    "如非本人操作，请致电400-028-1130。", serial, out));
	if (rc == 0)
		ch_info("unlock request %s (application %lld) answered",
		    params[0], app);
out:
	OPENSSL_cleanse(out, sizeof out);
	return rc;
}

int
ch_unlock_answer_due(ch_ctx_t *ctx, int max, ch_unlock_answer_fn answer,
    void *arg, int *answered)
{
	const char *params[1];
	PGresult *res;
	int rows, r;

	*answered = 0;
	params[0] = ch_psprintf(ctx->pool, "%d", max);
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_due, params)) == NULL)
		goto fail;
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		if ((r = answer_one(ctx, res, i, answer, arg)) < 0)
			goto fail;
		if (r == 0)
			(*answered)++;
	}
	if ((rows == 0 || *answered == 0 ? ch_db_rollback(ctx->db) :
	    ch_db_commit(ctx->db)) != 0)
		goto fail;
	return 0;
fail:
	*answered = 0;
	ch_db_finish(ctx->db);
	return -1;
}
