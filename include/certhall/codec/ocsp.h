/*
 * OCSP (RFC 6960) for certhall's issuing CA, in the lightweight profile
 * for pre-signed responses (RFC 5019, obsoleted by RFC 9919).  Pure: no
 * database, no HTTP, no PKCS#11.
 *
 * Who does what
 * -------------
 * certhall-signer holds the keys and PRE-SIGNS a response for every
 * certificate the CA issued (ch_ocsp_response_sign()), refreshes it well
 * before its nextUpdate and at once on revocation, and stores the DER.
 * A web worker holds no key: it parses the request
 * (ch_ocsp_request_parse() for POST, ch_ocsp_request_get() for GET),
 * looks the stored DER up by the request's key and returns it.  A request
 * it cannot answer gets an unsigned error (ch_ocsp_error_der()):
 *
 *	request			answer
 *	malformed		malformedRequest (1), unsigned
 *	another issuer's	unauthorized (6), unsigned (RFC 6960 §2.3:
 *				not authoritative, cf. RFC 5019 §2.2.3)
 *	a serial never issued	a signed "unknown", made on demand by the
 *				signer and then stored like the others
 *	store unreachable	tryLater (3), unsigned; never an HTTP 5xx
 *
 * Decisions
 * ---------
 * - Lookup key: the pair (hash algorithm, serial), the serial as lowercase
 *   hex of its magnitude without leading zero bytes (ch_ocsp_serial_hex(),
 *   e.g. "5a0f..."), which is also how the signer must store
 *   certificate.serial: a CertID carries the DER INTEGER, in which a
 *   serial from ch_x509_serial_new() that starts with a zero byte (1 in
 *   128) has 15 bytes, so any other form would answer "unknown" for it.
 *   ch_ocsp_certid_t.key joins both as "sha1:<hex>" or "sha256:<hex>" for
 *   caches and ETags.
 * - Hash algorithms: SHA-1 (what RFC 5019 clients, OpenSSL's default and
 *   most deployed software send) and SHA-256 (what RFC 9919 recommends);
 *   any other CertID hash is a malformed request.  A response's CertID
 *   must be the request's, hash algorithm included (OpenSSL, NSS and Go
 *   find the SingleResponse by comparing the whole CertID), so the signer
 *   pre-signs ONE RESPONSE PER HASH ALGORITHM: two signatures per
 *   certificate and refresh.  One response holding both CertIDs would
 *   halve the signatures, but RFC 5019 §2.2.1 wants one SingleResponse
 *   (more only "if necessary") and Go's ocsp.ParseResponse refuses a
 *   response with more.
 * - One CertID per request (RFC 5019 §2.1.1): a pre-signed response
 *   answers one certificate, so a request for more is malformed.
 * - Request extensions (a nonce) and a request signature are ignored:
 *   the answer is pre-signed, so it carries no nonce (RFC 5019 §2.1.1;
 *   clients test with `openssl ocsp -no_nonce`).
 * - Requests are at most CH_OCSP_REQUEST_MAX_BYTES, DER only (re-encoded
 *   and compared), nothing after them; the serial positive and at most
 *   CH_X509_SERIAL_MAX bytes; the CertID's hashes of their algorithm's
 *   length.  An issuer is ours when both the name hash and the key hash
 *   match one of the issuers given (an issuing CA's new key under the
 *   same name is another issuer).
 * - GET (RFC 5019 §5, RFC 6960 Appendix A.1): the path under the
 *   responder's base path is the URL-encoded base64 of the DER.  The web
 *   passes nginx's $request_uri (undecoded: `merge_slashes` in $uri would
 *   turn base64's "//" into "/").  '+' may arrive as '+', "%2B" or ' '
 *   (a form-style unescaper made it a space; base64 has no space), '/'
 *   as '/' or "%2F"; the URL-safe alphabet ('-', '_') is taken too;
 *   padding may be left out.  Anything else (a query string, other
 *   characters, padding in the middle, non-zero unused bits) is
 *   malformed.
 * - Response: responseStatus successful, id-pkix-ocsp-basic, version 1,
 *   responderID byKey (SHA-1 of the responder's public key bits), one
 *   SingleResponse with the request's CertID, no extensions, the
 *   responder's certificate in certs, signed by the delegated OCSP
 *   responder certificate (profile "ocsp" in x509.h: id-kp-OCSPSigning
 *   and id-pkix-ocsp-nocheck, issued by the issuing CA) with the
 *   algorithm for its key's kind (SM2 with CH_X509_SM2_ID).  A revoked
 *   certificate's revocationReason follows the CRL: left out for
 *   unspecified.  producedAt is the signing time (OpenSSL sets it).
 *
 * Validity (a suggestion for the signer's configuration)
 * ------------------------------------------------------
 * thisUpdate = signing time - 1 hour (clients with a slow clock refuse a
 * response from the future; Let's Encrypt backdates likewise), nextUpdate
 * = thisUpdate + 4 days, refreshed when half of that has passed (CA/B
 * Forum BR §4.9.10: at least 8 hours before nextUpdate and at most 4
 * days after thisUpdate) and at once on revocation; the web sends
 * Cache-Control max-age = nextUpdate - now (FIELD-NOTES "OCSP over
 * GET").  The responder certificate must outlive every nextUpdate signed
 * with it (checked), so a new one is issued a month before the old one
 * expires.  Unknown answers: the same validity, stored like the others.
 *
 * Errors: the parsers never fail hard: every input gets a verdict and a
 * static reason for the log.  The signer's functions return -1 with a
 * one-line reason in why.  OpenSSL's error queue is cleared on every
 * return.
 */
