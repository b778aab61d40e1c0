/*
 * Shipping and delivery (issue 14; certhall/domain/shipment.h,
 * docs/CONTRACT.md "Shipping and delivery"):
 *
 *   POST /applications/{id}/shipment   an operator ships the personalised
 *                                      USB key (201 Shipment)
 *   GET  /applications/{id}/shipment   the owner and staff read it
 *   POST /applications/{id}/delivery   an operator records who signed for
 *                                      it (200 Shipment; completed)
 *   POST /couriers/notify/{courier}    the courier's signed callback (204)
 *
 * Decisions: without tracking_no the waybill is made through the courier
 * interface (CERTHALL_COURIER_*), and carrier, if given, must be that
 * courier's name; with tracking_no (typed from a carrier's own waybill)
 * carrier is required.  The courier is asked inside the transaction that
 * holds the application's row lock, after every check passed: one call of
 * at most 5 s, idempotent on our reference, so a rollback after it loses
 * nothing (the retry gets the same waybill).
 */
#include "api.h"
#include "certhall/base/log.h"
#include "certhall/base/validate.h"
#include "certhall/domain/shipment.h"
#include "certhall/domain/usbkey.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

static const char *const check_kinds[] = { "signature", "id_check", NULL };

struct ship_input {
	const char *usb_key_serial;
	const char *carrier;
	const char *tracking_no;
};

static int
check_tracking(const char *s, const char **why)
{
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(s)) {
		*why = "must be letters, digits and '-', as on the waybill";
		return -1;
	}
	return 0;
}

static const ch_field_t ship_fields[] = {
	{ .name = "usb_key_serial", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = CH_USBKEY_SERIAL_MIN, .max = CH_USBKEY_SERIAL_MAX,
	  .check = ch_usbkey_check_serial,
	  .offset = offsetof(struct ship_input, usb_key_serial) },
	{ .name = "carrier", .type = CH_F_STRING, .min = 1,
	  .max = CH_SHIP_CARRIER_MAX, .check = ch_check_name,
	  .offset = offsetof(struct ship_input, carrier) },
	{ .name = "tracking_no", .type = CH_F_STRING,
	  .min = CH_SHIP_TRACKING_MIN, .max = CH_SHIP_TRACKING_MAX,
	  .check = check_tracking,
	  .offset = offsetof(struct ship_input, tracking_no) },
};

const ch_schema_t api_shipment_schema =
    CH_SCHEMA(ship_fields, struct ship_input);

struct delivery_input {
	const char *signed_by_name;
	int check_kind;
	const char *authorisation;
};

static const ch_field_t delivery_fields[] = {
	{ .name = "signed_by_name", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = CH_SHIP_NAME_MAX, .check = ch_check_name,
	  .offset = offsetof(struct delivery_input, signed_by_name) },
	{ .name = "check_kind", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = check_kinds,
	  .offset = offsetof(struct delivery_input, check_kind) },
	{ .name = "authorisation", .type = CH_F_STRING, .min = 1,
	  .max = CH_SHIP_AUTH_MAX, .check = ch_check_reason,
	  .offset = offsetof(struct delivery_input, authorisation) },
};

const ch_schema_t api_delivery_schema =
    CH_SCHEMA(delivery_fields, struct delivery_input);

/* Answers a refusal of the domain's after rolling back; 0 or -1. */
static int
refused(ch_req_t *req, ch_ship_result_t r, ch_app_status_t now,
    const char *why)
{
	if (ch_db_rollback(req->ctx.db) != 0)
		return -1;
	switch (r) {
	case CH_SHIP_NOT_FOUND:
		ch_problem(req, CH_P_NOT_FOUND, "this application has no "
		    "shipment");
		return 0;
	case CH_SHIP_CONFLICT:
		api_app_refuse_state(req, now, why);
		return 0;
	case CH_SHIP_BAD_KEY:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/usb_key_serial",
		    "%s", why);
		return 0;
	case CH_SHIP_TAKEN:
		json_object_set_new(ch_problem(req, CH_P_CONFLICT, "this "
		    "carrier's tracking number is another shipment's"), "field",
		    json_string("/tracking_no"));
		return 0;
	case CH_SHIP_NOT_HANDLER:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/signed_by_name",
		    "%s", why);
		return 0;
	default:
		return -1;
	}
}

