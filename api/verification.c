/*
 * Verify, the free half of step 4 (SPEC §6; docs/CONTRACT.md "Pay or
 * verify"), and proof of possession of the current certificate's key:
 *
 *   POST /api/v1/applications/{id}/verification/sms-code   a code to the
 *        phone registered for the certificate
 *   POST /api/v1/applications/{id}/verification            the code back:
 *        verified (change, revoke, unlock)
 *   POST /api/v1/applications/{id}/possession-challenges   a nonce to sign
 *        with the USB key (renew, change)
 *   POST /api/v1/applications/{id}/possession              its signature:
 *        possession proven
 *
 * Who: the application's owner, or a counter clerk for a counter-channel
 * application (certhall/application.h CH_APP_CHANGE); everyone else gets
 * the 404 of an application that does not exist.  The row stays locked
 * for the request, so the steps of one application are decided one after
 * the other.
 *
 * Decisions:
 *   - The code goes to certificate.registered_phone, the phone the CA has
 *     on file for the certificate, never to the caller's or the
 *     application's handler_phone: whoever filled in the application must
 *     not be able to verify it with a phone of their choosing.  No phone on
 *     file: 409 (nothing to send it to).
 *   - Codes follow the sign-in rules (certhall/smscode.h): 6 digits, 5
 *     minutes, 5 tries, one use, stored as an HMAC bound to the row, the
 *     application and the phone.  The newest code of an application is the
 *     one judged, so its refusal can say precisely why (wrong, expired,
 *     used, spent): the caller already holds the application, there is no
 *     one to hide that from.  Refused tries are audited
 *     (application.verification_failed) and committed before the 422.
 *   - Sending is limited per application (1 a minute, 5 an hour) and per
 *     registered phone (10 a day: one phone may stand for several
 *     certificates); the 429 rolls back, so only codes sent count.
 *   - A challenge fixes the algorithm the certificate's key signs with
 *     (certhall/possession.h) and refuses at once (409) a certificate that
 *     cannot prove anything (none on file, a weak or foreign key), rather
 *     than after the USB key has signed.  to_sign binds the application
 *     and a 256-bit nonce; a challenge lives 5 minutes and is consumed by
 *     its first attempt, right or wrong, so each nonce meets at most one
 *     signature.  Challenges are limited to 20 an hour per application.
 *   - A malformed body (a code that is not 6 digits, a signature that is
 *     not base64) is refused by the schema before anything is looked up:
 *     it spends no try and consumes no challenge.
 *   - Each fact is recorded with ch_settle_record() in the transaction
 *     that earns it; when nothing more is owed the same transaction moves
 *     the application to issuing and queues its signing job.
 *
 * Codes, signatures and keys never reach the log or an audit detail;
 * phones appear masked.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/store/outbox.h"
#include "certhall/domain/possession.h"
#include "certhall/web/ratelimit.h"
#include "certhall/domain/settle.h"
#include "certhall/domain/smscode.h"
#include "certhall/base/validate.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_RESEND_SECONDS 60		/* per application: 1 code a minute ... */
#define CODE_APP_PER_HOUR 5		/* ... and 5 an hour */
#define CODE_PHONE_PER_DAY 10		/* per registered phone */
#define CHALLENGE_SECONDS 300		/* a challenge's validity */
#define CHALLENGES_PER_HOUR 20		/* per application */
#define NONCE_BYTES 32
#define NONCE_CHARS 43			/* base64url of 32 bytes, no padding */
/* The longest signature taken: RSA-16384 (OpenSSL's largest modulus) is
 * 2048 bytes, 2732 base64 characters. */
#define SIGNATURE_MAX_BYTES 2048
#define SIGNATURE_MAX_CHARS 2732

#define TO_SIGN_PREFIX "certhall-possession:v1:"

#define TEXT_CODE "【四川CA】您正在办理数字证书%s业务（申请编号%s），" \
	"验证码为%s，5分钟内有效，请勿泄露给他人。如非本人操作，请忽略本短信。"

/* ---- schemas ------------------------------------------------------------ */

/* sms-code and possession-challenges take an empty object. */
const ch_schema_t api_verification_empty_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

struct verify_input {
	const char *code;
};

static const ch_field_t verify_fields[] = {
	{ .name = "code", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64, .check = ch_check_sms_code,
	  .offset = offsetof(struct verify_input, code) },
};

