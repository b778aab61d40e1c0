/*
 * Structured logging: one JSON object per line on stderr, written with a
 * single write(2) so lines from concurrent workers never interleave.
 *
 * Every line carries ts (UTC, ms), level, prog, pid and, while a request is
 * being served, its request_id.  Messages are lowercase without a trailing
 * period, subjects in quotes (git's convention).  Database and OpenSSL error
 * text goes here, never into a response.
 */
#ifndef CERTHALL_LOG_H
#define CERTHALL_LOG_H

#include <stddef.h>

typedef enum {
	CH_LOG_DEBUG,
	CH_LOG_INFO,
	CH_LOG_WARN,
	CH_LOG_ERROR,
	CH_LOG__MAX
} ch_log_level_t;

/* Sets the program name shown in each line (borrowed, must outlive logging). */
void ch_log_init(const char *program);
/* Sets the request id added to each line until cleared with NULL (borrowed). */
void ch_log_set_request_id(const char *request_id);

void ch_log(ch_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define ch_debug(...) ch_log(CH_LOG_DEBUG, __VA_ARGS__)
#define ch_info(...)  ch_log(CH_LOG_INFO, __VA_ARGS__)
#define ch_warn(...)  ch_log(CH_LOG_WARN, __VA_ARGS__)
#define ch_error(...) ch_log(CH_LOG_ERROR, __VA_ARGS__)

/* The access line: one per request, after the response is out. */
void ch_log_access(const char *method, const char *path, int status,
    double ms, size_t bytes, const char *remote_addr);

/*
 * Appends src as the inside of a JSON string (no quotes) to dst, which holds
 * cap bytes; returns the length written (always NUL-terminated, truncated at
 * a character boundary when full).  Control characters become \uXXXX.
 */
size_t ch_log_escape(char *dst, size_t cap, const char *src);

/* Copies the first line of msg (e.g. a multi-line libpq error) into buf,
 * which holds cap bytes, and returns buf: for one-line logs. */
const char *ch_log_first_line(const char *msg, char *buf, size_t cap);

/*
 * Masks personal data for logs, lists and audit details (SPEC §10): a phone
 * keeps its first 3 and last 4 digits ("138****5678"), an identity number or
 * credit code its first 4 and last 4 ("5101**********1234").  Anything too
 * short to mask meaningfully becomes all asterisks.  out holds 32 bytes.
 */
void ch_mask_phone(const char *phone, char out[32]);
void ch_mask_id(const char *id, char out[32]);

#endif
