/*
 * certhall-admin: operator commands that run beside the service.
 *
 *   certhall-admin migrate [--dir sql]
 *   certhall-admin routes [--json]
 *   certhall-admin create-admin --username U --display-name N  < password
 *   certhall-admin create-integrator --name N
 *   certhall-admin verify-audit [--batch N]
 *
 * The database conninfo comes from CERTHALL_DB (connect as the schema
 * owner); create-integrator also reads the pepper from
 * CERTHALL_PEPPER_FILE, under which the secret is sealed.  Exit codes
 * follow sysexits.h, but for verify-audit's 1 (the chain is broken).
 */
#include "certhall/store/auditchain.h"
#include "api.h"
#include "certhall/store/audit.h"
#include "certhall/base/crypto.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/store/migrate.h"
#include "certhall/domain/integrator.h"
#include "certhall/domain/people.h"
#include "certhall/domain/staff.h"
#include "certhall/web/router.h"
#include "certhall/base/util.h"

#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>
#include <string.h>

static void
usage(FILE *out)
{
	fprintf(out, "usage: certhall-admin migrate [--dir DIR]\n"
	    "       certhall-admin routes [--json]\n"
	    "       certhall-admin create-admin --username U --display-name N"
	    " < password\n"
	    "       certhall-admin create-integrator --name N\n"
	    "       certhall-admin verify-audit [--batch N]\n"
	    "The database conninfo comes from $CERTHALL_DB; create-integrator\n"
	    "also needs $CERTHALL_PEPPER_FILE.  create-admin reads the\n"
	    "password (12 to 128 characters) from the first line of stdin.\n"
	    "verify-audit seals the audit events committed so far, then exits 0\n"
	    "when the audit chain is whole, 1 naming the first broken link; it\n"
	    "reads N rows (default 1000) a round trip.  routes prints the route\n"
	    "table (METHOD PATH ROLES), or with --json as JSON.\n");
}

/* The names of a route's roles ("public", "applicant", "integrator", then
 * the staff roles): a new JSON array the caller owns. */
static json_t *
route_roles(const ch_route_t *r)
{
	json_t *roles = json_array();

	if (r->roles & CH_ROLE_PUBLIC)
		json_array_append_new(roles, json_string("public"));
	if (r->roles & CH_ROLE_APPLICANT)
		json_array_append_new(roles, json_string("applicant"));
	if (r->roles & CH_ROLE_INTEGRATOR)
		json_array_append_new(roles, json_string("integrator"));
	for (int b = 0; ch_staff_role_names[b] != NULL; b++)
		if (r->roles & ((unsigned)CH_ROLE_REVIEWER << b))
			json_array_append_new(roles,
			    json_string(ch_staff_role_names[b]));
	return roles;
}

/* The route table as JSON, [{"method","path","roles":[...]}]: what the
 * authorization matrix test compares against openapi.yaml.  0 or 70. */
static int
routes_print_json(void)
{
	json_t *all = json_array();
	char *s;

	for (size_t i = 0; i < ch_nroutes; i++) {
		const ch_route_t *r = &ch_routes[i];
		char path[256];

		ch_router_path(r->pattern, path, sizeof path);
		json_array_append_new(all, json_pack("{s:s, s:s, s:o}",
		    "method", ch_method_name(r->method), "path", path,
		    "roles", route_roles(r)));
	}
	s = json_dumps(all, JSON_INDENT(2));
	json_decref(all);
	if (s == NULL)
		return 70;
	puts(s);
	free(s);
	return 0;
}

/* The route table for a person: a METHOD, PATH, ROLES row a route, in the
 * table's order, the roles joined by commas. */
static void
routes_print_table(void)
{
	int width = (int)strlen("PATH");

	for (size_t i = 0; i < ch_nroutes; i++) {
		int len = (int)strlen(ch_routes[i].pattern);

		if (len > width)
			width = len;
	}
	printf("%-7s %-*s %s\n", "METHOD", width, "PATH", "ROLES");
	for (size_t i = 0; i < ch_nroutes; i++) {
		const ch_route_t *r = &ch_routes[i];
		json_t *roles = route_roles(r);
		size_t k;
		json_t *name;
		char path[256];

		ch_router_path(r->pattern, path, sizeof path);
		printf("%-7s %-*s ", ch_method_name(r->method), width, path);
		json_array_foreach(roles, k, name)
			printf("%s%s", k > 0 ? "," : "", json_string_value(name));
		putchar('\n');
		json_decref(roles);
	}
}

