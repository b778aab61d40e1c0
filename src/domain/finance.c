/*
 * The finance views (certhall/domain/invoice.h ch_fin_view();
 * docs/CONTRACT.md "Finance views"): invoices, payments and refunds of a
 * date range, their totals, and the reconciliation of the range.
 *
 * Which time puts a row in the range (Asia/Shanghai days, both ends
 * included): an invoice its created_at, a payment its received_at, a
 * refund its created_at for the refunds list.  The reconciliation counts
 * captured payments by received_at, succeeded refunds of captured
 * payments by completed_at, and invoices of every status by created_at.
 * An invoice row is written in the very transaction that captures its
 * payment or completes its refund (sql/0020_invoice.sql), so now() is the
 * same for both, the pairs never straddle a boundary, and for any range
 *
 *	paid_fen - refunded_fen = invoiced_fen - red_invoiced_fen
 *
 * holds exactly while every payment and refund has its invoice;
 * "balanced" says whether it does.  Money that arrived for an order that
 * could not take it (payment disposition refund_due) never paid an
 * application, is not invoiced, and is shown apart (refund_due_fen).
 */
#include "certhall/domain/invoice.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_FROM "(($1::date)::timestamp AT TIME ZONE 'Asia/Shanghai')"
#define RANGE_TO "((($2::date) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')"
#define IN_RANGE(col) " " col " >= " RANGE_FROM " AND " col " < " RANGE_TO

const char *const ch_fin_statuses[CH_FIN__MAX][5] = {
	[CH_FIN_INVOICES] = { "pending", "issued", "failed", NULL },
	[CH_FIN_PAYMENTS] = { "captured", "refund_due", NULL },
	[CH_FIN_REFUNDS] = { "pending", "succeeded", "failed", NULL },
};

/* $1 from, $2 to, $3 status or NULL, $4 limit: the rows (JSON, limited)
 * and the totals of all that match, in one row. */
static const ch_stmt_t stmt_views[CH_FIN__MAX] = {
	[CH_FIN_INVOICES] = {
		.name = "finance_invoices",
		.sql = "WITH m AS (SELECT i.* FROM invoice i WHERE"
		       IN_RANGE("i.created_at")
		       "  AND ($3::text IS NULL OR i.status = $3))"
		       " SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.id) FROM"
		       "  (SELECT m.id, json_build_object('id', m.id, 'kind', m.kind,"
		       "   'status', m.status, 'number', m.number,"
		       "   'application_id', m.application_id,"
		       "   'payment_id', m.payment_id, 'refund_id', m.refund_id,"
		       "   'original_id', m.original_id, 'buyer_name', m.buyer_name,"
		       "   'buyer_code', m.buyer_code, 'net_fen', m.net_fen,"
		       "   'tax_fen', m.tax_fen, 'gross_fen', m.gross_fen,"
		       "   'created_at', " CH_SQL_TIME("m.created_at") ","
		       "   'issued_at', " CH_SQL_TIME("m.issued_at") ") AS j"
		       "   FROM m ORDER BY m.id LIMIT $4::bigint) x), '[]')::text,"
		       " json_build_object('count', count(*),"
		       "  'net_fen', COALESCE(sum(net_fen), 0),"
		       "  'tax_fen', COALESCE(sum(tax_fen), 0),"
		       "  'gross_fen', COALESCE(sum(gross_fen), 0),"
		       "  'blue_gross_fen', COALESCE(sum(gross_fen)"
		       "    FILTER (WHERE kind = 'blue'), 0),"
		       "  'red_gross_fen', COALESCE(sum(gross_fen)"
		       "    FILTER (WHERE kind = 'red'), 0))::text"
		       " FROM m",
		.nparams = 4,
		.readonly = true,
	},
	[CH_FIN_PAYMENTS] = {
		.name = "finance_payments",
		.sql = "WITH m AS (SELECT p.* FROM payment p WHERE"
		       IN_RANGE("p.received_at")
		       "  AND ($3::text IS NULL OR p.disposition = $3))"
		       " SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.id) FROM"
		       "  (SELECT m.id, json_build_object('id', m.id,"
		       "   'application_id', m.application_id,"
		       "   'provider', m.provider, 'method', m.method,"
		       "   'transaction_id', m.transaction_id,"
		       "   'amount_fen', m.amount_fen, 'disposition', m.disposition,"
		       "   'paid_at', " CH_SQL_TIME("m.paid_at") ","
		       "   'received_at', " CH_SQL_TIME("m.received_at") ","
		       "   'invoice_id', (SELECT v.id FROM invoice v"
		       "     WHERE v.payment_id = m.id)) AS j"
		       "   FROM m ORDER BY m.id LIMIT $4::bigint) x), '[]')::text,"
		       " json_build_object('count', count(*),"
		       "  'amount_fen', COALESCE(sum(amount_fen), 0))::text"
		       " FROM m",
		.nparams = 4,
		.readonly = true,
	},
	[CH_FIN_REFUNDS] = {
		.name = "finance_refunds",
		.sql = "WITH m AS (SELECT r.* FROM refund r WHERE"
		       IN_RANGE("r.created_at")
		       "  AND ($3::text IS NULL OR r.status = $3))"
		       " SELECT COALESCE((SELECT json_agg(x.j ORDER BY x.id) FROM"
		       "  (SELECT m.id, json_build_object('id', m.id,"
		       "   'application_id', m.application_id,"
		       "   'payment_id', m.payment_id,"
		       "   'out_refund_no', m.out_refund_no,"
		       "   'amount_fen', m.amount_fen, 'status', m.status,"
		       "   'reason', m.reason,"
		       "   'created_at', " CH_SQL_TIME("m.created_at") ","
		       "   'completed_at', " CH_SQL_TIME("m.completed_at") ","
		       "   'invoice_id', (SELECT v.id FROM invoice v"
		       "     WHERE v.refund_id = m.id)) AS j"
		       "   FROM m ORDER BY m.id LIMIT $4::bigint) x), '[]')::text,"
		       " json_build_object('count', count(*),"
		       "  'amount_fen', COALESCE(sum(amount_fen), 0))::text"
		       " FROM m",
		.nparams = 4,
		.readonly = true,
	},
};

