/*
 * Our lint (certhall/codec/x509.h): every field we set, checked against
 * the spec and the profile before the real signature, Boulder-style.  Each
 * rule decodes what it looks at from the certificate itself, never from
 * the builder's inputs, so a builder bug shows as a named failure.
 */
#include "x509_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

static const char *const rule_ids[CH_LINT__MAX] = {
	[CH_LINT_VERSION] = "cert.version",
	[CH_LINT_SIGNATURE_ALG] = "cert.signature_alg",
	[CH_LINT_SERIAL_MATCH] = "serial.match",
	[CH_LINT_SERIAL_POSITIVE] = "serial.positive",
	[CH_LINT_SERIAL_SIZE] = "serial.size",
	[CH_LINT_VALIDITY_MATCH] = "validity.match",
	[CH_LINT_VALIDITY_SPAN] = "validity.span",
	[CH_LINT_VALIDITY_ISSUER] = "validity.issuer",
	[CH_LINT_VALIDITY_ENCODING] = "validity.encoding",
	[CH_LINT_ISSUER_NAME] = "issuer.name",
	[CH_LINT_SUBJECT_MATCH] = "subject.match",
	[CH_LINT_SUBJECT_STRINGS] = "subject.strings",
	[CH_LINT_KEY_MATCH] = "key.match",
	[CH_LINT_KEY_POLICY] = "key.policy",
	[CH_LINT_EXT_SET] = "ext.set",
	[CH_LINT_BASIC_CONSTRAINTS] = "ext.basic_constraints",
	[CH_LINT_KEY_USAGE] = "ext.key_usage",
	[CH_LINT_EXT_KEY_USAGE] = "ext.extended_key_usage",
	[CH_LINT_OCSP_NOCHECK] = "ext.ocsp_nocheck",
	[CH_LINT_SKI] = "ext.subject_key_id",
	[CH_LINT_AKI] = "ext.authority_key_id",
	[CH_LINT_CRL_DP] = "ext.crl_distribution_points",
	[CH_LINT_AIA] = "ext.authority_info_access",
	[CH_LINT_POLICIES] = "ext.certificate_policies",
};

const char *
ch_x509_lint_rule_id(ch_lint_rule_t rule)
{
	return (unsigned)rule < CH_LINT__MAX ? rule_ids[rule] : "";
}

/* What one lint run looks at. */
typedef struct {
	X509 *x;
	const ch_cert_spec_t *spec;
	const ch_profile_rule_t *p;
	ch_lint_report_t *r;
} lint_t;

