/*
 * /api/v1/applications/{id}/materials — the scanned materials of an
 * application (SPEC §3, docs/CONTRACT.md "Applications, materials, review").
 *
 * PUT takes the file itself as the body (the route allows PDF, JPEG and PNG
 * up to 10 MiB; nginx lets 11 MiB through for this path only, so the API
 * answers the 413 itself).  The type is decided by the bytes, never by the
 * name, and must agree with Content-Type.  Replacing a file keeps the old
 * row (superseded_at), so a reviewer can see what was sent before.  Who may
 * read or change an application is decided by certhall/application.h; a
 * caller who may not gets the same 404 as for a missing one.
 *
 * Files travel to and from PostgreSQL in binary (PQexecParams with a binary
 * bytea parameter, and a binary result for a download): a 10 MiB file then
 * costs 10 MiB on the wire and one copy in the request's pool, where the
 * text protocol would double it as hex and need a third copy to unescape.
 * ch_db_exec() speaks text only, so those two statements go through
 * exec_binary() below on the worker's connection.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/web/auth.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/domain/people.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a material may be, recognised by its first bytes (the PDF header of
 * ISO 32000-1 §7.5.2, the JPEG SOI marker with the first marker's 0xFF,
 * the PNG signature of RFC 2083 §3.1). */
typedef struct {
	const char *content_type;
	const char *name;		/* for problem details */
	const char *ext;		/* for Content-Disposition */
	const char *magic;
	size_t magic_len;
} file_type_t;

static const file_type_t file_types[] = {
	{ "application/pdf", "a PDF document", "pdf", "%PDF-", 5 },
	{ "image/jpeg", "a JPEG image", "jpg", "\xFF\xD8\xFF", 3 },
	{ "image/png", "a PNG image", "png", "\x89PNG\r\n\x1A\n", 8 },
};
#define NFILE_TYPES (sizeof file_types / sizeof file_types[0])

/* The only kind with a type of its own: the e-seal is made from it. */
#define SEAL_KIND "seal_impression"
#define SEAL_TYPE "image/png"

#define MATERIAL_FIELDS(m) \
	"'kind', " m ".kind, 'content_type', " m ".content_type," \
	" 'size_bytes', " m ".size_bytes, 'sha256', " m ".sha256," \
	" 'uploaded_at', " CH_SQL_TIME(m ".uploaded_at")

/* Current files first (catalogue order), then what they replaced, newest
 * first.  The data column is never read here. */
static const ch_stmt_t stmt_list = {
	.name = "material_list",
	.sql = "SELECT json_build_object("
	       " 'items', COALESCE((SELECT json_agg(json_build_object("
	         MATERIAL_FIELDS("m") ") ORDER BY k.position, m.id)"
	       "   FROM application_material m"
	       "   JOIN material_kind k ON k.code = m.kind"
	       "  WHERE m.application_id = $1 AND m.superseded_at IS NULL),"
	       "  '[]'::json),"
	       " 'history', COALESCE((SELECT json_agg(json_build_object("
	         MATERIAL_FIELDS("m") ","
	       "   'superseded_at', " CH_SQL_TIME("m.superseded_at") ")"
	       "   ORDER BY m.superseded_at DESC, m.id DESC)"
	       "   FROM application_material m"
	       "  WHERE m.application_id = $1 AND m.superseded_at IS NOT NULL),"
	       "  '[]'::json))::text",
	.nparams = 1,
	.readonly = true,
};

/* The bytes the application's other current files take, and the caps of
 * material_policy (the catalogue shows the same numbers). */
static const ch_stmt_t stmt_room = {
	.name = "material_room",
	.sql = "SELECT (SELECT COALESCE(sum(size_bytes), 0)"
	       "          FROM application_material"
	       "         WHERE application_id = $1 AND superseded_at IS NULL"
	       "           AND kind <> $2),"
	       "       max_file_bytes, max_application_bytes"
	       "  FROM material_policy",
	.nparams = 2,
};

static const ch_stmt_t stmt_supersede = {
	.name = "material_supersede",
	.sql = "UPDATE application_material SET superseded_at = now()"
	       " WHERE application_id = $1 AND kind = $2"
	       "   AND superseded_at IS NULL"
	       " RETURNING id",
	.nparams = 2,
};

