/*
 * Authentication: who is calling, from the Authorization header, re-checked
 * in PostgreSQL on every request (the workers keep no session state).
 *
 *   Authorization: Bearer ch_<43 base64url chars>
 *       A session of an applicant (SMS sign-in) or of staff (password).
 *       Stored as HMAC-SHA256(pepper, token); refused once revoked, past
 *       its absolute expiry, idle too long, or when its staff account is
 *       disabled (so disabling takes effect on the next request).
 *
 *   Authorization: CH-HMAC-SHA256 KeyId=ak_…, Timestamp=<unix s>,
 *                  Nonce=<16-64 of [A-Za-z0-9_-]>, Signature=<base64>
 *   X-Certhall-External-User: <the integrator's own user id> (optional)
 *       An integrator's signed request.  Signature = HMAC-SHA256(secret,
 *       ch_hmac_canonical(...)) over method, path, query, timestamp, nonce,
 *       external user and the body's SHA-256.  The timestamp must be within
 *       ±5 minutes; a nonce is accepted once.  With an external user the
 *       integrator acts for that applicant of its own (created on first
 *       use); it never reaches another integrator's or a direct applicant.
 *       An unknown or disabled key, a wrong signature and a replayed nonce
 *       get one and the same 401, after the same work (an unknown key is
 *       unsealed and signed with as a dummy), so the answer says nothing
 *       about which keys exist; the audit event says which it was.
 */
#ifndef CERTHALL_AUTH_H
#define CERTHALL_AUTH_H

#include "certhall/store/audit.h"
#include "certhall/web/http.h"

#define CH_HMAC_SKEW_SECONDS 300

/* Session lifetimes (absolute, idle), by kind of person. */
#define CH_APPLICANT_SESSION_SECONDS (24 * 3600)
#define CH_APPLICANT_IDLE_SECONDS (2 * 3600)
#define CH_STAFF_SESSION_SECONDS (10 * 3600)
#define CH_STAFF_IDLE_SECONDS (30 * 60)

typedef enum {
	CH_AUTH_NONE,		/* no credentials: anonymous */
	CH_AUTH_OK,		/* req->principal is set */
	CH_AUTH_REFUSED,	/* bad, expired or replayed credentials: 401 */
	CH_AUTH_UNAVAILABLE,	/* the database could not be asked: 503 */
} ch_auth_result_t;

/*
 * Sets req->principal from the request's credentials (anonymous when there
 * are none).  body/len is the raw request body (NULL/0 if none), which an
 * integrator's signature covers.  On CH_AUTH_REFUSED *why says why, for the
 * problem detail (it never reveals whether a key or token exists).
 */
ch_auth_result_t ch_auth_authenticate(ch_req_t *req, const char *body,
    size_t len, const char **why);

/*
 * The canonical string an integrator signs (lines joined by "\n"):
 *   CH-HMAC-SHA256, METHOD, path (as sent), query (as sent, "" if none),
 *   timestamp, nonce, external user ("" if none), hex SHA-256 of the body.
 * Returned in the pool.
 */
char *ch_hmac_canonical(ch_pool_t *pool, const char *method, const char *path,
    const char *query, const char *timestamp, const char *nonce,
    const char *external_user, const char *body, size_t len);

typedef struct {
	char token[64];			/* shown once to its owner */
	long long id;
	long long expires_at;		/* unix seconds */
	int idle_seconds;
} ch_session_new_t;

/*
 * Opens a session for an applicant or staff member (kind), in the caller's
 * transaction if one is open.  0, or -1 (database error, logged).
 */
int ch_session_create(ch_req_t *req, ch_actor_t kind, long long id,
    ch_session_new_t *out);
/* Revokes one session; 0 or -1. */
int ch_session_revoke(ch_req_t *req, long long session_id);

#endif
