/*
 * Unlock (解锁; issue 13; certhall/domain/unlock.h, docs/CONTRACT.md
 * "Unlock"):
 *
 *   POST /applications/{id}/unlock          the USB key's serial and the
 *                                           challenge its client shows (202)
 *   GET  /applications/{id}/unlock          the request, with the response
 *                                           once the signer gave it
 *   POST /applications/{id}/unlock/confirm  the key is unlocked: completed
 *
 * The owner, or a counter clerk for a counter application; anyone else gets
 * the 404 of an unknown application.
 */
#include "api.h"
#include "certhall/domain/unlock.h"
#include "certhall/domain/usbkey.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

struct unlock_input {
	const char *usb_key_serial;
	const char *challenge;
};

static int
check_challenge(const char *s, const char **why)
{
	if (strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") != strlen(s)) {
		*why = "must be letters and digits, as the USB key's client "
		    "shows it";
		return -1;
	}
	return 0;
}

static const ch_field_t unlock_fields[] = {
	{ .name = "usb_key_serial", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_USBKEY_SERIAL_MIN, .max = CH_USBKEY_SERIAL_MAX,
	  .check = ch_usbkey_check_serial,
	  .offset = offsetof(struct unlock_input, usb_key_serial) },
	{ .name = "challenge", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_UNLOCK_CHALLENGE_MIN, .max = CH_UNLOCK_CHALLENGE_MAX,
	  .check = check_challenge,
	  .offset = offsetof(struct unlock_input, challenge) },
};

const ch_schema_t api_unlock_schema =
    CH_SCHEMA(unlock_fields, struct unlock_input);

/* Answers a refusal of the domain's after rolling back; 0 or -1. */
static int
refused(ch_req_t *req, ch_unlock_result_t r, const ch_app_t *a,
    const char *why)
{
	if (ch_db_rollback(req->ctx.db) != 0)
		return -1;
	switch (r) {
	case CH_UNLOCK_NOT_FOUND:
		ch_problem(req, CH_P_NOT_FOUND, "no unlock request has been sent "
		    "for this application");
		return 0;
	case CH_UNLOCK_CONFLICT:
		api_app_refuse_state(req, a->status, why);
		return 0;
	case CH_UNLOCK_OTHER_KEY:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/usb_key_serial",
		    "usb_key_serial is not the USB key of the certificate this "
		    "application is about");
		return 0;
	case CH_UNLOCK_REUSED:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/challenge",
		    "challenge was answered for this USB key before: a "
		    "challenge is answered once; let the key show a new one");
		return 0;
	default:
		return -1;
	}
}

/* POST .../unlock (input: the request) or .../unlock/confirm (NULL). */
static int
unlock_post(ch_req_t *req, const struct unlock_input *in)
{
	const char *json = NULL, *why = NULL;
	long long id;
	ch_app_t a;
	ch_unlock_result_t r;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	r = in != NULL ? ch_unlock_request(&req->ctx, &a, in->usb_key_serial,
	    in->challenge, &json, &why) : ch_unlock_confirm(&req->ctx, &a,
	    &json, &why);
	if (r != CH_UNLOCK_OK)
		return refused(req, r, &a, why);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, in != NULL ? 202 : 200, json, strlen(json));
	return 0;
}

int
api_unlock_create(ch_req_t *req)
{
	return unlock_post(req, req->input);
}

int
api_unlock_get(ch_req_t *req)
{
	const char *json = NULL;
	long long id;
	ch_app_t a;
	int rc;

	if ((rc = api_app_path_id(req, &id)) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	switch (ch_unlock_get(&req->ctx, id, &json)) {
	case CH_UNLOCK_OK:
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		ch_resp_json_text(req, 200, json, strlen(json));
		return 0;
	case CH_UNLOCK_NOT_FOUND:
		return refused(req, CH_UNLOCK_NOT_FOUND, &a, NULL);
	default:
		return -1;
	}
}

int
api_unlock_confirm(ch_req_t *req)
{
	return unlock_post(req, NULL);
}
