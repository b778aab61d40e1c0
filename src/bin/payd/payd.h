/*
 * The payment daemon, certhall-payd (issue 5; docs/CONTRACT.md
 * "certhall-payd"; src/payd/): the side of payments that no request waits
 * for.
 *
 * The web workers create orders and apply the gateway's notifications;
 * this process keeps the books and the gateway agreeing afterwards:
 *
 *   - an open order older than the query interval, not queried within it,
 *     is queried at the gateway, and a SUCCESS there is applied with
 *     ch_payment_apply(..., "query") (certhall/payment.h): a lost
 *     notification costs the payer nothing;
 *   - an open order past its expiry is queried (a payment made in time is
 *     still captured), else closed at the gateway and marked "expired"; a
 *     payment that arrives after that is refunded by the ordinary path;
 *   - a pending refund is sent with ch_paygw_refund() under its own
 *     out_refund_no, so sending it again (after a crash, on another
 *     daemon) is never a second refund; UNAVAILABLE backs off (1 s
 *     doubling to 5 min), REFUSED marks it "failed" with the gateway's
 *     reason, PROCESSING is polled with ch_paygw_refund_query() until it
 *     is SUCCESS (or ABNORMAL: "failed").
 *
 * Each item is one step: a short transaction that claims one row with
 * FOR UPDATE SKIP LOCKED (so two daemons never act on the same row) and
 * leases it (payment_order.queried_at, refund.next_attempt_at), then the
 * gateway call outside any transaction, then one transaction that records
 * the outcome, taking the application's row lock first (the lock order of
 * sql/0009_payments.sql).  Every change is an audit event by actor
 * "system": payment.order_expired, payment.refund_processing,
 * payment.refund_succeeded, payment.refund_failed, and those of
 * ch_payment_apply().  A refund attempt that only failed to reach the
 * gateway changes refund.last_error and its next attempt, and is logged,
 * not audited.
 *
 * It also runs the overdue sweep of issue 14 (certhall/domain/calendar.h
 * ch_deadline_sweep_step()): an application whose due_by has passed
 * unfulfilled is flagged once, audited (application.overdue) and
 * announced by SMS to the operations desk's duty phone
 * ($CERTHALL_OPERATOR_PHONE), in one transaction, within about a second
 * (IDLE_WAIT_MS) of its deadline.  Here because this is the hall's one
 * daemon that already wakes every second as the system; the sweep needs
 * nothing of the gateway.
 */
#ifndef CERTHALL_PAYD_H
#define CERTHALL_PAYD_H

#include "certhall/clients/paygw.h"

/* Seconds an open order waits before the daemon asks the gateway about
 * it, and between two questions about the same order. */
#define CH_PAYD_QUERY_AFTER_DEFAULT 60

typedef struct ch_payd_config {
	const char *conninfo;		/* libpq conninfo (the app role) */
	ch_paygw_t *gw;			/* borrowed */
	long query_after_s;		/* >= 1 */
	const char *operator_phone;	/* overdue SMS; NULL: none sent */
} ch_payd_config_t;

/*
 * Runs the daemon until SIGTERM or SIGINT: LISTEN payment (the API
 * notifies it with each refund it queues), and a round of steps at least
 * every second.  Survives the database going away (reconnects, LISTENs
 * again, and writes a refund's outcome it could not write before) and the
 * gateway going away (backs off).  On a signal it finishes the step in
 * hand and returns 0; any other return is a sysexits code.  SIGTERM,
 * SIGINT and SIGHUP are blocked on entry.
 */
int ch_payd_run(const ch_payd_config_t *cfg);

#endif
