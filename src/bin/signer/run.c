/*
 * certhall-signer run (signer.h): the daemon.
 *
 * One database connection (ch_db_t reconnects by itself), LISTEN
 * signing_job and token_request on it, and a round whenever a NOTIFY
 * arrives or a second has passed.  A round, while the token is usable,
 * answers the station's SO PIN requests and then issues batches until
 * fewer than a batch are ready (certhall/domain/issuance.h has the order
 * of one batch).  The work of a batch that needs no database (checking
 * the CSR, building, precertificate, lint; then the signatures) runs on
 * as many threads as the token has sessions; the database work runs on
 * this thread between those phases.
 *
 * The token.  The issuing key is opened through the token layer
 * (certhall/token/token.h), which keeps a pool of logged-in sessions,
 * caches the object handles, reloads the module on session, device and
 * token errors and pins the key (CKA_ID, public key, test signature): a
 * token that comes back with another key is refused.  On top of that the
 * key must be the one the active issuing CA certificate certifies
 * (compared at open, and every signature is verified against the
 * certificate by ch_x509_sign), so nothing is ever kept that another key
 * signed.  States (signer_status):
 *
 *   ok                 signing; while idle a probe signature every
 *                      heartbeat keeps the state true
 *   token_unavailable  the token failed (moved away, device error, not
 *                      found): no jobs are claimed; the jobs of the
 *                      batch in hand go back to the queue with new
 *                      serials to come; a probe (or a new open) is tried
 *                      after 1, 2, 4, 8, then every 10 s
 *   refused            another key, or the PIN refused: nothing is
 *                      signed and nothing retried (a wrong PIN retried
 *                      would lock the token) until an operator restarts
 *                      the signer
 *   starting, stopping as they say; starting also while no issuing CA
 *                      certificate is on record (run setup)
 *
 * A heartbeat row is written every HEARTBEAT_MS and at every change of
 * state.  The database going away: the batch in hand is dropped (its
 * jobs are claimed again after their lease, or at once by this signer
 * once the database is back: ch_issuance_release), and the daemon
 * reconnects with back-off (250 ms doubling to 5 s), like certhall-payd.
 *
 * Each batch logs one line with where its time went (claim, prepare,
 * store, sign, finish, in ms): tests/bench/issuance reads them.
 */
#include "signer.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/codec/box.h"
#include "certhall/store/ctx.h"
#include "certhall/store/daemon.h"
#include "certhall/store/db.h"
#include "certhall/token/key.h"
#include "certhall/token/station.h"
#include "certhall/token/token.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define IDLE_WAIT_MS 1000	/* a round at least this often */
#define HEARTBEAT_MS 2000
#define RETRY_MIN_MS 250	/* database away: first wait, doubling ... */
#define RETRY_MAX_MS 5000	/* ... to this */
#define TOKEN_BACKOFF_CAP_S 10
#define REQUESTS_MAX 16
#define MASTER_ID 5

struct batch;

struct signer {
	const signer_config_t *cfg;
	ch_db_t *db;
	ch_pool_t *pool;		/* the step's */
	ch_ctx_t ctx;			/* the step's, as the system */
	int sigfd;
	bool stopping;
	int listen_pid;
	int retry_ms;
	unsigned long long steps;
	/* the issuing CA, as on record */
	X509 *issuer;
	unsigned char issuer_fp[32];
	char *issuing_ref;
	ch_issuance_ca_t ca;
	/* the token */
	ch_token_t *token;
	ch_key_t *issuing, *master;
	ch_signer_state_t state;
	char last_error[200];
	int token_failures;
	long long token_retry_ms;
	long long signed_ms;		/* the last good signature */
	long long beat_ms;		/* the last heartbeat written */
	bool beat_due;
	long long issued;
	bool release_due;		/* a batch was dropped */
	struct batch *batches;		/* the two in hand (pipeline()) */
};

/* ---- state ------------------------------------------------------------ */

static void
set_state(struct signer *s, ch_signer_state_t state, const char *error)
{
	if (s->state != state)
		ch_log(state == CH_SIGNER_OK ? CH_LOG_INFO : CH_LOG_WARN,
		    "signer state \"%s\"%s%s", ch_signer_state_name(state),
		    error != NULL ? ": " : "", error != NULL ? error : "");
	if (s->state != state || strcmp(s->last_error, error ? error : "") != 0)
		s->beat_due = true;
	s->state = state;
	snprintf(s->last_error, sizeof s->last_error, "%s",
	    error != NULL ? error : "");
}

