/*
 * The OCSP responder's store (issue 13; sql/0016_ocsp.sql): the database
 * side of the responses certhall-signer pre-signs and the web workers
 * serve.  Nothing here signs or speaks HTTP: the signer's pass
 * (src/bin/signer/ocsp.c) signs, api/ocsp.c answers requests.
 *
 * One row per (hash algorithm, serial) (certhall/codec/ocsp.h: one
 * response per CertID hash).  Rows come from three places:
 *
 *   a certificate issued     the trigger on certificate inserts its two
 *                            rows, due at once, in the issuing transaction
 *   a web request for a      ch_responder_demand() inserts the row (no
 *   serial with no row       certificate: an "unknown" to sign), due at
 *                            once, and NOTIFY ocsp wakes the signer
 *   the sweep                ch_responder_sweep() adds what is missing and
 *                            marks due what differs from the certificate
 *
 * and a revocation (any UPDATE of certificate.status, revoked_at or
 * revocation_reason) makes the certificate's rows due at once through the
 * other trigger.  The signer reads due rows (ch_responder_due()), signs
 * them and stores them (ch_responder_store()) only if their generation is
 * still the one it read.
 *
 * Status of a row for a certificate: revoked when certificate.status is
 * 'revoked' (revoked_at and revocation_reason copied), else good; a row
 * without a certificate of the issuer is unknown.  revocation_reason is
 * read as an RFC 5280 name ("keyCompromise"; case and '_' ignored, so
 * "key_compromise" too); a reason certhall does not revoke for, or none,
 * is sent as unspecified (left out of the response).
 */
#ifndef CERTHALL_DOMAIN_RESPONDER_H
#define CERTHALL_DOMAIN_RESPONDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "certhall/codec/crl.h"
#include "certhall/codec/ocsp.h"
#include "certhall/store/ctx.h"

/* The most rows one ch_responder_due() returns. */
#define CH_RESPONDER_BATCH_MAX 512

/* A row due for a signature, with what to sign. */
typedef struct {
	ch_ocsp_hash_t hash;
	char serial[CH_OCSP_SERIAL_HEX_MAX];
	long long generation;
	long long certificate_id;	/* 0: none (unknown) */
	ch_ocsp_cert_status_t status;
	time_t revoked_at;		/* revoked only */
	ch_crl_reason_t reason;		/* revoked only */
	time_t not_after;		/* of the certificate; 0 if none */
} ch_responder_due_t;

/* A response signed for a due row. */
typedef struct {
	const ch_responder_due_t *row;
	time_t this_update, next_update;
	time_t due_at;			/* the next signature; 0: never */
	const unsigned char *der;
	size_t der_len;
} ch_responder_signed_t;

/*
 * Up to max (1..CH_RESPONDER_BATCH_MAX) rows of issuer_id due now, the
 * oldest due first (new certificates, revocations and requests, then
 * refreshes): *rows (in ctx->pool, *n of them).  One read.  0, or -1
 * (logged).
 */
int ch_responder_due(ch_ctx_t *ctx, long long issuer_id, int max,
    ch_responder_due_t **rows, int *n);

/*
 * Stores the n responses signed, each only if its row's generation is
 * still the one read (else it stays due and is signed again), signed by
 * responder_id.  One statement.  *stored (if not NULL) counts the rows
 * written.  0, or -1 (logged; nothing stored).
 */
int ch_responder_store(ch_ctx_t *ctx, long long responder_id,
    const ch_responder_signed_t *items, int n, int *stored);

/*
 * The comparison that nothing depends on a trigger or a NOTIFY for: adds
 * the rows missing for certificates of issuer_id, makes due every row
 * whose stored status (or revocation time or reason) is not the
 * certificate's, or that is "unknown" though the certificate exists, and
 * deletes "unknown" rows expired for more than a day.  One transaction.
 * *changed (if not NULL) counts the rows added or made due.  0, or -1.
 */
int ch_responder_sweep(ch_ctx_t *ctx, long long issuer_id, int *changed);

/* A stored response, as the web serves it. */
typedef struct {
	const unsigned char *der;	/* in ctx->pool */
	size_t der_len;
	time_t this_update, next_update;
} ch_responder_answer_t;

/*
 * The stored response of (hash, serial): 1 with *out filled when there is
 * one whose next_update is still ahead, 0 when there is none yet (or it
 * expired), -1 (database error, logged).  One read by primary key.
 */
int ch_responder_lookup(ch_ctx_t *ctx, ch_ocsp_hash_t hash,
    const char *serial, ch_responder_answer_t *out);

/*
 * Asks the signer for a response to (hash, serial) of issuer_id now: the
 * row is made (or an expired one made due) and NOTIFY ocsp sent, unless
 * max_pending rows already wait for their first response (a flood of
 * made-up serials cannot grow the queue without bound).  1 asked, 0 not
 * (the queue is full), -1 (database error).
 */
int ch_responder_demand(ch_ctx_t *ctx, ch_ocsp_hash_t hash,
    const char *serial, long long issuer_id, int max_pending);

/* The reason of certificate.revocation_reason text (see above); NULL or
 * unknown text gives CH_CRL_UNSPECIFIED.  Pure. */
ch_crl_reason_t ch_responder_reason(const char *text);

#endif
