/*
 * X.509 profiles and the certificate builder (certhall/codec/x509.h): the
 * profile table, subject attributes, the key policy and serials.
 */
#include "x509_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define KU_SUBSCRIBER (X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION)
#define KU_CA (X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN)

static const ch_profile_rule_t profiles[CH_PROFILE__MAX] = {
	[CH_PROFILE_ORG] = { "org", false, -1, KU_SUBSCRIBER, false,
	    CH_URL_REQUIRED, CH_URL_REQUIRED, CH_URL_REQUIRED, true, 5,
	    CH_X509_RENEW_DAYS },
	[CH_PROFILE_PERSONAL] = { "personal", false, -1, KU_SUBSCRIBER, false,
	    CH_URL_REQUIRED, CH_URL_REQUIRED, CH_URL_REQUIRED, true, 5,
	    CH_X509_RENEW_DAYS },
	[CH_PROFILE_ROOT] = { "root", true, -1, KU_CA, false,
	    CH_URL_NO, CH_URL_NO, CH_URL_NO, false, 30, 0 },
	[CH_PROFILE_ISSUING] = { "issuing", true, 0, KU_CA, false,
	    CH_URL_OPTIONAL, CH_URL_OPTIONAL, CH_URL_OPTIONAL, true, 20, 0 },
	[CH_PROFILE_OCSP] = { "ocsp", false, -1, X509v3_KU_DIGITAL_SIGNATURE,
	    true, CH_URL_NO, CH_URL_NO, CH_URL_NO, false, 1, 0 },
	[CH_PROFILE_SEAL] = { "seal", false, -1, KU_SUBSCRIBER, false,
	    CH_URL_REQUIRED, CH_URL_REQUIRED, CH_URL_REQUIRED, true, 10, 0 },
};

const ch_profile_rule_t *
ch_x509_profile(ch_profile_t profile)
{
	return (unsigned)profile < CH_PROFILE__MAX ? &profiles[profile] : NULL;
}

const char *
ch_x509_profile_name(ch_profile_t profile)
{
	return (unsigned)profile < CH_PROFILE__MAX ? profiles[profile].name :
	    "";
}

int
ch_x509_profile_max_years(ch_profile_t profile)
{
	return (unsigned)profile < CH_PROFILE__MAX ?
	    profiles[profile].max_years : 0;
}

void
ch_x509_whyf(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int
ch_x509_serial_new(unsigned char serial[CH_X509_SERIAL_LEN])
{
	/* Cleared top bit: a positive INTEGER without a 0x00 pad; the loop
	 * runs again with probability 2^-127. */
	for (;;) {
		unsigned char any = 0;

		if (RAND_bytes(serial, CH_X509_SERIAL_LEN) != 1) {
			memset(serial, 0, CH_X509_SERIAL_LEN);
			ERR_clear_error();
			return -1;
		}
		serial[0] &= 0x7f;
		for (size_t i = 0; i < CH_X509_SERIAL_LEN; i++)
			any |= serial[i];
		if (any != 0)
			return 0;
	}
}

/* ---- subject ---------------------------------------------------------- */

/*
 * The number of characters in s if it is valid UTF-8 (shortest forms, no
 * surrogates, at most U+10FFFF) without control characters (C0, DEL, C1),
 * else -1.
 */
static long
utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p != '\0') {
		unsigned long c;
		int more;

		if (*p < 0x80) {
			c = *p;
			more = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p & 0x1f;
			more = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p & 0x0f;
			more = 2;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p & 0x07;
			more = 3;
		} else {
			return -1;
		}
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (*p & 0x3f);
		}
		if ((more == 1 && c < 0x80) || (more == 2 && c < 0x800) ||
		    (more == 3 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff) || c < 0x20 ||
		    (c >= 0x7f && c <= 0x9f))
			return -1;
		n++;
	}
	return n;
}

