/*
 * The handlers, one file per REST resource under api/.  Each takes a
 * request whose body (if any) is already validated into req->input and
 * leaves a response in req->resp; see certhall/router.h for the contract.
 */
#ifndef CERTHALL_API_H
#define CERTHALL_API_H

#include "certhall/clients/courier.h"
#include "certhall/clients/paygw.h"
#include "certhall/domain/application.h"
#include "certhall/domain/certificate.h"
#include "certhall/store/db.h"
#include "certhall/web/http.h"
#include "certhall/base/json.h"
#include "certhall/web/router.h"

/* The application's route table (api/routes.c). */
extern const ch_route_t ch_routes[];
extern const size_t ch_nroutes;

/* ---- api/common.c: one application's results as HTTP answers ---------- */

/* Sets the 404 of an application that is absent or not the caller's
 * (one answer for both: existence never leaks). */
void api_app_not_found(ch_req_t *req);
/* Parses the path parameter {id} as an application id.  0 with *id set, or
 * -1 with the 404 set (a malformed id is as unknown as a missing one). */
int api_app_path_id(ch_req_t *req, long long *id);
/* ch_app_load() / ch_app_begin_load() for the caller: 1 found (*out
 * filled), 0 with the 404 set (after begin_load the transaction is rolled
 * back), -1 after a database error. */
int api_app_load(ch_req_t *req, long long id, ch_app_access_t want, ch_app_t *out);
int api_app_begin_load(ch_req_t *req, long long id, ch_app_access_t want,
    ch_app_t *out);
/* api_app_path_id() and api_app_load() in one: 1 found (*id and *out
 * set), 0 with the 404 set, -1 after a database error. */
int api_app_path_load(ch_req_t *req, ch_app_access_t want, long long *id,
    ch_app_t *out);
/* Answers a GET about the application of the path (visible to the
 * caller, CH_APP_READ) with 200 and the JSON text json() gives for it:
 * what GET .../history and .../materials do.  A handler's return value. */
int api_app_show(ch_req_t *req,
    const char *(*json)(ch_ctx_t *ctx, long long id, size_t *len));
/* Answers with the full Application object of id and ETag "v<version>".
 * 0, or -1 (row gone or database error). */
int api_app_respond(ch_req_t *req, int status, long long id);
/* The same from a statement that wrote the row and returned its version
 * and JSON text (RETURNING ..., CH_SQL_APP_JSON "::text"). */
void api_app_respond_with(ch_req_t *req, int status, int version,
    const char *json);
/* Sets a submit refusal: 422 not-eligible with "rule" (and the missing
 * arrays for "complete"), or 409 conflict with "rule" for
 * one_open_per_certificate. */
void api_app_refuse(ch_req_t *req, const ch_app_verdict_t *v);
/* Sets the 422 of a refused body field: missing-field or invalid-field
 * with the pointer "/<field>" and the refusal's detail. */
void api_refuse_field(ch_req_t *req, const ch_app_refusal_t *r);
/* Sets a 409 with detail, naming the status the application was loaded in
 * ("status_now"). */
void api_app_refuse_state(ch_req_t *req, ch_app_status_t now,
    const char *detail);
/* Sets the 409 of a move that found application id in another status,
 * naming that status ("status_now"). */
void api_app_conflict(ch_req_t *req, long long id, const char *action);
/* A ch_qparam_t parse function for a list's "cursor": the long long id at
 * slot (ch_app_cursor_decode()). */
int api_cursor_parse(const char *value, void *slot);
/* The end of a read handler: 200 with the JSON text body (len bytes,
 * built by PostgreSQL), or -1 when body is NULL (the domain logged the
 * database error; the server answers 5xx).  A handler's return value. */
int api_send_text(ch_req_t *req, const char *body, size_t len);
/* Whether an If-None-Match value lists etag (weak comparison, RFC 9110
 * §13.1.2: W/ prefixes are ignored; "*" matches anything).  Pure. */
int api_etag_listed(const char *header, const char *etag);

int api_health(ch_req_t *req);
int api_catalog(ch_req_t *req);
int api_quote_create(ch_req_t *req);
extern const ch_schema_t api_quote_schema;

/* api/auth.c: sign-in and sessions */
int api_sms_code_create(ch_req_t *req);
int api_session_create(ch_req_t *req);
int api_staff_session_create(ch_req_t *req);
int api_session_delete(ch_req_t *req);
extern const ch_schema_t api_sms_code_schema;
extern const ch_schema_t api_session_schema;
extern const ch_schema_t api_staff_session_schema;

