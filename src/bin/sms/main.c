/*
 * certhall-sms-sender: delivers the SMS outbox through a provider, and
 * seals the audit chain about once a second (src/sms/sender.c).
 *
 *   certhall-sms-sender [--provider http-json] [--url URL] [--key-file FILE]
 *                       [--user NAME] [--db CONNINFO]
 *
 * Settings default to $CERTHALL_SMS_PROVIDER (http-json), $CERTHALL_SMS_URL,
 * $CERTHALL_SMS_KEY_FILE and $CERTHALL_DB (connect as the app role).  The
 * key is read before --user drops root, so it can stay readable by root
 * alone.  Logs are JSON lines on stderr.  SIGTERM/SIGINT: finishes the
 * message in hand and exits 0.  Exit codes follow sysexits.h.
 */
#include "certhall/base/log.h"
#include "certhall/base/util.h"
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define KEY_MAX 512

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certhall-sms-sender [--provider http-json] [--url URL]\n"
	    "                           [--key-file FILE] [--user NAME]\n"
	    "                           [--db CONNINFO]\n"
	    "Defaults: $CERTHALL_SMS_PROVIDER (http-json), $CERTHALL_SMS_URL,\n"
	    "$CERTHALL_SMS_KEY_FILE, $CERTHALL_DB.\n");
}

/* Becomes user (only when root); the process is then not dumpable, so
 * other processes of that user cannot read the key from its memory.
 * 0, or a sysexits code after logging. */
static int
drop_privileges(const char *user)
{
	int rc = ch_become_user(user);

	if (rc != 0)
		return rc;
	if (prctl(PR_SET_DUMPABLE, 0) != 0) {
		ch_error("prctl: %s", strerror(errno));
		return 71;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, 'P' },
		{ "url", required_argument, NULL, 'u' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'U' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *provider_name = getenv("CERTHALL_SMS_PROVIDER");
	const char *url = getenv("CERTHALL_SMS_URL");
	const char *key_file = getenv("CERTHALL_SMS_KEY_FILE");
	const char *user = NULL;
	ch_sms_sender_config_t cfg = { .conninfo = getenv("CERTHALL_DB") };
	ch_sms_provider_t *provider = NULL;
	char key[KEY_MAX];
	int c, rc = 64;

	ch_log_init("certhall-sms-sender");
	while ((c = getopt_long(argc, argv, "P:u:k:U:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			provider_name = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'U':
			user = optarg;
			break;
		case 'd':
			cfg.conninfo = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (provider_name == NULL || *provider_name == '\0')
		provider_name = "http-json";
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (cfg.conninfo == NULL || url == NULL || key_file == NULL) {
		fprintf(stderr, "certhall-sms-sender: set CERTHALL_DB, "
		    "CERTHALL_SMS_URL and CERTHALL_SMS_KEY_FILE (or the options)\n");
		return 64;
	}
	if (strcmp(provider_name, "http-json") != 0) {
		ch_error("unknown sms provider \"%s\"", provider_name);
		return 78;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		ch_error("curl_global_init failed");
		return 70;
	}
	if (ch_read_secret(key_file, key, sizeof key) != 0) {
		rc = 66;
		goto out;
	}
	provider = ch_sms_http_json_new(url, key);
	OPENSSL_cleanse(key, sizeof key);
	if (provider == NULL) {
		rc = 78;
		goto out;
	}
	if ((rc = drop_privileges(user)) != 0)
		goto out;
	cfg.provider = provider;
	rc = ch_sms_sender_run(&cfg);
out:
	ch_sms_provider_free(provider);
	curl_global_cleanup();
	return rc;
}
