/*
 * Certificates as the web workers see them: key requests, reads, files,
 * installation, the CA's certificates and the issuance queue
 * (certhall/domain/certificate.h).
 */
#include "certhall/domain/certificate.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/codec/x509.h"
#include "certhall/domain/application.h"
#include "certhall/domain/people.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

/* The longest chain a P7C carries (leaf, issuing CA, root: 3 today). */
#define CHAIN_MAX 8

const char *const ch_cert_status_codes[] = {
	"valid", "expired", "revoked", NULL,
};

const char *const ch_job_stage_codes[] = {
	"waiting_for_key", "ready", "claimed", "failed", "done", "cancelled",
	NULL,
};

/* ---- SQL ------------------------------------------------------------------ */

/* The status a certificate c shows (ch_cert_status_codes). */
#define SQL_CERT_STATUS(c) \
	"CASE WHEN " c ".status = 'revoked' THEN 'revoked'" \
	" WHEN " c ".not_after <= now() THEN 'expired' ELSE 'valid' END"

/* The Certificate object of "certificate c" (docs/CONTRACT.md), holder ID
 * number as the expression holder_id. */
#define SQL_CERT_JSON_(holder_id) \
	"json_build_object('id', c.id, 'serial', c.serial," \
	" 'status', " SQL_CERT_STATUS("c") "," \
	" 'certificate_type', c.certificate_type," \
	" 'subject', c.subject," \
	" 'unit_name', c.unit_name, 'credit_code', c.credit_code," \
	" 'holder_name', c.holder_name, 'holder_id_number', " holder_id "," \
	" 'not_before', " CH_SQL_TIME("c.not_before") "," \
	" 'not_after', " CH_SQL_TIME("c.not_after") "," \
	" 'key_algorithm', c.key_algorithm," \
	" 'issuer', (SELECT json_build_object('name', i.role || '-' ||" \
	"    i.algorithm, 'subject', i.subject, 'serial', i.serial)" \
	"   FROM ca_certificate i WHERE i.id = c.issuer_id)," \
	" 'usb_key_serial', c.usb_key_serial," \
	" 'application_id', c.application_id," \
	" 'supersedes', (SELECT s.serial FROM certificate s" \
	"   WHERE s.id = c.supersedes)," \
	" 'superseded_by', (SELECT s.serial FROM certificate s" \
	"   WHERE s.supersedes = c.id ORDER BY s.id LIMIT 1)," \
	" 'revocation', CASE WHEN c.status = 'revoked' THEN" \
	"   json_build_object('revoked_at', " CH_SQL_TIME("c.revoked_at") "," \
	"    'reason', c.revocation_reason) END," \
	" 'installed_at', " CH_SQL_TIME("c.installed_at") "," \
	" 'issued_at', " CH_SQL_TIME("c.created_at") "," \
	" 'sha256_fingerprint', encode(sha256(c.der), 'hex')," \
	" 'downloadable', c.der IS NOT NULL)"

#define SQL_CERT_JSON SQL_CERT_JSON_("c.holder_id_number")
#define SQL_CERT_LIST_JSON SQL_CERT_JSON_(CH_SQL_MASK_ID("c.holder_id_number"))

/* The stage of "signing_job j" (ch_job_stage_codes). */
#define SQL_JOB_STAGE \
	"CASE j.status WHEN 'queued' THEN CASE WHEN j.csr IS NULL" \
	"   THEN 'waiting_for_key' ELSE 'ready' END" \
	" ELSE j.status END"

/* The IssuanceJob object of "signing_job j". */
#define SQL_JOB_JSON \
	"json_build_object('job_id', j.id, 'application_id', j.application_id," \
	" 'kind', j.kind," \
	" 'certificate_type', j.payload->>'certificate_type'," \
	" 'unit_name', j.payload->>'unit_name'," \
	" 'stage', " SQL_JOB_STAGE ", 'attempts', j.attempts," \
	" 'usb_key_serial', j.usb_key_serial," \
	" 'csr_submitted_at', " CH_SQL_TIME("j.csr_submitted_at") "," \
	" 'claimed_by', j.claimed_by," \
	" 'lease_until', " CH_SQL_TIME("j.lease_until") "," \
	" 'last_error', j.last_error," \
	" 'failed_at', " CH_SQL_TIME("j.failed_at") "," \
	" 'done_at', " CH_SQL_TIME("j.done_at") "," \
	" 'queued_at', " CH_SQL_TIME("j.created_at") "," \
	" 'certificate_serial', (SELECT c.serial FROM certificate c" \
	"   WHERE c.job_id = j.id))"

