#include "certhall/router.h"
#include "certhall/log.h"
#include "certhall/util.h"

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
 * Compares one pattern with one path; fills names/values on success.
 * Returns 1 on a match, 0 otherwise.
 */
static int
match_one(const char *pattern, const char *path, ch_pool_t *pool,
    ch_match_t *m)
{
	const char *p = pattern, *s = path;
	size_t np = 0;

	while (*p != '\0' && *s != '\0') {
		const char *pend, *send;

		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		pend = strchr(p, '/');
		send = strchr(s, '/');
		if (pend == NULL)
			pend = p + strlen(p);
		if (send == NULL)
			send = s + strlen(s);
		if (send == s)
			return 0;	/* empty segment */
		if (*p == '{') {
			const char *v;

			if (np == CH_MAX_PARAMS)
				return 0;
			v = decode_segment(s, (size_t)(send - s), pool);
			if (v == NULL)
				return 0;
			m->names[np] = ch_pstrndup(pool, p + 1,
			    (size_t)(pend - p) - 2);
			m->values[np] = v;
			np++;
		} else if ((size_t)(pend - p) != (size_t)(send - s) ||
		    memcmp(p, s, (size_t)(pend - p)) != 0) {
			return 0;
		}
		p = pend;
		s = send;
	}
	if (*p != '\0' || *s != '\0')
		return 0;
	m->nparams = np;
	return 1;
}

ch_match_result_t
ch_router_match(const ch_route_t *routes, size_t nroutes, ch_method_t method,
    const char *path, ch_pool_t *pool, ch_match_t *out)
{
	ch_method_t want = method == CH_HEAD ? CH_GET : method;

	memset(out, 0, sizeof *out);
	if (path == NULL || path[0] != '/')
		return CH_MATCH_NOT_FOUND;
	for (size_t i = 0; i < nroutes; i++) {
		ch_match_t m;

		memset(&m, 0, sizeof m);
		if (!match_one(routes[i].pattern, path, pool, &m))
			continue;
		if (routes[i].method == want) {
			*out = m;
			out->route = &routes[i];
			out->allow = 0;
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
