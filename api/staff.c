/*
 * /api/v1/staff — the CA's staff accounts, for admins (SPEC §11,
 * docs/CONTRACT.md "Identity and access").
 *
 * Rows are made by certhall/people.h, the same code certhall-admin
 * create-admin uses.  Every change is one transaction with its audit
 * events; a change that must cut someone off (disabling, a password reset)
 * revokes their sessions in that transaction, and since every request
 * re-checks its session in PostgreSQL (src/auth.c), it takes effect on
 * their next request.  The JSON of a staff member is built by PostgreSQL
 * (STAFF_JSON), so a list, a read and the answer to a change agree.
 */
#include "api.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/domain/people.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The lock as sign-in sees it (api/auth.c), for the admin who must tell a
 * locked-out person what happened, since the sign-in answer does not say:
 * locked_until while a lock holds, and failed_logins, the wrong passwords
 * in a row that count towards the next lock (0 once a lock has run out,
 * as the next failure starts again at 1).
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

/* ---- schemas ---------------------------------------------------------- */

struct staff_create_input {
	const char *username;
	const char *display_name;
	const char *password;
	unsigned roles;			/* bit i: ch_staff_role_names[i] */
};

static const ch_field_t create_fields[] = {
	{ .name = "username", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_USERNAME_MIN, .max = CH_USERNAME_MAX,
	  .check = ch_check_username,
	  .offset = offsetof(struct staff_create_input, username) },
	{ .name = "display_name", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = CH_DISPLAY_NAME_MAX,
	  .offset = offsetof(struct staff_create_input, display_name) },
	{ .name = "password", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_PASSWORD_MIN, .max = CH_PASSWORD_MAX,
	  .offset = offsetof(struct staff_create_input, password) },
	{ .name = "roles", .type = CH_F_ENUM_SET, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 5, .values = ch_staff_role_names,
	  .offset = offsetof(struct staff_create_input, roles) },
};

const ch_schema_t api_staff_create_schema =
    CH_SCHEMA(create_fields, struct staff_create_input);

struct staff_patch_input {
	const char *display_name;	/* NULL: unchanged */
	unsigned roles;			/* see ch_json_has(.., "roles") */
	int disabled;			/* -1: unchanged */
	const char *password;		/* NULL: unchanged */
	int unlock;			/* -1 or 0: nothing to do */
};

static const ch_field_t patch_fields[] = {
	{ .name = "display_name", .type = CH_F_STRING,
	  .min = 1, .max = CH_DISPLAY_NAME_MAX,
	  .offset = offsetof(struct staff_patch_input, display_name) },
	{ .name = "roles", .type = CH_F_ENUM_SET,
	  .min = 1, .max = 5, .values = ch_staff_role_names,
	  .offset = offsetof(struct staff_patch_input, roles) },
	{ .name = "disabled", .type = CH_F_BOOL,
	  .offset = offsetof(struct staff_patch_input, disabled) },
	{ .name = "password", .type = CH_F_STRING,
	  .min = CH_PASSWORD_MIN, .max = CH_PASSWORD_MAX,
	  .offset = offsetof(struct staff_patch_input, password) },
	{ .name = "unlock", .type = CH_F_BOOL,
	  .offset = offsetof(struct staff_patch_input, unlock) },
};

const ch_schema_t api_staff_patch_schema =
    CH_SCHEMA(patch_fields, struct staff_patch_input);

/* The schema's role set has bit i for ch_staff_role_names[i]; the role
 * bit of that name is CH_ROLE_REVIEWER << i. */
static unsigned
role_bits(unsigned set)
{
	return set * (unsigned)CH_ROLE_REVIEWER;
}

/* The {id} of the path as a staff id; answers 404 and returns -1 when it
 * cannot be one. */
static int
path_id(ch_req_t *req, long long *id, char idbuf[24])
{
	if (ch_id_parse(ch_req_param(req, "id"), id) != 0) {
		ch_problem(req, CH_P_NOT_FOUND, "no staff member with this id");
		return -1;
	}
	snprintf(idbuf, 24, "%lld", *id);
	return 0;
}

static void
respond_row(ch_req_t *req, int status, PGresult *res)
{
	ch_resp_json_text(req, status,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
}

/* ---- handlers --------------------------------------------------------- */

int
api_staff_list(ch_req_t *req)
{
	PGresult *res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_list, NULL);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	respond_row(req, 200, res);
	return 0;
}

int
api_staff_get(ch_req_t *req)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	long long id;
	PGresult *res;

	if (path_id(req, &id, idbuf) != 0)
		return 0;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_get, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		ch_problem(req, CH_P_NOT_FOUND, "no staff member with this id");
		return 0;
	}
	respond_row(req, 200, res);
	return 0;
}

int
api_staff_create(ch_req_t *req)
{
	const struct staff_create_input *in = req->input;
	ch_staff_new_t s = {
		.username = in->username,
		.display_name = in->display_name,
		.password = in->password,
		.roles = role_bits(in->roles),
	};
	const char *field, *why, *params[1];
	char idbuf[24];
	long long id;
	PGresult *res;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_staff_create(req->ctx.db, req->ctx.pool, &s, &id, &field, &why)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_CONFLICT:
		ch_db_rollback(req->ctx.db);
		ch_problem_field(req, CH_P_CONFLICT, "/username",
		    "the username \"%s\" is taken", s.username);
		return 0;
	case CH_PEOPLE_INVALID:
		/* The schema checks the same rules; kept for safety. */
		ch_db_rollback(req->ctx.db);
		ch_problem_field(req, CH_P_INVALID_FIELD,
		    ch_psprintf(req->ctx.pool, "/%s", field), "%s %s", field, why);
		return 0;
	case CH_PEOPLE_ERROR:
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (ch_audit(&req->ctx, "staff.created", "staff", idbuf,
	    ch_staff_created_detail(&s)) != 0)
		return -1;
	params[0] = idbuf;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_get, params);
	if (res == NULL || PQntuples(res) != 1 || ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/staff/%s", idbuf));
	respond_row(req, 201, res);
	return 0;
}

