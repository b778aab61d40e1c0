/*
 * SIGNED{} structures: the signature algorithm for a key's kind and the
 * check of a signature over the encoded bytes (signed_int.h).
 */
#include "signed_int.h"

#include <limits.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

EVP_MD_CTX *
ch_signed_ctx_new(EVP_PKEY *key, bool verify)
{
	ch_key_kind_t kind = ch_x509_key_kind(key);
	const char *md_name = kind == CH_KEY_SM2 ? "SM3" : "SHA256";
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (kind == CH_KEY__MAX || (md = EVP_MD_CTX_new()) == NULL)
		goto fail;
	ok = verify ? EVP_DigestVerifyInit_ex(md, &pctx, md_name, NULL, NULL,
	    key, NULL) : EVP_DigestSignInit_ex(md, &pctx, md_name, NULL,
	    NULL, key, NULL);
	/* SM2 hashes the ID into Z at the first update, so it is set
	 * between init and the first update. */
	if (ok != 1 || (kind == CH_KEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) ||
	    (kind == CH_KEY_SM2 && EVP_PKEY_CTX_set1_id(pctx, CH_X509_SM2_ID,
	    strlen(CH_X509_SM2_ID)) != 1))
		goto fail;
	return md;
fail:
	EVP_MD_CTX_free(md);
	return NULL;
}

/* The constructed SEQUENCE at *p (n bytes): *p moves to its content,
 * *len is the content's length. */
static int
sequence(const unsigned char **p, long n, long *len)
{
	int tag, xclass;

	return ASN1_get_object(p, len, &tag, &xclass, n) ==
	    V_ASN1_CONSTRUCTED && tag == V_ASN1_SEQUENCE &&
	    xclass == V_ASN1_UNIVERSAL ? 0 : -1;
}

int
ch_signed_split(const unsigned char *der, size_t len,
    const unsigned char **tbs, size_t *tbslen, const unsigned char **rest,
    size_t *restlen)
{
	const unsigned char *p = der, *start, *end;
	long outer, inner;

	if (len > LONG_MAX || sequence(&p, (long)len, &outer) != 0)
		return -1;
	end = p + outer;
	start = p;
	if (sequence(&p, outer, &inner) != 0)
		return -1;
	*tbs = start;
	*tbslen = (size_t)(p - start) + (size_t)inner;
	if (rest != NULL) {
		*rest = start + *tbslen;
		*restlen = (size_t)(end - *rest);
	}
	return 0;
}

int
ch_signed_verify(const unsigned char *der, size_t len, EVP_PKEY *pub)
{
	const unsigned char *tbs, *p;
	size_t tbslen, restlen;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *sig = NULL;
	EVP_MD_CTX *md = NULL;
	int rc = -1;

	if (ch_signed_split(der, len, &tbs, &tbslen, &p, &restlen) != 0 ||
	    (alg = d2i_X509_ALGOR(NULL, &p, (long)restlen)) == NULL ||
	    (sig = d2i_ASN1_BIT_STRING(NULL, &p, (long)(restlen -
	    (size_t)(p - (tbs + tbslen))))) == NULL)
		goto out;
	/* A signature is whole octets: no unused bits. */
	if (OBJ_obj2nid(alg->algorithm) !=
	    ch_x509_sig_nid(ch_x509_key_kind(pub)) ||
	    ((sig->flags & ASN1_STRING_FLAG_BITS_LEFT) && (sig->flags & 7)))
		goto out;
	if ((md = ch_signed_ctx_new(pub, true)) != NULL &&
	    EVP_DigestVerify(md, ASN1_STRING_get0_data(sig),
	    (size_t)ASN1_STRING_length(sig), tbs, tbslen) == 1)
		rc = 0;
out:
	EVP_MD_CTX_free(md);
	ASN1_BIT_STRING_free(sig);
	X509_ALGOR_free(alg);
	ERR_clear_error();
	return rc;
}
