/*
 * The payment gateway client (SPEC §6; issue 5; docs/CONTRACT.md
 * "Payment gateway protocol").
 *
 * Modelled on WeChat Pay v3 and Alipay: we create an order at the gateway,
 * the payer pays there, and the gateway tells us by an asynchronous
 * notification signed with its RSA key (RSA-SHA256, PKCS#1 v1.5, over
 * "<timestamp>\n<nonce>\n<body>\n").  We verify with the gateway's public
 * key from configuration, never with anything the notification carries.
 * A lost notification is recovered by querying the order.
 *
 * The same client serves the web workers (create, query) and the payment
 * daemon (query, close, refund).  Its settings are read once at start
 * (ch_paygw_config_from_env()); one ch_paygw_t per process is made from
 * them after fork (ch_paygw_new()).  Calls are blocking with short
 * timeouts (libcurl: 3 s to connect, 5 s in all, no redirects followed,
 * http and https only).  Strings returned belong to the caller's pool.
 *
 * What the gateway answers is parsed strictly (duplicate keys refused,
 * exactly the members the protocol names, integers that are JSON
 * integers, identifiers of [A-Za-z0-9_-], times of RFC 3339 shape).  A
 * 2xx answer that breaks the protocol counts as CH_PAYGW_UNAVAILABLE: the
 * gateway, not the request, is at fault, and every call may be made again
 * (orders and refunds are idempotent on our numbers).
 */
#ifndef CERTHALL_PAYGW_H
#define CERTHALL_PAYGW_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/base/pool.h"

typedef struct ch_paygw_config ch_paygw_config_t;
typedef struct ch_paygw ch_paygw_t;

typedef enum {
	CH_PAYGW_CONFIG_OK,
	CH_PAYGW_CONFIG_NONE,	/* none of the six gateway variables is set:
				 * no online payment */
	CH_PAYGW_CONFIG_BAD,	/* one is missing, malformed, unreadable or
				 * unfit (logged) */
} ch_paygw_config_result_t;

/*
 * Reads the gateway's settings from the environment, once, at the start of
 * a program (certhall-api's master, certhall-payd), as the user that
 * started it: the key files may be readable by that user alone.
 *   CERTHALL_PAY_PROVIDER          provider name ("sandbox")
 *   CERTHALL_PAY_GATEWAY_URL       base URL, e.g. http://127.0.0.1:8091
 *   CERTHALL_PAY_MERCHANT_ID       our merchant id at the gateway
 *   CERTHALL_PAY_MERCHANT_KEY_FILE file holding our API secret (one line)
 *   CERTHALL_PAY_GATEWAY_PUBKEY_FILE  the gateway's RSA public key (PEM)
 *   CERTHALL_PAY_NOTIFY_URL        where the gateway sends notifications
 *   CERTHALL_PAY_ORDER_TTL         seconds an order stays payable (1 to
 *                                  604800; default 7200)
 * Both files are read now: the merchant key (printable ASCII, kept in
 * the settings until ch_paygw_config_free() cleanses it) and the public key
 * (RSA of at least 2048 bits).  Nothing reads these variables or files
 * again.  CH_PAYGW_CONFIG_OK with *out set (the caller frees it after
 * every client made from it); CH_PAYGW_CONFIG_NONE (*out NULL) when none of
 * the six gateway variables is set; CH_PAYGW_CONFIG_BAD (*out NULL) after
 * logging what is wrong, naming the variable or file, never the key (a bad
 * CERTHALL_PAY_ORDER_TTL is BAD even without a gateway).
 */
ch_paygw_config_result_t ch_paygw_config_from_env(ch_paygw_config_t **out);
/* Cleanses the merchant key and releases cfg; NULL is a no-op. */
void ch_paygw_config_free(ch_paygw_config_t *cfg);

/*
 * The client for cfg (borrowed: it must outlive the client): one per
 * process, made after fork (a web worker, the payment daemon), holding its
 * libcurl handle and the request headers.  It calls curl_global_init();
 * ch_paygw_free() the matching cleanup.  NULL (logged) when libcurl cannot
 * be set up.
 */
ch_paygw_t *ch_paygw_new(const ch_paygw_config_t *cfg);
/* Releases gw and everything it holds (not its settings); NULL is a
 * no-op. */
void ch_paygw_free(ch_paygw_t *gw);

/* The provider name notifications are routed by ("sandbox"). */
const char *ch_paygw_provider(const ch_paygw_t *gw);
/* How long an order we open at this gateway stays payable, seconds
 * (CERTHALL_PAY_ORDER_TTL). */
long long ch_paygw_order_ttl(const ch_paygw_t *gw);
/*
 * The pay URL a browser payer is sent to, with the way back appended as
 * redirect_url (as WeChat Pay H5 takes it): the configured hall origin
 * (CERTHALL_PAY_RETURN_BASE, else CERTHALL_URL) followed by return_path,
 * which the caller has checked is a path of the hall ("/..." and nothing
 * that could leave the origin).  The origin is ours, never the request's,
 * so no answer of ours redirects a payer elsewhere.  In pool; pay_url
 * itself (borrowed) when no origin is configured or either is NULL.
 */
