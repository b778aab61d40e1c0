/*
 * GET /api/v1/health — is this service usable: the worker and its database.
 *
 * 200 when the database is usable, else 503 problem+json with
 * checks.database = "unavailable" and Retry-After, so a load balancer or a
 * monitor can tell "up" from "up but useless".  The check costs a round
 * trip only when this worker has not completed a statement for HEALTH_MAX_AGE_MS
 * (ch_db_check): polled hard, health must not become the database's load.
 */
#include "api.h"

#include <jansson.h>
#include <time.h>

#define HEALTH_MAX_AGE_MS 1000

int
api_health(ch_req_t *req)
{
	char now[32];

	ch_time_shanghai((long long)time(NULL), now);
	if (ch_db_check(req->ctx.db, req->ctx.pool, HEALTH_MAX_AGE_MS) != 0) {
		json_t *p = ch_problem(req, CH_P_SERVICE_UNAVAILABLE,
		    "the database is unavailable");

		json_object_set_new(p, "checks",
		    json_pack("{s:s}", "database", "unavailable"));
		ch_resp_header(req, "Retry-After", "5");
		return 0;
	}
	ch_resp_json(req, 200, json_pack("{s:s, s:{s:s}, s:s, s:s}",
	    "status", "ok",
	    "checks", "database", "ok",
	    "version", CERTHALL_VERSION,
	    "time", now));
	return 0;
}
