/*
 * The request and the response as handlers see them.
 *
 * A handler never touches libfcgi: the server builds a ch_req_t from the
 * FastCGI parameters, validates the body against the route's schema, calls
 * the handler, and writes whatever the handler left in req->resp.  Every
 * pointer in a request is owned by req->pool and dies at the end of the
 * request.
 */
#ifndef CERTHALL_HTTP_H
#define CERTHALL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/base/json.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/store/ctx.h"

struct json_t;
struct ch_route;
struct ch_db;

typedef enum {
	CH_GET,
	CH_HEAD,
	CH_POST,
	CH_PUT,
	CH_PATCH,
	CH_DELETE,
	CH_OPTIONS,
	CH_METHOD__MAX
} ch_method_t;

/* Returns the method for an HTTP token, or CH_METHOD__MAX if unknown. */
ch_method_t ch_method_parse(const char *s);
const char *ch_method_name(ch_method_t m);

/*
 * Problem kinds (RFC 9457).  Each has one status, slug and title; the type
 * URI is "urn:certhall:problem:<slug>".  The list mirrors docs/CONTRACT.md
 * and openapi.yaml.
 */
typedef enum {
	CH_P_BAD_REQUEST,
	CH_P_MALFORMED_JSON,
	CH_P_DUPLICATE_KEY,
	CH_P_TOO_DEEP,
	CH_P_UNAUTHORIZED,
	CH_P_FORBIDDEN,
	CH_P_NOT_FOUND,
	CH_P_METHOD_NOT_ALLOWED,
	CH_P_NOT_IMPLEMENTED,	/* a method the API does not know (RFC 9110 §15.6.2) */
	CH_P_NOT_ACCEPTABLE,
	CH_P_PAYLOAD_TOO_LARGE,
	CH_P_UNSUPPORTED_MEDIA_TYPE,
	CH_P_INVALID_FIELD,
	CH_P_MISSING_FIELD,
	CH_P_UNKNOWN_FIELD,
	CH_P_CONFLICT,
	CH_P_PRECONDITION_FAILED,	/* 412: If-Match names another version */
	CH_P_PRECONDITION_REQUIRED,	/* 428: a change without If-Match */
	CH_P_NOT_ELIGIBLE,		/* 422: submit refused, naming its rule */
	CH_P_TOO_MANY_REQUESTS,
	CH_P_INTERNAL,
	CH_P_SERVICE_UNAVAILABLE,
	CH_P_GATEWAY_UNAVAILABLE,	/* 503: the payment gateway cannot be
					 * reached (issue 5) */
	CH_P_SIGNER_UNAVAILABLE,	/* 503: no signing process answered a
					 * request for the CA token (issue 12) */
	CH_P__MAX
} ch_problem_t;

int ch_problem_status(ch_problem_t kind);
const char *ch_problem_slug(ch_problem_t kind);

#define CH_MAX_HEADERS 16
#define CH_MAX_PARAMS 4

typedef struct {
	const char *name;
	const char *value;
} ch_header_t;

typedef struct {
	int status;			/* 0 until a handler sets one */
	const char *content_type;
	struct json_t *json;		/* serialized at write time, or ... */
	const char *body;		/* ... raw bytes (body_len of them) */
	size_t body_len;
	ch_header_t headers[CH_MAX_HEADERS];
	size_t nheaders;
} ch_resp_t;

/*
 * What a worker keeps across its requests (clients made after fork, e.g.
 * the payment gateway's), defined by the program the server runs
 * (api/api.h): the web layer only carries the pointer, made by
 * ch_server_config_t.worker_init (certhall/web/server.h).
 */
typedef struct ch_worker_state ch_worker_state_t;

/*
 * One HTTP request.  Its context (ctx: pool, connection, principal,
 * request id, client address) is what it hands to the store and the
 * domain, which never see the request itself.
 */
