/*
 * The certhall API as the station sees it: HTTP(S) with a staff bearer
 * token, JSON both ways (station.h).
 *
 * One curl handle, reused (keep-alive to nginx).  No redirects are
 * followed and only http and https are spoken, so a token never goes
 * anywhere but the configured API.  Bodies that carried a PIN are wiped by
 * their makers; answers are wiped here before they are freed, since one of
 * them is the sealed SO PIN (worthless without the one-time key, but no
 * reason to leave it around).
 */
#include "station.h"

#include "certhall/base/log.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* The largest answer taken (a certificate chain or a page of keys). */
#define ANSWER_MAX (1024 * 1024)
/* The SO PIN request waits up to 5 s in the API; the rest are quick. */
#define TIMEOUT_S 30L

struct st_api {
	CURL *curl;
	char *base;		/* without a trailing '/' */
	char *auth;		/* "Authorization: Bearer ..." */
};

struct answer {
	char *data;
	size_t len, cap;
	bool too_big;
};

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;

	if (a->len + n + 1 > ANSWER_MAX) {
		a->too_big = true;
		return 0;		/* curl stops with a write error */
	}
	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *p;

		while (cap < a->len + n + 1)
			cap *= 2;
		if ((p = malloc(cap)) == NULL)
			return 0;
		if (a->data != NULL) {
			memcpy(p, a->data, a->len);
			OPENSSL_cleanse(a->data, a->cap);
			free(a->data);
		}
		a->data = p;
		a->cap = cap;
	}
	memcpy(a->data + a->len, ptr, n);
	a->len += n;
	a->data[a->len] = '\0';
	return n;
}

st_api_t *
st_api_new(const char *base_url, const char *token)
{
	st_api_t *a;
	size_t n;

	if (base_url == NULL || (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0)) {
		ch_error("the API URL must be http:// or https:// (--url or "
		    "CERTHALL_URL)");
		return NULL;
	}
	if ((a = calloc(1, sizeof *a)) == NULL)
		return NULL;
	a->base = strdup(base_url);
	n = strlen("Authorization: Bearer ") + strlen(token) + 1;
	a->auth = malloc(n);
	a->curl = curl_easy_init();
	if (a->base == NULL || a->auth == NULL || a->curl == NULL) {
		ch_error("out of memory setting up the API client");
		st_api_free(a);
		return NULL;
	}
	snprintf(a->auth, n, "Authorization: Bearer %s", token);
	n = strlen(a->base);
	while (n > 0 && a->base[n - 1] == '/')
		a->base[--n] = '\0';
	return a;
}

void
st_api_free(st_api_t *a)
{
	if (a == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	if (a->auth != NULL) {
		OPENSSL_cleanse(a->auth, strlen(a->auth));
		free(a->auth);
	}
	free(a->base);
	free(a);
}

int
st_api_raw(st_api_t *a, const char *method, const char *path,
    const char *body, const char *accept, long *status, char **resp,
    size_t *resp_len)
{
	struct answer ans = { 0 };
	struct curl_slist *headers = NULL, *h;
	char *url, acc[128];
	CURLcode rc;
	int ret = -1;

	*status = 0;
	*resp = NULL;
	*resp_len = 0;
	if ((url = malloc(strlen(a->base) + strlen(path) + 1)) == NULL)
		return -1;
	strcpy(url, a->base);
	strcat(url, path);
	snprintf(acc, sizeof acc, "Accept: %s", accept != NULL ? accept
	    : "application/json, application/problem+json");
	/* curl_slist_append returns the list's head, or NULL (the list is
	 * then as it was). */
	if ((headers = curl_slist_append(NULL, a->auth)) == NULL ||
	    (h = curl_slist_append(headers, acc)) == NULL ||
	    (body != NULL && (h = curl_slist_append(headers,
	    "Content-Type: application/json")) == NULL))
		goto out;

	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, TIMEOUT_S);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &ans);
	rc = curl_easy_perform(a->curl);
	if (rc != CURLE_OK) {
		ch_error("%s %s: %s", method, path, ans.too_big
		    ? "the answer is too large" : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
	*resp = ans.data;
	*resp_len = ans.len;
	ans.data = NULL;
	ret = 0;
out:
	if (ans.data != NULL) {
		OPENSSL_cleanse(ans.data, ans.cap);
		free(ans.data);
	}
	curl_slist_free_all(headers);
	free(url);
	return ret;
}

int
st_api_json(st_api_t *a, const char *method, const char *path,
    const char *body, long *status, json_t **json)
{
	char *resp;
	size_t len;

	*json = NULL;
	if (st_api_raw(a, method, path, body, NULL, status, &resp, &len) != 0)
		return -1;
	if (resp != NULL) {
		*json = json_loadb(resp, len, JSON_REJECT_DUPLICATES, NULL);
		OPENSSL_cleanse(resp, len);
		free(resp);
	}
	return 0;
}

void
st_api_refused(const char *what, long status, const json_t *json)
{
	const char *type = json_string_value(json_object_get(json, "type"));
	const char *detail = json_string_value(json_object_get(json, "detail"));
	const char *now = json_string_value(json_object_get(json,
	    "status_now"));
	const char *key = json_string_value(json_object_get(json,
	    "key_status"));
	const char *field = json_string_value(json_object_get(json, "field"));

	fprintf(stderr, "certhall-station: %s: HTTP %ld", what, status);
	if (type != NULL)
		fprintf(stderr, " %s", type);
	if (detail != NULL)
		fprintf(stderr, ": %s", detail);
	if (field != NULL)
		fprintf(stderr, " (field %s)", field);
	if (now != NULL)
		fprintf(stderr, " (application is %s)", now);
	if (key != NULL)
		fprintf(stderr, " (key is %s)", key);
	fputc('\n', stderr);
}
