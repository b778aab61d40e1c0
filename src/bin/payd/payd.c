/*
 * The payment daemon's loop (certhall/payd.h).
 *
 * One database connection (ch_db_t, which reconnects by itself), LISTEN
 * payment on it, and a round of steps whenever a NOTIFY arrives or a
 * second has passed.  A round takes one refund at a time, then one order
 * at a time, until neither has anything due.  Each step runs as the actor
 * "system" with a request id "payd-<n>" of its own (in every log line and
 * audit event it writes), on a pool reset before the next step.
 */
#include "payd.h"
#include "certhall/store/audit.h"
#include "certhall/store/ctx.h"
#include "certhall/store/daemon.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/domain/calendar.h"
#include "certhall/domain/invoice.h"
#include "certhall/domain/payment.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE_WAIT_MS 1000	/* a round at least this often */
#define REFUND_LEASE_S 60	/* a claimed refund is due again after this */
#define BACKOFF_CAP_S 300
#define REASON_MAX_CHARS 80	/* what the gateway takes (WeChat Pay: 80) */
#define ERROR_MAX_CHARS 500	/* refund.last_error */
#define RETRY_MIN_MS 250	/* database away: first wait, doubling ... */
#define RETRY_MAX_MS 5000	/* ... to this */

/* ---- statements ------------------------------------------------------ */

/*
 * One open order of our provider that is due: past its expiry, or older
 * than the interval; and not queried within the interval.  Claimed by
 * setting queried_at, so the next daemon passes it by.
 */
static const ch_stmt_t stmt_claim_order = {
	.name = "payd_claim_order",
	.sql = "UPDATE payment_order o SET queried_at = now()"
	       " WHERE o.id = (SELECT id FROM payment_order"
	       "   WHERE status = 'open' AND provider = $1"
	       "     AND (queried_at IS NULL"
	       "          OR queried_at <= now() - $2::int * interval '1 second')"
	       "     AND (expires_at <= now()"
	       "          OR created_at <= now() - $2::int * interval '1 second')"
	       "   ORDER BY expires_at <= now() DESC,"
	       "            coalesce(queried_at, created_at), id"
	       "   LIMIT 1 FOR UPDATE SKIP LOCKED)"
	       " RETURNING o.id, o.out_trade_no, o.application_id,"
	       "  o.expires_at <= now()",
	.nparams = 2,
};

static const ch_stmt_t stmt_expire = {
	.name = "payd_expire",
	.sql = "UPDATE payment_order SET status = 'expired', closed_at = now()"
	       " WHERE id = $1 AND status = 'open' AND expires_at <= now()"
	       " RETURNING amount_fen",
	.nparams = 1,
};

/*
 * One pending refund of a payment through our provider, due now; claimed
 * by counting the attempt and moving its next attempt a lease ahead (a
 * daemon that dies with it leaves it to the next one after the lease).
 */
static const ch_stmt_t stmt_claim_refund = {
	.name = "payd_claim_refund",
	.sql = "UPDATE refund r SET attempts = r.attempts + 1,"
	       "  next_attempt_at = now() + $2::int * interval '1 second'"
	       " FROM payment p"
	       " WHERE p.id = r.payment_id AND r.id = (SELECT r2.id FROM refund r2"
	       "   JOIN payment p2 ON p2.id = r2.payment_id"
	       "   WHERE r2.status = 'pending' AND r2.next_attempt_at <= now()"
	       "     AND p2.provider = $1"
	       "   ORDER BY r2.next_attempt_at, r2.id"
	       "   LIMIT 1 FOR UPDATE OF r2 SKIP LOCKED)"
	       " RETURNING r.id, r.application_id, r.out_refund_no, r.amount_fen,"
	       "  left(r.reason, $3::int), r.gateway_refund_id, r.attempts,"
	       "  p.transaction_id",
	.nparams = 3,
};

