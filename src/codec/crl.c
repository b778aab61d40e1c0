/*
 * Certificate revocation lists (certhall/codec/crl.h): checks of the
 * caller's list, one sort, the entries, the extensions, the signature and
 * the check of the encoded CRL.
 */
#include "revoke_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static const char *const reason_names[CH_CRL__MAX] = {
	[CH_CRL_UNSPECIFIED] = "unspecified",
	[CH_CRL_KEY_COMPROMISE] = "keyCompromise",
	[CH_CRL_CA_COMPROMISE] = "cACompromise",
	[CH_CRL_AFFILIATION_CHANGED] = "affiliationChanged",
	[CH_CRL_SUPERSEDED] = "superseded",
	[CH_CRL_CESSATION_OF_OPERATION] = "cessationOfOperation",
	[CH_CRL_CERTIFICATE_HOLD] = "certificateHold",
	[CH_CRL_REMOVE_FROM_CRL] = "removeFromCRL",
	[CH_CRL_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
	[CH_CRL_AA_COMPROMISE] = "aACompromise",
};

const char *
ch_crl_reason_name(ch_crl_reason_t reason)
{
	return (unsigned)reason < CH_CRL__MAX && reason_names[reason] != NULL ?
	    reason_names[reason] : "";
}

int
ch_crl_reason_ok(ch_crl_reason_t reason)
{
	return *ch_crl_reason_name(reason) != '\0' &&
	    reason != CH_CRL_CERTIFICATE_HOLD &&
	    reason != CH_CRL_REMOVE_FROM_CRL &&
	    reason != CH_CRL_AA_COMPROMISE;
}

size_t
ch_revoke_serial_trim(const unsigned char **serial, size_t len)
{
	while (len > 0 && (*serial)[0] == 0) {
		(*serial)++;
		len--;
	}
	return len;
}

int
ch_revoke_serial_set(ASN1_INTEGER *ai, const unsigned char *serial,
    size_t len)
{
	/* An INTEGER's content here is the magnitude: i2d adds the 0x00 a
	 * set top bit needs, and no leading zero may be left for it. */
	len = ch_revoke_serial_trim(&serial, len);
	if (len == 0 || len > CH_X509_SERIAL_MAX ||
	    ASN1_STRING_set(ai, serial, (int)len) != 1)
		return -1;
	return 0;
}

/* ---- the caller's list ------------------------------------------------ */

/* One entry's serial without leading zeros, and where it came from. */
typedef struct {
	const unsigned char *serial;
	size_t len;
	size_t index;
} sorted_t;

/* Ascending INTEGER order: a shorter magnitude is the smaller number. */
static int
serial_cmp(const void *a, const void *b)
{
	const sorted_t *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->serial, y->serial, x->len);
}

static int
check_entry(const ch_crl_spec_t *spec, size_t i, sorted_t *out, char *why,
    size_t whylen)
{
	const ch_crl_entry_t *e = &spec->entries[i];

	out->serial = e->serial;
	out->index = i;
	out->len = e->serial != NULL ?
	    ch_revoke_serial_trim(&out->serial, e->serial_len) : 0;
	if (out->len == 0 || out->len > CH_X509_SERIAL_MAX) {
		ch_x509_whyf(why, whylen, "entries[%zu].serial: is not a "
		    "positive serial of 1 to %d bytes", i, CH_X509_SERIAL_MAX);
		return -1;
	}
	if (e->revoked_at <= 0 || e->revoked_at > spec->this_update) {
		ch_x509_whyf(why, whylen, "entries[%zu].revoked_at: is not "
		    "between 1970 and this_update", i);
		return -1;
	}
	if (!ch_crl_reason_ok(e->reason)) {
		ch_x509_whyf(why, whylen, "entries[%zu].reason: %d is not a "
		    "reason certhall revokes for", i, (int)e->reason);
		return -1;
	}
	if (e->invalid_since < 0 || e->invalid_since > e->revoked_at) {
		ch_x509_whyf(why, whylen, "entries[%zu].invalid_since: is "
		    "after revoked_at", i);
		return -1;
	}
	return 0;
}

/*
 * The spec's fields, then its entries, each checked and then sorted:
 * *sorted gets spec->n of them in ascending serial order (free()).
 */
