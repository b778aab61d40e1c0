/*
 * Keys behind one interface: private keys and secret keys in a PKCS#11
 * token, and software private keys in encrypted PKCS#8 files.
 *
 * Key references (one string configures a key):
 *
 *   pkcs11:token=certhall-ca;object=issuing-ca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/certhall/hsm-pin
 *   pkcs11:serial=8efeba98b57bb366;id=%01%02;type=private
 *   file:/etc/certhall/keys/seal-sm2.p8   (also file:///etc/...)
 *
 * The pkcs11 form is a subset of RFC 7512.  Path attributes: token (label) or
 * serial, exactly one; object (CKA_LABEL) and/or id (CKA_ID, %XX-encoded
 * bytes), at least one; type = private (default) | secret-key.  Query
 * attributes: module-path, pin-source (ch_token_read_secret syntax).  Values
 * are %XX-decoded.  Anything else is refused rather than ignored: slot-id
 * because slots move, pin-value because a PIN never sits in configuration
 * text, and unknown attributes because a key reference that does not mean
 * what it says must not pick some other key.  The file form takes an
 * absolute path; its passphrase comes from the defaults' pin_source.
 *
 * A key found in a token is pinned at open: its CKA_ID, its key type and
 * the SHA-256 of its public key's DER SubjectPublicKeyInfo (for a secret
 * key, HMAC-SHA256(key, "certhall/key-check/v1"), the check value), after a
 * test signature verified with that public key.  After each reload the same
 * reference must find an object with the same pins, or the token is
 * refused (certhall/token/token.h).  Private and secret keys must be
 * CKA_SENSITIVE and not CKA_EXTRACTABLE, or they are refused at open.
 *
 * The EVP_PKEY of a token key signs through the token with OpenSSL's
 * ordinary calls (EVP_DigestSign, X509_sign, X509_CRL_sign, OCSP_basic_sign):
 * it carries an RSA or EC_KEY method whose private operation calls C_Sign
 * (CKM_RSA_PKCS, CKM_RSA_X_509 for PSS, CKM_ECDSA) with the cached object
 * handle, so C_FindObjects runs once per key and reload, never per
 * signature.  OpenSSL 3.0 routes such "foreign" keys through its legacy
 * code, as it does libp11's; it stays valid across reloads.  After a failed
 * signature, ch_token_last_error() says whether to retry.
 */
#ifndef CERTHALL_TOKEN_KEY_H
#define CERTHALL_TOKEN_KEY_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhall/token/token.h"

typedef struct ch_key ch_key_t;

typedef enum {
	CH_KEYREF_PKCS11,
	CH_KEYREF_FILE,
	CH_KEYREF__MAX
} ch_keyref_kind_t;

typedef enum {
	CH_KEYREF_PRIVATE,
	CH_KEYREF_SECRET,
	CH_KEYREF_TYPE__MAX
} ch_keyref_type_t;

#define CH_KEYREF_ID_MAX 64

/* A parsed key reference; "" for what it does not say. */
typedef struct {
	ch_keyref_kind_t kind;
	ch_keyref_type_t type;
	char token[33];
	char serial[17];
	char object[129];
	unsigned char id[CH_KEYREF_ID_MAX];
	size_t id_len;
	int has_id;
	char module_path[512];
	char pin_source[512];
	char path[512];		/* the file form */
} ch_keyref_t;

/* What a key reference may leave out. */
typedef struct {
	const char *module_path;	/* when the pkcs11 URI has none */
	const char *pin_source;		/* token PIN or PKCS#8 passphrase */
	int sessions;			/* pool size for a token opened here */
} ch_key_defaults_t;

typedef enum {
	CH_KEY_RSA_2048,
	CH_KEY_RSA_3072,
	CH_KEY_RSA_4096,
	CH_KEY_EC_P256,
	CH_KEY_ALG__MAX
} ch_key_alg_t;

/* A key pair to generate in a token. */
typedef struct {
	ch_key_alg_t alg;
	const char *label;		/* CKA_LABEL of both halves */
	const unsigned char *id;	/* CKA_ID of both halves, 1..64 bytes */
	size_t id_len;
} ch_keygen_t;

/* Parses ref as described above into *out.  0, or -1 after logging which
 * part is wrong.  Pure apart from the log. */