static void fail(lint_t *l, ch_lint_rule_t rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(lint_t *l, ch_lint_rule_t rule, const char *fmt, ...)
{
	va_list ap;

	/* The text kept is the lowest-numbered rule's, whatever order the
	 * checks ran in. */
	l->r->failed |= 1u << rule;
	if (rule >= l->r->first)
		return;
	l->r->first = rule;
	va_start(ap, fmt);
	vsnprintf(l->r->text, sizeof l->r->text, fmt, ap);
	va_end(ap);
}

/* ---- certificate, serial, validity ------------------------------------ */

static void
lint_version(lint_t *l)
{
	if (X509_get_version(l->x) != X509_VERSION_3)
		fail(l, CH_LINT_VERSION, "is version %ld, not 3",
		    X509_get_version(l->x) + 1);
}

static void
lint_signature_alg(lint_t *l)
{
	EVP_PKEY *issuer_key = l->spec->issuer != NULL ?
	    X509_get0_pubkey(l->spec->issuer) : l->spec->public_key;
	ch_key_kind_t kind = ch_x509_key_kind(issuer_key);
	const X509_ALGOR *outer = NULL, *inner = X509_get0_tbs_sigalg(l->x);
	const ASN1_OBJECT *oid = NULL;
	int ptype = V_ASN1_UNDEF;

	X509_get0_signature(NULL, &outer, l->x);
	X509_ALGOR_get0(&oid, &ptype, NULL, inner);
	if (outer == NULL || X509_ALGOR_cmp(outer, inner) != 0) {
		fail(l, CH_LINT_SIGNATURE_ALG, "differs between the TBS and "
		    "the certificate");
		return;
	}
	/* RFC 4055 §5: NULL parameters for RSA; RFC 5758 §3.2 and GM/T
	 * 0015: absent for ECDSA and SM2. */
	if (kind == CH_KEY__MAX || OBJ_obj2nid(oid) != ch_x509_sig_nid(kind) ||
	    ptype != (kind == CH_KEY_RSA ? V_ASN1_NULL : V_ASN1_UNDEF))
		fail(l, CH_LINT_SIGNATURE_ALG, "is not the algorithm for the "
		    "issuer's %s key", kind == CH_KEY_RSA ? "RSA" :
		    kind == CH_KEY_EC ? "EC" : kind == CH_KEY_SM2 ? "SM2" :
		    "unknown");
}

static void
lint_serial(lint_t *l)
{
	BIGNUM *got = ASN1_INTEGER_to_BN(X509_get0_serialNumber(l->x), NULL);
	BIGNUM *want = BN_bin2bn(l->spec->serial, (int)l->spec->serial_len,
	    NULL);
	int bits;

	if (got == NULL || want == NULL) {
		fail(l, CH_LINT_SERIAL_MATCH, "cannot be read");
		goto out;
	}
	if (BN_ucmp(got, want) != 0)
		fail(l, CH_LINT_SERIAL_MATCH, "is not the serial reserved");
	if (BN_is_negative(got) || BN_is_zero(got))
		fail(l, CH_LINT_SERIAL_POSITIVE, "is not a positive integer");
	/* 20 octets of DER INTEGER hold a magnitude of up to 159 bits. */
	bits = BN_num_bits(got);
	if (bits < 64 || bits > 159)
		fail(l, CH_LINT_SERIAL_SIZE, "has %d significant bits; 64 to "
		    "159 are allowed", bits);
out:
	BN_free(got);
	BN_free(want);
}

int
ch_x509_time_of(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* t plus years calendar years, plus days days. */
static time_t
later(time_t t, int years, int days)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_year += years;
	tm.tm_mday += days;
	return timegm(&tm);
}

/* RFC 5280 §4.1.2.5.1-2: YYMMDDHHMMSSZ before 2050, YYYYMMDDHHMMSSZ from
 * 2050 on (and before 1950). */
static bool
time_encoded_right(const ASN1_TIME *t)
{
	const unsigned char *d = ASN1_STRING_get0_data(t);
	int len = ASN1_STRING_length(t), year;
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	year = tm.tm_year + 1900;
	if (year >= 1950 && year < 2050 ?
	    ASN1_STRING_type(t) != V_ASN1_UTCTIME || len != 13 :
	    ASN1_STRING_type(t) != V_ASN1_GENERALIZEDTIME || len != 15)
		return false;
	for (int i = 0; i < len - 1; i++)
		if (d[i] < '0' || d[i] > '9')
			return false;
	return d[len - 1] == 'Z';
}

static void
lint_validity(lint_t *l)
{
	const ASN1_TIME *nb = X509_get0_notBefore(l->x);
	const ASN1_TIME *na = X509_get0_notAfter(l->x);
	X509 *issuer = l->spec->issuer;
	time_t b, a;

	if (ch_x509_time_of(nb, &b) != 0 || ch_x509_time_of(na, &a) != 0) {
		fail(l, CH_LINT_VALIDITY_MATCH, "cannot be read");
		return;
	}
	if (b != l->spec->not_before || a != l->spec->not_after)
		fail(l, CH_LINT_VALIDITY_MATCH, "is not the validity asked "
		    "for");
	if (l->spec->years < 1 || l->spec->years > l->p->max_years || b >= a ||
	    a > later(b, l->spec->years, l->p->renew_days))
		fail(l, CH_LINT_VALIDITY_SPAN, "is longer than %d year(s)%s, "
		    "or empty", l->spec->years, l->p->renew_days > 0 ?
		    " and the renewal window" : "");
	if (issuer != NULL &&
	    (ASN1_TIME_compare(nb, X509_get0_notBefore(issuer)) < 0 ||
	    ASN1_TIME_compare(na, X509_get0_notAfter(issuer)) > 0))
		fail(l, CH_LINT_VALIDITY_ISSUER, "is not within the issuer's");
	if (!time_encoded_right(nb) || !time_encoded_right(na))
		fail(l, CH_LINT_VALIDITY_ENCODING, "is not UTCTime before 2050 "
		    "and GeneralizedTime after, in seconds with Z");
}

/* ---- names and key ---------------------------------------------------- */

static bool
same_der(const X509_NAME *a, const X509_NAME *b)
{
	const unsigned char *da, *db;
	size_t la, lb;

	return X509_NAME_get0_der(a, &da, &la) == 1 &&
	    X509_NAME_get0_der(b, &db, &lb) == 1 && la == lb &&
	    memcmp(da, db, la) == 0;
}

static void
lint_issuer_name(lint_t *l)
{
	X509_NAME *want = l->spec->issuer != NULL ?
	    X509_get_subject_name(l->spec->issuer) :
	    X509_get_subject_name(l->x);

	if (!same_der(X509_get_issuer_name(l->x), want))
		fail(l, CH_LINT_ISSUER_NAME, "is not the issuer's subject, "
		    "byte for byte");
}

static void
lint_subject(lint_t *l)
{
	const X509_NAME *name = X509_get_subject_name(l->x);
	ch_subj_entry_t want[CH_SUBJ_MAX];
	char why[200];
	size_t n = 0;
	int count = X509_NAME_entry_count(name);

	if (ch_x509_subject_entries(l->spec->profile, &l->spec->subject, want,
	    &n, why, sizeof why) != 0) {
		fail(l, CH_LINT_SUBJECT_MATCH, "cannot be checked: %s", why);
		return;
	}
	if (count != (int)n)
		fail(l, CH_LINT_SUBJECT_MATCH, "has %d attributes, not %zu",
		    count, n);
	for (int i = 0; i < count; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		int type = nid == NID_countryName || nid == NID_serialNumber ?
		    V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;

		if (ASN1_STRING_type(v) != type)
			fail(l, CH_LINT_SUBJECT_STRINGS, "%s is not a %s",
			    ch_x509_subject_field(nid),
			    type == V_ASN1_UTF8STRING ? "UTF8String" :
			    "PrintableString");
		if (i < (int)n && (nid != want[i].nid ||
		    X509_NAME_ENTRY_set(e) != i ||
		    (size_t)ASN1_STRING_length(v) != strlen(want[i].value) ||
		    memcmp(ASN1_STRING_get0_data(v), want[i].value,
		    strlen(want[i].value)) != 0))
			fail(l, CH_LINT_SUBJECT_MATCH, "%s is not what the "
			    "spec says, or not in its place", want[i].field);
	}
}

/*
 * key.policy is the policy of ch_x509_key_check() (kind, RSA size and
 * exponent, the named curve), not OpenSSL's public-key check on top of it:
 * for RSA that test of the modulus (no small factors, composite) costs as
 * much CPU as several signatures, and every subject key the lint sees has
 * passed it already: a request's in ch_csr_check() before the API stored
 * it (the only way a CSR reaches a signing job), the CA's own keys where
 * they were made.  The cheap part, which is what a certificate's profile
 * is about, is checked here again on the key as the certificate carries
 * it.
 */
static void
lint_key(lint_t *l)
{
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(l->x);
	unsigned char *got = NULL, *want = NULL;
	const char *why = NULL;
	int gl = i2d_X509_PUBKEY(spki, &got);
	int wl = i2d_PUBKEY(l->spec->public_key, &want);

	if (gl <= 0 || wl <= 0 || gl != wl || memcmp(got, want, gl) != 0)
		fail(l, CH_LINT_KEY_MATCH, "is not the spec's public key");
	if (ch_x509_spki_policy(spki, &why) != 0)
		fail(l, CH_LINT_KEY_POLICY, "%s", why);
	OPENSSL_free(got);
	OPENSSL_free(want);
}

/* ---- extensions ------------------------------------------------------- */

/* The extensions the profile has (whether or not a URL is given). */
static bool
allowed(const ch_profile_rule_t *p, int nid)
{
	switch (nid) {
	case NID_basic_constraints:
	case NID_key_usage:
	case NID_subject_key_identifier:
	case NID_authority_key_identifier:
		return true;
	case NID_ext_key_usage:
	case NID_id_pkix_OCSP_noCheck:
		return p->ocsp_signing;
	case NID_crl_distribution_points:
		return p->crl != CH_URL_NO;
	case NID_info_access:
		return p->ocsp != CH_URL_NO || p->ca_issuers != CH_URL_NO;
	case NID_certificate_policies:
		return p->policies;
	default:
		return false;
	}
}

static void
lint_ext_set(lint_t *l)
{
	int n = X509_get_ext_count(l->x);

	for (int i = 0; i < n; i++) {
		const ASN1_OBJECT *o =
		    X509_EXTENSION_get_object(X509_get_ext(l->x, i));
		int nid = OBJ_obj2nid(o);

		if (!allowed(l->p, nid)) {
			char txt[80];

			OBJ_obj2txt(txt, sizeof txt, o, 1);
			fail(l, CH_LINT_EXT_SET, "has extension %s, which the "
			    "%s profile does not", txt, l->p->name);
		} else if (X509_get_ext_by_OBJ(l->x, o, i) != -1) {
			fail(l, CH_LINT_EXT_SET, "has extension %s twice",
			    OBJ_nid2sn(nid));
		}
	}
}

/*
 * The decoded extension nid (free with its own _free), or NULL.  Fails
 * rule if it is absent, repeated, undecodable or critical when it must
 * not be (or the reverse).
 */
static void *
ext(lint_t *l, int nid, int critical, ch_lint_rule_t rule)
{
	int crit = -1;
	void *v = X509_get_ext_d2i(l->x, nid, &crit, NULL);

	ERR_clear_error();
	if (crit == -1)
		fail(l, rule, "is missing");
	else if (crit == -2)
		fail(l, rule, "appears more than once");
	else if (v == NULL)
		fail(l, rule, "cannot be decoded");
	else if (crit != critical)
		fail(l, rule, "must %sbe critical", critical ? "" : "not ");
	else
		return v;
	return NULL;
}

/* Fails rule if extension nid is there at all. */
static void
absent(lint_t *l, int nid, ch_lint_rule_t rule)
{
	if (X509_get_ext_by_NID(l->x, nid, -1) >= 0)
		fail(l, rule, "must not be present in a %s certificate",
		    l->p->name);
}

static void
lint_basic_constraints(lint_t *l)
{
	BASIC_CONSTRAINTS *bc = ext(l, NID_basic_constraints, 1,
	    CH_LINT_BASIC_CONSTRAINTS);
	long pathlen = -1;

	if (bc == NULL)
		return;
	if (bc->pathlen != NULL)
		pathlen = ASN1_INTEGER_get(bc->pathlen);
	if ((bc->ca != 0) != l->p->ca || pathlen != l->p->pathlen)
		fail(l, CH_LINT_BASIC_CONSTRAINTS, "is not %s",
		    l->p->ca ? l->p->pathlen >= 0 ? "CA:TRUE, pathlen:0" :
		    "CA:TRUE without a path length" : "CA:FALSE");
	BASIC_CONSTRAINTS_free(bc);
}

static void
lint_key_usage(lint_t *l)
{
	ASN1_BIT_STRING *ku = ext(l, NID_key_usage, 1, CH_LINT_KEY_USAGE);
	uint32_t got = 0;

	if (ku == NULL)
		return;
	for (int b = 0; b < ASN1_STRING_length(ku) * 8; b++)
		if (ASN1_BIT_STRING_get_bit(ku, b))
			got |= b < 8 ? 0x80u >> b : 0x10000u;
	if (got != l->p->key_usage)
		fail(l, CH_LINT_KEY_USAGE, "is not exactly %s",
		    l->p->key_usage == (X509v3_KU_DIGITAL_SIGNATURE |
		    X509v3_KU_NON_REPUDIATION) ?
		    "digitalSignature and nonRepudiation" :
		    l->p->key_usage == X509v3_KU_DIGITAL_SIGNATURE ?
		    "digitalSignature" : "keyCertSign and cRLSign");
	ASN1_BIT_STRING_free(ku);
}

static void
lint_ocsp_signing(lint_t *l)
{
	EXTENDED_KEY_USAGE *eku;
	ASN1_NULL *nul;

	if (!l->p->ocsp_signing) {
		absent(l, NID_ext_key_usage, CH_LINT_EXT_KEY_USAGE);
		absent(l, NID_id_pkix_OCSP_noCheck, CH_LINT_OCSP_NOCHECK);
		return;
	}
	if ((eku = ext(l, NID_ext_key_usage, 0, CH_LINT_EXT_KEY_USAGE)) !=
	    NULL) {
		if (sk_ASN1_OBJECT_num(eku) != 1 ||
		    OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) != NID_OCSP_sign)
			fail(l, CH_LINT_EXT_KEY_USAGE, "is not exactly "
			    "id-kp-OCSPSigning");
		EXTENDED_KEY_USAGE_free(eku);
	}
	if ((nul = ext(l, NID_id_pkix_OCSP_noCheck, 0,
	    CH_LINT_OCSP_NOCHECK)) != NULL)
		ASN1_NULL_free(nul);
}

