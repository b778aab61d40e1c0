/*
 * Sign-in and sign-out (docs/CONTRACT.md, "Identity and access"):
 *
 *   POST   /api/v1/auth/sms-codes        send an applicant a sign-in code
 *   POST   /api/v1/auth/sessions         phone + code -> applicant session
 *   POST   /api/v1/auth/staff-sessions   username + password -> staff session
 *   DELETE /api/v1/auth/sessions/current sign out
 *
 * Each request is one transaction.  Who may sign in, and what a refusal
 * must remember (a code's spent try, a staff member's failure count and
 * lockout, the audit event), is decided by certhall/domain/signin.h; this
 * file commits it before answering 401, and opens the session
 * (certhall/web/auth.h).  Codes, passwords and tokens never reach a log
 * line or an audit detail; phones appear masked.
 *
 * No answer says whether an account exists (issue 17): each route refuses
 * with one status, header set and text, whatever the account (unknown,
 * disabled, locked, wrong password; a phone seen before or never), and
 * each refusal does the same work (scrypt for staff, see
 * certhall/domain/signin.h).  The audit event keeps the real reason, for
 * admins.  What stays visible is the
 * per-phone limit of sms-codes: its 429 shows that somebody asked a code
 * for this phone within the minute or the hour, which anybody can do for
 * any phone, so it too says nothing about an account.
 */
#include "api.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/base/validate.h"
#include "certhall/domain/people.h"
#include "certhall/domain/signin.h"
#include "certhall/domain/smscode.h"
#include "certhall/web/auth.h"
#include "certhall/web/ratelimit.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#define SMS_RESEND_SECONDS 60		/* per phone: 1 code a minute ... */
#define SMS_PHONE_PER_HOUR 5		/* ... and 5 an hour */
#define SMS_ADDR_PER_HOUR 20		/* per client address */

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
 * detail; %d: CH_STAFF_MAX_FAILURES, CH_STAFF_LOCK_MINUTES.
 */
#define STAFF_REFUSED "wrong username or password; after %d wrong " \
	"passwords in a row an account is locked for %d minutes; if you " \
	"cannot sign in, ask a certhall administrator to unlock your account"

/* ---- schemas ------------------------------------------------------------
 * Lengths are only a sanity cap where a checker (certhall/base/validate.h) holds
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

/* ---- helpers ------------------------------------------------------------ */

/* Commits what a refused sign-in must remember (certhall/domain/signin.h)
 * and answers 401.  The challenge is what RFC 9110 §15.5.2 asks of every
 * 401; the problem says what went wrong.  0, or -1 (the commit failed). */
static int
refuse(ch_req_t *req, const char *detail)
{
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_problem(req, CH_P_UNAUTHORIZED, "%s", detail);
	ch_resp_header(req, "WWW-Authenticate", "Bearer realm=\"certhall\"");
	return 0;
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
	if ((me = ch_people_me(&req->ctx, &p)) == NULL)
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
	char masked[32];

	ch_mask_phone(in->phone, masked);
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (sms_rate_limit(req, in->phone)) {
	case 0:
		break;
	case 1:
		/* Un-count the refused request (certhall/web/ratelimit.h). */
		return ch_db_rollback(req->ctx.db) == 0 ? 0 : -1;
	default:
		return -1;
	}
	if (ch_sms_code_sign_in_send(&req->ctx, in->phone) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	/* The same answer whether or not the phone has signed in before. */
	ch_resp_json(req, 202, json_pack("{s:s, s:i, s:i}", "phone", masked,
	    "expires_in", CH_SMS_CODE_SECONDS, "resend_after",
	    SMS_RESEND_SECONDS));
	return 0;
}

/* ---- POST /api/v1/auth/sessions ----------------------------------------- */

int
api_session_create(ch_req_t *req)
{
	const struct session_input *in = req->input;
	long long applicant_id;
	ch_signin_result_t r;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	r = ch_signin_applicant(&req->ctx, in->phone, in->code, &applicant_id);
	switch (r) {
	case CH_SIGNIN_OK:
		return session_answer(req, CH_ACTOR_APPLICANT, applicant_id);
	case CH_SIGNIN_ERROR:
		return -1;
	default:
		return refuse(req, r == CH_SIGNIN_CODE_SPENT ? SPENT_CODE
		    : WRONG_CODE);
	}
}

/* ---- POST /api/v1/auth/staff-sessions ----------------------------------- */

int
api_staff_session_create(ch_req_t *req)
{
	const struct staff_session_input *in = req->input;
	long long staff_id;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_signin_staff(&req->ctx, in->username, in->password,
	    &staff_id)) {
	case CH_SIGNIN_OK:
		return session_answer(req, CH_ACTOR_STAFF, staff_id);
	case CH_SIGNIN_ERROR:
		return -1;
	default:
		return refuse(req, ch_psprintf(req->ctx.pool, STAFF_REFUSED,
		    CH_STAFF_MAX_FAILURES, CH_STAFF_LOCK_MINUTES));
	}
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
