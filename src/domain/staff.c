/*
 * Staff accounts (certhall/domain/staff.h).
 */
#include "certhall/domain/staff.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/principal.h"
#include "certhall/base/validate.h"
#include "certhall/store/audit.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The lock as sign-in sees it (certhall/domain/signin.h), for the admin
 * who must tell a locked-out person what happened, since the sign-in
 * answer does not say: locked_until while a lock holds, and failed_logins,
 * the wrong passwords in a row that count towards the next lock (0 once a
 * lock has run out, as the next failure starts again at 1).
 */
#define STAFF_JSON \
	"json_build_object('id', id, 'username', username," \
	" 'display_name', display_name, 'roles', to_json(roles)," \
	" 'disabled', disabled," \
	" 'locked_until', CASE WHEN locked_until > now() THEN " \
	    CH_SQL_TIME("locked_until") " END," \
	" 'failed_logins', CASE WHEN locked_until <= now() THEN 0" \
	    " ELSE failed_logins END," \
	" 'created_at', " CH_SQL_TIME("created_at") "," \
	" 'updated_at', " CH_SQL_TIME("updated_at") ")"

static const ch_stmt_t stmt_list = {
	.name = "staff_list",
	.sql = "SELECT json_build_object('items',"
	       " COALESCE(json_agg(" STAFF_JSON " ORDER BY id), '[]'::json))::text"
	       " FROM staff",
	.nparams = 0,
	.readonly = true,
};

