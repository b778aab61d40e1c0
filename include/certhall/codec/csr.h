/*
 * PKCS#10 certificate requests (RFC 2986) from subscribers whose keys are
 * on USB keys (SPEC §8: "a PKCS#10 request whose signature proves
 * possession").  Pure: bytes in, a verdict and the public key out.
 *
 * Decisions:
 * - Input is DER, or one PEM block labelled "CERTIFICATE REQUEST" (or the
 *   older "NEW CERTIFICATE REQUEST") with nothing but white space around
 *   it; at most CH_CSR_MAX_BYTES.  The DER must be DER: it is re-encoded
 *   and compared, and nothing may follow it.
 * - The self-signature must verify: RSA PKCS#1 v1.5 or ECDSA with SHA-256,
 *   -384 or -512, or SM2 with SM3 under the distinguishing ID
 *   CH_X509_SM2_ID (what Chinese USB key middleware signs with).  SHA-1
 *   and MD5 are refused even for proof of possession.
 * - The key must pass ch_x509_key_check(): RSA 2048-8192, EC P-256 as a
 *   named curve, or SM2.
 * - The certificate's subject is never taken from the request: it is
 *   built from the approved application.  The request's subject must
 *   still fit it, so that a request made for someone else is refused
 *   early: every attribute in it must be one the certificate will carry,
 *   with the same value (compared as UTF-8, whatever string type the
 *   client chose), at most once; CN must be there; the others may be
 *   left out (many USB key tools put CN alone).  No normalisation: a
 *   full-width "（" is not "(".
 * - Requested extensions and other attributes are ignored: the profile
 *   decides every extension.
 */
#ifndef CERTHALL_CODEC_CSR_H
#define CERTHALL_CODEC_CSR_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhall/codec/x509.h"

/* The largest request accepted, DER or PEM (an RSA-8192 request is about
 * 1.5 KB of DER). */
#define CH_CSR_MAX_BYTES 16384

typedef enum {
	CH_CSR_OK,
	CH_CSR_UNREADABLE,	/* too large, not PKCS#10 DER or PEM */
	CH_CSR_BAD_SIGNATURE,	/* the self-signature does not verify, or
				 * uses an algorithm not accepted */
	CH_CSR_BAD_KEY,		/* the key's kind or size is refused */
	CH_CSR_BAD_SUBJECT,	/* the subject does not fit the application */
	CH_CSR__MAX
} ch_csr_verdict_t;

typedef struct {
	ch_csr_verdict_t verdict;
	const char *field;	/* "/csr" for the request as a whole, or
				 * "subject.CN", "subject.O",
				 * "subject.organizationIdentifier",
				 * "subject.serialNumber", "subject.C",
				 * "subject" (an attribute we never set) */
	const char *text;	/* static, completing the field: "is not a
				 * PKCS#10 request in DER or PEM", ... */
} ch_csr_result_t;

/* "ok", "unreadable", "bad_signature", "bad_key", "bad_subject"; "" if
 * out of range. */
const char *ch_csr_verdict_name(ch_csr_verdict_t verdict);

/*
 * Decodes in (len bytes, DER or PEM as above) into a request, without
 * judging it.  Returns a new X509_REQ (X509_REQ_free) or NULL with *res
 * filled (CH_CSR_UNREADABLE, "/csr").
 */
X509_REQ *ch_csr_parse(const void *in, size_t len, ch_csr_result_t *res);

/*
 * The whole check of a request for a certificate of profile for subject:
 * decoding, key policy, self-signature, subject fit, in that order; *res
 * says the first failure.  On CH_CSR_OK *key (if key is not NULL)
 * receives the request's public key (EVP_PKEY_free); otherwise *key is
 * NULL.  Pure; OpenSSL's error queue is cleared.
 */
ch_csr_verdict_t ch_csr_check(const void *in, size_t len,
    ch_profile_t profile, const ch_cert_subject_t *subject, EVP_PKEY **key,
    ch_csr_result_t *res);

#endif
