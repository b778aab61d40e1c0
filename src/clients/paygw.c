/*
 * The payment gateway client over libcurl, and the check of the gateway's
 * signed notifications (certhall/paygw.h; docs/CONTRACT.md "Payment gateway
 * protocol").
 *
 * Everything the gateway sends is parsed strictly: duplicate keys refused,
 * the exact members the protocol names (JSON_STRICT), integers that are
 * JSON integers, identifiers of a safe alphabet and bounded length, times
 * of RFC 3339 shape.  An answer that does not fit is the gateway's fault,
 * not the payer's: the caller sees CH_PAYGW_UNAVAILABLE and tries again
 * later, which every call allows (orders and refunds are idempotent on our
 * numbers).  A notification is not looked at before its signature
 * verifies with the public key from our configuration.
 */
#include "certhall/clients/paygw.h"
#include "certhall/base/crypto.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 5000L
#define ANSWER_MAX (64 * 1024)	/* more than any answer of the protocol */
#define KEY_MAX 512
#define ID_MAX 64		/* out_trade_no, transaction ids, nonces, ... */
#define URL_MAX 2048
#define SIG_B64_MAX 1024	/* base64 of a 4096-bit RSA signature is 684 */
#define DETAIL_MAX 120		/* gateway error text kept in *why */
#define JSON_DEPTH 4
#define MIN_RSA_BITS 2048
#define ORDER_TTL_DEFAULT 7200		/* seconds */
#define ORDER_TTL_MAX (7 * 86400)

struct ch_paygw {
	const ch_paygw_config_t *cfg;	/* borrowed: outlives the client */
	CURL *curl;			/* one handle: connections are reused */
	struct curl_slist *get_headers;	/* both carry the merchant key */
	struct curl_slist *post_headers;
	char errbuf[CURL_ERROR_SIZE];
	char answer[ANSWER_MAX];
	size_t answer_len;
	bool answer_cut;
};

typedef enum {
	VERB_GET,
	VERB_POST,
} verb_t;

/* ---- checks on what the gateway sends ------------------------------- */

/* 1..ID_MAX characters of [A-Za-z0-9_-]: safe in a path, a header and a
 * log line. */
static bool
safe_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= ID_MAX || !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static bool
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The shape of an RFC 3339 date-time: 2026-11-24T10:54:00(.123)?(Z|+08:00).
 * PostgreSQL checks the values when it stores one. */
static bool
rfc3339(const char *s)
{
	size_t n = s ? strlen(s) : 0, i = 19;

	if (n < 20 || n > 40 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) ||
	    s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' ||
	    !digits(s + 17, 2))
		return false;
	if (s[i] == '.') {
		size_t f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f || i - f > 9)
			return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') &&
	    digits(s + i + 1, 2) && s[i + 3] == ':' && digits(s + i + 4, 2);
}

static bool
currency_code(const char *s)
{
	return s != NULL && strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' &&
	    s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z';
}

static bool
http_url(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > URL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return (strncmp(s, "http://", 7) == 0 && n > 7) ||
	    (strncmp(s, "https://", 8) == 0 && n > 8);
}

/* Printable ASCII of text, at most DETAIL_MAX characters, for *why (it
 * lands in logs and last_error columns). */
static const char *
printable(ch_pool_t *pool, const char *text)
{
	return ch_pascii(pool, text, DETAIL_MAX);
}

/* ---- settings, read once ------------------------------------------- */

struct ch_paygw_config {
	char *provider;
	char *base_url;			/* without trailing '/' */
	char *notify_url;
	char *return_base;		/* the hall's origin, or NULL */
	char *merchant_id;
	char merchant_key[KEY_MAX];	/* secret: cleansed by the free */
	EVP_PKEY *pubkey;		/* the gateway's notification key */
	long long order_ttl_s;
};

/* The variables that configure a gateway: none set is "no gateway". */
static const char *const gateway_vars[] = {
	"CERTHALL_PAY_PROVIDER", "CERTHALL_PAY_GATEWAY_URL",
	"CERTHALL_PAY_MERCHANT_ID", "CERTHALL_PAY_MERCHANT_KEY_FILE",
	"CERTHALL_PAY_GATEWAY_PUBKEY_FILE", "CERTHALL_PAY_NOTIFY_URL",
};
#define NGATEWAY_VARS (sizeof gateway_vars / sizeof gateway_vars[0])

