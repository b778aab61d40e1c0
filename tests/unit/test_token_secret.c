/*
 * The master secret: generated in the token, never readable, HMAC-SHA256
 * in the token, and the USB key SO PIN derivation of station.h checked
 * against an independent computation.
 */
#include "test.h"
#include "test_token.h"

#include "certhall/token/key.h"
#include "certhall/token/station.h"
#include "certhall/token/token.h"

#include <stdio.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/rand.h>

static int
open_ca(tt_hsm_t *h, ch_token_t **t)
{
	ch_token_config_t cfg = {
		.module = TT_MODULE, .label = "certhall-ca",
		.pin_source = h->pin_source,
	};

	if (tt_hsm_new(h) != 0 ||
	    tt_hsm_init_token(h, "certhall-ca", TT_SO_PIN, TT_PIN) != 0)
		return -1;
	return ch_token_open(&cfg, t);
}

/* The derivation written out again from station.h, with OpenSSL's HMAC. */
static void
expected_so_pin(const unsigned char *key, const char *serial, char out[17])
{
	static const char label[] = "certhall/usbkey-so-pin/v1";
	unsigned char msg[64], mac[32];
	unsigned int n = 0;
	size_t len = strlen(serial);

	memcpy(msg, label, sizeof label);	/* with its NUL */
	memcpy(msg + sizeof label, serial, len);
	HMAC(EVP_sha256(), key, 32, msg, sizeof label + len, mac, &n);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* Imports value as a secret key labelled label through a raw session, as a
 * key ceremony or a test would; extractable as told. */
static int
import_secret(const char *label, const unsigned char *value, CK_BBOOL extr)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, &yes, sizeof yes },
		{ CKA_EXTRACTABLE, &extr, sizeof extr },
		{ CKA_SIGN, &yes, sizeof yes },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ CKA_ID, (void *)label, strlen(label) },
		{ CKA_VALUE, (void *)value, 32 },
	};
	CK_OBJECT_HANDLE h;
	tt_raw_t r;
	CK_RV rv;

	if (tt_raw_open(&r, "certhall-ca", TT_PIN) != 0)
		return -1;
	rv = r.fl->C_CreateObject(r.s, tmpl, sizeof tmpl / sizeof tmpl[0], &h);
	tt_raw_close(&r);
	return rv == CKR_OK ? 0 : -1;
}

int
test_token_master_secret(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *m = NULL;
	ch_key_defaults_t d = { TT_MODULE, NULL, 0 };
	char a[17], b[17], c[17];
	tt_raw_t r;
	CK_OBJECT_HANDLE o;
	CK_ULONG len = 0;
	CK_ATTRIBUTE va = { CKA_VALUE_LEN, &len, sizeof len };

	CHECK(open_ca(&h, &t) == 0);
	d.pin_source = h.pin_source;
	CHECK(ch_token_generate_secret(t, "usbkey-master",
	    (const unsigned char *)"m1", 2) == 0);
	CHECK(ch_token_generate_secret(t, "usbkey-master",
	    (const unsigned char *)"m2", 2) == -1);

	/* What the token says about it, read without the layer. */
	CHECK(tt_raw_open(&r, "certhall-ca", TT_PIN) == 0);
	o = tt_raw_find(&r, CKO_SECRET_KEY, "usbkey-master");
	CHECK(o != CK_INVALID_HANDLE);
	CHECK(tt_raw_kept_in(&r, o));
	CHECK(tt_raw_bool(&r, o, CKA_ENCRYPT) == 0);
	CHECK(tt_raw_bool(&r, o, CKA_DERIVE) == 0);
	CHECK(tt_raw_read_rv(&r, o, CKA_VALUE) == CKR_ATTRIBUTE_SENSITIVE);
	CHECK(r.fl->C_GetAttributeValue(r.s, o, &va, 1) == CKR_OK && len == 32);
	tt_raw_close(&r);

	CHECK(ch_key_open("pkcs11:token=certhall-ca;object=usbkey-master;"
	    "type=secret-key", &d, &m) == 0);
	CHECK(ch_key_pkey(m) == NULL && ch_key_public(m) == NULL);
	CHECK(ch_station_so_pin(m, "8efeba98b57bb366", a) == 0);
	CHECK(ch_station_so_pin(m, "8efeba98b57bb366", b) == 0);
	CHECK(ch_station_so_pin(m, "8efeba98b57bb367", c) == 0);
	CHECK_STR(a, b);
	CHECK(strcmp(a, c) != 0);
	CHECK(strlen(a) == 16 && strspn(a, "0123456789abcdef") == 16);
	CHECK(ch_station_so_pin(m, "", c) == -1 && c[0] == '\0');
	CHECK(ch_station_so_pin(m, "12345678901234567", c) == -1);
	CHECK(ch_station_so_pin(m, "has space", c) == -1);

	/* The same secret after a reload (its check value is pinned). */
	CHECK(ch_token_reload(t) == 0);
	CHECK(ch_station_so_pin(m, "8efeba98b57bb366", b) == 0);
	CHECK_STR(a, b);

	ch_key_close(m);
	ch_token_close(t);
	tt_hsm_free(&h);
	return 0;
}

int
test_token_so_pin_derivation(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *m = NULL, *loose = NULL;
	unsigned char key[32], rnd[16], mac[32], want[32];
	unsigned int n = 0;
	char serial[17], got[17], exp[17];

	for (int i = 0; i < 32; i++)
		key[i] = (unsigned char)i;
	CHECK(open_ca(&h, &t) == 0);
	/* A known secret can only come in from outside: imported here as
	 * the token would hold a generated one (sensitive, not
	 * extractable).  The layer's code path is the same. */
	CHECK(import_secret("kat-master", key, CK_FALSE) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_SECRET, "kat-master", NULL, 0,
	    &m) == 0);

	/* The example of station.h, computed with Python's hmac module. */
	CHECK(ch_station_so_pin(m, "8efeba98b57bb366", got) == 0);
	CHECK_STR(got, "b53b916fd39e4c5a");
	/* The unlock response of the same example (Python's hmac too). */
	CHECK(ch_station_unlock_response(m, "8efeba98b57bb366",
	    "20261207A1B2C3D4", got) == 0);
	CHECK_STR(got, "C105C18D5EC61977");
	CHECK(ch_station_unlock_response(m, "8efeba98b57bb366", "short",
	    got) == -1 && got[0] == '\0');
	CHECK(ch_station_unlock_response(m, "8efeba98b57bb366",
	    "has space 123", got) == -1);
	/* Random serials of every length against OpenSSL's HMAC. */
	for (size_t len = 1; len <= 16; len++) {
		CHECK(RAND_bytes(rnd, sizeof rnd) == 1);
		for (size_t i = 0; i < len; i++)
			serial[i] = "0123456789ABCDEFabcdef-_"[rnd[i] % 24];
		serial[len] = '\0';
		CHECK(ch_station_so_pin(m, serial, got) == 0);
		expected_so_pin(key, serial, exp);
		CHECK_STR(got, exp);
	}
	CHECK(ch_key_hmac_sha256(m, "abc", 3, mac) == 0);
	HMAC(EVP_sha256(), key, 32, (const unsigned char *)"abc", 3, want, &n);
	CHECK(memcmp(mac, want, 32) == 0);

	/* A secret that could leave the token is not used. */
	CHECK(import_secret("loose-master", key, CK_TRUE) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_SECRET, "loose-master", NULL, 0,
	    &loose) == -1);
	CHECK(loose == NULL);

	ch_key_close(m);
	ch_token_close(t);
	tt_hsm_free(&h);
	return 0;
}