/* The outcomes, each only while this claim holds (attempts unchanged). */
static const ch_stmt_t stmt_refund_done = {
	.name = "payd_refund_done",
	.sql = "UPDATE refund SET status = 'succeeded', completed_at = now(),"
	       "  gateway_refund_id = coalesce($3, gateway_refund_id),"
	       "  last_error = NULL"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 3,
};

static const ch_stmt_t stmt_refund_processing = {
	.name = "payd_refund_processing",
	.sql = "UPDATE refund SET gateway_refund_id = coalesce($3,"
	       "  gateway_refund_id), last_error = NULL,"
	       "  next_attempt_at = now() + $4::int * interval '1 second'"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 4,
};

static const ch_stmt_t stmt_refund_retry = {
	.name = "payd_refund_retry",
	.sql = "UPDATE refund SET last_error = left($3, $5::int),"
	       "  next_attempt_at = now() + $4::int * interval '1 second'"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 5,
};

static const ch_stmt_t stmt_refund_failed = {
	.name = "payd_refund_failed",
	.sql = "UPDATE refund SET status = 'failed', completed_at = now(),"
	       "  last_error = left($3, $4::int)"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 4,
};

/* ---- state ----------------------------------------------------------- */

typedef enum {
	OUT_NONE,
	OUT_SUCCEEDED,
	OUT_PROCESSING,
	OUT_RETRY,
	OUT_FAILED,
} outcome_t;

/* A claimed refund and what became of it; kept (in the daemon's own
 * memory, not a pool) until its outcome is written. */
struct refund {
	char id[24], app_id[24], attempts[16];
	char out_refund_no[32], transaction_id[72];
	char gateway_refund_id[72];	/* "" while the gateway gave none */
	bool had_gateway_id;
	long long amount_fen;
	char reason[REASON_MAX_CHARS * 4 + 1];
	outcome_t outcome;
	char error[512];
};

struct payd {
	const ch_payd_config_t *cfg;
	ch_db_t *db;
	ch_pool_t *pool;		/* the step's */
	ch_ctx_t ctx;			/* the step's, as the system */
	int sigfd;
	bool stopping;
	int listen_pid;			/* backend LISTEN was issued on */
	int retry_ms;			/* next wait while the database is away */
	unsigned long long steps;
	char query_after[16];
	struct refund unwritten;	/* outcome == OUT_NONE when none */
};

/* ---- signals and the connection --------------------------------------- */

static void
read_signals(struct payd *d)
{
	ch_daemon_read_signals(d->sigfd, &d->stopping, "the step in hand");
}

/* Connected, and listening on this very connection.  0 or -1. */
static int
ensure_db(struct payd *d)
{
	switch (ch_daemon_listen(d->db, d->pool, "payment", &d->listen_pid)) {
	case 1:
		d->retry_ms = RETRY_MIN_MS;
		return 0;
	case 0:
		return 0;
	default:
		return -1;
	}
}

/* Discards what NOTIFYs have arrived: they only wake us, and a connection
 * they find broken is noticed by the next ensure_db(). */
static void
drain_notifies(struct payd *d)
{
	if (ch_db_conn(d->db) != NULL)
		(void)ch_daemon_drain_notifies(ch_db_conn(d->db));
}

/* Sleeps up to ms, waking for a signal or anything on the database socket
 * (a NOTIFY, or the server closing it). */
static void
wait_for(struct payd *d, int ms)
{
	ch_daemon_idle(d->sigfd, d->db, ms, &d->stopping, "the step in hand");
}

/* Waits while the database is away (or a statement keeps failing): 250 ms
 * doubling to 5 s, so an outage is not a log line every 250 ms. */
static void
wait_retry(struct payd *d)
{
	wait_for(d, d->retry_ms);
	d->retry_ms = d->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
	    : d->retry_ms * 2;
}

/* ---- steps ----------------------------------------------------------- */

