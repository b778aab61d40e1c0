#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/domain/integrator.h"
#include "certhall/web/router.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- bearer sessions ------------------------------------------------- */

static const ch_stmt_t stmt_session = {
	.name = "auth_session",
	.sql =
	    "WITH s AS ("
	    "  SELECT s.id, s.applicant_id, s.staff_id, st.username,"
	    "         st.roles::text AS roles"
	    "    FROM session s LEFT JOIN staff st ON st.id = s.staff_id"
	    "   WHERE s.token_hash = $1 AND s.revoked_at IS NULL"
	    "     AND s.expires_at > now()"
	    "     AND s.last_seen_at + make_interval(secs => s.idle_seconds) > now()"
	    "     AND (s.staff_id IS NULL OR NOT st.disabled)),"
	    " touch AS ("
	    "  UPDATE session SET last_seen_at = now()"
	    "   WHERE id = (SELECT id FROM s)"
	    "     AND last_seen_at < now() - interval '30 seconds')"
	    " SELECT id, applicant_id, staff_id, username, roles FROM s",
	.nparams = 1,
};

/* Hex form of a bytea parameter: \x followed by 64 hex digits. */
static void
bytea_param(const unsigned char h[CH_SHA256_LEN], char out[2 + 64 + 1])
{
	out[0] = '\\';
	out[1] = 'x';
	ch_hex(h, CH_SHA256_LEN, out + 2);
}

static int
token_well_formed(const char *t)
{
	if (strncmp(t, "ch_", 3) != 0 || strlen(t) != 3 + 43)
		return 0;
	for (t += 3; *t; t++)
		if (!isalnum((unsigned char)*t) && *t != '-' && *t != '_')
			return 0;
	return 1;
}

static ch_auth_result_t
bearer(ch_req_t *req, const char *token, const char **why)
{
	unsigned char h[CH_SHA256_LEN];
	char hex[2 + 64 + 1];
	const char *params[1] = { hex };
	PGresult *res;
	ch_principal_t *p = &req->ctx.principal;

	*why = "the bearer token is invalid, expired or revoked";
	if (!token_well_formed(token))
		return CH_AUTH_REFUSED;
	ch_keyed_hash(CH_KEY_SESSION, token, strlen(token), h);
	bytea_param(h, hex);
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_session, params);
	if (res == NULL)
		return CH_AUTH_UNAVAILABLE;
	if (PQntuples(res) != 1)
		return CH_AUTH_REFUSED;
	p->session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (!PQgetisnull(res, 0, 1)) {
		p->kind = CH_ACTOR_APPLICANT;
		p->id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		p->applicant_id = p->id;
		p->roles |= CH_ROLE_APPLICANT;
	} else {
		p->kind = CH_ACTOR_STAFF;
		p->id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		p->name = ch_pstrdup(req->ctx.pool, PQgetvalue(res, 0, 3));
		p->roles |= ch_staff_roles_parse(PQgetvalue(res, 0, 4));
	}
	return CH_AUTH_OK;
}

/* ---- integrator signatures ------------------------------------------- */

/*
 * The one answer to a request whose key is unknown or disabled, whose
 * signature does not verify or whose nonce was used before (issue 17):
 * word for word the same, so it says nothing about which keys exist; the
 * audit event keeps the real reason.  It names every cause, so an
 * integrator debugging its client knows where to look.  Refusals decided
 * before the key is looked up (a malformed header, the clock) keep texts
 * of their own: they are the same for every key.
 */
#define REFUSED_SIGNATURE "the request signature does not verify: the key " \
	"is unknown or disabled, the signature is wrong, or the nonce has " \
	"been used before"

/* What an unknown key unseals and signs with, shaped as a real one: a
 * sealed "sk_" + 64 hex secret (ch_integrator_seal: 28 bytes more), and
 * such a secret.  Neither opens or matches anything. */
#define DUMMY_SEALED_LEN (CH_SECRET_SIZE - 1 + 28)
static const char dummy_secret[CH_SECRET_SIZE] =
    "sk_0000000000000000000000000000000000000000000000000000000000000000";