/* A name: 1 to 64 characters of clean UTF-8, no surrounding spaces. */
static int
check_text(const char *field, const char *s, char *why, size_t whylen)
{
	long n;

	if (s == NULL || *s == '\0') {
		ch_x509_whyf(why, whylen, "%s: is required", field);
		return -1;
	}
	n = utf8_chars(s);
	if (n < 0) {
		ch_x509_whyf(why, whylen, "%s: is not valid UTF-8 without "
		    "control characters", field);
		return -1;
	}
	if (n > 64) {
		ch_x509_whyf(why, whylen, "%s: has %ld characters; at most 64 "
		    "fit (RFC 5280 upper bounds)", field, n);
		return -1;
	}
	if (s[0] == ' ' || s[strlen(s) - 1] == ' ') {
		ch_x509_whyf(why, whylen, "%s: begins or ends with a space",
		    field);
		return -1;
	}
	return 0;
}

/* 18 characters, the first 17 from body, the last from last. */
static int
check_code(const char *field, const char *s, const char *body,
    const char *last, char *why, size_t whylen)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i < 18; i++)
		if (strchr(i < 17 ? body : last, s[i]) == NULL)
			break;
	if (s == NULL || i != 18 || s[18] != '\0') {
		ch_x509_whyf(why, whylen, "%s: is not 18 characters of its "
		    "code", field);
		return -1;
	}
	return 0;
}

static int
check_unused(ch_profile_t profile, const char *field, const char *s,
    char *why, size_t whylen)
{
	if (s == NULL)
		return 0;
	ch_x509_whyf(why, whylen, "%s: is not used by the %s profile", field,
	    profiles[profile].name);
	return -1;
}

static void
entry(ch_subj_entry_t *out, size_t *n, int nid, int type,
    const char *prefix, const char *value)
{
	ch_subj_entry_t *e = &out[(*n)++];

	e->nid = nid;
	e->type = type;
	e->field = ch_x509_subject_field(nid);
	snprintf(e->value, sizeof e->value, "%s%s", prefix, value);
}

const char *
ch_x509_subject_field(int nid)
{
	switch (nid) {
	case NID_countryName:
		return "subject.C";
	case NID_organizationName:
		return "subject.O";
	case NID_organizationIdentifier:
		return "subject.organizationIdentifier";
	case NID_commonName:
		return "subject.CN";
	case NID_serialNumber:
		return "subject.serialNumber";
	default:
		return "subject";
	}
}

/* GB 32100's alphabet (no I, O, S, V, Z), and GB 11643's. */
#define CREDIT_ALPHABET "0123456789ABCDEFGHJKLMNPQRTUWXY"
#define DIGITS "0123456789"

int
ch_x509_subject_entries(ch_profile_t profile, const ch_cert_subject_t *s,
    ch_subj_entry_t out[CH_SUBJ_MAX], size_t *n, char *why, size_t whylen)
{
	bool subscriber = profile == CH_PROFILE_ORG ||
	    profile == CH_PROFILE_PERSONAL;
	const char *cn;

	*n = 0;
	if ((unsigned)profile >= CH_PROFILE__MAX) {
		ch_x509_whyf(why, whylen, "profile: is not one of ours");
		return -1;
	}
	if (check_text("subject.unit_name", s->unit_name, why, whylen) != 0 ||
	    ((subscriber || s->credit_code != NULL) &&
	    check_code("subject.credit_code", s->credit_code, CREDIT_ALPHABET,
	    CREDIT_ALPHABET, why, whylen) != 0))
		return -1;
	if (profile == CH_PROFILE_PERSONAL) {
		if (check_text("subject.person_name", s->person_name, why,
		    whylen) != 0 ||
		    check_code("subject.id_number", s->id_number, DIGITS,
		    DIGITS "X", why, whylen) != 0)
			return -1;
	} else if (check_unused(profile, "subject.person_name",
	    s->person_name, why, whylen) != 0 ||
	    check_unused(profile, "subject.id_number", s->id_number, why,
	    whylen) != 0) {
		return -1;
	}
	if (subscriber) {
		if (check_unused(profile, "subject.ca_name", s->ca_name, why,
		    whylen) != 0)
			return -1;
		cn = profile == CH_PROFILE_ORG ? s->unit_name : s->person_name;
	} else {
		if (check_text("subject.ca_name", s->ca_name, why, whylen) != 0)
			return -1;
		cn = s->ca_name;
	}
	entry(out, n, NID_countryName, V_ASN1_PRINTABLESTRING, "", "CN");
	entry(out, n, NID_organizationName, V_ASN1_UTF8STRING, "",
	    s->unit_name);
	if (s->credit_code != NULL)
		entry(out, n, NID_organizationIdentifier, V_ASN1_UTF8STRING,
		    "NTRCN-", s->credit_code);
	entry(out, n, NID_commonName, V_ASN1_UTF8STRING, "", cn);
	if (profile == CH_PROFILE_PERSONAL)
		entry(out, n, NID_serialNumber, V_ASN1_PRINTABLESTRING,
		    "IDCCN-", s->id_number);
	return 0;
}