static bool
same_octets(const ASN1_OCTET_STRING *s, const unsigned char *d, size_t len)
{
	return s != NULL && (size_t)ASN1_STRING_length(s) == len &&
	    memcmp(ASN1_STRING_get0_data(s), d, len) == 0;
}

static void
lint_key_ids(lint_t *l)
{
	unsigned char id[SHA_DIGEST_LENGTH];
	const ASN1_OCTET_STRING *issuer_ski = NULL;
	ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *aki;
	bool have_id = ch_x509_key_id(X509_get_X509_PUBKEY(l->x), id) == 0;

	if ((ski = ext(l, NID_subject_key_identifier, 0, CH_LINT_SKI)) !=
	    NULL) {
		if (!have_id || !same_octets(ski, id, sizeof id))
			fail(l, CH_LINT_SKI, "is not the SHA-1 of the subject "
			    "public key (RFC 5280 method 1)");
		ASN1_OCTET_STRING_free(ski);
	}
	if ((aki = ext(l, NID_authority_key_identifier, 0, CH_LINT_AKI)) ==
	    NULL)
		return;
	if (l->spec->issuer != NULL)
		issuer_ski = X509_get0_subject_key_id(l->spec->issuer);
	if (aki->issuer != NULL || aki->serial != NULL ||
	    (l->spec->issuer != NULL ? issuer_ski == NULL ||
	    ASN1_OCTET_STRING_cmp(aki->keyid, issuer_ski) != 0 :
	    !have_id || !same_octets(aki->keyid, id, sizeof id)))
		fail(l, CH_LINT_AKI, "is not the issuer's key identifier "
		    "alone");
	AUTHORITY_KEYID_free(aki);
}

