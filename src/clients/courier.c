/*
 * The courier client over libcurl, and the check of the courier's signed
 * delivery callbacks (certhall/clients/courier.h; docs/CONTRACT.md
 * "Courier protocol").  What the courier sends is parsed strictly
 * (duplicate keys refused, exactly the members the protocol names), as
 * the payment gateway client does (src/clients/paygw.c).
 */
#include "certhall/clients/courier.h"
#include "certhall/base/crypto.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 5000L
#define ANSWER_MAX (16 * 1024)
#define KEY_MAX 256
#define JSON_DEPTH 3
#define SIG_B64_MAX 64		/* base64 of 32 bytes is 44 */

struct ch_courier_config {
	char *name;
	char *base_url;		/* without trailing '/' */
	char *notify_url;
	char key[KEY_MAX];	/* secret: cleansed by the free */
};

struct ch_courier {
	const ch_courier_config_t *cfg;
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	char answer[ANSWER_MAX];
	size_t answer_len;
	bool answer_cut;
};

static const char *const courier_vars[] = {
	"CERTHALL_COURIER_NAME", "CERTHALL_COURIER_URL",
	"CERTHALL_COURIER_KEY_FILE", "CERTHALL_COURIER_NOTIFY_URL",
};
#define NCOURIER_VARS (sizeof courier_vars / sizeof courier_vars[0])

/* min..max characters of [A-Za-z0-9_-] (and '-' only where dash). */
static bool
token_ok(const char *s, size_t min, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n < min || n > max)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") == n;
}

static bool
http_url(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 ||
	    strncmp(s, "https://", 8) == 0) && strlen(s) < 2048 &&
	    strpbrk(s, " \t\r\n") == NULL;
}

ch_courier_config_result_t
ch_courier_config_from_env(ch_courier_config_t **out)
{
	const char *v[NCOURIER_VARS];
	ch_courier_config_t *cfg;
	size_t set = 0, n;

	*out = NULL;
	for (size_t i = 0; i < NCOURIER_VARS; i++) {
		v[i] = getenv(courier_vars[i]);
		set += v[i] != NULL && *v[i] != '\0';
	}
	if (set == 0)
		return CH_COURIER_CONFIG_NONE;
	for (size_t i = 0; i < NCOURIER_VARS; i++)
		if (v[i] == NULL || *v[i] == '\0') {
			ch_error("courier: %s is not set", courier_vars[i]);
			return CH_COURIER_CONFIG_BAD;
		}
	if (!token_ok(v[0], 1, 32) || !http_url(v[1]) || !http_url(v[3])) {
		ch_error("courier: CERTHALL_COURIER_NAME must be 1-32 of "
		    "[A-Za-z0-9_-], the URLs http(s) URLs");
		return CH_COURIER_CONFIG_BAD;
	}
	cfg = ch_xmalloc(sizeof *cfg);
	memset(cfg, 0, sizeof *cfg);
	n = strlen(v[1]);
	while (n > 0 && v[1][n - 1] == '/')
		n--;
	if ((cfg->name = strdup(v[0])) == NULL ||
	    (cfg->base_url = strndup(v[1], n)) == NULL ||
	    (cfg->notify_url = strdup(v[3])) == NULL)
		ch_oom();
	if (ch_read_secret(v[2], cfg->key, sizeof cfg->key) != 0 ||
	    strlen(cfg->key) < 16 || strspn(cfg->key,
	    "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != strlen(cfg->key)) {
		ch_error("courier key \"%s\" is unreadable, shorter than 16 "
		    "characters or not printable ASCII", v[2]);
		ch_courier_config_free(cfg);
		return CH_COURIER_CONFIG_BAD;
	}
	*out = cfg;
	return CH_COURIER_CONFIG_OK;
}

void
ch_courier_config_free(ch_courier_config_t *cfg)
{
	if (cfg == NULL)
		return;
	OPENSSL_cleanse(cfg->key, sizeof cfg->key);
	free(cfg->name);
	free(cfg->base_url);
	free(cfg->notify_url);
	free(cfg);
}

ch_courier_t *
ch_courier_new(const ch_courier_config_t *cfg)
{
	char auth[KEY_MAX + 32];
	const char *lines[] = { auth, "Accept: application/json", "Expect:",
	    "Content-Type: application/json; charset=utf-8" };
	ch_courier_t *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ch_error("curl_global_init failed");
		return NULL;
	}
	c = ch_xmalloc(sizeof *c);
	memset(c, 0, sizeof *c);
	c->cfg = cfg;
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->key);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		struct curl_slist *l = curl_slist_append(c->headers, lines[i]);

		if (l == NULL)
			ch_oom();
		c->headers = l;
	}
	OPENSSL_cleanse(auth, sizeof auth);
	if ((c->curl = curl_easy_init()) == NULL) {
		ch_error("curl_easy_init failed");
		ch_courier_free(c);
		return NULL;
	}
	return c;
}

