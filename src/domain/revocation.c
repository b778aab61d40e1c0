/*
 * Revocation and its publication: the database side
 * (certhall/domain/revocation.h, sql/0015_revocation.sql).
 */
#include "certhall/domain/revocation.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"
#include "certhall/store/outbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_REVOKED_APP \
	"【四川CA】您的数字证书（申请编号%s）已吊销，吊销信息将在证书吊销列表中发布，" \
	"此后该证书不能再使用。"
#define TEXT_REVOKED_ADMIN \
	"【四川CA】您的数字证书（序列号%s）已被吊销，此后不能再使用。" \
	"如有疑问请联系四川CA客服。"

/* pg_try_advisory_lock's key for "one CRL maker at a time" ('crl'). */
#define CRL_LOCK_KEY "6517356"

/* The issuer certificates a scope's CRL speaks for: the same subject and
 * key as the active one ($n).  A SQL fragment. */
#define SQL_SAME_CA(n) \
	"(SELECT i.id FROM ca_certificate i, ca_certificate me" \
	"  WHERE me.id = " n "::bigint AND i.subject = me.subject" \
	"  AND i.spki_sha256 = me.spki_sha256)"

/* An admin's revocation: 0 the certificate revoked (NULL: it was not
 * valid), 1 its phone, 2 whether it exists. */
static const ch_stmt_t stmt_admin = {
	.name = "revocation_admin",
	.sql = "WITH c AS (UPDATE certificate SET status = 'revoked',"
	       "   revoked_at = now(), revocation_reason = $2"
	       "  WHERE serial = $1 AND status = 'valid'"
	       "  RETURNING id, registered_phone)"
	       " SELECT (SELECT id FROM c), (SELECT registered_phone FROM c),"
	       "  EXISTS (SELECT 1 FROM certificate WHERE serial = $1),"
	       "  (SELECT pg_notify('revocation', id::text) FROM c)",
	.nparams = 2,
};

/* The next settled revoke application, locked. */
static const ch_stmt_t stmt_job_next = {
	.name = "revocation_job_next",
	.sql = "SELECT j.id, j.application_id,"
	       "  (j.payload->>'certificate_id')::bigint,"
	       "  COALESCE(a.revocation_reason, 'unspecified')"
	       " FROM signing_job j JOIN application a ON a.id = j.application_id"
	       " WHERE j.kind = 'revoke' AND j.status = 'queued'"
	       " ORDER BY j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
	.nparams = 0,
};

/*
 * Its revocation ($1 job, $2 signer, $3 certificate, $4 reason).  0
 * revoked now (1/0), 1 serial, 2 published already, 3 the job done (1/0).
 * The certificate row x is read as it was before the update.
 */
static const ch_stmt_t stmt_job_revoke = {
	.name = "revocation_job_revoke",
	.sql = "WITH c AS (UPDATE certificate SET status = 'revoked',"
	       "   revoked_at = now(), revocation_reason = $4"
	       "  WHERE id = $3::bigint AND status = 'valid' RETURNING id),"
	       " j AS (UPDATE signing_job SET status = 'done', done_at = now(),"
	       "   claimed_by = $2, attempts = attempts + 1, lease_until = NULL,"
	       "   last_error = NULL, updated_at = now()"
	       "  WHERE id = $1::bigint AND status = 'queued' RETURNING id)"
	       " SELECT (SELECT count(*) FROM c), x.serial,"
	       "  x.crl_number IS NOT NULL, (SELECT count(*) FROM j),"
	       "  (SELECT pg_notify('revocation', id::text) FROM c)"
	       " FROM certificate x WHERE x.id = $3::bigint",
	.nparams = 4,
};

static const ch_stmt_t stmt_job_fail = {
	.name = "revocation_job_fail",
	.sql = "UPDATE signing_job SET status = 'failed', failed_at = now(),"
	       " claimed_by = $2, last_error = $3, updated_at = now()"
	       " WHERE id = $1::bigint AND status = 'queued'",
	.nparams = 3,
};

