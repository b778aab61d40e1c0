/*
 * SIGNED{} structures (X.509 certificates, CRLs, OCSP basic responses: a
 * SEQUENCE of the signed bytes, an AlgorithmIdentifier and a BIT STRING):
 * the signature algorithm for a key's kind, both ways, and the check of a
 * signature over the exact bytes that were encoded.  Shared inside the
 * codec (x509_sign.c, crl.c, ocsp.c); not part of the public interface.
 */
#ifndef CERTHALL_CODEC_SIGNED_INT_H
#define CERTHALL_CODEC_SIGNED_INT_H

#include "x509_int.h"

/*
 * A digest context set up to sign (verify false) or verify with key by the
 * algorithm for its kind (x509.h "Signature algorithms"): SHA-256 with
 * PKCS#1 v1.5 padding for RSA (set explicitly, so that no key default can
 * make it PSS), SHA-256 for EC, SM3 with CH_X509_SM2_ID for SM2.  For
 * X509_sign_ctx, X509_CRL_sign_ctx, OCSP_basic_sign_ctx.  A new context
 * (EVP_MD_CTX_free), or NULL if key is of no supported kind or OpenSSL
 * failed.
 */
EVP_MD_CTX *ch_signed_ctx_new(EVP_PKEY *key, bool verify);

/*
 * The first element of the outer SEQUENCE of the DER in der (len bytes):
 * *tbs points into der, *tbslen bytes with tag and length.  *rest and
 * *restlen (if not NULL) receive what follows it inside the SEQUENCE.
 * 0, or -1 if der does not start so.
 */
int ch_signed_split(const unsigned char *der, size_t len,
    const unsigned char **tbs, size_t *tbslen, const unsigned char **rest,
    size_t *restlen);

/*
 * Checks the SIGNED{} structure in der (len bytes, DER as it will be
 * served): its signature algorithm is the one for pub's kind and the
 * signature verifies with pub over the exact signed bytes.  Works for SM2,
 * which OpenSSL 3.0's X509_CRL_verify and OCSP_basic_verify cannot check
 * (they pass no distinguishing ID).  0, or -1; OpenSSL's error queue is
 * cleared.
 */
int ch_signed_verify(const unsigned char *der, size_t len, EVP_PKEY *pub);

#endif
