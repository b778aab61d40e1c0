/*
 * Fee quotes from the versioned fee schedule (SPEC §4).
 *
 * Which fee items a business type charges, whether each is multiplied by
 * years and by e-seals, the amounts per certificate type and the allowed
 * term are all data (tables business_fee, fee_code, fee_item, term_policy);
 * this module only multiplies and adds, in integer fen with overflow checks.
 */
#ifndef CERTHALL_FEES_H
#define CERTHALL_FEES_H

#include "certhall/store/db.h"
#include "certhall/base/pool.h"

typedef enum {
	CH_BIZ_NEW,
	CH_BIZ_RENEW,
	CH_BIZ_REISSUE,
	CH_BIZ_CHANGE,
	CH_BIZ_REVOKE,
	CH_BIZ_UNLOCK,
	CH_BIZ__MAX
} ch_business_t;

typedef enum {
	CH_CERT_ORG,
	CH_CERT_PERSONAL,
	CH_CERT__MAX
} ch_cert_type_t;

/* Codes as in the API and the database; NULL-terminated (schema enums). */
extern const char *const ch_business_codes[CH_BIZ__MAX + 1];
extern const char *const ch_cert_type_codes[CH_CERT__MAX + 1];

#define CH_QUOTE_MAX_LINES 8

typedef struct {
	const char *fee_code;		/* pool-owned */
	const char *name;
	long long unit_fen;
	long long quantity;
	long long amount_fen;
	int tax_rate_bp;		/* basis points: 600 = 6% */
} ch_quote_line_t;

typedef struct {
	int schedule_version;
	int takes_term;			/* years/seals apply to this business */
	int min_years, max_years;	/* the term policy, for error messages */
	size_t nlines;
	ch_quote_line_t lines[CH_QUOTE_MAX_LINES];
	long long total_fen;
} ch_quote_t;

typedef enum {
	CH_QUOTE_OK,
	CH_QUOTE_DB_ERROR,		/* logged; database down or failing */
	CH_QUOTE_NO_SCHEDULE,		/* logged; no schedule in force or one
					 * that lacks an item: a data fault */
	CH_QUOTE_YEARS_MISSING,		/* term business without years */
	CH_QUOTE_YEARS_RANGE,		/* outside term_policy */
	CH_QUOTE_TERM_REFUSED,		/* years or seals for a business
					 * that has no term */
	CH_QUOTE_OVERFLOW,
} ch_quote_result_t;

/*
 * Quotes business for cert_type under the schedule in force now.  years and
 * seals are -1 when not given.  Lines with quantity 0 (no e-seals) are left
 * out.  Strings in *out belong to pool.
 */
ch_quote_result_t ch_fees_quote(ch_db_t *db, ch_pool_t *pool,
    ch_business_t business, ch_cert_type_t cert_type, long long years,
    long long seals, ch_quote_t *out);

/*
 * The same in two steps, for a caller that reads other things in the same
 * round trip (submit): ch_fees_quote_send() sends the fee query for the
 * business and certificate type of application app_id (certhall/db.h
 * ch_db_send(); *fees is filled at the next sync), and
 * ch_fees_quote_from() prices with what came back (fees NULL: the query
 * failed, CH_QUOTE_DB_ERROR).
 */
int ch_fees_quote_send(ch_db_t *db, ch_pool_t *pool, long long app_id,
    PGresult **fees);
ch_quote_result_t ch_fees_quote_from(PGresult *fees, ch_pool_t *pool,
    ch_business_t business, ch_cert_type_t cert_type, long long years,
    long long seals, ch_quote_t *out);

/* An amount in fen as yuan for people (SMS texts): 40000 → "400", 5050 →
 * "50.50", 5 → "0.05".  Integer arithmetic only; out holds 32.  Pure. */
void ch_fees_yuan(long long fen, char out[32]);

#endif
