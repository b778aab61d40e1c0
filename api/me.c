/*
 * GET /api/v1/me and PUT /api/v1/me/password: who the caller is, and a
 * staff member changing their own password (docs/CONTRACT.md, "Identity and
 * access").
 *
 * The Me object is built here for both GET /me and the answer to a sign-in
 * (api/auth.c), so the two can never describe a person differently.
 */
#include "api.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Everything Me shows beyond the principal, in one round trip; a NULL id
 * joins nothing.  $1 applicant, $2 staff, $3 integrator, $4 session.
 * Columns: 0 applicant found, 1 phone, 2 staff found, 3 username,
 * 4 display_name, 5 roles, 6 integrator found, 7 integrator name,
 * 8 session found, 9 session expiry (unix s), 10 idle seconds.
 */
static const ch_stmt_t stmt_me = {
	.name = "me_get",
	.sql =
	    "SELECT a.id IS NOT NULL, a.phone,"
	    "       st.id IS NOT NULL, st.username, st.display_name,"
	    "       st.roles::text,"
	    "       i.id IS NOT NULL, i.name,"
	    "       s.id IS NOT NULL, extract(epoch FROM s.expires_at)::bigint,"
	    "       s.idle_seconds"
	    "  FROM (VALUES (1)) AS one (x)"
	    "  LEFT JOIN applicant a ON a.id = $1::bigint"
	    "  LEFT JOIN staff st ON st.id = $2::bigint"
	    "  LEFT JOIN integrator i ON i.id = $3::bigint"
	    "  LEFT JOIN session s ON s.id = $4::bigint",
	.nparams = 4,
	.readonly = true,
};

/* "123" into the pool, or NULL (SQL NULL) when id is 0. */
static const char *
id_param(ch_pool_t *pool, long long id)
{
	return id > 0 ? ch_psprintf(pool, "%lld", id) : NULL;
}

static int
found(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

static json_t *
text_or_null(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? json_null()
	    : json_string(PQgetvalue(res, 0, col));
}

/* The names of the staff role bits, in ch_staff_role_names order. */
static json_t *
staff_role_names(unsigned roles)
{
	json_t *a = json_array();

	for (int i = 0; ch_staff_role_names[i] != NULL; i++)
		if (roles & ((unsigned)CH_ROLE_REVIEWER << i))
			json_array_append_new(a,
			    json_string(ch_staff_role_names[i]));
	return a;
}

json_t *
api_me_json(ch_req_t *req, const ch_principal_t *p)
{
	const char *params[4];
	json_t *me, *roles, *applicant, *staff, *integrator, *session;
	PGresult *res;
	char at[32];

	params[0] = id_param(req->ctx.pool, p->applicant_id);
	params[1] = id_param(req->ctx.pool,
	    p->kind == CH_ACTOR_STAFF ? p->id : 0);
	params[2] = id_param(req->ctx.pool,
	    p->kind == CH_ACTOR_INTEGRATOR ? p->id : 0);
	params[3] = id_param(req->ctx.pool, p->session_id);
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_me, params);
	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	/* The caller was authenticated a moment ago: what it names exists. */
	if ((params[0] != NULL && !found(res, 0)) ||
	    (params[1] != NULL && !found(res, 2)) ||
	    (params[2] != NULL && !found(res, 6)) ||
	    (params[3] != NULL && !found(res, 8))) {
		ch_error("the %s signed in as %lld is missing from the database",
		    ch_actor_name(p->kind), p->id);
		return NULL;
	}

	applicant = staff = integrator = session = json_null();
	if (params[0] != NULL)
		/* An integrator's user is known by its external id only. */
		applicant = json_pack("{s:I, s:o}", "id",
		    (json_int_t)p->applicant_id, "phone",
		    p->kind == CH_ACTOR_INTEGRATOR ? json_null()
		    : text_or_null(res, 1));
	switch (p->kind) {
	case CH_ACTOR_STAFF: {
		unsigned bits = ch_staff_roles_parse(PQgetvalue(res, 0, 5));

		roles = staff_role_names(bits);
		staff = json_pack("{s:I, s:s, s:s, s:o}", "id",
		    (json_int_t)p->id, "username", PQgetvalue(res, 0, 3),
		    "display_name", PQgetvalue(res, 0, 4), "roles",
		    staff_role_names(bits));
		break;
	}
	case CH_ACTOR_INTEGRATOR:
		roles = json_pack("[s]", "integrator");
		integrator = json_pack("{s:I, s:s, s:s, s:o}", "id",
		    (json_int_t)p->id, "key_id", p->name ? p->name : "",
		    "name", PQgetvalue(res, 0, 7), "external_user_id",
		    p->external_user_id != NULL
		    ? json_string(p->external_user_id) : json_null());
		break;
	case CH_ACTOR_APPLICANT:
		roles = json_pack("[s]", "applicant");
		break;
	default:
		roles = json_array();
		break;
	}
	if (params[3] != NULL) {
		ch_time_shanghai(strtoll(PQgetvalue(res, 0, 9), NULL, 10), at);
		session = json_pack("{s:s, s:i}", "expires_at", at,
		    "idle_timeout_seconds", atoi(PQgetvalue(res, 0, 10)));
	}
	me = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}",
	    "kind", ch_actor_name(p->kind), "roles", roles,
	    "applicant", applicant, "staff", staff, "integrator", integrator,
	    "session", session);
	if (me == NULL)
		ch_oom();
	return me;
}

