/*
 * GB/T 38540 seals (certhall/codec/seal.h): built with SM2 and P-256 seal
 * makers (software keys, and a P-256 key in SoftHSM2 through the token
 * layer), parsed back and verified; every byte of a seal changed alone;
 * the builder's refusals; seals the builder never writes (versions 1 and
 * 5, certificate digests, extDatas, a maker certificate not valid at
 * createDate), crafted with the codec's templates (src/codec/seal_asn1.h).
 * tests/codec/check-seal checks seals with openssl and pyasn1.
 */
#include "test.h"
#include "test_token.h"
#include "../codec/seal_fixture.h"
#include "../../src/codec/seal_asn1.h"

#include "certhall/token/key.h"
#include "certhall/token/token.h"

#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Builds fs's spec; on failure prints why. */
static unsigned char *
build(const fx_seal_t *fs, const ch_seal_spec_t *spec, size_t *len)
{
	char why[256] = "";
	unsigned char *der = ch_seal_build(spec, fs->maker_key, fs->maker, len,
	    why, sizeof why);

	if (der == NULL)
		fprintf(stderr, "ch_seal_build: %s\n", why);
	return der;
}

/* The builder refuses spec (with key and cert) with a reason starting
 * with want. */
static bool
refused(const ch_seal_spec_t *spec, EVP_PKEY *key, X509 *cert,
    const char *want)
{
	char why[256] = "";
	size_t len = 99;
	unsigned char *der = ch_seal_build(spec, key, cert, &len, why,
	    sizeof why);

	if (der != NULL || len != 0 || strncmp(why, want, strlen(want)) != 0) {
		fprintf(stderr, "wanted \"%s...\", got \"%s\"%s\n", want, why,
		    der != NULL ? " and a seal" : "");
		OPENSSL_free(der);
		return false;
	}
	return true;
}

/* Parse and verify at now: the verdict, with res filled. */
static ch_seal_verdict_t
judge(const unsigned char *der, size_t len, time_t now, ch_seal_result_t *res)
{
	ch_seal_t *seal = ch_seal_parse(der, len, res);

	if (seal != NULL)
		ch_seal_verify(seal, now, res);
	ch_seal_free(seal);
	return res->verdict;
}

