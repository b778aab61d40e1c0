#include "certhall/store/migrate.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An arbitrary constant: the key of the runner's advisory lock. */
#define MIGRATE_LOCK_KEY "7331200201"

struct migration {
	int version;
	char name[256];
};

static int
cmp_migration(const void *a, const void *b)
{
	return ((const struct migration *)a)->version -
	    ((const struct migration *)b)->version;
}

/* Accepts NNNN_[a-z0-9_]+.sql; returns the version or -1. */
static int
parse_name(const char *name)
{
	size_t len = strlen(name);

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0 || name[4] != '_')
		return -1;
	for (size_t i = 0; i < 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return -1;
	for (size_t i = 5; i < len - 4; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return -1;
	return atoi(name);
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 16384;
			buf = ch_xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int
exec_ok(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ch_error("%s failed: %s", what, PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* Lists the migration files, sorted; refuses duplicates and strays that
 * look like migrations but are misnamed. */
static struct migration *
list_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct migration *m = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		ch_error("cannot open \"%s\": %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		int v;

		if (strlen(de->d_name) < 4 ||
		    strcmp(de->d_name + strlen(de->d_name) - 4, ".sql") != 0)
			continue;
		v = parse_name(de->d_name);
		if (v <= 0 || strlen(de->d_name) >= sizeof m->name) {
			ch_error("\"%s\" is not named NNNN_name.sql", de->d_name);
			goto fail;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			m = ch_xrealloc(m, cap * sizeof *m);
		}
		m[n].version = v;
		snprintf(m[n].name, sizeof m[n].name, "%s", de->d_name);
		n++;
	}
	closedir(d);
	qsort(m, n, sizeof *m, cmp_migration);
	for (size_t i = 1; i < n; i++) {
		if (m[i].version == m[i - 1].version) {
			ch_error("migrations \"%s\" and \"%s\" share a version",
			    m[i - 1].name, m[i].name);
			free(m);
			return NULL;
		}
	}
	*count = n;
	return m != NULL ? m : ch_xmalloc(1);
fail:
	closedir(d);
	free(m);
	return NULL;
}

/* Applies one migration with its record, in one transaction. */
static int
apply_one(PGconn *conn, const struct migration *m, const char *sql,
    const char *hash)
{
	char version[16];
	const char *params[3] = { version, m->name, hash };
	PGresult *res;

	snprintf(version, sizeof version, "%d", m->version);
	if (exec_ok(conn, "BEGIN", "BEGIN") != 0)
		return -1;
	if (exec_ok(conn, sql, m->name) != 0)
		goto rollback;
	res = PQexecParams(conn,
	    "INSERT INTO schema_migrations (version, name, sha256)"
	    " VALUES ($1, $2, $3)", 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ch_error("recording \"%s\" failed: %s", m->name,
		    PQresultErrorMessage(res));
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	if (exec_ok(conn, "COMMIT", "COMMIT") != 0)
		return -1;
	return 0;
rollback:
	exec_ok(conn, "ROLLBACK", "ROLLBACK");
	return -1;
}

int
ch_migrate(PGconn *conn, const char *dir, int *applied)
{
	struct migration *list;
	size_t count = 0;
	int rc = -1;

	*applied = 0;
	if (exec_ok(conn, "SET client_min_messages = warning", "SET") != 0 ||
	    exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
	    "taking the migration lock") != 0)
		return -1;
	if (exec_ok(conn,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY,"
	    " name text NOT NULL,"
	    " sha256 text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating schema_migrations") != 0)
		goto unlock;

	list = list_dir(dir, &count);
	if (list == NULL)
		goto unlock;
	for (size_t i = 0; i < count; i++) {
		char path[4096], hash[65], version[16];
		const char *params[1] = { version };
		size_t len;
		char *sql;
		PGresult *res;

		snprintf(path, sizeof path, "%s/%s", dir, list[i].name);
		sql = read_file(path, &len);
		if (sql == NULL) {
			ch_error("cannot read \"%s\": %s", path, strerror(errno));
			goto out;
		}
		sha256_hex(sql, len, hash);
		snprintf(version, sizeof version, "%d", list[i].version);
		res = PQexecParams(conn,
		    "SELECT name, sha256 FROM schema_migrations WHERE version = $1",
		    1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ch_error("reading schema_migrations failed: %s",
			    PQresultErrorMessage(res));
			PQclear(res);
			free(sql);
			goto out;
		}
		if (PQntuples(res) == 1) {
			int same = strcmp(PQgetvalue(res, 0, 1), hash) == 0;

			if (!same)
				ch_error("migration \"%s\" changed after it was "
				    "applied (recorded as \"%s\"); write a new "
				    "migration instead", list[i].name,
				    PQgetvalue(res, 0, 0));
			PQclear(res);
			free(sql);
			if (!same)
				goto out;
			continue;
		}
		PQclear(res);
		if (apply_one(conn, &list[i], sql, hash) != 0) {
			free(sql);
			goto out;
		}
		free(sql);
		ch_info("applied \"%s\"", list[i].name);
		(*applied)++;
	}
	rc = 0;
out:
	free(list);
unlock:
	exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
	    "releasing the migration lock");
	return rc;
}
