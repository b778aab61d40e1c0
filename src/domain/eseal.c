/*
 * E-seals: making them (certhall-signer) and reading them (the web
 * workers); certhall/domain/eseal.h.
 */
#include "certhall/domain/eseal.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/domain/application.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

/* The most seals of one job (sql/0005_applications.sql: seals <= 10). */
#define SEALS_MAX 10

const char *const ch_eseal_status_codes[] = {
	"valid", "revoked", "expired", "not_yet_valid", NULL,
};

/* ---- SQL ------------------------------------------------------------------ */

static const ch_stmt_t stmt_due = {
	.name = "eseal_due",
	.sql = "SELECT j.certificate_id, j.wanted, c.serial, c.certificate_type,"
	       "  c.unit_name, c.holder_name, encode(c.der, 'hex'),"
	       "  extract(epoch FROM c.not_before)::bigint,"
	       "  extract(epoch FROM c.not_after)::bigint,"
	       "  (SELECT encode(m.data, 'hex') FROM application_material m"
	       "    WHERE m.application_id = j.application_id"
	       "      AND m.kind = 'seal_impression' AND m.superseded_at IS NULL),"
	       "  (SELECT coalesce(max(s.seal_number), 0) FROM seal s"
	       "    WHERE s.certificate_id = j.certificate_id),"
	       "  j.application_id, c.applicant_id"
	       " FROM seal_job j JOIN certificate c ON c.id = j.certificate_id"
	       " WHERE j.done_at IS NULL AND j.failed_at IS NULL"
	       "   AND j.retry_at <= now() AND c.der IS NOT NULL"
	       " ORDER BY j.retry_at, j.certificate_id LIMIT $1::int"
	       " FOR UPDATE OF j SKIP LOCKED",
	.nparams = 1,
};

static const ch_stmt_t stmt_insert = {
	.name = "eseal_insert",
	.sql = "INSERT INTO seal (es_id, certificate_id, seal_number,"
	       "  application_id, applicant_id, seal_type, name, algorithm,"
	       "  maker_id, create_date, valid_start, valid_end, picture_sha256,"
	       "  width_mm, height_mm, der)"
	       " VALUES ($1, $2, $3::int, $4, $5::bigint, $6, $7, $8, $9,"
	       "  to_timestamp($10::bigint), to_timestamp($11::bigint),"
	       "  to_timestamp($12::bigint), $13, $14::int, $15::int,"
	       "  decode($16, 'hex'))",
	.nparams = 16,
};

static const ch_stmt_t stmt_done = {
	.name = "eseal_done",
	.sql = "UPDATE seal_job SET done_at = now(), attempts = attempts + 1,"
	       "  last_error = NULL WHERE certificate_id = $1",
	.nparams = 1,
};

static const ch_stmt_t stmt_failed = {
	.name = "eseal_failed",
	.sql = "UPDATE seal_job SET attempts = attempts + 1, last_error = $2,"
	       "  retry_at = now() + (attempts + 1) * interval '60 seconds',"
	       "  failed_at = CASE WHEN attempts + 1 >= $3::int THEN now() END"
	       " WHERE certificate_id = $1",
	.nparams = 3,
};

/* The status a seal s of certificate c shows (ch_eseal_status_codes). */
#define SQL_SEAL_STATUS \
	"CASE WHEN c.status = 'revoked' THEN 'revoked'" \
	" WHEN least(s.valid_end, c.not_after) < now() THEN 'expired'" \
	" WHEN s.valid_start > now() THEN 'not_yet_valid' ELSE 'valid' END"

/* The Seal object of "seal s JOIN certificate c" (docs/CONTRACT.md). */
#define SQL_SEAL_JSON \
	"json_build_object('id', s.id, 'es_id', s.es_id," \
	" 'status', " SQL_SEAL_STATUS "," \
	" 'seal_type', s.seal_type, 'name', s.name," \
	" 'seal_number', s.seal_number, 'algorithm', s.algorithm," \
	" 'certificate_serial', c.serial, 'certificate_id', c.id," \
	" 'application_id', s.application_id," \
	" 'create_date', " CH_SQL_TIME("s.create_date") "," \
	" 'valid_start', " CH_SQL_TIME("s.valid_start") "," \
	" 'valid_end', " CH_SQL_TIME("s.valid_end") "," \
	" 'picture', json_build_object('type', 'PNG', 'width_mm', s.width_mm," \
	"   'height_mm', s.height_mm, 'sha256', s.picture_sha256)," \
	" 'maker', (SELECT json_build_object('name', m.role || '-' ||" \
	"   m.algorithm, 'subject', m.subject, 'serial', m.serial)" \
	"   FROM ca_certificate m WHERE m.id = s.maker_id)," \
	" 'size_bytes', length(s.der)," \
	" 'der_sha256', encode(sha256(s.der), 'hex')," \
	" 'links', json_build_object('self', '/api/v1/seals/' || s.id," \
	"   'der', '/api/v1/seals/' || s.id || '/der'))"

