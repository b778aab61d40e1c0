/*
 * certhall-signer setup (signer.h): the CA's keys and certificates, made
 * once and found again every later time.
 *
 * Idempotent, piece by piece: a key that is in the token (by label and
 * CKA_ID) is kept, a missing one is made; the active certificate of a
 * role and algorithm (ca_certificate) is kept when it certifies that very
 * key and has more than RENEW_BEFORE_DAYS left, and is made (and the old
 * one retired) otherwise.  An active certificate for ANOTHER key than the
 * token's is an error, not something to repair: it means the token was
 * swapped or re-initialised, and only an operator may decide that the
 * certificates the old key issued are to be given up.  Two set-ups never
 * run at once (an advisory lock in PostgreSQL).
 *
 * Validity: root 30 years, issuing CA 20, seal makers 10, OCSP signer 1
 * (codec/x509.h's profile maxima), each from now and never past its
 * issuer's not_after.  The CA certificates are kept in ca_certificate
 * only, not written to the token: the database is what the API publishes
 * and what the daemon signs under, and a second copy could only differ.
 *
 * Prints a JSON summary on stdout: {"keys_made": [...],
 * "certificates_made": [...]} (both empty when nothing was missing).
 */
#include "signer.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/store/ctx.h"
#include "certhall/store/db.h"
#include "certhall/token/key.h"
#include "certhall/token/token.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define RENEW_BEFORE_DAYS 30

enum {
	ID_ROOT = 1,
	ID_ISSUING = 2,
	ID_OCSP = 3,
	ID_SEAL = 4,
	ID_MASTER = 5,
};

struct setup {
	const signer_config_t *cfg;
	ch_db_t *db;
	ch_pool_t *pool;
	ch_ctx_t ctx;
	ch_token_t *t;
	time_t now;
	json_t *keys_made, *certs_made;
};

/* One CA certificate to have. */
struct want {
	const char *role, *alg, *cn_suffix;
	ch_profile_t profile;
	int years;
	ch_key_t *key;			/* the subject's key */
	const char *key_ref;
	const ch_ca_cert_t *issuer;	/* NULL: self-signed */
	ch_key_t *issuer_key;
};

static void
pct_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

void
signer_key_ref(const signer_config_t *cfg, const char *label, int id,
    char *out, size_t cap)
{
	char token[128], object[128];
	int n;

	pct_encode(cfg->token, token, sizeof token);
	pct_encode(label, object, sizeof object);
	n = snprintf(out, cap, "pkcs11:token=%s;object=%s;id=%%%02X", token,
	    object, id);
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';	/* refused by the key layer as empty */
}

/* The key pair label/id in the token, made when missing.  0 or -1. */
static int
keypair(struct setup *st, const char *label, int id, ch_key_alg_t alg,
    ch_key_t **out)
{
	unsigned char kid = (unsigned char)id;
	ch_keygen_t gen = { alg, label, &kid, 1 };

	if (ch_token_key(st->t, CH_KEYREF_PRIVATE, label, &kid, 1, out) == 0)
		return 0;
	if (ch_token_last_error() != CH_TOKEN_ERR_FAILED)
		return -1;
	ch_info("setup: making key \"%s\" in the token", label);
	if (ch_token_generate_keypair(st->t, &gen, NULL) != 0 ||
	    ch_token_key(st->t, CH_KEYREF_PRIVATE, label, &kid, 1, out) != 0)
		return -1;
	json_array_append_new(st->keys_made, json_string(label));
	return 0;
}

/* The master secret for SO PINs, made when missing.  0 or -1. */
static int
secret(struct setup *st, const char *label, int id)
{
	unsigned char kid = (unsigned char)id;
	ch_key_t *k = NULL;

	if (ch_token_key(st->t, CH_KEYREF_SECRET, label, &kid, 1, &k) == 0) {
		ch_key_close(k);
		return 0;
	}
	if (ch_token_last_error() != CH_TOKEN_ERR_FAILED)
		return -1;
	ch_info("setup: making secret \"%s\" in the token", label);
	if (ch_token_generate_secret(st->t, label, &kid, 1) != 0 ||
	    ch_token_key(st->t, CH_KEYREF_SECRET, label, &kid, 1, &k) != 0)
		return -1;
	ch_key_close(k);
	json_array_append_new(st->keys_made, json_string(label));
	return 0;
}

/* The SM2 software key, made (encrypted at rest) when its file is
 * missing, and opened.  0 or -1. */
