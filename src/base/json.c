#include "certhall/base/json.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void
set_error(ch_json_error_t *err, ch_json_err_t kind, const char *pointer,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set_error(ch_json_error_t *err, ch_json_err_t kind, const char *pointer,
    const char *fmt, ...)
{
	va_list ap;

	err->kind = kind;
	snprintf(err->pointer, sizeof err->pointer, "%s", pointer);
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof err->detail, fmt, ap);
	va_end(ap);
}

int
ch_json_depth(const char *buf, size_t len, int limit)
{
	int depth = 0, deepest = 0;
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_string) {
			if (c == '\\')
				i++;	/* skip the escaped character */
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '[':
		case '{':
			if (++depth > deepest) {
				deepest = depth;
				if (deepest > limit)
					return deepest;
			}
			break;
		case ']':
		case '}':
			depth--;
			break;
		default:
			break;
		}
	}
	return deepest;
}

json_t *
ch_json_parse(const char *buf, size_t len, int max_depth, ch_json_error_t *err)
{
	json_error_t jerr;
	json_t *json;

	if (len == 0) {
		set_error(err, CH_JSON_E_MALFORMED, "", "the request body is empty");
		return NULL;
	}
	if (ch_json_depth(buf, len, max_depth) > max_depth) {
		set_error(err, CH_JSON_E_TOO_DEEP, "",
		    "the request body nests arrays and objects deeper than %d",
		    max_depth);
		return NULL;
	}
	/* Any JSON value parses; the schema then says what shape it wants. */
	json = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &jerr);
	if (json != NULL)
		return json;
	if (json_error_code(&jerr) == json_error_duplicate_key)
		set_error(err, CH_JSON_E_DUPLICATE_KEY, "",
		    "%s (line %d, column %d)", jerr.text, jerr.line,
		    jerr.column);
	else
		set_error(err, CH_JSON_E_MALFORMED, "",
		    "%s (line %d, column %d)", jerr.text, jerr.line,
		    jerr.column);
	return NULL;
}

size_t
ch_json_compact(char *out, const char *in, size_t len)
{
	size_t n = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (in_string) {
			out[n++] = c;
			if (c == '\\' && i + 1 < len)
				out[n++] = in[++i];	/* \" does not end it */
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '"')
			in_string = true;
		out[n++] = c;
	}
	out[n] = '\0';
	return n;
}

