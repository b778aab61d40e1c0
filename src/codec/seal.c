/*
 * GB/T 38540-2020 seals (certhall/codec/seal.h): build, parse, verify.
 * The ASN.1 types are in seal_asn1.h.
 */
#include "certhall/codec/seal.h"
#include "seal_asn1.h"
#include "x509_int.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

/* Strings copied out of the seal for the view: vid, esID, name, the
 * picture type and a type per digest. */
#define SEAL_STRINGS (4 + CH_SEAL_LIST_MAX)

struct ch_seal {
	ch_ses_seal_t *asn;
	void *list;			/* the decoded certList */
	const ASN1_ITEM *list_it;	/* ch_ses_certs or ch_ses_digests */
	char *strings[SEAL_STRINGS];
	size_t nstrings;
	ch_seal_view_t view;
};

/* 9999-12-31T23:59:59Z + 1 s: the end of what GeneralizedTime's four
 * year digits hold. */
#define GTIME_END 253402300800LL

/* The reader's bound on a picture's side, in millimetres. */
#define READ_MM_MAX 1000

static const char *const verdict_names[CH_SEAL__MAX] = {
	[CH_SEAL_OK] = "ok",
	[CH_SEAL_UNREADABLE] = "unreadable",
	[CH_SEAL_UNSUPPORTED] = "unsupported",
	[CH_SEAL_BAD_SIGNATURE] = "bad_signature",
	[CH_SEAL_BAD_MAKER] = "bad_maker",
	[CH_SEAL_NOT_YET_VALID] = "not_yet_valid",
	[CH_SEAL_EXPIRED] = "expired",
};

const char *
ch_seal_verdict_name(ch_seal_verdict_t verdict)
{
	return (unsigned)verdict < CH_SEAL__MAX ? verdict_names[verdict] : "";
}

static ch_seal_verdict_t
verdict(ch_seal_result_t *res, ch_seal_verdict_t v, const char *field,
    const char *text)
{
	*res = (ch_seal_result_t){ .verdict = v, .field = field,
	    .text = text };
	return v;
}

/* ---- shared checks ---------------------------------------------------- */

