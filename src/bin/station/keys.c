/*
 * The USB keys plugged in, seen through libp11 (station.h): the list, the
 * blank key to personalise, and the finished key read back.
 *
 * Each call loads the module into a libp11 context of its own and unloads
 * it before returning (C_Finalize), so it never overlaps with the token
 * layer's use of the same module: call these only while no token of the
 * token layer is open.  Tokens are found by label or serial, never by slot
 * (SoftHSM renumbers slots after C_InitToken; FIELD-NOTES).
 */
#include "station.h"

#include "certhall/base/log.h"

#include <libp11.h>
#include <stdio.h>
#include <string.h>

/* A loaded module and its slots. */
struct p11 {
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
};

static int
p11_open(struct p11 *p, const char *module)
{
	memset(p, 0, sizeof *p);
	if ((p->ctx = PKCS11_CTX_new()) == NULL)
		return -1;
	if (PKCS11_CTX_load(p->ctx, module) != 0) {
		ch_error("pkcs11 module \"%s\" does not load", module);
		PKCS11_CTX_free(p->ctx);
		p->ctx = NULL;
		return -1;
	}
	if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->nslots) != 0) {
		ch_error("pkcs11 module \"%s\": the slots cannot be listed",
		    module);
		PKCS11_CTX_unload(p->ctx);
		PKCS11_CTX_free(p->ctx);
		p->ctx = NULL;
		return -1;
	}
	return 0;
}

static void
p11_close(struct p11 *p)
{
	if (p->ctx == NULL)
		return;
	if (p->slots != NULL)
		PKCS11_release_all_slots(p->ctx, p->slots, p->nslots);
	PKCS11_CTX_unload(p->ctx);
	PKCS11_CTX_free(p->ctx);
	p->ctx = NULL;
}

static void
copy_field(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void
key_of(const PKCS11_TOKEN *t, st_key_t *out)
{
	copy_field(out->label, sizeof out->label, t->label);
	copy_field(out->serial, sizeof out->serial, t->serialnr);
	copy_field(out->model, sizeof out->model, t->model);
	out->initialized = t->initialized;
	out->user_pin_set = t->userPinSet;
}

int
st_keys_list(const char *module, st_key_t *out, int max, int *n)
{
	struct p11 p;

	*n = 0;
	if (p11_open(&p, module) != 0)
		return -1;
	for (unsigned int i = 0; i < p.nslots; i++) {
		const PKCS11_TOKEN *t = p.slots[i].token;

		/* SoftHSM's free slot holds an uninitialised token. */
		if (t == NULL || !t->initialized)
			continue;
		if (*n < max)
			key_of(t, &out[*n]);
		(*n)++;
	}
	p11_close(&p);
	return 0;
}

int
st_keys_find(const char *module, const char *label, const char *serial,
    st_key_t *out)
{
	st_key_t keys[32];
	int n, found = 0;

	if (st_keys_list(module, keys, 32, &n) != 0)
		return -1;
	for (int i = 0; i < n && i < 32; i++) {
		if (label != NULL ? strcmp(keys[i].label, label) != 0
		    : strcmp(keys[i].serial, serial) != 0)
			continue;
		*out = keys[i];
		found++;
	}
	if (found == 1)
		return 0;
	fprintf(stderr, "certhall-station: %s USB key %s \"%s\" is plugged "
	    "in\n", found ? "more than one" : "no", label != NULL ? "labelled"
	    : "with serial", label != NULL ? label : serial);
	return -1;
}

/* Whether certs (n of them) hold one equal to x. */
static bool
holds(const PKCS11_CERT *certs, unsigned int n, X509 *x)
{
	for (unsigned int i = 0; i < n; i++)
		if (certs[i].x509 != NULL && X509_cmp(certs[i].x509, x) == 0)
			return true;
	return false;
}

int
st_keys_check(const char *module, const char *serial, X509 *leaf,
    STACK_OF(X509) *chain)
{
	PKCS11_TOKEN *t = NULL;
	PKCS11_CERT *certs = NULL;
	unsigned int n = 0;
	struct p11 p;
	int rc = -1;

	if (p11_open(&p, module) != 0)
		return -1;
	for (unsigned int i = 0; i < p.nslots; i++)
		if (p.slots[i].token != NULL && p.slots[i].token->serialnr &&
		    strcmp(p.slots[i].token->serialnr, serial) == 0)
			t = p.slots[i].token;
	if (t == NULL) {
		fprintf(stderr, "certhall-station: usb key %s is gone\n",
		    serial);
		goto out;
	}
	if (t->label == NULL || strcmp(t->label, serial) != 0) {
		fprintf(stderr, "certhall-station: usb key %s is not labelled "
		    "with its serial\n", serial);
		goto out;
	}
	if (PKCS11_enumerate_certs(t, &certs, &n) != 0) {
		fprintf(stderr, "certhall-station: the certificates on usb key "
		    "%s cannot be read\n", serial);
		goto out;
	}
	if (!holds(certs, n, leaf)) {
		fprintf(stderr, "certhall-station: usb key %s does not hold "
		    "its certificate\n", serial);
		goto out;
	}
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!holds(certs, n, sk_X509_value(chain, i))) {
			fprintf(stderr, "certhall-station: usb key %s lacks CA "
			    "certificate %d of the chain\n", serial, i + 1);
			goto out;
		}
	rc = 0;
out:
	p11_close(&p);
	return rc;
}
