#include "test.h"
#include "api.h"
#include "certhall/web/router.h"

static int h(ch_req_t *req) { (void)req; return 0; }

static const ch_route_t table[] = {
	{ CH_GET, "/api/v1/health", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
	{ CH_GET, "/api/v1/applications", h, CH_ROLE_APPLICANT, NULL, 0, NULL },
	{ CH_GET, "/api/v1/applications/{id}", h, CH_ROLE_APPLICANT, NULL, 0, NULL },
	{ CH_DELETE, "/api/v1/applications/{id}", h, CH_ROLE_APPLICANT, NULL, 0, NULL },
	{ CH_PUT, "/api/v1/applications/{id}/materials/{kind}", h,
	  CH_ROLE_APPLICANT, NULL, 0, NULL },
};
#define N (sizeof table / sizeof table[0])

int
test_router_static(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;

	CHECK(ch_router_match(table, N, CH_GET, "/api/v1/health", pool, &m) ==
	    CH_MATCH_OK);
	CHECK(m.route == &table[0]);
	CHECK(m.nparams == 0);
	CHECK(ch_router_match(table, N, CH_HEAD, "/api/v1/health", pool, &m) ==
	    CH_MATCH_OK);
	CHECK(ch_router_match(table, N, CH_GET, "/api/v1/healthz", pool, &m) ==
	    CH_MATCH_NOT_FOUND);
	CHECK(ch_router_match(table, N, CH_GET, "/api/v1", pool, &m) ==
	    CH_MATCH_NOT_FOUND);
	ch_pool_free(pool);
	return 0;
}

int
test_router_params(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;

	CHECK(ch_router_match(table, N, CH_PUT,
	    "/api/v1/applications/a%20b/materials/handler_id", pool, &m) ==
	    CH_MATCH_OK);
	CHECK(m.route == &table[4]);
	CHECK(m.nparams == 2);
	CHECK_STR(m.names[0], "id");
	CHECK_STR(m.values[0], "a b");
	CHECK_STR(m.names[1], "kind");
	CHECK_STR(m.values[1], "handler_id");
	ch_pool_free(pool);
	return 0;
}

int
test_router_method_not_allowed(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;
	char allow[64];

	CHECK(ch_router_match(table, N, CH_POST, "/api/v1/applications/7",
	    pool, &m) == CH_MATCH_METHOD);
	ch_router_allow(m.allow, allow, sizeof allow);
	CHECK_STR(allow, "GET, HEAD, DELETE");
	CHECK(ch_router_match(table, N, CH_DELETE, "/api/v1/health", pool,
	    &m) == CH_MATCH_METHOD);
	ch_router_allow(m.allow, allow, sizeof allow);
	CHECK_STR(allow, "GET, HEAD");
	ch_pool_free(pool);
	return 0;
}

int
test_router_rejects_odd_paths(void)
{
	static const char *const odd[] = {
		"", "api/v1/health", "/api/v1/health/", "//api/v1/health",
		"/api/v1//health", "/api/v1/applications/", "/api/v1/applications//",
		"/api/v1/applications/%", "/api/v1/applications/%4",
		"/api/v1/applications/%zz", "/api/v1/applications/%00",
		"/api/v1/applications/a%2Fb", "/API/v1/health",
	};
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;

	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		if (ch_router_match(table, N, CH_GET, odd[i], pool, &m) !=
		    CH_MATCH_NOT_FOUND) {
			fprintf(stderr, "matched \"%s\"\n", odd[i]);
			return 1;
		}
	}
	CHECK(ch_router_match(table, N, CH_GET, NULL, pool, &m) ==
	    CH_MATCH_NOT_FOUND);
	ch_pool_free(pool);
	return 0;
}

/* The path is split and each segment decoded once for all routes tried
 * (src/router.c): a literal still compares raw bytes, a segment that failed
 * to decode for one {param} fails for the next, and a match keeps the
 * values and names of its own route, not of a route tried before it. */
