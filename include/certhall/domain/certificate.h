/*
 * Certificates as the web workers see them (SPEC §2, §8; issue 12): the
 * subscriber's key request on the signing job, the issued certificates
 * and their files, the handler's confirmation that a renewed or changed
 * certificate is installed, the CA's own certificates for relying
 * parties, and the operators' view of the issuance queue.
 *
 * Only certhall-signer writes certificates and CA certificates (its own
 * program and domain module); this module reads them back, takes
 * the key request that makes a job ready for it, and records what happens
 * to a certificate after it is issued.  The functions take a context
 * (certhall/store/ctx.h) and return results; the handlers turn those into
 * HTTP answers.  Nothing here commits.
 *
 * Decisions (docs/CONTRACT.md "Issue the certificate"):
 * - Who sends the key request: for renew and change the handler, whose
 *   USB key already holds the current certificate (the owner, or a counter
 *   clerk for a counter application: the access of ch_app_load()'s
 *   CH_APP_CHANGE); for new and reissue an operator at the
 *   personalisation station, naming the USB key initialised for this
 *   application (usb_key status "initialised").  Anyone else who may read
 *   the application gets the same "not found" as a stranger, as for other
 *   changes.  Revoke and unlock take no key request.
 * - A request is taken once: the application must be issuing, its job
 *   queued without one.  It is stored as DER (a PEM request is decoded;
 *   the codec checked it is DER).
 * - For renew and change the job also gets the serial of the USB key the
 *   old certificate is on (when it has a well-formed one), so that the
 *   signer copies job.usb_key_serial into every certificate it issues.
 * - A refused request changes nothing but leaves an audit event
 *   ("application.csr_refused" with the verdict and the attribute), like
 *   a failed proof of possession: operators can see what a client sent.
 * - Visibility: staff see every certificate; applicants (and integrators
 *   for the user they act for) those with their applicant_id; an
 *   integrator acting for nobody sees none.  Certificates from before
 *   issuance existed have no applicant_id and are visible to staff only.
 * - A certificate's status as shown: "revoked", else "expired" once
 *   not_after has passed, else "valid".
 */
#ifndef CERTHALL_DOMAIN_CERTIFICATE_H
#define CERTHALL_DOMAIN_CERTIFICATE_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/codec/csr.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/ctx.h"

/* ---- the key request (POST /applications/{id}/csr) ----------------------- */

typedef enum {
	CH_CSR_TAKEN,		/* stored on the job, signer woken: out->job_json */
	CH_CSR_NOT_FOUND,	/* absent, or not the caller's to send (above) */
	CH_CSR_WRONG_STATE,	/* not issuing with a queued job waiting for a
				 * key request: out->status_now, out->why */
	CH_CSR_USB_KEY,		/* usb_key_serial missing, not initialised for
				 * this application, or given for renew and
				 * change: out->usb_missing, out->why */
	CH_CSR_REFUSED,		/* the request itself: out->check */
	CH_CSR_ERROR,		/* database error, logged */
} ch_csr_submit_t;

typedef struct {
	const void *csr;		/* PEM or DER, as ch_csr_check() takes */
	size_t csr_len;
	const char *usb_key_serial;	/* NULL when not given */
} ch_csr_request_t;

typedef struct {
	/* CH_CSR_TAKEN: the IssuanceJob object (JSON text, ctx->pool). */
	long long job_id;
	const char *job_json;
	/* CH_CSR_WRONG_STATE */
	ch_app_status_t status_now;
	/* CH_CSR_WRONG_STATE, CH_CSR_USB_KEY: a static phrase. */
	const char *why;
	bool usb_missing;		/* CH_CSR_USB_KEY: none was given */
	/* CH_CSR_REFUSED: the codec's verdict, field and text. */
	ch_csr_result_t check;
} ch_csr_outcome_t;

/*
 * Takes the key request in for application id on behalf of
 * ctx->principal, in the caller's transaction (open one first): locks the
 * application, decides who may send it and whether the job waits for one
 * (above), checks it with ch_csr_check() against the subject of the
 * job's approved snapshot (profile org or personal), and stores it on the
 * job (csr as DER, csr_submitted_at, csr_actor_kind and _id,
 * usb_key_serial), moves the USB key to "requested" (new, reissue),
 * NOTIFYs signing_job and audits "application.csr_submitted".
 * Returns the outcome above.  After CH_CSR_REFUSED only the audit event
 * "application.csr_refused" is queued (commit it); after every other
 * result but CH_CSR_TAKEN roll back.
 */
