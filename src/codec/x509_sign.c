/*
 * Signing with a verified TBS (certhall/codec/x509.h): the precertificate
 * signed by a throwaway key, the real signature, and the checks after it.
 */
#include "signed_int.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

/* One throwaway key per kind and process: its signatures are never kept,
 * only the TBS it makes.  Made on first use, never freed. */
static EVP_PKEY *lint_keys[CH_KEY__MAX];
static CRYPTO_ONCE lint_once[CH_KEY__MAX] = {
	CRYPTO_ONCE_STATIC_INIT, CRYPTO_ONCE_STATIC_INIT,
	CRYPTO_ONCE_STATIC_INIT
};

static void
lint_rsa(void)
{
	lint_keys[CH_KEY_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2048);
}

static void
lint_ec(void)
{
	lint_keys[CH_KEY_EC] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static void
lint_sm2(void)
{
	lint_keys[CH_KEY_SM2] = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
}

static EVP_PKEY *
lint_key(ch_key_kind_t kind)
{
	static void (*const make[CH_KEY__MAX])(void) = {
		[CH_KEY_RSA] = lint_rsa, [CH_KEY_EC] = lint_ec,
		[CH_KEY_SM2] = lint_sm2,
	};

	if ((unsigned)kind >= CH_KEY__MAX ||
	    CRYPTO_THREAD_run_once(&lint_once[kind], make[kind]) != 1)
		return NULL;
	return lint_keys[kind];
}

/* Signs x with key by the algorithm for its kind (signed_int.h). */
static int
sign_as(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *md = ch_signed_ctx_new(key, false);
	int rc = md != NULL && X509_sign_ctx(x, md) > 0 ? 0 : -1;

	EVP_MD_CTX_free(md);
	return rc;
}

/*
 * The TBSCertificate bytes inside x's DER, exactly what the signature
 * covers (not a re-encoding of the parsed fields): *len bytes, freed with
 * OPENSSL_free.  0, or -1.
 */
static int
tbs_der(X509 *x, unsigned char **out, size_t *len)
{
	unsigned char *der = NULL;
	const unsigned char *tbs;
	int dlen = i2d_X509(x, &der), rc = -1;

	*out = NULL;
	if (dlen > 0 && ch_signed_split(der, (size_t)dlen, &tbs, len, NULL,
	    NULL) == 0 && (*out = OPENSSL_memdup(tbs, *len)) != NULL)
		rc = 0;
	OPENSSL_free(der);
	return rc;
}

int
ch_x509_precert(X509 *x, EVP_PKEY *key, unsigned char **tbs, size_t *tbslen,
    char *why, size_t whylen)
{
	ch_key_kind_t kind = ch_x509_key_kind(key);
	EVP_PKEY *lk = lint_key(kind);
	int rc = -1;

	*tbs = NULL;
	*tbslen = 0;
	if (kind == CH_KEY__MAX) {
		ch_x509_whyf(why, whylen, "key: is neither RSA, EC nor SM2");
		goto out;
	}
	if (lk == NULL || sign_as(x, lk) != 0 ||
	    tbs_der(x, tbs, tbslen) != 0) {
		ch_x509_whyf(why, whylen, "precertificate: cannot be signed "
		    "with the lint key");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	return rc;
}

int
ch_x509_sm2_id_set(X509 *x)
{
	ASN1_OCTET_STRING *id;

	if (X509_get_signature_nid(x) != NID_SM2_with_SM3)
		return 0;
	if ((id = ch_x509_sm2_id_new()) == NULL)
		return -1;
	X509_set0_distinguishing_id(x, id);
	return 0;
}

int
ch_x509_sign(X509 *x, EVP_PKEY *key, const unsigned char *tbs, size_t tbslen,
    X509 *issuer, char *why, size_t whylen)
{
	ch_key_kind_t kind = ch_x509_key_kind(key);
	EVP_PKEY *pub = issuer != NULL ? X509_get0_pubkey(issuer) :
	    X509_get0_pubkey(x);
	unsigned char *signed_tbs = NULL;
	size_t len = 0;
	int rc = -1;

	if (kind == CH_KEY__MAX) {
		ch_x509_whyf(why, whylen, "key: is neither RSA, EC nor SM2");
		goto out;
	}
	if (sign_as(x, key) != 0) {
		ch_x509_whyf(why, whylen, "key: the signature failed");
		goto out;
	}
	if (tbs_der(x, &signed_tbs, &len) != 0 || tbs == NULL ||
	    len != tbslen || memcmp(signed_tbs, tbs, len) != 0) {
		ch_x509_whyf(why, whylen, "tbs: what was signed differs from "
		    "what was linted");
		goto out;
	}
	if (ch_x509_sm2_id_set(x) != 0 || pub == NULL ||
	    X509_verify(x, pub) != 1) {
		ch_x509_whyf(why, whylen, "signature: does not verify with the "
		    "issuer's public key");
		goto out;
	}
	rc = 0;
out:
	OPENSSL_free(signed_tbs);
	ERR_clear_error();
	return rc;
}

X509 *
ch_x509_issue(const ch_cert_spec_t *spec, EVP_PKEY *key,
    ch_lint_report_t *lint, char *why, size_t whylen)
{
	ch_lint_report_t local;
	ch_lint_report_t *r = lint != NULL ? lint : &local;
	unsigned char *tbs = NULL;
	size_t tbslen = 0;
	X509 *x = ch_x509_build(spec, why, whylen);

	r->failed = 0;
	r->first = CH_LINT__MAX;
	r->text[0] = '\0';
	if (x == NULL ||
	    ch_x509_precert(x, key, &tbs, &tbslen, why, whylen) != 0)
		goto fail;
	if (ch_x509_lint(x, spec, r) != 0) {
		ch_x509_whyf(why, whylen, "lint %s: %s",
		    ch_x509_lint_rule_id(r->first), r->text);
		goto fail;
	}
	if (ch_x509_sign(x, key, tbs, tbslen, spec->issuer, why, whylen) != 0)
		goto fail;
	OPENSSL_free(tbs);
	return x;
fail:
	OPENSSL_free(tbs);
	X509_free(x);
	return NULL;
}
