"""Helpers for the catalogue cache tests: reach every FastCGI worker, change the fee schedule.

Each worker keeps its own copy of the catalogue (api/catalog.c), so a test of that copy must
get an answer from every worker, and know that it did: the answers are matched to workers
through the API's access log ($CERTHALL_STACK/log/api.log: request_id and pid per line).
"""

import json
import threading
from pathlib import Path

import pytest

from conftest import wait_until
from principals import db

CATALOG = "/api/v1/catalog"
# The fee the tests change: personal reissue, 5000 fen in SPEC §4.
FEE = ("reissue", "personal")


def fee_of(catalog, code=FEE[0], cert=FEE[1]):
    """amount_fen of one item of the catalogue's fee schedule."""
    return next(i["amount_fen"] for i in catalog["fee_schedule"]["items"]
                if (i["code"], i["certificate_type"]) == (code, cert))


def _pids_of(stack_dir, request_ids):
    """{request_id: pid} for those of request_ids that api.log has logged."""
    found = {}
    with open(Path(stack_dir) / "log" / "api.log", "rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            rid = entry.get("request_id") if isinstance(entry, dict) else None
            if rid in request_ids and entry.get("msg") == "access":
                found[rid] = entry["pid"]
    return found


def from_every_worker(make_client, stackctl, stack_dir, headers=None, path=CATALOG,
                      threads=8, rounds=40):
    """GETs path (the catalogue) in concurrent rounds until every worker has answered at
    least once; returns [(pid, response)] of every answer, in the order they came.

    Concurrent, because nginx keeps one idle connection to the API (nginx/certhall.conf.in),
    so requests one after another may all reach the same worker; requests at the same time
    need connections of their own, which the workers take in turn from the socket.
    """
    workers = set(stackctl.worker_pids())
    assert workers, "no API workers"
    clients = [make_client() for _ in range(threads)]
    answers, seen = [], set()
    for _ in range(rounds):
        barrier = threading.Barrier(threads)
        got = [None] * threads

        def one(i):
            barrier.wait()
            got[i] = clients[i].get(path, headers=headers or {})

        pool = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(30)
        assert all(r is not None for r in got), f"a request for {path} did not finish"
        ids = {r.headers["X-Request-Id"]: r for r in got}
        pids = wait_until(lambda: (lambda m: m if len(m) == len(ids) else None)(
            _pids_of(stack_dir, set(ids))), 10, interval=0.05,
            what=f"the access log lines of the requests for {path}")
        answers += [(pids[rid], resp) for rid, resp in ids.items()]
        seen |= set(pids.values())
        if workers <= seen:
            return answers
    pytest.fail(f"{rounds} rounds of {threads} requests reached workers {sorted(seen)}, "
                f"not all of {sorted(workers)}")


def schedule_in_force():
    """id of the fee schedule in force now."""
    with db() as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM fee_schedule WHERE effective_from <= now()"
                    " ORDER BY effective_from DESC LIMIT 1")
        return cur.fetchone()[0]


def add_schedule(from_id, amount=None, starts_in=None):
    """Commits a fee schedule copying schedule from_id, with the FEE item at amount fen
    when given. starts_in=None: in force when this returns, committed after its start
    (one transaction: a schedule's items can only be written before it starts,
    sql/0003_fees.sql); else starting starts_in seconds after the insert. Returns
    (version, effective_from), as the owner role sees them."""
    with db() as conn:
        conn.autocommit = False
        with conn.cursor() as cur:
            offset = "0.001" if starts_in is None else str(float(starts_in))
            cur.execute("INSERT INTO fee_schedule (version, effective_from, note)"
                        " SELECT max(version) + 1, now() + %s * interval '1 second',"
                        "  'test_catalog_cache' FROM fee_schedule"
                        " RETURNING id, version, effective_from", (offset,))
            new_id, version, effective_from = cur.fetchone()
            cur.execute("INSERT INTO fee_item (schedule_id, fee_code, certificate_type,"
                        " amount_fen, tax_rate_bp, note)"
                        " SELECT %s, fee_code, certificate_type,"
                        "  CASE WHEN %s::bigint IS NOT NULL AND fee_code = %s"
                        "   AND certificate_type = %s THEN %s::bigint ELSE amount_fen END,"
                        "  tax_rate_bp, note FROM fee_item WHERE schedule_id = %s",
                        (new_id, amount, FEE[0], FEE[1], amount, from_id))
            if starts_in is None:
                # Past its start before the commit: in force the moment it is visible.
                cur.execute("SELECT pg_sleep(0.01)")
        conn.commit()
    return version, effective_from


def wait_in_force(effective_from, timeout=15):
    """Waits until the database's clock has reached effective_from."""
    def started():
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT now() >= %s", (effective_from,))
            return cur.fetchone()[0]
    wait_until(started, timeout, interval=0.02, what="the new fee schedule to start")
