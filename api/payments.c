/*
 * Pay (SPEC §6; docs/CONTRACT.md "Pay or verify (issue 5)"):
 *
 *   POST /api/v1/applications/{id}/payment          open (or show) the order
 *   GET  /api/v1/applications/{id}/payment          order, payments, refunds
 *   POST /api/v1/payments/notify/{provider}         the gateway's notification
 *   POST /api/v1/applications/{id}/counter-payment  cash or POS at the window
 *   POST /api/v1/applications/{id}/refund           finance gives money back
 *
 * What money does to an application is decided in one place,
 * certhall/payment.h, whichever way we learn of it: a notification, the
 * payer's GET (which asks the gateway while the order is open, so a payer
 * back from the gateway before its notification sees the payment), the
 * payment daemon's query, or the counter.  Every path locks the
 * application before its orders (sql/0009_payments.sql).
 *
 * Decisions:
 * - An order is always for the application's locked quote_total_fen and
 *   lasts CERTHALL_PAY_ORDER_TTL seconds (default 7200).  While one is open
 *   and not past expiry, POST answers it again (200): one open order per
 *   application, so two tabs pay one order.  Past expiry it is marked
 *   expired and a new one is opened (201).
 * - The order is inserted, sent to the gateway and committed in one
 *   transaction, the application row locked throughout: when the gateway
 *   fails (503 gateway-unavailable) the transaction rolls back and no open
 *   order is left in our books; one the gateway may have made anyway has
 *   a number nobody holds and expires there.
 * - Money for an order that can no longer take it (expired, closed, the
 *   application cancelled, or a second transaction for a paid application)
 *   is recorded as refund_due and refunded automatically; the handler is
 *   told by SMS.  A notification repeated, or a transaction seen before,
 *   changes nothing (204).
 * - A refused notification (bad signature, stale, unknown order, another
 *   amount) changes nothing at all and is logged with its reason.
 * - Orders closed in our books (cancel, counter payment) are closed at the
 *   gateway after the commit, best effort: if that fails, a payment that
 *   still arrives is refunded.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/web/auth.h"
#include "certhall/domain/fees.h"
#include "certhall/base/log.h"
#include "certhall/clients/paygw.h"
#include "certhall/domain/payment.h"
#include "certhall/domain/people.h"
#include "certhall/base/util.h"
#include "certhall/base/validate.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ORDER_TTL_DEFAULT 7200		/* seconds */
#define ORDER_TTL_MAX (7 * 86400)
#define GATEWAY_RETRY_MS 5000		/* between attempts to configure it */
#define RETRY_AFTER "30"
#define RECEIPT_MAX 64
#define REASON_MIN 2
#define REASON_MAX 500
#define AMOUNT_MAX 100000000000LL	/* a sanity cap: one billion yuan */

/* ---- the JSON the answers show (docs/CONTRACT.md) ---------------------- */

/* PaymentOrder over "payment_order o"; an open order past expiry shows as
 * expired until the payment daemon writes it so. */
#define ORDER_JSON \
	"json_build_object('id', o.id, 'out_trade_no', o.out_trade_no," \
	" 'application_id', o.application_id, 'provider', o.provider," \
	" 'amount_fen', o.amount_fen, 'currency', o.currency," \
	" 'status', CASE WHEN o.status = 'open' AND o.expires_at <= now()" \
	"   THEN 'expired' ELSE o.status END," \
	" 'pay_url', o.pay_url," \
	" 'expires_at', " CH_SQL_TIME("o.expires_at") "," \
	" 'created_at', " CH_SQL_TIME("o.created_at") "," \
	" 'paid_at', " CH_SQL_TIME("o.paid_at") ")"

/* Payment over "payment p". */
#define PAYMENT_JSON \
	"json_build_object('id', p.id, 'provider', p.provider," \
	" 'transaction_id', p.transaction_id, 'method', p.method," \
	" 'amount_fen', p.amount_fen, 'currency', p.currency," \
	" 'disposition', p.disposition, 'source', p.source," \
	" 'paid_at', " CH_SQL_TIME("p.paid_at") "," \
	" 'received_at', " CH_SQL_TIME("p.received_at") ")"

