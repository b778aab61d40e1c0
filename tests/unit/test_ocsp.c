/*
 * OCSP (certhall/codec/ocsp.h): requests made with OpenSSL's OCSP API read
 * as POST bodies and GET paths in every spelling, refused inputs, the
 * unsigned errors, responses signed by RSA, P-256 and SM2 responders and
 * checked by OpenSSL's own OCSP verification, refusals, and the signing
 * rate.  tests/codec/check-revocation does the same with the openssl
 * command.
 */
#include "test.h"
#include "certhall/codec/ocsp.h"
#include "../codec/revoke_fixture.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * An OCSP request as DER (*len bytes, OPENSSL_free) for the n serials
 * (ASN1 INTEGERs) under issuer with CertIDs hashed by md, with a nonce if
 * nonce, and with an extension of ext_len bytes if ext_len; NULL on error.
 */
static unsigned char *
request(X509 *issuer, ASN1_INTEGER *const *serials, int n, const EVP_MD *md,
    bool nonce, size_t ext_len, size_t *len)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	unsigned char *der = NULL;
	int dlen;

	for (int i = 0; req != NULL && i < n; i++) {
		OCSP_CERTID *id = OCSP_cert_id_new(md,
		    X509_get_subject_name(issuer),
		    X509_get0_pubkey_bitstr(issuer), serials[i]);

		if (id == NULL || OCSP_request_add0_id(req, id) == NULL) {
			OCSP_CERTID_free(id);
			goto out;
		}
	}
	if (nonce && OCSP_request_add1_nonce(req, NULL, -1) != 1)
		goto out;
	if (ext_len > 0) {
		ASN1_OBJECT *oid = OBJ_txt2obj("2.999.7", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		unsigned char *big = calloc(1, ext_len);
		X509_EXTENSION *ext = NULL;

		if (oid != NULL && os != NULL && big != NULL &&
		    ASN1_OCTET_STRING_set(os, big, (int)ext_len) == 1)
			ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
		if (ext == NULL || OCSP_REQUEST_add_ext(req, ext, -1) != 1)
			der = NULL;
		X509_EXTENSION_free(ext);
		free(big);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(oid);
		if (ext == NULL)
			goto out;
	}
	if ((dlen = i2d_OCSP_REQUEST(req, &der)) > 0)
		*len = (size_t)dlen;
out:
	OCSP_REQUEST_free(req);
	return der;
}

static ASN1_INTEGER *
serial_of(X509 *x)
{
	return (ASN1_INTEGER *)X509_get0_serialNumber(x);
}

/* ch_ocsp_request_parse() gives want, and a reason starting with text. */
static int
parsed(const void *der, size_t len, const ch_ocsp_issuer_t *iss, size_t n,
    ch_ocsp_verdict_t want, const char *text, ch_ocsp_request_t *req)
{
	ch_ocsp_verdict_t v = ch_ocsp_request_parse(der, len, iss, n, req);

	if (v != want || req->verdict != v ||
	    strncmp(req->text, text, strlen(text)) != 0 ||
	    (v == CH_OCSP_REQ_MALFORMED) != (req->n == 0)) {
		fprintf(stderr, "parsed: wanted %s \"%s\", got %s \"%s\"\n",
		    ch_ocsp_verdict_name(want), text, ch_ocsp_verdict_name(v),
		    req->text);
		return 1;
	}
	return 0;
}

