/*
 * The outbox sender loop (certhall/sms.h).
 *
 * One connection, LISTEN outbox.  Each round claims up to BATCH due rows in
 * one statement (FOR UPDATE SKIP LOCKED, so several senders never take the
 * same row) and leases them for LEASE_S seconds; a row whose lease ran out
 * (its sender died) is due again.  Each claimed row is delivered and its
 * outcome recorded at once.  When the database goes away mid-batch the
 * outcomes not yet written stay in memory and are written after the
 * reconnect, and rows not yet sent are given back: nothing waits for a
 * lease to expire unless this process dies.
 *
 * The same loop keeps the audit chain sealed (certhall/auditchain.h): about
 * every SEAL_EVERY_MS it has audit_event_seal() chain the audit events
 * committed meanwhile.  No NOTIFY wakes it for those: a transaction that
 * NOTIFYs holds a database-wide lock through its commit, which would make
 * every auditing transaction wait for the one before, as 0006's lock did.
 */
#include "sender.h"
#include "certhall/store/auditchain.h"
#include "certhall/store/daemon.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/base/pool.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 20
#define LEASE_S 60
/* A batch stops taking messages this long before its lease ends: one more
 * send (10 s at most) and its bookkeeping must fit in what is left. */
#define LEASE_MARGIN_MS 15000
#define MAX_ATTEMPTS 12
#define BACKOFF_CAP_S 300
#define IDLE_WAIT_MS 1000	/* look for due rows at least this often */
#define MIN_WAIT_MS 50		/* due rows that someone else holds: no spin */
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 5000
#define SEAL_EVERY_MS 1000	/* seal the audit chain this often */
#define SEAL_MAX_CALLS 10	/* batches a turn; a backlog takes turns */
#define SEAL_RETRY_MS 30000	/* after a failed seal on a live connection */

/* Both texts bind $1 = lease seconds and $2 = batch size. */
static const char sql_claim[] =
    "WITH claimed AS ("
    " UPDATE outbox SET status = 'sending',"
    "        lease_until = now() + $1::int * interval '1 second',"
    "        attempts = attempts + 1"
    "  WHERE id IN (SELECT id FROM outbox"
    "                WHERE channel = 'sms'"
    "                  AND ((status = 'pending' AND next_attempt_at <= now())"
    "                    OR (status = 'sending' AND lease_until < now()))"
    "                ORDER BY id LIMIT $2::int"
    "                FOR UPDATE SKIP LOCKED)"
    " RETURNING id, message_id, recipient, template, params, body, attempts)"
    " SELECT id, message_id::text, recipient, template, params::text, body,"
    "        attempts"
    "   FROM claimed ORDER BY id";

/* A message that carries a secret (a USB key's user PIN; outbox
 * scrub_after_send, sql/0014) keeps it only until it is sent or given up:
 * then its text and parameters are replaced by these, in the statement
 * that records the outcome.  A retry keeps them: it must send them again. */
#define SCRUB_SET \
    ", body = CASE WHEN scrub_after_send THEN '[scrubbed after delivery]'" \
    "         ELSE body END," \
    "  params = CASE WHEN scrub_after_send THEN '{}'::jsonb ELSE params END"

/* Sent is the truth whoever holds the row now: no lease condition. */
static const char sql_sent[] =
    "UPDATE outbox SET status = 'sent', sent_at = now(), lease_until = NULL,"
    "       provider_ref = NULLIF($2, '')" SCRUB_SET
    " WHERE id = $1::bigint AND status IN ('pending', 'sending')";

/* The others only while this sender still holds the claim (attempts is
 * what the claim made it). */
static const char sql_retry[] =
    "UPDATE outbox SET status = 'pending', lease_until = NULL, last_error = $3,"
    "       next_attempt_at = now() + least(power(2, attempts - 1), $4::int)"
    "                                 * interval '1 second'"
    " WHERE id = $1::bigint AND status = 'sending' AND attempts = $2::int";

static const char sql_failed[] =
    "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = $3"
    SCRUB_SET
    " WHERE id = $1::bigint AND status = 'sending' AND attempts = $2::int";

