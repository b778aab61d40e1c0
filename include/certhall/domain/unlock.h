/*
 * Unlock (解锁; SPEC §2, §8; issue 13): the one-time unlock response for a
 * USB key whose user PIN is locked or forgotten.
 *
 *   1. An unlock application settles (verified by SMS code) into issuing
 *      with a signing job of kind 'unlock' (src/domain/settle.c).
 *   2. The handler's client sends the USB key's serial and the challenge
 *      it shows: POST /applications/{id}/unlock, ch_unlock_request().
 *   3. certhall-signer computes the response in the CA token
 *      (ch_station_unlock_response(), certhall/token/station.h, which
 *      documents the derivation exactly) and ch_unlock_answer_due()
 *      records it: the request answered, the job done, the application
 *      issuing -> issued, the response to the handler by SMS (template
 *      "unlock_response").  The owner reads it too: GET .../unlock.
 *   4. The handler confirms the key is unlocked: POST .../unlock/confirm,
 *      ch_unlock_confirm(): issued -> completed.
 *
 * Decisions (docs/CONTRACT.md "Unlock"):
 * - Who: the owner, or a counter clerk for a counter application
 *   (ch_app_load()'s CH_APP_CHANGE), for the three routes; others 404.
 * - The serial must be the usb_key_serial of the certificate the
 *   application is about: another key's serial is refused (the request
 *   would unlock a key the certificate is not on).
 * - A challenge is answered once for a key, ever (UNIQUE (serial,
 *   challenge)): a challenge seen before is refused whichever application
 *   sent it, for a response given out once must not be handed out again.
 * - One request per application: a second is a conflict (a new unlock
 *   application is needed, as for a second unlock at the counter).
 * - The response is kept in unlock_request for the owner to read; it is
 *   good once, for that challenge only.
 * - A request the signer cannot answer for good (a serial no USB key can
 *   have) is recorded with its error; the job fails and the application
 *   stays issuing for an operator.  One it cannot answer yet (the token,
 *   the master secret) waits for the next round.
 */
#ifndef CERTHALL_DOMAIN_UNLOCK_H
#define CERTHALL_DOMAIN_UNLOCK_H

#include <stddef.h>

#include "certhall/domain/application.h"
#include "certhall/store/ctx.h"

/* A challenge's length, as ch_station_unlock_response() takes it
 * (certhall/token/station.h: the same numbers). */
#define CH_UNLOCK_CHALLENGE_MIN 8
#define CH_UNLOCK_CHALLENGE_MAX 64

typedef enum {
	CH_UNLOCK_OK,
	CH_UNLOCK_NOT_FOUND,	/* no request for the application (GET) */
	CH_UNLOCK_CONFLICT,	/* not an unlock application, not in the
				 * status for this step, or sent already: *why */
	CH_UNLOCK_OTHER_KEY,	/* usb_key_serial is not the certificate's */
	CH_UNLOCK_REUSED,	/* the challenge was answered for this key */
	CH_UNLOCK_ERROR,	/* database error, logged */
} ch_unlock_result_t;

/*
 * Step 2 for application a (loaded with CH_APP_CHANGE in the caller's
 * transaction): checks it (above), stores the request, wakes the signer
 * (NOTIFY signing_job) and audits "application.unlock_requested".
 * CH_UNLOCK_OK with *json the UnlockRequest object (ctx->pool); roll back
 * after anything else.  *why is a static phrase for a conflict.
 */
ch_unlock_result_t ch_unlock_request(ch_ctx_t *ctx, const ch_app_t *a,
    const char *usb_key_serial, const char *challenge, const char **json,
    const char **why);

/* The UnlockRequest object of application id (loaded for the caller). */
ch_unlock_result_t ch_unlock_get(ch_ctx_t *ctx, long long id,
    const char **json);

/*
 * Step 4 for application a (loaded with CH_APP_CHANGE in the caller's
 * transaction): the response was given (status issued), so the request is
 * marked confirmed and the application issued -> completed
 * (certhall/domain/workflow.h).  CH_UNLOCK_OK with *json; roll back after
 * anything else.
 */
ch_unlock_result_t ch_unlock_confirm(ch_ctx_t *ctx, const ch_app_t *a,
    const char **json, const char **why);

/*
 * Computes the response to serial and challenge into out (17 bytes):
 * 0, 1 not now (try again next round), or -1 never (*why, static).
 */
typedef int (*ch_unlock_answer_fn)(void *arg, const char *serial,
    const char *challenge, char *out, const char **why);

/*
 * Step 3 (certhall-signer): answers up to max open requests (FOR UPDATE
 * SKIP LOCKED, one transaction), as above.  *answered counts them.  0, or
 * -1 (database error, logged; rolled back).
 */
int ch_unlock_answer_due(ch_ctx_t *ctx, int max, ch_unlock_answer_fn answer,
    void *arg, int *answered);

#endif
