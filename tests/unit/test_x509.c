/*
 * X.509 profiles, build, lint and sign (certhall/codec/x509.h): software
 * root -> issuing -> subscriber chains for RSA, EC and SM2 CA keys with
 * RSA-2048, P-256 and SM2 subscriber keys, verified with OpenSSL's own
 * chain verification; every lint rule broken alone; the TBS check.
 * tests/codec/check-x509 checks the same chains with the openssl command
 * and python3-cryptography.
 */
#include "test.h"
#include "certhall/codec/x509.h"
#include "../codec/x509_fixture.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* Keys are slow to make (RSA): one of each kind for the whole run. */
static EVP_PKEY *
key(const char *kind)
{
	static const char *const kinds[] = { "rsa2048", "rsa1024", "p256",
	    "p384", "sm2" };
	static EVP_PKEY *made[5];

	for (size_t i = 0; i < 5; i++)
		if (strcmp(kinds[i], kind) == 0)
			return made[i] != NULL ? made[i] :
			    (made[i] = fx_key_new(kind));
	return NULL;
}

/*
 * OpenSSL's chain verification of leaf up to root, strict (X509_STRICT),
 * with the SM2 ID attached to every certificate, and, when policy, the
 * test policy required of the chain: X509_V_OK, or why it failed (-1 if
 * it could not be tried).
 */
static int
chain_err(fx_ca_t *ca, X509 *leaf, bool policy, bool sm2_ids)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	ASN1_OBJECT *oid = OBJ_txt2obj(FX_POLICY, 1);
	int err = -1;

	if (sm2_ids && (ch_x509_sm2_id_set(ca->root) != 0 ||
	    ch_x509_sm2_id_set(ca->issuing) != 0 ||
	    ch_x509_sm2_id_set(leaf) != 0))
		goto out;
	if (store == NULL || ctx == NULL || untrusted == NULL || oid == NULL ||
	    X509_STORE_add_cert(store, ca->root) != 1 ||
	    sk_X509_push(untrusted, ca->issuing) <= 0 ||
	    X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		goto out;
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
	    X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE |
	    (policy ? X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_EXPLICIT_POLICY :
	    0));
	if (policy && X509_VERIFY_PARAM_add0_policy(
	    X509_STORE_CTX_get0_param(ctx), oid) == 1)
		oid = NULL;
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK :
	    X509_STORE_CTX_get_error(ctx);
out:
	ASN1_OBJECT_free(oid);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return err;
}

/* chain_err(), printing why it failed. */
static bool
chain_ok(fx_ca_t *ca, X509 *leaf, bool policy, bool sm2_ids)
{
	int err = chain_err(ca, leaf, policy, sm2_ids);

	if (err != X509_V_OK)
		fprintf(stderr, "chain: %s\n", err < 0 ? "cannot be checked" :
		    X509_verify_cert_error_string(err));
	return err == X509_V_OK;
}

/* x's subject on one line, UTF-8, into buf. */
static const char *
subject_line(X509 *x, char *buf, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
	    ASN1_STRFLGS_UTF8_CONVERT);
	n = BIO_read(b, buf, (int)cap - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	return buf;
}

/* The type of the idx-th subject attribute. */
static int
attr_type(X509 *x, int idx)
{
	return ASN1_STRING_type(X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(X509_get_subject_name(x), idx)));
}

static int
serial_bits(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	int bits = BN_is_negative(bn) ? -1 : BN_num_bits(bn);

	BN_free(bn);
	return bits;
}

/* Whether x's SKI is the SHA-1 of its key's BIT STRING (RFC 5280 method 1),
 * computed here from OpenSSL's parse rather than the codec's. */
static bool
ski_method1(X509 *x)
{
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
	unsigned char md[20];

	return bits != NULL && ski != NULL && EVP_Digest(bits->data,
	    (size_t)bits->length, md, NULL, EVP_sha1(), NULL) == 1 &&
	    ski->length == 20 && memcmp(ski->data, md, 20) == 0;
}

