/*
 * USB keys at the station: the API's rules for serials and user PINs
 * (certhall/domain/usbkey.h), and the station's pure pieces
 * (src/bin/station/pin.c): its PINs, the SO PIN's shape, the key request's
 * subject and the chain from GET /api/v1/ca.
 */
#include "test.h"
#include "certhall/base/crypto.h"
#include "certhall/domain/usbkey.h"
#include "../../src/bin/station/station.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

int
test_usbkey_checks(void)
{
	static const char *const good_serials[] = {
		"8efeba98b57bb366", "ABCD", "key_01-X", "0123456789abcdef",
	};
	static const char *const bad_serials[] = {
		"", "abc", "0123456789abcdef0", "ab cd", "ab/cd", "ab.cd",
		"ab%2f", "序列号abcd", "abcd\n",
	};
	static const char *const good_pins[] = { "000000", "1234567", "98765432" };
	static const char *const bad_pins[] = {
		"", "12345", "123456789", "12345a", " 123456", "１２３４５６",
	};
	const char *why = NULL;

	for (size_t i = 0; i < sizeof good_serials / sizeof *good_serials; i++)
		CHECK(ch_usbkey_check_serial(good_serials[i], &why) == 0);
	for (size_t i = 0; i < sizeof bad_serials / sizeof *bad_serials; i++) {
		why = NULL;
		CHECK(ch_usbkey_check_serial(bad_serials[i], &why) == -1);
		CHECK(why != NULL && strstr(why, "4 to 16") != NULL);
	}
	for (size_t i = 0; i < sizeof good_pins / sizeof *good_pins; i++)
		CHECK(ch_usbkey_check_pin(good_pins[i], &why) == 0);
	for (size_t i = 0; i < sizeof bad_pins / sizeof *bad_pins; i++) {
		why = NULL;
		CHECK(ch_usbkey_check_pin(bad_pins[i], &why) == -1);
		/* The reason never repeats the PIN. */
		CHECK(why != NULL && (bad_pins[i][0] == '\0' ||
		    strstr(why, bad_pins[i]) == NULL));
	}
	/* The statuses are the usb_key table's, in its order. */
	CHECK_STR(ch_usbkey_status_codes[CH_USBKEY_INITIALISED], "initialised");
	CHECK_STR(ch_usbkey_status_codes[CH_USBKEY_DELIVERED], "delivered");
	CHECK(ch_usbkey_status_codes[CH_USBKEY_STATUS__MAX] == NULL);
	return 0;
}

int
test_station_pins(void)
{
	enum { ROUNDS = 20000 };
	char pin[ST_PIN_DIGITS + 1], other[ST_PIN_DIGITS + 1];
	const char *why;
	long count[10] = { 0 };

	CHECK(ST_PIN_DIGITS >= CH_USBKEY_PIN_MIN &&
	    ST_PIN_DIGITS <= CH_USBKEY_PIN_MAX);
	st_pin_new(other);
	for (int r = 0; r < ROUNDS; r++) {
		st_pin_new(pin);
		CHECK(strlen(pin) == ST_PIN_DIGITS);
		CHECK(ch_usbkey_check_pin(pin, &why) == 0);
		for (int i = 0; i < ST_PIN_DIGITS; i++)
			count[pin[i] - '0']++;
	}
	CHECK(strcmp(pin, other) != 0);
	/* 160000 digits: each value 16000 expected, sd ~120; 8 sd apart is
	 * a broken generator, not chance. */
	for (int d = 0; d < 10; d++)
		CHECK(count[d] > 15000 && count[d] < 17000);

	CHECK(st_so_pin_ok("b53b916fd39e4c5a", 16));
	CHECK(!st_so_pin_ok("b53b916fd39e4c5", 15));
	CHECK(!st_so_pin_ok("B53B916FD39E4C5A", 16));
	CHECK(!st_so_pin_ok("b53b916fd39e4c5g", 16));
	return 0;
}

/* The text of attribute nid in name, or NULL. */
static const char *
entry(X509_NAME *name, int nid, char *buf, size_t cap)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	ASN1_STRING *s;

	if (i < 0)
		return NULL;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	snprintf(buf, cap, "%.*s", ASN1_STRING_length(s),
	    (const char *)ASN1_STRING_get0_data(s));
	return buf;
}

