/*
 * certhall-invoiced's loop (invoiced.h).  One database connection with
 * LISTEN invoice, steps of one invoice each, as the actor "system" named
 * "invoiced" with a request id "invoiced-<n>" per step.
 */
#include "invoiced.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/money.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/codec/invoice_pdf.h"
#include "certhall/domain/payment.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/audit.h"
#include "certhall/store/ctx.h"
#include "certhall/store/daemon.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE_WAIT_MS 1000
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 5000
#define ERROR_MAX_CHARS 500
/* The tax category the platform prints before each line's name. */
#define LINE_CATEGORY "*信息技术服务*"

#define TEXT_ISSUED "【四川CA】您的数字证书申请（编号%s）的电子发票已开具，" \
	"发票号码%s，价税合计%s元。请点击链接获取发票：%s"
#define TEXT_RED "【四川CA】您的数字证书申请（编号%s）已开具红字电子发票，" \
	"发票号码%s，冲销原发票%s，金额%s元。请点击链接查看：%s"

/* One due pending invoice, claimed for a lease. */
static const ch_stmt_t stmt_claim = {
	.name = "invoiced_claim",
	.sql = "UPDATE invoice i SET attempts = i.attempts + 1,"
	       "  next_attempt_at = now() + $1::int * interval '1 second'"
	       " WHERE i.id = (SELECT c.id FROM invoice c"
	       "   WHERE c.status = 'pending' AND c.next_attempt_at <= now()"
	       "     AND (c.kind = 'blue' OR EXISTS (SELECT 1 FROM invoice o"
	       "       WHERE o.id = c.original_id AND o.status = 'issued'))"
	       "   ORDER BY c.next_attempt_at, c.id"
	       "   LIMIT 1 FOR UPDATE SKIP LOCKED)"
	       " RETURNING i.id, i.kind, i.application_id, i.request_id,"
	       "  i.buyer_name, i.buyer_code, i.lines::text, i.net_fen,"
	       "  i.tax_fen, i.gross_fen, i.attempts,"
	       "  (SELECT o.number FROM invoice o WHERE o.id = i.original_id)",
	.nparams = 1,
};

/* Each outcome only while this claim holds (attempts unchanged). */
static const ch_stmt_t stmt_issued = {
	.name = "invoiced_issued",
	.sql = "UPDATE invoice SET status = 'issued', number = $3,"
	       "  issued_at = $4::timestamptz, confirmation = $5::jsonb,"
	       "  seller_name = $6, seller_code = $7, issuer = $8,"
	       "  pdf = decode($9, 'hex'), last_error = $10"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 10,
};

static const ch_stmt_t stmt_retry = {
	.name = "invoiced_retry",
	.sql = "UPDATE invoice SET last_error = left($3, $5::int),"
	       "  next_attempt_at = now() + $4::int * interval '1 second'"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 5,
};

static const ch_stmt_t stmt_failed = {
	.name = "invoiced_failed",
	.sql = "UPDATE invoice SET status = 'failed', last_error = left($3, $4::int)"
	       " WHERE id = $1 AND status = 'pending' AND attempts = $2::int",
	.nparams = 4,
};

struct invoiced {
	const ch_invoiced_config_t *cfg;
	ch_db_t *db;
	ch_pool_t *pool;
	ch_ctx_t ctx;
	int sigfd;
	bool stopping;
	int listen_pid;
	int retry_ms;
	unsigned long long steps;
};

/* A claimed invoice (strings in the step's pool). */
struct claimed {
	const char *id, *kind, *app_id, *request_id, *buyer_name, *buyer_code;
	const char *original_number, *attempts;
	json_t *lines;
	ch_tax_amounts_t total;
};

/* ---- the connection ------------------------------------------------- */

static int
ensure_db(struct invoiced *d)
{
	switch (ch_daemon_listen(d->db, d->pool, "invoice", &d->listen_pid)) {
	case 1:
		d->retry_ms = RETRY_MIN_MS;
		return 0;
	case 0:
		return 0;
	default:
		return -1;
	}
}

static void
wait_for(struct invoiced *d, int ms)
{
	ch_daemon_idle(d->sigfd, d->db, ms, &d->stopping, "the invoice in hand");
}

static void
step_begin(struct invoiced *d)
{
	ch_daemon_step_begin(&d->ctx, d->pool, d->db, "invoiced", &d->steps);
}

static void
step_end(struct invoiced *d)
{
	ch_daemon_step_end(d->db);
}

/* ---- one invoice ------------------------------------------------------ */