static const ch_stmt_t stmt_touch = {
	.name = "material_touch_application",
	.sql = "UPDATE application SET version = version + 1, updated_at = now()"
	       " WHERE id = $1 RETURNING version",
	.nparams = 1,
};

/* Through exec_binary(): $6 is the file, in binary. */
static const char sql_insert[] =
	"INSERT INTO application_material (application_id, kind, content_type,"
	"  size_bytes, sha256, data, uploaded_by_kind, uploaded_by_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	" RETURNING json_build_object(" MATERIAL_FIELDS("application_material")
	")::text";

/* Through exec_binary() with a binary result: data arrives as raw bytes
 * (and content_type as its plain characters, NUL-terminated by libpq). */
static const char sql_download[] =
	"SELECT content_type, data FROM application_material"
	" WHERE application_id = $1 AND kind = $2 AND superseded_at IS NULL";

static void
result_cleanup(void *res)
{
	PQclear(res);
}

/*
 * Runs sql on the worker's connection with PQexecParams (unnamed
 * statement, so no prepared-statement bookkeeping to keep in step with
 * src/db.c), in the caller's transaction if one is open.  formats says
 * which parameters are binary (NULL: all text); result_format 1 asks for a
 * binary result.  Returns a PGresult owned by req->ctx.pool, or NULL after
 * logging the failure.  A connection found broken is handed back to
 * ch_db_connect(), which drops it, so the server answers 503 (not 500)
 * while the database is down, as after ch_db_exec().
 */
static PGresult *
exec_binary(ch_req_t *req, const char *what, const char *sql, int nparams,
    const char *const *values, const int *lengths, const int *formats,
    int result_format)
{
	PGconn *conn;
	PGresult *res;
	ExecStatusType st;
	const char *state;
	char line[256];

	if (ch_db_connect(req->ctx.db) != 0 ||
	    (conn = ch_db_conn(req->ctx.db)) == NULL)
		return NULL;
	res = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
	    result_format);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		ch_pool_cleanup(req->ctx.pool, result_cleanup, res);
		return res;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		ch_warn("database connection lost during \"%s\": %s", what,
		    ch_log_first_line(PQerrorMessage(conn), line, sizeof line));
		PQclear(res);
		(void)ch_db_connect(req->ctx.db);
		return NULL;
	}
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	ch_error("statement \"%s\" failed: %s: %s", what,
	    state != NULL ? state : "XX000",
	    ch_log_first_line(res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(conn), line, sizeof line));
	PQclear(res);
	return NULL;
}

/* The file type whose signature body starts with, or NULL. */
static const file_type_t *
file_type_sniff(const char *body, size_t len)
{
	for (size_t i = 0; i < NFILE_TYPES; i++)
		if (len >= file_types[i].magic_len &&
		    memcmp(body, file_types[i].magic, file_types[i].magic_len) == 0)
			return &file_types[i];
	return NULL;
}

/* The file type a Content-Type names (parameters and case ignored), or
 * NULL. */
static const file_type_t *
file_type_named(const char *content_type)
{
	size_t n;

	if (content_type == NULL)
		return NULL;
	n = strcspn(content_type, "; \t");
	for (size_t i = 0; i < NFILE_TYPES; i++)
		if (strlen(file_types[i].content_type) == n &&
		    strncasecmp(file_types[i].content_type, content_type, n) == 0)
			return &file_types[i];
	return NULL;
}

static const file_type_t *
file_type_of(const char *content_type)
{
	for (size_t i = 0; i < NFILE_TYPES; i++)
		if (strcmp(file_types[i].content_type, content_type) == 0)
			return &file_types[i];
	return NULL;
}

/* 415 for a body that is not what it says it is (detail pool-owned). */
static void
refuse_type(ch_req_t *req, const char *detail)
{
	json_object_set_new(ch_problem(req, CH_P_UNSUPPORTED_MEDIA_TYPE, "%s",
	    detail), "header", json_string("Content-Type"));
}

/* Whether kind is a material kind at all.  A path parameter is decoded
 * but otherwise raw (any bytes but NUL and '/'): only a known kind may go
 * into SQL (PostgreSQL refuses invalid UTF-8 with an error) or into a
 * problem detail (jansson refuses it, and the response could not be
 * built). */
