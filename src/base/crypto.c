#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"

#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char pepper[CH_PEPPER_LEN];
static bool have_pepper;

void
ch_crypto_set_pepper(const unsigned char p[CH_PEPPER_LEN])
{
	memcpy(pepper, p, CH_PEPPER_LEN);
	have_pepper = true;
}

bool
ch_crypto_has_pepper(void)
{
	return have_pepper;
}

int
ch_crypto_load_pepper(const char *path)
{
	char buf[256];
	size_t n, start = 0;
	unsigned char p[CH_PEPPER_LEN];
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		ch_error("cannot read the pepper file \"%s\"", path);
		return -1;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (start < n && isspace((unsigned char)buf[start]))
		start++;
	while (n > start && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (n - start != 2 * CH_PEPPER_LEN ||
	    ch_unhex(buf + start, p, CH_PEPPER_LEN) != 0) {
		ch_error("the pepper file \"%s\" must hold %d hex characters",
		    path, 2 * CH_PEPPER_LEN);
		OPENSSL_cleanse(buf, sizeof buf);
		return -1;
	}
	ch_crypto_set_pepper(p);
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(p, sizeof p);
	return 0;
}

void
ch_random(unsigned char *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1) {
		ch_error("the random number generator failed");
		exit(70);
	}
}

unsigned
ch_random_below(unsigned bound)
{
	/* Discard the top sliver of the range so every value is equally likely. */
	unsigned limit = 0xffffffffu - (0xffffffffu % bound), v;

	do {
		ch_random((unsigned char *)&v, sizeof v);
	} while (v >= limit);
	return v % bound;
}

void
ch_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

char *
ch_hex_pool(ch_pool_t *pool, const unsigned char *in, size_t n)
{
	char *out = ch_palloc(pool, 2 * n + 1);

	ch_hex(in, n, out);
	return out;
}

int
ch_unhex(const char *in, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = ch_hex_value((unsigned char)in[2 * i]);
		int lo = hi < 0 ? -1 : ch_hex_value((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return in[2 * n] == '\0' ? 0 : -1;
}

static size_t
base64_with(const unsigned char *in, size_t n, char *out, const char *alpha,
    bool pad)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (left > 1)
			out[o++] = alpha[v >> 6 & 63];
		else if (pad)
			out[o++] = '=';
		if (left > 2)
			out[o++] = alpha[v & 63];
		else if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t
ch_base64(const unsigned char *in, size_t n, char *out)
{
	return base64_with(in, n, out,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	    true);
}

size_t
ch_base64url(const unsigned char *in, size_t n, char *out)
{
	return base64_with(in, n, out,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
	    false);
}

int
ch_unbase64(const char *in, size_t len, bool padded, unsigned char *out,
    size_t cap, size_t *outlen)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;

	if (padded) {
		if (len % 4 != 0)
			return -1;
		/* At most two '=', at the very end. */
		for (int i = 0; i < 2 && len > 0 && in[len - 1] == '='; i++)
			len--;
	}
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *p = in[i] ? strchr(alpha, in[i]) : NULL;

		if (p == NULL)
			return -1;
		acc = acc << 6 | (unsigned)(p - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return -1;
			if (out != NULL)
				out[o] = (unsigned char)(acc >> bits & 0xff);
			o++;
		}
	}
	*outlen = o;
	return 0;
}

long
ch_unbase64_strict(const char *in, unsigned char *out, size_t cap)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), pad = 0, len;
	const char *last;

	if (n == 0 || ch_unbase64(in, n, true, out, cap, &len) != 0)
		return -1;
	while (pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	/* The bits of the last character that fill no byte must be zero:
	 * otherwise two texts would decode to the same bytes. */
	last = strchr(alpha, in[n - pad - 1]);
	if (pad > 0 && (unsigned)(last - alpha) & (pad == 1 ? 0x3u : 0xfu))
		return -1;
	return (long)len;
}

void
ch_sha256(const void *data, size_t n, unsigned char out[CH_SHA256_LEN])
{
	unsigned int len = 0;

	if (!EVP_Digest(data, n, out, &len, EVP_sha256(), NULL))
		ch_oom();
}

void
ch_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
    unsigned char out[CH_SHA256_LEN])
{
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len) == NULL)
		ch_oom();
}

static void
derive(const char *label, unsigned char key[CH_SHA256_LEN])
{
	if (!have_pepper) {
		/* A programming or deployment error: refuse to run on a
		 * predictable key. */
		ch_error("no pepper loaded; set CERTHALL_PEPPER_FILE");
		exit(78);
	}
	ch_hmac_sha256(pepper, CH_PEPPER_LEN, label, strlen(label), key);
}