int
test_station_csr_subject(void)
{
	json_t *org = json_pack("{s:s,s:s,s:n}", "certificate_type", "org",
	    "unit_name", "四川蜀审测试科技有限公司", "holder_name");
	json_t *person = json_pack("{s:s,s:s,s:s,s:s}", "certificate_type",
	    "personal", "unit_name", "四川蜀审测试科技有限公司", "holder_name",
	    "张三", "holder_id_number", "510104198503127756");
	json_t *bad = json_pack("{s:s}", "certificate_type", "personal");
	const char *why = NULL;
	X509_NAME *n;
	char buf[128];

	CHECK((n = st_csr_subject(org, &why)) != NULL);
	CHECK_STR(entry(n, NID_countryName, buf, sizeof buf), "CN");
	CHECK_STR(entry(n, NID_organizationName, buf, sizeof buf),
	    "四川蜀审测试科技有限公司");
	CHECK_STR(entry(n, NID_commonName, buf, sizeof buf),
	    "四川蜀审测试科技有限公司");
	CHECK(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n,
	    X509_NAME_get_index_by_NID(n, NID_commonName, -1)))->type ==
	    V_ASN1_UTF8STRING);
	X509_NAME_free(n);

	CHECK((n = st_csr_subject(person, &why)) != NULL);
	CHECK_STR(entry(n, NID_commonName, buf, sizeof buf), "张三");
	/* No identity number travels in the request. */
	CHECK(entry(n, NID_serialNumber, buf, sizeof buf) == NULL);
	CHECK(X509_NAME_entry_count(n) == 3);
	X509_NAME_free(n);

	CHECK(st_csr_subject(bad, &why) == NULL && why != NULL);
	json_decref(org);
	json_decref(person);
	json_decref(bad);
	return 0;
}

/* A CA certificate named cn with a new P-256 key (*key), issued by
 * issuer with issuer_key (NULL, NULL: self-signed). */
static X509 *
ca_cert(const char *cn, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY **key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (x == NULL || *key == NULL)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer != NULL ? issuer
	    : x));
	X509_set_pubkey(x, *key);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier,
	    "hash")) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
	    "keyid:always")) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, issuer_key != NULL ? issuer_key : *key,
	    EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* x as PEM text, into a json string. */
static json_t *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	json_t *s = NULL;
	char *data;
	long n;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		s = json_stringn(data, (size_t)n);
	BIO_free(b);
	return s;
}

int
test_station_chain(void)
{
	EVP_PKEY *rk, *ik, *ok, *lk, *uk, *sk;
	X509 *root = ca_cert("root", NULL, NULL, &rk);
	X509 *issuing = ca_cert("issuing", root, rk, &ik);
	X509 *other = ca_cert("another root", NULL, NULL, &ok);
	X509 *leaf = ca_cert("subscriber", issuing, ik, &lk);
	X509 *unlisted = ca_cert("unlisted", NULL, NULL, &uk);
	X509 *stray = ca_cert("stray", unlisted, uk, &sk);
	json_t *ca = json_pack("{s:[{s:s,s:o},{s:s,s:o},{s:s,s:o}]}", "items",
	    "role", "root", "pem", pem_of(other), "role", "issuing", "pem",
	    pem_of(issuing), "role", "root", "pem", pem_of(root));
	json_t *no_root = json_pack("{s:[{s:s,s:o}]}", "items", "role",
	    "issuing", "pem", pem_of(issuing));
	STACK_OF(X509) *chain;
	const char *why = NULL;
	X509 *x;

	CHECK(root != NULL && issuing != NULL && leaf != NULL && ca != NULL);
	CHECK((chain = st_chain_from_ca(ca, leaf, &why)) != NULL);
	CHECK(sk_X509_num(chain) == 2);
	CHECK(X509_cmp(sk_X509_value(chain, 0), issuing) == 0);
	CHECK(X509_cmp(sk_X509_value(chain, 1), root) == 0);
	sk_X509_pop_free(chain, X509_free);
	CHECK(st_chain_from_ca(no_root, leaf, &why) == NULL &&
	    strstr(why, "root") != NULL);
	/* A certificate none of them issued has no chain here. */
	CHECK(st_chain_from_ca(ca, stray, &why) == NULL &&
	    strstr(why, "issuer") != NULL);

	/* PEM, or base64 DER; nothing else. */
	{
		json_t *pem = pem_of(root);
		unsigned char *der = NULL;
		int n = i2d_X509(root, &der);
		char b64[4096];

		CHECK((x = st_cert_parse(json_string_value(pem))) != NULL &&
		    X509_cmp(x, root) == 0);
		X509_free(x);
		json_decref(pem);
		CHECK(n > 0 && (size_t)n < sizeof b64 * 3 / 4);
		ch_base64(der, (size_t)n, b64);
		OPENSSL_free(der);
		CHECK((x = st_cert_parse(b64)) != NULL &&
		    X509_cmp(x, root) == 0);
		X509_free(x);
	}
	CHECK(st_cert_parse("not a certificate") == NULL);
	CHECK(st_cert_parse(NULL) == NULL);

	json_decref(ca);
	json_decref(no_root);
	X509_free(root);
	X509_free(issuing);
	X509_free(other);
	X509_free(leaf);
	X509_free(stray);
	X509_free(unlisted);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(uk);
	return 0;
}
