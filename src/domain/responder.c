/*
 * The OCSP responder's store (certhall/domain/responder.h).
 */
#include "certhall/domain/responder.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/domain/issuance.h"
#include "certhall/store/db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows of $1 due now ($2 at most), with their certificate if it is one
 * of the issuer's.  Columns: 0 hash, 1 serial, 2 generation, 3 the
 * certificate's id, 4 its status, 5 revoked_at, 6 reason, 7 not_after
 * (epochs). */
static const ch_stmt_t stmt_due = {
	.name = "responder_due",
	.sql = "SELECT r.hash, r.serial, r.generation, c.id, c.status,"
	       "  floor(extract(epoch FROM c.revoked_at))::bigint,"
	       "  c.revocation_reason,"
	       "  floor(extract(epoch FROM c.not_after))::bigint"
	       " FROM ocsp_response r"
	       " LEFT JOIN certificate c ON c.serial = r.serial"
	       "  AND c.issuer_id = r.issuer_id"
	       " WHERE r.due_at <= now() AND r.issuer_id = $1"
	       " ORDER BY r.due_at LIMIT $2::int",
	.nparams = 2,
	.readonly = true,
};

/* The signed responses: $1 responder, then arrays of hash, serial,
 * generation, status, this_update, next_update, due_at (epochs; NULL:
 * never) and DER (hex).  The certificate's revocation is copied as it is
 * now: the generation check means it is what was signed. */
static const ch_stmt_t stmt_store = {
	.name = "responder_store",
	.sql = "UPDATE ocsp_response r SET cert_status = v.status,"
	       "  this_update = to_timestamp(v.tu), next_update = to_timestamp(v.nu),"
	       "  due_at = coalesce(to_timestamp(v.due), 'infinity'),"
	       "  der = decode(v.der, 'hex'), signed_at = now(),"
	       "  responder_id = $1::bigint,"
	       "  certificate_id = coalesce(r.certificate_id, (SELECT c.id"
	       "   FROM certificate c WHERE c.serial = r.serial"
	       "    AND c.issuer_id = r.issuer_id)),"
	       "  revoked_at = CASE WHEN v.status = 'revoked' THEN"
	       "   (SELECT c.revoked_at FROM certificate c WHERE c.serial = r.serial) END,"
	       "  revocation_reason = CASE WHEN v.status = 'revoked' THEN"
	       "   (SELECT c.revocation_reason FROM certificate c"
	       "    WHERE c.serial = r.serial) END"
	       " FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[],"
	       "  $6::bigint[], $7::bigint[], $8::bigint[], $9::text[])"
	       "  AS v(hash, serial, gen, status, tu, nu, due, der)"
	       " WHERE r.hash = v.hash AND r.serial = v.serial"
	       "  AND r.generation = v.gen",
	.nparams = 9,
};

/* The sweep, $1 the issuer: missing rows, rows that differ, expired
 * unknowns.  Column 0: rows added or made due. */
static const ch_stmt_t stmt_sweep = {
	.name = "responder_sweep",
	.sql = "WITH a AS (INSERT INTO ocsp_response (hash, serial,"
	       "   certificate_id, issuer_id)"
	       "  SELECT h.hash, c.serial, c.id, c.issuer_id"
	       "  FROM certificate c CROSS JOIN (VALUES ('sha1'), ('sha256')) AS h(hash)"
	       "  WHERE c.issuer_id = $1"
	       "   AND c.serial ~ '^([0-9a-f]{2}){1,20}$' AND c.serial !~ '^00'"
	       "   AND NOT EXISTS (SELECT 1 FROM ocsp_response o"
	       "    WHERE o.hash = h.hash AND o.serial = c.serial)"
	       "  ON CONFLICT (hash, serial) DO NOTHING RETURNING 1),"
	       " d AS (UPDATE ocsp_response r SET generation = r.generation + 1,"
	       "   due_at = '-infinity', certificate_id = c.id"
	       "  FROM certificate c"
	       "  WHERE c.serial = r.serial AND c.issuer_id = r.issuer_id"
	       "   AND r.issuer_id = $1 AND r.der IS NOT NULL AND r.due_at > now()"
	       "   AND (r.cert_status IS DISTINCT FROM"
	       "     CASE WHEN c.status = 'revoked' THEN 'revoked' ELSE 'good' END"
	       "    OR (c.status = 'revoked' AND (r.revoked_at IS DISTINCT FROM c.revoked_at"
	       "     OR r.revocation_reason IS DISTINCT FROM c.revocation_reason)))"
	       "  RETURNING 1),"
	       " x AS (DELETE FROM ocsp_response r WHERE r.certificate_id IS NULL"
	       "   AND r.cert_status = 'unknown'"
	       "   AND r.next_update < now() - interval '1 day'"
	       "   AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.serial = r.serial)"
	       "  RETURNING 1)"
	       " SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM d),"
	       "  (SELECT count(*) FROM x)",
	.nparams = 1,
};

