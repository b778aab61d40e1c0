/*
 * What the people modules share, the applicants and the Me object
 * (certhall/domain/people.h).
 */
#include "certhall/domain/people.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/base/principal.h"
#include "certhall/base/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

char *
ch_staff_roles_literal(ch_pool_t *pool, unsigned roles)
{
	char buf[128];
	size_t n = 0;

	buf[n++] = '{';
	for (int i = 0; ch_staff_role_names[i] != NULL; i++) {
		if (!(roles & ((unsigned)CH_ROLE_REVIEWER << i)))
			continue;
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
		    n > 1 ? "," : "", ch_staff_role_names[i]);
	}
	snprintf(buf + n, sizeof buf - n, "}");
	return ch_pstrdup(pool, buf);
}

json_t *
ch_staff_roles_json(unsigned roles)
{
	json_t *a = json_array();

	if (a == NULL)
		ch_oom();
	for (int i = 0; ch_staff_role_names[i] != NULL; i++)
		if (roles & ((unsigned)CH_ROLE_REVIEWER << i))
			json_array_append_new(a,
			    json_string(ch_staff_role_names[i]));
	return a;
}

const char *
ch_people_text_why(const char *s, size_t min, size_t max,
    const char *length_why)
{
	json_t *probe;
	size_t chars;

	if (s == NULL)
		return "is required";
	probe = json_string(s);
	if (probe == NULL)
		return "must be valid UTF-8";
	json_decref(probe);
	chars = ch_utf8_length(s);
	if (chars < min || chars > max)
		return length_why;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	return NULL;
}

ch_people_result_t
ch_people_text(ch_ctx_t *ctx, const ch_stmt_t *stmt, long long id,
    const char **text)
{
	PGresult *res = id > 0 ? ch_db_exec_id(ctx->db, ctx->pool, stmt, id)
	    : ch_db_exec(ctx->db, ctx->pool, stmt, NULL);

	if (res == NULL)
		return CH_PEOPLE_ERROR;
	if (PQntuples(res) != 1)
		return CH_PEOPLE_NOT_FOUND;
	*text = PQgetvalue(res, 0, 0);
	return CH_PEOPLE_OK;
}

/* The DO UPDATE only matters in a race of two first sign-ins: it makes the
 * loser see the winner's row instead of nothing. */
static const ch_stmt_t stmt_applicant_for_phone = {
	.name = "people_applicant_for_phone",
	.sql = "WITH found AS ("
	       "  SELECT id FROM applicant"
	       "   WHERE phone = $1 AND integrator_id IS NULL),"
	       " made AS ("
	       "  INSERT INTO applicant (phone)"
	       "  SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM found)"
	       "  ON CONFLICT (phone) WHERE integrator_id IS NULL"
	       "  DO UPDATE SET phone = EXCLUDED.phone"
	       "  RETURNING id)"
	       " SELECT id, false FROM found"
	       " UNION ALL SELECT id, true FROM made",
	.nparams = 1,
};

int
ch_applicant_for_phone(ch_db_t *db, ch_pool_t *pool, const char *phone,
    long long *id, bool *made)
{
	const char *params[1] = { phone };
	PGresult *res = ch_db_exec(db, pool, &stmt_applicant_for_phone, params);

	if (res == NULL || PQntuples(res) != 1)
		return -1;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (made != NULL)
		*made = PQgetvalue(res, 0, 1)[0] == 't';
	return 0;
}

/*
 * Everything Me shows beyond the principal, in one round trip; a NULL id
 * joins nothing.  $1 applicant, $2 staff, $3 integrator, $4 session.
 * Columns: 0 applicant found, 1 phone, 2 staff found, 3 username,
 * 4 display_name, 5 roles, 6 integrator found, 7 integrator name,
 * 8 session found, 9 session expiry (unix s), 10 idle seconds.
 */
