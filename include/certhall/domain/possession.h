/*
 * Proof of possession (SPEC §6; docs/CONTRACT.md "Pay or verify"): does a
 * signature over a server nonce verify under the public key of the
 * certificate on file (certificate.der)?  For renew and change the holder
 * proves this way that the USB key holding the certificate's private key
 * is at hand.
 *
 * The algorithm is the key's; nothing in the request chooses it:
 *
 *	RSA, 2048 bits or more	RSA PKCS#1 v1.5 with SHA-256
 *	EC on P-256		ECDSA with SHA-256, DER (X9.62 Ecdsa-Sig-Value)
 *	SM2			SM2 with SM3, DER, distinguishing ID
 *				"1234567812345678" (GB/T 35276, GM/T 0009)
 *
 * Every other key is refused with a reason: RSA under 2048 bits, EC on
 * other curves, RSA-PSS-only, DSA, Ed25519 and the rest.  OpenSSL 3 (3.0.x
 * on Debian 12, checked) decodes an id-ecPublicKey on the SM2 curve as an
 * "SM2" key, and its EC key manager refuses that curve, so an SM2
 * certificate's key is always of type SM2 here (OpenSSL 1.1 gave an EC key
 * and needed EVP_PKEY_set_alias_type; 3.0 made that a no-op).
 * The certificate's own signature and validity are not looked at: what is
 * proven is the key, and the certificate row is what the application is
 * about.
 *
 * Pure (no database, no HTTP); OpenSSL errors are cleared, never logged
 * here, since nothing in them is useful to the caller beyond the reason.
 */
#ifndef CERTHALL_POSSESSION_H
#define CERTHALL_POSSESSION_H

#include <stddef.h>

/* The SM2 distinguishing ID (FIELD-NOTES: OpenSSL 3 has no default). */
#define CH_POSS_SM2_ID "1234567812345678"
/* The smallest RSA modulus accepted, in bits. */
#define CH_POSS_RSA_MIN_BITS 2048

typedef enum {
	CH_POSS_RSA_PKCS1_SHA256,
	CH_POSS_ECDSA_P256_SHA256,
	CH_POSS_SM2_SM3,
	CH_POSS__MAX
} ch_poss_alg_t;

/* The API's and the database's name of alg: "rsa-pkcs1-sha256",
 * "ecdsa-p256-sha256", "sm2-sm3". */
const char *ch_poss_alg_name(ch_poss_alg_t alg);

/*
 * The algorithm the key of the DER certificate der (len bytes) signs
 * with.  0 with *alg set, or -1 with *why (a static phrase completing
 * "the certificate on file ...": "is not a readable X.509 certificate",
 * "has an RSA key of 1024 bits; at least 2048 are needed", ...).
 */
int ch_poss_algorithm(const unsigned char *der, size_t len,
    ch_poss_alg_t *alg, const char **why);

typedef enum {
	CH_POSS_PROVEN,		/* the signature verifies */
	CH_POSS_REFUSED,	/* it does not (or is not a signature at all) */
	CH_POSS_UNUSABLE,	/* the certificate or its key cannot be used:
				 * *why as ch_poss_algorithm() */
} ch_poss_result_t;

/*
 * Verifies sig (siglen bytes: PKCS#1 v1.5 for RSA, DER for ECDSA and SM2)
 * over the msglen bytes of msg with the key of certificate der, by the
 * key's algorithm (above).  On CH_POSS_REFUSED *why completes "the
 * signature ..." ("does not verify with the key of the certificate on
 * file", "is not DER: ..."); on CH_POSS_UNUSABLE it completes "the
 * certificate on file ..." as ch_poss_algorithm()'s does.
 */
ch_poss_result_t ch_poss_verify(const unsigned char *der, size_t len,
    const void *msg, size_t msglen, const unsigned char *sig, size_t siglen,
    const char **why);

#endif
