/*
 * The token layer against SoftHSM2: keys generated in the token sign
 * through OpenSSL and verify in software, handles are cached, the layer
 * reopens a token that went away and refuses one that came back with
 * another key.
 */
#include "test.h"
#include "test_token.h"

#include "certhall/token/key.h"
#include "certhall/token/token.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

static const unsigned char msg[] = "certhall token test message";
static const unsigned char id_ca[] = { 0x01 }, id_ocsp[] = { 0x02 };

static int
open_ca(tt_hsm_t *h, int sessions, ch_token_t **t)
{
	ch_token_config_t cfg = {
		.module = TT_MODULE, .label = "certhall-ca",
		.pin_source = h->pin_source, .sessions = sessions,
	};

	return ch_token_open(&cfg, t);
}

static int
gen(ch_token_t *t, ch_key_alg_t alg, const char *label,
    const unsigned char *id, EVP_PKEY **pub)
{
	ch_keygen_t spec = { alg, label, id, 1 };

	return ch_token_generate_keypair(t, &spec, pub);
}

/* Signs msg with k through the token and verifies with pub in software. */
static int
sign_verifies(ch_key_t *k, EVP_PKEY *pub)
{
	unsigned char sig[600];
	size_t n = tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig);

	return n > 0 && tt_verify(pub, msg, sizeof msg, sig, n);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
