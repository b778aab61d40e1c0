#include "certhall/store/ctx.h"

#include <string.h>

void
ch_ctx_system(ch_ctx_t *ctx, ch_pool_t *pool, struct ch_db *db,
    const char *name, const char *correlation_id)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->pool = pool;
	ctx->db = db;
	ctx->principal.kind = CH_ACTOR_SYSTEM;
	ctx->principal.roles = CH_ROLE_PUBLIC;
	ctx->principal.name = name;
	ctx->remote_addr = "local";
	ctx->correlation_id = ch_pstrdup(pool, correlation_id);
}

const char *
ch_ctx_owner_param(ch_ctx_t *ctx)
{
	if (ctx->principal.kind == CH_ACTOR_STAFF)
		return NULL;
	return ch_psprintf(ctx->pool, "%lld", ctx->principal.applicant_id > 0
	    ? ctx->principal.applicant_id : 0);
}