/* Not attempted after all: as if never claimed. */
static const char sql_release[] =
    "UPDATE outbox SET status = 'pending', lease_until = NULL,"
    "       attempts = attempts - 1"
    " WHERE id = $1::bigint AND status = 'sending' AND attempts = $2::int";

/* Milliseconds until the next row falls due (NULL when none will). */
static const char sql_next_due[] =
    "SELECT ceil(extract(epoch FROM min(t) - now()) * 1000)::bigint"
    "  FROM (SELECT min(next_attempt_at) FROM outbox"
    "         WHERE channel = 'sms' AND status = 'pending'"
    "        UNION ALL"
    "        SELECT min(lease_until) FROM outbox"
    "         WHERE channel = 'sms' AND status = 'sending') AS d(t)";

typedef enum {
	ITEM_UNSENT,		/* claimed, not attempted */
	ITEM_DECIDED,		/* attempted; outcome not yet written */
	ITEM_DONE,		/* written (or given up on) */
} item_state_t;

struct item {
	char *id;		/* outbox.id, as text */
	char *attempts;		/* attempts after the claim, as text */
	int nattempts;
	char masked[16];	/* the phone, for logs */
	ch_sms_msg_t msg;
	item_state_t state;
	ch_sms_result_t result;
	ch_sms_outcome_t outcome;
};

struct sender {
	const ch_sms_sender_config_t *cfg;
	char *conninfo;
	PGconn *conn;
	int sigfd;
	bool stopping;
	long long reconnect_at_ms;
	long long backoff_ms;		/* reconnects and failing statements */
	ch_pool_t *pool;		/* the batch's strings */
	struct item items[BATCH];
	size_t nitems;
	long long claimed_ms;
	long long seal_at_ms;		/* when to seal the audit chain next */
};

/* ---- signals -------------------------------------------------------- */

static void
read_signals(struct sender *s)
{
	ch_daemon_read_signals(s->sigfd, &s->stopping, "the message in hand");
}

/* ---- the connection ------------------------------------------------- */

static void
drop(struct sender *s)
{
	if (s->conn != NULL)
		PQfinish(s->conn);
	s->conn = NULL;
}

static void
backoff_grow(struct sender *s)
{
	s->backoff_ms = s->backoff_ms * 2 > RECONNECT_MAX_MS
	    ? RECONNECT_MAX_MS : s->backoff_ms * 2;
}

/* After a failure: lost connection (reconnect after the back-off), or a
 * statement error on a live one (logged by the caller). */
static void
note_failure(struct sender *s, PGresult *res, const char *what)
{
	char line[256];
	const char *state;

	if (PQstatus(s->conn) != CONNECTION_OK) {
		ch_warn("database connection lost during \"%s\": %s", what,
		    ch_log_first_line(PQerrorMessage(s->conn), line, sizeof line));
		drop(s);
		s->reconnect_at_ms = ch_monotonic_ms() + s->backoff_ms;
		return;
	}
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	ch_error("statement \"%s\" failed: %s: %s", what,
	    state != NULL ? state : "XX000",
	    ch_log_first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn),
	    line, sizeof line));
}

/* Runs sql with nparams text params; the result (TUPLES_OK or COMMAND_OK) is the
 * caller's to PQclear, NULL after note_failure(). */