static const ch_stmt_t stmt_state = {
	.name = "crl_state",
	.sql = "WITH n AS (SELECT number, issuer_id, this_update, next_update"
	       "  FROM crl WHERE scope = $1 ORDER BY number DESC LIMIT 1),"
	       " u AS (SELECT count(*) AS c, min(revoked_at) AS oldest"
	       "  FROM certificate WHERE status = 'revoked' AND crl_number IS NULL"
	       "  AND $1 = 'issuing' AND issuer_id IN " SQL_SAME_CA("$2") ")"
	       " SELECT n.number, n.issuer_id,"
	       "  extract(epoch FROM n.this_update)::bigint,"
	       "  extract(epoch FROM n.next_update)::bigint, u.c,"
	       "  (extract(epoch FROM clock_timestamp() - u.oldest) * 1000)::bigint"
	       " FROM u LEFT JOIN n ON true",
	.nparams = 2,
	.readonly = true,
};

/* Every revoked certificate the next CRL lists ($3: 't' for the issuing
 * scope): not expired before $2, or not published yet. */
static const ch_stmt_t stmt_entries = {
	.name = "crl_entries",
	.sql = "SELECT c.id, c.serial, floor(extract(epoch FROM c.revoked_at))::bigint,"
	       "  c.revocation_reason, c.crl_number IS NULL"
	       " FROM certificate c"
	       " WHERE $3::bool AND c.status = 'revoked'"
	       "  AND c.issuer_id IN " SQL_SAME_CA("$1")
	       "  AND (c.not_after >= to_timestamp($2::bigint)"
	       "   OR c.crl_number IS NULL)",
	.nparams = 3,
	.readonly = true,
};

static const ch_stmt_t stmt_number = {
	.name = "crl_number",
	.sql = "SELECT nextval('crl_number_seq'),"
	       "  floor(extract(epoch FROM clock_timestamp()))::bigint",
	.nparams = 0,
};

static const ch_stmt_t stmt_store = {
	.name = "crl_store",
	.sql = "INSERT INTO crl (scope, number, issuer_id, this_update,"
	       "  next_update, entries, der, sha256, signer)"
	       " VALUES ($1, $2::bigint, $3::bigint, to_timestamp($4::bigint),"
	       "  to_timestamp($5::bigint), $6::int, decode($7, 'hex'),"
	       "  encode(sha256(decode($7, 'hex')), 'hex'), $8)",
	.nparams = 8,
};

/* The DER of all but the newest CRL_DER_KEPT of a scope is dropped. */
#define CRL_DER_KEPT "10"
static const ch_stmt_t stmt_prune = {
	.name = "crl_prune",
	.sql = "UPDATE crl SET der = NULL WHERE id IN (SELECT id FROM crl"
	       "  WHERE scope = $1 AND der IS NOT NULL ORDER BY number DESC"
	       "  OFFSET " CRL_DER_KEPT ")",
	.nparams = 1,
};

static const ch_stmt_t stmt_published = {
	.name = "crl_published",
	.sql = "UPDATE certificate SET crl_number = $1::bigint"
	       " WHERE id = ANY($2::bigint[]) AND crl_number IS NULL",
	.nparams = 2,
};

static const ch_stmt_t stmt_completing = {
	.name = "crl_completing",
	.sql = "SELECT id FROM application WHERE business_type = 'revoke'"
	       " AND status = 'issued' AND certificate_id = ANY($1::bigint[])"
	       " ORDER BY id FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_lock = {
	.name = "crl_lock",
	.sql = "SELECT CASE WHEN $1::bool"
	       " THEN pg_try_advisory_lock(" CRL_LOCK_KEY ")"
	       " ELSE pg_advisory_unlock(" CRL_LOCK_KEY ") END",
	.nparams = 1,
};