/* certhall-admin routes [--json]: the table (as JSON with --json), then
 * exit 65 when it breaks a rule of ch_router_check(). */
static int
cmd_routes(int argc, char **argv)
{
	int rc = 0;

	if (argc == 2 && strcmp(argv[1], "--json") == 0) {
		rc = routes_print_json();
	} else if (argc == 1) {
		routes_print_table();
	} else {
		usage(stderr);
		return 64;
	}
	if (rc != 0)
		return rc;
	return ch_router_check(ch_routes, ch_nroutes) == 0 ? 0 : 65;
}

static int
cmd_migrate(int argc, char **argv, const char *conninfo)
{
	const char *dir = "sql";
	PGconn *conn;
	int applied = 0, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			usage(stderr);
			return 64;
		}
	}
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		ch_error("database connect failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 69;
	}
	rc = ch_migrate(conn, dir, &applied);
	PQfinish(conn);
	if (rc != 0)
		return 65;
	printf("migrations: %d applied, database up to date\n", applied);
	return 0;
}

/* ---- create-admin, create-integrator ---------------------------------- */


typedef struct {
	ch_pool_t *pool;
	ch_db_t *db;
	ch_ctx_t ctx;		/* the command's, as the system */
} cli_t;

/* Connects and opens a transaction.  0, or an exit code after saying why. */
static int
cli_open(cli_t *c, const char *conninfo)
{
	memset(c, 0, sizeof *c);
	c->pool = ch_pool_new();
	c->db = ch_db_new(conninfo);
	ch_ctx_system(&c->ctx, c->pool, c->db, "certhall-admin", "cli");
	if (ch_db_connect(c->db) != 0) {
		fprintf(stderr, "certhall-admin: cannot connect to the database\n");
		return 69;
	}
	if (ch_db_begin(c->db) != 0)
		return 70;
	return 0;
}

static void
cli_close(cli_t *c)
{
	ch_db_free(c->db);
	ch_pool_free(c->pool);
}

/* Parses "--name value" / "--name=value" options of a command (argv[0] is
 * the command).  0, or 64 after printing the usage. */
static int
cli_options(int argc, char **argv, const struct option *opts,
    const char **values)
{
	int c, idx;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (c != 0) {
			usage(stderr);
			return 64;
		}
		values[idx] = optarg;
	}
	for (idx = 0; opts[idx].name != NULL; idx++)
		if (values[idx] == NULL)
			break;
	if (optind != argc || opts[idx].name != NULL) {
		usage(stderr);
		return 64;
	}
	return 0;
}

/*
 * Reads the first line of stdin (without its line end) into a malloc'ed
 * buffer the caller wipes and frees; NULL at end of input.  On a terminal
 * it asks, without echo.
 */