static const char *
col(struct invoiced *d, PGresult *res, int c)
{
	return PQgetisnull(res, 0, c) ? NULL
	    : ch_pstrdup(d->pool, PQgetvalue(res, 0, c));
}

/* 1 claimed into *c, 0 none due, -1 database error. */
static int
claim(struct invoiced *d, struct claimed *c)
{
	char lease[16];
	const char *params[1] = { lease };
	PGresult *res;

	snprintf(lease, sizeof lease, "%ld", d->cfg->lease_s);
	if (ch_db_begin(d->db) != 0)
		return -1;
	res = ch_db_exec(d->db, d->pool, &stmt_claim, params);
	if (res == NULL || ch_db_commit(d->db) != 0) {
		ch_db_finish(d->db);
		return -1;
	}
	if (PQntuples(res) != 1)
		return 0;
	c->id = col(d, res, 0);
	c->kind = col(d, res, 1);
	c->app_id = col(d, res, 2);
	c->request_id = col(d, res, 3);
	c->buyer_name = col(d, res, 4);
	c->buyer_code = col(d, res, 5);
	c->lines = ch_pool_json(d->pool, json_loads(PQgetvalue(res, 0, 6), 0,
	    NULL));
	c->total.net_fen = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	c->total.tax_fen = strtoll(PQgetvalue(res, 0, 8), NULL, 10);
	c->total.gross_fen = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
	c->attempts = col(d, res, 10);
	c->original_number = col(d, res, 11);
	return c->lines != NULL ? 1 : -1;
}

/* The request the platform gets (docs/CONTRACT.md "Tax platform
 * protocol"); a new reference. */
static json_t *
request_of(struct invoiced *d, const struct claimed *c)
{
	json_t *lines = json_array(), *line;
	size_t i;

	json_array_foreach(c->lines, i, line) {
		json_array_append_new(lines, json_pack(
		    "{s:s, s:O, s:O, s:O, s:O, s:O}",
		    "name", ch_psprintf(d->pool, LINE_CATEGORY "%s",
		        json_string_value(json_object_get(line, "name"))),
		    "quantity", json_object_get(line, "quantity"),
		    "rate_bp", json_object_get(line, "rate_bp"),
		    "net_fen", json_object_get(line, "net_fen"),
		    "tax_fen", json_object_get(line, "tax_fen"),
		    "gross_fen", json_object_get(line, "gross_fen")));
	}
	return json_pack("{s:s, s:s, s:o, s:{s:s, s:o}, s:{s:s, s:s}, s:s,"
	    " s:o, s:{s:I, s:I, s:I}}",
	    "request_id", c->request_id, "kind", c->kind,
	    "original_number", c->original_number != NULL
	        ? json_string(c->original_number) : json_null(),
	    "buyer", "name", c->buyer_name,
	        "code", c->buyer_code != NULL ? json_string(c->buyer_code)
	        : json_null(),
	    "seller", "name", d->cfg->seller_name, "code", d->cfg->seller_code,
	    "issuer", d->cfg->issuer,
	    "lines", lines,
	    "total", "net_fen", (json_int_t)c->total.net_fen,
	        "tax_fen", (json_int_t)c->total.tax_fen,
	        "gross_fen", (json_int_t)c->total.gross_fen);
}

/*
 * certhall's PDF of the confirmed invoice (the codec), hex in the pool, or
 * NULL with *why: the invoice stays issued without it (the platform has
 * issued it; a PDF is a rendering).
 */
