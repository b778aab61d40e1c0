/*
 * The personalisation of one USB key (SPEC §8; issue 12), end to end:
 *
 *   1. the application (GET /applications/{id}): issuing, new or reissue;
 *   2. the blank key plugged in (libp11, by label or serial); never the
 *      CA token;
 *   3. bind it (POST /usb-keys);
 *   4. its SO PIN: a one-time RSA-2048 key, POST /usb-keys/{serial}/so-pin,
 *      the sealed answer opened with that key (certhall/codec/box.h);
 *   5. initialise the key with its maker's SO PIN (or, for a key this
 *      station initialised before, the derived one) and label = serial,
 *      the SO PIN changed to the derived one; a random user PIN set
 *      (CSPRNG, ST_PIN_DIGITS digits) and the SO PIN forgotten;
 *   6. the key pair generated on the key (RSA-2048 or P-256, private half
 *      sensitive and never extractable) and a PKCS#10 request signed by it
 *      on the key (POST /applications/{id}/csr with the key's serial);
 *   7. the certificate awaited (GET /applications/{id}/certificate) and
 *      written to the key with the chain of GET /ca; then the e-seals the
 *      application asked for (issue 13), awaited as well (GET
 *      /seals?certificate_serial=..., made by the signer just after the
 *      certificate), each parsed to check that it names this very
 *      certificate, and written as a data object labelled with its esID
 *      (ch_station_write_seal());
 *   8. the key read back through libp11 (label, certificate, chain);
 *   9. the user PIN handed over (POST /usb-keys/{serial}/user-pin: to the
 *      handler by SMS) and forgotten;
 *  10. the key marked personalised (POST /usb-keys/{serial}/personalised).
 *
 * The user PIN is set in step 5 rather than after the certificate, because
 * the key pair is a private object: making it needs a user session.  It
 * leaves this process only in step 9, to the API.
 *
 * A failure stops where it is and says why; the key is then half done.
 * Running the command again starts over: the binding is found again (the
 * API answers 200), and a key labelled with its serial is initialised
 * again with its derived SO PIN.  A key whose request already reached the
 * API cannot be started over (its signing job has the request): that is
 * for an operator to sort out with the lead, not for this program.
 */
#include "station.h"

#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/codec/box.h"
#include "certhall/codec/seal.h"
#include "certhall/token/key.h"
#include "certhall/token/station.h"
#include "certhall/token/token.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* CKA_LABEL of the subscriber's key pair and certificate on the key (its
 * CA certificates get "<label>-ca<n>": certhall/token/station.h). */
#define KEY_LABEL "certhall-sign"
#define KEY_ID_LEN 8
#define FACTORY_PIN_MAX 256

/* A failure's message on stderr; returns 1 (the command's exit status). */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "certhall-station: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* Sends a JSON request and checks the status is one of want (0-ended).
 * The answer (a new reference or NULL) into *json when not NULL.  0, or 1
 * after printing why. */
static int
call(st_api_t *api, const char *method, const char *path, json_t *body,
    const long *want, json_t **json)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *ans = NULL;
	long status;
	int rc;

	if (body != NULL && text == NULL)
		return fail("out of memory for %s", path);
	rc = st_api_json(api, method, path, text, &status, &ans);
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));	/* may hold a PIN */
		free(text);
	}
	if (rc != 0)
		return 1;
	for (; *want != 0; want++)
		if (status == *want) {
			if (json != NULL)
				*json = ans;
			else
				json_decref(ans);
			return 0;
		}
	st_api_refused(path, status, ans);
	json_decref(ans);
	return 1;
}

/* ---- the steps ------------------------------------------------------------ */

