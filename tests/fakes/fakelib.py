"""What the fakes in tests/fakes/ share: their journal, and how they run.

A fake keeps what it knows in memory and appends every change to its journal (a JSON-lines
state file, flushed and fsynced before it answers), so a restarted fake replays its history
and still answers as it did: idempotently, and without forgetting what it was sent. It runs
until SIGTERM or SIGINT with a pid file the stack scripts read. Standard library only.
"""

import json
import os
import signal
import socket
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class Journal:
    """Replays path through apply(record) now; write() appends one record afterwards.

    A line that does not replay (torn by a crash, or of an older shape) is skipped. After
    close(), write() does nothing: a thread that finishes during shutdown records nothing,
    and the next start replays what was written before.
    """

    def __init__(self, path, apply):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        apply(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue
        self.file = open(path, "a", encoding="utf-8")

    def write(self, rec):
        if self.file.closed:
            return False
        self.file.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())
        return True

    def close(self):
        self.file.close()


def serve(server, pid_file, ready, close):
    """Runs server (a socketserver) until SIGTERM or SIGINT.

    Writes pid_file (atomically; None for none) and calls ready() before serving; on the
    way out closes the server, calls close() and removes pid_file.
    """
    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if pid_file:
        tmp = pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, pid_file)
    ready()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        close()
        if pid_file:
            try:
                os.unlink(pid_file)
            except FileNotFoundError:
                pass


class JsonHandler(BaseHTTPRequestHandler):
    """What the fakes' request handlers share: HTTP/1.1 keep-alive without Nagle's delay,
    one JSON log line per request on stderr (path without the query string, which may
    carry phone numbers) named by the class's prog, and answer(status, doc) in JSON."""

    protocol_version = "HTTP/1.1"   # keep-alive, as a real provider does
    prog = "fake"

    def setup(self):
        super().setup()
        # Headers and body are two writes: without this, Nagle and the client's delayed
        # ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass                        # log_request below: no query strings

    def log_request(self, code="-", size="-"):
        sys.stderr.write(json.dumps({
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "prog": self.prog, "method": self.command, "path": urlsplit(self.path).path,
            "status": int(code) if str(code).isdigit() else code}) + "\n")

    def answer(self, status, doc):
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KeyedServer(ThreadingHTTPServer):
    """A threading server whose handler finds the bearer key and the state on it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, key, state):
        self.key = key
        self.state = state
        super().__init__(address, handler)
