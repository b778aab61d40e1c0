/*
 * Signing in (docs/CONTRACT.md "Identity and access"): an applicant with
 * an SMS code (certhall/domain/smscode.h), a staff member with a password.
 * What is decided here is who may have a session; the session itself is
 * the web layer's (certhall/web/auth.h ch_session_create()).
 *
 * No answer may say whether an account exists (issue 17,
 * tests/e2e/test_signin_oracle.py).  So these functions decide every
 * refusal, and do its work, the same way for every account:
 *
 *   - applicant: the applicant is looked up only after a right code, so
 *     every refusal is decided, and costs, the same for a phone that has
 *     signed in before and one never seen;
 *   - staff: every way through costs one row lookup, one scrypt, one
 *     failure statement (refusals), the audit event and the caller's
 *     commit.  Only an enabled, unlocked account's own hash is ever tried,
 *     so a lock stops guessing; the others are verified against
 *     ch_signin_dummy_password_hash and refused whatever the outcome.
 *
 * The result keeps the real reason, and so does the audit event, for
 * admins; the handler turns every staff refusal into one answer, and every
 * applicant refusal into one answer but for CH_SIGNIN_CODE_SPENT (see
 * api/auth.c).  A refused sign-in still writes what it must remember (a
 * code's spent try, a staff member's failure count and lock, the audit
 * event): the caller commits before answering.  Codes and passwords never
 * reach a log line or an audit detail; phones appear masked.
 */
#ifndef CERTHALL_SIGNIN_H
#define CERTHALL_SIGNIN_H

#include "certhall/store/ctx.h"

#define CH_STAFF_MAX_FAILURES 5		/* consecutive wrong passwords ... */
#define CH_STAFF_LOCK_MINUTES 15	/* ... lock the account this long */

typedef enum {
	CH_SIGNIN_OK,
	/* An applicant's refusals. */
	CH_SIGNIN_NO_CODE,	/* no code for the phone within its 5 minutes */
	CH_SIGNIN_CODE_USED,	/* the newest code was used already */
	CH_SIGNIN_CODE_SPENT,	/* the newest code has had its wrong tries */
	CH_SIGNIN_CODE_WRONG,
	/* A staff member's refusals. */
	CH_SIGNIN_UNKNOWN_USER,
	CH_SIGNIN_DISABLED,
	CH_SIGNIN_LOCKED,
	CH_SIGNIN_WRONG_PASSWORD,
	CH_SIGNIN_ERROR,	/* the database failed (logged): roll back */
	CH_SIGNIN__MAX
} ch_signin_result_t;

/*
 * Judges phone + code against the newest sign-in code sent to phone
 * (ch_sms_code_sign_in_try()), in the caller's transaction.  A right code
 * finds or creates the phone's direct applicant (*applicant_id) and audits
 * "auth.sign_in" as that applicant; a refusal audits
 * "auth.sign_in_failed" with its reason.  Either way the caller commits.
 */
ch_signin_result_t ch_signin_applicant(ch_ctx_t *ctx, const char *phone,
    const char *code, long long *applicant_id);

/*
 * Judges username + password, in the caller's transaction, which keeps
 * the staff row locked so the failure counts of concurrent tries add up.
 * CH_SIGNIN_OK (*staff_id set): the failure count and any lock that ran
 * out are cleared and "auth.staff_sign_in" audited.  A refusal audits
 * "auth.staff_sign_in_failed" with its reason (a username that could not
 * be one is not kept: it may be a password typed in the wrong box); a
 * wrong password counts one failure, and the CH_STAFF_MAX_FAILURES-th in a
 * row locks the account for CH_STAFF_LOCK_MINUTES ("auth.staff_locked").
 * Either way the caller commits.
 */
ch_signin_result_t ch_signin_staff(ch_ctx_t *ctx, const char *username,
    const char *password, long long *staff_id);

/*
 * A password hash of ch_password_hash()'s form and cost (scrypt, same
 * parameters, same lengths) that no known password matches: what a staff
 * sign-in that is refused whatever the password (no such user, a disabled
 * or a locked account) verifies the password against, so that it costs
 * one scrypt, as a wrong password does, and a locked account's own hash is
 * never tried.  Refuse even if it matches.  tests/unit checks that it
 * keeps ch_password_hash()'s parameters.
 */
extern const char ch_signin_dummy_password_hash[];

#endif