ch_csr_submit_t ch_cert_csr_submit(ch_ctx_t *ctx, long long id,
    const ch_csr_request_t *in, ch_csr_outcome_t *out);

/* ---- certificates -------------------------------------------------------- */

typedef enum {
	CH_CERT_FOUND,
	CH_CERT_NOT_FOUND,	/* absent, or not visible to the caller */
	CH_CERT_ERROR,		/* database error, logged */
} ch_cert_result_t;

/* A certificate as loaded for the caller.  Strings belong to ctx->pool. */
typedef struct {
	long long id;
	const char *serial;		/* lowercase hex */
	bool has_der;			/* a file to download (issued here) */
	const char *json;		/* the Certificate object, JSON text */
} ch_cert_t;

/*
 * Whether serial has the form of a certificate serial (16 to 40 hex
 * digits, either case; the store keeps them lowercase, see
 * ch_ocsp_serial_hex()).  Writes the lowercase form into out (41 bytes)
 * and returns 0, or returns -1.  Pure.
 */
int ch_cert_serial_parse(const char *serial, char out[41]);

/*
 * Loads the certificate with serial (lowercase, ch_cert_serial_parse())
 * when ctx->principal may see it (above).  CH_CERT_FOUND with *out
 * filled (the full Certificate object: ID numbers in clear),
 * CH_CERT_NOT_FOUND, or CH_CERT_ERROR.  Read-only; in the caller's
 * transaction when one is open.
 */
ch_cert_result_t ch_cert_load(ch_ctx_t *ctx, const char *serial,
    ch_cert_t *out);

/*
 * The certificate issued for application id (certificate.application_id:
 * the new one of a renew, reissue or change, not the one it was about),
 * for a caller the application was already loaded for (ch_app_load()).
 * CH_CERT_NOT_FOUND until it is issued.
 */
ch_cert_result_t ch_cert_of_application(ch_ctx_t *ctx, long long id,
    ch_cert_t *out);

/* The downloads of a certificate (and of a CA certificate). */
typedef enum {
	CH_CERT_DER,		/* the certificate, DER */
	CH_CERT_PEM,		/* the certificate, one PEM "CERTIFICATE" block */
	CH_CERT_P7C,		/* certs-only PKCS#7 (DER): the certificate and
				 * its CA chain up to the root */
	CH_CERT_FORMAT__MAX
} ch_cert_format_t;

/*
 * The file of certificate id (loaded and visible: ch_cert_load(), with
 * has_der) in format: *out (ctx->pool) and *len.  The chain of a P7C is
 * the certificate, then its issuer and each issuer's issuer from
 * ca_certificate (issuer_id) up to the root.  0, or -1 (database error,
 * or bytes on record that do not decode: logged).
 */
int ch_cert_file(ch_ctx_t *ctx, long long id, ch_cert_format_t format,
    const unsigned char **out, size_t *len);

/* What GET /certificates filters on; NULL: any. */
typedef struct {
	const char *status;		/* valid, expired, revoked */
	const char *certificate_type;	/* org, personal */
	const char *credit_code;
	long long before;		/* ids below this (LLONG_MAX: from the newest) */
	long long limit;
} ch_cert_filter_t;

/* The shown statuses, NULL-terminated: valid, expired, revoked. */
extern const char *const ch_cert_status_codes[];

/*
 * One page of the certificates ctx->principal may see (above) that pass
 * f, newest first, in list form (ID numbers masked): {"items": [...],
 * "next_cursor": cursor|null} (ch_app_items_json()) as JSON text (owned by
 * ctx->pool, *len bytes).  NULL after a database error (logged).
 */
const char *ch_cert_list(ch_ctx_t *ctx, const ch_cert_filter_t *f,
    size_t *len);

