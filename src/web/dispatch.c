#include "certhall/web/auth.h"
#include "certhall/web/cors.h"
#include "certhall/store/db.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/web/server.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Whether content_type (parameters ignored, case-insensitive) is listed. */
static int
media_type_listed(const char *const *types, const char *content_type)
{
	size_t n;

	if (content_type == NULL)
		return 0;
	n = strcspn(content_type, "; \t");
	for (; *types != NULL; types++)
		if (strlen(*types) == n && strncasecmp(*types, content_type, n) == 0)
			return 1;
	return 0;
}

static void
media_type_list(const char *const *types, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; types[i] != NULL && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
		    types[i]);
}

/* The problem each kind of body fault is answered with. */
static const ch_problem_t json_problems[CH_JSON_E__MAX] = {
	[CH_JSON_E_MALFORMED] = CH_P_MALFORMED_JSON,
	[CH_JSON_E_DUPLICATE_KEY] = CH_P_DUPLICATE_KEY,
	[CH_JSON_E_TOO_DEEP] = CH_P_TOO_DEEP,
	[CH_JSON_E_INVALID_FIELD] = CH_P_INVALID_FIELD,
	[CH_JSON_E_MISSING_FIELD] = CH_P_MISSING_FIELD,
	[CH_JSON_E_UNKNOWN_FIELD] = CH_P_UNKNOWN_FIELD,
};

/* Applies the route's cap, then reads the body whole (its type is checked
 * after the role: a caller without one learns 401/403, not 415).
 * Returns 0, or -1 with a problem response set. */
static int
read_body(ch_req_t *req, const ch_route_t *route, ch_read_fn rd, void *ctx)
{
	const char *cl = ch_req_env(req, "CONTENT_LENGTH");
	size_t len = 0;
	char *buf;

	switch (ch_body_length(cl, route->max_body, &len)) {
	case CH_BODY_TOO_LARGE:
		ch_problem(req, CH_P_PAYLOAD_TOO_LARGE,
		    "this operation takes a body of at most %zu bytes",
		    route->max_body);
		return -1;
	case CH_BODY_BAD_LENGTH:
		json_object_set_new(ch_problem(req, CH_P_BAD_REQUEST,
		    "Content-Length is not a decimal number"),
		    "header", json_string("Content-Length"));
		return -1;
	case CH_BODY_NONE:
	case CH_BODY_OK:
		break;
	}
	buf = ch_palloc(req->ctx.pool, len + 1);
	if (len > 0 && ch_body_read(rd, ctx, buf, len) != 0) {
		ch_problem(req, CH_P_BAD_REQUEST,
		    "the request body ended before Content-Length bytes");
		return -1;
	}
	req->body = buf;
	req->body_len = len;
	return 0;
}

/* The body's media type, once the caller may call the route. */
static int
check_media_type(ch_req_t *req, const ch_route_t *route)
{
	const char *ct = ch_req_env(req, "CONTENT_TYPE");
	char list[128];

	if (route->media_types == ch_media_any)
		return 0;
	if (route->media_types == NULL) {
		if (ch_body_is_json(ct))
			return 0;
		json_object_set_new(ch_problem(req, CH_P_UNSUPPORTED_MEDIA_TYPE,
		    "this operation takes application/json"),
		    "header", json_string("Content-Type"));
		ch_resp_header(req, "Accept-Post", "application/json");
		return -1;
	}
	if (!media_type_listed(route->media_types, ct)) {
		media_type_list(route->media_types, list, sizeof list);
		json_object_set_new(ch_problem(req, CH_P_UNSUPPORTED_MEDIA_TYPE,
		    "this operation takes one of: %s", list),
		    "header", json_string("Content-Type"));
		return -1;
	}
	if (req->body_len == 0) {
		ch_problem(req, CH_P_BAD_REQUEST,
		    "this operation needs a non-empty body");
		return -1;
	}
	return 0;
}

void
ch_problem_json(ch_req_t *req, const ch_json_error_t *err)
{
	switch (err->kind) {
	case CH_JSON_E_INVALID_FIELD:
	case CH_JSON_E_MISSING_FIELD:
	case CH_JSON_E_UNKNOWN_FIELD:
		ch_problem_field(req, json_problems[err->kind], err->pointer,
		    "%s", err->detail);
		break;
	default:
		ch_problem(req, json_problems[err->kind], "%s", err->detail);
		break;
	}
}

