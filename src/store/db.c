#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_INTERVAL_MS 250

/* A command sent in pipeline mode whose result is not read yet. */
struct pending {
	const char *what;		/* for the log */
	const ch_stmt_t *prepare;	/* a PQsendPrepare of this statement */
	PGresult **slot;		/* ch_db_send(): where its result goes */
	ch_pool_t *pool;		/* ... and who frees it */
};

struct ch_db {
	char *conninfo;
	PGconn *conn;
	const ch_stmt_t **prepared;	/* prepared on this connection */
	size_t nprepared, capprepared;
	long long failed_ms;		/* last connect attempt that failed */
	long long last_ok_ms;		/* last statement that succeeded */
	bool up;
	/* The server sent a FATAL error while the connection was idle (see
	 * on_notice()): it is closing the connection. */
	bool server_fatal;
	char fatal[128];		/* its first line, for the log */
	PQnoticeReceiver notice_next;	/* libpq's receiver, for the rest */
	char sqlstate[6];
	/* Pipeline mode (libpq): commands sent, results read at the next
	 * sync (see db.h, ch_db_queue()).  Off whenever nothing is pending. */
	bool pipelined;
	struct pending *pending;
	size_t npending, cappending;
	/* ch_db_listen(): LISTENed on after every connect; session is new
	 * with every LISTEN (0: none), see ch_db_session(). */
	char *listen;
	unsigned long session, sessions;
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
	db->failed_ms = -RECONNECT_INTERVAL_MS;
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
	db->server_fatal = false;
	db->pipelined = false;
	db->npending = 0;
	db->session = 0;
}

void
ch_db_free(ch_db_t *db)
{
	if (db == NULL)
		return;
	drop(db);
	free(db->prepared);
	free(db->pending);
	free(db->listen);
	free(db->conninfo);
	free(db);
}

/*
 * libpq hands an ErrorResponse that arrives while no command is running to
 * the notice receiver.  Only a FATAL (or PANIC) one comes then: the server
 * telling why it closes the connection (57P01 at a fast shutdown, 57P02,
 * 57P05 idle_session_timeout, pg_terminate_backend()).  It is recorded for
 * closed_by_server() and logged there, in our own format; every other
 * notice goes on to libpq's receiver and so to the notice processor (the
 * daemons log those).
 */
static void
on_notice(void *arg, const PGresult *res)
{
	ch_db_t *db = arg;
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

	if (sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) {
		db->server_fatal = true;
		ch_log_first_line(PQresultErrorMessage(res), db->fatal,
		    sizeof db->fatal);
		return;
	}
	if (db->notice_next != NULL)
		db->notice_next(NULL, res);
}

static int listen_now(ch_db_t *db);

static int
connect_now(ch_db_t *db)
{
	char line[256];
	PGresult *res;

	drop(db);
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		ch_warn("database connect failed: %s",
		    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
		drop(db);
		db->failed_ms = ch_monotonic_ms();
		snprintf(db->sqlstate, sizeof db->sqlstate, "08001");
		return -1;
	}
	/* libpq's own receiver takes no argument (it prints through the
	 * processor recorded in each notice), so it is called with NULL. */
	db->notice_next = PQsetNoticeReceiver(db->conn, on_notice, db);
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
		db->failed_ms = ch_monotonic_ms();
		return -1;
	}
	PQclear(res);
	if (db->listen != NULL && listen_now(db) != 0) {
		drop(db);
		db->failed_ms = ch_monotonic_ms();
		return -1;
	}
	db->up = true;
	db->last_ok_ms = ch_monotonic_ms();
	ch_info("database connected");
	return 0;
}

/*
 * Whether the server has closed (or is closing) this idle connection,
 * told without a round trip: its socket is readable, and what is there is
 * EOF or a FATAL error.  One poll() when nothing is there, which is nearly
 * always.  Whatever else came (a NOTIFY, a ParameterStatus, a notice) is
 * parsed and left to its reader; a few rounds at most, so a chatty server
 * cannot keep us here.
 */
static bool
closed_by_server(ch_db_t *db)
{
	struct pollfd p = { .fd = PQsocket(db->conn), .events = POLLIN };

	if (p.fd < 0)
		return true;
	for (int round = 0; round < 4 && !db->server_fatal; round++) {
		if (poll(&p, 1, 0) <= 0)
			break;
		/* libpq returns from a read that got data without looking
		 * for the EOF behind it: the next round finds that. */
		if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
			return true;
		/* Parses it: a FATAL goes to on_notice(). */
		(void)PQisBusy(db->conn);
	}
	return db->server_fatal;
}