/* The token failed (refused: fail closed for good); the next try is
 * backed off. */
static void
token_trouble(struct signer *s, bool refused, const char *what)
{
	ch_token_health_t h;
	char error[200];

	memset(&h, 0, sizeof h);
	if (s->token != NULL)
		ch_token_health(s->token, &h);
	snprintf(error, sizeof error, "%s%s%s", what, h.last_error[0] ?
	    ": " : "", h.last_error);
	s->token_failures++;
	s->token_retry_ms = ch_monotonic_ms() + 1000LL *
	    ch_backoff_s(s->token_failures, TOKEN_BACKOFF_CAP_S);
	set_state(s, refused ? CH_SIGNER_REFUSED :
	    CH_SIGNER_TOKEN_UNAVAILABLE, error);
}

/* ---- signals and the connection --------------------------------------- */

static void
read_signals(struct signer *s)
{
	ch_daemon_read_signals(s->sigfd, &s->stopping, "the batch in hand");
}

/* Connected, and listening on this very connection.  0 or -1. */
static int
ensure_db(struct signer *s)
{
	PGconn *conn;

	if (ch_db_check(s->db, s->pool, 5000) != 0) {
		s->listen_pid = 0;
		return -1;
	}
	conn = ch_db_conn(s->db);
	if (PQbackendPID(conn) == s->listen_pid)
		return 0;
	ch_daemon_log_notices(conn);
	if (ch_db_command(s->db, "LISTEN signing_job; LISTEN token_request; "
	    "LISTEN ocsp; LISTEN revocation")
	    != 0) {
		s->listen_pid = 0;
		return -1;
	}
	s->listen_pid = PQbackendPID(conn);
	s->retry_ms = RETRY_MIN_MS;
	s->beat_due = true;
	ch_info("listening on \"signing_job\" and \"token_request\"");
	return 0;
}

static void
drain_notifies(struct signer *s)
{
	if (ch_db_conn(s->db) != NULL)
		(void)ch_daemon_drain_notifies(ch_db_conn(s->db));
}

static void
wait_for(struct signer *s, long long ms)
{
	unsigned woke = ch_daemon_wait(s->sigfd, ch_db_conn(s->db), ms);

	if (woke & CH_WAKE_SIGNAL)
		read_signals(s);
	if (woke & CH_WAKE_DB)
		drain_notifies(s);
}

static void
wait_retry(struct signer *s)
{
	wait_for(s, s->retry_ms);
	s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
	    : s->retry_ms * 2;
}

static ch_ctx_t *
step_begin(struct signer *s)
{
	char id[32];

	ch_pool_reset(s->pool);
	snprintf(id, sizeof id, "signer-%llu", ++s->steps);
	ch_ctx_system(&s->ctx, s->pool, s->db, "signer", id);
	ch_log_set_request_id(s->ctx.correlation_id);
	return &s->ctx;
}

static void
step_end(struct signer *s)
{
	ch_db_finish(s->db);
	ch_log_set_request_id(NULL);
}

/* Writes the heartbeat when due (or forced).  0 or -1. */
static int
heartbeat(struct signer *s, bool force)
{
	long long now = ch_monotonic_ms();
	int rc;

	if (!force && !s->beat_due && now - s->beat_ms < HEARTBEAT_MS)
		return 0;
	step_begin(s);
	rc = ch_issuance_heartbeat(&s->ctx, s->cfg->name, s->state,
	    s->last_error[0] ? s->last_error : NULL, s->issued);
	step_end(s);
	if (rc == 0) {
		s->beat_ms = now;
		s->beat_due = false;
	}
	return rc;
}

/* ---- the issuing CA and the token ------------------------------------- */

/* The active issuing certificate from the database.  0, 1 none on record
 * yet, -1 database error. */
