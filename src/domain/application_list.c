/*
 * Lists of applications and an application's history
 * (certhall/domain/application.h, "lists").  Their JSON is built by
 * PostgreSQL; a page joins the items' texts without parsing them.
 */
#include "certhall/domain/application.h"
#include "certhall/store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ch_app_channel_codes[] = {
	"online", "integrator", "counter", NULL,
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

const char *
ch_app_items_json(ch_pool_t *pool, const PGresult *res, int col, int n,
    const char *cursor, size_t *len)
{
	size_t cap = sizeof "{\"items\":[],\"next_cursor\":null}" +
	    (cursor != NULL ? strlen(cursor) + 2 : 0);
	char *body, *p;

	for (int i = 0; i < n; i++)
		cap += (size_t)PQgetlength(res, i, col) + 1;
	body = p = ch_palloc(pool, cap);
	p += sprintf(p, "{\"items\":[");
	for (int i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, PQgetvalue(res, i, col),
		    (size_t)PQgetlength(res, i, col));
		p += PQgetlength(res, i, col);
	}
	if (cursor != NULL)
		p += sprintf(p, "],\"next_cursor\":\"%s\"}", cursor);
	else
		p += sprintf(p, "],\"next_cursor\":null}");
	*len = (size_t)(p - body);
	return body;
}

const char *
ch_app_list(ch_ctx_t *ctx, const ch_app_list_query_t *q, size_t *len)
{
	const ch_principal_t *p = &ctx->principal;
	char owner[24], before[24], limit[24], cursor[32];
	const char *params[7];
	PGresult *res;
	int n;

	/* An integrator acting for nobody owns nothing. */
	if (p->kind != CH_ACTOR_STAFF && p->applicant_id <= 0)
		return ch_app_items_json(ctx->pool, NULL, 0, 0, NULL, len);
	snprintf(owner, sizeof owner, "%lld", p->applicant_id);
	snprintf(before, sizeof before, "%lld", q->before);
	snprintf(limit, sizeof limit, "%lld", q->limit + 1);
	params[0] = p->kind == CH_ACTOR_STAFF ? NULL : owner;
	params[1] = before;
	params[2] = q->status;
	params[3] = q->business_type;
	params[4] = q->certificate_type;
	params[5] = q->channel;
	params[6] = limit;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_list, params);
	if (res == NULL)
		return NULL;
	n = PQntuples(res);
	if (n <= q->limit)
		return ch_app_items_json(ctx->pool, res, 1, n, NULL, len);
	n = (int)q->limit;
	ch_app_cursor_encode(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10),
	    cursor);
	return ch_app_items_json(ctx->pool, res, 1, n, cursor, len);
}

const char *
ch_app_history_json(ch_ctx_t *ctx, long long id, size_t *len)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_history, id);

	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	*len = (size_t)PQgetlength(res, 0, 0);
	return PQgetvalue(res, 0, 0);	/* the result belongs to the pool */
}
