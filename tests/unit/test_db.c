/*
 * src/db.c against a fake PostgreSQL server: when a statement goes again
 * on a fresh connection and when it must not (db.h, "Sending again").
 *
 * The server, forked per test like test_paygw.c's, speaks just enough of
 * the v3 protocol on a unix socket for libpq: trust authentication, the
 * simple and the extended query protocol (pipelined too), every statement
 * a command without rows.  It counts each statement it executes, in memory
 * shared with the test, and closes the connection on the test's word: at
 * once while it is idle (as a fast shutdown, a crash or an administrator
 * would), or when a given statement arrives (after it has read it: the
 * case where whether it took effect is unknown).
 */
#include "test.h"
#include "certhall/store/db.h"
#include "certhall/base/pool.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SEEN 16
#define MAX_STMTS 32

struct fake_shared {
	int connections;
	char close_at[96];	/* close the connection when this arrives */
	struct {
		char sql[96];
		int runs;
	} seen[MAX_SEEN];
};

typedef struct fake {
	char dir[64];
	char sock[128];
	char conninfo[256];
	pid_t pid;
	int ctl, ack;		/* the test's ends of the command pipes */
	struct fake_shared *sh;
	ch_db_t *db;		/* a worker's handle on it */
	ch_pool_t *pool;
} fake_t;

/* ---- the server (child) ---------------------------------------------- */

struct peer {
	int fd;
	unsigned char in[65536];
	size_t n;
	char txn;		/* ReadyForQuery status: 'I' or 'T' */
	const char *portal;	/* the bound statement's SQL */
	struct {
		char name[64];
		char sql[96];
	} stmts[MAX_STMTS];
	int nstmts;
};

/* Copies src into dst[cap], cut short if need be. */
static void
set_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int
send_msg(int fd, char type, const void *body, size_t len)
{
	unsigned char buf[1024];
	uint32_t n = htonl((uint32_t)(len + 4));

	if (len + 5 > sizeof buf)
		return -1;
	buf[0] = (unsigned char)type;
	memcpy(buf + 1, &n, 4);
	memcpy(buf + 5, body, len);
	return write(fd, buf, len + 5) == (ssize_t)(len + 5) ? 0 : -1;
}

static void
send_param(int fd, const char *name, const char *value)
{
	char body[128];
	size_t a = strlen(name) + 1, b = strlen(value) + 1;

	memcpy(body, name, a);
	memcpy(body + a, value, b);
	send_msg(fd, 'S', body, a + b);
}

/* An ErrorResponse or NoticeResponse: severity, SQLSTATE, message. */
static void
send_report(int fd, char type, const char *sev, const char *code,
    const char *msg)
{
	char body[512];
	size_t n = 0;
	const char *fields[][2] = {
		{ "S", sev }, { "V", sev }, { "C", code }, { "M", msg },
	};

	for (size_t i = 0; i < 4; i++) {
		size_t len = strlen(fields[i][1]) + 1;

		body[n++] = fields[i][0][0];
		memcpy(body + n, fields[i][1], len);
		n += len;
	}
	body[n++] = '\0';
	send_msg(fd, type, body, n);
}

static void
send_fatal(int fd)
{
	send_report(fd, 'E', "FATAL", "57P01",
	    "terminating connection due to administrator command");
}

static int
read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static uint32_t
be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* Counts sql; -1 when the connection is to close on it. */
static int
execute(struct fake_shared *sh, struct peer *p, const char *sql)
{
	char tag[32];
	int i;

	while (*sql == ' ')
		sql++;
	for (i = 0; i < MAX_SEEN && sh->seen[i].sql[0] != '\0'; i++)
		if (strcmp(sh->seen[i].sql, sql) == 0)
			break;
	if (i < MAX_SEEN) {
		set_str(sh->seen[i].sql, sizeof sh->seen[i].sql, sql);
		sh->seen[i].runs++;
	}
	if (sh->close_at[0] != '\0' && strcmp(sh->close_at, sql) == 0) {
		sh->close_at[0] = '\0';
		return -1;
	}
	if (strncmp(sql, "BEGIN", 5) == 0)
		p->txn = 'T';
	else if (strncmp(sql, "COMMIT", 6) == 0 || strncmp(sql, "ROLLBACK", 8) == 0)
		p->txn = 'I';
	snprintf(tag, sizeof tag, "%.*s", (int)strcspn(sql, " "), sql);
	send_msg(p->fd, 'C', tag, strlen(tag) + 1);
	return 0;
}