static int
load_issuer(struct signer *s)
{
	ch_ca_cert_t row;
	unsigned char fp[32];
	int r;

	step_begin(s);
	r = ch_issuance_ca_find(&s->ctx, "issuing", "rsa", &row);
	if (r <= 0) {
		step_end(s);
		if (r == 0)
			set_state(s, CH_SIGNER_STARTING, "no issuing CA "
			    "certificate on record: run certhall-signer setup");
		return r == 0 ? 1 : -1;
	}
	if (ch_issuance_spki_sha256(X509_get0_pubkey(row.x), fp) != 0 ||
	    memcmp(fp, row.spki_sha256, sizeof fp) != 0) {
		step_end(s);
		set_state(s, CH_SIGNER_REFUSED, "the issuing CA certificate on "
		    "record does not match its recorded key");
		return 1;
	}
	X509_up_ref(row.x);
	s->issuer = row.x;
	memcpy(s->issuer_fp, fp, sizeof fp);
	free(s->issuing_ref);
	s->issuing_ref = strdup(row.key_ref);
	if (s->issuing_ref == NULL)
		ch_oom();
	s->ca.issuer = s->issuer;
	s->ca.issuer_id = row.id;
	step_end(s);
	ch_info("issuing CA certificate %lld, key \"%s\"", row.id,
	    s->issuing_ref);
	return 0;
}

/*
 * A signature by the issuing key over a fixed message, checked with the
 * issuing CA certificate: the token's state, and that its key is the
 * certificate's.  0 (state ok), or -1 (state set).
 */
static int
probe(struct signer *s)
{
	static const unsigned char msg[] = "certhall-signer probe";
	unsigned char sig[1024];
	size_t len = sizeof sig;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ch_token_err_t e = CH_TOKEN_OK;
	int ok;

	if (md == NULL)
		ch_oom();
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
	    ch_key_pkey(s->issuing)) == 1 &&
	    EVP_DigestSign(md, sig, &len, msg, sizeof msg - 1) == 1;
	if (!ok)
		e = ch_token_last_error();
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok) {
		token_trouble(s, e == CH_TOKEN_ERR_REFUSED, "the issuing key "
		    "cannot sign");
		return -1;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL)
		ch_oom();
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    X509_get0_pubkey(s->issuer)) == 1 &&
	    EVP_DigestVerify(md, sig, len, msg, sizeof msg - 1) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok) {
		token_trouble(s, true, "the token signs with another key than "
		    "the issuing CA certificate's");
		return -1;
	}
	s->signed_ms = ch_monotonic_ms();
	s->token_failures = 0;
	set_state(s, CH_SIGNER_OK, NULL);
	return 0;
}

/* Opens the token and the issuing key (checked against the certificate)
 * and the master secret.  0, or -1 (state set). */
static int
token_open(struct signer *s)
{
	const signer_config_t *cfg = s->cfg;
	ch_token_config_t tc = { .module = cfg->module, .label = cfg->token,
	    .pin_source = cfg->pin_source, .sessions = cfg->sessions };
	unsigned char fp[32], mid = MASTER_ID;
	ch_keyref_t ref;

	if (ch_keyref_parse(s->issuing_ref, &ref) != 0 ||
	    ref.kind != CH_KEYREF_PKCS11 || strcmp(ref.token, cfg->token) != 0) {
		set_state(s, CH_SIGNER_REFUSED, "the issuing key reference on "
		    "record is not a key in the configured token");
		return -1;
	}
	if (s->token == NULL && ch_token_open(&tc, &s->token) != 0) {
		token_trouble(s, ch_token_last_error() == CH_TOKEN_ERR_REFUSED,
		    "the token cannot be opened");
		return -1;
	}
	if (s->issuing == NULL && ch_token_key(s->token, CH_KEYREF_PRIVATE,
	    ref.object[0] ? ref.object : NULL, ref.has_id ? ref.id : NULL,
	    ref.id_len, &s->issuing) != 0) {
		token_trouble(s, ch_token_last_error() == CH_TOKEN_ERR_REFUSED,
		    "the issuing key cannot be opened");
		return -1;
	}
	if (ch_issuance_spki_sha256(ch_key_public(s->issuing), fp) != 0 ||
	    memcmp(fp, s->issuer_fp, sizeof fp) != 0) {
		ch_key_close(s->issuing);
		s->issuing = NULL;
		token_trouble(s, true, "the token's issuing key is not the key "
		    "of the issuing CA certificate");
		return -1;
	}
	if (s->master == NULL && ch_token_key(s->token, CH_KEYREF_SECRET,
	    SIGNER_KEY_MASTER, &mid, 1, &s->master) != 0) {
		s->master = NULL;
		ch_warn("the master secret \"%s\" cannot be opened: SO PIN "
		    "requests are answered with an error", SIGNER_KEY_MASTER);
	}
	return probe(s);
}

