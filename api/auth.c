/*
 * Sign-in and sign-out (docs/CONTRACT.md, "Identity and access"):
 *
 *   POST   /api/v1/auth/sms-codes        send an applicant a sign-in code
 *   POST   /api/v1/auth/sessions         phone + code -> applicant session
 *   POST   /api/v1/auth/staff-sessions   username + password -> staff session
 *   DELETE /api/v1/auth/sessions/current sign out
 *
 * Each request is one transaction.  A refused sign-in still commits what it
 * must remember (a code's spent try, a staff member's failure count and
 * lockout, the audit event) before answering 401.  Codes, passwords and
 * tokens never reach a log line or an audit detail; phones appear masked.
 *
 * No answer says whether an account exists (issue 17): each route refuses
 * with one status, header set and text, whatever the account (unknown,
 * disabled, locked, wrong password; a phone seen before or never), and
 * each refusal does the same work (scrypt for staff).  The audit event
 * keeps the real reason, for admins.  What stays visible is the
 * per-phone limit of sms-codes: its 429 shows that somebody asked a code
 * for this phone within the minute or the hour, which anybody can do for
 * any phone, so it too says nothing about an account.
 */
#include "api.h"
#include "certhall/store/outbox.h"
#include "certhall/domain/people.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/web/ratelimit.h"
#include "certhall/domain/smscode.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMS_RESEND_SECONDS 60		/* per phone: 1 code a minute ... */
#define SMS_PHONE_PER_HOUR 5		/* ... and 5 an hour */
#define SMS_ADDR_PER_HOUR 20		/* per client address */

#define STAFF_MAX_FAILURES 5		/* consecutive wrong passwords ... */
#define STAFF_LOCK_MINUTES 15		/* ... lock the account this long */

/*
 * The answers to a refused applicant sign-in.  No code, a wrong, expired
 * or used code get WRONG_CODE; a code that has had its tries gets its own
 * text, because it tells the person to stop typing and ask for a new code.
 * Neither says anything about the account: the applicant is looked up only
 * after a right code, so every refusal is decided, and costs, the same for
 * a phone that has signed in before and one never seen.  What SPENT_CODE
 * adds, that the newest code sent to this phone in the last 5 minutes had
 * 5 wrong tries, holds for any phone anyone asked a code for, so it is no
 * account oracle (issue 17; tests/e2e/test_signin_oracle.py).
 */
#define WRONG_CODE "the code is wrong, expired or already used"
#define SPENT_CODE "this code has had 5 wrong tries; request a new code"

/*
 * The one answer to every refused staff sign-in: an unknown username, a
 * disabled account, a locked account and a wrong password all get this
 * 401, word for word (issue 17: the lockout once said "locked until ..."
 * for existing accounts only, which told anyone which usernames exist).
 * It says how to get help without saying which case it is, so a person
 * who locked themselves out knows what to do.  English, as every problem
 * detail; %d: STAFF_MAX_FAILURES, STAFF_LOCK_MINUTES.
 */
#define STAFF_REFUSED "wrong username or password; after %d wrong " \
	"passwords in a row an account is locked for %d minutes; if you " \
	"cannot sign in, ask a certhall administrator to unlock your account"

/* ---- schemas ------------------------------------------------------------
 * Lengths are only a sanity cap where a checker (certhall/validate.h) holds
 * the exact rule, so the problem detail states the rule, not a length. */

struct sms_code_input {
	const char *phone;
};

static const ch_field_t sms_code_fields[] = {
	{ .name = "phone", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64, .check = ch_check_phone,
	  .offset = offsetof(struct sms_code_input, phone) },
};

const ch_schema_t api_sms_code_schema =
    CH_SCHEMA(sms_code_fields, struct sms_code_input);

struct session_input {
	const char *phone;
	const char *code;
};

static const ch_field_t session_fields[] = {
	{ .name = "phone", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64, .check = ch_check_phone,
	  .offset = offsetof(struct session_input, phone) },
	{ .name = "code", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64, .check = ch_check_sms_code,
	  .offset = offsetof(struct session_input, code) },
};