static bool
kind_known(const char *kind)
{
	for (size_t i = 0; ch_material_kinds[i] != NULL; i++)
		if (strcmp(ch_material_kinds[i], kind) == 0)
			return true;
	return false;
}

/* The 422 for a kind the application does not take, listing those it
 * does; the kind asked for is named only when it is a known one.  0, or
 * -1 (database error). */
static int
refuse_kind(ch_req_t *req, const ch_app_t *a, const char *kind)
{
	const char **kinds;
	size_t n, len = 0;
	char *list;
	json_t *p;

	if (ch_app_required_materials(&req->ctx, a, &kinds, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		len += strlen(kinds[i]) + 2;
	list = ch_palloc(req->ctx.pool, len + 1);
	for (size_t i = 0, off = 0; i < n; i++)
		off += (size_t)snprintf(list + off, len + 1 - off, "%s%s",
		    i ? ", " : "", kinds[i]);
	if (kind_known(kind))
		p = ch_problem(req, CH_P_INVALID_FIELD, "this application does "
		    "not take a material of kind \"%s\"; it takes: %s", kind,
		    list);
	else
		p = ch_problem(req, CH_P_INVALID_FIELD, "there is no material "
		    "kind of this name; this application takes: %s", list);
	json_object_set_new(p, "parameter", json_string("kind"));
	return 0;
}

/* ---- handlers --------------------------------------------------------- */

int
api_material_list(ch_req_t *req)
{
	long long id;
	char idbuf[24];
	const char *params[1] = { idbuf };
	ch_app_t a;
	PGresult *res;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (api_app_load(req, id, CH_APP_READ, &a)) {
	case 1:
		break;
	case 0:
		return 0;
	default:
		return -1;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_list, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	ch_resp_json_text(req, 200,
	    PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	return 0;
}

/*
 * One transaction: lock the application (ch_app_load CH_APP_CHANGE, so an
 * upload and a submit or another upload to it take turns), check kind,
 * type, state and room, supersede the current file of that kind, insert
 * the new one, bump the application's version and write the audit event.
 * Refusals come in that order: 404, 422, 415, 409, 413.
 */
int
api_material_put(ch_req_t *req)
{
	const char *kind = ch_req_param(req, "kind");
	const file_type_t *sent, *is;
	unsigned char digest[CH_SHA256_LEN];
	char idbuf[24], sizebuf[24], byidbuf[24], sha[2 * CH_SHA256_LEN + 1];
	char etag[16];
	long long id, others, max_file, max_app;
	const char *params[8];
	int lengths[8] = { 0 }, formats[8] = { 0 };
	ch_app_t a;
	PGresult *res, *material;
	bool replaced;
	int version, rc;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if ((rc = api_app_begin_load(req, id, CH_APP_CHANGE, &a)) <= 0)
		return rc;

	switch (kind_known(kind) ? ch_app_requires_material(&req->ctx, &a, kind) : 0) {
	case 1:
		break;
	case 0:
		if (refuse_kind(req, &a, kind) != 0)
			return -1;
		goto refused;
	default:
		return -1;
	}

	/* The route admits only the three types, so sent is never NULL. */
	sent = file_type_named(ch_req_env(req, "CONTENT_TYPE"));
	is = file_type_sniff(req->body, req->body_len);
	if (sent == NULL || is == NULL) {
		refuse_type(req, "the file is not a PDF document, a JPEG image "
		    "or a PNG image (checked by its content)");
		goto refused;
	}
	if (is != sent) {
		refuse_type(req, ch_psprintf(req->ctx.pool, "the file is %s, but "
		    "Content-Type says %s", is->name, sent->content_type));
		goto refused;
	}
	if (strcmp(kind, SEAL_KIND) == 0 &&
	    strcmp(is->content_type, SEAL_TYPE) != 0) {
		refuse_type(req, ch_psprintf(req->ctx.pool, "a seal impression must "
		    "be a PNG image; this file is %s", is->name));
		goto refused;
	}

	if (!(CH_ST_EDITABLE & CH_ST_BIT(a.status))) {
		ch_problem(req, CH_P_CONFLICT, "materials can be changed only "
		    "while the application is a draft or returned for "
		    "correction; it is %s", ch_app_status_name(a.status));
		goto refused;
	}

	params[0] = idbuf;
	params[1] = kind;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_room, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	others = atoll(PQgetvalue(res, 0, 0));
	max_file = atoll(PQgetvalue(res, 0, 1));
	max_app = atoll(PQgetvalue(res, 0, 2));
	if ((long long)req->body_len > max_file) {
		ch_problem(req, CH_P_PAYLOAD_TOO_LARGE, "a file may have at most "
		    "%lld bytes; this one has %zu", max_file, req->body_len);
		goto refused;
	}
	if (others + (long long)req->body_len > max_app) {
		ch_problem(req, CH_P_PAYLOAD_TOO_LARGE, "the current files of an "
		    "application may total at most %lld bytes; with this one "
		    "they would total %lld", max_app,
		    others + (long long)req->body_len);
		goto refused;
	}

	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_supersede, params);
	if (res == NULL)
		return -1;
	replaced = PQntuples(res) > 0;

	ch_sha256(req->body, req->body_len, digest);
	ch_hex(digest, sizeof digest, sha);
	snprintf(sizebuf, sizeof sizebuf, "%zu", req->body_len);
	snprintf(byidbuf, sizeof byidbuf, "%lld", req->ctx.principal.id);
	params[2] = is->content_type;
	params[3] = sizebuf;
	params[4] = sha;
	params[5] = req->body;
	lengths[5] = (int)req->body_len;
	formats[5] = 1;
	params[6] = ch_actor_name(req->ctx.principal.kind);
	params[7] = req->ctx.principal.id > 0 ? byidbuf : NULL;
	res = exec_binary(req, "material_insert", sql_insert, 8, params,
	    lengths, formats, 0);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	material = res;

	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_touch, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	version = atoi(PQgetvalue(res, 0, 0));

	if (ch_audit(&req->ctx, "application.material_uploaded", "application", idbuf,
	    json_pack("{s:s, s:s, s:I, s:s, s:b}", "kind", kind,
	    "content_type", is->content_type, "size_bytes",
	    (json_int_t)req->body_len, "sha256", sha, "replaced", replaced)) != 0)
		return -1;
	if (ch_db_commit(req->ctx.db) != 0)
		return -1;

	/* The JSON PostgreSQL built stays in its PGresult, which the pool
	 * frees. */
	ch_resp_json_text(req, replaced ? 200 : 201,
	    PQgetvalue(material, 0, 0), (size_t)PQgetlength(material, 0, 0));
	ch_http_etag(version, etag);
	ch_resp_header(req, "ETag", etag);
	return 0;

refused:
	ch_db_rollback(req->ctx.db);
	return 0;
}

int
api_material_get(ch_req_t *req)
{
	const char *kind = ch_req_param(req, "kind");
	const file_type_t *t;
	long long id;
	char idbuf[24];
	const char *params[2] = { idbuf, kind };
	ch_app_t a;
	PGresult *res;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (api_app_load(req, id, CH_APP_READ, &a)) {
	case 1:
		break;
	case 0:
		return 0;
	default:
		return -1;
	}
	if (!kind_known(kind)) {
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "there is no material kind of this name"), "parameter",
		    json_string("kind"));
		return 0;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = exec_binary(req, "material_download", sql_download, 2, params,
	    NULL, NULL, 1);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
		    "this application has no current material of kind \"%s\"",
		    kind), "parameter", json_string("kind"));
		return 0;
	}
	t = file_type_of(PQgetvalue(res, 0, 0));
	if (t == NULL) {
		ch_error("material of application %lld has content type \"%s\"",
		    id, PQgetvalue(res, 0, 0));
		return -1;
	}
	/* The bytes stay in the PGresult, which the pool frees. */
	ch_resp_raw(req, 200, t->content_type, PQgetvalue(res, 0, 1),
	    (size_t)PQgetlength(res, 0, 1));
	ch_resp_header(req, "Content-Disposition", ch_psprintf(req->ctx.pool,
	    "attachment; filename=\"%s.%s\"", kind, t->ext));
	return 0;
}
