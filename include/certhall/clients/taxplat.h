/*
 * The invoicing provider: the tax authority's platform for 数电发票 (SPEC
 * §9; issue 14; docs/CONTRACT.md "Tax platform protocol"), reached
 * directly or through a service provider.  certhall never numbers an
 * invoice: the platform assigns the 20-digit number (year 2, province 2 =
 * 51 Sichuan, channel 1, sequence 15) and confirms the issue; certhall
 * stores what it confirmed and renders it.
 *
 * One call, POST <base>/v1/invoices with "Authorization: Bearer <key>"
 * and the invoice as JSON (blue, or red with the original's number).  Its
 * request_id is the idempotency id: the same id again is answered with the
 * invoice issued the first time (200), never a second one, so every call
 * may be retried.  201/200 {"request_id", "number", "issued_at",
 * "gross_fen"}, checked strictly here: the number's shape, an RFC 3339
 * time, and the request id and total we sent.
 *
 * Like the payment gateway client (certhall/clients/paygw.h): one client
 * per process after fork, blocking calls with short timeouts (3 s to
 * connect, 10 s in all), no redirects, http(s) only; the answer's strings
 * belong to the caller's pool.
 */
#ifndef CERTHALL_TAXPLAT_H
#define CERTHALL_TAXPLAT_H

#include "certhall/base/pool.h"

struct json_t;

typedef struct ch_taxplat ch_taxplat_t;

typedef enum {
	CH_TAXPLAT_OK,
	CH_TAXPLAT_REFUSED,	/* 4xx but 401/403/408/409?/429: the invoice
				 * itself is wrong; *why has the platform's
				 * code and message */
	CH_TAXPLAT_UNAVAILABLE,	/* network, timeout, 3xx, 5xx, 401/403 (our
				 * key), 408, 429, or an answer that breaks
				 * the protocol: retry later */
} ch_taxplat_result_t;

/* What the platform confirmed.  Strings in the caller's pool. */
typedef struct {
	const char *number;	/* 20 digits */
	const char *issued_at;	/* RFC 3339 */
	const char *raw;	/* the answer as received (JSON text) */
} ch_taxplat_confirm_t;

/*
 * A client of the platform at base_url (http(s), no trailing '/') with key
 * (copied; cleansed by the free).  NULL (logged) on a bad URL or when
 * libcurl cannot be set up.
 */
ch_taxplat_t *ch_taxplat_new(const char *base_url, const char *key);
/* Releases tp; NULL is a no-op. */
void ch_taxplat_free(ch_taxplat_t *tp);

/*
 * Issues invoice (borrowed; must hold "request_id" and "total" with
 * "gross_fen") at the platform.  CH_TAXPLAT_OK with *out filled, or the
 * failure with *why (printable ASCII, pool or static).
 */
ch_taxplat_result_t ch_taxplat_issue(ch_taxplat_t *tp, ch_pool_t *pool,
    struct json_t *invoice, ch_taxplat_confirm_t *out, const char **why);

#endif