/* Everything as text but the DER (a binary result).  ORDER BY names the
 * table's column: a bare "number" would be the text output column. */
#define SQL_NEWEST \
	"SELECT c.der, c.number::text AS number_text," \
	" extract(epoch FROM c.this_update)::bigint::text," \
	" extract(epoch FROM c.next_update)::bigint::text, c.sha256" \
	" FROM crl c WHERE c.scope = $1 ORDER BY c.number DESC LIMIT 1"

/* ---- reasons ---------------------------------------------------------- */

ch_crl_reason_t
ch_revocation_reason_parse(const char *name)
{
	if (name == NULL)
		return CH_CRL__MAX;
	for (int r = 0; r < CH_CRL__MAX; r++)
		if (ch_crl_reason_ok((ch_crl_reason_t)r) &&
		    strcmp(ch_crl_reason_name((ch_crl_reason_t)r), name) == 0)
			return (ch_crl_reason_t)r;
	return CH_CRL__MAX;
}

/* ---- revoking --------------------------------------------------------- */

ch_revoke_result_t
ch_revocation_admin(ch_ctx_t *ctx, const char *serial, ch_crl_reason_t reason,
    const char *note)
{
	const char *params[2] = { serial, ch_crl_reason_name(reason) };
	const char *id, *phone, *text;
	PGresult *res;

	res = ch_db_exec(ctx->db, ctx->pool, &stmt_admin, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_REVOKE_ERROR;
	if (PQgetisnull(res, 0, 0))
		return *PQgetvalue(res, 0, 2) == 't' ? CH_REVOKE_ALREADY :
		    CH_REVOKE_NOT_FOUND;
	id = PQgetvalue(res, 0, 0);
	phone = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	if (ch_audit(ctx, "certificate.revoked", "certificate", id,
	    json_pack("{s:s, s:s, s:s?}", "reason", params[1], "serial",
	    serial, "note", note)) != 0)
		return CH_REVOKE_ERROR;
	if (phone != NULL) {
		text = ch_psprintf(ctx->pool, TEXT_REVOKED_ADMIN, serial);
		if (ch_outbox_sms(ctx->db, ctx->pool, phone,
		    "certificate_revoked", ch_psprintf(ctx->pool,
		    "{\"serial\":\"%s\"}", serial), text, NULL) != 0)
			return CH_REVOKE_ERROR;
	}
	return CH_REVOKE_DONE;
}

/* One application's move, with detail (joins the pool). */
static int
move(ch_ctx_t *ctx, long long app, ch_app_status_t from, ch_app_status_t to,
    json_t *detail)
{
	switch (ch_wf_transition(ctx, app, CH_ST_BIT(from), to, NULL, detail,
	    NULL)) {
	case CH_WF_OK:
		return 0;
	case CH_WF_ILLEGAL:
		return 1;
	case CH_WF_ERROR:
	default:
		return -1;
	}
}

/*
 * One revoke job in its own transaction, committed.  1 done, 0 none
 * waiting, -1 error (rolled back by the caller's ch_db_finish()).
 */
static int
revoke_one(ch_ctx_t *ctx, const char *signer)
{
	const char *params[4], *serial, *text;
	long long job, app;
	bool revoked, published;
	char appbuf[24];
	PGresult *res;
	int r;

	if (ch_db_begin(ctx->db) != 0)
		return -1;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_job_next, NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return ch_db_rollback(ctx->db) == 0 ? 0 : -1;
	job = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	app = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	params[0] = PQgetvalue(res, 0, 0);
	params[1] = signer;
	params[2] = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
	params[3] = PQgetvalue(res, 0, 3);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_job_revoke, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		params[2] = "the application names no certificate";
		goto fail;
	}
	revoked = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	serial = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 1));
	published = !revoked && *PQgetvalue(res, 0, 2) == 't';
	r = move(ctx, app, CH_ST_ISSUING, CH_ST_ISSUED, json_pack(
	    "{s:I, s:s, s:s, s:b}", "job_id", (json_int_t)job, "serial",
	    serial, "reason", params[3], "revoked_before", !revoked));
	if (r < 0)
		return -1;
	if (r > 0) {
		params[2] = "the application is not issuing";
		goto fail;
	}
	if (revoked && ch_audit(ctx, "certificate.revoked", "certificate",
	    params[2], json_pack("{s:s, s:s, s:I}", "reason", params[3],
	    "serial", serial, "application_id", (json_int_t)app)) != 0)
		return -1;
	snprintf(appbuf, sizeof appbuf, "%lld", app);
	text = ch_psprintf(ctx->pool, TEXT_REVOKED_APP, appbuf);
	if (ch_wf_notify(ctx, app, "revoked", json_pack("{s:s, s:s}", "id",
	    appbuf, "serial", serial), text) != 0)
		return -1;
	if (published && move(ctx, app, CH_ST_ISSUED, CH_ST_COMPLETED,
	    json_pack("{s:s}", "published", "before")) != 0)
		return -1;
	if (ch_db_commit(ctx->db) != 0)
		return -1;
	ch_info("application %lld: certificate \"%s\" revoked (%s)%s", app,
	    serial, params[3], revoked ? "" : ", revoked before");
	return 1;