#define ISSUANCE_KINDS "('new', 'renew', 'reissue', 'change')"

/*
 * The job of application $1 (locked: a key request is taken once) and
 * what the request is checked against: 0 id, 1 status, 2 has a request,
 * 3-7 the approved subject (certificate type, unit, credit code, holder
 * name and ID number), 8 the USB key of the certificate renewed or
 * changed (when well-formed), 9 the status of USB key $2 when it is bound
 * to this application.
 */
static const ch_stmt_t stmt_csr_job = {
	.name = "cert_csr_job",
	.sql = "SELECT j.id, j.status, j.csr IS NOT NULL,"
	       " j.payload->>'certificate_type', j.payload->>'unit_name',"
	       " j.payload->>'credit_code', j.payload->>'holder_name',"
	       " j.payload->>'holder_id_number',"
	       " (SELECT c.usb_key_serial FROM certificate c"
	       "   WHERE c.id = (j.payload->>'certificate_id')::bigint"
	       "     AND c.usb_key_serial ~ '^[A-Za-z0-9_-]{4,16}$'),"
	       " (SELECT u.status FROM usb_key u WHERE u.serial = $2"
	       "   AND u.application_id = j.application_id)"
	       " FROM signing_job j WHERE j.application_id = $1"
	       " FOR UPDATE OF j",
	.nparams = 2,
};

/*
 * Stores the request ($2 hex DER) on job $1 if it still waits for one
 * and, for the station's keys ($6), moves USB key $5 of application $7
 * from initialised to requested, both or neither; wakes the signer.
 * Returns the job as it now is (no row: it changed under us).
 */
static const ch_stmt_t stmt_csr_store = {
	.name = "cert_csr_store",
	.sql = "WITH u AS ("
	       "  UPDATE usb_key SET status = 'requested'"
	       "   WHERE $6::bool AND serial = $5 AND application_id = $7::bigint"
	       "     AND status = 'initialised'"
	       "  RETURNING serial),"
	       " j AS ("
	       "  UPDATE signing_job SET csr = decode($2, 'hex'),"
	       "   csr_submitted_at = now(), csr_actor_kind = $3,"
	       "   csr_actor_id = $4::bigint, usb_key_serial = $5,"
	       "   updated_at = now()"
	       "  WHERE id = $1 AND status = 'queued' AND csr IS NULL"
	       "    AND (NOT $6::bool OR EXISTS (SELECT 1 FROM u))"
	       "  RETURNING *)"
	       " SELECT " SQL_JOB_JSON "::text,"
	       "  pg_notify('signing_job', j.id::text) FROM j",
	.nparams = 7,
};

/* The columns of a ch_cert_t (cert_from()). */
#define SQL_CERT_ROW \
	"SELECT c.id, c.serial, c.der IS NOT NULL, " SQL_CERT_JSON "::text" \
	" FROM certificate c"