static int
sm2_key(struct setup *st, ch_key_t **out, char *ref, size_t cap)
{
	const signer_config_t *cfg = st->cfg;
	ch_key_defaults_t def = { .pin_source = cfg->sm2_pass_source };
	EVP_PKEY *pkey;

	snprintf(ref, cap, "file:%s", cfg->sm2_key);
	if (access(cfg->sm2_key, F_OK) != 0) {
		ch_info("setup: making the SM2 key \"%s\"", cfg->sm2_key);
		if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "SM2")) == NULL) {
			ERR_clear_error();
			ch_error("setup: SM2 key generation failed");
			return -1;
		}
		if (ch_key_write_p8(pkey, cfg->sm2_key,
		    cfg->sm2_pass_source) != 0) {
			EVP_PKEY_free(pkey);
			return -1;
		}
		EVP_PKEY_free(pkey);
		json_array_append_new(st->keys_made,
		    json_string(SIGNER_KEY_SEAL_SM2));
	}
	return ch_key_open(ref, &def, out);
}

static time_t
x509_not_after(X509 *x)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* Frees an X509 the pool owns. */
static void
x509_cleanup(void *x)
{
	X509_free(x);
}

/*
 * The active certificate w describes, made when missing or about to
 * expire, into *out (its X509 owned by the pool).  0, or -1 after logging
 * (78 is the caller's: a certificate for another key).
 */
static int
certificate(struct setup *st, const struct want *w, ch_ca_cert_t *out)
{
	const signer_config_t *cfg = st->cfg;
	unsigned char fp[32], serial[CH_X509_SERIAL_LEN];
	ch_cert_spec_t spec;
	ch_lint_report_t lint;
	char cn[160], why[256];
	time_t na, limit;
	X509 *x;
	long long id = 0;
	int found;

	if (ch_issuance_spki_sha256(ch_key_public(w->key), fp) != 0)
		return -1;
	found = ch_issuance_ca_find(&st->ctx, w->role, w->alg, out);
	if (found < 0)
		return -1;
	if (found == 1) {
		if (memcmp(fp, out->spki_sha256, sizeof fp) != 0) {
			ch_error("setup: the active %s certificate (%s) is for "
			    "another key than \"%s\" in the token; the token "
			    "was replaced or re-initialised: retire the "
			    "certificate by hand if that was meant",
			    w->role, w->alg, w->key_ref);
			return -2;
		}
		if (x509_not_after(out->x) - st->now >
		    (time_t)RENEW_BEFORE_DAYS * 86400)
			return 0;
		ch_info("setup: the %s certificate (%s) expires within %d "
		    "days: making a new one", w->role, w->alg,
		    RENEW_BEFORE_DAYS);
	}
	memset(&spec, 0, sizeof spec);
	if (ch_x509_serial_new(serial) != 0)
		return -1;
	snprintf(cn, sizeof cn, "%s %s", cfg->ca_name, w->cn_suffix);
	spec.profile = w->profile;
	spec.serial = serial;
	spec.serial_len = sizeof serial;
	spec.not_before = st->now;
	na = ch_issuance_add_years(st->now, w->years);
	if (w->issuer != NULL && (limit = x509_not_after(w->issuer->x)) < na)
		na = limit;
	spec.not_after = na;
	spec.years = w->years;
	spec.subject.unit_name = cfg->ca_org;
	spec.subject.credit_code = cfg->ca_credit_code != NULL &&
	    cfg->ca_credit_code[0] != '\0' ? cfg->ca_credit_code : NULL;
	spec.subject.ca_name = cn;
	spec.public_key = ch_key_public(w->key);
	spec.issuer = w->issuer != NULL ? w->issuer->x : NULL;
	switch (w->profile) {
	case CH_PROFILE_ISSUING:
		spec.crl_url = cfg->root_crl_url;
		spec.ca_issuers_url = cfg->root_cai_url;
		spec.policy_oid = cfg->policy_oid;
		break;
	case CH_PROFILE_SEAL:
		spec.crl_url = cfg->crl_url;
		spec.ocsp_url = cfg->ocsp_url;
		spec.ca_issuers_url = cfg->cai_url;
		spec.policy_oid = cfg->policy_oid;
		break;
	default:
		break;
	}
	x = ch_x509_issue(&spec, ch_key_pkey(w->issuer != NULL ?
	    w->issuer_key : w->key), &lint, why, sizeof why);
	if (x == NULL) {
		ch_error("setup: the %s certificate (%s) cannot be issued: %s",
		    w->role, w->alg, why);
		return -1;
	}
	if (ch_issuance_ca_add(&st->ctx, w->role, w->alg, w->key_ref, x,
	    w->issuer != NULL ? w->issuer->id : 0, &id) != 0) {
		X509_free(x);
		return -1;
	}
	ch_info("setup: made the %s certificate (%s), ca_certificate %lld",
	    w->role, w->alg, id);
	json_array_append_new(st->certs_made, json_pack("{s:s, s:s}", "role",
	    w->role, "algorithm", w->alg));
	ch_pool_cleanup(st->pool, x509_cleanup, x);
	out->id = id;
	out->x = x;
	out->key_ref = w->key_ref;
	memcpy(out->spki_sha256, fp, sizeof fp);
	return 0;
}

