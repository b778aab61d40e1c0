/*
 * The station on a "USB key": a SoftHSM2 token in a configuration of its
 * own, as the maker ships it (factory label and SO PIN).  The SO PIN comes
 * from the CA token's master secret; then the key is initialised, gets a
 * user PIN, a key pair, and its certificate and chain, all read back.
 */
#include "test.h"
#include "test_token.h"

#include "certhall/token/key.h"
#include "certhall/token/station.h"
#include "certhall/token/token.h"

#include <stdio.h>
#include <string.h>

#define FACTORY_SO_PIN "12345678"
#define FACTORY_PIN "000000"
#define USER_PIN "246810"

static const unsigned char sub_id[] = { 0xa1, 0xb2, 0xc3 };
static const unsigned char msg[] = "client hello";

/* In the CA sandbox: the master secret and the SO PIN for serial. */
static int
derive_so_pin(tt_hsm_t *ca, const char *serial, char so_pin[17])
{
	ch_token_config_t cfg = {
		.module = TT_MODULE, .label = "certhall-ca",
		.pin_source = ca->pin_source,
	};
	ch_token_t *t = NULL;
	ch_key_t *m = NULL;
	int rc = -1;

	if (tt_hsm_new(ca) != 0 ||
	    tt_hsm_init_token(ca, "certhall-ca", TT_SO_PIN, TT_PIN) != 0 ||
	    ch_token_open(&cfg, &t) != 0)
		return -1;
	if (ch_token_generate_secret(t, "usbkey-master",
	    (const unsigned char *)"m", 1) == 0 &&
	    ch_token_key(t, CH_KEYREF_SECRET, "usbkey-master", NULL, 0,
	    &m) == 0)
		rc = ch_station_so_pin(m, serial, so_pin);
	ch_key_close(m);
	ch_token_close(t);	/* the module unloads: the USB config next */
	return rc;
}

int
test_token_station(void)
{
	tt_hsm_t ca, usb;
	ch_token_config_t cfg = { .module = TT_MODULE };
	ch_token_info_t info[4];
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub = NULL, *ca_key, *other, *read = NULL;
	X509 *ca_cert, *leaf, *wrong, *back = NULL, *back_ca = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	ch_keygen_t spec = { CH_KEY_EC_P256, "subscriber", sub_id,
	    sizeof sub_id };
	char serial[17], got[17], so_pin[17];
	unsigned char sig[128];
	size_t n;
	int count = 0;

	/* The key as shipped, made by another process. */
	CHECK(tt_hsm_new(&usb) == 0);
	CHECK(tt_hsm_init_token(&usb, "FACTORY", FACTORY_SO_PIN,
	    FACTORY_PIN) == 0);
	CHECK(tt_hsm_serial(&usb, "FACTORY", serial) == 0);
	CHECK(derive_so_pin(&ca, serial, so_pin) == 0);
	CHECK(strcmp(so_pin, FACTORY_SO_PIN) != 0);

	CHECK(setenv("SOFTHSM2_CONF", usb.conf, 1) == 0);
	CHECK(ch_token_scan(TT_MODULE, info, 4, &count) == 0);
	CHECK(count == 2);	/* the key and SoftHSM's free slot */
	CHECK_STR(info[0].serial, serial);
	CHECK_STR(info[0].label, "FACTORY");
	CHECK(info[0].initialized && !info[1].initialized);

	cfg.serial = serial;
	CHECK(ch_token_open(&cfg, &t) == 0);
	CHECK(ch_token_serial(t, got) == 0);
	CHECK_STR(got, serial);
	CHECK(ch_station_init_token(t, "87654321", so_pin) == -1);
	CHECK(ch_station_init_token(t, FACTORY_SO_PIN, so_pin) == 0);
	/* The old SO PIN is gone, the derived one works. */
	CHECK(ch_station_init_user_pin(t, FACTORY_SO_PIN, USER_PIN) == -1);
	CHECK(ch_station_init_user_pin(t, so_pin, USER_PIN) == 0);
	CHECK(ch_token_scan(TT_MODULE, info, 4, &count) == 0);
	CHECK_STR(info[0].label, serial);
	CHECK(info[0].user_pin_set);
	CHECK(ch_token_serial(t, got) == 0);	/* reopens after the scan */
	CHECK_STR(got, serial);

	CHECK(ch_token_login(t, "999999") == -1);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_FAILED);
	CHECK(ch_token_login(t, USER_PIN) == 0);
	CHECK(ch_token_generate_keypair(t, &spec, &pub) == 0);

	/* The CA (in software here) certifies the key. */
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(ca_key != NULL && other != NULL);
	ca_cert = tt_cert(ca_key, "certhall test ca", NULL, ca_key);
	leaf = tt_cert(pub, "张三", ca_cert, ca_key);
	wrong = tt_cert(other, "someone else", ca_cert, ca_key);
	CHECK(ca_cert && leaf && wrong);
	CHECK(sk_X509_push(chain, ca_cert) == 1);
	CHECK(ch_station_write_certs(t, "subscriber", sub_id, sizeof sub_id,
	    wrong, chain) == -1);
	CHECK(ch_station_write_certs(t, "subscriber", sub_id, sizeof sub_id,
	    leaf, chain) == 0);
	CHECK(ch_token_logout(t) == 0);

	/* Read back (certificates are public objects). */
	CHECK(ch_token_get_cert(t, "subscriber", &back) == 0);
	CHECK(X509_cmp(back, leaf) == 0);
	CHECK(ch_token_get_cert(t, "subscriber-ca1", &back_ca) == 0);
	CHECK(X509_cmp(back_ca, ca_cert) == 0);
	CHECK(X509_verify(back, X509_get0_pubkey(back_ca)) == 1);
	CHECK(ch_token_get_public(t, "subscriber", &read) == 0);
	CHECK(EVP_PKEY_eq(read, pub) == 1);

	/* The subscriber's key signs, after logging in again. */
	CHECK(ch_token_login(t, USER_PIN) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "subscriber", sub_id,
	    sizeof sub_id, &k) == 0);
	n = tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig);
	CHECK(n > 0 && tt_verify(X509_get0_pubkey(back), msg, sizeof msg,
	    sig, n));
	/* A key in use: initialising the token under it is refused. */
	CHECK(ch_station_init_token(t, so_pin, so_pin) == -1);
	ch_key_close(k);

	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	X509_free(wrong);
	X509_free(back);
	X509_free(back_ca);
	EVP_PKEY_free(read);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other);
	ch_token_close(t);
	tt_hsm_free(&usb);
	tt_hsm_free(&ca);
	return 0;
}