void
ch_courier_free(ch_courier_t *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c);
	curl_global_cleanup();
}

const char *
ch_courier_name(const ch_courier_t *c)
{
	return c->cfg->name;
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ch_courier_t *c = userdata;
	size_t n = size * nmemb, room = sizeof c->answer - c->answer_len;

	if (n > room) {
		c->answer_cut = true;
		n = room;
	}
	memcpy(c->answer + c->answer_len, ptr, n);
	c->answer_len += n;
	return size * nmemb;
}

/* POSTs data to path; the HTTP status in *status, or -1 (transport
 * failure, *why set). */
static int
post(ch_courier_t *c, ch_pool_t *pool, const char *path, const char *data,
    long *status, const char **why)
{
	const char *url = ch_psprintf(pool, "%s%s", c->cfg->base_url, path);
	CURLcode cc;

	curl_easy_reset(c->curl);
	c->errbuf[0] = '\0';
	c->answer_len = 0;
	c->answer_cut = false;
	if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
	    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, data) != CURLE_OK) {
		*why = "libcurl refused an option";
		return -1;
	}
	cc = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	if (cc != CURLE_OK) {
		*why = ch_psprintf(pool, "courier unreachable: %s",
		    c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

ch_courier_result_t
ch_courier_waybill(ch_courier_t *c, ch_pool_t *pool,
    const ch_courier_parcel_t *p, const char **tracking_no, const char **why)
{
	json_t *body, *ans = NULL;
	const char *no = NULL;
	ch_json_error_t jerr;
	json_error_t err;
	char *data;
	long status = 0;
	int rc;

	*tracking_no = NULL;
	body = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "reference",
	    p->reference, "recipient", p->recipient, "phone", p->phone,
	    "address", p->address, "notify_url", c->cfg->notify_url);
	if (body == NULL || (data = json_dumps(body, JSON_COMPACT)) == NULL)
		ch_oom();
	json_decref(body);
	rc = post(c, pool, "/waybills", data, &status, why);
	free(data);
	if (rc != 0)
		return CH_COURIER_UNAVAILABLE;
	if (status == 401 || status == 403)
		ch_error("courier refused our key (HTTP %ld)", status);
	if (status >= 400 && status < 500 && status != 401 && status != 403 &&
	    status != 408 && status != 429) {
		*why = ch_psprintf(pool, "courier answered HTTP %ld", status);
		return CH_COURIER_REFUSED;
	}
	if ((status != 200 && status != 201) || c->answer_cut) {
		*why = ch_psprintf(pool, "courier answered HTTP %ld", status);
		return CH_COURIER_UNAVAILABLE;
	}
	ans = ch_pool_json(pool, ch_json_parse(c->answer, c->answer_len,
	    JSON_DEPTH, &jerr));
	if (ans == NULL || json_unpack_ex(ans, &err, JSON_STRICT,
	    "{s:s, s:s}", "reference", &data, "tracking_no", &no) != 0 ||
	    strcmp(data, p->reference) != 0 || !token_ok(no, 6, 32) ||
	    strchr(no, '_') != NULL) {
		*why = "malformed courier answer";
		return CH_COURIER_UNAVAILABLE;
	}
	*tracking_no = ch_pstrdup(pool, no);
	return CH_COURIER_OK;
}

/* The HMAC of the callback, base64, into out (SIG_B64_MAX). */
static void
notice_mac(const ch_courier_t *c, const char *timestamp, const char *nonce,
    const char *body, size_t body_len, char out[SIG_B64_MAX])
{
	unsigned char mac[CH_SHA256_LEN];
	size_t head = strlen(timestamp) + strlen(nonce) + 2;
	char *msg = ch_xmalloc(head + body_len + 1);

	snprintf(msg, head + 1, "%s\n%s\n", timestamp, nonce);
	memcpy(msg + head, body, body_len);
	msg[head + body_len] = '\n';
	ch_hmac_sha256(c->cfg->key, strlen(c->cfg->key), msg, head + body_len
	    + 1, mac);
	free(msg);
	ch_base64(mac, sizeof mac, out);
}

/* Reads a verified body into *out; NULL, or what is wrong. */
static const char *
notice_body(ch_pool_t *pool, const char *body, size_t body_len,
    ch_courier_event_t *out)
{
	const char *event = NULL;
	ch_json_error_t jerr;
	json_error_t err;
	json_t *doc;
	size_t n;

	doc = ch_pool_json(pool, ch_json_parse(body, body_len, JSON_DEPTH,
	    &jerr));
	if (doc == NULL)
		return "not JSON";
	if (json_unpack_ex(doc, &err, JSON_STRICT,
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s?s}", "event_id", &out->event_id,
	    "event_type", &event, "tracking_no", &out->tracking_no,
	    "delivered_at", &out->delivered_at, "signed_by_name",
	    &out->signed_by_name, "check_kind", &out->check_kind,
	    "authorisation", &out->authorisation) != 0)
		return ch_pstrdup(pool, err.text);
	if (strcmp(event, "DELIVERED") != 0)
		return "event_type is not DELIVERED";
	if (!token_ok(out->event_id, 1, 64) || !token_ok(out->tracking_no, 6, 32))
		return "bad event_id or tracking_no";
	n = strlen(out->delivered_at);
	if (n < 20 || n > 35 || out->delivered_at[4] != '-' ||
	    out->delivered_at[10] != 'T')
		return "delivered_at is not RFC 3339";
	if (strcmp(out->check_kind, "signature") != 0 &&
	    strcmp(out->check_kind, "id_check") != 0)
		return "check_kind is not signature or id_check";
	n = strlen(out->signed_by_name);
	if (n == 0 || n > 192 || (out->authorisation != NULL &&
	    (*out->authorisation == '\0' || strlen(out->authorisation) > 600)))
		return "signed_by_name or authorisation empty or too long";
	return NULL;
}