static const char *
setting(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		ch_error("payment gateway: %s is not set", name);
		return NULL;
	}
	return v;
}

static EVP_PKEY *
load_pubkey(const char *path)
{
	EVP_PKEY *pk = NULL;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		ch_error("payment gateway public key \"%s\": %s", path,
		    strerror(errno));
		return NULL;
	}
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (pk == NULL) {
		ch_error("payment gateway public key \"%s\" is not a PEM public "
		    "key", path);
		return NULL;
	}
	if (!EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < MIN_RSA_BITS) {
		ch_error("payment gateway public key \"%s\" is not an RSA key of "
		    "at least %d bits", path, MIN_RSA_BITS);
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* CERTHALL_PAY_ORDER_TTL: 1 to ORDER_TTL_MAX seconds, ORDER_TTL_DEFAULT
 * when unset.  0, or -1 after logging. */
static int
order_ttl(long long *out)
{
	const char *s = getenv("CERTHALL_PAY_ORDER_TTL");
	long v;

	*out = ORDER_TTL_DEFAULT;
	if (s == NULL || *s == '\0')
		return 0;
	if ((v = ch_parse_long(s, 10, ORDER_TTL_MAX)) < 1) {
		ch_error("CERTHALL_PAY_ORDER_TTL \"%s\" is not 1 to %d seconds",
		    s, ORDER_TTL_MAX);
		return -1;
	}
	*out = v;
	return 0;
}

/* The merchant key must fit in a header: printable ASCII, no space. */
static bool
header_safe(const char *key)
{
	for (const char *c = key; *c != '\0'; c++)
		if (*c < 0x21 || *c > 0x7e)
			return false;
	return true;
}

/* Where the gateway sends the payer back to: CERTHALL_PAY_RETURN_BASE, else
 * CERTHALL_URL (the hall's public origin, scheme://host[:port], no path);
 * neither set leaves it NULL (payers come back by hand).  0, or -1 after
 * logging when CERTHALL_PAY_RETURN_BASE is not an origin.  CERTHALL_URL
 * serves other programs too (a base with a path is theirs to take), so
 * when it is not an origin the way back is off, with a warning, and the
 * process still starts. */
static int
return_base(ch_paygw_config_t *cfg)
{
	const char *v = getenv("CERTHALL_PAY_RETURN_BASE");
	bool explicit = v != NULL && *v != '\0';
	size_t n;

	if (!explicit)
		v = getenv("CERTHALL_URL");
	if (v == NULL || *v == '\0')
		return 0;
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (!http_url(v) || n < 9 || memchr(v + 8, '/', n - 8) != NULL ||
	    strpbrk(v, "?#@\\") != NULL) {
		if (!explicit) {
			ch_warn("CERTHALL_URL \"%s\" is not an http(s) origin: "
			    "payers are not sent back from the gateway (set "
			    "CERTHALL_PAY_RETURN_BASE)", v);
			return 0;
		}
		ch_error("CERTHALL_PAY_RETURN_BASE \"%s\" is not an http(s) "
		    "origin", v);
		return -1;
	}
	if ((cfg->return_base = strndup(v, n)) == NULL)
		ch_oom();
	return 0;
}

ch_paygw_config_result_t
ch_paygw_config_from_env(ch_paygw_config_t **out)
{
	const char *v[NGATEWAY_VARS];
	ch_paygw_config_t *cfg = NULL;
	long long ttl;
	size_t n, set = 0;

	*out = NULL;
	for (size_t i = 0; i < NGATEWAY_VARS; i++) {
		const char *s = getenv(gateway_vars[i]);

		set += s != NULL && *s != '\0';
	}
	if (order_ttl(&ttl) != 0)
		return CH_PAYGW_CONFIG_BAD;
	if (set == 0)
		return CH_PAYGW_CONFIG_NONE;
	for (size_t i = 0; i < NGATEWAY_VARS; i++)
		if ((v[i] = setting(gateway_vars[i])) == NULL)
			return CH_PAYGW_CONFIG_BAD;
	/* v[]: provider, url, merchant id, key file, public key file, notify */
	/* The provider names rows in payment_order (a CHECK there). */
	if (strcmp(v[0], "sandbox") != 0) {
		ch_error("CERTHALL_PAY_PROVIDER \"%s\" is not a known provider "
		    "(sandbox)", v[0]);
		return CH_PAYGW_CONFIG_BAD;
	}
	if (!http_url(v[1]) || !http_url(v[5])) {
		ch_error("CERTHALL_PAY_GATEWAY_URL and CERTHALL_PAY_NOTIFY_URL "
		    "must be http(s) URLs");
		return CH_PAYGW_CONFIG_BAD;
	}
	if (!safe_id(v[2])) {
		ch_error("CERTHALL_PAY_MERCHANT_ID must be 1-%d of [A-Za-z0-9_-]",
		    ID_MAX);
		return CH_PAYGW_CONFIG_BAD;
	}
	cfg = ch_xmalloc(sizeof *cfg);
	memset(cfg, 0, sizeof *cfg);
	cfg->order_ttl_s = ttl;
	n = strlen(v[1]);
	while (n > 0 && v[1][n - 1] == '/')
		n--;
	if ((cfg->provider = strdup(v[0])) == NULL ||
	    (cfg->base_url = strndup(v[1], n)) == NULL ||
	    (cfg->merchant_id = strdup(v[2])) == NULL ||
	    (cfg->notify_url = strdup(v[5])) == NULL)
		ch_oom();
	if ((cfg->pubkey = load_pubkey(v[4])) == NULL ||
	    ch_read_secret(v[3], cfg->merchant_key,
	    sizeof cfg->merchant_key) != 0)
		goto bad;
	if (!header_safe(cfg->merchant_key)) {
		ch_error("payment merchant key contains characters unfit "
		    "for a header");
		goto bad;
	}
	if (return_base(cfg) != 0)
		goto bad;
	*out = cfg;
	return CH_PAYGW_CONFIG_OK;
bad:
	ch_paygw_config_free(cfg);
	return CH_PAYGW_CONFIG_BAD;
}

void
ch_paygw_config_free(ch_paygw_config_t *cfg)
{
	if (cfg == NULL)
		return;
	OPENSSL_cleanse(cfg->merchant_key, sizeof cfg->merchant_key);
	EVP_PKEY_free(cfg->pubkey);
	free(cfg->provider);
	free(cfg->base_url);
	free(cfg->notify_url);
	free(cfg->return_base);
	free(cfg->merchant_id);
	free(cfg);
}

/* ---- the client of a process ---------------------------------------- */

/* The headers every request carries (the key among them), and for POST
 * the body's type. */
static void
make_headers(ch_paygw_t *gw)
{
	char auth[KEY_MAX + 32], merchant[ID_MAX + 32];
	const char *lines[] = { auth, merchant, "Accept: application/json",
	    "Expect:", "Content-Type: application/json; charset=utf-8" };
	struct curl_slist **lists[2] = { &gw->get_headers, &gw->post_headers };

	snprintf(auth, sizeof auth, "Authorization: Bearer %s",
	    gw->cfg->merchant_key);
	snprintf(merchant, sizeof merchant, "X-Merchant-Id: %s",
	    gw->cfg->merchant_id);
	/* GET: all but the last line; POST: all of them. */
	for (size_t i = 0; i < 2; i++) {
		for (size_t j = 0; j < sizeof lines / sizeof lines[0] - 1 + i; j++) {
			struct curl_slist *l = curl_slist_append(*lists[i], lines[j]);

			if (l == NULL)
				ch_oom();
			*lists[i] = l;
		}
	}
	OPENSSL_cleanse(auth, sizeof auth);
}

ch_paygw_t *
ch_paygw_new(const ch_paygw_config_t *cfg)
{
	ch_paygw_t *gw;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ch_error("curl_global_init failed");
		return NULL;
	}
	gw = ch_xmalloc(sizeof *gw);
	memset(gw, 0, sizeof *gw);
	gw->cfg = cfg;
	make_headers(gw);
	if ((gw->curl = curl_easy_init()) == NULL) {
		ch_error("curl_easy_init failed");
		ch_paygw_free(gw);
		return NULL;
	}
	return gw;
}

