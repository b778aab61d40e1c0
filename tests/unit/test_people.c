/* certhall/domain/people.h, staff.h and integrator.h, and the admin
 * handlers' checks that come before any database work (api/staff.c,
 * api/audit.c). */
#include "test.h"
#include "../../api/api.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/domain/integrator.h"
#include "certhall/domain/people.h"
#include "certhall/domain/staff.h"

#include <jansson.h>
#include <stdlib.h>

int
test_people_id_parse(void)
{
	long long id = -1;

	CHECK(ch_id_parse("1", &id) == 0 && id == 1);
	CHECK(ch_id_parse("42", &id) == 0 && id == 42);
	CHECK(ch_id_parse("999999999999999999", &id) == 0 &&
	    id == 999999999999999999LL);
	CHECK(ch_id_parse("1000000000000000000", &id) == -1);	/* 19 digits */
	CHECK(ch_id_parse("0", &id) == -1);
	CHECK(ch_id_parse("007", &id) == -1);
	CHECK(ch_id_parse("-1", &id) == -1);
	CHECK(ch_id_parse("+1", &id) == -1);
	CHECK(ch_id_parse(" 1", &id) == -1);
	CHECK(ch_id_parse("1 ", &id) == -1);
	CHECK(ch_id_parse("1e3", &id) == -1);
	CHECK(ch_id_parse("", &id) == -1);
	CHECK(ch_id_parse(NULL, &id) == -1);
	return 0;
}

int
test_people_roles(void)
{
	ch_pool_t *pool = ch_pool_new();
	unsigned all = CH_ROLE_STAFF_ALL;
	json_t *j;
	char *s;

	/* Canonical order whatever the bits, and a round trip through the
	 * parser src/web/auth.c reads the column with. */
	CHECK_STR(ch_staff_roles_literal(pool, CH_ROLE_ADMIN | CH_ROLE_REVIEWER),
	    "{reviewer,admin}");
	CHECK_STR(ch_staff_roles_literal(pool, all),
	    "{reviewer,operator,finance,counter,admin}");
	CHECK_STR(ch_staff_roles_literal(pool, CH_ROLE_PUBLIC | CH_ROLE_FINANCE),
	    "{finance}");
	CHECK_STR(ch_staff_roles_literal(pool, 0), "{}");
	CHECK(ch_staff_roles_parse(ch_staff_roles_literal(pool, all)) == all);
	CHECK(ch_staff_roles_parse(ch_staff_roles_literal(pool,
	    CH_ROLE_COUNTER | CH_ROLE_OPERATOR)) ==
	    (CH_ROLE_COUNTER | CH_ROLE_OPERATOR));
	j = ch_staff_roles_json(CH_ROLE_ADMIN | CH_ROLE_OPERATOR);
	s = json_dumps(j, JSON_COMPACT);
	CHECK_STR(s, "[\"operator\",\"admin\"]");
	free(s);
	json_decref(j);
	ch_pool_free(pool);
	return 0;
}

int
test_people_staff_check(void)
{
	ch_staff_new_t s = { "alice", "Alice 李", "correct horse battery",
		CH_ROLE_ADMIN };
	const char *field, *why;
	char long_pw[130];

	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_OK);
	s.username = "Alice";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(field, "username");
	s.username = "al";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	s.username = "alice";
	s.display_name = "";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(field, "display_name");
	s.display_name = "tab\there";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	s.display_name = "\xff\xfe";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(why, "must be valid UTF-8");
	s.display_name = "Alice";
	/* Length counts characters, not bytes: 12 CJK characters pass. */
	s.password = "一二三四五六七八九十百千";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_OK);
	s.password = "elevenchars";
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(field, "password");
	memset(long_pw, 'x', 129);
	long_pw[129] = '\0';
	s.password = long_pw;
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	long_pw[128] = '\0';
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_OK);
	s.password = NULL;
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(why, "is required");
	s.password = long_pw;
	s.roles = 0;
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	CHECK_STR(field, "roles");
	s.roles = CH_ROLE_APPLICANT;
	CHECK(ch_staff_check(&s, &field, &why) == CH_PEOPLE_INVALID);
	return 0;
}

/* What the audit log keeps of a new staff member: never the password. */
int
test_people_created_detail(void)
{
	ch_staff_new_t s = { "alice", "Alice", "correct horse battery",
		CH_ROLE_ADMIN | CH_ROLE_COUNTER };
	json_t *d = ch_staff_created_detail(&s);
	char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

	CHECK_STR(text, "{\"display_name\":\"Alice\",\"roles\":[\"counter\","
	    "\"admin\"],\"username\":\"alice\"}");
	free(text);
	json_decref(d);
	return 0;
}

/* The sealed secret opens, under the key id, to exactly the string the
 * integrator holds: what src/web/auth.c's hmac_request() uses as its key. */
