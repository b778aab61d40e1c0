/*
 * /api/v1/integrators — the platforms that call the API with signed
 * requests (the exchange's), for admins (docs/CONTRACT.md).
 *
 * What an integrator is, how it is made and changed, is
 * certhall/domain/integrator.h's (the same code certhall-admin
 * create-integrator uses).  A new integrator's secret is shown once, in
 * the answer to its creation; the database holds it only sealed, and no
 * list, log or audit event ever carries it.
 */
#include "api.h"
#include "certhall/domain/integrator.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <string.h>

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

static void
not_found(ch_req_t *req)
{
	ch_problem(req, CH_P_NOT_FOUND, "no integrator with this id");
}

/* ---- handlers --------------------------------------------------------- */

int
api_integrator_list(ch_req_t *req)
{
	const char *json = ch_integrator_list(&req->ctx);

	if (json == NULL)
		return -1;
	ch_resp_json_text(req, 200, json, strlen(json));
	return 0;
}

int
api_integrator_create(ch_req_t *req)
{
	const struct integrator_create_input *in = req->input;
	ch_integrator_new_t k;
	const char *why, *json;
	json_t *body;
	int rc = -1;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_integrator_create(&req->ctx, in->name, &k, &why)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_INVALID:
		/* The schema checks the same rule; kept for safety. */
		ch_db_rollback(req->ctx.db);
		ch_problem_field(req, CH_P_INVALID_FIELD, "/name", "name %s",
		    why);
		return 0;
	default:
		return -1;
	}
	if (ch_integrator_get(&req->ctx, k.id, &json) != CH_PEOPLE_OK)
		goto out;
	body = ch_pool_json(req->ctx.pool, json_loads(json, 0, NULL));
	if (body == NULL || ch_db_commit(req->ctx.db) != 0)
		goto out;
	/* The one time the secret leaves the server. */
	json_object_set_new(body, "secret", json_string(k.secret));
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/integrators/%lld", k.id));
	ch_resp_json(req, 201, json_incref(body));
	rc = 0;
out:
	OPENSSL_cleanse(&k, sizeof k);
	return rc;
}

int
api_integrator_patch(ch_req_t *req)
{
	const struct integrator_patch_input *in = req->input;
	const char *json;
	long long id;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0) {
		not_found(req);
		return 0;
	}
	if (in->name == NULL && in->disabled < 0) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "",
		    "give at least one of name, disabled");
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_integrator_patch(&req->ctx, id, in->name, in->disabled,
	    &json)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_NOT_FOUND:
		ch_db_rollback(req->ctx.db);
		not_found(req);
		return 0;
	default:
		return -1;
	}
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, 200, json, strlen(json));
	return 0;
}