void
ch_paygw_free(ch_paygw_t *gw)
{
	if (gw == NULL)
		return;
	if (gw->curl != NULL)
		curl_easy_cleanup(gw->curl);
	curl_slist_free_all(gw->get_headers);
	curl_slist_free_all(gw->post_headers);
	free(gw);
	curl_global_cleanup();
}

const char *
ch_paygw_provider(const ch_paygw_t *gw)
{
	return gw->cfg->provider;
}

long long
ch_paygw_order_ttl(const ch_paygw_t *gw)
{
	return gw->cfg->order_ttl_s;
}

/* s percent-encoded for a query value (RFC 3986 unreserved kept), in pool. */
static char *
query_escape(ch_pool_t *pool, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = ch_palloc(pool, strlen(s) * 3 + 1), *o = out;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL) {
			*o++ = (char)*c;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*c >> 4];
		*o++ = hex[*c & 0xf];
	}
	*o = '\0';
	return out;
}

const char *
ch_paygw_pay_url_return(const ch_paygw_t *gw, ch_pool_t *pool,
    const char *pay_url, const char *return_path)
{
	if (gw->cfg->return_base == NULL || pay_url == NULL ||
	    return_path == NULL)
		return pay_url;
	return ch_psprintf(pool, "%s%credirect_url=%s", pay_url,
	    strchr(pay_url, '?') != NULL ? '&' : '?', query_escape(pool,
	    ch_psprintf(pool, "%s%s", gw->cfg->return_base, return_path)));
}

