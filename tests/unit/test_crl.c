/*
 * Certificate revocation lists (certhall/codec/crl.h): CRLs signed by RSA,
 * P-256 and SM2 issuing CAs, read back with OpenSSL and used by its chain
 * verification with CRL checking; shards; every refusal; 100,000 entries.
 * tests/codec/check-revocation checks the same CRLs with stock openssl and
 * python3-cryptography.
 */
#include "test.h"
#include "certhall/codec/crl.h"
#include "../codec/revoke_fixture.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The signed CRL of spec, read back; NULL after printing why. */
static X509_CRL *
signed_crl(const ch_crl_spec_t *spec, EVP_PKEY *key)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	char why[256] = "";
	X509_CRL *crl = NULL;

	if (ch_crl_sign(spec, key, &der, &len, why, sizeof why) != 0) {
		fprintf(stderr, "ch_crl_sign: %s\n", why);
		return NULL;
	}
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	if (crl == NULL || p != der + len) {
		fprintf(stderr, "signed_crl: the DER does not read back\n");
		X509_CRL_free(crl);
		crl = NULL;
	}
	OPENSSL_free(der);
	return crl;
}

/*
 * OpenSSL's verification of leaf under the test chain with CRL checking
 * of the leaf (X509_V_FLAG_CRL_CHECK) against crl: X509_V_OK or the
 * error, -1 if it could not be tried.
 */
static int
crl_check(rx_t *r, X509 *leaf, X509_CRL *crl)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	int err = -1;

	if (store == NULL || ctx == NULL || untrusted == NULL || crls == NULL ||
	    X509_STORE_add_cert(store, r->ca.root) != 1 ||
	    sk_X509_push(untrusted, r->ca.issuing) <= 0 ||
	    sk_X509_CRL_push(crls, crl) <= 0 ||
	    X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		goto out;
	X509_STORE_CTX_set0_crls(ctx, crls);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
	    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_X509_STRICT);
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK :
	    X509_STORE_CTX_get_error(ctx);
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_CRL_free(crls);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	ERR_clear_error();
	return err;
}

/* The reason code extension of entry rev: the CRLReason, -1 if absent. */
static int
entry_reason(X509_REVOKED *rev)
{
	int crit = 0;
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason,
	    &crit, NULL);
	int v = e != NULL && crit == 0 ? (int)ASN1_ENUMERATED_get(e) : -1;

	ASN1_ENUMERATED_free(e);
	return v;
}

static int
time_is(const ASN1_TIME *t, time_t want)
{
	struct tm tm;

	return t != NULL && ASN1_TIME_to_tm(t, &tm) == 1 &&
	    timegm(&tm) == want;
}

/* One kind of CA: a CRL listing the revoked leaf and two serials never
 * issued, read back field by field and used by OpenSSL's verification. */