/* Refund over "refund r". */
#define REFUND_JSON \
	"json_build_object('id', r.id, 'payment_id', r.payment_id," \
	" 'out_refund_no', r.out_refund_no, 'amount_fen', r.amount_fen," \
	" 'reason', r.reason, 'requested_by_kind', r.requested_by_kind," \
	" 'status', r.status," \
	" 'created_at', " CH_SQL_TIME("r.created_at") "," \
	" 'completed_at', " CH_SQL_TIME("r.completed_at") ")"

/* ---- statements ------------------------------------------------------- */

/* What paying needs to know of an application (locked by its load). */
static const ch_stmt_t stmt_due = {
	.name = "payments_due",
	.sql = "SELECT a.paid_at IS NOT NULL OR EXISTS (SELECT 1 FROM payment p"
	       "   WHERE p.application_id = a.id"
	       "   AND p.disposition = 'captured'),"
	       " a.quote_locked_at IS NOT NULL, COALESCE(a.quote_total_fen, 0),"
	       " b.name"
	       " FROM application a JOIN business_type b"
	       "   ON b.code = a.business_type WHERE a.id = $1",
	.nparams = 1,
};

static const ch_stmt_t stmt_open_order = {
	.name = "payments_open_order",
	.sql = "SELECT o.id, o.expires_at > now() AND o.pay_url IS NOT NULL,"
	       " " ORDER_JSON "::text"
	       " FROM payment_order o"
	       " WHERE o.application_id = $1 AND o.status = 'open' FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_order_sent = {
	.name = "payments_order_sent",
	.sql = "UPDATE payment_order o SET prepay_id = $2, pay_url = $3"
	       " WHERE o.id = $1 RETURNING " ORDER_JSON "::text",
	.nparams = 3,
};

