/*
 * OCSP (certhall/codec/ocsp.h): requests read and classified for the web
 * workers, the unsigned error answers, responses signed for the signer and
 * read back for tests.
 */
#include "certhall/codec/ocsp.h"
#include "certhall/base/util.h"
#include "revoke_int.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

static const char *const hash_names[CH_OCSP_HASH__MAX] = {
	[CH_OCSP_SHA1] = "sha1", [CH_OCSP_SHA256] = "sha256",
};
static const int hash_lens[CH_OCSP_HASH__MAX] = {
	[CH_OCSP_SHA1] = 20, [CH_OCSP_SHA256] = 32,
};

static const EVP_MD *
hash_md(ch_ocsp_hash_t hash)
{
	return hash == CH_OCSP_SHA1 ? EVP_sha1() : EVP_sha256();
}

const char *
ch_ocsp_hash_name(ch_ocsp_hash_t hash)
{
	return (unsigned)hash < CH_OCSP_HASH__MAX ? hash_names[hash] : "";
}

const char *
ch_ocsp_verdict_name(ch_ocsp_verdict_t verdict)
{
	static const char *const names[CH_OCSP_REQ__MAX] = {
		[CH_OCSP_REQ_OK] = "ok",
		[CH_OCSP_REQ_MALFORMED] = "malformed",
		[CH_OCSP_REQ_UNAUTHORIZED] = "unauthorized",
	};

	return (unsigned)verdict < CH_OCSP_REQ__MAX ? names[verdict] : "";
}

const char *
ch_ocsp_cert_status_name(ch_ocsp_cert_status_t status)
{
	static const char *const names[CH_OCSP_CERT__MAX] = {
		[CH_OCSP_GOOD] = "good", [CH_OCSP_REVOKED] = "revoked",
		[CH_OCSP_UNKNOWN] = "unknown",
	};

	return (unsigned)status < CH_OCSP_CERT__MAX ? names[status] : "";
}