/* Opens or probes the token when due.  */
static void
token_tick(struct signer *s)
{
	long long now = ch_monotonic_ms();

	if (s->issuer == NULL || s->state == CH_SIGNER_REFUSED)
		return;
	if (s->state == CH_SIGNER_OK) {
		/* Idle: keep the state true without waiting for a job. */
		if (now - s->signed_ms >= HEARTBEAT_MS)
			(void)probe(s);
		return;
	}
	if (now < s->token_retry_ms)
		return;
	if (s->issuing == NULL)
		(void)token_open(s);
	else
		(void)probe(s);
}

/* ---- SO PIN requests -------------------------------------------------- */

static const char *
answer_so_pin(void *arg, const char *serial, const unsigned char *key,
    size_t key_len, unsigned char *box, size_t cap, size_t *box_len)
{
	struct signer *s = arg;
	char pin[CH_STATION_SO_PIN_LEN + 1];
	const char *why = NULL;
	int rc;

	if (s->master == NULL)
		return "the master secret is not available";
	if (ch_station_so_pin(s->master, serial, pin) != 0)
		return ch_token_last_error() == CH_TOKEN_ERR_FAILED ?
		    "the serial is not one a USB key can have" :
		    "the CA token is unavailable";
	rc = ch_box_seal(key, key_len, (const unsigned char *)pin,
	    strlen(pin), box, cap, box_len, &why);
	OPENSSL_cleanse(pin, sizeof pin);
	return rc == 0 ? NULL : why;
}

/* Answers what waits.  0, or -1 (database). */
static int
answer_requests(struct signer *s)
{
	int answered = 0, rc;

	do {
		step_begin(s);
		rc = ch_issuance_answer_requests(&s->ctx, REQUESTS_MAX,
		    answer_so_pin, s, &answered);
		step_end(s);
	} while (rc == 0 && answered == REQUESTS_MAX);
	return rc;
}

/* ---- batches, two at a time ------------------------------------------ */

typedef enum {
	PHASE_PREPARE,
	PHASE_SIGN,
} phase_kind_t;

/*
 * A claimed batch.  Two are in hand at once (see pipeline()), so each has
 * a pool of its own, reset when it is claimed: its jobs and their strings
 * live there until it is finished.
 */
struct batch {
	struct signer *s;
	ch_pool_t *pool;
	ch_ctx_t ctx;
	ch_issuance_job_t *jobs;
	int n;
	time_t now;
	/* the phase on the session threads */
	phase_kind_t kind;
	atomic_int next;
	atomic_int retry, refused;
	pthread_t tid[16];
	int threads;
	/* where the time went, ms */
	long long mark;
	double t_claim, t_prep, t_store, t_sign, t_finish;
};

/* One signature, judged: signed, given back (the token), or failed. */
static void
sign_job(struct batch *b, ch_issuance_job_t *job)
{
	struct signer *s = b->s;
	ch_token_err_t e;
	char why[256];
	size_t len = 0;

	if (job->outcome != CH_JOB_LINTED)
		return;
	if (ch_x509_sign(job->x, ch_key_pkey(s->issuing), job->tbs,
	    job->tbs_len, s->issuer, why, sizeof why) == 0) {
		if ((job->der = ch_x509_der(job->x, &len)) == NULL) {
			job->outcome = CH_JOB_GIVE_BACK;
			snprintf(job->why, sizeof job->why, "the signed "
			    "certificate cannot be encoded");
			return;
		}
		job->der_len = len;
		job->outcome = CH_JOB_SIGNED;
		return;
	}
	/* A token that failed gives the job back; so does a signature that is
	 * not what was linted or does not verify with the issuing CA's key
	 * (fail closed: another key).  Anything else the token refused for
	 * this request alone ends the job. */
	e = ch_token_last_error();
	if (e == CH_TOKEN_OK && strncmp(why, "signature:", 10) == 0)
		e = CH_TOKEN_ERR__MAX;
	if (e == CH_TOKEN_ERR_RETRY || e == CH_TOKEN_ERR_REFUSED ||
	    e == CH_TOKEN_ERR__MAX) {
		atomic_fetch_add(e == CH_TOKEN_ERR_RETRY ? &b->retry :
		    &b->refused, 1);
		job->outcome = CH_JOB_GIVE_BACK;
		snprintf(job->why, sizeof job->why, "%s",
		    e == CH_TOKEN_ERR_RETRY ? "the CA token is unavailable; "
		    "tried again with a new serial" : e == CH_TOKEN_ERR_REFUSED ?
		    "the CA token is refused; waiting for an operator" :
		    "the CA token signed with another key; nothing it signed "
		    "is kept");
		return;
	}
	job->outcome = CH_JOB_FAILED;
	snprintf(job->why, sizeof job->why, "sign: %s", why);
}

