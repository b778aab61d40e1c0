/*
 * Payments in our books (SPEC §6; issue 5; sql/0009_payments.sql): what a
 * successful gateway transaction does to its order and application, shared
 * by the notification handler (api/payments.c) and the payment daemon's
 * active queries (certhall-payd), so money is applied one way whichever
 * side learns of it first.  Nothing here commits.
 */
#ifndef CERTHALL_PAYMENT_H
#define CERTHALL_PAYMENT_H

#include "certhall/http.h"
#include "certhall/paygw.h"

typedef enum {
	CH_PAY_CAPTURED,	/* it paid its application (which may now be issuing) */
	CH_PAY_DUPLICATE,	/* this transaction was applied before: nothing changed */
	CH_PAY_REFUND_DUE,	/* recorded and a refund queued: the order had
				 * expired or closed, the application was
				 * cancelled, or it was paid already */
	CH_PAY_UNKNOWN_ORDER,	/* no such out_trade_no: nothing changed */
	CH_PAY_MISMATCH,	/* amount or currency differs from the order:
				 * nothing changed */
	CH_PAY_ERROR,		/* database error, logged */
} ch_pay_result_t;

/*
 * Applies txn (trade_state SUCCESS) from provider, learnt by source
 * ("notify" or "query"), in the caller's transaction: locks the order and
 * its application, records the payment (unique on provider and
 * transaction id), marks the order paid and records the fact with
 * ch_settle_record() (certhall/settle.h), or queues the refund; writes the
 * audit event (actor: req->principal, e.g. the system) either way.
 */
ch_pay_result_t ch_payment_apply(ch_req_t *req, const char *provider,
    const ch_paygw_txn_t *txn, const char *source);

#endif