/* ---- keys ------------------------------------------------------------- */

ch_key_kind_t
ch_x509_key_kind(const EVP_PKEY *key)
{
	/* SM2 first: it is an EC key on another curve underneath. */
	if (key == NULL)
		return CH_KEY__MAX;
	if (EVP_PKEY_is_a(key, "SM2"))
		return CH_KEY_SM2;
	if (EVP_PKEY_is_a(key, "RSA"))
		return CH_KEY_RSA;
	if (EVP_PKEY_is_a(key, "EC"))
		return CH_KEY_EC;
	return CH_KEY__MAX;
}

int
ch_x509_sig_nid(ch_key_kind_t kind)
{
	switch (kind) {
	case CH_KEY_RSA:
		return NID_sha256WithRSAEncryption;
	case CH_KEY_EC:
		return NID_ecdsa_with_SHA256;
	case CH_KEY_SM2:
		return NID_SM2_with_SM3;
	default:
		return NID_undef;
	}
}

/* The curve OID in an EC or SM2 key's AlgorithmIdentifier, or NID_undef
 * when the parameters are explicit (or absent). */
static int
named_curve(X509_PUBKEY *spki)
{
	const X509_ALGOR *alg = NULL;
	const void *pval = NULL;
	int ptype = V_ASN1_UNDEF;

	if (X509_PUBKEY_get0_param(NULL, NULL, NULL, (X509_ALGOR **)&alg,
	    spki) != 1)
		return NID_undef;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	return ptype == V_ASN1_OBJECT ? OBJ_obj2nid(pval) : NID_undef;
}

static int
check_rsa(EVP_PKEY *key, const char **why)
{
	BIGNUM *e = NULL;
	int bits = EVP_PKEY_get_bits(key), rc = -1;

	if (bits < 2048 || bits > 8192) {
		*why = bits < 2048 ? "is an RSA key of fewer than 2048 bits; "
		    "2048 to 8192 are accepted" : "is an RSA key of more than "
		    "8192 bits; 2048 to 8192 are accepted";
		goto out;
	}
	if (bits % 8 != 0) {
		*why = "is an RSA key whose size is not a multiple of 8 bits";
		goto out;
	}
	if (EVP_PKEY_get_bn_param(key, "e", &e) != 1 || !BN_is_odd(e) ||
	    BN_num_bits(e) <= 16 || BN_num_bits(e) > 256) {
		*why = "is an RSA key whose public exponent is not odd and "
		    "between 2^16 and 2^256";
		goto out;
	}
	rc = 0;
out:
	BN_free(e);
	return rc;
}

/* The policy on the DER of a SubjectPublicKeyInfo, decoded afresh so that
 * a token's key is judged by what the certificate will say; with valid,
 * OpenSSL's public-key check as well. */
