/*
 * Payments in our books (certhall/payment.h; sql/0009_payments.sql): what
 * money that arrived does to its order and application, opening orders,
 * counter payments, refunds and their retry, closing orders, and the
 * payment view.
 *
 * Locks are taken in one order everywhere (sql/0009_payments.sql): the
 * application row first, then its orders, then payments, refunds and the
 * signing job.  ch_payment_apply() learns the application from the order
 * number with a plain read, locks the application, then the order, and
 * decides on what it read under both locks, so a notification, the
 * payment daemon's query, the payer's GET, a counter clerk and finance
 * acting on one application at once queue one behind the other and each
 * sees what the one before did.
 */
#include "certhall/domain/payment.h"
#include "certhall/store/audit.h"
#include "certhall/base/crypto.h"
#include "certhall/store/db.h"
#include "certhall/domain/fees.h"
#include "certhall/domain/invoice.h"
#include "certhall/base/log.h"
#include "certhall/domain/settle.h"
#include "certhall/base/util.h"
#include "certhall/domain/workflow.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEXT_REFUND_DUE \
	"【四川CA】您为数字证书申请（编号%s）支付的%s元因%s未能入账，" \
	"将原路退回，请留意到账。"
#define TEXT_REFUNDED_ONLINE "【四川CA】您的数字证书申请（编号%s）已办理退款，" \
	"%s元将原路退回，请留意到账。"
#define TEXT_REFUNDED_COUNTER "【四川CA】您的数字证书申请（编号%s）已办理退款，" \
	"%s元已在受理窗口退还。"
/* What the payer sees at the gateway. */
#define TEXT_ORDER "四川CA数字证书%s（申请编号%lld）"

/* Where a refund may cancel the application from. */
#define FROM_REFUNDABLE (CH_ST_BIT(CH_ST_AWAITING_PAYMENT) | \
	CH_ST_BIT(CH_ST_AWAITING_VERIFICATION) | CH_ST_BIT(CH_ST_ISSUING))

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

/* The order a transaction names: which application to lock first. */
static const ch_stmt_t stmt_find_order = {
	.name = "pay_find_order",
	.sql = "SELECT id, application_id FROM payment_order"
	       " WHERE out_trade_no = $1 AND provider = $2",
	.nparams = 2,
};

/* The application, locked, and whether it is paid. */
static const ch_stmt_t stmt_lock_app = {
	.name = "pay_lock_app",
	.sql = "SELECT a.status, " CH_SQL_APP_PAID
	       " FROM application a WHERE a.id = $1 FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_lock_app_row = {
	.name = "pay_lock_app_row",
	.sql = "SELECT id FROM application WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_paid = {
	.name = "pay_paid",
	.sql = "SELECT " CH_SQL_APP_PAID " FROM application a WHERE a.id = $1",
	.nparams = 1,
};

