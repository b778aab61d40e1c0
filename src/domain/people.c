#include "certhall/domain/people.h"
#include "certhall/base/principal.h"
#include "certhall/base/crypto.h"
#include "certhall/base/json.h"
#include "certhall/base/log.h"
#include "certhall/base/validate.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A line of text for a name or a password: valid UTF-8 (jansson's check,
 * the one request bodies pass), min..max characters (else length_why), no
 * control characters.  NULL if acceptable, else why not. */
static const char *
text_rule(const char *s, size_t min, size_t max, const char *length_why)
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
ch_staff_check(const ch_staff_new_t *in, const char **field, const char **why)
{
	unsigned all = 0;

	for (int i = 0; ch_staff_role_names[i] != NULL; i++)
		all |= (unsigned)CH_ROLE_REVIEWER << i;
	if (ch_check_username(in->username, why) != 0) {
		*field = "username";
		return CH_PEOPLE_INVALID;
	}
	*field = "display_name";
	if ((*why = text_rule(in->display_name, 1, CH_DISPLAY_NAME_MAX,
	    "must be 1 to 64 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	*field = "password";
	if ((*why = text_rule(in->password, CH_PASSWORD_MIN, CH_PASSWORD_MAX,
	    "must be 12 to 128 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	*field = "roles";
	if ((in->roles & all) == 0 || (in->roles & ~all) != 0) {
		*why = "must list 1 to 5 distinct staff roles";
		return CH_PEOPLE_INVALID;
	}
	*field = NULL;
	*why = NULL;
	return CH_PEOPLE_OK;
}

/* ON CONFLICT rather than catching 23505: a taken username is an answer,
 * not an error to log, and the transaction stays usable. */
static const ch_stmt_t stmt_staff_insert = {
	.name = "people_staff_insert",
	.sql = "INSERT INTO staff (username, display_name, password_hash, roles)"
	       " VALUES ($1, $2, $3, $4::text[])"
	       " ON CONFLICT (username) DO NOTHING RETURNING id",
	.nparams = 4,
};

ch_people_result_t
ch_staff_create(ch_db_t *db, ch_pool_t *pool, const ch_staff_new_t *in,
    long long *id, const char **field, const char **why)
{
	char hash[192];
	const char *params[4];
	PGresult *res;
	ch_people_result_t rc;

	if ((rc = ch_staff_check(in, field, why)) != CH_PEOPLE_OK)
		return rc;
	if (ch_password_hash(in->password, hash, sizeof hash) != 0)
		return CH_PEOPLE_ERROR;
	params[0] = in->username;
	params[1] = in->display_name;
	params[2] = hash;
	params[3] = ch_staff_roles_literal(pool, in->roles);
	res = ch_db_exec(db, pool, &stmt_staff_insert, params);
	OPENSSL_cleanse(hash, sizeof hash);
	if (res == NULL)
		return CH_PEOPLE_ERROR;
	if (PQntuples(res) != 1)
		return CH_PEOPLE_CONFLICT;
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	return CH_PEOPLE_OK;
}

json_t *
ch_staff_created_detail(const ch_staff_new_t *in)
{
	return json_pack("{s:s, s:s, s:o}", "username", in->username,
	    "display_name", in->display_name,
	    "roles", ch_staff_roles_json(in->roles));
}

void
ch_integrator_keygen(char key_id[CH_KEY_ID_SIZE], char secret[CH_SECRET_SIZE])
{
	unsigned char raw[32];

	memcpy(key_id, "ak_", 3);
	ch_random(raw, 12);
	ch_hex(raw, 12, key_id + 3);
	memcpy(secret, "sk_", 3);
	ch_random(raw, 32);
	ch_hex(raw, 32, secret + 3);
	OPENSSL_cleanse(raw, sizeof raw);
}

int
ch_integrator_seal(const char *key_id, const char *secret, unsigned char *out,
    size_t *outlen)
{
	return ch_seal(CH_KEY_INTEGRATOR, key_id, (const unsigned char *)secret,
	    strlen(secret), out, outlen);
}

static const ch_stmt_t stmt_integrator_insert = {
	.name = "people_integrator_insert",
	.sql = "INSERT INTO integrator (key_id, name, secret_enc)"
	       " VALUES ($1, $2, decode($3, 'hex')) RETURNING id",
	.nparams = 3,
};

ch_people_result_t
ch_integrator_create(ch_db_t *db, ch_pool_t *pool, const char *name,
    ch_integrator_new_t *out, const char **why)
{
	unsigned char sealed[CH_SECRET_SIZE + 28];
	char hex[2 * sizeof sealed + 1];
	size_t sealed_len;
	const char *params[3];
	PGresult *res;

	memset(out, 0, sizeof *out);
	if ((*why = text_rule(name, 1, CH_INTEGRATOR_NAME_MAX,
	    "must be 1 to 100 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	ch_integrator_keygen(out->key_id, out->secret);
	if (ch_integrator_seal(out->key_id, out->secret, sealed,
	    &sealed_len) != 0) {
		ch_error("sealing the secret of integrator \"%s\" failed",
		    out->key_id);
		goto fail;
	}
	ch_hex(sealed, sealed_len, hex);
	params[0] = out->key_id;
	params[1] = name;
	params[2] = hex;
	res = ch_db_exec(db, pool, &stmt_integrator_insert, params);
	if (res == NULL || PQntuples(res) != 1)
		goto fail;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	return CH_PEOPLE_OK;
fail:
	OPENSSL_cleanse(out, sizeof *out);
	return CH_PEOPLE_ERROR;
}

json_t *
ch_integrator_created_detail(const ch_integrator_new_t *k, const char *name)
{
	return json_pack("{s:I, s:s}", "id", (json_int_t)k->id, "name", name);
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
