/*
 * GET /api/v1/catalog — the service hall's first page (SPEC §2–4, §12).
 *
 * Built by PostgreSQL from the catalogue tables in one statement, so the
 * answer is one consistent snapshot and the shape is readable in one place.
 * Times are shown in Asia/Shanghai.
 *
 * Cached per worker (issue 17).  The catalogue is the same for every
 * caller, and building it was nearly all a request cost (the statement
 * made the route answer at 0.22 x the minimal FastCGI responder).  So
 * each worker renders it once, compacts it and tags it with a strong ETag
 * (the first 128 bits of the SHA-256 of the bytes: equal in every worker),
 * and answers from that copy until one of these says it may be old:
 *
 *  - a notification on the channel "catalog": every committed change to a
 *    table the statement reads sends one (sql/0012_catalog_notify.sql).
 *    Before each use the worker reads what its connection has already
 *    received, without a round trip (ch_db_notifications());
 *  - a new connection (ch_db_session()): what was notified while there was
 *    none is lost, so a copy rendered on an earlier connection is dropped.
 *    A connection found closed, or none at all, means rendering again, and
 *    a 503 if that fails: never the old copy;
 *  - the next effective_from of a fee schedule not yet in force: nothing
 *    is committed when it starts, so the statement says how far away it is
 *    (by the database's clock) and the copy expires then on the worker's
 *    monotonic clock, counted from before the statement was sent.
 *
 * How fresh that is: PostgreSQL signals the listening backends while it
 * commits, before the committing client hears that it did, and an idle
 * backend passes the notification to its worker at once.  A request sent
 * after the commit returned has to cross the client, nginx and the worker
 * before the worker looks, so the notification is there first unless the
 * database host leaves a signalled backend unscheduled for longer than
 * that path takes.  Only a round trip per request would close that window,
 * and a round trip is what the cache is there to save.
 *
 * Cache-Control is "public, no-cache": anyone may keep a copy but must
 * revalidate it before every use (RFC 9111 §5.2.2.4), which costs a 304
 * without a body.  A max-age would let a client show an old fee for that
 * long after a change; "never stale" rules it out.
 */
#include "api.h"
#include "certhall/base/crypto.h"
#include "certhall/base/json.h"
#include "certhall/base/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_CHANNEL "catalog"

static const ch_stmt_t stmt_catalog = {
	.name = "catalog_json",
	.sql =
	"WITH s AS (SELECT id, version, effective_from FROM fee_schedule"
	"           WHERE effective_from <= now()"
	"           ORDER BY effective_from DESC LIMIT 1)"
	" SELECT json_build_object("
	"  'business_types', (SELECT json_agg(json_build_object("
	"     'code', b.code, 'name', b.name, 'description', b.description,"
	"     'settlement', b.settlement, 'fulfilment', b.fulfilment,"
	"     'requires_certificate', b.requires_certificate,"
	"     'requires_usb_key', b.requires_usb_key,"
	"     'eligibility', b.eligibility,"
	"     'renew_window_days', b.renew_window_days,"
	"     'validity', b.validity,"
	"     'fee_items', COALESCE((SELECT json_agg(bf.fee_code ORDER BY bf.position)"
	"                            FROM business_fee bf"
	"                            WHERE bf.business_type = b.code), '[]'::json))"
	"     ORDER BY b.position) FROM business_type b),"
	"  'certificate_types', (SELECT json_agg(json_build_object("
	"     'code', c.code, 'name', c.name,"
	"     'subject_fields', to_json(c.subject_fields)) ORDER BY c.position)"
	"     FROM certificate_type c),"
	"  'material_kinds', (SELECT json_agg(json_build_object("
	"     'code', k.code, 'name', k.name) ORDER BY k.position)"
	"     FROM material_kind k),"
	"  'required_materials', (SELECT json_agg(json_build_object("
	"     'business_type', b.code, 'certificate_type', c.code,"
	"     'materials', COALESCE((SELECT json_agg(json_build_object("
	"          'kind', r.material_kind, 'title', r.title) ORDER BY r.position)"
	"        FROM required_material r"
	"        WHERE r.business_type = b.code AND r.certificate_type = c.code),"
	"        '[]'::json))"
	"     ORDER BY b.position, c.position)"
	"     FROM business_type b CROSS JOIN certificate_type c),"
	"  'material_rules', (SELECT json_build_object("
	"     'accepted_types', to_json(accepted_types),"
	"     'max_file_bytes', max_file_bytes,"
	"     'max_application_bytes', max_application_bytes,"
	"     'official_seal_required', official_seal_required,"
	"     'official_seal_note', official_seal_note) FROM material_policy),"
	"  'years', (SELECT json_build_object('min', min_years, 'max', max_years)"
	"     FROM term_policy),"
	"  'fee_schedule', (SELECT json_build_object("
	"     'version', s.version,"
	"     'effective_from', to_char(s.effective_from AT TIME ZONE 'Asia/Shanghai',"
	"                               'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'),"
	"     'currency', 'CNY',"
	"     'items', (SELECT json_agg(json_build_object("
	"        'code', i.fee_code, 'name', f.name,"
	"        'certificate_type', i.certificate_type,"
	"        'amount_fen', i.amount_fen, 'per_year', f.per_year,"
	"        'per_seal', f.per_seal, 'tax_rate_bp', i.tax_rate_bp,"
	"        'note', i.note) ORDER BY c.position, f.position)"
	"        FROM fee_item i JOIN fee_code f ON f.code = i.fee_code"
	"        JOIN certificate_type c ON c.code = i.certificate_type"
	"        WHERE i.schedule_id = s.id)) FROM s),"
	"  'online_flow', (SELECT json_agg(json_build_object("
	"     'step', step, 'title', title, 'description', description)"
	"     ORDER BY step) FROM online_flow_step),"
	"  'counter', (SELECT json_build_object('address', address,"
	"     'open_days', open_days, 'weekdays', to_json(weekdays), 'note', note)"
	"     FROM counter_info),"
	"  'support', (SELECT json_build_object('website', website,"
	"     'hotline', hotline, 'hotline_note', hotline_note, 'qq', qq)"
	"     FROM support_info)"
	" )::text,"
	/* How long until a schedule not yet in force starts (no trigger
	 * fires then), rounded down: the copy must not outlive it. */
	" (SELECT floor(extract(epoch FROM min(effective_from) - now()) * 1000)"
	"         ::bigint FROM fee_schedule WHERE effective_from > now())",
	.nparams = 0,
	.readonly = true,
};

