/*
 * certhall-signer (signer.h): configuration, dropping root, and the two
 * subcommands.
 *
 *   certhall-signer [setup|run] [--db CONNINFO] [--module PATH]
 *       [--token LABEL] [--pin-source SOURCE] [--sm2-key FILE]
 *       [--sm2-pass-source SOURCE] [--base-url URL] [--policy-oid OID]
 *       [--ca-org NAME] [--ca-name NAME] [--name NAME] [--batch N]
 *       [--lease SECONDS] [--sessions N] [--user NAME]
 *
 * Each flag has an environment default (docs/CONTRACT.md
 * "certhall-signer"):
 *
 *   --db               CERTHALL_DB (the app role)
 *   --module           CERTHALL_HSM_MODULE: the PKCS#11 module (SoftHSM2
 *                      in development, the HSM vendor's in production)
 *   --token            CERTHALL_HSM_TOKEN: the CA token's label
 *   --pin-source       CERTHALL_HSM_PIN_SOURCE, else
 *                      "file:$CERTHALL_HSM_PIN_FILE" (file:PATH, env:NAME)
 *   --sm2-key          CERTHALL_SIGNER_SM2_KEY_FILE: the SM2 seal maker's
 *                      encrypted PKCS#8 (setup makes it when missing)
 *   --sm2-pass-source  CERTHALL_SIGNER_SM2_PASS_SOURCE, else
 *                      "file:$CERTHALL_SIGNER_SM2_PASS_FILE"
 *   --base-url         CERTHALL_CA_BASE_URL: http:// base of the CRL,
 *                      OCSP and CA certificate URLs put in certificates:
 *                      <base>/crl/issuing.crl, <base>/ocsp,
 *                      <base>/api/v1/ca/issuing.cer (the issuing CA's own:
 *                      <base>/crl/root.crl, <base>/api/v1/ca/root.cer)
 *   --policy-oid       CERTHALL_CA_POLICY_OID: the certificate policy; no
 *                      default (the dev stack uses 2.999.1, the ITU-T
 *                      example arc; production sets its own, e.g. under a
 *                      PEN or 1.2.156)
 *   --ca-org, --ca-name  CERTHALL_CA_ORG, CERTHALL_CA_NAME (setup): O and
 *                      the CN prefix of the CA's certificates ("<name>
 *                      Root CA", "<name> Issuing CA", ...); no defaults;
 *                      CERTHALL_CA_CREDIT_CODE, optional, the CA's own
 *   --name             CERTHALL_SIGNER_NAME, else "<host>:<pid>": this
 *                      signer in signer_status and signing_job.claimed_by;
 *                      two running signers must never share one
 *   --batch            CERTHALL_SIGNER_BATCH: jobs per claim (32)
 *   --lease            CERTHALL_SIGNER_LEASE: seconds a claim holds (60):
 *                      after that a job abandoned by a dead signer is
 *                      claimed again; keep it well above a batch's time
 *   --sessions         CERTHALL_SIGNER_SESSIONS: token sessions, which is
 *                      also the number of threads that prepare and sign (2)
 *   (no flag)          CERTHALL_SIGNER_SEAL_ALG: the seal maker that signs
 *                      e-seals, "sm2" (SM2/SM3, the standard's; default) or
 *                      "ec-p256" (ECDSA P-256 in the token); CERTHALL_SEAL_VID:
 *                      SES_Header.vid, the seal software's vendor ID
 *                      ("certhall" by default)
 *   --user             when started as root, the user to become before
 *                      anything is opened (the token, its PIN file and the
 *                      SM2 key must be readable by that user only)
 *
 * The process is made non-dumpable: it holds the token PIN.  Logs are
 * JSON lines on stderr.  Exit codes follow sysexits.h.
 */
#include "signer.h"
#include "certhall/base/log.h"
#include "certhall/base/pool.h"
#include "certhall/base/util.h"
#include "certhall/store/db.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certhall-signer [setup|run] [--db CONNINFO] [--module PATH]\n"
	    "           [--token LABEL] [--pin-source SOURCE] [--sm2-key FILE]\n"
	    "           [--sm2-pass-source SOURCE] [--base-url URL]\n"
	    "           [--policy-oid OID] [--ca-org NAME] [--ca-name NAME]\n"
	    "           [--name NAME] [--batch N] [--lease SECONDS]\n"
	    "           [--sessions N] [--user NAME]\n"
	    "Defaults come from the environment (docs/CONTRACT.md).\n");
}

/* "file:" + the value of env var name, in buf; NULL when it is unset. */
static const char *
file_source(const char *name, char *buf, size_t cap)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		return NULL;
	snprintf(buf, cap, "file:%s", v);
	return buf;
}

