#include "test.h"
#include "certhall/web/http.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <stddef.h>

static const char *const colours[] = { "red", "green", NULL };

struct q {
	long long limit;
	long long id;
	const char *colour;
	const char *text;
	long long code;
};

/* Takes "ok" only, storing 7. */
static int
code_parse(const char *value, void *slot)
{
	if (strcmp(value, "ok") != 0)
		return -1;
	*(long long *)slot = 7;
	return 0;
}

static const ch_qparam_t params[] = {
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(struct q, limit), .max = 50 },
	{ .name = "id", .kind = CH_Q_ID, .offset = offsetof(struct q, id) },
	{ .name = "colour", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct q, colour), .values = colours },
	{ .name = "text", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct q, text) },
	{ .name = "code", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct q, code), .parse = code_parse,
	  .detail = "code must be ok" },
};

/* Parses query into *out; the status (0 when accepted), with the
 * problem's detail and parameter in *detail and *param. */
static int
run(ch_pool_t *pool, const char *query, struct q *out, const char **detail,
    const char **param)
{
	ch_req_t req;
	json_t *p;

	memset(&req, 0, sizeof req);
	req.ctx.pool = pool;
	req.method = CH_GET;
	req.method_name = ch_method_name(CH_GET);
	req.path = "/x";
	req.query = query;
	req.ctx.correlation_id = "rid-1";
	memset(out, 0, sizeof *out);
	out->limit = 20;
	*detail = *param = NULL;
	if (ch_query_parse(&req, params, sizeof params / sizeof params[0],
	    "unknown query parameter", out) == 0)
		return req.resp.status;
	p = req.resp.json;
	if (p == NULL)
		return -1;
	if (strcmp(json_string_value(json_object_get(p, "type")),
	    "urn:certhall:problem:invalid-field") != 0)
		return -2;
	*detail = json_string_value(json_object_get(p, "detail"));
	*param = json_string_value(json_object_get(p, "parameter"));
	return req.resp.status;
}

int
test_query_accepts(void)
{
	ch_pool_t *pool = ch_pool_new();
	const char *detail, *param;
	struct q q;

	CHECK(run(pool, "", &q, &detail, &param) == 0);
	CHECK(q.limit == 20 && q.id == 0 && q.colour == NULL && q.text == NULL);
	CHECK(run(pool, "limit=50&id=9&colour=green&text=a%20b&code=ok", &q,
	    &detail, &param) == 0);
	CHECK(q.limit == 50 && q.id == 9 && q.code == 7);
	CHECK(q.colour == colours[1]);
	CHECK_STR(q.text, "a%20b");		/* not decoded */
	/* Empty pairs are skipped; a bare name has the empty value. */
	CHECK(run(pool, "&&limit=1&&text", &q, &detail, &param) == 0);
	CHECK(q.limit == 1);
	CHECK_STR(q.text, "");
	ch_pool_free(pool);
	return 0;
}

int
test_query_refusals(void)
{
	static const char *const bad_limits[] = {
		"0", "51", "", "-1", "01", "1x", "%31", NULL,
	};
	ch_pool_t *pool = ch_pool_new();
	const char *detail, *param;
	struct q q;

	CHECK(run(pool, "limit=1&nope=2", &q, &detail, &param) == 422);
	CHECK_STR(detail, "unknown query parameter");
	CHECK_STR(param, "nope");
	CHECK(run(pool, "=2", &q, &detail, &param) == 422);
	CHECK_STR(param, "");
	CHECK(run(pool, "limit=1&limit=2", &q, &detail, &param) == 422);
	CHECK_STR(detail, "limit is given more than once");
	CHECK_STR(param, "limit");
	CHECK(run(pool, "colour=red&colour=red", &q, &detail, &param) == 422);
	CHECK_STR(detail, "colour is given more than once");
	for (int i = 0; bad_limits[i] != NULL; i++) {
		char query[32];

		snprintf(query, sizeof query, "limit=%s", bad_limits[i]);
		CHECK(run(pool, query, &q, &detail, &param) == 422);
		CHECK_STR(detail, "limit must be an integer from 1 to 50");
		CHECK_STR(param, "limit");
	}
	CHECK(run(pool, "limit", &q, &detail, &param) == 422);
	CHECK(run(pool, "id=0", &q, &detail, &param) == 422);
	CHECK_STR(detail, "id must be a positive integer");
	CHECK_STR(param, "id");
	CHECK(run(pool, "colour=blue", &q, &detail, &param) == 422);
	CHECK_STR(detail, "colour must be one of: red, green");
	CHECK_STR(param, "colour");
	CHECK(run(pool, "colour=", &q, &detail, &param) == 422);
	CHECK(run(pool, "code=no", &q, &detail, &param) == 422);
	CHECK_STR(detail, "code must be ok");
	CHECK_STR(param, "code");
	ch_pool_free(pool);
	return 0;
}