/* 1 to CH_SEAL_ID_MAX visible ASCII characters (esID, vid, types). */
static bool
visible_ascii(const unsigned char *s, size_t n)
{
	if (n < 1 || n > CH_SEAL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/*
 * The number of characters in the n bytes at s if they are UTF-8 (as
 * OpenSSL's UTF8_getc reads it: shortest forms, no surrogates) up to
 * U+10FFFF without control characters (C0, DEL, C1), else -1.
 */
static long
utf8_chars(const unsigned char *s, size_t n)
{
	long chars = 0;

	while (n > 0) {
		unsigned long c;
		int k = UTF8_getc(s, n > INT_MAX ? INT_MAX : (int)n, &c);

		if (k <= 0 || c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
		    c > 0x10ffff)
			return -1;
		s += k;
		n -= (size_t)k;
		chars++;
	}
	return chars;
}

/* notBefore <= t <= notAfter of x. */
static bool
cert_valid_at(const X509 *x, time_t t)
{
	time_t nb, na;

	return ch_x509_time_of(X509_get0_notBefore(x), &nb) == 0 &&
	    ch_x509_time_of(X509_get0_notAfter(x), &na) == 0 && nb <= t &&
	    t <= na;
}

/* The one DER certificate filling the n bytes at der, or NULL. */
static X509 *
cert_decode(const unsigned char *der, size_t n)
{
	const unsigned char *p = der;
	X509 *x;

	if (n == 0 || n > CH_SEAL_CERT_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)n);
	if (x != NULL && p != der + n) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/*
 * The signature algorithm a seal maker's public key signs with:
 * NID_SM2_with_SM3 for SM2, NID_ecdsa_with_SHA256 for EC P-256,
 * NID_undef for any other key.
 */
static int
key_sig_nid(const EVP_PKEY *pub)
{
	char group[64];
	size_t glen = 0;
	int nid;

	switch (ch_x509_key_kind(pub)) {
	case CH_KEY_SM2:
		return NID_SM2_with_SM3;
	case CH_KEY_EC:
		if (EVP_PKEY_get_group_name(pub, group, sizeof group,
		    &glen) != 1)
			return NID_undef;
		nid = OBJ_txt2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		return nid == NID_X9_62_prime256v1 ? NID_ecdsa_with_SHA256 :
		    NID_undef;
	default:
		return NID_undef;
	}
}

/*
 * md ready to sign (sign) or verify with key by algorithm nid: SM3 with
 * the SM2 distinguishing ID, or SHA-256.  The ID is set after the init,
 * before any data: SM2 hashes it into Z at the first update.  0, or -1.
 */
static int
md_init(EVP_MD_CTX *md, EVP_PKEY *key, int nid, bool sign)
{
	const char *digest = nid == NID_SM2_with_SM3 ? "SM3" : "SHA256";
	EVP_PKEY_CTX *pctx = NULL;
	int ok = sign ?
	    EVP_DigestSignInit_ex(md, &pctx, digest, NULL, NULL, key, NULL) :
	    EVP_DigestVerifyInit_ex(md, &pctx, digest, NULL, NULL, key,
	    NULL);

	if (ok != 1 || (nid == NID_SM2_with_SM3 &&
	    EVP_PKEY_CTX_set1_id(pctx, CH_X509_SM2_ID,
	    strlen(CH_X509_SM2_ID)) != 1))
		return -1;
	return 0;
}

/* Does sig verify over tbs with pub by algorithm nid? */
static bool
signature_ok(EVP_PKEY *pub, int nid, const unsigned char *tbs, size_t n,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md != NULL && md_init(md, pub, nid, false) == 0 &&
	    EVP_DigestVerify(md, sig, siglen, tbs, n) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* ---- parse ------------------------------------------------------------ */

/*
 * The number of elements of the one definite-length SEQUENCE that fills
 * the len bytes at der into *n: 0, or -1 if der is not one.
 */
static int
count_elements(const unsigned char *der, long len, long *n)
{
	const unsigned char *p = der, *end;
	long plen;
	int tag, xclass;

	*n = 0;
	if (ASN1_get_object(&p, &plen, &tag, &xclass, len) !=
	    V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
	    xclass != V_ASN1_UNIVERSAL || p + plen != der + len)
		return -1;
	end = p + plen;
	while (p < end) {
		int r = ASN1_get_object(&p, &plen, &tag, &xclass, end - p);

		if ((r & 0x80) != 0 || r == (V_ASN1_CONSTRUCTED | 1))
			return -1;
		p += plen;
		(*n)++;
	}
	return 0;
}

/* The ASN.1 value of item it filling exactly len bytes at der, or NULL;
 * *der_ok says whether it re-encodes to those bytes (DER). */
static void *
decode(const ASN1_ITEM *it, const unsigned char *der, long len, bool *der_ok)
{
	const unsigned char *p = der;
	ASN1_VALUE *v = ASN1_item_d2i(NULL, &p, len, it);
	unsigned char *re = NULL;
	int n;

	*der_ok = false;
	if (v == NULL || p != der + len) {
		ASN1_item_free(v, it);
		return NULL;
	}
	n = ASN1_item_i2d(v, &re, it);
	*der_ok = n == len && memcmp(re, der, (size_t)len) == 0;
	OPENSSL_free(re);
	return v;
}

/* A copy of s (checked to hold no NUL) kept with seal, or NULL. */
static const char *
keep(ch_seal_t *seal, const ASN1_STRING *s)
{
	char *copy;

	if (seal->nstrings == SEAL_STRINGS ||
	    (copy = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s))) == NULL)
		return NULL;
	seal->strings[seal->nstrings++] = copy;
	return copy;
}

/* s if it is 1 to CH_SEAL_ID_MAX visible ASCII characters, kept; else
 * NULL. */
static const char *
keep_ascii(ch_seal_t *seal, const ASN1_STRING *s)
{
	if (!visible_ascii(ASN1_STRING_get0_data(s),
	    (size_t)ASN1_STRING_length(s)))
		return NULL;
	return keep(seal, s);
}

/* *out = i if the INTEGER i is within lo..hi.  0, or -1. */
static int
integer_get(const ASN1_INTEGER *i, long lo, long hi, long *out)
{
	int64_t v;

	if (ASN1_INTEGER_get_int64(&v, i) != 1 || v < lo || v > hi)
		return -1;
	*out = (long)v;
	return 0;
}

/* A GeneralizedTime as YYYYMMDDHHMMSSZ into *out.  0, or -1. */
static int
gtime_get(const ASN1_GENERALIZEDTIME *g, time_t *out)
{
	if (ASN1_STRING_length(g) != 15 ||
	    ASN1_STRING_get0_data(g)[14] != 'Z')
		return -1;
	return ch_x509_time_of(g, out);
}

static ch_seal_verdict_t
parse_header(ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_ses_header_t *h = seal->asn->seal_info->header;
	long version = -1;

	if (ASN1_STRING_length(h->id) != 2 ||
	    memcmp(ASN1_STRING_get0_data(h->id), "ES", 2) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "header.ID",
		    "is not \"ES\"");
	if (integer_get(h->version, 0, LONG_MAX, &version) != 0 ||
	    version != CH_SEAL_VERSION)
		return verdict(res, CH_SEAL_UNSUPPORTED, "header.version",
		    version == 5 ? "is 5 (GM/T 0031-2025); only version 4 "
		    "(GB/T 38540-2020) is read" : "is not 4; only version 4 "
		    "(GB/T 38540-2020) is read");
	if ((seal->view.vid = keep_ascii(seal, h->vid)) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "header.vid",
		    "is not 1 to 64 visible ASCII characters");
	return CH_SEAL_OK;
}

/* Entry i of the decoded certList into the view: a certificate that
 * decodes, or a digest with a type. */
static ch_seal_verdict_t
parse_entry(ch_seal_t *seal, int i, ch_seal_result_t *res)
{
	ch_seal_view_t *v = &seal->view;
	ch_seal_entry_t *e = &v->entries[i];
	const void *item = OPENSSL_sk_value(seal->list, i);
	const ch_ses_digest_t *d = item;
	X509 *x;

	if (v->cert_list_type == CH_SEAL_LIST_DIGESTS) {
		e->data = ASN1_STRING_get0_data(d->value);
		e->len = (size_t)ASN1_STRING_length(d->value);
		if (e->len < 1 || e->len > 64 ||
		    (e->digest_type = keep_ascii(seal, d->type)) == NULL)
			return verdict(res, CH_SEAL_UNREADABLE,
			    "property.certList", "holds a digest without a "
			    "type or of more than 64 bytes");
		return CH_SEAL_OK;
	}
	e->data = ASN1_STRING_get0_data(item);
	e->len = (size_t)ASN1_STRING_length(item);
	if ((x = cert_decode(e->data, e->len)) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certList",
		    "holds an entry that is not a DER X.509 certificate");
	if (i == 0)
		v->owner = x;
	else
		X509_free(x);
	return CH_SEAL_OK;
}

/* certList by certListType: the two branches share the tag 0x30. */
static ch_seal_verdict_t
parse_cert_list(ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_ses_property_t *p = seal->asn->seal_info->property;
	const ASN1_STRING *seq;
	long type;
	bool der_ok;
	int n;

	if (integer_get(p->cert_list_type, CH_SEAL_LIST_CERTS,
	    CH_SEAL_LIST_DIGESTS, &type) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certListType",
		    "is neither 1 (certificates) nor 2 (digests)");
	seal->view.cert_list_type = (ch_seal_list_t)type;
	if (p->cert_list->type != V_ASN1_SEQUENCE)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certList",
		    "is not a SEQUENCE");
	seq = p->cert_list->value.sequence;
	seal->list_it = type == CH_SEAL_LIST_CERTS ?
	    ASN1_ITEM_rptr(ch_ses_certs) : ASN1_ITEM_rptr(ch_ses_digests);
	seal->list = decode(seal->list_it, ASN1_STRING_get0_data(seq),
	    ASN1_STRING_length(seq), &der_ok);
	if (seal->list == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certList",
		    type == CH_SEAL_LIST_CERTS ? "is not a SEQUENCE OF "
		    "OCTET STRING (certListType 1)" : "is not a SEQUENCE OF "
		    "CertDigestObj (certListType 2)");
	if (!der_ok)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certList",
		    "is not DER-encoded");
	n = OPENSSL_sk_num(seal->list);
	if (n < 1 || n > CH_SEAL_LIST_MAX)
		return verdict(res, CH_SEAL_UNREADABLE, "property.certList",
		    "does not hold 1 to 16 entries");
	seal->view.n_entries = (size_t)n;
	for (int i = 0; i < n; i++)
		if (parse_entry(seal, i, res) != CH_SEAL_OK)
			return res->verdict;
	return CH_SEAL_OK;
}