static int
crl_for(const char *kind)
{
	static const unsigned char other1[] = { 0x00, 0x42 },
	    other2[] = { 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	    15 };
	rx_t r;
	unsigned char serial[CH_X509_SERIAL_MAX];
	size_t slen;
	ch_crl_entry_t e[3];
	ch_crl_spec_t spec;
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *revs;
	X509_REVOKED *rev = NULL;
	AUTHORITY_KEYID *aki;
	ASN1_INTEGER *number;
	char why[256] = "";
	unsigned char *der = NULL;
	size_t len = 0;
	int crit = 0, rc = 1;

	if (rx_make(&r, kind) != 0)
		return 1;
	slen = rx_serial(r.revoked, serial);
	/* In no sorted order; the 1-byte serial must come out first. */
	e[0] = (ch_crl_entry_t){ other2, sizeof other2, r.ca.now - 50,
	    CH_CRL_SUPERSEDED, 0 };
	e[1] = (ch_crl_entry_t){ serial, slen, r.ca.now - 100,
	    CH_CRL_KEY_COMPROMISE, r.ca.now - 86400 };
	e[2] = (ch_crl_entry_t){ other1, sizeof other1, r.ca.now - 10,
	    CH_CRL_UNSPECIFIED, 0 };
	spec = (ch_crl_spec_t){ .issuer = r.ca.issuing,
	    .this_update = r.ca.now, .next_update = r.ca.now + 7 * 86400,
	    .number = 4242, .entries = e, .n = 3 };
	if ((crl = signed_crl(&spec, r.issuing_key)) == NULL)
		goto out;
	CHECK(X509_CRL_get_version(crl) == X509_CRL_VERSION_2);
	CHECK(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(r.ca.issuing)) == 0);
	CHECK(time_is(X509_CRL_get0_lastUpdate(crl), spec.this_update));
	CHECK(time_is(X509_CRL_get0_nextUpdate(crl), spec.next_update));
	CHECK(ASN1_STRING_type(X509_CRL_get0_lastUpdate(crl)) ==
	    V_ASN1_UTCTIME);
	CHECK(X509_CRL_get_signature_nid(crl) == (strcmp(kind, "rsa") == 0 ?
	    NID_sha256WithRSAEncryption : strcmp(kind, "ec") == 0 ?
	    NID_ecdsa_with_SHA256 : NID_SM2_with_SM3));
	CHECK(X509_CRL_get_ext_count(crl) == 2);
	number = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	CHECK(number != NULL && crit == 0 && ASN1_INTEGER_get(number) == 4242);
	ASN1_INTEGER_free(number);
	aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, &crit,
	    NULL);
	CHECK(aki != NULL && crit == 0 && aki->issuer == NULL &&
	    ASN1_OCTET_STRING_cmp(aki->keyid,
	    X509_get0_subject_key_id(r.ca.issuing)) == 0);
	AUTHORITY_KEYID_free(aki);
	CHECK(X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point,
	    -1) < 0);

	revs = X509_CRL_get_REVOKED(crl);
	CHECK(sk_X509_REVOKED_num(revs) == 3);
	/* Ascending: 0x42, then the two 16-byte serials bytewise. */
	rev = sk_X509_REVOKED_value(revs, 0);
	CHECK(ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(rev)) == 0x42);
	CHECK(entry_reason(rev) == -1);
	CHECK(X509_REVOKED_get_ext_count(rev) == 0);
	CHECK(time_is(X509_REVOKED_get0_revocationDate(rev), r.ca.now - 10));
	CHECK(X509_CRL_get0_by_cert(crl, &rev, r.revoked) == 1);
	CHECK(entry_reason(rev) == CH_CRL_KEY_COMPROMISE);
	CHECK(time_is(X509_REVOKED_get0_revocationDate(rev), r.ca.now - 100));
	{
		ASN1_GENERALIZEDTIME *inv = X509_REVOKED_get_ext_d2i(rev,
		    NID_invalidity_date, &crit, NULL);

		CHECK(inv != NULL && crit == 0 &&
		    ASN1_STRING_type(inv) == V_ASN1_GENERALIZEDTIME &&
		    time_is(inv, r.ca.now - 86400));
		ASN1_GENERALIZEDTIME_free(inv);
	}
	CHECK(X509_CRL_get0_by_cert(crl, &rev, r.good) == 0);

	/* The signature, OpenSSL's way (not SM2: no ID) and ours. */
	if (strcmp(kind, "sm2") != 0) {
		CHECK(X509_CRL_verify(crl, X509_get0_pubkey(r.ca.issuing)) == 1);
		CHECK(X509_CRL_verify(crl, X509_get0_pubkey(r.ca.root)) != 1);
		CHECK(crl_check(&r, r.good, crl) == X509_V_OK);
		CHECK(crl_check(&r, r.revoked, crl) == X509_V_ERR_CERT_REVOKED);
	}
	CHECK(ch_crl_sign(&spec, r.issuing_key, &der, &len, why,
	    sizeof why) == 0);
	CHECK(ch_crl_verify(der, len, r.ca.issuing, why, sizeof why) == 0);
	CHECK(ch_crl_verify(der, len, r.ca.root, why, sizeof why) == -1);
	CHECK(ch_crl_verify(der, len - 1, r.ca.issuing, why, sizeof why) ==
	    -1);
	der[len - 5] ^= 1;
	CHECK(ch_crl_verify(der, len, r.ca.issuing, why, sizeof why) == -1);
	CHECK_STR(why, "signature: does not verify with the issuer's public "
	    "key");
	rc = 0;
