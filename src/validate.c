/*
 * Field rules (certhall/validate.h).  Plain byte loops over ASCII classes
 * rather than <ctype.h> or regex.h: the result must not depend on the
 * locale, and a checker runs on every request body.
 */
#include "certhall/validate.h"

#include <stdbool.h>
#include <stddef.h>

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
