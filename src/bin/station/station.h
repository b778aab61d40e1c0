/*
 * certhall-station, the operator's personalisation station (issue 12): what
 * its files share.
 *
 *   main.c        options, commands, the process (not dumpable: it holds
 *                 PINs)
 *   api.c         the certhall API over HTTP with a staff bearer token
 *                 (libcurl)
 *   keys.c        the USB keys plugged in, seen through libp11: finding the
 *                 blank key, and reading the finished key back
 *   personalise.c the personalisation of one key (token layer for the
 *                 writes, certhall/token/station.h)
 *   pin.c         pure pieces: the user PIN, the CSR's subject, the chain
 *
 * Which library does what, and why both (README "Keys and tokens"):
 * libp11 enumerates the module's slots and reads a token's public objects
 * well, and it is what the customer's design card names; but it cannot
 * make a P-256 key pair, and its key handles do not survive the module
 * reloads the token layer manages.  So libp11 runs in phases of its own,
 * loading and unloading the module (PKCS11_CTX_unload calls C_Finalize,
 * which would end the token layer's sessions: FIELD-NOTES), before the token
 * layer opens the key and after it has closed it.
 *
 * Nothing here prints, logs or keeps a PIN longer than its step: SO and
 * user PINs live in stack buffers wiped with OPENSSL_cleanse.
 */
#ifndef CERTHALL_STATION_H
#define CERTHALL_STATION_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

struct json_t;

/* The user PIN the station sets: this many uniform digits (the
 * API takes 6 to 8, certhall/domain/usbkey.h). */
#define ST_PIN_DIGITS 8

/* The CA token's label: never a USB key (the station refuses to touch a
 * token so labelled, whatever the configuration says). */
#define ST_CA_TOKEN_LABEL "certhall-ca"

/* ---- api.c ---------------------------------------------------------------- */

typedef struct st_api st_api_t;

/* A connection to the API at base_url (http or https) with bearer token
 * (copied).  NULL after logging why. */
st_api_t *st_api_new(const char *base_url, const char *token);
/* Wipes the token copy and frees a.  NULL is ignored. */
void st_api_free(st_api_t *a);

/*
 * One request: method and path (from "/api/v1/"), body (JSON text, or NULL
 * for none), accept (NULL for JSON).  0 with *status and, for a body,
 * *resp / *resp_len (malloc'd, NUL-terminated; the caller frees), or -1
 * when no HTTP answer came (logged).  The request body is not kept.
 */
int st_api_raw(st_api_t *a, const char *method, const char *path,
    const char *body, const char *accept, long *status, char **resp,
    size_t *resp_len);

/*
 * The same for JSON: 0 with *status and *json (a new reference: the
 * parsed body, or NULL when it had none or was not JSON), or -1.
 */
int st_api_json(st_api_t *a, const char *method, const char *path,
    const char *body, long *status, struct json_t **json);

/* Prints to stderr why the API refused what: "<what>: HTTP <status>
 * <problem type>: <detail>" (and status_now / key_status). */
void st_api_refused(const char *what, long status, const struct json_t *json);

/* ---- keys.c (libp11) ------------------------------------------------------ */

typedef struct {
	char label[33];
	char serial[17];
	char model[17];
	bool initialized;
	bool user_pin_set;
} st_key_t;

/* The tokens module shows: up to max into out, 0 and *n (the count, which
 * may exceed max), or -1 after logging why. */
int st_keys_list(const char *module, st_key_t *out, int max, int *n);

/* The one token labelled label, or with serial serial (exactly one of them
 * non-NULL): 0 with *out, or -1 after printing why (none, several). */
int st_keys_find(const char *module, const char *label, const char *serial,
    st_key_t *out);

/* Reads the key with serial back without logging in: it must be labelled
 * with its serial and hold leaf and every certificate of chain.  0, or -1
 * after printing what is missing. */
int st_keys_check(const char *module, const char *serial, X509 *leaf,
    STACK_OF(X509) *chain);

/* ---- pin.c (pure) --------------------------------------------------------- */

/* Fills pin with ST_PIN_DIGITS uniformly random digits from the CSPRNG and
 * a NUL. */
void st_pin_new(char pin[ST_PIN_DIGITS + 1]);

/* Whether s is a 16-digit lowercase hex SO PIN (what the signer derives). */
bool st_so_pin_ok(const char *s, size_t len);

/*
 * The subject of the key request for an application (its JSON as GET
 * /applications/{id} gives it): C=CN, O=unit name, CN=unit name (org) or
 * holder name (personal), UTF8String.  The certificate's subject is built
 * by the CA from the approved application; the request's only has to fit
 * it (certhall/codec/csr.h), so it carries no identity numbers.  A new
 * X509_NAME, or NULL with *why.
 */
X509_NAME *st_csr_subject(const struct json_t *app, const char **why);

/*
 * The chain above leaf from the answer of GET /api/v1/ca ({"items":
 * [{"role", "pem", ...}]}): the CA certificate that issued leaf, then
 * each issuer up to a self-signed root (X509_check_issued: names and key
 * identifiers; the signatures are the relying party's to verify).  A new
 * stack (free with sk_X509_pop_free(.., X509_free)) or NULL with *why.
 */
STACK_OF(X509) *st_chain_from_ca(const struct json_t *ca, X509 *leaf,
    const char **why);

/* A certificate from PEM text or base64 DER: a new X509 or NULL. */
X509 *st_cert_parse(const char *text);

/* ---- personalise.c -------------------------------------------------------- */

typedef struct {
	const char *module;		/* the USB keys' PKCS#11 module */
	const char *slot_label;		/* find the blank key by label ... */
	const char *serial;		/* ... or by serial */
	const char *factory_so_pin;	/* its SO PIN source (token.h syntax) */
	bool p256;			/* key pair: P-256, else RSA-2048 */
	int wait_s;			/* for the certificate */
} st_personalise_t;

/* Personalises the blank key o names for application app_id, end to end
 * (see personalise.c).  0, or 1 after printing why (the key may then be
 * half done: running the command again starts it over). */
int st_personalise(st_api_t *api, long long app_id,
    const st_personalise_t *o);

#endif