static int
check_spki_der(const unsigned char *der, long len, bool valid,
    const char **why)
{
	const unsigned char *p = der;
	X509_PUBKEY *spki = d2i_X509_PUBKEY(NULL, &p, len);
	EVP_PKEY *key = spki != NULL ? X509_PUBKEY_get0(spki) : NULL;
	EVP_PKEY_CTX *ctx = NULL;
	char group[32];
	size_t glen = 0;
	int rc = -1;

	if (key == NULL) {
		*why = "is not a public key that can be read";
		goto out;
	}
	switch (ch_x509_key_kind(key)) {
	case CH_KEY_RSA:
		if (check_rsa(key, why) != 0)
			goto out;
		break;
	case CH_KEY_EC:
		if (EVP_PKEY_get_group_name(key, group, sizeof group,
		    &glen) != 1 || strcmp(group, "prime256v1") != 0) {
			*why = "is an EC key on a curve other than P-256";
			goto out;
		}
		if (named_curve(spki) != NID_X9_62_prime256v1) {
			*why = "is an EC key with explicit curve parameters; "
			    "only the named curve P-256 is accepted";
			goto out;
		}
		break;
	case CH_KEY_SM2:
		if (named_curve(spki) != NID_sm2) {
			*why = "is an SM2 key without the named SM2 curve";
			goto out;
		}
		break;
	default:
		*why = "is neither RSA, EC P-256 nor SM2";
		goto out;
	}
	if (!valid) {
		rc = 0;
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
		*why = "fails the public key check (not a valid key of its "
		    "kind)";
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	X509_PUBKEY_free(spki);
	ERR_clear_error();
	return rc;
}

/* The policy on what an i2d gave: n bytes at der (n <= 0: it failed);
 * frees der. */
static int
check_encoded(unsigned char *der, int n, bool valid, const char **why)
{
	int rc = -1;

	if (n <= 0)
		*why = "cannot be encoded as a public key";
	else
		rc = check_spki_der(der, n, valid, why);
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

int
ch_x509_spki_check(X509_PUBKEY *spki, const char **why)
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(spki, &der);

	return check_encoded(der, n, true, why);
}

int
ch_x509_spki_policy(X509_PUBKEY *spki, const char **why)
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(spki, &der);

	return check_encoded(der, n, false, why);
}

int
ch_x509_key_check(EVP_PKEY *key, const char **why)
{
	unsigned char *der = NULL;
	int n = key != NULL ? i2d_PUBKEY(key, &der) : 0;

	return check_encoded(der, n, true, why);
}

int
ch_x509_key_id(const X509_PUBKEY *spki, unsigned char out[SHA_DIGEST_LENGTH])
{
	const unsigned char *pk = NULL;
	int pklen = 0;

	if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, spki) != 1 ||
	    pk == NULL || EVP_Digest(pk, (size_t)pklen, out, NULL, EVP_sha1(),
	    NULL) != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

ASN1_OCTET_STRING *
ch_x509_sm2_id_new(void)
{
	ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();

	if (id != NULL && ASN1_OCTET_STRING_set(id,
	    (const unsigned char *)CH_X509_SM2_ID,
	    (int)strlen(CH_X509_SM2_ID)) != 1) {
		ASN1_OCTET_STRING_free(id);
		id = NULL;
	}
	return id;
}

/* ---- the builder ------------------------------------------------------ */

/* An http:// URL of printable ASCII without spaces, or NULL. */
static int
check_url(const ch_profile_rule_t *p, ch_url_rule_t rule, const char *field,
    const char *url, char *why, size_t whylen)
{
	if (url == NULL) {
		if (rule != CH_URL_REQUIRED)
			return 0;
		ch_x509_whyf(why, whylen, "%s: is required for the %s profile",
		    field, p->name);
		return -1;
	}
	if (rule == CH_URL_NO) {
		ch_x509_whyf(why, whylen, "%s: is not used by the %s profile",
		    field, p->name);
		return -1;
	}
	return ch_x509_url_check(field, url, why, whylen);
}

int
ch_x509_url_check(const char *field, const char *url, char *why,
    size_t whylen)
{
	size_t len = strlen(url);

	for (size_t i = 0; i < len; i++) {
		if (url[i] <= ' ' || url[i] > '~') {
			ch_x509_whyf(why, whylen, "%s: has a character that is "
			    "not printable ASCII", field);
			return -1;
		}
	}
	if (strncmp(url, "http://", 7) != 0 || len <= 7 ||
	    len > CH_X509_URL_MAX) {
		ch_x509_whyf(why, whylen, "%s: is not an http:// URL of at "
		    "most %d characters", field, CH_X509_URL_MAX);
		return -1;
	}
	return 0;
}

/*
 * A dotted OID as X.660 allows (first arc 0-2, second below 40 under 0 and
 * 1, no leading zeros), at least three arcs, each at most
 * CH_X509_OID_ARC_MAX so that every parser we know of reads it.
 */
