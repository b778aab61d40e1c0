/*
 * Shipping the USB key and 本人签收 (certhall/domain/shipment.h).
 */
#include "certhall/domain/shipment.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/domain/workflow.h"
#include "certhall/store/audit.h"
#include "certhall/store/db.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE "【四川CA】"
#define TEXT_SHIPPED SIGNATURE "您的数字证书申请（编号%s）的USB Key已寄出，" \
	"承运商%s，运单号%s。请经办人本人签收（他人代收须出示经办人授权委托书）。"
#define TEXT_COMPLETED SIGNATURE "您的数字证书申请（编号%s）的USB Key已由%s签收，" \
	"业务已办结。如非本人签收，请致电400-028-1130。"

/* The Shipment object of "shipment s" (docs/CONTRACT.md). */
#define SQL_SHIPMENT_JSON \
	"json_build_object('application_id', s.application_id," \
	" 'usb_key_serial', s.usb_key_serial, 'carrier', s.carrier," \
	" 'tracking_no', s.tracking_no, 'via_courier', s.via_courier," \
	" 'shipped_at', " CH_SQL_TIME("s.shipped_at") "," \
	" 'status', CASE WHEN s.delivered_at IS NULL THEN 'in_transit'" \
	"   ELSE 'delivered' END," \
	" 'delivered_at', " CH_SQL_TIME("s.delivered_at") "," \
	" 'source', s.source, 'signed_by_name', s.signed_by_name," \
	" 'check_kind', s.check_kind, 'authorisation', s.authorisation)"

/* The key $2 as application $1 sees it, and where the parcel goes:
 * 0 key of this application, 1 key status (NULL: no such key),
 * 2 recipient, 3 phone, 4 address. */
static const ch_stmt_t stmt_key = {
	.name = "ship_key",
	.sql = "SELECT k.application_id = a.id, k.status,"
	       "  COALESCE(a.delivery->>'recipient', a.handler_name),"
	       "  COALESCE(a.delivery->>'phone', a.handler_phone),"
	       "  concat_ws(' ', a.delivery->>'province', a.delivery->>'city',"
	       "   a.delivery->>'district', a.delivery->>'address')"
	       " FROM application a LEFT JOIN usb_key k ON k.serial = $2"
	       " WHERE a.id = $1",
	.nparams = 2,
	.readonly = true,
};

static const ch_stmt_t stmt_shipped_already = {
	.name = "ship_exists",
	.sql = "SELECT 1 FROM shipment WHERE application_id = $1",
	.nparams = 1,
	.readonly = true,
};

/* $1 application, $2 serial, $3 carrier, $4 tracking, $5 via courier,
 * $6 staff; no row when the tracking number is taken. */
static const ch_stmt_t stmt_insert = {
	.name = "ship_insert",
	.sql = "WITH s AS (INSERT INTO shipment (application_id, usb_key_serial,"
	       "   carrier, tracking_no, via_courier, shipped_by)"
	       "  VALUES ($1, $2, $3, $4, $5::boolean, $6::bigint)"
	       "  ON CONFLICT (carrier, tracking_no) DO NOTHING RETURNING *),"
	       " k AS (UPDATE usb_key SET status = 'shipped'"
	       "  WHERE serial = (SELECT usb_key_serial FROM s))"
	       " SELECT " SQL_SHIPMENT_JSON "::text FROM s",
	.nparams = 6,
};

/* The shipment and its application, locked: by application ($1) or by
 * carrier + tracking number ($2, $3).  0 application, 1 status,
 * 2 handler name, 3 delivered, 4 event id, 5 shipment JSON. */
static const ch_stmt_t stmt_find = {
	.name = "ship_find",
	.sql = "SELECT a.id, a.status, a.handler_name, s.delivered_at IS NOT NULL,"
	       "  s.courier_event_id, " SQL_SHIPMENT_JSON "::text"
	       " FROM shipment s JOIN application a ON a.id = s.application_id"
	       " WHERE CASE WHEN $1::bigint > 0 THEN s.application_id = $1::bigint"
	       "   ELSE s.carrier = $2 AND s.tracking_no = $3 END"
	       " FOR UPDATE OF a, s",
	.nparams = 3,
};

/* $1 application, $2 name, $3 check, $4 authorisation, $5 event id,
 * $6 courier's time, $7 staff. */
static const ch_stmt_t stmt_deliver = {
	.name = "ship_deliver",
	.sql = "WITH s AS (UPDATE shipment SET"
	       "   delivered_at = COALESCE($6::timestamptz, now()),"
	       "   source = CASE WHEN $5::text IS NULL THEN 'operator'"
	       "     ELSE 'courier' END,"
	       "   signed_by_name = $2, check_kind = $3, authorisation = $4,"
	       "   courier_event_id = $5, recorded_by = $7::bigint"
	       "  WHERE application_id = $1 AND delivered_at IS NULL RETURNING *),"
	       " k AS (UPDATE usb_key SET status = 'delivered'"
	       "  WHERE serial = (SELECT usb_key_serial FROM s))"
	       " SELECT " SQL_SHIPMENT_JSON "::text FROM s",
	.nparams = 7,
};

