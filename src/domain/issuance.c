/*
 * Issuance: claiming, preparing and recording the signer's work
 * (certhall/domain/issuance.h).
 */
#include "certhall/domain/issuance.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/codec/box.h"
#include "certhall/codec/csr.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define TEXT_ISSUED_SHIP \
	"【四川CA】您的数字证书（申请编号%s）已签发，USBKey制作完成后将尽快寄出，" \
	"请留意物流信息。"
#define TEXT_ISSUED_ONLINE \
	"【四川CA】您的数字证书（申请编号%s）已签发，请登录自助网厅下载并安装新证书，" \
	"安装后请确认开通。"
#define WHY_LOST "another signer took the job over after this attempt's " \
	"lease ran out"

/* ---- statements ------------------------------------------------------- */

/*
 * The claim and the reservation, in one statement (so in one implicit
 * transaction, committed before anything is signed): up to $3 jobs,
 * oldest first, each with the next serial of $4 (the caller's CSPRNG
 * output, one per possible job); serials of earlier attempts of those
 * jobs that never became certificates are abandoned.  Columns: 0 id,
 * 1 attempts, 2 kind, 3 payload, 4 csr (hex), 5 usb_key_serial, 6 serial,
 * 7 applicant_id, 8 the old certificate's id, 9 its not_after (epoch),
 * 10 the serials abandoned, 11 application_id.
 */
static const ch_stmt_t stmt_claim = {
	.name = "issuance_claim",
	.sql = "WITH c AS ("
	       "  UPDATE signing_job j SET status = 'claimed', claimed_by = $1,"
	       "   lease_until = now() + $2::int * interval '1 second',"
	       "   attempts = j.attempts + 1, updated_at = now()"
	       "  WHERE j.id IN (SELECT id FROM signing_job"
	       "    WHERE kind IN ('new', 'renew', 'reissue', 'change')"
	       "      AND csr IS NOT NULL"
	       "      AND (status = 'queued'"
	       "           OR (status = 'claimed' AND lease_until < now()))"
	       "    ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED)"
	       "  RETURNING j.id, j.attempts, j.application_id, j.kind,"
	       "   j.payload, j.csr, j.usb_key_serial),"
	       " n AS (SELECT c.*, row_number() OVER (ORDER BY c.id) AS rn"
	       "  FROM c),"
	       " s AS (INSERT INTO certificate_serial (serial, job_id, attempt,"
	       "   signer)"
	       "  SELECT v.serial, n.id, n.attempts, $1 FROM n"
	       "  JOIN unnest($4::text[]) WITH ORDINALITY AS v(serial, rn)"
	       "   ON v.rn = n.rn"
	       "  RETURNING serial, job_id),"
	       " g AS (UPDATE certificate_serial o SET outcome = 'abandoned',"
	       "   detail = coalesce(o.detail, 'the attempt was given up')"
	       "  FROM c WHERE o.job_id = c.id AND o.attempt < c.attempts"
	       "   AND o.outcome IN ('reserved', 'linted')"
	       "  RETURNING o.serial)"
	       " SELECT n.id, n.attempts, n.kind, n.payload::text,"
	       "  encode(n.csr, 'hex'), n.usb_key_serial, s.serial,"
	       "  a.applicant_id, o.id,"
	       "  floor(extract(epoch FROM o.not_after))::bigint,"
	       "  (SELECT count(*) FROM g), n.application_id"
	       " FROM n JOIN s ON s.job_id = n.id"
	       " JOIN application a ON a.id = n.application_id"
	       " LEFT JOIN certificate o"
	       "  ON o.id = (n.payload->>'certificate_id')::bigint"
	       " ORDER BY n.id",
	.nparams = 4,
};

/* The linted TBS of a batch: $1 serials, $2 their TBS (hex). */
static const ch_stmt_t stmt_store_tbs = {
	.name = "issuance_store_tbs",
	.sql = "UPDATE certificate_serial cs SET tbs = decode(v.tbs, 'hex'),"
	       "  outcome = 'linted'"
	       " FROM unnest($1::text[], $2::text[]) AS v(serial, tbs)"
	       " WHERE cs.serial = v.serial AND cs.outcome = 'reserved'",
	.nparams = 2,
};

/*
 * A job that cannot succeed: failed while this claim holds ($1 id, $2
 * signer, $3 attempt), $4 the reason; its serial $5 lint_failed with the
 * TBS that failed, if any ($6 hex).  Column 0: the application, NULL when
 * the claim no longer held.
 */
static const ch_stmt_t stmt_fail = {
	.name = "issuance_fail",
	.sql = "WITH j AS (UPDATE signing_job SET status = 'failed',"
	       "   failed_at = now(), last_error = $4, lease_until = NULL,"
	       "   updated_at = now()"
	       "  WHERE id = $1 AND status = 'claimed' AND claimed_by = $2"
	       "   AND attempts = $3::int RETURNING application_id),"
	       " s AS (UPDATE certificate_serial SET outcome = 'lint_failed',"
	       "   detail = $4, tbs = coalesce(decode($6, 'hex'), tbs)"
	       "  WHERE serial = $5 AND outcome IN ('reserved', 'linted')"
	       "  RETURNING serial)"
	       " SELECT (SELECT application_id FROM j), (SELECT count(*) FROM s)",
	.nparams = 6,
};

/* A job given back (the token failed, or another signer has it): queued
 * again while this claim holds, its serial abandoned either way. */
static const ch_stmt_t stmt_give_back = {
	.name = "issuance_give_back",
	.sql = "WITH j AS (UPDATE signing_job SET status = 'queued',"
	       "   claimed_by = NULL, lease_until = NULL, last_error = $4,"
	       "   updated_at = now()"
	       "  WHERE id = $1 AND status = 'claimed' AND claimed_by = $2"
	       "   AND attempts = $3::int RETURNING id)"
	       " UPDATE certificate_serial SET outcome = 'abandoned', detail = $4"
	       " WHERE serial = $5 AND outcome IN ('reserved', 'linted')",
	.nparams = 5,
};

/*
 * One issuance, if this claim still holds ($1 id, $2 signer, $3
 * attempt): the job done, the certificate row, the serial issued, the
 * superseded certificate ($20) revoked (NOTIFY revocation with its id, at
 * commit: issue 13's CRL and OCSP passes), the USB key ($12) linked.
 * Columns: 0 the certificate's id (NULL: the claim did not hold), 1 the
 * serials marked issued, 2 the certificates revoked.
 */
