/*
 * One PostgreSQL connection per worker, opened after fork.
 *
 * Statements are static ch_stmt_t constants, prepared on first use on each
 * connection and again after a reconnect.  When the database goes away the
 * connection is dropped and the next use reconnects.  After a connect that
 * failed the next waits 250 ms, so a dead database costs a request a
 * refused connect (not a timeout) at most every 250 ms, and requests
 * meanwhile fail fast so the server answers 503; a connection lost after
 * it worked is opened again by the next use at once.
 *
 * Sending again.  A connection the server has closed (a restart, a crash,
 * pg_terminate_backend(), idle_session_timeout) is not noticed by libpq
 * until it is used, and a worker may sit on it for minutes.  So before
 * anything is sent on an idle connection (no transaction open, nothing
 * queued: the first statement of a request, or its BEGIN), the socket is
 * polled with timeout 0; if it is readable and holds EOF or a FATAL error,
 * the connection is replaced at once and the statement, write or not, goes
 * on the new one: nothing of it was sent on the old, so nothing of it can
 * have taken effect.  That costs one poll() and no round trip.  Once a
 * byte of a statement may have reached the server it is never sent again
 * by this module, whatever the error says: a connection lost while waiting
 * for a result (COMMIT's included) is reported as 08006, and whether the
 * write took effect is unknown (the server answers 503).  libpq cannot
 * tell how much of a failed write the kernel accepted before the reset,
 * and a FATAL 57P01 is also what a backend sends after it has committed
 * and before it answers, so neither a failed send nor that error proves
 * that nothing ran.  The one exception is a ch_stmt_t.readonly statement
 * outside a transaction: running it twice changes nothing, so it is tried
 * once more on a fresh connection.  A server closing in the instant
 * between the poll and the send still costs that request a 503; that is a
 * database going down, not one that is back.
 *
 * Values are passed and returned as text (PQexecPrepared, $n for every
 * value); results belong to the caller's pool.
 *
 * Round trips, not statements, are what a request pays for most (on the
 * 2-core development machine five extra "SELECT 1" round trips halved a
 * pgbench insert transaction's rate, README "Benchmark").  So inside a
 * transaction, BEGIN and the statements whose result the caller does not
 * need (ch_db_queue()) are sent in libpq's pipeline mode without waiting,
 * and their results are read with the next statement that needs one, or
 * at COMMIT: one round trip for all.  A queued statement that fails makes
 * that next call fail (the failure is logged under the queued statement's
 * name, and ch_db_sqlstate() is its SQLSTATE); the server skips what was
 * sent after it, and the transaction can only be rolled back.
 */
#ifndef CERTHALL_DB_H
#define CERTHALL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "certhall/base/pool.h"

typedef struct ch_db ch_db_t;

typedef struct ch_stmt {
	const char *name;	/* unique prepared statement name */
	const char *sql;
	int nparams;
	/* Changes nothing: safe to run again on a fresh connection after
	 * the first one was lost with it sent ("Sending again" above). */
	bool readonly;
} ch_stmt_t;

/* A timestamptz column as the API shows times: ISO 8601 in Asia/Shanghai
 * ("2026-11-24T10:54:00+08:00"; China has no daylight saving), NULL stays
 * NULL.  A SQL fragment for statements that build their JSON in SQL. */
#define CH_SQL_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai'," \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* Creates a handle; does not connect.  conninfo is copied.  Defaults of
 * connect_timeout=3 and tcp_user_timeout=15000 (a black-holed remote server
 * fails within 15 s) are added unless conninfo sets them. */
ch_db_t *ch_db_new(const char *conninfo);
void ch_db_free(ch_db_t *db);

/* Connects if not connected (subject to the back-off above), and replaces
 * an idle connection the server has closed (see "Sending again").  0 or
 * -1. */
int ch_db_connect(ch_db_t *db);
/* Whether the last use found the database reachable. */
bool ch_db_up(const ch_db_t *db);

/*
 * Checks the database is usable, cheaply enough for a health endpoint under
 * load: a connection the server has closed (shutdown, crash) is noticed at
 * once from its socket, as by ch_db_connect(); a round trip (SELECT 1) is
 * made only when no statement has succeeded on this connection for
 * max_age_ms.  Reconnects (subject to the back-off) when needed.  0 if
 * usable, -1 if not.
 */
int ch_db_check(ch_db_t *db, ch_pool_t *pool, long long max_age_ms);