void
ch_keyed_hash(const char *label, const void *data, size_t n,
    unsigned char out[CH_SHA256_LEN])
{
	unsigned char key[CH_SHA256_LEN];

	derive(label, key);
	ch_hmac_sha256(key, sizeof key, data, n, out);
	OPENSSL_cleanse(key, sizeof key);
}

bool
ch_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

static int
scrypt(const char *password, const unsigned char *salt, size_t saltlen,
    int ln, int r, int p, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << ln;
	uint32_t rr = (uint32_t)r, pp = (uint32_t)p;
	uint64_t maxmem = (uint64_t)256 << 20;
	OSSL_PARAM params[7], *q = params;
	int rc = -1;

	if (ctx == NULL)
		goto out;
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)password, strlen(password));
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, saltlen);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr);
	*q++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		rc = 0;
	else
		ch_error("scrypt failed");
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

#define PW_LN 15
#define PW_R 8
#define PW_P 1

int
ch_password_hash(const char *password, char *out, size_t cap)
{
	unsigned char salt[16], hash[32];
	char salt64[32], hash64[64];
	int n;

	ch_random(salt, sizeof salt);
	if (scrypt(password, salt, sizeof salt, PW_LN, PW_R, PW_P, hash,
	    sizeof hash) != 0)
		return -1;
	/* Unpadded, as the PHC string format has it. */
	salt64[ch_base64(salt, sizeof salt, salt64)] = '\0';
	hash64[ch_base64(hash, sizeof hash, hash64)] = '\0';
	salt64[strcspn(salt64, "=")] = '\0';
	hash64[strcspn(hash64, "=")] = '\0';
	n = snprintf(out, cap, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", PW_LN, PW_R,
	    PW_P, salt64, hash64);
	OPENSSL_cleanse(hash, sizeof hash);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

bool
ch_password_verify(const char *password, const char *encoded)
{
	int ln, r, p, consumed = 0;
	const char *salt, *hash;
	unsigned char s[64], want[64], got[64];
	size_t slen, hlen;
	bool ok;

	if (sscanf(encoded, "$scrypt$ln=%d,r=%d,p=%d$%n", &ln, &r, &p,
	    &consumed) != 3 || consumed == 0)
		return false;
	/* Bounds: refuse parameters that would let a stored string make us
	 * burn unbounded memory or time. */
	if (ln < 10 || ln > 20 || r < 1 || r > 16 || p < 1 || p > 4)
		return false;
	salt = encoded + consumed;
	hash = strchr(salt, '$');
	if (hash == NULL ||
	    ch_unbase64(salt, (size_t)(hash - salt), false, s, sizeof s,
	    &slen) != 0 ||
	    ch_unbase64(hash + 1, strlen(hash + 1), false, want, sizeof want,
	    &hlen) != 0 ||
	    hlen < 16)
		return false;
	if (scrypt(password, s, slen, ln, r, p, got, hlen) != 0)
		return false;
	ok = ch_equal(got, want, hlen);
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}

static int
gcm(int enc, const char *label, const char *aad, const unsigned char *in,
    size_t n, unsigned char *out, size_t *outlen)
{
	unsigned char key[CH_SHA256_LEN];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const unsigned char *iv = enc ? out : in;
	int len = 0, rc = -1;

	if (ctx == NULL)
		ch_oom();
	if (!enc && n < 28)
		goto out;
	derive(label, key);
	if (enc)
		ch_random(out, 12);
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1)
		goto out;
	if (enc) {
		if (EVP_CipherUpdate(ctx, out + 12, &len, in, (int)n) != 1 ||
		    EVP_CipherFinal_ex(ctx, out + 12 + len, &len) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
		    out + 12 + n) != 1)
			goto out;
		*outlen = n + 28;
	} else {
		size_t clen = n - 28;

		if (EVP_CipherUpdate(ctx, out, &len, in + 12, (int)clen) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
		    (void *)(in + 12 + clen)) != 1 ||
		    EVP_CipherFinal_ex(ctx, out + len, &len) != 1)
			goto out;
		*outlen = clen;
	}
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int
ch_seal(const char *label, const char *aad, const unsigned char *in, size_t n,
    unsigned char *out, size_t *outlen)
{
	return gcm(1, label, aad, in, n, out, outlen);
}

int
ch_open(const char *label, const char *aad, const unsigned char *in, size_t n,
    unsigned char *out, size_t *outlen)
{
	return gcm(0, label, aad, in, n, out, outlen);
}