/* The newest open order, which GET asks the gateway about. */
static const ch_stmt_t stmt_latest_open = {
	.name = "payments_latest_open",
	.sql = "SELECT out_trade_no, provider FROM payment_order"
	       " WHERE application_id = $1 AND status = 'open'"
	       "  AND provider <> 'counter'"
	       " ORDER BY id DESC LIMIT 1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_overview = {
	.name = "payments_overview",
	.sql = "SELECT json_build_object("
	       " 'order', (SELECT " ORDER_JSON " FROM payment_order o"
	       "   WHERE o.application_id = $1 ORDER BY o.id DESC LIMIT 1),"
	       " 'payments', COALESCE((SELECT json_agg(" PAYMENT_JSON
	       "   ORDER BY p.id) FROM payment p WHERE p.application_id = $1),"
	       "   '[]'::json),"
	       " 'refunds', COALESCE((SELECT json_agg(" REFUND_JSON
	       "   ORDER BY r.id) FROM refund r WHERE r.application_id = $1),"
	       "   '[]'::json))::text",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_payment_json = {
	.name = "payments_payment_json",
	.sql = "SELECT " PAYMENT_JSON "::text FROM payment p WHERE p.id = $1",
	.nparams = 1,
};

static const ch_stmt_t stmt_refund_json = {
	.name = "payments_refund_json",
	.sql = "SELECT " REFUND_JSON "::text FROM refund r WHERE r.id = $1",
	.nparams = 1,
};

static const ch_stmt_t stmt_notification = {
	.name = "payments_notification",
	.sql = "INSERT INTO payment_notification (provider, notification_id,"
	       "  body, outcome) VALUES ($1, $2, $3::jsonb, $4)"
	       " ON CONFLICT (provider, notification_id) DO NOTHING",
	.nparams = 4,
};

/* The captured payment finance may give back (payment_one_captured: at
 * most one), locked after the application. */
static const ch_stmt_t stmt_refundable = {
	.name = "payments_refundable",
	.sql = "SELECT p.id, p.amount_fen, p.provider FROM payment p"
	       " WHERE p.application_id = $1 AND p.disposition = 'captured'"
	       "  AND NOT EXISTS (SELECT 1 FROM refund r"
	       "   WHERE r.payment_id = p.id)"
	       " FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_job = {
	.name = "payments_job",
	.sql = "SELECT status FROM signing_job WHERE application_id = $1"
	       " FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_job_cancel = {
	.name = "payments_job_cancel",
	.sql = "UPDATE signing_job SET status = 'cancelled', updated_at = now(),"
	       " last_error = 'refunded before issue'"
	       " WHERE application_id = $1 AND status = 'queued' RETURNING id",
	.nparams = 1,
};

/* ---- the gateway of this worker ---------------------------------------- */

static ch_paygw_t *paygw;
static pid_t paygw_pid;
static long long paygw_retry_at;

/*
 * The gateway client of this process, made from the environment on first
 * use (after fork: each worker has its own connection).  NULL while it
 * cannot be made (logged by ch_paygw_from_env), tried again at most every
 * GATEWAY_RETRY_MS.  Borrowed.
 */
ch_paygw_t *
api_paygw(void)
{
	pid_t pid = getpid();

	if (paygw_pid != pid) {
		/* A copy from the parent is not ours to use or free. */
		paygw = NULL;
		paygw_pid = pid;
		paygw_retry_at = 0;
	}
	if (paygw == NULL && ch_monotonic_ms() >= paygw_retry_at) {
		paygw = ch_paygw_from_env();
		if (paygw == NULL) {
			ch_warn("payment gateway not configured (CERTHALL_PAY_*)");
			paygw_retry_at = ch_monotonic_ms() + GATEWAY_RETRY_MS;
		}
	}
	return paygw;
}

void
api_payment_close_at_gateway(ch_req_t *req, const char *const *trade_nos)
{
	ch_paygw_t *gw;
	const char *why = NULL;

	if (trade_nos == NULL || trade_nos[0] == NULL)
		return;
	if ((gw = api_paygw()) == NULL) {
		ch_warn("payment: orders closed here stay open at the gateway "
		    "until they expire (no gateway)");
		return;
	}
	for (; *trade_nos != NULL; trade_nos++)
		if (ch_paygw_close(gw, req->ctx.pool, *trade_nos, &why) !=
		    CH_PAYGW_OK)
			ch_warn("payment: closing order \"%s\" at the gateway "
			    "failed: %s", *trade_nos, why != NULL ? why : "?");
}

/* ---- small helpers ---------------------------------------------------- */

static void
gateway_unavailable(ch_req_t *req, const char *detail)
{
	ch_problem(req, CH_P_GATEWAY_UNAVAILABLE, "%s", detail);
	ch_resp_header(req, "Retry-After", RETRY_AFTER);
}

/* 409 naming the application's status; rolls back. */
static int
refuse_state(ch_req_t *req, ch_app_status_t status, const char *detail)
{
	if (ch_db_rollback(req->ctx.db) != 0)
		return -1;
	json_object_set_new(ch_problem(req, CH_P_CONFLICT, "%s", detail),
	    "status_now", json_string(ch_app_status_name(status)));
	return 0;
}

/* Answers status with the one-column JSON text of stmt for id. */
static int
respond_row(ch_req_t *req, int status, const ch_stmt_t *stmt, long long id)
{
	PGresult *res = ch_db_exec_id(req->ctx.db, req->ctx.pool, stmt, id);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json_text(req, status,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	return 0;
}

static void
location(ch_req_t *req, long long id)
{
	char path[64];

	snprintf(path, sizeof path, "/api/v1/applications/%lld/payment", id);
	ch_resp_header(req, "Location", path);
}

/* What paying needs to know of an application. */
struct due {
	bool paid;
	bool locked;			/* the quote is locked (approved) */
	long long total_fen;
	const char *business_name;
};

static int
load_due(ch_req_t *req, long long id, struct due *d)
{
	PGresult *res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_due, id);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	d->paid = *PQgetvalue(res, 0, 0) == 't';
	d->locked = *PQgetvalue(res, 0, 1) == 't';
	d->total_fen = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	d->business_name = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 3));
	return 0;
}

