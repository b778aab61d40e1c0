/*
 * The issuance benchmark's baseline (tests/bench/issuance): raw PKCS#11
 * signing with the CA's RSA-2048 issuing key, through the token layer, as
 * certhall-signer signs (the same key reference, module, PIN source and
 * number of sessions), with one thread per session for a fixed time.
 *
 *   bench-token-sign KEY_REF SESSIONS SECONDS
 *
 * The module path and PIN source come from $CERTHALL_HSM_MODULE and
 * "file:$CERTHALL_HSM_PIN_FILE".  Each signature is RSA PKCS#1 v1.5 with
 * SHA-256 over a 1 KiB message (the size of a TBSCertificate), made with
 * EVP_DigestSign (C_Sign with CKM_RSA_PKCS in the token; SoftHSM signs in
 * this process).  Prints one line of JSON: {"sessions":N,"seconds":S,
 * "signatures":K,"per_second":R,"cpu_ms_per_signature":C}, C being this
 * process's CPU time (user + system) per signature.
 */
#include "certhall/token/key.h"
#include "certhall/token/token.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/evp.h>

static ch_key_t *key;
static atomic_long count;
static atomic_int stop, failed;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
worker(void *arg)
{
	unsigned char msg[1024], sig[512];

	memset(msg, 0x5a, sizeof msg);
	while (!atomic_load(&stop)) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		size_t len = sizeof sig;

		if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
		    ch_key_pkey(key)) != 1 ||
		    EVP_DigestSign(md, sig, &len, msg, sizeof msg) != 1) {
			atomic_store(&failed, 1);
			atomic_store(&stop, 1);
		} else {
			atomic_fetch_add(&count, 1);
		}
		EVP_MD_CTX_free(md);
	}
	return arg;
}

int
main(int argc, char **argv)
{
	static char pin[600];
	const char *pin_file = getenv("CERTHALL_HSM_PIN_FILE");
	ch_key_defaults_t def;
	pthread_t tid[CH_TOKEN_MAX_SESSIONS];
	struct timespec pause;
	struct rusage ru;
	int sessions, seconds;
	double t0, t1, cpu;

	if (argc != 4 || (sessions = atoi(argv[2])) < 1 ||
	    sessions > CH_TOKEN_MAX_SESSIONS || (seconds = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: bench-token-sign KEY_REF SESSIONS "
		    "SECONDS\n");
		return 64;
	}
	snprintf(pin, sizeof pin, "file:%s", pin_file ? pin_file : "");
	memset(&def, 0, sizeof def);
	def.module_path = getenv("CERTHALL_HSM_MODULE");
	def.pin_source = pin;
	def.sessions = sessions;
	if (ch_key_open(argv[1], &def, &key) != 0) {
		fprintf(stderr, "bench-token-sign: cannot open \"%s\"\n", argv[1]);
		return 69;
	}
	t0 = now_s();
	for (int i = 0; i < sessions; i++)
		pthread_create(&tid[i], NULL, worker, NULL);
	pause.tv_sec = seconds;
	pause.tv_nsec = 0;
	nanosleep(&pause, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < sessions; i++)
		pthread_join(tid[i], NULL);
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru);
	ch_key_close(key);
	if (atomic_load(&failed)) {
		fprintf(stderr, "bench-token-sign: a signature failed\n");
		return 70;
	}
	cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	printf("{\"sessions\":%d,\"seconds\":%.2f,\"signatures\":%ld,"
	    "\"per_second\":%.1f,\"cpu_ms_per_signature\":%.3f}\n", sessions,
	    t1 - t0, atomic_load(&count), (double)atomic_load(&count) /
	    (t1 - t0), cpu / (double)(atomic_load(&count) ? atomic_load(&count)
	    : 1));
	return 0;
}