int ch_keyref_parse(const char *ref, ch_keyref_t *out);

/*
 * Opens the key ref names, with defaults for what it leaves out (defaults
 * may be NULL).  A pkcs11 key opens (or shares) its token: see
 * ch_token_open.  0 and *out (release with ch_key_close), or -1 after
 * logging why, with ch_token_last_error() set.
 */
int ch_key_open(const char *ref, const ch_key_defaults_t *defaults,
    ch_key_t **out);

/* Opens the private (type CH_KEYREF_PRIVATE) or secret key labelled label
 * and/or with CKA_ID id in the open token t, as ch_key_open does; exactly
 * one object must match.  The key holds its own reference to t. */
int ch_token_key(ch_token_t *t, ch_keyref_type_t type, const char *label,
    const unsigned char *id, size_t id_len, ch_key_t **out);

/* Releases k (and its token reference).  NULL is ignored. */
void ch_key_close(ch_key_t *k);

/* The private key to sign with (borrowed, valid until ch_key_close), or
 * NULL for a secret key. */
EVP_PKEY *ch_key_pkey(const ch_key_t *k);
/* The public key alone (borrowed), or NULL for a secret key. */
EVP_PKEY *ch_key_public(const ch_key_t *k);
/* The pinned SHA-256 (SPKI hash, or a secret key's check value). */
void ch_key_fingerprint(const ch_key_t *k, unsigned char out[32]);
/* The CKA_ID found at open (borrowed; *len 0 for a file key). */
const unsigned char *ch_key_id(const ch_key_t *k, size_t *len);

/* HMAC-SHA256 of data with the secret key k, in the token
 * (CKM_SHA256_HMAC).  0, or -1 (k is not a token secret key, or see
 * ch_token_last_error). */
int ch_key_hmac_sha256(ch_key_t *k, const void *data, size_t len,
    unsigned char out[32]);

/*
 * Generates a key pair in t (logged in): private half CKA_TOKEN,
 * CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN only; public
 * half CKA_VERIFY; RSA with e = 65537, EC with CKA_EC_PARAMS prime256v1.
 * Refused when an object with spec's label or id is already there (a
 * second one would make lookups ambiguous).  0 and, when pub is not NULL,
 * *pub (the public key; the caller frees it), or -1.
 */
int ch_token_generate_keypair(ch_token_t *t, const ch_keygen_t *spec,
    EVP_PKEY **pub);

/*
 * Generates a 32-byte CKK_GENERIC_SECRET in t (CKM_GENERIC_SECRET_KEY_GEN):
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN and
 * CKA_VERIFY (for CKM_SHA256_HMAC) and nothing else.  Its value never
 * leaves the token.  Refused like ch_token_generate_keypair.  0 or -1.
 */
int ch_token_generate_secret(ch_token_t *t, const char *label,
    const unsigned char *id, size_t id_len);

/* Stores x in t as a CKO_CERTIFICATE (CKC_X_509, CKA_TOKEN, public) with
 * label and id (id may be NULL) and CKA_SUBJECT, CKA_ISSUER,
 * CKA_SERIAL_NUMBER from x.  Refused when a certificate with that label
 * exists.  0 or -1. */
int ch_token_store_cert(ch_token_t *t, const char *label,
    const unsigned char *id, size_t id_len, X509 *x);

/* The certificate labelled label in t: 0 and *out (the caller frees it),
 * or -1 (none, or more than one). */
int ch_token_get_cert(ch_token_t *t, const char *label, X509 **out);

/* The public key labelled label in t (CKO_PUBLIC_KEY), or failing that the
 * one in the certificate labelled label: 0 and *out (caller frees), or -1. */
int ch_token_get_public(ch_token_t *t, const char *label, EVP_PKEY **out);

/*
 * Writes pkey to path as an encrypted PKCS#8 PEM file ("ENCRYPTED PRIVATE
 * KEY": PBES2, scrypt N=2^14 r=8 p=1, AES-256-CBC) with the passphrase from
 * pass_source; the file is created new (never overwritten), mode 0600.
 * 0, or -1 after logging why (nothing is left at path).
 */
int ch_key_write_p8(EVP_PKEY *pkey, const char *path, const char *pass_source);

#endif
