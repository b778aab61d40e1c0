/*
 * certhall-payd: the payment daemon (certhall/payd.h).
 *
 *   certhall-payd [--db CONNINFO] [--query-after SECONDS] [--user NAME]
 *
 * The gateway comes from the environment (CERTHALL_PAY_PROVIDER,
 * CERTHALL_PAY_GATEWAY_URL, CERTHALL_PAY_MERCHANT_ID,
 * CERTHALL_PAY_MERCHANT_KEY_FILE, CERTHALL_PAY_GATEWAY_PUBKEY_FILE,
 * CERTHALL_PAY_NOTIFY_URL; certhall/clients/paygw.h), read once at start,
 * the operations desk's duty phone for overdue notices from
 * $CERTHALL_OPERATOR_PHONE (unset: overdue applications are audited but
 * nobody is texted, and a warning says so at start),
 * the database from $CERTHALL_DB (the app role), the interval from
 * $CERTHALL_PAYD_QUERY_AFTER (default 60).  The settings, the merchant key
 * among them, are read before --user drops root, so the key can stay
 * readable by root alone; the gateway client is made once, after the
 * drop.  Logs
 * are JSON lines on stderr.  SIGTERM/SIGINT: finishes the step in hand and
 * exits 0.  Exit codes follow sysexits.h.
 */
#include "certhall/base/log.h"
#include "payd.h"
#include "certhall/clients/paygw.h"
#include "certhall/base/util.h"
#include "certhall/base/validate.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define QUERY_AFTER_MAX 86400

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certhall-payd [--db CONNINFO] [--query-after SECONDS]\n"
	    "                     [--user NAME]\n"
	    "Defaults: $CERTHALL_DB, $CERTHALL_PAYD_QUERY_AFTER (%d); the gateway\n"
	    "from $CERTHALL_PAY_* (docs/CONTRACT.md).\n",
	    CH_PAYD_QUERY_AFTER_DEFAULT);
}

/* Seconds from s (1..QUERY_AFTER_MAX), the default for NULL or "", -1 when
 * s is anything else. */
static long
query_after(const char *s)
{
	long v;

	if (s == NULL || *s == '\0')
		return CH_PAYD_QUERY_AFTER_DEFAULT;
	v = ch_parse_long(s, 10, QUERY_AFTER_MAX);
	return v >= 1 ? v : -1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "query-after", required_argument, NULL, 'q' },
		{ "user", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	ch_payd_config_t cfg = { .conninfo = getenv("CERTHALL_DB") };
	const char *interval = getenv("CERTHALL_PAYD_QUERY_AFTER");
	const char *user = NULL, *why = NULL;
	ch_paygw_config_t *settings = NULL;
	int c, rc;

	ch_log_init("certhall-payd");
	while ((c = getopt_long(argc, argv, "d:q:U:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.conninfo = optarg;
			break;
		case 'q':
			interval = optarg;
			break;
		case 'U':
			user = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (cfg.conninfo == NULL || *cfg.conninfo == '\0') {
		fprintf(stderr, "certhall-payd: set CERTHALL_DB (or --db)\n");
		return 64;
	}
	cfg.operator_phone = getenv("CERTHALL_OPERATOR_PHONE");
	if (cfg.operator_phone != NULL && *cfg.operator_phone == '\0')
		cfg.operator_phone = NULL;
	if (cfg.operator_phone != NULL &&
	    ch_check_phone(cfg.operator_phone, &why) != 0) {
		fprintf(stderr, "certhall-payd: CERTHALL_OPERATOR_PHONE %s\n",
		    why);
		return 64;
	}
	if (cfg.operator_phone == NULL)
		ch_warn("CERTHALL_OPERATOR_PHONE is not set: overdue applications"
		    " are audited, but no operator is sent an SMS");
	if ((cfg.query_after_s = query_after(interval)) < 0) {
		fprintf(stderr, "certhall-payd: the query interval must be 1 to "
		    "%d seconds, not \"%s\"\n", QUERY_AFTER_MAX, interval);
		return 64;
	}
	/* Keys are read as the starting user; nothing else is. */
	switch (ch_paygw_config_from_env(&settings)) {
	case CH_PAYGW_CONFIG_OK:
		break;
	case CH_PAYGW_CONFIG_NONE:
		ch_error("payment gateway: set CERTHALL_PAY_* "
		    "(docs/CONTRACT.md)");
		return 78;
	case CH_PAYGW_CONFIG_BAD:
	default:
		return 78;
	}
	if ((rc = ch_become_user(user)) != 0)
		goto out;
	/* Not dumpable: other processes of the run user cannot read the
	 * merchant key from its memory. */
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		ch_error("prctl: %s", strerror(errno));
		rc = 71;
		goto out;
	}
	if ((cfg.gw = ch_paygw_new(settings)) == NULL) {
		rc = 71;
		goto out;
	}
	rc = ch_payd_run(&cfg);
out:
	ch_paygw_free(cfg.gw);
	ch_paygw_config_free(settings);
	return rc;
}
