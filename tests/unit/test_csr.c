/*
 * PKCS#10 requests (certhall/codec/csr.h): good RSA, P-256 and SM2
 * requests in DER and PEM; a flipped signature byte, SM2 signed without
 * the distinguishing ID, SHA-1; weak or foreign keys; subjects that do
 * not fit, each naming its field; garbage, BER, trailing bytes, oversize.
 * Requests are made at run time with OpenSSL.
 */
#include "test.h"
#include "certhall/codec/csr.h"
#include "../codec/x509_fixture.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* The personal test subject as a request would name it. */
static const char *const personal_subject[] = {
	"C", "CN", "O", FX_UNIT, "organizationIdentifier", "NTRCN-" FX_CREDIT,
	"CN", FX_PERSON, "serialNumber", "IDCCN-" FX_IDNUM, NULL
};

static const ch_cert_subject_t personal = {
	.unit_name = FX_UNIT, .credit_code = FX_CREDIT,
	.person_name = FX_PERSON, .id_number = FX_IDNUM,
};

static const ch_cert_subject_t org = {
	.unit_name = FX_UNIT, .credit_code = FX_CREDIT,
};

/* Adds attribute txt = value; "bmp:CN" writes the value as a BMPString. */
static int
add_attr(X509_NAME *name, const char *txt, const char *value)
{
	ASN1_STRING *bmp = NULL;
	int rc;

	if (strncmp(txt, "bmp:", 4) != 0)
		return X509_NAME_add_entry_by_txt(name, txt, MBSTRING_UTF8,
		    (const unsigned char *)value, -1, -1, 0) == 1 ? 0 : -1;
	if (ASN1_mbstring_copy(&bmp, (const unsigned char *)value, -1,
	    MBSTRING_UTF8, B_ASN1_BMPSTRING) <= 0)
		return -1;
	rc = X509_NAME_add_entry_by_txt(name, txt + 4, V_ASN1_BMPSTRING,
	    ASN1_STRING_get0_data(bmp), ASN1_STRING_length(bmp), -1, 0) == 1 ?
	    0 : -1;
	ASN1_STRING_free(bmp);
	return rc;
}

/*
 * A DER request for key, subject as name/value pairs, signed with digest
 * md and, for SM2, distinguishing ID id (NULL: none set).  *len bytes,
 * OPENSSL_free; NULL if OpenSSL refused.
 */
static unsigned char *
csr_der(EVP_PKEY *key, const char *const *subject, const char *md,
    const char *id, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int n;

	if (req == NULL || name == NULL || ctx == NULL)
		goto out;
	for (size_t i = 0; subject[i] != NULL; i += 2)
		if (add_attr(name, subject[i], subject[i + 1]) != 0)
			goto out;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 ||
	    EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key, NULL) != 1 ||
	    (id != NULL && EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)) != 1) ||
	    X509_REQ_sign_ctx(req, ctx) <= 0)
		goto out;
	if ((n = i2d_X509_REQ(req, &der)) > 0)
		*len = (size_t)n;
out:
	EVP_MD_CTX_free(ctx);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return der;
}

/* The usual request for key: SHA-256, or SM3 with the standard ID. */
static unsigned char *
csr_for(EVP_PKEY *key, const char *const *subject, size_t *len)
{
	bool sm2 = EVP_PKEY_is_a(key, "SM2");

	return csr_der(key, subject, sm2 ? "SM3" : "SHA256",
	    sm2 ? CH_X509_SM2_ID : NULL, len);
}

/* der as a PEM block with label, NUL-terminated (free). */
static char *
pem_of(const unsigned char *der, size_t len, const char *label)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio(b, label, "", der, (long)len);
	n = BIO_get_mem_data(b, &data);
	out = calloc(1, (size_t)n + 1);
	memcpy(out, data, (size_t)n);
	BIO_free(b);
	return out;
}

