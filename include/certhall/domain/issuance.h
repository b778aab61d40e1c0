/*
 * Issuance (SPEC §2, §8; issue 12): the database side of the signing
 * process, certhall-signer (src/bin/signer/), which is the only caller.
 * Nothing here touches a token: the signer signs, this module decides
 * what to sign and records what became of it.  The order is Boulder's
 * (sql/0013_issuance.sql, FIELD-NOTES "Issuing certificates"):
 *
 *   1. ch_issuance_claim(): one statement, committed on its own, claims up
 *      to n ready jobs under a lease (attempts + 1, FOR UPDATE SKIP
 *      LOCKED: signers running at once never claim the same job) and
 *      reserves one new serial per job in certificate_serial, before
 *      anything is built or signed.  Serials of earlier attempts of those
 *      jobs that never became certificates are marked 'abandoned' there.
 *   2. ch_issuance_prepare() (pure, thread-safe; no database): the key
 *      read from the CSR (which the API judged before storing it:
 *      signature, key policy, subject), the validity by business
 *      (ch_issuance_validity), the certificate built from the approved
 *      snapshot in the job's payload, made a precertificate, linted (the
 *      lint checks the key policy again).
 *   3. ch_issuance_store_linted(): one transaction for the batch stores
 *      every linted TBS (outcome 'linted') and ends the jobs that cannot
 *      succeed: 'failed' with the reason, the serial 'lint_failed', an
 *      audit event issuance.failed; the application stays issuing.
 *   4. The signer signs each TBS in the token; ch_x509_sign() refuses a
 *      signed TBS that is not byte-identical to the stored one.
 *   5. ch_issuance_finish(): one transaction for the batch, a SAVEPOINT
 *      per job, so each job's writes stand or fall together and one job's
 *      error rolls back that job only.  Per job, first the compare-and-set
 *      on the claim (status 'claimed', claimed_by = this signer, attempts
 *      = this attempt; 0 rows: another signer took the job over after our
 *      lease ran out, and this attempt's serial is 'abandoned'), then the
 *      certificate row, the serial 'issued', for reissue and change the
 *      old certificate revoked (reason superseded, certificate.supersedes),
 *      the USB key linked, the application issuing -> issued with its
 *      history row, audit event and SMS (certhall/domain/workflow.h).  A
 *      job whose signature failed for a token reason goes back to
 *      'queued' (its serial 'abandoned'; the next attempt gets a new one).
 *      UNIQUE (certificate.job_id) is the last backstop.
 *
 * Why one COMMIT for a batch: every COMMIT waits for a WAL flush, which
 * on this machine costs more than signing a certificate; a savepoint per
 * job keeps each issuance one unit (all of its rows or none), and a crash
 * before the COMMIT loses only signatures, whose jobs are claimed again
 * after their lease with new serials.  A signature made but never stored
 * leaves its serial 'linted' (or 'abandoned' once the job is claimed
 * again): exactly the serials that may exist outside the database.
 *
 * Validity (ch_issuance_validity), in whole seconds, UTC, from the moment
 * the batch is prepared ("now"), with calendar years as the codec's lint
 * counts them (the same day and time, years later; 29 February becomes 1
 * March):
 *
 *	new		now .. now + years
 *	renew		now .. max(old not_after, now) + years
 *	reissue, change	now .. the old certificate's not_after; "years" for
 *			the lint is the fewest whole years that cover it
 *
 * not_before is not backdated: the signer's clock is the CA's clock.  A
 * reissue or change of a certificate that has expired meanwhile cannot
 * succeed (the job fails); so does any validity the lint refuses (longer
 * than the years paid plus the 60-day renewal window, or beyond the
 * issuing CA's own not_after).
 *
 * Certificate rows: serial as ch_ocsp_serial_hex() (the INTEGER's hex
 * without leading zero bytes), subject as RFC 4514 text with UTF-8 kept,
 * key_algorithm 'rsa' | 'ec-p256' | 'sm2', registered_phone the
 * handler's phone of the snapshot.
 *
 * Audit actions (actor system, request id "signer-<n>"): application.issued
 * (by the workflow; detail job_id, serial, certificate_id),
 * certificate.revoked (the superseded certificate; detail reason, by),
 * issuance.failed (object the application; detail job_id, attempt,
 * serial, reason).  SMS template "issued".
 */