int
api_me_get(ch_req_t *req)
{
	json_t *me = api_me_json(req, &req->ctx.principal);

	if (me == NULL)
		return -1;
	ch_resp_json(req, 200, me);
	return 0;
}

/* ---- PUT /api/v1/me/password ------------------------------------------- */

struct password_input {
	const char *current_password;
	const char *new_password;
};

static const ch_field_t password_fields[] = {
	/* Any length up to the cap: the current password is only compared. */
	{ .name = "current_password", .type = CH_F_STRING,
	  .flags = CH_F_REQUIRED, .min = 1, .max = 128,
	  .offset = offsetof(struct password_input, current_password) },
	{ .name = "new_password", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 12, .max = 128,
	  .offset = offsetof(struct password_input, new_password) },
};

const ch_schema_t api_password_schema =
    CH_SCHEMA(password_fields, struct password_input);

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

int
api_me_password_put(ch_req_t *req)
{
	const struct password_input *in = req->input;
	const ch_principal_t *p = &req->ctx.principal;
	const char *params[2];
	char id[24], session[24], hash[160];
	PGresult *res;
	long revoked;
	int rc = -1;

	snprintf(id, sizeof id, "%lld", p->id);
	snprintf(session, sizeof session, "%lld", p->session_id);
	params[0] = id;
	if (ch_db_begin(req->ctx.db) != 0)
		goto out;
	/* The row lock keeps two changes (or a sign-in reset) from
	 * interleaving between the check and the write. */
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_password_get, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	if (!ch_password_verify(in->current_password, PQgetvalue(res, 0, 0))) {
		if (ch_db_rollback(req->ctx.db) != 0)
			goto out;
		ch_problem_field(req, CH_P_INVALID_FIELD, "/current_password",
		    "current_password is not your current password");
		rc = 0;
		goto out;
	}
	if (ch_password_hash(in->new_password, hash, sizeof hash) != 0) {
		ch_error("password hashing failed for staff %lld", p->id);
		goto out;
	}
	params[1] = hash;
	if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_password_set, params) == NULL)
		goto out;
	params[1] = session;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_revoke_others, params);
	if (res == NULL)
		goto out;
	revoked = strtol(PQcmdTuples(res), NULL, 10);
	if (ch_audit(&req->ctx, "staff.password_changed", "staff", id,
	    json_pack("{s:i}", "sessions_revoked", (int)revoked)) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		goto out;
	ch_resp_raw(req, 204, NULL, NULL, 0);
	rc = 0;
out:
	memset(hash, 0, sizeof hash);
	return rc;
}