/* 1: the application, which must wait for a key.  0 with *app, or 1. */
static int
load_application(st_api_t *api, long long app_id, json_t **app)
{
	static const long ok[] = { 200, 0 };
	const char *status, *biz;
	char path[64];

	snprintf(path, sizeof path, "/api/v1/applications/%lld", app_id);
	if (call(api, "GET", path, NULL, ok, app) != 0)
		return 1;
	status = json_string_value(json_object_get(*app, "status"));
	biz = json_string_value(json_object_get(*app, "business_type"));
	if (status == NULL || strcmp(status, "issuing") != 0)
		return fail("the application is %s, not issuing",
		    status != NULL ? status : "unreadable");
	if (biz == NULL || (strcmp(biz, "new") != 0 &&
	    strcmp(biz, "reissue") != 0))
		return fail("the application is %s business: only new and "
		    "reissue get a new USB key", biz != NULL ? biz : "unknown");
	return 0;
}

/* 2: the blank key. */
static int
find_key(const st_personalise_t *o, st_key_t *key)
{
	const char *s;

	if (st_keys_find(o->module, o->slot_label, o->serial, key) != 0)
		return 1;
	if (strcmp(key->label, ST_CA_TOKEN_LABEL) == 0)
		return fail("token \"%s\" is the CA's token, never a USB key",
		    key->label);
	for (s = key->serial; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '-'))
			break;
	if (*s != '\0' || strlen(key->serial) < 4)
		return fail("the key's serial \"%s\" is not one the API takes "
		    "(4 to 16 of A-Z a-z 0-9 _ -)", key->serial);
	return 0;
}

/* 3: bind it. */
static int
bind_key(st_api_t *api, long long app_id, const char *serial)
{
	static const long ok[] = { 201, 200, 0 };
	json_t *body = json_pack("{s:s,s:I}", "serial", serial,
	    "application_id", (json_int_t)app_id);
	int rc = call(api, "POST", "/api/v1/usb-keys", body, ok, NULL);

	json_decref(body);
	return rc;
}

/* 4: the SO PIN, through the signer, sealed to a key made for this one
 * request.  0 with out (16 hex digits and a NUL), or 1. */
static int
fetch_so_pin(st_api_t *api, const char *serial,
    char out[CH_STATION_SO_PIN_LEN + 1])
{
	static const long ok[] = { 200, 0 };
	unsigned char box[CH_BOX_MAX_BYTES], *der = NULL;
	const char *sealed, *why;
	EVP_PKEY *key = EVP_RSA_gen(2048);
	json_t *body = NULL, *ans = NULL;
	char path[80], *b64 = NULL;
	size_t n = 0, got = 0;
	int len, rc = 1;

	out[0] = '\0';
	if (key == NULL || (len = i2d_PUBKEY(key, &der)) <= 0) {
		rc = fail("%s", "no one-time RSA key could be made");
		goto out;
	}
	b64 = malloc(4 * (((size_t)len + 2) / 3) + 1);
	if (b64 == NULL)
		goto out;
	ch_base64(der, (size_t)len, b64);
	body = json_pack("{s:s}", "requester_key", b64);
	snprintf(path, sizeof path, "/api/v1/usb-keys/%s/so-pin", serial);
	if (call(api, "POST", path, body, ok, &ans) != 0)
		goto out;
	sealed = json_string_value(json_object_get(ans, "sealed"));
	if (sealed == NULL || ch_unbase64(sealed, strlen(sealed), true, box,
	    sizeof box, &n) != 0) {
		rc = fail("%s", "the SO PIN answer is not a sealed box");
		goto out;
	}
	if (ch_box_open(key, box, n, (unsigned char *)out,
	    CH_STATION_SO_PIN_LEN, &got, &why) != 0 ||
	    !st_so_pin_ok(out, got)) {
		OPENSSL_cleanse(out, CH_STATION_SO_PIN_LEN + 1);
		rc = fail("the sealed SO PIN does not open: %s", why != NULL
		    ? why : "not an SO PIN");
		goto out;
	}
	out[got] = '\0';
	rc = 0;
out:
	json_decref(ans);
	json_decref(body);
	free(b64);
	OPENSSL_free(der);
	EVP_PKEY_free(key);	/* the one-time key is gone: the box with it */
	return rc;
}

/* 6: the key request, signed on the key.  The PEM text (malloc'd) or
 * NULL after printing why. */