/* What every subscriber certificate must show to OpenSSL's own parser. */
static int
check_subscriber(fx_ca_t *ca, X509 *leaf, ch_profile_t profile, int sig_nid)
{
	char line[512];

	CHECK(leaf != NULL);
	CHECK(chain_ok(ca, leaf, true, true));
	CHECK(X509_get_signature_nid(leaf) == sig_nid);
	CHECK(X509_get_version(leaf) == X509_VERSION_3);
	CHECK((X509_get_extension_flags(leaf) & EXFLAG_CA) == 0);
	CHECK(X509_get_key_usage(leaf) ==
	    (X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION));
	CHECK((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) == 0);
	CHECK(ski_method1(leaf));
	CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
	    X509_get0_subject_key_id(ca->issuing)) == 0);
	CHECK(serial_bits(leaf) >= 64 && serial_bits(leaf) <= 127);
	if (profile == CH_PROFILE_ORG) {
		CHECK_STR(subject_line(leaf, line, sizeof line),
		    "C = CN, O = " FX_UNIT ", organizationIdentifier = NTRCN-"
		    FX_CREDIT ", CN = " FX_UNIT);
	} else {
		CHECK_STR(subject_line(leaf, line, sizeof line),
		    "C = CN, O = " FX_UNIT ", organizationIdentifier = NTRCN-"
		    FX_CREDIT ", CN = " FX_PERSON ", serialNumber = IDCCN-"
		    FX_IDNUM);
		CHECK(attr_type(leaf, 4) == V_ASN1_PRINTABLESTRING);
	}
	CHECK(attr_type(leaf, 0) == V_ASN1_PRINTABLESTRING);
	for (int i = 1; i < 4; i++)
		CHECK(attr_type(leaf, i) == V_ASN1_UTF8STRING);
	return 0;
}

/* The CA half of a chain, and the OCSP signer and the seal maker. */
static int
check_ca(fx_ca_t *ca, int sig_nid)
{
	X509 *ocsp = fx_leaf(ca, CH_PROFILE_OCSP, key("p256"), 1);
	X509 *seal = fx_leaf(ca, CH_PROFILE_SEAL, key("sm2"), 5);
	int rc = 1;

	CHECK(ocsp != NULL && seal != NULL);
	CHECK(X509_get_signature_nid(ca->root) == sig_nid);
	CHECK(X509_check_ca(ca->root) == 1 && X509_check_ca(ca->issuing) == 1);
	CHECK(X509_get_pathlen(ca->root) == -1);
	CHECK(X509_get_pathlen(ca->issuing) == 0);
	CHECK(X509_get_key_usage(ca->issuing) ==
	    (X509v3_KU_KEY_CERT_SIGN | X509v3_KU_CRL_SIGN));
	CHECK(X509_get_extension_flags(ca->root) & EXFLAG_SS);
	CHECK(ski_method1(ca->root) && ski_method1(ca->issuing));
	/* 2056 is GeneralizedTime, 2046 UTCTime (RFC 5280 §4.1.2.5). */
	CHECK(ASN1_STRING_type(X509_get0_notAfter(ca->root)) ==
	    V_ASN1_GENERALIZEDTIME);
	CHECK(ASN1_STRING_type(X509_get0_notAfter(ca->issuing)) ==
	    V_ASN1_UTCTIME);
	if (chain_ok(ca, ocsp, false, true) && chain_ok(ca, seal, true, true) &&
	    (X509_get_extended_key_usage(ocsp) & XKU_OCSP_SIGN) != 0 &&
	    X509_get_ext_by_NID(ocsp, NID_id_pkix_OCSP_noCheck, -1) >= 0 &&
	    X509_get_key_usage(ocsp) == X509v3_KU_DIGITAL_SIGNATURE &&
	    X509_get_key_usage(seal) ==
	    (X509v3_KU_DIGITAL_SIGNATURE | X509v3_KU_NON_REPUDIATION))
		rc = 0;
	X509_free(ocsp);
	X509_free(seal);
	return rc;
}

/* The three subscriber keys under one CA, each in one profile. */
static int
chain_test(EVP_PKEY *root_key, EVP_PKEY *issuing_key, int sig_nid)
{
	X509 *org = NULL, *personal = NULL, *sm2 = NULL;
	fx_ca_t ca;
	int rc = 1;

	if (fx_ca_make(&ca, root_key, issuing_key) != 0)
		return 1;
	org = fx_leaf(&ca, CH_PROFILE_ORG, key("rsa2048"), 5);
	personal = fx_leaf(&ca, CH_PROFILE_PERSONAL, key("p256"), 3);
	sm2 = fx_leaf(&ca, CH_PROFILE_PERSONAL, key("sm2"), 1);
	if (check_subscriber(&ca, org, CH_PROFILE_ORG, sig_nid) == 0 &&
	    check_subscriber(&ca, personal, CH_PROFILE_PERSONAL,
	    sig_nid) == 0 &&
	    check_subscriber(&ca, sm2, CH_PROFILE_PERSONAL, sig_nid) == 0 &&
	    check_ca(&ca, sig_nid) == 0)
		rc = 0;
	X509_free(org);
	X509_free(personal);
	X509_free(sm2);
	fx_ca_free(&ca);
	return rc;
}

