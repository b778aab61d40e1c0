/*
 * certhall-signer's OCSP pass (signer.h; issue 13): pre-signs the
 * responses the web serves (certhall/domain/responder.h has the store,
 * certhall/codec/ocsp.h the profile).
 *
 * run.c calls signer_ocsp_pass() once a round, after the issuance
 * batches, while the token is usable.  A pass
 *
 *   1. at start and every CERTHALL_OCSP_SWEEP seconds, compares every
 *      stored response with its certificate (ch_responder_sweep): the
 *      check that nothing depends on the triggers or a NOTIFY;
 *   2. signs the rows due (new certificates, revocations, requests for a
 *      serial not seen before first, then refreshes), a batch at a time,
 *      for at most PASS_BUDGET_MS, and stores each response only if its
 *      row did not change meanwhile.
 *
 * The signer LISTENs on "ocsp" (the triggers and the web's requests) and
 * "revocation" (whoever revokes, after commit): either wakes a round, so
 * a revocation or a request is answered within a round, not a refresh
 * period.
 *
 * Validity (seconds; environment, as the rest of the signer's settings):
 *
 *   CERTHALL_OCSP_VALIDITY  nextUpdate - thisUpdate (345600: 4 days, the
 *                           CA/B Forum's most), 10 to 864000 (a test
 *                           takes 30)
 *   CERTHALL_OCSP_REFRESH   a response is signed again this long after its
 *                           thisUpdate (default half the validity); more
 *                           than the backdate, less than the validity
 *   CERTHALL_OCSP_BACKDATE  thisUpdate = signing time - this (3600, at
 *                           most a quarter of the validity by default)
 *   CERTHALL_OCSP_SWEEP     seconds between sweeps (300), 5 to 86400
 *
 * A setting out of range is an error: the pass signs nothing and says
 * why, every minute (the rest of the signer goes on).  nextUpdate never
 * passes the responder certificate's notAfter (certhall-signer setup
 * renews that certificate a month before it ends).  A certificate's last
 * refresh is the one whose response covers its notAfter; after that the
 * row is signed again only on revocation or when a client asks after its
 * nextUpdate (ch_responder_demand).  "unknown" responses are never
 * refreshed; the sweep deletes them a day after their nextUpdate.
 */
#include "signer.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/codec/ocsp.h"
#include "certhall/domain/issuance.h"
#include "certhall/domain/responder.h"
#include "certhall/store/ctx.h"
#include "certhall/store/db.h"
#include "certhall/token/key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define BATCH 128
#define PASS_BUDGET_MS 400
#define RETRY_MS 5000		/* after a token or set-up fault */
#define COMPLAIN_MS 60000

static struct {
	bool configured, bad_config;
	long validity, refresh, backdate, sweep;
	/* the responder, opened for issuer_id */
	long long issuer_id, responder_id;
	X509 *responder;
	time_t responder_not_after;
	ch_key_t *key;
	ch_pool_t *pool;
	ch_ctx_t ctx;
	unsigned long long steps;
	long long next_sweep_ms, retry_ms, complained_ms;
} o;

/* A setting from the environment: def when unset, -1 when out of range. */
static long
setting(const char *name, long min, long max, long def)
{
	const char *v = getenv(name);
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = ch_parse_long(v, 10, max);
	if (n < min) {
		ch_error("%s must be %ld to %ld seconds", name, min, max);
		return -1;
	}
	return n;
}

static void
configure(void)
{
	long d;

	o.configured = true;
	o.validity = setting("CERTHALL_OCSP_VALIDITY", 10, 864000, 345600);
	d = o.validity > 0 ? (o.validity / 4 < 3600 ? o.validity / 4 : 3600) : 0;
	o.backdate = setting("CERTHALL_OCSP_BACKDATE", 0, 86400, d);
	o.refresh = setting("CERTHALL_OCSP_REFRESH", 1, 864000,
	    o.validity > 0 ? o.validity / 2 : 0);
	o.sweep = setting("CERTHALL_OCSP_SWEEP", 5, 86400, 300);
	if (o.validity < 0 || o.backdate < 0 || o.refresh < 0 || o.sweep < 0)
		o.bad_config = true;
	else if (o.refresh <= o.backdate || o.refresh >= o.validity) {
		ch_error("CERTHALL_OCSP_REFRESH (%ld) must be more than the "
		    "backdate (%ld) and less than the validity (%ld)",
		    o.refresh, o.backdate, o.validity);
		o.bad_config = true;
	}
	if (!o.bad_config)
		ch_info("ocsp: responses valid %ld s, signed again after %ld "
		    "s, backdated %ld s; sweep every %ld s", o.validity,
		    o.refresh, o.backdate, o.sweep);
	o.pool = ch_pool_new();
}

