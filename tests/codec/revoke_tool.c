/*
 * codec-revoke-tool: writes what the codec's revocation half makes, and
 * reads requests with it, for tests/codec/check-revocation to judge with
 * the openssl command and python3-cryptography.
 *
 *   codec-revoke-tool make DIR rsa|ec|sm2
 *	A CA of that kind (revoke_fixture.h): root.pem, issuing.pem,
 *	ocsp.pem (the responder), good.pem, revoked.pem; the CRLs crl.der
 *	(complete: revoked.pem keyCompromise with an invalidity date, the
 *	serial 0x42 unspecified, one 16-byte serial superseded; cRLNumber
 *	4242), crl-shard.der (revoked.pem only, IDP = the certificates' CRL
 *	DP) and crl-other.der (the same, IDP = another shard); the responses
 *	resp-{good,revoked,unknown}-{sha1,sha256}.der for good.pem,
 *	revoked.pem (keyCompromise) and the serial in unknown.serial (hex)
 *	that was never issued.
 *   codec-revoke-tool post DIR FILE
 *	Reads FILE as an OCSP request (POST body) against DIR/issuing.pem.
 *   codec-revoke-tool get DIR BASE URI
 *	The same for a GET of URI under the responder path BASE.
 *	Both print "ok <key>" or "<verdict>: <reason>".
 *   codec-revoke-tool error STATUS OUT
 *	Writes the unsigned error response of OCSPResponseStatus STATUS.
 *
 * Exit 0 on success (also for a request refused), 2 on a usage or I/O
 * error.
 */
#include "revoke_fixture.h"
#include "certhall/codec/crl.h"
#include "certhall/codec/ocsp.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
write_crl(const char *dir, const char *name, const ch_crl_spec_t *spec,
    EVP_PKEY *key)
{
	unsigned char *der = NULL;
	size_t len = 0;
	char why[256] = "";
	int rc;

	if (ch_crl_sign(spec, key, &der, &len, why, sizeof why) != 0) {
		fprintf(stderr, "codec-revoke-tool: %s: %s\n", name, why);
		return -1;
	}
	rc = fx_write_file(dir, name, der, len);
	OPENSSL_free(der);
	return rc;
}

static int
write_responses(const char *dir, rx_t *r, time_t revoked_at)
{
	static const char *const names[CH_OCSP_CERT__MAX] = { "good",
	    "revoked", "unknown" };
	unsigned char serial[CH_X509_SERIAL_MAX], unknown[CH_X509_SERIAL_LEN];
	char hex[CH_OCSP_SERIAL_HEX_MAX], name[64], why[256] = "";
	unsigned char *der = NULL;
	size_t len = 0;

	if (ch_x509_serial_new(unknown) != 0 ||
	    ch_ocsp_serial_hex(unknown, sizeof unknown, hex) != 0 ||
	    fx_write_file(dir, "unknown.serial", hex, strlen(hex)) != 0)
		return -1;
	for (int s = 0; s < CH_OCSP_CERT__MAX; s++) {
		for (int h = 0; h < CH_OCSP_HASH__MAX; h++) {
			ch_ocsp_resp_spec_t spec = {
				.issuer = r->ca.issuing, .responder = r->ocsp,
				.serial = serial, .hash = (ch_ocsp_hash_t)h,
				.status = (ch_ocsp_cert_status_t)s,
				.revoked_at = revoked_at,
				.reason = CH_CRL_KEY_COMPROMISE,
				.this_update = r->ca.now - 3600,
				.next_update = r->ca.now + 4 * 86400,
			};

			if (s == CH_OCSP_UNKNOWN) {
				memcpy(serial, unknown, sizeof unknown);
				spec.serial_len = sizeof unknown;
			} else {
				spec.serial_len = rx_serial(s == CH_OCSP_GOOD ?
				    r->good : r->revoked, serial);
			}
			if (ch_ocsp_response_sign(&spec, r->ocsp_key, &der, &len,
			    why, sizeof why) != 0) {
				fprintf(stderr, "codec-revoke-tool: %s: %s\n",
				    names[s], why);
				return -1;
			}
			snprintf(name, sizeof name, "resp-%s-%s.der", names[s],
			    ch_ocsp_hash_name((ch_ocsp_hash_t)h));
			if (fx_write_file(dir, name, der, len) != 0) {
				OPENSSL_free(der);
				return -1;
			}
			OPENSSL_free(der);
		}
	}
	return 0;
}

