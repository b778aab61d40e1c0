/*
 * Review (SPEC §5 step 3; docs/CONTRACT.md "Applications, materials,
 * review"): the reviewers' queue and their decision.
 *
 * A decision runs in the caller's transaction on an application it loaded
 * with CH_APP_READ_LOCKED (certhall/domain/application.h), so of two
 * reviewers deciding at once the second waits for the first's commit and
 * then finds the application no longer submitted (nothing changed).  It
 * does the guarded transitions with their history rows and audit events
 * (certhall/domain/workflow.h); the review columns; at approval the quote
 * recomputed under the schedule in force and locked; and the SMS that
 * tells the handler, through the outbox.  The reviewer's reason is
 * personal to the applicant: it goes to the application, its history, the
 * audit event and the SMS, never to the server log.  Nothing here commits.
 */
#ifndef CERTHALL_REVIEW_H
#define CERTHALL_REVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/domain/application.h"
#include "certhall/store/ctx.h"

#define CH_REVIEW_REASON_MIN 2		/* characters */
#define CH_REVIEW_REASON_MAX 500
#define CH_REVIEW_MATERIALS_MAX 5	/* kinds a return names */

typedef enum {
	CH_REVIEW_APPROVE,
	CH_REVIEW_REJECT,
	CH_REVIEW_RETURN,
	CH_REVIEW__MAX
} ch_review_decision_t;

/* "approve", "reject", "return", index = decision, NULL-terminated. */
extern const char *const ch_review_decision_codes[CH_REVIEW__MAX + 1];

typedef struct {
	ch_review_decision_t decision;
	const char *reason;		/* NULL when not given */
	bool has_materials;		/* materials given */
	unsigned materials;		/* bit i: ch_material_kinds[i] */
} ch_review_t;

/*
 * The rules between a decision's members: reject and return need a
 * reason; return needs the materials to replace and only return takes
 * them; approve takes neither.  0, or 1 with *r naming the member.  Pure.
 */
int ch_review_check(const ch_review_t *d, ch_app_refusal_t *r);

typedef enum {
	CH_REVIEW_DONE,		/* decided; the caller commits */
	CH_REVIEW_CONFLICT,	/* not (or no longer) submitted: nothing
				 * changed; the 409 names the status now */
	CH_REVIEW_REFUSED,	/* a return names a material the application
				 * does not require: *r */
	CH_REVIEW_UNPRICED,	/* approve: the application cannot be priced
				 * as it is (fee data changed since submit):
				 * r->detail */
	CH_REVIEW_ERROR,	/* database error, logged */
} ch_review_result_t;

/*
 * Decides d (checked with ch_review_check()) about application a, loaded
 * with CH_APP_READ_LOCKED in the caller's transaction, by ctx->principal
 * (a reviewer):
 *   approve  submitted -> approved, the quote recomputed and locked, then
 *            on to awaiting_payment (settlement "pay", SMS with the amount)
 *            or awaiting_verification ("verify"); two history rows;
 *   reject   submitted -> rejected, final; SMS with the reason;
 *   return   submitted -> returned, naming the materials to replace; SMS
 *            with their names and the reason.
 * A reason too long for one SMS is shortened in the message, never in the
 * application.  After anything but CH_REVIEW_DONE the caller rolls back.
 */
ch_review_result_t ch_review_decide(ch_ctx_t *ctx, const ch_app_t *a,
    const ch_review_t *d, ch_app_refusal_t *r);

/* ---- the queue ----------------------------------------------------------- */

typedef struct {
	long long limit;		/* items on a page, >= 1 */
	bool after;			/* a cursor was given: */
	long long after_us;		/* its submitted_at, µs since 1970 */
	long long after_id;
	/* NULL: any */
	const char *business_type, *certificate_type, *channel;
} ch_review_query_t;

/* Reads a cursor the queue gave into q (after, after_us, after_id).  0, or
 * -1 if s is not one.  Pure. */
int ch_review_cursor_decode(const char *s, ch_review_query_t *q);

/*
 * One page of the submitted applications, oldest submitted first (tie:
 * id), filtered by q: {"items": [Application in list form...],
 * "next_cursor": cursor|null} as JSON text (owned by ctx->pool, *len
 * bytes).  NULL after a database error (logged).
 */
const char *ch_review_queue(ch_ctx_t *ctx, const ch_review_query_t *q,
    size_t *len);

#endif