static void *
phase_worker(void *arg)
{
	struct batch *b = arg;
	int i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->n) {
		if (b->kind == PHASE_PREPARE)
			ch_issuance_prepare(&b->jobs[i], &b->s->ca, b->now);
		else
			sign_job(b, &b->jobs[i]);
	}
	ERR_clear_error();
	return NULL;
}

/* Starts a phase over the batch on up to cfg->sessions threads; this
 * thread goes on with the database meanwhile. */
static void
phase_start(struct batch *b, phase_kind_t kind)
{
	int want = b->s->cfg->sessions;

	b->kind = kind;
	atomic_store(&b->next, 0);
	if (want > b->n)
		want = b->n;
	if (want > 16)
		want = 16;
	b->threads = 0;
	for (int i = 0; i < want; i++)
		if (pthread_create(&b->tid[b->threads], NULL, phase_worker,
		    b) == 0)
			b->threads++;
	if (b->threads == 0)
		phase_worker(b);	/* no thread to be had: do it here */
}

static void
phase_join(struct batch *b)
{
	for (int i = 0; i < b->threads; i++)
		pthread_join(b->tid[i], NULL);
	b->threads = 0;
}

static double
ms_since(long long *mark)
{
	long long now = ch_monotonic_ms(), then = *mark;

	*mark = now;
	return (double)(now - then);
}

/* A context for the batch's next statements: the system, a correlation
 * id of its own, the batch's pool. */
static ch_ctx_t *
batch_ctx(struct batch *b)
{
	char id[32];

	snprintf(id, sizeof id, "signer-%llu", ++b->s->steps);
	ch_ctx_system(&b->ctx, b->pool, b->s->db, "signer", id);
	ch_log_set_request_id(b->ctx.correlation_id);
	return &b->ctx;
}

/* Claims batch b.  The jobs claimed, or -1 (database). */
static int
batch_claim(struct signer *s, struct batch *b)
{
	int rc;

	for (int i = 0; i < b->n; i++)
		ch_issuance_job_clear(&b->jobs[i]);
	ch_pool_reset(b->pool);
	b->jobs = NULL;
	b->n = 0;
	b->mark = ch_monotonic_ms();
	atomic_store(&b->retry, 0);
	atomic_store(&b->refused, 0);
	rc = ch_issuance_claim(batch_ctx(b), s->cfg->name, s->cfg->lease_s,
	    s->cfg->batch, &b->jobs, &b->n);
	ch_db_finish(s->db);
	b->t_claim = ms_since(&b->mark);
	return rc == 0 ? b->n : -1;
}

/* Stores what b's preparation linted, or failed.  0 or -1. */
static int
batch_store(struct signer *s, struct batch *b)
{
	int rc = ch_issuance_store_linted(batch_ctx(b), s->cfg->name, b->jobs,
	    b->n);

	ch_db_finish(s->db);
	b->t_store = ms_since(&b->mark);
	return rc;
}

/* After b's signatures: what they say about the token. */
static void
batch_signed(struct signer *s, struct batch *b)
{
	b->t_sign = ms_since(&b->mark);
	for (int i = 0; i < b->n; i++)
		if (b->jobs[i].outcome == CH_JOB_SIGNED)
			s->signed_ms = ch_monotonic_ms();
	if (atomic_load(&b->refused) > 0)
		token_trouble(s, true, "the issuing key was refused while "
		    "signing");
	else if (atomic_load(&b->retry) > 0)
		token_trouble(s, false, "the token failed while signing");
}

