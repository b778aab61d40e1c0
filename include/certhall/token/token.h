/*
 * PKCS#11 tokens: a module loaded once per process, a token found by label or
 * serial (never by slot number: SoftHSM renumbers slots after C_InitToken), a
 * small pool of logged-in sessions, and a full reload when the token or the
 * module breaks (FIELD-NOTES "PKCS#11 in practice": Boulder #3468, step-ca
 * #937).
 *
 * Why the PKCS#11 C API and not libp11 0.4.12 (the Debian 12 version):
 *  - an EVP_PKEY from PKCS11_get_private_key() points into libp11's slot and
 *    key structures, which PKCS11_CTX_unload() frees, so every key handed out
 *    dangles after the full reload this layer must do; ours point at a
 *    ch_key_t that outlives reloads (certhall/token/key.h);
 *  - libp11 0.4.12 puts a session back into its pool whatever C_Sign returned
 *    (p11_rsa.c), so a dead session keeps failing: the Boulder symptom;
 *  - libp11 has no P-256 key generation and no secret-key API, so the C API
 *    is needed anyway, and two users of one module share C_Initialize and
 *    C_Finalize: one loader is simpler than keeping two in step.
 *
 * Processes and threads.  Open tokens after fork(), in the process that uses
 * them (the signer or the station; never a web worker).  Every function here
 * is thread-safe; each call borrows one session from the pool for its
 * duration.  C_Initialize is called with CKF_OS_LOCKING_OK.
 *
 * Failures.  Each call returns 0 or -1; after -1, ch_token_last_error() tells
 * the calling thread what to do (enum below).  A CK_RV of the "reload" kind
 * (ch_token_rv_class) puts the token into CH_TOKEN_REOPENING; the next call
 * on it does the full reload first: C_Finalize, dlclose, dlopen,
 * C_Initialize, find the token by label or serial again (tokens made or put
 * back by another process are only seen after this), log in, find every key
 * again and check it is the key first seen (CKA_ID, SHA-256 of the
 * SubjectPublicKeyInfo, and a test signature verified with the pinned public
 * key).  The caller retries with back-off (ch_backoff_s); the layer keeps no
 * timer of its own.  A token that comes back with another key, or refuses the
 * PIN, is CH_TOKEN_REFUSED: nothing more is signed and the PIN is not tried
 * again (a retried wrong PIN locks the token) until ch_token_reload() is
 * called by an operator.
 *
 * PINs come from a PIN source and are never logged.  Out of memory: the
 * allocations here exit(70) (certhall/pool.h's policy).
 */
#ifndef CERTHALL_TOKEN_TOKEN_H
#define CERTHALL_TOKEN_TOKEN_H

#include <stddef.h>
#include <time.h>

typedef struct ch_token ch_token_t;

/* What the calling thread should do after a -1 from this layer. */
typedef enum {
	CH_TOKEN_OK,
	CH_TOKEN_ERR_RETRY,	/* the token is being reopened: retry later */
	CH_TOKEN_ERR_REFUSED,	/* fail closed: another key, or PIN refused */
	CH_TOKEN_ERR_FAILED,	/* this request failed; retrying will not help */
	CH_TOKEN_ERR__MAX
} ch_token_err_t;

typedef enum {
	CH_TOKEN_OPEN,
	CH_TOKEN_REOPENING,	/* a reload is due or failed; see last_error */
	CH_TOKEN_REFUSED,	/* stopped for an operator (see above) */
	CH_TOKEN_STATE__MAX
} ch_token_state_t;

typedef struct {
	const char *module;	/* absolute path of the PKCS#11 module */
	const char *label;	/* the token's label, or NULL ... */
	const char *serial;	/* ... its serial number: exactly one of them */
	const char *pin_source;	/* user PIN (ch_token_read_secret), or NULL:
				   sessions stay public (the station) */
	int sessions;		/* pool size, 1 to CH_TOKEN_MAX_SESSIONS; 0: 2 */
} ch_token_config_t;

#define CH_TOKEN_MAX_SESSIONS 16

