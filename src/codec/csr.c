/*
 * PKCS#10 requests (certhall/codec/csr.h): decode, key policy,
 * self-signature, subject fit.
 */
#include "certhall/codec/csr.h"
#include "x509_int.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

static const char *const verdict_names[CH_CSR__MAX] = {
	[CH_CSR_OK] = "ok",
	[CH_CSR_UNREADABLE] = "unreadable",
	[CH_CSR_BAD_SIGNATURE] = "bad_signature",
	[CH_CSR_BAD_KEY] = "bad_key",
	[CH_CSR_BAD_SUBJECT] = "bad_subject",
};

const char *
ch_csr_verdict_name(ch_csr_verdict_t verdict)
{
	return (unsigned)verdict < CH_CSR__MAX ? verdict_names[verdict] : "";
}

static ch_csr_verdict_t
say(ch_csr_result_t *res, ch_csr_verdict_t v, const char *field,
    const char *text)
{
	res->verdict = v;
	res->field = field;
	res->text = text;
	return v;
}

static bool
all_space(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr(" \t\r\n", p[i]) == NULL || p[i] == '\0')
			return false;
	return true;
}

/* One DER request filling exactly len bytes, which re-encodes to them. */
static X509_REQ *
der_request(const unsigned char *der, long len, ch_csr_result_t *res)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, len);
	unsigned char *re = NULL;
	int n;

	if (req == NULL || p != der + len) {
		say(res, CH_CSR_UNREADABLE, "/csr", req == NULL ?
		    "is not a PKCS#10 request in DER or PEM" :
		    "has bytes after the request");
		goto fail;
	}
	/* Drop the kept encoding of the request info so that the whole
	 * request is encoded afresh. */
	if (i2d_re_X509_REQ_tbs(req, NULL) <= 0 ||
	    (n = i2d_X509_REQ(req, &re)) != len || memcmp(re, der, n) != 0) {
		say(res, CH_CSR_UNREADABLE, "/csr", "is not DER-encoded");
		goto fail;
	}
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		say(res, CH_CSR_UNREADABLE, "/csr", "is not a version 1 "
		    "request");
		goto fail;
	}
	OPENSSL_free(re);
	return req;
fail:
	OPENSSL_free(re);
	X509_REQ_free(req);
	return NULL;
}

