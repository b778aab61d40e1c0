"""The catalogue copies after a PostgreSQL restart (issue 17).

A restart loses the notifications the workers' connections would have received: a change
committed before a worker is connected again is announced to no one. So a worker drops its
copy whenever its connection is new (api/catalog.c). Named to sort after the other tests
(next to the other database restarts): it stops and starts PostgreSQL.
"""

import pytest

from catalog_workers import add_schedule, fee_of, from_every_worker, schedule_in_force
from conftest import wait_until

HEALTH = "/api/v1/health"


@pytest.fixture
def ensure_pg_up(stackctl):
    yield
    stackctl.run("pg-start", check=False)


@pytest.mark.parametrize("first", ["catalog", "health"])
def test_change_made_while_workers_were_disconnected_shows(make_client, stackctl, stack_dir,
                                                           client, ensure_pg_up, first):
    """first: what each worker answers first after the restart. The catalogue finds its
    connection closed; /health connects again first, so the catalogue then finds a
    connection that works, but is not the one its copy was made on."""
    answers = from_every_worker(make_client, stackctl, stack_dir)  # every worker has a copy
    old_fee = fee_of(answers[0][1].body)
    new_fee = old_fee + 31
    original = schedule_in_force()

    stackctl.run("pg-stop")
    stackctl.run("pg-start")
    # Committed before any worker has connected again: no worker is listening yet.
    add_schedule(original, new_fee)
    try:
        if first == "health":
            wait_until(lambda: client.get(HEALTH).status_code == 200, 15,
                       what="health to answer 200 after the restart")
            for pid, resp in from_every_worker(make_client, stackctl, stack_dir, path=HEALTH):
                assert resp.status_code == 200, f"worker {pid}: health {resp.status_code}"
        for pid, resp in from_every_worker(make_client, stackctl, stack_dir):
            assert resp.status_code == 200, f"worker {pid}: {resp.status_code}"
            assert fee_of(resp.body) == new_fee, (
                f"worker {pid} shows {fee_of(resp.body)} fen, the fee before the restart")
    finally:
        add_schedule(original)
    wait_until(lambda: client.get(HEALTH).status_code == 200, 15,
               what="health to answer 200 after the restart")
