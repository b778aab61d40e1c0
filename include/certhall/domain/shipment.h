/*
 * Shipping the USB key and 本人签收 (SPEC §2 new/reissue, §5; issue 14;
 * docs/CONTRACT.md "Shipping and delivery").
 *
 *   ship      an operator hands the USB key personalised for an issued new
 *             or reissue application to a carrier: the key's serial must
 *             be the one personalised for THIS application (usb_key row of
 *             this application, status personalised); the tracking number
 *             is typed or comes from the courier interface's waybill.  One
 *             transaction: shipment row, key shipped, application
 *             issued → shipped (history, audit), SMS to the handler with
 *             the carrier and tracking number.
 *   deliver   the courier's signed callback or an operator by hand records
 *             who signed for it and how (signature or ID check).  本人签收
 *             (decision): the name signed must equal the application's
 *             handler_name (white space at either end ignored); anyone else
 *             is refused unless the handler's written authorisation
 *             (授权委托书: its reference or a note of it, 1-200 characters)
 *             is recorded with the delivery.  One transaction: shipment
 *             delivered, key delivered, shipped → delivered → completed
 *             (two history rows, two audit events), SMS to the handler.
 *
 * Functions run in the caller's transaction and commit nothing; strings
 * returned belong to ctx->pool.
 */
#ifndef CERTHALL_DOMAIN_SHIPMENT_H
#define CERTHALL_DOMAIN_SHIPMENT_H

#include <stdbool.h>

#include "certhall/clients/courier.h"
#include "certhall/domain/application.h"
#include "certhall/store/ctx.h"

#define CH_SHIP_CARRIER_MAX 32
#define CH_SHIP_TRACKING_MIN 6
#define CH_SHIP_TRACKING_MAX 32
#define CH_SHIP_NAME_MAX 64
#define CH_SHIP_AUTH_MAX 200

typedef enum {
	CH_SHIP_OK,
	CH_SHIP_DUPLICATE,	/* a courier event already recorded: nothing
				 * changed (acknowledge it) */
	CH_SHIP_NOT_FOUND,	/* no shipment (for this application or
				 * tracking number) */
	CH_SHIP_CONFLICT,	/* business or status does not allow it
				 * (*why); the caller answers 409 */
	CH_SHIP_BAD_KEY,	/* usb_key_serial is not the key personalised
				 * for this application (*why): 422 */
	CH_SHIP_TAKEN,		/* carrier + tracking number used by another
				 * shipment: 409 */
	CH_SHIP_NOT_HANDLER,	/* signed_by_name is not the handler's and no
				 * authorisation was given: 422 */
	CH_SHIP_ERROR,		/* database error, logged */
} ch_ship_result_t;

/*
 * Whether application a (loaded locked, CH_APP_CHANGE) may ship now with
 * the USB key serial: a new or reissue application in issued, no shipment
 * yet, and serial personalised for it.  CH_SHIP_OK (*parcel: our
 * reference "certhall-app-<id>" and the application's delivery address,
 * for a waybill), CONFLICT, BAD_KEY (*why), or ERROR.  Call it before asking the courier for a waybill, and
 * ch_ship_record() after, in the same transaction.
 */
ch_ship_result_t ch_ship_check(ch_ctx_t *ctx, const ch_app_t *a,
    const char *serial, ch_courier_parcel_t *parcel, const char **why);

/* What the operator ships: tracking_no typed or the courier's waybill
 * (via_courier). */
typedef struct {
	const char *usb_key_serial;
	const char *carrier;
	const char *tracking_no;
	bool via_courier;
} ch_ship_t;

/*
 * Records the shipment of a (after ch_ship_check() said OK) as the header
 * says.  CH_SHIP_OK with *json the Shipment object, CH_SHIP_TAKEN, or
 * CH_SHIP_ERROR.
 */
ch_ship_result_t ch_ship_record(ch_ctx_t *ctx, const ch_app_t *a,
    const ch_ship_t *s, const char **json);

/* A delivery as recorded. */
typedef struct {
	const char *signed_by_name;
	const char *check_kind;		/* "signature" or "id_check" */
	const char *authorisation;	/* NULL: none recorded */
	const char *courier_event_id;	/* NULL: by an operator */
	const char *delivered_at;	/* RFC 3339 from the courier, or NULL
					 * for now */
} ch_delivery_t;

/*
 * Records the delivery of application app_id's shipment (app_id 0: find it
 * by carrier + tracking_no, the courier's callback) and completes the
 * application, as the header says.  OK with *json the Shipment object;
 * DUPLICATE (the courier's event recorded already, or the shipment was
 * delivered before: *json the shipment as it is); NOT_FOUND; CONFLICT
 * (*why: not shipped); NOT_HANDLER; ERROR.
 */
ch_ship_result_t ch_ship_deliver(ch_ctx_t *ctx, long long app_id,
    const char *carrier, const char *tracking_no, const ch_delivery_t *d,
    const char **json, const char **why);

/*
 * Uses a courier callback's nonce once.  1 used now, 0 seen before (a
 * replay), -1 database error.
 */
int ch_ship_nonce_use(ch_ctx_t *ctx, const char *nonce);

/* The Shipment object of application app_id (visibility is the caller's).
 * CH_SHIP_OK with *json, NOT_FOUND, or ERROR. */
ch_ship_result_t ch_ship_get(ch_ctx_t *ctx, long long app_id,
    const char **json);

#endif
