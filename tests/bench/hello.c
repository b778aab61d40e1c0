/*
 * bench-hello: the smallest libfcgi responder, the baseline our framework
 * is measured against (tests/bench/run).  Prefork like certhall-api, one
 * FCGX_Accept_r loop per process, a fixed JSON body: {"status":"ok"}, or
 * the contents of BODY_FILE (up to 64 KB), read once at start, so that an
 * answer of the catalogue's size can be measured without our code.
 *
 *   bench-hello SOCKET_PATH WORKERS [BODY_FILE]
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static char body[65536] = "{\"status\":\"ok\"}", reply[65536 + 128];
	size_t blen = strlen(body);
	int fd, workers, sig, rlen;
	pid_t pids[256];
	sigset_t set;

	if ((argc != 3 && argc != 4) || (workers = atoi(argv[2])) < 1 ||
	    workers > 256) {
		fprintf(stderr, "usage: bench-hello SOCKET_PATH WORKERS [BODY_FILE]\n");
		return 64;
	}
	if (argc == 4) {
		FILE *f = fopen(argv[3], "rb");

		if (f == NULL || (blen = fread(body, 1, sizeof body, f)) == 0 ||
		    blen == sizeof body) {
			fprintf(stderr, "bench-hello: cannot use %s as the body\n",
			    argv[3]);
			return 66;
		}
		fclose(f);
	}
	rlen = snprintf(reply, sizeof reply, "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    blen);
	memcpy(reply + rlen, body, blen);
	rlen += (int)blen;
	/* Blocked before forking, so a SIGTERM can never orphan a worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	FCGX_Init();
	unlink(argv[1]);
	fd = FCGX_OpenSocket(argv[1], 1024);
	if (fd < 0 || chmod(argv[1], 0666) != 0) {
		perror("bench-hello: socket");
		return 71;
	}
	for (int i = 0; i < workers; i++) {
		if ((pids[i] = fork()) == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			FCGX_Request r;
			char buf[4096];

			FCGX_InitRequest(&r, fd, 0);
			while (FCGX_Accept_r(&r) >= 0) {
				while (FCGX_GetStr(buf, sizeof buf, r.in) > 0)
					;
				FCGX_PutStr(reply, rlen, r.out);
				FCGX_Finish_r(&r);
			}
			_exit(0);
		}
	}
	/* On SIGTERM take the workers along and reap them: nothing is left
	 * behind, not even zombies. */
	sigwait(&set, &sig);
	for (int i = 0; i < workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
