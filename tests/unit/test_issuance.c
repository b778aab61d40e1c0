/*
 * The pure pieces of issuance (certhall/domain/issuance.h): validity by
 * business, the calendar years the lint counts, reading a job's payload,
 * the array literals a batch travels in, and preparing a job (CSR check,
 * build, precertificate, lint) against a software CA from the codec's
 * fixture, then signing what was prepared.
 */
#include "test.h"
#include "certhall/base/pool.h"
#include "certhall/domain/issuance.h"
#include "../codec/x509_fixture.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 2026-02-28T10:00:00Z and 2024-02-29T10:00:00Z. */
#define T_2026_02_28 ((time_t)1772272800)
#define T_2024_02_29 ((time_t)1709200800)
#define DAY 86400

int
test_issuance_validity(void)
{
	time_t now = T_2026_02_28, nb, na;
	char why[160];
	int years;

	/* new: now .. now + years, calendar years */
	CHECK(ch_issuance_validity(CH_BIZ_NEW, now, 2, 0, &nb, &na, &years,
	    why, sizeof why) == 0);
	CHECK(nb == now && years == 2);
	CHECK(na == ch_issuance_add_years(now, 2));
	CHECK(na == (time_t)1835344800);	/* 2028-02-28T10:00:00Z */
	/* 29 February plus a year is 1 March, as the lint counts */
	CHECK(ch_issuance_add_years(T_2024_02_29, 1) ==
	    T_2024_02_29 + 366 * DAY);
	CHECK(ch_issuance_validity(CH_BIZ_NEW, now, 0, 0, &nb, &na, &years,
	    why, sizeof why) == -1);
	CHECK(strstr(why, "0 year(s)") != NULL);
	CHECK(ch_issuance_validity(CH_BIZ_NEW, now, 6, 0, &nb, &na, &years,
	    why, sizeof why) == -1);

	/* renew: from the old not_after when it is still ahead ... */
	CHECK(ch_issuance_validity(CH_BIZ_RENEW, now, 1, now + 20 * DAY, &nb,
	    &na, &years, why, sizeof why) == 0);
	CHECK(nb == now && na == ch_issuance_add_years(now + 20 * DAY, 1));
	/* ... from now when it has passed */
	CHECK(ch_issuance_validity(CH_BIZ_RENEW, now, 3, now - 5 * DAY, &nb,
	    &na, &years, why, sizeof why) == 0);
	CHECK(na == ch_issuance_add_years(now, 3) && years == 3);
	CHECK(ch_issuance_validity(CH_BIZ_RENEW, now, 1, 0, &nb, &na, &years,
	    why, sizeof why) == -1);
	CHECK(strstr(why, "not on file") != NULL);

	/* reissue and change keep the old not_after; the fewest years that
	 * cover it */
	CHECK(ch_issuance_validity(CH_BIZ_REISSUE, now, 0, now + 400 * DAY,
	    &nb, &na, &years, why, sizeof why) == 0);
	CHECK(nb == now && na == now + 400 * DAY && years == 2);
	CHECK(ch_issuance_validity(CH_BIZ_CHANGE, now, 0, now + 10 * DAY, &nb,
	    &na, &years, why, sizeof why) == 0);
	CHECK(na == now + 10 * DAY && years == 1);
	CHECK(ch_issuance_validity(CH_BIZ_CHANGE, now, 0,
	    ch_issuance_add_years(now, 5), &nb, &na, &years, why,
	    sizeof why) == 0);
	CHECK(years == 5);
	CHECK(ch_issuance_validity(CH_BIZ_REISSUE, now, 0,
	    ch_issuance_add_years(now, 5) + 1, &nb, &na, &years, why,
	    sizeof why) == -1);
	CHECK(strstr(why, "more than 5 years") != NULL);
	CHECK(ch_issuance_validity(CH_BIZ_REISSUE, now, 0, now, &nb, &na,
	    &years, why, sizeof why) == -1);
	CHECK(strstr(why, "expired") != NULL);
	CHECK(ch_issuance_validity(CH_BIZ_CHANGE, now, 0, 0, &nb, &na, &years,
	    why, sizeof why) == -1);

	/* revoke and unlock issue nothing */
	CHECK(ch_issuance_validity(CH_BIZ_REVOKE, now, 1, 0, &nb, &na, &years,
	    why, sizeof why) == -1);
	CHECK(strstr(why, "revoke") != NULL);
	CHECK(ch_issuance_validity(CH_BIZ_UNLOCK, now, 1, now + DAY, &nb, &na,
	    &years, why, sizeof why) == -1);
	CHECK(nb == 0 && na == 0 && years == 0);
	return 0;
}

int
test_issuance_text_array(void)
{
	ch_pool_t *pool = ch_pool_new();
	const char *plain[] = { "0a1b", "ff00" };
	const char *odd[] = { "a\"b", "c\\d", NULL, "", "四川" };

	CHECK_STR(ch_issuance_text_array(pool, plain, 2),
	    "{\"0a1b\",\"ff00\"}");
	CHECK_STR(ch_issuance_text_array(pool, odd, 5),
	    "{\"a\\\"b\",\"c\\\\d\",NULL,\"\",\"四川\"}");
	CHECK_STR(ch_issuance_text_array(pool, plain, 0), "{}");
	ch_pool_free(pool);
	return 0;
}

