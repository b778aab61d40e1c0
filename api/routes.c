/*
 * The route table: the whole API on one screen, path by path as in
 * openapi.yaml.  Every route states its roles (certhall/router.h); the
 * server refuses to start if one does not, and the authorization matrix
 * test (tests/e2e/test_authz_matrix.py) reads this table through
 * `certhall-admin routes`.
 */
#include "api.h"

#define KiB 1024
#define MiB (1024 * KiB)

/* What a scanned material may be (SPEC §3); the handler checks the bytes. */
static const char *const material_types[] = {
	"application/pdf", "image/jpeg", "image/png", NULL,
};

/* A gateway's notification: JSON, kept raw, for its signature covers the
 * bytes as sent. */
static const char *const json_types[] = { "application/json", NULL };

#define APPLICANTS (CH_ROLE_APPLICANT | CH_ROLE_INTEGRATOR)

const ch_route_t ch_routes[] = {
	{ CH_GET,  "/api/v1/health",  api_health,  CH_ROLE_PUBLIC, NULL, 0, NULL },
	{ CH_GET,  "/api/v1/catalog", api_catalog, CH_ROLE_PUBLIC, NULL, 0, NULL },
	{ CH_POST, "/api/v1/quotes",  api_quote_create, CH_ROLE_PUBLIC,
	  &api_quote_schema, 16 * KiB, NULL },

	/* Sign-in and sessions. */
	{ CH_POST, "/api/v1/auth/sms-codes", api_sms_code_create,
	  CH_ROLE_PUBLIC, &api_sms_code_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/auth/sessions", api_session_create,
	  CH_ROLE_PUBLIC, &api_session_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/auth/staff-sessions", api_staff_session_create,
	  CH_ROLE_PUBLIC, &api_staff_session_schema, 1 * KiB, NULL },
	{ CH_DELETE, "/api/v1/auth/sessions/current", api_session_delete,
	  CH_ROLE_APPLICANT | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/me", api_me_get,
	  CH_ROLE_APPLICANT | CH_ROLE_INTEGRATOR | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_PUT, "/api/v1/me/password", api_me_password_put,
	  CH_ROLE_STAFF_ALL, &api_password_schema, 1 * KiB, NULL },

	/* Administration. */
	{ CH_GET, "/api/v1/staff", api_staff_list, CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_POST, "/api/v1/staff", api_staff_create, CH_ROLE_ADMIN,
	  &api_staff_create_schema, 4 * KiB, NULL },
	{ CH_GET, "/api/v1/staff/{id}", api_staff_get, CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_PATCH, "/api/v1/staff/{id}", api_staff_patch, CH_ROLE_ADMIN,
	  &api_staff_patch_schema, 4 * KiB, NULL },
	{ CH_GET, "/api/v1/integrators", api_integrator_list, CH_ROLE_ADMIN,
	  NULL, 0, NULL },
	{ CH_POST, "/api/v1/integrators", api_integrator_create, CH_ROLE_ADMIN,
	  &api_integrator_create_schema, 1 * KiB, NULL },
	{ CH_PATCH, "/api/v1/integrators/{id}", api_integrator_patch,
	  CH_ROLE_ADMIN, &api_integrator_patch_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/audit-events", api_audit_list, CH_ROLE_ADMIN,
	  NULL, 0, NULL },

	/* Applications: choose, fill in, submit (SPEC §5 steps 1-2). */
	{ CH_POST, "/api/v1/applications", api_application_create,
	  APPLICANTS | CH_ROLE_COUNTER, &api_application_create_schema,
	  16 * KiB, NULL },
	{ CH_GET, "/api/v1/applications", api_application_list,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/applications/{id}", api_application_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_PATCH, "/api/v1/applications/{id}", api_application_patch,
	  APPLICANTS | CH_ROLE_COUNTER, &api_application_patch_schema,
	  16 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/cancel", api_application_cancel,
	  APPLICANTS | CH_ROLE_COUNTER, &api_application_cancel_schema,
	  2 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/submit", api_application_submit,
	  APPLICANTS | CH_ROLE_COUNTER, &api_application_submit_schema,
	  1 * KiB, NULL },
	{ CH_GET, "/api/v1/applications/{id}/history", api_application_history,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },

	/* Verification (SPEC §6): an SMS code to the certificate's registered
	 * phone, and proof of possession of its key. */
	{ CH_POST, "/api/v1/applications/{id}/verification/sms-code",
	  api_verification_code_create, APPLICANTS | CH_ROLE_COUNTER,
	  &api_verification_empty_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/verification",
	  api_verification_create, APPLICANTS | CH_ROLE_COUNTER,
	  &api_verification_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/possession-challenges",
	  api_possession_challenge_create, APPLICANTS | CH_ROLE_COUNTER,
	  &api_verification_empty_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/possession",
	  api_possession_create, APPLICANTS | CH_ROLE_COUNTER,
	  &api_possession_schema, 8 * KiB, NULL },

	/* Scanned materials. */
	{ CH_GET, "/api/v1/applications/{id}/materials", api_material_list,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_PUT, "/api/v1/applications/{id}/materials/{kind}", api_material_put,
	  APPLICANTS | CH_ROLE_COUNTER, NULL, 10 * MiB, material_types },
	{ CH_GET, "/api/v1/applications/{id}/materials/{kind}", api_material_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },

	/* Review (SPEC §5 step 3). */
	{ CH_GET, "/api/v1/review-queue", api_review_queue, CH_ROLE_REVIEWER,
	  NULL, 0, NULL },
	{ CH_POST, "/api/v1/applications/{id}/review", api_application_review,
	  CH_ROLE_REVIEWER, &api_review_schema, 4 * KiB, NULL },

	/* Pay (SPEC §6). */
	{ CH_POST, "/api/v1/applications/{id}/payment", api_payment_create,
	  APPLICANTS, &api_payment_create_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/applications/{id}/payment", api_payment_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_POST, "/api/v1/payments/notify/{provider}", api_payment_notify,
	  CH_ROLE_PUBLIC, NULL, 64 * KiB, json_types },
	{ CH_POST, "/api/v1/applications/{id}/counter-payment",
	  api_counter_payment_create, CH_ROLE_COUNTER,
	  &api_counter_payment_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/refund", api_refund_create,
	  CH_ROLE_FINANCE, &api_refund_schema, 4 * KiB, NULL },
	{ CH_POST, "/api/v1/applications/{id}/refund/retry", api_refund_retry,
	  CH_ROLE_FINANCE, &api_refund_retry_schema, 1 * KiB, NULL },

	/* Issue (SPEC §5 step 5, §8): the key request that makes a signing
	 * job ready (the handler for renew and change, the personalisation
	 * station for new and reissue), the operators' view of the jobs, and
	 * the certificates that come out. */
	{ CH_POST, "/api/v1/applications/{id}/csr", api_csr_create,
	  APPLICANTS | CH_ROLE_COUNTER | CH_ROLE_OPERATOR, &api_csr_schema,
	  32 * KiB, NULL },
	{ CH_GET, "/api/v1/applications/{id}/certificate",
	  api_application_certificate, APPLICANTS | CH_ROLE_STAFF_ALL,
	  NULL, 0, NULL },
	{ CH_GET, "/api/v1/issuance-queue", api_issuance_queue,
	  CH_ROLE_OPERATOR | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/certificates", api_certificate_list,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/certificates/{serial}", api_certificate_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/certificates/{serial}/der", api_certificate_file,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/certificates/{serial}/pem", api_certificate_file,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/certificates/{serial}/p7c", api_certificate_file,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_POST, "/api/v1/certificates/{serial}/installed",
	  api_certificate_installed, APPLICANTS | CH_ROLE_COUNTER,
	  &api_certificate_installed_schema, 1 * KiB, NULL },

	/* The CA's certificates, for relying parties: no credentials. */
	{ CH_GET, "/api/v1/ca", api_ca_list, CH_ROLE_PUBLIC, NULL, 0, NULL },
	{ CH_GET, "/api/v1/ca/{name}", api_ca_get, CH_ROLE_PUBLIC,
	  NULL, 0, NULL },
	{ CH_GET, "/api/v1/ca/{name}/der", api_ca_file, CH_ROLE_PUBLIC,
	  NULL, 0, NULL },
	{ CH_GET, "/api/v1/ca/{name}/pem", api_ca_file, CH_ROLE_PUBLIC,
	  NULL, 0, NULL },
	{ CH_GET, "/api/v1/ca/{name}/p7c", api_ca_file, CH_ROLE_PUBLIC,
	  NULL, 0, NULL },
	/* USB keys at the personalisation station (issue 12): certhall-station
	 * binds a blank key, gets its SO PIN sealed by the signer, hands over
	 * the user PIN (sent by SMS), and marks it personalised. */
	{ CH_POST, "/api/v1/usb-keys", api_usb_key_create, CH_ROLE_OPERATOR,
	  &api_usb_key_bind_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/usb-keys", api_usb_key_list,
	  CH_ROLE_OPERATOR | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/usb-keys/{serial}", api_usb_key_get,
	  CH_ROLE_OPERATOR | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_POST, "/api/v1/usb-keys/{serial}/so-pin", api_usb_key_so_pin,
	  CH_ROLE_OPERATOR, &api_usb_key_so_pin_schema, 2 * KiB, NULL },
	{ CH_POST, "/api/v1/usb-keys/{serial}/user-pin", api_usb_key_user_pin,
	  CH_ROLE_OPERATOR, &api_usb_key_user_pin_schema, 1 * KiB, NULL },
	{ CH_POST, "/api/v1/usb-keys/{serial}/personalised",
	  api_usb_key_personalised, CH_ROLE_OPERATOR,
	  &api_verification_empty_schema, 1 * KiB, NULL },

	/* OCSP (issue 13, api/ocsp.c): the AIA URL, for relying parties; every
	 * answer is an OCSPResponse, whatever the body (ch_media_any), up to
	 * nginx's outer 1 MiB (requests over 64 KiB are malformed). */
	{ CH_POST, "/ocsp", api_ocsp_post, CH_ROLE_PUBLIC, NULL, 1 * MiB,
	  ch_media_any },
	{ CH_GET, "/ocsp/{request*}", api_ocsp_get, CH_ROLE_PUBLIC, NULL, 0,
	  NULL },
	/* E-seals (issue 13): made by certhall-signer, read here. */
	{ CH_GET, "/api/v1/seals", api_seal_list,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/seals/{id}", api_seal_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_GET, "/api/v1/seals/{id}/der", api_seal_der,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	/* Unlock (issue 13): the key's serial and challenge, the signer's
	 * one-time response, the handler's confirmation. */
	{ CH_POST, "/api/v1/applications/{id}/unlock", api_unlock_create,
	  APPLICANTS | CH_ROLE_COUNTER, &api_unlock_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/applications/{id}/unlock", api_unlock_get,
	  APPLICANTS | CH_ROLE_COUNTER, NULL, 0, NULL },
	{ CH_POST, "/api/v1/applications/{id}/unlock/confirm",
	  api_unlock_confirm, APPLICANTS | CH_ROLE_COUNTER,
	  &api_verification_empty_schema, 1 * KiB, NULL },
	/* Revocation (issue 13): staff with the admin role revoke at once
	 * (key compromise, say); relying parties read the CRLs certhall-signer
	 * makes, at the URLs in the certificates' CRL distribution points. */
	{ CH_POST, "/api/v1/certificates/{serial}/revocation",
	  api_certificate_revoke, CH_ROLE_ADMIN, &api_revocation_schema,
	  2 * KiB, NULL },
	{ CH_GET, "/crl/{name}", api_crl_get, CH_ROLE_PUBLIC, NULL, 0, NULL },
	/* Shipping and delivery (issue 14, api/shipments.c): the operator
	 * ships the personalised USB key and records who signed for it (本人
	 * 签收); the courier reports delivery by a signed callback. */
	{ CH_POST, "/api/v1/applications/{id}/shipment", api_shipment_create,
	  CH_ROLE_OPERATOR, &api_shipment_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/applications/{id}/shipment", api_shipment_get,
	  APPLICANTS | CH_ROLE_STAFF_ALL, NULL, 0, NULL },
	{ CH_POST, "/api/v1/applications/{id}/delivery", api_delivery_create,
	  CH_ROLE_OPERATOR, &api_delivery_schema, 2 * KiB, NULL },
	{ CH_POST, "/api/v1/couriers/notify/{courier}", api_courier_notify,
	  CH_ROLE_PUBLIC, NULL, 16 * KiB, json_types },
	/* Working days and the deadline (issue 14, api/calendar.c): admins
	 * keep the calendar; operators work the fulfilment queue. */
	{ CH_GET, "/api/v1/admin/calendar/status", api_calendar_status,
	  CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/admin/calendar/years/{year}", api_calendar_year_get,
	  CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_PUT, "/api/v1/admin/calendar/years/{year}", api_calendar_year_put,
	  CH_ROLE_ADMIN, NULL, 64 * KiB, json_types },
	{ CH_PUT, "/api/v1/admin/calendar/days/{date}", api_calendar_day_put,
	  CH_ROLE_ADMIN, &api_calendar_day_schema, 1 * KiB, NULL },
	{ CH_GET, "/api/v1/admin/calendar/deadline", api_calendar_deadline,
	  CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/fulfilment", api_fulfilment_queue,
	  CH_ROLE_OPERATOR | CH_ROLE_ADMIN, NULL, 0, NULL },
	/* The e-invoice (issue 14): the handler's own, finance's and admin's;
	 * the finance views by date range, as JSON or CSV. */
	{ CH_GET, "/api/v1/invoices/{id}", api_invoice_get,
	  APPLICANTS | CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/invoices/{id}/pdf", api_invoice_pdf,
	  APPLICANTS | CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/applications/{id}/invoices", api_application_invoices,
	  APPLICANTS | CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/invoices", api_finance_invoices,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/invoices.csv", api_finance_invoices,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/payments", api_finance_payments,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/payments.csv", api_finance_payments,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/refunds", api_finance_refunds,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
	{ CH_GET, "/api/v1/finance/refunds.csv", api_finance_refunds,
	  CH_ROLE_FINANCE | CH_ROLE_ADMIN, NULL, 0, NULL },
};

const size_t ch_nroutes = sizeof ch_routes / sizeof ch_routes[0];
