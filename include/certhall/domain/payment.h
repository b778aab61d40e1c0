/*
 * Payments in our books (SPEC §6; issue 5; sql/0009_payments.sql): what
 * money does to an application, decided here whichever way we learn of
 * it (a notification, the payer's GET, the payment daemon's query, the
 * counter), and every act on an application's money: opening an order,
 * counter payments, refunds and their retry, the payment view.  The
 * handlers (api/payments.c) turn the results into answers; the payment
 * daemon (src/bin/payd/) uses the same functions where it does the same
 * things.
 *
 * Transactions are the caller's: nothing here begins or commits, except
 * ch_payment_apply_alone() and ch_payment_show(), which say so.  Orders
 * closed in our books are closed at the gateway only after the caller's
 * commit (ch_payment_close_at_gateway()).
 */
#ifndef CERTHALL_PAYMENT_H
#define CERTHALL_PAYMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/domain/application.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/ctx.h"
#include "certhall/clients/paygw.h"

struct json_t;

/*
 * THE definition of "paid", an SQL boolean over "application a": money was
 * captured for it.  Its paid_at is set (ch_settle_record(CH_SETTLE_PAID),
 * in the transaction that captures a payment) or it has a captured
 * payment (at most one: payment_one_captured).  Every decision on "paid"
 * uses it: paying again, money arriving (ch_payment_apply()), the
 * handler's cancel (ch_payment_is_paid()) and settlement
 * (src/domain/settle.c).  A refund does not make an application unpaid:
 * it cancels it.
 */
#define CH_SQL_APP_PAID \
	"(a.paid_at IS NOT NULL OR EXISTS (SELECT 1 FROM payment paid" \
	"   WHERE paid.application_id = a.id" \
	"   AND paid.disposition = 'captured'))"

/* Whether application app_id is paid (CH_SQL_APP_PAID), read in the
 * caller's transaction (after its lock, so it holds until the commit).
 * 1 paid, 0 not, -1 after a database error (logged) or when there is no
 * such application. */
int ch_payment_is_paid(ch_ctx_t *ctx, long long app_id);

/* Locks application app_id's row (SELECT ... FOR UPDATE) in the caller's
 * open transaction on db: the lock order of sql/0009_payments.sql takes
 * the application before its orders, payments, refunds and invoices, and
 * every writer of those (web workers, certhall-payd, certhall-invoiced)
 * keeps it.  0, or -1 after a database error (logged) or when there is no
 * such application. */
int ch_payment_lock_app(ch_db_t *db, ch_pool_t *pool, const char *app_id);

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

/*
 * ch_payment_apply() in a transaction of its own, for what a gateway
 * reported when asked (the payer's GET, the payment daemon): begins,
 * applies, commits CAPTURED, DUPLICATE and REFUND_DUE, rolls back
 * UNKNOWN_ORDER and MISMATCH (logged by ch_payment_apply()).  CH_PAY_ERROR
 * also when the begin, commit or rollback failed; the transaction is then
 * ended (ch_db_finish()).
 */
ch_pay_result_t ch_payment_apply_alone(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *source);

/*
 * A verified notification (ch_paygw_verify_notice()) from provider, in the
 * caller's transaction: ch_payment_apply(..., "notify"), then, for
 * CAPTURED, DUPLICATE and REFUND_DUE, the notification as received (body,
 * body_len bytes of JSON) with its outcome, once per notification id
 * (sql/0009_payments.sql payment_notification).  Returns what
 * ch_payment_apply() returned (CH_PAY_ERROR also when the record failed);
 * after anything but CAPTURED, DUPLICATE and REFUND_DUE the caller rolls
 * back.
 */
ch_pay_result_t ch_payment_notified(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *body, size_t body_len);

/* The outcome a notification is recorded with: "captured", "duplicate",
 * "refund_due"; "" for the others. */
const char *ch_payment_result_code(ch_pay_result_t r);

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

/* ---- what an application owes ------------------------------------------ */

