/*
 * Fixed-window rate limits, counted in PostgreSQL (table rate_limit) so
 * every worker of every host shares them and they survive restarts.
 *
 * A bucket names what is limited ("sms:phone:13800138000",
 * "sms:addr:203.0.113.7"); each (bucket, window length) pair counts hits in
 * windows aligned to the epoch (a 60 s window starts at :00), so the same
 * bucket may carry several limits (1 a minute and 5 an hour) without the
 * counts mixing.  A window's counter resets when the next window starts;
 * a burst of 2 x limit across a window boundary is the accepted price of
 * one row per bucket and one statement per hit.
 */
#ifndef CERTHALL_RATELIMIT_H
#define CERTHALL_RATELIMIT_H

#include "certhall/web/http.h"

/* Longest window ch_rate_hit() takes (past windows are swept after it). */
#define CH_RATE_MAX_WINDOW_SECONDS 86400

typedef enum {
	CH_RATE_ALLOWED,	/* this hit is within the limit */
	CH_RATE_LIMITED,	/* over the limit; *retry_after is set */
	CH_RATE_ERROR,		/* the database failed (logged) */
} ch_rate_result_t;

/*
 * Counts one hit in bucket's current window of window_seconds (1 to
 * CH_RATE_MAX_WINDOW_SECONDS) and says whether it is within limit (>= 1).
 * The window's start is computed by PostgreSQL (now(), so within the
 * caller's transaction every limit sees the same instant); the upsert takes
 * the counter row's lock, so concurrent hits are counted exactly.  The same
 * statement deletes the bucket's past windows.
 *
 * The hit is written in the caller's transaction if one is open: a caller
 * that rolls back a refused request un-counts it, which is what callers
 * limiting work actually done (SMS sent) want.  On CH_RATE_LIMITED,
 * *retry_after is the whole seconds (>= 1) until the window ends, for a
 * Retry-After header; it is untouched otherwise.
 */
ch_rate_result_t ch_rate_hit(ch_req_t *req, const char *bucket,
    int window_seconds, int limit, int *retry_after);

/* One limit on a request: its bucket, window and allowance, and what a
 * refusal tells the caller ("a code was sent to this phone less than a
 * minute ago"). */
typedef struct {
	const char *bucket;
	int window_seconds;
	int limit;
	const char *detail;
} ch_rate_limit_t;

/*
 * Counts this request against every one of the n limits, in the order
 * given (callers keep one order, so concurrent requests take the counter
 * rows' locks in one order and cannot deadlock).  0 if all allow it; 1
 * with a 429 too-many-requests response when one refuses (Retry-After: the
 * longest wait among the refusing limits, after which all of them allow
 * again; the detail is that limit's); -1 on a database error.  Every limit
 * is counted even after one refuses: the caller rolls the whole
 * transaction back on refusal, so only work actually done uses up anyone's
 * allowance.
 */
int ch_rate_check(ch_req_t *req, const ch_rate_limit_t *limits, size_t n);

#endif
