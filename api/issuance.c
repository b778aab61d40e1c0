/*
 * Issuance from the web side (SPEC §8; issue 12; docs/CONTRACT.md "Issue
 * the certificate"):
 *
 *   POST /api/v1/applications/{id}/csr  the subscriber's key request
 *   GET  /api/v1/issuance-queue         the signing jobs, for operators
 *
 * The web workers never sign: a key request is checked and stored on the
 * application's signing job, and certhall-signer, woken by NOTIFY
 * signing_job, does the rest.  Who may send one and what is checked is
 * certhall/domain/certificate.h's.
 *
 * A refused request is 422 with field "/csr" (the member of the body that
 * holds it) and two members of its own, so a client can tell the cases
 * apart without reading the detail:
 *
 *	csr_verdict    unreadable, bad_signature, bad_key, bad_subject
 *	               (ch_csr_verdict_name())
 *	csr_attribute  for bad_subject, the subject attribute at fault: CN,
 *	               O, organizationIdentifier, serialNumber, C; absent when
 *	               the request has an attribute the certificate never
 *	               carries (the detail says so)
 *
 * The detail names the attribute too ("csr: subject attribute CN differs
 * from the approved application").
 */
#include "api.h"
#include "certhall/codec/csr.h"
#include "certhall/domain/certificate.h"
#include "certhall/domain/usbkey.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#define QUEUE_LIMIT_DEFAULT 20
#define QUEUE_LIMIT_MAX 100
#define SUBJECT_PREFIX "subject."

struct csr_input {
	const char *csr;
	const char *usb_key_serial;
};

static const ch_field_t csr_fields[] = {
	{ .name = "csr", .type = CH_F_STRING,
	  .flags = CH_F_REQUIRED | CH_F_LINES,
	  .min = 1, .max = CH_CSR_MAX_BYTES,
	  .offset = offsetof(struct csr_input, csr) },
	{ .name = "usb_key_serial", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = CH_USBKEY_SERIAL_MIN, .max = CH_USBKEY_SERIAL_MAX,
	  .check = ch_usbkey_check_serial,
	  .offset = offsetof(struct csr_input, usb_key_serial) },
};

const ch_schema_t api_csr_schema = CH_SCHEMA(csr_fields, struct csr_input);

/* The 422 of a request ch_csr_check() refused (see the top); the codec's
 * field is "/csr", "subject" or "subject.<attribute>" (codec/csr.h). */
static void
csr_refused(ch_req_t *req, const ch_csr_result_t *r)
{
	const char *field = r->field != NULL ? r->field : "/csr";
	const char *text = r->text != NULL ? r->text : "is refused";
	json_t *p;

	if (strncmp(field, SUBJECT_PREFIX, strlen(SUBJECT_PREFIX)) == 0) {
		field += strlen(SUBJECT_PREFIX);
		p = ch_problem_field(req, CH_P_INVALID_FIELD, "/csr",
		    "csr: subject attribute %s %s", field, text);
		json_object_set_new(p, "csr_attribute", json_string(field));
	} else if (strcmp(field, "subject") == 0) {
		/* The codec's text for this case names no attribute. */
		p = ch_problem_field(req, CH_P_INVALID_FIELD, "/csr",
		    "csr: the subject has an attribute the certificate's subject"
		    " does not (it has C, O, organizationIdentifier, CN and, for a"
		    " personal certificate, serialNumber)");
	} else {
		p = ch_problem_field(req, CH_P_INVALID_FIELD, "/csr", "csr %s",
		    text);
	}
	json_object_set_new(p, "csr_verdict",
	    json_string(ch_csr_verdict_name(r->verdict)));
}

int
api_csr_create(ch_req_t *req)
{
	const struct csr_input *in = req->input;
	ch_csr_request_t r;
	ch_csr_outcome_t out;
	long long id;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	r.csr = in->csr;
	r.csr_len = strlen(in->csr);
	r.usb_key_serial = in->usb_key_serial;
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_cert_csr_submit(&req->ctx, id, &r, &out)) {
	case CH_CSR_TAKEN:
		ch_resp_json_text(req, 202, out.job_json, strlen(out.job_json));
		return ch_db_commit(req->ctx.db);
	case CH_CSR_REFUSED:
		/* What stays is the audit event of the refusal. */
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		csr_refused(req, &out.check);
		return 0;
	case CH_CSR_NOT_FOUND:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_not_found(req);
		return 0;
	case CH_CSR_WRONG_STATE:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_refuse_state(req, out.status_now, ch_psprintf(
		    req->ctx.pool, "cannot take a key request: %s", out.why));
		return 0;
	case CH_CSR_USB_KEY:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem_field(req, out.usb_missing ? CH_P_MISSING_FIELD
		    : CH_P_INVALID_FIELD, "/usb_key_serial", "%s", out.why);
		return 0;
	default:
		return -1;
	}
}

/* ---- GET /api/v1/issuance-queue ------------------------------------------- */

static const char *const issuance_kinds[] = {
	"new", "renew", "reissue", "change", NULL,
};

static const ch_qparam_t queue_params[] = {
	{ .name = "stage", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_job_filter_t, stage),
	  .values = ch_job_stage_codes,
	  .detail = "stage must be one of waiting_for_key, ready, claimed,"
	  " failed, done, cancelled" },
	{ .name = "kind", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_job_filter_t, kind),
	  .values = issuance_kinds,
	  .detail = "kind must be one of new, renew, reissue, change" },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_job_filter_t, limit),
	  .max = QUEUE_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(ch_job_filter_t, after),
	  .parse = api_cursor_parse,
	  .detail = "cursor must be a next_cursor this list returned" },
};

int
api_issuance_queue(ch_req_t *req)
{
	ch_job_filter_t f;
	const char *body;
	size_t len;

	memset(&f, 0, sizeof f);
	f.limit = QUEUE_LIMIT_DEFAULT;
	if (ch_query_parse(req, queue_params,
	    sizeof queue_params / sizeof queue_params[0],
	    "unknown query parameter; this list takes stage, kind, limit and"
	    " cursor", &f) != 0)
		return 0;
	body = ch_job_list(&req->ctx, &f, &len);
	return api_send_text(req, body, len);
}
