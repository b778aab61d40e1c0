/*
 * A small HTTP server forked by a unit test, answering canned responses
 * and recording the requests (canned_http.h): the clients of outside
 * services (payment gateway, tax platform) are tested against it.
 */
#include "canned_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Serves answers[i] to the i-th connection, appending each request to
 * log; the child's loop (exits when the answers are used up). */
static void
serve(int lfd, const char *const *answers, const char *log)
{
	for (int i = 0; answers[i] != NULL; i++) {
		char buf[16384];
		size_t n = 0;
		ssize_t r;
		int fd = accept(lfd, NULL, NULL);
		const char *end = NULL, *cl;
		FILE *f;

		if (fd < 0)
			_exit(1);
		/* The head, then as many bytes as Content-Length says. */
		while (n < sizeof buf - 1) {
			r = read(fd, buf + n, sizeof buf - 1 - n);
			if (r <= 0)
				break;
			n += (size_t)r;
			buf[n] = '\0';
			if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL)
				end += 4;
			if (end != NULL) {
				cl = strcasestr(buf, "\r\nContent-Length:");
				if (cl == NULL || cl > end ||
				    n >= (size_t)(end - buf) +
				    strtoul(cl + 17, NULL, 10))
					break;
			}
		}
		buf[n] = '\0';
		if ((f = fopen(log, "a")) != NULL) {
			fprintf(f, "%s\n=====\n", buf);
			fclose(f);
		}
		if (answers[i][0] != '\0')
			(void)!write(fd, answers[i], strlen(answers[i]));
		close(fd);
	}
	_exit(0);
}

/* Listens on a free loopback port and forks the server; its pid, or -1. */
pid_t
canned_start(const char *const *answers, const char *log, char *url,
    size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
	    listen(lfd, 16) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	snprintf(url, cap, "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		/* Never outlives the test, nor waits forever for it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(30);
		serve(lfd, answers, log);
	}
	close(lfd);
	return pid;
}

const char *
canned_answer(ch_pool_t *pool, const char *status, const char *body)
{
	return ch_psprintf(pool, "HTTP/1.1 %s\r\nContent-Type: application/json"
	    "\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s", status,
	    strlen(body), body);
}

char *
canned_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