/* ---- one exchange --------------------------------------------------- */

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ch_paygw_t *gw = userdata;
	size_t n = size * nmemb, room = sizeof gw->answer - gw->answer_len;

	if (n > room) {
		gw->answer_cut = true;
		n = room;
	}
	memcpy(gw->answer + gw->answer_len, ptr, n);
	gw->answer_len += n;
	return size * nmemb;
}

typedef struct {
	long status;
	json_t *json;		/* the body if it is JSON (pool-owned), or NULL */
} answer_t;

/*
 * Sends one request (body: a JSON object for POST, or NULL) and reads the
 * answer.  CH_PAYGW_OK with *ans filled when the gateway answered 2xx or
 * 4xx (the caller decides what that status means); CH_PAYGW_UNAVAILABLE
 * with *why for transport failures, timeouts, 3xx, 5xx, 408, 429, and
 * 401/403 (our credentials: nothing the payer or the refund did wrong, so
 * it is retried while an operator fixes them).
 */
static ch_paygw_result_t
exchange(ch_paygw_t *gw, ch_pool_t *pool, verb_t verb, const char *path,
    json_t *body, answer_t *ans, const char **why)
{
	char *url = ch_psprintf(pool, "%s%s", gw->cfg->base_url, path);
	char *data = NULL;
	ch_json_error_t jerr;
	CURLcode cc;
	bool ok;

	memset(ans, 0, sizeof *ans);
	if (body != NULL) {
		data = json_dumps(body, JSON_COMPACT);
		if (data == NULL)
			ch_oom();
	}
	curl_easy_reset(gw->curl);
	gw->errbuf[0] = '\0';
	gw->answer_len = 0;
	gw->answer_cut = false;
	ok = curl_easy_setopt(gw->curl, CURLOPT_URL, url) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_HTTPHEADER,
	        verb == VERB_POST ? gw->post_headers : gw->get_headers) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_USERAGENT,
	        "certhall/" CERTHALL_VERSION) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_ERRORBUFFER, gw->errbuf) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
	    curl_easy_setopt(gw->curl, CURLOPT_WRITEDATA, gw) == CURLE_OK;
	if (ok && verb == VERB_POST)
		ok = curl_easy_setopt(gw->curl, CURLOPT_POST, 1L) == CURLE_OK &&
		    curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDS, data) == CURLE_OK &&
		    curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDSIZE_LARGE,
		        (curl_off_t)strlen(data)) == CURLE_OK;
	if (!ok) {
		free(data);
		*why = "libcurl refused an option";
		ch_error("payment gateway: %s", *why);
		return CH_PAYGW_UNAVAILABLE;
	}
	cc = curl_easy_perform(gw->curl);
	/* The handle must not keep a pointer to freed memory. */
	curl_easy_setopt(gw->curl, CURLOPT_POSTFIELDS, NULL);
	free(data);
	if (cc != CURLE_OK) {
		*why = ch_psprintf(pool, "gateway unreachable: %s",
		    printable(pool, gw->errbuf[0] ? gw->errbuf
		    : curl_easy_strerror(cc)));
		return CH_PAYGW_UNAVAILABLE;
	}
	curl_easy_getinfo(gw->curl, CURLINFO_RESPONSE_CODE, &ans->status);
	if (ans->status == 401 || ans->status == 403) {
		ch_error("payment gateway refused our merchant credentials "
		    "(HTTP %ld)", ans->status);
		*why = ch_psprintf(pool, "gateway refused our credentials "
		    "(HTTP %ld)", ans->status);
		return CH_PAYGW_UNAVAILABLE;
	}
	if (ans->status < 200 || (ans->status >= 300 && ans->status < 400) ||
	    ans->status >= 500 || ans->status == 408 || ans->status == 429) {
		*why = ch_psprintf(pool, "gateway answered HTTP %ld",
		    ans->status);
		return CH_PAYGW_UNAVAILABLE;
	}
	if (gw->answer_cut) {
		*why = ch_psprintf(pool, "gateway answer larger than %d bytes",
		    ANSWER_MAX);
		return CH_PAYGW_UNAVAILABLE;
	}
	if (gw->answer_len > 0)
		ans->json = ch_pool_json(pool, ch_json_parse(gw->answer,
		    gw->answer_len, JSON_DEPTH, &jerr));
	return CH_PAYGW_OK;
}

