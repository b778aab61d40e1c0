/*
 * USB keys at the personalisation station: binding, the sealed SO PIN,
 * the user PIN by SMS, personalised (certhall/domain/usbkey.h).
 */
#include "certhall/domain/usbkey.h"

#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/clients/sms.h"
#include "certhall/codec/box.h"
#include "certhall/domain/fees.h"
#include "certhall/domain/people.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

const char *const ch_usbkey_status_codes[] = {
	[CH_USBKEY_INITIALISED] = "initialised",
	[CH_USBKEY_REQUESTED] = "requested",
	[CH_USBKEY_PERSONALISED] = "personalised",
	[CH_USBKEY_SHIPPED] = "shipped",
	[CH_USBKEY_DELIVERED] = "delivered",
	[CH_USBKEY_STATUS__MAX] = NULL,
};

/* At the station: bound, maybe with its key request sent, not yet
 * personalised. */
#define AT_STATION(s) ((s) == CH_USBKEY_INITIALISED || (s) == CH_USBKEY_REQUESTED)

/* The SMS that carries the user PIN (template usb_key_pin).  Its text and
 * parameters are scrubbed from the outbox once sent (sql/0014). */
#define TEXT_USER_PIN CH_SMS_SIGNATURE "您的数字证书USB Key（序列号%s）" \
	"已制作完成，初始PIN码为%s。请妥善保管、勿告知他人，" \
	"收到USB Key后请及时修改PIN码。"
#define PARAMS_USER_PIN "{\"serial\":\"%s\",\"pin\":\"%s\"}"

/* ---- statements ------------------------------------------------------- */

#define USBKEY_JSON \
	"json_build_object('serial', k.serial," \
	" 'application_id', k.application_id, 'status', k.status," \
	" 'operator_id', k.operator_id, 'certificate_id', k.certificate_id," \
	" 'initialised_at', " CH_SQL_TIME("k.initialised_at") "," \
	" 'pin_sent_at', " CH_SQL_TIME("k.pin_sent_at") "," \
	" 'personalised_at', " CH_SQL_TIME("k.personalised_at") ")"

static const ch_stmt_t stmt_get = {
	.name = "usbkey_get",
	.sql = "SELECT " USBKEY_JSON "::text FROM usb_key k WHERE k.serial = $1",
	.nparams = 1,
	.readonly = true,
};

/* One row more than the page, to know whether another follows.  Serials
 * compare bytewise (COLLATE "C"), so the order and the cursor agree
 * whatever the database's collation. */
static const ch_stmt_t stmt_list = {
	.name = "usbkey_list",
	.sql = "WITH page AS ("
	       "  SELECT k.serial COLLATE \"C\" AS serial, " USBKEY_JSON " AS j"
	       "    FROM usb_key k"
	       "   WHERE ($1::text IS NULL OR k.status = $1)"
	       "     AND ($2::bigint IS NULL OR k.application_id = $2)"
	       "     AND ($3::text IS NULL OR k.serial COLLATE \"C\" > $3)"
	       "   ORDER BY 1 LIMIT $4::int + 1),"
	       " shown AS (SELECT * FROM page ORDER BY serial LIMIT $4::int)"
	       " SELECT json_build_object("
	       "  'items', COALESCE((SELECT json_agg(j ORDER BY serial)"
	       "                     FROM shown), '[]'::json),"
	       "  'next_cursor', CASE WHEN (SELECT count(*) FROM page) > $4::int"
	       "   THEN (SELECT max(serial) FROM shown) END)::text",
	.nparams = 4,
	.readonly = true,
};

/* Binding decides on: the application (locked), its signing job, the key
 * it has open, and what the serial is bound to already. */
static const ch_stmt_t stmt_bind_facts = {
	.name = "usbkey_bind_facts",
	.sql = "SELECT a.status, a.business_type, j.status, j.csr IS NOT NULL,"
	       " (SELECT o.serial FROM usb_key o WHERE o.application_id = a.id"
	       "   AND o.status IN ('initialised', 'requested', 'personalised')"
	       "   LIMIT 1),"
	       " s.application_id, s.status"
	       " FROM application a"
	       " LEFT JOIN signing_job j ON j.application_id = a.id"
	       " LEFT JOIN usb_key s ON s.serial = $2"
	       " WHERE a.id = $1 FOR UPDATE OF a",
	.nparams = 2,
};

