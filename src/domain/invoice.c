/*
 * Invoices in our books (certhall/domain/invoice.h; sql/0020_invoice.sql):
 * the pending rows written with the money, their JSON, the finance views.
 */
#include "certhall/domain/invoice.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/money.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Invoice over "invoice i" (docs/CONTRACT.md "Invoices"); the capitals are
 * added in C (ch_money_capitals()). */
#define INVOICE_JSON \
	"json_build_object('id', i.id, 'kind', i.kind," \
	" 'application_id', i.application_id, 'payment_id', i.payment_id," \
	" 'refund_id', i.refund_id, 'original_id', i.original_id," \
	" 'original_number', (SELECT o.number FROM invoice o" \
	"   WHERE o.id = i.original_id)," \
	" 'status', i.status, 'number', i.number," \
	" 'issued_at', " CH_SQL_TIME("i.issued_at") "," \
	" 'buyer', json_build_object('kind', CASE WHEN i.buyer_code IS NULL" \
	"   THEN 'person' ELSE 'unit' END, 'name', i.buyer_name," \
	"   'code', i.buyer_code)," \
	" 'seller', CASE WHEN i.seller_name IS NULL THEN NULL ELSE" \
	"   json_build_object('name', i.seller_name, 'code', i.seller_code) END," \
	" 'issuer', i.issuer, 'lines', i.lines," \
	" 'total', json_build_object('net_fen', i.net_fen," \
	"   'tax_fen', i.tax_fen, 'gross_fen', i.gross_fen)," \
	" 'currency', 'CNY', 'attempts', i.attempts, 'last_error', i.last_error," \
	" 'created_at', " CH_SQL_TIME("i.created_at") "," \
	" 'links', json_build_object('self', '/api/v1/invoices/' || i.id," \
	"   'pdf', CASE WHEN i.status = 'issued'" \
	"     THEN '/api/v1/invoices/' || i.id || '/pdf' END))"

/* Whether "invoice i" is visible: $2 NULL for staff (the route admits
 * finance and admin only), else the applicant the caller acts for. */
#define INVOICE_VISIBLE \
	" ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM application a" \
	"   WHERE a.id = i.application_id AND a.applicant_id = $2::bigint))"

/* The lines of payment $1's blue invoice, with the buyer: one row per
 * quoted fee item of a non-zero amount, its rate from the quote's fee
 * schedule (NULL when the schedule has none: refused). */
static const ch_stmt_t stmt_blue_facts = {
	.name = "invoice_blue_facts",
	.sql = "SELECT l.line->>'fee_code', l.line->>'name',"
	       "  (l.line->>'quantity')::bigint, (l.line->>'amount_fen')::bigint,"
	       "  fi.tax_rate_bp, a.quote->>'schedule_version',"
	       "  a.certificate_type, p.amount_fen,"
	       "  COALESCE(NULLIF(a.invoice_title, ''),"
	       "   CASE WHEN a.certificate_type = 'org' THEN a.unit_name"
	       "    ELSE a.holder_name END, a.handler_name),"
	       "  CASE WHEN NULLIF(a.invoice_title, '') IS NOT NULL"
	       "   THEN COALESCE(NULLIF(a.invoice_tax_id, ''),"
	       "    CASE WHEN a.certificate_type = 'org'"
	       "     AND a.invoice_title = a.unit_name THEN a.credit_code END)"
	       "   WHEN a.certificate_type = 'org' THEN a.credit_code END"
	       " FROM payment p JOIN application a ON a.id = p.application_id"
	       " CROSS JOIN LATERAL jsonb_array_elements(a.quote->'lines')"
	       "   WITH ORDINALITY AS l(line, ord)"
	       " LEFT JOIN fee_schedule s"
	       "   ON s.version = (a.quote->>'schedule_version')::int"
	       " LEFT JOIN fee_item fi ON fi.schedule_id = s.id"
	       "   AND fi.fee_code = l.line->>'fee_code'"
	       "   AND fi.certificate_type = a.certificate_type"
	       " WHERE p.id = $1 AND a.id = $2"
	       "   AND (l.line->>'amount_fen')::bigint > 0"
	       " ORDER BY l.ord",
	.nparams = 2,
};

static const ch_stmt_t stmt_blue_insert = {
	.name = "invoice_blue_insert",
	.sql = "WITH i AS (INSERT INTO invoice (kind, application_id, payment_id,"
	       "  buyer_name, buyer_code, lines, net_fen, tax_fen, gross_fen)"
	       " VALUES ('blue', $1, $2, $3, $4, $5::jsonb, $6, $7, $8)"
	       " ON CONFLICT (payment_id) DO NOTHING RETURNING id)"
	       " SELECT id, pg_notify('invoice', id::text) FROM i",
	.nparams = 8,
};

