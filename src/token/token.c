/*
 * PKCS#11 modules and tokens: loading, finding tokens by label or serial,
 * the session pool, error classes and the full reload
 * (certhall/token/token.h; locking in src/token/internal.h).
 */
#include "internal.h"

#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define PIN_MAX 256

/* Modules and open tokens of this process. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static ch_p11_module_t *modules;
static ch_token_t *tokens;
static atomic_ulong last_gen;

static _Thread_local ch_token_err_t thread_error;

void
ch_token_set_error_(ch_token_err_t e)
{
	thread_error = e;
}

ch_token_err_t
ch_token_last_error(void)
{
	return thread_error;
}

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
#define RV(x) { x, #x }
	RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED),
	RV(CKR_ARGUMENTS_BAD), RV(CKR_ATTRIBUTE_READ_ONLY),
	RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
	RV(CKR_ATTRIBUTE_VALUE_INVALID), RV(CKR_DATA_INVALID),
	RV(CKR_DATA_LEN_RANGE), RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY),
	RV(CKR_DEVICE_REMOVED), RV(CKR_FUNCTION_NOT_SUPPORTED),
	RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_TYPE_INCONSISTENT),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED), RV(CKR_MECHANISM_INVALID),
	RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED),
	RV(CKR_PIN_INCORRECT), RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE),
	RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED), RV(CKR_SESSION_CLOSED),
	RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_READ_ONLY), RV(CKR_SESSION_EXISTS),
	RV(CKR_SESSION_READ_ONLY_EXISTS), RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT),
	RV(CKR_TOKEN_NOT_RECOGNIZED), RV(CKR_TOKEN_WRITE_PROTECTED),
	RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN),
	RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_USER_TYPE_INVALID),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
#undef RV
};

const char *
ch_token_rv_name(unsigned long rv)
{
	static _Thread_local char buf[32];

	for (size_t i = 0; i < sizeof rv_names / sizeof rv_names[0]; i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	snprintf(buf, sizeof buf, "CKR_0x%lx", rv);
	return buf;
}

ch_token_err_t
ch_token_rv_class(unsigned long rv)
{
	switch (rv) {
	case CKR_OK:
		return CH_TOKEN_OK;
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_GENERAL_ERROR:
	/* A handle cached before the token went away and came back. */
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
		return CH_TOKEN_ERR_RETRY;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		return CH_TOKEN_ERR_REFUSED;
	default:
		return CH_TOKEN_ERR_FAILED;
	}
}

int
ch_token_read_secret(const char *source, char *buf, size_t cap)
{
	const char *name = source, *v;
	size_t n;

	buf[0] = '\0';
	if (source == NULL || source[0] == '\0') {
		ch_error("secret source is empty");
		return -1;
	}
	if (strncmp(source, "file:", 5) == 0) {
		if (source[5] != '/') {
			ch_error("secret source \"%s\" is not an absolute path",
			    source);
			return -1;
		}
		return ch_read_secret(source + 5, buf, cap);
	}
	if (strncmp(source, "env:", 4) == 0)
		name = source + 4;
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') ||
		    (p > name && *p >= '0' && *p <= '9'))) {
			ch_error("secret source \"%s\" is neither file:/path "
			    "nor an environment variable name", source);
			return -1;
		}
	v = getenv(name);
	n = v == NULL ? 0 : strlen(v);
	if (name[0] == '\0' || n == 0 || n >= cap) {
		ch_error("secret source \"%s\" is unset, empty or longer "
		    "than %zu bytes", source, cap - 1);
		return -1;
	}
	memcpy(buf, v, n + 1);
	return 0;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(ch_xmalloc(n), s, n);
}

static void
forget_pin(char **pin)
{
	if (*pin != NULL) {
		OPENSSL_cleanse(*pin, strlen(*pin));
		free(*pin);
		*pin = NULL;
	}
}

