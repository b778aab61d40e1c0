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
