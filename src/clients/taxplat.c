/*
 * The tax platform client (certhall/clients/taxplat.h).
 */
#include "certhall/clients/taxplat.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 3000L
#define TOTAL_TIMEOUT_MS 10000L
#define ANSWER_MAX (16 * 1024)
#define DETAIL_MAX 160
#define JSON_DEPTH 4

struct ch_taxplat {
	CURL *curl;
	struct curl_slist *headers;
	char *url;			/* <base>/v1/invoices */
	char *auth;			/* "Authorization: Bearer <key>" */
	char errbuf[CURL_ERROR_SIZE];
	char answer[ANSWER_MAX];
	size_t answer_len;
	bool answer_cut;
};

/* Printable ASCII of text, at most DETAIL_MAX characters, for *why (it
 * lands in logs and last_error columns). */
static const char *
printable(ch_pool_t *pool, const char *text)
{
	return ch_pascii(pool, text, DETAIL_MAX);
}

ch_taxplat_t *
ch_taxplat_new(const char *base_url, const char *key)
{
	ch_taxplat_t *tp;
	size_t n;

	if (base_url == NULL || (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0) || key == NULL ||
	    *key == '\0' || strpbrk(key, "\r\n") != NULL) {
		ch_error("tax platform: the URL must be http(s) and the key one"
		    " line");
		return NULL;
	}
	if ((tp = calloc(1, sizeof *tp)) == NULL)
		ch_oom();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	n = strlen(base_url) + sizeof "/v1/invoices";
	if ((tp->url = malloc(n)) == NULL)
		ch_oom();
	snprintf(tp->url, n, "%s/v1/invoices", base_url);
	n = strlen(key) + sizeof "Authorization: Bearer ";
	if ((tp->auth = malloc(n)) == NULL)
		ch_oom();
	snprintf(tp->auth, n, "Authorization: Bearer %s", key);
	if ((tp->curl = curl_easy_init()) == NULL ||
	    (tp->headers = curl_slist_append(NULL,
	        "Content-Type: application/json")) == NULL ||
	    curl_slist_append(tp->headers, "Accept: application/json") == NULL ||
	    curl_slist_append(tp->headers, tp->auth) == NULL ||
	    curl_slist_append(tp->headers, "Expect:") == NULL) {
		ch_error("tax platform: libcurl could not be set up");
		ch_taxplat_free(tp);
		return NULL;
	}
	return tp;
}

void
ch_taxplat_free(ch_taxplat_t *tp)
{
	if (tp == NULL)
		return;
	if (tp->curl != NULL)
		curl_easy_cleanup(tp->curl);
	curl_slist_free_all(tp->headers);
	if (tp->auth != NULL) {
		OPENSSL_cleanse(tp->auth, strlen(tp->auth));
		free(tp->auth);
	}
	free(tp->url);
	free(tp);
	curl_global_cleanup();
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ch_taxplat_t *tp = userdata;
	size_t n = size * nmemb, room = sizeof tp->answer - 1 - tp->answer_len;

	if (n > room) {
		tp->answer_cut = true;
		n = room;
	}
	memcpy(tp->answer + tp->answer_len, ptr, n);
	tp->answer_len += n;
	tp->answer[tp->answer_len] = '\0';
	return size * nmemb;
}

static bool
digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* 20 digits, province 51 (Sichuan). */
static bool
number_ok(const char *s)
{
	return s != NULL && strlen(s) == 20 && digits(s, 20) &&
	    s[2] == '5' && s[3] == '1';
}

/* The shape of an RFC 3339 time with seconds and an offset or Z. */
static bool
time_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n >= 20 && n <= 35 && digits(s, 4) && s[4] == '-' &&
	    digits(s + 5, 2) && s[7] == '-' && digits(s + 8, 2) &&
	    s[10] == 'T' && digits(s + 11, 2) && s[13] == ':' &&
	    digits(s + 14, 2) && s[16] == ':' && digits(s + 17, 2) &&
	    (s[n - 1] == 'Z' || s[n - 6] == '+' || s[n - 6] == '-');
}