/* One frontend message; -1 to close the connection. */
static int
handle(struct fake_shared *sh, struct peer *p, char type, char *body)
{
	char *name, *sql, *part, *save;
	int i, any = 0;

	switch (type) {
	case 'Q':
		for (part = strtok_r(body, ";", &save); part != NULL;
		    part = strtok_r(NULL, ";", &save)) {
			if (part[strspn(part, " ")] == '\0')
				continue;
			any = 1;
			if (execute(sh, p, part) != 0)
				return -1;
		}
		if (!any)
			send_msg(p->fd, 'I', "", 0);
		return send_msg(p->fd, 'Z', &p->txn, 1);
	case 'P':
		name = body;
		sql = name + strlen(name) + 1;
		for (i = 0; i < p->nstmts; i++)
			if (strcmp(p->stmts[i].name, name) == 0)
				break;
		if (i == MAX_STMTS)
			return -1;
		if (i == p->nstmts)
			p->nstmts++;
		set_str(p->stmts[i].name, sizeof p->stmts[i].name, name);
		set_str(p->stmts[i].sql, sizeof p->stmts[i].sql, sql);
		return send_msg(p->fd, '1', "", 0);
	case 'B':
		name = body + strlen(body) + 1;		/* after the portal */
		p->portal = NULL;
		for (i = 0; i < p->nstmts; i++)
			if (strcmp(p->stmts[i].name, name) == 0)
				p->portal = p->stmts[i].sql;
		return p->portal != NULL ? send_msg(p->fd, '2', "", 0) : -1;
	case 'D':
		if (body[0] == 'S')
			send_msg(p->fd, 't', "\0", 2);
		return send_msg(p->fd, 'n', "", 0);
	case 'E':
		return p->portal != NULL ? execute(sh, p, p->portal) : -1;
	case 'S':
		return send_msg(p->fd, 'Z', &p->txn, 1);
	case 'H':
		return 0;
	case 'C':
		return send_msg(p->fd, '3', "", 0);
	default:	/* 'X' (Terminate), or what this fake does not know */
		return -1;
	}
}

/* The startup exchange: trust, a few parameters, ready. */
static int
startup(int fd)
{
	unsigned char head[8], rest[1024];
	uint32_t len, code;
	const unsigned char auth_ok[4] = { 0, 0, 0, 0 };
	const unsigned char key[8] = { 0, 0, 0x30, 0x39, 0, 0, 0, 7 };

	for (;;) {
		if (read_exact(fd, head, 8) != 0)
			return -1;
		len = be32(head);
		code = be32(head + 4);
		if (len < 8 || len - 8 > sizeof rest ||
		    read_exact(fd, rest, len - 8) != 0)
			return -1;
		if (code != 80877103 && code != 80877104)	/* SSL, GSS */
			break;
		if (write(fd, "N", 1) != 1)
			return -1;
	}
	send_msg(fd, 'R', auth_ok, 4);
	send_param(fd, "server_version", "15.0");
	send_param(fd, "server_encoding", "UTF8");
	send_param(fd, "client_encoding", "UTF8");
	send_param(fd, "standard_conforming_strings", "on");
	send_param(fd, "integer_datetimes", "on");
	send_msg(fd, 'K', key, 8);
	return send_msg(fd, 'Z', "I", 1);
}

/*
 * Serves one connection until it closes.  Commands from the test (one
 * byte, acknowledged with one byte once done): 'K' FATAL 57P01 and close,
 * as a fast shutdown does; 'E' close without a word, as a crash does;
 * 'F' the FATAL alone (its EOF not yet sent); 'N' a WARNING notice and a
 * ParameterStatus, which must not cost the connection.
 */
