/*
 * The courier client (src/clients/courier.c): its settings, and the check
 * of the courier's delivery callbacks, signed here with HMAC-SHA256 over
 * "timestamp\nnonce\nbody\n" exactly as tests/fakes/courier.py signs them.
 */
#include "test.h"
#include "certhall/base/crypto.h"
#include "certhall/base/pool.h"
#include "certhall/clients/courier.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define KEY "3c1f0a9e77d24b5f8e6a1d2c5b7e9f01"
#define NONCE "a1b2c3d4e5f60718"
#define BODY "{\"event_id\":\"EV01\",\"event_type\":\"DELIVERED\"," \
	"\"tracking_no\":\"SB123456789012\",\"delivered_at\":\"2026-12-07T08:00:00Z\"," \
	"\"signed_by_name\":\"李审核\",\"check_kind\":\"id_check\"}"

typedef struct {
	char dir[64];
	char keyfile[96];
	ch_courier_config_t *cfg;
	ch_courier_t *c;
	ch_pool_t *pool;
} fixture_t;

static int
setup(fixture_t *f, const char *key)
{
	FILE *fp;

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/certhall-courier.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->keyfile, sizeof f->keyfile, "%s/courier.key", f->dir);
	if ((fp = fopen(f->keyfile, "w")) == NULL)
		return -1;
	fprintf(fp, "%s\n", key);
	fclose(fp);
	setenv("CERTHALL_COURIER_NAME", "sandbox", 1);
	setenv("CERTHALL_COURIER_URL", "http://127.0.0.1:9/", 1);
	setenv("CERTHALL_COURIER_KEY_FILE", f->keyfile, 1);
	setenv("CERTHALL_COURIER_NOTIFY_URL",
	    "http://127.0.0.1:8080/api/v1/couriers/notify/sandbox", 1);
	f->pool = ch_pool_new();
	if (ch_courier_config_from_env(&f->cfg) != CH_COURIER_CONFIG_OK)
		return -1;
	f->c = ch_courier_new(f->cfg);
	return f->c != NULL ? 0 : -1;
}

static void
teardown(fixture_t *f)
{
	ch_courier_free(f->c);
	ch_courier_config_free(f->cfg);
	ch_pool_free(f->pool);
	unlink(f->keyfile);
	rmdir(f->dir);
	unsetenv("CERTHALL_COURIER_NAME");
	unsetenv("CERTHALL_COURIER_URL");
	unsetenv("CERTHALL_COURIER_KEY_FILE");
	unsetenv("CERTHALL_COURIER_NOTIFY_URL");
}

/* base64 HMAC-SHA256(key, "ts\nnonce\nbody\n") into out (64). */
static void
sign(const char *key, const char *ts, const char *nonce, const char *body,
    char out[64])
{
	unsigned char mac[CH_SHA256_LEN];
	char msg[1024];
	int n = snprintf(msg, sizeof msg, "%s\n%s\n%s\n", ts, nonce, body);

	ch_hmac_sha256(key, strlen(key), msg, (size_t)n, mac);
	ch_base64(mac, sizeof mac, out);
}

static ch_courier_notice_t
verify(fixture_t *f, const char *ts, const char *nonce, const char *sig,
    const char *body, long long now, ch_courier_event_t *ev)
{
	const char *why = NULL;
	ch_courier_notice_t r = ch_courier_verify_notice(f->c, f->pool, ts,
	    nonce, sig, body, strlen(body), now, ev, &why);

	if (r != CH_COURIER_NOTICE_OK && why == NULL)
		return (ch_courier_notice_t)-1;	/* every refusal says why */
	return r;
}

