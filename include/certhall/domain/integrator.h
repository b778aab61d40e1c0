/*
 * Integrators: the platforms that call the API with signed requests (the
 * exchange's), made by admins (api/integrators.c) or by certhall-admin
 * create-integrator, so a row is made one way whoever asks.
 *
 * A new integrator's secret is shown once, to whoever made it; the
 * database holds it only sealed, and no list, log or audit event ever
 * carries it.  Disabling takes effect on the integrator's next request:
 * src/web/auth.c reads the flag on every one.  Audit events name an
 * integrator by its key id, as src/web/auth.c's do.
 *
 * The JSON of an integrator is built by PostgreSQL, one expression for a
 * list, a read and the answer to a change: id, key_id, name, disabled,
 * created_at, updated_at.  Returned as text owned by ctx->pool.
 */
#ifndef CERTHALL_INTEGRATOR_H
#define CERTHALL_INTEGRATOR_H

#include <stddef.h>

#include "certhall/domain/people.h"

struct json_t;

/* "ak_" + 24 hex, "sk_" + 64 hex, with their NULs. */
#define CH_KEY_ID_SIZE (3 + 24 + 1)
#define CH_SECRET_SIZE (3 + 64 + 1)

/*
 * A new integrator key pair: key_id "ak_" + 24 random hex digits, secret
 * "sk_" + 64 random hex digits (256 bits).  The secret string itself, as
 * the integrator holds it, is the HMAC key (certhall/web/auth.h).
 */
void ch_integrator_keygen(char key_id[CH_KEY_ID_SIZE],
    char secret[CH_SECRET_SIZE]);

/*
 * Seals secret for storage: AES-256-GCM under the pepper-derived key
 * CH_KEY_INTEGRATOR with key_id as AAD, so src/web/auth.c's ch_open() gives
 * back exactly the string.  out holds strlen(secret) + 28 bytes.  Needs the
 * pepper (exits 78 without one, see certhall/base/crypto.h).  0 or -1.
 */
int ch_integrator_seal(const char *key_id, const char *secret,
    unsigned char *out, size_t *outlen);

typedef struct {
	long long id;
	char key_id[CH_KEY_ID_SIZE];
	char secret[CH_SECRET_SIZE];	/* shown once; the caller wipes it */
} ch_integrator_new_t;

/*
 * Creates an enabled integrator named name (1-100 characters, no control
 * characters) with a fresh key pair whose secret is stored only sealed,
 * and writes the "integrator.created" audit event for ctx's principal
 * (ch_integrator_created_detail()), in the caller's transaction.  Returns
 * CH_PEOPLE_OK with *out filled (the caller wipes it); CH_PEOPLE_INVALID
 * (*why set, the field is "name"); or CH_PEOPLE_ERROR (out is wiped).
 */
ch_people_result_t ch_integrator_create(ch_ctx_t *ctx, const char *name,
    ch_integrator_new_t *out, const char **why);
/* The detail of the "integrator.created" audit event, whose object is the
 * key id (id and name; never the secret), a new reference. */
struct json_t *ch_integrator_created_detail(const ch_integrator_new_t *k,
    const char *name);

/* {"items": [integrator, ...]} by id, as JSON text in ctx->pool; NULL after
 * a database error (logged). */
const char *ch_integrator_list(ch_ctx_t *ctx);

/* Integrator id as JSON text in ctx->pool (*json): CH_PEOPLE_OK,
 * CH_PEOPLE_NOT_FOUND or CH_PEOPLE_ERROR. */
ch_people_result_t ch_integrator_get(ch_ctx_t *ctx, long long id,
    const char **json);

/*
 * Renames (name not NULL) and/or disables or enables (disabled 1 or 0; -1
 * leaves it) integrator id, in the caller's transaction: the row is
 * locked, only what differs is written (a change of nothing keeps
 * updated_at and writes no audit event), and "integrator.updated" records
 * each change's before and after.  CH_PEOPLE_OK with *json (the integrator
 * as it now is, text in ctx->pool), CH_PEOPLE_NOT_FOUND, or CH_PEOPLE_ERROR
 * (roll back).
 */
ch_people_result_t ch_integrator_patch(ch_ctx_t *ctx, long long id,
    const char *name, int disabled, const char **json);

#endif