static void
serve_peer(struct fake_shared *sh, int fd, int ctl, int ack)
{
	static struct peer p;

	memset(&p, 0, sizeof p);
	p.fd = fd;
	p.txn = 'I';
	if (startup(fd) != 0)
		goto out;
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = ctl, .events = POLLIN },
		};
		ssize_t r;
		char cmd;

		if (poll(pf, 2, -1) < 0)
			goto out;
		if (pf[1].revents & POLLIN) {
			if (read(ctl, &cmd, 1) != 1)
				_exit(0);
			if (cmd == 'K' || cmd == 'F')
				send_fatal(fd);
			if (cmd == 'N') {
				send_report(fd, 'N', "WARNING", "01000",
				    "just so you know");
				send_param(fd, "application_name", "fake");
			}
			if (cmd == 'K' || cmd == 'E') {
				close(fd);
				fd = -1;
			}
			(void)!write(ack, &cmd, 1);
			if (fd < 0)
				return;
			continue;
		}
		r = read(fd, p.in + p.n, sizeof p.in - p.n);
		if (r <= 0)
			goto out;
		p.n += (size_t)r;
		while (p.n >= 5 && p.n >= 1 + (size_t)be32(p.in + 1)) {
			size_t len = 1 + be32(p.in + 1);
			char body[sizeof p.in];

			memcpy(body, p.in + 5, len - 5);
			body[len - 5] = '\0';
			if (handle(sh, &p, (char)p.in[0], body) != 0)
				goto out;
			memmove(p.in, p.in + len, p.n - len);
			p.n -= len;
		}
	}
out:
	if (fd >= 0)
		close(fd);
}

static void __attribute__((noreturn))
serve(struct fake_shared *sh, int lfd, int ctl, int ack)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			_exit(1);
		sh->connections++;
		serve_peer(sh, fd, ctl, ack);
	}
}

/* ---- the test's side ------------------------------------------------- */