static const ch_stmt_t stmt_nonce = {
	.name = "ship_nonce",
	.sql = "INSERT INTO courier_nonce (nonce) VALUES ($1)"
	       " ON CONFLICT DO NOTHING RETURNING 1",
	.nparams = 1,
};

static const ch_stmt_t stmt_get = {
	.name = "ship_get",
	.sql = "SELECT " SQL_SHIPMENT_JSON "::text FROM shipment s"
	       " WHERE s.application_id = $1",
	.nparams = 1,
	.readonly = true,
};

static const char *
staff_id(ch_ctx_t *ctx)
{
	return ctx->principal.kind == CH_ACTOR_STAFF && ctx->principal.id > 0
	    ? ch_psprintf(ctx->pool, "%lld", ctx->principal.id) : NULL;
}

ch_ship_result_t
ch_ship_check(ch_ctx_t *ctx, const ch_app_t *a, const char *serial,
    ch_courier_parcel_t *parcel, const char **why)
{
	char idbuf[24];
	const char *params[2] = { idbuf, serial };
	PGresult *res;

	*why = NULL;
	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	if (a->business != CH_BIZ_NEW && a->business != CH_BIZ_REISSUE) {
		*why = "only new and reissue business ships a USB key; this "
		    "one is enabled online";
		return CH_SHIP_CONFLICT;
	}
	if (a->status != CH_ST_ISSUED) {
		*why = a->status == CH_ST_SHIPPED || a->status == CH_ST_DELIVERED
		    || a->status == CH_ST_COMPLETED
		    ? "the USB key was shipped already"
		    : "the application is not issued: its key is not ready";
		return CH_SHIP_CONFLICT;
	}
	if ((res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_shipped_already,
	    a->id)) == NULL)
		return CH_SHIP_ERROR;
	if (PQntuples(res) > 0) {
		*why = "the USB key was shipped already";
		return CH_SHIP_CONFLICT;
	}
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_key, params)) == NULL)
		return CH_SHIP_ERROR;
	if (PQntuples(res) != 1)
		return CH_SHIP_ERROR;	/* locked by the caller */
	parcel->reference = ch_psprintf(ctx->pool, "certhall-app-%s", idbuf);
	parcel->recipient = PQgetisnull(res, 0, 2) ? NULL
	    : ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 2));
	parcel->phone = PQgetisnull(res, 0, 3) ? NULL
	    : ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 3));
	parcel->address = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 4));
	if (PQgetisnull(res, 0, 1))
		*why = "usb_key_serial is no USB key the station bound";
	else if (PQgetvalue(res, 0, 0)[0] != 't')
		*why = "usb_key_serial is the USB key of another application";
	else if (strcmp(PQgetvalue(res, 0, 1), "personalised") != 0)
		*why = ch_psprintf(ctx->pool, "usb_key_serial is this "
		    "application's USB key but it is %s, not personalised",
		    PQgetvalue(res, 0, 1));
	return *why != NULL ? CH_SHIP_BAD_KEY : CH_SHIP_OK;
}

ch_ship_result_t
ch_ship_record(ch_ctx_t *ctx, const ch_app_t *a, const ch_ship_t *s,
    const char **json)
{
	char idbuf[24];
	const char *params[6] = { idbuf, s->usb_key_serial, s->carrier,
	    s->tracking_no, s->via_courier ? "t" : "f", staff_id(ctx) };
	PGresult *res;

	snprintf(idbuf, sizeof idbuf, "%lld", a->id);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_insert, params)) == NULL)
		return CH_SHIP_ERROR;
	if (PQntuples(res) != 1)
		return CH_SHIP_TAKEN;
	*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	if (ch_wf_transition(ctx, a->id, CH_ST_BIT(CH_ST_ISSUED), CH_ST_SHIPPED,
	    NULL, json_pack("{s:s, s:s, s:s, s:b}", "usb_key_serial",
	    s->usb_key_serial, "carrier", s->carrier, "tracking_no",
	    s->tracking_no, "via_courier", s->via_courier), NULL) != CH_WF_OK)
		return CH_SHIP_ERROR;	/* locked and issued: cannot be illegal */
	if (ch_wf_notify(ctx, a->id, "usb_key_shipped", json_pack("{s:s, s:s, s:s}",
	    "id", idbuf, "carrier", s->carrier, "tracking_no", s->tracking_no),
	    ch_psprintf(ctx->pool, TEXT_SHIPPED, idbuf, s->carrier,
	    s->tracking_no)) != 0)
		return CH_SHIP_ERROR;
	return CH_SHIP_OK;
}

