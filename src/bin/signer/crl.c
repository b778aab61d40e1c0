/*
 * certhall-signer: revocations and CRLs (issue 13; signer.h
 * signer_revocation_pass(), sql/0015_revocation.sql).
 *
 * Every round of the daemon (a NOTIFY on signing_job or revocation, or a
 * second gone by) ends with this pass:
 *
 * 1. The revocation of every settled revoke application is recorded
 *    (certhall/domain/revocation.h ch_revocation_jobs(); no key needed, so
 *    this happens while the token is away too).
 * 2. While the token is usable, and while no other signer makes CRLs (a
 *    database advisory lock), each scope gets a new CRL when it is due:
 *
 *	- there is none yet, or the newest was signed under another CA
 *	  certificate than the active one;
 *	- a revocation has waited CERTHALL_CRL_COALESCE_MS (default 500 ms):
 *	  every revocation that comes within that moment, a burst, goes into
 *	  the same CRL, and the application of a revoke is completed within
 *	  about a second and a half (the daemon's round comes every second);
 *	- the schedule: CERTHALL_CRL_REFRESH_S (default 86400) after the
 *	  newest's thisUpdate, well before its nextUpdate, which is
 *	  CERTHALL_CRL_VALIDITY_S (default 604800, 7 days) after it.  The
 *	  refresh must be at most half the validity (else the defaults are
 *	  used and a warning logged), so a CRL that cannot be made for a
 *	  while (the token away) still leaves relying parties a valid one.
 *
 *    Scopes: "issuing", signed by the issuing CA key in the token, with
 *    the revoked subscriber certificates (<base>/crl/issuing.crl); "root",
 *    signed by the root key in the token, with no entries (certhall does
 *    not revoke CA certificates online: that is a key ceremony), validity
 *    CERTHALL_ROOT_CRL_VALIDITY_S (default 365 days), refreshed after
 *    CERTHALL_ROOT_CRL_REFRESH_S (default 180 days) (<base>/crl/root.crl,
 *    the CRL DP of the issuing CA's certificate).  The root key is opened
 *    for that signature and closed again.
 *
 * thisUpdate is the database's clock (revocation dates come from it too,
 * and one is never after thisUpdate); entries are chosen by
 * ch_crl_entries() (a certificate stays listed until a CRL made after its
 * notAfter has been published).  A CRL that cannot be signed is tried
 * again after 5 s.  Each CRL made logs one line with its size and where
 * the time went: tests/bench/crl reads it.
 */
#include "signer.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/codec/crl.h"
#include "certhall/domain/revocation.h"
#include "certhall/store/ctx.h"
#include "certhall/store/db.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#define DAY 86400LL
#define RETRY_MS 5000
#define ROOT_KEY_ID 1

typedef struct {
	const char *scope;
	long long validity_s, refresh_s;
} period_t;

static struct {
	bool loaded;
	long long coalesce_ms;
	period_t issuing, root;
	long long retry_at_ms;		/* after a CRL failed to sign */
} conf;

/* An environment number within [min, max], else def. */
static long long
env_ll(const char *name, long long def, long long min, long long max)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || n < min || n > max) {
		ch_warn("\"%s\" is not a number from %lld to %lld: %lld used",
		    name, min, max, def);
		return def;
	}
	return n;
}

static void
period_load(period_t *p, const char *scope, const char *validity,
    const char *refresh, long long def_validity, long long def_refresh)
{
	p->scope = scope;
	p->validity_s = env_ll(validity, def_validity, 10, 3650 * DAY);
	p->refresh_s = env_ll(refresh, def_refresh, 1, 3650 * DAY);
	if (p->refresh_s * 2 > p->validity_s) {
		ch_warn("CRL \"%s\": a refresh of %lld s is more than half the "
		    "validity of %lld s: the defaults are used", scope,
		    p->refresh_s, p->validity_s);
		p->validity_s = def_validity;
		p->refresh_s = def_refresh;
	}
}

static void
conf_load(void)
{
	if (conf.loaded)
		return;
	conf.coalesce_ms = env_ll("CERTHALL_CRL_COALESCE_MS", 500, 0, 60000);
	period_load(&conf.issuing, "issuing", "CERTHALL_CRL_VALIDITY_S",
	    "CERTHALL_CRL_REFRESH_S", 7 * DAY, DAY);
	period_load(&conf.root, "root", "CERTHALL_ROOT_CRL_VALIDITY_S",
	    "CERTHALL_ROOT_CRL_REFRESH_S", 365 * DAY, 180 * DAY);
	conf.loaded = true;
	ch_info("CRLs: issuing every %lld s valid %lld s, root every %lld s "
	    "valid %lld s, revocations coalesced for %lld ms",
	    conf.issuing.refresh_s, conf.issuing.validity_s,
	    conf.root.refresh_s, conf.root.validity_s, conf.coalesce_ms);
}