/* A fresh context for the next step: the system, its own correlation id. */
static ch_ctx_t *
step_begin(struct payd *d)
{
	ch_daemon_step_begin(&d->ctx, d->pool, d->db, "payd", &d->steps);
	return &d->ctx;
}

static void
step_end(struct payd *d)
{
	ch_daemon_step_end(d->db);
}

/* Runs one statement in a transaction of its own and commits: the claims.
 * The result (pool), or NULL after logging. */
static PGresult *
claim(struct payd *d, const ch_stmt_t *stmt, const char *const *params)
{
	PGresult *res;

	if (ch_db_begin(d->db) != 0)
		return NULL;
	res = ch_db_exec(d->db, d->pool, stmt, params);
	if (res == NULL || ch_db_commit(d->db) != 0) {
		ch_db_finish(d->db);
		return NULL;
	}
	return res;
}

static long
backoff_s(int attempts)
{
	return ch_backoff_s(attempts, BACKOFF_CAP_S);
}

/* ---- refunds ---------------------------------------------------------- */

static void
copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* Claims one due refund into *rf.  1 claimed, 0 none due, -1 error. */
static int
refund_claim(struct payd *d, struct refund *rf)
{
	char lease[16], reason_max[16];
	const char *params[3] = { ch_paygw_provider(d->cfg->gw), lease,
	    reason_max };
	PGresult *res;

	snprintf(lease, sizeof lease, "%d", REFUND_LEASE_S);
	snprintf(reason_max, sizeof reason_max, "%d", REASON_MAX_CHARS);
	res = claim(d, &stmt_claim_refund, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	memset(rf, 0, sizeof *rf);
	copy(rf->id, sizeof rf->id, PQgetvalue(res, 0, 0));
	copy(rf->app_id, sizeof rf->app_id, PQgetvalue(res, 0, 1));
	copy(rf->out_refund_no, sizeof rf->out_refund_no, PQgetvalue(res, 0, 2));
	rf->amount_fen = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	copy(rf->reason, sizeof rf->reason, PQgetvalue(res, 0, 4));
	rf->had_gateway_id = !PQgetisnull(res, 0, 5);
	copy(rf->gateway_refund_id, sizeof rf->gateway_refund_id,
	    PQgetvalue(res, 0, 5));
	copy(rf->attempts, sizeof rf->attempts, PQgetvalue(res, 0, 6));
	copy(rf->transaction_id, sizeof rf->transaction_id,
	    PQgetvalue(res, 0, 7));
	return 1;
}

/* What the gateway's state of a refund means for us. */
static void
refund_state(struct refund *rf, const char *state, const char *refund_id)
{
	if (refund_id != NULL)
		copy(rf->gateway_refund_id, sizeof rf->gateway_refund_id,
		    refund_id);
	if (strcmp(state, "SUCCESS") == 0) {
		rf->outcome = OUT_SUCCEEDED;
	} else if (strcmp(state, "PROCESSING") == 0) {
		rf->outcome = OUT_PROCESSING;
	} else {
		rf->outcome = OUT_FAILED;
		snprintf(rf->error, sizeof rf->error,
		    "the gateway reports the refund %s", state);
	}
}

/* Asks the gateway: a refund it acknowledged before is polled, any other
 * is sent (again: the same out_refund_no is the same refund). */
static void
refund_call(struct payd *d, struct refund *rf)
{
	const char *state = NULL, *refund_id = NULL, *why = NULL;
	ch_paygw_result_t r = CH_PAYGW_REFUSED;

	if (rf->had_gateway_id) {
		r = ch_paygw_refund_query(d->cfg->gw, d->pool, rf->out_refund_no,
		    &state, &why);
		if (r == CH_PAYGW_REFUSED)
			ch_warn("refund \"%s\": the gateway does not know it "
			    "(%s); sending it again", rf->out_refund_no, why);
	}
	if (!rf->had_gateway_id || r == CH_PAYGW_REFUSED)
		r = ch_paygw_refund(d->cfg->gw, d->pool, rf->out_refund_no,
		    rf->transaction_id, rf->amount_fen, rf->reason, &refund_id,
		    &state, &why);
	switch (r) {
	case CH_PAYGW_OK:
		refund_state(rf, state, refund_id);
		break;
	case CH_PAYGW_REFUSED:
		rf->outcome = OUT_FAILED;
		snprintf(rf->error, sizeof rf->error, "refused by the gateway: %s",
		    why);
		break;
	case CH_PAYGW_UNAVAILABLE:
	default:
		rf->outcome = OUT_RETRY;
		snprintf(rf->error, sizeof rf->error, "%s", why ? why : "?");
		break;
	}
}

static void
refund_log(const struct refund *rf)
{
	int n = atoi(rf->attempts);

	switch (rf->outcome) {
	case OUT_SUCCEEDED:
		ch_info("refund \"%s\" (refund %s, application %s) succeeded, "
		    "attempt %d", rf->out_refund_no, rf->id, rf->app_id, n);
		break;
	case OUT_PROCESSING:
		ch_info("refund \"%s\" (refund %s) is processing at the gateway; "
		    "asking again in %ld s", rf->out_refund_no, rf->id,
		    backoff_s(n));
		break;
	case OUT_RETRY:
		ch_warn("refund \"%s\" (refund %s) not sent, attempt %d, next in "
		    "%ld s: %s", rf->out_refund_no, rf->id, n, backoff_s(n),
		    rf->error);
		break;
	case OUT_FAILED:
		ch_error("refund \"%s\" (refund %s, application %s) failed: %s",
		    rf->out_refund_no, rf->id, rf->app_id, rf->error);
		break;
	case OUT_NONE:
		break;
	}
}

/* The audit event of an outcome that changes the refund's state; NULL
 * action for those that do not. */
static int
refund_audit(struct payd *d, const struct refund *rf)
{
	const char *action = NULL;
	json_t *detail;

	if (rf->outcome == OUT_SUCCEEDED)
		action = "payment.refund_succeeded";
	else if (rf->outcome == OUT_FAILED)
		action = "payment.refund_failed";
	else if (rf->outcome == OUT_PROCESSING && !rf->had_gateway_id)
		action = "payment.refund_processing";
	if (action == NULL)
		return 0;
	detail = json_pack("{s:I, s:s, s:s, s:I, s:i}",
	    "application_id", (json_int_t)strtoll(rf->app_id, NULL, 10),
	    "out_refund_no", rf->out_refund_no,
	    "transaction_id", rf->transaction_id,
	    "amount_fen", (json_int_t)rf->amount_fen,
	    "attempts", atoi(rf->attempts));
	if (detail == NULL)
		ch_oom();
	if (rf->gateway_refund_id[0] != '\0')
		json_object_set_new(detail, "gateway_refund_id",
		    json_string(rf->gateway_refund_id));
	if (rf->outcome == OUT_FAILED)
		json_object_set_new(detail, "error", json_string(rf->error));
	return ch_audit(&d->ctx, action, "refund", rf->id, detail);
}

/*
 * Writes rf's outcome in one transaction: the application locked first,
 * the refund row (while our claim holds it), the audit event.  0 when done
 * with it (written, or the row has moved on); -1 when the database could
 * not be reached and it must be written later.
 */
static int
refund_record(struct payd *d, struct refund *rf)
{
	char delay[16], errmax[16];
	const char *params[5] = { rf->id, rf->attempts, NULL, NULL, NULL };
	const ch_stmt_t *stmt;
	PGresult *res;

	snprintf(delay, sizeof delay, "%ld", backoff_s(atoi(rf->attempts)));
	snprintf(errmax, sizeof errmax, "%d", ERROR_MAX_CHARS);
	switch (rf->outcome) {
	case OUT_SUCCEEDED:
		stmt = &stmt_refund_done;
		params[2] = rf->gateway_refund_id[0] ? rf->gateway_refund_id : NULL;
		break;
	case OUT_PROCESSING:
		stmt = &stmt_refund_processing;
		params[2] = rf->gateway_refund_id[0] ? rf->gateway_refund_id : NULL;
		params[3] = delay;
		break;
	case OUT_RETRY:
		stmt = &stmt_refund_retry;
		params[2] = rf->error;
		params[3] = delay;
		params[4] = errmax;
		break;
	case OUT_FAILED:
		stmt = &stmt_refund_failed;
		params[2] = rf->error;
		params[3] = errmax;
		break;
	case OUT_NONE:
	default:
		return 0;
	}
	if (ch_db_begin(d->db) != 0)
		goto lost;
	if (ch_payment_lock_app(d->db, d->pool, rf->app_id) != 0 ||
	    (res = ch_db_exec(d->db, d->pool, stmt, params)) == NULL)
		goto failed;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		ch_warn("refund \"%s\": outcome not recorded, the row has moved "
		    "on (its lease ran out?)", rf->out_refund_no);
		ch_db_rollback(d->db);
		return 0;
	}
	/* A refund that succeeded gets its red invoice in the same
	 * transaction (certhall/domain/invoice.h). */
	if (rf->outcome == OUT_SUCCEEDED &&
	    ch_invoice_queue_red(&d->ctx, strtoll(rf->id, NULL, 10)) != 0)
		goto failed;
	if (refund_audit(d, rf) != 0 || ch_db_commit(d->db) != 0)
		goto failed;
	return 0;
failed:
	ch_db_finish(d->db);
lost:
	if (ch_db_conn(d->db) == NULL) {
		ch_warn("refund \"%s\": outcome kept until the database is back",
		    rf->out_refund_no);
		return -1;
	}
	/* A statement error on a live connection: the lease runs out and the
	 * refund is asked about again (the same out_refund_no). */
	return 0;
}

