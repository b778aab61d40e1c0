/*
 * GET /api/v1/audit-events?limit=&before_id=&action= — the audit log,
 * newest first, for admins (docs/CONTRACT.md).
 *
 * The page is certhall/store/audit.h's ch_audit_list(): it ends with
 * next_before_id, the id to pass as before_id for the next (older) page,
 * or null when there is none.  Writers mask personal data before it
 * reaches the log, so rows are shown as stored.
 */
#include "api.h"
#include "certhall/store/audit.h"
#include "certhall/web/query.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#define AUDIT_LIMIT_DEFAULT 50
#define AUDIT_LIMIT_MAX 200
#define AUDIT_ACTION_MAX 64

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
	long long next;
	json_t *items;

	if (parse_query(req, &q) != 0)
		return 0;
	items = ch_audit_list(&req->ctx, q.before_id, q.action, q.limit, &next);
	if (items == NULL)
		return -1;
	ch_resp_json(req, 200, json_pack("{s:o, s:o}", "items", items,
	    "next_before_id", next > 0 ? json_integer(next) : json_null()));
	return 0;
}