out:
	OPENSSL_free(der);
	X509_CRL_free(crl);
	rx_free(&r);
	return rc;
}

int
test_crl_sign_rsa(void)
{
	return crl_for("rsa");
}

int
test_crl_sign_ec(void)
{
	return crl_for("ec");
}

int
test_crl_sign_sm2(void)
{
	return crl_for("sm2");
}

/* An empty CRL, and a shard's: its IDP, and OpenSSL applying it only to
 * certificates whose CRL DP names that shard. */
int
test_crl_shard(void)
{
	rx_t r;
	unsigned char serial[CH_X509_SERIAL_MAX];
	ch_crl_entry_t e;
	ch_crl_spec_t spec;
	X509_CRL *crl;
	ISSUING_DIST_POINT *idp;
	GENERAL_NAME *gn;
	int crit = 0;

	CHECK(rx_make(&r, "ec") == 0);
	spec = (ch_crl_spec_t){ .issuer = r.ca.issuing,
	    .this_update = r.ca.now, .next_update = r.ca.now + 86400,
	    .number = 1 };
	CHECK((crl = signed_crl(&spec, r.issuing_key)) != NULL);
	CHECK(X509_CRL_get_REVOKED(crl) == NULL ||
	    sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 0);
	CHECK(crl_check(&r, r.revoked, crl) == X509_V_OK);
	X509_CRL_free(crl);

	e = (ch_crl_entry_t){ serial, rx_serial(r.revoked, serial),
	    r.ca.now, CH_CRL_CESSATION_OF_OPERATION, 0 };
	spec.entries = &e;
	spec.n = 1;
	spec.shard_url = FX_CRL_URL;
	CHECK((crl = signed_crl(&spec, r.issuing_key)) != NULL);
	idp = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &crit,
	    NULL);
	CHECK(idp != NULL && crit == 1 && idp->onlyuser != 0 &&
	    idp->onlyCA == 0 && idp->onlysomereasons == NULL &&
	    idp->indirectCRL == 0 && idp->distpoint != NULL &&
	    idp->distpoint->type == 0 &&
	    sk_GENERAL_NAME_num(idp->distpoint->name.fullname) == 1);
	gn = sk_GENERAL_NAME_value(idp->distpoint->name.fullname, 0);
	CHECK(gn->type == GEN_URI);
	CHECK(strcmp((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
	    FX_CRL_URL) == 0);
	ISSUING_DIST_POINT_free(idp);
	CHECK(crl_check(&r, r.good, crl) == X509_V_OK);
	CHECK(crl_check(&r, r.revoked, crl) == X509_V_ERR_CERT_REVOKED);
	X509_CRL_free(crl);

	/* Another shard's CRL does not speak for these certificates:
	 * OpenSSL compares the IDP with their CRL DP. */
	spec.shard_url = RX_OTHER_SHARD_URL;
	CHECK((crl = signed_crl(&spec, r.issuing_key)) != NULL);
	CHECK(crl_check(&r, r.revoked, crl) == X509_V_ERR_DIFFERENT_CRL_SCOPE);
	X509_CRL_free(crl);
	rx_free(&r);
	return 0;
}

