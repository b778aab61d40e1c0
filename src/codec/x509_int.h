/*
 * Shared inside the codec's X.509 files (x509.c, x509_lint.c, x509_sign.c,
 * csr.c); not part of the public interface.
 */
#ifndef CERTHALL_CODEC_X509_INT_H
#define CERTHALL_CODEC_X509_INT_H

#include "certhall/codec/x509.h"

#include <openssl/sha.h>
#include <openssl/x509v3.h>

/* The three kinds of key there are signature algorithms for. */
typedef enum {
	CH_KEY_RSA,	/* sha256WithRSAEncryption */
	CH_KEY_EC,	/* ecdsa-with-SHA256 */
	CH_KEY_SM2,	/* SM2-with-SM3, CH_X509_SM2_ID */
	CH_KEY__MAX
} ch_key_kind_t;

/* The kind of key by its type alone (no policy: a token key may not
 * expose everything ch_x509_key_check() looks at), or CH_KEY__MAX. */
ch_key_kind_t ch_x509_key_kind(const EVP_PKEY *key);

/* The signature algorithm NID a key of kind signs certificates with. */
int ch_x509_sig_nid(ch_key_kind_t kind);

/* When a URL goes into a profile's certificates. */
typedef enum {
	CH_URL_NO,
	CH_URL_OPTIONAL,
	CH_URL_REQUIRED
} ch_url_rule_t;

/* One profile: the table in certhall/codec/x509.h. */
typedef struct {
	const char *name;
	bool ca;		/* basicConstraints cA */
	int pathlen;		/* pathLenConstraint, -1 for none */
	uint32_t key_usage;	/* X509v3_KU_* bits */
	bool ocsp_signing;	/* EKU id-kp-OCSPSigning and ocsp-nocheck */
	ch_url_rule_t crl, ocsp, ca_issuers;
	bool policies;		/* certificatePolicies */
	int max_years;
	int renew_days;		/* validity may exceed years by this much */
} ch_profile_rule_t;

/* The rule of profile, or NULL if out of range. */
const ch_profile_rule_t *ch_x509_profile(ch_profile_t profile);

/* At most this many attributes in a subject, each value at most 64
 * characters of up to 4 UTF-8 bytes. */
#define CH_SUBJ_MAX 5
#define CH_SUBJ_VALUE_MAX (64 * 4 + 1)

/* One subject attribute as it must appear. */
typedef struct {
	int nid;
	int type;		/* V_ASN1_UTF8STRING, V_ASN1_PRINTABLESTRING */
	const char *field;	/* "subject.CN", ...: where it is reported */
	char value[CH_SUBJ_VALUE_MAX];
} ch_subj_entry_t;

/*
 * The attributes a certificate of profile for subject carries, in order,
 * into out (*n of them), after checking the subject's fields.  0, or -1
 * with why naming the field at fault.
 */
int ch_x509_subject_entries(ch_profile_t profile,
    const ch_cert_subject_t *subject, ch_subj_entry_t out[CH_SUBJ_MAX],
    size_t *n, char *why, size_t whylen);

/* The "subject.<short name>" field name of an attribute NID, or
 * "subject" for one no profile uses. */
const char *ch_x509_subject_field(int nid);

/*
 * The policy check of ch_x509_key_check() on an encoded key: also that an
 * EC key's parameters are a named curve (namedCurve OID), which the
 * EVP_PKEY no longer shows.  0, or -1 with *why.
 */
int ch_x509_spki_check(X509_PUBKEY *spki, const char **why);

/*
 * ch_x509_spki_check() without OpenSSL's public-key check: the kind, the
 * size, the exponent and the named curve only (the key is still decoded
 * afresh, which for EC and SM2 puts the point on the curve).  For the
 * lint: see lint_key().  0, or -1 with *why.
 */
int ch_x509_spki_policy(X509_PUBKEY *spki, const char **why);

/* The RFC 5280 §4.2.1.2 method 1 key identifier of spki into out.
 * 0, or -1. */
int ch_x509_key_id(const X509_PUBKEY *spki,
    unsigned char out[SHA_DIGEST_LENGTH]);

/* 0 if url is an http:// URL of printable ASCII, at most
 * CH_X509_URL_MAX characters; -1 with why naming field otherwise. */
int ch_x509_url_check(const char *field, const char *url, char *why,
    size_t whylen);

/* A new DistributionPointName holding fullName = the one URI url, for a
 * CRL DP or an Issuing Distribution Point; NULL if out of memory. */
DIST_POINT_NAME *ch_x509_dp_name(const char *url);

/* A new OCTET STRING holding CH_X509_SM2_ID, or NULL. */
ASN1_OCTET_STRING *ch_x509_sm2_id_new(void);

/* t (UTCTime or GeneralizedTime) as seconds since the epoch into *out.
 * 0, or -1 if it cannot be read. */
int ch_x509_time_of(const ASN1_TIME *t, time_t *out);

/* snprintf into why (if not NULL), for the one-line reasons. */
void ch_x509_whyf(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