test_token_sign_rsa_p256(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *k = NULL, *e = NULL, *missing = NULL;
	EVP_PKEY *rsa_pub = NULL, *ec_pub = NULL, *read = NULL;
	EVP_PKEY_CTX *pctx;
	EVP_MD_CTX *md;
	X509 *x;
	unsigned char sig[600], fp[32], want[32], *der = NULL;
	size_t n = sizeof sig;
	int der_len;
	char ref[512];

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	CHECK(open_ca(&h, 2, &t) == 0);
	CHECK(gen(t, CH_KEY_RSA_2048, "issuing-ca", id_ca, &rsa_pub) == 0);
	CHECK(EVP_PKEY_get_bits(rsa_pub) == 2048);
	CHECK(gen(t, CH_KEY_EC_P256, "ocsp", id_ocsp, &ec_pub) == 0);
	CHECK(EVP_PKEY_is_a(ec_pub, "EC"));
	/* A second key under a label or id in use is refused. */
	CHECK(gen(t, CH_KEY_EC_P256, "ocsp", (const unsigned char *)"\x09",
	    NULL) == -1);
	CHECK(gen(t, CH_KEY_EC_P256, "other", id_ca, NULL) == -1);

	/* The RSA key by reference, the module and PIN in the URI. */
	snprintf(ref, sizeof ref, "pkcs11:token=certhall-ca;object=issuing-ca"
	    "?module-path=%s&pin-source=%s", TT_MODULE, h.pin_source);
	CHECK(ch_key_open(ref, NULL, &k) == 0);
	CHECK(sign_verifies(k, rsa_pub));
	/* The pinned fingerprint is the SPKI hash of the generated key. */
	der_len = i2d_PUBKEY(rsa_pub, &der);
	SHA256(der, (size_t)der_len, want);
	OPENSSL_free(der);
	ch_key_fingerprint(k, fp);
	CHECK(memcmp(fp, want, 32) == 0);
	/* RSA-PSS goes through CKM_RSA_X_509. */
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL,
	    ch_key_pkey(k)) == 1);
	CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
	CHECK(EVP_DigestSign(md, sig, &n, msg, sizeof msg) == 1);
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	CHECK(EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL,
	    rsa_pub) == 1);
	CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1);
	CHECK(EVP_DigestVerify(md, sig, n, msg, sizeof msg) == 1);
	EVP_MD_CTX_free(md);
	/* X509_sign through the token; verified in software. */
	x = tt_cert(rsa_pub, "certhall test root", NULL, ch_key_pkey(k));
	CHECK(x != NULL);
	CHECK(X509_verify(x, rsa_pub) == 1);
	X509_free(x);

	/* P-256 by id, the module and PIN from the defaults. */
	{
		ch_key_defaults_t d = { TT_MODULE, h.pin_source, 0 };

		CHECK(ch_key_open("pkcs11:token=certhall-ca;id=%02", &d,
		    &e) == 0);
		CHECK(sign_verifies(e, ec_pub));
		CHECK(!sign_verifies(e, rsa_pub));
		CHECK(ch_key_open("pkcs11:token=certhall-ca;object=nothing",
		    &d, &missing) == -1);
		CHECK(ch_token_last_error() == CH_TOKEN_ERR_FAILED);
		CHECK(missing == NULL);
	}
	/* A CRL and an OCSP response signed with the P-256 key. */
	{
		X509 *cert = tt_cert(ec_pub, "certhall test ocsp", NULL,
		    ch_key_pkey(e));
		X509_CRL *crl = X509_CRL_new(), *back;
		OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
		X509_STORE *st = X509_STORE_new();
		const unsigned char *p;
		unsigned char *crl_der = NULL;
		ASN1_TIME *now;
		int crl_len;

		CHECK(cert != NULL && crl != NULL && bs != NULL && st != NULL);
		CHECK(X509_CRL_set_issuer_name(crl,
		    X509_get_subject_name(cert)) == 1);
		CHECK((now = X509_gmtime_adj(NULL, 0)) != NULL);
		CHECK(X509_CRL_set1_lastUpdate(crl, now) == 1);
		ASN1_TIME_free(now);
		CHECK(X509_CRL_sign(crl, ch_key_pkey(e), EVP_sha256()) > 0);
		/* Verified after a DER round trip (FIELD-NOTES). */
		crl_len = i2d_X509_CRL(crl, &crl_der);
		p = crl_der;
		back = d2i_X509_CRL(NULL, &p, crl_len);
		CHECK(back != NULL && X509_CRL_verify(back, ec_pub) == 1);
		CHECK(OCSP_basic_sign(bs, cert, ch_key_pkey(e), EVP_sha256(),
		    NULL, 0) == 1);
		CHECK(OCSP_basic_verify(bs, NULL, st, OCSP_NOVERIFY) == 1);
		OPENSSL_free(crl_der);
		X509_CRL_free(back);
		X509_CRL_free(crl);
		OCSP_BASICRESP_free(bs);
		X509_STORE_free(st);
		X509_free(cert);
	}

	/* The public key by label, as stored. */
	CHECK(ch_token_get_public(t, "ocsp", &read) == 0);
	CHECK(EVP_PKEY_eq(read, ec_pub) == 1);

	/* Attributes through a raw session of the test's own. */
	{
		tt_raw_t r;
		CK_OBJECT_HANDLE p, q;

		CHECK(tt_raw_open(&r, "certhall-ca", TT_PIN) == 0);
		p = tt_raw_find(&r, CKO_PRIVATE_KEY, "issuing-ca");
		q = tt_raw_find(&r, CKO_PRIVATE_KEY, "ocsp");
		CHECK(p != CK_INVALID_HANDLE && q != CK_INVALID_HANDLE);
		for (int i = 0; i < 2; i++) {
			CK_OBJECT_HANDLE o = i ? q : p;

			CHECK(tt_raw_kept_in(&r, o));
			CHECK(tt_raw_bool(&r, o, CKA_DECRYPT) == 0);
		}
		CHECK(tt_raw_read_rv(&r, p, CKA_PRIVATE_EXPONENT) ==
		    CKR_ATTRIBUTE_SENSITIVE);
		CHECK(tt_raw_read_rv(&r, q, CKA_VALUE) ==
		    CKR_ATTRIBUTE_SENSITIVE);
		tt_raw_close(&r);
	}

	EVP_PKEY_free(read);
	ch_key_close(k);
	ch_key_close(e);
	ch_token_close(t);
	EVP_PKEY_free(rsa_pub);
	EVP_PKEY_free(ec_pub);
	tt_hsm_free(&h);
	return 0;
}

typedef struct {
	EVP_PKEY *pkey;
	double until;
	long count;
	int failed;
} rate_arg_t;