/* Parses and validates the body read by read_body(). */
static int
take_json(ch_req_t *req, const ch_route_t *route)
{
	json_t *json;
	ch_json_error_t err;

	json = ch_json_parse(req->body, req->body_len, CH_JSON_MAX_DEPTH, &err);
	if (json == NULL) {
		ch_problem_json(req, &err);
		return -1;
	}
	req->json = ch_pool_json(req->ctx.pool, json);
	req->input = ch_palloc(req->ctx.pool, route->schema->size);
	if (ch_json_validate(route->schema, json, req->input, &err) != 0) {
		ch_problem_json(req, &err);
		return -1;
	}
	return 0;
}

static void
unavailable(ch_req_t *req)
{
	ch_problem(req, CH_P_SERVICE_UNAVAILABLE,
	    "the database is unavailable; try again shortly");
	ch_resp_header(req, "Retry-After", "5");
}

/* Who may call: 401 without (valid) credentials, 403 with the wrong ones. */
static int
authorize(ch_req_t *req, const ch_route_t *route)
{
	const char *why;

	switch (ch_auth_authenticate(req, req->body, req->body_len, &why)) {
	case CH_AUTH_UNAVAILABLE:
		/* A public operation does not depend on who calls: go on as
		 * anonymous (so /health can say what is down). */
		if (route->roles & CH_ROLE_PUBLIC) {
			memset(&req->ctx.principal, 0, sizeof req->ctx.principal);
			req->ctx.principal.kind = CH_ACTOR_ANONYMOUS;
			req->ctx.principal.roles = CH_ROLE_PUBLIC;
			break;
		}
		unavailable(req);
		return -1;
	case CH_AUTH_REFUSED:
		ch_problem(req, CH_P_UNAUTHORIZED, "%s", why);
		ch_resp_header(req, "WWW-Authenticate",
		    "Bearer realm=\"certhall\", error=\"invalid_token\"");
		return -1;
	case CH_AUTH_NONE:
	case CH_AUTH_OK:
		break;
	}
	if (route->roles & req->ctx.principal.roles)
		return 0;
	if (req->ctx.principal.kind == CH_ACTOR_ANONYMOUS) {
		ch_problem(req, CH_P_UNAUTHORIZED,
		    "this operation needs a signed-in caller");
		ch_resp_header(req, "WWW-Authenticate", "Bearer realm=\"certhall\"");
	} else {
		ch_problem(req, CH_P_FORBIDDEN,
		    "your role does not allow this operation");
	}
	return -1;
}

static void
dispatch(ch_req_t *req, const ch_route_t *routes, size_t nroutes,
    ch_read_fn rd, void *ctx)
{
	ch_match_t m;
	char allow[96];

	switch (ch_router_match(routes, nroutes, req->method, req->path,
	    req->ctx.pool, &m)) {
	case CH_MATCH_NOT_FOUND:
		ch_problem(req, CH_P_NOT_FOUND, "no resource at this path");
		return;
	case CH_MATCH_METHOD:
		req->allow = m.allow;
		ch_router_allow(m.allow, allow, sizeof allow);
		if (req->method == CH_OPTIONS) {
			/* OPTIONS (and CORS preflight) answers for the path. */
			ch_resp_raw(req, 204, NULL, NULL, 0);
			ch_resp_header(req, "Allow", allow);
			return;
		}
		ch_problem(req, CH_P_METHOD_NOT_ALLOWED,
		    "%s is not allowed here; allowed: %s", req->method_name,
		    allow);
		ch_resp_header(req, "Allow", allow);
		return;
	case CH_MATCH_OK:
		break;
	}
	req->route = m.route;
	req->nparams = m.nparams;
	memcpy(req->param_names, m.names, sizeof m.names);
	memcpy(req->param_values, m.values, sizeof m.values);

	/* The body is read before authenticating: an integrator's signature
	 * covers it.  Its size and type are checked before a byte is read. */
	if ((m.route->schema != NULL || m.route->media_types != NULL) &&
	    read_body(req, m.route, rd, ctx) != 0)
		return;
	if (authorize(req, m.route) != 0)
		return;
	if ((m.route->schema != NULL || m.route->media_types != NULL) &&
	    check_media_type(req, m.route) != 0)
		return;
	if (m.route->schema != NULL && take_json(req, m.route) != 0)
		return;

	if (m.route->handler(req) != 0 || req->resp.status == 0) {
		if (req->ctx.db != NULL && !ch_db_up(req->ctx.db))
			unavailable(req);
		else
			ch_problem(req, CH_P_INTERNAL,
			    "the request could not be completed; quote the "
			    "request id when reporting this");
	}
}

void
ch_dispatch(ch_req_t *req, const ch_route_t *routes, size_t nroutes,
    ch_read_fn rd, void *ctx)
{
	dispatch(req, routes, nroutes, rd, ctx);
	ch_cors_finish(req);
}