ch_taxplat_result_t
ch_taxplat_issue(ch_taxplat_t *tp, ch_pool_t *pool, json_t *invoice,
    ch_taxplat_confirm_t *out, const char **why)
{
	const char *request_id = json_string_value(json_object_get(invoice,
	    "request_id"));
	json_int_t gross = json_integer_value(json_object_get(
	    json_object_get(invoice, "total"), "gross_fen"));
	const char *rid = NULL, *number = NULL, *issued_at = NULL;
	json_int_t confirmed = 0;
	ch_json_error_t jerr;
	json_error_t err;
	json_t *ans;
	char *data;
	long status = 0;
	CURLcode cc;
	bool ok;

	memset(out, 0, sizeof *out);
	if (request_id == NULL || gross == 0) {
		*why = "the invoice has no request_id or total";
		return CH_TAXPLAT_REFUSED;
	}
	if ((data = json_dumps(invoice, JSON_COMPACT)) == NULL)
		ch_oom();
	curl_easy_reset(tp->curl);
	tp->errbuf[0] = '\0';
	tp->answer_len = 0;
	tp->answer[0] = '\0';
	tp->answer_cut = false;
	ok = curl_easy_setopt(tp->curl, CURLOPT_URL, tp->url) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_HTTPHEADER, tp->headers) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_USERAGENT,
	        "certhall/" CERTHALL_VERSION) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_ERRORBUFFER, tp->errbuf) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_WRITEDATA, tp) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_POST, 1L) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_POSTFIELDS, data) == CURLE_OK &&
	    curl_easy_setopt(tp->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	        (curl_off_t)strlen(data)) == CURLE_OK;
	cc = ok ? curl_easy_perform(tp->curl) : CURLE_FAILED_INIT;
	curl_easy_setopt(tp->curl, CURLOPT_POSTFIELDS, NULL);
	free(data);
	if (cc != CURLE_OK) {
		*why = ch_psprintf(pool, "tax platform unreachable: %s",
		    printable(pool, tp->errbuf[0] ? tp->errbuf
		    : curl_easy_strerror(cc)));
		return CH_TAXPLAT_UNAVAILABLE;
	}
	curl_easy_getinfo(tp->curl, CURLINFO_RESPONSE_CODE, &status);
	if (tp->answer_cut) {
		*why = "tax platform answer too large";
		return CH_TAXPLAT_UNAVAILABLE;
	}
	ans = tp->answer_len > 0 ? ch_pool_json(pool, ch_json_parse(tp->answer,
	    tp->answer_len, JSON_DEPTH, &jerr)) : NULL;
	if (status == 401 || status == 403) {
		ch_error("tax platform refused our key (HTTP %ld)", status);
		*why = ch_psprintf(pool, "tax platform refused our key (HTTP %ld)",
		    status);
		return CH_TAXPLAT_UNAVAILABLE;
	}
	if (status >= 400 && status < 500 && status != 408 && status != 429) {
		const char *code = json_string_value(json_object_get(ans, "code"));
		const char *msg = json_string_value(json_object_get(ans,
		    "message"));

		*why = ch_psprintf(pool, "HTTP %ld %s: %s", status,
		    printable(pool, code ? code : "?"),
		    printable(pool, msg ? msg : ""));
		return CH_TAXPLAT_REFUSED;
	}
	if (status != 200 && status != 201) {
		*why = ch_psprintf(pool, "tax platform answered HTTP %ld", status);
		return CH_TAXPLAT_UNAVAILABLE;
	}
	if (!json_is_object(ans) || json_unpack_ex(ans, &err, JSON_STRICT,
	    "{s:s, s:s, s:s, s:I}", "request_id", &rid, "number", &number,
	    "issued_at", &issued_at, "gross_fen", &confirmed) != 0) {
		*why = ch_psprintf(pool, "malformed tax platform answer: %s",
		    ans != NULL ? printable(pool, err.text) : "not JSON");
		return CH_TAXPLAT_UNAVAILABLE;
	}
	if (strcmp(rid, request_id) != 0 || confirmed != gross ||
	    !number_ok(number) || !time_ok(issued_at)) {
		*why = "tax platform confirmed another request, total, or a"
		    " malformed number or time";
		return CH_TAXPLAT_UNAVAILABLE;
	}
	out->number = ch_pstrdup(pool, number);
	out->issued_at = ch_pstrdup(pool, issued_at);
	out->raw = ch_pstrdup(pool, tp->answer);
	return CH_TAXPLAT_OK;
}