/* ch_app_begin_load(), then checks the application can be paid now.  1 go on
 * (*d set), 0 answered (rolled back), -1. */
static int
begin_payable(ch_req_t *req, long long id, ch_app_access_t want,
    ch_app_t *a, struct due *d)
{
	int rc;

	if ((rc = api_app_begin_load(req, id, want, a)) <= 0)
		return rc;
	if (load_due(req, id, d) != 0)
		return -1;
	if (d->paid)
		return refuse_state(req, a->status, "the application is paid "
		    "already");
	if (a->status != CH_ST_AWAITING_PAYMENT)
		return refuse_state(req, a->status, ch_psprintf(req->ctx.pool,
		    "the application is %s: only one awaiting payment can be "
		    "paid", ch_app_status_name(a->status)));
	if (!d->locked || d->total_fen <= 0) {
		ch_error("application %lld awaits payment without a locked "
		    "quote", id);
		return refuse_state(req, a->status, "the application has no "
		    "locked quote to pay");
	}
	return 1;
}

static long long
order_ttl(void)
{
	const char *s = getenv("CERTHALL_PAY_ORDER_TTL");
	long v;

	if (s == NULL || *s == '\0')
		return ORDER_TTL_DEFAULT;
	v = ch_parse_long(s, 10, ORDER_TTL_MAX);
	if (v < 1) {
		ch_warn("CERTHALL_PAY_ORDER_TTL \"%s\" is not 1 to %d seconds; "
		    "using %d", s, ORDER_TTL_MAX, ORDER_TTL_DEFAULT);
		return ORDER_TTL_DEFAULT;
	}
	return v;
}

/* ---- POST /api/v1/applications/{id}/payment ---------------------------- */

/* The body is {}. */
const ch_schema_t api_payment_create_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

int
api_payment_create(ch_req_t *req)
{
	const char **stale = NULL, *prepay_id, *pay_url, *why = NULL;
	const char *params[3];
	ch_paygw_order_t send;
	ch_pay_order_t o;
	ch_paygw_t *gw;
	struct due d;
	PGresult *res;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = begin_payable(req, id, CH_APP_CHANGE, &a, &d)) <= 0)
		return rc;

	res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_open_order, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && *PQgetvalue(res, 0, 1) == 't') {
		/* Still payable: the same order again. */
		ch_resp_json_text(req, 200,
		    PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2));
		location(req, id);
		return ch_db_commit(req->ctx.db);
	}
	if (PQntuples(res) == 1 && ch_payment_close_open(&req->ctx, id, &stale) != 0)
		return -1;

	if ((gw = api_paygw()) == NULL) {
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		gateway_unavailable(req, "online payment is not available now; "
		    "try again later or pay at the counter");
		return 0;
	}
	if (ch_payment_order_new(&req->ctx, id, ch_paygw_provider(gw), d.total_fen,
	    order_ttl(), &o) != 0)
		return -1;
	send.out_trade_no = o.out_trade_no;
	send.description = ch_psprintf(req->ctx.pool, "四川CA数字证书%s（申请编号%lld）",
	    d.business_name, id);
	send.amount_fen = d.total_fen;
	send.expires_at = o.expires_at;
	switch (ch_paygw_create(gw, req->ctx.pool, &send, &prepay_id, &pay_url,
	    &why)) {
	case CH_PAYGW_OK:
		break;
	case CH_PAYGW_REFUSED:
		ch_error("payment: the gateway refused order \"%s\": %s",
		    o.out_trade_no, why != NULL ? why : "?");
		goto unavailable;
	case CH_PAYGW_UNAVAILABLE:
	default:
		ch_warn("payment: the gateway did not take order \"%s\": %s",
		    o.out_trade_no, why != NULL ? why : "?");
		goto unavailable;
	}
	params[0] = ch_psprintf(req->ctx.pool, "%lld", o.id);
	params[1] = prepay_id;
	params[2] = pay_url;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_order_sent, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json_text(req, 201,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	location(req, id);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_info("payment: order \"%s\" of application %lld for %lld fen",
	    o.out_trade_no, id, d.total_fen);
	api_payment_close_at_gateway(req, stale);
	return 0;
unavailable:
	/* Nothing kept: not the new order, nor the stale one's closing. */
	if (ch_db_rollback(req->ctx.db) != 0)
		return -1;
	gateway_unavailable(req, "the payment gateway cannot be reached; "
	    "no order was opened, try again shortly");
	return 0;
}