/* What paying needs to know of an application (locked by its load). */
static const ch_stmt_t stmt_due = {
	.name = "payments_due",
	.sql = "SELECT " CH_SQL_APP_PAID ","
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

/* The newest open order, which the payment view asks the gateway about. */
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

/*
 * Every failed refund of the application back to pending, due now, under
 * its own out_refund_no; the payment daemon is woken.  Returns the refunds
 * and the error each had.
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

/* The order, locked second; times as whole unix seconds. */
/* Expiry in whole seconds, rounded up: orders are created on whole seconds
 * (the time_expire the gateway gets), and a success_time in whole seconds
 * at the expiry second is given the benefit of the doubt. */
static const ch_stmt_t stmt_lock_order = {
	.name = "pay_lock_order",
	.sql = "SELECT status, amount_fen, currency,"
	       " ceil(extract(epoch FROM expires_at))::bigint,"
	       " floor(extract(epoch FROM now()))::bigint"
	       " FROM payment_order WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_known = {
	.name = "pay_known",
	.sql = "SELECT id, order_id FROM payment"
	       " WHERE provider = $1 AND transaction_id = $2",
	.nparams = 2,
};

/* The arrival; nothing when (provider, transaction_id) is taken already
 * (a concurrent duplicate that passed stmt_known). */
static const ch_stmt_t stmt_insert_payment = {
	.name = "pay_insert_payment",
	.sql = "INSERT INTO payment (order_id, application_id, provider,"
	       "  transaction_id, method, amount_fen, currency, disposition,"
	       "  source, paid_at, recorded_by_id)"
	       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
	       "  COALESCE(to_timestamp($10::double precision), now()), $11)"
	       " ON CONFLICT DO NOTHING RETURNING id",
	.nparams = 11,
};

static const ch_stmt_t stmt_order_paid = {
	.name = "pay_order_paid",
	.sql = "UPDATE payment_order SET status = 'paid', paid_at = now()"
	       " WHERE id = $1",
	.nparams = 1,
};

/* An order that can take no more money: expired or closed. */
static const ch_stmt_t stmt_order_close = {
	.name = "pay_order_close",
	.sql = "UPDATE payment_order SET closed_at = now(),"
	       " status = CASE WHEN expires_at <= now() THEN 'expired'"
	       "   ELSE 'closed' END"
	       " WHERE id = $1 AND status = 'open'",
	.nparams = 1,
};

static const ch_stmt_t stmt_close_open = {
	.name = "pay_close_open",
	.sql = "UPDATE payment_order SET closed_at = now(),"
	       " status = CASE WHEN expires_at <= now() THEN 'expired'"
	       "   ELSE 'closed' END"
	       " WHERE application_id = $1 AND status = 'open'"
	       " RETURNING out_trade_no, provider",
	.nparams = 1,
};

static const ch_stmt_t stmt_order_new = {
	.name = "pay_order_new",
	.sql = "INSERT INTO payment_order (out_trade_no, application_id,"
	       "  provider, amount_fen, expires_at, created_by_kind,"
	       "  created_by_id)"
	       " VALUES ($1, $2, $3, $4,"
	       "  date_trunc('second', now()) + $5::bigint * interval '1 second',"
	       "  $6, $7)"
	       " RETURNING id, floor(extract(epoch FROM expires_at))::bigint",
	.nparams = 7,
};

/*
 * A full refund of one payment: "succeeded" at once when it was paid at the
 * counter (the clerk pays it out), else "pending" for the payment daemon,
 * which the NOTIFY wakes.  Nothing when the payment has a refund already.
 */
static const ch_stmt_t stmt_refund = {
	.name = "pay_refund",
	.sql = "WITH p AS (SELECT id, application_id, amount_fen, provider"
	       "   FROM payment WHERE id = $1),"
	       " r AS (INSERT INTO refund (payment_id, application_id,"
	       "   out_refund_no, amount_fen, reason, requested_by_kind,"
	       "   requested_by_id, status, completed_at)"
	       "  SELECT p.id, p.application_id, $2, p.amount_fen, $3, $4, $5,"
	       "   CASE WHEN p.provider = 'counter' THEN 'succeeded'"
	       "    ELSE 'pending' END,"
	       "   CASE WHEN p.provider = 'counter' THEN now() END"
	       "  FROM p ON CONFLICT DO NOTHING"
	       "  RETURNING id, status, amount_fen)"
	       " SELECT r.id, r.status, r.amount_fen,"
	       "  pg_notify('payment', 'refund:' || r.id) FROM r",
	.nparams = 5,
};

/* ---- the pure rules --------------------------------------------------- */

/* Each reason's code (audit details) and its text (the refund's reason and
 * the SMS the handler reads). */
static const struct {
	const char *code, *text;
} whys[CH_PAY_WHY__MAX] = {
	[CH_PAY_WHY_NONE] = { "", "" },
	[CH_PAY_WHY_ALREADY_PAID] = { "already_paid", "该申请已缴费（重复支付）" },
	[CH_PAY_WHY_NOT_AWAITING] = { "not_awaiting_payment",
	    "申请已不在待缴费状态" },
	[CH_PAY_WHY_ORDER_EXPIRED] = { "order_expired", "支付订单已过期" },
	[CH_PAY_WHY_ORDER_CLOSED] = { "order_closed", "支付订单已关闭" },
};

const char *
ch_payment_why_code(ch_pay_why_t why)
{
	return why < CH_PAY_WHY__MAX ? whys[why].code : "";
}

const char *
ch_payment_why_text(ch_pay_why_t why)
{
	return why < CH_PAY_WHY__MAX ? whys[why].text : "";
}

ch_pay_why_t
ch_payment_refund_why(const ch_pay_facts_t *f)
{
	if (f->app_paid || strcmp(f->order_status, "paid") == 0)
		return CH_PAY_WHY_ALREADY_PAID;
	if (f->app_status != CH_ST_AWAITING_PAYMENT)
		return CH_PAY_WHY_NOT_AWAITING;
	if (strcmp(f->order_status, "expired") == 0 ||
	    f->paid_at >= f->order_expires_at)
		return CH_PAY_WHY_ORDER_EXPIRED;
	if (strcmp(f->order_status, "open") != 0)
		return CH_PAY_WHY_ORDER_CLOSED;
	return CH_PAY_WHY_NONE;
}

ch_refund_plan_t
ch_payment_refund_plan(ch_app_status_t app_status, const char *job_status)
{
	switch (app_status) {
	case CH_ST_CANCELLED:
	case CH_ST_REJECTED:
		return CH_REFUND_ONLY;
	case CH_ST_AWAITING_PAYMENT:
	case CH_ST_AWAITING_VERIFICATION:
		return CH_REFUND_CANCEL;
	case CH_ST_ISSUING:
		return job_status != NULL && strcmp(job_status, "queued") == 0
		    ? CH_REFUND_CANCEL_JOB : CH_REFUND_ISSUED;
	default:
		return CH_ST_ISSUED_OR_LATER & CH_ST_BIT(app_status)
		    ? CH_REFUND_ISSUED : CH_REFUND_REFUSED;
	}
}

void
ch_payment_number_format(const char *prefix, long long now,
    unsigned long long rnd, char out[CH_PAY_NO_SIZE])
{
	time_t local = (time_t)(now + 8 * 3600);	/* Asia/Shanghai */
	char stamp[16];
	struct tm tm;

	gmtime_r(&local, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
	snprintf(out, CH_PAY_NO_SIZE, "%.2s%.14s%010llu", prefix, stamp,
	    rnd % 10000000000ULL);
}

void
ch_payment_number(const char *prefix, char out[CH_PAY_NO_SIZE])
{
	unsigned long long rnd;

	ch_random((unsigned char *)&rnd, sizeof rnd);
	ch_payment_number_format(prefix, (long long)time(NULL), rnd, out);
}

/* The value of n ASCII digits at s, or -1. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static long long
days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
ch_payment_parse_time(const char *s, long long *out)
{
	static const int mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	int y, mo, d, h, mi, sec, leap, off = 0;
	const char *p;

	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (!isdigit((unsigned char)p[1]))
			return -1;
		for (p++; isdigit((unsigned char)*p); p++)
			;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh = digits(p + 1, 2), om = digits(p + 4, 2);

		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
	} else {
		return -1;
	}
	*out = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL +
	    sec - off;
	return 0;
}

/* ---- refunds ---------------------------------------------------------- */

/*
 * Inserts the refund of payment_id (see stmt_refund) with a new RF number;
 * by the system (automatic) or by ctx->principal (finance).  0 with *id and
 * *status (pool) set, or -1.
 */
static int
queue_refund(ch_ctx_t *ctx, long long payment_id, const char *reason,
    bool by_system, long long *id, const char **status)
{
	char pid[24], staff[24], no[CH_PAY_NO_SIZE];
	const char *params[5];
	PGresult *res;

	snprintf(pid, sizeof pid, "%lld", payment_id);
	snprintf(staff, sizeof staff, "%lld", ctx->principal.id);
	ch_payment_number("RF", no);
	params[0] = pid;
	params[1] = no;
	params[2] = reason;
	params[3] = by_system ? "system" : "staff";
	params[4] = !by_system && ctx->principal.kind == CH_ACTOR_STAFF
	    ? staff : NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_refund, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		ch_error("payment %lld has a refund already", payment_id);
		return -1;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*status = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	/* Paid out at the window at once: its red invoice now. */
	if (strcmp(*status, "succeeded") == 0 &&
	    ch_invoice_queue_red(ctx, *id) != 0)
		return -1;
	return 0;
}

/* Queues the full refund of payment payment_id (of application app_id)
 * that finance asked for (ctx->principal, with reason) and writes its
 * audit event "payment.refund_requested"; *refund_id receives its id.  0,
 * or -1 (database error, logged; or the payment has a refund already). */
static int
request_refund(ch_ctx_t *ctx, long long app_id, long long payment_id,
    const char *reason, long long *refund_id)
{
	const char *status;
	char idbuf[24];
	long long id;

	if (queue_refund(ctx, payment_id, reason, false, &id, &status) != 0)
		return -1;
	*refund_id = id;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	return ch_audit(ctx, "payment.refund_requested", "refund", idbuf,
	    json_pack("{s:I, s:I, s:s, s:s, s:s}",
	    "payment_id", (json_int_t)payment_id,
	    "application_id", (json_int_t)app_id,
	    "status", status, "requested_by", "staff", "reason", reason));
}

/* ---- orders ----------------------------------------------------------- */

typedef struct {
	long long id;
	char out_trade_no[CH_PAY_NO_SIZE];
	long long expires_at;		/* unix seconds */
} ch_pay_order_t;

/* A new order of our own number for application app_id (locked by the
 * caller, its other open orders closed: one open order per application)
 * of amount_fen with provider ("sandbox", "counter"), payable for
 * ttl_seconds from now, created by ctx->principal.  0 with *out filled, or
 * -1 (database error, logged). */
static int
order_new(ch_ctx_t *ctx, long long app_id, const char *provider,
    long long amount_fen, long long ttl_seconds, ch_pay_order_t *out)
{
	char app[24], amount[24], ttl[24], actor[24];
	const char *params[7];
	PGresult *res;

	memset(out, 0, sizeof *out);
	ch_payment_number("CH", out->out_trade_no);
	snprintf(app, sizeof app, "%lld", app_id);
	snprintf(amount, sizeof amount, "%lld", amount_fen);
	snprintf(ttl, sizeof ttl, "%lld", ttl_seconds);
	snprintf(actor, sizeof actor, "%lld", ctx->principal.id);
	params[0] = out->out_trade_no;
	params[1] = app;
	params[2] = provider;
	params[3] = amount;
	params[4] = ttl;
	params[5] = ch_actor_name(ctx->principal.kind);
	params[6] = ctx->principal.id > 0 ? actor : NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_order_new, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->expires_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	return 0;
}

int
ch_payment_close_open(ch_ctx_t *ctx, long long app_id,
    const char ***trade_nos)
{
	char app[24];
	const char *params[1] = { app };
	const char **list;
	PGresult *res;
	int n, k = 0;

	snprintf(app, sizeof app, "%lld", app_id);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_close_open, params);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	list = ch_palloc(ctx->pool, sizeof *list * ((size_t)n + 1));
	for (int i = 0; i < n; i++)
		if (strcmp(PQgetvalue(res, i, 1), "counter") != 0)
			list[k++] = ch_pstrdup(ctx->pool, PQgetvalue(res, i, 0));
	list[k] = NULL;
	if (trade_nos != NULL)
		*trade_nos = list;
	return 0;
}

/* ---- applying an arrival ---------------------------------------------- */

/* How the money came: through a gateway, or counted at the window. */
struct arrival {
	const char *provider;
	const char *source;		/* notify, query, counter */
	const char *method;		/* online, cash, pos */
	long long recorded_by;		/* the clerk, or 0 */
};

/* What apply() found under its locks. */
struct locked {
	long long order_id, app_id;
	ch_app_status_t app_status;
	bool app_paid;
	const char *order_status;
	long long amount_fen;
	const char *currency;
	long long expires_at, now;
};

/* Finds the order of txn and takes the locks: application, then order.
 * 1 found, 0 no such order, -1 error. */
static int
lock_both(ch_ctx_t *ctx, const char *provider, const char *out_trade_no,
    struct locked *l)
{
	char idbuf[24];
	const char *params[2];
	PGresult *res;

	params[0] = out_trade_no;
	params[1] = provider;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_find_order, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	l->order_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	l->app_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

	snprintf(idbuf, sizeof idbuf, "%lld", l->app_id);
	params[0] = idbuf;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_lock_app, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	l->app_status = ch_app_status_parse(PQgetvalue(res, 0, 0));
	l->app_paid = *PQgetvalue(res, 0, 1) == 't';

	snprintf(idbuf, sizeof idbuf, "%lld", l->order_id);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_lock_order, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	l->order_status = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	l->amount_fen = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	l->currency = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));
	l->expires_at = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	l->now = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	return 1;
}

