#include "certhall/domain/verification.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/domain/settle.h"
#include "certhall/domain/smscode.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/store/outbox.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHALLENGE_SECONDS 300		/* a challenge's validity */
#define NONCE_BYTES 32
#define NONCE_CHARS 43			/* base64url of 32 bytes, no padding */

#define TO_SIGN_PREFIX "certhall-possession:v1:"

#define TEXT_CODE "【四川CA】您正在办理数字证书%s业务（申请编号%s），" \
	"验证码为%s，5分钟内有效，请勿泄露给他人。如非本人操作，请忽略本短信。"

/* ---- statements ---------------------------------------------------------- */

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

/* ---- the application and what it owes ------------------------------------ */

/* Whether the application is in one of the awaiting states. */
static bool
awaiting(const ch_verify_subject_t *s, bool payment, bool verification)
{
	return (payment && s->app.status == CH_ST_AWAITING_PAYMENT) ||
	    (verification && s->app.status == CH_ST_AWAITING_VERIFICATION);
}

/* Verification by SMS code is for free business awaiting it, once; a code
 * needs a phone to go to.  NULL, or why not. */
static const char *
may_verify(const ch_verify_subject_t *s, bool sending)
{
	if (!(ch_settle_needs(s->app.business) & CH_SETTLE_VERIFIED) ||
	    !awaiting(s, false, true))
		return "only an application awaiting verification (change,"
		    " revoke, unlock, once approved) is verified by SMS code";
	if (s->verified)
		return "the application is already verified";
	if (sending && s->phone == NULL)
		return "no phone is registered for the certificate this"
		    " application is about, so no code can be sent; the CA"
		    " must register one first";
	return NULL;
}

/* Possession is for renew awaiting payment and change awaiting
 * verification, once, with a certificate on file that can prove it.
 * NULL with s->alg set, or why not. */
static const char *
may_prove(ch_ctx_t *ctx, ch_verify_subject_t *s)
{
	const char *why = NULL;

	if (!(ch_settle_needs(s->app.business) & CH_SETTLE_POSSESSION) ||
	    !awaiting(s, true, true))
		return "possession is proven only for an approved renew"
		    " (awaiting payment) or change (awaiting verification)";
	if (s->proven)
		return "possession is already proven for this application";
	if (s->der == NULL)
		return "no certificate is on file for the certificate this"
		    " application is about, so possession cannot be proven"
		    " with it";
	if (ch_poss_algorithm(s->der, s->der_len, &s->alg, &why) != 0) {
		ch_warn("application %s: the certificate on file %s", s->idbuf,
		    why);
		return ch_psprintf(ctx->pool, "the certificate on file %s, so"
		    " possession cannot be proven with it", why);
	}
	return NULL;
}

ch_verify_result_t
ch_verify_open(ch_ctx_t *ctx, long long id, ch_verify_purpose_t purpose,
    ch_verify_subject_t *s, const char **detail)
{
	const char *params[1];
	PGresult *res;

	memset(s, 0, sizeof *s);
	*detail = NULL;
	snprintf(s->idbuf, sizeof s->idbuf, "%lld", id);
	switch (ch_app_begin_load(ctx, id, CH_APP_CHANGE, &s->app)) {
	case CH_APP_FOUND:
		break;
	case CH_APP_NOT_FOUND:
		return CH_VERIFY_NOT_FOUND;
	default:
		return CH_VERIFY_ERROR;
	}
	params[0] = s->idbuf;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_facts, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_VERIFY_ERROR;
	s->verified = *PQgetvalue(res, 0, 0) == 't';
	s->proven = *PQgetvalue(res, 0, 1) == 't';
	if (!PQgetisnull(res, 0, 2))
		s->phone = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3)) {
		s->der_len = (size_t)PQgetlength(res, 0, 3) / 2;
		s->der = ch_palloc(ctx->pool, s->der_len + 1);
		if (ch_unhex(PQgetvalue(res, 0, 3), s->der, s->der_len) != 0)
			return CH_VERIFY_ERROR;
	}
	s->business_name = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 4));
	*detail = purpose == CH_VERIFY_POSSESSION ? may_prove(ctx, s)
	    : may_verify(s, purpose == CH_VERIFY_SEND_CODE);
	return *detail == NULL ? CH_VERIFY_OK : CH_VERIFY_CONFLICT;
}

/* A fact recorded: verified, or possession proven. */
static ch_verify_result_t
settled(ch_ctx_t *ctx, const ch_verify_subject_t *s, ch_settle_fact_t fact)
{
	return ch_settle_record(ctx, s->app.id, fact) == CH_SETTLE_ERROR
	    ? CH_VERIFY_ERROR : CH_VERIFY_OK;
}

/* A refused try: the audit event action with detail d (it joins
 * ctx->pool), and the refusal of field. */
static ch_verify_result_t
refused(ch_ctx_t *ctx, const ch_verify_subject_t *s, const char *action,
    json_t *d, ch_app_refusal_t *r, const char *field, const char *detail)
{
	r->field = field;
	r->missing = false;
	r->detail = detail;
	return ch_audit(ctx, action, "application", s->idbuf, d) == 0
	    ? CH_VERIFY_REFUSED : CH_VERIFY_ERROR;
}