const ch_schema_t api_verification_schema =
    CH_SCHEMA(verify_fields, struct verify_input);

struct possession_input {
	ch_int_t challenge_id;
	const char *signature;
};

static const ch_field_t possession_fields[] = {
	{ .name = "challenge_id", .type = CH_F_INT, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 999999999999999999LL,
	  .offset = offsetof(struct possession_input, challenge_id) },
	{ .name = "signature", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 4, .max = SIGNATURE_MAX_CHARS, .check = ch_check_base64,
	  .offset = offsetof(struct possession_input, signature) },
};

const ch_schema_t api_possession_schema =
    CH_SCHEMA(possession_fields, struct possession_input);

/* ---- statements --------------------------------------------------------- */

/* What the four operations decide on besides the loaded application.
 * Columns: 0 verified, 1 possession proven, 2 registered phone, 3 the
 * certificate (hex DER), 4 the business's name. */
static const ch_stmt_t stmt_facts = {
	.name = "verify_facts",
	.sql = "SELECT a.verified_at IS NOT NULL,"
	       " a.possession_proven_at IS NOT NULL,"
	       " c.registered_phone, encode(c.der, 'hex'), b.name"
	       " FROM application a"
	       " JOIN business_type b ON b.code = a.business_type"
	       " LEFT JOIN certificate c ON c.id = a.certificate_id"
	       " WHERE a.id = $1",
	.nparams = 1,
};

/* As for sign-in codes, the row goes in with an empty hash and gets its
 * own in the same transaction (the hash is bound to the id). */
static const ch_stmt_t stmt_code_new = {
	.name = "verify_code_new",
	.sql = "INSERT INTO verification_code (application_id, phone,"
	       "  code_hash, expires_at, client_addr)"
	       " VALUES ($1, $2, ''::bytea,"
	       "  now() + make_interval(secs => $3::int), $4)"
	       " RETURNING id, " CH_SQL_TIME("expires_at"),
	.nparams = 4,
};

static const ch_stmt_t stmt_code_hash = {
	.name = "verify_code_hash",
	.sql = "UPDATE verification_code SET code_hash = $2::bytea"
	       " WHERE id = $1",
	.nparams = 2,
};

/* The application's newest code, whatever its state.  Columns: 0 id,
 * 1 hash (hex), 2 attempts, 3 used, 4 expired, 5 phone. */
static const ch_stmt_t stmt_code_get = {
	.name = "verify_code_get",
	.sql = "SELECT id, encode(code_hash, 'hex'), attempts,"
	       "  consumed_at IS NOT NULL, expires_at <= now(), phone"
	       " FROM verification_code WHERE application_id = $1"
	       " ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_code_try = {
	.name = "verify_code_try",
	.sql = "UPDATE verification_code SET attempts = attempts + 1,"
	       "  consumed_at = CASE WHEN $2::boolean THEN now() END"
	       " WHERE id = $1 RETURNING attempts",
	.nparams = 2,
};

static const ch_stmt_t stmt_challenge_new = {
	.name = "possession_challenge_new",
	.sql = "INSERT INTO possession_challenge (application_id, nonce,"
	       "  algorithm, expires_at, client_addr)"
	       " VALUES ($1, $2, $3, now() + make_interval(secs => $4::int), $5)"
	       " RETURNING id, " CH_SQL_TIME("expires_at"),
	.nparams = 5,
};

/* Columns: 0 nonce, 1 algorithm, 2 used, 3 expired. */
static const ch_stmt_t stmt_challenge_get = {
	.name = "possession_challenge_get",
	.sql = "SELECT nonce, algorithm, consumed_at IS NOT NULL,"
	       "  expires_at <= now()"
	       " FROM possession_challenge"
	       " WHERE id = $1 AND application_id = $2 FOR UPDATE",
	.nparams = 2,
};

static const ch_stmt_t stmt_challenge_spend = {
	.name = "possession_challenge_spend",
	.sql = "UPDATE possession_challenge SET consumed_at = now(),"
	       "  outcome = $2 WHERE id = $1 AND consumed_at IS NULL",
	.nparams = 2,
};

/* ---- the application and what it owes ----------------------------------- */

/* The outcome of a step: go on, answered (a problem is set and the
 * transaction ended), or failed (the handler returns -1). */
enum step { STEP_OK, STEP_ANSWERED, STEP_ERROR };

