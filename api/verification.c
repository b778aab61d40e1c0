/*
 * Verify, the free half of step 4 (SPEC §6; docs/CONTRACT.md "Pay or
 * verify"), and proof of possession of the current certificate's key:
 *
 *   POST /api/v1/applications/{id}/verification/sms-code   a code to the
 *        phone registered for the certificate
 *   POST /api/v1/applications/{id}/verification            the code back:
 *        verified (change, revoke, unlock)
 *   POST /api/v1/applications/{id}/possession-challenges   a nonce to sign
 *        with the USB key (renew, change)
 *   POST /api/v1/applications/{id}/possession              its signature:
 *        possession proven
 *
 * Who: the application's owner, or a counter clerk for a counter-channel
 * application; everyone else gets the 404 of an application that does not
 * exist.  What may be verified when, the codes, the challenges and every
 * statement are certhall/domain/verification.h's.  Here: the body, the
 * rate limits, the commit, and the domain's results as answers.
 *
 *   - Sending is limited per application (1 a minute, 5 an hour) and per
 *     registered phone (10 a day: one phone may stand for several
 *     certificates); the 429 rolls back, so only codes sent count.
 *     Challenges are limited to 20 an hour per application.
 *   - A malformed body (a code that is not 6 digits, a signature that is
 *     not base64) is refused by the schema before anything is looked up:
 *     it spends no try and consumes no challenge.
 *   - A refused try is committed (its audit event, the try counted, the
 *     challenge spent) before the 422 that names the field.
 */
#include "api.h"
#include "certhall/domain/application.h"
#include "certhall/domain/verification.h"
#include "certhall/web/ratelimit.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <stddef.h>

#define CODE_RESEND_SECONDS 60		/* per application: 1 code a minute ... */
#define CODE_APP_PER_HOUR 5		/* ... and 5 an hour */
#define CODE_PHONE_PER_DAY 10		/* per registered phone */
#define CHALLENGES_PER_HOUR 20		/* per application */

/* ---- schemas ------------------------------------------------------------ */

/* sms-code and possession-challenges take an empty object. */
const ch_schema_t api_verification_empty_schema = {
	.fields = NULL,
	.nfields = 0,
	.size = 0,
};

struct verify_input {
	const char *code;
};

static const ch_field_t verify_fields[] = {
	{ .name = "code", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 64, .check = ch_check_sms_code,
	  .offset = offsetof(struct verify_input, code) },
};

const ch_schema_t api_verification_schema =
    CH_SCHEMA(verify_fields, struct verify_input);

struct possession_input {
	ch_int_t challenge_id;
	const char *signature;
};

static const ch_field_t possession_fields[] = {
	{ .name = "challenge_id", .type = CH_F_INT, .flags = CH_F_REQUIRED,
	  .min = 1, .max = 999999999999999999LL,
	  .offset = offsetof(struct possession_input, challenge_id) },
	{ .name = "signature", .type = CH_F_STRING, .flags = CH_F_REQUIRED,
	  .min = 4, .max = CH_VERIFY_SIGNATURE_MAX_CHARS,
	  .check = ch_check_base64,
	  .offset = offsetof(struct possession_input, signature) },
};

const ch_schema_t api_possession_schema =
    CH_SCHEMA(possession_fields, struct possession_input);

/* ---- the application and what it owes ----------------------------------- */

/*
 * Opens the request's transaction and the subject of the path for purpose
 * (ch_verify_open()).  1 to go on; 0 with the 404 or 409 answered and the
 * transaction over; -1 after an error.
 */
static int
open_subject(ch_req_t *req, ch_verify_purpose_t purpose,
    ch_verify_subject_t *s)
{
	const char *detail;
	long long id;

	if (api_app_path_id(req, &id) != 0)
		return 0;
	switch (ch_verify_open(&req->ctx, id, purpose, s, &detail)) {
	case CH_VERIFY_OK:
		return 1;
	case CH_VERIFY_NOT_FOUND:
		api_app_not_found(req);
		return 0;
	case CH_VERIFY_CONFLICT:
		ch_db_rollback(req->ctx.db);
		api_app_refuse_state(req, s->app.status, detail);
		return 0;
	default:
		return -1;
	}
}

/* Counts the request against limits (certhall/ratelimit.h); a refusal
 * rolls back, so only work done counts.  1 to go on, 0 answered, -1. */
static int
limited(ch_req_t *req, const ch_rate_limit_t *limits, size_t n)
{
	switch (ch_rate_check(req, limits, n)) {
	case 0:
		return 1;
	case 1:
		return ch_db_rollback(req->ctx.db) == 0 ? 0 : -1;
	default:
		return -1;
	}
}