const char *ch_paygw_pay_url_return(const ch_paygw_t *gw, ch_pool_t *pool,
    const char *pay_url, const char *return_path);

/* Every call returns one of these; *why (pool or static) says why for the
 * other two, fit for a log line and refund.last_error (printable ASCII). */
typedef enum {
	CH_PAYGW_OK,
	CH_PAYGW_REFUSED,	/* the gateway answered 4xx (not 401/403, 408,
				 * 429): *why has its status and code; or the
				 * request could not be made (bad number) */
	CH_PAYGW_UNAVAILABLE,	/* network error, timeout, 3xx, 5xx, 408, 429,
				 * 401/403 (our credentials: logged as an
				 * error), or a malformed answer: retry later */
} ch_paygw_result_t;

typedef struct {
	const char *out_trade_no;
	const char *description;	/* shown to the payer */
	long long amount_fen;
	long long expires_at;		/* unix seconds */
} ch_paygw_order_t;

/* Creates the order at the gateway (idempotent on out_trade_no; 201, or
 * 200 for the same order again); on OK *prepay_id and *pay_url (an http(s)
 * URL) are set.  409 (the number taken with other content) is REFUSED. */
ch_paygw_result_t ch_paygw_create(ch_paygw_t *gw, ch_pool_t *pool,
    const ch_paygw_order_t *o, const char **prepay_id, const char **pay_url,
    const char **why);

/* A transaction as the gateway reports it (query or notification). */
typedef struct {
	const char *notification_id;	/* notifications only, else NULL */
	const char *out_trade_no;
	const char *trade_state;	/* NOTPAY, SUCCESS, CLOSED, REFUND */
	const char *transaction_id;	/* NULL unless paid */
	long long amount_fen;		/* the order total; -1 if absent */
	const char *currency;
	const char *success_time;	/* RFC 3339, NULL unless paid */
} ch_paygw_txn_t;

/* The order's state at the gateway (*out filled on OK: transaction_id and
 * success_time set for SUCCESS and REFUND; notification_id NULL).  An
 * unknown order (404) is REFUSED. */
ch_paygw_result_t ch_paygw_query(ch_paygw_t *gw, ch_pool_t *pool,
    const char *out_trade_no, ch_paygw_txn_t *out, const char **why);

/* Closes an unpaid order at the gateway (idempotent).  A paid order (409)
 * is REFUSED: query it. */
ch_paygw_result_t ch_paygw_close(ch_paygw_t *gw, ch_pool_t *pool,
    const char *out_trade_no, const char **why);

/* Asks for a full refund of transaction_id (idempotent on out_refund_no);
 * on OK *state is "SUCCESS" or "PROCESSING" and *refund_id the gateway's
 * id. */
ch_paygw_result_t ch_paygw_refund(ch_paygw_t *gw, ch_pool_t *pool,
    const char *out_refund_no, const char *transaction_id,
    long long amount_fen, const char *reason, const char **refund_id,
    const char **state, const char **why);

/* A refund's state at the gateway: SUCCESS, PROCESSING or ABNORMAL (the
 * money could not be returned: a person must act).  An unknown refund
 * (404) is REFUSED. */
ch_paygw_result_t ch_paygw_refund_query(ch_paygw_t *gw, ch_pool_t *pool,
    const char *out_refund_no, const char **state, const char **why);

typedef enum {
	CH_NOTICE_OK,
	CH_NOTICE_BAD_SIGNATURE,	/* headers missing, or it does not verify */
	CH_NOTICE_STALE,		/* timestamp outside ±5 minutes of now */
	CH_NOTICE_MALFORMED,		/* verified, but not a notification we know */
} ch_paygw_notice_result_t;

/* How far a notification's timestamp may be from our clock, seconds. */
#define CH_PAYGW_NOTICE_WINDOW 300

/*
 * Verifies a notification: the headers' timestamp within
 * CH_PAYGW_NOTICE_WINDOW of now (unix seconds), then the signature over
 * timestamp, nonce and the raw body with the configured public key, then
 * the body's shape (event_type TRANSACTION.SUCCESS and the resource
 * fields).  On CH_NOTICE_OK *out is filled (notification_id set).  On
 * anything else *why says what, for the log and the problem detail.
 * Only the signature check touches the key; nothing else is trusted before
 * it.
 */
ch_paygw_notice_result_t ch_paygw_verify_notice(const ch_paygw_t *gw,
    ch_pool_t *pool, const char *timestamp, const char *nonce,
    const char *signature, const char *body, size_t body_len, long long now,
    ch_paygw_txn_t *out, const char **why);

#endif
