/*
 * Payments in our books (SPEC §6; issue 5; sql/0009_payments.sql): what a
 * successful gateway transaction does to its order and application, shared
 * by the notification handler (api/payments.c) and the payment daemon's
 * active queries (certhall-payd), so money is applied one way whichever
 * side learns of it first.  Nothing here commits.
 */
#ifndef CERTHALL_PAYMENT_H
#define CERTHALL_PAYMENT_H

#include <stdbool.h>

#include "certhall/domain/workflow.h"
#include "certhall/store/ctx.h"
#include "certhall/clients/paygw.h"

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
 * ("notify" or "query"), in the caller's transaction: locks the order's
 * application, then the order (the lock order of sql/0009_payments.sql),
 * records the payment (unique on provider and transaction id), marks the
 * order paid and records the fact with ch_settle_record()
 * (certhall/settle.h), or, when the order can no longer take the money
 * (ch_payment_refund_why()), closes the order, queues an automatic refund
 * (NOTIFY payment) and tells the handler by SMS; writes the audit event
 * "payment.captured" or "payment.refund_due" (actor: ctx->principal, e.g.
 * the system).  The amount and currency must be the order's, else
 * CH_PAY_MISMATCH (so is a txn that is not SUCCESS or lacks a transaction
 * id); refusals are logged.  After anything but CAPTURED, DUPLICATE and
 * REFUND_DUE the caller rolls back.
 */
ch_pay_result_t ch_payment_apply(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *source);

/* ---- what an arrival does: the pure rules --------------------------------- */

/* Why money that arrived cannot pay its application (CH_PAY_REFUND_DUE),
 * in the order ch_payment_refund_why() checks. */
typedef enum {
	CH_PAY_WHY_NONE,		/* it can: captured */
	CH_PAY_WHY_ALREADY_PAID,	/* a payment was captured before */
	CH_PAY_WHY_NOT_AWAITING,	/* cancelled, rejected, ... */
	CH_PAY_WHY_ORDER_EXPIRED,	/* paid after the order's expiry */
	CH_PAY_WHY_ORDER_CLOSED,	/* the order was closed (cancel, counter) */
	CH_PAY_WHY__MAX
} ch_pay_why_t;

/* The facts the decision is made on, read under the locks. */
typedef struct {
	const char *order_status;	/* open, paid, expired, closed */
	long long order_expires_at;	/* unix seconds */
	long long paid_at;		/* the gateway's success time (or, when it
					 * gave none, now), unix seconds */
	ch_app_status_t app_status;
	bool app_paid;			/* paid_at set or a captured payment */
} ch_pay_facts_t;

/*
 * Whether the money of f can pay its application: CH_PAY_WHY_NONE, or the
 * first reason it cannot.  A payment made before the order's expiry is
 * captured however late its notification arrives.  Pure.
 */
ch_pay_why_t ch_payment_refund_why(const ch_pay_facts_t *f);

/* The reason's code for audit details ("already_paid", ...) and its text
 * for the refund row and the SMS ("重复支付", ...); "" for NONE. */
const char *ch_payment_why_code(ch_pay_why_t why);
const char *ch_payment_why_text(ch_pay_why_t why);

/* "CH" or "RF" + 14 digits of Shanghai time + 10 digits: our order and
 * refund numbers at the gateway (sql/0009_payments.sql).  With its NUL. */
#define CH_PAY_NO_SIZE 27

/* Formats prefix, the Shanghai time of now (unix seconds) and
 * rnd % 10^10 into out.  Pure. */
void ch_payment_number_format(const char *prefix, long long now,
    unsigned long long rnd, char out[CH_PAY_NO_SIZE]);
/* The same with the clock and CSPRNG digits: a new number. */
void ch_payment_number(const char *prefix, char out[CH_PAY_NO_SIZE]);

/*
 * Parses an RFC 3339 timestamp as gateways send them
 * ("2026-11-24T10:54:00+08:00", "...Z", fractional seconds dropped) into
 * unix seconds.  0, or -1 when s is not one (a bad date included).  Pure.
 */
int ch_payment_parse_time(const char *s, long long *out);

/* ---- orders, counter payments, refunds ------------------------------------- */

typedef struct {
	long long id;
	char out_trade_no[CH_PAY_NO_SIZE];
	long long expires_at;		/* unix seconds */
} ch_pay_order_t;

/*
 * Opens an order for application app_id (locked by the caller) of
 * amount_fen with provider ("sandbox", "counter"), payable for ttl_seconds
 * from now, created by ctx->principal, with a new out_trade_no.  The
 * caller has closed any other open one (one open order per application).
 * 0 with *out filled, or -1 (database error, logged).
 */
int ch_payment_order_new(ch_ctx_t *ctx, long long app_id,
    const char *provider, long long amount_fen, long long ttl_seconds,
    ch_pay_order_t *out);

/*
 * Records a payment taken at the counter (method "cash" or "pos", the
 * receipt number as its transaction id, recorded by the clerk in
 * ctx->principal) for application app_id as one more order of provider
 * "counter", through the same path as ch_payment_apply().  The caller has
 * locked the application (certhall/application.h CH_APP_CHANGE), checked it
 * awaits payment and that amount_fen is its locked quote, and closed any
 * open online order (ch_payment_close_open()).  CH_PAY_CAPTURED with
 * *payment_id set; CH_PAY_DUPLICATE when the receipt number is recorded
 * already (nothing changed); CH_PAY_ERROR.
 */
ch_pay_result_t ch_payment_counter(ch_ctx_t *ctx, long long app_id,
    const char *method, const char *receipt_no, long long amount_fen,
    long long *payment_id);

/*
 * Closes the application's open orders in our books (status "expired"
 * when past expires_at, else "closed"), the application locked by the
 * caller.  *trade_nos (if not NULL) receives their out_trade_no values, a
 * NULL-terminated pool array, so the caller can close them at the gateway
 * after its commit (best effort: a payment that still arrives is refunded).
 * 0, or -1 (database error, logged).
 */
int ch_payment_close_open(ch_ctx_t *ctx, long long app_id,
    const char ***trade_nos);

/* What a refund asked for by finance does, by the application's status and
 * its signing job's (NULL when it has none). */
typedef enum {
	CH_REFUND_ONLY,		/* cancelled, rejected: the money goes back */
	CH_REFUND_CANCEL,	/* awaiting payment or verification (paid, still
				 * owing possession): also cancel it */
	CH_REFUND_CANCEL_JOB,	/* issuing, its job still queued: cancel the
				 * job and the application */
	CH_REFUND_ISSUED,	/* its job is claimed, done or failed, or it is
				 * past issuing: refused (revoke it first) */
	CH_REFUND_REFUSED,	/* any other status: refused */
} ch_refund_plan_t;

/* Pure. */
ch_refund_plan_t ch_payment_refund_plan(ch_app_status_t app_status,
    const char *job_status);

/*
 * Queues the full refund of payment payment_id (of application app_id) that
 * finance asked for (ctx->principal, with reason): a refund row,
 * "succeeded" at once for a counter payment (paid out at the window), else
 * "pending" for the payment daemon (NOTIFY payment); and the audit event
 * "payment.refund_requested".  Automatic refunds are ch_payment_apply()'s.
 * The caller holds the application's lock.  *refund_id (if not NULL)
 * receives its id.  0, or -1 (database error, logged; or the payment has a
 * refund already).
 */
int ch_payment_refund(ch_ctx_t *ctx, long long app_id, long long payment_id,
    const char *reason, long long *refund_id);

#endif