static const ch_stmt_t stmt_issue = {
	.name = "issuance_issue",
	.sql = "WITH j AS (UPDATE signing_job SET status = 'done',"
	       "   done_at = now(), lease_until = NULL, last_error = NULL,"
	       "   updated_at = now()"
	       "  WHERE id = $1 AND status = 'claimed' AND claimed_by = $2"
	       "   AND attempts = $3::int RETURNING id),"
	       " c AS (INSERT INTO certificate (serial, certificate_type,"
	       "   unit_name, credit_code, holder_name, holder_id_number,"
	       "   not_before, not_after, usb_key_serial, der, registered_phone,"
	       "   job_id, application_id, applicant_id, issuer_id,"
	       "   key_algorithm, subject, supersedes)"
	       "  SELECT $4, $5, $6, $7, $8, $9, to_timestamp($10::bigint),"
	       "   to_timestamp($11::bigint), $12, decode($13, 'hex'), $14, j.id,"
	       "   $15::bigint, $16::bigint, $17::bigint, $18, $19, $20::bigint"
	       "  FROM j RETURNING id),"
	       " s AS (UPDATE certificate_serial SET outcome = 'issued'"
	       "  WHERE serial = $4 AND job_id = $1 AND attempt = $3::int"
	       "   AND outcome = 'linted' AND EXISTS (SELECT 1 FROM c)"
	       "  RETURNING serial),"
	       " r AS (UPDATE certificate SET status = 'revoked',"
	       "   revoked_at = now(), revocation_reason = 'superseded'"
	       "  WHERE id = $20::bigint AND status = 'valid'"
	       "   AND EXISTS (SELECT 1 FROM c)"
	       "  RETURNING id, pg_notify('revocation', id::text)),"
	       " u AS (UPDATE usb_key SET certificate_id = (SELECT id FROM c)"
	       "  WHERE serial = $12 AND application_id = $15::bigint"
	       "   AND EXISTS (SELECT 1 FROM c) RETURNING serial)"
	       " SELECT (SELECT id FROM c), (SELECT count(*) FROM s),"
	       "  (SELECT count(*) FROM r), (SELECT count(*) FROM u)",
	.nparams = 20,
};

/* Sent in the pipeline like any statement (no round trip of its own). */
static const ch_stmt_t stmt_savepoint = {
	.name = "issuance_savepoint",
	.sql = "SAVEPOINT issuance_job",
	.nparams = 0,
};

static const ch_stmt_t stmt_release_savepoint = {
	.name = "issuance_release_savepoint",
	.sql = "RELEASE SAVEPOINT issuance_job",
	.nparams = 0,
};

static const ch_stmt_t stmt_release = {
	.name = "issuance_release",
	.sql = "WITH j AS (UPDATE signing_job SET status = 'queued',"
	       "   claimed_by = NULL, lease_until = NULL, updated_at = now()"
	       "  WHERE status = 'claimed' AND claimed_by = $1 RETURNING id)"
	       " UPDATE certificate_serial cs SET outcome = 'abandoned',"
	       "  detail = 'the signer lost its batch'"
	       " FROM j WHERE cs.job_id = j.id"
	       "  AND cs.outcome IN ('reserved', 'linted')",
	.nparams = 1,
};

static const ch_stmt_t stmt_heartbeat = {
	.name = "issuance_heartbeat",
	.sql = "INSERT INTO signer_status (name, state, since, last_error,"
	       "  issued, heartbeat_at)"
	       " VALUES ($1, $2, now(), $3, $4::bigint, now())"
	       " ON CONFLICT (name) DO UPDATE SET"
	       "  since = CASE WHEN signer_status.state = excluded.state"
	       "   THEN signer_status.since ELSE now() END,"
	       "  state = excluded.state, last_error = excluded.last_error,"
	       "  issued = excluded.issued, heartbeat_at = now()",
	.nparams = 4,
};

static const ch_stmt_t stmt_signer_ok = {
	.name = "issuance_signer_ok",
	.sql = "SELECT EXISTS (SELECT 1 FROM signer_status WHERE state = 'ok'"
	       "  AND heartbeat_at > now() - $1::int * interval '1 second')",
	.nparams = 1,
	.readonly = true,
};

/* Columns: 0 id, 1 kind, 2 subject, 3 requester_key (hex), 4 expired. */
static const ch_stmt_t stmt_requests = {
	.name = "issuance_requests",
	.sql = "SELECT id, kind, subject, encode(requester_key, 'hex'),"
	       "  expires_at <= now()"
	       " FROM token_request WHERE answered_at IS NULL"
	       " ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED",
	.nparams = 1,
};

static const ch_stmt_t stmt_answer = {
	.name = "issuance_answer",
	.sql = "WITH a AS (UPDATE token_request SET sealed = decode($2, 'hex'),"
	       "   error = $3, answered_at = now()"
	       "  WHERE id = $1 RETURNING id)"
	       " SELECT pg_notify('token_request', id::text) FROM a",
	.nparams = 3,
};