int
test_ocsp_request_post(void)
{
	rx_t a, b;
	ch_ocsp_issuer_t iss[2];
	ch_ocsp_request_t req;
	unsigned char serial[CH_X509_SERIAL_MAX], *der, *big;
	char hex[CH_OCSP_SERIAL_HEX_MAX], key[CH_OCSP_KEY_MAX];
	ASN1_INTEGER *two[2], *odd = ASN1_INTEGER_new();
	size_t len = 0, slen;

	CHECK(rx_make(&a, "ec") == 0 && rx_make(&b, "ec") == 0);
	CHECK(ch_ocsp_issuer_init(&iss[0], a.ca.issuing) == 0);
	CHECK(ch_ocsp_issuer_init(&iss[1], b.ca.issuing) == 0);
	slen = rx_serial(a.good, serial);
	CHECK(ch_ocsp_serial_hex(serial, slen, hex) == 0);

	/* SHA-1 without a nonce (RFC 5019), SHA-256 with one. */
	der = request(a.ca.issuing, (ASN1_INTEGER *[]){ serial_of(a.good) }, 1,
	    EVP_sha1(), false, 0, &len);
	CHECK(der != NULL);
	CHECK(parsed(der, len, iss, 2, CH_OCSP_REQ_OK, "", &req) == 0);
	CHECK(req.n == 1 && req.ids[0].hash == CH_OCSP_SHA1 &&
	    req.ids[0].issuer == 0 && req.ids[0].serial_len == slen &&
	    memcmp(req.ids[0].serial, serial, slen) == 0);
	CHECK_STR(req.ids[0].serial_hex, hex);
	snprintf(key, sizeof key, "sha1:%s", hex);
	CHECK_STR(req.ids[0].key, key);
	/* Bytes after it; BER for DER; a cut. */
	big = malloc(len + 3);
	CHECK(big != NULL);
	memcpy(big, der, len);
	big[len] = 0;
	CHECK(parsed(big, len + 1, iss, 2, CH_OCSP_REQ_MALFORMED,
	    "has bytes after the request", &req) == 0);
	CHECK(der[1] < 0x80);
	big[0] = 0x30;
	big[1] = 0x81;
	memcpy(big + 2, der + 1, len - 1);
	CHECK(parsed(big, len + 1, iss, 2, CH_OCSP_REQ_MALFORMED,
	    "is not in DER", &req) == 0);
	CHECK(parsed(der, len - 1, iss, 2, CH_OCSP_REQ_MALFORMED,
	    "is not a DER OCSP request", &req) == 0);
	free(big);
	OPENSSL_free(der);

	der = request(a.ca.issuing, (ASN1_INTEGER *[]){ serial_of(a.good) }, 1,
	    EVP_sha256(), true, 0, &len);
	CHECK(der != NULL);
	CHECK(parsed(der, len, iss, 2, CH_OCSP_REQ_OK, "", &req) == 0);
	CHECK(req.ids[0].hash == CH_OCSP_SHA256 && req.ids[0].issuer == 0);
	snprintf(key, sizeof key, "sha256:%s", hex);
	CHECK_STR(req.ids[0].key, key);
	/* Another issuer's, where we answer for it too, and where not. */
	CHECK(parsed(der, len, iss + 1, 1, CH_OCSP_REQ_UNAUTHORIZED,
	    "names an issuer", &req) == 0);
	CHECK(req.n == 1 && req.ids[0].issuer == -1);
	CHECK(parsed(der, len, iss, 0, CH_OCSP_REQ_UNAUTHORIZED, "", &req) ==
	    0);
	OPENSSL_free(der);
	der = request(b.ca.issuing, (ASN1_INTEGER *[]){ serial_of(b.good) }, 1,
	    EVP_sha1(), false, 0, &len);
	CHECK(parsed(der, len, iss, 2, CH_OCSP_REQ_OK, "", &req) == 0);
	CHECK(req.ids[0].issuer == 1);
	OPENSSL_free(der);
	/* Same name, another key: not ours. */
	der = request(b.ca.issuing, (ASN1_INTEGER *[]){ serial_of(b.good) }, 1,
	    EVP_sha1(), false, 0, &len);
	memcpy(iss[1].key_hash[CH_OCSP_SHA1], iss[0].key_hash[CH_OCSP_SHA1],
	    20);
	CHECK(parsed(der, len, iss, 2, CH_OCSP_REQ_UNAUTHORIZED, "", &req) ==
	    0);
	OPENSSL_free(der);

	/* None, two, other hashes. */
	der = request(a.ca.issuing, NULL, 0, EVP_sha1(), false, 0, &len);
	CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
	    "asks about no certificate", &req) == 0);
	OPENSSL_free(der);
	two[0] = serial_of(a.good);
	two[1] = serial_of(a.revoked);
	der = request(a.ca.issuing, two, 2, EVP_sha1(), false, 0, &len);
	CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
	    "asks about more than one", &req) == 0);
	OPENSSL_free(der);
	{
		const EVP_MD *mds[] = { EVP_sha384(), EVP_sha512(), EVP_sm3(),
		    EVP_sha224() };

		for (size_t i = 0; i < sizeof mds / sizeof mds[0]; i++) {
			der = request(a.ca.issuing,
			    (ASN1_INTEGER *[]){ serial_of(a.good) }, 1, mds[i],
			    false, 0, &len);
			CHECK(der != NULL);
			CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
			    "has a CertID hashed with neither", &req) == 0);
			OPENSSL_free(der);
		}
	}
	/* Serials no certificate can have: zero, negative, 21 bytes. */
	{
		static const unsigned char b21[21] = { 0x7f, 1 };

		CHECK(odd != NULL && ASN1_INTEGER_set(odd, 0) == 1);
		der = request(a.ca.issuing, &odd, 1, EVP_sha1(), false, 0, &len);
		CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
		    "has a serial that is not positive", &req) == 0);
		OPENSSL_free(der);
		CHECK(ASN1_INTEGER_set(odd, -5) == 1);
		der = request(a.ca.issuing, &odd, 1, EVP_sha1(), false, 0, &len);
		CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
		    "has a serial that is not positive", &req) == 0);
		OPENSSL_free(der);
		CHECK(ASN1_INTEGER_set(odd, 1) == 1);
		CHECK(ASN1_STRING_set(odd, b21, sizeof b21) == 1);
		der = request(a.ca.issuing, &odd, 1, EVP_sha1(), false, 0, &len);
		CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
		    "has a serial that is not positive", &req) == 0);
		OPENSSL_free(der);
		/* 20 bytes, and 1: well formed, merely never issued. */
		CHECK(ASN1_STRING_set(odd, b21, 20) == 1);
		der = request(a.ca.issuing, &odd, 1, EVP_sha1(), false, 0, &len);
		CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_OK, "", &req) == 0);
		CHECK(strlen(req.ids[0].serial_hex) == 40);
		OPENSSL_free(der);
		CHECK(ASN1_INTEGER_set(odd, 1) == 1);
		der = request(a.ca.issuing, &odd, 1, EVP_sha1(), false, 0, &len);
		CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_OK, "", &req) == 0);
		CHECK_STR(req.ids[0].key, "sha1:01");
		OPENSSL_free(der);
	}

	/* Size: the cap is on the bytes, whatever they hold. */
	der = request(a.ca.issuing, (ASN1_INTEGER *[]){ serial_of(a.good) }, 1,
	    EVP_sha1(), false, 60000, &len);
	CHECK(der != NULL && len > 60000 && len <= CH_OCSP_REQUEST_MAX_BYTES);
	CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_OK, "", &req) == 0);
	OPENSSL_free(der);
	der = request(a.ca.issuing, (ASN1_INTEGER *[]){ serial_of(a.good) }, 1,
	    EVP_sha1(), false, CH_OCSP_REQUEST_MAX_BYTES, &len);
	CHECK(der != NULL && len > CH_OCSP_REQUEST_MAX_BYTES);
	CHECK(parsed(der, len, iss, 1, CH_OCSP_REQ_MALFORMED,
	    "is larger than 64 KiB", &req) == 0);
	OPENSSL_free(der);
	CHECK(parsed("", 0, iss, 1, CH_OCSP_REQ_MALFORMED, "is empty", &req) ==
	    0);
	CHECK(parsed(NULL, 5, iss, 1, CH_OCSP_REQ_MALFORMED, "is empty", &req) ==
	    0);
	{
		unsigned char junk[300];

		for (int i = 0; i < 50; i++) {
			CHECK(RAND_bytes(junk, sizeof junk) == 1);
			CHECK(parsed(junk, 1 + (size_t)junk[0], iss, 1,
			    CH_OCSP_REQ_MALFORMED, "", &req) == 0);
		}
	}

	{
		static const unsigned char lead0[] = { 0, 0, 0xab, 0x01 };

		CHECK(ch_ocsp_serial_hex(lead0, sizeof lead0, hex) == 0);
		CHECK_STR(hex, "ab01");
		CHECK(ch_ocsp_serial_hex(lead0, 2, hex) == -1);
		CHECK_STR(hex, "");
	}
	CHECK_STR(ch_ocsp_hash_name(CH_OCSP_SHA256), "sha256");
	CHECK_STR(ch_ocsp_hash_name(CH_OCSP_HASH__MAX), "");
	CHECK_STR(ch_ocsp_verdict_name(CH_OCSP_REQ_UNAUTHORIZED),
	    "unauthorized");
	CHECK(ch_ocsp_issuer_init(&iss[0], NULL) == -1);
	ASN1_INTEGER_free(odd);
	rx_free(&a);
	rx_free(&b);
	return 0;
}

