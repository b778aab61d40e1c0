/*
 * libFuzzer target: request bodies.  Any bytes go through the same parse and
 * schema validation as a request; nothing may crash, leak or break the
 * validator's promises (typed values within their declared bounds).
 */
#include "certhall/base/json.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const colours[] = { "red", "green", "blue", NULL };

struct input {
	const char *name;
	ch_int_t years;
	int colour;
	int paid;
	unsigned set;
};

static const ch_field_t fields[] = {
	{ .name = "name", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 8, .offset = offsetof(struct input, name) },
	{ .name = "years", .type = CH_F_INT, .flags = CH_F_NULLABLE,
	  .min = 1, .max = 5, .offset = offsetof(struct input, years) },
	{ .name = "colour", .type = CH_F_ENUM, .values = colours,
	  .offset = offsetof(struct input, colour) },
	{ .name = "paid", .type = CH_F_BOOL,
	  .offset = offsetof(struct input, paid) },
	{ .name = "set", .type = CH_F_ENUM_SET, .min = 0, .max = 3,
	  .values = colours, .offset = offsetof(struct input, set) },
};

static const ch_schema_t schema = { fields, 5, sizeof(struct input) };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ch_json_error_t err;
	struct input in;
	json_t *j = ch_json_parse((const char *)data, size, CH_JSON_MAX_DEPTH,
	    &err);

	if (j == NULL) {
		if (err.detail[0] == '\0')
			abort();	/* every refusal says why */
		return 0;
	}
	memset(&in, 0, sizeof in);
	if (ch_json_validate(&schema, j, &in, &err) == 0) {
		size_t n = ch_utf8_length(in.name);

		if (n < 1 || n > 8)
			abort();
		if (in.years.set && (in.years.v < 1 || in.years.v > 5))
			abort();
		if (in.colour < -1 || in.colour > 2 || in.paid < -1 ||
		    in.paid > 1 || in.set > 7)
			abort();
	} else if (err.detail[0] == '\0' || err.kind >= CH_JSON_E__MAX) {
		abort();
	}
	json_decref(j);
	return 0;
}
