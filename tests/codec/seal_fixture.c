/* The codec tests' seals (seal_fixture.h). */
#include "seal_fixture.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

const unsigned char fx_png[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
	0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08,
	0x08, 0x06, 0x00, 0x00, 0x00, 0xc4, 0x0f, 0xbe, 0x8b, 0x00, 0x00, 0x00,
	0x1c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x20, 0x16, 0x9c,
	0x61, 0x60, 0xf8, 0x8f, 0x8c, 0xf1, 0x4a, 0x62, 0x28, 0xa2, 0x83, 0x02,
	0x82, 0x8e, 0xc4, 0x07, 0x00, 0x8e, 0xab, 0x39, 0x61, 0xa8, 0x32, 0x00,
	0x8f, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60,
	0x82,
};
const size_t fx_png_len = sizeof fx_png;

void
fx_seal_free(fx_seal_t *fs)
{
	fx_ca_free(&fs->ca);
	X509_free(fs->maker);
	X509_free(fs->owner);
	OPENSSL_free(fs->owner_der);
	EVP_PKEY_free(fs->root_key);
	EVP_PKEY_free(fs->issuing_key);
	EVP_PKEY_free(fs->maker_key);
	EVP_PKEY_free(fs->owner_key);
	memset(fs, 0, sizeof *fs);
}

int
fx_seal_make(fx_seal_t *fs, const char *maker_kind)
{
	unsigned char rnd[16];

	memset(fs, 0, sizeof *fs);
	if ((fs->root_key = fx_key_new("p256")) == NULL ||
	    (fs->issuing_key = fx_key_new("p256")) == NULL ||
	    (fs->maker_key = fx_key_new(maker_kind)) == NULL ||
	    (fs->owner_key = fx_key_new("p256")) == NULL ||
	    fx_ca_make(&fs->ca, fs->root_key, fs->issuing_key) != 0 ||
	    (fs->maker = fx_leaf(&fs->ca, CH_PROFILE_SEAL, fs->maker_key,
	    10)) == NULL ||
	    (fs->owner = fx_leaf(&fs->ca, CH_PROFILE_ORG, fs->owner_key,
	    1)) == NULL ||
	    (fs->owner_der = ch_x509_der(fs->owner,
	    &fs->owner_der_len)) == NULL ||
	    RAND_bytes(rnd, sizeof rnd) != 1) {
		fprintf(stderr, "fx_seal_make: cannot make the %s seal "
		    "maker's CA and certificates\n", maker_kind);
		fx_seal_free(fs);
		return -1;
	}
	memcpy(fs->es_id, "CHTEST-", 7);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(fs->es_id + 7 + 2 * i, 3, "%02x", rnd[i]);
	fs->spec = (ch_seal_spec_t){
		.es_id = fs->es_id,
		.vid = FX_SEAL_VID,
		.type = CH_SEAL_TYPE_ORG,
		.name = FX_SEAL_NAME,
		.owner_cert = fs->owner_der,
		.owner_cert_len = fs->owner_der_len,
		.create_date = fs->ca.now,
		.valid_start = fs->ca.now,
		.valid_end = fs->ca.now + FX_YEAR,
		.png = fx_png,
		.png_len = fx_png_len,
		.width_mm = FX_SEAL_MM,
		.height_mm = FX_SEAL_MM,
	};
	return 0;
}
