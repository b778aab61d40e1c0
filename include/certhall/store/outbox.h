/*
 * Queues a notification in the transactional outbox (sql/0004): a row
 * written in the caller's transaction, so it goes out if and only if the
 * change that caused it commits; certhall-sms-sender is woken by the NOTIFY
 * at commit and delivers it.
 */
#ifndef CERTHALL_OUTBOX_H
#define CERTHALL_OUTBOX_H

#include "certhall/store/db.h"

/*
 * Queues an SMS to phone: template and params (a JSON object as text) are
 * kept with the row, body is the complete text (starting with 【四川CA】).
 * *id (if not NULL) receives the outbox row's id.  0, or -1 (logged).
 */
int ch_outbox_sms(ch_db_t *db, ch_pool_t *pool, const char *phone,
    const char *template, const char *params, const char *body,
    long long *id);

#endif