/* api/me.c */
int api_me_get(ch_req_t *req);
int api_me_password_put(ch_req_t *req);
extern const ch_schema_t api_password_schema;

/* api/staff.c */
int api_staff_list(ch_req_t *req);
int api_staff_create(ch_req_t *req);
int api_staff_get(ch_req_t *req);
int api_staff_patch(ch_req_t *req);
extern const ch_schema_t api_staff_create_schema;
extern const ch_schema_t api_staff_patch_schema;

/* api/integrators.c */
int api_integrator_list(ch_req_t *req);
int api_integrator_create(ch_req_t *req);
int api_integrator_patch(ch_req_t *req);
extern const ch_schema_t api_integrator_create_schema;
extern const ch_schema_t api_integrator_patch_schema;

/* api/audit.c */
int api_audit_list(ch_req_t *req);

/* api/applications.c */
int api_application_create(ch_req_t *req);
int api_application_list(ch_req_t *req);
int api_application_get(ch_req_t *req);
int api_application_patch(ch_req_t *req);
int api_application_cancel(ch_req_t *req);
int api_application_submit(ch_req_t *req);
int api_application_history(ch_req_t *req);
extern const ch_schema_t api_application_create_schema;
extern const ch_schema_t api_application_patch_schema;
extern const ch_schema_t api_application_cancel_schema;
extern const ch_schema_t api_application_submit_schema;

/* api/verification.c: verify by SMS code, prove possession (issue 5) */
int api_verification_code_create(ch_req_t *req);
int api_verification_create(ch_req_t *req);
int api_possession_challenge_create(ch_req_t *req);
int api_possession_create(ch_req_t *req);
extern const ch_schema_t api_verification_empty_schema;
extern const ch_schema_t api_verification_schema;
extern const ch_schema_t api_possession_schema;

/* api/materials.c */
int api_material_list(ch_req_t *req);
int api_material_put(ch_req_t *req);
int api_material_get(ch_req_t *req);

/* api/review.c */
int api_review_queue(ch_req_t *req);
int api_application_review(ch_req_t *req);
extern const ch_schema_t api_review_schema;

/* api/payments.c: pay (SPEC §6) */
int api_payment_create(ch_req_t *req);
int api_payment_get(ch_req_t *req);
int api_payment_notify(ch_req_t *req);
int api_counter_payment_create(ch_req_t *req);
int api_refund_create(ch_req_t *req);
int api_refund_retry(ch_req_t *req);
extern const ch_schema_t api_payment_create_schema;
extern const ch_schema_t api_counter_payment_schema;
extern const ch_schema_t api_refund_schema;
extern const ch_schema_t api_refund_retry_schema;
/* This worker's payment gateway client (req->worker), NULL when online
 * payment is off.  Borrowed. */
ch_paygw_t *api_paygw(const ch_req_t *req);
/* Closes these orders (a NULL-terminated list of out_trade_no, or NULL) at
 * the gateway, best effort, logging failures: after a commit that closed
 * them in our books (certhall/domain/payment.h ch_payment_close_open()). */
void api_payment_close_at_gateway(ch_req_t *req, const char *const *trade_nos);

/* ---- api/worker.c: what each worker keeps (certhall/web/server.h) ----- */

/* What certhall-api reads once at start, in the master, as the user that
 * started it (src/bin/api/main.c); each worker has its copy after fork. */
typedef struct api_settings {
	const ch_paygw_config_t *paygw;	/* NULL: online payment is off */
	const ch_courier_config_t *courier; /* NULL: no courier integrated */
} api_settings_t;

/* A worker's state (declared by the web layer, ch_worker_state_t; reached
 * as req->worker): the clients made once per worker after fork. */
struct ch_worker_state {
	ch_paygw_t *paygw;		/* NULL: online payment is off */
	ch_courier_t *courier;		/* NULL: no courier integrated */
};

/*
 * The server's worker_init and worker_fini (ch_server_config_t) for
 * settings (an api_settings_t): makes this worker's clients from the
 * settings read at start.  NULL (logged) when one cannot be made: the
 * worker exits and the master starts another.  api_worker_fini releases
 * what api_worker_init made; NULL is a no-op.
 */
ch_worker_state_t *api_worker_init(const void *settings);
void api_worker_fini(ch_worker_state_t *state);

/* api/certificates.c: issued certificates as subscribers and staff read
 * them, and the confirmation that one is installed (issue 12) */