/* The stored response: 0 DER (hex), 1 this_update, 2 next_update. */
static const ch_stmt_t stmt_lookup = {
	.name = "responder_lookup",
	.sql = "SELECT encode(der, 'hex'),"
	       "  floor(extract(epoch FROM this_update))::bigint,"
	       "  floor(extract(epoch FROM next_update))::bigint"
	       " FROM ocsp_response"
	       " WHERE hash = $1 AND serial = $2 AND der IS NOT NULL"
	       "  AND next_update > now()",
	.nparams = 2,
	.readonly = true,
};

/* A request on demand: $1 hash, $2 serial, $3 issuer, $4 the cap on rows
 * waiting for their first response.  Column 0: 1 asked. */
static const ch_stmt_t stmt_demand = {
	.name = "responder_demand",
	.sql = "WITH q AS (INSERT INTO ocsp_response (hash, serial, issuer_id,"
	       "   requested_at)"
	       "  SELECT $1, $2, $3::bigint, now()"
	       "  WHERE (SELECT count(*) FROM (SELECT 1 FROM ocsp_response"
	       "    WHERE der IS NULL LIMIT $4::int) p) < $4::int"
	       "  ON CONFLICT (hash, serial) DO UPDATE"
	       "   SET due_at = '-infinity', requested_at = now()"
	       "   WHERE ocsp_response.next_update IS NULL"
	       "    OR ocsp_response.next_update <= now()"
	       "  RETURNING 1)"
	       " SELECT count(*), pg_notify('ocsp', '') FROM q",
	.nparams = 4,
};

ch_crl_reason_t
ch_responder_reason(const char *text)
{
	char a[40], b[40];
	size_t n = 0;

	if (text == NULL)
		return CH_CRL_UNSPECIFIED;
	for (const char *p = text; *p != '\0' && n + 1 < sizeof a; p++)
		if (*p != '_' && *p != '-' && *p != ' ')
			a[n++] = (char)tolower((unsigned char)*p);
	a[n] = '\0';
	for (int r = 0; r < CH_CRL__MAX; r++) {
		const char *name = ch_crl_reason_name((ch_crl_reason_t)r);

		if (*name == '\0' || !ch_crl_reason_ok((ch_crl_reason_t)r))
			continue;
		for (n = 0; name[n] != '\0' && n + 1 < sizeof b; n++)
			b[n] = (char)tolower((unsigned char)name[n]);
		b[n] = '\0';
		if (strcmp(a, b) == 0)
			return (ch_crl_reason_t)r;
	}
	return CH_CRL_UNSPECIFIED;
}

static ch_ocsp_hash_t
hash_of(const char *name)
{
	return strcmp(name, "sha256") == 0 ? CH_OCSP_SHA256 : CH_OCSP_SHA1;
}

int
ch_responder_due(ch_ctx_t *ctx, long long issuer_id, int max,
    ch_responder_due_t **rows, int *n)
{
	char issuer[24], limit[16];
	const char *params[2] = { issuer, limit };
	ch_responder_due_t *out;
	PGresult *res;
	int k;

	*rows = NULL;
	*n = 0;
	if (max < 1 || max > CH_RESPONDER_BATCH_MAX)
		max = CH_RESPONDER_BATCH_MAX;
	snprintf(issuer, sizeof issuer, "%lld", issuer_id);
	snprintf(limit, sizeof limit, "%d", max);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_due, params)) == NULL)
		return -1;
	k = PQntuples(res);
	out = ch_palloc(ctx->pool, (size_t)(k > 0 ? k : 1) * sizeof *out);
	memset(out, 0, (size_t)(k > 0 ? k : 1) * sizeof *out);
	for (int i = 0; i < k; i++) {
		ch_responder_due_t *r = &out[i];

		r->hash = hash_of(PQgetvalue(res, i, 0));
		snprintf(r->serial, sizeof r->serial, "%s", PQgetvalue(res, i, 1));
		r->generation = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		if (PQgetisnull(res, i, 3)) {
			r->status = CH_OCSP_UNKNOWN;
			continue;
		}
		r->certificate_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		r->not_after = (time_t)strtoll(PQgetvalue(res, i, 7), NULL, 10);
		if (strcmp(PQgetvalue(res, i, 4), "revoked") == 0 &&
		    !PQgetisnull(res, i, 5)) {
			r->status = CH_OCSP_REVOKED;
			r->revoked_at = (time_t)strtoll(PQgetvalue(res, i, 5),
			    NULL, 10);
			r->reason = ch_responder_reason(PQgetisnull(res, i, 6) ?
			    NULL : PQgetvalue(res, i, 6));
		} else {
			r->status = CH_OCSP_GOOD;
		}
	}
	*rows = out;
	*n = k;
	return 0;
}