static void *
rate_worker(void *p)
{
	rate_arg_t *a = p;
	unsigned char sig[600];

	while (now_s() < a->until) {
		if (tt_sign(a->pkey, msg, sizeof msg, sig, sizeof sig) == 0) {
			a->failed = 1;
			break;
		}
		a->count++;
	}
	return NULL;
}

/* Signatures per second with pkey from threads threads for secs. */
static double
sign_rate(EVP_PKEY *pkey, int threads, double secs, int *failed)
{
	pthread_t tid[2];
	rate_arg_t a[2];
	double start = now_s();
	long total = 0;

	for (int i = 0; i < threads; i++) {
		a[i] = (rate_arg_t){ pkey, start + secs, 0, 0 };
		pthread_create(&tid[i], NULL, rate_worker, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += a[i].count;
		*failed |= a[i].failed;
	}
	return (double)total / (now_s() - start);
}

/*
 * Signatures per second through the raw C API on a session of its own
 * (no layer, no OpenSSL): C_FindObjects before each signature when find,
 * else one handle found once.  0 on failure.
 */
static double
raw_rate(int find, double secs)
{
	static const unsigned char prefix[] = {
		0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
		0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
	};
	unsigned char in[sizeof prefix + 32], sig[512];
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	double start = now_s();
	long count = 0;
	tt_raw_t r;

	if (tt_raw_open(&r, "certhall-ca", TT_PIN) != 0)
		return 0;
	memcpy(in, prefix, sizeof prefix);
	while (now_s() < start + secs) {
		CK_ULONG n = sizeof sig;

		SHA256(msg, sizeof msg, in + sizeof prefix);
		if (find || h == CK_INVALID_HANDLE)
			h = tt_raw_find(&r, CKO_PRIVATE_KEY, "issuing-ca");
		if (r.fl->C_SignInit(r.s, &m, h) != CKR_OK ||
		    r.fl->C_Sign(r.s, in, sizeof in, sig, &n) != CKR_OK) {
			count = 0;
			break;
		}
		count++;
	}
	tt_raw_close(&r);
	return (double)count / (now_s() - start);
}

/*
 * RSA-2048 signatures through the layer, 1 session and 2, against OpenSSL
 * in software; C_FindObjects must not run while signing.  Prints the rates.
 */
int
test_token_sign_rate(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub = NULL, *soft;
	ch_token_health_t before, after;
	double r1, r2, s1, s2, raw_find, raw_cached;
	int failed = 0;

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	CHECK(open_ca(&h, 1, &t) == 0);
	CHECK(gen(t, CH_KEY_RSA_2048, "issuing-ca", id_ca, &pub) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "issuing-ca", NULL, 0,
	    &k) == 0);
	ch_token_health(t, &before);
	r1 = sign_rate(ch_key_pkey(k), 1, 1.0, &failed);
	ch_token_health(t, &after);
	CHECK(!failed);
	CHECK(after.finds == before.finds);	/* the handle is cached */
	CHECK(after.sessions == 1);
	ch_key_close(k);
	ch_token_close(t);	/* the last reference: the module unloads */

	CHECK(open_ca(&h, 2, &t) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "issuing-ca", NULL, 0,
	    &k) == 0);
	ch_token_health(t, &before);
	r2 = sign_rate(ch_key_pkey(k), 2, 1.0, &failed);
	ch_token_health(t, &after);
	CHECK(!failed);
	CHECK(after.finds == before.finds && after.sessions == 2);
	CHECK(sign_verifies(k, pub));

	raw_find = raw_rate(1, 1.0);
	raw_cached = raw_rate(0, 1.0);
	CHECK(raw_find > 0 && raw_cached > 0);

	soft = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(soft != NULL);
	s1 = sign_rate(soft, 1, 1.0, &failed);
	s2 = sign_rate(soft, 2, 1.0, &failed);
	CHECK(!failed);
	fprintf(stderr, "rsa-2048 signatures/s: layer 1 session %.0f, "
	    "2 sessions (2 threads) %.0f; raw C API with C_FindObjects per "
	    "signature %.0f, with a cached handle %.0f; openssl in software "
	    "1 thread %.0f, 2 threads %.0f\n", r1, r2, raw_find, raw_cached,
	    s1, s2);
	CHECK(r1 > 0 && r2 > 0);

	EVP_PKEY_free(soft);
	EVP_PKEY_free(pub);
	ch_key_close(k);
	ch_token_close(t);
	tt_hsm_free(&h);
	return 0;
}

