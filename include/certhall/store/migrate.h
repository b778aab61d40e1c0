/*
 * The migration runner (certhall-admin migrate).
 *
 * Applies dir/NNNN_name.sql in version order, each in its own transaction
 * together with its row in schema_migrations (version, name, SHA-256), so a
 * migration is either applied and recorded or neither.  A session advisory
 * lock serialises concurrent runners.  Running it again applies nothing;
 * a recorded migration whose file has changed since is an error, never
 * silently skipped.
 */
#ifndef CERTHALL_MIGRATE_H
#define CERTHALL_MIGRATE_H

#include <libpq-fe.h>

/* Returns 0 when the database is up to date, -1 after logging why not.
 * *applied is set to the number of migrations applied now. */
int ch_migrate(PGconn *conn, const char *dir, int *applied);

#endif