/* Whether gn is the URI url. */
static bool
is_uri(const GENERAL_NAME *gn, const char *url)
{
	const ASN1_IA5STRING *s;
	int type;

	s = GENERAL_NAME_get0_value(gn, &type);
	return type == GEN_URI && same_octets(s,
	    (const unsigned char *)url, strlen(url));
}

static void
lint_crl_dp(lint_t *l)
{
	const char *url = l->spec->crl_url;
	CRL_DIST_POINTS *dps;
	DIST_POINT *dp;

	if (l->p->crl == CH_URL_NO || (l->p->crl == CH_URL_OPTIONAL &&
	    url == NULL)) {
		absent(l, NID_crl_distribution_points, CH_LINT_CRL_DP);
		return;
	}
	if (url == NULL) {
		fail(l, CH_LINT_CRL_DP, "has no URL in the spec");
		return;
	}
	if ((dps = ext(l, NID_crl_distribution_points, 0, CH_LINT_CRL_DP)) ==
	    NULL)
		return;
	dp = sk_DIST_POINT_num(dps) == 1 ? sk_DIST_POINT_value(dps, 0) : NULL;
	if (dp == NULL || dp->reasons != NULL || dp->CRLissuer != NULL ||
	    dp->distpoint == NULL || dp->distpoint->type != 0 ||
	    sk_GENERAL_NAME_num(dp->distpoint->name.fullname) != 1 ||
	    !is_uri(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0),
	    url))
		fail(l, CH_LINT_CRL_DP, "is not one distribution point with "
		    "the URL %s", url);
	CRL_DIST_POINTS_free(dps);
}

