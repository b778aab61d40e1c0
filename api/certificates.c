/*
 * /api/v1/certificates — issued certificates (SPEC §2, §8; issue 12;
 * docs/CONTRACT.md "Issue the certificate"):
 *
 *   GET  /certificates                       own ones; staff: all, filters
 *   GET  /certificates/{serial}              JSON, or a file by Accept
 *   GET  /certificates/{serial}/der|pem|p7c  the file, whatever Accept says
 *                                            (the last segment decides)
 *   POST /certificates/{serial}/installed    renew, change: enabled online
 *   GET  /applications/{id}/certificate      the one issued for it
 *
 * Representations (content negotiation, certhall/web/accept.h), in the
 * server's order of preference:
 *
 *	application/json	the Certificate object (the default)
 *	application/pkix-cert	the certificate, DER (RFC 2585 §4.1)
 *	application/x-pem-file	the certificate, one PEM block (RFC 7468)
 *	application/pkcs7-mime	certs-only PKCS#7, DER, with the CA chain up
 *				to the root: smime-type=certs-only, the .p7c
 *				of RFC 8551 §3.2.2
 *
 * An Accept that takes none of them is 406.  The suffix routes are for
 * tools that cannot set Accept (a browser link, `curl -O`): the suffix
 * decides and Accept is not consulted.  Files go out as attachments named
 * after the serial.  Who sees what is certhall/domain/certificate.h's.
 */
#include "api.h"
#include "certhall/domain/certificate.h"
#include "certhall/domain/fees.h"
#include "certhall/web/accept.h"
#include "certhall/web/query.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100

/* The representations, in the server's order of preference;
 * api_cert_negotiate() maps the index to a format. */
static const char *const offers[] = {
	"application/json", "application/pkix-cert", "application/x-pem-file",
	"application/pkcs7-mime", NULL,
};

static const struct {
	const char *content_type;
	const char *ext;
} files[CH_CERT_FORMAT__MAX] = {
	[CH_CERT_DER] = { "application/pkix-cert", "cer" },
	[CH_CERT_PEM] = { "application/x-pem-file", "pem" },
	[CH_CERT_P7C] = { "application/pkcs7-mime; smime-type=certs-only",
	    "p7c" },
};

/* An empty object. */
const ch_schema_t api_certificate_installed_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

int
api_cert_negotiate(ch_req_t *req, ch_cert_format_t *format)
{
	int i = ch_accept_pick(ch_req_env(req, "HTTP_ACCEPT"), offers);

	switch (i) {
	case 0:
		*format = CH_CERT_FORMAT__MAX;
		break;
	case 1:
		*format = CH_CERT_DER;
		break;
	case 2:
		*format = CH_CERT_PEM;
		break;
	case 3:
		*format = CH_CERT_P7C;
		break;
	default:
		/* The problem goes out whatever was asked for (RFC 9110
		 * §15.5.7 allows it). */
		json_object_set_new(ch_problem(req, CH_P_NOT_ACCEPTABLE,
		    "a certificate is available as application/json,"
		    " application/pkix-cert, application/x-pem-file or"
		    " application/pkcs7-mime"), "header", json_string("Accept"));
		ch_resp_header(req, "Vary", "Accept");
		return -1;
	}
	ch_resp_header(req, "Vary", "Accept");
	return 0;
}

ch_cert_format_t
api_cert_path_format(const ch_req_t *req)
{
	static const char *const suffixes[] = { "der", "pem", "p7c", NULL };
	static const ch_cert_format_t formats[] = {
		CH_CERT_DER, CH_CERT_PEM, CH_CERT_P7C,
	};
	const char *slash = strrchr(req->path, '/');
	int i = ch_code_index(suffixes, slash != NULL ? slash + 1 : "");

	/* The route table sends only these three here. */
	return i >= 0 ? formats[i] : CH_CERT_DER;
}

void
api_cert_send(ch_req_t *req, ch_cert_format_t format,
    const unsigned char *bytes, size_t len, const char *name)
{
	ch_resp_raw(req, 200, files[format].content_type, (const char *)bytes,
	    len);
	ch_resp_header(req, "Content-Disposition", ch_psprintf(req->ctx.pool,
	    "attachment; filename=\"%s.%s\"", name, files[format].ext));
}

void
api_certificate_not_found(ch_req_t *req)
{
	json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
	    "no certificate with this serial"), "parameter",
	    json_string("serial"));
}

/* Answers with certificate c in format (CH_CERT_FORMAT__MAX: JSON).
 * 0, or -1 after a database error. */