/* One refund: claim, ask, record.  1 when there was one, 0 none, -1 the
 * database is away. */
static int
refund_step(struct payd *d)
{
	struct refund *rf = &d->unwritten;
	int rc;

	step_begin(d);
	if ((rc = refund_claim(d, rf)) <= 0) {
		step_end(d);
		return rc;
	}
	refund_call(d, rf);
	refund_log(rf);
	if (refund_record(d, rf) == 0)
		rf->outcome = OUT_NONE;
	step_end(d);
	return rf->outcome == OUT_NONE ? 1 : -1;
}

/* ---- orders ----------------------------------------------------------- */

struct order {
	char id[24], app_id[24], out_trade_no[40];
	bool expired;
};

/* Applies a SUCCESS the gateway reported in its own transaction
 * (ch_payment_apply_alone(), as the payer's GET does).  0, or -1 after
 * logging. */
static int
order_apply(struct payd *d, const struct order *o, const ch_paygw_txn_t *txn)
{
	ch_pay_result_t r = ch_payment_apply_alone(&d->ctx,
	    ch_paygw_provider(d->cfg->gw), txn, "query");

	switch (r) {
	case CH_PAY_CAPTURED:
	case CH_PAY_REFUND_DUE:
	case CH_PAY_DUPLICATE:
		if (r != CH_PAY_DUPLICATE)
			ch_info("order \"%s\" (application %s): transaction "
			    "\"%s\" found by query, %s", o->out_trade_no,
			    o->app_id, txn->transaction_id,
			    r == CH_PAY_CAPTURED ? "captured" : "to be refunded");
		return 0;
	case CH_PAY_UNKNOWN_ORDER:
	case CH_PAY_MISMATCH:
		ch_error("order \"%s\": the gateway's transaction \"%s\" was not "
		    "applied (%s)", o->out_trade_no, txn->transaction_id,
		    r == CH_PAY_MISMATCH ? "amount or currency differs"
		    : "no such order");
		return -1;
	case CH_PAY_ERROR:
	default:
		return -1;
	}
}