int
test_router_segments_shared(void)
{
	static const ch_route_t t[] = {
		{ CH_GET, "/a/%41", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
		{ CH_POST, "/a/{x}", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
		{ CH_PUT, "/a/{y}", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
		{ CH_PUT, "/a/{p}/{q}/{r}/{s}/{t}", h, CH_ROLE_PUBLIC, NULL, 0,
		  NULL },
	};
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;
	char allow[64];

	CHECK(ch_router_match(t, 4, CH_GET, "/a/%41", pool, &m) == CH_MATCH_OK);
	CHECK(m.route == &t[0]);
	CHECK(ch_router_match(t, 4, CH_GET, "/a/A", pool, &m) ==
	    CH_MATCH_METHOD);
	ch_router_allow(m.allow, allow, sizeof allow);
	CHECK_STR(allow, "POST, PUT");
	CHECK(ch_router_match(t, 4, CH_PUT, "/a/%41", pool, &m) == CH_MATCH_OK);
	CHECK(m.route == &t[2]);
	CHECK(m.nparams == 1);
	CHECK_STR(m.names[0], "y");
	CHECK_STR(m.values[0], "A");
	CHECK(m.names[1] == NULL && m.values[1] == NULL);
	CHECK(ch_router_match(t, 4, CH_PUT, "/a/%4", pool, &m) ==
	    CH_MATCH_NOT_FOUND);
	/* More {params} than CH_MAX_PARAMS: the route never matches. */
	CHECK(ch_router_match(t, 4, CH_PUT, "/a/1/2/3/4/5", pool, &m) ==
	    CH_MATCH_NOT_FOUND);
	ch_pool_free(pool);
	return 0;
}

int
test_router_check_table(void)
{
	static const ch_schema_t schema = { NULL, 0, 0 };
	const ch_route_t bad[] = {
		{ CH_GET, "/a", h, 0, NULL, 0, NULL },		/* no roles */
		{ CH_GET, "/b/", h, CH_ROLE_PUBLIC, NULL, 0, NULL },	/* trailing / */
		{ CH_GET, "/c/{x", h, CH_ROLE_PUBLIC, NULL, 0, NULL },	/* open brace */
		{ CH_POST, "/d", h, CH_ROLE_PUBLIC, &schema, 0, NULL },	/* no cap */
		{ CH_GET, "/e", NULL, CH_ROLE_PUBLIC, NULL, 0, NULL },	/* no handler */
		{ CH_HEAD, "/f", h, CH_ROLE_PUBLIC, NULL, 0, NULL },	/* HEAD */
		{ CH_GET, "/g", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
		{ CH_GET, "/g", h, CH_ROLE_PUBLIC, NULL, 0, NULL },	/* twice */
	};

	CHECK(ch_router_check(table, N) == 0);
	CHECK(ch_router_check(bad, sizeof bad / sizeof bad[0]) == 7);
	return 0;
}

int
test_router_app_table(void)
{
	/* The real table passes the same checks the server runs at start. */
	CHECK(ch_nroutes > 0);
	CHECK(ch_router_check(ch_routes, ch_nroutes) == 0);
	return 0;
}

/* A last {name*} takes the rest of the path as it is: slashes, empty
 * segments and escapes included (OCSP's GET, issue 13); elsewhere, or
 * without a name, the pattern is refused; the printed path drops the '*'. */
int
test_router_rest_param(void)
{
	static const ch_route_t t[] = {
		{ CH_POST, "/ocsp", h, CH_ROLE_PUBLIC, NULL, 1024, ch_media_any },
		{ CH_GET, "/ocsp/{request*}", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
	};
	static const ch_route_t bad[] = {
		{ CH_GET, "/a/{x*}/b", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
		{ CH_GET, "/b/{*}", h, CH_ROLE_PUBLIC, NULL, 0, NULL },
	};
	ch_pool_t *pool = ch_pool_new();
	ch_match_t m;
	char path[64];

	CHECK(ch_router_match(t, 2, CH_GET, "/ocsp/MEow//a+b%2Fc=", pool, &m) ==
	    CH_MATCH_OK);
	CHECK(m.route == &t[1]);
	CHECK(m.nparams == 1);
	CHECK_STR(m.names[0], "request");
	CHECK_STR(m.values[0], "MEow//a+b%2Fc=");
	CHECK(ch_router_match(t, 2, CH_GET, "/ocsp/", pool, &m) == CH_MATCH_OK);
	CHECK_STR(m.values[0], "");
	CHECK(ch_router_match(t, 2, CH_POST, "/ocsp", pool, &m) == CH_MATCH_OK);
	CHECK(m.route == &t[0]);
	CHECK(ch_router_match(t, 2, CH_GET, "/ocsp", pool, &m) ==
	    CH_MATCH_METHOD);
	CHECK(ch_router_match(t, 2, CH_POST, "/ocsp/x", pool, &m) ==
	    CH_MATCH_METHOD);
	CHECK(ch_router_check(t, 2) == 0);
	CHECK(ch_router_check(bad, 2) == 2);
	ch_router_path(t[1].pattern, path, sizeof path);
	CHECK_STR(path, "/ocsp/{request}");
	ch_pool_free(pool);
	return 0;
}
