/*
 * Revocation by staff, and the CRLs for relying parties (issue 13;
 * docs/CONTRACT.md "Revocation and CRLs").
 *
 *   POST /api/v1/certificates/{serial}/revocation   admin: revoke now
 *   GET  /crl/{scope}.crl                           public: the newest CRL
 *
 * Revoking is the domain's (certhall/domain/revocation.h): one
 * transaction, and certhall-signer publishes the CRL within a second or
 * two.  The web only looks up the DER the signer stored: it holds no key.
 *
 * Caching a CRL (decision).  A new CRL is made within seconds of every
 * revocation, while its nextUpdate is days away, so a cache that kept it
 * until nextUpdate would hide revocations for days.  The answer may be
 * cached for CRL_MAX_AGE (5 minutes), never past nextUpdate (max-age 0
 * once it has passed: the signer has been away); Last-Modified is its
 * thisUpdate, the ETag (strong) the first 32 hex digits of the SHA-256 of
 * the DER, and If-None-Match gets a 304.  Expires is not sent: max-age
 * wins over it for every HTTP/1.1 cache (RFC 9111 §5.3).
 */
#include "api.h"
#include "certhall/domain/certificate.h"
#include "certhall/domain/revocation.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#define CRL_MAX_AGE 300
#define CRL_SUFFIX ".crl"

/* The reasons staff may give: every CRLReason certhall revokes for
 * (ch_crl_reason_ok()). */
static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "privilegeWithdrawn", NULL,
};

struct revocation_input {
	int reason;
	const char *note;
};

static const ch_field_t revocation_fields[] = {
	{ .name = "reason", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = reasons,
	  .offset = offsetof(struct revocation_input, reason) },
	{ .name = "note", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = 1, .max = 500,
	  .offset = offsetof(struct revocation_input, note) },
};

const ch_schema_t api_revocation_schema = {
	.fields = revocation_fields,
	.nfields = sizeof revocation_fields / sizeof revocation_fields[0],
	.size = sizeof(struct revocation_input),
};

int
api_certificate_revoke(ch_req_t *req)
{
	const struct revocation_input *in = req->input;
	ch_crl_reason_t reason = ch_revocation_reason_parse(reasons[in->reason]);
	char serial[41];
	json_t *p;
	ch_cert_t c;

	if (ch_cert_serial_parse(ch_req_param(req, "serial"), serial) != 0) {
		api_certificate_not_found(req);
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_revocation_admin(&req->ctx, serial, reason, in->note)) {
	case CH_REVOKE_DONE:
		break;
	case CH_REVOKE_NOT_FOUND:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		api_certificate_not_found(req);
		return 0;
	case CH_REVOKE_ALREADY:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		p = ch_problem(req, CH_P_CONFLICT, "the certificate is revoked "
		    "already: a revocation is final");
		json_object_set_new(p, "certificate_status",
		    json_string("revoked"));
		return 0;
	default:
		return -1;
	}
	if (ch_cert_load(&req->ctx, serial, &c) != CH_CERT_FOUND)
		return -1;
	ch_resp_json_text(req, 200, c.json, strlen(c.json));
	return ch_db_commit(req->ctx.db);
}

/* An HTTP-date (RFC 9110 §5.6.7) of t, in the pool. */
static const char *
http_date(ch_pool_t *pool, time_t t)
{
	char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	return ch_pstrdup(pool, buf);
}

int
api_crl_get(ch_req_t *req)
{
	const char *name = ch_req_param(req, "name");
	size_t n = name != NULL ? strlen(name) : 0;
	const char *scope, *etag;
	ch_crl_file_t crl;
	long long age;
	int r;

	if (n <= strlen(CRL_SUFFIX) ||
	    strcmp(name + n - strlen(CRL_SUFFIX), CRL_SUFFIX) != 0)
		goto not_found;
	scope = ch_pstrndup(req->ctx.pool, name, n - strlen(CRL_SUFFIX));
	if (strcmp(scope, "issuing") != 0 && strcmp(scope, "root") != 0)
		goto not_found;
	if ((r = ch_crl_newest(&req->ctx, scope, &crl)) < 0)
		return -1;
	if (r == 0)
		goto not_found;
	etag = ch_psprintf(req->ctx.pool, "\"%.32s\"", crl.sha256);
	age = (long long)crl.next_update - (long long)time(NULL);
	if (age > CRL_MAX_AGE)
		age = CRL_MAX_AGE;
	if (age < 0)
		age = 0;
	if (api_etag_listed(ch_req_env(req, "HTTP_IF_NONE_MATCH"), etag))
		ch_resp_raw(req, 304, NULL, NULL, 0);
	else
		ch_resp_raw(req, 200, "application/pkix-crl",
		    (const char *)crl.der, crl.len);
	ch_resp_header(req, "ETag", etag);
	ch_resp_header(req, "Last-Modified", http_date(req->ctx.pool,
	    crl.this_update));
	ch_resp_header(req, "Cache-Control", ch_psprintf(req->ctx.pool,
	    "public, max-age=%lld, no-transform", age));
	return 0;
not_found:
	json_object_set_new(ch_problem(req, CH_P_NOT_FOUND, "no CRL of this "
	    "name (issuing.crl, root.crl) has been published"), "parameter",
	    json_string("name"));
	return 0;
}