#define SQL_SEAL_FROM " FROM seal s JOIN certificate c ON c.id = s.certificate_id"

/* $1 owner (NULL: staff), $2 before, $3 certificate serial, $4 status,
 * $5 limit. */
static const ch_stmt_t stmt_list = {
	.name = "eseal_list",
	.sql = "SELECT s.id, " SQL_SEAL_JSON "::text" SQL_SEAL_FROM
	       " WHERE ($1::bigint IS NULL OR s.applicant_id = $1::bigint)"
	       "   AND s.id < $2::bigint"
	       "   AND ($3::text IS NULL OR c.serial = $3)"
	       "   AND ($4::text IS NULL OR " SQL_SEAL_STATUS " = $4)"
	       " ORDER BY s.id DESC LIMIT $5::int",
	.nparams = 5,
	.readonly = true,
};

static const ch_stmt_t stmt_load = {
	.name = "eseal_load",
	.sql = "SELECT " SQL_SEAL_JSON "::text" SQL_SEAL_FROM
	       " WHERE s.id = $1"
	       "   AND ($2::bigint IS NULL OR s.applicant_id = $2::bigint)",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_der = {
	.name = "eseal_der",
	.sql = "SELECT encode(s.der, 'hex'), s.es_id FROM seal s"
	       " WHERE s.id = $1"
	       "   AND ($2::bigint IS NULL OR s.applicant_id = $2::bigint)",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_of_certificate = {
	.name = "eseal_of_certificate",
	.sql = "SELECT coalesce(json_agg((" SQL_SEAL_JSON "::jsonb ||"
	       "   jsonb_build_object('der', encode(s.der, 'base64')))"
	       "   ORDER BY s.seal_number), '[]')::text" SQL_SEAL_FROM
	       " WHERE s.certificate_id = $1",
	.nparams = 1,
	.readonly = true,
};

/* ---- small helpers --------------------------------------------------------- */

/* hex into bytes in pool (*len), or NULL when it is not even hex. */
static unsigned char *
unhex_pool(ch_pool_t *pool, const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	unsigned char *out;

	if (n % 2 != 0)
		return NULL;
	out = ch_palloc(pool, n / 2 + 1);
	if (ch_unhex(hex, out, n / 2) != 0)
		return NULL;
	*len = n / 2;
	return out;
}

static unsigned long
be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
}

static int
clamp_mm(double mm)
{
	long v = (long)(mm + 0.5);

	return v < CH_SEAL_MM_MIN ? CH_SEAL_MM_MIN : v > CH_SEAL_MM_MAX ?
	    CH_SEAL_MM_MAX : (int)v;
}

int
ch_eseal_picture_mm(const unsigned char *png, size_t len, ch_seal_type_t type,
    int *width_mm, int *height_mm)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
	    0x1a, '\n' };
	unsigned long w, h;
	size_t at;

	if (len < 8 + 8 + 13 || memcmp(png, sig, 8) != 0 ||
	    be32(png + 8) != 13 || memcmp(png + 12, "IHDR", 4) != 0)
		return -1;
	w = be32(png + 16);
	h = be32(png + 20);
	if (w == 0 || h == 0)
		return -1;
	/* pHYs comes before the first IDAT (PNG §11.3.5.3). */
	for (at = 8; at + 12 <= len;) {
		unsigned long n = be32(png + at);

		if (n > len - at - 12)
			break;
		if (memcmp(png + at + 4, "IDAT", 4) == 0)
			break;
		if (memcmp(png + at + 4, "pHYs", 4) == 0 && n == 9 &&
		    png[at + 16] == 1) {
			unsigned long px = be32(png + at + 8);
			unsigned long py = be32(png + at + 12);
			double wm = px ? 1000.0 * (double)w / (double)px : 0;
			double hm = py ? 1000.0 * (double)h / (double)py : 0;

			if (wm >= CH_SEAL_MM_MIN - 0.5 &&
			    wm < CH_SEAL_MM_MAX + 0.5 &&
			    hm >= CH_SEAL_MM_MIN - 0.5 &&
			    hm < CH_SEAL_MM_MAX + 0.5) {
				*width_mm = clamp_mm(wm);
				*height_mm = clamp_mm(hm);
				return 0;
			}
			break;
		}
		at += 12 + n;
	}
	*width_mm = type == CH_SEAL_TYPE_PERSONAL ? CH_ESEAL_PERSONAL_MM :
	    CH_ESEAL_ORG_MM;
	*height_mm = clamp_mm((double)*width_mm * (double)h / (double)w);
	return 0;
}

