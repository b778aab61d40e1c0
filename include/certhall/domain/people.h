/*
 * The people administrators manage: staff members and integrators.
 *
 * Shared by the admin API (api/staff.c, api/integrators.c) and by the
 * certhall-admin commands that create the first admin and an integrator,
 * so a row is made one way whoever asks.  No HTTP here: each function works
 * on a ch_db_t in the caller's transaction and returns a result; the caller
 * writes the audit event in that same transaction and commits.
 */
#ifndef CERTHALL_PEOPLE_H
#define CERTHALL_PEOPLE_H

#include <stdbool.h>

#include "certhall/store/db.h"
#include "certhall/base/pool.h"

struct json_t;

/* Rules of the staff and integrator tables (sql/0004_identity.sql) and of
 * docs/CONTRACT.md, in characters. */
#define CH_USERNAME_MIN 3
#define CH_USERNAME_MAX 32
#define CH_DISPLAY_NAME_MAX 64
#define CH_PASSWORD_MIN 12
#define CH_PASSWORD_MAX 128
#define CH_INTEGRATOR_NAME_MAX 100

/* A timestamptz column as the API shows times: ISO 8601 in Asia/Shanghai
 * ("2026-11-24T10:54:00+08:00"; China has no daylight saving), NULL stays
 * NULL.  A SQL fragment for statements that build their JSON in SQL. */
#define CH_SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai'," \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* "ak_" + 24 hex, "sk_" + 64 hex, with their NULs. */
#define CH_KEY_ID_SIZE (3 + 24 + 1)
#define CH_SECRET_SIZE (3 + 64 + 1)

typedef enum {
	CH_PEOPLE_OK,
	CH_PEOPLE_INVALID,	/* an input breaks a rule: *field, *why say which */
	CH_PEOPLE_CONFLICT,	/* the username is taken */
	CH_PEOPLE_ERROR,	/* the database (or OpenSSL) failed; logged */
} ch_people_result_t;


/* Staff role bits (CH_ROLE_REVIEWER ... CH_ROLE_ADMIN of certhall/router.h;
 * other bits are ignored) as a PostgreSQL text[] literal in the order of
 * ch_staff_role_names, e.g. "{reviewer,admin}".  Allocated in pool. */
char *ch_staff_roles_literal(ch_pool_t *pool, unsigned roles);
/* The same as a new JSON array of role names (the caller owns it). */
struct json_t *ch_staff_roles_json(unsigned roles);

typedef struct {
	const char *username;		/* ^[a-z][a-z0-9._-]{2,31}$ */
	const char *display_name;	/* 1-64 characters, no control characters */
	const char *password;		/* 12-128 characters, no control characters */
	unsigned roles;			/* staff role bits, at least one */
} ch_staff_new_t;

/*
 * Checks a new staff member against the rules above (what a request schema
 * checks for the API, and all a command line gets).  Returns CH_PEOPLE_OK,
 * or CH_PEOPLE_INVALID with *field (the input's name, e.g. "password") and
 * *why (a static phrase completing "<field> ...").
 */
ch_people_result_t ch_staff_check(const ch_staff_new_t *in,
    const char **field, const char **why);

/*
 * Creates a staff member, enabled, with the password hashed by
 * ch_password_hash (scrypt), in the caller's transaction.  The input is
 * checked first (ch_staff_check).  Returns CH_PEOPLE_OK with *id set;
 * CH_PEOPLE_INVALID (*field, *why set); CH_PEOPLE_CONFLICT when the
 * username is taken (the transaction stays usable); or CH_PEOPLE_ERROR.
 * The password is never logged.
 */
ch_people_result_t ch_staff_create(ch_db_t *db, ch_pool_t *pool,
    const ch_staff_new_t *in, long long *id, const char **field,
    const char **why);
/* The detail of the "staff.created" audit event (username, display name,
 * roles; never the password), a new reference. */
struct json_t *ch_staff_created_detail(const ch_staff_new_t *in);

/*
 * A new integrator key pair: key_id "ak_" + 24 random hex digits, secret
 * "sk_" + 64 random hex digits (256 bits).  The secret string itself, as
 * the integrator holds it, is the HMAC key (certhall/auth.h).
 */
void ch_integrator_keygen(char key_id[CH_KEY_ID_SIZE],
    char secret[CH_SECRET_SIZE]);

/*
 * Seals secret for storage: AES-256-GCM under the pepper-derived key
 * CH_KEY_INTEGRATOR with key_id as AAD, so src/auth.c's ch_open() gives
 * back exactly the string.  out holds strlen(secret) + 28 bytes.  Needs the
 * pepper (exits 78 without one, see certhall/crypto.h).  0 or -1.
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
 * characters) with a fresh key pair whose secret is stored only sealed, in
 * the caller's transaction.  Returns CH_PEOPLE_OK with *out filled;
 * CH_PEOPLE_INVALID (*why set, the field is "name"); or CH_PEOPLE_ERROR
 * (out is wiped).
 */
ch_people_result_t ch_integrator_create(ch_db_t *db, ch_pool_t *pool,
    const char *name, ch_integrator_new_t *out, const char **why);
/* The detail of the "integrator.created" audit event, whose object is the
 * key id (id and name; never the secret), a new reference. */
struct json_t *ch_integrator_created_detail(const ch_integrator_new_t *k,
    const char *name);

/*
 * The direct applicant (not an integrator's) with this phone, created when
 * missing: at a first SMS sign-in, or when a counter clerk takes a walk-in.
 * In the caller's transaction.  *made says whether it was created now.
 * 0, or -1 (database error, logged).
 */
int ch_applicant_for_phone(ch_db_t *db, ch_pool_t *pool, const char *phone,
    long long *id, bool *made);

#endif
