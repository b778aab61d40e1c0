/*
 * The prefork FastCGI server and the per-request dispatch.
 *
 * Master: opens the listening socket, forks the workers, restarts any that
 * die (with a back-off when they die young), and on SIGTERM/SIGINT stops
 * gracefully: it unlinks the socket so no new connection can queue, tells
 * the workers, waits for them and exits 0.  It keeps the privileges it was
 * started with only to remove its socket and pid file; workers drop to
 * --user right after fork, before they open anything.  A program's
 * per-worker state (its clients: the payment gateway's libcurl handle) is
 * made in each worker by worker_init, after fork and after dropping
 * privileges, from settings the master read once at start; requests reach
 * it as req->worker.
 *
 * Worker: blocks its signals and reads them from a signalfd; it polls the
 * listening socket (or its kept-alive connection) together with the
 * signalfd and only then calls FCGX_Accept_r.  So no signal ever interrupts
 * libfcgi: an EINTR inside OS_Accept's AF_UNIX "keeper" select() would
 * silently close a connection nginx had already written a request to.  On
 * SIGTERM a worker serves what is already in its connection and in the
 * (now unlinkable) backlog, each with keep-alive off, then exits 0.
 */
#ifndef CERTHALL_SERVER_H
#define CERTHALL_SERVER_H

#include <sys/types.h>

#include "certhall/web/body.h"
#include "certhall/web/http.h"
#include "certhall/web/router.h"

typedef struct ch_server_config {
	const char *listen;		/* unix socket path, or host:port */
	int workers;
	mode_t socket_mode;		/* unix sockets only */
	const char *user;		/* workers run as this user (if root) */
	const char *pid_file;		/* NULL: none */
	const char *conninfo;		/* libpq conninfo for the workers */
	int stop_timeout;		/* seconds before SIGKILL on stop */
	const ch_route_t *routes;	/* the table served (borrowed) */
	size_t nroutes;
	/*
	 * The program's per-worker state (both NULL: none, req->worker NULL).
	 * worker_init(worker_arg) runs in each worker after fork and after
	 * dropping to user, before it connects to the database or accepts;
	 * every request of that worker carries its result as req->worker.
	 * NULL (it logged why) ends the worker with exit 71, and the master
	 * starts another after its back-off.  worker_fini releases the state
	 * as the worker stops.  worker_arg is the master's (borrowed, read
	 * only: each worker has its copy after fork).
	 */
	ch_worker_state_t *(*worker_init)(const void *arg);
	void (*worker_fini)(ch_worker_state_t *state);
	const void *worker_arg;
} ch_server_config_t;

/* Runs the master until it is stopped.  Returns the process exit code. */
int ch_server_run(const ch_server_config_t *cfg);

/*
 * Serves one request whose parameters are already in req (pool, env,
 * method, path, request_id, db): matches the route, applies the body cap
 * and media type, reads and validates the body from rd/ctx, calls the
 * handler and maps its failure to 503 or 500.  Always leaves a response in
 * req->resp.  The caller drains the stream afterwards.
 */
void ch_dispatch(ch_req_t *req, const ch_route_t *routes, size_t nroutes,
    ch_read_fn rd, void *ctx);

#endif