typedef struct ch_req {
	ch_ctx_t ctx;
	ch_worker_state_t *worker;	/* this worker's state, or NULL (borrowed) */
	char **env;			/* CGI-style NAME=value array (borrowed) */

	ch_method_t method;
	const char *method_name;
	const char *path;		/* raw path, no query string */
	const char *query;		/* after '?', or "" */

	const struct ch_route *route;
	const char *param_names[CH_MAX_PARAMS];
	const char *param_values[CH_MAX_PARAMS];	/* percent-decoded */
	size_t nparams;

	const char *body;		/* NUL-terminated copy, or NULL */
	size_t body_len;
	struct json_t *json;		/* parsed body (pool-owned), or NULL */
	void *input;			/* the route schema's typed struct */

	unsigned allow;			/* methods on this path, for OPTIONS/CORS */
	ch_resp_t resp;
} ch_req_t;

/* Returns a CGI parameter (e.g. "HTTP_IF_NONE_MATCH") or NULL. */
const char *ch_req_env(const ch_req_t *req, const char *name);
/* Returns the path parameter `name` (decoded) or NULL. */
const char *ch_req_param(const ch_req_t *req, const char *name);

/* Adds a response header; name and value are copied into the pool. */
void ch_resp_header(ch_req_t *req, const char *name, const char *value);
/*
 * Sets a JSON response.  json joins req->ctx.pool on entry (the pool
 * releases it), so the caller never frees it; a caller that keeps using
 * the value passes json_incref() of it.  NULL (a failed json_pack()) is
 * taken for out of memory (certhall/base/pool.h ch_oom()).
 */
void ch_resp_json(ch_req_t *req, int status, struct json_t *json);
/* Sets a JSON response whose body is already serialized (borrowed bytes
 * that must live as long as the pool). */
void ch_resp_raw(ch_req_t *req, int status, const char *content_type,
    const char *body, size_t len);

/*
 * Sets a JSON response from JSON text built elsewhere (by
 * PostgreSQL's json_build_object() and json_agg(), which space their
 * output), without its insignificant white space (ch_json_compact()):
 * every JSON body is compact, whichever built it.  text is copied into
 * the pool.
 */
void ch_resp_json_text(ch_req_t *req, int status, const char *text,
    size_t len);

/*
 * Sets a problem+json response and returns the problem object (borrowed,
 * owned by the response) so a caller can add members such as "checks".
 * detail is printf-style.  Any earlier response is replaced.
 */
struct json_t *ch_problem(ch_req_t *req, ch_problem_t kind,
    const char *detail_fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, naming the offending body field as a JSON Pointer (RFC 6901). */
struct json_t *ch_problem_field(ch_req_t *req, ch_problem_t kind,
    const char *pointer, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The problem of a body fault err (ch_json_parse(), ch_json_validate();
 * certhall/base/json.h): malformed-json, duplicate-key, too-deep (400) or
 * invalid-field, missing-field, unknown-field (422) naming err->pointer.  What the dispatcher answers for a route's schema,
 * for a handler that parses a body of its own. */
void ch_problem_json(ch_req_t *req, const ch_json_error_t *err);

/*
 * Serializes the response into a CGI/FastCGI header block and body.  The
 * returned strings are owned by the pool.  HEAD requests get no body.
 */
void ch_resp_serialize(ch_req_t *req, const char **head, size_t *head_len,
    const char **body, size_t *body_len);

/* Returns the standard reason phrase for a status ("OK", "Not Found"). */
const char *ch_http_reason(int status);


/* The ETag of a row version: "v<version>" with the quotes.  out holds 16. */
void ch_http_etag(int version, char out[16]);

/*
 * Whether an If-Match header value matches version: "*" matches any, else
 * a comma-separated list of entity tags compared strongly (W/ tags never
 * match, RFC 9110 §13.1.1).  Pure.
 */
bool ch_http_if_match(const char *if_match, int version);

#endif
