/*
 * /api/v1/ca — the CA's certificates, for relying parties (SPEC §8; issue
 * 12; docs/CONTRACT.md "Issue the certificate"): public, no credentials.
 *
 *   GET /ca                      the active ones, with PEM and fingerprints
 *   GET /ca/{name}               one: JSON, or a file by Accept (as
 *                                /certificates/{serial}, api/certificates.c)
 *   GET /ca/{name}.cer           its DER: the caIssuers URL (RFC 5280
 *                                §4.2.2.1) the signer writes into the
 *                                certificates it issues
 *   GET /ca/{name}/der|pem|p7c   the file, whatever Accept says
 *
 * {name} is "<role>" or "<role>-<algorithm>" (certhall/domain/certificate.h
 * ch_ca_find()).  What a CA certificate is does not depend on who asks, so
 * the answers may be cached by anyone for a while: a new CA certificate
 * (a renewed issuing CA) is seen within five minutes.
 */
#include "api.h"
#include "certhall/domain/certificate.h"

#include <jansson.h>
#include <string.h>

#define CACHE_CONTROL "public, max-age=300"
#define CER_SUFFIX ".cer"

static void
ca_not_found(ch_req_t *req)
{
	json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
	    "no active CA certificate of this name (root, issuing, ocsp or"
	    " seal_maker, optionally -rsa, -ec-p256 or -sm2)"), "parameter",
	    json_string("name"));
}

int
api_ca_list(ch_req_t *req)
{
	json_t *list = ch_ca_list_new(&req->ctx);

	if (list == NULL)
		return -1;
	ch_resp_json(req, 200, json_pack("{s:o}", "items", list));
	ch_resp_header(req, "Cache-Control", CACHE_CONTROL);
	return 0;
}

/* GET /ca/{name}[/der|/pem|/p7c]: format, or -1 to negotiate (a name
 * ending in .cer asks for the DER). */
static int
ca_get(ch_req_t *req, int format)
{
	const char *name = ch_req_param(req, "name");
	ch_cert_format_t f = (ch_cert_format_t)format;
	size_t n = name != NULL ? strlen(name) : 0;
	const unsigned char *bytes;
	size_t len;
	ch_ca_t ca;

	if (format < 0 && n > strlen(CER_SUFFIX) &&
	    strcmp(name + n - strlen(CER_SUFFIX), CER_SUFFIX) == 0) {
		name = ch_pstrndup(req->ctx.pool, name, n - strlen(CER_SUFFIX));
		f = CH_CERT_DER;
	} else if (format < 0 && api_cert_negotiate(req, &f) != 0) {
		return 0;
	}
	switch (ch_ca_find(&req->ctx, name, &ca)) {
	case CH_CERT_FOUND:
		break;
	case CH_CERT_NOT_FOUND:
		ca_not_found(req);
		return 0;
	default:
		return -1;
	}
	if (f == CH_CERT_FORMAT__MAX) {
		ch_resp_json_text(req, 200, ca.json, strlen(ca.json));
	} else {
		if (ch_ca_file(&req->ctx, ca.id, f, &bytes, &len) != 0)
			return -1;
		api_cert_send(req, f, bytes, len, ca.name);
	}
	ch_resp_header(req, "Cache-Control", CACHE_CONTROL);
	return 0;
}

int
api_ca_get(ch_req_t *req)
{
	return ca_get(req, -1);
}

int
api_ca_file(ch_req_t *req)
{
	return ca_get(req, api_cert_path_format(req));
}
