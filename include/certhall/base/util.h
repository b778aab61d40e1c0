/*
 * Small helpers shared by the programs (certhall-api, certhall-admin,
 * certhall-sms-sender, certhall-payd): the monotonic clock, bounded number
 * parsing, hex digits, dropping root and reading a secret from a file.
 */
#ifndef CERTHALL_UTIL_H
#define CERTHALL_UTIL_H

#include <stddef.h>

/* Milliseconds on the monotonic clock (for intervals, never for dates). */
long long ch_monotonic_ms(void);

/* Seconds to wait before retrying after the attempt-th failure: 1 s after
 * the first, doubling, at most cap.  Pure. */
long ch_backoff_s(int attempt, long cap);

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

/*
 * Reads a secret from path: the whole file without trailing whitespace,
 * at most cap - 1 bytes, into buf (an SMS provider key, the payment
 * gateway's merchant key).  0, or -1 after logging why (missing, empty,
 * too long, binary); buf is then cleared.  The secret is never logged.
 */
int ch_read_secret(const char *path, char *buf, size_t cap);

/* Formats t (UTC seconds) as ISO 8601 in Asia/Shanghai: 2026-11-24T10:54:00+08:00.
 * China has had no daylight saving since 1991, so a fixed +08:00 is exact. */
void ch_time_shanghai(long long t, char out[32]);

/*
 * Parses a resource id as it appears in a path or a query: a positive
 * decimal integer without sign, spaces or leading zeros, at most 18 digits
 * (so it always fits a bigint).  0 with *id set, or -1.
 */
int ch_id_parse(const char *s, long long *id);

#endif