/* uri through ch_ocsp_request_get() with base gives want. */
static int
got(const char *uri, const char *base, const ch_ocsp_issuer_t *iss,
    ch_ocsp_verdict_t want, const char *text)
{
	ch_ocsp_request_t req;
	ch_ocsp_verdict_t v = ch_ocsp_request_get(uri, strlen(uri), base, iss,
	    1, &req);

	if (v != want || strncmp(req.text, text, strlen(text)) != 0) {
		fprintf(stderr, "got \"%.60s\": wanted %s \"%s\", got %s "
		    "\"%s\"\n", uri, ch_ocsp_verdict_name(want), text,
		    ch_ocsp_verdict_name(v), req.text);
		return 1;
	}
	return 0;
}

/* s with every character in from replaced by the string to. */
static char *
replaced(const char *s, char from, const char *to)
{
	char *out = malloc(strlen(s) * strlen(to) + strlen(s) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		if (*s == from) {
			strcpy(o, to);
			o += strlen(to);
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return out;
}

int
test_ocsp_request_get(void)
{
	rx_t a;
	ch_ocsp_issuer_t iss;
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	unsigned char *der = NULL;
	char b64[512], uri[600], *v;
	size_t len = 0;

	CHECK(serial != NULL && rx_make(&a, "ec") == 0);
	CHECK(ch_ocsp_issuer_init(&iss, a.ca.issuing) == 0);
	/* A request whose base64 has '+', '/' and one '=' of padding. */
	for (long i = 1;; i++) {
		CHECK(i < 100000);
		OPENSSL_free(der);
		CHECK(ASN1_INTEGER_set(serial, i * 7919) == 1);
		der = request(a.ca.issuing, &serial, 1, EVP_sha1(), false, 0,
		    &len);
		CHECK(der != NULL && len < 300);
		EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
		if (strchr(b64, '+') != NULL && strchr(b64, '/') != NULL &&
		    len % 3 == 2)
			break;
	}

	snprintf(uri, sizeof uri, "/%s", b64);
	CHECK(got(uri, "/", &iss, CH_OCSP_REQ_OK, "") == 0);
	snprintf(uri, sizeof uri, "/ocsp/%s", b64);
	CHECK(got(uri, "/ocsp/", &iss, CH_OCSP_REQ_OK, "") == 0);
	CHECK(got(uri, "/", &iss, CH_OCSP_REQ_MALFORMED, "") == 0);
	CHECK(got(uri, "/other/", &iss, CH_OCSP_REQ_MALFORMED,
	    "is not under the responder's path") == 0);
	CHECK(got(uri, "/ocsp", &iss, CH_OCSP_REQ_MALFORMED,
	    "is not under the responder's path") == 0);
	/* '+' as a space (form unescaping), as %2B and %2b; '/' and '='
	 * escaped; the URL-safe alphabet; no padding. */
	static const struct {
		char from;
		const char *to;
	} spell[] = {
		{ '+', " " }, { '+', "%2B" }, { '+', "%2b" }, { '/', "%2F" },
		{ '=', "%3D" }, { '+', "-" }, { '/', "_" }, { '=', "" },
	};
	for (size_t i = 0; i < sizeof spell / sizeof spell[0]; i++) {
		CHECK((v = replaced(b64, spell[i].from, spell[i].to)) != NULL);
		snprintf(uri, sizeof uri, "/%s", v);
		free(v);
		CHECK(got(uri, "/", &iss, CH_OCSP_REQ_OK, "") == 0);
	}
	/* What nginx's merge_slashes would have made of a "/" pair, and
	 * other damage: before, the base64, after. */
	static const struct {
		const char *before, *after, *text;
	} bad[] = {
		{ "/", "?x=1", "has a query string" },
		{ "/", "=", "has a broken base64 end" },
		{ "/", "==", "has more than two '='" },
		{ "/=", "", "has base64 after its padding" },
		{ "/", "%2", "has a broken %" },
		{ "/%G1", "", "has a broken %" },
		{ "/!", "", "is not base64" },
		{ "/%25", "", "is not base64" },
		{ "/", "A", "has base64 after" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(uri, sizeof uri, "%s%s%s", bad[i].before, b64,
		    bad[i].after);
		CHECK(got(uri, "/", &iss, CH_OCSP_REQ_MALFORMED, bad[i].text) ==
		    0);
	}
	CHECK((v = replaced(b64, '/', "")) != NULL);
	snprintf(uri, sizeof uri, "/%s", v);
	free(v);
	CHECK(got(uri, "/", &iss, CH_OCSP_REQ_MALFORMED, "") == 0);
	CHECK(got("/AAAA=", "/", &iss, CH_OCSP_REQ_MALFORMED,
	    "has padding where none belongs") == 0);
	/* The last character before "=" carries 2 unused bits: set one. */
	snprintf(uri, sizeof uri, "/%s", b64);
	{
		char *eq = strchr(uri, '='), *last = eq - 1;
		const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
		    "rstuvwxyz0123456789+/";

		CHECK(eq != NULL && (strchr(alpha, *last) - alpha) % 4 == 0);
		*last = alpha[strchr(alpha, *last) - alpha + 1];
		CHECK(got(uri, "/", &iss, CH_OCSP_REQ_MALFORMED,
		    "has a broken base64 end") == 0);
	}
	CHECK(got("/", "/", &iss, CH_OCSP_REQ_MALFORMED, "is empty") == 0);
	CHECK(got("/A", "/", &iss, CH_OCSP_REQ_MALFORMED,
	    "has a broken base64 end") == 0);
	CHECK(got("", "/", &iss, CH_OCSP_REQ_MALFORMED, "is not under") == 0);
	{
		char *huge = malloc(CH_OCSP_REQUEST_MAX_BYTES + 2);

		CHECK(huge != NULL);
		memset(huge, 'A', CH_OCSP_REQUEST_MAX_BYTES + 1);
		huge[0] = '/';
		huge[CH_OCSP_REQUEST_MAX_BYTES + 1] = '\0';
		CHECK(got(huge, "/", &iss, CH_OCSP_REQ_MALFORMED,
		    "is larger than 64 KiB") == 0);
		/* Just under the cap: decoded, then not a request. */
		huge[CH_OCSP_REQUEST_MAX_BYTES - 3] = '\0';
		CHECK(got(huge, "/", &iss, CH_OCSP_REQ_MALFORMED,
		    "is not a DER OCSP request") == 0);
		free(huge);
	}
	OPENSSL_free(der);
	ASN1_INTEGER_free(serial);
	rx_free(&a);
	return 0;
}

int
test_ocsp_error_der(void)
{
	static const ch_ocsp_status_t errors[] = { CH_OCSP_MALFORMED_REQUEST,
	    CH_OCSP_INTERNAL_ERROR, CH_OCSP_TRY_LATER, CH_OCSP_UNAUTHORIZED };
	size_t len = 9;

	for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
		OCSP_RESPONSE *resp = OCSP_response_create((int)errors[i],
		    NULL), *back;
		unsigned char *der = NULL;
		const unsigned char *ours = ch_ocsp_error_der(errors[i], &len),
		    *p = ours;
		int n = i2d_OCSP_RESPONSE(resp, &der);

		CHECK(ours != NULL && n > 0 && (size_t)n == len &&
		    memcmp(der, ours, len) == 0);
		CHECK((back = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) != NULL);
		CHECK(OCSP_response_status(back) == (int)errors[i]);
		OCSP_RESPONSE_free(back);
		OCSP_RESPONSE_free(resp);
		OPENSSL_free(der);
	}
	CHECK(ch_ocsp_error_der(CH_OCSP_SUCCESSFUL, &len) == NULL && len == 0);
	CHECK(ch_ocsp_error_der(CH_OCSP_SIG_REQUIRED, &len) == NULL);
	CHECK(ch_ocsp_error_der((ch_ocsp_status_t)4, &len) == NULL);
	CHECK(ch_ocsp_error_der(CH_OCSP_STATUS__MAX, &len) == NULL);
	return 0;
}

/*
 * OpenSSL's verification of a response (der, len) as a relying party
 * does it: the responder's chain to the root with the issuing CA given,
 * the responder authorised by the CertID's issuer, then the status of
 * the certificate with serial under hash md.  The V_OCSP_CERTSTATUS_*,
 * -2 if no status for that CertID, -1 if it does not verify.
 */
static int
openssl_status(rx_t *r, const unsigned char *der, size_t len,
    const EVP_MD *md, ASN1_INTEGER *serial, int *reason)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs = resp != NULL ? OCSP_response_get1_basic(resp) :
	    NULL;
	OCSP_CERTID *id = OCSP_cert_id_new(md,
	    X509_get_subject_name(r->ca.issuing),
	    X509_get0_pubkey_bitstr(r->ca.issuing), serial);
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	ASN1_GENERALIZEDTIME *rev, *tu, *nu;
	int status = -1;

	if (bs == NULL || id == NULL || store == NULL || untrusted == NULL ||
	    X509_STORE_add_cert(store, r->ca.root) != 1 ||
	    sk_X509_push(untrusted, r->ca.issuing) <= 0 ||
	    OCSP_basic_verify(bs, untrusted, store, 0) != 1)
		goto out;
	status = -2;
	if (OCSP_resp_find_status(bs, id, &status, reason, &rev, &tu, &nu) !=
	    1 || OCSP_check_validity(tu, nu, 300, -1) != 1)
		status = -2;
out:
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return status;
}

static int
response_for(const char *kind)
{
	static const ch_ocsp_cert_status_t statuses[] = { CH_OCSP_GOOD,
	    CH_OCSP_REVOKED, CH_OCSP_UNKNOWN };
	rx_t r, other;
	unsigned char serial[CH_X509_SERIAL_MAX], *der = NULL;
	size_t slen, len = 0;
	char why[256] = "";
	ch_ocsp_resp_info_t info;
	bool sm2 = strcmp(kind, "sm2") == 0;

	CHECK(rx_make(&r, kind) == 0 && rx_make(&other, kind) == 0);
	for (size_t s = 0; s < 3; s++) {
		for (int h = 0; h < CH_OCSP_HASH__MAX; h++) {
			X509 *cert = statuses[s] == CH_OCSP_REVOKED ?
			    r.revoked : r.good;
			ch_ocsp_resp_spec_t spec = {
				.issuer = r.ca.issuing, .responder = r.ocsp,
				.serial = serial, .hash = (ch_ocsp_hash_t)h,
				.status = statuses[s],
				.revoked_at = r.ca.now - 7200,
				.reason = h == 0 ? CH_CRL_KEY_COMPROMISE :
				    CH_CRL_UNSPECIFIED,
				.this_update = r.ca.now - 3600,
				.next_update = r.ca.now + 4 * 86400,
			};
			const EVP_MD *md = h == 0 ? EVP_sha1() : EVP_sha256();
			int reason = -1, want_reason;

			slen = rx_serial(cert, serial);
			spec.serial_len = slen;
			if (ch_ocsp_response_sign(&spec, r.ocsp_key, &der,
			    &len, why, sizeof why) != 0) {
				fprintf(stderr, "ch_ocsp_response_sign: %s\n",
				    why);
				return 1;
			}
			CHECK(ch_ocsp_response_read(der, len, r.ca.issuing,
			    &info, why, sizeof why) == 0);
			CHECK(info.status == statuses[s] &&
			    (int)info.id.hash == h && info.id.issuer == 0 &&
			    info.id.serial_len == slen &&
			    memcmp(info.id.serial, serial, slen) == 0);
			CHECK(info.this_update == spec.this_update &&
			    info.next_update == spec.next_update);
			CHECK(info.produced_at >= r.ca.now &&
			    info.produced_at <= time(NULL));
			want_reason = statuses[s] == CH_OCSP_REVOKED && h == 0 ?
			    CH_CRL_KEY_COMPROMISE : -1;
			CHECK(info.reason == want_reason);
			CHECK(info.revoked_at == (statuses[s] ==
			    CH_OCSP_REVOKED ? spec.revoked_at : 0));
			/* Read without the issuer, and with the wrong one. */
			CHECK(ch_ocsp_response_read(der, len, NULL, &info, why,
			    sizeof why) == 0 && info.id.issuer == -1);
			CHECK(ch_ocsp_response_read(der, len, other.ca.issuing,
			    &info, why, sizeof why) == -1);
			CHECK_STR(why, "response.cert_id: does not name the "
			    "issuer");
			CHECK(ch_ocsp_response_read(der, len - 1, r.ca.issuing,
			    &info, why, sizeof why) == -1);
			if (!sm2) {
				/* OpenSSL finds it only under the CertID's
				 * own hash: hence one response per hash. */
				CHECK(openssl_status(&r, der, len, md,
				    serial_of(cert), &reason) ==
				    (statuses[s] == CH_OCSP_GOOD ?
				    V_OCSP_CERTSTATUS_GOOD : statuses[s] ==
				    CH_OCSP_REVOKED ? V_OCSP_CERTSTATUS_REVOKED :
				    V_OCSP_CERTSTATUS_UNKNOWN));
				CHECK(reason == (want_reason == -1 ?
				    OCSP_REVOKED_STATUS_NOSTATUS :
				    want_reason));
				CHECK(openssl_status(&r, der, len, h == 0 ?
				    EVP_sha256() : EVP_sha1(), serial_of(cert),
				    &reason) == -2);
				CHECK(openssl_status(&other, der, len, md,
				    serial_of(cert), &reason) == -1);
			}
			/* A flipped bit in the signature. */
			der[len - 1 - (size_t)i2d_X509(r.ocsp, NULL) - 8] ^= 1;
			CHECK(ch_ocsp_response_read(der, len, r.ca.issuing,
			    &info, why, sizeof why) == -1);
			CHECK_STR(why, "signature: does not verify with the "
			    "responder certificate's key");
			OPENSSL_free(der);
			der = NULL;
		}
	}
	/* The shape: byKey, the responder's certificate alone, no nonce. */
	{
		ch_ocsp_resp_spec_t spec = { .issuer = r.ca.issuing,
		    .responder = r.ocsp, .serial = serial, .serial_len = slen,
		    .hash = CH_OCSP_SHA1, .status = CH_OCSP_GOOD,
		    .this_update = r.ca.now, .next_update = r.ca.now + 60 };
		const unsigned char *p;
		OCSP_RESPONSE *resp;
		OCSP_BASICRESP *bs;
		const ASN1_OCTET_STRING *keyid = NULL;
		const X509_NAME *name = NULL;
		OCSP_REQUEST *req = OCSP_REQUEST_new();

		CHECK(ch_ocsp_response_sign(&spec, r.ocsp_key, &der, &len, why,
		    sizeof why) == 0);
		p = der;
		CHECK((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) != NULL);
		CHECK((bs = OCSP_response_get1_basic(resp)) != NULL);
		CHECK(OCSP_resp_get0_id(bs, &keyid, &name) == 1 &&
		    keyid != NULL && name == NULL);
		CHECK(sk_X509_num(OCSP_resp_get0_certs(bs)) == 1 &&
		    X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0),
		    r.ocsp) == 0);
		CHECK(OCSP_BASICRESP_get_ext_count(bs) == 0);
		CHECK(OCSP_SINGLERESP_get_ext_count(OCSP_resp_get0(bs, 0)) == 0);
		CHECK(OCSP_check_nonce(req, bs) == 2);
		CHECK(OCSP_resp_get0_tbs_sigalg(bs) != NULL);
		OCSP_REQUEST_free(req);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		OPENSSL_free(der);
	}
	rx_free(&other);
	rx_free(&r);
	return 0;
}