/* One certificate by serial ($1) for owner $2 (NULL: staff, any). */
static const ch_stmt_t stmt_cert_load = {
	.name = "cert_load",
	.sql = SQL_CERT_ROW " WHERE c.serial = $1"
	       "   AND ($2::bigint IS NULL OR c.applicant_id = $2::bigint)",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_cert_of_app = {
	.name = "cert_of_application",
	.sql = SQL_CERT_ROW " WHERE c.application_id = $1"
	       " ORDER BY c.id DESC LIMIT 1",
	.nparams = 1,
	.readonly = true,
};

/* $1 owner (NULL: staff, all), $2 before this id, $3 status, $4 type,
 * $5 credit code, $6 limit. */
static const ch_stmt_t stmt_cert_list = {
	.name = "cert_list",
	.sql = "SELECT c.id, " SQL_CERT_LIST_JSON "::text FROM certificate c"
	       " WHERE ($1::bigint IS NULL OR c.applicant_id = $1::bigint)"
	       "   AND c.id < $2::bigint"
	       "   AND ($3::text IS NULL OR " SQL_CERT_STATUS("c") " = $3)"
	       "   AND ($4::text IS NULL OR c.certificate_type = $4)"
	       "   AND ($5::text IS NULL OR c.credit_code = $5)"
	       " ORDER BY c.id DESC LIMIT $6::int",
	.nparams = 6,
	.readonly = true,
};

static const ch_stmt_t stmt_cert_der = {
	.name = "cert_der",
	.sql = "SELECT encode(der, 'hex'), issuer_id FROM certificate"
	       " WHERE id = $1 AND der IS NOT NULL",
	.nparams = 1,
	.readonly = true,
};

/* CA certificate $1 and its issuers up to the root, leaf first. */
static const ch_stmt_t stmt_ca_chain = {
	.name = "cert_ca_chain",
	.sql = "WITH RECURSIVE chain (id, der, issuer_id, depth) AS ("
	       "  SELECT id, der, issuer_id, 1 FROM ca_certificate WHERE id = $1"
	       "  UNION ALL"
	       "  SELECT p.id, p.der, p.issuer_id, chain.depth + 1"
	       "  FROM ca_certificate p JOIN chain ON p.id = chain.issuer_id"
	       "  WHERE p.id <> chain.id AND chain.depth < 8)"
	       " SELECT encode(der, 'hex') FROM chain ORDER BY depth",
	.nparams = 1,
	.readonly = true,
};

/* The columns of a CaCertificate (ca_json()), then its id. */
#define SQL_CA_COLUMNS \
	"SELECT a.role, a.algorithm, a.subject, a.serial," \
	" " CH_SQL_TIME("a.not_before") ", " CH_SQL_TIME("a.not_after") "," \
	" encode(a.der, 'hex'), encode(sha256(a.der), 'hex')," \
	" encode(a.spki_sha256, 'hex')," \
	" (SELECT p.role || '-' || p.algorithm FROM ca_certificate p" \
	"   WHERE p.id = a.issuer_id AND p.id <> a.id), a.id" \
	" FROM ca_certificate a"

#define SQL_CA_ALGORITHM_ORDER \
	"CASE a.algorithm WHEN 'rsa' THEN 0 WHEN 'ec-p256' THEN 1 ELSE 2 END"

static const ch_stmt_t stmt_ca_list = {
	.name = "cert_ca_list",
	.sql = SQL_CA_COLUMNS " WHERE a.active"
	       " ORDER BY CASE a.role WHEN 'root' THEN 0 WHEN 'issuing' THEN 1"
	       "  WHEN 'ocsp' THEN 2 ELSE 3 END, " SQL_CA_ALGORITHM_ORDER,
	.nparams = 0,
	.readonly = true,
};

/* The active CA certificate of role $1 and algorithm $2 (NULL: the first
 * of rsa, ec-p256, sm2). */
static const ch_stmt_t stmt_ca_find = {
	.name = "cert_ca_find",
	.sql = SQL_CA_COLUMNS " WHERE a.active AND a.role = $1"
	       "   AND ($2::text IS NULL OR a.algorithm = $2)"
	       " ORDER BY " SQL_CA_ALGORITHM_ORDER " LIMIT 1",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_ca_der = {
	.name = "cert_ca_der",
	.sql = "SELECT encode(der, 'hex') FROM ca_certificate WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

/* $1 stage (NULL: the open ones), $2 kind, $3 after this id, $4 limit. */
static const ch_stmt_t stmt_job_list = {
	.name = "cert_job_list",
	.sql = "SELECT j.id, " SQL_JOB_JSON "::text FROM signing_job j"
	       " WHERE j.kind IN " ISSUANCE_KINDS
	       "   AND CASE WHEN $1::text IS NULL"
	       "     THEN j.status NOT IN ('done', 'cancelled')"
	       "     ELSE " SQL_JOB_STAGE " = $1 END"
	       "   AND ($2::text IS NULL OR j.kind = $2)"
	       "   AND j.id > $3::bigint"
	       " ORDER BY j.id LIMIT $4::int",
	.nparams = 4,
	.readonly = true,
};

/* The certificate to confirm ($1 serial, $2 owner or NULL for staff):
 * 0 id, 1 application, 2 revoked. */
static const ch_stmt_t stmt_install_find = {
	.name = "cert_install_find",
	.sql = "SELECT c.id, c.application_id, c.status = 'revoked'"
	       " FROM certificate c WHERE c.serial = $1"
	       "   AND ($2::bigint IS NULL OR c.applicant_id = $2::bigint)",
	.nparams = 2,
};

static const ch_stmt_t stmt_install = {
	.name = "cert_install",
	.sql = "UPDATE certificate SET installed_at = now()"
	       " WHERE id = $1 AND installed_at IS NULL",
	.nparams = 1,
};

/* ---- small helpers --------------------------------------------------------- */

/* The owner parameter of a visibility check: NULL for staff (all), the
 * applicant the caller acts for, or "0" (nobody's) for an integrator
 * acting for nobody. */
static const char *
owner_param(ch_ctx_t *ctx)
{
	const ch_principal_t *p = &ctx->principal;

	if (p->kind == CH_ACTOR_STAFF)
		return NULL;
	return ch_psprintf(ctx->pool, "%lld",
	    p->applicant_id > 0 ? p->applicant_id : 0);
}

static const char *
id_text(ch_ctx_t *ctx, long long id)
{
	return ch_psprintf(ctx->pool, "%lld", id);
}

/* A certificate from hex DER text (as encode(der, 'hex') gives it), or
 * NULL (logged with what). */
static X509 *
x509_from_hex(const char *hex, const char *what)
{
	size_t n = strlen(hex) / 2;
	unsigned char *der;
	const unsigned char *p;
	X509 *x = NULL;

	if (n == 0 || n > LONG_MAX || strlen(hex) % 2 != 0)
		goto bad;
	der = ch_xmalloc(n);
	p = der;
	if (ch_unhex(hex, der, n) == 0)
		x = d2i_X509(NULL, &p, (long)n);
	if (x != NULL && p != der + n) {
		X509_free(x);
		x = NULL;
	}
	free(der);
	ERR_clear_error();
	if (x != NULL)
		return x;
bad:
	ch_error("%s: the stored certificate does not decode", what);
	return NULL;
}

/* Copies n bytes of OpenSSL's (freed here) into pool. */
static const unsigned char *
pool_take(ch_pool_t *pool, unsigned char *bytes, size_t n)
{
	unsigned char *out = ch_palloc(pool, n + 1);

	memcpy(out, bytes, n);
	out[n] = '\0';
	OPENSSL_free(bytes);
	return out;
}

/*
 * Encodes chain (n certificates, leaf first) in format into *out
 * (ctx->pool); the DER and PEM files are of chain[0] alone.  0, or -1.
 */
static int
encode_chain(ch_ctx_t *ctx, X509 *const *chain, size_t n,
    ch_cert_format_t format, const unsigned char **out, size_t *len)
{
	unsigned char *bytes = NULL;

	switch (format) {
	case CH_CERT_DER:
		bytes = ch_x509_der(chain[0], len);
		break;
	case CH_CERT_PEM:
		bytes = (unsigned char *)ch_x509_pem(chain[0], len);
		break;
	case CH_CERT_P7C:
		bytes = ch_x509_pkcs7(chain, n, false, len);
		break;
	default:
		break;
	}
	if (bytes == NULL) {
		ch_error("cannot encode a certificate file (format %d)", format);
		return -1;
	}
	*out = pool_take(ctx->pool, bytes, *len);
	return 0;
}

/* Appends to chain (at *n, at most CHAIN_MAX) CA certificate id and its
 * issuers.  0, or -1. */
static int
append_ca_chain(ch_ctx_t *ctx, long long id, X509 **chain, size_t *n)
{
	const char *params[1] = { id_text(ctx, id) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_ca_chain, params);

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res) && *n < CHAIN_MAX; i++) {
		if ((chain[*n] = x509_from_hex(PQgetvalue(res, i, 0),
		    "ca_certificate chain")) == NULL)
			return -1;
		(*n)++;
	}
	return 0;
}

static void
chain_free(X509 **chain, size_t n)
{
	for (size_t i = 0; i < n; i++)
		X509_free(chain[i]);
}

/* A page (ch_app_items_json()) from rows of (id, JSON text) fetched
 * with limit + 1: the extra row says there is a next page. */
static const char *
page_json(ch_ctx_t *ctx, PGresult *res, long long limit, size_t *len)
{
	int n = PQntuples(res);
	char cursor[32];

	if (n <= limit)
		return ch_app_items_json(ctx->pool, res, 1, n, NULL, len);
	ch_app_cursor_encode(strtoll(PQgetvalue(res, (int)limit - 1, 0), NULL,
	    10), cursor);
	return ch_app_items_json(ctx->pool, res, 1, (int)limit, cursor, len);
}

/* ---- the key request ----------------------------------------------------- */

/* Who may send application a's key request (certhall/domain/certificate.h). */
static bool
may_send(const ch_principal_t *p, const ch_app_t *a)
{
	bool operator = p->kind == CH_ACTOR_STAFF &&
	    (p->roles & CH_ROLE_OPERATOR) != 0;

	switch (a->business) {
	case CH_BIZ_NEW:
	case CH_BIZ_REISSUE:
		return operator;
	case CH_BIZ_RENEW:
	case CH_BIZ_CHANGE:
		return ch_app_allowed(p, a, CH_APP_CHANGE);
	default:
		/* Revoke, unlock: whoever acts on it hears it takes none. */
		return operator || ch_app_allowed(p, a, CH_APP_CHANGE);
	}
}

static const char *
key_algorithm(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "SM2"))
		return "sm2";
	if (EVP_PKEY_is_a(key, "RSA"))
		return "rsa";
	return "ec-p256";	/* the only other kind ch_csr_check() passes */
}

