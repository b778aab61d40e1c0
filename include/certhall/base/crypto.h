/*
 * Small, hard-to-misuse wrappers over OpenSSL 3 for the secrets the web
 * workers handle: random tokens, keyed hashes, password hashes and the
 * encryption of integrator secrets.  (CA keys never come here: they live in
 * the signing process's HSM.)
 *
 * Keys are derived from one server pepper (32 random bytes, read from
 * CERTHALL_PEPPER_FILE at start, never stored in the database):
 * key(label) = HMAC-SHA256(pepper, label), one label per purpose, so a leak
 * of one derived key does not give away another.
 */
#ifndef CERTHALL_CRYPTO_H
#define CERTHALL_CRYPTO_H

#include "certhall/base/pool.h"

#include <stdbool.h>
#include <stddef.h>

#define CH_PEPPER_LEN 32
#define CH_SHA256_LEN 32

/* Key labels (one per purpose; a new version gets a new label). */
#define CH_KEY_SESSION "certhall session token v1"
#define CH_KEY_SMS_CODE "certhall sms code v1"
#define CH_KEY_INTEGRATOR "certhall integrator secret v1"
#define CH_KEY_VERIFY_CODE "certhall verification code v1"

/* Reads the pepper: a file holding 64 hex characters (whitespace around them
 * is ignored).  0, or -1 after logging why. */
int ch_crypto_load_pepper(const char *path);
/* Sets the pepper directly (tests). */
void ch_crypto_set_pepper(const unsigned char pepper[CH_PEPPER_LEN]);
bool ch_crypto_has_pepper(void);

/* Fills buf with n bytes from the CSPRNG; exits (70) if it cannot: no
 * caller can do anything sensible without randomness. */
void ch_random(unsigned char *buf, size_t n);
/* A uniformly random integer in [0, bound), bound > 0 (rejection sampling). */
unsigned ch_random_below(unsigned bound);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void ch_hex(const unsigned char *in, size_t n, char *out);
/* The same, into pool (a bytea statement parameter, say). */
char *ch_hex_pool(ch_pool_t *pool, const unsigned char *in, size_t n);
/* Decodes exactly 2n hex characters; 0 or -1. */
int ch_unhex(const char *in, unsigned char *out, size_t n);
/* Base64 (RFC 4648 §4, with padding) and base64url (§5, no padding).
 * out must hold 4*ceil(n/3)+1 bytes.  Returns the length written. */
size_t ch_base64(const unsigned char *in, size_t n, char *out);
size_t ch_base64url(const unsigned char *in, size_t n, char *out);
/*
 * Decodes len characters of standard base64 (RFC 4648 §4): with padding
 * (padded: a multiple of 4 characters, '=' only as the last one or two) or
 * without ('=' nowhere).  No white space.  Bits left over after the last
 * byte are ignored.  out may be NULL to only check and measure; otherwise
 * it holds cap bytes.  0 with *outlen set, or -1 (not base64, or more than
 * cap bytes).
 */
int ch_unbase64(const char *in, size_t len, bool padded, unsigned char *out,
    size_t cap, size_t *outlen);
/*
 * The same, strictly, for signatures (NUL-terminated in): padded, not
 * empty, and the unused bits of the last character zero, so each byte
 * string has one accepted text.  Returns the decoded length, or -1.
 */
long ch_unbase64_strict(const char *in, unsigned char *out, size_t cap);

void ch_sha256(const void *data, size_t n, unsigned char out[CH_SHA256_LEN]);
void ch_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t n, unsigned char out[CH_SHA256_LEN]);
/* HMAC-SHA256 under the pepper-derived key for label. */
void ch_keyed_hash(const char *label, const void *data, size_t n,
    unsigned char out[CH_SHA256_LEN]);
/* Constant-time equality of two n-byte buffers. */
bool ch_equal(const void *a, const void *b, size_t n);

/*
 * Password hashing with scrypt (RFC 7914; ln=15, r=8, p=1: 32 MiB, about
 * 0.1 s here).  ch_password_hash writes "$scrypt$ln=15,r=8,p=1$salt$hash"
 * (base64, no padding) into out (cap >= 128).  ch_password_verify accepts
 * any parameters it finds in the string, within sane bounds.
 */
int ch_password_hash(const char *password, char *out, size_t cap);
bool ch_password_verify(const char *password, const char *encoded);

/*
 * AES-256-GCM under the pepper-derived key for label; aad binds the
 * ciphertext to its owner (e.g. the integrator's key id).  Sealed form:
 * 12-byte nonce || ciphertext || 16-byte tag, so *outlen = n + 28.
 * ch_open returns -1 if anything was altered.
 */
int ch_seal(const char *label, const char *aad, const unsigned char *in,
    size_t n, unsigned char *out, size_t *outlen);
int ch_open(const char *label, const char *aad, const unsigned char *in,
    size_t n, unsigned char *out, size_t *outlen);

#endif
