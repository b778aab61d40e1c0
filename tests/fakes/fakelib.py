"""What the fakes in tests/fakes/ share: their journal, and how they run.

A fake keeps what it knows in memory and appends every change to its journal (a JSON-lines
state file, flushed and fsynced before it answers), so a restarted fake replays its history
and still answers as it did: idempotently, and without forgetting what it was sent. It runs
until SIGTERM or SIGINT with a pid file the stack scripts read. Standard library only.
"""

import json
import os
import signal
import threading


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