/* {"before": ..., "after": ...}, taking both references. */
static json_t *
before_after(json_t *before, json_t *after)
{
	return json_pack("{s:o, s:o}", "before", before, "after", after);
}

int
api_staff_patch(ch_req_t *req)
{
	const struct staff_patch_input *in = req->input;
	bool has_roles = ch_json_has(req->json, "roles");
	unsigned old_roles, new_roles = role_bits(in->roles);
	bool self, old_disabled, was_locked, renamed, reroled, toggled;
	char idbuf[24], hash[192] = "";
	const char *params[7];
	long long id, revoked = 0;
	PGresult *row, *res;
	int rc = -1;

	if (path_id(req, &id, idbuf) != 0)
		return 0;
	if (in->display_name == NULL && !has_roles && in->disabled < 0 &&
	    in->password == NULL && in->unlock < 0) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "",
		    "give at least one of display_name, roles, disabled, "
		    "password, unlock");
		return 0;
	}
	self = req->ctx.principal.kind == CH_ACTOR_STAFF && req->ctx.principal.id == id;
	if (self && in->disabled == 1) {
		ch_problem_field(req, CH_P_CONFLICT, "/disabled",
		    "you cannot disable your own account");
		return 0;
	}
	if (self && has_roles && !(new_roles & CH_ROLE_ADMIN)) {
		ch_problem_field(req, CH_P_CONFLICT, "/roles",
		    "you cannot remove your own admin role");
		return 0;
	}
	/* scrypt takes a while: hash before the row is locked. */
	if (in->password != NULL &&
	    ch_password_hash(in->password, hash, sizeof hash) != 0)
		goto out;

	if (ch_db_begin(req->ctx.db) != 0)
		goto out;
	params[0] = idbuf;
	row = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_lock, params);
	if (row == NULL)
		goto out;
	if (PQntuples(row) != 1) {
		ch_db_rollback(req->ctx.db);
		ch_problem(req, CH_P_NOT_FOUND, "no staff member with this id");
		rc = 0;
		goto out;
	}
	old_roles = ch_staff_roles_parse(PQgetvalue(row, 0, 1));
	old_disabled = PQgetvalue(row, 0, 2)[0] == 't';
	was_locked = PQgetvalue(row, 0, 3)[0] == 't';
	renamed = in->display_name != NULL &&
	    strcmp(in->display_name, PQgetvalue(row, 0, 0)) != 0;
	reroled = has_roles && new_roles != old_roles;
	toggled = in->disabled >= 0 && (in->disabled == 1) != old_disabled;

	params[1] = renamed ? in->display_name : NULL;
	params[2] = reroled ? ch_staff_roles_literal(req->ctx.pool, new_roles)
	    : NULL;
	params[3] = toggled ? (in->disabled == 1 ? "t" : "f") : NULL;
	params[4] = in->password != NULL ? hash : NULL;
	params[5] = in->unlock == 1 ? "t" : "f";
	params[6] = renamed || reroled || toggled || in->password != NULL ||
	    in->unlock == 1 ? "t" : "f";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_update, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	/* Disabling or a new password cuts the person off at once. */
	if ((toggled && in->disabled == 1) || in->password != NULL) {
		PGresult *rv = ch_db_exec(req->ctx.db, req->ctx.pool,
		    &stmt_revoke_sessions, params);

		if (rv == NULL)
			goto out;
		revoked = strtoll(PQcmdTuples(rv), NULL, 10);
	}

	if (reroled && ch_audit(&req->ctx, "staff.roles_changed", "staff", idbuf,
	    before_after(ch_staff_roles_json(old_roles),
	    ch_staff_roles_json(new_roles))) != 0)
		goto out;
	if (renamed && ch_audit(&req->ctx, "staff.updated", "staff", idbuf,
	    json_pack("{s:o}", "display_name",
	    before_after(json_string(PQgetvalue(row, 0, 0)),
	    json_string(in->display_name)))) != 0)
		goto out;
	if (toggled && in->disabled == 1 && ch_audit(&req->ctx, "staff.disabled",
	    "staff", idbuf, json_pack("{s:I}", "sessions_revoked",
	    (json_int_t)revoked)) != 0)
		goto out;
	if (toggled && in->disabled == 0 &&
	    ch_audit(&req->ctx, "staff.enabled", "staff", idbuf, NULL) != 0)
		goto out;
	if (in->password != NULL && ch_audit(&req->ctx, "staff.password_reset",
	    "staff", idbuf, json_pack("{s:I}", "sessions_revoked",
	    (json_int_t)revoked)) != 0)
		goto out;
	if (in->unlock == 1 && ch_audit(&req->ctx, "staff.unlocked", "staff", idbuf,
	    json_pack("{s:b}", "was_locked", was_locked)) != 0)
		goto out;
	if (ch_db_commit(req->ctx.db) != 0)
		goto out;
	respond_row(req, 200, res);
	rc = 0;
out:
	OPENSSL_cleanse(hash, sizeof hash);
	return rc;
}
