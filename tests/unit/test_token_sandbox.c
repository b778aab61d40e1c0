/* The token tests' sandbox and raw PKCS#11 helpers (test_token.h). */
#include "test_token.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509v3.h>

int
tt_hsm_new(tt_hsm_t *h)
{
	const char *tmp = getenv("TMPDIR");
	char pin[192];
	FILE *f;

	memset(h, 0, sizeof *h);
	snprintf(h->dir, sizeof h->dir, "%s/certhall-token-XXXXXX",
	    tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(h->dir) == NULL)
		return -1;
	snprintf(h->conf, sizeof h->conf, "%s/softhsm2.conf", h->dir);
	snprintf(h->tokens, sizeof h->tokens, "%s/tokens", h->dir);
	snprintf(pin, sizeof pin, "%s/pin", h->dir);
	snprintf(h->pin_source, sizeof h->pin_source, "file:%s/pin", h->dir);
	if (mkdir(h->tokens, 0700) != 0 || (f = fopen(h->conf, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n", h->tokens);
	fclose(f);
	if ((f = fopen(pin, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", TT_PIN);
	fclose(f);
	return setenv("SOFTHSM2_CONF", h->conf, 1);
}

int
tt_hsm_init_token(const tt_hsm_t *h, const char *label, const char *so_pin,
    const char *pin)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "SOFTHSM2_CONF='%s' softhsm2-util "
	    "--init-token --free --label '%s' --so-pin '%s' --pin '%s' "
	    ">/dev/null", h->conf, label, so_pin, pin);
	return system(cmd) == 0 ? 0 : -1;
}

int
tt_hsm_serial(const tt_hsm_t *h, const char *label, char out[17])
{
	char cmd[512], line[256], serial[17] = "";
	int rc = -1;
	FILE *p;

	/* Each slot lists "Serial number:" before "Label:". */
	snprintf(cmd, sizeof cmd, "SOFTHSM2_CONF='%s' softhsm2-util "
	    "--show-slots", h->conf);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, p) != NULL) {
		char *v = strchr(line, ':');
		size_t n;

		if (v == NULL)
			continue;
		for (v++; *v == ' '; v++)
			;
		n = strcspn(v, "\n");
		while (n > 0 && v[n - 1] == ' ')
			n--;
		v[n] = '\0';
		if (strstr(line, "Serial number:") != NULL)
			snprintf(serial, sizeof serial, "%s", v);
		else if (strstr(line, "Label:") != NULL &&
		    strcmp(v, label) == 0 && serial[0] != '\0') {
			memcpy(out, serial, sizeof serial);
			rc = 0;
		}
	}
	pclose(p);
	return rc;
}

void
tt_hsm_path(const tt_hsm_t *h, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", h->dir, name);
}

void
tt_hsm_free(tt_hsm_t *h)
{
	char cmd[256];

	if (h->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h->dir);
	unsetenv("SOFTHSM2_CONF");
	h->dir[0] = '\0';
}

int
tt_raw_open(tt_raw_t *r, const char *label, const char *pin)
{
	CK_C_GetFunctionList get;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	memset(r, 0, sizeof *r);
	if ((r->dl = dlopen(TT_MODULE, RTLD_NOW)) == NULL)
		return -1;
	*(void **)&get = dlsym(r->dl, "C_GetFunctionList");
	if (get == NULL || get(&r->fl) != CKR_OK)
		return -1;
	rv = r->fl->C_Initialize(NULL);
	if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		return -1;	/* the layer has it loaded */
	if (r->fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	for (CK_ULONG i = 0; i < n; i++) {
		size_t len = strlen(label);

		if (r->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, len) != 0 ||
		    (len < 32 && ti.label[len] != ' '))
			continue;
		if (r->fl->C_OpenSession(slots[i], CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL,
		    NULL, &r->s) != CKR_OK)
			return -1;
		if (pin == NULL)
			return 0;
		rv = r->fl->C_Login(r->s, CKU_USER, (CK_UTF8CHAR *)pin,
		    strlen(pin));
		return rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN ? 0 : -1;
	}
	return -1;
}

CK_OBJECT_HANDLE
tt_raw_find(tt_raw_t *r, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	if (r->fl->C_FindObjectsInit(r->s, t, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	r->fl->C_FindObjects(r->s, h, 2, &n);
	r->fl->C_FindObjectsFinal(r->s);
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

int
tt_raw_bool(tt_raw_t *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = 2;
	CK_ATTRIBUTE a = { type, &b, sizeof b };

	if (r->fl->C_GetAttributeValue(r->s, h, &a, 1) != CKR_OK)
		return -1;
	return b == CK_TRUE ? 1 : b == CK_FALSE ? 0 : -1;
}

int
tt_raw_kept_in(tt_raw_t *r, CK_OBJECT_HANDLE h)
{
	static const CK_ATTRIBUTE_TYPE yes[] = {
		CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
		CKA_TOKEN, CKA_PRIVATE, CKA_SIGN,
	};

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (tt_raw_bool(r, h, yes[i]) != 1) {
			fprintf(stderr, "attribute 0x%lx is not true\n", yes[i]);
			return 0;
		}
	return tt_raw_bool(r, h, CKA_EXTRACTABLE) == 0;
}

CK_RV
tt_raw_read_rv(tt_raw_t *r, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
	unsigned char buf[1024];
	CK_ATTRIBUTE a = { type, buf, sizeof buf };

	return r->fl->C_GetAttributeValue(r->s, h, &a, 1);
}

void
tt_raw_close(tt_raw_t *r)
{
	if (r->fl != NULL && r->s != 0)
		r->fl->C_CloseSession(r->s);
	if (r->dl != NULL)
		dlclose(r->dl);
	memset(r, 0, sizeof *r);
}

int
tt_verify(EVP_PKEY *pub, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, sig_len, data, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

size_t
tt_sign(EVP_PKEY *pkey, const unsigned char *data, size_t len,
    unsigned char *sig, size_t cap)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = cap;

	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, sig, &n, data, len) != 1)
		n = 0;
	EVP_MD_CTX_free(md);
	return n;
}

X509 *
tt_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (x == NULL || name == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
	    : name) != 1 ||
	    X509_set_pubkey(x, pub) != 1 ||
	    X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(name);
	return x;
}