static const ch_stmt_t stmt_ca_find = {
	.name = "issuance_ca_find",
	.sql = "SELECT id, key_ref, encode(der, 'hex'),"
	       "  encode(spki_sha256, 'hex')"
	       " FROM ca_certificate WHERE role = $1 AND algorithm = $2"
	       "  AND active",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_setup_lock = {
	.name = "issuance_setup_lock",
	.sql = "SELECT pg_advisory_lock(hashtext('certhall-signer setup'))",
	.nparams = 0,
};

static const ch_stmt_t stmt_ca_retire = {
	.name = "issuance_ca_retire",
	.sql = "UPDATE ca_certificate SET active = false"
	       " WHERE role = $1 AND algorithm = $2 AND active",
	.nparams = 2,
};

static const ch_stmt_t stmt_ca_add = {
	.name = "issuance_ca_add",
	.sql = "INSERT INTO ca_certificate (role, algorithm, key_ref, subject,"
	       "  serial, not_before, not_after, der, spki_sha256, issuer_id)"
	       " VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint),"
	       "  to_timestamp($7::bigint), decode($8, 'hex'), decode($9, 'hex'),"
	       "  $10::bigint) RETURNING id",
	.nparams = 10,
};

/* ---- pure pieces ------------------------------------------------------- */

static const char *const state_names[CH_SIGNER__MAX] = {
	[CH_SIGNER_STARTING] = "starting",
	[CH_SIGNER_OK] = "ok",
	[CH_SIGNER_TOKEN_UNAVAILABLE] = "token_unavailable",
	[CH_SIGNER_REFUSED] = "refused",
	[CH_SIGNER_STOPPING] = "stopping",
};

const char *
ch_signer_state_name(ch_signer_state_t state)
{
	return (unsigned)state < CH_SIGNER__MAX ? state_names[state] : "";
}

static void
whyf(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
whyf(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

void
ch_issuance_job_clear(ch_issuance_job_t *job)
{
	OPENSSL_free(job->tbs);
	OPENSSL_free(job->der);
	X509_free(job->x);
	job->tbs = job->der = NULL;
	job->tbs_len = job->der_len = 0;
	job->x = NULL;
}

time_t
ch_issuance_add_years(time_t t, int years)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_year += years;
	return timegm(&tm);
}

int
ch_issuance_validity(ch_business_t business, time_t now, int years,
    time_t old_na, time_t *nb, time_t *na, int *years_out, char *why,
    size_t whylen)
{
	int max = ch_x509_profile_max_years(CH_PROFILE_ORG);
	time_t base;

	*nb = *na = 0;
	*years_out = 0;
	switch (business) {
	case CH_BIZ_NEW:
	case CH_BIZ_RENEW:
		if (years < 1 || years > max) {
			whyf(why, whylen, "%d year(s) paid; 1 to %d are "
			    "possible", years, max);
			return -1;
		}
		base = now;
		if (business == CH_BIZ_RENEW) {
			if (old_na <= 0) {
				whyf(why, whylen, "the certificate renewed "
				    "is not on file");
				return -1;
			}
			if (old_na > now)
				base = old_na;
		}
		*nb = now;
		*na = ch_issuance_add_years(base, years);
		*years_out = years;
		return 0;
	case CH_BIZ_REISSUE:
	case CH_BIZ_CHANGE:
		if (old_na <= 0) {
			whyf(why, whylen, "the certificate replaced is not on "
			    "file");
			return -1;
		}
		if (old_na <= now) {
			whyf(why, whylen, "the certificate replaced expired "
			    "before this one could be issued");
			return -1;
		}
		for (int y = 1; y <= max; y++)
			if (ch_issuance_add_years(now, y) >= old_na) {
				*nb = now;
				*na = old_na;
				*years_out = y;
				return 0;
			}
		whyf(why, whylen, "the certificate replaced runs more than %d "
		    "years from now", max);
		return -1;
	case CH_BIZ_REVOKE:
	case CH_BIZ_UNLOCK:
	case CH_BIZ__MAX:
	default:
		whyf(why, whylen, "business \"%s\" issues no certificate",
		    (unsigned)business < CH_BIZ__MAX ?
		    ch_business_codes[business] : "?");
		return -1;
	}
}

/* A member of obj that is a string (copied into pool), or NULL when it is
 * null; -1 when it is there and not a string, or missing and required. */
static int
member_str(ch_pool_t *pool, json_t *obj, const char *name, bool required,
    const char **out, char *why, size_t whylen)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		whyf(why, whylen, "payload: \"%s\" is missing", name);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		whyf(why, whylen, "payload: \"%s\" is not a string", name);
		return -1;
	}
	*out = ch_pstrdup(pool, json_string_value(v));
	return 0;
}

int
ch_issuance_payload_read(ch_pool_t *pool, const char *payload,
    ch_issuance_job_t *job, char *why, size_t whylen)
{
	json_t *p = json_loads(payload, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *type = NULL;
	int rc = -1;

	if (!json_is_object(p)) {
		whyf(why, whylen, "payload: is not a JSON object");
		goto out;
	}
	v = json_object_get(p, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		whyf(why, whylen, "payload: version is not 1");
		goto out;
	}
	if (member_str(pool, p, "certificate_type", true, &type, why,
	    whylen) != 0)
		goto out;
	if (strcmp(type, "org") == 0)
		job->profile = CH_PROFILE_ORG;
	else if (strcmp(type, "personal") == 0)
		job->profile = CH_PROFILE_PERSONAL;
	else {
		whyf(why, whylen, "payload: certificate_type \"%s\" is "
		    "unknown", type);
		goto out;
	}
	if (member_str(pool, p, "unit_name", true, &job->unit_name, why,
	    whylen) != 0 ||
	    member_str(pool, p, "credit_code", true, &job->credit_code, why,
	    whylen) != 0 ||
	    member_str(pool, p, "holder_name", job->profile ==
	    CH_PROFILE_PERSONAL, &job->holder_name, why, whylen) != 0 ||
	    member_str(pool, p, "holder_id_number", job->profile ==
	    CH_PROFILE_PERSONAL, &job->holder_id_number, why, whylen) != 0 ||
	    member_str(pool, p, "handler_phone", false, &job->handler_phone,
	    why, whylen) != 0)
		goto out;
	job->years = 0;
	v = json_object_get(p, "years");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100) {
			whyf(why, whylen, "payload: \"years\" is not a small "
			    "whole number");
			goto out;
		}
		job->years = (int)json_integer_value(v);
	}
	rc = 0;
out:
	json_decref(p);
	return rc;
}

char *
ch_issuance_text_array(ch_pool_t *pool, const char *const *items, int n)
{
	size_t len = 3;
	char *out, *o;

	for (int i = 0; i < n; i++)
		len += items[i] != NULL ? 2 * strlen(items[i]) + 3 : 5;
	o = out = ch_palloc(pool, len);
	*o++ = '{';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			*o++ = ',';
		if (items[i] == NULL) {
			memcpy(o, "NULL", 4);
			o += 4;
			continue;
		}
		*o++ = '"';
		for (const char *s = items[i]; *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				*o++ = '\\';
			*o++ = *s;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

int
ch_issuance_spki_sha256(EVP_PKEY *key, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = key != NULL ? i2d_PUBKEY(key, &der) : -1;
	int rc = len > 0 && EVP_Digest(der, (size_t)len, out, NULL,
	    EVP_sha256(), NULL) == 1 ? 0 : -1;

	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

static const char *
key_algorithm(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "SM2"))
		return "sm2";
	if (EVP_PKEY_is_a(key, "RSA"))
		return "rsa";
	return "ec-p256";
}

/* name as RFC 4514 text, UTF-8 kept, into out. */
static void
name_text(const X509_NAME *name, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0 && (n = BIO_get_mem_data(b, &p)) > 0)
		snprintf(out, cap, "%.*s", (int)n, p);
	BIO_free(b);
}

