#include "certhall/codec/box.h"

#include <openssl/rsa.h>
#include <openssl/x509.h>

/* An OAEP-SHA-256 context for key, for encrypting (seal) or decrypting. */
static EVP_PKEY_CTX *
oaep_ctx(EVP_PKEY *key, int seal)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);

	if (c == NULL)
		return NULL;
	if ((seal ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) <= 0) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	return c;
}

int
ch_box_seal(const unsigned char *spki, size_t spki_len,
    const unsigned char *secret, size_t len, unsigned char *out, size_t cap,
    size_t *out_len, const char **why)
{
	const unsigned char *p = spki;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *c = NULL;
	size_t n = cap;
	int rc = -1;

	*why = "the requester's key is not an RSA public key of 2048-4096 bits";
	if (spki_len > 4096 ||
	    (key = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL ||
	    p != spki + spki_len || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(key) < 2048 || EVP_PKEY_get_bits(key) > 4096)
		goto out;
	*why = "the secret is empty or too long for a box";
	if (len == 0 || len > CH_BOX_MAX_SECRET)
		goto out;
	*why = "sealing failed";
	if ((c = oaep_ctx(key, 1)) == NULL ||
	    EVP_PKEY_encrypt(c, out, &n, secret, len) <= 0)
		goto out;
	*out_len = n;
	*why = NULL;
	rc = 0;
out:
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(key);
	return rc;
}

int
ch_box_open(EVP_PKEY *key, const unsigned char *box, size_t len,
    unsigned char *out, size_t cap, size_t *out_len, const char **why)
{
	unsigned char buf[CH_BOX_MAX_BYTES];
	EVP_PKEY_CTX *c = NULL;
	size_t n = sizeof buf;
	int rc = -1;

	*why = "the box does not open with this key";
	if (len == 0 || len > CH_BOX_MAX_BYTES || (c = oaep_ctx(key, 0)) == NULL ||
	    EVP_PKEY_decrypt(c, buf, &n, box, len) <= 0)
		goto out;
	*why = "the secret is larger than the space given for it";
	if (n > cap)
		goto out;
	for (size_t i = 0; i < n; i++)
		out[i] = buf[i];
	*out_len = n;
	*why = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof buf);
	EVP_PKEY_CTX_free(c);
	return rc;
}