int
test_people_integrator_keys(void)
{
	unsigned char pepper[CH_PEPPER_LEN] = { 7 };
	char key_id[CH_KEY_ID_SIZE], key_id2[CH_KEY_ID_SIZE];
	char secret[CH_SECRET_SIZE], secret2[CH_SECRET_SIZE];
	unsigned char sealed[CH_SECRET_SIZE + 28], opened[CH_SECRET_SIZE + 28];
	size_t sealed_len, opened_len;

	ch_crypto_set_pepper(pepper);
	ch_integrator_keygen(key_id, secret);
	ch_integrator_keygen(key_id2, secret2);
	CHECK(strlen(key_id) == 27 && strncmp(key_id, "ak_", 3) == 0);
	CHECK(strspn(key_id + 3, "0123456789abcdef") == 24);
	CHECK(strlen(secret) == 67 && strncmp(secret, "sk_", 3) == 0);
	CHECK(strspn(secret + 3, "0123456789abcdef") == 64);
	CHECK(strcmp(key_id, key_id2) != 0 && strcmp(secret, secret2) != 0);

	CHECK(ch_integrator_seal(key_id, secret, sealed, &sealed_len) == 0);
	CHECK(sealed_len == strlen(secret) + 28);
	CHECK(ch_open(CH_KEY_INTEGRATOR, key_id, sealed, sealed_len, opened,
	    &opened_len) == 0);
	CHECK(opened_len == strlen(secret) &&
	    memcmp(opened, secret, opened_len) == 0);
	/* Bound to its key id, and to the integrator label. */
	CHECK(ch_open(CH_KEY_INTEGRATOR, key_id2, sealed, sealed_len, opened,
	    &opened_len) == -1);
	CHECK(ch_open(CH_KEY_SESSION, key_id, sealed, sealed_len, opened,
	    &opened_len) == -1);
	return 0;
}

static void
req_init(ch_req_t *req, ch_pool_t *pool, const char *path, const char *query)
{
	memset(req, 0, sizeof *req);
	req->ctx.pool = pool;
	req->method = CH_GET;
	req->method_name = "GET";
	req->path = path;
	req->query = query;
	req->ctx.correlation_id = "rid-1";
}

static const char *
problem_member(const ch_req_t *req, const char *name)
{
	return json_string_value(json_object_get(req->resp.json, name));
}

/* Bad query values are refused with the parameter's name before the
 * database is asked (req->ctx.db is NULL here). */
int
test_people_audit_query_refused(void)
{
	static const struct {
		const char *query, *parameter;
	} bad[] = {
		{ "limit=0", "limit" }, { "limit=201", "limit" },
		{ "limit=", "limit" }, { "limit", "limit" },
		{ "limit=1x", "limit" }, { "limit=-5", "limit" },
		{ "limit=10&limit=20", "limit" },
		{ "before_id=0", "before_id" }, { "before_id=abc", "before_id" },
		{ "before_id=1&before_id=2", "before_id" },
		{ "action=", "action" }, { "action=Staff.created", "action" },
		{ "action=staff%2ecreated", "action" },
		{ "action=a.b&action=b.c", "action" },
		{ "action=staff", "action" }, { "action=staff.", "action" },
		{ "action=.staff", "action" }, { "action=staff..created", "action" },
		{ "limit=5&colour=red", "colour" },
	};
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		req_init(&req, pool, "/api/v1/audit-events", bad[i].query);
		CHECK(api_audit_list(&req) == 0);
		if (req.resp.status != 422)
			fprintf(stderr, "query \"%s\"\n", bad[i].query);
		CHECK(req.resp.status == 422);
		CHECK_STR(problem_member(&req, "parameter"), bad[i].parameter);
		ch_pool_reset(pool);
	}
	ch_pool_free(pool);
	return 0;
}

/* Runs api_staff_patch on staff id `id` as staff member `me` (an admin)
 * with body; returns the status it answered. */
static int
patch_as(ch_pool_t *pool, long long me, const char *id, const char *body,
    ch_req_t *req)
{
	ch_json_error_t err;
	json_t *j;

	req_init(req, pool, "/api/v1/staff/x", "");
	req->method = CH_PATCH;
	req->ctx.principal.kind = CH_ACTOR_STAFF;
	req->ctx.principal.id = me;
	req->ctx.principal.roles = CH_ROLE_PUBLIC | CH_ROLE_ADMIN;
	req->param_names[0] = "id";
	req->param_values[0] = id;
	req->nparams = 1;
	j = ch_json_parse(body, strlen(body), CH_JSON_MAX_DEPTH, &err);
	if (j == NULL)
		return -1;
	req->json = ch_pool_json(pool, j);
	req->input = ch_palloc(pool, api_staff_patch_schema.size);
	if (ch_json_validate(&api_staff_patch_schema, j, req->input, &err) != 0)
		return -2;
	return api_staff_patch(req) == 0 ? req->resp.status : -3;
}

/* The refusals of PATCH /staff/{id} that need no database. */
int
test_people_staff_patch_refusals(void)
{
	ch_pool_t *pool = ch_pool_new();
	ch_req_t req;

	CHECK(patch_as(pool, 7, "7", "{\"disabled\":true}", &req) == 409);
	CHECK_STR(problem_member(&req, "field"), "/disabled");
	CHECK(patch_as(pool, 7, "7", "{\"roles\":[\"reviewer\"]}", &req) == 409);
	CHECK_STR(problem_member(&req, "field"), "/roles");
	CHECK(patch_as(pool, 7, "7", "{}", &req) == 422);
	CHECK_STR(problem_member(&req, "type"),
	    "urn:certhall:problem:missing-field");
	CHECK(patch_as(pool, 7, "0", "{\"unlock\":true}", &req) == 404);
	CHECK(patch_as(pool, 7, "abc", "{\"unlock\":true}", &req) == 404);
	CHECK(patch_as(pool, 7, "07", "{\"unlock\":true}", &req) == 404);
	/* The schema: a role set of distinct known names, 1 to 5. */
	CHECK(patch_as(pool, 7, "8", "{\"roles\":[]}", &req) == -2);
	CHECK(patch_as(pool, 7, "8", "{\"roles\":[\"admin\",\"admin\"]}",
	    &req) == -2);
	CHECK(patch_as(pool, 7, "8", "{\"roles\":[\"root\"]}", &req) == -2);
	CHECK(patch_as(pool, 7, "8", "{\"password\":\"short\"}", &req) == -2);
	CHECK(patch_as(pool, 7, "8", "{\"disabled\":null}", &req) == -2);
	ch_pool_free(pool);
	return 0;
}
