#include "certhall/domain/application.h"
#include "certhall/base/util.h"
#include "certhall/base/crypto.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/domain/people.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ch_material_kinds[] = {
	"application_form", "business_license", "holder_id", "handler_id",
	"seal_impression", NULL,
};

/* Columns: 0 id, 1 applicant_id, 2 channel, 3 status, 4 version,
 * 5 business_type, 6 certificate_type, 7 certificate_id, 8 years, 9 seals,
 * 10 handler_phone, 11 quote locked. */
#define LOAD_SQL \
	"SELECT id, applicant_id, channel, status, version, business_type," \
	" certificate_type, certificate_id, years, seals, handler_phone," \
	" quote_locked_at IS NOT NULL FROM application WHERE id = $1"

static const ch_stmt_t stmt_load = {
	.name = "app_load",
	.sql = LOAD_SQL,
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_load_locked = {
	.name = "app_load_locked",
	.sql = LOAD_SQL " FOR UPDATE",
	.nparams = 1,
};

static const ch_stmt_t stmt_json = {
	.name = "app_json",
	.sql = "SELECT a.version, " CH_SQL_APP_JSON "::text"
	       " FROM application a WHERE a.id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_list_json = {
	.name = "app_list_json",
	.sql = "SELECT a.version, " CH_SQL_APP_LIST_JSON "::text"
	       " FROM application a WHERE a.id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_required = {
	.name = "app_required_materials",
	.sql = CH_SQL_APP_REQUIRED("$1", "$2", "$3::int"),
	.nparams = 3,
	.readonly = true,
};

/*
 * Everything submit decides on but the row's own columns
 * (check_with()), in one statement.  Run after the load has locked
 * the row (load_for_submit() sends it right behind), as a statement
 * of its own: it then reads a snapshot taken after the lock was
 * granted, so it sees what a transaction that held the lock before (a
 * PATCH, an upload) committed.  Folded into the locking statement it would
 * not: a SELECT ... FOR UPDATE that waits for the lock re-reads the locked
 * row but not the materials and the certificate.
 *
 * Columns: the fields completeness looks at, named as in the API, in the
 * order of field_names below; then 17 term, 18 shipped, 19 paid; 20 the
 * required kinds without a current file (a JSON array, catalog order);
 * then the certificate (all NULL when there is none): 21 certificate_type,
 * 22 credit_code, 23 holder_id_number, 24 revoked, 25 not_before and
 * 26 not_after in whole seconds, so eligibility is decided in C on the
 * database's clock (27 now); 28 another open application about it (the
 * statuses of the partial unique index application_one_open_per_certificate).
 */
static const ch_stmt_t stmt_submit_facts = {
	.name = "app_submit_facts",
	.sql = "SELECT a.unit_name, a.credit_code, a.holder_name,"
	       " a.holder_id_number, a.handler_name, a.handler_phone,"
	       " a.handler_id_number, a.years::text,"
	       " a.delivery->>'recipient', a.delivery->>'phone',"
	       " a.delivery->>'province', a.delivery->>'city',"
	       " a.delivery->>'district', a.delivery->>'address',"
	       " a.delivery->>'postcode', a.invoice_title, a.invoice_tax_id,"
	       " b.validity IN ('new_term', 'extend'), b.fulfilment = 'ship',"
	       " b.settlement = 'pay',"
	       " (SELECT COALESCE(json_agg(r.code), '[]'::json) FROM ("
	       CH_SQL_APP_REQUIRED("a.business_type", "a.certificate_type",
	       "a.seals") ") r"
	       "   WHERE NOT EXISTS (SELECT 1 FROM application_material m"
	       "     WHERE m.application_id = a.id AND m.kind = r.code"
	       "       AND m.superseded_at IS NULL))::text,"
	       " c.certificate_type, c.credit_code, c.holder_id_number,"
	       " c.status = 'revoked',"
	       " floor(extract(epoch FROM c.not_before))::bigint,"
	       " floor(extract(epoch FROM c.not_after))::bigint,"
	       " floor(extract(epoch FROM now()))::bigint,"
	       " EXISTS (SELECT 1 FROM application o"
	       "   WHERE o.certificate_id = a.certificate_id AND o.id <> a.id"
	       "     AND o.status IN ('submitted', 'returned', 'approved',"
	       "      'awaiting_payment', 'awaiting_verification', 'issuing'))"
	       " FROM application a JOIN business_type b"
	       "   ON b.code = a.business_type"
	       " LEFT JOIN certificate c ON c.id = a.certificate_id"
	       " WHERE a.id = $1",
	.nparams = 1,
};

static const char *const field_names[] = {
	"unit_name", "credit_code", "holder_name", "holder_id_number",
	"handler_name", "handler_phone", "handler_id_number", "years",
	"delivery_recipient", "delivery_phone", "delivery_province",
	"delivery_city", "delivery_district", "delivery_address",
	"delivery_postcode", "invoice_title", "invoice_tax_id", NULL,
};
#define FACT_TERM 17
#define FACT_SHIPPED 18
#define FACT_PAID 19
#define FACT_MISSING_MATERIALS 20
#define FACT_CERT 21		/* 21-27: the certificate, as above */
#define FACT_OTHER_OPEN 28

static const ch_stmt_t stmt_quote_store = {
	.name = "app_quote_store",
	.sql = "UPDATE application SET quote = $2::jsonb,"
	       " quote_total_fen = $3::bigint,"
	       " quote_locked_at = CASE WHEN $4::boolean THEN now() END"
	       " WHERE id = $1",
	.nparams = 4,
};

/* ---- small pure helpers -------------------------------------------------- */

bool
ch_app_allowed(const ch_principal_t *p, const ch_app_t *a,
    ch_app_access_t want)
{
	bool owner = p->applicant_id > 0 && p->applicant_id == a->applicant_id;

	switch (want) {
	case CH_APP_READ:
	case CH_APP_READ_LOCKED:
		return owner || p->kind == CH_ACTOR_STAFF;
	case CH_APP_CHANGE:
		return owner || (p->kind == CH_ACTOR_STAFF &&
		    (p->roles & CH_ROLE_COUNTER) != 0 &&
		    strcmp(a->channel, "counter") == 0);
	}
	return false;
}

static const char *const rule_names[CH_RULE__MAX] = {
	[CH_RULE_OK] = "",
	[CH_RULE_COMPLETE] = "complete",
	[CH_RULE_SAME_SUBJECT] = "same_subject",
	[CH_RULE_CERTIFICATE_TYPE] = "certificate_type",
	[CH_RULE_RENEW_WINDOW] = "renew_window",
	[CH_RULE_CERTIFICATE_VALID] = "certificate_valid",
	[CH_RULE_ONE_OPEN] = "one_open_per_certificate",
};

const char *
ch_app_rule_name(ch_app_rule_t rule)
{
	return rule < CH_RULE__MAX ? rule_names[rule] : "";
}

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

ch_app_rule_t
ch_app_eligibility(const ch_app_facts_t *f)
{
	if (f->business != CH_BIZ_CHANGE) {
		if (!same(f->app_credit_code, f->cert_credit_code))
			return CH_RULE_SAME_SUBJECT;
		/* The holder only when both have one; a personal
		 * application about an org certificate is a type
		 * mismatch, told below. */
		if (f->app_cert_type == CH_CERT_PERSONAL &&
		    f->cert_type == CH_CERT_PERSONAL &&
		    !same(f->app_holder_id_number, f->cert_holder_id_number))
			return CH_RULE_SAME_SUBJECT;
	}
	if (f->cert_type != f->app_cert_type)
		return CH_RULE_CERTIFICATE_TYPE;
	switch (f->business) {
	case CH_BIZ_NEW:
		return CH_RULE_OK;
	case CH_BIZ_RENEW:
		if (f->cert_revoked ||
		    f->now < f->not_after - CH_RENEW_WINDOW_DAYS * 86400LL)
			return CH_RULE_RENEW_WINDOW;
		return CH_RULE_OK;
	default:
		if (f->cert_revoked || f->now < f->not_before ||
		    f->now >= f->not_after)
			return CH_RULE_CERTIFICATE_VALID;
		return CH_RULE_OK;
	}
}

size_t
ch_app_required_fields(ch_cert_type_t cert_type, bool term, bool shipped,
    bool paid, const char **out, size_t cap)
{
	const char *all[24];
	size_t n = 0, i;

	all[n++] = "unit_name";
	all[n++] = "credit_code";
	if (cert_type == CH_CERT_PERSONAL) {
		all[n++] = "holder_name";
		all[n++] = "holder_id_number";
	}
	all[n++] = "handler_name";
	all[n++] = "handler_phone";
	all[n++] = "handler_id_number";
	if (term)
		all[n++] = "years";
	if (shipped) {
		all[n++] = "delivery_recipient";
		all[n++] = "delivery_phone";
		all[n++] = "delivery_province";
		all[n++] = "delivery_city";
		all[n++] = "delivery_address";
	}
	if (paid)
		all[n++] = "invoice_title";
	for (i = 0; i < n && i < cap; i++)
		out[i] = all[i];
	return n;
}

void
ch_app_cursor_encode(long long id, char out[32])
{
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%lld", id);

	ch_base64url((const unsigned char *)digits, (size_t)n, out);
}

int
ch_app_cursor_decode(const char *c, long long *id)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char digits[32];
	size_t n = c != NULL ? strlen(c) : 0, out = 0;
	unsigned acc = 0;
	int bits = 0;
	char again[32];

	if (n == 0 || n > 24)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(alphabet, c[i]);

		if (c[i] == '\0' || p == NULL)
			return -1;
		acc = (acc << 6) | (unsigned)(p - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			digits[out++] = (char)((acc >> bits) & 0xff);
			acc &= (1u << bits) - 1;
		}
	}
	digits[out] = '\0';
	if (ch_id_parse(digits, id) != 0)
		return -1;
	/* Only the one spelling we hand out (no stray trailing bits). */
	ch_app_cursor_encode(*id, again);
	return strcmp(again, c) == 0 ? 0 : -1;
}

