/*
 * Idempotency-Key for POSTs that create or change state (issue 4: create
 * and submit an application; later, payments).
 *
 * Inside the handler's transaction, ch_idem_begin() reserves the key for
 * the caller (principal kind and id) by inserting it.  A second request
 * with the same key waits on that row: if the first commits, the second
 * gets the first's answer replayed byte for byte (with
 * Idempotency-Replayed: true) and does nothing; if the first rolled back,
 * the second proceeds.  The same key with a different method, path or body
 * is refused (422, header Idempotency-Key).  Keys are 8-128 characters of
 * [A-Za-z0-9._:-].  Without the header nothing happens.
 */
#ifndef CERTHALL_IDEMPOTENCY_H
#define CERTHALL_IDEMPOTENCY_H

#include "certhall/web/http.h"

typedef enum {
	CH_IDEM_NONE,		/* no Idempotency-Key: proceed normally */
	CH_IDEM_PROCEED,	/* key reserved: do the work, ch_idem_save(), commit */
	CH_IDEM_REPLAYED,	/* req->resp holds the stored answer: commit and return */
	CH_IDEM_REFUSED,	/* req->resp holds a 422 problem: roll back and return */
	CH_IDEM_ERROR,		/* database error (logged): return -1 */
} ch_idem_t;

/* Call after ch_db_begin(), before any work. */
ch_idem_t ch_idem_begin(ch_req_t *req);

/* Stores req->resp (status, body, Location) under the reserved key; call
 * after the response is set and before commit (the statement is queued
 * and goes with the COMMIT, certhall/db.h).  0 or -1. */
int ch_idem_save(ch_req_t *req);

#endif