static int
check_spec(const ch_crl_spec_t *spec, EVP_PKEY *key, sorted_t **sorted,
    char *why, size_t whylen)
{
	sorted_t *s = NULL;

	*sorted = NULL;
	if (spec->issuer == NULL ||
	    X509_get0_subject_key_id(spec->issuer) == NULL) {
		ch_x509_whyf(why, whylen, "issuer: is missing or has no "
		    "subject key identifier");
		return -1;
	}
	if (!(X509_get_key_usage(spec->issuer) & KU_CRL_SIGN)) {
		ch_x509_whyf(why, whylen, "issuer: its key usage has no "
		    "cRLSign");
		return -1;
	}
	if (ch_x509_key_kind(key) == CH_KEY__MAX) {
		ch_x509_whyf(why, whylen, "key: is neither RSA, EC nor SM2");
		return -1;
	}
	if (spec->this_update <= 0 || spec->next_update <= spec->this_update) {
		ch_x509_whyf(why, whylen, "next_update: is not after "
		    "this_update");
		return -1;
	}
	if (spec->number > (uint64_t)CH_CRL_NUMBER_MAX) {
		ch_x509_whyf(why, whylen, "number: is above 2^63-1");
		return -1;
	}
	if (spec->shard_url != NULL && ch_x509_url_check("shard_url",
	    spec->shard_url, why, whylen) != 0)
		return -1;
	if (spec->n > 0 && spec->entries == NULL) {
		ch_x509_whyf(why, whylen, "entries: is missing");
		return -1;
	}
	if (spec->n > 0 && (s = calloc(spec->n, sizeof *s)) == NULL) {
		ch_x509_whyf(why, whylen, "entries: out of memory");
		return -1;
	}
	for (size_t i = 0; i < spec->n; i++)
		if (check_entry(spec, i, &s[i], why, whylen) != 0)
			goto fail;
	if (spec->n > 1)
		qsort(s, spec->n, sizeof *s, serial_cmp);
	for (size_t i = 1; i < spec->n; i++) {
		if (serial_cmp(&s[i - 1], &s[i]) == 0) {
			ch_x509_whyf(why, whylen, "entries[%zu].serial: is "
			    "also entries[%zu]'s", s[i].index > s[i - 1].index ?
			    s[i].index : s[i - 1].index, s[i].index >
			    s[i - 1].index ? s[i - 1].index : s[i].index);
			goto fail;
		}
	}
	*sorted = s;
	return 0;
fail:
	free(s);
	return -1;
}

/* ---- the CRL ------------------------------------------------------------ */

/* Scratch values reused for every entry. */
typedef struct {
	ASN1_INTEGER *serial;
	ASN1_TIME *date;
	ASN1_ENUMERATED *reason;
	ASN1_GENERALIZEDTIME *invalid;
} scratch_t;

static int
add_entry(X509_CRL *crl, const ch_crl_entry_t *e, scratch_t *t)
{
	X509_REVOKED *rev = X509_REVOKED_new();

	if (rev == NULL ||
	    ch_revoke_serial_set(t->serial, e->serial, e->serial_len) != 0 ||
	    X509_REVOKED_set_serialNumber(rev, t->serial) != 1 ||
	    ASN1_TIME_set(t->date, e->revoked_at) == NULL ||
	    X509_REVOKED_set_revocationDate(rev, t->date) != 1)
		goto fail;
	if (e->reason != CH_CRL_UNSPECIFIED &&
	    (ASN1_ENUMERATED_set(t->reason, e->reason) != 1 ||
	    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, t->reason, 0,
	    X509V3_ADD_DEFAULT) != 1))
		goto fail;
	if (e->invalid_since != 0 &&
	    (ASN1_GENERALIZEDTIME_set(t->invalid, e->invalid_since) == NULL ||
	    X509_REVOKED_add1_ext_i2d(rev, NID_invalidity_date, t->invalid,
	    0, X509V3_ADD_DEFAULT) != 1))
		goto fail;
	if (X509_CRL_add0_revoked(crl, rev) != 1)
		goto fail;
	return 0;
fail:
	X509_REVOKED_free(rev);
	return -1;
}

static int
add_entries(X509_CRL *crl, const ch_crl_spec_t *spec, const sorted_t *s)
{
	scratch_t t = {
		.serial = ASN1_INTEGER_new(), .date = ASN1_TIME_new(),
		.reason = ASN1_ENUMERATED_new(),
		.invalid = ASN1_GENERALIZEDTIME_new(),
	};
	int rc = -1;

	if (t.serial == NULL || t.date == NULL || t.reason == NULL ||
	    t.invalid == NULL)
		goto out;
	for (size_t i = 0; i < spec->n; i++)
		if (add_entry(crl, &spec->entries[s[i].index], &t) != 0)
			goto out;
	rc = 0;
out:
	ASN1_GENERALIZEDTIME_free(t.invalid);
	ASN1_ENUMERATED_free(t.reason);
	ASN1_TIME_free(t.date);
	ASN1_INTEGER_free(t.serial);
	return rc;
}

static int
set_times(X509_CRL *crl, time_t this_update, time_t next_update)
{
	/* ASN1_TIME_set picks UTCTime for 1950-2049 and GeneralizedTime
	 * otherwise, RFC 5280 §5.1.2.4's rule. */
	ASN1_TIME *tu = ASN1_TIME_set(NULL, this_update);
	ASN1_TIME *nu = ASN1_TIME_set(NULL, next_update);
	int rc = tu != NULL && nu != NULL &&
	    X509_CRL_set1_lastUpdate(crl, tu) == 1 &&
	    X509_CRL_set1_nextUpdate(crl, nu) == 1 ? 0 : -1;

	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	return rc;
}

