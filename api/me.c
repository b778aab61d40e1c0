/*
 * GET /api/v1/me and PUT /api/v1/me/password: who the caller is, and a
 * staff member changing their own password (docs/CONTRACT.md, "Identity and
 * access").
 *
 * The Me object is certhall/domain/people.h's ch_people_me(), which the
 * answer to a sign-in (api/auth.c) uses too, so the two can never describe
 * a person differently; the password change is certhall/domain/staff.h's.
 */
#include "api.h"
#include "certhall/domain/people.h"
#include "certhall/domain/staff.h"

#include <jansson.h>
#include <stddef.h>

int
api_me_get(ch_req_t *req)
{
	json_t *me = ch_people_me(&req->ctx, &req->ctx.principal);

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

int
api_me_password_put(ch_req_t *req)
{
	const struct password_input *in = req->input;

	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_staff_password_change(&req->ctx, in->current_password,
	    in->new_password)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_INVALID:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_INVALID_FIELD, "/current_password",
		    "current_password is not your current password");
		return 0;
	default:
		return -1;
	}
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_raw(req, 204, NULL, NULL, 0);
	return 0;
}
