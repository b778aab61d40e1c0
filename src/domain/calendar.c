/*
 * Working days, the deadline, the fulfilment queue and the overdue sweep
 * (certhall/domain/calendar.h).  The rules live in sql/0018_calendar.sql;
 * this file asks PostgreSQL and shapes the answers.
 */
#include "certhall/domain/calendar.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/store/outbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_OVERDUE \
	"【四川CA】申请（编号%s）已超过承诺办结时间%s，尚未办结，请尽快处理。"

const char *const ch_fulfil_buckets[] = {
	"overdue", "due_today", "later", "met", NULL,
};

const char *const ch_fulfil_nexts[] = {
	"personalise", "ship", "await_delivery", "await_handler",
	"await_signer", "signing_failed", "complete", NULL,
};

/* ---- pure checks ------------------------------------------------------- */

static int
digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
ch_cal_parse_date(const char *s, int *year)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, m, d, max;

	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    digits(s, 4, &y) != 0 || digits(s + 5, 2, &m) != 0 ||
	    digits(s + 8, 2, &d) != 0)
		return -1;
	if (y < CH_CAL_YEAR_MIN || y > CH_CAL_YEAR_MAX || m < 1 || m > 12)
		return -1;
	max = mdays[m - 1];
	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		max = 29;
	if (d < 1 || d > max)
		return -1;
	if (year != NULL)
		*year = y;
	return 0;
}

int
ch_cal_check_time(const char *s)
{
	char date[11];
	const char *p;
	int h, mi, se;

	if (s == NULL || strlen(s) < 20)
		return -1;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (ch_cal_parse_date(date, NULL) != 0 || s[10] != 'T' ||
	    digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    digits(s + 17, 2, &se) != 0 || h > 23 || mi > 59 || se > 59)
		return -1;
	p = s + 19;
	if (*p == '.') {
		size_t n = strspn(p + 1, "0123456789");

		if (n < 1 || n > 6)
			return -1;
		p += 1 + n;
	}
	if (strcmp(p, "Z") == 0)
		return 0;
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':' ||
	    digits(p + 1, 2, &h) != 0 || digits(p + 4, 2, &mi) != 0 ||
	    h > 14 || mi > 59)
		return -1;
	return 0;
}

/* ---- the calendar -------------------------------------------------------- */

