/*
 * certhall-signer: the only process that holds the CA's keys (issue 12;
 * docs/CONTRACT.md "certhall-signer").
 *
 *   certhall-signer setup   makes (or finds) every CA key and certificate
 *   certhall-signer [run]   the daemon: issues certificates, answers the
 *                           station's SO PIN requests
 *
 * Keys (CKA_LABEL, CKA_ID in the CA token; docs/CONTRACT.md):
 *
 *	root-ca		01  RSA-3072  the root certificate (self-signed) and
 *			    the issuing CA's; later the root's CRL
 *	issuing-ca	02  RSA-2048  subscriber certificates, the OCSP and
 *			    seal-maker certificates; later CRLs
 *	ocsp-signer	03  P-256     (next issue) pre-signed OCSP responses
 *	seal-maker	04  P-256     (next issue) e-seals, ECDSA
 *	usbkey-master	05  32-byte generic secret: SO PINs of USB keys
 *	seal-maker-sm2	    SM2 software key, encrypted PKCS#8 (SoftHSM2 has
 *			    no SM2): (next issue) e-seals in SM2/SM3
 *
 * Every key is made non-extractable in the token (the SM2 key only ever
 * exists encrypted at rest, and in this process's memory), so setup never
 * sees a private key; its certificates go to ca_certificate, which is what
 * the API publishes and what the daemon signs under.
 */
#ifndef CERTHALL_SIGNER_H
#define CERTHALL_SIGNER_H

#include <stdbool.h>

#include "certhall/domain/issuance.h"
#include "certhall/store/db.h"
#include "certhall/token/key.h"
#include "certhall/token/token.h"

/* The CA token's key labels and ids, and the SM2 key's name. */
#define SIGNER_KEY_ROOT "root-ca"
#define SIGNER_KEY_ISSUING "issuing-ca"
#define SIGNER_KEY_OCSP "ocsp-signer"
#define SIGNER_KEY_SEAL "seal-maker"
#define SIGNER_KEY_MASTER "usbkey-master"
#define SIGNER_KEY_SEAL_SM2 "seal-maker-sm2"

#define SIGNER_URL_MAX 256
#define SIGNER_LEASE_DEFAULT 60
#define SIGNER_SESSIONS_DEFAULT 2

typedef struct {
	const char *conninfo;		/* $CERTHALL_DB: the app role */
	const char *module;		/* PKCS#11 module path */
	const char *token;		/* the CA token's label */
	const char *pin_source;		/* ch_token_read_secret syntax */
	const char *sm2_key;		/* encrypted PKCS#8 file (setup) */
	const char *sm2_pass_source;	/* its passphrase (setup) */
	const char *policy_oid;		/* certificatePolicies */
	const char *ca_org;		/* O of the CA's certificates (setup) */
	const char *ca_name;		/* their CN prefix (setup) */
	const char *ca_credit_code;	/* the CA's own, optional (setup) */
	char name[128];			/* this signer in signer_status */
	int batch;			/* jobs per claim */
	int lease_s;			/* seconds a claim holds */
	int sessions;			/* token sessions = signing threads */
	/* from the base URL */
	char crl_url[SIGNER_URL_MAX], ocsp_url[SIGNER_URL_MAX];
	char cai_url[SIGNER_URL_MAX];
	char root_crl_url[SIGNER_URL_MAX], root_cai_url[SIGNER_URL_MAX];
	/* e-seals (issue 13) */
	const char *seal_alg;		/* "sm2" (default) or "ec-p256" */
	const char *seal_vid;		/* SES_Header.vid */
} signer_config_t;

/* A database handle (not connected yet) for cfg's conninfo, as
 * application_name (pg_stat_activity shows who is who), in UTF-8; our
 * keywords come first so that the configuration's win.  ch_db_free. */
struct ch_db *signer_db_new(const signer_config_t *cfg, const char *name);

/* The key reference of a token key in ca_certificate.key_ref: the token's
 * label, the object's label and id (never the module path or a PIN,
 * which are configuration).  Into out. */
void signer_key_ref(const signer_config_t *cfg, const char *label, int id,
    char *out, size_t cap);

/*
 * certhall-signer setup: makes what is missing of the keys above and
 * their certificates, and records the certificates; changes nothing that
 * is there and right.  0, or a sysexits code after logging.
 */
int signer_setup(const signer_config_t *cfg);

/*
 * certhall-signer run: the daemon, until SIGTERM or SIGINT (it finishes
 * the batch in hand, then exits 0).  Any other return is a sysexits code.
 */
int signer_run(const signer_config_t *cfg);

/*
 * The OCSP pass (src/bin/signer/ocsp.c, issue 13): signs the OCSP
 * responses that are due, with the responder key in token, for the
 * issuing CA issuer (ca_certificate issuer_id).  Called once a round
 * while the token is usable; its settings come from the environment
 * (CERTHALL_OCSP_*, see ocsp.c).  0, or -1 when the database went away.
 */
int signer_ocsp_pass(ch_db_t *db, ch_token_t *token, X509 *issuer,
    long long issuer_id);
/* Releases what the pass holds (at exit). */
void signer_ocsp_close(void);

/*
 * The e-seal and unlock pass (src/bin/signer/seal.c), once a round while
 * the token is usable: makes the seals due with the seal maker of
 * cfg->seal_alg and answers the unlock requests with master (the token's
 * secret; NULL: answered with an error).  0, or -1 (database).
 */
int signer_seal_round(const signer_config_t *cfg, struct ch_db *db,
    ch_token_t *token, ch_key_t *master);

/* What the daemon lends the revocation pass (all borrowed). */
typedef struct {
	const signer_config_t *cfg;
	struct ch_db *db;
	ch_pool_t *pool;		/* reset by the pass */
	ch_token_t *token;		/* NULL while the token is not usable */
	ch_key_t *issuing;		/* NULL likewise */
	X509 *issuer;			/* the active issuing CA certificate */
	long long issuer_id;
} signer_pass_t;

/*
 * The revocation pass (src/bin/signer/crl.c, issue 13), at the end of
 * every round of the daemon: records the revocations of settled revoke
 * applications, and makes the CRLs that are due (a revocation waiting,
 * the schedule) while the token is usable.  0, or -1 when the database
 * failed (the daemon waits and reconnects).
 */
int signer_revocation_pass(const signer_pass_t *in);

#endif