/* ch_crl_sign(spec, key) fails with why starting with want. */
static int
refused(const ch_crl_spec_t *spec, EVP_PKEY *key, const char *want)
{
	unsigned char *der = (unsigned char *)"x";
	size_t len = 1;
	char why[256] = "";

	if (ch_crl_sign(spec, key, &der, &len, why, sizeof why) != -1 ||
	    der != NULL || len != 0 || strncmp(why, want, strlen(want)) != 0) {
		fprintf(stderr, "refused: wanted \"%s...\", got \"%s\"\n", want,
		    why);
		return 1;
	}
	return 0;
}

int
test_crl_refusals(void)
{
	static const unsigned char s1[] = { 1, 2, 3 }, s1pad[] = { 0, 1, 2, 3 },
	    zero[] = { 0, 0 }, long21[21] = { 1, 2 };
	rx_t r;
	ch_crl_entry_t e[2];
	ch_crl_spec_t ok, s;

	CHECK(rx_make(&r, "ec") == 0);
	e[0] = (ch_crl_entry_t){ s1, sizeof s1, r.ca.now - 10,
	    CH_CRL_KEY_COMPROMISE, 0 };
	e[1] = (ch_crl_entry_t){ long21 + 1, 20, r.ca.now - 10,
	    CH_CRL_UNSPECIFIED, 0 };
	ok = (ch_crl_spec_t){ .issuer = r.ca.issuing, .this_update = r.ca.now,
	    .next_update = r.ca.now + 86400, .number = 7, .entries = e,
	    .n = 2 };

#define TRY(change, key, want) do { \
	ch_crl_entry_t saved[2] = { e[0], e[1] }; \
	s = ok; \
	change; \
	CHECK(refused(&s, key, want) == 0); \
	e[0] = saved[0]; \
	e[1] = saved[1]; \
} while (0)

	TRY((void)0, r.ocsp_key, "signature: does not verify");
	TRY((void)0, NULL, "key: is neither");
	TRY(s.issuer = NULL, r.issuing_key, "issuer: is missing");
	TRY(s.issuer = r.good, r.leaf_key, "issuer: its key usage has no "
	    "cRLSign");
	TRY(s.next_update = s.this_update, r.issuing_key, "next_update:");
	TRY(s.number = (uint64_t)INT64_MAX + 1, r.issuing_key, "number:");
	TRY(s.shard_url = "https://pki.certhall.test/x.crl", r.issuing_key,
	    "shard_url: is not an http:// URL");
	TRY(s.entries = NULL, r.issuing_key, "entries: is missing");
	TRY(e[1].serial = zero; e[1].serial_len = 2, r.issuing_key,
	    "entries[1].serial:");
	TRY(e[1].serial = long21; e[1].serial_len = 21, r.issuing_key,
	    "entries[1].serial:");
	TRY(e[1].serial = NULL, r.issuing_key, "entries[1].serial:");
	TRY(e[1].serial = s1pad; e[1].serial_len = 4, r.issuing_key,
	    "entries[1].serial: is also entries[0]'s");
	TRY(e[0].revoked_at = s.this_update + 1, r.issuing_key,
	    "entries[0].revoked_at:");
	TRY(e[0].revoked_at = 0, r.issuing_key, "entries[0].revoked_at:");
	TRY(e[0].invalid_since = e[0].revoked_at + 1, r.issuing_key,
	    "entries[0].invalid_since:");
	TRY(e[1].reason = CH_CRL_CERTIFICATE_HOLD, r.issuing_key,
	    "entries[1].reason: 6 is not");
	TRY(e[1].reason = CH_CRL_REMOVE_FROM_CRL, r.issuing_key,
	    "entries[1].reason:");
	TRY(e[1].reason = CH_CRL_AA_COMPROMISE, r.issuing_key,
	    "entries[1].reason:");
	TRY(e[1].reason = (ch_crl_reason_t)7, r.issuing_key,
	    "entries[1].reason:");
	TRY(e[1].reason = CH_CRL__MAX, r.issuing_key, "entries[1].reason:");
	TRY(e[1].reason = (ch_crl_reason_t)-1, r.issuing_key,
	    "entries[1].reason:");
