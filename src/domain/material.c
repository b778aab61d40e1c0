#include "certhall/domain/material.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const ch_material_type_t types[] = {
	{ "application/pdf", "a PDF document", "pdf", "%PDF-", 5 },
	{ "image/jpeg", "a JPEG image", "jpg", "\xFF\xD8\xFF", 3 },
	{ "image/png", "a PNG image", "png", "\x89PNG\r\n\x1A\n", 8 },
};
#define NTYPES (sizeof types / sizeof types[0])

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

/* Through ch_db_exec_binary(): $6 is the file, in binary. */
static const char sql_insert[] =
	"INSERT INTO application_material (application_id, kind, content_type,"
	"  size_bytes, sha256, data, uploaded_by_kind, uploaded_by_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
	" RETURNING json_build_object(" MATERIAL_FIELDS("application_material")
	")::text";

/* Through ch_db_exec_binary() with a binary result: data arrives as raw bytes
 * (and content_type as its plain characters, NUL-terminated by libpq). */
static const char sql_download[] =
	"SELECT content_type, data FROM application_material"
	" WHERE application_id = $1 AND kind = $2 AND superseded_at IS NULL";

/* ---- types --------------------------------------------------------------- */

const ch_material_type_t *
ch_material_type_sniff(const void *bytes, size_t len)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (len >= types[i].magic_len &&
		    memcmp(bytes, types[i].magic, types[i].magic_len) == 0)
			return &types[i];
	return NULL;
}

const ch_material_type_t *
ch_material_type_named(const char *media_type, size_t len)
{
	if (media_type == NULL)
		return NULL;
	for (size_t i = 0; i < NTYPES; i++)
		if (strlen(types[i].content_type) == len &&
		    strncasecmp(types[i].content_type, media_type, len) == 0)
			return &types[i];
	return NULL;
}

/* ---- upload -------------------------------------------------------------- */

/* Whether kind is a material kind at all.  A path parameter is decoded
 * but otherwise raw (any bytes but NUL and '/'): only a known kind may go
 * into SQL (PostgreSQL refuses invalid UTF-8 with an error) or into a
 * detail (jansson refuses it, and the answer could not be built). */
static bool
kind_known(const char *kind)
{
	return kind != NULL && ch_code_index(ch_material_kinds, kind) >= 0;
}

/* The refusal of a kind the application does not take, listing those it
 * does; the kind asked for is named only when it is a known one.  0, or
 * -1 (database error). */