/* Records b.  0 or -1 (database). */
static int
batch_finish(struct signer *s, struct batch *b)
{
	int issued = 0, counts[CH_JOB__MAX] = { 0 }, rc;

	rc = ch_issuance_finish(batch_ctx(b), s->cfg->name, &s->ca, b->jobs,
	    b->n, &issued);
	ch_db_finish(s->db);
	if (rc != 0)
		return -1;
	b->t_finish = ms_since(&b->mark);
	s->issued += issued;
	for (int i = 0; i < b->n; i++)
		counts[b->jobs[i].outcome]++;
	ch_info("batch of %d: %d issued, %d failed, %d given back, %d lost; "
	    "ms claim %.0f prepare %.0f store %.0f sign %.0f finish %.0f",
	    b->n, counts[CH_JOB_ISSUED], counts[CH_JOB_ENDED],
	    counts[CH_JOB_GIVE_BACK], counts[CH_JOB_LOST], b->t_claim,
	    b->t_prep, b->t_store, b->t_sign, b->t_finish);
	for (int i = 0; i < b->n; i++)
		ch_issuance_job_clear(&b->jobs[i]);
	b->n = 0;
	ch_log_set_request_id(NULL);
	return 0;
}

/* Every job of b that is still to be signed goes back to the queue: the
 * token became unusable before its turn. */
static void
batch_give_back(struct batch *b, const char *why)
{
	for (int i = 0; i < b->n; i++) {
		ch_issuance_job_t *job = &b->jobs[i];

		if (job->outcome == CH_JOB_CLAIMED ||
		    job->outcome == CH_JOB_LINTED) {
			job->outcome = CH_JOB_GIVE_BACK;
			snprintf(job->why, sizeof job->why, "%s", why);
		}
	}
}

/* A batch that cannot be recorded (the database went away): its jobs
 * stay claimed, and go back to the queue once the database is back. */
static void
batch_drop(struct signer *s, struct batch *b)
{
	for (int i = 0; i < b->n; i++)
		ch_issuance_job_clear(&b->jobs[i]);
	if (b->n > 0)
		s->release_due = true;
	b->n = 0;
	ch_log_set_request_id(NULL);
}

/*
 * Issues while there is work and the token is usable, two batches at a
 * time so that the database and the CPU work at once: while the session
 * threads sign batch k, this thread claims batch k+1 (and its serials);
 * while they prepare k+1, it records k.  Each batch still goes through
 * claim, prepare, store, sign and finish in that order, and nothing is
 * signed before its TBS is committed.  0, or -1 when the database went
 * away (what was in hand is dropped).
 */
static int
pipeline(struct signer *s)
{
	struct batch *cur = &s->batches[0], *nxt = &s->batches[1], *t;
	int more;

	read_signals(s);
	if (s->stopping || s->state != CH_SIGNER_OK)
		return 0;
	if ((more = batch_claim(s, cur)) <= 0)
		return more;
	cur->now = time(NULL);
	phase_start(cur, PHASE_PREPARE);
	phase_join(cur);
	cur->t_prep = ms_since(&cur->mark);
	if (batch_store(s, cur) != 0)
		goto lost_cur;
	for (;;) {
		phase_start(cur, PHASE_SIGN);
		/* the next batch's claim, while this one is being signed */
		read_signals(s);
		more = 0;
		if (!s->stopping && cur->n == s->cfg->batch &&
		    (more = batch_claim(s, nxt)) < 0) {
			phase_join(cur);
			goto lost_cur;
		}
		phase_join(cur);
		batch_signed(s, cur);
		if (more > 0 && s->state != CH_SIGNER_OK) {
			batch_give_back(nxt, "the CA token became unavailable "
			    "before this job's turn");
			if (batch_finish(s, nxt) != 0)
				goto lost_both;
			more = 0;
		}
		/* the next batch's preparation, while this one is recorded */
		if (more > 0) {
			nxt->now = time(NULL);
			phase_start(nxt, PHASE_PREPARE);
		}
		if (batch_finish(s, cur) != 0) {
			if (more > 0)
				phase_join(nxt);
			goto lost_both;
		}
		(void)heartbeat(s, false);
		/* The station waits for its SO PIN a few seconds at most: a
		 * long burst of jobs must not hold it up. */
		if (answer_requests(s) != 0) {
			if (more > 0)
				phase_join(nxt);
			goto lost_both;
		}
		if (more <= 0)
			return 0;
		phase_join(nxt);
		nxt->t_prep = ms_since(&nxt->mark);
		t = cur;
		cur = nxt;
		nxt = t;
		if (batch_store(s, cur) != 0)
			goto lost_cur;
	}
lost_both:
	batch_drop(s, nxt);
lost_cur:
	batch_drop(s, cur);
	return -1;
}

/* ---- the loop --------------------------------------------------------- */