size_t
ch_utf8_length(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Writes "/" + key as a JSON Pointer token (RFC 6901: ~ → ~0, / → ~1),
 * cut short at a character boundary if it does not fit. */
static void
pointer_for(char *out, size_t cap, const char *key)
{
	size_t n = 0;

	out[n++] = '/';
	for (; *key != '\0'; key++) {
		const char *rep = NULL;
		size_t rlen = 1;

		if (*key == '~')
			rep = "~0", rlen = 2;
		else if (*key == '/')
			rep = "~1", rlen = 2;
		if (n + rlen + 1 > cap)
			break;
		if (rep != NULL)
			memcpy(out + n, rep, rlen);
		else
			out[n] = *key;
		n += rlen;
	}
	while (*key != '\0' && n > 1 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
		n--;
	if (*key != '\0' && n > 1 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
		n--;
	out[n] = '\0';
}

/* Whether s has a control character; with lines, tab, LF and CR are
 * taken (CH_F_LINES). */
static int
has_control(const char *s, bool lines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 || *p == 0x7f) &&
		    !(lines && (*p == '\t' || *p == '\n' || *p == '\r')))
			return 1;
	return 0;
}

static const ch_field_t *
find_field(const ch_schema_t *schema, const char *name)
{
	for (size_t i = 0; i < schema->nfields; i++)
		if (strcmp(schema->fields[i].name, name) == 0)
			return &schema->fields[i];
	return NULL;
}

static void
store_absent(const ch_field_t *f, void *out)
{
	char *slot = (char *)out + f->offset;

	switch (f->type) {
	case CH_F_STRING:
		*(const char **)slot = NULL;
		break;
	case CH_F_INT:
		((ch_int_t *)slot)->set = false;
		break;
	case CH_F_BOOL:
	case CH_F_ENUM:
		*(int *)slot = -1;
		break;
	case CH_F_ENUM_SET:
		*(unsigned *)slot = 0;
		break;
	default:
		break;
	}
}

bool
ch_json_has(const json_t *body, const char *name)
{
	json_t *v = json_object_get(body, name);

	return v != NULL && !json_is_null(v);
}

/* "one of: a, b, c" into buf. */
static void
enum_list(const char *const *values, char *list, size_t cap)
{
	size_t n = 0;

	list[0] = '\0';
	for (int i = 0; values[i] != NULL && n < cap; i++)
		n += (size_t)snprintf(list + n, cap - n, "%s%s", i ? ", " : "",
		    values[i]);
}

static int
store_value(const ch_field_t *f, json_t *v, void *out, const char *ptr,
    ch_json_error_t *err)
{
	char *slot = (char *)out + f->offset;
	const char *why = NULL;

	switch (f->type) {
	case CH_F_STRING: {
		const char *s;
		size_t chars;

		if (!json_is_string(v))
			goto type;
		s = json_string_value(v);
		chars = ch_utf8_length(s);
		if ((long long)chars < f->min || (long long)chars > f->max) {
			set_error(err, CH_JSON_E_INVALID_FIELD, ptr,
			    "%s must be %lld to %lld characters long",
			    f->name, f->min, f->max);
			return -1;
		}
		if (has_control(s, (f->flags & CH_F_LINES) != 0)) {
			set_error(err, CH_JSON_E_INVALID_FIELD, ptr,
			    "%s must not contain control characters", f->name);
			return -1;
		}
		if (f->check != NULL && f->check(s, &why) != 0) {
			set_error(err, CH_JSON_E_INVALID_FIELD, ptr, "%s %s",
			    f->name, why);
			return -1;
		}
		*(const char **)slot = s;
		return 0;
	}
	case CH_F_INT: {
		long long n;

		if (!json_is_integer(v))
			goto type;
		n = json_integer_value(v);
		if (n < f->min || n > f->max) {
			set_error(err, CH_JSON_E_INVALID_FIELD, ptr,
			    "%s must be an integer from %lld to %lld",
			    f->name, f->min, f->max);
			return -1;
		}
		((ch_int_t *)slot)->set = true;
		((ch_int_t *)slot)->v = n;
		return 0;
	}
	case CH_F_BOOL:
		if (!json_is_boolean(v))
			goto type;
		*(int *)slot = json_is_true(v);
		return 0;
	case CH_F_ENUM: {
		char list[256];
		int i;

		if (!json_is_string(v))
			goto type;
		i = ch_code_index(f->values, json_string_value(v));
		if (i >= 0) {
			*(int *)slot = i;
			return 0;
		}
		enum_list(f->values, list, sizeof list);
		set_error(err, CH_JSON_E_INVALID_FIELD, ptr, "%s must be one of: %s",
		    f->name, list);
		return -1;
	}
	case CH_F_ENUM_SET: {
		char list[256];
		unsigned bits = 0;
		size_t idx;
		json_t *e;

		if (!json_is_array(v))
			goto type;
		if ((long long)json_array_size(v) < f->min ||
		    (long long)json_array_size(v) > f->max) {
			set_error(err, CH_JSON_E_INVALID_FIELD, ptr,
			    "%s must list %lld to %lld values", f->name,
			    f->min, f->max);
			return -1;
		}
		json_array_foreach(v, idx, e) {
			int i = json_is_string(e)
			    ? ch_code_index(f->values, json_string_value(e)) : -1;

			if (i < 0 || (bits & (1u << i))) {
				enum_list(f->values, list, sizeof list);
				set_error(err, CH_JSON_E_INVALID_FIELD, ptr,
				    "%s must list distinct values from: %s",
				    f->name, list);
				return -1;
			}
			bits |= 1u << i;
		}
		*(unsigned *)slot = bits;
		return 0;
	}
	default:
		break;
	}
type:
	{
		static const char *const type_names[CH_FTYPE__MAX] = {
			[CH_F_STRING] = "a string",
			[CH_F_INT] = "an integer",
			[CH_F_BOOL] = "true or false",
			[CH_F_ENUM] = "a string",
			[CH_F_ENUM_SET] = "an array of strings",
		};

		set_error(err, CH_JSON_E_INVALID_FIELD, ptr, "%s must be %s",
		    f->name, type_names[f->type]);
	}
	return -1;
}

int
ch_json_validate(const ch_schema_t *schema, json_t *body, void *out,
    ch_json_error_t *err)
{
	const char *key;
	json_t *value;
	char ptr[sizeof err->pointer];

	if (!json_is_object(body)) {
		set_error(err, CH_JSON_E_INVALID_FIELD, "",
		    "the request body must be a JSON object");
		return -1;
	}
	/* Unknown fields first: a misspelt optional field must not pass as
	 * "absent". */
	json_object_foreach(body, key, value) {
		if (find_field(schema, key) == NULL) {
			pointer_for(ptr, sizeof ptr, key);
			set_error(err, CH_JSON_E_UNKNOWN_FIELD, ptr,
			    "unknown field; this operation does not take it");
			return -1;
		}
	}
	for (size_t i = 0; i < schema->nfields; i++) {
		const ch_field_t *f = &schema->fields[i];
		json_t *v = json_object_get(body, f->name);

		pointer_for(ptr, sizeof ptr, f->name);
		if (v != NULL && json_is_null(v) && (f->flags & CH_F_NULLABLE))
			v = NULL;
		if (v == NULL) {
			if (f->flags & CH_F_REQUIRED) {
				set_error(err, CH_JSON_E_MISSING_FIELD, ptr,
				    "%s is required", f->name);
				return -1;
			}
			store_absent(f, out);
			continue;
		}
		if (store_value(f, v, out, ptr, err) != 0)
			return -1;
	}
	return 0;
}