/* What paying an application needs to know of it, read under its lock. */
typedef struct {
	bool paid;			/* CH_SQL_APP_PAID */
	bool quote_locked;		/* approved: quote_locked_at set */
	long long total_fen;		/* quote_total_fen, 0 when none */
	const char *business_name;	/* for the order's description (pool) */
} ch_pay_due_t;

/* Whether an application can be paid now. */
typedef enum {
	CH_PAYABLE,		/* awaiting payment, unpaid, its quote locked */
	CH_PAYABLE_PAID,	/* paid already */
	CH_PAYABLE_NOT_AWAITING,/* in another status */
	CH_PAYABLE_NO_QUOTE,	/* awaiting payment without a locked quote: a
				 * fault (logged where it is read) */
} ch_payable_t;

/* The first reason, in the order above, an application of status owing
 * due cannot be paid; CH_PAYABLE when it can.  Pure. */
ch_payable_t ch_payment_payable(ch_app_status_t status,
    const ch_pay_due_t *due);

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

/* What an act on an application's money hands back.  Strings and arrays
 * belong to ctx->pool. */
typedef struct {
	ch_payable_t payable;	/* why it cannot be paid (..._UNPAYABLE) */
	long long total_fen;	/* the locked quote (CH_COUNTER_WRONG_AMOUNT) */
	const char *json;	/* the object to answer with, JSON text:
				 * PaymentOrder, Payment or Refund */
	const char **stale;	/* orders this closed in our books, to close
				 * at the gateway after the commit
				 * (ch_payment_close_at_gateway()); NULL or
				 * NULL-terminated */
	ch_refund_plan_t plan;	/* refunds: what it did or why it was denied */
	const char *job_status;	/* refunds: the signing job's, NULL if none */
} ch_pay_out_t;

/* ---- orders, counter payments, refunds ------------------------------------- */

/* What POST .../payment came to. */
typedef enum {
	CH_ORDER_AGAIN,		/* its open order is still payable: out->json
				 * is that order again (one open order per
				 * application, so two tabs pay one order) */
	CH_ORDER_OPENED,	/* a new order, made at the gateway: out->json,
				 * out->stale (the one it replaced) */
	CH_ORDER_UNPAYABLE,	/* out->payable says why; nothing changed */
	CH_ORDER_NO_GATEWAY,	/* gw is NULL: online payment is off */
	CH_ORDER_GATEWAY_DOWN,	/* the gateway did not take the order (logged):
				 * the caller rolls back, so no order is left
				 * in our books */
	CH_ORDER_ERROR,		/* database error, logged */
} ch_order_result_t;

/*
 * Opens (or shows again) the payment order of application a, loaded and
 * locked by the caller with CH_APP_CHANGE in its transaction.  The order
 * is for the locked quote_total_fen and lasts ch_paygw_order_ttl(gw)
 * seconds.  An open order that is past its expiry (or was never sent) is
 * closed and a new one is inserted, sent to the gateway (gw: the worker's
 * client, NULL when online payment is off) and recorded, all under the
 * application's lock; if the gateway fails nothing is to be kept: one it
 * may have made anyway has a number nobody holds and expires there.
 * The caller commits after AGAIN and OPENED (then closes out->stale at the
 * gateway) and rolls back after anything else.
 */
ch_order_result_t ch_payment_open(ch_ctx_t *ctx, ch_paygw_t *gw,
    const ch_app_t *a, ch_pay_out_t *out);

/* What a counter payment came to. */
typedef enum {
	CH_COUNTER_RECORDED,	/* captured: out->json the Payment, out->stale */
	CH_COUNTER_UNPAYABLE,	/* out->payable says why; nothing changed */
	CH_COUNTER_WRONG_AMOUNT,/* not the locked quote (out->total_fen) */
	CH_COUNTER_DUPLICATE,	/* the receipt number is recorded already */
	CH_COUNTER_ERROR,	/* database error, logged */
} ch_counter_result_t;

