/*
 * Objects in a token: public keys read back as EVP_PKEYs, key generation,
 * the master secret and certificates (certhall/token/key.h).
 */
#include "internal.h"

#include "certhall/base/log.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#define LABEL_MAX 128

/* DER of the OID prime256v1 (1.2.840.10045.3.1.7): CKA_EC_PARAMS. */
static const unsigned char p256_params[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};

/* An EVP_PKEY from the public attributes of h (an RSA or EC public key,
 * or an RSA private key, which carries its modulus and exponent too). */
static int
pub_from_object(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE h, CK_KEY_TYPE kt, EVP_PKEY **out, CK_RV *rv)
{
	unsigned char *a = NULL, *b = NULL;
	const unsigned char *p;
	CK_ULONG a_len = 0, b_len = 0;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *point = NULL;
	const char *type = kt == CKK_RSA ? "RSA" : "EC", *group;
	int rc = -1;

	*out = NULL;
	*rv = kt == CKK_RSA || kt == CKK_EC ? CKR_OK : CKR_KEY_TYPE_INCONSISTENT;
	if (*rv != CKR_OK || bld == NULL)
		goto out;
	*rv = ch_token_attr_(fl, s, h, kt == CKK_RSA ? CKA_MODULUS
	    : CKA_EC_PARAMS, &a, &a_len);
	if (*rv == CKR_OK)
		*rv = ch_token_attr_(fl, s, h, kt == CKK_RSA ?
		    CKA_PUBLIC_EXPONENT : CKA_EC_POINT, &b, &b_len);
	if (*rv != CKR_OK)
		goto out;
	*rv = CKR_FUNCTION_FAILED;
	if (kt == CKK_RSA) {
		n = BN_bin2bn(a, (int)a_len, NULL);
		e = BN_bin2bn(b, (int)b_len, NULL);
		if (n == NULL || e == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
			goto out;
	} else {
		p = a;
		oid = d2i_ASN1_OBJECT(NULL, &p, (long)a_len);
		group = oid ? OBJ_nid2sn(OBJ_obj2nid(oid)) : NULL;
		/* CKA_EC_POINT is a DER OCTET STRING (PKCS#11 2.40); a few
		 * tokens give the bare point. */
		p = b;
		point = d2i_ASN1_OCTET_STRING(NULL, &p, (long)b_len);
		if (group == NULL || OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
		    OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY,
		    point && p == b + b_len ? point->data : b,
		    point && p == b + b_len ? (size_t)point->length
		    : (size_t)b_len) != 1)
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	*rv = CKR_OK;
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(point);
	ASN1_OBJECT_free(oid);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	return rc;
}

static int
cert_from_object(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE h, X509 **out, CK_RV *rv)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	CK_ULONG len = 0;

	*out = NULL;
	*rv = ch_token_attr_(fl, s, h, CKA_VALUE, &der, &len);
	if (*rv != CKR_OK)
		return -1;
	p = der;
	*out = d2i_X509(NULL, &p, (long)len);
	free(der);
	if (*out == NULL)
		*rv = CKR_FUNCTION_FAILED;
	return *out ? 0 : -1;
}

int
ch_token_public_of_(ch_token_t *t, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE priv, CK_KEY_TYPE kt, const unsigned char *id,
    size_t id_len, EVP_PKEY **out, CK_RV *rv)
{
	CK_FUNCTION_LIST *fl = ch_token_fl_(t);
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	X509 *x = NULL;

	*out = NULL;
	if (id_len > 0) {
		*rv = ch_token_find_(t, s, CKO_PUBLIC_KEY, NULL, id, id_len, h,
		    2, &n);
		if (*rv != CKR_OK)
			return -1;
		if (n == 1)
			return pub_from_object(fl, s, h[0], kt, out, rv);
	}
	if (n == 0 && kt == CKK_RSA)
		return pub_from_object(fl, s, priv, kt, out, rv);
	if (n == 0 && id_len > 0) {
		*rv = ch_token_find_(t, s, CKO_CERTIFICATE, NULL, id, id_len,
		    h, 2, &n);
		if (*rv != CKR_OK)
			return -1;
		if (n == 1 && cert_from_object(fl, s, h[0], &x, rv) == 0) {
			*out = X509_get_pubkey(x);
			X509_free(x);
			return *out ? 0 : -1;
		}
	}
	*rv = CKR_FUNCTION_FAILED;
	return -1;
}

