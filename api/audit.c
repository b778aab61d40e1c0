/*
 * GET /api/v1/audit-events?limit=&before_id=&action= — the audit log,
 * newest first, for admins (docs/CONTRACT.md).
 *
 * Keyset pagination: a page ends with next_before_id, the id to pass as
 * before_id for the next (older) page, or null when there is none; a page
 * is fetched with one row more than asked to know.  Writers mask personal
 * data before it reaches the log (certhall/auth.h), so rows are shown as
 * stored.
 */
#include "api.h"
#include "certhall/domain/people.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_LIMIT_DEFAULT 50
#define AUDIT_LIMIT_MAX 200
#define AUDIT_ACTION_MAX 64

static const ch_stmt_t stmt_page = {
	.name = "audit_page",
	.sql = "SELECT id, json_build_object('id', id,"
	       " 'at', " CH_SQL_TIME("at") ","
	       " 'actor_kind', actor_kind, 'actor_id', actor_id,"
	       " 'action', action, 'object_type', object_type,"
	       " 'object_id', object_id, 'client_addr', client_addr,"
	       " 'request_id', request_id, 'detail', detail)::text"
	       " FROM audit_event"
	       " WHERE id < $1 AND ($2::text IS NULL OR action = $2)"
	       " ORDER BY id DESC LIMIT $3",
	.nparams = 3,
	.readonly = true,
};

struct audit_query {
	long long limit;
	long long before_id;		/* LLONG_MAX: from the newest */
	const char *action;		/* NULL: every action */
};

/* An action filter: what an action can be, ^[a-z_]+(\.[a-z_]+)+$ (the
 * table's CHECK), so values need no percent-decoding.  Stores s in the
 * const char * at slot; 0, or -1 if s is not such an action. */
static int
action_parse(const char *s, void *slot)
{
	size_t n = strlen(s), dots = 0;

	if (n == 0 || n > AUDIT_ACTION_MAX || s[0] == '.' || s[n - 1] == '.')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return -1;
			dots++;
		} else if ((s[i] < 'a' || s[i] > 'z') && s[i] != '_') {
			return -1;
		}
	}
	if (dots == 0)
		return -1;
	*(const char **)slot = s;
	return 0;
}

static const ch_qparam_t audit_params[] = {
	{ .name = "limit", .kind = CH_Q_LIMIT,
	  .offset = offsetof(struct audit_query, limit),
	  .max = AUDIT_LIMIT_MAX },
	{ .name = "before_id", .kind = CH_Q_ID,
	  .offset = offsetof(struct audit_query, before_id) },
	{ .name = "action", .kind = CH_Q_TEXT,
	  .offset = offsetof(struct audit_query, action),
	  .parse = action_parse,
	  .detail = "action must be an audit action such as staff.created" },
};

/* Reads req->query into q; 0, or -1 with a 422 answer set. */
static int
parse_query(ch_req_t *req, struct audit_query *q)
{
	q->limit = AUDIT_LIMIT_DEFAULT;
	q->before_id = LLONG_MAX;
	q->action = NULL;
	return ch_query_parse(req, audit_params,
	    sizeof audit_params / sizeof audit_params[0],
	    "unknown query parameter; this operation takes "
	    "limit, before_id and action", q);
}

int
api_audit_list(ch_req_t *req)
{
	struct audit_query q;
	char before[24], limit[24];
	const char *params[3] = { before, NULL, limit };
	json_t *items, *next = NULL;
	PGresult *res;
	int n;

	if (parse_query(req, &q) != 0)
		return 0;
	snprintf(before, sizeof before, "%lld", q.before_id);
	snprintf(limit, sizeof limit, "%lld", q.limit + 1);
	params[1] = q.action;
	res = ch_db_exec(req->ctx.db, req->ctx.pool, &stmt_page, params);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	if (n > q.limit) {
		n = (int)q.limit;
		next = json_integer(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10));
	}
	items = json_array();
	for (int i = 0; i < n; i++) {
		json_t *item = json_loads(PQgetvalue(res, i, 1), 0, NULL);

		if (item == NULL || json_array_append_new(items, item) != 0) {
			json_decref(items);
			json_decref(next);
			return -1;
		}
	}
	ch_resp_json(req, 200, json_pack("{s:o, s:o}", "items", items,
	    "next_before_id", next != NULL ? next : json_null()));
	return 0;
}