/* Marks an expired order so in our books: the application locked first,
 * then the order, and the audit event.  0 or -1. */
static int
order_expire(struct payd *d, const struct order *o, const char *gateway)
{
	const char *id[1] = { o->id };
	PGresult *res;

	if (ch_db_begin(d->db) != 0)
		return -1;
	if (ch_payment_lock_app(d->db, d->pool, o->app_id) != 0 ||
	    (res = ch_db_exec(d->db, d->pool, &stmt_expire, id)) == NULL)
		goto fail;
	if (PQntuples(res) == 1 &&
	    ch_audit(&d->ctx, "payment.order_expired", "payment_order", o->id,
	    json_pack("{s:I, s:s, s:I, s:s}",
	    "application_id", (json_int_t)strtoll(o->app_id, NULL, 10),
	    "out_trade_no", o->out_trade_no,
	    "amount_fen", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
	    "gateway", gateway)) != 0)
		goto fail;
	if (ch_db_commit(d->db) != 0)
		goto fail;
	if (PQntuples(res) == 1)
		ch_info("order \"%s\" (application %s) expired; %s at the gateway",
		    o->out_trade_no, o->app_id, gateway);
	return 0;
fail:
	ch_db_finish(d->db);
	return -1;
}

/* An expired order the gateway has as NOTPAY: closed there, then here.  A
 * payment that beat the close is applied instead. */