/* Checks in (len bytes) and wants verdict v at field (NULL: any). */
static int
want(const void *in, size_t len, const ch_cert_subject_t *subject,
    ch_profile_t profile, ch_csr_verdict_t v, const char *field)
{
	ch_csr_result_t res;
	EVP_PKEY *key = (EVP_PKEY *)1;
	ch_csr_verdict_t got = ch_csr_check(in, len, profile, subject, &key,
	    &res);

	if (got != v || res.verdict != got || (v == CH_CSR_OK) != (key != NULL)
	    || (v != CH_CSR_OK && (res.text == NULL || res.field == NULL)) ||
	    (field != NULL && strcmp(res.field, field) != 0)) {
		fprintf(stderr, "want %s at %s, got %s at %s: %s\n",
		    ch_csr_verdict_name(v), field ? field : "-",
		    ch_csr_verdict_name(got), res.field ? res.field : "-",
		    res.text ? res.text : "-");
		EVP_PKEY_free(key);
		return 1;
	}
	EVP_PKEY_free(key);
	return 0;
}

/* A subscriber certificate for an accepted request's key, signed by a
 * P-256 CA: what the signer does next. */
static int
issue_for(const unsigned char *der, size_t len)
{
	ch_csr_result_t res;
	EVP_PKEY *key = NULL, *ca_key = fx_key_new("p256");
	fx_ca_t ca;
	X509 *leaf = NULL;

	CHECK(ca_key != NULL && fx_ca_make(&ca, ca_key, ca_key) == 0);
	CHECK(ch_csr_check(der, len, CH_PROFILE_PERSONAL, &personal, &key,
	    &res) == CH_CSR_OK);
	leaf = fx_leaf(&ca, CH_PROFILE_PERSONAL, key, 1);
	CHECK(leaf != NULL);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(leaf), key) == 1);
	X509_free(leaf);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	fx_ca_free(&ca);
	return 0;
}

int
test_csr_good(void)
{
	static const char *const kinds[] = { "rsa2048", "p256", "sm2" };
	static const char *const cn_only[] = { "CN", FX_UNIT, NULL };
	static const char *const bmp_cn[] = { "bmp:CN", FX_PERSON, NULL };

	for (size_t k = 0; k < 3; k++) {
		EVP_PKEY *key = fx_key_new(kinds[k]), *got = NULL;
		ch_csr_result_t res;
		size_t len = 0, plen;
		unsigned char *der = csr_for(key, personal_subject, &len);
		char *pem = pem_of(der, len, "CERTIFICATE REQUEST");
		char *old = pem_of(der, len, "NEW CERTIFICATE REQUEST");
		char padded[8192];

		CHECK(der != NULL);
		CHECK(ch_csr_check(der, len, CH_PROFILE_PERSONAL, &personal,
		    &got, &res) == CH_CSR_OK && res.field == NULL);
		CHECK(got != NULL && EVP_PKEY_eq(got, key) == 1);
		EVP_PKEY_free(got);
		CHECK(want(pem, strlen(pem), &personal, CH_PROFILE_PERSONAL,
		    CH_CSR_OK, NULL) == 0);
		CHECK(want(old, strlen(old), &personal, CH_PROFILE_PERSONAL,
		    CH_CSR_OK, NULL) == 0);
		plen = (size_t)snprintf(padded, sizeof padded, "\r\n  %s\r\n\n",
		    pem);
		CHECK(want(padded, plen, &personal, CH_PROFILE_PERSONAL,
		    CH_CSR_OK, NULL) == 0);
		CHECK(issue_for(der, len) == 0);
		free(pem);
		free(old);
		OPENSSL_free(der);

		/* CN alone fits; so does a BMPString of the right name. */
		der = csr_for(key, cn_only, &len);
		CHECK(want(der, len, &org, CH_PROFILE_ORG, CH_CSR_OK,
		    NULL) == 0);
		OPENSSL_free(der);
		der = csr_for(key, bmp_cn, &len);
		CHECK(want(der, len, &personal, CH_PROFILE_PERSONAL, CH_CSR_OK,
		    NULL) == 0);
		OPENSSL_free(der);
		if (k != 2) {	/* SHA-512 is fine for RSA and ECDSA */
			der = csr_der(key, cn_only, "SHA512", NULL, &len);
			CHECK(want(der, len, &org, CH_PROFILE_ORG, CH_CSR_OK,
			    NULL) == 0);
			OPENSSL_free(der);
		}
		EVP_PKEY_free(key);
	}
	return 0;
}

