/*
 * Identity documents and address fields (certhall/validate.h, SPEC §10):
 * resident ID numbers (GB 11643), unified social credit codes (GB 32100),
 * names and postcodes.  Valid examples are made here with the standards'
 * algorithms (id_check(), credit_check()), written independently of
 * src/validate.c, so that a wrong weight or alphabet there shows.
 */
#include "test.h"
#include "certhall/base/validate.h"
#include "shared_cases.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef int (*checker_fn)(const char *, const char **);

static const char credit_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* The GB 11643 check character of the 17 digits at s. */
static char
id_check(const char *s)
{
	static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5,
	    8, 4, 2 };
	int sum = 0;

	for (int i = 0; i < 17; i++)
		sum += (s[i] - '0') * w[i];
	return "10X98765432"[sum % 11];
}

/* An ID number in out[19]: region, birth date (YYYYMMDD), sequence (3
 * digits) and the right check character. */
static const char *
make_id(char out[19], const char *region, const char *birth, const char *seqno)
{
	snprintf(out, 19, "%.6s%.8s%.3s", region, birth, seqno);
	out[17] = id_check(out);
	out[18] = '\0';
	return out;
}

/* The GB 32100 check character of the 17 characters at s (all in the
 * alphabet). */
static char
credit_check(const char *s)
{
	static const int w[17] = { 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13,
	    8, 24, 10, 30, 28 };
	int sum = 0, c;

	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(credit_alphabet, s[i]) - credit_alphabet) * w[i];
	c = 31 - sum % 31;
	return credit_alphabet[c == 31 ? 0 : c];
}

static const char *
make_credit(char out[19], const char *first17)
{
	snprintf(out, 19, "%.17s", first17);
	out[17] = credit_check(out);
	out[18] = '\0';
	return out;
}

/* check(s) accepts s and leaves *why alone. */
static int
accepts(checker_fn check, const char *s)
{
	const char *why = NULL;

	if (check(s, &why) != 0 || why != NULL) {
		fprintf(stderr, "refused good value \"%s\" (%s)\n", s,
		    why != NULL ? why : "no reason");
		return 0;
	}
	return 1;
}

/* check(s) refuses s with a reason that completes "<field> ...". */
static int
refuses(checker_fn check, const char *s)
{
	const char *why = NULL;

	if (check(s, &why) != -1 || why == NULL || *why == '\0') {
		fprintf(stderr, "accepted bad value \"%s\"\n",
		    s != NULL ? s : "(null)");
		return 0;
	}
	return 1;
}

/* The reason check gives for s ("" when it accepts s). */
static const char *
reason(checker_fn check, const char *s)
{
	const char *why = NULL;

	return check(s, &why) == 0 ? "" : why;
}

/* The date n days from today in China (UTC+8, the checker's clock), as
 * YYYYMMDD in out[9]. */
static void
china_date(char out[9], int days)
{
	time_t t = time(NULL) + 8 * 3600 + (time_t)days * 86400;
	struct tm tm;
	char buf[40];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof buf, "%04d%02d%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday);
	memcpy(out, buf, 8);
	out[8] = '\0';
}

int
test_validate_id_number(void)
{
	char id[19], bad[24];

	/* The literal cases (the standard's example with the check character
	 * X, lowercase x refused, lengths, stray characters, region 0...) are
	 * shared with the web hall: validate_cases.json. */
	CHECK(shared_cases("id_number", ch_check_id_number) == 0);
	CHECK_STR(make_id(id, "510104", "19900101", "123"), "510104199001011230");
	CHECK(make_id(id, "440306", "19800101", "001")[17] == 'X');

	/* Every wrong check character of a good number is refused. */
	make_id(id, "510104", "19900101", "123");
	for (const char *c = "0123456789X"; *c != '\0'; c++) {
		if (*c == id[17])
			continue;
		memcpy(bad, id, 19);
		bad[17] = *c;
		CHECK(refuses(ch_check_id_number, bad));
	}
	CHECK_STR(reason(ch_check_id_number, "110105194912310021"),
	    "has a wrong check character");
	CHECK_STR(reason(ch_check_id_number, "11010519491231002"),
	    "must be 18 characters (GB 11643)");

	/* A region code starting with 0 does not exist, check digit or not. */
	CHECK_STR(reason(ch_check_id_number, make_id(id, "010104", "19900101", "123")),
	    "has no valid region code");
	return 0;
}

/* An ID number born on birth (region 510104, sequence 123, right check
 * character) is accepted when ok, else refused. */
static int
birth_case(const char *birth, int ok)
{
	char id[19];

	make_id(id, "510104", birth, "123");
	if (ok ? accepts(ch_check_id_number, id) : refuses(ch_check_id_number, id))
		return 0;
	fprintf(stderr, "birth date %s\n", birth);
	return 1;
}

