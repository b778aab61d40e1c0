/*
 * Fixed-window counters in rate_limit (certhall/ratelimit.h).
 */
#include "certhall/web/ratelimit.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * $1 stored bucket, $2 window length in seconds.  Returns the window's hit
 * count after this one and the whole seconds left in the window.  The
 * DELETE runs on the same snapshot as the upsert and only touches earlier
 * windows, so the two never meet on a row.
 */
static const ch_stmt_t stmt_hit = {
	.name = "ratelimit_hit",
	.sql =
	    "WITH w AS ("
	    "  SELECT to_timestamp(floor(extract(epoch FROM now()) / $2::int)"
	    "                      * $2::int) AS start),"
	    " old AS ("
	    "  DELETE FROM rate_limit"
	    "   WHERE bucket = $1 AND window_start < (SELECT start FROM w)),"
	    " hit AS ("
	    "  INSERT INTO rate_limit (bucket, window_start, hits)"
	    "  SELECT $1, start, 1 FROM w"
	    "  ON CONFLICT (bucket, window_start)"
	    "  DO UPDATE SET hits = rate_limit.hits + 1"
	    "  RETURNING hits, window_start)"
	    " SELECT hits, greatest(1, ceil(extract(epoch FROM"
	    "        window_start + make_interval(secs => $2::int) - now())))::int"
	    "   FROM hit",
	.nparams = 2,
};

/* Buckets nobody counts in again (a phone used once) keep their last
 * window; sweep those now and then, a bounded batch at a time.  SKIP
 * LOCKED: the sweep never waits for (or deadlocks with) a request that is
 * counting in one of those buckets right now; it gets them next time. */
static const ch_stmt_t stmt_sweep = {
	.name = "ratelimit_sweep",
	.sql = "DELETE FROM rate_limit WHERE (bucket, window_start) IN ("
	       "  SELECT bucket, window_start FROM rate_limit"
	       "   WHERE window_start < now() - make_interval(secs => $1::int)"
	       "   LIMIT 1000 FOR UPDATE SKIP LOCKED)",
	.nparams = 1,
};

#define SWEEP_EVERY 256

ch_rate_result_t
ch_rate_hit(ch_req_t *req, const char *bucket, int window_seconds, int limit,
    int *retry_after)
{
	static unsigned sweep_counter;
	char window[16], maxwin[16];
	const char *params[2];
	PGresult *res;
	long hits;

	if (window_seconds < 1 || window_seconds > CH_RATE_MAX_WINDOW_SECONDS ||
	    limit < 1) {
		/* Not the bucket: it may hold a phone number. */
		ch_error("rate limit with a bad window %d or limit %d",
		    window_seconds, limit);
		return CH_RATE_ERROR;
	}
	snprintf(window, sizeof window, "%d", window_seconds);
	/* One bucket may carry limits over several window lengths. */
	params[0] = ch_psprintf(req->ctx.pool, "%s/%ds", bucket, window_seconds);
	params[1] = window;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_hit, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_RATE_ERROR;
	hits = strtol(PQgetvalue(res, 0, 0), NULL, 10);

	if (++sweep_counter % SWEEP_EVERY == 0) {
		snprintf(maxwin, sizeof maxwin, "%d", CH_RATE_MAX_WINDOW_SECONDS);
		params[0] = maxwin;
		if (ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_sweep, params) == NULL)
			return CH_RATE_ERROR;
	}
	if (hits <= limit)
		return CH_RATE_ALLOWED;
	*retry_after = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
	if (*retry_after < 1)
		*retry_after = 1;
	return CH_RATE_LIMITED;
}

int
ch_rate_check(ch_req_t *req, const ch_rate_limit_t *limits, size_t n)
{
	const ch_rate_limit_t *worst = NULL;
	int wait = 0;
	char retry[16];

	for (size_t i = 0; i < n; i++) {
		int after = 0;

		switch (ch_rate_hit(req, limits[i].bucket,
		    limits[i].window_seconds, limits[i].limit, &after)) {
		case CH_RATE_ALLOWED:
			break;
		case CH_RATE_LIMITED:
			if (after > wait) {
				wait = after;
				worst = &limits[i];
			}
			break;
		case CH_RATE_ERROR:
		default:
			return -1;
		}
	}
	if (worst == NULL)
		return 0;
	snprintf(retry, sizeof retry, "%d", wait);
	ch_problem(req, CH_P_TOO_MANY_REQUESTS, "%s; try again in %d seconds",
	    worst->detail, wait);
	ch_resp_header(req, "Retry-After", retry);
	return 1;
}