struct subject {
	long long id;
	char idbuf[24];
	ch_app_t app;
	bool verified, proven;
	const char *phone;		/* registered for the certificate, or NULL */
	unsigned char *der;		/* the certificate, or NULL */
	size_t der_len;
	const char *business_name;	/* 变更, 吊销, ... */
};

/* Rolls back and leaves the problem already set as the answer. */
static enum step
answered(ch_req_t *req)
{
	return ch_db_rollback(req->ctx.db) == 0 ? STEP_ANSWERED : STEP_ERROR;
}

/* A 409 naming the state the application is in. */
static enum step
conflict(ch_req_t *req, const struct subject *s, const char *detail)
{
	ch_db_rollback(req->ctx.db);
	json_object_set_new(ch_problem(req, CH_P_CONFLICT, "%s", detail),
	    "status_now", json_string(ch_app_status_name(s->app.status)));
	return STEP_ANSWERED;
}

/* Whether the application is in one of the awaiting states. */
static bool
awaiting(const struct subject *s, bool payment, bool verification)
{
	return (payment && s->app.status == CH_ST_AWAITING_PAYMENT) ||
	    (verification && s->app.status == CH_ST_AWAITING_VERIFICATION);
}

/* Verification by SMS code is for free business awaiting it, once. */
static enum step
may_verify(ch_req_t *req, const struct subject *s)
{
	if (!(ch_settle_needs(s->app.business) & CH_SETTLE_VERIFIED) ||
	    !awaiting(s, false, true))
		return conflict(req, s, "only an application awaiting "
		    "verification (change, revoke, unlock, once approved) is "
		    "verified by SMS code");
	if (s->verified)
		return conflict(req, s, "the application is already verified");
	return STEP_OK;
}

/* Possession is for renew awaiting payment and change awaiting
 * verification, once, with a certificate on file that can prove it. */
static enum step
may_prove(ch_req_t *req, const struct subject *s, ch_poss_alg_t *alg)
{
	const char *why = NULL;

	if (!(ch_settle_needs(s->app.business) & CH_SETTLE_POSSESSION) ||
	    !awaiting(s, true, true))
		return conflict(req, s, "possession is proven only for an "
		    "approved renew (awaiting payment) or change (awaiting "
		    "verification)");
	if (s->proven)
		return conflict(req, s, "possession is already proven for "
		    "this application");
	if (s->der == NULL)
		return conflict(req, s, "no certificate is on file for the "
		    "certificate this application is about, so possession "
		    "cannot be proven with it");
	if (ch_poss_algorithm(s->der, s->der_len, alg, &why) != 0) {
		ch_warn("application %s: the certificate on file %s", s->idbuf,
		    why);
		return conflict(req, s, ch_psprintf(req->ctx.pool, "the certificate "
		    "on file %s, so possession cannot be proven with it", why));
	}
	return STEP_OK;
}

/* What a request is about: the SMS code, or possession. */
enum purpose { FOR_CODE, FOR_POSSESSION };

/* A step's outcome as a handler's return value (certhall/router.h). */
static int
handler_result(enum step st)
{
	return st == STEP_ANSWERED ? 0 : -1;
}

/*
 * Opens the request's transaction, loads the application of the path for
 * a change (locked) and what it owes, and checks that it may be verified
 * (FOR_CODE) or prove possession (FOR_POSSESSION, with *alg the key's
 * algorithm).  STEP_OK with *s filled; otherwise the transaction is over
 * (404 or 409 answered, or an error).
 */
static enum step
open_subject(ch_req_t *req, struct subject *s, enum purpose purpose,
    ch_poss_alg_t *alg)
{
	const char *params[1];
	PGresult *res;

	memset(s, 0, sizeof *s);
	if (api_app_path_id(req, &s->id) != 0)
		return STEP_ANSWERED;
	snprintf(s->idbuf, sizeof s->idbuf, "%lld", s->id);
	switch (api_app_begin_load(req, s->id, CH_APP_CHANGE, &s->app)) {
	case 1:
		break;
	case 0:
		return STEP_ANSWERED;
	default:
		return STEP_ERROR;
	}
	params[0] = s->idbuf;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_facts, params);
	if (res == NULL || PQntuples(res) != 1)
		return STEP_ERROR;
	s->verified = *PQgetvalue(res, 0, 0) == 't';
	s->proven = *PQgetvalue(res, 0, 1) == 't';
	if (!PQgetisnull(res, 0, 2))
		s->phone = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3)) {
		s->der_len = (size_t)PQgetlength(res, 0, 3) / 2;
		s->der = ch_palloc(req->ctx.pool, s->der_len + 1);
		if (ch_unhex(PQgetvalue(res, 0, 3), s->der, s->der_len) != 0)
			return STEP_ERROR;
	}
	s->business_name = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 4));
	return purpose == FOR_CODE ? may_verify(req, s) : may_prove(req, s, alg);
}