/* ---- making --------------------------------------------------------------- */

/* The seals of due row i: made and queued for insertion, or the job's
 * failure queued.  *made counts the seals.  0, or -1 (database). */
static int
make_job(ch_ctx_t *ctx, PGresult *res, int i, ch_eseal_make_fn make,
    void *arg, int *made)
{
	ch_eseal_work_t w;
	ch_eseal_made_t out[SEALS_MAX];
	const char *job = PQgetvalue(res, i, 0), *why = NULL;
	const char *serial = PQgetvalue(res, i, 2);
	int wanted = atoi(PQgetvalue(res, i, 1));
	int have = atoi(PQgetvalue(res, i, 10)), n = 0, rc = 0;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char tmp[3][24];

	memset(&w, 0, sizeof w);
	memset(out, 0, sizeof out);
	w.certificate_id = strtoll(job, NULL, 10);
	w.type = strcmp(PQgetvalue(res, i, 3), "personal") == 0 ?
	    CH_SEAL_TYPE_PERSONAL : CH_SEAL_TYPE_ORG;
	w.name = PQgetvalue(res, i, w.type == CH_SEAL_TYPE_PERSONAL ? 5 : 4);
	w.owner_der = unhex_pool(ctx->pool, PQgetvalue(res, i, 6),
	    &w.owner_len);
	w.not_before = (time_t)strtoll(PQgetvalue(res, i, 7), NULL, 10);
	w.not_after = (time_t)strtoll(PQgetvalue(res, i, 8), NULL, 10);
	if (!PQgetisnull(res, i, 9))
		w.png = unhex_pool(ctx->pool, PQgetvalue(res, i, 9), &w.png_len);
	if (wanted > SEALS_MAX)
		wanted = SEALS_MAX;
	if (w.owner_der == NULL)
		why = "the certificate's DER on record is unreadable";
	else if (w.png == NULL)
		why = "no seal impression (PNG) on record for the application";
	for (int k = have + 1; why == NULL && k <= wanted; k++) {
		w.seal_number = k;
		w.es_id = ch_psprintf(ctx->pool, "CH%s-%d", serial, k);
		if ((why = make(arg, &w, &out[n])) == NULL)
			n++;
	}
	if (why != NULL) {
		const char *params[3] = { job, why, tmp[0] };

		snprintf(tmp[0], sizeof tmp[0], "%d", CH_ESEAL_ATTEMPTS_MAX);
		ch_warn("seals of certificate %s not made: %s", job, why);
		rc = ch_db_queue(ctx->db, ctx->pool, &stmt_failed, params);
		goto out;
	}
	SHA256(w.png, w.png_len, digest);
	for (int k = 0; k < n; k++) {
		const char *params[16];

		params[0] = ch_psprintf(ctx->pool, "CH%s-%d", serial, have + 1 + k);
		params[1] = job;
		params[2] = ch_psprintf(ctx->pool, "%d", have + 1 + k);
		params[3] = PQgetvalue(res, i, 11);
		params[4] = PQgetisnull(res, i, 12) ? NULL : PQgetvalue(res, i, 12);
		params[5] = w.type == CH_SEAL_TYPE_PERSONAL ? "personal" : "org";
		params[6] = w.name;
		params[7] = out[k].algorithm;
		params[8] = ch_psprintf(ctx->pool, "%lld", out[k].maker_id);
		snprintf(tmp[0], sizeof tmp[0], "%lld", (long long)out[k].create_date);
		snprintf(tmp[1], sizeof tmp[1], "%lld", (long long)out[k].valid_start);
		snprintf(tmp[2], sizeof tmp[2], "%lld", (long long)out[k].valid_end);
		params[9] = ch_pstrdup(ctx->pool, tmp[0]);
		params[10] = ch_pstrdup(ctx->pool, tmp[1]);
		params[11] = ch_pstrdup(ctx->pool, tmp[2]);
		params[12] = ch_hex_pool(ctx->pool, digest, sizeof digest);
		params[13] = ch_psprintf(ctx->pool, "%d", out[k].width_mm);
		params[14] = ch_psprintf(ctx->pool, "%d", out[k].height_mm);
		params[15] = ch_hex_pool(ctx->pool, out[k].der, out[k].len);
		if ((rc = ch_db_queue(ctx->db, ctx->pool, &stmt_insert, params))
		    != 0)
			goto out;
		if ((rc = ch_audit(ctx, "seal.made", "certificate", job,
		    json_pack("{s:s, s:s, s:i}", "es_id", params[0],
		    "algorithm", params[7], "seal_number", have + 1 + k))) != 0)
			goto out;
	}
	{
		const char *params[1] = { job };

		rc = ch_db_queue(ctx->db, ctx->pool, &stmt_done, params);
	}
	if (rc == 0) {
		*made += n;
		ch_info("%d seal(s) of certificate %s made", n, job);
	}
out:
	for (int k = 0; k < SEALS_MAX; k++)
		OPENSSL_free(out[k].der);
	return rc;
}