static const ch_stmt_t stmt_reconcile = {
	.name = "finance_reconcile",
	.sql = "SELECT json_build_object("
	       " 'paid_fen', (SELECT COALESCE(sum(p.amount_fen), 0) FROM payment p"
	       "   WHERE p.disposition = 'captured' AND" IN_RANGE("p.received_at") "),"
	       " 'refunded_fen', (SELECT COALESCE(sum(r.amount_fen), 0)"
	       "   FROM refund r JOIN payment p ON p.id = r.payment_id"
	       "   WHERE r.status = 'succeeded' AND p.disposition = 'captured'"
	       "   AND" IN_RANGE("r.completed_at") "),"
	       " 'invoiced_fen', (SELECT COALESCE(sum(i.gross_fen), 0) FROM invoice i"
	       "   WHERE i.kind = 'blue' AND" IN_RANGE("i.created_at") "),"
	       " 'red_invoiced_fen', (SELECT COALESCE(-sum(i.gross_fen), 0)"
	       "   FROM invoice i WHERE i.kind = 'red'"
	       "   AND" IN_RANGE("i.created_at") "),"
	       " 'refund_due_fen', (SELECT COALESCE(sum(p.amount_fen), 0)"
	       "   FROM payment p WHERE p.disposition = 'refund_due'"
	       "   AND" IN_RANGE("p.received_at") "),"
	       " 'invoices_pending', (SELECT count(*) FROM invoice i"
	       "   WHERE i.status = 'pending' AND" IN_RANGE("i.created_at") "),"
	       " 'invoices_failed', (SELECT count(*) FROM invoice i"
	       "   WHERE i.status = 'failed' AND" IN_RANGE("i.created_at") "))::text",
	.nparams = 2,
	.readonly = true,
};

/* The CSV columns of each view: the item members, in order. */
static const char *const csv_columns[CH_FIN__MAX][16] = {
	[CH_FIN_INVOICES] = { "id", "kind", "status", "number",
	    "application_id", "payment_id", "refund_id", "original_id",
	    "buyer_name", "buyer_code", "net_fen", "tax_fen", "gross_fen",
	    "created_at", "issued_at", NULL },
	[CH_FIN_PAYMENTS] = { "id", "application_id", "provider", "method",
	    "transaction_id", "amount_fen", "disposition", "paid_at",
	    "received_at", "invoice_id", NULL },
	[CH_FIN_REFUNDS] = { "id", "application_id", "payment_id",
	    "out_refund_no", "amount_fen", "status", "reason", "created_at",
	    "completed_at", "invoice_id", NULL },
};

