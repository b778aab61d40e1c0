/*
 * Request bodies: parse strictly, then validate against a declared schema
 * that both checks each field and stores its typed C value (kcgi's
 * kvalid_*), so a handler starts from checked input.
 *
 * Parsing refuses duplicate keys (JSON_REJECT_DUPLICATES), NUL in strings,
 * and nesting deeper than the cap, measured before Jansson builds anything.
 * Validation refuses unknown fields, missing required ones and every value
 * outside its declared type and range, naming the field as a JSON Pointer.
 */
#ifndef CERTHALL_JSON_H
#define CERTHALL_JSON_H

#include <stdbool.h>
#include <stddef.h>


struct json_t;

#define CH_JSON_MAX_DEPTH 16

typedef enum {
	CH_F_STRING,	/* stores const char * (borrowed from the json), NULL if absent */
	CH_F_INT,	/* stores ch_int_t; JSON integers only, never 1.0 or "1" */
	CH_F_BOOL,	/* stores int: -1 absent, 0, 1 */
	CH_F_ENUM,	/* stores int: index into values, -1 if absent */
	CH_F_ENUM_SET,	/* array of distinct values: stores unsigned, bit i
			 * for values[i]; min/max bound the count; absent: 0
			 * and the field's bit CH_F_... not set (check with
			 * ch_json_has()) */
	CH_FTYPE__MAX
} ch_ftype_t;

#define CH_F_REQUIRED	0x1u
#define CH_F_NULLABLE	0x2u	/* JSON null is taken as absent */
/* STRING: text of several lines (a PEM block): tab, LF and CR are taken;
 * every other control character is still refused, as in any string. */
#define CH_F_LINES	0x4u

typedef struct {
	bool set;
	long long v;
} ch_int_t;

typedef struct ch_field {
	const char *name;
	ch_ftype_t type;
	unsigned flags;
	long long min, max;		/* INT: value; STRING: length in characters */
	const char *const *values;	/* ENUM: NULL-terminated */
	/* STRING: an extra rule; returns 0 if s is acceptable, else -1 with
	 * *why set to a static explanation. */
	int (*check)(const char *s, const char **why);
	size_t offset;			/* where the value goes in the input struct */
} ch_field_t;

typedef struct ch_schema {
	const ch_field_t *fields;
	size_t nfields;
	size_t size;			/* sizeof the input struct */
} ch_schema_t;

/* The schema of a fields array (a true array, not a pointer) filling an
 * input struct of type input_type:
 *	const ch_schema_t api_x_schema = CH_SCHEMA(x_fields, struct x_input);
 */
#define CH_SCHEMA(field_array, input_type) { \
	.fields = (field_array), \
	.nfields = sizeof (field_array) / sizeof (field_array)[0], \
	.size = sizeof(input_type), \
}

/* What was wrong with a body: the web layer answers each with its own
 * problem type (malformed-json, duplicate-key, too-deep, invalid-field,
 * missing-field, unknown-field). */
typedef enum {
	CH_JSON_E_MALFORMED,
	CH_JSON_E_DUPLICATE_KEY,
	CH_JSON_E_TOO_DEEP,
	CH_JSON_E_INVALID_FIELD,
	CH_JSON_E_MISSING_FIELD,
	CH_JSON_E_UNKNOWN_FIELD,
	CH_JSON_E__MAX
} ch_json_err_t;

typedef struct {
	ch_json_err_t kind;
	char pointer[160];		/* JSON Pointer of the field, "" for the body */
	char detail[256];
} ch_json_error_t;

/*
 * Parses len bytes as one JSON value.  Returns a new reference (the caller
 * owns it), or NULL with err filled: CH_JSON_E_MALFORMED, CH_JSON_E_DUPLICATE_KEY
 * or CH_JSON_E_TOO_DEEP.
 */
struct json_t *ch_json_parse(const char *buf, size_t len, int max_depth,
    ch_json_error_t *err);

/* Returns the deepest nesting of arrays/objects in buf (1 for {}), scanning
 * at most until it exceeds limit; strings and escapes are skipped. */
int ch_json_depth(const char *buf, size_t len, int limit);

/*
 * Validates a parsed body against schema and writes the typed values into
 * out (schema->size bytes, zeroed by the caller).  body is borrowed, and
 * strings written into out point into it: they live as long as body.
 * Returns 0, or -1 with err filled (CH_JSON_E_INVALID_FIELD,
 * CH_JSON_E_MISSING_FIELD, CH_JSON_E_UNKNOWN_FIELD).  On failure out may be
 * partly written and must not be used.
 */
int ch_json_validate(const ch_schema_t *schema, struct json_t *body, void *out,
    ch_json_error_t *err);

/* Whether the body (borrowed) has a (non-null) value for field name. */
bool ch_json_has(const struct json_t *body, const char *name);

/*
 * Writes the JSON text in (len bytes) to out without its insignificant
 * white space (RFC 8259 §2: space, tab, LF, CR around structural
 * characters), so that PostgreSQL's `{"a" : 1, "b" : [1, 2]}` reads like
 * Jansson's JSON_COMPACT `{"a":1,"b":[1,2]}`; strings, escapes included,
 * are copied as they are.  out has room for len + 1 bytes and may be in
 * (compaction in place); it is NUL-terminated.  Returns its length.  in
 * must be valid JSON; nothing is checked.
 */
size_t ch_json_compact(char *out, const char *in, size_t len);

/* Counts the characters of a valid UTF-8 string. */
size_t ch_utf8_length(const char *s);

#endif
