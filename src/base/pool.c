#include "certhall/base/pool.h"
#include "certhall/base/log.h"

#include <jansson.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_SIZE (16 * 1024)
#define ALIGN alignof(max_align_t)

struct chunk {
	struct chunk *next;
	size_t size;
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct cleanup {
	struct cleanup *next;
	ch_cleanup_fn fn;
	void *data;
};

struct ch_pool {
	struct chunk *first;		/* kept across resets */
	struct chunk *cur;		/* where small allocations go */
	struct chunk *extra;		/* every other chunk, freed at reset */
	struct cleanup *cleanups;	/* newest first, so they run in reverse */
};

void
ch_oom(void)
{
	/* No allocation from here on: write(2) a fixed line and leave. */
	static const char msg[] =
	    "{\"level\":\"fatal\",\"msg\":\"out of memory\"}\n";
	ssize_t rc = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)rc;
	_exit(70);
}

void *
ch_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		ch_oom();
	return p;
}

void *
ch_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		ch_oom();
	return q;
}

static struct chunk *
chunk_new(size_t size)
{
	struct chunk *c = ch_xmalloc(sizeof *c + size);

	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

ch_pool_t *
ch_pool_new(void)
{
	ch_pool_t *pool = ch_xmalloc(sizeof *pool);

	pool->first = pool->cur = chunk_new(CHUNK_SIZE);
	pool->extra = NULL;
	pool->cleanups = NULL;
	return pool;
}

static void
run_cleanups(ch_pool_t *pool)
{
	while (pool->cleanups != NULL) {
		struct cleanup *c = pool->cleanups;

		/* Unlink first: a cleanup must not see itself again. */
		pool->cleanups = c->next;
		c->fn(c->data);
	}
}

void
ch_pool_reset(ch_pool_t *pool)
{
	run_cleanups(pool);
	while (pool->extra != NULL) {
		struct chunk *c = pool->extra;

		pool->extra = c->next;
		free(c);
	}
	pool->cur = pool->first;
	pool->first->used = 0;
}

void
ch_pool_free(ch_pool_t *pool)
{
	if (pool == NULL)
		return;
	ch_pool_reset(pool);
	free(pool->first);
	free(pool);
}

void *
ch_palloc(ch_pool_t *pool, size_t n)
{
	struct chunk *c = pool->cur;
	size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	void *p;

	if (need < n)
		ch_oom();
	if (c->size - c->used < need) {
		/* Large requests get a chunk of their own, so the current
		 * chunk's free space is not given up for them. */
		if (need > CHUNK_SIZE / 4) {
			struct chunk *big = chunk_new(need);

			big->used = need;
			big->next = pool->extra;
			pool->extra = big;
			memset(big->data, 0, need);
			return big->data;
		}
		c = chunk_new(CHUNK_SIZE);
		c->next = pool->extra;
		pool->extra = c;
		pool->cur = c;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, n);
	return p;
}

char *
ch_pstrndup(ch_pool_t *pool, const char *s, size_t n)
{
	char *d = ch_palloc(pool, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *
ch_pstrdup(ch_pool_t *pool, const char *s)
{
	return s == NULL ? NULL : ch_pstrndup(pool, s, strlen(s));
}

char *
ch_pvsprintf(ch_pool_t *pool, const char *fmt, va_list ap)
{
	va_list aq;
	int n;
	char *buf;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		ch_oom();
	buf = ch_palloc(pool, (size_t)n + 1);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	return buf;
}

char *
ch_psprintf(ch_pool_t *pool, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = ch_pvsprintf(pool, fmt, ap);
	va_end(ap);
	return s;
}

void
ch_pool_cleanup(ch_pool_t *pool, ch_cleanup_fn fn, void *data)
{
	struct cleanup *c = ch_palloc(pool, sizeof *c);

	c->fn = fn;
	c->data = data;
	c->next = pool->cleanups;
	pool->cleanups = c;
}

static void
json_cleanup(void *data)
{
	json_decref(data);
}

json_t *
ch_pool_json(ch_pool_t *pool, json_t *json)
{
	if (json != NULL)
		ch_pool_cleanup(pool, json_cleanup, json);
	return json;
}

const char *
ch_pascii(ch_pool_t *pool, const char *text, size_t max)
{
	char *out = ch_palloc(pool, max + 1);
	size_t n = 0;

	for (; text != NULL && text[n] != '\0' && n < max; n++)
		out[n] = (text[n] >= 0x20 && text[n] <= 0x7e) ? text[n] : '?';
	out[n] = '\0';
	return out;
}