static void
order_close(struct payd *d, const struct order *o)
{
	ch_paygw_txn_t txn;
	const char *why = NULL;

	switch (ch_paygw_close(d->cfg->gw, d->pool, o->out_trade_no, &why)) {
	case CH_PAYGW_OK:
		order_expire(d, o, "closed");
		return;
	case CH_PAYGW_UNAVAILABLE:
		ch_warn("order \"%s\": closing at the gateway failed, trying "
		    "again later: %s", o->out_trade_no, why);
		return;
	case CH_PAYGW_REFUSED:
	default:
		break;
	}
	/* Refused: most likely paid in the meantime (409). */
	if (ch_paygw_query(d->cfg->gw, d->pool, o->out_trade_no, &txn,
	    &why) == CH_PAYGW_OK && strcmp(txn.trade_state, "SUCCESS") == 0) {
		order_apply(d, o, &txn);
		return;
	}
	ch_warn("order \"%s\": the gateway refused to close it and reports no "
	    "payment; trying again later", o->out_trade_no);
}

/* Claims one due order into *o.  1 claimed, 0 none due, -1 error. */
static int
order_claim(struct payd *d, struct order *o)
{
	const char *params[2] = { ch_paygw_provider(d->cfg->gw),
	    d->query_after };
	PGresult *res = claim(d, &stmt_claim_order, params);

	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	copy(o->id, sizeof o->id, PQgetvalue(res, 0, 0));
	copy(o->out_trade_no, sizeof o->out_trade_no, PQgetvalue(res, 0, 1));
	copy(o->app_id, sizeof o->app_id, PQgetvalue(res, 0, 2));
	o->expired = *PQgetvalue(res, 0, 3) == 't';
	return 1;
}

/* One order: claim, query, then apply, close or leave it.  1 when there
 * was one, 0 none, -1 the database is away. */