/* A number in [min, max] from s, def for NULL or ""; -1 otherwise. */
static long
number(const char *s, long min, long max, long def)
{
	long v;

	if (s == NULL || *s == '\0')
		return def;
	v = ch_parse_long(s, 10, max);
	return v >= min ? v : -1;
}

/* Dotted decimal, at least two arcs (the codec checks the rest). */
static bool
oid_shape(const char *s)
{
	int arcs = 0;

	if (s == NULL)
		return false;
	while (*s != '\0') {
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
		arcs++;
		if (*s == '.' && s[1] != '\0')
			s++;
		else if (*s != '\0')
			return false;
	}
	return arcs >= 2;
}

/* The URLs of the configuration from base (http://, no trailing slash
 * needed).  0, or -1 after telling why. */
static int
urls(signer_config_t *cfg, const char *base)
{
	size_t n;

	if (base == NULL || strncmp(base, "http://", 7) != 0 ||
	    (n = strlen(base)) < 8 || n > SIGNER_URL_MAX - 32) {
		fprintf(stderr, "certhall-signer: the base URL must be an "
		    "http:// URL of at most %d characters (CERTHALL_CA_BASE_URL "
		    "or --base-url)\n", SIGNER_URL_MAX - 32);
		return -1;
	}
	while (n > 7 && base[n - 1] == '/')
		n--;
	snprintf(cfg->crl_url, sizeof cfg->crl_url, "%.*s/crl/issuing.crl",
	    (int)n, base);
	snprintf(cfg->ocsp_url, sizeof cfg->ocsp_url, "%.*s/ocsp", (int)n,
	    base);
	snprintf(cfg->cai_url, sizeof cfg->cai_url,
	    "%.*s/api/v1/ca/issuing.cer", (int)n, base);
	snprintf(cfg->root_crl_url, sizeof cfg->root_crl_url,
	    "%.*s/crl/root.crl", (int)n, base);
	snprintf(cfg->root_cai_url, sizeof cfg->root_cai_url,
	    "%.*s/api/v1/ca/root.cer", (int)n, base);
	return 0;
}

ch_db_t *
signer_db_new(const signer_config_t *cfg, const char *name)
{
	size_t n = strlen(cfg->conninfo) + strlen(name) + 64;
	char *conninfo = ch_xmalloc(n);
	ch_db_t *db;

	snprintf(conninfo, n, "client_encoding=UTF8 application_name=%s %s",
	    name, cfg->conninfo);
	db = ch_db_new(conninfo);
	free(conninfo);
	return db;
}

