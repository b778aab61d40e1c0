/*
 * Small helpers shared by the programs (certhall-api, certhall-admin,
 * certhall-sms-sender): the monotonic clock, bounded number parsing, hex
 * digits and dropping root.
 */
#ifndef CERTHALL_UTIL_H
#define CERTHALL_UTIL_H

/* Milliseconds on the monotonic clock (for intervals, never for dates). */
long long ch_monotonic_ms(void);

/* Parses s as a whole number in base (10 or 8) from 0 to max; -1 if s is
 * empty, has anything else in it, or is out of range. */
long ch_parse_long(const char *s, int base, long max);

/* The value of one hex digit (either case), or -1. */
int ch_hex_value(int c);

/* The index of s in the NULL-terminated array codes, or -1.  Pure. */
int ch_code_index(const char *const *codes, const char *s);

/*
 * When running as root, becomes user: no supplementary groups, its gid,
 * its uid, and checks root cannot be regained.  Does nothing when not
 * root or user is NULL.  0, or a sysexits code after logging: 67 no such
 * user, 77 the switch failed.
 */
int ch_become_user(const char *user);

#endif
