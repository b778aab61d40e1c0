/*
 * libFuzzer target: the OCSP request parser (certhall/codec/ocsp.h) on any
 * bytes, as a POST body and as a GET path, and every request it reads
 * again as the GET a client would send (base64, then its URL-safe
 * spelling).  A verdict always comes with a reason unless it is ok; what
 * is read is a well-formed lookup key; a request reads the same both ways.
 * The issuers' hashes are fixed patterns, which the seeds in
 * tests/fuzz/seeds/fuzz_ocsp_req use, so that ok and unauthorized are
 * reached too.
 */
#include "certhall/codec/ocsp.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const ch_ocsp_request_t *req, ch_ocsp_verdict_t v)
{
	char hex[CH_OCSP_SERIAL_HEX_MAX], key[CH_OCSP_KEY_MAX];
	bool ours = true;

	if (v >= CH_OCSP_REQ__MAX || v != req->verdict || req->text == NULL ||
	    (v == CH_OCSP_REQ_OK) != (*req->text == '\0') ||
	    (v == CH_OCSP_REQ_MALFORMED) != (req->n == 0) ||
	    req->n > CH_OCSP_IDS_MAX)
		abort();
	for (size_t i = 0; i < req->n; i++) {
		const ch_ocsp_certid_t *id = &req->ids[i];

		if (id->hash >= CH_OCSP_HASH__MAX || id->serial_len == 0 ||
		    id->serial_len > CH_X509_SERIAL_MAX || id->serial[0] == 0 ||
		    id->issuer < -1 || id->issuer > 1 ||
		    ch_ocsp_serial_hex(id->serial, id->serial_len, hex) != 0 ||
		    strcmp(hex, id->serial_hex) != 0)
			abort();
		snprintf(key, sizeof key, "%s:%s", ch_ocsp_hash_name(id->hash),
		    hex);
		if (strcmp(key, id->key) != 0)
			abort();
		ours = ours && id->issuer >= 0;
	}
	if (req->n > 0 && ours != (v == CH_OCSP_REQ_OK))
		abort();
}

static void
same(const ch_ocsp_request_t *a, const ch_ocsp_request_t *b)
{
	if (a->verdict != b->verdict || a->n != b->n)
		abort();
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->ids[i].key, b->ids[i].key) != 0 ||
		    a->ids[i].issuer != b->ids[i].issuer)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ch_ocsp_issuer_t iss[2];
	static char uri[2 + (CH_OCSP_REQUEST_MAX_BYTES / 3 + 1) * 4 + 1];
	ch_ocsp_request_t post, get;
	ch_ocsp_verdict_t v;
	size_t n;

	for (int h = 0; h < CH_OCSP_HASH__MAX; h++)
		for (int i = 0; i < 2; i++) {
			memset(iss[i].name_hash[h], 0xa0 + 16 * i + h,
			    sizeof iss[i].name_hash[h]);
			memset(iss[i].key_hash[h], 0xb0 + 16 * i + h,
			    sizeof iss[i].key_hash[h]);
		}
	/* The second issuer is answered for only when the size is odd: the
	 * same CertID is then ok or unauthorized. */
	n = size % 2 ? 2 : 1;
	v = ch_ocsp_request_parse(data, size, iss, n, &post);
	check(&post, v);
	check(&get, ch_ocsp_request_get((const char *)data, size, "/", iss, 2,
	    &get));

	if (v == CH_OCSP_REQ_MALFORMED ||
	    size > CH_OCSP_REQUEST_MAX_BYTES / 4 * 3 - 3)
		return 0;
	uri[0] = '/';
	EVP_EncodeBlock((unsigned char *)uri + 1, data, (int)size);
	check(&get, ch_ocsp_request_get(uri, strlen(uri), "/", iss, n,
	    &get));
	same(&post, &get);
	for (char *p = uri; *p != '\0'; p++)
		*p = *p == '+' ? '-' : *p == '/' && p != uri ? '_' : *p;
	*strchrnul(uri, '=') = '\0';
	check(&get, ch_ocsp_request_get(uri, strlen(uri), "/", iss, n,
	    &get));
	same(&post, &get);
	return 0;
}