int
ch_eseal_make_due(ch_ctx_t *ctx, int max, ch_eseal_make_fn make, void *arg,
    int *made)
{
	const char *params[1];
	PGresult *res;
	int rows;

	*made = 0;
	params[0] = ch_psprintf(ctx->pool, "%d", max);
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_due, params)) == NULL)
		goto fail;
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++)
		if (make_job(ctx, res, i, make, arg, made) != 0)
			goto fail;
	if (rows == 0) {
		if (ch_db_rollback(ctx->db) != 0)
			goto fail;
		return 0;
	}
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	return 0;
fail:
	*made = 0;
	ch_db_finish(ctx->db);
	return -1;
}

/* ---- reading -------------------------------------------------------------- */

const char *
ch_eseal_list(ch_ctx_t *ctx, const ch_eseal_filter_t *f, size_t *len)
{
	const char *params[5];
	char cursor[32];
	PGresult *res;
	int n;

	params[0] = ch_ctx_owner_param(ctx);
	params[1] = ch_psprintf(ctx->pool, "%lld", f->before);
	params[2] = f->certificate_serial;
	params[3] = f->status;
	params[4] = ch_psprintf(ctx->pool, "%lld", f->limit + 1);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_list, params)) == NULL)
		return NULL;
	n = PQntuples(res);
	if (n <= f->limit)
		return ch_app_items_json(ctx->pool, res, 1, n, NULL, len);
	ch_app_cursor_encode(strtoll(PQgetvalue(res, (int)f->limit - 1, 0),
	    NULL, 10), cursor);
	return ch_app_items_json(ctx->pool, res, 1, (int)f->limit, cursor, len);
}

ch_eseal_result_t
ch_eseal_load(ch_ctx_t *ctx, long long id, const char **json)
{
	const char *params[2] = { ch_psprintf(ctx->pool, "%lld", id),
	    ch_ctx_owner_param(ctx) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_load, params);

	if (res == NULL)
		return CH_ESEAL_ERROR;
	if (PQntuples(res) != 1)
		return CH_ESEAL_NOT_FOUND;
	*json = PQgetvalue(res, 0, 0);
	return CH_ESEAL_FOUND;
}

ch_eseal_result_t
ch_eseal_der(ch_ctx_t *ctx, long long id, const unsigned char **der,
    size_t *len, const char **es_id)
{
	const char *params[2] = { ch_psprintf(ctx->pool, "%lld", id),
	    ch_ctx_owner_param(ctx) };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_der, params);

	if (res == NULL)
		return CH_ESEAL_ERROR;
	if (PQntuples(res) != 1)
		return CH_ESEAL_NOT_FOUND;
	if ((*der = unhex_pool(ctx->pool, PQgetvalue(res, 0, 0), len)) == NULL) {
		ch_error("seal %lld: the DER on record is not hex", id);
		return CH_ESEAL_ERROR;
	}
	*es_id = PQgetvalue(res, 0, 1);
	return CH_ESEAL_FOUND;
}

const char *
ch_eseal_of_certificate(ch_ctx_t *ctx, long long certificate_id)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_of_certificate,
	    certificate_id);

	return res != NULL && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) :
	    NULL;
}
