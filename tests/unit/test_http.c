#include "test.h"
#include "certhall/web/http.h"
#include "certhall/web/cors.h"
#include "certhall/web/server.h"

#include <jansson.h>
#include <stddef.h>

static void
req_init(ch_req_t *req, ch_pool_t *pool, ch_method_t m, const char *path,
    char **env)
{
	memset(req, 0, sizeof *req);
	req->ctx.pool = pool;
	req->method = m;
	req->method_name = ch_method_name(m);
	req->path = path;
	req->ctx.correlation_id = "rid-1";
	req->env = env;
}

int
test_http_problem_shape(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;
	json_t *p;

	req_init(&req, pool, CH_POST, "/api/v1/quotes", NULL);
	ch_resp_header(&req, "ETag", "\"x\"");
	p = ch_problem_field(&req, CH_P_INVALID_FIELD, "/years",
	    "years must be %d to %d", 1, 5);
	CHECK(req.resp.status == 422);
	CHECK_STR(req.resp.content_type, "application/problem+json");
	CHECK(req.resp.nheaders == 0);	/* earlier headers are dropped */
	CHECK_STR(json_string_value(json_object_get(p, "type")),
	    "urn:certhall:problem:invalid-field");
	CHECK(json_integer_value(json_object_get(p, "status")) == 422);
	CHECK_STR(json_string_value(json_object_get(p, "detail")),
	    "years must be 1 to 5");
	CHECK_STR(json_string_value(json_object_get(p, "field")), "/years");
	CHECK_STR(json_string_value(json_object_get(p, "instance")),
	    "/api/v1/quotes");
	CHECK_STR(json_string_value(json_object_get(p, "request_id")), "rid-1");
	CHECK(json_object_get(p, "title") != NULL);
	for (int k = 0; k < CH_P__MAX; k++)
		CHECK(ch_problem_status((ch_problem_t)k) >= 400 &&
		    ch_problem_slug((ch_problem_t)k) != NULL);
	ch_pool_free(pool);
	return 0;
}

int
test_http_serialize(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;
	const char *head, *body;
	size_t hl, bl;

	req_init(&req, pool, CH_GET, "/x", NULL);
	ch_resp_json(&req, 200, json_pack("{s:s}", "a", "汉"));
	ch_resp_serialize(&req, &head, &hl, &body, &bl);
	CHECK(strstr(head, "Status: 200 OK\r\n") == head);
	CHECK(strstr(head, "Content-Type: application/json; charset=utf-8\r\n"));
	CHECK(strstr(head, "Content-Length: 11\r\n"));
	CHECK(strstr(head, "Cache-Control: no-store\r\n"));
	CHECK(hl == strlen(head) && strcmp(head + hl - 4, "\r\n\r\n") == 0);
	CHECK(bl == 11 && memcmp(body, "{\"a\":\"汉\"}", 11) == 0);

	/* JSON text from PostgreSQL: the same type, compacted. */
	req_init(&req, pool, CH_GET, "/x", NULL);
	ch_resp_json_text(&req, 201, "{\"a\" : \"汉 x\", \"b\" : [1, 2]}", 29);
	ch_resp_serialize(&req, &head, &hl, &body, &bl);
	CHECK(strstr(head, "Status: 201 Created\r\n") == head);
	CHECK(strstr(head, "Content-Type: application/json; charset=utf-8\r\n"));
	CHECK(bl == 23 && memcmp(body, "{\"a\":\"汉 x\",\"b\":[1,2]}", 23) == 0);

	/* HEAD: same headers, no body; a handler's Cache-Control wins. */
	req_init(&req, pool, CH_HEAD, "/x", NULL);
	ch_resp_header(&req, "Cache-Control", "public, max-age=60");
	ch_resp_raw(&req, 200, "application/json", "{}", 2);
	ch_resp_serialize(&req, &head, &hl, &body, &bl);
	CHECK(strstr(head, "Content-Length: 2\r\n"));
	CHECK(strstr(head, "no-store") == NULL);
	CHECK(body == NULL && bl == 0);

	/* 304: no body, no length. */
	req_init(&req, pool, CH_GET, "/x", NULL);
	ch_resp_raw(&req, 304, NULL, NULL, 0);
	ch_resp_serialize(&req, &head, &hl, &body, &bl);
	CHECK(strstr(head, "Status: 304 Not Modified\r\n") == head);
	CHECK(strstr(head, "Content-Length") == NULL && bl == 0);
	ch_pool_free(pool);
	return 0;
}

