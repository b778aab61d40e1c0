/*
 * Keys: opening by reference, pinning and re-checking token keys, signing
 * and HMAC through the pool (certhall/token/key.h).
 */
#include "internal.h"

#include "certhall/base/log.h"
#include "certhall/base/pool.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#define CHECK_VALUE_MSG "certhall/key-check/v1"

/* DER of DigestInfo for SHA-256 without the digest (RFC 8017 9.2 note 1). */
static const unsigned char sha256_prefix[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

CK_RV
ch_token_sign_(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE h, const unsigned char *in,
    size_t in_len, unsigned char *out, CK_ULONG *out_len)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_RV rv;

	rv = fl->C_SignInit(s, &m, h);
	if (rv == CKR_OK)
		rv = fl->C_Sign(s, (CK_BYTE *)in, in_len, out, out_len);
	return rv;
}

int
ch_key_spki_sha256_(EVP_PKEY *pub, unsigned char out[32])
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pub, &der);

	if (len <= 0)
		return -1;
	SHA256(der, (size_t)len, out);
	OPENSSL_free(der);
	return 0;
}

EVP_PKEY *
ch_key_public_copy_(EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub;
	int len = i2d_PUBKEY(pkey, &der);

	if (len <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	return pub;
}

ECDSA_SIG *
ch_key_ecdsa_sig_(const unsigned char *rs, size_t len)
{
	BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig = NULL;

	if (len == 0 || len % 2 != 0 ||
	    (r = BN_bin2bn(rs, (int)(len / 2), NULL)) == NULL ||
	    (s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL)) == NULL ||
	    (sig = ECDSA_SIG_new()) == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return NULL;
	}
	return sig;
}

/*
 * Signs a fresh random digest with object h in session s and verifies it
 * with pub: proves that h is pub's private half.  0; -1 with *rv when the
 * token failed; -2 when the signature does not verify.
 */