static int
rename_dir(const char *from, const char *to)
{
	return rename(from, to);
}

/* The token directory goes away: signing fails (the layer reopens and
 * cannot) and recovers by itself with the same key once it is back. */
int
test_token_reopen(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub = NULL;
	ch_token_health_t hl;
	unsigned char fp0[32], fp1[32], sig[128];
	char away[256];

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	CHECK(open_ca(&h, 2, &t) == 0);
	CHECK(gen(t, CH_KEY_EC_P256, "issuing-ca", id_ca, &pub) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "issuing-ca", id_ca, 1,
	    &k) == 0);
	CHECK(sign_verifies(k, pub));
	ch_key_fingerprint(k, fp0);

	tt_hsm_path(&h, "tokens.away", away, sizeof away);
	CHECK(rename_dir(h.tokens, away) == 0);
	/* SoftHSM answers CKR_OBJECT_HANDLE_INVALID: the layer schedules a
	 * reload and says "retry". */
	CHECK(tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig) == 0);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_RETRY);
	ch_token_health(t, &hl);
	CHECK(hl.state == CH_TOKEN_REOPENING);
	/* The retry reloads, which fails while the directory is away. */
	CHECK(tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig) == 0);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_RETRY);
	ch_token_health(t, &hl);
	CHECK(hl.state == CH_TOKEN_REOPENING && hl.reloads == 1);
	CHECK(hl.since > 0 && hl.last_error[0] != '\0' && hl.last_rv != 0);
	CHECK(strstr(hl.last_error, TT_PIN) == NULL);

	CHECK(rename_dir(away, h.tokens) == 0);
	/* The next call reloads; the caller's retry succeeds. */
	CHECK(sign_verifies(k, pub));
	ch_token_health(t, &hl);
	CHECK(hl.state == CH_TOKEN_OPEN && hl.reloads == 2);
	ch_key_fingerprint(k, fp1);
	CHECK(memcmp(fp0, fp1, 32) == 0);

	ch_key_close(k);
	ch_token_close(t);
	EVP_PKEY_free(pub);
	tt_hsm_free(&h);
	return 0;
}

typedef struct {
	ch_key_t *k;
	EVP_PKEY *pub;
	atomic_int *stop;
	long ok, retries, late_ok;
	int bad;
	atomic_int *restored;
} churn_arg_t;

/* Signs until told to stop, retrying with a short back-off as a caller
 * of the layer does; every signature must verify with the pinned key. */
