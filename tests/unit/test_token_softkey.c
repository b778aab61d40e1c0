/*
 * Software keys behind the token interface (an SM2 key in an encrypted
 * PKCS#8 file), key references, secret sources and CK_RV classes.
 */
#include "test.h"
#include "test_token.h"

#include "certhall/token/key.h"
#include "certhall/token/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define DISTID "1234567812345678"
#define PASS "correct horse battery staple"

static const unsigned char msg[] = "seal this";

/* SM2 with SM3 and the distinguishing ID (FIELD-NOTES' sequence); sign:
 * 1 signs into sig/len, 0 verifies sig/len; id may be NULL (none). */
static int
sm2(EVP_PKEY *pkey, int sign, const char *id, unsigned char *sig,
    size_t *len)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = pctx != NULL && md != NULL &&
	    (id == NULL || EVP_PKEY_CTX_set1_id(pctx, id, strlen(id)) == 1);

	if (ok) {
		EVP_MD_CTX_set_pkey_ctx(md, pctx);
		ok = sign ? EVP_DigestSignInit(md, NULL, EVP_sm3(), NULL,
		    pkey) == 1 && EVP_DigestSign(md, sig, len, msg,
		    sizeof msg) == 1
		    : EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL,
		    pkey) == 1 && EVP_DigestVerify(md, sig, *len, msg,
		    sizeof msg) == 1;
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* The file at path is PBES2 with scrypt and AES-256-CBC. */
static int
is_scrypt_aes256(const char *path)
{
	FILE *f = fopen(path, "r");
	X509_SIG *p8 = f ? PEM_read_PKCS8(f, NULL, NULL, NULL) : NULL;
	const X509_ALGOR *alg = NULL;
	PBE2PARAM *pbe2 = NULL;
	int ok = 0;

	if (p8 != NULL) {
		X509_SIG_get0(p8, &alg, NULL);
		if (OBJ_obj2nid(alg->algorithm) == NID_pbes2)
			pbe2 = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
		ok = pbe2 != NULL &&
		    OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_scrypt &&
		    OBJ_obj2nid(pbe2->encryption->algorithm) == NID_aes_256_cbc;
	}
	PBE2PARAM_free(pbe2);
	X509_SIG_free(p8);
	if (f)
		fclose(f);
	return ok;
}