/* ---- loading and showing ------------------------------------------------- */

static ch_app_result_t load_from(ch_ctx_t *ctx, long long id,
    ch_app_access_t want, PGresult *res, ch_app_t *out);

ch_app_result_t
ch_app_load(ch_ctx_t *ctx, long long id, ch_app_access_t want, ch_app_t *out)
{
	char idbuf[24];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	return load_from(ctx, id, want, ch_db_exec(ctx->db, ctx->pool,
	    want == CH_APP_READ ? &stmt_load : &stmt_load_locked, params), out);
}

/*
 * Submit's three reads in one round trip: the locked load (ch_app_load()
 * with CH_APP_CHANGE), the facts check_with() decides on and the fee rows
 * quote_of() prices with, all sent before any is read.  The two later ones
 * run after the row lock is granted, so they see the row as locked; for a
 * caller who may not have the application they are read and dropped
 * unseen.  Returns as ch_app_load(); *facts and *fees (owned by ctx->pool)
 * are set when it returns CH_APP_FOUND.
 */
static ch_app_result_t
load_for_submit(ch_ctx_t *ctx, long long id, ch_app_t *out,
    PGresult **facts, PGresult **fees)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	PGresult *loaded;

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (ch_db_send(ctx->db, ctx->pool, &stmt_load_locked, params,
	    &loaded) != 0 ||
	    ch_db_send(ctx->db, ctx->pool, &stmt_submit_facts, params,
	    facts) != 0 ||
	    ch_fees_quote_send(ctx->db, ctx->pool, id, fees) != 0 ||
	    ch_db_sync(ctx->db) != 0)
		return CH_APP_ERROR;
	return load_from(ctx, id, CH_APP_CHANGE, loaded, out);
}

