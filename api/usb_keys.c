/*
 * USB keys at the personalisation station (issue 12; docs/CONTRACT.md
 * "USB keys"; certhall/domain/usbkey.h says what each step records):
 *
 *   POST /api/v1/usb-keys                          bind a blank key
 *   GET  /api/v1/usb-keys                          list (status,
 *                                                  application_id, limit,
 *                                                  cursor)
 *   GET  /api/v1/usb-keys/{serial}                 one key
 *   POST /api/v1/usb-keys/{serial}/so-pin          the SO PIN, sealed
 *   POST /api/v1/usb-keys/{serial}/user-pin        the user PIN, to the
 *                                                  handler by SMS
 *   POST /api/v1/usb-keys/{serial}/personalised    ready to ship
 *
 * Operators; admins may read.  A malformed serial in the path is as unknown
 * as a missing key (404).  The user PIN is never logged, never in an audit
 * detail and never in an answer: the body that carries it is validated
 * into req->input and goes to the domain, which puts it in the outbox only.
 */
#include "api.h"
#include "certhall/base/crypto.h"
#include "certhall/base/validate.h"
#include "certhall/domain/usbkey.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100
/* The base64 of a DER SubjectPublicKeyInfo of an RSA-4096 key (550
 * bytes), with room to spare; the key itself is judged by the domain. */
#define REQUESTER_KEY_MAX 1024
/* When to try again after signer-unavailable, in seconds. */
#define SIGNER_RETRY_AFTER "5"

/* ---- schemas ------------------------------------------------------------ */

struct bind_input {
	const char *serial;
	ch_int_t application_id;
};

static const ch_field_t bind_fields[] = {
	{ .name = "serial", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_USBKEY_SERIAL_MIN, .max = CH_USBKEY_SERIAL_MAX,
	  .check = ch_usbkey_check_serial,
	  .offset = offsetof(struct bind_input, serial) },
	{ .name = "application_id", .type = CH_F_INT, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 999999999999999999LL,
	  .offset = offsetof(struct bind_input, application_id) },
};

const ch_schema_t api_usb_key_bind_schema =
    CH_SCHEMA(bind_fields, struct bind_input);

struct so_pin_input {
	const char *requester_key;
};

static const ch_field_t so_pin_fields[] = {
	{ .name = "requester_key", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 4, .max = REQUESTER_KEY_MAX, .check = ch_check_base64,
	  .offset = offsetof(struct so_pin_input, requester_key) },
};

const ch_schema_t api_usb_key_so_pin_schema =
    CH_SCHEMA(so_pin_fields, struct so_pin_input);

struct user_pin_input {
	const char *pin;
};

static const ch_field_t user_pin_fields[] = {
	{ .name = "pin", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_USBKEY_PIN_MIN, .max = CH_USBKEY_PIN_MAX,
	  .check = ch_usbkey_check_pin,
	  .offset = offsetof(struct user_pin_input, pin) },
};

const ch_schema_t api_usb_key_user_pin_schema =
    CH_SCHEMA(user_pin_fields, struct user_pin_input);

/* ---- answers ------------------------------------------------------------ */

static void
key_not_found(ch_req_t *req)
{
	ch_problem(req, CH_P_NOT_FOUND, "no USB key with this serial");
}

/* The {serial} of the path, or NULL with the 404 set. */
static const char *
path_serial(ch_req_t *req)
{
	const char *serial = ch_req_param(req, "serial"), *why;

	if (serial == NULL || ch_usbkey_check_serial(serial, &why) != 0) {
		key_not_found(req);
		return NULL;
	}
	return serial;
}

/* Answers with the UsbKey object of serial.  0, or -1 (gone, or a
 * database error). */
static int
respond_key(ch_req_t *req, int status, const char *serial)
{
	int found;
	const char *json = ch_usbkey_json(&req->ctx, serial, &found);

	if (json == NULL)
		return -1;
	ch_resp_json_text(req, status, json, strlen(json));
	return 0;
}

/* The answer to a refusal of the domain's; 0, or -1 for an error. */
static int
refused(ch_req_t *req, ch_usbkey_result_t r, const ch_usbkey_why_t *why)
{
	json_t *p;

	switch (r) {
	case CH_USBKEY_NOT_FOUND:
		key_not_found(req);
		return 0;
	case CH_USBKEY_NO_SIGNER:
		ch_problem(req, CH_P_SIGNER_UNAVAILABLE, "%s", why->detail);
		ch_resp_header(req, "Retry-After", SIGNER_RETRY_AFTER);
		return 0;
	case CH_USBKEY_BAD_KEY:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/requester_key",
		    "requester_key %s", why->detail);
		return 0;
	case CH_USBKEY_NOT_WAITING:
	case CH_USBKEY_TAKEN:
	case CH_USBKEY_WRONG_STATUS:
	case CH_USBKEY_NOT_ISSUED:
	case CH_USBKEY_NO_PHONE:
	case CH_USBKEY_PIN_NOT_SENT:
		p = ch_problem(req, CH_P_CONFLICT, "%s", why->detail);
		if (why->app_status != NULL)
			json_object_set_new(p, "status_now",
			    json_string(why->app_status));
		if (why->key_status != NULL)
			json_object_set_new(p, "key_status",
			    json_string(why->key_status));
		return 0;
	case CH_USBKEY_OK:
	case CH_USBKEY_SAME:
	case CH_USBKEY_ERROR:
	case CH_USBKEY__MAX:
	default:
		return -1;
	}
}

