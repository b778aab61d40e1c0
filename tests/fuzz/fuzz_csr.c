/*
 * libFuzzer target: the PKCS#10 check (certhall/codec/csr.h) on any bytes,
 * DER or PEM, for both subscriber profiles.  A verdict always names a
 * field and a reason; only an accepted request hands out a key, and that
 * key passes the key policy.
 */
#include "certhall/codec/csr.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ch_cert_subject_t subject = {
		.unit_name = "四川示例农业科技有限公司",
		.credit_code = "91510107MA62Q1234W",
		.person_name = "张三",
		.id_number = "510107199003071236",
	};
	static const ch_profile_t profiles[] = { CH_PROFILE_PERSONAL,
	    CH_PROFILE_ORG };
	ch_cert_subject_t org = subject;

	org.person_name = NULL;
	org.id_number = NULL;
	for (size_t i = 0; i < 2; i++) {
		ch_csr_result_t res;
		EVP_PKEY *key = NULL;
		const char *why = NULL;
		ch_csr_verdict_t v = ch_csr_check(data, size, profiles[i],
		    i == 0 ? &subject : &org, &key, &res);

		if (v >= CH_CSR__MAX || v != res.verdict)
			abort();
		if (v == CH_CSR_OK ? key == NULL ||
		    ch_x509_key_check(key, &why) != 0 :
		    key != NULL || res.field == NULL || res.text == NULL)
			abort();
		EVP_PKEY_free(key);
	}
	return 0;
}