int
test_x509_serial_new(void)
{
	unsigned char a[CH_X509_SERIAL_LEN], b[CH_X509_SERIAL_LEN];
	int top = 0;

	for (int i = 0; i < 2000; i++) {
		unsigned char any = 0;

		CHECK(ch_x509_serial_new(a) == 0);
		CHECK((a[0] & 0x80) == 0);
		for (size_t j = 0; j < sizeof a; j++)
			any |= a[j];
		CHECK(any != 0);
		top |= a[0];
	}
	CHECK(top == 0x7f);	/* the other 7 bits of the first byte vary */
	CHECK(ch_x509_serial_new(b) == 0 && memcmp(a, b, sizeof a) != 0);
	return 0;
}

int
test_x509_chain_rsa(void)
{
	EVP_PKEY *issuing = fx_key_new("rsa2048");
	int rc = chain_test(key("rsa2048"), issuing,
	    NID_sha256WithRSAEncryption);

	EVP_PKEY_free(issuing);
	return rc;
}

int
test_x509_chain_ec(void)
{
	EVP_PKEY *root = fx_key_new("p256"), *issuing = fx_key_new("p256");
	int rc = chain_test(root, issuing, NID_ecdsa_with_SHA256);

	EVP_PKEY_free(root);
	EVP_PKEY_free(issuing);
	return rc;
}

int
test_x509_chain_sm2(void)
{
	EVP_PKEY *root = fx_key_new("sm2"), *issuing = fx_key_new("sm2");
	X509 *leaf = NULL;
	fx_ca_t ca, bare;
	int rc = 1;

	CHECK(root != NULL && issuing != NULL);
	CHECK(chain_test(root, issuing, NID_SM2_with_SM3) == 0);
	CHECK(fx_ca_make(&ca, root, issuing) == 0);
	leaf = fx_leaf(&ca, CH_PROFILE_ORG, key("sm2"), 1);
	CHECK(leaf != NULL);
	/* Read back from DER the certificates carry no ID; OpenSSL 3.0
	 * then hashes an empty one and the chain must fail: the ID is
	 * really in the signatures.  With the IDs attached it verifies. */
	bare = ca;
	bare.root = fx_fresh(ca.root);
	bare.issuing = fx_fresh(ca.issuing);
	if (bare.root != NULL && bare.issuing != NULL) {
		X509 *bare_leaf = fx_fresh(leaf);

		if (bare_leaf != NULL && chain_err(&bare, bare_leaf, false,
		    false) == X509_V_ERR_CERT_SIGNATURE_FAILURE &&
		    chain_ok(&bare, bare_leaf, false, true))
			rc = 0;
		X509_free(bare_leaf);
	}
	fx_ca_free(&bare);
	X509_free(leaf);
	fx_ca_free(&ca);
	EVP_PKEY_free(root);
	EVP_PKEY_free(issuing);
	return rc;
}