int
signer_setup(const signer_config_t *cfg)
{
	ch_token_config_t tc = { .module = cfg->module, .label = cfg->token,
	    .pin_source = cfg->pin_source, .sessions = 1 };
	struct setup st;
	ch_key_t *root = NULL, *issuing = NULL, *ocsp = NULL, *seal = NULL;
	ch_key_t *sm2 = NULL;
	ch_ca_cert_t root_c, issuing_c, other_c;
	char ref_root[256], ref_issuing[256], ref_ocsp[256], ref_seal[256];
	char ref_sm2[600], *summary;
	json_t *sum;
	int rc = 70, r;

	memset(&st, 0, sizeof st);
	st.cfg = cfg;
	st.now = time(NULL);
	st.keys_made = json_array();
	st.certs_made = json_array();
	st.db = signer_db_new(cfg, "certhall-signer-setup");
	st.pool = ch_pool_new();
	ch_ctx_system(&st.ctx, st.pool, st.db, "signer", "signer-setup");
	ch_log_set_request_id(st.ctx.correlation_id);

	if (ch_issuance_setup_lock(&st.ctx) != 0) {
		ch_error("setup: the database is unavailable");
		rc = 69;
		goto out;
	}
	if (ch_token_open(&tc, &st.t) != 0) {
		ch_error("setup: the token \"%s\" cannot be opened", cfg->token);
		rc = 69;
		goto out;
	}
	signer_key_ref(cfg, SIGNER_KEY_ROOT, ID_ROOT, ref_root, sizeof ref_root);
	signer_key_ref(cfg, SIGNER_KEY_ISSUING, ID_ISSUING, ref_issuing,
	    sizeof ref_issuing);
	signer_key_ref(cfg, SIGNER_KEY_OCSP, ID_OCSP, ref_ocsp, sizeof ref_ocsp);
	signer_key_ref(cfg, SIGNER_KEY_SEAL, ID_SEAL, ref_seal, sizeof ref_seal);
	if (keypair(&st, SIGNER_KEY_ROOT, ID_ROOT, CH_KEY_RSA_3072, &root) != 0 ||
	    keypair(&st, SIGNER_KEY_ISSUING, ID_ISSUING, CH_KEY_RSA_2048,
	    &issuing) != 0 ||
	    keypair(&st, SIGNER_KEY_OCSP, ID_OCSP, CH_KEY_EC_P256, &ocsp) != 0 ||
	    keypair(&st, SIGNER_KEY_SEAL, ID_SEAL, CH_KEY_EC_P256, &seal) != 0 ||
	    secret(&st, SIGNER_KEY_MASTER, ID_MASTER) != 0) {
		ch_error("setup: the keys in the token cannot be found or made");
		rc = 69;
		goto out;
	}
	if (sm2_key(&st, &sm2, ref_sm2, sizeof ref_sm2) != 0) {
		ch_error("setup: the SM2 key cannot be made or opened");
		rc = 78;
		goto out;
	}

	{
		const struct want wants[] = {
			{ "root", "rsa", "Root CA", CH_PROFILE_ROOT, 30, root,
			  ref_root, NULL, NULL },
			{ "issuing", "rsa", "Issuing CA", CH_PROFILE_ISSUING,
			  20, issuing, ref_issuing, &root_c, root },
			{ "ocsp", "ec-p256", "OCSP Signer", CH_PROFILE_OCSP, 1,
			  ocsp, ref_ocsp, &issuing_c, issuing },
			{ "seal_maker", "ec-p256", "Seal Maker", CH_PROFILE_SEAL,
			  10, seal, ref_seal, &issuing_c, issuing },
			{ "seal_maker", "sm2", "Seal Maker SM2",
			  CH_PROFILE_SEAL, 10, sm2, ref_sm2, &issuing_c,
			  issuing },
		};

		for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
			ch_ca_cert_t *out = i == 0 ? &root_c : i == 1 ?
			    &issuing_c : &other_c;

			if ((r = certificate(&st, &wants[i], out)) != 0) {
				rc = r == -2 ? 78 : 70;
				goto out;
			}
		}
	}
	sum = json_pack("{s:O, s:O}", "keys_made", st.keys_made,
	    "certificates_made", st.certs_made);
	summary = sum != NULL ? json_dumps(sum, JSON_COMPACT) : NULL;
	printf("%s\n", summary != NULL ? summary : "{}");
	free(summary);
	json_decref(sum);
	ch_info("ca set-up complete: %zu key(s) and %zu certificate(s) made",
	    json_array_size(st.keys_made), json_array_size(st.certs_made));
	rc = 0;
out:
	ch_key_close(sm2);
	ch_key_close(seal);
	ch_key_close(ocsp);
	ch_key_close(issuing);
	ch_key_close(root);
	ch_token_close(st.t);
	json_decref(st.keys_made);
	json_decref(st.certs_made);
	ch_pool_free(st.pool);
	ch_db_free(st.db);
	ch_log_set_request_id(NULL);
	return rc;
}