int
test_courier_notice(void)
{
	fixture_t f;
	ch_courier_event_t ev;
	char ts[24], sig[64], other[64];
	long long now = (long long)time(NULL);
	const char *bad_body = "{\"event_id\":\"EV01\",\"event_type\":\"PICKED_UP\","
	    "\"tracking_no\":\"SB123456789012\",\"delivered_at\":"
	    "\"2026-12-07T08:00:00Z\",\"signed_by_name\":\"x\",\"check_kind\":\"signature\"}";
	int rc = 1;

	CHECK(setup(&f, KEY) == 0);
	CHECK_STR(ch_courier_name(f.c), "sandbox");
	snprintf(ts, sizeof ts, "%lld", now);
	sign(KEY, ts, NONCE, BODY, sig);
	if (verify(&f, ts, NONCE, sig, BODY, now, &ev) != CH_COURIER_NOTICE_OK)
		goto out;
	CHECK_STR(ev.event_id, "EV01");
	CHECK_STR(ev.tracking_no, "SB123456789012");
	CHECK_STR(ev.signed_by_name, "李审核");
	CHECK_STR(ev.check_kind, "id_check");
	CHECK(ev.authorisation == NULL);
	/* Another key, another nonce or body than signed, no headers. */
	sign("another-key-of-32-characters-xx", ts, NONCE, BODY, other);
	CHECK(verify(&f, ts, NONCE, other, BODY, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	CHECK(verify(&f, ts, "a1b2c3d4e5f60719", sig, BODY, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	CHECK(verify(&f, ts, NONCE, sig, bad_body, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	CHECK(ch_courier_verify_notice(f.c, f.pool, NULL, NONCE, sig, BODY,
	    strlen(BODY), now, &ev, &(const char *){ NULL }) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	/* A nonce too short or with other characters, a timestamp not digits. */
	CHECK(verify(&f, ts, "short", sig, BODY, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	CHECK(verify(&f, ts, "a1b2c3d4\ne5f60718", sig, BODY, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	CHECK(verify(&f, "12a", NONCE, sig, BODY, now, &ev) ==
	    CH_COURIER_NOTICE_BAD_SIGNATURE);
	/* The window: 300 s either way is in, 301 s out. */
	CHECK(verify(&f, ts, NONCE, sig, BODY, now + 300, &ev) ==
	    CH_COURIER_NOTICE_OK);
	CHECK(verify(&f, ts, NONCE, sig, BODY, now - 300, &ev) ==
	    CH_COURIER_NOTICE_OK);
	CHECK(verify(&f, ts, NONCE, sig, BODY, now + 301, &ev) ==
	    CH_COURIER_NOTICE_STALE);
	CHECK(verify(&f, ts, NONCE, sig, BODY, now - 301, &ev) ==
	    CH_COURIER_NOTICE_STALE);
	/* Signed, but not a delivery event we know. */
	sign(KEY, ts, NONCE, bad_body, other);
	CHECK(verify(&f, ts, NONCE, other, bad_body, now, &ev) ==
	    CH_COURIER_NOTICE_MALFORMED);
	CHECK(ev.event_id == NULL);
	rc = 0;
out:
	teardown(&f);
	return rc;
}

int
test_courier_config(void)
{
	fixture_t f;
	ch_courier_config_t *cfg = NULL;

	/* None set: no courier. */
	unsetenv("CERTHALL_COURIER_NAME");
	unsetenv("CERTHALL_COURIER_URL");
	unsetenv("CERTHALL_COURIER_KEY_FILE");
	unsetenv("CERTHALL_COURIER_NOTIFY_URL");
	CHECK(ch_courier_config_from_env(&cfg) == CH_COURIER_CONFIG_NONE);
	CHECK(cfg == NULL);
	/* A key shorter than 16 characters. */
	CHECK(setup(&f, "short") != 0);
	teardown(&f);
	/* One missing, a URL that is not http(s), a name with a space. */
	CHECK(setup(&f, KEY) == 0);
	unsetenv("CERTHALL_COURIER_NOTIFY_URL");
	CHECK(ch_courier_config_from_env(&cfg) == CH_COURIER_CONFIG_BAD);
	setenv("CERTHALL_COURIER_NOTIFY_URL", "ftp://x/", 1);
	CHECK(ch_courier_config_from_env(&cfg) == CH_COURIER_CONFIG_BAD);
	setenv("CERTHALL_COURIER_NOTIFY_URL", "http://x/", 1);
	setenv("CERTHALL_COURIER_NAME", "sf express", 1);
	CHECK(ch_courier_config_from_env(&cfg) == CH_COURIER_CONFIG_BAD);
	CHECK(cfg == NULL);
	teardown(&f);
	return 0;
}