static int
check_oid(const char *s)
{
	unsigned long arc[2] = { 0, 0 };
	int n = 0;

	for (;;) {
		unsigned long v = 0;
		const char *start = s;

		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned long)(*s++ - '0');
			if (v > CH_X509_OID_ARC_MAX)
				return -1;
		}
		if (s == start || (s - start > 1 && *start == '0'))
			return -1;
		if (n < 2)
			arc[n] = v;
		n++;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return -1;
	}
	return n >= 3 && arc[0] <= 2 && (arc[0] == 2 || arc[1] < 40) ? 0 : -1;
}

static int
check_spec(const ch_cert_spec_t *spec, char *why, size_t whylen)
{
	const ch_profile_rule_t *p = ch_x509_profile(spec->profile);
	ASN1_OBJECT *oid = NULL;

	if (p == NULL) {
		ch_x509_whyf(why, whylen, "profile: is not one of ours");
		return -1;
	}
	if (spec->serial == NULL || spec->serial_len == 0 ||
	    spec->serial_len > CH_X509_SERIAL_MAX) {
		ch_x509_whyf(why, whylen, "serial: must be 1 to %d bytes",
		    CH_X509_SERIAL_MAX);
		return -1;
	}
	if (spec->not_before >= spec->not_after) {
		ch_x509_whyf(why, whylen, "not_after: is not after not_before");
		return -1;
	}
	if (spec->years < 1 || spec->years > p->max_years) {
		ch_x509_whyf(why, whylen, "years: must be 1 to %d for the %s "
		    "profile", p->max_years, p->name);
		return -1;
	}
	if (spec->public_key == NULL) {
		ch_x509_whyf(why, whylen, "public_key: is required");
		return -1;
	}
	if ((spec->issuer == NULL) != (spec->profile == CH_PROFILE_ROOT)) {
		ch_x509_whyf(why, whylen, "issuer: %s", spec->issuer == NULL ?
		    "is required below the root" : "must be NULL for a "
		    "self-signed root");
		return -1;
	}
	if (check_url(p, p->crl, "crl_url", spec->crl_url, why, whylen) != 0 ||
	    check_url(p, p->ocsp, "ocsp_url", spec->ocsp_url, why,
	    whylen) != 0 ||
	    check_url(p, p->ca_issuers, "ca_issuers_url",
	    spec->ca_issuers_url, why, whylen) != 0)
		return -1;
	if ((spec->policy_oid != NULL) != p->policies) {
		ch_x509_whyf(why, whylen, "policy_oid: %s the %s profile",
		    p->policies ? "is required for" : "is not used by",
		    p->name);
		return -1;
	}
	if (spec->policy_oid != NULL) {
		if (check_oid(spec->policy_oid) != 0 ||
		    (oid = OBJ_txt2obj(spec->policy_oid, 1)) == NULL) {
			ch_x509_whyf(why, whylen, "policy_oid: is not a dotted "
			    "object identifier with arcs up to %lu",
			    CH_X509_OID_ARC_MAX);
			ERR_clear_error();
			return -1;
		}
		ASN1_OBJECT_free(oid);
	}
	return 0;
}

static X509_NAME *
subject_name(const ch_cert_spec_t *spec, char *why, size_t whylen)
{
	ch_subj_entry_t e[CH_SUBJ_MAX];
	X509_NAME *name = NULL;
	size_t n;

	if (ch_x509_subject_entries(spec->profile, &spec->subject, e, &n, why,
	    whylen) != 0)
		return NULL;
	if ((name = X509_NAME_new()) == NULL)
		goto fail;
	/* An explicit string type, not MBSTRING_*: OpenSSL then takes the
	 * bytes as they are instead of choosing by its global mask. */
	for (size_t i = 0; i < n; i++)
		if (X509_NAME_add_entry_by_NID(name, e[i].nid, e[i].type,
		    (const unsigned char *)e[i].value, -1, -1, 0) != 1)
			goto fail;
	return name;
fail:
	X509_NAME_free(name);
	ch_x509_whyf(why, whylen, "subject: cannot be encoded");
	return NULL;
}

/* Adds extension nid with value (encoded here) to x, once.  0, or -1. */
static int
add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_DEFAULT) == 1 ?
	    0 : -1;
}

static GENERAL_NAME *
uri_name(const char *url)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (gn == NULL || s == NULL ||
	    ASN1_STRING_set(s, url, (int)strlen(url)) != 1) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