static ch_ctx_t *
step(ch_db_t *db)
{
	char id[32];

	ch_pool_reset(o.pool);
	snprintf(id, sizeof id, "signer-ocsp-%llu", ++o.steps);
	ch_ctx_system(&o.ctx, o.pool, db, "signer", id);
	ch_log_set_request_id(o.ctx.correlation_id);
	return &o.ctx;
}

static void
responder_drop(void)
{
	ch_key_close(o.key);
	o.key = NULL;
	X509_free(o.responder);
	o.responder = NULL;
}

static void
complain(const char *what)
{
	long long now = ch_monotonic_ms();

	o.retry_ms = now + RETRY_MS;
	if (now - o.complained_ms < COMPLAIN_MS && o.complained_ms != 0)
		return;
	o.complained_ms = now;
	ch_error("ocsp: %s; no response is signed until that changes", what);
}

/*
 * The active OCSP responder certificate, issued by issuer, and its key in
 * token (the key the certificate certifies).  0, 1 not usable now
 * (complained), -1 database error.
 */
static int
responder_open(ch_db_t *db, ch_token_t *token, X509 *issuer,
    long long issuer_id)
{
	unsigned char fp[32];
	ch_keyref_t ref;
	ch_ca_cert_t row;
	struct tm tm;
	int r;

	responder_drop();
	r = ch_issuance_ca_find(step(db), "ocsp", "ec-p256", &row);
	if (r <= 0) {
		if (r == 0)
			complain("no OCSP responder certificate on record (run "
			    "certhall-signer setup)");
		return r == 0 ? 1 : -1;
	}
	if (X509_check_issued(issuer, row.x) != X509_V_OK) {
		ERR_clear_error();
		complain("the OCSP responder certificate on record was not "
		    "issued by the active issuing CA");
		return 1;
	}
	if (ch_keyref_parse(row.key_ref, &ref) != 0 ||
	    ref.kind != CH_KEYREF_PKCS11 ||
	    ch_token_key(token, CH_KEYREF_PRIVATE, ref.object[0] ? ref.object :
	    NULL, ref.has_id ? ref.id : NULL, ref.id_len, &o.key) != 0) {
		o.key = NULL;
		complain("the OCSP responder's key cannot be opened");
		return 1;
	}
	if (ch_issuance_spki_sha256(ch_key_public(o.key), fp) != 0 ||
	    memcmp(fp, row.spki_sha256, sizeof fp) != 0) {
		responder_drop();
		complain("the token's OCSP key is not the responder "
		    "certificate's");
		return 1;
	}
	X509_up_ref(row.x);
	o.responder = row.x;
	o.responder_id = row.id;
	o.issuer_id = issuer_id;
	o.responder_not_after = ASN1_TIME_to_tm(X509_get0_notAfter(row.x),
	    &tm) == 1 ? timegm(&tm) : 0;
	ch_info("ocsp: responder certificate %lld, key \"%s\"", row.id,
	    row.key_ref);
	return 0;
}

