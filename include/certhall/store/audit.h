/*
 * The audit log (docs/CONTRACT.md "Audit"): one append-only row per thing
 * that happened, with who did it (ctx->principal), from where
 * (ctx->remote_addr) and in which unit of work (ctx->correlation_id).  The
 * chain that seals the rows is certhall/store/auditchain.h.
 */
#ifndef CERTHALL_AUDIT_H
#define CERTHALL_AUDIT_H

#include "certhall/base/principal.h"
#include "certhall/store/ctx.h"

struct json_t;

/*
 * Writes an audit event for ctx's principal, in the caller's transaction if
 * one is open (queued there, certhall/store/db.h ch_db_queue(): a failure
 * shows at the transaction's next statement or COMMIT).  detail is a JSON
 * object or NULL; it joins ctx->pool on entry, so the caller never frees
 * it, whatever the outcome.  Mask personal data before putting it in
 * detail.  0, or -1.
 */
int ch_audit(ch_ctx_t *ctx, const char *action, const char *object_type,
    const char *object_id, struct json_t *detail);
/* The same with an explicit actor (e.g. the staff member a failed password
 * names, before anyone is signed in); detail joins ctx->pool on entry
 * likewise. */
int ch_audit_as(ch_ctx_t *ctx, ch_actor_t kind, long long actor_id,
    const char *action, const char *object_type, const char *object_id,
    struct json_t *detail);

/*
 * One page of the audit log, newest first, for admins (GET
 * /api/v1/audit-events): at most limit (>= 1) events with an id below
 * before_id (LLONG_MAX: from the newest) and, when action is not NULL,
 * that action, each as the API shows it (id, at, actor_kind, actor_id,
 * action, object_type, object_id, client_addr, request_id, detail; rows as
 * stored, since writers mask personal data before it reaches the log).
 * Keyset pagination: *next_before_id is the id to pass as before_id for
 * the next (older) page, or 0 when there is none (one row more than asked
 * is fetched to know).  A new JSON array (the caller owns it), or NULL
 * after a database error (logged).
 */
struct json_t *ch_audit_list(ch_ctx_t *ctx, long long before_id,
    const char *action, long long limit, long long *next_before_id);

#endif