static const ch_stmt_t stmt_bind = {
	.name = "usbkey_bind",
	.sql = "INSERT INTO usb_key (serial, application_id, operator_id)"
	       " VALUES ($1, $2, $3)",
	.nparams = 3,
};

/* What the SO PIN request decides on: the key, and whether a signer is up
 * ($2 seconds). */
static const ch_stmt_t stmt_so_pin_facts = {
	.name = "usbkey_so_pin_facts",
	.sql = "SELECT k.status, EXISTS (SELECT 1 FROM signer_status s"
	       "  WHERE s.state = 'ok'"
	       "    AND s.heartbeat_at > now() - $2::int * interval '1 second')"
	       " FROM usb_key k WHERE k.serial = $1",
	.nparams = 2,
	.readonly = true,
};

/* The request, and the signer's wake-up at commit. */
static const ch_stmt_t stmt_so_pin_request = {
	.name = "usbkey_so_pin_request",
	.sql = "WITH r AS (INSERT INTO token_request (kind, subject,"
	       "   requester_key, requested_by, expires_at)"
	       "  VALUES ('so_pin', $1, decode($2, 'hex'), $3,"
	       "   now() + $4::int * interval '1 second') RETURNING id)"
	       " SELECT id, pg_notify('token_request', id::text) FROM r",
	.nparams = 4,
};

/* Takes the answer if there is one: deleting is reading, so it is handed
 * out once. */
static const ch_stmt_t stmt_so_pin_take = {
	.name = "usbkey_so_pin_take",
	.sql = "DELETE FROM token_request WHERE id = $1"
	       "  AND (sealed IS NOT NULL OR error IS NOT NULL)"
	       " RETURNING encode(sealed, 'hex'), error",
	.nparams = 1,
};

/* The wait is over: the row goes, answered or not. */
static const ch_stmt_t stmt_so_pin_drop = {
	.name = "usbkey_so_pin_drop",
	.sql = "DELETE FROM token_request WHERE id = $1"
	       " RETURNING encode(sealed, 'hex'), error",
	.nparams = 1,
};

/* The user PIN and personalised steps decide on: the key (locked), its
 * application's handler phone, the valid certificate issued for this key,
 * and whether the PIN was handed over. */
static const ch_stmt_t stmt_key_facts = {
	.name = "usbkey_key_facts",
	.sql = "SELECT k.status, k.application_id, a.handler_phone,"
	       " (SELECT c.id FROM certificate c"
	       "   WHERE c.application_id = k.application_id"
	       "     AND c.usb_key_serial = k.serial AND c.status = 'valid'"
	       "   ORDER BY c.id DESC LIMIT 1),"
	       " k.pin_sent_at IS NOT NULL, k.certificate_id"
	       " FROM usb_key k JOIN application a ON a.id = k.application_id"
	       " WHERE k.serial = $1 FOR UPDATE OF k",
	.nparams = 1,
};

/* The SMS with the PIN (scrubbed once sent, sql/0014) and pin_sent_at. */
static const ch_stmt_t stmt_user_pin = {
	.name = "usbkey_user_pin",
	.sql = "WITH o AS (INSERT INTO outbox (channel, recipient, template,"
	       "   params, body, scrub_after_send)"
	       "  VALUES ('sms', $1, 'usb_key_pin', $2::jsonb, $3, true)"
	       "  RETURNING id),"
	       " k AS (UPDATE usb_key SET pin_sent_at = now()"
	       "  WHERE serial = $4 RETURNING serial)"
	       " SELECT o.id, pg_notify('outbox', '') FROM o, k",
	.nparams = 4,
};

static const ch_stmt_t stmt_personalised = {
	.name = "usbkey_personalised",
	.sql = "UPDATE usb_key SET status = 'personalised',"
	       " personalised_at = now(), certificate_id = $2"
	       " WHERE serial = $1",
	.nparams = 2,
};

/* ---- checks ----------------------------------------------------------- */

int
ch_usbkey_check_serial(const char *s, const char **why)
{
	size_t n = strlen(s);

	*why = "must be 4 to 16 characters of A-Z, a-z, 0-9, '_' and '-' "
	    "(the key's PKCS#11 serial number)";
	if (n < CH_USBKEY_SERIAL_MIN || n > CH_USBKEY_SERIAL_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return -1;
	}
	return 0;
}