int
test_http_header_injection(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;

	req_init(&req, pool, CH_GET, "/x", NULL);
	ch_resp_header(&req, "X-A", "ok");
	ch_resp_header(&req, "X-B", "bad\r\nSet-Cookie: x=1");
	ch_resp_header(&req, "X-C\r\nX-D", "bad");
	CHECK(req.resp.nheaders == 1);
	ch_pool_free(pool);
	return 0;
}

int
test_http_time_shanghai(void)
{
	char buf[32];

	ch_time_shanghai(0, buf);
	CHECK_STR(buf, "1970-01-01T08:00:00+08:00");
	ch_time_shanghai(1795488840LL, buf);	/* 2026-11-24T02:54:00Z */
	CHECK_STR(buf, "2026-11-24T10:54:00+08:00");
	ch_time_shanghai(1798732799LL, buf);	/* 2026-12-31T15:59:59Z */
	CHECK_STR(buf, "2026-12-31T23:59:59+08:00");
	return 0;
}

/* ---- dispatch, without FastCGI or a database ------------------------ */

struct echo_input {
	ch_int_t n;
};

static const ch_field_t echo_fields[] = {
	{ .name = "n", .type = CH_F_INT, .flags = CH_F_REQUIRED, .min = 0,
	  .max = 9, .offset = offsetof(struct echo_input, n) },
};

static const ch_schema_t echo_schema = { echo_fields, 1,
	sizeof(struct echo_input) };

static int
echo(ch_req_t *req)
{
	const struct echo_input *in = req->input;

	ch_resp_json(req, 200, json_pack("{s:I}", "n", (json_int_t)in->n.v));
	return 0;
}

static int
fails(ch_req_t *req)
{
	(void)req;
	return -1;
}

static const ch_route_t routes[] = {
	{ CH_POST, "/echo", echo, CH_ROLE_PUBLIC, &echo_schema, 32, NULL },
	{ CH_GET, "/fails", fails, CH_ROLE_PUBLIC, NULL, 0, NULL },
	{ CH_GET, "/staff", echo, CH_ROLE_ADMIN, NULL, 0, NULL },
};

struct mem {
	const char *data;
	size_t pos, len;
};

static long
mem_read(void *ctx, char *buf, size_t n)
{
	struct mem *m = ctx;
	size_t k = m->len - m->pos < n ? m->len - m->pos : n;

	memcpy(buf, m->data + m->pos, k);
	m->pos += k;
	return (long)k;
}

/* Dispatches one request; returns the status and the problem slug. */
static int
dispatch(ch_pool_t *pool, ch_method_t method, const char *path,
    const char *ctype, const char *body, const char **slug, size_t *consumed)
{
	char cl[48], ct[128];
	char *env[3] = { cl, ct, NULL };
	struct mem m = { body, 0, body ? strlen(body) : 0 };
	ch_req_t req;
	json_t *type;

	snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", m.len);
	snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", ctype ? ctype : "");
	req_init(&req, pool, method, path, env);
	ch_dispatch(&req, routes, sizeof routes / sizeof routes[0], mem_read, &m);
	type = req.resp.json ? json_object_get(req.resp.json, "type") : NULL;
	*slug = type ? json_string_value(type) + strlen("urn:certhall:problem:")
	    : "";
	*consumed = m.pos;
	return req.resp.status;
}

