/*
 * A canned HTTP server for the unit tests of outside services' clients.
 */
#ifndef CERTHALL_TEST_CANNED_HTTP_H
#define CERTHALL_TEST_CANNED_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#include "certhall/base/pool.h"

/* Listens on a free loopback port and forks a server that answers the
 * i-th connection with answers[i] (NULL-terminated; "" closes without an
 * answer) and appends each request to the file log; its URL
 * ("http://127.0.0.1:<port>/") in url.  The child's pid, or -1. */
pid_t canned_start(const char *const *answers, const char *log,
    char *url, size_t cap);
/* A complete HTTP/1.1 answer of status ("200 OK") with a JSON body, in
 * pool. */
const char *canned_answer(ch_pool_t *pool, const char *status,
    const char *body);
/* The file at path (up to 64 KiB) in a static buffer, or NULL. */
char *canned_slurp(const char *path);

#endif