/* Whether scope needs a new CRL now.  1, 0, or -1 (database). */
static int
due(ch_ctx_t *ctx, const period_t *p, long long issuer_id, time_t now)
{
	ch_crl_state_t st;

	if (ch_crl_state(ctx, p->scope, issuer_id, &st) != 0)
		return -1;
	if (st.number == 0 || st.issuer_id != issuer_id)
		return 1;
	if ((long long)now >= (long long)st.this_update + p->refresh_s)
		return 1;
	return st.unpublished > 0 && st.oldest_ms >= conf.coalesce_ms;
}

/*
 * Makes, signs and stores scope's next CRL with key under issuer.  0 (also
 * when the signature failed: logged, tried again later), -1 (database).
 */
static int
publish(ch_ctx_t *ctx, const period_t *p, X509 *issuer, long long issuer_id,
    EVP_PKEY *key, const char *signer)
{
	long long t0 = ch_monotonic_ms(), t1, t2, t3;
	ch_crl_state_t st;
	ch_crl_batch_t b;
	ch_crl_spec_t spec;
	unsigned char *der = NULL;
	size_t len = 0;
	char why[256];
	int rc;

	if (ch_crl_state(ctx, p->scope, issuer_id, &st) != 0 ||
	    ch_crl_entries(ctx, p->scope, issuer_id, st.this_update, &b) != 0)
		return -1;
	t1 = ch_monotonic_ms();
	memset(&spec, 0, sizeof spec);
	spec.issuer = issuer;
	spec.this_update = b.now;
	spec.next_update = b.now + (time_t)p->validity_s;
	spec.number = (uint64_t)b.number;
	spec.entries = b.entries;
	spec.n = b.n;
	if (ch_crl_sign(&spec, key, &der, &len, why, sizeof why) != 0) {
		ERR_clear_error();
		ch_warn("CRL \"%s\" %lld cannot be signed: %s; tried again in "
		    "%d s", p->scope, b.number, why, RETRY_MS / 1000);
		conf.retry_at_ms = ch_monotonic_ms() + RETRY_MS;
		return 0;
	}
	t2 = ch_monotonic_ms();
	rc = ch_crl_store(ctx, p->scope, issuer_id, signer, &b,
	    spec.this_update, spec.next_update, der, len);
	OPENSSL_free(der);
	if (rc != 0)
		return -1;
	t3 = ch_monotonic_ms();
	ch_info("crl \"%s\" %lld: %zu entries (%zu new), %zu bytes; ms "
	    "entries %lld sign %lld store %lld", p->scope, b.number, b.n,
	    b.npending, len, t1 - t0, t2 - t1, t3 - t2);
	return 0;
}

/* The root's CRL, when due: the root certificate and key are brought out
 * for it.  0 or -1 (database). */
static int
publish_root(ch_ctx_t *ctx, const signer_pass_t *in, time_t now)
{
	const unsigned char id = ROOT_KEY_ID;
	ch_ca_cert_t root;
	ch_key_t *key = NULL;
	int r;

	r = ch_issuance_ca_find(ctx, "root", "rsa", &root);
	if (r <= 0)
		return r;
	if ((r = due(ctx, &conf.root, root.id, now)) <= 0)
		return r;
	if (ch_token_key(in->token, CH_KEYREF_PRIVATE, SIGNER_KEY_ROOT, &id,
	    1, &key) != 0) {
		ch_warn("the root key \"%s\" cannot be opened: no root CRL; "
		    "tried again in %d s", SIGNER_KEY_ROOT, RETRY_MS / 1000);
		conf.retry_at_ms = ch_monotonic_ms() + RETRY_MS;
		return 0;
	}
	r = publish(ctx, &conf.root, root.x, root.id, ch_key_pkey(key),
	    in->cfg->name);
	ch_key_close(key);
	return r;
}

int
signer_revocation_pass(const signer_pass_t *in)
{
	ch_ctx_t ctx;
	time_t now = time(NULL);
	int n = 0, r, rc = -1;

	conf_load();
	ch_pool_reset(in->pool);
	ch_ctx_system(&ctx, in->pool, in->db, "signer", "signer-revocation");
	ch_log_set_request_id(ctx.correlation_id);
	if (ch_revocation_jobs(&ctx, in->cfg->name, &n) != 0)
		goto out;
	if (in->token == NULL || in->issuing == NULL ||
	    ch_monotonic_ms() < conf.retry_at_ms) {
		rc = 0;
		goto out;
	}
	if ((r = ch_crl_lock(&ctx, 1)) <= 0) {
		rc = r;			/* another signer makes them */
		goto out;
	}
	r = due(&ctx, &conf.issuing, in->issuer_id, now);
	if (r > 0)
		r = publish(&ctx, &conf.issuing, in->issuer, in->issuer_id,
		    ch_key_pkey(in->issuing), in->cfg->name);
	if (r == 0)
		r = publish_root(&ctx, in, now);
	if (ch_crl_lock(&ctx, 0) < 0)
		r = -1;
	rc = r;
out:
	ch_db_finish(in->db);
	ch_log_set_request_id(NULL);
	return rc;
}