int
ch_usbkey_check_pin(const char *s, const char **why)
{
	size_t n = strlen(s);

	*why = "must be 6 to 8 digits";
	if (n < CH_USBKEY_PIN_MIN || n > CH_USBKEY_PIN_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	return 0;
}

static ch_usbkey_status_t
status_parse(const char *code)
{
	int i = ch_code_index(ch_usbkey_status_codes, code);

	return i < 0 ? CH_USBKEY_STATUS__MAX : (ch_usbkey_status_t)i;
}

/* Fills *why with detail and the key's status (copied into the pool; NULL
 * for none) and returns r. */
static ch_usbkey_result_t
why_set(ch_ctx_t *ctx, ch_usbkey_result_t r, ch_usbkey_why_t *why,
    const char *key_status, const char *detail)
{
	why->key_status = key_status != NULL ? ch_pstrdup(ctx->pool,
	    key_status) : NULL;
	why->detail = detail;
	return r;
}

/* Ends a refusal inside the transaction: rolls it back, then why_set(). */
static ch_usbkey_result_t
refuse(ch_ctx_t *ctx, ch_usbkey_result_t r, ch_usbkey_why_t *why,
    const char *key_status, const char *detail)
{
	ch_db_rollback(ctx->db);
	return why_set(ctx, r, why, key_status, detail);
}

/* The same for a refusal about the application, in status app_status. */
static ch_usbkey_result_t
refuse_app(ch_ctx_t *ctx, ch_usbkey_why_t *why, const char *app_status,
    const char *detail)
{
	refuse(ctx, CH_USBKEY_NOT_WAITING, why, NULL, detail);
	why->app_status = ch_pstrdup(ctx->pool, app_status);
	return CH_USBKEY_NOT_WAITING;
}

/* Commits; CH_USBKEY_OK or CH_USBKEY_ERROR. */
static ch_usbkey_result_t
commit(ch_ctx_t *ctx)
{
	return ch_db_commit(ctx->db) == 0 ? CH_USBKEY_OK : CH_USBKEY_ERROR;
}

/* ---- reading ---------------------------------------------------------- */

const char *
ch_usbkey_json(ch_ctx_t *ctx, const char *serial, int *found)
{
	const char *params[1] = { serial };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_get, params);

	if (res == NULL) {
		*found = -1;
		return NULL;
	}
	*found = PQntuples(res) == 1;
	return *found ? PQgetvalue(res, 0, 0) : NULL;
}

const char *
ch_usbkey_list_json(ch_ctx_t *ctx, const ch_usbkey_list_t *q)
{
	char app[24], limit[24];
	const char *params[4];
	PGresult *res;

	snprintf(app, sizeof app, "%lld", q->app_id);
	snprintf(limit, sizeof limit, "%lld", q->limit);
	params[0] = q->status;
	params[1] = q->app_id > 0 ? app : NULL;
	params[2] = q->after;
	params[3] = limit;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_list, params);
	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	return PQgetvalue(res, 0, 0);
}

/* ---- bind ------------------------------------------------------------- */

