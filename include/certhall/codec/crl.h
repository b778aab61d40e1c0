/*
 * Certificate revocation lists (RFC 5280 §5) for certhall's CAs: a v2 CRL
 * built from the caller's list of revoked certificates, signed with any
 * EVP_PKEY (a libp11 token key, or a software SM2 key) and checked after
 * it was encoded.  Pure: no database, no clock, no PKCS#11.
 *
 * The signer (certhall-signer) makes a new CRL after every revocation
 * (coalescing a burst into one) and on a schedule well before nextUpdate;
 * this module only turns one such list into DER.
 *
 * What a CRL carries
 * ------------------
 *	version		v2
 *	signature	by the issuer key's kind (x509.h "Signature
 *			algorithms"; SM2 with CH_X509_SM2_ID)
 *	issuer		the issuer certificate's subject, byte for byte
 *	thisUpdate,	as the caller says; UTCTime before 2050, then
 *	nextUpdate	GeneralizedTime (RFC 5280 §5.1.2.4-5)
 *	entries		in ascending serial order (deterministic output
 *			for the same list), each: serial, revocationDate,
 *			reasonCode unless unspecified, invalidityDate if
 *			given; none of them critical
 *	extensions	authorityKeyIdentifier (keyIdentifier = the issuer's
 *			SKI, like the certificates' AKI), cRLNumber; for a
 *			shard, issuingDistributionPoint (critical)
 *
 * - reasonCode is left out for unspecified, as RFC 5280 §5.3.1 says
 *   ("the reason code CRL entry extension SHOULD be absent instead of
 *   using the unspecified (0) reasonCode value").  certificateHold (6) and
 *   removeFromCRL (8) are refused: certhall never suspends a certificate
 *   (a revocation is final, SPEC §2) and publishes no delta CRLs.
 *   aACompromise (10) is for attribute certificates, which certhall does
 *   not issue.
 * - invalidityDate (RFC 5280 §5.3.2) is a GeneralizedTime, never after the
 *   revocation date (it is when the key is known or suspected to have
 *   been compromised).
 * - cRLNumber comes from the caller (a database sequence, say): RFC 5280
 *   §5.2.3 wants it monotonically increasing per CRL scope (per shard),
 *   and only the caller knows the last one.  0 to 2^63-1 here (RFC 5280
 *   allows 20 octets; a bigint is plenty).
 * - A revoked certificate stays listed until the first CRL whose
 *   thisUpdate is after its notAfter has been published (FIELD-NOTES
 *   "Revocation to CRL": it must appear in at least one CRL); the caller
 *   chooses the entries by that rule.
 *
 * Shards (decision)
 * -----------------
 * One CRL grows by about 36 bytes per entry with a 16-byte serial, 50
 * with a reason, 76 with an invalidity date too (5.3 MB at 100,000
 * entries of a third each, measured), and every relying party downloads
 * all of it.  When that is too much the issuing CA's CRL
 * is split into shards, each a complete CRL for its part:
 *
 * - A certificate's shard is fixed when it is issued and written into its
 *   CRL distribution point (http://pki.example/issuing-<shard>.crl), and
 *   stored with the certificate: a relying party can only find the shard
 *   the certificate names, so it can never move.
 * - The shard is the certificate's expiry period (notAfter's quarter, e.g.
 *   "2031q2"), not a serial prefix.  Both spread the certificates evenly
 *   enough, but a serial prefix fixes the number of shards forever and
 *   keeps every shard alive as long as the CA; an expiry shard stops
 *   growing after its quarter's certificates are issued, empties as they
 *   expire, and is retired after one last CRL published after the end of
 *   its quarter.  Issuance period was the other choice: with validities
 *   of 1 to 5 years (plus CH_X509_RENEW_DAYS) its shards would all stay
 *   alive for five years.
 * - Each shard's CRL carries an Issuing Distribution Point (RFC 5280
 *   §5.2.5, critical) whose distributionPoint is that shard's URL (the one
 *   in its certificates' CRL DP, byte for byte: OpenSSL and others compare
 *   them and ignore a CRL whose IDP names another point), and
 *   onlyContainsUserCerts, as the issuing CA issues only end-entity
 *   certificates (so the CRL is not taken for a CA certificate's).  Its
 *   own cRLNumber sequence; one schedule for all shards.
 * - Without shards (today's certificates: one CRL DP for the issuing CA)
 *   the CRL is complete for the CA and has no IDP; the root's CRL too.
 *
 * Validity (a suggestion for the signer's configuration)
 * ------------------------------------------------------
 * Issuing CA: nextUpdate = thisUpdate + 7 days, a new CRL every 24 hours
 * and within a minute of a revocation (CA/B Forum BR §4.9.7 allow at most
 * 10 days; clients cache until nextUpdate, so a long period delays what a
 * revocation means for them only where the CRL is cached, and the OCSP
 * responses carry it at once).  Root: nextUpdate = thisUpdate + 12 months,
 * re-made every 6 months and on revoking an issuing CA, with the root key
 * brought out for that ceremony.
 *
 * Cost
 * ----
 * Building is linear apart from one sort of the caller's entries (the
 * serials are compared once; duplicates are refused), and
 * X509_CRL_add0_revoked only appends (OpenSSL 3.0 marks the stack
 * unsorted and sorts it once, when a lookup needs it).  Measured with
 * tests/unit/test_crl.c's crl_large: 100,000 entries built, signed with
 * an RSA-2048 software key and checked in 1.0 s (up to 2.6 s while the
 * shared 2-core test machine was busier), 5.3 MB of DER.
 *
 * Errors: -1 with a one-line reason in why, a field first ("entries[3].
 * reason: ..."); OpenSSL's error queue is cleared on every return.
 */
