/*
 * The GB/T 38540-2020 electronic seal (SESeal, version 4) as OpenSSL ASN.1
 * template types, for src/codec/seal.c and the tests that craft seals the
 * builder never writes (version 1 and 5 shapes, certificate digests,
 * critical extDatas).  Not part of the public interface: callers use
 * certhall/codec/seal.h.
 *
 *	SESeal ::= SEQUENCE {
 *		eSealInfo	SES_SealInfo,
 *		cert		OCTET STRING,	-- the seal maker's certificate
 *		signAlgID	OBJECT IDENTIFIER,
 *		signedValue	BIT STRING }	-- over DER(eSealInfo)
 *	SES_SealInfo ::= SEQUENCE {
 *		header		SES_Header,
 *		esID		IA5String,
 *		property	SES_ESPropertyInfo,
 *		picture		SES_ESPictrueInfo,
 *		extDatas	ExtensionDatas OPTIONAL }
 *	SES_Header ::= SEQUENCE { ID IA5String, version INTEGER,
 *		Vid IA5String }
 *	SES_ESPropertyInfo ::= SEQUENCE {
 *		type INTEGER, name UTF8String, certListType INTEGER,
 *		certList SES_CertList, createDate GeneralizedTime,
 *		validStart GeneralizedTime, validEnd GeneralizedTime }
 *	SES_CertList ::= CHOICE {
 *		certs		CertInfoList,	-- certListType 1
 *		certDigestList	CertDigestList }	-- certListType 2
 *	CertInfoList ::= SEQUENCE OF OCTET STRING	-- DER certificates
 *	CertDigestList ::= SEQUENCE OF CertDigestObj
 *	CertDigestObj ::= SEQUENCE { type PrintableString,
 *		value OCTET STRING }
 *	SES_ESPictrueInfo ::= SEQUENCE { type IA5String, data OCTET STRING,
 *		width INTEGER, height INTEGER }
 *	ExtensionDatas ::= SEQUENCE SIZE (0..MAX) OF ExtData
 *	ExtData ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 *		critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 *
 * Both branches of SES_CertList are a SEQUENCE (tag 0x30), so no decoder
 * can tell them apart by tag: certList is held as an opaque SEQUENCE
 * (ASN1_ANY) and decoded as ch_ses_certs or ch_ses_digests by the value of
 * certListType.  ExtData has the shape of an X.509 Extension, so extDatas
 * is a STACK_OF(X509_EXTENSION).
 */
#ifndef CERTHALL_CODEC_SEAL_ASN1_H
#define CERTHALL_CODEC_SEAL_ASN1_H

#include <openssl/asn1.h>
#include <openssl/safestack.h>
#include <openssl/x509.h>

typedef struct {
	ASN1_IA5STRING *id;		/* "ES" */
	ASN1_INTEGER *version;		/* 4 */
	ASN1_IA5STRING *vid;
} ch_ses_header_t;

typedef struct {
	ASN1_PRINTABLESTRING *type;
	ASN1_OCTET_STRING *value;
} ch_ses_digest_t;

/* One entry of CertInfoList: a certificate's DER. */
typedef ASN1_OCTET_STRING ch_ses_cert_t;

DEFINE_STACK_OF(ch_ses_cert_t)
DEFINE_STACK_OF(ch_ses_digest_t)

typedef struct {
	ASN1_INTEGER *type;
	ASN1_UTF8STRING *name;
	ASN1_INTEGER *cert_list_type;
	ASN1_TYPE *cert_list;		/* a SEQUENCE, see above */
	ASN1_GENERALIZEDTIME *create_date;
	ASN1_GENERALIZEDTIME *valid_start;
	ASN1_GENERALIZEDTIME *valid_end;
} ch_ses_property_t;

typedef struct {
	ASN1_IA5STRING *type;
	ASN1_OCTET_STRING *data;
	ASN1_INTEGER *width;		/* mm */
	ASN1_INTEGER *height;		/* mm */
} ch_ses_picture_t;

typedef struct {
	ch_ses_header_t *header;
	ASN1_IA5STRING *es_id;
	ch_ses_property_t *property;
	ch_ses_picture_t *picture;
	STACK_OF(X509_EXTENSION) *ext_datas;	/* OPTIONAL */
} ch_ses_seal_info_t;

typedef struct {
	ch_ses_seal_info_t *seal_info;
	ASN1_OCTET_STRING *cert;
	ASN1_OBJECT *sign_alg;
	ASN1_BIT_STRING *signed_value;
} ch_ses_seal_t;

DECLARE_ASN1_ITEM(ch_ses_header)
DECLARE_ASN1_ITEM(ch_ses_digest)
DECLARE_ASN1_ITEM(ch_ses_property)
DECLARE_ASN1_ITEM(ch_ses_picture)
/* CertInfoList: STACK_OF(ch_ses_cert_t) */
DECLARE_ASN1_ITEM(ch_ses_certs)
/* CertDigestList: STACK_OF(ch_ses_digest_t) */
DECLARE_ASN1_ITEM(ch_ses_digests)
DECLARE_ASN1_FUNCTIONS_name(ch_ses_seal_info_t, ch_ses_seal_info)
DECLARE_ASN1_FUNCTIONS_name(ch_ses_seal_t, ch_ses_seal)

/*
 * signedValue := key's signature over DER(seal's eSealInfo) by algorithm
 * nid (NID_SM2_with_SM3 with CH_X509_SM2_ID, or NID_ecdsa_with_SHA256), a
 * BIT STRING without unused bits.  signAlgID is the caller's.  0, or -1.
 * (seal.c; the tests sign the seals they craft with it.)
 */
int ch_ses_seal_sign(ch_ses_seal_t *seal, EVP_PKEY *key, int nid);

#endif
