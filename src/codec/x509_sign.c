/*
 * Signing with a verified TBS (certhall/codec/x509.h): the precertificate
 * (the TBS with the signature algorithm the key will sign with), the real
 * signature, and the checks after it.
 */
#include "signed_int.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

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

/*
 * The precertificate used to be signed by a throwaway key of key's kind,
 * only for X509_sign() to fill in the two AlgorithmIdentifiers: a
 * software RSA-2048 signature per certificate (as much CPU as the token's
 * own) whose bytes were thrown away.  The identifiers are set here
 * instead, to what the lint's cert.signature_alg demands (the algorithm
 * for key's kind; NULL parameters for RSA, RFC 4055 §5; absent for ECDSA
 * and SM2, RFC 5758 §3.2 and GM/T 0015), and the TBS is encoded from
 * them.  Nothing is trusted on that account: ch_x509_sign() refuses a
 * signature whose TBS is not byte-identical to this one, so a key that
 * signs with other identifiers signs nothing that is kept.
 */
int
ch_x509_precert(X509 *x, EVP_PKEY *key, unsigned char **tbs, size_t *tbslen,
    char *why, size_t whylen)
{
	ch_key_kind_t kind = ch_x509_key_kind(key);
	const X509_ALGOR *outer = NULL;
	unsigned char *der = NULL;
	int len, rc = -1;

	*tbs = NULL;
	*tbslen = 0;
	if (kind == CH_KEY__MAX) {
		ch_x509_whyf(why, whylen, "key: is neither RSA, EC nor SM2");
		goto out;
	}
	X509_get0_signature(NULL, &outer, x);
	/* OpenSSL 3.0 has no setter for them but signing: both are x's own
	 * (X509_get0_tbs_sigalg() and X509_get0_signature() hand them out
	 * const only). */
	if (outer == NULL || X509_ALGOR_set0((X509_ALGOR *)outer,
	    OBJ_nid2obj(ch_x509_sig_nid(kind)), kind == CH_KEY_RSA ?
	    V_ASN1_NULL : V_ASN1_UNDEF, NULL) != 1 ||
	    X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), outer)
	    != 1 || (len = i2d_re_X509_tbs(x, &der)) <= 0) {
		ch_x509_whyf(why, whylen, "precertificate: its TBS cannot be "
		    "encoded");
		goto out;
	}
	*tbs = der;
	*tbslen = (size_t)len;
	der = NULL;
	rc = 0;
out:
	OPENSSL_free(der);
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