#ifndef CERTHALL_CODEC_CRL_H
#define CERTHALL_CODEC_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* CRLReason (RFC 5280 §5.3.1); the values are the ENUMERATED's. */
typedef enum {
	CH_CRL_UNSPECIFIED = 0,
	CH_CRL_KEY_COMPROMISE = 1,
	CH_CRL_CA_COMPROMISE = 2,
	CH_CRL_AFFILIATION_CHANGED = 3,
	CH_CRL_SUPERSEDED = 4,
	CH_CRL_CESSATION_OF_OPERATION = 5,
	CH_CRL_CERTIFICATE_HOLD = 6,	/* refused */
	/* 7 is not used */
	CH_CRL_REMOVE_FROM_CRL = 8,	/* refused */
	CH_CRL_PRIVILEGE_WITHDRAWN = 9,
	CH_CRL_AA_COMPROMISE = 10,	/* refused */
	CH_CRL__MAX
} ch_crl_reason_t;

/* RFC 5280's name of reason ("unspecified", "keyCompromise",
 * "cACompromise", ...); "" if it is not a CRLReason value. */
const char *ch_crl_reason_name(ch_crl_reason_t reason);

/* 1 if certhall revokes for reason (all but the three refused above),
 * else 0.  The OCSP responses take the same reasons. */
int ch_crl_reason_ok(ch_crl_reason_t reason);

/* The largest cRLNumber accepted (a PostgreSQL bigint). */
#define CH_CRL_NUMBER_MAX INT64_MAX

/* One revoked certificate.  Pointers borrowed. */
typedef struct {
	const unsigned char *serial;	/* big-endian magnitude, 1 to
					 * CH_X509_SERIAL_MAX bytes, not zero
					 * (leading zero bytes are dropped) */
	size_t serial_len;
	time_t revoked_at;		/* revocationDate, <= this_update */
	ch_crl_reason_t reason;
	time_t invalid_since;		/* invalidityDate, <= revoked_at;
					 * 0 for none */
} ch_crl_entry_t;

/* One CRL.  All pointers borrowed. */
typedef struct {
	X509 *issuer;			/* the CA certificate; must have an SKI
					 * and (if it has keyUsage) cRLSign */
	time_t this_update, next_update; /* this_update < next_update */
	uint64_t number;		/* cRLNumber, <= CH_CRL_NUMBER_MAX */
	const char *shard_url;		/* the shard's http:// URL for its
					 * IDP; NULL for a complete CRL */
	const ch_crl_entry_t *entries;	/* n of them, any order, each serial
					 * once */
	size_t n;
} ch_crl_spec_t;

/*
 * The CRL spec describes (see above), signed with key (the issuer's
 * private key: software or a token's), as DER.  The DER is read back and
 * its signature checked with the issuer certificate's public key
 * (ch_crl_verify()) before it is returned: a key that does not belong to
 * the issuer, or a signature that does not verify, is an error.  *der
 * receives *len bytes (OPENSSL_free); 0, or -1 with why and *der NULL.
 */
int ch_crl_sign(const ch_crl_spec_t *spec, EVP_PKEY *key,
    unsigned char **der, size_t *len, char *why, size_t whylen);

/*
 * Checks that der (len bytes) is one DER CRL with nothing after it, v2,
 * issued by issuer (its issuer name is issuer's subject, its AKI issuer's
 * SKI) and signed by issuer's key (SM2 with CH_X509_SM2_ID).  Validity
 * times are not judged.  0, or -1 with why.
 */
int ch_crl_verify(const unsigned char *der, size_t len, X509 *issuer,
    char *why, size_t whylen);

#endif
