/*
 * GET /api/v1/health — is this service usable: the worker, its database,
 * and whether a certificate signer is at work.
 *
 * 200 when the database is usable, else 503 problem+json with
 * checks.database = "unavailable" and Retry-After, so a load balancer or a
 * monitor can tell "up" from "up but useless".  The check costs a round
 * trip only when this worker has not completed a statement for HEALTH_MAX_AGE_MS
 * (ch_db_check): polled hard, health must not become the database's load.
 *
 * checks.signer is "ok" when some certhall-signer in state ok wrote its
 * heartbeat within SIGNER_MAX_AGE_S (it writes one every 2 s; signer_status),
 * else "unavailable" (no signer, its token unavailable or refused).  A
 * signer outage does NOT make the answer 503: every route but issuance
 * still works (applications, review, payment, downloads of what was
 * issued), and signing jobs wait in the queue until a signer is back, so
 * a load balancer that took this worker out of service for it would turn
 * a delay in issuance into an outage of the whole hall.  Monitors alert on
 * the member instead.  Each worker reads signer_status at most once per
 * SIGNER_CHECK_MS and answers from what it read in between; that read is a
 * round trip to the database too, so it stands in for ch_db_check's.
 *
 * checks.calendar (issue 14) is "ok" when every day from today to
 * CH_CAL_HORIZON_DAYS ahead (Asia/Shanghai) lies in a loaded calendar
 * year, else "incomplete": deadlines computed from such days fall back to
 * plain weekends and are flagged estimated, so a year an admin forgot to
 * load shows here (GET /api/v1/admin/calendar/status names it).  Like the
 * signer it never makes the answer 503, and each worker reads it at most
 * once per CALENDAR_CHECK_MS.
 */
#include "api.h"
#include "certhall/base/util.h"
#include "certhall/domain/calendar.h"
#include "certhall/domain/issuance.h"

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#define HEALTH_MAX_AGE_MS 1000
#define SIGNER_MAX_AGE_S 15
#define SIGNER_CHECK_MS 1000
#define CALENDAR_CHECK_MS 10000

/* This worker's last reading of signer_status. */
static bool signer_ok;
static bool signer_read;
static long long signer_read_ms;
/* ... and of the calendar's coverage. */
static bool calendar_ok;
static bool calendar_read;
static long long calendar_read_ms;

int
api_health(ch_req_t *req)
{
	long long t = ch_monotonic_ms();
	char now[32];
	bool ok;
	int db;

	ch_time_shanghai((long long)time(NULL), now);
	if (!signer_read || t - signer_read_ms >= SIGNER_CHECK_MS) {
		db = ch_issuance_signer_ok(&req->ctx, SIGNER_MAX_AGE_S, &ok);
		if (db == 0) {
			signer_ok = ok;
			signer_read = true;
			signer_read_ms = t;
		}
	} else {
		db = ch_db_check(req->ctx.db, req->ctx.pool, HEALTH_MAX_AGE_MS);
	}
	if (db == 0 && (!calendar_read ||
	    t - calendar_read_ms >= CALENDAR_CHECK_MS)) {
		db = ch_cal_covered(&req->ctx, &ok);
		if (db == 0) {
			calendar_ok = ok;
			calendar_read = true;
			calendar_read_ms = t;
		}
	}
	if (db != 0) {
		json_t *p = ch_problem(req, CH_P_SERVICE_UNAVAILABLE,
		    "the database is unavailable");

		json_object_set_new(p, "checks",
		    json_pack("{s:s}", "database", "unavailable"));
		ch_resp_header(req, "Retry-After", "5");
		return 0;
	}
	ch_resp_json(req, 200, json_pack("{s:s, s:{s:s, s:s, s:s}, s:s, s:s}",
	    "status", "ok",
	    "checks", "database", "ok",
	    "signer", signer_ok ? "ok" : "unavailable",
	    "calendar", calendar_ok ? "ok" : "incomplete",
	    "version", CERTHALL_VERSION,
	    "time", now));
	return 0;
}