static int
self_test(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
    CK_KEY_TYPE kt, EVP_PKEY *pub, CK_RV *rv)
{
	unsigned char msg[32], in[sizeof sha256_prefix + 32], sig[1024];
	unsigned char *dgst = in + sizeof sha256_prefix, *der = NULL;
	CK_ULONG sig_len = sizeof sig;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	int der_len = 0, rc = -2;

	if (RAND_bytes(msg, sizeof msg) != 1)
		return -2;
	SHA256(msg, sizeof msg, dgst);
	memcpy(in, sha256_prefix, sizeof sha256_prefix);
	if (kt == CKK_RSA)
		*rv = ch_token_sign_(fl, s, CKM_RSA_PKCS, h, in, sizeof in, sig,
		    &sig_len);
	else
		*rv = ch_token_sign_(fl, s, CKM_ECDSA, h, dgst, 32, sig,
		    &sig_len);
	if (*rv != CKR_OK)
		return ch_token_rv_class(*rv) == CH_TOKEN_ERR_RETRY ? -1 : -2;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1)
		goto out;
	if (kt == CKK_RSA) {
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1)
			goto out;
		rc = EVP_PKEY_verify(ctx, sig, sig_len, dgst, 32) == 1 ? 0 : -2;
		goto out;
	}
	if ((es = ch_key_ecdsa_sig_(sig, sig_len)) == NULL ||
	    (der_len = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	rc = EVP_PKEY_verify(ctx, der, (size_t)der_len, dgst, 32) == 1 ? 0 : -2;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* Reads CKA_SENSITIVE and CKA_EXTRACTABLE: 0 when h is fit to keep (sensitive,
 * not extractable), -2 when not, -1 with *rv when the token failed. */
static int
check_protected(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE h, CK_RV *rv)
{
	CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE;
	CK_ATTRIBUTE a[] = {
		{ CKA_SENSITIVE, &sensitive, sizeof sensitive },
		{ CKA_EXTRACTABLE, &extractable, sizeof extractable },
	};

	*rv = fl->C_GetAttributeValue(s, h, a, 2);
	if (*rv != CKR_OK)
		return ch_token_rv_class(*rv) == CH_TOKEN_ERR_RETRY ? -1 : -2;
	return sensitive == CK_TRUE && extractable == CK_FALSE ? 0 : -2;
}

static const char *
key_name(const struct ch_key *k)
{
	return k->label ? k->label : "(by id)";
}

int
ch_key_bind_(struct ch_key *k, CK_SESSION_HANDLE s, CK_RV *rv)
{
	CK_FUNCTION_LIST *fl = ch_token_fl_(k->t);
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0, id_len = 0;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof kt };
	unsigned char *id = NULL, fp[32];
	EVP_PKEY *pub = NULL;
	int rc = -1, r = 0;

	*rv = ch_token_find_(k->t, s, k->kind == CH_KEY_TOKEN_SECRET ?
	    CKO_SECRET_KEY : CKO_PRIVATE_KEY, k->label,
	    k->has_ref_id ? k->ref_id : NULL, k->ref_id_len, h, 2, &n);
	if (*rv != CKR_OK)
		goto out;
	rc = -2;
	if (n != 1) {
		ch_error("key \"%s\": %s", key_name(k), n ? "more than one "
		    "object matches" : "no such object");
		goto out;
	}
	if ((r = check_protected(fl, s, h[0], rv)) != 0) {
		if (r == -2)
			ch_error("key \"%s\" is extractable or not sensitive",
			    key_name(k));
		rc = r;
		goto out;
	}
	rc = -1;
	if ((*rv = fl->C_GetAttributeValue(s, h[0], &a, 1)) != CKR_OK ||
	    (*rv = ch_token_attr_(fl, s, h[0], CKA_ID, &id, &id_len)) != CKR_OK)
		goto out;
	rc = -2;
	if (id_len > CH_KEYREF_ID_MAX)
		goto out;
	if (k->pinned && (kt != k->ktype || id_len != k->id_len ||
	    memcmp(id, k->id, id_len) != 0)) {
		ch_error("key \"%s\": CKA_ID or type changed", key_name(k));
		goto out;
	}

	if (k->kind == CH_KEY_TOKEN_SECRET) {
		CK_ULONG len = sizeof fp;

		if (kt != CKK_GENERIC_SECRET)
			goto out;
		*rv = ch_token_sign_(fl, s, CKM_SHA256_HMAC, h[0],
		    (const unsigned char *)CHECK_VALUE_MSG,
		    strlen(CHECK_VALUE_MSG), fp, &len);
		if (*rv != CKR_OK || len != sizeof fp) {
			rc = ch_token_rv_class(*rv) == CH_TOKEN_ERR_RETRY ? -1
			    : -2;
			goto out;
		}
	} else {
		if (kt != CKK_RSA && kt != CKK_EC)
			goto out;
		if (ch_token_public_of_(k->t, s, h[0], kt, id, id_len, &pub,
		    rv) != 0) {
			rc = ch_token_rv_class(*rv) == CH_TOKEN_ERR_RETRY ? -1
			    : -2;
			goto out;
		}
		if (ch_key_spki_sha256_(pub, fp) != 0)
			goto out;
		/* Against the pinned public key, not the one just read. */
		if ((k->pinned && memcmp(fp, k->fp, sizeof fp) != 0) ||
		    (r = self_test(fl, s, h[0], kt, k->pinned ? k->pub : pub,
		    rv)) == -2) {
			ch_error("key \"%s\": public key or test signature "
			    "does not match", key_name(k));
			goto out;
		}
		if (r != 0) {
			rc = r;
			goto out;
		}
	}
	if (k->pinned && memcmp(fp, k->fp, sizeof fp) != 0) {
		ch_error("key \"%s\": check value changed", key_name(k));
		goto out;
	}
	if (!k->pinned) {
		if (pub != NULL &&
		    (k->pkey = ch_key_foreign_(k, pub)) == NULL)
			goto out;
		k->pub = pub;
		pub = NULL;
		memcpy(k->fp, fp, sizeof fp);
		memcpy(k->id, id, id_len);
		k->id_len = id_len;
		k->ktype = kt;
		k->pinned = 1;
	}
	k->handle = h[0];
	*rv = CKR_OK;
	rc = 0;
out:
	EVP_PKEY_free(pub);
	free(id);
	return rc;
}

int
ch_key_sign_raw_(struct ch_key *k, CK_MECHANISM_TYPE mech,
    const unsigned char *in, size_t in_len, unsigned char *out,
    CK_ULONG *out_len)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (ch_token_begin_(k->t, &s) != 0)
		return -1;
	rv = ch_token_sign_(ch_token_fl_(k->t), s, mech, k->handle, in, in_len,
	    out, out_len);
	ch_token_end_(k->t, s, rv, "sign");
	return rv == CKR_OK ? 0 : -1;
}

