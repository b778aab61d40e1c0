/*
 * Signing in (certhall/domain/signin.h).
 */
#include "certhall/domain/signin.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/base/validate.h"
#include "certhall/domain/people.h"
#include "certhall/domain/smscode.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Why a sign-in was refused, as the audit log says it. */
static const char *const refusal_reasons[CH_SIGNIN__MAX] = {
	[CH_SIGNIN_OK] = "",
	[CH_SIGNIN_NO_CODE] = "no valid code",
	[CH_SIGNIN_CODE_USED] = "code already used",
	[CH_SIGNIN_CODE_SPENT] = "too many tries",
	[CH_SIGNIN_CODE_WRONG] = "wrong code",
	[CH_SIGNIN_UNKNOWN_USER] = "unknown user",
	[CH_SIGNIN_DISABLED] = "disabled",
	[CH_SIGNIN_LOCKED] = "locked",
	[CH_SIGNIN_WRONG_PASSWORD] = "wrong password",
	[CH_SIGNIN_ERROR] = "",
};

/* ---- applicants --------------------------------------------------------- */

/* Records a refused applicant sign-in; code_id is NULL when no code was in
 * play.  why, or CH_SIGNIN_ERROR. */
static ch_signin_result_t
applicant_refused(ch_ctx_t *ctx, const char *masked, const char *code_id,
    ch_signin_result_t why)
{
	if (ch_audit(ctx, "auth.sign_in_failed", code_id ? "sms_code" : NULL,
	    code_id, json_pack("{s:s, s:s}", "phone", masked, "reason",
	    refusal_reasons[why])) != 0)
		return CH_SIGNIN_ERROR;
	return why;
}

ch_signin_result_t
ch_signin_applicant(ch_ctx_t *ctx, const char *phone, const char *code,
    long long *applicant_id)
{
	char masked[32];
	const char *code_id;
	bool first;
	ch_sms_code_verdict_t verdict;

	ch_mask_phone(phone, masked);
	if (ch_sms_code_sign_in_try(ctx, phone, code, &code_id, &verdict) != 0)
		return CH_SIGNIN_ERROR;
	if (code_id == NULL)
		return applicant_refused(ctx, masked, NULL, CH_SIGNIN_NO_CODE);
	if (verdict == CH_SMS_CODE_USED)
		return applicant_refused(ctx, masked, code_id,
		    CH_SIGNIN_CODE_USED);
	if (verdict == CH_SMS_CODE_SPENT)
		return applicant_refused(ctx, masked, code_id,
		    CH_SIGNIN_CODE_SPENT);
	if (verdict != CH_SMS_CODE_RIGHT)
		return applicant_refused(ctx, masked, code_id,
		    CH_SIGNIN_CODE_WRONG);

	if (ch_applicant_for_phone(ctx->db, ctx->pool, phone, applicant_id,
	    &first) != 0)
		return CH_SIGNIN_ERROR;
	if (ch_audit_as(ctx, CH_ACTOR_APPLICANT, *applicant_id, "auth.sign_in",
	    "applicant", ch_psprintf(ctx->pool, "%lld", *applicant_id),
	    json_pack("{s:s, s:b}", "phone", masked, "first_sign_in", first))
	    != 0)
		return CH_SIGNIN_ERROR;
	return CH_SIGNIN_OK;
}

/* ---- staff -------------------------------------------------------------- */

/* Made by ch_password_hash; the password behind it was random and has been
 * thrown away. */
const char ch_signin_dummy_password_hash[] =
    "$scrypt$ln=15,r=8,p=1$Fdi6U1ub/jQpL7X55qrNyw"
    "$EFXc2lrMcsdzZC3FkIvepXTjsfzj3+M3OJBrkL2NyKo";

/* Columns: 0 id, 1 password_hash, 2 disabled, 3 locked now.  The row stays
 * locked until commit, so the failure count of concurrent tries adds up. */
static const ch_stmt_t stmt_staff_get = {
	.name = "auth_staff_for_sign_in",
	.sql = "SELECT id, password_hash, disabled,"
	       "       coalesce(locked_until > now(), false)"
	       "  FROM staff WHERE username = $1 FOR UPDATE",
	.nparams = 1,
};

/*
 * A refused sign-in, run by every refusal so that each costs the same
 * round trip; only a wrong password ($4 true) changes the row: one more
 * failure, and the CH_STAFF_MAX_FAILURES-th locks the account.  A lock
 * that has run out starts the count again at this failure.  An unknown
 * user ($1 0), a disabled or a locked account ($4 false) match no row:
 * their password was not tried, so there is nothing to count, and a lock
 * is not prolonged by tries made while it holds.  $2 max failures, $3 lock
 * seconds.  Columns: 0 failures, 1 locked by this one, 2 until (unix s).
 */