static ch_seal_verdict_t
parse_property(ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_ses_property_t *p = seal->asn->seal_info->property;
	ch_seal_view_t *v = &seal->view;
	long chars = utf8_chars(ASN1_STRING_get0_data(p->name),
	    (size_t)ASN1_STRING_length(p->name));

	if (integer_get(p->type, 0, LONG_MAX, &v->type) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "property.type",
		    "is negative or too large");
	if (chars < 1 || chars > CH_SEAL_NAME_MAX ||
	    (v->name = keep(seal, p->name)) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "property.name",
		    "is not 1 to 64 characters of UTF-8 without control "
		    "characters");
	if (gtime_get(p->create_date, &v->create_date) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "property.createDate",
		    "is not a GeneralizedTime YYYYMMDDHHMMSSZ");
	if (gtime_get(p->valid_start, &v->valid_start) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "property.validStart",
		    "is not a GeneralizedTime YYYYMMDDHHMMSSZ");
	if (gtime_get(p->valid_end, &v->valid_end) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "property.validEnd",
		    "is not a GeneralizedTime YYYYMMDDHHMMSSZ");
	if (v->valid_end < v->valid_start)
		return verdict(res, CH_SEAL_UNREADABLE, "property.validEnd",
		    "is before validStart");
	return parse_cert_list(seal, res);
}