/*
 * The end of a try: after CH_VERIFY_OK the application as it now is (the
 * fact recorded), after CH_VERIFY_REFUSED the 422 naming the field; both
 * committed.
 */
static int
tried(ch_req_t *req, const ch_verify_subject_t *s, ch_verify_result_t r,
    const ch_app_refusal_t *why)
{
	switch (r) {
	case CH_VERIFY_OK:
		if (api_app_respond(req, 200, s->app.id) != 0 ||
		    ch_db_commit(req->ctx.db) != 0)
			return -1;
		return 0;
	case CH_VERIFY_REFUSED:
		if (ch_db_commit(req->ctx.db) != 0)
			return -1;
		api_refuse_field(req, why);
		return 0;
	default:
		return -1;
	}
}

/* ---- POST /api/v1/applications/{id}/verification/sms-code --------------- */

/* Counted in this order always (certhall/ratelimit.h). */
static int
code_limited(ch_req_t *req, const ch_verify_subject_t *s)
{
	const char *app = ch_psprintf(req->ctx.pool, "verify:app:%s", s->idbuf);
	const ch_rate_limit_t limits[] = {
		{ app, CODE_RESEND_SECONDS, 1,
		  "a code was sent for this application less than a minute "
		  "ago" },
		{ app, 3600, CODE_APP_PER_HOUR,
		  "this application has had its 5 codes for this hour" },
		{ ch_psprintf(req->ctx.pool, "verify:phone:%s", s->phone), 86400,
		  CODE_PHONE_PER_DAY,
		  "the registered phone has had its 10 codes for today" },
	};

	return limited(req, limits, sizeof limits / sizeof limits[0]);
}

int
api_verification_code_create(ch_req_t *req)
{
	ch_verify_subject_t s;
	ch_verify_sent_t sent;
	int rc;

	if ((rc = open_subject(req, CH_VERIFY_SEND_CODE, &s)) <= 0 ||
	    (rc = code_limited(req, &s)) <= 0)
		return rc;
	if (ch_verify_code_send(&req->ctx, &s, &sent) != 0 ||
	    ch_db_commit(req->ctx.db) != 0)
		return -1;
	ch_resp_json(req, 202, json_pack("{s:s, s:s}", "sent_to", sent.sent_to,
	    "expires_at", sent.expires_at));
	return 0;
}

/* ---- POST /api/v1/applications/{id}/verification ------------------------ */

int
api_verification_create(ch_req_t *req)
{
	const struct verify_input *in = req->input;
	ch_verify_subject_t s;
	ch_app_refusal_t why = { 0 };
	int rc;

	if ((rc = open_subject(req, CH_VERIFY_CHECK_CODE, &s)) <= 0)
		return rc;
	return tried(req, &s, ch_verify_code_check(&req->ctx, &s, in->code,
	    &why), &why);
}

/* ---- POST /api/v1/applications/{id}/possession-challenges --------------- */

int
api_possession_challenge_create(ch_req_t *req)
{
	ch_verify_subject_t s;
	ch_verify_challenge_t c;
	ch_rate_limit_t limit;
	int rc;

	if ((rc = open_subject(req, CH_VERIFY_POSSESSION, &s)) <= 0)
		return rc;
	limit = (ch_rate_limit_t){ ch_psprintf(req->ctx.pool,
	    "possession:app:%s", s.idbuf), 3600, CHALLENGES_PER_HOUR,
	    "this application has had its 20 challenges for this hour" };
	if ((rc = limited(req, &limit, 1)) <= 0)
		return rc;
	if (ch_verify_challenge_new(&req->ctx, &s, &c) != 0)
		return -1;
	ch_resp_json(req, 201, json_pack("{s:I, s:s, s:s, s:s}",
	    "challenge_id", (json_int_t)c.id, "to_sign", c.to_sign,
	    "algorithm", c.algorithm, "expires_at", c.expires_at));
	return ch_db_commit(req->ctx.db);
}

/* ---- POST /api/v1/applications/{id}/possession -------------------------- */

int
api_possession_create(ch_req_t *req)
{
	const struct possession_input *in = req->input;
	ch_verify_subject_t s;
	ch_app_refusal_t why = { 0 };
	int rc;

	if ((rc = open_subject(req, CH_VERIFY_POSSESSION, &s)) <= 0)
		return rc;
	return tried(req, &s, ch_verify_possession(&req->ctx, &s,
	    in->challenge_id.v, in->signature, &why), &why);
}