void
ch_issuance_prepare(ch_issuance_job_t *job, const ch_issuance_ca_t *ca,
    time_t now)
{
	ch_cert_subject_t subject = { 0 };
	ch_cert_spec_t spec;
	ch_csr_result_t res;
	ch_lint_report_t lint;
	EVP_PKEY *pub = NULL;
	X509_REQ *req = NULL;
	char why[256];
	int years = 0;

	if (job->outcome != CH_JOB_CLAIMED)
		return;
	job->outcome = CH_JOB_FAILED;
	subject.unit_name = job->unit_name;
	subject.credit_code = job->credit_code;
	if (job->profile == CH_PROFILE_PERSONAL) {
		subject.person_name = job->holder_name;
		subject.id_number = job->holder_id_number;
	}
	/* The API judged the request before storing it (ch_csr_check:
	 * signature, key, subject); here it is only read for its key, whose
	 * policy the lint checks again (key.policy: kind, size, exponent,
	 * curve).  Neither repeats OpenSSL's public-key check: for an RSA
	 * request that test of the modulus costs several signatures' worth
	 * of CPU, more than all the rest of an issuance. */
	if (job->csr == NULL) {
		whyf(job->why, sizeof job->why, "csr: /csr is missing");
		goto out;
	}
	if ((req = ch_csr_parse(job->csr, job->csr_len, &res)) == NULL ||
	    (pub = X509_REQ_get_pubkey(req)) == NULL) {
		whyf(job->why, sizeof job->why, "csr: /csr %s", req == NULL ?
		    res.text : "has no readable public key");
		goto out;
	}
	job->key_algorithm = key_algorithm(pub);
	if (ch_issuance_validity(job->business, now, job->years,
	    job->old_id > 0 ? job->old_not_after : 0, &job->not_before,
	    &job->not_after, &years, why, sizeof why) != 0) {
		whyf(job->why, sizeof job->why, "validity: %s", why);
		goto out;
	}
	job->spec_years = years;
	memset(&spec, 0, sizeof spec);
	spec.profile = job->profile;
	spec.serial = job->serial;
	spec.serial_len = job->serial_len;
	spec.not_before = job->not_before;
	spec.not_after = job->not_after;
	spec.years = years;
	spec.subject = subject;
	spec.public_key = pub;
	spec.issuer = ca->issuer;
	spec.crl_url = ca->crl_url;
	spec.ocsp_url = ca->ocsp_url;
	spec.ca_issuers_url = ca->ca_issuers_url;
	spec.policy_oid = ca->policy_oid;
	if ((job->x = ch_x509_build(&spec, why, sizeof why)) == NULL) {
		whyf(job->why, sizeof job->why, "build: %s", why);
		goto out;
	}
	if (ch_x509_precert(job->x, X509_get0_pubkey(ca->issuer), &job->tbs,
	    &job->tbs_len, why, sizeof why) != 0) {
		whyf(job->why, sizeof job->why, "%s", why);
		goto out;
	}
	if (ch_x509_lint(job->x, &spec, &lint) != 0) {
		whyf(job->why, sizeof job->why, "lint %s: %s",
		    ch_x509_lint_rule_id(lint.first), lint.text);
		goto out;
	}
	name_text(X509_get_subject_name(job->x), job->subject,
	    sizeof job->subject);
	job->outcome = CH_JOB_LINTED;
out:
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	ERR_clear_error();
}

/* ---- the claim --------------------------------------------------------- */

/* One claimed row into job. */
static void
claim_row(ch_pool_t *pool, PGresult *res, int row, ch_issuance_job_t *job)
{
	const char *csr_hex = PQgetvalue(res, row, 4), *serial;
	size_t hexlen = strlen(csr_hex);
	int business;

	memset(job, 0, sizeof *job);
	job->outcome = CH_JOB_CLAIMED;
	job->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	job->attempt = atoi(PQgetvalue(res, row, 1));
	business = ch_code_index(ch_business_codes, PQgetvalue(res, row, 2));
	job->business = business < 0 ? CH_BIZ__MAX : (ch_business_t)business;
	job->applicant_id = strtoll(PQgetvalue(res, row, 7), NULL, 10);
	job->application_id = strtoll(PQgetvalue(res, row, 11), NULL, 10);
	if (!PQgetisnull(res, row, 5))
		job->usb_key_serial = ch_pstrdup(pool, PQgetvalue(res, row, 5));
	if (!PQgetisnull(res, row, 8)) {
		job->old_id = strtoll(PQgetvalue(res, row, 8), NULL, 10);
		job->old_not_after = (time_t)strtoll(PQgetvalue(res, row, 9),
		    NULL, 10);
	}
	serial = PQgetvalue(res, row, 6);
	snprintf(job->serial_hex, sizeof job->serial_hex, "%s", serial);
	job->serial_len = strlen(serial) / 2;
	if (job->serial_len > sizeof job->serial ||
	    ch_unhex(serial, job->serial, job->serial_len) != 0) {
		/* Cannot happen: the serial is ours, checked by the table. */
		job->outcome = CH_JOB_FAILED;
		whyf(job->why, sizeof job->why, "serial: \"%s\" is unreadable",
		    serial);
		return;
	}
	if (hexlen > 0 && hexlen % 2 == 0) {
		unsigned char *csr = ch_palloc(pool, hexlen / 2);

		if (ch_unhex(csr_hex, csr, hexlen / 2) == 0) {
			job->csr = csr;
			job->csr_len = hexlen / 2;
		}
	}
	if (ch_issuance_payload_read(pool, PQgetvalue(res, row, 3), job,
	    job->why, sizeof job->why) != 0) {
		job->outcome = CH_JOB_FAILED;
		return;
	}
	if (job->business == CH_BIZ__MAX) {
		job->outcome = CH_JOB_FAILED;
		whyf(job->why, sizeof job->why, "kind: \"%s\" is unknown",
		    PQgetvalue(res, row, 2));
	}
}

