/*
 * certhall-station: the operator's personalisation station (issue 12;
 * docs/CONTRACT.md "USB keys and the personalisation station").
 *
 *   certhall-station [--url URL] [--token SOURCE] [--module PATH] COMMAND
 *
 *   keys                     the tokens the module shows (label, serial,
 *                            model; "personalised here" when labelled with
 *                            its serial)
 *   queue                    applications waiting for a USB key (new and
 *                            reissue jobs waiting for a key request)
 *   personalise APP_ID (--slot-label LABEL | --serial SERIAL)
 *               [--key-type rsa2048|p256] [--factory-so-pin SOURCE]
 *               [--wait SECONDS]
 *
 * --url defaults to $CERTHALL_URL.  --token names where the operator's
 * bearer token is (a staff session of an operator: POST
 * /api/v1/auth/staff-sessions), in the token layer's secret syntax:
 * "file:/path" or "env:NAME"; default file:$CERTHALL_TOKEN_FILE when that
 * is set, else env:CERTHALL_TOKEN.  --module is the USB keys' PKCS#11
 * module (default SoftHSM2's, which reads SOFTHSM2_CONF: in development
 * and tests each USB key is a SoftHSM2 token in a configuration of its
 * own).  The maker's SO PIN of blank keys comes from --factory-so-pin
 * (default env:CERTHALL_USBKEY_FACTORY_SO_PIN).
 *
 * The station never opens the CA token (a token labelled certhall-ca is
 * refused) and holds no CA secret: the SO PIN it needs comes sealed from
 * the signer through the API.  The process is not dumpable (no core
 * files, no ptrace by the same user) because it holds PINs.  Messages for
 * the operator go to stdout, failures to stderr; the layers below log JSON
 * lines to stderr.  Exit status: 0 done, 1 refused or failed, 64 usage.
 */
#include "station.h"

#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "certhall/token/token.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <openssl/crypto.h>

#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define DEFAULT_WAIT_S 120
#define TOKEN_MAX 256
#define MAX_KEYS 64

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certhall-station [--url URL] [--token SOURCE] "
	    "[--module PATH] COMMAND\n"
	    "  keys\n"
	    "  queue\n"
	    "  personalise APP_ID (--slot-label LABEL | --serial SERIAL)\n"
	    "              [--key-type rsa2048|p256] [--factory-so-pin SOURCE]\n"
	    "              [--wait SECONDS]\n"
	    "Defaults: --url $CERTHALL_URL; --token file:$CERTHALL_TOKEN_FILE "
	    "or env:CERTHALL_TOKEN;\n"
	    "--module " DEFAULT_MODULE ";\n"
	    "--factory-so-pin env:CERTHALL_USBKEY_FACTORY_SO_PIN; --wait %d.\n",
	    DEFAULT_WAIT_S);
}

/* ---- keys ------------------------------------------------------------------ */

static int
cmd_keys(const char *module)
{
	st_key_t keys[MAX_KEYS];
	int n;

	if (st_keys_list(module, keys, MAX_KEYS, &n) != 0)
		return 1;
	printf("%-16s  %-32s  %-16s  %s\n", "SERIAL", "LABEL", "MODEL",
	    "STATE");
	for (int i = 0; i < n && i < MAX_KEYS; i++)
		printf("%-16s  %-32s  %-16s  %s\n", keys[i].serial,
		    keys[i].label, keys[i].model,
		    strcmp(keys[i].label, ST_CA_TOKEN_LABEL) == 0
		    ? "the CA token (never used here)"
		    : strcmp(keys[i].label, keys[i].serial) == 0
		    ? "personalised here" : "blank");
	return 0;
}

/* ---- queue ----------------------------------------------------------------- */

/* The serial of the open key bound to application id in keys (the answer
 * of GET /usb-keys), or "-". */
static const char *
bound_key(const json_t *keys, json_int_t id)
{
	const json_t *k;
	size_t i;

	json_array_foreach(json_object_get(keys, "items"), i, k)
		if (json_integer_value(json_object_get(k, "application_id")) ==
		    id)
			return json_string_value(json_object_get(k, "serial"));
	return "-";
}

/* The signing jobs waiting for a key request (GET /api/v1/issuance-queue,
 * oldest first) for new and reissue business, each with the key bound to
 * it so far (GET /api/v1/usb-keys). */
