/*
 * The personalisation station's token work and the SO PIN derivation
 * (certhall/token/station.h).
 */
#include "certhall/token/station.h"

#include "internal.h"

#include "certhall/base/log.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* With its terminating NUL: the 0x00 separator of the derivation. */
static const char so_pin_label[] = "certhall/usbkey-so-pin/v1";

static int
good_serial(const char *serial)
{
	size_t n = serial ? strlen(serial) : 0;

	if (n == 0 || n > 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (serial[i] < 0x21 || serial[i] > 0x7e)
			return 0;
	return 1;
}

int
ch_station_so_pin(ch_key_t *master, const char *serial,
    char out[CH_STATION_SO_PIN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char msg[sizeof so_pin_label + 16], mac[32];
	size_t n;

	out[0] = '\0';
	if (!good_serial(serial)) {
		ch_error("usb key serial must be 1-16 printable characters");
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	n = strlen(serial);
	memcpy(msg, so_pin_label, sizeof so_pin_label);
	memcpy(msg + sizeof so_pin_label, serial, n);
	if (ch_key_hmac_sha256(master, msg, sizeof so_pin_label + n, mac) != 0)
		return -1;
	for (int i = 0; i < CH_STATION_SO_PIN_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 0x0f];
	}
	out[CH_STATION_SO_PIN_LEN] = '\0';
	OPENSSL_cleanse(mac, sizeof mac);
	return 0;
}

/* With its terminating NUL, as above. */
static const char unlock_label[] = "certhall/usbkey-unlock/v1";

int
ch_station_unlock_response(ch_key_t *master, const char *serial,
    const char *challenge, char out[CH_STATION_UNLOCK_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char msg[sizeof unlock_label + 16 + 1 +
	    CH_STATION_CHALLENGE_MAX], mac[EVP_MAX_MD_SIZE];
	char pin[CH_STATION_SO_PIN_LEN + 1];
	size_t sn, cn = challenge != NULL ? strlen(challenge) : 0, n;
	unsigned int maclen = 0;
	int rc = -1;

	out[0] = '\0';
	if (cn < CH_STATION_CHALLENGE_MIN || cn > CH_STATION_CHALLENGE_MAX ||
	    strspn(challenge, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") != cn) {
		ch_error("unlock challenge must be 8-64 letters and digits");
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_station_so_pin(master, serial, pin) != 0)
		return -1;
	sn = strlen(serial);
	memcpy(msg, unlock_label, sizeof unlock_label);
	n = sizeof unlock_label;
	memcpy(msg + n, serial, sn);
	n += sn;
	msg[n++] = 0;
	memcpy(msg + n, challenge, cn);
	n += cn;
	if (HMAC(EVP_sha256(), pin, CH_STATION_SO_PIN_LEN, msg, n, mac,
	    &maclen) == NULL || maclen < CH_STATION_UNLOCK_LEN / 2) {
		ch_error("unlock response: HMAC failed");
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		goto out;
	}
	for (int i = 0; i < CH_STATION_UNLOCK_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 0x0f];
	}
	out[CH_STATION_UNLOCK_LEN] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(pin, sizeof pin);
	OPENSSL_cleanse(mac, sizeof mac);
	return rc;
}

/* Sets the error for rv, logs what failed, and returns -1. */
static int
station_fail(ch_token_t *t, const char *what, CK_RV rv)
{
	ch_error("usb key \"%s\": %s: %s", t->serial ? t->serial : t->label,
	    what, ch_token_rv_name(rv));
	ch_token_set_error_(ch_token_rv_class(rv) == CH_TOKEN_ERR_RETRY ?
	    CH_TOKEN_ERR_RETRY : CH_TOKEN_ERR_FAILED);
	return -1;
}

/* Opens a session on slot, logs in as SO with so_pin: CKR_OK and *s. */
static CK_RV
so_session(CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, const char *so_pin,
    CK_SESSION_HANDLE *s)
{
	CK_RV rv;

	rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, s);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_Login(*s, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	if (rv != CKR_OK)
		fl->C_CloseSession(*s);
	return rv;
}

int
ch_station_init_token(ch_token_t *t, const char *current_so_pin,
    const char *new_so_pin)
{
	CK_UTF8CHAR label[32];
	CK_FUNCTION_LIST *fl;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	const char *what = "C_InitToken";
	CK_RV rv;

	if (t->serial == NULL || !good_serial(t->serial) ||
	    current_so_pin == NULL || new_so_pin == NULL ||
	    current_so_pin[0] == '\0' || new_so_pin[0] == '\0') {
		ch_error("usb key initialisation needs the key opened by "
		    "serial and both SO PINs");
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_exclusive_(t, &slot) != 0)
		return -1;
	fl = ch_token_fl_(t);
	if (t->keys != NULL) {
		rv = CKR_SESSION_EXISTS;
		goto out;
	}
	/* C_InitToken wants every session of this process on the token
	 * gone, the pool's included (closed by ch_token_exclusive_). */
	fl->C_CloseAllSessions(slot);
	memset(label, ' ', sizeof label);
	memcpy(label, t->serial, strlen(t->serial));
	rv = fl->C_InitToken(slot, (CK_UTF8CHAR *)current_so_pin,
	    strlen(current_so_pin), label);
	if (rv != CKR_OK || strcmp(current_so_pin, new_so_pin) == 0)
		goto out;
	/* SoftHSM gives an initialised token a new slot id. */
	what = "SO login";
	if ((rv = ch_token_find_slot_(t, &slot)) != CKR_OK ||
	    (rv = so_session(fl, slot, current_so_pin, &s)) != CKR_OK)
		goto out;
	what = "C_SetPIN (SO)";
	rv = fl->C_SetPIN(s, (CK_UTF8CHAR *)current_so_pin,
	    strlen(current_so_pin), (CK_UTF8CHAR *)new_so_pin,
	    strlen(new_so_pin));
	fl->C_Logout(s);
	fl->C_CloseSession(s);
out:
	ch_token_exclusive_end_(t);
	if (rv != CKR_OK)
		return station_fail(t, what, rv);
	ch_info("usb key \"%s\" initialised", t->serial);
	ch_token_set_error_(CH_TOKEN_OK);
	return 0;
}

int
ch_station_init_user_pin(ch_token_t *t, const char *so_pin,
    const char *user_pin)
{
	CK_FUNCTION_LIST *fl;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot;
	const char *what = "SO login";
	CK_RV rv;

	if (so_pin == NULL || user_pin == NULL || so_pin[0] == '\0' ||
	    user_pin[0] == '\0') {
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_exclusive_(t, &slot) != 0)
		return -1;
	fl = ch_token_fl_(t);
	if ((rv = so_session(fl, slot, so_pin, &s)) == CKR_OK) {
		what = "C_InitPIN";
		rv = fl->C_InitPIN(s, (CK_UTF8CHAR *)user_pin,
		    strlen(user_pin));
		fl->C_Logout(s);
		fl->C_CloseSession(s);
	}
	ch_token_exclusive_end_(t);
	if (rv != CKR_OK)
		return station_fail(t, what, rv);
	ch_token_set_error_(CH_TOKEN_OK);
	return 0;
}

int
ch_station_write_certs(ch_token_t *t, const char *label,
    const unsigned char *id, size_t id_len, X509 *leaf,
    STACK_OF(X509) *chain)
{
	unsigned char want[32], have[32], ski[EVP_MAX_MD_SIZE];
	unsigned int ski_len = 0;
	char ca_label[160];
	ch_key_t *k = NULL;
	int same;

	/* The key pair must be in the token and be the leaf's (this also
	 * makes a test signature with it). */
	if (label == NULL || strlen(label) > 128 || id == NULL ||
	    ch_token_key(t, CH_KEYREF_PRIVATE, label, id, id_len, &k) != 0)
		return -1;
	ch_key_fingerprint(k, have);
	ch_key_close(k);
	same = ch_key_spki_sha256_(X509_get0_pubkey(leaf), want) == 0 &&
	    memcmp(want, have, sizeof want) == 0;
	if (!same) {
		ch_error("usb key: certificate \"%s\" is not for the key with "
		    "that id", label);
		ch_token_set_error_(CH_TOKEN_ERR_FAILED);
		return -1;
	}
	if (ch_token_store_cert(t, label, id, id_len, leaf) != 0)
		return -1;
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *ca = sk_X509_value(chain, i);

		snprintf(ca_label, sizeof ca_label, "%s-ca%d", label, i + 1);
		if (X509_pubkey_digest(ca, EVP_sha1(), ski, &ski_len) != 1 ||
		    ch_token_store_cert(t, ca_label, ski, ski_len, ca) != 0)
			return -1;
	}
	return 0;
}

/* CKA_APPLICATION of a seal on a USB key. */
static const char seal_application[] = "GB/T 38540-2020 SESeal";

int
ch_station_write_seal(ch_token_t *t, const char *label,
    const unsigned char *der, size_t len)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE tmpl[6];
	CK_ULONG nt = 0, n = 0;
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	ch_token_set_error_(CH_TOKEN_ERR_FAILED);
	if (label == NULL || *label == '\0' || strlen(label) > 128 ||
	    der == NULL || len == 0)
		return -1;
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof cls };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof yes };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof no };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_APPLICATION, (void *)seal_application,
	    sizeof seal_application - 1 };
	tmpl[nt++] = (CK_ATTRIBUTE){ CKA_VALUE, (void *)der, (CK_ULONG)len };
	if (ch_token_begin_(t, &s) != 0)
		return -1;
	rv = ch_token_find_(t, s, CKO_DATA, label, NULL, 0, &h, 1, &n);
	if (rv == CKR_OK && n > 0) {
		ch_error("usb key already holds a seal \"%s\"", label);
		rv = CKR_FUNCTION_FAILED;
	}
	if (rv == CKR_OK)
		rv = ch_token_fl_(t)->C_CreateObject(s, tmpl, nt, &h);
	ch_token_end_(t, s, rv, "store seal");
	return rv == CKR_OK ? 0 : -1;
}