static bool
same_bytes(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/*
 * A whole round: build, parse, every field of the view, verify at its
 * dates, then every byte of the seal changed alone.  A verifier also needs
 * trust in the maker certificate (its chain, here: that it is the one we
 * made): the signature covers eSealInfo only, so a changed byte in the
 * certificate's own signature or serial is caught there, not by the seal.
 */
static int
round_trip(const char *maker_kind, int want_nid)
{
	fx_seal_t fs;
	ch_seal_result_t res;
	ch_seal_t *seal;
	const ch_seal_view_t *v;
	unsigned char *der, *bad;
	size_t len = 0;
	time_t now;

	CHECK(fx_seal_make(&fs, maker_kind) == 0);
	now = fs.ca.now;
	CHECK((der = build(&fs, &fs.spec, &len)) != NULL);
	CHECK(len > fx_png_len + fs.owner_der_len);
	CHECK((seal = ch_seal_parse(der, len, &res)) != NULL);
	CHECK(res.verdict == CH_SEAL_OK);
	v = ch_seal_view(seal);
	CHECK_STR(v->vid, FX_SEAL_VID);
	CHECK_STR(v->es_id, fs.es_id);
	CHECK(v->type == CH_SEAL_TYPE_ORG);
	CHECK_STR(v->name, FX_SEAL_NAME);
	CHECK(v->cert_list_type == CH_SEAL_LIST_CERTS);
	CHECK(v->n_entries == 1 && v->entries[0].digest_type == NULL);
	CHECK(same_bytes(v->entries[0].data, v->entries[0].len, fs.owner_der,
	    fs.owner_der_len));
	CHECK(v->owner != NULL && X509_cmp(v->owner, fs.owner) == 0);
	CHECK(v->create_date == now && v->valid_start == now &&
	    v->valid_end == now + FX_YEAR);
	CHECK_STR(v->picture_type, "PNG");
	CHECK(same_bytes(v->picture, v->picture_len, fx_png, fx_png_len));
	CHECK(v->width_mm == FX_SEAL_MM && v->height_mm == FX_SEAL_MM);
	CHECK(v->maker != NULL && X509_cmp(v->maker, fs.maker) == 0);
	CHECK(v->sign_nid == want_nid);
	CHECK(ch_seal_verify(seal, now, &res) == CH_SEAL_OK);
	CHECK(ch_seal_verify(seal, now + FX_YEAR, &res) == CH_SEAL_OK);
	CHECK(ch_seal_verify(seal, now - 1, &res) == CH_SEAL_NOT_YET_VALID);
	CHECK_STR(res.field, "property.validStart");
	CHECK(ch_seal_verify(seal, now + FX_YEAR + 1, &res) ==
	    CH_SEAL_EXPIRED);
	CHECK_STR(res.field, "property.validEnd");
	ch_seal_free(seal);

	CHECK((bad = malloc(len)) != NULL);
	for (size_t i = 0; i < len; i++) {
		ch_seal_verdict_t got;
		bool trusted = true;

		memcpy(bad, der, len);
		bad[i] ^= 0x01;
		if ((seal = ch_seal_parse(bad, len, &res)) != NULL) {
			got = ch_seal_verify(seal, now, &res);
			trusted = X509_cmp(ch_seal_view(seal)->maker,
			    fs.maker) == 0;
			ch_seal_free(seal);
		} else {
			got = res.verdict;
		}
		if (got == CH_SEAL_OK && trusted) {
			fprintf(stderr, "%s: byte %zu of %zu changed, still "
			    "accepted\n", maker_kind, i, len);
			CHECK(0);
		}
		CHECK(got == CH_SEAL_OK || (res.field != NULL &&
		    res.text != NULL));
	}
	free(bad);
	OPENSSL_free(der);
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_sm2(void)
{
	return round_trip("sm2", NID_SM2_with_SM3);
}

int
test_seal_p256(void)
{
	return round_trip("p256", NID_ecdsa_with_SHA256);
}

/* The seal maker's key in a token (SoftHSM2 has no SM2: P-256). */
int
test_seal_token_p256(void)
{
	tt_hsm_t h;
	ch_token_config_t cfg = { .module = TT_MODULE, .label = "certhall-ca",
	    .sessions = 1 };
	ch_keygen_t gen = { CH_KEY_EC_P256, "seal-maker",
	    (const unsigned char *)"\x05", 1 };
	ch_token_t *t = NULL;
	ch_key_t *k = NULL;
	EVP_PKEY *pub = NULL;
	fx_seal_t fs;
	ch_seal_result_t res;
	unsigned char *der;
	size_t len = 0;

	CHECK(fx_seal_make(&fs, "p256") == 0);
	CHECK(tt_hsm_new(&h) == 0);
	cfg.pin_source = h.pin_source;
	CHECK(tt_hsm_init_token(&h, "certhall-ca", TT_SO_PIN, TT_PIN) == 0);
	CHECK(ch_token_open(&cfg, &t) == 0);
	CHECK(ch_token_generate_keypair(t, &gen, &pub) == 0);
	CHECK(ch_token_key(t, CH_KEYREF_PRIVATE, "seal-maker", NULL, 0,
	    &k) == 0);
	X509_free(fs.maker);
	CHECK((fs.maker = fx_leaf(&fs.ca, CH_PROFILE_SEAL, pub, 10)) != NULL);
	der = ch_seal_build(&fs.spec, ch_key_pkey(k), fs.maker, &len, NULL, 0);
	CHECK(der != NULL);
	CHECK(judge(der, len, fs.ca.now, &res) == CH_SEAL_OK);
	OPENSSL_free(der);
	/* The software key of the fixture is not the token's. */
	CHECK(refused(&fs.spec, fs.maker_key, fs.maker, "signature: does not "
	    "verify"));
	ch_key_close(k);
	ch_token_close(t);
	EVP_PKEY_free(pub);
	tt_hsm_free(&h);
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_validity(void)
{
	fx_seal_t fs;
	ch_seal_spec_t s;
	time_t now;

	CHECK(fx_seal_make(&fs, "sm2") == 0);
	now = fs.ca.now;
	/* The owner certificate runs from now to now + FX_YEAR. */
	s = fs.spec;
	s.valid_start = now - 1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "valid_start: is before the "
	    "owner certificate's notBefore"));
	s = fs.spec;
	s.valid_end = now + FX_YEAR + 1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "valid_end: is after the "
	    "owner certificate's notAfter"));
	s = fs.spec;
	s.valid_end = s.valid_start;
	CHECK(refused(&s, fs.maker_key, fs.maker, "valid_end: is not after"));
	s = fs.spec;
	s.create_date = s.valid_end + 1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "create_date: is after "
	    "valid_end"));
	/* The maker certificate starts at now too. */
	s = fs.spec;
	s.create_date = now - 60;
	CHECK(refused(&s, fs.maker_key, fs.maker, "create_date: is outside "
	    "the maker certificate's validity"));
	s = fs.spec;
	s.valid_start = -1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "valid_start: a date is "
	    "before 1970"));
	/* A shorter seal inside the certificate is fine. */
	s = fs.spec;
	s.valid_start = now + 86400;
	s.valid_end = now + 30 * 86400;
	{
		size_t len = 0;
		unsigned char *der = build(&fs, &s, &len);
		ch_seal_result_t res;

		CHECK(der != NULL);
		CHECK(judge(der, len, now, &res) == CH_SEAL_NOT_YET_VALID);
		CHECK(judge(der, len, now + 86400, &res) == CH_SEAL_OK);
		OPENSSL_free(der);
	}
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_bad_png(void)
{
	static const unsigned char jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00,
	    0x10, 'J', 'F', 'I', 'F', 0x00 };
	unsigned char png[200];
	unsigned char *big;
	fx_seal_t fs;
	ch_seal_spec_t s;

	CHECK(fx_png_len <= sizeof png);
	CHECK(fx_seal_make(&fs, "p256") == 0);
	s = fs.spec;
	s.png = jpeg;
	s.png_len = sizeof jpeg;
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is not a PNG image"));
	s.png = NULL;
	s.png_len = 0;
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is not a PNG image"));
	/* Truncated: no IEND at the end. */
	s.png = fx_png;
	s.png_len = fx_png_len - 1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is not a PNG image"));
	/* The signature alone, then IHDR's width zeroed. */
	memcpy(png, fx_png, fx_png_len);
	png[3] = 'g';
	s.png = png;
	s.png_len = fx_png_len;
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is not a PNG image"));
	memcpy(png, fx_png, fx_png_len);
	memset(png + 16, 0, 4);
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is not a PNG image"));
	/* Over the cap, even if it were a PNG. */
	CHECK((big = calloc(1, CH_SEAL_PICTURE_MAX + 1)) != NULL);
	memcpy(big, fx_png, fx_png_len - 12);
	memcpy(big + CH_SEAL_PICTURE_MAX + 1 - 12, fx_png + fx_png_len - 12,
	    12);
	s.png = big;
	s.png_len = CH_SEAL_PICTURE_MAX + 1;
	CHECK(refused(&s, fs.maker_key, fs.maker, "png: is larger than"));
	/* At the cap it is taken. */
	s.png_len = CH_SEAL_PICTURE_MAX;
	memcpy(big + CH_SEAL_PICTURE_MAX - 12, fx_png + fx_png_len - 12, 12);
	{
		size_t len = 0;
		unsigned char *der = build(&fs, &s, &len);

		CHECK(der != NULL && len > CH_SEAL_PICTURE_MAX);
		OPENSSL_free(der);
	}
	free(big);
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_build_refusals(void)
{
	fx_seal_t fs;
	ch_seal_spec_t s;
	EVP_PKEY *rsa = fx_key_new("rsa2048"), *p384 = fx_key_new("p384");
	X509 *rsa_cert, *p384_cert;
	char long_id[CH_SEAL_ID_MAX + 2];

	CHECK(rsa != NULL && p384 != NULL);
	CHECK(fx_seal_make(&fs, "sm2") == 0);
	memset(long_id, 'A', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	CHECK(refused(NULL, fs.maker_key, fs.maker, "spec: is required"));

	s = fs.spec;
	s.es_id = "has space";
	CHECK(refused(&s, fs.maker_key, fs.maker, "es_id:"));
	s.es_id = "";
	CHECK(refused(&s, fs.maker_key, fs.maker, "es_id:"));
	s.es_id = long_id;
	CHECK(refused(&s, fs.maker_key, fs.maker, "es_id:"));
	s.es_id = "印章";
	CHECK(refused(&s, fs.maker_key, fs.maker, "es_id:"));
	s = fs.spec;
	s.vid = NULL;
	CHECK(refused(&s, fs.maker_key, fs.maker, "vid:"));
	s = fs.spec;
	s.type = 3;
	CHECK(refused(&s, fs.maker_key, fs.maker, "type:"));
	s = fs.spec;
	s.name = "bad\001name";
	CHECK(refused(&s, fs.maker_key, fs.maker, "name: is not"));
	s.name = "\xe5\x8d";
	CHECK(refused(&s, fs.maker_key, fs.maker, "name: is not"));
	s.name = " 合同专用章";
	CHECK(refused(&s, fs.maker_key, fs.maker, "name: begins or ends"));
	s = fs.spec;
	s.width_mm = 400;	/* pixels, not mm */
	CHECK(refused(&s, fs.maker_key, fs.maker, "width_mm:"));
	s = fs.spec;
	s.height_mm = 9;
	CHECK(refused(&s, fs.maker_key, fs.maker, "height_mm:"));
	s = fs.spec;
	s.owner_cert_len--;
	CHECK(refused(&s, fs.maker_key, fs.maker, "owner_cert:"));

	/* Maker keys: RSA and P-384 are refused, and each kind signs only
	 * under a certificate of its kind.  (Our profiles have no P-384
	 * certificate: the token tests' helper makes one.) */
	CHECK((rsa_cert = fx_leaf(&fs.ca, CH_PROFILE_SEAL, rsa, 10)) != NULL);
	CHECK((p384_cert = tt_cert(p384, "P-384 seal maker", fs.ca.issuing,
	    fs.issuing_key)) != NULL);
	CHECK(refused(&fs.spec, rsa, rsa_cert, "maker_cert: holds neither"));
	CHECK(refused(&fs.spec, p384, p384_cert, "maker_cert: holds neither"));
	CHECK(refused(&fs.spec, rsa, fs.maker, "maker_key: is not of the "
	    "kind"));
	CHECK(refused(&fs.spec, fs.maker_key, NULL, "maker_key: is required"));
	/* A certificate without digitalSignature: an issuing CA's has
	 * only keyCertSign and cRLSign. */
	CHECK(refused(&fs.spec, fs.issuing_key, fs.ca.issuing, "maker_cert: "
	    "does not allow digitalSignature"));
	/* Fail closed: an SM2 key that is not the certificate's signs, and
	 * the seal does not verify. */
	{
		EVP_PKEY *other = fx_key_new("sm2");

		CHECK(refused(&fs.spec, other, fs.maker, "signature: does not "
		    "verify with maker_cert's key"));
		EVP_PKEY_free(other);
	}
	X509_free(rsa_cert);
	X509_free(p384_cert);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(p384);
	fx_seal_free(&fs);
	return 0;
}

/* ---- seals the builder never writes ------------------------------------ */

/* fs's seal decoded, for changing. */
static ch_ses_seal_t *
decoded(fx_seal_t *fs)
{
	size_t len = 0;
	unsigned char *der = build(fs, &fs->spec, &len);
	const unsigned char *p = der;
	ch_ses_seal_t *s = der != NULL ? d2i_ch_ses_seal(NULL, &p,
	    (long)len) : NULL;

	OPENSSL_free(der);
	return s;
}

/* s signed by key with algorithm nid and judged at fs's now.  Frees s. */
static ch_seal_verdict_t
sign_judge(fx_seal_t *fs, ch_ses_seal_t *s, EVP_PKEY *key, int nid,
    ch_seal_result_t *res)
{
	unsigned char *der = NULL;
	int n = -1;
	ch_seal_verdict_t v;

	if (ch_ses_seal_sign(s, key, nid) == 0)
		n = i2d_ch_ses_seal(s, &der);
	ch_ses_seal_free(s);
	if (n <= 0)
		return CH_SEAL__MAX;
	v = judge(der, (size_t)n, fs->ca.now, res);
	OPENSSL_free(der);
	return v;
}

/* s re-signed by fs's (SM2) maker and judged.  Frees s. */
static ch_seal_verdict_t
resign_judge(fx_seal_t *fs, ch_ses_seal_t *s, ch_seal_result_t *res)
{
	return sign_judge(fs, s, fs->maker_key, NID_SM2_with_SM3, res);
}

/* Verdict and field of a judged seal. */
static bool
verdict_is(ch_seal_verdict_t got, const ch_seal_result_t *res,
    ch_seal_verdict_t want, const char *field)
{
	if (got == want && res->field != NULL && strcmp(res->field, field) == 0)
		return true;
	fprintf(stderr, "wanted %s %s, got %s %s: %s\n",
	    ch_seal_verdict_name(want), field, ch_seal_verdict_name(got),
	    res->field != NULL ? res->field : "-",
	    res->text != NULL ? res->text : "-");
	return false;
}

/* An ASN.1 SEQUENCE holding the given DER elements. */
static unsigned char *
sequence_of(const unsigned char *const *parts, const size_t *lens, size_t n,
    size_t *len)
{
	size_t body = 0, hl;
	unsigned char *out, *p;

	for (size_t i = 0; i < n; i++)
		body += lens[i];
	hl = (size_t)ASN1_object_size(1, (int)body, V_ASN1_SEQUENCE) - body;
	if ((out = OPENSSL_malloc(hl + body)) == NULL)
		return NULL;
	p = out;
	ASN1_put_object(&p, 1, (int)body, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	for (size_t i = 0; i < n; i++) {
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
	}
	*len = hl + body;
	return out;
}

int
test_seal_versions(void)
{
	fx_seal_t fs;
	ch_ses_seal_t *s;
	ch_seal_result_t res;
	unsigned char *info = NULL, *rest = NULL, *der;
	const unsigned char *parts[5];
	size_t lens[5], len;
	int ilen, rlen;
	static const unsigned char ts[] = { 0xa0, 0x03, 0x03, 0x01, 0x00 };

	CHECK(fx_seal_make(&fs, "sm2") == 0);
	CHECK((s = decoded(&fs)) != NULL);
	/* Version 1 (GM/T 0031-2014): SEQUENCE { sealInfo, signInfo }, the
	 * last three fields inside signInfo. */
	CHECK((ilen = i2d_ch_ses_seal_info(s->seal_info, &info)) > 0);
	{
		unsigned char *c = NULL, *o = NULL, *b = NULL;
		int cl = i2d_ASN1_OCTET_STRING(s->cert, &c);
		int ol = i2d_ASN1_OBJECT(s->sign_alg, &o);
		int bl = i2d_ASN1_BIT_STRING(s->signed_value, &b);

		CHECK(cl > 0 && ol > 0 && bl > 0);
		parts[0] = c, lens[0] = (size_t)cl;
		parts[1] = o, lens[1] = (size_t)ol;
		parts[2] = b, lens[2] = (size_t)bl;
		CHECK((rest = sequence_of(parts, lens, 3, &len)) != NULL);
		rlen = (int)len;
		parts[0] = info, lens[0] = (size_t)ilen;
		parts[1] = rest, lens[1] = (size_t)rlen;
		CHECK((der = sequence_of(parts, lens, 2, &len)) != NULL);
		CHECK(judge(der, len, fs.ca.now, &res) == CH_SEAL_UNSUPPORTED);
		CHECK_STR(res.field, "/seal");
		CHECK(strstr(res.text, "GM/T 0031-2014") != NULL &&
		    strstr(res.text, "2 elements") != NULL);
		OPENSSL_free(der);
		/* Version 5 (GM/T 0031-2025) with its time stamp: 5. */
		parts[0] = info, lens[0] = (size_t)ilen;
		parts[1] = c, lens[1] = (size_t)cl;
		parts[2] = o, lens[2] = (size_t)ol;
		parts[3] = b, lens[3] = (size_t)bl;
		parts[4] = ts, lens[4] = sizeof ts;
		CHECK((der = sequence_of(parts, lens, 5, &len)) != NULL);
		CHECK(judge(der, len, fs.ca.now, &res) == CH_SEAL_UNSUPPORTED);
		CHECK(strstr(res.text, "GM/T 0031-2025") != NULL);
		OPENSSL_free(der);
		/* 3 elements is no seal at all. */
		CHECK((der = sequence_of(parts, lens, 3, &len)) != NULL);
		CHECK(judge(der, len, fs.ca.now, &res) == CH_SEAL_UNREADABLE);
		OPENSSL_free(der);
		OPENSSL_free(c);
		OPENSSL_free(o);
		OPENSSL_free(b);
	}
	ch_ses_seal_free(s);

	/* Version 5 without a time stamp: 4 elements, header version 5. */
	CHECK((s = decoded(&fs)) != NULL);
	CHECK(ASN1_INTEGER_set(s->seal_info->header->version, 5) == 1);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res, CH_SEAL_UNSUPPORTED,
	    "header.version"));
	CHECK((s = decoded(&fs)) != NULL);
	CHECK(ASN1_STRING_set(s->seal_info->header->id, "EX", 2) == 1);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res, CH_SEAL_UNREADABLE,
	    "header.ID"));
	OPENSSL_free(info);
	OPENSSL_free(rest);
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_encoding(void)
{
	fx_seal_t fs;
	ch_seal_result_t res;
	unsigned char *der, *longer;
	size_t len = 0;

	CHECK(fx_seal_make(&fs, "p256") == 0);
	CHECK((der = build(&fs, &fs.spec, &len)) != NULL);
	CHECK(ch_seal_parse(der, 0, &res) == NULL);
	CHECK(verdict_is(res.verdict, &res, CH_SEAL_UNREADABLE, "/seal"));
	CHECK(ch_seal_parse(NULL, len, &res) == NULL);
	CHECK(ch_seal_parse(der, CH_SEAL_MAX_BYTES + 1, &res) == NULL);
	CHECK(strstr(res.text, "larger") != NULL);
	/* Truncated, and a byte after the seal. */
	CHECK(ch_seal_parse(der, len - 1, &res) == NULL);
	CHECK(verdict_is(res.verdict, &res, CH_SEAL_UNREADABLE, "/seal"));
	CHECK((longer = malloc(len + 1)) != NULL);
	memcpy(longer, der, len);
	longer[len] = 0;
	CHECK(ch_seal_parse(longer, len + 1, &res) == NULL);
	CHECK(verdict_is(res.verdict, &res, CH_SEAL_UNREADABLE, "/seal"));
	/* BER: the outer length in long form one byte longer (0x82 nn nn
	 * -> 0x83 00 nn nn) decodes but is not DER. */
	CHECK(der[1] == 0x82);
	longer[0] = 0x30;
	longer[1] = 0x83;
	longer[2] = 0x00;
	memcpy(longer + 3, der + 2, len - 2);
	CHECK(ch_seal_parse(longer, len + 1, &res) == NULL);
	CHECK(verdict_is(res.verdict, &res, CH_SEAL_UNREADABLE, "/seal"));
	CHECK_STR(res.text, "is not DER-encoded");
	free(longer);
	OPENSSL_free(der);
	fx_seal_free(&fs);
	return 0;
}

