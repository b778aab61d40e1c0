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

/* A staff username: ^[a-z][a-z0-9._-]{2,31}$ (3 to 32 characters,
 * lowercase ASCII), the same rule as the staff table's CHECK. */
int ch_check_username(const char *s, const char **why);

/* ---- identity documents (issue 4) -------------------------------------
 * Resident identity numbers and unified social credit codes go here, with
 * their check digits. */

#endif
