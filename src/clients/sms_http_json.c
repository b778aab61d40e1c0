/*
 * The "http-json" SMS provider over libcurl (see certhall/sms.h for the
 * protocol).  One easy handle, reused, so the connection to the provider is
 * kept alive between messages.
 */
#include "certhall/clients/sms.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 10000L
#define RESPONSE_MAX (64 * 1024)	/* more than any answer we read */
#define DETAIL_MAX 100			/* provider error text kept */

struct http_json {
	ch_sms_provider_t base;		/* first: the provider "vtable" */
	CURL *curl;
	char *url;			/* {base}/v1/messages */
	struct curl_slist *headers;	/* includes Authorization */
	char errbuf[CURL_ERROR_SIZE];
};

struct response {
	char data[RESPONSE_MAX];
	size_t len;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct response *r = userdata;
	size_t n = size * nmemb, room = sizeof r->data - r->len;

	/* Keep the head, drop the rest: only a small JSON object matters. */
	memcpy(r->data + r->len, ptr, n < room ? n : room);
	r->len += n < room ? n : room;
	return n;
}

/* The provider's own "error" text, cut short and kept to printable ASCII
 * (it lands in a log line and in outbox.last_error). */
static const char *
provider_detail(json_t *resp, char *buf, size_t cap)
{
	const char *s = json_string_value(json_object_get(resp, "error"));
	size_t n = 0;

	if (s == NULL)
		s = "";
	for (; *s != '\0' && n + 1 < cap && n < DETAIL_MAX; s++)
		buf[n++] = (*s >= 0x20 && *s <= 0x7e) ? *s : '?';
	buf[n] = '\0';
	return buf;
}

/* Copies the provider's message id into ref; "" when there is none or it
 * is unfit to store. */
static void
provider_ref(json_t *resp, char *ref, size_t cap)
{
	const char *id = json_string_value(json_object_get(resp, "id"));

	ref[0] = '\0';
	if (id == NULL || *id == '\0' || strlen(id) >= cap)
		return;
	for (const char *c = id; *c != '\0'; c++)
		if (*c < 0x21 || *c > 0x7e)
			return;
	memcpy(ref, id, strlen(id) + 1);
}

static ch_sms_result_t
classify(long status, json_t *resp, const ch_sms_msg_t *msg,
    ch_sms_outcome_t *out)
{
	char detail[DETAIL_MAX + 1];

	provider_detail(resp, detail, sizeof detail);
	if (status >= 200 && status <= 299) {
		provider_ref(resp, out->ref, sizeof out->ref);
		if (out->ref[0] == '\0')
			ch_warn("provider accepted message \"%s\" without an id",
			    msg->message_id);
		return CH_SMS_SENT;
	}
	if (status == 409 && strcmp(detail, "duplicate message_id") == 0) {
		/* Delivered by an earlier attempt whose answer we lost. */
		provider_ref(resp, out->ref, sizeof out->ref);
		return CH_SMS_SENT;
	}
	snprintf(out->error, sizeof out->error, "HTTP %ld%s%s", status,
	    detail[0] ? ": " : "", detail);
	if (status == 401 || status == 403) {
		/* Our key, not this message, is wrong: keep the message while
		 * an operator fixes the key, and say so loudly. */
		ch_error("provider refused our credentials (HTTP %ld)", status);
		return CH_SMS_RETRY;
	}
	if (status == 408 || status == 425 || status == 429 || status >= 500)
		return CH_SMS_RETRY;
	if (status >= 400)
		return CH_SMS_PERMANENT;
	return CH_SMS_RETRY;	/* 1xx/3xx: a misconfigured URL, not the message */
}