/* ch_app_load() with the load's result in hand (NULL: it failed). */
static ch_app_result_t
load_from(ch_ctx_t *ctx, long long id, ch_app_access_t want, PGresult *res,
    ch_app_t *out)
{
	int biz, cert;

	if (res == NULL)
		return CH_APP_ERROR;
	if (PQntuples(res) != 1)
		goto not_found;
	memset(out, 0, sizeof *out);
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->applicant_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->channel = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));
	out->status = ch_app_status_parse(PQgetvalue(res, 0, 3));
	out->version = atoi(PQgetvalue(res, 0, 4));
	biz = ch_code_index(ch_business_codes, PQgetvalue(res, 0, 5));
	cert = ch_code_index(ch_cert_type_codes, PQgetvalue(res, 0, 6));
	if (biz < 0 || cert < 0 || out->status == CH_ST__MAX) {
		ch_error("application %lld has an unknown status, business or "
		    "certificate type", id);
		return CH_APP_ERROR;
	}
	out->business = (ch_business_t)biz;
	out->cert_type = (ch_cert_type_t)cert;
	out->certificate_id = PQgetisnull(res, 0, 7) ? 0
	    : strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	out->years = PQgetisnull(res, 0, 8) ? -1 : atoi(PQgetvalue(res, 0, 8));
	out->seals = atoi(PQgetvalue(res, 0, 9));
	out->handler_phone = PQgetisnull(res, 0, 10) ? NULL
	    : ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 10));
	out->quote_locked = PQgetvalue(res, 0, 11)[0] == 't';
	if (!ch_app_allowed(&ctx->principal, out, want))
		goto not_found;
	return CH_APP_FOUND;