int
ch_issuance_claim(ch_ctx_t *ctx, const char *signer, int lease_s, int max,
    ch_issuance_job_t **jobs, int *n)
{
	const char **serials;
	const char *params[4];
	char lease[16], limit[16];
	PGresult *res;
	int rows, rc = -1;

	*jobs = NULL;
	*n = 0;
	if (max < 1 || max > CH_ISSUANCE_BATCH_MAX)
		return -1;
	serials = ch_palloc(ctx->pool, (size_t)max * sizeof *serials);
	for (int i = 0; i < max; i++) {
		unsigned char s[CH_X509_SERIAL_LEN];
		char hex[CH_OCSP_SERIAL_HEX_MAX];

		if (ch_x509_serial_new(s) != 0 ||
		    ch_ocsp_serial_hex(s, sizeof s, hex) != 0) {
			ch_error("issuance: the CSPRNG failed; nothing claimed");
			return -1;
		}
		serials[i] = ch_pstrdup(ctx->pool, hex);
	}
	snprintf(lease, sizeof lease, "%d", lease_s);
	snprintf(limit, sizeof limit, "%d", max);
	params[0] = signer;
	params[1] = lease;
	params[2] = limit;
	params[3] = ch_issuance_text_array(ctx->pool, serials, max);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_claim, params);
	if (res == NULL)
		goto out;
	rows = PQntuples(res);
	if (rows > 0) {
		*jobs = ch_palloc(ctx->pool, (size_t)rows * sizeof **jobs);
		for (int i = 0; i < rows; i++)
			claim_row(ctx->pool, res, i, &(*jobs)[i]);
		if (strcmp(PQgetvalue(res, 0, 10), "0") != 0)
			ch_info("issuance: %s serial(s) of earlier attempts "
			    "abandoned", PQgetvalue(res, 0, 10));
	}
	*n = rows;
	rc = 0;
out:
	return rc;
}

/* ---- recording outcomes ------------------------------------------------ */

/*
 * Ends job as failed while signer's claim holds (outcome CH_JOB_ENDED, or
 * CH_JOB_LOST when the claim no longer held), its serial lint_failed
 * (keeping the TBS that failed, if any), and the audit event.  In the
 * caller's transaction.  0 or -1.
 */
static int
fail_job(ch_ctx_t *ctx, const char *signer, ch_issuance_job_t *job)
{
	char id[24], attempt[16], app[24];
	const char *params[6];
	PGresult *res;

	snprintf(id, sizeof id, "%lld", job->id);
	snprintf(attempt, sizeof attempt, "%d", job->attempt);
	params[0] = id;
	params[1] = signer;
	params[2] = attempt;
	params[3] = job->why[0] ? job->why : "failed";
	params[4] = job->serial_hex;
	params[5] = job->tbs != NULL ? ch_hex_pool(ctx->pool, job->tbs,
	    job->tbs_len) : NULL;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_fail, params);
	if (res == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		ch_warn("job %lld: failure not recorded, another signer holds "
		    "it now: %s", job->id, params[3]);
		job->outcome = CH_JOB_LOST;
		return 0;
	}
	snprintf(app, sizeof app, "%s", PQgetvalue(res, 0, 0));
	ch_warn("job %lld (application %s) failed, attempt %d: %s", job->id,
	    app, job->attempt, params[3]);
	job->outcome = CH_JOB_ENDED;
	return ch_audit(ctx, "issuance.failed", "application", app,
	    json_pack("{s:I, s:i, s:s, s:s}", "job_id", (json_int_t)job->id,
	    "attempt", job->attempt, "serial", job->serial_hex,
	    "reason", params[3]));
}

/* Queues job again while signer's claim holds; its serial abandoned.
 * Queued in the caller's transaction.  0 or -1. */
static int
give_back(ch_ctx_t *ctx, const char *signer, const ch_issuance_job_t *job,
    const char *why)
{
	char id[24], attempt[16];
	const char *params[5] = { id, signer, attempt, why, job->serial_hex };

	snprintf(id, sizeof id, "%lld", job->id);
	snprintf(attempt, sizeof attempt, "%d", job->attempt);
	return ch_db_queue(ctx->db, ctx->pool, &stmt_give_back, params);
}

int
ch_issuance_store_linted(ch_ctx_t *ctx, const char *signer,
    ch_issuance_job_t *jobs, int n)
{
	const char **serials = ch_palloc(ctx->pool, (size_t)(n + 1) *
	    sizeof *serials);
	const char **tbs = ch_palloc(ctx->pool, (size_t)(n + 1) * sizeof *tbs);
	const char *params[2];
	int linted = 0;

	for (int i = 0; i < n; i++) {
		if (jobs[i].outcome != CH_JOB_LINTED)
			continue;
		serials[linted] = jobs[i].serial_hex;
		tbs[linted] = ch_hex_pool(ctx->pool, jobs[i].tbs,
		    jobs[i].tbs_len);
		linted++;
	}
	if (ch_db_begin(ctx->db) != 0)
		goto fail;
	if (linted > 0) {
		params[0] = ch_issuance_text_array(ctx->pool, serials, linted);
		params[1] = ch_issuance_text_array(ctx->pool, tbs, linted);
		if (ch_db_queue(ctx->db, ctx->pool, &stmt_store_tbs,
		    params) != 0)
			goto fail;
	}
	for (int i = 0; i < n; i++)
		if (jobs[i].outcome == CH_JOB_FAILED &&
		    fail_job(ctx, signer, &jobs[i]) != 0)
			goto fail;
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	return 0;
fail:
	ch_db_finish(ctx->db);
	ch_error("issuance: the linted certificates of the batch were not "
	    "stored; its jobs wait for their lease to run out");
	return -1;
}

/*
 * Rolls back the current job's writes after a statement of it failed on
 * a live connection.  0, or -1 when the transaction cannot go on.
 */
static int
job_rollback(ch_ctx_t *ctx)
{
	if (ch_db_conn(ctx->db) == NULL)
		return -1;
	return ch_db_command(ctx->db, "ROLLBACK TO SAVEPOINT issuance_job");
}

