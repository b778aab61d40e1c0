/*
 * /api/v1/applications/{id}/materials — the scanned materials of an
 * application (SPEC §3, docs/CONTRACT.md "Applications, materials, review").
 *
 *   GET /applications/{id}/materials         current files and history
 *   PUT /applications/{id}/materials/{kind}  the file itself as the body
 *   GET /applications/{id}/materials/{kind}  download the current file
 *
 * PUT takes the file itself as the body (the route allows PDF, JPEG and PNG
 * up to 10 MiB; nginx lets 11 MiB through for this path only, so the API
 * answers the 413 itself).  What a file may be, the kinds an application
 * takes, the caps and the statements are certhall/domain/material.h's; who
 * may read or change an application is decided by its load
 * (certhall/domain/application.h), and a caller who may not gets the same
 * 404 as for a missing one.  Here: the path, the Content-Type header, and
 * the domain's results as answers.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/domain/material.h"

#include <jansson.h>
#include <string.h>

/* The problem of a refused upload or download, naming what it refuses:
 * the path parameter kind (422, or 404 for a download), the Content-Type
 * header (415). */
static void
refuse(ch_req_t *req, ch_material_result_t r, const char *detail)
{
	json_t *p;

	switch (r) {
	case CH_MATERIAL_NO_KIND:
		p = ch_problem(req, CH_P_INVALID_FIELD, "%s", detail);
		json_object_set_new(p, "parameter", json_string("kind"));
		break;
	case CH_MATERIAL_BAD_TYPE:
		p = ch_problem(req, CH_P_UNSUPPORTED_MEDIA_TYPE, "%s", detail);
		json_object_set_new(p, "header", json_string("Content-Type"));
		break;
	case CH_MATERIAL_CONFLICT:
		ch_problem(req, CH_P_CONFLICT, "%s", detail);
		break;
	case CH_MATERIAL_TOO_LARGE:
	default:
		ch_problem(req, CH_P_PAYLOAD_TOO_LARGE, "%s", detail);
		break;
	}
}

int
api_material_list(ch_req_t *req)
{
	return api_app_show(req, ch_material_list_json);
}

/*
 * One transaction: the application locked (CH_APP_CHANGE, so an upload and
 * a submit or another upload to it take turns), then ch_material_put().
 * Refusals come in this order: 404, 422, 415, 409, 413.
 */
int
api_material_put(ch_req_t *req)
{
	const char *kind = ch_req_param(req, "kind");
	const char *content_type = ch_req_env(req, "CONTENT_TYPE");
	const ch_material_type_t *declared = NULL;
	ch_material_stored_t stored;
	ch_material_result_t r;
	const char *detail;
	char etag[16];
	long long id;
	ch_app_t a;
	int rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;
	/* The media type without its parameters (RFC 9110 §8.3.1); the
	 * route admits only the three types. */
	if (content_type != NULL)
		declared = ch_material_type_named(content_type,
		    strcspn(content_type, "; \t"));
	r = ch_material_put(&req->ctx, &a, kind, declared, req->body,
	    req->body_len, &stored, &detail);
	if (r == CH_MATERIAL_ERROR)
		return -1;
	if (r != CH_MATERIAL_OK) {
		refuse(req, r, detail);
		ch_db_rollback(req->ctx.db);
		return 0;
	}
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json_text(req, stored.replaced ? 200 : 201, stored.json,
	    stored.len);
	ch_http_etag(stored.version, etag);
	ch_resp_header(req, "ETag", etag);
	return 0;
}

int
api_material_get(ch_req_t *req)
{
	const char *kind = ch_req_param(req, "kind");
	ch_material_file_t file;
	long long id;
	ch_app_t a;
	int rc;

	if ((rc = api_app_path_load(req, CH_APP_READ, &id, &a)) <= 0)
		return rc;
	switch (ch_material_get(&req->ctx, id, kind, &file)) {
	case CH_MATERIAL_OK:
		break;
	case CH_MATERIAL_NO_KIND:
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "there is no material kind of this name"), "parameter",
		    json_string("kind"));
		return 0;
	case CH_MATERIAL_NONE:
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "this application has no current material of kind \"%s\"",
		    kind), "parameter", json_string("kind"));
		return 0;
	default:
		return -1;
	}
	/* The bytes stay in the PGresult, which the pool frees. */
	ch_resp_raw(req, 200, file.type->content_type, file.bytes, file.len);
	ch_resp_header(req, "Content-Disposition", ch_psprintf(req->ctx.pool,
	    "attachment; filename=\"%s.%s\"", kind, file.type->ext));
	return 0;
}
