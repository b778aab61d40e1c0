/*
 * Request bodies before they are read (Kore's http.c, kcgi's scanbuf()).
 *
 * The length is decided from CONTENT_LENGTH with a bounded conversion, and a
 * body over the route's cap is refused before a byte of it is stored.  The
 * stream is always read to its end -- even when refused -- because libfcgi
 * does not drain stdin and a kept-alive connection would desynchronise.
 */
#ifndef CERTHALL_BODY_H
#define CERTHALL_BODY_H

#include <stddef.h>

typedef enum {
	CH_BODY_NONE,		/* absent or 0 */
	CH_BODY_OK,		/* 1..cap bytes */
	CH_BODY_TOO_LARGE,	/* more than cap */
	CH_BODY_BAD_LENGTH,	/* not a plain decimal number */
} ch_body_len_t;

/*
 * Parses a CONTENT_LENGTH value: decimal digits only (no sign, space or
 * exponent), stopping as soon as the value passes cap, so no input can
 * overflow.  NULL or "" is CH_BODY_NONE.  *len is set for CH_BODY_OK.
 */
ch_body_len_t ch_body_length(const char *content_length, size_t cap,
    size_t *len);

/* Returns 1 if content_type is application/json, optionally with
 * "; charset=utf-8" (case-insensitive, RFC 8259 §11), else 0. */
int ch_body_is_json(const char *content_type);

/* A stream: returns bytes read (> 0), 0 at the end, < 0 on error. */
typedef long (*ch_read_fn)(void *ctx, char *buf, size_t n);

/* Reads exactly len bytes into buf, looping on short reads.  Returns 0, or
 * -1 if the stream ends or fails first. */
int ch_body_read(ch_read_fn rd, void *ctx, char *buf, size_t len);

/* Reads and discards the rest of the stream; returns the bytes discarded. */
size_t ch_body_drain(ch_read_fn rd, void *ctx);

#endif