/* stmt_issue's params for job, in ctx->pool. */
static const char *const *
issue_params(ch_ctx_t *ctx, const char *signer, const ch_issuance_ca_t *ca,
    const ch_issuance_job_t *job)
{
	const char **params = ch_palloc(ctx->pool, 20 * sizeof *params);
	bool supersedes = job->business == CH_BIZ_REISSUE ||
	    job->business == CH_BIZ_CHANGE;

	params[0] = ch_psprintf(ctx->pool, "%lld", job->id);
	params[1] = signer;
	params[2] = ch_psprintf(ctx->pool, "%d", job->attempt);
	params[3] = job->serial_hex;
	params[4] = job->profile == CH_PROFILE_PERSONAL ? "personal" : "org";
	params[5] = job->unit_name;
	params[6] = job->credit_code;
	params[7] = job->profile == CH_PROFILE_PERSONAL ? job->holder_name
	    : NULL;
	params[8] = job->profile == CH_PROFILE_PERSONAL ?
	    job->holder_id_number : NULL;
	params[9] = ch_psprintf(ctx->pool, "%lld", (long long)job->not_before);
	params[10] = ch_psprintf(ctx->pool, "%lld", (long long)job->not_after);
	params[11] = job->usb_key_serial;
	params[12] = ch_hex_pool(ctx->pool, job->der, job->der_len);
	params[13] = job->handler_phone;
	params[14] = ch_psprintf(ctx->pool, "%lld", job->application_id);
	params[15] = ch_psprintf(ctx->pool, "%lld", job->applicant_id);
	params[16] = ch_psprintf(ctx->pool, "%lld", ca->issuer_id);
	params[17] = job->key_algorithm;
	params[18] = job->subject;
	params[19] = supersedes && job->old_id > 0 ?
	    ch_psprintf(ctx->pool, "%lld", job->old_id) : NULL;
	return params;
}

/* What stmt_issue did for job (res, its result): 1 stored
 * (job->certificate_id set), 0 the claim did not hold (nothing written),
 * -1 error; *revoked the certificates revoked. */
static int
issue_read(PGresult *res, ch_issuance_job_t *job, int *revoked)
{
	if (res == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0))
		return 0;
	if (strcmp(PQgetvalue(res, 0, 1), "1") != 0) {
		ch_error("job %lld: serial \"%s\" was not stored as linted",
		    job->id, job->serial_hex);
		return -1;
	}
	job->certificate_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*revoked = atoi(PQgetvalue(res, 0, 2));
	return 1;
}

/* The audit detail of the application's move to issued. */
static json_t *
issued_detail(const ch_issuance_job_t *job)
{
	return json_pack("{s:I, s:s, s:I}", "job_id", (json_int_t)job->id,
	    "serial", job->serial_hex, "certificate_id",
	    (json_int_t)job->certificate_id);
}

/*
 * After the application's move to issued: the superseded certificate's
 * audit event (revoked > 0) and the SMS (phone: the handler phone's read,
 * ch_wf_notify_send()).  0 or -1.
 */
static int
issued_news(ch_ctx_t *ctx, const ch_issuance_job_t *job, int revoked,
    PGresult *phone)
{
	char app[24], old[24];
	const char *text;

	if (revoked > 0) {
		snprintf(old, sizeof old, "%lld", job->old_id);
		if (ch_audit(ctx, "certificate.revoked", "certificate", old,
		    json_pack("{s:s, s:s, s:I}", "reason", "superseded",
		    "by", job->serial_hex, "application_id",
		    (json_int_t)job->application_id)) != 0)
			return -1;
	}
	snprintf(app, sizeof app, "%lld", job->application_id);
	text = ch_psprintf(ctx->pool, job->business == CH_BIZ_RENEW ||
	    job->business == CH_BIZ_CHANGE ? TEXT_ISSUED_ONLINE
	    : TEXT_ISSUED_SHIP, app);
	return ch_wf_notify_sent(ctx, phone, "issued",
	    json_pack("{s:s}", "id", app), text);
}

/*
 * One signed job, inside its savepoint: the certificate, the application
 * issued (history, audit, SMS), the superseded certificate's audit event.
 * 0 done (outcome ISSUED or LOST), 1 the application is not issuing (job
 * to fail), -1 error (the caller rolls the job back).
 */
static int
issue_one(ch_ctx_t *ctx, const char *signer, const ch_issuance_ca_t *ca,
    ch_issuance_job_t *job)
{
	ch_app_status_t now = CH_ST__MAX;
	PGresult *phone = NULL;
	int revoked = 0, r;

	r = issue_read(ch_db_exec(ctx->db, ctx->pool, &stmt_issue,
	    issue_params(ctx, signer, ca, job)), job, &revoked);
	if (r < 0)
		return -1;
	if (r == 0) {
		job->outcome = CH_JOB_LOST;
		ch_warn("job %lld: %s; serial \"%s\" abandoned", job->id,
		    WHY_LOST, job->serial_hex);
		return give_back(ctx, signer, job, WHY_LOST);
	}
	switch (ch_wf_transition(ctx, job->application_id,
	    CH_ST_BIT(CH_ST_ISSUING), CH_ST_ISSUED, NULL, issued_detail(job),
	    NULL)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		if (ch_wf_status_now(ctx, job->application_id, &now) != 0)
			return -1;
		whyf(job->why, sizeof job->why, "application: is %s, not "
		    "issuing", ch_app_status_name(now));
		return 1;
	case CH_WF_ERROR:
	default:
		return -1;
	}
	if (ch_wf_notify_send(ctx, job->application_id, &phone) != 0 ||
	    ch_db_sync(ctx->db) != 0 || issued_news(ctx, job, revoked, phone)
	    != 0)
		return -1;
	job->outcome = CH_JOB_ISSUED;
	return 0;
}

/*
 * The batch recorded in three round trips instead of three a job, when
 * every job of it was signed (the usual batch): every job's stmt_issue
 * sent at once; then, for those whose claim held, every application's
 * move to issued and its handler phone; then the history rows, audit
 * events, SMS and the COMMIT.  Each statement is the one issue_one() runs
 * and each job ends as issue_one() would end it, except that nothing here
 * is undone for one job alone: anything not as expected (a statement
 * that failed, a serial not linted, an application that is no longer
 * issuing) rolls the whole transaction back, and the caller records the
 * batch job by job, a savepoint each.  So a job's writes are still all or
 * nothing, and the batch still one transaction.
 *
 * 0 recorded and committed (*count issued); 1 nothing recorded, the
 * transaction rolled back: record it job by job; -1 the database failed.
 */
