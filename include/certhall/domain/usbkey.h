/*
 * USB keys at the personalisation station (SPEC §2, §8; issue 12;
 * docs/CONTRACT.md "USB keys").
 *
 * For new and reissue business the CA's operator makes the subscriber's key
 * on a blank USB key with certhall-station.  The steps the API records,
 * each one transaction:
 *
 *   bind          the blank key's serial is tied to an application that is
 *                 issuing, whose signing job is queued and has no key
 *                 request yet, and that has no open key (usb_key row,
 *                 status initialised; audit usb_key.bound);
 *   SO PIN        the key's SO PIN is derived in the CA token by
 *                 certhall-signer from the master secret and the serial
 *                 (certhall/token/station.h) and sealed to a one-time RSA
 *                 key of the station's (certhall/codec/box.h): the API
 *                 queues a token_request and waits a bounded time for the
 *                 answer (ch_usbkey_so_pin below); the clear PIN is never
 *                 in the database or this process;
 *   user PIN      once the certificate for the key is issued, the station
 *                 hands over the random user PIN it set: it goes to the
 *                 handler by SMS through the outbox (a row marked
 *                 scrub_after_send: certhall-sms-sender replaces its text
 *                 once delivered or given up), never to a log, an audit
 *                 detail or an answer;
 *   personalised  the certificate is on the key and the PIN was handed
 *                 over: status personalised, ready to ship.
 *
 * Serials and PINs (decisions):
 *  - A serial is what the key's PKCS#11 token reports (CK_TOKEN_INFO
 *    serialNumber, at most 16 characters) and what the SO PIN derivation
 *    takes (1-16 characters): the API accepts 4 to 16 of [A-Za-z0-9_-],
 *    within the usb_key table's rule (4-32).
 *  - A user PIN is 6 to 8 ASCII digits: what a handler types into a USB
 *    key's PIN dialog on any middleware (some accept digits only, most cap
 *    at 8 or more; SoftHSM wants at least 4).  The station makes 8
 *    uniformly random digits (about 26.6 bits; the key locks after a few
 *    wrong tries, and the handler is told to change it).
 *
 * Functions take a context (certhall/store/ctx.h) and return results; the
 * handlers (api/usb_keys.c) turn them into answers.  Keys are staff
 * business: the routes are for operators (admins may read), so there is no
 * per-object visibility beyond the role.
 */
#ifndef CERTHALL_DOMAIN_USBKEY_H
#define CERTHALL_DOMAIN_USBKEY_H

#include <stddef.h>

#include "certhall/domain/workflow.h"
#include "certhall/store/ctx.h"

#define CH_USBKEY_SERIAL_MIN 4
#define CH_USBKEY_SERIAL_MAX 16
#define CH_USBKEY_PIN_MIN 6
#define CH_USBKEY_PIN_MAX 8

/* How long the API waits for the signer's sealed SO PIN, and how long the
 * request stays answerable for the signer (a little longer, so an answer
 * in the last moment is not thrown away as expired). */
#define CH_USBKEY_SO_PIN_WAIT_MS 5000
#define CH_USBKEY_SO_PIN_TTL_S 15
/* A signer counts as up when it reported state ok this recently
 * (signer_status.heartbeat_at); the same window as /health's. */
#define CH_USBKEY_SIGNER_FRESH_S 15

/* The key's status (usb_key.status), index = code in
 * ch_usbkey_status_codes. */
typedef enum {
	CH_USBKEY_INITIALISED,
	CH_USBKEY_REQUESTED,
	CH_USBKEY_PERSONALISED,
	CH_USBKEY_SHIPPED,
	CH_USBKEY_DELIVERED,
	CH_USBKEY_STATUS__MAX
} ch_usbkey_status_t;

/* "initialised", ..., NULL-terminated. */
extern const char *const ch_usbkey_status_codes[];

/* A key serial as above: 0, or -1 with *why completing "<field> ...".
 * Pure (fits ch_field_t.check). */
int ch_usbkey_check_serial(const char *s, const char **why);

/* A user PIN as above: 0, or -1 with *why.  Pure; never echoes s. */
int ch_usbkey_check_pin(const char *s, const char **why);

/* What the functions below report. */
typedef enum {
	CH_USBKEY_OK,
	CH_USBKEY_SAME,		/* bind: already bound so; nothing changed */
	CH_USBKEY_NOT_FOUND,	/* no such key (bind: no such application) */
	CH_USBKEY_NOT_WAITING,	/* bind: the application does not wait for a
				 * key (status, business or signing job) */
	CH_USBKEY_TAKEN,	/* bind: the serial is bound already, or the
				 * application has an open key */
	CH_USBKEY_WRONG_STATUS,	/* the key is past this step */
	CH_USBKEY_NOT_ISSUED,	/* no valid certificate issued for this key */
	CH_USBKEY_NO_PHONE,	/* the application has no handler phone */
	CH_USBKEY_PIN_NOT_SENT,	/* personalised before the user PIN */
	CH_USBKEY_NO_SIGNER,	/* no signer up, or none answered in time */
	CH_USBKEY_BAD_KEY,	/* the requester key is not one to seal to */
	CH_USBKEY_ERROR,	/* database error, logged */
	CH_USBKEY__MAX
} ch_usbkey_result_t;

