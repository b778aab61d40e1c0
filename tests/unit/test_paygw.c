/*
 * The payment gateway client (src/clients/paygw.c): its settings, read
 * once, and what they refuse; notification verification with keys made
 * here at run time (none in the repository); and the client's reading of
 * the gateway's answers against a small HTTP server forked by the test,
 * which answers canned responses and records the requests.
 */
#include "test.h"
#include "certhall/base/crypto.h"
#include "certhall/clients/paygw.h"
#include "certhall/base/pool.h"
#include "canned_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MERCHANT_KEY "mk-3c1f0a9e77d24b5f8e6a1d2c"
#define MERCHANT_ID "m1001"
#define OTN "CH202611241054000123456789"
#define SIG_MAX 1024

typedef struct {
	char dir[64];
	char pub[96];
	char keyfile[96];
	EVP_PKEY *key;		/* the "gateway's" private key */
	ch_paygw_config_t *cfg;
	ch_paygw_t *gw;
	ch_pool_t *pool;
} fixture_t;

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int
write_pubkey(const char *path, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return -1;
	ok = PEM_write_PUBKEY(f, key);
	return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

static void
set_env(const fixture_t *f, const char *url)
{
	setenv("CERTHALL_PAY_PROVIDER", "sandbox", 1);
	setenv("CERTHALL_PAY_GATEWAY_URL", url, 1);
	setenv("CERTHALL_PAY_MERCHANT_ID", MERCHANT_ID, 1);
	setenv("CERTHALL_PAY_MERCHANT_KEY_FILE", f->keyfile, 1);
	setenv("CERTHALL_PAY_GATEWAY_PUBKEY_FILE", f->pub, 1);
	setenv("CERTHALL_PAY_NOTIFY_URL",
	    "http://127.0.0.1:8080/api/v1/payments/notify/sandbox", 1);
}

/* Reads the settings from the environment as they are now and makes the
 * client from them, in place of f's.  0 or -1. */
static int
make_client(fixture_t *f)
{
	ch_paygw_free(f->gw);
	ch_paygw_config_free(f->cfg);
	f->gw = NULL;
	if (ch_paygw_config_from_env(&f->cfg) != CH_PAYGW_CONFIG_OK)
		return -1;
	f->gw = ch_paygw_new(f->cfg);
	return f->gw != NULL ? 0 : -1;
}

/* A fresh key pair and merchant key in a temporary directory, and the
 * client configured for url.  0 or -1. */
static int
setup(fixture_t *f, const char *url)
{
	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/certhall-paygw.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->pub, sizeof f->pub, "%s/gateway.pub", f->dir);
	snprintf(f->keyfile, sizeof f->keyfile, "%s/merchant.key", f->dir);
	f->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (f->key == NULL || write_pubkey(f->pub, f->key) != 0 ||
	    write_file(f->keyfile, MERCHANT_KEY "\n") != 0)
		return -1;
	set_env(f, url);
	f->pool = ch_pool_new();
	return make_client(f);
}

static void
teardown(fixture_t *f)
{
	char path[128];
	const char *names[] = { "gateway.pub", "merchant.key", "requests.log",
	    "other.pub", NULL };

	ch_paygw_free(f->gw);
	ch_paygw_config_free(f->cfg);
	ch_pool_free(f->pool);
	EVP_PKEY_free(f->key);
	for (int i = 0; names[i] != NULL; i++) {
		snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
		unlink(path);
	}
	rmdir(f->dir);
}

/* base64 of the RSA-SHA256 signature over "ts\nnonce\nbody\n". */
static void
sign(EVP_PKEY *key, const char *ts, const char *nonce, const char *body,
    char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[512];
	size_t siglen = sizeof sig;
	char *msg;
	size_t n = strlen(ts) + strlen(nonce) + strlen(body) + 4;

	msg = malloc(n);
	snprintf(msg, n, "%s\n%s\n%s\n", ts, nonce, body);
	if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, key,
	    NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)msg,
	    strlen(msg)) != 1)
		siglen = 0;
	EVP_MD_CTX_free(ctx);
	free(msg);
	ch_base64(sig, siglen, out);
}