/* extDatas with one entry, critical or not. */
static ch_seal_verdict_t
with_extension(fx_seal_t *fs, int critical, ch_seal_result_t *res)
{
	ch_ses_seal_t *s = decoded(fs);
	ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
	ASN1_OBJECT *oid = OBJ_txt2obj("2.999.7", 1);
	X509_EXTENSION *ext = NULL;

	if (s != NULL && val != NULL && oid != NULL &&
	    ASN1_OCTET_STRING_set(val, (const unsigned char *)"x", 1) == 1)
		ext = X509_EXTENSION_create_by_OBJ(NULL, oid, critical, val);
	ASN1_OCTET_STRING_free(val);
	ASN1_OBJECT_free(oid);
	if (ext == NULL || (s->seal_info->ext_datas =
	    sk_X509_EXTENSION_new_null()) == NULL ||
	    sk_X509_EXTENSION_push(s->seal_info->ext_datas, ext) <= 0) {
		X509_EXTENSION_free(ext);
		ch_ses_seal_free(s);
		return CH_SEAL__MAX;
	}
	return resign_judge(fs, s, res);
}

int
test_seal_crafted(void)
{
	fx_seal_t fs;
	ch_ses_seal_t *s;
	ch_seal_result_t res;
	STACK_OF(ch_ses_digest_t) *digests;
	ch_ses_digest_t *d;
	unsigned char md[32];
	unsigned int mdlen = 0;

	CHECK(fx_seal_make(&fs, "sm2") == 0);
	CHECK(with_extension(&fs, 0, &res) == CH_SEAL_OK);
	CHECK(verdict_is(with_extension(&fs, 1, &res), &res,
	    CH_SEAL_UNSUPPORTED, "extDatas"));

	/* certListType 2: the owner certificate's SM3 digest. */
	CHECK(X509_digest(fs.owner, EVP_sm3(), md, &mdlen) == 1);
	CHECK((s = decoded(&fs)) != NULL);
	CHECK((digests = sk_ch_ses_digest_t_new_null()) != NULL);
	CHECK((d = (ch_ses_digest_t *)ASN1_item_new(
	    ASN1_ITEM_rptr(ch_ses_digest))) != NULL);
	CHECK(ASN1_STRING_set(d->type, "SM3", 3) == 1);
	CHECK(ASN1_STRING_set(d->value, md, (int)mdlen) == 1);
	CHECK(sk_ch_ses_digest_t_push(digests, d) > 0);
	CHECK(ASN1_INTEGER_set(s->seal_info->property->cert_list_type,
	    CH_SEAL_LIST_DIGESTS) == 1);
	CHECK(ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(ch_ses_digests), digests,
	    &s->seal_info->property->cert_list) != NULL);
	{
		unsigned char *der = NULL;
		int n;
		ch_seal_t *seal;
		const ch_seal_view_t *v;

		CHECK(ch_ses_seal_sign(s, fs.maker_key, NID_SM2_with_SM3) == 0);
		CHECK((n = i2d_ch_ses_seal(s, &der)) > 0);
		CHECK((seal = ch_seal_parse(der, (size_t)n, &res)) != NULL);
		v = ch_seal_view(seal);
		CHECK(v->cert_list_type == CH_SEAL_LIST_DIGESTS);
		CHECK(v->n_entries == 1 && v->owner == NULL);
		CHECK_STR(v->entries[0].digest_type, "SM3");
		CHECK(same_bytes(v->entries[0].data, v->entries[0].len, md,
		    mdlen));
		CHECK(ch_seal_verify(seal, fs.ca.now, &res) == CH_SEAL_OK);
		ch_seal_free(seal);
		OPENSSL_free(der);
	}
	/* The digests under certListType 1, and certListType 3. */
	CHECK(ASN1_INTEGER_set(s->seal_info->property->cert_list_type,
	    CH_SEAL_LIST_CERTS) == 1);
	{
		ch_ses_seal_t *copy = ASN1_item_dup(ASN1_ITEM_rptr(ch_ses_seal),
		    s);

		CHECK(copy != NULL);
		CHECK(verdict_is(resign_judge(&fs, copy, &res), &res,
		    CH_SEAL_UNREADABLE, "property.certList"));
	}
	CHECK(ASN1_INTEGER_set(s->seal_info->property->cert_list_type, 3) == 1);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res, CH_SEAL_UNREADABLE,
	    "property.certListType"));
	ASN1_item_free((ASN1_VALUE *)digests, ASN1_ITEM_rptr(ch_ses_digests));
	fx_seal_free(&fs);
	return 0;
}

