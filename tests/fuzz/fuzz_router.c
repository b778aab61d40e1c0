/*
 * libFuzzer target: request paths against the real route table.  A match
 * must name a route, and every decoded parameter must be non-empty and free
 * of '/' and NUL (so it can never smuggle a segment), except a route's last
 * rest parameter {name*} (certhall/web/router.h), which takes the rest of
 * the path raw, slashes included, empty or not (OCSP's GET answers what it
 * cannot read with malformedRequest).
 */
#include "api.h"
#include "certhall/web/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ch_pool_t *pool;
	char *path;

	if (pool == NULL)
		pool = ch_pool_new();
	path = ch_pstrndup(pool, (const char *)data, size);
	for (int m = 0; m < CH_METHOD__MAX; m++) {
		ch_match_t match;
		ch_match_result_t r = ch_router_match(ch_routes, ch_nroutes,
		    (ch_method_t)m, path, pool, &match);

		if (r == CH_MATCH_OK) {
			size_t plen;
			int rest;

			if (match.route == NULL || match.nparams > CH_MAX_PARAMS)
				abort();
			plen = strlen(match.route->pattern);
			rest = plen >= 2 &&
			    strcmp(match.route->pattern + plen - 2, "*}") == 0;
			for (size_t i = 0; i < match.nparams; i++) {
				int last_rest = rest && i + 1 == match.nparams;

				if (last_rest)
					continue;
				if (match.values[i][0] == '\0' ||
				    strchr(match.values[i], '/') != NULL)
					abort();
			}
		} else if (r == CH_MATCH_METHOD && match.allow == 0) {
			abort();
		}
	}
	ch_pool_reset(pool);
	return 0;
}
