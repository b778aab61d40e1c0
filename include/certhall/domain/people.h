/*
 * People: what the staff accounts (certhall/domain/staff.h), the
 * integrators (certhall/domain/integrator.h) and sign-in
 * (certhall/domain/signin.h) share -- the rules of names and passwords, the
 * staff roles as the database and the API spell them, the result of a
 * change to a person -- and the applicants and the Me object.
 *
 * No HTTP here: functions take a context (certhall/store/ctx.h), work in
 * the caller's transaction and return results; the handlers of api/ turn
 * those into answers and commit.
 */
#ifndef CERTHALL_PEOPLE_H
#define CERTHALL_PEOPLE_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/store/ctx.h"
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

/* CH_SQL_TIME(col), the API's form of a time in SQL, is
 * certhall/store/db.h's (the audit log's list uses it too). */

typedef enum {
	CH_PEOPLE_OK,
	CH_PEOPLE_INVALID,	/* an input breaks a rule: *field, *why say which */
	CH_PEOPLE_CONFLICT,	/* taken, or a rule about the actor: see each function */
	CH_PEOPLE_NOT_FOUND,	/* no such person */
	CH_PEOPLE_ERROR,	/* the database (or OpenSSL) failed; logged */
} ch_people_result_t;

/* Staff role bits (CH_ROLE_REVIEWER ... CH_ROLE_ADMIN of
 * certhall/base/principal.h; other bits are ignored) as a PostgreSQL text[]
 * literal in the order of ch_staff_role_names, e.g. "{reviewer,admin}".
 * Allocated in pool. */
char *ch_staff_roles_literal(ch_pool_t *pool, unsigned roles);
/* The same as a new JSON array of role names (the caller owns it). */
struct json_t *ch_staff_roles_json(unsigned roles);

/*
 * A line of text for a name or a password: valid UTF-8 (jansson's check,
 * the one request bodies pass), min..max characters (else length_why), no
 * control characters.  NULL if s is acceptable, else why not: a static
 * phrase completing "<field> ...".  Pure.
 */
const char *ch_people_text_why(const char *s, size_t min, size_t max,
    const char *length_why);

/*
 * Runs stmt, whose result is at most one row of one text column (JSON
 * built by PostgreSQL), with id as its one parameter (0: a statement
 * without parameters).  CH_PEOPLE_OK with *text (owned by ctx->pool),
 * CH_PEOPLE_NOT_FOUND when there is no row, or CH_PEOPLE_ERROR (logged).
 * What the list and read functions of staff.h and integrator.h share.
 */
ch_people_result_t ch_people_text(ch_ctx_t *ctx, const ch_stmt_t *stmt,
    long long id, const char **text);

/*
 * The direct applicant (not an integrator's) with this phone, created when
 * missing: at a first SMS sign-in, or when a counter clerk takes a walk-in.
 * In the caller's transaction.  *made (if not NULL) says whether it was
 * created now.  0, or -1 (database error, logged).
 */
int ch_applicant_for_phone(ch_db_t *db, ch_pool_t *pool, const char *phone,
    long long *id, bool *made);

/*
 * The Me object of docs/CONTRACT.md for principal p (kind, roles, and the
 * applicant, staff member, integrator and session it names), in one round
 * trip: what GET /me answers and what a sign-in answers with, so the two
 * can never describe a person differently.  A new reference (the caller
 * owns it), or NULL after a database error or when p names a row that is
 * gone (logged).
 */
struct json_t *ch_people_me(ch_ctx_t *ctx, const ch_principal_t *p);

#endif