static char *
make_csr(ch_token_t *t, const json_t *app, EVP_PKEY *pub,
    const unsigned char *id)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = NULL;
	ch_key_t *k = NULL;
	const char *why = "the request cannot be made";
	char *pem = NULL, *data;
	BIO *b = NULL;
	long n;

	if (req == NULL || (name = st_csr_subject(app, &why)) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1)
		goto out;
	why = "the key on the USB key does not sign";
	if (ch_token_key(t, CH_KEYREF_PRIVATE, KEY_LABEL, id, KEY_ID_LEN,
	    &k) != 0 || X509_REQ_sign(req, ch_key_pkey(k), EVP_sha256()) <= 0 ||
	    X509_REQ_verify(req, pub) != 1)
		goto out;
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(b, req) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0 ||
	    (pem = malloc((size_t)n + 1)) == NULL)
		goto out;
	memcpy(pem, data, (size_t)n);
	pem[n] = '\0';
out:
	if (pem == NULL)
		fail("%s", why);
	BIO_free(b);
	ch_key_close(k);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return pem;
}

/* 6: send it. */
static int
send_csr(st_api_t *api, long long app_id, const char *serial,
    const char *pem)
{
	static const long ok[] = { 202, 201, 200, 0 };
	json_t *body = json_pack("{s:s,s:s}", "csr", pem, "usb_key_serial",
	    serial);
	char path[80];
	int rc;

	snprintf(path, sizeof path, "/api/v1/applications/%lld/csr", app_id);
	rc = call(api, "POST", path, body, ok, NULL);
	json_decref(body);
	return rc;
}

/* 7: waits up to wait_s seconds for the certificate (GET
 * /applications/{id}/certificate as PEM: 404 until it is issued), asking
 * four times a second (a signer that is up issues within one).  It or
 * NULL after printing why. */
static X509 *
await_certificate(st_api_t *api, long long app_id, int wait_s)
{
	char path[80], *text;
	json_t *problem;
	size_t len;
	long status;
	X509 *x;

	snprintf(path, sizeof path, "/api/v1/applications/%lld/certificate",
	    app_id);
	for (long long end = ch_monotonic_ms() + wait_s * 1000LL;
	    ch_monotonic_ms() <= end; usleep(250 * 1000)) {
		if (st_api_raw(api, "GET", path, NULL, "application/x-pem-file",
		    &status, &text, &len) != 0)
			return NULL;
		if (status == 200) {
			x = st_cert_parse(text);
			free(text);
			if (x == NULL)
				fail("%s: the answer is not a PEM certificate",
				    path);
			return x;
		}
		problem = text != NULL ? json_loadb(text, len, 0, NULL) : NULL;
		free(text);
		if (status != 404) {
			st_api_refused(path, status, problem);
			json_decref(problem);
			return NULL;
		}
		json_decref(problem);
	}
	fail("no certificate was issued within %d s (--wait)", wait_s);
	return NULL;
}

/* 7: one seal's DER (GET /seals/{id}/der), checked to name leaf, written
 * to t.  0, or 1 after printing why. */
static int
write_seal(st_api_t *api, ch_token_t *t, X509 *leaf, long long id,
    const char *es_id)
{
	char path[80], *der = NULL;
	ch_seal_result_t res;
	ch_seal_t *seal = NULL;
	size_t len = 0;
	long status;
	int rc = 1;

	if (es_id == NULL)
		return fail("/api/v1/seals: seal %lld has no es_id", id);
	snprintf(path, sizeof path, "/api/v1/seals/%lld/der", id);
	if (st_api_raw(api, "GET", path, NULL, "application/octet-stream",
	    &status, &der, &len) != 0)
		return 1;
	if (status != 200) {
		fail("%s: HTTP %ld", path, status);
		goto out;
	}
	if ((seal = ch_seal_parse(der, len, &res)) == NULL ||
	    ch_seal_view(seal)->owner == NULL ||
	    X509_cmp(ch_seal_view(seal)->owner, leaf) != 0 ||
	    strcmp(ch_seal_view(seal)->es_id, es_id) != 0) {
		fail("%s: not a seal of the certificate on this key", path);
		goto out;
	}
	if (ch_station_write_seal(t, es_id, (const unsigned char *)der, len)
	    != 0) {
		fail("the usb key does not take seal %s (see the log)", es_id);
		goto out;
	}
	rc = 0;
out:
	ch_seal_free(seal);
	free(der);
	return rc;
}