static PGresult *
run(struct sender *s, const char *what, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	if (s->conn == NULL)
		return NULL;
	/* Without parameters the simple protocol, which also takes several
	 * commands in one string (the session setup). */
	res = nparams == 0 ? PQexec(s->conn, sql)
	    : PQexecParams(s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	note_failure(s, res, what);
	PQclear(res);
	return NULL;
}

static int
connect_db(struct sender *s)
{
	char line[256];
	PGresult *res;

	if (ch_monotonic_ms() < s->reconnect_at_ms)
		return -1;
	s->conn = PQconnectdb(s->conninfo);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		ch_warn("database connect failed (next try in %lld ms): %s",
		    s->backoff_ms,
		    ch_log_first_line(PQerrorMessage(s->conn), line, sizeof line));
		drop(s);
		s->reconnect_at_ms = ch_monotonic_ms() + s->backoff_ms;
		backoff_grow(s);
		return -1;
	}
	ch_daemon_log_notices(s->conn);
	/* LISTEN before the first claim: a row committed in between is
	 * found by that claim, one committed later wakes us. */
	res = run(s, "session setup",
	    "SET TIME ZONE 'UTC'; SET statement_timeout = '15s';"
	    " SET idle_in_transaction_session_timeout = '30s'; SET jit = off;"
	    " LISTEN outbox", 0, NULL);
	if (res == NULL) {
		drop(s);
		s->reconnect_at_ms = ch_monotonic_ms() + s->backoff_ms;
		backoff_grow(s);
		return -1;
	}
	PQclear(res);
	s->backoff_ms = RECONNECT_MIN_MS;
	ch_info("database connected, listening on \"outbox\"");
	return 0;
}

/* Reads what the socket has and discards the notifications (they only
 * wake us).  Returns how many there were, -1 if the connection is gone. */
static int
drain_notifies(struct sender *s)
{
	int count;

	if (s->conn == NULL)
		return -1;
	if ((count = ch_daemon_drain_notifies(s->conn)) < 0)
		note_failure(s, NULL, "listen");
	return count;
}

/* Sleeps up to ms, waking early for a signal or for anything on the
 * database socket (a NOTIFY, or the server closing it). */
static void
wait_for(struct sender *s, long long ms)
{
	unsigned woke = ch_daemon_wait(s->sigfd, s->conn, ms);

	if (woke & CH_WAKE_SIGNAL)
		read_signals(s);
	if (woke & CH_WAKE_DB)
		drain_notifies(s);
}

/* ---- recording outcomes --------------------------------------------- */

static long
retry_delay_s(int attempts)
{
	return ch_backoff_s(attempts, BACKOFF_CAP_S);
}

/* Writes its outcome (or gives the row back when unsent).  0 when done
 * with the item; -1 when the connection is gone and it must wait. */
static int
record(struct sender *s, struct item *it)
{
	char cap[16];
	const char *params[4] = { it->id, it->attempts, NULL, NULL };
	const char *sql, *what;
	PGresult *res;
	int nparams = 2;

	if (it->state == ITEM_DONE)
		return 0;
	if (it->state == ITEM_UNSENT) {
		sql = sql_release;
		what = "outbox release";
	} else if (it->result == CH_SMS_SENT) {
		params[1] = it->outcome.ref;
		sql = sql_sent;
		what = "outbox sent";
	} else if (it->result == CH_SMS_RETRY && it->nattempts < MAX_ATTEMPTS) {
		snprintf(cap, sizeof cap, "%d", BACKOFF_CAP_S);
		params[2] = it->outcome.error;
		params[3] = cap;
		nparams = 4;
		sql = sql_retry;
		what = "outbox retry";
	} else {
		params[2] = it->outcome.error;
		nparams = 3;
		sql = sql_failed;
		what = "outbox failed";
	}
	res = run(s, what, sql, nparams, params);
	if (res == NULL && s->conn == NULL)
		return -1;
	if (res != NULL && strcmp(PQcmdTuples(res), "0") == 0 &&
	    sql != sql_release)
		ch_warn("outbox %s: outcome not recorded, the row has moved on "
		    "(its lease ran out?)", it->id);
	/* A statement error on a live connection is not retried: the lease
	 * runs out and the row is claimed again. */
	PQclear(res);
	it->state = ITEM_DONE;
	return 0;
}

/* Records what is left of the batch: outcomes decided, rows given back.
 * 0 when the batch is over; -1 when the connection went away meanwhile
 * (the batch is kept for after the reconnect). */
static int
flush_batch(struct sender *s)
{
	for (size_t i = 0; i < s->nitems; i++)
		if (record(s, &s->items[i]) != 0)
			return -1;
	s->nitems = 0;
	ch_pool_reset(s->pool);
	return 0;
}

/* ---- the batch ------------------------------------------------------ */