/* The money of a refund-due arrival goes back: the order can take no
 * more, the refund is queued, the handler is told.  0 or -1. */
static int
refund_due(ch_ctx_t *ctx, const struct locked *l, long long payment_id,
    const char *payment_idbuf, ch_pay_why_t why, const ch_paygw_txn_t *txn,
    const struct arrival *how)
{
	char order[24], app[24], amount[32];
	const char *params[1] = { order }, *status, *text;
	long long refund_id;

	snprintf(order, sizeof order, "%lld", l->order_id);
	snprintf(app, sizeof app, "%lld", l->app_id);
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_order_close, params) == NULL)
		return -1;
	if (queue_refund(ctx, payment_id,
	    ch_psprintf(ctx->pool, "自动退款：%s", ch_payment_why_text(why)),
	    true, &refund_id, &status) != 0)
		return -1;
	if (ch_audit(ctx, "payment.refund_due", "payment", payment_idbuf,
	    json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:I}",
	    "application_id", (json_int_t)l->app_id,
	    "out_trade_no", txn->out_trade_no, "provider", how->provider,
	    "transaction_id", txn->transaction_id,
	    "amount_fen", (json_int_t)txn->amount_fen, "source", how->source,
	    "why", ch_payment_why_code(why), "refund_id",
	    (json_int_t)refund_id)) != 0)
		return -1;
	ch_fees_yuan(txn->amount_fen, amount);
	text = ch_psprintf(ctx->pool, TEXT_REFUND_DUE, app, amount,
	    ch_payment_why_text(why));
	return ch_wf_notify(ctx, l->app_id, "payment_refund_due",
	    json_pack("{s:s, s:s, s:s}", "id", app, "amount", amount,
	    "why", ch_payment_why_text(why)), text);
}

