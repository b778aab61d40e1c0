/*
 * Pay (SPEC §6; docs/CONTRACT.md "Pay or verify (issue 5)"):
 *
 *   POST /api/v1/applications/{id}/payment          open (or show) the order
 *   GET  /api/v1/applications/{id}/payment          order, payments, refunds
 *   POST /api/v1/payments/notify/{provider}         the gateway's notification
 *   POST /api/v1/applications/{id}/counter-payment  cash or POS at the window
 *   POST /api/v1/applications/{id}/refund           finance gives money back
 *
 * What money does to an application is decided in one place, the payment
 * domain (certhall/domain/payment.h), whichever way we learn of it: a
 * notification, the payer's GET (which asks the gateway while the order is
 * open, so a payer back from the gateway before its notification sees the
 * payment), the payment daemon's query, or the counter.  Every path locks
 * the application before its orders (sql/0009_payments.sql).  These
 * handlers only turn the domain's results into answers, and own the
 * transaction: begun with the application's load, committed or rolled
 * back here.  The gateway client is this worker's (req->worker, made once
 * after fork from the settings certhall-api read at start).
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
 * - A browser payer comes back (issue 15): POST may name return_path, a
 *   path of the hall; the answer's pay_url then carries redirect_url =
 *   the configured hall origin + that path, which the gateway sends the
 *   payer to once paid.  The origin is configuration, never the request's
 *   Host, and the path cannot leave it: no open redirect.  Each POST may
 *   name its own way back; the stored order is unchanged by it.
 */
#include "api.h"
#include "certhall/base/log.h"
#include "certhall/base/validate.h"
#include "certhall/clients/paygw.h"
#include "certhall/domain/payment.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER "30"
#define RECEIPT_MAX 64
#define REASON_MIN 2
#define REASON_MAX 500
#define RETURN_PATH_MAX 200
#define AMOUNT_MAX 100000000000LL	/* a sanity cap: one billion yuan */

/* ---- the gateway of this worker ---------------------------------------- */

ch_paygw_t *
api_paygw(const ch_req_t *req)
{
	return req->worker != NULL ? req->worker->paygw : NULL;
}

void
api_payment_close_at_gateway(ch_req_t *req, const char *const *trade_nos)
{
	ch_payment_close_at_gateway(&req->ctx, api_paygw(req), trade_nos);
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
	api_app_refuse_state(req, status, detail);
	return 0;
}

/* The 409 of an application that cannot be paid now; rolls back. */
static int
refuse_unpayable(ch_req_t *req, const ch_app_t *a, ch_payable_t why)
{
	switch (why) {
	case CH_PAYABLE_PAID:
		return refuse_state(req, a->status, "the application is paid "
		    "already");
	case CH_PAYABLE_NOT_AWAITING:
		return refuse_state(req, a->status, ch_psprintf(req->ctx.pool,
		    "the application is %s: only one awaiting payment can be "
		    "paid", ch_app_status_name(a->status)));
	case CH_PAYABLE_NO_QUOTE:
	case CH_PAYABLE:
	default:
		return refuse_state(req, a->status, "the application has no "
		    "locked quote to pay");
	}
}

/* Answers status with JSON text json, and Location: the payment of id. */
static void
respond(ch_req_t *req, int status, const char *json, long long id)
{
	char path[64];

	ch_resp_json_text(req, status, json, strlen(json));
	if (id <= 0)
		return;
	snprintf(path, sizeof path, "/api/v1/applications/%lld/payment", id);
	ch_resp_header(req, "Location", path);
}

/* ---- POST /api/v1/applications/{id}/payment ---------------------------- */

struct payment_input {
	const char *return_path;
};

/*
 * return_path: where in the hall the gateway sends the payer back to (the
 * web hall's "/my/applications/{id}/pay/return").  Only a path of our own
 * origin: "/" then unreserved characters, "/", and a query of "=" and "&";
 * never "//" (a network-path reference), "\", ":" or "@", so the URL
 * ch_paygw_pay_url_return() makes from it cannot name another host.
 */
static int
check_return_path(const char *s, const char **why)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~/?=&");

	if (s[0] != '/' || s[1] == '/' || s[n] != '\0' ||
	    strstr(s, "/..") != NULL) {
		*why = "must be a path of this site: /, then A-Z a-z 0-9 - . _ ~ "
		    "/ ? = &, not starting with //";
		return -1;
	}
	return 0;
}

static const ch_field_t payment_fields[] = {
	{ .name = "return_path", .type = CH_F_STRING, .min = 1,
	  .max = RETURN_PATH_MAX, .check = check_return_path,
	  .offset = offsetof(struct payment_input, return_path) },
};

/* The body is {} or {"return_path": "/..."}. */
const ch_schema_t api_payment_create_schema =
    CH_SCHEMA(payment_fields, struct payment_input);

/*
 * The order's JSON text with pay_url carrying the way back to return_path
 * (the stored order keeps the plain pay_url: the way back is the payer's,
 * not the order's).  json itself when there is nothing to add.
 */
