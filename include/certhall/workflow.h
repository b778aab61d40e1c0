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

#include "certhall/http.h"

#include <stdbool.h>

struct json_t;

typedef enum {
	CH_WF_OK,
	CH_WF_ILLEGAL,		/* not in a from-state (or gone): 409, nothing changed */
	CH_WF_ERROR,		/* database error, logged */
} ch_wf_result_t;

/*
 * Moves application id from one of the from states (NULL-terminated) to
 * to, bumping version; reason goes into the history row (may be NULL);
 * detail (a JSON object or NULL; reference taken) into the audit event.
 * *version (if not NULL) receives the new version.
 */
ch_wf_result_t ch_wf_transition(ch_req_t *req, long long id,
    const char *const *from, const char *to, const char *reason,
    struct json_t *detail, int *version);

/* A quote the move itself stores (ch_wf_transition_quoted()). */
typedef struct {
	const char *json;	/* the Quote object, compact JSON text */
	const char *total_fen;	/* its total, decimal text */
	bool lock;		/* also sets quote_locked_at (approval) */
} ch_wf_quote_t;

/*
 * ch_wf_transition() that also stores quote in the same UPDATE and returns
 * the Application object as it now is: *version and *json (text owned by
 * req->pool), the answer for ch_app_respond_with().  One UPDATE where a
 * quote store and a move were two (and the second update of a row written
 * in the same transaction repeats its foreign-key checks), and no read
 * afterwards.  No reason, no audit detail beyond from and to.
 */
ch_wf_result_t ch_wf_transition_quoted(ch_req_t *req, long long id,
    const char *const *from, const char *to, const ch_wf_quote_t *quote,
    int *version, const char **json);

/* Records the creation of an application (history: NULL → draft; audit
 * application.created). */
int ch_wf_created(ch_req_t *req, long long id);

/*
 * Queues an SMS to the application's handler_phone in the caller's
 * transaction (and NOTIFYs the sender).  text is the complete message,
 * which must start with 【四川CA】; template and params are kept with the
 * row.  Does nothing (returns 0) when the application has no handler phone.
 */
int ch_wf_notify(ch_req_t *req, long long id, const char *template,
    struct json_t *params, const char *text);

/* Sets a 409 conflict problem naming the current state of application id,
 * after a CH_WF_ILLEGAL. */
void ch_wf_conflict(ch_req_t *req, long long id, const char *action);

#endif
