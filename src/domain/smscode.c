/*
 * One-time SMS codes (certhall/domain/smscode.h).
 */
#include "certhall/domain/smscode.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/store/outbox.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ch_sms_code_new(char code[8])
{
	snprintf(code, 8, "%06u", ch_random_below(1000000));
}

/* HMAC(key(label), "<bound>:<code>"). */
static void
keyed(const char *label, const char *bound, const char *code,
    unsigned char out[CH_SHA256_LEN])
{
	size_t n = strlen(bound) + 1 + strlen(code) + 1;
	char *text = ch_xmalloc(n);

	snprintf(text, n, "%s:%s", bound, code);
	ch_keyed_hash(label, text, n - 1, out);
	OPENSSL_cleanse(text, n);
	free(text);
}

void
ch_sms_code_hash(const char *label, const char *bound, const char *code,
    char out[CH_SMS_CODE_HASH_LITERAL])
{
	unsigned char h[CH_SHA256_LEN];

	keyed(label, bound, code, h);
	out[0] = '\\';
	out[1] = 'x';
	ch_hex(h, sizeof h, out + 2);
}

ch_sms_code_verdict_t
ch_sms_code_judge(const char *label, const char *bound, const char *code,
    const char *stored_hex, int attempts, bool consumed, bool expired)
{
	unsigned char want[CH_SHA256_LEN], got[CH_SHA256_LEN];

	if (consumed)
		return CH_SMS_CODE_USED;
	if (expired)
		return CH_SMS_CODE_EXPIRED;
	if (attempts >= CH_SMS_CODE_MAX_TRIES)
		return CH_SMS_CODE_SPENT;
	keyed(label, bound, code, got);
	if (strlen(stored_hex) != 2 * CH_SHA256_LEN ||
	    ch_unhex(stored_hex, want, sizeof want) != 0)
		return CH_SMS_CODE_WRONG;
	return ch_equal(want, got, sizeof want) ? CH_SMS_CODE_RIGHT
	    : CH_SMS_CODE_WRONG;
}

/* ---- sign-in codes ------------------------------------------------------ */

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

/* The newest code sent to the phone within its 5 minutes, used or not
 * (ch_sms_code_sign_in_try()). */
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

int
ch_sms_code_sign_in_send(ch_ctx_t *ctx, const char *phone)
{
	char code[8], masked[32], hash[CH_SMS_CODE_HASH_LITERAL];
	const char *params[3], *id;
	PGresult *res;
	long long outbox_id;
	int rc = -1;

	ch_mask_phone(phone, masked);
	ch_sms_code_new(code);
	params[0] = phone;
	params[1] = ch_psprintf(ctx->pool, "%d", CH_SMS_CODE_SECONDS);
	params[2] = ctx->remote_addr != NULL ? ctx->remote_addr : "-";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_new, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));

	ch_sms_code_hash(CH_KEY_SMS_CODE, ch_psprintf(ctx->pool, "%s:%s", id,
	    phone), code, hash);
	params[0] = id;
	params[1] = hash;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_code_hash, params) == NULL)
		goto out;

	if (ch_outbox_sms(ctx->db, ctx->pool, phone, "login_code",
	    ch_psprintf(ctx->pool, "{\"code\":\"%s\"}", code),
	    ch_psprintf(ctx->pool, "【四川CA】您的登录验证码为%s，"
	    "5分钟内有效，请勿泄露给他人。如非本人操作，请忽略本短信。", code),
	    &outbox_id) != 0)
		goto out;

	if (ch_audit(ctx, "auth.sms_code_sent", "sms_code", id,
	    json_pack("{s:s, s:s}", "phone", masked, "outbox_id",
	    ch_psprintf(ctx->pool, "%lld", outbox_id))) != 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(code, sizeof code);
	return rc;
}

int
ch_sms_code_sign_in_try(ch_ctx_t *ctx, const char *phone, const char *code,
    const char **id, ch_sms_code_verdict_t *verdict)
{
	const char *params[2] = { phone };
	PGresult *res;

	*id = NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	*id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	/* Only codes within their 5 minutes are selected. */
	*verdict = ch_sms_code_judge(CH_KEY_SMS_CODE, ch_psprintf(ctx->pool,
	    "%s:%s", *id, phone), code, PQgetvalue(res, 0, 1),
	    atoi(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 3)[0] == 't', false);
	if (*verdict == CH_SMS_CODE_USED || *verdict == CH_SMS_CODE_SPENT)
		return 0;
	params[0] = *id;
	params[1] = *verdict == CH_SMS_CODE_RIGHT ? "true" : "false";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_code_try, params);
	return res != NULL && PQntuples(res) == 1 ? 0 : -1;
}