static ch_pay_result_t
apply(ch_ctx_t *ctx, const ch_paygw_txn_t *txn, const struct arrival *how,
    long long *payment_id)
{
	char order[24], app[24], amount[24], paid_at[24], clerk[24], pid[24];
	const char *params[11];
	struct locked l;
	ch_pay_facts_t f;
	ch_pay_why_t why;
	long long success = 0;
	bool have_time;
	PGresult *res;

	if (txn->out_trade_no == NULL || txn->transaction_id == NULL ||
	    txn->trade_state == NULL || strcmp(txn->trade_state, "SUCCESS") != 0) {
		ch_warn("payment: not a successful transaction with an order and "
		    "a transaction id");
		return CH_PAY_MISMATCH;
	}
	switch (lock_both(ctx, how->provider, txn->out_trade_no, &l)) {
	case 1:
		break;
	case 0:
		ch_warn("payment: no order \"%s\" of provider \"%s\"",
		    txn->out_trade_no, how->provider);
		return CH_PAY_UNKNOWN_ORDER;
	default:
		return CH_PAY_ERROR;
	}

	/* Idempotent on the transaction: its second arrival changes nothing. */
	params[0] = how->provider;
	params[1] = txn->transaction_id;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_known, params);
	if (res == NULL)
		return CH_PAY_ERROR;
	if (PQntuples(res) == 1) {
		if (payment_id != NULL)
			*payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (strtoll(PQgetvalue(res, 0, 1), NULL, 10) != l.order_id)
			ch_warn("payment: transaction \"%s\" came again for "
			    "another order \"%s\"", txn->transaction_id,
			    txn->out_trade_no);
		return CH_PAY_DUPLICATE;
	}
	if (txn->amount_fen != l.amount_fen || txn->currency == NULL ||
	    strcmp(txn->currency, l.currency) != 0) {
		ch_warn("payment: order \"%s\" is for %lld %s, transaction "
		    "\"%s\" says %lld %s", txn->out_trade_no, l.amount_fen,
		    l.currency, txn->transaction_id, txn->amount_fen,
		    txn->currency != NULL ? txn->currency : "(none)");
		return CH_PAY_MISMATCH;
	}

	have_time = txn->success_time != NULL &&
	    ch_payment_parse_time(txn->success_time, &success) == 0;
	f.order_status = l.order_status;
	f.order_expires_at = l.expires_at;
	f.paid_at = have_time ? success : l.now;
	f.app_status = l.app_status;
	f.app_paid = l.app_paid;
	why = ch_payment_refund_why(&f);

	snprintf(order, sizeof order, "%lld", l.order_id);
	snprintf(app, sizeof app, "%lld", l.app_id);
	snprintf(amount, sizeof amount, "%lld", txn->amount_fen);
	snprintf(paid_at, sizeof paid_at, "%lld", success);
	snprintf(clerk, sizeof clerk, "%lld", how->recorded_by);
	params[0] = order;
	params[1] = app;
	params[2] = how->provider;
	params[3] = txn->transaction_id;
	params[4] = how->method;
	params[5] = amount;
	params[6] = l.currency;
	params[7] = why == CH_PAY_WHY_NONE ? "captured" : "refund_due";
	params[8] = how->source;
	params[9] = have_time ? paid_at : NULL;
	params[10] = how->recorded_by > 0 ? clerk : NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_insert_payment, params);
	if (res == NULL)
		return CH_PAY_ERROR;
	if (PQntuples(res) != 1)
		return CH_PAY_DUPLICATE;
	snprintf(pid, sizeof pid, "%s", PQgetvalue(res, 0, 0));
	if (payment_id != NULL)
		*payment_id = strtoll(pid, NULL, 10);

	if (why != CH_PAY_WHY_NONE) {
		ch_info("payment: transaction \"%s\" of order \"%s\" is refunded "
		    "(%s)", txn->transaction_id, txn->out_trade_no,
		    ch_payment_why_code(why));
		return refund_due(ctx, &l, strtoll(pid, NULL, 10), pid, why, txn,
		    how) == 0 ? CH_PAY_REFUND_DUE : CH_PAY_ERROR;
	}
	params[0] = order;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_order_paid, params) == NULL)
		return CH_PAY_ERROR;
	if (ch_audit(ctx, "payment.captured", "payment", pid,
	    json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s}",
	    "application_id", (json_int_t)l.app_id,
	    "out_trade_no", txn->out_trade_no, "provider", how->provider,
	    "transaction_id", txn->transaction_id, "method", how->method,
	    "amount_fen", (json_int_t)txn->amount_fen,
	    "source", how->source)) != 0)
		return CH_PAY_ERROR;
	if (ch_settle_record(ctx, l.app_id, CH_SETTLE_PAID) == CH_SETTLE_ERROR)
		return CH_PAY_ERROR;
	/* Its e-invoice, pending for certhall-invoiced, in this very
	 * transaction: notify, query and counter all capture here. */
	if (ch_invoice_queue_blue(ctx, strtoll(pid, NULL, 10), l.app_id) != 0)
		return CH_PAY_ERROR;
	return CH_PAY_CAPTURED;
}