static void
lint_aia(lint_t *l)
{
	struct {
		int nid;
		const char *url;
	} want[2];
	AUTHORITY_INFO_ACCESS *aia;
	int n = 0;

	if (l->p->ocsp != CH_URL_NO && l->spec->ocsp_url != NULL)
		want[n].nid = NID_ad_OCSP, want[n++].url = l->spec->ocsp_url;
	if (l->p->ca_issuers != CH_URL_NO && l->spec->ca_issuers_url != NULL)
		want[n].nid = NID_ad_ca_issuers,
		    want[n++].url = l->spec->ca_issuers_url;
	if ((l->p->ocsp == CH_URL_REQUIRED && l->spec->ocsp_url == NULL) ||
	    (l->p->ca_issuers == CH_URL_REQUIRED &&
	    l->spec->ca_issuers_url == NULL)) {
		fail(l, CH_LINT_AIA, "lacks a URL in the spec");
		return;
	}
	if (n == 0) {
		absent(l, NID_info_access, CH_LINT_AIA);
		return;
	}
	if ((aia = ext(l, NID_info_access, 0, CH_LINT_AIA)) == NULL)
		return;
	if (sk_ACCESS_DESCRIPTION_num(aia) != n)
		n = -1;
	for (int i = 0; i < n; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);

		if (OBJ_obj2nid(ad->method) != want[i].nid ||
		    !is_uri(ad->location, want[i].url))
			n = -1;
	}
	if (n < 0)
		fail(l, CH_LINT_AIA, "is not exactly the OCSP and caIssuers "
		    "URLs of the spec");
	AUTHORITY_INFO_ACCESS_free(aia);
}

