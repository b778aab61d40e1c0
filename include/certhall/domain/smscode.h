/*
 * One-time codes sent by SMS: the sign-in codes of api/auth.c
 * (docs/CONTRACT.md "Identity and access") and the verification codes of
 * free business, api/verification.c ("Pay or verify").  One rule for both:
 *
 *   - 6 digits, uniform (ch_random_below), valid CH_SMS_CODE_SECONDS;
 *   - never stored: a row keeps HMAC-SHA256(key(label), "<bound>:<code>")
 *     under a pepper-derived key (certhall/base/crypto.h), where bound names the
 *     row and where the code went ("<id>:<phone>" for sign-in), so a hash
 *     copied to another row or recipient does not match;
 *   - every try counts, the right one too; a code survives
 *     CH_SMS_CODE_MAX_TRIES wrong tries, and the try after them is refused
 *     even if right; a used code is refused.
 *
 * The rows live in each user's own table (sms_code, verification_code);
 * what is shared is the code, its stored form and the verdict on a try.
 * The sign-in codes' rows are kept here too (ch_sms_code_sign_in_*());
 * what a verdict means for a sign-in is certhall/domain/signin.h's.
 */
#ifndef CERTHALL_SMSCODE_H
#define CERTHALL_SMSCODE_H

#include <stdbool.h>

#include "certhall/base/crypto.h"
#include "certhall/store/ctx.h"

#define CH_SMS_CODE_SECONDS 300		/* a code's validity */
#define CH_SMS_CODE_MAX_TRIES 5		/* wrong tries a code survives */

/* The stored hash as a PostgreSQL bytea literal: "\x" and 64 hex digits. */
#define CH_SMS_CODE_HASH_LITERAL (2 + 2 * CH_SHA256_LEN + 1)

/* A new code: 6 uniformly random digits and a NUL.  The caller wipes it
 * when done. */
void ch_sms_code_new(char code[8]);

/* The stored form of code for bound under label's key, as a bytea literal
 * for a statement parameter ($n::bytea). */
void ch_sms_code_hash(const char *label, const char *bound, const char *code,
    char out[CH_SMS_CODE_HASH_LITERAL]);

typedef enum {
	CH_SMS_CODE_RIGHT,	/* counts as a try and consumes the code */
	CH_SMS_CODE_WRONG,	/* counts as a try */
	CH_SMS_CODE_USED,	/* consumed before: refused, not counted */
	CH_SMS_CODE_EXPIRED,	/* past expires_at: refused, not counted */
	CH_SMS_CODE_SPENT,	/* had its tries: refused unlooked-at */
} ch_sms_code_verdict_t;

/*
 * Judges a try of code against a stored row: its hash as hex (encode(…,
 * 'hex')), its attempts so far, whether it is consumed and whether it has
 * expired.  In that order: used, expired, spent, then the hash (constant
 * time).  The caller records a RIGHT or WRONG try (attempts + 1, and
 * consumed_at for RIGHT) in the transaction that read the row FOR UPDATE,
 * so concurrent tries are counted one after the other.  Pure but for the
 * keyed hash.
 */
ch_sms_code_verdict_t ch_sms_code_judge(const char *label, const char *bound,
    const char *code, const char *stored_hex, int attempts, bool consumed,
    bool expired);

/* ---- sign-in codes (table sms_code) ------------------------------------ */

/*
 * Sends phone a new sign-in code, in the caller's transaction: the row
 * (bound "<id>:<phone>" under CH_KEY_SMS_CODE, valid CH_SMS_CODE_SECONDS),
 * the SMS in the outbox (template "login_code") and the
 * "auth.sms_code_sent" audit event (phone masked, outbox id).  The same
 * work whether or not the phone has signed in before.  The code exists
 * only in the outbox row.  0, or -1 (database error, logged).
 */
int ch_sms_code_sign_in_send(ch_ctx_t *ctx, const char *phone);

/*
 * Judges a try of code against the newest sign-in code sent to phone that
 * is still within its CH_SMS_CODE_SECONDS, used or not (a newer code
 * supersedes older ones, and a used one is refused rather than letting an
 * older code stand in for it).  The row is read FOR UPDATE, so concurrent
 * tries on one code are counted one after the other; a RIGHT or WRONG try
 * counts (attempts + 1) and a RIGHT one consumes the code, in the caller's
 * transaction.  0 with *id (the row's id, in ctx->pool; NULL when there is
 * no such code, and then *verdict is untouched) and *verdict set, or -1
 * (database error, logged).
 */
int ch_sms_code_sign_in_try(ch_ctx_t *ctx, const char *phone,
    const char *code, const char **id, ch_sms_code_verdict_t *verdict);

#endif
