/*
 * The sealed box (certhall/codec/box.h): what one key seals only its pair
 * opens, a changed byte does not open, and the refusals.
 */
#include "test.h"
#include "certhall/codec/box.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

static EVP_PKEY *
rsa_key(int bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

static int
spki_of(EVP_PKEY *k, unsigned char **der)
{
	*der = NULL;
	return i2d_PUBKEY(k, der);
}

int
test_box_round_trip(void)
{
	EVP_PKEY *k = rsa_key(2048), *other = rsa_key(2048);
	unsigned char *spki, box[CH_BOX_MAX_BYTES], out[64];
	const unsigned char secret[] = "0123456789abcdef";
	size_t blen, olen;
	const char *why;
	int n = spki_of(k, &spki);

	CHECK(n > 0);
	CHECK(ch_box_seal(spki, (size_t)n, secret, 16, box, sizeof box, &blen,
	    &why) == 0 && blen == 256);
	CHECK(ch_box_open(k, box, blen, out, sizeof out, &olen, &why) == 0 &&
	    olen == 16 && memcmp(out, secret, 16) == 0);
	/* Another key does not open it; nor does a changed byte. */
	CHECK(ch_box_open(other, box, blen, out, sizeof out, &olen, &why) != 0);
	box[100] ^= 1;
	CHECK(ch_box_open(k, box, blen, out, sizeof out, &olen, &why) != 0);
	/* Too small a place for the secret. */
	box[100] ^= 1;
	CHECK(ch_box_open(k, box, blen, out, 8, &olen, &why) != 0);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	return 0;
}

int
test_box_refusals(void)
{
	EVP_PKEY *small = rsa_key(1024);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *k = rsa_key(2048);
	unsigned char *spki, box[CH_BOX_MAX_BYTES], big[CH_BOX_MAX_SECRET + 1];
	size_t blen;
	const char *why;
	int n;

	memset(big, 'x', sizeof big);
	n = spki_of(small, &spki);
	CHECK(ch_box_seal(spki, (size_t)n, big, 4, box, sizeof box, &blen,
	    &why) != 0 && why != NULL);
	OPENSSL_free(spki);
	n = spki_of(ec, &spki);
	CHECK(ch_box_seal(spki, (size_t)n, big, 4, box, sizeof box, &blen,
	    &why) != 0);
	OPENSSL_free(spki);
	n = spki_of(k, &spki);
	CHECK(ch_box_seal(spki, (size_t)n, big, sizeof big, box, sizeof box,
	    &blen, &why) != 0);
	CHECK(ch_box_seal(spki, (size_t)n, big, 0, box, sizeof box, &blen,
	    &why) != 0);
	/* Trailing bytes after the key are refused. */
	CHECK(ch_box_seal(spki, (size_t)n - 1, big, 4, box, sizeof box, &blen,
	    &why) != 0);
	OPENSSL_free(spki);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(k);
	return 0;
}