static const char good_body[] =
    "{\"id\":\"9f1c2d3e-4b5a-6978-8c0d-1e2f3a4b5c6d\","
    "\"create_time\":\"2026-11-24T10:54:03+08:00\","
    "\"event_type\":\"TRANSACTION.SUCCESS\","
    "\"resource\":{\"out_trade_no\":\"" OTN "\","
    "\"transaction_id\":\"4200001234202611241234567890\","
    "\"trade_state\":\"SUCCESS\","
    "\"success_time\":\"2026-11-24T10:54:02+08:00\","
    "\"amount\":{\"total\":40000,\"currency\":\"CNY\"}}}";

/* Verifies body signed by key with a fresh timestamp and nonce. */
static ch_paygw_notice_result_t
verify_signed(fixture_t *f, EVP_PKEY *key, const char *body,
    ch_paygw_txn_t *txn, const char **why)
{
	char ts[24], sig[SIG_MAX];
	long long now = (long long)time(NULL);

	snprintf(ts, sizeof ts, "%lld", now);
	sign(key, ts, "n0nce_AbC-123", body, sig);
	return ch_paygw_verify_notice(f->gw, f->pool, ts, "n0nce_AbC-123", sig,
	    body, strlen(body), now, txn, why);
}

/* Verifies good_body with the headers given, as received at now. */
static ch_paygw_notice_result_t
verify_headers(fixture_t *f, const char *ts, const char *nonce,
    const char *sig, long long now, const char **why)
{
	ch_paygw_txn_t txn;

	return ch_paygw_verify_notice(f->gw, f->pool, ts, nonce, sig, good_body,
	    strlen(good_body), now, &txn, why);
}

int
test_paygw_notice_good(void)
{
	fixture_t f;
	ch_paygw_txn_t txn;
	const char *why = NULL;

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	CHECK_STR(ch_paygw_provider(f.gw), "sandbox");
	CHECK(verify_signed(&f, f.key, good_body, &txn, &why) == CH_NOTICE_OK);
	CHECK_STR(txn.notification_id, "9f1c2d3e-4b5a-6978-8c0d-1e2f3a4b5c6d");
	CHECK_STR(txn.out_trade_no, OTN);
	CHECK_STR(txn.transaction_id, "4200001234202611241234567890");
	CHECK_STR(txn.trade_state, "SUCCESS");
	CHECK_STR(txn.success_time, "2026-11-24T10:54:02+08:00");
	CHECK_STR(txn.currency, "CNY");
	CHECK(txn.amount_fen == 40000);
	teardown(&f);
	return 0;
}

