/* Proactive content negotiation over Accept (certhall/web/accept.h). */
#include "certhall/web/accept.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Weights are thousandths: q=0.5 is 500, q=1 is 1000 (§12.4.2: at most
 * three decimals). */
#define Q_ONE 1000

/* How closely a range matches: the full wildcard, a whole type, an exact
 * type and subtype. */
enum { SPEC_NONE, SPEC_ANY, SPEC_TYPE, SPEC_EXACT };

typedef struct {
	const char *type;		/* not NUL-terminated */
	size_t type_len;
	const char *subtype;
	size_t subtype_len;
	int weight;
} range_t;

static bool
ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool
tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

/* The length of the token at s. */
static size_t
token(const char *s, const char *end)
{
	size_t n = 0;

	while (s + n < end && tchar(s[n]))
		n++;
	return n;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); the
 * weight in thousandths, or -1. */
static int
qvalue(const char *s, size_t n)
{
	int w, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	w = s[0] == '1' ? Q_ONE : 0;
	if (n == 1)
		return w;
	if (s[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9' || (w == Q_ONE && s[i] != '0'))
			return -1;
		w += (s[i] - '0') * scale;
	}
	return w;
}

/* Parses one element (s..end) into r: 0, or -1 if it does not parse.
 * Parameters before q are skipped; so is everything after q (accept
 * extensions). */
static int
parse_range(const char *s, const char *end, range_t *r)
{
	size_t n;

	while (s < end && ows(*s))
		s++;
	while (end > s && ows(end[-1]))
		end--;
	r->type = s;
	if ((r->type_len = token(s, end)) == 0)
		return -1;
	s += r->type_len;
	if (s == end || *s++ != '/')
		return -1;
	r->subtype = s;
	if ((r->subtype_len = token(s, end)) == 0)
		return -1;
	s += r->subtype_len;
	if (r->type_len == 1 && r->type[0] == '*' &&
	    !(r->subtype_len == 1 && r->subtype[0] == '*'))
		return -1;
	r->weight = Q_ONE;
	while (s < end) {
		const char *name, *value;
		size_t name_len;

		while (s < end && ows(*s))
			s++;
		if (s == end)
			break;
		if (*s++ != ';')
			return -1;
		while (s < end && ows(*s))
			s++;
		name = s;
		if ((name_len = token(s, end)) == 0)
			return -1;
		s += name_len;
		if (s == end || *s++ != '=')
			return -1;
		value = s;
		if (s < end && *s == '"') {
			/* A quoted value of another parameter: skip it. */
			for (s++; s < end && *s != '"'; s++)
				if (*s == '\\' && s + 1 < end)
					s++;
			if (s == end)
				return -1;
			s++;
			continue;
		}
		n = token(s, end);
		s += n;
		if (name_len == 1 && (*name == 'q' || *name == 'Q')) {
			if ((r->weight = qvalue(value, n)) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* How r matches offer ("type/subtype"). */
static int
match(const range_t *r, const char *offer)
{
	const char *slash = strchr(offer, '/');
	size_t tlen = (size_t)(slash - offer);

	if (r->type_len == 1 && r->type[0] == '*')
		return SPEC_ANY;
	if (r->type_len != tlen || strncasecmp(r->type, offer, tlen) != 0)
		return SPEC_NONE;
	if (r->subtype_len == 1 && r->subtype[0] == '*')
		return SPEC_TYPE;
	if (r->subtype_len != strlen(slash + 1) ||
	    strncasecmp(r->subtype, slash + 1, r->subtype_len) != 0)
		return SPEC_NONE;
	return SPEC_EXACT;
}

int
ch_accept_pick(const char *accept, const char *const *offers)
{
	int spec[16], weight[16], best = -1, noffers = 0;
	bool parsed = false;

	while (offers[noffers] != NULL && noffers < 16) {
		spec[noffers] = SPEC_NONE;
		weight[noffers] = 0;
		noffers++;
	}
	for (const char *s = accept; s != NULL && *s != '\0';) {
		const char *comma = strchr(s, ',');
		const char *end = comma != NULL ? comma : s + strlen(s);
		range_t r;

		if (parse_range(s, end, &r) == 0) {
			parsed = true;
			for (int i = 0; i < noffers; i++) {
				int m = match(&r, offers[i]);

				if (m > spec[i] || (m == spec[i] && m != SPEC_NONE &&
				    r.weight > weight[i])) {
					spec[i] = m;
					weight[i] = r.weight;
				}
			}
		}
		s = comma != NULL ? comma + 1 : end;
	}
	if (!parsed)
		return noffers > 0 ? 0 : -1;
	for (int i = 0; i < noffers; i++)
		if (weight[i] > 0 && (best < 0 || weight[i] > weight[best]))
			best = i;
	return best;
}