/* The request as DER in hex (ctx->pool), from what ch_csr_check() passed;
 * NULL if it cannot be encoded (out of memory). */
static const char *
request_der_hex(ch_ctx_t *ctx, const ch_csr_request_t *in, size_t *der_len,
    unsigned char sha[CH_SHA256_LEN])
{
	ch_csr_result_t res;
	X509_REQ *req = ch_csr_parse(in->csr, in->csr_len, &res);
	unsigned char *der = NULL;
	char *hex = NULL;
	int n;

	if (req != NULL && (n = i2d_X509_REQ(req, &der)) > 0) {
		hex = ch_palloc(ctx->pool, 2 * (size_t)n + 1);
		ch_hex(der, (size_t)n, hex);
		ch_sha256(der, (size_t)n, sha);
		*der_len = (size_t)n;
	}
	OPENSSL_free(der);
	X509_REQ_free(req);
	ERR_clear_error();
	return hex;
}

/* Why a job that is not queued without a request takes none. */
static const char *
job_state_why(const char *status, bool has_csr)
{
	if (strcmp(status, "queued") == 0 && has_csr)
		return "its key request was received already";
	if (strcmp(status, "claimed") == 0)
		return "its certificate is being signed";
	if (strcmp(status, "done") == 0)
		return "its certificate has been issued";
	if (strcmp(status, "failed") == 0)
		return "its signing job failed; ask an operator";
	return "its signing job was cancelled";
}

