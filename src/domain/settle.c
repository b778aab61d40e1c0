/*
 * Settlement: recording what an approved application owed, and moving it to
 * issuing once it owes nothing (certhall/settle.h).
 */
#include "certhall/domain/settle.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/domain/payment.h"
#include "certhall/domain/workflow.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define TEXT_SETTLED \
	"【四川CA】您的数字证书申请（编号%s）已完成%s，正在制证，" \
	"将在2个工作日内%s办结。"
/* The date in TEXT_SETTLED; an estimated deadline (a year of the calendar
 * not loaded: certhall/domain/calendar.h) is not promised by date. */
#define TEXT_SETTLED_BY "（%s前）"

/*
 * Records the facts asked for ($2 paid, $3 verified, $4 possession; the
 * first time is kept) and locks the row; a newly recorded fact is a change
 * the ETag shows.  Returns what settlement decides on, "paid" by its one
 * definition (certhall/domain/payment.h CH_SQL_APP_PAID).
 */
static const ch_stmt_t stmt_record = {
	.name = "settle_record",
	.sql = "UPDATE application a SET"
	       " paid_at = CASE WHEN $2::bool AND paid_at IS NULL"
	       "   THEN now() ELSE paid_at END,"
	       " verified_at = CASE WHEN $3::bool AND verified_at IS NULL"
	       "   THEN now() ELSE verified_at END,"
	       " possession_proven_at = CASE WHEN $4::bool"
	       "   AND possession_proven_at IS NULL"
	       "   THEN now() ELSE possession_proven_at END,"
	       " version = version + CASE WHEN ($2::bool AND paid_at IS NULL)"
	       "   OR ($3::bool AND verified_at IS NULL)"
	       "   OR ($4::bool AND possession_proven_at IS NULL)"
	       "   THEN 1 ELSE 0 END"
	       " WHERE id = $1"
	       " RETURNING business_type, status, " CH_SQL_APP_PAID ","
	       "  verified_at IS NOT NULL, possession_proven_at IS NOT NULL",
	.nparams = 4,
};

/* settled_at, the deadline (due_by, due_by_estimated: the one definition,
 * calendar_due_by() of sql/0018_calendar.sql, from the settle time), the
 * signing job (the payload of sql/0008_settlement.sql) and the signer's
 * wake-up, in one statement. */
static const ch_stmt_t stmt_job = {
	.name = "settle_job",
	.sql = "WITH s AS ("
	       "  UPDATE application SET settled_at = now(),"
	       "   (due_by, due_by_estimated) = (SELECT d.due_by, d.estimated"
	       "    FROM calendar_due_by(now()) d)"
	       "  WHERE id = $1"
	       "  RETURNING *),"
	       " j AS ("
	       "  INSERT INTO signing_job (application_id, kind, payload)"
	       "  SELECT s.id, s.business_type, jsonb_build_object("
	       "   'v', 1, 'application_id', s.id,"
	       "   'business_type', s.business_type,"
	       "   'certificate_type', s.certificate_type,"
	       "   'certificate_id', s.certificate_id,"
	       "   'years', CASE WHEN s.business_type IN ('new', 'renew')"
	       "     THEN s.years END,"
	       "   'seals', s.seals,"
	       "   'unit_name', s.unit_name, 'credit_code', s.credit_code,"
	       "   'holder_name', s.holder_name,"
	       "   'holder_id_number', s.holder_id_number,"
	       "   'handler_name', s.handler_name,"
	       "   'handler_phone', s.handler_phone,"
	       "   'delivery', s.delivery,"
	       "   'quote_total_fen', s.quote_total_fen,"
	       "   'paid_at', s.paid_at, 'verified_at', s.verified_at,"
	       "   'possession_proven_at', s.possession_proven_at)"
	       "  FROM s RETURNING id)"
	       " SELECT j.id, pg_notify('signing_job', j.id::text),"
	       "  (SELECT to_char(s.due_by AT TIME ZONE 'Asia/Shanghai',"
	       "   'FMMM\"月\"FMDD\"日\"') FROM s),"
	       "  (SELECT s.due_by_estimated FROM s) FROM j",
	.nparams = 1,
};