int
test_x509_build_refusals(void)
{
	static const struct {
		const char *field;	/* the start of why */
		int what;
	} cases[] = {
		{ "subject.unit_name: is required", 0 },
		{ "subject.unit_name: is not valid UTF-8", 1 },
		{ "subject.unit_name: has 65 characters", 2 },
		{ "subject.unit_name: begins or ends", 3 },
		{ "subject.credit_code: is not 18", 4 },
		{ "subject.id_number: is not used by the org", 5 },
		{ "subject.ca_name: is not used", 6 },
		{ "serial: must be 1 to 20", 7 },
		{ "serial: must be 1 to 20", 8 },
		{ "not_after: is not after", 9 },
		{ "years: must be 1 to 5", 10 },
		{ "issuer: is required", 11 },
		{ "crl_url: is required", 12 },
		{ "ocsp_url: is not an http:// URL", 13 },
		{ "ca_issuers_url: has a character", 14 },
		{ "policy_oid: is not a dotted", 15 },
		{ "policy_oid: is not a dotted", 21 },
		{ "policy_oid: is required for the org", 22 },
		{ "policy_oid: is not a dotted", 23 },
		{ "ocsp_url: is not used by the root", 16 },
		{ "issuer: must be NULL", 17 },
		{ "policy_oid: is not used by the ocsp", 18 },
		{ "subject.unit_name: is not valid UTF-8", 19 },
		{ "subject.id_number: is not 18", 20 },
	};
	fx_ca_t ca;
	char why[256], long_name[200] = "";
	unsigned char serial21[21] = { 1 };

	CHECK(fx_ca_make(&ca, key("p256"), key("p256")) == 0);
	for (int i = 0; i < 65; i++)
		strcat(long_name, "中");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fx_spec_t sp;
		ch_cert_spec_t *s = &sp.s;
		X509 *x;

		fx_spec(&sp, cases[i].what == 6 || cases[i].what == 20 ?
		    CH_PROFILE_PERSONAL : cases[i].what == 16 ||
		    cases[i].what == 17 ? CH_PROFILE_ROOT :
		    cases[i].what == 18 ? CH_PROFILE_OCSP : CH_PROFILE_ORG,
		    key("p256"), ca.issuing, ca.now, 1);
		switch (cases[i].what) {
		case 0: s->subject.unit_name = ""; break;
		case 1: s->subject.unit_name = "\xe4\xb8"; break;
		case 2: s->subject.unit_name = long_name; break;
		case 3: s->subject.unit_name = FX_UNIT " "; break;
		case 4: s->subject.credit_code = "91510107MA62Q1234I"; break;
		case 5: break;
		case 6: s->subject.ca_name = "x"; break;
		case 7: s->serial_len = 0; break;
		case 8: s->serial = serial21; s->serial_len = 21; break;
		case 9: s->not_after = s->not_before; break;
		case 10: s->years = 6; break;
		case 11: s->issuer = NULL; break;
		case 12: s->crl_url = NULL; break;
		case 13: s->ocsp_url = "https://ocsp.certhall.test"; break;
		case 14: s->ca_issuers_url = "http://a b"; break;
		case 15: s->policy_oid = "certhall"; break;
		case 16: s->issuer = NULL; s->ocsp_url = FX_OCSP_URL; break;
		case 17: break;
		case 18: s->policy_oid = FX_POLICY; break;
		case 19: s->subject.unit_name = "a\tb"; break;
		case 20: s->subject.id_number = "51010719900307123x"; break;
		case 21:	/* a UUID arc: others cannot parse it */
			s->policy_oid =
			    "2.25.61786332190105464015834507332748462317";
			break;
		case 22: s->policy_oid = NULL; break;
		case 23: s->policy_oid = "1.02.3"; break;
		}
		if (cases[i].what == 5)
			s->subject.id_number = FX_IDNUM; /* org has none */
		x = ch_x509_build(s, why, sizeof why);
		if (x != NULL || strncmp(why, cases[i].field,
		    strlen(cases[i].field)) != 0) {
			fprintf(stderr, "case %d: %s\n", cases[i].what,
			    x != NULL ? "built" : why);
			X509_free(x);
			fx_ca_free(&ca);
			return 1;
		}
	}
	fx_ca_free(&ca);
	return 0;
}

/* ---- lint: every rule broken alone ----------------------------------- */

/* Replaces (value NULL: deletes) extension nid of x. */
static int
ext_set(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, value != NULL ?
	    X509V3_ADD_REPLACE : X509V3_ADD_DELETE) == 1 ? 0 : -1;
}

/* x's subject again, with attribute idx given type and value. */
static int
subject_redo(X509 *x, int idx, int type, const char *value)
{
	X509_NAME *old = X509_get_subject_name(x), *name = X509_NAME_new();
	int rc = -1;

	for (int i = 0; i < X509_NAME_entry_count(old); i++) {
		X509_NAME_ENTRY *e = X509_NAME_get_entry(old, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);

		if (X509_NAME_add_entry_by_OBJ(name,
		    X509_NAME_ENTRY_get_object(e),
		    i == idx ? type : ASN1_STRING_type(v),
		    i == idx ? (const unsigned char *)value :
		    ASN1_STRING_get0_data(v),
		    i == idx ? -1 : ASN1_STRING_length(v), -1, 0) != 1)
			goto out;
	}
	rc = X509_set_subject_name(x, name) == 1 ? 0 : -1;
out:
	X509_NAME_free(name);
	return rc;
}