static char *
read_password(const char *username)
{
	struct termios saved, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fprintf(stderr, "password for \"%s\": ", username);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int
cmd_create_admin(int argc, char **argv, const char *conninfo)
{
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 0 },
		{ "display-name", required_argument, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *values[2] = { NULL, NULL }, *field, *why;
	ch_staff_new_t s = { .roles = CH_ROLE_ADMIN };
	char *password = NULL;
	long long id;
	cli_t c;
	int rc;

	if ((rc = cli_options(argc, argv, opts, values)) != 0)
		return rc;
	s.username = values[0];
	s.display_name = values[1];
	s.password = password = read_password(s.username);
	/* Refuse bad input before touching the database. */
	if (ch_staff_check(&s, &field, &why) != CH_PEOPLE_OK) {
		fprintf(stderr, "certhall-admin: %s %s%s\n", field, why,
		    strcmp(field, "password") == 0
		    ? " (the first line of stdin)" : "");
		rc = 65;
		goto wipe;
	}
	if ((rc = cli_open(&c, conninfo)) != 0)
		goto out;
	/* The audit event's actor is the command's context: the system. */
	switch (ch_staff_create(&c.ctx, &s, &id, &field, &why)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_CONFLICT:
		fprintf(stderr, "certhall-admin: the username \"%s\" is taken; "
		    "nothing was changed\n", s.username);
		rc = 65;
		goto out;
	case CH_PEOPLE_INVALID:
		fprintf(stderr, "certhall-admin: %s %s\n", field, why);
		rc = 65;
		goto out;
	default:
		rc = 70;
		goto out;
	}
	if (ch_db_commit(c.db) != 0) {
		rc = 70;
		goto out;
	}
	printf("{\"id\":%lld,\"username\":\"%s\",\"roles\":[\"admin\"]}\n",
	    id, s.username);
out:
	cli_close(&c);
wipe:
	if (password != NULL) {
		OPENSSL_cleanse(password, strlen(password));
		free(password);
	}
	return rc;
}

static int
cmd_create_integrator(int argc, char **argv, const char *conninfo)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *pepper = getenv("CERTHALL_PEPPER_FILE"), *why;
	ch_integrator_new_t k;
	cli_t c;
	int rc;

	if ((rc = cli_options(argc, argv, opts, &name)) != 0)
		return rc;
	if (pepper == NULL) {
		fprintf(stderr, "certhall-admin: set CERTHALL_PEPPER_FILE\n");
		return 78;
	}
	if (ch_crypto_load_pepper(pepper) != 0)
		return 78;
	if ((rc = cli_open(&c, conninfo)) != 0)
		goto out;
	switch (ch_integrator_create(&c.ctx, name, &k, &why)) {
	case CH_PEOPLE_OK:
		break;
	case CH_PEOPLE_INVALID:
		fprintf(stderr, "certhall-admin: name %s\n", why);
		rc = 65;
		goto out;
	default:
		rc = 70;
		goto out;
	}
	if (ch_db_commit(c.db) != 0) {
		rc = 70;
		goto wipe;
	}
	/* Hex digits only: no JSON escaping needed, and no copy of the
	 * secret left in a library's heap. */
	printf("{\"id\":%lld,\"key_id\":\"%s\",\"secret\":\"%s\"}\n", k.id,
	    k.key_id, k.secret);
wipe:
	OPENSSL_cleanse(&k, sizeof k);
out:
	cli_close(&c);
	return rc;
}

/* ---- verify-audit ------------------------------------------------------ */

/* Rows per round trip by default: the chain is walked in keyset pages by
 * seq, never loaded whole. */
#define VERIFY_BATCH 1000

/*
 * One page of the chain after seq $1, with each row's hash recomputed by
 * audit_event_hash() (sql/0006_audit_chain.sql): the very function the
 * sealer uses (sql/0007_audit_seal.sql), so the verifier and the sealer
 * share one definition of the canonical text and the hash.
 */
static const char verify_page_sql[] =
    "SELECT seq, id, prev_hash, hash, audit_event_hash(prev_hash, e)"
    " FROM audit_event e WHERE seq > $1::bigint ORDER BY seq"
    " LIMIT $2::integer";

/* Whether column c of row r is a non-NULL value equal to want. */
static bool
col_is(const PGresult *r, int row, int c, const char *want)
{
	return !PQgetisnull(r, row, c) && strcmp(PQgetvalue(r, row, c), want) == 0;
}

/*
 * Seals the audit chain (every event committed by now gets its place,
 * certhall/auditchain.h), then walks it in seq order (docs/CONTRACT.md
 * "Audit chain"): seq must run 1, 2, 3, ... without a gap, each row's
 * prev_hash must be the hash of the row before (64 zeros for the first),
 * and each hash must be what audit_event_hash() gives for the row now.
 * The walk reads one snapshot (REPEATABLE READ), so events added or sealed
 * meanwhile neither break nor lengthen it.  Prints "audit chain ok: N events" (and the head, to be
 * kept elsewhere: a chain cannot show rows cut off its end) and returns 0,
 * or prints the first broken link and returns 1; 69/70 when the database
 * cannot be read.
 */
