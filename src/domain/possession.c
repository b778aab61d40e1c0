/*
 * Proof of possession: a signature checked against the key of the
 * certificate on file (certhall/possession.h).
 */
#include "certhall/domain/possession.h"
#include "certhall/base/pool.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

static const char *const alg_names[CH_POSS__MAX] = {
	[CH_POSS_RSA_PKCS1_SHA256] = "rsa-pkcs1-sha256",
	[CH_POSS_ECDSA_P256_SHA256] = "ecdsa-p256-sha256",
	[CH_POSS_SM2_SM3] = "sm2-sm3",
};

const char *
ch_poss_alg_name(ch_poss_alg_t alg)
{
	return (unsigned)alg < CH_POSS__MAX ? alg_names[alg] : "";
}

/* What key signs with, or -1 with the reason it cannot prove anything. */
static int
classify(EVP_PKEY *key, ch_poss_alg_t *alg, const char **why)
{
	char group[64];
	size_t n = 0;

	if (EVP_PKEY_is_a(key, "SM2")) {
		*alg = CH_POSS_SM2_SM3;
		return 0;
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		if (EVP_PKEY_get_bits(key) < CH_POSS_RSA_MIN_BITS) {
			*why = "has an RSA key of fewer than 2048 bits, too "
			    "weak to prove possession with";
			return -1;
		}
		*alg = CH_POSS_RSA_PKCS1_SHA256;
		return 0;
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		if (!EVP_PKEY_get_group_name(key, group, sizeof group, &n))
			group[0] = '\0';
		if (strcmp(group, "prime256v1") == 0) {
			*alg = CH_POSS_ECDSA_P256_SHA256;
			return 0;
		}
		*why = "has an EC key on a curve other than P-256";
		return -1;
	}
	*why = "has a key that is not RSA, EC P-256 or SM2";
	return -1;
}

/* The public key of DER certificate der (a new reference), or NULL with
 * the reason.  Trailing bytes after the certificate are refused. */
static EVP_PKEY *
certificate_key(const unsigned char *der, size_t len, const char **why)
{
	const unsigned char *p = der;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;

	if (len > 0 && len <= LONG_MAX)
		x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		*why = "is not a readable X.509 certificate (DER)";
		goto out;
	}
	key = X509_get_pubkey(x);
	if (key == NULL)
		*why = "has a public key that cannot be read";
out:
	X509_free(x);
	ERR_clear_error();
	return key;
}

int
ch_poss_algorithm(const unsigned char *der, size_t len, ch_poss_alg_t *alg,
    const char **why)
{
	EVP_PKEY *key = certificate_key(der, len, why);
	int rc;

	if (key == NULL)
		return -1;
	rc = classify(key, alg, why);
	EVP_PKEY_free(key);
	return rc;
}

static ch_poss_result_t
verify_key(EVP_PKEY *key, const void *msg, size_t msglen,
    const unsigned char *sig, size_t siglen, const char **why)
{
	ch_poss_result_t r = CH_POSS_UNUSABLE;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *md = NULL;
	ch_poss_alg_t alg;

	if (classify(key, &alg, why) != 0)
		goto out;
	if ((md = EVP_MD_CTX_new()) == NULL)
		ch_oom();
	/* PKCS#1 v1.5 is an RSA key's default padding; SM2 hashes the ID
	 * into Z at the first update, so the ID is set before it. */
	if (EVP_DigestVerifyInit_ex(md, &pctx,
	    alg == CH_POSS_SM2_SM3 ? "SM3" : "SHA256", NULL, NULL, key,
	    NULL) != 1 ||
	    (alg == CH_POSS_RSA_PKCS1_SHA256 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) ||
	    (alg == CH_POSS_SM2_SM3 && EVP_PKEY_CTX_set1_id(pctx,
	    CH_POSS_SM2_ID, strlen(CH_POSS_SM2_ID)) != 1)) {
		*why = "has a key this server cannot verify with";
		goto out;
	}
	r = CH_POSS_REFUSED;
	if (alg != CH_POSS_RSA_PKCS1_SHA256 && (siglen == 0 || sig[0] != 0x30))
		*why = "is not DER: an ECDSA or SM2 signature is the DER "
		    "SEQUENCE of r and s, not their raw concatenation";
	else if (EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1)
		r = CH_POSS_PROVEN;
	else
		*why = "does not verify with the key of the certificate on file";
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return r;
}

ch_poss_result_t
ch_poss_verify(const unsigned char *der, size_t len, const void *msg,
    size_t msglen, const unsigned char *sig, size_t siglen, const char **why)
{
	EVP_PKEY *key = certificate_key(der, len, why);
	ch_poss_result_t r;

	if (key == NULL)
		return CH_POSS_UNUSABLE;
	r = verify_key(key, msg, msglen, sig, siglen, why);
	EVP_PKEY_free(key);
	return r;
}
