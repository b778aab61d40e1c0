/*
 * What the back-end daemons (certhall-sms-sender, certhall-payd) share:
 * signals read from a signalfd rather than caught, and a PostgreSQL
 * connection whose NOTIFYs wake them from poll().
 */
#ifndef CERTHALL_DAEMON_H
#define CERTHALL_DAEMON_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "certhall/base/pool.h"
#include "certhall/store/ctx.h"

struct ch_db;

/*
 * Blocks SIGTERM, SIGINT and SIGHUP, which are read from the returned
 * signalfd instead (non-blocking, close-on-exec), and ignores SIGPIPE.
 * The fd, or -1 after logging.
 */
int ch_daemon_signals(void);

/*
 * Reads the signals that have arrived on fd: SIGHUP is logged and
 * ignored; SIGTERM or SIGINT sets *stopping, logging "stopping after
 * <what>" the first time.
 */
void ch_daemon_read_signals(int fd, bool *stopping, const char *what);

/* Logs the server's notices on conn (a shutdown's FATAL among them) as
 * one JSON line each, instead of libpq's raw text on stderr. */
void ch_daemon_log_notices(PGconn *conn);

/*
 * Reads what conn's socket has and discards the notifications (they only
 * wake the daemon).  How many there were, or -1 when the connection is
 * broken (the caller drops it).
 */
int ch_daemon_drain_notifies(PGconn *conn);

/*
 * Makes sure db is connected (ch_db_check(), max_age_ms 5000) and LISTENs
 * on channel on this very connection: a new backend after a reconnect is
 * told again (*listen_pid holds the backend that was told; 0 for none),
 * its notices logged (ch_daemon_log_notices()).  1 when LISTEN was sent
 * now (a new connection), 0 when this connection listened already, -1
 * with *listen_pid 0 while the database is away.
 */
int ch_daemon_listen(struct ch_db *db, ch_pool_t *pool, const char *channel,
    int *listen_pid);

#define CH_WAKE_SIGNAL 0x1u	/* something to read on the signalfd */
#define CH_WAKE_DB 0x2u		/* conn's socket is readable: a NOTIFY, or
				 * the server closing it */

/* Sleeps up to ms (0 or more), waking early for a signal on sigfd or for
 * anything on conn's socket (conn may be NULL).  What woke it, as
 * CH_WAKE_* bits; 0 when the time ran out. */
unsigned ch_daemon_wait(int sigfd, PGconn *conn, long long ms);

/*
 * A daemon's idle wait: ch_daemon_wait() on db's connection (none while
 * it is away), then the signals that arrived (ch_daemon_read_signals()
 * with *stopping and what) and the NOTIFYs, discarded.
 */
void ch_daemon_idle(int sigfd, struct ch_db *db, long long ms,
    bool *stopping, const char *what);

/*
 * Starts one step of daemon name: pool reset, *ctx the system actor name
 * (ch_ctx_system()) with correlation id "<name>-<n>" (n = ++*steps), which
 * every log line of the step carries.  ch_daemon_step_end() finishes the
 * step's transaction, if one is open, and clears the log's request id.
 */
void ch_daemon_step_begin(ch_ctx_t *ctx, ch_pool_t *pool, struct ch_db *db,
    const char *name, unsigned long long *steps);
void ch_daemon_step_end(struct ch_db *db);

#endif