const ch_schema_t api_session_schema =
    CH_SCHEMA(session_fields, struct session_input);

struct staff_session_input {
	const char *username;
	const char *password;
};

static const ch_field_t staff_session_fields[] = {
	/* No format rule and no minimum beyond 1: a username that could not
	 * exist, like a short password, is simply wrong (the one 401).  The
	 * password cap bounds what scrypt is given. */
	{ .name = "username", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64,
	  .offset = offsetof(struct staff_session_input, username) },
	{ .name = "password", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 128,
	  .offset = offsetof(struct staff_session_input, password) },
};

const ch_schema_t api_staff_session_schema =
    CH_SCHEMA(staff_session_fields, struct staff_session_input);

/* ---- statements --------------------------------------------------------- */

/* The hash needs the id, so the row goes in with an empty placeholder and
 * gets its hash in the same transaction: nobody ever sees the placeholder,
 * and an empty hash could never equal a 32-byte HMAC anyway. */
static const ch_stmt_t stmt_code_new = {
	.name = "auth_sms_code_new",
	.sql = "INSERT INTO sms_code (phone, purpose, code_hash, expires_at,"
	       "  client_addr)"
	       " VALUES ($1, 'sign_in', ''::bytea,"
	       "  now() + make_interval(secs => $2::int), $3)"
	       " RETURNING id",
	.nparams = 3,
};

static const ch_stmt_t stmt_code_hash = {
	.name = "auth_sms_code_hash",
	.sql = "UPDATE sms_code SET code_hash = $2::bytea WHERE id = $1",
	.nparams = 2,
};

/*
 * The newest code sent to the phone that is still within its 5 minutes,
 * used or not: a newer code supersedes the older ones, and a used one is
 * refused rather than letting an older code stand in for it.  FOR UPDATE:
 * concurrent tries on one code are counted one after the other.
 */
static const ch_stmt_t stmt_code_get = {
	.name = "auth_sms_code_get",
	.sql = "SELECT id, encode(code_hash, 'hex'), attempts,"
	       "       consumed_at IS NOT NULL"
	       "  FROM sms_code"
	       " WHERE phone = $1 AND purpose = 'sign_in' AND expires_at > now()"
	       " ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
	.nparams = 1,
};

/* Every try counts, the right one too; $2 says whether it was right. */
static const ch_stmt_t stmt_code_try = {
	.name = "auth_sms_code_try",
	.sql = "UPDATE sms_code SET attempts = attempts + 1,"
	       "  consumed_at = CASE WHEN $2::boolean THEN now() END"
	       " WHERE id = $1 RETURNING attempts",
	.nparams = 2,
};

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
 * failure, and the STAFF_MAX_FAILURES-th locks the account.  A lock that
 * has run out starts the count again at this failure.  An unknown user
 * ($1 0), a disabled or a locked account ($4 false) match no row: their
 * password was not tried, so there is nothing to count, and a lock is not
 * prolonged by tries made while it holds.  $2 max failures, $3 lock
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

/* ---- helpers ------------------------------------------------------------ */

/* A 401 for a refused sign-in.  The challenge is what RFC 9110 §15.5.2
 * asks of every 401; the problem says what went wrong. */
static void
refuse(ch_req_t *req, const char *detail)
{
	ch_problem(req, CH_P_UNAUTHORIZED, "%s", detail);
	ch_resp_header(req, "WWW-Authenticate", "Bearer realm=\"certhall\"");
}

/*
 * Opens the session, builds the answer (token, expiry and Me) and commits.
 * 0 with a 201 response, or -1 (database error; the transaction is left to
 * be rolled back).
 */