/* This worker's copy (a worker is a process: one each). */
static struct {
	char *body;		/* compact JSON, or NULL: none */
	size_t len;
	char etag[2 + 32 + 1];
	unsigned long session;	/* the ch_db_session() it was rendered in */
	long long expires_ms;	/* monotonic; LLONG_MAX: no schedule ahead */
} cache;

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

/* Whether the copy can be served as it is (see the top of this file).
 * Reads what the connection has received: call it once per request. */
static bool
cache_fresh(ch_db_t *db)
{
	int notified = ch_db_notifications(db, CATALOG_CHANNEL);

	return cache.body != NULL && notified == 0 &&
	    cache.session == ch_db_session(db) &&
	    ch_monotonic_ms() < cache.expires_ms;
}

/* Renders the copy anew.  0, or -1 with no copy left. */
static int
cache_render(ch_req_t *req)
{
	long long sent_ms = ch_monotonic_ms();
	unsigned char md[CH_SHA256_LEN];
	PGresult *res;
	size_t len;

	free(cache.body);
	cache.body = NULL;
	/* Listening before the statement runs: a change committed after
	 * its snapshot is then always notified. */
	if (ch_db_listen(req->ctx.db, CATALOG_CHANNEL) != 0)
		return -1;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_catalog, NULL);
	if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		return -1;

	len = (size_t)PQgetlength(res, 0, 0);
	cache.body = ch_xmalloc(len + 1);
	cache.len = ch_json_compact(cache.body, PQgetvalue(res, 0, 0), len);
	ch_sha256(cache.body, cache.len, md);
	cache.etag[0] = '"';
	ch_hex(md, 16, cache.etag + 1);
	cache.etag[33] = '"';
	cache.etag[34] = '\0';
	cache.session = ch_db_session(req->ctx.db);
	cache.expires_ms = PQgetisnull(res, 0, 1) ? LLONG_MAX
	    : sent_ms + strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	return 0;
}

int
api_catalog(ch_req_t *req)
{
	if (!cache_fresh(req->ctx.db) && cache_render(req) != 0)
		return -1;
	ch_resp_header(req, "ETag", cache.etag);
	ch_resp_header(req, "Cache-Control", "public, no-cache");
	if (api_etag_listed(ch_req_env(req, "HTTP_IF_NONE_MATCH"), cache.etag)) {
		ch_resp_raw(req, 304, NULL, NULL, 0);
		return 0;
	}
	/* The copy outlives the request: no need to copy it into the pool. */
	ch_resp_raw(req, 200, "application/json; charset=utf-8", cache.body,
	    cache.len);
	return 0;
}