#undef TRY

	/* The same list with the good key is fine; the names are RFC 5280's. */
	{
		X509_CRL *crl = signed_crl(&ok, r.issuing_key);

		CHECK(crl != NULL);
		X509_CRL_free(crl);
	}
	CHECK_STR(ch_crl_reason_name(CH_CRL_CA_COMPROMISE), "cACompromise");
	CHECK_STR(ch_crl_reason_name(CH_CRL_PRIVILEGE_WITHDRAWN),
	    "privilegeWithdrawn");
	CHECK_STR(ch_crl_reason_name((ch_crl_reason_t)7), "");
	CHECK_STR(ch_crl_reason_name(CH_CRL__MAX), "");
	CHECK(ch_crl_reason_ok(CH_CRL_UNSPECIFIED) &&
	    ch_crl_reason_ok(CH_CRL_SUPERSEDED) &&
	    !ch_crl_reason_ok(CH_CRL_CERTIFICATE_HOLD));
	rx_free(&r);
	return 0;
}

/*
 * 100,000 entries (16-byte random serials, a third each keyCompromise with
 * an invalidity date, superseded, unspecified) signed with an RSA-2048
 * software key: prints the time to build and sign (the check after it
 * included) and the size; every entry is found again in the DER.
 */
int
test_crl_large(void)
{
	enum { N = 100000 };
	rx_t r;
	unsigned char (*serials)[CH_X509_SERIAL_LEN] = calloc(N,
	    sizeof *serials);
	ch_crl_entry_t *e = calloc(N, sizeof *e);
	ch_crl_spec_t spec;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	char why[256] = "";
	struct timespec t0;
	double took;
	X509_CRL *crl;
	X509_REVOKED *rev;
	ASN1_INTEGER *ai = ASN1_INTEGER_new();

	CHECK(serials != NULL && e != NULL && ai != NULL);
	CHECK(rx_make(&r, "rsa") == 0);
	for (size_t i = 0; i < N; i++) {
		CHECK(ch_x509_serial_new(serials[i]) == 0);
		e[i] = (ch_crl_entry_t){ serials[i], CH_X509_SERIAL_LEN,
		    r.ca.now - (time_t)i, (ch_crl_reason_t)(i % 3 == 0 ?
		    CH_CRL_KEY_COMPROMISE : i % 3 == 1 ? CH_CRL_SUPERSEDED :
		    CH_CRL_UNSPECIFIED), i % 3 == 0 ? r.ca.now - (time_t)i -
		    3600 : 0 };
	}
	spec = (ch_crl_spec_t){ .issuer = r.ca.issuing, .this_update = r.ca.now,
	    .next_update = r.ca.now + 7 * 86400, .number = 99, .entries = e,
	    .n = N };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(ch_crl_sign(&spec, r.issuing_key, &der, &len, why,
	    sizeof why) == 0);
	took = rx_seconds_since(&t0);
	printf("crl_large: %d entries, RSA-2048: built, signed and checked in "
	    "%.3f s; %zu bytes DER (%.1f per entry)\n", N, took, len,
	    (double)len / N);

	p = der;
	CHECK((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL);
	CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == N);
	/* In ascending order as encoded (a lookup sorts the stack). */
	for (int i = 1; i < N; i++)
		CHECK(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), i - 1)),
		    X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), i))) < 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < N; i++) {
		const unsigned char *s = serials[i];
		size_t n = CH_X509_SERIAL_LEN;

		while (n > 1 && *s == 0) {
			s++;
			n--;
		}
		CHECK(ASN1_STRING_set(ai, s, (int)n) == 1);
		CHECK(X509_CRL_get0_by_serial(crl, &rev, ai) == 1);
	}
	printf("crl_large: every serial found by X509_CRL_get0_by_serial in "
	    "%.3f s\n", rx_seconds_since(&t0));
	X509_CRL_free(crl);
	ASN1_INTEGER_free(ai);
	OPENSSL_free(der);
	free(e);
	free(serials);
	rx_free(&r);
	return 0;
}