/* The red invoice of refund $1: the negative of its payment's blue one. */
static const ch_stmt_t stmt_red_insert = {
	.name = "invoice_red_insert",
	.sql = "WITH i AS (INSERT INTO invoice (kind, application_id, refund_id,"
	       "  original_id, buyer_name, buyer_code, lines, net_fen, tax_fen,"
	       "  gross_fen)"
	       " SELECT 'red', b.application_id, r.id, b.id, b.buyer_name,"
	       "  b.buyer_code,"
	       "  (SELECT jsonb_agg(e || jsonb_build_object("
	       "     'quantity', -(e->>'quantity')::bigint,"
	       "     'net_fen', -(e->>'net_fen')::bigint,"
	       "     'tax_fen', -(e->>'tax_fen')::bigint,"
	       "     'gross_fen', -(e->>'gross_fen')::bigint) ORDER BY n)"
	       "   FROM jsonb_array_elements(b.lines) WITH ORDINALITY AS x(e, n)),"
	       "  -b.net_fen, -b.tax_fen, -b.gross_fen"
	       " FROM refund r JOIN invoice b ON b.payment_id = r.payment_id"
	       "  AND b.kind = 'blue'"
	       " WHERE r.id = $1 AND r.status = 'succeeded'"
	       " ON CONFLICT DO NOTHING RETURNING id)"
	       " SELECT id, pg_notify('invoice', id::text) FROM i",
	.nparams = 1,
};

static const ch_stmt_t stmt_load = {
	.name = "invoice_load",
	.sql = "SELECT " INVOICE_JSON "::text FROM invoice i"
	       " WHERE i.id = $1 AND" INVOICE_VISIBLE,
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_pdf = {
	.name = "invoice_pdf",
	.sql = "SELECT i.status, i.number, encode(i.pdf, 'hex')"
	       " FROM invoice i WHERE i.id = $1 AND" INVOICE_VISIBLE,
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_of_application = {
	.name = "invoice_of_application",
	.sql = "SELECT " INVOICE_JSON "::text FROM invoice i"
	       " WHERE i.application_id = $1 ORDER BY i.id",
	.nparams = 1,
	.readonly = true,
};

/* ---- writing ----------------------------------------------------------- */

int
ch_invoice_queue_blue(ch_ctx_t *ctx, long long payment_id, long long app_id)
{
	char pid[24], aid[24], net[24], tax[24], sum[24], why[160];
	const char *params[8];
	ch_tax_amounts_t *amounts, total = { 0, 0, 0 };
	json_t *lines;
	char *text;
	PGresult *res;
	long long paid;
	int n, rc = -1;

	snprintf(pid, sizeof pid, "%lld", payment_id);
	snprintf(aid, sizeof aid, "%lld", app_id);
	params[0] = pid;
	params[1] = aid;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_blue_facts,
	    params)) == NULL)
		return -1;
	if ((n = PQntuples(res)) == 0) {
		ch_error("invoice: payment %lld: its application's quote has no"
		    " line to invoice", payment_id);
		return -1;
	}
	amounts = ch_palloc(ctx->pool, sizeof *amounts * (size_t)n);
	lines = ch_pool_json(ctx->pool, json_array());
	for (int i = 0; i < n; i++) {
		long long gross = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		int rate;

		if (PQgetisnull(res, i, 4)) {
			ch_error("invoice: payment %lld: no tax rate for fee item"
			    " \"%s\" in schedule %s", payment_id,
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 5));
			return -1;
		}
		rate = atoi(PQgetvalue(res, i, 4));
		amounts[i].gross_fen = gross;
		if (ch_tax_split(gross, rate, &amounts[i].tax_fen) != 0)
			return -1;
		amounts[i].net_fen = gross - amounts[i].tax_fen;
		if (ch_tax_add(&total, &amounts[i], false, why, sizeof why) != 0) {
			ch_error("invoice: payment %lld: line %d: %s", payment_id,
			    i, why);
			return -1;
		}
		json_array_append_new(lines, json_pack(
		    "{s:s, s:s, s:I, s:i, s:s, s:I, s:I, s:I}",
		    "fee_code", PQgetvalue(res, i, 0),
		    "name", PQgetvalue(res, i, 1),
		    "quantity", (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
		    "rate_bp", rate,
		    "rate_source", ch_psprintf(ctx->pool,
		        "fee_schedule v%s %s/%s", PQgetvalue(res, i, 5),
		        PQgetvalue(res, i, 0), PQgetvalue(res, i, 6)),
		    "net_fen", (json_int_t)amounts[i].net_fen,
		    "tax_fen", (json_int_t)amounts[i].tax_fen,
		    "gross_fen", (json_int_t)gross));
	}
	paid = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	if (ch_tax_check(amounts, (size_t)n, &total, false, why,
	    sizeof why) != 0 || total.gross_fen != paid) {
		ch_error("invoice: payment %lld of %lld fen: the quote's lines"
		    " add up to %lld fen (%s)", payment_id, paid,
		    total.gross_fen, why);
		return -1;
	}
	if ((text = json_dumps(lines, JSON_COMPACT)) == NULL)
		ch_oom();
	snprintf(net, sizeof net, "%lld", total.net_fen);
	snprintf(tax, sizeof tax, "%lld", total.tax_fen);
	snprintf(sum, sizeof sum, "%lld", total.gross_fen);
	params[0] = aid;
	params[1] = pid;
	params[2] = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 8));
	params[3] = PQgetisnull(res, 0, 9) ? NULL
	    : ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 9));
	params[4] = ch_pstrdup(ctx->pool, text);
	params[5] = net;
	params[6] = tax;
	params[7] = sum;
	free(text);
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_blue_insert, params) != NULL)
		rc = 0;
	return rc;
}