not_found:
	return CH_APP_NOT_FOUND;
}

ch_app_result_t
ch_app_begin_load(ch_ctx_t *ctx, long long id, ch_app_access_t want,
    ch_app_t *out)
{
	ch_app_result_t r;

	if (ch_db_begin(ctx->db) != 0)
		return CH_APP_ERROR;
	r = ch_app_load(ctx, id, want, out);
	if (r == CH_APP_NOT_FOUND && ch_db_rollback(ctx->db) != 0)
		return CH_APP_ERROR;
	return r;
}

const char *
ch_app_json(ch_ctx_t *ctx, long long id, bool list_form, int *version)
{
	char idbuf[24];
	const char *params[1] = { idbuf };
	PGresult *res;

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	res = ch_db_exec(ctx->db, ctx->pool,
	    list_form ? &stmt_list_json : &stmt_json, params);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		ch_error("application %lld vanished while answering", id);
		return NULL;
	}
	if (version != NULL)
		*version = atoi(PQgetvalue(res, 0, 0));
	return PQgetvalue(res, 0, 1);	/* the result belongs to the pool */
}

int
ch_app_required_materials(ch_ctx_t *ctx, const ch_app_t *a,
    const char ***kinds, size_t *n)
{
	char seals[16];
	const char *params[3];
	const char **out;
	PGresult *res;
	int rows;

	snprintf(seals, sizeof seals, "%d", a->seals);
	params[0] = ch_business_codes[a->business];
	params[1] = ch_cert_type_codes[a->cert_type];
	params[2] = seals;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_required, params);
	if (res == NULL)
		return -1;
	rows = PQntuples(res);
	out = ch_palloc(ctx->pool, sizeof *out * ((size_t)rows + 1));
	for (int i = 0; i < rows; i++)
		out[i] = ch_pstrdup(ctx->pool, PQgetvalue(res, i, 0));
	out[rows] = NULL;
	*kinds = out;
	*n = (size_t)rows;
	return 0;
}

int
ch_app_requires_material(ch_ctx_t *ctx, const ch_app_t *a, const char *kind)
{
	const char **kinds;
	size_t n;

	if (ch_app_required_materials(ctx, a, &kinds, &n) != 0)
		return -1;
	return ch_code_index(kinds, kind) >= 0 ? 1 : 0;
}

/* ---- submit: completeness, eligibility, quote ---------------------------- */

/* Fills v for "complete" when fields or materials are missing, from the
 * submit facts res: 1 refused, 0 complete, -1 on a malformed row. */