static int
session_answer(ch_req_t *req, ch_actor_t kind, long long id)
{
	ch_session_new_t s;
	ch_principal_t p;
	json_t *me, *body;
	char at[32];
	int rc = -1;

	if (ch_session_create(req, kind, id, &s) != 0)
		goto out;
	memset(&p, 0, sizeof p);
	p.kind = kind;
	p.id = id;
	p.session_id = s.id;
	p.applicant_id = kind == CH_ACTOR_APPLICANT ? id : 0;
	if ((me = api_me_json(req, &p)) == NULL)
		goto out;
	ch_time_shanghai(s.expires_at, at);
	body = json_pack("{s:s, s:s, s:s, s:i, s:o}", "token", s.token,
	    "token_type", "Bearer", "expires_at", at,
	    "idle_timeout_seconds", s.idle_seconds, "me", me);
	if (body == NULL)
		ch_oom();
	ch_pool_json(req->ctx.pool, body);
	if (ch_db_commit(req->ctx.db) != 0)
		goto out;
	ch_resp_json(req, 201, json_incref(body));
	rc = 0;
out:
	memset(&s, 0, sizeof s);
	return rc;
}

/* ---- POST /api/v1/auth/sms-codes ---------------------------------------- */

/*
 * Counts this request against the limits of docs/CONTRACT.md, always in
 * this order: per phone 1 a minute and 5 an hour, per client address 20
 * an hour.  As ch_rate_check(): 0, 1 with a 429 set, or -1.
 */
static int
sms_rate_limit(ch_req_t *req, const char *phone)
{
	const char *addr = req->ctx.remote_addr != NULL ? req->ctx.remote_addr : "-";
	const char *by_phone = ch_psprintf(req->ctx.pool, "sms:phone:%s", phone);
	const ch_rate_limit_t limits[] = {
		{ by_phone, SMS_RESEND_SECONDS, 1,
		  "a code was sent to this phone less than a minute ago" },
		{ by_phone, 3600, SMS_PHONE_PER_HOUR,
		  "this phone has had its 5 codes for this hour" },
		{ ch_psprintf(req->ctx.pool, "sms:addr:%s", addr), 3600,
		  SMS_ADDR_PER_HOUR, "too many codes have been requested from "
		  "this address in this hour" },
	};

	return ch_rate_check(req, limits, sizeof limits / sizeof limits[0]);
}

int
api_sms_code_create(ch_req_t *req)
{
	const struct sms_code_input *in = req->input;
	char code[8], masked[32], hash[CH_SMS_CODE_HASH_LITERAL];
	const char *params[3], *id;
	PGresult *res;
	long long outbox_id;
	int rc = -1;

	ch_mask_phone(in->phone, masked);
	if (ch_db_begin(req->ctx.db) != 0)
		goto out;
	switch (sms_rate_limit(req, in->phone)) {
	case 0:
		break;
	case 1:
		/* Un-count the refused request (certhall/ratelimit.h). */
		if (ch_db_rollback(req->ctx.db) == 0)
			rc = 0;
		goto out;
	default:
		goto out;
	}

	ch_sms_code_new(code);
	params[0] = in->phone;
	params[1] = ch_psprintf(req->ctx.pool, "%d", CH_SMS_CODE_SECONDS);
	params[2] = req->ctx.remote_addr != NULL ? req->ctx.remote_addr : "-";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_new, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	id = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));

	ch_sms_code_hash(CH_KEY_SMS_CODE, ch_psprintf(req->ctx.pool, "%s:%s", id,
	    in->phone), code, hash);
	params[0] = id;
	params[1] = hash;
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_hash, params) == NULL)
		goto out;

	if (ch_outbox_sms(req->ctx.db, req->ctx.pool, in->phone, "login_code",
	    ch_psprintf(req->ctx.pool, "{\"code\":\"%s\"}", code),
	    ch_psprintf(req->ctx.pool, "【四川CA】您的登录验证码为%s，"
	    "5分钟内有效，请勿泄露给他人。如非本人操作，请忽略本短信。", code),
	    &outbox_id) != 0)
		goto out;

	if (ch_audit(&req->ctx, "auth.sms_code_sent", "sms_code", id,
	    json_pack("{s:s, s:s}", "phone", masked, "outbox_id",
	    ch_psprintf(req->ctx.pool, "%lld", outbox_id))) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		goto out;
	/* The same answer whether or not the phone has signed in before. */
	ch_resp_json(req, 202, json_pack("{s:s, s:i, s:i}", "phone", masked,
	    "expires_in", CH_SMS_CODE_SECONDS, "resend_after",
	    SMS_RESEND_SECONDS));
	rc = 0;
out:
	memset(code, 0, sizeof code);
	return rc;
}