static int
fake_start(fake_t *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ctl[2], ack[2], lfd;

	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/certhall-unit-db.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->sock, sizeof f->sock, "%s/.s.PGSQL.5432", f->dir);
	set_str(sa.sun_path, sizeof sa.sun_path, f->sock);
	snprintf(f->conninfo, sizeof f->conninfo, "host=%s port=5432 "
	    "user=unit dbname=unit sslmode=disable gssencmode=disable", f->dir);
	f->sh = mmap(NULL, sizeof *f->sh, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (f->sh == MAP_FAILED || lfd < 0 || pipe(ctl) != 0 || pipe(ack) != 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(lfd, 8) != 0)
		return -1;
	memset(f->sh, 0, sizeof *f->sh);
	fflush(NULL);
	f->pid = fork();
	if (f->pid == 0) {
		/* Never outlives the test, nor waits forever for it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(30);
		close(ctl[1]);
		close(ack[0]);
		serve(f->sh, lfd, ctl[0], ack[1]);
	}
	close(lfd);
	close(ctl[0]);
	close(ack[1]);
	f->ctl = ctl[1];
	f->ack = ack[0];
	f->db = ch_db_new(f->conninfo);
	f->pool = ch_pool_new();
	return f->pid > 0 ? 0 : -1;
}

/* Has the server carry out cmd (see serve_peer()); 0 once it has. */
static int
fake_do(fake_t *f, char cmd)
{
	struct pollfd p = { .fd = f->ack, .events = POLLIN };
	char done;

	if (write(f->ctl, &cmd, 1) != 1 || poll(&p, 1, 5000) != 1 ||
	    read(f->ack, &done, 1) != 1)
		return -1;
	return done == cmd ? 0 : -1;
}

/* How often the server has executed sql. */
static int
fake_runs(const fake_t *f, const char *sql)
{
	for (int i = 0; i < MAX_SEEN; i++)
		if (strcmp(f->sh->seen[i].sql, sql) == 0)
			return f->sh->seen[i].runs;
	return 0;
}

static void
fake_close_at(fake_t *f, const char *sql)
{
	set_str(f->sh->close_at, sizeof f->sh->close_at, sql);
}

static void
fake_stop(fake_t *f)
{
	ch_db_free(f->db);
	ch_pool_free(f->pool);
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	close(f->ctl);
	close(f->ack);
	unlink(f->sock);
	rmdir(f->dir);
	munmap(f->sh, sizeof *f->sh);
}

#define W1 "INSERT INTO t VALUES (1)"
#define W2 "UPDATE t SET n = n + 1"
#define R1 "SELECT 1"

static const ch_stmt_t stmt_w1 = { .name = "unit_w1", .sql = W1 };
static const ch_stmt_t stmt_w2 = { .name = "unit_w2", .sql = W2 };
static const ch_stmt_t stmt_r1 = { .name = "unit_r1", .sql = R1,
	.readonly = true };

int
test_db_reopens_closed_idle_connection(void)
{
	fake_t f;

	CHECK(fake_start(&f) == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	CHECK(f.sh->connections == 1 && fake_runs(&f, W1) == 1);

	/* A fast shutdown (and start) while idle: FATAL 57P01, then EOF.
	 * Nothing of the next write was sent on that connection, so it
	 * goes on a new one, once. */
	CHECK(fake_do(&f, 'K') == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	CHECK(f.sh->connections == 2 && fake_runs(&f, W1) == 2);

	/* A crash: EOF alone.  A transaction's BEGIN finds it too. */
	CHECK(fake_do(&f, 'E') == 0);
	CHECK(ch_db_begin(f.db) == 0);
	CHECK(ch_db_queue(f.db, f.pool, &stmt_w1, NULL) == 0);
	CHECK(ch_db_commit(f.db) == 0);
	CHECK(f.sh->connections == 3 && fake_runs(&f, W1) == 3);
	CHECK(fake_runs(&f, "BEGIN") == 1 && fake_runs(&f, "COMMIT") == 1);

	/* The FATAL has come, its EOF not yet: closing all the same. */
	CHECK(fake_do(&f, 'F') == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	CHECK(f.sh->connections == 4 && fake_runs(&f, W1) == 4);

	/* /health's check replaces it the same way, without a round trip. */
	CHECK(fake_do(&f, 'K') == 0);
	CHECK(ch_db_check(f.db, f.pool, 60000) == 0);
	CHECK(f.sh->connections == 5 && fake_runs(&f, R1) == 0);
	CHECK(ch_db_up(f.db));
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	CHECK(f.sh->connections == 5 && fake_runs(&f, W1) == 5);

	fake_stop(&f);
	return 0;
}

int
test_db_keeps_connection_after_notice(void)
{
	fake_t f;

	CHECK(fake_start(&f) == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	/* Readable, but not closing: the connection stays. */
	CHECK(fake_do(&f, 'N') == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w1, NULL) != NULL);
	CHECK(ch_db_check(f.db, f.pool, 60000) == 0);
	CHECK(f.sh->connections == 1 && fake_runs(&f, W1) == 2);
	CHECK(fake_runs(&f, R1) == 0);

	fake_stop(&f);
	return 0;
}

int
test_db_never_resends_after_sending(void)
{
	fake_t f;

	CHECK(fake_start(&f) == 0);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_r1, NULL) != NULL);

	/* The connection dies at COMMIT, after the server has read it:
	 * whether the transaction committed is unknown.  The commit fails
	 * as a lost connection and nothing is sent again, neither there nor
	 * with the next request on its new connection. */
	fake_close_at(&f, "COMMIT");
	CHECK(ch_db_begin(f.db) == 0);
	CHECK(ch_db_queue(f.db, f.pool, &stmt_w1, NULL) == 0);
	CHECK(ch_db_commit(f.db) == -1);
	CHECK_STR(ch_db_sqlstate(f.db), "08006");
	CHECK(!ch_db_up(f.db));
	CHECK(f.sh->connections == 1);
	CHECK(fake_runs(&f, W1) == 1 && fake_runs(&f, "COMMIT") == 1);
	ch_db_finish(f.db);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_r1, NULL) != NULL);
	CHECK(f.sh->connections == 2);
	CHECK(fake_runs(&f, W1) == 1 && fake_runs(&f, "COMMIT") == 1);
	CHECK(fake_runs(&f, "BEGIN") == 1);

	/* A write outside a transaction, lost after it was sent: the same. */
	fake_close_at(&f, W2);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_w2, NULL) == NULL);
	CHECK_STR(ch_db_sqlstate(f.db), "08006");
	CHECK(fake_runs(&f, W2) == 1 && f.sh->connections == 2);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_r1, NULL) != NULL);
	CHECK(fake_runs(&f, W2) == 1 && f.sh->connections == 3);

	/* A read (ch_stmt_t.readonly) goes once more: it changes nothing. */
	fake_close_at(&f, R1);
	CHECK(ch_db_exec(f.db, f.pool, &stmt_r1, NULL) != NULL);
	CHECK(fake_runs(&f, R1) == 5 && f.sh->connections == 4);

	fake_stop(&f);
	return 0;
}