static int
finish_together(ch_ctx_t *ctx, const char *signer, const ch_issuance_ca_t *ca,
    ch_issuance_job_t *jobs, int n, int *count)
{
	PGresult **issued = ch_palloc(ctx->pool, (size_t)n * sizeof *issued);
	PGresult **move = ch_palloc(ctx->pool, (size_t)n * sizeof *move);
	PGresult **phone = ch_palloc(ctx->pool, (size_t)n * sizeof *phone);
	int *revoked = ch_palloc(ctx->pool, (size_t)n * sizeof *revoked);
	int *held = ch_palloc(ctx->pool, (size_t)n * sizeof *held);
	char state[8];

	*count = 0;
	if (ch_db_begin(ctx->db) != 0)
		goto undo;
	for (int i = 0; i < n; i++)
		if (ch_db_send(ctx->db, ctx->pool, &stmt_issue,
		    issue_params(ctx, signer, ca, &jobs[i]), &issued[i]) != 0)
			goto undo;
	if (ch_db_sync(ctx->db) != 0)
		goto undo;
	for (int i = 0; i < n; i++) {
		revoked[i] = 0;
		if ((held[i] = issue_read(issued[i], &jobs[i], &revoked[i])) < 0)
			goto undo;
		if (held[i] == 0) {
			if (give_back(ctx, signer, &jobs[i], WHY_LOST) != 0)
				goto undo;
			continue;
		}
		if (ch_wf_transition_send(ctx, jobs[i].application_id,
		    CH_ST_BIT(CH_ST_ISSUING), CH_ST_ISSUED, &move[i]) != 0 ||
		    ch_wf_notify_send(ctx, jobs[i].application_id, &phone[i])
		    != 0)
			goto undo;
	}
	if (ch_db_sync(ctx->db) != 0)
		goto undo;
	for (int i = 0; i < n; i++)
		if (held[i] > 0 && (ch_wf_transition_sent(ctx,
		    jobs[i].application_id, CH_ST_ISSUED, NULL,
		    issued_detail(&jobs[i]), move[i]) != CH_WF_OK ||
		    issued_news(ctx, &jobs[i], revoked[i], phone[i]) != 0))
			goto undo;
	if (ch_db_commit(ctx->db) != 0)
		goto undo;
	for (int i = 0; i < n; i++) {
		if (held[i] > 0) {
			jobs[i].outcome = CH_JOB_ISSUED;
			(*count)++;
			continue;
		}
		jobs[i].outcome = CH_JOB_LOST;
		ch_warn("job %lld: %s; serial \"%s\" abandoned", jobs[i].id,
		    WHY_LOST, jobs[i].serial_hex);
	}
	return 0;
undo:
	for (int i = 0; i < n; i++)
		jobs[i].certificate_id = 0;
	/* A connection lost (a COMMIT's fate unknown): the batch is the
	 * caller's to drop, as job by job. */
	snprintf(state, sizeof state, "%s", ch_db_sqlstate(ctx->db));
	(void)ch_db_sync(ctx->db);
	if (strncmp(state, "08", 2) == 0 || ch_db_conn(ctx->db) == NULL ||
	    ch_db_rollback(ctx->db) != 0) {
		ch_db_finish(ctx->db);
		return -1;
	}
	ch_info("issuance: the batch is recorded job by job");
	return 1;
}

int
ch_issuance_finish(ch_ctx_t *ctx, const char *signer,
    const ch_issuance_ca_t *ca, ch_issuance_job_t *jobs, int n, int *issued)
{
	int count = 0, together = n > 0 ? 1 : 0;

	if (issued != NULL)
		*issued = 0;
	for (int i = 0; i < n; i++)
		if (jobs[i].outcome != CH_JOB_SIGNED)
			together = 0;
	if (together && (together = finish_together(ctx, signer, ca, jobs,
	    n, &count)) <= 0) {
		if (together < 0)
			goto fail;
		if (issued != NULL)
			*issued = count;
		return 0;
	}
	if (ch_db_begin(ctx->db) != 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		ch_issuance_job_t *job = &jobs[i];
		char state[8];
		int r;

		switch (job->outcome) {
		case CH_JOB_SIGNED:
			break;
		case CH_JOB_GIVE_BACK:
			if (give_back(ctx, signer, job, job->why) != 0)
				goto fail;
			continue;
		case CH_JOB_FAILED:
			if (fail_job(ctx, signer, job) != 0)
				goto fail;
			continue;
		default:
			continue;
		}
		if (ch_db_queue(ctx->db, ctx->pool, &stmt_savepoint, NULL) != 0)
			goto fail;
		r = issue_one(ctx, signer, ca, job);
		if (r == 0) {
			if (ch_db_queue(ctx->db, ctx->pool,
			    &stmt_release_savepoint, NULL) != 0)
				goto fail;
			count += job->outcome == CH_JOB_ISSUED;
			continue;
		}
		/* This job's writes go; the batch goes on without them. */
		snprintf(state, sizeof state, "%s", ch_db_sqlstate(ctx->db));
		if (job_rollback(ctx) != 0)
			goto fail;
		if (r < 0) {
			whyf(job->why, sizeof job->why, "database: the "
			    "issuance could not be stored (SQLSTATE %s)",
			    state[0] ? state : "?");
			/* Data the database refuses (classes 22 and 23) would
			 * be refused again: the job cannot succeed.  A
			 * duplicate (23505) may be a serial met by chance: a
			 * new attempt gets a new one. */
			r = (strncmp(state, "22", 2) == 0 ||
			    strncmp(state, "23", 2) == 0) &&
			    strcmp(state, "23505") != 0;
		}
		if (r > 0) {
			job->outcome = CH_JOB_FAILED;
			if (fail_job(ctx, signer, job) != 0)
				goto fail;
		} else {
			job->outcome = CH_JOB_GIVE_BACK;
			if (give_back(ctx, signer, job, job->why) != 0)
				goto fail;
		}
	}
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	if (issued != NULL)
		*issued = count;
	return 0;
fail:
	ch_db_finish(ctx->db);
	for (int i = 0; i < n; i++)
		if (jobs[i].outcome == CH_JOB_ISSUED)
			jobs[i].outcome = CH_JOB_SIGNED;
	ch_error("issuance: the batch was not recorded; its jobs wait for "
	    "their lease to run out");
	return -1;
}