static ch_sms_result_t
http_send(ch_sms_provider_t *p, const ch_sms_msg_t *msg, ch_sms_outcome_t *out)
{
	struct http_json *h = (struct http_json *)p;
	struct response *rb = NULL;
	json_t *params = NULL, *req = NULL, *resp = NULL;
	char *body = NULL;
	ch_sms_result_t r = CH_SMS_PERMANENT;
	long status = 0;
	CURLcode cc;

	params = json_loads(msg->params_json ? msg->params_json : "{}",
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(params)) {
		snprintf(out->error, sizeof out->error,
		    "params is not a JSON object");
		goto out;
	}
	/* json_pack refuses strings that are not UTF-8. */
	req = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}",
	    "message_id", msg->message_id, "phone", msg->phone,
	    "sign_name", CH_SMS_SIGN_NAME, "template", msg->template,
	    "params", params, "text", msg->text);
	if (req == NULL) {
		snprintf(out->error, sizeof out->error,
		    "message is not valid UTF-8");
		goto out;
	}
	body = json_dumps(req, JSON_COMPACT);
	if (body == NULL)
		ch_oom();
	rb = ch_xmalloc(sizeof *rb);
	rb->len = 0;
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, rb);
	cc = curl_easy_perform(h->curl);
	if (cc != CURLE_OK) {
		/* Refused, reset, timed out: the provider may or may not
		 * have it; the message_id makes trying again safe. */
		snprintf(out->error, sizeof out->error, "provider unreachable: %.200s",
		    h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		r = CH_SMS_RETRY;
		goto out;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	resp = json_loadb(rb->data, rb->len, 0, NULL);
	r = classify(status, resp, msg, out);
out:
	/* The handle must not keep pointers into freed memory. */
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, NULL);
	json_decref(resp);
	json_decref(req);
	json_decref(params);
	free(body);
	free(rb);
	return r;
}

static void
http_free(ch_sms_provider_t *p)
{
	struct http_json *h = (struct http_json *)p;

	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h->url);
	free(h);
}

static const ch_sms_provider_ops_t http_json_ops = {
	.name = "http-json",
	.send = http_send,
	.free = http_free,
};

/* Appends s to list; never fails (OOM policy of certhall/pool.h). */
static struct curl_slist *
header_add(struct curl_slist *list, const char *s)
{
	struct curl_slist *l = curl_slist_append(list, s);

	if (l == NULL)
		ch_oom();
	return l;
}

ch_sms_provider_t *
ch_sms_http_json_new(const char *base_url, const char *key)
{
	struct http_json *h;
	size_t n, klen = strlen(key);
	char *auth = NULL;

	if (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0) {
		ch_error("sms url \"%s\" is not an http(s) URL", base_url);
		return NULL;
	}
	for (const char *c = key; *c != '\0'; c++) {
		if (*c < 0x21 || *c > 0x7e) {
			ch_error("sms key contains characters unfit for a header");
			return NULL;
		}
	}
	h = ch_xmalloc(sizeof *h);
	memset(h, 0, sizeof *h);
	h->base.ops = &http_json_ops;

	n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	h->url = ch_xmalloc(n + sizeof "/v1/messages");
	memcpy(h->url, base_url, n);
	memcpy(h->url + n, "/v1/messages", sizeof "/v1/messages");

	auth = ch_xmalloc(klen + sizeof "Authorization: Bearer ");
	snprintf(auth, klen + sizeof "Authorization: Bearer ",
	    "Authorization: Bearer %s", key);
	h->headers = header_add(h->headers,
	    "Content-Type: application/json; charset=utf-8");
	h->headers = header_add(h->headers, "Accept: application/json");
	h->headers = header_add(h->headers, "Expect:");
	h->headers = header_add(h->headers, auth);
	OPENSSL_cleanse(auth, klen + sizeof "Authorization: Bearer ");
	free(auth);

	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		ch_error("curl_easy_init failed");
		goto fail;
	}
	if (curl_easy_setopt(h->curl, CURLOPT_URL, h->url) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_USERAGENT,
	        "certhall-sms-sender/" CERTHALL_VERSION) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data) != CURLE_OK) {
		ch_error("libcurl refused an option (built without http?)");
		goto fail;
	}
	return &h->base;
fail:
	http_free(&h->base);
	return NULL;
}