static int
respond(ch_req_t *req, const ch_cert_t *c, ch_cert_format_t format)
{
	const unsigned char *bytes;
	size_t len;

	if (format == CH_CERT_FORMAT__MAX) {
		ch_resp_json_text(req, 200, c->json, strlen(c->json));
		return 0;
	}
	if (!c->has_der) {
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "this certificate has no file on record (it was not issued"
		    " by this service)"), "parameter", json_string("serial"));
		return 0;
	}
	if (ch_cert_file(&req->ctx, c->id, format, &bytes, &len) != 0)
		return -1;
	api_cert_send(req, format, bytes, len, c->serial);
	return 0;
}

/* GET /certificates/{serial}[/der|/pem|/p7c]: format, or -1 to negotiate. */
static int
certificate_get(ch_req_t *req, int format)
{
	char serial[41];
	ch_cert_format_t f = (ch_cert_format_t)format;
	ch_cert_t c;

	if (ch_cert_serial_parse(ch_req_param(req, "serial"), serial) != 0) {
		api_certificate_not_found(req);
		return 0;
	}
	if (format < 0 && api_cert_negotiate(req, &f) != 0)
		return 0;
	switch (ch_cert_load(&req->ctx, serial, &c)) {
	case CH_CERT_FOUND:
		return respond(req, &c, f);
	case CH_CERT_NOT_FOUND:
		api_certificate_not_found(req);
		return 0;
	default:
		return -1;
	}
}

int
api_certificate_get(ch_req_t *req)
{
	return certificate_get(req, -1);
}

int
api_certificate_file(ch_req_t *req)
{
	return certificate_get(req, api_cert_path_format(req));
}

/* ---- GET /api/v1/applications/{id}/certificate ---------------------------- */

int
api_application_certificate(ch_req_t *req)
{
	ch_cert_format_t format;
	long long id;
	ch_cert_t c;
	ch_app_t a;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	if (api_cert_negotiate(req, &format) != 0)
		return 0;
	switch (ch_cert_of_application(&req->ctx, id, &c)) {
	case CH_CERT_FOUND:
		ch_resp_header(req, "Content-Location", ch_psprintf(req->ctx.pool,
		    "/api/v1/certificates/%s", c.serial));
		return respond(req, &c, format);
	case CH_CERT_NOT_FOUND:
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "no certificate has been issued for this application (it is"
		    " %s)", ch_app_status_name(a.status)), "status_now",
		    json_string(ch_app_status_name(a.status)));
		return 0;
	default:
		return -1;
	}
}

/* ---- GET /api/v1/certificates ---------------------------------------------- */

static int
credit_code_parse(const char *value, void *slot)
{
	const char *why;

	if (ch_check_credit_code(value, &why) != 0)
		return -1;
	*(const char **)slot = value;
	return 0;
}

static const ch_qparam_t list_params[] = {
	{ .name = "status", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_cert_filter_t, status),
	  .values = ch_cert_status_codes,
	  .detail = "status must be one of valid, expired, revoked" },
	{ .name = "certificate_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_cert_filter_t, certificate_type),
	  .values = ch_cert_type_codes,
	  .detail = "certificate_type must be org or personal" },
	{ .name = "credit_code", .kind = CH_Q_TEXT,
	  .offset = offsetof(ch_cert_filter_t, credit_code),
	  .parse = credit_code_parse,
	  .detail = "credit_code must be a unified social credit code" },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_cert_filter_t, limit),
	  .max = LIST_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(ch_cert_filter_t, before),
	  .parse = api_cursor_parse,
	  .detail = "cursor must be a next_cursor this list returned" },
};

int
api_certificate_list(ch_req_t *req)
{
	ch_cert_filter_t f;
	const char *body;
	size_t len;

	memset(&f, 0, sizeof f);
	f.limit = LIST_LIMIT_DEFAULT;
	f.before = LLONG_MAX;
	if (ch_query_parse(req, list_params,
	    sizeof list_params / sizeof list_params[0],
	    "unknown query parameter; this list takes status, certificate_type,"
	    " credit_code, limit and cursor", &f) != 0)
		return 0;
	if ((body = ch_cert_list(&req->ctx, &f, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}

/* ---- POST /api/v1/certificates/{serial}/installed -------------------------- */

int
api_certificate_installed(ch_req_t *req)
{
	ch_app_status_t now;
	const char *json, *why;
	char serial[41];

	if (ch_cert_serial_parse(ch_req_param(req, "serial"), serial) != 0) {
		api_certificate_not_found(req);
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_cert_installed(&req->ctx, serial, &json, &now, &why)) {
	case CH_INSTALL_DONE:
		ch_resp_json_text(req, 200, json, strlen(json));
		return ch_db_commit(req->ctx.db);
	case CH_INSTALL_NOT_FOUND:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_certificate_not_found(req);
		return 0;
	case CH_INSTALL_CONFLICT:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_app_refuse_state(req, now, ch_psprintf(req->ctx.pool,
		    "cannot confirm the installation: %s", why));
		return 0;
	default:
		return -1;
	}
}
