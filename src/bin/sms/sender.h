/*
 * certhall-sms-sender: delivers the SMS outbox through a provider
 * (certhall/clients/sms.h).  Private to the program.
 */
#ifndef CERTHALL_SMS_SENDER_H
#define CERTHALL_SMS_SENDER_H

#include "certhall/clients/sms.h"

typedef struct ch_sms_sender_config {
	const char *conninfo;		/* libpq conninfo (the app role) */
	ch_sms_provider_t *provider;	/* borrowed */
} ch_sms_sender_config_t;

/*
 * Runs the sender until SIGTERM or SIGINT: LISTEN outbox, claim due sms
 * rows in batches under a 60 s lease, deliver each, record sent, retry
 * with backoff (1 s doubling to 300 s), or failed (permanent, or after 12
 * attempts).  Waits for a NOTIFY or the next due row (at most 1 s).
 * Survives the database going away (reconnects with a back-off) and
 * records outcomes it could not write once it is back.  On a signal it
 * finishes the message in hand, gives the rest of its batch back and
 * returns 0; any other return is a sysexits code.  Signals SIGTERM, SIGINT
 * and SIGHUP are blocked on entry.
 */
int ch_sms_sender_run(const ch_sms_sender_config_t *cfg);

#endif