static int
check_complete(ch_ctx_t *ctx, const ch_app_t *a, const PGresult *res,
    ch_app_verdict_t *v)
{
	const char *names[24];
	json_t *fields, *materials;
	size_t n;

	n = ch_app_required_fields(a->cert_type,
	    PQgetvalue(res, 0, FACT_TERM)[0] == 't',
	    PQgetvalue(res, 0, FACT_SHIPPED)[0] == 't',
	    PQgetvalue(res, 0, FACT_PAID)[0] == 't',
	    names, sizeof names / sizeof names[0]);
	fields = ch_pool_json(ctx->pool, json_array());
	for (size_t i = 0; i < n; i++) {
		int col = ch_code_index(field_names, names[i]);

		if (col < 0 || PQgetisnull(res, 0, col))
			json_array_append_new(fields, json_string(names[i]));
	}
	materials = ch_pool_json(ctx->pool, json_loads(PQgetvalue(res, 0,
	    FACT_MISSING_MATERIALS), 0, NULL));
	if (!json_is_array(materials)) {
		ch_error("application %lld: missing materials are not a list",
		    a->id);
		return -1;
	}

	if (json_array_size(fields) == 0 && json_array_size(materials) == 0)
		return 0;
	v->rule = CH_RULE_COMPLETE;
	v->missing_fields = fields;
	v->missing_materials = materials;
	v->detail = ch_psprintf(ctx->pool, "the application is incomplete:"
	    " %zu field(s) and %zu material(s) missing",
	    json_array_size(fields), json_array_size(materials));
	return 1;
}

static const char one_open_detail[] = "the certificate already has an open"
    " application; finish or cancel that one first";

static const char *
rule_detail(ch_app_rule_t rule, ch_business_t business)
{
	switch (rule) {
	case CH_RULE_SAME_SUBJECT:
		return "the certificate belongs to another subject (credit code"
		    " and, for a personal certificate, holder ID number)";
	case CH_RULE_CERTIFICATE_TYPE:
		return "the certificate is not of the application's"
		    " certificate type";
	case CH_RULE_RENEW_WINDOW:
		return "a certificate can be renewed from 60 days before it"
		    " expires (and after), unless it is revoked";
	case CH_RULE_CERTIFICATE_VALID:
		return business == CH_BIZ_REISSUE
		    ? "a certificate can be reissued only while it is valid"
		    : "this business needs a certificate that is valid now"
		    " (not expired, not revoked, already in force)";
	default:
		return "";
	}
}

/*
 * Checks application a (loaded with CH_APP_CHANGE, in the caller's
 * transaction; facts res read with it by load_for_submit()) for
 * submission: completeness (required fields and materials), then
 * eligibility against its certificate (ch_app_eligibility()), then that no
 * other application about the certificate is open.  0 with *v set (v->rule
 * CH_RULE_OK when it may be submitted), or -1 (database error).  Two
 * submits racing past the last check are decided by the unique index at
 * the transition: the loser's statement fails with unique_violation().
 */
