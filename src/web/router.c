#include "certhall/web/router.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <stdio.h>
#include <string.h>

/* Decodes one path segment; NULL if an escape is bad or yields NUL or '/'. */
static const char *
decode_segment(const char *s, size_t len, ch_pool_t *pool)
{
	char *out = ch_palloc(pool, len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return NULL;	/* needs two hex digits */
			hi = ch_hex_value((unsigned char)s[i + 1]);
			lo = ch_hex_value((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			c = hi * 16 + lo;
			if (c == 0 || c == '/')
				return NULL;
			i += 2;
		}
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return out;
}

/*
 * The request path, split at '/' as deep as some route's pattern looks, and
 * each segment decoded at most once (when a {param} first asks for it): the
 * routes tried share the work, so that trying forty routes does not mean
 * forty scans and percent-decodings of a path that may be kilobytes long.
 */
typedef struct {
	const char *raw;	/* into the path, not terminated */
	size_t len;
	const char *value;	/* decoded, pool-owned; NULL until asked */
	int bad;		/* decoding failed: no {param} matches it */
} segment_t;

typedef struct {
	const char *rest;	/* '/' before the next segment, or '\0' */
	segment_t *segs;	/* the segments split so far */
	size_t n, cap;
	segment_t inline_segs[8];	/* deep enough for every route */
	ch_pool_t *pool;
} path_t;

/* Segment i of the path, splitting up to it; NULL if the path has fewer. */
static segment_t *
path_segment(path_t *pt, size_t i)
{
	while (pt->n <= i) {
		const char *s, *end;

		if (*pt->rest == '\0')
			return NULL;
		if (pt->n == pt->cap) {
			segment_t *more = ch_palloc(pt->pool,
			    2 * pt->cap * sizeof *more);

			memcpy(more, pt->segs, pt->n * sizeof *more);
			pt->segs = more;
			pt->cap *= 2;
		}
		s = pt->rest + 1;
		end = strchrnul(s, '/');
		pt->segs[pt->n] = (segment_t){ .raw = s, .len = (size_t)(end - s) };
		pt->n++;
		pt->rest = end;
	}
	return &pt->segs[i];
}

/* The decoded value of a segment, NULL if it has none. */
static const char *
segment_value(segment_t *seg, ch_pool_t *pool)
{
	if (seg->value == NULL && !seg->bad) {
		seg->value = decode_segment(seg->raw, seg->len, pool);
		seg->bad = seg->value == NULL;
	}
	return seg->value;
}

/* A route's parameters while its pattern is tried; copied into the match
 * only for the route returned. */
typedef struct {
	const char *name[CH_MAX_PARAMS];	/* into the pattern, after '{' */
	size_t name_len[CH_MAX_PARAMS];
	const char *value[CH_MAX_PARAMS];
	size_t n;
} params_t;

const char *const ch_media_any[] = { "*/*", NULL };

/*
 * Compares one pattern with the path: the same number of segments, none
 * empty, each literal equal byte for byte, each {param} one that decodes;
 * a last {param*} takes the rest of the path as it is, empty or with
 * slashes, undecoded.  Returns 1 on a match (params filled), 0 otherwise.
 */
static int
match_one(const char *pattern, path_t *pt, params_t *pm)
{
	const char *p = pattern;
	size_t i = 0;

	pm->n = 0;
	while (*p != '\0') {
		segment_t *seg;
		const char *pend;
		size_t plen;

		if (*p != '/' || (seg = path_segment(pt, i)) == NULL)
			return 0;
		p++;
		pend = strchrnul(p, '/');
		plen = (size_t)(pend - p);
		if (*p == '{' && plen > 3 && p[plen - 2] == '*') {
			if (pm->n == CH_MAX_PARAMS)
				return 0;
			pm->name[pm->n] = p + 1;
			pm->name_len[pm->n] = plen - 3;
			pm->value[pm->n] = ch_pstrdup(pt->pool, seg->raw);
			pm->n++;
			return 1;
		}
		if (seg->len == 0)
			return 0;
		if (*p == '{') {
			if (pm->n == CH_MAX_PARAMS ||
			    segment_value(seg, pt->pool) == NULL)
				return 0;
			pm->name[pm->n] = p + 1;
			pm->name_len[pm->n] = plen - 2;
			pm->value[pm->n] = seg->value;
			pm->n++;
		} else if (plen != seg->len || memcmp(p, seg->raw, plen) != 0) {
			return 0;
		}
		p = pend;
		i++;
	}
	return path_segment(pt, i) == NULL;
}

ch_match_result_t
ch_router_match(const ch_route_t *routes, size_t nroutes, ch_method_t method,
    const char *path, ch_pool_t *pool, ch_match_t *out)
{
	ch_method_t want = method == CH_HEAD ? CH_GET : method;
	path_t pt;

	memset(out, 0, sizeof *out);
	if (path == NULL || path[0] != '/')
		return CH_MATCH_NOT_FOUND;
	pt.rest = path;
	pt.segs = pt.inline_segs;
	pt.n = 0;
	pt.cap = sizeof pt.inline_segs / sizeof pt.inline_segs[0];
	pt.pool = pool;
	for (size_t i = 0; i < nroutes; i++) {
		params_t pm;

		if (!match_one(routes[i].pattern, &pt, &pm))
			continue;
		if (routes[i].method == want) {
			memset(out, 0, sizeof *out);
			out->route = &routes[i];
			for (size_t k = 0; k < pm.n; k++) {
				out->names[k] = ch_pstrndup(pool, pm.name[k],
				    pm.name_len[k]);
				out->values[k] = pm.value[k];
			}
			out->nparams = pm.n;
			return CH_MATCH_OK;
		}
		out->allow |= 1u << routes[i].method;
		if (routes[i].method == CH_GET)
			out->allow |= 1u << CH_HEAD;
	}
	return out->allow != 0 ? CH_MATCH_METHOD : CH_MATCH_NOT_FOUND;
}

void
ch_router_allow(unsigned allow, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int m = 0; m < CH_METHOD__MAX; m++) {
		if (!(allow & (1u << m)))
			continue;
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s",
		    n ? ", " : "", ch_method_name((ch_method_t)m));
		if (n >= cap) {
			buf[cap - 1] = '\0';
			return;
		}
	}
}