int
ch_ocsp_serial_hex(const unsigned char *serial, size_t len,
    char out[CH_OCSP_SERIAL_HEX_MAX])
{
	static const char digits[] = "0123456789abcdef";

	out[0] = '\0';
	if (serial == NULL)
		return -1;
	len = ch_revoke_serial_trim(&serial, len);
	if (len == 0 || len > CH_X509_SERIAL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[serial[i] >> 4];
		out[2 * i + 1] = digits[serial[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

int
ch_ocsp_issuer_init(ch_ocsp_issuer_t *iss, X509 *issuer)
{
	const ASN1_BIT_STRING *key = issuer != NULL ?
	    X509_get0_pubkey_bitstr(issuer) : NULL;
	unsigned int n;
	int rc = -1;

	memset(iss, 0, sizeof *iss);
	if (key == NULL)
		goto out;
	/* X509_NAME_digest is what OCSP_cert_id_new hashes: the DER. */
	for (int h = 0; h < CH_OCSP_HASH__MAX; h++)
		if (X509_NAME_digest(X509_get_subject_name(issuer),
		    hash_md(h), iss->name_hash[h], &n) != 1 ||
		    n != (unsigned)hash_lens[h] ||
		    EVP_Digest(ASN1_STRING_get0_data(key),
		    (size_t)ASN1_STRING_length(key), iss->key_hash[h], &n,
		    hash_md(h), NULL) != 1)
			goto out;
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

/* ---- requests ------------------------------------------------------------ */

/*
 * A CertID into *out, its issuer looked up among the nissuers issuers.
 * NULL, or a static reason why it cannot be one of a certificate.
 */
static const char *
certid_read(OCSP_CERTID *cid, const ch_ocsp_issuer_t *issuers,
    size_t nissuers, ch_ocsp_certid_t *out)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *alg = NULL;
	ASN1_INTEGER *serial = NULL;
	const unsigned char *s;
	size_t len;
	ch_ocsp_hash_t h;

	memset(out, 0, sizeof *out);
	out->issuer = -1;
	if (cid == NULL ||
	    OCSP_id_get0_info(&nh, &alg, &kh, &serial, cid) != 1)
		return "has an unreadable CertID";
	switch (OBJ_obj2nid(alg)) {
	case NID_sha1:
		h = CH_OCSP_SHA1;
		break;
	case NID_sha256:
		h = CH_OCSP_SHA256;
		break;
	default:
		return "has a CertID hashed with neither SHA-1 nor SHA-256";
	}
	if (ASN1_STRING_length(nh) != hash_lens[h] ||
	    ASN1_STRING_length(kh) != hash_lens[h])
		return "has CertID hashes of the wrong length";
	s = ASN1_STRING_get0_data(serial);
	len = ch_revoke_serial_trim(&s,
	    (size_t)ASN1_STRING_length(serial));
	if (ASN1_STRING_type(serial) != V_ASN1_INTEGER || len == 0 ||
	    len > CH_X509_SERIAL_MAX)
		return "has a serial that is not positive or longer than 20 "
		    "bytes";
	out->hash = h;
	memcpy(out->serial, s, len);
	out->serial_len = len;
	ch_ocsp_serial_hex(s, len, out->serial_hex);
	snprintf(out->key, sizeof out->key, "%s:%s", hash_names[h],
	    out->serial_hex);
	for (size_t i = 0; i < nissuers && i < INT_MAX; i++) {
		if (memcmp(ASN1_STRING_get0_data(nh), issuers[i].name_hash[h],
		    (size_t)hash_lens[h]) == 0 &&
		    memcmp(ASN1_STRING_get0_data(kh), issuers[i].key_hash[h],
		    (size_t)hash_lens[h]) == 0) {
			out->issuer = (int)i;
			break;
		}
	}
	return NULL;
}

static ch_ocsp_verdict_t
say(ch_ocsp_request_t *req, ch_ocsp_verdict_t v, const char *text)
{
	req->verdict = v;
	req->text = text;
	if (v == CH_OCSP_REQ_MALFORMED)
		req->n = 0;
	return v;
}

ch_ocsp_verdict_t
ch_ocsp_request_parse(const void *in, size_t len,
    const ch_ocsp_issuer_t *issuers, size_t nissuers, ch_ocsp_request_t *req)
{
	const unsigned char *der = in, *p = der;
	OCSP_REQUEST *r = NULL;
	unsigned char *re = NULL;
	const char *why;
	int n, relen;

	memset(req, 0, sizeof *req);
	say(req, CH_OCSP_REQ_MALFORMED, "");
	if (der == NULL || len == 0) {
		say(req, CH_OCSP_REQ_MALFORMED, "is empty");
		goto out;
	}
	if (len > CH_OCSP_REQUEST_MAX_BYTES) {
		say(req, CH_OCSP_REQ_MALFORMED, "is larger than 64 KiB");
		goto out;
	}
	if ((r = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL) {
		say(req, CH_OCSP_REQ_MALFORMED, "is not a DER OCSP request");
		goto out;
	}
	if (p != der + len) {
		say(req, CH_OCSP_REQ_MALFORMED, "has bytes after the request");
		goto out;
	}
	/* BER that OpenSSL reads is refused: one request, one encoding. */
	relen = i2d_OCSP_REQUEST(r, &re);
	if (relen <= 0 || (size_t)relen != len || memcmp(re, der, len) != 0) {
		say(req, CH_OCSP_REQ_MALFORMED, "is not in DER");
		goto out;
	}
	n = OCSP_request_onereq_count(r);
	if (n <= 0) {
		say(req, CH_OCSP_REQ_MALFORMED, "asks about no certificate");
		goto out;
	}
	if (n > CH_OCSP_IDS_MAX) {
		say(req, CH_OCSP_REQ_MALFORMED, "asks about more than one "
		    "certificate");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		why = certid_read(OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(r, i)), issuers, nissuers,
		    &req->ids[i]);
		if (why != NULL) {
			say(req, CH_OCSP_REQ_MALFORMED, why);
			goto out;
		}
	}
	req->n = (size_t)n;
	for (size_t i = 0; i < req->n; i++) {
		if (req->ids[i].issuer < 0) {
			say(req, CH_OCSP_REQ_UNAUTHORIZED, "names an issuer "
			    "certhall does not answer for");
			goto out;
		}
	}
	say(req, CH_OCSP_REQ_OK, "");
out:
	OPENSSL_free(re);
	OCSP_REQUEST_free(r);
	ERR_clear_error();
	return req->verdict;
}

/* The value of a base64 character, either alphabet, ' ' as '+'; or -1. */
static int
base64_value(int c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	if (p != NULL)
		return (int)(p - alphabet);
	return c == '-' || c == ' ' ? 62 : c == '_' ? 63 : -1;
}

/*
 * The URL-encoded base64 in s (len bytes) decoded into out (room for
 * len * 3 / 4 + 2 bytes), *outlen bytes.  NULL, or a static reason.
 */
static const char *
get_decode(const char *s, size_t len, unsigned char *out, size_t *outlen)
{
	uint32_t acc = 0;
	size_t sextets = 0, pad = 0, o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], v, hi, lo;

		if (c == '%') {
			if (len - i < 3 || (hi = ch_hex_value(s[i + 1])) < 0 ||
			    (lo = ch_hex_value(s[i + 2])) < 0)
				return "has a broken %-escape";
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '=') {
			if (++pad > 2)
				return "has more than two '=' of padding";
			continue;
		}
		if (pad > 0)
			return "has base64 after its padding";
		if ((v = base64_value(c)) < 0)
			return "is not base64";
		acc = acc << 6 | (uint32_t)v;
		if (++sextets % 4 == 0) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	/* What is left: 0, 12 or 18 bits; the unused ones must be zero. */
	switch (sextets % 4) {
	case 0:
		if (pad != 0)
			return "has padding where none belongs";
		break;
	case 2:
		if ((pad != 0 && pad != 2) || (acc & 0xf) != 0)
			return "has a broken base64 end";
		out[o++] = (unsigned char)(acc >> 4);
		break;
	case 3:
		if ((pad != 0 && pad != 1) || (acc & 0x3) != 0)
			return "has a broken base64 end";
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
		break;
	default:
		return "has a broken base64 end";
	}
	*outlen = o;
	return NULL;
}

ch_ocsp_verdict_t
ch_ocsp_request_get(const char *uri, size_t len, const char *base,
    const ch_ocsp_issuer_t *issuers, size_t nissuers, ch_ocsp_request_t *req)
{
	/* On the stack: no allocation that could fail in the web worker. */
	unsigned char der[CH_OCSP_REQUEST_MAX_BYTES / 4 * 3 + 2];
	size_t blen = base != NULL ? strlen(base) : 0, dlen = 0;
	const char *why;

	memset(req, 0, sizeof *req);
	if (len > CH_OCSP_REQUEST_MAX_BYTES)
		return say(req, CH_OCSP_REQ_MALFORMED, "is larger than 64 KiB");
	if (uri == NULL || blen == 0 || base[blen - 1] != '/' || len < blen ||
	    memcmp(uri, base, blen) != 0)
		return say(req, CH_OCSP_REQ_MALFORMED, "is not under the "
		    "responder's path");
	if (memchr(uri, '?', len) != NULL)
		return say(req, CH_OCSP_REQ_MALFORMED, "has a query string");
	if ((why = get_decode(uri + blen, len - blen, der, &dlen)) != NULL)
		return say(req, CH_OCSP_REQ_MALFORMED, why);
	return ch_ocsp_request_parse(der, dlen, issuers, nissuers, req);
}

const unsigned char *
ch_ocsp_error_der(ch_ocsp_status_t status, size_t *len)
{
	/* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } */
	static const unsigned char der[CH_OCSP_STATUS__MAX][5] = {
		[CH_OCSP_MALFORMED_REQUEST] = { 0x30, 0x03, 0x0a, 0x01, 1 },
		[CH_OCSP_INTERNAL_ERROR] = { 0x30, 0x03, 0x0a, 0x01, 2 },
		[CH_OCSP_TRY_LATER] = { 0x30, 0x03, 0x0a, 0x01, 3 },
		[CH_OCSP_UNAUTHORIZED] = { 0x30, 0x03, 0x0a, 0x01, 6 },
	};

	switch (status) {
	case CH_OCSP_MALFORMED_REQUEST:
	case CH_OCSP_INTERNAL_ERROR:
	case CH_OCSP_TRY_LATER:
	case CH_OCSP_UNAUTHORIZED:
		*len = sizeof der[status];
		return der[status];
	default:
		*len = 0;
		return NULL;
	}
}

/* ---- responses ---------------------------------------------------------- */

/* The content length of the element at *p (before end) if it has tag,
 * class and form, moving *p to its content; -1 otherwise. */
static long
element(const unsigned char **p, const unsigned char *end, int tag,
    int xclass, bool constructed)
{
	long len;
	int t, c, ret = ASN1_get_object(p, &len, &t, &c, end - *p);

	if ((ret & 0x80) || t != tag || c != xclass ||
	    ((ret & V_ASN1_CONSTRUCTED) != 0) != constructed)
		return -1;
	return len;
}

/* The BasicOCSPResponse's DER inside an OCSPResponse's (the OCTET STRING
 * of responseBytes), as signed.  0, or -1. */
static int
basic_der(const unsigned char *der, size_t len, const unsigned char **basic,
    size_t *blen)
{
	const unsigned char *p = der, *end = der + len;
	long n;

	if (element(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true) < 0 ||
	    (n = element(&p, end, V_ASN1_ENUMERATED, V_ASN1_UNIVERSAL,
	    false)) < 0)
		return -1;
	p += n;
	if (element(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, true) < 0 ||
	    element(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, true) < 0 ||
	    (n = element(&p, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL,
	    false)) < 0)
		return -1;
	p += n;
	if ((n = element(&p, end, V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL,
	    false)) < 0)
		return -1;
	*basic = p;
	*blen = (size_t)n;
	return 0;
}

/* 1 if x carries an extendedKeyUsage with id-kp-OCSPSigning. */
static int
ocsp_signing(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) &&
	    (X509_get_extended_key_usage(x) & XKU_OCSP_SIGN);
}

static time_t
to_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The responder of bs checked against issuer (ocsp.h), then the
 * response's signature (in der, len bytes).  0, or -1 with why. */
static int
check_signer(const unsigned char *der, size_t len, OCSP_BASICRESP *bs,
    X509 *issuer, char *why, size_t whylen)
{
	const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
	const ASN1_OCTET_STRING *keyid = NULL;
	const X509_NAME *name = NULL;
	unsigned char id[SHA_DIGEST_LENGTH];
	const unsigned char *basic;
	size_t blen;
	X509 *signer;

	if (sk_X509_num(certs) != 1) {
		ch_x509_whyf(why, whylen, "response.certs: holds %d "
		    "certificates, not the responder's alone",
		    sk_X509_num(certs));
		return -1;
	}
	signer = sk_X509_value(certs, 0);
	if (OCSP_resp_get0_id(bs, &keyid, &name) != 1 || keyid == NULL ||
	    ch_x509_key_id(X509_get_X509_PUBKEY(signer), id) != 0 ||
	    ASN1_STRING_length(keyid) != SHA_DIGEST_LENGTH ||
	    memcmp(ASN1_STRING_get0_data(keyid), id, sizeof id) != 0) {
		ch_x509_whyf(why, whylen, "response.responder_id: is not byKey "
		    "of the responder certificate");
		return -1;
	}
	if (!ocsp_signing(signer)) {
		ch_x509_whyf(why, whylen, "response.certs: the responder "
		    "certificate lacks id-kp-OCSPSigning");
		return -1;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(signer),
	    X509_get_subject_name(issuer)) != 0 ||
	    ch_x509_sm2_id_set(signer) != 0 ||
	    X509_verify(signer, X509_get0_pubkey(issuer)) != 1) {
		ch_x509_whyf(why, whylen, "response.certs: the responder "
		    "certificate is not signed by the issuer");
		return -1;
	}
	if (basic_der(der, len, &basic, &blen) != 0 ||
	    ch_signed_verify(basic, blen, X509_get0_pubkey(signer)) != 0) {
		ch_x509_whyf(why, whylen, "signature: does not verify with the "
		    "responder certificate's key");
		return -1;
	}
	return 0;
}

int
ch_ocsp_response_read(const unsigned char *der, size_t len, X509 *issuer,
    ch_ocsp_resp_info_t *info, char *why, size_t whylen)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_SINGLERESP *single;
	ASN1_GENERALIZEDTIME *rev = NULL, *tu = NULL, *nu = NULL;
	ch_ocsp_issuer_t iss;
	const char *bad;
	int status, reason = -1, rc = -1;

	memset(info, 0, sizeof *info);
	if (der == NULL || len == 0 || len > LONG_MAX ||
	    (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		ch_x509_whyf(why, whylen, "response: is not one DER "
		    "OCSPResponse");
		goto out;
	}
	if ((status = OCSP_response_status(resp)) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		ch_x509_whyf(why, whylen, "response: has status %d, not "
		    "successful", status);
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL ||
	    OCSP_resp_count(bs) != 1 || (single = OCSP_resp_get0(bs, 0)) ==
	    NULL) {
		ch_x509_whyf(why, whylen, "response: is not a basic response "
		    "with one SingleResponse");
		goto out;
	}
	if (issuer != NULL && ch_ocsp_issuer_init(&iss, issuer) != 0) {
		ch_x509_whyf(why, whylen, "issuer: has no readable key");
		goto out;
	}
	bad = certid_read((OCSP_CERTID *)OCSP_SINGLERESP_get0_id(single),
	    &iss, issuer != NULL ? 1 : 0, &info->id);
	if (bad != NULL || (issuer != NULL && info->id.issuer != 0)) {
		ch_x509_whyf(why, whylen, "response.cert_id: %s", bad != NULL ?
		    bad : "does not name the issuer");
		goto out;
	}
	status = OCSP_single_get0_status(single, &reason, &rev, &tu, &nu);
	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		info->status = CH_OCSP_GOOD;
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		info->status = CH_OCSP_REVOKED;
		info->revoked_at = to_time(rev);
		break;
	case V_OCSP_CERTSTATUS_UNKNOWN:
		info->status = CH_OCSP_UNKNOWN;
		break;
	default:
		ch_x509_whyf(why, whylen, "response.cert_status: is unreadable");
		goto out;
	}
	info->reason = status == V_OCSP_CERTSTATUS_REVOKED &&
	    reason != OCSP_REVOKED_STATUS_NOSTATUS ? reason : -1;
	info->this_update = to_time(tu);
	info->next_update = to_time(nu);
	info->produced_at = to_time(OCSP_resp_get0_produced_at(bs));
	if (issuer != NULL &&
	    check_signer(der, len, bs, issuer, why, whylen) != 0)
		goto out;
	rc = 0;
out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return rc;
}

