/*
 * The context of one unit of work: a web request, a daemon's step, an
 * administrator's command.  It is what the store and the domain take
 * instead of an HTTP request, so every process calls them the same way and
 * none has to build a request it is not serving.
 *
 * The web layer embeds one in each ch_req_t (req->ctx); a daemon fills one
 * with ch_ctx_system() for each step.  Nothing in it is owned: the pool and
 * the connection belong to whoever made the context, and the strings live
 * in the pool or are static.
 */
#ifndef CERTHALL_CTX_H
#define CERTHALL_CTX_H

#include "certhall/base/pool.h"
#include "certhall/base/principal.h"

struct ch_db;

typedef struct ch_ctx {
	ch_pool_t *pool;		/* everything the unit of work allocates */
	struct ch_db *db;		/* the process's connection */
	ch_principal_t principal;	/* who acts */
	/* Ties the log lines and audit events of one unit of work together:
	 * the request id, or "<process>-<n>" for a daemon's step. */
	const char *correlation_id;
	const char *remote_addr;	/* the client's address, "local" for a process */
} ch_ctx_t;

/*
 * Fills ctx for a step of back-end process name (e.g. "payd"): actor
 * CH_ACTOR_SYSTEM named name, client address "local", the given correlation id
 * (copied into pool).  pool and db are borrowed.
 */
void ch_ctx_system(ch_ctx_t *ctx, ch_pool_t *pool, struct ch_db *db,
    const char *name, const char *correlation_id);

/*
 * Whose objects ctx's principal may see, as the text of a bigint query
 * parameter: NULL for staff (the route table decides which staff), else
 * the applicant it acts for, "0" (nobody's) for an integrator acting for
 * nobody.  Statements take it as "($n::bigint IS NULL OR owner = $n)".
 * In ctx->pool.
 */
const char *ch_ctx_owner_param(ch_ctx_t *ctx);

#endif
