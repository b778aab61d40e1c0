#include "certhall/web/http.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* NULL-terminated (the slot CH_METHOD__MAX), for ch_code_index(). */
static const char *const method_names[CH_METHOD__MAX + 1] = {
	[CH_GET] = "GET",
	[CH_HEAD] = "HEAD",
	[CH_POST] = "POST",
	[CH_PUT] = "PUT",
	[CH_PATCH] = "PATCH",
	[CH_DELETE] = "DELETE",
	[CH_OPTIONS] = "OPTIONS",
};

ch_method_t
ch_method_parse(const char *s)
{
	int m = s != NULL ? ch_code_index(method_names, s) : -1;

	return m >= 0 ? (ch_method_t)m : CH_METHOD__MAX;
}

const char *
ch_method_name(ch_method_t m)
{
	return m < CH_METHOD__MAX ? method_names[m] : "?";
}

static const struct {
	int status;
	const char *slug;
	const char *title;
} problems[CH_P__MAX] = {
	[CH_P_BAD_REQUEST] = {400, "bad-request", "Bad request"},
	[CH_P_MALFORMED_JSON] = {400, "malformed-json",
	    "The request body is not valid JSON"},
	[CH_P_DUPLICATE_KEY] = {400, "duplicate-key",
	    "The request body repeats a key"},
	[CH_P_TOO_DEEP] = {400, "too-deep",
	    "The request body is nested too deeply"},
	[CH_P_UNAUTHORIZED] = {401, "unauthorized",
	    "Authentication required"},
	[CH_P_FORBIDDEN] = {403, "forbidden", "Forbidden"},
	[CH_P_NOT_FOUND] = {404, "not-found", "Not found"},
	[CH_P_METHOD_NOT_ALLOWED] = {405, "method-not-allowed",
	    "Method not allowed"},
	[CH_P_NOT_IMPLEMENTED] = {501, "not-implemented",
	    "Not implemented"},
	[CH_P_NOT_ACCEPTABLE] = {406, "not-acceptable", "Not acceptable"},
	[CH_P_PAYLOAD_TOO_LARGE] = {413, "payload-too-large",
	    "The request body is too large"},
	[CH_P_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported-media-type",
	    "Unsupported media type"},
	[CH_P_INVALID_FIELD] = {422, "invalid-field",
	    "A field has an invalid value"},
	[CH_P_MISSING_FIELD] = {422, "missing-field",
	    "A required field is missing"},
	[CH_P_UNKNOWN_FIELD] = {422, "unknown-field",
	    "The request body has a field this operation does not take"},
	[CH_P_CONFLICT] = {409, "conflict",
	    "The request conflicts with the resource's current state"},
	[CH_P_PRECONDITION_FAILED] = {412, "precondition-failed",
	    "The resource has changed since the version given in If-Match"},
	[CH_P_PRECONDITION_REQUIRED] = {428, "precondition-required",
	    "This change needs an If-Match header"},
	[CH_P_NOT_ELIGIBLE] = {422, "not-eligible",
	    "The application cannot be submitted"},
	[CH_P_TOO_MANY_REQUESTS] = {429, "too-many-requests",
	    "Too many requests"},
	[CH_P_INTERNAL] = {500, "internal", "Internal error"},
	[CH_P_SERVICE_UNAVAILABLE] = {503, "service-unavailable",
	    "Service temporarily unavailable"},
	[CH_P_GATEWAY_UNAVAILABLE] = {503, "gateway-unavailable",
	    "The payment gateway is unavailable"},
	[CH_P_SIGNER_UNAVAILABLE] = {503, "signer-unavailable",
	    "The signing service is unavailable"},
};

int
ch_problem_status(ch_problem_t kind)
{
	return problems[kind].status;
}

const char *
ch_problem_slug(ch_problem_t kind)
{
	return problems[kind].slug;
}

const char *
ch_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 423: return "Locked";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

