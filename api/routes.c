/*
 * The route table: the whole API on one screen, path by path as in
 * openapi.yaml.  Every route states its roles (certhall/router.h); the
 * server refuses to start if one does not.
 */
#include "api.h"

const ch_route_t ch_routes[] = {
	{ CH_GET,  "/api/v1/health",  api_health,  CH_ROLE_PUBLIC, NULL, 0 },
	{ CH_GET,  "/api/v1/catalog", api_catalog, CH_ROLE_PUBLIC, NULL, 0 },
	{ CH_POST, "/api/v1/quotes",  api_quote_create, CH_ROLE_PUBLIC,
	  &api_quote_schema, 16 * 1024 },
};

const size_t ch_nroutes = sizeof ch_routes / sizeof ch_routes[0];