/* What a 4xx answer says: "HTTP 409 ORDERPAID: message". */
static const char *
refusal(ch_pool_t *pool, const answer_t *ans)
{
	const char *code = json_string_value(json_object_get(ans->json, "code"));
	const char *msg = json_string_value(json_object_get(ans->json, "message"));

	return ch_psprintf(pool, "HTTP %ld%s%s%s%s", ans->status,
	    code ? " " : "", code ? printable(pool, code) : "",
	    msg ? ": " : "", msg ? printable(pool, msg) : "");
}

/* The gateway answered 2xx with something the protocol does not allow. */
static ch_paygw_result_t
malformed(ch_pool_t *pool, const answer_t *ans, const char *what,
    const char **why)
{
	*why = ch_psprintf(pool, "malformed gateway answer (HTTP %ld): %s",
	    ans->status, what);
	return CH_PAYGW_UNAVAILABLE;
}

/*
 * One call of the protocol: exchange() with body (a new reference, or NULL
 * when body_what says why the request cannot be sent; released here),
 * then CH_PAYGW_OK for the statuses ok1 and ok2 only: another 4xx is
 * CH_PAYGW_REFUSED with the gateway's words in *why, another 2xx a
 * malformed answer.
 */
static ch_paygw_result_t
call(ch_paygw_t *gw, ch_pool_t *pool, verb_t verb, const char *path,
    json_t *body, const char *body_what, long ok1, long ok2, answer_t *ans,
    const char **why)
{
	ch_paygw_result_t r;

	if (verb == VERB_POST && body == NULL) {
		*why = body_what;
		return CH_PAYGW_REFUSED;
	}
	r = exchange(gw, pool, verb, path, body, ans, why);
	json_decref(body);
	if (r != CH_PAYGW_OK || ans->status == ok1 || ans->status == ok2)
		return r;
	*why = refusal(pool, ans);
	return ans->status >= 400 ? CH_PAYGW_REFUSED
	    : malformed(pool, ans, "unexpected status", why);
}

/* Unpacks ans->json with fmt under JSON_STRICT (every member named, none
 * more); NULL, or what was wrong. */
static const char *
unpack(ch_pool_t *pool, const answer_t *ans, const char *fmt, ...)
{
	json_error_t err;
	va_list ap;
	int rc;

	if (!json_is_object(ans->json))
		return "not a JSON object";
	va_start(ap, fmt);
	rc = json_vunpack_ex(ans->json, &err, JSON_STRICT, fmt, ap);
	va_end(ap);
	return rc == 0 ? NULL : printable(pool, err.text);
}

/* ---- the calls ------------------------------------------------------ */