/* The CalendarStatus object (ch_cal_status_json()); $1 = horizon days. */
static const ch_stmt_t stmt_status = {
	.name = "cal_status",
	.sql = "WITH t AS (SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date"
	       "   AS today),"
	       " need AS (SELECT DISTINCT extract(year FROM t.today + i)::int"
	       "   AS year FROM t, generate_series(0, $1::int) i),"
	       " missing AS (SELECT COALESCE(array_agg(n.year ORDER BY n.year),"
	       "   '{}') AS years FROM need n WHERE NOT EXISTS (SELECT 1"
	       "   FROM calendar_year c WHERE c.year = n.year)),"
	       " first_gap AS (SELECT min(g) AS year FROM t, generate_series("
	       "   extract(year FROM t.today)::int, 2101) g WHERE NOT EXISTS"
	       "   (SELECT 1 FROM calendar_year c WHERE c.year = g))"
	       " SELECT json_build_object("
	       "  'loaded_years', (SELECT COALESCE(json_agg(year ORDER BY year),"
	       "    '[]') FROM calendar_year),"
	       "  'today', t.today, 'horizon_days', $1::int,"
	       "  'covered', cardinality(m.years) = 0,"
	       "  'missing_years', to_json(m.years),"
	       "  'covered_until', CASE WHEN f.year > extract(year FROM t.today)"
	       "    THEN make_date(f.year - 1, 12, 31) END)::text,"
	       "  cardinality(m.years) = 0"
	       " FROM t, missing m, first_gap f",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_year = {
	.name = "cal_year",
	.sql = "SELECT json_build_object('year', y.year,"
	       " 'loaded_at', " CH_SQL_TIME("y.loaded_at") ", 'note', y.note,"
	       " 'working_days', (SELECT count(*) FROM generate_series("
	       "   make_date(y.year, 1, 1), make_date(y.year, 12, 31),"
	       "   interval '1 day') g, calendar_workday(g::date) w"
	       "   WHERE w.workday),"
	       " 'days', (SELECT COALESCE(json_agg(json_build_object("
	       "   'date', d.day, 'kind', d.kind, 'note', d.note)"
	       "   ORDER BY d.day), '[]') FROM calendar_day d"
	       "   WHERE d.year = y.year))::text"
	       " FROM calendar_year y WHERE y.year = $1::int",
	.nparams = 1,
	.readonly = true,
};

/* Loads $1 (note $2) and empties it: 0 whether it was loaded before, 1
 * the days it had. */
static const ch_stmt_t stmt_year_load = {
	.name = "cal_year_load",
	.sql = "WITH before AS (SELECT EXISTS (SELECT 1 FROM calendar_year"
	       "   WHERE year = $1::int) AS loaded),"
	       " y AS (INSERT INTO calendar_year (year, note)"
	       "   VALUES ($1::int, $2) ON CONFLICT (year) DO UPDATE"
	       "   SET loaded_at = now(), note = EXCLUDED.note RETURNING year),"
	       " gone AS (DELETE FROM calendar_day WHERE year = $1::int"
	       "   RETURNING day)"
	       " SELECT b.loaded, (SELECT count(*) FROM gone),"
	       "  (SELECT count(*) FROM y) FROM before b",
	.nparams = 2,
};

/* Stores the days $2 (a checked JSON array) of year $1: counts off,
 * workday. */
static const ch_stmt_t stmt_year_days = {
	.name = "cal_year_days",
	.sql = "WITH ins AS (INSERT INTO calendar_day (day, year, kind, note)"
	       "  SELECT (e->>'date')::date, $1::int, e->>'kind', e->>'note'"
	       "  FROM jsonb_array_elements($2::jsonb) e RETURNING kind)"
	       " SELECT count(*) FILTER (WHERE kind = 'off'),"
	       "  count(*) FILTER (WHERE kind = 'workday') FROM ins",
	.nparams = 2,
};

/* The open deadlines that were estimated, computed again now the calendar
 * has more: how many. */
static const ch_stmt_t stmt_recompute = {
	.name = "cal_recompute",
	.sql = "WITH r AS (UPDATE application a SET due_by = d.due_by,"
	       "  due_by_estimated = d.estimated, version = a.version + 1"
	       " FROM application s, LATERAL calendar_due_by(s.settled_at) d"
	       " WHERE s.id = a.id AND a.due_by_estimated"
	       "  AND a.fulfilled_at IS NULL AND a.overdue_at IS NULL"
	       "  AND a.status IN ('issuing', 'issued', 'shipped', 'delivered',"
	       "   'activated')"
	       "  AND (a.due_by, a.due_by_estimated) IS DISTINCT FROM"
	       "   (d.due_by, d.estimated)"
	       " RETURNING a.id)"
	       " SELECT count(*) FROM r",
	.nparams = 0,
};

/* Sets day $1 of year $2 to kind $3, note $4, if the year is loaded: the
 * CalendarDay object and the kind before (from the plain rule when there
 * was no row); no row when the year is not loaded. */
static const ch_stmt_t stmt_day = {
	.name = "cal_day",
	.sql = "WITH y AS (SELECT year FROM calendar_year WHERE year = $2::int"
	       "   FOR UPDATE),"
	       " old AS (SELECT kind FROM calendar_day WHERE day = $1::date),"
	       " up AS (INSERT INTO calendar_day (day, year, kind, note)"
	       "   SELECT $1::date, y.year, $3, $4 FROM y"
	       "   ON CONFLICT (day) DO UPDATE SET kind = EXCLUDED.kind,"
	       "   note = EXCLUDED.note, updated_at = now()"
	       "   RETURNING day, kind, note)"
	       " SELECT json_build_object('date', up.day, 'kind', up.kind,"
	       "  'note', up.note)::text,"
	       "  COALESCE((SELECT kind FROM old), CASE WHEN"
	       "   extract(isodow FROM $1::date) < 6 THEN 'workday' ELSE 'off'"
	       "   END)"
	       " FROM up",
	.nparams = 4,
};

static const ch_stmt_t stmt_deadline = {
	.name = "cal_deadline",
	.sql = "SELECT json_build_object('settled_at', " CH_SQL_TIME("t.at") ","
	       " 'settle_day', (t.at AT TIME ZONE 'Asia/Shanghai')::date,"
	       " 'due_by', " CH_SQL_TIME("d.due_by") ","
	       " 'due_by_estimated', d.estimated)::text"
	       " FROM (SELECT $1::timestamptz AS at) t,"
	       "  LATERAL calendar_due_by(t.at) d",
	.nparams = 1,
	.readonly = true,
};

/* The first column of a one-row result as pool text, or NULL. */
static const char *
one_text(ch_ctx_t *ctx, PGresult *res, size_t *len)
{
	const char *s;

	if (res == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		ch_error("calendar: expected one row, got %d", PQntuples(res));
		return NULL;
	}
	s = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	*len = strlen(s);
	return s;
}

static const char *
horizon(ch_ctx_t *ctx)
{
	return ch_psprintf(ctx->pool, "%d", CH_CAL_HORIZON_DAYS);
}

const char *
ch_cal_status_json(ch_ctx_t *ctx, size_t *len)
{
	const char *params[1] = { horizon(ctx) };

	return one_text(ctx, ch_db_exec(ctx->db, ctx->pool, &stmt_status,
	    params), len);
}

int
ch_cal_covered(ch_ctx_t *ctx, bool *covered)
{
	const char *params[1] = { horizon(ctx) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_status, params);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	*covered = *PQgetvalue(res, 0, 1) == 't';
	return 0;
}

ch_cal_result_t
ch_cal_year_json(ch_ctx_t *ctx, int year, const char **json, size_t *len)
{
	const char *params[1] = { ch_psprintf(ctx->pool, "%d", year) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_year, params);

	if (res == NULL)
		return CH_CAL_ERROR;
	if (PQntuples(res) != 1)
		return CH_CAL_NOT_LOADED;
	*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	*len = strlen(*json);
	return CH_CAL_OK;
}

int
ch_cal_year_put(ch_ctx_t *ctx, int year, const char *days, const char *note)
{
	const char *params[2];
	const char *const none[1] = { NULL };
	PGresult *load, *stored, *again;
	char *ybuf = ch_psprintf(ctx->pool, "%d", year);

	params[0] = ybuf;
	params[1] = note;
	if ((load = ch_db_exec(ctx->db, ctx->pool, &stmt_year_load, params))
	    == NULL || PQntuples(load) != 1)
		return -1;
	params[1] = days;
	if ((stored = ch_db_exec(ctx->db, ctx->pool, &stmt_year_days, params))
	    == NULL || PQntuples(stored) != 1)
		return -1;
	if ((again = ch_db_exec(ctx->db, ctx->pool, &stmt_recompute, none))
	    == NULL || PQntuples(again) != 1)
		return -1;
	return ch_audit(ctx, "calendar.year_replaced", "calendar_year", ybuf,
	    json_pack("{s:b, s:I, s:I, s:I, s:I}",
	    "was_loaded", *PQgetvalue(load, 0, 0) == 't',
	    "days_before", (json_int_t)strtoll(PQgetvalue(load, 0, 1), NULL, 10),
	    "days_off", (json_int_t)strtoll(PQgetvalue(stored, 0, 0), NULL, 10),
	    "workdays", (json_int_t)strtoll(PQgetvalue(stored, 0, 1), NULL, 10),
	    "deadlines_recomputed",
	    (json_int_t)strtoll(PQgetvalue(again, 0, 0), NULL, 10)));
}

ch_cal_result_t
ch_cal_day_put(ch_ctx_t *ctx, const char *day, const char *kind,
    const char *note, const char **json, size_t *len)
{
	const char *params[4];
	PGresult *res;
	int year;

	if (ch_cal_parse_date(day, &year) != 0)
		return CH_CAL_NOT_LOADED;
	params[0] = day;
	params[1] = ch_psprintf(ctx->pool, "%d", year);
	params[2] = kind;
	params[3] = note;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_day, params)) == NULL)
		return CH_CAL_ERROR;
	if (PQntuples(res) != 1)
		return CH_CAL_NOT_LOADED;
	*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	*len = strlen(*json);
	if (ch_audit(ctx, "calendar.day_corrected", "calendar_day", day,
	    json_pack("{s:s, s:s, s:s?}", "kind_before", PQgetvalue(res, 0, 1),
	    "kind", kind, "note", note)) != 0)
		return CH_CAL_ERROR;
	return CH_CAL_OK;
}

