/*
 * Signals and NOTIFY wake-ups for the back-end daemons (certhall/daemon.h).
 */
#include "certhall/store/daemon.h"
#include "certhall/base/log.h"
#include "certhall/store/db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int
ch_daemon_signals(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		ch_error("signalfd: %s", strerror(errno));
	return fd;
}

void
ch_daemon_read_signals(int fd, bool *stopping, const char *what)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			ch_info("SIGHUP ignored; restart to reload");
		} else if (!*stopping) {
			ch_info("stopping after %s", what);
			*stopping = true;
		}
	}
}

static void
on_notice(void *arg, const char *message)
{
	char line[256];

	ch_info("database notice: %s",
	    ch_log_first_line(message, line, sizeof line));
}

void
ch_daemon_log_notices(PGconn *conn)
{
	PQsetNoticeProcessor(conn, on_notice, NULL);
}

int
ch_daemon_drain_notifies(PGconn *conn)
{
	PGnotify *n;
	int count = 0;

	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		return -1;
	while ((n = PQnotifies(conn)) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

unsigned
ch_daemon_wait(int sigfd, PGconn *conn, long long ms)
{
	struct pollfd p[2] = {
		{ .fd = sigfd, .events = POLLIN },
		{ .fd = conn != NULL ? PQsocket(conn) : -1, .events = POLLIN },
	};
	unsigned woke = 0;

	if (ms < 0)
		ms = 0;
	if (ms > 60000)
		ms = 60000;
	if (poll(p, 2, (int)ms) < 0 && errno != EINTR)
		ch_warn("poll: %s", strerror(errno));
	if (p[0].revents & POLLIN)
		woke |= CH_WAKE_SIGNAL;
	if (p[1].fd >= 0 && p[1].revents != 0)
		woke |= CH_WAKE_DB;
	return woke;
}

int
ch_daemon_listen(ch_db_t *db, ch_pool_t *pool, const char *channel,
    int *listen_pid)
{
	char command[80];
	PGconn *conn;

	if (ch_db_check(db, pool, 5000) != 0) {
		*listen_pid = 0;
		return -1;
	}
	conn = ch_db_conn(db);
	if (PQbackendPID(conn) == *listen_pid)
		return 0;
	ch_daemon_log_notices(conn);
	/* channel is the daemon's own constant, an identifier. */
	snprintf(command, sizeof command, "LISTEN %s", channel);
	if (ch_db_command(db, command) != 0) {
		*listen_pid = 0;
		return -1;
	}
	*listen_pid = PQbackendPID(conn);
	ch_info("listening on \"%s\"", channel);
	return 1;
}

void
ch_daemon_idle(int sigfd, ch_db_t *db, long long ms, bool *stopping,
    const char *what)
{
	unsigned woke = ch_daemon_wait(sigfd, ch_db_conn(db), ms);

	if (woke & CH_WAKE_SIGNAL)
		ch_daemon_read_signals(sigfd, stopping, what);
	if ((woke & CH_WAKE_DB) && ch_db_conn(db) != NULL)
		(void)ch_daemon_drain_notifies(ch_db_conn(db));
}

void
ch_daemon_step_begin(ch_ctx_t *ctx, ch_pool_t *pool, ch_db_t *db,
    const char *name, unsigned long long *steps)
{
	char id[64];

	ch_pool_reset(pool);
	snprintf(id, sizeof id, "%s-%llu", name, ++*steps);
	ch_ctx_system(ctx, pool, db, name, id);
	ch_log_set_request_id(ctx->correlation_id);
}

void
ch_daemon_step_end(ch_db_t *db)
{
	ch_db_finish(db);
	ch_log_set_request_id(NULL);
}