ch_csr_submit_t
ch_cert_csr_submit(ch_ctx_t *ctx, long long id, const ch_csr_request_t *in,
    ch_csr_outcome_t *out)
{
	const ch_principal_t *p = &ctx->principal;
	const char *params[7], *usb, *hex;
	unsigned char sha[CH_SHA256_LEN];
	char idbuf[24], shahex[2 * CH_SHA256_LEN + 1];
	ch_cert_subject_t subject;
	EVP_PKEY *key = NULL;
	PGresult *res;
	bool station;
	size_t der_len = 0;
	ch_app_t a;

	memset(out, 0, sizeof *out);
	out->status_now = CH_ST__MAX;
	switch (ch_app_load(ctx, id, CH_APP_READ_LOCKED, &a)) {
	case CH_APP_FOUND:
		break;
	case CH_APP_NOT_FOUND:
		return CH_CSR_NOT_FOUND;
	default:
		return CH_CSR_ERROR;
	}
	if (!may_send(p, &a))
		return CH_CSR_NOT_FOUND;
	out->status_now = a.status;
	station = a.business == CH_BIZ_NEW || a.business == CH_BIZ_REISSUE;
	if (!station && a.business != CH_BIZ_RENEW &&
	    a.business != CH_BIZ_CHANGE) {
		out->why = "revoke and unlock take no key request";
		return CH_CSR_WRONG_STATE;
	}
	if (a.status != CH_ST_ISSUING) {
		out->why = "the application is not waiting for a key request"
		    " (it must be issuing)";
		return CH_CSR_WRONG_STATE;
	}

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	params[0] = idbuf;
	params[1] = in->usb_key_serial;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_csr_job, params)) == NULL)
		return CH_CSR_ERROR;
	if (PQntuples(res) != 1) {
		ch_error("application %lld is issuing without a signing job", id);
		return CH_CSR_ERROR;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "queued") != 0 ||
	    PQgetvalue(res, 0, 2)[0] == 't') {
		out->why = job_state_why(PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 2)[0] == 't');
		return CH_CSR_WRONG_STATE;
	}
	out->job_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

	if (station && in->usb_key_serial == NULL) {
		out->usb_missing = true;
		out->why = "usb_key_serial is required for new and reissue: the"
		    " serial of the USB key initialised for this application";
		return CH_CSR_USB_KEY;
	}
	if (station && (PQgetisnull(res, 0, 9) ||
	    strcmp(PQgetvalue(res, 0, 9), "initialised") != 0)) {
		out->why = "usb_key_serial names no USB key initialised for this"
		    " application and still without a key request";
		return CH_CSR_USB_KEY;
	}
	if (!station && in->usb_key_serial != NULL) {
		out->why = "usb_key_serial is only for new and reissue: a renewed"
		    " or changed certificate goes on the USB key the handler"
		    " already holds";
		return CH_CSR_USB_KEY;
	}
	usb = station ? in->usb_key_serial : PQgetisnull(res, 0, 8) ? NULL
	    : ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 8));

	memset(&subject, 0, sizeof subject);
	subject.unit_name = PQgetvalue(res, 0, 4);
	subject.credit_code = PQgetvalue(res, 0, 5);
	subject.person_name = PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6);
	subject.id_number = PQgetisnull(res, 0, 7) ? NULL : PQgetvalue(res, 0, 7);
	if (ch_csr_check(in->csr, in->csr_len,
	    strcmp(PQgetvalue(res, 0, 3), "personal") == 0
	    ? CH_PROFILE_PERSONAL : CH_PROFILE_ORG, &subject, &key,
	    &out->check) != CH_CSR_OK) {
		/* Which attribute, never its value (names, ID numbers). */
		return ch_audit(ctx, "application.csr_refused", "application",
		    idbuf, json_pack("{s:I, s:s, s:s}", "job_id",
		    (json_int_t)out->job_id, "verdict",
		    ch_csr_verdict_name(out->check.verdict), "field",
		    out->check.field != NULL ? out->check.field : "/csr")) == 0
		    ? CH_CSR_REFUSED : CH_CSR_ERROR;
	}

	if ((hex = request_der_hex(ctx, in, &der_len, sha)) == NULL) {
		ch_error("application %lld: a checked key request does not"
		    " encode", id);
		EVP_PKEY_free(key);
		return CH_CSR_ERROR;
	}
	ch_hex(sha, sizeof sha, shahex);
	params[0] = id_text(ctx, out->job_id);
	params[1] = hex;
	params[2] = ch_actor_name(p->kind);
	params[3] = id_text(ctx, p->id);
	params[4] = usb;
	params[5] = station ? "t" : "f";
	params[6] = idbuf;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_csr_store, params))
	    == NULL) {
		EVP_PKEY_free(key);
		return CH_CSR_ERROR;
	}
	if (PQntuples(res) != 1) {
		/* Under the application's lock nothing should move the job
		 * or the key; if something did, say so as a conflict. */
		EVP_PKEY_free(key);
		out->why = "the signing job or the USB key changed meanwhile;"
		    " try again";
		return CH_CSR_WRONG_STATE;
	}
	out->job_json = PQgetvalue(res, 0, 0);
	if (ch_audit(ctx, "application.csr_submitted", "application", idbuf,
	    json_pack("{s:I, s:s, s:i, s:s?, s:s, s:I}",
	    "job_id", (json_int_t)out->job_id,
	    "key_algorithm", key_algorithm(key),
	    "key_bits", EVP_PKEY_get_bits(key),
	    "usb_key_serial", usb,
	    "csr_sha256", shahex,
	    "csr_bytes", (json_int_t)der_len)) != 0) {
		EVP_PKEY_free(key);
		return CH_CSR_ERROR;
	}
	EVP_PKEY_free(key);
	return CH_CSR_TAKEN;
}