static int
add_extensions(X509_CRL *crl, const ch_crl_spec_t *spec)
{
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	ASN1_INTEGER *number = ASN1_INTEGER_new();
	ISSUING_DIST_POINT *idp = NULL;
	int rc = -1;

	if (aki == NULL || number == NULL || (aki->keyid =
	    ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(spec->issuer))) ==
	    NULL || ASN1_INTEGER_set_uint64(number, spec->number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki, 0,
	    X509V3_ADD_DEFAULT) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto out;
	if (spec->shard_url != NULL) {
		if ((idp = ISSUING_DIST_POINT_new()) == NULL ||
		    (idp->distpoint = ch_x509_dp_name(spec->shard_url)) ==
		    NULL)
			goto out;
		idp->onlyuser = 0xff;
		if (X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point,
		    idp, 1, X509V3_ADD_DEFAULT) != 1)
			goto out;
	}
	rc = 0;
out:
	ISSUING_DIST_POINT_free(idp);
	ASN1_INTEGER_free(number);
	AUTHORITY_KEYID_free(aki);
	return rc;
}

int
ch_crl_sign(const ch_crl_spec_t *spec, EVP_PKEY *key, unsigned char **der,
    size_t *len, char *why, size_t whylen)
{
	sorted_t *sorted = NULL;
	X509_CRL *crl = NULL;
	EVP_MD_CTX *md = NULL;
	int n, rc = -1;

	*der = NULL;
	*len = 0;
	if (check_spec(spec, key, &sorted, why, whylen) != 0)
		goto out;
	if ((crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl,
	    X509_get_subject_name(spec->issuer)) != 1 ||
	    set_times(crl, spec->this_update, spec->next_update) != 0 ||
	    add_entries(crl, spec, sorted) != 0 ||
	    add_extensions(crl, spec) != 0) {
		ch_x509_whyf(why, whylen, "crl: cannot be built (out of "
		    "memory?)");
		goto out;
	}
	if ((md = ch_signed_ctx_new(key, false)) == NULL ||
	    X509_CRL_sign_ctx(crl, md) <= 0) {
		ch_x509_whyf(why, whylen, "key: the signature failed");
		goto out;
	}
	if ((n = i2d_X509_CRL(crl, der)) <= 0) {
		*der = NULL;
		ch_x509_whyf(why, whylen, "crl: cannot be encoded");
		goto out;
	}
	*len = (size_t)n;
	/* The check reads the DER back: X509_CRL_verify on the CRL just
	 * signed in memory can fail (FIELD-NOTES), and the DER is what
	 * relying parties get. */
	if (ch_crl_verify(*der, *len, spec->issuer, why, whylen) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		OPENSSL_free(*der);
		*der = NULL;
		*len = 0;
	}
	EVP_MD_CTX_free(md);
	X509_CRL_free(crl);
	free(sorted);
	ERR_clear_error();
	return rc;
}

int
ch_crl_verify(const unsigned char *der, size_t len, X509 *issuer, char *why,
    size_t whylen)
{
	const unsigned char *p = der;
	X509_CRL *crl = NULL;
	AUTHORITY_KEYID *aki = NULL;
	const ASN1_OCTET_STRING *ski = issuer != NULL ?
	    X509_get0_subject_key_id(issuer) : NULL;
	int rc = -1;

	if (der == NULL || len == 0 || len > LONG_MAX ||
	    (crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		ch_x509_whyf(why, whylen, "crl: is not one DER CRL");
		goto out;
	}
	if (X509_CRL_get_version(crl) != X509_CRL_VERSION_2) {
		ch_x509_whyf(why, whylen, "crl: is not a v2 CRL");
		goto out;
	}
	if (issuer == NULL || X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(issuer)) != 0) {
		ch_x509_whyf(why, whylen, "crl.issuer: is not the issuer "
		    "certificate's subject");
		goto out;
	}
	aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL,
	    NULL);
	if (aki == NULL || aki->keyid == NULL || ski == NULL ||
	    ASN1_OCTET_STRING_cmp(aki->keyid, ski) != 0) {
		ch_x509_whyf(why, whylen, "crl.authority_key_id: is not the "
		    "issuer's subject key identifier");
		goto out;
	}
	if (ch_signed_verify(der, len, X509_get0_pubkey(issuer)) != 0) {
		ch_x509_whyf(why, whylen, "signature: does not verify with the "
		    "issuer's public key");
		goto out;
	}
	rc = 0;
out:
	AUTHORITY_KEYID_free(aki);
	X509_CRL_free(crl);
	ERR_clear_error();
	return rc;
}