/* ---- SMS codes ----------------------------------------------------------- */

int
ch_verify_code_send(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    ch_verify_sent_t *out)
{
	char code[8], hash[CH_SMS_CODE_HASH_LITERAL];
	const char *params[4], *code_id;
	long long outbox_id;
	PGresult *res;
	int rc = -1;

	ch_mask_phone(s->phone, out->sent_to);
	ch_sms_code_new(code);
	params[0] = s->idbuf;
	params[1] = s->phone;
	params[2] = ch_psprintf(ctx->pool, "%d", CH_SMS_CODE_SECONDS);
	params[3] = ctx->remote_addr != NULL ? ctx->remote_addr : "-";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_new, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	code_id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	out->expires_at = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	ch_sms_code_hash(CH_KEY_VERIFY_CODE, ch_psprintf(ctx->pool,
	    "%s:%s:%s", code_id, s->idbuf, s->phone), code, hash);
	params[0] = code_id;
	params[1] = hash;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_code_hash, params) == NULL)
		goto out;

	if (ch_outbox_sms(ctx->db, ctx->pool, s->phone, "verify_code",
	    ch_psprintf(ctx->pool, "{\"code\":\"%s\",\"id\":\"%s\","
	    "\"business\":\"%s\"}", code, s->idbuf, s->business_name),
	    ch_psprintf(ctx->pool, TEXT_CODE, s->business_name, s->idbuf,
	    code), &outbox_id) != 0)
		goto out;
	if (ch_audit(ctx, "verification.code_sent", "application", s->idbuf,
	    json_pack("{s:s, s:s, s:I}", "phone", out->sent_to, "code_id",
	    code_id, "outbox_id", (json_int_t)outbox_id)) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(code, sizeof code);
	return rc;
}

/* A refused code: the audit event application.verification_failed
 * (reason, and the code's id when there is one). */
static ch_verify_result_t
code_refused(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    const char *code_id, const char *reason, const char *verdict,
    int tries_left, ch_app_refusal_t *r, const char *detail)
{
	json_t *d = json_pack("{s:s}", "reason", reason);
	ch_verify_result_t res;

	if (code_id != NULL)
		json_object_set_new(d, "code_id", json_string(code_id));
	res = refused(ctx, s, "application.verification_failed", d, r, "code",
	    detail);
	r->verdict = verdict;
	r->tries_left = tries_left;
	return res;
}

ch_verify_result_t
ch_verify_code_check(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    const char *code, ch_app_refusal_t *r)
{
	const char *params[2], *code_id;
	ch_sms_code_verdict_t verdict;
	PGresult *res;
	int tries;

	memset(r, 0, sizeof *r);
	params[0] = s->idbuf;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_get, params);
	if (res == NULL)
		return CH_VERIFY_ERROR;
	if (PQntuples(res) == 0)
		return code_refused(ctx, s, NULL, "no code sent", "none", 0, r,
		    "no code has been sent for this application; request one"
		    " first");
	code_id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	tries = atoi(PQgetvalue(res, 0, 2));
	/* Bound to the phone it went to: a code sent before the registered
	 * phone changed no longer matches. */
	verdict = ch_sms_code_judge(CH_KEY_VERIFY_CODE, ch_psprintf(ctx->pool,
	    "%s:%s:%s", code_id, s->idbuf, s->phone != NULL ? s->phone : "-"),
	    code, PQgetvalue(res, 0, 1), tries,
	    *PQgetvalue(res, 0, 3) == 't', *PQgetvalue(res, 0, 4) == 't');
	switch (verdict) {
	case CH_SMS_CODE_USED:
		return code_refused(ctx, s, code_id, "code already used", "used",
		    0, r,
		    "this code has been used; request a new one");
	case CH_SMS_CODE_EXPIRED:
		return code_refused(ctx, s, code_id, "code expired", "expired", 0,
		    r,
		    "this code has expired (codes last 5 minutes); request a"
		    " new one");
	case CH_SMS_CODE_SPENT:
		return code_refused(ctx, s, code_id, "too many tries", "spent", 0,
		    r,
		    "this code has had 5 wrong tries; request a new one");
	case CH_SMS_CODE_RIGHT:
	case CH_SMS_CODE_WRONG:
	default:
		break;
	}

	params[0] = code_id;
	params[1] = verdict == CH_SMS_CODE_RIGHT ? "true" : "false";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_try, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_VERIFY_ERROR;
	if (verdict != CH_SMS_CODE_RIGHT) {
		tries = atoi(PQgetvalue(res, 0, 0));
		return code_refused(ctx, s, code_id, "wrong code", "wrong",
		    CH_SMS_CODE_MAX_TRIES - tries, r,
		    tries < CH_SMS_CODE_MAX_TRIES
		    ? ch_psprintf(ctx->pool, "the code is wrong; %d tries left",
		    CH_SMS_CODE_MAX_TRIES - tries)
		    : "the code is wrong, and that was its last try; request a"
		    " new one");
	}
	if (ch_audit(ctx, "application.verified", "application", s->idbuf,
	    json_pack("{s:s}", "code_id", code_id)) != 0)
		return CH_VERIFY_ERROR;
	return settled(ctx, s, CH_SETTLE_VERIFIED);
}