#ifndef CERTHALL_DOMAIN_ISSUANCE_H
#define CERTHALL_DOMAIN_ISSUANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certhall/codec/ocsp.h"
#include "certhall/codec/x509.h"
#include "certhall/domain/fees.h"
#include "certhall/store/ctx.h"

/* The most jobs one claim takes, and one default. */
#define CH_ISSUANCE_BATCH_MAX 256
#define CH_ISSUANCE_BATCH_DEFAULT 32
/* The longest reason kept in signing_job.last_error and the audit. */
#define CH_ISSUANCE_WHY_MAX 300

/* The signer's state in signer_status. */
typedef enum {
	CH_SIGNER_STARTING,
	CH_SIGNER_OK,
	CH_SIGNER_TOKEN_UNAVAILABLE,
	CH_SIGNER_REFUSED,
	CH_SIGNER_STOPPING,
	CH_SIGNER__MAX
} ch_signer_state_t;

/* "starting", "ok", "token_unavailable", "refused", "stopping"; "" out of
 * range. */
const char *ch_signer_state_name(ch_signer_state_t state);

/* What became of a job in the batch. */
typedef enum {
	CH_JOB_CLAIMED,		/* claimed, serial reserved */
	CH_JOB_LINTED,		/* prepared: tbs and x are set */
	CH_JOB_SIGNED,		/* x carries the token's signature; der set */
	CH_JOB_FAILED,		/* cannot succeed: why; to end 'failed' */
	CH_JOB_ENDED,		/* recorded as failed */
	CH_JOB_GIVE_BACK,	/* the token failed: why; back to 'queued' */
	CH_JOB_ISSUED,		/* stored, application issued */
	CH_JOB_LOST,		/* another signer holds it now: abandoned */
	CH_JOB__MAX
} ch_job_outcome_t;

/*
 * A claimed job.  The strings and the CSR live in the claim's pool; tbs,
 * der and x are the signer's (freed by ch_issuance_job_clear).
 */
typedef struct {
	long long id;
	int attempt;			/* signing_job.attempts of this claim */
	ch_business_t business;
	ch_profile_t profile;		/* org or personal */
	long long application_id, applicant_id;
	/* the approved snapshot (signing_job.payload v1) */
	const char *unit_name, *credit_code, *holder_name, *holder_id_number;
	const char *handler_phone;	/* NULL when none */
	int years;			/* new, renew: 1..5; else 0 */
	const char *usb_key_serial;	/* NULL when none */
	const unsigned char *csr;
	size_t csr_len;
	/* the certificate replaced or renewed (renew, reissue, change) */
	long long old_id;		/* 0 for new */
	time_t old_not_after;
	/* the serial reserved for this attempt */
	unsigned char serial[CH_X509_SERIAL_MAX];	/* its bytes, as */
	size_t serial_len;				/* the INTEGER has */
	char serial_hex[CH_OCSP_SERIAL_HEX_MAX];	/* them */
	/* filled as it goes */
	ch_job_outcome_t outcome;
	time_t not_before, not_after;
	int spec_years;
	const char *key_algorithm;	/* static: "rsa", "ec-p256", "sm2" */
	char subject[512];		/* RFC 4514, UTF-8 */
	unsigned char *tbs;		/* OPENSSL_free */
	size_t tbs_len;
	X509 *x;			/* X509_free */
	unsigned char *der;		/* OPENSSL_free */
	size_t der_len;
	long long certificate_id;	/* after ch_issuance_finish */
	char why[CH_ISSUANCE_WHY_MAX];
} ch_issuance_job_t;