/* Claims due rows into s->items.  The number claimed, or -1. */
static int
claim(struct sender *s)
{
	char lease[16], batch[16];
	const char *params[2] = { lease, batch };
	PGresult *res;
	int n;

	snprintf(lease, sizeof lease, "%d", LEASE_S);
	snprintf(batch, sizeof batch, "%d", BATCH);
	res = run(s, "outbox claim", sql_claim, 2, params);
	if (res == NULL)
		return -1;
	s->claimed_ms = ch_monotonic_ms();
	n = PQntuples(res);
	for (int i = 0; i < n && i < BATCH; i++) {
		struct item *it = &s->items[i];

		memset(it, 0, sizeof *it);
		it->id = ch_pstrdup(s->pool, PQgetvalue(res, i, 0));
		it->msg.message_id = ch_pstrdup(s->pool, PQgetvalue(res, i, 1));
		it->msg.phone = ch_pstrdup(s->pool, PQgetvalue(res, i, 2));
		it->msg.template = ch_pstrdup(s->pool, PQgetvalue(res, i, 3));
		it->msg.params_json = ch_pstrdup(s->pool, PQgetvalue(res, i, 4));
		it->msg.text = ch_pstrdup(s->pool, PQgetvalue(res, i, 5));
		it->attempts = ch_pstrdup(s->pool, PQgetvalue(res, i, 6));
		it->nattempts = atoi(it->attempts);
		it->state = ITEM_UNSENT;
		ch_sms_mask_phone(it->msg.phone, it->masked, sizeof it->masked);
	}
	s->nitems = (size_t)(n < BATCH ? n : BATCH);
	PQclear(res);
	return (int)s->nitems;
}

static void
log_outcome(const struct item *it)
{
	if (it->result == CH_SMS_SENT) {
		ch_info("sent message \"%s\" (outbox %s) to %s, attempt %d, "
		    "ref \"%s\"", it->msg.message_id, it->id, it->masked,
		    it->nattempts, it->outcome.ref);
	} else if (it->result == CH_SMS_RETRY && it->nattempts < MAX_ATTEMPTS) {
		ch_warn("message \"%s\" (outbox %s) to %s not sent, attempt %d, "
		    "next in %ld s: %s", it->msg.message_id, it->id, it->masked,
		    it->nattempts, retry_delay_s(it->nattempts),
		    it->outcome.error);
	} else {
		ch_error("message \"%s\" (outbox %s) to %s failed, attempt %d: %s",
		    it->msg.message_id, it->id, it->masked, it->nattempts,
		    it->outcome.error);
	}
}

/* Delivers the claimed batch, recording each outcome as it comes. */
static void
deliver_batch(struct sender *s)
{
	for (size_t i = 0; i < s->nitems; i++) {
		struct item *it = &s->items[i];

		read_signals(s);
		if (s->stopping)
			break;
		if (ch_monotonic_ms() - s->claimed_ms > LEASE_S * 1000LL - LEASE_MARGIN_MS) {
			ch_info("batch lease running out; giving %zu row(s) back",
			    s->nitems - i);
			break;
		}
		if (it->nattempts > MAX_ATTEMPTS) {
			/* Leases that ran out again and again: a message that
			 * kills its sender must not do so forever. */
			it->result = CH_SMS_PERMANENT;
			snprintf(it->outcome.error, sizeof it->outcome.error,
			    "gave up after %d attempts", MAX_ATTEMPTS);
		} else {
			it->result = ch_sms_send(s->cfg->provider, &it->msg,
			    &it->outcome);
			if (it->result == CH_SMS_RETRY &&
			    it->nattempts >= MAX_ATTEMPTS) {
				char why[CH_SMS_ERROR_MAX];

				memcpy(why, it->outcome.error, sizeof why);
				snprintf(it->outcome.error, sizeof it->outcome.error,
				    "gave up after %d attempts: %.200s",
				    MAX_ATTEMPTS, why);
			}
		}
		it->state = ITEM_DECIDED;
		log_outcome(it);
		if (record(s, it) != 0)
			return;		/* kept for after the reconnect */
	}
	flush_batch(s);
}

/* ---- the audit chain ------------------------------------------------ */