/* The tracking number and carrier of a shipment without a typed one: a
 * waybill from the courier.  0 with *s filled, 1 with the answer set
 * (after a rollback), -1. */
static int
waybill(ch_req_t *req, const ch_courier_parcel_t *parcel, ch_ship_t *s)
{
	ch_courier_t *c = api_courier(req);
	const char *why = NULL;

	if (c == NULL || (s->carrier != NULL &&
	    strcmp(s->carrier, ch_courier_name(c)) != 0)) {
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, CH_P_MISSING_FIELD, "/tracking_no",
		    c == NULL ? "tracking_no is required: no courier is "
		    "integrated here to make a waybill"
		    : "tracking_no is required for a carrier other than the "
		    "integrated courier");
		return 1;
	}
	switch (ch_courier_waybill(c, req->ctx.pool, parcel, &s->tracking_no,
	    &why)) {
	case CH_COURIER_OK:
		s->carrier = ch_courier_name(c);
		s->via_courier = true;
		return 0;
	default:
		ch_warn("courier waybill for \"%s\" failed: %s",
		    parcel->reference, why);
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem(req, CH_P_SERVICE_UNAVAILABLE, "the courier could "
		    "not make a waybill now; try again, or type a tracking "
		    "number");
		return 1;
	}
}

int
api_shipment_create(ch_req_t *req)
{
	const struct ship_input *in = req->input;
	ch_ship_t s = { .usb_key_serial = in->usb_key_serial,
	    .carrier = in->carrier, .tracking_no = in->tracking_no };
	const char *json = NULL, *why = NULL;
	ch_courier_parcel_t parcel;
	ch_ship_result_t r;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if (in->tracking_no != NULL && in->carrier == NULL) {
		ch_problem_field(req, CH_P_MISSING_FIELD, "/carrier",
		    "carrier is required with a typed tracking_no");
		return 0;
	}
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	if ((r = ch_ship_check(&req->ctx, &a, in->usb_key_serial, &parcel,
	    &why)) != CH_SHIP_OK)
		return refused(req, r, a.status, why);
	if (s.tracking_no == NULL && (rc = waybill(req, &parcel, &s)) != 0)
		return rc < 0 ? -1 : 0;
	if ((r = ch_ship_record(&req->ctx, &a, &s, &json)) != CH_SHIP_OK)
		return refused(req, r, a.status, NULL);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, 201, json, strlen(json));
	return 0;
}

int
api_shipment_get(ch_req_t *req)
{
	const char *json = NULL;
	long long id;
	ch_app_t a;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	switch (ch_ship_get(&req->ctx, id, &json)) {
	case CH_SHIP_OK:
		ch_resp_json_text(req, 200, json, strlen(json));
		return 0;
	case CH_SHIP_NOT_FOUND:
		ch_problem(req, CH_P_NOT_FOUND, "this application has no "
		    "shipment");
		return 0;
	default:
		return -1;
	}
}

int
api_delivery_create(ch_req_t *req)
{
	const struct delivery_input *in = req->input;
	ch_delivery_t d = { .signed_by_name = in->signed_by_name,
	    .check_kind = check_kinds[in->check_kind],
	    .authorisation = in->authorisation };
	const char *json = NULL, *why = NULL;
	ch_ship_result_t r;
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_READ_LOCKED, &a)) <= 0)
		return rc;
	r = ch_ship_deliver(&req->ctx, id, NULL, NULL, &d, &json, &why);
	if (r == CH_SHIP_NOT_FOUND) {
		/* The application is there: it has not shipped. */
		r = CH_SHIP_CONFLICT;
		why = "the application is not shipped";
	}
	if (r != CH_SHIP_OK)
		return refused(req, r, a.status, why);
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, 200, json, strlen(json));
	return 0;
}