int
test_validate_id_number_dates(void)
{
	char id[19], today[9], tomorrow[9], next_year[9];

	/* Leap years, month lengths, bounds (validate_cases.json). */
	CHECK(shared_cases_pairs("id_number_births", birth_case) == 0);
	make_id(id, "510104", "19900230", "123");
	CHECK_STR(reason(ch_check_id_number, id), "does not hold a real birth date");

	/* Born today (in China) is possible; tomorrow is not. */
	china_date(today, 0);
	china_date(tomorrow, 1);
	china_date(next_year, 366);
	CHECK(accepts(ch_check_id_number, make_id(id, "510104", today, "001")));
	CHECK(refuses(ch_check_id_number, make_id(id, "510104", tomorrow, "001")));
	CHECK(refuses(ch_check_id_number, make_id(id, "510104", next_year, "001")));
	return 0;
}

int
test_validate_credit_code(void)
{
	static const char *const excluded = "IOSVZ";
	char cc[19], bad[24];

	/* Known good codes (among them ones whose check is a letter and the
	 * "31 -> 0" case), lowercase, lengths and stray characters: shared with
	 * the web hall (validate_cases.json). Those codes are the algorithm's: */
	CHECK(shared_cases("credit_code", ch_check_credit_code) == 0);
	CHECK_STR(make_credit(cc, "91350100M000100Y4"), "91350100M000100Y43");
	CHECK(make_credit(cc, "91510100MA6123456")[17] == 'W');
	CHECK(make_credit(cc, "91110000100000000")[17] == 'R');
	CHECK(make_credit(cc, "91510100000000025")[17] == '0');
	CHECK(accepts(ch_check_credit_code, make_credit(cc, "12100000400000000")));
	CHECK(accepts(ch_check_credit_code, make_credit(cc, "Y1234567890ABCDEF")));

	/* Every wrong check character is refused. */
	make_credit(cc, "91510100MA6123456");
	for (const char *c = credit_alphabet; *c != '\0'; c++) {
		if (*c == cc[17])
			continue;
		memcpy(bad, cc, 19);
		bad[17] = *c;
		CHECK(refuses(ch_check_credit_code, bad));
	}
	CHECK_STR(reason(ch_check_credit_code, "91350100M000100Y44"),
	    "has a wrong check character");

	/* I, O, S, V and Z are not in the alphabet: refused anywhere, even
	 * where the check sum would come out right (each letter is tried as
	 * the check character too). */
	for (const char *x = excluded; *x != '\0'; x++) {
		for (int pos = 0; pos < 18; pos++) {
			memcpy(bad, "91350100M000100Y43", 19);
			bad[pos] = *x;
			CHECK(refuses(ch_check_credit_code, bad));
		}
		memcpy(bad, "91350100M000100Y43", 19);
		bad[8] = *x;
		CHECK_STR(reason(ch_check_credit_code, bad),
		    "may only use 0-9 and A-Z without I, O, S, V, Z");
	}

	CHECK_STR(reason(ch_check_credit_code, "91350100M000100Y4"),
	    "must be 18 characters (GB 32100)");
	return 0;
}

int
test_validate_name(void)
{
	static const char *const good[] = {
		"张三", "欧阳娜娜", "四川省数字证书认证管理中心有限公司",
		"成都某某科技有限公司（分公司）", "Anne-Marie O'Brien", "阿卜杜·热合曼",
		"张 三", "AB",
		NULL,
	};
	static const char *const bad[] = {
		"",
		" 张三", "张三 ",			/* leading or trailing blank */
		"\xe3\x80\x80张三",			/* U+3000 ideographic space */
		"张三\xe3\x80\x80",
		"张\t三", "张\n三", "张三\r", "\x01张三", "张\x1b[31m三",
		"张\x7f三",				/* DEL */
		"张\xc2\x85三",			/* U+0085 NEL, a C1 control */
		NULL,
	};

	for (size_t i = 0; good[i] != NULL; i++)
		CHECK(accepts(ch_check_name, good[i]));
	for (size_t i = 0; bad[i] != NULL; i++)
		CHECK(refuses(ch_check_name, bad[i]));
	return 0;
}

int
test_validate_postcode(void)
{
	static const char *const good[] = {
		"610041", "100000", "999999", NULL,
	};
	static const char *const bad[] = {
		"", "61004", "6100410", "61004a", "a10041", " 610041", "610041 ",
		"610041\n", "61 041", "61-041", "\xef\xbc\x96" "10041", "６１００４１",
		NULL,
	};

	for (size_t i = 0; good[i] != NULL; i++)
		CHECK(accepts(ch_check_postcode, good[i]));
	for (size_t i = 0; bad[i] != NULL; i++)
		CHECK(refuses(ch_check_postcode, bad[i]));
	CHECK_STR(reason(ch_check_postcode, "61004"), "must be 6 digits");
	return 0;
}

/* Every checker is safe on its own (validate.h): NULL is refused, not
 * dereferenced, as ch_check_phone() does. */
int
test_validate_ids_null(void)
{
	CHECK(refuses(ch_check_id_number, NULL));
	CHECK(refuses(ch_check_credit_code, NULL));
	CHECK(refuses(ch_check_name, NULL));
	CHECK(refuses(ch_check_postcode, NULL));
	return 0;
}
