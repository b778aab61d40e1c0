/*
 * Working days, the 2-working-day promise, the fulfilment queue and the
 * overdue event (SPEC §5, §7; issue 14; docs/CONTRACT.md "Working days and
 * the deadline").
 *
 * The calendar is data (sql/0018_calendar.sql): loaded years, and the days
 * of a loaded year that differ from the plain rule (Monday-Friday work):
 * holidays ('off') and adjusted weekend workdays (调休上班, 'workday').
 * The deadline has ONE definition, the SQL function calendar_due_by():
 * the end (23:59:59.999999 Asia/Shanghai) of the 2nd working day after the
 * settle day, flagged "estimated" when a day it looked at lies in a year
 * that is not loaded (the weekend rule decided it).  Settlement
 * (src/domain/settle.c) stores it on the application in its transaction;
 * the admin route GET /api/v1/admin/calendar/deadline shows what it gives
 * for any time, and nothing in C computes it again.
 *
 * Decisions where the issue is silent:
 *  - A deadline is computed once, at settlement, and kept: correcting a day
 *    later does not move deadlines already promised.  Loading a whole year
 *    (ch_cal_year_put) does recompute the deadlines that were estimated
 *    and are still open, so a missing year, once supplied, stops being a
 *    guess.
 *  - A single day may be corrected only in a loaded year (409 otherwise):
 *    one correction must not make a year look loaded.
 *  - "Promise met" (application.fulfilled_at) is set by a trigger when the
 *    status moves: new/reissue when shipped; renew/change/unlock when
 *    issued (available online); revoke when completed (published).  An
 *    application is overdue when now > due_by and it is not fulfilled.
 *
 * Functions take a context (certhall/store/ctx.h) and return results; the
 * handlers (api/calendar.c) turn them into answers.  Nothing here opens or
 * commits a transaction unless it says so.
 */
#ifndef CERTHALL_DOMAIN_CALENDAR_H
#define CERTHALL_DOMAIN_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>

#include "certhall/store/ctx.h"

/* Years an admin may load (the calendar_year CHECK). */
#define CH_CAL_YEAR_MIN 2000
#define CH_CAL_YEAR_MAX 2100
/* How far ahead the status (and /health) wants the calendar loaded. */
#define CH_CAL_HORIZON_DAYS 30

typedef enum {
	CH_CAL_OK,
	CH_CAL_NOT_LOADED,	/* the year is not loaded */
	CH_CAL_ERROR,		/* database error, logged */
} ch_cal_result_t;

/*
 * Parses s as a calendar date "YYYY-MM-DD" (exactly that form, a real
 * Gregorian date, year CH_CAL_YEAR_MIN..CH_CAL_YEAR_MAX).  0 with *year
 * set (if not NULL), or -1.  Pure.
 */
int ch_cal_parse_date(const char *s, int *year);

/*
 * Whether s is an RFC 3339 date-time with seconds and an offset:
 * "YYYY-MM-DDTHH:MM:SS" with an optional fraction of 1-6 digits, then "Z"
 * or "+HH:MM" / "-HH:MM" (hours up to 14), date as ch_cal_parse_date().
 * 0 or -1.  Pure.
 */
int ch_cal_check_time(const char *s);

/*
 * The CalendarStatus object: loaded years, today (Asia/Shanghai), whether
 * every day from today to today + CH_CAL_HORIZON_DAYS is in a loaded year,
 * the years that are not, and the last day of the loaded run that covers
 * today.  JSON text (ctx->pool, *len bytes), or NULL (logged).
 */
const char *ch_cal_status_json(ch_ctx_t *ctx, size_t *len);

/* Whether the horizon is covered (what /health shows).  0 or -1. */
int ch_cal_covered(ch_ctx_t *ctx, bool *covered);

/*
 * The CalendarYear object of year: when it was loaded, its note, its
 * explicit days in order, and its count of working days.  CH_CAL_OK with
 * *json (ctx->pool), CH_CAL_NOT_LOADED, or CH_CAL_ERROR.
 */
ch_cal_result_t ch_cal_year_json(ch_ctx_t *ctx, int year, const char **json,
    size_t *len);

/*
 * Replaces year with days (a JSON array text of {"date","kind","note"},
 * already checked: dates of that year, distinct, kinds off|workday) and
 * note (may be NULL), in the caller's transaction: the year is loaded (or
 * its load time renewed), its old days removed, the new ones stored, the
 * open estimated deadlines recomputed (calendar_due_by()), and the audit
 * event calendar.year_replaced written (days off, workdays, days before,
 * deadlines recomputed).  0 or -1 (logged).
 */
int ch_cal_year_put(ch_ctx_t *ctx, int year, const char *days,
    const char *note);

/*
 * Sets day (ch_cal_parse_date() form) to kind ("off" or "workday") with
 * note (may be NULL), in the caller's transaction, with the audit event
 * calendar.day_corrected (the kind before and after).  CH_CAL_OK with
 * *json the CalendarDay object (ctx->pool), CH_CAL_NOT_LOADED when its
 * year is not loaded (nothing changed), or CH_CAL_ERROR.
 */
ch_cal_result_t ch_cal_day_put(ch_ctx_t *ctx, const char *day,
    const char *kind, const char *note, const char **json, size_t *len);

/*
 * The Deadline object for a settlement at time at (ch_cal_check_time()
 * form): settle day, due_by and due_by_estimated from calendar_due_by().
 * JSON text (ctx->pool), or NULL (logged).
 */
const char *ch_cal_deadline_json(ch_ctx_t *ctx, const char *at, size_t *len);

/* ---- the fulfilment queue ------------------------------------------------ */

/* Buckets and next actions as the API names them, NULL-terminated. */
extern const char *const ch_fulfil_buckets[];
extern const char *const ch_fulfil_nexts[];

/* What GET /api/v1/fulfilment filters on (NULL: any). */
typedef struct {
	const char *bucket;
	const char *next;
	const char *business_type;
	long long limit;
} ch_fulfil_filter_t;

/*
 * The fulfilment queue: settled applications still open (issuing to
 * activated), ordered by due_by then id, each as a FulfilmentItem with its
 * bucket (overdue, due_today, later; met once fulfilled) and the next
 * action (personalise, ship, await_delivery, await_handler, await_signer,
 * signing_failed, complete), at most f->limit of those that pass f, with
 * the count of those that pass and the count per bucket of all open ones.
 * JSON text (ctx->pool), or NULL (logged).
 */
const char *ch_fulfil_list(ch_ctx_t *ctx, const ch_fulfil_filter_t *f,
    size_t *len);

/*
 * One step of the overdue sweep, in a transaction of its own: takes one
 * application whose due_by has passed, unfulfilled and not yet flagged
 * (FOR UPDATE SKIP LOCKED, so two sweepers never take the same one), sets
 * its overdue_at, writes the audit event application.overdue and queues
 * an SMS (template "overdue") to operator_phone through the outbox, and
 * commits: all or nothing, so the event is raised exactly once.
 * operator_phone NULL: no SMS (the audit detail says notified false).
 * 1 flagged one, 0 none due, -1 error (rolled back, logged).
 */
int ch_deadline_sweep_step(ch_ctx_t *ctx, const char *operator_phone);

#endif
