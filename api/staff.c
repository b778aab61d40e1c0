/*
 * /api/v1/staff — the CA's staff accounts, for admins (SPEC §11,
 * docs/CONTRACT.md "Identity and access").
 *
 * What a staff account is, how it is made and changed, and what a change
 * cuts off, is certhall/domain/staff.h's (the same code certhall-admin
 * create-admin uses); here the request becomes a call and the result an
 * answer.  Every change is one transaction with its audit events.
 */
#include "api.h"
#include "certhall/domain/people.h"
#include "certhall/domain/staff.h"
#include "certhall/base/validate.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

static void
not_found(ch_req_t *req)
{
	ch_problem(req, CH_P_NOT_FOUND, "no staff member with this id");
}

/* Answers with the JSON text of a staff member or list. */
static void
respond(ch_req_t *req, int status, const char *json)
{
	ch_resp_json_text(req, status, json, strlen(json));
}

/* ---- handlers --------------------------------------------------------- */

int
api_staff_list(ch_req_t *req)
{
	const char *json = ch_staff_list(&req->ctx);

	if (json == NULL)
		return -1;
	respond(req, 200, json);
	return 0;
}

int
api_staff_get(ch_req_t *req)
{
	const char *json;
	long long id;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0) {
		not_found(req);
		return 0;
	}
	switch (ch_staff_get(&req->ctx, id, &json)) {
	case CH_PEOPLE_OK:
		respond(req, 200, json);
		return 0;
	case CH_PEOPLE_NOT_FOUND:
		not_found(req);
		return 0;
	default:
		return -1;
	}
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
	const char *field, *why, *json;
	long long id;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_staff_create(&req->ctx, &s, &id, &field, &why)) {
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
	default:
		return -1;
	}
	if (ch_staff_get(&req->ctx, id, &json) != CH_PEOPLE_OK ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_header(req, "Location",
	    ch_psprintf(req->ctx.pool, "/api/v1/staff/%lld", id));
	respond(req, 201, json);
	return 0;
}

int
api_staff_patch(ch_req_t *req)
{
	const struct staff_patch_input *in = req->input;
	const ch_staff_patch_t patch = {
		.display_name = in->display_name,
		.set_roles = ch_json_has(req->json, "roles"),
		.roles = role_bits(in->roles),
		.disabled = in->disabled,
		.password = in->password,
		.unlock = in->unlock == 1,
	};
	const char *field, *why, *json;
	long long id;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0) {
		not_found(req);
		return 0;
	}
	if (patch.display_name == NULL && !patch.set_roles &&
	    patch.disabled < 0 && patch.password == NULL && in->unlock < 0) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "",
		    "give at least one of display_name, roles, disabled, "
		    "password, unlock");
		return 0;
	}
	/* Refused before the database is asked. */
	if (ch_staff_patch_check(&req->ctx, id, &patch, &field, &why)
	    != CH_PEOPLE_OK) {
		ch_problem_field(req, CH_P_CONFLICT,
		    ch_psprintf(req->ctx.pool, "/%s", field), "%s", why);
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_staff_patch(&req->ctx, id, &patch, &json, &field, &why)) {
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
	respond(req, 200, json);
	return 0;
}
