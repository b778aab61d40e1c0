/*
 * libFuzzer target: request paths against the real route table.  A match
 * must name a route, and every decoded parameter must be non-empty and free
 * of '/' and NUL (so it can never smuggle a segment).
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
			if (match.route == NULL || match.nparams > CH_MAX_PARAMS)
				abort();
			for (size_t i = 0; i < match.nparams; i++)
				if (match.values[i][0] == '\0' ||
				    strchr(match.values[i], '/') != NULL)
					abort();
		} else if (r == CH_MATCH_METHOD && match.allow == 0) {
			abort();
		}
	}
	ch_pool_reset(pool);
	return 0;
}