/* 0 when neither label nor id names an object in t yet; -1 with *rv. */
static int
check_free(ch_token_t *t, CK_SESSION_HANDLE s, const char *label,
    const unsigned char *id, size_t id_len, CK_RV *rv)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0, m = 0;

	*rv = ch_token_find_(t, s, CK_UNAVAILABLE_INFORMATION, label, NULL, 0,
	    &h, 1, &n);
	if (*rv == CKR_OK && id != NULL)
		*rv = ch_token_find_(t, s, CK_UNAVAILABLE_INFORMATION, NULL, id,
		    id_len, &h, 1, &m);
	if (*rv != CKR_OK)
		return -1;
	if (n + m > 0) {
		ch_error("token already holds an object with label \"%s\" or "
		    "its id", label);
		*rv = CKR_FUNCTION_FAILED;
		return -1;
	}
	return 0;
}

static int
good_label(const char *label)
{
	return label != NULL && label[0] != '\0' && strlen(label) <= LABEL_MAX;
}

int
ch_token_generate_keypair(ch_token_t *t, const ch_keygen_t *spec,
    EVP_PKEY **pub)
{
	static const CK_BYTE e65537[] = { 0x01, 0x00, 0x01 };
	static const CK_ULONG rsa_bits[] = { 2048, 3072, 4096 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY, priv_class = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = spec->alg == CH_KEY_EC_P256 ? CKK_EC : CKK_RSA;
	CK_ULONG bits = spec->alg < CH_KEY_EC_P256 ? rsa_bits[spec->alg] : 0;
	CK_ULONG label_len = spec->label ? strlen(spec->label) : 0;
	CK_MECHANISM m = { kt == CKK_EC ? CKM_EC_KEY_PAIR_GEN
	    : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pt[] = {
		{ CKA_CLASS, &pub_class, sizeof pub_class },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &no, sizeof no },
		{ CKA_VERIFY, &yes, sizeof yes },
		{ CKA_ENCRYPT, &no, sizeof no },
		{ CKA_WRAP, &no, sizeof no },
		{ CKA_LABEL, (void *)spec->label, label_len },
		{ CKA_ID, (void *)spec->id, spec->id_len },
		/* the last two differ by algorithm */
		{ CKA_MODULUS_BITS, &bits, sizeof bits },
		{ CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof e65537 },
	};
	CK_ATTRIBUTE vt[] = {
		{ CKA_CLASS, &priv_class, sizeof priv_class },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, &yes, sizeof yes },
		{ CKA_EXTRACTABLE, &no, sizeof no },
		{ CKA_SIGN, &yes, sizeof yes },
		{ CKA_DECRYPT, &no, sizeof no },
		{ CKA_UNWRAP, &no, sizeof no },
		{ CKA_DERIVE, &no, sizeof no },
		{ CKA_LABEL, (void *)spec->label, label_len },
		{ CKA_ID, (void *)spec->id, spec->id_len },
	};
	CK_ULONG npt = sizeof pt / sizeof pt[0];
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	CK_FUNCTION_LIST *fl;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (pub != NULL)
		*pub = NULL;
	if (spec->alg >= CH_KEY_ALG__MAX || !good_label(spec->label) ||
	    spec->id == NULL || spec->id_len == 0 ||
	    spec->id_len > CH_KEYREF_ID_MAX) {
		ch_error("key generation needs an algorithm, a label (1-%d) "
		    "and an id (1-%d bytes)", LABEL_MAX, CH_KEYREF_ID_MAX);
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (kt == CKK_EC) {
		pt[npt - 2] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
		    (void *)p256_params, sizeof p256_params };
		npt--;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	fl = ch_token_fl_(t);
	if (check_free(t, s, spec->label, spec->id, spec->id_len, &rv) != 0)
		goto out;
	rv = fl->C_GenerateKeyPair(s, &m, pt, npt, vt, sizeof vt / sizeof vt[0],
	    &hpub, &hpriv);
	if (rv == CKR_OK && pub != NULL &&
	    pub_from_object(fl, s, hpub, kt, pub, &rv) != 0) {
		fl->C_DestroyObject(s, hpub);
		fl->C_DestroyObject(s, hpriv);
	}
out:
	ch_token_end_(t, s, rv, "generate key pair");
	if (rv == CKR_OK)
		ch_info("token \"%s\": generated key \"%s\"",
		    t->label ? t->label : t->serial, spec->label);
	return rv == CKR_OK ? 0 : -1;
}

int
ch_token_generate_secret(ch_token_t *t, const char *label,
    const unsigned char *id, size_t id_len)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len = 32;
	CK_MECHANISM m = { CKM_GENERIC_SECRET_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_VALUE_LEN, &len, sizeof len },
		{ CKA_TOKEN, &yes, sizeof yes },
		{ CKA_PRIVATE, &yes, sizeof yes },
		{ CKA_SENSITIVE, &yes, sizeof yes },
		{ CKA_EXTRACTABLE, &no, sizeof no },
		{ CKA_SIGN, &yes, sizeof yes },
		{ CKA_VERIFY, &yes, sizeof yes },
		{ CKA_ENCRYPT, &no, sizeof no },
		{ CKA_DECRYPT, &no, sizeof no },
		{ CKA_WRAP, &no, sizeof no },
		{ CKA_UNWRAP, &no, sizeof no },
		{ CKA_DERIVE, &no, sizeof no },
		{ CKA_LABEL, (void *)label, label ? strlen(label) : 0 },
		{ CKA_ID, (void *)id, id_len },
	};
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (!good_label(label) || id == NULL || id_len == 0 ||
	    id_len > CH_KEYREF_ID_MAX) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	if (check_free(t, s, label, id, id_len, &rv) == 0)
		rv = ch_token_fl_(t)->C_GenerateKey(s, &m, tmpl,
		    sizeof tmpl / sizeof tmpl[0], &h);
	ch_token_end_(t, s, rv, "generate secret");
	return rv == CKR_OK ? 0 : -1;
}