/*
 * Executes stmt with params (nparams text values; NULL entries are SQL
 * NULL).  Returns a PGresult owned by pool (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK), or NULL after logging the error; ch_db_sqlstate()
 * then tells what failed ("08006" for a lost connection).
 */
PGresult *ch_db_exec(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params);
/* ch_db_exec() of a statement whose one parameter is an id. */
PGresult *ch_db_exec_id(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    long long id);
/*
 * Executes stmt like ch_db_exec() when its result is not needed: inside a
 * transaction it is only sent (queued, see above), and 0 means sent; its
 * outcome comes with the next ch_db_exec(), ch_db_command() or
 * ch_db_commit().  Outside a transaction it runs at once.  params are
 * copied when sent.  0 or -1 (logged).
 */
int ch_db_queue(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params);
/*
 * Sends a statement whose result the caller does need, without waiting
 * for it: like ch_db_queue(), but *slot receives its result (owned by
 * pool) with the next ch_db_exec(), ch_db_command() or ch_db_commit(), so
 * that two reads cost one round trip.  *slot stays NULL if it failed (that
 * next call fails too).  Outside a transaction it runs at once.  0 or -1.
 */
int ch_db_send(ch_db_t *db, ch_pool_t *pool, const ch_stmt_t *stmt,
    const char *const *params, PGresult **slot);
/* Reads everything sent and queued (filling ch_db_send() slots) without
 * sending anything more.  0, or -1 if any of it failed (logged). */
int ch_db_sync(ch_db_t *db);
/* Runs one parameterless command (BEGIN, COMMIT, ...), after reading what
 * was queued.  0 or -1. */
int ch_db_command(ch_db_t *db, const char *sql);
/*
 * Transactions: one per request that writes.  ch_db_begin() queues the
 * BEGIN (it goes with the first statement); ch_db_commit() sends COMMIT
 * with what is queued and fails if any of it failed.  ch_db_finish() rolls
 * back a transaction a handler left open (after an error) and is called by
 * the server after every request.  0 or -1.
 */
int ch_db_begin(ch_db_t *db);
int ch_db_commit(ch_db_t *db);
int ch_db_rollback(ch_db_t *db);
void ch_db_finish(ch_db_t *db);

/*
 * Runs sql (not a prepared ch_stmt_t: an unnamed statement) with
 * PQexecParams, for values that travel in binary (a scanned file):
 * formats says which parameters are binary (NULL: all text), lengths their
 * sizes, and result_format 1 asks for a binary result.  In the caller's
 * transaction if one is open (what was queued is read first).  Returns a
 * PGresult owned by pool, or NULL after logging the failure (what names
 * it); a connection found broken is dropped, so the server answers 503
 * while the database is down, as after ch_db_exec().
 */
PGresult *ch_db_exec_binary(ch_db_t *db, ch_pool_t *pool, const char *what,
    const char *sql, int nparams, const char *const *values,
    const int *lengths, const int *formats, int result_format);

/* SQLSTATE of the last failure, "" if none. */
const char *ch_db_sqlstate(const ch_db_t *db);

/* The raw connection, for tools (certhall-admin) and statements outside
 * the prepared set (binary ones); what was queued is read first.  NULL if
 * not connected or a queued statement failed.  Borrowed. */
PGconn *ch_db_conn(ch_db_t *db);

/*
 * Notifications (LISTEN/NOTIFY), for what a worker keeps in memory and
 * must drop when the database says it changed.  PostgreSQL delivers a
 * notification only to connections that were listening when it was
 * committed, so one sent while this handle was disconnected is lost:
 * whatever was learnt on one session must be forgotten when
 * ch_db_session() changes.
 *
 * ch_db_listen() LISTENs on channel now (when connected) and after every
 * reconnect, before the connection is used.  One channel per handle; call
 * it outside a transaction.  0, or -1 if the LISTEN failed (logged; the
 * connection is dropped and the next connect tries again).
 */
int ch_db_listen(ch_db_t *db, const char *channel);
/* Identifies the current listening session: a new number after every
 * connect (never reused), 0 while not connected or not listening. */
unsigned long ch_db_session(const ch_db_t *db);
/*
 * Reads what the server has already sent, without waiting and without a
 * round trip, and returns how many notifications on channel arrived since
 * the last call (notifications on other channels are discarded), or -1 if
 * not connected or the server has closed the connection (then dropped, so
 * ch_db_session() changes).
 */
int ch_db_notifications(ch_db_t *db, const char *channel);

#endif