int
test_issuance_payload(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_issuance_job_t job;
	char why[CH_ISSUANCE_WHY_MAX];

	memset(&job, 0, sizeof job);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"application_id\":7,"
	    "\"business_type\":\"new\",\"certificate_type\":\"org\","
	    "\"certificate_id\":null,\"years\":3,\"seals\":1,\"unit_name\":"
	    "\"" FX_UNIT "\",\"credit_code\":\"" FX_CREDIT "\","
	    "\"holder_name\":null,\"holder_id_number\":null,\"handler_name\":"
	    "\"王五\",\"handler_phone\":\"13800138000\",\"delivery\":null}",
	    &job, why, sizeof why) == 0);
	CHECK(job.profile == CH_PROFILE_ORG && job.years == 3);
	CHECK_STR(job.unit_name, FX_UNIT);
	CHECK_STR(job.handler_phone, "13800138000");
	CHECK(job.holder_name == NULL);

	memset(&job, 0, sizeof job);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"certificate_type\":"
	    "\"personal\",\"unit_name\":\"u\",\"credit_code\":\"c\","
	    "\"holder_name\":\"" FX_PERSON "\",\"holder_id_number\":\""
	    FX_IDNUM "\",\"years\":null}", &job, why, sizeof why) == 0);
	CHECK(job.profile == CH_PROFILE_PERSONAL && job.years == 0);
	CHECK(job.handler_phone == NULL);
	CHECK_STR(job.holder_id_number, FX_IDNUM);

	/* what cannot be read names the member */
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"certificate_type\":"
	    "\"personal\",\"unit_name\":\"u\",\"credit_code\":\"c\"}", &job,
	    why, sizeof why) == -1);
	CHECK(strstr(why, "\"holder_name\" is missing") != NULL);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":2}", &job, why,
	    sizeof why) == -1);
	CHECK(strstr(why, "version") != NULL);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"certificate_type\":"
	    "\"seal\"}", &job, why, sizeof why) == -1);
	CHECK(strstr(why, "unknown") != NULL);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"certificate_type\":"
	    "\"org\",\"unit_name\":5,\"credit_code\":\"c\"}", &job, why,
	    sizeof why) == -1);
	CHECK(strstr(why, "\"unit_name\" is not a string") != NULL);
	CHECK(ch_issuance_payload_read(pool, "[1]", &job, why, sizeof why)
	    == -1);
	CHECK(ch_issuance_payload_read(pool, "{\"v\":1,\"v\":1}", &job, why,
	    sizeof why) == -1);
	ch_pool_free(pool);
	return 0;
}

/* A DER request with CN=cn for key (SHA-256); *len bytes, OPENSSL_free. */
static unsigned char *
csr_der(EVP_PKEY *key, const char *cn, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	unsigned char *der = NULL;
	int n = -1;

	if (req != NULL && name != NULL &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) == 1 &&
	    X509_REQ_set_subject_name(req, name) == 1 &&
	    X509_REQ_set_pubkey(req, key) == 1 &&
	    X509_REQ_sign(req, key, EVP_sha256()) > 0)
		n = i2d_X509_REQ(req, &der);
	X509_NAME_free(name);
	X509_REQ_free(req);
	*len = n > 0 ? (size_t)n : 0;
	return n > 0 ? der : NULL;
}

/* A claimed job as ch_issuance_claim() leaves it. */
static void
job_init(ch_issuance_job_t *job, ch_business_t business, ch_profile_t profile,
    const unsigned char *csr, size_t csr_len)
{
	memset(job, 0, sizeof *job);
	job->outcome = CH_JOB_CLAIMED;
	job->business = business;
	job->profile = profile;
	job->unit_name = FX_UNIT;
	job->credit_code = FX_CREDIT;
	if (profile == CH_PROFILE_PERSONAL) {
		job->holder_name = FX_PERSON;
		job->holder_id_number = FX_IDNUM;
	}
	job->years = 1;
	job->csr = csr;
	job->csr_len = csr_len;
	job->serial_len = CH_X509_SERIAL_LEN;
	ch_x509_serial_new(job->serial);
}