static const ch_stmt_t stmt_me = {
	.name = "me_get",
	.sql =
	    "SELECT a.id IS NOT NULL, a.phone,"
	    "       st.id IS NOT NULL, st.username, st.display_name,"
	    "       st.roles::text,"
	    "       i.id IS NOT NULL, i.name,"
	    "       s.id IS NOT NULL, extract(epoch FROM s.expires_at)::bigint,"
	    "       s.idle_seconds"
	    "  FROM (VALUES (1)) AS one (x)"
	    "  LEFT JOIN applicant a ON a.id = $1::bigint"
	    "  LEFT JOIN staff st ON st.id = $2::bigint"
	    "  LEFT JOIN integrator i ON i.id = $3::bigint"
	    "  LEFT JOIN session s ON s.id = $4::bigint",
	.nparams = 4,
	.readonly = true,
};

/* "123" into the pool, or NULL (SQL NULL) when id is 0. */
static const char *
id_param(ch_pool_t *pool, long long id)
{
	return id > 0 ? ch_psprintf(pool, "%lld", id) : NULL;
}

static int
found(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

static json_t *
text_or_null(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? json_null()
	    : json_string(PQgetvalue(res, 0, col));
}

json_t *
ch_people_me(ch_ctx_t *ctx, const ch_principal_t *p)
{
	const char *params[4];
	json_t *me, *roles, *applicant, *staff, *integrator, *session;
	PGresult *res;
	char at[32];

	params[0] = id_param(ctx->pool, p->applicant_id);
	params[1] = id_param(ctx->pool,
	    p->kind == CH_ACTOR_STAFF ? p->id : 0);
	params[2] = id_param(ctx->pool,
	    p->kind == CH_ACTOR_INTEGRATOR ? p->id : 0);
	params[3] = id_param(ctx->pool, p->session_id);
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_me, params);
	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	/* The caller was authenticated a moment ago: what it names exists. */
	if ((params[0] != NULL && !found(res, 0)) ||
	    (params[1] != NULL && !found(res, 2)) ||
	    (params[2] != NULL && !found(res, 6)) ||
	    (params[3] != NULL && !found(res, 8))) {
		ch_error("the %s signed in as %lld is missing from the database",
		    ch_actor_name(p->kind), p->id);
		return NULL;
	}

	applicant = staff = integrator = session = json_null();
	if (params[0] != NULL)
		/* An integrator's user is known by its external id only. */
		applicant = json_pack("{s:I, s:o}", "id",
		    (json_int_t)p->applicant_id, "phone",
		    p->kind == CH_ACTOR_INTEGRATOR ? json_null()
		    : text_or_null(res, 1));
	switch (p->kind) {
	case CH_ACTOR_STAFF: {
		unsigned bits = ch_staff_roles_parse(PQgetvalue(res, 0, 5));

		roles = ch_staff_roles_json(bits);
		staff = json_pack("{s:I, s:s, s:s, s:o}", "id",
		    (json_int_t)p->id, "username", PQgetvalue(res, 0, 3),
		    "display_name", PQgetvalue(res, 0, 4), "roles",
		    ch_staff_roles_json(bits));
		break;
	}
	case CH_ACTOR_INTEGRATOR:
		roles = json_pack("[s]", "integrator");
		integrator = json_pack("{s:I, s:s, s:s, s:o}", "id",
		    (json_int_t)p->id, "key_id", p->name ? p->name : "",
		    "name", PQgetvalue(res, 0, 7), "external_user_id",
		    p->external_user_id != NULL
		    ? json_string(p->external_user_id) : json_null());
		break;
	case CH_ACTOR_APPLICANT:
		roles = json_pack("[s]", "applicant");
		break;
	default:
		roles = json_array();
		break;
	}
	if (params[3] != NULL) {
		ch_time_shanghai(strtoll(PQgetvalue(res, 0, 9), NULL, 10), at);
		session = json_pack("{s:s, s:i}", "expires_at", at,
		    "idle_timeout_seconds", atoi(PQgetvalue(res, 0, 10)));
	}
	me = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}",
	    "kind", ch_actor_name(p->kind), "roles", roles,
	    "applicant", applicant, "staff", staff, "integrator", integrator,
	    "session", session);
	if (me == NULL)
		ch_oom();
	return me;
}
