/* The revocation tests' software CA (revoke_fixture.h). */
#include "revoke_fixture.h"

#include <openssl/bn.h>
#include <stdio.h>
#include <string.h>

void
rx_free(rx_t *r)
{
	X509_free(r->good);
	X509_free(r->revoked);
	X509_free(r->ocsp);
	fx_ca_free(&r->ca);
	EVP_PKEY_free(r->root_key);
	EVP_PKEY_free(r->issuing_key);
	EVP_PKEY_free(r->ocsp_key);
	EVP_PKEY_free(r->leaf_key);
	memset(r, 0, sizeof *r);
}

int
rx_make(rx_t *r, const char *kind)
{
	const char *ca_kind = strcmp(kind, "rsa") == 0 ? "rsa2048" :
	    strcmp(kind, "ec") == 0 ? "p256" : strcmp(kind, "sm2") == 0 ?
	    "sm2" : NULL;

	memset(r, 0, sizeof *r);
	if (ca_kind == NULL) {
		fprintf(stderr, "rx_make: kind is rsa, ec or sm2\n");
		return -1;
	}
	r->root_key = fx_key_new(ca_kind);
	r->issuing_key = fx_key_new(ca_kind);
	r->ocsp_key = fx_key_new(ca_kind);
	r->leaf_key = fx_key_new("p256");
	if (r->root_key == NULL || r->issuing_key == NULL ||
	    r->ocsp_key == NULL || r->leaf_key == NULL ||
	    fx_ca_make(&r->ca, r->root_key, r->issuing_key) != 0 ||
	    (r->ocsp = fx_leaf(&r->ca, CH_PROFILE_OCSP, r->ocsp_key, 1)) ==
	    NULL ||
	    (r->good = fx_leaf(&r->ca, CH_PROFILE_ORG, r->leaf_key, 2)) ==
	    NULL ||
	    (r->revoked = fx_leaf(&r->ca, CH_PROFILE_ORG, r->leaf_key, 2)) ==
	    NULL) {
		fprintf(stderr, "rx_make: %s: cannot make the CA\n", kind);
		rx_free(r);
		return -1;
	}
	return 0;
}

size_t
rx_serial(X509 *x, unsigned char out[CH_X509_SERIAL_MAX])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	int n = bn != NULL && BN_num_bytes(bn) <= CH_X509_SERIAL_MAX ?
	    BN_bn2bin(bn, out) : 0;

	BN_free(bn);
	return (size_t)n;
}

double
rx_seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}