int api_certificate_list(ch_req_t *req);
int api_certificate_get(ch_req_t *req);
/* GET /certificates/{serial}/der, /pem, /p7c: the path's last segment. */
int api_certificate_file(ch_req_t *req);
int api_certificate_installed(ch_req_t *req);
int api_application_certificate(ch_req_t *req);
extern const ch_schema_t api_certificate_installed_schema;
/* The format Accept asks for among a certificate's representations: 0
 * with *format set (CH_CERT_FORMAT__MAX for JSON), or -1 with the 406
 * answered.  Sets Vary: Accept. */
int api_cert_negotiate(ch_req_t *req, ch_cert_format_t *format);
/* The format a suffix route names by its last segment (der, pem, p7c). */
ch_cert_format_t api_cert_path_format(const ch_req_t *req);
/* Answers 200 with a certificate file (bytes of ctx.pool) of format, as
 * attachment "<name>.cer|.pem|.p7c". */
void api_cert_send(ch_req_t *req, ch_cert_format_t format,
    const unsigned char *bytes, size_t len, const char *name);

/* api/ca.c: the CA's certificates for relying parties (public) */
int api_ca_list(ch_req_t *req);
int api_ca_get(ch_req_t *req);
/* GET /ca/{name}/der, /pem, /p7c */
int api_ca_file(ch_req_t *req);

/* api/issuance.c: the key request and the operators' queue (issue 12) */
int api_csr_create(ch_req_t *req);
int api_issuance_queue(ch_req_t *req);
extern const ch_schema_t api_csr_schema;
/* api/usb_keys.c: USB keys at the personalisation station (issue 12).
 * personalised takes an empty object (api_verification_empty_schema). */
int api_usb_key_create(ch_req_t *req);
int api_usb_key_list(ch_req_t *req);
int api_usb_key_get(ch_req_t *req);
int api_usb_key_so_pin(ch_req_t *req);
int api_usb_key_user_pin(ch_req_t *req);
int api_usb_key_personalised(ch_req_t *req);
extern const ch_schema_t api_usb_key_bind_schema;
extern const ch_schema_t api_usb_key_so_pin_schema;
extern const ch_schema_t api_usb_key_user_pin_schema;

/* api/ocsp.c: the OCSP responder (issue 13) */
int api_ocsp_post(ch_req_t *req);
int api_ocsp_get(ch_req_t *req);
/* api/seals.c: e-seals (issue 13) */
int api_seal_list(ch_req_t *req);
int api_seal_get(ch_req_t *req);
int api_seal_der(ch_req_t *req);

/* api/unlock.c: the one-time unlock (issue 13) */
int api_unlock_create(ch_req_t *req);
int api_unlock_get(ch_req_t *req);
int api_unlock_confirm(ch_req_t *req);
extern const ch_schema_t api_unlock_schema;

/* api/revocation.c: revocation by staff, the CRLs (issue 13) */
int api_certificate_revoke(ch_req_t *req);
int api_crl_get(ch_req_t *req);
extern const ch_schema_t api_revocation_schema;
/* The 404 of a serial that names no certificate (api/certificates.c). */
void api_certificate_not_found(ch_req_t *req);

/* api/shipments.c: shipping the USB key, delivery, the courier's
 * callback (issue 14) */
int api_shipment_create(ch_req_t *req);
int api_shipment_get(ch_req_t *req);
int api_delivery_create(ch_req_t *req);
int api_courier_notify(ch_req_t *req);
extern const ch_schema_t api_shipment_schema;
extern const ch_schema_t api_delivery_schema;
/* This worker's courier client (req->worker), NULL when none is
 * integrated.  Borrowed. */
ch_courier_t *api_courier(const ch_req_t *req);

/* api/calendar.c: the working-day calendar, the deadline, the fulfilment
 * queue (issue 14).  PUT .../years/{year} takes its JSON raw (an array of
 * objects, checked there). */
int api_calendar_status(ch_req_t *req);
int api_calendar_year_get(ch_req_t *req);
int api_calendar_year_put(ch_req_t *req);
int api_calendar_day_put(ch_req_t *req);
int api_calendar_deadline(ch_req_t *req);
int api_fulfilment_queue(ch_req_t *req);
extern const ch_schema_t api_calendar_day_schema;

/* api/invoices.c: the e-invoice and the finance views (issue 14). */
int api_invoice_get(ch_req_t *req);
int api_invoice_pdf(ch_req_t *req);
int api_application_invoices(ch_req_t *req);
int api_finance_invoices(ch_req_t *req);
int api_finance_payments(ch_req_t *req);
int api_finance_refunds(ch_req_t *req);

#endif
