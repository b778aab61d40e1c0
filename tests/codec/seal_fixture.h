/*
 * Seals for the codec's tests: a software CA (x509_fixture.h) with a seal
 * maker certificate, an owner certificate and a seal spec for it, and a
 * small PNG.  Shared by tests/unit/test_seal.c and codec-seal-tool, which
 * writes seals for tests/codec/check-seal.
 */
#ifndef CERTHALL_TEST_SEAL_FIXTURE_H
#define CERTHALL_TEST_SEAL_FIXTURE_H

#include "certhall/codec/seal.h"
#include "x509_fixture.h"

#define FX_SEAL_VID "certhall-test"
#define FX_SEAL_NAME FX_UNIT "合同专用章"
#define FX_SEAL_MM 40

/* An 8 x 8 RGBA PNG (a red disc), made with zlib by hand. */
extern const unsigned char fx_png[];
extern const size_t fx_png_len;

typedef struct {
	EVP_PKEY *root_key, *issuing_key;	/* P-256 */
	fx_ca_t ca;
	EVP_PKEY *maker_key;	/* "sm2" or "p256" */
	X509 *maker;		/* CH_PROFILE_SEAL, 10 years */
	EVP_PKEY *owner_key;	/* P-256 */
	X509 *owner;		/* CH_PROFILE_ORG, 1 year from ca.now */
	unsigned char *owner_der;
	size_t owner_der_len;
	char es_id[40];		/* "CHTEST-" and 32 random hex digits */
	/* A unit seal for owner: made and valid from ca.now to the owner's
	 * notAfter, FX_SEAL_MM square, fx_png. */
	ch_seal_spec_t spec;
} fx_seal_t;

/* All of the above with a seal maker key of maker_kind.  0, or -1 after
 * printing why. */
int fx_seal_make(fx_seal_t *fs, const char *maker_kind);
void fx_seal_free(fx_seal_t *fs);

#endif