int
ch_invoice_queue_red(ch_ctx_t *ctx, long long refund_id)
{
	return ch_db_exec_id(ctx->db, ctx->pool, &stmt_red_insert, refund_id)
	    != NULL ? 0 : -1;
}

/* ---- reading ----------------------------------------------------------- */


/* The Invoice JSON text of the database with "total_capitals" and
 * "total_yuan" added, in ctx->pool. */
static const char *
with_capitals(ch_ctx_t *ctx, const char *text)
{
	char capitals[CH_MONEY_CAPITALS_MAX], yuan[CH_MONEY_YUAN_MAX], *out;
	json_t *j = ch_pool_json(ctx->pool, json_loads(text, 0, NULL));
	json_t *gross = json_object_get(json_object_get(j, "total"), "gross_fen");
	const char *s;

	if (j == NULL || !json_is_integer(gross))
		return text;
	if (ch_money_capitals(json_integer_value(gross), capitals,
	    sizeof capitals) != 0 || ch_money_yuan(json_integer_value(gross),
	    0, yuan, sizeof yuan) != 0)
		return text;
	json_object_set_new(j, "total_capitals", json_string(capitals));
	json_object_set_new(j, "total_yuan", json_string(yuan));
	if ((out = json_dumps(j, JSON_COMPACT)) == NULL)
		ch_oom();
	s = ch_pstrdup(ctx->pool, out);
	free(out);
	return s;
}

ch_invoice_result_t
ch_invoice_load(ch_ctx_t *ctx, long long id, const char **json)
{
	const char *params[2] = { ch_psprintf(ctx->pool, "%lld", id),
	    ch_ctx_owner_param(ctx) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_load, params);

	if (res == NULL)
		return CH_INVOICE_ERROR;
	if (PQntuples(res) != 1)
		return CH_INVOICE_NOT_FOUND;
	*json = with_capitals(ctx, PQgetvalue(res, 0, 0));
	return CH_INVOICE_FOUND;
}

ch_invoice_result_t
ch_invoice_pdf_load(ch_ctx_t *ctx, long long id, const unsigned char **pdf,
    size_t *len, const char **number, const char **status)
{
	const char *params[2] = { ch_psprintf(ctx->pool, "%lld", id),
	    ch_ctx_owner_param(ctx) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_pdf, params);
	const char *hex;
	unsigned char *bytes;
	size_t n;

	if (res == NULL)
		return CH_INVOICE_ERROR;
	if (PQntuples(res) != 1)
		return CH_INVOICE_NOT_FOUND;
	*status = PQgetvalue(res, 0, 0);
	if (strcmp(*status, "issued") != 0 || PQgetisnull(res, 0, 2))
		return CH_INVOICE_NOT_ISSUED;
	*number = PQgetvalue(res, 0, 1);
	hex = PQgetvalue(res, 0, 2);
	n = strlen(hex) / 2;
	bytes = ch_palloc(ctx->pool, n + 1);
	if (ch_unhex(hex, bytes, n) != 0) {
		ch_error("invoice %lld: its stored PDF does not decode", id);
		return CH_INVOICE_ERROR;
	}
	*pdf = bytes;
	*len = n;
	return CH_INVOICE_FOUND;
}

const char *
ch_invoice_of_application(ch_ctx_t *ctx, long long app_id, size_t *len)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_of_application,
	    app_id);
	json_t *items;
	char *text;
	const char *out;

	if (res == NULL)
		return NULL;
	items = ch_pool_json(ctx->pool, json_array());
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(items, json_loads(with_capitals(ctx,
		    PQgetvalue(res, i, 0)), 0, NULL));
	if ((text = json_dumps(ch_pool_json(ctx->pool, json_pack("{s:O}",
	    "items", items)), JSON_COMPACT)) == NULL)
		ch_oom();
	out = ch_pstrdup(ctx->pool, text);
	free(text);
	*len = strlen(out);
	return out;
}
