/*
 * The application state machine (SPEC §5): guarded transitions.
 *
 * Every transition runs inside the caller's transaction and does, in this
 * order: the guarded change (UPDATE … WHERE id = $1 AND status = ANY(from)
 * RETURNING), so of two concurrent deciders exactly one wins; a history
 * row; an audit event "application.<to>" (those two queued, certhall/db.h
 * ch_db_queue(): they go with the transaction's next statement).  Outbox
 * rows (SMS to the handler) are added with ch_wf_notify() in the same
 * transaction.  Nothing here commits.
 */
#ifndef CERTHALL_WORKFLOW_H
#define CERTHALL_WORKFLOW_H

#include "certhall/store/ctx.h"
#include "certhall/store/db.h"

#include <stdbool.h>

struct json_t;

/* An application's status (SPEC §5), in the database as its code. */
typedef enum {
	CH_ST_DRAFT,
	CH_ST_SUBMITTED,
	CH_ST_RETURNED,
	CH_ST_REJECTED,
	CH_ST_APPROVED,
	CH_ST_AWAITING_PAYMENT,
	CH_ST_AWAITING_VERIFICATION,
	CH_ST_ISSUING,
	CH_ST_ISSUED,
	CH_ST_SHIPPED,
	CH_ST_DELIVERED,
	CH_ST_ACTIVATED,
	CH_ST_COMPLETED,
	CH_ST_CANCELLED,
	CH_ST__MAX
} ch_app_status_t;

/* The codes ("draft", ...), index = status, NULL-terminated. */
extern const char *const ch_app_status_codes[];

/* A set of statuses: bit CH_ST_BIT(s) for each. */
typedef unsigned ch_st_set_t;
#define CH_ST_BIT(s) (1u << (s))

/* Statuses from which the applicant may still cancel (SPEC §5: "any state
 * before payment"). */
#define CH_ST_CANCELLABLE (CH_ST_BIT(CH_ST_DRAFT) | CH_ST_BIT(CH_ST_SUBMITTED) | \
	CH_ST_BIT(CH_ST_RETURNED) | CH_ST_BIT(CH_ST_APPROVED) | \
	CH_ST_BIT(CH_ST_AWAITING_PAYMENT) | CH_ST_BIT(CH_ST_AWAITING_VERIFICATION))
/* Statuses in which the applicant may edit the fields and the materials. */
#define CH_ST_EDITABLE (CH_ST_BIT(CH_ST_DRAFT) | CH_ST_BIT(CH_ST_RETURNED))
/* Settled and on to fulfilment: issuance and what follows it. */
#define CH_ST_ISSUED_OR_LATER (CH_ST_BIT(CH_ST_ISSUED) | CH_ST_BIT(CH_ST_SHIPPED) | \
	CH_ST_BIT(CH_ST_DELIVERED) | CH_ST_BIT(CH_ST_ACTIVATED) | \
	CH_ST_BIT(CH_ST_COMPLETED))

/* The code of s ("unknown" past the end). */
const char *ch_app_status_name(ch_app_status_t s);
/* The status of a code, or CH_ST__MAX when it is none. */
ch_app_status_t ch_app_status_parse(const char *code);

typedef enum {
	CH_WF_OK,
	CH_WF_ILLEGAL,		/* not in a from-state (or gone): nothing changed;
				 * the caller answers with the status now
				 * (ch_wf_status_now()) */
	CH_WF_ERROR,		/* database error, logged */
} ch_wf_result_t;

/*
 * Moves application id from one of the statuses in from to to, bumping
 * version; reason goes into the history row (may be NULL); detail (a JSON
 * object or NULL) into the audit event: it joins ctx->pool on entry, so
 * the caller never frees it.  *version (if not NULL) receives the new
 * version.
 */
ch_wf_result_t ch_wf_transition(ch_ctx_t *ctx, long long id, ch_st_set_t from,
    ch_app_status_t to, const char *reason, struct json_t *detail,
    int *version);

/*
 * ch_wf_transition() in two halves, for a caller that moves many
 * applications in one transaction and wants one round trip for all the
 * moves (certhall-signer's batch): _send() sends the guarded move without
 * waiting (*slot receives its result at the caller's next ch_db_sync(),
 * ch_db_exec() or ch_db_commit(); certhall/store/db.h), and _sent() then
 * records what that result says, as ch_wf_transition() does (history row,
 * audit event with detail, which joins ctx->pool on entry): CH_WF_OK,
 * CH_WF_ILLEGAL (nothing moved, nothing recorded), or CH_WF_ERROR (res
 * NULL, or the records failed).  _send(): 0 or -1.
 */
int ch_wf_transition_send(ch_ctx_t *ctx, long long id, ch_st_set_t from,
    ch_app_status_t to, PGresult **slot);
ch_wf_result_t ch_wf_transition_sent(ch_ctx_t *ctx, long long id,
    ch_app_status_t to, const char *reason, struct json_t *detail,
    PGresult *res);

/* A quote the move itself stores (ch_wf_transition_quoted()). */
typedef struct {
	const char *json;	/* the Quote object, compact JSON text */
	const char *total_fen;	/* its total, decimal text */
	bool lock;		/* also sets quote_locked_at (approval) */
} ch_wf_quote_t;

/*
 * ch_wf_transition() that also stores quote in the same UPDATE and returns
 * the Application object as it now is: *version and *json (text owned by
 * ctx->pool), the answer a handler sends.  One UPDATE where a
 * quote store and a move were two (and the second update of a row written
 * in the same transaction repeats its foreign-key checks), and no read
 * afterwards.  No reason, no audit detail beyond from and to.
 */
ch_wf_result_t ch_wf_transition_quoted(ch_ctx_t *ctx, long long id,
    ch_st_set_t from, ch_app_status_t to, const ch_wf_quote_t *quote,
    int *version, const char **json);

/* Records the creation of an application (history: NULL → draft; audit
 * application.created). */
int ch_wf_created(ch_ctx_t *ctx, long long id);

/*
 * Queues an SMS to the application's handler_phone in the caller's
 * transaction (and NOTIFYs the sender).  text is the complete message,
 * which must start with 【四川CA】; template and params are kept with the
 * row; params (a JSON object or NULL) joins ctx->pool on entry.  Does
 * nothing (returns 0) when the application has no handler phone.
 */
int ch_wf_notify(ch_ctx_t *ctx, long long id, const char *template,
    struct json_t *params, const char *text);
/*
 * ch_wf_notify() in two halves, like ch_wf_transition_send() and _sent():
 * _send() sends the read of application id's handler phone (*slot, at the
 * caller's next sync), _sent() queues the SMS from that result (res NULL:
 * -1).  0 or -1.
 */
int ch_wf_notify_send(ch_ctx_t *ctx, long long id, PGresult **slot);
int ch_wf_notify_sent(ch_ctx_t *ctx, PGresult *res, const char *template,
    struct json_t *params, const char *text);

/*
 * The status application id has now, after a CH_WF_ILLEGAL, for the
 * conflict the caller reports.  0 with *status set (CH_ST__MAX when the
 * row is gone), or -1 (database error, logged).
 */
int ch_wf_status_now(ch_ctx_t *ctx, long long id, ch_app_status_t *status);

#endif