/* ---- possession ---------------------------------------------------------- */

/* The bytes to sign for nonce: "certhall-possession:v1:<id>:<nonce>". */
static const char *
to_sign(ch_ctx_t *ctx, const ch_verify_subject_t *s, const char *nonce)
{
	return ch_psprintf(ctx->pool, TO_SIGN_PREFIX "%s:%s", s->idbuf, nonce);
}

int
ch_verify_challenge_new(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    ch_verify_challenge_t *out)
{
	unsigned char raw[NONCE_BYTES];
	char nonce[NONCE_CHARS + 2];
	const char *params[5];
	PGresult *res;

	ch_random(raw, sizeof raw);
	ch_base64url(raw, sizeof raw, nonce);
	params[0] = s->idbuf;
	params[1] = nonce;
	params[2] = ch_poss_alg_name(s->alg);
	params[3] = ch_psprintf(ctx->pool, "%d", CHALLENGE_SECONDS);
	params[4] = ctx->remote_addr != NULL ? ctx->remote_addr : "-";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_challenge_new, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->to_sign = to_sign(ctx, s, nonce);
	out->algorithm = ch_poss_alg_name(s->alg);
	out->expires_at = PQgetvalue(res, 0, 1);	/* the pool's */
	return 0;
}

/* A refused attempt: the audit event application.possession_failed. */
static ch_verify_result_t
possession_refused(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    const char *challenge_id, const char *algorithm, const char *reason,
    ch_app_refusal_t *r, const char *field, const char *detail)
{
	json_t *d = json_pack("{s:s, s:s}", "challenge_id", challenge_id,
	    "reason", reason);

	if (algorithm != NULL)
		json_object_set_new(d, "algorithm", json_string(algorithm));
	return refused(ctx, s, "application.possession_failed", d, r, field,
	    detail);
}

ch_verify_result_t
ch_verify_possession(ch_ctx_t *ctx, const ch_verify_subject_t *s,
    long long challenge, const char *signature, ch_app_refusal_t *r)
{
	const char *params[2], *challenge_id, *nonce, *algorithm, *why = NULL;
	const char *msg;
	unsigned char *sig;
	size_t siglen = 0;
	ch_poss_result_t verdict;
	PGresult *res;

	memset(r, 0, sizeof *r);
	challenge_id = ch_psprintf(ctx->pool, "%lld", challenge);
	params[0] = challenge_id;
	params[1] = s->idbuf;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_challenge_get, params);
	if (res == NULL)
		return CH_VERIFY_ERROR;
	if (PQntuples(res) == 0)
		return possession_refused(ctx, s, challenge_id, NULL,
		    "unknown challenge", r, "challenge_id", "no such challenge"
		    " for this application; ask for one with"
		    " POST …/possession-challenges");
	nonce = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	algorithm = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	if (*PQgetvalue(res, 0, 2) == 't')
		return possession_refused(ctx, s, challenge_id, algorithm,
		    "challenge already used", r, "challenge_id", "this"
		    " challenge has been used (each takes one attempt); ask for"
		    " a new one");
	if (*PQgetvalue(res, 0, 3) == 't')
		return possession_refused(ctx, s, challenge_id, algorithm,
		    "challenge expired", r, "challenge_id", "this challenge has"
		    " expired (challenges last 5 minutes); ask for a new one");

	/* The caller's schema checked the base64 and its length. */
	sig = ch_palloc(ctx->pool, CH_VERIFY_SIGNATURE_MAX_BYTES);
	if (ch_unbase64(signature, strlen(signature), true, sig,
	    CH_VERIFY_SIGNATURE_MAX_BYTES, &siglen) != 0)
		siglen = 0;
	msg = to_sign(ctx, s, nonce);
	verdict = ch_poss_verify(s->der, s->der_len, msg, strlen(msg), sig,
	    siglen, &why);

	params[0] = challenge_id;
	params[1] = verdict == CH_POSS_PROVEN ? "proven" : "failed";
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_challenge_spend, params)
	    == NULL)
		return CH_VERIFY_ERROR;
	if (verdict != CH_POSS_PROVEN)
		return possession_refused(ctx, s, challenge_id, algorithm,
		    "signature does not verify", r, "signature",
		    ch_psprintf(ctx->pool, "the signature %s (%s over the UTF-8"
		    " bytes of to_sign); the challenge is used up, ask for a"
		    " new one", why != NULL ? why : "does not verify",
		    algorithm));
	if (ch_audit(ctx, "application.possession_proven", "application",
	    s->idbuf, json_pack("{s:s, s:s}", "challenge_id", challenge_id,
	    "algorithm", algorithm)) != 0)
		return CH_VERIFY_ERROR;
	return settled(ctx, s, CH_SETTLE_POSSESSION);
}