int
ch_responder_store(ch_ctx_t *ctx, long long responder_id,
    const ch_responder_signed_t *items, int n, int *stored)
{
	const char **hash, **serial, **gen, **status, **tu, **nu, **due, **der;
	const char *params[9];
	char responder[24];
	PGresult *res;

	if (stored != NULL)
		*stored = 0;
	if (n <= 0)
		return 0;
	hash = ch_palloc(ctx->pool, 8 * (size_t)n * sizeof *hash);
	serial = hash + n;
	gen = serial + n;
	status = gen + n;
	tu = status + n;
	nu = tu + n;
	due = nu + n;
	der = due + n;
	for (int i = 0; i < n; i++) {
		const ch_responder_signed_t *s = &items[i];
		char *hex = ch_palloc(ctx->pool, 2 * s->der_len + 1);

		hash[i] = ch_ocsp_hash_name(s->row->hash);
		serial[i] = s->row->serial;
		gen[i] = ch_psprintf(ctx->pool, "%lld", s->row->generation);
		status[i] = ch_ocsp_cert_status_name(s->row->status);
		tu[i] = ch_psprintf(ctx->pool, "%lld", (long long)s->this_update);
		nu[i] = ch_psprintf(ctx->pool, "%lld", (long long)s->next_update);
		due[i] = s->due_at > 0 ? ch_psprintf(ctx->pool, "%lld",
		    (long long)s->due_at) : NULL;
		ch_hex(s->der, s->der_len, hex);
		der[i] = hex;
	}
	snprintf(responder, sizeof responder, "%lld", responder_id);
	params[0] = responder;
	params[1] = ch_issuance_text_array(ctx->pool, hash, n);
	params[2] = ch_issuance_text_array(ctx->pool, serial, n);
	params[3] = ch_issuance_text_array(ctx->pool, gen, n);
	params[4] = ch_issuance_text_array(ctx->pool, status, n);
	params[5] = ch_issuance_text_array(ctx->pool, tu, n);
	params[6] = ch_issuance_text_array(ctx->pool, nu, n);
	params[7] = ch_issuance_text_array(ctx->pool, due, n);
	params[8] = ch_issuance_text_array(ctx->pool, der, n);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_store, params)) == NULL)
		return -1;
	if (stored != NULL)
		*stored = atoi(PQcmdTuples(res));
	return 0;
}

int
ch_responder_sweep(ch_ctx_t *ctx, long long issuer_id, int *changed)
{
	char issuer[24];
	const char *params[1] = { issuer };
	PGresult *res;

	snprintf(issuer, sizeof issuer, "%lld", issuer_id);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_sweep, params)) == NULL)
		return -1;
	if (changed != NULL)
		*changed = atoi(PQgetvalue(res, 0, 0));
	return 0;
}

int
ch_responder_lookup(ch_ctx_t *ctx, ch_ocsp_hash_t hash, const char *serial,
    ch_responder_answer_t *out)
{
	const char *params[2] = { ch_ocsp_hash_name(hash), serial }, *hex;
	unsigned char *der;
	PGresult *res;
	size_t len;

	memset(out, 0, sizeof *out);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_lookup, params)) == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	hex = PQgetvalue(res, 0, 0);
	len = strlen(hex) / 2;
	der = ch_palloc(ctx->pool, len + 1);
	if (len == 0 || ch_unhex(hex, der, len) != 0) {
		ch_error("ocsp_response %s:%s cannot be read", params[0], serial);
		return -1;
	}
	out->der = der;
	out->der_len = len;
	out->this_update = (time_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->next_update = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	return 1;
}

int
ch_responder_demand(ch_ctx_t *ctx, ch_ocsp_hash_t hash, const char *serial,
    long long issuer_id, int max_pending)
{
	char issuer[24], cap[16];
	const char *params[4] = { ch_ocsp_hash_name(hash), serial, issuer, cap };
	PGresult *res;

	snprintf(issuer, sizeof issuer, "%lld", issuer_id);
	snprintf(cap, sizeof cap, "%d", max_pending);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_demand, params)) == NULL)
		return -1;
	return atoi(PQgetvalue(res, 0, 0)) > 0 ? 1 : 0;
}