const char *
ch_cal_deadline_json(ch_ctx_t *ctx, const char *at, size_t *len)
{
	const char *params[1] = { at };

	return one_text(ctx, ch_db_exec(ctx->db, ctx->pool, &stmt_deadline,
	    params), len);
}

/* ---- the fulfilment queue ------------------------------------------------ */

/* The bucket of "application a" (ch_fulfil_buckets). */
#define SQL_BUCKET \
	"CASE WHEN a.fulfilled_at IS NOT NULL THEN 'met'" \
	" WHEN now() > a.due_by THEN 'overdue'" \
	" WHEN (a.due_by AT TIME ZONE 'Asia/Shanghai')::date" \
	"   = (now() AT TIME ZONE 'Asia/Shanghai')::date THEN 'due_today'" \
	" ELSE 'later' END"

/* A personalised key of "application a", ready to ship. */
#define SQL_KEY_READY \
	"EXISTS (SELECT 1 FROM usb_key k WHERE k.application_id = a.id" \
	"  AND k.status = 'personalised')"

/* The next action for "application a" with its "signing_job j" (LEFT
 * JOIN): who has to act.  personalise: an operator at the station (bind a
 * blank key and send its key request; after issue, hand over the PIN and
 * mark it personalised); ship: a personalised key waits for the courier;
 * await_handler: the handler (key request for renew/change, the unlock
 * challenge, installing or confirming); await_signer: certhall-signer
 * (signing, or publishing a revocation); signing_failed: an operator must
 * look at the failed job; await_delivery: the courier; complete: nothing
 * but the last move. */
