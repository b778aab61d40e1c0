/*
 * CORS for the configured single-page-app origins (no cookies: the SPA
 * sends a bearer token, so credentials mode is never enabled).
 *
 * An allowed Origin gets Access-Control-Allow-Origin (echoed, Vary: Origin)
 * and the exposed headers on every response, errors included.  A preflight
 * (OPTIONS with Access-Control-Request-Method) is answered 204 with the
 * methods the path really has; an origin not on the list gets no CORS
 * headers at all, so the browser refuses it.
 */
#ifndef CERTHALL_CORS_H
#define CERTHALL_CORS_H

#include <stdbool.h>

#include "certhall/web/http.h"

/* Sets the allowed origins from a comma-separated list (CERTHALL_CORS_ORIGINS),
 * e.g. "https://hall.scca.com.cn,http://127.0.0.1:5173".  Each must be
 * scheme://host[:port] with no path.  0, or -1 after logging the bad one. */
int ch_cors_configure(const char *csv);
bool ch_cors_allowed(const char *origin);

/* Adds the CORS headers that apply to req's response (call last). */
void ch_cors_finish(ch_req_t *req);

#endif
