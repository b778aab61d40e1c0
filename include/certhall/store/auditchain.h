/*
 * Sealing the audit chain (sql/0007_audit_seal.sql; docs/CONTRACT.md
 * "Audit chain").
 *
 * Audit events are inserted unsealed; audit_event_seal() in the database
 * gives committed ones their place in the hash chain, a batch per call.
 * Callers: certhall-sms-sender about once a second, and certhall-admin
 * verify-audit before it walks the chain.
 */
#ifndef CERTHALL_AUDITCHAIN_H
#define CERTHALL_AUDITCHAIN_H

#include <libpq-fe.h>

/* Rows per call of audit_event_seal() (it takes 1 to 10000). */
#define CH_AUDIT_SEAL_BATCH 1000

/*
 * Calls audit_event_seal(batch) on conn (autocommit, outside any
 * transaction of the caller) until a call seals fewer than batch rows, so
 * that every row committed before that call is sealed, or until max_calls
 * calls were made (0: no limit; a caller with other work bounds its turn).
 * Returns the number of rows sealed, or -1 after a failed call (logged;
 * the rows sealed by earlier calls stay sealed; the caller checks conn's
 * status to tell a lost connection).
 */
long long ch_audit_seal(PGconn *conn, int batch, int max_calls);

#endif