static int
set_serial_bn(X509 *x, const unsigned char *bytes, size_t len, bool negative)
{
	BIGNUM *bn = BN_bin2bn(bytes, (int)len, NULL);
	ASN1_INTEGER *i;
	int rc;

	BN_set_negative(bn, negative);
	i = BN_to_ASN1_INTEGER(bn, NULL);
	rc = X509_set_serialNumber(x, i) == 1 ? 0 : -1;
	ASN1_INTEGER_free(i);
	BN_free(bn);
	return rc;
}

static GENERAL_NAME *
uri(const char *url)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	ASN1_STRING_set(s, url, -1);
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

/*
 * Breaks rule in the certificate of profile (or in the spec it is linted
 * against): the spec *sp before the build (stage 0) or x after it
 * (stage 1); stage 2 is the lint spec alone.  0, or -1 if it could not.
 */
static int
breaker(ch_lint_rule_t rule, int stage, fx_spec_t *sp, X509 *x, fx_ca_t *ca)
{
	static unsigned char short_serial[7] = { 0x7f, 1, 2, 3, 4, 5, 6 };
	ch_cert_spec_t *s = &sp->s;
	int rc = 0;

	if (stage == 0) {
		if (rule == CH_LINT_SERIAL_SIZE) {
			s->serial = short_serial;
			s->serial_len = sizeof short_serial;
		} else if (rule == CH_LINT_VALIDITY_SPAN) {
			s->not_after = s->not_before + 2 * FX_YEAR;
		} else if (rule == CH_LINT_VALIDITY_ISSUER) {
			s->not_before -= 86400;
		} else if (rule == CH_LINT_KEY_POLICY) {
			s->public_key = key("rsa1024");
		}
		return 0;
	}
	if (stage == 2) {
		if (rule == CH_LINT_KEY_MATCH)
			s->public_key = key("sm2");
		return 0;
	}
	switch (rule) {
	case CH_LINT_VERSION:
		rc = X509_set_version(x, X509_VERSION_1) == 1 ? 0 : -1;
		break;
	case CH_LINT_SERIAL_MATCH: {
		unsigned char other[CH_X509_SERIAL_LEN];

		memcpy(other, sp->serial, sizeof other);
		other[sizeof other - 1] ^= 1;
		rc = set_serial_bn(x, other, sizeof other, false);
		break;
	}
	case CH_LINT_SERIAL_POSITIVE:
		rc = set_serial_bn(x, sp->serial, sizeof sp->serial, true);
		break;
	case CH_LINT_VALIDITY_MATCH: {
		ASN1_TIME *t = ASN1_TIME_set(NULL, s->not_after - 1);

		rc = X509_set1_notAfter(x, t) == 1 ? 0 : -1;
		ASN1_TIME_free(t);
		break;
	}
	case CH_LINT_VALIDITY_ENCODING: {
		ASN1_GENERALIZEDTIME *t = ASN1_GENERALIZEDTIME_set(NULL,
		    s->not_after);

		rc = X509_set1_notAfter(x, t) == 1 ? 0 : -1;
		ASN1_GENERALIZEDTIME_free(t);
		break;
	}
	case CH_LINT_ISSUER_NAME:
		rc = X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 ?
		    0 : -1;
		break;
	case CH_LINT_SUBJECT_MATCH:	/* CN */
		rc = subject_redo(x, 3, V_ASN1_UTF8STRING, "李四");
		break;
	case CH_LINT_SUBJECT_STRINGS:	/* C as UTF8String */
		rc = subject_redo(x, 0, V_ASN1_UTF8STRING, "CN");
		break;
	case CH_LINT_EXT_SET: {
		ASN1_IA5STRING *c = ASN1_IA5STRING_new();

		ASN1_STRING_set(c, "extra", -1);
		rc = X509_add1_ext_i2d(x, NID_netscape_comment, c, 0,
		    X509V3_ADD_DEFAULT) == 1 ? 0 : -1;
		ASN1_IA5STRING_free(c);
		break;
	}
	case CH_LINT_BASIC_CONSTRAINTS: {
		BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

		bc->ca = 0xff;
		rc = ext_set(x, NID_basic_constraints, bc, 1);
		BASIC_CONSTRAINTS_free(bc);
		break;
	}
	case CH_LINT_KEY_USAGE: {
		ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();

		ASN1_BIT_STRING_set_bit(ku, 0, 1);
		rc = ext_set(x, NID_key_usage, ku, 1);
		ASN1_BIT_STRING_free(ku);
		break;
	}
	case CH_LINT_EXT_KEY_USAGE: {	/* OCSP profile */
		EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

		sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth));
		rc = ext_set(x, NID_ext_key_usage, eku, 0);
		sk_ASN1_OBJECT_free(eku);
		break;
	}
	case CH_LINT_OCSP_NOCHECK:	/* OCSP profile */
		rc = ext_set(x, NID_id_pkix_OCSP_noCheck, NULL, 0);
		break;
	case CH_LINT_SKI: {
		unsigned char zero[20] = { 0 };
		ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();

		ASN1_OCTET_STRING_set(o, zero, sizeof zero);
		rc = ext_set(x, NID_subject_key_identifier, o, 0);
		ASN1_OCTET_STRING_free(o);
		break;
	}
	case CH_LINT_AKI: {
		AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();

		aki->keyid = ASN1_OCTET_STRING_dup(
		    X509_get0_subject_key_id(ca->root));
		rc = ext_set(x, NID_authority_key_identifier, aki, 0);
		AUTHORITY_KEYID_free(aki);
		break;
	}
	case CH_LINT_CRL_DP: {
		CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
		DIST_POINT *dp = DIST_POINT_new();

		dp->distpoint = DIST_POINT_NAME_new();
		dp->distpoint->type = 0;
		dp->distpoint->name.fullname = GENERAL_NAMES_new();
		sk_GENERAL_NAME_push(dp->distpoint->name.fullname,
		    uri("http://pki.certhall.test/other.crl"));
		sk_DIST_POINT_push(dps, dp);
		rc = ext_set(x, NID_crl_distribution_points, dps, 0);
		CRL_DIST_POINTS_free(dps);
		break;
	}
	case CH_LINT_AIA: {
		AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
		ACCESS_DESCRIPTION *ad = ACCESS_DESCRIPTION_new();

		ad->method = OBJ_nid2obj(NID_ad_OCSP);
		GENERAL_NAME_free(ad->location);
		ad->location = uri(FX_OCSP_URL);
		sk_ACCESS_DESCRIPTION_push(aia, ad);
		rc = ext_set(x, NID_info_access, aia, 0);
		AUTHORITY_INFO_ACCESS_free(aia);
		break;
	}
	case CH_LINT_POLICIES: {
		CERTIFICATEPOLICIES *cp = sk_POLICYINFO_new_null();
		POLICYINFO *pi = POLICYINFO_new();

		pi->policyid = OBJ_txt2obj("2.5.29.32.0", 1);	/* anyPolicy */
		sk_POLICYINFO_push(cp, pi);
		rc = ext_set(x, NID_certificate_policies, cp, 0);
		CERTIFICATEPOLICIES_free(cp);
		break;
	}
	default:
		break;
	}
	return rc;
}

