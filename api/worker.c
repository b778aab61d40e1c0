/*
 * What each certhall-api worker keeps across its requests: the clients
 * made once, after fork and after privileges drop, from the settings the
 * master read once at start (api_settings_t).  Nothing here reads the
 * environment or a file: a worker started after the settings changed on
 * disk serves with the ones read at start, like its siblings.
 */
#include "api.h"
#include "certhall/base/util.h"

#include <stdlib.h>
#include <string.h>

ch_worker_state_t *
api_worker_init(const void *settings)
{
	const api_settings_t *s = settings;
	ch_worker_state_t *state = ch_xmalloc(sizeof *state);

	memset(state, 0, sizeof *state);
	if (s->paygw != NULL && (state->paygw = ch_paygw_new(s->paygw)) == NULL) {
		free(state);
		return NULL;
	}
	if (s->courier != NULL &&
	    (state->courier = ch_courier_new(s->courier)) == NULL) {
		api_worker_fini(state);
		return NULL;
	}
	return state;
}

void
api_worker_fini(ch_worker_state_t *state)
{
	if (state == NULL)
		return;
	ch_paygw_free(state->paygw);
	ch_courier_free(state->courier);
	free(state);
}

ch_courier_t *
api_courier(const ch_req_t *req)
{
	return req->worker != NULL ? req->worker->courier : NULL;
}
