/*
 * What the token layer's files share (src/token/ only; callers use
 * include/certhall/token/).
 *
 * Locking.  Every call into a module holds its rwlock for reading; loading,
 * reloading, unloading and the station's C_InitToken hold it for writing,
 * so no session is in use while C_Finalize runs.  A token's mutex guards
 * its pool, state and key list; it is taken after the module lock.  A
 * module's generation changes only under the write lock, so a session
 * borrowed under the read lock stays valid for the call.  The registry
 * mutex (modules and open tokens) comes before any module lock: never take
 * it, nor call ch_token_open/close, between ch_token_begin_ and _end.
 */
#ifndef CERTHALL_TOKEN_INTERNAL_H
#define CERTHALL_TOKEN_INTERNAL_H

#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "certhall/token/key.h"
#include "certhall/token/token.h"

typedef struct ch_p11_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST *fl;		/* NULL while not loaded */
	unsigned long gen;		/* unique per successful C_Initialize */
	int refs;			/* tokens using it (under the registry) */
	pthread_rwlock_t lock;
	struct ch_p11_module *next;
} ch_p11_module_t;

struct ch_token {
	ch_p11_module_t *mod;
	char *label, *serial;		/* what finds it: exactly one is set */
	char *pin;			/* user PIN, or NULL: no login */
	int nsessions;
	int refs;			/* under the registry mutex */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	CK_SLOT_ID slot;
	unsigned long gen;		/* module generation of the pool; 0 none */
	CK_SESSION_HANDLE pool[CH_TOKEN_MAX_SESSIONS];
	int nfree, nopen;
	int want_reload;
	unsigned long failed_gen;	/* module generation that failed */
	ch_token_state_t state;
	time_t since;
	unsigned long last_rv;
	char last_error[160];
	unsigned long reloads;
	atomic_ulong finds;
	struct ch_key *keys;		/* pinned, checked at each reopening */
	struct ch_token *next;		/* the registry */
};

typedef enum {
	CH_KEY_FILE,
	CH_KEY_TOKEN_PRIVATE,
	CH_KEY_TOKEN_SECRET,
	CH_KEY_KIND__MAX
} ch_key_kind_t;

struct ch_key {
	ch_key_kind_t kind;
	EVP_PKEY *pkey;			/* signs (through the token) */
	EVP_PKEY *pub;
	unsigned char fp[32];		/* SPKI SHA-256 or check value */
	ch_token_t *t;
	char *label;			/* the reference: label and/or id */
	unsigned char ref_id[CH_KEYREF_ID_MAX];
	size_t ref_id_len;
	int has_ref_id;
	CK_OBJECT_HANDLE handle;	/* valid for the token's generation */
	CK_KEY_TYPE ktype;
	unsigned char id[CH_KEYREF_ID_MAX];	/* CKA_ID first seen */
	size_t id_len;
	int pinned;
	struct ch_key *next;		/* the token's keys */
};

/* Sets the calling thread's ch_token_last_error(). */
void ch_token_set_error_(ch_token_err_t e);

/*
 * Borrows a session of t, reloading or reopening first when due; holds the
 * module's read lock until ch_token_end_().  0 and *s, or -1 with the
 * thread's error set (nothing held).
 */
int ch_token_begin_(ch_token_t *t, CK_SESSION_HANDLE *s);
/* Gives s back; rv (what the call returned) may schedule a reload; what is
 * logged when rv is not CKR_OK.  Releases the read lock. */
void ch_token_end_(ch_token_t *t, CK_SESSION_HANDLE s, CK_RV rv,
    const char *what);
/*
 * Takes t for what no other session may overlap (C_InitToken, an SO
 * login): the module's write lock and t's mutex, t's pool closed and its
 * PIN forgotten (the next call reopens it).  0 and *slot, or -1 with the
 * thread's error set and nothing held.
 */
int ch_token_exclusive_(ch_token_t *t, CK_SLOT_ID *slot);
void ch_token_exclusive_end_(ch_token_t *t);
/* Finds t's slot again (after C_InitToken it may move); under exclusive. */
CK_RV ch_token_find_slot_(ch_token_t *t, CK_SLOT_ID *slot);
/* The module's function list (valid between begin and end). */
CK_FUNCTION_LIST *ch_token_fl_(ch_token_t *t);
/* Adds a reference to t. */
void ch_token_ref_(ch_token_t *t);
/* Finds an open token with the same module and label/serial; a new
 * reference, or NULL. */
ch_token_t *ch_token_lookup_(const char *module, const char *label,
    const char *serial);
/* Appends k to the keys re-checked when t reopens (t's gen is current). */
void ch_token_add_key_(ch_token_t *t, struct ch_key *k);
void ch_token_remove_key_(ch_token_t *t, struct ch_key *k);

/*
 * The objects of class cls (CK_UNAVAILABLE_INFORMATION: any) in session s matching label (may be NULL) and id
 * (may be NULL): up to max handles into out, the count into *n.  Counts one
 * find on t.  Returns the CK_RV.
 */
CK_RV ch_token_find_(ch_token_t *t, CK_SESSION_HANDLE s,
    CK_OBJECT_CLASS cls, const char *label, const unsigned char *id,
    size_t id_len, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);

/* Reads one attribute of variable size into a new buffer (*out, *len;
 * free()).  Returns the CK_RV. */
CK_RV ch_token_attr_(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, unsigned char **out,
    CK_ULONG *len);

/* The public key of the object pair with CKA_ID id (or, for RSA, the
 * private object priv itself): 0 and *out, or -1 with *rv set. */
int ch_token_public_of_(ch_token_t *t, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE priv, CK_KEY_TYPE kt, const unsigned char *id,
    size_t id_len, EVP_PKEY **out, CK_RV *rv);

/* Finds k's object again in session s and checks it against the pins,
 * pinning them the first time.  0; -1 with *rv set when the token failed;
 * -2 when the object is missing, ambiguous or another key (refuse). */
int ch_key_bind_(struct ch_key *k, CK_SESSION_HANDLE s, CK_RV *rv);

/* Writes the SHA-256 of pub's DER SubjectPublicKeyInfo to out.  0 or -1. */
int ch_key_spki_sha256_(EVP_PKEY *pub, unsigned char out[32]);

/* One C_SignInit + C_Sign in session s with object h.  The CK_RV. */
CK_RV ch_token_sign_(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s,
    CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE h, const unsigned char *in,
    size_t in_len, unsigned char *out, CK_ULONG *out_len);

/* Signs in with k's cached handle through a pooled session (the private
 * operation of k's EVP_PKEY).  0, or -1 with the thread's error set. */
int ch_key_sign_raw_(struct ch_key *k, CK_MECHANISM_TYPE mech,
    const unsigned char *in, size_t in_len, unsigned char *out,
    CK_ULONG *out_len);

/* A private key of pub's type whose private operations call
 * ch_key_sign_raw_(k, ...) (src/token/keymeth.c); NULL on failure. */
EVP_PKEY *ch_key_foreign_(struct ch_key *k, EVP_PKEY *pub);

/* The ECDSA_SIG of a PKCS#11 ECDSA signature (r || s, equal halves);
 * NULL when malformed. */
ECDSA_SIG *ch_key_ecdsa_sig_(const unsigned char *rs, size_t len);

/* Opens the encrypted PKCS#8 file at path (src/token/softkey.c). */
int ch_key_open_file_(const char *path, const char *pass_source,
    struct ch_key **out);

/* Copies the public half of pkey into a new EVP_PKEY (NULL on failure). */
EVP_PKEY *ch_key_public_copy_(EVP_PKEY *pkey);

#endif