int
test_ocsp_response_rsa(void)
{
	return response_for("rsa");
}

int
test_ocsp_response_ec(void)
{
	return response_for("ec");
}

int
test_ocsp_response_sm2(void)
{
	return response_for("sm2");
}

/* ch_ocsp_response_sign() refuses spec with why starting with want. */
static int
resp_refused(const ch_ocsp_resp_spec_t *spec, EVP_PKEY *key,
    const char *want)
{
	unsigned char *der = (unsigned char *)"x";
	size_t len = 1;
	char why[256] = "";

	if (ch_ocsp_response_sign(spec, key, &der, &len, why, sizeof why) !=
	    -1 || der != NULL || len != 0 ||
	    strncmp(why, want, strlen(want)) != 0) {
		fprintf(stderr, "resp_refused: wanted \"%s...\", got \"%s\"\n",
		    want, why);
		return 1;
	}
	return 0;
}

int
test_ocsp_response_refusals(void)
{
	static const unsigned char zero[] = { 0 }, one[] = { 1 };
	rx_t r;
	ch_ocsp_resp_spec_t ok, s;

	CHECK(rx_make(&r, "ec") == 0);
	ok = (ch_ocsp_resp_spec_t){ .issuer = r.ca.issuing,
	    .responder = r.ocsp, .serial = one, .serial_len = 1,
	    .hash = CH_OCSP_SHA256, .status = CH_OCSP_REVOKED,
	    .revoked_at = r.ca.now, .reason = CH_CRL_SUPERSEDED,
	    .this_update = r.ca.now, .next_update = r.ca.now + 86400 };

#define TRY(change, key, want) do { \
	s = ok; \
	change; \
	CHECK(resp_refused(&s, key, want) == 0); \
} while (0)

	TRY(s.responder = r.good, r.leaf_key, "responder: lacks "
	    "id-kp-OCSPSigning");
	TRY(s.responder = r.ca.issuing, r.issuing_key, "responder: is missing "
	    "or not issued by the issuer");
	TRY(s.responder = NULL, r.ocsp_key, "responder: is missing");
	TRY(s.issuer = r.ca.root, r.ocsp_key, "responder: is missing or not");
	TRY((void)0, r.issuing_key, "key: is not the responder");
	TRY((void)0, NULL, "key: is not the responder");
	TRY(s.serial = zero, r.ocsp_key, "serial:");
	TRY(s.serial = NULL, r.ocsp_key, "serial:");
	TRY(s.hash = CH_OCSP_HASH__MAX, r.ocsp_key, "hash:");
	TRY(s.status = CH_OCSP_CERT__MAX, r.ocsp_key, "status:");
	TRY(s.next_update = s.this_update, r.ocsp_key, "next_update:");
	TRY(s.this_update = 0, r.ocsp_key, "next_update:");
	TRY(s.next_update = r.ca.now + 2 * FX_YEAR, r.ocsp_key,
	    "responder: expires before next_update");
	TRY(s.revoked_at = s.this_update + 1, r.ocsp_key, "revoked_at:");
	TRY(s.reason = CH_CRL_CERTIFICATE_HOLD, r.ocsp_key, "reason: 6");
	TRY(s.reason = CH_CRL__MAX, r.ocsp_key, "reason:");