/* ---- GET /api/v1/applications/{id}/payment ----------------------------- */

/*
 * Asks the gateway about the newest open order of application id and
 * applies a payment it reports, in a transaction of its own.  A gateway
 * that does not answer, or answers what cannot be applied, leaves things
 * as they are (logged).  0, or -1 after a database error.
 */
static int
ask_gateway(ch_req_t *req, long long id)
{
	const char *why = NULL, *no, *provider;
	ch_paygw_txn_t txn;
	ch_paygw_t *gw;
	PGresult *res;

	res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_latest_open, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || (gw = api_paygw()) == NULL)
		return 0;
	no = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	provider = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 1));
	if (strcmp(provider, ch_paygw_provider(gw)) != 0)
		return 0;
	if (ch_paygw_query(gw, req->ctx.pool, no, &txn, &why) != CH_PAYGW_OK) {
		ch_warn("payment: query of order \"%s\" failed: %s", no,
		    why != NULL ? why : "?");
		return 0;
	}
	if (strcmp(txn.trade_state, "SUCCESS") != 0)
		return 0;
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_payment_apply(&req->ctx, provider, &txn, "query")) {
	case CH_PAY_CAPTURED:
	case CH_PAY_DUPLICATE:
	case CH_PAY_REFUND_DUE:
		return ch_db_commit(req->ctx.db);
	case CH_PAY_UNKNOWN_ORDER:
	case CH_PAY_MISMATCH:
		/* Logged by ch_payment_apply(): show what we have. */
		return ch_db_rollback(req->ctx.db);
	case CH_PAY_ERROR:
	default:
		return -1;
	}
}

int
api_payment_get(ch_req_t *req)
{
	long long id;
	ch_app_t a;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (api_app_load(req, id, CH_APP_READ, &a)) {
	case 1:
		break;
	case 0:
		return 0;
	default:
		return -1;
	}
	if (ask_gateway(req, id) != 0)
		return -1;
	return respond_row(req, 200, &stmt_overview, id);
}

/* ---- POST /api/v1/payments/notify/{provider} --------------------------- */

/* A refusal of a notification: logged with its reason, answered, nothing
 * changed (the gateway retries what it sees refused). */
static json_t *
refuse_notice(ch_req_t *req, ch_problem_t kind, const char *why)
{
	ch_warn("payment notification refused: %s", why);
	return ch_problem(req, kind, "%s", why);
}

static const char *const outcome_names[] = {
	[CH_PAY_CAPTURED] = "captured",
	[CH_PAY_DUPLICATE] = "duplicate",
	[CH_PAY_REFUND_DUE] = "refund_due",
};