static const unsigned char png_signature[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

static ch_seal_verdict_t
parse_picture(ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_ses_picture_t *pic = seal->asn->seal_info->picture;
	ch_seal_view_t *v = &seal->view;

	if ((v->picture_type = keep_ascii(seal, pic->type)) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "picture.type",
		    "is not 1 to 64 visible ASCII characters");
	v->picture = ASN1_STRING_get0_data(pic->data);
	v->picture_len = (size_t)ASN1_STRING_length(pic->data);
	if (v->picture_len < 1 || v->picture_len > CH_SEAL_PICTURE_MAX)
		return verdict(res, CH_SEAL_UNREADABLE, "picture.data",
		    "is empty or larger than 262144 bytes");
	if (strcasecmp(v->picture_type, "PNG") == 0 &&
	    (v->picture_len < sizeof png_signature ||
	    memcmp(v->picture, png_signature, sizeof png_signature) != 0))
		return verdict(res, CH_SEAL_UNREADABLE, "picture.data",
		    "is typed PNG but is not a PNG image");
	if (integer_get(pic->width, 1, READ_MM_MAX, &v->width_mm) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "picture.width",
		    "is not 1 to 1000 mm");
	if (integer_get(pic->height, 1, READ_MM_MAX, &v->height_mm) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "picture.height",
		    "is not 1 to 1000 mm");
	return CH_SEAL_OK;
}

static ch_seal_verdict_t
parse_extensions(const ch_seal_t *seal, ch_seal_result_t *res)
{
	const STACK_OF(X509_EXTENSION) *ext = seal->asn->seal_info->ext_datas;
	int n = sk_X509_EXTENSION_num(ext);

	if (n > CH_SEAL_LIST_MAX)
		return verdict(res, CH_SEAL_UNREADABLE, "extDatas",
		    "has more than 16 entries");
	for (int i = 0; i < n; i++)
		if (X509_EXTENSION_get_critical(
		    sk_X509_EXTENSION_value(ext, i)) > 0)
			return verdict(res, CH_SEAL_UNSUPPORTED, "extDatas",
			    "has a critical entry this reader does not know");
	return CH_SEAL_OK;
}

static ch_seal_verdict_t
parse_fields(ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_ses_seal_t *s = seal->asn;
	ch_seal_view_t *v = &seal->view;

	if (parse_header(seal, res) != CH_SEAL_OK)
		return res->verdict;
	if ((v->es_id = keep_ascii(seal, s->seal_info->es_id)) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "esID",
		    "is not 1 to 64 visible ASCII characters");
	if (parse_property(seal, res) != CH_SEAL_OK ||
	    parse_picture(seal, res) != CH_SEAL_OK ||
	    parse_extensions(seal, res) != CH_SEAL_OK)
		return res->verdict;
	if ((v->maker = cert_decode(ASN1_STRING_get0_data(s->cert),
	    (size_t)ASN1_STRING_length(s->cert))) == NULL)
		return verdict(res, CH_SEAL_UNREADABLE, "cert",
		    "is not a DER X.509 certificate");
	v->sign_nid = OBJ_obj2nid(s->sign_alg);
	if ((s->signed_value->flags & 0x07) != 0 ||
	    ASN1_STRING_length(s->signed_value) < 1)
		return verdict(res, CH_SEAL_UNREADABLE, "signedValue",
		    "is empty or has unused bits");
	return CH_SEAL_OK;
}

/* Refuses the shapes of other versions by name (FIELD-NOTES: a v4 seal
 * has 4 elements and a v1 seal 2). */
static ch_seal_verdict_t
check_shape(const unsigned char *der, size_t len, ch_seal_result_t *res)
{
	long n;

	if (count_elements(der, (long)len, &n) != 0)
		return verdict(res, CH_SEAL_UNREADABLE, "/seal",
		    "is not one DER SEQUENCE with nothing after it");
	if (n == 2)
		return verdict(res, CH_SEAL_UNSUPPORTED, "/seal",
		    "is a GM/T 0031-2014 (version 1) seal: 2 elements where "
		    "version 4 has 4");
	if (n == 5)
		return verdict(res, CH_SEAL_UNSUPPORTED, "/seal",
		    "has 5 elements, a GM/T 0031-2025 (version 5) seal with "
		    "a time stamp; only version 4 has 4");
	if (n != 4)
		return verdict(res, CH_SEAL_UNREADABLE, "/seal",
		    "is not an SESeal: version 4 has 4 elements");
	return CH_SEAL_OK;
}

ch_seal_t *
ch_seal_parse(const void *in, size_t len, ch_seal_result_t *res)
{
	ch_seal_t *seal = NULL;
	bool der_ok;

	verdict(res, CH_SEAL_OK, NULL, NULL);
	if (in == NULL || len == 0) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "is empty");
		goto fail;
	}
	if (len > CH_SEAL_MAX_BYTES) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "is larger than "
		    "524288 bytes");
		goto fail;
	}
	if (check_shape(in, len, res) != CH_SEAL_OK)
		goto fail;
	if ((seal = OPENSSL_zalloc(sizeof *seal)) == NULL) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "cannot be read "
		    "(out of memory)");
		goto fail;
	}
	seal->asn = decode(ASN1_ITEM_rptr(ch_ses_seal), in, (long)len,
	    &der_ok);
	if (seal->asn == NULL) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "is not a GB/T "
		    "38540 SESeal");
		goto fail;
	}
	if (!der_ok) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "is not "
		    "DER-encoded");
		goto fail;
	}
	if (parse_fields(seal, res) != CH_SEAL_OK)
		goto fail;
	ERR_clear_error();
	return seal;
