/*
 * /api/v1/invoices and /api/v1/finance — the e-invoice (SPEC §9; issue 14;
 * certhall/domain/invoice.h; docs/CONTRACT.md "Invoices"):
 *
 *   GET /invoices/{id}                  the Invoice (owner, finance, admin)
 *   GET /invoices/{id}/pdf              its PDF once issued (409 before)
 *   GET /applications/{id}/invoices     the application's invoices
 *   GET /finance/invoices|payments|refunds[.csv]?from=&to=&status=&limit=
 *                                       finance and admin: the rows of a
 *                                       date range, totals, reconciliation;
 *                                       CSV by Accept: text/csv or .csv
 *
 * An invoice that is not the caller's is as unknown as a missing one (404),
 * and so is a malformed id.
 */
#include "api.h"
#include "certhall/domain/invoice.h"
#include "certhall/web/accept.h"
#include "certhall/web/query.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FIN_LIMIT_DEFAULT 1000
#define FIN_LIMIT_MAX 10000
/* The longest range a view takes, in days. */
#define FIN_RANGE_MAX_DAYS 3660

static void
invoice_not_found(ch_req_t *req)
{
	json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
	    "no invoice with this id"), "parameter", json_string("id"));
}

static long long
path_id(ch_req_t *req)
{
	long long id;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0) {
		invoice_not_found(req);
		return -1;
	}
	return id;
}

int
api_invoice_get(ch_req_t *req)
{
	const char *json;
	long long id;

	if ((id = path_id(req)) < 0)
		return 0;
	switch (ch_invoice_load(&req->ctx, id, &json)) {
	case CH_INVOICE_FOUND:
		ch_resp_json_text(req, 200, json, strlen(json));
		return 0;
	case CH_INVOICE_NOT_FOUND:
		invoice_not_found(req);
		return 0;
	default:
		return -1;
	}
}

int
api_invoice_pdf(ch_req_t *req)
{
	const unsigned char *pdf;
	const char *number, *status = "pending";
	json_t *p;
	size_t len;
	long long id;

	if ((id = path_id(req)) < 0)
		return 0;
	switch (ch_invoice_pdf_load(&req->ctx, id, &pdf, &len, &number,
	    &status)) {
	case CH_INVOICE_FOUND:
		ch_resp_raw(req, 200, "application/pdf", (const char *)pdf, len);
		ch_resp_header(req, "Content-Disposition", ch_psprintf(
		    req->ctx.pool, "inline; filename=\"%s.pdf\"", number));
		return 0;
	case CH_INVOICE_NOT_FOUND:
		invoice_not_found(req);
		return 0;
	case CH_INVOICE_NOT_ISSUED:
		p = ch_problem(req, CH_P_CONFLICT, strcmp(status, "issued") == 0
		    ? "the invoice is issued but its PDF could not be made;"
		      " the JSON has what the tax platform confirmed"
		    : "the invoice is not issued yet: the PDF exists once the tax"
		      " platform has confirmed it");
		json_object_set_new(p, "invoice_status", json_string(status));
		return 0;
	default:
		return -1;
	}
}

int
api_application_invoices(ch_req_t *req)
{
	const char *body;
	ch_app_t a;
	long long id;
	size_t len;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	if ((body = ch_invoice_of_application(&req->ctx, id, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}

/* ---- finance ---------------------------------------------------------- */

/* A calendar date YYYY-MM-DD from 2000 to 2999 that exists. */
static int
date_parse(const char *value, void *slot)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, n = 0;

	if (strlen(value) != 10 || sscanf(value, "%4d-%2d-%2d%n", &y, &m, &d,
	    &n) != 3 || n != 10 || value[4] != '-' || value[7] != '-' ||
	    y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
	    (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (value[i] < '0' || value[i] > '9'))
			return -1;
	*(const char **)slot = value;
	return 0;
}

/* Days since 1970-01-01 of a checked date. */
static long
day_number(const char *s)
{
	int y, m, d;
	long era, yoe, doy, doe;

	sscanf(s, "%4d-%2d-%2d", &y, &m, &d);
	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static const char *const view_names[CH_FIN__MAX] = {
	"invoices", "payments", "refunds",
};

static int
fin_view(ch_req_t *req, ch_fin_view_t view)
{
	static const char *const offers[] = { "application/json", "text/csv",
	    NULL };
	const ch_qparam_t params[] = {
		{ .name = "from", .kind = CH_Q_TEXT,
		  .offset = offsetof(ch_fin_query_t, from), .parse = date_parse,
		  .detail = "from must be a date YYYY-MM-DD" },
		{ .name = "to", .kind = CH_Q_TEXT,
		  .offset = offsetof(ch_fin_query_t, to), .parse = date_parse,
		  .detail = "to must be a date YYYY-MM-DD" },
		{ .name = "status", .kind = CH_Q_ENUM,
		  .offset = offsetof(ch_fin_query_t, status),
		  .values = ch_fin_statuses[view] },
		{ .name = "limit", .kind = CH_Q_LIMIT,
		  .offset = offsetof(ch_fin_query_t, limit),
		  .max = FIN_LIMIT_MAX },
	};
	const char *slash = strrchr(req->path, '.'), *body;
	ch_fin_query_t q = { .limit = FIN_LIMIT_DEFAULT };
	char today[32];
	bool csv;
	size_t len;
	int pick;

	ch_time_shanghai((long long)time(NULL), today);
	today[10] = '\0';
	if (ch_query_parse(req, params, sizeof params / sizeof params[0],
	    "unknown query parameter; this view takes from, to, status and"
	    " limit", &q) != 0)
		return 0;
	if (q.to == NULL)
		q.to = ch_pstrdup(req->ctx.pool, today);
	if (q.from == NULL)
		q.from = q.to;
	if (day_number(q.from) > day_number(q.to) ||
	    day_number(q.to) - day_number(q.from) > FIN_RANGE_MAX_DAYS) {
		json_object_set_new(ch_problem(req, CH_P_INVALID_FIELD,
		    "from must not be after to, and the range at most 3660"
		    " days"), "parameter", json_string("from"));
		return 0;
	}
	if (slash != NULL && strcmp(slash, ".csv") == 0) {
		csv = true;
	} else {
		pick = ch_accept_pick(ch_req_env(req, "HTTP_ACCEPT"), offers);
		ch_resp_header(req, "Vary", "Accept");
		if (pick < 0) {
			json_object_set_new(ch_problem(req, CH_P_NOT_ACCEPTABLE,
			    "a finance view is available as application/json or"
			    " text/csv"), "header", json_string("Accept"));
			return 0;
		}
		csv = pick == 1;
	}
	if ((body = ch_fin_view(&req->ctx, view, &q, csv, &len)) == NULL)
		return -1;
	if (!csv) {
		ch_resp_json_text(req, 200, body, len);
		return 0;
	}
	ch_resp_raw(req, 200, "text/csv; charset=utf-8; header=present", body,
	    len);
	ch_resp_header(req, "Content-Disposition", ch_psprintf(req->ctx.pool,
	    "attachment; filename=\"%s-%s-%s.csv\"", view_names[view], q.from,
	    q.to));
	return 0;
}

int
api_finance_invoices(ch_req_t *req)
{
	return fin_view(req, CH_FIN_INVOICES);
}

int
api_finance_payments(ch_req_t *req)
{
	return fin_view(req, CH_FIN_PAYMENTS);
}

int
api_finance_refunds(ch_req_t *req)
{
	return fin_view(req, CH_FIN_REFUNDS);
}