static int
cmd_verify_audit(int argc, char **argv, const char *conninfo)
{
	static const struct option opts[] = {
		{ "batch", required_argument, NULL, 0 },
		{ NULL, 0, NULL, 0 },
	};
	const char *batch_opt = NULL;
	char expect_prev[65], after[24], limit[24], last_id[24] = "";
	long long next_seq = 1, count = 0, batch = VERIFY_BATCH;
	PGconn *conn;
	PGresult *r = NULL;
	int rc = 70, n, c, idx;

	/* Every option is optional here, unlike cli_options()'s. */
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		if (c != 0) {
			usage(stderr);
			return 64;
		}
		batch_opt = optarg;
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (batch_opt != NULL &&
	    (batch = ch_parse_long(batch_opt, 10, 100000)) < 1) {
		fprintf(stderr, "certhall-admin: --batch must be 1 to 100000\n");
		return 64;
	}
	snprintf(limit, sizeof limit, "%lld", batch);
	memset(expect_prev, '0', 64);
	expect_prev[64] = '\0';
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		ch_error("database connect failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 69;
	}
	if (ch_audit_seal(conn, CH_AUDIT_SEAL_BATCH, 0) < 0) {
		PQfinish(conn);
		return 70;
	}
	r = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto sqlfail;
	for (;;) {
		const char *params[2] = { after, limit };

		PQclear(r);
		snprintf(after, sizeof after, "%lld", next_seq - 1);
		r = PQexecParams(conn, verify_page_sql, 2, NULL, params, NULL,
		    NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			goto sqlfail;
		n = PQntuples(r);
		for (int i = 0; i < n; i++) {
			const char *seq = PQgetvalue(r, i, 0), *id = PQgetvalue(r, i, 1);
			char want_seq[24];
			const char *what = NULL;

			snprintf(want_seq, sizeof want_seq, "%lld", next_seq);
			if (strcmp(seq, want_seq) != 0)
				what = "missing seq";
			else if (!col_is(r, i, 2, expect_prev))
				what = "prev_hash mismatch";
			else if (PQgetisnull(r, i, 4) ||
			    !col_is(r, i, 3, PQgetvalue(r, i, 4)))
				what = "hash mismatch";
			if (what != NULL) {
				printf("audit chain broken at seq %s (id %s): %s",
				    seq, id, what);
				if (strcmp(what, "missing seq") == 0) {
					long long got = strtoll(seq, NULL, 10);

					if (got > next_seq + 1)
						printf(" (seq %lld to %lld absent)",
						    next_seq, got - 1);
					else
						printf(" (seq %lld absent)", next_seq);
				}
				putchar('\n');
				rc = 1;
				goto out;
			}
			/* Verified: the next row must link to this hash. */
			snprintf(expect_prev, sizeof expect_prev, "%s",
			    PQgetvalue(r, i, 3));
			snprintf(last_id, sizeof last_id, "%s", id);
			next_seq++;
			count++;
		}
		if (n < batch)
			break;
	}
	printf("audit chain ok: %lld events\n", count);
	if (count > 0)
		printf("head: seq %lld (id %s) hash %s\n", next_seq - 1, last_id,
		    expect_prev);
	rc = 0;
	goto out;
sqlfail:
	ch_error("reading the audit chain failed: %s", PQerrorMessage(conn));
	rc = 70;
out:
	PQclear(r);
	PQfinish(conn);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *conninfo = getenv("CERTHALL_DB");

	ch_log_init("certhall-admin");
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 64 : 0;
	}
	if (strcmp(argv[1], "routes") == 0)
		return cmd_routes(argc - 1, argv + 1);
	if (conninfo == NULL) {
		fprintf(stderr, "certhall-admin: set CERTHALL_DB\n");
		return 64;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(argc - 2, argv + 2, conninfo);
	if (strcmp(argv[1], "create-admin") == 0)
		return cmd_create_admin(argc - 1, argv + 1, conninfo);
	if (strcmp(argv[1], "create-integrator") == 0)
		return cmd_create_integrator(argc - 1, argv + 1, conninfo);
	if (strcmp(argv[1], "verify-audit") == 0)
		return cmd_verify_audit(argc - 1, argv + 1, conninfo);
	usage(stderr);
	return 64;
}
