#include "certhall/db.h"
#include "certhall/log.h"
#include "certhall/util.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_INTERVAL_MS 250

struct ch_db {
	char *conninfo;
	PGconn *conn;
	const ch_stmt_t **prepared;	/* prepared on this connection */
	size_t nprepared, capprepared;
	long long last_attempt_ms;
	long long last_ok_ms;		/* last statement that succeeded */
	bool up;
	char sqlstate[6];
};

ch_db_t *
ch_db_new(const char *conninfo)
{
	ch_db_t *db = ch_xmalloc(sizeof *db);
	size_t n = strlen(conninfo) + 96;

	memset(db, 0, sizeof *db);
	db->conninfo = ch_xmalloc(n);
	/* Later keywords win in a conninfo string, so the caller's own
	 * settings override these defaults. */
	snprintf(db->conninfo, n, "connect_timeout=3 tcp_user_timeout=15000 %s",
	    conninfo);
	db->last_attempt_ms = -RECONNECT_INTERVAL_MS;
	return db;
}

static void
drop(ch_db_t *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
	db->nprepared = 0;
	db->up = false;
}

void
ch_db_free(ch_db_t *db)
{
	if (db == NULL)
		return;
	drop(db);
	free(db->prepared);
	free(db->conninfo);
	free(db);
}

static int
connect_now(ch_db_t *db)
{
	char line[256];
	PGresult *res;

	drop(db);
	db->last_attempt_ms = ch_monotonic_ms();
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		ch_warn("database connect failed: %s",
		    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
		drop(db);
		snprintf(db->sqlstate, sizeof db->sqlstate, "08001");
		return -1;
	}
	/* UTC in the database; Asia/Shanghai only when shown.  A statement
	 * that hangs must not pin a worker forever.  JIT never pays off for
	 * short OLTP statements: it cost the catalogue query 0.6 s a call. */
	res = PQexec(db->conn,
	    "SET TIME ZONE 'UTC'; SET statement_timeout = '15s'; "
	    "SET idle_in_transaction_session_timeout = '30s'; SET jit = off");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ch_error("database session setup failed: %s",
		    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
		PQclear(res);
		drop(db);
		return -1;
	}
	PQclear(res);
	db->up = true;
	db->last_ok_ms = ch_monotonic_ms();
	ch_info("database connected");
	return 0;
}

int
ch_db_connect(ch_db_t *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	if (db->conn != NULL)
		drop(db);
	if (ch_monotonic_ms() - db->last_attempt_ms < RECONNECT_INTERVAL_MS)
		return -1;
	return connect_now(db);
}

bool
ch_db_up(const ch_db_t *db)
{
	return db->up;
}

PGconn *
ch_db_conn(ch_db_t *db)
{
	return db->conn;
}

const char *
ch_db_sqlstate(const ch_db_t *db)
{
	return db->sqlstate;
}

static void
result_cleanup(void *res)
{
	PQclear(res);
}

/* Records the failure of res (or of the connection) and logs it. */
static void
note_failure(ch_db_t *db, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char line[256];

	if (PQstatus(db->conn) != CONNECTION_OK) {
		ch_warn("database connection lost during \"%s\": %s", what,
		    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
		snprintf(db->sqlstate, sizeof db->sqlstate, "08006");
		drop(db);
		return;
	}
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s",
	    state != NULL ? state : "XX000");
	ch_error("statement \"%s\" failed: %s: %s", what, db->sqlstate,
	    ch_log_first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn),
	    line, sizeof line));
}

static int
is_prepared(const ch_db_t *db, const ch_stmt_t *stmt)
{
	for (size_t i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == stmt)
			return 1;
	return 0;
}

static int
prepare(ch_db_t *db, const ch_stmt_t *stmt)
{
	PGresult *res;

	if (is_prepared(db, stmt))
		return 0;
	res = PQprepare(db->conn, stmt->name, stmt->sql, stmt->nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		note_failure(db, res, stmt->name);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (db->nprepared == db->capprepared) {
		db->capprepared = db->capprepared ? db->capprepared * 2 : 32;
		db->prepared = ch_xrealloc(db->prepared,
		    db->capprepared * sizeof *db->prepared);
	}
	db->prepared[db->nprepared++] = stmt;
	return 0;
}

static PGresult *
exec_once(ch_db_t *db, const ch_stmt_t *stmt, const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	if (prepare(db, stmt) != 0)
		return NULL;
	res = PQexecPrepared(db->conn, stmt->name, stmt->nparams, params,
	    NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		db->last_ok_ms = ch_monotonic_ms();
		return res;
	}
	note_failure(db, res, stmt->name);
	PQclear(res);
	return NULL;
}

PGresult *
ch_db_exec(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params)
{
	PGresult *res;
	bool idle;

	db->sqlstate[0] = '\0';
	if (ch_db_connect(db) != 0) {
		snprintf(db->sqlstate, sizeof db->sqlstate, "08001");
		return NULL;
	}
	idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
	res = exec_once(db, stmt, params);
	/* A connection that died while idle (a database restart) is only
	 * noticed now.  A read outside a transaction can safely go again on
	 * a fresh connection; anything else must not, since it may have
	 * taken effect. */
	if (res == NULL && db->conn == NULL && stmt->readonly && idle &&
	    strcmp(db->sqlstate, "08006") == 0) {
		db->last_attempt_ms = -RECONNECT_INTERVAL_MS;
		if (connect_now(db) == 0)
			res = exec_once(db, stmt, params);
	}
	if (res != NULL)
		ch_pool_cleanup(pool, result_cleanup, res);
	return res;
}

/* Whether the server has closed this idle connection: its socket is
 * readable (a FATAL notice, or EOF) and libpq then reports it broken. */
static bool
closed_by_server(ch_db_t *db)
{
	struct pollfd p = { .fd = PQsocket(db->conn), .events = POLLIN };

	if (p.fd < 0)
		return true;
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
		return true;
	/* Readable but healthy (a notice): nothing to worry about. */
	return false;
}

static const ch_stmt_t stmt_ping = {
	.name = "db_ping",
	.sql = "SELECT 1",
	.nparams = 0,
	.readonly = true,
};

int
ch_db_check(ch_db_t *db, ch_pool_t *pool, long long max_age_ms)
{
	if (db->conn != NULL && closed_by_server(db)) {
		ch_warn("database closed the connection");
		drop(db);
		/* Reconnect now rather than after the back-off: the request
		 * asking is the one that should learn the answer. */
		db->last_attempt_ms = -RECONNECT_INTERVAL_MS;
	}
	if (ch_db_connect(db) != 0)
		return -1;
	if (ch_monotonic_ms() - db->last_ok_ms < max_age_ms &&
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE)
		return 0;
	return ch_db_exec(db, pool, &stmt_ping, NULL) != NULL ? 0 : -1;
}

int
ch_db_command(ch_db_t *db, const char *sql)
{
	PGresult *res;

	if (ch_db_connect(db) != 0)
		return -1;
	res = PQexec(db->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		note_failure(db, res, sql);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
ch_db_begin(ch_db_t *db)
{
	return ch_db_command(db, "BEGIN");
}

int
ch_db_commit(ch_db_t *db)
{
	return ch_db_command(db, "COMMIT");
}

int
ch_db_rollback(ch_db_t *db)
{
	return ch_db_command(db, "ROLLBACK");
}

void
ch_db_finish(ch_db_t *db)
{
	if (db->conn != NULL &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE &&
	    ch_db_command(db, "ROLLBACK") != 0)
		drop(db);
}
