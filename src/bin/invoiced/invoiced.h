/*
 * The invoicing daemon, certhall-invoiced (issue 14; docs/CONTRACT.md
 * "certhall-invoiced"): issues the pending invoices (sql/0020_invoice.sql)
 * at the tax platform (certhall/clients/taxplat.h).
 *
 * Each invoice is one step:
 *   1. claim: a short transaction takes one pending invoice that is due
 *      (FOR UPDATE SKIP LOCKED: two daemons never take the same one; a red
 *      invoice only once its original is issued), counts the attempt and
 *      moves next_attempt_at a lease ahead, and commits.  The invoice's
 *      request_id was stored with the row, before any call.
 *   2. call: the platform, outside any transaction, with that request_id.
 *   3. record, in one transaction (the application's row locked first,
 *      the lock order of sql/0009_payments.sql): issued with the number,
 *      the issue time and the platform's answer, certhall's PDF of it
 *      (certhall/codec/invoice_pdf.h, made once, here), the handler's SMS
 *      with the link to the PDF, and the audit event invoice.issued; or
 *      the next attempt after a back-off (1 s doubling to the cap) when
 *      the platform is unavailable; or failed (invoice.failed) when it
 *      refuses the invoice.
 * A daemon killed between 2 and 3 leaves the row claimed until the lease
 * runs out; the next attempt sends the same request_id and the platform
 * answers with the invoice it issued the first time: exactly one invoice
 * per row however often it is sent.
 */
#ifndef CERTHALL_INVOICED_H
#define CERTHALL_INVOICED_H

#include "certhall/clients/taxplat.h"

typedef struct {
	const char *conninfo;		/* libpq conninfo (the app role) */
	ch_taxplat_t *tp;		/* borrowed */
	const char *seller_name;	/* 销售方 */
	const char *seller_code;	/* its unified social credit code */
	const char *issuer;		/* 开票人 */
	const char *link_base;		/* the SMS link: <base>/invoices/<id> (web hall) */
	long lease_s;			/* a claimed invoice is due again after this */
	long backoff_cap_s;		/* the longest wait between attempts */
} ch_invoiced_config_t;

/* Runs until SIGTERM or SIGINT (finishing the step in hand): LISTEN
 * invoice, a round of steps on each NOTIFY and at least every second.
 * Survives the database and the platform going away.  0, or a sysexits
 * code. */
int ch_invoiced_run(const ch_invoiced_config_t *cfg);

#endif