static json_t *
refuse_callback(ch_req_t *req, ch_problem_t kind, const char *header,
    const char *why)
{
	json_t *p;

	ch_warn("courier callback refused: %s", why);
	p = ch_problem(req, kind, "%s", why);
	if (header != NULL)
		json_object_set_new(p, "header", json_string(header));
	return p;
}

int
api_courier_notify(ch_req_t *req)
{
	const char *name = ch_req_param(req, "courier"), *why = NULL;
	const char *json = NULL;
	ch_courier_event_t ev;
	ch_delivery_t d;
	ch_courier_t *c = api_courier(req);
	ch_ship_result_t r;
	int used;

	if (c == NULL || name == NULL || strcmp(name, ch_courier_name(c)) != 0) {
		json_object_set_new(refuse_callback(req, CH_P_NOT_FOUND, NULL,
		    "no such courier"), "parameter", json_string("courier"));
		return 0;
	}
	switch (ch_courier_verify_notice(c, req->ctx.pool,
	    ch_req_env(req, "HTTP_X_COURIER_TIMESTAMP"),
	    ch_req_env(req, "HTTP_X_COURIER_NONCE"),
	    ch_req_env(req, "HTTP_X_COURIER_SIGNATURE"), req->body,
	    req->body_len, (long long)time(NULL), &ev, &why)) {
	case CH_COURIER_NOTICE_OK:
		break;
	case CH_COURIER_NOTICE_STALE:
		refuse_callback(req, CH_P_BAD_REQUEST, "X-Courier-Timestamp",
		    why);
		return 0;
	case CH_COURIER_NOTICE_MALFORMED:
		refuse_callback(req, CH_P_BAD_REQUEST, NULL, why);
		return 0;
	default:
		refuse_callback(req, CH_P_UNAUTHORIZED, "X-Courier-Signature",
		    why);
		return 0;
	}
	/* Verified: what follows is done for the courier, as the system. */
	req->ctx.principal.kind = CH_ACTOR_SYSTEM;
	req->ctx.principal.id = 0;
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	if ((used = ch_ship_nonce_use(&req->ctx, ch_req_env(req,
	    "HTTP_X_COURIER_NONCE"))) <= 0) {
		if (used < 0 || ch_db_rollback(req->ctx.db) != 0)
			return -1;
		refuse_callback(req, CH_P_UNAUTHORIZED, "X-Courier-Nonce",
		    "X-Courier-Nonce was used before: a replayed callback");
		return 0;
	}
	d = (ch_delivery_t){ .signed_by_name = ev.signed_by_name,
	    .check_kind = ev.check_kind, .authorisation = ev.authorisation,
	    .courier_event_id = ev.event_id, .delivered_at = ev.delivered_at };
	r = ch_ship_deliver(&req->ctx, 0, name, ev.tracking_no, &d, &json, &why);
	switch (r) {
	case CH_SHIP_OK:
	case CH_SHIP_DUPLICATE:
		break;
	case CH_SHIP_NOT_FOUND:
	case CH_SHIP_CONFLICT:
	case CH_SHIP_NOT_HANDLER:
		/* The nonce stays used: keep it, refuse the event. */
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		ch_warn("courier event \"%s\" for \"%s\" refused: %s",
		    ev.event_id, ev.tracking_no, why ? why : "no such shipment");
		if (r == CH_SHIP_NOT_HANDLER)
			ch_problem_field(req, CH_P_INVALID_FIELD,
			    "/signed_by_name", "%s", why);
		else
			ch_problem(req, r == CH_SHIP_NOT_FOUND ? CH_P_NOT_FOUND
			    : CH_P_CONFLICT, "%s", why ? why
			    : "no shipment has this tracking number");
		return 0;
	default:
		return -1;
	}
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_info("courier event \"%s\" for \"%s\": %s", ev.event_id,
	    ev.tracking_no, r == CH_SHIP_OK ? "delivered" : "duplicate");
	ch_resp_raw(req, 204, NULL, NULL, 0);
	return 0;
}