static int
check_resp_spec(const ch_ocsp_resp_spec_t *spec, EVP_PKEY *key, char *why,
    size_t whylen)
{
	char hex[CH_OCSP_SERIAL_HEX_MAX];

	if (spec->issuer == NULL || spec->responder == NULL ||
	    X509_check_issued(spec->issuer, spec->responder) != X509_V_OK) {
		ch_x509_whyf(why, whylen, "responder: is missing or not issued "
		    "by the issuer");
		return -1;
	}
	if (!ocsp_signing(spec->responder)) {
		ch_x509_whyf(why, whylen, "responder: lacks id-kp-OCSPSigning");
		return -1;
	}
	if (ch_x509_key_kind(key) == CH_KEY__MAX ||
	    X509_check_private_key(spec->responder, key) != 1) {
		ch_x509_whyf(why, whylen, "key: is not the responder "
		    "certificate's");
		return -1;
	}
	if (spec->serial == NULL ||
	    ch_ocsp_serial_hex(spec->serial, spec->serial_len, hex) != 0) {
		ch_x509_whyf(why, whylen, "serial: is not a positive serial of "
		    "1 to %d bytes", CH_X509_SERIAL_MAX);
		return -1;
	}
	if ((unsigned)spec->hash >= CH_OCSP_HASH__MAX ||
	    (unsigned)spec->status >= CH_OCSP_CERT__MAX) {
		ch_x509_whyf(why, whylen, "%s: is out of range",
		    (unsigned)spec->hash >= CH_OCSP_HASH__MAX ? "hash" :
		    "status");
		return -1;
	}
	if (spec->this_update <= 0 || spec->next_update <= spec->this_update) {
		ch_x509_whyf(why, whylen, "next_update: is not after "
		    "this_update");
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(spec->responder),
	    (time_t *)&spec->next_update) <= 0) {
		ch_x509_whyf(why, whylen, "responder: expires before "
		    "next_update");
		return -1;
	}
	if (spec->status == CH_OCSP_REVOKED && (spec->revoked_at <= 0 ||
	    spec->revoked_at > spec->this_update)) {
		ch_x509_whyf(why, whylen, "revoked_at: is not between 1970 and "
		    "this_update");
		return -1;
	}
	if (spec->status == CH_OCSP_REVOKED && !ch_crl_reason_ok(spec->reason)) {
		ch_x509_whyf(why, whylen, "reason: %d is not a reason certhall "
		    "revokes for", (int)spec->reason);
		return -1;
	}
	return 0;
}

