/*
 * A software CA for the revocation tests: tests/codec/x509_fixture.h's root
 * and issuing CA, a delegated OCSP responder under the issuing CA, and two
 * subscriber certificates, one to stay good and one to revoke.  Shared by
 * tests/unit/test_crl.c, test_ocsp.c and codec-revoke-tool.
 */
#ifndef CERTHALL_TEST_REVOKE_FIXTURE_H
#define CERTHALL_TEST_REVOKE_FIXTURE_H

#include "x509_fixture.h"

#include <stddef.h>
#include <time.h>

/* The URL of a shard the test certificates are not in. */
#define RX_OTHER_SHARD_URL "http://pki.certhall.test/issuing-2031q2.crl"

typedef struct {
	fx_ca_t ca;
	EVP_PKEY *root_key, *issuing_key, *ocsp_key, *leaf_key;
	X509 *ocsp;		/* the responder: profile "ocsp", 1 year */
	X509 *good, *revoked;	/* profile "org", FX_CRL_URL as CRL DP */
} rx_t;

/*
 * Makes *r with CA keys of kind "rsa" (RSA-2048), "ec" (P-256) or "sm2";
 * the responder's key is of the same kind, the subscribers' P-256.  0, or
 * -1 after printing why (*r is then freed).
 */
int rx_make(rx_t *r, const char *kind);
void rx_free(rx_t *r);

/* The serial of x as a big-endian magnitude into out; its length, 0 if it
 * does not fit. */
size_t rx_serial(X509 *x, unsigned char out[CH_X509_SERIAL_MAX]);

/* Seconds on the monotonic clock since *t0, for the measurements. */
double rx_seconds_since(const struct timespec *t0);

#endif
