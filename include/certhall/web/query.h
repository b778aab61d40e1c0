/*
 * Query strings (the part of the URL after '?') read against a declared
 * table of the parameters an operation accepts.
 *
 * A query is name=value pairs joined by '&' (empty pairs are skipped); a
 * pair without '=' has the empty value.  Each parameter may appear once,
 * and an unknown one is refused rather than ignored, as unknown body
 * fields are.  Values are not percent-decoded: every value the API takes
 * is a plain ASCII token (digits, enum codes, base64url), so an encoded
 * one is refused as not one of them.
 *
 * Every refusal is a 422 invalid-field problem with a "parameter" member
 * naming the offending parameter.
 */
#ifndef CERTHALL_QUERY_H
#define CERTHALL_QUERY_H

#include <stddef.h>

#include "certhall/web/http.h"

typedef enum {
	CH_Q_LIMIT,	/* long long, a ch_id_parse id from 1 to max */
	CH_Q_ID,	/* long long, a ch_id_parse id */
	CH_Q_ENUM,	/* const char *, one of values (the table's string) */
	CH_Q_TEXT,	/* whatever parse stores; without parse, the value */
	CH_Q__MAX
} ch_qkind_t;

typedef struct ch_qparam {
	const char *name;
	ch_qkind_t kind;
	size_t offset;			/* of the slot in the caller's struct */
	long long max;			/* CH_Q_LIMIT */
	const char *const *values;	/* CH_Q_ENUM, NULL-terminated */
	/* CH_Q_TEXT: reads value (borrowed from req->pool) into slot; 0, or
	 * -1 to refuse it.  NULL stores value as a const char *. */
	int (*parse)(const char *value, void *slot);
	/* The detail when a value is refused; NULL for the default: "<name>
	 * must be an integer from 1 to <max>", "<name> must be a positive
	 * integer", "<name> must be one of: a, b, c", "<name> is not valid". */
	const char *detail;
} ch_qparam_t;

/*
 * Reads req->query into out by the n entries of params; slots of
 * parameters not given are left as the caller set them.  unknown is the
 * detail for a parameter not in params (it should list them).  0, or -1
 * with the 422 answer set in req (out may then be partly filled).
 */
int ch_query_parse(ch_req_t *req, const ch_qparam_t *params, size_t n,
    const char *unknown, void *out);

#endif