/* The basic response spec describes, signed with key; NULL if OpenSSL
 * failed. */
static OCSP_BASICRESP *
build_basic(const ch_ocsp_resp_spec_t *spec, EVP_PKEY *key)
{
	static const int codes[CH_OCSP_CERT__MAX] = {
		[CH_OCSP_GOOD] = V_OCSP_CERTSTATUS_GOOD,
		[CH_OCSP_REVOKED] = V_OCSP_CERTSTATUS_REVOKED,
		[CH_OCSP_UNKNOWN] = V_OCSP_CERTSTATUS_UNKNOWN,
	};
	bool revoked = spec->status == CH_OCSP_REVOKED;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	ASN1_TIME *tu = ASN1_TIME_set(NULL, spec->this_update);
	ASN1_TIME *nu = ASN1_TIME_set(NULL, spec->next_update);
	ASN1_TIME *rev = revoked ? ASN1_TIME_set(NULL, spec->revoked_at) : NULL;
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *cid = NULL;
	EVP_MD_CTX *md = NULL;

	/* OCSP_basic_add1_status leaves revocationReason out for
	 * OCSP_REVOKED_STATUS_NOSTATUS, as the CRL does for unspecified. */
	if (serial == NULL || tu == NULL || nu == NULL || bs == NULL ||
	    (revoked && rev == NULL) ||
	    ch_revoke_serial_set(serial, spec->serial, spec->serial_len) !=
	    0 || (cid = OCSP_cert_id_new(hash_md(spec->hash),
	    X509_get_subject_name(spec->issuer),
	    X509_get0_pubkey_bitstr(spec->issuer), serial)) == NULL ||
	    OCSP_basic_add1_status(bs, cid, codes[spec->status],
	    revoked && spec->reason != CH_CRL_UNSPECIFIED ?
	    (int)spec->reason : OCSP_REVOKED_STATUS_NOSTATUS, rev, tu,
	    nu) == NULL)
		goto fail;
	if ((md = ch_signed_ctx_new(key, false)) == NULL ||
	    OCSP_basic_sign_ctx(bs, spec->responder, md, NULL,
	    OCSP_RESPID_KEY) != 1)
		goto fail;
	goto out;
fail:
	OCSP_BASICRESP_free(bs);
	bs = NULL;
out:
	EVP_MD_CTX_free(md);
	OCSP_CERTID_free(cid);
	ASN1_TIME_free(rev);
	ASN1_TIME_free(nu);
	ASN1_TIME_free(tu);
	ASN1_INTEGER_free(serial);
	return bs;
}