static void
lint_policies(lint_t *l)
{
	const char *want = l->spec->policy_oid;
	ASN1_OBJECT *oid = NULL;
	CERTIFICATEPOLICIES *cp;
	POLICYINFO *pi;

	if (!l->p->policies) {
		absent(l, NID_certificate_policies, CH_LINT_POLICIES);
		return;
	}
	if (want == NULL) {
		fail(l, CH_LINT_POLICIES, "has no policy OID in the spec");
		return;
	}
	if ((cp = ext(l, NID_certificate_policies, 0, CH_LINT_POLICIES)) ==
	    NULL)
		return;
	oid = OBJ_txt2obj(want, 1);
	pi = sk_POLICYINFO_num(cp) == 1 ? sk_POLICYINFO_value(cp, 0) : NULL;
	if (oid == NULL || pi == NULL || pi->qualifiers != NULL ||
	    OBJ_cmp(pi->policyid, oid) != 0)
		fail(l, CH_LINT_POLICIES, "is not the one policy %s", want);
	ASN1_OBJECT_free(oid);
	CERTIFICATEPOLICIES_free(cp);
}

int
ch_x509_lint(X509 *cert, const ch_cert_spec_t *spec, ch_lint_report_t *r)
{
	lint_t l = { cert, spec, ch_x509_profile(spec->profile), r };

	r->failed = 0;
	r->first = CH_LINT__MAX;
	r->text[0] = '\0';
	if (l.p == NULL) {
		fail(&l, CH_LINT_SUBJECT_MATCH, "the spec's profile is not "
		    "one of ours");
		return -1;
	}
	lint_version(&l);
	lint_signature_alg(&l);
	lint_serial(&l);
	lint_validity(&l);
	lint_issuer_name(&l);
	lint_subject(&l);
	lint_key(&l);
	lint_ext_set(&l);
	lint_basic_constraints(&l);
	lint_key_usage(&l);
	lint_ocsp_signing(&l);
	lint_key_ids(&l);
	lint_crl_dp(&l);
	lint_aia(&l);
	lint_policies(&l);
	ERR_clear_error();
	return r->failed == 0 ? 0 : -1;
}
