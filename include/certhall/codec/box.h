/*
 * A sealed box: a short secret encrypted to one requester's public key, so
 * that it can pass through the database and the API without being stored
 * or seen in clear (the SO PIN of a USB key, from the signer to the
 * personalisation station).
 *
 * Format v1: RSA-OAEP with SHA-256 as both hash and MGF1 hash, empty label
 * (RFC 8017 §7.1), to an RSA key of 2048 to 4096 bits given as a DER
 * SubjectPublicKeyInfo.  The box is the bare OAEP ciphertext (the key's
 * size in bytes); the secret is at most 190 bytes (what OAEP-SHA-256 can
 * carry in a 2048-bit key).  The requester makes a fresh key pair for each
 * request and throws it away afterwards, so a box read later by anyone
 * else is worthless.  Pure OpenSSL.
 */
#ifndef CERTHALL_CODEC_BOX_H
#define CERTHALL_CODEC_BOX_H

#include <stddef.h>

#include <openssl/evp.h>

#define CH_BOX_MAX_SECRET 190
#define CH_BOX_MAX_BYTES 512		/* a 4096-bit key's ciphertext */

/*
 * Seals secret (len bytes, 1..CH_BOX_MAX_SECRET) to the RSA public key in
 * spki (DER SubjectPublicKeyInfo, spki_len bytes).  Writes the box into
 * out (cap bytes, CH_BOX_MAX_BYTES is always enough) and its length into
 * *out_len.  0, or -1 with *why set (static text): the key is not an RSA
 * key of 2048-4096 bits, the secret is too long, or OpenSSL failed.
 */
int ch_box_seal(const unsigned char *spki, size_t spki_len,
    const unsigned char *secret, size_t len, unsigned char *out, size_t cap,
    size_t *out_len, const char **why);

/*
 * Opens box (len bytes) with the private key that matches the sealing
 * public key.  Writes the secret into out (cap bytes) and its length into
 * *out_len.  0, or -1 with *why set when the box does not open (wrong key,
 * altered bytes) or out is too small.  The caller wipes out after use.
 */
int ch_box_open(EVP_PKEY *key, const unsigned char *box, size_t len,
    unsigned char *out, size_t cap, size_t *out_len, const char **why);

#endif