/* Answers requests, then issues.  0, or -1 when the database went away. */
static int
round_of_batches(struct signer *s)
{
	if (answer_requests(s) != 0)
		return -1;
	return pipeline(s);
}

/* Drops what a dropped batch left claimed.  0 or -1. */
static int
release(struct signer *s)
{
	int rc;

	step_begin(s);
	rc = ch_issuance_release(&s->ctx, s->cfg->name);
	step_end(s);
	if (rc == 0) {
		s->release_due = false;
		ch_info("jobs of the dropped batch put back in the queue");
	}
	return rc;
}

int
signer_run(const signer_config_t *cfg)
{
	struct signer s;

	memset(&s, 0, sizeof s);
	s.cfg = cfg;
	if ((s.sigfd = ch_daemon_signals()) < 0)
		return 71;
	s.db = signer_db_new(cfg, "certhall-signer");
	s.pool = ch_pool_new();
	s.retry_ms = RETRY_MIN_MS;
	s.state = CH_SIGNER_STARTING;
	s.batches = ch_xmalloc(2 * sizeof *s.batches);
	memset(s.batches, 0, 2 * sizeof *s.batches);
	for (int i = 0; i < 2; i++) {
		s.batches[i].s = &s;
		s.batches[i].pool = ch_pool_new();
	}
	s.ca.crl_url = cfg->crl_url;
	s.ca.ocsp_url = cfg->ocsp_url;
	s.ca.ca_issuers_url = cfg->cai_url;
	s.ca.policy_oid = cfg->policy_oid;
	ch_info("signer \"%s\" started: token \"%s\", %d session(s), batches "
	    "of %d, lease %d s", cfg->name, cfg->token, cfg->sessions,
	    cfg->batch, cfg->lease_s);

	while (!s.stopping) {
		if (ensure_db(&s) != 0) {
			wait_retry(&s);
			continue;
		}
		if (s.release_due && release(&s) != 0) {
			wait_retry(&s);
			continue;
		}
		if (s.issuer == NULL && load_issuer(&s) < 0) {
			wait_retry(&s);
			continue;
		}
		token_tick(&s);
		if (heartbeat(&s, false) != 0) {
			wait_retry(&s);
			continue;
		}
		drain_notifies(&s);
		if (s.state == CH_SIGNER_OK && (round_of_batches(&s) != 0 ||
		    signer_ocsp_pass(s.db, s.token, s.issuer, s.ca.issuer_id)
		    != 0)) {
			wait_retry(&s);
			continue;
		}
		if (s.state == CH_SIGNER_OK && signer_seal_round(cfg, s.db,
		    s.token, s.master) != 0) {
			wait_retry(&s);
			continue;
		}
		if (s.issuer != NULL && signer_revocation_pass(&(signer_pass_t){
		    .cfg = cfg, .db = s.db, .pool = s.pool, .issuer = s.issuer,
		    .issuer_id = s.ca.issuer_id,
		    .token = s.state == CH_SIGNER_OK ? s.token : NULL,
		    .issuing = s.state == CH_SIGNER_OK ? s.issuing : NULL }) != 0) {
			wait_retry(&s);
			continue;
		}
		s.retry_ms = RETRY_MIN_MS;
		/* A NOTIFY read while the round ran is in libpq's queue, not
		 * on the socket: go round again at once. */
		if (s.state == CH_SIGNER_OK && ch_db_conn(s.db) != NULL &&
		    ch_daemon_drain_notifies(ch_db_conn(s.db)) > 0)
			continue;
		if (!s.stopping)
			wait_for(&s, s.issuer == NULL ? 5 * IDLE_WAIT_MS
			    : IDLE_WAIT_MS);
	}

	set_state(&s, CH_SIGNER_STOPPING, NULL);
	if (ch_db_conn(s.db) != NULL)
		(void)heartbeat(&s, true);
	signer_ocsp_close();
	ch_key_close(s.master);
	ch_key_close(s.issuing);
	ch_token_close(s.token);
	X509_free(s.issuer);
	free(s.issuing_ref);
	ch_db_free(s.db);
	ch_pool_free(s.pool);
	for (int i = 0; i < 2; i++)
		ch_pool_free(s.batches[i].pool);
	free(s.batches);
	close(s.sigfd);
	ch_info("signer stopped, %lld certificate(s) issued", s.issued);
	return 0;
}
