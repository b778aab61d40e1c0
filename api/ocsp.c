/*
 * The OCSP responder (RFC 6960; GET and POST as in RFC 5019; issue 13) at
 * the URL certificates carry in their AIA, <base>/ocsp:
 *
 *   POST /ocsp             the DER request as the body (clients send
 *                          application/ocsp-request; any type is read)
 *   GET  /ocsp/{request}   the URL-encoded base64 of the DER, '/' and all
 *                          (a rest parameter: nginx passes $request_uri)
 *
 * A worker holds no key and signs nothing: it parses the request
 * (certhall/codec/ocsp.h), looks the stored DER up by (hash, serial)
 * (certhall/domain/responder.h) and sends it.  Every answer is HTTP 200
 * with an OCSPResponse (RFC 6960 §2.3), never a problem document and never
 * a 5xx:
 *
 *	a malformed request (garbage, empty, over CH_OCSP_REQUEST_MAX_BYTES,
 *	bad base64, more than one CertID)	malformedRequest, unsigned
 *	a CertID naming another issuer		unauthorized, unsigned
 *	the database unreachable		tryLater, unsigned
 *	a stored response			that response
 *	none yet (a certificate issued a moment
 *	ago, a serial never issued, a response
 *	past its nextUpdate)			the worker asks the signer
 *	(ch_responder_demand) and waits up to DEMAND_WAIT_MS for the row;
 *	then tryLater.  A certificate issued seconds ago therefore gets its
 *	"good" (the signer signs it at once anyway), a serial never issued a
 *	signed "unknown".  At most DEMAND_PENDING requests wait for the signer
 *	at once: past that, tryLater without asking.
 *
 * Caching (RFC 5019 §6.2, FIELD-NOTES "OCSP over GET"): a response is sent
 * with Cache-Control "max-age=<nextUpdate - now>, public, no-transform,
 * must-revalidate", Last-Modified (thisUpdate), Expires (nextUpdate) and
 * ETag (the SHA-1 of the DER, quoted, as RFC 5019 §6.2 suggests); an
 * If-None-Match that lists it gets 304.  Error answers carry
 * "Cache-Control: no-store".
 *
 * Each worker also keeps what it served for CACHE_MS (a table of
 * CACHE_SLOTS by lookup key), so a response asked for again and again
 * costs no round trip; a revocation reaches clients of this worker at most
 * CACHE_MS after the signer stored it (HTTP caches hold it for max-age,
 * which is what RFC 5019 accepts).  The issuers a request may name are
 * the active issuing CA certificates (ca_certificate), read at most every
 * ISSUERS_MS.
 */
#include "api.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/codec/ocsp.h"
#include "certhall/domain/issuance.h"
#include "certhall/domain/responder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <openssl/x509.h>

#define OCSP_TYPE "application/ocsp-response"
#define BASE_PATH "/ocsp/"
#define CACHE_MS 1000
#define CACHE_SLOTS 256
#define ISSUERS_MS 60000
#define DEMAND_WAIT_MS 3000
#define DEMAND_POLL_MS 20
#define DEMAND_PENDING 1000

/* One response this worker served lately. */
struct slot {
	char key[CH_OCSP_KEY_MAX];	/* "" when empty */
	unsigned char *der;		/* malloc */
	size_t len;
	time_t this_update, next_update;
	char etag[2 * SHA_DIGEST_LENGTH + 3];
	long long fetched_ms;
};

static struct {
	bool issuer_read;
	long long issuer_ms;
	long long issuer_id;		/* 0: none on record */
	ch_ocsp_issuer_t issuer;
	struct slot slots[CACHE_SLOTS];
} w;

/* The active issuing CA, read again every ISSUERS_MS.  0, or -1 (the
 * database; the last one read, if any, stays in use). */
static int
issuers_load(ch_req_t *req)
{
	long long now = ch_monotonic_ms();
	ch_ca_cert_t row;
	int r;

	if (w.issuer_read && now - w.issuer_ms < ISSUERS_MS)
		return 0;
	r = ch_issuance_ca_find(&req->ctx, "issuing", "rsa", &row);
	if (r < 0)
		return w.issuer_read ? 0 : -1;
	w.issuer_id = 0;
	if (r > 0 && ch_ocsp_issuer_init(&w.issuer, row.x) == 0)
		w.issuer_id = row.id;
	w.issuer_read = true;
	w.issuer_ms = now;
	return 0;
}

static unsigned
slot_index(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % CACHE_SLOTS;
}

static void
slot_put(struct slot *s, const char *key, const ch_responder_answer_t *a)
{
	unsigned char md[SHA_DIGEST_LENGTH];

	free(s->der);
	s->der = ch_xmalloc(a->der_len);
	memcpy(s->der, a->der, a->der_len);
	s->len = a->der_len;
	s->this_update = a->this_update;
	s->next_update = a->next_update;
	SHA1(a->der, a->der_len, md);
	s->etag[0] = '"';
	ch_hex(md, sizeof md, s->etag + 1);
	s->etag[2 * SHA_DIGEST_LENGTH + 1] = '"';
	s->etag[2 * SHA_DIGEST_LENGTH + 2] = '\0';
	snprintf(s->key, sizeof s->key, "%s", key);
	s->fetched_ms = ch_monotonic_ms();
}