static int
add_basic_constraints(X509 *x, const ch_profile_rule_t *p)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	int rc = -1;

	if (bc == NULL)
		goto out;
	bc->ca = p->ca ? 0xff : 0;
	if (p->pathlen >= 0 && ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set(bc->pathlen, p->pathlen) != 1))
		goto out;
	rc = add_ext(x, NID_basic_constraints, bc, 1);
out:
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

static int
add_key_usage(X509 *x, uint32_t ku)
{
	/* X509v3_KU_* bit b of the first octet is BIT STRING bit 7 - b. */
	ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
	int rc = -1;

	if (bits == NULL)
		goto out;
	for (int b = 0; b < 8; b++)
		if ((ku & (0x80u >> b)) != 0 &&
		    ASN1_BIT_STRING_set_bit(bits, b, 1) != 1)
			goto out;
	rc = add_ext(x, NID_key_usage, bits, 1);
out:
	ASN1_BIT_STRING_free(bits);
	return rc;
}

static int
add_ocsp_signing(X509 *x)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	ASN1_NULL *nul = ASN1_NULL_new();
	int rc = -1;

	if (eku == NULL || nul == NULL ||
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_OCSP_sign)) <= 0)
		goto out;
	if (add_ext(x, NID_ext_key_usage, eku, 0) == 0 &&
	    add_ext(x, NID_id_pkix_OCSP_noCheck, nul, 0) == 0)
		rc = 0;
out:
	/* OBJ_nid2obj gives a static object: nothing to free in eku. */
	sk_ASN1_OBJECT_free(eku);
	ASN1_NULL_free(nul);
	return rc;
}

static int
add_key_ids(X509 *x, X509 *issuer)
{
	unsigned char id[SHA_DIGEST_LENGTH];
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	const ASN1_OCTET_STRING *issuer_ski;
	int rc = -1;

	if (ski == NULL || aki == NULL ||
	    ch_x509_key_id(X509_get_X509_PUBKEY(x), id) != 0 ||
	    ASN1_OCTET_STRING_set(ski, id, sizeof id) != 1)
		goto out;
	issuer_ski = issuer != NULL ? X509_get0_subject_key_id(issuer) : ski;
	if (issuer_ski == NULL ||
	    (aki->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) == NULL)
		goto out;
	if (add_ext(x, NID_subject_key_identifier, ski, 0) == 0 &&
	    add_ext(x, NID_authority_key_identifier, aki, 0) == 0)
		rc = 0;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(aki);
	return rc;
}

static int
add_crl_dp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	int rc = -1;

	if (dps == NULL || dp == NULL ||
	    (dp->distpoint = ch_x509_dp_name(url)) == NULL ||
	    sk_DIST_POINT_push(dps, dp) <= 0)
		goto out;
	dp = NULL;
	rc = add_ext(x, NID_crl_distribution_points, dps, 0);
out:
	DIST_POINT_free(dp);
	CRL_DIST_POINTS_free(dps);
	return rc;
}

DIST_POINT_NAME *
ch_x509_dp_name(const char *url)
{
	DIST_POINT_NAME *name = DIST_POINT_NAME_new();
	GENERAL_NAME *gn = uri_name(url);

	if (name == NULL || gn == NULL ||
	    (name->name.fullname = GENERAL_NAMES_new()) == NULL ||
	    sk_GENERAL_NAME_push(name->name.fullname, gn) <= 0) {
		GENERAL_NAME_free(gn);
		DIST_POINT_NAME_free(name);
		return NULL;
	}
	name->type = 0;		/* fullName */
	return name;
}

static int
push_access(AUTHORITY_INFO_ACCESS *aia, int method, const char *url)
{
	ACCESS_DESCRIPTION *ad;

	if (url == NULL)
		return 0;
	if ((ad = ACCESS_DESCRIPTION_new()) == NULL)
		return -1;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(method);
	GENERAL_NAME_free(ad->location);
	if ((ad->location = uri_name(url)) == NULL ||
	    sk_ACCESS_DESCRIPTION_push(aia, ad) <= 0) {
		ACCESS_DESCRIPTION_free(ad);
		return -1;
	}
	return 0;
}