#define SQL_NEXT \
	"CASE WHEN a.status = 'issuing' THEN CASE" \
	"  WHEN j.status = 'failed' THEN 'signing_failed'" \
	"  WHEN a.business_type IN ('new', 'reissue') AND j.csr IS NULL" \
	"   THEN 'personalise'" \
	"  WHEN a.business_type IN ('renew', 'change') AND j.csr IS NULL" \
	"   THEN 'await_handler'" \
	"  WHEN a.business_type = 'unlock' AND NOT EXISTS (SELECT 1" \
	"   FROM unlock_request u WHERE u.application_id = a.id)" \
	"   THEN 'await_handler'" \
	"  ELSE 'await_signer' END" \
	" WHEN a.status = 'issued' THEN CASE" \
	"  WHEN a.business_type IN ('new', 'reissue') THEN CASE" \
	"   WHEN " SQL_KEY_READY " THEN 'ship' ELSE 'personalise' END" \
	"  WHEN a.business_type = 'revoke' THEN 'await_signer'" \
	"  ELSE 'await_handler' END" \
	" WHEN a.status = 'shipped' THEN 'await_delivery'" \
	" ELSE 'complete' END"

/* $1 bucket, $2 next, $3 business type (NULL: any), $4 limit. */
static const ch_stmt_t stmt_queue = {
	.name = "fulfil_queue",
	.sql = "WITH q AS (SELECT a.id, a.status, a.business_type,"
	       "  a.certificate_type, a.unit_name, a.handler_name, a.settled_at,"
	       "  a.due_by, a.due_by_estimated, a.fulfilled_at, a.overdue_at,"
	       "  (SELECT k.serial FROM usb_key k WHERE k.application_id = a.id"
	       "   ORDER BY k.initialised_at DESC LIMIT 1) AS usb_key_serial,"
	       "  " SQL_BUCKET " AS bucket, " SQL_NEXT " AS next"
	       " FROM application a"
	       " LEFT JOIN signing_job j ON j.application_id = a.id"
	       " WHERE a.due_by IS NOT NULL AND a.status IN ('issuing', 'issued',"
	       "  'shipped', 'delivered', 'activated')),"
	       " f AS (SELECT * FROM q WHERE ($1::text IS NULL OR bucket = $1)"
	       "  AND ($2::text IS NULL OR next = $2)"
	       "  AND ($3::text IS NULL OR business_type = $3))"
	       " SELECT json_build_object("
	       "  'items', (SELECT COALESCE(json_agg(json_build_object("
	       "   'application_id', x.id, 'status', x.status,"
	       "   'business_type', x.business_type,"
	       "   'certificate_type', x.certificate_type,"
	       "   'unit_name', x.unit_name, 'handler_name', x.handler_name,"
	       "   'settled_at', " CH_SQL_TIME("x.settled_at") ","
	       "   'due_by', " CH_SQL_TIME("x.due_by") ","
	       "   'due_by_estimated', x.due_by_estimated,"
	       "   'fulfilled_at', " CH_SQL_TIME("x.fulfilled_at") ","
	       "   'overdue_at', " CH_SQL_TIME("x.overdue_at") ","
	       "   'usb_key_serial', x.usb_key_serial,"
	       "   'bucket', x.bucket, 'next', x.next)"
	       "   ORDER BY x.due_by, x.id), '[]') FROM (SELECT * FROM f"
	       "   ORDER BY due_by, id LIMIT $4::int) x),"
	       "  'matching', (SELECT count(*) FROM f),"
	       "  'counts', (SELECT json_build_object("
	       "   'overdue', count(*) FILTER (WHERE bucket = 'overdue'),"
	       "   'due_today', count(*) FILTER (WHERE bucket = 'due_today'),"
	       "   'later', count(*) FILTER (WHERE bucket = 'later'),"
	       "   'met', count(*) FILTER (WHERE bucket = 'met')) FROM q),"
	       "  'now', " CH_SQL_TIME("now()") ")::text",
	.nparams = 4,
	.readonly = true,
};