/* Seals the audit chain when it is due.  A turn that used all its calls
 * found a backlog: the rest is sealed on the next pass of the loop, after
 * any due messages. */
static void
seal_audit(struct sender *s)
{
	long long now = ch_monotonic_ms(), n;

	if (s->conn == NULL || now < s->seal_at_ms)
		return;
	n = ch_audit_seal(s->conn, CH_AUDIT_SEAL_BATCH, SEAL_MAX_CALLS);
	if (n < 0 && PQstatus(s->conn) != CONNECTION_OK) {
		note_failure(s, NULL, "audit seal");	/* again once back */
		s->seal_at_ms = now;
	} else if (n < 0) {
		s->seal_at_ms = now + SEAL_RETRY_MS;
	} else if (n >= (long long)CH_AUDIT_SEAL_BATCH * SEAL_MAX_CALLS) {
		s->seal_at_ms = now;
	} else {
		s->seal_at_ms = now + SEAL_EVERY_MS;
	}
}

/* ---- the loop ------------------------------------------------------- */

/* How long to wait for work: until the next row falls due, at most
 * IDLE_WAIT_MS; 0 when a notification came in meanwhile. */
static long long
idle_wait_ms(struct sender *s)
{
	long long ms = IDLE_WAIT_MS;
	PGresult *res = run(s, "outbox next due", sql_next_due, 0, NULL);

	if (res == NULL)
		return s->conn == NULL ? 0 : s->backoff_ms;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		ms = atoll(PQgetvalue(res, 0, 0));
		if (ms < MIN_WAIT_MS)
			ms = MIN_WAIT_MS;
		if (ms > IDLE_WAIT_MS)
			ms = IDLE_WAIT_MS;
	}
	PQclear(res);
	return drain_notifies(s) != 0 ? 0 : ms;
}

int
ch_sms_sender_run(const ch_sms_sender_config_t *cfg)
{
	struct sender s;
	size_t n;

	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	s.backoff_ms = RECONNECT_MIN_MS;
	if ((s.sigfd = ch_daemon_signals()) < 0)
		return 71;
	/* Later keywords win in a conninfo string: the caller's own
	 * settings override these defaults. */
	n = strlen(cfg->conninfo) + 160;
	s.conninfo = ch_xmalloc(n);
	snprintf(s.conninfo, n, "connect_timeout=3 tcp_user_timeout=15000 "
	    "client_encoding=UTF8 application_name=certhall-sms-sender %s",
	    cfg->conninfo);
	s.pool = ch_pool_new();
	ch_info("sender started, provider \"%s\"", cfg->provider->ops->name);

	while (!s.stopping) {
		long long wait;
		int claimed;

		if (s.conn == NULL && connect_db(&s) != 0) {
			wait_for(&s, s.reconnect_at_ms - ch_monotonic_ms());
			continue;
		}
		/* Outcomes a lost connection kept from being written. */
		if (s.nitems > 0 && flush_batch(&s) != 0)
			continue;
		if (drain_notifies(&s) < 0)
			continue;
		seal_audit(&s);
		claimed = claim(&s);
		if (claimed > 0) {
			s.backoff_ms = RECONNECT_MIN_MS;
			deliver_batch(&s);
			continue;
		}
		if (claimed < 0) {
			/* Lost (reconnect above) or an error: do not spin. */
			if (s.conn != NULL) {
				wait_for(&s, s.backoff_ms);
				backoff_grow(&s);
			}
			continue;
		}
		wait = idle_wait_ms(&s);
		if (wait > s.seal_at_ms - ch_monotonic_ms())
			wait = s.seal_at_ms - ch_monotonic_ms();
		wait_for(&s, wait);
	}

	if (s.nitems > 0) {
		/* One last try to give back what was claimed and not sent. */
		s.reconnect_at_ms = 0;
		if ((s.conn == NULL && connect_db(&s) != 0) ||
		    flush_batch(&s) != 0)
			ch_warn("%zu claimed row(s) left to their lease",
			    s.nitems);
	}
	drop(&s);
	ch_pool_free(s.pool);
	free(s.conninfo);
	close(s.sigfd);
	ch_info("sender stopped");
	return 0;
}
