/*
 * Certificates as downloads (certhall/codec/x509.h): DER, PEM and a
 * certs-only PKCS#7.
 */
#include "x509_int.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

unsigned char *
ch_x509_der(X509 *x, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	ERR_clear_error();
	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return der;
}

/* The contents of memory BIO b as a new NUL-terminated buffer. */
static unsigned char *
bio_take(BIO *b, size_t *len)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	unsigned char *out;

	if (n <= 0 || (out = OPENSSL_malloc((size_t)n + 1)) == NULL)
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

char *
ch_x509_pem(X509 *x, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char *out = NULL;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1)
		out = bio_take(b, len);
	BIO_free(b);
	ERR_clear_error();
	return (char *)out;
}

/*
 * The SignedData of RFC 2315 §9.1 with version 1, no digest algorithms,
 * contentInfo of type data without content, the certificates and no
 * signerInfos: what `openssl crl2pkcs7 -nocrl` writes.
 */
unsigned char *
ch_x509_pkcs7(X509 *const *chain, size_t n, bool pem, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	BIO *b = NULL;
	unsigned char *out = NULL;
	int dlen;

	if (p7 == NULL || n == 0 || PKCS7_set_type(p7, NID_pkcs7_signed) != 1)
		goto out;
	ASN1_OBJECT_free(p7->d.sign->contents->type);
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	for (size_t i = 0; i < n; i++)
		if (PKCS7_add_certificate(p7, chain[i]) != 1)
			goto out;
	if (pem) {
		if ((b = BIO_new(BIO_s_mem())) != NULL &&
		    PEM_write_bio_PKCS7(b, p7) == 1)
			out = bio_take(b, len);
	} else if ((dlen = i2d_PKCS7(p7, &out)) > 0) {
		*len = (size_t)dlen;
	}
out:
	BIO_free(b);
	PKCS7_free(p7);
	ERR_clear_error();
	return out;
}