int
test_seal_maker(void)
{
	fx_seal_t fs;
	ch_ses_seal_t *s;
	ch_seal_result_t res;
	unsigned char *der = NULL;
	int n;

	CHECK(fx_seal_make(&fs, "sm2") == 0);
	/* Made before the maker certificate's notBefore (fs.ca.now). */
	CHECK((s = decoded(&fs)) != NULL);
	CHECK(ASN1_GENERALIZEDTIME_set(s->seal_info->property->create_date,
	    fs.ca.now - 3600) != NULL);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res, CH_SEAL_BAD_MAKER,
	    "cert"));
	CHECK_STR(res.text, "was not valid at createDate");
	/* Signed by the issuing CA, whose certificate may not sign
	 * documents. */
	CHECK((s = decoded(&fs)) != NULL);
	CHECK((n = i2d_X509(fs.ca.issuing, &der)) > 0);
	CHECK(ASN1_STRING_set(s->cert, der, n) == 1);
	OPENSSL_free(der);
	ASN1_OBJECT_free(s->sign_alg);
	s->sign_alg = OBJ_nid2obj(NID_ecdsa_with_SHA256);
	CHECK(verdict_is(sign_judge(&fs, s, fs.issuing_key,
	    NID_ecdsa_with_SHA256, &res), &res, CH_SEAL_BAD_MAKER, "cert"));
	CHECK_STR(res.text, "does not allow digitalSignature");
	/* signAlgID names another algorithm than the maker key's, or one
	 * not accepted. */
	CHECK((s = decoded(&fs)) != NULL);
	ASN1_OBJECT_free(s->sign_alg);
	s->sign_alg = OBJ_nid2obj(NID_ecdsa_with_SHA256);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res,
	    CH_SEAL_BAD_SIGNATURE, "cert"));
	CHECK((s = decoded(&fs)) != NULL);
	ASN1_OBJECT_free(s->sign_alg);
	s->sign_alg = OBJ_nid2obj(NID_sha256WithRSAEncryption);
	CHECK(verdict_is(resign_judge(&fs, s, &res), &res,
	    CH_SEAL_BAD_SIGNATURE, "signAlgID"));
	fx_seal_free(&fs);
	return 0;
}
