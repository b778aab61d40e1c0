/* The case tables shared with the web hall (tests/unit/validate_cases.json). */
#ifndef CERTHALL_SHARED_CASES_H
#define CERTHALL_SHARED_CASES_H

typedef int (*shared_checker_fn)(const char *, const char **);
typedef int (*shared_pair_fn)(const char *s, int ok);

/* Runs check over the table's "good" (each accepted, *why untouched) and
 * "bad" (each refused with a reason) lists; 0 when all go as the file says,
 * else 1 with the first wrong value on stderr. */
int shared_cases(const char *table, shared_checker_fn check);

/* Calls each(s, ok) for every [s, ok] of the table's "cases"; 0 when every
 * call returned 0, else 1. */
int shared_cases_pairs(const char *table, shared_pair_fn each);

#endif
