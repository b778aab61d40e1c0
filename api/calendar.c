/*
 * The working-day calendar, the deadline and the fulfilment queue (issue
 * 14; certhall/domain/calendar.h; docs/CONTRACT.md "Working days and the
 * deadline"):
 *
 *   GET /api/v1/admin/calendar/status          loaded years, coverage
 *   GET /api/v1/admin/calendar/years/{year}    one year's days
 *   PUT /api/v1/admin/calendar/years/{year}    replace a year (audited)
 *   PUT /api/v1/admin/calendar/days/{date}     correct one day (audited)
 *   GET /api/v1/admin/calendar/deadline?at=    what due_by a settlement
 *                                              at that time gets
 *   GET /api/v1/fulfilment                     the operators' queue
 *
 * The year's body is an array of objects, which the declared schemas
 * (certhall/base/json.h) do not describe: that route takes its JSON raw
 * and this file checks it with the same strictness (unknown members,
 * duplicate keys, types, each refusal naming its JSON Pointer).
 */
#include "api.h"
#include "certhall/base/util.h"
#include "certhall/domain/calendar.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define YEAR_DAYS_MAX 366
#define DAY_NOTE_MAX 100
#define YEAR_NOTE_MAX 200
#define QUEUE_LIMIT_DEFAULT 50
#define QUEUE_LIMIT_MAX 200

static const char *const day_kinds[] = { "off", "workday", NULL };

/* The year of the path, or 0 with the 404 set (a malformed year is as
 * unknown as an unloaded one). */
static int
path_year(ch_req_t *req)
{
	const char *s = ch_req_param(req, "year");
	long y = s != NULL && strlen(s) == 4 ? ch_parse_long(s, 10,
	    CH_CAL_YEAR_MAX) : -1;

	if (y < CH_CAL_YEAR_MIN) {
		ch_problem(req, CH_P_NOT_FOUND, "no such calendar year (a year"
		    " from %d to %d)", CH_CAL_YEAR_MIN, CH_CAL_YEAR_MAX);
		return 0;
	}
	return (int)y;
}

static void
year_not_loaded(ch_req_t *req, int year)
{
	ch_problem(req, CH_P_NOT_FOUND, "the calendar year %d is not loaded",
	    year);
}

int
api_calendar_status(ch_req_t *req)
{
	const char *body;
	size_t len;

	body = ch_cal_status_json(&req->ctx, &len);
	return api_send_text(req, body, len);
}

int
api_calendar_year_get(ch_req_t *req)
{
	const char *body;
	size_t len;
	int year;

	if ((year = path_year(req)) == 0)
		return 0;
	switch (ch_cal_year_json(&req->ctx, year, &body, &len)) {
	case CH_CAL_OK:
		ch_resp_json_text(req, 200, body, len);
		return 0;
	case CH_CAL_NOT_LOADED:
		year_not_loaded(req, year);
		return 0;
	case CH_CAL_ERROR:
	default:
		return -1;
	}
}

/* ---- PUT a year ---------------------------------------------------------- */

/* Sets a 422 naming pointer; returns -1 for the caller to pass on. */
static int
refuse(ch_req_t *req, bool missing, const char *pointer, const char *detail)
{
	ch_problem_field(req, missing ? CH_P_MISSING_FIELD : CH_P_INVALID_FIELD,
	    pointer, "%s", detail);
	return -1;
}