int
api_payment_notify(ch_req_t *req)
{
	const char *provider = ch_req_param(req, "provider"), *why = NULL;
	const char *params[4];
	ch_pay_result_t r;
	ch_paygw_txn_t txn;
	ch_paygw_t *gw;

	if ((gw = api_paygw()) == NULL) {
		ch_warn("payment notification refused: no gateway configured");
		gateway_unavailable(req, "payments are not configured here");
		return 0;
	}
	if (provider == NULL || strcmp(provider, ch_paygw_provider(gw)) != 0) {
		json_object_set_new(refuse_notice(req, CH_P_NOT_FOUND,
		    "no such payment provider"), "parameter",
		    json_string("provider"));
		return 0;
	}
	switch (ch_paygw_verify_notice(gw, req->ctx.pool,
	    ch_req_env(req, "HTTP_X_PAY_TIMESTAMP"),
	    ch_req_env(req, "HTTP_X_PAY_NONCE"),
	    ch_req_env(req, "HTTP_X_PAY_SIGNATURE"), req->body, req->body_len,
	    (long long)time(NULL), &txn, &why)) {
	case CH_NOTICE_OK:
		break;
	case CH_NOTICE_STALE:
		json_object_set_new(refuse_notice(req, CH_P_BAD_REQUEST, why),
		    "header", json_string("X-Pay-Timestamp"));
		return 0;
	case CH_NOTICE_MALFORMED:
		refuse_notice(req, CH_P_BAD_REQUEST, why);
		return 0;
	case CH_NOTICE_BAD_SIGNATURE:
	default:
		json_object_set_new(refuse_notice(req, CH_P_UNAUTHORIZED, why),
		    "header", json_string("X-Pay-Signature"));
		return 0;
	}

	/* Verified: what follows is done for the gateway, as the system. */
	req->ctx.principal.kind = CH_ACTOR_SYSTEM;
	req->ctx.principal.id = 0;
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	r = ch_payment_apply(&req->ctx, provider, &txn, "notify");
	switch (r) {
	case CH_PAY_CAPTURED:
	case CH_PAY_DUPLICATE:
	case CH_PAY_REFUND_DUE:
		break;
	case CH_PAY_UNKNOWN_ORDER:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		refuse_notice(req, CH_P_NOT_FOUND, ch_psprintf(req->ctx.pool,
		    "no order %s", txn.out_trade_no));
		return 0;
	case CH_PAY_MISMATCH:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		json_object_set_new(refuse_notice(req, CH_P_INVALID_FIELD,
		    ch_psprintf(req->ctx.pool, "the amount or currency of "
		    "transaction %s is not its order's", txn.transaction_id)),
		    "field", json_string("/resource/amount"));
		return 0;
	case CH_PAY_ERROR:
	default:
		return -1;
	}
	params[0] = provider;
	params[1] = txn.notification_id;
	params[2] = ch_pstrndup(req->ctx.pool, req->body, req->body_len);
	params[3] = outcome_names[r];
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_notification, params) == NULL ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_info("payment notification \"%s\" for order \"%s\": %s",
	    txn.notification_id, txn.out_trade_no, outcome_names[r]);
	ch_resp_raw(req, 204, NULL, NULL, 0);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/counter-payment -------------------- */

static const char *const counter_methods[] = { "cash", "pos", NULL };

struct counter_input {
	int method;
	const char *receipt_no;
	ch_int_t amount_fen;
};

/* A receipt number: 1-64 of [A-Za-z0-9_-], unique among counter
 * payments; it becomes the payment's transaction_id. */
static int
check_receipt(const char *s, const char **why)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-");

	if (n == 0 || n > RECEIPT_MAX || s[n] != '\0') {
		*why = "must be 1 to 64 of A-Z, a-z, 0-9, _ and -";
		return -1;
	}
	return 0;
}

static const ch_field_t counter_fields[] = {
	{ .name = "method", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = counter_methods,
	  .offset = offsetof(struct counter_input, method) },
	{ .name = "receipt_no", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = RECEIPT_MAX, .check = check_receipt,
	  .offset = offsetof(struct counter_input, receipt_no) },
	{ .name = "amount_fen", .type = CH_F_INT, .flags = CH_F_REQUIRED,
	  .min = 1, .max = AMOUNT_MAX,
	  .offset = offsetof(struct counter_input, amount_fen) },
};