static int
check_with(ch_ctx_t *ctx, const ch_app_t *a, PGresult *res,
    ch_app_verdict_t *v)
{
	ch_app_facts_t f;
	int rc, ct;

	memset(v, 0, sizeof *v);
	v->rule = CH_RULE_OK;
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if ((rc = check_complete(ctx, a, res, v)) != 0)
		return rc < 0 ? -1 : 0;
	if (a->business == CH_BIZ_NEW || a->certificate_id == 0)
		return 0;

	if (PQgetisnull(res, 0, FACT_CERT)) {
		ch_error("application %lld names missing certificate %lld",
		    a->id, a->certificate_id);
		return -1;
	}
	ct = ch_code_index(ch_cert_type_codes, PQgetvalue(res, 0, FACT_CERT));
	memset(&f, 0, sizeof f);
	f.business = a->business;
	f.app_cert_type = a->cert_type;
	f.app_credit_code = PQgetisnull(res, 0, 1) ? NULL
	    : PQgetvalue(res, 0, 1);
	f.app_holder_id_number = PQgetisnull(res, 0, 3) ? NULL
	    : PQgetvalue(res, 0, 3);
	f.cert_type = ct < 0 ? CH_CERT__MAX : (ch_cert_type_t)ct;
	f.cert_credit_code = PQgetvalue(res, 0, FACT_CERT + 1);
	f.cert_holder_id_number = PQgetisnull(res, 0, FACT_CERT + 2) ? NULL
	    : PQgetvalue(res, 0, FACT_CERT + 2);
	f.cert_revoked = PQgetvalue(res, 0, FACT_CERT + 3)[0] == 't';
	f.not_before = strtoll(PQgetvalue(res, 0, FACT_CERT + 4), NULL, 10);
	f.not_after = strtoll(PQgetvalue(res, 0, FACT_CERT + 5), NULL, 10);
	f.now = strtoll(PQgetvalue(res, 0, FACT_CERT + 6), NULL, 10);
	v->rule = ch_app_eligibility(&f);
	v->detail = rule_detail(v->rule, a->business);
	if (v->rule != CH_RULE_OK)
		return 0;

	/* The unique index decides races; this answers the usual case
	 * without a failed statement. */
	if (PQgetvalue(res, 0, FACT_OTHER_OPEN)[0] == 't') {
		v->rule = CH_RULE_ONE_OPEN;
		v->detail = one_open_detail;
	}
	return 0;
}

/* Whether the last database failure was the one-open-per-certificate
 * unique index (SQLSTATE 23505). */
static bool
unique_violation(const ch_ctx_t *ctx)
{
	return strcmp(ch_db_sqlstate(ctx->db), "23505") == 0;
}

json_t *
ch_app_quote_json(const ch_quote_t *q, ch_business_t business,
    ch_cert_type_t cert_type, int years, int seals)
{
	json_t *lines = json_array(), *out;

	for (size_t i = 0; i < q->nlines; i++)
		json_array_append_new(lines, json_pack(
		    "{s:s, s:s, s:I, s:I, s:I}",
		    "fee_code", q->lines[i].fee_code,
		    "name", q->lines[i].name,
		    "unit_fen", (json_int_t)q->lines[i].unit_fen,
		    "quantity", (json_int_t)q->lines[i].quantity,
		    "amount_fen", (json_int_t)q->lines[i].amount_fen));
	out = json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:o, s:I}",
	    "business_type", ch_business_codes[business],
	    "certificate_type", ch_cert_type_codes[cert_type],
	    "years", q->takes_term && years > 0 ? json_integer(years)
	        : json_null(),
	    "seals", q->takes_term ? json_integer(seals > 0 ? seals : 0)
	        : json_null(),
	    "currency", "CNY",
	    "schedule_version", q->schedule_version,
	    "lines", lines,
	    "total_fen", (json_int_t)q->total_fen);
	if (out == NULL)
		ch_oom();
	return out;
}

/*
 * Computes the quote as ch_app_store_quote() does, without storing it:
 * *out (texts owned by ctx->pool) is for the move that stores it
 * (ch_wf_transition_quoted(); submit).  fees: the fee rows fetched already
 * (ch_fees_quote_send()), or NULL to fetch them now.
 */
