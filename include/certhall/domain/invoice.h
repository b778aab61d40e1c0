/*
 * The electronic invoice (数电发票; SPEC §9; issue 14; sql/0020_invoice.sql;
 * docs/CONTRACT.md "Invoices"): the rows written where money moves, what
 * the API shows of them, and the finance views.  Issuing them at the tax
 * platform is certhall-invoiced's (src/bin/invoiced/).
 *
 * Decisions:
 * - Buyer: the application's invoice title (invoice_title) with its
 *   invoice_tax_id: a unit (name + unified social credit code) when the
 *   code is given, or when the title is the org certificate's own unit
 *   name (its credit code then), else a person (name only).  Without a title (it is
 *   required at submit for paid business, so only for old rows) the unit
 *   name and credit code of an org certificate, or the holder's name.
 * - Lines: one per fee item of the locked quote (application.quote
 *   "lines", amount_fen > 0; a line of 0 fen, e.g. no seals, is not
 *   invoiced), quantity as quoted, rate = the fee item's tax_rate_bp in
 *   the quote's schedule (fee_item, sql/0003_fees.sql, "services 6%" of
 *   SPEC §9: 600 basis points for every item of schedule 1), tax =
 *   ch_tax_split(amount_fen, rate) (round half up), net = amount - tax.
 *   The totals are the sums of the lines (ch_tax_check()) and must equal
 *   the payment: a quote that does not add up is an error, not an invoice.
 *   Each line records where its rate came from ("rate_source":
 *   "fee_schedule v<version> <fee_code>/<certificate_type>").
 * - Red: a refund that succeeds for a payment with a blue invoice gets the
 *   exact negative of that invoice (full refunds only, SPEC §6), which
 *   references it (original_id, and the blue number once issued).  A
 *   refund of money that never paid its application (refund_due) had no
 *   blue invoice and gets no red one.
 * - Who sees an invoice: finance and admin staff, and the applicant of its
 *   application (an integrator for that applicant); anyone else is told
 *   404, as for a missing one.
 */
#ifndef CERTHALL_INVOICE_H
#define CERTHALL_INVOICE_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/store/ctx.h"

/*
 * Inserts the pending blue invoice of payment payment_id (captured for
 * application app_id) in the caller's transaction, with NOTIFY invoice:
 * buyer and lines as above.  Idempotent: a payment invoiced already adds
 * nothing.  0, or -1 (database error, or a quote that does not add up to
 * the payment: logged); the caller then rolls back, so no payment is
 * captured without its invoice.
 */
int ch_invoice_queue_blue(ch_ctx_t *ctx, long long payment_id,
    long long app_id);

/*
 * Inserts the pending red invoice of refund refund_id, which has just
 * succeeded, in the caller's transaction (NOTIFY invoice): the negative of
 * its payment's blue invoice.  Nothing when that payment has no blue
 * invoice or the refund has its red one already.  0, or -1 (database
 * error, logged).
 */
int ch_invoice_queue_red(ch_ctx_t *ctx, long long refund_id);

typedef enum {
	CH_INVOICE_FOUND,
	CH_INVOICE_NOT_FOUND,	/* absent or not visible to the caller */
	CH_INVOICE_NOT_ISSUED,	/* (PDF) pending or failed: *status says */
	CH_INVOICE_ERROR,	/* database error, logged */
} ch_invoice_result_t;

/* The Invoice object of id as JSON text (ctx->pool), if ctx->principal
 * may see it. */
ch_invoice_result_t ch_invoice_load(ch_ctx_t *ctx, long long id,
    const char **json);

/* The PDF of invoice id (bytes in ctx->pool) and its number, if visible
 * and issued; NOT_ISSUED with *status ("pending", "failed") otherwise. */
ch_invoice_result_t ch_invoice_pdf_load(ch_ctx_t *ctx, long long id,
    const unsigned char **pdf, size_t *len, const char **number,
    const char **status);

/* {"items": [Invoice, ...]} of application app_id (the caller has checked
 * that it may see the application), oldest first.  NULL after a database
 * error. */
const char *ch_invoice_of_application(ch_ctx_t *ctx, long long app_id,
    size_t *len);

/* The finance views (GET /api/v1/finance/...). */
typedef enum {
	CH_FIN_INVOICES,
	CH_FIN_PAYMENTS,
	CH_FIN_REFUNDS,
	CH_FIN__MAX
} ch_fin_view_t;

typedef struct {
	const char *from;	/* YYYY-MM-DD, Asia/Shanghai, inclusive */
	const char *to;		/* YYYY-MM-DD, Asia/Shanghai, inclusive */
	const char *status;	/* NULL: all */
	long long limit;	/* rows listed (the totals cover all) */
} ch_fin_query_t;

/* The statuses each view filters on (NULL-terminated). */
extern const char *const ch_fin_statuses[CH_FIN__MAX][5];

/*
 * A finance view as JSON text (ctx->pool): {"from", "to", "status",
 * "items": [...], "truncated", "totals": {...}, "reconciliation": {...}}
 * (docs/CONTRACT.md "Finance views"), or as CSV (csv true: a header row
 * and one row per item, RFC 4180, amounts in fen).  NULL after a database
 * error.
 */
const char *ch_fin_view(ch_ctx_t *ctx, ch_fin_view_t view,
    const ch_fin_query_t *q, bool csv, size_t *len);

#endif