int
ch_token_store_cert(ch_token_t *t, const char *label, const unsigned char *id,
    size_t id_len, X509 *x)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	unsigned char *der = NULL, *subject = NULL, *issuer = NULL;
	unsigned char *serial = NULL;
	int der_len, subject_len, issuer_len, serial_len;
	CK_ATTRIBUTE tmpl[10];
	CK_ULONG nt = 0, n = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_FUNCTION_FAILED;
	int rc = -1;

	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	der_len = i2d_X509(x, &der);
	subject_len = i2d_X509_NAME(X509_get_subject_name(x), &subject);
	issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &issuer);
	serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &serial);
	if (!good_label(label) || der_len <= 0 || subject_len <= 0 ||
	    issuer_len <= 0 || serial_len <= 0 ||
	    (id != NULL && (id_len == 0 || id_len > CH_KEYREF_ID_MAX)))
		goto out;
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CERTIFICATE_TYPE, &ct, sizeof ct };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof yes };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof no };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_SUBJECT, subject, (CK_ULONG)subject_len };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ISSUER, issuer, (CK_ULONG)issuer_len };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_SERIAL_NUMBER, serial,
	    (CK_ULONG)serial_len };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_VALUE, der, (CK_ULONG)der_len };
	if (id != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	if (ch_token_begin_(t, &s) != 0)
		goto out;
	rv = ch_token_find_(t, s, CKO_CERTIFICATE, label, NULL, 0, &h, 1, &n);
	if (rv == CKR_OK && n > 0) {
		ch_error("token already holds a certificate \"%s\"", label);
		rv = CKR_FUNCTION_FAILED;
	}
	if (rv == CKR_OK)
		rv = ch_token_fl_(t)->C_CreateObject(s, tmpl, nt, &h);
	ch_token_end_(t, s, rv, "store certificate");
	rc = rv == CKR_OK ? 0 : -1;
out:
	OPENSSL_free(der);
	OPENSSL_free(subject);
	OPENSSL_free(issuer);
	OPENSSL_free(serial);
	return rc;
}

/* The one object of class cls labelled label: 0 and *h, or -1 (with *rv
 * CKR_FUNCTION_FAILED when there are none or two). */
static int
find_one(ch_token_t *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    const char *label, CK_OBJECT_HANDLE *h, CK_RV *rv)
{
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;

	*rv = ch_token_find_(t, s, cls, label, NULL, 0, found, 2, &n);
	if (*rv == CKR_OK && n != 1)
		*rv = CKR_FUNCTION_FAILED;
	*h = found[0];
	return *rv == CKR_OK ? 0 : -1;
}

int
ch_token_get_cert(ch_token_t *t, const char *label, X509 **out)
{
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	*out = NULL;
	if (!good_label(label)) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	if (find_one(t, s, CKO_CERTIFICATE, label, &h, &rv) == 0)
		cert_from_object(ch_token_fl_(t), s, h, out, &rv);
	ch_token_end_(t, s, rv, "read certificate");
	return *out ? 0 : -1;
}

int
ch_token_get_public(ch_token_t *t, const char *label, EVP_PKEY **out)
{
	CK_FUNCTION_LIST *fl;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };
	X509 *x = NULL;
	CK_RV rv;

	*out = NULL;
	if (!good_label(label)) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	fl = ch_token_fl_(t);
	if (find_one(t, s, CKO_PUBLIC_KEY, label, &h, &rv) == 0) {
		if ((rv = fl->C_GetAttributeValue(s, h, &a, 1)) == CKR_OK)
			pub_from_object(fl, s, h, kt, out, &rv);
	} else if (rv == CKR_FUNCTION_FAILED &&
	    find_one(t, s, CKO_CERTIFICATE, label, &h, &rv) == 0 &&
	    cert_from_object(fl, s, h, &x, &rv) == 0) {
		if ((*out = X509_get_pubkey(x)) == NULL)
			rv = CKR_FUNCTION_FAILED;
		X509_free(x);
	}
	ch_token_end_(t, s, rv, "read public key");
	return *out ? 0 : -1;
}