int
ch_issuance_release(ch_ctx_t *ctx, const char *signer)
{
	const char *params[1] = { signer };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_release, params);

	if (res == NULL)
		return -1;
	return 0;
}

int
ch_issuance_heartbeat(ch_ctx_t *ctx, const char *signer,
    ch_signer_state_t state, const char *last_error, long long issued)
{
	char count[24];
	const char *params[4] = { signer, ch_signer_state_name(state),
	    last_error, count };

	snprintf(count, sizeof count, "%lld", issued);
	return ch_db_exec(ctx->db, ctx->pool, &stmt_heartbeat, params) != NULL
	    ? 0 : -1;
}

int
ch_issuance_signer_ok(ch_ctx_t *ctx, int max_age_s, bool *ok)
{
	char age[16];
	const char *params[1] = { age };
	PGresult *res;

	*ok = false;
	snprintf(age, sizeof age, "%d", max_age_s);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_signer_ok, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	*ok = *PQgetvalue(res, 0, 0) == 't';
	return 0;
}

int
ch_issuance_answer_requests(ch_ctx_t *ctx, int max,
    ch_issuance_answer_fn answer, void *arg, int *answered)
{
	char limit[16];
	const char *params[3];
	PGresult *res;
	int rows;

	*answered = 0;
	snprintf(limit, sizeof limit, "%d", max);
	params[0] = limit;
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_requests, params))
	    == NULL)
		goto fail;
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		const char *hex = PQgetvalue(res, i, 3), *error = NULL;
		size_t klen = strlen(hex) / 2, blen = 0;
		unsigned char *key = ch_palloc(ctx->pool, klen + 1);
		unsigned char box[CH_BOX_MAX_BYTES];

		if (*PQgetvalue(res, i, 4) == 't')
			error = "expired before the signer answered";
		else if (strcmp(PQgetvalue(res, i, 1), "so_pin") != 0)
			error = "unknown kind of request";
		else if (strlen(hex) % 2 != 0 || ch_unhex(hex, key, klen) != 0)
			error = "the requester key is unreadable";
		else
			error = answer(arg, PQgetvalue(res, i, 2), key, klen,
			    box, sizeof box, &blen);
		params[0] = PQgetvalue(res, i, 0);
		params[1] = error == NULL ?
		    ch_hex_pool(ctx->pool, box, blen) : NULL;
		params[2] = error;
		OPENSSL_cleanse(box, sizeof box);
		if (ch_db_queue(ctx->db, ctx->pool, &stmt_answer, params) != 0)
			goto fail;
		if (error != NULL)
			ch_warn("token request %s (%s for \"%s\") not answered: "
			    "%s", params[0], PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2), error);
		else
			ch_info("token request %s (%s for \"%s\") answered",
			    params[0], PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2));
	}
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	*answered = rows;
	return 0;
fail:
	ch_db_finish(ctx->db);
	return -1;
}

/* ---- the CA's certificates -------------------------------------------- */

static void
x509_cleanup(void *x)
{
	X509_free(x);
}

int
ch_issuance_ca_find(ch_ctx_t *ctx, const char *role, const char *alg,
    ch_ca_cert_t *out)
{
	const char *params[2] = { role, alg }, *hex;
	const unsigned char *p;
	unsigned char *der;
	size_t len;
	PGresult *res;

	memset(out, 0, sizeof *out);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_ca_find, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->key_ref = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	hex = PQgetvalue(res, 0, 2);
	len = strlen(hex) / 2;
	der = ch_palloc(ctx->pool, len + 1);
	if (ch_unhex(hex, der, len) != 0 ||
	    ch_unhex(PQgetvalue(res, 0, 3), out->spki_sha256, 32) != 0)
		goto bad;
	p = der;
	if ((out->x = d2i_X509(NULL, &p, (long)len)) == NULL)
		goto bad;
	ch_pool_cleanup(ctx->pool, x509_cleanup, out->x);
	return 1;
bad:
	ERR_clear_error();
	ch_error("ca_certificate %lld (%s, %s) cannot be read", out->id, role,
	    alg);
	return -1;
}

int
ch_issuance_ca_add(ch_ctx_t *ctx, const char *role, const char *alg,
    const char *key_ref, X509 *x, long long issuer_id, long long *id)
{
	char nb[24], na[24], issuer[24], subject[512];
	char serial[CH_OCSP_SERIAL_HEX_MAX];
	unsigned char fp[32], *der = NULL;
	const char *params[10];
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	time_t b, a;
	size_t len = 0;
	PGresult *res;
	int rc = -1;

	der = ch_x509_der(x, &len);
	if (der == NULL || sn == NULL ||
	    ch_ocsp_serial_hex(ASN1_STRING_get0_data(sn),
	    (size_t)ASN1_STRING_length(sn), serial) != 0 ||
	    ch_issuance_spki_sha256(X509_get0_pubkey(x), fp) != 0) {
		ch_error("the %s certificate cannot be encoded", role);
		goto out;
	}
	{
		struct tm tm;

		if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
			goto out;
		b = timegm(&tm);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
			goto out;
		a = timegm(&tm);
	}
	name_text(X509_get_subject_name(x), subject, sizeof subject);
	snprintf(nb, sizeof nb, "%lld", (long long)b);
	snprintf(na, sizeof na, "%lld", (long long)a);
	snprintf(issuer, sizeof issuer, "%lld", issuer_id);
	params[0] = role;
	params[1] = alg;
	params[2] = key_ref;
	params[3] = subject;
	params[4] = serial;
	params[5] = nb;
	params[6] = na;
	params[7] = ch_hex_pool(ctx->pool, der, len);
	params[8] = ch_hex_pool(ctx->pool, fp, sizeof fp);
	params[9] = issuer_id > 0 ? issuer : NULL;
	if (ch_db_begin(ctx->db) != 0 ||
	    ch_db_queue(ctx->db, ctx->pool, &stmt_ca_retire, params) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_ca_add, params))
	    == NULL || PQntuples(res) != 1 || ch_db_commit(ctx->db) != 0) {
		ch_db_finish(ctx->db);
		goto out;
	}
	if (id != NULL)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	rc = 0;
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

int
ch_issuance_setup_lock(ch_ctx_t *ctx)
{
	return ch_db_exec(ctx->db, ctx->pool, &stmt_setup_lock, NULL) != NULL
	    ? 0 : -1;
}
