/*
 * Verify, the free half of step 4 (SPEC §6; docs/CONTRACT.md "Pay or
 * verify"), and proof of possession of the current certificate's key:
 * a code sent by SMS to the phone registered for the certificate and
 * given back, or a challenge signed with the USB key.
 *
 * Every function runs in the caller's transaction on a subject opened by
 * ch_verify_open(), which loads the application for a change (the owner,
 * or a counter clerk for a counter application; locked, so the steps of
 * one application are decided one after the other) with what it owes.
 * Nothing here commits.  Rate limits are the caller's (they count
 * requests, certhall/web/ratelimit.h).
 *
 * Decisions:
 *   - The code goes to certificate.registered_phone, the phone the CA has
 *     on file for the certificate, never to the caller's or the
 *     application's handler_phone: whoever filled in the application must
 *     not be able to verify it with a phone of their choosing.  No phone
 *     on file: a conflict (nothing to send it to).
 *   - Codes follow the sign-in rules (certhall/domain/smscode.h): 6 digits,
 *     5 minutes, 5 tries, one use, stored as an HMAC bound to the row, the
 *     application and the phone.  The newest code of an application is the
 *     one judged, so its refusal can say precisely why (wrong, expired,
 *     used, spent): the caller already holds the application, there is no
 *     one to hide that from.  Refused tries are audited
 *     (application.verification_failed) and committed by the caller before
 *     it answers.
 *   - A challenge fixes the algorithm the certificate's key signs with
 *     (certhall/domain/possession.h) and a certificate that cannot prove
 *     anything (none on file, a weak or foreign key) is refused at once,
 *     rather than after the USB key has signed.  to_sign binds the
 *     application and a 256-bit nonce; a challenge lives 5 minutes and is
 *     consumed by its first attempt, right or wrong, so each nonce meets at
 *     most one signature.
 *   - Each fact is recorded with ch_settle_record() in the transaction
 *     that earns it; when nothing more is owed the same transaction moves
 *     the application to issuing and queues its signing job.
 *
 * Codes, signatures and keys never reach the log or an audit detail;
 * phones appear masked.
 */
#ifndef CERTHALL_VERIFICATION_H
#define CERTHALL_VERIFICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/domain/application.h"
#include "certhall/domain/possession.h"
#include "certhall/store/ctx.h"

/* The longest signature taken: RSA-16384 (OpenSSL's largest modulus) is
 * 2048 bytes, 2732 base64 characters. */
#define CH_VERIFY_SIGNATURE_MAX_BYTES 2048
#define CH_VERIFY_SIGNATURE_MAX_CHARS 2732

/* What a request is about. */
typedef enum {
	CH_VERIFY_SEND_CODE,	/* a code to the registered phone */
	CH_VERIFY_CHECK_CODE,	/* the code back */
	CH_VERIFY_POSSESSION,	/* a challenge, or its signature */
} ch_verify_purpose_t;

/* An application being verified, and what it owes.  Strings and der
 * belong to ctx->pool. */
typedef struct {
	ch_app_t app;
	char idbuf[24];			/* app.id in decimal */
	bool verified, proven;
	const char *phone;		/* registered for the certificate, or NULL */
	unsigned char *der;		/* the certificate, or NULL */
	size_t der_len;
	const char *business_name;	/* 变更, 吊销, ... */
	ch_poss_alg_t alg;		/* CH_VERIFY_POSSESSION: its key's */
} ch_verify_subject_t;

typedef enum {
	CH_VERIFY_OK,
	CH_VERIFY_NOT_FOUND,	/* as CH_APP_NOT_FOUND; rolled back already */
	CH_VERIFY_CONFLICT,	/* the application may not do this now:
				 * *detail; its status is s->app.status */
	CH_VERIFY_REFUSED,	/* the try is refused, naming the field (*r);
				 * the refusal is recorded (audit, the code's
				 * try or the challenge spent): the caller
				 * commits before it answers */
	CH_VERIFY_ERROR,	/* database error, logged */
} ch_verify_result_t;

/*
 * Opens the caller's transaction, loads application id for a change
 * (CH_APP_CHANGE) and what it owes into *s, and checks that it may do
 * purpose now: SMS codes are for free business awaiting verification
 * (change, revoke, unlock), once, and sending one needs a registered
 * phone; possession is for renew awaiting payment and change awaiting
 * verification, once, with a certificate on file whose key can prove it
 * (s->alg).  CH_VERIFY_OK; CH_VERIFY_NOT_FOUND; CH_VERIFY_CONFLICT with
 * *detail (the caller rolls back); CH_VERIFY_ERROR.
 */
ch_verify_result_t ch_verify_open(ch_ctx_t *ctx, long long id,
    ch_verify_purpose_t purpose, ch_verify_subject_t *s,
    const char **detail);

/* What was sent. */
typedef struct {
	char sent_to[32];		/* the phone, masked */
	const char *expires_at;		/* as the API shows times (ctx->pool) */
} ch_verify_sent_t;

/*
 * Sends a new code for subject s (opened for CH_VERIFY_SEND_CODE) to its
 * registered phone: the row with its keyed hash, the SMS through the
 * outbox, the audit event verification.code_sent.  The code is wiped
 * afterwards.  0 with *out set, or -1 (database error).
 */
int ch_verify_code_send(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    ch_verify_sent_t *out);

/*
 * Judges code against the newest code of subject s (opened for
 * CH_VERIFY_CHECK_CODE): counts the try; when right, records the fact
 * (audit application.verified, ch_settle_record()): CH_VERIFY_OK.  A
 * refused try (none sent, used, expired, spent, wrong) is
 * CH_VERIFY_REFUSED naming "code".  CH_VERIFY_ERROR.
 */
ch_verify_result_t ch_verify_code_check(ch_ctx_t *ctx,
    const ch_verify_subject_t *s, const char *code, ch_app_refusal_t *r);

/* A challenge made. */
typedef struct {
	long long id;
	const char *to_sign;		/* "certhall-possession:v1:<id>:<nonce>" */
	const char *algorithm;		/* ch_poss_alg_name() */
	const char *expires_at;		/* as the API shows times (ctx->pool) */
} ch_verify_challenge_t;

/*
 * Makes a challenge for subject s (opened for CH_VERIFY_POSSESSION): a
 * 256-bit nonce, s->alg, 5 minutes, the client's address.  0 with *out
 * set, or -1 (database error).
 */
int ch_verify_challenge_new(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    ch_verify_challenge_t *out);

/*
 * Checks signature (standard base64, checked by the caller's schema, at
 * most CH_VERIFY_SIGNATURE_MAX_CHARS) over challenge challenge_id of
 * subject s (opened for CH_VERIFY_POSSESSION) and spends the challenge,
 * whatever the outcome.  When it verifies, records the fact (audit
 * application.possession_proven, ch_settle_record()): CH_VERIFY_OK.  An
 * unknown, used or expired challenge is CH_VERIFY_REFUSED naming
 * "challenge_id"; a signature that does not verify names "signature".
 * CH_VERIFY_ERROR.
 */
ch_verify_result_t ch_verify_possession(ch_ctx_t *ctx,
    const ch_verify_subject_t *s, long long challenge_id,
    const char *signature, ch_app_refusal_t *r);

#endif