/* Blank-padded CK_TOKEN_INFO text to a C string. */
static void
padded_copy(char *dst, const unsigned char *src, size_t n)
{
	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

static void
set_state(ch_token_t *t, ch_token_state_t state)
{
	if (t->state != state) {
		t->state = state;
		t->since = time(NULL);
	}
}

/* Records a failure on t (under t->mu) and logs it once. */
static void
note_failure(ch_token_t *t, CK_RV rv, const char *what)
{
	t->last_rv = rv;
	snprintf(t->last_error, sizeof t->last_error, "%s: %s", what,
	    ch_token_rv_name(rv));
	ch_warn("token \"%s\": %s", t->label ? t->label : t->serial,
	    t->last_error);
}

/* dlopen()s m->path and initialises it.  Under m's write lock. */
static CK_RV
module_load(ch_p11_module_t *m)
{
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args;
	CK_FUNCTION_LIST *fl = NULL;
	CK_RV rv;
	void *dl;

	dl = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		ch_error("pkcs11 module \"%s\": %s", m->path, dlerror());
		return CKR_GENERAL_ERROR;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
	if (get == NULL || (rv = get(&fl)) != CKR_OK || fl == NULL) {
		ch_error("pkcs11 module \"%s\" has no function list", m->path);
		dlclose(dl);
		return CKR_GENERAL_ERROR;
	}
	memset(&args, 0, sizeof args);
	args.flags = CKF_OS_LOCKING_OK;
	rv = fl->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		/* Someone else in this process initialised it; a reload
		 * here will tear their sessions down too. */
		ch_warn("pkcs11 module \"%s\" was already initialised",
		    m->path);
		rv = CKR_OK;
	}
	if (rv != CKR_OK) {
		ch_error("pkcs11 module \"%s\": C_Initialize: %s", m->path,
		    ch_token_rv_name(rv));
		dlclose(dl);
		return rv;
	}
	m->dl = dl;
	m->fl = fl;
	m->gen = atomic_fetch_add(&last_gen, 1) + 1;
	return CKR_OK;
}

/* C_Finalize (every session of the process on m ends) and dlclose. */
static void
module_unload(ch_p11_module_t *m)
{
	if (m->fl != NULL)
		m->fl->C_Finalize(NULL);
	if (m->dl != NULL)
		dlclose(m->dl);
	m->fl = NULL;
	m->dl = NULL;
	m->gen = 0;	/* no token's pool belongs to it any more */
}

/* The module for path, loaded, with a new reference; under registry_mu. */
static ch_p11_module_t *
module_get(const char *path, CK_RV *rv)
{
	ch_p11_module_t *m;

	for (m = modules; m != NULL; m = m->next)
		if (strcmp(m->path, path) == 0) {
			m->refs++;
			*rv = CKR_OK;
			return m;
		}
	m = ch_xmalloc(sizeof *m);
	memset(m, 0, sizeof *m);
	m->path = xstrdup(path);
	pthread_rwlock_init(&m->lock, NULL);
	*rv = module_load(m);
	if (*rv != CKR_OK) {
		pthread_rwlock_destroy(&m->lock);
		free(m->path);
		free(m);
		return NULL;
	}
	m->refs = 1;
	m->next = modules;
	modules = m;
	return m;
}

/* Drops a reference; the last unloads m.  Under registry_mu. */
static void
module_put(ch_p11_module_t *m)
{
	ch_p11_module_t **pp;

	if (--m->refs > 0)
		return;
	for (pp = &modules; *pp != m; pp = &(*pp)->next)
		;
	*pp = m->next;
	pthread_rwlock_wrlock(&m->lock);
	module_unload(m);
	pthread_rwlock_unlock(&m->lock);
	pthread_rwlock_destroy(&m->lock);
	free(m->path);
	free(m);
}

/*
 * The slots of fl that hold a token: CKR_OK and *slots (free()) and *n.
 * The first call, without a buffer, also makes SoftHSM show a token that
 * C_InitToken renumbered (FIELD-NOTES).
 */