typedef enum {
	CH_INSTALL_DONE,	/* installed_at set, application completed:
				 * *json is the certificate as it now is */
	CH_INSTALL_NOT_FOUND,	/* absent, or not the caller's to confirm */
	CH_INSTALL_CONFLICT,	/* not a renew or change, or the application
				 * is not issued, or the certificate is
				 * revoked: *status_now, *why */
	CH_INSTALL_ERROR,
} ch_install_t;

/*
 * The handler confirms that the certificate with serial, issued online
 * for a renew or a change (SPEC §2: enabled online, 开通权限), is
 * installed on its USB key: in the caller's transaction, locks its
 * application (ch_app_load() with CH_APP_CHANGE: the owner, or a counter
 * clerk for a counter application), sets certificate.installed_at, moves
 * the application issued → activated → completed (two moves, each with
 * its history row and audit event: certhall/domain/workflow.h; issue 14)
 * and audits "certificate.installed".  *json (ctx->pool) is the
 * Certificate object afterwards; *status_now and *why (static) explain a
 * conflict.  Roll back after anything but CH_INSTALL_DONE.
 */
ch_install_t ch_cert_installed(ch_ctx_t *ctx, const char *serial,
    const char **json, ch_app_status_t *status_now, const char **why);

/* ---- the CA's certificates (GET /ca) -------------------------------------- */

/* A CA certificate as GET /ca/{name} finds it. */
typedef struct {
	long long id;
	const char *name;		/* "<role>-<algorithm>", e.g. issuing-rsa */
	const char *json;		/* the CaCertificate object, JSON text */
} ch_ca_t;

/*
 * The active CA certificates (ca_certificate.active) as the CaCertificate
 * objects of GET /ca (role, algorithm, name, subject, serial, validity in
 * Asia/Shanghai, SHA-256 fingerprints of the certificate and its key,
 * PEM, issuer name and download paths), root first, then issuing, OCSP and
 * seal makers.  Returns a new JSON array (json_decref), or NULL after a
 * database error or a stored certificate that does not decode (logged).
 */
struct json_t *ch_ca_list_new(ch_ctx_t *ctx);

/*
 * Finds the active CA certificate name names: "<role>" or
 * "<role>-<algorithm>" (roles root, issuing, ocsp, seal_maker; algorithms
 * rsa, ec-p256, sm2).  A bare role with several active certificates (the
 * seal maker's ECDSA and SM2 keys) names the first of rsa, ec-p256, sm2.
 * CH_CERT_FOUND with *out filled, CH_CERT_NOT_FOUND (no such name, or
 * none active), or CH_CERT_ERROR.
 */
ch_cert_result_t ch_ca_find(ch_ctx_t *ctx, const char *name, ch_ca_t *out);

/* The file of CA certificate id (ch_ca_find()), as ch_cert_file(): the
 * chain of a P7C starts at the CA certificate itself. */
int ch_ca_file(ch_ctx_t *ctx, long long id, ch_cert_format_t format,
    const unsigned char **out, size_t *len);

/* ---- the issuance queue (operators) ------------------------------------- */

/*
 * The stages of an issuance job, as operators see them (NULL-terminated):
 *   waiting_for_key  queued, no key request yet (new and reissue: the
 *                    station's; renew and change: the handler's)
 *   ready            queued with a key request: the signer will claim it
 *   claimed          a signer holds it (lease_until)
 *   failed           it cannot succeed (last_error, failed_at)
 *   done             issued (certificate_serial)
 *   cancelled        refunded before a signer took it
 */
extern const char *const ch_job_stage_codes[];

/* What GET /issuance-queue filters on. */
typedef struct {
	const char *stage;		/* NULL: the open ones (every stage but
					 * done and cancelled) */
	const char *kind;		/* new, renew, reissue, change; NULL: any */
	long long after;		/* ids above this (0: from the oldest) */
	long long limit;
} ch_job_filter_t;

/*
 * One page of the issuance jobs (kinds new, renew, reissue, change; revoke
 * and unlock jobs are the next issue's) that pass f, oldest first, as
 * IssuanceJob objects: {"items": [...], "next_cursor": cursor|null} as
 * JSON text (owned by ctx->pool, *len bytes).  NULL after a database
 * error (logged).
 */
const char *ch_job_list(ch_ctx_t *ctx, const ch_job_filter_t *f, size_t *len);

#endif
