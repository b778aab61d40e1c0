#include "certhall/store/auditchain.h"
#include "certhall/base/log.h"

#include <stdio.h>
#include <stdlib.h>

long long
ch_audit_seal(PGconn *conn, int batch, int max_calls)
{
	char limit[16];
	const char *params[1] = { limit };
	long long total = 0;
	char line[256];

	snprintf(limit, sizeof limit, "%d", batch);
	for (int calls = 0; max_calls == 0 || calls < max_calls; calls++) {
		PGresult *res = PQexecParams(conn,
		    "SELECT audit_event_seal($1::integer)", 1, NULL, params,
		    NULL, NULL, 0);
		const char *why;
		long long n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1) {
			why = res != NULL ? PQresultErrorMessage(res) : "";
			ch_error("sealing the audit chain failed: %s",
			    ch_log_first_line(*why != '\0' ? why
			    : PQerrorMessage(conn), line, sizeof line));
			PQclear(res);
			return -1;
		}
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		total += n;
		if (n < batch)
			break;
	}
	return total;
}
