/*
 * Electronic seals (电子印章) of GB/T 38540-2020, "SESeal" version 4 (SPEC
 * §8): made by the CA as seal maker (制章者), read back for a verifier.
 * Pure: bytes, X509 and EVP_PKEY in, bytes and a verdict out; no
 * database, no HTTP, no PKCS#11 (a token key is an EVP_PKEY like any
 * other).  The structure is in src/codec/seal_asn1.h; it is encoded with
 * OpenSSL's ASN.1 templates, never by hand.
 *
 *	der = ch_seal_build(&spec, maker_key, maker_cert, &len, why, n)
 *	seal = ch_seal_parse(der, len, &res)	     decoded, not yet judged
 *	ch_seal_verify(seal, now, &res)		     signature, dates
 *	ch_seal_view(seal)->name, ->owner, ...	     what a verifier shows
 *
 * Decisions (where the standard is silent or leaves a choice)
 * ------------------------------------------------------------
 * - type: GB/T 38540-2020 says the seal type "may be defined as the
 *   business needs" (可根据业务需要自定义).  certhall keeps the two values
 *   of its predecessor GM/T 0031-2014: 1 = unit seal (单位印章) for an org
 *   certificate's holder, 2 = personal seal (个人印章) for a personal
 *   certificate's holder, and writes nothing else.  A reader takes any
 *   value from 0 up (ofdrw's test seal carries 3).
 * - vid: the standard's "electronic seal vendor ID" (电子印章厂商标识),
 *   which lets systems that exchange seals tell implementations apart.  It
 *   names the software that made the seal, not the CA or the holder; the
 *   caller passes it from configuration.  esID (电子印章标识, the unique
 *   code a seal is found by) is made unique by the caller too.  Both are
 *   IA5String; certhall takes 1 to CH_SEAL_ID_MAX visible ASCII
 *   characters (0x21-0x7e) for each, writing and reading.
 * - name: 1 to 64 characters of UTF-8 without control characters or
 *   surrounding spaces, e.g. "四川示例农业科技有限公司合同专用章"; a seal
 *   registered with the public security bureau must carry the registered
 *   name (the standard's note), which the caller supplies.
 * - picture: width and height are the displayed size in millimetres (the
 *   standard: 单位为毫米), not pixels.  certhall writes only PNG (type
 *   "PNG"), checked by content: the 8-byte signature, an IHDR chunk first
 *   with a non-zero size, an IEND chunk last; at most CH_SEAL_PICTURE_MAX
 *   bytes; each side CH_SEAL_MM_MIN..CH_SEAL_MM_MAX mm (Chinese unit seals
 *   are about 40 mm across, personal ones about 20), which catches pixel
 *   counts passed as millimetres.  A reader takes any type name and
 *   1..1000 mm, but a picture typed "PNG" must have the PNG signature.
 * - certListType: certhall writes 1 (the holder's certificate itself, one
 *   entry), so a verifier can match a document signer's certificate byte
 *   for byte.  A reader takes 1 and 2 (digests), at most
 *   CH_SEAL_LIST_MAX entries, and picks the CHOICE branch by
 *   certListType, since both branches are a SEQUENCE (FIELD-NOTES).
 * - Signature: the seal maker signs DER(SES_SealInfo) with
 *     SM2 -> SM2-with-SM3, signAlgID 1.2.156.10197.1.501, distinguishing
 *            ID CH_X509_SM2_ID (GB/T 35276), the standard's algorithm;
 *     EC P-256 -> ecdsa-with-SHA256, 1.2.840.10045.4.3.2, for seal maker
 *            keys in an HSM without SM2 (SoftHSM2 has none, FIELD-NOTES).
 *   signedValue holds the DER signature (SEQUENCE { r, s }, as GB/T 35276
 *   and X9.62 both have it) with no unused bits.  RSA makers are refused:
 *   Chinese seal readers expect SM2, and ECDSA is the one fallback.  The
 *   maker certificate (CH_PROFILE_SEAL) must hold a key of the signing
 *   kind, allow digitalSignature, and be valid at createDate.  Every seal
 *   is parsed and its signature verified before it is returned.
 * - Dates are GeneralizedTime to the second with "Z" (YYYYMMDDHHMMSSZ),
 *   written and required.  Building checks validStart < validEnd, both
 *   within the owner certificate's notBefore..notAfter (a seal outlives
 *   no certificate it names), and createDate <= validEnd.
 * - extDatas: never written.  A reader ignores non-critical entries and
 *   refuses a seal with a critical one (it knows none), as X.509 does.
 * - Reading: strict DER (the input is re-encoded and compared, nothing may
 *   follow it) of at most CH_SEAL_MAX_BYTES.  A 2-element SEQUENCE is a
 *   GM/T 0031-2014 (version 1) seal, refused by name; so is version 5
 *   (GM/T 0031-2025: 5 elements, or header version 5).
 * - Verifying, in the standard's order: the signature with the maker
 *   certificate's key and the algorithm signAlgID names, which must be the
 *   key's; the maker certificate's digitalSignature and its validity at
 *   createDate (GM/T 0031-2025 refines 38540 this way: a seal made while
 *   the maker certificate was good stays good after it expires); then
 *   validStart <= now <= validEnd.  The maker certificate's chain and
 *   revocation need a trust store and CRL/OCSP, which a pure codec does
 *   not have: the caller checks them (ch_seal_view(seal)->maker).  That
 *   check is not optional: signedValue covers eSealInfo only, so a seal
 *   whose cert was changed outside its key and validity (its serial, its
 *   own signature) still verifies here.
 *
 * Errors: ch_seal_build() returns NULL and writes a one-line reason naming
 * the spec field into why (as certhall/codec/x509.h does); parse and
 * verify fill a ch_seal_result_t naming the seal's field (as csr.h does).
 * OpenSSL's error queue is cleared on every return.
 */
