"""No 5xx once PostgreSQL is back (issue 17).

A restart of PostgreSQL breaks every worker's connection, but a worker learns that only
when it next uses it, and /health answering 200 proves only that the worker which
answered has reconnected. The others must notice the closed connection before their next
request's first statement and reconnect, writes included: nothing of that request was sent
on the dead connection, so nothing of it can have taken effect (include/certhall/db.h).

So after each restart (fast shutdown, start, /health 200) eight clients send signed-in
reads and writes at once, in bursts until every worker has served some of them (the pid in
the API's access log tells which), and not one answer may be a 5xx. The restart is done
three times. The other half of the rule, that a write whose connection dies after it was
sent is never sent again, is tested in tests/unit/test_db.c against a fake server that
closes the connection at COMMIT.

Named to sort last with the other tests that restart PostgreSQL; PostgreSQL is started
again whatever happens.
"""

import json
import threading
import time
from pathlib import Path

import pytest

from conftest import wait_until
from principals import Principal, principals  # noqa: F401  (the fixture)

HEALTH = "/api/v1/health"
ME = "/api/v1/me"
APPS = "/api/v1/applications"
DRAFT = {"business_type": "new", "certificate_type": "personal", "seals": 2}
RESTARTS = 3
CLIENTS = 8
PER_CLIENT = 6              # requests per client and burst
MAX_BURSTS = 6              # bursts per restart to reach every worker


@pytest.fixture
def pg_back(stackctl):
    yield
    stackctl.run("pg-start", check=False)


def access_pids(stack_dir, request_ids, timeout=10):
    """request id -> pid of the worker that logged its access line (api.log)."""
    want = set(request_ids)
    found = {}

    def scan():
        with open(Path(stack_dir) / "log" / "api.log", "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                rid = entry.get("request_id") if isinstance(entry, dict) else None
                if rid in want and entry.get("msg") == "access":
                    found[rid] = entry["pid"]
        return want <= set(found)
    # A worker logs the access line after the response is out: allow it a moment.
    wait_until(scan, timeout, what="the access lines of the burst in api.log")
    return found


def burst(clients):
    """Every client sends PER_CLIENT requests, all starting together; returns
    [(what, status, request id, seconds)] and the exceptions raised."""
    results, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(len(clients))

    def run(n, who):
        start.wait()
        for i in range(PER_CLIENT):
            t0 = time.monotonic()
            try:
                # Writes first: the first statement a worker runs is then as often a
                # transaction's as a single statement's.
                if (n + i) % 2 == 0:
                    what = f"POST {APPS}"
                    resp = who.send_json("POST", APPS, DRAFT)
                else:
                    what = f"GET {ME}"
                    resp = who.get(ME)
            except Exception as e:  # noqa: BLE001 - reported by the test
                with lock:
                    errors.append(repr(e)[:400])
                continue
            with lock:
                results.append((what, resp.status_code, resp.headers.get("X-Request-Id"),
                                time.monotonic() - t0))

    threads = [threading.Thread(target=run, args=(n, who), daemon=True)
               for n, who in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "burst clients did not finish"
    return results, errors


def test_no_5xx_after_postgresql_restart(principals, client, stackctl, stack_dir,  # noqa: F811
                                         pg_back):
    alice = principals.new_applicant(name="burst applicant")
    # One Session per thread (a Session is not thread-safe), all signed in as alice.
    clients = [Principal(principals, f"burst client {n}", "applicant", ["applicant"],
                         token=alice.token) for n in range(CLIENTS)]
    assert alice.get(ME).status_code == 200
    workers = set(stackctl.worker_pids())
    assert len(workers) >= 2, f"stackctl api-workers listed {workers}"
    assert CLIENTS >= len(workers), "fewer clients than workers cannot reach them all"

    for restart in range(1, RESTARTS + 1):
        stackctl.run("pg-stop")
        stackctl.run("pg-start")
        health_ids = []

        def healthy():
            resp = client.get(HEALTH)
            health_ids.append(resp.headers.get("X-Request-Id"))
            return resp.status_code == 200
        wait_until(healthy, 20, what="GET /api/v1/health to answer 200 after pg-start")
        # The workers that answered /health have reconnected; the rest still hold the
        # connection the restart broke, and the burst must find them.
        since = set(access_pids(stack_dir, health_ids).values())
        untouched = workers - since
        assert untouched, (f"restart {restart}: /health reached every worker ({since}); "
                           "no worker was left with a broken connection to test")

        served, statuses, slow = set(), {}, []
        for n in range(1, MAX_BURSTS + 1):
            results, errors = burst(clients)
            assert not errors, f"restart {restart}, burst {n}: {errors[:5]}"
            bad = [r for r in results if r[1] >= 500]
            assert not bad, (f"restart {restart}, burst {n}: 5xx after /health said 200: "
                             f"{bad[:5]}")
            for what, status, _, secs in results:
                statuses[status] = statuses.get(status, 0) + 1
                if secs > 5:
                    slow.append((what, status, round(secs, 1)))
            served |= set(access_pids(stack_dir, [r[2] for r in results]).values())
            if workers <= served:
                break
        print(f"restart {restart}: /health reached {sorted(since)}, burst reached "
              f"{sorted(served)} in {n} burst(s) of {CLIENTS}x{PER_CLIENT}, statuses {statuses}")
        assert untouched <= served, (
            f"restart {restart}: {MAX_BURSTS} bursts never reached workers "
            f"{sorted(untouched - served)}")
        assert set(statuses) <= {200, 201}, f"restart {restart}: statuses {statuses}"
        assert not slow, f"restart {restart}: requests slower than 5 s: {slow[:5]}"
        assert set(stackctl.worker_pids()) == workers, "a worker was replaced"