#ifndef CERTHALL_CODEC_OCSP_H
#define CERTHALL_CODEC_OCSP_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhall/codec/crl.h"
#include "certhall/codec/x509.h"

/* The largest request accepted, POST body or GET path (a request for one
 * certificate is about 80 bytes, 120 with a nonce). */
#define CH_OCSP_REQUEST_MAX_BYTES 65536

/* The most CertIDs in one request (RFC 5019 §2.1.1). */
#define CH_OCSP_IDS_MAX 1

/* Room for a serial's hex with its NUL, and for "sha256:" and that. */
#define CH_OCSP_SERIAL_HEX_MAX (2 * CH_X509_SERIAL_MAX + 1)
#define CH_OCSP_KEY_MAX (7 + CH_OCSP_SERIAL_HEX_MAX)

/* The CertID hash algorithms answered (see above). */
typedef enum {
	CH_OCSP_SHA1,
	CH_OCSP_SHA256,
	CH_OCSP_HASH__MAX
} ch_ocsp_hash_t;

/* "sha1", "sha256"; "" if out of range. */
const char *ch_ocsp_hash_name(ch_ocsp_hash_t hash);

/*
 * The serial (len bytes, a big-endian magnitude) as the lookup key's hex
 * (see above) into out.  0, or -1 (out "") if it is zero or longer than
 * CH_X509_SERIAL_MAX bytes without its leading zeros.
 */
int ch_ocsp_serial_hex(const unsigned char *serial, size_t len,
    char out[CH_OCSP_SERIAL_HEX_MAX]);

/* An issuer the responder answers for: what a CertID names it by, for
 * each hash algorithm.  Fill with ch_ocsp_issuer_init(). */
typedef struct {
	unsigned char name_hash[CH_OCSP_HASH__MAX][EVP_MAX_MD_SIZE];
	unsigned char key_hash[CH_OCSP_HASH__MAX][EVP_MAX_MD_SIZE];
} ch_ocsp_issuer_t;

/*
 * Fills *iss from the issuer certificate: the hash of its DER subject and
 * of its subjectPublicKey bits (RFC 6960 §4.1.1), SHA-1 and SHA-256.
 * Done once at start-up.  0, or -1.
 */
int ch_ocsp_issuer_init(ch_ocsp_issuer_t *iss, X509 *issuer);

/* One CertID of a request (or of a response). */
typedef struct {
	ch_ocsp_hash_t hash;
	int issuer;			/* index in the issuers given; -1 if
					 * none matched */
	unsigned char serial[CH_X509_SERIAL_MAX]; /* magnitude, no leading
					 * zero byte */
	size_t serial_len;
	char serial_hex[CH_OCSP_SERIAL_HEX_MAX];
	char key[CH_OCSP_KEY_MAX];	/* "sha1:<serial_hex>" */
} ch_ocsp_certid_t;

typedef enum {
	CH_OCSP_REQ_OK,
	CH_OCSP_REQ_MALFORMED,		/* answer malformedRequest */
	CH_OCSP_REQ_UNAUTHORIZED,	/* answer unauthorized */
	CH_OCSP_REQ__MAX
} ch_ocsp_verdict_t;

/* "ok", "malformed", "unauthorized"; "" if out of range. */
const char *ch_ocsp_verdict_name(ch_ocsp_verdict_t verdict);

typedef struct {
	ch_ocsp_verdict_t verdict;
	const char *text;		/* static, for the log: "is not a DER
					 * OCSP request", ...; "" if ok */
	size_t n;			/* CertIDs read: 0 when malformed */
	ch_ocsp_certid_t ids[CH_OCSP_IDS_MAX];
} ch_ocsp_request_t;

/*
 * Parses an OCSP request in DER (a POST body, len bytes) and classifies
 * it (see above) against the nissuers issuers certhall answers for: ok
 * when every CertID names one of them, unauthorized when one names none,
 * malformed otherwise.  *req is filled and its verdict returned.
 */
ch_ocsp_verdict_t ch_ocsp_request_parse(const void *der, size_t len,
    const ch_ocsp_issuer_t *issuers, size_t nissuers, ch_ocsp_request_t *req);