ch_paygw_result_t
ch_paygw_create(ch_paygw_t *gw, ch_pool_t *pool, const ch_paygw_order_t *o,
    const char **prepay_id, const char **pay_url, const char **why)
{
	char expire[32];
	answer_t ans;
	json_t *body;
	const char *bad;
	ch_paygw_result_t r;

	*prepay_id = *pay_url = NULL;
	if (!safe_id(o->out_trade_no) || o->amount_fen <= 0 ||
	    o->description == NULL || o->expires_at <= 0) {
		*why = "order not sendable: bad number, amount or expiry";
		return CH_PAYGW_REFUSED;
	}
	ch_time_shanghai(o->expires_at, expire);
	/* json_pack refuses a description that is not UTF-8. */
	body = json_pack("{s:s, s:s, s:{s:I, s:s}, s:s, s:s}",
	    "out_trade_no", o->out_trade_no, "description", o->description,
	    "amount", "total", (json_int_t)o->amount_fen, "currency", "CNY",
	    "notify_url", gw->cfg->notify_url, "time_expire", expire);
	r = call(gw, pool, VERB_POST, "/v3/orders", body,
	    "order not sendable: description is not UTF-8", 201, 200, &ans, why);
	if (r != CH_PAYGW_OK)
		return r;
	if ((bad = unpack(pool, &ans, "{s:s, s:s}", "prepay_id", prepay_id,
	    "pay_url", pay_url)) != NULL)
		return malformed(pool, &ans, bad, why);
	if (!safe_id(*prepay_id) || !http_url(*pay_url)) {
		*prepay_id = *pay_url = NULL;
		return malformed(pool, &ans, "bad prepay_id or pay_url", why);
	}
	return CH_PAYGW_OK;
}

/* Checks what a query or a notification says about a transaction; NULL,
 * or what is wrong. */
static const char *
check_txn(const ch_paygw_txn_t *t, bool paid)
{
	if (!safe_id(t->out_trade_no))
		return "bad out_trade_no";
	if (t->amount_fen <= 0)
		return "amount total must be a positive integer";
	if (!currency_code(t->currency))
		return "bad currency";
	if (paid || t->transaction_id != NULL)
		if (!safe_id(t->transaction_id))
			return "bad or missing transaction_id";
	if (paid || t->success_time != NULL)
		if (!rfc3339(t->success_time))
			return "bad or missing success_time";
	return NULL;
}

ch_paygw_result_t
ch_paygw_query(ch_paygw_t *gw, ch_pool_t *pool, const char *out_trade_no,
    ch_paygw_txn_t *out, const char **why)
{
	static const char *const states[] = {
		"NOTPAY", "SUCCESS", "CLOSED", "REFUND", NULL
	};
	json_int_t total = -1;
	answer_t ans;
	const char *bad;
	ch_paygw_result_t r;

	memset(out, 0, sizeof *out);
	out->amount_fen = -1;
	if (!safe_id(out_trade_no)) {
		*why = "bad out_trade_no";
		return CH_PAYGW_REFUSED;
	}
	r = call(gw, pool, VERB_GET, ch_psprintf(pool, "/v3/orders/%s",
	    out_trade_no), NULL, NULL, 200, 200, &ans, why);
	if (r != CH_PAYGW_OK)
		return r;
	bad = unpack(pool, &ans, "{s:s, s:s, s?s, s:{s:I, s:s}, s?s}",
	    "out_trade_no", &out->out_trade_no, "trade_state", &out->trade_state,
	    "transaction_id", &out->transaction_id, "amount", "total", &total,
	    "currency", &out->currency, "success_time", &out->success_time);
	out->amount_fen = total;
	if (bad != NULL)
		;
	else if (strcmp(out->out_trade_no, out_trade_no) != 0)
		bad = "another out_trade_no";
	else if (ch_code_index(states, out->trade_state) < 0)
		bad = "unknown trade_state";
	else
		bad = check_txn(out, strcmp(out->trade_state, "SUCCESS") == 0 ||
		    strcmp(out->trade_state, "REFUND") == 0);
	if (bad != NULL) {
		memset(out, 0, sizeof *out);
		out->amount_fen = -1;
		return malformed(pool, &ans, bad, why);
	}
	return CH_PAYGW_OK;
}

