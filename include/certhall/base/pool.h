/*
 * Per-request arena (after nginx's ngx_pool_t).
 *
 * Everything a request allocates -- strings, json_t, PGresult, EVP contexts --
 * is tied to one pool and released in one place, ch_pool_reset(), at the
 * bottom of the accept loop.  Memory comes from chunks that are kept between
 * requests; cleanups run in reverse order of registration.
 *
 * Out-of-memory policy: the allocation functions never return NULL.  On
 * failure they log and exit(70) (EX_SOFTWARE); in a prefork worker the master
 * starts a fresh one.  A half-built response after OOM is worse than a
 * restarted worker, and the request in flight gets nginx's 502.
 */
#ifndef CERTHALL_POOL_H
#define CERTHALL_POOL_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ch_pool ch_pool_t;
typedef void (*ch_cleanup_fn)(void *data);

/* Creates a pool; the caller frees it with ch_pool_free(). */
ch_pool_t *ch_pool_new(void);
/* Runs every cleanup (last registered first) and frees all memory. */
void ch_pool_free(ch_pool_t *pool);
/* Runs the cleanups and forgets all allocations, keeping the first chunk. */
void ch_pool_reset(ch_pool_t *pool);

/* Returns n bytes (aligned for any type), zeroed, owned by the pool. */
void *ch_palloc(ch_pool_t *pool, size_t n);
char *ch_pstrdup(ch_pool_t *pool, const char *s);
char *ch_pstrndup(ch_pool_t *pool, const char *s, size_t n);
char *ch_psprintf(ch_pool_t *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *ch_pvsprintf(ch_pool_t *pool, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Registers fn(data) to run when the pool is reset or freed. */
void ch_pool_cleanup(ch_pool_t *pool, ch_cleanup_fn fn, void *data);

/* Hands a json_t reference to the pool (json_decref at reset) and returns it.
 * NULL passes through unchanged. */
struct json_t;
struct json_t *ch_pool_json(ch_pool_t *pool, struct json_t *json);

/* malloc/realloc that never return NULL (see the OOM policy above). */
void *ch_xmalloc(size_t n);
void *ch_xrealloc(void *p, size_t n);
void ch_oom(void) __attribute__((noreturn));

/*
 * text as printable ASCII (every other byte '?'), at most max characters,
 * in pool: an outside service's words made fit for a log line or a
 * last_error column (the payment gateway's and the tax platform's
 * clients).  NULL is "".
 */
const char *ch_pascii(ch_pool_t *pool, const char *text, size_t max);

#endif