int
test_x509_lint_each_rule(void)
{
	fx_ca_t ca;
	const char *ids[CH_LINT__MAX];

	CHECK(fx_ca_make(&ca, key("rsa2048"), key("p256")) == 0);
	for (int r = 0; r < CH_LINT__MAX; r++) {
		ch_profile_t profile = r == CH_LINT_EXT_KEY_USAGE ||
		    r == CH_LINT_OCSP_NOCHECK ? CH_PROFILE_OCSP :
		    CH_PROFILE_PERSONAL;
		/* Precertify with the wrong kind of key for the issuer's
		 * P-256 key to break the signature algorithm rule. */
		EVP_PKEY *signer = r == CH_LINT_SIGNATURE_ALG ? key("sm2") :
		    ca.issuing_key;
		ch_lint_report_t rep;
		unsigned char *tbs = NULL;
		size_t tbslen;
		char why[256];
		fx_spec_t sp;
		X509 *x;
		int lint_rc;

		ids[r] = ch_x509_lint_rule_id((ch_lint_rule_t)r);
		CHECK(ids[r][0] != '\0');
		for (int q = 0; q < r; q++)
			CHECK(strcmp(ids[q], ids[r]) != 0);
		fx_spec(&sp, profile, key("p256"), ca.issuing, ca.now, 1);
		/* The unbroken certificate passes. */
		x = ch_x509_build(&sp.s, why, sizeof why);
		CHECK(x != NULL);
		CHECK(ch_x509_precert(x, ca.issuing_key, &tbs, &tbslen, why,
		    sizeof why) == 0);
		OPENSSL_free(tbs);
		CHECK(ch_x509_lint(x, &sp.s, &rep) == 0 && rep.failed == 0 &&
		    rep.first == CH_LINT__MAX);
		X509_free(x);

		CHECK(breaker((ch_lint_rule_t)r, 0, &sp, NULL, &ca) == 0);
		x = ch_x509_build(&sp.s, why, sizeof why);
		if (x == NULL)
			fprintf(stderr, "%s: %s\n", ids[r], why);
		CHECK(x != NULL);
		CHECK(breaker((ch_lint_rule_t)r, 1, &sp, x, &ca) == 0);
		CHECK(ch_x509_precert(x, signer, &tbs, &tbslen, why,
		    sizeof why) == 0);
		OPENSSL_free(tbs);
		CHECK(breaker((ch_lint_rule_t)r, 2, &sp, x, &ca) == 0);
		lint_rc = ch_x509_lint(x, &sp.s, &rep);
		X509_free(x);
		if (rep.failed != 1u << r)
			fprintf(stderr, "%s: failed %#x (first %s: %s)\n",
			    ids[r], rep.failed, ch_x509_lint_rule_id(rep.first),
			    rep.text);
		CHECK(lint_rc == -1 && rep.failed == 1u << r &&
		    rep.first == (ch_lint_rule_t)r && rep.text[0] != '\0');
	}
	fx_ca_free(&ca);
	return 0;
}

