/*
 * certhall-api: the prefork FastCGI server behind nginx.
 *
 *   certhall-api --listen PATH|HOST:PORT [--workers N] [--socket-mode 0660]
 *                [--user NAME] [--pid-file FILE] [--stop-timeout SECONDS]
 *
 * The database conninfo comes from CERTHALL_DB (or --db).  The server pepper
 * (docs: certhall/crypto.h) is read from CERTHALL_PEPPER_FILE before the
 * workers start; CERTHALL_CORS_ORIGINS lists the SPA origins allowed to call
 * from a browser.  The payment gateway's settings (CERTHALL_PAY_*,
 * certhall/clients/paygw.h) are read once here, in the master, before
 * privileges drop: a bad one stops the start (exit 78, the log names it);
 * none at all leaves online payment off (payments answer 503).  Each worker
 * makes its gateway client once after fork (api/worker.c).  Logs are JSON
 * lines on stderr.  Exit codes follow sysexits.h.
 */
#include "api.h"
#include "certhall/clients/courier.h"
#include "certhall/clients/paygw.h"
#include "certhall/web/cors.h"
#include "certhall/base/crypto.h"
#include "certhall/base/log.h"
#include "certhall/web/server.h"
#include "certhall/base/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certhall-api --listen PATH|HOST:PORT [--workers N]\n"
	    "                    [--socket-mode MODE] [--user NAME]\n"
	    "                    [--pid-file FILE] [--stop-timeout SECONDS]\n"
	    "                    [--db CONNINFO]\n"
	    "The database conninfo defaults to $CERTHALL_DB.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "socket-mode", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "stop-timeout", required_argument, NULL, 't' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	ch_server_config_t cfg = {
		.workers = (int)(cores > 0 ? 2 * cores : 2),
		.socket_mode = 0660,
		.conninfo = getenv("CERTHALL_DB"),
		.stop_timeout = 30,
		.routes = ch_routes,
		.nroutes = ch_nroutes,
		.worker_init = api_worker_init,
		.worker_fini = api_worker_fini,
	};
	ch_paygw_config_t *paygw = NULL;
	ch_courier_config_t *courier = NULL;
	api_settings_t settings;
	long v;
	int c, rc;

	ch_log_init("certhall-api");
	while ((c = getopt_long(argc, argv, "l:w:m:u:p:t:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			cfg.listen = optarg;
			break;
		case 'w':
			if ((v = ch_parse_long(optarg, 10, 256)) < 1)
				goto bad;
			cfg.workers = (int)v;
			break;
		case 'm':
			if ((v = ch_parse_long(optarg, 8, 0777)) < 0)
				goto bad;
			cfg.socket_mode = (mode_t)v;
			break;
		case 'u':
			cfg.user = optarg;
			break;
		case 'p':
			cfg.pid_file = optarg;
			break;
		case 't':
			if ((v = ch_parse_long(optarg, 10, 3600)) < 1)
				goto bad;
			cfg.stop_timeout = (int)v;
			break;
		case 'd':
			cfg.conninfo = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || cfg.listen == NULL) {
		fprintf(stderr, "certhall-api: --listen is required\n");
		goto bad;
	}
	if (cfg.conninfo == NULL) {
		fprintf(stderr, "certhall-api: set CERTHALL_DB or --db\n");
		goto bad;
	}
	/* Read once, as the user that started us, before privileges drop. */
	if (getenv("CERTHALL_PEPPER_FILE") == NULL) {
		fprintf(stderr, "certhall-api: set CERTHALL_PEPPER_FILE\n");
		return 78;
	}
	if (ch_crypto_load_pepper(getenv("CERTHALL_PEPPER_FILE")) != 0 ||
	    ch_cors_configure(getenv("CERTHALL_CORS_ORIGINS")) != 0)
		return 78;
	switch (ch_paygw_config_from_env(&paygw)) {
	case CH_PAYGW_CONFIG_OK:
		break;
	case CH_PAYGW_CONFIG_NONE:
		ch_warn("online payment is off: no CERTHALL_PAY_* gateway "
		    "settings");
		break;
	case CH_PAYGW_CONFIG_BAD:
	default:
		ch_error("not started: the payment gateway settings "
		    "(CERTHALL_PAY_*) are not usable");
		return 78;
	}
	/* The courier (issue 14): without one, operators type tracking
	 * numbers and record deliveries by hand. */
	if (ch_courier_config_from_env(&courier) == CH_COURIER_CONFIG_BAD) {
		ch_error("not started: the courier settings (CERTHALL_COURIER_*)"
		    " are not usable");
		ch_paygw_config_free(paygw);
		return 78;
	}
	settings.paygw = paygw;
	settings.courier = courier;
	cfg.worker_arg = &settings;
	rc = ch_server_run(&cfg);
	ch_paygw_config_free(paygw);
	ch_courier_config_free(courier);
	return rc;
bad:
	usage(stderr);
	return 64;
}
