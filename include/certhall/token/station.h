/*
 * The personalisation station's work on a subscriber's USB key, through the
 * key's PKCS#11 module, and the SO PIN each key gets.
 *
 * A USB key is opened with ch_token_open() by its serial number (its label
 * changes when it is initialised) and without a PIN source.  The sequence:
 *
 *   so = ch_station_so_pin(master, serial)           -- in certhall-signer
 *   ch_station_init_token(usb, factory_so_pin, so)   -- wipes, label=serial
 *   ch_station_init_user_pin(usb, so, user_pin)
 *   ch_token_login(usb, user_pin)
 *   ch_token_generate_keypair(usb, {RSA-2048 or P-256, label, id}, &pub)
 *   ... the CA issues the certificate for pub ...
 *   ch_station_write_certs(usb, label, id, leaf, chain)
 *   ch_token_logout(usb)
 *
 * SO PIN derivation (version 1), so that no SO PIN is stored and any can be
 * recomputed by whoever holds the master secret:
 *
 *   msg    = "certhall/usbkey-so-pin/v1" || 0x00 || serial
 *   mac    = HMAC-SHA256(master, msg)
 *   so_pin = lowercase hex of mac[0..7]            (16 characters)
 *
 * where serial is the token's CK_TOKEN_INFO serialNumber as ASCII without
 * trailing blanks (1 to 16 printable characters, no terminating NUL) and
 * master is the 32-byte CKK_GENERIC_SECRET made by
 * ch_token_generate_secret() that never leaves the CA token.  Example (the
 * unit test checks it): master = bytes 0x00..0x1f, serial
 * "8efeba98b57bb366" gives so_pin "b53b916fd39e4c5a".  64 bits suffice
 * because a token locks its SO PIN after a few wrong tries.
 *
 * Unlock response (version 1; issue 13), the one-time answer to the
 * challenge a USB key's client shows when its user PIN is locked or
 * forgotten (解锁).  The per-key secret is the key's SO PIN above, which
 * the key itself holds, so its client (or firmware) can check a response
 * without the master:
 *
 *   so_pin   = the SO PIN of serial (above: HMAC-SHA256 in the CA token)
 *   msg      = "certhall/usbkey-unlock/v1" || 0x00 || serial || 0x00
 *              || challenge
 *   mac      = HMAC-SHA256(key = the 16 ASCII characters of so_pin, msg)
 *   response = UPPERCASE hex of mac[0..7]            (16 characters)
 *
 * challenge is what the client shows, 8 to 64 characters of [0-9A-Za-z],
 * as ASCII, case kept.  Example: master = bytes 0x00..0x1f, serial
 * "8efeba98b57bb366" (so_pin "b53b916fd39e4c5a"), challenge
 * "20261207A1B2C3D4" gives "C105C18D5EC61977".  The response is good once:
 * the CA never answers the same serial and challenge twice
 * (certhall/domain/unlock.h).
 */
#ifndef CERTHALL_TOKEN_STATION_H
#define CERTHALL_TOKEN_STATION_H

#include <stddef.h>

#include <openssl/x509.h>

#include "certhall/token/key.h"
#include "certhall/token/token.h"

#define CH_STATION_SO_PIN_LEN 16
#define CH_STATION_UNLOCK_LEN 16
#define CH_STATION_CHALLENGE_MIN 8
#define CH_STATION_CHALLENGE_MAX 64

/* The SO PIN of the USB key with serial, derived with master (a token
 * secret key) as above, into out (NUL-terminated).  0, or -1 (a bad serial,
 * or see ch_token_last_error); out is then cleared. */
int ch_station_so_pin(ch_key_t *master, const char *serial,
    char out[CH_STATION_SO_PIN_LEN + 1]);

/* The unlock response for serial and challenge (above), into out
 * (NUL-terminated).  0, or -1 (a bad serial or challenge: error
 * CH_TOKEN_ERR_FAILED; or see ch_token_last_error); out is then cleared. */
int ch_station_unlock_response(ch_key_t *master, const char *serial,
    const char *challenge, char out[CH_STATION_UNLOCK_LEN + 1]);

/*
 * Initialises the USB key t (C_InitToken, which erases every object on it)
 * with the SO PIN it has now, current_so_pin (the maker's default for a new
 * key, or the derived one for a key issued before; for a key never
 * initialised it becomes the SO PIN), labels it with its serial, and then
 * changes the SO PIN to new_so_pin (C_SetPIN as SO) unless they are equal.
 * Needs every other session on the key closed: keys opened on t refuse it.
 * Forgets a PIN given to ch_token_login.  0, or -1 after logging why.
 */
int ch_station_init_token(ch_token_t *t, const char *current_so_pin,
    const char *new_so_pin);

/* Sets the user PIN of t (C_InitPIN, logged in as SO with so_pin, then
 * logged out).  0 or -1. */
int ch_station_init_user_pin(ch_token_t *t, const char *so_pin,
    const char *user_pin);

/*
 * Writes the subscriber's certificate leaf to t (logged in) with the label
 * and id of the key pair it certifies, after checking that the public key
 * stored with that id is leaf's, then each certificate of chain (may be
 * NULL) labelled "<label>-ca<n>" (n from 1) with the SHA-1 of its public
 * key (RFC 5280 4.2.1.2 method 1) as CKA_ID.  0 or -1; on -1 what was
 * written stays (initialise the key again to start over).
 */
int ch_station_write_certs(ch_token_t *t, const char *label,
    const unsigned char *id, size_t id_len, X509 *leaf,
    STACK_OF(X509) *chain);

/*
 * Writes an e-seal (DER of a GB/T 38540 SESeal, issue 13) to t (logged in)
 * as a public CKO_DATA object: CKA_LABEL label (the seal's esID),
 * CKA_APPLICATION "GB/T 38540-2020 SESeal", CKA_VALUE the DER; a second
 * object of that label is refused.  0 or -1.
 */
int ch_station_write_seal(ch_token_t *t, const char *label,
    const unsigned char *der, size_t len);

#endif