ch_usbkey_result_t
ch_usbkey_bind(ch_ctx_t *ctx, const char *serial, long long app_id,
    ch_usbkey_why_t *why)
{
	char appbuf[24], staffbuf[24];
	const char *params[3];
	ch_business_t business;
	PGresult *res;

	memset(why, 0, sizeof *why);
	snprintf(appbuf, sizeof appbuf, "%lld", app_id);
	snprintf(staffbuf, sizeof staffbuf, "%lld", ctx->principal.id);
	params[0] = appbuf;
	params[1] = serial;
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_bind_facts,
	    params)) == NULL)
		return CH_USBKEY_ERROR;
	if (PQntuples(res) != 1)
		return refuse(ctx, CH_USBKEY_NOT_FOUND, why, NULL,
		    "no application with this id");
	business = (ch_business_t)ch_code_index(ch_business_codes,
	    PQgetvalue(res, 0, 1));
	if (strcmp(PQgetvalue(res, 0, 0), "issuing") != 0)
		return refuse_app(ctx, why, PQgetvalue(res, 0, 0),
		    "only an application that is issuing waits for a USB "
		    "key");
	if (business != CH_BIZ_NEW && business != CH_BIZ_REISSUE)
		return refuse_app(ctx, why, PQgetvalue(res, 0, 0),
		    "only new and reissue business get a new USB key; renew "
		    "and change use the key the handler holds");
	if (PQgetisnull(res, 0, 2) || strcmp(PQgetvalue(res, 0, 2),
	    "queued") != 0 || *PQgetvalue(res, 0, 3) == 't')
		return refuse_app(ctx, why, PQgetvalue(res, 0, 0),
		    "the signing job already has its key request (or is no "
		    "longer queued)");
	if (!PQgetisnull(res, 0, 5)) {
		/* The serial is bound: to this application, at the station,
		 * is the station starting over. */
		if (strcmp(PQgetvalue(res, 0, 5), appbuf) == 0 &&
		    AT_STATION(status_parse(PQgetvalue(res, 0, 6)))) {
			ch_db_rollback(ctx->db);
			return CH_USBKEY_SAME;
		}
		return refuse(ctx, CH_USBKEY_TAKEN, why, PQgetvalue(res, 0, 6),
		    "this USB key is bound already (a key serves one "
		    "application)");
	}
	if (!PQgetisnull(res, 0, 4))
		return refuse(ctx, CH_USBKEY_TAKEN, why, NULL,
		    ch_psprintf(ctx->pool, "the application has USB key %s "
		    "already", PQgetvalue(res, 0, 4)));

	params[0] = serial;
	params[1] = appbuf;
	params[2] = staffbuf;
	if (ch_db_queue(ctx->db, ctx->pool, &stmt_bind, params) != 0 ||
	    ch_audit(ctx, "usb_key.bound", "usb_key", serial,
	    json_pack("{s:I}", "application_id", (json_int_t)app_id)) != 0)
		return CH_USBKEY_ERROR;
	if (ch_db_commit(ctx->db) != 0) {
		/* Bound meanwhile to another application (the primary key). */
		if (strcmp(ch_db_sqlstate(ctx->db), "23505") == 0)
			return refuse(ctx, CH_USBKEY_TAKEN, why, NULL,
			    "this USB key is bound already (a key serves one "
			    "application)");
		return CH_USBKEY_ERROR;
	}
	return CH_USBKEY_OK;
}

/* ---- the SO PIN ------------------------------------------------------- */

/* Sleeps ms milliseconds (a signal may cut it short: the caller's clock
 * decides). */
static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A row taken (answered or dropped): 1 with *sealed_b64 set, 0 when the
 * signer answered with an error or not at all (*why), -1 on a bad row. */
static int
answer_of(ch_ctx_t *ctx, PGresult *res, const char **sealed_b64,
    ch_usbkey_why_t *why)
{
	unsigned char box[CH_BOX_MAX_BYTES];
	const char *hex = PQgetvalue(res, 0, 0);
	size_t n = strlen(hex) / 2;
	char *b64;

	if (PQgetisnull(res, 0, 0)) {
		why->detail = PQgetisnull(res, 0, 1)
		    ? "no signer answered in time; retry later"
		    : ch_psprintf(ctx->pool, "the signer could not answer: %s",
		    PQgetvalue(res, 0, 1));
		return 0;
	}
	if (n == 0 || n > sizeof box || ch_unhex(hex, box, n) != 0) {
		ch_error("token request: the signer's answer is not a sealed "
		    "box (%zu bytes)", n);
		return -1;
	}
	b64 = ch_palloc(ctx->pool, 4 * ((n + 2) / 3) + 1);
	ch_base64(box, n, b64);
	*sealed_b64 = b64;
	return 1;
}

