#include "certhall/store/audit.h"
#include "certhall/base/log.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static const ch_stmt_t stmt_audit = {
	.name = "audit_insert",
	.sql = "INSERT INTO audit_event (actor_kind, actor_id, action,"
	       "  object_type, object_id, client_addr, request_id, detail)"
	       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	.nparams = 8,
};

int
ch_audit_as(ch_ctx_t *ctx, ch_actor_t kind, long long actor_id,
    const char *action, const char *object_type, const char *object_id,
    json_t *detail)
{
	char idbuf[24];
	char *d;
	const char *params[8];
	int rc;

	if (detail == NULL)
		detail = json_object();
	ch_pool_json(ctx->pool, detail);
	d = json_dumps(detail, JSON_COMPACT);
	if (d == NULL)
		ch_oom();
	snprintf(idbuf, sizeof idbuf, "%lld", actor_id);
	params[0] = ch_actor_name(kind);
	params[1] = actor_id > 0 ? idbuf : NULL;
	params[2] = action;
	params[3] = object_type;
	params[4] = object_id;
	params[5] = ctx->remote_addr != NULL ? ctx->remote_addr : "-";
	params[6] = ctx->correlation_id != NULL ? ctx->correlation_id : "-";
	params[7] = d;
	rc = ch_db_queue(ctx->db, ctx->pool, &stmt_audit, params);
	free(d);
	return rc;
}

int
ch_audit(ch_ctx_t *ctx, const char *action, const char *object_type,
    const char *object_id, json_t *detail)
{
	return ch_audit_as(ctx, ctx->principal.kind, ctx->principal.id, action,
	    object_type, object_id, detail);
}

static const ch_stmt_t stmt_page = {
	.name = "audit_page",
	.sql = "SELECT id, json_build_object('id', id,"
	       " 'at', " CH_SQL_TIME("at") ","
	       " 'actor_kind', actor_kind, 'actor_id', actor_id,"
	       " 'action', action, 'object_type', object_type,"
	       " 'object_id', object_id, 'client_addr', client_addr,"
	       " 'request_id', request_id, 'detail', detail)::text"
	       " FROM audit_event"
	       " WHERE id < $1 AND ($2::text IS NULL OR action = $2)"
	       " ORDER BY id DESC LIMIT $3",
	.nparams = 3,
	.readonly = true,
};

json_t *
ch_audit_list(ch_ctx_t *ctx, long long before_id, const char *action,
    long long limit, long long *next_before_id)
{
	char before[24], most[24];
	const char *params[3] = { before, action, most };
	json_t *items = NULL;
	PGresult *res;
	int n;

	snprintf(before, sizeof before, "%lld", before_id);
	snprintf(most, sizeof most, "%lld", limit + 1);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_page, params);
	if (res == NULL)
		goto out;
	n = PQntuples(res);
	*next_before_id = 0;
	if (n > limit) {
		n = (int)limit;
		*next_before_id = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
	}
	items = json_array();
	if (items == NULL)
		ch_oom();
	for (int i = 0; i < n; i++) {
		json_t *item = json_loads(PQgetvalue(res, i, 1), 0, NULL);

		if (item == NULL || json_array_append_new(items, item) != 0) {
			ch_error("audit list: the database built bad JSON");
			json_decref(items);
			items = NULL;
			goto out;
		}
	}
out:
	return items;
}
