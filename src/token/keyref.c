/*
 * Key references: the RFC 7512 subset and the file form described in
 * certhall/token/key.h.
 */
#include "certhall/token/key.h"

#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <string.h>

/* %XX-decodes src[0..len) into dst (cap bytes); the decoded length, or -1
 * (a bad escape, too long, or a NUL byte where text is wanted). */
static long
pct_decode(const char *src, size_t len, unsigned char *dst, size_t cap,
    int text)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = ch_hex_value(src[i + 1]);
			lo = ch_hex_value(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (n + (text ? 1 : 0) >= cap || (text && c == 0))
			return -1;
		dst[n++] = (unsigned char)c;
	}
	if (text)
		dst[n] = '\0';
	return (long)n;
}

/* Stores one attribute name=value of the path (query: 0) or the query (1). */
static int
set_attr(ch_keyref_t *r, const char *attr, size_t len, int query)
{
	const char *eq = memchr(attr, '=', len), *v;
	size_t name_len, v_len;
	char *dst = NULL;
	size_t cap = 0;

	if (eq == NULL)
		return -1;
	name_len = (size_t)(eq - attr);
	v = eq + 1;
	v_len = len - name_len - 1;
#define IS(s) (name_len == strlen(s) && memcmp(attr, s, name_len) == 0)
	if (!query && IS("token")) {
		dst = r->token;
		cap = sizeof r->token;
	} else if (!query && IS("serial")) {
		dst = r->serial;
		cap = sizeof r->serial;
	} else if (!query && IS("object")) {
		dst = r->object;
		cap = sizeof r->object;
	} else if (!query && IS("id")) {
		long n = pct_decode(v, v_len, r->id, sizeof r->id, 0);

		if (n <= 0 || r->has_id)
			return -1;
		r->id_len = (size_t)n;
		r->has_id = 1;
		return 0;
	} else if (!query && IS("type")) {
		if (v_len == 7 && memcmp(v, "private", 7) == 0)
			r->type = CH_KEYREF_PRIVATE;
		else if (v_len == 10 && memcmp(v, "secret-key", 10) == 0)
			r->type = CH_KEYREF_SECRET;
		else
			return -1;
		return 0;
	} else if (query && IS("module-path")) {
		dst = r->module_path;
		cap = sizeof r->module_path;
	} else if (query && IS("pin-source")) {
		dst = r->pin_source;
		cap = sizeof r->pin_source;
	}
#undef IS
	if (dst == NULL || dst[0] != '\0')
		return -1;	/* unknown, or said twice */
	return pct_decode(v, v_len, (unsigned char *)dst, cap, 1) > 0 ? 0 : -1;
}

/* Splits s[0..len) at sep and stores each attribute. */
static int
set_attrs(ch_keyref_t *r, const char *s, size_t len, char sep, int query)
{
	const char *end = s + len;

	while (s < end) {
		const char *next = memchr(s, sep, (size_t)(end - s));
		size_t n = next ? (size_t)(next - s) : (size_t)(end - s);

		if (n == 0 || set_attr(r, s, n, query) != 0)
			return -1;
		s += n + (next ? 1 : 0);
		if (next && s == end)
			return -1;	/* a trailing separator */
	}
	return 0;
}

int
ch_keyref_parse(const char *ref, ch_keyref_t *out)
{
	const char *path, *q;

	memset(out, 0, sizeof *out);
	if (ref == NULL)
		goto bad;
	if (strncmp(ref, "file:", 5) == 0) {
		path = ref + 5;
		if (strncmp(path, "///", 3) == 0)
			path += 2;
		if (path[0] != '/' || path[1] == '/' ||
		    strlen(path) >= sizeof out->path)
			goto bad;
		out->kind = CH_KEYREF_FILE;
		strcpy(out->path, path);
		return 0;
	}
	if (strncmp(ref, "pkcs11:", 7) != 0)
		goto bad;
	out->kind = CH_KEYREF_PKCS11;
	path = ref + 7;
	q = strchr(path, '?');
	if (set_attrs(out, path, q ? (size_t)(q - path) : strlen(path), ';',
	    0) != 0 || (q && set_attrs(out, q + 1, strlen(q + 1), '&', 1) != 0))
		goto bad;
	if ((out->token[0] != '\0') == (out->serial[0] != '\0') ||
	    (out->object[0] == '\0' && !out->has_id))
		goto bad;
	if (out->module_path[0] != '\0' && out->module_path[0] != '/')
		goto bad;
	return 0;
bad:
	/* Only the part before the query: a refused pin-value sits there. */
	ch_error("key reference \"%.*s\" is not pkcs11:token=...|serial=...;"
	    "object=...|id=...[;type=private|secret-key][?module-path=...&"
	    "pin-source=...] or file:/path",
	    ref ? (int)strcspn(ref, "?") : 6, ref ? ref : "(null)");
	memset(out, 0, sizeof *out);
	return -1;
}