/* Counts the request against limits (certhall/ratelimit.h); a refusal
 * rolls back, so only work done counts. */
static enum step
limited(ch_req_t *req, const ch_rate_limit_t *limits, size_t n)
{
	switch (ch_rate_check(req, limits, n)) {
	case 0:
		return STEP_OK;
	case 1:
		return answered(req);
	default:
		return STEP_ERROR;
	}
}

/* A fact recorded and the answer: the application as it now is. */
static int
settled(ch_req_t *req, const struct subject *s, ch_settle_fact_t fact)
{
	if (ch_settle_record(&req->ctx, s->id, fact) == CH_SETTLE_ERROR ||
	    api_app_respond(req, 200, s->id) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	return 0;
}

/* ---- POST /api/v1/applications/{id}/verification/sms-code --------------- */

/* Counted in this order always (certhall/ratelimit.h). */
static enum step
code_rate_limit(ch_req_t *req, const struct subject *s)
{
	const char *app = ch_psprintf(req->ctx.pool, "verify:app:%s", s->idbuf);
	const ch_rate_limit_t limits[] = {
		{ app, CODE_RESEND_SECONDS, 1,
		  "a code was sent for this application less than a minute "
		  "ago" },
		{ app, 3600, CODE_APP_PER_HOUR,
		  "this application has had its 5 codes for this hour" },
		{ ch_psprintf(req->ctx.pool, "verify:phone:%s", s->phone), 86400,
		  CODE_PHONE_PER_DAY,
		  "the registered phone has had its 10 codes for today" },
	};

	return limited(req, limits, sizeof limits / sizeof limits[0]);
}

int
api_verification_code_create(ch_req_t *req)
{
	char code[8], masked[32], hash[CH_SMS_CODE_HASH_LITERAL];
	const char *params[4], *code_id, *expires;
	struct subject s;
	enum step st;
	long long outbox_id;
	PGresult *res;
	int rc = -1;

	if ((st = open_subject(req, &s, FOR_CODE, NULL)) != STEP_OK)
		return handler_result(st);
	if (s.phone == NULL) {
		conflict(req, &s, "no phone is registered for the certificate "
		    "this application is about, so no code can be sent; the CA "
		    "must register one first");
		return 0;
	}
	if ((st = code_rate_limit(req, &s)) != STEP_OK)
		return handler_result(st);

	ch_mask_phone(s.phone, masked);
	ch_sms_code_new(code);
	params[0] = s.idbuf;
	params[1] = s.phone;
	params[2] = ch_psprintf(req->ctx.pool, "%d", CH_SMS_CODE_SECONDS);
	params[3] = req->ctx.remote_addr != NULL ? req->ctx.remote_addr : "-";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_new, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	code_id = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	expires = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 1));
	ch_sms_code_hash(CH_KEY_VERIFY_CODE, ch_psprintf(req->ctx.pool,
	    "%s:%s:%s", code_id, s.idbuf, s.phone), code, hash);
	params[0] = code_id;
	params[1] = hash;
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_hash, params) == NULL)
		goto out;

	if (ch_outbox_sms(req->ctx.db, req->ctx.pool, s.phone, "verify_code",
	    ch_psprintf(req->ctx.pool, "{\"code\":\"%s\",\"id\":\"%s\","
	    "\"business\":\"%s\"}", code, s.idbuf, s.business_name),
	    ch_psprintf(req->ctx.pool, TEXT_CODE, s.business_name, s.idbuf, code),
	    &outbox_id) != 0)
		goto out;
	if (ch_audit(&req->ctx, "verification.code_sent", "application", s.idbuf,
	    json_pack("{s:s, s:s, s:I}", "phone", masked, "code_id", code_id,
	    "outbox_id", (json_int_t)outbox_id)) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		goto out;
	ch_resp_json(req, 202, json_pack("{s:s, s:s}", "sent_to", masked,
	    "expires_at", expires));
	rc = 0;
out:
	OPENSSL_cleanse(code, sizeof code);
	return rc;
}