#ifndef CERTHALL_CODEC_SEAL_H
#define CERTHALL_CODEC_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhall/codec/x509.h"

#define CH_SEAL_VERSION 4

/* The largest seal read, DER. */
#define CH_SEAL_MAX_BYTES (512 * 1024)
/* The largest picture written or read. */
#define CH_SEAL_PICTURE_MAX (256 * 1024)
/* The largest certificate in a seal (maker or owner), DER. */
#define CH_SEAL_CERT_MAX 16384
/* The most certList entries and extDatas read. */
#define CH_SEAL_LIST_MAX 16
/* The longest esID and vid, and name (in characters). */
#define CH_SEAL_ID_MAX 64
#define CH_SEAL_NAME_MAX 64
/* The picture's sides when building, in millimetres. */
#define CH_SEAL_MM_MIN 10
#define CH_SEAL_MM_MAX 100

typedef enum {
	CH_SEAL_TYPE_ORG = 1,		/* 单位印章 */
	CH_SEAL_TYPE_PERSONAL = 2,	/* 个人印章 */
	CH_SEAL_TYPE__MAX
} ch_seal_type_t;

/* certListType */
typedef enum {
	CH_SEAL_LIST_CERTS = 1,
	CH_SEAL_LIST_DIGESTS = 2,
	CH_SEAL_LIST__MAX
} ch_seal_list_t;

/*
 * What a seal is made from.  All pointers are borrowed and must outlive
 * the call.
 */
typedef struct {
	const char *es_id;		/* unique, see above */
	const char *vid;		/* vendor ID, from configuration */
	ch_seal_type_t type;
	const char *name;		/* UTF-8 */
	const unsigned char *owner_cert; /* the holder's certificate, DER */
	size_t owner_cert_len;
	time_t create_date, valid_start, valid_end;
	const unsigned char *png;	/* the picture */
	size_t png_len;
	int width_mm, height_mm;
} ch_seal_spec_t;

