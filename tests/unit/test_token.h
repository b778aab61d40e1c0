/*
 * Helpers for the token tests: a SoftHSM2 sandbox per test (its own
 * directory, SOFTHSM2_CONF and token directory) and a raw PKCS#11 view of
 * the module that does not go through the layer under test.
 */
#ifndef CERTHALL_TEST_TOKEN_H
#define CERTHALL_TEST_TOKEN_H

#include <p11-kit/pkcs11.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define TT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TT_PIN "531246"
#define TT_SO_PIN "86421357"

typedef struct {
	char dir[128];		/* the sandbox, removed by tt_hsm_free */
	char conf[192];
	char tokens[192];	/* directories.tokendir */
	char pin_source[192];	/* "file:<dir>/pin" holding TT_PIN */
} tt_hsm_t;

/* Makes a sandbox and points SOFTHSM2_CONF at it.  0 or -1. */
int tt_hsm_new(tt_hsm_t *h);
/* softhsm2-util --init-token --free in h (as another process would). */
int tt_hsm_init_token(const tt_hsm_t *h, const char *label,
    const char *so_pin, const char *pin);
/* The serial of the token labelled label, read by softhsm2-util. */
int tt_hsm_serial(const tt_hsm_t *h, const char *label, char out[17]);
void tt_hsm_free(tt_hsm_t *h);
/* A file in h's directory: path into out (cap bytes). */
void tt_hsm_path(const tt_hsm_t *h, const char *name, char *out, size_t cap);

typedef struct {
	void *dl;
	CK_FUNCTION_LIST *fl;
	CK_SESSION_HANDLE s;
} tt_raw_t;

/* Opens a session of its own on the token labelled label, logged in with
 * pin when not NULL (the module must already be loaded by the layer). */
int tt_raw_open(tt_raw_t *r, const char *label, const char *pin);
/* The one object of class cls labelled label, or CK_INVALID_HANDLE. */
CK_OBJECT_HANDLE tt_raw_find(tt_raw_t *r, CK_OBJECT_CLASS cls,
    const char *label);
/* A CK_BBOOL attribute: 1, 0, or -1 when it cannot be read. */
int tt_raw_bool(tt_raw_t *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type);
/* 1 when h is a signing key that never left the token and cannot:
 * CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_TOKEN,
 * CKA_PRIVATE and CKA_SIGN true, CKA_EXTRACTABLE false. */
int tt_raw_kept_in(tt_raw_t *r, CK_OBJECT_HANDLE h);
/* What reading attribute type of h returns. */
CK_RV tt_raw_read_rv(tt_raw_t *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type);
void tt_raw_close(tt_raw_t *r);

/* Verifies sig over data with pub (SHA-256; RSA PKCS#1 v1.5 or ECDSA). */
int tt_verify(EVP_PKEY *pub, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t sig_len);
/* Signs data with pkey (SHA-256): the signature length, or 0. */
size_t tt_sign(EVP_PKEY *pkey, const unsigned char *data, size_t len,
    unsigned char *sig, size_t cap);
/* A certificate for pub, subject cn, signed by issuer_key (issuer: NULL
 * for self-signed).  NULL on failure. */
X509 *tt_cert(EVP_PKEY *pub, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key);

#endif