/* ---- POST /api/v1/applications/{id}/verification ------------------------ */

/* Records a refused code (audit), commits what the try changed and
 * answers 422 naming the code. */
static int
code_refused(ch_req_t *req, const struct subject *s, const char *code_id,
    const char *reason, const char *detail)
{
	json_t *d = json_pack("{s:s}", "reason", reason);

	if (code_id != NULL)
		json_object_set_new(d, "code_id", json_string(code_id));
	if (ch_audit(&req->ctx, "application.verification_failed", "application",
	    s->idbuf, d) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_problem_field(req, CH_P_INVALID_FIELD, "/code", "%s", detail);
	return 0;
}

int
api_verification_create(ch_req_t *req)
{
	const struct verify_input *in = req->input;
	const char *params[2], *code_id;
	ch_sms_code_verdict_t verdict;
	struct subject s;
	enum step st;
	PGresult *res;
	int tries;

	if ((st = open_subject(req, &s, FOR_CODE, NULL)) != STEP_OK)
		return handler_result(st);
	params[0] = s.idbuf;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return code_refused(req, &s, NULL, "no code sent",
		    "no code has been sent for this application; request one "
		    "first");
	code_id = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	tries = atoi(PQgetvalue(res, 0, 2));
	/* Bound to the phone it went to: a code sent before the registered
	 * phone changed no longer matches. */
	verdict = ch_sms_code_judge(CH_KEY_VERIFY_CODE, ch_psprintf(req->ctx.pool,
	    "%s:%s:%s", code_id, s.idbuf, s.phone != NULL ? s.phone : "-"),
	    in->code, PQgetvalue(res, 0, 1), tries,
	    *PQgetvalue(res, 0, 3) == 't', *PQgetvalue(res, 0, 4) == 't');
	switch (verdict) {
	case CH_SMS_CODE_USED:
		return code_refused(req, &s, code_id, "code already used",
		    "this code has been used; request a new one");
	case CH_SMS_CODE_EXPIRED:
		return code_refused(req, &s, code_id, "code expired",
		    "this code has expired (codes last 5 minutes); request a "
		    "new one");
	case CH_SMS_CODE_SPENT:
		return code_refused(req, &s, code_id, "too many tries",
		    "this code has had 5 wrong tries; request a new one");
	case CH_SMS_CODE_RIGHT:
	case CH_SMS_CODE_WRONG:
	default:
		break;
	}

	params[0] = code_id;
	params[1] = verdict == CH_SMS_CODE_RIGHT ? "true" : "false";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_code_try, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (verdict != CH_SMS_CODE_RIGHT) {
		tries = atoi(PQgetvalue(res, 0, 0));
		return code_refused(req, &s, code_id, "wrong code",
		    tries < CH_SMS_CODE_MAX_TRIES
		    ? ch_psprintf(req->ctx.pool, "the code is wrong; %d tries left",
		    CH_SMS_CODE_MAX_TRIES - tries)
		    : "the code is wrong, and that was its last try; request a "
		    "new one");
	}
	if (ch_audit(&req->ctx, "application.verified", "application", s.idbuf,
	    json_pack("{s:s}", "code_id", code_id)) != 0)
		return -1;
	return settled(req, &s, CH_SETTLE_VERIFIED);
}

/* ---- POST /api/v1/applications/{id}/possession-challenges --------------- */

/* The bytes to sign for nonce: "certhall-possession:v1:<id>:<nonce>". */
static const char *
to_sign(ch_req_t *req, const struct subject *s, const char *nonce)
{
	return ch_psprintf(req->ctx.pool, TO_SIGN_PREFIX "%s:%s", s->idbuf, nonce);
}

int
api_possession_challenge_create(ch_req_t *req)
{
	unsigned char raw[NONCE_BYTES];
	char nonce[NONCE_CHARS + 2];
	const char *params[5];
	struct subject s;
	enum step st;
	ch_poss_alg_t alg;
	PGresult *res;
	ch_rate_limit_t limit;

	if ((st = open_subject(req, &s, FOR_POSSESSION, &alg)) != STEP_OK)
		return handler_result(st);
	limit = (ch_rate_limit_t){ ch_psprintf(req->ctx.pool,
	    "possession:app:%s", s.idbuf), 3600, CHALLENGES_PER_HOUR,
	    "this application has had its 20 challenges for this hour" };
	if ((st = limited(req, &limit, 1)) != STEP_OK)
		return handler_result(st);

	ch_random(raw, sizeof raw);
	ch_base64url(raw, sizeof raw, nonce);
	params[0] = s.idbuf;
	params[1] = nonce;
	params[2] = ch_poss_alg_name(alg);
	params[3] = ch_psprintf(req->ctx.pool, "%d", CHALLENGE_SECONDS);
	params[4] = req->ctx.remote_addr != NULL ? req->ctx.remote_addr : "-";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_challenge_new, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json(req, 201, json_pack("{s:I, s:s, s:s, s:s}",
	    "challenge_id", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
	    "to_sign", to_sign(req, &s, nonce), "algorithm",
	    ch_poss_alg_name(alg), "expires_at", PQgetvalue(res, 0, 1)));
	return ch_db_commit(req->ctx.db);
}

/* ---- POST /api/v1/applications/{id}/possession -------------------------- */

/* Records a refused attempt (audit), commits what it changed (the
 * challenge consumed) and answers 422 naming field. */
static int
possession_refused(ch_req_t *req, const struct subject *s,
    const char *challenge_id, const char *algorithm, const char *reason,
    const char *field, const char *detail)
{
	json_t *d = json_pack("{s:s, s:s}", "challenge_id", challenge_id,
	    "reason", reason);

	if (algorithm != NULL)
		json_object_set_new(d, "algorithm", json_string(algorithm));
	if (ch_audit(&req->ctx, "application.possession_failed", "application",
	    s->idbuf, d) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_problem_field(req, CH_P_INVALID_FIELD, field, "%s", detail);
	return 0;
}

int
api_possession_create(ch_req_t *req)
{
	const struct possession_input *in = req->input;
	const char *params[2], *challenge_id, *nonce, *algorithm, *why = NULL;
	unsigned char *sig;
	size_t siglen = 0;
	struct subject s;
	enum step st;
	ch_poss_alg_t alg;
	ch_poss_result_t verdict;
	PGresult *res;
	const char *msg;

	if ((st = open_subject(req, &s, FOR_POSSESSION, &alg)) != STEP_OK)
		return handler_result(st);
	challenge_id = ch_psprintf(req->ctx.pool, "%lld", in->challenge_id.v);
	params[0] = challenge_id;
	params[1] = s.idbuf;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_challenge_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return possession_refused(req, &s, challenge_id, NULL,
		    "unknown challenge", "/challenge_id", "no such challenge "
		    "for this application; ask for one with "
		    "POST …/possession-challenges");
	nonce = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 0));
	algorithm = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 1));
	if (*PQgetvalue(res, 0, 2) == 't')
		return possession_refused(req, &s, challenge_id, algorithm,
		    "challenge already used", "/challenge_id", "this challenge "
		    "has been used (each takes one attempt); ask for a new one");
	if (*PQgetvalue(res, 0, 3) == 't')
		return possession_refused(req, &s, challenge_id, algorithm,
		    "challenge expired", "/challenge_id", "this challenge has "
		    "expired (challenges last 5 minutes); ask for a new one");

	/* The schema checked the base64 and its length. */
	sig = ch_palloc(req->ctx.pool, SIGNATURE_MAX_BYTES);
	if (ch_unbase64(in->signature, strlen(in->signature), true, sig,
	    SIGNATURE_MAX_BYTES, &siglen) != 0)
		siglen = 0;
	msg = to_sign(req, &s, nonce);
	verdict = ch_poss_verify(s.der, s.der_len, msg, strlen(msg), sig,
	    siglen, &why);

	params[0] = challenge_id;
	params[1] = verdict == CH_POSS_PROVEN ? "proven" : "failed";
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_challenge_spend, params)
	    == NULL)
		return -1;
	if (verdict != CH_POSS_PROVEN)
		return possession_refused(req, &s, challenge_id, algorithm,
		    "signature does not verify", "/signature",
		    ch_psprintf(req->ctx.pool, "the signature %s (%s over the "
		    "UTF-8 bytes of to_sign); the challenge is used up, ask "
		    "for a new one", why != NULL ? why : "does not verify",
		    algorithm));
	if (ch_audit(&req->ctx, "application.possession_proven", "application",
	    s.idbuf, json_pack("{s:s, s:s}", "challenge_id", challenge_id,
	    "algorithm", algorithm)) != 0)
		return -1;
	return settled(req, &s, CH_SETTLE_POSSESSION);
}