/* A growing text. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			ch_oom();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Appends v as one CSV field (RFC 4180: quoted when it holds a comma, a
 * quote or a line break; quotes doubled).  A text a spreadsheet would take
 * for a formula (=, +, -, @ first) gets a ' in front (OWASP "CSV
 * injection"); numbers are written as they are. */
static void
csv_field(struct buf *b, json_t *v)
{
	char num[32];
	const char *s = "";
	bool quote;

	if (json_is_integer(v)) {
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		put(b, num, strlen(num));
		return;
	}
	if (json_is_string(v))
		s = json_string_value(v);
	quote = strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		put(b, "\"", 1);
	if (s[0] != '\0' && strchr("=+-@", s[0]) != NULL)
		put(b, "'", 1);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"')
			put(b, "\"", 1);
		put(b, p, 1);
	}
	if (quote)
		put(b, "\"", 1);
}

/* items as CSV text in pool: a header row, then one row per item. */
static const char *
to_csv(ch_pool_t *pool, ch_fin_view_t view, json_t *items, size_t *len)
{
	const char *const *cols = csv_columns[view];
	struct buf b = { NULL, 0, 0 };
	const char *out;
	size_t i;
	json_t *item;

	for (int c = 0; cols[c] != NULL; c++) {
		if (c > 0)
			put(&b, ",", 1);
		put(&b, cols[c], strlen(cols[c]));
	}
	put(&b, "\r\n", 2);
	json_array_foreach(items, i, item) {
		for (int c = 0; cols[c] != NULL; c++) {
			if (c > 0)
				put(&b, ",", 1);
			csv_field(&b, json_object_get(item, cols[c]));
		}
		put(&b, "\r\n", 2);
	}
	out = ch_pstrdup(pool, b.p);
	*len = b.len;
	free(b.p);
	return out;
}

const char *
ch_fin_view(ch_ctx_t *ctx, ch_fin_view_t view, const ch_fin_query_t *q,
    bool csv, size_t *len)
{
	const char *params[4];
	PGresult *res, *rec;
	json_t *items, *out;
	const char *text;
	char *dump;

	params[0] = q->from;
	params[1] = q->to;
	params[2] = q->status;
	params[3] = ch_psprintf(ctx->pool, "%lld", q->limit);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_views[view],
	    params)) == NULL || PQntuples(res) != 1)
		return NULL;
	if ((rec = ch_db_exec(ctx->db, ctx->pool, &stmt_reconcile,
	    params)) == NULL || PQntuples(rec) != 1)
		return NULL;
	items = ch_pool_json(ctx->pool, json_loads(PQgetvalue(res, 0, 0), 0,
	    NULL));
	if (items == NULL)
		return NULL;
	if (csv)
		return to_csv(ctx->pool, view, items, len);
	/* "status" is made here and handed over (o); items stays the pool's (O). */
	out = ch_pool_json(ctx->pool, json_pack("{s:s, s:s, s:o, s:O}",
	    "from", q->from, "to", q->to, "status",
	    q->status != NULL ? json_string(q->status) : json_null(),
	    "items", items));
	{
		json_t *totals = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		json_t *r = json_loads(PQgetvalue(rec, 0, 0), 0, NULL);
		json_int_t lhs, rhs;

		if (totals == NULL || r == NULL)
			ch_oom();
		json_object_set_new(out, "truncated", json_boolean(
		    json_integer_value(json_object_get(totals, "count")) >
		    (json_int_t)json_array_size(items)));
		json_object_set_new(out, "totals", totals);
		lhs = json_integer_value(json_object_get(r, "paid_fen")) -
		    json_integer_value(json_object_get(r, "refunded_fen"));
		rhs = json_integer_value(json_object_get(r, "invoiced_fen")) -
		    json_integer_value(json_object_get(r, "red_invoiced_fen"));
		json_object_set_new(r, "net_paid_fen", json_integer(lhs));
		json_object_set_new(r, "net_invoiced_fen", json_integer(rhs));
		json_object_set_new(r, "balanced", json_boolean(lhs == rhs));
		json_object_set_new(out, "reconciliation", r);
	}
	if ((dump = json_dumps(out, JSON_COMPACT)) == NULL)
		ch_oom();
	text = ch_pstrdup(ctx->pool, dump);
	free(dump);
	*len = strlen(text);
	return text;
}