static const char *
render(struct invoiced *d, const struct claimed *c, const char *number,
    long long issued_at, const char **why)
{
	size_t n = json_array_size(c->lines), i, len;
	ch_invoice_line_t *lines = ch_palloc(d->pool, sizeof *lines * (n + 1));
	char whybuf[200];
	unsigned char *pdf;
	const char *hex;
	ch_invoice_t inv;
	json_t *line;

	json_array_foreach(c->lines, i, line) {
		lines[i].name = ch_psprintf(d->pool, LINE_CATEGORY "%s",
		    json_string_value(json_object_get(line, "name")));
		lines[i].unit = "项";
		lines[i].quantity = json_integer_value(json_object_get(line,
		    "quantity"));
		lines[i].rate_bp = (int)json_integer_value(json_object_get(line,
		    "rate_bp"));
		lines[i].amounts.net_fen = json_integer_value(json_object_get(
		    line, "net_fen"));
		lines[i].amounts.tax_fen = json_integer_value(json_object_get(
		    line, "tax_fen"));
		lines[i].amounts.gross_fen = json_integer_value(json_object_get(
		    line, "gross_fen"));
	}
	memset(&inv, 0, sizeof inv);
	inv.kind = strcmp(c->kind, "red") == 0 ? CH_INVOICE_RED : CH_INVOICE_BLUE;
	inv.number = number;
	inv.original_number = c->original_number;
	inv.issued_at = (time_t)issued_at;
	inv.buyer_name = c->buyer_name;
	inv.buyer_code = c->buyer_code;
	inv.seller_name = d->cfg->seller_name;
	inv.seller_code = d->cfg->seller_code;
	inv.lines = lines;
	inv.nlines = n;
	inv.total = c->total;
	inv.issuer = d->cfg->issuer;
	inv.remarks = ch_psprintf(d->pool, "证书申请编号：%s", c->app_id);
	if ((pdf = ch_invoice_pdf(&inv, &len, whybuf, sizeof whybuf)) == NULL) {
		*why = ch_psprintf(d->pool, "pdf: %s", whybuf);
		return NULL;
	}
	hex = ch_hex_pool(d->pool, pdf, len);
	free(pdf);
	return hex;
}

/* The handler's SMS and the audit event of an issued invoice. */
static int
tell(struct invoiced *d, const struct claimed *c, const char *number,
    bool have_pdf)
{
	char yuan[CH_MONEY_YUAN_MAX];
	const char *link, *text;
	bool red = strcmp(c->kind, "red") == 0;

	ch_money_yuan(red ? -c->total.gross_fen : c->total.gross_fen, 0, yuan,
	    sizeof yuan);
	/* The web hall's invoice page (issue 15), not the API's PDF: that
	 * needs a session, and the page signs the handler in first. */
	link = ch_psprintf(d->pool, "%s/invoices/%s", d->cfg->link_base, c->id);
	text = red ? ch_psprintf(d->pool, TEXT_RED, c->app_id, number,
	    c->original_number, yuan, link)
	    : ch_psprintf(d->pool, TEXT_ISSUED, c->app_id, number, yuan, link);
	if (ch_wf_notify(&d->ctx, strtoll(c->app_id, NULL, 10),
	    red ? "invoice_red_issued" : "invoice_issued",
	    json_pack("{s:s, s:s, s:s, s:s}", "id", c->app_id,
	    "number", number, "amount", yuan, "link", link), text) != 0)
		return -1;
	return ch_audit(&d->ctx, "invoice.issued", "invoice", c->id,
	    json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:s}",
	    "application_id", (json_int_t)strtoll(c->app_id, NULL, 10),
	    "kind", c->kind, "number", number, "request_id", c->request_id,
	    "gross_fen", (json_int_t)c->total.gross_fen, "pdf", have_pdf,
	    "attempts", c->attempts));
}

/* Records the outcome in one transaction.  0 done (or the row moved on),
 * -1 the database failed. */
static int
record(struct invoiced *d, const struct claimed *c, ch_taxplat_result_t r,
    const ch_taxplat_confirm_t *conf, const char *why)
{
	char delay[16], errmax[16];
	const char *params[10] = { c->id, c->attempts };
	const char *hex = NULL, *pdf_why = NULL;
	const ch_stmt_t *stmt;
	long long issued_at = 0;
	PGresult *res;

	snprintf(delay, sizeof delay, "%ld", ch_backoff_s(atoi(c->attempts),
	    d->cfg->backoff_cap_s));
	snprintf(errmax, sizeof errmax, "%d", ERROR_MAX_CHARS);
	switch (r) {
	case CH_TAXPLAT_OK:
		if (ch_payment_parse_time(conf->issued_at, &issued_at) != 0) {
			ch_error("invoice %s: issue time \"%s\" does not parse",
			    c->id, conf->issued_at);
			return 0;
		}
		hex = render(d, c, conf->number, issued_at, &pdf_why);
		if (hex == NULL)
			ch_error("invoice %s: issued as %s, but %s", c->id,
			    conf->number, pdf_why);
		stmt = &stmt_issued;
		params[2] = conf->number;
		params[3] = conf->issued_at;
		params[4] = conf->raw;
		params[5] = d->cfg->seller_name;
		params[6] = d->cfg->seller_code;
		params[7] = d->cfg->issuer;
		params[8] = hex;
		params[9] = pdf_why;
		break;
	case CH_TAXPLAT_REFUSED:
		stmt = &stmt_failed;
		params[2] = why;
		params[3] = errmax;
		break;
	case CH_TAXPLAT_UNAVAILABLE:
	default:
		stmt = &stmt_retry;
		params[2] = why;
		params[3] = delay;
		params[4] = errmax;
		break;
	}
	if (ch_db_begin(d->db) != 0)
		return -1;
	if (ch_payment_lock_app(d->db, d->pool, c->app_id) != 0 ||
	    (res = ch_db_exec(d->db, d->pool, stmt, params)) == NULL)
		goto fail;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		ch_warn("invoice %s: outcome not recorded, the row has moved on"
		    " (its lease ran out?)", c->id);
		ch_db_rollback(d->db);
		return 0;
	}
	if (r == CH_TAXPLAT_OK && tell(d, c, conf->number, hex != NULL) != 0)
		goto fail;
	if (r == CH_TAXPLAT_REFUSED && ch_audit(&d->ctx, "invoice.failed",
	    "invoice", c->id, json_pack("{s:I, s:s, s:s, s:s}",
	    "application_id", (json_int_t)strtoll(c->app_id, NULL, 10),
	    "kind", c->kind, "request_id", c->request_id, "error", why)) != 0)
		goto fail;
	if (ch_db_commit(d->db) != 0)
		goto fail;
	return 0;