static int
add_aia(X509 *x, const char *ocsp, const char *ca_issuers)
{
	AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
	int rc = -1;

	if (aia != NULL && push_access(aia, NID_ad_OCSP, ocsp) == 0 &&
	    push_access(aia, NID_ad_ca_issuers, ca_issuers) == 0)
		rc = add_ext(x, NID_info_access, aia, 0);
	AUTHORITY_INFO_ACCESS_free(aia);
	return rc;
}

static int
add_policies(X509 *x, const char *oid)
{
	CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
	POLICYINFO *pi = POLICYINFO_new();
	int rc = -1;

	if (cp == NULL || pi == NULL)
		goto out;
	ASN1_OBJECT_free(pi->policyid);
	if ((pi->policyid = OBJ_txt2obj(oid, 1)) == NULL ||
	    sk_POLICYINFO_push(cp, pi) <= 0)
		goto out;
	pi = NULL;
	rc = add_ext(x, NID_certificate_policies, cp, 0);
out:
	POLICYINFO_free(pi);
	CERTIFICATEPOLICIES_free(cp);
	return rc;
}

static int
add_extensions(X509 *x, const ch_cert_spec_t *spec)
{
	const ch_profile_rule_t *p = ch_x509_profile(spec->profile);

	if (add_basic_constraints(x, p) != 0 ||
	    add_key_usage(x, p->key_usage) != 0 ||
	    (p->ocsp_signing && add_ocsp_signing(x) != 0) ||
	    add_key_ids(x, spec->issuer) != 0 ||
	    (spec->crl_url != NULL && add_crl_dp(x, spec->crl_url) != 0) ||
	    ((spec->ocsp_url != NULL || spec->ca_issuers_url != NULL) &&
	    add_aia(x, spec->ocsp_url, spec->ca_issuers_url) != 0) ||
	    (p->policies && add_policies(x, spec->policy_oid) != 0))
		return -1;
	return 0;
}

static int
set_serial(X509 *x, const ch_cert_spec_t *spec)
{
	BIGNUM *bn = BN_bin2bn(spec->serial, (int)spec->serial_len, NULL);
	ASN1_INTEGER *serial = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	int rc = serial != NULL && X509_set_serialNumber(x, serial) == 1 ?
	    0 : -1;

	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return rc;
}

static int
set_validity(X509 *x, const ch_cert_spec_t *spec)
{
	/* ASN1_TIME_set picks UTCTime for 1950-2049 and GeneralizedTime
	 * otherwise, RFC 5280 §4.1.2.5's rule. */
	ASN1_TIME *nb = ASN1_TIME_set(NULL, spec->not_before);
	ASN1_TIME *na = ASN1_TIME_set(NULL, spec->not_after);
	int rc = nb != NULL && na != NULL && X509_set1_notBefore(x, nb) == 1 &&
	    X509_set1_notAfter(x, na) == 1 ? 0 : -1;

	ASN1_TIME_free(nb);
	ASN1_TIME_free(na);
	return rc;
}

X509 *
ch_x509_build(const ch_cert_spec_t *spec, char *why, size_t whylen)
{
	X509_NAME *subject = NULL;
	X509 *x = NULL;

	if (check_spec(spec, why, whylen) != 0 ||
	    (subject = subject_name(spec, why, whylen)) == NULL)
		goto fail;
	if (spec->issuer != NULL &&
	    X509_get0_subject_key_id(spec->issuer) == NULL) {
		ch_x509_whyf(why, whylen, "issuer: has no subject key "
		    "identifier to name it by");
		goto fail;
	}
	if ((x = X509_new()) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    set_serial(x, spec) != 0 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, spec->issuer != NULL ?
	    X509_get_subject_name(spec->issuer) : subject) != 1 ||
	    set_validity(x, spec) != 0) {
		ch_x509_whyf(why, whylen, "certificate: cannot be assembled");
		goto fail;
	}
	if (X509_set_pubkey(x, spec->public_key) != 1) {
		ch_x509_whyf(why, whylen, "public_key: cannot be encoded");
		goto fail;
	}
	if (add_extensions(x, spec) != 0) {
		ch_x509_whyf(why, whylen, "extensions: cannot be encoded");
		goto fail;
	}
	X509_NAME_free(subject);
	ERR_clear_error();
	return x;
fail:
	X509_NAME_free(subject);
	X509_free(x);
	ERR_clear_error();
	return NULL;
}
