#include "certhall/workflow.h"
#include "certhall/application.h"
#include "certhall/auth.h"
#include "certhall/db.h"
#include "certhall/log.h"
#include "certhall/outbox.h"

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

/* A PostgreSQL array literal of the from states: {a,b}. */
static char *
pg_array(ch_pool_t *pool, const char *const *items)
{
	size_t n = 3;
	char *s;

	for (int i = 0; items[i] != NULL; i++)
		n += strlen(items[i]) + 1;
	s = ch_palloc(pool, n);
	strcpy(s, "{");
	for (int i = 0; items[i] != NULL; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, items[i]);
	}
	strcat(s, "}");
	return s;
}

static int
history(ch_req_t *req, const char *id, const char *from, const char *to,
    const char *reason)
{
	char actor[24];
	const char *params[7];

	snprintf(actor, sizeof actor, "%lld", req->principal.id);
	params[0] = id;
	params[1] = from;
	params[2] = to;
	params[3] = ch_actor_name(req->principal.kind);
	params[4] = req->principal.id > 0 ? actor : NULL;
	params[5] = reason;
	params[6] = req->request_id != NULL ? req->request_id : "-";
	return ch_db_queue(req->db, req->pool, &stmt_history, params);
}

/*
 * The move, its history row and its audit event; quote (may be NULL) as
 * ch_wf_transition_quoted() stores it, *answer then the result row.
 */
static ch_wf_result_t
transition(ch_req_t *req, long long id, const char *const *from,
    const char *to, const char *reason, json_t *detail, int *version,
    const ch_wf_quote_t *quote, PGresult **answer)
{
	char idbuf[24], *action;
	const char *params[6];
	char *old = NULL;
	PGresult *res;

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	/* Of two concurrent deciders the loser waits here for the winner's
	 * commit, then finds the guard false: exactly one moves it. */
	params[0] = idbuf;
	params[1] = pg_array(req->pool, from);
	params[2] = to;
	if (quote != NULL) {
		params[3] = quote->json;
		params[4] = quote->total_fen;
		params[5] = quote->lock ? "t" : "f";
	}
	res = ch_db_exec(req->db, req->pool,
	    quote != NULL ? &stmt_move_quoted : &stmt_move, params);
	if (res == NULL) {
		json_decref(detail);
		return CH_WF_ERROR;
	}
	if (PQntuples(res) != 1) {
		json_decref(detail);
		return CH_WF_ILLEGAL;
	}
	if (version != NULL)
		*version = atoi(PQgetvalue(res, 0, 0));
	if (answer != NULL)
		*answer = res;
	old = ch_pstrdup(req->pool, PQgetvalue(res, 0, 1));
	if (history(req, idbuf, old, to, reason) != 0) {
		json_decref(detail);
		return CH_WF_ERROR;
	}
	if (detail == NULL)
		detail = json_object();
	json_object_set_new(detail, "from", old ? json_string(old) : json_null());
	json_object_set_new(detail, "to", json_string(to));
	if (reason != NULL)
		json_object_set_new(detail, "reason", json_string(reason));
	action = ch_psprintf(req->pool, "application.%s", to);
	return ch_audit(req, action, "application", idbuf, detail) == 0
	    ? CH_WF_OK : CH_WF_ERROR;
}

ch_wf_result_t
ch_wf_transition(ch_req_t *req, long long id, const char *const *from,
    const char *to, const char *reason, json_t *detail, int *version)
{
	return transition(req, id, from, to, reason, detail, version, NULL,
	    NULL);
}

ch_wf_result_t
ch_wf_transition_quoted(ch_req_t *req, long long id,
    const char *const *from, const char *to, const ch_wf_quote_t *quote,
    int *version, const char **json)
{
	PGresult *res = NULL;
	ch_wf_result_t r;

	r = transition(req, id, from, to, NULL, NULL, version, quote, &res);
	if (r == CH_WF_OK)
		*json = PQgetvalue(res, 0, 2);
	return r;
}

int
ch_wf_created(ch_req_t *req, long long id)
{
	char idbuf[24];

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (history(req, idbuf, NULL, "draft", NULL) != 0)
		return -1;
	return ch_audit(req, "application.created", "application", idbuf, NULL);
}

int
ch_wf_notify(ch_req_t *req, long long id, const char *template,
    json_t *params_json, const char *text)
{
	char idbuf[24];
	const char *params[1];
	char *p;
	PGresult *res;
	int rc;

	if (strncmp(text, "【四川CA】", strlen("【四川CA】")) != 0) {
		ch_error("sms template \"%s\" lacks the 【四川CA】 signature", template);
		json_decref(params_json);
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	params[0] = idbuf;
	res = ch_db_exec(req->db, req->pool, &stmt_phone, params);
	if (res == NULL || PQntuples(res) != 1) {
		json_decref(params_json);
		return -1;
	}
	if (PQgetisnull(res, 0, 0)) {
		json_decref(params_json);
		return 0;
	}
	if (params_json == NULL)
		params_json = json_object();
	p = json_dumps(params_json, JSON_COMPACT);
	json_decref(params_json);
	if (p == NULL)
		ch_oom();
	rc = ch_outbox_sms(req->db, req->pool,
	    ch_pstrdup(req->pool, PQgetvalue(res, 0, 0)), template, p, text, NULL);
	free(p);
	return rc;
}

void
ch_wf_conflict(ch_req_t *req, long long id, const char *action)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	PGresult *res;
	const char *status = "unknown";

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = ch_db_exec(req->db, req->pool, &stmt_status, params);
	if (res != NULL && PQntuples(res) == 1)
		status = ch_pstrdup(req->pool, PQgetvalue(res, 0, 0));
	json_object_set_new(ch_problem(req, CH_P_CONFLICT,
	    "cannot %s an application that is %s", action, status),
	    "status_now", json_string(status));
}
