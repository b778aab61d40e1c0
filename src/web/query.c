/* Query strings against a declared parameter table (certhall/query.h). */
#include "certhall/web/query.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

/* Answers 422 naming the query parameter; always returns -1. */
static int
bad_parameter(ch_req_t *req, const char *name, const char *detail)
{
	json_object_set_new(ch_problem(req, CH_P_INVALID_FIELD, "%s", detail),
	    "parameter", json_string(name));
	return -1;
}

/* The default detail for a refused value of p. */
static const char *
default_detail(ch_pool_t *pool, const ch_qparam_t *p)
{
	char *list;

	switch (p->kind) {
	case CH_Q_LIMIT:
		return ch_psprintf(pool, "%s must be an integer from 1 to %lld",
		    p->name, p->max);
	case CH_Q_ID:
		return ch_psprintf(pool, "%s must be a positive integer",
		    p->name);
	case CH_Q_ENUM:
		list = ch_psprintf(pool, "%s must be one of: ", p->name);
		for (int i = 0; p->values[i] != NULL; i++)
			list = ch_psprintf(pool, "%s%s%s", list, i ? ", " : "",
			    p->values[i]);
		return list;
	default:
		return ch_psprintf(pool, "%s is not valid", p->name);
	}
}

/* Reads value into slot by p's kind; 0, or -1 if it is refused. */
static int
read_value(const ch_qparam_t *p, const char *value, void *slot)
{
	long long id;
	int i;

	switch (p->kind) {
	case CH_Q_LIMIT:
		if (ch_id_parse(value, &id) != 0 || id > p->max)
			return -1;
		*(long long *)slot = id;
		return 0;
	case CH_Q_ID:
		if (ch_id_parse(value, &id) != 0)
			return -1;
		*(long long *)slot = id;
		return 0;
	case CH_Q_ENUM:
		if ((i = ch_code_index(p->values, value)) < 0)
			return -1;
		*(const char **)slot = p->values[i];
		return 0;
	case CH_Q_TEXT:
		if (p->parse != NULL)
			return p->parse(value, slot);
		*(const char **)slot = value;
		return 0;
	default:
		return -1;
	}
}

int
ch_query_parse(ch_req_t *req, const ch_qparam_t *params, size_t n,
    const char *unknown, void *out)
{
	char *rest = ch_pstrdup(req->ctx.pool, req->query), *pair, *save = NULL;
	bool *seen = ch_palloc(req->ctx.pool, n + 1);

	memset(seen, 0, n + 1);
	for (pair = strtok_r(rest, "&", &save); pair != NULL;
	    pair = strtok_r(NULL, "&", &save)) {
		char *value = strchr(pair, '=');
		const ch_qparam_t *p;
		size_t i;

		if (value != NULL)
			*value++ = '\0';
		else
			value = pair + strlen(pair);
		for (i = 0; i < n; i++)
			if (strcmp(pair, params[i].name) == 0)
				break;
		if (i == n)
			return bad_parameter(req, pair, unknown);
		p = &params[i];
		if (seen[i])
			return bad_parameter(req, p->name,
			    ch_psprintf(req->ctx.pool, "%s is given more than once",
			    p->name));
		seen[i] = true;
		if (read_value(p, value, (char *)out + p->offset) != 0)
			return bad_parameter(req, p->name, p->detail != NULL ?
			    p->detail : default_detail(req->ctx.pool, p));
	}
	return 0;
}