static X509_REQ *
pem_request(const unsigned char *in, size_t len, ch_csr_result_t *res)
{
	BIO *b = BIO_new_mem_buf(in, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL, rest[64];
	long dlen = 0;
	int n;
	X509_REQ *req = NULL;

	if (b == NULL || PEM_read_bio(b, &name, &header, &der, &dlen) != 1 ||
	    (strcmp(name, PEM_STRING_X509_REQ) != 0 &&
	    strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) || *header != '\0') {
		say(res, CH_CSR_UNREADABLE, "/csr", "is not a PEM "
		    "\"CERTIFICATE REQUEST\" block");
		goto out;
	}
	while ((n = BIO_read(b, rest, sizeof rest)) > 0) {
		if (!all_space(rest, (size_t)n)) {
			say(res, CH_CSR_UNREADABLE, "/csr", "has more than one "
			    "PEM block, or text after it");
			goto out;
		}
	}
	req = der_request(der, dlen, res);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(b);
	return req;
}

X509_REQ *
ch_csr_parse(const void *in, size_t len, ch_csr_result_t *res)
{
	const unsigned char *p = in;
	size_t skip = 0;
	X509_REQ *req;

	say(res, CH_CSR_OK, NULL, NULL);
	if (len == 0 || in == NULL) {
		say(res, CH_CSR_UNREADABLE, "/csr", "is empty");
		return NULL;
	}
	if (len > CH_CSR_MAX_BYTES) {
		say(res, CH_CSR_UNREADABLE, "/csr", "is larger than 16384 "
		    "bytes");
		return NULL;
	}
	while (skip < len && all_space(p + skip, 1))
		skip++;
	if (len - skip >= 11 && memcmp(p + skip, "-----BEGIN ", 11) == 0)
		req = pem_request(p + skip, len - skip, res);
	else
		req = der_request(p, (long)len, res);
	ERR_clear_error();
	return req;
}

/* The self-signature's algorithm must be the key's, with a digest we
 * accept. */
static bool
accepted_algorithm(const X509_REQ *req, ch_key_kind_t kind)
{
	int sig = X509_REQ_get_signature_nid(req), md = NID_undef,
	    pk = NID_undef;

	if (kind == CH_KEY_SM2)
		return sig == NID_SM2_with_SM3;
	if (OBJ_find_sigid_algs(sig, &md, &pk) != 1 ||
	    (md != NID_sha256 && md != NID_sha384 && md != NID_sha512))
		return false;
	return kind == CH_KEY_RSA ? pk == NID_rsaEncryption :
	    pk == NID_X9_62_id_ecPublicKey;
}

static ch_csr_verdict_t
check_signature(X509_REQ *req, EVP_PKEY *key, ch_csr_result_t *res)
{
	ch_key_kind_t kind = ch_x509_key_kind(key);
	ASN1_OCTET_STRING *id;

	if (!accepted_algorithm(req, kind))
		return say(res, CH_CSR_BAD_SIGNATURE, "/csr", "is signed with "
		    "an algorithm other than SHA-2 with RSA or ECDSA, or SM2 "
		    "with SM3");
	if (kind == CH_KEY_SM2) {
		if ((id = ch_x509_sm2_id_new()) == NULL)
			return say(res, CH_CSR_BAD_SIGNATURE, "/csr",
			    "cannot be verified (out of memory)");
		X509_REQ_set0_distinguishing_id(req, id);
	}
	if (X509_REQ_verify(req, key) != 1)
		return say(res, CH_CSR_BAD_SIGNATURE, "/csr", "has a signature "
		    "that does not verify with its own key");
	return CH_CSR_OK;
}

static ch_csr_verdict_t
check_subject(const X509_REQ *req, ch_profile_t profile,
    const ch_cert_subject_t *subject, ch_csr_result_t *res)
{
	const X509_NAME *name = X509_REQ_get_subject_name(req);
	ch_subj_entry_t want[CH_SUBJ_MAX];
	bool seen[CH_SUBJ_MAX] = { false };
	char why[160];
	size_t n = 0, k;

	if (ch_x509_subject_entries(profile, subject, want, &n, why,
	    sizeof why) != 0)
		return say(res, CH_CSR_BAD_SUBJECT, "subject", "cannot be "
		    "compared with an application subject that is not valid");
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		unsigned char *u8 = NULL;
		int len;
		bool same;

		for (k = 0; k < n && want[k].nid != nid; k++)
			continue;
		if (k == n)
			return say(res, CH_CSR_BAD_SUBJECT,
			    ch_x509_subject_field(nid), "is an attribute this "
			    "certificate's subject does not have");
		if (seen[k])
			return say(res, CH_CSR_BAD_SUBJECT, want[k].field,
			    "appears more than once");
		seen[k] = true;
		len = ASN1_STRING_to_UTF8(&u8, X509_NAME_ENTRY_get_data(e));
		same = len >= 0 && (size_t)len == strlen(want[k].value) &&
		    memcmp(u8, want[k].value, (size_t)len) == 0;
		OPENSSL_free(u8);
		if (!same)
			return say(res, CH_CSR_BAD_SUBJECT, want[k].field,
			    "differs from the approved application");
	}
	for (k = 0; k < n && want[k].nid != NID_commonName; k++)
		continue;
	if (k == n || !seen[k])
		return say(res, CH_CSR_BAD_SUBJECT, "subject.CN", "is missing");
	return CH_CSR_OK;
}

ch_csr_verdict_t
ch_csr_check(const void *in, size_t len, ch_profile_t profile,
    const ch_cert_subject_t *subject, EVP_PKEY **key, ch_csr_result_t *res)
{
	X509_REQ *req = ch_csr_parse(in, len, res);
	EVP_PKEY *pub;
	const char *why = NULL;

	if (key != NULL)
		*key = NULL;
	if (req == NULL)
		goto out;
	pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL ||
	    ch_x509_spki_check(X509_REQ_get_X509_PUBKEY(req), &why) != 0) {
		say(res, CH_CSR_BAD_KEY, "/csr", why != NULL ? why :
		    "has a public key that cannot be read");
		goto out;
	}
	if (check_signature(req, pub, res) != CH_CSR_OK ||
	    check_subject(req, profile, subject, res) != CH_CSR_OK)
		goto out;
	if (key != NULL && EVP_PKEY_up_ref(pub) == 1)
		*key = pub;
	else if (key != NULL)
		say(res, CH_CSR_UNREADABLE, "/csr", "cannot be kept (out of "
		    "memory)");
out:
	X509_REQ_free(req);
	ERR_clear_error();
	return res->verdict;
}
