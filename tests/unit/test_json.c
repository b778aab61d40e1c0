#include "test.h"
#include "certhall/base/json.h"

#include <jansson.h>
#include <stddef.h>

static const char *const colours[] = { "red", "green", NULL };

static int
no_x(const char *s, const char **why)
{
	if (strchr(s, 'x') != NULL) {
		*why = "must not contain x";
		return -1;
	}
	return 0;
}

struct input {
	const char *name;
	ch_int_t years;
	int colour;
	int paid;
};

static const ch_field_t fields[] = {
	{ .name = "name", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 4, .check = no_x,
	  .offset = offsetof(struct input, name) },
	{ .name = "years", .type = CH_F_INT, .flags = CH_F_NULLABLE,
	  .min = 1, .max = 5, .offset = offsetof(struct input, years) },
	{ .name = "colour", .type = CH_F_ENUM, .values = colours,
	  .offset = offsetof(struct input, colour) },
	{ .name = "a/b~c", .type = CH_F_BOOL,
	  .offset = offsetof(struct input, paid) },
};

static const ch_schema_t schema = { fields, 4, sizeof(struct input) };

/* Parses text and validates it; returns the error kind or -1 on success.
 * The parsed value lives until the next call (strings in *in borrow it). */
static int
run(const char *text, struct input *in, ch_json_error_t *err)
{
	static json_t *j;
	int rc;

	json_decref(j);
	j = ch_json_parse(text, strlen(text), CH_JSON_MAX_DEPTH, err);
	if (j == NULL)
		return (int)err->kind;
	memset(in, 0, sizeof *in);
	rc = ch_json_validate(&schema, j, in, err);
	return rc == 0 ? -1 : (int)err->kind;
}

int
test_json_depth(void)
{
	CHECK(ch_json_depth("1", 1, 16) == 0);
	CHECK(ch_json_depth("{}", 2, 16) == 1);
	CHECK(ch_json_depth("[[],[[]]]", 9, 16) == 3);
	/* Brackets inside strings, escaped quotes included, do not count. */
	CHECK(ch_json_depth("{\"a\":\"[[[\\\"[[\"}", 15, 16) == 1);
	CHECK(ch_json_depth("[[[[[[[[[[[[[[[[[[[[", 20, 16) == 17);
	return 0;
}

