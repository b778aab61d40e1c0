/*
 * The route table (kcgi's disps[], Redis' command table).
 *
 * One static array in api/routes.c lists every operation: method, path
 * pattern with {params}, handler, the roles allowed to call it, and the
 * request body it takes.  It mirrors openapi.yaml path by path.
 */
#ifndef CERTHALL_ROUTER_H
#define CERTHALL_ROUTER_H

#include <stddef.h>

#include "certhall/web/http.h"
#include "certhall/base/json.h"

/* Returns 0 with req->resp set, or -1 when it could not answer (the server
 * then answers 503 if the database is down, else 500). */
typedef int (*ch_handler_fn)(ch_req_t *req);

typedef struct ch_route {
	ch_method_t method;
	const char *pattern;		/* "/api/v1/applications/{id}" */
	ch_handler_fn handler;
	unsigned roles;			/* ch_role_t bits */
	const ch_schema_t *schema;	/* JSON body schema, or NULL: no body */
	size_t max_body;		/* cap in bytes for a body of either kind */
	/* A raw (non-JSON) body: the media types it may have, NULL-terminated.
	 * The bytes land in req->body; the handler checks the content.
	 * ch_media_any: any media type or none, and an empty body too (a
	 * protocol that answers every fault of its own, such as OCSP). */
	const char *const *media_types;
} ch_route_t;

/* media_types for a route that judges its body whatever it is. */
extern const char *const ch_media_any[];

typedef enum {
	CH_MATCH_OK,
	CH_MATCH_NOT_FOUND,
	CH_MATCH_METHOD,		/* path exists, method does not */
} ch_match_result_t;

typedef struct {
	const ch_route_t *route;
	unsigned allow;			/* bit per ch_method_t, for CH_MATCH_METHOD */
	const char *names[CH_MAX_PARAMS];
	const char *values[CH_MAX_PARAMS];	/* pool-owned, decoded */
	size_t nparams;
} ch_match_t;

/*
 * Matches method and raw path against the table.  A {param} matches one
 * non-empty segment; its value is percent-decoded into the pool (a segment
 * with bad escapes, or one decoding to NUL or '/', matches nothing).  HEAD
 * is served by the GET route.  Paths with empty segments ("//", a trailing
 * "/") match nothing, except in what a last {name*} takes: the rest of the
 * path, as it is (not decoded), empty or not.  The path is split once and
 * each segment decoded at most once for all the routes tried, so a long
 * path costs its length once, not once per route.
 */
ch_match_result_t ch_router_match(const ch_route_t *routes, size_t nroutes,
    ch_method_t method, const char *path, ch_pool_t *pool, ch_match_t *out);

/* The pattern as openapi.yaml writes the path: a rest parameter {name*}
 * (which takes the rest of the path, slashes included, raw: OCSP's GET)
 * without its '*'.  Into out (cap bytes). */
void ch_router_path(const char *pattern, char *out, size_t cap);

/* Formats an Allow header value ("GET, HEAD, POST") from an allow mask. */
void ch_router_allow(unsigned allow, char *buf, size_t cap);

/* Checks the table: every route has roles, a handler, a well-formed
 * pattern, no duplicate (method, pattern), and a body cap when it takes a
 * body.  Logs each fault; returns the number of faults. */
int ch_router_check(const ch_route_t *routes, size_t nroutes);

#endif