/* 7: waits up to wait_s seconds for the seals application app asked for
 * ("seals"), then writes each to t.  0, or 1 after printing why. */
static int
write_seals(st_api_t *api, ch_token_t *t, const json_t *app, X509 *leaf,
    int wait_s)
{
	static const long ok[] = { 200, 0 };
	json_int_t want = json_integer_value(json_object_get(app, "seals"));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char path[160], *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	json_t *list = NULL, *items = NULL, *item;
	size_t i;
	int rc = 1;

	BN_free(bn);
	if (want <= 0) {
		OPENSSL_free(hex);
		return 0;
	}
	if (hex == NULL)
		return fail("%s", "the certificate's serial cannot be read");
	snprintf(path, sizeof path, "/api/v1/seals?certificate_serial=%s&"
	    "limit=100", hex);
	OPENSSL_free(hex);
	for (long long end = ch_monotonic_ms() + wait_s * 1000LL;;
	    usleep(250 * 1000)) {
		json_decref(list);
		list = NULL;
		if (call(api, "GET", path, NULL, ok, &list) != 0)
			return 1;
		items = json_object_get(list, "items");
		if ((json_int_t)json_array_size(items) >= want)
			break;
		if (ch_monotonic_ms() > end) {
			json_decref(list);
			return fail("%lld seal(s) asked for, %zu made within %d s "
			    "(--wait)", (long long)want, json_array_size(items),
			    wait_s);
		}
	}
	json_array_foreach(items, i, item) {
		if (write_seal(api, t, leaf, (long long)json_integer_value(
		    json_object_get(item, "id")), json_string_value(
		    json_object_get(item, "es_id"))) != 0)
			goto out;
	}
	printf("%zu e-seal(s) written to the key\n", json_array_size(items));
	rc = 0;
out:
	json_decref(list);
	return rc;
}

/* 7: the chain above the leaf. */
static STACK_OF(X509) *
load_chain(st_api_t *api, X509 *leaf)
{
	static const long ok[] = { 200, 0 };
	STACK_OF(X509) *chain;
	const char *why;
	json_t *ca;

	if (call(api, "GET", "/api/v1/ca", NULL, ok, &ca) != 0)
		return NULL;
	if ((chain = st_chain_from_ca(ca, leaf, &why)) == NULL)
		fail("%s", why);
	json_decref(ca);
	return chain;
}

/* 9 and 10. */
static int
hand_over(st_api_t *api, const char *serial, const char *pin)
{
	static const long accepted[] = { 202, 0 }, ok[] = { 200, 0 };
	json_t *body = json_pack("{s:s}", "pin", pin), *empty = json_object();
	char path[80];
	int rc;

	snprintf(path, sizeof path, "/api/v1/usb-keys/%s/user-pin", serial);
	rc = call(api, "POST", path, body, accepted, NULL);
	/* Jansson keeps its own copy of the string: wipe it too. */
	if (body != NULL) {
		json_t *v = json_object_get(body, "pin");

		OPENSSL_cleanse((char *)json_string_value(v),
		    json_string_length(v));
	}
	json_decref(body);
	if (rc == 0) {
		snprintf(path, sizeof path, "/api/v1/usb-keys/%s/personalised",
		    serial);
		rc = call(api, "POST", path, empty, ok, NULL);
	}
	json_decref(empty);
	return rc;
}

/* ---- the whole -------------------------------------------------------------- */