static const ch_stmt_t stmt_integrator = {
	.name = "auth_integrator",
	.sql = "SELECT id, encode(secret_enc, 'hex'), disabled"
	       "  FROM integrator WHERE key_id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_nonce = {
	.name = "auth_nonce",
	.sql = "INSERT INTO request_nonce (integrator_id, nonce) VALUES ($1, $2)"
	       " ON CONFLICT DO NOTHING RETURNING 1",
	.nparams = 2,
};

static const ch_stmt_t stmt_nonce_purge = {
	.name = "auth_nonce_purge",
	.sql = "DELETE FROM request_nonce"
	       " WHERE seen_at < now() - interval '15 minutes'",
	.nparams = 0,
};

/* The applicant an integrator acts for, created on first use. */
static const ch_stmt_t stmt_external_applicant = {
	.name = "auth_external_applicant",
	.sql = "INSERT INTO applicant (integrator_id, external_user_id)"
	       " VALUES ($1, $2)"
	       " ON CONFLICT (integrator_id, external_user_id)"
	       " DO UPDATE SET external_user_id = EXCLUDED.external_user_id"
	       " RETURNING id",
	.nparams = 2,
};

char *
ch_hmac_canonical(ch_pool_t *pool, const char *method, const char *path,
    const char *query, const char *timestamp, const char *nonce,
    const char *external_user, const char *body, size_t len)
{
	unsigned char h[CH_SHA256_LEN];
	char hex[2 * CH_SHA256_LEN + 1];

	ch_sha256(body != NULL ? body : "", body != NULL ? len : 0, h);
	ch_hex(h, sizeof h, hex);
	return ch_psprintf(pool, "CH-HMAC-SHA256\n%s\n%s\n%s\n%s\n%s\n%s\n%s",
	    method, path, query ? query : "", timestamp, nonce,
	    external_user ? external_user : "", hex);
}

/* Finds "Name=value" in a comma-separated parameter list; copies the value
 * into the pool.  NULL if absent or given twice. */
static const char *
auth_param(ch_pool_t *pool, const char *list, const char *name)
{
	size_t nlen = strlen(name);
	const char *found = NULL;

	for (const char *p = list; *p != '\0';) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ",");
		if (n > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = n - nlen - 1;

			while (vlen > 0 && p[nlen + vlen] == ' ')
				vlen--;
			if (found != NULL)
				return NULL;
			found = ch_pstrndup(pool, p + nlen + 1, vlen);
		}
		p += n;
	}
	return found;
}

static int
all_of(const char *s, const char *extra, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return 0;
	return 1;
}

static void
audit_refusal(ch_req_t *req, long long integrator_id, const char *key_id,
    const char *reason)
{
	ch_audit_as(&req->ctx, CH_ACTOR_INTEGRATOR, integrator_id,
	    "integrator.request_refused", "integrator", key_id,
	    json_pack("{s:s, s:s, s:s}", "reason", reason,
	    "method", req->method_name, "path", req->path));
}