fail:
	ch_seal_free(seal);
	ERR_clear_error();
	return NULL;
}

void
ch_seal_free(ch_seal_t *seal)
{
	if (seal == NULL)
		return;
	X509_free(seal->view.owner);
	X509_free(seal->view.maker);
	if (seal->list != NULL)
		ASN1_item_free(seal->list, seal->list_it);
	for (size_t i = 0; i < seal->nstrings; i++)
		OPENSSL_free(seal->strings[i]);
	ch_ses_seal_free(seal->asn);
	OPENSSL_free(seal);
}

const ch_seal_view_t *
ch_seal_view(const ch_seal_t *seal)
{
	return &seal->view;
}

/* ---- verify ----------------------------------------------------------- */

/* signAlgID, the maker key's kind, and signedValue over DER(eSealInfo)
 * (the bytes read: the seal is DER, so they re-encode exactly). */
static ch_seal_verdict_t
check_signature(const ch_seal_t *seal, ch_seal_result_t *res)
{
	const ch_seal_view_t *v = &seal->view;
	EVP_PKEY *pub = X509_get0_pubkey(v->maker);
	const ASN1_BIT_STRING *sig = seal->asn->signed_value;
	unsigned char *tbs = NULL;
	int n;
	bool ok;

	if (v->sign_nid != NID_SM2_with_SM3 &&
	    v->sign_nid != NID_ecdsa_with_SHA256)
		return verdict(res, CH_SEAL_BAD_SIGNATURE, "signAlgID",
		    "is neither SM2-with-SM3 nor ecdsa-with-SHA256");
	if (pub == NULL || key_sig_nid(pub) != v->sign_nid)
		return verdict(res, CH_SEAL_BAD_SIGNATURE, "cert",
		    "holds no key for signAlgID's algorithm (SM2, or EC "
		    "P-256)");
	n = i2d_ch_ses_seal_info(seal->asn->seal_info, &tbs);
	ok = n > 0 && signature_ok(pub, v->sign_nid, tbs, (size_t)n,
	    ASN1_STRING_get0_data(sig), (size_t)ASN1_STRING_length(sig));
	OPENSSL_free(tbs);
	if (!ok)
		return verdict(res, CH_SEAL_BAD_SIGNATURE, "signedValue",
		    "does not verify with the seal maker's key");
	return CH_SEAL_OK;
}