/* What a refusal is about, for the answer (pool-owned or static). */
typedef struct {
	const char *detail;	/* why, in words for the operator */
	const char *app_status;	/* the application's status, or NULL */
	const char *key_status;	/* the key's status, or NULL */
} ch_usbkey_why_t;

/*
 * Binds the blank key serial to application app_id for ctx's principal
 * (the operator), as above: one transaction with the application row
 * locked, so two binds for one application are decided one after the
 * other.  CH_USBKEY_OK (bound; audit usb_key.bound), CH_USBKEY_SAME (this
 * key is bound to this application and it still waits for its key
 * request: the station starts over), CH_USBKEY_NOT_FOUND (no such
 * application), CH_USBKEY_NOT_WAITING, CH_USBKEY_TAKEN (*why says which),
 * CH_USBKEY_ERROR.  Nothing changed unless OK.
 */
ch_usbkey_result_t ch_usbkey_bind(ch_ctx_t *ctx, const char *serial,
    long long app_id, ch_usbkey_why_t *why);

/*
 * The UsbKey object (docs/CONTRACT.md) of serial as JSON text (owned by
 * ctx->pool, in the caller's transaction if one is open), or NULL when
 * there is no such key or the database failed (*found says which: 1
 * found, 0 none, -1 error).
 */
const char *ch_usbkey_json(ch_ctx_t *ctx, const char *serial, int *found);

/* The filters and page of a list. */
typedef struct {
	const char *status;	/* a status code, or NULL for any */
	long long app_id;	/* 0 for any */
	long long limit;	/* 1..100 */
	const char *after;	/* the cursor: list serials after it, or NULL */
} ch_usbkey_list_t;

/*
 * One page of keys, ordered by serial: the list object {"items": [UsbKey],
 * "next_cursor": serial or null} as JSON text (owned by ctx->pool), or
 * NULL after a database error (logged).
 */
const char *ch_usbkey_list_json(ch_ctx_t *ctx, const ch_usbkey_list_t *q);

/*
 * The SO PIN of key serial, sealed to requester_key (a DER
 * SubjectPublicKeyInfo of an RSA key, 2048 to 4096 bits, spki_len bytes).
 *
 * The key must be at the station (initialised or requested; the SO PIN of
 * a key that left it is not handed out) and a signer must be up
 * (CH_USBKEY_SIGNER_FRESH_S); otherwise the answer comes at once.  The
 * request is committed as a token_request row (NOTIFY token_request;
 * audit usb_key.so_pin_requested), and the calling worker waits for the
 * signer's answer, polling the row (10 ms at first, doubling to 250 ms)
 * for at most CH_USBKEY_SO_PIN_WAIT_MS: the worker serves nothing else
 * meanwhile, which is why a signer that is not up is refused without
 * waiting.  The row is deleted when read, or when the wait ends, so a
 * sealed answer is handed out once.  The worker's connection LISTENs on
 * the catalogue's channel already (certhall/store/db.h: one channel per
 * handle), hence polling rather than LISTEN.
 *
 * CH_USBKEY_OK with *sealed_b64 (base64 of the box, owned by ctx->pool),
 * CH_USBKEY_NOT_FOUND, CH_USBKEY_WRONG_STATUS, CH_USBKEY_BAD_KEY (*why),
 * CH_USBKEY_NO_SIGNER (none up, none answered in time, or the signer
 * answered with an error: *why), CH_USBKEY_ERROR.
 */
ch_usbkey_result_t ch_usbkey_so_pin(ch_ctx_t *ctx, const char *serial,
    const unsigned char *requester_key, size_t spki_len,
    const char **sealed_b64, ch_usbkey_why_t *why);

/*
 * Hands over the user PIN pin (checked by ch_usbkey_check_pin) of key
 * serial: in one transaction, the SMS to the handler's phone (template
 * usb_key_pin, outbox scrub_after_send), pin_sent_at, and the audit event
 * usb_key.user_pin_sent (the masked phone and the outbox id, never the
 * PIN).  The key must be at the station and the certificate issued for it
 * (a valid certificate of its application with this usb_key_serial).
 * CH_USBKEY_OK with *sent_to (the masked phone, pool-owned),
 * CH_USBKEY_NOT_FOUND, CH_USBKEY_WRONG_STATUS, CH_USBKEY_NOT_ISSUED,
 * CH_USBKEY_NO_PHONE, CH_USBKEY_ERROR.  pin is not kept anywhere but in
 * the outbox row.
 */
ch_usbkey_result_t ch_usbkey_user_pin(ch_ctx_t *ctx, const char *serial,
    const char *pin, const char **sent_to, ch_usbkey_why_t *why);

/*
 * Marks key serial personalised (certificate on it, PIN handed over):
 * status personalised, personalised_at, certificate_id; audit
 * usb_key.personalised.  CH_USBKEY_OK (also when it was already, with the
 * same certificate: nothing changes), CH_USBKEY_NOT_FOUND,
 * CH_USBKEY_WRONG_STATUS, CH_USBKEY_NOT_ISSUED, CH_USBKEY_PIN_NOT_SENT,
 * CH_USBKEY_ERROR.
 */
ch_usbkey_result_t ch_usbkey_personalised(ch_ctx_t *ctx, const char *serial,
    ch_usbkey_why_t *why);

#endif
