#include "certhall/web/idempotency.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ch_stmt_t stmt_reserve = {
	.name = "idem_reserve",
	.sql = "INSERT INTO idempotency_key (actor_kind, actor_id, key, method,"
	       "  path, request_sha256) VALUES ($1, $2, $3, $4, $5, $6)"
	       " ON CONFLICT DO NOTHING RETURNING 1",
	.nparams = 6,
};

static const ch_stmt_t stmt_stored = {
	.name = "idem_stored",
	.sql = "SELECT method, path, request_sha256, status, response, location"
	       "  FROM idempotency_key"
	       " WHERE actor_kind = $1 AND actor_id = $2 AND key = $3",
	.nparams = 3,
};

static const ch_stmt_t stmt_save = {
	.name = "idem_save",
	.sql = "UPDATE idempotency_key SET status = $4, response = $5, location = $6"
	       " WHERE actor_kind = $1 AND actor_id = $2 AND key = $3",
	.nparams = 6,
};

static const char *
key_of(const ch_req_t *req)
{
	return ch_req_env(req, "HTTP_IDEMPOTENCY_KEY");
}

static int
key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n < 8 || n > 128)
		return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && strchr("._:-", *k) == NULL)
			return 0;
	return 1;
}

static void
refuse(ch_req_t *req, const char *detail)
{
	json_object_set_new(ch_problem(req, CH_P_INVALID_FIELD, "%s", detail),
	    "header", json_string("Idempotency-Key"));
}

ch_idem_t
ch_idem_begin(ch_req_t *req)
{
	const char *key = key_of(req);
	unsigned char h[CH_SHA256_LEN];
	char hash[2 * CH_SHA256_LEN + 1], actor[24];
	const char *params[6];
	PGresult *res;

	if (key == NULL)
		return CH_IDEM_NONE;
	if (!key_ok(key)) {
		refuse(req, "Idempotency-Key must be 8-128 of [A-Za-z0-9._:-]");
		return CH_IDEM_REFUSED;
	}
	ch_sha256(req->body != NULL ? req->body : "",
	    req->body != NULL ? req->body_len : 0, h);
	ch_hex(h, sizeof h, hash);
	snprintf(actor, sizeof actor, "%lld", req->ctx.principal.id);
	params[0] = ch_actor_name(req->ctx.principal.kind);
	params[1] = actor;
	params[2] = key;
	params[3] = req->method_name;
	params[4] = req->path;
	params[5] = hash;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_reserve, params);
	if (res == NULL)
		return CH_IDEM_ERROR;
	if (PQntuples(res) == 1)
		return CH_IDEM_PROCEED;

	/* Taken, and (having waited on the row) committed by the first. */
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_stored, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_IDEM_ERROR;
	if (strcmp(PQgetvalue(res, 0, 0), req->method_name) != 0 ||
	    strcmp(PQgetvalue(res, 0, 1), req->path) != 0 ||
	    strcmp(PQgetvalue(res, 0, 2), hash) != 0) {
		refuse(req, "this Idempotency-Key was used for a different request");
		return CH_IDEM_REFUSED;
	}
	if (PQgetisnull(res, 0, 3)) {
		ch_error("idempotency key committed without an answer");
		return CH_IDEM_ERROR;
	}
	ch_resp_raw(req, atoi(PQgetvalue(res, 0, 3)),
	    atoi(PQgetvalue(res, 0, 3)) >= 400 ? "application/problem+json"
	    : "application/json; charset=utf-8",
	    ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 4)),
	    (size_t)PQgetlength(res, 0, 4));
	if (!PQgetisnull(res, 0, 5))
		ch_resp_header(req, "Location", PQgetvalue(res, 0, 5));
	ch_resp_header(req, "Idempotency-Replayed", "true");
	return CH_IDEM_REPLAYED;
}

int
ch_idem_save(ch_req_t *req)
{
	const char *key = key_of(req), *location = NULL;
	char actor[24], status[8];
	const char *params[6];
	char *body = NULL;
	int rc;

	if (key == NULL)
		return 0;
	for (size_t i = 0; i < req->resp.nheaders; i++)
		if (strcmp(req->resp.headers[i].name, "Location") == 0)
			location = req->resp.headers[i].value;
	if (req->resp.json != NULL) {
		body = json_dumps(req->resp.json, JSON_COMPACT);
		if (body == NULL)
			ch_oom();
	}
	snprintf(actor, sizeof actor, "%lld", req->ctx.principal.id);
	snprintf(status, sizeof status, "%d", req->resp.status);
	params[0] = ch_actor_name(req->ctx.principal.kind);
	params[1] = actor;
	params[2] = key;
	params[3] = status;
	params[4] = body != NULL ? body
	    : ch_pstrndup(req->ctx.pool, req->resp.body ? req->resp.body : "",
	    req->resp.body_len);
	params[5] = location;
	rc = ch_db_queue(req->ctx.db, req->ctx.pool, &stmt_save, params);
	free(body);
	return rc;
}