/* For health checks; all times are wall-clock seconds. */
typedef struct {
	ch_token_state_t state;
	time_t since;		/* when the current state began */
	unsigned long last_rv;	/* CK_RV of the last failure, 0 if none */
	char last_error[160];	/* what failed, lowercase, no PIN; "" if none */
	unsigned long reloads;	/* full reloads done */
	unsigned long finds;	/* C_FindObjectsInit calls so far */
	int sessions;		/* sessions in the pool */
} ch_token_health_t;

/* Information about one token a module shows (ch_token_scan). */
typedef struct {
	char label[33];		/* trailing blanks removed */
	char serial[17];
	int initialized;	/* CKF_TOKEN_INITIALIZED */
	int user_pin_set;	/* CKF_USER_PIN_INITIALIZED */
} ch_token_info_t;

/*
 * Opens the token cfg names: loads the module unless this process has it,
 * finds the token, fills the session pool and logs in when cfg has a PIN
 * source.  A token already open in this process with the same module and
 * label/serial is shared (its reference count goes up; cfg's pin_source and
 * sessions are then ignored).  0 and *out (release with ch_token_close), or
 * -1 after logging why, with ch_token_last_error() set.
 */
int ch_token_open(const ch_token_config_t *cfg, ch_token_t **out);

/* Drops one reference; the last one closes the sessions (which logs out)
 * and, when no token uses the module any more, C_Finalize()s and unloads
 * it.  Keys opened on t hold references of their own.  NULL is ignored. */
void ch_token_close(ch_token_t *t);

/* Reloads the module and reopens t now, even from CH_TOKEN_REFUSED: the
 * operator's "try again".  0, or -1 with the state and last error set. */
int ch_token_reload(ch_token_t *t);

/* Copies t's state for a health check.  Never fails. */
void ch_token_health(ch_token_t *t, ch_token_health_t *out);

/* The serial number of t as the token reports it now (CK_TOKEN_INFO,
 * trailing blanks removed) into out.  0 or -1. */
int ch_token_serial(ch_token_t *t, char out[17]);

/*
 * Logs t in as the user with pin (the station: the subscriber's PIN typed
 * at the counter) and keeps a copy to log in again after a reload, until
 * ch_token_logout().  0, or -1 (a wrong PIN is CH_TOKEN_ERR_FAILED here).
 */
int ch_token_login(ch_token_t *t, const char *pin);
/* Logs t out and forgets the PIN.  0, or -1 (also while keys opened on t
 * are open: close them first). */
int ch_token_logout(ch_token_t *t);

/*
 * Lists the tokens module shows now, re-initialising it first when this
 * process has it loaded so that keys plugged in since are seen (this tears
 * down every session on the module; open tokens reopen on their next
 * call).  Fills at most max entries of out; 0 and *n (the count, which may
 * exceed max), or -1.
 */
int ch_token_scan(const char *module, ch_token_info_t *out, int max, int *n);

/*
 * Reads a secret (PIN, passphrase) from source into buf of cap bytes:
 * "file:/abs/path" (the whole file, trailing white space removed) or
 * "env:NAME" or a bare NAME (an environment variable, [A-Z_][A-Z0-9_]*).
 * 0, or -1 after logging why (never the secret); buf is then cleared.
 */
int ch_token_read_secret(const char *source, char *buf, size_t cap);

/* What the calling thread's last failed call in this layer means. */
ch_token_err_t ch_token_last_error(void);

/* How a CK_RV is handled: CH_TOKEN_OK for CKR_OK; CH_TOKEN_ERR_RETRY for
 * the errors that make the layer reload (session, device, token, login and
 * handle errors, CKR_GENERAL_ERROR, CKR_CRYPTOKI_NOT_INITIALIZED);
 * CH_TOKEN_ERR_REFUSED for PIN errors; CH_TOKEN_ERR_FAILED otherwise. */
ch_token_err_t ch_token_rv_class(unsigned long rv);

/* The name of a CK_RV ("CKR_PIN_INCORRECT"), or "CKR_0x..." for others
 * (a static buffer per thread).  For logs. */
const char *ch_token_rv_name(unsigned long rv);

#endif
