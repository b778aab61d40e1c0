/*
 * Software keys: a private key kept as an encrypted PKCS#8 PEM file
 * (certhall/token/key.h).  For the algorithms no token here has, SM2 first
 * (SoftHSM2 and libp11 have none: FIELD-NOTES).  A file that is not
 * encrypted is refused, so a key never rests in the clear.
 */
#include "internal.h"

#include "certhall/base/log.h"
#include "certhall/base/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#define PASS_MAX 1024
#define SCRYPT_N (1UL << 14)	/* 16 MiB with r = 8: under OpenSSL's cap */
#define SCRYPT_R 8
#define SCRYPT_P 1

int
ch_key_open_file_(const char *path, const char *pass_source, ch_key_t **out)
{
	char pass[PASS_MAX];
	BIO *b = NULL;
	X509_SIG *p8 = NULL;
	PKCS8_PRIV_KEY_INFO *inf = NULL;
	EVP_PKEY *pkey = NULL;
	ch_key_t *k;
	int rc = -1;

	*out = NULL;
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if (pass_source == NULL) {
		ch_error("key \"%s\" needs a passphrase source", path);
		return -1;
	}
	if (ch_token_read_secret(pass_source, pass, sizeof pass) != 0)
		return -1;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ch_error("key \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if ((p8 = PEM_read_bio_PKCS8(b, NULL, NULL, NULL)) == NULL) {
		ch_error("key \"%s\" is not an encrypted PKCS#8 PEM file", path);
		goto out;
	}
	if ((inf = PKCS8_decrypt(p8, pass, (int)strlen(pass))) == NULL ||
	    (pkey = EVP_PKCS82PKEY(inf)) == NULL) {
		ch_error("key \"%s\": wrong passphrase or damaged file", path);
		goto out;
	}
	k = ch_xmalloc(sizeof *k);
	memset(k, 0, sizeof *k);
	k->kind = CH_KEY_FILE;
	k->pkey = pkey;
	k->pub = ch_key_public_copy_(pkey);
	if (k->pub == NULL || ch_key_spki_sha256_(k->pub, k->fp) != 0) {
		ch_key_close(k);
		goto out;
	}
	k->pinned = 1;
	pkey = NULL;
	*out = k;
	ch_token_set_error_(CH_TOKEN_OK);
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_cleanse(pass, sizeof pass);
	EVP_PKEY_free(pkey);
	PKCS8_PRIV_KEY_INFO_free(inf);
	X509_SIG_free(p8);
	BIO_free(b);
	return rc;
}

int
ch_key_write_p8(EVP_PKEY *pkey, const char *path, const char *pass_source)
{
	char pass[PASS_MAX];
	X509_ALGOR *pbe = NULL;
	PKCS8_PRIV_KEY_INFO *inf = NULL;
	X509_SIG *p8 = NULL;
	BIO *b = NULL;
	int fd = -1, rc = -1;

	if (ch_token_read_secret(pass_source, pass, sizeof pass) != 0)
		return -1;
	pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL, SCRYPT_N,
	    SCRYPT_R, SCRYPT_P);
	if (pbe == NULL || (inf = EVP_PKEY2PKCS8(pkey)) == NULL ||
	    (p8 = PKCS8_set0_pbe(pass, (int)strlen(pass), inf, pbe)) == NULL) {
		ch_error("key \"%s\": cannot encrypt", path);
		goto out;
	}
	pbe = NULL;	/* p8 has it */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ch_error("key \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if ((b = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL ||
	    PEM_write_bio_PKCS8(b, p8) != 1 || BIO_flush(b) != 1 ||
	    fsync(fd) != 0) {
		ch_error("key \"%s\": cannot write", path);
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_cleanse(pass, sizeof pass);
	BIO_free(b);
	if (fd >= 0)
		close(fd);
	X509_SIG_free(p8);
	PKCS8_PRIV_KEY_INFO_free(inf);
	X509_ALGOR_free(pbe);
	return rc;
}
