/*
 * bench-hello: the smallest libfcgi responder, the baseline our framework
 * is measured against (tests/bench/run).  Prefork like certhall-api, one
 * FCGX_Accept_r loop per process, a fixed JSON body.
 *
 *   bench-hello SOCKET_PATH WORKERS
 */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static const char reply[] =
	    "Status: 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";
	int fd, workers, sig;
	pid_t pids[256];
	sigset_t set;

	if (argc != 3 || (workers = atoi(argv[2])) < 1 || workers > 256) {
		fprintf(stderr, "usage: bench-hello SOCKET_PATH WORKERS\n");
		return 64;
	}
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
				FCGX_PutStr(reply, sizeof reply - 1, r.out);
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
