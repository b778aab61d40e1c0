/*
 * GET /api/v1/catalog — the service hall's first page (SPEC §2–4, §12).
 *
 * Built by PostgreSQL from the catalogue tables in one statement, so the
 * answer is one consistent snapshot and the shape is readable in one place.
 * Times are shown in Asia/Shanghai.  A strong ETag over the bytes lets the
 * SPA revalidate cheaply (If-None-Match → 304).
 */
#include "api.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

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
	" )::text",
	.nparams = 0,
	.readonly = true,
};

/* Whether an If-None-Match value lists etag (weak comparison, RFC 9110
 * §13.1.2: W/ prefixes are ignored; "*" matches anything). */
static int
etag_listed(const char *header, const char *etag)
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
api_catalog(ch_req_t *req)
{
	PGresult *res = ch_db_exec(req->db, req->pool, &stmt_catalog, NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char etag[2 + 32 + 1];
	const char *body;
	size_t len;

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	body = PQgetvalue(res, 0, 0);
	len = (size_t)PQgetlength(res, 0, 0);

	if (!EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL))
		return -1;
	etag[0] = '"';
	for (int i = 0; i < 16; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
	etag[33] = '"';
	etag[34] = '\0';

	ch_resp_header(req, "ETag", etag);
	ch_resp_header(req, "Cache-Control", "public, max-age=60");
	if (etag_listed(ch_req_env(req, "HTTP_IF_NONE_MATCH"), etag)) {
		ch_resp_raw(req, 304, NULL, NULL, 0);
		return 0;
	}
	ch_resp_raw(req, 200, "application/json; charset=utf-8", body, len);
	return 0;
}
