/*
 * codec-x509-tool: writes what the codec makes, for tests/codec/check-x509
 * to judge with the openssl command and python3-cryptography.
 *
 *   codec-x509-tool chain DIR rsa|ec|sm2
 *	A root and an issuing CA with keys of that kind, and under them
 *	the leaves of the table below, org.der, chain.p7b (DER) and
 *	chain.p7.pem (org, issuing, root), issuing.key (PKCS#8 PEM).
 *   codec-x509-tool csr DIR REQUEST OUT
 *	Checks REQUEST (DER or PEM) for the personal test subject and, if it
 *	passes, writes to OUT a personal certificate for its key issued by
 *	DIR's issuing CA.  Exit 1 with "verdict field: text" if refused.
 *
 * Exit 0 on success, 1 on a refusal, 2 on a usage or I/O error.
 */
#include "x509_fixture.h"
#include "certhall/codec/csr.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The leaves written, and what they are. */
static const struct {
	const char *file;
	ch_profile_t profile;
	const char *key;
	int years;
} leaves[] = {
	{ "org.pem", CH_PROFILE_ORG, "rsa2048", 5 },
	{ "personal.pem", CH_PROFILE_PERSONAL, "p256", 3 },
	{ "sm2.pem", CH_PROFILE_PERSONAL, "sm2", 1 },
	{ "ocsp.pem", CH_PROFILE_OCSP, "p256", 1 },
	{ "seal.pem", CH_PROFILE_SEAL, "sm2", 5 },
};
#define NLEAVES (sizeof leaves / sizeof leaves[0])

static int
write_outputs(const char *dir, fx_ca_t *ca, X509 *org, EVP_PKEY *key)
{
	X509 *list[3] = { org, ca->issuing, ca->root };
	unsigned char *der = NULL, *p7 = NULL;
	size_t len = 0;
	char *mem = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1;

	if ((der = ch_x509_der(org, &len)) == NULL ||
	    fx_write_file(dir, "org.der", der, len) != 0 ||
	    (p7 = ch_x509_pkcs7(list, 3, false, &len)) == NULL ||
	    fx_write_file(dir, "chain.p7b", p7, len) != 0)
		goto out;
	OPENSSL_free(p7);
	if ((p7 = ch_x509_pkcs7(list, 3, true, &len)) == NULL ||
	    fx_write_file(dir, "chain.p7.pem", p7, len) != 0)
		goto out;
	if (b == NULL || PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL,
	    NULL) != 1 || (len = (size_t)BIO_get_mem_data(b, &mem)) == 0 ||
	    fx_write_file(dir, "issuing.key", mem, len) != 0)
		goto out;
	rc = 0;
out:
	BIO_free(b);
	OPENSSL_free(p7);
	OPENSSL_free(der);
	return rc;
}

static int
chain(const char *dir, const char *kind)
{
	const char *ca_kind = strcmp(kind, "rsa") == 0 ? "rsa2048" :
	    strcmp(kind, "ec") == 0 ? "p256" : strcmp(kind, "sm2") == 0 ?
	    "sm2" : NULL;
	EVP_PKEY *root_key = NULL, *issuing_key = NULL, *key;
	X509 *leaf[NLEAVES] = { NULL };
	fx_ca_t ca = { 0 };
	int rc = 2;

	if (ca_kind == NULL) {
		fprintf(stderr, "codec-x509-tool: kind is rsa, ec or sm2\n");
		return 2;
	}
	root_key = fx_key_new(ca_kind);
	issuing_key = fx_key_new(ca_kind);
	if (fx_ca_make(&ca, root_key, issuing_key) != 0 ||
	    fx_write_pem(dir, "root.pem", ca.root) != 0 ||
	    fx_write_pem(dir, "issuing.pem", ca.issuing) != 0)
		goto out;
	for (size_t i = 0; i < NLEAVES; i++) {
		key = fx_key_new(leaves[i].key);
		leaf[i] = fx_leaf(&ca, leaves[i].profile, key, leaves[i].years);
		EVP_PKEY_free(key);
		if (fx_write_pem(dir, leaves[i].file, leaf[i]) != 0)
			goto out;
	}
	if (write_outputs(dir, &ca, leaf[0], issuing_key) == 0)
		rc = 0;
out:
	for (size_t i = 0; i < NLEAVES; i++)
		X509_free(leaf[i]);
	fx_ca_free(&ca);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(issuing_key);
	return rc;
}

static void *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(CH_CSR_MAX_BYTES + 2);

	*len = 0;
	if (f == NULL || buf == NULL) {
		free(buf);
		buf = NULL;
	} else {
		*len = fread(buf, 1, CH_CSR_MAX_BYTES + 1, f);
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

static int
from_csr(const char *dir, const char *request, const char *out)
{
	const ch_cert_subject_t personal = {
		.unit_name = FX_UNIT, .credit_code = FX_CREDIT,
		.person_name = FX_PERSON, .id_number = FX_IDNUM,
	};
	char path[4096];
	size_t len;
	void *in = read_file(request, &len);
	ch_csr_result_t res;
	EVP_PKEY *key = NULL;
	fx_ca_t ca = { 0 };
	X509 *leaf = NULL;
	FILE *f;
	int rc = 2;

	if (in == NULL)
		goto out;
	if (ch_csr_check(in, len, CH_PROFILE_PERSONAL, &personal, &key,
	    &res) != CH_CSR_OK) {
		printf("%s %s: %s\n", ch_csr_verdict_name(res.verdict),
		    res.field, res.text);
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof path, "%s/issuing.pem", dir);
	if ((f = fopen(path, "r")) != NULL) {
		ca.issuing = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/issuing.key", dir);
	if ((f = fopen(path, "r")) != NULL) {
		ca.issuing_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	ca.now = time(NULL);
	if (ca.issuing == NULL || ca.issuing_key == NULL ||
	    (leaf = fx_leaf(&ca, CH_PROFILE_PERSONAL, key, 1)) == NULL)
		goto out;
	if ((f = fopen(out, "w")) != NULL) {
		if (PEM_write_X509(f, leaf) == 1)
			rc = 0;
		fclose(f);
	}
out:
	X509_free(leaf);
	EVP_PKEY_free(ca.issuing_key);
	fx_ca_free(&ca);
	EVP_PKEY_free(key);
	free(in);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "chain") == 0)
		return chain(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "csr") == 0)
		return from_csr(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: codec-x509-tool chain DIR rsa|ec|sm2\n"
	    "       codec-x509-tool csr DIR REQUEST OUT\n");
	return 2;
}
