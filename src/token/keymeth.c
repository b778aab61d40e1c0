/*
 * EVP_PKEYs whose private operation happens in a token: an RSA_METHOD and an
 * EC_KEY_METHOD that call ch_key_sign_raw_().  These are OpenSSL 3.0's
 * deprecated legacy interfaces, the ones libp11 0.4.12 uses too: OpenSSL
 * marks such keys "foreign" and signs with them through its legacy code
 * (EVP_DigestSign, X509_sign, X509_CRL_sign, OCSP_basic_sign).  When Debian
 * ships pkcs11-provider or libp11 >= 0.4.14, a provider replaces this file.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

static pthread_once_t methods_once = PTHREAD_ONCE_INIT;
static RSA_METHOD *rsa_method;
static EC_KEY_METHOD *ec_method;
static int rsa_index = -1, ec_index = -1;

/* The RSA private "encryption" OpenSSL signs with: PKCS#1 v1.5 padding
 * (RSA_sign adds the DigestInfo) or none (PSS, padded by OpenSSL). */
static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	struct ch_key *k = RSA_get_ex_data(rsa, rsa_index);
	CK_ULONG n = (CK_ULONG)RSA_size(rsa);
	CK_MECHANISM_TYPE mech;

	if (padding == RSA_PKCS1_PADDING)
		mech = CKM_RSA_PKCS;
	else if (padding == RSA_NO_PADDING)
		mech = CKM_RSA_X_509;
	else
		return -1;
	if (k == NULL || flen < 0 ||
	    ch_key_sign_raw_(k, mech, from, (size_t)flen, to, &n) != 0)
		return -1;
	return (int)n;
}

/* These keys sign only. */
static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	return -1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	struct ch_key *k = EC_KEY_get_ex_data(ec, ec_index);
	unsigned char sig[2 * 66];
	CK_ULONG n = sizeof sig;

	if (k == NULL || dlen < 0 ||
	    ch_key_sign_raw_(k, CKM_ECDSA, dgst, (size_t)dlen, sig, &n) != 0)
		return NULL;
	return ch_key_ecdsa_sig_(sig, n);
}

static void
methods_init(void)
{
	int (*sign)(int, const unsigned char *, int, unsigned char *,
	    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *) = NULL;

	rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
	if (rsa_method != NULL) {
		RSA_meth_set1_name(rsa_method, "certhall pkcs11 rsa");
		RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc);
		RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec);
		RSA_meth_set_flags(rsa_method,
		    RSA_meth_get_flags(rsa_method) | RSA_FLAG_EXT_PKEY);
	}
	ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (ec_method != NULL) {
		/* OpenSSL's sign() DER-encodes what sign_sig() returns. */
		EC_KEY_METHOD_get_sign(ec_method, &sign, NULL, NULL);
		EC_KEY_METHOD_set_sign(ec_method, sign, NULL, ec_sign_sig);
	}
	rsa_index = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ec_index = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static EVP_PKEY *
foreign_rsa(struct ch_key *k, EVP_PKEY *pub)
{
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;
	RSA *rsa = NULL;

	if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
	    (rsa = RSA_new()) == NULL ||
	    RSA_set_method(rsa, rsa_method) != 1 ||
	    RSA_set0_key(rsa, n, e, NULL) != 1)
		goto fail;
	n = e = NULL;
	if (RSA_set_ex_data(rsa, rsa_index, k) != 1 ||
	    (pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1)
		goto fail;
	return pk;
fail:
	BN_free(n);
	BN_free(e);
	RSA_free(rsa);
	EVP_PKEY_free(pk);
	return NULL;
}

static EVP_PKEY *
foreign_ec(struct ch_key *k, EVP_PKEY *pub)
{
	unsigned char point[256];
	char group[64];
	size_t len = 0;
	EVP_PKEY *pk = NULL;
	EC_KEY *ec = NULL;

	if (EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof group, NULL) != 1 ||
	    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY,
	    point, sizeof point, &len) != 1 ||
	    (ec = EC_KEY_new_by_curve_name(OBJ_sn2nid(group))) == NULL ||
	    EC_KEY_set_method(ec, ec_method) != 1 ||
	    EC_KEY_oct2key(ec, point, len, NULL) != 1 ||
	    EC_KEY_set_ex_data(ec, ec_index, k) != 1 ||
	    (pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
		goto fail;
	return pk;
fail:
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	return NULL;
}

EVP_PKEY *
ch_key_foreign_(struct ch_key *k, EVP_PKEY *pub)
{
	pthread_once(&methods_once, methods_init);
	if (rsa_method == NULL || ec_method == NULL || rsa_index < 0 ||
	    ec_index < 0)
		return NULL;
	if (EVP_PKEY_is_a(pub, "RSA"))
		return foreign_rsa(k, pub);
	if (EVP_PKEY_is_a(pub, "EC"))
		return foreign_ec(k, pub);
	return NULL;
}