/* Frees what the signer attached to job (tbs, x, der). */
void ch_issuance_job_clear(ch_issuance_job_t *job);

/* The issuing CA as subscriber certificates need it.  Borrowed. */
typedef struct {
	X509 *issuer;			/* the active issuing certificate */
	long long issuer_id;		/* its ca_certificate.id */
	const char *crl_url, *ocsp_url, *ca_issuers_url;
	const char *policy_oid;
} ch_issuance_ca_t;

/*
 * Claims up to max (1..CH_ISSUANCE_BATCH_MAX) ready jobs for signer
 * (issuing business with a CSR, queued or with its lease run out; oldest
 * first) with a lease of lease_s seconds, and reserves a new serial for
 * each, in one statement outside any transaction (so committed before it
 * returns).  *jobs (an array in ctx->pool, *n entries, outcome
 * CH_JOB_CLAIMED) or *n = 0.  0, or -1 (database error, logged; nothing
 * claimed, or the claim is unknown and runs out with its lease).  A job
 * whose payload cannot be read is claimed with outcome CH_JOB_FAILED.
 */
int ch_issuance_claim(ch_ctx_t *ctx, const char *signer, int lease_s,
    int max, ch_issuance_job_t **jobs, int *n);

/*
 * Prepares job for signing with ca (steps 2 and 3 above): outcome
 * CH_JOB_LINTED with x, tbs, validity, subject and key algorithm set, or
 * CH_JOB_FAILED with why ("csr: /csr ..." when it cannot be read,
 * "validity: ...", "build: ...", "lint <rule>: ..."; a key the policy
 * refuses is "lint key.policy: ...").  now is the batch's clock.  Pure
 * and thread-safe: no database, no token, no signature (the
 * precertificate only carries the issuer's signature algorithm).
 */
void ch_issuance_prepare(ch_issuance_job_t *job, const ch_issuance_ca_t *ca,
    time_t now);

/*
 * The validity of a certificate for business (see above): *nb, *na and
 * the years the lint is to allow (*years_out).  years: what was paid for
 * (new, renew; 1..5); old_na: the old certificate's not_after (renew,
 * reissue, change).  0, or -1 with why (a phrase completing "validity:").
 * Pure.
 */
int ch_issuance_validity(ch_business_t business, time_t now, int years,
    time_t old_na, time_t *nb, time_t *na, int *years_out, char *why,
    size_t whylen);

/* t plus years calendar years (UTC), as the lint counts them.  Pure. */
time_t ch_issuance_add_years(time_t t, int years);

/*
 * Reads the payload of a signing job (sql/0008_settlement.sql, v1; JSON
 * text) into job's snapshot fields (strings copied into pool).  0, or -1
 * with why naming the member at fault.  Pure.
 */
int ch_issuance_payload_read(ch_pool_t *pool, const char *payload,
    ch_issuance_job_t *job, char *why, size_t whylen);

/*
 * A PostgreSQL array literal ({"a","b"}) of the n strings in items, each
 * quoted and escaped, NULL entries as NULL: how a batch's values travel
 * in one parameter.  In pool.  Pure.
 */
char *ch_issuance_text_array(ch_pool_t *pool, const char *const *items,
    int n);

/*
 * Step 3: in one transaction, stores the TBS of each CH_JOB_LINTED job of
 * the batch and ends each CH_JOB_FAILED one (while signer's claim on it
 * holds) as described above.  0 when committed, -1 (logged; rolled back:
 * the jobs' leases run out and they are claimed again).
 */
int ch_issuance_store_linted(ch_ctx_t *ctx, const char *signer,
    ch_issuance_job_t *jobs, int n);

/*
 * Step 5, in one transaction: each CH_JOB_SIGNED job is stored and its
 * application issued (outcome CH_JOB_ISSUED, certificate_id set) or found
 * taken over (CH_JOB_LOST); each CH_JOB_GIVE_BACK job is queued again and
 * each CH_JOB_FAILED one ended.  ca says who issued.  *issued (if not
 * NULL) counts the jobs issued.  0 when committed, -1 (logged; rolled
 * back: see above).
 */