static ch_auth_result_t
hmac_request(ch_req_t *req, const char *list, const char *body, size_t len,
    const char **why)
{
	static unsigned purge_counter;
	const char *key_id = auth_param(req->ctx.pool, list, "KeyId");
	const char *ts = auth_param(req->ctx.pool, list, "Timestamp");
	const char *nonce = auth_param(req->ctx.pool, list, "Nonce");
	const char *sig = auth_param(req->ctx.pool, list, "Signature");
	const char *ext = ch_req_env(req, "HTTP_X_CERTHALL_EXTERNAL_USER");
	const char *params[2];
	unsigned char sealed[256], secret[256], mac[CH_SHA256_LEN];
	char mac64[64], idbuf[24];
	size_t sealed_len, secret_len;
	bool known, opened, verified;
	long long integrator_id, when, now = (long long)time(NULL);
	PGresult *res;
	char *canonical;
	ch_principal_t *p = &req->ctx.principal;

	*why = "the request signature is malformed";
	if (key_id == NULL || !all_of(key_id, "_", 27, 27) ||
	    strncmp(key_id, "ak_", 3) != 0)
		return CH_AUTH_REFUSED;
	/* From here on the refusal names a key: it is audited. */
	if (ts == NULL || nonce == NULL || sig == NULL || !all_of(ts, "", 1, 12) ||
	    !all_of(nonce, "-_", 16, 64) || strlen(sig) != 44) {
		audit_refusal(req, 0, key_id, "malformed signature parameters");
		return CH_AUTH_REFUSED;
	}
	for (const char *c = ts; *c; c++) {
		if (!isdigit((unsigned char)*c)) {
			audit_refusal(req, 0, key_id, "malformed timestamp");
			return CH_AUTH_REFUSED;
		}
	}
	if (ext != NULL && !all_of(ext, "._:@-", 1, 64)) {
		*why = "X-Certhall-External-User must be 1-64 of [A-Za-z0-9._:@-]";
		audit_refusal(req, 0, key_id, "malformed external user");
		return CH_AUTH_REFUSED;
	}
	/* The clock before the key: a stale request learns nothing about
	 * whether its key exists. */
	when = strtoll(ts, NULL, 10);
	if (when < now - CH_HMAC_SKEW_SECONDS || when > now + CH_HMAC_SKEW_SECONDS) {
		*why = "the request timestamp is more than 5 minutes off";
		audit_refusal(req, 0, key_id, "timestamp outside window");
		return CH_AUTH_REFUSED;
	}

	params[0] = key_id;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_integrator, params);
	if (res == NULL)
		return CH_AUTH_UNAVAILABLE;
	*why = REFUSED_SIGNATURE;
	/* Known or not, enabled or not, the key goes through the same work:
	 * unseal, HMAC over the canonical string, compare.  An unknown key
	 * unseals a dummy (which fails its tag, as late as a real one
	 * succeeds) and signs with a dummy secret; a disabled key is checked
	 * for real and refused whatever the outcome. */
	known = PQntuples(res) == 1;
	integrator_id = known ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	memset(sealed, 0, sizeof sealed);
	sealed_len = DUMMY_SEALED_LEN;
	if (known) {
		sealed_len = strlen(PQgetvalue(res, 0, 1)) / 2;
		if (sealed_len > sizeof sealed ||
		    ch_unhex(PQgetvalue(res, 0, 1), sealed, sealed_len) != 0)
			sealed_len = 0;
	}
	opened = sealed_len > 0 && ch_open(CH_KEY_INTEGRATOR, key_id, sealed,
	    sealed_len, secret, &secret_len) == 0;
	if (!opened) {
		memcpy(secret, dummy_secret, sizeof dummy_secret - 1);
		secret_len = sizeof dummy_secret - 1;
	}
	canonical = ch_hmac_canonical(req->ctx.pool, req->method_name, req->path,
	    req->query, ts, nonce, ext, body, len);
	ch_hmac_sha256(secret, secret_len, canonical, strlen(canonical), mac);
	memset(secret, 0, sizeof secret);
	ch_base64(mac, sizeof mac, mac64);
	verified = ch_equal(mac64, sig, 44);
	if (!known) {
		audit_refusal(req, 0, key_id, "unknown key");
		return CH_AUTH_REFUSED;
	}
	if (!opened) {
		ch_error("the secret of integrator \"%s\" does not decrypt", key_id);
		audit_refusal(req, integrator_id, key_id, "secret does not decrypt");
		return CH_AUTH_REFUSED;
	}
	if (PQgetvalue(res, 0, 2)[0] == 't') {
		audit_refusal(req, integrator_id, key_id, "key disabled");
		return CH_AUTH_REFUSED;
	}
	if (!verified) {
		audit_refusal(req, integrator_id, key_id, "signature mismatch");
		return CH_AUTH_REFUSED;
	}

	/* Only a verified request may spend its nonce. */
	snprintf(idbuf, sizeof idbuf, "%lld", integrator_id);
	params[0] = idbuf;
	params[1] = nonce;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_nonce, params);
	if (res == NULL)
		return CH_AUTH_UNAVAILABLE;
	if (PQntuples(res) != 1) {
		audit_refusal(req, integrator_id, key_id, "nonce replayed");
		return CH_AUTH_REFUSED;
	}
	if (++purge_counter % 128 == 0)
		ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_nonce_purge, NULL);

	p->kind = CH_ACTOR_INTEGRATOR;
	p->id = integrator_id;
	p->name = key_id;
	p->roles |= CH_ROLE_INTEGRATOR;
	if (ext != NULL) {
		params[1] = ext;
		res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_external_applicant,
		    params);
		if (res == NULL || PQntuples(res) != 1)
			return CH_AUTH_UNAVAILABLE;
		p->applicant_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		p->external_user_id = ch_pstrdup(req->ctx.pool, ext);
	}
	ch_audit(&req->ctx, "integrator.key_used", "integrator", key_id,
	    json_pack("{s:s, s:s}", "method", req->method_name, "path",
	    req->path));
	return CH_AUTH_OK;
}