fail:
	/* Nothing revoked: the job ends failed, for an operator to see. */
	if (ch_db_rollback(ctx->db) != 0)
		return -1;
	ch_warn("revoke job %lld: %s", job, params[2]);
	params[1] = signer;
	if (ch_db_exec(ctx->db, ctx->pool, &stmt_job_fail, params) == NULL)
		return -1;
	return 1;
}

int
ch_revocation_jobs(ch_ctx_t *ctx, const char *signer, int *n)
{
	int r;

	*n = 0;
	while ((r = revoke_one(ctx, signer)) > 0)
		(*n)++;
	ch_db_finish(ctx->db);
	return r;
}

/* ---- CRLs ------------------------------------------------------------- */

static long long
ll(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 :
	    strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int
ch_crl_state(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    ch_crl_state_t *out)
{
	char id[24];
	const char *params[2] = { scope, id };
	PGresult *res;

	memset(out, 0, sizeof *out);
	snprintf(id, sizeof id, "%lld", issuer_id);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_state, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	out->number = ll(res, 0, 0);
	out->issuer_id = ll(res, 0, 1);
	out->this_update = (time_t)ll(res, 0, 2);
	out->next_update = (time_t)ll(res, 0, 3);
	out->unpublished = ll(res, 0, 4);
	out->oldest_ms = ll(res, 0, 5);
	return 0;
}

int
ch_crl_entries(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    time_t since, ch_crl_batch_t *out)
{
	char id[24], sincebuf[24];
	const char *params[3] = { id, sincebuf,
	    strcmp(scope, "issuing") == 0 ? "t" : "f" };
	PGresult *res;
	int n;

	memset(out, 0, sizeof *out);
	snprintf(id, sizeof id, "%lld", issuer_id);
	snprintf(sincebuf, sizeof sincebuf, "%lld", (long long)since);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_entries, params);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	out->entries = ch_palloc(ctx->pool, (size_t)(n + 1) *
	    sizeof *out->entries);
	out->pending = ch_palloc(ctx->pool, (size_t)(n + 1) *
	    sizeof *out->pending);
	for (int i = 0; i < n; i++) {
		ch_crl_entry_t *e = &out->entries[out->n];
		const char *hex = PQgetvalue(res, i, 1);
		size_t len = strlen(hex) / 2;
		unsigned char *serial = ch_palloc(ctx->pool, len + 1);

		if (ch_unhex(hex, serial, len) != 0) {
			ch_error("certificate %s: serial \"%s\" is not hex",
			    PQgetvalue(res, i, 0), hex);
			return -1;
		}
		e->serial = serial;
		e->serial_len = len;
		e->revoked_at = (time_t)ll(res, i, 2);
		e->reason = ch_revocation_reason_parse(PQgetvalue(res, i, 3));
		if (e->reason == CH_CRL__MAX)
			e->reason = CH_CRL_UNSPECIFIED;
		out->n++;
		if (*PQgetvalue(res, i, 4) == 't')
			out->pending[out->npending++] = ll(res, i, 0);
	}
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_number, NULL);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	out->number = ll(res, 0, 0);
	out->now = (time_t)ll(res, 0, 1);
	return 0;
}