int
test_issuance_prepare(void)
{
	EVP_PKEY *ca_key = fx_key_new("rsa2048"), *sub = fx_key_new("p256");
	unsigned char *org_csr, *person_csr, *stranger_csr;
	size_t org_len, person_len, stranger_len, der_len = 0;
	unsigned char *der;
	ch_issuance_ca_t ca;
	ch_issuance_job_t job;
	char why[256];
	fx_ca_t fx;
	time_t now;

	CHECK(ca_key != NULL && sub != NULL);
	CHECK(fx_ca_make(&fx, ca_key, ca_key) == 0);
	now = fx.now + 60;
	memset(&ca, 0, sizeof ca);
	ca.issuer = fx.issuing;
	ca.crl_url = FX_CRL_URL;
	ca.ocsp_url = FX_OCSP_URL;
	ca.ca_issuers_url = FX_CAI_URL;
	ca.policy_oid = FX_POLICY;
	org_csr = csr_der(sub, FX_UNIT, &org_len);
	person_csr = csr_der(sub, FX_PERSON, &person_len);
	stranger_csr = csr_der(sub, "另一家公司", &stranger_len);
	CHECK(org_csr != NULL && person_csr != NULL && stranger_csr != NULL);

	/* new, org: linted, with the TBS that the signature must carry */
	job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, org_csr, org_len);
	job.years = 2;
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_LINTED);
	CHECK(job.x != NULL && job.tbs != NULL && job.tbs_len > 200);
	CHECK(job.not_before == now &&
	    job.not_after == ch_issuance_add_years(now, 2));
	CHECK_STR(job.key_algorithm, "ec-p256");
	CHECK(strcmp(job.subject, "CN=" FX_UNIT ",organizationIdentifier="
	    "NTRCN-" FX_CREDIT ",O=" FX_UNIT ",C=CN") == 0);
	CHECK(ch_x509_sign(job.x, ca_key, job.tbs, job.tbs_len, fx.issuing,
	    why, sizeof why) == 0);
	der = ch_x509_der(job.x, &der_len);
	CHECK(der != NULL && der_len > job.tbs_len);
	OPENSSL_free(der);
	/* preparing it again does nothing */
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_LINTED);
	ch_issuance_job_clear(&job);
	CHECK(job.x == NULL && job.tbs == NULL);

	/* personal, change: the old not_after */
	job_init(&job, CH_BIZ_CHANGE, CH_PROFILE_PERSONAL, person_csr,
	    person_len);
	job.old_id = 9;
	job.old_not_after = now + 500 * DAY;
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_LINTED);
	CHECK(job.not_after == now + 500 * DAY && job.spec_years == 2);
	CHECK(strncmp(job.subject, "serialNumber=IDCCN-" FX_IDNUM ",CN="
	    FX_PERSON ",", strlen("serialNumber=IDCCN-" FX_IDNUM ",CN="
	    FX_PERSON ",")) == 0);
	ch_issuance_job_clear(&job);

	/* the subject is the application's, whatever the request says (the
	 * API refused requests that do not fit before storing them) */
	job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, stranger_csr, stranger_len);
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_LINTED);
	CHECK(strncmp(job.subject, "CN=" FX_UNIT ",", strlen("CN=" FX_UNIT ","))
	    == 0);
	ch_issuance_job_clear(&job);

	/* a request that cannot be read */
	job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, (const unsigned char *)"junk",
	    4);
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_FAILED);
	CHECK(strncmp(job.why, "csr: /csr ", 10) == 0);
	CHECK(job.x == NULL);

	/* a key the policy refuses: the lint says so */
	{
		EVP_PKEY *weak = fx_key_new("rsa1024");
		size_t weak_len = 0;
		unsigned char *weak_csr = csr_der(weak, FX_UNIT, &weak_len);

		CHECK(weak_csr != NULL);
		job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, weak_csr, weak_len);
		ch_issuance_prepare(&job, &ca, now);
		CHECK(job.outcome == CH_JOB_FAILED);
		CHECK(strncmp(job.why, "lint key.policy: ", 17) == 0);
		ch_issuance_job_clear(&job);
		OPENSSL_free(weak_csr);
		EVP_PKEY_free(weak);
	}

	/* no request at all */
	job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, NULL, 0);
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_FAILED);
	CHECK_STR(job.why, "csr: /csr is missing");

	/* a renewal far from its window: the lint refuses the span, and the
	 * TBS it refused is kept for the record */
	job_init(&job, CH_BIZ_RENEW, CH_PROFILE_ORG, org_csr, org_len);
	job.old_id = 9;
	job.old_not_after = now + 300 * DAY;
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_FAILED);
	CHECK(strncmp(job.why, "lint validity.span: ", 20) == 0);
	CHECK(job.tbs != NULL);
	ch_issuance_job_clear(&job);

	/* a reissue whose certificate has expired meanwhile */
	job_init(&job, CH_BIZ_REISSUE, CH_PROFILE_ORG, org_csr, org_len);
	job.old_id = 9;
	job.old_not_after = now - 1;
	ch_issuance_prepare(&job, &ca, now);
	CHECK(job.outcome == CH_JOB_FAILED);
	CHECK(strstr(job.why, "validity: the certificate replaced expired")
	    == job.why);

	/* beyond the issuing CA's own validity */
	job_init(&job, CH_BIZ_NEW, CH_PROFILE_ORG, org_csr, org_len);
	job.years = 5;
	ch_issuance_prepare(&job, &ca, ch_issuance_add_years(fx.now, 18));
	CHECK(job.outcome == CH_JOB_FAILED);
	CHECK(strncmp(job.why, "lint validity.issuer: ", 22) == 0);
	ch_issuance_job_clear(&job);

	OPENSSL_free(org_csr);
	OPENSSL_free(person_csr);
	OPENSSL_free(stranger_csr);
	fx_ca_free(&fx);
	EVP_PKEY_free(sub);
	EVP_PKEY_free(ca_key);
	return 0;
}