ch_pay_result_t
ch_payment_apply(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *source)
{
	struct arrival how = {
		.provider = provider, .source = source, .method = "online",
	};

	return apply(ctx, txn, &how, NULL);
}

/* A counter payment for application app_id, the checks made: a counter
 * order of its own, paid at once, through apply().  CH_PAY_CAPTURED with
 * *payment_id set, CH_PAY_DUPLICATE (the receipt number is recorded),
 * CH_PAY_ERROR. */
static ch_pay_result_t
counter_record(ch_ctx_t *ctx, long long app_id, const char *method,
    const char *receipt_no, long long amount_fen, long long *payment_id)
{
	struct arrival how = {
		.provider = "counter", .source = "counter", .method = method,
		.recorded_by = ctx->principal.id,
	};
	ch_paygw_txn_t txn;
	ch_pay_order_t order;

	/* A counter order of its own, paid at once: the books show every
	 * payment against an order, however it was taken. */
	if (order_new(ctx, app_id, "counter", amount_fen, 60, &order) != 0)
		return CH_PAY_ERROR;
	memset(&txn, 0, sizeof txn);
	txn.out_trade_no = order.out_trade_no;
	txn.trade_state = "SUCCESS";
	txn.transaction_id = receipt_no;
	txn.amount_fen = amount_fen;
	txn.currency = "CNY";
	return apply(ctx, &txn, &how, payment_id);
}