static int
kind_refusal(ch_ctx_t *ctx, const ch_app_t *a, const char *kind,
    const char **detail)
{
	const char **kinds;
	size_t n, len = 0;
	char *list;

	if (ch_app_required_materials(ctx, a, &kinds, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		len += strlen(kinds[i]) + 2;
	list = ch_palloc(ctx->pool, len + 1);
	list[0] = '\0';
	for (size_t i = 0, off = 0; i < n; i++)
		off += (size_t)snprintf(list + off, len + 1 - off, "%s%s",
		    i ? ", " : "", kinds[i]);
	if (kind_known(kind))
		*detail = ch_psprintf(ctx->pool, "this application does not take"
		    " a material of kind \"%s\"; it takes: %s", kind, list);
	else
		*detail = ch_psprintf(ctx->pool, "there is no material kind of"
		    " this name; this application takes: %s", list);
	return 0;
}

/* The checks of an upload that read nothing but the caps, in order:
 * type, state, room.  CH_MATERIAL_OK or a refusal with *detail. */
static ch_material_result_t
put_check(ch_ctx_t *ctx, const ch_app_t *a, const char *kind,
    const ch_material_type_t *declared, const ch_material_type_t *is,
    size_t len, const char **detail)
{
	long long others, max_file, max_app;
	const char *params[2];
	char idbuf[24];
	PGresult *res;

	if (declared == NULL || is == NULL) {
		*detail = "the file is not a PDF document, a JPEG image or a PNG"
		    " image (checked by its content)";
		return CH_MATERIAL_BAD_TYPE;
	}
	if (is != declared) {
		*detail = ch_psprintf(ctx->pool, "the file is %s, but"
		    " Content-Type says %s", is->name, declared->content_type);
		return CH_MATERIAL_BAD_TYPE;
	}
	if (strcmp(kind, SEAL_KIND) == 0 &&
	    strcmp(is->content_type, SEAL_TYPE) != 0) {
		*detail = ch_psprintf(ctx->pool, "a seal impression must be a PNG"
		    " image; this file is %s", is->name);
		return CH_MATERIAL_BAD_TYPE;
	}
	if (!(CH_ST_EDITABLE & CH_ST_BIT(a->status))) {
		*detail = ch_psprintf(ctx->pool, "materials can be changed only"
		    " while the application is a draft or returned for"
		    " correction; it is %s", ch_app_status_name(a->status));
		return CH_MATERIAL_CONFLICT;
	}

	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	params[0] = idbuf;
	params[1] = kind;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_room, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_MATERIAL_ERROR;
	others = atoll(PQgetvalue(res, 0, 0));
	max_file = atoll(PQgetvalue(res, 0, 1));
	max_app = atoll(PQgetvalue(res, 0, 2));
	if ((long long)len > max_file) {
		*detail = ch_psprintf(ctx->pool, "a file may have at most %lld"
		    " bytes; this one has %zu", max_file, len);
		return CH_MATERIAL_TOO_LARGE;
	}
	if (others + (long long)len > max_app) {
		*detail = ch_psprintf(ctx->pool, "the current files of an"
		    " application may total at most %lld bytes; with this one"
		    " they would total %lld", max_app, others + (long long)len);
		return CH_MATERIAL_TOO_LARGE;
	}
	return CH_MATERIAL_OK;
}

ch_material_result_t
ch_material_put(ch_ctx_t *ctx, const ch_app_t *a, const char *kind,
    const ch_material_type_t *declared, const void *bytes, size_t len,
    ch_material_stored_t *out, const char **detail)
{
	const ch_material_type_t *is = ch_material_type_sniff(bytes, len);
	unsigned char digest[CH_SHA256_LEN];
	char idbuf[24], sizebuf[24], byidbuf[24], sha[2 * CH_SHA256_LEN + 1];
	const char *params[8];
	int lengths[8] = { 0 }, formats[8] = { 0 };
	ch_material_result_t r;
	PGresult *res, *material;

	*detail = NULL;
	switch (kind_known(kind) ? ch_app_requires_material(ctx, a, kind) : 0) {
	case 1:
		break;
	case 0:
		return kind_refusal(ctx, a, kind, detail) == 0
		    ? CH_MATERIAL_NO_KIND : CH_MATERIAL_ERROR;
	default:
		return CH_MATERIAL_ERROR;
	}
	if ((r = put_check(ctx, a, kind, declared, is, len, detail))
	    != CH_MATERIAL_OK)
		return r;

	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	params[0] = idbuf;
	params[1] = kind;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_supersede, params);
	if (res == NULL)
		return CH_MATERIAL_ERROR;
	out->replaced = PQntuples(res) > 0;

	ch_sha256(bytes, len, digest);
	ch_hex(digest, sizeof digest, sha);
	snprintf(sizebuf, sizeof sizebuf, "%zu", len);
	snprintf(byidbuf, sizeof byidbuf, "%lld", ctx->principal.id);
	params[2] = is->content_type;
	params[3] = sizebuf;
	params[4] = sha;
	params[5] = bytes;
	lengths[5] = (int)len;
	formats[5] = 1;
	params[6] = ch_actor_name(ctx->principal.kind);
	params[7] = ctx->principal.id > 0 ? byidbuf : NULL;
	material = ch_db_exec_binary(ctx->db, ctx->pool, "material_insert", sql_insert, 8, params,
	    lengths, formats, 0);
	if (material == NULL || PQntuples(material) != 1)
		return CH_MATERIAL_ERROR;
	/* The JSON PostgreSQL built stays in its PGresult, which the pool
	 * frees. */
	out->json = PQgetvalue(material, 0, 0);
	out->len = (size_t)PQgetlength(material, 0, 0);

	res = ch_db_exec(ctx->db, ctx->pool, &stmt_touch, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_MATERIAL_ERROR;
	out->version = atoi(PQgetvalue(res, 0, 0));

	if (ch_audit(ctx, "application.material_uploaded", "application", idbuf,
	    json_pack("{s:s, s:s, s:I, s:s, s:b}", "kind", kind,
	    "content_type", is->content_type, "size_bytes", (json_int_t)len,
	    "sha256", sha, "replaced", out->replaced)) != 0)
		return CH_MATERIAL_ERROR;
	return CH_MATERIAL_OK;
}

/* ---- list and download --------------------------------------------------- */

const char *
ch_material_list_json(ch_ctx_t *ctx, long long id, size_t *len)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_list, id);

	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	*len = (size_t)PQgetlength(res, 0, 0);
	return PQgetvalue(res, 0, 0);	/* the result belongs to the pool */
}

ch_material_result_t
ch_material_get(ch_ctx_t *ctx, long long id, const char *kind,
    ch_material_file_t *out)
{
	char idbuf[24];
	const char *params[2] = { idbuf, kind };
	const char *type;
	PGresult *res;

	if (!kind_known(kind))
		return CH_MATERIAL_NO_KIND;
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = ch_db_exec_binary(ctx->db, ctx->pool, "material_download", sql_download, 2, params,
	    NULL, NULL, 1);
	if (res == NULL)
		return CH_MATERIAL_ERROR;
	if (PQntuples(res) != 1)
		return CH_MATERIAL_NONE;
	type = PQgetvalue(res, 0, 0);
	out->type = ch_material_type_named(type, strlen(type));
	if (out->type == NULL) {
		ch_error("material of application %lld has content type \"%s\"",
		    id, type);
		return CH_MATERIAL_ERROR;
	}
	/* The bytes stay in the PGresult, which the pool frees. */
	out->bytes = PQgetvalue(res, 0, 1);
	out->len = (size_t)PQgetlength(res, 0, 1);
	return CH_MATERIAL_OK;
}