int
test_dispatch_pipeline(void)
{
	ch_pool_t *pool = ch_pool_new();
	const char *slug;
	size_t used;
	const char *json = "application/json";

	CHECK(dispatch(pool, CH_POST, "/echo", json, "{\"n\":3}", &slug,
	    &used) == 200);
	CHECK(dispatch(pool, CH_GET, "/nope", NULL, NULL, &slug, &used) == 404);
	CHECK_STR(slug, "not-found");
	CHECK(dispatch(pool, CH_GET, "/echo", NULL, NULL, &slug, &used) == 405);
	/* Over the cap: refused before a byte is read. */
	CHECK(dispatch(pool, CH_POST, "/echo", json,
	    "{\"n\":1,                                  }", &slug, &used) == 413);
	CHECK(used == 0);
	/* The type is judged after the caller's role, so the (capped) bytes
	 * are read first: an integrator's signature covers them. */
	CHECK(dispatch(pool, CH_POST, "/echo", "text/plain", "{\"n\":1}",
	    &slug, &used) == 415);
	CHECK(dispatch(pool, CH_POST, "/echo", json, "{\"n\":", &slug,
	    &used) == 400);
	CHECK_STR(slug, "malformed-json");
	CHECK(dispatch(pool, CH_POST, "/echo", json, "{\"n\":1,\"n\":2}", &slug,
	    &used) == 400);
	CHECK_STR(slug, "duplicate-key");
	CHECK(dispatch(pool, CH_POST, "/echo", json, "{\"n\":1,\"m\":2}", &slug,
	    &used) == 422);
	CHECK_STR(slug, "unknown-field");
	CHECK(dispatch(pool, CH_POST, "/echo", json, "", &slug, &used) == 400);
	CHECK(dispatch(pool, CH_GET, "/fails", NULL, NULL, &slug, &used) == 500);
	CHECK_STR(slug, "internal");
	/* A route for staff only is denied while nobody can sign in. */
	CHECK(dispatch(pool, CH_GET, "/staff", NULL, NULL, &slug, &used) == 401);
	ch_pool_free(pool);
	return 0;
}

/* Dispatches with extra CGI parameters (NULL-terminated "NAME=value"). */
static ch_req_t *
dispatch_env(ch_pool_t *pool, ch_method_t method, const char *path,
    char **env)
{
	ch_req_t *req = ch_palloc(pool, sizeof *req);
	struct mem m = { "", 0, 0 };

	req_init(req, pool, method, path, env);
	ch_dispatch(req, routes, sizeof routes / sizeof routes[0], mem_read, &m);
	return req;
}

static const char *
header(const ch_req_t *req, const char *name)
{
	for (size_t i = 0; i < req->resp.nheaders; i++)
		if (strcmp(req->resp.headers[i].name, name) == 0)
			return req->resp.headers[i].value;
	return NULL;
}

int
test_dispatch_auth_and_cors(void)
{
	ch_pool_t *pool = ch_pool_new();
	char *none[] = { NULL };
	char *basic[] = { "HTTP_AUTHORIZATION=Basic dXNlcjpwYXNz", NULL };
	char *short_token[] = { "HTTP_AUTHORIZATION=Bearer ch_short", NULL };
	char *origin_ok[] = { "HTTP_ORIGIN=http://127.0.0.1:5173", NULL };
	char *origin_bad[] = { "HTTP_ORIGIN=http://evil.example", NULL };
	char *preflight[] = { "HTTP_ORIGIN=http://127.0.0.1:5173",
	    "HTTP_ACCESS_CONTROL_REQUEST_METHOD=GET", NULL };
	ch_req_t *r;

	CHECK(ch_cors_configure("http://127.0.0.1:5173") == 0);

	/* Anonymous on a staff route: 401 with a challenge. */
	r = dispatch_env(pool, CH_GET, "/staff", none);
	CHECK(r->resp.status == 401);
	CHECK(header(r, "WWW-Authenticate") != NULL);
	/* Credentials of an unknown scheme, or a malformed token: 401, and the
	 * database is never asked (there is none here). */
	r = dispatch_env(pool, CH_GET, "/staff", basic);
	CHECK(r->resp.status == 401);
	r = dispatch_env(pool, CH_GET, "/fails", short_token);
	CHECK(r->resp.status == 401);

	/* OPTIONS answers for the path, with Allow; unknown paths are 404. */
	r = dispatch_env(pool, CH_OPTIONS, "/echo", none);
	CHECK(r->resp.status == 204);
	CHECK_STR(header(r, "Allow"), "POST");
	r = dispatch_env(pool, CH_OPTIONS, "/nope", none);
	CHECK(r->resp.status == 404);

	/* CORS: a preflight from an allowed origin gets the methods the path
	 * has; any answer, errors included, carries Allow-Origin. */
	r = dispatch_env(pool, CH_OPTIONS, "/fails", preflight);
	CHECK(r->resp.status == 204);
	CHECK_STR(header(r, "Access-Control-Allow-Origin"),
	    "http://127.0.0.1:5173");
	CHECK_STR(header(r, "Access-Control-Allow-Methods"), "GET, HEAD");
	CHECK(strstr(header(r, "Access-Control-Allow-Headers"), "Authorization"));
	r = dispatch_env(pool, CH_GET, "/nope", origin_ok);
	CHECK(r->resp.status == 404);
	CHECK_STR(header(r, "Access-Control-Allow-Origin"),
	    "http://127.0.0.1:5173");
	CHECK(strstr(header(r, "Access-Control-Expose-Headers"), "X-Request-Id"));
	CHECK_STR(header(r, "Vary"), "Origin");
	r = dispatch_env(pool, CH_GET, "/nope", origin_bad);
	CHECK(header(r, "Access-Control-Allow-Origin") == NULL);
	CHECK_STR(header(r, "Vary"), "Origin");

	ch_cors_configure(NULL);
	ch_pool_free(pool);
	return 0;
}