int
ch_ocsp_response_sign(const ch_ocsp_resp_spec_t *spec, EVP_PKEY *key,
    unsigned char **der, size_t *len, char *why, size_t whylen)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	const unsigned char *basic;
	size_t blen;
	int n, rc = -1;

	*der = NULL;
	*len = 0;
	if (check_resp_spec(spec, key, why, whylen) != 0)
		goto out;
	if ((bs = build_basic(spec, key)) == NULL) {
		ch_x509_whyf(why, whylen, "key: the signature failed");
		goto out;
	}
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) == NULL || (n = i2d_OCSP_RESPONSE(resp, der)) <= 0) {
		*der = NULL;
		ch_x509_whyf(why, whylen, "response: cannot be encoded");
		goto out;
	}
	*len = (size_t)n;
	/* The signature over the bytes served, with the certificate's key:
	 * a token fault or another key is caught here.  Not the whole
	 * ch_ocsp_response_read(): decoding the embedded certificate's key
	 * alone costs more than the signature (OpenSSL 3.0's decoders). */
	if (basic_der(*der, *len, &basic, &blen) != 0 ||
	    ch_signed_verify(basic, blen,
	    X509_get0_pubkey(spec->responder)) != 0) {
		ch_x509_whyf(why, whylen, "signature: does not verify with the "
		    "responder certificate's key");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		OPENSSL_free(*der);
		*der = NULL;
		*len = 0;
	}
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	ERR_clear_error();
	return rc;
}