ch_paygw_result_t
ch_paygw_close(ch_paygw_t *gw, ch_pool_t *pool, const char *out_trade_no,
    const char **why)
{
	answer_t ans;

	if (!safe_id(out_trade_no)) {
		*why = "bad out_trade_no";
		return CH_PAYGW_REFUSED;
	}
	return call(gw, pool, VERB_POST, ch_psprintf(pool, "/v3/orders/%s/close",
	    out_trade_no), json_object(), NULL, 204, 200, &ans, why);
}

/* Reads {"refund_id","status"} with a status among allowed. */
static ch_paygw_result_t
refund_answer(ch_pool_t *pool, const answer_t *ans,
    const char *const *allowed, const char **refund_id, const char **state,
    const char **why)
{
	const char *bad = unpack(pool, ans, "{s:s, s:s}", "refund_id",
	    refund_id, "status", state);

	if (bad == NULL && !safe_id(*refund_id))
		bad = "bad refund_id";
	else if (bad == NULL && ch_code_index(allowed, *state) < 0)
		bad = "unknown refund status";
	if (bad != NULL) {
		*refund_id = *state = NULL;
		return malformed(pool, ans, bad, why);
	}
	return CH_PAYGW_OK;
}

ch_paygw_result_t
ch_paygw_refund(ch_paygw_t *gw, ch_pool_t *pool, const char *out_refund_no,
    const char *transaction_id, long long amount_fen, const char *reason,
    const char **refund_id, const char **state, const char **why)
{
	static const char *const states[] = { "SUCCESS", "PROCESSING", NULL };
	answer_t ans;
	json_t *body;
	ch_paygw_result_t r;

	*refund_id = *state = NULL;
	if (!safe_id(out_refund_no) || !safe_id(transaction_id) ||
	    amount_fen <= 0 || reason == NULL) {
		*why = "refund not sendable: bad number, transaction or amount";
		return CH_PAYGW_REFUSED;
	}
	/* Full refunds only: refund equals total. */
	body = json_pack("{s:s, s:s, s:{s:I, s:I, s:s}, s:s}",
	    "out_refund_no", out_refund_no, "transaction_id", transaction_id,
	    "amount", "refund", (json_int_t)amount_fen, "total",
	    (json_int_t)amount_fen, "currency", "CNY", "reason", reason);
	r = call(gw, pool, VERB_POST, "/v3/refunds", body,
	    "refund not sendable: reason is not UTF-8", 200, 201, &ans, why);
	if (r != CH_PAYGW_OK)
		return r;
	return refund_answer(pool, &ans, states, refund_id, state, why);
}

ch_paygw_result_t
ch_paygw_refund_query(ch_paygw_t *gw, ch_pool_t *pool,
    const char *out_refund_no, const char **state, const char **why)
{
	static const char *const states[] = {
		"SUCCESS", "PROCESSING", "ABNORMAL", NULL
	};
	const char *refund_id;
	answer_t ans;
	ch_paygw_result_t r;

	*state = NULL;
	if (!safe_id(out_refund_no)) {
		*why = "bad out_refund_no";
		return CH_PAYGW_REFUSED;
	}
	r = call(gw, pool, VERB_GET, ch_psprintf(pool, "/v3/refunds/%s",
	    out_refund_no), NULL, NULL, 200, 200, &ans, why);
	if (r != CH_PAYGW_OK)
		return r;
	return refund_answer(pool, &ans, states, &refund_id, state, why);
}

/* ---- notifications -------------------------------------------------- */

/* Whether sig verifies over "timestamp\nnonce\nbody\n" with the gateway's
 * key (RSA PKCS#1 v1.5, SHA-256). */
static bool
signature_ok(const ch_paygw_t *gw, const char *timestamp, const char *nonce,
    const unsigned char *sig, size_t siglen, const char *body,
    size_t body_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool ok;

	if (ctx == NULL)
		ch_oom();
	ok = EVP_DigestVerifyInit_ex(ctx, &pctx, "SHA256", NULL, NULL,
	    gw->cfg->pubkey, NULL) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, nonce, strlen(nonce)) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, body, body_len) == 1 &&
	    EVP_DigestVerifyUpdate(ctx, "\n", 1) == 1 &&
	    EVP_DigestVerifyFinal(ctx, sig, siglen) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* Reads a verified notification body into *out; NULL, or what is wrong. */
