/*
 * A software CA for the codec's tests: the test subject, keys, specs as the
 * signer would fill them, a root and an issuing CA, leaves.  Shared by the
 * unit tests (tests/unit/test_x509.c, test_csr.c) and codec-x509-tool,
 * which writes chains for tests/codec/check-x509.
 */
#ifndef CERTHALL_TEST_X509_FIXTURE_H
#define CERTHALL_TEST_X509_FIXTURE_H

#include "certhall/codec/x509.h"

#define FX_UNIT "四川示例农业科技有限公司"
#define FX_CREDIT "91510107MA62Q1234W"
#define FX_PERSON "张三"
#define FX_IDNUM "510107199003071236"
#define FX_CA_ORG "certhall 测试认证中心"
#define FX_CRL_URL "http://pki.certhall.test/issuing.crl"
#define FX_OCSP_URL "http://ocsp.certhall.test"
#define FX_CAI_URL "http://pki.certhall.test/issuing.cer"
#define FX_ROOT_CRL_URL "http://pki.certhall.test/root.crl"
#define FX_ROOT_URL "http://pki.certhall.test/root.cer"
/* A policy OID in the ITU-T example arc (X.660 2.999): tests only. */
#define FX_POLICY "2.999.1"
#define FX_YEAR (365L * 86400)

/* A new key: "rsa2048", "rsa1024", "p256", "p384" or "sm2"; NULL for
 * anything else. */
EVP_PKEY *fx_key_new(const char *kind);

typedef struct {
	unsigned char serial[CH_X509_SERIAL_LEN];
	ch_cert_spec_t s;
} fx_spec_t;

/* A spec for profile as the signer fills it: a new serial, the test
 * subject, the URLs the profile takes, validity nb + years * 365 days. */
void fx_spec(fx_spec_t *sp, ch_profile_t profile, EVP_PKEY *pub,
    X509 *issuer, time_t nb, int years);

typedef struct {
	EVP_PKEY *root_key, *issuing_key;	/* borrowed */
	X509 *root, *issuing;
	time_t now;
} fx_ca_t;

/* A root (30 years: past 2049, so GeneralizedTime) and an issuing CA (20
 * years) with the given keys.  0, or -1 after printing why. */
int fx_ca_make(fx_ca_t *ca, EVP_PKEY *root_key, EVP_PKEY *issuing_key);
void fx_ca_free(fx_ca_t *ca);

/* A certificate of profile for pub from the issuing CA, valid from now
 * for years; NULL after printing why. */
X509 *fx_leaf(fx_ca_t *ca, ch_profile_t profile, EVP_PKEY *pub, int years);

/* x read back from its DER: a copy without a distinguishing ID. */
X509 *fx_fresh(X509 *x);

/* Writes len bytes of data (NULL: fails) to DIR/name, for the tools.
 * 0, or -1 after printing why. */
int fx_write_file(const char *dir, const char *name, const void *data,
    size_t len);

/* Writes x (NULL: fails) as PEM to DIR/name.  0, or -1. */
int fx_write_pem(const char *dir, const char *name, X509 *x);

#endif