static int
raw_ok(ch_req_t *req)
{
	ch_resp_raw(req, 200, "text/plain", req->body, req->body_len);
	return 0;
}

static const char *const raw_types[] = { "application/pdf", "image/png", NULL };

static const ch_route_t raw_routes[] = {
	{ CH_PUT, "/raw", raw_ok, CH_ROLE_PUBLIC, NULL, 8, raw_types },
};

/* Dispatches a PUT /raw with a body and content type. */
static ch_req_t *
put_raw(ch_pool_t *pool, const char *ctype, const char *body)
{
	char cl[48], ct[128];
	char *env[3] = { cl, ct, NULL };
	struct mem m = { body, 0, strlen(body) };
	ch_req_t *req = ch_palloc(pool, sizeof *req);

	snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", m.len);
	snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", ctype);
	req_init(req, pool, CH_PUT, "/raw", env);
	ch_dispatch(req, raw_routes, 1, mem_read, &m);
	return req;
}

int
test_dispatch_raw_body(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t *r;

	r = put_raw(pool, "application/pdf", "%PDF-1");
	CHECK(r->resp.status == 200 && r->body_len == 6);
	CHECK(memcmp(r->body, "%PDF-1", 6) == 0);
	/* Parameters and case do not matter; the type itself does. */
	r = put_raw(pool, "IMAGE/PNG; foo=bar", "\x89PNG");
	CHECK(r->resp.status == 200);
	r = put_raw(pool, "image/jpeg", "\xff\xd8\xff");
	CHECK(r->resp.status == 415);
	CHECK(strstr(json_string_value(json_object_get(r->resp.json, "detail")),
	    "application/pdf, image/png") != NULL);
	r = put_raw(pool, "application/json", "{}");
	CHECK(r->resp.status == 415);
	r = put_raw(pool, "application/pdf", "");
	CHECK(r->resp.status == 400);
	r = put_raw(pool, "application/pdf", "%PDF-1.4 too long");
	CHECK(r->resp.status == 413);
	CHECK(ch_router_check(raw_routes, 1) == 0);
	ch_pool_free(pool);
	return 0;
}

int
test_http_problem_invalid_utf8(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;
	json_t *p;

	/* A path and a detail echoing bytes that are not UTF-8: the problem is
	 * still built (the worker must not die), with '?' for the bad bytes. */
	req_init(&req, pool, CH_GET, "/api/v1/x\xff\xfe/\xe4\xb8", NULL);
	p = ch_problem(&req, CH_P_NOT_FOUND, "no kind \"%s\"", "\xff\xe4\xb8\xad");
	CHECK(p != NULL && req.resp.status == 404);
	CHECK_STR(json_string_value(json_object_get(p, "instance")),
	    "/api/v1/x?\?/?\?");
	CHECK_STR(json_string_value(json_object_get(p, "detail")),
	    "no kind \"?\xe4\xb8\xad\"");
	ch_pool_free(pool);
	return 0;
}