/* A lint failure stops ch_x509_issue, and says which rule. */
int
test_x509_issue_stops_on_lint(void)
{
	ch_lint_report_t rep;
	char why[256];
	fx_spec_t sp;
	fx_ca_t ca;

	CHECK(fx_ca_make(&ca, key("p256"), key("p256")) == 0);
	fx_spec(&sp, CH_PROFILE_ORG, key("p384"), ca.issuing, ca.now, 1);
	CHECK(ch_x509_issue(&sp.s, ca.issuing_key, &rep, why,
	    sizeof why) == NULL);
	CHECK(rep.failed == 1u << CH_LINT_KEY_POLICY);
	CHECK_STR(why, "lint key.policy: is an EC key on a curve other than "
	    "P-256");
	fx_ca_free(&ca);
	return 0;
}

/*
 * Builds and precertifies the spec in *sp with the CA's issuing key, then
 * signs with signer: ch_x509_sign()'s return, with why.  mutate, if set,
 * changes the certificate between lint and signature.
 */
static int
sign_after(fx_ca_t *ca, fx_spec_t *sp, EVP_PKEY *signer, bool mutate,
    char *why, size_t whylen)
{
	unsigned char *tbs = NULL, *re = NULL;
	size_t tbslen = 0;
	X509 *x = ch_x509_build(&sp->s, why, whylen);
	int rc = -2, n;

	if (x == NULL || ch_x509_precert(x, ca->issuing_key, &tbs, &tbslen,
	    why, whylen) != 0)
		goto out;
	if (mutate)
		X509_gmtime_adj(X509_getm_notAfter(x), -60);
	rc = ch_x509_sign(x, signer, tbs, tbslen, ca->issuing, why, whylen);
	/* What was signed re-encodes to the linted TBS too. */
	if (rc == 0 && ((n = i2d_re_X509_tbs(x, &re)) <= 0 ||
	    (size_t)n != tbslen || memcmp(re, tbs, tbslen) != 0))
		rc = -2;
out:
	OPENSSL_free(re);
	OPENSSL_free(tbs);
	X509_free(x);
	return rc;
}