static const char *
with_return(ch_req_t *req, const char *json, const char *return_path)
{
	json_t *o;
	const char *url, *back;
	char *text;

	if (return_path == NULL || api_paygw(req) == NULL ||
	    (o = ch_pool_json(req->ctx.pool, json_loads(json, 0, NULL))) == NULL ||
	    (url = json_string_value(json_object_get(o, "pay_url"))) == NULL)
		return json;
	back = ch_paygw_pay_url_return(api_paygw(req), req->ctx.pool, url,
	    return_path);
	if (json_object_set_new(o, "pay_url", json_string(back)) != 0 ||
	    (text = json_dumps(o, JSON_COMPACT)) == NULL)
		ch_oom();
	json = ch_pstrdup(req->ctx.pool, text);
	free(text);
	return json;
}

int
api_payment_create(ch_req_t *req)
{
	const struct payment_input *in = req->input;
	const char *back = in != NULL ? in->return_path : NULL;
	ch_pay_out_t out;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	switch (ch_payment_open(&req->ctx, api_paygw(req), &a, &out)) {
	case CH_ORDER_AGAIN:
		respond(req, 200, with_return(req, out.json, back), id);
		return ch_db_commit(req->ctx.db);
	case CH_ORDER_OPENED:
		respond(req, 201, with_return(req, out.json, back), id);
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		api_payment_close_at_gateway(req, out.stale);
		return 0;
	case CH_ORDER_UNPAYABLE:
		return refuse_unpayable(req, &a, out.payable);
	case CH_ORDER_NO_GATEWAY:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		gateway_unavailable(req, "online payment is not available now; "
		    "try again later or pay at the counter");
		return 0;
	case CH_ORDER_GATEWAY_DOWN:
		/* Nothing kept: not the new order, nor the stale one's
		 * closing. */
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		gateway_unavailable(req, "the payment gateway cannot be reached; "
		    "no order was opened, try again shortly");
		return 0;
	case CH_ORDER_ERROR:
	default:
		return -1;
	}
}

/* ---- GET /api/v1/applications/{id}/payment ----------------------------- */

int
api_payment_get(ch_req_t *req)
{
	const char *json;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_load(req, id, CH_APP_READ, &a)) <= 0)
		return rc;
	if (ch_payment_show(&req->ctx, api_paygw(req), id, &json) != 0)
		return -1;
	respond(req, 200, json, 0);
	return 0;
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

int
api_payment_notify(ch_req_t *req)
{
	const char *provider = ch_req_param(req, "provider"), *why = NULL;
	ch_pay_result_t r;
	ch_paygw_txn_t txn;
	ch_paygw_t *gw;

	if ((gw = api_paygw(req)) == NULL) {
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
	r = ch_payment_notified(&req->ctx, provider, &txn, req->body,
	    req->body_len);
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
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_info("payment notification \"%s\" for order \"%s\": %s",
	    txn.notification_id, txn.out_trade_no, ch_payment_result_code(r));
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
	ch_pay_out_t out;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	/* CH_APP_CHANGE: a clerk reaches counter applications only. */
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	switch (ch_payment_counter(&req->ctx, &a, counter_methods[in->method],
	    in->receipt_no, in->amount_fen.v, &out)) {
	case CH_COUNTER_RECORDED:
		break;
	case CH_COUNTER_UNPAYABLE:
		return refuse_unpayable(req, &a, out.payable);
	case CH_COUNTER_WRONG_AMOUNT:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_INVALID_FIELD, "/amount_fen",
		    "amount_fen must be the locked quote, %lld fen",
		    out.total_fen);
		return 0;
	case CH_COUNTER_DUPLICATE:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_CONFLICT, "/receipt_no",
		    "this receipt number is recorded already");
		return 0;
	case CH_COUNTER_ERROR:
	default:
		return -1;
	}
	respond(req, 201, out.json, id);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, out.stale);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/refund ----------------------------- */

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

int
api_refund_create(ch_req_t *req)
{
	const struct refund_input *in = req->input;
	ch_pay_out_t out;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	switch (ch_payment_refund(&req->ctx, &a, in->reason, &out)) {
	case CH_REFUNDED:
		break;
	case CH_REFUND_NOTHING:
		return refuse_state(req, a.status, "the application has no "
		    "captured payment left to refund");
	case CH_REFUND_DENIED:
		if (out.plan == CH_REFUND_ISSUED)
			return refuse_state(req, a.status, ch_psprintf(
			    req->ctx.pool, "the certificate is being or has "
			    "been issued (signing job %s): an issued "
			    "certificate is never refunded silently; revoke "
			    "it first", out.job_status != NULL ? out.job_status
			    : "none"));
		return refuse_state(req, a.status, ch_psprintf(req->ctx.pool,
		    "an application that is %s cannot be refunded",
		    ch_app_status_name(a.status)));
	case CH_REFUND_MOVED:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_conflict(req, id, "refund");
		return 0;
	case CH_REFUND_ERROR:
	default:
		return -1;
	}
	respond(req, 202, out.json, 0);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	api_payment_close_at_gateway(req, out.stale);
	return 0;
}

/* ---- POST /api/v1/applications/{id}/refund/retry -------------------------- */

const ch_schema_t api_refund_retry_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

int
api_refund_retry(ch_req_t *req)
{
	json_t *refunds;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	if ((rc = ch_payment_refund_retry(&req->ctx, id, &refunds)) < 0)
		return -1;
	if (rc == 0)
		return refuse_state(req, a.status, "the application has no "
		    "failed refund to retry");
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json(req, 202, json_pack("{s:O}", "refunds", refunds));
	return 0;
}