int
test_json_parse_errors(void)
{
	ch_json_error_t err;
	char deep[64];

	CHECK(ch_json_parse("", 0, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_MALFORMED);
	CHECK(ch_json_parse("{", 1, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_MALFORMED);
	CHECK(ch_json_parse("{} {}", 5, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_MALFORMED);
	CHECK(ch_json_parse("{\"a\":1,\"a\":2}", 13, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_DUPLICATE_KEY);
	/* NUL inside a string is refused, so C strings stay whole. */
	CHECK(ch_json_parse("{\"a\":\"x\\u0000y\"}", 16, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_MALFORMED);
	/* Invalid UTF-8. */
	CHECK(ch_json_parse("{\"a\":\"\xff\"}", 8, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_MALFORMED);
	memset(deep, '[', 17);
	memset(deep + 17, ']', 17);
	CHECK(ch_json_parse(deep, 34, 16, &err) == NULL &&
	    err.kind == CH_JSON_E_TOO_DEEP);
	return 0;
}

int
test_json_validate_ok(void)
{
	struct input in;
	ch_json_error_t err;

	CHECK(run("{\"name\":\"张三\",\"years\":3,\"colour\":\"green\","
	    "\"a/b~c\":true}", &in, &err) == -1);
	CHECK_STR(in.name, "张三");
	CHECK(in.years.set && in.years.v == 3);
	CHECK(in.colour == 1);
	CHECK(in.paid == 1);

	CHECK(run("{\"name\":\"ab\",\"years\":null}", &in, &err) == -1);
	CHECK(!in.years.set);
	CHECK(in.colour == -1);
	CHECK(in.paid == -1);
	return 0;
}

struct bad_case {
	const char *body;
	ch_json_err_t kind;
	const char *pointer;
};

int
test_json_validate_errors(void)
{
	static const struct bad_case cases[] = {
		{ "[]", CH_JSON_E_INVALID_FIELD, "" },
		{ "\"name\"", CH_JSON_E_INVALID_FIELD, "" },
		{ "{}", CH_JSON_E_MISSING_FIELD, "/name" },
		{ "{\"name\":null}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":\"\"}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":\"五个汉字啊\"}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":\"a\\tb\"}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":\"axb\"}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":7}", CH_JSON_E_INVALID_FIELD, "/name" },
		{ "{\"name\":\"a\",\"years\":0}", CH_JSON_E_INVALID_FIELD, "/years" },
		{ "{\"name\":\"a\",\"years\":6}", CH_JSON_E_INVALID_FIELD, "/years" },
		{ "{\"name\":\"a\",\"years\":1.0}", CH_JSON_E_INVALID_FIELD, "/years" },
		{ "{\"name\":\"a\",\"years\":\"1\"}", CH_JSON_E_INVALID_FIELD, "/years" },
		{ "{\"name\":\"a\",\"years\":true}", CH_JSON_E_INVALID_FIELD, "/years" },
		{ "{\"name\":\"a\",\"colour\":\"blue\"}", CH_JSON_E_INVALID_FIELD, "/colour" },
		{ "{\"name\":\"a\",\"colour\":null}", CH_JSON_E_INVALID_FIELD, "/colour" },
		{ "{\"name\":\"a\",\"a/b~c\":1}", CH_JSON_E_INVALID_FIELD, "/a~1b~0c" },
		{ "{\"name\":\"a\",\"Name\":\"b\"}", CH_JSON_E_UNKNOWN_FIELD, "/Name" },
		/* An unknown field is named even when a required one is missing. */
		{ "{\"nmae\":\"a\"}", CH_JSON_E_UNKNOWN_FIELD, "/nmae" },
	};
	struct input in;
	ch_json_error_t err;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int kind = run(cases[i].body, &in, &err);

		if (kind != (int)cases[i].kind ||
		    strcmp(err.pointer, cases[i].pointer) != 0) {
			fprintf(stderr, "case %zu %s: kind %d pointer \"%s\"\n",
			    i, cases[i].body, kind, err.pointer);
			return 1;
		}
		CHECK(err.detail[0] != '\0');
	}
	return 0;
}

int
test_json_pointer_escaping(void)
{
	struct input in;
	ch_json_error_t err;
	char body[600];

	CHECK(run("{\"name\":\"a\",\"x~/y\":1}", &in, &err) ==
	    CH_JSON_E_UNKNOWN_FIELD);
	CHECK_STR(err.pointer, "/x~0~1y");
	/* A huge unknown key is cut short, at a character boundary. */
	strcpy(body, "{\"");
	for (int i = 0; i < 100; i++)
		strcat(body, "键");
	strcat(body, "\":1}");
	CHECK(run(body, &in, &err) == CH_JSON_E_UNKNOWN_FIELD);
	CHECK(strlen(err.pointer) < sizeof err.pointer);
	{
		json_t *s = json_string(err.pointer);	/* NULL unless UTF-8 */

		CHECK(s != NULL);
		json_decref(s);
	}
	return 0;
}

static const char *const roles[] = { "reviewer", "operator", "admin", NULL };

struct set_input {
	unsigned roles;
};

static const ch_field_t set_fields[] = {
	{ .name = "roles", .type = CH_F_ENUM_SET, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 3, .values = roles,
	  .offset = offsetof(struct set_input, roles) },
};

static const ch_schema_t set_schema = { set_fields, 1, sizeof(struct set_input) };

static int
run_set(const char *text, struct set_input *in, ch_json_error_t *err)
{
	json_t *j = ch_json_parse(text, strlen(text), CH_JSON_MAX_DEPTH, err);
	int rc;

	if (j == NULL)
		return (int)err->kind;
	memset(in, 0, sizeof *in);
	rc = ch_json_validate(&set_schema, j, in, err);
	json_decref(j);
	return rc == 0 ? -1 : (int)err->kind;
}

int
test_json_enum_set(void)
{
	struct set_input in;
	ch_json_error_t err;

	CHECK(run_set("{\"roles\":[\"admin\",\"reviewer\"]}", &in, &err) == -1);
	CHECK(in.roles == (1u << 2 | 1u << 0));
	CHECK(run_set("{\"roles\":[]}", &in, &err) == CH_JSON_E_INVALID_FIELD);
	CHECK(run_set("{\"roles\":[\"admin\",\"admin\"]}", &in, &err) ==
	    CH_JSON_E_INVALID_FIELD);
	CHECK(run_set("{\"roles\":[\"root\"]}", &in, &err) == CH_JSON_E_INVALID_FIELD);
	CHECK(run_set("{\"roles\":[1]}", &in, &err) == CH_JSON_E_INVALID_FIELD);
	CHECK(run_set("{\"roles\":\"admin\"}", &in, &err) == CH_JSON_E_INVALID_FIELD);
	CHECK_STR(err.pointer, "/roles");
	CHECK(run_set("{\"roles\":[\"a\",\"b\",\"c\",\"d\"]}", &in, &err) ==
	    CH_JSON_E_INVALID_FIELD);
	return 0;
}

/* Compacts text (a copy, and in place) and checks the result is want and
 * parses to the same value as text. */
static int
compacts_to(const char *text, const char *want)
{
	char out[256], in_place[256];
	size_t n = ch_json_compact(out, text, strlen(text));
	json_t *a, *b;
	int same;

	snprintf(in_place, sizeof in_place, "%s", text);
	if (n != strlen(want) || strcmp(out, want) != 0 ||
	    ch_json_compact(in_place, in_place, strlen(in_place)) != n ||
	    strcmp(in_place, want) != 0) {
		fprintf(stderr, "compact(%s) = %s, want %s\n", text, out, want);
		return 0;
	}
	a = json_loads(text, JSON_DECODE_ANY, NULL);
	b = json_loads(out, JSON_DECODE_ANY, NULL);
	same = a != NULL && b != NULL && json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return same;
}

int
test_json_compact(void)
{
	char out[4];

	/* PostgreSQL's json_build_object() and json_agg() spacing. */
	CHECK(compacts_to("{\"id\" : 1, \"tags\" : [\"a\", \"b\"], \"x\" : null}",
	    "{\"id\":1,\"tags\":[\"a\",\"b\"],\"x\":null}"));
	CHECK(compacts_to("[{\"a\" : 1}, \n {\"a\" : 2}]", "[{\"a\":1},{\"a\":2}]"));
	/* jsonb's, and every kind of insignificant white space, nested. */
	CHECK(compacts_to(" {\"a\": {\"b\": [ [ ], { } ,\t[1 ,2]]}}\r\n",
	    "{\"a\":{\"b\":[[],{},[1,2]]}}"));
	/* Strings stay as they are: spaces, colons and commas ... */
	CHECK(compacts_to("{\"note\" : \" a : b , c \"}",
	    "{\"note\":\" a : b , c \"}"));
	/* ... escaped quotes, which do not end a string ... */
	CHECK(compacts_to("{\"q\" : \"say \\\" : \\\" , ok\", \"n\" : 2}",
	    "{\"q\":\"say \\\" : \\\" , ok\",\"n\":2}"));
	/* ... an escaped backslash just before the closing quote, which
	 * does end it ... */
	CHECK(compacts_to("{\"p\" : \"C:\\\\ dir\\\\\" , \"q\" : \"\\\\\"}",
	    "{\"p\":\"C:\\\\ dir\\\\\",\"q\":\"\\\\\"}"));
	/* ... escapes of white space and \u escapes ... */
	CHECK(compacts_to("[\"\\n\\t \\r\", \"\\u0020\\u00e9 \\\"\"]",
	    "[\"\\n\\t \\r\",\"\\u0020\\u00e9 \\\"\"]"));
	/* ... and UTF-8, in keys too. */
	CHECK(compacts_to("{\"名称\" : \"四川 CA　数字证书\", \"e\" : \"é ü\"}",
	    "{\"名称\":\"四川 CA　数字证书\",\"e\":\"é ü\"}"));
	CHECK(compacts_to("{\"\" : \"\", \" \" : \"   \"}",
	    "{\"\":\"\",\" \":\"   \"}"));
	/* Numbers and literals; what is compact already stays the same. */
	CHECK(compacts_to("[ -1.5e+3 , true , false , null ]",
	    "[-1.5e+3,true,false,null]"));
	CHECK(compacts_to("{\"a\":[1,{\"b\":\"c d\"}]}", "{\"a\":[1,{\"b\":\"c d\"}]}"));
	CHECK(ch_json_compact(out, " \n", 2) == 0 && out[0] == '\0');
	return 0;
}

/* CH_F_LINES: a PEM block's line ends and tabs are taken; other control
 * characters are not. */
int
test_json_lines(void)
{
	static const ch_field_t lines_fields[] = {
		{ .name = "text", .type = CH_F_STRING,
		  .flags = CH_F_REQUIRED | CH_F_LINES, .min = 1, .max = 100,
		  .offset = 0 },
	};
	static const ch_schema_t lines_schema = { lines_fields, 1,
		sizeof(const char *) };
	static const char *const good[] = {
		"{\"text\":\"-----BEGIN X-----\\nAAAA\\r\\n\\tBBBB\\n\"}",
		"{\"text\":\"one line\"}",
	};
	static const char *const bad[] = {
		"{\"text\":\"a\\u0001b\"}", "{\"text\":\"a\\u001bb\"}",
		"{\"text\":\"a\\u007fb\"}", "{\"text\":\"a\\fb\"}",
	};
	ch_json_error_t err;
	const char *out;
	json_t *j;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		j = ch_json_parse(good[i], strlen(good[i]), 16, &err);
		CHECK(j != NULL);
		CHECK(ch_json_validate(&lines_schema, j, &out, &err) == 0);
		json_decref(j);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		j = ch_json_parse(bad[i], strlen(bad[i]), 16, &err);
		CHECK(j != NULL);
		CHECK(ch_json_validate(&lines_schema, j, &out, &err) == -1);
		CHECK(err.kind == CH_JSON_E_INVALID_FIELD);
		json_decref(j);
	}
	return 0;
}
