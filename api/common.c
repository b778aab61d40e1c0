/*
 * What several handlers share: turning the domain's results about one
 * application into HTTP answers (404, 409 naming the status now, 422 or 409
 * naming the eligibility rule, 422 naming a field, the Application object
 * with its ETag).  The
 * domain (certhall/domain/application.h, workflow.h) returns results; only
 * this layer knows what they look like on the wire.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <string.h>

void
api_app_not_found(ch_req_t *req)
{
	ch_problem(req, CH_P_NOT_FOUND, "no application with this id");
}

int
api_app_path_id(ch_req_t *req, long long *id)
{
	if (ch_id_parse(ch_req_param(req, "id"), id) != 0) {
		api_app_not_found(req);
		return -1;
	}
	return 0;
}

/* A load's result as the handlers take it: 1 found, 0 with the 404 set,
 * -1 after a database error. */
static int
loaded(ch_req_t *req, ch_app_result_t r)
{
	switch (r) {
	case CH_APP_FOUND:
		return 1;
	case CH_APP_NOT_FOUND:
		api_app_not_found(req);
		return 0;
	case CH_APP_ERROR:
	default:
		return -1;
	}
}

int
api_app_load(ch_req_t *req, long long id, ch_app_access_t want, ch_app_t *out)
{
	return loaded(req, ch_app_load(&req->ctx, id, want, out));
}

int
api_app_begin_load(ch_req_t *req, long long id, ch_app_access_t want,
    ch_app_t *out)
{
	return loaded(req, ch_app_begin_load(&req->ctx, id, want, out));
}

int
api_app_path_load(ch_req_t *req, ch_app_access_t want, long long *id,
    ch_app_t *out)
{
	if (api_app_path_id(req, id) != 0)
		return 0;
	return api_app_load(req, *id, want, out);
}

int
api_app_show(ch_req_t *req,
    const char *(*json)(ch_ctx_t *ctx, long long id, size_t *len))
{
	const char *body;
	size_t len;
	long long id;
	ch_app_t a;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	if ((body = json(&req->ctx, id, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}

void
api_app_respond_with(ch_req_t *req, int status, int version, const char *json)
{
	char etag[16];

	ch_http_etag(version, etag);
	ch_resp_json_text(req, status, json, strlen(json));
	ch_resp_header(req, "ETag", etag);
}

int
api_app_respond(ch_req_t *req, int status, long long id)
{
	int version;
	const char *body = ch_app_json(&req->ctx, id, false, &version);

	if (body == NULL)
		return -1;
	api_app_respond_with(req, status, version, body);
	return 0;
}

void
api_app_refuse(ch_req_t *req, const ch_app_verdict_t *v)
{
	json_t *p;

	if (v->rule == CH_RULE_ONE_OPEN)
		p = ch_problem(req, CH_P_CONFLICT, "%s", v->detail != NULL
		    ? v->detail : "the certificate already has an open"
		    " application");
	else
		p = ch_problem(req, CH_P_NOT_ELIGIBLE, "%s",
		    v->detail != NULL ? v->detail : "not eligible");
	json_object_set_new(p, "rule", json_string(ch_app_rule_name(v->rule)));
	if (v->rule == CH_RULE_COMPLETE) {
		json_object_set(p, "missing_fields", v->missing_fields != NULL
		    ? v->missing_fields : ch_pool_json(req->ctx.pool,
		    json_array()));
		json_object_set(p, "missing_materials",
		    v->missing_materials != NULL ? v->missing_materials
		    : ch_pool_json(req->ctx.pool, json_array()));
	}
}

void
api_refuse_field(ch_req_t *req, const ch_app_refusal_t *r)
{
	json_t *p = ch_problem_field(req, r->missing ? CH_P_MISSING_FIELD
	    : CH_P_INVALID_FIELD, ch_psprintf(req->ctx.pool, "/%s",
	    r->field != NULL ? r->field : ""), "%s", r->detail);

	/* A refused SMS code says why in words a page can act on, without
	 * reading the English detail. */
	if (r->verdict != NULL && p != NULL) {
		json_object_set_new(p, "code_verdict", json_string(r->verdict));
		if (strcmp(r->verdict, "wrong") == 0)
			json_object_set_new(p, "tries_left",
			    json_integer(r->tries_left > 0 ? r->tries_left : 0));
	}
}

void
api_app_refuse_state(ch_req_t *req, ch_app_status_t now, const char *detail)
{
	json_object_set_new(ch_problem(req, CH_P_CONFLICT, "%s", detail),
	    "status_now", json_string(ch_app_status_name(now)));
}

void
api_app_conflict(ch_req_t *req, long long id, const char *action)
{
	ch_app_status_t now = CH_ST__MAX;
	const char *status;

	/* A failed read still answers the conflict, with "unknown". */
	if (ch_wf_status_now(&req->ctx, id, &now) != 0)
		now = CH_ST__MAX;
	status = ch_app_status_name(now);
	json_object_set_new(ch_problem(req, CH_P_CONFLICT,
	    "cannot %s an application that is %s", action, status),
	    "status_now", json_string(status));
}

int
api_cursor_parse(const char *value, void *slot)
{
	return ch_app_cursor_decode(value, slot);
}

/* Whether an If-None-Match value lists etag (weak comparison, RFC 9110
 * §13.1.2: W/ prefixes are ignored; "*" matches anything). */
int
api_etag_listed(const char *header, const char *etag)
{
	size_t elen = strlen(etag);

	while (header != NULL && *header != '\0') {
		const char *end;

		while (*header == ' ' || *header == '\t' || *header == ',')
			header++;
		if (*header == '*')
			return 1;
		if (strncmp(header, "W/", 2) == 0)
			header += 2;
		end = strchr(header, ',');
		if (end == NULL)
			end = header + strlen(header);
		while (end > header && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - header) == elen &&
		    strncmp(header, etag, elen) == 0)
			return 1;
		header = *end ? end + 1 : end;
	}
	return 0;
}

int
api_send_text(ch_req_t *req, const char *body, size_t len)
{
	if (body == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}
