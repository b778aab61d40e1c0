#include "certhall/web/server.h"
#include "certhall/store/db.h"
#include "certhall/base/log.h"
#include "certhall/base/util.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CH_WORKER_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CH_WORKER_LSAN 1
#endif
#endif
#ifdef CH_WORKER_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define MAX_WORKERS 256
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define YOUNG_MS 1000		/* a worker dying younger than this backs off */

/* The master's signalfd; a worker closes its inherited copy. */
static int master_sigfd = -1;

struct worker {
	pid_t pid;
	long long started_ms;
	long long respawn_at_ms;	/* 0: not waiting */
};

/* ---- the listening socket ------------------------------------------- */

static int
listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old_umask;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		ch_error("socket path \"%s\" is too long", path);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));

	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			ch_error("\"%s\" exists and is not a socket", path);
			return -1;
		}
		/* A socket someone still accepts on belongs to a live server. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa,
		    sizeof sa) == 0) {
			close(probe);
			ch_error("another server is listening on \"%s\"", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ch_error("socket: %s", strerror(errno));
		return -1;
	}
	/* Created 0600 and only then opened up: never briefly wider. */
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		umask(old_umask);
		ch_error("bind \"%s\": %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (chmod(path, mode) != 0 ||
	    (uid != (uid_t)-1 && chown(path, uid, gid) != 0)) {
		ch_error("chmod/chown \"%s\": %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (listen(fd, 1024) != 0) {
		ch_error("listen \"%s\": %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static int
listen_tcp(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *ai = NULL;
	int fd = -1, one = 1, rc;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
		ch_error("listen address \"%s\" is not host:port", spec);
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
	if (rc != 0) {
		ch_error("listen address \"%s\": %s", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 1024) != 0) {
		ch_error("listen \"%s\": %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
is_unix_path(const char *listen_spec)
{
	return strchr(listen_spec, '/') != NULL;
}

/* ---- one request ---------------------------------------------------- */

static long
fcgx_read(void *ctx, char *buf, size_t n)
{
	return FCGX_GetStr(buf, (int)(n > 65536 ? 65536 : n), ctx);
}

static const char *
fcgx_param(FCGX_Request *fr, const char *name)
{
	return FCGX_GetParam(name, fr->envp);
}

/* Builds the request from the FastCGI parameters, copying what must
 * outlive FCGX_Finish_r into the pool. */
static void
request_init(ch_req_t *req, FCGX_Request *fr, ch_pool_t *pool, ch_db_t *db,
    ch_worker_state_t *worker)
{
	const char *uri = fcgx_param(fr, "REQUEST_URI");
	const char *method = fcgx_param(fr, "REQUEST_METHOD");
	const char *id = fcgx_param(fr, "REQUEST_ID");
	const char *q;

	memset(req, 0, sizeof *req);
	req->ctx.pool = pool;
	req->worker = worker;
	req->env = fr->envp;
	req->ctx.db = db;
	req->method = ch_method_parse(method);
	req->method_name = ch_pstrdup(pool, method ? method : "-");
	if (uri == NULL)
		uri = "";
	q = strchr(uri, '?');
	req->path = q ? ch_pstrndup(pool, uri, (size_t)(q - uri))
	    : ch_pstrdup(pool, uri);
	req->query = ch_pstrdup(pool, q ? q + 1 : "");
	req->ctx.correlation_id = ch_pstrdup(pool, id != NULL && *id ? id : "-");
	req->ctx.remote_addr = ch_pstrdup(pool,
	    fcgx_param(fr, "REMOTE_ADDR") ? fcgx_param(fr, "REMOTE_ADDR") : "-");
}

#ifdef CERTHALL_TEST_LEAK
/* Builds with -DCERTHALL_TEST_LEAK=ON only (tests/leak/run): loses one copy
 * of the path per request, for the worker's leak check to report. */
static void __attribute__((noinline))
test_leak(const char *path)
{
	char *volatile lost = strdup(path);

	(void)lost;
}
#endif

static void
serve(const ch_server_config_t *cfg, FCGX_Request *fr, ch_pool_t *pool,
    ch_db_t *db, ch_worker_state_t *worker)
{
	ch_req_t req;
	const char *head, *body;
	size_t head_len, body_len;
	struct timespec ts0, ts1;

	clock_gettime(CLOCK_MONOTONIC, &ts0);
	request_init(&req, fr, pool, db, worker);
	ch_log_set_request_id(req.ctx.correlation_id);
#ifdef CERTHALL_TEST_LEAK
	test_leak(req.path);
#endif

	/* A method no route of any path takes is not one the API knows:
	 * 501, not 405, which promises an Allow list for the resource. */
	if (req.method == CH_METHOD__MAX) {
		ch_problem(&req, CH_P_NOT_IMPLEMENTED,
		    "the method \"%s\" is not one this API knows; it takes GET, "
		    "HEAD, POST, PUT, PATCH, DELETE and OPTIONS", req.method_name);
	} else {
		ch_dispatch(&req, cfg->routes, cfg->nroutes, fcgx_read, fr->in);
	}
	/* A transaction a handler left open (after an error) ends here. */
	ch_db_finish(db);
	/* Whatever happened, the rest of stdin is read: libfcgi does not
	 * drain it and the kept-alive connection would break. */
	ch_body_drain(fcgx_read, fr->in);

	ch_resp_serialize(&req, &head, &head_len, &body, &body_len);
	if (FCGX_PutStr(head, (int)head_len, fr->out) < 0 ||
	    (body_len > 0 && FCGX_PutStr(body, (int)body_len, fr->out) < 0))
		ch_warn("response not delivered: %s", strerror(errno));
	FCGX_Finish_r(fr);

	clock_gettime(CLOCK_MONOTONIC, &ts1);
	ch_log_access(req.method_name, req.path, req.resp.status,
	    (double)(ts1.tv_sec - ts0.tv_sec) * 1e3 +
	    (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e6,
	    body_len, req.ctx.remote_addr);
	ch_log_set_request_id(NULL);
}

/* ---- the worker ----------------------------------------------------- */

static int
readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/*
 * A worker leaves with _exit(), which skips LeakSanitizer's check at exit,
 * so in ASan builds it runs the check itself, once the request, the pool and
 * the database handle are released: what is left unreachable was lost on
 * the request path. The report goes where ASAN_OPTIONS' log_path says.
 * Returns the worker's exit status: 0, or 23 (LeakSanitizer's own) on leaks.
 */
static int
worker_leak_check(void)
{
#ifdef CH_WORKER_LSAN
	if (__lsan_do_recoverable_leak_check() != 0)
		return 23;
#endif
	return 0;
}

static void __attribute__((noreturn))
worker_main(int listen_fd, const ch_server_config_t *cfg, pid_t master)
{
	sigset_t mask;
	int sigfd, stopping = 0, rc;
	ch_worker_state_t *state = NULL;
	ch_pool_t *pool;
	ch_db_t *db;
	FCGX_Request fr;

	/* If the master dies, stop as if told to. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	close(master_sigfd);
	if (getppid() != master)
		_exit(0);
	if ((rc = ch_become_user(cfg->user)) != 0)
		_exit(rc);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		ch_error("signalfd: %s", strerror(errno));
		_exit(71);
	}
	/* The program's clients: after fork and the drop, from settings the
	 * master read once. */
	if (cfg->worker_init != NULL &&
	    (state = cfg->worker_init(cfg->worker_arg)) == NULL) {
		ch_error("worker state could not be made; worker exits");
		_exit(71);
	}

	/* After fork, never before: each worker has its own connection. */
	db = ch_db_new(cfg->conninfo);
	ch_db_connect(db);
	pool = ch_pool_new();
	FCGX_InitRequest(&fr, listen_fd, 0);
	ch_info("worker ready");

	for (;;) {
		if (!stopping) {
			struct pollfd p[2] = {
				{ .fd = fr.ipcFd >= 0 ? fr.ipcFd : listen_fd,
				  .events = POLLIN },
				{ .fd = sigfd, .events = POLLIN },
			};

			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				ch_error("poll: %s", strerror(errno));
				break;
			}
			if (p[1].revents & POLLIN) {
				struct signalfd_siginfo si;

				while (read(sigfd, &si, sizeof si) == sizeof si)
					;
				stopping = 1;
				ch_info("worker stopping");
			}
			if (!stopping && !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		/* Stopping: serve only what has already arrived. */
		if (stopping && fr.ipcFd >= 0 && !readable_now(fr.ipcFd)) {
			close(fr.ipcFd);
			fr.ipcFd = -1;
		}
		rc = FCGX_Accept_r(&fr);
		if (rc < 0) {
			if (rc == -EAGAIN || rc == -EWOULDBLOCK) {
				if (stopping)
					break;	/* backlog empty */
				continue;	/* another worker took it */
			}
			if (stopping)
				break;
			ch_warn("accept failed: %s", strerror(-rc));
			poll(NULL, 0, 10);	/* do not spin on EMFILE */
			continue;
		}
		if (stopping)
			fr.keepConnection = 0;
		serve(cfg, &fr, pool, db, state);
		ch_pool_reset(pool);
	}
	FCGX_Free(&fr, 1);
	ch_pool_free(pool);
	ch_db_free(db);
	if (cfg->worker_fini != NULL)
		cfg->worker_fini(state);
	ch_info("worker stopped");
	_exit(worker_leak_check());
}

/* ---- the master ----------------------------------------------------- */

static pid_t
spawn(struct worker *w, int listen_fd, const ch_server_config_t *cfg)
{
	pid_t master = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		ch_error("fork: %s", strerror(errno));
		w->respawn_at_ms = ch_monotonic_ms() + BACKOFF_MAX_MS;
		return -1;
	}
	if (pid == 0)
		worker_main(listen_fd, cfg, master);
	w->pid = pid;
	w->started_ms = ch_monotonic_ms();
	w->respawn_at_ms = 0;
	return pid;
}

static int
write_pid_file(const char *path)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		ch_error("pid file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
ch_server_run(const ch_server_config_t *cfg)
{
	struct worker workers[MAX_WORKERS];
	sigset_t mask;
	int listen_fd, sigfd, nworkers = cfg->workers, live = 0;
	int stopping = 0, exit_code = 0;
	long long backoff = BACKOFF_MIN_MS, deadline = 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (nworkers < 1 || nworkers > MAX_WORKERS) {
		ch_error("workers must be 1 to %d", MAX_WORKERS);
		return 64;
	}
	if (ch_router_check(cfg->routes, cfg->nroutes) != 0)
		return 70;
	if (cfg->user != NULL && geteuid() == 0) {
		struct passwd *pw = getpwnam(cfg->user);

		if (pw == NULL) {
			ch_error("user \"%s\" does not exist", cfg->user);
			return 67;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}

	/* Signals are blocked for good and read from a signalfd; workers
	 * inherit the mask and open their own. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		ch_error("signalfd: %s", strerror(errno));
		return 71;
	}
	master_sigfd = sigfd;

	listen_fd = is_unix_path(cfg->listen)
	    ? listen_unix(cfg->listen, cfg->socket_mode, uid, gid)
	    : listen_tcp(cfg->listen);
	if (listen_fd < 0)
		return 71;
	if (cfg->pid_file != NULL && write_pid_file(cfg->pid_file) != 0)
		return 73;
	if (FCGX_Init() != 0) {
		ch_error("FCGX_Init failed");
		return 70;
	}

	memset(workers, 0, sizeof workers);
	for (int i = 0; i < nworkers; i++)
		if (spawn(&workers[i], listen_fd, cfg) > 0)
			live++;
	ch_info("listening on \"%s\" with %d workers", cfg->listen, nworkers);

	for (;;) {
		struct pollfd p = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		long long now = ch_monotonic_ms(), wake = -1;
		int timeout;

		for (int i = 0; i < nworkers && !stopping; i++)
			if (workers[i].pid == 0 && workers[i].respawn_at_ms &&
			    (wake < 0 || workers[i].respawn_at_ms < wake))
				wake = workers[i].respawn_at_ms;
		if (stopping)
			wake = deadline;
		timeout = wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR) {
			ch_error("poll: %s", strerror(errno));
			break;
		}

		while (read(sigfd, &si, sizeof si) == sizeof si) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				if (stopping)
					continue;
				stopping = 1;
				deadline = ch_monotonic_ms() + cfg->stop_timeout * 1000LL;
				ch_info("stopping: unlinking the socket, "
				    "letting workers finish");
				/* Unlink first: new connections are refused
				 * at once instead of queueing in a backlog
				 * nobody will drain. */
				if (is_unix_path(cfg->listen))
					unlink(cfg->listen);
				close(listen_fd);
				for (int i = 0; i < nworkers; i++)
					if (workers[i].pid > 0)
						kill(workers[i].pid, SIGTERM);
			} else if (si.ssi_signo == SIGHUP) {
				ch_info("SIGHUP ignored; restart to reload");
			}
		}

		/* Reap every child that has exited. */
		for (;;) {
			int st;
			pid_t pid = waitpid(-1, &st, WNOHANG);

			if (pid <= 0)
				break;
			for (int i = 0; i < nworkers; i++) {
				struct worker *w = &workers[i];
				long long lived;

				if (w->pid != pid)
					continue;
				live--;
				w->pid = 0;
				lived = ch_monotonic_ms() - w->started_ms;
				if (WIFSIGNALED(st))
					ch_log(stopping ? CH_LOG_INFO : CH_LOG_ERROR,
					    "worker %ld killed by signal %d",
					    (long)pid, WTERMSIG(st));
				else if (WEXITSTATUS(st) != 0 || !stopping)
					ch_log(stopping ? CH_LOG_INFO : CH_LOG_WARN,
					    "worker %ld exited with %d",
					    (long)pid, WEXITSTATUS(st));
				if (stopping)
					break;
				/* A worker that dies young is likely to die
				 * again: back off instead of fork-looping. */
				if (lived < YOUNG_MS) {
					w->respawn_at_ms = ch_monotonic_ms() + backoff;
					backoff = backoff * 2 > BACKOFF_MAX_MS
					    ? BACKOFF_MAX_MS : backoff * 2;
				} else {
					w->respawn_at_ms = ch_monotonic_ms();
					backoff = BACKOFF_MIN_MS;
				}
			}
		}

		if (stopping) {
			if (live == 0)
				break;
			if (ch_monotonic_ms() >= deadline) {
				ch_error("workers still busy after %d s; killing them",
				    cfg->stop_timeout);
				for (int i = 0; i < nworkers; i++)
					if (workers[i].pid > 0)
						kill(workers[i].pid, SIGKILL);
				exit_code = 1;
				deadline = ch_monotonic_ms() + 5000;
			}
			continue;
		}
		for (int i = 0; i < nworkers; i++) {
			if (workers[i].pid == 0 && workers[i].respawn_at_ms &&
			    workers[i].respawn_at_ms <= ch_monotonic_ms()) {
				if (spawn(&workers[i], listen_fd, cfg) > 0) {
					live++;
					ch_info("worker %ld started in slot %d",
					    (long)workers[i].pid, i);
				}
			}
		}
	}
	if (cfg->pid_file != NULL)
		unlink(cfg->pid_file);
	ch_info("stopped");
	return exit_code;
}
