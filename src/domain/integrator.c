/*
 * Integrators (certhall/domain/integrator.h).
 */
#include "certhall/domain/integrator.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/store/audit.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTEGRATOR_JSON \
	"json_build_object('id', id, 'key_id', key_id, 'name', name," \
	" 'disabled', disabled," \
	" 'created_at', " CH_SQL_TIME("created_at") "," \
	" 'updated_at', " CH_SQL_TIME("updated_at") ")"

static const ch_stmt_t stmt_list = {
	.name = "integrator_list",
	.sql = "SELECT json_build_object('items',"
	       " COALESCE(json_agg(" INTEGRATOR_JSON " ORDER BY id), '[]'::json))::text"
	       " FROM integrator",
	.nparams = 0,
	.readonly = true,
};

static const ch_stmt_t stmt_get = {
	.name = "integrator_get",
	.sql = "SELECT " INTEGRATOR_JSON "::text FROM integrator WHERE id = $1",
	.nparams = 1,
	.readonly = true,
};

static const ch_stmt_t stmt_lock = {
	.name = "integrator_lock",
	.sql = "SELECT key_id, name, disabled FROM integrator"
	       " WHERE id = $1 FOR UPDATE",
	.nparams = 1,
};

/* NULL parameters leave a column as it is; $4 says whether anything
 * changed, so a patch that changes nothing keeps updated_at. */
static const ch_stmt_t stmt_update = {
	.name = "integrator_update",
	.sql = "UPDATE integrator SET name = COALESCE($2, name),"
	       " disabled = COALESCE($3::boolean, disabled),"
	       " updated_at = CASE WHEN $4::boolean THEN now()"
	       "   ELSE updated_at END"
	       " WHERE id = $1 RETURNING " INTEGRATOR_JSON "::text",
	.nparams = 4,
};

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
ch_integrator_create(ch_ctx_t *ctx, const char *name,
    ch_integrator_new_t *out, const char **why)
{
	unsigned char sealed[CH_SECRET_SIZE + 28];
	char hex[2 * sizeof sealed + 1];
	size_t sealed_len;
	const char *params[3];
	PGresult *res;
	ch_people_result_t rc = CH_PEOPLE_ERROR;

	memset(out, 0, sizeof *out);
	if ((*why = ch_people_text_why(name, 1, CH_INTEGRATOR_NAME_MAX,
	    "must be 1 to 100 characters long")) != NULL)
		return CH_PEOPLE_INVALID;
	ch_integrator_keygen(out->key_id, out->secret);
	if (ch_integrator_seal(out->key_id, out->secret, sealed,
	    &sealed_len) != 0) {
		ch_error("sealing the secret of integrator \"%s\" failed",
		    out->key_id);
		goto out;
	}
	ch_hex(sealed, sealed_len, hex);
	params[0] = out->key_id;
	params[1] = name;
	params[2] = hex;
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_integrator_insert, params);
	if (res == NULL || PQntuples(res) != 1)
		goto out;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (ch_audit(ctx, "integrator.created", "integrator", out->key_id,
	    ch_integrator_created_detail(out, name)) != 0)
		goto out;
	rc = CH_PEOPLE_OK;
out:
	if (rc != CH_PEOPLE_OK)
		OPENSSL_cleanse(out, sizeof *out);
	return rc;
}

json_t *
ch_integrator_created_detail(const ch_integrator_new_t *k, const char *name)
{
	return json_pack("{s:I, s:s}", "id", (json_int_t)k->id, "name", name);
}

const char *
ch_integrator_list(ch_ctx_t *ctx)
{
	const char *json = NULL;

	ch_people_text(ctx, &stmt_list, 0, &json);
	return json;
}

ch_people_result_t
ch_integrator_get(ch_ctx_t *ctx, long long id, const char **json)
{
	return ch_people_text(ctx, &stmt_get, id, json);
}

ch_people_result_t
ch_integrator_patch(ch_ctx_t *ctx, long long id, const char *name,
    int disabled, const char **json)
{
	const char *params[4] = { ch_psprintf(ctx->pool, "%lld", id) };
	PGresult *row, *res;
	json_t *changes;
	bool renamed, toggled;

	row = ch_db_exec(ctx->db, ctx->pool, &stmt_lock, params);
	if (row == NULL)
		return CH_PEOPLE_ERROR;
	if (PQntuples(row) != 1)
		return CH_PEOPLE_NOT_FOUND;
	renamed = name != NULL && strcmp(name, PQgetvalue(row, 0, 1)) != 0;
	toggled = disabled >= 0 &&
	    (disabled == 1) != (PQgetvalue(row, 0, 2)[0] == 't');
	params[1] = renamed ? name : NULL;
	params[2] = toggled ? (disabled == 1 ? "t" : "f") : NULL;
	params[3] = renamed || toggled ? "t" : "f";
	res = ch_db_exec(ctx->db, ctx->pool, &stmt_update, params);
	if (res == NULL || PQntuples(res) != 1)
		return CH_PEOPLE_ERROR;

	if (renamed || toggled) {
		changes = json_object();
		if (renamed)
			json_object_set_new(changes, "name", json_pack(
			    "{s:s, s:s}", "before", PQgetvalue(row, 0, 1),
			    "after", name));
		if (toggled)
			json_object_set_new(changes, "disabled", json_pack(
			    "{s:b, s:b}", "before", !disabled,
			    "after", disabled));
		if (ch_audit(ctx, "integrator.updated", "integrator",
		    PQgetvalue(row, 0, 0), changes) != 0)
			return CH_PEOPLE_ERROR;
	}
	*json = PQgetvalue(res, 0, 0);
	return CH_PEOPLE_OK;
}
