/*
 * E-seals (电子印章, GB/T 38540-2020; SPEC §8; issue 13): the database side
 * of the seals certhall-signer makes, and the web workers' reads.  The
 * structure and its signature are the codec's (certhall/codec/seal.h);
 * this module decides what each seal says, records it, and shows it.
 *
 * Making (certhall-signer only, src/bin/signer/seal.c):
 *   A certificate stored for a job whose approved snapshot asks for seals
 *   ("seals" 1..10) queues a seal_job row in the same transaction (a
 *   trigger, sql/0017_seals_unlock.sql).  ch_eseal_make_due() takes the
 *   due rows (FOR UPDATE SKIP LOCKED: two signers never make the same
 *   seals) and calls the signer's make function once per seal still
 *   missing, then stores each seal; a job whose seal cannot be made is
 *   tried again after attempts x 60 s and given up (failed_at) after
 *   CH_ESEAL_ATTEMPTS_MAX attempts, its reason in last_error.
 *
 * Decisions (docs/CONTRACT.md "E-seals"):
 * - What a seal says, from the approved snapshot and the certificate:
 *   type 1 (unit seal) and the unit's name for an org certificate, type 2
 *   (personal seal) and the holder's name for a personal one; certList
 *   type 1 with the owner's certificate itself; createDate now;
 *   validStart the later of now and the certificate's notBefore, validEnd
 *   its notAfter (a seal never outlives its certificate); the picture the
 *   seal_impression material current when the seal is made (PNG, the
 *   only kind the API takes for it).
 * - Several seals (seals = n): n seals with the same name and picture,
 *   numbered 1..n; the application pays for n (SPEC §4) and the holder
 *   uses them as it likes.  esID = "CH" || the certificate's serial
 *   (lowercase hex) || "-" || the number, e.g. "CH5f0c…9a-1": unique
 *   because serials are, and UNIQUE in the table too.
 * - The picture's size in mm: from the PNG's pHYs chunk when it gives
 *   pixels per metre (rounded, each side within the codec's 10..100 mm);
 *   otherwise 40 mm wide for a unit seal and 20 mm for a personal one
 *   (the usual sizes of Chinese seals), the height in the picture's
 *   proportion (clamped to 10..100 mm).
 * - Status, derived when read (nothing is written on revocation):
 *   "revoked" when the certificate is, "expired" after validEnd (or the
 *   certificate's notAfter), "not_yet_valid" before validStart, else
 *   "valid"; "valid" is the only status in which the seal may be used.
 * - Who sees a seal: the owner of its certificate (applicant_id; an
 *   integrator for the user it acts for) and staff, as for certificates.
 */
#ifndef CERTHALL_DOMAIN_ESEAL_H
#define CERTHALL_DOMAIN_ESEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "certhall/codec/seal.h"
#include "certhall/store/ctx.h"

#define CH_ESEAL_ATTEMPTS_MAX 5
#define CH_ESEAL_WHY_MAX 300
/* Default picture widths, mm (above). */
#define CH_ESEAL_ORG_MM 40
#define CH_ESEAL_PERSONAL_MM 20

/* One seal to make.  Borrowed from the caller's pool. */
typedef struct {
	long long certificate_id;
	int seal_number;		/* 1..wanted */
	const char *es_id;
	ch_seal_type_t type;
	const char *name;		/* UTF-8 */
	const unsigned char *owner_der;	/* the certificate */
	size_t owner_len;
	time_t not_before, not_after;	/* the certificate's */
	const unsigned char *png;	/* NULL: no seal impression on record */
	size_t png_len;
} ch_eseal_work_t;

/* What the make function made. */
typedef struct {
	unsigned char *der;		/* OPENSSL_malloc'd; the module frees */
	size_t len;
	const char *algorithm;		/* "sm2" or "ec-p256" (static) */
	long long maker_id;		/* the seal maker's ca_certificate.id */
	time_t create_date, valid_start, valid_end;
	int width_mm, height_mm;
} ch_eseal_made_t;

/* Makes the seal w describes into *out: NULL, or a static or
 * pool-owned reason it cannot (no impression, the key, the codec). */
typedef const char *(*ch_eseal_make_fn)(void *arg, const ch_eseal_work_t *w,
    ch_eseal_made_t *out);

/*
 * Makes what is due (above), at most max jobs, in one transaction of its
 * own: the seals of a job are stored together or not at all.  *made counts
 * the seals stored.  0, or -1 (database error, logged; rolled back).
 */
int ch_eseal_make_due(ch_ctx_t *ctx, int max, ch_eseal_make_fn make,
    void *arg, int *made);

/*
 * The picture's size in millimetres (above) for a PNG of len bytes and a
 * seal of type.  0, or -1 when it is not a PNG with an IHDR chunk first.
 * Pure.
 */
int ch_eseal_picture_mm(const unsigned char *png, size_t len,
    ch_seal_type_t type, int *width_mm, int *height_mm);

/* ---- reading (the web workers) ------------------------------------------ */

typedef enum {
	CH_ESEAL_FOUND,
	CH_ESEAL_NOT_FOUND,	/* absent, or not visible to the caller */
	CH_ESEAL_ERROR,		/* database error, logged */
} ch_eseal_result_t;

/* What GET /seals filters on. */
typedef struct {
	const char *certificate_serial;	/* lowercase hex, NULL: any */
	const char *status;		/* ch_eseal_status_codes, NULL: any */
	long long before;		/* ids below this (LLONG_MAX: newest) */
	long long limit;
} ch_eseal_filter_t;

/* valid, revoked, expired, not_yet_valid; NULL-terminated. */
extern const char *const ch_eseal_status_codes[];

/*
 * One page of the seals ctx->principal may see that pass f, newest
 * first: {"items": [Seal...], "next_cursor": ...} as JSON text in
 * ctx->pool (*len bytes), or NULL after a database error (logged).
 */
const char *ch_eseal_list(ch_ctx_t *ctx, const ch_eseal_filter_t *f,
    size_t *len);

/* The Seal object of seal id when the caller may see it (*json in
 * ctx->pool). */
ch_eseal_result_t ch_eseal_load(ch_ctx_t *ctx, long long id,
    const char **json);

/* The DER of seal id (and its esID) when the caller may see it, in
 * ctx->pool. */
ch_eseal_result_t ch_eseal_der(ch_ctx_t *ctx, long long id,
    const unsigned char **der, size_t *len, const char **es_id);

/* The seal objects of certificate certificate_id, oldest first, as a JSON
 * array text (ctx->pool) with each seal's DER in base64 ("der"): what the
 * personalisation station writes to the USB key.  No visibility check:
 * for operators.  NULL after a database error. */
const char *ch_eseal_of_certificate(ch_ctx_t *ctx, long long certificate_id);

#endif
