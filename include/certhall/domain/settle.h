/*
 * Settlement (SPEC §6; issue 5): what an approved application still owes
 * before it is issued, and the step from awaiting_payment /
 * awaiting_verification to issuing.
 *
 * The requirements by business (sql/0008_settlement.sql):
 *
 *	new, reissue	paid
 *	renew		paid and possession proven
 *	change		verified (SMS code) and possession proven
 *	revoke, unlock	verified (SMS code)
 *
 * Payments (api/payments.c, the payment daemon) and verification
 * (api/verification.c) each record their own fact on the application row
 * (paid_at, verified_at, possession_proven_at) and then call
 * ch_settle_try() in the same transaction, which moves the application on
 * once nothing is owed.  Nothing here commits.
 */
#ifndef CERTHALL_SETTLE_H
#define CERTHALL_SETTLE_H

#include <stdbool.h>

#include "certhall/domain/fees.h"
#include "certhall/store/ctx.h"

/* The facts an approved application is settled on. */
typedef enum {
	CH_SETTLE_PAID = 1 << 0,	/* payment captured (paid_at) */
	CH_SETTLE_VERIFIED = 1 << 1,	/* SMS code verified (verified_at) */
	CH_SETTLE_POSSESSION = 1 << 2,	/* proof of possession (possession_proven_at) */
} ch_settle_fact_t;

/* The facts business needs (a mask of ch_settle_fact_t).  Pure. */
unsigned ch_settle_needs(ch_business_t business);

typedef enum {
	CH_SETTLE_MOVED,	/* it was owed nothing more: now issuing, job queued */
	CH_SETTLE_WAITING,	/* still owes something (or is not awaiting) */
	CH_SETTLE_ERROR,	/* database error, logged */
} ch_settle_result_t;

/*
 * Records fact (one ch_settle_fact_t, or 0 for none) on application id,
 * then, if the application is awaiting payment or verification and owes
 * nothing more, moves it to issuing in the caller's transaction: the
 * guarded transition with its history row and audit event
 * (certhall/workflow.h), settled_at, the signing job (a snapshot of the
 * application, sql/0008_settlement.sql) with NOTIFY signing_job, and the
 * SMS telling the handler.  The row is locked FOR UPDATE first, so of
 * concurrent settlers exactly one moves it.  Recording a fact that is
 * already recorded keeps the first time.
 */
ch_settle_result_t ch_settle_record(ch_ctx_t *ctx, long long id,
    ch_settle_fact_t fact);

#endif
