#include "certhall/domain/fees.h"
#include "certhall/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ch_business_codes[CH_BIZ__MAX + 1] = {
	[CH_BIZ_NEW] = "new",
	[CH_BIZ_RENEW] = "renew",
	[CH_BIZ_REISSUE] = "reissue",
	[CH_BIZ_CHANGE] = "change",
	[CH_BIZ_REVOKE] = "revoke",
	[CH_BIZ_UNLOCK] = "unlock",
	[CH_BIZ__MAX] = NULL,
};

const char *const ch_cert_type_codes[CH_CERT__MAX + 1] = {
	[CH_CERT_ORG] = "org",
	[CH_CERT_PERSONAL] = "personal",
	[CH_CERT__MAX] = NULL,
};

/* One row per fee item the business charges (none for free business, but
 * always one row while a schedule is in force, so "no rows" means "no
 * schedule").  Columns: 0 version, 1 takes_term, 2 min_years, 3 max_years,
 * 4 fee_code, 5 name, 6 amount_fen, 7 per_year, 8 per_seal, 9 tax_rate_bp. */
#define QUOTE_SQL(business, cert_type) \
	"WITH s AS (SELECT id, version FROM fee_schedule" \
	"           WHERE effective_from <= now()" \
	"           ORDER BY effective_from DESC LIMIT 1)" \
	" SELECT s.version, b.validity IN ('new_term', 'extend')," \
	"        t.min_years, t.max_years, bf.fee_code, f.name," \
	"        i.amount_fen, f.per_year, f.per_seal, i.tax_rate_bp" \
	"   FROM business_type b CROSS JOIN term_policy t CROSS JOIN s" \
	"   LEFT JOIN business_fee bf ON bf.business_type = b.code" \
	"   LEFT JOIN fee_code f ON f.code = bf.fee_code" \
	"   LEFT JOIN fee_item i ON i.schedule_id = s.id" \
	"        AND i.fee_code = bf.fee_code AND i.certificate_type = " \
	    cert_type \
	"  WHERE b.code = " business \
	"  ORDER BY bf.position"

static const ch_stmt_t stmt_quote = {
	.name = "fees_quote",
	.sql = QUOTE_SQL("$1", "$2"),
	.nparams = 2,
	.readonly = true,
};

/* The same for the business and certificate type of application $1. */
static const ch_stmt_t stmt_quote_app = {
	.name = "fees_quote_app",
	.sql = QUOTE_SQL(
	    "(SELECT business_type FROM application WHERE id = $1::bigint)",
	    "(SELECT certificate_type FROM application WHERE id = $1::bigint)"),
	.nparams = 1,
	.readonly = true,
};

ch_quote_result_t
ch_fees_quote(ch_db_t *db, ch_pool_t *pool, ch_business_t business,
    ch_cert_type_t cert_type, long long years, long long seals,
    ch_quote_t *out)
{
	const char *params[2] = {
		ch_business_codes[business], ch_cert_type_codes[cert_type],
	};

	return ch_fees_quote_from(ch_db_exec(db, pool, &stmt_quote, params),
	    pool, business, cert_type, years, seals, out);
}

int
ch_fees_quote_send(ch_db_t *db, ch_pool_t *pool, long long app_id,
    PGresult **fees)
{
	char idbuf[24];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof idbuf, "%lld", app_id);
	return ch_db_send(db, pool, &stmt_quote_app, params, fees);
}

ch_quote_result_t
ch_fees_quote_from(PGresult *res, ch_pool_t *pool, ch_business_t business,
    ch_cert_type_t cert_type, long long years, long long seals,
    ch_quote_t *out)
{
	int rows;

	memset(out, 0, sizeof *out);
	if (res == NULL)
		return CH_QUOTE_DB_ERROR;
	rows = PQntuples(res);
	if (rows == 0) {
		ch_error("no fee schedule in force for \"%s\"",
		    ch_business_codes[business]);
		return CH_QUOTE_NO_SCHEDULE;
	}
	out->schedule_version = atoi(PQgetvalue(res, 0, 0));
	out->takes_term = PQgetvalue(res, 0, 1)[0] == 't';
	out->min_years = atoi(PQgetvalue(res, 0, 2));
	out->max_years = atoi(PQgetvalue(res, 0, 3));

	if (!out->takes_term) {
		if (years >= 0 || seals >= 0)
			return CH_QUOTE_TERM_REFUSED;
		years = 1;	/* nothing is multiplied by it */
		seals = 0;
	} else {
		if (years < 0)
			return CH_QUOTE_YEARS_MISSING;
		if (years < out->min_years || years > out->max_years)
			return CH_QUOTE_YEARS_RANGE;
		if (seals < 0)
			seals = 0;
	}

	for (int r = 0; r < rows; r++) {
		ch_quote_line_t *l;
		long long qty = 1, amount;

		if (PQgetisnull(res, r, 4))
			continue;	/* free business: no fee items */
		if (PQgetisnull(res, r, 6)) {
			ch_error("fee schedule v%d has no \"%s\" for \"%s\"",
			    out->schedule_version, PQgetvalue(res, r, 4),
			    ch_cert_type_codes[cert_type]);
			return CH_QUOTE_NO_SCHEDULE;
		}
		if (PQgetvalue(res, r, 7)[0] == 't')
			qty *= years;
		if (PQgetvalue(res, r, 8)[0] == 't')
			qty *= seals;
		if (qty == 0)
			continue;
		if (out->nlines == CH_QUOTE_MAX_LINES) {
			ch_error("fee quote has more than %d lines",
			    CH_QUOTE_MAX_LINES);
			return CH_QUOTE_NO_SCHEDULE;
		}
		l = &out->lines[out->nlines++];
		l->fee_code = ch_pstrdup(pool, PQgetvalue(res, r, 4));
		l->name = ch_pstrdup(pool, PQgetvalue(res, r, 5));
		l->unit_fen = strtoll(PQgetvalue(res, r, 6), NULL, 10);
		l->tax_rate_bp = atoi(PQgetvalue(res, r, 9));
		l->quantity = qty;
		if (__builtin_mul_overflow(l->unit_fen, qty, &amount) ||
		    __builtin_add_overflow(out->total_fen, amount,
		    &out->total_fen))
			return CH_QUOTE_OVERFLOW;
		l->amount_fen = amount;
	}
	return CH_QUOTE_OK;
}

void
ch_fees_yuan(long long fen, char out[32])
{
	if (fen % 100 == 0)
		snprintf(out, 32, "%lld", fen / 100);
	else
		snprintf(out, 32, "%lld.%02lld", fen / 100, fen % 100);
}
