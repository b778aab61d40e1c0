/*
 * certhall-invoiced: the invoicing daemon (invoiced.h).
 *
 *   certhall-invoiced [--db CONNINFO] [--lease SECONDS]
 *                     [--backoff-cap SECONDS] [--user NAME]
 *
 * Settings from the environment, read once at start (docs/CONTRACT.md
 * "certhall-invoiced"):
 *   CERTHALL_DB                    the database (the app role)
 *   CERTHALL_TAX_URL               the tax platform's base URL
 *   CERTHALL_TAX_KEY_FILE          our key at the platform (one line)
 *   CERTHALL_INVOICE_SELLER_NAME   销售方名称 (default: the CA's name below)
 *   CERTHALL_INVOICE_SELLER_CODE   its unified social credit code
 *   CERTHALL_INVOICE_ISSUER        开票人 (default "certhall")
 *   CERTHALL_INVOICE_LINK_BASE     base URL of the SMS link (CERTHALL_URL)
 *   CERTHALL_INVOICED_LEASE        seconds a claimed invoice waits (60)
 *   CERTHALL_INVOICED_BACKOFF_CAP  the longest back-off, seconds (300)
 * The key is read before --user drops root.  Logs are JSON lines on
 * stderr.  SIGTERM/SIGINT: finishes the invoice in hand, exits 0.  Exit
 * codes follow sysexits.h.
 */
#include "invoiced.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define KEY_MAX 512
/* Development defaults: a seller name and a code of GB 32100's shape. */
#define SELLER_NAME_DEFAULT "四川省数字证书认证管理中心有限公司"
#define SELLER_CODE_DEFAULT "91510100MA6CA0000X"

static const char *
env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : fallback;
}

/* Seconds from s (1..max), fallback for NULL, -1 otherwise. */
static long
seconds(const char *s, long fallback, long max)
{
	long v;

	if (s == NULL || *s == '\0')
		return fallback;
	v = ch_parse_long(s, 10, max);
	return v >= 1 ? v : -1;
}

static void
usage(FILE *out)
{
	fprintf(out, "usage: certhall-invoiced [--db CONNINFO] [--lease SECONDS]\n"
	    "                         [--backoff-cap SECONDS] [--user NAME]\n"
	    "The platform from $CERTHALL_TAX_URL and $CERTHALL_TAX_KEY_FILE\n"
	    "(docs/CONTRACT.md \"certhall-invoiced\").\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "lease", required_argument, NULL, 'l' },
		{ "backoff-cap", required_argument, NULL, 'b' },
		{ "user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ch_invoiced_config_t cfg = { .conninfo = getenv("CERTHALL_DB") };
	const char *lease = getenv("CERTHALL_INVOICED_LEASE");
	const char *cap = getenv("CERTHALL_INVOICED_BACKOFF_CAP");
	const char *user = NULL, *url, *key_file;
	char key[KEY_MAX];
	int c, rc;

	ch_log_init("certhall-invoiced");
	while ((c = getopt_long(argc, argv, "d:l:b:U:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.conninfo = optarg; break;
		case 'l': lease = optarg; break;
		case 'b': cap = optarg; break;
		case 'U': user = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (cfg.conninfo == NULL || *cfg.conninfo == '\0') {
		fprintf(stderr, "certhall-invoiced: set CERTHALL_DB (or --db)\n");
		return 64;
	}
	if ((cfg.lease_s = seconds(lease, 60, 3600)) < 0 ||
	    (cfg.backoff_cap_s = seconds(cap, 300, 86400)) < 0) {
		fprintf(stderr, "certhall-invoiced: the lease must be 1 to 3600"
		    " seconds and the back-off cap 1 to 86400\n");
		return 64;
	}
	url = getenv("CERTHALL_TAX_URL");
	key_file = getenv("CERTHALL_TAX_KEY_FILE");
	if (url == NULL || key_file == NULL) {
		ch_error("tax platform: set CERTHALL_TAX_URL and "
		    "CERTHALL_TAX_KEY_FILE (docs/CONTRACT.md)");
		return 78;
	}
	cfg.seller_name = env_or("CERTHALL_INVOICE_SELLER_NAME",
	    SELLER_NAME_DEFAULT);
	cfg.seller_code = env_or("CERTHALL_INVOICE_SELLER_CODE",
	    SELLER_CODE_DEFAULT);
	cfg.issuer = env_or("CERTHALL_INVOICE_ISSUER", "certhall");
	cfg.link_base = env_or("CERTHALL_INVOICE_LINK_BASE",
	    env_or("CERTHALL_URL", "http://127.0.0.1"));
	if (ch_read_secret(key_file, key, sizeof key) != 0)
		return 78;
	if ((rc = ch_become_user(user)) != 0)
		goto out;
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		ch_error("prctl: %s", strerror(errno));
		rc = 71;
		goto out;
	}
	if ((cfg.tp = ch_taxplat_new(url, key)) == NULL) {
		rc = 78;
		goto out;
	}
	OPENSSL_cleanse(key, sizeof key);
	rc = ch_invoiced_run(&cfg);
out:
	OPENSSL_cleanse(key, sizeof key);
	ch_taxplat_free(cfg.tp);
	return rc;
}