int
test_paygw_notice_tampered(void)
{
	fixture_t f;
	ch_paygw_txn_t txn;
	const char *why = NULL;
	char ts[24], ts2[24], sig[SIG_MAX], *body;
	long long now = (long long)time(NULL);
	char *p;

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	snprintf(ts, sizeof ts, "%lld", now);
	snprintf(ts2, sizeof ts2, "%lld", now - 1);
	sign(f.key, ts, "nonce1", good_body, sig);
	/* The amount changed after signing. */
	body = strdup(good_body);
	p = strstr(body, "40000");
	p[0] = '9';
	CHECK(ch_paygw_verify_notice(f.gw, f.pool, ts, "nonce1", sig, body,
	    strlen(body), now, &txn, &why) == CH_NOTICE_BAD_SIGNATURE);
	CHECK_STR(why, "signature does not verify");
	CHECK(txn.out_trade_no == NULL && txn.amount_fen == -1);
	/* Another nonce or timestamp than the one signed. */
	CHECK(verify_headers(&f, ts, "nonce2", sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	CHECK(verify_headers(&f, ts2, "nonce1", sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	/* The body one byte short (its closing brace cut). */
	CHECK(ch_paygw_verify_notice(f.gw, f.pool, ts, "nonce1", sig, good_body,
	    strlen(good_body) - 1, now, &txn, &why) == CH_NOTICE_BAD_SIGNATURE);
	/* The signature itself altered (a different last character). */
	p = sig + strlen(sig) - 3;
	*p = *p == 'A' ? 'B' : 'A';
	CHECK(verify_headers(&f, ts, "nonce1", sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	free(body);
	teardown(&f);
	return 0;
}

int
test_paygw_notice_wrong_key(void)
{
	fixture_t f;
	ch_paygw_txn_t txn;
	const char *why = NULL;
	EVP_PKEY *other, *ec;
	char ts[24], sig[SIG_MAX];
	long long now = (long long)time(NULL);

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	CHECK(other != NULL);
	CHECK(verify_signed(&f, other, good_body, &txn, &why) ==
	    CH_NOTICE_BAD_SIGNATURE);
	/* An EC signature is no RSA signature, whatever its length. */
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(ec != NULL);
	snprintf(ts, sizeof ts, "%lld", now);
	sign(ec, ts, "nonce", good_body, sig);
	CHECK(verify_headers(&f, ts, "nonce", sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(other);
	teardown(&f);
	return 0;
}

int
test_paygw_notice_window(void)
{
	fixture_t f;
	const char *why = NULL;
	char ts[24], sig[SIG_MAX];
	long long now = (long long)time(NULL);
	const long long offsets[] = { -CH_PAYGW_NOTICE_WINDOW - 1,
	    CH_PAYGW_NOTICE_WINDOW + 1, -86400, 86400 };

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
		snprintf(ts, sizeof ts, "%lld", now + offsets[i]);
		sign(f.key, ts, "nonce", good_body, sig);
		CHECK(verify_headers(&f, ts, "nonce", sig, now, &why) ==
		    CH_NOTICE_STALE);
		CHECK(strstr(why, "X-Pay-Timestamp") != NULL);
	}
	/* The edges of the window are inside it. */
	for (int sign_of = -1; sign_of <= 1; sign_of += 2) {
		snprintf(ts, sizeof ts, "%lld",
		    now + sign_of * CH_PAYGW_NOTICE_WINDOW);
		sign(f.key, ts, "nonce", good_body, sig);
		CHECK(verify_headers(&f, ts, "nonce", sig, now, &why) ==
		    CH_NOTICE_OK);
	}
	teardown(&f);
	return 0;
}

int
test_paygw_notice_bad_headers(void)
{
	fixture_t f;
	ch_paygw_txn_t txn;
	const char *why = NULL;
	char ts[24], sig[SIG_MAX], bad[SIG_MAX + 8], longnonce[80];
	long long now = (long long)time(NULL);
	const char *bad_ts[] = { "", "12a", "-5", " 1", "+1",
	    "1234567890123", "0x10", NULL };
	const char *bad_nonce[] = { "", "a\nb", "a b", "ä", "a=", NULL };
	size_t n;

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	snprintf(ts, sizeof ts, "%lld", now);
	sign(f.key, ts, "nonce", good_body, sig);
	n = strlen(sig);
	CHECK(n == 344);
	/* Missing headers. */
	CHECK(verify_headers(&f, NULL, "nonce", sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	CHECK(verify_headers(&f, ts, NULL, sig, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	CHECK(verify_headers(&f, ts, "nonce", NULL, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	CHECK(ch_paygw_verify_notice(f.gw, f.pool, ts, "nonce", sig, NULL, 0,
	    now, &txn, &why) == CH_NOTICE_BAD_SIGNATURE);
	for (int i = 0; bad_ts[i] != NULL; i++)
		CHECK(verify_headers(&f, bad_ts[i], "nonce", sig, now, &why) ==
		    CH_NOTICE_BAD_SIGNATURE);
	for (int i = 0; bad_nonce[i] != NULL; i++)
		CHECK(verify_headers(&f, ts, bad_nonce[i], sig, now, &why) ==
		    CH_NOTICE_BAD_SIGNATURE);
	memset(longnonce, 'a', 65);
	longnonce[65] = '\0';
	CHECK(verify_headers(&f, ts, longnonce, sig, now, &why) ==
	    CH_NOTICE_BAD_SIGNATURE);
	/* Signatures that are not canonical base64 of the right length. */
	const char *shapes[] = { "", "abc", "====", "QQ", "QR==" /* bits set */,
	    NULL };
	for (int i = 0; shapes[i] != NULL; i++)
		CHECK(verify_headers(&f, ts, "nonce", shapes[i], now, &why) ==
		    CH_NOTICE_BAD_SIGNATURE);
	snprintf(bad, sizeof bad, " %s", sig);		/* leading space */
	CHECK(verify_headers(&f, ts, "nonce", bad, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	snprintf(bad, sizeof bad, "%.172s\n%s", sig, sig + 172);	/* line break */
	CHECK(verify_headers(&f, ts, "nonce", bad, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	snprintf(bad, sizeof bad, "%.340s", sig);	/* 255 bytes */
	CHECK(verify_headers(&f, ts, "nonce", bad, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	snprintf(bad, sizeof bad, "%sAAAA", sig);	/* 258 bytes */
	CHECK(verify_headers(&f, ts, "nonce", bad, now, &why) == CH_NOTICE_BAD_SIGNATURE);
	memcpy(bad, sig, n + 1);			/* url-safe alphabet */
	for (size_t i = 0; i < n; i++)
		bad[i] = bad[i] == '+' ? '-' : bad[i] == '/' ? '_' : bad[i];
	if (strcmp(bad, sig) != 0)
		CHECK(verify_headers(&f, ts, "nonce", bad, now, &why) ==
		    CH_NOTICE_BAD_SIGNATURE);
	/* And the untouched one still verifies. */
	CHECK(verify_headers(&f, ts, "nonce", sig, now, &why) == CH_NOTICE_OK);
	teardown(&f);
	return 0;
}

/* Replaces the first from in good_body with to (a new malloc'd body). */
static char *
edit(const char *from, const char *to)
{
	const char *p = strstr(good_body, from);
	size_t n = strlen(good_body) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "\"%s\" not in the body\n", from);
		abort();
	}
	snprintf(out, n, "%.*s%s%s", (int)(p - good_body), good_body, to,
	    p + strlen(from));
	return out;
}

/* Each edit of the body, signed correctly, is verified but refused. */
static int
check_malformed(fixture_t *f, const char *const (*edits)[2], size_t n)
{
	ch_paygw_txn_t txn;
	const char *why = NULL;

	for (size_t i = 0; i < n; i++) {
		char *body = edit(edits[i][0], edits[i][1]);
		ch_paygw_notice_result_t r = verify_signed(f, f->key, body, &txn,
		    &why);

		if (r != CH_NOTICE_MALFORMED) {
			fprintf(stderr, "edit %zu (%s -> %s): result %d\n", i,
			    edits[i][0], edits[i][1], (int)r);
			free(body);
			return 1;
		}
		CHECK(strncmp(why, "notification body: ", 19) == 0);
		CHECK(txn.out_trade_no == NULL && txn.notification_id == NULL);
		free(body);
	}
	return 0;
}

int
test_paygw_notice_event_type(void)
{
	fixture_t f;
	static const char *const edits[][2] = {
		{ "TRANSACTION.SUCCESS", "REFUND.SUCCESS" },
		{ "TRANSACTION.SUCCESS", "transaction.success" },
		{ "\"trade_state\":\"SUCCESS\"", "\"trade_state\":\"NOTPAY\"" },
		{ "\"trade_state\":\"SUCCESS\"", "\"trade_state\":\"CLOSED\"" },
		{ "\"event_type\":\"TRANSACTION.SUCCESS\"", "\"event_type\":null" },
	};

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	CHECK(check_malformed(&f, edits, sizeof edits / sizeof edits[0]) == 0);
	teardown(&f);
	return 0;
}

int
test_paygw_notice_fields(void)
{
	fixture_t f;
	static const char *const edits[][2] = {
		/* missing members, at each level */
		{ "\"id\":\"9f1c2d3e-4b5a-6978-8c0d-1e2f3a4b5c6d\",", "" },
		{ "\"create_time\":\"2026-11-24T10:54:03+08:00\",", "" },
		{ "\"transaction_id\":\"4200001234202611241234567890\",", "" },
		{ "\"out_trade_no\":\"" OTN "\",", "" },
		{ "\"success_time\":\"2026-11-24T10:54:02+08:00\",", "" },
		{ "\"total\":40000,", "" },
		{ ",\"currency\":\"CNY\"", "" },
		/* members we do not know */
		{ "\"event_type\"", "\"extra\":1,\"event_type\"" },
		{ "\"trade_state\"", "\"payer\":{},\"trade_state\"" },
		/* a duplicate key, which JSON allows and we do not */
		{ "\"trade_state\"", "\"trade_state\":\"SUCCESS\",\"trade_state\"" },
		/* bad values */
		{ "\"id\":\"9f1c2d3e", "\"id\":\"9f1c 2d3e" },
		{ "4200001234202611241234567890", "" },
		{ "4200001234202611241234567890", "42/00" },
		{ OTN "\"", "CH/../x\"" },
		{ "2026-11-24T10:54:02+08:00", "yesterday" },
		{ "2026-11-24T10:54:02+08:00", "2026-11-24 10:54:02" },
		{ "2026-11-24T10:54:03+08:00", "now" },
		{ "\"CNY\"", "\"cny\"" },
		{ "\"CNY\"", "\"RMB1\"" },
		{ "\"resource\":{", "\"resource\":[{" },
		{ "{\"id\"", "[{\"id\"" },
		{ "{\"id\"", "{{\"id\"" },
	};

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	CHECK(check_malformed(&f, edits, sizeof edits / sizeof edits[0]) == 0);
	teardown(&f);
	return 0;
}

int
test_paygw_notice_amount(void)
{
	fixture_t f;
	static const char *const edits[][2] = {
		{ "\"total\":40000", "\"total\":40000.0" },
		{ "\"total\":40000", "\"total\":4e4" },
		{ "\"total\":40000", "\"total\":\"40000\"" },
		{ "\"total\":40000", "\"total\":0" },
		{ "\"total\":40000", "\"total\":-40000" },
		{ "\"total\":40000", "\"total\":true" },
		{ "\"total\":40000", "\"total\":null" },
		{ "\"total\":40000", "\"total\":99999999999999999999999" },
	};

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	CHECK(check_malformed(&f, edits, sizeof edits / sizeof edits[0]) == 0);
	teardown(&f);
	return 0;
}

/* What ch_paygw_config_from_env() makes of the environment as it is now;
 * the settings it reads are freed at once. */
static ch_paygw_config_result_t
read_config(void)
{
	ch_paygw_config_t *cfg = NULL;
	ch_paygw_config_result_t r = ch_paygw_config_from_env(&cfg);

	if ((r == CH_PAYGW_CONFIG_OK) != (cfg != NULL))
		r = (ch_paygw_config_result_t)-1;
	ch_paygw_config_free(cfg);
	return r;
}

static void
unset_env(void)
{
	const char *names[] = { "CERTHALL_PAY_PROVIDER",
	    "CERTHALL_PAY_GATEWAY_URL", "CERTHALL_PAY_MERCHANT_ID",
	    "CERTHALL_PAY_MERCHANT_KEY_FILE", "CERTHALL_PAY_GATEWAY_PUBKEY_FILE",
	    "CERTHALL_PAY_NOTIFY_URL", "CERTHALL_PAY_ORDER_TTL", NULL };

	for (int i = 0; names[i] != NULL; i++)
		unsetenv(names[i]);
}

int
test_paygw_config_refusals(void)
{
	fixture_t f;
	EVP_PKEY *ec, *small;
	char other[128];

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	/* Nothing set: no gateway, which is not an error ... */
	unset_env();
	CHECK(read_config() == CH_PAYGW_CONFIG_NONE);
	setenv("CERTHALL_PAY_GATEWAY_URL", "", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_NONE);
	/* ... but a bad order lifetime is, gateway or not. */
	setenv("CERTHALL_PAY_ORDER_TTL", "0", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	/* One set, the others not: a half-made configuration. */
	unset_env();
	setenv("CERTHALL_PAY_PROVIDER", "sandbox", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);

	set_env(&f, "http://127.0.0.1:1");
	CHECK(read_config() == CH_PAYGW_CONFIG_OK);
	unsetenv("CERTHALL_PAY_NOTIFY_URL");
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	set_env(&f, "ftp://127.0.0.1:1");
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	set_env(&f, "http://127.0.0.1:1");
	setenv("CERTHALL_PAY_PROVIDER", "wechat", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	set_env(&f, "http://127.0.0.1:1");
	setenv("CERTHALL_PAY_MERCHANT_ID", "m 1", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	set_env(&f, "http://127.0.0.1:1");
	setenv("CERTHALL_PAY_MERCHANT_KEY_FILE", "/nonexistent/merchant.key", 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	/* A merchant key unfit for a header. */
	snprintf(other, sizeof other, "%s/other.pub", f.dir);
	set_env(&f, "http://127.0.0.1:1");
	CHECK(write_file(other, "mk 3c1f\n") == 0);
	setenv("CERTHALL_PAY_MERCHANT_KEY_FILE", other, 1);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	/* The order lifetime: 1 s to 7 days, whole seconds. */
	set_env(&f, "http://127.0.0.1:1");
	for (int i = 0; i < 5; i++) {
		const char *bad[] = { "0", "-5", "604801", "60s", " 60" };

		setenv("CERTHALL_PAY_ORDER_TTL", bad[i], 1);
		CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	}
	setenv("CERTHALL_PAY_ORDER_TTL", "604800", 1);
	CHECK(make_client(&f) == 0 && ch_paygw_order_ttl(f.gw) == 604800);
	unsetenv("CERTHALL_PAY_ORDER_TTL");
	CHECK(make_client(&f) == 0 && ch_paygw_order_ttl(f.gw) == 7200);
	CHECK_STR(ch_paygw_provider(f.gw), "sandbox");
	/* Keys unfit for the gateway's signatures. */
	set_env(&f, "http://127.0.0.1:1");
	setenv("CERTHALL_PAY_GATEWAY_PUBKEY_FILE", other, 1);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CHECK(ec != NULL && write_pubkey(other, ec) == 0);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CHECK(small != NULL && write_pubkey(other, small) == 0);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	CHECK(write_file(other, "not a key\n") == 0);
	CHECK(read_config() == CH_PAYGW_CONFIG_BAD);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(small);
	unset_env();
	teardown(&f);
	return 0;
}

/* ---- the client against canned answers ------------------------------ */

int
test_paygw_client_answers(void)
{
	fixture_t f;
	ch_pool_t *p = ch_pool_new();
	const char *paid = "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
	    "\"SUCCESS\",\"transaction_id\":\"T4200001\",\"amount\":{\"total\":"
	    "40000,\"currency\":\"CNY\"},\"success_time\":"
	    "\"2026-11-24T10:54:02+08:00\"}";
	const char *answers[] = {
		canned_answer(p, "201 Created", "{\"prepay_id\":\"wx24105400\","
		    "\"pay_url\":\"http://127.0.0.1:9/pay/wx24105400\"}"),
		canned_answer(p, "409 Conflict", "{\"code\":\"ORDER_MISMATCH\","
		    "\"message\":\"another order\\nwith this number\"}"),
		canned_answer(p, "200 OK", paid),
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
		    "\"NOTPAY\",\"amount\":{\"total\":40000,\"currency\":\"CNY\"}}"),
		canned_answer(p, "404 Not Found", "{\"code\":\"ORDER_NOT_EXIST\"}"),
		canned_answer(p, "503 Service Unavailable", "{}"),
		/* 2xx answers that break the protocol */
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
		    "\"SUCCESS\",\"amount\":{\"total\":40000,\"currency\":\"CNY\"}}"),
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"CH1\",\"trade_state\":"
		    "\"NOTPAY\",\"amount\":{\"total\":40000,\"currency\":\"CNY\"}}"),
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
		    "\"NOTPAY\",\"amount\":{\"total\":400.0,\"currency\":\"CNY\"}}"),
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
		    "\"PAYING\",\"amount\":{\"total\":400,\"currency\":\"CNY\"}}"),
		canned_answer(p, "200 OK", "{\"out_trade_no\":\"" OTN "\",\"trade_state\":"
		    "\"NOTPAY\",\"amount\":{\"total\":400,\"currency\":\"CNY\"},"
		    "\"x\":1}"),
		canned_answer(p, "200 OK", "not json"),
		"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\n"
		    "Connection: close\r\nContent-Length: 0\r\n\r\n",
		canned_answer(p, "401 Unauthorized", "{\"code\":\"SIGN_ERROR\"}"),
		"",		/* the connection closed without an answer */
		/* close */
		"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		canned_answer(p, "409 Conflict", "{\"code\":\"ORDERPAID\","
		    "\"message\":\"order paid\"}"),
		/* refunds */
		canned_answer(p, "200 OK", "{\"refund_id\":\"R5000\",\"status\":"
		    "\"PROCESSING\"}"),
		canned_answer(p, "400 Bad Request", "{\"code\":\"NOT_ENOUGH\","
		    "\"message\":\"\xe4\xbd\x99\xe9\xa2\x9d\xe4\xb8\x8d\xe8\xb6\xb3\"}"),
		canned_answer(p, "200 OK", "{\"refund_id\":\"R5000\",\"status\":"
		    "\"DONE\"}"),
		canned_answer(p, "200 OK", "{\"refund_id\":\"R5000\",\"status\":"
		    "\"ABNORMAL\"}"),
		NULL,
	};
	ch_paygw_order_t order = { .out_trade_no = OTN,
	    .description = "四川CA 数字证书 新办 (申请 1024)",
	    .amount_fen = 40000, .expires_at = 1795488840 };
	const char *prepay, *pay_url, *why, *rid, *state, *log;
	ch_paygw_txn_t txn;
	char url[64], logpath[128];
	pid_t pid;
	int status;

	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	snprintf(logpath, sizeof logpath, "%s/requests.log", f.dir);
	pid = canned_start(answers, logpath, url, sizeof url);
	CHECK(pid > 0);
	/* Read once: the client made after the environment and the key
	 * files are gone still carries the merchant key (checked in the
	 * requests below), as a worker forked after the start does. */
	ch_paygw_free(f.gw);
	ch_paygw_config_free(f.cfg);
	f.gw = NULL;
	set_env(&f, url);
	CHECK(ch_paygw_config_from_env(&f.cfg) == CH_PAYGW_CONFIG_OK);
	unset_env();
	CHECK(unlink(f.keyfile) == 0 && unlink(f.pub) == 0);
	CHECK((f.gw = ch_paygw_new(f.cfg)) != NULL);

	CHECK(ch_paygw_create(f.gw, f.pool, &order, &prepay, &pay_url, &why) ==
	    CH_PAYGW_OK);
	CHECK_STR(prepay, "wx24105400");
	CHECK_STR(pay_url, "http://127.0.0.1:9/pay/wx24105400");
	CHECK(ch_paygw_create(f.gw, f.pool, &order, &prepay, &pay_url, &why) ==
	    CH_PAYGW_REFUSED);
	CHECK_STR(why, "HTTP 409 ORDER_MISMATCH: another order?with this number");

	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) == CH_PAYGW_OK);
	CHECK_STR(txn.trade_state, "SUCCESS");
	CHECK_STR(txn.transaction_id, "T4200001");
	CHECK_STR(txn.success_time, "2026-11-24T10:54:02+08:00");
	CHECK(txn.amount_fen == 40000 && txn.notification_id == NULL);
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) == CH_PAYGW_OK);
	CHECK_STR(txn.trade_state, "NOTPAY");
	CHECK(txn.transaction_id == NULL && txn.success_time == NULL);
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) == CH_PAYGW_REFUSED);
	CHECK_STR(why, "HTTP 404 ORDER_NOT_EXIST");
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
	    CH_PAYGW_UNAVAILABLE);
	CHECK_STR(why, "gateway answered HTTP 503");
	for (int i = 0; i < 6; i++) {
		CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
		    CH_PAYGW_UNAVAILABLE);
		CHECK(strncmp(why, "malformed gateway answer", 24) == 0);
		CHECK(txn.trade_state == NULL && txn.amount_fen == -1);
	}
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
	    CH_PAYGW_UNAVAILABLE);		/* 302, not followed */
	CHECK_STR(why, "gateway answered HTTP 302");
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
	    CH_PAYGW_UNAVAILABLE);		/* our credentials */
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
	    CH_PAYGW_UNAVAILABLE);		/* no answer */
	CHECK(strncmp(why, "gateway unreachable: ", 21) == 0);

	CHECK(ch_paygw_close(f.gw, f.pool, OTN, &why) == CH_PAYGW_OK);
	CHECK(ch_paygw_close(f.gw, f.pool, OTN, &why) == CH_PAYGW_REFUSED);
	CHECK_STR(why, "HTTP 409 ORDERPAID: order paid");

	CHECK(ch_paygw_refund(f.gw, f.pool, "RF202611241054000123456789",
	    "T4200001", 40000, "逾期支付，自动退款", &rid, &state, &why) ==
	    CH_PAYGW_OK);
	CHECK_STR(rid, "R5000");
	CHECK_STR(state, "PROCESSING");
	CHECK(ch_paygw_refund(f.gw, f.pool, "RF202611241054000123456789",
	    "T4200001", 40000, "r", &rid, &state, &why) == CH_PAYGW_REFUSED);
	CHECK_STR(why, "HTTP 400 NOT_ENOUGH: ????????????");
	CHECK(ch_paygw_refund_query(f.gw, f.pool, "RF202611241054000123456789",
	    &state, &why) == CH_PAYGW_UNAVAILABLE);	/* DONE: not a status */
	CHECK(ch_paygw_refund_query(f.gw, f.pool, "RF202611241054000123456789",
	    &state, &why) == CH_PAYGW_OK);
	CHECK_STR(state, "ABNORMAL");

	/* Refused before anything is sent. */
	CHECK(ch_paygw_query(f.gw, f.pool, "../admin", &txn, &why) ==
	    CH_PAYGW_REFUSED);
	CHECK(ch_paygw_close(f.gw, f.pool, "a/b", &why) == CH_PAYGW_REFUSED);

	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	log = canned_slurp(logpath);
	CHECK(log != NULL);
	CHECK(strstr(log, "POST /v3/orders HTTP/1.1\r\n") == log);
	CHECK(strstr(log, "\r\nAuthorization: Bearer " MERCHANT_KEY "\r\n") != NULL);
	CHECK(strstr(log, "\r\nX-Merchant-Id: " MERCHANT_ID "\r\n") != NULL);
	CHECK(strstr(log, "\"out_trade_no\":\"" OTN "\"") != NULL);
	CHECK(strstr(log, "\"amount\":{\"total\":40000,\"currency\":\"CNY\"}") != NULL);
	CHECK(strstr(log, "\"notify_url\":\"http://127.0.0.1:8080/api/v1/"
	    "payments/notify/sandbox\"") != NULL);
	CHECK(strstr(log, "\"time_expire\":\"2026-11-24T10:54:00+08:00\"") != NULL);
	CHECK(strstr(log, "GET /v3/orders/" OTN " HTTP/1.1\r\n") != NULL);
	CHECK(strstr(log, "POST /v3/orders/" OTN "/close HTTP/1.1\r\n") != NULL);
	CHECK(strstr(log, "\"amount\":{\"refund\":40000,\"total\":40000,"
	    "\"currency\":\"CNY\"}") != NULL);
	CHECK(strstr(log, "GET /v3/refunds/RF202611241054000123456789 ") != NULL);
	CHECK(strstr(log, "/admin") == NULL);
	ch_pool_free(p);
	teardown(&f);
	return 0;
}

int
test_paygw_client_unreachable(void)
{
	fixture_t f;
	ch_paygw_txn_t txn;
	const char *why = NULL, *state;
	long long t0;

	/* Port 1 on loopback: refused at once. */
	CHECK(setup(&f, "http://127.0.0.1:1") == 0);
	t0 = (long long)time(NULL);
	CHECK(ch_paygw_query(f.gw, f.pool, OTN, &txn, &why) ==
	    CH_PAYGW_UNAVAILABLE);
	CHECK(strncmp(why, "gateway unreachable: ", 21) == 0);
	CHECK(ch_paygw_refund_query(f.gw, f.pool, "RF1", &state, &why) ==
	    CH_PAYGW_UNAVAILABLE);
	CHECK((long long)time(NULL) - t0 < 5);
	teardown(&f);
	return 0;
}

int
test_paygw_unbase64(void)
{
	unsigned char out[8];

	/* RFC 4648 §10, and what the strict decoder refuses. */
	CHECK(ch_unbase64_strict("Zm9vYmFy", out, sizeof out) == 6 &&
	    memcmp(out, "foobar", 6) == 0);
	CHECK(ch_unbase64_strict("Zm9vYg==", out, sizeof out) == 4 &&
	    memcmp(out, "foob", 4) == 0);
	CHECK(ch_unbase64_strict("Zm9vYmE=", out, sizeof out) == 5 &&
	    memcmp(out, "fooba", 5) == 0);
	CHECK(ch_unbase64_strict("Zg==", out, sizeof out) == 1 && out[0] == 'f');
	CHECK(ch_unbase64_strict("+/+/", out, sizeof out) == 3);
	CHECK(ch_unbase64_strict("", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict("Zg", out, sizeof out) == -1);		/* unpadded */
	CHECK(ch_unbase64_strict("Zg=", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict("Zh==", out, sizeof out) == -1);	/* bits set */
	CHECK(ch_unbase64_strict("Zm9vYmF=", out, sizeof out) == -1);	/* bits set */
	CHECK(ch_unbase64_strict("Z===", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict("====", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict("Zg==Zg==", out, sizeof out) == -1);	/* '=' inside */
	CHECK(ch_unbase64_strict("-_-_", out, sizeof out) == -1);	/* base64url */
	CHECK(ch_unbase64_strict("Zm9v\nYmFy", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict(" Zm9vYmFy", out, sizeof out) == -1);
	CHECK(ch_unbase64_strict("Zm9vYmFyYmF6", out, 8) == -1);	/* 9 > cap */
	CHECK(ch_unbase64_strict("Zm9vYmFyYmE=", out, 8) == 8);
	return 0;
}
