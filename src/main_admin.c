/*
 * certhall-admin: operator commands that run beside the service.
 *
 *   certhall-admin migrate [--dir sql]
 *
 * The database conninfo comes from CERTHALL_DB (connect as the schema
 * owner).  Exit codes follow sysexits.h.
 */
#include "certhall/log.h"
#include "certhall/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *out)
{
	fprintf(out, "usage: certhall-admin migrate [--dir DIR]\n"
	    "The database conninfo comes from $CERTHALL_DB.\n");
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

int
main(int argc, char **argv)
{
	const char *conninfo = getenv("CERTHALL_DB");

	ch_log_init("certhall-admin");
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 64 : 0;
	}
	if (conninfo == NULL) {
		fprintf(stderr, "certhall-admin: set CERTHALL_DB\n");
		return 64;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(argc - 2, argv + 2, conninfo);
	usage(stderr);
	return 64;
}
