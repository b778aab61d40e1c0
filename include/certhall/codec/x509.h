/*
 * X.509 certificates for certhall's CA (SPEC §3, §8): the profiles, a
 * builder, our own lint, signing with a checked TBS, and the encodings for
 * downloads.  Pure: no database, no HTTP, no PKCS#11.  Keys arrive as
 * EVP_PKEY (a libp11 token key is one as well), certificates as X509.
 *
 * Issuance follows Boulder (FIELD-NOTES "Issuing certificates"):
 *
 *	serial = ch_x509_serial_new()	  the caller reserves it in the DB
 *	x = ch_x509_build(&spec)	  the unsigned certificate
 *	ch_x509_precert(x, key, &tbs)	  x given the signature algorithm of
 *					  key's kind: its TBS is what key will
 *					  sign
 *	ch_x509_lint(x, &spec)		  our checks; the caller stores tbs
 *	ch_x509_sign(x, key, tbs, issuer) the real signature; refused unless
 *					  the TBS is byte-identical to tbs and
 *					  the signature verifies
 *
 * or all of it in one call, ch_x509_issue().  A failed attempt burns the
 * serial: never sign again under it.
 *
 * Profile decisions (what each certificate carries, and why)
 * -----------------------------------------------------------
 * Subject, in this order (most significant first):
 *
 *	org	  C=CN, O=unit, organizationIdentifier=NTRCN-<credit code>,
 *		  CN=unit
 *	personal  C=CN, O=unit, organizationIdentifier=NTRCN-<credit code>,
 *		  CN=person's name, serialNumber=IDCCN-<resident ID number>
 *	root, issuing, ocsp, seal
 *		  C=CN, O=the CA's organisation, [organizationIdentifier=
 *		  NTRCN-<the CA's credit code>,] CN=the CA certificate's name
 *
 * - organizationIdentifier (2.5.4.97) and serialNumber (2.5.4.5) follow
 *   ETSI EN 319 412-1 §5.1.4 and §5.1.3: a 3-letter scheme, the ISO 3166
 *   country and "-": NTR (national trade register; the unified social
 *   credit code of GB 32100 is China's register number) and IDC (national
 *   identity card; the GB 11643 resident ID).  Relying parties outside
 *   China (EU eIDAS tooling) read them without a private OID; Chinese
 *   clients that look for the bare code find it after the prefix.
 * - The unit's name is both O and CN of an org certificate: O says who the
 *   holder belongs to in every profile, and many clients show only CN.
 * - DirectoryString attributes are UTF8String (RFC 5280 §4.1.2.6, required
 *   since 2004; Chinese names need it); countryName and serialNumber are
 *   PrintableString, as X.520 and RFC 5280 Appendix A define them.
 *   Each value is at most 64 characters (RFC 5280 ub-common-name etc.),
 *   valid UTF-8 without control characters or surrounding spaces.  The
 *   credit code and ID number are checked for shape only (18 characters
 *   of their alphabets); their check digits were checked when the
 *   application was made (validate.h).
 * - No subjectAltName: the holders have no DNS name or address to bind,
 *   and an empty SAN would be worse than none.
 *
 * Extensions (c = critical):
 *
 *	profile   basicConstraints  keyUsage (c)       others
 *	org,      c CA:FALSE        digitalSignature,  SKI, AKI, CRL DP, AIA
 *	personal,                   nonRepudiation     (OCSP + caIssuers),
 *	seal                                           certificatePolicies
 *	ocsp      c CA:FALSE        digitalSignature   SKI, AKI, EKU
 *							  id-kp-OCSPSigning,
 *							  id-pkix-ocsp-nocheck
 *	issuing   c CA:TRUE,        keyCertSign,       SKI, AKI,
 *		    pathlen 0       cRLSign            certificatePolicies,
 *							  [CRL DP, AIA]
 *	root      c CA:TRUE         keyCertSign,       SKI, AKI (= its SKI)
 *				    cRLSign
 *
 * - SKI is RFC 5280 §4.2.1.2 method 1 (SHA-1 of the subjectPublicKey BIT
 *   STRING's value); AKI is keyIdentifier only, copied from the issuer's
 *   SKI (issuer name + serial would pin the issuer's certificate and
 *   break on its renewal).  The root carries an AKI equal to its own SKI,
 *   as the CA/B Forum BR recommend for roots.
 * - keyUsage is critical everywhere (as the CA/B Forum BR require; RFC
 *   5280 §4.2.1.3 says SHOULD).
 *   Subscribers sign (logins, documents, e-seal use), hence
 *   digitalSignature + nonRepudiation and nothing that enciphers: Chinese
 *   practice puts encryption keys in a second, escrowed certificate.
 * - No extendedKeyUsage on subscriber and seal certificates: they sign
 *   documents in applications that check none, and an EKU would only
 *   restrict them.  The OCSP signer carries id-kp-OCSPSigning (RFC 6960
 *   §4.2.2.2) and id-pkix-ocsp-nocheck (§4.2.2.2.1), so clients do not ask
 *   the responder about its own certificate; it has no CRL DP or AIA (its
 *   short life is its revocation story).
 * - The seal maker (制章者, GB/T 38540 §7) is the CA's own end-entity key
 *   that signs SES_Seal structures: the subscriber profile's extensions,
 *   so a seal verifier finds its revocation status the same way.
 * - CRL DP is one DistributionPoint with one fullName URI, no reasons, no
 *   cRLIssuer; AIA has exactly one id-ad-ocsp and one id-ad-caIssuers URI.
 *   URLs are http:// (RFC 5280 §4.2.1.13 and RFC 6960 use HTTP; https
 *   would make revocation checking depend on another certificate).
 *   Subscribers and the seal maker require all three URLs; the issuing CA
 *   takes any of them (pointing at the root's CRL and certificate); the
 *   root and the OCSP signer take none.
 * - certificatePolicies holds one policy OID without qualifiers on
 *   subscriber, seal and issuing certificates (an issuing CA without it
 *   fails `openssl verify -policy_check`).  The OID is configuration and
 *   required: there is no built-in default.  The registration-free choice,
 *   2.25.<a UUID as one integer> (ITU-T X.667), was tried and dropped:
 *   Debian 12's python3-cryptography 38 cannot parse a certificate that
 *   carries it ("ParseError ... PolicyInformation::policy_identifier";
 *   checked here: it refuses any arc of 2^28 or more), pyca declines to
 *   support such arcs because Go does not allow them either
 *   (pyca/cryptography #6573, #6872), and wolfSSL's parser stops at 32
 *   bits (wolfSSL PR #11019).
 *   So every arc must be below 2^28 (CH_X509_OID_ARC_MAX), which a PEN
 *   (1.3.6.1.4.1.<pen>...) or a Chinese registration (1.2.156...) meets.
 *   Tests use the ITU-T example arc 2.999 (X.660), never for production.
 *
 * Serial numbers: 16 CSPRNG bytes with the top bit cleared, so 127 random
 * bits, always a positive INTEGER of at most 16 octets (BR 7.1: at least
 * 64 bits of CSPRNG output; RFC 5280 §4.1.2.2: at most 20 octets).
 *
 * Validity is not_before..not_after as the caller computed them (new =
 * paid years, renew = max(old not_after, now) + years, reissue and change
 * keep the old not_after).  Times before 2050 are UTCTime, from 2050 on
 * GeneralizedTime (RFC 5280 §4.1.2.5), always in seconds with "Z".
 *
 * Signature algorithms, by the issuer key's kind: RSA (2048-8192 bits) ->
 * sha256WithRSAEncryption (PKCS#1 v1.5); EC P-256 -> ecdsa-with-SHA256;
 * SM2 -> SM2-with-SM3 (1.2.156.10197.1.501) with the distinguishing ID
 * "1234567812345678" (GB/T 35276; OpenSSL 3.0 has no default, FIELD-NOTES
 * "SM2").  The same three kinds are the only subject keys accepted.
 *
 * Errors: functions return -1 or NULL and write a one-line reason into the
 * caller's why buffer (a field name first where one is at fault, e.g.
 * "subject.unit_name: is not valid UTF-8").  OpenSSL's error queue is
 * cleared on every return; out-of-memory inside OpenSSL is reported like
 * any other failure (this layer has no policy of its own: the signer
 * decides).
 */