/*
 * The same for a GET: uri (len bytes, nginx's $request_uri) must start
 * with base, the responder URL's path ending in '/' ("/" for
 * http://ocsp.example), and the rest is decoded as above and parsed with
 * ch_ocsp_request_parse().  Decodes into about 48 KiB of stack: no
 * allocation, so no failure but a verdict.
 */
ch_ocsp_verdict_t ch_ocsp_request_get(const char *uri, size_t len,
    const char *base, const ch_ocsp_issuer_t *issuers, size_t nissuers,
    ch_ocsp_request_t *req);

/* OCSPResponseStatus (RFC 6960 §4.2.1); the values are the ENUMERATED's. */
typedef enum {
	CH_OCSP_SUCCESSFUL = 0,
	CH_OCSP_MALFORMED_REQUEST = 1,
	CH_OCSP_INTERNAL_ERROR = 2,
	CH_OCSP_TRY_LATER = 3,
	/* 4 is not used */
	CH_OCSP_SIG_REQUIRED = 5,
	CH_OCSP_UNAUTHORIZED = 6,
	CH_OCSP_STATUS__MAX
} ch_ocsp_status_t;

/*
 * The unsigned OCSPResponse of an error status (malformedRequest,
 * internalError, tryLater or unauthorized): a static DER of *len bytes
 * (30 03 0a 01 <status>) to send as is, never freed; NULL for any other
 * status.  Cannot fail otherwise: it is what the web answers when all
 * else failed.
 */
const unsigned char *ch_ocsp_error_der(ch_ocsp_status_t status,
    size_t *len);

/* A certificate's status (RFC 6960 CertStatus). */
typedef enum {
	CH_OCSP_GOOD,
	CH_OCSP_REVOKED,
	CH_OCSP_UNKNOWN,
	CH_OCSP_CERT__MAX
} ch_ocsp_cert_status_t;

/* "good", "revoked", "unknown"; "" if out of range. */
const char *ch_ocsp_cert_status_name(ch_ocsp_cert_status_t status);

/* One response to pre-sign.  All pointers borrowed. */
typedef struct {
	X509 *issuer;			/* the issuing CA */
	X509 *responder;		/* the delegated responder certificate:
					 * issued by issuer, id-kp-OCSPSigning,
					 * notAfter >= next_update */
	const unsigned char *serial;	/* big-endian magnitude, 1 to
					 * CH_X509_SERIAL_MAX bytes after its
					 * leading zeros, not zero */
	size_t serial_len;
	ch_ocsp_hash_t hash;		/* of the CertID */
	ch_ocsp_cert_status_t status;
	time_t revoked_at;		/* revoked: <= this_update */
	ch_crl_reason_t reason;		/* revoked: ch_crl_reason_ok() */
	time_t this_update, next_update; /* this_update < next_update */
} ch_ocsp_resp_spec_t;

/*
 * The OCSPResponse spec describes (see above), signed with key (the
 * responder certificate's private key: software or a token's), as DER.
 * Before it is returned its signature is checked over the encoded bytes
 * with the responder certificate's public key, so a token fault or a key
 * that is not the responder's is an error (the whole relying-party read,
 * ch_ocsp_response_read(), would cost twice the signature: OpenSSL 3.0
 * decodes the embedded certificate's key slowly).  *der receives *len
 * bytes (OPENSSL_free); 0, or -1 with why and *der NULL.
 */
int ch_ocsp_response_sign(const ch_ocsp_resp_spec_t *spec, EVP_PKEY *key,
    unsigned char **der, size_t *len, char *why, size_t whylen);

/* What a successful response says. */
typedef struct {
	ch_ocsp_certid_t id;		/* id.issuer: 0 if the issuer given
					 * matched, -1 if none was given */
	ch_ocsp_cert_status_t status;
	time_t revoked_at;		/* revoked only, else 0 */
	int reason;			/* revoked with a reason: the CRLReason,
					 * else -1 */
	time_t produced_at, this_update;
	time_t next_update;		/* 0 if absent */
} ch_ocsp_resp_info_t;

/*
 * Reads an OCSPResponse (der, len bytes, nothing after it): status
 * successful, a basic response with exactly one SingleResponse.  With an
 * issuer, also checks it the way a relying party would, but with SM2
 * too: the CertID names issuer, the one certificate in certs is the
 * responder named by the responderID byKey, was signed by issuer and has
 * id-kp-OCSPSigning, and the response's signature verifies with its key.
 * For tests and the signer's own check; the web serves stored DER
 * without reading it.  0 with *info filled, or -1 with why.
 */
int ch_ocsp_response_read(const unsigned char *der, size_t len, X509 *issuer,
    ch_ocsp_resp_info_t *info, char *why, size_t whylen);

#endif
