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
#include <openssl/x509v3.h>

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

/* How many CA certificates a chain may have above the leaf. */
#define CHAIN_MAX 4

STACK_OF(X509) *
st_chain_from_ca(const json_t *ca, X509 *leaf, const char **why)
{
	STACK_OF(X509) *all = sk_X509_new_null(), *chain = sk_X509_new_null();
	const json_t *item;
	X509 *below = leaf;
	size_t i;

	*why = "out of memory";
	if (all == NULL || chain == NULL)
		goto fail;
	json_array_foreach(json_object_get(ca, "items"), i, item) {
		X509 *x = st_cert_parse(json_string_value(json_object_get(item,
		    "pem")));

		if (x != NULL && sk_X509_push(all, x) <= 0) {
			X509_free(x);
			goto fail;
		}
	}
	/* Up from the leaf to a self-signed certificate. */
	while (X509_check_issued(below, below) != X509_V_OK) {
		X509 *up = NULL;

		for (int j = 0; j < sk_X509_num(all) && up == NULL; j++)
			if (X509_check_issued(sk_X509_value(all, j), below) ==
			    X509_V_OK)
				up = sk_X509_value(all, j);
		if (up == NULL || sk_X509_num(chain) == CHAIN_MAX) {
			*why = below == leaf ? "GET /api/v1/ca has no "
			    "certificate of the certificate's issuer" : "GET "
			    "/api/v1/ca has no root above the issuing CA";
			goto fail;
		}
		if (!X509_up_ref(up) || sk_X509_push(chain, up) <= 0) {
			X509_free(up);
			goto fail;
		}
		below = up;
	}
	sk_X509_pop_free(all, X509_free);
	return chain;
fail:
	sk_X509_pop_free(all, X509_free);
	sk_X509_pop_free(chain, X509_free);
	return NULL;
}
