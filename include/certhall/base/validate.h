/*
 * Field rules for request bodies: each checker fits ch_field_t.check
 * (certhall/json.h), so a schema states the rule and the handler starts
 * from a value that already follows it.
 *
 * A checker returns 0 when s is acceptable, else -1 with *why set to a
 * static phrase that completes "<field> ..." in the problem detail
 * ("phone must be ...").  Checkers are pure: no allocation, no locale, no
 * database; a rule that needs the database (a duplicate username) belongs
 * to the handler.  Length bounds stay in the schema (min/max), but every
 * checker also enforces its own length, so it is safe on its own.
 */
#ifndef CERTHALL_VALIDATE_H
#define CERTHALL_VALIDATE_H

/* ---- people and sign-in (issue 3) ------------------------------------- */

/* A mainland China mobile number: 11 ASCII digits, ^1[3-9][0-9]{9}$, no
 * country code, spaces or dashes (the form the SMS provider and the
 * applicant table take). */
int ch_check_phone(const char *s, const char **why);

/* An SMS sign-in code: exactly 6 ASCII digits (leading zeros kept). */
int ch_check_sms_code(const char *s, const char **why);

/* Standard base64 with padding (RFC 4648 §4): a multiple of 4 characters
 * of A-Z a-z 0-9 + /, '=' only as the last one or two, no white space,
 * at least one byte (a signature, api/verification.c). */
int ch_check_base64(const char *s, const char **why);

/* A staff username: ^[a-z][a-z0-9._-]{2,31}$ (3 to 32 characters,
 * lowercase ASCII), the same rule as the staff table's CHECK. */
int ch_check_username(const char *s, const char **why);

/* ---- identity documents (issue 4) ------------------------------------- */

/*
 * A resident identity number (GB 11643-1999): 17 digits and a check
 * character; weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, check =
 * "10X98765432"[sum mod 11] (uppercase X only); digits 7-14 a real date
 * (YYYYMMDD, from 1900-01-01, not in the future); the region code's first
 * digit 1-9.
 */
int ch_check_id_number(const char *s, const char **why);

/*
 * A unified social credit code (GB 32100-2015): 18 characters over
 * 0123456789ABCDEFGHJKLMNPQRTUWXY (no I O S V Z); weights 1 3 9 27 19 26 16
 * 17 20 29 25 13 8 24 10 30 28; check index = 31 - (sum mod 31), 31 → 0.
 */
int ch_check_credit_code(const char *s, const char **why);

/* A person's name (2-50 characters) or a unit's name (2-100): no control
 * characters (the schema checks length; this refuses names made only of
 * spaces or punctuation-free garbage like leading/trailing blanks). */
int ch_check_name(const char *s, const char **why);

/* A mainland postcode: 6 digits. */
int ch_check_postcode(const char *s, const char **why);

/* ---- staff decisions (issues 4, 5) ------------------------------------- */

/* A reason a reviewer or finance gives: it must say something, not only
 * blanks (ASCII or ideographic U+3000); the schema bounds its length. */
int ch_check_reason(const char *s, const char **why);

#endif