static void *
churn_worker(void *p)
{
	churn_arg_t *a = p;
	unsigned char sig[128];
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	while (!atomic_load(a->stop)) {
		size_t n = tt_sign(ch_key_pkey(a->k), msg, sizeof msg, sig,
		    sizeof sig);

		if (n > 0) {
			a->ok++;
			a->late_ok += atomic_load(a->restored);
			if (!tt_verify(a->pub, msg, sizeof msg, sig, n))
				a->bad = 1;
			continue;
		}
		if (ch_token_last_error() != CH_TOKEN_ERR_RETRY)
			a->bad = 1;
		a->retries++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Two threads sign while the token goes away and comes back: they see
 * "retry", never a wrong signature, and both sign again afterwards. */
int
test_token_reopen_threads(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub = NULL;
	atomic_int stop = 0, restored = 0;
	churn_arg_t a[2];
	pthread_t tid[2];
	struct timespec step = { 0, 300 * 1000 * 1000 };
	char away[256];

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	CHECK(open_ca(&h, 2, &t) == 0);
	CHECK(gen(t, CH_KEY_EC_P256, "issuing-ca", id_ca, &pub) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "issuing-ca", NULL, 0,
	    &k) == 0);
	tt_hsm_path(&h, "tokens.away", away, sizeof away);
	for (int i = 0; i < 2; i++) {
		a[i] = (churn_arg_t){ k, pub, &stop, 0, 0, 0, 0, &restored };
		pthread_create(&tid[i], NULL, churn_worker, &a[i]);
	}
	nanosleep(&step, NULL);
	CHECK(rename_dir(h.tokens, away) == 0);
	nanosleep(&step, NULL);
	CHECK(rename_dir(away, h.tokens) == 0);
	atomic_store(&restored, 1);
	nanosleep(&step, NULL);
	nanosleep(&step, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		CHECK(!a[i].bad);
		CHECK(a[i].late_ok > 0);
	}
	CHECK(a[0].retries + a[1].retries > 0);

	ch_key_close(k);
	ch_token_close(t);
	EVP_PKEY_free(pub);
	tt_hsm_free(&h);
	return 0;
}

/* Makes a token "certhall-ca" in h with a P-256 key "issuing-ca", id 01,
 * and moves its token directory to name. */
static int
make_ca_tokens(tt_hsm_t *h, const char *name, EVP_PKEY **pub)
{
	ch_token_t *t = NULL;
	char to[256];
	int rc;

	if (mkdir(h->tokens, 0700) != 0 && errno != EEXIST)
		return -1;
	if (tt_hsm_init_token(h, "certhall-ca", TT_SO_PIN, TT_PIN) != 0 ||
	    open_ca(h, 1, &t) != 0)
		return -1;
	rc = gen(t, CH_KEY_EC_P256, "issuing-ca", id_ca, pub);
	ch_token_close(t);
	tt_hsm_path(h, name, to, sizeof to);
	return rc == 0 ? rename_dir(h->tokens, to) : -1;
}

/* The token comes back with another key under the same label and id: the
 * layer refuses it, signs nothing, and stays refused until an operator
 * reloads with the right token back. */
int
test_token_refuse_other_key(void)
{
	tt_hsm_t h;
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub1 = NULL, *pub2 = NULL;
	ch_token_health_t hl;
	unsigned char sig[128];
	char one[256], two[256];

	CHECK(tt_hsm_new(&h) == 0);
	CHECK(make_ca_tokens(&h, "tokens.1", &pub1) == 0);
	CHECK(make_ca_tokens(&h, "tokens.2", &pub2) == 0);
	CHECK(EVP_PKEY_eq(pub1, pub2) != 1);
	tt_hsm_path(&h, "tokens.1", one, sizeof one);
	tt_hsm_path(&h, "tokens.2", two, sizeof two);

	CHECK(rename_dir(one, h.tokens) == 0);
	CHECK(open_ca(&h, 2, &t) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "issuing-ca", NULL, 0,
	    &k) == 0);
	CHECK(sign_verifies(k, pub1));

	/* Swap the impostor in and make the layer reopen. */
	CHECK(rename_dir(h.tokens, one) == 0);
	CHECK(rename_dir(two, h.tokens) == 0);
	CHECK(ch_token_reload(t) == -1);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_REFUSED);
	CHECK(tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig) == 0);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_REFUSED);
	ch_token_health(t, &hl);
	CHECK(hl.state == CH_TOKEN_REFUSED);

	/* The right token back: still refused until the operator acts. */
	CHECK(rename_dir(h.tokens, two) == 0);
	CHECK(rename_dir(one, h.tokens) == 0);
	CHECK(tt_sign(ch_key_pkey(k), msg, sizeof msg, sig, sizeof sig) == 0);
	CHECK(ch_token_last_error() == CH_TOKEN_ERR_REFUSED);
	CHECK(ch_token_reload(t) == 0);
	CHECK(sign_verifies(k, pub1));

	ch_key_close(k);
	ch_token_close(t);
	EVP_PKEY_free(pub1);
	EVP_PKEY_free(pub2);
	tt_hsm_free(&h);
	return 0;
}