ch_seal_verdict_t
ch_seal_verify(const ch_seal_t *seal, time_t now, ch_seal_result_t *res)
{
	const ch_seal_view_t *v;

	verdict(res, CH_SEAL_OK, NULL, NULL);
	if (seal == NULL) {
		verdict(res, CH_SEAL_UNREADABLE, "/seal", "is missing");
		goto out;
	}
	v = &seal->view;
	if (check_signature(seal, res) != CH_SEAL_OK)
		goto out;
	if ((X509_get_key_usage(v->maker) & KU_DIGITAL_SIGNATURE) == 0) {
		verdict(res, CH_SEAL_BAD_MAKER, "cert", "does not allow "
		    "digitalSignature");
		goto out;
	}
	if (!cert_valid_at(v->maker, v->create_date)) {
		verdict(res, CH_SEAL_BAD_MAKER, "cert", "was not valid at "
		    "createDate");
		goto out;
	}
	if (now < v->valid_start)
		verdict(res, CH_SEAL_NOT_YET_VALID, "property.validStart",
		    "is later than now");
	else if (now > v->valid_end)
		verdict(res, CH_SEAL_EXPIRED, "property.validEnd",
		    "has passed");
out:
	ERR_clear_error();
	return res->verdict;
}

/* ---- build ------------------------------------------------------------ */

/* A PNG by content: the signature, IHDR first with a non-zero size (RFC
 * 2083 §11.2.2), IEND last (§11.2.5). */
static bool
png_ok(const unsigned char *p, size_t n)
{
	static const unsigned char ihdr[8] = { 0, 0, 0, 13, 'I', 'H', 'D',
	    'R' };
	static const unsigned char iend[12] = { 0, 0, 0, 0, 'I', 'E', 'N',
	    'D', 0xae, 0x42, 0x60, 0x82 };

	if (p == NULL || n < sizeof png_signature + 25 + sizeof iend ||
	    memcmp(p, png_signature, sizeof png_signature) != 0 ||
	    memcmp(p + 8, ihdr, sizeof ihdr) != 0 ||
	    memcmp(p + n - sizeof iend, iend, sizeof iend) != 0)
		return false;
	/* width, height: 4 bytes each, 1 to 2^31 - 1 */
	return (p[16] | p[17] | p[18] | p[19]) != 0 && p[16] < 0x80 &&
	    (p[20] | p[21] | p[22] | p[23]) != 0 && p[20] < 0x80;
}

static bool
id_ok(const char *s)
{
	return s != NULL && visible_ascii((const unsigned char *)s,
	    strlen(s));
}

static bool
time_ok(time_t t)
{
	return t >= 0 && (long long)t < GTIME_END;
}

static int
check_spec(const ch_seal_spec_t *s, char *why, size_t whylen)
{
	long chars;

	if (s == NULL) {
		ch_x509_whyf(why, whylen, "spec: is required");
		return -1;
	}
	chars = s->name != NULL ? utf8_chars((const unsigned char *)s->name,
	    strlen(s->name)) : -1;
	if (!id_ok(s->es_id))
		ch_x509_whyf(why, whylen, "es_id: is not 1 to 64 visible "
		    "ASCII characters");
	else if (!id_ok(s->vid))
		ch_x509_whyf(why, whylen, "vid: is not 1 to 64 visible ASCII "
		    "characters");
	else if (s->type != CH_SEAL_TYPE_ORG &&
	    s->type != CH_SEAL_TYPE_PERSONAL)
		ch_x509_whyf(why, whylen, "type: is neither 1 (unit seal) nor "
		    "2 (personal seal)");
	else if (chars < 1 || chars > CH_SEAL_NAME_MAX)
		ch_x509_whyf(why, whylen, "name: is not 1 to 64 characters of "
		    "UTF-8 without control characters");
	else if (s->name[0] == ' ' || s->name[strlen(s->name) - 1] == ' ')
		ch_x509_whyf(why, whylen, "name: begins or ends with a space");
	else if (s->png_len > CH_SEAL_PICTURE_MAX)
		ch_x509_whyf(why, whylen, "png: is larger than 262144 bytes");
	else if (!png_ok(s->png, s->png_len))
		ch_x509_whyf(why, whylen, "png: is not a PNG image (signature, "
		    "IHDR first, IEND last)");
	else if (s->width_mm < CH_SEAL_MM_MIN || s->width_mm > CH_SEAL_MM_MAX)
		ch_x509_whyf(why, whylen, "width_mm: is not 10 to 100 mm");
	else if (s->height_mm < CH_SEAL_MM_MIN ||
	    s->height_mm > CH_SEAL_MM_MAX)
		ch_x509_whyf(why, whylen, "height_mm: is not 10 to 100 mm");
	else if (!time_ok(s->create_date) || !time_ok(s->valid_start) ||
	    !time_ok(s->valid_end))
		ch_x509_whyf(why, whylen, "valid_start: a date is before 1970 "
		    "or after 9999");
	else if (s->valid_start >= s->valid_end)
		ch_x509_whyf(why, whylen, "valid_end: is not after "
		    "valid_start");
	else if (s->create_date > s->valid_end)
		ch_x509_whyf(why, whylen, "create_date: is after valid_end");
	else
		return 0;
	return -1;
}