int ch_issuance_finish(ch_ctx_t *ctx, const char *signer,
    const ch_issuance_ca_t *ca, ch_issuance_job_t *jobs, int n,
    int *issued);

/*
 * Puts back in the queue every job signer still has claimed (after a
 * batch it could not finish: the database went away).  The caller holds
 * none of them in memory any more.  0 or -1.
 */
int ch_issuance_release(ch_ctx_t *ctx, const char *signer);

/*
 * Writes signer's heartbeat: its state (since when it holds it, kept
 * while unchanged), last_error (NULL: none), and issued, the certificates
 * it has issued since it started.  One statement.  0 or -1.
 */
int ch_issuance_heartbeat(ch_ctx_t *ctx, const char *signer,
    ch_signer_state_t state, const char *last_error, long long issued);

/*
 * For GET /health: *ok is true when some signer in state ok wrote a
 * heartbeat within max_age_s seconds.  One read.  0, or -1 (database
 * error, logged).
 */
int ch_issuance_signer_ok(ch_ctx_t *ctx, int max_age_s, bool *ok);

/*
 * Answers the SO PIN requests of the personalisation station
 * (token_request, kind 'so_pin'): computes nothing itself.  Takes up to
 * max unanswered rows (FOR UPDATE SKIP LOCKED, in a transaction of its
 * own) and calls answer for each unexpired one: answer(arg, serial,
 * requester_key, key_len, box, cap, &box_len) seals the value to the
 * requester's key into box (at most cap bytes) and returns NULL, or a
 * static reason it cannot.  The sealed box or the reason (and, for an
 * expired row, "expired before the signer answered") is stored with
 * answered_at, and NOTIFY token_request tells the API.  The clear value
 * never reaches this module.  *answered counts the rows answered.  0, or
 * -1 (logged; rolled back).
 */
typedef const char *(*ch_issuance_answer_fn)(void *arg, const char *serial,
    const unsigned char *requester_key, size_t key_len, unsigned char *box,
    size_t cap, size_t *box_len);
int ch_issuance_answer_requests(ch_ctx_t *ctx, int max,
    ch_issuance_answer_fn answer, void *arg, int *answered);

/* ---- the CA's own certificates (certhall-signer setup) ---------------- */

/* A row of ca_certificate. */
typedef struct {
	long long id;
	const char *key_ref;		/* in the pool */
	X509 *x;			/* owned by the pool */
	unsigned char spki_sha256[32];
} ch_ca_cert_t;

/*
 * The active certificate of role ("root", "issuing", "ocsp",
 * "seal_maker") and algorithm ("rsa", "ec-p256", "sm2").  1 found (*out
 * filled; x and key_ref live in ctx->pool), 0 none, -1 error (logged).
 */
int ch_issuance_ca_find(ch_ctx_t *ctx, const char *role, const char *alg,
    ch_ca_cert_t *out);

/*
 * Records x as the active certificate of role and algorithm, with its key
 * reference (never a secret) and issuer (0 for the self-signed root); an
 * active one of the same role and algorithm is made inactive first.  One
 * transaction.  *id (if not NULL) receives the new row's id.  0 or -1.
 */
int ch_issuance_ca_add(ch_ctx_t *ctx, const char *role, const char *alg,
    const char *key_ref, X509 *x, long long issuer_id, long long *id);

/* Takes the session-level advisory lock of CA set-up, so that two
 * set-ups never run at once (it goes with the connection).  0 or -1. */
int ch_issuance_setup_lock(ch_ctx_t *ctx);

/* The SHA-256 of key's DER SubjectPublicKeyInfo (what ca_certificate and
 * the token layer pin).  0 or -1.  Pure. */
int ch_issuance_spki_sha256(EVP_PKEY *key, unsigned char out[32]);

#endif