/*
 * The seal spec describes, signed by maker_key (SM2 or EC P-256, software
 * or token) whose certificate is maker_cert, as DER of SESeal: *len bytes,
 * freed with OPENSSL_free.  Checks the spec (see above), signs
 * DER(SES_SealInfo), then parses the result and verifies its signature
 * with maker_cert's key; any failure returns NULL with why (nothing is
 * returned that does not verify).
 */
unsigned char *ch_seal_build(const ch_seal_spec_t *spec, EVP_PKEY *maker_key,
    X509 *maker_cert, size_t *len, char *why, size_t whylen);

typedef enum {
	CH_SEAL_OK,
	CH_SEAL_UNREADABLE,	/* too large, not DER of a version 4 SESeal,
				 * or a field out of its bounds */
	CH_SEAL_UNSUPPORTED,	/* version 1 or 5, a critical extDatas */
	CH_SEAL_BAD_SIGNATURE,	/* signAlgID not the maker key's, or
				 * signedValue does not verify */
	CH_SEAL_BAD_MAKER,	/* the maker certificate may not sign seals
				 * or was not valid at createDate */
	CH_SEAL_NOT_YET_VALID,	/* now < validStart */
	CH_SEAL_EXPIRED,	/* now > validEnd */
	CH_SEAL__MAX
} ch_seal_verdict_t;

typedef struct {
	ch_seal_verdict_t verdict;
	const char *field;	/* "/seal" for the whole, else the standard's
				 * name: "header.version", "esID",
				 * "property.certList", "picture.data",
				 * "extDatas", "cert", "signAlgID",
				 * "signedValue", ... */
	const char *text;	/* static, completing the field */
} ch_seal_result_t;

/* "ok", "unreadable", "unsupported", "bad_signature", "bad_maker",
 * "not_yet_valid", "expired"; "" if out of range. */
const char *ch_seal_verdict_name(ch_seal_verdict_t verdict);

/* One certList entry: a certificate's DER (certListType 1), or a digest
 * value with its type (2). */
typedef struct {
	const unsigned char *data;
	size_t len;
	const char *digest_type;	/* 2 only: CertDigestObj.type */
} ch_seal_entry_t;

/*
 * A parsed seal.  Every pointer is borrowed from the ch_seal_t and lives
 * until ch_seal_free(); strings are NUL-terminated.
 */
typedef struct {
	const char *vid;
	const char *es_id;
	long type;
	const char *name;		/* UTF-8 */
	ch_seal_list_t cert_list_type;
	size_t n_entries;		/* 1..CH_SEAL_LIST_MAX */
	ch_seal_entry_t entries[CH_SEAL_LIST_MAX];
	X509 *owner;			/* entries[0] decoded (certListType
					 * 1), else NULL */
	time_t create_date, valid_start, valid_end;
	const char *picture_type;	/* "PNG", ... */
	const unsigned char *picture;
	size_t picture_len;
	long width_mm, height_mm;
	X509 *maker;			/* the seal maker's certificate */
	int sign_nid;			/* NID_SM2_with_SM3 or
					 * NID_ecdsa_with_SHA256 */
} ch_seal_view_t;

typedef struct ch_seal ch_seal_t;

/*
 * Decodes in (len bytes of DER) as a version 4 seal, without judging its
 * signature or dates: the structure, the header ("ES", 4), every field's
 * bounds, certificates that decode.  Returns a new seal (ch_seal_free) or
 * NULL with *res filled (CH_SEAL_UNREADABLE or CH_SEAL_UNSUPPORTED).
 */
ch_seal_t *ch_seal_parse(const void *in, size_t len, ch_seal_result_t *res);

/*
 * Judges seal at now (see above): signature, maker certificate, validity
 * window, in that order; *res says the first failure.  Pure.
 */
ch_seal_verdict_t ch_seal_verify(const ch_seal_t *seal, time_t now,
    ch_seal_result_t *res);

/* The fields of seal (borrowed from it). */
const ch_seal_view_t *ch_seal_view(const ch_seal_t *seal);

void ch_seal_free(ch_seal_t *seal);

#endif