/*
 * Records a payment taken at the counter for application a (loaded and
 * locked by the caller with CH_APP_CHANGE): method "cash" or "pos", the
 * receipt number as its transaction id, recorded by the clerk in
 * ctx->principal, amount_fen which must be the locked quote.  Its open
 * online orders are closed (out->stale) and the money goes through the
 * same path as ch_payment_apply(), as one more order of provider
 * "counter".  The caller commits after RECORDED and rolls back after
 * anything else.
 */
ch_counter_result_t ch_payment_counter(ch_ctx_t *ctx, const ch_app_t *a,
    const char *method, const char *receipt_no, long long amount_fen,
    ch_pay_out_t *out);

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

/*
 * Closes trade_nos (NULL-terminated, or NULL) at the gateway, after the
 * commit that closed them in our books, best effort: failures are logged,
 * and a payment that still arrives is refunded.  With gw NULL (no online
 * payment) they are left to expire there (logged).
 */
void ch_payment_close_at_gateway(ch_ctx_t *ctx, ch_paygw_t *gw,
    const char *const *trade_nos);

/* What a refund does by the application's status and its signing job's
 * (NULL when it has none).  Pure. */
ch_refund_plan_t ch_payment_refund_plan(ch_app_status_t app_status,
    const char *job_status);

/* What a refund finance asked for came to. */
typedef enum {
	CH_REFUNDED,		/* queued (paid out at once for a counter
				 * payment), the application cancelled as
				 * out->plan says: out->json the Refund,
				 * out->stale */
	CH_REFUND_NOTHING,	/* no captured payment left to refund */
	CH_REFUND_DENIED,	/* out->plan is CH_REFUND_ISSUED (out->job_status)
				 * or CH_REFUND_REFUSED */
	CH_REFUND_MOVED,	/* the workflow refused the cancel: the caller
				 * answers with the status now */
	CH_REFUND_ERROR,	/* database error, logged */
} ch_refund_result_t;

/*
 * The full refund of application a's captured payment that finance
 * (ctx->principal) asked for, with reason, a loaded and locked by the
 * caller (CH_APP_READ_LOCKED).  By ch_payment_refund_plan(): a queued
 * signing job is cancelled, then the application (history, audit
 * application.cancelled with the reason and {"refund": true}); its open
 * orders are closed (out->stale); the refund row is queued, "succeeded" at
 * once for a counter payment (paid out at the window), else "pending" for
 * the payment daemon (NOTIFY payment), with the audit event
 * "payment.refund_requested"; and the handler is told by SMS.  Automatic
 * refunds are ch_payment_apply()'s.  The caller commits after REFUNDED and
 * rolls back after anything else.
 */
ch_refund_result_t ch_payment_refund(ch_ctx_t *ctx, const ch_app_t *a,
    const char *reason, ch_pay_out_t *out);

/*
 * Puts every failed refund of application app_id (locked by the caller)
 * back to pending, due now, each under its own out_refund_no (the gateway
 * answers a repeated number with the same refund, so a retry never pays
 * out twice), with the audit event "payment.refund_retried" (its previous
 * error), and wakes the payment daemon.  *refunds receives the Refund
 * objects, a JSON array borrowed from ctx->pool.  The number retried (the
 * caller commits), 0 when none had failed, -1 after a database error
 * (logged).
 */
int ch_payment_refund_retry(ch_ctx_t *ctx, long long app_id,
    struct json_t **refunds);

/*
 * The PaymentOverview of application app_id (docs/CONTRACT.md): its newest
 * order (an open one past expiry shown "expired"), payments and refunds,
 * as JSON text in *json (pool).  First, while its newest order is open at
 * gw's provider, asks the gateway about it and applies a payment it
 * reports (ch_payment_apply_alone(..., "query")), so a payer back from the
 * gateway before its notification sees the payment; a gateway that does not
 * answer, or answers what cannot be applied, leaves things as they are
 * (logged).  Runs outside the caller's transaction (the application is
 * already visible to the caller).  0, or -1 after a database error.
 */
int ch_payment_show(ch_ctx_t *ctx, ch_paygw_t *gw, long long app_id,
    const char **json);

#endif