static CK_RV
list_slots(CK_FUNCTION_LIST *fl, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_RV rv;

	*slots = NULL;
	*n = 0;
	rv = fl->C_GetSlotList(CK_TRUE, NULL, n);
	if (rv != CKR_OK)
		return rv;
	*slots = ch_xmalloc((*n + 1) * sizeof **slots);
	rv = fl->C_GetSlotList(CK_TRUE, *slots, n);
	if (rv != CKR_OK) {
		free(*slots);
		*slots = NULL;
		*n = 0;
	}
	return rv;
}

/*
 * Finds t's token among the slots with a token (label or serial, whichever
 * t has).  CKR_OK and *slot; CKR_TOKEN_NOT_PRESENT when none matches;
 * CKR_FUNCTION_FAILED (logged) when two do: refusing beats guessing.
 */
static CK_RV
find_slot(ch_token_t *t, CK_SLOT_ID *slot)
{
	CK_FUNCTION_LIST *fl = t->mod->fl;
	CK_SLOT_ID *slots;
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	char label[33], serial[17];
	int found = 0;
	CK_RV rv;

	if ((rv = list_slots(fl, &slots, &n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++) {
		if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		padded_copy(label, ti.label, sizeof ti.label);
		padded_copy(serial, ti.serialNumber, sizeof ti.serialNumber);
		if (t->label ? strcmp(label, t->label) != 0
		    : strcmp(serial, t->serial) != 0)
			continue;
		*slot = slots[i];
		found++;
	}
	free(slots);
	if (found > 1) {
		ch_error("two tokens are called \"%s\" in \"%s\"",
		    t->label ? t->label : t->serial, t->mod->path);
		return CKR_FUNCTION_FAILED;
	}
	return found ? CKR_OK : CKR_TOKEN_NOT_PRESENT;
}

static void
close_pool(ch_token_t *t)
{
	if (t->gen != 0 && t->gen == t->mod->gen && t->mod->fl != NULL)
		for (int i = 0; i < t->nfree; i++)
			t->mod->fl->C_CloseSession(t->pool[i]);
	t->nfree = t->nopen = 0;
	t->gen = 0;
}

/*
 * Opens t's pool in the current module generation, logs in and checks
 * every pinned key again.  Under t->mu and m's lock (either way), with no
 * session of t borrowed.  0; -1 with state and error set (REOPENING and a
 * reload due, or REFUSED).
 */
static int
establish(ch_token_t *t)
{
	CK_FUNCTION_LIST *fl = t->mod->fl;
	CK_RV rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	const char *what = "load";
	ch_token_state_t fail = CH_TOKEN_REOPENING;
	struct ch_key *k;

	close_pool(t);
	if (fl == NULL)
		goto fail;
	what = "find";
	if ((rv = find_slot(t, &t->slot)) != CKR_OK)
		goto fail;
	t->gen = t->mod->gen;	/* so that close_pool() closes what opens */
	what = "open session";
	while (t->nopen < t->nsessions) {
		rv = fl->C_OpenSession(t->slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &t->pool[t->nopen]);
		if (rv != CKR_OK)
			goto fail;
		t->nopen++;
		t->nfree++;
	}
	if (t->pin != NULL) {
		what = "login";
		rv = fl->C_Login(t->pool[0], CKU_USER,
		    (CK_UTF8CHAR *)t->pin, strlen(t->pin));
		if (rv == CKR_USER_ALREADY_LOGGED_IN)
			rv = CKR_OK;
		if (ch_token_rv_class(rv) == CH_TOKEN_ERR_REFUSED)
			fail = CH_TOKEN_REFUSED;
		if (rv != CKR_OK)
			goto fail;
	}
	what = "key check";
	for (k = t->keys; k != NULL; k = k->next) {
		int r = ch_key_bind_(k, t->pool[0], &rv);

		if (r == -2) {
			fail = CH_TOKEN_REFUSED;
			rv = CKR_FUNCTION_FAILED;
			ch_error("token \"%s\" refused: key \"%s\" is not the "
			    "one first seen", t->label ? t->label : t->serial,
			    k->label ? k->label : "(by id)");
		}
		if (r != 0)
			goto fail;
	}
	set_state(t, CH_TOKEN_OPEN);
	return 0;
fail:
	close_pool(t);
	note_failure(t, rv, what);
	set_state(t, fail);
	t->want_reload = fail == CH_TOKEN_REOPENING;
	t->failed_gen = t->mod->gen;
	ch_token_set_error_(fail == CH_TOKEN_REFUSED ? CH_TOKEN_ERR_REFUSED
	    : CH_TOKEN_ERR_RETRY);
	return -1;
}

/*
 * The full reload: C_Finalize and reload the module unless another token
 * did since t failed, then establish t.  force: also from REFUSED.
 */
static int
reload(ch_token_t *t, int force)
{
	ch_p11_module_t *m = t->mod;
	int rc = -1;
	CK_RV rv;

	pthread_rwlock_wrlock(&m->lock);
	pthread_mutex_lock(&t->mu);
	if (!force && !t->want_reload) {
		rc = t->state == CH_TOKEN_REFUSED ? -1 : 0;
		ch_token_set_error_(rc ? CH_TOKEN_ERR_REFUSED : CH_TOKEN_OK);
		goto out;
	}
	t->reloads++;
	if (force || m->fl == NULL || m->gen == t->failed_gen) {
		ch_info("pkcs11 module \"%s\": reloading for token \"%s\"",
		    m->path, t->label ? t->label : t->serial);
		close_pool(t);
		module_unload(m);
		if ((rv = module_load(m)) != CKR_OK) {
			note_failure(t, rv, "reload");
			set_state(t, CH_TOKEN_REOPENING);
			t->want_reload = 1;
			t->failed_gen = 0;
			ch_token_set_error_(CH_TOKEN_ERR_RETRY);
			goto out;
		}
	}
	rc = establish(t);
	if (rc == 0) {
		t->want_reload = 0;
		ch_info("token \"%s\" reopened", t->label ? t->label : t->serial);
	}
out:
	pthread_mutex_unlock(&t->mu);
	pthread_rwlock_unlock(&m->lock);
	return rc;
}

int
ch_token_exclusive_(ch_token_t *t, CK_SLOT_ID *slot)
{
	CK_RV rv = CKR_CRYPTOKI_NOT_INITIALIZED;

	pthread_rwlock_wrlock(&t->mod->lock);
	pthread_mutex_lock(&t->mu);
	close_pool(t);
	forget_pin(&t->pin);
	if (t->mod->fl != NULL && (rv = find_slot(t, slot)) == CKR_OK)
		return 0;
	note_failure(t, rv, "find");
	ch_token_set_error_(ch_token_rv_class(rv) == CH_TOKEN_ERR_RETRY ?
	    CH_TOKEN_ERR_RETRY : CH_TOKEN_ERR_FAILED);
	ch_token_exclusive_end_(t);
	return -1;
}

CK_RV
ch_token_find_slot_(ch_token_t *t, CK_SLOT_ID *slot)
{
	return find_slot(t, slot);
}

void
ch_token_exclusive_end_(ch_token_t *t)
{
	pthread_mutex_unlock(&t->mu);
	pthread_rwlock_unlock(&t->mod->lock);
}

int
ch_token_begin_(ch_token_t *t, CK_SESSION_HANDLE *s)
{
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&t->mu);
		if (t->state == CH_TOKEN_REFUSED) {
			pthread_mutex_unlock(&t->mu);
			ch_token_set_error_(CH_TOKEN_ERR_REFUSED);
			return -1;
		}
		if (t->want_reload) {
			pthread_mutex_unlock(&t->mu);
			/* One reload per call: the caller's back-off paces
			 * the next. */
			if (tries > 0) {
				ch_token_set_error_(CH_TOKEN_ERR_RETRY);
				return -1;
			}
			if (reload(t, 0) != 0)
				return -1;
			continue;
		}
		pthread_mutex_unlock(&t->mu);

		pthread_rwlock_rdlock(&t->mod->lock);
		pthread_mutex_lock(&t->mu);
		if (t->gen != t->mod->gen && !t->want_reload &&
		    establish(t) != 0) {
			pthread_mutex_unlock(&t->mu);
			pthread_rwlock_unlock(&t->mod->lock);
			return -1;
		}
		while (t->nfree == 0 && !t->want_reload &&
		    t->state == CH_TOKEN_OPEN)
			pthread_cond_wait(&t->cv, &t->mu);
		if (t->nfree > 0 && !t->want_reload &&
		    t->state == CH_TOKEN_OPEN) {
			*s = t->pool[--t->nfree];
			pthread_mutex_unlock(&t->mu);
			return 0;
		}
		pthread_mutex_unlock(&t->mu);
		pthread_rwlock_unlock(&t->mod->lock);
	}
}