static int
required(const char *value, const char *what)
{
	if (value != NULL && *value != '\0')
		return 0;
	fprintf(stderr, "certhall-signer: set %s\n", what);
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "pin-source", required_argument, NULL, 'p' },
		{ "sm2-key", required_argument, NULL, 'k' },
		{ "sm2-pass-source", required_argument, NULL, 'P' },
		{ "base-url", required_argument, NULL, 'b' },
		{ "policy-oid", required_argument, NULL, 'o' },
		{ "ca-org", required_argument, NULL, 'O' },
		{ "ca-name", required_argument, NULL, 'N' },
		{ "name", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'B' },
		{ "lease", required_argument, NULL, 'l' },
		{ "sessions", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char pin_buf[600], pass_buf[600];
	signer_config_t cfg = {
		.conninfo = getenv("CERTHALL_DB"),
		.module = getenv("CERTHALL_HSM_MODULE"),
		.token = getenv("CERTHALL_HSM_TOKEN"),
		.sm2_key = getenv("CERTHALL_SIGNER_SM2_KEY_FILE"),
		.policy_oid = getenv("CERTHALL_CA_POLICY_OID"),
		.ca_org = getenv("CERTHALL_CA_ORG"),
		.ca_name = getenv("CERTHALL_CA_NAME"),
		.ca_credit_code = getenv("CERTHALL_CA_CREDIT_CODE"),
	};
	const char *base = getenv("CERTHALL_CA_BASE_URL");
	const char *name = getenv("CERTHALL_SIGNER_NAME");
	const char *batch = getenv("CERTHALL_SIGNER_BATCH");
	const char *lease = getenv("CERTHALL_SIGNER_LEASE");
	const char *sessions = getenv("CERTHALL_SIGNER_SESSIONS");
	const char *user = NULL, *cmd = "run";
	const char *seal_alg = getenv("CERTHALL_SIGNER_SEAL_ALG");
	const char *seal_vid = getenv("CERTHALL_SEAL_VID");
	char host[64];
	bool setup;
	int c, rc;

	ch_log_init("certhall-signer");
	cfg.pin_source = getenv("CERTHALL_HSM_PIN_SOURCE");
	if (cfg.pin_source == NULL || *cfg.pin_source == '\0')
		cfg.pin_source = file_source("CERTHALL_HSM_PIN_FILE", pin_buf,
		    sizeof pin_buf);
	cfg.sm2_pass_source = getenv("CERTHALL_SIGNER_SM2_PASS_SOURCE");
	if (cfg.sm2_pass_source == NULL || *cfg.sm2_pass_source == '\0')
		cfg.sm2_pass_source = file_source(
		    "CERTHALL_SIGNER_SM2_PASS_FILE", pass_buf, sizeof pass_buf);
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.conninfo = optarg; break;
		case 'm': cfg.module = optarg; break;
		case 't': cfg.token = optarg; break;
		case 'p': cfg.pin_source = optarg; break;
		case 'k': cfg.sm2_key = optarg; break;
		case 'P': cfg.sm2_pass_source = optarg; break;
		case 'b': base = optarg; break;
		case 'o': cfg.policy_oid = optarg; break;
		case 'O': cfg.ca_org = optarg; break;
		case 'N': cfg.ca_name = optarg; break;
		case 'n': name = optarg; break;
		case 'B': batch = optarg; break;
		case 'l': lease = optarg; break;
		case 's': sessions = optarg; break;
		case 'U': user = optarg; break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc || (strcmp(cmd, "run") != 0 &&
	    strcmp(cmd, "setup") != 0)) {
		usage(stderr);
		return 64;
	}
	setup = strcmp(cmd, "setup") == 0;
	if (required(cfg.conninfo, "CERTHALL_DB (or --db)") != 0 ||
	    required(cfg.module, "CERTHALL_HSM_MODULE (or --module)") != 0 ||
	    required(cfg.token, "CERTHALL_HSM_TOKEN (or --token)") != 0 ||
	    required(cfg.pin_source, "CERTHALL_HSM_PIN_FILE (or "
	    "--pin-source)") != 0 || urls(&cfg, base) != 0)
		return 64;
	if (!oid_shape(cfg.policy_oid)) {
		fprintf(stderr, "certhall-signer: set CERTHALL_CA_POLICY_OID "
		    "(or --policy-oid) to a dotted OID; there is no default\n");
		return 64;
	}
	if (setup && (required(cfg.ca_org, "CERTHALL_CA_ORG (or --ca-org)")
	    != 0 || required(cfg.ca_name, "CERTHALL_CA_NAME (or --ca-name)")
	    != 0 || required(cfg.sm2_key, "CERTHALL_SIGNER_SM2_KEY_FILE (or "
	    "--sm2-key)") != 0 || required(cfg.sm2_pass_source,
	    "CERTHALL_SIGNER_SM2_PASS_FILE (or --sm2-pass-source)") != 0))
		return 64;
	if ((cfg.batch = (int)number(batch, 1, CH_ISSUANCE_BATCH_MAX,
	    CH_ISSUANCE_BATCH_DEFAULT)) < 0 ||
	    (cfg.lease_s = (int)number(lease, 5, 3600,
	    SIGNER_LEASE_DEFAULT)) < 0 ||
	    (cfg.sessions = (int)number(sessions, 1, 16,
	    SIGNER_SESSIONS_DEFAULT)) < 0) {
		fprintf(stderr, "certhall-signer: batch must be 1 to %d, lease "
		    "5 to 3600 seconds, sessions 1 to 16\n",
		    CH_ISSUANCE_BATCH_MAX);
		return 64;
	}
	cfg.seal_alg = seal_alg != NULL && *seal_alg != '\0' ? seal_alg : "sm2";
	cfg.seal_vid = seal_vid != NULL && *seal_vid != '\0' ? seal_vid :
	    "certhall";
	if (strcmp(cfg.seal_alg, "sm2") != 0 &&
	    strcmp(cfg.seal_alg, "ec-p256") != 0) {
		fprintf(stderr, "certhall-signer: CERTHALL_SIGNER_SEAL_ALG must "
		    "be sm2 or ec-p256\n");
		return 64;
	}
	if (name != NULL && *name != '\0') {
		if (strlen(name) >= sizeof cfg.name) {
			fprintf(stderr, "certhall-signer: the name is too "
			    "long\n");
			return 64;
		}
		snprintf(cfg.name, sizeof cfg.name, "%s", name);
	} else {
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "signer");
		host[sizeof host - 1] = '\0';
		snprintf(cfg.name, sizeof cfg.name, "%s:%ld", host,
		    (long)getpid());
	}
	/* Nothing is opened as root: the token, its PIN and the SM2 key
	 * belong to the signer's own user. */
	if ((rc = ch_become_user(user)) != 0)
		return rc;
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		ch_error("prctl: %s", strerror(errno));
		return 71;
	}
	return setup ? signer_setup(&cfg) : signer_run(&cfg);
}