ch_usbkey_result_t
ch_usbkey_so_pin(ch_ctx_t *ctx, const char *serial,
    const unsigned char *requester_key, size_t spki_len,
    const char **sealed_b64, ch_usbkey_why_t *why)
{
	unsigned char box[CH_BOX_MAX_BYTES], fp[CH_SHA256_LEN];
	char fresh[16], ttl[16], staff[24], fphex[2 * CH_SHA256_LEN + 1];
	const char *params[4], *bad, *reqid;
	ch_usbkey_status_t st;
	long long deadline;
	long wait = 10;
	size_t boxlen;
	char *hex;
	PGresult *res;
	int got;

	memset(why, 0, sizeof *why);
	*sealed_b64 = NULL;
	snprintf(fresh, sizeof fresh, "%d", CH_USBKEY_SIGNER_FRESH_S);
	params[0] = serial;
	params[1] = fresh;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_so_pin_facts, params);
	if (res == NULL)
		return CH_USBKEY_ERROR;
	if (PQntuples(res) != 1)
		return CH_USBKEY_NOT_FOUND;
	st = status_parse(PQgetvalue(res, 0, 0));
	if (!AT_STATION(st))
		return why_set(ctx, CH_USBKEY_WRONG_STATUS, why,
		    PQgetvalue(res, 0, 0), "the SO PIN is handed out only "
		    "while the key is at the station (initialised or "
		    "requested)");
	/* The key is checked as the signer will use it: by sealing a byte
	 * to it. */
	if (ch_box_seal(requester_key, spki_len, (const unsigned char *)"x", 1,
	    box, sizeof box, &boxlen, &bad) != 0) {
		why->detail = bad;
		return CH_USBKEY_BAD_KEY;
	}
	if (*PQgetvalue(res, 0, 1) != 't') {
		why->detail = "no signer is up; retry later";
		return CH_USBKEY_NO_SIGNER;
	}

	hex = ch_palloc(ctx->pool, 2 * spki_len + 1);
	ch_hex(requester_key, spki_len, hex);
	ch_sha256(requester_key, spki_len, fp);
	ch_hex(fp, sizeof fp, fphex);
	snprintf(staff, sizeof staff, "%lld", ctx->principal.id);
	snprintf(ttl, sizeof ttl, "%d", CH_USBKEY_SO_PIN_TTL_S);
	params[0] = serial;
	params[1] = hex;
	params[2] = ctx->principal.kind == CH_ACTOR_STAFF ? staff : NULL;
	params[3] = ttl;
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_so_pin_request,
	    params)) == NULL || PQntuples(res) != 1)
		return CH_USBKEY_ERROR;
	reqid = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	if (ch_audit(ctx, "usb_key.so_pin_requested", "usb_key", serial,
	    json_pack("{s:s,s:s}", "token_request", reqid,
	    "requester_key_sha256", fphex)) != 0 || ch_db_commit(ctx->db) != 0)
		return CH_USBKEY_ERROR;

	/* Polled rather than LISTENed for: see the header. */
	params[0] = reqid;
	deadline = ch_monotonic_ms() + CH_USBKEY_SO_PIN_WAIT_MS;
	for (;;) {
		bool last = ch_monotonic_ms() >= deadline;

		res = ch_db_exec(ctx->db, ctx->pool, last ? &stmt_so_pin_drop
		    : &stmt_so_pin_take, params);
		if (res == NULL)
			return CH_USBKEY_ERROR;	/* the row expires */
		if (PQntuples(res) == 1 || last)
			break;
		nap(wait);
		wait = wait * 2 > 250 ? 250 : wait * 2;
	}
	got = PQntuples(res) == 1 ? answer_of(ctx, res, sealed_b64, why) : 0;
	if (got == 0 && why->detail == NULL)
		why->detail = "no signer answered in time; retry later";
	if (got < 0)
		return CH_USBKEY_ERROR;
	if (ch_audit(ctx, got ? "usb_key.so_pin_delivered"
	    : "usb_key.so_pin_unanswered", "usb_key", serial,
	    json_pack("{s:s}", "token_request", reqid)) != 0)
		return CH_USBKEY_ERROR;
	return got ? CH_USBKEY_OK : CH_USBKEY_NO_SIGNER;
}

/* ---- the user PIN and personalised ------------------------------------- */

/* Opens the transaction and reads the key's facts (stmt_key_facts), the
 * key row locked.  The result, or NULL with *r set (NOT_FOUND or ERROR;
 * the transaction then rolled back). */