/* ---- certificates ---------------------------------------------------------- */

int
ch_cert_serial_parse(const char *serial, char out[41])
{
	size_t n = serial != NULL ? strlen(serial) : 0;

	if (n < 16 || n > 40)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (ch_hex_value((unsigned char)serial[i]) < 0)
			return -1;
		out[i] = (char)(serial[i] >= 'A' && serial[i] <= 'F'
		    ? serial[i] - 'A' + 'a' : serial[i]);
	}
	out[n] = '\0';
	return 0;
}

/* A certificate row (id, serial, has der, JSON) into *out. */
static ch_cert_result_t
cert_from(PGresult *res, ch_cert_t *out)
{
	if (res == NULL)
		return CH_CERT_ERROR;
	if (PQntuples(res) != 1)
		return CH_CERT_NOT_FOUND;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->serial = PQgetvalue(res, 0, 1);
	out->has_der = PQgetvalue(res, 0, 2)[0] == 't';
	out->json = PQgetvalue(res, 0, 3);
	return CH_CERT_FOUND;
}

ch_cert_result_t
ch_cert_load(ch_ctx_t *ctx, const char *serial, ch_cert_t *out)
{
	const char *params[2] = { serial, owner_param(ctx) };

	return cert_from(ch_db_exec(ctx->db, ctx->pool, &stmt_cert_load,
	    params), out);
}

ch_cert_result_t
ch_cert_of_application(ch_ctx_t *ctx, long long id, ch_cert_t *out)
{
	return cert_from(ch_db_exec_id(ctx->db, ctx->pool,
	    &stmt_cert_of_app, id), out);
}

