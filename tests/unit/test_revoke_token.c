/*
 * The signer's path: CRLs and OCSP responses (certhall/codec/crl.h, ocsp.h)
 * signed by keys in a SoftHSM2 token through the token layer, as
 * certhall-signer will sign them: the issuing CA's RSA-2048 key signs the
 * responder's certificate and the CRL, the responder's P-256 key the
 * responses.  Also the responses' signing rate through the token.
 */
#include "test.h"
#include "test_token.h"
#include "certhall/codec/crl.h"
#include "certhall/codec/ocsp.h"
#include "certhall/token/key.h"
#include "certhall/token/token.h"
#include "../codec/revoke_fixture.h"

#include <stdio.h>
#include <string.h>

/* The key labelled label, made in t; its public half into *pub. */
static ch_key_t *
token_key(ch_token_t *t, ch_key_alg_t alg, const char *label,
    unsigned char id, EVP_PKEY **pub)
{
	ch_keygen_t spec = { alg, label, &id, 1 };
	ch_key_t *k = NULL;

	if (ch_token_generate_keypair(t, &spec, pub) != 0 ||
	    ch_token_key(t, CH_KEYREF_PRIVATE, label, NULL, 0, &k) != 0)
		return NULL;
	return k;
}

int
test_revoke_token(void)
{
	ch_token_config_t cfg = { .module = TT_MODULE, .label = "certhall-ca",
	    .sessions = 2 };
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *ca = NULL, *responder = NULL;
	EVP_PKEY *root_key = fx_key_new("p256"), *ca_pub = NULL,
	    *ocsp_pub = NULL;
	X509 *root, *issuing, *ocsp;
	fx_spec_t sp;
	unsigned char serial[CH_X509_SERIAL_LEN], *der = NULL;
	size_t len = 0;
	char why[256] = "";
	time_t now = time(NULL);
	ch_crl_entry_t e;
	ch_crl_spec_t crl;
	ch_ocsp_resp_info_t info;
	struct timespec t0;
	int n = 0;

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	cfg.pin_source = h.pin_source;
	CHECK(ch_token_open(&cfg, &t) == 0);
	CHECK((ca = token_key(t, CH_KEY_RSA_2048, "issuing-ca", 1,
	    &ca_pub)) != NULL);
	CHECK((responder = token_key(t, CH_KEY_EC_P256, "ocsp", 2,
	    &ocsp_pub)) != NULL);

	/* A software root; the issuing CA's key signs in the token. */
	fx_spec(&sp, CH_PROFILE_ROOT, root_key, NULL, now - 7200, 30);
	CHECK((root = ch_x509_issue(&sp.s, root_key, NULL, why,
	    sizeof why)) != NULL);
	fx_spec(&sp, CH_PROFILE_ISSUING, ca_pub, root, now - 3600, 20);
	CHECK((issuing = ch_x509_issue(&sp.s, root_key, NULL, why,
	    sizeof why)) != NULL);
	fx_spec(&sp, CH_PROFILE_OCSP, ocsp_pub, issuing, now - 3600, 1);
	CHECK((ocsp = ch_x509_issue(&sp.s, ch_key_pkey(ca), NULL, why,
	    sizeof why)) != NULL);

	CHECK(ch_x509_serial_new(serial) == 0);
	e = (ch_crl_entry_t){ serial, sizeof serial, now - 60,
	    CH_CRL_KEY_COMPROMISE, 0 };
	crl = (ch_crl_spec_t){ .issuer = issuing, .this_update = now,
	    .next_update = now + 86400, .number = 1, .entries = &e, .n = 1 };
	if (ch_crl_sign(&crl, ch_key_pkey(ca), &der, &len, why,
	    sizeof why) != 0) {
		fprintf(stderr, "ch_crl_sign through the token: %s\n", why);
		return 1;
	}
	CHECK(ch_crl_verify(der, len, issuing, why, sizeof why) == 0);
	OPENSSL_free(der);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rx_seconds_since(&t0) < 1.5) {
		ch_ocsp_resp_spec_t spec = { .issuer = issuing,
		    .responder = ocsp, .serial = serial,
		    .serial_len = sizeof serial,
		    .hash = (ch_ocsp_hash_t)(n & 1),
		    .status = CH_OCSP_REVOKED, .revoked_at = now - 60,
		    .reason = CH_CRL_KEY_COMPROMISE,
		    .this_update = now, .next_update = now + 86400 };

		if (ch_ocsp_response_sign(&spec, ch_key_pkey(responder), &der,
		    &len, why, sizeof why) != 0) {
			fprintf(stderr, "ch_ocsp_response_sign through the "
			    "token: %s\n", why);
			return 1;
		}
		if (n++ == 0) {
			CHECK(ch_ocsp_response_read(der, len, issuing, &info,
			    why, sizeof why) == 0);
			CHECK(info.status == CH_OCSP_REVOKED &&
			    info.reason == CH_CRL_KEY_COMPROMISE);
		}
		OPENSSL_free(der);
	}
	printf("revoke_token: P-256 responder key in SoftHSM2: %.0f "
	    "responses/s\n", n / rx_seconds_since(&t0));

	X509_free(ocsp);
	X509_free(issuing);
	X509_free(root);
	EVP_PKEY_free(ocsp_pub);
	EVP_PKEY_free(ca_pub);
	EVP_PKEY_free(root_key);
	ch_key_close(responder);
	ch_key_close(ca);
	ch_token_close(t);
	tt_hsm_free(&h);
	return 0;
}