int
ch_key_hmac_sha256(ch_key_t *k, const void *data, size_t len,
    unsigned char out[32])
{
	CK_ULONG n = 32;

	if (k->kind != CH_KEY_TOKEN_SECRET) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_key_sign_raw_(k, CKM_SHA256_HMAC, data, len, out, &n) != 0)
		return -1;
	if (n != 32) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	return 0;
}

static void
key_free(ch_key_t *k)
{
	EVP_PKEY_free(k->pkey);
	EVP_PKEY_free(k->pub);
	free(k->label);
	free(k);
}

int
ch_token_key(ch_token_t *t, ch_keyref_type_t type, const char *label,
    const unsigned char *id, size_t id_len, ch_key_t **out)
{
	CK_SESSION_HANDLE s;
	ch_key_t *k;
	CK_RV rv = CKR_OK;
	int r;

	*out = NULL;
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if ((label == NULL || label[0] == '\0') && id == NULL)
		return -1;
	if ((id != NULL && (id_len == 0 || id_len > CH_KEYREF_ID_MAX)) ||
	    type >= CH_KEYREF_TYPE__MAX)
		return -1;
	k = ch_xmalloc(sizeof *k);
	memset(k, 0, sizeof *k);
	k->kind = type == CH_KEYREF_SECRET ? CH_KEY_TOKEN_SECRET
	    : CH_KEY_TOKEN_PRIVATE;
	k->t = t;
	if (label != NULL && label[0] != '\0') {
		size_t n = strlen(label) + 1;

		k->label = memcpy(ch_xmalloc(n), label, n);
	}
	if (id != NULL) {
		memcpy(k->ref_id, id, id_len);
		k->ref_id_len = id_len;
		k->has_ref_id = 1;
	}
	ch_token_ref_(t);	/* before begin: see internal.h */
	if (ch_token_begin_(t, &s) != 0)
		goto fail;
	r = ch_key_bind_(k, s, &rv);
	if (r == 0)
		ch_token_add_key_(t, k);
	ch_token_end_(t, s, r == -1 ? rv : CKR_OK, "open key");
	if (r == 0) {
		*out = k;
		return 0;
	}
	ch_token_set_error_(r == -1 ? ch_token_rv_class(rv)
	    : CH_TOKEN_ERR_FAILED);
fail:
	ch_token_close(t);
	key_free(k);
	return -1;
}

int
ch_key_open(const char *ref, const ch_key_defaults_t *defaults,
    ch_key_t **out)
{
	ch_keyref_t r;
	ch_token_config_t cfg;
	ch_token_t *t = NULL;
	const char *pin_source;
	int rc;

	*out = NULL;
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if (ch_keyref_parse(ref, &r) != 0)
		return -1;
	pin_source = r.pin_source[0] ? r.pin_source
	    : defaults ? defaults->pin_source : NULL;
	if (r.kind == CH_KEYREF_FILE)
		return ch_key_open_file_(r.path, pin_source, out);

	memset(&cfg, 0, sizeof cfg);
	cfg.module = r.module_path[0] ? r.module_path
	    : defaults ? defaults->module_path : NULL;
	cfg.label = r.token[0] ? r.token : NULL;
	cfg.serial = r.serial[0] ? r.serial : NULL;
	cfg.pin_source = pin_source;
	cfg.sessions = defaults ? defaults->sessions : 0;
	if (cfg.module == NULL) {
		ch_error("key \"%s\": no module-path and no default", ref);
		return -1;
	}
	if (ch_token_open(&cfg, &t) != 0)
		return -1;
	rc = ch_token_key(t, r.type, r.object[0] ? r.object : NULL,
	    r.has_id ? r.id : NULL, r.id_len, out);
	ch_token_close(t);	/* the key holds its own reference */
	return rc;
}

void
ch_key_close(ch_key_t *k)
{
	if (k == NULL)
		return;
	if (k->t != NULL) {
		ch_token_remove_key_(k->t, k);
		ch_token_close(k->t);
	}
	key_free(k);
}

EVP_PKEY *
ch_key_pkey(const ch_key_t *k)
{
	return k->pkey;
}

EVP_PKEY *
ch_key_public(const ch_key_t *k)
{
	return k->pub;
}

void
ch_key_fingerprint(const ch_key_t *k, unsigned char out[32])
{
	memcpy(out, k->fp, 32);
}

const unsigned char *
ch_key_id(const ch_key_t *k, size_t *len)
{
	*len = k->id_len;
	return k->id;
}