/* ---- paid, and what an application owes --------------------------------- */

/* The one-column JSON text stmt returns for id, into *json (pool).  0, or
 * -1 (database error, or not one row). */
static int
json_row(ch_ctx_t *ctx, const ch_stmt_t *stmt, long long id,
    const char **json)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, stmt, id);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	*json = PQgetvalue(res, 0, 0);
	return 0;
}

int
ch_payment_is_paid(ch_ctx_t *ctx, long long app_id)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_paid, app_id);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	return *PQgetvalue(res, 0, 0) == 't';
}

int
ch_payment_lock_app(ch_db_t *db, ch_pool_t *pool, const char *app_id)
{
	const char *params[1] = { app_id };
	PGresult *res = ch_db_exec(db, pool, &stmt_lock_app_row, params);

	return res != NULL && PQntuples(res) == 1 ? 0 : -1;
}

ch_payable_t
ch_payment_payable(ch_app_status_t status, const ch_pay_due_t *due)
{
	if (due->paid)
		return CH_PAYABLE_PAID;
	if (status != CH_ST_AWAITING_PAYMENT)
		return CH_PAYABLE_NOT_AWAITING;
	if (!due->quote_locked || due->total_fen <= 0)
		return CH_PAYABLE_NO_QUOTE;
	return CH_PAYABLE;
}

/* Reads what application a (locked) owes into *due, and whether it can be
 * paid now into out->payable and out->total_fen.  0, or -1 after a
 * database error. */
static int
load_due(ch_ctx_t *ctx, const ch_app_t *a, ch_pay_due_t *due,
    ch_pay_out_t *out)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_due, a->id);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	due->paid = *PQgetvalue(res, 0, 0) == 't';
	due->quote_locked = *PQgetvalue(res, 0, 1) == 't';
	due->total_fen = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	due->business_name = PQgetvalue(res, 0, 3);
	out->payable = ch_payment_payable(a->status, due);
	out->total_fen = due->total_fen;
	if (out->payable == CH_PAYABLE_NO_QUOTE)
		ch_error("application %lld awaits payment without a locked "
		    "quote", a->id);
	return 0;
}

/* ---- opening an order -------------------------------------------------- */

ch_order_result_t
ch_payment_open(ch_ctx_t *ctx, ch_paygw_t *gw, const ch_app_t *a,
    ch_pay_out_t *out)
{
	const char *prepay_id, *pay_url, *why = NULL;
	const char *params[3];
	char idbuf[24];
	ch_paygw_order_t send;
	ch_pay_order_t o;
	ch_pay_due_t due;
	PGresult *res;

	memset(out, 0, sizeof *out);
	if (load_due(ctx, a, &due, out) != 0)
		return CH_ORDER_ERROR;
	if (out->payable != CH_PAYABLE)
		return CH_ORDER_UNPAYABLE;

	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_open_order, a->id);
	if (res == NULL)
		return CH_ORDER_ERROR;
	if (PQntuples(res) == 1 && *PQgetvalue(res, 0, 1) == 't') {
		/* Still payable: the same order again. */
		out->json = PQgetvalue(res, 0, 2);
		return CH_ORDER_AGAIN;
	}
	if (PQntuples(res) == 1 &&
	    ch_payment_close_open(ctx, a->id, &out->stale) != 0)
		return CH_ORDER_ERROR;

	if (gw == NULL)
		return CH_ORDER_NO_GATEWAY;
	if (order_new(ctx, a->id, ch_paygw_provider(gw), due.total_fen,
	    ch_paygw_order_ttl(gw), &o) != 0)
		return CH_ORDER_ERROR;
	send.out_trade_no = o.out_trade_no;
	send.description = ch_psprintf(ctx->pool, TEXT_ORDER,
	    due.business_name, a->id);
	send.amount_fen = due.total_fen;
	send.expires_at = o.expires_at;
	switch (ch_paygw_create(gw, ctx->pool, &send, &prepay_id, &pay_url,
	    &why)) {
	case CH_PAYGW_OK:
		break;
	case CH_PAYGW_REFUSED:
		ch_error("payment: the gateway refused order \"%s\": %s",
		    o.out_trade_no, why != NULL ? why : "?");
		return CH_ORDER_GATEWAY_DOWN;
	case CH_PAYGW_UNAVAILABLE:
	default:
		ch_warn("payment: the gateway did not take order \"%s\": %s",
		    o.out_trade_no, why != NULL ? why : "?");
		return CH_ORDER_GATEWAY_DOWN;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", o.id);
	params[0] = idbuf;
	params[1] = prepay_id;
	params[2] = pay_url;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_order_sent, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_ORDER_ERROR;
	out->json = PQgetvalue(res, 0, 0);
	ch_info("payment: order \"%s\" of application %lld for %lld fen",
	    o.out_trade_no, a->id, due.total_fen);
	return CH_ORDER_OPENED;
}