/* Signs row into *out (der in pool).  0, or -1 with why. */
static int
sign_row(X509 *issuer, const ch_responder_due_t *row, time_t now,
    ch_responder_signed_t *out, char *why, size_t whylen)
{
	unsigned char serial[CH_X509_SERIAL_MAX], *der = NULL;
	size_t slen = strlen(row->serial) / 2, len = 0;
	ch_ocsp_resp_spec_t spec;
	int rc;

	memset(&spec, 0, sizeof spec);
	memset(out, 0, sizeof *out);
	if (slen == 0 || slen > sizeof serial ||
	    ch_unhex(row->serial, serial, slen) != 0) {
		snprintf(why, whylen, "serial: not hex");
		return -1;
	}
	out->row = row;
	out->this_update = now - o.backdate;
	/* A revocation is never later than the thisUpdate that reports it:
	 * the backdate gives way to it (a clock ahead of ours is taken as
	 * now). */
	if (row->status == CH_OCSP_REVOKED) {
		spec.revoked_at = row->revoked_at < now ? row->revoked_at : now;
		if (spec.revoked_at > out->this_update)
			out->this_update = spec.revoked_at;
		spec.reason = row->reason;
	}
	out->next_update = out->this_update + o.validity;
	if (o.responder_not_after > 0 &&
	    out->next_update > o.responder_not_after)
		out->next_update = o.responder_not_after;
	if (out->next_update <= now) {
		snprintf(why, whylen, "the responder certificate has expired");
		return -1;
	}
	/* The next signature: refresh, but none after the one that covers
	 * the certificate's notAfter, and none for an unknown. */
	out->due_at = out->this_update + o.refresh;
	if (row->status == CH_OCSP_UNKNOWN ||
	    (row->not_after > 0 && out->due_at > row->not_after &&
	    out->next_update >= row->not_after))
		out->due_at = 0;
	spec.issuer = issuer;
	spec.responder = o.responder;
	spec.serial = serial;
	spec.serial_len = slen;
	spec.hash = row->hash;
	spec.status = row->status;
	spec.this_update = out->this_update;
	spec.next_update = out->next_update;
	rc = ch_ocsp_response_sign(&spec, ch_key_pkey(o.key), &der, &len, why,
	    whylen);
	if (rc != 0)
		return -1;
	out->der = ch_palloc(o.pool, len);
	memcpy((unsigned char *)out->der, der, len);
	out->der_len = len;
	OPENSSL_free(der);
	return 0;
}

/* One batch of due rows.  The rows signed and stored, or -1 (database). */
static int
batch(ch_db_t *db, X509 *issuer, bool *more)
{
	ch_responder_due_t *rows;
	ch_responder_signed_t *done;
	int n, k = 0, stored = 0, failed = 0;
	char why[256];
	time_t now = time(NULL);

	*more = false;
	if (ch_responder_due(step(db), o.issuer_id, BATCH, &rows, &n) != 0) {
		ch_db_finish(db);
		return -1;
	}
	if (n == 0)
		return 0;
	done = ch_palloc(o.pool, (size_t)n * sizeof *done);
	for (int i = 0; i < n; i++) {
		if (sign_row(issuer, &rows[i], now, &done[k], why,
		    sizeof why) == 0) {
			k++;
			continue;
		}
		failed++;
		ch_warn("ocsp: %s:%s not signed: %s",
		    ch_ocsp_hash_name(rows[i].hash), rows[i].serial, why);
		/* A token fault: give the rest up and open the key again
		 * after a while. */
		responder_drop();
		o.retry_ms = ch_monotonic_ms() + RETRY_MS;
		break;
	}
	if (ch_responder_store(&o.ctx, o.responder_id, done, k, &stored) != 0) {
		ch_db_finish(db);
		return -1;
	}
	ch_info("ocsp: %d response(s) signed, %d stored (%d changed meanwhile), "
	    "%d failed", k, stored, k - stored, failed);
	*more = n == BATCH && failed == 0;
	return stored;
}

int
signer_ocsp_pass(ch_db_t *db, ch_token_t *token, X509 *issuer,
    long long issuer_id)
{
	long long start = ch_monotonic_ms(), now = start;
	int changed = 0, rc = 0;
	bool more = true;

	if (!o.configured)
		configure();
	if (o.bad_config || token == NULL || issuer == NULL)
		return 0;
	if (o.key == NULL || o.issuer_id != issuer_id) {
		if (now < o.retry_ms)
			return 0;
		if ((rc = responder_open(db, token, issuer, issuer_id)) != 0) {
			ch_db_finish(db);
			ch_log_set_request_id(NULL);
			return rc < 0 ? -1 : 0;
		}
		o.next_sweep_ms = 0;
	}
	if (now >= o.next_sweep_ms) {
		if (ch_responder_sweep(step(db), issuer_id, &changed) != 0) {
			rc = -1;
			goto out;
		}
		o.next_sweep_ms = now + 1000LL * o.sweep;
		if (changed > 0)
			ch_info("ocsp: the sweep found %d response(s) missing or "
			    "out of date", changed);
	}
	while (more && o.key != NULL &&
	    ch_monotonic_ms() - start < PASS_BUDGET_MS) {
		if (batch(db, issuer, &more) < 0) {
			rc = -1;
			break;
		}
	}
out:
	ch_db_finish(db);
	ch_log_set_request_id(NULL);
	return rc;
}

void
signer_ocsp_close(void)
{
	responder_drop();
	ch_pool_free(o.pool);
	o.pool = NULL;
}