static const ch_stmt_t stmt_get = {
	.name = "staff_get",
	.sql = "SELECT " STAFF_JSON "::text FROM staff WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_lock = {
	.name = "staff_lock",
	.sql = "SELECT display_name, roles::text, disabled,"
	       " COALESCE(locked_until > now(), false)"
	       " FROM staff WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

/* NULL parameters leave a column as it is; $7 says whether anything
 * changed, so a patch that changes nothing keeps updated_at. */
static const ch_stmt_t stmt_update = {
	.name = "staff_update",
	.sql = "UPDATE staff SET display_name = COALESCE($2, display_name),"
	       " roles = COALESCE($3::text[], roles),"
	       " disabled = COALESCE($4::boolean, disabled),"
	       " password_hash = COALESCE($5, password_hash),"
	       " failed_logins = CASE WHEN $6::boolean THEN 0"
	       "   ELSE failed_logins END,"
	       " locked_until = CASE WHEN $6::boolean THEN NULL"
	       "   ELSE locked_until END,"
	       " updated_at = CASE WHEN $7::boolean THEN now()"
	       "   ELSE updated_at END"
	       " WHERE id = $1 RETURNING " STAFF_JSON "::text",
	.nparams = 7,
};

static const ch_stmt_t stmt_revoke_sessions = {
	.name = "staff_revoke_sessions",
	.sql = "UPDATE session SET revoked_at = now()"
	       " WHERE staff_id = $1 AND revoked_at IS NULL",
	.nparams = 1,
};

/* "123" in the pool. */
static const char *
id_text(ch_pool_t *pool, long long id)
{
	return ch_psprintf(pool, "%lld", id);
}

ch_people_result_t
ch_staff_check(const ch_staff_new_t *in, const char **field, const char **why)
{
	unsigned all = 0;

	for (int i = 0; ch_staff_role_names[i] != NULL; i++)
		all |= (unsigned)CH_ROLE_REVIEWER << i;
	if (ch_check_username(in->username, why) != 0) {
		*field = "username";
		return CH_PEOPLE_INVALID;
	}
	*field = "display_name";
	if ((*why = ch_people_text_why(in->display_name, 1, CH_DISPLAY_NAME_MAX,
	    "must be 1 to 64 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	*field = "password";
	if ((*why = ch_people_text_why(in->password, CH_PASSWORD_MIN, CH_PASSWORD_MAX,
	    "must be 12 to 128 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	*field = "roles";
	if ((in->roles & all) == 0 || (in->roles & ~all) != 0) {
		*why = "must list 1 to 5 distinct staff roles";
		return CH_PEOPLE_INVALID;
	}
	*field = NULL;
	*why = NULL;
	return CH_PEOPLE_OK;
}

/* ON CONFLICT rather than catching 23505: a taken username is an answer,
 * not an error to log, and the transaction stays usable. */
static const ch_stmt_t stmt_staff_insert = {
	.name = "people_staff_insert",
	.sql = "INSERT INTO staff (username, display_name, password_hash, roles)"
	       " VALUES ($1, $2, $3, $4::text[])"
	       " ON CONFLICT (username) DO NOTHING RETURNING id",
	.nparams = 4,
};

ch_people_result_t
ch_staff_create(ch_ctx_t *ctx, const ch_staff_new_t *in, long long *id,
    const char **field, const char **why)
{
	char hash[192] = "";
	const char *params[4];
	PGresult *res;
	ch_people_result_t rc;

	if ((rc = ch_staff_check(in, field, why)) != CH_PEOPLE_OK)
		return rc;
	rc = CH_PEOPLE_ERROR;
	if (ch_password_hash(in->password, hash, sizeof hash) != 0)
		goto out;
	params[0] = in->username;
	params[1] = in->display_name;
	params[2] = hash;
	params[3] = ch_staff_roles_literal(ctx->pool, in->roles);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_staff_insert, params);
	if (res == NULL)
		goto out;
	if (PQntuples(res) != 1) {
		rc = CH_PEOPLE_CONFLICT;
		goto out;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (ch_audit(ctx, "staff.created", "staff", id_text(ctx->pool, *id),
	    ch_staff_created_detail(in)) != 0)
		goto out;
	rc = CH_PEOPLE_OK;
out:
	OPENSSL_cleanse(hash, sizeof hash);
	return rc;
}

json_t *
ch_staff_created_detail(const ch_staff_new_t *in)
{
	return json_pack("{s:s, s:s, s:o}", "username", in->username,
	    "display_name", in->display_name,
	    "roles", ch_staff_roles_json(in->roles));
}

const char *
ch_staff_list(ch_ctx_t *ctx)
{
	const char *json = NULL;

	ch_people_text(ctx, &stmt_list, 0, &json);
	return json;
}

ch_people_result_t
ch_staff_get(ch_ctx_t *ctx, long long id, const char **json)
{
	return ch_people_text(ctx, &stmt_get, id, json);
}

ch_people_result_t
ch_staff_patch_check(const ch_ctx_t *ctx, long long id,
    const ch_staff_patch_t *patch, const char **field, const char **why)
{
	bool self = ctx->principal.kind == CH_ACTOR_STAFF &&
	    ctx->principal.id == id;

	*field = NULL;
	*why = NULL;
	if (self && patch->disabled == 1) {
		*field = "disabled";
		*why = "you cannot disable your own account";
		return CH_PEOPLE_CONFLICT;
	}
	if (self && patch->set_roles && !(patch->roles & CH_ROLE_ADMIN)) {
		*field = "roles";
		*why = "you cannot remove your own admin role";
		return CH_PEOPLE_CONFLICT;
	}
	return CH_PEOPLE_OK;
}

/* {"before": ..., "after": ...}, taking both references. */
static json_t *
before_after(json_t *before, json_t *after)
{
	return json_pack("{s:o, s:o}", "before", before, "after", after);
}

/* The audit events of a patch that changed row (stmt_lock's, as it was)
 * into patch; revoked: the sessions it revoked.  0 or -1. */
static int
patch_audit(ch_ctx_t *ctx, const char *idbuf, const PGresult *row,
    const ch_staff_patch_t *patch, unsigned old_roles, bool renamed,
    bool reroled, bool toggled, long long revoked)
{
	bool was_locked = PQgetvalue(row, 0, 3)[0] == 't';

	if (reroled && ch_audit(ctx, "staff.roles_changed", "staff", idbuf,
	    before_after(ch_staff_roles_json(old_roles),
	    ch_staff_roles_json(patch->roles))) != 0)
		return -1;
	if (renamed && ch_audit(ctx, "staff.updated", "staff", idbuf,
	    json_pack("{s:o}", "display_name",
	    before_after(json_string(PQgetvalue(row, 0, 0)),
	    json_string(patch->display_name)))) != 0)
		return -1;
	if (toggled && patch->disabled == 1 && ch_audit(ctx, "staff.disabled",
	    "staff", idbuf, json_pack("{s:I}", "sessions_revoked",
	    (json_int_t)revoked)) != 0)
		return -1;
	if (toggled && patch->disabled == 0 &&
	    ch_audit(ctx, "staff.enabled", "staff", idbuf, NULL) != 0)
		return -1;
	if (patch->password != NULL && ch_audit(ctx, "staff.password_reset",
	    "staff", idbuf, json_pack("{s:I}", "sessions_revoked",
	    (json_int_t)revoked)) != 0)
		return -1;
	if (patch->unlock && ch_audit(ctx, "staff.unlocked", "staff", idbuf,
	    json_pack("{s:b}", "was_locked", was_locked)) != 0)
		return -1;
	return 0;
}

ch_people_result_t
ch_staff_patch(ch_ctx_t *ctx, long long id, const ch_staff_patch_t *patch,
    const char **json, const char **field, const char **why)
{
	const char *idbuf = id_text(ctx->pool, id), *params[7];
	char hash[192] = "";
	unsigned old_roles;
	bool renamed, reroled, toggled;
	long long revoked = 0;
	PGresult *row, *res;
	ch_people_result_t rc;

	if ((rc = ch_staff_patch_check(ctx, id, patch, field, why))
	    != CH_PEOPLE_OK)
		return rc;
	rc = CH_PEOPLE_ERROR;
	/* scrypt takes a while: hash before the row is locked. */
	if (patch->password != NULL &&
	    ch_password_hash(patch->password, hash, sizeof hash) != 0)
		goto out;

	params[0] = idbuf;
	row = ch_db_exec(ctx->db, ctx->pool, &stmt_lock, params);
	if (row == NULL)
		goto out;
	if (PQntuples(row) != 1) {
		rc = CH_PEOPLE_NOT_FOUND;
		goto out;
	}
	old_roles = ch_staff_roles_parse(PQgetvalue(row, 0, 1));
	renamed = patch->display_name != NULL &&
	    strcmp(patch->display_name, PQgetvalue(row, 0, 0)) != 0;
	reroled = patch->set_roles && patch->roles != old_roles;
	toggled = patch->disabled >= 0 &&
	    (patch->disabled == 1) != (PQgetvalue(row, 0, 2)[0] == 't');

	params[1] = renamed ? patch->display_name : NULL;
	params[2] = reroled ? ch_staff_roles_literal(ctx->pool, patch->roles)
	    : NULL;
	params[3] = toggled ? (patch->disabled == 1 ? "t" : "f") : NULL;
	params[4] = patch->password != NULL ? hash : NULL;
	params[5] = patch->unlock ? "t" : "f";
	params[6] = renamed || reroled || toggled || patch->password != NULL ||
	    patch->unlock ? "t" : "f";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_update, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	/* Disabling or a new password cuts the person off at once. */
	if ((toggled && patch->disabled == 1) || patch->password != NULL) {
		PGresult *rv = ch_db_exec(ctx->db, ctx->pool,
		    &stmt_revoke_sessions, params);

		if (rv == NULL)
			goto out;
		revoked = strtoll(PQcmdTuples(rv), NULL, 10);
	}
	if (patch_audit(ctx, idbuf, row, patch, old_roles, renamed, reroled,
	    toggled, revoked) != 0)
		goto out;
	*json = PQgetvalue(res, 0, 0);
	rc = CH_PEOPLE_OK;
out:
	OPENSSL_cleanse(hash, sizeof hash);
	return rc;
}

/* ---- a member's own password ------------------------------------------- */

static const ch_stmt_t stmt_password_get = {
	.name = "me_password_get",
	.sql = "SELECT password_hash FROM staff WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_password_set = {
	.name = "me_password_set",
	.sql = "UPDATE staff SET password_hash = $2, updated_at = now()"
	       " WHERE id = $1",
	.nparams = 2,
};

/* Every session of the staff member but the one asking. */
static const ch_stmt_t stmt_revoke_others = {
	.name = "me_revoke_other_sessions",
	.sql = "UPDATE session SET revoked_at = now()"
	       " WHERE staff_id = $1 AND id <> $2 AND revoked_at IS NULL",
	.nparams = 2,
};

ch_people_result_t
ch_staff_password_change(ch_ctx_t *ctx, const char *current,
    const char *new_password)
{
	const ch_principal_t *p = &ctx->principal;
	const char *id = id_text(ctx->pool, p->id), *params[2] = { id };
	char hash[160];
	PGresult *res;
	long revoked;
	ch_people_result_t rc = CH_PEOPLE_ERROR;

	res = ch_db_exec(ctx->db, ctx->pool, &stmt_password_get, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	if (!ch_password_verify(current, PQgetvalue(res, 0, 0))) {
		rc = CH_PEOPLE_INVALID;
		goto out;
	}
	if (ch_password_hash(new_password, hash, sizeof hash) != 0) {
		ch_error("password hashing failed for staff %lld", p->id);
		goto out;
	}
	params[1] = hash;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_password_set, params) == NULL)
		goto out;
	params[1] = id_text(ctx->pool, p->session_id);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_revoke_others, params);
	if (res == NULL)
		goto out;
	revoked = strtol(PQcmdTuples(res), NULL, 10);
	if (ch_audit(ctx, "staff.password_changed", "staff", id,
	    json_pack("{s:i}", "sessions_revoked", (int)revoked)) != 0)
		goto out;
	rc = CH_PEOPLE_OK;
out:
	OPENSSL_cleanse(hash, sizeof hash);
	return rc;
}