/* The owner certificate, whose validity must hold the seal's. */
static X509 *
owner_check(const ch_seal_spec_t *s, char *why, size_t whylen)
{
	X509 *x = cert_decode(s->owner_cert, s->owner_cert_len);
	time_t nb, na;

	if (x == NULL) {
		ch_x509_whyf(why, whylen, "owner_cert: is not a DER X.509 "
		    "certificate of at most 16384 bytes");
		return NULL;
	}
	if (ch_x509_time_of(X509_get0_notBefore(x), &nb) != 0 ||
	    ch_x509_time_of(X509_get0_notAfter(x), &na) != 0)
		ch_x509_whyf(why, whylen, "owner_cert: has a validity that "
		    "cannot be read");
	else if (s->valid_start < nb)
		ch_x509_whyf(why, whylen, "valid_start: is before the owner "
		    "certificate's notBefore");
	else if (s->valid_end > na)
		ch_x509_whyf(why, whylen, "valid_end: is after the owner "
		    "certificate's notAfter");
	else
		return x;
	X509_free(x);
	return NULL;
}

/* The algorithm the maker signs with, after checking key and
 * certificate; NID_undef with why. */
static int
maker_check(const ch_seal_spec_t *s, EVP_PKEY *key, X509 *cert, char *why,
    size_t whylen)
{
	int nid = cert != NULL ? key_sig_nid(X509_get0_pubkey(cert)) :
	    NID_undef;
	int der = cert != NULL ? i2d_X509(cert, NULL) : 0;

	if (key == NULL || cert == NULL)
		ch_x509_whyf(why, whylen, "maker_key: is required, with "
		    "maker_cert");
	else if (nid == NID_undef)
		ch_x509_whyf(why, whylen, "maker_cert: holds neither an SM2 "
		    "nor an EC P-256 key");
	else if (ch_x509_key_kind(key) != (nid == NID_SM2_with_SM3 ?
	    CH_KEY_SM2 : CH_KEY_EC))
		ch_x509_whyf(why, whylen, "maker_key: is not of the kind of "
		    "maker_cert's key");
	else if (der <= 0 || der > CH_SEAL_CERT_MAX)
		ch_x509_whyf(why, whylen, "maker_cert: cannot be encoded in "
		    "16384 bytes");
	else if ((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0)
		ch_x509_whyf(why, whylen, "maker_cert: does not allow "
		    "digitalSignature");
	else if (!cert_valid_at(cert, s->create_date))
		ch_x509_whyf(why, whylen, "create_date: is outside the maker "
		    "certificate's validity");
	else
		return nid;
	return NID_undef;
}

static bool
string_set(ASN1_STRING *s, const void *data, size_t len)
{
	return len <= INT_MAX && ASN1_STRING_set(s, data, (int)len) == 1;
}

static bool
text_set(ASN1_STRING *s, const char *text)
{
	return string_set(s, text, strlen(text));
}

/* certList: the owner's certificate as the one CertInfoList entry. */
static bool
cert_list_set(ch_ses_property_t *p, const ch_seal_spec_t *s)
{
	STACK_OF(ch_ses_cert_t) *certs = sk_ch_ses_cert_t_new_null();
	ch_ses_cert_t *c = ASN1_OCTET_STRING_new();
	bool ok = certs != NULL && c != NULL &&
	    string_set(c, s->owner_cert, s->owner_cert_len) &&
	    sk_ch_ses_cert_t_push(certs, c) > 0;

	if (!ok)
		ASN1_OCTET_STRING_free(c);
	ok = ok && ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(ch_ses_certs), certs,
	    &p->cert_list) != NULL;
	sk_ch_ses_cert_t_pop_free(certs, ASN1_OCTET_STRING_free);
	return ok;
}