int
test_csr_bad_signature(void)
{
	static const char *const kinds[] = { "rsa2048", "p256", "sm2" };
	EVP_PKEY *sm2 = fx_key_new("sm2"), *rsa = fx_key_new("rsa2048");
	unsigned char *der;
	size_t len = 0;

	/* One flipped bit in the signature value (the last bytes). */
	for (size_t k = 0; k < 3; k++) {
		EVP_PKEY *key = fx_key_new(kinds[k]);

		der = csr_for(key, personal_subject, &len);
		CHECK(der != NULL);
		der[len - 1] ^= 0x01;
		CHECK(want(der, len, &personal, CH_PROFILE_PERSONAL,
		    CH_CSR_BAD_SIGNATURE, "/csr") == 0);
		OPENSSL_free(der);
		EVP_PKEY_free(key);
	}
	/* SM2 signed under OpenSSL 3.0's empty ID, not the standard one. */
	der = csr_der(sm2, personal_subject, "SM3", NULL, &len);
	CHECK(der != NULL && want(der, len, &personal, CH_PROFILE_PERSONAL,
	    CH_CSR_BAD_SIGNATURE, "/csr") == 0);
	OPENSSL_free(der);
	/* SHA-1 proves nothing any more. */
	der = csr_der(rsa, personal_subject, "SHA1", NULL, &len);
	CHECK(der != NULL && want(der, len, &personal, CH_PROFILE_PERSONAL,
	    CH_CSR_BAD_SIGNATURE, "/csr") == 0);
	OPENSSL_free(der);
	EVP_PKEY_free(sm2);
	EVP_PKEY_free(rsa);
	return 0;
}

int
test_csr_bad_key(void)
{
	static const char *const kinds[] = { "rsa1024", "p384" };
	EVP_PKEY *explicit_p256 = fx_key_new("p256");
	unsigned char *der;
	size_t len = 0;

	for (size_t k = 0; k < 2; k++) {
		EVP_PKEY *key = fx_key_new(kinds[k]);

		der = csr_for(key, personal_subject, &len);
		CHECK(der != NULL && want(der, len, &personal,
		    CH_PROFILE_PERSONAL, CH_CSR_BAD_KEY, "/csr") == 0);
		OPENSSL_free(der);
		EVP_PKEY_free(key);
	}
	/* A P-256 key sent with explicit curve parameters. */
	CHECK(EVP_PKEY_set_utf8_string_param(explicit_p256, "encoding",
	    "explicit") == 1);
	der = csr_for(explicit_p256, personal_subject, &len);
	CHECK(der != NULL && want(der, len, &personal, CH_PROFILE_PERSONAL,
	    CH_CSR_BAD_KEY, "/csr") == 0);
	OPENSSL_free(der);
	EVP_PKEY_free(explicit_p256);
	return 0;
}