/* An unsigned error answer. */
static void
answer_error(ch_req_t *req, ch_ocsp_status_t status)
{
	size_t len;
	const unsigned char *der = ch_ocsp_error_der(status, &len);

	ch_resp_raw(req, 200, OCSP_TYPE, (const char *)der, len);
	ch_resp_header(req, "Cache-Control", "no-store");
}

static void
http_date(time_t t, char out[40])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The stored response in s, with its cache headers (or a 304). */
static void
answer_slot(ch_req_t *req, const struct slot *s)
{
	time_t now = time(NULL);
	long long age = (long long)(s->next_update - now);
	char date[40];

	if (api_etag_listed(ch_req_env(req, "HTTP_IF_NONE_MATCH"), s->etag)) {
		ch_resp_raw(req, 304, NULL, NULL, 0);
	} else {
		char *body = ch_palloc(req->ctx.pool, s->len);

		memcpy(body, s->der, s->len);
		ch_resp_raw(req, 200, OCSP_TYPE, body, s->len);
	}
	ch_resp_header(req, "Cache-Control", ch_psprintf(req->ctx.pool,
	    "max-age=%lld, public, no-transform, must-revalidate",
	    age > 0 ? age : 0));
	ch_resp_header(req, "ETag", s->etag);
	http_date(s->this_update, date);
	ch_resp_header(req, "Last-Modified", date);
	http_date(s->next_update, date);
	ch_resp_header(req, "Expires", date);
}

/*
 * The stored response of id, asking the signer for one when there is
 * none: 1 found (*a), 0 none in time, -1 the database.
 */
static int
lookup(ch_req_t *req, const ch_ocsp_certid_t *id, ch_responder_answer_t *a)
{
	long long deadline;
	int r;

	if ((r = ch_responder_lookup(&req->ctx, id->hash, id->serial_hex, a))
	    != 0)
		return r;
	r = ch_responder_demand(&req->ctx, id->hash, id->serial_hex,
	    w.issuer_id, DEMAND_PENDING);
	if (r <= 0) {
		if (r == 0)
			ch_warn("ocsp: %d requests wait for the signer; %s "
			    "answered tryLater", DEMAND_PENDING, id->key);
		return r;
	}
	deadline = ch_monotonic_ms() + DEMAND_WAIT_MS;
	while (ch_monotonic_ms() < deadline) {
		usleep(DEMAND_POLL_MS * 1000);
		if ((r = ch_responder_lookup(&req->ctx, id->hash,
		    id->serial_hex, a)) != 0)
			return r;
	}
	ch_warn("ocsp: no response for %s within %d ms; answered tryLater",
	    id->key, DEMAND_WAIT_MS);
	return 0;
}

/* Answers the request parsed into *parsed (verdict v). */
static int
answer(ch_req_t *req, ch_ocsp_verdict_t v, const ch_ocsp_request_t *parsed)
{
	const ch_ocsp_certid_t *id = &parsed->ids[0];
	ch_responder_answer_t a;
	struct slot *s;

	if (v == CH_OCSP_REQ_MALFORMED) {
		ch_info("ocsp: malformed request: %s", parsed->text);
		answer_error(req, CH_OCSP_MALFORMED_REQUEST);
		return 0;
	}
	if (v != CH_OCSP_REQ_OK || w.issuer_id == 0) {
		answer_error(req, CH_OCSP_UNAUTHORIZED);
		return 0;
	}
	s = &w.slots[slot_index(id->key)];
	if (strcmp(s->key, id->key) == 0 &&
	    ch_monotonic_ms() - s->fetched_ms < CACHE_MS &&
	    s->next_update > time(NULL)) {
		answer_slot(req, s);
		return 0;
	}
	/* Nothing in time, or the database: tryLater, never a 5xx. */
	if (lookup(req, id, &a) != 1) {
		answer_error(req, CH_OCSP_TRY_LATER);
		return 0;
	}
	slot_put(s, id->key, &a);
	answer_slot(req, s);
	return 0;
}

int
api_ocsp_post(ch_req_t *req)
{
	ch_ocsp_request_t parsed;
	ch_ocsp_verdict_t v;

	if (issuers_load(req) != 0) {
		answer_error(req, CH_OCSP_TRY_LATER);
		return 0;
	}
	v = ch_ocsp_request_parse(req->body != NULL ? req->body : "",
	    req->body_len, &w.issuer, w.issuer_id != 0 ? 1 : 0, &parsed);
	return answer(req, v, &parsed);
}

int
api_ocsp_get(ch_req_t *req)
{
	const char *uri = ch_req_env(req, "REQUEST_URI");
	ch_ocsp_request_t parsed;
	ch_ocsp_verdict_t v;

	if (uri == NULL)
		uri = "";
	if (issuers_load(req) != 0) {
		answer_error(req, CH_OCSP_TRY_LATER);
		return 0;
	}
	v = ch_ocsp_request_get(uri, strlen(uri), BASE_PATH, &w.issuer,
	    w.issuer_id != 0 ? 1 : 0, &parsed);
	return answer(req, v, &parsed);
}