static int
cmd_queue(st_api_t *api)
{
	json_t *jobs = NULL, *keys = NULL, *j;
	const char *path = "/api/v1/issuance-queue?stage=waiting_for_key"
	    "&limit=100";
	long status;
	size_t i;
	int rc = 1;

	if (st_api_json(api, "GET", path, NULL, &status, &jobs) != 0)
		goto out;
	if (status != 200) {
		st_api_refused(path, status, jobs);
		goto out;
	}
	path = "/api/v1/usb-keys?status=initialised&limit=100";
	if (st_api_json(api, "GET", path, NULL, &status, &keys) != 0)
		goto out;
	if (status != 200) {
		st_api_refused(path, status, keys);
		goto out;
	}
	printf("%-10s  %-8s  %-8s  %-16s  %s\n", "APP", "BUSINESS", "TYPE",
	    "KEY", "UNIT");
	json_array_foreach(json_object_get(jobs, "items"), i, j) {
		const char *kind = json_string_value(json_object_get(j, "kind"));
		json_int_t id = json_integer_value(json_object_get(j,
		    "application_id"));

		if (kind == NULL || (strcmp(kind, "new") != 0 &&
		    strcmp(kind, "reissue") != 0))
			continue;	/* renew, change: the handler's own key */
		printf("%-10lld  %-8s  %-8s  %-16s  %s\n", (long long)id, kind,
		    json_string_value(json_object_get(j, "certificate_type")),
		    bound_key(keys, id),
		    json_string_value(json_object_get(j, "unit_name")));
	}
	rc = 0;
out:
	json_decref(jobs);
	json_decref(keys);
	return rc;
}

/* ---- main ------------------------------------------------------------------ */

/* The bearer token from source (or the default) into buf.  0 or -1. */
static int
read_token(const char *source, char *buf, size_t cap)
{
	char def[512];

	if (source == NULL) {
		const char *file = getenv("CERTHALL_TOKEN_FILE");

		if (file != NULL && *file != '\0')
			snprintf(def, sizeof def, "file:%s", file);
		else
			snprintf(def, sizeof def, "env:CERTHALL_TOKEN");
		source = def;
	}
	if (ch_token_read_secret(source, buf, cap) != 0) {
		fprintf(stderr, "certhall-station: no staff token (--token, "
		    "CERTHALL_TOKEN_FILE or CERTHALL_TOKEN)\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "token", required_argument, NULL, 't' },
		{ "module", required_argument, NULL, 'm' },
		{ "slot-label", required_argument, NULL, 'l' },
		{ "serial", required_argument, NULL, 's' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "factory-so-pin", required_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	st_personalise_t p = {
		.module = DEFAULT_MODULE,
		.factory_so_pin = "env:CERTHALL_USBKEY_FACTORY_SO_PIN",
		.wait_s = DEFAULT_WAIT_S,
	};
	const char *url = getenv("CERTHALL_URL"), *token_source = NULL, *cmd;
	char token[TOKEN_MAX];
	st_api_t *api = NULL;
	long long app_id = 0;
	long wait;
	int c, rc = 64;

	ch_log_init("certhall-station");
	/* PINs pass through this process: no core file, no ptrace. */
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		perror("certhall-station: prctl");
		return 71;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 't':
			token_source = optarg;
			break;
		case 'm':
			p.module = optarg;
			break;
		case 'l':
			p.slot_label = optarg;
			break;
		case 's':
			p.serial = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "p256") != 0 &&
			    strcmp(optarg, "rsa2048") != 0) {
				usage(stderr);
				return 64;
			}
			p.p256 = strcmp(optarg, "p256") == 0;
			break;
		case 'f':
			p.factory_so_pin = optarg;
			break;
		case 'w':
			wait = ch_parse_long(optarg, 10, 3600);
			if (wait < 0) {
				usage(stderr);
				return 64;
			}
			p.wait_s = (int)wait;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 64;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "keys") == 0 && optind == argc)
		return cmd_keys(p.module);
	if (strcmp(cmd, "queue") == 0 && optind == argc) {
		/* below */
	} else if (strcmp(cmd, "personalise") == 0 && optind + 1 == argc &&
	    ch_id_parse(argv[optind], &app_id) == 0 &&
	    (p.slot_label == NULL) != (p.serial == NULL)) {
		/* below */
	} else {
		usage(stderr);
		return 64;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 70;
	if (read_token(token_source, token, sizeof token) != 0) {
		rc = 1;
		goto out;
	}
	api = st_api_new(url, token);
	OPENSSL_cleanse(token, sizeof token);
	if (api == NULL) {
		rc = 1;
		goto out;
	}
	rc = app_id > 0 ? st_personalise(api, app_id, &p) : cmd_queue(api);
out:
	st_api_free(api);
	curl_global_cleanup();
	return rc;
}
