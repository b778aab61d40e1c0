/*
 * The courier client (SPEC §5 "ship the USB key"; issue 14; docs/CONTRACT.md
 * "Courier protocol").
 *
 * Modelled on the express companies' open platforms (SF Express, JD
 * Logistics): we create a waybill for a parcel and get its tracking
 * number; when the parcel is signed for, the courier calls us back with
 * what it recorded at the door (who signed, how the signer was checked).
 * Our requests carry our API key as a bearer token; the callback is signed
 * with HMAC-SHA256 under the same shared key over
 * "<timestamp>\n<nonce>\n<body>\n" (headers X-Courier-Timestamp,
 * X-Courier-Nonce, X-Courier-Signature, base64), as SF Express signs its
 * pushes with the partner's check word.  Nothing in a callback is looked
 * at before its signature verifies; its nonce is then used once
 * (certhall/domain/shipment.h), so a captured callback cannot be replayed.
 *
 * Settings are read once at start (ch_courier_config_from_env()), one
 * client per web worker after fork (ch_courier_new()).  Calls block with
 * short timeouts (libcurl: 3 s to connect, 5 s in all, no redirects) and
 * are idempotent on our reference, so a retry gets the same waybill.
 */
#ifndef CERTHALL_COURIER_H
#define CERTHALL_COURIER_H

#include <stddef.h>

#include "certhall/base/pool.h"

typedef struct ch_courier_config ch_courier_config_t;
typedef struct ch_courier ch_courier_t;

typedef enum {
	CH_COURIER_CONFIG_OK,
	CH_COURIER_CONFIG_NONE,	/* none of the four variables set: no
				 * courier integration (tracking numbers are
				 * typed by the operator) */
	CH_COURIER_CONFIG_BAD,	/* one missing, malformed or unreadable (logged) */
} ch_courier_config_result_t;

/*
 * Reads, once, in the master as the user that started it:
 *   CERTHALL_COURIER_NAME        the carrier's name in shipments ("sandbox")
 *   CERTHALL_COURIER_URL         base URL of its API
 *   CERTHALL_COURIER_KEY_FILE    the shared key (printable ASCII, one line)
 *   CERTHALL_COURIER_NOTIFY_URL  where it calls us back
 * OK with *out (freed by ch_courier_config_free() after every client made
 * from it), NONE when none is set, BAD after logging what is wrong (never
 * the key).
 */
ch_courier_config_result_t ch_courier_config_from_env(ch_courier_config_t **out);
/* Cleanses the key and releases cfg; NULL is a no-op. */
void ch_courier_config_free(ch_courier_config_t *cfg);

/* The client for cfg (borrowed, outlives it); NULL (logged) when libcurl
 * cannot be set up.  ch_courier_free(NULL) is a no-op. */
ch_courier_t *ch_courier_new(const ch_courier_config_t *cfg);
void ch_courier_free(ch_courier_t *c);

/* The carrier name shipments through this courier carry ("sandbox"). */
const char *ch_courier_name(const ch_courier_t *c);

typedef enum {
	CH_COURIER_OK,
	CH_COURIER_REFUSED,	/* it answered 4xx (not 401/403/408/429) */
	CH_COURIER_UNAVAILABLE,	/* network, timeout, 5xx, our credentials, or
				 * an answer outside the protocol: try later */
} ch_courier_result_t;

/* The parcel: our reference (idempotency: the same reference gives the
 * same waybill) and the recipient as the application has them. */
typedef struct {
	const char *reference;
	const char *recipient;
	const char *phone;
	const char *address;
} ch_courier_parcel_t;

/* Creates (or finds again) the waybill of p; on OK *tracking_no (pool) is
 * 6-32 of [A-Za-z0-9-].  *why says why otherwise (printable ASCII). */
ch_courier_result_t ch_courier_waybill(ch_courier_t *c, ch_pool_t *pool,
    const ch_courier_parcel_t *p, const char **tracking_no, const char **why);

/* A delivery the courier reports (strings in the pool). */
typedef struct {
	const char *event_id;		/* the courier's, [A-Za-z0-9_-]{1,64} */
	const char *tracking_no;
	const char *delivered_at;	/* RFC 3339 */
	const char *signed_by_name;	/* 1-64 characters */
	const char *check_kind;		/* "signature" or "id_check" */
	const char *authorisation;	/* NULL unless the courier recorded the
					 * handler's authorisation */
} ch_courier_event_t;

typedef enum {
	CH_COURIER_NOTICE_OK,
	CH_COURIER_NOTICE_BAD_SIGNATURE,	/* headers missing or no match */
	CH_COURIER_NOTICE_STALE,		/* timestamp outside the window */
	CH_COURIER_NOTICE_MALFORMED,		/* signed, but not an event we know */
} ch_courier_notice_t;

/* How far a callback's timestamp may be from our clock, seconds. */
#define CH_COURIER_NOTICE_WINDOW 300

/*
 * Verifies a callback: timestamp within the window of now (unix seconds),
 * nonce 8-64 of [A-Za-z0-9_-], the HMAC over timestamp, nonce and the raw
 * body (constant-time compare), then the body's shape: exactly
 * {event_id, event_type "DELIVERED", tracking_no, delivered_at,
 * signed_by_name, check_kind[, authorisation]}.  On OK *out is filled;
 * otherwise *why says what.  The nonce's single use is the caller's.
 */
ch_courier_notice_t ch_courier_verify_notice(const ch_courier_t *c,
    ch_pool_t *pool, const char *timestamp, const char *nonce,
    const char *signature, const char *body, size_t body_len, long long now,
    ch_courier_event_t *out, const char **why);

#endif