/* The real signature covers exactly the linted TBS, or nothing comes out. */
int
test_x509_sign_checks_tbs(void)
{
	EVP_PKEY *stranger = fx_key_new("rsa2048");
	char why[256];
	fx_spec_t sp;
	fx_ca_t ca;

	CHECK(stranger != NULL);
	CHECK(fx_ca_make(&ca, key("rsa2048"), fx_key_new("rsa2048")) == 0);
	fx_spec(&sp, CH_PROFILE_ORG, key("sm2"), ca.issuing, ca.now, 2);
	CHECK(sign_after(&ca, &sp, ca.issuing_key, false, why,
	    sizeof why) == 0);
	/* Changed after lint: refused. */
	CHECK(sign_after(&ca, &sp, ca.issuing_key, true, why,
	    sizeof why) == -1);
	CHECK(strncmp(why, "tbs: ", 5) == 0);
	/* Another kind of key than the linted one: the TBS's algorithm
	 * differs. */
	CHECK(sign_after(&ca, &sp, key("p256"), false, why, sizeof why) == -1);
	CHECK(strncmp(why, "tbs: ", 5) == 0);
	/* The right kind, but not the issuer's key: the signature check. */
	CHECK(sign_after(&ca, &sp, stranger, false, why, sizeof why) == -1);
	CHECK(strncmp(why, "signature: ", 11) == 0);
	EVP_PKEY_free(ca.issuing_key);
	EVP_PKEY_free(stranger);
	fx_ca_free(&ca);
	return 0;
}

int
test_x509_key_policy(void)
{
	EVP_PKEY *explicit_p256 = EVP_PKEY_dup(key("p256"));
	const char *why = NULL;

	CHECK(ch_x509_key_check(key("rsa2048"), &why) == 0);
	CHECK(ch_x509_key_check(key("p256"), &why) == 0);
	CHECK(ch_x509_key_check(key("sm2"), &why) == 0);
	CHECK(ch_x509_key_check(key("rsa1024"), &why) == -1);
	CHECK(strstr(why, "fewer than 2048") != NULL);
	CHECK(ch_x509_key_check(key("p384"), &why) == -1);
	CHECK(strstr(why, "other than P-256") != NULL);
	/* The same P-256 key, written with explicit curve parameters. */
	CHECK(explicit_p256 != NULL && EVP_PKEY_set_utf8_string_param(
	    explicit_p256, "encoding", "explicit") == 1);
	CHECK(ch_x509_key_check(explicit_p256, &why) == -1);
	CHECK(strstr(why, "explicit") != NULL);
	CHECK(ch_x509_key_check(NULL, &why) == -1);
	EVP_PKEY_free(explicit_p256);
	{
		EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

		CHECK(ch_x509_key_check(ed, &why) == -1);
		CHECK(strstr(why, "neither") != NULL);
		EVP_PKEY_free(ed);
	}
	return 0;
}

int
test_x509_outputs(void)
{
	X509 *leaf, *back, *chain[3];
	const unsigned char *p;
	unsigned char *der, *p7;
	char *pem;
	size_t len, p7len;
	PKCS7 *parsed;
	fx_ca_t ca;

	CHECK(fx_ca_make(&ca, key("p256"), key("p256")) == 0);
	leaf = fx_leaf(&ca, CH_PROFILE_ORG, key("p256"), 1);
	CHECK(leaf != NULL);
	der = ch_x509_der(leaf, &len);
	p = der;
	back = d2i_X509(NULL, &p, (long)len);
	CHECK(back != NULL && X509_cmp(back, leaf) == 0 && p == der + len);
	X509_free(back);
	OPENSSL_free(der);
	pem = ch_x509_pem(leaf, &len);
	CHECK(pem != NULL && strlen(pem) == len);
	CHECK(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
	OPENSSL_free(pem);

	chain[0] = leaf;
	chain[1] = ca.issuing;
	chain[2] = ca.root;
	p7 = ch_x509_pkcs7(chain, 3, false, &p7len);
	CHECK(p7 != NULL);
	p = p7;
	parsed = d2i_PKCS7(NULL, &p, (long)p7len);
	CHECK(parsed != NULL && PKCS7_type_is_signed(parsed));
	CHECK(sk_X509_num(parsed->d.sign->cert) == 3);
	CHECK(X509_cmp(sk_X509_value(parsed->d.sign->cert, 0), leaf) == 0);
	CHECK(sk_PKCS7_SIGNER_INFO_num(parsed->d.sign->signer_info) == 0);
	CHECK(parsed->d.sign->contents->d.ptr == NULL);	/* no content */
	PKCS7_free(parsed);
	OPENSSL_free(p7);
	p7 = ch_x509_pkcs7(chain, 3, true, &p7len);
	CHECK(p7 != NULL && strncmp((char *)p7, "-----BEGIN PKCS7-----\n",
	    22) == 0);
	OPENSSL_free(p7);
	CHECK(ch_x509_pkcs7(chain, 0, false, &p7len) == NULL);
	X509_free(leaf);
	fx_ca_free(&ca);
	return 0;
}