#define FROM_AWAITING (CH_ST_BIT(CH_ST_AWAITING_PAYMENT) | \
	CH_ST_BIT(CH_ST_AWAITING_VERIFICATION))

unsigned
ch_settle_needs(ch_business_t business)
{
	switch (business) {
	case CH_BIZ_NEW:
	case CH_BIZ_REISSUE:
		return CH_SETTLE_PAID;
	case CH_BIZ_RENEW:
		return CH_SETTLE_PAID | CH_SETTLE_POSSESSION;
	case CH_BIZ_CHANGE:
		return CH_SETTLE_VERIFIED | CH_SETTLE_POSSESSION;
	case CH_BIZ_REVOKE:
	case CH_BIZ_UNLOCK:
		return CH_SETTLE_VERIFIED;
	case CH_BIZ__MAX:
	default:
		/* Unknown business: owes what nobody can give. */
		return ~0u;
	}
}

ch_settle_result_t
ch_settle_record(ch_ctx_t *ctx, long long id, ch_settle_fact_t fact)
{
	char idbuf[24];
	const char *params[4], *text, *by;
	unsigned have = 0, needs;
	ch_business_t business;
	PGresult *res;
	int version;

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	params[0] = idbuf;
	params[1] = fact & CH_SETTLE_PAID ? "t" : "f";
	params[2] = fact & CH_SETTLE_VERIFIED ? "t" : "f";
	params[3] = fact & CH_SETTLE_POSSESSION ? "t" : "f";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_record, params);
	if (res == NULL)
		return CH_SETTLE_ERROR;
	if (PQntuples(res) != 1)
		return CH_SETTLE_WAITING;
	business = (ch_business_t)ch_code_index(ch_business_codes,
	    PQgetvalue(res, 0, 0));
	if (!(FROM_AWAITING & CH_ST_BIT(ch_app_status_parse(PQgetvalue(res, 0,
	    1)))))
		return CH_SETTLE_WAITING;
	if (*PQgetvalue(res, 0, 2) == 't')
		have |= CH_SETTLE_PAID;
	if (*PQgetvalue(res, 0, 3) == 't')
		have |= CH_SETTLE_VERIFIED;
	if (*PQgetvalue(res, 0, 4) == 't')
		have |= CH_SETTLE_POSSESSION;
	needs = ch_settle_needs(business);
	if ((have & needs) != needs)
		return CH_SETTLE_WAITING;

	switch (ch_wf_transition(ctx, id, FROM_AWAITING, CH_ST_ISSUING, NULL,
	    json_pack("{s:s}", "settled_by", needs & CH_SETTLE_PAID
	    ? "payment" : "verification"), &version)) {
	case CH_WF_OK:
		break;
	case CH_WF_ILLEGAL:
		/* The row is locked and was awaiting: cannot happen. */
		ch_error("settle: application %lld left awaiting under its lock",
		    id);
		return CH_SETTLE_ERROR;
	case CH_WF_ERROR:
	default:
		return CH_SETTLE_ERROR;
	}
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_job, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_SETTLE_ERROR;
	by = *PQgetvalue(res, 0, 3) == 't' ? "" : ch_psprintf(ctx->pool,
	    TEXT_SETTLED_BY, PQgetvalue(res, 0, 2));
	text = ch_psprintf(ctx->pool, TEXT_SETTLED, idbuf,
	    needs & CH_SETTLE_PAID ? "缴费" : "验证", by);
	if (ch_wf_notify(ctx, id, "settled", json_pack("{s:s, s:s}", "id", idbuf,
	    "due_by", PQgetvalue(res, 0, 2)), text) != 0)
		return CH_SETTLE_ERROR;
	return CH_SETTLE_MOVED;
}