fail:
	ch_db_finish(d->db);
	return -1;
}

/* One invoice: claim, call, record.  1 done, 0 none due, -1 database
 * away. */
static int
step(struct invoiced *d)
{
	ch_taxplat_confirm_t conf;
	const char *why = NULL;
	struct claimed c;
	ch_taxplat_result_t r;
	json_t *req;
	int rc;

	step_begin(d);
	memset(&c, 0, sizeof c);
	if ((rc = claim(d, &c)) <= 0) {
		step_end(d);
		return rc;
	}
	req = ch_pool_json(d->pool, request_of(d, &c));
	if (req == NULL)
		ch_oom();
	r = ch_taxplat_issue(d->cfg->tp, d->pool, req, &conf, &why);
	switch (r) {
	case CH_TAXPLAT_OK:
		ch_info("invoice %s (%s, application %s) issued as %s, attempt %s",
		    c.id, c.kind, c.app_id, conf.number, c.attempts);
		break;
	case CH_TAXPLAT_REFUSED:
		ch_error("invoice %s refused by the tax platform: %s", c.id, why);
		break;
	default:
		ch_warn("invoice %s not issued, attempt %s, next in %ld s: %s",
		    c.id, c.attempts, ch_backoff_s(atoi(c.attempts),
		    d->cfg->backoff_cap_s), why);
		break;
	}
	/* A record lost with the database is sent again after the lease:
	 * the same request_id, the same invoice. */
	rc = record(d, &c, r, &conf, why);
	step_end(d);
	return rc == 0 ? 1 : -1;
}

int
ch_invoiced_run(const ch_invoiced_config_t *cfg)
{
	struct invoiced d;
	char *conninfo;
	size_t n;
	int rc = 0;

	memset(&d, 0, sizeof d);
	d.cfg = cfg;
	if ((d.sigfd = ch_daemon_signals()) < 0)
		return 71;
	n = strlen(cfg->conninfo) + 96;
	conninfo = ch_xmalloc(n);
	snprintf(conninfo, n, "client_encoding=UTF8 "
	    "application_name=certhall-invoiced %s", cfg->conninfo);
	d.db = ch_db_new(conninfo);
	free(conninfo);
	d.pool = ch_pool_new();
	d.retry_ms = RETRY_MIN_MS;
	ch_info("invoicing daemon started, lease %ld s, back-off cap %ld s",
	    cfg->lease_s, cfg->backoff_cap_s);
	while (!d.stopping) {
		if (ensure_db(&d) != 0) {
			wait_for(&d, d.retry_ms);
			d.retry_ms = d.retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
			    : d.retry_ms * 2;
			continue;
		}
		if (ch_db_conn(d.db) != NULL)
			(void)ch_daemon_drain_notifies(ch_db_conn(d.db));
		do {
			ch_daemon_read_signals(d.sigfd, &d.stopping,
			    "the invoice in hand");
			if (d.stopping)
				break;
			rc = step(&d);
		} while (rc > 0);
		if (rc < 0) {
			wait_for(&d, d.retry_ms);
			continue;
		}
		if (!d.stopping)
			wait_for(&d, IDLE_WAIT_MS);
	}
	ch_db_free(d.db);
	ch_pool_free(d.pool);
	close(d.sigfd);
	ch_info("invoicing daemon stopped");
	return 0;
}