const char *
ch_req_env(const ch_req_t *req, const char *name)
{
	size_t len = strlen(name);

	for (char **e = req->env; e != NULL && *e != NULL; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

const char *
ch_req_param(const ch_req_t *req, const char *name)
{
	for (size_t i = 0; i < req->nparams; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->param_values[i];
	return NULL;
}

void
ch_resp_header(ch_req_t *req, const char *name, const char *value)
{
	ch_resp_t *r = &req->resp;

	/* A CR or LF would let a value start a header of its own. */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL) {
		ch_error("refused response header \"%s\" with a line break", name);
		return;
	}
	if (r->nheaders == CH_MAX_HEADERS) {
		ch_error("too many response headers, dropped \"%s\"", name);
		return;
	}
	r->headers[r->nheaders].name = ch_pstrdup(req->ctx.pool, name);
	r->headers[r->nheaders].value = ch_pstrdup(req->ctx.pool, value);
	r->nheaders++;
}

void
ch_resp_json(ch_req_t *req, int status, json_t *json)
{
	if (json == NULL)
		ch_oom();
	req->resp.status = status;
	req->resp.content_type = "application/json; charset=utf-8";
	req->resp.json = ch_pool_json(req->ctx.pool, json);
	req->resp.body = NULL;
	req->resp.body_len = 0;
}

void
ch_resp_raw(ch_req_t *req, int status, const char *content_type,
    const char *body, size_t len)
{
	req->resp.status = status;
	req->resp.content_type = content_type;
	req->resp.json = NULL;
	req->resp.body = body;
	req->resp.body_len = len;
}

void
ch_resp_json_text(ch_req_t *req, int status, const char *text, size_t len)
{
	char *body = ch_palloc(req->ctx.pool, len + 1);

	ch_resp_raw(req, status, "application/json; charset=utf-8", body,
	    ch_json_compact(body, text, len));
}

/*
 * Returns s as valid UTF-8 (a pool copy with each invalid byte replaced by
 * '?', or s itself when it is already valid): problem details echo paths
 * and values from the request, and Jansson refuses invalid UTF-8.
 */
static const char *
utf8_clean(ch_pool_t *pool, const char *s)
{
	json_t *probe = json_string(s);
	char *out;
	size_t n = 0;

	if (probe != NULL) {
		json_decref(probe);
		return s;
	}
	out = ch_palloc(pool, strlen(s) + 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 :
		    (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		char seq[5] = { 0 };
		json_t *t;
		size_t i;

		for (i = 0; len > 0 && i < len && p[i] != '\0'; i++)
			seq[i] = (char)p[i];
		if (len > 0 && i == len && (t = json_stringn(seq, len)) != NULL) {
			json_decref(t);
			memcpy(out + n, p, len);
			n += len;
			p += len;
		} else {
			out[n++] = '?';
			p++;
		}
	}
	out[n] = '\0';
	return out;
}

static json_t *
problem_v(ch_req_t *req, ch_problem_t kind, const char *pointer,
    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

static json_t *
problem_v(ch_req_t *req, ch_problem_t kind, const char *pointer,
    const char *fmt, va_list ap)
{
	json_t *p;
	char *detail = ch_pvsprintf(req->ctx.pool, fmt, ap);
	char *type = ch_psprintf(req->ctx.pool, "urn:certhall:problem:%s",
	    problems[kind].slug);

	p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}",
	    "type", type,
	    "title", problems[kind].title,
	    "status", problems[kind].status,
	    "detail", utf8_clean(req->ctx.pool, detail),
	    "instance", utf8_clean(req->ctx.pool, req->path != NULL ? req->path : ""),
	    "request_id", utf8_clean(req->ctx.pool,
	    req->ctx.correlation_id != NULL ? req->ctx.correlation_id : ""));
	if (p == NULL)
		ch_oom();
	if (pointer != NULL)
		json_object_set_new(p, "field",
		    json_string(utf8_clean(req->ctx.pool, pointer)));
	/* Replace any earlier response, including its headers. */
	req->resp.nheaders = 0;
	ch_resp_json(req, problems[kind].status, p);
	req->resp.content_type = "application/problem+json";
	return p;
}

json_t *
ch_problem(ch_req_t *req, ch_problem_t kind, const char *fmt, ...)
{
	va_list ap;
	json_t *p;

	va_start(ap, fmt);
	p = problem_v(req, kind, NULL, fmt, ap);
	va_end(ap);
	return p;
}

json_t *
ch_problem_field(ch_req_t *req, ch_problem_t kind, const char *pointer,
    const char *fmt, ...)
{
	va_list ap;
	json_t *p;

	va_start(ap, fmt);
	p = problem_v(req, kind, pointer, fmt, ap);
	va_end(ap);
	return p;
}

void
ch_resp_serialize(ch_req_t *req, const char **head, size_t *head_len,
    const char **body, size_t *body_len)
{
	ch_resp_t *r = &req->resp;
	const char *b = r->body;
	size_t blen = r->body_len;
	size_t cap, n;
	int has_cache_control = 0;
	char *h;

	if (r->json != NULL) {
		char *s = json_dumps(r->json, JSON_COMPACT);

		if (s == NULL)
			ch_oom();
		ch_pool_cleanup(req->ctx.pool, free, s);
		b = s;
		blen = strlen(s);
	}
	if (r->status == 304 || r->status == 204) {
		b = NULL;
		blen = 0;
	}

	/* Nothing is cached unless its handler says so. */
	cap = 160 + (r->content_type ? strlen(r->content_type) : 0);
	for (size_t i = 0; i < r->nheaders; i++) {
		cap += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 4;
		if (strcasecmp(r->headers[i].name, "Cache-Control") == 0)
			has_cache_control = 1;
	}
	h = ch_palloc(req->ctx.pool, cap);
	n = (size_t)snprintf(h, cap, "Status: %d %s\r\n", r->status,
	    ch_http_reason(r->status));
	if (b != NULL || r->content_type != NULL) {
		if (r->content_type != NULL && r->status != 304)
			n += (size_t)snprintf(h + n, cap - n,
			    "Content-Type: %s\r\n", r->content_type);
		if (r->status != 304)
			n += (size_t)snprintf(h + n, cap - n,
			    "Content-Length: %zu\r\n", blen);
	}
	for (size_t i = 0; i < r->nheaders; i++)
		n += (size_t)snprintf(h + n, cap - n, "%s: %s\r\n",
		    r->headers[i].name, r->headers[i].value);
	if (!has_cache_control)
		n += (size_t)snprintf(h + n, cap - n, "Cache-Control: no-store\r\n");
	n += (size_t)snprintf(h + n, cap - n, "\r\n");

	*head = h;
	*head_len = n;
	*body = req->method == CH_HEAD ? NULL : b;
	*body_len = req->method == CH_HEAD ? 0 : blen;
}

void
ch_http_etag(int version, char out[16])
{
	snprintf(out, 16, "\"v%d\"", version);
}

bool
ch_http_if_match(const char *h, int version)
{
	char tag[16];
	size_t n;

	ch_http_etag(version, tag);
	n = strlen(tag);
	while (h != NULL && *h != '\0') {
		size_t len;

		h += strspn(h, " \t,");
		if (*h == '\0')
			break;
		if (*h == '*') {
			h += 1 + strspn(h + 1, " \t");
			return *h == ',' || *h == '\0';
		}
		if (h[0] == 'W' && h[1] == '/') {
			/* Weak tags never match strongly: skip the tag. */
			h += 2;
			if (*h != '"')
				return false;
			h = strchr(h + 1, '"');
			if (h == NULL)
				return false;
			h++;
			continue;
		}
		if (*h != '"')
			return false;
		len = strcspn(h + 1, "\"");
		if (h[1 + len] != '"')
			return false;
		if (len + 2 == n && strncmp(h, tag, n) == 0)
			return true;
		h += len + 2;
	}
	return false;
}
