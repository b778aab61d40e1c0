/*
 * /api/v1/seals — e-seals (GB/T 38540 SES_Seal v4; issue 13;
 * certhall/domain/eseal.h; docs/CONTRACT.md "E-seals"):
 *
 *   GET /seals             own ones (staff: all); filters certificate_serial,
 *                          status, limit, cursor
 *   GET /seals/{id}        the Seal object: metadata and derived status
 *   GET /seals/{id}/der    the seal itself, DER of SESeal
 *
 * The DER goes out as application/octet-stream (no media type is
 * registered for GB/T 38540 seals), an attachment named "<esID>.esl",
 * the extension Chinese seal tools use.  A seal that is not the caller's
 * is as unknown as a missing one (404), and so is a malformed id.
 */
#include "api.h"
#include "certhall/base/validate.h"
#include "certhall/domain/certificate.h"
#include "certhall/domain/eseal.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX 100

static void
seal_not_found(ch_req_t *req)
{
	json_object_set_new(ch_problem(req, CH_P_NOT_FOUND,
	    "no seal with this id"), "parameter", json_string("id"));
}

/* The {id} of the path, or -1 with the 404 set. */
static long long
path_id(ch_req_t *req)
{
	long long id;

	if (ch_id_parse(ch_req_param(req, "id"), &id) != 0) {
		seal_not_found(req);
		return -1;
	}
	return id;
}

int
api_seal_get(ch_req_t *req)
{
	const char *json;
	long long id;

	if ((id = path_id(req)) < 0)
		return 0;
	switch (ch_eseal_load(&req->ctx, id, &json)) {
	case CH_ESEAL_FOUND:
		ch_resp_json_text(req, 200, json, strlen(json));
		return 0;
	case CH_ESEAL_NOT_FOUND:
		seal_not_found(req);
		return 0;
	default:
		return -1;
	}
}

int
api_seal_der(ch_req_t *req)
{
	const unsigned char *der;
	const char *es_id;
	size_t len;
	long long id;

	if ((id = path_id(req)) < 0)
		return 0;
	switch (ch_eseal_der(&req->ctx, id, &der, &len, &es_id)) {
	case CH_ESEAL_FOUND:
		ch_resp_raw(req, 200, "application/octet-stream",
		    (const char *)der, len);
		ch_resp_header(req, "Content-Disposition", ch_psprintf(
		    req->ctx.pool, "attachment; filename=\"%s.esl\"", es_id));
		return 0;
	case CH_ESEAL_NOT_FOUND:
		seal_not_found(req);
		return 0;
	default:
		return -1;
	}
}

/* GET /seals's query: the filter, and the serial's lowercase form. */
struct list_query {
	ch_eseal_filter_t f;
	char serial[41];
};

static int
serial_parse(const char *value, void *slot)
{
	return ch_cert_serial_parse(value, slot);
}

static const ch_qparam_t list_params[] = {
	{ .name = "certificate_serial", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct list_query, serial),
	  .parse = serial_parse,
	  .detail = "certificate_serial must be a certificate serial (16 to 40"
	  " hex digits)" },
	{ .name = "status", .kind = CH_Q_ENUM,
	  .offset = offsetof(struct list_query, f.status),
	  .values = ch_eseal_status_codes,
	  .detail = "status must be one of valid, revoked, expired,"
	  " not_yet_valid" },
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(struct list_query, f.limit),
	  .max = LIST_LIMIT_MAX },
	{ .name = "cursor", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct list_query, f.before),
	  .parse = api_cursor_parse,
	  .detail = "cursor must be a next_cursor this list returned" },
};

int
api_seal_list(ch_req_t *req)
{
	struct list_query q;
	const char *body;
	size_t len;

	memset(&q, 0, sizeof q);
	q.f.limit = LIST_LIMIT_DEFAULT;
	q.f.before = LLONG_MAX;
	if (ch_query_parse(req, list_params,
	    sizeof list_params / sizeof list_params[0],
	    "unknown query parameter; this list takes certificate_serial, status,"
	    " limit and cursor", &q) != 0)
		return 0;
	if (q.serial[0] != '\0')
		q.f.certificate_serial = q.serial;
	if ((body = ch_eseal_list(&req->ctx, &q.f, &len)) == NULL)
		return -1;
	ch_resp_json_text(req, 200, body, len);
	return 0;
}