int
test_csr_subject_mismatch(void)
{
	static const struct {
		ch_profile_t profile;
		const char *field;
		const char *subject[12];
	} cases[] = {
		{ CH_PROFILE_PERSONAL, "subject.CN", { "CN", "李四", NULL } },
		{ CH_PROFILE_PERSONAL, "subject.O",
		    { "O", "另一家公司", "CN", FX_PERSON, NULL } },
		{ CH_PROFILE_PERSONAL, "subject.organizationIdentifier",
		    { "organizationIdentifier", FX_CREDIT, "CN", FX_PERSON,
		    NULL } },
		{ CH_PROFILE_PERSONAL, "subject.serialNumber",
		    { "CN", FX_PERSON, "serialNumber", "IDCCN-"
		    "110101199003074477", NULL } },
		{ CH_PROFILE_PERSONAL, "subject.C",
		    { "C", "HK", "CN", FX_PERSON, NULL } },
		{ CH_PROFILE_ORG, "subject.serialNumber",
		    { "CN", FX_UNIT, "serialNumber", "IDCCN-" FX_IDNUM,
		    NULL } },
		{ CH_PROFILE_ORG, "subject", { "L", "成都", "CN", FX_UNIT,
		    NULL } },
		{ CH_PROFILE_ORG, "subject.CN", { "O", FX_UNIT, NULL } },
		{ CH_PROFILE_ORG, "subject.CN",
		    { "CN", FX_UNIT, "CN", FX_UNIT, NULL } },
		/* Full-width brackets are another name. */
		{ CH_PROFILE_ORG, "subject.CN",
		    { "CN", "四川示例农业科技有限公司（成都）", NULL } },
	};
	EVP_PKEY *key = fx_key_new("p256");

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = 0;
		unsigned char *der = csr_for(key, cases[i].subject, &len);
		int rc;

		CHECK(der != NULL);
		rc = want(der, len, cases[i].profile == CH_PROFILE_ORG ?
		    &org : &personal, cases[i].profile, CH_CSR_BAD_SUBJECT,
		    cases[i].field);
		OPENSSL_free(der);
		if (rc != 0)
			fprintf(stderr, "case %zu\n", i);
		CHECK(rc == 0);
	}
	EVP_PKEY_free(key);
	return 0;
}

int
test_csr_unreadable(void)
{
	EVP_PKEY *key = fx_key_new("p256");
	size_t len = 0;
	unsigned char *der = csr_for(key, personal_subject, &len);
	unsigned char *big = calloc(1, CH_CSR_MAX_BYTES + 2);
	unsigned char *ber = calloc(1, len + 1);
	char *pem = pem_of(der, len, "CERTIFICATE REQUEST");
	char *cert = pem_of(der, len, "CERTIFICATE"), *two;
	const char *garbage = "hello, this is not a request";

	CHECK(der != NULL && big != NULL && ber != NULL && der[1] == 0x82);
#define UNREADABLE(p, n) CHECK(want((p), (n), &personal, \
	CH_PROFILE_PERSONAL, CH_CSR_UNREADABLE, "/csr") == 0)
	UNREADABLE("", 0);
	UNREADABLE(NULL, 0);
	UNREADABLE(garbage, strlen(garbage));
	UNREADABLE(der, len - 1);		/* truncated */
	memcpy(big, der, len);
	UNREADABLE(big, len + 1);		/* a byte after it */
	UNREADABLE(big, (size_t)CH_CSR_MAX_BYTES + 1);	/* oversize */
	memset(big, ' ', CH_CSR_MAX_BYTES + 1);
	memcpy(big, pem, strlen(pem));
	UNREADABLE(big, (size_t)CH_CSR_MAX_BYTES + 1);
	CHECK(want(big, CH_CSR_MAX_BYTES, &personal, CH_PROFILE_PERSONAL,
	    CH_CSR_OK, NULL) == 0);		/* at the cap: fine */
	UNREADABLE(cert, strlen(cert));		/* another PEM label */
	two = calloc(1, 2 * strlen(pem) + 1);
	strcat(strcpy(two, pem), pem);
	UNREADABLE(two, strlen(two));		/* two blocks */
	strcpy(two, pem);
	strcat(two, "trailer\n");
	UNREADABLE(two, strlen(two));
	/* BER: the outer length in three octets instead of two. */
	ber[0] = 0x30;
	ber[1] = 0x83;
	ber[2] = 0x00;
	memcpy(ber + 3, der + 2, len - 2);
	UNREADABLE(ber, len + 1);
#undef UNREADABLE
	free(two);
	free(cert);
	free(pem);
	free(ber);
	free(big);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	return 0;
}

int
test_csr_verdict_names(void)
{
	CHECK_STR(ch_csr_verdict_name(CH_CSR_OK), "ok");
	CHECK_STR(ch_csr_verdict_name(CH_CSR_BAD_SUBJECT), "bad_subject");
	CHECK_STR(ch_csr_verdict_name(CH_CSR__MAX), "");
	return 0;
}
