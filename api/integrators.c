/*
 * /api/v1/integrators — the platforms that call the API with signed
 * requests (the exchange's), for admins (docs/CONTRACT.md).
 *
 * A new integrator's secret is shown once, in the answer to its creation;
 * the database holds it only sealed (certhall/people.h), and no list, log
 * or audit event ever carries it.  Disabling takes effect on the
 * integrator's next request: src/auth.c reads the flag on every one.
 * Audit events name an integrator by its key id, as src/auth.c's do.
 */
#include "api.h"
#include "certhall/web/auth.h"
#include "certhall/domain/people.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define INTEGRATOR_JSON \
	"json_build_object('id', id, 'key_id', key_id, 'name', name," \
	" 'disabled', disabled," \
	" 'created_at', " CH_SQL_TIME("created_at") "," \
	" 'updated_at', " CH_SQL_TIME("updated_at") ")"

static const ch_stmt_t stmt_list = {
	.name = "integrator_list",
	.sql = "SELECT json_build_object('items',"
	       " COALESCE(json_agg(" INTEGRATOR_JSON " ORDER BY id), '[]'::json))::text"
	       " FROM integrator",
	.nparams = 0,
	.readonly = true,
};

static const ch_stmt_t stmt_get = {
	.name = "integrator_get",
	.sql = "SELECT " INTEGRATOR_JSON "::text FROM integrator WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_lock = {
	.name = "integrator_lock",
	.sql = "SELECT key_id, name, disabled FROM integrator"
	       " WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

/* NULL parameters leave a column as it is; $4 says whether anything
 * changed, so a patch that changes nothing keeps updated_at. */
static const ch_stmt_t stmt_update = {
	.name = "integrator_update",
	.sql = "UPDATE integrator SET name = COALESCE($2, name),"
	       " disabled = COALESCE($3::boolean, disabled),"
	       " updated_at = CASE WHEN $4::boolean THEN now()"
	       "   ELSE updated_at END"
	       " WHERE id = $1 RETURNING " INTEGRATOR_JSON "::text",
	.nparams = 4,
};

/* ---- schemas ---------------------------------------------------------- */

struct integrator_create_input {
	const char *name;
};

static const ch_field_t create_fields[] = {
	{ .name = "name", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = CH_INTEGRATOR_NAME_MAX,
	  .offset = offsetof(struct integrator_create_input, name) },
};

const ch_schema_t api_integrator_create_schema =
    CH_SCHEMA(create_fields, struct integrator_create_input);

struct integrator_patch_input {
	const char *name;		/* NULL: unchanged */
	int disabled;			/* -1: unchanged */
};

static const ch_field_t patch_fields[] = {
	{ .name = "name", .type = CH_F_STRING,
	  .min = 1, .max = CH_INTEGRATOR_NAME_MAX,
	  .offset = offsetof(struct integrator_patch_input, name) },
	{ .name = "disabled", .type = CH_F_BOOL,
	  .offset = offsetof(struct integrator_patch_input, disabled) },
};

const ch_schema_t api_integrator_patch_schema =
    CH_SCHEMA(patch_fields, struct integrator_patch_input);

/* ---- handlers --------------------------------------------------------- */

int
api_integrator_list(ch_req_t *req)
{
	PGresult *res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_list, NULL);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json_text(req, 200,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	return 0;
}

int
api_integrator_create(ch_req_t *req)
{
	const struct integrator_create_input *in = req->input;
	ch_integrator_new_t k;
	char idbuf[24];
	const char *why, *params[1] = { idbuf };
	PGresult *res;
	json_t *body;
	int rc = -1;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_integrator_create(req->ctx.db, req->ctx.pool, in->name, &k, &why)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_INVALID:
		/* The schema checks the same rule; kept for safety. */
		ch_db_rollback(req->ctx.db);
		ch_problem_field(req, CH_P_INVALID_FIELD, "/name", "name %s",
		    why);
		return 0;
	case CH_PEOPLE_CONFLICT:
	case CH_PEOPLE_ERROR:
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", k.id);
	if (ch_audit(&req->ctx, "integrator.created", "integrator", k.key_id,
	    ch_integrator_created_detail(&k, in->name)) != 0)
		goto out;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_get, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	body = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	if (body == NULL || ch_db_commit(req->ctx.db) != 0) {
		json_decref(body);
		goto out;
	}
	/* The one time the secret leaves the server. */
	json_object_set_new(body, "secret", json_string(k.secret));
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/integrators/%s", idbuf));
	ch_resp_json(req, 201, body);
	rc = 0;
out:
	OPENSSL_cleanse(&k, sizeof k);
	return rc;
}

int
api_integrator_patch(ch_req_t *req)
{
	const struct integrator_patch_input *in = req->input;
	char idbuf[24];
	const char *params[4] = { idbuf };
	long long id;
	PGresult *row, *res;
	json_t *changes;
	bool renamed, toggled;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0)
		goto not_found;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (in->name == NULL && in->disabled < 0) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "",
		    "give at least one of name, disabled");
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	row = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_lock, params);
	if (row == NULL)
		return -1;
	if (PQntuples(row) != 1) {
		ch_db_rollback(req->ctx.db);
		goto not_found;
	}
	renamed = in->name != NULL && strcmp(in->name, PQgetvalue(row, 0, 1)) != 0;
	toggled = in->disabled >= 0 &&
	    (in->disabled == 1) != (PQgetvalue(row, 0, 2)[0] == 't');
	params[1] = renamed ? in->name : NULL;
	params[2] = toggled ? (in->disabled == 1 ? "t" : "f") : NULL;
	params[3] = renamed || toggled ? "t" : "f";
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_update, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;

	if (renamed || toggled) {
		changes = json_object();
		if (renamed)
			json_object_set_new(changes, "name", json_pack(
			    "{s:s, s:s}", "before", PQgetvalue(row, 0, 1),
			    "after", in->name));
		if (toggled)
			json_object_set_new(changes, "disabled", json_pack(
			    "{s:b, s:b}", "before", !in->disabled,
			    "after", in->disabled));
		if (ch_audit(&req->ctx, "integrator.updated", "integrator",
		    PQgetvalue(row, 0, 0), changes) != 0)
			return -1;
	}
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, 200,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	return 0;
not_found:
	ch_problem(req, CH_P_NOT_FOUND, "no integrator with this id");
	return 0;
}