static int
order_step(struct payd *d)
{
	struct order o;
	ch_paygw_txn_t txn;
	const char *why = NULL;
	int rc;

	step_begin(d);
	if ((rc = order_claim(d, &o)) <= 0) {
		step_end(d);
		return rc;
	}
	switch (ch_paygw_query(d->cfg->gw, d->pool, o.out_trade_no, &txn, &why)) {
	case CH_PAYGW_OK:
		if (strcmp(txn.trade_state, "SUCCESS") == 0)
			order_apply(d, &o, &txn);
		else if (strcmp(txn.trade_state, "NOTPAY") == 0 && o.expired)
			order_close(d, &o);
		else if (strcmp(txn.trade_state, "CLOSED") == 0 && o.expired)
			order_expire(d, &o, "already closed");
		else if (strcmp(txn.trade_state, "NOTPAY") != 0)
			ch_warn("order \"%s\" is open here and %s at the gateway",
			    o.out_trade_no, txn.trade_state);
		break;
	case CH_PAYGW_REFUSED:
		ch_warn("order \"%s\": query refused: %s", o.out_trade_no, why);
		if (o.expired)
			order_expire(d, &o, "unknown");
		break;
	case CH_PAYGW_UNAVAILABLE:
	default:
		ch_warn("order \"%s\": query failed, trying again later: %s",
		    o.out_trade_no, why);
		break;
	}
	step_end(d);
	return 1;
}

/* ---- overdue applications (issue 14) --------------------------------- */

/* Flags one overdue application: 1 done, 0 none due, -1 error. */
static int
overdue_step(struct payd *d)
{
	int r = ch_deadline_sweep_step(step_begin(d), d->cfg->operator_phone);

	step_end(d);
	return r;
}

/* ---- the loop --------------------------------------------------------- */

/* Steps until nothing is due (or a signal).  -1 when the database went
 * away meanwhile. */
static int
round_of_steps(struct payd *d)
{
	int r, o, v;

	do {
		read_signals(d);
		if (d->stopping)
			return 0;
		if ((r = refund_step(d)) < 0)
			return -1;
		read_signals(d);
		if (d->stopping)
			return 0;
		if ((o = order_step(d)) < 0)
			return -1;
		read_signals(d);
		if (d->stopping)
			return 0;
		if ((v = overdue_step(d)) < 0)
			return -1;
	} while (r > 0 || o > 0 || v > 0);
	return 0;
}

int
ch_payd_run(const ch_payd_config_t *cfg)
{
	struct payd d;
	char *conninfo;
	size_t n;

	memset(&d, 0, sizeof d);
	d.cfg = cfg;
	if ((d.sigfd = ch_daemon_signals()) < 0)
		return 71;
	/* Later keywords win: the caller's settings override these. */
	n = strlen(cfg->conninfo) + 96;
	conninfo = ch_xmalloc(n);
	snprintf(conninfo, n, "client_encoding=UTF8 application_name=certhall-payd "
	    "%s", cfg->conninfo);
	d.db = ch_db_new(conninfo);
	free(conninfo);
	d.pool = ch_pool_new();
	d.retry_ms = RETRY_MIN_MS;
	snprintf(d.query_after, sizeof d.query_after, "%ld", cfg->query_after_s);
	ch_info("payment daemon started, provider \"%s\", orders queried after "
	    "%ld s", ch_paygw_provider(cfg->gw), cfg->query_after_s);

	while (!d.stopping) {
		if (ensure_db(&d) != 0) {
			wait_retry(&d);
			continue;
		}
		/* An outcome a lost connection kept from being written. */
		if (d.unwritten.outcome != OUT_NONE) {
			step_begin(&d);
			if (refund_record(&d, &d.unwritten) == 0)
				d.unwritten.outcome = OUT_NONE;
			step_end(&d);
			if (d.unwritten.outcome != OUT_NONE) {
				wait_retry(&d);
				continue;
			}
		}
		drain_notifies(&d);
		if (round_of_steps(&d) != 0) {
			wait_retry(&d);
			continue;
		}
		d.retry_ms = RETRY_MIN_MS;
		if (!d.stopping)
			wait_for(&d, IDLE_WAIT_MS);
	}

	if (d.unwritten.outcome != OUT_NONE)
		ch_warn("refund \"%s\": outcome not written; the refund is asked "
		    "about again after its lease", d.unwritten.out_refund_no);
	ch_db_free(d.db);
	ch_pool_free(d.pool);
	close(d.sigfd);
	ch_info("payment daemon stopped");
	return 0;
}
