#include "certhall/web/body.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

ch_body_len_t
ch_body_length(const char *cl, size_t cap, size_t *len)
{
	size_t n = 0;

	if (cl == NULL || *cl == '\0')
		return CH_BODY_NONE;
	for (const char *p = cl; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return CH_BODY_BAD_LENGTH;
		/* Once past the cap, keep checking the syntax only. */
		if (n <= cap)
			n = n * 10 + (size_t)(*p - '0');
	}
	if (n == 0)
		return CH_BODY_NONE;
	if (n > cap)
		return CH_BODY_TOO_LARGE;
	*len = n;
	return CH_BODY_OK;
}

int
ch_body_is_json(const char *ct)
{
	static const char json[] = "application/json";
	const char *p;

	if (ct == NULL || strncasecmp(ct, json, sizeof json - 1) != 0)
		return 0;
	p = ct + sizeof json - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 1;
	if (*p++ != ';')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return 0;
	p += 8;
	if (strncasecmp(p, "utf-8", 5) == 0)
		p += 5;
	else if (strncasecmp(p, "\"utf-8\"", 7) == 0)
		p += 7;
	else
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

int
ch_body_read(ch_read_fn rd, void *ctx, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		long n = rd(ctx, buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

size_t
ch_body_drain(ch_read_fn rd, void *ctx)
{
	char scratch[8192];
	size_t total = 0;
	long n;

	while ((n = rd(ctx, scratch, sizeof scratch)) > 0)
		total += (size_t)n;
	return total;
}