/* ---- POST /api/v1/usb-keys ---------------------------------------------- */

int
api_usb_key_create(ch_req_t *req)
{
	const struct bind_input *in = req->input;
	ch_usbkey_why_t why;
	ch_usbkey_result_t r;

	r = ch_usbkey_bind(&req->ctx, in->serial, in->application_id.v, &why);
	if (r == CH_USBKEY_NOT_FOUND) {
		/* The application is named in the body, not the path. */
		ch_problem_field(req, CH_P_INVALID_FIELD, "/application_id",
		    "application_id names no application");
		return 0;
	}
	if (r != CH_USBKEY_OK && r != CH_USBKEY_SAME)
		return refused(req, r, &why);
	ch_resp_header(req, "Location", ch_psprintf(req->ctx.pool,
	    "/api/v1/usb-keys/%s", in->serial));
	return respond_key(req, r == CH_USBKEY_OK ? 201 : 200, in->serial);
}

/* ---- GET /api/v1/usb-keys ----------------------------------------------- */

static int
cursor_parse(const char *value, void *slot)
{
	const char *why;

	if (ch_usbkey_check_serial(value, &why) != 0)
		return -1;
	*(const char **)slot = value;
	return 0;
}

static const ch_qparam_t list_params[] = {
	{ .name = "status", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_usbkey_list_t, status),
	  .values = ch_usbkey_status_codes },
	{ .name = "application_id", .kind = CH_Q_ID,
	  .offset = offsetof(ch_usbkey_list_t, app_id) },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_usbkey_list_t, limit), .max = LIST_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(ch_usbkey_list_t, after), .parse = cursor_parse,
	  .detail = "cursor must be a next_cursor this operation gave" },
};

int
api_usb_key_list(ch_req_t *req)
{
	ch_usbkey_list_t q = { .limit = LIST_LIMIT_DEFAULT };
	const char *json;

	if (ch_query_parse(req, list_params,
	    sizeof list_params / sizeof list_params[0],
	    "unknown query parameter; this operation takes status, "
	    "application_id, limit and cursor", &q) != 0)
		return 0;
	if ((json = ch_usbkey_list_json(&req->ctx, &q)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, json, strlen(json));
	return 0;
}

/* ---- GET /api/v1/usb-keys/{serial} -------------------------------------- */

int
api_usb_key_get(ch_req_t *req)
{
	const char *serial = path_serial(req), *json;
	int found;

	if (serial == NULL)
		return 0;
	json = ch_usbkey_json(&req->ctx, serial, &found);
	if (found < 0)
		return -1;
	if (!found) {
		key_not_found(req);
		return 0;
	}
	ch_resp_json_text(req, 200, json, strlen(json));
	return 0;
}

/* ---- POST /api/v1/usb-keys/{serial}/so-pin ------------------------------ */

int
api_usb_key_so_pin(ch_req_t *req)
{
	const struct so_pin_input *in = req->input;
	unsigned char spki[REQUESTER_KEY_MAX];
	const char *serial = path_serial(req), *sealed;
	ch_usbkey_why_t why;
	ch_usbkey_result_t r;
	long n;

	if (serial == NULL)
		return 0;
	n = ch_unbase64_strict(in->requester_key, spki, sizeof spki);
	if (n <= 0) {
		ch_problem_field(req, CH_P_INVALID_FIELD, "/requester_key",
		    "requester_key must be the base64 of a DER "
		    "SubjectPublicKeyInfo");
		return 0;
	}
	r = ch_usbkey_so_pin(&req->ctx, serial, spki, (size_t)n, &sealed,
	    &why);
	if (r != CH_USBKEY_OK)
		return refused(req, r, &why);
	ch_resp_json(req, 200, json_pack("{s:s}", "sealed", sealed));
	return 0;
}

/* ---- POST /api/v1/usb-keys/{serial}/user-pin ---------------------------- */

int
api_usb_key_user_pin(ch_req_t *req)
{
	const struct user_pin_input *in = req->input;
	const char *serial = path_serial(req), *sent_to;
	ch_usbkey_why_t why;
	ch_usbkey_result_t r;

	if (serial == NULL)
		return 0;
	r = ch_usbkey_user_pin(&req->ctx, serial, in->pin, &sent_to, &why);
	if (r != CH_USBKEY_OK)
		return refused(req, r, &why);
	ch_resp_json(req, 202, json_pack("{s:s,s:s}", "serial", serial,
	    "sent_to", sent_to));
	return 0;
}

/* ---- POST /api/v1/usb-keys/{serial}/personalised ------------------------ */

int
api_usb_key_personalised(ch_req_t *req)
{
	const char *serial = path_serial(req);
	ch_usbkey_why_t why;
	ch_usbkey_result_t r;

	if (serial == NULL)
		return 0;
	r = ch_usbkey_personalised(&req->ctx, serial, &why);
	if (r != CH_USBKEY_OK)
		return refused(req, r, &why);
	return respond_key(req, 200, serial);
}