ch_courier_notice_t
ch_courier_verify_notice(const ch_courier_t *c, ch_pool_t *pool,
    const char *timestamp, const char *nonce, const char *signature,
    const char *body, size_t body_len, long long now,
    ch_courier_event_t *out, const char **why)
{
	char mac[SIG_B64_MAX];
	const char *bad;
	long long t;
	size_t tlen = timestamp != NULL ? strlen(timestamp) : 0;

	memset(out, 0, sizeof *out);
	if (timestamp == NULL || nonce == NULL || signature == NULL ||
	    body == NULL) {
		*why = "X-Courier-Timestamp, X-Courier-Nonce or "
		    "X-Courier-Signature missing";
		return CH_COURIER_NOTICE_BAD_SIGNATURE;
	}
	if (tlen == 0 || tlen > 12 || strspn(timestamp, "0123456789") != tlen) {
		*why = "X-Courier-Timestamp is not unix seconds";
		return CH_COURIER_NOTICE_BAD_SIGNATURE;
	}
	t = strtoll(timestamp, NULL, 10);
	if (t < now - CH_COURIER_NOTICE_WINDOW ||
	    t > now + CH_COURIER_NOTICE_WINDOW) {
		*why = ch_psprintf(pool, "X-Courier-Timestamp is %lld s from "
		    "our clock (window %d s)", t - now, CH_COURIER_NOTICE_WINDOW);
		return CH_COURIER_NOTICE_STALE;
	}
	if (!token_ok(nonce, 8, 64)) {
		*why = "X-Courier-Nonce is not 8-64 of [A-Za-z0-9_-]";
		return CH_COURIER_NOTICE_BAD_SIGNATURE;
	}
	notice_mac(c, timestamp, nonce, body, body_len, mac);
	if (strlen(signature) != strlen(mac) ||
	    !ch_equal(signature, mac, strlen(mac))) {
		*why = "signature does not verify";
		return CH_COURIER_NOTICE_BAD_SIGNATURE;
	}
	if ((bad = notice_body(pool, body, body_len, out)) != NULL) {
		memset(out, 0, sizeof *out);
		*why = ch_psprintf(pool, "callback body: %s", bad);
		return CH_COURIER_NOTICE_MALFORMED;
	}
	return CH_COURIER_NOTICE_OK;
}