/* An optional note: absent, null, or a string of 1..max characters. */
static int
check_note(ch_req_t *req, json_t *v, size_t max, const char *pointer)
{
	size_t n;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return refuse(req, false, pointer, "note must be a string");
	n = ch_utf8_length(json_string_value(v));
	if (n < 1 || n > max || strpbrk(json_string_value(v),
	    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
	    "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	    != NULL)
		return refuse(req, false, pointer, ch_psprintf(req->ctx.pool,
		    "note must be 1 to %zu characters without control"
		    " characters", max));
	return 0;
}

/* Checks one member of "days": {"date", "kind", "note"?}, date in year,
 * not seen before (seen: a bit per day of the year). */
static int
check_day(ch_req_t *req, json_t *e, size_t i, int year, unsigned char *seen)
{
	const char *at = ch_psprintf(req->ctx.pool, "/days/%zu", i);
	const char *key, *date;
	json_t *v;
	int y, doy;

	if (!json_is_object(e))
		return refuse(req, false, at, "each day must be an object");
	json_object_foreach(e, key, v) {
		if (strcmp(key, "date") != 0 && strcmp(key, "kind") != 0 &&
		    strcmp(key, "note") != 0) {
			ch_problem_field(req, CH_P_UNKNOWN_FIELD,
			    ch_psprintf(req->ctx.pool, "%s/%s", at, key),
			    "unknown member; a day has date, kind and note");
			return -1;
		}
	}
	v = json_object_get(e, "date");
	if (v == NULL || json_is_null(v))
		return refuse(req, true, ch_psprintf(req->ctx.pool, "%s/date",
		    at), "date is required");
	date = json_string_value(v);
	if (date == NULL || ch_cal_parse_date(date, &y) != 0 || y != year)
		return refuse(req, false, ch_psprintf(req->ctx.pool,
		    "%s/date", at), ch_psprintf(req->ctx.pool, "date must be a"
		    " date YYYY-MM-DD of %d", year));
	/* Day of the year, from the checked text, for the duplicate test. */
	{
		static const int before[] = { 0, 31, 59, 90, 120, 151, 181,
		    212, 243, 273, 304, 334 };
		int m = (date[5] - '0') * 10 + (date[6] - '0');
		int d = (date[8] - '0') * 10 + (date[9] - '0');

		doy = before[m - 1] + d - 1 + (m > 2 && (year % 4 == 0 &&
		    (year % 100 != 0 || year % 400 == 0)));
	}
	if (seen[doy / 8] & (1u << (doy % 8)))
		return refuse(req, false, ch_psprintf(req->ctx.pool,
		    "%s/date", at), "date is listed twice");
	seen[doy / 8] |= (unsigned char)(1u << (doy % 8));
	v = json_object_get(e, "kind");
	if (v == NULL || json_is_null(v))
		return refuse(req, true, ch_psprintf(req->ctx.pool, "%s/kind",
		    at), "kind is required");
	if (!json_is_string(v) || ch_code_index(day_kinds,
	    json_string_value(v)) < 0)
		return refuse(req, false, ch_psprintf(req->ctx.pool,
		    "%s/kind", at), "kind must be one of: off, workday");
	return check_note(req, json_object_get(e, "note"), DAY_NOTE_MAX,
	    ch_psprintf(req->ctx.pool, "%s/note", at));
}

/* Parses and checks the body {"days": [...], "note"?}: 0 with *body the
 * parsed object (pool), or -1 with the answer set. */
static int
year_body(ch_req_t *req, int year, json_t **body)
{
	unsigned char seen[(YEAR_DAYS_MAX + 7) / 8];
	ch_json_error_t err;
	const char *key;
	json_t *json, *v, *days;
	size_t i;

	json = ch_json_parse(req->body, req->body_len, CH_JSON_MAX_DEPTH, &err);
	if (json == NULL) {
		ch_problem_json(req, &err);
		return -1;
	}
	ch_pool_json(req->ctx.pool, json);
	if (!json_is_object(json))
		return refuse(req, false, "", "the body must be a JSON object");
	json_object_foreach(json, key, v) {
		if (strcmp(key, "days") != 0 && strcmp(key, "note") != 0) {
			ch_problem_field(req, CH_P_UNKNOWN_FIELD,
			    ch_psprintf(req->ctx.pool, "/%s", key),
			    "unknown member; this body has days and note");
			return -1;
		}
	}
	if (check_note(req, json_object_get(json, "note"), YEAR_NOTE_MAX,
	    "/note") != 0)
		return -1;
	days = json_object_get(json, "days");
	if (days == NULL || json_is_null(days))
		return refuse(req, true, "/days", "days is required");
	if (!json_is_array(days) || json_array_size(days) > YEAR_DAYS_MAX)
		return refuse(req, false, "/days", "days must be an array of at"
		    " most 366 days");
	memset(seen, 0, sizeof seen);
	json_array_foreach(days, i, v) {
		if (check_day(req, v, i, year, seen) != 0)
			return -1;
	}
	*body = json;
	return 0;
}

int
api_calendar_year_put(ch_req_t *req)
{
	const char *body, *note;
	json_t *in;
	char *days;
	size_t len;
	int year;

	if ((year = path_year(req)) == 0)
		return 0;
	if (year_body(req, year, &in) != 0)
		return 0;
	note = json_string_value(json_object_get(in, "note"));
	if ((days = json_dumps(json_object_get(in, "days"), JSON_COMPACT))
	    == NULL)
		ch_oom();
	body = ch_pstrdup(req->ctx.pool, days);
	free(days);
	if (ch_db_begin(req->ctx.db) != 0 ||
	    ch_cal_year_put(&req->ctx, year, body, note) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	switch (ch_cal_year_json(&req->ctx, year, &body, &len)) {
	case CH_CAL_OK:
		ch_resp_json_text(req, 200, body, len);
		return 0;
	default:
		return -1;
	}
}

/* ---- PUT a day ----------------------------------------------------------- */

struct day_input {
	int kind;
	const char *note;
};

static const ch_field_t day_fields[] = {
	{ .name = "kind", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = day_kinds, .offset = offsetof(struct day_input, kind) },
	{ .name = "note", .type = CH_F_STRING, .flags = CH_F_NULLABLE,
	  .min = 1, .max = DAY_NOTE_MAX,
	  .offset = offsetof(struct day_input, note) },
};

const ch_schema_t api_calendar_day_schema =
    CH_SCHEMA(day_fields, struct day_input);

int
api_calendar_day_put(ch_req_t *req)
{
	const struct day_input *in = req->input;
	const char *day = ch_req_param(req, "date"), *body;
	size_t len;
	int year;

	if (ch_cal_parse_date(day, &year) != 0) {
		ch_problem(req, CH_P_NOT_FOUND, "no such day (a date YYYY-MM-DD"
		    " from %d to %d)", CH_CAL_YEAR_MIN, CH_CAL_YEAR_MAX);
		return 0;
	}
	if (ch_db_begin(req->ctx.db) != 0)
		return -1;
	switch (ch_cal_day_put(&req->ctx, day, day_kinds[in->kind], in->note,
	    &body, &len)) {
	case CH_CAL_OK:
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		ch_resp_json_text(req, 200, body, len);
		return 0;
	case CH_CAL_NOT_LOADED:
		if (ch_db_rollback(req->ctx.db) != 0)
			return -1;
		ch_problem(req, CH_P_CONFLICT, "the calendar year %d is not"
		    " loaded: put the whole year first"
		    " (PUT /api/v1/admin/calendar/years/%d)", year, year);
		return 0;
	case CH_CAL_ERROR:
	default:
		return -1;
	}
}

/* ---- the deadline -------------------------------------------------------- */

struct deadline_query {
	const char *at;
};

static const ch_qparam_t deadline_params[] = {
	{ .name = "at", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct deadline_query, at) },
};

/* at as given, with %2B and %3A (what a client's URL encoding makes of
 * "+" and ":") decoded; everything else stays and fails the check. */
static char *
decode_time(ch_pool_t *pool, const char *s)
{
	char *out = ch_palloc(pool, strlen(s) + 1), *o = out;

	while (*s != '\0') {
		if (s[0] == '%' && s[1] != '\0' && s[2] != '\0' &&
		    (strncasecmp(s, "%2B", 3) == 0 ||
		    strncasecmp(s, "%3A", 3) == 0)) {
			*o++ = s[2] == 'B' || s[2] == 'b' ? '+' : ':';
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

int
api_calendar_deadline(ch_req_t *req)
{
	struct deadline_query q = { NULL };
	const char *body, *at;
	size_t len;

	if (ch_query_parse(req, deadline_params, 1, "unknown query parameter;"
	    " this takes at", &q) != 0)
		return 0;
	if (q.at == NULL) {
		json_object_set_new(ch_problem(req, CH_P_INVALID_FIELD,
		    "at is required: the settlement time, RFC 3339"),
		    "parameter", json_string("at"));
		return 0;
	}
	at = decode_time(req->ctx.pool, q.at);
	if (ch_cal_check_time(at) != 0) {
		json_object_set_new(ch_problem(req, CH_P_INVALID_FIELD,
		    "at must be an RFC 3339 date-time with seconds and an offset"
		    " (2026-02-12T23:59:59+08:00), years %d to %d",
		    CH_CAL_YEAR_MIN, CH_CAL_YEAR_MAX), "parameter",
		    json_string("at"));
		return 0;
	}
	body = ch_cal_deadline_json(&req->ctx, at, &len);
	return api_send_text(req, body, len);
}

/* ---- GET /api/v1/fulfilment ---------------------------------------------- */

static const char *const business_codes[] = {
	"new", "renew", "reissue", "change", "revoke", "unlock", NULL,
};

static const ch_qparam_t queue_params[] = {
	{ .name = "bucket", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_fulfil_filter_t, bucket),
	  .values = ch_fulfil_buckets },
	{ .name = "next", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_fulfil_filter_t, next),
	  .values = ch_fulfil_nexts },
	{ .name = "business_type", .kind = CH_Q_ENUM,
	  .offset = offsetof(ch_fulfil_filter_t, business_type),
	  .values = business_codes },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(ch_fulfil_filter_t, limit),
	  .max = QUEUE_LIMIT_MAX },
};

int
api_fulfilment_queue(ch_req_t *req)
{
	ch_fulfil_filter_t f = { .limit = QUEUE_LIMIT_DEFAULT };
	const char *body;
	size_t len;

	if (ch_query_parse(req, queue_params,
	    sizeof queue_params / sizeof queue_params[0],
	    "unknown query parameter; this list takes bucket, next,"
	    " business_type and limit", &f) != 0)
		return 0;
	body = ch_fulfil_list(&req->ctx, &f, &len);
	return api_send_text(req, body, len);
}