const char *
ch_fulfil_list(ch_ctx_t *ctx, const ch_fulfil_filter_t *f, size_t *len)
{
	const char *params[4];

	params[0] = f->bucket;
	params[1] = f->next;
	params[2] = f->business_type;
	params[3] = ch_psprintf(ctx->pool, "%lld", f->limit);
	return one_text(ctx, ch_db_exec(ctx->db, ctx->pool, &stmt_queue,
	    params), len);
}

/* ---- the overdue sweep --------------------------------------------------- */

/* Flags the most overdue application nobody else holds: its id, due_by
 * (API form and as the SMS says it), business and status. */
static const ch_stmt_t stmt_overdue = {
	.name = "deadline_overdue",
	.sql = "UPDATE application a SET overdue_at = now(),"
	       "  version = a.version + 1"
	       " WHERE a.id = (SELECT id FROM application"
	       "   WHERE due_by < now() AND fulfilled_at IS NULL"
	       "    AND overdue_at IS NULL AND status IN ('issuing', 'issued',"
	       "    'shipped', 'delivered', 'activated')"
	       "   ORDER BY due_by LIMIT 1 FOR UPDATE SKIP LOCKED)"
	       "  AND a.overdue_at IS NULL AND a.fulfilled_at IS NULL"
	       " RETURNING a.id, " CH_SQL_TIME("a.due_by") ","
	       "  to_char(a.due_by AT TIME ZONE 'Asia/Shanghai',"
	       "   'YYYY-MM-DD HH24:MI'), a.business_type, a.status",
	.nparams = 0,
};

int
ch_deadline_sweep_step(ch_ctx_t *ctx, const char *operator_phone)
{
	const char *const none[1] = { NULL };
	const char *id, *shown, *params_text;
	PGresult *res;

	if (ch_db_begin(ctx->db) != 0)
		goto fail;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_overdue, none))
	    == NULL)
		goto fail;
	if (PQntuples(res) != 1) {
		if (ch_db_commit(ctx->db) != 0)
			goto fail;
		return 0;
	}
	id = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	shown = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));
	if (ch_audit(ctx, "application.overdue", "application", id,
	    json_pack("{s:s, s:s, s:s, s:b}", "due_by", PQgetvalue(res, 0, 1),
	    "business_type", PQgetvalue(res, 0, 3),
	    "status", PQgetvalue(res, 0, 4),
	    "notified", operator_phone != NULL)) != 0)
		goto fail;
	if (operator_phone != NULL) {
		/* Both values are digits, dashes, a space and a colon: no
		 * escaping needed. */
		params_text = ch_psprintf(ctx->pool,
		    "{\"id\":\"%s\",\"due_by\":\"%s\"}", id, shown);
		if (ch_outbox_sms(ctx->db, ctx->pool, operator_phone, "overdue",
		    params_text, ch_psprintf(ctx->pool, TEXT_OVERDUE, id, shown),
		    NULL) != 0)
			goto fail;
	}
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	ch_info("application %s overdue (due by %s)", id, shown);
	return 1;
fail:
	ch_db_finish(ctx->db);
	return -1;
}
