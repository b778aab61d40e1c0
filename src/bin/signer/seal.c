/*
 * certhall-signer's e-seal and unlock pass (signer.h; issue 13), once a
 * round while the token is usable, after the issuance batches:
 *
 *   1. the seals due (certhall/domain/eseal.h): each built by the codec
 *      (certhall/codec/seal.h) and signed by the seal maker the
 *      configuration names (CERTHALL_SIGNER_SEAL_ALG):
 *        sm2      seal-maker-sm2, the SM2 software key (encrypted PKCS#8,
 *                 --sm2-key), SM2 with SM3 and the distinguishing ID
 *                 1234567812345678: the standard's algorithm (default)
 *        ec-p256  seal-maker, P-256 in the CA token, ECDSA with SHA-256,
 *                 for an HSM without SM2
 *      under the active seal_maker certificate of that algorithm; the key
 *      is opened only when a seal is due, and closed after the pass;
 *   2. the unlock requests (certhall/domain/unlock.h): the response
 *      computed with the master secret in the token.
 *
 * Nothing here touches the issuance batches; a database error ends the
 * pass (-1) and the loop backs off as for any other.
 */
#include "signer.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/codec/seal.h"
#include "certhall/domain/eseal.h"
#include "certhall/domain/unlock.h"
#include "certhall/store/ctx.h"
#include "certhall/store/db.h"
#include "certhall/token/key.h"
#include "certhall/token/station.h"
#include "certhall/token/token.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

/* Jobs (certificates) and unlock requests per pass. */
#define SEAL_JOBS_MAX 16
#define UNLOCKS_MAX 16

struct sealer {
	const signer_config_t *cfg;
	ch_ctx_t *ctx;
	ch_token_t *token;
	bool opened;
	const char *why;		/* the maker cannot be used */
	ch_key_t *key;
	ch_ca_cert_t maker;		/* its X509 lives in ctx->pool */
};

/* Opens the seal maker of the configured algorithm.  NULL, or why not. */
static const char *
maker_open(struct sealer *m)
{
	const signer_config_t *cfg = m->cfg;
	ch_key_defaults_t def = { .pin_source = cfg->sm2_pass_source };
	ch_keyref_t ref;
	int r;

	r = ch_issuance_ca_find(m->ctx, "seal_maker", cfg->seal_alg, &m->maker);
	if (r < 0)
		return "the seal maker certificate cannot be read";
	if (r == 0)
		return "no active seal maker certificate of the configured "
		    "algorithm: run certhall-signer setup";
	if (ch_keyref_parse(m->maker.key_ref, &ref) != 0)
		return "the seal maker's key reference on record is unreadable";
	if (ref.kind == CH_KEYREF_FILE) {
		if (ch_key_open(m->maker.key_ref, &def, &m->key) != 0)
			return "the seal maker's key file cannot be opened "
			    "(CERTHALL_SIGNER_SM2_KEY_FILE, its passphrase)";
		return NULL;
	}
	if (strcmp(ref.token, cfg->token) != 0)
		return "the seal maker's key is not in the configured token";
	if (ch_token_key(m->token, CH_KEYREF_PRIVATE, ref.object[0] ?
	    ref.object : NULL, ref.has_id ? ref.id : NULL, ref.id_len,
	    &m->key) != 0)
		return "the seal maker's key cannot be opened in the token";
	return NULL;
}

static const char *
make_seal(void *arg, const ch_eseal_work_t *w, ch_eseal_made_t *out)
{
	struct sealer *m = arg;
	ch_seal_spec_t spec;
	char why[256];
	time_t now = time(NULL);

	if (!m->opened) {
		m->opened = true;
		if ((m->why = maker_open(m)) != NULL)
			ch_warn("seals cannot be made: %s", m->why);
	}
	if (m->why != NULL)
		return m->why;
	memset(&spec, 0, sizeof spec);
	spec.es_id = w->es_id;
	spec.vid = m->cfg->seal_vid;
	spec.type = w->type;
	spec.name = w->name;
	spec.owner_cert = w->owner_der;
	spec.owner_cert_len = w->owner_len;
	spec.create_date = now;
	spec.valid_start = now > w->not_before ? now : w->not_before;
	spec.valid_end = w->not_after;
	spec.png = w->png;
	spec.png_len = w->png_len;
	if (ch_eseal_picture_mm(w->png, w->png_len, w->type, &spec.width_mm,
	    &spec.height_mm) != 0)
		return "the seal impression is not a PNG";
	out->der = ch_seal_build(&spec, ch_key_pkey(m->key), m->maker.x,
	    &out->len, why, sizeof why);
	ERR_clear_error();
	if (out->der == NULL)
		return ch_psprintf(m->ctx->pool, "build: %s", why);
	out->algorithm = strcmp(m->cfg->seal_alg, "sm2") == 0 ? "sm2" :
	    "ec-p256";
	out->maker_id = m->maker.id;
	out->create_date = spec.create_date;
	out->valid_start = spec.valid_start;
	out->valid_end = spec.valid_end;
	out->width_mm = spec.width_mm;
	out->height_mm = spec.height_mm;
	return NULL;
}

/* The unlock response (ch_unlock_answer_fn): in the token, with master. */
static int
answer_unlock(void *arg, const char *serial, const char *challenge,
    char *out, const char **why)
{
	ch_key_t *master = arg;

	if (master == NULL) {
		ch_warn("unlock requests wait: the master secret \"%s\" is not "
		    "available", SIGNER_KEY_MASTER);
		return 1;
	}
	if (ch_station_unlock_response(master, serial, challenge, out) == 0)
		return 0;
	if (ch_token_last_error() != CH_TOKEN_ERR_FAILED)
		return 1;
	*why = "the serial is not one a USB key can have (1 to 16 printable "
	    "characters)";
	return -1;
}

int
signer_seal_round(const signer_config_t *cfg, ch_db_t *db, ch_token_t *token,
    ch_key_t *master)
{
	ch_pool_t *pool = ch_pool_new();
	ch_ctx_t ctx;
	struct sealer m;
	int made = 0, rc;

	ch_ctx_system(&ctx, pool, db, "signer", "signer-seals");
	ch_log_set_request_id(ctx.correlation_id);
	memset(&m, 0, sizeof m);
	m.cfg = cfg;
	m.ctx = &ctx;
	m.token = token;
	rc = ch_eseal_make_due(&ctx, SEAL_JOBS_MAX, make_seal, &m, &made);
	ch_db_finish(db);
	ch_key_close(m.key);
	if (rc == 0) {
		int answered = 0;

		rc = ch_unlock_answer_due(&ctx, UNLOCKS_MAX, answer_unlock,
		    master, &answered);
		ch_db_finish(db);
	}
	ch_log_set_request_id(NULL);
	ch_pool_free(pool);
	return rc;
}