/* The unsigned seal: everything but signedValue. */
static ch_ses_seal_t *
seal_fill(const ch_seal_spec_t *s, X509 *maker, int nid)
{
	ch_ses_seal_t *seal = ch_ses_seal_new();
	ch_ses_seal_info_t *si = seal != NULL ? seal->seal_info : NULL;
	unsigned char *der = NULL;
	int n = maker != NULL ? i2d_X509(maker, &der) : -1;
	bool ok = si != NULL && n > 0 &&
	    text_set(si->header->id, "ES") &&
	    ASN1_INTEGER_set(si->header->version, CH_SEAL_VERSION) == 1 &&
	    text_set(si->header->vid, s->vid) &&
	    text_set(si->es_id, s->es_id) &&
	    ASN1_INTEGER_set(si->property->type, s->type) == 1 &&
	    text_set(si->property->name, s->name) &&
	    ASN1_INTEGER_set(si->property->cert_list_type,
	    CH_SEAL_LIST_CERTS) == 1 &&
	    cert_list_set(si->property, s) &&
	    ASN1_GENERALIZEDTIME_set(si->property->create_date,
	    s->create_date) != NULL &&
	    ASN1_GENERALIZEDTIME_set(si->property->valid_start,
	    s->valid_start) != NULL &&
	    ASN1_GENERALIZEDTIME_set(si->property->valid_end,
	    s->valid_end) != NULL &&
	    text_set(si->picture->type, "PNG") &&
	    string_set(si->picture->data, s->png, s->png_len) &&
	    ASN1_INTEGER_set(si->picture->width, s->width_mm) == 1 &&
	    ASN1_INTEGER_set(si->picture->height, s->height_mm) == 1 &&
	    string_set(seal->cert, der, (size_t)n);

	OPENSSL_free(der);
	if (ok) {
		ASN1_OBJECT_free(seal->sign_alg);
		seal->sign_alg = OBJ_nid2obj(nid);
		ok = seal->sign_alg != NULL;
	}
	if (!ok) {
		ch_ses_seal_free(seal);
		seal = NULL;
	}
	return seal;
}

/* seal_asn1.h: the tests sign the seals they craft with it too. */
int
ch_ses_seal_sign(ch_ses_seal_t *seal, EVP_PKEY *key, int nid)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *tbs = NULL, *sig = NULL;
	size_t siglen = 0;
	int n = i2d_ch_ses_seal_info(seal->seal_info, &tbs), rc = -1;

	if (md == NULL || n <= 0 || md_init(md, key, nid, true) != 0 ||
	    EVP_DigestSign(md, NULL, &siglen, tbs, (size_t)n) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, tbs, (size_t)n) != 1 ||
	    !string_set(seal->signed_value, sig, siglen))
		goto out;
	seal->signed_value->flags &= ~0x07L;
	seal->signed_value->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	rc = 0;
out:
	OPENSSL_free(sig);
	OPENSSL_free(tbs);
	EVP_MD_CTX_free(md);
	return rc;
}

unsigned char *
ch_seal_build(const ch_seal_spec_t *spec, EVP_PKEY *maker_key,
    X509 *maker_cert, size_t *len, char *why, size_t whylen)
{
	ch_ses_seal_t *seal = NULL;
	ch_seal_t *back = NULL;
	ch_seal_result_t res;
	X509 *owner = NULL;
	unsigned char *out = NULL;
	int nid, n;

	*len = 0;
	if (check_spec(spec, why, whylen) != 0 ||
	    (owner = owner_check(spec, why, whylen)) == NULL ||
	    (nid = maker_check(spec, maker_key, maker_cert, why,
	    whylen)) == NID_undef)
		goto out;
	if ((seal = seal_fill(spec, maker_cert, nid)) == NULL) {
		ch_x509_whyf(why, whylen, "seal: cannot be encoded");
		goto out;
	}
	if (ch_ses_seal_sign(seal, maker_key, nid) != 0) {
		ch_x509_whyf(why, whylen, "maker_key: the signature failed");
		goto out;
	}
	if ((n = i2d_ch_ses_seal(seal, &out)) <= 0) {
		ch_x509_whyf(why, whylen, "seal: cannot be encoded");
		goto out;
	}
	/* What a reader will see: it must parse, and verify. */
	if ((back = ch_seal_parse(out, (size_t)n, &res)) == NULL) {
		ch_x509_whyf(why, whylen, "seal: does not parse back: %s %s",
		    res.field, res.text);
		goto fail;
	}
	if (check_signature(back, &res) != CH_SEAL_OK) {
		ch_x509_whyf(why, whylen, "signature: does not verify with "
		    "maker_cert's key (%s %s)", res.field, res.text);
		goto fail;
	}
	*len = (size_t)n;
	goto out;
fail:
	OPENSSL_free(out);
	out = NULL;
out:
	ch_seal_free(back);
	ch_ses_seal_free(seal);
	X509_free(owner);
	ERR_clear_error();
	return out;
}
