/*
 * Revocation and its publication (SPEC §2 revoke, §8; issue 13): the
 * database side.  sql/0015_revocation.sql tells the whole story; in short:
 *
 * - Revoking is one transaction: the certificate (status, revoked_at, an
 *   RFC 5280 reason name), the audit event certificate.revoked, an SMS to
 *   the certificate's registered phone, NOTIFY revocation with the
 *   certificate id (delivered at commit: the OCSP pass refreshes at once),
 *   and for a revoke application its job done and the application
 *   issuing -> issued (history, audit).  The job to publish is the
 *   certificate row itself: revoked with crl_number NULL.  Seals are not
 *   written: their status is derived from their certificate's.
 * - certhall-signer publishes: it reads the entries of the next CRL
 *   (ch_crl_entries), signs it in the token, and stores it
 *   (ch_crl_store), which marks the revocations it carries published and
 *   completes their revoke applications (issued -> completed).
 * - The web serves the newest CRL of a scope (ch_crl_newest).
 *
 * Nothing here commits unless it says so.
 */
#ifndef CERTHALL_DOMAIN_REVOCATION_H
#define CERTHALL_DOMAIN_REVOCATION_H

#include <stddef.h>
#include <time.h>

#include "certhall/codec/crl.h"
#include "certhall/store/ctx.h"

/* The reason of an RFC 5280 name ("keyCompromise"), CH_CRL__MAX for a name
 * that is not a reason certhall revokes for (ch_crl_reason_ok()). */
ch_crl_reason_t ch_revocation_reason_parse(const char *name);

typedef enum {
	CH_REVOKE_DONE,
	CH_REVOKE_NOT_FOUND,		/* no certificate with this serial */
	CH_REVOKE_ALREADY,		/* revoked before */
	CH_REVOKE_ERROR,		/* database (logged) */
} ch_revoke_result_t;

/*
 * Revokes the certificate with serial (lowercase, ch_cert_serial_parse())
 * for ctx->principal (staff with the admin role: the route checks it), for
 * reason (ch_crl_reason_ok()), in the caller's transaction (open one
 * first; commit after CH_REVOKE_DONE, roll back otherwise).  note (may be
 * NULL) goes into the audit event with the reason.  An open application
 * about the certificate is left alone: its issuance fails at the signer's
 * lint or completes a revoke that is already done.
 */
ch_revoke_result_t ch_revocation_admin(ch_ctx_t *ctx, const char *serial,
    ch_crl_reason_t reason, const char *note);

/*
 * certhall-signer: records the revocation of every settled revoke
 * application waiting (signing_job kind 'revoke', queued), one
 * transaction each, committed here (see above; the reason is the
 * application's revocation_reason, unspecified when it gives none).  A
 * certificate revoked already (by an admin meanwhile) keeps its reason
 * and date; the application moves on all the same, to completed at once
 * when that revocation was published already.  *n receives how many jobs
 * were done.  0, or -1 (database: what was committed stays).
 */
int ch_revocation_jobs(ch_ctx_t *ctx, const char *signer, int *n);

/* What the signer needs to decide whether a scope needs a new CRL. */
typedef struct {
	long long number;		/* the newest CRL's, 0 for none */
	long long issuer_id;		/* which ca_certificate signed it */
	time_t this_update, next_update;
	long long unpublished;		/* revocations waiting for a CRL */
	long long oldest_ms;		/* how long the oldest has waited */
} ch_crl_state_t;

/*
 * The state of scope ("issuing", "root") for issuer_id (the active
 * certificate of the scope's CA; certificates count when their issuer has
 * the same subject and key, so a renewed CA certificate goes on listing
 * what its predecessor issued).  0 or -1.
 */
int ch_crl_state(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    ch_crl_state_t *out);

/* The entries of the next CRL and which of them are new. */
typedef struct {
	ch_crl_entry_t *entries;	/* n, in ctx->pool (serials too) */
	size_t n;
	long long *pending;		/* certificate ids not yet published */
	size_t npending;
	long long number;		/* the cRLNumber to use (a new one) */
	time_t now;			/* the database's clock: thisUpdate */
} ch_crl_batch_t;

/*
 * The next CRL of issuer_id's certificates: every revoked certificate
 * that has not expired before since (the previous CRL's thisUpdate, 0 for
 * none), so that one revoked just before it expires is listed by at least
 * the first CRL made after its notAfter (RFC 5280 §3.3; crl.h), with a new
 * number from crl_number_seq.  The root scope lists no certificates
 * (certhall never revokes a CA certificate online: that is a ceremony).
 * Outside a transaction.  0 or -1.
 */
int ch_crl_entries(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    time_t since, ch_crl_batch_t *out);

/*
 * Stores a signed CRL of scope (der, len bytes; this_update and
 * next_update as signed; b as ch_crl_entries() gave it) and, in the same
 * transaction, committed here: crl_number on the certificates of
 * b->pending, their revoke applications issued -> completed (history,
 * audit application.completed with the CRL number), and the DER of the
 * scope's CRLs older than the newest 10 dropped (their rows stay).  0 or
 * -1 (nothing stored).
 */
int ch_crl_store(ch_ctx_t *ctx, const char *scope, long long issuer_id,
    const char *signer, const ch_crl_batch_t *b, time_t this_update,
    time_t next_update, const unsigned char *der, size_t len);

/*
 * Takes (or gives back, take 0) the lock that lets one signer at a time
 * make CRLs: a PostgreSQL session advisory lock, so a signer that dies
 * lets go of it.  1 taken, 0 held by another, -1 error.
 */
int ch_crl_lock(ch_ctx_t *ctx, int take);

/* The newest CRL of a scope as the web serves it (all in ctx->pool). */
typedef struct {
	const unsigned char *der;
	size_t len;
	long long number;
	time_t this_update, next_update;
	char sha256[65];
} ch_crl_file_t;

/* The newest CRL of scope.  1 found, 0 none yet, -1 error. */
int ch_crl_newest(ch_ctx_t *ctx, const char *scope, ch_crl_file_t *out);

#endif