const ch_schema_t api_counter_payment_schema =
    CH_SCHEMA(counter_fields, struct counter_input);

int
api_counter_payment_create(ch_req_t *req)
{
	const struct counter_input *in = req->input;
	const char **stale = NULL;
	long long id, payment_id = 0;
	struct due d;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	/* CH_APP_CHANGE: a clerk reaches counter applications only. */
	if ((rc = begin_payable(req, id, CH_APP_CHANGE, &a, &d)) <= 0)
		return rc;
	if (in->amount_fen.v != d.total_fen) {
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_INVALID_FIELD, "/amount_fen",
		    "amount_fen must be the locked quote, %lld fen",
		    d.total_fen);
		return 0;
	}
	if (ch_payment_close_open(&req->ctx, id, &stale) != 0)
		return -1;
	switch (ch_payment_counter(&req->ctx, id, counter_methods[in->method],
	    in->receipt_no, in->amount_fen.v, &payment_id)) {
	case CH_PAY_CAPTURED:
		break;
	case CH_PAY_DUPLICATE:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_CONFLICT, "/receipt_no",
		    "this receipt number is recorded already");
		return 0;
	default:
		/* The application was checked under its lock: anything
		 * else is a fault. */
		ch_error("counter payment of application %lld not captured",
		    id);
		return -1;
	}
	if (respond_row(req, 201, &stmt_payment_json, payment_id) != 0)
		return -1;
	location(req, id);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, stale);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/refund ----------------------------- */

#define TEXT_REFUNDED_ONLINE "【四川CA】您的数字证书申请（编号%s）已办理退款，" \
	"%s元将原路退回，请留意到账。"
#define TEXT_REFUNDED_COUNTER "【四川CA】您的数字证书申请（编号%s）已办理退款，" \
	"%s元已在受理窗口退还。"

struct refund_input {
	const char *reason;
};

static const ch_field_t refund_fields[] = {
	{ .name = "reason", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = REASON_MIN, .max = REASON_MAX, .check = ch_check_reason,
	  .offset = offsetof(struct refund_input, reason) },
};

const ch_schema_t api_refund_schema =
    CH_SCHEMA(refund_fields, struct refund_input);

/* Where a refund may cancel the application from. */
#define FROM_REFUNDABLE (CH_ST_BIT(CH_ST_AWAITING_PAYMENT) | \
	CH_ST_BIT(CH_ST_AWAITING_VERIFICATION) | CH_ST_BIT(CH_ST_ISSUING))

/*
 * Carries out plan on the locked application: cancels its queued signing
 * job, then the application itself (history, audit application.cancelled
 * with the reason).  1 done, 0 answered (rolled back), -1.
 */
static int
cancel_for_refund(ch_req_t *req, const ch_app_t *a, ch_refund_plan_t plan,
    const char *reason)
{
	PGresult *res;

	if (plan == CH_REFUND_CANCEL_JOB) {
		res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_job_cancel,
		    a->id);
		if (res == NULL || PQntuples(res) != 1)
			return -1;	/* locked and queued: cannot happen */
	}
	if (plan == CH_REFUND_ONLY)
		return 1;
	switch (ch_wf_transition(&req->ctx, a->id, FROM_REFUNDABLE, CH_ST_CANCELLED,
	    reason, json_pack("{s:b}", "refund", 1), NULL)) {
	case CH_WF_OK:
		return 1;
	case CH_WF_ILLEGAL:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_conflict(req, a->id, "refund");
		return 0;
	case CH_WF_ERROR:
	default:
		return -1;
	}
}

