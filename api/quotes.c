/*
 * POST /api/v1/quotes — what a business costs, before applying (SPEC §4).
 *
 * Anonymous, so the service hall can show prices on its first page.  The
 * same ch_fees_quote() prices an application at submit (issue 4), so the
 * two can never disagree.
 */
#include "api.h"
#include "certhall/domain/fees.h"

#include <jansson.h>
#include <stddef.h>

struct quote_input {
	int business_type;
	int certificate_type;
	ch_int_t years;
	ch_int_t seals;
};

static const ch_field_t quote_fields[] = {
	{ .name = "business_type", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = ch_business_codes,
	  .offset = offsetof(struct quote_input, business_type) },
	{ .name = "certificate_type", .type = CH_F_ENUM, .flags = CH_F_REQUIRED,
	  .values = ch_cert_type_codes,
	  .offset = offsetof(struct quote_input, certificate_type) },
	/* The allowed term is data (term_policy); the schema only bounds it. */
	{ .name = "years", .type = CH_F_INT, .flags = CH_F_NULLABLE,
	  .min = 0, .max = 100,
	  .offset = offsetof(struct quote_input, years) },
	{ .name = "seals", .type = CH_F_INT, .flags = CH_F_NULLABLE,
	  .min = 0, .max = 10,
	  .offset = offsetof(struct quote_input, seals) },
};

const ch_schema_t api_quote_schema =
    CH_SCHEMA(quote_fields, struct quote_input);

static json_t *
int_or_null(const ch_int_t *v, int applies)
{
	return applies && v->set ? json_integer(v->v) : json_null();
}

int
api_quote_create(ch_req_t *req)
{
	const struct quote_input *in = req->input;
	ch_quote_t q;
	json_t *lines;
	const char *biz = ch_business_codes[in->business_type];

	switch (ch_fees_quote(req->ctx.db, req->ctx.pool,
	    (ch_business_t)in->business_type,
	    (ch_cert_type_t)in->certificate_type,
	    in->years.set ? in->years.v : -1,
	    in->seals.set ? in->seals.v : -1, &q)) {
	case CH_QUOTE_OK:
		break;
	case CH_QUOTE_YEARS_MISSING:
		ch_problem_field(req, CH_P_MISSING_FIELD, "/years",
		    "years is required for %s (%d to %d)", biz, q.min_years,
		    q.max_years);
		return 0;
	case CH_QUOTE_YEARS_RANGE:
		ch_problem_field(req, CH_P_INVALID_FIELD, "/years",
		    "years must be from %d to %d", q.min_years, q.max_years);
		return 0;
	case CH_QUOTE_TERM_REFUSED:
		ch_problem_field(req, CH_P_INVALID_FIELD,
		    in->years.set ? "/years" : "/seals",
		    "%s does not take %s: it keeps the certificate's term",
		    biz, in->years.set ? "years" : "seals");
		return 0;
	case CH_QUOTE_DB_ERROR:
	case CH_QUOTE_NO_SCHEDULE:
	case CH_QUOTE_OVERFLOW:
		return -1;
	}

	lines = json_array();
	for (size_t i = 0; i < q.nlines; i++)
		json_array_append_new(lines, json_pack(
		    "{s:s, s:s, s:I, s:I, s:I}",
		    "fee_code", q.lines[i].fee_code,
		    "name", q.lines[i].name,
		    "unit_fen", (json_int_t)q.lines[i].unit_fen,
		    "quantity", (json_int_t)q.lines[i].quantity,
		    "amount_fen", (json_int_t)q.lines[i].amount_fen));
	ch_resp_json(req, 200, json_pack("{s:s, s:s, s:o, s:o, s:s, s:i, s:o, s:I}",
	    "business_type", biz,
	    "certificate_type", ch_cert_type_codes[in->certificate_type],
	    "years", int_or_null(&in->years, q.takes_term),
	    "seals", q.takes_term ? json_integer(in->seals.set ? in->seals.v : 0)
	        : json_null(),
	    "currency", "CNY",
	    "schedule_version", q.schedule_version,
	    "lines", lines,
	    "total_fen", (json_int_t)q.total_fen));
	return 0;
}