#ifndef CERTHALL_CODEC_X509_H
#define CERTHALL_CODEC_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* The SM2 distinguishing ID every SM2 signature here is made and checked
 * with (GB/T 35276 §5.4's default user ID). */
#define CH_X509_SM2_ID "1234567812345678"

/* The largest arc a policy OID may have: 2^28 - 1, the most Debian 12's
 * python3-cryptography parses (see above). */
#define CH_X509_OID_ARC_MAX 268435455UL

/* The length of a serial made by ch_x509_serial_new(), and the most any
 * serial may have (RFC 5280 §4.1.2.2). */
#define CH_X509_SERIAL_LEN 16
#define CH_X509_SERIAL_MAX 20

/* A renewal may start this many days before the old not_after (SPEC §2),
 * so a subscriber's validity may exceed its paid years by this much. */
#define CH_X509_RENEW_DAYS 60

/* The longest URL accepted in a CRL DP or AIA. */
#define CH_X509_URL_MAX 256

typedef enum {
	CH_PROFILE_ORG,		/* subscriber: enterprise / institution */
	CH_PROFILE_PERSONAL,	/* subscriber: a person acting for a unit */
	CH_PROFILE_ROOT,	/* self-signed root CA */
	CH_PROFILE_ISSUING,	/* issuing CA under the root, pathlen 0 */
	CH_PROFILE_OCSP,	/* OCSP responder's signing certificate */
	CH_PROFILE_SEAL,	/* GB/T 38540 seal maker (制章者) */
	CH_PROFILE__MAX
} ch_profile_t;

/* "org", "personal", "root", "issuing", "ocsp", "seal"; "" if out of
 * range.  The names match SPEC §3's certificate type codes. */
const char *ch_x509_profile_name(ch_profile_t profile);

/* The most years a certificate of profile may be valid: 5 for subscribers
 * (SPEC §4), 30 root, 20 issuing, 10 seal maker, 1 OCSP signer. */
int ch_x509_profile_max_years(ch_profile_t profile);

/*
 * Who a certificate is for: the approved application (org, personal) or
 * the CA's configuration (the other profiles).  All borrowed UTF-8.
 */
typedef struct {
	const char *unit_name;	 /* O in every profile, CN of org */
	const char *credit_code; /* 18 characters (GB 32100); required for
				  * org and personal, optional for the CA */
	const char *person_name; /* personal: CN */
	const char *id_number;	 /* personal: 18 characters (GB 11643) */
	const char *ca_name;	 /* root, issuing, ocsp, seal: CN */
} ch_cert_subject_t;

/*
 * Everything a certificate is made from.  All pointers are borrowed and
 * must outlive the calls that take the spec.
 */
typedef struct {
	ch_profile_t profile;
	const unsigned char *serial; /* big-endian magnitude, 1 to 20 bytes,
				      * as reserved by the caller */
	size_t serial_len;
	time_t not_before, not_after;
	int years;		/* the years paid for (1..profile maximum);
				 * for reissue and change those of the
				 * certificate replaced */
	ch_cert_subject_t subject;
	EVP_PKEY *public_key;	/* the subject's key; for a root, the
				 * root's own */
	X509 *issuer;		/* the issuing certificate; NULL for a root */
	const char *crl_url;	/* http:// URLs, see the table above */
	const char *ocsp_url;
	const char *ca_issuers_url;
	const char *policy_oid;	/* dotted, arcs <= CH_X509_OID_ARC_MAX;
				 * required where the profile has
				 * policies, NULL elsewhere */
} ch_cert_spec_t;

/*
 * Fills serial with a new certificate serial: CH_X509_SERIAL_LEN bytes
 * from OpenSSL's CSPRNG (RAND_bytes) with the top bit cleared (positive as
 * a DER INTEGER) and never all zero: 127 random bits.  0, or -1 if the
 * CSPRNG failed (serial is then zeroed; do not issue).
 */
int ch_x509_serial_new(unsigned char serial[CH_X509_SERIAL_LEN]);

/*
 * The unsigned X.509 v3 certificate spec describes, by its profile (see
 * above).  Checks the spec as it goes: the profile's subject fields,
 * serial length, not_before < not_after, years, which URLs the profile
 * takes, the policy OID, an issuer with an SKI.  The key's kind and size
 * are lint's (ch_x509_lint), so that a bad key is a named lint failure.
 * Returns a new X509 (caller frees with X509_free) or NULL with why.
 */
X509 *ch_x509_build(const ch_cert_spec_t *spec, char *why, size_t whylen);

/*
 * The key policy for subject keys (and CSRs): RSA of 2048 to 8192 bits,
 * a multiple of 8, public exponent odd and above 2^16; EC on P-256 as a
 * named curve; SM2.  Also OpenSSL's public-key check (point on the curve,
 * no small factors).  0, or -1 with *why a static phrase ("is an RSA key
 * of 1024 bits; 2048 to 8192 are accepted").
 */
int ch_x509_key_check(EVP_PKEY *key, const char **why);

/* Lint rules; each has a stable id. */
typedef enum {
	CH_LINT_VERSION,		/* cert.version: X.509 v3 */
	CH_LINT_SIGNATURE_ALG,		/* cert.signature_alg: the one for the
					 * issuer key's kind, same in TBS */
	CH_LINT_SERIAL_MATCH,		/* serial.match: the reserved serial */
	CH_LINT_SERIAL_POSITIVE,	/* serial.positive: > 0 */
	CH_LINT_SERIAL_SIZE,		/* serial.size: >= 64 bits, <= 20
					 * octets */
	CH_LINT_VALIDITY_MATCH,		/* validity.match: spec's times */
	CH_LINT_VALIDITY_SPAN,		/* validity.span: not_before <
					 * not_after <= not_before + years
					 * (+ CH_X509_RENEW_DAYS subscribers) */
	CH_LINT_VALIDITY_ISSUER,	/* validity.issuer: within the
					 * issuer's validity */
	CH_LINT_VALIDITY_ENCODING,	/* validity.encoding: UTCTime before
					 * 2050, else GeneralizedTime, "Z" */
	CH_LINT_ISSUER_NAME,		/* issuer.name: the issuer's subject */
	CH_LINT_SUBJECT_MATCH,		/* subject.match: the spec's
					 * attributes, values and order */
	CH_LINT_SUBJECT_STRINGS,	/* subject.strings: UTF8String but
					 * C, serialNumber PrintableString */
	CH_LINT_KEY_MATCH,		/* key.match: the spec's key */
	CH_LINT_KEY_POLICY,		/* key.policy: ch_x509_key_check()'s
					 * policy, without OpenSSL's public-key
					 * check (the CSR's, before storing) */
	CH_LINT_EXT_SET,		/* ext.set: only the profile's
					 * extensions, each once */
	CH_LINT_BASIC_CONSTRAINTS,	/* ext.basic_constraints */
	CH_LINT_KEY_USAGE,		/* ext.key_usage: exactly the
					 * profile's bits, critical */
	CH_LINT_EXT_KEY_USAGE,		/* ext.extended_key_usage */
	CH_LINT_OCSP_NOCHECK,		/* ext.ocsp_nocheck */
	CH_LINT_SKI,			/* ext.subject_key_id: method 1 */
	CH_LINT_AKI,			/* ext.authority_key_id: the issuer's
					 * SKI, keyIdentifier only */
	CH_LINT_CRL_DP,			/* ext.crl_distribution_points */
	CH_LINT_AIA,			/* ext.authority_info_access */
	CH_LINT_POLICIES,		/* ext.certificate_policies */
	CH_LINT__MAX
} ch_lint_rule_t;

/* "cert.version", "serial.match", ... (the comments above); "" if out
 * of range. */
const char *ch_x509_lint_rule_id(ch_lint_rule_t rule);

typedef struct {
	uint32_t failed;	/* bit (1u << rule) for every rule that
				 * failed */
	ch_lint_rule_t first;	/* the lowest-numbered rule that failed,
				 * CH_LINT__MAX if none */
	char text[256];		/* what that rule found */
} ch_lint_report_t;

/*
 * Runs every lint rule over cert against spec (the spec it was built
 * from) and fills *report.  cert must carry its signature algorithm, so
 * lint the precertificate (ch_x509_precert()).  0 if every rule passed,
 * -1 if any failed.  Pure: cert and spec are not changed (OpenSSL may fill
 * its extension caches).
 */
int ch_x509_lint(X509 *cert, const ch_cert_spec_t *spec,
    ch_lint_report_t *report);

/*
 * Makes x a precertificate: sets its two AlgorithmIdentifiers to the
 * algorithm key will sign with (by key's kind: RSA, EC or SM2; no private
 * key is used, key may be the public one), so that x's TBS is byte for
 * byte what ch_x509_sign() will sign.  *tbs receives that TBS as DER
 * (*tbslen bytes, free with OPENSSL_free) for the caller to keep with the
 * lint record.  x's signature stays empty.  0, or -1 with why (x is then
 * unusable).
 */
int ch_x509_precert(X509 *x, EVP_PKEY *key, unsigned char **tbs,
    size_t *tbslen, char *why, size_t whylen);

/*
 * Signs precertificate x with key (any EVP_PKEY: software or a libp11
 * token key) by the algorithm for its kind, then fails closed unless the
 * signed TBS is byte-identical to tbs (from ch_x509_precert()) and the
 * signature verifies with the public key of issuer (x's own for a
 * self-signed root, issuer NULL).  An SM2 certificate gets its
 * distinguishing ID attached (ch_x509_sm2_id_set()).  0, or -1 with why;
 * after -1 x must be thrown away and its serial never used again.
 */
int ch_x509_sign(X509 *x, EVP_PKEY *key, const unsigned char *tbs,
    size_t tbslen, X509 *issuer, char *why, size_t whylen);

/*
 * build, precert, lint, sign: the whole issuance of spec with key (the
 * issuer's private key, or the root's own).  Returns the signed
 * certificate (X509_free) or NULL with why; on a lint failure why starts
 * with "lint " and the rule id, and *lint (if not NULL) has the report.
 */
X509 *ch_x509_issue(const ch_cert_spec_t *spec, EVP_PKEY *key,
    ch_lint_report_t *lint, char *why, size_t whylen);

/*
 * Attaches CH_X509_SM2_ID to x when x is signed with SM2-with-SM3, so that
 * X509_verify() and X509_verify_cert() check it (OpenSSL 3.0 uses an empty
 * ID otherwise).  Do it for every SM2-signed certificate of a chain before
 * X509_verify_cert().  0, or -1 if out of memory; x not SM2: 0, unchanged.
 */
int ch_x509_sm2_id_set(X509 *x);

/* The DER of x (*len bytes; OPENSSL_free), or NULL. */
unsigned char *ch_x509_der(X509 *x, size_t *len);

/* x as a PEM "CERTIFICATE" block, NUL-terminated (*len bytes without the
 * NUL; OPENSSL_free), or NULL. */
char *ch_x509_pem(X509 *x, size_t *len);

/*
 * A degenerate PKCS#7 SignedData (RFC 2315 §9.1, "certs-only": no signers,
 * no content) holding the n certificates of chain in that order (leaf
 * first), as DER or, with pem, a "PKCS7" PEM block (NUL-terminated): the
 * .p7b download Windows and most USB key tools import.  *len bytes
 * (OPENSSL_free), or NULL.
 */
unsigned char *ch_x509_pkcs7(X509 *const *chain, size_t n, bool pem,
    size_t *len);

#endif