/* ---- at the counter ------------------------------------------------------ */

ch_counter_result_t
ch_payment_counter(ch_ctx_t *ctx, const ch_app_t *a, const char *method,
    const char *receipt_no, long long amount_fen, ch_pay_out_t *out)
{
	long long payment_id = 0;
	ch_pay_due_t due;

	memset(out, 0, sizeof *out);
	if (load_due(ctx, a, &due, out) != 0)
		return CH_COUNTER_ERROR;
	if (out->payable != CH_PAYABLE)
		return CH_COUNTER_UNPAYABLE;
	if (amount_fen != due.total_fen)
		return CH_COUNTER_WRONG_AMOUNT;
	if (ch_payment_close_open(ctx, a->id, &out->stale) != 0)
		return CH_COUNTER_ERROR;
	switch (counter_record(ctx, a->id, method, receipt_no, amount_fen,
	    &payment_id)) {
	case CH_PAY_CAPTURED:
		break;
	case CH_PAY_DUPLICATE:
		return CH_COUNTER_DUPLICATE;
	default:
		/* The application was checked under its lock: anything
		 * else is a fault. */
		ch_error("counter payment of application %lld not captured",
		    a->id);
		return CH_COUNTER_ERROR;
	}
	return json_row(ctx, &stmt_payment_json, payment_id, &out->json) == 0
	    ? CH_COUNTER_RECORDED : CH_COUNTER_ERROR;
}

/* ---- closing at the gateway ------------------------------------------ */

void
ch_payment_close_at_gateway(ch_ctx_t *ctx, ch_paygw_t *gw,
    const char *const *trade_nos)
{
	const char *why = NULL;

	if (trade_nos == NULL || trade_nos[0] == NULL)
		return;
	if (gw == NULL) {
		ch_warn("payment: orders closed here stay open at the gateway "
		    "until they expire (no gateway)");
		return;
	}
	for (; *trade_nos != NULL; trade_nos++)
		if (ch_paygw_close(gw, ctx->pool, *trade_nos, &why) !=
		    CH_PAYGW_OK)
			ch_warn("payment: closing order \"%s\" at the gateway "
			    "failed: %s", *trade_nos, why != NULL ? why : "?");
}

/* ---- refunds finance asks for ------------------------------------------ */

/* Carries out plan on the locked application a: cancels its queued signing
 * job, then the application itself (history, audit application.cancelled
 * with the reason).  CH_REFUNDED (done), CH_REFUND_MOVED or
 * CH_REFUND_ERROR. */
static ch_refund_result_t
cancel_for_refund(ch_ctx_t *ctx, const ch_app_t *a, ch_refund_plan_t plan,
    const char *reason)
{
	PGresult *res;

	if (plan == CH_REFUND_CANCEL_JOB) {
		res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_job_cancel, a->id);
		if (res == NULL || PQntuples(res) != 1)
			return CH_REFUND_ERROR;	/* locked and queued: cannot happen */
	}
	if (plan == CH_REFUND_ONLY)
		return CH_REFUNDED;
	switch (ch_wf_transition(ctx, a->id, FROM_REFUNDABLE, CH_ST_CANCELLED,
	    reason, json_pack("{s:b}", "refund", 1), NULL)) {
	case CH_WF_OK:
		return CH_REFUNDED;
	case CH_WF_ILLEGAL:
		return CH_REFUND_MOVED;
	case CH_WF_ERROR:
	default:
		return CH_REFUND_ERROR;
	}
}

ch_refund_result_t
ch_payment_refund(ch_ctx_t *ctx, const ch_app_t *a, const char *reason,
    ch_pay_out_t *out)
{
	long long payment_id, refund_id, amount_fen;
	char idbuf[24], amount[32];
	ch_refund_result_t r;
	bool counter;
	PGresult *res;

	memset(out, 0, sizeof *out);
	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_refundable, a->id);
	if (res == NULL)
		return CH_REFUND_ERROR;
	if (PQntuples(res) != 1)
		return CH_REFUND_NOTHING;
	payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	amount_fen = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	counter = strcmp(PQgetvalue(res, 0, 2), "counter") == 0;

	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_job, a->id);
	if (res == NULL)
		return CH_REFUND_ERROR;
	if (PQntuples(res) == 1)
		out->job_status = PQgetvalue(res, 0, 0);
	out->plan = ch_payment_refund_plan(a->status, out->job_status);
	if (out->plan == CH_REFUND_ISSUED || out->plan == CH_REFUND_REFUSED)
		return CH_REFUND_DENIED;
	if ((r = cancel_for_refund(ctx, a, out->plan, reason)) != CH_REFUNDED)
		return r;
	if (ch_payment_close_open(ctx, a->id, &out->stale) != 0 ||
	    request_refund(ctx, a->id, payment_id, reason, &refund_id) != 0)
		return CH_REFUND_ERROR;
	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	ch_fees_yuan(amount_fen, amount);
	if (ch_wf_notify(ctx, a->id, counter ? "payment_refunded_counter"
	    : "payment_refunded", json_pack("{s:s, s:s}", "id", idbuf,
	    "amount", amount), ch_psprintf(ctx->pool, counter
	    ? TEXT_REFUNDED_COUNTER : TEXT_REFUNDED_ONLINE, idbuf, amount)) != 0)
		return CH_REFUND_ERROR;
	return json_row(ctx, &stmt_refund_json, refund_id, &out->json) == 0
	    ? CH_REFUNDED : CH_REFUND_ERROR;
}

