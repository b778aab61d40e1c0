/*
 * OpenSSL ASN.1 templates of the GB/T 38540-2020 seal (seal_asn1.h).
 */
#include "seal_asn1.h"

#include <openssl/asn1t.h>

ASN1_SEQUENCE(ch_ses_header) = {
	ASN1_SIMPLE(ch_ses_header_t, id, ASN1_IA5STRING),
	ASN1_SIMPLE(ch_ses_header_t, version, ASN1_INTEGER),
	ASN1_SIMPLE(ch_ses_header_t, vid, ASN1_IA5STRING),
} ASN1_SEQUENCE_END_name(ch_ses_header_t, ch_ses_header)

ASN1_SEQUENCE(ch_ses_digest) = {
	ASN1_SIMPLE(ch_ses_digest_t, type, ASN1_PRINTABLESTRING),
	ASN1_SIMPLE(ch_ses_digest_t, value, ASN1_OCTET_STRING),
} ASN1_SEQUENCE_END_name(ch_ses_digest_t, ch_ses_digest)

ASN1_ITEM_TEMPLATE(ch_ses_certs) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, certs,
	    ASN1_OCTET_STRING)
ASN1_ITEM_TEMPLATE_END(ch_ses_certs)

ASN1_ITEM_TEMPLATE(ch_ses_digests) =
	ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, digests,
	    ch_ses_digest)
ASN1_ITEM_TEMPLATE_END(ch_ses_digests)

ASN1_SEQUENCE(ch_ses_property) = {
	ASN1_SIMPLE(ch_ses_property_t, type, ASN1_INTEGER),
	ASN1_SIMPLE(ch_ses_property_t, name, ASN1_UTF8STRING),
	ASN1_SIMPLE(ch_ses_property_t, cert_list_type, ASN1_INTEGER),
	ASN1_SIMPLE(ch_ses_property_t, cert_list, ASN1_ANY),
	ASN1_SIMPLE(ch_ses_property_t, create_date, ASN1_GENERALIZEDTIME),
	ASN1_SIMPLE(ch_ses_property_t, valid_start, ASN1_GENERALIZEDTIME),
	ASN1_SIMPLE(ch_ses_property_t, valid_end, ASN1_GENERALIZEDTIME),
} ASN1_SEQUENCE_END_name(ch_ses_property_t, ch_ses_property)

ASN1_SEQUENCE(ch_ses_picture) = {
	ASN1_SIMPLE(ch_ses_picture_t, type, ASN1_IA5STRING),
	ASN1_SIMPLE(ch_ses_picture_t, data, ASN1_OCTET_STRING),
	ASN1_SIMPLE(ch_ses_picture_t, width, ASN1_INTEGER),
	ASN1_SIMPLE(ch_ses_picture_t, height, ASN1_INTEGER),
} ASN1_SEQUENCE_END_name(ch_ses_picture_t, ch_ses_picture)

ASN1_SEQUENCE(ch_ses_seal_info) = {
	ASN1_SIMPLE(ch_ses_seal_info_t, header, ch_ses_header),
	ASN1_SIMPLE(ch_ses_seal_info_t, es_id, ASN1_IA5STRING),
	ASN1_SIMPLE(ch_ses_seal_info_t, property, ch_ses_property),
	ASN1_SIMPLE(ch_ses_seal_info_t, picture, ch_ses_picture),
	ASN1_SEQUENCE_OF_OPT(ch_ses_seal_info_t, ext_datas, X509_EXTENSION),
} ASN1_SEQUENCE_END_name(ch_ses_seal_info_t, ch_ses_seal_info)

ASN1_SEQUENCE(ch_ses_seal) = {
	ASN1_SIMPLE(ch_ses_seal_t, seal_info, ch_ses_seal_info),
	ASN1_SIMPLE(ch_ses_seal_t, cert, ASN1_OCTET_STRING),
	ASN1_SIMPLE(ch_ses_seal_t, sign_alg, ASN1_OBJECT),
	ASN1_SIMPLE(ch_ses_seal_t, signed_value, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END_name(ch_ses_seal_t, ch_ses_seal)

IMPLEMENT_ASN1_FUNCTIONS_name(ch_ses_seal_info_t, ch_ses_seal_info)
IMPLEMENT_ASN1_FUNCTIONS_name(ch_ses_seal_t, ch_ses_seal)