/* A name with the white space at either end cut off, in the pool. */
static char *
trimmed(ch_pool_t *pool, const char *s)
{
	const char *ws = " \t\r\n";
	size_t n;

	s += strspn(s, ws);
	n = strlen(s);
	while (n > 0 && strchr(ws, s[n - 1]) != NULL)
		n--;
	return ch_psprintf(pool, "%.*s", (int)n, s);
}

ch_ship_result_t
ch_ship_deliver(ch_ctx_t *ctx, long long app_id, const char *carrier,
    const char *tracking_no, const ch_delivery_t *d, const char **json,
    const char **why)
{
	char idbuf[24];
	const char *params[7];
	const char *name = trimmed(ctx->pool, d->signed_by_name);
	const char *handler;
	bool in_person;
	long long id;
	PGresult *res;

	*json = NULL;
	*why = NULL;
	snprintf(idbuf, sizeof idbuf, "%lld", app_id);
	params[0] = idbuf;
	params[1] = carrier;
	params[2] = tracking_no;
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_find, params)) == NULL)
		return CH_SHIP_ERROR;
	if (PQntuples(res) != 1)
		return CH_SHIP_NOT_FOUND;
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(idbuf, sizeof idbuf, "%lld", id);
	if (PQgetvalue(res, 0, 3)[0] == 't') {
		*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 5));
		if (d->courier_event_id != NULL)
			return CH_SHIP_DUPLICATE;
		*why = "the delivery was recorded already";
		return CH_SHIP_CONFLICT;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "shipped") != 0) {
		*why = "the application is not shipped";
		return CH_SHIP_CONFLICT;
	}
	handler = PQgetisnull(res, 0, 2) ? "" : trimmed(ctx->pool,
	    PQgetvalue(res, 0, 2));
	in_person = *name != '\0' && strcmp(name, handler) == 0;
	if (!in_person && d->authorisation == NULL) {
		*why = "signed_by_name is not the application's handler: 本人签收 "
		    "means the handler in person; someone else may sign only "
		    "with the handler's authorisation recorded (authorisation)";
		return CH_SHIP_NOT_HANDLER;
	}
	params[0] = idbuf;
	params[1] = name;
	params[2] = d->check_kind;
	params[3] = in_person ? NULL : d->authorisation;
	params[4] = d->courier_event_id;
	params[5] = d->delivered_at;
	params[6] = staff_id(ctx);
	if ((res = ch_db_exec(ctx->db, ctx->pool, &stmt_deliver, params)) == NULL
	    || PQntuples(res) != 1)
		return CH_SHIP_ERROR;	/* locked and undelivered */
	*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	if (ch_wf_transition(ctx, id, CH_ST_BIT(CH_ST_SHIPPED), CH_ST_DELIVERED,
	    NULL, json_pack("{s:s, s:s, s:b, s:s*}", "source",
	    d->courier_event_id != NULL ? "courier" : "operator", "check_kind",
	    d->check_kind, "in_person", in_person, "courier_event_id",
	    d->courier_event_id), NULL) != CH_WF_OK ||
	    ch_wf_transition(ctx, id, CH_ST_BIT(CH_ST_DELIVERED),
	    CH_ST_COMPLETED, NULL, NULL, NULL) != CH_WF_OK)
		return CH_SHIP_ERROR;
	if (ch_wf_notify(ctx, id, "usb_key_delivered", json_pack("{s:s, s:s}",
	    "id", idbuf, "signed_by", name), ch_psprintf(ctx->pool,
	    TEXT_COMPLETED, idbuf, name)) != 0)
		return CH_SHIP_ERROR;
	return CH_SHIP_OK;
}

int
ch_ship_nonce_use(ch_ctx_t *ctx, const char *nonce)
{
	const char *params[1] = { nonce };
	PGresult *res = ch_db_exec(ctx->db, ctx->pool, &stmt_nonce, params);

	if (res == NULL)
		return -1;
	return PQntuples(res) == 1 ? 1 : 0;
}

ch_ship_result_t
ch_ship_get(ch_ctx_t *ctx, long long app_id, const char **json)
{
	PGresult *res = ch_db_exec_id(ctx->db, ctx->pool, &stmt_get, app_id);

	if (res == NULL)
		return CH_SHIP_ERROR;
	if (PQntuples(res) != 1)
		return CH_SHIP_NOT_FOUND;
	*json = ch_pstrdup(ctx->pool, PQgetvalue(res, 0, 0));
	return CH_SHIP_OK;
}
