/*
 * SMS delivery: the provider interface and the outbox sender
 * (certhall-sms-sender, its own process; src/sms/).
 *
 * Handlers never talk to an SMS provider.  They write a row into `outbox`
 * in the transaction that causes the message (sql/0004_identity.sql) and
 * NOTIFY "outbox"; the sender claims due rows under a lease, hands each to a
 * provider and records the outcome.  Delivery is at least once towards the
 * provider and exactly once towards the phone, because every message
 * carries its outbox message_id as the provider's idempotency key: a
 * message re-sent after a crash between "provider accepted" and "marked
 * sent" is answered "duplicate" and recorded as sent.
 *
 * A provider is a struct whose first member is ch_sms_provider_t (the
 * "vtable").  Adding Aliyun or Tencent SMS is one more implementation of
 * send(); the sender only sees the three outcomes below.
 *
 * Phone numbers are masked in every log line (138****5678) and message
 * bodies are never logged: they carry sign-in codes.
 */
#ifndef CERTHALL_SMS_H
#define CERTHALL_SMS_H

#include <stddef.h>

/* The signature every message body starts with, and the sign name the
 * provider is given (carriers require a registered signature). */
#define CH_SMS_SIGN_NAME "四川CA"
#define CH_SMS_SIGNATURE "【四川CA】"

/* One message as the provider sees it; every string is borrowed. */
typedef struct ch_sms_msg {
	const char *message_id;		/* uuid: the idempotency key */
	const char *phone;		/* recipient, as stored */
	const char *template;		/* template code, e.g. "sign_in_code" */
	const char *params_json;	/* the template's parameters, a JSON object */
	const char *text;		/* the rendered text, with 【四川CA】 */
} ch_sms_msg_t;

typedef enum {
	CH_SMS_SENT,		/* accepted by the provider (or already was) */
	CH_SMS_RETRY,		/* not now: outage, throttling, timeout */
	CH_SMS_PERMANENT,	/* never: the message itself is refused */
	CH_SMS__MAX
} ch_sms_result_t;

#define CH_SMS_REF_MAX 128
#define CH_SMS_ERROR_MAX 256

/* What send() reports besides its result.  ref is the provider's id for a
 * sent message ("" when it gave none); error says why for the others, in
 * words fit for a log and for outbox.last_error (never the body). */
typedef struct ch_sms_outcome {
	char ref[CH_SMS_REF_MAX];
	char error[CH_SMS_ERROR_MAX];
} ch_sms_outcome_t;

typedef struct ch_sms_provider ch_sms_provider_t;

typedef struct ch_sms_provider_ops {
	const char *name;
	/* Delivers msg once; blocks for at most the provider's own timeouts.
	 * Fills out (zeroed by the caller) and returns the result.  Must be
	 * safe to call again with the same message_id. */
	ch_sms_result_t (*send)(ch_sms_provider_t *p, const ch_sms_msg_t *msg,
	    ch_sms_outcome_t *out);
	void (*free)(ch_sms_provider_t *p);
} ch_sms_provider_ops_t;

struct ch_sms_provider {
	const ch_sms_provider_ops_t *ops;
};

/*
 * Sends msg through p after the checks every provider shares: the body
 * must start with CH_SMS_SIGNATURE and the strings must be present, or the
 * result is CH_SMS_PERMANENT without calling the provider.  out is cleared
 * first.
 */
ch_sms_result_t ch_sms_send(ch_sms_provider_t *p, const ch_sms_msg_t *msg,
    ch_sms_outcome_t *out);
/* Releases a provider and everything it holds; NULL is a no-op. */
void ch_sms_provider_free(ch_sms_provider_t *p);

/* "sent", "retry", "permanent". */
const char *ch_sms_result_name(ch_sms_result_t r);

/*
 * Writes phone masked for a log into buf (cap bytes, NUL-terminated): the
 * first 3 and last 4 characters around "****" (13812345678 -> 138****5678);
 * anything shorter than 8 characters becomes "****".  Returns buf.
 */
char *ch_sms_mask_phone(const char *phone, char *buf, size_t cap);

/*
 * The "http-json" provider: POST {base_url}/v1/messages with
 * "Authorization: Bearer {key}" and the body
 *   {"message_id": …, "phone": …, "sign_name": "四川CA", "template": …,
 *    "params": {…}, "text": …}
 * 2xx (with {"id": "…"}) and 409 {"error": "duplicate message_id"} are
 * CH_SMS_SENT; 408, 425, 429, 5xx, 401/403 (our credentials, not the
 * message, are wrong: retried while an operator fixes them), 3xx and any
 * transport failure or timeout are CH_SMS_RETRY; any other 4xx is
 * CH_SMS_PERMANENT.  Timeouts: 3 s to connect, 10 s in all.  The key is
 * copied; the caller may wipe its copy.  Returns NULL after logging when
 * base_url is not an http(s) URL or libcurl cannot start.  The caller has
 * called curl_global_init().
 */
ch_sms_provider_t *ch_sms_http_json_new(const char *base_url, const char *key);

#endif
