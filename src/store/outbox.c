#include "certhall/store/outbox.h"

#include <stdlib.h>

/* The sender LISTENs on "outbox"; the notice goes out at commit. */
static const ch_stmt_t stmt_outbox_sms = {
	.name = "outbox_sms",
	.sql = "WITH o AS (INSERT INTO outbox (channel, recipient, template,"
	       "  params, body) VALUES ('sms', $1, $2, $3::jsonb, $4) RETURNING id)"
	       " SELECT id, pg_notify('outbox', '') FROM o",
	.nparams = 4,
};

int
ch_outbox_sms(ch_db_t *db, ch_pool_t *pool, const char *phone,
    const char *template, const char *params, const char *body,
    long long *id)
{
	const char *values[4] = { phone, template, params, body };
	PGresult *res = ch_db_exec(db, pool, &stmt_outbox_sms, values);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	if (id != NULL)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	return 0;
}