static int
pattern_ok(const char *p)
{
	if (p == NULL || p[0] != '/')
		return 0;
	for (const char *s = p; *s != '\0'; s++) {
		if (s[0] == '/' && (s[1] == '/' || s[1] == '\0'))
			return 0;
		if (*s == '{') {
			const char *end = strchr(s, '}');

			if (s[-1] != '/' || end == NULL || end == s + 1 ||
			    (end[1] != '/' && end[1] != '\0'))
				return 0;
			/* {name*}: a name, and only as the last segment */
			if (end[-1] == '*' && (end == s + 2 || end[1] != '\0'))
				return 0;
			s = end;
		}
	}
	return 1;
}

int
ch_router_check(const ch_route_t *routes, size_t nroutes)
{
	int faults = 0;

	for (size_t i = 0; i < nroutes; i++) {
		const ch_route_t *r = &routes[i];

		if (r->roles == 0) {
			ch_error("route \"%s %s\" declares no roles",
			    ch_method_name(r->method), r->pattern);
			faults++;
		}
		if (r->handler == NULL || !pattern_ok(r->pattern)) {
			ch_error("route \"%s %s\" is malformed",
			    ch_method_name(r->method), r->pattern);
			faults++;
		}
		if (r->schema != NULL && r->media_types != NULL) {
			ch_error("route \"%s %s\" takes both JSON and a raw body",
			    ch_method_name(r->method), r->pattern);
			faults++;
		}
		if (r->method == CH_HEAD) {
			ch_error("route \"%s\" declares HEAD; GET routes serve it",
			    r->pattern);
			faults++;
		}
		if ((r->schema != NULL || r->media_types != NULL) &&
		    r->max_body == 0) {
			ch_error("route \"%s %s\" takes a body but has no cap",
			    ch_method_name(r->method), r->pattern);
			faults++;
		}
		for (size_t j = 0; j < i; j++) {
			if (routes[j].method == r->method &&
			    strcmp(routes[j].pattern, r->pattern) == 0) {
				ch_error("route \"%s %s\" is listed twice",
				    ch_method_name(r->method), r->pattern);
				faults++;
			}
		}
	}
	return faults;
}

void
ch_router_path(const char *pattern, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = pattern; *p != '\0' && n + 1 < cap; p++)
		if (!(p[0] == '*' && p[1] == '}'))
			out[n++] = *p;
	out[n] = '\0';
}