static PGresult *
key_facts(ch_ctx_t *ctx, const char *serial, ch_usbkey_result_t *r,
    ch_usbkey_why_t *why)
{
	const char *params[1] = { serial };
	PGresult *res;

	memset(why, 0, sizeof *why);
	*r = CH_USBKEY_ERROR;
	if (ch_db_begin(ctx->db) != 0 ||
	    (res = ch_db_exec(ctx->db, ctx->pool, &stmt_key_facts,
	    params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1) {
		*r = refuse(ctx, CH_USBKEY_NOT_FOUND, why, NULL,
		    "no USB key with this serial");
		return NULL;
	}
	return res;
}

ch_usbkey_result_t
ch_usbkey_user_pin(ch_ctx_t *ctx, const char *serial, const char *pin,
    const char **sent_to, ch_usbkey_why_t *why)
{
	const char *params[4], *phone;
	char masked[32], *text, *pjson;
	ch_usbkey_result_t r;
	PGresult *res;
	size_t n;

	*sent_to = NULL;
	if ((res = key_facts(ctx, serial, &r, why)) == NULL)
		return r;
	if (!AT_STATION(status_parse(PQgetvalue(res, 0, 0))))
		return refuse(ctx, CH_USBKEY_WRONG_STATUS, why,
		    PQgetvalue(res, 0, 0), "the key is personalised already");
	if (PQgetisnull(res, 0, 3))
		return refuse(ctx, CH_USBKEY_NOT_ISSUED, why,
		    PQgetvalue(res, 0, 0), "no certificate has been issued "
		    "for this key yet");
	if (PQgetisnull(res, 0, 2))
		return refuse(ctx, CH_USBKEY_NO_PHONE, why,
		    PQgetvalue(res, 0, 0), "the application has no handler "
		    "phone to send the PIN to");
	phone = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));

	/* The PIN is in the row's text and parameters (a template-based
	 * provider needs it there) and nowhere else: these copies are wiped
	 * once sent, and the sender scrubs the row.  serial and pin are
	 * checked tokens ([A-Za-z0-9_-], digits): nothing to escape. */
	n = strlen(TEXT_USER_PIN) + sizeof PARAMS_USER_PIN +
	    2 * (strlen(serial) + strlen(pin));
	text = ch_xmalloc(n);
	pjson = text + strlen(TEXT_USER_PIN) + strlen(serial) + strlen(pin);
	snprintf(text, (size_t)(pjson - text), TEXT_USER_PIN, serial, pin);
	snprintf(pjson, n - (size_t)(pjson - text), PARAMS_USER_PIN, serial,
	    pin);
	params[0] = phone;
	params[1] = pjson;
	params[2] = text;
	params[3] = serial;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_user_pin, params);
	OPENSSL_cleanse(text, n);
	free(text);
	if (res == NULL || PQntuples(res) != 1)
		return CH_USBKEY_ERROR;
	ch_mask_phone(phone, masked);
	if (ch_audit(ctx, "usb_key.user_pin_sent", "usb_key", serial,
	    json_pack("{s:s,s:s}", "sent_to", masked, "outbox_id",
	    PQgetvalue(res, 0, 0))) != 0)
		return CH_USBKEY_ERROR;
	if ((r = commit(ctx)) == CH_USBKEY_OK)
		*sent_to = ch_pstrdup(ctx->pool, masked);
	return r;
}

ch_usbkey_result_t
ch_usbkey_personalised(ch_ctx_t *ctx, const char *serial,
    ch_usbkey_why_t *why)
{
	const char *params[2], *cert;
	ch_usbkey_status_t st;
	ch_usbkey_result_t r;
	PGresult *res;

	if ((res = key_facts(ctx, serial, &r, why)) == NULL)
		return r;
	st = status_parse(PQgetvalue(res, 0, 0));
	cert = PQgetisnull(res, 0, 3) ? NULL : ch_pstrdup(ctx->pool,
	    PQgetvalue(res, 0, 3));
	if (st == CH_USBKEY_PERSONALISED && cert != NULL &&
	    strcmp(cert, PQgetvalue(res, 0, 5)) == 0) {
		ch_db_rollback(ctx->db);	/* said twice: nothing to do */
		return CH_USBKEY_OK;
	}
	if (!AT_STATION(st))
		return refuse(ctx, CH_USBKEY_WRONG_STATUS, why,
		    PQgetvalue(res, 0, 0), "the key has left the station");
	if (cert == NULL)
		return refuse(ctx, CH_USBKEY_NOT_ISSUED, why,
		    PQgetvalue(res, 0, 0), "no certificate has been issued "
		    "for this key yet");
	if (*PQgetvalue(res, 0, 4) != 't')
		return refuse(ctx, CH_USBKEY_PIN_NOT_SENT, why,
		    PQgetvalue(res, 0, 0), "the user PIN has not been handed "
		    "over (POST .../user-pin first)");
	params[0] = serial;
	params[1] = cert;
	if (ch_db_queue(ctx->db, ctx->pool, &stmt_personalised, params) != 0 ||
	    ch_audit(ctx, "usb_key.personalised", "usb_key", serial,
	    json_pack("{s:s,s:s}", "certificate_id", cert, "application_id",
	    PQgetvalue(res, 0, 1))) != 0)
		return CH_USBKEY_ERROR;
	return commit(ctx);
}