static ch_app_quote_result_t
quote_of(ch_ctx_t *ctx, const ch_app_t *a, bool lock, PGresult *fees,
    ch_wf_quote_t *out, long long *total_fen, const char **why)
{
	long long seals = a->seals > 0 ? a->seals : -1;
	ch_quote_t q;
	char *text;
	json_t *json;

	*why = NULL;
	switch (fees != NULL
	    ? ch_fees_quote_from(fees, ctx->pool, a->business, a->cert_type,
	        a->years, seals, &q)
	    : ch_fees_quote(ctx->db, ctx->pool, a->business, a->cert_type,
	        a->years, seals, &q)) {
	case CH_QUOTE_OK:
		break;
	case CH_QUOTE_YEARS_MISSING:
		*why = "years is required";
		return CH_APP_QUOTE_INVALID;
	case CH_QUOTE_YEARS_RANGE:
		*why = ch_psprintf(ctx->pool, "years must be from %d to %d",
		    q.min_years, q.max_years);
		return CH_APP_QUOTE_INVALID;
	case CH_QUOTE_TERM_REFUSED:
		*why = "this business keeps the certificate's term: no years"
		    " or seals";
		return CH_APP_QUOTE_INVALID;
	default:
		return CH_APP_QUOTE_ERROR;
	}
	json = ch_app_quote_json(&q, a->business, a->cert_type, a->years,
	    a->seals);
	text = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	if (text == NULL)
		ch_oom();
	out->json = ch_pstrdup(ctx->pool, text);
	free(text);
	out->total_fen = ch_psprintf(ctx->pool, "%lld", q.total_fen);
	out->lock = lock;
	if (total_fen != NULL)
		*total_fen = q.total_fen;
	return CH_APP_QUOTE_OK;
}

ch_app_quote_result_t
ch_app_store_quote(ch_ctx_t *ctx, const ch_app_t *a, bool lock,
    long long *total_fen, const char **why)
{
	char idbuf[24];
	const char *params[4];
	ch_wf_quote_t q;
	ch_app_quote_result_t r;

	r = quote_of(ctx, a, lock, NULL, &q, total_fen, why);
	if (r != CH_APP_QUOTE_OK)
		return r;
	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	params[0] = idbuf;
	params[1] = q.json;
	params[2] = q.total_fen;
	params[3] = q.lock ? "t" : "f";
	if (ch_db_queue(ctx->db, ctx->pool, &stmt_quote_store, params) != 0)
		return CH_APP_QUOTE_ERROR;
	return CH_APP_QUOTE_OK;
}

ch_app_submit_result_t
ch_app_submit(ch_ctx_t *ctx, long long id, ch_app_verdict_t *v,
    ch_app_refusal_t *r, ch_app_written_t *out)
{
	ch_wf_quote_t quote;
	PGresult *facts, *fees;
	const char *why;
	ch_app_t a;

	memset(v, 0, sizeof *v);
	memset(r, 0, sizeof *r);
	/* The row locked, its facts and its fee rows: one round trip. */
	switch (load_for_submit(ctx, id, &a, &facts, &fees)) {
	case CH_APP_FOUND:
		break;
	case CH_APP_NOT_FOUND:
		return CH_APP_SUBMIT_NOT_FOUND;
	default:
		return CH_APP_SUBMIT_ERROR;
	}
	/* A state that cannot be submitted is a conflict, whatever the
	 * fields say. */
	if (!(CH_ST_EDITABLE & CH_ST_BIT(a.status)))
		return CH_APP_SUBMIT_CONFLICT;
	if (check_with(ctx, &a, facts, v) != 0)
		return CH_APP_SUBMIT_ERROR;
	if (v->rule != CH_RULE_OK)
		return CH_APP_SUBMIT_REFUSED;
	switch (quote_of(ctx, &a, false, fees, &quote, NULL, &why)) {
	case CH_APP_QUOTE_OK:
		break;
	case CH_APP_QUOTE_INVALID:
		r->field = "years";
		r->detail = why;
		return CH_APP_SUBMIT_INVALID;
	default:
		return CH_APP_SUBMIT_ERROR;
	}
	/* The quote goes with the move, and the answer comes back from it. */
	out->id = id;
	switch (ch_wf_transition_quoted(ctx, id, CH_ST_EDITABLE,
	    CH_ST_SUBMITTED, &quote, &out->version, &out->json)) {
	case CH_WF_OK:
		return CH_APP_SUBMIT_OK;
	case CH_WF_ILLEGAL:
		return CH_APP_SUBMIT_CONFLICT;
	default:
		if (!unique_violation(ctx))
			return CH_APP_SUBMIT_ERROR;
		/* The transaction can only be rolled back now. */
		v->rule = CH_RULE_ONE_OPEN;
		v->detail = one_open_detail;
		return CH_APP_SUBMIT_REFUSED;
	}
}