int
ch_db_connect(ch_db_t *db)
{
	/* Only an idle connection is looked at: nothing of the caller's is
	 * on it, so one found closed is replaced and the caller's statement
	 * goes on the new one (db.h, "Sending again"). */
	if (db->conn != NULL && !db->pipelined &&
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE &&
	    closed_by_server(db)) {
		char line[256];

		ch_warn("database closed the connection: %s", db->server_fatal
		    ? db->fatal : ch_log_first_line(PQerrorMessage(db->conn),
		    line, sizeof line));
		drop(db);
	}
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	if (db->conn != NULL)
		drop(db);
	/* The back-off follows a failed attempt only: a connection lost
	 * after it worked is opened again by the next use, at once. */
	if (ch_monotonic_ms() - db->failed_ms < RECONNECT_INTERVAL_MS)
		return -1;
	return connect_now(db);
}

bool
ch_db_up(const ch_db_t *db)
{
	return db->up;
}

static int pipeline_sync(ch_db_t *db, PGresult **last);

PGconn *
ch_db_conn(ch_db_t *db)
{
	if (db->pipelined && pipeline_sync(db, NULL) != 0)
		return NULL;
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

static void
mark_prepared(ch_db_t *db, const ch_stmt_t *stmt)
{
	if (db->nprepared == db->capprepared) {
		db->capprepared = db->capprepared ? db->capprepared * 2 : 32;
		db->prepared = ch_xrealloc(db->prepared,
		    db->capprepared * sizeof *db->prepared);
	}
	db->prepared[db->nprepared++] = stmt;
}

/* After a PQsendPrepare that did not take effect. */
static void
unmark_prepared(ch_db_t *db, const ch_stmt_t *stmt)
{
	for (size_t i = 0; i < db->nprepared; i++) {
		if (db->prepared[i] == stmt) {
			db->prepared[i] = db->prepared[--db->nprepared];
			return;
		}
	}
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
	mark_prepared(db, stmt);
	return 0;
}

/* ---- pipeline mode ---------------------------------------------------- */

static void
pending_push(ch_db_t *db, const char *what, const ch_stmt_t *prepare_of)
{
	if (db->npending == db->cappending) {
		db->cappending = db->cappending ? db->cappending * 2 : 16;
		db->pending = ch_xrealloc(db->pending,
		    db->cappending * sizeof *db->pending);
	}
	db->pending[db->npending].what = what;
	db->pending[db->npending].prepare = prepare_of;
	db->pending[db->npending].slot = NULL;
	db->pending[db->npending].pool = NULL;
	db->npending++;
}

/* Sending failed (libpq could not even queue it): the connection is in no
 * state to go on with. */
static int
send_failed(ch_db_t *db, const char *what)
{
	char line[256];

	ch_error("sending \"%s\" failed: %s", what,
	    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
	snprintf(db->sqlstate, sizeof db->sqlstate, "08006");
	drop(db);
	return -1;
}

static int
pipeline_enter(ch_db_t *db)
{
	if (db->pipelined)
		return 0;
	if (!PQenterPipelineMode(db->conn))
		return send_failed(db, "pipeline");
	db->pipelined = true;
	return 0;
}

/* Sends sql (a command without parameters, such as BEGIN) in the
 * pipeline. */
static int
pipeline_command(ch_db_t *db, const char *sql)
{
	if (pipeline_enter(db) != 0)
		return -1;
	if (!PQsendQueryParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		return send_failed(db, sql);
	pending_push(db, sql, NULL);
	return 0;
}

/* Sends stmt with params in the pipeline, preparing it first if this
 * connection has not. */
static int
pipeline_exec(ch_db_t *db, const ch_stmt_t *stmt, const char *const *params)
{
	if (pipeline_enter(db) != 0)
		return -1;
	if (!is_prepared(db, stmt)) {
		if (!PQsendPrepare(db->conn, stmt->name, stmt->sql,
		    stmt->nparams, NULL))
			return send_failed(db, stmt->name);
		mark_prepared(db, stmt);
		pending_push(db, stmt->name, stmt);
	}
	if (!PQsendQueryPrepared(db->conn, stmt->name, stmt->nparams, params,
	    NULL, NULL, 0))
		return send_failed(db, stmt->name);
	pending_push(db, stmt->name, NULL);
	return 0;
}

/*
 * Ends the pipeline: a Sync, then the result of every command sent, in
 * order, and back to ordinary mode.  The first failure is logged (the
 * commands after it are skipped by the server); 0 when all succeeded,
 * with *last (if not NULL) the last command's result, the caller's to
 * PQclear; -1 otherwise.
 */
static int
pipeline_sync(ch_db_t *db, PGresult **last)
{
	PGresult *res;
	bool failed = false;

	if (last != NULL)
		*last = NULL;
	if (!db->pipelined)
		return 0;
	if (!PQpipelineSync(db->conn)) {
		note_failure(db, NULL, "pipeline sync");
		drop(db);
		return -1;
	}
	for (size_t i = 0; i < db->npending && db->conn != NULL; i++) {
		const struct pending *p = &db->pending[i];
		ExecStatusType st;
		bool none;

		res = PQgetResult(db->conn);
		st = PQresultStatus(res);
		none = res == NULL;
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			if (last != NULL && i + 1 == db->npending && !failed)
				*last = res;
			else if (p->slot != NULL) {
				*p->slot = res;
				ch_pool_cleanup(p->pool, result_cleanup, res);
			} else
				PQclear(res);
		} else {
			if (p->prepare != NULL)
				unmark_prepared(db, p->prepare);
			/* The first failure is the one to tell; a lost
			 * connection is told (and dropped) whenever seen. */
			if ((!failed && st != PGRES_PIPELINE_ABORTED) ||
			    PQstatus(db->conn) != CONNECTION_OK)
				note_failure(db, res, p->what);
			failed = true;
			PQclear(res);
			if (db->conn != NULL && none) {
				/* No result where one was due: out of step. */
				ch_error("no result for \"%s\" in the pipeline",
				    p->what);
				drop(db);
			}
			if (db->conn == NULL)
				break;
		}
		/* Each command's results end with a NULL. */
		while (db->conn != NULL && (res = PQgetResult(db->conn)) != NULL)
			PQclear(res);
	}
	if (db->conn == NULL) {
		if (last != NULL) {
			PQclear(*last);
			*last = NULL;
		}
		return -1;
	}
	res = PQgetResult(db->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		note_failure(db, NULL, "pipeline sync");
		drop(db);
		if (last != NULL) {
			PQclear(*last);
			*last = NULL;
		}
		return -1;
	}
	PQclear(res);
	db->npending = 0;
	db->pipelined = false;
	if (!PQexitPipelineMode(db->conn)) {
		note_failure(db, NULL, "pipeline exit");
		drop(db);
		failed = true;
	}
	if (failed) {
		if (last != NULL) {
			PQclear(*last);
			*last = NULL;
		}
		return -1;
	}
	db->last_ok_ms = ch_monotonic_ms();
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
	if (db->pipelined) {
		/* Goes with what is queued: one round trip for all. */
		if (pipeline_exec(db, stmt, params) != 0 ||
		    pipeline_sync(db, &res) != 0)
			return NULL;
		ch_pool_cleanup(pool, result_cleanup, res);
		return res;
	}
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
		if (connect_now(db) == 0)
			res = exec_once(db, stmt, params);
	}
	if (res != NULL)
		ch_pool_cleanup(pool, result_cleanup, res);
	return res;
}

PGresult *
ch_db_exec_id(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    long long id)
{
	char idbuf[24];
	const char *params[1] = { idbuf };

	snprintf(idbuf, sizeof idbuf, "%lld", id);
	return ch_db_exec(db, pool, stmt, params);
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
	/* A connection the server has closed is noticed (and replaced)
	 * here, from its socket. */
	if (ch_db_connect(db) != 0)
		return -1;
	if (ch_monotonic_ms() - db->last_ok_ms < max_age_ms &&
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE)
		return 0;
	return ch_db_exec(db, pool, &stmt_ping, NULL) != NULL ? 0 : -1;
}

/* Whether a statement can wait in the pipeline: a transaction is open (or
 * its BEGIN is queued).  Outside one, it runs at once. */
static bool
can_wait(const ch_db_t *db)
{
	return db->pipelined || (db->conn != NULL &&
	    PQtransactionStatus(db->conn) == PQTRANS_INTRANS);
}

int
ch_db_queue(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params)
{
	db->sqlstate[0] = '\0';
	if (!can_wait(db))
		return ch_db_exec(db, pool, stmt, params) != NULL ? 0 : -1;
	return pipeline_exec(db, stmt, params);
}

int
ch_db_send(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params, PGresult **slot)
{
	*slot = NULL;
	db->sqlstate[0] = '\0';
	if (!can_wait(db)) {
		*slot = ch_db_exec(db, pool, stmt, params);
		return *slot != NULL ? 0 : -1;
	}
	if (pipeline_exec(db, stmt, params) != 0)
		return -1;
	db->pending[db->npending - 1].slot = slot;
	db->pending[db->npending - 1].pool = pool;
	return 0;
}

int
ch_db_sync(ch_db_t *db)
{
	return db->pipelined ? pipeline_sync(db, NULL) : 0;
}

int
ch_db_command(ch_db_t *db, const char *sql)
{
	PGresult *res;

	if (db->pipelined && pipeline_sync(db, NULL) != 0)
		return -1;
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
	db->sqlstate[0] = '\0';
	if (db->pipelined)
		return ch_db_command(db, "BEGIN");
	if (ch_db_connect(db) != 0) {
		snprintf(db->sqlstate, sizeof db->sqlstate, "08001");
		return -1;
	}
	return pipeline_command(db, "BEGIN");
}

int
ch_db_commit(ch_db_t *db)
{
	db->sqlstate[0] = '\0';
	if (!db->pipelined)
		return ch_db_command(db, "COMMIT");
	if (pipeline_command(db, "COMMIT") != 0)
		return -1;
	return pipeline_sync(db, NULL);
}

int
ch_db_rollback(ch_db_t *db)
{
	/* A ROLLBACK sent after a failed command would be skipped: what is
	 * queued is read first (and its failures logged). */
	if (db->pipelined)
		(void)pipeline_sync(db, NULL);
	return ch_db_command(db, "ROLLBACK");
}

void
ch_db_finish(ch_db_t *db)
{
	if (db->pipelined)
		(void)pipeline_sync(db, NULL);
	if (db->conn != NULL &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE &&
	    ch_db_command(db, "ROLLBACK") != 0)
		drop(db);
}

/* ---- notifications ------------------------------------------------------ */

/* LISTENs on db->listen on the current connection: a new session. */
static int
listen_now(ch_db_t *db)
{
	char line[256];
	char *id, *sql = NULL;
	PGresult *res = NULL;
	int rc = -1;

	id = PQescapeIdentifier(db->conn, db->listen, strlen(db->listen));
	if (id == NULL)
		goto out;
	sql = ch_xmalloc(strlen(id) + sizeof "LISTEN ");
	sprintf(sql, "LISTEN %s", id);
	res = PQexec(db->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		goto out;
	db->session = ++db->sessions;
	rc = 0;
out:
	if (rc != 0)
		ch_error("listen on \"%s\" failed: %s", db->listen,
		    ch_log_first_line(PQerrorMessage(db->conn), line, sizeof line));
	PQclear(res);
	free(sql);
	PQfreemem(id);
	return rc;
}

int
ch_db_listen(ch_db_t *db, const char *channel)
{
	if (db->listen != NULL) {
		if (strcmp(db->listen, channel) == 0)
			return 0;
		ch_error("listen on \"%s\" refused: already listening on \"%s\"",
		    channel, db->listen);
		return -1;
	}
	db->listen = ch_xmalloc(strlen(channel) + 1);
	memcpy(db->listen, channel, strlen(channel) + 1);
	if (db->conn != NULL && listen_now(db) != 0) {
		drop(db);
		return -1;
	}
	return 0;
}

unsigned long
ch_db_session(const ch_db_t *db)
{
	return db->conn != NULL && db->listen != NULL ? db->session : 0;
}

int
ch_db_notifications(ch_db_t *db, const char *channel)
{
	PGnotify *n;
	int count = 0;

	if (db->conn == NULL)
		return -1;
	/* Only what has arrived: no wait and nothing sent.  Reading it is
	 * the same look at the socket that finds a closed connection. */
	if (!db->pipelined && PQtransactionStatus(db->conn) == PQTRANS_IDLE &&
	    closed_by_server(db)) {
		ch_warn("database closed the connection%s%s",
		    db->server_fatal ? ": " : "", db->server_fatal ? db->fatal : "");
		drop(db);
		return -1;
	}
	while ((n = PQnotifies(db->conn)) != NULL) {
		if (strcmp(n->relname, channel) == 0)
			count++;
		PQfreemem(n);
	}
	return count;
}

PGresult *
ch_db_exec_binary(ch_db_t *db, ch_pool_t *pool, const char *what,
    const char *sql, int nparams, const char *const *values,
    const int *lengths, const int *formats, int result_format)
{
	PGconn *conn;
	PGresult *res;
	ExecStatusType st;
	const char *state;
	char line[256];

	if (ch_db_connect(db) != 0 || (conn = ch_db_conn(db)) == NULL)
		return NULL;
	res = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats,
	    result_format);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		ch_pool_cleanup(pool, result_cleanup, res);
		return res;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		ch_warn("database connection lost during \"%s\": %s", what,
		    ch_log_first_line(PQerrorMessage(conn), line, sizeof line));
		PQclear(res);
		(void)ch_db_connect(db);
		return NULL;
	}
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s",
	    state != NULL ? state : "XX000");
	ch_error("statement \"%s\" failed: %s: %s", what, db->sqlstate,
	    ch_log_first_line(res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(conn), line, sizeof line));
	PQclear(res);
	return NULL;
}