int
ch_cert_file(ch_ctx_t *ctx, long long id, ch_cert_format_t format,
    const unsigned char **out, size_t *len)
{
	X509 *chain[CHAIN_MAX];
	size_t n = 0;
	PGresult *res;
	int rc = -1;

	res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_cert_der, id);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		ch_error("certificate %lld has no file to encode", id);
		return -1;
	}
	if ((chain[n] = x509_from_hex(PQgetvalue(res, 0, 0), "certificate"))
	    == NULL)
		return -1;
	n++;
	if (format == CH_CERT_P7C && !PQgetisnull(res, 0, 1) &&
	    append_ca_chain(ctx, strtoll(PQgetvalue(res, 0, 1), NULL, 10),
	    chain, &n) != 0)
		goto out;
	rc = encode_chain(ctx, chain, n, format, out, len);
out:
	chain_free(chain, n);
	return rc;
}

const char *
ch_cert_list(ch_ctx_t *ctx, const ch_cert_filter_t *f, size_t *len)
{
	const char *params[6];
	PGresult *res;

	params[0] = owner_param(ctx);
	params[1] = id_text(ctx, f->before);
	params[2] = f->status;
	params[3] = f->certificate_type;
	params[4] = f->credit_code;
	params[5] = id_text(ctx, f->limit + 1);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_cert_list, params))
	    == NULL)
		return NULL;
	return page_json(ctx, res, f->limit, len);
}

ch_install_t
ch_cert_installed(ch_ctx_t *ctx, const char *serial, const char **json,
    ch_app_status_t *status_now, const char **why)
{
	const char *params[2] = { serial, owner_param(ctx) };
	long long cert_id, app_id;
	bool revoked;
	PGresult *res;
	ch_cert_t c;
	ch_app_t a;

	*json = NULL;
	*status_now = CH_ST__MAX;
	*why = NULL;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_install_find, params))
	    == NULL)
		return CH_INSTALL_ERROR;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1))
		return CH_INSTALL_NOT_FOUND;
	cert_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	app_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	revoked = PQgetvalue(res, 0, 2)[0] == 't';
	switch (ch_app_load(ctx, app_id, CH_APP_CHANGE, &a)) {
	case CH_APP_FOUND:
		break;
	case CH_APP_NOT_FOUND:
		return CH_INSTALL_NOT_FOUND;
	default:
		return CH_INSTALL_ERROR;
	}
	*status_now = a.status;
	if (a.business != CH_BIZ_RENEW && a.business != CH_BIZ_CHANGE) {
		*why = "only a renewed or changed certificate is enabled online;"
		    " a new or reissued one comes personalised on its USB key";
		return CH_INSTALL_CONFLICT;
	}
	if (revoked) {
		*why = "the certificate is revoked";
		return CH_INSTALL_CONFLICT;
	}
	if (a.status != CH_ST_ISSUED) {
		*why = a.status == CH_ST_ACTIVATED || a.status == CH_ST_COMPLETED
		    ? "its installation was confirmed already"
		    : "its application is not issued";
		return CH_INSTALL_CONFLICT;
	}
	params[0] = id_text(ctx, cert_id);
	if (ch_db_queue(ctx->db, ctx->pool, &stmt_install, params) != 0)
		return CH_INSTALL_ERROR;
	switch (ch_wf_transition(ctx, app_id, CH_ST_BIT(CH_ST_ISSUED),
	    CH_ST_ACTIVATED, NULL, json_pack("{s:s}", "serial", serial), NULL)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		/* Locked and issued: cannot happen. */
		*why = "its application is not issued";
		return CH_INSTALL_CONFLICT;
	default:
		return CH_INSTALL_ERROR;
	}
	/* Enabled online (开通权限) is the end of renew and change (issue 14):
	 * activated → completed in the same transaction, its own history row
	 * and audit event, so the history shows both steps. */
	if (ch_wf_transition(ctx, app_id, CH_ST_BIT(CH_ST_ACTIVATED),
	    CH_ST_COMPLETED, NULL, NULL, NULL) != CH_WF_OK)
		return CH_INSTALL_ERROR;
	if (ch_audit(ctx, "certificate.installed", "certificate", serial,
	    json_pack("{s:I}", "application_id", (json_int_t)app_id)) != 0)
		return CH_INSTALL_ERROR;
	if (ch_cert_load(ctx, serial, &c) != CH_CERT_FOUND)
		return CH_INSTALL_ERROR;
	*json = c.json;
	return CH_INSTALL_DONE;
}

/* ---- the CA's certificates --------------------------------------------- */

static const char *const ca_roles[] = {
	"root", "issuing", "ocsp", "seal_maker", NULL,
};
static const char *const ca_algorithms[] = { "rsa", "ec-p256", "sm2", NULL };

/* The CaCertificate object of row i of res (SQL_CA_COLUMNS): a new
 * reference, or NULL when its certificate does not decode (logged). */