void
ch_token_end_(ch_token_t *t, CK_SESSION_HANDLE s, CK_RV rv, const char *what)
{
	ch_token_err_t e = ch_token_rv_class(rv);

	pthread_mutex_lock(&t->mu);
	t->pool[t->nfree++] = s;
	if (e == CH_TOKEN_ERR_RETRY && !t->want_reload) {
		note_failure(t, rv, what);
		set_state(t, CH_TOKEN_REOPENING);
		t->want_reload = 1;
		t->failed_gen = t->gen;
	} else if (rv != CKR_OK && e != CH_TOKEN_ERR_RETRY) {
		ch_warn("token \"%s\": %s: %s", t->label ? t->label : t->serial,
		    what, ch_token_rv_name(rv));
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_rwlock_unlock(&t->mod->lock);
	ch_token_set_error_(e);
}

CK_FUNCTION_LIST *
ch_token_fl_(ch_token_t *t)
{
	return t->mod->fl;
}

void
ch_token_ref_(ch_token_t *t)
{
	pthread_mutex_lock(&registry_mu);
	t->refs++;
	pthread_mutex_unlock(&registry_mu);
}

ch_token_t *
ch_token_lookup_(const char *module, const char *label, const char *serial)
{
	ch_token_t *t;

	pthread_mutex_lock(&registry_mu);
	for (t = tokens; t != NULL; t = t->next)
		if (strcmp(t->mod->path, module) == 0 &&
		    (label ? t->label && strcmp(t->label, label) == 0
		    : t->serial && serial && strcmp(t->serial, serial) == 0))
			break;
	if (t != NULL)
		t->refs++;
	pthread_mutex_unlock(&registry_mu);
	return t;
}

void
ch_token_add_key_(ch_token_t *t, struct ch_key *k)
{
	pthread_mutex_lock(&t->mu);
	k->next = t->keys;
	t->keys = k;
	pthread_mutex_unlock(&t->mu);
}

void
ch_token_remove_key_(ch_token_t *t, struct ch_key *k)
{
	struct ch_key **pp;

	pthread_mutex_lock(&t->mu);
	for (pp = &t->keys; *pp != NULL; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	pthread_mutex_unlock(&t->mu);
}

CK_RV
ch_token_find_(ch_token_t *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    const char *label, const unsigned char *id, size_t id_len,
    CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	CK_FUNCTION_LIST *fl = t->mod->fl;
	CK_ATTRIBUTE tmpl[3];
	CK_ULONG nt = 0;
	CK_RV rv;

	if (cls != CK_UNAVAILABLE_INFORMATION)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	if (label != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
		    strlen(label) };
	if (id != NULL)
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, id_len };
	atomic_fetch_add(&t->finds, 1);
	*n = 0;
	rv = fl->C_FindObjectsInit(s, tmpl, nt);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_FindObjects(s, out, max, n);
	fl->C_FindObjectsFinal(s);
	return rv;
}

CK_RV
ch_token_attr_(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, unsigned char **out, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*out = NULL;
	*len = 0;
	rv = fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	a.pValue = ch_xmalloc(a.ulValueLen ? a.ulValueLen : 1);
	rv = fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* Frees what ch_token_open allocated (no module reference, no pool). */
static void
token_free(ch_token_t *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	forget_pin(&t->pin);
	free(t->label);
	free(t->serial);
	free(t);
}

int
ch_token_open(const ch_token_config_t *cfg, ch_token_t **out)
{
	char pin[PIN_MAX];
	ch_token_t *t = NULL;
	CK_RV rv;
	int rc = -1;

	*out = NULL;
	pin[0] = '\0';
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if (cfg->module == NULL || cfg->module[0] != '/' ||
	    (cfg->label == NULL) == (cfg->serial == NULL) ||
	    (cfg->label && (cfg->label[0] == '\0' || strlen(cfg->label) > 32)) ||
	    (cfg->serial && (cfg->serial[0] == '\0' ||
	    strlen(cfg->serial) > 16)) ||
	    cfg->sessions < 0 || cfg->sessions > CH_TOKEN_MAX_SESSIONS) {
		ch_error("token configuration needs an absolute module path, "
		    "a label (1-32) or a serial (1-16) and 0-%d sessions",
		    CH_TOKEN_MAX_SESSIONS);
		return -1;
	}
	if ((*out = ch_token_lookup_(cfg->module, cfg->label, cfg->serial)))
		return 0;
	if (cfg->pin_source != NULL &&
	    ch_token_read_secret(cfg->pin_source, pin, sizeof pin) != 0)
		return -1;

	t = ch_xmalloc(sizeof *t);
	memset(t, 0, sizeof *t);
	t->label = cfg->label ? xstrdup(cfg->label) : NULL;
	t->serial = cfg->serial ? xstrdup(cfg->serial) : NULL;
	t->pin = cfg->pin_source ? xstrdup(pin) : NULL;
	t->nsessions = cfg->sessions ? cfg->sessions : 2;
	t->refs = 1;
	t->since = time(NULL);
	atomic_init(&t->finds, 0);
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);

	pthread_mutex_lock(&registry_mu);
	t->mod = module_get(cfg->module, &rv);
	pthread_mutex_unlock(&registry_mu);
	if (t->mod == NULL) {
		ch_token_set_error_(CH_TOKEN_ERR_RETRY);
		goto out;
	}
	pthread_rwlock_rdlock(&t->mod->lock);
	pthread_mutex_lock(&t->mu);
	rc = establish(t);
	pthread_mutex_unlock(&t->mu);
	pthread_rwlock_unlock(&t->mod->lock);
	if (rc != 0)
		goto out;

	pthread_mutex_lock(&registry_mu);
	t->next = tokens;
	tokens = t;
	pthread_mutex_unlock(&registry_mu);
	ch_token_set_error_(CH_TOKEN_OK);
	*out = t;
out:
	OPENSSL_cleanse(pin, sizeof pin);
	if (rc != 0 && t != NULL) {
		pthread_mutex_lock(&registry_mu);
		if (t->mod != NULL)
			module_put(t->mod);
		pthread_mutex_unlock(&registry_mu);
		token_free(t);
	}
	return rc;
}

void
ch_token_close(ch_token_t *t)
{
	ch_token_t **pp;

	if (t == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	if (--t->refs > 0) {
		pthread_mutex_unlock(&registry_mu);
		return;
	}
	for (pp = &tokens; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	pthread_rwlock_wrlock(&t->mod->lock);
	close_pool(t);
	pthread_rwlock_unlock(&t->mod->lock);
	module_put(t->mod);
	pthread_mutex_unlock(&registry_mu);
	token_free(t);
}

int
ch_token_reload(ch_token_t *t)
{
	return reload(t, 1);
}

void
ch_token_health(ch_token_t *t, ch_token_health_t *out)
{
	pthread_mutex_lock(&t->mu);
	out->state = t->state;
	out->since = t->since;
	out->last_rv = t->last_rv;
	snprintf(out->last_error, sizeof out->last_error, "%s", t->last_error);
	out->reloads = t->reloads;
	out->finds = atomic_load(&t->finds);
	out->sessions = t->nopen;
	pthread_mutex_unlock(&t->mu);
}

int
ch_token_serial(ch_token_t *t, char out[17])
{
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	out[0] = '\0';
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	rv = t->mod->fl->C_GetTokenInfo(t->slot, &ti);
	if (rv == CKR_OK)
		padded_copy(out, ti.serialNumber, sizeof ti.serialNumber);
	ch_token_end_(t, s, rv, "token info");
	return rv == CKR_OK ? 0 : -1;
}

int
ch_token_login(ch_token_t *t, const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (pin == NULL || pin[0] == '\0' || strlen(pin) >= PIN_MAX) {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	rv = t->mod->fl->C_Login(s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	pthread_mutex_lock(&t->mu);
	if (rv == CKR_OK) {
		forget_pin(&t->pin);
		t->pin = xstrdup(pin);
	}
	pthread_mutex_unlock(&t->mu);
	if (ch_token_rv_class(rv) != CH_TOKEN_ERR_REFUSED) {
		ch_token_end_(t, s, rv, "login");
		return rv == CKR_OK ? 0 : -1;
	}
	/* A PIN typed at the counter may be wrong: that fails this call
	 * and does not stop the token. */
	ch_warn("token \"%s\": login: %s", t->label ? t->label : t->serial,
	    ch_token_rv_name(rv));
	ch_token_end_(t, s, CKR_OK, "login");
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	return -1;
}

int
ch_token_logout(ch_token_t *t)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int keys;

	pthread_mutex_lock(&t->mu);
	keys = t->keys != NULL;
	pthread_mutex_unlock(&t->mu);
	if (keys) {
		/* Their objects would vanish and the next reopening would
		 * refuse the token. */
		ch_error("token \"%s\": close its keys before logging out",
		    t->label ? t->label : t->serial);
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	rv = t->mod->fl->C_Logout(s);
	if (rv == CKR_USER_NOT_LOGGED_IN)
		rv = CKR_OK;
	pthread_mutex_lock(&t->mu);
	forget_pin(&t->pin);
	pthread_mutex_unlock(&t->mu);
	ch_token_end_(t, s, rv, "logout");
	return rv == CKR_OK ? 0 : -1;
}

int
ch_token_scan(const char *module, ch_token_info_t *out, int max, int *n)
{
	ch_p11_module_t *m;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG ns = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int rc = -1;

	*n = 0;
	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if (module == NULL || module[0] != '/')
		return -1;
	pthread_mutex_lock(&registry_mu);
	m = module_get(module, &rv);
	if (m == NULL) {
		pthread_mutex_unlock(&registry_mu);
		return -1;
	}
	pthread_rwlock_wrlock(&m->lock);
	if (m->refs > 1) {
		/* Open tokens see the new generation and reopen. */
		module_unload(m);
		if ((rv = module_load(m)) != CKR_OK)
			goto out;
	}
	if ((rv = list_slots(m->fl, &slots, &ns)) != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < ns; i++) {
		if (m->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (*n < max) {
			ch_token_info_t *o = &out[*n];

			padded_copy(o->label, ti.label, sizeof ti.label);
			padded_copy(o->serial, ti.serialNumber,
			    sizeof ti.serialNumber);
			o->initialized = !!(ti.flags & CKF_TOKEN_INITIALIZED);
			o->user_pin_set = !!(ti.flags &
			    CKF_USER_PIN_INITIALIZED);
		}
		(*n)++;
	}
	rc = 0;
	ch_token_set_error_(CH_TOKEN_OK);
out:
	free(slots);
	if (rc != 0)
		ch_error("pkcs11 module \"%s\": listing tokens: %s", module,
		    ch_token_rv_name(rv));
	pthread_rwlock_unlock(&m->lock);
	module_put(m);
	pthread_mutex_unlock(&registry_mu);
	return rc;
}
