/*
 * The station's pure pieces (station.h): the user PIN, the SO PIN's shape,
 * the key request's subject, and the CA chain from GET /api/v1/ca.
 */
#include "station.h"

#include "certhall/base/crypto.h"

#include <jansson.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

void
st_pin_new(char pin[ST_PIN_DIGITS + 1])
{
	for (int i = 0; i < ST_PIN_DIGITS; i++)
		pin[i] = (char)('0' + ch_random_below(10));
	pin[ST_PIN_DIGITS] = '\0';
}

bool
st_so_pin_ok(const char *s, size_t len)
{
	if (len != 16)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return false;
	return true;
}

/* Adds a UTF8String attribute; 0 or -1. */
static int
add_utf8(X509_NAME *name, int nid, const char *value)
{
	return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
	    (const unsigned char *)value, -1, -1, 0) == 1 ? 0 : -1;
}

X509_NAME *
st_csr_subject(const json_t *app, const char **why)
{
	const char *type = json_string_value(json_object_get(app,
	    "certificate_type"));
	const char *unit = json_string_value(json_object_get(app, "unit_name"));
	const char *holder = json_string_value(json_object_get(app,
	    "holder_name"));
	const char *cn = type != NULL && strcmp(type, "personal") == 0
	    ? holder : unit;
	X509_NAME *name;

	if (type == NULL || unit == NULL || cn == NULL) {
		*why = "the application has no certificate type, unit name or "
		    "holder name";
		return NULL;
	}
	if ((name = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_countryName, MBSTRING_ASC,
	    (const unsigned char *)"CN", -1, -1, 0) != 1 ||
	    add_utf8(name, NID_organizationName, unit) != 0 ||
	    add_utf8(name, NID_commonName, cn) != 0) {
		X509_NAME_free(name);
		*why = "the subject cannot be encoded";
		return NULL;
	}
	return name;
}

X509 *
st_cert_parse(const char *text)
{
	unsigned char der[8192];
	const unsigned char *p = der;
	X509 *x = NULL;
	size_t n;
	BIO *b;

	if (text == NULL)
		return NULL;
	if (strncmp(text, "-----BEGIN", 10) == 0) {
		if ((b = BIO_new_mem_buf(text, -1)) == NULL)
			return NULL;
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		return x;
	}
	if (ch_unbase64(text, strlen(text), true, der, sizeof der, &n) != 0)
		return NULL;
	x = d2i_X509(NULL, &p, (long)n);
	if (x != NULL && p != der + n) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The PEM of the CA certificate of role in the answer of GET /api/v1/ca:
 * an array of {"role", "pem", ...} under "certificates" or "items", or
 * the answer itself. */
static const char *
ca_pem(const json_t *ca, const char *role)
{
	const json_t *list = json_object_get(ca, "certificates"), *c;
	size_t i;

	if (list == NULL)
		list = json_object_get(ca, "items");
	if (list == NULL)
		list = ca;
	json_array_foreach(list, i, c) {
		const char *r = json_string_value(json_object_get(c, "role"));

		if (r != NULL && strcmp(r, role) == 0)
			return json_string_value(json_object_get(c, "pem"));
	}
	return NULL;
}

STACK_OF(X509) *
st_chain_from_ca(const json_t *ca, const char **why)
{
	static const char *const roles[] = { "issuing", "root" };
	STACK_OF(X509) *chain = sk_X509_new_null();

	if (chain == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		X509 *x = st_cert_parse(ca_pem(ca, roles[i]));

		if (x == NULL || sk_X509_push(chain, x) <= 0) {
			X509_free(x);
			sk_X509_pop_free(chain, X509_free);
			*why = i == 0 ? "GET /api/v1/ca has no issuing CA "
			    "certificate" : "GET /api/v1/ca has no root "
			    "certificate";
			return NULL;
		}
	}
	return chain;
}