#undef TRY
	/* Not revoked: the revocation fields are not looked at. */
	s = ok;
	s.status = CH_OCSP_UNKNOWN;
	s.reason = CH_CRL_CERTIFICATE_HOLD;
	s.revoked_at = 0;
	{
		unsigned char *der = NULL;
		size_t len = 0;
		char why[256] = "";

		CHECK(ch_ocsp_response_sign(&s, r.ocsp_key, &der, &len, why,
		    sizeof why) == 0);
		OPENSSL_free(der);
	}
	CHECK_STR(ch_ocsp_cert_status_name(CH_OCSP_UNKNOWN), "unknown");
	CHECK_STR(ch_ocsp_cert_status_name(CH_OCSP_CERT__MAX), "");
	rx_free(&r);
	return 0;
}

/* Responses signed per second by kind's responder key, the read-back
 * check included, for about a second. */
static int
rate(const char *kind, const char *label)
{
	rx_t r;
	unsigned char serial[CH_X509_SERIAL_LEN], *der = NULL;
	char why[256] = "";
	size_t len = 0;
	struct timespec t0;
	double took = 0;
	int n = 0;

	CHECK(rx_make(&r, kind) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (took < 1.5) {
		ch_ocsp_resp_spec_t spec = { .issuer = r.ca.issuing,
		    .responder = r.ocsp, .serial = serial,
		    .serial_len = sizeof serial, .hash = (ch_ocsp_hash_t)(n & 1),
		    .status = CH_OCSP_GOOD, .this_update = r.ca.now - 3600,
		    .next_update = r.ca.now + 4 * 86400 };

		CHECK(ch_x509_serial_new(serial) == 0);
		CHECK(ch_ocsp_response_sign(&spec, r.ocsp_key, &der, &len, why,
		    sizeof why) == 0);
		OPENSSL_free(der);
		n++;
		took = rx_seconds_since(&t0);
	}
	printf("ocsp_sign_rate: %s software key: %d responses in %.2f s = "
	    "%.0f/s (%zu bytes each)\n", label, n, took, n / took, len);
	rx_free(&r);
	return 0;
}

int
test_ocsp_sign_rate(void)
{
	CHECK(rate("ec", "P-256") == 0);
	CHECK(rate("rsa", "RSA-2048") == 0);
	return 0;
}