/* ---- POST /api/v1/auth/sessions ----------------------------------------- */

/* Records a refused applicant sign-in, commits and answers 401.  code_id
 * is NULL when no code was in play. */
static int
sign_in_refused(ch_req_t *req, const char *masked, const char *code_id,
    const char *reason, const char *detail)
{
	if (ch_audit(&req->ctx, "auth.sign_in_failed", code_id ? "sms_code" : NULL,
	    code_id, json_pack("{s:s, s:s}", "phone", masked, "reason",
	    reason)) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	refuse(req, detail);
	return 0;
}

int
api_session_create(ch_req_t *req)
{
	const struct session_input *in = req->input;
	char masked[32];
	const char *params[2], *code_id;
	PGresult *res;
	long long applicant_id;
	bool first;
	ch_sms_code_verdict_t verdict;

	ch_mask_phone(in->phone, masked);
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	params[0] = in->phone;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return sign_in_refused(req, masked, NULL, "no valid code",
		    WRONG_CODE);
	code_id = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	/* Only codes within their 5 minutes are selected. */
	verdict = ch_sms_code_judge(CH_KEY_SMS_CODE, ch_psprintf(req->ctx.pool,
	    "%s:%s", code_id, in->phone), in->code, PQgetvalue(res, 0, 1),
	    atoi(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 3)[0] == 't', false);
	if (verdict == CH_SMS_CODE_USED)
		return sign_in_refused(req, masked, code_id, "code already used",
		    WRONG_CODE);
	if (verdict == CH_SMS_CODE_SPENT)
		return sign_in_refused(req, masked, code_id, "too many tries",
		    SPENT_CODE);

	params[0] = code_id;
	params[1] = verdict == CH_SMS_CODE_RIGHT ? "true" : "false";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_try, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (verdict != CH_SMS_CODE_RIGHT)
		return sign_in_refused(req, masked, code_id, "wrong code",
		    WRONG_CODE);

	if (ch_applicant_for_phone(req->ctx.db, req->ctx.pool, in->phone, &applicant_id,
	    &first) != 0)
		return -1;
	if (ch_audit_as(&req->ctx, CH_ACTOR_APPLICANT, applicant_id, "auth.sign_in",
	    "applicant", ch_psprintf(req->ctx.pool, "%lld", applicant_id),
	    json_pack("{s:s, s:b}", "phone", masked, "first_sign_in", first))
	    != 0)
		return -1;
	return session_answer(req, CH_ACTOR_APPLICANT, applicant_id);
}

/* ---- POST /api/v1/auth/staff-sessions ----------------------------------- */

/* Why a staff sign-in is refused: for the audit log only, never for the
 * answer. */
enum staff_refusal {
	STAFF_OK,
	STAFF_UNKNOWN,
	STAFF_DISABLED,
	STAFF_LOCKED,
	STAFF_WRONG_PASSWORD,
	STAFF__MAX
};

static const char *const staff_refusal_reasons[STAFF__MAX] = {
	[STAFF_OK] = "",
	[STAFF_UNKNOWN] = "unknown user",
	[STAFF_DISABLED] = "disabled",
	[STAFF_LOCKED] = "locked",
	[STAFF_WRONG_PASSWORD] = "wrong password",
};

/*
 * Records a refused staff sign-in (staff_id 0: no such user) and its
 * failure (stmt_staff_failed, counted only for a wrong password), commits
 * and answers the one STAFF_REFUSED 401.  0, or -1 (database error).
 */
static int
staff_refused(ch_req_t *req, long long staff_id, const char *username,
    enum staff_refusal why)
{
	const char *params[4], *id = ch_psprintf(req->ctx.pool, "%lld", staff_id);
	const char *check;
	char until[32];
	PGresult *res;
	json_int_t failures = 0;
	json_t *d;

	params[0] = id;
	params[1] = ch_psprintf(req->ctx.pool, "%d", STAFF_MAX_FAILURES);
	params[2] = ch_psprintf(req->ctx.pool, "%d", STAFF_LOCK_MINUTES * 60);
	params[3] = why == STAFF_WRONG_PASSWORD ? "true" : "false";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_staff_failed, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		failures = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (PQgetvalue(res, 0, 1)[0] == 't') {
			ch_time_shanghai(strtoll(PQgetvalue(res, 0, 2), NULL,
			    10), until);
			if (ch_audit_as(&req->ctx, CH_ACTOR_STAFF, staff_id,
			    "auth.staff_locked", "staff", id,
			    json_pack("{s:s, s:I, s:s}", "username", username,
			    "failed_logins", failures, "locked_until", until))
			    != 0)
				return -1;
			ch_warn("staff account \"%s\" locked after %d wrong "
			    "passwords", username, STAFF_MAX_FAILURES);
		}
	}

	/* What was typed as an unknown username may be anything, a password
	 * typed in the wrong box included: the log keeps only what could
	 * have been a username. */
	if (staff_id <= 0 && ch_check_username(username, &check) != 0)
		username = "(not a valid username)";
	d = json_pack("{s:s, s:s}", "username", username, "reason",
	    staff_refusal_reasons[why]);
	if (failures > 0)
		json_object_set_new(d, "failed_logins", json_integer(failures));
	if (ch_audit_as(&req->ctx, staff_id > 0 ? CH_ACTOR_STAFF : CH_ACTOR_ANONYMOUS,
	    staff_id, "auth.staff_sign_in_failed", staff_id > 0 ? "staff" : NULL,
	    staff_id > 0 ? id : NULL, d) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	refuse(req, ch_psprintf(req->ctx.pool, STAFF_REFUSED, STAFF_MAX_FAILURES,
	    STAFF_LOCK_MINUTES));
	return 0;
}

/*
 * Every way through costs the same, whatever the account: one row lookup,
 * one scrypt, one stmt_staff_failed (refusals), the audit event and the
 * commit.  Only an enabled, unlocked account's own hash is ever tried, so
 * a lock stops guessing; the others are verified against
 * ch_auth_dummy_password_hash and refused whatever the outcome.
 */
int
api_staff_session_create(ch_req_t *req)
{
	const struct staff_session_input *in = req->input;
	const char *params[1], *id;
	PGresult *res;
	long long staff_id = 0;
	enum staff_refusal why = STAFF_UNKNOWN;
	bool right;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	params[0] = in->username;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_staff_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		staff_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (PQgetvalue(res, 0, 2)[0] == 't')
			why = STAFF_DISABLED;
		else if (PQgetvalue(res, 0, 3)[0] == 't')
			why = STAFF_LOCKED;
		else
			why = STAFF_OK;
	}
	right = ch_password_verify(in->password, why == STAFF_OK ?
	    PQgetvalue(res, 0, 1) : ch_auth_dummy_password_hash);
	if (why == STAFF_OK && !right)
		why = STAFF_WRONG_PASSWORD;
	if (why != STAFF_OK)
		return staff_refused(req, staff_id, in->username, why);

	id = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	params[0] = id;
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_staff_ok, params) == NULL ||
	    ch_audit_as(&req->ctx, CH_ACTOR_STAFF, staff_id, "auth.staff_sign_in",
	    "staff", id, json_pack("{s:s}", "username", in->username)) != 0)
		return -1;
	return session_answer(req, CH_ACTOR_STAFF, staff_id);
}

/* ---- DELETE /api/v1/auth/sessions/current ------------------------------- */

int
api_session_delete(ch_req_t *req)
{
	/* The route admits bearer sessions only (applicants, staff). */
	const char *sid = ch_psprintf(req->ctx.pool, "%lld",
	    req->ctx.principal.session_id);

	if (ch_db_begin(req->ctx.db) != 0 ||
	    ch_session_revoke(req, req->ctx.principal.session_id) != 0 ||
	    ch_audit(&req->ctx, "auth.sign_out", "session", sid, NULL) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_raw(req, 204, NULL, NULL, 0);
	return 0;
}