int
api_refund_create(ch_req_t *req)
{
	const struct refund_input *in = req->input;
	const char **stale = NULL, *job = NULL, *text;
	char idbuf[24], amount[32];
	long long id, payment_id, refund_id, amount_fen;
	ch_refund_plan_t plan;
	bool counter;
	PGresult *res;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_refundable, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return refuse_state(req, a.status, "the application has no "
		    "captured payment left to refund");
	payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	amount_fen = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	counter = strcmp(PQgetvalue(res, 0, 2), "counter") == 0;

	res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_job, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1)
		job = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	plan = ch_payment_refund_plan(a.status, job);
	if (plan == CH_REFUND_ISSUED)
		return refuse_state(req, a.status, ch_psprintf(req->ctx.pool,
		    "the certificate is being or has been issued (signing "
		    "job %s): an issued certificate is never refunded "
		    "silently; revoke it first", job != NULL ? job : "none"));
	if (plan == CH_REFUND_REFUSED)
		return refuse_state(req, a.status, ch_psprintf(req->ctx.pool,
		    "an application that is %s cannot be refunded",
		    ch_app_status_name(a.status)));
	if ((rc = cancel_for_refund(req, &a, plan, in->reason)) <= 0)
		return rc;
	if (ch_payment_close_open(&req->ctx, id, &stale) != 0 ||
	    ch_payment_refund(&req->ctx, id, payment_id, in->reason,
	    &refund_id) != 0)
		return -1;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	ch_fees_yuan(amount_fen, amount);
	text = ch_psprintf(req->ctx.pool, counter ? TEXT_REFUNDED_COUNTER
	    : TEXT_REFUNDED_ONLINE, idbuf, amount);
	if (ch_wf_notify(&req->ctx, id, counter ? "payment_refunded_counter"
	    : "payment_refunded", json_pack("{s:s, s:s}", "id", idbuf,
	    "amount", amount), text) != 0)
		return -1;
	if (respond_row(req, 202, &stmt_refund_json, refund_id) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, stale);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/refund/retry -------------------------- */

/*
 * Every failed refund of the application back to pending, due now, under
 * its own out_refund_no (the gateway answers a repeated number with the
 * same refund, so a retry can never pay out twice); the payment daemon is
 * woken.  Returns the refunds and the error each had.
 */
static const ch_stmt_t stmt_refund_retry = {
	.name = "payments_refund_retry",
	.sql = "WITH f AS ("
	       "  SELECT id, last_error FROM refund"
	       "  WHERE application_id = $1 AND status = 'failed'"
	       "  ORDER BY id FOR UPDATE),"
	       " r AS ("
	       "  UPDATE refund r SET status = 'pending', attempts = 0,"
	       "   next_attempt_at = now(), last_error = NULL,"
	       "   completed_at = NULL"
	       "  FROM f WHERE r.id = f.id"
	       "  RETURNING r.*, f.last_error AS was)"
	       " SELECT r.id, r.was, " REFUND_JSON "::text,"
	       "  pg_notify('payment', '')"
	       " FROM r ORDER BY r.id",
	.nparams = 1,
};

const ch_schema_t api_refund_retry_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

int
api_refund_retry(ch_req_t *req)
{
	json_t *items;
	long long id;
	PGresult *res;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	res = ch_db_exec_id(req->ctx.db, req->ctx.pool, &stmt_refund_retry, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return refuse_state(req, a.status, "the application has no "
		    "failed refund to retry");
	items = json_array();
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *refund = json_loads(PQgetvalue(res, i, 2), 0, NULL);

		if (refund == NULL) {
			json_decref(items);
			ch_error("refund retry: the database built bad JSON");
			return -1;
		}
		json_array_append_new(items, refund);
		if (ch_audit(&req->ctx, "payment.refund_retried", "refund",
		    PQgetvalue(res, i, 0), json_pack("{s:I, s:s?}",
		    "application_id", (json_int_t)id, "previous_error",
		    PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1))) != 0) {
			json_decref(items);
			return -1;
		}
	}
	if (ch_db_commit(req->ctx.db) != 0) {
		json_decref(items);
		return -1;
	}
	ch_resp_json(req, 202, json_pack("{s:o}", "refunds", items));
	return 0;
}
