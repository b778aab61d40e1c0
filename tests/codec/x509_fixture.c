/* The codec tests' software CA (x509_fixture.h). */
#include "x509_fixture.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

EVP_PKEY *
fx_key_new(const char *kind)
{
	if (strcmp(kind, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(kind, "rsa1024") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (strcmp(kind, "p256") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(kind, "p384") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	if (strcmp(kind, "sm2") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
	return NULL;
}

void
fx_spec(fx_spec_t *sp, ch_profile_t profile, EVP_PKEY *pub, X509 *issuer,
    time_t nb, int years)
{
	static const char *const ca_names[CH_PROFILE__MAX] = {
		[CH_PROFILE_ROOT] = "certhall Test Root CA",
		[CH_PROFILE_ISSUING] = "certhall Test Issuing CA",
		[CH_PROFILE_OCSP] = "certhall Test OCSP",
		[CH_PROFILE_SEAL] = "certhall Test Seal Maker",
	};
	ch_cert_spec_t *s = &sp->s;

	memset(sp, 0, sizeof *sp);
	ch_x509_serial_new(sp->serial);
	s->profile = profile;
	s->serial = sp->serial;
	s->serial_len = sizeof sp->serial;
	s->not_before = nb;
	s->not_after = nb + years * FX_YEAR;
	s->years = years;
	s->public_key = pub;
	s->issuer = issuer;
	if (profile == CH_PROFILE_ORG || profile == CH_PROFILE_PERSONAL) {
		s->subject.unit_name = FX_UNIT;
		s->subject.credit_code = FX_CREDIT;
	} else {
		s->subject.unit_name = FX_CA_ORG;
		s->subject.ca_name = ca_names[profile];
	}
	if (profile == CH_PROFILE_PERSONAL) {
		s->subject.person_name = FX_PERSON;
		s->subject.id_number = FX_IDNUM;
	}
	if (profile == CH_PROFILE_ORG || profile == CH_PROFILE_PERSONAL ||
	    profile == CH_PROFILE_SEAL) {
		s->crl_url = FX_CRL_URL;
		s->ocsp_url = FX_OCSP_URL;
		s->ca_issuers_url = FX_CAI_URL;
	} else if (profile == CH_PROFILE_ISSUING) {
		s->crl_url = FX_ROOT_CRL_URL;
		s->ca_issuers_url = FX_ROOT_URL;
	}
	if (profile != CH_PROFILE_ROOT && profile != CH_PROFILE_OCSP)
		s->policy_oid = FX_POLICY;
}

void
fx_ca_free(fx_ca_t *ca)
{
	X509_free(ca->root);
	X509_free(ca->issuing);
	ca->root = ca->issuing = NULL;
}

int
fx_ca_make(fx_ca_t *ca, EVP_PKEY *root_key, EVP_PKEY *issuing_key)
{
	fx_spec_t sp;
	char why[256];

	memset(ca, 0, sizeof *ca);
	ca->now = time(NULL);
	ca->root_key = root_key;
	ca->issuing_key = issuing_key;
	fx_spec(&sp, CH_PROFILE_ROOT, root_key, NULL, ca->now - 7200, 30);
	if ((ca->root = ch_x509_issue(&sp.s, root_key, NULL, why,
	    sizeof why)) == NULL)
		goto fail;
	fx_spec(&sp, CH_PROFILE_ISSUING, issuing_key, ca->root,
	    ca->now - 3600, 20);
	if ((ca->issuing = ch_x509_issue(&sp.s, root_key, NULL, why,
	    sizeof why)) == NULL)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fx_ca_make: %s\n", why);
	fx_ca_free(ca);
	return -1;
}

X509 *
fx_leaf(fx_ca_t *ca, ch_profile_t profile, EVP_PKEY *pub, int years)
{
	fx_spec_t sp;
	char why[256];
	X509 *x;

	fx_spec(&sp, profile, pub, ca->issuing, ca->now, years);
	if ((x = ch_x509_issue(&sp.s, ca->issuing_key, NULL, why,
	    sizeof why)) == NULL)
		fprintf(stderr, "fx_leaf %s: %s\n",
		    ch_x509_profile_name(profile), why);
	return x;
}

X509 *
fx_fresh(X509 *x)
{
	size_t len = 0;
	unsigned char *der = ch_x509_der(x, &len);
	const unsigned char *p = der;
	X509 *y = der != NULL ? d2i_X509(NULL, &p, (long)len) : NULL;

	OPENSSL_free(der);
	return y;
}

int
fx_write_file(const char *dir, const char *name, const void *data,
    size_t len)
{
	char path[4096];
	FILE *f;
	int rc;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (data == NULL || (f = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "cannot write \"%s\"\n", path);
		return -1;
	}
	rc = fwrite(data, 1, len, f) == len ? 0 : -1;
	return fclose(f) == 0 ? rc : -1;
}

int
fx_write_pem(const char *dir, const char *name, X509 *x)
{
	size_t len = 0;
	char *pem = x != NULL ? ch_x509_pem(x, &len) : NULL;
	int rc = fx_write_file(dir, name, pem, len);

	OPENSSL_free(pem);
	return rc;
}
