/*
 * The calendar's pure checks (certhall/domain/calendar.h): the dates and
 * times the admin routes take.  The deadline itself is SQL
 * (calendar_due_by(), sql/0018_calendar.sql) and is tested through nginx
 * against a table of cases in tests/e2e/test_calendar.py.
 */
#include "test.h"
#include "certhall/domain/calendar.h"

int
test_calendar_parse_date(void)
{
	static const char *const bad[] = {
		"", "2026-2-14", "2026-02-14 ", "2026/02/14", "2026-02-30",
		"2026-13-01", "2026-00-10", "2026-02-00", "1999-12-31",
		"2101-01-01", "2100-02-29", "2026-02-1x", "+026-02-14",
		"20260214", "2026-02-14T00:00:00",
	};
	int year = 0;

	CHECK(ch_cal_parse_date("2026-02-14", &year) == 0 && year == 2026);
	CHECK(ch_cal_parse_date("2000-01-01", NULL) == 0);
	CHECK(ch_cal_parse_date("2100-12-31", &year) == 0 && year == 2100);
	/* Leap years: 2000 and 2096 are, 2100 and 2097 are not. */
	CHECK(ch_cal_parse_date("2000-02-29", NULL) == 0);
	CHECK(ch_cal_parse_date("2096-02-29", NULL) == 0);
	CHECK(ch_cal_parse_date("2097-02-29", NULL) == -1);
	CHECK(ch_cal_parse_date(NULL, NULL) == -1);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(ch_cal_parse_date(bad[i], NULL) == -1);
	return 0;
}

int
test_calendar_check_time(void)
{
	static const char *const good[] = {
		"2026-02-12T23:59:59+08:00", "2026-02-12T00:00:01Z",
		"2026-02-12T15:59:59.5Z", "2026-02-12T15:59:59.123456-05:30",
		"2026-12-31T23:59:59+14:00",
	};
	static const char *const bad[] = {
		"", "2026-02-12", "2026-02-12T23:59:59", "2026-02-12T23:59+08:00",
		"2026-02-12 23:59:59+08:00", "2026-02-12T24:00:00Z",
		"2026-02-12T23:60:00Z", "2026-02-12T23:59:60Z",
		"2026-02-30T10:00:00Z", "2026-02-12T10:00:00+15:00",
		"2026-02-12T10:00:00+0800", "2026-02-12T10:00:00.Z",
		"2026-02-12T10:00:00.1234567Z", "2026-02-12T10:00:00z",
		"2026-02-12T10:00:00+08:00 ", "2026-02-12T10:00:00 08:00",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(ch_cal_check_time(good[i]) == 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(ch_cal_check_time(bad[i]) == -1);
	CHECK(ch_cal_check_time(NULL) == -1);
	return 0;
}
