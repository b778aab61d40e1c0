/*
 * The CA's staff accounts (SPEC §11, docs/CONTRACT.md "Identity and
 * access"): made, listed, read and changed by admins (api/staff.c), the
 * first one by certhall-admin create-admin, and a member's own password
 * change (api/me.c).  So a row is made and changed one way whoever asks.
 *
 * Each function works in the caller's transaction and writes its audit
 * events there; the caller commits.  A change that must cut someone off
 * (disabling, a password reset or change) revokes their sessions in that
 * transaction; since every request re-checks its session in PostgreSQL
 * (src/web/auth.c), it takes effect on their next request.
 *
 * The JSON of a staff member is built by PostgreSQL, one expression for a
 * list, a read and the answer to a change, so they agree: id, username,
 * display_name, roles, disabled, locked_until (while a lock holds),
 * failed_logins (the wrong passwords in a row that count towards the next
 * lock: 0 once a lock has run out), created_at, updated_at.  Returned as
 * text owned by ctx->pool.
 */
#ifndef CERTHALL_STAFF_H
#define CERTHALL_STAFF_H

#include <stdbool.h>

#include "certhall/domain/people.h"

struct json_t;

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
 * *why (a static phrase completing "<field> ...").  Pure.
 */
ch_people_result_t ch_staff_check(const ch_staff_new_t *in,
    const char **field, const char **why);

/*
 * Creates a staff member, enabled, with the password hashed by
 * ch_password_hash (scrypt), and writes the "staff.created" audit event
 * for ctx's principal (ch_staff_created_detail()), in the caller's
 * transaction.  The input is checked first (ch_staff_check).  Returns
 * CH_PEOPLE_OK with *id set; CH_PEOPLE_INVALID (*field, *why set);
 * CH_PEOPLE_CONFLICT when the username is taken (the transaction stays
 * usable, nothing was written); or CH_PEOPLE_ERROR.  The password is never
 * logged.
 */
ch_people_result_t ch_staff_create(ch_ctx_t *ctx, const ch_staff_new_t *in,
    long long *id, const char **field, const char **why);
/* The detail of the "staff.created" audit event (username, display name,
 * roles; never the password), a new reference. */
struct json_t *ch_staff_created_detail(const ch_staff_new_t *in);

/* {"items": [staff member, ...]} by id, as JSON text in ctx->pool; NULL
 * after a database error (logged). */
const char *ch_staff_list(ch_ctx_t *ctx);

/* Staff member id as JSON text in ctx->pool (*json): CH_PEOPLE_OK,
 * CH_PEOPLE_NOT_FOUND or CH_PEOPLE_ERROR. */
ch_people_result_t ch_staff_get(ch_ctx_t *ctx, long long id,
    const char **json);

/* A change to a staff member; what is left as it says stays as it is. */
typedef struct {
	const char *display_name;	/* NULL: unchanged */
	bool set_roles;			/* false: roles unchanged */
	unsigned roles;			/* staff role bits, with set_roles */
	int disabled;			/* -1: unchanged; 0 enable; 1 disable */
	const char *password;		/* NULL: unchanged; else reset to it */
	bool unlock;			/* clear the failure count and a lock */
} ch_staff_patch_t;

/*
 * The rules of a change that depend on who makes it: staff members cannot
 * disable their own account or take away their own admin role (they would
 * lock themselves out).  CH_PEOPLE_OK, or CH_PEOPLE_CONFLICT with *field
 * ("disabled" or "roles") and *why (a static sentence).  Pure; what
 * ch_staff_patch() checks first.
 */
ch_people_result_t ch_staff_patch_check(const ch_ctx_t *ctx, long long id,
    const ch_staff_patch_t *patch, const char **field, const char **why);

/*
 * Applies patch to staff member id, in the caller's transaction: the row
 * is locked, only what differs is written (a patch that changes nothing
 * keeps updated_at), disabling or a new password revokes every session of
 * the member, and each kind of change gets its audit event
 * (staff.roles_changed, staff.updated, staff.disabled, staff.enabled,
 * staff.password_reset, staff.unlocked).  The password is hashed before
 * the row is locked and wiped after.  CH_PEOPLE_OK with *json (the member
 * as it now is, text in ctx->pool); CH_PEOPLE_CONFLICT as
 * ch_staff_patch_check() (nothing done); CH_PEOPLE_NOT_FOUND; or
 * CH_PEOPLE_ERROR (roll back).
 */
ch_people_result_t ch_staff_patch(ch_ctx_t *ctx, long long id,
    const ch_staff_patch_t *patch, const char **json, const char **field,
    const char **why);

/*
 * ctx's principal (a staff member signed in with a session) changes its
 * own password from current to new_password, in the caller's transaction:
 * the row is locked (so two changes, or a sign-in's reset, cannot
 * interleave between the check and the write), current is verified, the
 * new one hashed and stored, every other session of the member revoked
 * (the one asking stays signed in) and "staff.password_changed" audited.
 * CH_PEOPLE_OK; CH_PEOPLE_INVALID when current is not the password (nothing
 * written; roll back); or CH_PEOPLE_ERROR.
 */
ch_people_result_t ch_staff_password_change(ch_ctx_t *ctx,
    const char *current, const char *new_password);

#endif
