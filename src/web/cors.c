#include "certhall/web/cors.h"
#include "certhall/base/log.h"
#include "certhall/web/router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ORIGINS 16

static char *origins[MAX_ORIGINS];
static size_t norigins;

static bool
origin_well_formed(const char *o)
{
	const char *host;

	if (strncmp(o, "https://", 8) == 0)
		host = o + 8;
	else if (strncmp(o, "http://", 7) == 0)
		host = o + 7;
	else
		return false;
	return *host != '\0' && strpbrk(host, "/?#* ") == NULL;
}

int
ch_cors_configure(const char *csv)
{
	for (size_t i = 0; i < norigins; i++)
		free(origins[i]);
	norigins = 0;
	while (csv != NULL && *csv != '\0') {
		size_t n = strcspn(csv, ",");
		char *o;

		while (n > 0 && *csv == ' ')
			csv++, n--;
		o = ch_xmalloc(n + 1);
		memcpy(o, csv, n);
		o[n] = '\0';
		while (n > 0 && o[n - 1] == ' ')
			o[--n] = '\0';
		if (n > 0) {
			if (!origin_well_formed(o) || norigins == MAX_ORIGINS) {
				ch_error("CORS origin \"%s\" is not scheme://host[:port] "
				    "or there are more than %d", o, MAX_ORIGINS);
				free(o);
				return -1;
			}
			origins[norigins++] = o;
		} else {
			free(o);
		}
		csv += strcspn(csv, ",");
		if (*csv == ',')
			csv++;
	}
	return 0;
}

bool
ch_cors_allowed(const char *origin)
{
	for (size_t i = 0; origin != NULL && i < norigins; i++)
		if (strcmp(origins[i], origin) == 0)
			return true;
	return false;
}

void
ch_cors_finish(ch_req_t *req)
{
	const char *origin = ch_req_env(req, "HTTP_ORIGIN");
	char allow[96];

	if (origin != NULL)
		ch_resp_header(req, "Vary", "Origin");
	if (!ch_cors_allowed(origin))
		return;
	ch_resp_header(req, "Access-Control-Allow-Origin", origin);
	if (req->method == CH_OPTIONS && req->resp.status == 204) {
		ch_router_allow(req->allow, allow, sizeof allow);
		ch_resp_header(req, "Access-Control-Allow-Methods", allow);
		ch_resp_header(req, "Access-Control-Allow-Headers",
		    "Authorization, Content-Type, If-Match, If-None-Match, "
		    "Idempotency-Key, X-Certhall-External-User");
		ch_resp_header(req, "Access-Control-Max-Age", "600");
	} else {
		ch_resp_header(req, "Access-Control-Expose-Headers",
		    "X-Request-Id, ETag, Location, Retry-After, WWW-Authenticate, "
		    "Idempotency-Replayed, Content-Disposition");
	}
}