static json_t *
ca_json(PGresult *res, int i)
{
	X509 *x = x509_from_hex(PQgetvalue(res, i, 6), "ca_certificate");
	char *pem;
	size_t len;
	json_t *o;

	if (x == NULL)
		return NULL;
	pem = ch_x509_pem(x, &len);
	X509_free(x);
	if (pem == NULL) {
		ch_error("ca_certificate %s: cannot write its PEM",
		    PQgetvalue(res, i, 3));
		return NULL;
	}
	o = json_pack("{s:s++, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o,"
	    " s:s}",
	    "name", PQgetvalue(res, i, 0), "-", PQgetvalue(res, i, 1),
	    "role", PQgetvalue(res, i, 0),
	    "algorithm", PQgetvalue(res, i, 1),
	    "subject", PQgetvalue(res, i, 2),
	    "serial", PQgetvalue(res, i, 3),
	    "not_before", PQgetvalue(res, i, 4),
	    "not_after", PQgetvalue(res, i, 5),
	    "sha256_fingerprint", PQgetvalue(res, i, 7),
	    "spki_sha256", PQgetvalue(res, i, 8),
	    "issuer", PQgetisnull(res, i, 9) ? json_null()
	        : json_string(PQgetvalue(res, i, 9)),
	    "pem", pem);
	OPENSSL_free(pem);
	if (o == NULL)
		ch_oom();
	return o;
}

json_t *
ch_ca_list_new(ch_ctx_t *ctx)
{
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_ca_list, NULL);
	json_t *list, *o;

	if (res == NULL)
		return NULL;
	if ((list = json_array()) == NULL)
		ch_oom();
	for (int i = 0; i < PQntuples(res); i++) {
		if ((o = ca_json(res, i)) == NULL) {
			json_decref(list);
			return NULL;
		}
		json_array_append_new(list, o);
	}
	return list;
}

ch_cert_result_t
ch_ca_find(ch_ctx_t *ctx, const char *name, ch_ca_t *out)
{
	const char *dash = name != NULL ? strchr(name, '-') : NULL;
	const char *params[2];
	char *text;
	json_t *o;
	PGresult *res;

	if (name == NULL)
		return CH_CERT_NOT_FOUND;
	params[0] = dash != NULL ? ch_pstrndup(ctx->pool, name,
	    (size_t)(dash - name)) : name;
	params[1] = dash != NULL ? dash + 1 : NULL;
	if (ch_code_index(ca_roles, params[0]) < 0 ||
	    (params[1] != NULL && ch_code_index(ca_algorithms, params[1]) < 0))
		return CH_CERT_NOT_FOUND;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_ca_find, params)) == NULL)
		return CH_CERT_ERROR;
	if (PQntuples(res) != 1)
		return CH_CERT_NOT_FOUND;
	if ((o = ca_json(res, 0)) == NULL)
		return CH_CERT_ERROR;
	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		ch_oom();
	json_decref(o);
	out->json = ch_pstrdup(ctx->pool, text);
	free(text);
	out->id = strtoll(PQgetvalue(res, 0, 10), NULL, 10);
	out->name = ch_psprintf(ctx->pool, "%s-%s", PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 1));
	return CH_CERT_FOUND;
}

int
ch_ca_file(ch_ctx_t *ctx, long long id, ch_cert_format_t format,
    const unsigned char **out, size_t *len)
{
	X509 *chain[CHAIN_MAX];
	size_t n = 0;
	PGresult *res;
	int rc = -1;

	if (format == CH_CERT_P7C) {
		if (append_ca_chain(ctx, id, chain, &n) != 0)
			goto out;
	} else {
		res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_ca_der, id);
		if (res == NULL || PQntuples(res) != 1 ||
		    (chain[0] = x509_from_hex(PQgetvalue(res, 0, 0),
		    "ca_certificate")) == NULL)
			goto out;
		n = 1;
	}
	if (n == 0) {
		ch_error("ca_certificate %lld vanished while answering", id);
		goto out;
	}
	rc = encode_chain(ctx, chain, n, format, out, len);
out:
	chain_free(chain, n);
	return rc;
}

/* ---- the issuance queue -------------------------------------------------- */

const char *
ch_job_list(ch_ctx_t *ctx, const ch_job_filter_t *f, size_t *len)
{
	const char *params[4];
	PGresult *res;

	params[0] = f->stage;
	params[1] = f->kind;
	params[2] = id_text(ctx, f->after);
	params[3] = id_text(ctx, f->limit + 1);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_job_list, params))
	    == NULL)
		return NULL;
	return page_json(ctx, res, f->limit, len);
}