/* "{1,2,3}": ids as a PostgreSQL array literal, in the pool. */
static const char *
id_array(ch_pool_t *pool, const long long *ids, size_t n)
{
	char *out = ch_palloc(pool, n * 21 + 3), *p = out;

	*p++ = '{';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%lld", i > 0 ? "," : "", ids[i]);
	*p++ = '}';
	*p = '\0';
	return out;
}

int
ch_crl_store(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    const char *signer, const ch_crl_batch_t *b, time_t this_update,
    time_t next_update, const unsigned char *der, size_t len)
{
	char number[24], issuer[24], tu[24], nu[24], entries[24];
	const char *params[8], *ids;
	PGresult *res;
	int rows;

	snprintf(number, sizeof number, "%lld", b->number);
	snprintf(issuer, sizeof issuer, "%lld", issuer_id);
	snprintf(tu, sizeof tu, "%lld", (long long)this_update);
	snprintf(nu, sizeof nu, "%lld", (long long)next_update);
	snprintf(entries, sizeof entries, "%zu", b->n);
	params[0] = scope;
	params[1] = number;
	params[2] = issuer;
	params[3] = tu;
	params[4] = nu;
	params[5] = entries;
	params[6] = ch_hex_pool(ctx->pool, der, len);
	params[7] = signer;
	if (ch_db_begin(ctx->db) != 0 ||
	    ch_db_queue(ctx->db, ctx->pool, &stmt_store, params) != 0 ||
	    ch_db_queue(ctx->db, ctx->pool, &stmt_prune, params) != 0)
		goto fail;
	if (b->npending > 0) {
		ids = id_array(ctx->pool, b->pending, b->npending);
		params[0] = number;
		params[1] = ids;
		if (ch_db_queue(ctx->db, ctx->pool, &stmt_published,
		    params) != 0)
			goto fail;
		res = ch_db_exec(ctx->db, ctx->pool, &stmt_completing, &ids);
		if (res == NULL)
			goto fail;
		rows = PQntuples(res);
		for (int i = 0; i < rows; i++)
			if (move(ctx, ll(res, i, 0), CH_ST_ISSUED,
			    CH_ST_COMPLETED, json_pack("{s:I}", "crl_number",
			    (json_int_t)b->number)) != 0)
				goto fail;
	}
	if (ch_db_commit(ctx->db) != 0)
		goto fail;
	return 0;
fail:
	ch_db_finish(ctx->db);
	return -1;
}

int
ch_crl_lock(ch_ctx_t *ctx, int take)
{
	const char *params[1] = { take ? "t" : "f" };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_lock, params);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	return *PQgetvalue(res, 0, 0) == 't';
}

int
ch_crl_newest(ch_ctx_t *ctx, const char *scope, ch_crl_file_t *out)
{
	const char *params[1] = { scope };
	PGresult *res;

	memset(out, 0, sizeof *out);
	res = ch_db_exec_binary(ctx->db, ctx->pool, "crl_newest", SQL_NEWEST,
	    1, params, NULL, NULL, 1);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	out->der = (const unsigned char *)PQgetvalue(res, 0, 0);
	out->len = (size_t)PQgetlength(res, 0, 0);
	out->number = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->this_update = (time_t)strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	out->next_update = (time_t)strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	snprintf(out->sha256, sizeof out->sha256, "%s", PQgetvalue(res, 0, 4));
	return 1;
}