int
st_personalise(st_api_t *api, long long app_id, const st_personalise_t *o)
{
	char so_pin[CH_STATION_SO_PIN_LEN + 1] = "";
	char factory[FACTORY_PIN_MAX] = "";
	char pin[ST_PIN_DIGITS + 1] = "";
	unsigned char id[KEY_ID_LEN];
	ch_token_config_t cfg = { .module = o->module };
	ch_keygen_t spec = { o->p256 ? CH_KEY_EC_P256 : CH_KEY_RSA_2048,
	    KEY_LABEL, id, sizeof id };
	STACK_OF(X509) *chain = NULL;
	ch_token_t *t = NULL;
	json_t *app = NULL;
	EVP_PKEY *pub = NULL;
	X509 *leaf = NULL;
	char *csr = NULL;
	bool again;
	st_key_t key;
	int rc = 1;

	if (load_application(api, app_id, &app) != 0 || find_key(o, &key) != 0)
		goto out;
	printf("usb key %s (label \"%s\") for application %lld\n", key.serial,
	    key.label, app_id);
	if (bind_key(api, app_id, key.serial) != 0 ||
	    fetch_so_pin(api, key.serial, so_pin) != 0)
		goto out;

	/* 5: a key labelled with its serial was initialised here before and
	 * has its derived SO PIN; a blank one has its maker's. */
	again = strcmp(key.label, key.serial) == 0;
	if (!again && ch_token_read_secret(o->factory_so_pin, factory,
	    sizeof factory) != 0) {
		fail("%s", "the maker's SO PIN cannot be read "
		    "(--factory-so-pin)");
		goto out;
	}
	cfg.serial = key.serial;
	if (ch_token_open(&cfg, &t) != 0 ||
	    ch_station_init_token(t, again ? so_pin : factory, so_pin) != 0) {
		fail("usb key %s cannot be initialised (see the log)",
		    key.serial);
		goto out;
	}
	OPENSSL_cleanse(factory, sizeof factory);
	st_pin_new(pin);
	if (ch_station_init_user_pin(t, so_pin, pin) != 0 ||
	    ch_token_login(t, pin) != 0) {
		fail("usb key %s refuses its user PIN (see the log)",
		    key.serial);
		goto out;
	}
	OPENSSL_cleanse(so_pin, sizeof so_pin);
	printf("usb key %s initialised\n", key.serial);

	/* 6. */
	ch_random(id, sizeof id);
	if (ch_token_generate_keypair(t, &spec, &pub) != 0) {
		fail("no key pair could be made on usb key %s", key.serial);
		goto out;
	}
	if ((csr = make_csr(t, app, pub, id)) == NULL ||
	    send_csr(api, app_id, key.serial, csr) != 0)
		goto out;
	printf("key pair (%s) made on the key; request sent, waiting for the "
	    "certificate\n", o->p256 ? "P-256" : "RSA-2048");

	/* 7. */
	if ((leaf = await_certificate(api, app_id, o->wait_s)) == NULL ||
	    (chain = load_chain(api, leaf)) == NULL)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), pub) != 1) {
		fail("%s", "the certificate issued is not for the key on the "
		    "USB key");
		goto out;
	}
	if (ch_station_write_certs(t, KEY_LABEL, id, sizeof id, leaf,
	    chain) != 0) {
		fail("usb key %s does not take its certificates (see the log)",
		    key.serial);
		goto out;
	}
	if (write_seals(api, t, app, leaf, o->wait_s) != 0)
		goto out;
	ch_token_logout(t);
	ch_token_close(t);	/* the module unloads: libp11 may load it */
	t = NULL;

	/* 8-10. */
	if (st_keys_check(o->module, key.serial, leaf, chain) != 0 ||
	    hand_over(api, key.serial, pin) != 0)
		goto out;
	printf("usb key %s personalised; the user PIN went to the handler by "
	    "SMS\n", key.serial);
	rc = 0;
out:
	OPENSSL_cleanse(so_pin, sizeof so_pin);
	OPENSSL_cleanse(factory, sizeof factory);
	OPENSSL_cleanse(pin, sizeof pin);
	if (t != NULL) {
		ch_token_logout(t);
		ch_token_close(t);
	}
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	free(csr);
	EVP_PKEY_free(pub);
	json_decref(app);
	return rc;
}