static const char *
notice_body(ch_pool_t *pool, const char *body, size_t body_len,
    ch_paygw_txn_t *out)
{
	const char *event = NULL, *created = NULL;
	json_int_t total = -1;
	ch_json_error_t jerr;
	answer_t doc = { .status = 200 };
	const char *bad;

	doc.json = ch_pool_json(pool, ch_json_parse(body, body_len, JSON_DEPTH,
	    &jerr));
	if (doc.json == NULL)
		return printable(pool, jerr.detail);
	bad = unpack(pool, &doc,
	    "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:{s:I, s:s}}}",
	    "id", &out->notification_id, "create_time", &created,
	    "event_type", &event, "resource",
	    "out_trade_no", &out->out_trade_no,
	    "transaction_id", &out->transaction_id,
	    "trade_state", &out->trade_state,
	    "success_time", &out->success_time,
	    "amount", "total", &total, "currency", &out->currency);
	if (bad != NULL)
		return bad;
	out->amount_fen = total;
	if (strcmp(event, "TRANSACTION.SUCCESS") != 0)
		return "event_type is not TRANSACTION.SUCCESS";
	if (strcmp(out->trade_state, "SUCCESS") != 0)
		return "trade_state is not SUCCESS";
	if (!safe_id(out->notification_id))
		return "bad notification id";
	if (!rfc3339(created))
		return "bad create_time";
	return check_txn(out, true);
}

ch_paygw_notice_result_t
ch_paygw_verify_notice(const ch_paygw_t *gw, ch_pool_t *pool,
    const char *timestamp, const char *nonce, const char *signature,
    const char *body, size_t body_len, long long now, ch_paygw_txn_t *out,
    const char **why)
{
	unsigned char sig[SIG_B64_MAX];
	size_t tlen = timestamp ? strlen(timestamp) : 0;
	long long t;
	long siglen;
	const char *bad;

	memset(out, 0, sizeof *out);
	out->amount_fen = -1;
	if (timestamp == NULL || nonce == NULL || signature == NULL ||
	    body == NULL) {
		*why = "X-Pay-Timestamp, X-Pay-Nonce or X-Pay-Signature missing";
		return CH_NOTICE_BAD_SIGNATURE;
	}
	/* The timestamp first, before any work on the key: a replayed or
	 * delayed notification costs us nothing. */
	if (tlen == 0 || tlen > 12 || !digits(timestamp, tlen)) {
		*why = "X-Pay-Timestamp is not unix seconds";
		return CH_NOTICE_BAD_SIGNATURE;
	}
	t = strtoll(timestamp, NULL, 10);
	if (t < now - CH_PAYGW_NOTICE_WINDOW || t > now + CH_PAYGW_NOTICE_WINDOW) {
		*why = ch_psprintf(pool, "X-Pay-Timestamp is %lld s from our "
		    "clock (window %d s)", t - now, CH_PAYGW_NOTICE_WINDOW);
		return CH_NOTICE_STALE;
	}
	/* Safe characters keep "timestamp\nnonce\nbody\n" unambiguous. */
	if (!safe_id(nonce)) {
		*why = "X-Pay-Nonce is not 1-64 of [A-Za-z0-9_-]";
		return CH_NOTICE_BAD_SIGNATURE;
	}
	if (strlen(signature) > SIG_B64_MAX ||
	    (siglen = ch_unbase64_strict(signature, sig, sizeof sig)) < 0) {
		*why = "X-Pay-Signature is not base64";
		return CH_NOTICE_BAD_SIGNATURE;
	}
	if ((size_t)siglen != (size_t)EVP_PKEY_get_size(gw->cfg->pubkey) ||
	    !signature_ok(gw, timestamp, nonce, sig, (size_t)siglen, body,
	    body_len)) {
		*why = "signature does not verify";
		return CH_NOTICE_BAD_SIGNATURE;
	}
	if ((bad = notice_body(pool, body, body_len, out)) != NULL) {
		memset(out, 0, sizeof *out);
		out->amount_fen = -1;
		*why = ch_psprintf(pool, "notification body: %s", bad);
		return CH_NOTICE_MALFORMED;
	}
	return CH_NOTICE_OK;
}