int
ch_payment_refund_retry(ch_ctx_t *ctx, long long app_id, json_t **refunds)
{
	json_t *items;
	PGresult *res;
	int n;

	*refunds = NULL;
	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_refund_retry, app_id);
	if (res == NULL)
		return -1;
	if ((n = PQntuples(res)) == 0)
		return 0;
	items = ch_pool_json(ctx->pool, json_array());
	for (int i = 0; i < n; i++) {
		json_t *refund = json_loads(PQgetvalue(res, i, 2), 0, NULL);

		if (refund == NULL) {
			ch_error("refund retry: the database built bad JSON");
			return -1;
		}
		json_array_append_new(items, refund);
		if (ch_audit(ctx, "payment.refund_retried", "refund",
		    PQgetvalue(res, i, 0), json_pack("{s:I, s:s?}",
		    "application_id", (json_int_t)app_id, "previous_error",
		    PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1))) != 0)
			return -1;
	}
	*refunds = items;
	return n;
}

/* ---- what the gateway says, and the payment view ------------------------ */

ch_pay_result_t
ch_payment_apply_alone(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *source)
{
	ch_pay_result_t r;

	if (ch_db_begin(ctx->db) != 0)
		return CH_PAY_ERROR;
	switch ((r = ch_payment_apply(ctx, provider, txn, source))) {
	case CH_PAY_CAPTURED:
	case CH_PAY_DUPLICATE:
	case CH_PAY_REFUND_DUE:
		if (ch_db_commit(ctx->db) == 0)
			return r;
		break;
	case CH_PAY_UNKNOWN_ORDER:
	case CH_PAY_MISMATCH:
		if (ch_db_rollback(ctx->db) == 0)
			return r;
		break;
	case CH_PAY_ERROR:
	default:
		break;
	}
	ch_db_finish(ctx->db);
	return CH_PAY_ERROR;
}

static const char *const result_codes[] = {
	[CH_PAY_CAPTURED] = "captured",
	[CH_PAY_DUPLICATE] = "duplicate",
	[CH_PAY_REFUND_DUE] = "refund_due",
};

const char *
ch_payment_result_code(ch_pay_result_t r)
{
	if ((size_t)r >= sizeof result_codes / sizeof result_codes[0] ||
	    result_codes[r] == NULL)
		return "";
	return result_codes[r];
}

ch_pay_result_t
ch_payment_notified(ch_ctx_t *ctx, const char *provider,
    const ch_paygw_txn_t *txn, const char *body, size_t body_len)
{
	ch_pay_result_t r = ch_payment_apply(ctx, provider, txn, "notify");
	const char *params[4];

	if (r != CH_PAY_CAPTURED && r != CH_PAY_DUPLICATE &&
	    r != CH_PAY_REFUND_DUE)
		return r;
	params[0] = provider;
	params[1] = txn->notification_id;
	params[2] = ch_pstrndup(ctx->pool, body, body_len);
	params[3] = ch_payment_result_code(r);
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_notification, params) == NULL)
		return CH_PAY_ERROR;
	return r;
}

/* Asks the gateway about the newest open order of application app_id and
 * applies a payment it reports, in a transaction of its own.  A gateway
 * that does not answer, or answers what cannot be applied, leaves things
 * as they are (logged).  0, or -1 after a database error. */
static int
refresh(ch_ctx_t *ctx, ch_paygw_t *gw, long long app_id)
{
	const char *why = NULL, *no, *provider;
	ch_paygw_txn_t txn;
	PGresult *res;

	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_latest_open, app_id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || gw == NULL)
		return 0;
	no = PQgetvalue(res, 0, 0);
	provider = PQgetvalue(res, 0, 1);
	if (strcmp(provider, ch_paygw_provider(gw)) != 0)
		return 0;
	if (ch_paygw_query(gw, ctx->pool, no, &txn, &why) != CH_PAYGW_OK) {
		ch_warn("payment: query of order \"%s\" failed: %s", no,
		    why != NULL ? why : "?");
		return 0;
	}
	if (strcmp(txn.trade_state, "SUCCESS") != 0)
		return 0;
	return ch_payment_apply_alone(ctx, provider, &txn, "query") ==
	    CH_PAY_ERROR ? -1 : 0;
}

int
ch_payment_show(ch_ctx_t *ctx, ch_paygw_t *gw, long long app_id,
    const char **json)
{
	*json = NULL;
	if (refresh(ctx, gw, app_id) != 0)
		return -1;
	return json_row(ctx, &stmt_overview, app_id, json);
}