static int
make(const char *dir, const char *kind)
{
	static const unsigned char s42[] = { 0x42 }, s16[CH_X509_SERIAL_LEN] = {
	    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
	    0xcc, 0xdd, 0xee, 0xff, 0x01 };
	rx_t r;
	unsigned char serial[CH_X509_SERIAL_MAX];
	ch_crl_entry_t e[3];
	ch_crl_spec_t spec;
	time_t revoked_at;
	int rc = 2;

	if (rx_make(&r, kind) != 0)
		return 2;
	revoked_at = r.ca.now - 7200;
	e[0] = (ch_crl_entry_t){ serial, rx_serial(r.revoked, serial),
	    revoked_at, CH_CRL_KEY_COMPROMISE, r.ca.now - 86400 };
	e[1] = (ch_crl_entry_t){ s42, sizeof s42, r.ca.now - 60,
	    CH_CRL_UNSPECIFIED, 0 };
	e[2] = (ch_crl_entry_t){ s16, sizeof s16, r.ca.now - 120,
	    CH_CRL_SUPERSEDED, 0 };
	spec = (ch_crl_spec_t){ .issuer = r.ca.issuing,
	    .this_update = r.ca.now, .next_update = r.ca.now + 7 * 86400,
	    .number = 4242, .entries = e, .n = 3 };
	if (fx_write_pem(dir, "root.pem", r.ca.root) != 0 ||
	    fx_write_pem(dir, "issuing.pem", r.ca.issuing) != 0 ||
	    fx_write_pem(dir, "ocsp.pem", r.ocsp) != 0 ||
	    fx_write_pem(dir, "good.pem", r.good) != 0 ||
	    fx_write_pem(dir, "revoked.pem", r.revoked) != 0 ||
	    write_crl(dir, "crl.der", &spec, r.issuing_key) != 0)
		goto out;
	spec.n = 1;
	spec.number = 17;
	spec.shard_url = FX_CRL_URL;
	if (write_crl(dir, "crl-shard.der", &spec, r.issuing_key) != 0)
		goto out;
	spec.shard_url = RX_OTHER_SHARD_URL;
	if (write_crl(dir, "crl-other.der", &spec, r.issuing_key) != 0 ||
	    write_responses(dir, &r, revoked_at) != 0)
		goto out;
	rc = 0;
out:
	rx_free(&r);
	return rc;
}

static int
load_issuer(const char *dir, ch_ocsp_issuer_t *iss)
{
	char path[4096];
	FILE *f;
	X509 *x = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/issuing.pem", dir);
	if ((f = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	rc = x != NULL ? ch_ocsp_issuer_init(iss, x) : -1;
	X509_free(x);
	if (rc != 0)
		fprintf(stderr, "codec-revoke-tool: cannot read \"%s\"\n", path);
	return rc;
}

static void
print_request(const ch_ocsp_request_t *req)
{
	if (req->verdict == CH_OCSP_REQ_OK)
		printf("ok %s\n", req->ids[0].key);
	else
		printf("%s: %s\n", ch_ocsp_verdict_name(req->verdict),
		    req->text);
}

static int
post(const char *dir, const char *file)
{
	ch_ocsp_issuer_t iss;
	ch_ocsp_request_t req;
	/* Read past the cap, so that the cap is what refuses. */
	size_t cap = CH_OCSP_REQUEST_MAX_BYTES * 2, len = 0;
	unsigned char *buf = malloc(cap);
	FILE *f = fopen(file, "rb");
	int rc = 2;

	if (buf == NULL || f == NULL || load_issuer(dir, &iss) != 0)
		goto out;
	len = fread(buf, 1, cap, f);
	ch_ocsp_request_parse(buf, len, &iss, 1, &req);
	print_request(&req);
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return rc;
}

static int
get(const char *dir, const char *base, const char *uri)
{
	ch_ocsp_issuer_t iss;
	ch_ocsp_request_t req;

	if (load_issuer(dir, &iss) != 0)
		return 2;
	ch_ocsp_request_get(uri, strlen(uri), base, &iss, 1, &req);
	print_request(&req);
	return 0;
}

static int
error(const char *status, const char *out)
{
	size_t len = 0;
	const unsigned char *der = ch_ocsp_error_der(
	    (ch_ocsp_status_t)atoi(status), &len);
	FILE *f;

	if (der == NULL || (f = fopen(out, "wb")) == NULL)
		return 2;
	if (fwrite(der, 1, len, f) != len) {
		fclose(f);
		return 2;
	}
	return fclose(f) == 0 ? 0 : 2;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "make") == 0)
		return make(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "post") == 0)
		return post(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "get") == 0)
		return get(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "error") == 0)
		return error(argv[2], argv[3]);
	fprintf(stderr, "usage: codec-revoke-tool make DIR rsa|ec|sm2\n"
	    "       codec-revoke-tool post DIR FILE\n"
	    "       codec-revoke-tool get DIR BASE URI\n"
	    "       codec-revoke-tool error STATUS OUT\n");
	return 2;
}