ch_auth_result_t
ch_auth_authenticate(ch_req_t *req, const char *body, size_t len,
    const char **why)
{
	const char *h = ch_req_env(req, "HTTP_AUTHORIZATION");

	memset(&req->ctx.principal, 0, sizeof req->ctx.principal);
	req->ctx.principal.kind = CH_ACTOR_ANONYMOUS;
	req->ctx.principal.roles = CH_ROLE_PUBLIC;
	*why = "";
	if (h == NULL || *h == '\0')
		return CH_AUTH_NONE;
	if (strncasecmp(h, "Bearer ", 7) == 0)
		return bearer(req, h + 7, why);
	if (strncmp(h, "CH-HMAC-SHA256 ", 15) == 0)
		return hmac_request(req, h + 15, body, len, why);
	*why = "unsupported authorization scheme; use Bearer or CH-HMAC-SHA256";
	return CH_AUTH_REFUSED;
}

/* ---- sessions ---------------------------------------------------------- */

static const ch_stmt_t stmt_session_new = {
	.name = "auth_session_new",
	.sql = "INSERT INTO session (token_hash, applicant_id, staff_id,"
	       "  expires_at, idle_seconds, client_addr)"
	       " VALUES ($1, $2, $3, now() + make_interval(secs => $4::int),"
	       "  $5, $6)"
	       " RETURNING id, extract(epoch FROM expires_at)::bigint",
	.nparams = 6,
};

static const ch_stmt_t stmt_session_revoke = {
	.name = "auth_session_revoke",
	.sql = "UPDATE session SET revoked_at = now()"
	       " WHERE id = $1 AND revoked_at IS NULL",
	.nparams = 1,
};

int
ch_session_create(ch_req_t *req, ch_actor_t kind, long long id,
    ch_session_new_t *out)
{
	unsigned char raw[32], h[CH_SHA256_LEN];
	char hex[2 + 64 + 1], idbuf[24], life[16], idle[16];
	const char *params[6];
	int lifetime = kind == CH_ACTOR_STAFF ? CH_STAFF_SESSION_SECONDS
	    : CH_APPLICANT_SESSION_SECONDS;
	PGresult *res;

	memset(out, 0, sizeof *out);
	out->idle_seconds = kind == CH_ACTOR_STAFF ? CH_STAFF_IDLE_SECONDS
	    : CH_APPLICANT_IDLE_SECONDS;
	memcpy(out->token, "ch_", 3);
	ch_random(raw, sizeof raw);
	ch_base64url(raw, sizeof raw, out->token + 3);
	memset(raw, 0, sizeof raw);
	ch_keyed_hash(CH_KEY_SESSION, out->token, strlen(out->token), h);
	bytea_param(h, hex);
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	snprintf(life, sizeof life, "%d", lifetime);
	snprintf(idle, sizeof idle, "%d", out->idle_seconds);
	params[0] = hex;
	params[1] = kind == CH_ACTOR_APPLICANT ? idbuf : NULL;
	params[2] = kind == CH_ACTOR_STAFF ? idbuf : NULL;
	params[3] = life;
	params[4] = idle;
	params[5] = req->ctx.remote_addr;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_session_new, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->expires_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	return 0;
}

int
ch_session_revoke(ch_req_t *req, long long session_id)
{
	char idbuf[24];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof idbuf, "%lld", session_id);
	return ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_session_revoke, params)
	    != NULL ? 0 : -1;
}