int
test_token_softkey_sm2(void)
{
	tt_hsm_t h;
	EVP_PKEY *orig;
	ch_key_t *k = NULL, *bad = NULL;
	ch_key_defaults_t d = { NULL, NULL, 0 };
	char path[256], plain[256], pass[256], pass_src[300], ref[300];
	char text[4096];
	unsigned char sig[128], fp[32], want[32], *der = NULL;
	size_t len = sizeof sig, n;
	struct stat st;
	FILE *f;
	int der_len;

	CHECK(tt_hsm_new(&h) == 0);
	tt_hsm_path(&h, "seal-sm2.p8", path, sizeof path);
	tt_hsm_path(&h, "pass", pass, sizeof pass);
	snprintf(pass_src, sizeof pass_src, "file:%s", pass);
	CHECK((f = fopen(pass, "w")) != NULL);
	fputs(PASS "\n", f);
	fclose(f);

	orig = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
	CHECK(orig != NULL);
	CHECK(ch_key_write_p8(orig, path, pass_src) == 0);
	CHECK(ch_key_write_p8(orig, path, pass_src) == -1);	/* exists */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK((f = fopen(path, "r")) != NULL);
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	CHECK(strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") == text);
	CHECK(is_scrypt_aes256(path));

	snprintf(ref, sizeof ref, "file:%s", path);
	d.pin_source = pass_src;
	CHECK(ch_key_open(ref, &d, &k) == 0);
	CHECK(EVP_PKEY_is_a(ch_key_pkey(k), "SM2"));
	CHECK(sm2(ch_key_pkey(k), 1, DISTID, sig, &len));
	CHECK(sm2(orig, 0, DISTID, sig, &len));
	CHECK(!sm2(orig, 0, NULL, sig, &len));	/* the ID counts */
	der_len = i2d_PUBKEY(orig, &der);
	SHA256(der, (size_t)der_len, want);
	OPENSSL_free(der);
	ch_key_fingerprint(k, fp);
	CHECK(memcmp(fp, want, 32) == 0);
	CHECK(EVP_PKEY_eq(ch_key_public(k), orig) == 1);
	ch_key_close(k);

	/* The passphrase from the environment, both spellings. */
	setenv("CERTHALL_TEST_PASS", PASS, 1);
	d.pin_source = "env:CERTHALL_TEST_PASS";
	CHECK(ch_key_open(ref, &d, &k) == 0);
	ch_key_close(k);
	d.pin_source = "CERTHALL_TEST_PASS";
	CHECK(ch_key_open(ref, &d, &k) == 0);
	ch_key_close(k);
	setenv("CERTHALL_TEST_PASS", "wrong", 1);
	CHECK(ch_key_open(ref, &d, &bad) == -1 && bad == NULL);
	unsetenv("CERTHALL_TEST_PASS");
	CHECK(ch_key_open(ref, &d, &bad) == -1);
	d.pin_source = NULL;
	CHECK(ch_key_open(ref, &d, &bad) == -1);

	/* A key at rest in the clear is refused. */
	tt_hsm_path(&h, "plain.pem", plain, sizeof plain);
	CHECK((f = fopen(plain, "w")) != NULL);
	CHECK(PEM_write_PrivateKey(f, orig, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	snprintf(ref, sizeof ref, "file:%s", plain);
	d.pin_source = pass_src;
	CHECK(ch_key_open(ref, &d, &bad) == -1 && bad == NULL);

	EVP_PKEY_free(orig);
	tt_hsm_free(&h);
	return 0;
}

static int
parse_fails(const char *ref)
{
	ch_keyref_t r;

	return ch_keyref_parse(ref, &r) == -1 && r.token[0] == '\0';
}

int
test_token_keyref_parse(void)
{
	ch_keyref_t r;
	char buf[64];

	CHECK(ch_keyref_parse("pkcs11:token=certhall-ca;object=issuing-ca",
	    &r) == 0);
	CHECK(r.kind == CH_KEYREF_PKCS11 && r.type == CH_KEYREF_PRIVATE);
	CHECK_STR(r.token, "certhall-ca");
	CHECK_STR(r.object, "issuing-ca");
	CHECK(!r.has_id && r.module_path[0] == '\0' && r.serial[0] == '\0');

	CHECK(ch_keyref_parse("pkcs11:serial=8efeba98b57bb366;id=%01%a2;"
	    "type=secret-key?module-path=/usr/lib/x.so&pin-source=file:/run/p",
	    &r) == 0);
	CHECK_STR(r.serial, "8efeba98b57bb366");
	CHECK(r.has_id && r.id_len == 2 && r.id[0] == 1 && r.id[1] == 0xa2);
	CHECK(r.type == CH_KEYREF_SECRET);
	CHECK_STR(r.module_path, "/usr/lib/x.so");
	CHECK_STR(r.pin_source, "file:/run/p");

	CHECK(ch_keyref_parse("pkcs11:token=my%20ca;object=a%3Bb", &r) == 0);
	CHECK_STR(r.token, "my ca");
	CHECK_STR(r.object, "a;b");
	CHECK(ch_keyref_parse("file:/etc/certhall/k.p8", &r) == 0);
	CHECK(r.kind == CH_KEYREF_FILE);
	CHECK_STR(r.path, "/etc/certhall/k.p8");
	CHECK(ch_keyref_parse("file:///etc/certhall/k.p8", &r) == 0);
	CHECK_STR(r.path, "/etc/certhall/k.p8");

	CHECK(parse_fails(NULL));
	CHECK(parse_fails("pkcs11:object=x"));
	CHECK(parse_fails("pkcs11:token=a;serial=b;object=x"));
	CHECK(parse_fails("pkcs11:token=a"));
	CHECK(parse_fails("pkcs11:token=a;object=x;slot-id=1"));
	CHECK(parse_fails("pkcs11:token=a;object=x?pin-value=1234"));
	CHECK(parse_fails("pkcs11:token=a;object=x;type=cert"));
	CHECK(parse_fails("pkcs11:token=a;object=x;object=y"));
	CHECK(parse_fails("pkcs11:token=a;object=%4"));
	CHECK(parse_fails("pkcs11:token=a;object=%zz"));
	CHECK(parse_fails("pkcs11:token=a;object=x%00"));
	CHECK(parse_fails("pkcs11:token=a;object=x;"));
	CHECK(parse_fails("pkcs11:token=a;object=x?module-path=lib.so"));
	CHECK(parse_fails("pkcs11:token=a;object=x?module-path=/a&"));
	CHECK(parse_fails("pkcs11:token=123456789012345678901234567890123;"
	    "object=x"));
	CHECK(parse_fails("pkcs11:token=a;object=x?token=b"));
	CHECK(parse_fails("file:relative/k.p8"));
	CHECK(parse_fails("file://host/k.p8"));
	CHECK(parse_fails("https://example.org/k"));

	/* Secret sources. */
	CHECK(ch_token_read_secret("file:relative", buf, sizeof buf) == -1);
	CHECK(ch_token_read_secret("lowercase", buf, sizeof buf) == -1);
	CHECK(ch_token_read_secret("env:", buf, sizeof buf) == -1);
	CHECK(ch_token_read_secret("9LIVES", buf, sizeof buf) == -1);
	unsetenv("CERTHALL_TEST_UNSET");
	CHECK(ch_token_read_secret("CERTHALL_TEST_UNSET", buf, 64) == -1);
	setenv("CERTHALL_TEST_SECRET", "s3cret", 1);
	CHECK(ch_token_read_secret("env:CERTHALL_TEST_SECRET", buf, 64) == 0);
	CHECK_STR(buf, "s3cret");
	CHECK(ch_token_read_secret("CERTHALL_TEST_SECRET", buf, 6) == -1);
	unsetenv("CERTHALL_TEST_SECRET");

	/* What each CK_RV makes the caller do. */
	CHECK(ch_token_rv_class(CKR_OK) == CH_TOKEN_OK);
	CHECK(ch_token_rv_class(CKR_SESSION_HANDLE_INVALID) ==
	    CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_SESSION_CLOSED) == CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_DEVICE_ERROR) == CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_DEVICE_REMOVED) == CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_TOKEN_NOT_PRESENT) == CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_USER_NOT_LOGGED_IN) == CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_CRYPTOKI_NOT_INITIALIZED) ==
	    CH_TOKEN_ERR_RETRY);
	CHECK(ch_token_rv_class(CKR_PIN_INCORRECT) == CH_TOKEN_ERR_REFUSED);
	CHECK(ch_token_rv_class(CKR_PIN_LOCKED) == CH_TOKEN_ERR_REFUSED);
	CHECK(ch_token_rv_class(CKR_MECHANISM_INVALID) == CH_TOKEN_ERR_FAILED);
	CHECK(ch_token_rv_class(CKR_DATA_LEN_RANGE) == CH_TOKEN_ERR_FAILED);
	CHECK_STR(ch_token_rv_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
	CHECK_STR(ch_token_rv_name(0x80000001UL), "CKR_0x80000001");
	return 0;
}
