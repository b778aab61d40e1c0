/*
 * Field rules (certhall/validate.h).  Plain byte loops over ASCII classes
 * rather than <ctype.h> or regex.h: the result must not depend on the
 * locale, and a checker runs on every request body.
 */
#include "certhall/base/validate.h"
#include "certhall/base/crypto.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

/* Whether s is exactly n ASCII digits. */
static bool
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return s[n] == '\0';
}

int
ch_check_phone(const char *s, const char **why)
{
	/* 13x-19x: every mainland mobile prefix; 10x-12x are not phones. */
	if (s == NULL || !digits(s, 11) || s[0] != '1' || s[1] < '3') {
		*why = "must be a mainland mobile number: 11 digits starting "
		    "with 13 to 19";
		return -1;
	}
	return 0;
}

int
ch_check_sms_code(const char *s, const char **why)
{
	if (s == NULL || !digits(s, 6)) {
		*why = "must be the 6 digits of the SMS code";
		return -1;
	}
	return 0;
}

int
ch_check_base64(const char *s, const char **why)
{
	size_t n = 0;

	if (s == NULL || ch_unbase64(s, strlen(s), true, NULL, strlen(s),
	    &n) != 0 || n == 0) {
		*why = "must be standard base64 (RFC 4648 section 4) with its "
		    "padding";
		return -1;
	}
	return 0;
}

int
ch_check_username(const char *s, const char **why)
{
	size_t n;

	if (s == NULL || !is_lower(s[0]))
		goto bad;
	for (n = 1; s[n] != '\0'; n++)
		if (n >= 32 || (!is_lower(s[n]) && !is_digit(s[n]) &&
		    s[n] != '.' && s[n] != '_' && s[n] != '-'))
			goto bad;
	if (n >= 3)
		return 0;
bad:
	*why = "must be 3 to 32 characters: a lowercase letter, then "
	    "lowercase letters, digits, '.', '_' or '-'";
	return -1;
}

/* ---- identity documents ------------------------------------------------ */

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Whether YYYYMMDD (8 digits at s) is a real date from 1900-01-01 to today
 * (UTC+8: a birth "today" in China is not in the future). */
static int
real_birth_date(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y = 0, m = 0, d = 0, today;
	time_t now = time(NULL) + 8 * 3600;
	struct tm tm;

	for (int i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (s[4] - '0') * 10 + (s[5] - '0');
	d = (s[6] - '0') * 10 + (s[7] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1)
		return 0;
	if (d > mdays[m - 1] + (m == 2 && is_leap(y)))
		return 0;
	gmtime_r(&now, &tm);
	today = (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
	return y * 10000 + m * 100 + d <= today;
}

int
ch_check_id_number(const char *s, const char **why)
{
	static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
	static const char check[] = "10X98765432";
	int sum = 0;

	if (s == NULL) {
		*why = "is missing";
		return -1;
	}
	if (strlen(s) != 18) {
		*why = "must be 18 characters (GB 11643)";
		return -1;
	}
	for (int i = 0; i < 17; i++) {
		if (s[i] < '0' || s[i] > '9') {
			*why = "must be 17 digits and a check character (GB 11643)";
			return -1;
		}
		sum += (s[i] - '0') * w[i];
	}
	if (s[0] == '0') {
		*why = "has no valid region code";
		return -1;
	}
	if (!real_birth_date(s + 6)) {
		*why = "does not hold a real birth date";
		return -1;
	}
	if (s[17] != check[sum % 11]) {
		*why = "has a wrong check character";
		return -1;
	}
	return 0;
}

int
ch_check_credit_code(const char *s, const char **why)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int w[17] = { 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13,
	    8, 24, 10, 30, 28 };
	int sum = 0, c;

	if (s == NULL) {
		*why = "is missing";
		return -1;
	}
	if (strlen(s) != 18) {
		*why = "must be 18 characters (GB 32100)";
		return -1;
	}
	for (int i = 0; i < 18; i++) {
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL) {
			*why = "may only use 0-9 and A-Z without I, O, S, V, Z";
			return -1;
		}
	}
	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(alphabet, s[i]) - alphabet) * w[i];
	c = 31 - sum % 31;
	if (c == 31)
		c = 0;
	if (s[17] != alphabet[c]) {
		*why = "has a wrong check character";
		return -1;
	}
	return 0;
}

int
ch_check_name(const char *s, const char **why)
{
	static const char ideographic_space[] = "\xe3\x80\x80";	/* U+3000 */
	size_t n = s != NULL ? strlen(s) : 0, w = sizeof ideographic_space - 1;

	if (n == 0) {
		*why = "must not be empty";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* C0, DEL, and C1 (U+0080-U+009F, encoded C2 80-C2 9F). */
		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)) {
			*why = "must not contain control characters";
			return -1;
		}
	}
	if (s[0] == ' ' || s[n - 1] == ' ' ||
	    strncmp(s, ideographic_space, w) == 0 ||
	    (n >= w && strcmp(s + n - w, ideographic_space) == 0)) {
		*why = "must not start or end with a space";
		return -1;
	}
	return 0;
}

int
ch_check_postcode(const char *s, const char **why)
{
	if (s == NULL || strlen(s) != 6 || strspn(s, "0123456789") != 6) {
		*why = "must be 6 digits";
		return -1;
	}
	return 0;
}

int
ch_check_reason(const char *s, const char **why)
{
	for (const char *p = s; p != NULL && *p != '\0';) {
		if (*p == ' ')
			p++;
		else if (strncmp(p, "\xe3\x80\x80", 3) == 0)	/* U+3000 */
			p += 3;
		else
			return 0;
	}
	*why = "must say why, not only spaces";
	return -1;
}