static const ch_stmt_t stmt_staff_failed = {
	.name = "auth_staff_failed",
	.sql = "WITH c AS ("
	       "  SELECT id, CASE WHEN locked_until <= now() THEN 1"
	       "                  ELSE failed_logins + 1 END AS n"
	       "    FROM staff WHERE id = $1 AND $4::boolean)"
	       " UPDATE staff s SET failed_logins = c.n,"
	       "   locked_until = CASE WHEN c.n >= $2::int"
	       "     THEN now() + make_interval(secs => $3::int) END"
	       "  FROM c WHERE s.id = c.id"
	       " RETURNING s.failed_logins, s.locked_until IS NOT NULL,"
	       "   extract(epoch FROM s.locked_until)::bigint",
	.nparams = 4,
};

static const ch_stmt_t stmt_staff_ok = {
	.name = "auth_staff_ok",
	.sql = "UPDATE staff SET failed_logins = 0, locked_until = NULL"
	       " WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
	.nparams = 1,
};

/*
 * Records a refused staff sign-in (staff_id 0: no such user) and its
 * failure (stmt_staff_failed, counted only for a wrong password).  why, or
 * CH_SIGNIN_ERROR.
 */
static ch_signin_result_t
staff_refused(ch_ctx_t *ctx, long long staff_id, const char *username,
    ch_signin_result_t why)
{
	const char *params[4], *id = ch_psprintf(ctx->pool, "%lld", staff_id);
	const char *check;
	char until[32];
	PGresult *res;
	json_int_t failures = 0;
	json_t *d;

	params[0] = id;
	params[1] = ch_psprintf(ctx->pool, "%d", CH_STAFF_MAX_FAILURES);
	params[2] = ch_psprintf(ctx->pool, "%d", CH_STAFF_LOCK_MINUTES * 60);
	params[3] = why == CH_SIGNIN_WRONG_PASSWORD ? "true" : "false";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_staff_failed, params);
	if (res == NULL)
		return CH_SIGNIN_ERROR;
	if (PQntuples(res) == 1) {
		failures = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (PQgetvalue(res, 0, 1)[0] == 't') {
			ch_time_shanghai(strtoll(PQgetvalue(res, 0, 2), NULL,
			    10), until);
			if (ch_audit_as(ctx, CH_ACTOR_STAFF, staff_id,
			    "auth.staff_locked", "staff", id,
			    json_pack("{s:s, s:I, s:s}", "username", username,
			    "failed_logins", failures, "locked_until", until))
			    != 0)
				return CH_SIGNIN_ERROR;
			ch_warn("staff account \"%s\" locked after %d wrong "
			    "passwords", username, CH_STAFF_MAX_FAILURES);
		}
	}

	/* What was typed as an unknown username may be anything, a password
	 * typed in the wrong box included: the log keeps only what could
	 * have been a username. */
	if (staff_id <= 0 && ch_check_username(username, &check) != 0)
		username = "(not a valid username)";
	d = json_pack("{s:s, s:s}", "username", username, "reason",
	    refusal_reasons[why]);
	if (failures > 0)
		json_object_set_new(d, "failed_logins", json_integer(failures));
	if (ch_audit_as(ctx, staff_id > 0 ? CH_ACTOR_STAFF : CH_ACTOR_ANONYMOUS,
	    staff_id, "auth.staff_sign_in_failed", staff_id > 0 ? "staff" : NULL,
	    staff_id > 0 ? id : NULL, d) != 0)
		return CH_SIGNIN_ERROR;
	return why;
}

ch_signin_result_t
ch_signin_staff(ch_ctx_t *ctx, const char *username, const char *password,
    long long *staff_id)
{
	const char *params[1] = { username }, *id;
	PGresult *res;
	ch_signin_result_t why = CH_SIGNIN_UNKNOWN_USER;
	bool right;

	*staff_id = 0;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_staff_get, params);
	if (res == NULL)
		return CH_SIGNIN_ERROR;
	if (PQntuples(res) == 1) {
		*staff_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (PQgetvalue(res, 0, 2)[0] == 't')
			why = CH_SIGNIN_DISABLED;
		else if (PQgetvalue(res, 0, 3)[0] == 't')
			why = CH_SIGNIN_LOCKED;
		else
			why = CH_SIGNIN_OK;
	}
	right = ch_password_verify(password, why == CH_SIGNIN_OK ?
	    PQgetvalue(res, 0, 1) : ch_signin_dummy_password_hash);
	if (why == CH_SIGNIN_OK && !right)
		why = CH_SIGNIN_WRONG_PASSWORD;
	if (why != CH_SIGNIN_OK)
		return staff_refused(ctx, *staff_id, username, why);

	id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	params[0] = id;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_staff_ok, params) == NULL ||
	    ch_audit_as(ctx, CH_ACTOR_STAFF, *staff_id, "auth.staff_sign_in",
	    "staff", id, json_pack("{s:s}", "username", username)) != 0)
		return CH_SIGNIN_ERROR;
	return CH_SIGNIN_OK;
}
